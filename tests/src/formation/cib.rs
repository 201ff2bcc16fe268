//! What each site wrote to its CIB: every `crm_ticket` call is logged (time,
//! exit code, arguments) by a stub that only logs, or by a wrapper around the
//! real `crm_ticket` (live Pacemaker CIB or a `CIB_file`), and parsed here
//! into grant intervals.

/// `crm_ticket` stand-in: logs and succeeds. `-q` (the start-up load)
/// answers as Pacemaker 2.1 does for a ticket the CIB does not know (105);
/// booth 1.0's capability probe (`-g -t any-ticket-name`) is told that the
/// atomic form works (exit 4), so booth 1.0 uses it as it would with Pacemaker.
pub const STUB: &str = r#"#!/bin/sh
# booth-rs test stub for crm_ticket: logs "<epoch> <exit code> <args>", exits 0.
log="${CRM_STUB_LOG:?CRM_STUB_LOG is not set}"
rc=0
case " $* " in
*" -q "*) rc=105 ;;
*" -g -t any-ticket-name "*) rc=4 ;;
esac
printf '%s %s %s\n' "$(date +%s.%N)" "$rc" "$*" >> "$log"
exit $rc
"#;

/// Logging wrapper around the real `crm_ticket`; the time is taken when
/// it returned, i.e. when the CIB holds what it wrote.
pub const WRAPPER: &str = r#"#!/bin/sh
# booth-rs test wrapper: runs the real crm_ticket, then logs "<epoch> <exit code> <args>".
log="${CRM_STUB_LOG:?CRM_STUB_LOG is not set}"
/usr/sbin/crm_ticket "$@"
rc=$?
printf '%s %s %s\n' "$(date +%s.%N)" "$rc" "$*" >> "$log"
exit $rc
"#;

/// One logged `crm_ticket` call.
#[derive(Debug, Clone, PartialEq)]
pub struct CibCall {
    /// Wall-clock time (epoch seconds) the stub was called, or the real
    /// `crm_ticket` returned (its write is in the CIB).
    pub at: f64,
    pub rc: i32,
    pub args: Vec<String>,
}

impl CibCall {
    /// See [`granted`].
    pub fn granted(&self) -> Option<bool> {
        granted(&self.args)
    }

    /// See [`ticket`].
    pub fn ticket(&self) -> Option<&str> {
        ticket(&self.args)
    }

    /// See [`attr`].
    pub fn attr(&self, name: &str) -> Option<&str> {
        attr(&self.args, name)
    }

    pub fn owner(&self) -> Option<i64> {
        self.attr("owner")?.parse().ok()
    }

    pub fn expires(&self) -> Option<u64> {
        self.attr("expires")?.parse().ok()
    }

    pub fn term(&self) -> Option<u64> {
        self.attr("term")?.parse().ok()
    }
}

/// Parses a log written by [`STUB`] or [`WRAPPER`]; lines that do not parse are skipped.
pub fn parse_log(text: &str) -> Vec<CibCall> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split(' ');
            let at = w.next()?.parse().ok()?;
            let rc = w.next()?.parse().ok()?;
            let args = w.filter(|a| !a.is_empty()).map(str::to_owned).collect();
            Some(CibCall { at, rc, args })
        })
        .collect()
}

/// A stretch of time during which a site's CIB said "granted" for a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantInterval {
    /// Time of the first `-g` call.
    pub start: f64,
    /// Time of the `-r` call that ended it; `None` while it lasts (or when
    /// the daemon died without revoking).
    pub end: Option<f64>,
    /// Largest `expires` attribute written during the interval.
    pub last_expires: Option<u64>,
    /// Term of the first `-g`.
    pub term: Option<u64>,
    /// Time of the last `-g` (the last renewal committed).
    pub last_renewal: f64,
}

/// The grant intervals of `ticket` in a site's calls, oldest first.
pub fn grant_intervals(calls: &[CibCall], ticket: &str) -> Vec<GrantInterval> {
    let mut out: Vec<GrantInterval> = Vec::new();
    let mut open = false;
    for c in calls.iter().filter(|c| c.ticket() == Some(ticket)) {
        match c.granted() {
            Some(true) => {
                if open {
                    let cur = out.last_mut().expect("open interval");
                    cur.last_expires = cur.last_expires.max(c.expires());
                    cur.last_renewal = c.at;
                } else {
                    out.push(GrantInterval {
                        start: c.at,
                        end: None,
                        last_expires: c.expires(),
                        term: c.term(),
                        last_renewal: c.at,
                    });
                    open = true;
                }
            }
            Some(false) if open => {
                out.last_mut().expect("open interval").end = Some(c.at);
                open = false;
            }
            _ => {}
        }
    }
    out
}

/// The attributes of `<ticket_state .../>` in `crm_ticket -t T -q` output.
pub fn parse_ticket_state(text: &str) -> Option<Vec<(String, String)>> {
    let start = text.find("<ticket_state")?;
    let rest = &text[start + "<ticket_state".len()..];
    let end = rest.find('>')?;
    let mut attrs = Vec::new();
    let mut s = rest[..end].trim_end_matches('/');
    while let Some(eq) = s.find('=') {
        let name = s[..eq].trim().to_owned();
        let after = s[eq + 1..].trim_start();
        let q = after.chars().next()?;
        let body = &after[1..];
        let close = body.find(q)?;
        attrs.push((name, body[..close].to_owned()));
        s = &body[close + 1..];
    }
    Some(attrs)
}

/// What a `crm_ticket` argv commits: `Some(true)` for a grant
/// (`-g --force`), `Some(false)` for "not granted here" (`-r --force`).
pub fn granted(args: &[String]) -> Option<bool> {
    if !args.iter().any(|a| a == "--force") {
        return None;
    }
    if args.iter().any(|a| a == "-g") {
        Some(true)
    } else if args.iter().any(|a| a == "-r") {
        Some(false)
    } else {
        None
    }
}

/// The ticket (`-t T`; booth 1.0 quotes it in the shell, not in argv).
pub fn ticket(args: &[String]) -> Option<&str> {
    let i = args.iter().position(|a| a == "-t")?;
    args.get(i + 1).map(String::as_str)
}

/// The value set for `name`: `-S name --attr-value=V` (booth-rs, booth
/// ≥ 1.1), `-S name -vV` or `-S name -v V` (booth 1.0).
pub fn attr<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.windows(2).position(|w| w[0] == "-S" && w[1] == name)?;
    let next = args.get(i + 2)?;
    if let Some(v) = next.strip_prefix("--attr-value=") {
        return Some(v);
    }
    match next.strip_prefix("-v") {
        Some("") => args.get(i + 3).map(String::as_str),
        Some(v) => Some(v),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_argument_forms_and_intervals() {
        let log = "\
10.5 105 -t tA -q
11.0 0 -t tA -g --force -S owner --attr-value=7 -S expires --attr-value=21 -S term --attr-value=1 -S booth-cfg-name --attr-value=booth
16.0 0 -t tA -g --force -S owner -v7 -S expires -v26 -S term -v1
17.0 0 -t tB -g --force -S owner -v7 -S expires -v26 -S term -v1
18.0 0 -t tA -r --force -S owner -v-1 -S expires -v18 -S term -v1
19.0 0 -t tA -g --force -S owner --attr-value=7 -S expires --attr-value=29 -S term --attr-value=2
20.0 0 -t tA -g --force -S own";
        let calls = parse_log(log);
        assert_eq!(calls.len(), 7);
        assert_eq!(calls[2].owner(), Some(7));
        assert_eq!(calls[4].owner(), Some(-1));
        assert_eq!(calls[0].granted(), None);
        let iv = grant_intervals(&calls, "tA");
        assert_eq!(iv.len(), 2);
        assert_eq!((iv[0].start, iv[0].end), (11.0, Some(18.0)));
        assert_eq!(iv[0].last_expires, Some(26));
        assert_eq!(iv[0].last_renewal, 16.0);
        assert_eq!((iv[1].end, iv[1].term), (None, Some(2)));
        let st = parse_ticket_state(
            "State XML:\n\n  <ticket_state id=\"tA\" granted=\"true\" owner=\"7\"/>\n",
        )
        .unwrap();
        assert_eq!(st[1], ("granted".to_owned(), "true".to_owned()));
    }
}
