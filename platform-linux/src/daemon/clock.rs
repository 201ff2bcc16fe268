//! The daemon's two clocks: `CLOCK_BOOTTIME` for every lease decision (it
//! keeps counting through suspend, §10.1 #10) and `CLOCK_REALTIME` for the
//! auth header, the CIB `expires` and display.

use booth_core::{Instant, Now, WallTime};

/// Reads both clocks.
pub fn now() -> Now {
    Now {
        mono: mono(),
        wall: wall(),
    }
}

/// `CLOCK_BOOTTIME` in milliseconds.
pub fn mono() -> Instant {
    let ts = read(libc::CLOCK_BOOTTIME);
    Instant(ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000)
}

/// `CLOCK_REALTIME` in microseconds since the epoch.
pub fn wall() -> WallTime {
    let ts = read(libc::CLOCK_REALTIME);
    WallTime((ts.tv_sec.max(0) as u64) * 1_000_000 + ts.tv_nsec as u64 / 1000)
}

fn read(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer; both
    // clocks exist on every Linux since 2.6.39, so it cannot fail.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts
}

/// Milliseconds from `now` until `t` (0 when it has passed).
pub fn millis_until(now: Instant, t: Instant) -> u64 {
    t.saturating_since(now).as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance() {
        let a = now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = now();
        assert!(b.mono.0 >= a.mono.0 + 4);
        assert!(b.wall.0 > a.wall.0);
        assert!(a.wall.secs() > 1_600_000_000);
        assert_eq!(millis_until(b.mono, a.mono), 0);
    }
}
