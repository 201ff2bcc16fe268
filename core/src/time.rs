//! Explicit time. Monotonic milliseconds for leases; wall time only for the
//! 1.x auth header and for display.

use core::ops::{Add, Sub};
use serde::{Deserialize, Serialize};

defmt_derive! {
/// A point on a member's monotonic clock, in milliseconds from an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Instant(pub u64);
}

defmt_derive! {
/// A span of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Duration(pub u64);
}

defmt_derive! {
/// Wall-clock time in microseconds since the Unix epoch (header `secs`/`usecs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct WallTime(pub u64);
}

defmt_derive! {
/// What the platform knows about "now" when it calls into the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    /// Monotonic clock (CLOCK_BOOTTIME on Linux): every lease decision uses this.
    pub mono: Instant,
    /// Wall clock: only for the auth header timestamp and CIB `expires`.
    pub wall: WallTime,
}
}

impl Instant {
    pub const ZERO: Instant = Instant(0);
    /// The end of something that never ends: a manual ticket's grant.
    pub const NEVER: Instant = Instant(u64::MAX);
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1000))
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    pub const fn saturating_sub(self, other: Duration) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }
    pub const fn saturating_mul(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }
    pub fn min(self, other: Duration) -> Duration {
        if self.0 <= other.0 {
            self
        } else {
            other
        }
    }
}

impl WallTime {
    pub const fn from_secs(s: u64) -> Self {
        WallTime(s.saturating_mul(1_000_000))
    }
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000
    }
    pub const fn subsec_micros(self) -> u32 {
        (self.0 % 1_000_000) as u32
    }
    /// The wall time `d` after `self` (used to show a monotonic deadline as an epoch).
    pub const fn plus(self, d: Duration) -> WallTime {
        WallTime(self.0.saturating_add(d.0.saturating_mul(1000)))
    }
}

impl Now {
    /// The wall-clock reading that corresponds to a monotonic instant.
    pub fn wall_at(&self, t: Instant) -> WallTime {
        if t >= self.mono {
            self.wall.plus(t.saturating_since(self.mono))
        } else {
            WallTime(
                self.wall
                    .0
                    .saturating_sub(self.mono.saturating_since(t).0.saturating_mul(1000)),
            )
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        assert_eq!(Instant(u64::MAX) + Duration(5), Instant(u64::MAX));
        assert_eq!(Instant(3) - Duration(5), Instant(0));
        assert_eq!(Instant(3).saturating_since(Instant(9)), Duration::ZERO);
    }

    #[test]
    fn wall_at_maps_monotonic_to_epoch() {
        let now = Now {
            mono: Instant(10_000),
            wall: WallTime::from_secs(1_000),
        };
        assert_eq!(now.wall_at(Instant(12_000)).secs(), 1_002);
        assert_eq!(now.wall_at(Instant(9_000)).secs(), 999);
    }
}
