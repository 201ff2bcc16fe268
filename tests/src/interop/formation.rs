//! A mixed formation of booth 1.x daemons and ours in the test's network
//! namespace: loopback addresses 127.0.0.2 and up, one stub `crm_ticket` per
//! site, booth started with a clean environment (`env -i PATH=…`) and
//! `-D -s <ip>`, every daemon killed by PID when the formation drops — and
//! its logs printed when the test failed.

use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::boothwire::site_id;
use super::cib::{self, Interval};
use super::netns::Netns;
use super::process::{self, Guard, Output};

/// Debian's booth 1.0-283.
pub const BOOTHD_1X: &str = "/usr/sbin/boothd";
pub const BOOTH_1X: &str = "/usr/sbin/booth";
/// The PATH every daemon and client gets, after the member's stub directory.
const SYSTEM_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// Longest a client command may take (booth's has no read timeout).
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

/// Which implementation a member runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Booth,
    Ours,
}

impl Impl {
    pub fn word(self) -> &'static str {
        match self {
            Impl::Booth => "booth",
            Impl::Ours => "ours",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Site,
    Arbitrator,
}

/// The authfile: none, an ASCII key with whitespace around it (booth trims
/// it), or 64 binary bytes (not trimmed; starts with a blank and ends with
/// a newline to show that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    None,
    Ascii,
    Binary,
    /// These exact file bytes.
    Bytes(Vec<u8>),
}

impl Key {
    pub fn file_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Key::None => None,
            Key::Ascii => Some(b"  booth-rs-interop-ascii-key-0123456789\n".to_vec()),
            Key::Binary => {
                let mut k = [0u8; 64];
                let mut x = 0x9E37_79B9u32;
                for b in k.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *b = (x >> 24) as u8 | 0x80;
                }
                k[0] = b' ';
                k[1] = 0;
                k[63] = b'\n';
                Some(k.to_vec())
            }
            Key::Bytes(b) => Some(b.clone()),
        }
    }

    pub fn word(&self) -> &'static str {
        match self {
            Key::None => "no authfile",
            Key::Ascii => "ASCII key",
            Key::Binary => "binary key",
            Key::Bytes(_) => "key",
        }
    }
}

/// What a member's config file says beyond the members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub key: Key,
    /// Lines of the ticket section (indented); `@DIR@` stands for the
    /// formation's directory.
    pub ticket_lines: String,
}

impl Params {
    /// `expire = 10, timeout = 1, retries = 3, acquire-after = 0`.
    pub fn standard(key: Key) -> Params {
        Params {
            key,
            ticket_lines:
                "    expire = 10\n    timeout = 1\n    retries = 3\n    acquire-after = 0\n"
                    .to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub members: Vec<(Impl, Role)>,
    pub params: Params,
    /// Members whose config differs (a timing or key disagreement).
    pub overrides: Vec<(usize, Params)>,
}

impl Spec {
    pub fn new(members: &[(Impl, Role)], key: Key) -> Spec {
        Spec {
            members: members.to_vec(),
            params: Params::standard(key),
            overrides: Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        let m: Vec<String> = self
            .members
            .iter()
            .map(|(i, r)| {
                format!(
                    "{} {}",
                    i.word(),
                    match r {
                        Role::Site => "site",
                        Role::Arbitrator => "arbitrator",
                    }
                )
            })
            .collect();
        format!("{} ({})", m.join(", "), self.params.key.word())
    }
}

#[derive(Debug)]
pub struct Member {
    pub imp: Impl,
    pub role: Role,
    pub ip: String,
    pub id: u32,
    pub config: PathBuf,
    /// Key as booth derives it from this member's authfile.
    pub key: Option<Vec<u8>>,
    bin: PathBuf,
    log: PathBuf,
    crm: PathBuf,
    lock: PathBuf,
    state: PathBuf,
    guard: Option<Guard>,
    /// Wall-clock times of SIGKILLs.
    pub kills: Vec<f64>,
}

impl Member {
    pub fn running(&self) -> bool {
        self.guard.is_some()
    }

    pub fn is_site(&self) -> bool {
        self.role == Role::Site
    }

    pub fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.imp.word(),
            if self.is_site() { "site" } else { "arbitrator" },
            self.ip
        )
    }
}

/// One member's `booth list` line for the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLine {
    /// `None` for "NONE" (unknown) and "none" (revoked).
    pub leader: Option<String>,
    pub raw: String,
}

pub fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Our `boothd`: `BOOTHD=…`, else the binary next to this test executable's
/// `deps/` directory (`cargo test --workspace` builds it). Warns when it is
/// older than the sources.
pub fn our_boothd() -> PathBuf {
    if let Some(p) = std::env::var_os("BOOTHD") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("boothd");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --release -p booth-linux` \
         (or run `cargo test --workspace`), or point BOOTHD at it",
        bin.display()
    );
    let built = fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let newest = ["core/src", "platform-linux/src"]
        .iter()
        .filter_map(|d| newest_mtime(&root.join(d)))
        .max();
    if let (Some(b), Some(n)) = (built, newest) {
        if n > b {
            eprintln!(
                "interop: WARNING: {} is older than the sources; rebuild it",
                bin.display()
            );
        }
    }
    bin
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut best = None;
    for e in fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let t = if p.is_dir() {
            newest_mtime(&p)
        } else {
            e.metadata().and_then(|m| m.modified()).ok()
        };
        best = best.max(t);
    }
    best
}

/// Why an interop test cannot run here, if it cannot: not root (no network
/// namespace) or booth 1.x not installed. CI runs as root with booth
/// installed (scripts/setup), so there this is always `None`.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root for network namespaces".to_owned());
    }
    for p in [BOOTHD_1X, BOOTH_1X] {
        if !Path::new(p).exists() {
            return Some(format!("{p} is missing: apt-get install booth"));
        }
    }
    None
}

/// A formation, stopped (every process SIGKILLed by PID) when dropped.
#[derive(Debug)]
pub struct Formation {
    pub ns: Netns,
    pub name: String,
    pub dir: PathBuf,
    pub port: u16,
    pub ticket: String,
    pub members: Vec<Member>,
    pub spec: Spec,
    boothd: PathBuf,
    /// (wall time, what happened), for the failure report.
    pub timeline: Vec<(f64, String)>,
    t0: f64,
    /// Processes our daemons forked that may outlive them on purpose (the
    /// lease guard): killed when the formation drops.
    helpers: Vec<u32>,
}

impl Formation {
    /// Writes configs, keys and stubs under a fresh directory; starts nothing.
    pub fn new(ns: Netns, name: &str, spec: Spec) -> Formation {
        ns.assert_inside();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "booth-interop-{name}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).expect("create the test directory");
        // booth drops to another uid (even to 4294967294, §4.2), and its
        // crm_ticket stub must still write its log.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let port = 9929;
        let ticket = "tA".to_owned();
        let mut members = Vec::new();
        let ips: Vec<String> = (0..spec.members.len())
            .map(|i| format!("127.0.0.{}", 2 + i))
            .collect();
        let mut configs: Vec<(Params, PathBuf, Option<Vec<u8>>)> = Vec::new();
        for (i, &(imp, role)) in spec.members.iter().enumerate() {
            let params = spec
                .overrides
                .iter()
                .find(|(m, _)| *m == i)
                .map_or(&spec.params, |(_, p)| p)
                .clone();
            let (config, key) = match configs.iter().find(|(p, _, _)| *p == params) {
                Some((_, path, key)) => (path.clone(), key.clone()),
                None => {
                    let n = configs.len();
                    let (path, key) =
                        write_config(&dir, n, port, &ticket, &spec.members, &ips, &params);
                    configs.push((params.clone(), path.clone(), key.clone()));
                    (path, key)
                }
            };
            let ip = ips[i].clone();
            let octets: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap_or(0)).collect();
            let bin = dir.join(format!("bin{i}"));
            fs::create_dir_all(&bin).expect("mkdir bin");
            let crm = dir.join(format!("crm{i}.log"));
            let stub = bin.join("crm_ticket");
            fs::write(&stub, cib::stub_script(&crm, &dir.join(format!("cib{i}"))))
                .expect("write the stub");
            fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).expect("chmod");
            for f in [&crm, &dir.join(format!("member{i}.log"))] {
                fs::write(f, "").expect("create a log");
                fs::set_permissions(f, fs::Permissions::from_mode(0o666)).expect("chmod");
            }
            let state = dir.join(format!("state{i}"));
            fs::create_dir_all(&state).expect("mkdir state");
            members.push(Member {
                imp,
                role,
                id: site_id([octets[0], octets[1], octets[2], octets[3]]),
                ip,
                config,
                key,
                bin,
                log: dir.join(format!("member{i}.log")),
                crm,
                lock: dir.join(format!("lock{i}")),
                state,
                guard: None,
                kills: Vec::new(),
            });
        }
        Formation {
            ns,
            name: name.to_owned(),
            dir,
            port,
            ticket,
            members,
            spec,
            boothd: our_boothd(),
            timeline: Vec::new(),
            t0: wall_now(),
            helpers: Vec::new(),
        }
    }

    /// Notes an event on the timeline (printed if the test fails).
    pub fn note(&mut self, what: impl Into<String>) {
        self.timeline.push((wall_now(), what.into()));
    }

    /// Seconds since the formation was created.
    pub fn elapsed(&self) -> f64 {
        wall_now() - self.t0
    }

    pub fn site_ids(&self) -> Vec<u32> {
        self.members.iter().map(|m| m.id).collect()
    }

    pub fn ip_of_id(&self, id: u32) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.ip.as_str())
    }

    pub fn index_of(&self, ip: &str) -> usize {
        self.members
            .iter()
            .position(|m| m.ip == ip)
            .unwrap_or_else(|| panic!("no member {ip}"))
    }

    /// Starts member `i` (again).
    pub fn start(&mut self, i: usize) {
        self.ns.assert_inside();
        let m = &self.members[i];
        assert!(m.guard.is_none(), "{} already runs", m.label());
        let out = fs::OpenOptions::new()
            .append(true)
            .open(&m.log)
            .expect("open the member log");
        let path = format!("{}:{SYSTEM_PATH}", m.bin.display());
        let mut cmd = Command::new(match m.imp {
            Impl::Booth => Path::new(BOOTHD_1X),
            Impl::Ours => self.boothd.as_path(),
        });
        // booth takes -s only after -D (booth-protocol.md §4.4).
        cmd.args(["daemon", "-S", "-D", "-s", &m.ip, "-c"])
            .arg(&m.config)
            .arg("-l")
            .arg(&m.lock)
            .env_clear()
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        if m.imp == Impl::Ours {
            cmd.env("BOOTH_STATE_DIR", &m.state);
        }
        let guard = Guard::spawn(cmd).expect("start a daemon");
        let label = m.label();
        self.members[i].guard = Some(guard);
        self.note(format!("started {label}"));
    }

    /// Starts every member and waits until each accepts clients and heard
    /// from every other one.
    pub fn start_all(&mut self) {
        for i in 0..self.members.len() {
            self.start(i);
        }
        self.wait_ready(true);
    }

    /// Waits until every running member accepts TCP connections and, with
    /// `traffic`, its `booth peers` shows packets received from every other
    /// running member.
    pub fn wait_ready(&mut self, traffic: bool) {
        let limit = Duration::from_secs(15);
        for i in 0..self.members.len() {
            if !self.members[i].running() {
                continue;
            }
            let addr: SocketAddr = format!("{}:{}", self.members[i].ip, self.port)
                .parse()
                .expect("addr");
            let up = process::poll(limit, Duration::from_millis(20), || {
                if let Some(g) = self.members[i].guard.as_mut() {
                    if let Some(st) = g.exited() {
                        panic!("{} exited at start: {st}", self.members[i].label());
                    }
                }
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .ok()
                    .map(|_| ())
            });
            assert!(up.is_some(), "{} never listened", self.members[i].label());
            if let Some(pid) = self.members[i].guard.as_ref().and_then(Guard::pid) {
                for c in children_of(pid) {
                    if !self.helpers.contains(&c) {
                        self.helpers.push(c);
                    }
                }
            }
        }
        if !traffic {
            return;
        }
        for i in 0..self.members.len() {
            if !self.members[i].running() {
                continue;
            }
            let others: Vec<String> = self
                .members
                .iter()
                .enumerate()
                .filter(|(j, m)| *j != i && m.running())
                .map(|(_, m)| m.ip.clone())
                .collect();
            let ok = process::poll(limit, Duration::from_millis(50), || {
                let text = self.peers(i, Impl::Ours).stdout;
                let counts = parse_peers(&text);
                others
                    .iter()
                    .all(|ip| counts.iter().any(|p| &p.ip == ip && p.recv > 0))
                    .then_some(())
            });
            assert!(
                ok.is_some(),
                "{} did not hear from every member: {}",
                self.members[i].label(),
                self.peers(i, Impl::Ours).stdout
            );
        }
    }

    /// SIGKILLs member `i`.
    pub fn kill(&mut self, i: usize) {
        let label = self.members[i].label();
        let m = &mut self.members[i];
        let mut g = m.guard.take().expect("running");
        g.kill();
        m.kills.push(wall_now());
        self.note(format!("SIGKILL {label}"));
    }

    /// Stops member `i` as its service manager would (SIGTERM; neither
    /// implementation revokes on exit).
    pub fn stop(&mut self, i: usize) {
        let label = self.members[i].label();
        let mut g = self.members[i].guard.take().expect("running");
        g.stop(Duration::from_secs(5));
        self.note(format!("SIGTERM {label}"));
    }

    /// The member runs `imp` from its next start on (same address, config,
    /// CIB stub and lock file: an upgrade in place).
    pub fn replace_with(&mut self, i: usize, imp: Impl) {
        assert!(!self.members[i].running(), "stop it first");
        self.members[i].imp = imp;
    }

    /// SIGSTOP / SIGCONT.
    pub fn signal(&mut self, i: usize, sig: libc::c_int) {
        if let Some(g) = self.members[i].guard.as_ref() {
            g.signal(sig);
        }
        let label = self.members[i].label();
        self.note(format!("signal {sig} to {label}"));
    }

    /// A client command of implementation `via` against member `i`.
    pub fn client(&self, i: usize, via: Impl, args: &[&str]) -> Output {
        self.ns.assert_inside();
        let m = &self.members[i];
        let mut cmd = match via {
            Impl::Booth => Command::new(BOOTH_1X),
            Impl::Ours => {
                let mut c = Command::new(&self.boothd);
                c.arg0("booth");
                c
            }
        };
        cmd.args(&args[..1])
            .args(["-s", &m.ip, "-c"])
            .arg(&m.config)
            .args(&args[1..])
            .env_clear()
            .env("PATH", SYSTEM_PATH);
        process::run(cmd, CLIENT_LIMIT)
    }

    /// `booth grant -t T` at member `i` through `via`'s client. (booth
    /// 1.0-283's client crashes when the config has `site-user` & co. and
    /// the ticket is the last positional argument, so `-t` it is.)
    pub fn grant(&mut self, i: usize, via: Impl) -> Output {
        let t = self.ticket.clone();
        let out = self.client(i, via, &["grant", "-t", &t]);
        let label = self.members[i].label();
        self.note(format!(
            "grant at {label} via {} client: exit {:?} in {:.3} s",
            via.word(),
            out.code,
            out.took.as_secs_f64()
        ));
        out
    }

    pub fn revoke(&mut self, i: usize, via: Impl) -> Output {
        let t = self.ticket.clone();
        let out = self.client(i, via, &["revoke", "-t", &t]);
        let label = self.members[i].label();
        self.note(format!(
            "revoke at {label} via {} client: exit {:?} in {:.3} s",
            via.word(),
            out.code,
            out.took.as_secs_f64()
        ));
        out
    }

    pub fn peers(&self, i: usize, via: Impl) -> Output {
        self.client(i, via, &["peers"])
    }

    /// Member `i`'s list line for the ticket, through `via`'s client.
    pub fn list(&self, i: usize, via: Impl) -> Result<ListLine, String> {
        let out = self.client(i, via, &["list"]);
        if !out.ok() {
            return Err(format!(
                "{} list at {}: exit {:?} signal {:?}: {}{}",
                via.word(),
                self.members[i].ip,
                out.code,
                out.signal,
                out.stdout,
                out.stderr
            ));
        }
        parse_list(&out.stdout, &self.ticket)
            .ok_or_else(|| format!("no line for {} in {:?}", self.ticket, out.stdout))
    }

    /// Every running member's view through both clients.
    pub fn views(&self) -> Vec<(String, Impl, Result<ListLine, String>)> {
        let all: Vec<usize> = (0..self.members.len()).collect();
        self.views_of(&all)
    }

    /// The views of the running members among `only`, through both clients.
    pub fn views_of(&self, only: &[usize]) -> Vec<(String, Impl, Result<ListLine, String>)> {
        let mut v = Vec::new();
        for &i in only {
            let m = &self.members[i];
            if !m.running() {
                continue;
            }
            for via in [Impl::Booth, Impl::Ours] {
                v.push((m.label(), via, self.list(i, via)));
            }
        }
        v
    }

    /// The CIB grant intervals of every site so far.
    pub fn intervals(&self) -> Vec<Interval> {
        let mut all = Vec::new();
        for m in self.members.iter().filter(|m| m.is_site()) {
            let text = fs::read_to_string(&m.crm).unwrap_or_default();
            let writes = cib::parse_log(&text);
            all.extend(cib::intervals(
                &m.label(),
                &writes,
                &self.ticket,
                &m.kills,
                self.lease_secs(),
            ));
        }
        all
    }

    /// The ticket's `expire` in seconds, as the config says.
    pub fn lease_secs(&self) -> f64 {
        self.spec
            .params
            .ticket_lines
            .lines()
            .find_map(|l| l.trim().strip_prefix("expire = "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(600.0)
    }

    /// Whether site `i`'s CIB says granted right now (its last write).
    pub fn cib_granted(&self, i: usize) -> bool {
        let text = fs::read_to_string(&self.members[i].crm).unwrap_or_default();
        cib::parse_log(&text)
            .iter()
            .rev()
            .find(|w| w.ticket == self.ticket)
            .is_some_and(|w| w.granted)
    }

    /// Panics if two sites' CIBs had the ticket granted at the same time.
    pub fn assert_single_holder(&self, step: &str) {
        let o = cib::overlaps(&self.intervals());
        if !o.is_empty() {
            let mut s = String::new();
            for (a, b, d) in &o {
                let _ = writeln!(s, "  {a}\n  {b}\n  overlap {d:.3} s");
            }
            panic!(
                "{}: after {step}: the ticket was granted at two sites:\n{s}",
                self.name
            );
        }
    }

    /// Polls until every running member, through both clients, shows
    /// `expected` as the leader, the expected holder's CIB (only it, among
    /// the running sites) says granted, and no two sites' grants overlapped.
    /// Returns how long it took.
    pub fn wait_agree(&mut self, step: &str, expected: Option<&str>, limit: Duration) -> Duration {
        let all: Vec<usize> = (0..self.members.len()).collect();
        self.wait_agree_on(step, &all, expected, limit)
    }

    /// [`Formation::wait_agree`] with the views of `only` these members (a
    /// partitioned one cannot know); the CIB condition still covers every
    /// running site.
    pub fn wait_agree_on(
        &mut self,
        step: &str,
        only: &[usize],
        expected: Option<&str>,
        limit: Duration,
    ) -> Duration {
        let start = Instant::now();
        let mut last = Vec::new();
        let mut cib_ok = false;
        let agreed = process::poll(limit, Duration::from_millis(100), || {
            last = self.views_of(only);
            let views_ok = last
                .iter()
                .all(|(_, _, v)| matches!(v, Ok(l) if l.leader.as_deref() == expected));
            cib_ok = self.members.iter().enumerate().all(|(i, m)| {
                !m.is_site()
                    || !m.running()
                    || self.cib_granted(i) == (Some(m.ip.as_str()) == expected)
            });
            (views_ok && cib_ok).then_some(())
        });
        let took = start.elapsed();
        if agreed.is_none() {
            let mut s = String::new();
            for (who, via, v) in &last {
                let _ = writeln!(s, "  {who} via {} client: {v:?}", via.word());
            }
            for (i, m) in self.members.iter().enumerate() {
                if m.is_site() {
                    let _ = writeln!(s, "  CIB of {}: granted={}", m.label(), self.cib_granted(i));
                }
            }
            panic!(
                "{}: {step}: members did not agree on leader {expected:?} within {limit:?} \
                 (CIB consistent: {cib_ok}):\n{s}",
                self.name
            );
        }
        self.note(format!(
            "{step}: agree on {expected:?} after {:.3} s",
            took.as_secs_f64()
        ));
        self.assert_single_holder(step);
        took
    }

    /// The leader the members agree on (any running member's view).
    pub fn leader(&self) -> Option<String> {
        self.views()
            .into_iter()
            .find_map(|(_, _, v)| v.ok().and_then(|l| l.leader))
    }

    pub fn member_log(&self, i: usize) -> String {
        fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }

    pub fn crm_log(&self, i: usize) -> String {
        fs::read_to_string(&self.members[i].crm).unwrap_or_default()
    }

    /// The timeline, relative to the start.
    pub fn timeline_text(&self) -> String {
        let mut s = String::new();
        for (t, e) in &self.timeline {
            let _ = writeln!(s, "  {:8.3} {e}", t - self.t0);
        }
        s
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut g) = m.guard.take() {
                g.kill();
            }
        }
        for &h in &self.helpers {
            // Only while it still is one of ours, a daemon or a lease guard
            // (titled booth-lease-guard); PIDs are reused.
            let cmd = fs::read(format!("/proc/{h}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains("boothd") || cmd.contains("booth-lease-guard") {
                // SAFETY: kill(2) on a PID we saw as our daemon's child.
                unsafe {
                    libc::kill(h as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "==== {}: {} — kept {}\n---- timeline:\n{}",
                self.name,
                self.spec.describe(),
                self.dir.display(),
                self.timeline_text()
            );
            for (i, m) in self.members.iter().enumerate() {
                let log = self.member_log(i);
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                eprintln!("---- {} log (last {} lines):", m.label(), tail.len());
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
                if m.is_site() {
                    eprintln!("---- {} crm_ticket log:\n{}", m.label(), self.crm_log(i));
                }
            }
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// PIDs whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid …": comm may hold blanks, so read after ')'.
            let ppid: u32 = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Writes config file number `n`; returns its path and the key booth derives.
fn write_config(
    dir: &Path,
    n: usize,
    port: u16,
    ticket: &str,
    members: &[(Impl, Role)],
    ips: &[String],
    p: &Params,
) -> (PathBuf, Option<Vec<u8>>) {
    let mut s = String::new();
    let _ = writeln!(s, "transport = UDP\nport = {port}");
    let mut key = None;
    if let Some(bytes) = p.key.file_bytes() {
        let path = dir.join(format!("authkey{n}"));
        fs::write(&path, &bytes).expect("write the key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod key");
        let _ = writeln!(s, "authfile = {}", path.display());
        key = super::boothwire::booth_key(&bytes);
    }
    // Ours refuses users that do not exist (booth's default group "nobody"
    // does not on Debian); booth 1.0-283 misreads these keys and runs as
    // uid 4294967294 whatever they say (booth-protocol.md §4.2).
    s.push_str(
        "site-user = root\nsite-group = root\narbitrator-user = root\narbitrator-group = root\n",
    );
    for ((_, role), ip) in members.iter().zip(ips) {
        let word = match role {
            Role::Site => "site",
            Role::Arbitrator => "arbitrator",
        };
        let _ = writeln!(s, "{word} = {ip}");
    }
    let _ = writeln!(s, "ticket = \"{ticket}\"");
    s.push_str(&p.ticket_lines.replace("@DIR@", &dir.display().to_string()));
    let path = dir.join(format!("booth{n}.conf"));
    fs::write(&path, s).expect("write the config");
    (path, key)
}

/// The list line of `ticket` in `booth list` output.
pub fn parse_list(text: &str, ticket: &str) -> Option<ListLine> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("ticket: {ticket},")))?;
    let leader = line
        .split(", ")
        .find_map(|p| p.strip_prefix("leader: "))?
        .trim();
    Some(ListLine {
        leader: match leader {
            "NONE" | "none" => None,
            ip => Some(ip.to_owned()),
        },
        raw: line.to_owned(),
    })
}

/// One member's counters in `booth peers` output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCounts {
    pub ip: String,
    pub sent: u64,
    pub recv: u64,
    pub recv_error: u64,
    pub authfail: u64,
    pub invalid: u64,
}

/// `booth peers` output (booth-protocol.md §6.3), booth's or ours.
pub fn parse_peers(text: &str) -> Vec<PeerCounts> {
    let mut out: Vec<PeerCounts> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t
            .strip_prefix("site")
            .or_else(|| t.strip_prefix("arbitrator"))
        {
            let ip = rest.trim().split(',').next().unwrap_or("").to_owned();
            out.push(PeerCounts {
                ip,
                ..PeerCounts::default()
            });
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        let num = |key: &str| -> u64 {
            t.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if t.starts_with("Sent pkts:") {
            cur.sent = num("pkts:");
        } else if t.starts_with("Recv pkts:") {
            cur.recv = num("pkts:");
            cur.recv_error = num("error:");
            cur.authfail = num("authfail:");
            cur.invalid = num("invalid:");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_and_peers() {
        let l = parse_list(
            "ticket: tA, leader: 127.0.0.2, expires: 2026-11-25 10:00:47\n",
            "tA",
        )
        .unwrap();
        assert_eq!(l.leader.as_deref(), Some("127.0.0.2"));
        assert_eq!(
            parse_list("ticket: tA, leader: none\n", "tA")
                .unwrap()
                .leader,
            None
        );
        let p = parse_peers(
            "site         127.0.0.3, last recv: 2026-11-25 08:12:34\n\tSent pkts:4 error:0 \
             resends:0\n\tRecv pkts:5 error:1 authfail:2 invalid:3\n\narbitrator   127.0.0.4, \
             last recv: x\n\tSent pkts:1 error:0 resends:0\n\tRecv pkts:0 error:0 authfail:9 \
             invalid:0\n\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].recv, p[0].authfail, p[0].invalid), (5, 2, 3));
        assert_eq!((p[1].ip.as_str(), p[1].authfail), ("127.0.0.4", 9));
    }
}
