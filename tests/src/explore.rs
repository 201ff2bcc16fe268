//! Exhaustive exploration of a small formation running the real engine:
//! three members (two sites and an arbitrator), one ticket, and every
//! interleaving of message delivery, loss, duplication, timer firing and one
//! crash-restart, breadth first up to a depth, with the simulator's
//! [`Auditor`] and the engine's `check` invariants in every state.
//!
//! The model (docs/simulation.md, "Exhaustive exploration"):
//!
//! * **Network**: a multiset of datagrams in flight, without delivery times:
//!   any one may be delivered next, however long ago it was sent (an
//!   asynchronous network: every delay and every reordering), dropped, or
//!   delivered while a copy stays in flight (duplication, within a budget).
//! * **Time**: one true time that moves only when a timer fires, and only to
//!   the earliest deadline of a running member (ties: each of them may go
//!   first). Deliveries take no time. Every member's clock runs at a fixed
//!   rate error within the configured bound ρ, so true time is discrete and
//!   the state space finite at a given depth. A running member's timers fire
//!   on time (a frozen process is the simulator's business).
//! * **Crash**: a member stops (its lease guard keeps its CIB grant to its
//!   deadline, as the auditor counts it) and restarts later, as a separate
//!   action, from what it persisted (`Restore::Persisted` from its last
//!   `Event::Persist`, `Fresh` if it never persisted), within a budget.
//! * **State**: true time, each node's [`Node::fingerprint`] (its protocol
//!   state, not its statistics), what each member persisted, the datagrams
//!   in flight (sorted: a multiset), the budgets left, and the auditor's
//!   [`Auditor::fingerprint`], hashed to 64 bits (SipHash with fixed keys).
//!   Two paths to one fingerprint are explored once; a collision could hide
//!   a state (odds about n²/2⁶⁵ for n states: 10⁻⁵ at 10⁷ states).

use crate::sim::{Auditor, Clock, Violation};
use booth_core::config::{Config, Member, Role, TicketConfig, WireTimeUnit};
use booth_core::engine::{AdminRequest, ClientId, Event, Restore, Source};
use booth_core::time::{Duration, Instant, Now, WallTime};
use booth_core::{Node, SiteId};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Members: two sites and an arbitrator.
pub const MEMBERS: usize = 3;
const SITES: usize = 2;
pub type ExNode = Node<1, MEMBERS>;

/// The formation's timings and clocks.
#[derive(Debug, Clone)]
pub struct Model {
    pub expire_ms: u64,
    pub timeout_ms: u64,
    pub retries: u8,
    pub acquire_after_ms: u64,
    pub wire_unit: WireTimeUnit,
    /// Each member's clock-rate error, ppm (within the configured ρ = 1000).
    pub ppm: [i64; MEMBERS],
    /// Seed of the members' back-off generators.
    pub seed: u64,
}

impl Model {
    /// expire 10 s, timeout 1 s, retries 3 (`Spec::basic`), no acquire-after, seconds on the
    /// wire; the holder-to-be (m0) runs slow at −ρ, the others fast at +ρ:
    /// the holder's deadline as late, the followers' copies as early, as the
    /// drift bound allows.
    pub fn small() -> Model {
        Model {
            expire_ms: 10_000,
            timeout_ms: 1_000,
            retries: 3,
            acquire_after_ms: 0,
            wire_unit: WireTimeUnit::Seconds,
            ppm: [-1000, 1000, 1000],
            seed: 1,
        }
    }

    fn config(&self) -> Config<1, MEMBERS> {
        let mut c = Config::new();
        for i in 0..MEMBERS {
            let role = if i < SITES {
                Role::Site
            } else {
                Role::Arbitrator
            };
            let id = SiteId::from_ipv4([127, 0, 0, 2 + i as u8]);
            c.members
                .push(Member { id, role })
                .expect("three members fit");
        }
        let mut tc = TicketConfig::new("ticket0")
            .expect("valid name")
            .with_timing(
                Duration(self.expire_ms),
                Duration(self.timeout_ms),
                self.retries,
            );
        tc.acquire_after = Duration(self.acquire_after_ms);
        tc.max_drift_ppm = 1000;
        c.tickets.push(tc).expect("one ticket fits");
        // No key: with one, a duplicate is refused by the MAC cache before
        // the ticket sees it; without, the protocol itself must cope.
        c.key = None;
        c.wire_unit = self.wire_unit;
        c
    }
}

/// What the search may spend per path.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Actions per path.
    pub depth: usize,
    /// Crashes per path (each may be followed by a restart).
    pub crashes: u8,
    /// Duplicated deliveries per path.
    pub duplicates: u8,
    /// Offer "lose datagram i" as an action. Off by default: for the
    /// invariants checked (all about what members commit), a datagram lost
    /// is a datagram never delivered, which every state already allows, and
    /// a path with a loss has a path without it, no longer, whose members
    /// are in the same states (only the network holds one datagram more).
    pub drops: bool,
    /// Stop (incomplete) after this many distinct states.
    pub max_states: usize,
}

/// One step of the formation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Deliver the i-th datagram in flight (in the state's sorted order).
    Deliver(usize),
    /// Deliver it and keep a copy in flight.
    Duplicate(usize),
    /// Lose it.
    Drop(usize),
    /// Member m's earliest timer fires; true time moves to it.
    Fire(usize),
    Crash(usize),
    /// Restart from what it persisted.
    Restart(usize),
}

/// A datagram in flight.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Packet {
    pub from: u8,
    pub to: u8,
    pub bytes: Vec<u8>,
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let d = &self.bytes;
        let word = |at: usize| {
            d.get(at..at + 4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let text =
            |at: usize| String::from_utf8_lossy(d.get(at..at + 4).unwrap_or_default()).into_owned();
        write!(
            f,
            "m{}->m{} {} req={} reason={} result={} leader={:08x} term={} valid_for={}",
            self.from,
            self.to,
            text(28),
            text(32),
            text(40),
            text(44),
            word(112),
            word(116),
            word(120)
        )
    }
}

/// The whole formation at one point of one path.
#[derive(Debug, Clone)]
pub struct State {
    /// True time, ms.
    pub now: u64,
    nodes: [Option<ExNode>; MEMBERS],
    /// [`Node::fingerprint`] of each node, recomputed when it changes.
    node_fp: [u64; MEMBERS],
    persisted: [Restore; MEMBERS],
    /// Sorted: the order of a multiset does not matter.
    flight: Vec<Packet>,
    crashes_left: u8,
    duplicates_left: u8,
    flight_drops: bool,
    boots: [u64; MEMBERS],
    pub auditor: Auditor,
}

impl State {
    pub fn flight(&self) -> &[Packet] {
        &self.flight
    }

    pub fn node(&self, m: usize) -> Option<&ExNode> {
        self.nodes[m].as_ref()
    }
}

/// A broken invariant, found in a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The auditor's verdict.
    Audit(Violation),
    /// A `check` invariant (or any other panic) inside a member.
    Panic { member: usize, message: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Finding::Audit(v) => write!(f, "{v}"),
            Finding::Panic { member, message } => write!(f, "m{member} panicked: {message}"),
        }
    }
}

/// The formation's fixed parts: configuration and clocks.
pub struct Explorer {
    model: Model,
    config: Config<1, MEMBERS>,
    clocks: [Clock; MEMBERS],
}

/// What a search did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Transitions taken (states generated, duplicates included).
    pub transitions: u64,
    /// Distinct states (fingerprints), the root included.
    pub distinct: u64,
    /// The most actions on a path to a new state.
    pub depth_reached: usize,
    /// Distinct states by the fewest actions that reach them (index = depth).
    pub per_level: Vec<u64>,
    /// States expanded again, reached in fewer actions than before.
    pub revisits: u64,
    /// Set when `max_states` stopped the search: incomplete.
    pub stopped: bool,
    /// Distinct states in which site m0, m1 holds the ticket (per the CIB
    /// commits, the auditor's truth): what the search reached.
    pub granted: [u64; 2],
    pub seconds: f64,
    /// The first violation found, its path and the states along it.
    pub violation: Option<(Finding, Vec<Action>, String)>,
}

impl Explorer {
    pub fn new(model: Model) -> Explorer {
        let config = model.config();
        let clocks = std::array::from_fn(|m| Clock {
            offset_ms: 100_000 * (m as u64 + 1),
            ppm: model.ppm[m],
            wall_offset_ms: 1_790_000_000_000 + 7 * m as u64,
        });
        Explorer {
            model,
            config,
            clocks,
        }
    }

    fn now_of(&self, m: usize, t: u64) -> Now {
        let c = &self.clocks[m];
        Now {
            mono: Instant(c.local(t)),
            wall: WallTime(c.wall_us(t)),
        }
    }

    /// Every member starts fresh at t = 0 and an admin grants the ticket to m0.
    pub fn initial(&self, bounds: &Bounds) -> State {
        let mut s = self.boot_all(bounds);
        self.admin_grant(&mut s);
        s
    }

    fn boot_all(&self, bounds: &Bounds) -> State {
        let mut s = State {
            now: 0,
            nodes: [None, None, None],
            node_fp: [0; MEMBERS],
            persisted: [Restore::Fresh; MEMBERS],
            flight: Vec::new(),
            crashes_left: bounds.crashes,
            duplicates_left: bounds.duplicates,
            flight_drops: bounds.drops,
            boots: [0; MEMBERS],
            auditor: Auditor::new(MEMBERS, 1),
        };
        for m in 0..MEMBERS {
            self.boot(&mut s, m).expect("a fresh start breaks nothing");
        }
        s.flight.sort();
        s
    }

    fn admin_grant(&self, s: &mut State) {
        let now = self.now_of(0, 0);
        let req = AdminRequest::Grant {
            ticket: 0,
            force: false,
            wait_commit: false,
        };
        if let Some(n) = s.nodes[0].as_mut() {
            n.handle_admin(now, ClientId(1), req);
        }
        self.drain(s, 0);
        s.node_fp[0] = node_fingerprint(&s.nodes[0]);
        s.flight.sort();
    }

    /// Every member starts fresh at t = 0, start-up runs on the happy path
    /// (every datagram delivered in order, the earliest timer fired when
    /// nothing is in flight) until nothing is in flight and no timer is
    /// armed; then an admin grants the ticket to m0.
    pub fn started(&self, bounds: &Bounds) -> State {
        let mut s = self.boot_all(bounds);
        for _ in 0..1000 {
            let armed = (0..MEMBERS).any(|m| self.deadline(&s, m).is_some());
            if s.flight.is_empty() && !armed {
                break;
            }
            s = self.happy_step(&s);
        }
        self.admin_grant(&mut s);
        s
    }

    fn happy_step(&self, s: &State) -> State {
        let a = if s.flight.is_empty() {
            *self
                .actions(s)
                .iter()
                .find(|a| matches!(a, Action::Fire(_)))
                .expect("a timer is armed")
        } else {
            Action::Deliver(0)
        };
        self.step(s, a).expect("the happy path breaks nothing")
    }

    /// From [`Self::started`], the happy path (deliver everything in order,
    /// fire the earliest timer when nothing is in flight) until m0 is granted
    /// in its CIB and nothing is in flight: a holder with an acknowledged lease.
    pub fn held(&self, bounds: &Bounds) -> State {
        let mut s = self.started(bounds);
        for _ in 0..1000 {
            if s.flight.is_empty() && s.auditor.holders(0, s.now) == [0] {
                return s;
            }
            s = self.happy_step(&s);
        }
        panic!("m0 was never granted on the happy path");
    }

    fn boot(&self, s: &mut State, m: usize) -> Result<(), Finding> {
        s.boots[m] += 1;
        let seed = self.model.seed ^ (m as u64) << 48 ^ s.boots[m] << 32;
        let now = self.now_of(m, s.now);
        let restore = [s.persisted[m]];
        let config = self.config.clone();
        let node = catch_unwind(AssertUnwindSafe(|| {
            ExNode::new(config, m, seed, now, &restore).expect("valid config")
        }))
        .map_err(|e| panic_finding(m, e))?;
        s.nodes[m] = Some(node);
        self.drain(s, m);
        s.node_fp[m] = node_fingerprint(&s.nodes[m]);
        Ok(())
    }

    /// Takes a member's events (persist, CIB commits) and datagrams.
    fn drain(&self, s: &mut State, m: usize) {
        let now = self.now_of(m, s.now);
        let Some(node) = s.nodes[m].as_mut() else {
            return;
        };
        while let Some(event) = node.poll_event() {
            match event {
                Event::Persist { state, .. } => s.persisted[m] = Restore::Persisted(state),
                Event::Commit(c) if c.granted => {
                    let until = self.clocks[m].true_of(c.expires.0);
                    s.auditor.granted(0, m, s.now, until, c.term);
                }
                Event::Commit(_) => s.auditor.revoked(0, m, s.now),
                _ => {}
            }
        }
        let mut buf = [0u8; 1024];
        while let Some(tx) = node.poll_transmit(now, &mut buf) {
            s.flight.push(Packet {
                from: m as u8,
                to: tx.to as u8,
                bytes: buf[..tx.len].to_vec(),
            });
        }
    }

    /// True time of member m's next deadline.
    fn deadline(&self, s: &State, m: usize) -> Option<u64> {
        let local = s.nodes[m].as_ref()?.poll_timeout()?;
        Some(self.clocks[m].true_at(local.0))
    }

    /// Every action enabled in `s`.
    pub fn actions(&self, s: &State) -> Vec<Action> {
        let mut out = Vec::new();
        for (i, p) in s.flight.iter().enumerate() {
            // Identical copies lead to identical states: one of each.
            if i > 0 && s.flight[i - 1] == *p {
                continue;
            }
            out.push(Action::Deliver(i));
            if s.flight_drops {
                out.push(Action::Drop(i));
            }
            if s.duplicates_left > 0 {
                out.push(Action::Duplicate(i));
            }
        }
        let deadlines: Vec<Option<u64>> = (0..MEMBERS).map(|m| self.deadline(s, m)).collect();
        if let Some(first) = deadlines.iter().flatten().min() {
            for (m, d) in deadlines.iter().enumerate() {
                if *d == Some(*first) {
                    out.push(Action::Fire(m));
                }
            }
        }
        for m in 0..MEMBERS {
            match s.nodes[m] {
                Some(_) if s.crashes_left > 0 => out.push(Action::Crash(m)),
                None => out.push(Action::Restart(m)),
                Some(_) => {}
            }
        }
        out
    }

    /// The state after `a`, or what it broke.
    pub fn step(&self, s: &State, a: Action) -> Result<State, Finding> {
        let mut s = s.clone();
        let mut touched = None;
        match a {
            Action::Deliver(i) | Action::Duplicate(i) => {
                let p = if a == Action::Deliver(i) {
                    s.flight.remove(i)
                } else {
                    s.duplicates_left -= 1;
                    s.flight[i].clone()
                };
                let to = p.to as usize;
                let now = self.now_of(to, s.now);
                if let Some(node) = s.nodes[to].as_mut() {
                    catch_unwind(AssertUnwindSafe(|| {
                        // A refused datagram is counted by the node; nothing to do.
                        let _ =
                            node.handle_datagram(now, Source::Member(p.from as usize), &p.bytes);
                    }))
                    .map_err(|e| panic_finding(to, e))?;
                    touched = Some(to);
                }
            }
            Action::Drop(i) => {
                s.flight.remove(i);
            }
            Action::Fire(m) => {
                let t = self.deadline(&s, m).expect("an armed timer");
                s.now = s.now.max(t);
                let now = self.now_of(m, s.now);
                let node = s.nodes[m].as_mut().expect("a running member");
                catch_unwind(AssertUnwindSafe(|| node.handle_timeout(now)))
                    .map_err(|e| panic_finding(m, e))?;
                touched = Some(m);
            }
            Action::Crash(m) => {
                s.crashes_left -= 1;
                s.nodes[m] = None;
                s.node_fp[m] = node_fingerprint(&s.nodes[m]);
            }
            Action::Restart(m) => self.boot(&mut s, m)?,
        }
        if let Some(m) = touched {
            self.drain(&mut s, m);
            s.node_fp[m] = node_fingerprint(&s.nodes[m]);
        }
        s.flight.sort();
        let running: Vec<bool> = s.nodes.iter().map(Option::is_some).collect();
        s.auditor.check_deadlines(s.now, &running);
        if let Some(v) = s.auditor.violations.first() {
            return Err(Finding::Audit(v.clone()));
        }
        Ok(s)
    }

    /// The state's 64-bit fingerprint.
    pub fn fingerprint(&self, s: &State) -> u64 {
        let mut h = DefaultHasher::new();
        s.now.hash(&mut h);
        s.node_fp.hash(&mut h);
        format!("{:?}", s.persisted).hash(&mut h);
        s.flight.hash(&mut h);
        (s.crashes_left, s.duplicates_left, s.boots).hash(&mut h);
        s.auditor.fingerprint(&mut h);
        h.finish()
    }

    /// Depth first from `root`, every path of up to `bounds.depth` actions.
    /// A state is expanded again when a later path reaches it in fewer
    /// actions than before (what it may still do depends on the depth left),
    /// so every state within the bound is visited: the search is complete
    /// for that depth, and its memory is one path of states plus the
    /// fingerprints seen (a breadth-first frontier of whole states took
    /// 20 KB each, 2.6 GB at depth 7).
    pub fn explore(&self, root: State, bounds: &Bounds) -> Report {
        let started = std::time::Instant::now();
        let mut search = Search {
            seen: HashMap::new(),
            report: Report::default(),
            path: Vec::new(),
            bounds: *bounds,
        };
        search.seen.insert(self.fingerprint(&root), 0);
        self.dfs(&root, &root, &mut search);
        let r = &mut search.report;
        r.distinct = search.seen.len() as u64;
        r.per_level = vec![0; bounds.depth + 1];
        for d in search.seen.values() {
            r.per_level[*d as usize] += 1;
        }
        while r.per_level.len() > 1 && r.per_level.last() == Some(&0) {
            r.per_level.pop();
        }
        r.depth_reached = r.per_level.len() - 1;
        r.seconds = started.elapsed().as_secs_f64();
        search.report
    }

    fn dfs(&self, root: &State, s: &State, search: &mut Search) {
        let depth = search.path.len() + 1;
        for a in self.actions(s) {
            if search.report.violation.is_some() || search.report.stopped {
                return;
            }
            search.report.transitions += 1;
            search.path.push(a);
            match self.step(s, a) {
                Err(f) => {
                    let trace = self.replay(root, &search.path);
                    search.report.violation = Some((f, search.path.clone(), trace));
                }
                Ok(t) => {
                    let fp = self.fingerprint(&t);
                    let again = match search.seen.get(&fp) {
                        Some(&d) if d as usize <= depth => false,
                        Some(_) => {
                            search.report.revisits += 1;
                            true
                        }
                        None => {
                            let holders = t.auditor.holders(0, t.now);
                            search.report.granted[0] += holders.contains(&0) as u64;
                            search.report.granted[1] += holders.contains(&1) as u64;
                            true
                        }
                    };
                    if again {
                        search.seen.insert(fp, depth as u8);
                        if search.seen.len() > search.bounds.max_states {
                            search.report.stopped = true;
                        } else if depth < search.bounds.depth {
                            self.dfs(root, &t, search);
                        }
                    }
                }
            }
            search.path.pop();
        }
    }

    /// The states along `path` from `root`, one line per action.
    pub fn replay(&self, root: &State, path: &[Action]) -> String {
        let mut out = String::new();
        let mut s = root.clone();
        out += &format!("t={} start: {}\n", s.now, self.describe(&s));
        for a in path {
            let what = match *a {
                Action::Deliver(i) | Action::Duplicate(i) | Action::Drop(i) => {
                    format!("{a:?} {}", s.flight[i])
                }
                _ => format!("{a:?}"),
            };
            match self.step(&s, *a) {
                Ok(t) => {
                    s = t;
                    out += &format!("t={} {what}: {}\n", s.now, self.describe(&s));
                }
                Err(f) => {
                    out += &format!("t={} {what}: BROKEN: {f}\n", s.now);
                    break;
                }
            }
        }
        out
    }

    /// Each member's view of the ticket and what is in flight.
    pub fn describe(&self, s: &State) -> String {
        let mut out = String::new();
        for m in 0..MEMBERS {
            match s.nodes[m].as_ref().and_then(|n| n.ticket_view(0)) {
                Some(v) => {
                    out += &format!(
                        "m{m}[{:?} term {} owner {:?}{}] ",
                        v.state,
                        v.term,
                        v.owner,
                        if v.granted { " GRANTED" } else { "" }
                    )
                }
                None => out += &format!("m{m}[down] "),
            }
        }
        out += &format!("flight {}", s.flight.len());
        out
    }
}

/// The search's bookkeeping.
struct Search {
    /// Fingerprint → fewest actions it was reached in.
    seen: HashMap<u64, u8>,
    report: Report,
    path: Vec<Action>,
    bounds: Bounds,
}

/// A node's fingerprint (0 for a member that is down).
fn node_fingerprint(n: &Option<ExNode>) -> u64 {
    n.as_ref().map_or(0, |n| {
        let mut h = DefaultHasher::new();
        n.fingerprint(&mut h);
        h.finish() | 1
    })
}

fn panic_finding(member: usize, e: Box<dyn std::any::Any + Send>) -> Finding {
    let message = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    Finding::Panic { member, message }
}
