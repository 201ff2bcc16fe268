//! Per-sender timestamp window with a cache of recent MACs
//! (booth-protocol.md §2.11 "Timestamp rule", hardened per §10.2 #14).
//!
//! booth accepts a pair strictly newer than the last one, or else anything
//! younger than `maxtimeskew`, with no upper bound, so exact replays inside
//! the window pass. booth's own pairs are not monotonic (wall `secs`,
//! monotonic `usecs`), so we cannot demand newer pairs either. Instead: the
//! same window, a bound on the future, and exact replays of any of the last
//! [`CACHE_LEN`] accepted messages refused by MAC.

use super::{DecodeError, MAC_LEN};
use crate::time::{Duration, WallTime};

/// Recent MACs remembered per sender.
pub const CACHE_LEN: usize = 32;
/// MAC bytes kept per entry; only senders with the key produce valid MACs,
/// so a 64-bit prefix collision between two genuine messages is negligible.
const PREFIX_LEN: usize = 8;

defmt_derive! {
/// Replay state for one sender (a peer, or all TCP clients together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Newest `(secs, usecs)` accepted, if any.
    last: Option<(u32, u32)>,
    /// Ring of MAC prefixes; `len` entries valid, `next` is the slot to overwrite.
    macs: [[u8; PREFIX_LEN]; CACHE_LEN],
    len: usize,
    next: usize,
}
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    pub const fn new() -> Self {
        ReplayWindow {
            last: None,
            macs: [[0; PREFIX_LEN]; CACHE_LEN],
            len: 0,
            next: 0,
        }
    }

    /// Accepts a verified message stamped `(secs, usecs)` with `mac` iff the
    /// MAC was not seen recently ([`DecodeError::Replayed`]), `secs` is at
    /// most `max_past` old ([`DecodeError::Stale`]) and at most `max_future`
    /// ahead of `now` ([`DecodeError::FromFuture`]). Seconds are compared,
    /// as booth does: `usecs` comes from the sender's monotonic clock.
    pub fn check(
        &mut self,
        secs: u32,
        usecs: u32,
        mac: &[u8; MAC_LEN],
        now: WallTime,
        max_past: Duration,
        max_future: Duration,
    ) -> Result<(), DecodeError> {
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.iter_mut().zip(mac).for_each(|(p, m)| *p = *m);
        if self.macs.iter().take(self.len).any(|m| *m == prefix) {
            return Err(DecodeError::Replayed);
        }

        let now_ms = now.0 / 1000;
        let sent = u64::from(secs);
        if sent < now_ms.saturating_sub(max_past.as_millis()) / 1000 {
            return Err(DecodeError::Stale);
        }
        if sent > now_ms.saturating_add(max_future.as_millis()) / 1000 {
            return Err(DecodeError::FromFuture);
        }

        if let Some(slot) = self.macs.get_mut(self.next) {
            *slot = prefix;
        }
        self.next = (self.next + 1) % CACHE_LEN;
        self.len = (self.len + 1).min(CACHE_LEN);
        if self.last.is_none_or(|last| (secs, usecs) > last) {
            self.last = Some((secs, usecs));
        }
        Ok(())
    }

    /// Newest `(secs, usecs)` accepted so far.
    pub const fn last_accepted(&self) -> Option<(u32, u32)> {
        self.last
    }
}
