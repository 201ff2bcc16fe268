//! The configuration loader: booth's grammar, booth's example, the defects of
//! booth's parser we refuse, the key file and the timing checks.

use std::fs;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use booth_core::config::{Mode, Role, WireTimeUnit};
use booth_core::{Duration, SiteId};
use booth_linux::config::{
    load, parse, resolve_config_arg, AttrPrereq, ConfigError, Loaded, PrereqKind, PrereqOp,
    Transport, MAX_TICKETS,
};

const MEMBERS: &str = "site = 127.0.0.2\nsite = 127.0.0.3\narbitrator = 127.0.0.4\n";
const FAST: &str = "    expire = 10\n    timeout = 1\n    retries = 3\n    acquire-after = 0\n";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(name)
}

fn ok(text: &str) -> Loaded {
    match parse(text, "booth.conf") {
        Ok(l) => l,
        Err(e) => panic!("expected a valid configuration, got:\n{e}\n--- text:\n{text}"),
    }
}

fn err(text: &str) -> String {
    match parse(text, "booth.conf") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that the error text names `booth.conf:<line>:` and contains every needle.
fn assert_err(text: &str, line: usize, needles: &[&str]) -> String {
    let e = err(text);
    let at = format!("booth.conf:{line}:");
    assert!(e.contains(&at), "error should name {at}\n{e}");
    for n in needles {
        assert!(e.contains(n), "error should contain {n:?}\n{e}");
    }
    e
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.warnings.iter().map(|w| w.to_string()).collect()
}

fn has_warning(l: &Loaded, needle: &str) -> bool {
    l.warnings.iter().any(|w| w.to_string().contains(needle))
}

/// A fresh directory for files of one test.
fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "booth-rs-config-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn key_file(contents: &[u8], mode: u32) -> PathBuf {
    let path = scratch_dir().join("authkey");
    fs::write(&path, contents).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn with_key(path: &Path) -> String {
    format!(
        "authfile = {}\n{MEMBERS}ticket = \"A\"\n{FAST}",
        path.display()
    )
}

// --- booth's example and the basics -------------------------------------------------

#[test]
fn booths_example_parses() {
    let l = load(&fixture("booth-example.conf")).unwrap();
    assert_eq!(l.name, "booth-example");
    assert_eq!(l.port, 9929);
    assert_eq!(l.transport, Transport::Udp);
    assert_eq!(l.core.wire_unit, WireTimeUnit::Seconds);
    assert_eq!(l.core.key, None);
    assert_eq!(l.core.max_time_skew, Duration::from_secs(600));
    let ids: Vec<(u32, Role)> = l.core.members.iter().map(|m| (m.id.0, m.role)).collect();
    assert_eq!(
        ids,
        [
            (0x7C16_0EFA, Role::Site),
            (0x0B11_3E6C, Role::Site),
            (0x1575_ABCF, Role::Arbitrator)
        ]
    );
    let addrs: Vec<SocketAddr> = l.members.iter().map(|m| m.addr).collect();
    assert_eq!(
        addrs,
        [
            "127.0.0.2:9929".parse().unwrap(),
            "127.0.0.3:9929".parse().unwrap(),
            "127.0.0.4:9929".parse().unwrap()
        ]
    );
    assert_eq!(l.members[2].text, "127.0.0.4");
    assert_eq!(l.members[2].line, 5);

    assert_eq!(l.core.tickets.len(), 2);
    let a = &l.core.tickets[0];
    assert_eq!(a.name.as_str(), "ticketA");
    assert_eq!(a.expire, Duration::from_secs(10));
    assert_eq!(a.timeout, Duration::from_secs(1));
    assert_eq!(a.retries, 3);
    assert_eq!(a.renewal_freq, Duration::from_secs(5));
    let b = &l.core.tickets[1];
    assert_eq!(b.name.as_str(), "ticketB");
    assert_eq!(b.mode, Mode::Automatic);
    assert_eq!(b.expire, Duration::from_secs(600));
    assert_eq!(b.timeout, Duration::from_secs(5));
    assert_eq!(b.retries, 10);
    assert_eq!(b.renewal_freq, Duration::from_secs(300));
    assert_eq!(b.acquire_after, Duration::ZERO);
    assert!(!b.has_handler);
    assert_eq!(b.max_drift_ppm, 1000);
    assert_eq!(b.safety_margin, Duration::from_millis(100));
    assert_eq!(l.tickets[1].line, 10);
    // booth's behaviour: the handler is never killed unless handler-timeout is set.
    assert_eq!(l.tickets[1].handler_timeout, None);
    assert_eq!(l.tickets[1].stop_time, Duration::ZERO);

    // booth's default acquire-after of 0 is kept, with a warning per ticket.
    let w = warnings(&l);
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(w[0].contains("booth-example.conf:6: ticket \"ticketA\": acquire-after is not set"));
    assert!(w[1].contains("booth-example.conf:10: ticket \"ticketB\""));
    assert_eq!(l.user_and_group(Role::Site), ("hacluster", "haclient"));
    assert_eq!(l.user_and_group(Role::Arbitrator), ("nobody", "nobody"));
    assert_eq!(l.debug, 0);
    assert_eq!(l.member_by_ip("127.0.0.3".parse().unwrap()), Some(1));
    assert_eq!(l.member_by_ip("127.0.0.9".parse().unwrap()), None);
    assert_eq!(l.core.validate(), Ok(()));
}

#[test]
fn every_key_in_one_file() {
    let l = load(&fixture("full.conf")).unwrap();
    assert!(l.warnings.is_empty(), "{:#?}", warnings(&l));
    assert_eq!(l.name, "geo-dc");
    assert_eq!(l.port, 9930);
    assert_eq!(l.debug, 2);
    assert_eq!(l.core.max_time_skew, Duration::from_secs(120));
    assert_eq!(l.user_and_group(Role::Site), ("booth", "booth"));
    assert_eq!(
        l.user_and_group(Role::Arbitrator),
        ("booth-arb", "booth-arb")
    );
    // safety-margin = 250ms is ours: it does not switch booth's wire unit.
    assert_eq!(l.core.wire_unit, WireTimeUnit::Seconds);

    assert_eq!(l.core.members[0].id, SiteId(0x5085_F484));
    // v4-mapped IPv6 is hashed over 16 bytes, as booth does.
    assert_eq!(l.core.members[1].id, SiteId(0x18F7_5F4E));
    let v6: Ipv6Addr = "2001:db8::7".parse().unwrap();
    assert_eq!(l.core.members[2].id, SiteId::from_ipv6(v6.octets()));
    assert_eq!(l.core.members[2].role, Role::Arbitrator);
    assert_eq!(l.members[2].addr, SocketAddr::new(IpAddr::V6(v6), 9930));

    let db = &l.core.tickets[0];
    assert_eq!(db.name.as_str(), "db/primary");
    assert_eq!(db.expire, Duration::from_secs(60)); // from __defaults__
    assert_eq!(db.timeout, Duration::from_secs(2));
    assert_eq!(db.retries, 5);
    assert_eq!(db.renewal_freq, Duration::from_secs(30));
    assert_eq!(db.acquire_after, Duration::from_secs(30));
    assert_eq!(db.max_drift_ppm, 500);
    assert_eq!(db.safety_margin, Duration::from_millis(250));
    assert!(db.has_handler);
    let info = &l.tickets[0];
    assert_eq!(
        info.handler.as_deref(),
        Some(
            &[
                "/usr/share/booth/service-runnable".to_owned(),
                "db-primary".to_owned()
            ][..]
        )
    );
    assert_eq!(info.handler_timeout, Some(Duration::from_secs(10)));
    assert_eq!(info.stop_time, Duration::from_secs(20));
    assert_eq!(
        info.attr_prereqs,
        [
            AttrPrereq {
                kind: PrereqKind::Auto,
                attr: "repl-state".into(),
                op: PrereqOp::Eq,
                value: "ACTIVE".into()
            },
            AttrPrereq {
                kind: PrereqKind::Manual,
                attr: "maintenance".into(),
                op: PrereqOp::Ne,
                value: "yes".into()
            }
        ]
    );
    let manual = &l.core.tickets[1];
    assert_eq!(manual.mode, Mode::Manual);
    assert_eq!(manual.expire, Duration::from_secs(600));
    assert!(!manual.has_handler);
}

#[test]
fn grammar_leniencies_booth_also_has() {
    // No final newline, trailing blanks, CRLF, indentation, comments after quotes,
    // single quotes, `#` inside a word, global keys after ticket sections.
    let text = "# comment\r\n\r\n  site=127.0.0.2   \r\nsite = '127.0.0.3'  # dc2\r\n\
                ticket = \"T\"\r\n  expire = 10\t\r\n  timeout = 1\r\n  retries = 3\r\n\
                acquire-after = 0\r\narbitrator = 127.0.0.4\r\nsite-user = ha#cluster";
    let l = ok(text);
    assert_eq!(l.members.len(), 3);
    assert_eq!(l.members[1].text, "127.0.0.3");
    assert_eq!(l.members[2].line, 10);
    assert_eq!(l.site_user, "ha#cluster");
    assert!(l.warnings.is_empty(), "{:#?}", warnings(&l));
}

#[test]
fn renewal_default_does_not_depend_on_key_order() {
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n  timeout = 1\n  retries = 3\n  acquire-after = 0\n  expire = 10\n"
    ));
    assert_eq!(l.core.tickets[0].renewal_freq, Duration::from_secs(5));
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n  renewal-freq = 6\n{FAST}"
    ));
    assert_eq!(l.core.tickets[0].renewal_freq, Duration::from_secs(6));
}

#[test]
fn wire_unit_follows_booth() {
    let ms = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n  expire = 10\n  timeout = 500ms\n  retries = 3\n  acquire-after = 0\n"
    ));
    assert_eq!(ms.core.wire_unit, WireTimeUnit::Millis);
    assert_eq!(ms.core.tickets[0].timeout, Duration::from_millis(500));
    assert!(has_warning(
        &ms,
        "booth.conf:6: timeout = \"500ms\": not a whole number of seconds"
    ));

    let s = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n  expire = 10\n  timeout = 1000ms\n  retries = 3\n  acquire-after = 0\n"
    ));
    assert_eq!(s.core.wire_unit, WireTimeUnit::Seconds);
    assert_eq!(s.core.tickets[0].timeout, Duration::from_secs(1));
    assert!(s.warnings.is_empty());

    // Anywhere in the file counts, including __defaults__ and other tickets.
    let d = ok(&format!(
        "{MEMBERS}ticket = \"__defaults__\"\n  expire = 10500ms\n  timeout = 1\n  retries = 3\n\
         ticket = \"A\"\n  acquire-after = 0\n"
    ));
    assert_eq!(d.core.wire_unit, WireTimeUnit::Millis);
}

#[test]
fn mode_and_weights() {
    let l = ok(
        "site = 127.0.0.2\nsite = 127.0.0.3\nticket = \"M\"\n  mode = MaNuAl\n  weights = 1,2 3\n",
    );
    assert_eq!(l.core.tickets[0].mode, Mode::Manual);
    assert_eq!(l.tickets[0].weights.as_deref(), Some(&[1, 2, 3][..]));
    assert!(has_warning(
        &l,
        "booth.conf:5: weights = \"1,2 3\": parsed but unused by booth"
    ));
    // A manual ticket needs no acquire-after warning.
    assert_eq!(l.warnings.len(), 1, "{:#?}", warnings(&l));

    let l = ok(&format!("{MEMBERS}ticket = \"A\"\n{FAST}  mode = auto\n"));
    assert_eq!(l.core.tickets[0].mode, Mode::Automatic);
    assert!(has_warning(&l, "booth.conf:9: mode = \"auto\" is neither"));
}

#[test]
fn acquire_after_warning_only_when_unset() {
    let text = format!("{MEMBERS}ticket = \"A\"\n  expire = 10\n  timeout = 1\n  retries = 3\n");
    let l = ok(&text);
    assert!(has_warning(
        &l,
        "booth.conf:4: ticket \"A\": acquire-after is not set"
    ));
    let l = ok(&(text + "  acquire-after = 0\n"));
    assert!(l.warnings.is_empty(), "{:#?}", warnings(&l));
}

#[test]
fn defaults_section_is_inherited_by_later_tickets_only() {
    let l = ok(&format!(
        "{MEMBERS}ticket = \"early\"\n{FAST}ticket = \"__defaults__\"\n  expire = 20\n  \
         timeout = 2\n  retries = 4\n  mode = manual\nticket = \"late\"\n  acquire-after = 0\n"
    ));
    let early = &l.core.tickets[0];
    assert_eq!(
        (early.expire, early.mode),
        (Duration::from_secs(10), Mode::Automatic)
    );
    let late = &l.core.tickets[1];
    assert_eq!(late.expire, Duration::from_secs(20));
    assert_eq!(late.timeout, Duration::from_secs(2));
    assert_eq!(late.retries, 4);
    assert_eq!(late.mode, Mode::Manual);
    assert_eq!(late.renewal_freq, Duration::from_secs(10));
}

#[test]
fn ipv6_member() {
    let l = ok(&format!(
        "site = 2001:db8::1\nsite = 2001:db8::2\narbitrator = ::1\nticket = \"A\"\n{FAST}"
    ));
    let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
    assert_eq!(l.core.members[0].id, SiteId::from_ipv6(ip.octets()));
    assert_eq!(l.members[0].addr, "[2001:db8::1]:9929".parse().unwrap());
    assert_eq!(l.members[2].addr, "[::1]:9929".parse().unwrap());
    assert_err(
        "site = [2001:db8::1]\n",
        1,
        &["[2001:db8::1]", "without brackets"],
    );
}

#[test]
fn port_and_name() {
    let l = ok(&format!("port = 4000\n{MEMBERS}ticket = \"A\"\n{FAST}"));
    assert!(l.members.iter().all(|m| m.addr.port() == 4000));
    assert_eq!(l.port, 4000);
    let l = parse(
        &format!("{MEMBERS}ticket = \"A\"\n{FAST}"),
        "/etc/booth/dc-east.conf",
    )
    .unwrap();
    assert_eq!(l.name, "dc-east");
    assert_eq!(l.path, Path::new("/etc/booth/dc-east.conf"));
    assert_err("port = 99999\n", 1, &["99999", "1 to 65535"]);
    assert_err("port = 9929x\n", 1, &["9929x"]);
    assert_err("name = a/b\n", 1, &["a/b", "instance name"]);
}

#[test]
fn config_argument_resolution() {
    assert_eq!(resolve_config_arg(None), Path::new("/etc/booth/booth.conf"));
    assert_eq!(
        resolve_config_arg(Some("dc1")),
        Path::new("/etc/booth/dc1.conf")
    );
    assert_eq!(
        resolve_config_arg(Some("dc1.cfg")),
        Path::new("/etc/booth/dc1.cfg")
    );
    assert_eq!(resolve_config_arg(Some("./dc1")), Path::new("./dc1"));
    assert_eq!(
        resolve_config_arg(Some("/srv/x.conf")),
        Path::new("/srv/x.conf")
    );
    assert_eq!(resolve_config_arg(Some("/srv/x")), Path::new("/srv/x"));
}

#[test]
fn max_tickets_is_enforced() {
    let mut text = MEMBERS.to_owned();
    for i in 0..=MAX_TICKETS {
        text += &format!("ticket = \"t{i}\"\n{FAST}");
    }
    let line = 3 + MAX_TICKETS * 5 + 1;
    assert_err(&text, line, &["t64", "at most 64"]);
}

// --- booth's defects we refuse (§10.4) -------------------------------------------------

#[test]
fn port_after_member_is_refused() {
    let e = assert_err(
        &format!("{MEMBERS}port = 9930\n"),
        4,
        &[
            "port = \"9930\"",
            "site = \"127.0.0.2\" on line 1",
            "move the port line",
        ],
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn non_inherited_defaults_keys_are_ignored_as_booth_does_with_a_warning() {
    for (key, value) in [
        ("acquire-after", "60"),
        ("renewal-freq", "100"),
        ("before-acquire-handler", "/bin/true"),
        ("attr-prereq", "auto a eq b"),
    ] {
        let l = ok(&format!(
            "{MEMBERS}ticket = \"__defaults__\"\n  {key} = {value}\n\
             ticket = \"A\"\n  expire = 10\n  timeout = 1\n  retries = 3\n"
        ));
        assert!(
            has_warning(
                &l,
                &format!("booth.conf:5: {key} = \"{value}\" in ticket \"__defaults__\" is IGNORED")
            ),
            "{:#?}",
            warnings(&l)
        );
        let a = &l.core.tickets[0];
        // What ticket A would have had from the key: none of it.
        assert_eq!(a.acquire_after, Duration::ZERO, "{key}");
        assert_eq!(a.renewal_freq, Duration::from_secs(5), "{key}");
        assert!(!a.has_handler, "{key}");
        assert!(l.tickets[0].attr_prereqs.is_empty(), "{key}");
    }
}

#[test]
fn inline_comment_after_unquoted_value_is_refused() {
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  expire = 10 # ten seconds\n"),
        5,
        &[
            "10 # ten seconds",
            "part of the value",
            "quote the value",
            "own line",
        ],
    );
    assert_err(
        "site = 127.0.0.2\t# dc1\n",
        1,
        &["127.0.0.2\\t# dc1", "\"127.0.0.2\" # dc1"],
    );
}

#[test]
fn sctp_and_unknown_transports_are_refused() {
    assert_err(
        &format!("transport = SCTP\n{MEMBERS}"),
        1,
        &["SCTP", "sends nothing", "UDP"],
    );
    assert_err(&format!("transport = tcp\n{MEMBERS}"), 1, &["tcp", "UDP"]);
    assert_err(
        "transport = UDP\ntransport = UDP\n",
        2,
        &["line 1", "only once"],
    );
}

#[test]
fn even_member_counts() {
    let two = "site = 127.0.0.2\nsite = 127.0.0.3\n";
    // booth starts it with a warning; so do we (only failover suffers).
    let l = ok(&format!("{two}ticket = \"A\"\n{FAST}"));
    let w = warnings(&l).join("\n");
    assert!(
        w.contains("booth.conf:2: 2 members") && w.contains("even"),
        "{w}"
    );
    // Two sites with manual tickets only: booth's documented two-site setup.
    ok(&format!("{two}ticket = \"M\"\n  mode = manual\n"));
    // Forced.
    let l = ok(&format!(
        "allow-even-members = yes\n{two}ticket = \"A\"\n{FAST}"
    ));
    assert!(l.allow_even_members);
    assert!(!has_warning(&l, "even number"));
    let l = ok(&format!(
        "{MEMBERS}arbitrator = 127.0.0.5\nticket = \"A\"\n{FAST}"
    ));
    assert!(has_warning(&l, "4 members (2 sites, 2 arbitrators)"));
}

#[test]
fn weights_are_parsed_but_flagged() {
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n{FAST}  weights = 0;1:2-3+4\n"
    ));
    assert_eq!(l.tickets[0].weights.as_deref(), Some(&[0, 1, 2, 3, 4][..]));
    assert!(has_warning(&l, "parsed but unused by booth"));
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n{FAST}  weights = 1 x\n"),
        9,
        &["\"1 x\"", "\"x\""],
    );
}

#[test]
fn long_values() {
    // booth's 64-character limit is lifted for handler command lines and paths...
    let handler = format!("/usr/lib/booth/handlers/{} --flag", "x".repeat(80));
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n{FAST}  before-acquire-handler = {handler}\n"
    ));
    assert_eq!(l.tickets[0].handler.as_ref().unwrap().len(), 2);
    assert!(l.warnings.is_empty(), "{:#?}", warnings(&l));
    // ...but kept for the rest, and for names (63).
    let user = "u".repeat(65);
    assert_err(&format!("site-user = {user}\n"), 1, &[&user, "at most 64"]);
    let name = "n".repeat(64);
    assert_err(
        &format!("{MEMBERS}ticket = \"{name}\"\n"),
        4,
        &[&name, "at most 63"],
    );
    assert_err(&format!("name = {name}\n"), 1, &[&name]);
    let words = vec!["a"; 17].join(" ");
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  before-acquire-handler = /bin/h {words}\n"),
        5,
        &["18 words", "at most 16"],
    );
    let long_line = format!("# {}", "c".repeat(1100));
    assert_err(
        &format!("{MEMBERS}{long_line}\n"),
        4,
        &["1102 characters", "1023"],
    );
}

// --- grammar and value errors -----------------------------------------------------------

#[test]
fn time_values() {
    let e = assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  timeout = 1\n  retries = 3\n  expire = \"10x\"\n"),
        7,
        &["expire = \"10x\": a time is an integer number of seconds or an integer followed by \"ms\" (e.g. 10 or 500ms)"],
    );
    assert_eq!(e, "booth.conf:7: expire = \"10x\": a time is an integer number of seconds or an integer followed by \"ms\" (e.g. 10 or 500ms)");
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  expire = 1.5\n"),
        5,
        &["1.5", "1500ms"],
    );
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  timeout = 0\n"),
        5,
        &["\"0\"", "greater than 0"],
    );
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  acquire-after = -5\n"),
        5,
        &["-5", "negative"],
    );
}

#[test]
fn retries_range() {
    for bad in ["2", "101", "ten"] {
        assert_err(
            &format!("{MEMBERS}ticket = \"A\"\n  retries = {bad}\n"),
            5,
            &[&format!("retries = \"{bad}\""), "3 to 100"],
        );
    }
}

#[test]
fn malformed_lines() {
    assert_err("site = \"127.0.0.2\n", 1, &["\"127.0.0.2", "never closed"]);
    assert_err("site =   \n", 1, &["site = \"\"", "empty value"]);
    assert_err(
        "site = \"127.0.0.2\" x\n",
        1,
        &["\"x\"", "after the quoted value"],
    );
    assert_err("site 127.0.0.2\n", 1, &["\"=\"", "site"]);
    assert_err("# ok\n!site = x\n", 2, &["!site"]);
}

#[test]
fn unknown_keys_list_the_valid_ones() {
    assert_err(
        "prot = 9929\n",
        1,
        &[
            "\"prot\"",
            "did you mean port?",
            "transport, port, name, authfile",
            "ticket",
        ],
    );
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  expires = 10\n"),
        5,
        &[
            "\"expires\" in ticket \"A\"",
            "did you mean expire?",
            "ticket keys: expire, timeout",
        ],
    );
    assert_err("expire = 10\n", 1, &["expire = \"10\"", "ticket setting"]);
}

#[test]
fn ticket_names() {
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n{FAST}ticket = \"A\"\n"),
        9,
        &["ticket = \"A\"", "already defined on line 4"],
    );
    assert_err(
        &format!("{MEMBERS}ticket = \"a_b\"\n"),
        4,
        &["a_b", "'-' and '/'", "\"_\""],
    );
    assert_err(&format!("{MEMBERS}ticket = \"a b\"\n"), 4, &["a b"]);
    let l = ok(&format!("{MEMBERS}ticket = \"site-a/db-1\"\n{FAST}"));
    assert_eq!(l.tickets[0].name, "site-a/db-1");
}

#[test]
fn member_errors() {
    assert_err(
        "site = 127.0.0.2\narbitrator = 127.0.0.2\n",
        2,
        &[
            "arbitrator = \"127.0.0.2\"",
            "site = \"127.0.0.2\" on line 1",
            "0x7C160EFA",
        ],
    );
    let many: String = (1..=17).map(|i| format!("site = 10.0.0.{i}\n")).collect();
    assert_err(&many, 17, &["10.0.0.17", "more than 16"]);
    let e = err("ticket = \"A\"\n  expire = 10\n");
    assert!(e.contains("no site or arbitrator"), "{e}");
    assert_err("arbitrator = 127.0.0.4\n", 1, &["only arbitrators"]);
}

#[test]
fn attr_prereq_errors() {
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  attr-prereq = auto x eq\n"),
        5,
        &["auto x eq", "<auto|manual>"],
    );
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  attr-prereq = always x eq y\n"),
        5,
        &["\"always\""],
    );
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  attr-prereq = auto x lt y\n"),
        5,
        &["\"lt\"", "eq or ne"],
    );
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n{FAST}  attr-prereq = auto x eq y z\n"
    ));
    assert_eq!(l.tickets[0].attr_prereqs[0].value, "y");
    assert!(has_warning(&l, "ignores everything after the fourth word"));
}

#[test]
fn several_errors_are_reported_at_once() {
    let e = err(&format!(
        "{MEMBERS}ticket = \"A\"\n  expire = x\n  retries = 1\n  fo = 1\n"
    ));
    assert_eq!(e.lines().count(), 3, "{e}");
    for l in [5, 6, 7] {
        assert!(e.contains(&format!("booth.conf:{l}:")), "{e}");
    }
    let ConfigError { diagnostics } = parse("expire = x\n", "booth.conf").unwrap_err();
    assert_eq!(diagnostics[0].line, Some(1));
    assert_eq!(diagnostics[0].key.as_deref(), Some("expire"));
}

#[test]
fn duplicate_keys_warn() {
    let l = ok(&format!(
        "debug = 1\ndebug = 3\n{MEMBERS}ticket = \"A\"\n{FAST}  expire = 12\n"
    ));
    assert_eq!(l.debug, 3);
    assert_eq!(l.core.tickets[0].expire, Duration::from_secs(12));
    assert!(has_warning(
        &l,
        "booth.conf:2: debug is already set on line 1"
    ));
    assert!(has_warning(
        &l,
        "booth.conf:11: expire is already set on line 7"
    ));
}

// --- timing relations -------------------------------------------------------------------

#[test]
fn booths_retry_rule_is_met_by_lowering_retries() {
    // booth refuses expire = 20 / timeout = 2 / retries 10 (2 s × 11 ≥ 10 s);
    // resending fewer times only makes the holder give up sooner, so the file
    // starts with retries lowered and a warning naming the ticket's line.
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n  expire = 20\n  timeout = 2\n  acquire-after = 0\n"
    ));
    let t = &l.core.tickets[0];
    assert_eq!(t.retries, 3);
    assert_eq!(t.timeout, Duration::from_secs(2));
    assert_eq!(t.expire, Duration::from_secs(20));
    let w = warnings(&l).join("\n");
    assert!(
        w.contains("booth.conf:4: ticket \"A\": timeout × (retries + 1) = 2 s × 11 = 22 s")
            && w.contains("using retries = 3 instead"),
        "{w}"
    );
}

#[test]
fn booths_retry_rule_is_met_by_lowering_timeout() {
    // expire = 10 with booth's default timeout 5: even 3 retries do not fit,
    // so the resend interval is shortened; the lease is not.
    let l = ok(&format!("{MEMBERS}ticket = \"A\"\n  expire = 10\n"));
    let t = &l.core.tickets[0];
    assert_eq!((t.retries, t.timeout), (3, Duration::from_millis(1249)));
    assert_eq!(t.expire, Duration::from_secs(10));
    assert!(has_warning(
        &l,
        "using retries = 3 and timeout = 1.249 s instead"
    ));
}

#[test]
fn renewal_is_lowered_to_fit_in_the_holders_lease() {
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n{FAST}  renewal-freq = 9\n"
    ));
    // holder lease 8.88 s − timeout 1 s − 1 ms
    assert_eq!(l.core.tickets[0].renewal_freq, Duration::from_millis(7879));
    assert!(has_warning(&l, "renewing every 7.879 s instead"));
    assert!(l.core.validate().is_ok());
}

#[test]
fn lease_must_exceed_the_wire_unit() {
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  expire = 1\n"),
        4,
        &["expire = 1 s (line 5)", "wire unit (1 s)"],
    );
}

#[test]
fn clock_drift_bound() {
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n  max-clock-drift = 100000\n"),
        5,
        &["100000", "below 100000"],
    );
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n{FAST}  max-clock-drift = 20ppm\n"
    ));
    assert_eq!(l.core.tickets[0].max_drift_ppm, 20);
}

#[test]
fn stop_time_needs_enough_acquire_after() {
    let base = format!("{MEMBERS}ticket = \"A\"\n  stop-time = 30\n");
    assert_err(
        &format!("{base}  acquire-after = 10\n"),
        4,
        &[
            "acquire-after = 10 s (line 6)",
            "30 s + 2 × 1000 ppm × 600 s = 31.2 s",
            "acquire-after = 32 or more",
        ],
    );
    // Unset acquire-after with a stop time is an error, not a warning.
    assert_err(&base, 4, &["acquire-after = 0 s (default)"]);
    let l = ok(&format!("{base}  acquire-after = 32\n"));
    assert_eq!(l.tickets[0].stop_time, Duration::from_secs(30));
    assert!(l.warnings.is_empty(), "{:#?}", warnings(&l));
    // A larger drift bound asks for more.
    assert_err(
        &format!("{base}  acquire-after = 32\n  max-clock-drift = 10000\n"),
        4,
        &["= 42 s"],
    );
}

#[test]
fn handler_timeout_below_renewal() {
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n{FAST}  before-acquire-handler = /bin/true\n"
    ));
    assert_eq!(l.tickets[0].handler_timeout, None);
    assert_err(
        &format!("{MEMBERS}ticket = \"A\"\n{FAST}  before-acquire-handler = /bin/true\n  handler-timeout = 5\n"),
        4,
        &["handler-timeout = 5 s (line 10)", "renewal-freq = 5 s (default: expire / 2)"],
    );
    let l = ok(&format!(
        "{MEMBERS}ticket = \"A\"\n{FAST}  handler-timeout = 2\n"
    ));
    assert!(has_warning(&l, "no before-acquire-handler"));
}

// --- the key file -----------------------------------------------------------------------

#[test]
fn key_is_trimmed_like_booth() {
    let path = key_file(b"  \tsecret-key-material \n\n", 0o600);
    let l = ok(&with_key(&path));
    assert_eq!(l.core.key.as_deref(), Some(&b"secret-key-material"[..]));
    assert_eq!(l.authfile.as_deref(), Some(path.as_path()));

    // A binary key is used as is (not trimmed).
    let mut bin = vec![0x80u8, b' ', 1, 2, 3, 4, 5, 6, 7];
    bin.push(b'\n');
    let path = key_file(&bin, 0o400);
    assert_eq!(ok(&with_key(&path)).core.key.as_deref(), Some(&bin[..]));

    // 64 ASCII characters and a newline: booth reads the same 64 bytes.
    let mut k = vec![b'k'; 64];
    k.push(b'\n');
    let path = key_file(&k, 0o600);
    assert_eq!(ok(&with_key(&path)).core.key.as_deref(), Some(&k[..64]));
}

#[test]
fn key_with_leading_zero_byte_is_refused() {
    let mut k = vec![0u8];
    k.extend_from_slice(&[0xA5; 63]);
    let path = key_file(&k, 0o600);
    assert_err(
        &with_key(&path),
        1,
        &[
            &path.display().to_string(),
            "0x00",
            "without authentication",
        ],
    );
}

#[test]
fn readable_key_file_is_refused() {
    for mode in [0o644, 0o640, 0o604] {
        let path = key_file(b"0123456789abcdef", mode);
        assert_err(
            &with_key(&path),
            1,
            &[
                &path.display().to_string(),
                &format!("{mode:04o}"),
                "chmod 600",
            ],
        );
    }
    let path = key_file(b"0123456789abcdef", 0o620);
    let l = ok(&with_key(&path));
    assert!(has_warning(&l, "others may replace the key"));
}

#[test]
fn long_and_short_keys_are_refused() {
    let path = key_file(&[0x5Au8 ^ 0x80; 65], 0o600);
    assert_err(&with_key(&path), 1, &["65 bytes", "first 64 bytes"]);
    let path = key_file(&[b'a'; 100], 0o600);
    assert_err(&with_key(&path), 1, &["100 bytes"]);
    let path = key_file(b"short\n", 0o600);
    assert_err(&with_key(&path), 1, &["5 bytes", "at least 8"]);
    let missing = scratch_dir().join("none");
    assert_err(
        &with_key(&missing),
        1,
        &[&missing.display().to_string(), "cannot open"],
    );
}

#[test]
fn load_reports_file_errors() {
    let dir = scratch_dir();
    let e = load(&dir.join("missing.conf")).unwrap_err().to_string();
    assert!(
        e.contains("missing.conf") && e.contains("cannot read"),
        "{e}"
    );
    let bad = dir.join("latin1.conf");
    fs::write(&bad, b"site = 127.0.0.2\nname = caf\xe9\n").unwrap();
    let e = load(&bad).unwrap_err().to_string();
    assert!(e.contains("latin1.conf:2:") && e.contains("UTF-8"), "{e}");
}

// --- stock configurations: booth's example, what pcs and crmsh write ----------------------
//
// Every one of these starts booth 1.x, so it must load here: unsafe timings
// are adjusted with a warning, never refused (field-tools.md).

/// The example Debian's `booth` package installs, when it is there.
#[test]
fn debians_example_loads() {
    let Some(path) = ["/usr/share/doc/booth/examples/booth.conf.example"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("skipped: Debian's booth package (its example) is not installed");
        return;
    };
    let l = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.members.len(), 3);
    assert_eq!(l.core.tickets.len(), 2);
    // ticketB: expire 600 with booth's default timeout and retries.
    assert_eq!(l.core.tickets[1].expire, Duration::from_secs(600));
    assert_eq!(l.core.tickets[1].retries, 10);
}

/// `pcs booth setup` + `pcs booth ticket add T expire=20 timeout=2`: global
/// `key = value` lines, the ticket's options indented two spaces.
#[test]
fn what_pcs_writes_loads() {
    let key = key_file(&[7u8; 64], 0o600);
    let text = format!(
        "authfile = {}\nsite = 192.0.2.10\nsite = 198.51.100.10\narbitrator = 203.0.113.10\n\
         ticket = \"apacheticket\"\n  expire = 20\n  timeout = 2\n",
        key.display()
    );
    let l = ok(&text);
    let t = &l.core.tickets[0];
    assert_eq!(t.expire, Duration::from_secs(20));
    // booth itself would refuse 2 s × (10 + 1) ≥ 10 s; we lower retries.
    assert_eq!(t.retries, 3);
    assert!(has_warning(&l, "using retries = 3 instead"));
    assert_eq!(
        (l.arbitrator_user.as_str(), l.arbitrator_group.as_str()),
        ("nobody", "nobody")
    );
}

/// `crm cluster geo_init`: every value quoted, nothing indented.
#[test]
fn what_crmsh_writes_loads() {
    let key = key_file(&[b'k'; 64], 0o600);
    let text = format!(
        "transport=\"UDP\"\nport=\"9929\"\narbitrator=\"203.0.113.10\"\nsite=\"192.0.2.10\"\n\
         site=\"198.51.100.10\"\nauthfile=\"{}\"\nticket=\"ticket-A\"\nexpire=\"600\"\n",
        key.display()
    );
    let l = ok(&text);
    assert_eq!(l.core.tickets[0].expire, Duration::from_secs(600));
    assert_eq!(l.core.tickets[0].name.as_str(), "ticket-A");
    assert_eq!(l.port, 9929);
}

/// booth prints a member written as a host name by its address.
#[test]
fn host_names_are_shown_as_addresses() {
    let l = ok("site = localhost\nsite = 127.0.0.3\narbitrator = 127.0.0.4\nticket = \"A\"\n    expire = 10\n    timeout = 1\n    retries = 3\n    acquire-after = 0\n");
    assert_eq!(l.members[0].text, "localhost");
    let shown = l.members[0].shown();
    assert!(shown.parse::<std::net::IpAddr>().is_ok(), "{shown}");
}
