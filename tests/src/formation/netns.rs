//! Network namespaces created by a test: only `lo`, so nothing outside can
//! receive a packet. Processes are put into one with `setns(2)` between fork
//! and exec, threads (and the sockets they open) with `setns` on themselves.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A namespace named `booth-rs-<pid>-<n>`, deleted (`ip netns del`) when the
/// last handle goes. Kill the processes in it before that.
#[derive(Debug)]
pub struct Netns {
    name: String,
    file: File,
}

impl Netns {
    /// Creates the namespace and brings its loopback up. Needs root.
    pub fn create() -> io::Result<Arc<Netns>> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "booth-rs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run_ip(&["netns", "add", &name])?;
        let file = match File::open(format!("/run/netns/{name}")) {
            Ok(f) => f,
            Err(e) => {
                let _ = run_ip(&["netns", "del", &name]);
                return Err(e);
            }
        };
        let ns = Netns { name, file };
        // Dropped (and deleted) if lo cannot be brought up.
        run_ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(Arc::new(ns))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Makes `cmd` enter this namespace before it execs.
    pub fn enter(&self, cmd: &mut Command) {
        let fd = self.fd();
        // SAFETY: setns is async-signal-safe; `fd` stays open (it belongs to
        // `self`, which outlives the spawn because the caller borrows it).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
    }

    /// Runs `f` on a thread inside the namespace (sockets it opens stay there).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let fd = self.fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: setns on the calling thread only; `fd` is open.
                let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread in the namespace panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "del", &self.name]) {
            eprintln!("formation: cannot delete netns {}: {e}", self.name);
        }
    }
}

/// Runs `f` in `ns` if there is one, else right here.
pub fn run_in<T: Send>(ns: Option<&Netns>, f: impl FnOnce() -> T + Send) -> T {
    match ns {
        Some(ns) => ns.run(f),
        None => f(),
    }
}

fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
