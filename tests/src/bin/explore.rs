//! Exhaustive exploration of three members × one ticket (tests/src/explore.rs).
//!
//! `explore --from grant --depth 14` starts from a fresh formation and an
//! admin grant at m0; `explore --from held --depth 14` from m0 holding an
//! acknowledged lease. Prints states per level, the totals and, if an
//! invariant broke, the shortest path to it.

use booth_tests::explore::{Bounds, Explorer, Model};
use std::process::ExitCode;

enum From {
    /// Fresh members, the grant at once (start-up explored too).
    Boot,
    /// Start-up done on the happy path, then the grant.
    Grant,
    /// m0 holds an acknowledged lease.
    Held,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: explore [--from boot|grant|held] [--depth N] [--crashes N] [--duplicates N] \
         [--max-states N] [--acquire-after MS] [--drops 0|1] [--ppm P0,P1,P2]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut bounds = Bounds {
        depth: 12,
        crashes: 1,
        duplicates: 1,
        drops: false,
        max_states: 100_000_000,
    };
    let mut model = Model::small();
    let mut from = From::Grant;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(value) = args.next() else {
            return usage();
        };
        let number = value.parse::<u64>().ok();
        match (arg.as_str(), number) {
            ("--from", _) if value == "boot" => from = From::Boot,
            ("--from", _) if value == "grant" => from = From::Grant,
            ("--from", _) if value == "held" => from = From::Held,
            ("--depth", Some(n)) => bounds.depth = n as usize,
            ("--crashes", Some(n)) => bounds.crashes = n as u8,
            ("--duplicates", Some(n)) => bounds.duplicates = n as u8,
            ("--max-states", Some(n)) => bounds.max_states = n as usize,
            ("--acquire-after", Some(n)) => model.acquire_after_ms = n,
            ("--drops", Some(n)) => bounds.drops = n != 0,
            ("--ppm", _) => {
                let ppm: Vec<i64> = value.split(',').filter_map(|v| v.parse().ok()).collect();
                match ppm[..] {
                    [a, b, c] => model.ppm = [a, b, c],
                    _ => return usage(),
                }
            }
            _ => return usage(),
        }
    }
    // A broken `check` invariant panics inside a member; the explorer
    // catches it and prints it with the path that led there.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some("main")
            || std::env::var_os("EXPLORE_PANICS").is_some()
        {
            default_hook(info)
        }
    }));
    let explorer = Explorer::new(model.clone());
    let root = match from {
        From::Boot => explorer.initial(&bounds),
        From::Grant => explorer.started(&bounds),
        From::Held => explorer.held(&bounds),
    };
    println!("model: {model:?}");
    println!("bounds: {bounds:?}");
    println!("root: t={} {}", root.now, explorer.describe(&root));
    let r = explorer.explore(root, &bounds);
    for (depth, n) in r.per_level.iter().enumerate() {
        println!("depth {depth:>3}: {n:>10} states first reached there");
    }
    println!(
        "transitions {}, distinct states {}, revisits {}, depth reached {} of {}{}, \
         states with m0 / m1 granted {} / {}, {:.1} s",
        r.transitions,
        r.distinct,
        r.revisits,
        r.depth_reached,
        bounds.depth,
        if r.stopped {
            " (INCOMPLETE: --max-states reached)"
        } else {
            ""
        },
        r.granted[0],
        r.granted[1],
        r.seconds
    );
    match r.violation {
        None => {
            println!("no invariant broken");
            ExitCode::SUCCESS
        }
        Some((f, path, trace)) => {
            println!("VIOLATION: {f}\npath: {path:?}\n{trace}");
            ExitCode::FAILURE
        }
    }
}
