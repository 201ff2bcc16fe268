//! Mixed formations with the real booth 1.x (Debian's 1.0-283) and ours, each
//! in a network namespace of its own (tests/src/interop).
//!
//! The matrix (issue 4): for (1) our arbitrator with two booth sites, (2) a
//! booth site, our site and a booth arbitrator, (3) our two sites with a booth
//! arbitrator and (4) all ours, each with and without an authfile: grants
//! from both clients, revokes at the holder and through a non-holder (booth's
//! redirect), failover after SIGKILL of the holder, restart of the killed
//! member, a partition of the holder (both sites in turn) and of a follower
//! for longer than a lease. After every step every running
//! member's `booth list`, through both clients, names the same leader, the
//! sites' CIBs (stub `crm_ticket` logs) agree with it, and no two sites' CIB
//! grants overlapped. Every datagram of the run is checked against booth's
//! rules and booth-core's decoder.
//!
//! Timing: `expire = 10, timeout = 1, retries = 3, acquire-after = 0`.
//!
//! The tests need root (namespaces) and booth installed; CI has both
//! (scripts/setup). Elsewhere they print why and pass without running.

use std::time::{Duration, Instant};

use booth_tests::interop::audit::{audit, WireAudit};
use booth_tests::interop::boothwire::{self, Fields};
use booth_tests::interop::capture::Capture;
use booth_tests::interop::cib::Interval;
use booth_tests::interop::formation::{
    parse_peers, unavailable, Formation, Impl, Key, Params, Role, Spec,
};
use booth_tests::interop::netns::run_in_new_netns;
use booth_tests::interop::process::{self, Output};

const B: Impl = Impl::Booth;
const O: Impl = Impl::Ours;
const SITE: Role = Role::Site;
const ARB: Role = Role::Arbitrator;

const AGREE: Duration = Duration::from_secs(6);
/// A lease (10 s) plus an election and its back-off, with room for a loaded machine.
const FAILOVER: Duration = Duration::from_secs(25);

fn available() -> bool {
    match unavailable() {
        Some(why) => {
            eprintln!("interop test not run: {why}");
            false
        }
        None => true,
    }
}

fn expect_ok(out: &Output, what: &str, needle: &str) {
    assert!(
        out.ok() && format!("{}{}", out.stdout, out.stderr).contains(needle),
        "{what}: expected exit 0 and {needle:?}, got {out:#?}"
    );
}

/// Every interval of one of our sites starts with a term above every
/// earlier grant's (the fencing token rises for every new holder of ours).
fn assert_our_terms_rise(f: &Formation, ivs: &[Interval]) {
    let mut sorted: Vec<&Interval> = ivs.iter().collect();
    sorted.sort_by(|a, b| a.from.total_cmp(&b.from));
    for (k, iv) in sorted.iter().enumerate() {
        let ours = f
            .members
            .iter()
            .any(|m| m.imp == Impl::Ours && m.label() == iv.site);
        if !ours || k == 0 {
            continue;
        }
        let prev = &sorted[k - 1];
        if prev.site != iv.site {
            assert!(
                iv.term > prev.term,
                "{}: our new holder's term does not rise: {prev} then {iv}",
                f.name
            );
        }
    }
}

fn check_wire(f: &Formation, a: &WireAudit) {
    assert!(a.total > 0, "{}: no datagram captured", f.name);
    assert!(
        a.problems.is_empty(),
        "{}: {} of {} datagrams break booth's rules or booth-core's decoder:\n{}",
        f.name,
        a.problems.len(),
        a.total,
        a.problems.join("\n")
    );
}

/// How often booth members logged "packet timestamp older than previous
/// one" about a member of ours, and about a booth member.
fn timestamp_warnings(f: &Formation) -> (usize, usize) {
    let (mut ours, mut booth) = (0, 0);
    for (i, m) in f.members.iter().enumerate() {
        if m.imp != Impl::Booth {
            continue;
        }
        for l in f.member_log(i).lines() {
            if !l.contains("packet timestamp older than previous one") {
                continue;
            }
            match f.members.iter().find(|o| l.contains(&format!("{}:", o.ip))) {
                Some(o) if o.imp == Impl::Ours => ours += 1,
                Some(_) => booth += 1,
                None => {}
            }
        }
    }
    (ours, booth)
}

/// The matrix scenario on members [site 1, site 2, arbitrator].
fn matrix(name: &'static str, members: [(Impl, Role); 3], key: Key) {
    if !available() {
        return;
    }
    let report = run_in_new_netns(name, move |ns| {
        let started = Instant::now();
        let spec = Spec::new(&members, key);
        let mut f = Formation::new(ns, name, spec);
        let cap = Capture::start(f.port).expect("packet capture on lo");
        let (s1, s2, a) = (0, 1, 2);
        let ip1 = f.members[s1].ip.clone();
        let ip2 = f.members[s2].ip.clone();
        let mut steps: Vec<(String, f64)> = Vec::new();

        f.start_all();
        f.wait_agree("start", None, AGREE);

        // Grants and revokes through both clients, at the holder and not.
        let plan: [(&str, bool, usize, Impl, Option<&str>); 7] = [
            ("grant at site 1, our client", true, s1, O, Some(&ip1)),
            ("revoke at the holder, booth's client", false, s1, B, None),
            ("grant at site 2, booth's client", true, s2, B, Some(&ip2)),
            ("revoke via the non-holder, our client", false, s1, O, None),
            ("grant at site 1, booth's client", true, s1, B, Some(&ip1)),
            (
                "revoke via the non-holder, booth's client",
                false,
                s2,
                B,
                None,
            ),
            ("grant at site 1, our client", true, s1, O, Some(&ip1)),
        ];
        for (step, grant, at, via, expected) in plan {
            let out = if grant {
                f.grant(at, via)
            } else {
                f.revoke(at, via)
            };
            let word = if grant {
                "grant succeeded"
            } else {
                "revoke succeeded"
            };
            expect_ok(&out, step, word);
            let agree = f.wait_agree(step, expected, AGREE);
            steps.push((step.to_owned(), (out.took + agree).as_secs_f64()));
        }

        // Failover after SIGKILL of the holder (site 1).
        f.kill(s1);
        let t = f.wait_agree("failover after SIGKILL of the holder", Some(&ip2), FAILOVER);
        steps.push(("failover after SIGKILL".to_owned(), t.as_secs_f64()));

        // The killed member comes back and follows the new holder.
        f.start(s1);
        f.wait_ready(false);
        let t = f.wait_agree("restart of the killed member", Some(&ip2), AGREE * 2);
        steps.push(("restart of the killed member".to_owned(), t.as_secs_f64()));

        // Partitions of the holder, site 2 then site 1: the other site and
        // the arbitrator elect, the isolated holder gives the ticket up first,
        // and after healing it follows.
        for (holder, other, other_ip) in [(s2, s1, &ip1), (s1, s2, &ip2)] {
            let hip = f.members[holder].ip.clone();
            let who = f.members[holder].imp.word();
            f.ns.partition(&hip);
            f.note(format!("partitioned {hip}"));
            let step = format!("failover after partition of the holder ({who})");
            let t = f.wait_agree_on(&step, &[other, a], Some(other_ip), FAILOVER);
            steps.push((step, t.as_secs_f64()));
            f.ns.heal();
            f.note("healed");
            let step = format!("healed, the old holder ({who}) follows");
            let t = f.wait_agree(&step, Some(other_ip), AGREE * 2);
            steps.push((step, t.as_secs_f64()));
            if holder == s2 {
                // The old holder, now a follower, is cut off for longer than a
                // lease: the holder keeps the ticket, and after healing the
                // follower (whose lease copy ran out, so it tried elections)
                // follows it again.
                f.ns.partition(&hip);
                f.note(format!("partitioned the follower {hip}"));
                let cut = Instant::now();
                f.wait_agree_on("follower cut off", &[other, a], Some(other_ip), AGREE);
                process::poll(FAILOVER, Duration::from_millis(200), || {
                    f.list(holder, O)
                        .ok()
                        .filter(|l| l.leader.is_none())
                        .map(|_| ())
                })
                .expect("the cut-off follower's lease copy runs out");
                let lost = cut.elapsed();
                f.ns.heal();
                f.note("healed");
                let step = format!("healed, the cut-off follower ({who}) follows");
                let t = f.wait_agree(&step, Some(other_ip), AGREE * 2);
                steps.push((
                    format!("follower ({who}) cut off until its copy ran out"),
                    lost.as_secs_f64(),
                ));
                steps.push((step, t.as_secs_f64()));
            }
        }

        f.assert_single_holder("the whole run");
        let ivs = f.intervals();
        assert_our_terms_rise(&f, &ivs);
        let dgs = cap.datagrams();
        drop(cap);
        let wire = audit(&f, &dgs);
        check_wire(&f, &wire);

        let (from_ours, from_booth) = timestamp_warnings(&f);
        let mut s = format!(
            "==== {name}: {} — passed in {:.1} s\n",
            f.spec.describe(),
            started.elapsed().as_secs_f64()
        );
        s += &format!(
            "  booth's \"packet timestamp older than previous one\" warnings: about our \
             members {from_ours}, about booth members {from_booth}\n"
        );
        for (step, secs) in &steps {
            s += &format!("  {step:<48} {secs:7.3} s\n");
        }
        s += "  CIB grant intervals:\n";
        for iv in &ivs {
            s += &format!("    {iv}\n");
        }
        s += &format!(
            "  {} datagrams checked (ours stamped without a key: {}):\n{}",
            wire.total,
            wire.stamped_without_key,
            wire.table()
        );
        s
    });
    println!("{report}");
}

// (1) our arbitrator with two booth sites
#[test]
fn matrix_1_our_arbitrator_booth_sites_no_auth() {
    matrix("m1-noauth", [(B, SITE), (B, SITE), (O, ARB)], Key::None);
}

#[test]
fn matrix_1_our_arbitrator_booth_sites_auth() {
    matrix("m1-auth", [(B, SITE), (B, SITE), (O, ARB)], Key::Ascii);
}

// (2) one booth site, one of ours, a booth arbitrator
#[test]
fn matrix_2_booth_site_our_site_booth_arbitrator_no_auth() {
    matrix("m2-noauth", [(B, SITE), (O, SITE), (B, ARB)], Key::None);
}

#[test]
fn matrix_2_booth_site_our_site_booth_arbitrator_auth() {
    matrix("m2-auth", [(B, SITE), (O, SITE), (B, ARB)], Key::Binary);
}

// (3) our two sites with a booth arbitrator
#[test]
fn matrix_3_our_sites_booth_arbitrator_no_auth() {
    matrix("m3-noauth", [(O, SITE), (O, SITE), (B, ARB)], Key::None);
}

#[test]
fn matrix_3_our_sites_booth_arbitrator_auth() {
    matrix("m3-auth", [(O, SITE), (O, SITE), (B, ARB)], Key::Ascii);
}

// (4) all ours: the reference
#[test]
fn matrix_4_all_ours_no_auth() {
    matrix("m4-noauth", [(O, SITE), (O, SITE), (O, ARB)], Key::None);
}

#[test]
fn matrix_4_all_ours_auth() {
    matrix("m4-auth", [(O, SITE), (O, SITE), (O, ARB)], Key::Binary);
}

/// Writes the before-acquire-handler the ticket lines point at: it fails at
/// the member whose flag file `fail-<its address>` exists.
fn write_handler(f: &Formation) {
    use std::os::unix::fs::PermissionsExt;
    let path = f.dir.join("handler");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n[ -e \"{}/fail-$BOOTH_LOCAL\" ] && exit 1\nexit 0\n",
            f.dir.display()
        ),
    )
    .expect("write the handler");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn set_handler_failing(f: &mut Formation, i: usize, failing: bool) {
    let flag = f.dir.join(format!("fail-{}", f.members[i].ip));
    if failing {
        std::fs::write(&flag, "").expect("flag");
    } else {
        let _ = std::fs::remove_file(&flag);
    }
    let label = f.members[i].label();
    f.note(format!("handler of {label} now fails: {failing}"));
}

/// Byte-level agreement: a booth site, our site and a booth arbitrator go
/// through grants and revokes at either site, handler-failure step-downs by
/// either holder, restarts of our site and booth's arbitrator, and an
/// owned-ticket grant, with `key`. Every datagram must pass booth's rules (HMAC with
/// booth's reading of the key file) and booth-core's decoder, and the kinds
/// both implementations sent are compared.
fn byte_level(name: &'static str, key: Key) {
    if !available() {
        return;
    }
    let report = run_in_new_netns(name, move |ns| {
        let mut spec = Spec::new(&[(B, SITE), (O, SITE), (B, ARB)], key);
        spec.params.ticket_lines += "    before-acquire-handler = @DIR@/handler\n";
        let mut f = Formation::new(ns, name, spec);
        assert!(
            f.dir.join("handler").display().to_string().len() <= 64,
            "booth limits config values to 64 characters"
        );
        write_handler(&f);
        let cap = Capture::start(f.port).expect("packet capture on lo");
        let (s1, s2) = (0, 1);
        let (ip1, ip2) = (f.members[s1].ip.clone(), f.members[s2].ip.clone());
        f.start_all();
        f.wait_agree("start", None, AGREE);

        expect_ok(&f.grant(s2, B), "grant at our site", "grant succeeded");
        f.wait_agree("grant at our site", Some(&ip2), AGREE);
        expect_ok(&f.revoke(s2, O), "revoke at our site", "revoke succeeded");
        f.wait_agree("revoke at our site", None, AGREE);
        expect_ok(&f.grant(s1, B), "grant at booth's site", "grant succeeded");
        f.wait_agree("grant at booth's site", Some(&ip1), AGREE);
        // booth's holder steps down at its next renewal (VtFr NO_ONE, LocF).
        set_handler_failing(&mut f, s1, true);
        f.wait_agree("booth's holder stepped down", Some(&ip2), FAILOVER);
        set_handler_failing(&mut f, s1, false);
        // And ours.
        set_handler_failing(&mut f, s2, true);
        f.wait_agree("our holder stepped down", Some(&ip1), FAILOVER);
        set_handler_failing(&mut f, s2, false);
        // Our site restarts while booth's holds (Stat / MIdx).
        f.kill(s2);
        f.start(s2);
        f.wait_ready(false);
        f.wait_agree("our site restarted", Some(&ip1), AGREE * 2);
        // And booth's arbitrator (its Stat reaches our site for certain).
        f.kill(2);
        f.start(2);
        f.wait_ready(false);
        f.wait_agree("booth's arbitrator restarted", Some(&ip1), AGREE * 2);
        // A grant of an owned ticket is refused over TCP; revoke.
        let over = f.grant(s2, O);
        assert!(!over.ok(), "granting an owned ticket must fail: {over:#?}");
        expect_ok(&f.revoke(s2, B), "revoke via our site", "revoke succeeded");
        f.wait_agree("revoked", None, AGREE);
        f.assert_single_holder("the whole run");

        let dgs = cap.datagrams();
        drop(cap);
        let wire = audit(&f, &dgs);
        check_wire(&f, &wire);
        // Both implementations spoke every kind this run needs, with the
        // same lengths.
        for kind in [
            "Stat",
            "MIdx(Stat)",
            "RVot[Admn]",
            "RVot[Spdn]",
            "VtFr(RVot)",
            "VtFr[LocF]",
            "HrtB",
            "Ack.(HrtB)",
            "UpdE",
            "Ack.(UpdE)",
            "Revk[Admn]",
            "Ack.(Revk)",
        ] {
            let c = wire.kinds.get(kind).cloned().unwrap_or_default();
            assert!(
                c.booth > 0 && c.ours > 0,
                "{name}: {kind} not sent by both:\n{}",
                wire.table()
            );
        }
        for (k, c) in &wire.kinds {
            if c.booth > 0 && c.ours > 0 {
                assert_eq!(
                    c.booth_lens,
                    c.ours_lens,
                    "{name}: {k} lengths differ:\n{}",
                    wire.table()
                );
            }
        }
        format!(
            "==== {name}: {} datagrams ({}) agree with booth's rules and booth-core's \
             decoder; only booth sent {:?}, only ours {:?}\n{}",
            wire.total,
            f.spec.params.key.word(),
            wire.only_booth(),
            wire.only_ours(),
            wire.table()
        )
    });
    println!("{report}");
}

#[test]
fn bytes_agree_with_an_ascii_key() {
    byte_level("bytes-ascii", Key::Ascii);
}

#[test]
fn bytes_agree_with_a_binary_key() {
    byte_level("bytes-binary", Key::Binary);
}

#[test]
fn bytes_agree_without_a_key() {
    byte_level("bytes-nokey", Key::None);
}

/// Polls every member in `watch` for `secs` seconds: each must keep naming
/// `leader` (no flapping). Returns how many polls there were.
fn hold_steady(f: &mut Formation, watch: &[usize], leader: &str, secs: u64) -> usize {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut polls = 0;
    while Instant::now() < end {
        for (who, via, v) in f.views_of(watch) {
            let l = v.unwrap_or_else(|e| panic!("{}: {who}: {e}", f.name));
            assert_eq!(
                l.leader.as_deref(),
                Some(leader),
                "{}: {who} via {} client stopped naming {leader}: {}\n{}",
                f.name,
                via.word(),
                l.raw,
                f.timeline_text()
            );
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    f.assert_single_holder("holding steady");
    polls
}

/// The CIB writes of site `i` with "granted" since `from`, and their terms.
fn grant_terms(f: &Formation, i: usize, from: f64) -> Vec<u32> {
    booth_tests::interop::cib::parse_log(&f.crm_log(i))
        .into_iter()
        .filter(|w| w.at >= from && w.granted)
        .map(|w| w.term)
        .collect()
}

/// A booth site whose authfile differs from ours: our two members hold the
/// ticket undisturbed, the booth site never gets it, and both sides count
/// and log the authentication failures.
#[test]
fn key_disagreement_is_reported_and_does_not_flap() {
    if !available() {
        return;
    }
    let report = run_in_new_netns("key-mismatch", |ns| {
        let mut spec = Spec::new(&[(B, SITE), (O, SITE), (O, ARB)], Key::Binary);
        spec.overrides.push((0, Params::standard(Key::Ascii)));
        let mut f = Formation::new(ns, "key-mismatch", spec);
        let (s1, s2, a) = (0, 1, 2);
        let ip2 = f.members[s2].ip.clone();
        for i in 0..3 {
            f.start(i);
        }
        f.wait_ready(false);
        expect_ok(&f.grant(s2, O), "grant at our site", "grant succeeded");
        // booth's site did not vote, so the CIB commit waits one lease
        // (booth's commit delay, booth-protocol.md §3.5).
        f.wait_agree_on("grant at our site", &[s2, a], Some(&ip2), FAILOVER);
        let since = formation_now();
        // booth's site cannot win anybody's vote.
        let refused = f.grant(s1, B);
        let polls = hold_steady(&mut f, &[s2, a], &ip2, 12);
        let booth_view = f.list(s1, B).expect("booth's list");
        assert_eq!(
            booth_view.leader, None,
            "booth's site learnt a leader: {booth_view:?}"
        );
        assert!(!f.cib_granted(s1), "booth's site granted itself");
        let terms = grant_terms(&f, s2, since);
        assert!(
            terms.len() >= 2 && terms.iter().all(|&t| t == terms[0]),
            "our holder's renewals changed term (or stopped): {terms:?}"
        );
        // Observable on both sides.
        // (Our arbitrator only answers, and it cannot verify booth's site,
        // so booth's site may never hear from it.)
        let booth_peers = parse_peers(&f.peers(s1, B).stdout);
        let ours_peers = parse_peers(&f.peers(s2, O).stdout);
        let arb_peers = parse_peers(&f.peers(a, O).stdout);
        let fails = |p: &[booth_tests::interop::formation::PeerCounts], ip: &str| {
            p.iter().find(|c| c.ip == ip).map_or(0, |c| c.authfail)
        };
        let ip1 = f.members[s1].ip.clone();
        assert!(
            fails(&booth_peers, &ip2) > 0,
            "booth's peers show no authentication failures: {booth_peers:?}"
        );
        assert!(
            fails(&ours_peers, &ip1) > 0 && fails(&arb_peers, &ip1) > 0,
            "our peers show no authentication failures: {ours_peers:?} {arb_peers:?}"
        );
        let our_log = f.member_log(s2);
        let booth_log = f.member_log(s1);
        let our_line = our_log
            .lines()
            .find(|l| l.contains(&ip1) && l.contains("authentication"))
            .unwrap_or_else(|| panic!("our log does not name the failure:\n{our_log}"))
            .to_owned();
        let booth_line = booth_log
            .lines()
            .find(|l| l.to_lowercase().contains("auth"))
            .unwrap_or_else(|| panic!("booth's log does not name the failure"))
            .to_owned();
        format!(
            "==== key-mismatch: our holder stayed for {polls} polls; booth's grant: exit {:?} \
             {:?}\n  booth peers: {booth_peers:?}\n  our peers: {ours_peers:?}\n  ours logs: \
             {our_line}\n  booth logs: {booth_line}",
            refused.code,
            refused.stderr.trim()
        )
    });
    println!("{report}");
}

fn formation_now() -> f64 {
    booth_tests::interop::formation::wall_now()
}

/// A booth site configured with `expire = 20` in a formation whose other
/// members (ours) say `expire = 10`: our members log that booth's site
/// grants longer leases than they do; booth says nothing. Either way the
/// holder stays put through its renewals.
#[test]
fn timing_disagreement_is_reported_and_does_not_flap() {
    if !available() {
        return;
    }
    let report = run_in_new_netns("timing-mismatch", |ns| {
        let mut spec = Spec::new(&[(B, SITE), (O, SITE), (O, ARB)], Key::Ascii);
        let mut long = Params::standard(Key::Ascii);
        long.ticket_lines = long.ticket_lines.replace("expire = 10", "expire = 20");
        spec.overrides.push((0, long));
        let mut f = Formation::new(ns, "timing-mismatch", spec);
        let (s1, s2, a) = (0, 1, 2);
        let (ip1, ip2) = (f.members[s1].ip.clone(), f.members[s2].ip.clone());
        f.start_all();
        // booth's site holds: 19 s leases reach our members.
        expect_ok(&f.grant(s1, B), "grant at booth's site", "grant succeeded");
        f.wait_agree("grant at booth's site", Some(&ip1), AGREE);
        let since = formation_now();
        let polls1 = hold_steady(&mut f, &[s1, s2, a], &ip1, 12);
        let booth_terms = grant_terms(&f, s1, since);
        assert!(
            !booth_terms.is_empty() && booth_terms.iter().all(|&t| t == booth_terms[0]),
            "booth's holder changed term or stopped renewing: {booth_terms:?}"
        );
        for i in [s2, a] {
            let log = f.member_log(i);
            assert!(
                log.lines()
                    .any(|l| l.contains("grants longer leases than we do") && l.contains(&ip1)),
                "{} did not report the timing mismatch:\n{log}",
                f.members[i].label()
            );
        }
        let warnings = f
            .member_log(s2)
            .lines()
            .filter(|l| l.contains("grants longer leases"))
            .count();
        // Our site holds: booth's site follows 9 s leases.
        expect_ok(&f.revoke(s1, O), "revoke", "revoke succeeded");
        f.wait_agree("revoke", None, AGREE);
        expect_ok(&f.grant(s2, B), "grant at our site", "grant succeeded");
        f.wait_agree("grant at our site", Some(&ip2), AGREE);
        let since = formation_now();
        let polls2 = hold_steady(&mut f, &[s1, s2, a], &ip2, 12);
        let our_terms = grant_terms(&f, s2, since);
        assert!(
            our_terms.len() >= 2 && our_terms.iter().all(|&t| t == our_terms[0]),
            "our holder changed term or stopped renewing: {our_terms:?}"
        );
        let booth_said = f
            .member_log(s1)
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .filter(|l| !l.contains("timestamp") && !l.contains("setrlimit"))
            .filter(|l| !l.contains("Core dumps") && !l.contains("Consider setting"))
            .map(str::to_owned)
            .collect::<Vec<_>>();
        format!(
            "==== timing-mismatch: booth holder steady for {polls1} polls, ours for {polls2}; \
             our site logged the mismatch {warnings} times; booth's warnings/errors: \
             {booth_said:#?}"
        )
    });
    println!("{report}");
}

/// Waits for a captured datagram after `mark` that `pred` accepts.
fn wait_datagram(
    cap: &Capture,
    mark: usize,
    limit: Duration,
    pred: impl Fn(&booth_tests::interop::capture::Datagram, &Fields) -> bool,
) -> Option<booth_tests::interop::capture::Datagram> {
    process::poll(limit, Duration::from_millis(5), || {
        cap.since(mark)
            .into_iter()
            .find(|d| Fields::read(&d.payload).is_ok_and(|f| pred(d, &f)))
    })
}

/// booth-protocol.md §10.1 #1, lease-safety.md §4.1: the holder's renewal
/// heartbeat is acknowledged by a majority, every UpdE that would carry the
/// renewed lease to the followers is lost, and then the holder is cut off.
/// The followers (booth 1.x) elect when the lease they know ends. A booth
/// holder extended its own lease on the heartbeat's acks and keeps the
/// ticket up to a renewal period longer: a double grant. Ours extends only
/// on acknowledged updates and lets go before its followers' copies end.
///
/// Returns (overlap in seconds, the grant intervals).
fn update_loss(name: &'static str, holder: Impl) -> (f64, Vec<Interval>) {
    run_in_new_netns(name, move |ns| {
        let spec = Spec::new(&[(holder, SITE), (B, SITE), (B, ARB)], Key::Ascii);
        let mut f = Formation::new(ns, name, spec);
        let cap = Capture::start(f.port).expect("packet capture on lo");
        let (s1, s2, a) = (0, 1, 2);
        let (ip1, ip2) = (f.members[s1].ip.clone(), f.members[s2].ip.clone());
        let holder_ip: std::net::Ipv4Addr = ip1.parse().expect("ip");
        f.start_all();
        expect_ok(&f.grant(s1, B), "grant", "grant succeeded");
        f.wait_agree("grant", Some(&ip1), AGREE);
        // One complete renewal (its UpdE acknowledged), then UpdE is lost.
        let mark = cap.len();
        let acked = |cmd: u32| {
            move |d: &booth_tests::interop::capture::Datagram, fl: &Fields| {
                d.dst == holder_ip && fl.cmd == boothwire::ACK && fl.request == cmd
            }
        };
        let first = wait_datagram(&cap, mark, AGREE, acked(boothwire::UPDE)).expect("grant");
        let mark = cap.len();
        let renewal = wait_datagram(&cap, mark, FAILOVER, |d, fl| {
            d.at > first.at + 1.0 && acked(boothwire::UPDE)(d, fl)
        })
        .expect("a renewal");
        f.ns.drop_kind_from(&ip1, boothwire::UPDE);
        f.note("every UpdE of the holder is dropped from now on");
        let mark = cap.len();
        let hb = wait_datagram(&cap, mark, FAILOVER, acked(boothwire::HRTB))
            .expect("the next renewal's heartbeat acknowledged");
        f.ns.partition(&ip1);
        f.note(format!(
            "heartbeat acked {:.3} s after the last complete renewal; holder partitioned",
            hb.at - renewal.at
        ));
        // The followers elect; wait until the old holder let go too.
        let done = process::poll(Duration::from_secs(30), Duration::from_millis(100), || {
            (f.cib_granted(s2) && !f.cib_granted(s1)).then_some(())
        });
        assert!(
            done.is_some(),
            "{name}: no failover to {ip2} with the old holder revoked:\n{}",
            f.timeline_text()
        );
        let views = f.views_of(&[s2, a]);
        assert!(
            views
                .iter()
                .all(|(_, _, v)| matches!(v, Ok(l) if l.leader.as_deref() == Some(ip2.as_str()))),
            "{name}: the majority side does not agree on {ip2}: {views:?}"
        );
        let ivs = f.intervals();
        let overlap = booth_tests::interop::cib::overlaps(&ivs)
            .iter()
            .map(|o| o.2)
            .fold(0.0, f64::max);
        f.note(format!("overlap {overlap:.3} s"));
        (overlap, ivs)
    })
}

fn show(ivs: &[Interval]) -> String {
    ivs.iter().map(|i| format!("    {i}\n")).collect()
}

#[test]
fn lost_updates_do_not_make_our_holder_overstay() {
    if !available() {
        return;
    }
    let (overlap, ivs) = update_loss("updE-ours", O);
    println!(
        "==== lost UpdE, then partition; our holder, booth followers: overlap {overlap:.3} s\n{}",
        show(&ivs)
    );
    assert_eq!(overlap, 0.0, "our holder overstayed its lease");
}

/// The control for the test above, and the booth defect it guards against:
/// the same faults make booth's own holder overstay (lease-safety.md §4.1,
/// until now only read in the source), so the fault injection works.
#[test]
fn lost_updates_make_a_booth_holder_overstay() {
    if !available() {
        return;
    }
    let (overlap, ivs) = update_loss("updE-booth", B);
    println!(
        "==== lost UpdE, then partition; booth holder, booth followers: overlap {overlap:.3} s\n{}",
        show(&ivs)
    );
    assert!(
        overlap > 0.5,
        "booth's holder did not overstay ({overlap:.3} s): the fault injection missed"
    );
}

/// The upgrade path of docs/compatibility.md, one member at a time, while a
/// booth site holds the ticket: booth's arbitrator, then the other booth
/// site, then the holder are stopped (SIGTERM, as systemd does) and started
/// again as ours with the same config, CIB and lock file. After every step
/// all members agree and no two sites' grants overlapped.
fn rolling_upgrade(name: &'static str, key: Key) {
    if !available() {
        return;
    }
    let report = run_in_new_netns(name, move |ns| {
        let spec = Spec::new(&[(B, SITE), (B, SITE), (B, ARB)], key);
        let mut f = Formation::new(ns, name, spec);
        let (s1, s2, a) = (0, 1, 2);
        let ip1 = f.members[s1].ip.clone();
        f.start_all();
        expect_ok(&f.grant(s1, B), "grant", "grant succeeded");
        f.wait_agree("grant", Some(&ip1), AGREE);
        let mut lines = Vec::new();
        for (i, what) in [
            (a, "the arbitrator"),
            (s2, "the other site"),
            (s1, "the holder"),
        ] {
            let before = f.leader();
            f.stop(i);
            f.replace_with(i, O);
            f.start(i);
            f.wait_ready(false);
            // The holder may keep the ticket (it re-acquires it) or lose it to
            // the other site once its lease ends; either way all must agree.
            let step = format!("{what} upgraded");
            let t0 = Instant::now();
            let leader = process::poll(FAILOVER, Duration::from_millis(200), || {
                let views = f.views();
                let first = views.first()?.2.as_ref().ok()?.leader.clone();
                views
                    .iter()
                    .all(|(_, _, v)| matches!(v, Ok(l) if l.leader == first && first.is_some()))
                    .then_some(first)
            })
            .flatten()
            .unwrap_or_else(|| panic!("{name}: {step}: no agreement: {:#?}", f.views()));
            f.wait_agree(&step, Some(&leader), AGREE);
            lines.push(format!(
                "  {step:<24} leader {before:?} -> {leader} after {:.3} s",
                t0.elapsed().as_secs_f64()
            ));
        }
        // All ours now: the ticket still moves on request.
        let other = if f.leader().as_deref() == Some(ip1.as_str()) {
            s2
        } else {
            s1
        };
        let other_ip = f.members[other].ip.clone();
        expect_ok(
            &f.revoke(other, B),
            "revoke after the upgrade",
            "revoke succeeded",
        );
        f.wait_agree("revoke after the upgrade", None, AGREE);
        expect_ok(
            &f.grant(other, B),
            "grant after the upgrade",
            "grant succeeded",
        );
        f.wait_agree("grant after the upgrade", Some(&other_ip), AGREE);
        f.assert_single_holder("the whole upgrade");
        let mut s = format!("==== {name}: {}\n", f.spec.describe());
        for l in lines {
            s += &l;
            s.push('\n');
        }
        for iv in f.intervals() {
            s += &format!("    {iv}\n");
        }
        s
    });
    println!("{report}");
}

#[test]
fn rolling_upgrade_one_member_at_a_time() {
    rolling_upgrade("upgrade", Key::Ascii);
}

/// A booth site whose config has `timeout = 500ms` sends lease times in
/// milliseconds (booth's TIME_MULT, booth-protocol.md §2.3); ours, with whole
/// seconds, read booth's 9999 as seconds. Our members log the disagreement
/// and stay safe: they keep our holder against booth's elections, and after
/// booth's holder dies they wait out the lease it advertised instead of
/// taking the ticket.
#[test]
fn unit_disagreement_is_reported_and_stays_safe() {
    if !available() {
        return;
    }
    let report = run_in_new_netns("unit-mismatch", |ns| {
        let mut spec = Spec::new(&[(B, SITE), (O, SITE), (O, ARB)], Key::Ascii);
        let mut ms = Params::standard(Key::Ascii);
        ms.ticket_lines = ms.ticket_lines.replace("timeout = 1", "timeout = 500ms");
        spec.overrides.push((0, ms));
        let mut f = Formation::new(ns, "unit-mismatch", spec);
        let (s1, s2, a) = (0, 1, 2);
        let (ip1, ip2) = (f.members[s1].ip.clone(), f.members[s2].ip.clone());
        f.start_all();
        // Our site holds; booth's site reads our 9 s as 9 ms.
        expect_ok(&f.grant(s2, O), "grant at our site", "grant succeeded");
        f.wait_agree_on("grant at our site", &[s2, a], Some(&ip2), AGREE);
        let polls = hold_steady(&mut f, &[s2, a], &ip2, 12);
        assert!(!f.cib_granted(s1), "booth's site took the ticket");
        let booth_elections = f
            .member_log(s1)
            .lines()
            .filter(|l| l.contains("starting new election"))
            .count();
        expect_ok(&f.revoke(s2, O), "revoke", "revoke succeeded");
        f.wait_agree_on("revoke", &[s2, a], None, AGREE);
        // booth's site holds and advertises 9999 (ms): our members log it.
        // (Its grant fails while one of its own elections still runs.)
        let granted = process::poll(AGREE, Duration::from_millis(300), || {
            let out = f.grant(s1, B);
            out.ok().then_some(out)
        })
        .expect("booth's site grants within a few tries");
        expect_ok(&granted, "grant at booth's site", "grant succeeded");
        f.wait_agree("grant at booth's site", Some(&ip1), AGREE);
        process::poll(AGREE, Duration::from_millis(100), || {
            f.member_log(s2)
                .lines()
                .any(|l| l.contains("grants longer leases than we do") && l.contains(&ip1))
                .then_some(())
        })
        .expect("our site reports booth's lease unit");
        // booth's holder dies: we do not take over within its lease as we
        // read it (9999 s); nobody holds the ticket meanwhile.
        f.kill(s1);
        std::thread::sleep(Duration::from_secs(15));
        assert!(
            !f.cib_granted(s2),
            "our site took the ticket within booth's lease"
        );
        f.assert_single_holder("the whole run");
        format!(
            "==== unit-mismatch: our holder steady for {polls} polls while booth's site started \
             {booth_elections} elections; after booth's holder died our site still waited \
             (lease read as 9999 s)\n"
        )
    });
    println!("{report}");
}
