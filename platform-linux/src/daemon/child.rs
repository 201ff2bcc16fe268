//! Child processes the loop starts and reaps without ever waiting on them:
//! `crm_ticket` runs and before-acquire-handlers. Each runs in its own process
//! group so a timeout kills whatever it started too.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};

use booth_core::Instant;

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    /// Killed by us at its deadline.
    TimedOut,
}

impl Outcome {
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }

    fn from_status(s: ExitStatus) -> Self {
        match (s.code(), s.signal()) {
            (Some(c), _) => Outcome::Exited(c),
            (None, Some(sig)) => Outcome::Signaled(sig),
            _ => Outcome::Exited(-1),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exit code {c}"),
            Outcome::Signaled(s) => write!(f, "killed by signal {s}"),
            Outcome::TimedOut => f.write_str("timed out and was killed"),
        }
    }
}

/// What a finished child left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub outcome: Outcome,
    /// Captured stdout (empty unless asked for), at most [`CAPTURE_MAX`].
    pub stdout: String,
    pub stderr: String,
}

/// Output kept per stream.
pub const CAPTURE_MAX: usize = 64 * 1024;

/// A running child with a deadline.
#[derive(Debug)]
pub struct Running {
    child: Child,
    deadline: Instant,
    killed: bool,
    reaped: bool,
}

/// Starts `cmd` in a new process group, stdin from /dev/null, stdout and
/// stderr captured (`capture_stdout`) or stdout inherited.
pub fn spawn(mut cmd: Command, capture_stdout: bool, deadline: Instant) -> io::Result<Running> {
    cmd.stdin(Stdio::null())
        .stdout(if capture_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd.spawn()?;
    set_nonblocking_pipes(&child);
    Ok(Running {
        child,
        deadline,
        killed: false,
        reaped: false,
    })
}

/// Like [`spawn`] but with stdout and stderr inherited from the daemon
/// (handlers: their output goes where the daemon's goes).
pub fn spawn_inherit(mut cmd: Command, deadline: Instant) -> io::Result<Running> {
    cmd.stdin(Stdio::null()).process_group(0);
    let child = cmd.spawn()?;
    Ok(Running {
        child,
        deadline,
        killed: false,
        reaped: false,
    })
}

fn set_nonblocking_pipes(child: &Child) {
    use std::os::fd::AsRawFd;
    let fds = [
        child.stdout.as_ref().map(|p| p.as_raw_fd()),
        child.stderr.as_ref().map(|p| p.as_raw_fd()),
    ];
    for fd in fds.into_iter().flatten() {
        // SAFETY: fcntl on a pipe descriptor the Child owns.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags != -1 {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
    }
}

fn drain<R: Read>(r: Option<&mut R>, into: &mut Vec<u8>) {
    let Some(r) = r else { return };
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = CAPTURE_MAX.saturating_sub(into.len());
                into.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reaps the child if it has exited. At the deadline its group is
    /// killed and `TimedOut` reported at once; the child may then still need
    /// reaping ([`Running::needs_reaping`], hand it to a [`Reaper`]).
    /// Pipes are read once the child is gone (outputs over the pipe size
    /// block the child until its deadline: crm_ticket writes a few lines).
    pub fn poll(&mut self, now: Instant) -> Option<Finished> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.reaped = true;
                Some(self.finish(Outcome::from_status(status)))
            }
            Ok(None) if now >= self.deadline && !self.killed => {
                self.signal_group(libc::SIGKILL);
                self.killed = true;
                if let Ok(Some(_)) = self.child.try_wait() {
                    self.reaped = true;
                }
                Some(self.finish(Outcome::TimedOut))
            }
            Ok(None) => None,
            Err(_) => {
                self.reaped = true;
                Some(self.finish(Outcome::Exited(-1)))
            }
        }
    }

    /// Kills the child's group now (the lease guard, when a grant write is
    /// still running at the ticket's deadline); [`Running::poll`] then
    /// reports `TimedOut`.
    pub fn kill(&mut self) {
        if !self.reaped && !self.killed {
            self.signal_group(libc::SIGKILL);
            self.killed = true;
        }
    }

    /// Killed at its deadline but not yet reaped.
    pub fn needs_reaping(&self) -> bool {
        !self.reaped
    }

    fn finish(&mut self, outcome: Outcome) -> Finished {
        let mut out = Vec::new();
        let mut err = Vec::new();
        drain(self.child.stdout.as_mut(), &mut out);
        drain(self.child.stderr.as_mut(), &mut err);
        Finished {
            outcome: if self.killed {
                Outcome::TimedOut
            } else {
                outcome
            },
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).trim().to_owned(),
        }
    }

    /// Sends `sig` to the child's process group.
    pub fn signal_group(&self, sig: libc::c_int) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the group we created (pgid = child pid); at worst ESRCH.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }

    /// Runs to completion, blocking (start-up only).
    pub fn wait_blocking(mut self, mut now: impl FnMut() -> Instant) -> Finished {
        loop {
            if let Some(f) = self.poll(now()) {
                if self.needs_reaping() {
                    let _ = self.child.wait();
                }
                return f;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// Children we no longer care about but must still reap (cancelled handlers):
/// SIGTERM first, SIGKILL after a grace period.
#[derive(Debug, Default)]
pub struct Reaper {
    orphans: Vec<(Running, Instant)>,
}

impl Reaper {
    /// Keeps a child that was already killed until it can be reaped.
    pub fn adopt(&mut self, child: Running, now: Instant) {
        if child.needs_reaping() {
            self.orphans.push((child, now));
        }
    }

    /// Sends SIGTERM to the group and keeps the child until it exits.
    pub fn abandon(&mut self, child: Running, now: Instant, grace_ms: u64) {
        child.signal_group(libc::SIGTERM);
        self.orphans
            .push((child, now + booth_core::Duration(grace_ms)));
    }

    /// Reaps what has exited; SIGKILLs what outlived its grace.
    pub fn poll(&mut self, now: Instant) {
        self.orphans.retain_mut(|(c, kill_at)| {
            if now >= *kill_at {
                c.signal_group(libc::SIGKILL);
            }
            !matches!(c.child.try_wait(), Ok(Some(_)) | Err(_))
        });
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.orphans.iter().map(|(_, t)| *t).min()
    }

    pub fn len(&self) -> usize {
        self.orphans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orphans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::clock;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn captures_output_and_status() {
        let deadline = clock::mono() + booth_core::Duration(5_000);
        let r = spawn(sh("echo out; echo err >&2; exit 3"), true, deadline).unwrap();
        let f = r.wait_blocking(clock::mono);
        assert_eq!(f.outcome, Outcome::Exited(3));
        assert_eq!(f.stdout, "out\n");
        assert_eq!(f.stderr, "err");
        assert!(!f.outcome.success());
    }

    #[test]
    fn deadline_kills_the_whole_group() {
        let deadline = clock::mono() + booth_core::Duration(200);
        let started = std::time::Instant::now();
        let r = spawn(sh("sleep 30 & sleep 30; exit 0"), false, deadline).unwrap();
        let f = r.wait_blocking(clock::mono);
        assert_eq!(f.outcome, Outcome::TimedOut);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn reaper_terminates_abandoned_children() {
        let now = clock::mono();
        let r = spawn_inherit(sh("sleep 30"), now + booth_core::Duration(60_000)).unwrap();
        let mut reaper = Reaper::default();
        reaper.abandon(r, now, 1_000);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !reaper.is_empty() && std::time::Instant::now() < until {
            reaper.poll(clock::mono());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(reaper.len(), 0);
    }
}
