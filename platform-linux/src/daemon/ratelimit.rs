//! Rate-limited logging: at most one line per key (error kind, source) per
//! window, the next line saying how many were suppressed (§10.3 #20).

use std::collections::HashMap;
use std::hash::Hash;

/// Keys remembered at most; beyond that (a flood from many spoofed sources)
/// every new key shares one overflow slot.
const MAX_KEYS: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When the last line for this key was let through (ms).
    logged_at: u64,
    suppressed: u64,
}

/// Lets one event per key and window through.
#[derive(Debug)]
pub struct RateLimiter<K> {
    window_ms: u64,
    slots: HashMap<K, Slot>,
    overflow: Option<Slot>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(window_ms: u64) -> Self {
        RateLimiter {
            window_ms,
            slots: HashMap::new(),
            overflow: None,
        }
    }

    /// An event for `key` at `now_ms`: `Some(n)` if it should be logged, `n`
    /// being the events suppressed since the last logged one; `None` to
    /// suppress it.
    pub fn check(&mut self, key: &K, now_ms: u64) -> Option<u64> {
        let window = self.window_ms;
        if !self.slots.contains_key(key) && self.slots.len() >= MAX_KEYS {
            self.slots
                .retain(|_, s| now_ms.saturating_sub(s.logged_at) < window || s.suppressed > 0);
        }
        let slot = if self.slots.contains_key(key) || self.slots.len() < MAX_KEYS {
            self.slots.entry(key.clone()).or_insert(Slot {
                logged_at: 0,
                suppressed: 0,
            })
        } else {
            self.overflow.get_or_insert(Slot {
                logged_at: 0,
                suppressed: 0,
            })
        };
        let fresh = slot.logged_at == 0 && slot.suppressed == 0;
        if fresh || now_ms.saturating_sub(slot.logged_at) >= window {
            let n = slot.suppressed;
            slot.logged_at = now_ms.max(1);
            slot.suppressed = 0;
            Some(n)
        } else {
            slot.suppressed += 1;
            None
        }
    }
}

/// " (N similar suppressed)" or nothing.
pub fn suffix(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} similar suppressed in the last window)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_key_and_window() {
        let mut rl = RateLimiter::new(10_000);
        assert_eq!(rl.check(&("bad_mac", 1), 1_000), Some(0));
        for t in 1_001..1_101 {
            assert_eq!(rl.check(&("bad_mac", 1), t), None);
        }
        // Another key is independent.
        assert_eq!(rl.check(&("bad_mac", 2), 1_050), Some(0));
        assert_eq!(rl.check(&("too_short", 1), 1_050), Some(0));
        // After the window the next event passes and reports the count.
        assert_eq!(rl.check(&("bad_mac", 1), 11_000), Some(100));
        assert_eq!(rl.check(&("bad_mac", 1), 11_001), None);
        assert_eq!(rl.check(&("bad_mac", 1), 25_000), Some(1));
        assert_eq!(suffix(0), "");
        assert!(suffix(3).contains("3 similar"));
    }

    #[test]
    fn many_keys_share_an_overflow_slot() {
        let mut rl = RateLimiter::new(10_000);
        let mut logged = 0;
        for k in 0..10_000u32 {
            if rl.check(&k, 5_000).is_some() {
                logged += 1;
            }
        }
        // MAX_KEYS distinct lines plus one for the overflow slot.
        assert_eq!(logged, MAX_KEYS + 1);
        assert!(rl.slots.len() <= MAX_KEYS);
    }
}
