//! What a member may trust of its past when it starts: one policy for every
//! platform. The platforms only read bytes (a state file, a flash record, a
//! CIB) and describe what they found; this decides the [`Restore`] the
//! engine starts each ticket with (docs/site-memory.md).
//!
//! The rule behind every case: a promise (a vote, a lease copy, a grant) may
//! be acted on only if this member made it under the member list it runs
//! with now, and nothing later may have happened that this store did not
//! see. Anything less is amnesia: refuse votes for a whole lease, keep the
//! highest term known so fencing tokens keep rising.

use super::event::{PersistedTicket, Restore};
use crate::time::{Duration, Instant};

/// How much earlier than the CIB's `expires` a resumed grant ends. A site's
/// CIB records the holder's deadline from the clock of the node its daemon
/// ran on; a daemon resuming that grant on another node lets go this much
/// earlier, so that it ends no later than the followers' copies of the
/// lease: 1 s for the nodes' clocks to differ (Pacemaker clusters keep them
/// synchronised) and 1 s because a grant written by booth 1.x (a first
/// start in its place) records booth's own lease end, which its followers'
/// copies, truncated to whole seconds, may undercut by up to one. booth 1.x
/// trusts `expires` with no allowance at all.
pub const SITE_CLOCK_ALLOWANCE: Duration = Duration::from_secs(2);

/// What this member's own store (a state file, a flash record) holds for
/// one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The store holds nothing for the ticket (never written, or written
    /// before the ticket existed).
    Nothing,
    /// An entry written by this member under the member list it runs with.
    Entry(PersistedTicket),
    /// Something was there that cannot be trusted: damaged, unreadable,
    /// written under another member list or by another member, or already
    /// marked as amnesia. `term` is the highest term it is known to have
    /// seen (0 if unknown).
    Untrusted { term: u32 },
}

/// What a site's own replicated store (Pacemaker's CIB) says of one
/// ticket: the site's memory, shared by every node its daemon may run on.
/// Arbitrators have none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteRecord {
    /// The store has a state for the ticket (a daemon of this site wrote it).
    pub present: bool,
    pub term: u32,
    /// Granted, and to this very site.
    pub granted_here: bool,
    /// For a grant here: how long its recorded end (`expires`) is ahead of
    /// now, on the clock it was recorded with; `None` if it has passed or
    /// is not recorded.
    pub left: Option<Duration>,
}

/// The restore of one ticket.
///
/// * Nothing to trust in the member's own store: amnesia with the highest
///   term anybody recorded.
/// * The site's store says the ticket is granted here in a term the
///   member's store does not contradict: held until the recorded end less
///   [`SITE_CLOCK_ALLOWANCE`] (the daemon moved to another node of its site,
///   or restarted, within its lease: it leads on and renews; an ended lease
///   is re-acquired by the engine).
/// * The site's store knows a later term than the member's own (or the
///   member's store is empty while the site's is not): the site ran on
///   another node since, and may have voted there: amnesia.
/// * Otherwise the member's own store.
pub fn restore(stored: Stored, site: Option<SiteRecord>, now: Instant) -> Restore {
    let site_term = site.map_or(0, |s| s.term);
    let own_term = match stored {
        Stored::Untrusted { term } => {
            return Restore::Amnesia {
                term: term.max(site_term),
            };
        }
        Stored::Entry(p) => Some(p.term),
        Stored::Nothing => None,
    };
    if let Some(s) = site {
        if s.granted_here && own_term.is_none_or(|t| t <= s.term) {
            let left = s.left.unwrap_or(Duration::ZERO);
            return Restore::Held {
                term: s.term,
                until: now + left.saturating_sub(SITE_CLOCK_ALLOWANCE),
            };
        }
        if s.present && own_term.is_none_or(|t| t < s.term) {
            return Restore::Amnesia { term: s.term };
        }
    }
    match stored {
        Stored::Entry(p) => Restore::Persisted(p),
        _ => Restore::Fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Instant = Instant(50_000);

    fn entry(term: u32) -> PersistedTicket {
        PersistedTicket {
            term,
            voted_for: Some(1),
            leader: Some(1),
            lease: true,
            lost: false,
        }
    }

    fn granted_here(term: u32, left_ms: u64) -> Option<SiteRecord> {
        Some(SiteRecord {
            present: true,
            term,
            granted_here: true,
            left: Some(Duration(left_ms)),
        })
    }

    #[test]
    fn without_a_site_store_the_own_store_decides() {
        assert_eq!(restore(Stored::Nothing, None, NOW), Restore::Fresh);
        assert_eq!(
            restore(Stored::Entry(entry(7)), None, NOW),
            Restore::Persisted(entry(7))
        );
        assert_eq!(
            restore(Stored::Untrusted { term: 3 }, None, NOW),
            Restore::Amnesia { term: 3 }
        );
    }

    #[test]
    fn a_grant_here_is_held_until_its_end_less_the_allowance() {
        let held = Restore::Held {
            term: 7,
            until: Instant(50_000 + 10_000 - 2_000),
        };
        assert_eq!(restore(Stored::Nothing, granted_here(7, 10_000), NOW), held);
        assert_eq!(
            restore(Stored::Entry(entry(7)), granted_here(7, 10_000), NOW),
            held
        );
        // Ended, or within the allowance: handed over as ended (re-acquire).
        for left in [0, 1_999] {
            assert_eq!(
                restore(Stored::Nothing, granted_here(7, left), NOW),
                Restore::Held {
                    term: 7,
                    until: NOW
                }
            );
        }
    }

    #[test]
    fn an_own_store_that_knows_a_later_term_wins_over_a_grant() {
        assert_eq!(
            restore(Stored::Entry(entry(9)), granted_here(7, 10_000), NOW),
            Restore::Persisted(entry(9))
        );
    }

    #[test]
    fn a_site_that_ran_elsewhere_since_starts_with_amnesia() {
        let site = Some(SiteRecord {
            present: true,
            term: 12,
            granted_here: false,
            left: None,
        });
        let amnesia = Restore::Amnesia { term: 12 };
        assert_eq!(restore(Stored::Entry(entry(9)), site, NOW), amnesia);
        assert_eq!(restore(Stored::Nothing, site, NOW), amnesia);
        assert_eq!(
            restore(Stored::Entry(entry(12)), site, NOW),
            Restore::Persisted(entry(12))
        );
        assert_eq!(
            restore(Stored::Nothing, Some(SiteRecord::default()), NOW),
            Restore::Fresh
        );
    }

    #[test]
    fn untrusted_stores_keep_the_highest_term_known() {
        assert_eq!(
            restore(Stored::Untrusted { term: 4 }, granted_here(9, 10_000), NOW),
            Restore::Amnesia { term: 9 }
        );
        assert_eq!(
            restore(Stored::Untrusted { term: 11 }, granted_here(9, 10_000), NOW),
            Restore::Amnesia { term: 11 }
        );
    }
}
