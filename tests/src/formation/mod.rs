//! Real booth formations as processes, for end-to-end tests, the demo and
//! the measurements.
//!
//! A [`Formation`] writes a `booth.conf` and an authfile into a scratch
//! directory, starts every member (sites first, then arbitrators) as a
//! `boothd daemon` process (ours, the release build, or booth 1.x from
//! Debian's `booth` package) on its own loopback address `127.a.b.x` with a
//! port unique to the formation, and waits until each answers `list`.
//! Optionally all of it lives in a network namespace ([`Netns`]) — needed
//! when a site talks to a real Pacemaker started in that namespace
//! ([`pacemaker::Pacemaker`]).
//!
//! Each site's `crm_ticket` is a logging stub ([`Cib::Stub`]) or a logging
//! wrapper around the real one, writing the live CIB of the namespace
//! ([`Cib::Live`]) or a file CIB ([`Cib::File`]); [`Formation::grant_intervals`]
//! turns the log into the times the site's CIB said "granted".
//!
//! Everything started is stopped by PID when the formation is dropped, also
//! when a test panics; the scratch directory is then kept and the daemons'
//! output printed.
//!
//! ```no_run
//! use booth_tests::formation::{Formation, Ticket};
//! use std::time::Duration;
//! let mut f = Formation::builder().ticket(Ticket::fast("ticketA")).start();
//! f.grant(0, "ticketA").assert_ok();
//! f.wait_leader("ticketA", Some(0), Duration::from_secs(5));
//! f.kill9(0);
//! f.wait_leader("ticketA", Some(1), Duration::from_secs(30));
//! ```

pub mod binary;
pub mod capture;
pub mod cib;
pub mod json;
pub mod netns;
pub mod pacemaker;
pub mod poll;
pub mod wire;

use std::fmt;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use booth_core::SiteId;

pub use binary::{boothd, BOOTH_1X};
pub use cib::{CibCall, GrantInterval};
pub use json::Json;
pub use netns::{Netns, NodeNs};
pub use poll::{epoch_now, try_wait_for, wait_for};

/// PATH of every process the harness starts (plus its own bin directory).
pub const SYSTEM_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a member has to answer `list` after it was started.
const START_LIMIT: Duration = Duration::from_secs(15);

/// Which daemon the members run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// booth-rs, [`binary::boothd`].
    BoothRs,
    /// booth 1.x, [`BOOTH_1X`] (started with `-D -s ADDR`, booth-protocol.md §4.6).
    Booth1x,
}

/// What a site's `crm_ticket` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cib {
    /// Logs and succeeds ([`cib::STUB`]).
    Stub,
    /// The real `crm_ticket` against the Pacemaker running in the formation's
    /// namespace, through a logging wrapper.
    Live,
    /// The real `crm_ticket` with `CIB_file=` a file CIB made by
    /// `cibadmin --empty`, through a logging wrapper.
    File,
}

/// Site or arbitrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Site,
    Arbitrator,
}

/// A ticket section: the name and its indented lines.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub name: String,
    pub lines: Vec<String>,
}

impl Ticket {
    /// booth's fast test timings (booth-protocol.md §4.3): expire 10 s,
    /// timeout 1 s, retries 3, acquire-after 0.
    pub fn fast(name: &str) -> Ticket {
        Ticket::with(
            name,
            &[
                "expire = 10",
                "timeout = 1",
                "retries = 3",
                "acquire-after = 0",
            ],
        )
    }

    pub fn with(name: &str, lines: &[&str]) -> Ticket {
        Ticket {
            name: name.to_owned(),
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
        }
    }
}

/// What to start; see [`Formation::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    sites: Vec<Cib>,
    arbitrators: usize,
    tickets: Vec<Ticket>,
    key: Option<Vec<u8>>,
    daemon: Daemon,
    /// Per member (sites, then arbitrators); empty: every member runs `daemon`.
    member_daemons: Vec<Daemon>,
    netns: Option<Arc<Netns>>,
    debug: bool,
    extra_global: Vec<String>,
    tag: String,
    start: bool,
    ips: Option<Vec<Ipv4Addr>>,
}

impl Builder {
    /// `n` sites with stub CIBs (replacing any sites set before).
    pub fn sites(mut self, n: usize) -> Self {
        self.sites = vec![Cib::Stub; n];
        self
    }

    /// The CIB of each site, in order (their number is the number of sites).
    pub fn site_cibs(mut self, cibs: &[Cib]) -> Self {
        self.sites = cibs.to_vec();
        self
    }

    pub fn arbitrators(mut self, n: usize) -> Self {
        self.arbitrators = n;
        self
    }

    pub fn ticket(mut self, t: Ticket) -> Self {
        self.tickets.push(t);
        self
    }

    /// The shared key (8..64 bytes); `None` runs without authentication.
    pub fn key(mut self, key: Option<&[u8]>) -> Self {
        self.key = key.map(<[u8]>::to_vec);
        self
    }

    pub fn daemon(mut self, d: Daemon) -> Self {
        self.daemon = d;
        self
    }

    /// A mixed formation: the daemon of each member, sites first, then
    /// arbitrators (as many as there are members). Members running another
    /// daemon than [`Builder::daemon`] get a configuration of their own that
    /// differs from the shared one only in what that daemon needs (booth-rs:
    /// the `site-user` & co. lines, which booth 1.x misreads).
    pub fn member_daemons(mut self, ds: &[Daemon]) -> Self {
        self.member_daemons = ds.to_vec();
        self
    }

    /// Runs every member (and client command) in `ns`.
    pub fn netns(mut self, ns: Arc<Netns>) -> Self {
        self.netns = Some(ns);
        self
    }

    /// `-D` for the daemons (default on: the logs explain failures).
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// An extra global line, written before the member lines.
    pub fn global(mut self, line: &str) -> Self {
        self.extra_global.push(line.to_owned());
        self
    }

    /// Part of the scratch directory's name.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_owned();
        self
    }

    /// The members' addresses, sites first (default `127.a.b.10`, `.11`,
    /// ...). An address that is not local where the formation runs (a
    /// site's floating IP in a cluster's namespace) is fine as long as the
    /// formation does not start that member itself.
    pub fn ips(mut self, ips: &[Ipv4Addr]) -> Self {
        self.ips = Some(ips.to_vec());
        self
    }

    /// Only write the files; start members with [`Formation::start`].
    pub fn stopped(mut self) -> Self {
        self.start = false;
        self
    }

    /// Writes the files and starts every member, waiting until each answers.
    pub fn start(self) -> Formation {
        let mut f = Formation::create(self);
        if f.autostart {
            f.start_all();
        }
        f
    }
}

/// One member's process and files.
#[derive(Debug)]
struct Member {
    ip: Ipv4Addr,
    role: Role,
    daemon: Daemon,
    cib: Option<Cib>,
    child: Option<Child>,
    stopped: bool,
    /// A configuration of its own with this key (`Some(None)`: no key),
    /// else the shared one.
    config: Option<(PathBuf, Option<Vec<u8>>)>,
    /// Which node of its site it runs on: each has a state directory (and
    /// so a lease guard) of its own; the site's CIB is shared.
    node: usize,
}

/// A running formation; see the module documentation.
#[derive(Debug)]
pub struct Formation {
    dir: PathBuf,
    port: u16,
    members: Vec<Member>,
    tickets: Vec<Ticket>,
    key: Option<Vec<u8>>,
    daemon: Daemon,
    netns: Option<Arc<Netns>>,
    debug: bool,
    config_text: String,
    autostart: bool,
    /// Process group of every daemon started (the daemon's PID): helpers a
    /// daemon forks, which may outlive a SIGKILL of the daemon on purpose,
    /// are stopped with it at the end.
    groups: Vec<u32>,
    /// Child processes of the daemons, seen when each answered first.
    helpers: Vec<u32>,
}

/// What a client command did.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Out {
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self}");
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "{self}");
        self
    }

    #[track_caller]
    pub fn assert_err(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{self}"
        );
        self
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout:\n{}--- stderr:\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// One line of `booth list --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    pub ticket: String,
    /// The leader's address, `None` for `NONE` and `none`.
    pub leader: Option<String>,
    /// `unknown`, `none` or `granted`.
    pub leader_status: String,
    pub expires_epoch: Option<f64>,
}

impl Formation {
    /// Two sites with stub CIBs, one arbitrator, authentication on, booth-rs.
    pub fn builder() -> Builder {
        Builder {
            sites: vec![Cib::Stub; 2],
            arbitrators: 1,
            tickets: Vec::new(),
            key: Some(b"booth-rs-formation-test-key-0123456789abcdef".to_vec()),
            daemon: Daemon::BoothRs,
            member_daemons: Vec::new(),
            netns: None,
            debug: true,
            extra_global: Vec::new(),
            tag: "formation".to_owned(),
            start: true,
            ips: None,
        }
    }

    fn create(b: Builder) -> Formation {
        assert!(!b.tickets.is_empty(), "a formation needs a ticket");
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() as usize;
        let dir = std::env::temp_dir().join(format!("booth-rs-{}-{pid}-{n}", b.tag));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).expect("scratch directory");
        fs::create_dir_all(dir.join("bin-real")).expect("scratch directory");
        // booth 1.x drops root for hacluster: let it write its logs here.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        write_exec(&dir.join("bin/crm_ticket"), cib::STUB);
        write_exec(&dir.join("bin-real/crm_ticket"), cib::WRAPPER);
        for name in ["booth", "geostore", "boothd"] {
            let link = dir.join("bin").join(name);
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(boothd(), &link).expect("symlink to boothd");
        }

        // 127.a.b.x: a and b from the process and the formation number.
        let a = 1 + (pid % 250) as u8;
        let bb = 1 + (n % 250) as u8;
        let count = b.sites.len() + b.arbitrators;
        assert!(
            b.member_daemons.is_empty() || b.member_daemons.len() == count,
            "member_daemons: one daemon per member ({count})"
        );
        let ips: Vec<Ipv4Addr> = match &b.ips {
            Some(ips) => {
                assert_eq!(ips.len(), count, "one address per member");
                ips.clone()
            }
            None => (0..count)
                .map(|i| Ipv4Addr::new(127, a, bb, 10 + i as u8))
                .collect(),
        };
        let port = free_port(b.netns.as_deref(), &ips, pid * 31 + n * 977);

        let mut members = Vec::new();
        for (i, ip) in ips.iter().enumerate() {
            let (role, cib) = match b.sites.get(i) {
                Some(c) => (Role::Site, Some(*c)),
                None => (Role::Arbitrator, None),
            };
            members.push(Member {
                ip: *ip,
                role,
                daemon: b.member_daemons.get(i).copied().unwrap_or(b.daemon),
                cib,
                child: None,
                stopped: false,
                config: None,
                node: 0,
            });
        }
        let f = Formation {
            dir,
            port,
            members,
            tickets: b.tickets.clone(),
            key: b.key.clone(),
            daemon: b.daemon,
            netns: b.netns.clone(),
            debug: b.debug,
            config_text: String::new(),
            autostart: b.start,
            groups: Vec::new(),
            helpers: Vec::new(),
        };
        let mut f = f;
        if let Some(k) = &f.key {
            let path = f.dir.join("authkey");
            write_key(&path, k, f.any_booth_1x());
        }
        let authfile = f.key.is_some().then(|| f.dir.join("authkey"));
        f.config_text = f.render_config(&b.extra_global, authfile.clone(), f.daemon);
        fs::write(f.config_path(), &f.config_text).expect("write booth.conf");
        for i in 0..f.members.len() {
            let d = f.members[i].daemon;
            if d != f.daemon {
                let text = f.render_config(&b.extra_global, authfile.clone(), d);
                f.set_member_config(i, &text);
            }
        }
        for i in 0..f.members.len() {
            let log = f.crm_log(i);
            fs::write(&log, "").expect("crm log");
            fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).expect("chmod");
            if f.members[i].cib == Some(Cib::File) {
                f.make_file_cib(i);
            }
        }
        f
    }

    /// The configuration text for `authfile` (or none), for members running `daemon`.
    fn render_config(&self, extra: &[String], authfile: Option<PathBuf>, daemon: Daemon) -> String {
        let mut t = format!("transport = UDP\nport = {}\n", self.port);
        if let Some(p) = authfile {
            t.push_str(&format!("authfile = {}\n", p.display()));
        }
        if daemon == Daemon::BoothRs {
            // booth 1.0 reads these wrongly (booth-protocol.md §4.2); ours run
            // as whoever runs the tests.
            let (u, g) = (current_id("-un"), current_id("-gn"));
            t.push_str(&format!(
                "site-user = {u}\nsite-group = {g}\narbitrator-user = {u}\narbitrator-group = {g}\n"
            ));
        }
        for l in extra {
            t.push_str(l);
            t.push('\n');
        }
        for m in &self.members {
            let word = match m.role {
                Role::Site => "site",
                Role::Arbitrator => "arbitrator",
            };
            t.push_str(&format!("{word} = {}\n", m.ip));
        }
        for tk in &self.tickets {
            t.push_str(&format!("ticket = \"{}\"\n", tk.name));
            for l in &tk.lines {
                t.push_str(&format!("    {l}\n"));
            }
        }
        t
    }

    fn make_file_cib(&self, i: usize) {
        let out = Command::new("cibadmin")
            .arg("--empty")
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .output()
            .expect("cibadmin --empty (package pacemaker-cli-utils)");
        assert!(out.status.success(), "cibadmin --empty failed: {out:?}");
        let path = self.file_cib(i);
        fs::write(&path, &out.stdout).expect("write the file CIB");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).expect("chmod");
    }

    // --- where things are ---------------------------------------------------------

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn role(&self, i: usize) -> Role {
        self.members[i].role
    }

    pub fn ip(&self, i: usize) -> Ipv4Addr {
        self.members[i].ip
    }

    /// `ip` as a string, for command lines.
    pub fn ip_str(&self, i: usize) -> String {
        self.members[i].ip.to_string()
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(self.members[i].ip), self.port)
    }

    /// booth's site ID of member `i` (the CIB `owner` attribute).
    pub fn site_id(&self, i: usize) -> u32 {
        SiteId::from_ipv4(self.members[i].ip.octets()).0
    }

    /// The member at address `ip`, if any.
    pub fn member_at(&self, ip: &str) -> Option<usize> {
        self.members.iter().position(|m| m.ip.to_string() == ip)
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    pub fn netns(&self) -> Option<&Netns> {
        self.netns.as_deref()
    }

    pub fn daemon_kind(&self) -> Daemon {
        self.daemon
    }

    /// The daemon member `i` runs.
    pub fn daemon_of(&self, i: usize) -> Daemon {
        self.members[i].daemon
    }

    fn any_booth_1x(&self) -> bool {
        self.members.iter().any(|m| m.daemon == Daemon::Booth1x)
    }

    /// The shared configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("booth.conf")
    }

    pub fn config_text(&self) -> &str {
        &self.config_text
    }

    /// Where member `i`'s `crm_ticket` logs.
    pub fn crm_log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("crm-{i}.log"))
    }

    /// The file CIB of a [`Cib::File`] site.
    pub fn file_cib(&self, i: usize) -> PathBuf {
        self.dir.join(format!("cib-{i}.xml"))
    }

    /// The daemon output of member `i` (all its runs).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("member-{i}.log"))
    }

    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    fn lock_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("lock-{i}"))
    }

    fn state_dir(&self, i: usize) -> PathBuf {
        match self.members[i].node {
            0 => self.dir.join(format!("state-{i}")),
            n => self.dir.join(format!("state-{i}-node{n}")),
        }
    }

    /// Member `i` starts on another node of its site from now on (the
    /// booth-site resource moved): a state directory of its own, empty,
    /// and so its own lease guard; the same CIB. Stop it first.
    pub fn move_to_another_node(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "stop member {i} first");
        self.members[i].node += 1;
    }

    // --- processes ------------------------------------------------------------------

    /// Starts every member that is not running and waits until all answer.
    pub fn start_all(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                self.spawn(i);
            }
        }
        for i in 0..self.members.len() {
            self.wait_ready(i);
        }
    }

    /// Starts member `i` and waits until it answers `list`.
    pub fn start(&mut self, i: usize) {
        self.spawn(i);
        self.wait_ready(i);
    }

    /// Starts member `i` without waiting.
    pub fn spawn(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        let state = self.state_dir(i);
        fs::create_dir_all(&state).expect("state dir");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("member log");
        let _ = fs::set_permissions(self.log_path(i), fs::Permissions::from_mode(0o666));
        let config = self.members[i]
            .config
            .as_ref()
            .map_or_else(|| self.config_path(), |(p, _)| p.clone());
        let ip = self.ip_str(i);
        let lock = self.lock_path(i);
        let mut cmd = match self.members[i].daemon {
            Daemon::BoothRs => {
                let mut c = Command::new(boothd());
                c.args(["daemon", "-S"]);
                if self.debug {
                    c.arg("-D");
                }
                c.arg("-c").arg(&config).args(["-s", &ip, "-l"]).arg(&lock);
                c
            }
            Daemon::Booth1x => {
                let mut c = Command::new(BOOTH_1X);
                // booth 1.0 takes -s only after -D.
                c.args(["daemon", "-S", "-D", "-s", &ip, "-c"])
                    .arg(&config)
                    .arg("-l")
                    .arg(&lock);
                c
            }
        };
        let bin = match self.members[i].cib {
            Some(Cib::Live | Cib::File) => self.dir.join("bin-real"),
            _ => self.dir.join("bin"),
        };
        cmd.env_clear()
            .env("PATH", format!("{}:{SYSTEM_PATH}", bin.display()))
            .env("CRM_STUB_LOG", self.crm_log(i))
            .env("BOOTH_STATE_DIR", &state)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        if self.members[i].cib == Some(Cib::File) {
            cmd.env("CIB_file", self.file_cib(i));
        }
        if let Some(ns) = self.netns.as_deref() {
            ns.enter(&mut cmd);
        }
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("cannot start the daemon");
        self.groups.push(child.id());
        self.members[i].child = Some(child);
        self.members[i].stopped = false;
    }

    /// Waits until member `i` answers `list` (panics after 15 s or if it exited).
    pub fn wait_ready(&mut self, i: usize) {
        let until = Instant::now() + START_LIMIT;
        loop {
            let key = match &self.members[i].config {
                Some((_, k)) => k.clone(),
                None => self.key.clone(),
            };
            if self.list_raw_with(i, key.as_deref()).is_ok() {
                // Helpers the daemon forked (a lease guard may leave the
                // daemon's process group and outlive it on purpose).
                if let Some(pid) = self.pid(i) {
                    self.helpers.extend(children_of(pid));
                }
                return;
            }
            if let Some(status) = self.members[i]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.members[i].child = None;
                panic!(
                    "member {i} ({}) exited with {status} while starting:\n{}",
                    self.ip(i),
                    tail(&self.log(i), 30)
                );
            }
            assert!(
                Instant::now() < until,
                "member {i} ({}) does not answer list after {START_LIMIT:?}:\n{}",
                self.ip(i),
                tail(&self.log(i), 30)
            );
            std::thread::sleep(poll::POLL_INTERVAL);
        }
    }

    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(Child::id)
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }

    /// SIGKILL member `i`'s daemon process (only it, not helpers it forked:
    /// they are stopped when the formation is dropped) and reap it. Returns
    /// the wall time of the kill.
    pub fn kill9(&mut self, i: usize) -> f64 {
        let mut c = self.members[i].child.take().expect("member is running");
        let at = epoch_now();
        c.kill().expect("SIGKILL");
        c.wait().expect("reap");
        self.members[i].stopped = false;
        at
    }

    /// SIGTERM member `i` and wait (up to 10 s, then SIGKILL) for its exit.
    pub fn stop(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let mut c = self.members[i].child.take()?;
        signal(c.id(), libc::SIGCONT);
        signal(c.id(), libc::SIGTERM);
        let status = try_wait_for(Duration::from_secs(10), poll::POLL_INTERVAL, || {
            c.try_wait().ok().flatten()
        });
        match status {
            Some(s) => Some(s),
            None => {
                let _ = c.kill();
                c.wait().ok()
            }
        }
    }

    /// SIGSTOP member `i` (it stays "running"). Returns the wall time.
    pub fn sigstop(&mut self, i: usize) -> f64 {
        let pid = self.pid(i).expect("member is running");
        let at = epoch_now();
        signal(pid, libc::SIGSTOP);
        self.members[i].stopped = true;
        at
    }

    /// SIGCONT member `i`. Returns the wall time.
    pub fn sigcont(&mut self, i: usize) -> f64 {
        let pid = self.pid(i).expect("member is running");
        let at = epoch_now();
        signal(pid, libc::SIGCONT);
        self.members[i].stopped = false;
        at
    }

    /// SIGKILL (if running) and start again, waiting until it answers.
    pub fn restart(&mut self, i: usize) {
        if self.is_running(i) {
            self.kill9(i);
        }
        self.start(i);
    }

    /// Member `i` uses its own copy of the configuration with another key
    /// (`None`: no authfile) from its next start on.
    pub fn set_member_key(&mut self, i: usize, key: Option<&[u8]>) {
        let sub = self.dir.join(format!("own-config-{i}"));
        fs::create_dir_all(&sub).expect("member config dir");
        // The member's own configuration (a mixed formation's), else the
        // shared one, without its authfile line.
        let base = self.members[i]
            .config
            .as_ref()
            .and_then(|(p, _)| fs::read_to_string(p).ok())
            .unwrap_or_else(|| self.config_text.clone());
        let mut text: String = base
            .lines()
            .filter(|l| !l.starts_with("authfile = "))
            .map(|l| format!("{l}\n"))
            .collect();
        if let Some(k) = key {
            let path = sub.join("authkey");
            write_key(&path, k, self.members[i].daemon == Daemon::Booth1x);
            text = text.replacen(
                "transport = UDP\n",
                &format!("transport = UDP\nauthfile = {}\n", path.display()),
                1,
            );
        }
        let path = sub.join("booth.conf");
        fs::write(&path, text).expect("member config");
        self.members[i].config = Some((path, key.map(<[u8]>::to_vec)));
    }

    /// Member `i` uses its own copy of the configuration, `text`, from its
    /// next start on (with the shared key, if any).
    pub fn set_member_config(&mut self, i: usize, text: &str) {
        let sub = self.dir.join(format!("own-config-{i}"));
        fs::create_dir_all(&sub).expect("member config dir");
        let path = sub.join("booth.conf");
        fs::write(&path, text).expect("member config");
        self.members[i].config = Some((path, self.key.clone()));
    }

    /// Member `i` goes back to the shared configuration.
    pub fn use_shared_config(&mut self, i: usize) {
        self.members[i].config = None;
    }

    /// Resident set size of member `i` (VmRSS, kB).
    pub fn rss_kb(&self, i: usize) -> Option<u64> {
        proc_status_kb(self.pid(i)?, "VmRSS")
    }

    /// SIGUSR1 member `i` (ours) and return the state dump it logs.
    pub fn dump_state(&self, i: usize) -> String {
        let marker = "state dump: ";
        let before = self.log(i).matches(marker).count();
        signal(self.pid(i).expect("running"), libc::SIGUSR1);
        wait_for(Duration::from_secs(5), "the state dump", || {
            let log = self.log(i);
            let start = log.match_indices(marker).nth(before)?.0;
            let line_start = log[..start].rfind('\n').map_or(0, |p| p + 1);
            // The dump is the counters line plus one line per ticket.
            let lines: Vec<&str> = log[line_start..]
                .lines()
                .take(1 + self.tickets.len())
                .collect();
            (lines.len() == 1 + self.tickets.len()).then(|| lines.join("\n"))
        })
    }

    /// A counter from the first line of a state dump (`"auth failures"` ...).
    pub fn dump_counter(dump: &str, name: &str) -> Option<u64> {
        let at = dump.find(&format!("{name} "))? + name.len() + 1;
        let digits: String = dump[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }

    // --- sockets and the client --------------------------------------------------------

    /// Runs `f` where the members are (their namespace, if any).
    pub fn in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        netns::run_in(self.netns.as_deref(), f)
    }

    /// A UDP socket bound to member `i`'s address (any port): datagrams from
    /// it come from that member as far as the others can tell.
    pub fn udp_from(&self, i: usize) -> UdpSocket {
        let ip = self.members[i].ip;
        self.in_netns(|| UdpSocket::bind((ip, 0)))
            .expect("bind a UDP socket")
    }

    /// A UDP socket on a loopback address that is no member.
    pub fn udp_stranger(&self) -> UdpSocket {
        let o = self.members[0].ip.octets();
        let ip = Ipv4Addr::new(o[0], o[1], o[2], 250);
        self.in_netns(|| UdpSocket::bind((ip, 0)))
            .expect("bind a UDP socket")
    }

    /// A TCP connection to member `i`.
    pub fn connect(&self, i: usize) -> io::Result<TcpStream> {
        let addr = self.addr(i);
        self.in_netns(|| TcpStream::connect_timeout(&addr, Duration::from_secs(2)))
    }

    /// `booth list` of member `i` straight over TCP (no client process).
    pub fn list_raw(&self, i: usize) -> Result<String, String> {
        self.list_raw_with(i, self.key.as_deref())
    }

    /// [`Formation::list_raw`] signed with `key`.
    pub fn list_raw_with(&self, i: usize, key: Option<&[u8]>) -> Result<String, String> {
        let addr = self.addr(i);
        self.in_netns(|| {
            wire::list_text(
                |a| TcpStream::connect_timeout(&a, Duration::from_millis(500)),
                addr,
                key,
                Duration::from_secs(5),
            )
        })
    }

    /// Runs our client as `booth ARGS` (in the namespace, if any); killed
    /// after 60 s so a hang fails the caller.
    pub fn booth(&self, args: &[&str]) -> Out {
        self.run_client("booth", args)
    }

    /// Runs our client as `geostore ARGS`.
    pub fn geostore(&self, args: &[&str]) -> Out {
        self.run_client("geostore", args)
    }

    fn run_client(&self, name: &str, args: &[&str]) -> Out {
        let mut cmd = Command::new(self.dir.join("bin").join(name));
        cmd.args(args)
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .stdin(Stdio::null());
        if let Ok(tz) = std::env::var("TZ") {
            cmd.env("TZ", tz);
        }
        if let Some(ns) = self.netns.as_deref() {
            ns.enter(&mut cmd);
        }
        run_with_limit(cmd, Duration::from_secs(60))
    }

    fn cfg_arg(&self) -> String {
        self.config_path().display().to_string()
    }

    /// `booth grant -s <member i> -c <config> TICKET`.
    pub fn grant(&self, i: usize, ticket: &str) -> Out {
        self.booth(&[
            "grant",
            "-s",
            &self.ip_str(i),
            "-c",
            &self.cfg_arg(),
            ticket,
        ])
    }

    /// `booth grant` with extra options (`-w`, `-C`, `-F`).
    pub fn grant_with(&self, i: usize, ticket: &str, opts: &[&str]) -> Out {
        let (ip, cfg) = (self.ip_str(i), self.cfg_arg());
        let mut args = vec!["grant", "-s", &ip, "-c", &cfg];
        args.extend_from_slice(opts);
        args.push(ticket);
        self.booth(&args)
    }

    /// `booth revoke -s <member i> -c <config> TICKET`.
    pub fn revoke(&self, i: usize, ticket: &str) -> Out {
        self.booth(&[
            "revoke",
            "-s",
            &self.ip_str(i),
            "-c",
            &self.cfg_arg(),
            ticket,
        ])
    }

    /// `booth list -s <member i> -c <config>`.
    pub fn list(&self, i: usize) -> Out {
        self.booth(&["list", "-s", &self.ip_str(i), "-c", &self.cfg_arg()])
    }

    /// `booth peers -s <member i> -c <config>`.
    pub fn peers(&self, i: usize) -> Out {
        self.booth(&["peers", "-s", &self.ip_str(i), "-c", &self.cfg_arg()])
    }

    /// `booth list --json` of member `i`, parsed.
    pub fn list_json(&self, i: usize) -> Result<Vec<TicketRow>, String> {
        let out = self.booth(&[
            "list",
            "--json",
            "-s",
            &self.ip_str(i),
            "-c",
            &self.cfg_arg(),
        ]);
        if out.code != 0 {
            return Err(out.to_string());
        }
        let j = Json::parse(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
        let rows = j
            .get("tickets")
            .and_then(Json::as_array)
            .ok_or_else(|| format!("no tickets in {}", out.stdout))?;
        Ok(rows
            .iter()
            .map(|r| TicketRow {
                ticket: r
                    .get("ticket")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_owned(),
                leader: r.get("leader").and_then(Json::as_str).map(str::to_owned),
                leader_status: r
                    .get("leader_status")
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_owned(),
                expires_epoch: r.get("expires_epoch").and_then(Json::as_f64),
            })
            .collect())
    }

    /// The leader of `ticket` as member `i` lists it (`None`: nobody).
    pub fn leader_at(&self, i: usize, ticket: &str) -> Result<Option<String>, String> {
        let rows = self.list_json(i)?;
        let row = rows
            .into_iter()
            .find(|r| r.ticket == ticket)
            .ok_or_else(|| format!("member {i} does not list {ticket}"))?;
        Ok(row.leader.filter(|_| row.leader_status == "granted"))
    }

    /// Waits until every running, not stopped member lists `leader` (a
    /// member index, or `None` for nobody) for `ticket`.
    #[track_caller]
    pub fn wait_leader(&self, ticket: &str, leader: Option<usize>, limit: Duration) {
        let want = leader.map(|l| self.ip_str(l));
        let mut last = Vec::new();
        let ok = try_wait_for(limit, Duration::from_millis(50), || {
            last.clear();
            let mut all = true;
            for i in (0..self.len()).filter(|&i| self.is_running(i) && !self.members[i].stopped) {
                let got = self.leader_at(i, ticket);
                all &= got.as_ref().is_ok_and(|g| *g == want);
                last.push((i, got));
            }
            all.then_some(())
        });
        assert!(
            ok.is_some(),
            "after {limit:?} the members do not all list {want:?} as leader of {ticket}: {last:?}"
        );
    }

    // --- what the CIBs saw ---------------------------------------------------------------

    /// Every `crm_ticket` call of member `i` so far.
    pub fn cib_calls(&self, i: usize) -> Vec<CibCall> {
        cib::parse_log(&fs::read_to_string(self.crm_log(i)).unwrap_or_default())
    }

    /// When member `i`'s CIB said "granted" for `ticket`.
    pub fn grant_intervals(&self, i: usize, ticket: &str) -> Vec<GrantInterval> {
        cib::grant_intervals(&self.cib_calls(i), ticket)
    }

    /// `crm_ticket -t T -q` against site `i`'s real CIB: the attributes of
    /// its `<ticket_state>`, `None` if the CIB does not know the ticket.
    pub fn cib_state(&self, i: usize, ticket: &str) -> Option<Vec<(String, String)>> {
        let mut cmd = Command::new("crm_ticket");
        cmd.args(["-t", ticket, "-q"])
            .env_clear()
            .env("PATH", SYSTEM_PATH);
        match self.members[i].cib {
            Some(Cib::File) => {
                cmd.env("CIB_file", self.file_cib(i));
            }
            Some(Cib::Live) => {
                if let Some(ns) = self.netns.as_deref() {
                    ns.enter(&mut cmd);
                }
            }
            _ => panic!("member {i} has no real CIB"),
        }
        let out = run_with_limit(cmd, Duration::from_secs(30));
        if out.code != 0 {
            return None;
        }
        cib::parse_ticket_state(&out.stdout)
    }

    /// `granted` of `ticket` in site `i`'s real CIB.
    pub fn cib_granted(&self, i: usize, ticket: &str) -> Option<bool> {
        let st = self.cib_state(i, ticket)?;
        st.iter()
            .find(|(k, _)| k == "granted")
            .map(|(_, v)| v == "true")
    }

    /// Daemon output and CIB logs of every member (for failure messages).
    pub fn diagnostics(&self) -> String {
        let mut s = format!(
            "formation in {} (port {}):\n",
            self.dir.display(),
            self.port
        );
        for i in 0..self.len() {
            s.push_str(&format!(
                "---- member {i} {} ({:?}) output:\n{}\n---- member {i} crm_ticket:\n{}\n",
                self.ip(i),
                self.role(i),
                tail(&self.log(i), 40),
                tail(&fs::read_to_string(self.crm_log(i)).unwrap_or_default(), 15),
            ));
        }
        s
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for &h in &self.helpers {
            // Only if it is still a boothd or our lease guard (titled
            // booth-lease-guard; the PID may have been reused).
            let comm = fs::read_to_string(format!("/proc/{h}/cmdline")).unwrap_or_default();
            if comm.contains("boothd") || comm.contains("booth-lease-guard") {
                signal(h, libc::SIGKILL);
            }
        }
        for &g in &self.groups {
            // SAFETY: SIGKILL to a process group we created (its ID is the
            // PID of a daemon we started); a group that is gone is ignored.
            unsafe {
                libc::kill(-(g as libc::pid_t), libc::SIGKILL);
            }
        }
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
            eprintln!("formation: kept {}", self.dir.display());
        } else if std::env::var_os("BOOTH_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// --- helpers --------------------------------------------------------------------------

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn write_key(path: &Path, key: &[u8], for_booth_1x: bool) {
    fs::write(path, key).expect("write key");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
    // booth 1.x may read it after dropping root for hacluster.
    if for_booth_1x && is_root() {
        let _ = Command::new("chown")
            .args(["hacluster:haclient"])
            .arg(path)
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether the tests run as root (namespaces, packet capture, Pacemaker).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `kill(pid, sig)`, ignoring errors (the process may be gone).
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: signalling a PID we started.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// PIDs whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
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

/// A `kB` field of /proc/PID/status.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` with output captured, killing it after `limit`.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Out {
    let t0 = Instant::now();
    let mut child = match cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => {
            return Out {
                code: -1,
                stdout: String::new(),
                stderr: format!("cannot run {cmd:?}: {e}"),
                took: t0.elapsed(),
            }
        }
    };
    // Read both pipes beside the wait so a chatty command cannot block.
    let mut so = child.stdout.take().expect("piped");
    let mut se = child.stderr.take().expect("piped");
    let ro = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = io::Read::read_to_string(&mut so, &mut s);
        s
    });
    let re = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = io::Read::read_to_string(&mut se, &mut s);
        s
    });
    let status = try_wait_for(limit, Duration::from_millis(2), || {
        child.try_wait().ok().flatten()
    });
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            child.wait().expect("reap")
        }
    };
    let took = t0.elapsed();
    Out {
        code: status.code().unwrap_or(-1),
        stdout: ro.join().unwrap_or_default(),
        stderr: re.join().unwrap_or_default(),
        took,
    }
}

/// `id -un` / `id -gn`.
fn current_id(flag: &str) -> String {
    Command::new("id")
        .arg(flag)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .expect("id -un / -gn")
}

/// A port free for UDP and TCP on every address (in `ns`); addresses that
/// are not local there do not count.
fn free_port(ns: Option<&Netns>, ips: &[Ipv4Addr], seed: usize) -> u16 {
    let usable = |r: io::Result<()>| match r {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EADDRNOTAVAIL),
    };
    netns::run_in(ns, || {
        let mut p = 20_000 + (seed % 30_000) as u16;
        for _ in 0..30_000 {
            let free = ips.iter().all(|ip| {
                let a = SocketAddr::new(IpAddr::V4(*ip), p);
                usable(UdpSocket::bind(a).map(drop)) && usable(TcpListener::bind(a).map(drop))
            });
            if free {
                return p;
            }
            p = if p >= 50_000 { 20_000 } else { p + 1 };
        }
        panic!("no free port")
    })
}
