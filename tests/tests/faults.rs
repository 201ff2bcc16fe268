//! Faults on real processes (tests/src/faults): booth-rs formations in a
//! network namespace, one site on a real Pacemaker, SIGSTOP/SIGKILL,
//! partitions, a lossy network, clock faults and a slow CIB, and the same
//! for booth 1.0 where it is the comparison.
//!
//! Ignored by a plain `cargo test` (it needs root and takes minutes);
//! `scripts/test.d/40-faults` runs it:
//! `cargo test --release -p booth-tests --test faults -- --ignored --nocapture`.
//! `FAULTS_ONLY=sigstop,cut-both` runs only those scenarios,
//! `FAULTS_JOBS=n` sets the parallel formations (default 3),
//! `FAULTS_RUNS=n` runs every chosen scenario n times,
//! `FAULTS_NO_BOOTH1X=1` skips booth 1.0, `FAULTS_VERBOSE=1` prints every
//! run's timeline. The table goes to `target/faults-table.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use booth_tests::faults::{self, clock, RunResult};
use booth_tests::formation::{binary, pacemaker::Pacemaker, Daemon, Netns};

fn real_boothd() -> PathBuf {
    if let Some(p) = std::env::var_os("BOOTHD") {
        return PathBuf::from(p);
    }
    let root = binary::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("boothd")
}

fn start_pacemaker(ns: &Arc<Netns>, dir: &std::path::Path) -> Pacemaker {
    // One Pacemaker per host: wait while another test's runs.
    let until = Instant::now() + Duration::from_secs(300);
    loop {
        match Pacemaker::start(Arc::clone(ns), dir) {
            Ok(pm) => return pm,
            Err(e) if e.contains("already running") && Instant::now() < until => {
                eprintln!("faults: waiting for another Pacemaker to stop: {e}");
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => panic!("cannot start Pacemaker: {e}"),
        }
    }
}

#[test]
#[ignore = "needs root, namespaces and minutes: scripts/test.d/40-faults runs it"]
fn faults_on_real_processes() {
    if let Err(why) = faults::can_run() {
        panic!("the fault harness cannot run here: {why}");
    }
    let scratch = std::env::temp_dir().join(format!("booth-rs-faults-{}", std::process::id()));
    let real = real_boothd();
    assert!(
        real.is_file(),
        "{} is missing: cargo build --release -p booth-linux",
        real.display()
    );
    let mut all = faults::scenarios();
    if clock::available() {
        // Every daemon starts through the wrapper; it applies libfaketime
        // only to a member armed for a clock fault.
        let w = clock::write_wrapper(&scratch, &real).expect("write the boothd wrapper");
        std::env::set_var("BOOTHD", &w);
    } else {
        eprintln!("faults: libfaketime is not installed (package faketime): no clock faults");
        all.retain(|s| s.clock.is_none());
    }
    if let Ok(only) = std::env::var("FAULTS_ONLY") {
        let ids: Vec<&str> = only.split(',').map(str::trim).collect();
        all.retain(|s| ids.contains(&s.id));
    }
    if let Some(runs) = std::env::var("FAULTS_RUNS")
        .ok()
        .and_then(|r| r.parse::<usize>().ok())
    {
        // Repeats (issue 10: every scenario 20 times before it is trusted).
        all.iter_mut().for_each(|s| s.runs = runs);
    }
    if std::env::var_os("FAULTS_NO_BOOTH1X").is_some() {
        all.retain(|s| s.daemon != Daemon::Booth1x);
    }
    let jobs = std::env::var("FAULTS_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(3);

    let t0 = Instant::now();
    let ns = Netns::create().expect("create a network namespace");
    // booth 1.0 on kernels >= 6.9 wants IPv6 off (booth-protocol.md §4.6).
    let _ = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name(), "sysctl", "-qw"])
        .arg("net.ipv6.conf.all.disable_ipv6=1")
        .status();
    // tc netem where the kernel has it; the relay plays netem either way,
    // so every host runs the same faults.
    let netem = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "tc",
            "qdisc",
            "add",
            "dev",
            "lo",
            "root",
        ])
        .args(["netem", "delay", "1ms"])
        .output();
    let netem = match netem {
        Ok(o) if o.status.success() => {
            let _ = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns.name(),
                    "tc",
                    "qdisc",
                    "del",
                    "dev",
                    "lo",
                    "root",
                ])
                .status();
            "tc netem works on this kernel; the userspace relay is used anyway".to_owned()
        }
        Ok(o) => format!(
            "tc netem is unavailable on this kernel ({}); the userspace relay plays it",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("tc (iproute2) cannot run ({e}); the userspace relay plays netem"),
    };
    eprintln!("faults: {netem}");
    let live = all.iter().any(|s| s.live);
    let mut pm = live.then(|| start_pacemaker(&ns, &scratch.join("pacemaker")));
    if let Some(p) = &pm {
        eprintln!(
            "faults: Pacemaker up in {:.1} s (DC elected)",
            p.dc_after.as_secs_f64()
        );
    }
    let results = faults::run_all(&all, Arc::clone(&ns), pm.is_some(), jobs);
    if let Some(p) = pm.as_mut() {
        p.stop();
    }
    drop(pm);
    let table = faults::table(&all, &results);
    let lines: String = results
        .iter()
        .map(|r| faults::summary_line(r) + "\n")
        .collect();
    let out = binary::workspace_root().join("target");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("faults-table.md"), format!("{netem}\n\n{table}"));
    let _ = std::fs::write(out.join("faults-runs.txt"), &lines);
    eprintln!(
        "\n{table}\n{} runs in {:.0} s",
        results.len(),
        t0.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&scratch);

    let failed: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.daemon == Daemon::BoothRs && !r.failures.is_empty())
        .collect();
    assert!(
        failed.is_empty(),
        "{} booth-rs run(s) failed:\n{}",
        failed.len(),
        failed
            .iter()
            .map(|r| faults::summary_line(r))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The checker sees a double grant where there is one: booth 1.0 leaves
    // a frozen holder granted (lease-safety.md §4.3).
    let booth_stop: Vec<&RunResult> = results
        .iter()
        .filter(|r| r.daemon == Daemon::Booth1x && r.id == "sigstop")
        .collect();
    if !booth_stop.is_empty() {
        assert!(
            booth_stop.iter().any(|r| !r.overlaps.is_empty()),
            "booth 1.0 under SIGSTOP showed no double grant: the checker is blind"
        );
    }
}
