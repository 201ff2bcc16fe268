//! booth-rs against a real Pacemaker: a single-node corosync + pacemakerd in
//! a network namespace the test creates, with an `ocf:pacemaker:Dummy`
//! resource bound to the ticket by `rsc_ticket` (loss-policy stop). Site 0
//! runs in that namespace and its `crm_ticket` writes the live CIB; site 1
//! writes a file CIB (`CIB_file=`, made by `cibadmin --empty`); the
//! arbitrator runs there too, so all three reach each other on the
//! namespace's loopback.
//!
//! Shown: the resource starts on grant and stops on revoke; after SIGKILL of
//! site 0's daemon the ticket goes to site 1 (only after site 0's lease
//! ended); Pacemaker itself never acts on `expires`, so the resource keeps
//! running at site 0 as long as site 0's CIB says granted: until its daemon
//! is back, learns that site 1 holds the ticket and revokes it locally, or
//! until a revoke from outside the killed process (which must come before
//! site 1's grant).
//!
//! Needs root (namespaces, Pacemaker); CI runs as root. Pacemaker's files in
//! /var/lib/pacemaker are shared by the host, so this is the only test that
//! starts a cluster; it refuses to run next to another pacemakerd.

use std::time::{Duration, Instant};

use booth_tests::formation::pacemaker::{Pacemaker, NODE};
use booth_tests::formation::{is_root, wait_for, Cib, Formation, Netns, Ticket};

const T: &str = "ticketA";
const RSC: &str = "dummyA";

#[test]
fn dummy_resource_follows_the_ticket_on_a_real_pacemaker() {
    if !is_root() {
        eprintln!("skipped: a real Pacemaker in a network namespace needs root (CI runs as root)");
        return;
    }
    let t_start = Instant::now();
    let ns = Netns::create().expect("ip netns add");
    let dir = std::env::temp_dir().join(format!("booth-rs-pacemaker-{}", std::process::id()));
    let pm = Pacemaker::start(ns.clone(), &dir).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "pacemaker: quorate after {:.1} s, DC after {:.1} s",
        pm.quorate_after.as_secs_f64(),
        pm.dc_after.as_secs_f64()
    );
    pm.add_dummy_with_ticket(RSC, T).unwrap();
    let locate = || pm.locate(RSC).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(locate(), None, "{RSC} runs without the ticket");

    let mut f = Formation::builder()
        .tag("pacemaker")
        .netns(ns.clone())
        .site_cibs(&[Cib::Live, Cib::File])
        .ticket(Ticket::fast(T))
        .start();
    let id0 = f.site_id(0).to_string();

    // Grant at the Pacemaker site: the resource starts there.
    let t0 = Instant::now();
    f.grant(0, T).assert_ok().assert_err("grant succeeded!");
    let node = wait_for(
        Duration::from_secs(30),
        "the resource to start on grant",
        locate,
    );
    assert_eq!(node, NODE);
    let started = t0.elapsed();
    // --locate names the node while the start still runs; crm_mon then says
    // "Starting" for a moment.
    wait_for(Duration::from_secs(10), "crm_mon to say Started", || {
        pm.crm_mon()
            .lines()
            .any(|l| l.contains(RSC) && l.contains("Started") && l.contains(NODE))
            .then_some(())
    });
    assert_eq!(f.cib_granted(0, T), Some(true));
    let state0 = f.cib_state(0, T).unwrap();
    assert!(
        state0.contains(&("owner".into(), id0.clone())),
        "{state0:?}"
    );
    assert!(
        state0.iter().any(|(k, _)| k == "booth-cfg-name"),
        "{state0:?}"
    );
    wait_for(
        Duration::from_secs(10),
        "site 1's file CIB to name site 0",
        || {
            f.cib_state(1, T)
                .filter(|s| s.contains(&("owner".into(), id0.clone())))
        },
    );
    assert_eq!(f.cib_granted(1, T), Some(false));

    // Revoke through site 1 (redirected to site 0): the resource stops.
    let t1 = Instant::now();
    f.revoke(1, T).assert_ok().assert_err("revoke succeeded!");
    wait_for(
        Duration::from_secs(30),
        "the resource to stop on revoke",
        || locate().is_none().then_some(()),
    );
    let stopped = t1.elapsed();
    assert_eq!(f.cib_granted(0, T), Some(false));
    eprintln!(
        "pacemaker: {RSC} started {:.2} s after the grant command, stopped {:.2} s after the revoke",
        started.as_secs_f64(),
        stopped.as_secs_f64()
    );

    // Grant again, then SIGKILL site 0's daemon: site 1 takes the ticket
    // once site 0's lease is over.
    f.grant(0, T).assert_ok();
    wait_for(
        Duration::from_secs(30),
        "the resource to start again",
        &locate,
    );
    let killed_at = f.kill9(0);
    let old = f.grant_intervals(0, T).pop().expect("site 0 granted");
    wait_for(
        Duration::from_secs(30),
        "site 1's CIB to say granted",
        || (f.cib_granted(1, T) == Some(true)).then_some(()),
    );
    let new = f.grant_intervals(1, T).pop().expect("site 1 granted");
    assert!(
        new.start > old.last_expires.unwrap() as f64,
        "site 1 granted at {} before site 0's lease end {:?}",
        new.start,
        old.last_expires
    );
    assert!(new.term > old.term);
    f.wait_leader(T, Some(1), Duration::from_secs(10));
    eprintln!(
        "pacemaker: site 1 granted {:.2} s after the SIGKILL (site 0's lease ended at +{:.2} s)",
        new.start - killed_at,
        old.last_expires.unwrap() as f64 - killed_at
    );
    // Pacemaker never acts on `expires`: the resource keeps running at site
    // 0 for as long as its CIB says granted. That is either until site 0's
    // daemon is back (booth 1.x's behaviour), or, if something outside the
    // killed process revoked site 0's CIB, then no later than site 1's grant.
    match f.grant_intervals(0, T).pop().and_then(|iv| iv.end) {
        None => {
            assert_eq!(f.cib_granted(0, T), Some(true));
            assert_eq!(locate().as_deref(), Some(NODE));
            eprintln!("pacemaker: site 0's CIB still says granted; {RSC} runs there");
        }
        Some(end) => {
            assert!(
                end <= new.start,
                "site 0's CIB revoked at {end}, after site 1's grant at {}",
                new.start
            );
            wait_for(
                Duration::from_secs(30),
                "the resource to stop at site 0",
                || locate().is_none().then_some(()),
            );
            eprintln!(
                "pacemaker: site 0's CIB revoked {:.2} s before site 1's grant",
                new.start - end
            );
        }
    }

    // Site 0's daemon back: it follows site 1, and its CIB says not granted.
    let was_running = locate().is_some();
    let t2 = Instant::now();
    f.start(0);
    wait_for(
        Duration::from_secs(30),
        "the resource to stop at the restarted site",
        || locate().is_none().then_some(()),
    );
    assert_eq!(f.cib_granted(0, T), Some(false));
    f.wait_leader(T, Some(1), Duration::from_secs(10));
    assert_eq!(f.cib_granted(1, T), Some(true));
    if was_running {
        eprintln!(
            "pacemaker: {RSC} stopped {:.2} s after site 0's daemon restarted",
            t2.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "pacemaker: whole test {:.1} s",
        t_start.elapsed().as_secs_f64()
    );
    drop(f);
    drop(pm);
    let _ = std::fs::remove_dir_all(&dir);
}
