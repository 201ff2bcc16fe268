//! The auditor: watches the CIB commits every site makes and checks the
//! invariants in true time. It lives outside the members (TigerBeetle's VOPR
//! style): the code under test never grades itself.
//!
//! A site holds a ticket from its "granted here" commit until its "not
//! granted here" commit, but never past the deadline that commit carried:
//! the lease guard revokes there even when the daemon is dead or frozen.

use std::fmt;
use std::hash::{Hash, Hasher};

/// One site's current grant of one ticket.
#[derive(Debug, Clone, Copy)]
struct Grant {
    since: u64,
    /// True time of the deadline the last commit carried (the guard's revoke).
    until: u64,
    term: u32,
}

/// A broken invariant, with when and who.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two sites held the ticket at the same true instant.
    DoubleGrant {
        ticket: usize,
        at: u64,
        site: usize,
        other: usize,
        other_until: u64,
    },
    /// A new holder's term did not exceed the previous holder's (fencing token).
    TermNotIncreasing {
        ticket: usize,
        at: u64,
        site: usize,
        term: u32,
        previous: u32,
    },
    /// A live, running site kept a grant past its own deadline.
    MissedDeadline {
        ticket: usize,
        at: u64,
        site: usize,
        until: u64,
    },
    /// After healing, the ticket had no single holder within the bound.
    NoHolder { ticket: usize, at: u64 },
    /// After healing, members disagree about the holder or its term.
    Disagreement {
        ticket: usize,
        at: u64,
        detail: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Violation::DoubleGrant { ticket, at, site, other, other_until } => write!(
                f,
                "t={at}ms ticket {ticket}: site m{site} granted while m{other} holds until t={other_until}ms"
            ),
            Violation::TermNotIncreasing { ticket, at, site, term, previous } => write!(
                f,
                "t={at}ms ticket {ticket}: m{site} granted in term {term}, previous holder had {previous}"
            ),
            Violation::MissedDeadline { ticket, at, site, until } => {
                write!(f, "t={at}ms ticket {ticket}: live m{site} still granted past its deadline t={until}ms")
            }
            Violation::NoHolder { ticket, at } => write!(f, "t={at}ms ticket {ticket}: no single holder after healing"),
            Violation::Disagreement { ticket, at, detail } => {
                write!(f, "t={at}ms ticket {ticket}: members disagree: {detail}")
            }
        }
    }
}

/// What the auditor knows about one ticket.
#[derive(Debug, Clone, Default)]
struct TicketAudit {
    /// Current grant per site (index = member).
    grants: Vec<Option<Grant>>,
    /// The last holder and its term, for the fencing-token check.
    last: Option<(usize, u32)>,
    /// Intervals of finished grants: (site, since, until).
    history: Vec<(usize, u64, u64)>,
    /// Per site: true time of its last "granted here" commit (a renewal's
    /// included): the end of what it holds is this + expire, as an operator
    /// reads it from `crm_ticket -g` times.
    last_commit: Vec<Option<u64>>,
    /// Per site that behaves like a booth 1.x holder: the true time until
    /// which it acts as holder on a lease a majority acknowledged, late
    /// expiry included (sim/booth.rs). Its CIB commits do not show it.
    booth_until: Vec<Option<u64>>,
}

#[derive(Debug, Default, Clone)]
pub struct Auditor {
    tickets: Vec<TicketAudit>,
    pub violations: Vec<Violation>,
    /// Shortest gap seen between one holder's end and the next holder's start.
    pub min_handover_gap: Option<u64>,
    /// Per ticket: a member lost its state since the last grant began, so the
    /// next holder's term cannot be checked (amnesia forgets votes).
    amnesia: Vec<bool>,
}

impl Auditor {
    pub fn new(members: usize, tickets: usize) -> Self {
        Auditor {
            tickets: (0..tickets)
                .map(|_| TicketAudit {
                    grants: vec![None; members],
                    last_commit: vec![None; members],
                    booth_until: vec![None; members],
                    ..Default::default()
                })
                .collect(),
            amnesia: vec![false; tickets],
            ..Default::default()
        }
    }

    /// A site committed "granted here" until true time `until`.
    pub fn granted(&mut self, ticket: usize, site: usize, now: u64, until: u64, term: u32) {
        let audit = &mut self.tickets[ticket];
        audit.last_commit[site] = Some(now);
        for other in 0..audit.grants.len() {
            if other == site {
                continue;
            }
            // The CIB grant capped at its deadline, or a booth-like holder's
            // late-expiring lease, whichever ends later.
            let until = audit.grants[other]
                .map(|g| g.until)
                .max(audit.booth_until[other]);
            if let Some(until) = until.filter(|u| *u > now) {
                self.violations.push(Violation::DoubleGrant {
                    ticket,
                    at: now,
                    site,
                    other,
                    other_until: until,
                });
            }
        }
        // Grants that ran out (guard) are history now.
        for other in 0..audit.grants.len() {
            if other != site {
                if let Some(g) = audit.grants[other].filter(|g| g.until <= now) {
                    audit.history.push((other, g.since, g.until));
                    audit.grants[other] = None;
                }
            }
        }
        match &mut audit.grants[site] {
            Some(g) => {
                g.until = until;
                g.term = g.term.max(term);
            }
            slot @ None => {
                if let Some((prev_site, prev_term)) = audit.last {
                    let bad = if prev_site == site {
                        term < prev_term
                    } else {
                        term <= prev_term
                    };
                    if bad && !self.amnesia[ticket] {
                        self.violations.push(Violation::TermNotIncreasing {
                            ticket,
                            at: now,
                            site,
                            term,
                            previous: prev_term,
                        });
                    }
                    if prev_site != site {
                        if let Some(&(_, _, end)) =
                            audit.history.iter().rev().find(|h| h.0 == prev_site)
                        {
                            let gap = now.saturating_sub(end);
                            self.min_handover_gap =
                                Some(self.min_handover_gap.map_or(gap, |m| m.min(gap)));
                        }
                    }
                }
                self.amnesia[ticket] = false;
                *slot = Some(Grant {
                    since: now,
                    until,
                    term,
                });
            }
        }
        audit.last = Some((site, audit.grants[site].map_or(term, |g| g.term)));
    }

    /// A booth-like site acts as holder of `ticket` until true time `until`
    /// (`None`: it holds nothing acknowledged, or an admin revoked it). A
    /// start of holding while another site is granted is a double grant.
    pub fn booth_holds(&mut self, ticket: usize, site: usize, now: u64, until: Option<u64>) {
        let audit = &mut self.tickets[ticket];
        let was_holding = audit.booth_until[site].is_some_and(|u| u > now);
        audit.booth_until[site] = until;
        if was_holding || until.is_none_or(|u| u <= now) {
            return;
        }
        for (other, g) in audit.grants.iter().enumerate() {
            if let Some(g) = g.filter(|g| other != site && g.until > now) {
                self.violations.push(Violation::DoubleGrant {
                    ticket,
                    at: now,
                    site,
                    other,
                    other_until: g.until,
                });
            }
        }
    }

    /// What [`Self::booth_holds`] last recorded.
    pub fn booth_holds_until(&self, ticket: usize, site: usize) -> Option<u64> {
        self.tickets[ticket].booth_until[site]
    }

    /// A member lost its persisted state (a new disk).
    pub fn amnesia(&mut self) {
        self.amnesia.iter_mut().for_each(|a| *a = true);
    }

    /// A site committed "not granted here".
    pub fn revoked(&mut self, ticket: usize, site: usize, now: u64) {
        if let Some(g) = self.tickets[ticket].grants[site].take() {
            let end = now.min(g.until);
            self.tickets[ticket].history.push((site, g.since, end));
        }
    }

    /// Checks that every live, running site gave its grant up by its deadline.
    pub fn check_deadlines(&mut self, now: u64, running: &[bool]) {
        for (ticket, audit) in self.tickets.iter().enumerate() {
            for (site, g) in audit.grants.iter().enumerate() {
                if let Some(g) = g {
                    if running[site] && now > g.until {
                        self.violations.push(Violation::MissedDeadline {
                            ticket,
                            at: now,
                            site,
                            until: g.until,
                        });
                    }
                }
            }
        }
    }

    /// Feeds `h` what decides the auditor's verdicts on what comes next
    /// (current grants, the last holder and its term, amnesia, booth-like
    /// holders), not its history and statistics: the exhaustive explorer
    /// (`crate::explore`) merges states on it.
    pub fn fingerprint<H: Hasher>(&self, h: &mut H) {
        for audit in &self.tickets {
            for g in &audit.grants {
                g.map(|g| (g.until, g.term)).hash(h);
            }
            audit.last.hash(h);
            audit.booth_until.hash(h);
        }
        self.amnesia.hash(h);
        self.violations.len().hash(h);
    }

    /// Sites holding `ticket` at true time `now`.
    pub fn holders(&self, ticket: usize, now: u64) -> Vec<usize> {
        self.tickets[ticket]
            .grants
            .iter()
            .enumerate()
            .filter(|(_, g)| g.is_some_and(|g| g.until > now))
            .map(|(i, _)| i)
            .collect()
    }

    /// True time of `site`'s last "granted here" commit of `ticket`.
    pub fn last_commit(&self, ticket: usize, site: usize) -> Option<u64> {
        self.tickets[ticket].last_commit[site]
    }

    /// Every grant interval so far (site, since, until), finished or not.
    pub fn intervals(&self, ticket: usize) -> Vec<(usize, u64, u64)> {
        let audit = &self.tickets[ticket];
        let mut all = audit.history.clone();
        for (site, g) in audit.grants.iter().enumerate() {
            if let Some(g) = g {
                all.push((site, g.since, g.until));
            }
        }
        all.sort_by_key(|i| i.1);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_grants_are_caught_and_handover_is_not() {
        let mut a = Auditor::new(3, 1);
        a.granted(0, 0, 1000, 9000, 1);
        a.granted(0, 1, 5000, 14000, 2);
        assert!(matches!(
            a.violations[0],
            Violation::DoubleGrant {
                site: 1,
                other: 0,
                ..
            }
        ));

        let mut a = Auditor::new(3, 1);
        a.granted(0, 0, 1000, 9000, 1);
        a.revoked(0, 0, 4000);
        a.granted(0, 1, 5000, 14000, 2);
        assert!(a.violations.is_empty());
        assert_eq!(a.min_handover_gap, Some(1000));
    }

    #[test]
    fn a_dead_holder_holds_until_its_deadline() {
        let mut a = Auditor::new(3, 1);
        a.granted(0, 0, 1000, 9000, 1);
        // Site 0 died without revoking: its guard revokes at 9000.
        a.granted(0, 1, 8999, 20000, 2);
        assert_eq!(a.violations.len(), 1);
        let mut a = Auditor::new(3, 1);
        a.granted(0, 0, 1000, 9000, 1);
        a.granted(0, 1, 9000, 20000, 2);
        assert!(a.violations.is_empty());
    }

    #[test]
    fn a_booth_like_holder_holds_until_its_late_expiry() {
        let mut a = Auditor::new(3, 1);
        a.granted(0, 0, 1000, 9000, 1);
        a.booth_holds(0, 0, 1000, Some(11_000));
        a.revoked(0, 0, 9000);
        // Its CIB says revoked at 9000, the booth truth says 11000.
        a.granted(0, 1, 10_000, 20_000, 2);
        assert!(matches!(
            a.violations[..],
            [Violation::DoubleGrant {
                site: 1,
                other: 0,
                other_until: 11_000,
                ..
            }]
        ));
        let mut a = Auditor::new(3, 1);
        a.granted(0, 0, 1000, 9000, 1);
        a.booth_holds(0, 0, 1000, Some(11_000));
        a.granted(0, 1, 11_000, 20_000, 2);
        assert!(a.violations.is_empty());
        // Holding while another site is granted.
        a.booth_holds(0, 0, 12_000, Some(15_000));
        assert_eq!(a.violations.len(), 1);
    }

    #[test]
    fn fencing_token_must_rise_with_the_holder() {
        let mut a = Auditor::new(3, 1);
        a.granted(0, 0, 1000, 2000, 3);
        a.revoked(0, 0, 2000);
        a.granted(0, 1, 3000, 4000, 3);
        assert!(matches!(
            a.violations[0],
            Violation::TermNotIncreasing { .. }
        ));
    }
}
