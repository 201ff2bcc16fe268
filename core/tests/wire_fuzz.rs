//! Property tests: the parsers never panic, valid messages round-trip, and a
//! signed message does not survive any change.

use booth_core::wire::attr::{AttrBody, AttrName, AttrValue};
use booth_core::wire::client::{
    emit_client_request, emit_result_reply, emit_text_reply, frame_len, parse_client_request,
    parse_reply, ClientRequest, RequestBody,
};
use booth_core::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

const KEY: &[u8] = b"0123456789abcdef";

const ALL_COMMANDS: [Command; 21] = [
    Command::List,
    Command::Grant,
    Command::Revoke,
    Command::Peers,
    Command::ClResult,
    Command::ClList,
    Command::ClGrant,
    Command::ClRevoke,
    Command::Status,
    Command::MyIndex,
    Command::ReqVote,
    Command::VoteFor,
    Command::Heartbeat,
    Command::Ack,
    Command::Update,
    Command::Revoked,
    Command::Rejected,
    Command::AttrSet,
    Command::AttrGet,
    Command::AttrDel,
    Command::AttrList,
];

/// Every parser on the same input; only panics matter here.
fn parse_everything(bytes: &[u8]) {
    for key in [None, Some(KEY)] {
        let _ = parse_peer(bytes, key);
        let _ = parse_client_request(bytes, key);
        let _ = parse_reply(bytes, key);
    }
    let _ = frame_len(bytes);
    let _ = Header::parse(bytes);
    let _ = TicketBody::parse(bytes);
    let _ = AttrBody::parse(bytes);
    let _ = auth::Trailer::parse(bytes);
    let _ = auth::verify(KEY, bytes, bytes);
}

fn cstr<const N: usize>() -> impl Strategy<Value = heapless::Vec<u8, N>> {
    vec(1u8..=255, 0..=N).prop_map(|v| heapless::Vec::from_slice(&v).unwrap())
}

fn header() -> impl Strategy<Value = Header> {
    (any::<[u32; 8]>(), any::<u32>()).prop_map(|(w, length)| Header {
        opts: w[0],
        secs: w[1],
        usecs: w[2],
        from: w[3],
        length,
        cmd: w[4],
        request: w[5],
        options: w[6],
        reason: w[7],
        result: w[7].rotate_left(7),
    })
}

fn ticket() -> impl Strategy<Value = TicketBody> {
    (cstr::<63>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(name, leader, term, valid_for)| TicketBody {
            name,
            leader,
            term,
            valid_for,
        },
    )
}

fn attr() -> impl Strategy<Value = AttrBody> {
    (cstr::<63>(), cstr::<63>(), cstr::<127>()).prop_map(
        |(ticket, attr, value): (Name, AttrName, AttrValue)| AttrBody {
            ticket,
            attr,
            value,
        },
    )
}

fn peer_message() -> impl Strategy<Value = PeerMessage> {
    (
        header(),
        proptest::sample::select(&ALL_COMMANDS[..]),
        ticket(),
    )
        .prop_map(|(header, cmd, body)| PeerMessage { header, cmd, body })
}

fn key() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(vec(any::<u8>(), 1..100))
}

/// What the parser should see after `emit_peer` filled in the header.
fn as_sent(msg: &PeerMessage, len: usize, signed: bool) -> PeerMessage {
    let mut m = msg.clone();
    m.header.cmd = m.cmd.as_u32();
    m.header.length = len as u32;
    m.header.opts = if signed {
        m.header.opts | OPT_AUTH
    } else {
        m.header.opts & !OPT_AUTH
    };
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..1100)) {
        parse_everything(&bytes);
    }

    /// Garbage behind a valid magic, version and length, to get past the first checks.
    #[test]
    fn plausible_garbage_never_panics(
        mut bytes in vec(any::<u8>(), 48..1100),
        cmd in proptest::sample::select(&ALL_COMMANDS[..]),
        auth in any::<bool>(),
    ) {
        let len = bytes.len() as u32;
        bytes[12..16].copy_from_slice(&MAGIC.to_be_bytes());
        bytes[16..20].copy_from_slice(&VERSION.to_be_bytes());
        bytes[24..28].copy_from_slice(&len.to_be_bytes());
        bytes[28..32].copy_from_slice(&cmd.as_u32().to_be_bytes());
        bytes[0..4].copy_from_slice(&u32::from(auth).to_be_bytes());
        parse_everything(&bytes);
    }

    #[test]
    fn peer_messages_round_trip(msg in peer_message(), key in key()) {
        let key = key.as_deref();
        let mut out = [0u8; MAX_MSG_LEN];
        let n = emit_peer(&msg, key, &mut out).unwrap();
        prop_assert_eq!(n, if key.is_some() { 152 } else { 124 });
        let (parsed, mac) = parse_peer(&out[..n], key).unwrap();
        prop_assert_eq!(&parsed, &as_sent(&msg, n, key.is_some()));
        prop_assert_eq!(mac.is_some(), key.is_some());
        // emit(parse(x)) == x
        let mut again = [0u8; MAX_MSG_LEN];
        let m = emit_peer(&parsed, key, &mut again).unwrap();
        prop_assert_eq!(&again[..m], &out[..n]);
    }

    #[test]
    fn mutated_datagrams_never_panic_and_never_verify(
        msg in peer_message(),
        flips in vec((any::<prop::sample::Index>(), 1u8..=255), 1..8),
        resize in proptest::option::of(0usize..1100),
    ) {
        let mut out = [0u8; MAX_MSG_LEN];
        let n = emit_peer(&msg, Some(KEY), &mut out).unwrap();
        let original = out[..n].to_vec();
        let mut bytes = original.clone();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Some(len) = resize {
            bytes.resize(len, 0);
        }
        parse_everything(&bytes);
        if bytes != original {
            prop_assert!(parse_peer(&bytes, Some(KEY)).is_err());
        }
    }

    #[test]
    fn client_requests_round_trip(
        header in header(),
        cmd in proptest::sample::select(&[
            Command::List, Command::Peers, Command::Grant, Command::Revoke,
            Command::AttrSet, Command::AttrGet, Command::AttrDel, Command::AttrList,
        ][..]),
        t in ticket(),
        a in attr(),
        key in key(),
        trailing in 0usize..40,
    ) {
        let key = key.as_deref();
        let body = match client::request_body(cmd) {
            Some(client::BodyKind::Ticket) => RequestBody::Ticket(t),
            _ => RequestBody::Attr(a),
        };
        let req = ClientRequest { header, cmd, body };
        let mut out = [0u8; 400];
        let n = emit_client_request(&req, key, &mut out).unwrap();
        let (parsed, mac) = parse_client_request(&out[..n + trailing], key).unwrap();
        prop_assert_eq!(parsed.cmd, cmd);
        prop_assert_eq!(&parsed.body, &req.body);
        prop_assert_eq!(parsed.header.length as usize, n);
        prop_assert_eq!(mac.is_some(), key.is_some());
    }

    #[test]
    fn replies_round_trip(
        header in header(),
        result in proptest::sample::select(&[ResultCode::Success, ResultCode::Redirect, ResultCode::Auth][..]),
        t in proptest::option::of(ticket()),
        text in vec(any::<u8>(), 0..1500),
        cmd in proptest::sample::select(&[Command::ClList, Command::AttrGet, Command::AttrList][..]),
        key in key(),
    ) {
        let key = key.as_deref();
        let mut out = [0u8; 1600];
        let n = emit_result_reply(&header, result, t.as_ref(), key, &mut out).unwrap();
        let (reply, _) = parse_reply(&out[..n], key).unwrap();
        prop_assert_eq!(reply.result(), Some(result));
        prop_assert_eq!(&reply.ticket, &t);

        let n = emit_text_reply(&header, cmd, &text, key, &mut out).unwrap();
        let (reply, mac) = parse_reply(&out[..n], key).unwrap();
        prop_assert_eq!(reply.cmd, cmd);
        prop_assert_eq!(reply.text, &text[..]);
        prop_assert_eq!(mac.is_some(), key.is_some());
    }
}
