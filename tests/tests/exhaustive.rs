//! Exhaustive exploration of three members × one ticket with the real engine
//! (tests/src/explore.rs, docs/simulation.md "Exhaustive exploration"):
//! every interleaving of delivery, duplication, timer firing and a
//! crash-restart, to a small depth here; `explore` goes deeper.

use booth_tests::explore::{Action, Bounds, Explorer, Finding, Model};
use booth_tests::sim::Violation;

fn bounds(depth: usize, crashes: u8, duplicates: u8) -> Bounds {
    Bounds {
        depth,
        crashes,
        duplicates,
        drops: false,
        max_states: 10_000_000,
    }
}

fn assert_clean(r: &booth_tests::explore::Report) {
    if let Some((f, path, trace)) = &r.violation {
        panic!("{f}\npath: {path:?}\n{trace}");
    }
    assert!(!r.stopped);
}

#[test]
fn an_admin_grant_keeps_every_invariant_in_every_interleaving() {
    let e = Explorer::new(Model::small());
    let b = bounds(6, 1, 1);
    let r = e.explore(e.started(&b), &b);
    assert_clean(&r);
    assert_eq!(r.depth_reached, 6);
    // The search did something: many states, and m0's CIB grant among them.
    assert!(r.distinct > 10_000, "{r:?}");
    assert!(r.granted[0] > 0, "{r:?}");
}

#[test]
fn a_held_lease_keeps_every_invariant_in_every_interleaving() {
    let e = Explorer::new(Model::small());
    let b = bounds(7, 1, 1);
    let root = e.held(&b);
    assert_eq!(root.auditor.holders(0, root.now), [0]);
    let r = e.explore(root, &b);
    assert_clean(&r);
    assert_eq!(r.depth_reached, 7);
    assert!(r.distinct > 10_000, "{r:?}");
}

/// The explorer can fail: with clocks far beyond the drift bound ρ (the
/// holder at half speed, the others 1.9× fast), the followers' lease copies
/// end long before the holder's deadline, and the search finds m1 granted
/// while m0 still holds, as the simulator's
/// `clocks_beyond_the_bound_are_caught_by_the_auditor` does.
#[test]
fn clocks_beyond_the_bound_are_caught_by_the_exhaustive_search() {
    let model = Model {
        ppm: [-500_000, 900_000, 900_000],
        ..Model::small()
    };
    let e = Explorer::new(model);
    let b = bounds(12, 0, 0);
    let r = e.explore(e.held(&b), &b);
    let Some((finding, path, trace)) = r.violation else {
        panic!("no violation found: {r:?}");
    };
    assert!(
        matches!(
            finding,
            Finding::Audit(Violation::DoubleGrant {
                site: 1,
                other: 0,
                ..
            })
        ),
        "{finding}\n{trace}"
    );
    assert!(path.len() <= 12);
    assert!(path.iter().any(|a| matches!(a, Action::Fire(1))), "{trace}");
}
