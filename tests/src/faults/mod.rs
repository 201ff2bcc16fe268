//! Faults injected into real processes: a formation of two sites and an
//! arbitrator (the [`crate::formation`] harness, in a network namespace the
//! test creates), one site on a real single-node Pacemaker in that
//! namespace and the other on a `CIB_file`, grants driven through the
//! client, and then — one at a time and in combination — SIGSTOP of the
//! holder past its lease, SIGKILL of the holder, of the arbitrator, of both
//! followers, restarts, partitions of the holder (both ways and one way),
//! loss, delay, duplication and reordering, clock faults on one member and a
//! slow `crm_ticket`.
//!
//! Every site's `crm_ticket` is wrapped ([`crmlog`]) and each run checks,
//! from those logs, that no two sites were granted at the same time
//! (conservatively: from the start of a grant call to the end of the revoke
//! that closed it), that after the last fault healed one site holds the
//! ticket — in its CIB and as every member lists it — within
//! [`RECOVERY_BOUND`], and that no member crashed. With the live CIB it
//! also watches the `Dummy` resource that needs the ticket.
//!
//! The same scenarios run against booth 1.0 (Debian's `/usr/sbin/boothd`)
//! where that comparison is the point; its double grants are reported, not
//! failed (they are the headline of the comparison).

pub mod clock;
pub mod crmlog;
pub mod net;

use std::fs;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::formation::{self, epoch_now, try_wait_for, Cib, Daemon, Formation, Netns, Ticket};

use clock::ClockFault;
use crmlog::{Handover, Interval, Overlap};
use net::{Cut, Filter, Netem, Relay};

/// The ticket timings of every run: fast, with a 2 s hand-over delay.
pub const TICKET_LINES: &[&str] = &[
    "expire = 10",
    "timeout = 1",
    "retries = 3",
    "acquire-after = 2",
];
/// From the last heal until one site holds the ticket everywhere:
/// expire + acquire-after + election and CIB writes.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(20);
/// A frozen or cut-off holder stays so for this long (twice the lease).
pub const FAULT_SECS: f64 = 20.0;

/// What a scenario does after the ticket is granted at site 0.
pub type Body = fn(&mut Run) -> Result<(), String>;

/// One kind of run.
#[derive(Clone)]
pub struct Scenario {
    pub id: &'static str,
    pub fault: &'static str,
    pub expected: &'static str,
    pub daemon: Daemon,
    /// Site 0 on the live Pacemaker (else a file CIB).
    pub live: bool,
    pub runs: usize,
    pub clock: Option<ClockFault>,
    pub body: Body,
}

/// A formation under test, with its fault tools and a log of what was done.
pub struct Run {
    pub f: Formation,
    pub relay: Relay,
    pub filter: Filter,
    pub ticket: String,
    pub tag: String,
    pub ns: Arc<Netns>,
    /// `(epoch, what)`: faults and heals.
    pub events: Vec<(f64, String)>,
    /// When the last fault ended (recovery is measured from here).
    pub healed: Option<f64>,
    pub spec: Option<std::path::PathBuf>,
    /// Run number within the scenario (phase of the fault).
    pub n: usize,
    pub notes: Vec<String>,
    pub resource: Option<String>,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub id: &'static str,
    pub n: usize,
    pub daemon: Daemon,
    pub live: bool,
    pub failures: Vec<String>,
    pub handovers: Vec<Handover>,
    pub overlaps: Vec<Overlap>,
    /// From the last heal to one holder everywhere.
    pub recovery: Option<f64>,
    pub notes: Vec<String>,
    pub took: f64,
}

impl Run {
    /// Records a fault or heal.
    pub fn note(&mut self, what: &str) -> f64 {
        let t = epoch_now();
        self.events.push((t, what.to_owned()));
        t
    }

    pub fn heal_point(&mut self) {
        self.healed = Some(self.note("healed"));
    }

    /// Every site's grant intervals so far.
    pub fn intervals(&self) -> Vec<Interval> {
        let mut all = Vec::new();
        for i in 0..self.f.len() {
            if self.f.role(i) != formation::Role::Site {
                continue;
            }
            let text = fs::read_to_string(self.f.crm_log(i)).unwrap_or_default();
            all.extend(crmlog::intervals(i, &crmlog::parse(&text), &self.ticket));
        }
        all
    }

    /// Sites whose CIB says granted now (by the logs).
    pub fn holders(&self) -> Vec<usize> {
        crmlog::holders_at_end(&self.intervals())
    }

    /// Waits until `site` alone holds the ticket in the CIB logs.
    pub fn wait_holder(&self, site: usize, limit: Duration) -> Result<f64, String> {
        try_wait_for(limit, Duration::from_millis(20), || {
            (self.holders() == [site]).then(epoch_now)
        })
        .ok_or_else(|| {
            format!(
                "site {site} did not become the only holder within {limit:?} (holders {:?})",
                self.holders()
            )
        })
    }

    /// Waits until no site holds the ticket.
    pub fn wait_no_holder(&self, limit: Duration) -> Result<f64, String> {
        try_wait_for(limit, Duration::from_millis(20), || {
            self.holders().is_empty().then(epoch_now)
        })
        .ok_or_else(|| format!("still held after {limit:?}: {:?}", self.holders()))
    }

    /// The PID to signal for member `i` (the daemon, also under faketime).
    pub fn daemon_pid(&self, i: usize) -> Result<u32, String> {
        let pid = self
            .f
            .pid(i)
            .ok_or_else(|| format!("member {i} is not running"))?;
        Ok(clock::daemon_pid(pid))
    }

    pub fn sigstop(&mut self, i: usize) -> Result<f64, String> {
        let pid = self.daemon_pid(i)?;
        formation::signal(pid, libc::SIGSTOP);
        Ok(self.note(&format!("SIGSTOP member {i} (pid {pid})")))
    }

    pub fn sigcont(&mut self, i: usize) -> Result<f64, String> {
        let pid = self.daemon_pid(i)?;
        formation::signal(pid, libc::SIGCONT);
        Ok(self.note(&format!("SIGCONT member {i}")))
    }

    pub fn kill9(&mut self, i: usize) -> f64 {
        self.f.kill9(i);
        self.note(&format!("SIGKILL member {i}"))
    }

    pub fn start(&mut self, i: usize) -> f64 {
        self.f.start(i);
        self.note(&format!("started member {i}"))
    }

    pub fn cut(&mut self, i: usize, cut: Cut) -> Result<f64, String> {
        self.filter.cut(self.f.ip(i), cut)?;
        Ok(self.note(&format!("cut member {i} ({cut:?})")))
    }

    pub fn heal_net(&mut self) -> Result<(), String> {
        self.filter.heal()?;
        self.relay.set(Netem::default());
        self.note("network healed");
        Ok(())
    }

    pub fn netem(&mut self, n: Netem) {
        self.relay.set(n);
        self.note(&format!("netem {n:?}"));
    }

    /// A `crm_ticket` of site `i` that sleeps `secs` first (0: normal).
    pub fn slow_cib(&mut self, i: usize, secs: f64) -> Result<(), String> {
        let marker = format!("{}.slow", self.f.crm_log(i).display());
        if secs > 0.0 {
            fs::write(&marker, format!("{secs}\n")).map_err(|e| e.to_string())?;
        } else {
            let _ = fs::remove_file(&marker);
        }
        self.note(&format!("crm_ticket of site {i} takes {secs} s more"));
        Ok(())
    }

    /// Sleeps `secs` (the length of a fault, not a wait for a condition).
    pub fn hold(&self, secs: f64) {
        std::thread::sleep(Duration::from_secs_f64(secs));
    }

    /// A phase offset into the renewal period, different for every run, so
    /// repeated runs hit the fault at different points of the lease.
    pub fn phase(&self) {
        self.hold(0.3 + (self.n as f64 * 1.7) % 4.5);
    }
}

// --- the live Pacemaker site ---------------------------------------------------------

fn in_ns(ns: &Netns, argv: &[&str]) -> formation::Out {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", formation::SYSTEM_PATH)
        .stdin(std::process::Stdio::null());
    ns.enter(&mut cmd);
    formation::run_with_limit(cmd, Duration::from_secs(30))
}

/// `ocf:pacemaker:Dummy` that runs only where `ticket` is granted.
fn add_dummy(ns: &Netns, rsc: &str, ticket: &str) -> Result<(), String> {
    let p = format!(r#"<primitive id="{rsc}" class="ocf" provider="pacemaker" type="Dummy"/>"#);
    let c = format!(
        r#"<rsc_ticket id="{rsc}-needs" rsc="{rsc}" ticket="{ticket}" loss-policy="stop"/>"#
    );
    for (section, xml) in [("resources", p), ("constraints", c)] {
        let out = in_ns(ns, &["cibadmin", "-C", "-o", section, "-X", &xml]);
        if out.code != 0 {
            return Err(format!("cibadmin -C -o {section}: {out}"));
        }
    }
    Ok(())
}

fn remove_dummy(ns: &Netns, rsc: &str) {
    let c = format!(r#"<rsc_ticket id="{rsc}-needs"/>"#);
    let _ = in_ns(ns, &["cibadmin", "-D", "-o", "constraints", "-X", &c]);
    let _ = in_ns(ns, &["crm_resource", "--force-stop", "-r", rsc]);
    let p = format!(r#"<primitive id="{rsc}"/>"#);
    let _ = in_ns(ns, &["cibadmin", "-D", "-o", "resources", "-X", &p]);
}

/// Whether `rsc` runs (None: cannot tell).
fn dummy_running(ns: &Netns, rsc: &str) -> Option<bool> {
    let out = in_ns(ns, &["crm_resource", "--locate", "-r", rsc]);
    let text = format!("{}{}", out.stdout, out.stderr);
    if text.contains("is running on:") {
        Some(true)
    } else if text.contains("is NOT running") {
        Some(false)
    } else {
        None
    }
}

/// Samples `dummy_running` every 250 ms until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<(f64, bool)>>>,
}

impl Sampler {
    fn start(ns: Arc<Netns>, rsc: String) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let t = epoch_now();
                if let Some(r) = dummy_running(&ns, &rsc) {
                    v.push((t, r));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            v
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<(f64, bool)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// --- one run -----------------------------------------------------------------------

static RUN_NO: AtomicUsize = AtomicUsize::new(0);

/// Runs `sc` once (number `n`), site 0 on the live CIB when `live`.
pub fn run_once(sc: &Scenario, n: usize, ns: Arc<Netns>, live: bool) -> RunResult {
    let started = epoch_now();
    let k = RUN_NO.fetch_add(1, Ordering::Relaxed);
    // Ticket names allow letters, digits, '-' and '/' only.
    let short: String = sc
        .id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(6)
        .collect();
    let tag = format!("{short}{k}");
    let mut result = RunResult {
        id: sc.id,
        n,
        daemon: sc.daemon,
        live,
        failures: Vec::new(),
        handovers: Vec::new(),
        overlaps: Vec::new(),
        recovery: None,
        notes: Vec::new(),
        took: 0.0,
    };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        run_inner(sc, n, ns, live, &tag, &mut result)
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => result.failures.push(e),
        Err(p) => result.failures.push(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        )),
    }
    result.took = epoch_now() - started;
    result
}

fn run_inner(
    sc: &Scenario,
    n: usize,
    ns: Arc<Netns>,
    live: bool,
    tag: &str,
    result: &mut RunResult,
) -> Result<(), String> {
    let ticket = format!("t-{tag}");
    let lines: Vec<&str> = TICKET_LINES.to_vec();
    let f = Formation::builder()
        .netns(Arc::clone(&ns))
        .site_cibs(&[if live { Cib::Live } else { Cib::File }, Cib::File])
        .arbitrators(1)
        .ticket(Ticket::with(&ticket, &lines))
        .daemon(sc.daemon)
        .tag(&format!("faults-{tag}"))
        .stopped()
        .start();
    // Our crm_ticket wrappers (start and end of every call) for every site.
    for (bin, real) in [("bin", "true"), ("bin-real", "/usr/sbin/crm_ticket")] {
        let p = f.dir().join(bin).join("crm_ticket");
        fs::write(&p, crmlog::wrapper(real)).map_err(|e| e.to_string())?;
    }
    let mut spec = None;
    if let Some(c) = &sc.clock {
        // The holder-to-be (site 0) gets the clock fault.
        spec = clock::arm(f.dir(), &f.ip_str(0), c).map_err(|e| e.to_string())?;
    }
    let ips: Vec<_> = (0..f.len()).map(|i| f.ip(i)).collect();
    let relay = Relay::start(ns.name(), tag, &ips, f.port())?;
    let filter = Filter::new(ns.name(), tag, f.port())?;
    let mut run = Run {
        f,
        relay,
        filter,
        ticket: ticket.clone(),
        tag: tag.to_owned(),
        ns: Arc::clone(&ns),
        events: Vec::new(),
        healed: None,
        spec,
        n,
        notes: Vec::new(),
        resource: None,
    };
    let mut sampler = None;
    if live {
        let rsc = format!("d-{tag}");
        add_dummy(&ns, &rsc, &ticket)?;
        run.resource = Some(rsc.clone());
        sampler = Some(Sampler::start(Arc::clone(&ns), rsc));
    }
    let body = (|| -> Result<(), String> {
        run.f.start_all();
        run.note("started");
        let out = run.f.grant(0, &ticket);
        if out.code != 0 {
            return Err(format!("grant at site 0 failed: {out}"));
        }
        run.wait_holder(0, Duration::from_secs(10))?;
        run.note("granted at site 0");
        if sc.daemon == Daemon::BoothRs {
            check_list_json(&run)?;
        }
        (sc.body)(&mut run)?;
        if run.healed.is_none() {
            run.heal_point();
        }
        recover(&mut run, result)
    })();
    let samples = sampler.map(Sampler::finish).unwrap_or_default();
    // Whatever happened, the checks on the logs.
    let now = epoch_now();
    let all = run.intervals();
    result.overlaps = crmlog::overlaps(&all, now);
    result.handovers = crmlog::handovers(&all, now);
    if sc.daemon == Daemon::BoothRs {
        for o in &result.overlaps {
            result.failures.push(format!(
                "sites {} and {} both granted for {:.3} s (from {:.3})",
                o.a.site,
                o.b.site,
                o.secs(),
                o.from
            ));
        }
        crashes(&run, result);
    }
    if !samples.is_empty() {
        resource_notes(&run, &all, &samples, result);
    }
    result.notes.append(&mut run.notes);
    let st = run.relay.stats();
    if st.dropped + st.duplicated + st.reordered > 0 {
        result.notes.push(format!(
            "relay: {} datagrams, {} dropped, {} duplicated, {} reordered",
            st.received, st.dropped, st.duplicated, st.reordered
        ));
    }
    if !result.failures.is_empty() || std::env::var_os("FAULTS_VERBOSE").is_some() {
        result.notes.push(timeline(&run, &all));
    }
    if let Some(r) = &run.resource {
        remove_dummy(&ns, r);
    }
    body
}

/// `booth list --json` at the holder shows its deadline, the margin
/// (2096 ms for acquire-after 2 s, 1000 ppm, 100 ms) and its lease guard.
fn check_list_json(run: &Run) -> Result<(), String> {
    let cfg = run.f.config_path().display().to_string();
    let out = run
        .f
        .booth(&["list", "--json", "-s", &run.f.ip_str(0), "-c", &cfg]);
    let ok = out.code == 0
        && out
            .stdout
            .contains("\"lease\":{\"granted_here\":true,\"deadline_in_ms\":")
        && out
            .stdout
            .contains("\"margin_ms\":2096,\"foreign_grant_in_ms\":")
        && out.stdout.contains("\"guard\":\"pid:");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "booth list --json at the holder lacks its lease details: {out}"
        ))
    }
}

/// After the last heal: one site holds the ticket in its CIB and every
/// member lists it, within [`RECOVERY_BOUND`].
fn recover(run: &mut Run, result: &mut RunResult) -> Result<(), String> {
    let healed = run.healed.unwrap_or_else(epoch_now);
    let limit =
        RECOVERY_BOUND.saturating_sub(Duration::from_secs_f64((epoch_now() - healed).max(0.0)));
    let mut last = String::new();
    let got = try_wait_for(limit, Duration::from_millis(100), || {
        let holders = run.holders();
        let [h] = holders.as_slice() else {
            last = format!("CIB holders {holders:?}");
            return None;
        };
        let want = run.f.ip_str(*h);
        for i in 0..run.f.len() {
            match run.f.leader_at(i, &run.ticket) {
                Ok(Some(l)) if l == want => {}
                other => {
                    last = format!("member {i} lists {other:?}, CIB holder is site {h}");
                    return None;
                }
            }
        }
        Some((epoch_now(), *h))
    });
    match got {
        Some((t, h)) => {
            result.recovery = Some(t - healed);
            run.notes.push(format!("holder after recovery: site {h}"));
            Ok(())
        }
        None => Err(format!(
            "no single holder {RECOVERY_BOUND:?} after the heal: {last}"
        )),
    }
}

/// Every member still running, no panic in any log, each site's lease guard alive.
fn crashes(run: &Run, result: &mut RunResult) {
    for i in 0..run.f.len() {
        let log = run.f.log(i);
        if log.contains("panicked") {
            result.failures.push(format!("member {i} panicked"));
        }
        let Some(pid) = run.f.pid(i) else {
            result
                .failures
                .push(format!("member {i} is not running at the end"));
            continue;
        };
        if !alive(clock::daemon_pid(pid)) {
            result.failures.push(format!("member {i} (pid {pid}) died"));
        }
        if run.f.role(i) == formation::Role::Site {
            match last_guard_pid(&log) {
                Some(g) if alive(g) => {}
                Some(g) => result
                    .failures
                    .push(format!("site {i}: its lease guard (pid {g}) is gone")),
                None => result
                    .failures
                    .push(format!("site {i}: no lease guard in its log")),
            }
        }
    }
}

/// The guard the daemon last said hello to (`lease guard pid N: …`).
pub fn last_guard_pid(log: &str) -> Option<u32> {
    log.lines()
        .rev()
        .find_map(|l| l.split("lease guard pid ").nth(1))
        .and_then(|r| r.split(':').next())
        .and_then(|p| p.trim().parse().ok())
}

fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// When the resource stopped at site 0, against the hand-overs.
fn resource_notes(run: &Run, all: &[Interval], samples: &[(f64, bool)], result: &mut RunResult) {
    let _ = run;
    for h in result.handovers.iter().filter(|h| h.from_site == 0) {
        // The first sample at or after the revoke showing it stopped.
        let stopped = samples
            .iter()
            .find(|(t, r)| *t >= h.revoked - 0.5 && !*r)
            .map(|(t, _)| *t);
        let running_during_other = samples
            .iter()
            .filter(|(t, r)| *r && *t >= h.granted)
            .take_while(|(t, _)| {
                all.iter()
                    .any(|i| i.site == h.to_site && i.start <= *t && i.end_or(f64::MAX) >= *t)
            })
            .last()
            .map(|(t, _)| t - h.granted);
        match stopped {
            Some(t) => result.notes.push(format!(
                "Dummy at site 0 seen stopped {:+.2} s after its CIB revoke, {:+.2} s relative to \
                 site {}'s grant",
                t - h.revoked,
                t - h.granted,
                h.to_site
            )),
            None => result
                .notes
                .push("Dummy at site 0 never seen stopped".to_owned()),
        }
        if let Some(d) = running_during_other {
            result.notes.push(format!(
                "Dummy still running at site 0 {d:.2} s after site {} was granted",
                h.to_site
            ));
        }
    }
}

fn timeline(run: &Run, all: &[Interval]) -> String {
    let t0 = run.events.first().map_or(0.0, |e| e.0);
    let mut s = format!("timeline of {} (t=0 at start):\n", run.tag);
    for (t, e) in &run.events {
        s.push_str(&format!("  {:8.3} {e}\n", t - t0));
    }
    for i in all {
        s.push_str(&format!(
            "  site {} granted {:8.3} .. {}\n",
            i.site,
            i.start - t0,
            i.end
                .map_or("open".to_owned(), |e| format!("{:.3}", e - t0))
        ));
    }
    s
}

// --- the scenarios -----------------------------------------------------------------

fn sigstop_holder(run: &mut Run) -> Result<(), String> {
    run.phase();
    run.sigstop(0)?;
    run.hold(FAULT_SECS);
    run.sigcont(0)?;
    run.heal_point();
    Ok(())
}

fn sigkill_holder_restart(run: &mut Run) -> Result<(), String> {
    run.phase();
    run.kill9(0);
    run.wait_holder(1, Duration::from_secs(25))?;
    run.start(0);
    run.heal_point();
    Ok(())
}

fn sigkill_holder_quick_restart(run: &mut Run) -> Result<(), String> {
    run.phase();
    run.kill9(0);
    // Within the lease: the new daemon finds the old guard still guarding.
    run.start(0);
    let log = run.f.log(0);
    if log.contains("connected to the running lease guard") {
        run.notes
            .push("the restarted daemon took over the running lease guard".to_owned());
    } else {
        return Err("the restarted daemon did not connect to the running guard".to_owned());
    }
    run.heal_point();
    Ok(())
}

fn guard_faults(run: &mut Run) -> Result<(), String> {
    let guard_of = |run: &Run| last_guard_pid(&run.f.log(0));
    let first = guard_of(run).ok_or("no lease guard in site 0's log")?;
    formation::signal(first, libc::SIGKILL);
    run.note(&format!("SIGKILL site 0's lease guard (pid {first})"));
    let second = try_wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
        guard_of(run).filter(|g| *g != first)
    })
    .ok_or("the daemon did not replace its killed guard within 5 s")?;
    run.note(&format!("new guard pid {second}"));
    formation::signal(second, libc::SIGSTOP);
    run.note(&format!("SIGSTOP site 0's lease guard (pid {second})"));
    let third = try_wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
        guard_of(run).filter(|g| *g != second)
    });
    // The stopped guard was killed by the daemon; SIGCONT is harmless if not.
    formation::signal(second, libc::SIGCONT);
    let third = third.ok_or("the daemon did not replace its stopped guard within 10 s")?;
    run.note(&format!("new guard pid {third}"));
    run.hold(6.0); // a renewal through the third guard
    if run.holders() != [0] {
        return Err(format!(
            "the ticket moved while site 0's guard was replaced: holders {:?}",
            run.holders()
        ));
    }
    run.heal_point();
    Ok(())
}

fn sigkill_arbitrator_restart(run: &mut Run) -> Result<(), String> {
    run.phase();
    run.kill9(2);
    // Two leases: site 0 renews with site 1's acknowledgements alone.
    run.hold(FAULT_SECS);
    if run.holders() != [0] {
        return Err(format!(
            "site 0 lost the ticket without the arbitrator: holders {:?}",
            run.holders()
        ));
    }
    run.start(2);
    run.heal_point();
    Ok(())
}

fn sigkill_both_followers(run: &mut Run) -> Result<(), String> {
    run.phase();
    run.kill9(1);
    run.kill9(2);
    // Without a majority the holder lets go at its own deadline.
    let t = run.wait_no_holder(Duration::from_secs(12))?;
    let killed = run.events.last().map_or(t, |e| e.0);
    run.notes.push(format!(
        "site 0 revoked {:.2} s after losing both followers",
        t - killed
    ));
    run.start(1);
    run.start(2);
    run.heal_point();
    Ok(())
}

fn partition(run: &mut Run, cut: Cut) -> Result<(), String> {
    run.phase();
    run.cut(0, cut)?;
    run.hold(FAULT_SECS);
    run.heal_net()?;
    run.heal_point();
    Ok(())
}

fn partition_both(run: &mut Run) -> Result<(), String> {
    partition(run, Cut::Both)
}

fn partition_inbound(run: &mut Run) -> Result<(), String> {
    partition(run, Cut::Inbound)
}

fn partition_outbound(run: &mut Run) -> Result<(), String> {
    partition(run, Cut::Outbound)
}

const LOSSY: Netem = Netem {
    loss: 0.3,
    duplicate: 0.1,
    delay: Duration::from_millis(20),
    jitter: Duration::from_millis(150),
};

fn lossy(run: &mut Run) -> Result<(), String> {
    run.netem(LOSSY);
    run.hold(2.0 * FAULT_SECS);
    run.heal_net()?;
    run.heal_point();
    Ok(())
}

fn lossy_sigkill_holder(run: &mut Run) -> Result<(), String> {
    run.netem(LOSSY);
    run.phase();
    run.kill9(0);
    run.wait_holder(1, Duration::from_secs(30))?;
    run.start(0);
    run.hold(5.0);
    run.heal_net()?;
    run.heal_point();
    Ok(())
}

fn wall_jumps(run: &mut Run) -> Result<(), String> {
    let spec = run.spec.clone().ok_or("no faketime spec file")?;
    for off in [300, -300, 120, 0] {
        clock::set_offset(&spec, off).map_err(|e| e.to_string())?;
        run.note(&format!("site 0 wall clock {off:+} s"));
        run.hold(8.0);
        if run.holders() != [0] {
            return Err(format!(
                "the ticket moved after a wall-clock step of {off:+} s: holders {:?}",
                run.holders()
            ));
        }
    }
    run.heal_point();
    Ok(())
}

fn fast_clock_sigstop(run: &mut Run) -> Result<(), String> {
    // Site 0's clocks run 1.5 times as fast: it lets go earlier in real time.
    sigstop_holder(run)
}

fn slow_cib_sigstop(run: &mut Run) -> Result<(), String> {
    run.slow_cib(0, 1.5)?;
    run.hold(6.0); // a renewal with the slow CIB
    sigstop_holder(run)?;
    run.slow_cib(0, 0.0)
}

fn sigstop_and_partition(run: &mut Run) -> Result<(), String> {
    run.phase();
    run.cut(0, Cut::Both)?;
    run.sigstop(0)?;
    run.hold(FAULT_SECS);
    run.sigcont(0)?;
    run.hold(5.0);
    run.heal_net()?;
    run.heal_point();
    Ok(())
}

fn booth_sigkill_holder(run: &mut Run) -> Result<(), String> {
    run.phase();
    run.kill9(0);
    run.wait_holder(1, Duration::from_secs(25)).or_else(|_| {
        // booth 1.x leaves the dead holder's CIB granted: wait for site 1's grant.
        try_wait_for(Duration::from_secs(25), Duration::from_millis(50), || {
            run.holders().contains(&1).then_some(())
        })
        .map(|_| 0.0)
        .ok_or_else(|| "site 1 never granted".to_owned())
    })?;
    run.hold(5.0);
    run.start(0);
    run.heal_point();
    Ok(())
}

/// Every scenario, in the order of the table.
pub fn scenarios() -> Vec<Scenario> {
    let s = |id, fault, expected, runs, body| Scenario {
        id,
        fault,
        expected,
        daemon: Daemon::BoothRs,
        live: false,
        runs,
        clock: None,
        body,
    };
    let mut v = vec![
        Scenario {
            live: true,
            ..s(
                "sigstop",
                "SIGSTOP of the holder for 20 s (lease 10 s), then SIGCONT",
                "the lease guard revokes at the holder's deadline while it is frozen; the other \
                 site takes over after lease + acquire-after; the woken holder follows",
                3,
                sigstop_holder,
            )
        },
        Scenario {
            live: true,
            ..s(
                "sigkill",
                "SIGKILL of the holder, restart once the other site holds",
                "the guard outlives the daemon and revokes at the deadline; hand-over; the \
                 restarted daemon reconnects to (or replaces) the guard and follows",
                3,
                sigkill_holder_restart,
            )
        },
        s(
            "kill-restart",
            "SIGKILL of the holder and an immediate restart (within its lease)",
            "the new daemon connects to the still-running guard (no second guard, so no stale \
             deadline can revoke a fresh grant); it re-acquires or follows, never two holders",
            1,
            sigkill_holder_quick_restart,
        ),
        s(
            "guard",
            "SIGKILL of the holder's lease guard; then SIGSTOP of its replacement",
            "the daemon starts a new guard at once (socket EOF), kills and replaces a guard \
             silent for 5 s, re-sends the grant; the ticket stays",
            1,
            guard_faults,
        ),
        s(
            "kill-arb",
            "SIGKILL of the arbitrator for 20 s, restart",
            "no change: the holder renews with the other site's acknowledgements",
            1,
            sigkill_arbitrator_restart,
        ),
        s(
            "kill-followers",
            "SIGKILL of both followers (other site and arbitrator), restart both",
            "the holder, alone, revokes at its own deadline; one holder again after the restarts",
            1,
            sigkill_both_followers,
        ),
        Scenario {
            live: true,
            ..s(
                "cut-both",
                "partition of the holder, both ways, 20 s",
                "the cut-off holder revokes at its deadline; the majority side takes over; \
                 after healing the old holder follows",
                3,
                partition_both,
            )
        },
        s(
            "cut-in",
            "partition of the holder, inbound only (it still sends), 20 s",
            "no acknowledgement reaches the holder: it revokes at its deadline; the others \
             take over, or (while its vote requests still reach them) nobody holds it until \
             the heal: liveness, never two holders",
            1,
            partition_inbound,
        ),
        s(
            "cut-out",
            "partition of the holder, outbound only (it still receives), 20 s",
            "its renewals are lost: it revokes at its deadline, hand-over, it follows",
            1,
            partition_outbound,
        ),
        s(
            "lossy",
            "30 % loss, 10 % duplication, 20–170 ms delay (reordering) on every datagram, 40 s",
            "never two holders; the ticket stays or moves safely; one holder after healing",
            1,
            lossy,
        ),
        s(
            "lossy+kill",
            "the same lossy network, and SIGKILL of the holder; restart",
            "hand-over under loss with a positive gap",
            1,
            lossy_sigkill_holder,
        ),
        Scenario {
            clock: Some(ClockFault::WallJumps),
            ..s(
                "wall-jump",
                "the holder's wall clock steps +300 s, −300 s, +120 s, 0 (libfaketime, \
                 monotonic clocks untouched)",
                "nothing happens: leases run on CLOCK_BOOTTIME; only CIB `expires` moves",
                1,
                wall_jumps,
            )
        },
        Scenario {
            clock: Some(ClockFault::Rate(1.5)),
            ..s(
                "fast-clock",
                "the holder's clocks (all of them) run 1.5× fast, then SIGSTOP 20 s",
                "a fast holder clock only lets go earlier: a larger gap",
                1,
                fast_clock_sigstop,
            )
        },
        s(
            "slow-cib",
            "every crm_ticket of the holder takes 1.5 s more, then SIGSTOP 20 s",
            "the guard's revoke lands 1.5 s after the deadline, still inside the margin \
             (acquire-after 2 s); a grant write still running at the deadline is killed",
            1,
            slow_cib_sigstop,
        ),
        s(
            "stop+cut",
            "SIGSTOP and partition of the holder together; SIGCONT while still cut, heal 5 s later",
            "the guard revokes; the woken holder sees its deadline passed and stays revoked",
            1,
            sigstop_and_partition,
        ),
    ];
    let booth = |sc: Scenario| Scenario {
        daemon: Daemon::Booth1x,
        ..sc
    };
    v.push(booth(Scenario {
        live: true,
        ..s(
            "sigstop",
            "SIGSTOP of the holder for 20 s (lease 10 s), then SIGCONT",
            "booth 1.0: the frozen holder's CIB stays granted",
            2,
            sigstop_holder,
        )
    }));
    v.push(booth(Scenario {
        live: true,
        ..s(
            "sigkill",
            "SIGKILL of the holder, restart 5 s after the other site holds",
            "booth 1.0: the dead holder's CIB stays granted until the restart",
            1,
            booth_sigkill_holder,
        )
    }));
    v.push(booth(s(
        "cut-both",
        "partition of the holder, both ways, 20 s",
        "booth 1.0: revokes at its expiry (noticed up to one timeout late)",
        1,
        partition_both,
    )));
    v
}

/// Runs every run of `scs` on `jobs` workers sharing `ns`; runs with a live
/// site take `pacemaker` in turn (one Pacemaker per host).
pub fn run_all(scs: &[Scenario], ns: Arc<Netns>, pacemaker: bool, jobs: usize) -> Vec<RunResult> {
    let mut queue: Vec<(usize, usize, bool)> = Vec::new();
    for (si, sc) in scs.iter().enumerate() {
        for n in 0..sc.runs {
            // The first run of a live scenario uses Pacemaker (all for booth 1.0).
            let live = pacemaker && sc.live && (n == 0 || sc.daemon == Daemon::Booth1x);
            queue.push((si, n, live));
        }
    }
    // Live runs first: they are serialised on the one Pacemaker.
    queue.sort_by_key(|(_, _, live)| !*live);
    let queue = Mutex::new(queue.into_iter());
    let live_lock = Mutex::new(());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let Some((si, n, live)) = queue.lock().unwrap_or_else(|e| e.into_inner()).next()
                else {
                    return;
                };
                let sc = &scs[si];
                let r = if live {
                    let _g = live_lock.lock().unwrap_or_else(|e| e.into_inner());
                    run_once(sc, n, Arc::clone(&ns), true)
                } else {
                    run_once(sc, n, Arc::clone(&ns), false)
                };
                eprintln!("{}", summary_line(&r));
                results.lock().unwrap_or_else(|e| e.into_inner()).push(r);
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_else(|e| e.into_inner());
    v.sort_by_key(|r| {
        (
            scs.iter()
                .position(|s| s.id == r.id && s.daemon == r.daemon)
                .unwrap_or(usize::MAX),
            r.n,
        )
    });
    v
}

fn daemon_name(d: Daemon) -> &'static str {
    match d {
        Daemon::BoothRs => "booth-rs",
        Daemon::Booth1x => "booth 1.0",
    }
}

/// One line per run, for the log.
pub fn summary_line(r: &RunResult) -> String {
    let gaps: Vec<String> = r
        .handovers
        .iter()
        .map(|h| format!("{}→{} {:+.3} s", h.from_site, h.to_site, h.gap()))
        .collect();
    format!(
        "[{}] {} {} #{}{}: {}; hand-overs [{}]; recovery {}; {:.0} s{}{}",
        if r.failures.is_empty() { "ok" } else { "FAIL" },
        daemon_name(r.daemon),
        r.id,
        r.n,
        if r.live { " (live CIB)" } else { "" },
        if r.overlaps.is_empty() {
            "no double grant".to_owned()
        } else {
            format!(
                "DOUBLE GRANT {:.2} s",
                r.overlaps.iter().map(Overlap::secs).fold(0.0, f64::max)
            )
        },
        gaps.join(", "),
        r.recovery.map_or("-".to_owned(), |s| format!("{s:.2} s")),
        r.took,
        r.failures
            .iter()
            .map(|f| format!("\n    failure: {f}"))
            .collect::<String>(),
        r.notes
            .iter()
            .map(|n| format!("\n    {}", n.replace('\n', "\n    ")))
            .collect::<String>(),
    )
}

fn stats(v: &mut [f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    Some((v[0], median, v[v.len() - 1]))
}

/// The results as a Markdown table (one row per scenario and daemon).
pub fn table(scs: &[Scenario], results: &[RunResult]) -> String {
    let mut s = String::from(
        "| Fault | Daemon | Expected | Runs | Gap old revoke → new grant, s (min / median / max) | \
         Double grant | Recovery after heal, s (max) | Result |\n|---|---|---|---|---|---|---|---|\n",
    );
    for sc in scs {
        let rs: Vec<&RunResult> = results
            .iter()
            .filter(|r| r.id == sc.id && r.daemon == sc.daemon)
            .collect();
        if rs.is_empty() {
            continue;
        }
        let mut gaps: Vec<f64> = rs
            .iter()
            .flat_map(|r| r.handovers.iter().map(Handover::gap))
            .collect();
        let handovers = gaps.len();
        let gap = match stats(&mut gaps) {
            Some((a, m, b)) => format!("{a:+.2} / {m:+.2} / {b:+.2} ({handovers} hand-overs)"),
            None => "no hand-over".to_owned(),
        };
        let worst = rs
            .iter()
            .flat_map(|r| r.overlaps.iter().map(Overlap::secs))
            .fold(0.0, f64::max);
        let overlap_runs = rs.iter().filter(|r| !r.overlaps.is_empty()).count();
        let double = if overlap_runs == 0 {
            "none".to_owned()
        } else {
            format!("{overlap_runs} of {} runs, up to {worst:.2} s", rs.len())
        };
        let rec = rs
            .iter()
            .filter_map(|r| r.recovery)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let failed = rs.iter().filter(|r| !r.failures.is_empty()).count();
        let result = match (sc.daemon, failed) {
            (Daemon::Booth1x, _) => "reported".to_owned(),
            (_, 0) => "pass".to_owned(),
            (_, n) => format!("FAIL ({n})"),
        };
        let live = rs.iter().filter(|r| r.live).count();
        s.push_str(&format!(
            "| {} | {} | {} | {}{} | {gap} | {double} | {} | {result} |\n",
            sc.fault,
            daemon_name(sc.daemon),
            sc.expected,
            rs.len(),
            if live > 0 {
                format!(" ({live} live CIB)")
            } else {
                String::new()
            },
            rec.map_or("-".to_owned(), |r| format!("{r:.1}")),
        ));
    }
    s
}

/// Whether this host can run the harness: root, namespaces, iptables.
pub fn can_run() -> Result<(), String> {
    if !formation::is_root() {
        return Err("needs root (network namespaces, iptables, Pacemaker)".to_owned());
    }
    for tool in ["ip", "iptables", "crm_ticket", "cibadmin"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map_or(true, |o| !o.status.success())
        {
            return Err(format!("{tool} is not installed"));
        }
    }
    if !Path::new(formation::BOOTH_1X).is_file() {
        return Err(format!(
            "{} (Debian package booth) is missing",
            formation::BOOTH_1X
        ));
    }
    Ok(())
}
