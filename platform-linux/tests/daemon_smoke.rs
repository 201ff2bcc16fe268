//! Three real `boothd daemon` processes on 127.0.0.2–4 (two sites and an
//! arbitrator, expire 10 s): a grant over TCP reaches the CIB of both sites,
//! the ticket fails over after the holder is SIGKILLed — only once the dead
//! holder's lease has ended — and the restarted site follows the new holder.
//!
//! `crm_ticket` is a stub first on PATH (tests/stubs/crm_ticket) that logs
//! its arguments with a timestamp.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use booth_core::wire::attr::{value_from, AttrBody, AttrName};
use booth_core::wire::client::{self, ClientRequest, RequestBody};
use booth_core::wire::{ticket::name_from, Command as Cmd, Header, ResultCode, TicketBody};
use booth_linux::daemon::{self, DaemonOptions};

const IPS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
/// booth's site IDs of 127.0.0.2 and 127.0.0.3 (booth-protocol.md §2.9).
const ID_A: u32 = 2081820410;
const ID_B: u32 = 185679468;
const KEY: &[u8] = b"booth-rs-daemon-smoke-test-key-0123456789";

/// Every daemon started, killed by PID when the test ends, pass or fail.
struct Cluster {
    dir: PathBuf,
    port: u16,
    procs: [Option<Child>; 3],
    /// One `BOOTH_STATE_DIR` for every member (as on a host running several
    /// members), instead of one each.
    shared_state: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            let _ = p.kill();
            let _ = p.wait();
        }
        if std::thread::panicking() {
            for (i, ip) in IPS.iter().enumerate() {
                let out = fs::read_to_string(self.dir.join(format!("daemon{i}.out")));
                eprintln!("---- daemon {ip} output:\n{}", out.unwrap_or_default());
                let crm = fs::read_to_string(self.crm_log(i));
                eprintln!("---- crm_ticket log {ip}:\n{}", crm.unwrap_or_default());
            }
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Cluster {
    fn new() -> Cluster {
        Cluster::with_ticket_lines("")
    }

    /// A cluster whose ticket section also has `extra` (indented lines).
    fn with_ticket_lines(extra: &str) -> Cluster {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "booth-smoke-{}-{}",
            std::process::id(),
            nanos % 1_000_000_000
        ));
        fs::create_dir_all(dir.join("bin")).unwrap();
        let stub = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stubs/crm_ticket");
        let to = dir.join("bin/crm_ticket");
        fs::copy(&stub, &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
        let key = dir.join("authkey");
        fs::write(&key, KEY).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let port = free_port(nanos as u64);
        let cfg = format!(
            "transport = UDP\nport = {port}\nauthfile = {}\n\
             site-user = {u}\nsite-group = {g}\narbitrator-user = {u}\narbitrator-group = {g}\n\
             site = {}\nsite = {}\narbitrator = {}\n\
             ticket = \"ticketA\"\n    expire = 10\n    timeout = 1\n    retries = 3\n    \
             acquire-after = 0\n{extra}",
            key.display(),
            IPS[0],
            IPS[1],
            IPS[2],
            u = current_user(),
            g = current_group(),
            extra = extra.replace("@DIR@", &dir.display().to_string()),
        );
        fs::write(dir.join("booth.conf"), cfg).unwrap();
        Cluster {
            dir,
            port,
            procs: [None, None, None],
            shared_state: false,
        }
    }

    fn crm_log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("crm{i}.log"))
    }

    fn lock(&self, i: usize) -> PathBuf {
        self.dir.join(format!("lock{i}"))
    }

    fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(IPS[i].parse().unwrap(), self.port)
    }

    fn start(&mut self, i: usize) {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let state = if self.shared_state {
            self.dir.join("state")
        } else {
            self.dir.join(format!("state{i}"))
        };
        fs::create_dir_all(&state).unwrap();
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("daemon{i}.out")))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_boothd"))
            .args(["daemon", "-S", "-D", "-c"])
            .arg(self.dir.join("booth.conf"))
            .args(["-s", IPS[i], "-l"])
            .arg(self.lock(i))
            .env("PATH", path)
            .env("CRM_STUB_LOG", self.crm_log(i))
            .env("BOOTH_STATE_DIR", &state)
            .env_remove("CIB_file")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.procs[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        let mut p = self.procs[i].take().expect("running");
        p.kill().unwrap(); // SIGKILL
        p.wait().unwrap();
    }

    fn options(&self, i: usize) -> DaemonOptions {
        DaemonOptions {
            config: self.dir.join("booth.conf"),
            foreground: false,
            debug: 0,
            lockfile: Some(self.lock(i)),
            local: Some(IPS[i].parse().unwrap()),
        }
    }

    /// One request, every reply until the daemon closes.
    fn request(&self, i: usize, cmd: Cmd, ticket: &str, options: u32) -> Vec<Reply> {
        let body = RequestBody::Ticket(TicketBody {
            name: name_from(ticket.as_bytes()).unwrap(),
            ..TicketBody::default()
        });
        self.send(i, cmd, body, options, Some(KEY))
    }

    fn send(
        &self,
        i: usize,
        cmd: Cmd,
        body: RequestBody,
        options: u32,
        key: Option<&[u8]>,
    ) -> Vec<Reply> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let req = ClientRequest {
            header: Header {
                from: ID_A,
                secs: now.as_secs() as u32,
                usecs: now.subsec_micros(),
                options,
                ..Header::default()
            },
            cmd,
            body,
        };
        let mut buf = [0u8; 512];
        let n = client::emit_client_request(&req, key, &mut buf).unwrap();
        self.exchange(i, &buf[..n])
    }

    /// Sends raw bytes, parses every reply until the daemon closes.
    fn exchange(&self, i: usize, bytes: &[u8]) -> Vec<Reply> {
        let mut s = TcpStream::connect_timeout(&self.addr(i), Duration::from_secs(2)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(bytes).unwrap();
        let mut data = Vec::new();
        let _ = s.read_to_end(&mut data);
        let mut replies = Vec::new();
        let mut rest = &data[..];
        while rest.len() >= 48 {
            let len = client::frame_len(rest).unwrap();
            let (r, _) = client::parse_reply(&rest[..len], Some(KEY)).unwrap();
            replies.push(Reply {
                cmd: r.cmd,
                result: r.result(),
                leader: r.ticket.as_ref().map(|t| t.leader),
                text: String::from_utf8_lossy(r.text).into_owned(),
            });
            rest = &rest[len..];
        }
        replies
    }

    /// A geostore request to daemon `i`.
    fn attr(&self, i: usize, cmd: Cmd, ticket: &str, name: &str, value: &str) -> Vec<Reply> {
        let body = RequestBody::Attr(AttrBody {
            ticket: name_from(ticket.as_bytes()).unwrap(),
            attr: AttrName::from_slice(name.as_bytes()).unwrap(),
            value: value_from(value.as_bytes()).unwrap(),
        });
        self.send(i, cmd, body, 0, Some(KEY))
    }

    /// The `booth list` text of daemon `i`, once it answers.
    fn list(&self, i: usize) -> Option<String> {
        TcpStream::connect_timeout(&self.addr(i), Duration::from_millis(200)).ok()?;
        let r = self.request(i, Cmd::List, "", 0);
        match r.as_slice() {
            [one] if one.cmd == Cmd::ClList => Some(one.text.clone()),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Reply {
    cmd: Cmd,
    result: Option<ResultCode>,
    leader: Option<u32>,
    text: String,
}

/// Polls `f` until it returns `Some` or `secs` pass.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < until,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (epoch seconds, arguments) of every stub call logged so far.
fn crm_calls(path: &Path) -> Vec<(f64, String)> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (t, args) = l.split_once(' ')?;
            Some((t.parse().ok()?, args.to_owned()))
        })
        .collect()
}

/// `--attr-value=` of `attr` in one commit argument line.
fn attr(args: &str, attr: &str) -> Option<u64> {
    let words: Vec<&str> = args.split(' ').collect();
    let i = words.windows(2).position(|w| w == ["-S", attr])?;
    words
        .get(i + 2)?
        .strip_prefix("--attr-value=")?
        .parse()
        .ok()
}

fn grant_line(holder: u32) -> String {
    format!("-t ticketA -g --force -S owner --attr-value={holder} ")
}

fn follow_line(holder: u32) -> String {
    format!("-t ticketA -r --force -S owner --attr-value={holder} ")
}

/// A port free on all three addresses for UDP and TCP.
fn free_port(seed: u64) -> u16 {
    let mut p = 20_000 + (seed % 30_000) as u16;
    loop {
        let free = IPS.iter().all(|ip| {
            let a = SocketAddr::new(ip.parse::<IpAddr>().unwrap(), p);
            UdpSocket::bind(a).is_ok() && TcpListener::bind(a).is_ok()
        });
        if free {
            return p;
        }
        p = if p >= 60_000 { 20_000 } else { p + 1 };
    }
}

fn current_user() -> String {
    // SAFETY: getuid has no preconditions.
    id_name(unsafe { libc::getuid() }, "-un")
}

fn current_group() -> String {
    // SAFETY: getgid has no preconditions.
    id_name(unsafe { libc::getgid() }, "-gn")
}

fn id_name(num: u32, flag: &str) -> String {
    Command::new("id")
        .arg(flag)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| num.to_string())
}

#[test]
fn grant_failover_and_restart() {
    let mut c = Cluster::new();
    for i in 0..3 {
        c.start(i);
    }
    for i in 0..3 {
        let text = wait_for(10, "the daemons to answer list", || c.list(i));
        assert_eq!(text, "ticket: ticketA, leader: NONE\n", "daemon {i}");
    }
    // booth status: the lock file is held and the daemon answers.
    assert_eq!(daemon::status(&c.options(0)), 0);
    client_protocol_checks(&c);

    // Grant at site A over TCP, as `booth grant` would.
    let t0 = Instant::now();
    let replies = c.request(0, Cmd::Grant, "ticketA", 0);
    let grant_ms = t0.elapsed().as_millis();
    let last = replies.last().expect("a reply");
    assert_eq!(last.result, Some(ResultCode::Success), "{replies:?}");
    assert_eq!(replies.first().unwrap().result, Some(ResultCode::More));
    assert_eq!(last.leader, Some(ID_A));

    // Holder commits "granted here", the other site records A as owner.
    wait_for(10, "-g at A", || {
        crm_calls(&c.crm_log(0))
            .iter()
            .any(|(_, a)| a.starts_with(&grant_line(ID_A)))
            .then_some(())
    });
    wait_for(10, "-r owner A at B", || {
        crm_calls(&c.crm_log(1))
            .iter()
            .any(|(_, a)| a.starts_with(&follow_line(ID_A)))
            .then_some(())
    });
    let visible_ms = t0.elapsed().as_millis();
    for i in 0..3 {
        let l = c.list(i).unwrap();
        assert!(
            l.starts_with("ticket: ticketA, leader: 127.0.0.2, expires: "),
            "{l}"
        );
    }
    // The arbitrator never runs crm_ticket.
    assert!(crm_calls(&c.crm_log(2)).is_empty());
    // Every A commit carries the config name.
    assert!(crm_calls(&c.crm_log(0))
        .iter()
        .filter(|(_, a)| a.contains("--force"))
        .all(|(_, a)| a.ends_with("-S booth-cfg-name --attr-value=booth")));

    // SIGKILL the holder: its CIB keeps the last "granted" until it expires.
    c.kill(0);
    let killed_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let dead_expires = crm_calls(&c.crm_log(0))
        .iter()
        .filter(|(_, a)| a.starts_with(&grant_line(ID_A)))
        .filter_map(|(_, a)| attr(a, "expires"))
        .max()
        .expect("A granted");
    assert_eq!(
        daemon::status(&c.options(0)),
        7,
        "a killed daemon is not running"
    );

    let (b_granted_at, b_args) = wait_for(40, "B to take the ticket", || {
        crm_calls(&c.crm_log(1))
            .into_iter()
            .find(|(_, a)| a.starts_with(&grant_line(ID_B)))
    });
    let failover_s = b_granted_at - killed_at;
    // A's lease guard revoked A's grant at A's deadline, before B's CIB
    // said granted (A's `expires` is that deadline truncated to seconds).
    let (a_revoked_at, _) = wait_for(5, "A's lease guard to revoke", || {
        crm_calls(&c.crm_log(0))
            .into_iter()
            .find(|(t, a)| *t > killed_at && a.starts_with("-t ticketA -r "))
    });
    assert!(
        b_granted_at > a_revoked_at && a_revoked_at >= dead_expires as f64,
        "B granted at {b_granted_at}, A revoked at {a_revoked_at}, A's expires {dead_expires}"
    );
    assert!(attr(&b_args, "term").unwrap() > 0);
    let l = c.list(2).unwrap();
    assert!(
        l.starts_with("ticket: ticketA, leader: 127.0.0.3, expires: "),
        "{l}"
    );

    // Restart A: it must follow B, never grant itself.
    let before = crm_calls(&c.crm_log(0)).len();
    c.start(0);
    wait_for(15, "restarted A to follow B", || {
        crm_calls(&c.crm_log(0))[before..]
            .iter()
            .any(|(_, a)| a.starts_with(&follow_line(ID_B)))
            .then_some(())
    });
    assert!(!crm_calls(&c.crm_log(0))[before..]
        .iter()
        .any(|(_, a)| a.starts_with("-t ticketA -g")));
    let l = wait_for(5, "A to list B", || {
        c.list(0).filter(|l| l.contains("leader: 127.0.0.3"))
    });
    assert!(
        l.starts_with("ticket: ticketA, leader: 127.0.0.3, expires: "),
        "{l}"
    );

    let rss: Vec<String> = c
        .procs
        .iter()
        .flatten()
        .map(|p| {
            fs::read_to_string(format!("/proc/{}/status", p.id()))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("VmRSS"))
                .unwrap_or("VmRSS: ?")
                .split_whitespace()
                .nth(1)
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    eprintln!(
        "grant answered in {grant_ms} ms, visible in both CIBs after {visible_ms} ms; \
         failover {failover_s:.1} s after SIGKILL; VmRSS kB {rss:?}"
    );
}

/// Error replies, peers, geostore and a stalled client, on the fresh cluster.
fn client_protocol_checks(c: &Cluster) {
    let one = |r: Vec<Reply>| -> Reply {
        assert_eq!(r.len(), 1, "{r:?}");
        r.into_iter().next().unwrap()
    };
    // A client that connects and says nothing does not hold up anyone.
    let _silent = TcpStream::connect(c.addr(0)).unwrap();
    // Wrong key: RLT_AUTH, header only.
    let body = RequestBody::Ticket(TicketBody::default());
    let r = c.send(0, Cmd::List, body, 0, Some(b"not-the-right-key-at-all"));
    let r = one(r);
    assert_eq!(
        (r.cmd, r.result, r.leader),
        (Cmd::ClResult, Some(ResultCode::Auth), None)
    );
    // Unknown ticket: RLT_INVALID_ARG with the ticket body.
    let r = one(c.request(0, Cmd::Grant, "noSuchTicket", 0));
    assert_eq!(r.result, Some(ResultCode::InvalidArg));
    // Grant on the arbitrator is refused.
    let r = one(c.request(2, Cmd::Grant, "ticketA", 0));
    assert_eq!(r.result, Some(ResultCode::InvalidArg));
    // Revoke of an unowned ticket.
    let r = one(c.request(1, Cmd::Revoke, "ticketA", 0));
    assert_eq!(r.result, Some(ResultCode::TicketIdle));
    // Peers: booth's layout, every other member.
    let r = one(c.request(0, Cmd::Peers, "", 0));
    assert_eq!(r.cmd, Cmd::ClList);
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 8, "{}", r.text);
    assert!(
        lines[0].starts_with("site         127.0.0.3, last recv: "),
        "{}",
        r.text
    );
    assert!(lines[1].starts_with("\tSent pkts:"), "{}", r.text);
    assert!(lines[2].starts_with("\tRecv pkts:"), "{}", r.text);
    assert_eq!(lines[3], "");
    assert!(
        lines[4].starts_with("arbitrator   127.0.0.4, last recv: "),
        "{}",
        r.text
    );
    // A datagram flood from a member's address: counted, logged rate-limited.
    let flood = UdpSocket::bind((IPS[1], 0)).unwrap();
    for _ in 0..200 {
        flood.send_to(&[0x42], c.addr(0)).unwrap();
    }
    for _ in 0..2 {
        flood.send_to(&[0x42; 1500], c.addr(0)).unwrap();
    }
    wait_for(5, "the flood to be counted", || {
        let r = one(c.request(0, Cmd::Peers, "", 0));
        r.text.contains("\tRecv pkts:").then_some(()).filter(|_| {
            r.text
                .lines()
                .nth(2)
                .is_some_and(|l| l.contains(" error:202 "))
        })
    });
    let out = fs::read_to_string(c.dir.join("daemon0.out")).unwrap();
    let dropped = out
        .lines()
        .filter(|l| l.contains("dropped a datagram"))
        .count();
    assert!(
        dropped <= 2,
        "{dropped} log lines for 202 bad datagrams:\n{out}"
    );

    // geostore: set (through crm_ticket), get, list, delete.
    let r = one(c.attr(0, Cmd::AttrSet, "ticketA", "sr_status", "ACTIVE $(x) 'y'"));
    assert_eq!(
        (r.cmd, r.result),
        (Cmd::ClResult, Some(ResultCode::Success))
    );
    assert!(crm_calls(&c.crm_log(0))
        .iter()
        .any(|(_, a)| a == "-t ticketA -S sr_status --attr-value=ACTIVE $(x) 'y'"));
    let r = one(c.attr(0, Cmd::AttrGet, "ticketA", "sr_status", ""));
    assert_eq!(
        (r.cmd, r.text.as_str()),
        (Cmd::AttrGet, "ACTIVE $(x) 'y'\n")
    );
    let r = one(c.attr(0, Cmd::AttrList, "ticketA", "", ""));
    assert!(
        r.text.starts_with("sr_status ACTIVE $(x) 'y' 20"),
        "{}",
        r.text
    );
    let r = one(c.attr(0, Cmd::AttrGet, "ticketA", "nope", ""));
    assert_eq!(r.result, Some(ResultCode::NoSuchAttr));
    let r = one(c.attr(0, Cmd::AttrSet, "ticketA", "granted", "true"));
    assert_eq!(
        r.result,
        Some(ResultCode::SyncFail),
        "booth's own attributes are refused"
    );
    let r = one(c.attr(0, Cmd::AttrDel, "ticketA", "sr_status", ""));
    assert_eq!(r.result, Some(ResultCode::Success));
    assert!(crm_calls(&c.crm_log(0))
        .iter()
        .any(|(_, a)| a == "-t ticketA -D sr_status"));
    let r = one(c.attr(0, Cmd::AttrDel, "ticketA", "sr_status", ""));
    assert_eq!(r.result, Some(ResultCode::NoSuchAttr));
}

#[test]
fn before_acquire_handler_gates_the_grant() {
    let mut c = Cluster::with_ticket_lines("    before-acquire-handler = @DIR@/handler.sh arg1\n");
    let script = c.dir.join("handler.sh");
    let log = c.dir.join("handler.log");
    let rc = c.dir.join("handler.rc");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $BOOTH_TICKET $BOOTH_LOCAL $BOOTH_CONF_NAME $BOOTH_TERM\" >> {}\n\
             exit $(cat {})\n",
            log.display(),
            rc.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(&rc, "3").unwrap();
    for i in 0..3 {
        c.start(i);
    }
    for i in 0..3 {
        wait_for(10, "the daemons to answer list", || c.list(i));
    }
    // A failing handler denies the grant (XPrg) and nothing is granted.
    let r = c.request(0, Cmd::Grant, "ticketA", 0);
    assert_eq!(
        r.last().unwrap().result,
        Some(ResultCode::ExtFailed),
        "{r:?}"
    );
    assert_eq!(c.list(0).unwrap(), "ticket: ticketA, leader: NONE\n");
    assert!(!crm_calls(&c.crm_log(0))
        .iter()
        .any(|(_, a)| a.starts_with("-t ticketA -g")));
    // A passing handler lets it through; it saw the ticket and the term.
    fs::write(&rc, "0").unwrap();
    let r = c.request(0, Cmd::Grant, "ticketA", 0);
    assert_eq!(r.last().unwrap().result, Some(ResultCode::Success), "{r:?}");
    let seen = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert!(lines.len() >= 2, "{seen}");
    assert!(
        lines[0].starts_with("arg1 ticketA 127.0.0.2 booth "),
        "{seen}"
    );
    assert!(
        lines[1].starts_with("arg1 ticketA 127.0.0.2 booth "),
        "{seen}"
    );
    wait_for(10, "-g at A", || {
        crm_calls(&c.crm_log(0))
            .iter()
            .any(|(_, a)| a.starts_with(&grant_line(ID_A)))
            .then_some(())
    });
}

/// A configuration as `crm cluster geo_init` writes it (quoted values, booth's
/// default users, `expire = 20` / `timeout = 2` with booth's default retries,
/// which booth itself refuses) starts: the retries are lowered with a
/// warning, and as root the default group `nobody`, missing on Debian,
/// becomes `nogroup` with one log line. A site and the arbitrator of the same
/// config name share one state directory root but get a directory each.
#[test]
fn stock_config_starts_and_members_do_not_share_state() {
    let mut c = Cluster::new();
    c.shared_state = true;
    let cfg = format!(
        "transport=\"UDP\"\nport=\"{}\"\narbitrator=\"{}\"\nsite=\"{}\"\nsite=\"{}\"\n\
         authfile=\"{}\"\nticket=\"ticketA\"\nexpire=\"20\"\ntimeout=\"2\"\n",
        c.port,
        IPS[2],
        IPS[0],
        IPS[1],
        c.dir.join("authkey").display()
    );
    fs::write(c.dir.join("booth.conf"), cfg).unwrap();
    c.start(2);
    c.start(0);
    for i in [2, 0] {
        wait_for(15, "the member to answer list", || c.list(i));
    }
    let log = fs::read_to_string(c.dir.join("daemon2.out")).unwrap();
    assert!(log.contains("using retries = 3 instead"), "{log}");
    let root = current_user() == "root";
    let no_nobody_group = !Command::new("getent")
        .args(["group", "nobody"])
        .status()
        .unwrap()
        .success();
    if root && no_nobody_group {
        assert!(
            log.contains("group \"nobody\" does not exist on this system: using \"nogroup\""),
            "{log}"
        );
    }
    let state = c.dir.join("state");
    for ip in [IPS[0], IPS[2]] {
        let d = state.join(format!("booth@{ip}:{}", c.port));
        assert!(d.is_dir(), "no state directory {d:?}");
    }
    // Only the site has a lease guard, listening in its own directory.
    let guard = state.join(format!("booth@{}:{}/tickets.guard", IPS[0], c.port));
    assert!(guard.exists(), "{guard:?}");
}

/// booth never kills the before-acquire-handler (its own service-runnable
/// may take longer than `timeout`); without `handler-timeout` neither do we:
/// a handler that takes twice `timeout` (1 s here) still lets the grant
/// through.
#[test]
fn slow_handler_is_not_killed_by_default() {
    let mut c = Cluster::with_ticket_lines("    before-acquire-handler = @DIR@/slow.sh\n");
    let script = c.dir.join("slow.sh");
    fs::write(&script, "#!/bin/sh\nsleep 2\nexit 0\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    for i in 0..3 {
        c.start(i);
    }
    for i in 0..3 {
        wait_for(10, "the daemons to answer list", || c.list(i));
    }
    let started = Instant::now();
    let r = c.request(0, Cmd::Grant, "ticketA", 0);
    assert_eq!(r.last().unwrap().result, Some(ResultCode::Success), "{r:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{r:?}");
}
