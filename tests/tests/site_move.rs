//! A site's memory is its CIB (docs/site-memory.md): the booth-site resource
//! moves between the nodes of its site, and the daemon that starts on the
//! new node has no state file of its own, only what the site's CIB says.
//! Simulated: the holder's daemon stops on one node and starts on another
//! within the lease (the ticket stays at the site, its CIB grant never
//! lapses, no other site is granted), after the lease (it re-acquires or
//! the ticket moves, safely), or never again (the other site takes over
//! after the lease); and random formations where half of the sites'
//! restarts are moves.

use booth_tests::sim::scenario::run_seed_with_moves;
use booth_tests::sim::{RestartMode, Sim, Spec};

const SECOND: u64 = 1000;
/// Seeds run by `cargo test` (`simulate --moves --seeds N` runs more).
const SEEDS: u64 = 2000;

/// The sites that were ever granted ticket 0, and whether site 0's grant
/// intervals leave a gap (its CIB said "not granted" for a while).
fn granted_sites(sim: &Sim) -> Vec<usize> {
    let mut s: Vec<usize> = sim.auditor.intervals(0).iter().map(|i| i.0).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// The longest stretch within `from..to` (true ms) in which no grant
/// interval of `site` covered the time.
fn longest_gap(sim: &Sim, site: usize, from: u64, to: u64) -> u64 {
    let mut iv: Vec<(u64, u64)> = sim
        .auditor
        .intervals(0)
        .iter()
        .filter(|i| i.0 == site)
        .map(|i| (i.1, i.2))
        .collect();
    iv.sort_unstable();
    let (mut covered, mut gap) = (from, 0);
    for (start, end) in iv {
        if start > covered && covered < to {
            gap = gap.max(start.min(to) - covered);
        }
        covered = covered.max(end);
    }
    if covered < to {
        gap = gap.max(to - covered);
    }
    gap
}

#[test]
fn a_holder_moved_within_its_lease_keeps_the_ticket_without_a_gap() {
    for stopped_for in [0, SECOND, 3 * SECOND] {
        let mut sim = Sim::new(Spec::basic(), 11 + stopped_for);
        sim.granted_at(0);
        sim.run_until(4 * SECOND);
        let moved_at = sim.now;
        sim.crash(0);
        sim.run_until(moved_at + stopped_for);
        sim.restart(0, RestartMode::Moved);
        sim.run_until(60 * SECOND);
        sim.assert_safe();
        assert_eq!(sim.holder(0), Some(0), "stopped for {stopped_for} ms");
        assert_eq!(granted_sites(&sim), vec![0], "stopped for {stopped_for} ms");
        assert_eq!(
            longest_gap(&sim, 0, moved_at - SECOND, sim.now),
            0,
            "the site's CIB grant lapsed (stopped for {stopped_for} ms):\n{}",
            sim.trace.dump()
        );
        sim.check_agreement(0);
        sim.assert_safe();
    }
}

#[test]
fn a_holder_moved_after_its_lease_hands_over_safely() {
    let mut sim = Sim::new(Spec::basic(), 12);
    sim.granted_at(0);
    sim.run_until(4 * SECOND);
    sim.crash(0);
    sim.run_until(30 * SECOND);
    // The other site took over meanwhile; the moved daemon follows it.
    assert_eq!(sim.holder(0), Some(1));
    sim.restart(0, RestartMode::Moved);
    sim.run_until(60 * SECOND);
    assert_eq!(sim.holder(0), Some(1));
    sim.check_agreement(0);
    sim.assert_safe();
}

#[test]
fn a_holder_that_never_comes_back_is_replaced_after_its_lease() {
    let mut sim = Sim::new(Spec::basic(), 13);
    sim.granted_at(0);
    sim.run_until(4 * SECOND);
    sim.crash(0);
    sim.run_until(40 * SECOND);
    assert_eq!(sim.holder(0), Some(1));
    sim.assert_safe();
}

#[test]
fn random_formations_with_moving_sites_keep_every_invariant() {
    let mut failures = Vec::new();
    for seed in 0..SEEDS {
        let o = run_seed_with_moves(seed, false);
        if !o.violations.is_empty() {
            failures.push(format!("seed {seed}: {}", o.violations[0]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {SEEDS} seeds broke an invariant; replay one with \
         `cargo run --release -p booth-tests --bin simulate -- --moves --seed N --verbose`:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
