//! Arbitrary bytes and arbitrary orders of events into one member: it never
//! panics, everything it sends decodes under the wire rules, no packet leaves
//! while a Persist is undrained, and it never claims a grant that has already
//! run out.

use booth_core::config::Config;
use booth_core::engine::{AdminRequest, ClientId, Event, Restore, Source};
use booth_core::time::{Duration, Instant, Now, WallTime};
use booth_core::wire::{self, Command, Header, PeerMessage, TicketBody};
use booth_core::Node;
use booth_tests::fixtures::{self, KEY};
use proptest::prelude::*;

fn config() -> Config<2> {
    fixtures::formation(&["tA", "tB"])
}

#[derive(Debug, Clone)]
enum Op {
    /// Raw bytes from a member (or nobody).
    Bytes(Option<usize>, Vec<u8>),
    /// A well-formed, signed peer message with arbitrary fields.
    Message {
        from: usize,
        cmd: u8,
        ticket: u8,
        leader: u32,
        term: u32,
        valid_for: u32,
        request: u8,
        result: u8,
        stamp: u32,
    },
    Advance(u32),
    Grant(u8, bool),
    Revoke(u8),
    Handler(u8, bool),
}

const CMDS: [Command; 9] = [
    Command::Status,
    Command::MyIndex,
    Command::ReqVote,
    Command::VoteFor,
    Command::Heartbeat,
    Command::Ack,
    Command::Update,
    Command::Revoked,
    Command::Rejected,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            proptest::option::of(0usize..4),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(f, b)| Op::Bytes(f, b)),
        (
            1usize..3,
            0u8..9,
            0u8..3,
            prop_oneof![
                Just(0xFFFF_FFFF),
                Just(0),
                any::<u32>(),
                Just(0x7C16_0EFA),
                Just(0x0B11_3E6C)
            ],
            0u32..8,
            0u32..20,
            0u8..9,
            0u8..4,
            any::<u32>()
        )
            .prop_map(
                |(from, cmd, ticket, leader, term, valid_for, request, result, stamp)| {
                    Op::Message {
                        from,
                        cmd,
                        ticket,
                        leader,
                        term,
                        valid_for,
                        request,
                        result,
                        stamp,
                    }
                }
            ),
        (0u32..15_000).prop_map(Op::Advance),
        (0u8..3, any::<bool>()).prop_map(|(t, f)| Op::Grant(t, f)),
        (0u8..3).prop_map(Op::Revoke),
        (0u8..3, any::<bool>()).prop_map(|(t, ok)| Op::Handler(t, ok)),
    ]
}

fn signed(cfg: &Config<2>, op: &Op, wall: u32) -> Vec<u8> {
    let Op::Message {
        from,
        cmd,
        ticket,
        leader,
        term,
        valid_for,
        request,
        result,
        stamp,
    } = *op
    else {
        unreachable!()
    };
    let cmd = CMDS[cmd as usize];
    let name = match ticket {
        0 => "tA",
        1 => "tB",
        _ => "nope",
    };
    let results = [0, 0x544F_6474, 0x5456_6C64, 0x4F75_7464];
    let msg = PeerMessage {
        header: Header {
            secs: wall,
            usecs: stamp % 1_000_000,
            from: cfg.members[from].id.0,
            cmd: cmd.as_u32(),
            request: CMDS[request as usize].as_u32() * (request % 2) as u32,
            result: results[result as usize],
            ..Header::default()
        },
        cmd,
        body: TicketBody {
            name: name.as_bytes().try_into().unwrap(),
            leader,
            term,
            valid_for,
        },
    };
    let mut buf = [0u8; 1024];
    let n = wire::emit_peer(&msg, Some(KEY), &mut buf).unwrap();
    buf[..n].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_input_in_any_order_keeps_the_member_sane(me in 0usize..3, ops in proptest::collection::vec(op(), 1..120)) {
        let cfg = config();
        let mut mono = 1_000u64;
        let wall0 = 1_790_000_000u64;
        let now = |mono: u64| Now { mono: Instant(mono), wall: WallTime::from_secs(wall0).plus(Duration(mono)) };
        let mut node = Node::new(cfg.clone(), me, 42, now(mono), &[Restore::Fresh, Restore::Amnesia { term: 3 }]).unwrap();
        let mut client = 0;
        for op in &ops {
            let n = now(mono);
            match op {
                Op::Bytes(from, bytes) => {
                    let src = from.map_or(Source::Unknown, Source::Member);
                    let _ = node.handle_datagram(n, src, bytes);
                }
                Op::Message { from, .. } => {
                    let bytes = signed(&cfg, op, (wall0 + mono / 1000) as u32);
                    let _ = node.handle_datagram(n, Source::Member(*from), &bytes);
                }
                Op::Advance(ms) => {
                    mono += *ms as u64;
                    node.handle_timeout(now(mono));
                }
                Op::Grant(t, force) => {
                    client += 1;
                    let req = AdminRequest::Grant { ticket: *t as usize, force: *force, wait_commit: false };
                    let _ = node.handle_admin(n, ClientId(client), req);
                }
                Op::Revoke(t) => {
                    let _ = node.handle_admin(n, ClientId(0), AdminRequest::Revoke { ticket: *t as usize });
                }
                Op::Handler(t, ok) => node.handle_handler_done(n, *t as usize, *ok),
            }
            // Drain events first (a pending Persist holds every packet back).
            let mut buf = [0u8; 1024];
            while let Some(e) = node.poll_event() {
                if let Event::Commit(c) = e {
                    if c.granted {
                        prop_assert!(c.expires > Instant(mono), "granted until {:?} at {mono}", c.expires);
                    }
                }
            }
            while let Some(tx) = node.poll_transmit(now(mono), &mut buf) {
                prop_assert!(tx.to < 3 && tx.to != me);
                let parsed = wire::parse_peer(&buf[..tx.len], Some(KEY));
                prop_assert!(parsed.is_ok(), "we sent something undecodable: {:?}", parsed);
                let (msg, _) = parsed.unwrap();
                prop_assert_eq!(msg.header.from, cfg.members[me].id.0);
                prop_assert!(msg.body.leader != 0, "leader 0 is refused by booth");
            }
            prop_assert!(node.poll_timeout().is_none_or(|t| t.0 < u64::MAX));
        }
    }
}

#[test]
fn a_pending_persist_holds_packets_back() {
    let cfg = config();
    let now = Now {
        mono: Instant(1000),
        wall: WallTime::from_secs(1_790_000_000),
    };
    let mut node = Node::new(cfg, 0, 1, now, &[]).unwrap();
    // Startup broadcasts Stat; take everything first.
    while node.poll_event().is_some() {}
    let mut buf = [0u8; 1024];
    while node.poll_transmit(now, &mut buf).is_some() {}
    // A grant votes for ourselves (persist) and asks for votes.
    let later = Now {
        mono: Instant(3000),
        wall: now.wall.plus(Duration(2000)),
    };
    node.handle_timeout(later);
    node.handle_admin(
        later,
        ClientId(1),
        AdminRequest::Grant {
            ticket: 0,
            force: true,
            wait_commit: false,
        },
    );
    assert!(
        node.poll_transmit(later, &mut buf).is_none(),
        "RVot left before the vote was persisted"
    );
    let mut persisted = false;
    while let Some(e) = node.poll_event() {
        persisted |= matches!(e, Event::Persist { ticket: 0, .. });
    }
    assert!(persisted);
    let tx = node
        .poll_transmit(later, &mut buf)
        .expect("the vote request leaves after the persist");
    assert_eq!(&buf[28..32], b"RVot");
    assert!(tx.len == 152);
}
