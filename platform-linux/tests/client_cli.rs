//! The `booth` and `geostore` command line against a fake daemon: a TCP
//! listener in the test speaking the client protocol with booth-core's codec
//! and scripted replies. The built `boothd` binary runs under the names
//! `booth`, `geostore` and `boothd` (symlinks in a scratch directory).
//!
//! Members live on 127.0.0.x (all on `lo`, so the default target is the
//! first of them) or on documentation networks that are not local.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use booth_core::wire::client::{
    emit_result_reply, emit_text_reply, frame_len, parse_client_request, parse_reply, RequestBody,
};
use booth_core::wire::ticket::name_from;
use booth_core::wire::{Command, Header, ResultCode, TicketBody, HEADER_LEN};
use booth_core::SiteId;

const KEY: &[u8] = b"0123456789abcdef-test-key";

// --- scaffolding ---------------------------------------------------------------------

fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "booth-rs-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for name in ["booth", "geostore", "boothd"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_boothd"), dir.join(name)).unwrap();
    }
    dir
}

fn id_of(ip: &str) -> u32 {
    match ip.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => SiteId::from_ipv4(v4.octets()).0,
        IpAddr::V6(v6) => SiteId::from_ipv6(v6.octets()).0,
    }
}

/// A configuration file in `dir` with `port` and the given member lines.
fn config(dir: &Path, port: u16, members: &str, tickets: &[&str], key: bool) -> PathBuf {
    let mut text = format!("port = {port}\n");
    if key {
        let kf = dir.join("authkey");
        fs::write(&kf, KEY).unwrap();
        fs::set_permissions(&kf, fs::Permissions::from_mode(0o600)).unwrap();
        text.push_str(&format!("authfile = {}\n", kf.display()));
    }
    text.push_str(members);
    for t in tickets {
        text.push_str(&format!("ticket = \"{t}\"\n    acquire-after = 60\n"));
    }
    let path = dir.join("booth.conf");
    fs::write(&path, text).unwrap();
    path
}

const THREE: &str = "site = 127.0.0.2\nsite = 127.0.0.3\narbitrator = 127.0.0.4\n";

/// What the client ran: exit code, output and how long it took.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Out {
    fn err_has(&self, needle: &str) -> bool {
        self.stderr.contains(needle)
    }
    #[track_caller]
    fn assert_err(&self, needle: &str) {
        assert!(self.err_has(needle), "stderr lacks {needle:?}: {self:#?}");
    }
    #[track_caller]
    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "{self:#?}");
    }
}

/// Runs `dir/<name> args…`; kills it after 60 s so a hang fails the test.
fn run(dir: &Path, name: &str, args: &[&str]) -> Out {
    let t0 = Instant::now();
    let child = Proc::new(dir.join(name))
        .args(args)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = thread::spawn(move || {
        while t0.elapsed() < Duration::from_secs(60) {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::SeqCst);
    watchdog.join().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t0.elapsed(),
    }
}

// --- the fake daemon -----------------------------------------------------------------

/// One scripted answer.
#[derive(Debug, Clone)]
enum Act {
    /// `Rslt` with this result; grant/revoke replies carry the ticket with
    /// this leader.
    Result(ResultCode),
    Redirect(u32),
    /// A text reply (`RLst`, `AGet`, `ALst`).
    Text(Command, String),
    /// Read the request, then say nothing for this long.
    Silent(Duration),
}

/// A request as the fake daemon saw it.
#[derive(Debug, Clone)]
struct Seen {
    cmd: Command,
    options: u32,
    from: u32,
    signed: bool,
    len: usize,
    ticket: String,
    attr: String,
    value: String,
}

struct Fake {
    handle: JoinHandle<Vec<Seen>>,
}

impl Fake {
    /// Serves one connection per entry of `script`, in order.
    fn start(listener: TcpListener, key: Option<&'static [u8]>, script: Vec<Vec<Act>>) -> Fake {
        listener.set_nonblocking(true).unwrap();
        let handle = thread::spawn(move || {
            let mut seen = Vec::new();
            let me = match listener.local_addr().unwrap().ip() {
                IpAddr::V4(v4) => SiteId::from_ipv4(v4.octets()).0,
                IpAddr::V6(v6) => SiteId::from_ipv6(v6.octets()).0,
            };
            for acts in script {
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut stream = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(_) if Instant::now() < deadline => {
                            thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => return seen,
                    }
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let Some(req) = read_request(&mut stream, key) else {
                    return seen;
                };
                let ticket_name = req.ticket.clone();
                seen.push(req);
                for act in acts {
                    if !answer(&mut stream, key, me, &ticket_name, act) {
                        break;
                    }
                }
            }
            seen
        });
        Fake { handle }
    }

    fn seen(self) -> Vec<Seen> {
        self.handle.join().unwrap()
    }
}

fn read_request(s: &mut TcpStream, key: Option<&[u8]>) -> Option<Seen> {
    let mut buf = vec![0u8; HEADER_LEN];
    s.read_exact(&mut buf).ok()?;
    let len = frame_len(&buf).ok()?;
    buf.resize(len, 0);
    s.read_exact(&mut buf[HEADER_LEN..]).ok()?;
    let (req, _mac) = parse_client_request(&buf, key).expect("a valid client request");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (ticket, attr, value) = match &req.body {
        RequestBody::Ticket(t) => (text(&t.name), String::new(), String::new()),
        RequestBody::Attr(a) => (text(&a.ticket), text(&a.attr), text(&a.value)),
    };
    Some(Seen {
        cmd: req.cmd,
        options: req.header.options,
        from: req.header.from,
        signed: req.header.has_auth(),
        len,
        ticket,
        attr,
        value,
    })
}

/// Sends one scripted answer; false when the connection is gone.
fn answer(s: &mut TcpStream, key: Option<&[u8]>, me: u32, ticket: &str, act: Act) -> bool {
    let header = Header {
        from: me,
        ..Header::default()
    };
    let body = |leader| TicketBody {
        name: name_from(ticket.as_bytes()).unwrap(),
        leader,
        term: 1,
        valid_for: 0,
    };
    let mut buf = vec![0u8; 4096];
    let n = match act {
        Act::Result(code) => {
            emit_result_reply(&header, code, Some(&body(me)), key, &mut buf).unwrap()
        }
        Act::Redirect(leader) => emit_result_reply(
            &header,
            ResultCode::Redirect,
            Some(&body(leader)),
            key,
            &mut buf,
        )
        .unwrap(),
        Act::Text(cmd, text) => {
            emit_text_reply(&header, cmd, text.as_bytes(), key, &mut buf).unwrap()
        }
        Act::Silent(d) => {
            thread::sleep(d);
            return false;
        }
    };
    s.write_all(&buf[..n]).is_ok()
}

/// Listeners on the same free port for every address in `ips`.
fn listeners(ips: &[&str]) -> (u16, Vec<TcpListener>) {
    for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind((*ip, port)) {
                Ok(l) => all.push(l),
                Err(_) => break,
            }
        }
        if all.len() == ips.len() {
            return (port, all);
        }
    }
    panic!("no common free port for {ips:?}");
}

/// A free port with nobody listening (for connection-refused tests).
fn dead_port(ip: &str) -> u16 {
    let l = TcpListener::bind((ip, 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// One fake daemon on 127.0.0.2 and a three-member configuration.
fn one_daemon(tickets: &[&str], key: bool, script: Vec<Vec<Act>>) -> (PathBuf, PathBuf, Fake) {
    let dir = scratch();
    let (port, mut ls) = listeners(&["127.0.0.2"]);
    let cfg = config(&dir, port, THREE, tickets, key);
    let fake = Fake::start(ls.remove(0), if key { Some(KEY) } else { None }, script);
    (dir, cfg, fake)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// --- grant ---------------------------------------------------------------------------

#[test]
fn grant_more_more_success() {
    use ResultCode::*;
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![vec![
            Act::Result(More),
            Act::Result(More),
            Act::Result(Success),
        ]],
    );
    let out = run(
        &dir,
        "booth",
        &["grant", "-c", s(&cfg), "-s", "127.0.0.2", "tA"],
    );
    out.assert_code(0);
    assert_eq!(
        out.stderr
            .matches("grant request sent, waiting for the result ...")
            .count(),
        1,
        "{out:#?}"
    );
    out.assert_err(" info: grant succeeded!");
    // booth's prefix: "Nov 25 09:48:33 host booth: [pid]: info: …".
    assert!(out.stderr.contains(" booth: ["), "{out:#?}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].cmd, Command::Grant);
    assert_eq!(seen[0].ticket, "tA");
    assert_eq!(seen[0].options, 0);
    assert_eq!(seen[0].len, 124);
    assert!(!seen[0].signed);
    // All 127.0.0.x members are on lo; the first one listed is "us".
    assert_eq!(seen[0].from, id_of("127.0.0.2"));
}

#[test]
fn grant_gives_up_after_the_third_intermediate_reply() {
    use ResultCode::*;
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![vec![
            Act::Result(More),
            Act::Result(More),
            Act::Result(More),
            Act::Result(Success),
        ]],
    );
    let out = run(&dir, "booth", &["grant", "-c", s(&cfg), "-t", "tA"]);
    out.assert_code(0);
    out.assert_err(
        "Giving up on waiting for the definite result. Please use \"booth list\" later to see the outcome.",
    );
    assert!(!out.err_has("succeeded"), "{out:#?}");
    fake.seen();
}

#[test]
fn grant_with_w_waits_past_three_and_sends_option_bits() {
    use ResultCode::*;
    let mut acts = vec![Act::Result(More); 5];
    acts.push(Act::Result(Success));
    let (dir, cfg, fake) = one_daemon(&["tA"], false, vec![acts]);
    let out = run(&dir, "booth", &["-w", "grant", "tA", "-F", "-c", s(&cfg)]);
    out.assert_code(0);
    out.assert_err("grant succeeded!");
    assert!(!out.err_has("Giving up"), "{out:#?}");
    assert_eq!(fake.seen()[0].options, 1 | 2);
}

#[test]
fn grant_commit_pending() {
    use ResultCode::*;
    // Without -C, Pend is success.
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![vec![Act::Result(More), Act::Result(CibPending)]],
    );
    let out = run(&dir, "booth", &["grant", "-c", s(&cfg)]);
    out.assert_code(0);
    out.assert_err("grant succeeded (CIB commit pending)");
    assert!(!out.err_has("waiting for the CIB commit"), "{out:#?}");
    assert_eq!(fake.seen()[0].ticket, "tA", "the only configured ticket");

    // With -C we wait for the commit.
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![vec![
            Act::Result(More),
            Act::Result(CibPending),
            Act::Result(More),
            Act::Result(More),
            Act::Result(Success),
        ]],
    );
    let out = run(&dir, "booth", &["grant", "-C", "-c", s(&cfg), "tA"]);
    out.assert_code(0);
    out.assert_err("waiting for the CIB commit ...");
    out.assert_err("grant succeeded!");
    assert!(!out.err_has("(CIB commit pending)"), "{out:#?}");
    assert_eq!(fake.seen()[0].options, 2 | 4);
}

#[test]
fn grant_errors_exit_1_with_booths_messages() {
    use ResultCode::*;
    let cases: [(ResultCode, &str); 8] = [
        (
            Overgrant,
            "You're granting a granted ticket. If you wanted to migrate a ticket, use revoke first, then use grant.",
        ),
        (InvalidArg, "ERROR: ticket \"tA\" does not exist"),
        (Auth, "ERROR: authentication error"),
        (
            ExtFailed,
            "before-acquire-handler for ticket \"tA\" failed, grant denied",
        ),
        (AttrPrereq, "attr-prereq for ticket \"tA\" failed, grant denied"),
        (SyncFail, "grant failed!"),
        (Busy, "got an error code: Busy"),
        (TermOutdated, "got an error code: TOdt"),
    ];
    for (code, text) in cases {
        let (dir, cfg, fake) = one_daemon(&["tA"], false, vec![vec![Act::Result(code)]]);
        let out = run(&dir, "booth", &["grant", "-c", s(&cfg), "tA"]);
        out.assert_code(1);
        out.assert_err(text);
        fake.seen();
    }
}

#[test]
fn grant_refused_at_an_arbitrator() {
    // Remote arbitrator named with -s: nothing is sent.
    let dir = scratch();
    let port = dead_port("127.0.0.4");
    let cfg = config(&dir, port, THREE, &["tA"], false);
    let out = run(
        &dir,
        "booth",
        &["grant", "-c", s(&cfg), "-s", "127.0.0.4", "tA"],
    );
    out.assert_code(1);
    out.assert_err("127.0.0.4 is just an arbitrator, cannot grant/revoke tickets there.");

    // The local member is the arbitrator.
    let members = "site = 198.51.100.1\nsite = 203.0.113.1\narbitrator = 127.0.0.4\n";
    let cfg = config(&dir, port, members, &["tA"], false);
    let out = run(&dir, "booth", &["grant", "-c", s(&cfg), "tA"]);
    out.assert_code(1);
    out.assert_err("ERROR: We're just an arbitrator, cannot grant/revoke tickets here.");
    let out = run(&dir, "booth", &["revoke", "-c", s(&cfg), "tA"]);
    out.assert_code(1);
    out.assert_err("We're just an arbitrator, cannot grant/revoke tickets here.");
}

// --- revoke --------------------------------------------------------------------------

#[test]
fn revoke_follows_a_redirect_to_the_leader() {
    let dir = scratch();
    let (port, mut ls) = listeners(&["127.0.0.3", "127.0.0.2"]);
    let cfg = config(&dir, port, THREE, &["tA", "tB"], false);
    let follower = Fake::start(
        ls.remove(0),
        None,
        vec![vec![Act::Redirect(id_of("127.0.0.2"))]],
    );
    let leader = Fake::start(
        ls.remove(0),
        None,
        vec![vec![Act::Result(ResultCode::Success)]],
    );
    let out = run(
        &dir,
        "booth",
        &["revoke", "-s", "127.0.0.3", "-c", s(&cfg), "tB"],
    );
    out.assert_code(0);
    out.assert_err("revoke succeeded!");
    let f = follower.seen();
    let l = leader.seen();
    assert_eq!((f[0].cmd, f[0].ticket.as_str()), (Command::Revoke, "tB"));
    assert_eq!((l[0].cmd, l[0].ticket.as_str()), (Command::Revoke, "tB"));
}

#[test]
fn revoke_redirect_to_an_unknown_site_is_an_error() {
    let (dir, cfg, fake) = one_daemon(&["tA"], false, vec![vec![Act::Redirect(12345)]]);
    let out = run(&dir, "booth", &["revoke", "-c", s(&cfg), "tA"]);
    out.assert_code(1);
    out.assert_err("site ID 12345");
    fake.seen();
}

#[test]
fn revoke_of_an_unowned_ticket_exits_0() {
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![vec![Act::Result(ResultCode::TicketIdle)]],
    );
    let out = run(&dir, "booth", &["revoke", "-c", s(&cfg)]);
    out.assert_code(0);
    out.assert_err("ticket is not owned");
    assert_eq!(fake.seen()[0].cmd, Command::Revoke);
}

// --- never hang, clear connection errors ---------------------------------------------

#[test]
fn silent_daemon_times_out() {
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![vec![Act::Silent(Duration::from_secs(6))]],
    );
    let out = run(
        &dir,
        "booth",
        &["grant", "-c", s(&cfg), "tA", "--timeout", "1"],
    );
    out.assert_code(1);
    out.assert_err("no reply from 127.0.0.2 port");
    out.assert_err("within 1 s");
    assert!(out.took < Duration::from_secs(5), "{out:#?}");
    fake.seen();
}

#[test]
fn refused_connection_names_address_port_and_errno() {
    let dir = scratch();
    let port = dead_port("127.0.0.2");
    let cfg = config(&dir, port, THREE, &["tA"], false);
    for args in [
        vec!["list", "-c", s(&cfg)],
        vec!["grant", "-c", s(&cfg), "tA"],
    ] {
        let out = run(&dir, "booth", &args);
        out.assert_code(1);
        out.assert_err(&format!("cannot connect to booth at 127.0.0.2 port {port}"));
        out.assert_err("refused");
    }
    let out = run(&dir, "geostore", &["list", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("refused");
}

// --- list and peers ------------------------------------------------------------------

const LIST: &str = "ticket: tA, leader: NONE\n\
ticket: tB, leader: none\n\
ticket: tC, leader: 127.0.0.3, expires: 2026-11-25 08:03:08\n\
ticket: tD, leader: 127.0.0.2, expires: 2026-11-25 08:03:08 (commit pending until 2026-11-25 08:13:08)\n\
ticket: tM, leader: 127.0.0.2, expires: INF [manual mode]\n";

const PEERS: &str = "site         127.0.0.3, last recv: 2026-11-25 08:12:34\n\
\tSent pkts:4 error:0 resends:0\n\
\tRecv pkts:4 error:0 authfail:0 invalid:0\n\
\n\
arbitrator   127.0.0.4, last recv: 2026-11-25 08:12:35\n\
\tSent pkts:5 error:1 resends:2\n\
\tRecv pkts:6 error:0 authfail:3 invalid:0\n\
\n";

#[test]
fn list_and_peers_print_the_daemons_text_unchanged() {
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![
            vec![Act::Text(Command::ClList, LIST.into())],
            vec![Act::Text(Command::ClList, PEERS.into())],
        ],
    );
    let out = run(&dir, "booth", &["list", "-c", s(&cfg)]);
    out.assert_code(0);
    assert_eq!(out.stdout, LIST);
    assert_eq!(out.stderr, "");
    let out = run(&dir, "booth", &["client", "peers", "-c", s(&cfg)]);
    out.assert_code(0);
    assert_eq!(out.stdout, PEERS);
    let seen = fake.seen();
    assert_eq!(seen[0].cmd, Command::List);
    assert_eq!(seen[1].cmd, Command::Peers);
}

#[test]
fn list_and_peers_as_json() {
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![
            vec![Act::Text(Command::ClList, LIST.into())],
            vec![Act::Text(Command::ClList, PEERS.into())],
        ],
    );
    let out = run(&dir, "booth", &["list", "--json", "-c", s(&cfg)]);
    out.assert_code(0);
    let j = out.stdout.trim_end();
    assert!(
        j.starts_with(
            "{\"tickets\":[{\"ticket\":\"tA\",\"leader\":null,\"leader_status\":\"unknown\""
        ),
        "{j}"
    );
    assert!(
        j.contains("{\"ticket\":\"tB\",\"leader\":null,\"leader_status\":\"none\""),
        "{j}"
    );
    // TZ=UTC: 2026-11-25 08:03:08 UTC.
    assert!(j.contains("\"ticket\":\"tC\",\"leader\":\"127.0.0.3\",\"leader_status\":\"granted\",\"expires\":\"2026-11-25 08:03:08\",\"expires_epoch\":1795593788"), "{j}");
    assert!(j.contains("\"commit_pending_until\":\"2026-11-25 08:13:08\",\"commit_pending_until_epoch\":1795594388"), "{j}");
    assert!(j.contains("\"ticket\":\"tM\",\"leader\":\"127.0.0.2\",\"leader_status\":\"granted\",\"expires\":\"INF\",\"expires_epoch\":null,\"commit_pending_until\":null,\"commit_pending_until_epoch\":null,\"manual\":true}"), "{j}");
    assert!(j.ends_with("],\"warnings\":[],\"unparsed\":[]}"), "{j}");

    let out = run(&dir, "booth", &["peers", "--json", "-c", s(&cfg)]);
    out.assert_code(0);
    let j = out.stdout.trim_end();
    assert!(
        j.contains(
            "{\"type\":\"site\",\"address\":\"127.0.0.3\",\"last_recv\":\"2026-11-25 08:12:34\""
        ),
        "{j}"
    );
    assert!(
        j.contains("\"type\":\"arbitrator\",\"address\":\"127.0.0.4\""),
        "{j}"
    );
    assert!(
        j.contains("\"recv\":{\"pkts\":6,\"error\":0,\"authfail\":3,\"invalid\":0}"),
        "{j}"
    );
    fake.seen();
}

// --- authentication ------------------------------------------------------------------

#[test]
fn signed_requests_and_replies_with_an_authfile() {
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        true,
        vec![
            vec![Act::Text(Command::ClList, LIST.into())],
            vec![
                Act::Result(ResultCode::More),
                Act::Result(ResultCode::Success),
            ],
        ],
    );
    let out = run(&dir, "booth", &["list", "-c", s(&cfg)]);
    out.assert_code(0);
    assert_eq!(out.stdout, LIST);
    let out = run(&dir, "booth", &["grant", "-c", s(&cfg)]);
    out.assert_code(0);
    out.assert_err("grant succeeded!");
    let seen = fake.seen();
    assert!(seen.iter().all(|r| r.signed && r.len == 152), "{seen:?}");
}

#[test]
fn unsigned_reply_to_a_keyed_client_is_refused() {
    // The daemon has no key (booth without authfile ignores our trailer and
    // answers unsigned): the client must not trust the answer.
    let dir = scratch();
    let (port, mut ls) = listeners(&["127.0.0.2"]);
    let cfg = config(&dir, port, THREE, &["tA"], true);
    let fake = Fake::start(
        ls.remove(0),
        None,
        vec![vec![Act::Text(Command::ClList, LIST.into())]],
    );
    let out = run(&dir, "booth", &["list", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("is not signed");
    assert_eq!(out.stdout, "");
    fake.seen();
}

#[test]
fn daemon_auth_failure_is_reported() {
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![
            vec![Act::Result(ResultCode::Auth)],
            vec![Act::Result(ResultCode::Auth)],
        ],
    );
    let out = run(&dir, "booth", &["list", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("authentication error");
    let out = run(&dir, "geostore", &["set", "-c", s(&cfg), "k", "v"]);
    out.assert_code(1);
    out.assert_err("authentication error");
    fake.seen();
}

// --- geostore ------------------------------------------------------------------------

#[test]
fn geostore_commands() {
    use ResultCode::*;
    let (dir, cfg, fake) = one_daemon(
        &["tA", "tB"],
        false,
        vec![
            vec![Act::Result(Success)],
            vec![Act::Text(Command::AttrGet, "red\n".into())],
            vec![Act::Result(NoSuchAttr)],
            vec![Act::Text(
                Command::AttrList,
                "color red 2026-11-25 08:03:08\nsize 3 \n".into(),
            )],
            vec![Act::Result(InvalidArg)],
            vec![Act::Result(Success)],
        ],
    );
    let c = s(&cfg);
    let out = run(
        &dir,
        "geostore",
        &["set", "-t", "tA", "-c", c, "color", "red"],
    );
    out.assert_code(0);
    assert_eq!(out.stdout, "");
    out.assert_err(" geostore: [");
    out.assert_err("info: set succeeded!");
    let out = run(&dir, "geostore", &["get", "color", "-t", "tA", "-c", c]);
    out.assert_code(0);
    assert_eq!(out.stdout, "red\n");
    let out = run(&dir, "geostore", &["get", "-t", "tA", "-c", c, "shape"]);
    out.assert_code(1);
    out.assert_err("attribute \"shape\" not set");
    let out = run(&dir, "geostore", &["list", "-t", "tB", "-c", c]);
    out.assert_code(0);
    assert_eq!(out.stdout, "color red 2026-11-25 08:03:08\nsize 3 \n");
    let out = run(&dir, "geostore", &["delete", "-t", "tX", "-c", c, "color"]);
    out.assert_code(1);
    out.assert_err("ticket \"tX\" does not exist");
    // Two tickets configured: -t is needed.
    let out = run(&dir, "geostore", &["list", "-c", c]);
    out.assert_code(1);
    out.assert_err("No ticket given. The configuration has 2 tickets (tA, tB)");
    let out = run(&dir, "geostore", &["delete", "-t", "tA", "-c", c, "color"]);
    out.assert_code(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));

    let seen = fake.seen();
    let cmds: Vec<Command> = seen.iter().map(|r| r.cmd).collect();
    use Command::*;
    assert_eq!(
        cmds,
        [AttrSet, AttrGet, AttrGet, AttrList, AttrDel, AttrDel]
    );
    assert_eq!(
        (
            seen[0].ticket.as_str(),
            seen[0].attr.as_str(),
            seen[0].value.as_str()
        ),
        ("tA", "color", "red")
    );
    assert_eq!(seen[3].ticket, "tB");
    assert!(seen.iter().all(|r| r.len == 304));
}

#[test]
fn geostore_writes_refused_at_an_arbitrator() {
    let dir = scratch();
    let (port, mut ls) = listeners(&["127.0.0.4"]);
    let cfg = config(&dir, port, THREE, &["tA"], false);
    // Reads go to the arbitrator's daemon; writes are refused before sending.
    let fake = Fake::start(
        ls.remove(0),
        None,
        vec![vec![Act::Text(Command::AttrList, String::new())]],
    );
    let c = s(&cfg);
    for args in [
        vec!["set", "-s", "127.0.0.4", "-c", c, "color", "red"],
        vec!["delete", "-s", "127.0.0.4", "-c", c, "color"],
    ] {
        let out = run(&dir, "geostore", &args);
        out.assert_code(1);
        out.assert_err("127.0.0.4 is just an arbitrator, no attributes there.");
    }
    let out = run(&dir, "geostore", &["list", "-s", "127.0.0.4", "-c", c]);
    out.assert_code(0);
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].cmd, Command::AttrList);
}

// --- dispatch, configuration, targets ------------------------------------------------

#[test]
fn argv0_dispatch_version_and_help() {
    let dir = scratch();
    let v = env!("CARGO_PKG_VERSION");
    for (name, args) in [
        ("booth", vec!["version"]),
        ("booth", vec!["--version"]),
        ("boothd", vec!["-V"]),
        ("geostore", vec!["--version"]),
    ] {
        let out = run(&dir, name, &args);
        out.assert_code(0);
        // argv[0] as typed, like booth ("/usr/sbin/booth 1.0").
        assert_eq!(out.stdout, format!("{} {v}\n", dir.join(name).display()));
    }
    let out = run(&dir, "booth", &["help"]);
    out.assert_code(0);
    for word in [
        "grant", "revoke", "list", "peers", "status", "daemon", "-F", "-C", "--json",
    ] {
        assert!(
            out.stdout.contains(word),
            "help lacks {word}: {}",
            out.stdout
        );
    }
    let out = run(&dir, "geostore", &["-h"]);
    out.assert_code(0);
    assert!(out.stdout.contains("geostore set"), "{}", out.stdout);
    assert!(!out.stdout.contains("grant"), "{}", out.stdout);

    // geostore knows only its own words; booth not geostore's.
    let out = run(&dir, "geostore", &["grant", "tA"]);
    out.assert_code(1);
    out.assert_err("unknown command \"grant\"");
    let out = run(&dir, "booth", &["set", "a", "b"]);
    out.assert_code(1);
    // Bare `booth` prints the usage and exits 0, as booth does.
    let out = run(&dir, "booth", &[]);
    out.assert_code(0);
    assert!(out.stdout.starts_with("Usage:"), "{out:#?}");
    let out = run(&dir, "booth", &["-D"]);
    out.assert_code(1);
    // The daemon word reaches the daemon's options check.
    let out = run(&dir, "boothd", &["daemon", "-s", "not-an-ip"]);
    out.assert_code(1);
    out.assert_err("the daemon needs one of its configured IP addresses");
    let out = run(&dir, "booth", &["list", "-F", "--bogus"]);
    out.assert_code(1);
    out.assert_err("unknown option --bogus");
}

#[test]
fn boothd_name_runs_client_commands_too() {
    let (dir, cfg, fake) = one_daemon(
        &["tA"],
        false,
        vec![vec![Act::Text(Command::ClList, LIST.into())]],
    );
    let out = run(&dir, "boothd", &["client", "list", "-c", s(&cfg)]);
    out.assert_code(0);
    assert_eq!(out.stdout, LIST);
    fake.seen();
}

#[test]
fn config_name_resolution() {
    let dir = scratch();
    let name = format!("no-such-booth-{}", std::process::id());
    let out = run(&dir, "booth", &["list", "-c", &name]);
    out.assert_code(1);
    out.assert_err(&format!("/etc/booth/{name}.conf"));
    let out = run(&dir, "booth", &["list", "-c", &format!("{name}.cfg")]);
    out.assert_code(1);
    out.assert_err(&format!("/etc/booth/{name}.cfg"));
    let path = dir.join("missing.conf");
    let out = run(&dir, "booth", &["list", "-c", s(&path)]);
    out.assert_code(1);
    out.assert_err(s(&path));
}

#[test]
fn site_other_and_unknown_sites() {
    let dir = scratch();
    let (port, mut ls) = listeners(&["127.0.0.3"]);
    let members = "site = 127.0.0.2\nsite = 127.0.0.3\narbitrator = 203.0.113.1\n";
    let cfg = config(&dir, port, members, &["tA"], false);
    let fake = Fake::start(
        ls.remove(0),
        None,
        vec![vec![Act::Result(ResultCode::Success)]],
    );
    // We are 127.0.0.2 (first local match), so "other" is 127.0.0.3.
    let out = run(&dir, "booth", &["grant", "-s", "other", "-c", s(&cfg)]);
    out.assert_code(0);
    out.assert_err("grant succeeded!");
    assert_eq!(fake.seen()[0].from, id_of("127.0.0.2"));

    let cfg3 = config(&dir, port, THREE, &["tA"], false);
    let out = run(&dir, "booth", &["list", "-s", "other", "-c", s(&cfg3)]);
    out.assert_code(1);
    out.assert_err(&format!("cannot connect to booth at 127.0.0.3 port {port}"));
    let cfg4 = config(
        &dir,
        port,
        "site = 127.0.0.2\nsite = 127.0.0.3\nsite = 127.0.0.5\narbitrator = 127.0.0.4\narbitrator = 127.0.0.6\n",
        &["tA"],
        false,
    );
    let out = run(&dir, "booth", &["list", "-s", "other", "-c", s(&cfg4)]);
    out.assert_code(1);
    out.assert_err("-s other needs exactly two sites in the configuration, it has 3");

    let out = run(&dir, "booth", &["list", "-s", "127.0.0.9", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("cannot find site \"127.0.0.9\"");
    let out = run(&dir, "booth", &["list", "-s", "localhost", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("cannot find site \"localhost\" (resolved to 127.0.0.1)");
}

#[test]
fn no_local_member_is_a_clear_error() {
    let dir = scratch();
    let members = "site = 198.51.100.1\nsite = 203.0.113.1\narbitrator = 198.51.100.77\n";
    let cfg = config(&dir, 9929, members, &["tA"], false);
    let out = run(&dir, "booth", &["list", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("cannot find the local booth member");
    out.assert_err("198.51.100.1, 203.0.113.1, 198.51.100.77");
}

#[test]
fn ticket_must_be_named_when_several_are_configured() {
    let dir = scratch();
    let cfg = config(&dir, dead_port("127.0.0.2"), THREE, &["tA", "tB"], false);
    let out = run(&dir, "booth", &["grant", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("No ticket given. The configuration has 2 tickets (tA, tB): name one with -t.");
    let long = "x".repeat(64);
    let out = run(&dir, "booth", &["grant", "-c", s(&cfg), &long]);
    out.assert_code(1);
    out.assert_err("is too long");
}

// --- booth status, and our client against our daemon ---------------------------------

#[test]
fn status_not_running_plain_and_json() {
    let dir = scratch();
    let cfg = config(&dir, dead_port("127.0.0.2"), THREE, &["tA"], false);
    let lock = dir.join("booth.pid");
    let base = ["status", "-s", "127.0.0.2", "-c", s(&cfg), "-l", s(&lock)];
    let out = run(&dir, "booth", &[&base[..], &["-S"]].concat());
    out.assert_code(7);
    out.assert_err("not running:");
    let out = run(&dir, "booth", &[&base[..], &["--json"]].concat());
    out.assert_code(7);
    assert!(
        out.stdout.starts_with("{\"running\":false,\"exit_code\":7"),
        "{out:#?}"
    );
    // A broken configuration is exit 1.
    let bad = dir.join("bad.conf");
    fs::write(&bad, "port = 9929x\n").unwrap();
    let out = run(&dir, "booth", &["status", "-c", s(&bad), "-l", s(&lock)]);
    out.assert_code(1);
    out.assert_err("bad.conf:1:");
    // A missing one too, and it says so (booth logs why; pcs shows stderr).
    let gone = dir.join("gone.conf");
    let out = run(&dir, "booth", &["status", "-c", s(&gone)]);
    out.assert_code(1);
    out.assert_err("gone.conf: cannot read the configuration");
}

/// A real `boothd daemon` in the foreground, stopped on drop.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Our `boothd daemon` as site 127.0.0.2 of a keyed three-member formation
/// (the others absent), at `port`, with ticket tA; returns once `booth list`
/// answers (or 15 s passed: the caller checks `list`).
fn our_daemon(dir: &Path, port: u16) -> (PathBuf, Daemon, Out) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    // crm_ticket stub: the daemon may call it; it succeeds and says nothing.
    let stub = bin.join("crm_ticket");
    fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    let members = format!(
        "site-user = {u}\nsite-group = {g}\narbitrator-user = {u}\narbitrator-group = {g}\n{THREE}",
        u = current_user(),
        g = current_group()
    );
    let cfg = config(dir, port, &members, &["tA"], true);
    let lock = dir.join("booth.pid");
    let log = fs::File::create(dir.join("daemon.log")).unwrap();
    let child = Proc::new(dir.join("boothd"))
        .args([
            "daemon",
            "-S",
            "-s",
            "127.0.0.2",
            "-c",
            s(&cfg),
            "-l",
            s(&lock),
        ])
        .env("BOOTH_STATE_DIR", dir)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let daemon = Daemon(child);

    let t0 = Instant::now();
    let list = loop {
        let out = run(dir, "booth", &["list", "-s", "127.0.0.2", "-c", s(&cfg)]);
        if out.code == 0 || t0.elapsed() > Duration::from_secs(15) {
            break out;
        }
        thread::sleep(Duration::from_millis(100));
    };
    (cfg, daemon, list)
}

#[test]
fn client_against_our_daemon() {
    let dir = scratch();
    let (port, ls) = listeners(&["127.0.0.2"]);
    drop(ls);
    let (cfg, _daemon, list) = our_daemon(&dir, port);
    let lock = dir.join("booth.pid");
    let daemon_log = || fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    assert_eq!(list.code, 0, "{list:#?}\ndaemon log:\n{}", daemon_log());
    assert!(list.stdout.starts_with("ticket: tA, leader: "), "{list:#?}");

    let out = run(
        &dir,
        "booth",
        &["list", "--json", "-s", "127.0.0.2", "-c", s(&cfg)],
    );
    out.assert_code(0);
    assert!(
        out.stdout.starts_with("{\"tickets\":[{\"ticket\":\"tA\""),
        "{out:#?}"
    );
    assert!(out.stdout.contains("\"unparsed\":[]}"), "{out:#?}");

    let out = run(
        &dir,
        "booth",
        &["peers", "--json", "-s", "127.0.0.2", "-c", s(&cfg)],
    );
    out.assert_code(0);
    assert!(out.stdout.contains("\"address\":\"127.0.0.3\""), "{out:#?}");
    assert!(out.stdout.contains("\"address\":\"127.0.0.4\""), "{out:#?}");

    let out = run(
        &dir,
        "booth",
        &[
            "status",
            "--json",
            "-s",
            "127.0.0.2",
            "-c",
            s(&cfg),
            "-l",
            s(&lock),
        ],
    );
    out.assert_code(0);
    assert!(
        out.stdout
            .starts_with("{\"running\":true,\"exit_code\":0,\"lockpid\":"),
        "{out:#?}\ndaemon log:\n{}",
        daemon_log()
    );
    assert!(out.stdout.contains("\"type\":\"site\""), "{out:#?}");

    // A ticket the daemon does not know.
    let out = run(
        &dir,
        "booth",
        &["revoke", "-s", "127.0.0.2", "-c", s(&cfg), "nope"],
    );
    out.assert_code(1);
    out.assert_err("ticket \"nope\" does not exist");
    let out = run(
        &dir,
        "booth",
        &["revoke", "-s", "127.0.0.2", "-c", s(&cfg), "tA"],
    );
    out.assert_code(0);
    out.assert_err("ticket is not owned");
}

/// Sends `request` to the daemon at `to` and returns its reply's result.
fn request_result(to: (&str, u16), request: &[u8]) -> Option<ResultCode> {
    let mut c = TcpStream::connect(to).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let (reply, _) = parse_reply(&buf, Some(KEY)).expect("a signed reply");
    reply.result()
}

/// issue 11: a signed `booth revoke` captured on the wire was accepted again
/// after 33 `booth list` calls (the daemon remembered 32 request MACs, for
/// all clients together). Now every accepted request stays refused.
#[test]
fn a_captured_revoke_replayed_after_many_lists_is_refused() {
    let dir = scratch();
    let (port, mut ls) = listeners(&["127.0.0.2", "127.0.0.3"]);
    let capture = ls.pop().unwrap();
    drop(ls);
    let (cfg, _daemon, list) = our_daemon(&dir, port);
    let daemon_log = || fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    assert_eq!(list.code, 0, "{list:#?}\ndaemon log:\n{}", daemon_log());

    // The real client's revoke, captured by a listener at 127.0.0.3.
    let catcher = thread::spawn(move || {
        let (mut s, _) = capture.accept().unwrap();
        let mut buf = vec![0u8; HEADER_LEN];
        s.read_exact(&mut buf).unwrap();
        buf.resize(frame_len(&buf).unwrap(), 0);
        s.read_exact(&mut buf[HEADER_LEN..]).unwrap();
        // let the client go (it would retry a silent site)
        let me = id_of("127.0.0.3");
        let _ = answer(
            &mut s,
            Some(KEY),
            me,
            "tA",
            Act::Result(ResultCode::Success),
        );
        buf
    });
    let out = run(
        &dir,
        "booth",
        &["revoke", "-s", "127.0.0.3", "-c", s(&cfg), "tA"],
    );
    let captured = catcher.join().unwrap();
    assert_eq!(out.code, 0, "{out:#?}");
    let (req, mac) = parse_client_request(&captured, Some(KEY)).unwrap();
    assert_eq!((req.cmd, mac.is_some()), (Command::Revoke, true));

    let daemon = ("127.0.0.2", port);
    // delivered once: the daemon answers it (the ticket is not owned)
    let first = request_result(daemon, &captured);
    assert!(
        first.is_some() && first != Some(ResultCode::Auth),
        "{first:?}\ndaemon log:\n{}",
        daemon_log()
    );
    for i in 0..40 {
        let out = run(&dir, "booth", &["list", "-s", "127.0.0.2", "-c", s(&cfg)]);
        assert_eq!(out.code, 0, "list {i}: {out:#?}");
    }
    assert_eq!(request_result(daemon, &captured), Some(ResultCode::Auth));
    assert!(daemon_log().contains("replayed"), "{}", daemon_log());
    // and a fresh revoke from the client still works
    let out = run(
        &dir,
        "booth",
        &["revoke", "-s", "127.0.0.2", "-c", s(&cfg), "tA"],
    );
    out.assert_code(0);
}

fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        assert!(!pw.is_null());
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

fn current_group() -> String {
    // SAFETY: getgrgid returns a pointer into static storage or null.
    unsafe {
        let gr = libc::getgrgid(libc::getgid());
        assert!(!gr.is_null());
        std::ffi::CStr::from_ptr((*gr).gr_name)
            .to_string_lossy()
            .into_owned()
    }
}

// --- our client against booth 1.x daemons --------------------------------------------

/// booth 1.x daemons started with `-D -s ADDR` (no netlink lookup, so they
/// also work on kernels where booth 1.0's own lookup hangs), stopped on drop.
struct BoothDaemons(Vec<std::process::Child>);

impl Drop for BoothDaemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const BOOTH_1X: &str = "/usr/sbin/boothd";

#[test]
fn interop_with_booth_1x_daemons() {
    if !Path::new(BOOTH_1X).exists() {
        eprintln!("skipped: {BOOTH_1X} (booth 1.x, Debian package \"booth\") is not installed");
        return;
    }
    let dir = scratch();
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("crm_ticket");
    fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    let (port, ls) = listeners(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    drop(ls);
    let timing = "    expire = 10\n    timeout = 1\n    retries = 3\n";
    let mut text = format!("port = {port}\n");
    let kf = dir.join("authkey");
    fs::write(&kf, KEY).unwrap();
    fs::set_permissions(&kf, fs::Permissions::from_mode(0o600)).unwrap();
    text.push_str(&format!("authfile = {}\n{THREE}", kf.display()));
    for t in ["tA", "tB"] {
        text.push_str(&format!(
            "ticket = \"{t}\"\n{timing}    acquire-after = 0\n"
        ));
    }
    let cfg = dir.join("booth.conf");
    fs::write(&cfg, &text).unwrap();
    let mut daemons = BoothDaemons(Vec::new());
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let log = fs::File::create(dir.join(format!("booth-{ip}.log"))).unwrap();
        let lock = dir.join(format!("booth-{ip}.pid"));
        daemons.0.push(
            Proc::new(BOOTH_1X)
                .args([
                    "daemon",
                    "-S",
                    "-D",
                    "-s",
                    ip,
                    "-c",
                    s(&cfg),
                    "-l",
                    s(&lock),
                ])
                .env_clear()
                .env("PATH", format!("{}:/usr/sbin:/usr/bin:/bin", bin.display()))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }
    let logs = || {
        ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .iter()
            .map(|ip| {
                let t = fs::read_to_string(dir.join(format!("booth-{ip}.log"))).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(15).collect();
                format!(
                    "--- {ip}:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let c = s(&cfg);
    let booth = |args: &[&str]| run(&dir, "booth", args);

    // All three answer, and the startup handshake is over.
    let t0 = Instant::now();
    loop {
        let ok = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .iter()
            .all(|ip| booth(&["list", "-s", ip, "-c", c]).code == 0);
        if ok {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "booth 1.x did not start:\n{}",
            logs()
        );
        thread::sleep(Duration::from_millis(200));
    }
    thread::sleep(Duration::from_secs(2));

    let out = booth(&["list", "-s", "127.0.0.2", "-c", c]);
    out.assert_code(0);
    assert_eq!(
        out.stdout, "ticket: tA, leader: NONE\nticket: tB, leader: NONE\n",
        "{out:#?}"
    );

    let out = booth(&["grant", "-s", "127.0.0.2", "-c", c, "tA"]);
    assert_eq!(out.code, 0, "{out:#?}\n{}", logs());
    out.assert_err("grant succeeded!");

    let out = booth(&["grant", "-s", "127.0.0.3", "-c", c, "tA"]);
    out.assert_code(1);
    out.assert_err("You're granting a granted ticket.");

    let out = booth(&["list", "--json", "-s", "127.0.0.3", "-c", c]);
    out.assert_code(0);
    assert!(
        out.stdout.starts_with(
            "{\"tickets\":[{\"ticket\":\"tA\",\"leader\":\"127.0.0.2\",\"leader_status\":\"granted\""
        ),
        "{out:#?}"
    );

    let out = booth(&["peers", "--json", "-s", "127.0.0.2", "-c", c]);
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("{\"type\":\"site\",\"address\":\"127.0.0.3\""),
        "{out:#?}"
    );
    assert!(
        out.stdout
            .contains("{\"type\":\"arbitrator\",\"address\":\"127.0.0.4\""),
        "{out:#?}"
    );
    assert!(out.stdout.ends_with("\"unparsed\":[]}\n"), "{out:#?}");

    // Revoke at the non-holder: booth redirects us to the holder.
    let out = booth(&["revoke", "-D", "-s", "127.0.0.3", "-c", c, "tA"]);
    assert_eq!(out.code, 0, "{out:#?}\n{}", logs());
    out.assert_err("asking the leader 127.0.0.2");
    out.assert_err("revoke succeeded!");
    let out = booth(&["revoke", "-s", "127.0.0.3", "-c", c, "tA"]);
    out.assert_code(0);
    out.assert_err("ticket is not owned");

    let out = booth(&["grant", "-C", "-s", "127.0.0.3", "-c", c, "tB"]);
    assert_eq!(out.code, 0, "{out:#?}\n{}", logs());
    out.assert_err("grant succeeded!");
    let out = booth(&["grant", "-s", "127.0.0.2", "-c", c, "tX"]);
    out.assert_code(1);
    out.assert_err("ticket \"tX\" does not exist");

    let geo = |args: &[&str]| run(&dir, "geostore", args);
    let out = geo(&[
        "set",
        "-s",
        "127.0.0.2",
        "-t",
        "tA",
        "-c",
        c,
        "color",
        "blue",
    ]);
    out.assert_code(0);
    out.assert_err("set succeeded!");
    let out = geo(&["get", "-s", "127.0.0.2", "-t", "tA", "-c", c, "color"]);
    out.assert_code(0);
    assert_eq!(out.stdout, "blue\n");
    let out = geo(&["list", "-s", "127.0.0.2", "-t", "tA", "-c", c]);
    out.assert_code(0);
    assert!(out.stdout.starts_with("color blue "), "{out:#?}");
    let out = geo(&["delete", "-s", "127.0.0.2", "-t", "tA", "-c", c, "color"]);
    out.assert_code(0);
    let out = geo(&["get", "-s", "127.0.0.2", "-t", "tA", "-c", c, "color"]);
    out.assert_code(1);
    out.assert_err("attribute \"color\" not set");

    // A client without the key, and one with another key.
    let nokey = dir.join("nokey.conf");
    fs::write(
        &nokey,
        text.replace(&format!("authfile = {}\n", kf.display()), ""),
    )
    .unwrap();
    let out = booth(&["list", "-s", "127.0.0.2", "-c", s(&nokey)]);
    out.assert_code(1);
    out.assert_err("ERROR: authentication error");
    let kf2 = dir.join("otherkey");
    fs::write(&kf2, b"another-key-of-16").unwrap();
    fs::set_permissions(&kf2, fs::Permissions::from_mode(0o600)).unwrap();
    let other = dir.join("otherkey.conf");
    fs::write(&other, text.replace(s(&kf), s(&kf2))).unwrap();
    let out = booth(&["grant", "-s", "127.0.0.2", "-c", s(&other), "tA"]);
    out.assert_code(1);
    out.assert_err("authentication error (the daemon at 127.0.0.2");
}

/// A FIFO named as the configuration or the key file is refused at once; it
/// used to hang the client (and the daemon) in open(2) until a writer came.
#[test]
fn a_fifo_as_config_or_key_file_is_an_error_not_a_hang() {
    let dir = scratch();
    let fifo = dir.join("fifo.conf");
    assert!(Proc::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = run(&dir, "booth", &["list", "-c", s(&fifo)]);
    out.assert_code(1);
    out.assert_err("not a regular file");
    assert!(out.took < Duration::from_secs(5), "{out:#?}");

    let cfg = config(&dir, dead_port("127.0.0.2"), THREE, &["t"], true);
    let text = fs::read_to_string(&cfg).unwrap();
    fs::remove_file(dir.join("authkey")).unwrap();
    assert!(Proc::new("mkfifo")
        .arg(dir.join("authkey"))
        .status()
        .unwrap()
        .success());
    fs::write(&cfg, text).unwrap();
    let out = run(&dir, "booth", &["list", "-c", s(&cfg)]);
    out.assert_code(1);
    out.assert_err("not a regular file");
    assert!(out.took < Duration::from_secs(5), "{out:#?}");
}
