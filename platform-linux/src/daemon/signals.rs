//! Signals as readable events: the handled signals are blocked and read from
//! a `signalfd`, so nothing runs in signal context and no log line is ever
//! written from a handler.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the loop acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: leave cleanly (tickets are not revoked, as booth).
    Terminate(i32),
    /// SIGUSR1: log every ticket's state.
    DumpState,
    /// SIGCHLD: reap children.
    Child,
    /// SIGHUP: booth has no reload; logged and ignored.
    Hangup,
}

const HANDLED: [libc::c_int; 5] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGCHLD,
    libc::SIGHUP,
];

/// The signalfd; the signals stay blocked for the process's life.
/// Children get an empty mask from `std::process::Command`.
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks the handled signals and opens a non-blocking signalfd for them.
    /// Call before any thread is started so every thread inherits the mask.
    pub fn new() -> io::Result<Self> {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise
        // it; pthread_sigmask changes this thread's mask with a valid set;
        // signalfd returns a new descriptor we own (checked for -1).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in HANDLED {
                libc::sigaddset(&mut set, s);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(Signals {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Every pending signal (empty when none).
    pub fn read(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        loop {
            // SAFETY: an all-zero signalfd_siginfo is valid plain data.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: reads at most `size` bytes into `info`.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n != size as isize {
                break;
            }
            let sig = match info.ssi_signo as libc::c_int {
                libc::SIGTERM => Signal::Terminate(libc::SIGTERM),
                libc::SIGINT => Signal::Terminate(libc::SIGINT),
                libc::SIGUSR1 => Signal::DumpState,
                libc::SIGCHLD => Signal::Child,
                libc::SIGHUP => Signal::Hangup,
                _ => continue,
            };
            if !out.contains(&sig) {
                out.push(sig);
            }
        }
        out
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
