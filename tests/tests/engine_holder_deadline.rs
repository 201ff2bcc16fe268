//! The holder's own deadline: how early it lets go of a renewed lease.
//! booth 1.x followers cut the lease of a later heartbeat to whole wire
//! units, so against them the holder gives up `unit + margin` before its
//! shrunk lease ends. Our followers never shorten a copy (the mark carries
//! the milliseconds), so when every other member's last message was marked
//! the unit goes and only the drift bound and the margin remain. A member
//! that stops marking (booth 1.x installed in its place) takes the unit
//! back at once, in the engine, the CIB and the lease guard's deadline.
//!
//! Scripted on one member (a site, `ME`): its peers are played by the
//! test, each answering marked (booth-rs) or unmarked (booth).

use booth_core::config::Config;
use booth_core::engine::{AdminRequest, ClientId, Event, Restore, Source};
use booth_core::wire::header::PEER_MARK;
use booth_core::wire::{self, Command, Header, PeerMessage};
use booth_core::Node;
use booth_tests::fixtures::{self, now, KEY, WALL0};

const ME: usize = 0;
/// fixtures: expire 10 s, timeout 1 s, ρ = 1000 ppm, margin 100 ms, unit 1 s.
/// 10,000 · 0.999 / 1.001 = 9,980; minus the margin.
const EXACT_LEASE_MS: u64 = 9_880;
const UNIT_MS: u64 = 1_000;
const STEP: u64 = 10;

/// A peer's answer to `request`, signed, with a stamp of its own.
fn answer(
    cfg: &Config<1>,
    from: usize,
    cmd: Command,
    request: &PeerMessage,
    options: u32,
    mono: u64,
) -> Vec<u8> {
    let msg = PeerMessage {
        header: Header {
            secs: (WALL0 + mono / 1000) as u32,
            usecs: (mono % 1000) as u32 * 1000 + from as u32,
            from: cfg.members[from].id.0,
            cmd: cmd.as_u32(),
            request: request.cmd.as_u32(),
            options,
            ..Header::default()
        },
        cmd,
        body: request.body.clone(),
    };
    let mut buf = [0u8; 1024];
    let n = wire::emit_peer(&msg, Some(KEY), &mut buf).unwrap();
    buf[..n].to_vec()
}

/// What one renewal looked like from outside.
#[derive(Debug, Default)]
struct Seen {
    /// When the first `UpdE` after the win left (its exchange's send time).
    update_sent: Option<u64>,
    /// Every granted commit's expiry, in order.
    commits: Vec<u64>,
}

/// Grants the ticket here at 3 s and plays peers 1 and 2, answering with
/// `options[peer]`, until `until` ms. With `late_ack` = Some(ms), the
/// arbitrator also sends then an unmarked ack of the last update (booth 1.x
/// installed in its place acknowledging a copy again), with a fresh stamp.
fn run(options: [u32; 3], late_ack: Option<u64>, until: u64) -> Seen {
    let cfg: Config<1> = fixtures::formation(&["tA"]);
    let mut node = Node::new(cfg.clone(), ME, 3, now(1_000), &[Restore::Fresh]).unwrap();
    let mut seen = Seen::default();
    let mut last_update: Option<PeerMessage> = None;
    let mut mono = 1_000;
    while mono < until {
        if mono == 3_000 {
            let grant = AdminRequest::Grant {
                ticket: 0,
                force: false,
                wait_commit: false,
            };
            let _ = node.handle_admin(now(mono), ClientId(1), grant);
        }
        if late_ack == Some(mono) {
            let update = last_update.as_ref().expect("an update went out");
            let late = answer(&cfg, 2, Command::Ack, update, 0, mono);
            let _ = node.handle_datagram(now(mono), Source::Member(2), &late);
        }
        node.handle_timeout(now(mono));
        let mut answers = Vec::new();
        loop {
            while let Some(e) = node.poll_event() {
                if let Event::Commit(c) = e {
                    if c.granted {
                        seen.commits.push(c.expires.0);
                    }
                }
            }
            let mut buf = [0u8; 1024];
            let Some(tx) = node.poll_transmit(now(mono), &mut buf) else {
                break;
            };
            let (m, _) = wire::parse_peer(&buf[..tx.len], Some(KEY)).unwrap();
            let reply = match m.cmd {
                Command::ReqVote => Some(Command::VoteFor),
                Command::Heartbeat | Command::Update => Some(Command::Ack),
                _ => None,
            };
            if m.cmd == Command::Update {
                seen.update_sent.get_or_insert(mono);
                last_update = Some(m.clone());
            }
            if let Some(cmd) = reply {
                answers.push((tx.to, answer(&cfg, tx.to, cmd, &m, options[tx.to], mono)));
            }
        }
        for (from, a) in answers {
            let _ = node.handle_datagram(now(mono), Source::Member(from), &a);
        }
        mono += STEP;
    }
    seen
}

/// The deadline the renewal's update gave: its exchange started in the step
/// before the update was polled out (answers are handled after sending).
fn update_deadline(seen: &Seen, lease: u64) -> u64 {
    seen.update_sent.expect("the lease was renewed") - STEP + lease
}

#[test]
fn among_booth_rs_members_the_holder_keeps_all_but_drift_and_margin() {
    let seen = run([0, PEER_MARK, PEER_MARK], None, 7_000);
    assert_eq!(
        seen.commits.last(),
        Some(&update_deadline(&seen, EXACT_LEASE_MS)),
        "{seen:?}"
    );
}

#[test]
fn with_one_booth_member_the_holder_also_gives_up_the_wire_unit() {
    for booth in [1, 2] {
        let mut options = [0, PEER_MARK, PEER_MARK];
        options[booth] = 0;
        let seen = run(options, None, 7_000);
        assert_eq!(
            seen.commits.last(),
            Some(&update_deadline(&seen, EXACT_LEASE_MS - UNIT_MS)),
            "booth {booth}: {seen:?}"
        );
    }
}

#[test]
fn a_member_that_stops_marking_takes_the_unit_back_at_once() {
    // Granted with both peers marked; at 6 s, before the next renewal
    // (3 s + 5 s), the arbitrator answers unmarked: the CIB (and with it
    // the lease guard) is given the deadline a unit earlier at once.
    let seen = run([0, PEER_MARK, PEER_MARK], Some(6_000), 7_000);
    let n = seen.commits.len();
    assert!(n >= 2, "{seen:?}");
    assert_eq!(
        seen.commits[n - 2..],
        [
            update_deadline(&seen, EXACT_LEASE_MS),
            update_deadline(&seen, EXACT_LEASE_MS - UNIT_MS)
        ],
        "{seen:?}"
    );
}
