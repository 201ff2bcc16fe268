//! The lease guard: a small process beside each site's daemon that writes
//! the site's ticket commits to the CIB and revokes a granted ticket itself
//! when its deadline passes, whatever happened to the daemon (SIGSTOP,
//! SIGKILL, a hang in the event loop, an exhausted CPU). booth 1.x leaves
//! `granted=true` in the CIB of a frozen or dead holder, and Pacemaker never
//! acts on `expires` (booth-protocol.md §10.1 #4, `lease-safety.md` §4.3).
//!
//! `boothd daemon` starts it (`boothd guard`, the same binary) after
//! dropping privileges, in the daemon's process group (a signal to the
//! daemon's PID does not reach it), and keeps it informed over
//! a unix socket ([`super::guard_proto`]): every engine commit goes to the
//! guard, which runs `crm_ticket` (one write per ticket at a time, the
//! newest pending write replacing older ones) and keeps each granted
//! ticket's deadline. When a deadline passes without a later commit:
//!
//! 1. a grant write still running for that ticket is killed (it must not
//!    land after the revoke), a pending one dropped;
//! 2. `crm_ticket -t T -r --force -S owner --attr-value=0 …` runs, retried
//!    every second (5 times) if it fails.
//!
//! The deadline is a `CLOCK_BOOTTIME` instant, watched with a timerfd on
//! that clock (it fires on time across suspend) and re-checked against
//! `clock_gettime` on every wake-up.
//!
//! Lifetime: the guard outlives the daemon's death (socket EOF keeps the
//! deadlines; they are revoked when they pass) and exits once no daemon is
//! connected and nothing is armed or being written. A new daemon connects to
//! a running guard instead of starting another, so a fresh grant is never
//! revoked by a stale deadline of a second guard; at start-up the engine
//! commits "not granted" for every ticket, which disarms what the previous
//! daemon left. SIGTERM/SIGINT (systemd stopping the unit's control group)
//! revokes every armed ticket at once, then exits: nobody would guard them.
//! A daemon that exits on purpose (the booth-site resource stopped or moved
//! to another node) says so first (`Leaving`); then a second before each
//! deadline the guard reads the CIB and leaves a grant that a later daemon
//! of this site renewed; anything else is revoked at the deadline, never
//! later (docs/site-memory.md).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use booth_core::{Duration, Instant};
use socket2::Socket;

use super::child::{self, Reaper, Running};
use super::cib::{self, CRM_TICKET, WRITE_TIMEOUT};
use super::clock;
use super::guard_proto::{self, ArmedMsg, CommitMsg, FromGuard, ToGuard, WriteKind, MAX_RECORD};
use super::log as dlog;
use super::signals::{Signal, Signals};

/// How `boothd guard` was invoked (by the daemon, never by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardOptions {
    /// The listening socket, inherited from the daemon.
    pub listen_fd: RawFd,
    /// Log to stderr (the daemon runs with `-S`) instead of syslog.
    pub foreground: bool,
    pub debug: u8,
    /// The configuration name, for logs.
    pub instance: String,
}

impl GuardOptions {
    /// `--fd N --instance NAME [-S] [-D]…`.
    pub fn parse(args: &[String]) -> Result<GuardOptions, String> {
        let mut o = GuardOptions {
            listen_fd: -1,
            foreground: false,
            debug: 0,
            instance: "booth".to_owned(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--fd" => {
                    o.listen_fd = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|fd: &RawFd| *fd >= 3)
                        .ok_or("--fd needs a descriptor number of 3 or more")?
                }
                "--instance" => o.instance = it.next().ok_or("--instance needs a name")?.clone(),
                "-S" => o.foreground = true,
                "-D" => o.debug = o.debug.saturating_add(1),
                other => return Err(format!("unknown guard argument {other:?}")),
            }
        }
        if o.listen_fd < 0 {
            return Err("the lease guard is started by `boothd daemon`, not by hand".to_owned());
        }
        Ok(o)
    }
}

/// Failed revokes are retried this often…
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// …this many times.
const RETRIES: u8 = 5;
/// A daemon silent for this long is reported as unresponsive in the logs.
const DAEMON_SILENCE: Duration = Duration::from_secs(2);
/// Waiting for the first connection after start.
const FIRST_CONNECT: Duration = Duration::from_secs(10);
/// When the daemon left on purpose, how long before a deadline the guard
/// reads the CIB to see whether a later daemon of the site renewed the
/// grant. A read takes tens of milliseconds: its answer is in well before
/// the deadline, so a revoke that is due still starts at the deadline
/// itself, never later (the margins between our sites' grants count from
/// it).
const READ_AHEAD: Duration = Duration(1_000);

/// Longest poll(2) sleep; the clock is re-read after every wake-up.
const MAX_NAP_MS: u64 = 1_000;

#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    kind: WriteKind,
    args: Vec<String>,
    tries: u8,
}

#[derive(Debug)]
struct Write {
    job: Job,
    child: Running,
    started: Instant,
}

#[derive(Debug, Clone)]
struct Armed {
    deadline: Instant,
    /// The `crm_ticket` arguments that wrote the grant (owner, expires).
    grant: Vec<String>,
    revoke: Vec<String>,
    /// The CIB read ahead of the deadline has been started (see
    /// [`READ_AHEAD`]).
    read: bool,
}

#[derive(Debug, Default)]
struct Slot {
    armed: Option<Armed>,
    running: Option<Write>,
    next: Option<Job>,
    retry: Option<(Instant, Job)>,
}

impl Slot {
    fn idle(&self) -> bool {
        self.armed.is_none()
            && self.running.is_none()
            && self.next.is_none()
            && self.retry.is_none()
    }

    /// Queues a write, replacing a pending one (and any retry).
    fn queue(&mut self, job: Job) {
        self.retry = None;
        self.next = Some(job);
    }
}

/// One connected daemon.
#[derive(Debug)]
struct Conn {
    sock: Socket,
    pid: u32,
    last_heard: Instant,
}

/// The guard's state; see the module documentation.
#[derive(Debug)]
pub struct Guard {
    listener: Socket,
    conn: Option<Conn>,
    slots: BTreeMap<String, Slot>,
    reaper: Reaper,
    started: Instant,
    pub fired: u64,
    /// Records to the daemon dropped because its socket was full.
    pub dropped: u64,
    stopping: bool,
    /// The last daemon said it was leaving on purpose ([`ToGuard::Leaving`]).
    left_on_purpose: bool,
    /// A daemon connected once (before that, wait [`FIRST_CONNECT`] for it).
    ever_connected: bool,
    uid: libc::uid_t,
    /// `crm_ticket` (tests put a stand-in here).
    program: std::ffi::OsString,
}

/// Runs `boothd guard`; returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let opts = match GuardOptions::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("boothd guard: {e}");
            return 1;
        }
    };
    let sink = if opts.foreground {
        dlog::Sink::Stderr
    } else {
        dlog::Sink::Syslog
    };
    dlog::init(sink, dlog::level_for(u32::from(opts.debug)));
    // /proc/PID/comm too (pgrep, pidof, top): the executable is boothd, but
    // `pkill boothd` must not take the guard for the daemon.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"booth-guard".as_ptr()) };
    // SAFETY: the daemon passed us this descriptor (a listening unix
    // socket) for our exclusive use; nothing else in this process owns it.
    let listener = unsafe { Socket::from_raw_fd(opts.listen_fd) };
    match run(listener, &opts) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("lease guard ({}): {e}", opts.instance);
            1
        }
    }
}

fn run(listener: Socket, opts: &GuardOptions) -> io::Result<()> {
    // Children must not inherit the listener (it was passed without CLOEXEC).
    listener.set_cloexec(true)?;
    listener.set_nonblocking(true)?;
    let signals = Signals::new()?;
    let timer = TimerFd::new()?;
    let mut g = Guard::new(listener, clock::mono());
    log::info!(
        "lease guard of {} started (pid {}), revoking at CLOCK_BOOTTIME deadlines",
        opts.instance,
        std::process::id()
    );
    g.run_loop(&signals, &timer)
}

impl Guard {
    fn new(listener: Socket, now: Instant) -> Guard {
        Guard {
            listener,
            conn: None,
            slots: BTreeMap::new(),
            reaper: Reaper::default(),
            started: now,
            fired: 0,
            dropped: 0,
            stopping: false,
            left_on_purpose: false,
            ever_connected: false,
            // SAFETY: getuid has no preconditions.
            uid: unsafe { libc::getuid() },
            program: CRM_TICKET.into(),
        }
    }

    fn run_loop(&mut self, signals: &Signals, timer: &TimerFd) -> io::Result<()> {
        let mut timer_failed = false;
        loop {
            let now = clock::mono();
            self.step(now);
            if self.finished(now) {
                log::info!(
                    "lease guard: no daemon and nothing granted; exiting (fired {} time(s))",
                    self.fired
                );
                return Ok(());
            }
            if let Err(e) = timer.arm(self.next_armed()) {
                // poll's timeout (from clock_gettime) still wakes us in time.
                if !timer_failed {
                    log::warn!("lease guard: timerfd: {e}; relying on poll timeouts");
                    timer_failed = true;
                }
            }
            let mut fds = vec![
                pollfd(signals.as_raw_fd()),
                pollfd(timer.as_raw_fd()),
                pollfd(self.listener.as_raw_fd()),
            ];
            if let Some(c) = &self.conn {
                fds.push(pollfd(c.sock.as_raw_fd()));
            }
            let timeout = self.timeout_ms(clock::mono());
            // SAFETY: fds is a valid array of fds.len() pollfd structs.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
                continue;
            }
            if fds[0].revents != 0 {
                for s in signals.read() {
                    match s {
                        Signal::Terminate(sig) => self.terminate(sig, clock::mono()),
                        Signal::DumpState => self.dump(clock::mono()),
                        Signal::Child | Signal::Hangup => {}
                    }
                }
            }
            if fds[1].revents != 0 {
                timer.clear();
            }
            if fds[2].revents != 0 {
                self.accept(clock::mono());
            }
            if fds.get(3).is_some_and(|p| p.revents != 0) {
                self.read_conn(clock::mono());
            }
        }
    }

    /// Everything that depends on time: deadlines, children, retries.
    pub fn step(&mut self, now: Instant) {
        // Writes that ended before the deadline count as written, not killed.
        self.poll_children(now);
        self.read_due(now);
        self.fire_due(now);
        self.poll_children(now);
        self.start_pending(now);
    }

    fn finished(&self, now: Instant) -> bool {
        let idle = self.slots.values().all(Slot::idle) && self.reaper.is_empty();
        if self.stopping {
            return idle
                || self
                    .slots
                    .values()
                    .all(|s| s.running.is_none() && s.next.is_none());
        }
        idle && self.conn.is_none()
            && (self.ever_connected || now.saturating_since(self.started) >= FIRST_CONNECT)
    }

    fn next_armed(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter_map(|s| s.armed.as_ref().map(|a| a.deadline))
            .min()
    }

    fn timeout_ms(&self, now: Instant) -> i32 {
        let deadlines = self
            .slots
            .values()
            .flat_map(|s| {
                [
                    s.armed.as_ref().map(|a| a.deadline),
                    s.armed.as_ref().and_then(|a| self.read_at(a)),
                    s.running.as_ref().map(|w| w.child.deadline()),
                    s.retry.as_ref().map(|r| r.0),
                ]
            })
            .chain([self.reaper.next_deadline()])
            .flatten()
            .min();
        let mut ms = deadlines.map_or(MAX_NAP_MS, |d| clock::millis_until(now, d));
        let busy = self.slots.values().any(|s| s.running.is_some()) || !self.reaper.is_empty();
        if busy {
            // Children are polled (SIGCHLD only wakes us up).
            ms = ms.min(20);
        }
        let ms = ms.min(MAX_NAP_MS);
        (ms + u64::from(ms > 0)) as i32
    }

    fn daemon_alive(&self, now: Instant) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| now.saturating_since(c.last_heard) < DAEMON_SILENCE)
    }

    /// When to read the CIB ahead of `a`'s deadline: only after the daemon
    /// left on purpose (a later daemon of the site may renew the grant on
    /// another node), once.
    fn read_at(&self, a: &Armed) -> Option<Instant> {
        let wanted = self.conn.is_none() && self.left_on_purpose && !self.stopping && !a.read;
        wanted.then(|| a.deadline - READ_AHEAD)
    }

    /// Starts the CIB reads that are due (see [`READ_AHEAD`]). A slot with a
    /// write running or pending is not read: its deadline revokes, the safe
    /// default.
    fn read_due(&mut self, now: Instant) {
        let due: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| {
                s.armed
                    .as_ref()
                    .and_then(|a| self.read_at(a))
                    .is_some_and(|at| at <= now)
            })
            .map(|(t, _)| t.clone())
            .collect();
        for t in due {
            let Some(slot) = self.slots.get_mut(&t) else {
                continue;
            };
            let Some(armed) = slot.armed.as_mut() else {
                continue;
            };
            armed.read = true;
            if slot.running.is_some() || slot.next.is_some() {
                continue;
            }
            log::info!(
                "lease guard: ticket {t}: the daemon left on purpose; reading the CIB before \
                 the deadline in {} ms (a later daemon of this site may have renewed it)",
                clock::millis_until(now, armed.deadline)
            );
            slot.queue(Job {
                seq: 0,
                kind: WriteKind::Check,
                args: cib::load_args(&t),
                tries: 0,
            });
        }
    }

    /// Revokes every armed ticket whose deadline has passed.
    fn fire_due(&mut self, now: Instant) {
        let due: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| s.armed.as_ref().is_some_and(|a| a.deadline <= now))
            .map(|(t, _)| t.clone())
            .collect();
        for t in due {
            self.fire(&t, now);
        }
    }

    fn fire(&mut self, ticket: &str, now: Instant) {
        let alive = self.daemon_alive(now);
        let Some(slot) = self.slots.get_mut(ticket) else {
            return;
        };
        let Some(armed) = slot.armed.take() else {
            return;
        };
        self.fired += 1;
        let late = now.saturating_since(armed.deadline).as_millis();
        let mut killed_grant = false;
        if slot
            .running
            .as_ref()
            .is_some_and(|w| w.job.kind == WriteKind::Grant)
        {
            if let Some(mut w) = slot.running.take() {
                w.child.kill();
                self.reaper.adopt(w.child, now);
                killed_grant = true;
            }
        }
        if slot
            .running
            .as_ref()
            .is_some_and(|w| w.job.kind == WriteKind::Check)
        {
            // The read ahead came too late to matter: revoke now.
            if let Some(mut w) = slot.running.take() {
                w.child.kill();
                self.reaper.adopt(w.child, now);
            }
        }
        if !matches!(&slot.next, Some(j) if j.kind != WriteKind::Grant) {
            slot.queue(Job {
                seq: 0,
                kind: WriteKind::GuardRevoke,
                args: armed.revoke,
                tries: 0,
            });
        }
        let why = if self.stopping {
            "the guard is stopping"
        } else if self.conn.is_none() {
            "no daemon is connected"
        } else if !alive {
            "the daemon is not answering"
        } else {
            "no renewal"
        };
        let msg = format!(
            "lease guard: ticket {ticket}: deadline passed {late} ms ago ({why}); revoking in the CIB{}",
            if killed_grant {
                " after killing a grant write that was still running"
            } else {
                ""
            }
        );
        if alive && !self.stopping {
            log::info!("{msg}");
        } else {
            log::warn!("{msg}");
        }
        self.send(&FromGuard::Fired {
            ticket: ticket.to_owned(),
            deadline: armed.deadline.0,
            late_ms: late,
            killed_grant,
        });
    }

    fn poll_children(&mut self, now: Instant) {
        let mut reports = Vec::new();
        for (ticket, slot) in &mut self.slots {
            let Some(f) = slot.running.as_mut().and_then(|w| w.child.poll(now)) else {
                continue;
            };
            let Some(w) = slot.running.take() else {
                continue;
            };
            let took = now.saturating_since(w.started).as_millis();
            let error = if f.outcome.success() {
                None
            } else if f.stderr.is_empty() {
                Some(f.outcome.to_string())
            } else {
                Some(format!("{}: {}", f.outcome, f.stderr))
            };
            self.reaper.adopt(w.child, now);
            if w.job.kind == WriteKind::Check {
                Self::after_check(ticket, slot, &f, took);
                continue;
            }
            match (&error, w.job.kind) {
                (None, WriteKind::GuardRevoke) => log::info!(
                    "lease guard: ticket {ticket}: not granted here in the CIB now ({took} ms)"
                ),
                (None, _) => log::debug!(
                    "lease guard: ticket {ticket}: CIB {:?} written ({took} ms)",
                    w.job.kind
                ),
                (Some(e), kind) => {
                    log::error!("lease guard: ticket {ticket}: CIB {kind:?} failed: {e}");
                    if kind != WriteKind::Grant && w.job.tries < RETRIES && slot.next.is_none() {
                        let mut job = w.job.clone();
                        job.tries += 1;
                        slot.retry = Some((now + RETRY_EVERY, job));
                    }
                }
            }
            reports.push(FromGuard::Written {
                ticket: ticket.clone(),
                seq: w.job.seq,
                kind: w.job.kind,
                error,
                took_ms: took,
            });
        }
        for r in reports {
            self.send(&r);
        }
        self.reaper.poll(now);
    }

    fn start_pending(&mut self, now: Instant) {
        let mut reports = Vec::new();
        for (ticket, slot) in &mut self.slots {
            if slot.next.is_none() {
                if let Some((at, _)) = &slot.retry {
                    if *at <= now {
                        slot.next = slot.retry.take().map(|(_, j)| j);
                    }
                }
            }
            if slot.running.is_some() {
                continue;
            }
            let Some(job) = slot.next.take() else {
                continue;
            };
            if job.kind == WriteKind::Grant && slot.armed.as_ref().is_none_or(|a| a.deadline <= now)
            {
                // Its deadline passed while it waited: never write it.
                continue;
            }
            let mut cmd = std::process::Command::new(&self.program);
            cmd.args(&job.args);
            let read = job.kind == WriteKind::Check;
            match child::spawn(cmd, read, now + WRITE_TIMEOUT) {
                Ok(child) => {
                    slot.running = Some(Write {
                        job,
                        child,
                        started: now,
                    })
                }
                Err(e) => {
                    let e = if e.kind() == io::ErrorKind::NotFound {
                        format!("{CRM_TICKET} not found on PATH")
                    } else {
                        format!("cannot run {CRM_TICKET}: {e}")
                    };
                    log::error!("lease guard: ticket {ticket}: {e}");
                    if job.kind != WriteKind::Grant && job.tries < RETRIES {
                        let mut retry = job.clone();
                        retry.tries += 1;
                        slot.retry = Some((now + RETRY_EVERY, retry));
                    }
                    reports.push(FromGuard::Written {
                        ticket: ticket.clone(),
                        seq: job.seq,
                        kind: job.kind,
                        error: Some(e),
                        took_ms: 0,
                    });
                }
            }
        }
        for r in reports {
            self.send(&r);
        }
    }

    /// The CIB read ahead of a deadline: a grant that a later daemon of
    /// this site renewed is left to that daemon (and its own guard); else
    /// the deadline revokes as usual. A failed read changes nothing.
    fn after_check(ticket: &str, slot: &mut Slot, f: &child::Finished, took: u64) {
        let Some(armed) = slot.armed.as_ref() else {
            return;
        };
        let state = f
            .outcome
            .success()
            .then(|| cib::parse_ticket_state(&f.stdout))
            .flatten();
        match &state {
            Some(state) if renewed_since(state, &armed.grant) => {
                log::info!(
                    "lease guard: ticket {ticket}: a later daemon of this site renewed it \
                     (the CIB says expires={}; read in {took} ms): not revoking",
                    cib::state_attr(state, "expires").unwrap_or("?")
                );
                slot.armed = None;
            }
            Some(_) => log::info!(
                "lease guard: ticket {ticket}: nobody renewed it (read in {took} ms); \
                 revoking at the deadline"
            ),
            None => log::warn!(
                "lease guard: ticket {ticket}: the CIB could not be read ({}); revoking at \
                 the deadline",
                f.outcome
            ),
        }
    }

    /// A commit from the daemon.
    pub fn on_commit(&mut self, c: CommitMsg, now: Instant) {
        let slot = self.slots.entry(c.ticket.clone()).or_default();
        match c.deadline.map(Instant) {
            Some(d) if d > now && !self.stopping => {
                slot.armed = Some(Armed {
                    deadline: d,
                    grant: c.write.clone(),
                    revoke: c.revoke,
                    read: false,
                });
                slot.queue(Job {
                    seq: c.seq,
                    kind: WriteKind::Grant,
                    args: c.write,
                    tries: 0,
                });
            }
            Some(d) => {
                // A grant whose deadline has already passed (the daemon was
                // late, or we are stopping): revoke instead.
                slot.armed = Some(Armed {
                    deadline: d.min(now),
                    grant: c.write,
                    revoke: c.revoke,
                    read: false,
                });
                self.fire(&c.ticket, now);
            }
            None => {
                slot.armed = None;
                slot.queue(Job {
                    seq: c.seq,
                    kind: WriteKind::NotGranted,
                    args: c.write,
                    tries: 0,
                });
            }
        }
        self.start_pending(now);
    }

    fn terminate(&mut self, sig: i32, now: Instant) {
        let armed: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| s.armed.is_some())
            .map(|(t, _)| t.clone())
            .collect();
        log::warn!(
            "lease guard: signal {sig}: revoking {} granted ticket(s) now, then exiting",
            armed.len()
        );
        self.stopping = true;
        for t in armed {
            self.fire(&t, now);
        }
        self.start_pending(now);
    }

    fn dump(&self, now: Instant) {
        log::info!(
            "lease guard: daemon {}, fired {}, dropped records {}",
            self.conn
                .as_ref()
                .map_or_else(|| "not connected".to_owned(), |c| format!("pid {}", c.pid)),
            self.fired,
            self.dropped
        );
        for (t, s) in &self.slots {
            log::info!(
                "lease guard: ticket {t}: armed {}, writing {:?}, pending {:?}",
                s.armed.as_ref().map_or_else(
                    || "no".to_owned(),
                    |a| format!("until {} ms from now", clock::millis_until(now, a.deadline))
                ),
                s.running.as_ref().map(|w| w.job.kind),
                s.next.as_ref().map(|j| j.kind),
            );
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let sock = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("lease guard: accept: {e}");
                    return;
                }
            };
            let uid = peer_uid(&sock);
            if uid != Some(self.uid) && uid != Some(0) {
                log::warn!(
                    "lease guard: refused a connection from uid {uid:?} (only uid {} or root)",
                    self.uid
                );
                continue;
            }
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            if let Some(old) = self.conn.take() {
                // Only one daemon holds the instance's lock file: the old one is gone.
                log::info!(
                    "lease guard: a new daemon connection replaces that of pid {}",
                    old.pid
                );
            }
            self.conn = Some(Conn {
                sock,
                pid: 0,
                last_heard: now,
            });
            self.ever_connected = true;
            let armed = self
                .slots
                .iter()
                .filter_map(|(t, s)| {
                    s.armed.as_ref().map(|a| ArmedMsg {
                        ticket: t.clone(),
                        deadline: a.deadline.0,
                    })
                })
                .collect();
            self.send(&FromGuard::Hello {
                pid: std::process::id(),
                armed,
                fired: self.fired,
            });
        }
    }

    fn read_conn(&mut self, now: Instant) {
        let mut buf = vec![0u8; MAX_RECORD];
        loop {
            let Some(c) = self.conn.as_mut() else { return };
            let n = match recv(&c.sock, &mut buf) {
                Ok(0) => {
                    let n = self.slots.values().filter(|s| s.armed.is_some()).count();
                    let pid = c.pid;
                    self.conn = None;
                    if n > 0 {
                        log::warn!(
                            "lease guard: daemon (pid {pid}) disconnected; {n} granted ticket(s) \
                             stay guarded until their deadlines"
                        );
                    } else {
                        log::info!("lease guard: daemon (pid {pid}) disconnected");
                    }
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("lease guard: daemon connection: {e}");
                    self.conn = None;
                    return;
                }
            };
            c.last_heard = now;
            match guard_proto::decode::<ToGuard>(&buf[..n]) {
                Ok(ToGuard::Hello { pid, instance }) => {
                    c.pid = pid;
                    self.left_on_purpose = false;
                    log::info!("lease guard: daemon of {instance} connected (pid {pid})");
                }
                Ok(ToGuard::Commit(m)) => self.on_commit(m, now),
                Ok(ToGuard::Ping { seq }) => self.send(&FromGuard::Pong { seq }),
                Ok(ToGuard::Leaving) => {
                    log::info!(
                        "lease guard: the daemon is leaving on purpose; a later daemon of this \
                         site may renew its grants, so the CIB is read before any revoke"
                    );
                    self.left_on_purpose = true;
                }
                Err(e) => {
                    log::error!("lease guard: closing the daemon connection: {e}");
                    self.conn = None;
                    return;
                }
            }
        }
    }

    /// Sends without ever blocking: a full socket (daemon frozen) drops the
    /// record; the daemon learns the state again from later records.
    fn send(&mut self, msg: &FromGuard) {
        let Some(c) = &self.conn else { return };
        let rec = guard_proto::encode(msg);
        match c
            .sock
            .send_with_flags(&rec, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.dropped += 1,
            Err(e) => {
                log::debug!("lease guard: send to the daemon: {e}");
                self.conn = None;
            }
        }
    }
}

/// Whether the CIB's ticket state shows the grant that `grant` (our
/// `crm_ticket` arguments) wrote renewed since: still granted, to the same
/// owner, with a later `expires`. Only a daemon of this site writes that.
fn renewed_since(state: &[(String, String)], grant: &[String]) -> bool {
    let granted = cib::state_granted(state);
    let number = |v: Option<&str>| v.and_then(|v| v.parse::<u64>().ok());
    let same_owner = cib::state_attr(state, "owner").is_some()
        && cib::state_attr(state, "owner") == cib::arg_value(grant, "owner");
    let later = matches!(
        (number(cib::state_attr(state, "expires")), number(cib::arg_value(grant, "expires"))),
        (Some(now), Some(ours)) if now > ours
    );
    granted && same_owner && later
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// One record from a SOCK_SEQPACKET socket (0 = end of stream).
pub(super) fn recv(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: recv writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The uid of the process at the other end of a unix socket.
fn peer_uid(sock: &Socket) -> Option<libc::uid_t> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED writes one ucred of at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// A `CLOCK_BOOTTIME` timerfd armed at an absolute instant.
struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    fn new() -> io::Result<TimerFd> {
        // SAFETY: timerfd_create returns a new descriptor (checked) that we own.
        let fd = unsafe {
            libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and owned by nobody else.
        Ok(TimerFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Fires at `at` (milliseconds of CLOCK_BOOTTIME); `None` disarms.
    fn arm(&self, at: Option<Instant>) -> io::Result<()> {
        let value = match at {
            // An absolute time of 0 would disarm: use 1 ns for "now or past".
            Some(t) => libc::timespec {
                tv_sec: (t.0 / 1000) as libc::time_t,
                tv_nsec: ((t.0 % 1000) * 1_000_000).max(u64::from(t.0 == 0)) as libc::c_long,
            },
            None => libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: a valid itimerspec; the old value is not asked for.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes an expiry.
    fn clear(&self) {
        let mut n = [0u8; 8];
        // SAFETY: reads at most 8 bytes into n.
        unsafe { libc::read(self.fd.as_raw_fd(), n.as_mut_ptr().cast(), 8) };
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Type};

    fn guard(program: &str) -> Guard {
        let l = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        let mut g = Guard::new(l, clock::mono());
        g.program = program.into();
        g
    }

    fn commit(t: &str, deadline: Option<u64>, write: &[&str], revoke: &[&str]) -> CommitMsg {
        CommitMsg {
            ticket: t.into(),
            seq: 1,
            deadline,
            write: write.iter().map(|s| s.to_string()).collect(),
            revoke: revoke.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn run_until(g: &mut Guard, secs: u64, mut done: impl FnMut(&Guard) -> bool) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !done(g) && std::time::Instant::now() < until {
            g.step(clock::mono());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn options() {
        let a =
            |v: &[&str]| GuardOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let o = a(&["--fd", "3", "--instance", "x", "-S", "-D", "-D"]).unwrap();
        assert_eq!(
            (o.listen_fd, o.instance.as_str(), o.foreground, o.debug),
            (3, "x", true, 2)
        );
        assert!(a(&[]).is_err());
        assert!(a(&["--fd", "1"]).is_err());
        assert!(a(&["--fd", "3", "--bogus"]).is_err());
    }

    #[test]
    fn fires_at_the_deadline_unless_a_commit_moves_or_clears_it() {
        // No crm_ticket: writes fail, which is reported; the deadline logic
        // is what is checked.
        let mut g = guard("/nonexistent/crm_ticket");
        let now = clock::mono();
        g.on_commit(
            commit("a", Some((now + Duration(100)).0), &["-g"], &["-r"]),
            now,
        );
        g.on_commit(
            commit("b", Some((now + Duration(100)).0), &["-g"], &["-r"]),
            now,
        );
        g.on_commit(commit("b", None, &["-r"], &[]), now);
        g.on_commit(
            commit("c", Some((now + Duration(100)).0), &["-g"], &["-r"]),
            now,
        );
        g.on_commit(
            commit("c", Some((now + Duration(60_000)).0), &["-g"], &["-r"]),
            now,
        );
        run_until(&mut g, 5, |g| g.fired > 0);
        std::thread::sleep(std::time::Duration::from_millis(150));
        g.step(clock::mono());
        assert_eq!(g.fired, 1);
        assert!(g.slots["a"].armed.is_none());
        assert!(g.slots["b"].armed.is_none());
        assert!(g.slots["c"].armed.is_some());
        // A grant whose deadline already passed is revoked at once.
        g.on_commit(commit("d", Some(now.0), &["-g"], &["-r"]), clock::mono());
        assert_eq!(g.fired, 2);
        assert!(g.slots["d"].armed.is_none());
    }

    #[test]
    fn a_grant_write_still_running_at_the_deadline_is_killed_then_revoked() {
        // "-g" hangs for 30 s, anything else logs and exits 0.
        let (dir, stub, log) = crm_stub(
            "test",
            "case \"$1\" in -g) sleep 30; echo late-grant >> $LOG;; *) echo \"$1\" >> $LOG;; esac\n",
        );
        let mut g = guard(&stub);
        let now = clock::mono();
        g.on_commit(
            commit("t", Some((now + Duration(300)).0), &["-g"], &["-r"]),
            now,
        );
        assert!(g.slots["t"].running.is_some());
        run_until(&mut g, 5, |g| g.fired > 0);
        run_until(&mut g, 5, |g| g.slots["t"].idle() && g.reaper.is_empty());
        assert_eq!(g.fired, 1);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(
            calls, "-r\n",
            "the killed grant never lands, the revoke does"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A stand-in crm_ticket in a fresh directory of its own: `/bin/sh`
    /// running `script`, in which `$LOG` is the file the test reads the
    /// calls from. Returns the directory, the stub and the log.
    fn crm_stub(name: &str, script: &str) -> (std::path::PathBuf, String, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("booth-guard-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("calls");
        let stub = dir.join(CRM_TICKET);
        std::fs::write(&stub, format!("#!/bin/sh\nLOG={}\n{script}", log.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, stub.display().to_string(), log)
    }

    /// Our grant (owner 42, expires 1000) armed 100 ms ahead, then the
    /// daemon gone (`left`: on purpose); returns the crm_ticket calls made
    /// by the time the guard is idle (the read comes at once: the deadline
    /// is closer than [`READ_AHEAD`]).
    fn deadline_after_the_daemon_left(name: &str, cib_expires: u64, left: bool) -> String {
        // `-q` prints a ticket state granted to owner 42 until `cib_expires`;
        // every call logs its third argument.
        let script = format!(
            "echo \"$3\" >> $LOG\n[ \"$3\" = -q ] && printf 'State XML:\\n\\n<ticket_state id=\"t\" \
             granted=\"true\" owner=\"42\" expires=\"{cib_expires}\" term=\"3\"/>\\n'\nexit 0\n"
        );
        let (dir, stub, log) = crm_stub(name, &script);
        let mut g = guard(&stub);
        let now = clock::mono();
        let grant = cib::commit_args("t", true, 42, 1000, 3, "booth");
        let revoke = cib::commit_args("t", false, 0, 1000, 3, "booth");
        let grant: Vec<&str> = grant.iter().map(String::as_str).collect();
        let revoke: Vec<&str> = revoke.iter().map(String::as_str).collect();
        g.on_commit(
            commit("t", Some((now + Duration(100)).0), &grant, &revoke),
            now,
        );
        run_until(&mut g, 5, |g| g.slots["t"].running.is_none());
        g.left_on_purpose = left;
        run_until(&mut g, 5, |g| g.slots["t"].idle() && g.reaper.is_empty());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        calls
    }

    #[test]
    fn after_a_stop_a_grant_renewed_by_a_later_daemon_of_the_site_is_left_alone() {
        assert_eq!(
            deadline_after_the_daemon_left("renewed", 1010, true),
            "-g\n-q\n"
        );
    }

    #[test]
    fn after_a_stop_a_grant_nobody_renewed_is_revoked() {
        assert_eq!(
            deadline_after_the_daemon_left("stale", 1000, true),
            "-g\n-q\n-r\n"
        );
    }

    #[test]
    fn after_a_crash_the_grant_is_revoked_without_reading_the_cib() {
        assert_eq!(
            deadline_after_the_daemon_left("crash", 1010, false),
            "-g\n-r\n"
        );
    }

    #[test]
    fn a_slow_read_never_delays_the_revoke_past_the_deadline() {
        // -q (the read) hangs for 5 s; anything else logs its flag.
        let (dir, stub, log) = crm_stub(
            "slow",
            "case \"$3\" in -q) sleep 5;; *) echo \"$3\" >> $LOG;; esac\n",
        );
        let mut g = guard(&stub);
        let now = clock::mono();
        let deadline = now + Duration(1_300);
        g.on_commit(
            commit(
                "t",
                Some(deadline.0),
                &["-t", "t", "-g"],
                &["-t", "t", "-r"],
            ),
            now,
        );
        run_until(&mut g, 5, |g| g.slots["t"].running.is_none());
        g.left_on_purpose = true;
        // The read starts 1 s before the deadline and is still running at it.
        let read_started = std::time::Instant::now();
        run_until(&mut g, 5, |g| {
            g.slots["t"]
                .running
                .as_ref()
                .is_some_and(|w| w.job.kind == WriteKind::Check)
        });
        assert!(read_started.elapsed() < std::time::Duration::from_millis(1_000));
        run_until(&mut g, 5, |_| {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("-r")
        });
        let late = clock::mono().saturating_since(deadline).as_millis();
        assert!(late < 300, "revoked {late} ms after the deadline");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
