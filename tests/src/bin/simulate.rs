//! Runs the deterministic simulator over many seeds and prints a summary.
//!
//! `simulate --seeds 100000` soaks; `simulate --seed 42 --verbose` replays one
//! seed with every datagram in the trace. `--lossy-failover` runs the
//! heavy-loss SIGKILL hand-over instead (docs/simulation.md) and prints its
//! distribution. `--booth-holders` runs the mixed-formation profile: some
//! sites behave like booth 1.x holders (unmarked messages, late expiry);
//! `--booth-holders-marked` leaves their mark on, so nobody applies the
//! booth margins (it should find double grants). `--moves` turns half of
//! the sites' restarts into moves to another node of the site (restored
//! from the site's CIB only).

use booth_tests::sim::scenario::{lossy_failover, run_seed_mixed, run_seed_with_moves};
use booth_tests::sim::BoothMode;
use std::process::ExitCode;
use std::time::Instant;

fn usage() -> ExitCode {
    eprintln!(
        "usage: simulate [--seeds N] [--start S] [--seed S] [--verbose] \
         [--lossy-failover | --booth-holders | --booth-holders-marked | --moves]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut seeds = 1000u64;
    let mut start = 0u64;
    let mut verbose = false;
    let mut failover = false;
    let mut mode = BoothMode::BoothRs;
    let mut moves = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--seeds" => match value() {
                Some(v) => seeds = v,
                None => return usage(),
            },
            "--start" => match value() {
                Some(v) => start = v,
                None => return usage(),
            },
            "--seed" => match value() {
                Some(v) => {
                    start = v;
                    seeds = 1;
                }
                None => return usage(),
            },
            "--verbose" => verbose = true,
            "--lossy-failover" => failover = true,
            "--booth-holders" => mode = BoothMode::Booth,
            "--booth-holders-marked" => mode = BoothMode::Marked,
            "--moves" => moves = true,
            _ => return usage(),
        }
    }
    if failover {
        return lossy_failovers(start, seeds, verbose);
    }
    let began = Instant::now();
    let (mut steps, mut violations, mut member_ms, mut sim_ms) = (0u64, 0usize, 0u64, 0u64);
    let mut failed = Vec::new();
    let mut settle_max = 0u64;
    let mut gap_min: Option<u64> = None;
    let (mut booth_unmarked, mut booth_leases) = (0u64, 0u64);
    for seed in start..start + seeds {
        let o = if moves {
            run_seed_with_moves(seed, verbose)
        } else {
            run_seed_mixed(seed, verbose, mode)
        };
        steps += o.steps;
        booth_unmarked += o.booth_unmarked;
        booth_leases += o.booth_leases;
        sim_ms += o.sim_ms;
        member_ms += o.sim_ms * o.members as u64;
        settle_max = o.settle_ms.iter().copied().fold(settle_max, u64::max);
        if let Some(g) = o.min_handover_gap {
            gap_min = Some(gap_min.map_or(g, |m| m.min(g)));
        }
        if !o.violations.is_empty() {
            violations += o.violations.len();
            if failed.is_empty() || verbose {
                eprintln!("seed {seed} FAILED:");
                for v in &o.violations {
                    eprintln!("  {v}");
                }
                eprintln!("trace (last events):\n{}", o.trace);
                let flag = match mode {
                    BoothMode::BoothRs => "",
                    BoothMode::Booth => " --booth-holders",
                    BoothMode::Marked => " --booth-holders-marked",
                };
                eprintln!("replay: cargo run --release -p booth-tests --bin simulate -- --seed {seed}{flag} --verbose");
            }
            failed.push(seed);
        }
    }
    let wall = began.elapsed().as_secs_f64();
    println!(
        "seeds: {seeds}, steps: {steps}, violations: {violations}, simulated: {:.0} s, member-seconds/wall-second: {:.0}, \
         wall: {wall:.2} s, worst settle after heal: {} ms, min hand-over gap: {} ms",
        sim_ms as f64 / 1000.0,
        member_ms as f64 / 1000.0 / wall.max(1e-9),
        settle_max,
        gap_min.map_or("-".into(), |g| g.to_string()),
    );
    if mode != BoothMode::BoothRs {
        println!(
            "booth-like holders ({mode:?}): datagrams unmarked: {booth_unmarked}, \
             booth-truth lease extensions: {booth_leases}"
        );
    }
    if !failed.is_empty() {
        println!(
            "failed seeds: {} of {seeds}, the first: {:?}",
            failed.len(),
            &failed[..failed.len().min(20)]
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The heavy-loss hand-over over many seeds: the overhead beyond the dead
/// holder's lease + acquire-after, as min/median/p99/max, and how many
/// seeds missed the 3 s target.
fn lossy_failovers(start: u64, seeds: u64, verbose: bool) -> ExitCode {
    const TARGET_MS: i64 = 3_000;
    let began = Instant::now();
    let mut overheads = Vec::new();
    let mut elections = Vec::new();
    let (mut never, mut late, mut broken) = (Vec::new(), Vec::new(), Vec::new());
    for seed in start..start + seeds {
        let o = lossy_failover(seed, verbose);
        if !o.violations.is_empty() {
            eprintln!("seed {seed}: {}", o.violations[0]);
            broken.push(seed);
        }
        elections.extend(o.election_ms);
        if o.election_ms.is_some_and(|e| e > 4000) {
            eprintln!(
                "seed {seed}: {} members, election {:?} ms",
                o.members, o.election_ms
            );
        }
        match o.overhead_ms {
            Some(ms) => {
                overheads.push((ms, seed));
                if ms > TARGET_MS {
                    late.push(seed);
                }
            }
            None => never.push(seed),
        }
        if verbose {
            eprintln!("{}\nseed {seed}: overhead {:?} ms", o.trace, o.overhead_ms);
        }
    }
    let mut by_seed: Vec<(i64, u64)> = overheads.clone();
    by_seed.sort_unstable_by_key(|&(ms, _)| std::cmp::Reverse(ms));
    let mut overheads: Vec<i64> = overheads.iter().map(|&(ms, _)| ms).collect();
    overheads.sort_unstable();
    elections.sort_unstable();
    let at = |q: f64| {
        overheads
            .get(((overheads.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let el = |q: f64| {
        elections
            .get(((elections.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "election (from a majority free to vote until the grant): ms min {} median {} p90 {} p99 {} max {}; within 3000 ms: {:.2} %",
        el(0.0),
        el(0.5),
        el(0.9),
        el(0.99),
        el(1.0),
        100.0 * elections.iter().filter(|&&e| e <= 3000).count() as f64 / elections.len().max(1) as f64
    );
    let within = seeds as usize - late.len() - never.len();
    println!(
        "lossy failover: seeds {seeds}, within {TARGET_MS} ms: {within} ({:.2} %), late: {}, \
         never (60 s): {}, invariants broken: {}; overhead ms min {} median {} p90 {} p99 {} max {}; wall {:.1} s",
        100.0 * within as f64 / seeds.max(1) as f64,
        late.len(),
        never.len(),
        broken.len(),
        at(0.0),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        began.elapsed().as_secs_f64()
    );
    if !never.is_empty() {
        println!("never: {:?}", &never[..never.len().min(20)]);
    }
    if !late.is_empty() {
        let worst: Vec<_> = by_seed
            .iter()
            .take(10)
            .map(|&(ms, s)| format!("{s} ({ms} ms)"))
            .collect();
        println!("slowest seeds: {}", worst.join(", "));
    }
    if broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("broken: {:?}", &broken[..broken.len().min(20)]);
        ExitCode::FAILURE
    }
}
