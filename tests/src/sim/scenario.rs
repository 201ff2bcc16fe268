//! Random fault scenarios from a seed: a formation, timings, and a schedule of
//! admin actions and faults; then everything heals and the formation must
//! settle on exactly one holder per wanted ticket.

use super::network::Weather;
use super::rng::SimRng;
use super::{BoothMode, RestartMode, Sim, Spec, Violation};
use booth_core::config::WireTimeUnit;

/// Something that happens at a point of true time.
#[derive(Debug, Clone)]
pub enum Action {
    Grant {
        member: usize,
        ticket: usize,
        force: bool,
    },
    Revoke {
        member: usize,
        ticket: usize,
    },
    Crash(usize),
    Restart(usize, RestartMode),
    Pause(usize),
    Resume {
        member: usize,
        timers_first: bool,
    },
    Isolate(Vec<usize>),
    /// One-way (or two-way) cut between two members.
    Cut {
        from: usize,
        to: usize,
        both: bool,
    },
    HealNetwork,
    Weather(Weather),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub spec: Spec,
    pub actions: Vec<(u64, Action)>,
    /// When every fault ends.
    pub heal_at: u64,
    /// How long after healing a wanted ticket must have one holder.
    pub settle_bound: u64,
}

impl Scenario {
    pub fn random(seed: u64) -> Scenario {
        let mut rng = SimRng::new(seed.wrapping_mul(0xA076_1D64_78BD_642F));
        let members = *rng.pick(&[3usize, 3, 3, 4, 5, 5, 7]);
        let sites = rng.range(2, (members - 1).max(2) as u64) as usize;
        let (expire, timeout) = *rng.pick(&[(10_000u64, 1_000u64), (6_000, 500), (4_000, 300)]);
        let spec = Spec {
            sites,
            arbitrators: members - sites,
            tickets: rng.range(1, 3) as usize,
            expire_ms: expire,
            timeout_ms: timeout,
            retries: 3,
            acquire_after_ms: *rng.pick(&[0, 0, 500, 2_000]),
            drift_ppm: 1000,
            actual_drift_ppm: 1000,
            wire_unit: if rng.chance(0.3) {
                WireTimeUnit::Millis
            } else {
                WireTimeUnit::Seconds
            },
            key: rng.chance(0.5),
            handler: rng.chance(0.25),
            handler_failure: 0.03,
            manual: false,
            booth_holders: 0,
            booth_mode: BoothMode::Booth,
        };
        let heal_at = 12 * expire;
        let mut actions = Vec::new();
        // Every ticket gets an admin grant early on.
        for t in 0..spec.tickets {
            let at = rng.range(100, 2 * timeout);
            actions.push((
                at,
                Action::Grant {
                    member: rng.range(0, sites as u64 - 1) as usize,
                    ticket: t,
                    force: rng.chance(0.3),
                },
            ));
        }
        let faults = rng.range(5, 25);
        for _ in 0..faults {
            let at = rng.range(timeout, heal_at - timeout);
            let m = rng.range(0, members as u64 - 1) as usize;
            let site = rng.range(0, sites as u64 - 1) as usize;
            let ticket = rng.range(0, spec.tickets as u64 - 1) as usize;
            let span = |rng: &mut SimRng| rng.range(timeout, 3 * expire);
            match rng.range(0, 9) {
                0 => actions.push((
                    at,
                    Action::Grant {
                        member: site,
                        ticket,
                        force: rng.chance(0.3),
                    },
                )),
                1 => actions.push((
                    at,
                    Action::Revoke {
                        member: site,
                        ticket,
                    },
                )),
                2 | 3 => {
                    actions.push((at, Action::Crash(m)));
                    let mode = if rng.chance(0.25) {
                        RestartMode::Amnesia
                    } else {
                        RestartMode::Persisted
                    };
                    actions.push((at + span(&mut rng), Action::Restart(m, mode)));
                }
                4 => {
                    actions.push((at, Action::Pause(m)));
                    actions.push((
                        at + span(&mut rng),
                        Action::Resume {
                            member: m,
                            timers_first: rng.chance(0.5),
                        },
                    ));
                }
                5 => {
                    let group: Vec<usize> = (0..members).filter(|_| rng.chance(0.4)).collect();
                    actions.push((at, Action::Isolate(group)));
                    actions.push((at + span(&mut rng), Action::HealNetwork));
                }
                6 => {
                    let to = rng.range(0, members as u64 - 1) as usize;
                    if to != m {
                        actions.push((
                            at,
                            Action::Cut {
                                from: m,
                                to,
                                both: rng.chance(0.5),
                            },
                        ));
                        actions.push((at + span(&mut rng), Action::HealNetwork));
                    }
                }
                _ => {
                    let w = Weather {
                        loss: *rng.pick(&[0.0, 0.05, 0.3, 0.6]),
                        duplicate: *rng.pick(&[0.0, 0.05, 0.2]),
                        delay_ms: rng.range(0, 50),
                        jitter_ms: *rng.pick(&[0, 20, 200, 1000]),
                    };
                    actions.push((at, Action::Weather(w)));
                    actions.push((at + span(&mut rng), Action::Weather(Weather::CALM)));
                }
            }
        }
        actions.retain(|(at, _)| *at < heal_at);
        actions.sort_by_key(|(at, _)| *at);
        // After the last fault: old leases run out, then one election with
        // back-off and a few lost rounds (the 1 s back-off cap, booth's).
        let settle_bound =
            expire + spec.acquire_after_ms + 8 * (timeout + 1_000) + spec.expire_ms / 2;
        Scenario {
            spec,
            actions,
            heal_at,
            settle_bound,
        }
    }
}

impl Scenario {
    /// The mixed-formation profile (docs/simulation.md): the scenario of
    /// [`Scenario::random`] for this seed, with some sites (at least one,
    /// never all) behaving like booth 1.x holders ([`super::booth`]) in
    /// `mode`. [`BoothMode::BoothRs`] gives the random scenario unchanged.
    pub fn mixed(seed: u64, mode: BoothMode) -> Scenario {
        let mut scenario = Scenario::random(seed);
        if mode == BoothMode::BoothRs {
            return scenario;
        }
        // Its own stream: the formation, timings and faults stay the seed's.
        let mut rng = SimRng::new(seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0xB007);
        let sites = scenario.spec.sites;
        let mut mask = 0u16;
        for m in 0..sites {
            if rng.chance(0.5) {
                mask |= 1 << m;
            }
        }
        let all = (1u16 << sites) - 1;
        if mask == 0 {
            mask = 1 << rng.range(0, sites as u64 - 1);
        }
        if mask == all {
            mask &= !(1 << rng.range(0, sites as u64 - 1));
        }
        scenario.spec.booth_holders = mask;
        scenario.spec.booth_mode = mode;
        scenario
    }
}

/// What one seed did.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub steps: u64,
    pub sim_ms: u64,
    pub members: usize,
    pub violations: Vec<Violation>,
    /// Per wanted ticket: time from healing until it had one holder again.
    pub settle_ms: Vec<u64>,
    pub min_handover_gap: Option<u64>,
    pub trace: String,
    /// Sites that behaved like booth 1.x holders (member mask).
    pub booth_holders: u16,
    /// Their datagrams sent without the mark, and how often their
    /// acknowledged lease grew ([`Sim::booth_stats`]).
    pub booth_unmarked: u64,
    pub booth_leases: u64,
}

pub fn apply(sim: &mut Sim, action: &Action) {
    match action {
        Action::Grant {
            member,
            ticket,
            force,
        } => {
            sim.grant(*member, *ticket, *force);
        }
        Action::Revoke { member, ticket } => {
            sim.revoke(*member, *ticket);
        }
        Action::Crash(m) => {
            if sim.is_up(*m) {
                sim.crash(*m)
            }
        }
        Action::Restart(m, mode) => {
            if !sim.is_up(*m) {
                sim.restart(*m, *mode)
            }
        }
        Action::Pause(m) => sim.pause(*m),
        Action::Resume {
            member,
            timers_first,
        } => sim.resume(*member, *timers_first),
        Action::Isolate(group) => sim.net.isolate(group),
        Action::Cut { from, to, both } => sim.net.cut(*from, *to, *both),
        Action::HealNetwork => {
            let weather = sim.net.weather;
            sim.net.heal();
            sim.net.weather = weather;
        }
        Action::Weather(w) => sim.net.weather = *w,
    }
}

/// Runs one seed to the end and grades it.
pub fn run_seed(seed: u64, verbose: bool) -> Outcome {
    run_scenario(Scenario::random(seed), seed, verbose)
}

/// [`run_seed`] with site daemons moving between the nodes of their site:
/// half of the sites' restarts (chosen by a stream of their own, so the
/// scenario is otherwise the seed's) happen on another node, with only
/// the site's CIB to restore from (`RestartMode::Moved`).
pub fn run_seed_with_moves(seed: u64, verbose: bool) -> Outcome {
    run_scenario(Scenario::random(seed).with_moves(seed), seed, verbose)
}

impl Scenario {
    /// Turns about half of the sites' restarts into moves.
    pub fn with_moves(mut self, seed: u64) -> Scenario {
        let mut rng = SimRng::new(seed ^ 0x6d6f_7665_6d6f_7665);
        let sites = self.spec.sites;
        for (_, action) in &mut self.actions {
            if let Action::Restart(m, mode) = action {
                if *m < sites && rng.chance(0.5) {
                    *mode = RestartMode::Moved;
                }
            }
        }
        self
    }
}

/// Runs one seed of the mixed-formation profile ([`Scenario::mixed`]).
pub fn run_seed_mixed(seed: u64, verbose: bool, mode: BoothMode) -> Outcome {
    run_scenario(Scenario::mixed(seed, mode), seed, verbose)
}

fn run_scenario(scenario: Scenario, seed: u64, verbose: bool) -> Outcome {
    let mut sim = Sim::new(scenario.spec.clone(), seed);
    sim.trace.verbose = verbose;
    sim.trace
        .log(0, || format!("scenario: {:?}", scenario.spec));
    for (at, action) in &scenario.actions {
        sim.run_until(*at);
        sim.trace.log(sim.now, || format!("action: {action:?}"));
        apply(&mut sim, action);
    }
    sim.run_until(scenario.heal_at);
    sim.heal_all();
    let healed = sim.now;
    let mut settle_ms = Vec::new();
    let tickets = scenario.spec.tickets;
    let mut settled = vec![false; tickets];
    // Step through the settle window, noting when each wanted ticket has one holder.
    let end = healed + scenario.settle_bound;
    let mut t = healed;
    while t < end {
        t = (t + 100).min(end);
        sim.run_until(t);
        for (k, done) in settled.iter_mut().enumerate() {
            if !*done && sim.wants_holder(k) && sim.holder(k).is_some() {
                *done = true;
                settle_ms.push(sim.now - healed);
            }
        }
    }
    // Let the holder's UpdE reach everyone, then check the end state.
    sim.run_until(end + 2 * scenario.spec.timeout_ms);
    for (k, done) in settled.iter().enumerate() {
        if sim.wants_holder(k) && (!*done || sim.holder(k).is_none()) {
            sim.auditor.violations.push(Violation::NoHolder {
                ticket: k,
                at: sim.now,
            });
        }
        if sim.wants_holder(k) {
            sim.check_agreement(k);
        }
    }
    let (booth_unmarked, booth_leases) = sim.booth_stats();
    Outcome {
        seed,
        booth_holders: scenario.spec.booth_holders,
        booth_unmarked,
        booth_leases,
        steps: sim.steps,
        sim_ms: sim.now,
        members: scenario.spec.members(),
        min_handover_gap: sim.auditor.min_handover_gap,
        trace: if sim.auditor.violations.is_empty() {
            String::new()
        } else {
            sim.trace.dump()
        },
        violations: std::mem::take(&mut sim.auditor.violations),
        settle_ms,
    }
}

/// The heavy-loss profile of the fault harness's "lossy" scenarios, on
/// every link: 30 % loss, 10 % duplication, 20–170 ms delay (reordering).
pub const HEAVY_LOSS: Weather = Weather {
    loss: 0.3,
    duplicate: 0.1,
    delay_ms: 20,
    jitter_ms: 150,
};

/// What one seed of [`lossy_failover`] did.
#[derive(Debug)]
pub struct Failover {
    pub seed: u64,
    pub members: usize,
    /// From the end of the dead holder's lease (its last grant commit +
    /// expire) plus acquire-after until another site alone holds the
    /// ticket; `None` if none did within a minute.
    pub overhead_ms: Option<i64>,
    /// From the first instant a majority of the members may vote anew
    /// (their lease copies plus acquire-after ran out, the dead holder
    /// counted as unable) until the new holder's grant: what the election
    /// itself took.
    pub election_ms: Option<u64>,
    pub violations: Vec<Violation>,
    pub trace: String,
}

/// The fault harness's "lossy+kill" scenario in the simulator: the holder
/// of a granted ticket dies (SIGKILL: its lease guard keeps the CIB granted
/// to its deadline) at a random phase of its renewal, on a network under
/// [`HEAVY_LOSS`]; the others must hand over. The formation is the
/// harness's (two sites and an arbitrator, expire 10 s, timeout 1 s,
/// retries 3, acquire-after 2 s) in most seeds, else five members or no
/// acquire-after, so the fix is not tuned to one shape.
pub fn lossy_failover(seed: u64, verbose: bool) -> Failover {
    let mut rng = SimRng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x10);
    let mut spec = Spec::basic();
    spec.acquire_after_ms = 2_000;
    spec.key = rng.chance(0.5);
    match rng.range(0, 9) {
        0 => {
            spec.sites = 3;
            spec.arbitrators = 2;
        }
        1 => spec.acquire_after_ms = 0,
        _ => {}
    }
    let members = spec.members();
    let (expire, acquire_after) = (spec.expire_ms, spec.acquire_after_ms);
    let mut sim = Sim::new(spec, seed);
    sim.trace.verbose = verbose;
    let fail = |sim: &mut Sim, overhead_ms| Failover {
        seed,
        members,
        overhead_ms,
        election_ms: None,
        trace: sim.trace.dump(),
        violations: std::mem::take(&mut sim.auditor.violations),
    };
    sim.run_until(100);
    sim.grant(0, 0, true);
    sim.run_until(3_000);
    if sim.holder(0) != Some(0) {
        return fail(&mut sim, None);
    }
    sim.net.weather = HEAVY_LOSS;
    // Two renewals under loss, then the kill at any phase of the third.
    let kill_at = sim.now + expire + rng.range(0, expire);
    sim.run_until(kill_at);
    if sim.holder(0) != Some(0) {
        // Loss alone moved the ticket (rare, and safe): not this test's case.
        sim.trace
            .log(sim.now, || "the ticket moved before the kill".into());
    }
    let holder = sim.holder(0).unwrap_or(0);
    // The end of the last lease the holder gave out (its last UpdE): some
    // member may count on it, acknowledged or not, so no hand-over can be
    // earlier than that plus acquire-after. Its last CIB commit (+ expire)
    // can be a whole renewal older when the acks of that UpdE were lost.
    let lease_end = sim
        .view(holder, 0)
        .and_then(|v| v.expires)
        .map(|e| sim.true_of(holder, e))
        .or_else(|| sim.auditor.last_commit(0, holder).map(|t| t + expire))
        .unwrap_or(sim.now)
        .max(sim.now);
    sim.trace.log(sim.now, || {
        format!("action: crash the holder m{holder}, its lease ends at t={lease_end}")
    });
    sim.crash(holder);
    let limit = sim.now + 60_000;
    let mut overhead = None;
    let mut free_at = None;
    while sim.now < limit {
        let next = sim.now + 10;
        sim.run_until(next);
        if free_at.is_none() && sim.majority_may_vote(0, holder) {
            free_at = Some(sim.now);
        }
        if sim.holder(0).is_some_and(|h| h != holder) {
            overhead = Some(sim.now as i64 - (lease_end + acquire_after) as i64);
            break;
        }
    }
    let election_ms = free_at.and_then(|f| overhead.map(|_| sim.now.saturating_sub(f)));
    let mut out = fail(&mut sim, overhead);
    out.election_ms = election_ms;
    out
}
