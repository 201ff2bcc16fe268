//! Issue 9 with real components: a two-node Pacemaker site whose booth
//! daemon moves between its nodes keeps its ticket (docs/site-memory.md).
//!
//! Site 0 is a Pacemaker cluster of two nodes (corosync + pacemakerd each,
//! every node in network, mount and PID namespaces of its own, linked by
//! veth pairs to a bridge in a namespace the test creates;
//! [`Pacemaker::start_cluster`]). Its booth runs as the group `booth-grp`:
//! `ocf:heartbeat:IPaddr2` (the site's address, the floating IP) and our
//! agent `packaging/ocf/booth-site` (installed as `ocf:pacemaker:booth-site`
//! inside the nodes) running the release boothd, which daemonizes, logs to
//! the node's syslog and keeps its state in the node's `/var/lib/booth`. A
//! `Dummy` resource prefers node1 and is bound to the ticket by
//! `rsc_ticket` (loss-policy stop). Site 1 (a file CIB) and the arbitrator
//! are plain daemons of the formation on the bridge's namespace.
//!
//! Both tests grant at site 0 (the Dummy starts on node1), then a thread reads
//! site 0's CIB (`crm_ticket -t T -q` on a live node), the Dummy's state file
//! on node1 and site 1's file CIB every 100 ms.
//!
//! `the_ticket_stays_at_the_site_while_booth_moves_between_its_nodes`:
//! 1. `crm_resource --move` of the group to node2, then a lease and more: the
//!    CIB said granted at every reading, the Dummy never stopped, site 1 was
//!    never granted, and the old node's lease guard read the CIB at its
//!    deadline and left the grant alone;
//! 2. node2 in standby (the group goes back to node1): the same.
//!
//! `after_a_crash_of_the_daemons_node_the_ticket_is_never_granted_twice`:
//! 1. node1 (booth, its lease guard and the Dummy) crashes; Pacemaker starts
//!    the group and the Dummy on node2, whose booth reads the CIB: site 1's
//!    CIB may never say granted while site 0's does;
//! 2. node2 crashes too: site 1 is granted, after site 0's last lease.
//!
//! The second test fails today (ignored until fixed; run it with
//! `--ignored`): the crash kills the lease guard with the daemon, and the
//! CIB (replicated, so alive on node2) keeps `granted=true` past the lease
//! until Pacemaker has noticed the loss of node1 (corosync's token and
//! consensus, 6.6 s here), started booth-site on node2 (8.3 s after the
//! crash) and that daemon revoked. Crashed 4.5 s after a renewal, site 0's
//! lease ends 5.5 s after the crash; with the fast timings'
//! `acquire-after = 0` site 1 is granted 1.4 s after that, 2.6 s before site
//! 0's revoke, and Pacemaker starts the Dummy on node2 meanwhile (it ran
//! 0.8 s while site 1 held the ticket). Crashed just after a renewal, the
//! lease outlasts the recovery and node2's daemon leads on: that run passed.
//!
//! Needs root; CI runs as root. Takes the same lock as e2e_pacemaker.rs.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use booth_tests::formation::binary::{boothd, workspace_root};
use booth_tests::formation::cib::parse_ticket_state;
use booth_tests::formation::pacemaker::{ClusterSpec, Pacemaker, NODE_IF};
use booth_tests::formation::{
    epoch_now, is_root, run_with_limit, wait_for, Cib, Formation, Netns, Ticket, SYSTEM_PATH,
};

const T: &str = "ticketA";
const RSC: &str = "dummyA";
const GROUP: &str = "booth-grp";
const BOOTH_RSC: &str = "booth-site";
const BRIDGE: &str = "br0";
/// Longer than a lease (expire = 10 s) plus the time for the old node's guard
/// to reach its deadline.
const PAST_A_LEASE: Duration = Duration::from_secs(14);
/// The crash test's node1 crashes this long after a renewal, just before
/// the next one (expire = 10 s, renewed every 5 s).
const CRASH_AFTER_RENEWAL: Duration = Duration::from_millis(4500);

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, last)
}

/// One look at the site's state.
#[derive(Debug, Clone)]
struct Sample {
    at: f64,
    /// `granted` of site 0's CIB; `None`: no node answered.
    site0: Option<bool>,
    /// The Dummy's state file on node1 (its mtime), if there.
    dummy1: Option<SystemTime>,
    /// `granted` of site 1's file CIB (false when it has no state).
    site1: bool,
}

/// Reads every 100 ms until stopped.
fn poller(
    inits: Vec<u32>,
    alive: Arc<Vec<AtomicBool>>,
    cib1: PathBuf,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let at = epoch_now();
        let mut site0 = None;
        for (i, pid) in inits.iter().enumerate() {
            if !alive[i].load(Ordering::Relaxed) {
                continue;
            }
            let mut cmd = Command::new("nsenter");
            cmd.arg("--target")
                .arg(pid.to_string())
                .args([
                    "--mount",
                    "--net",
                    "--pid",
                    "--",
                    "crm_ticket",
                    "-t",
                    T,
                    "-q",
                ])
                .env_clear()
                .env("PATH", SYSTEM_PATH);
            let r = run_with_limit(cmd, Duration::from_secs(10));
            if r.code == 0 {
                site0 = parse_ticket_state(&r.stdout)
                    .map(|st| st.iter().any(|(k, v)| k == "granted" && v == "true"));
                break;
            }
        }
        let dummy1 = alive[0]
            .load(Ordering::Relaxed)
            .then(|| {
                fs::metadata(format!("/proc/{}/root/run/Dummy-{RSC}.state", inits[0]))
                    .and_then(|m| m.modified())
                    .ok()
            })
            .flatten();
        let site1 = fs::read_to_string(&cib1)
            .ok()
            .and_then(|x| parse_ticket_state(&x))
            .is_some_and(|st| st.iter().any(|(k, v)| k == "granted" && v == "true"));
        out.push(Sample {
            at,
            site0,
            dummy1,
            site1,
        });
        std::thread::sleep(Duration::from_millis(100).saturating_sub(t0.elapsed()));
    }
    out
}

/// What the samples of `[from, to]` show.
#[derive(Debug, Default)]
struct Summary {
    readings: usize,
    granted: usize,
    revoked: usize,
    unreadable: usize,
    site1_granted: usize,
    both_granted: usize,
    /// Readings where the Dummy's state file on node1 was missing or newer
    /// than at the start (a stop, or a stop and start).
    dummy_changed: usize,
}

fn summarize(samples: &[Sample], from: f64, to: f64, dummy: Option<SystemTime>) -> Summary {
    let mut s = Summary::default();
    for x in samples.iter().filter(|x| x.at >= from && x.at <= to) {
        s.readings += 1;
        match x.site0 {
            Some(true) => s.granted += 1,
            Some(false) => s.revoked += 1,
            None => s.unreadable += 1,
        }
        s.site1_granted += usize::from(x.site1);
        s.both_granted += usize::from(x.site1 && x.site0 == Some(true));
        if dummy.is_some() && x.dummy1 != dummy {
            s.dummy_changed += 1;
        }
    }
    s
}

/// Lines of `file` after wall time `since` (syslog copies start with it;
/// Pacemaker's log with its own time stamp, so those are taken whole).
fn syslog_lines_since(file: &Path, since: f64, needle: &str) -> Vec<String> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split(' ')
                .next()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|t| t >= since)
                && l.contains(needle)
        })
        .map(str::to_owned)
        .collect()
}

fn count_in(file: &Path, needle: &str) -> usize {
    fs::read_to_string(file)
        .unwrap_or_default()
        .matches(needle)
        .count()
}

/// PIDs of node `i`'s processes whose command line contains `needle`.
fn node_procs(pm: &Pacemaker, i: usize, needle: &str) -> Vec<u32> {
    pm.node_ns(i)
        .map(|n| n.pids())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .is_ok_and(|c| c.contains(needle))
        })
        .collect()
}

#[track_caller]
fn cib(pm: &Pacemaker, section: &str, xml: &str) {
    let out = pm.run(&["cibadmin", "-C", "-o", section, "-X", xml]);
    assert_eq!(out.code, 0, "cibadmin -C -o {section}:\n{out}");
}

#[track_caller]
fn run_ok(pm: &Pacemaker, argv: &[&str]) {
    let out = pm.run(argv);
    assert_eq!(out.code, 0, "{argv:?}:\n{out}");
}

fn where_runs(pm: &Pacemaker, rsc: &str) -> Option<String> {
    pm.locate(rsc).unwrap_or_else(|e| panic!("{e}"))
}

/// Site 0 (two nodes), site 1 and the arbitrator, the ticket granted at
/// site 0 and the Dummy running on node1; the readings running.
struct Setup {
    f: Formation,
    pm: Pacemaker,
    node1: String,
    node2: String,
    /// The Dummy's state file's mtime on node1 when it started.
    dummy0: SystemTime,
    stops_before: usize,
    alive: Arc<Vec<AtomicBool>>,
    stop: Arc<AtomicBool>,
    poll: std::thread::JoinHandle<Vec<Sample>>,
    t_start: Instant,
}

fn dummy_stops(pm: &Pacemaker) -> usize {
    (0..pm.len())
        .map(|i| count_in(&pm.pacemaker_log(i), &format!("{RSC}_stop_0")))
        .sum()
}

fn setup() -> Setup {
    let t_start = Instant::now();
    // The LAN: a bridge, with site 1 and the arbitrator on it.
    let lan = Netns::create().expect("ip netns add");
    lan.add_bridge(BRIDGE, &["10.77.0.11/24", "10.77.0.12/24"])
        .expect("bridge");
    let (vip, site1, arb) = (ip(10), ip(11), ip(12));
    let mut f = Formation::builder()
        .tag("twonode")
        .netns(lan.clone())
        .ips(&[vip, site1, arb])
        .site_cibs(&[Cib::Live, Cib::File])
        .ticket(Ticket::fast(T))
        .stopped()
        .start();
    f.start(1);
    f.start(2);

    // Our agent, where Pacemaker finds ocf:pacemaker:booth-site (inside the nodes).
    let ocf = f.dir().join("ocf");
    fs::create_dir_all(ocf.join("pacemaker")).unwrap();
    let agent = ocf.join("pacemaker/booth-site");
    fs::copy(workspace_root().join("packaging/ocf/booth-site"), &agent).unwrap();
    fs::set_permissions(&agent, fs::Permissions::from_mode(0o755)).unwrap();
    let spec = ClusterSpec {
        dir: f.dir().join("cluster"),
        lan: lan.clone(),
        bridge: BRIDGE.into(),
        addrs: vec![ip(1), ip(2)],
        prefix: 24,
        ocf: Some(ocf),
        // Inherited by the agents and so by boothd and its lease guard: the
        // crm_ticket logging wrapper first in PATH, logging into site 0's log.
        env: vec![
            (
                "PATH".into(),
                format!("{}:{SYSTEM_PATH}", f.dir().join("bin-real").display()),
            ),
            ("CRM_STUB_LOG".into(), f.crm_log(0).display().to_string()),
        ],
    };
    let pm = Pacemaker::start_cluster(&spec).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "two-node: corosync quorate after {:.1} s, DC after {:.1} s, both nodes online {:.1} s after the test began",
        pm.quorate_after.as_secs_f64(),
        pm.dc_after.as_secs_f64(),
        t_start.elapsed().as_secs_f64()
    );
    let (node1, node2) = (pm.node_name(0).to_owned(), pm.node_name(1).to_owned());

    // The booth group (prefers node1), the Dummy (prefers node1), bound to the ticket.
    cib(
        &pm,
        "resources",
        &format!(
            r#"<group id="{GROUP}">
  <primitive id="booth-ip" class="ocf" provider="heartbeat" type="IPaddr2">
    <instance_attributes id="booth-ip-ia">
      <nvpair id="booth-ip-ip" name="ip" value="{vip}"/>
      <nvpair id="booth-ip-mask" name="cidr_netmask" value="24"/>
      <nvpair id="booth-ip-nic" name="nic" value="{NODE_IF}"/>
    </instance_attributes>
    <operations><op id="booth-ip-mon" name="monitor" interval="10s"/></operations>
  </primitive>
  <primitive id="{BOOTH_RSC}" class="ocf" provider="pacemaker" type="booth-site">
    <instance_attributes id="booth-site-ia">
      <nvpair id="booth-site-config" name="config" value="{}"/>
      <nvpair id="booth-site-daemon" name="daemon" value="{}"/>
    </instance_attributes>
    <operations><op id="booth-site-mon" name="monitor" interval="10s"/></operations>
  </primitive>
</group>"#,
            f.config_path().display(),
            boothd().display()
        ),
    );
    cib(
        &pm,
        "resources",
        &format!(
            r#"<primitive id="{RSC}" class="ocf" provider="pacemaker" type="Dummy">
  <meta_attributes id="{RSC}-meta"><nvpair id="{RSC}-role" name="target-role" value="Stopped"/></meta_attributes>
</primitive>"#
        ),
    );
    cib(
        &pm,
        "constraints",
        &format!(
            r#"<rsc_location id="{GROUP}-prefers-{node1}" rsc="{GROUP}" node="{node1}" score="50"/>"#
        ),
    );
    cib(
        &pm,
        "constraints",
        &format!(
            r#"<rsc_location id="{RSC}-prefers-{node1}" rsc="{RSC}" node="{node1}" score="100"/>"#
        ),
    );
    cib(
        &pm,
        "constraints",
        &format!(
            r#"<rsc_ticket id="{RSC}-needs-{T}" rsc="{RSC}" ticket="{T}" loss-policy="stop"/>"#
        ),
    );
    run_ok(
        &pm,
        &["crm_resource", "-r", RSC, "--meta", "-d", "target-role"],
    );
    let booth_up = wait_for(Duration::from_secs(40), "booth-site to start", || {
        where_runs(&pm, BOOTH_RSC)
    });
    assert_eq!(booth_up, node1);
    wait_for(Duration::from_secs(20), "site 0's daemon to answer", || {
        f.list_raw(0).ok()
    });
    assert_eq!(where_runs(&pm, RSC), None, "{RSC} runs without the ticket");

    // Grant at site 0: the Dummy starts on node1.
    f.grant(0, T).assert_ok();
    let dummy_node = wait_for(Duration::from_secs(30), "the Dummy to start", || {
        where_runs(&pm, RSC)
    });
    assert_eq!(dummy_node, node1);
    f.wait_leader(T, Some(0), Duration::from_secs(10));
    let dummy_file = format!("/run/Dummy-{RSC}.state");
    let dummy0 = wait_for(Duration::from_secs(5), "the Dummy's state file", || {
        fs::metadata(pm.node_ns(0).unwrap().path(&dummy_file))
            .and_then(|m| m.modified())
            .ok()
    });
    let stops_before = dummy_stops(&pm);

    let stop = Arc::new(AtomicBool::new(false));
    let alive = Arc::new(vec![AtomicBool::new(true), AtomicBool::new(true)]);
    let poll = {
        let inits = vec![
            pm.node_ns(0).unwrap().init_pid(),
            pm.node_ns(1).unwrap().init_pid(),
        ];
        let (alive, cib1, stop) = (alive.clone(), f.file_cib(1), stop.clone());
        std::thread::spawn(move || poller(inits, alive, cib1, stop))
    };
    Setup {
        f,
        pm,
        node1,
        node2,
        dummy0,
        stops_before,
        alive,
        stop,
        poll,
        t_start,
    }
}

impl Setup {
    /// Stops the readings and returns them.
    fn samples(self) -> (Formation, Pacemaker, Vec<Sample>, Instant) {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.poll.join().expect("poller");
        (self.f, self.pm, samples, self.t_start)
    }

    /// Waits until booth-site runs on `node`; the seconds it took from `since`.
    fn booth_on(&self, node: &str, since: f64) -> f64 {
        wait_for(
            Duration::from_secs(40),
            &format!("booth-site to run on {node}"),
            || (where_runs(&self.pm, BOOTH_RSC).as_deref() == Some(node)).then_some(()),
        );
        epoch_now() - since
    }
}

#[test]
fn the_ticket_stays_at_the_site_while_booth_moves_between_its_nodes() {
    if !is_root() {
        eprintln!("skipped: a Pacemaker cluster in namespaces needs root (CI runs as root)");
        return;
    }
    let s = setup();
    let (node1, node2) = (s.node1.clone(), s.node2.clone());

    // 1. crm_resource --move to node2.
    let t1 = epoch_now();
    run_ok(
        &s.pm,
        &["crm_resource", "--move", "-r", GROUP, "-N", &node2],
    );
    let moved_after = s.booth_on(&node2, t1);
    std::thread::sleep(PAST_A_LEASE);
    s.f.wait_leader(T, Some(0), Duration::from_secs(5));
    let t1_end = epoch_now();
    let guard1 = syslog_lines_since(&s.pm.syslog_path(0), t1, "lease guard");
    let guards_left_1 = node_procs(&s.pm, 0, "booth-lease-guard");

    // 2. node2 in standby: the group goes back to node1.
    let t2 = epoch_now();
    run_ok(
        &s.pm,
        &["crm_attribute", "-N", &node2, "-n", "standby", "-v", "on"],
    );
    let standby_after = s.booth_on(&node1, t2);
    std::thread::sleep(PAST_A_LEASE);
    s.f.wait_leader(T, Some(0), Duration::from_secs(5));
    let t2_end = epoch_now();
    let guard2 = syslog_lines_since(&s.pm.syslog_path(1), t2, "lease guard");
    let guards_left_2 = node_procs(&s.pm, 1, "booth-lease-guard");
    let (stops_before, dummy0) = (s.stops_before, s.dummy0);
    let stops_after = dummy_stops(&s.pm);
    let dummy_at = s.pm.locate(RSC).unwrap_or_else(|e| panic!("{e}"));

    let (f, pm, samples, t_start) = s.samples();
    let s1 = summarize(&samples, t1, t1_end, Some(dummy0));
    let s2 = summarize(&samples, t2, t2_end, Some(dummy0));
    let site0 = f.grant_intervals(0, T);
    let site1_iv = f.grant_intervals(1, T);
    eprintln!(
        "two-node: 1. --move: booth-site on {node2} after {moved_after:.1} s; {s1:?}\n\
         two-node:    {node1}'s guard: {guard1:#?}\n\
         two-node:    guards left on {node1}: {guards_left_1:?}\n\
         two-node: 2. standby: booth-site on {node1} after {standby_after:.1} s; {s2:?}\n\
         two-node:    {node2}'s guard: {guard2:#?}\n\
         two-node:    guards left on {node2}: {guards_left_2:?}\n\
         two-node: Dummy stop operations in the Pacemaker logs: {stops_before} before, {stops_after} after; it runs on {dummy_at:?}\n\
         two-node: site 0's CIB grants: {site0:?}\n\
         two-node: site 1's CIB grants: {site1_iv:?}"
    );
    for (name, s) in [("move", &s1), ("standby", &s2)] {
        assert!(s.readings > 50, "{name}: too few readings: {s:?}");
        assert_eq!(s.revoked, 0, "{name}: site 0's CIB read revoked: {s:?}");
        assert_eq!(s.unreadable, 0, "{name}: site 0's CIB unreadable: {s:?}");
        assert_eq!(s.site1_granted, 0, "{name}: site 1 granted: {s:?}");
        assert_eq!(s.dummy_changed, 0, "{name}: the Dummy stopped: {s:?}");
    }
    assert_eq!(stops_after, stops_before, "a Dummy stop operation ran");
    assert_eq!(dummy_at.as_deref(), Some(node1.as_str()));
    for (node, lines) in [(&node1, &guard1), (&node2, &guard2)] {
        assert!(
            lines.iter().any(|l| l.contains("renewed it")),
            "{node}'s guard did not see the renewal: {lines:#?}"
        );
    }
    assert!(guards_left_1.is_empty() && guards_left_2.is_empty());
    // One grant in the CIB's log, from before the move to now, no revoke.
    assert_eq!(site0.len(), 1, "{site0:?}");
    assert!(site0[0].start < t1 && site0[0].end.is_none(), "{site0:?}");
    assert!(site1_iv.is_empty(), "{site1_iv:?}");
    eprintln!(
        "two-node: whole test {:.1} s",
        t_start.elapsed().as_secs_f64()
    );
    drop(f);
    drop(pm);
}

#[test]
#[ignore = "fails today (product bug): the crash kills the lease guard too, and the CIB stays \
            granted past the lease until booth-site runs on node2; site 1 granted 2.6 s before \
            site 0's revoke, the Dummy ran at site 0 for 0.8 s of it (docs/site-memory.md)"]
fn after_a_crash_of_the_daemons_node_the_ticket_is_never_granted_twice() {
    if !is_root() {
        eprintln!("skipped: a Pacemaker cluster in namespaces needs root (CI runs as root)");
        return;
    }
    let mut s = setup();
    let node2 = s.node2.clone();

    // 1. node1 crashes (booth, its guard and the Dummy run there), just
    // before a renewal: the lease has the least left (half of it, as the
    // daemon renews at half the lease), less than Pacemaker needs to notice
    // the loss of node1 and start booth-site on node2.
    let renewals = |f: &Formation| {
        f.cib_calls(0)
            .iter()
            .filter(|c| c.ticket() == Some(T) && c.granted() == Some(true))
            .count()
    };
    let before = renewals(&s.f);
    wait_for(Duration::from_secs(15), "a renewal in site 0's CIB", || {
        (renewals(&s.f) > before).then_some(())
    });
    let renewed = epoch_now();
    std::thread::sleep(CRASH_AFTER_RENEWAL);
    let t3 = s.pm.crash(0).unwrap_or_else(|e| panic!("{e}"));
    s.alive[0].store(false, Ordering::Relaxed);
    let back_after = s.booth_on(&node2, t3);
    std::thread::sleep(PAST_A_LEASE);
    let t3_end = epoch_now();
    let leader = s.f.leader_at(2, T);

    // 2. node2 crashes too: the whole site is gone; site 1 takes the ticket.
    let t4 = s.pm.crash(1).unwrap_or_else(|e| panic!("{e}"));
    s.alive[1].store(false, Ordering::Relaxed);
    wait_for(Duration::from_secs(40), "site 1 to be granted", || {
        (s.f.cib_granted(1, T) == Some(true)).then_some(())
    });
    let t4_end = epoch_now();
    let (f, pm, samples, t_start) = s.samples();
    let s3 = summarize(&samples, t3, t3_end, None);
    let s4 = summarize(&samples, t4, t4_end, None);
    let site0 = f.grant_intervals(0, T);
    let site1_iv = f.grant_intervals(1, T);
    let both: Vec<f64> = samples
        .iter()
        .filter(|x| x.site1 && x.site0 == Some(true))
        .map(|x| x.at - t3)
        .collect();
    eprintln!(
        "two-node: 1. crash of node1 at {t3:.3}, {:.1} s after a renewal: booth-site on {node2} \
         after {back_after:.1} s; \
         the arbitrator's leader then: {leader:?}; {s3:?}\n\
         two-node:    readings with both sites granted, s after the crash: {both:?}\n\
         two-node: 2. crash of node2 at {t4:.3}: {s4:?}\n\
         two-node: site 0's CIB grants: {site0:?}\n\
         two-node: site 1's CIB grants: {site1_iv:?}",
        t3 - renewed
    );
    let new = site1_iv.first().expect("site 1 granted");
    for iv in &site0 {
        // A grant nobody revoked lasted until its last node died, and its
        // lease until `expires`.
        let until = iv
            .end
            .unwrap_or_else(|| t4.max(iv.last_expires.unwrap_or(u64::MAX) as f64));
        assert!(
            new.start > until,
            "site 1 granted at {:.3} while site 0's CIB said granted until {until:.3} \
             (its lease: expires {:?}): {site0:?}",
            new.start,
            iv.last_expires
        );
    }
    assert!(both.is_empty(), "both granted at {both:?}");
    eprintln!(
        "two-node: site 1 granted {:.1} s after node2's crash; whole test {:.1} s",
        new.start - t4,
        t_start.elapsed().as_secs_f64()
    );
    drop(f);
    drop(pm);
}
