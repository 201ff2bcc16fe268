//! Replays of signed peer messages are refused at any age inside the
//! timestamp window (issue 11; docs/replay.md): after 1, 40 and 10,000
//! newer messages from the same sender and after 5 minutes, for a booth-rs
//! sender (header `options` marked) and a booth 1.x one (unmarked, `usecs`
//! from a monotonic clock). Before, the window remembered 32 MACs: the 40
//! case was accepted, and 40 captured messages of a dead holder, replayed
//! round-robin, kept it the leader.

use booth_core::config::Config;
use booth_core::engine::{Owner, RecvError, Restore, Source};
use booth_core::wire::header::PEER_MARK;
use booth_core::wire::{self, Command, DecodeError, Header, PeerMessage, TicketBody};
use booth_core::Node;
use booth_tests::fixtures::{self, now, KEY};

/// The sender, site B.
const B: usize = 1;

fn config() -> Config<1> {
    fixtures::formation(&["tA"])
}

/// Site A, started at 1 s, its start-up exchange drained.
fn site_a(cfg: &Config<1>) -> Node<1> {
    let mut node = Node::new(cfg.clone(), 0, 7, now(1_000), &[Restore::Fresh]).unwrap();
    drain(&mut node, 1_000);
    node
}

fn drain(node: &mut Node<1>, mono: u64) {
    node.handle_timeout(now(mono));
    while node.poll_event().is_some() {}
    let mut buf = [0u8; 1024];
    while node.poll_transmit(now(mono), &mut buf).is_some() {}
}

/// A signed heartbeat of holder B at term 5, sent at `mono` ms. A marked
/// (booth-rs) sender stamps its wall clock to the microsecond; an unmarked
/// (booth 1.x) one puts a monotonic clock's microseconds in `usecs`, here
/// ones that do not grow with the messages.
fn heartbeat(cfg: &Config<1>, marked: bool, mono: u64) -> Vec<u8> {
    let wall_us = now(mono).wall.0;
    let (usecs, options) = if marked {
        ((wall_us % 1_000_000) as u32, PEER_MARK)
    } else {
        ((999_999 - wall_us % 1_000_000) as u32, 0)
    };
    let msg = PeerMessage {
        header: Header {
            secs: (wall_us / 1_000_000) as u32,
            usecs,
            options,
            from: cfg.members[B].id.0,
            ..Header::default()
        },
        cmd: Command::Heartbeat,
        body: TicketBody {
            name: b"tA".as_slice().try_into().unwrap(),
            leader: cfg.members[B].id.0,
            term: 5,
            valid_for: 10,
        },
    };
    let mut buf = [0u8; 1024];
    let n = wire::emit_peer(&msg, Some(KEY), &mut buf).unwrap();
    buf[..n].to_vec()
}

fn deliver(node: &mut Node<1>, mono: u64, bytes: &[u8]) -> Result<(), RecvError> {
    let r = node.handle_datagram(now(mono), Source::Member(B), bytes);
    drain(node, mono);
    r
}

const REPLAYED: Result<(), RecvError> = Err(RecvError::Auth(DecodeError::Replayed));

/// B's heartbeat at 2 s is accepted, then `newer` newer ones `gap_ms`
/// apart; the first is replayed `late_ms` after the last: refused, and the
/// node keeps working.
fn replay_after(marked: bool, newer: u64, gap_ms: u64, late_ms: u64) {
    let cfg = config();
    let mut node = site_a(&cfg);
    let captured = heartbeat(&cfg, marked, 2_000);
    assert_eq!(deliver(&mut node, 2_000, &captured), Ok(()));
    let mut t = 2_000;
    for _ in 0..newer {
        t += gap_ms;
        let genuine = heartbeat(&cfg, marked, t);
        assert_eq!(deliver(&mut node, t, &genuine), Ok(()), "genuine at {t} ms");
    }
    let auth_failures = node.counters().auth_failures;
    t += late_ms;
    assert_eq!(
        deliver(&mut node, t, &captured),
        REPLAYED,
        "marked {marked}: replayed after {newer} newer messages, {} s after it was sent",
        (t - 2_000) / 1000
    );
    assert_eq!(node.counters().auth_failures, auth_failures + 1);
    // a genuine message right after is still taken
    let genuine = heartbeat(&cfg, marked, t + 1);
    assert_eq!(deliver(&mut node, t + 1, &genuine), Ok(()));
    assert_eq!(
        node.ticket_view(0).unwrap().owner,
        Owner::Site(cfg.members[B].id)
    );
}

#[test]
fn marked_replays_after_1_40_and_10000_newer_messages_are_refused() {
    replay_after(true, 1, 500, 10);
    replay_after(true, 40, 500, 10);
    // 10,000 in 200 s: 50 a second, the order is to the microsecond
    replay_after(true, 10_000, 20, 10);
}

#[test]
fn unmarked_replays_after_1_40_and_10000_newer_messages_are_refused() {
    replay_after(false, 1, 500, 10);
    replay_after(false, 40, 500, 10);
    // 10,000 in 400 s: 25 a second (an unmarked sender is ordered by the
    // second, and 32 messages a second fit the cache)
    replay_after(false, 10_000, 40, 10);
}

#[test]
fn replays_after_5_minutes_are_refused() {
    for marked in [true, false] {
        // 5 minutes of silence
        replay_after(marked, 0, 0, 300_000);
        // 5 minutes of a heartbeat every 5 s
        replay_after(marked, 60, 5_000, 10);
    }
}

/// issue 11, measured on the daemons: 40 captured messages of a holder
/// killed afterwards, replayed round-robin, kept it the leader for 75 s.
#[test]
fn a_dead_holders_captured_messages_do_not_keep_it_leader() {
    for marked in [true, false] {
        let cfg = config();
        let mut node = site_a(&cfg);
        let mut captured = Vec::new();
        let mut t = 2_000;
        for _ in 0..40 {
            let genuine = heartbeat(&cfg, marked, t);
            assert_eq!(deliver(&mut node, t, &genuine), Ok(()));
            captured.push(genuine);
            t += 1_000;
        }
        let owner_b = Owner::Site(cfg.members[B].id);
        assert_eq!(node.ticket_view(0).unwrap().owner, owner_b);
        // B dies; its messages are replayed round-robin every 200 ms, 75 s
        let died = t;
        for (i, bytes) in captured.iter().cycle().take(375).enumerate() {
            let at = died + 200 * i as u64;
            assert_eq!(
                deliver(&mut node, at, bytes),
                REPLAYED,
                "marked {marked}, replay {i}"
            );
        }
        let v = node.ticket_view(0).unwrap();
        assert_ne!(
            v.owner, owner_b,
            "marked {marked}: the dead holder is still leader"
        );
    }
}
