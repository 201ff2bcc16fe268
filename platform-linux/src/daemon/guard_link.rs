//! The daemon's end of the lease guard ([`super::guard`]): finds or starts
//! the guard, sends it every commit, pings it, and replaces it when it dies
//! or stops answering. Never blocks the event loop: records that do not fit
//! in the socket wait in an outbox until it is writable.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use booth_core::{Duration, Instant};
use socket2::{Domain, SockAddr, Socket, Type};

use super::guard_proto::{self, CommitMsg, FromGuard, ToGuard, MAX_RECORD};

/// Ping period.
const PING_EVERY: Duration = Duration::from_secs(1);

/// The guard's program name in `ps`: it must not contain "boothd".
pub const GUARD_ARG0: &str = "booth-lease-guard";
/// A guard silent for this long is killed and replaced.
const SILENCE: Duration = Duration::from_secs(5);
/// Shortest interval between two guard starts.
const RESTART_EVERY: Duration = Duration::from_secs(1);
/// Records kept while the guard does not read (pings are dropped first).
const OUTBOX_MAX: usize = 4096;
/// Where the guard finds its listening socket.
const GUARD_FD: RawFd = 3;
/// The longest the daemon waits on its way out for the guard to have read
/// [`ToGuard::Leaving`] (a live guard takes milliseconds; booth-site's stop
/// escalates to SIGKILL after 5 s).
const LEAVE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How the guard is started (it logs like the daemon).
#[derive(Debug, Clone)]
pub struct GuardSpawn {
    pub instance: String,
    pub foreground: bool,
    pub debug: u8,
}

/// The connection to the guard.
#[derive(Debug)]
pub struct GuardLink {
    path: PathBuf,
    spawn: GuardSpawn,
    conn: Option<Socket>,
    /// Guards we started (reaped when they exit).
    children: Vec<Child>,
    /// The guard's pid, from its hello.
    pub guard_pid: Option<u32>,
    outbox: VecDeque<Vec<u8>>,
    /// The last granted commit of each ticket, re-sent to a new guard.
    granted: BTreeMap<String, CommitMsg>,
    seq: u64,
    ping_seq: u64,
    next_ping: Instant,
    last_heard: Instant,
    next_start: Instant,
    /// Times a guard revoked at a deadline (as reported).
    pub fired: u64,
    /// Guards started or adopted after the first.
    pub replaced: u64,
    pub write_failures: u64,
}

impl GuardLink {
    /// Connects to the instance's running guard, or starts one.
    pub fn start(path: &Path, spawn: GuardSpawn, now: Instant) -> io::Result<GuardLink> {
        if path.as_os_str().len() >= 108 {
            return Err(io::Error::other(format!(
                "the guard socket path {} is longer than a unix socket address allows",
                path.display()
            )));
        }
        let mut link = GuardLink {
            path: path.to_owned(),
            spawn,
            conn: None,
            children: Vec::new(),
            guard_pid: None,
            outbox: VecDeque::new(),
            granted: BTreeMap::new(),
            seq: 0,
            ping_seq: 0,
            next_ping: now,
            last_heard: now,
            next_start: now,
            fired: 0,
            replaced: 0,
            write_failures: 0,
        };
        link.connect(now, true)?;
        Ok(link)
    }

    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Connects to a listening guard, else starts a new one (`try_existing`
    /// false: a hung guard was just killed, start a new one right away).
    fn connect(&mut self, now: Instant, try_existing: bool) -> io::Result<()> {
        self.next_start = now + RESTART_EVERY;
        let addr = SockAddr::unix(&self.path)?;
        let existing = if try_existing {
            let s = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
            match s.connect(&addr) {
                Ok(()) => Some(s),
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT) | Some(libc::ECONNREFUSED)
                    ) =>
                {
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let sock = match existing {
            Some(s) => {
                log::info!(
                    "connected to the running lease guard at {}",
                    self.path.display()
                );
                s
            }
            None => self.start_guard(&addr)?,
        };
        sock.set_nonblocking(true)?;
        self.conn = Some(sock);
        self.last_heard = now;
        self.next_ping = now + PING_EVERY;
        // The hello and the re-sent grants go before anything queued.
        let mut first = vec![guard_proto::encode(&ToGuard::Hello {
            pid: std::process::id(),
            instance: self.spawn.instance.clone(),
        })];
        first.extend(
            self.granted
                .values()
                .map(|c| guard_proto::encode(&ToGuard::Commit(c.clone()))),
        );
        for r in first.into_iter().rev() {
            self.outbox.push_front(r);
        }
        self.flush();
        Ok(())
    }

    /// Binds the socket, starts the guard (`booth-lease-guard guard …`) on
    /// it, connects.
    fn start_guard(&mut self, addr: &SockAddr) -> io::Result<Socket> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
        listener.bind(addr)?;
        listener.listen(4)?;
        let lfd = listener.as_raw_fd();
        let mut cmd = Command::new("/proc/self/exe");
        // Not "boothd": booth-site's monitor greps `ps` for boothd followed
        // by the config name, and must not take a surviving guard for a
        // running daemon (main.rs dispatches on the word "guard" alone).
        cmd.arg0(GUARD_ARG0)
            .args(["guard", "--fd", &GUARD_FD.to_string(), "--instance"])
            .arg(&self.spawn.instance)
            .stdin(Stdio::null())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID");
        // It stays in the daemon's process group and session: a signal to
        // the daemon's PID (SIGSTOP, SIGKILL) does not reach it, while a
        // supervisor that stops the whole group or control group stops it
        // too (and SIGTERM makes it revoke at once).
        if self.spawn.foreground {
            cmd.arg("-S");
        }
        for _ in 0..self.spawn.debug {
            cmd.arg("-D");
        }
        // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork
        // and exec; `lfd` stays open in the parent until spawn returns.
        unsafe {
            cmd.pre_exec(move || {
                if lfd == GUARD_FD {
                    let flags = libc::fcntl(GUARD_FD, libc::F_GETFD);
                    if flags < 0
                        || libc::fcntl(GUARD_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(lfd, GUARD_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        log::info!(
            "started the lease guard (pid {}) on {}",
            child.id(),
            self.path.display()
        );
        self.children.push(child);
        let s = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
        s.connect(addr)?;
        drop(listener);
        Ok(s)
    }

    /// Sends one commit. `deadline`: granted here until then.
    pub fn commit(
        &mut self,
        ticket: &str,
        deadline: Option<Instant>,
        write: Vec<String>,
        revoke: Vec<String>,
    ) -> u64 {
        self.seq += 1;
        let msg = CommitMsg {
            ticket: ticket.to_owned(),
            seq: self.seq,
            deadline: deadline.map(|d| d.0),
            write,
            revoke,
        };
        if msg.deadline.is_some() {
            self.granted.insert(ticket.to_owned(), msg.clone());
        } else {
            self.granted.remove(ticket);
        }
        self.queue(guard_proto::encode(&ToGuard::Commit(msg)));
        self.seq
    }

    /// Tells the guard that the daemon exits on purpose (see
    /// [`ToGuard::Leaving`]). Best effort: if it cannot be sent, the guard
    /// takes the exit for a crash and revokes at the deadlines as before.
    ///
    /// Then it waits, up to [`LEAVE_WAIT`], until the guard has read it.
    /// Closing a unix socket with records still unread on our side makes the
    /// guard's next `recv` fail with ECONNRESET *before* the records queued
    /// for it: the guard would lose the `Leaving` and take a planned stop (a
    /// move of booth-site) for a crash, revoking at the deadline a grant
    /// that the site's next daemon renewed (seen in
    /// `tests/tests/e2e_two_node_site.rs`, standby of a node). So: send what
    /// is queued, shut our sending side (the guard reads `Leaving`, then
    /// end-of-file, and closes), and read until the guard has closed.
    pub fn leave(&mut self) {
        self.queue(guard_proto::encode(&ToGuard::Leaving));
        let Some(s) = self.conn.take() else { return };
        let until = std::time::Instant::now() + LEAVE_WAIT;
        let mut buf = vec![0u8; MAX_RECORD];
        let mut shut = false;
        loop {
            while !shut {
                let Some(rec) = self.outbox.front() else {
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    shut = true;
                    break;
                };
                match s.send_with_flags(rec, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
                    Ok(_) => {
                        self.outbox.pop_front();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
            // What the guard sends meanwhile is read and dropped.
            match super::guard::recv(&s, &mut buf) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                log::warn!(
                    "the lease guard did not confirm the planned exit within {LEAVE_WAIT:?}; \
                     it may take it for a crash and revoke at the deadline"
                );
                return;
            }
            let mut pfd = libc::pollfd {
                fd: s.as_raw_fd(),
                events: if shut {
                    libc::POLLIN
                } else {
                    libc::POLLIN | libc::POLLOUT
                },
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, 100) as libc::c_int;
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) };
        }
    }

    fn queue(&mut self, rec: Vec<u8>) {
        if self.outbox.len() >= OUTBOX_MAX {
            // Only pings are ever dropped; a guard that lets this many
            // records pile up is replaced by the silence check anyway.
            let ping = guard_proto::encode(&ToGuard::Ping { seq: 0 })[..2].to_vec();
            if let Some(i) = self.outbox.iter().position(|r| r.starts_with(&ping)) {
                self.outbox.remove(i);
            }
        }
        self.outbox.push_back(rec);
        self.flush();
    }

    fn flush(&mut self) {
        let Some(s) = &self.conn else { return };
        while let Some(rec) = self.outbox.front() {
            match s.send_with_flags(rec, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
                Ok(_) => {
                    self.outbox.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("lease guard connection: {e}");
                    self.disconnect();
                    return;
                }
            }
        }
    }

    fn disconnect(&mut self) {
        self.conn = None;
        self.guard_pid = None;
        // A new guard gets the hello and the grants again, then what is
        // still queued.
    }

    /// The socket and the events to wait for.
    pub fn poll_fd(&self) -> Option<(RawFd, libc::c_short)> {
        let s = self.conn.as_ref()?;
        let mut ev = libc::POLLIN;
        if !self.outbox.is_empty() {
            ev |= libc::POLLOUT;
        }
        Some((s.as_raw_fd(), ev))
    }

    /// The socket is ready: sends what waits, reads what came.
    pub fn on_ready(&mut self, now: Instant) -> Vec<FromGuard> {
        self.flush();
        let mut out = Vec::new();
        let mut buf = vec![0u8; MAX_RECORD];
        while let Some(s) = &self.conn {
            match super::guard::recv(s, &mut buf) {
                Ok(0) => {
                    log::error!(
                        "the lease guard (pid {}) closed its connection; starting another",
                        self.guard_pid
                            .map_or_else(|| "?".to_owned(), |p| p.to_string())
                    );
                    self.disconnect();
                    self.next_start = now;
                    break;
                }
                Ok(n) => {
                    self.last_heard = now;
                    match guard_proto::decode::<FromGuard>(&buf[..n]) {
                        Ok(m) => {
                            match &m {
                                FromGuard::Hello { pid, .. } => self.guard_pid = Some(*pid),
                                FromGuard::Fired { .. } => self.fired += 1,
                                FromGuard::Written { error: Some(_), .. } => {
                                    self.write_failures += 1
                                }
                                _ => {}
                            }
                            out.push(m);
                        }
                        Err(e) => {
                            log::error!("lease guard: {e}; replacing it");
                            self.kill_guard();
                            self.next_start = now;
                            break;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("lease guard connection: {e}");
                    self.disconnect();
                    self.next_start = now;
                    break;
                }
            }
        }
        out
    }

    fn kill_guard(&mut self) {
        if let Some(pid) = self.guard_pid {
            // SAFETY: kill(2) on the pid the guard reported; its end of our
            // connection was still open, so that process still exists.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        self.disconnect();
    }

    /// Pings, replaces a silent guard, reconnects, reaps.
    pub fn on_time(&mut self, now: Instant) {
        self.children
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
        if self.conn.is_some() && now.saturating_since(self.last_heard) >= SILENCE {
            log::error!(
                "the lease guard (pid {}) has not answered for {} ms: killing it and \
                 starting another",
                self.guard_pid
                    .map_or_else(|| "?".to_owned(), |p| p.to_string()),
                now.saturating_since(self.last_heard).as_millis()
            );
            self.kill_guard();
            self.replaced += 1;
            if let Err(e) = self.connect(now, false) {
                log::error!("cannot start a lease guard: {e}");
            }
            return;
        }
        if self.conn.is_none() && now >= self.next_start {
            self.replaced += 1;
            if let Err(e) = self.connect(now, true) {
                log::error!(
                    "cannot reach or start a lease guard: {e}; the CIB is not written \
                     until one runs"
                );
            }
            return;
        }
        if self.conn.is_some() && now >= self.next_ping {
            self.ping_seq += 1;
            self.next_ping = now + PING_EVERY;
            let rec = guard_proto::encode(&ToGuard::Ping { seq: self.ping_seq });
            self.queue(rec);
        }
    }

    /// When [`GuardLink::on_time`] wants to run next.
    pub fn next_deadline(&self) -> Instant {
        let mut t = if self.conn.is_some() {
            self.next_ping.min(self.last_heard + SILENCE)
        } else {
            self.next_start
        };
        if !self.children.is_empty() {
            t = t.min(self.next_ping);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard that has sent records the daemon has not read when it leaves
    /// must still read `Leaving`, then end-of-file (not ECONNRESET).
    #[test]
    fn leaving_reaches_a_guard_whose_records_the_daemon_did_not_read() {
        let dir = std::env::temp_dir().join(format!("booth-guard-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.sock");
        let _ = std::fs::remove_file(&path);
        let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        listener.bind(&SockAddr::unix(&path).unwrap()).unwrap();
        listener.listen(1).unwrap();
        let spawn = GuardSpawn {
            instance: "t".into(),
            foreground: true,
            debug: 0,
        };
        let mut link = GuardLink::start(&path, spawn, Instant::from_millis(0)).unwrap();
        let (guard, _) = listener.accept().unwrap();
        // Unread by the daemon when it leaves.
        for seq in 0..3 {
            guard
                .send(&guard_proto::encode(&FromGuard::Pong { seq }))
                .unwrap();
        }
        link.leave();
        let mut got = Vec::new();
        let mut buf = vec![0u8; MAX_RECORD];
        loop {
            match super::super::guard::recv(&guard, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.push(guard_proto::decode::<ToGuard>(&buf[..n]).unwrap()),
                Err(e) => panic!("the guard's recv failed: {e} (after {got:?})"),
            }
        }
        assert!(
            matches!(got.first(), Some(ToGuard::Hello { .. })),
            "{got:?}"
        );
        assert!(matches!(got.last(), Some(ToGuard::Leaving)), "{got:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
