//! Replay protection that holds at any age inside the timestamp window
//! (booth-protocol.md §2.11 "Timestamp rule", hardened per §10.2 #14;
//! the argument in full: docs/replay.md).
//!
//! booth accepts a pair strictly newer than the last one, or else anything
//! younger than `maxtimeskew`, so exact replays inside the window pass. We
//! keep booth's window (and bound the future), and refuse every replay of a
//! message we accepted, however old, with a bounded cache and a **floor**:
//!
//! - every accepted message gets an order key: `(secs, usecs)` when the
//!   sender marked it as booth-rs (its stamps are strictly increasing,
//!   [`super::auth::Stamper`]), `(secs, u32::MAX)` otherwise (booth 1.x and
//!   CLI clients take `usecs` from a monotonic clock, so only `secs` orders
//!   their messages);
//! - a message is accepted only if its key is above the floor and its MAC is
//!   not in the cache; it then goes into the cache;
//! - when the cache is full, the smallest key (of the newcomer's stream)
//!   among the cache and the newcomer is given up and the floor rises to it
//!   (it never falls).
//!
//! booth-rs acks echo the stamp of the message they acknowledge: the
//! receiver's clock, not the sender's, which may be minutes apart. So acks
//! are a second stream with a floor of their own (the cache is shared);
//! otherwise a floor raised by an echo from a clock ahead would refuse the
//! sender's own messages until its clock caught up (found by the simulator's
//! mixed formations, 30 s of wall-clock offsets).
//!
//! Invariant: every accepted message is in the cache or has a key at or
//! below its stream's floor. So a replay (same bytes, same MAC, same key) is always
//! refused: [`DecodeError::Replayed`], after 1 newer message or 10,000. No
//! count or age matters, only the MAC and the key, which the sender signed.
//! The price is liveness, never safety: a genuine message whose key is at
//! or below the floor (delivered after `N` messages of its sender with
//! larger keys, or stamped by a booth 1.x sender whose wall clock stepped
//! back) is refused like a replay, and the sender's retries carry new keys.
//!
//! The state lives in memory: a restarted receiver starts with an empty
//! cache and floors at 0, so what was captured before the restart can be
//! replayed to it once each until `N` newer messages raised the floors
//! (docs/replay.md: why, and what that leaves).

use super::{DecodeError, MAC_LEN};
use crate::time::{Duration, WallTime};

/// Entries per peer: every message of the exchanges a sender can have in
/// flight at once (8 tickets × (first copy + 3 re-sends) on the appliance)
/// stays in the cache, so reordering among them costs nothing.
pub const CACHE_LEN: usize = 32;
/// MAC bytes kept per peer entry. The prefix only decides false refusals of
/// genuine messages (a replay has the whole MAC equal); with 32 entries of
/// 4 bytes that is a chance of 2⁻²⁷ per message, and costs one message,
/// which the sender re-sends.
pub const PEER_PREFIX_LEN: usize = 4;

/// The per-peer window (the engine holds one per member).
pub type ReplayWindow = ReplayCache<CACHE_LEN, PEER_PREFIX_LEN>;

defmt_derive! {
/// How a verified message is ordered for the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Header `secs`: the sender's wall clock.
    pub secs: u32,
    /// Header `usecs`.
    pub usecs: u32,
    /// The sender marked it as booth-rs ([`super::header::PEER_MARK`]),
    /// whose stamps are strictly increasing in `(secs, usecs)`.
    pub marked: bool,
    /// An acknowledgement: booth-rs acks echo the stamp of the message they
    /// acknowledge, i.e. the *receiver's* clock, so acks are ordered apart
    /// from the sender's own stamps (a stream and a floor of their own).
    pub ack: bool,
}
}

impl Stamp {
    /// A message whose sender marked it as booth-rs.
    pub const fn marked(secs: u32, usecs: u32) -> Self {
        Stamp {
            secs,
            usecs,
            marked: true,
            ack: false,
        }
    }

    /// A message from booth 1.x or a CLI client: only `secs` orders it.
    pub const fn unmarked(secs: u32, usecs: u32) -> Self {
        Stamp {
            secs,
            usecs,
            marked: false,
            ack: false,
        }
    }

    /// The same stamp on an acknowledgement (its own stream).
    pub const fn on_ack(self, ack: bool) -> Self {
        Stamp { ack, ..self }
    }

    /// The order key: unmarked messages sort after every marked one of the
    /// same second, so a floor raised by either refuses both correctly.
    const fn key(&self) -> (u32, u32) {
        if self.marked {
            (self.secs, self.usecs)
        } else {
            (self.secs, u32::MAX)
        }
    }

    /// Which floor orders it: 0 the sender's own stamps, 1 acks.
    const fn stream(&self) -> usize {
        self.ack as usize
    }
}

defmt_derive! {
/// Replay state for one sender (a peer), or for all admin clients
/// together: `N` entries (an order key, a stream and `P` MAC bytes) and a
/// floor per stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayCache<const N: usize, const P: usize> {
    /// Per stream ([`Stamp::stream`]): keys at or below it are refused; only
    /// ever rises.
    floors: [(u32, u32); 2],
    keys: [(u32, u32); N],
    /// The stream of each entry.
    acks: [bool; N],
    macs: [[u8; P]; N],
    /// Valid entries, `keys[..len]`, `acks[..len]` and `macs[..len]`.
    len: usize,
}
}

impl<const N: usize, const P: usize> Default for ReplayCache<N, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const P: usize> ReplayCache<N, P> {
    pub const fn new() -> Self {
        ReplayCache {
            floors: [(0, 0); 2],
            keys: [(0, 0); N],
            acks: [false; N],
            macs: [[0; P]; N],
            len: 0,
        }
    }

    /// Forgets everything, in place (a cache built anew and moved in costs
    /// its size in stack on a microcontroller). Entries past `len` are never
    /// read, so they are left as they are.
    pub fn clear(&mut self) {
        self.floors = [(0, 0); 2];
        self.len = 0;
    }

    /// Accepts a verified message iff `stamp.secs` is at most `max_past` old
    /// ([`DecodeError::Stale`]) and at most `max_future` ahead of `now`
    /// ([`DecodeError::FromFuture`]), and it is no replay of an accepted one
    /// ([`DecodeError::Replayed`]: its key is at or below its stream's
    /// floor, or its MAC is cached). The window compares seconds, as booth
    /// does. Refused messages leave no trace.
    pub fn check(
        &mut self,
        stamp: Stamp,
        mac: &[u8; MAC_LEN],
        now: WallTime,
        max_past: Duration,
        max_future: Duration,
    ) -> Result<(), DecodeError> {
        let now_ms = now.0 / 1000;
        let sent = u64::from(stamp.secs);
        if sent < now_ms.saturating_sub(max_past.as_millis()) / 1000 {
            return Err(DecodeError::Stale);
        }
        if sent > now_ms.saturating_add(max_future.as_millis()) / 1000 {
            return Err(DecodeError::FromFuture);
        }
        let key = stamp.key();
        let mut prefix = [0u8; P];
        prefix.iter_mut().zip(mac).for_each(|(p, m)| *p = *m);
        let cached = self.macs.get(..self.len).unwrap_or(&[]);
        if key <= self.floor(stamp.stream()) || cached.contains(&prefix) {
            return Err(DecodeError::Replayed);
        }
        self.remember(stamp.ack, key, prefix);
        Ok(())
    }

    /// Puts an accepted message in the cache. When it is full, the smallest
    /// key of the newcomer's stream (the cache's entries and the newcomer)
    /// is given up, or the smallest of the other stream when the cache holds
    /// none of its own; the floor of the stream given up rises to that key:
    /// what leaves the cache is still refused, by its floor.
    fn remember(&mut self, ack: bool, key: (u32, u32), mac: [u8; P]) {
        if self.len < N {
            self.put(self.len, ack, key, mac);
            self.len += 1;
            return;
        }
        let oldest_of = |stream: bool| {
            self.keys
                .iter()
                .zip(&self.acks)
                .enumerate()
                .filter(|(_, (_, a))| **a == stream)
                .min_by_key(|(_, (k, _))| **k)
                .map(|(i, (k, _))| (i, *k))
        };
        match oldest_of(ack) {
            Some((i, old)) if old < key => {
                self.put(i, ack, key, mac);
                self.raise(ack, old);
            }
            // The newcomer is the oldest of its stream: only the floor keeps it.
            Some(_) => self.raise(ack, key),
            None => match oldest_of(!ack) {
                Some((i, old)) => {
                    self.put(i, ack, key, mac);
                    self.raise(!ack, old);
                }
                // `N` is 0
                None => self.raise(ack, key),
            },
        }
    }

    fn put(&mut self, i: usize, ack: bool, key: (u32, u32), mac: [u8; P]) {
        if let (Some(k), Some(a), Some(m)) = (
            self.keys.get_mut(i),
            self.acks.get_mut(i),
            self.macs.get_mut(i),
        ) {
            *k = key;
            *a = ack;
            *m = mac;
        }
    }

    fn raise(&mut self, ack: bool, key: (u32, u32)) {
        if let Some(f) = self.floors.get_mut(usize::from(ack)) {
            *f = (*f).max(key);
        }
    }

    /// A stream's floor (0: the sender's own stamps, 1: acks): keys at or
    /// below it are refused (`(0, 0)` until the cache gave one up).
    pub fn floor(&self, stream: usize) -> (u32, u32) {
        self.floors
            .get(stream)
            .copied()
            .unwrap_or((u32::MAX, u32::MAX))
    }

    /// Messages remembered by MAC.
    pub const fn cached_len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u32 = 1_800_000_000;
    const PAST: Duration = Duration::from_secs(600);
    const FUTURE: Duration = Duration::from_secs(600);

    /// A distinct MAC per message number (its first 4 bytes differ).
    fn mac(n: u32) -> [u8; MAC_LEN] {
        let mut m = [0xA5; MAC_LEN];
        m[..4].copy_from_slice(&n.to_be_bytes());
        m
    }

    /// A sender of either kind: message `n` is sent at `T0 + n * gap_ms`.
    /// Marked senders stamp `(secs, usecs)` of their wall clock; unmarked
    /// ones (booth 1.x) put a monotonic clock's microseconds in `usecs`,
    /// so those do not grow with the pair (here: they run backwards).
    struct Sender {
        marked: bool,
        gap_ms: u64,
    }

    impl Sender {
        fn sent_ms(&self, n: u32) -> u64 {
            u64::from(T0) * 1000 + u64::from(n) * self.gap_ms
        }

        fn stamp(&self, n: u32) -> Stamp {
            let ms = self.sent_ms(n);
            let secs = (ms / 1000) as u32;
            if self.marked {
                Stamp::marked(secs, (ms % 1000) as u32 * 1000)
            } else {
                Stamp::unmarked(secs, 999_999 - (ms % 1000) as u32 * 1000)
            }
        }

        /// Delivers message `n` (stamp and MAC) to `w`, `late_ms` after it was sent.
        fn deliver(&self, w: &mut ReplayWindow, n: u32, late_ms: u64) -> Result<(), DecodeError> {
            let at = WallTime((self.sent_ms(n) + late_ms) * 1000);
            w.check(self.stamp(n), &mac(n), at, PAST, FUTURE)
        }
    }

    /// Message 0 accepted, then `newer` newer ones, then message 0 again:
    /// refused. Every genuine message on the way is accepted.
    fn replay_after(marked: bool, newer: u32, gap_ms: u64) {
        let s = Sender { marked, gap_ms };
        let mut w = ReplayWindow::new();
        assert_eq!(s.deliver(&mut w, 0, 5), Ok(()));
        for n in 1..=newer {
            assert_eq!(s.deliver(&mut w, n, 5), Ok(()), "genuine message {n}");
        }
        let late = s.sent_ms(newer) - s.sent_ms(0) + 10;
        assert_eq!(
            s.deliver(&mut w, 0, late),
            Err(DecodeError::Replayed),
            "marked {marked}, after {newer}"
        );
        // ... and so is every other message it accepted, however old
        for n in 1..=newer {
            let late = s.sent_ms(newer) - s.sent_ms(n) + 10;
            assert_eq!(s.deliver(&mut w, n, late), Err(DecodeError::Replayed));
        }
    }

    #[test]
    fn marked_replay_after_1_40_and_10000_newer_messages_refused() {
        for newer in [1, 40, 10_000] {
            replay_after(true, newer, 20);
        }
    }

    #[test]
    fn unmarked_replay_after_1_40_and_10000_newer_messages_refused() {
        // 40 ms apart: 25 messages share a second, a burst (the cache
        // takes `CACHE_LEN` a second from an unmarked sender, below)
        for newer in [1, 40, 10_000] {
            replay_after(false, newer, 40);
        }
        // booth's pace: a message every 500 ms
        for newer in [1, 40, 1_000] {
            replay_after(false, newer, 500);
        }
    }

    #[test]
    fn replay_after_5_minutes_refused_with_and_without_traffic() {
        for marked in [true, false] {
            // silence for 5 minutes
            let s = Sender {
                marked,
                gap_ms: 300_000,
            };
            let mut w = ReplayWindow::new();
            assert_eq!(s.deliver(&mut w, 0, 5), Ok(()));
            assert_eq!(s.deliver(&mut w, 0, 300_000), Err(DecodeError::Replayed));
            // 5 minutes of traffic, a message a second
            let s = Sender {
                marked,
                gap_ms: 1_000,
            };
            let mut w = ReplayWindow::new();
            for n in 0..=300 {
                assert_eq!(s.deliver(&mut w, n, 5), Ok(()));
            }
            assert_eq!(s.deliver(&mut w, 0, 300_000), Err(DecodeError::Replayed));
            // the window itself still ends at maxtimeskew
            assert_eq!(s.deliver(&mut w, 0, 601_000), Err(DecodeError::Stale));
        }
    }

    #[test]
    fn reordering_within_the_cache_costs_nothing() {
        // an unmarked sender's order within a second is unknown: a message
        // in the second of one given up is refused, so a second apart here
        for (marked, gap_ms) in [(true, 3), (false, 1000)] {
            let s = Sender { marked, gap_ms };
            let mut w = ReplayWindow::new();
            // 1000 messages delivered in blocks of 32 in reverse order
            for block in 0..1000 / CACHE_LEN as u32 {
                for i in (0..CACHE_LEN as u32).rev() {
                    let n = block * CACHE_LEN as u32 + i;
                    assert_eq!(s.deliver(&mut w, n, 50), Ok(()), "{marked} {n}");
                }
            }
        }
    }

    #[test]
    fn a_message_delivered_after_the_cache_moved_on_is_refused() {
        // the price of the floor: liveness, never a replay accepted
        let s = Sender {
            marked: true,
            gap_ms: 10,
        };
        let mut w = ReplayWindow::new();
        for n in 1..=CACHE_LEN as u32 + 1 {
            assert_eq!(s.deliver(&mut w, n, 5), Ok(()));
        }
        assert_eq!(w.floor(0), s.stamp(1).key());
        // message 0, never seen, but older than one given up
        assert_eq!(s.deliver(&mut w, 0, 500), Err(DecodeError::Replayed));
    }

    #[test]
    fn an_unmarked_sender_gets_cache_len_messages_a_second() {
        // the cost of ordering by the second: more in one second are refused
        let s = Sender {
            marked: false,
            gap_ms: 1,
        };
        let mut w = ReplayWindow::new();
        for n in 0..=CACHE_LEN as u32 {
            assert_eq!(s.deliver(&mut w, n, 5), Ok(()));
        }
        let n = CACHE_LEN as u32 + 1;
        assert_eq!(s.deliver(&mut w, n, 5), Err(DecodeError::Replayed));
        // the next second is fine again
        assert_eq!(s.deliver(&mut w, 1000, 5), Ok(()));
    }

    #[test]
    fn unmarked_floor_refuses_its_whole_second_marked_only_up_to_its_stamp() {
        let mut w: ReplayCache<1, 4> = ReplayCache::new();
        let at = WallTime(u64::from(T0) * 1_000_000);
        assert_eq!(
            w.check(Stamp::marked(T0, 10), &mac(1), at, PAST, FUTURE),
            Ok(())
        );
        assert_eq!(
            w.check(Stamp::marked(T0, 20), &mac(2), at, PAST, FUTURE),
            Ok(())
        );
        assert_eq!(w.floor(0), (T0, 10));
        // same second, later usecs: above the floor
        assert_eq!(
            w.check(Stamp::marked(T0, 11), &mac(3), at, PAST, FUTURE),
            Ok(())
        );
        assert_eq!(
            w.check(Stamp::unmarked(T0, 0), &mac(4), at, PAST, FUTURE),
            Ok(())
        );
        assert_eq!(
            w.check(Stamp::unmarked(T0, 5), &mac(5), at, PAST, FUTURE),
            Ok(())
        );
        // an unmarked one given up refuses its whole second, of either kind
        assert_eq!(w.floor(0), (T0, u32::MAX));
        assert_eq!(
            w.check(Stamp::unmarked(T0, 9), &mac(6), at, PAST, FUTURE),
            Err(DecodeError::Replayed)
        );
        assert_eq!(
            w.check(Stamp::marked(T0, 999_999), &mac(7), at, PAST, FUTURE),
            Err(DecodeError::Replayed)
        );
        assert_eq!(
            w.check(Stamp::unmarked(T0 + 1, 9), &mac(8), at, PAST, FUTURE),
            Ok(())
        );
    }

    #[test]
    fn acks_echoing_a_clock_ahead_do_not_refuse_the_senders_own_messages() {
        // the sender's clock is 30 s behind ours; its acks echo our stamps
        let behind = Sender {
            marked: true,
            gap_ms: 100,
        };
        let ours = |n: u32| behind.stamp(n + 300).on_ack(true);
        let mut w = ReplayWindow::new();
        let at = |n: u32| WallTime((behind.sent_ms(n) + 30_000) * 1000);
        for n in 0..200u32 {
            let own = behind.stamp(n);
            assert_eq!(
                w.check(own, &mac(2 * n), at(n), PAST, FUTURE),
                Ok(()),
                "{n}"
            );
            let ack = ours(n);
            assert_eq!(
                w.check(ack, &mac(2 * n + 1), at(n), PAST, FUTURE),
                Ok(()),
                "ack {n}"
            );
        }
        assert!(w.floor(0) < behind.stamp(200).key());
        assert!(w.floor(1) > behind.stamp(200).key());
        // replays of either stream, however old, are refused
        for n in [0, 1, 100, 199] {
            let own = behind.stamp(n);
            let late = at(199);
            assert_eq!(
                w.check(own, &mac(2 * n), late, PAST, FUTURE),
                Err(DecodeError::Replayed)
            );
            let ack = ours(n);
            assert_eq!(
                w.check(ack, &mac(2 * n + 1), late, PAST, FUTURE),
                Err(DecodeError::Replayed)
            );
        }
    }

    #[test]
    fn a_stream_without_entries_takes_a_slot_of_the_other() {
        let mut w: ReplayCache<2, 4> = ReplayCache::new();
        let at = WallTime(u64::from(T0) * 1_000_000);
        let own = |u| Stamp::marked(T0, u);
        assert_eq!(w.check(own(1), &mac(1), at, PAST, FUTURE), Ok(()));
        assert_eq!(w.check(own(2), &mac(2), at, PAST, FUTURE), Ok(()));
        let ack = Stamp::marked(T0 - 5, 0).on_ack(true);
        assert_eq!(w.check(ack, &mac(3), at, PAST, FUTURE), Ok(()));
        assert_eq!((w.floor(0), w.floor(1)), ((T0, 1), (0, 0)));
        for (st, m) in [(own(1), 1), (own(2), 2), (ack, 3)] {
            assert_eq!(
                w.check(st, &mac(m), at, PAST, FUTURE),
                Err(DecodeError::Replayed)
            );
        }
    }

    #[test]
    fn a_zero_sized_cache_is_a_strict_high_water_mark() {
        let mut w: ReplayCache<0, 4> = ReplayCache::new();
        let at = WallTime(u64::from(T0) * 1_000_000);
        assert_eq!(
            w.check(Stamp::marked(T0, 1), &mac(1), at, PAST, FUTURE),
            Ok(())
        );
        assert_eq!(
            w.check(Stamp::marked(T0, 1), &mac(1), at, PAST, FUTURE),
            Err(DecodeError::Replayed)
        );
        assert_eq!(
            w.check(Stamp::marked(T0, 2), &mac(2), at, PAST, FUTURE),
            Ok(())
        );
    }
}
