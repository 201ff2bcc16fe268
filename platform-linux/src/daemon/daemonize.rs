//! Leaving the terminal: double fork and `setsid`, with a pipe on which the
//! daemon tells the invoking process whether start-up worked, so
//! `boothd daemon` exits 1 with the reason instead of 0 and silence.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// Where the daemon reports start-up.
#[derive(Debug)]
pub struct Ready {
    pipe: Option<File>,
}

impl Ready {
    /// Start-up worked.
    pub fn ok(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"OK\n");
        }
    }

    /// Start-up failed with `why`.
    pub fn fail(&mut self, why: &str) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(format!("ERR {why}").as_bytes());
        }
    }
}

/// What [`daemonize`] returns in each process that continues.
#[derive(Debug)]
pub enum Forked {
    /// The invoking process: the daemon reported this (`Ok` = started).
    Parent(Result<(), String>),
    /// The daemon itself.
    Daemon(Ready),
}

fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe {
        Ok((
            File::from(OwnedFd::from_raw_fd(fds[0])),
            File::from(OwnedFd::from_raw_fd(fds[1])),
        ))
    }
}

/// Forks into the background. Must run before any thread exists.
pub fn daemonize() -> io::Result<Forked> {
    let (mut r, w) = pipe()?;
    // SAFETY: single-threaded here (no thread has been started), so the
    // child may run arbitrary code.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(r);
            // SAFETY: plain syscalls in the single-threaded child.
            unsafe {
                if libc::setsid() == -1 {
                    libc::_exit(1);
                }
                match libc::fork() {
                    -1 => libc::_exit(1),
                    0 => {}
                    _ => libc::_exit(0),
                }
            }
            detach_stdio();
            let _ = std::env::set_current_dir("/");
            // SAFETY: umask has no preconditions.
            unsafe { libc::umask(0o022) };
            Ok(Forked::Daemon(Ready { pipe: Some(w) }))
        }
        child => {
            drop(w);
            let mut status = 0;
            // SAFETY: reaps the intermediate child we just forked.
            unsafe { libc::waitpid(child, &mut status, 0) };
            let mut msg = String::new();
            let _ = r.read_to_string(&mut msg);
            Ok(Forked::Parent(match msg.trim_end() {
                "OK" => Ok(()),
                m if m.starts_with("ERR ") => Err(m[4..].to_owned()),
                "" => Err("the daemon exited during start-up".to_owned()),
                m => Err(m.to_owned()),
            }))
        }
    }
}

/// Points stdin, stdout and stderr at /dev/null.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}
