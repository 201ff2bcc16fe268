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
//!
//! [`Pacemaker::start_cluster`] starts a cluster of several nodes instead,
//! each a [`NodeNs`] of its own (network, mount and PID namespaces) with a
//! private `/run`, `/var/lib` (so `/var/lib/pacemaker`, `/var/lib/corosync`
//! and `/var/lib/booth`) and `/dev/shm`, linked by veth pairs to a bridge in
//! a namespace the test created: corosync (knet) between the nodes'
//! addresses, `two_node` quorum for two. Nothing of the host's Pacemaker
//! files is used. Each node has its own `/dev/log`, read by a thread of the
//! test into `syslog-NODE.log` (daemons, agents), and extra OCF agents can be
//! laid over `/usr/lib/ocf/resource.d` (an overlay, read-only, only inside
//! the node). A node crash is SIGKILL of its PID namespace's init and its
//! link going down ([`Pacemaker::crash`]).

use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::netns::{Netns, NodeNs};
use super::poll::{epoch_now, try_wait_for, POLL_INTERVAL};
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

/// Where a node's processes run.
#[derive(Debug)]
enum Place {
    /// A network namespace, the host's files (the single-node cluster).
    Netns(Arc<Netns>),
    /// Namespaces of its own ([`Pacemaker::start_cluster`]).
    Node(NodeNs),
}

/// One node: its place, its daemons and its log reader.
#[derive(Debug)]
struct PmNode {
    name: String,
    place: Place,
    corosync: Option<Child>,
    pacemakerd: Option<Child>,
    syslog: Option<SyslogReader>,
}

impl PmNode {
    fn alive(&self) -> bool {
        match &self.place {
            Place::Netns(_) => true,
            Place::Node(n) => n.is_alive(),
        }
    }

    fn command(&self, argv: &[&str]) -> Command {
        match &self.place {
            Place::Netns(ns) => {
                let mut cmd = Command::new(argv[0]);
                cmd.args(&argv[1..]).env_clear().env("PATH", SYSTEM_PATH);
                ns.enter(&mut cmd);
                cmd
            }
            Place::Node(n) => n.command(argv),
        }
    }
}

/// A cluster of several nodes for [`Pacemaker::start_cluster`].
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Logs, configuration and `/dev/log` copies go here.
    pub dir: PathBuf,
    /// The namespace with the bridge the nodes are linked to.
    pub lan: Arc<Netns>,
    pub bridge: String,
    /// One address per node (`node1`, `node2`, ...) on the bridge's subnet.
    pub addrs: Vec<Ipv4Addr>,
    pub prefix: u8,
    /// A directory of OCF providers (`PROVIDER/AGENT`) laid over
    /// `/usr/lib/ocf/resource.d` inside every node.
    pub ocf: Option<PathBuf>,
    /// Extra environment of pacemakerd, which its resource agents inherit.
    pub env: Vec<(String, String)>,
}

/// The interface each node has on the bridge.
pub const NODE_IF: &str = "eth0";

/// The running cluster; stopped by PID on drop.
#[derive(Debug)]
pub struct Pacemaker {
    dir: PathBuf,
    nodes: Vec<PmNode>,
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
        let nodes = [(NODE.to_owned(), Ipv4Addr::LOCALHOST)];
        fs::write(
            &conf,
            corosync_conf(Some(&dir.join("corosync.log")), &nodes),
        )
        .map_err(|e| format!("corosync.conf: {e}"))?;
        let mut pm = Pacemaker {
            dir: dir.to_path_buf(),
            nodes: vec![PmNode {
                name: NODE.to_owned(),
                place: Place::Netns(ns),
                corosync: None,
                pacemakerd: None,
                syslog: None,
            }],
            lock: Some(lock),
            quorate_after: Duration::ZERO,
            dc_after: Duration::ZERO,
        };
        pm.boot(&[conf], &[])?;
        Ok(pm)
    }

    /// A cluster of `spec.addrs.len()` nodes, each in namespaces of its own
    /// (see the module documentation), the CIB seeded as for [`Pacemaker::start`]
    /// plus `resource-stickiness=100`. Returns once every node is online and
    /// a DC elected. Takes [`LOCK_FILE`] too, so test clusters take turns.
    pub fn start_cluster(spec: &ClusterSpec) -> Result<Pacemaker, String> {
        let lock = take_lock()?;
        let dir = &spec.dir;
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let names: Vec<(String, Ipv4Addr)> = spec
            .addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("node{}", i + 1), *a))
            .collect();
        let mut pm = Pacemaker {
            dir: dir.clone(),
            nodes: Vec::new(),
            lock: Some(lock),
            quorate_after: Duration::ZERO,
            dc_after: Duration::ZERO,
        };
        let mut confs = Vec::new();
        for (i, (name, addr)) in names.iter().enumerate() {
            let net = Netns::create().map_err(|e| format!("ip netns add: {e}"))?;
            net.veth_to_bridge(
                NODE_IF,
                *addr,
                spec.prefix,
                &spec.lan,
                &format!("v{}", i + 1),
                &spec.bridge,
            )
            .map_err(|e| format!("{name}: {e}"))?;
            let node = NodeNs::create(name, net, &node_setup(spec.ocf.as_deref()))?;
            let syslog = SyslogReader::start(&node, &dir.join(format!("syslog-{name}.log")))?;
            pm.nodes.push(PmNode {
                name: name.clone(),
                place: Place::Node(node),
                corosync: None,
                pacemakerd: None,
                syslog: Some(syslog),
            });
            let conf = dir.join(format!("corosync-{name}.conf"));
            fs::write(&conf, corosync_conf(None, &names))
                .map_err(|e| format!("{}: {e}", conf.display()))?;
            confs.push(conf);
        }
        let env: Vec<(&str, &str)> = spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pm.boot(&confs, &env)?;
        let online = format!(
            "Online: [ {} ]",
            names
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let all = try_wait_for(Duration::from_secs(60), Duration::from_millis(200), || {
            pm.crm_mon().contains(&online).then_some(())
        });
        if all.is_none() {
            return Err(format!(
                "not all nodes online after 60 s:\n{}\n{}",
                pm.crm_mon(),
                pm.diagnostics()
            ));
        }
        Ok(pm)
    }

    /// corosync on every node (configuration `confs[i]`), quorum, then
    /// pacemakerd (extra environment `env`), the DC and stonith-enabled=false.
    fn boot(&mut self, confs: &[PathBuf], env: &[(&str, &str)]) -> Result<(), String> {
        let t0 = Instant::now();
        for (i, conf) in confs.iter().enumerate() {
            let c = conf.display().to_string();
            let check = self.run_on(i, &["corosync", "-t", "-c", &c]);
            if check.code != 0 {
                return Err(format!("corosync -t rejects the configuration:\n{check}"));
            }
            let out = self.out_name(i, "corosync");
            self.nodes[i].corosync =
                Some(self.spawn(i, &["corosync", "-f", "-c", &c], &out, &[])?);
        }
        let n = confs.len();
        for i in 0..n {
            let quorate = try_wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
                let out = self.run_on(i, &["corosync-quorumtool", "-s"]);
                let yes = out
                    .stdout
                    .lines()
                    .any(|l| l.starts_with("Quorate:") && l.contains("Yes"));
                let all = out.stdout.lines().any(|l| {
                    l.starts_with("Nodes:") && l.split_whitespace().nth(1) == Some(&n.to_string())
                });
                (yes && all).then_some(())
            });
            if quorate.is_none() {
                return Err(format!(
                    "corosync is not quorate after 30 s:\n{}",
                    self.diagnostics()
                ));
            }
        }
        self.quorate_after = t0.elapsed();
        for i in 0..n {
            let logfile = self.pacemaker_log(i).display().to_string();
            let mut all_env = vec![("PCMK_logfile", logfile.as_str())];
            all_env.extend_from_slice(env);
            let out = self.out_name(i, "pacemakerd");
            self.nodes[i].pacemakerd = Some(self.spawn(i, &["pacemakerd"], &out, &all_env)?);
        }
        let dc = try_wait_for(Duration::from_secs(90), Duration::from_millis(200), || {
            let mon = self.crm_mon();
            self.nodes
                .iter()
                .any(|nd| mon.contains(&format!("Current DC: {} ", nd.name)))
                .then_some(())
        });
        if dc.is_none() {
            return Err(format!("no DC after 90 s:\n{}", self.diagnostics()));
        }
        self.dc_after = t0.elapsed();
        // Already in the seeded CIB; set again as the testbed notes do.
        let out = self.run(&[
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
        Ok(())
    }

    fn out_name(&self, i: usize, what: &str) -> String {
        match self.nodes.len() {
            1 => format!("{what}.out"),
            _ => format!("{what}-{}.out", self.nodes[i].name),
        }
    }

    /// Where node `i`'s Pacemaker logs.
    pub fn pacemaker_log(&self, i: usize) -> PathBuf {
        match self.nodes.len() {
            1 => self.dir.join("pacemaker.log"),
            _ => self
                .dir
                .join(format!("pacemaker-{}.log", self.nodes[i].name)),
        }
    }

    /// What node `i`'s `/dev/log` received (empty for the single node).
    pub fn syslog_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("syslog-{}.log", self.nodes[i].name))
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s name (`node1`, ...).
    pub fn node_name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// The index of the node named `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Whether node `i` runs (was not crashed).
    pub fn node_alive(&self, i: usize) -> bool {
        self.nodes[i].alive()
    }

    /// Node `i`'s namespaces (`None` for the single node).
    pub fn node_ns(&self, i: usize) -> Option<&NodeNs> {
        match &self.nodes[i].place {
            Place::Node(n) => Some(n),
            Place::Netns(_) => None,
        }
    }

    /// Crashes node `i`: SIGKILL to its PID namespace's init (every process
    /// of the node dies at once: corosync, Pacemaker, the resources'
    /// processes), then its link goes down, so its addresses (a floating IP
    /// it held) vanish from the network as with a dead machine. Returns the
    /// wall time of the kill.
    pub fn crash(&mut self, i: usize) -> Result<f64, String> {
        let nd = &mut self.nodes[i];
        let Place::Node(node) = &mut nd.place else {
            return Err("only nodes of start_cluster can crash".into());
        };
        let at = epoch_now();
        node.kill();
        node.net()
            .ip(&["link", "set", NODE_IF, "down"])
            .map_err(|e| format!("{}: {e}", nd.name))?;
        // The handles are nsenter processes, gone with the node.
        for c in [nd.corosync.take(), nd.pacemakerd.take()]
            .into_iter()
            .flatten()
        {
            reap(c);
        }
        Ok(at)
    }

    /// Runs a command on the first node that is alive, with a clean environment.
    pub fn run(&self, argv: &[&str]) -> Out {
        self.run_env(argv, &[])
    }

    /// [`Pacemaker::run`] with extra environment variables.
    pub fn run_env(&self, argv: &[&str], env: &[(&str, &str)]) -> Out {
        match self.nodes.iter().position(PmNode::alive) {
            Some(i) => self.run_on_env(i, argv, env),
            None => Out {
                code: -1,
                stdout: String::new(),
                stderr: "no node of the cluster is alive".into(),
                took: Duration::ZERO,
            },
        }
    }

    /// Runs a command on node `i`.
    pub fn run_on(&self, i: usize, argv: &[&str]) -> Out {
        self.run_on_env(i, argv, &[])
    }

    fn run_on_env(&self, i: usize, argv: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = self.nodes[i].command(argv);
        cmd.envs(env.iter().copied()).stdin(Stdio::null());
        run_with_limit(cmd, Duration::from_secs(60))
    }

    fn spawn(
        &self,
        i: usize,
        argv: &[&str],
        out: &str,
        env: &[(&str, &str)],
    ) -> Result<Child, String> {
        let log = fs::File::create(self.dir.join(out)).map_err(|e| e.to_string())?;
        let mut cmd = self.nodes[i].command(argv);
        cmd.envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
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
        let read = |f: &Path| fs::read_to_string(f).unwrap_or_default();
        let mut s = String::new();
        for i in 0..self.nodes.len() {
            let name = &self.nodes[i].name;
            s.push_str(&format!(
                "---- {name} corosync:\n{}\n---- {name} pacemakerd:\n{}\n---- {name} {}:\n{}\n",
                tail(&read(&self.dir.join(self.out_name(i, "corosync"))), 20),
                tail(&read(&self.dir.join(self.out_name(i, "pacemakerd"))), 20),
                self.pacemaker_log(i).display(),
                tail(&read(&self.pacemaker_log(i)), 40)
            ));
            if self.nodes[i].syslog.is_some() {
                s.push_str(&format!(
                    "---- {name} syslog (boothd, agents):\n{}\n",
                    tail(&read(&self.syslog_path(i)), 60)
                ));
            }
        }
        s
    }

    /// Stops pacemakerd (waiting up to 60 s for it and its children), then
    /// corosync, then cleans the CIB files. Idempotent. Nodes of
    /// [`Pacemaker::start_cluster`] are killed instead (their files live in
    /// their own namespaces and go with them), then their namespaces deleted.
    pub fn stop(&mut self) {
        let mut host_files = false;
        for nd in &mut self.nodes {
            match &mut nd.place {
                Place::Netns(_) => {
                    host_files = true;
                    stop_daemons(nd.pacemakerd.take(), nd.corosync.take());
                }
                Place::Node(node) => {
                    node.kill();
                    for c in [nd.corosync.take(), nd.pacemakerd.take()]
                        .into_iter()
                        .flatten()
                    {
                        reap(c);
                    }
                }
            }
            if let Some(r) = nd.syslog.take() {
                r.stop();
            }
        }
        // Namespaces are deleted with their last handle.
        self.nodes.clear();
        if host_files {
            clean_state();
        }
        self.lock = None;
    }
}

/// SIGTERM pacemakerd (it stops the resources and its children; up to 60 s),
/// then corosync.
fn stop_daemons(pacemakerd: Option<Child>, corosync: Option<Child>) {
    if let Some(mut p) = pacemakerd {
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
    if let Some(mut c) = corosync {
        signal(c.id(), libc::SIGTERM);
        let done = try_wait_for(Duration::from_secs(20), POLL_INTERVAL, || {
            c.try_wait().ok().flatten()
        });
        if done.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for an `nsenter` whose node was killed (it exits with its child).
fn reap(mut c: Child) {
    let done = try_wait_for(Duration::from_secs(5), POLL_INTERVAL, || {
        c.try_wait().ok().flatten()
    });
    if done.is_none() {
        let _ = c.kill();
        let _ = c.wait();
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

/// corosync.conf for `nodes` (name, ring0 address; IDs 1, 2, ...); with two
/// nodes, `two_node` quorum (the survivor of a crash stays quorate).
fn corosync_conf(logfile: Option<&Path>, nodes: &[(String, Ipv4Addr)]) -> String {
    let logging = match logfile {
        Some(f) => format!("    to_logfile: yes\n    logfile: {}\n", f.display()),
        None => "    to_logfile: no\n".to_owned(),
    };
    let two_node = if nodes.len() == 2 {
        "    two_node: 1\n"
    } else {
        ""
    };
    let mut list = String::new();
    for (i, (name, addr)) in nodes.iter().enumerate() {
        list.push_str(&format!(
            "    node {{\n        name: {name}\n        nodeid: {}\n        ring0_addr: {addr}\n    }}\n",
            i + 1
        ));
    }
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
{logging}    to_syslog: no
}}
quorum {{
    provider: corosync_votequorum
{two_node}}}
nodelist {{
{list}}}
"
    )
}

/// The init script of a node of [`Pacemaker::start_cluster`]: its own
/// `/run`, `/var/lib` (Pacemaker's and corosync's directories, and booth's,
/// which boothd creates), `/dev/shm` and `/dev/log` (an overlay of `/dev`, so
/// the socket exists only there), the seeded CIB, and `ocf` laid over the
/// OCF agents.
fn node_setup(ocf: Option<&Path>) -> String {
    let mut s = String::from(
        "mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/crm /run/resource-agents /run/.dev/upper /run/.dev/work
chown hacluster:haclient /run/crm
chmod 750 /run/crm
mount -t tmpfs -o mode=755 tmpfs /var/lib
mkdir -p /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores /var/lib/corosync
chown -R hacluster:haclient /var/lib/pacemaker
chmod 750 /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores
mount -t overlay overlay -o lowerdir=/dev,upperdir=/run/.dev/upper,workdir=/run/.dev/work /dev
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
",
    );
    if let Some(dir) = ocf {
        s.push_str(&format!(
            "mount -t overlay overlay -o lowerdir={}:/usr/lib/ocf/resource.d /usr/lib/ocf/resource.d\n",
            dir.display()
        ));
    }
    let cib = SEED_CIB.replace(
        "    <resources/>",
        "    <rsc_defaults>
      <meta_attributes id=\"rsc-options\">
        <nvpair id=\"rsc-options-resource-stickiness\" name=\"resource-stickiness\" value=\"100\"/>
      </meta_attributes>
    </rsc_defaults>
    <resources/>",
    );
    s.push_str(&format!(
        "cat > {CIB_DIR}/cib.xml <<'EOF'\n{cib}EOF\nchown hacluster:haclient {CIB_DIR}/cib.xml\nchmod 600 {CIB_DIR}/cib.xml\n"
    ));
    s
}

/// Reads a node's `/dev/log` (a datagram socket made through
/// `/proc/INIT/root`, so it exists only inside the node) into a file, each
/// line prefixed with the wall time it arrived.
#[derive(Debug)]
struct SyslogReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SyslogReader {
    fn start(node: &NodeNs, out: &Path) -> Result<SyslogReader, String> {
        let path = node.path("/dev/log");
        let sock = UnixDatagram::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o666));
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut file = fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !flag.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let _ = writeln!(file, "{:.3} {}", epoch_now(), text.trim_end());
                }
            }
        });
        Ok(SyslogReader {
            stop,
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
