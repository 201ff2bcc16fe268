//! Waiting for something to become true, with a deadline and no fixed sleeps.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Interval between two looks at the condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Calls `f` until it returns `Some`, or panics naming `what` once `limit`
/// has passed (`f` is tried one last time at the deadline).
#[track_caller]
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    match try_wait_for(limit, POLL_INTERVAL, &mut f) {
        Some(v) => v,
        None => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Calls `f` every `interval` until it returns `Some` or `limit` has passed.
pub fn try_wait_for<T>(
    limit: Duration,
    interval: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= until {
            return None;
        }
        std::thread::sleep(interval.min(until - now));
    }
}

/// Wall-clock seconds since the epoch, as the crm_ticket logs record them.
pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
