//! The `crm_ticket` stand-in each site runs, and what its log says about the
//! site's CIB: when the ticket was granted there.
//!
//! The stub appends `<epoch seconds.nanoseconds> <argv>` to the member's log,
//! keeps the last written ticket state in a file so the start-up query
//! (`crm_ticket -t T -q`) answers like Pacemaker does after a restart, and
//! answers booth 1.0-283's capability probe (`-g -t any-ticket-name`) with
//! exit 1, which selects the atomic command form (booth-protocol.md §5.1).
//! It understands both value forms: booth 1.0's `-v<value>` and our
//! `--attr-value=<value>`.

use std::fmt;
use std::path::Path;

/// The stub's shell script for one member.
pub fn stub_script(log: &Path, state_prefix: &Path) -> String {
    format!(
        r#"#!/bin/sh
# crm_ticket stand-in for booth-rs interop tests (see tests/src/interop/cib.rs).
log='{log}'
st='{st}'
printf '%s %s\n' "$(date +%s.%N)" "$*" >> "$log"
t=; g=; q=; attr=; owner=; expires=; term=
setv() {{
    case "$attr" in owner) owner=$1 ;; expires) expires=$1 ;; term) term=$1 ;; esac
}}
while [ $# -gt 0 ]; do
    case "$1" in
    -t) t=$2; shift ;;
    -g) g=true ;;
    -r) g=false ;;
    -q) q=1 ;;
    -S) attr=$2; shift ;;
    -v) setv "$2"; shift ;;
    -v*) setv "${{1#-v}}" ;;
    --attr-value=*) setv "${{1#--attr-value=}}" ;;
    esac
    shift
done
[ "$t" = any-ticket-name ] && exit 1
if [ -n "$q" ]; then
    [ -f "$st.$t" ] || exit 105
    printf 'State XML:\n\n'
    cat "$st.$t"
    exit 0
fi
if [ -n "$g" ]; then
    printf '<ticket_state id="%s" granted="%s" owner="%s" expires="%s" term="%s"/>\n' \
        "$t" "$g" "$owner" "$expires" "$term" > "$st.$t"
fi
exit 0
"#,
        log = log.display(),
        st = state_prefix.display()
    )
}

/// One `crm_ticket -g|-r` call: the site recorded "granted here" or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Wall-clock seconds when the stub ran.
    pub at: f64,
    pub ticket: String,
    pub granted: bool,
    pub owner: i64,
    /// The `expires` attribute (epoch seconds).
    pub expires: u64,
    pub term: u32,
}

/// The ticket state writes in a stub log, in order.
pub fn parse_log(text: &str) -> Vec<Write> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(at) = words.next().and_then(|w| w.parse::<f64>().ok()) else {
            continue;
        };
        let args: Vec<&str> = words.collect();
        let mut w = Write {
            at,
            ticket: String::new(),
            granted: false,
            owner: 0,
            expires: 0,
            term: 0,
        };
        let mut kind = None;
        let mut attr = "";
        let mut i = 0;
        while i < args.len() {
            let a = args[i];
            let mut value = None;
            match a {
                "-t" => {
                    w.ticket = args.get(i + 1).unwrap_or(&"").trim_matches('\'').to_owned();
                    i += 1;
                }
                "-g" => kind = Some(true),
                "-r" => kind = Some(false),
                "-S" => {
                    attr = args.get(i + 1).copied().unwrap_or("");
                    i += 1;
                }
                "-v" => {
                    value = args.get(i + 1).copied();
                    i += 1;
                }
                _ if a.starts_with("--attr-value=") => value = Some(&a["--attr-value=".len()..]),
                _ if a.starts_with("-v") => value = Some(&a[2..]),
                _ => {}
            }
            if let Some(v) = value {
                match attr {
                    "owner" => w.owner = v.parse().unwrap_or(0),
                    "expires" => w.expires = v.parse().unwrap_or(0),
                    "term" => w.term = v.parse().unwrap_or(0),
                    _ => {}
                }
            }
            i += 1;
        }
        if let Some(g) = kind {
            if w.ticket != "any-ticket-name" {
                w.granted = g;
                out.push(w);
            }
        }
    }
    out
}

/// A span of time during which a site's CIB said "granted".
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub site: String,
    pub from: f64,
    /// `f64::INFINITY` while still granted.
    pub to: f64,
    /// Term of the write that granted.
    pub term: u32,
    /// The interval ended at the `expires` the dead site had written (its
    /// daemon was SIGKILLed, so nothing could revoke it).
    pub ended_by_expiry: bool,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} granted {:.3} .. {} (term {}{})",
            self.site,
            self.from,
            if self.to.is_finite() {
                format!("{:.3}", self.to)
            } else {
                "now".to_owned()
            },
            self.term,
            if self.ended_by_expiry {
                ", dead: ends at its written expiry"
            } else {
                ""
            }
        )
    }
}

/// The intervals in which `site`'s CIB had `ticket` granted. `kills` are the
/// times the site's daemon was SIGKILLed: a grant open at a kill ends at the
/// next write after it or when the lease the site had claimed ends —
/// whichever is first, but not before the kill. A dead daemon cannot revoke,
/// and Pacemaker does not act on `expires` (lease-safety.md §4.3), so this
/// measures the claimed lease, not what the site's resources did. The
/// claimed lease ends at the `expires` written last, but no later than
/// `lease` seconds after that write: `expires` has whole seconds (booth
/// rounds it), and both implementations write a grant only after the lease
/// it records began.
pub fn intervals(
    site: &str,
    writes: &[Write],
    ticket: &str,
    kills: &[f64],
    lease: f64,
) -> Vec<Interval> {
    let mut out = Vec::new();
    // (first grant, its term, last grant write, its expires)
    let mut open: Option<(f64, u32, f64, u64)> = None;
    let close =
        |(from, term, last, expires): (f64, u32, f64, u64), end: f64, out: &mut Vec<Interval>| {
            let kill = kills.iter().copied().find(|&k| k >= from && k <= end);
            let claimed = (expires as f64).min(last + lease);
            let (to, by_expiry) = match kill {
                Some(k) if claimed < end => (claimed.max(k), true),
                _ => (end, false),
            };
            out.push(Interval {
                site: site.to_owned(),
                from,
                to,
                term,
                ended_by_expiry: by_expiry,
            });
        };
    for w in writes.iter().filter(|w| w.ticket == ticket) {
        match (w.granted, open) {
            (true, None) => open = Some((w.at, w.term, w.at, w.expires)),
            (true, Some(o)) => {
                if kills.iter().any(|&k| k >= o.0 && k <= w.at) {
                    // A restarted site granted again: a new interval.
                    close(o, w.at, &mut out);
                    open = Some((w.at, w.term, w.at, w.expires));
                } else {
                    open = Some((o.0, o.1, w.at, w.expires));
                }
            }
            (false, Some(o)) => {
                close(o, w.at, &mut out);
                open = None;
            }
            (false, None) => {}
        }
    }
    if let Some(o) = open {
        close(o, f64::INFINITY, &mut out);
    }
    out
}

/// Pairs of intervals of different sites that overlap, with the overlap.
pub fn overlaps(all: &[Interval]) -> Vec<(Interval, Interval, f64)> {
    let mut out = Vec::new();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.site == b.site {
                continue;
            }
            let start = a.from.max(b.from);
            let end = a.to.min(b.to);
            if start < end {
                out.push((a.clone(), b.clone(), end - start));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOTH: &str = "\
1795600832.99 -g -t any-ticket-name
1795600832.994 -t tA -q
1795600834.001 -t tA -r --force -S owner -v0 -S expires -v1795600833 -S term -v0
1795600836.998 -t tA -g --force -S owner -v2081820410 -S expires -v1795600847 -S term -v0
1795600842.040 -t tA -g --force -S owner -v2081820410 -S expires -v1795600852 -S term -v0
1795600845.053 -t tA -r --force -S owner -v-1 -S expires -v1795600845 -S term -v0
";

    #[test]
    fn parses_booth_and_our_forms() {
        let w = parse_log(BOOTH);
        assert_eq!(w.len(), 4);
        assert!(w[1].granted && w[1].owner == 2081820410 && w[1].expires == 1795600847);
        assert_eq!(w[3].owner, -1);
        let ours = parse_log(
            "12.5 -t tA -g --force -S owner --attr-value=7 -S expires --attr-value=20 \
             -S term --attr-value=3 -S booth-cfg-name --attr-value=booth\n",
        );
        assert_eq!(ours[0].term, 3);
        assert_eq!(ours[0].owner, 7);
        let iv = intervals("a", &w, "tA", &[], 10.0);
        assert_eq!(iv.len(), 1);
        assert!((iv[0].from - 1795600836.998).abs() < 1e-6);
        assert!((iv[0].to - 1795600845.053).abs() < 1e-6);
    }

    #[test]
    fn a_killed_holder_ends_at_its_written_expiry() {
        let w = parse_log("100 -t tA -g -S expires -v110\n130 -t tA -r -S expires -v130\n");
        let iv = intervals("a", &w, "tA", &[104.0], 10.0);
        assert_eq!(iv[0].to, 110.0);
        assert!(iv[0].ended_by_expiry);
        // booth rounds `expires` up: the write time bounds the claim.
        let up = parse_log("100.25 -t tA -g -S expires -v111\n");
        assert_eq!(intervals("a", &up, "tA", &[104.0], 10.0)[0].to, 110.25);
        let b = intervals(
            "b",
            &parse_log("109 -t tA -g -S expires -v119\n"),
            "tA",
            &[],
            10.0,
        );
        let mut all = iv.clone();
        all.extend(b);
        let o = overlaps(&all);
        assert_eq!(o.len(), 1);
        assert!((o[0].2 - 1.0).abs() < 1e-9);
    }
}
