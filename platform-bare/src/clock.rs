//! Wall-clock time for the booth auth header, on a board without an RTC.
//!
//! Leases never use this clock: every lease decision in the engine runs on
//! the monotonic tick. Wall time only stamps outgoing packets (`secs`,
//! `usecs`) and judges the age of incoming ones. Authenticated booth 1.x
//! peers drop packets whose `secs` is older than their clock minus
//! `maxtimeskew` (600 s by default), and our own peers also drop packets
//! more than `max_future_skew` ahead. So the appliance needs a wall clock
//! that is roughly right, not exact.
//!
//! What this clock does:
//!
//! 1. At boot it starts from the larger of the provisioned wall clock (the
//!    time the blob was generated) and the wall clock stored with the last
//!    persisted state, then advances with the monotonic tick.
//! 2. It is only ever moved **forward**, and only by packets that passed the
//!    engine's HMAC check, i.e. from a member holding the key:
//!    * a verified packet stamped later than our clock moves it up to that
//!      stamp's second ([`WallClock::observe`]);
//!    * a verified packet the engine refused as too far in the future
//!      (our clock is far behind, e.g. after a reboot long after
//!      provisioning) moves the clock to its stamp and the packet is
//!      handled again ([`crate::runtime`]).
//!
//! Why forward only: an attacker without the key cannot forge a stamp, but
//! can replay an old genuine packet; a clock that followed stamps backwards
//! could be dragged into the past by replays until our own packets look
//! stale to every peer. Replays cannot move it forward beyond what a key
//! holder really sent.
//!
//! What it does not do: correct a clock that runs ahead (it never jumps
//! back), or protect against a member whose own wall clock is wrong by more
//! than the skew — the appliance follows the most advanced honest member.
//! With the default skew of 600 s, a blob generated up to ten minutes before
//! the first boot works even if no peer has spoken yet.

use booth_core::{Instant, WallTime};

/// Wall time as an offset from the monotonic tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WallClock {
    /// Wall time in µs at monotonic instant 0.
    base_us: u64,
    /// Forward corrections applied since boot.
    pub adjustments: u32,
}

impl WallClock {
    /// A clock that reads `wall` at monotonic instant `mono`.
    pub fn new(wall: WallTime, mono: Instant) -> Self {
        WallClock {
            base_us: wall.0.saturating_sub(mono.as_millis().saturating_mul(1000)),
            adjustments: 0,
        }
    }

    /// The wall time at monotonic instant `mono`.
    pub fn at(&self, mono: Instant) -> WallTime {
        WallTime(
            self.base_us
                .saturating_add(mono.as_millis().saturating_mul(1000)),
        )
    }

    /// A verified peer stamped a packet `secs` (its wall clock): if that is
    /// later than ours, move ours forward to it. Returns whether it moved.
    pub fn observe(&mut self, mono: Instant, secs: u32) -> bool {
        let theirs = WallTime::from_secs(u64::from(secs));
        let ours = self.at(mono);
        // Compare whole seconds: booth's `usecs` is not wall time.
        if theirs.secs() <= ours.secs() {
            return false;
        }
        self.base_us = self.base_us.saturating_add(theirs.0 - ours.0);
        self.adjustments = self.adjustments.saturating_add(1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_with_the_tick_and_only_forward() {
        let mut c = WallClock::new(WallTime::from_secs(1000), Instant(5_000));
        assert_eq!(c.at(Instant(5_000)), WallTime::from_secs(1000));
        assert_eq!(c.at(Instant(6_500)).0, 1_001_500_000);

        // Older or equal stamps change nothing.
        assert!(!c.observe(Instant(6_500), 900));
        assert!(!c.observe(Instant(6_500), 1001));
        assert_eq!(c.at(Instant(6_500)).0, 1_001_500_000);

        // A later one moves it forward, and it keeps running from there.
        assert!(c.observe(Instant(6_500), 5000));
        assert_eq!(c.at(Instant(6_500)).secs(), 5000);
        assert_eq!(c.at(Instant(8_500)).secs(), 5002);
        assert_eq!(c.adjustments, 1);
    }

    #[test]
    fn a_clock_started_before_the_epoch_of_the_tick_saturates() {
        let c = WallClock::new(WallTime(10), Instant(1_000));
        assert_eq!(c.at(Instant(0)), WallTime(0));
    }
}
