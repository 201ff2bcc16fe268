//! `--json`: booth's text formats (booth-protocol.md §6.3) parsed into JSON,
//! so the option works against booth 1.x daemons as well as ours. Lines we
//! cannot read are kept verbatim under `"unparsed"`, never dropped.
//!
//! `booth list --json`:
//! ```json
//! {"tickets":[{"ticket":"tA","leader":"192.0.2.1","leader_status":"granted",
//!   "expires":"2026-11-25 08:03:08","expires_epoch":1795590188,
//!   "commit_pending_until":null,"commit_pending_until_epoch":null,"manual":false}],
//!  "warnings":[],"unparsed":[]}
//! ```
//! `leader_status` is `unknown` (booth prints `NONE`: no leader seen since
//! the daemon started), `none` (explicitly nobody, e.g. after a revoke) or
//! `granted`. `expires` is `"INF"` for manual tickets. Epochs are computed
//! from booth's local-time text on this host.
//!
//! A booth-rs daemon also answers with its lease details (asked for with
//! [`OPT_LIST_DETAILS`](crate::daemon::listing::OPT_LIST_DETAILS); booth
//! 1.x daemons ignore the bit), added to each ticket as `"lease"`:
//! ```json
//! "lease":{"granted_here":true,"deadline_in_ms":8874,"deadline_epoch_ms":1795590187912,
//!   "margin_ms":2096,"foreign_grant_in_ms":10970,"guard":"pid:1234"}
//! ```
//! `deadline_*`: this site's own deadline while the ticket is granted here
//! (the lease guard revokes it in the CIB then unless renewed);
//! `margin_ms`: how much earlier that deadline is than the earliest instant
//! any other site may be granted; `foreign_grant_in_ms`: that instant
//! (`null` when not granted here). `guard`: the lease guard process
//! (`pid:N`), `down`, or `none` on arbitrators.
//!
//! `booth peers --json`:
//! ```json
//! {"peers":[{"type":"site","address":"192.0.2.2","last_recv":"2026-11-25 08:12:34",
//!   "last_recv_epoch":1795590754,"sent":{"pkts":4,"error":0,"resends":0},
//!   "recv":{"pkts":4,"error":0,"authfail":0,"invalid":0}}],"unparsed":[]}
//! ```
//! `booth status --json`: the daemon's `key=value` line as an object, plus
//! `"running"` and `"exit_code"`.

use std::fmt::{self, Write};

use super::clock::parse_table;

/// A JSON value; objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

impl Value {
    fn str(s: &str) -> Value {
        Value::Str(s.to_owned())
    }

    fn opt_str(s: Option<&str>) -> Value {
        s.map_or(Value::Null, Value::str)
    }

    fn opt_int(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::Int)
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Obj(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Field of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

fn escape(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => escape(s, f),
            Value::Arr(items) => {
                f.write_char('[')?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    v.fmt(f)?;
                }
                f.write_char(']')
            }
            Value::Obj(pairs) => {
                f.write_char('{')?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    escape(k, f)?;
                    f.write_char(':')?;
                    v.fmt(f)?;
                }
                f.write_char('}')
            }
        }
    }
}

const MANUAL_SUFFIX: &str = " [manual mode]";
const PENDING_START: &str = " (commit pending until ";

/// One `ticket: …` line of `booth list`.
fn ticket_line(line: &str) -> Option<Value> {
    let rest = line.strip_prefix("ticket: ")?;
    let (name, mut s) = rest.split_once(", leader: ")?;
    let manual = match s.strip_suffix(MANUAL_SUFFIX) {
        Some(t) => {
            s = t;
            true
        }
        None => false,
    };
    let mut pending = None;
    if let Some(i) = s.find(PENDING_START) {
        let tail = s[i + PENDING_START.len()..].strip_suffix(')')?;
        pending = Some(tail);
        s = &s[..i];
    }
    let (leader, expires) = match s.split_once(", expires: ") {
        Some((l, e)) => (l, Some(e)),
        None => (s, None),
    };
    if leader.is_empty() || leader.contains(' ') {
        return None;
    }
    let (leader_value, status) = match leader {
        "NONE" => (Value::Null, "unknown"),
        "none" => (Value::Null, "none"),
        addr => (Value::str(addr), "granted"),
    };
    Some(Value::obj(vec![
        ("ticket", Value::str(name)),
        ("leader", leader_value),
        ("leader_status", Value::str(status)),
        ("expires", Value::opt_str(expires)),
        (
            "expires_epoch",
            Value::opt_int(expires.and_then(parse_table)),
        ),
        ("commit_pending_until", Value::opt_str(pending)),
        (
            "commit_pending_until_epoch",
            Value::opt_int(pending.and_then(parse_table)),
        ),
        ("manual", Value::Bool(manual)),
    ]))
}

/// `WARNING: The ticket <t> is granted to multiple sites: <a>, <b>. Revoke …`
fn warning_line(line: &str) -> Option<Value> {
    let rest = line.strip_prefix("WARNING: The ticket ")?;
    let (ticket, rest) = rest.split_once(" is granted to multiple sites: ")?;
    let (sites, _) = rest.split_once(". Revoke the ticket")?;
    Some(Value::obj(vec![
        ("ticket", Value::str(ticket)),
        (
            "sites",
            Value::Arr(sites.split(", ").map(Value::str).collect()),
        ),
        ("message", Value::str(line)),
    ]))
}

/// `booth-rs: ticket=T granted_here=1 deadline_in_ms=…`: the ticket and
/// its `"lease"` object.
fn detail_line(line: &str) -> Option<(String, Value)> {
    let rest = line.strip_prefix(crate::daemon::listing::DETAIL_PREFIX)?;
    let mut ticket = None;
    let mut fields = Vec::new();
    for word in rest.split_whitespace() {
        let (k, v) = word.split_once('=')?;
        match k {
            "ticket" => ticket = Some(v.to_owned()),
            "granted_here" => fields.push((k.to_owned(), Value::Bool(v == "1"))),
            "guard" => fields.push((k.to_owned(), Value::str(v))),
            _ => fields.push((
                k.to_owned(),
                v.parse::<i64>().map_or(Value::Null, Value::Int),
            )),
        }
    }
    Some((ticket?, Value::Obj(fields)))
}

/// `booth list` text as JSON.
pub fn list(text: &str) -> Value {
    let mut tickets = Vec::new();
    let mut warnings = Vec::new();
    let mut unparsed = Vec::new();
    let mut details = Vec::new();
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(d) = detail_line(line) {
            details.push(d);
        } else if let Some(t) = ticket_line(line) {
            tickets.push(t);
        } else if let Some(w) = warning_line(line) {
            warnings.push(w);
        } else {
            unparsed.push(Value::str(line));
        }
    }
    for (name, lease) in details {
        let found = tickets
            .iter_mut()
            .find(|t| matches!(t.get("ticket"), Some(Value::Str(n)) if *n == name));
        if let Some(Value::Obj(pairs)) = found {
            pairs.push(("lease".to_owned(), lease));
        }
    }
    Value::obj(vec![
        ("tickets", Value::Arr(tickets)),
        ("warnings", Value::Arr(warnings)),
        ("unparsed", Value::Arr(unparsed)),
    ])
}

/// `Sent pkts:4 error:0 resends:0` → ("sent", {"pkts":4,…}).
fn counter_line(line: &str) -> Option<(String, Value)> {
    let mut words = line.split_whitespace();
    let group = words.next()?.to_ascii_lowercase();
    let mut pairs = Vec::new();
    for w in words {
        let (k, v) = w.split_once(':')?;
        let v = v.parse::<i64>().map_or_else(|_| Value::str(v), Value::Int);
        pairs.push((k.to_owned(), v));
    }
    if pairs.is_empty() {
        return None;
    }
    Some((group, Value::Obj(pairs)))
}

/// `site         192.0.2.2, last recv: 2026-11-25 08:12:34`.
fn peer_head(line: &str) -> Option<Vec<(String, Value)>> {
    let kind = line.split_whitespace().next()?;
    let rest = line[kind.len()..].trim_start();
    let (addr, last) = match rest.split_once(", last recv: ") {
        Some((a, l)) => (a, Some(l.trim())),
        None => (rest.trim_end_matches(','), None),
    };
    if addr.is_empty() || addr.contains(' ') {
        return None;
    }
    Some(vec![
        ("type".to_owned(), Value::str(kind)),
        ("address".to_owned(), Value::str(addr)),
        ("last_recv".to_owned(), Value::opt_str(last)),
        (
            "last_recv_epoch".to_owned(),
            Value::opt_int(last.and_then(parse_table)),
        ),
    ])
}

/// `booth peers` text as JSON.
pub fn peers(text: &str) -> Value {
    let mut peers = Vec::new();
    let mut unparsed = Vec::new();
    let mut current: Option<Vec<(String, Value)>> = None;
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(char::is_whitespace);
        if indented {
            match (current.as_mut(), counter_line(line)) {
                (Some(p), Some(kv)) => p.push(kv),
                _ => unparsed.push(Value::str(line)),
            }
            continue;
        }
        if let Some(p) = current.take() {
            peers.push(Value::Obj(p));
        }
        match peer_head(line) {
            Some(p) => current = Some(p),
            None => unparsed.push(Value::str(line)),
        }
    }
    if let Some(p) = current {
        peers.push(Value::Obj(p));
    }
    Value::obj(vec![
        ("peers", Value::Arr(peers)),
        ("unparsed", Value::Arr(unparsed)),
    ])
}

/// `booth status` output (`booth_lockpid=1 booth_lockfile='/x' …`) and the
/// exit code as JSON. Values that are decimal numbers become numbers.
pub fn status(text: &str, exit_code: i32) -> Value {
    let mut fields = vec![
        ("running".to_owned(), Value::Bool(exit_code == 0)),
        ("exit_code".to_owned(), Value::Int(i64::from(exit_code))),
    ];
    let mut unparsed = Vec::new();
    for line in text.lines() {
        let mut rest = line.trim();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once('=') else {
                unparsed.push(Value::str(rest));
                break;
            };
            let key = key.trim();
            let (value, tail) = if let Some(q) = after.strip_prefix('\'') {
                match q.split_once('\'') {
                    Some((v, t)) => (Value::str(v), t),
                    None => (Value::str(q), ""),
                }
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                let raw = &after[..end];
                let v = match raw.parse::<i64>() {
                    Ok(n) if !raw.starts_with('+') => Value::Int(n),
                    _ => Value::str(raw),
                };
                (v, &after[end..])
            };
            let key = key.strip_prefix("booth_").unwrap_or(key);
            fields.push((key.to_owned(), value));
            rest = tail.trim_start();
        }
    }
    fields.push(("unparsed".to_owned(), Value::Arr(unparsed)));
    Value::Obj(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::clock::format_table;

    #[test]
    fn writer_escapes() {
        let v = Value::obj(vec![
            ("a", Value::str("q\"b\\\n\u{1}é")),
            (
                "n",
                Value::Arr(vec![Value::Int(-3), Value::Null, Value::Bool(true)]),
            ),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{"a":"q\"b\\\n\u0001é","n":[-3,null,true]}"#
        );
    }

    #[test]
    fn list_with_booth_rs_lease_details() {
        let t = format_table(1_795_590_188).unwrap();
        let text = format!(
            "ticket: tA, leader: 127.0.0.21, expires: {t}\n\
             ticket: tB, leader: NONE\n\
             booth-rs: ticket=tA granted_here=1 deadline_in_ms=8874 \
             deadline_epoch_ms=1795590187912 margin_ms=2096 foreign_grant_in_ms=10970 guard=pid:77\n\
             booth-rs: ticket=tB granted_here=0 deadline_in_ms=- deadline_epoch_ms=- \
             margin_ms=100 foreign_grant_in_ms=- guard=down\n"
        );
        let v = list(&text);
        let s = v.to_string();
        assert!(
            s.contains(
                "\"manual\":false,\"lease\":{\"granted_here\":true,\"deadline_in_ms\":8874,\
                 \"deadline_epoch_ms\":1795590187912,\"margin_ms\":2096,\
                 \"foreign_grant_in_ms\":10970,\"guard\":\"pid:77\"}}"
            ),
            "{s}"
        );
        let Some(Value::Arr(ts)) = v.get("tickets") else {
            panic!("{s}")
        };
        let b = ts[1].get("lease").unwrap();
        assert_eq!(b.get("granted_here"), Some(&Value::Bool(false)));
        assert_eq!(b.get("deadline_in_ms"), Some(&Value::Null));
        assert_eq!(b.get("guard"), Some(&Value::str("down")));
        assert_eq!(v.get("unparsed"), Some(&Value::Arr(vec![])));
    }

    #[test]
    fn list_every_leader_form() {
        let t = format_table(1_795_590_188).unwrap();
        let p = format_table(1_795_590_288).unwrap();
        let text = format!(
            "ticket: tA, leader: NONE\n\
             ticket: tB, leader: none\n\
             ticket: tC, leader: 127.0.0.21, expires: {t}\n\
             ticket: tD, leader: 127.0.0.22, expires: {t} (commit pending until {p})\n\
             ticket: tM, leader: 127.0.0.23, expires: INF [manual mode]\n\
             ticket: tN, leader: none [manual mode]\n\
             \n\
             WARNING: The ticket tM is granted to multiple sites: 127.0.0.23, 127.0.0.21. \
             Revoke the ticket from the faulty sites.\n\
             something else\n"
        );
        let v = list(&text);
        let s = v.to_string();
        let Some(Value::Arr(ts)) = v.get("tickets") else {
            panic!("{s}")
        };
        assert_eq!(ts.len(), 6, "{s}");
        assert_eq!(ts[0].get("leader"), Some(&Value::Null));
        assert_eq!(ts[0].get("leader_status"), Some(&Value::str("unknown")));
        assert_eq!(ts[1].get("leader_status"), Some(&Value::str("none")));
        assert_eq!(ts[2].get("leader"), Some(&Value::str("127.0.0.21")));
        assert_eq!(ts[2].get("expires"), Some(&Value::str(&t)));
        assert_eq!(ts[2].get("expires_epoch"), Some(&Value::Int(1_795_590_188)));
        assert_eq!(ts[2].get("manual"), Some(&Value::Bool(false)));
        assert_eq!(ts[3].get("commit_pending_until"), Some(&Value::str(&p)));
        assert_eq!(
            ts[3].get("commit_pending_until_epoch"),
            Some(&Value::Int(1_795_590_288))
        );
        assert_eq!(ts[3].get("expires"), Some(&Value::str(&t)));
        assert_eq!(ts[4].get("expires"), Some(&Value::str("INF")));
        assert_eq!(ts[4].get("expires_epoch"), Some(&Value::Null));
        assert_eq!(ts[4].get("manual"), Some(&Value::Bool(true)));
        assert_eq!(ts[5].get("leader_status"), Some(&Value::str("none")));
        assert_eq!(ts[5].get("manual"), Some(&Value::Bool(true)));
        let Some(Value::Arr(ws)) = v.get("warnings") else {
            panic!()
        };
        assert_eq!(
            ws[0].get("sites"),
            Some(&Value::Arr(vec![
                Value::str("127.0.0.23"),
                Value::str("127.0.0.21")
            ]))
        );
        assert_eq!(
            v.get("unparsed"),
            Some(&Value::Arr(vec![Value::str("something else")]))
        );
    }

    #[test]
    fn peers_blocks() {
        let t = format_table(1_795_590_754).unwrap();
        let text = format!(
            "site         127.0.0.3, last recv: {t}\n\
             \tSent pkts:4 error:0 resends:0\n\
             \tRecv pkts:4 error:0 authfail:0 invalid:0\n\
             \n\
             arbitrator   127.0.0.4, last recv: never\n\
             \tSent pkts:1 error:2 resends:3\n\
             \tRecv pkts:0 error:0 authfail:5 invalid:6\n\
             \n"
        );
        let v = peers(&text);
        let s = v.to_string();
        let Some(Value::Arr(ps)) = v.get("peers") else {
            panic!("{s}")
        };
        assert_eq!(ps.len(), 2, "{s}");
        assert_eq!(ps[0].get("type"), Some(&Value::str("site")));
        assert_eq!(ps[0].get("address"), Some(&Value::str("127.0.0.3")));
        assert_eq!(
            ps[0].get("last_recv_epoch"),
            Some(&Value::Int(1_795_590_754))
        );
        assert_eq!(
            ps[0].get("sent").and_then(|s| s.get("resends")),
            Some(&Value::Int(0))
        );
        assert_eq!(ps[1].get("type"), Some(&Value::str("arbitrator")));
        assert_eq!(ps[1].get("last_recv"), Some(&Value::str("never")));
        assert_eq!(ps[1].get("last_recv_epoch"), Some(&Value::Null));
        assert_eq!(
            ps[1].get("recv").and_then(|s| s.get("authfail")),
            Some(&Value::Int(5))
        );
        assert_eq!(v.get("unparsed"), Some(&Value::Arr(vec![])));
    }

    #[test]
    fn status_line() {
        let v = status(
            "booth_lockpid=12 booth_lockfile='/var/run/booth/booth.pid' booth_pid=12 \
             booth_state=started booth_type=site booth_cfg_name='booth' booth_id=2081820410 \
             booth_addr_string='127.0.0.2' booth_port=9929\n",
            0,
        );
        assert_eq!(v.get("running"), Some(&Value::Bool(true)));
        assert_eq!(v.get("lockpid"), Some(&Value::Int(12)));
        assert_eq!(
            v.get("lockfile"),
            Some(&Value::str("/var/run/booth/booth.pid"))
        );
        assert_eq!(v.get("state"), Some(&Value::str("started")));
        assert_eq!(v.get("id"), Some(&Value::Int(2_081_820_410)));
        assert_eq!(v.get("port"), Some(&Value::Int(9929)));
        let v = status("", 7);
        assert_eq!(v.get("running"), Some(&Value::Bool(false)));
        assert_eq!(v.get("exit_code"), Some(&Value::Int(7)));
    }
}
