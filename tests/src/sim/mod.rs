//! A deterministic, seeded, virtual-time simulation of a booth formation
//! running the real core: every member is a [`Node`] with its own clock, the
//! network is [`Network`], and the [`Auditor`] checks the invariants after
//! every step. Time jumps from one deadline to the next; nothing sleeps.
//!
//! Same seed, same run: the only randomness is [`SimRng`], and no map with a
//! random iteration order is used.

pub mod auditor;
pub mod booth;
pub mod clock;
pub mod network;
pub mod rng;
pub mod scenario;

pub use auditor::{Auditor, Violation};
pub use booth::{BoothHolder, BoothMode};
pub use clock::Clock;
pub use network::{Network, Weather};
pub use rng::SimRng;

use booth_core::config::{Config, Member as MemberConfig, Role, TicketConfig, WireTimeUnit};
use booth_core::engine::restore::{self, SiteRecord, Stored};
use booth_core::engine::{
    AdminRequest, AdminResponse, ClientId, Event, Owner, Restore, Source, TicketView,
};
use booth_core::time::{Duration, Instant, Now, WallTime};
use booth_core::{Node, SiteId};
use std::collections::VecDeque;
use std::fmt::Write as _;

/// Ticket capacity of simulated members.
pub const TICKETS: usize = 4;
pub type SimNode = Node<TICKETS>;

/// The formation and its timings.
#[derive(Debug, Clone)]
pub struct Spec {
    pub sites: usize,
    pub arbitrators: usize,
    pub tickets: usize,
    pub expire_ms: u64,
    pub timeout_ms: u64,
    pub retries: u8,
    pub acquire_after_ms: u64,
    /// The bound ρ the members are configured with.
    pub drift_ppm: u32,
    /// Rate errors actually given to the clocks: within ±this.
    pub actual_drift_ppm: i64,
    pub wire_unit: WireTimeUnit,
    pub key: bool,
    pub handler: bool,
    /// Probability that a handler run fails.
    pub handler_failure: f64,
    /// `mode = manual` for every ticket.
    pub manual: bool,
    /// Members (sites) that behave like booth 1.x holders ([`booth`]).
    pub booth_holders: u16,
    /// How those members look on the wire.
    pub booth_mode: BoothMode,
}

impl Spec {
    /// Two sites and an arbitrator with the fast test timings of booth-protocol.md §4.3.
    pub fn basic() -> Spec {
        Spec {
            sites: 2,
            arbitrators: 1,
            tickets: 1,
            expire_ms: 10_000,
            timeout_ms: 1_000,
            retries: 3,
            acquire_after_ms: 0,
            drift_ppm: 1000,
            actual_drift_ppm: 1000,
            wire_unit: WireTimeUnit::Seconds,
            key: true,
            handler: false,
            handler_failure: 0.0,
            manual: false,
            booth_holders: 0,
            booth_mode: BoothMode::Booth,
        }
    }

    pub fn members(&self) -> usize {
        self.sites + self.arbitrators
    }

    /// The configuration every member runs with (identical, as booth requires).
    pub fn config(&self) -> Config<TICKETS> {
        let mut c = Config::new();
        for i in 0..self.members() {
            let role = if i < self.sites {
                Role::Site
            } else {
                Role::Arbitrator
            };
            let id = SiteId::from_ipv4([127, 0, 0, 2 + i as u8]);
            c.members
                .push(MemberConfig { id, role })
                .expect("at most 16 members");
        }
        for t in 0..self.tickets {
            let mut tc = TicketConfig::new(&format!("ticket{t}"))
                .expect("valid name")
                .with_timing(
                    Duration(self.expire_ms),
                    Duration(self.timeout_ms),
                    self.retries,
                );
            tc.acquire_after = Duration(self.acquire_after_ms);
            tc.max_drift_ppm = self.drift_ppm;
            tc.has_handler = self.handler;
            if self.manual {
                tc.mode = booth_core::config::Mode::Manual;
            }
            c.tickets.push(tc).expect("ticket capacity");
        }
        if self.key {
            c.key = Some(heapless::Vec::from_slice(b"0123456789abcdef").expect("key fits"));
        }
        c.wire_unit = self.wire_unit;
        c
    }
}

/// How a crashed member comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    /// With the state it persisted.
    Persisted,
    /// With its state lost (a new disk): it must not trust anything.
    Amnesia,
    /// On another node of its site (the booth-site resource moved): no state
    /// file there, only what the site's CIB recorded, restored by the
    /// daemon's policy (`booth_core::engine::restore`, docs/site-memory.md):
    /// a grant to this site is held until its `expires` less the clock
    /// allowance, anything else the CIB knows starts with amnesia. The
    /// simulated node keeps the member's clock, so the allowance is margin.
    Moved,
}

struct Member {
    node: Option<SimNode>,
    clock: Clock,
    paused: bool,
    /// Datagrams that arrived while paused (a stopped process's socket buffer).
    inbox: Vec<(usize, Vec<u8>)>,
    /// What the member persisted, per ticket.
    persisted: Vec<Restore>,
    /// The highest term each ticket's CIB recorded (it survives the daemon's state).
    cib_term: Vec<u32>,
    /// The CIB's last grant to this site per ticket: (term, `expires` on the
    /// member's clock); `None` once revoked, or never granted.
    cib_grant: Vec<Option<(u32, u64)>>,
    /// Handler runs in flight: (true time due, ticket, ok).
    handlers: Vec<(u64, usize, bool)>,
    /// Every handler run of this member fails (a site whose service broke).
    handlers_fail: bool,
    boots: u64,
    /// Set when the member behaves like a booth 1.x holder.
    booth: Option<BoothHolder>,
}

/// A whole formation in one process.
pub struct Sim {
    pub spec: Spec,
    config: Config<TICKETS>,
    members: Vec<Member>,
    pub net: Network,
    rng: SimRng,
    seed: u64,
    /// True time, in ms.
    pub now: u64,
    pub auditor: Auditor,
    pub steps: u64,
    /// Recent events, printed when an invariant breaks.
    pub trace: Trace,
    /// Per ticket: somebody was granted it since the last admin revoke.
    granted_since_revoke: Vec<bool>,
    /// Per ticket and site: the site committed the ticket with an owner (so it
    /// knows of the grant) and has not lost its state since.
    knows: Vec<Vec<bool>>,
    client_seq: u32,
    /// How often a booth-like member's acknowledged lease (booth truth) grew.
    pub booth_leases: u64,
}

/// A bounded log of what happened, for a readable failure report.
#[derive(Debug, Default)]
pub struct Trace {
    lines: VecDeque<String>,
    /// Also log every datagram (slow; used when replaying a failed seed).
    pub verbose: bool,
}

impl Trace {
    const KEEP: usize = 3000;

    pub fn log(&mut self, now: u64, line: impl FnOnce() -> String) {
        if self.lines.len() == Self::KEEP {
            self.lines.pop_front();
        }
        self.lines.push_back(format!("{:>9}ms  {}", now, line()));
    }

    pub fn dump(&self) -> String {
        self.lines.iter().fold(String::new(), |mut s, l| {
            let _ = writeln!(s, "{l}");
            s
        })
    }
}

impl Sim {
    pub fn new(spec: Spec, seed: u64) -> Sim {
        let mut rng = SimRng::new(seed);
        let config = spec.config();
        let n = spec.members();
        let mut members: Vec<Member> = (0..n)
            .map(|_| {
                let ppm =
                    rng.range(0, 2 * spec.actual_drift_ppm as u64) as i64 - spec.actual_drift_ppm;
                Member {
                    node: None,
                    clock: Clock {
                        offset_ms: rng.range(0, 1_000_000),
                        ppm,
                        wall_offset_ms: 1_790_000_000_000 + rng.range(0, 30_000),
                    },
                    paused: false,
                    inbox: Vec::new(),
                    persisted: vec![Restore::Fresh; spec.tickets],
                    cib_term: vec![0; spec.tickets],
                    cib_grant: vec![None; spec.tickets],
                    handlers: Vec::new(),
                    handlers_fail: false,
                    boots: 0,
                    booth: None,
                }
            })
            .collect();
        for (m, member) in members.iter_mut().enumerate() {
            if spec.booth_holders & (1 << m) != 0 && m < spec.sites {
                member.booth = Some(BoothHolder::new(
                    spec.booth_mode,
                    m,
                    config.members[m].id.0,
                    n,
                    spec.tickets,
                    spec.wire_unit.millis(),
                    spec.timeout_ms,
                ));
            }
        }
        let mut sim = Sim {
            auditor: Auditor::new(n, spec.tickets),
            granted_since_revoke: vec![false; spec.tickets],
            knows: vec![vec![false; spec.sites]; spec.tickets],
            spec,
            config,
            members,
            net: Network::new(n),
            rng,
            seed,
            now: 0,
            steps: 0,
            trace: Trace::default(),
            client_seq: 0,
            booth_leases: 0,
        };
        for m in 0..n {
            sim.boot(m);
        }
        sim
    }

    fn now_of(&self, m: usize) -> Now {
        let c = &self.members[m].clock;
        Now {
            mono: Instant(c.local(self.now)),
            wall: WallTime(c.wall_us(self.now)),
        }
    }

    fn boot(&mut self, m: usize) {
        let now = self.now_of(m);
        let member = &mut self.members[m];
        member.boots += 1;
        let seed = self.seed ^ (m as u64) << 48 ^ member.boots << 32;
        let node = SimNode::new(self.config.clone(), m, seed, now, &member.persisted)
            .expect("the simulated config is valid");
        member.node = Some(node);
        member.paused = false;
        member.inbox.clear();
        member.handlers.clear();
        self.trace.log(self.now, || {
            format!("m{m} boots ({:?})", self.members[m].persisted)
        });
        self.drain(m);
    }

    /// Is member `m` up and not paused?
    pub fn running(&self, m: usize) -> bool {
        self.members[m].node.is_some() && !self.members[m].paused
    }

    /// Runs `f` on a running member, then drains its events and datagrams.
    fn with_node<R>(&mut self, m: usize, f: impl FnOnce(&mut SimNode, Now) -> R) -> Option<R> {
        if !self.running(m) {
            return None;
        }
        let now = self.now_of(m);
        let r = f(self.members[m].node.as_mut()?, now);
        self.drain(m);
        Some(r)
    }

    /// Takes every event and datagram the member has for us.
    fn drain(&mut self, m: usize) {
        let now = self.now_of(m);
        while let Some(event) = self.members[m].node.as_mut().and_then(|n| n.poll_event()) {
            match event {
                Event::Persist { ticket, state } => {
                    self.members[m].persisted[ticket] = Restore::Persisted(state)
                }
                Event::Commit(c) => {
                    let cib = &mut self.members[m].cib_term[c.ticket];
                    *cib = (*cib).max(c.term);
                    self.members[m].cib_grant[c.ticket] =
                        c.granted.then_some((c.term, c.expires.0));
                    if c.granted {
                        let until = self.members[m].clock.true_of(c.expires.0);
                        self.trace.log(self.now, || {
                            format!(
                                "m{m} CIB ticket{} GRANTED term {} until t={until}",
                                c.ticket, c.term
                            )
                        });
                        self.auditor.granted(c.ticket, m, self.now, until, c.term);
                        self.granted_since_revoke[c.ticket] = true;
                        self.knows[c.ticket][m] = true;
                    } else {
                        self.trace.log(self.now, || {
                            format!(
                                "m{m} CIB ticket{} revoked (owner {:?}, term {})",
                                c.ticket, c.owner, c.term
                            )
                        });
                        self.auditor.revoked(c.ticket, m, self.now);
                        // It knows of a grant while it sees an owner, and keeps
                        // knowing when it loses track (owner unknown); a revoke
                        // is all it knows after "owner nobody".
                        match c.owner {
                            Owner::Site(_) => self.knows[c.ticket][m] = true,
                            Owner::NoOne => self.knows[c.ticket][m] = false,
                            Owner::Unknown => {}
                        }
                    }
                }
                Event::RunHandler { ticket, .. } => {
                    let due = self.now + self.rng.range(0, 300);
                    let ok = !self.members[m].handlers_fail
                        && !self.rng.chance(self.spec.handler_failure);
                    self.members[m].handlers.push((due, ticket, ok));
                }
                Event::CancelHandler { ticket } => {
                    self.members[m].handlers.retain(|h| h.1 != ticket)
                }
                other => self.trace.log(self.now, || format!("m{m} {other:?}")),
            }
        }
        let mut buf = [0u8; 1024];
        loop {
            let Some(node) = self.members[m].node.as_mut() else {
                return;
            };
            let Some(tx) = node.poll_transmit(now, &mut buf) else {
                break;
            };
            if self.trace.verbose {
                let line = describe(&buf[..tx.len]);
                self.trace
                    .log(self.now, || format!("m{m} -> m{} {line}", tx.to));
            }
            let mut bytes = buf[..tx.len].to_vec();
            if let Some(booth) = self.members[m].booth.as_mut() {
                let config = &self.config;
                let key = config.key.as_deref();
                let changed =
                    booth.outgoing(now.mono.0, key, |n| config.ticket_index(n), &mut bytes);
                if let Some(ticket) = changed {
                    self.booth_update(m, ticket);
                }
            }
            self.net.send(&mut self.rng, self.now, m, tx.to, bytes);
        }
    }

    /// The earliest true time something happens.
    fn next_event(&self) -> Option<u64> {
        let mut next = self.net.next_delivery();
        for (m, member) in self.members.iter().enumerate() {
            if !self.running(m) {
                continue;
            }
            let node = member.node.as_ref()?;
            let timer = node.poll_timeout().map(|t| member.clock.true_at(t.0));
            let handler = member.handlers.iter().map(|h| h.0).min();
            for t in [timer, handler].into_iter().flatten() {
                next = Some(next.map_or(t, |n: u64| n.min(t)));
            }
        }
        next.map(|t| t.max(self.now))
    }

    /// Advances true time to `limit`, processing everything due on the way.
    pub fn run_until(&mut self, limit: u64) {
        while let Some(t) = self.next_event().filter(|t| *t <= limit) {
            self.now = t;
            self.step();
            assert!(
                self.steps < 50_000_000,
                "seed {}: runaway simulation\n{}",
                self.seed,
                self.trace.dump()
            );
        }
        self.now = self.now.max(limit);
    }

    fn step(&mut self) {
        self.steps += 1;
        while let Some(delivery) = self.net.pop_due(self.now) {
            let Some(p) = delivery else { continue };
            if self.members[p.to].node.is_none() {
                continue;
            }
            if self.members[p.to].paused {
                // A stopped process's socket buffer holds a few hundred datagrams.
                if self.members[p.to].inbox.len() < 256 {
                    self.members[p.to].inbox.push((p.from, p.bytes));
                }
                continue;
            }
            self.deliver(p.to, p.from, &p.bytes);
        }
        for m in 0..self.members.len() {
            if !self.running(m) {
                continue;
            }
            let now = self.now;
            let due: Vec<_> = self.members[m]
                .handlers
                .iter()
                .filter(|h| h.0 <= now)
                .copied()
                .collect();
            self.members[m].handlers.retain(|h| h.0 > now);
            for (_, ticket, ok) in due {
                self.with_node(m, |n, now| n.handle_handler_done(now, ticket, ok));
            }
            let local = self.now_of(m).mono;
            let due = self.members[m]
                .node
                .as_ref()
                .and_then(|n| n.poll_timeout())
                .is_some_and(|t| t <= local);
            if due {
                self.with_node(m, |n, now| n.handle_timeout(now));
            }
        }
        let running: Vec<bool> = (0..self.members.len()).map(|m| self.running(m)).collect();
        self.auditor.check_deadlines(self.now, &running);
    }

    fn deliver(&mut self, to: usize, from: usize, bytes: &[u8]) {
        if let Some(booth) = self.members[to].booth.as_mut() {
            if let Some(ticket) = booth.incoming(from, self.config.key.as_deref(), bytes) {
                self.booth_update(to, ticket);
            }
        }
        let r = self.with_node(to, |n, now| {
            n.handle_datagram(now, Source::Member(from), bytes)
        });
        if let Some(Err(e)) = r {
            self.trace.log(self.now, || {
                format!("m{to} dropped datagram from m{from}: {e:?}")
            });
        }
    }

    /// Tells the auditor how long a booth-like member holds `ticket` in
    /// the booth truth (late expiry, [`booth`]).
    fn booth_update(&mut self, m: usize, ticket: usize) {
        let Some(booth) = self.members[m].booth.as_ref() else {
            return;
        };
        let until = booth
            .holds_until_local(ticket)
            .map(|local| self.members[m].clock.true_of(local));
        let before = self.auditor.booth_holds_until(ticket, m);
        if until > before {
            self.booth_leases += 1;
        }
        if until != before {
            self.trace.log(self.now, || {
                format!("m{m} booth truth: holds ticket{ticket} until {until:?}")
            });
        }
        self.auditor.booth_holds(ticket, m, self.now, until);
    }

    /// Datagrams of booth-like members sent without the mark, and how often
    /// their acknowledged lease (in the booth truth) grew.
    pub fn booth_stats(&self) -> (u64, u64) {
        let unmarked = self
            .members
            .iter()
            .filter_map(|m| m.booth.as_ref())
            .map(|b| b.unmarked)
            .sum();
        (unmarked, self.booth_leases)
    }

    /// How member `m` looks to the others.
    pub fn booth_mode(&self, m: usize) -> BoothMode {
        self.members[m]
            .booth
            .as_ref()
            .map_or(BoothMode::BoothRs, |b| b.mode)
    }

    // --- faults and admin actions ---------------------------------------

    pub fn grant(&mut self, m: usize, ticket: usize, force: bool) -> Option<AdminResponse> {
        self.client_seq += 1;
        let client = ClientId(self.client_seq);
        let req = AdminRequest::Grant {
            ticket,
            force,
            wait_commit: false,
        };
        let r = self.with_node(m, |n, now| n.handle_admin(now, client, req));
        self.trace.log(self.now, || {
            format!("admin: grant ticket{ticket} at m{m} force={force} -> {r:?}")
        });
        r
    }

    pub fn revoke(&mut self, m: usize, ticket: usize) -> Option<AdminResponse> {
        self.client_seq += 1;
        let client = ClientId(self.client_seq);
        let r = self.with_node(m, |n, now| {
            n.handle_admin(now, client, AdminRequest::Revoke { ticket })
        });
        if r.is_some_and(|r| r.result == booth_core::wire::ResultCode::Success) {
            self.granted_since_revoke[ticket] = false;
            let local = self.now_of(m).mono.0;
            if let Some(booth) = self.members[m].booth.as_mut() {
                booth.revoked(ticket, local);
                self.booth_update(m, ticket);
            }
        }
        self.trace.log(self.now, || {
            format!("admin: revoke ticket{ticket} at m{m} -> {r:?}")
        });
        r
    }

    /// Kills a member (SIGKILL): its CIB grant stays until the lease guard's deadline.
    pub fn crash(&mut self, m: usize) {
        self.members[m].node = None;
        self.members[m].handlers.clear();
        self.trace.log(self.now, || format!("fault: m{m} crashes"));
    }

    pub fn restart(&mut self, m: usize, mode: RestartMode) {
        if mode == RestartMode::Moved {
            // The daemon's policy (booth_core::engine::restore): the new
            // node has no state file, only the site's CIB, which every
            // booted site has written.
            let now = self.now_of(m).mono;
            let member = &mut self.members[m];
            member.persisted = member
                .cib_term
                .iter()
                .zip(&member.cib_grant)
                .map(|(&cib_term, grant)| {
                    let site = SiteRecord {
                        present: true,
                        term: grant.map_or(cib_term, |g| g.0),
                        granted_here: grant.is_some(),
                        left: grant.map(|g| Instant(g.1).saturating_since(now)),
                    };
                    restore::restore(Stored::Nothing, Some(site), now)
                })
                .collect();
            // Where nothing is held, the new node knows no more of the
            // ticket than a member with a new disk.
            let held: Vec<bool> = member
                .persisted
                .iter()
                .map(|r| matches!(r, Restore::Held { .. }))
                .collect();
            for (ticket, held) in held.into_iter().enumerate() {
                if !held {
                    self.knows[ticket][m] = false;
                }
            }
        }
        if mode == RestartMode::Amnesia {
            let member = &mut self.members[m];
            member.persisted = member
                .cib_term
                .iter()
                .map(|&term| Restore::Amnesia { term })
                .collect();
            if m < self.spec.sites {
                self.knows.iter_mut().for_each(|sites| sites[m] = false);
            }
            self.auditor.amnesia();
        }
        self.trace
            .log(self.now, || format!("fault: m{m} restarts ({mode:?})"));
        self.boot(m);
    }

    /// Grants ticket 0 at `site` and runs until it is committed there
    /// (panics after 2 s of simulated time).
    pub fn granted_at(&mut self, site: usize) {
        self.grant(site, 0, false);
        let until = self.now + 2_000;
        while self.now < until && self.holder(0) != Some(site) {
            let next = self.now + 10;
            self.run_until(next);
        }
        assert_eq!(
            self.holder(0),
            Some(site),
            "the grant at m{site} did not take"
        );
    }

    /// Panics with the trace if the auditor found any violation.
    pub fn assert_safe(&self) {
        let v: Vec<_> = self
            .auditor
            .violations
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert!(
            v.is_empty(),
            "invariants broken:\n{}\n\ntrace:\n{}",
            v.join("\n"),
            self.trace.dump()
        );
    }

    pub fn is_up(&self, m: usize) -> bool {
        self.members[m].node.is_some()
    }

    /// Freezes a member (SIGSTOP): nothing runs, datagrams queue up.
    pub fn pause(&mut self, m: usize) {
        if self.members[m].node.is_some() {
            self.members[m].paused = true;
            self.trace.log(self.now, || format!("fault: m{m} paused"));
        }
    }

    /// Thaws a member (SIGCONT): timers first or queued datagrams first.
    pub fn resume(&mut self, m: usize, timers_first: bool) {
        if !self.members[m].paused {
            return;
        }
        self.members[m].paused = false;
        self.trace.log(self.now, || format!("fault: m{m} resumed"));
        if timers_first {
            self.with_node(m, |n, now| n.handle_timeout(now));
        }
        for (from, bytes) in std::mem::take(&mut self.members[m].inbox) {
            self.deliver(m, from, &bytes);
        }
        self.with_node(m, |n, now| n.handle_timeout(now));
    }

    pub fn is_paused(&self, m: usize) -> bool {
        self.members[m].paused
    }

    /// Ends every fault: network healed, paused members resumed, crashed ones restarted.
    pub fn heal_all(&mut self) {
        self.net.heal();
        // Failing handlers are faults too.
        self.spec.handler_failure = 0.0;
        for m in 0..self.members.len() {
            if self.members[m].paused {
                self.resume(m, true);
            }
            if self.members[m].node.is_none() {
                self.restart(m, RestartMode::Persisted);
            }
        }
        self.trace.log(self.now, || "fault: all healed".into());
    }

    pub fn view(&self, m: usize, ticket: usize) -> Option<TicketView> {
        self.members[m].node.as_ref()?.ticket_view(ticket)
    }

    pub fn node(&self, m: usize) -> Option<&SimNode> {
        self.members[m].node.as_ref()
    }

    /// The one site holding `ticket` now (per the CIB commits), if exactly one.
    pub fn holder(&self, ticket: usize) -> Option<usize> {
        match self.auditor.holders(ticket, self.now)[..] {
            [h] => Some(h),
            _ => None,
        }
    }

    /// Checks that all members agree on the holder and its term.
    pub fn check_agreement(&mut self, ticket: usize) {
        let views: Vec<_> = (0..self.members.len())
            .map(|m| self.view(m, ticket))
            .collect();
        let Some(Some(first)) = views.first() else {
            return;
        };
        let disagree = views
            .iter()
            .flatten()
            .any(|v| v.owner != first.owner || v.term != first.term);
        if disagree {
            let detail = views
                .iter()
                .enumerate()
                .map(|(m, v)| format!("m{m}={:?}", v.map(|v| (v.state, v.owner, v.term))))
                .collect::<Vec<_>>()
                .join(" ");
            self.auditor.violations.push(Violation::Disagreement {
                ticket,
                at: self.now,
                detail,
            });
        }
    }

    /// The ticket must have a holder: it was granted since the last admin
    /// revoke, and some site still knows (only an admin can bring back a
    /// grant that every site forgot).
    pub fn wants_holder(&self, ticket: usize) -> bool {
        self.granted_since_revoke[ticket] && self.knows[ticket].iter().any(|k| *k)
    }

    /// Sets a member's clock-rate error (only before anything ran, so its
    /// clock does not jump).
    pub fn set_drift(&mut self, m: usize, ppm: i64) {
        assert_eq!(self.now, 0, "set clock rates before running");
        self.members[m].clock.ppm = ppm;
    }

    /// Makes every before-acquire-handler run of member `m` fail (or not).
    pub fn fail_handlers(&mut self, m: usize, fail: bool) {
        self.members[m].handlers_fail = fail;
    }

    /// Tells a site whether `attr-prereq auto` holds for a ticket.
    pub fn set_failover_allowed(&mut self, m: usize, ticket: usize, allowed: bool) {
        self.with_node(m, |n, now| n.set_failover_allowed(now, ticket, allowed));
    }

    /// The counters of a running member.
    pub fn counters(&self, m: usize) -> Option<booth_core::engine::Counters> {
        self.node(m).map(|n| n.counters())
    }

    /// Whether a majority of the members, `dead` excluded, may vote for a
    /// new holder of `ticket` now: running, with no lease copy (or the copy
    /// plus acquire-after over).
    pub fn majority_may_vote(&self, ticket: usize, dead: usize) -> bool {
        let acquire_after = self.spec.acquire_after_ms;
        let free = (0..self.members.len())
            .filter(|&m| m != dead)
            .filter(|&m| match self.view(m, ticket) {
                Some(v) => v
                    .expires
                    .is_none_or(|e| self.true_of(m, e) + acquire_after <= self.now),
                None => false,
            })
            .count();
        free > self.members.len() / 2
    }

    /// The true time at which member `m`'s clock reads `local`.
    pub fn true_of(&self, m: usize, local: Instant) -> u64 {
        self.members[m].clock.true_of(local.0)
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// A datagram in a few words, for the verbose trace.
fn describe(d: &[u8]) -> String {
    let word = |at: usize| {
        d.get(at..at + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let text =
        |at: usize| String::from_utf8_lossy(d.get(at..at + 4).unwrap_or_default()).into_owned();
    let name = d.get(48..112).map_or(String::new(), |n| {
        String::from_utf8_lossy(&n[..n.iter().position(|b| *b == 0).unwrap_or(n.len())])
            .into_owned()
    });
    format!(
        "{} req={} reason={} result={} {name} leader={:08x} term={} valid_for={}",
        text(28),
        text(32),
        text(40),
        text(44),
        word(112),
        word(116),
        word(120)
    )
}
