//! The deterministic simulator over thousands of random seeds: formations of
//! 3 to 7 members under loss, duplication, reordering, partitions, crashes
//! (with and without persisted state), pauses, clock drift and admin actions.
//! The soak is `cargo run --release -p booth-tests --bin simulate -- --seeds 100000`.

use booth_tests::sim::scenario::run_seed;

/// Seeds run by `cargo test`; the soak runs far more.
const SEEDS: u64 = 3000;

#[test]
fn random_formations_keep_every_invariant() {
    let mut failures = Vec::new();
    let mut steps = 0;
    for seed in 0..SEEDS {
        let o = run_seed(seed, false);
        steps += o.steps;
        if !o.violations.is_empty() {
            failures.push(format!("seed {seed}: {}", o.violations[0]));
        }
    }
    assert!(
        steps > SEEDS * 100,
        "the simulation did too little to mean anything ({steps} steps)"
    );
    assert!(
        failures.is_empty(),
        "{} of {SEEDS} seeds broke an invariant; replay one with \
         `cargo run --release -p booth-tests --bin simulate -- --seed N --verbose`:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_same_seed_replays_the_same_run() {
    for seed in [7, 1039, 3893] {
        let a = run_seed(seed, false);
        let b = run_seed(seed, false);
        assert_eq!(
            (a.steps, a.sim_ms, a.settle_ms),
            (b.steps, b.sim_ms, b.settle_ms),
            "seed {seed}"
        );
    }
}
