//! What each site wrote to its CIB, and when: a logging wrapper takes the
//! place of `crm_ticket` for every site (around the real one, for the live
//! Pacemaker CIB or a `CIB_file`), and the log becomes grant intervals.
//!
//! The wrapper writes `S <epoch> <pid> <args…>` just before the real call
//! and `E <epoch> <pid> <rc>` after it, so a call that is killed half-way
//! (the lease guard kills a grant write still running at the deadline)
//! still shows that it started. While a file `<log>.slow` exists, every
//! call first sleeps the number of seconds it contains (a slow CIB). The
//! wrapper drops libfaketime from its environment: the times it logs are
//! the host's, whatever clock fault the daemon that called it runs under.
//!
//! Intervals are conservative: a site counts as granted from the *start*
//! of its first `-g` call (the CIB may change any time during the call)
//! until the *end* of the `-r` call that succeeded after it. A `-g` that
//! failed or never finished still counts; a `-r` that failed or never
//! finished ends nothing.

use std::collections::HashMap;

use crate::formation::cib;

/// The wrapper. `__REAL__` is replaced by the real program.
pub const WRAPPER: &str = r#"#!/bin/sh
# booth-rs fault tests: crm_ticket wrapper logging start and end of each call.
# The times are real ones even for a daemon under libfaketime.
unset LD_PRELOAD FAKETIME FAKETIME_SHARED FAKETIME_DONT_FAKE_MONOTONIC \
    FAKETIME_TIMESTAMP_FILE FAKETIME_CACHE_DURATION
log="${CRM_STUB_LOG:?CRM_STUB_LOG is not set}"
if [ -f "$log.slow" ]; then sleep "$(cat "$log.slow")"; fi
printf 'S %s %s %s\n' "$(date +%s.%N)" "$$" "$*" >> "$log"
__REAL__ "$@"
rc=$?
printf 'E %s %s %s\n' "$(date +%s.%N)" "$$" "$rc" >> "$log"
exit $rc
"#;

/// The wrapper text around `real`.
pub fn wrapper(real: &str) -> String {
    WRAPPER.replace("__REAL__", real)
}

/// One `crm_ticket` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub start: f64,
    /// `None`: killed, or still running when the log was read.
    pub end: Option<f64>,
    pub rc: Option<i32>,
    pub args: Vec<String>,
}

impl Call {
    /// See [`cib::granted`].
    pub fn granted(&self) -> Option<bool> {
        cib::granted(&self.args)
    }

    pub fn ticket(&self) -> Option<&str> {
        cib::ticket(&self.args)
    }

    /// See [`cib::attr`].
    pub fn attr(&self, attr: &str) -> Option<&str> {
        cib::attr(&self.args, attr)
    }

    pub fn ok(&self) -> bool {
        self.rc == Some(0)
    }
}

/// Parses a wrapper log (unparsable lines are skipped).
pub fn parse(text: &str) -> Vec<Call> {
    let mut calls: Vec<Call> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let mut w = line.split(' ');
        let (Some(kind), Some(t), Some(pid)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let Ok(t) = t.parse::<f64>() else { continue };
        match kind {
            "S" => {
                let args = w.filter(|a| !a.is_empty()).map(str::to_owned).collect();
                open.insert(pid.to_owned(), calls.len());
                calls.push(Call {
                    start: t,
                    end: None,
                    rc: None,
                    args,
                });
            }
            "E" => {
                if let Some(i) = open.remove(pid) {
                    calls[i].end = Some(t);
                    calls[i].rc = w.next().and_then(|r| r.parse().ok());
                }
            }
            _ => {}
        }
    }
    calls.sort_by(|a, b| a.start.total_cmp(&b.start));
    calls
}

/// A stretch of time during which a site's CIB (possibly) said granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub site: usize,
    pub start: f64,
    /// End of the `-r` that closed it; `None` while open.
    pub end: Option<f64>,
    /// `term` of the grant that opened it.
    pub term: Option<u64>,
}

impl Interval {
    pub fn end_or(&self, now: f64) -> f64 {
        self.end.unwrap_or(now)
    }
}

/// The grant intervals of `ticket` in one site's calls.
pub fn intervals(site: usize, calls: &[Call], ticket: &str) -> Vec<Interval> {
    let mut out: Vec<Interval> = Vec::new();
    let mut open = false;
    for c in calls.iter().filter(|c| c.ticket() == Some(ticket)) {
        match c.granted() {
            Some(true) if !open => {
                out.push(Interval {
                    site,
                    start: c.start,
                    end: None,
                    term: c.attr("term").and_then(|t| t.parse().ok()),
                });
                open = true;
            }
            Some(false) if open && c.ok() => {
                if let (Some(i), Some(end)) = (out.last_mut(), c.end) {
                    i.end = Some(end);
                    open = false;
                }
            }
            _ => {}
        }
    }
    out
}

/// Two sites granted at once: the instants where it began and ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    pub a: Interval,
    pub b: Interval,
    pub from: f64,
    pub to: f64,
}

impl Overlap {
    pub fn secs(&self) -> f64 {
        self.to - self.from
    }
}

/// Every pair of intervals of different sites that intersect (open
/// intervals last until `now`).
pub fn overlaps(all: &[Interval], now: f64) -> Vec<Overlap> {
    let mut out = Vec::new();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.site == b.site {
                continue;
            }
            let from = a.start.max(b.start);
            let to = a.end_or(now).min(b.end_or(now));
            if from < to {
                out.push(Overlap {
                    a: a.clone(),
                    b: b.clone(),
                    from,
                    to,
                });
            }
        }
    }
    out
}

/// A change of holder: the old interval's end and the new one's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    pub from_site: usize,
    pub to_site: usize,
    /// End of the old holder's revoke.
    pub revoked: f64,
    /// Start of the new holder's grant.
    pub granted: f64,
}

impl Handover {
    /// Positive: nobody held the ticket for that long; negative: both did.
    pub fn gap(&self) -> f64 {
        self.granted - self.revoked
    }
}

/// Holder changes, in order of the new grants: each new interval paired
/// with the latest-ending earlier interval of another site.
pub fn handovers(all: &[Interval], now: f64) -> Vec<Handover> {
    let mut sorted = all.to_vec();
    sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out = Vec::new();
    for (i, new) in sorted.iter().enumerate() {
        let prev = sorted[..i]
            .iter()
            .filter(|p| p.site != new.site)
            .max_by(|a, b| a.end_or(now).total_cmp(&b.end_or(now)));
        let Some(prev) = prev else { continue };
        // Only a real change: the new site did not hold it in between.
        let own_since = sorted[..i]
            .iter()
            .any(|p| p.site == new.site && p.start > prev.start);
        if own_since {
            continue;
        }
        out.push(Handover {
            from_site: prev.site,
            to_site: new.site,
            revoked: prev.end_or(now),
            granted: new.start,
        });
    }
    out
}

/// Sites whose interval is open at the end.
pub fn holders_at_end(all: &[Interval]) -> Vec<usize> {
    let mut v: Vec<usize> = all
        .iter()
        .filter(|i| i.end.is_none())
        .map(|i| i.site)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "\
S 100.0 11 -t tA -q
E 100.1 11 105
S 101.0 12 -t tA -g --force -S owner --attr-value=7 -S term --attr-value=1
E 101.2 12 0
S 106.0 13 -t tA -g --force -S owner --attr-value=7 -S term --attr-value=1
S 110.0 14 -t tA -r --force -S owner --attr-value=0 -S term --attr-value=1
E 110.3 14 0
";

    #[test]
    fn killed_calls_and_intervals() {
        let calls = parse(A);
        assert_eq!(calls.len(), 4);
        assert_eq!(calls[2].end, None, "the killed grant has no end");
        assert_eq!(calls[1].attr("owner"), Some("7"));
        let iv = intervals(0, &calls, "tA");
        assert_eq!(
            iv,
            [Interval {
                site: 0,
                start: 101.0,
                end: Some(110.3),
                term: Some(1)
            }]
        );
    }

    #[test]
    fn the_checker_sees_overlaps_and_gaps() {
        let a = intervals(0, &parse(A), "tA");
        // B granted before A's revoke ended: an overlap of 0.8 s.
        let b_log = "S 109.5 21 -t tA -g --force -S term --attr-value=2\nE 109.6 21 0\n";
        let b = intervals(1, &parse(b_log), "tA");
        let all: Vec<Interval> = a.iter().chain(&b).cloned().collect();
        let o = overlaps(&all, 200.0);
        assert_eq!(o.len(), 1);
        assert!((o[0].secs() - 0.8).abs() < 1e-9);
        let h = handovers(&all, 200.0);
        assert_eq!(h.len(), 1);
        assert!((h[0].gap() + 0.8).abs() < 1e-9);
        assert_eq!(holders_at_end(&all), [1]);
        // A failed revoke ends nothing.
        let failed = "S 1.0 1 -t tA -g --force\nE 1.1 1 0\nS 5.0 2 -t tA -r --force\nE 5.1 2 102\n";
        assert_eq!(intervals(0, &parse(failed), "tA")[0].end, None);
        // Later B grant: a gap.
        let b_log = "S 113.0 21 -t tA -g --force\nE 113.1 21 0\n";
        let b = intervals(1, &parse(b_log), "tA");
        let all: Vec<Interval> = a.iter().chain(&b).cloned().collect();
        assert!(overlaps(&all, 200.0).is_empty());
        assert!((handovers(&all, 200.0)[0].gap() - 2.7).abs() < 1e-9);
    }
}
