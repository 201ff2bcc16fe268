//! Start-up and the single-threaded loop around the engine.
//!
//! Each turn: read both clocks, fire due engine timers, then sleep in
//! `poll(2)` on the signalfd, the UDP socket, the TCP listener and client
//! connections until the earliest deadline (engine timer, connection
//! timeout, child deadline). After every input the engine is drained:
//! events first (a `Persist` is written and fsynced before anything else;
//! the engine holds packets back until it is taken), then datagrams.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use booth_core::engine::{
    ClientId, Commit, Event, HandlerReason, Node, RecvError, Restore, Source, TicketIndex,
};
use booth_core::wire::{self, ReplayCache};
use booth_core::{Duration, Instant, Now, Role, MAX_MEMBERS};

use crate::config::{Loaded, MemberInfo, MAX_TICKETS};

use super::child::Reaper;
use super::cib::{self, AttrJob};
use super::control::{self, ConnId, ControlServer, Incoming};
use super::daemonize::{self, Forked};
use super::geostore::AttrTable;
use super::guard_link::{GuardLink, GuardSpawn};
use super::guard_proto::{self, FromGuard, WriteKind};
use super::handler::{HandlerDone, HandlerEnv, Handlers};
use super::lockfile::{self, DaemonState, LockError, LockFile};
use super::persist::{self, CibTicket, Found, StateStore};
use super::ratelimit::{self, RateLimiter};
use super::sd_notify::Notifier;
use super::signals::{Signal, Signals};
use super::{
    clock, identify, listing, load, log as dlog, privileges, udp, DaemonError, DaemonOptions,
};

/// Datagrams read per wake-up before looking at other inputs.
const UDP_BATCH: usize = 64;
/// Window of the rate-limited error log.
const LOG_WINDOW_MS: u64 = 10_000;

/// Signed admin requests remembered by their whole MAC: 1,024 × 29 B.
/// Clients are short-lived processes without an identity, so requests are
/// remembered, not clients. Every accepted request stays cached until 1,024
/// newer ones pushed it out, and then the floor refuses it (its `secs` is
/// at or below it): a replay is refused at any age. Only if 1,024 requests
/// arrive within one second does a genuine one of that second get refused
/// (docs/replay.md).
pub(super) type ClientReplay = ReplayCache<CLIENT_REPLAY_LEN, { wire::MAC_LEN }>;

/// Admin requests remembered by MAC.
pub(super) const CLIENT_REPLAY_LEN: usize = 1024;

/// Messages remembered per peer: four per ticket (a first copy and three
/// re-sends, or a burst at start-up), so that a booth 1.x peer, whose
/// messages the replay floor orders by the second only, can send every
/// ticket's messages within one second without any refused.
pub(super) const PEER_REPLAY_LEN: usize = 4 * MAX_TICKETS;

/// A geostore change waiting for `crm_ticket`.
#[derive(Debug)]
pub(super) enum AttrOp {
    Set { attr: String, value: String },
    Delete { attr: String },
}

impl fmt::Display for AttrOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrOp::Set { attr, value } => write!(f, "set {attr} = {value:?}"),
            AttrOp::Delete { attr } => write!(f, "delete {attr}"),
        }
    }
}

#[derive(Debug)]
pub(super) struct AttrPending {
    pub conn: ConnId,
    pub ticket: TicketIndex,
    pub op: AttrOp,
    pub job: AttrJob,
}

/// Everything the loop owns.
pub(super) struct Daemon {
    pub node: Node<MAX_TICKETS, MAX_MEMBERS, PEER_REPLAY_LEN>,
    pub cfg: Loaded,
    pub me: usize,
    pub role: Role,
    /// Members' addresses as configured (for lists and logs).
    pub addrs: Vec<String>,
    udp: UdpSocket,
    pub control: ControlServer,
    signals: Signals,
    store: StateStore,
    /// The lease guard, which writes commits to the CIB (sites only).
    guard: Option<GuardLink>,
    handlers: Handlers,
    pub reaper: Reaper,
    pub attrs: AttrTable,
    pub attr_jobs: Vec<AttrPending>,
    notifier: Notifier,
    pub limiter: RateLimiter<(&'static str, Option<IpAddr>)>,
    pub send_errors: [u32; MAX_MEMBERS],
    member_by_ip: HashMap<IpAddr, usize>,
    /// Every signed admin request accepted inside the timestamp window, by
    /// its whole MAC (see [`ClientReplay`]).
    pub client_replay: Box<ClientReplay>,
    /// Grant/revoke clients waiting for engine replies, by connection.
    pub waiting: HashMap<ConnId, TicketIndex>,
    /// Handler results to feed back to the engine.
    handler_done: Vec<HandlerDone>,
    /// The last commit of each ticket (for logs and SIGUSR1).
    last_commit: Vec<Option<Commit>>,
    oversized: u64,
    /// Client connections (refused for the limit, dropped for a timeout)
    /// already reported in the log.
    client_drops_logged: (u64, u64),
    stop: Option<i32>,
}

/// Runs the daemon (see [`super::run`]).
pub fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    let cfg = load(&opts)?;
    let sink = if opts.foreground {
        dlog::Sink::Stderr
    } else {
        dlog::Sink::Syslog
    };
    dlog::init(sink, dlog::level_for(u32::from(opts.debug).max(cfg.debug)));
    let me = identify(&cfg, opts.local)?;
    let mut ready = None;
    if !opts.foreground {
        match daemonize::daemonize().map_err(|e| DaemonError::Io("cannot daemonize", e))? {
            Forked::Parent(Ok(())) => return Ok(()),
            Forked::Parent(Err(why)) => return Err(DaemonError::Startup(why)),
            Forked::Daemon(r) => ready = Some(r),
        }
    }
    let mut lock = None;
    let title = super::proctitle::booth_title(
        &cfg.path.display().to_string(),
        role_word(cfg.members[me].role),
        &cfg.members[me].shown(),
        cfg.port,
    );
    let result = start(&opts, cfg, me, &mut lock).and_then(|mut d| {
        // After the guard is started (it gets its own argv), before the
        // agent's first monitor: booth's title, so `ps | grep boothd.*CONF`
        // finds this process and not the guard.
        if let Err(e) = super::proctitle::set(&title) {
            log::warn!("cannot set the process title \"{title}\": {e}");
        }
        if let Some(r) = ready.as_mut() {
            r.ok();
        }
        let status = format!(
            "{} {}",
            role_word(d.role),
            d.addrs.get(d.me).map_or("?", String::as_str)
        );
        d.notifier.ready(&status);
        let r = d.run_loop();
        d.notifier.notify("STOPPING=1");
        r
    });
    if let Err(e) = &result {
        log::error!("{e}");
        if let Some(r) = ready.as_mut() {
            r.fail(&e.to_string());
        }
    }
    if let Some(l) = lock {
        l.release();
    }
    result
}

fn start(
    opts: &DaemonOptions,
    cfg: Loaded,
    me: usize,
    lock_slot: &mut Option<LockFile>,
) -> Result<Daemon, DaemonError> {
    let member = cfg.members[me].clone();
    let role = member.role;
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    if cfg.core.key.is_none() {
        log::warn!(
            "no authfile: anyone who reaches {} can grant, revoke and spoof peers \
             (booth-protocol.md §10.2 #11); configure an authfile",
            member.addr
        );
    }

    // Lock file first: a second instance must not touch sockets or state.
    let lock_path = opts
        .lockfile
        .clone()
        .unwrap_or_else(|| lockfile::default_path(&cfg.name));
    let mut lock = LockFile::acquire(&lock_path).map_err(|e| match e {
        LockError::Held { pid } => DaemonError::AlreadyRunning {
            lockfile: lock_path.clone(),
            pid,
        },
        LockError::Io(e) => DaemonError::Lock {
            lockfile: lock_path.clone(),
            error: e.to_string(),
        },
    })?;
    let mut dstate = DaemonState {
        pid: std::process::id(),
        started: false,
        role,
        cfg_name: cfg.name.clone(),
        id: member.id.0,
        addr: member.shown(),
        port: cfg.port,
    };
    lock.write_state(&dstate).map_err(|e| DaemonError::Lock {
        lockfile: lock_path.clone(),
        error: e.to_string(),
    })?;
    *lock_slot = Some(lock);

    let signals = Signals::new().map_err(|e| DaemonError::Io("signalfd", e))?;
    let udp = udp::bind(member.addr).map_err(|error| DaemonError::Bind {
        what: "UDP",
        addr: member.addr,
        error,
    })?;
    let control = ControlServer::bind(member.addr).map_err(|error| DaemonError::Bind {
        what: "TCP",
        addr: member.addr,
        error,
    })?;

    let state_path = persist::default_path(&cfg.name, member.addr);
    drop_privileges(&cfg, role, &state_path)?;
    let fingerprint = cfg.core.formation_fingerprint(me);
    let mut found = persist::read(&state_path, fingerprint);
    let legacy = persist::legacy_path(&cfg.name);
    if matches!(found, Found::Missing) && legacy.exists() {
        // Upgraded from a build that kept one file per config name: its
        // promises still bind us if it was written by this very member
        // (read() checks the member binding; anything else is amnesia).
        log::info!(
            "no state file {} yet: reading {} of the earlier layout",
            state_path.display(),
            legacy.display()
        );
        found = persist::read(&legacy, fingerprint);
    }
    let store = StateStore::new(state_path.clone(), fingerprint, &found);
    store.check_writable().map_err(|e| {
        DaemonError::State(format!(
            "cannot write in the directory of {} as {}: {e}",
            state_path.display(),
            privileges::user_name(current_uid())
        ))
    })?;
    let mut attrs = AttrTable::new(cfg.tickets.len());
    let cib = if role == Role::Site {
        load_cib(&cfg, &mut attrs, member.id.as_owner())
    } else {
        Vec::new()
    };
    let names: Vec<&str> = cfg.core.tickets.iter().map(|t| t.name.as_str()).collect();
    // The site's memory is its CIB (replicated to every node the daemon may
    // move to); the state file is this node's cache of it.
    let restores = persist::restores(&found, &names, &cib, clock::now());
    let started = clock::now().mono;
    for (i, r) in restores.iter().enumerate() {
        let manual = cfg.core.tickets[i].mode == booth_core::config::Mode::Manual;
        match r {
            Restore::Held { term, .. } if manual => log::info!(
                "ticket {}: the CIB says it is granted to this site (term {term}, a manual \
                 ticket): leading on (the CIB stays granted)",
                names[i]
            ),
            Restore::Held { term, until } if *until > started => log::info!(
                "ticket {}: the CIB says it is granted to this site (term {term}) for {} ms \
                 more: leading on and renewing it now (the CIB stays granted)",
                names[i],
                clock::millis_until(started, *until)
            ),
            Restore::Held { term, .. } => log::info!(
                "ticket {}: the CIB says it was granted to this site (term {term}), but that \
                 lease has ended: revoking it here and re-acquiring it if the other members \
                 still see us as its holder",
                names[i]
            ),
            Restore::Amnesia { term } if matches!(found, Found::Missing | Found::Valid(_)) => {
                log::warn!(
                    "ticket {}: the CIB knows term {term}, later than this node's state file \
                     (or it has none): this site ran on another node since, and may have \
                     voted there; refusing votes for a whole lease",
                    names[i]
                )
            }
            _ => {}
        }
    }
    match &found {
        Found::Missing => log::info!(
            "no state file {}: first start of this member",
            state_path.display()
        ),
        Found::Valid(m) => log::info!(
            "restored the state of {} ticket(s) from {}",
            m.len(),
            state_path.display()
        ),
        Found::Damaged(why) => log::error!(
            "STATE FILE {} IS DAMAGED ({why}): starting with amnesia, refusing votes for a \
             whole lease so no earlier promise can be broken",
            state_path.display()
        ),
        Found::Foreign { written, ours } => log::warn!(
            "state file {} was written under another member list or by another member \
             (fingerprint {written:08x}, ours {ours:08x}: members reordered, inserted or \
             replaced, or another member's file): its votes and leaders would name the wrong \
             members, so starting with amnesia, refusing votes for a whole lease",
            state_path.display()
        ),
    }

    let now = clock::now();
    let node =
        Node::new_sized(cfg.core.clone(), me, super::seed(), now, &restores).map_err(|e| {
            DaemonError::Startup(format!("the engine refused the configuration: {e:?}"))
        })?;
    // Sites: the lease guard (a separate process) writes the CIB and revokes
    // at each deadline even when this process is frozen or dead.
    let guard = if role == Role::Site {
        let path = guard_proto::socket_path(&state_path);
        let spawn = GuardSpawn {
            instance: cfg.name.clone(),
            foreground: opts.foreground,
            debug: opts.debug.max(cfg.debug.min(u32::from(u8::MAX)) as u8),
        };
        Some(GuardLink::start(&path, spawn, clock::mono()).map_err(|e| {
            DaemonError::Startup(format!(
                "cannot start the lease guard on {}: {e}",
                path.display()
            ))
        })?)
    } else {
        None
    };
    let notifier = Notifier::from_env(clock::mono());
    if let Some(i) = notifier.watchdog_interval() {
        log::info!("systemd watchdog: WATCHDOG=1 every {} ms", i.as_millis());
    }

    dstate.started = true;
    if let Some(lock) = lock_slot.as_mut() {
        lock.write_state(&dstate).map_err(|e| DaemonError::Lock {
            lockfile: lock_path.clone(),
            error: e.to_string(),
        })?;
    }
    log::info!(
        "boothd {} started: {} {} (id {}) port {}, config {} ({}), {} ticket(s)",
        env!("CARGO_PKG_VERSION"),
        match role {
            Role::Site => "site",
            Role::Arbitrator => "arbitrator",
        },
        member.shown(),
        member.id.0,
        cfg.port,
        cfg.path.display(),
        cfg.name,
        cfg.tickets.len()
    );

    let addrs: Vec<String> = cfg.members.iter().map(MemberInfo::shown).collect();
    let member_by_ip = cfg
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.addr.ip(), i))
        .collect();
    let tickets = cfg.tickets.len();
    let mut daemon = Daemon {
        node,
        me,
        role,
        addrs,
        udp,
        control,
        signals,
        store,
        guard,
        handlers: Handlers::default(),
        reaper: Reaper::default(),
        attrs,
        attr_jobs: Vec::new(),
        notifier,
        limiter: RateLimiter::new(LOG_WINDOW_MS),
        send_errors: [0; MAX_MEMBERS],
        member_by_ip,
        client_replay: Box::new(ClientReplay::new()),
        waiting: HashMap::new(),
        handler_done: Vec::new(),
        last_commit: vec![None; tickets],
        oversized: 0,
        client_drops_logged: (0, 0),
        stop: None,
        cfg,
    };
    for t in 0..tickets {
        daemon.refresh_failover_gate(t, now);
    }
    Ok(daemon)
}

fn current_uid() -> libc::uid_t {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// Becomes the configured user when root (creating the state directory for
/// it first); an unknown user or group is an error.
fn drop_privileges(cfg: &Loaded, role: Role, state: &std::path::Path) -> Result<(), DaemonError> {
    let (user, group) = cfg.user_and_group(role);
    if !privileges::is_root() {
        log::debug!(
            "not root: running as {} (configured user {user})",
            privileges::user_name(current_uid())
        );
        return Ok(());
    }
    let (ids, used_group) = privileges::resolve_with_fallback(user, group).map_err(|e| {
        DaemonError::Privileges(format!(
            "{e}; create it or set {} in {}",
            match role {
                Role::Site => "site-user/site-group",
                Role::Arbitrator => "arbitrator-user/arbitrator-group",
            },
            cfg.path.display()
        ))
    })?;
    if used_group != group {
        log::info!(
            "group \"{group}\" does not exist on this system: using \"{used_group}\" instead, as \
             booth effectively does"
        );
    }
    let group = used_group;
    // The instance's own directory is handed to its user on every start,
    // whoever created it or its parent (booth 1.x, a package, an earlier
    // run as another user); the parent itself is left as it is.
    persist::prepare_instance_dir(state, Some((ids.uid, ids.gid)))
        .map_err(|e| DaemonError::State(format!("{}: {e}", state.display())))?;
    // Keep the kernel's OOM killer off the daemon, as booth does.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-999");
    privileges::drop_to(ids).map_err(|e| DaemonError::Privileges(e.to_string()))?;
    log::info!(
        "running as {user}:{group} (uid {}, gid {})",
        ids.uid,
        ids.gid
    );
    Ok(())
}

/// Reads every ticket's CIB state once (`crm_ticket -q`), keeping geostore
/// attributes. Returns what the site's memory says of each ticket: its
/// `term` (0 when unknown), `expires`, and whether it is granted with
/// `owner` = this site (`me`, booth's signed form); a grant to an unknown
/// owner is never taken for ours (§10.1 #6).
fn load_cib(cfg: &Loaded, attrs: &mut AttrTable, me: i32) -> Vec<CibTicket> {
    let mut terms = vec![CibTicket::default(); cfg.tickets.len()];
    for (i, t) in cfg.tickets.iter().enumerate() {
        match cib::load_ticket(&t.name) {
            cib::Loaded::State(kv) => {
                let get = |key: &str| cib::state_attr(&kv, key);
                let term = get("term").and_then(|v| v.parse().ok()).unwrap_or(0);
                let granted = cib::state_granted(&kv);
                let ours = get("owner").and_then(|v| v.parse::<i64>().ok()) == Some(me as i64);
                terms[i] = CibTicket {
                    present: true,
                    term,
                    granted_here: granted && ours,
                    expires: get("expires").and_then(|v| v.parse().ok()),
                };
                let shown: Vec<String> = kv
                    .iter()
                    .filter(|(k, _)| k != "id")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let n = attrs.load_from_cib(i, &kv);
                log::info!(
                    "ticket {}: CIB says {} ({n} geostore attribute(s) loaded)",
                    t.name,
                    shown.join(" ")
                );
            }
            cib::Loaded::Absent => log::info!("ticket {}: not in the CIB yet", t.name),
            cib::Loaded::NoCrmTicket => {
                log::error!(
                    "{} not found on PATH: this site cannot read or write the CIB; carrying on",
                    cib::CRM_TICKET
                );
                return terms;
            }
            cib::Loaded::Failed(why) => {
                log::error!("ticket {}: cannot read the CIB ticket state: {why}", t.name)
            }
        }
    }
    terms
}

/// Which poll slot is which.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Signals,
    Udp,
    Guard,
    Control(control::Fd),
}

impl Daemon {
    fn run_loop(&mut self) -> Result<(), DaemonError> {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        let mut ctl: Vec<(RawFd, libc::c_short, control::Fd)> = Vec::new();
        loop {
            let now = clock::now();
            self.on_time(now)?;
            if let Some(sig) = self.stop {
                log::info!(
                    "signal {sig}: exiting (tickets are not revoked: they stay granted until \
                     their deadline, and a daemon of this site started again before it, on \
                     this node or another, leads on and renews them)"
                );
                if let Some(g) = self.guard.as_mut() {
                    g.leave();
                }
                return Ok(());
            }

            fds.clear();
            slots.clear();
            ctl.clear();
            let mut add = |fd: RawFd, events: libc::c_short, slot: Slot| {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                slots.push(slot);
            };
            add(self.signals.as_raw_fd(), libc::POLLIN, Slot::Signals);
            add(self.udp.as_raw_fd(), libc::POLLIN, Slot::Udp);
            if let Some((fd, ev)) = self.guard.as_ref().and_then(GuardLink::poll_fd) {
                add(fd, ev, Slot::Guard);
            }
            self.control.poll_set(&mut ctl);
            for (fd, ev, which) in &ctl {
                add(*fd, *ev, Slot::Control(*which));
            }
            let timeout = self.timeout_ms(clock::mono());
            // SAFETY: fds is a valid array of fds.len() pollfd structs.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(DaemonError::Io("poll", e));
                }
                continue;
            }
            for (pfd, slot) in fds.iter().zip(slots.iter()) {
                if pfd.revents == 0 {
                    continue;
                }
                let now = clock::now();
                match slot {
                    Slot::Signals => self.on_signals(now)?,
                    Slot::Udp => self.on_udp()?,
                    Slot::Guard => self.on_guard(now),
                    Slot::Control(control::Fd::Listener) => {
                        for inc in self.control.accept(now.mono) {
                            self.on_incoming(inc, now)?;
                        }
                    }
                    Slot::Control(control::Fd::Conn(id)) => {
                        if let Some(inc) = self.control.service(*id, pfd.revents, now.mono) {
                            self.on_incoming(inc, now)?;
                        }
                    }
                }
            }
        }
    }

    /// Fires due engine timers and checks children and connections.
    fn on_time(&mut self, now: Now) -> Result<(), DaemonError> {
        if self.node.poll_timeout().is_some_and(|t| t <= now.mono) {
            self.node.handle_timeout(now);
        }
        self.poll_children(now);
        for conn in self.control.expire(now.mono) {
            self.waiting.remove(&conn);
        }
        self.log_client_drops(now);
        if let Some(g) = self.guard.as_mut() {
            g.on_time(now.mono);
        }
        self.notifier.on_time(now.mono);
        self.drain(now)
    }

    /// Idle, slow or surplus clients: one line per window with the numbers
    /// since the last line (all of them are also in the SIGUSR1 dump).
    fn log_client_drops(&mut self, now: Now) {
        let counts = (self.control.refused, self.control.timed_out);
        if counts == self.client_drops_logged {
            return;
        }
        if self
            .limiter
            .check(&("client_drops", None), now.mono.as_millis())
            .is_some()
        {
            let (refused, timed_out) = self.client_drops_logged;
            log::warn!(
                "clients: {} connection(s) refused or dropped for room (limit {}, {} reading \
                 per source), {} dropped after a timeout (header {} ms, request {} ms, write {} \
                 ms) since the last report",
                counts.0 - refused,
                control::MAX_CONNS,
                control::MAX_READING_PER_SOURCE,
                counts.1 - timed_out,
                control::FIRST_BYTES_MS,
                control::READ_TIMEOUT_MS,
                control::WRITE_TIMEOUT_MS
            );
            self.client_drops_logged = counts;
        }
    }

    /// Milliseconds poll may sleep.
    fn timeout_ms(&self, now: Instant) -> i32 {
        let deadlines = [
            self.node.poll_timeout(),
            self.control.next_deadline(),
            self.handlers.next_deadline(),
            self.guard.as_ref().map(GuardLink::next_deadline),
            self.notifier.next_deadline(),
            self.reaper.next_deadline(),
            self.attr_jobs.iter().filter_map(|j| j.job.deadline()).min(),
        ];
        let mut ms = match deadlines.into_iter().flatten().min() {
            Some(t) => clock::millis_until(now, t),
            None => 60_000,
        };
        if !self.reaper.is_empty() {
            // Orphans are reaped on SIGCHLD too; this is a backstop.
            ms = ms.min(1_000);
        }
        // poll's resolution is 1 ms: round up so the deadline has passed on wake-up.
        (ms + u64::from(ms > 0)).min(60_000) as i32
    }

    fn on_signals(&mut self, now: Now) -> Result<(), DaemonError> {
        for sig in self.signals.read() {
            match sig {
                Signal::Terminate(s) => self.stop = Some(s),
                Signal::DumpState => self.dump_state(now),
                Signal::Child => {
                    self.poll_children(now);
                    self.drain(now)?;
                }
                Signal::Hangup => {
                    log::info!("SIGHUP ignored: the configuration is read at start only")
                }
            }
        }
        Ok(())
    }

    /// Reaps handlers and geostore jobs.
    fn poll_children(&mut self, now: Now) {
        let done = self.handlers.poll(now.mono, &mut self.reaper);
        self.handler_done.extend(done);
        self.poll_attr_jobs(now);
        self.reaper.poll(now.mono);
    }

    /// Messages from the lease guard.
    fn on_guard(&mut self, now: Now) {
        let Some(g) = self.guard.as_mut() else {
            return;
        };
        for m in g.on_ready(now.mono) {
            match m {
                FromGuard::Hello { pid, armed, fired } => {
                    log::info!(
                        "lease guard pid {pid}: {} deadline(s) armed{}, fired {fired} time(s) so far",
                        armed.len(),
                        armed
                            .iter()
                            .map(|a| format!(
                                ", {} in {} ms",
                                a.ticket,
                                clock::millis_until(now.mono, Instant(a.deadline))
                            ))
                            .collect::<String>()
                    );
                }
                FromGuard::Written {
                    ticket,
                    kind,
                    error,
                    took_ms,
                    ..
                } => match error {
                    None => log::debug!("ticket {ticket}: CIB {kind:?} written ({took_ms} ms)"),
                    Some(why) => {
                        let key = ("cib_write", None);
                        if let Some(n) = self.limiter.check(&key, now.mono.as_millis()) {
                            log::error!(
                                "ticket {ticket}: CIB {} failed: {why}{}",
                                match kind {
                                    WriteKind::Grant => "grant",
                                    WriteKind::NotGranted => "revoke",
                                    WriteKind::GuardRevoke => "revoke by the lease guard",
                                    WriteKind::Check => "read by the lease guard",
                                },
                                ratelimit::suffix(n)
                            );
                        }
                    }
                },
                FromGuard::Fired {
                    ticket,
                    late_ms,
                    killed_grant,
                    ..
                } => log::info!(
                    "ticket {ticket}: the lease guard revoked at the deadline ({late_ms} ms \
                     late{})",
                    if killed_grant {
                        ", after killing a grant write still running"
                    } else {
                        ""
                    }
                ),
                FromGuard::Pong { .. } => {}
            }
        }
    }

    fn on_udp(&mut self) -> Result<(), DaemonError> {
        let mut buf = [0u8; udp::RECV_BUF];
        for _ in 0..UDP_BATCH {
            let now = clock::now();
            match udp::recv(&self.udp, &mut buf) {
                Ok(udp::Received::Empty) => break,
                Ok(udp::Received::Oversized { from, len }) => {
                    // Handed to the engine anyway so it is counted against
                    // the sender like any undecodable datagram.
                    self.oversized += 1;
                    let source = self.source_of(from);
                    let got = len.min(buf.len());
                    if let Err(e) = self.node.handle_datagram(now, source, &buf[..got]) {
                        self.log_recv_error(from, e, now);
                    }
                }
                Ok(udp::Received::Datagram { from, len }) => {
                    let source = self.source_of(from);
                    if let Err(e) = self.node.handle_datagram(now, source, &buf[..len]) {
                        self.log_recv_error(from, e, now);
                    }
                    self.drain(now)?;
                }
                Err(e) => {
                    let key = ("udp_recv", None);
                    if let Some(n) = self.limiter.check(&key, now.mono.as_millis()) {
                        log::error!("UDP receive failed: {e}{}", ratelimit::suffix(n));
                    }
                    break;
                }
            }
        }
        Ok(())
    }

    /// The member at a source address, if any.
    fn source_of(&self, from: SocketAddr) -> Source {
        match self.member_by_ip.get(&from.ip()) {
            Some(&m) => Source::Member(m),
            None => Source::Unknown,
        }
    }

    fn log_recv_error(&mut self, from: SocketAddr, e: RecvError, now: Now) {
        let kind: &'static str = match e {
            RecvError::Decode(d) | RecvError::Auth(d) => d.as_str(),
            RecvError::UnknownSender => "unknown_sender",
            RecvError::Spoofed => "spoofed",
            RecvError::FromSelf => "from_self",
            RecvError::UnknownTicket => "unknown_ticket",
            RecvError::InvalidLeader => "invalid_leader",
            RecvError::NotAPeerCommand => "not_a_peer_command",
            RecvError::ImplausibleTerm => "implausible_term",
        };
        let key = (kind, Some(from.ip()));
        if let Some(n) = self.limiter.check(&key, now.mono.as_millis()) {
            let what = match e {
                RecvError::Decode(d) => format!("undecodable ({d})"),
                RecvError::Auth(d) => format!("failed authentication ({d})"),
                RecvError::UnknownSender => "not from a configured member".to_owned(),
                RecvError::Spoofed => "claims another member's ID than its address".to_owned(),
                RecvError::FromSelf => "carries our own ID".to_owned(),
                RecvError::UnknownTicket => "for a ticket not configured here".to_owned(),
                RecvError::InvalidLeader => "names an unknown leader".to_owned(),
                RecvError::NotAPeerCommand => "is a client command, not a peer message".to_owned(),
                RecvError::ImplausibleTerm => format!(
                    "carries a term above {} (a forgery or a corrupt member)",
                    booth_core::engine::TERM_CEILING
                ),
            };
            log::warn!(
                "dropped a datagram from {}: {what}{}",
                from,
                ratelimit::suffix(n)
            );
        }
    }

    fn on_incoming(&mut self, inc: Incoming, now: Now) -> Result<(), DaemonError> {
        match inc {
            Incoming::Request { conn, peer, bytes } => {
                self.on_request(conn, peer, &bytes, now);
                self.drain(now)
            }
            Incoming::Garbage { peer, error } => {
                let key = (error.as_str(), Some(peer.ip()));
                if let Some(n) = self.limiter.check(&key, now.mono.as_millis()) {
                    log::warn!(
                        "client {}: not a booth request ({error}){}",
                        peer.ip(),
                        ratelimit::suffix(n)
                    );
                }
                Ok(())
            }
            Incoming::Gone { conn } => {
                if self.waiting.remove(&conn).is_some() {
                    log::debug!("a waiting client went away");
                }
                Ok(())
            }
        }
    }

    /// Drains the engine: events (handler results fed back), then datagrams.
    fn drain(&mut self, now: Now) -> Result<(), DaemonError> {
        loop {
            while let Some(ev) = self.node.poll_event() {
                self.on_event(ev, now)?;
            }
            if self.handler_done.is_empty() {
                break;
            }
            for d in std::mem::take(&mut self.handler_done) {
                let name = &self.cfg.tickets[d.ticket].name;
                match &d.why {
                    None => log::info!("ticket {name}: before-acquire-handler succeeded"),
                    Some(why) => {
                        log::warn!("ticket {name}: {why}; we are not allowed to acquire the ticket")
                    }
                }
                self.node.handle_handler_done(now, d.ticket, d.ok);
            }
        }
        let mut buf = [0u8; wire::MAX_MSG_LEN];
        while let Some(tx) = self.node.poll_transmit(now, &mut buf) {
            let Some(m) = self.cfg.members.get(tx.to) else {
                continue;
            };
            if let Err(e) = self.udp.send_to(&buf[..tx.len], m.addr) {
                self.send_errors[tx.to] = self.send_errors[tx.to].saturating_add(1);
                let key = ("udp_send", Some(m.addr.ip()));
                if let Some(n) = self.limiter.check(&key, now.mono.as_millis()) {
                    log::warn!("cannot send to {}: {e}{}", m.addr, ratelimit::suffix(n));
                }
            }
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Event, now: Now) -> Result<(), DaemonError> {
        match ev {
            Event::Persist { ticket, state } => {
                let name = self.cfg.tickets[ticket].name.clone();
                if let Err(e) = self.store.persist(&name, state) {
                    let err = DaemonError::Persist(format!("{}: {e}", self.store.path().display()));
                    self.fatal_revoke(now);
                    return Err(err);
                }
                log::trace!("ticket {name}: persisted {state:?}");
            }
            Event::Commit(c) => self.on_commit(c, now),
            Event::RunHandler {
                ticket,
                term,
                reason,
            } => self.run_handler(ticket, term, reason, now),
            Event::CancelHandler { ticket } => {
                if self.handlers.cancel(ticket, now.mono, &mut self.reaper) {
                    log::info!(
                        "ticket {}: before-acquire-handler cancelled",
                        self.cfg.tickets[ticket].name
                    );
                }
            }
            Event::ClientReply {
                client: ClientId(conn),
                ticket,
                result,
                leader,
                last,
            } => {
                if self.waiting.contains_key(&conn) {
                    let name = self.cfg.tickets[ticket].name.clone();
                    log::info!("ticket {name}: client reply {result:?}");
                    let body = self.reply_ticket(Some(ticket), name.as_bytes(), leader);
                    self.send_result(conn, result, Some(&body), last, &now);
                    if last {
                        self.waiting.remove(&conn);
                    }
                }
            }
            Event::PeerUp { member } => log::info!(
                "{} {} is up",
                role_word(self.cfg.members[member].role),
                self.addrs[member]
            ),
            Event::TimingMismatch { ticket, member } => log::warn!(
                "ticket {}: {} {} grants longer leases than we do: its ticket timings \
                 (expire, renewal-freq, acquire-after) differ from ours; every member needs \
                 the same configuration",
                self.cfg.tickets[ticket].name,
                role_word(self.cfg.members[member].role),
                self.addrs[member]
            ),
        }
        Ok(())
    }

    fn on_commit(&mut self, c: Commit, now: Now) {
        if self.guard.is_none() {
            return;
        }
        let name = self.cfg.tickets[c.ticket].name.clone();
        let args = cib::commit_event_args(&c, &name, &self.cfg.name, &now);
        let prev = self.last_commit[c.ticket].replace(c);
        let changed = prev.is_none_or(|p| p.granted != c.granted || p.owner != c.owner);
        let owner = match c.owner {
            booth_core::engine::Owner::Site(id) => self
                .node
                .config()
                .member_index(id)
                .map_or_else(|| id.0.to_string(), |m| self.addrs[m].clone()),
            booth_core::engine::Owner::NoOne => "nobody (revoked)".to_owned(),
            booth_core::engine::Owner::Unknown => "unknown".to_owned(),
        };
        let expires = now.wall_at(c.expires).secs();
        let margin = self.node.config().tickets[c.ticket].holder_margin();
        if changed && c.granted {
            log::info!(
                "ticket {name}: granted here (term {}); deadline in {} ms ({}), then the \
                 lease guard revokes it unless renewed; no other site can be granted for at \
                 least {} ms more (margin)",
                c.term,
                clock::millis_until(now.mono, c.expires),
                localtime_fmt(expires),
                margin.as_millis()
            );
        } else if changed {
            log::info!(
                "ticket {name}: not granted here (owner {owner}, term {}, expires {})",
                c.term,
                localtime_fmt(expires)
            );
        } else {
            log::debug!(
                "ticket {name}: commit {} owner {owner} term {} deadline in {} ms (margin {} ms)",
                c.granted,
                c.term,
                clock::millis_until(now.mono, c.expires),
                margin.as_millis()
            );
        }
        let (deadline, revoke) = if c.granted {
            (
                Some(c.expires),
                cib::commit_args(&name, false, 0, expires, c.term, &self.cfg.name),
            )
        } else {
            (None, Vec::new())
        };
        if let Some(g) = self.guard.as_mut() {
            g.commit(&name, deadline, args, revoke);
        }
    }

    fn run_handler(&mut self, ticket: TicketIndex, term: u32, reason: HandlerReason, now: Now) {
        let info = &self.cfg.tickets[ticket];
        let name = info.name.clone();
        let Some(argv) = info.handler.clone() else {
            // The engine asks only when one is configured; nothing to run is a pass.
            self.handler_done.push(HandlerDone {
                ticket,
                ok: true,
                why: None,
            });
            return;
        };
        let expires = self
            .node
            .ticket_view(ticket)
            .and_then(|v| v.expires)
            .map_or(0, |e| now.wall_at(e).secs());
        let env = HandlerEnv {
            ticket: name.clone(),
            local: self.addrs[self.me].clone(),
            conf_name: self.cfg.name.clone(),
            conf_path: self.cfg.path.display().to_string(),
            expires,
            term,
        };
        log::info!("ticket {name}: running the before-acquire-handler ({reason:?}, term {term})");
        // Without handler-timeout the handler runs as long as it takes, as
        // in booth; the lease still ends on time, the handler only delays
        // the renewal.
        let deadline = match info.handler_timeout {
            Some(t) => now.mono + t.max(Duration(1)),
            None => now.mono + Duration(u64::MAX / 4),
        };
        if let Some(done) =
            self.handlers
                .start(ticket, &argv, env, now.mono, deadline, &mut self.reaper)
        {
            self.handler_done.push(done);
        }
    }

    /// The lease guard for `booth list` details: `pid:N`, `down`, `none`.
    pub(super) fn guard_text(&self) -> String {
        match &self.guard {
            None => "none".to_owned(),
            Some(g) => match g.guard_pid {
                Some(p) if g.connected() => format!("pid:{p}"),
                _ => "down".to_owned(),
            },
        }
    }

    /// SIGUSR1: every ticket's state to the log.
    fn dump_state(&mut self, now: Now) {
        let c = self.node.counters();
        log::info!(
            "state dump: {} ticket(s); decode errors {}, auth failures {}, unknown senders {}, \
             unknown tickets {}, invalid {}, outbox overflow {}, oversized {}, elections {}/{} won, \
             tickets lost {}, elections blocked at the term ceiling {}, state writes {}, CIB write failures {}, client \
             connections {} (refused {}, timed out {}), lease guard {} (fired {}, replaced {})",
            self.cfg.tickets.len(),
            c.decode_errors,
            c.auth_failures,
            c.unknown_sender,
            c.unknown_ticket,
            c.invalid,
            c.outbox_overflow,
            self.oversized,
            c.elections_started,
            c.elections_won,
            c.tickets_lost,
            c.term_ceiling_hits,
            self.store.writes,
            self.guard.as_ref().map_or(0, |g| g.write_failures),
            self.control.connections(),
            self.control.refused,
            self.control.timed_out,
            self.guard.as_ref().map_or_else(
                || "none".to_owned(),
                |g| match g.guard_pid {
                    Some(p) if g.connected() => format!("pid {p}"),
                    _ => "not connected".to_owned(),
                }
            ),
            self.guard.as_ref().map_or(0, |g| g.fired),
            self.guard.as_ref().map_or(0, |g| g.replaced),
        );
        for (i, t) in self.cfg.tickets.iter().enumerate() {
            let Some(v) = self.node.ticket_view(i) else {
                continue;
            };
            let row = listing::ticket_line_at(&self.node, i, &self.addrs, &now, &|s| {
                super::localtime::format(s)
            });
            log::info!(
                "ticket {}: state {:?}, term {}, granted here {}, deadline {}, handler running {}: {}",
                t.name,
                v.state,
                v.term,
                v.granted,
                v.deadline
                    .map_or_else(|| "-".to_owned(), |d| localtime_fmt(now.wall_at(d).secs())),
                self.handlers.running(i),
                row.trim_end()
            );
        }
    }

    /// Before dying of a state-file failure: best-effort "not granted" in
    /// the CIB for tickets granted here (nobody will renew them).
    fn fatal_revoke(&mut self, now: Now) {
        if self.guard.is_none() {
            return;
        }
        for (i, c) in self.last_commit.iter().enumerate() {
            let Some(c) = c.filter(|c| c.granted) else {
                continue;
            };
            let name = &self.cfg.tickets[i].name;
            let args = cib::commit_args(
                name,
                false,
                0,
                now.wall_at(c.expires).secs(),
                c.term,
                &self.cfg.name,
            );
            let mut cmd = std::process::Command::new(cib::CRM_TICKET);
            cmd.args(&args);
            if let Ok(r) = super::child::spawn(cmd, false, now.mono + cib::WRITE_TIMEOUT) {
                let f = r.wait_blocking(clock::mono);
                log::error!(
                    "ticket {name}: revoked in the CIB before exiting: {}",
                    f.outcome
                );
            }
        }
    }
}

fn role_word(role: Role) -> &'static str {
    match role {
        Role::Site => "site",
        Role::Arbitrator => "arbitrator",
    }
}

fn localtime_fmt(secs: u64) -> String {
    super::localtime::format(secs as i64)
}
