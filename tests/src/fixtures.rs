//! Configurations shared by tests and benchmarks.

use booth_core::config::{Config, Member, Role, TicketConfig};
use booth_core::time::{Duration, Instant, Now, WallTime};
use booth_core::SiteId;

/// The key of booth-protocol.md §2.12's captured heartbeat.
pub const KEY: &[u8] = b"0123456789abcdef";

/// Two sites and an arbitrator at 127.0.0.2-4 with booth's fast test timings
/// (expire 10 s, timeout 1 s, retries 3) and [`KEY`].
pub fn formation<const TICKETS: usize>(tickets: &[&str]) -> Config<TICKETS> {
    let mut c = Config::new();
    for (i, role) in [Role::Site, Role::Site, Role::Arbitrator]
        .into_iter()
        .enumerate()
    {
        let id = SiteId::from_ipv4([127, 0, 0, 2 + i as u8]);
        c.members.push(Member { id, role }).expect("3 members fit");
    }
    for name in tickets {
        let t = TicketConfig::new(name).expect("a valid name").with_timing(
            Duration::from_secs(10),
            Duration::from_secs(1),
            3,
        );
        c.tickets.push(t).expect("ticket capacity");
    }
    c.key = Some(heapless::Vec::from_slice(KEY).expect("key fits"));
    c
}

/// The wall clock (epoch seconds) of scripted engine tests at monotonic 0.
pub const WALL0: u64 = 1_790_000_000;

/// `Now` for a scripted engine test: `mono` ms on the monotonic clock, and
/// the wall clock [`WALL0`] + `mono`.
pub fn now(mono: u64) -> Now {
    Now {
        mono: Instant(mono),
        wall: WallTime::from_secs(WALL0).plus(Duration(mono)),
    }
}
