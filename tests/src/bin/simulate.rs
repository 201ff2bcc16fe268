//! Runs the deterministic simulator over many seeds and prints a summary.
//!
//! `simulate --seeds 100000` soaks; `simulate --seed 42 --verbose` replays one
//! seed with every datagram in the trace.

use booth_tests::sim::scenario::run_seed;
use std::process::ExitCode;
use std::time::Instant;

fn usage() -> ExitCode {
    eprintln!("usage: simulate [--seeds N] [--start S] [--seed S] [--verbose]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut seeds = 1000u64;
    let mut start = 0u64;
    let mut verbose = false;
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
            _ => return usage(),
        }
    }
    let began = Instant::now();
    let (mut steps, mut violations, mut member_ms, mut sim_ms) = (0u64, 0usize, 0u64, 0u64);
    let mut failed = Vec::new();
    let mut settle_max = 0u64;
    let mut gap_min: Option<u64> = None;
    for seed in start..start + seeds {
        let o = run_seed(seed, verbose);
        steps += o.steps;
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
                eprintln!("replay: cargo run --release -p booth-tests --bin simulate -- --seed {seed} --verbose");
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
    if !failed.is_empty() {
        println!("failed seeds: {:?}", &failed[..failed.len().min(20)]);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
