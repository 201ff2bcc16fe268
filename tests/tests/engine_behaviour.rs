//! booth 1.x behaviours the random simulation does not pin down, scripted on
//! the simulator: admin answers, the commit delay, manual tickets, the
//! `attr-prereq auto` gate and a failing handler.

use booth_core::engine::Owner;
use booth_core::wire::ResultCode;
use booth_core::SiteId;
use booth_tests::sim::{Sim, Spec};

const SECOND: u64 = 1000;

fn run_until_holder(sim: &mut Sim, site: usize, within: u64) -> u64 {
    let start = sim.now;
    while sim.holder(0) != Some(site) {
        assert!(
            sim.now < start + within,
            "m{site} not granted within {within} ms\n{}",
            sim.trace.dump()
        );
        let next = sim.now + 10;
        sim.run_until(next);
    }
    sim.now - start
}

fn assert_safe(sim: &Sim) {
    assert!(
        sim.auditor.violations.is_empty(),
        "{:?}",
        sim.auditor.violations
    );
}

#[test]
fn admin_answers_match_booth() {
    let mut sim = Sim::new(Spec::basic(), 1);
    sim.run_until(SECOND);
    // booth §3.5: an arbitrator cannot be granted a ticket.
    assert_eq!(
        sim.grant(2, 0, false).unwrap().result,
        ResultCode::InvalidArg
    );
    assert_eq!(sim.revoke(0, 0).unwrap().result, ResultCode::TicketIdle);
    assert_eq!(sim.grant(0, 0, false).unwrap().result, ResultCode::More);
    run_until_holder(&mut sim, 0, 2 * SECOND);
    // Granting an owned automatic ticket is an over-grant, even at the holder.
    assert_eq!(
        sim.grant(0, 0, false).unwrap().result,
        ResultCode::Overgrant
    );
    assert_eq!(sim.grant(1, 0, true).unwrap().result, ResultCode::Overgrant);
    // booth §3.8: a revoke at a non-holder redirects to the holder.
    let r = sim.revoke(1, 0).unwrap();
    assert_eq!(
        (r.result, r.leader),
        (ResultCode::Redirect, SiteId::from_ipv4([127, 0, 0, 2]).0)
    );
    assert_eq!(sim.revoke(0, 0).unwrap().result, ResultCode::Success);
    sim.run_until(3 * SECOND);
    for m in 0..3 {
        let v = sim.view(m, 0).unwrap();
        assert_eq!(v.owner, Owner::NoOne, "m{m} after the revoke");
        assert!(!v.granted);
    }
    assert_eq!(sim.holder(0), None);
    assert_safe(&sim);
}

// booth §3.5 step 7: without -F, a grant that not every site voted for is
// committed to the CIB only after expire + acquire-after (the silent site
// might still hold the ticket); -F skips the wait.
#[test]
fn commit_is_delayed_unless_every_site_voted_or_forced() {
    let mut sim = Sim::new(Spec::basic(), 2);
    sim.run_until(SECOND);
    sim.crash(1);
    sim.grant(0, 0, false);
    let waited = run_until_holder(&mut sim, 0, 15 * SECOND);
    // 10 s on the holder's clock, which may run 0.1 % fast.
    assert!(
        waited >= 9_990,
        "committed after {waited} ms, before expire"
    );
    assert_safe(&sim);

    let mut sim = Sim::new(Spec::basic(), 3);
    sim.run_until(SECOND);
    sim.crash(1);
    sim.grant(0, 0, true);
    let waited = run_until_holder(&mut sim, 0, 15 * SECOND);
    assert!(waited < SECOND, "a forced grant waited {waited} ms");
    assert_safe(&sim);

    let mut sim = Sim::new(Spec::basic(), 4);
    sim.run_until(SECOND);
    sim.grant(0, 0, false);
    let waited = run_until_holder(&mut sim, 0, 15 * SECOND);
    assert!(
        waited < SECOND,
        "every site voted, yet the commit waited {waited} ms"
    );
}

// booth §3.10: manual tickets have no election and no lease; the holder keeps
// the ticket through a partition, and a revoke ends it.
#[test]
fn manual_tickets_follow_the_admin_only() {
    let mut spec = Spec::basic();
    spec.manual = true;
    let mut sim = Sim::new(spec, 5);
    sim.run_until(SECOND);
    sim.grant(0, 0, false);
    run_until_holder(&mut sim, 0, SECOND);
    // Committed at once; the others hear of it from the heartbeat.
    sim.run_until(2 * SECOND);
    assert_eq!(
        sim.view(1, 0).unwrap().owner,
        Owner::Site(SiteId::from_ipv4([127, 0, 0, 2]))
    );
    assert_eq!(
        sim.grant(1, 0, false).unwrap().result,
        ResultCode::Overgrant
    );
    sim.net.isolate(&[0]);
    sim.run_until(60 * SECOND);
    assert_eq!(sim.holder(0), Some(0), "a manual grant does not expire");
    assert_eq!(sim.counters(1).unwrap().elections_started, 0);
    sim.net.heal();
    assert_eq!(sim.revoke(0, 0).unwrap().result, ResultCode::Success);
    sim.run_until(62 * SECOND);
    assert_eq!(sim.holder(0), None);
}

// booth's manual_selection: a manual grant is the admin's word. It is
// committed at once, without anyone's acknowledgement (a two-site formation
// whose other site is down could never grant otherwise), and `-F` while the
// other site holds it grants here too: booth's multi-grant, which the admin
// must resolve (issue 11: the forced site listed itself leader but never
// wrote the grant, and the client hung).
#[test]
fn manual_grants_commit_at_once_and_force_is_a_multi_grant() {
    let mut spec = Spec::basic();
    spec.manual = true;
    let mut sim = Sim::new(spec, 9);
    sim.run_until(SECOND);
    sim.grant(0, 0, false);
    sim.run_until(SECOND + 1);
    assert!(sim.view(0, 0).unwrap().granted, "not committed at once");
    sim.run_until(2 * SECOND);
    let site0 = Owner::Site(SiteId::from_ipv4([127, 0, 0, 2]));
    assert_eq!(sim.view(1, 0).unwrap().owner, site0);

    // Site 1 alone, cut off from everybody, forces the grant.
    sim.net.isolate(&[1]);
    assert_eq!(
        sim.grant(1, 0, false).unwrap().result,
        ResultCode::Overgrant
    );
    let r = sim.grant(1, 0, true).unwrap();
    assert_eq!(r.result, ResultCode::More);
    sim.run_until(2 * SECOND + 1);
    let v1 = sim.view(1, 0).unwrap();
    assert!(v1.granted, "the forced grant was not committed: {v1:?}");
    assert_eq!(v1.owner, Owner::Site(SiteId::from_ipv4([127, 0, 0, 3])));
    assert_eq!(v1.expires, None, "a manual grant has no end");
    assert!(sim.view(0, 0).unwrap().granted, "booth keeps both granted");
    // A second -F at the holder is an over-grant, not "granting a granted
    // ticket" at a site that never held it.
    assert_eq!(sim.grant(1, 0, true).unwrap().result, ResultCode::Overgrant);
}

// booth §3.6: `attr-prereq auto` gates failover elections at a site.
#[test]
fn failover_waits_for_the_auto_prerequisite() {
    let mut sim = Sim::new(Spec::basic(), 6);
    sim.run_until(SECOND);
    sim.grant(0, 0, true);
    run_until_holder(&mut sim, 0, SECOND);
    sim.set_failover_allowed(1, 0, false);
    sim.crash(0);
    sim.run_until(40 * SECOND);
    assert_eq!(
        sim.holder(0),
        None,
        "m1 took the ticket although its prerequisite fails"
    );
    sim.set_failover_allowed(1, 0, true);
    run_until_holder(&mut sim, 1, 5 * SECOND);
    assert_safe(&sim);
}

// booth §3.9: a holder whose handler fails at renewal steps down; the other
// site takes over at once (reason Spdn), without waiting for the lease.
#[test]
fn failing_handler_steps_the_holder_down() {
    let mut spec = Spec::basic();
    spec.handler = true;
    let mut sim = Sim::new(spec, 7);
    sim.run_until(SECOND);
    sim.grant(0, 0, true);
    run_until_holder(&mut sim, 0, 2 * SECOND);
    sim.fail_handlers(0, true);
    let started = sim.now;
    run_until_holder(&mut sim, 1, 20 * SECOND);
    // Renewal at expire/2, then the step-down and one election round.
    assert!(
        sim.now - started < 9 * SECOND,
        "took {} ms",
        sim.now - started
    );
    assert_safe(&sim);
}
