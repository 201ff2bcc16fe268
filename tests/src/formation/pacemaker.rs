//! A real single-node Pacemaker (corosync + pacemakerd) in a network
//! namespace, as in pacemaker-testbed.md: corosync on 127.0.0.1 with knet,
//! quorum, then pacemakerd, then the DC. `crm_ticket` run in the same
//! namespace talks to this cluster's CIB.
//!
//! Two things differ from the testbed notes, both to keep tests short: the
//! CIB starts from a seeded `cib.xml` with `stonith-enabled=false` and
//! `dc-deadtime=2s`, so the lone node is DC after ~5 s instead of ~22 s.
//!
//! Pacemaker keeps its CIB in `/var/lib/pacemaker/cib`, shared by the whole
//! host, so only one such cluster may run at a time: [`Pacemaker::start`]
//! first takes an exclusive lock ([`LOCK_FILE`], waiting up to five minutes
//! for another test's cluster), then refuses when a `pacemakerd` or
//! `corosync` it does not own is running, and cleans
//! the CIB and scheduler files before starting and after stopping, so every
//! run starts from the seeded CIB. Stopping is by PID: SIGTERM pacemakerd
//! (it stops the resources and its children), then corosync.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::netns::Netns;
use super::poll::{try_wait_for, POLL_INTERVAL};
use super::{children_of, run_with_limit, signal, tail, Out, SYSTEM_PATH};

const CIB_DIR: &str = "/var/lib/pacemaker/cib";
/// Held while a test cluster runs, so test processes take turns.
pub const LOCK_FILE: &str = "/run/booth-rs-pacemaker.lock";
/// The longest wait for another test's cluster to finish.
const LOCK_WAIT: Duration = Duration::from_secs(300);
const PENGINE_DIR: &str = "/var/lib/pacemaker/pengine";
/// The node name corosync gives the lone node.
pub const NODE: &str = "node1";

const SEED_CIB: &str = r#"<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"#;

/// The running cluster; stopped by PID on drop.
#[derive(Debug)]
pub struct Pacemaker {
    ns: Arc<Netns>,
    dir: PathBuf,
    corosync: Option<Child>,
    pacemakerd: Option<Child>,
    /// The flock on [`LOCK_FILE`]; released (closed) after [`Pacemaker::stop`].
    lock: Option<fs::File>,
    /// How long corosync took to be quorate, and pacemakerd to elect the DC.
    pub quorate_after: Duration,
    pub dc_after: Duration,
}

impl Pacemaker {
    /// Starts corosync and pacemakerd in `ns`, files in `dir`; returns once
    /// `crm_mon -1` shows the DC and `stonith-enabled` is false.
    pub fn start(ns: Arc<Netns>, dir: &Path) -> Result<Pacemaker, String> {
        let lock = take_lock()?;
        for name in ["pacemakerd", "corosync"] {
            if let Some(pid) = find_process(name) {
                return Err(format!(
                    "a {name} is already running (pid {pid}); Pacemaker's CIB files in \
                     {CIB_DIR} are shared by the host, so only one test cluster can run"
                ));
            }
        }
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        clean_state();
        seed_cib()?;
        let conf = dir.join("corosync.conf");
        fs::write(&conf, corosync_conf(&dir.join("corosync.log")))
            .map_err(|e| format!("corosync.conf: {e}"))?;
        let mut pm = Pacemaker {
            ns,
            dir: dir.to_path_buf(),
            corosync: None,
            pacemakerd: None,
            lock: Some(lock),
            quorate_after: Duration::ZERO,
            dc_after: Duration::ZERO,
        };
        let t0 = Instant::now();
        let check = pm.run(&["corosync", "-t", "-c", &conf.display().to_string()]);
        if check.code != 0 {
            return Err(format!("corosync -t rejects the configuration:\n{check}"));
        }
        pm.corosync = Some(pm.spawn(
            &["corosync", "-f", "-c", &conf.display().to_string()],
            "corosync.out",
            &[],
        )?);
        let quorate = try_wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            let out = pm.run(&["corosync-quorumtool", "-s"]);
            out.stdout
                .lines()
                .any(|l| l.starts_with("Quorate:") && l.contains("Yes"))
                .then_some(())
        });
        if quorate.is_none() {
            return Err(format!(
                "corosync is not quorate after 30 s:\n{}",
                pm.diagnostics()
            ));
        }
        pm.quorate_after = t0.elapsed();
        let logfile = dir.join("pacemaker.log");
        pm.pacemakerd = Some(pm.spawn(
            &["pacemakerd"],
            "pacemakerd.out",
            &[("PCMK_logfile", &logfile.display().to_string())],
        )?);
        let dc = try_wait_for(Duration::from_secs(90), Duration::from_millis(200), || {
            pm.crm_mon()
                .contains(&format!("Current DC: {NODE}"))
                .then_some(())
        });
        if dc.is_none() {
            return Err(format!("no DC after 90 s:\n{}", pm.diagnostics()));
        }
        pm.dc_after = t0.elapsed();
        // Already in the seeded CIB; set again as the testbed notes do.
        let out = pm.run(&[
            "crm_attribute",
            "-t",
            "crm_config",
            "-n",
            "stonith-enabled",
            "-v",
            "false",
        ]);
        if out.code != 0 {
            return Err(format!("crm_attribute stonith-enabled failed:\n{out}"));
        }
        Ok(pm)
    }

    /// Runs a command in the namespace with a clean environment.
    pub fn run(&self, argv: &[&str]) -> Out {
        self.run_env(argv, &[])
    }

    /// [`Pacemaker::run`] with extra environment variables.
    pub fn run_env(&self, argv: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        self.ns.enter(&mut cmd);
        run_with_limit(cmd, Duration::from_secs(60))
    }

    fn spawn(&self, argv: &[&str], out: &str, env: &[(&str, &str)]) -> Result<Child, String> {
        let log = fs::File::create(self.dir.join(out)).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        self.ns.enter(&mut cmd);
        cmd.spawn()
            .map_err(|e| format!("cannot start {}: {e}", argv[0]))
    }

    /// `crm_mon -1` (stdout and stderr).
    pub fn crm_mon(&self) -> String {
        let out = self.run(&["crm_mon", "-1"]);
        format!("{}{}", out.stdout, out.stderr)
    }

    /// Adds an `ocf:pacemaker:Dummy` resource that runs only where `ticket`
    /// is granted (`rsc_ticket`, loss-policy stop).
    pub fn add_dummy_with_ticket(&self, rsc: &str, ticket: &str) -> Result<(), String> {
        let primitive =
            format!(r#"<primitive id="{rsc}" class="ocf" provider="pacemaker" type="Dummy"/>"#);
        let constraint = format!(
            r#"<rsc_ticket id="{rsc}-needs-{ticket}" rsc="{rsc}" ticket="{ticket}" loss-policy="stop"/>"#
        );
        for (section, xml) in [("resources", primitive), ("constraints", constraint)] {
            let out = self.run(&["cibadmin", "-C", "-o", section, "-X", &xml]);
            if out.code != 0 {
                return Err(format!("cibadmin -C -o {section} failed:\n{out}"));
            }
        }
        Ok(())
    }

    /// `crm_resource --locate -r RSC`: `Some(node)` where it runs.
    pub fn locate(&self, rsc: &str) -> Result<Option<String>, String> {
        let out = self.run(&["crm_resource", "--locate", "-r", rsc]);
        let text = format!("{}{}", out.stdout, out.stderr);
        if let Some(l) = text.lines().find(|l| l.contains("is running on:")) {
            return Ok(Some(l.rsplit(':').next().unwrap_or("").trim().to_owned()));
        }
        if text.contains("is NOT running") {
            return Ok(None);
        }
        Err(format!("crm_resource --locate -r {rsc}:\n{out}"))
    }

    /// Output and logs, for failure messages.
    pub fn diagnostics(&self) -> String {
        let read = |f: &str| fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!(
            "---- corosync:\n{}\n---- pacemakerd:\n{}\n---- pacemaker.log:\n{}\n",
            tail(&read("corosync.out"), 20),
            tail(&read("pacemakerd.out"), 20),
            tail(&read("pacemaker.log"), 40)
        )
    }

    /// Stops pacemakerd (waiting up to 60 s for it and its children), then
    /// corosync, then cleans the CIB files. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.pacemakerd.take() {
            let children = children_of(p.id());
            signal(p.id(), libc::SIGTERM);
            let done = try_wait_for(Duration::from_secs(60), POLL_INTERVAL, || {
                p.try_wait().ok().flatten()
            });
            if done.is_none() {
                eprintln!("pacemaker: pacemakerd ignored SIGTERM for 60 s, killing it");
                let _ = p.kill();
                let _ = p.wait();
            }
            for c in children {
                let gone = try_wait_for(Duration::from_secs(10), POLL_INTERVAL, || {
                    (!alive(c)).then_some(())
                });
                if gone.is_none() {
                    signal(c, libc::SIGKILL);
                }
            }
        }
        if let Some(mut c) = self.corosync.take() {
            signal(c.id(), libc::SIGTERM);
            let done = try_wait_for(Duration::from_secs(20), POLL_INTERVAL, || {
                c.try_wait().ok().flatten()
            });
            if done.is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        clean_state();
        self.lock = None;
    }
}

/// An exclusive flock on [`LOCK_FILE`], waiting up to [`LOCK_WAIT`].
fn take_lock() -> Result<fs::File, String> {
    use std::os::fd::AsRawFd;
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .map_err(|e| format!("{LOCK_FILE}: {e}"))?;
    let try_lock = || {
        // SAFETY: flock on a descriptor we own.
        (unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0).then_some(())
    };
    if try_lock().is_none() {
        eprintln!(
            "pacemaker: another test's cluster holds {LOCK_FILE}; waiting up to {LOCK_WAIT:?}"
        );
        try_wait_for(LOCK_WAIT, Duration::from_millis(200), try_lock).ok_or_else(|| {
            format!("another test's Pacemaker held {LOCK_FILE} for {LOCK_WAIT:?}")
        })?;
    }
    Ok(f)
}

impl Drop for Pacemaker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        self.stop();
    }
}

fn corosync_conf(logfile: &Path) -> String {
    format!(
        "totem {{
    version: 2
    cluster_name: boothrs
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}}
logging {{
    to_stderr: yes
    to_logfile: yes
    logfile: {}
    to_syslog: no
}}
quorum {{
    provider: corosync_votequorum
}}
nodelist {{
    node {{
        name: {NODE}
        nodeid: 1
        ring0_addr: 127.0.0.1
    }}
}}
",
        logfile.display()
    )
}

/// Removes the CIB and scheduler files so the next start begins afresh.
fn clean_state() {
    for dir in [CIB_DIR, PENGINE_DIR] {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

fn seed_cib() -> Result<(), String> {
    let path = Path::new(CIB_DIR).join("cib.xml");
    fs::write(&path, SEED_CIB).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
    let out = Command::new("chown")
        .arg("hacluster:haclient")
        .arg(&path)
        .output()
        .map_err(|e| format!("chown: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chown hacluster:haclient {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A process whose command name is `name`, if any.
fn find_process(name: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == name && alive(pid)).then_some(pid)
    })
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
