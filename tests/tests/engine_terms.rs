//! The term is the fencing token: it must rise strictly for every new holder.
//! A forged or corrupt term at the top of the range must not make it saturate
//! and repeat (issue 11: a heartbeat with term 0xFFFFFFFF was followed and
//! persisted, and the next holder was granted at the same term).

use booth_core::config::Config;
use booth_core::engine::{
    AdminRequest, ClientId, Event, Owner, PersistedTicket, Restore, Source, TERM_CEILING,
};
use booth_core::wire::{self, Command, Header, PeerMessage, TicketBody};
use booth_core::Node;
use booth_tests::fixtures::{self, now, KEY, WALL0};

fn config() -> Config<1> {
    fixtures::formation(&["tA"])
}

/// Runs `node` to `mono` ms, draining everything; returns the terms of the
/// packets it sent.
fn drain(node: &mut Node<1>, mono: u64) -> Vec<u32> {
    node.handle_timeout(now(mono));
    while node.poll_event().is_some() {}
    let mut terms = Vec::new();
    let mut buf = [0u8; 1024];
    while let Some(tx) = node.poll_transmit(now(mono), &mut buf) {
        let (msg, _) = wire::parse_peer(&buf[..tx.len], Some(KEY)).expect("we send valid packets");
        terms.push(msg.body.term);
    }
    terms
}

/// A signed heartbeat from member `from` claiming the lease at `term`.
fn heartbeat(cfg: &Config<1>, from: usize, term: u32, mono: u64) -> Vec<u8> {
    let msg = PeerMessage {
        header: Header {
            secs: (WALL0 + mono / 1000) as u32,
            usecs: 1,
            from: cfg.members[from].id.0,
            cmd: Command::Heartbeat.as_u32(),
            ..Header::default()
        },
        cmd: Command::Heartbeat,
        body: TicketBody {
            name: b"tA".as_slice().try_into().unwrap(),
            leader: cfg.members[from].id.0,
            term,
            valid_for: 10,
        },
    };
    let mut buf = [0u8; 1024];
    let n = wire::emit_peer(&msg, Some(KEY), &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn a_term_above_the_ceiling_is_refused_not_followed() {
    let cfg = config();
    let mut node = Node::new(cfg.clone(), 0, 7, now(1_000), &[Restore::Fresh]).unwrap();
    drain(&mut node, 1_000);
    drain(&mut node, 3_000);
    let before = node.counters().invalid;
    for term in [u32::MAX, TERM_CEILING + 1] {
        let bytes = heartbeat(&cfg, 1, term, 3_000);
        assert!(node
            .handle_datagram(now(3_000), Source::Member(1), &bytes)
            .is_err());
    }
    assert_eq!(node.counters().invalid, before + 2);
    let v = node.ticket_view(0).unwrap();
    assert_ne!(v.owner, Owner::Site(cfg.members[1].id));
    assert!(v.term <= TERM_CEILING, "term {} taken", v.term);

    // The same heartbeat at a plausible term is followed: the refusal is the
    // term's, not the message's.
    let bytes = heartbeat(&cfg, 1, 5, 3_000);
    node.handle_datagram(now(3_000), Source::Member(1), &bytes)
        .unwrap();
    drain(&mut node, 3_000);
    let v = node.ticket_view(0).unwrap();
    assert_eq!((v.owner, v.term), (Owner::Site(cfg.members[1].id), 5));
}

#[test]
fn a_member_at_the_ceiling_never_elects_again() {
    let cfg = config();
    let stored = PersistedTicket {
        term: u32::MAX,
        ..PersistedTicket::default()
    };
    let mut node = Node::new(cfg, 0, 7, now(1_000), &[Restore::Persisted(stored)]).unwrap();
    assert_eq!(node.ticket_view(0).unwrap().term, TERM_CEILING);
    let mut sent = drain(&mut node, 1_000);
    sent.extend(drain(&mut node, 3_000));
    let grant = AdminRequest::Grant {
        ticket: 0,
        force: true,
        wait_commit: false,
    };
    let _ = node.handle_admin(now(3_000), ClientId(1), grant);
    for mono in (3_000..40_000).step_by(500) {
        sent.extend(drain(&mut node, mono));
        while let Some(e) = node.poll_event() {
            assert!(
                !matches!(e, Event::Commit(c) if c.granted),
                "granted at the ceiling"
            );
        }
    }
    assert!(sent.iter().all(|t| *t <= TERM_CEILING), "{sent:?}");
    assert!(node.counters().term_ceiling_hits >= 1);
    assert_eq!(node.counters().elections_started, 0);
    assert_eq!(node.ticket_view(0).unwrap().term, TERM_CEILING);
}
