//! Wire codec against booth-protocol.md §2.12 test vectors, plus one test per
//! refusal reason.

use booth_core::site_id::NO_ONE;
use booth_core::time::{Duration, WallTime};
use booth_core::wire::attr::{value_from, AttrBody, VALUE_LEN};
use booth_core::wire::auth::{self, Stamper};
use booth_core::wire::client::{
    emit_client_request, emit_result_reply, emit_text_reply, frame_len, parse_client_request,
    parse_reply, request_body, BodyKind, ClientRequest, RequestBody,
};
use booth_core::wire::ticket::name_from;
use booth_core::wire::*;

const KEY: &[u8] = b"0123456789abcdef";

/// §2.12 authenticated heartbeat, observed on booth 1.0-283.
const HEARTBEAT_HEX: &str = "\
    00 00 00 01 6b 06 96 29 00 0e 75 0e 5f 1b a0 8c\
    00 01 00 03 7f c5 8b 3d 00 00 00 98 48 72 74 42\
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\
    74 41 00 00 00 00 00 00 00 00 00 00 00 00 00 00\
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\
    7f c5 8b 3d 00 00 00 00 00 00 00 13 00 00 00 02\
    30 8b 15 ce 62 4f 0a 96 15 a1 1c 2c a5 e0 f9 58\
    b4 47 3a a2 00 00 00 00";

fn heartbeat() -> [u8; 152] {
    let mut out = [0u8; 152];
    let digits: Vec<u8> = HEARTBEAT_HEX
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .collect();
    assert_eq!(digits.len(), 304);
    for (o, pair) in out.iter_mut().zip(digits.chunks(2)) {
        *o = u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap();
    }
    out
}

fn word(buf: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(buf[off..off + 4].try_into().unwrap())
}

fn name(s: &str) -> Name {
    name_from(s.as_bytes()).unwrap()
}

fn peer(
    cmd: Command,
    from: u32,
    name_: &str,
    leader: u32,
    term: u32,
    valid_for: u32,
) -> PeerMessage {
    PeerMessage {
        header: Header {
            from,
            ..Header::default()
        },
        cmd,
        body: TicketBody {
            name: name(name_),
            leader,
            term,
            valid_for,
        },
    }
}

fn emit(msg: &PeerMessage, key: Option<&[u8]>) -> Vec<u8> {
    let mut out = [0u8; MAX_MSG_LEN];
    let n = emit_peer(msg, key, &mut out).unwrap();
    out[..n].to_vec()
}

// ---- §2.12 authenticated heartbeat ----

#[test]
fn heartbeat_vector_verifies() {
    let bytes = heartbeat();
    let (msg, mac) = parse_peer(&bytes, Some(KEY)).unwrap();
    assert_eq!(msg.cmd, Command::Heartbeat);
    assert_eq!(msg.header.from, 0x7FC5_8B3D);
    assert_eq!(msg.header.length, 152);
    assert_eq!(msg.header.opts, OPT_AUTH);
    assert_eq!(msg.header.secs, 0x6B06_9629);
    assert_eq!(msg.header.usecs, 0x000E_750E);
    assert_eq!(
        (msg.header.request, msg.header.reason, msg.header.result),
        (0, 0, 0)
    );
    assert_eq!(msg.body.name.as_slice(), b"tA");
    assert_eq!(msg.body.leader, 0x7FC5_8B3D);
    assert_eq!(msg.body.term, 0);
    assert_eq!(msg.body.valid_for, 19);
    assert_eq!(mac.unwrap()[..], bytes[0x80..0x94]);
    // The MAC is HMAC-SHA1 over bytes 0..0x7c.
    assert_eq!(auth::mac(KEY, &bytes[..124])[..], bytes[0x80..0x94]);
}

#[test]
fn heartbeat_vector_reemits_exactly() {
    let bytes = heartbeat();
    let mut msg = peer(Command::Heartbeat, 0x7FC5_8B3D, "tA", 0x7FC5_8B3D, 0, 19);
    msg.header.secs = 0x6B06_9629;
    msg.header.usecs = 0x000E_750E;
    assert_eq!(emit(&msg, Some(KEY)), bytes.to_vec());
    // And the parsed message re-emits to the same bytes.
    let (parsed, _) = parse_peer(&bytes, Some(KEY)).unwrap();
    assert_eq!(emit(&parsed, Some(KEY)), bytes.to_vec());
}

#[test]
fn heartbeat_any_flipped_byte_fails() {
    let bytes = heartbeat();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes;
            bad[i] ^= mask;
            assert!(
                parse_peer(&bad, Some(KEY)).is_err(),
                "byte {i} ^ {mask:#x} accepted"
            );
        }
    }
}

#[test]
fn heartbeat_wrong_key_is_bad_mac() {
    assert_eq!(
        parse_peer(&heartbeat(), Some(b"0123456789abcdeF")).unwrap_err(),
        DecodeError::BadMac
    );
}

#[test]
fn keyless_receiver_ignores_trailer() {
    let (msg, mac) = parse_peer(&heartbeat(), None).unwrap();
    assert_eq!(mac, None);
    assert_eq!(msg.body.name.as_slice(), b"tA");
    assert_eq!(msg.header.length, 152);
}

// ---- §2.12 unauthenticated step-down VtFr ----

#[test]
fn stepdown_vote_for_vector() {
    let mut msg = peer(Command::VoteFor, 0x1F10_6223, "tB", NO_ONE, 0, 0);
    msg.header.reason = Reason::LocalFail.as_u32();
    let bytes = emit(&msg, None);
    assert_eq!(bytes.len(), 124);
    let words = [
        0,
        0,
        0,
        0x5F1B_A08C,
        0x0001_0003,
        0x1F10_6223,
        0x7C,
        u32::from_be_bytes(*b"VtFr"),
        0,
        0,
        u32::from_be_bytes(*b"LocF"),
        0,
    ];
    for (i, w) in words.iter().enumerate() {
        assert_eq!(word(&bytes, 4 * i), *w, "header word {i}");
    }
    assert_eq!(&bytes[48..51], b"tB\0");
    assert!(bytes[50..112].iter().all(|&b| b == 0));
    assert_eq!(word(&bytes, 112), NO_ONE);
    assert_eq!(word(&bytes, 116), 0);
    assert_eq!(word(&bytes, 120), 0);

    let (parsed, mac) = parse_peer(&bytes, None).unwrap();
    assert_eq!(mac, None);
    msg.header.length = 124;
    msg.header.cmd = Command::VoteFor.as_u32();
    assert_eq!(parsed, msg);
    assert_eq!(parsed.header.reason_code(), Some(Reason::LocalFail));
}

// ---- §2.12 grant/renewal sequence ----

#[test]
fn grant_sequence_table() {
    const S1: u32 = 0x7C16_0EFA;
    const S2: u32 = 0x0B11_3E6C;
    let j = 0u32;
    // kind, 4cc, from, request, reason, leader, term, valid_for
    type Row = (Command, &'static [u8; 4], u32, u32, u32, u32, u32, u32);
    let rows: [Row; 8] = [
        (Command::Status, b"Stat", S1, j, j, NO_ONE, 0, 0),
        (
            Command::MyIndex,
            b"MIdx",
            S1,
            Command::Status.as_u32(),
            j,
            NO_ONE,
            0,
            0,
        ),
        (
            Command::ReqVote,
            b"RVot",
            S1,
            j,
            Reason::Admin.as_u32(),
            S1,
            0,
            0,
        ),
        (
            Command::VoteFor,
            b"VtFr",
            S2,
            Command::ReqVote.as_u32(),
            j,
            S1,
            0,
            0,
        ),
        (Command::Heartbeat, b"HrtB", S1, j, j, S1, 0, 9),
        (
            Command::Ack,
            b"Ack.",
            S2,
            Command::Heartbeat.as_u32(),
            j,
            S1,
            0,
            8,
        ),
        (Command::Update, b"UpdE", S1, j, j, S1, 0, 9),
        (
            Command::Revoked,
            b"Revk",
            S1,
            j,
            Reason::Admin.as_u32(),
            NO_ONE,
            0,
            0,
        ),
    ];
    for (cmd, cc, from, request, reason, leader, term, valid_for) in rows {
        let mut msg = peer(cmd, from, "ticketA", leader, term, valid_for);
        msg.header.request = request;
        msg.header.reason = reason;
        let bytes = emit(&msg, None);
        assert_eq!(bytes.len(), 124, "{cmd:?}");
        assert_eq!(&bytes[0..12], &[0u8; 12], "{cmd:?}: opts/secs/usecs");
        assert_eq!(&bytes[12..16], &[0x5F, 0x1B, 0xA0, 0x8C]);
        assert_eq!(&bytes[16..20], &[0x00, 0x01, 0x00, 0x03]);
        assert_eq!(word(&bytes, 20), from, "{cmd:?}: from");
        assert_eq!(word(&bytes, 24), 124, "{cmd:?}: length");
        assert_eq!(&bytes[28..32], cc, "{cmd:?}: cmd");
        assert_eq!(word(&bytes, 32), request, "{cmd:?}: request");
        assert_eq!(word(&bytes, 36), 0, "{cmd:?}: options");
        assert_eq!(word(&bytes, 40), reason, "{cmd:?}: reason");
        assert_eq!(word(&bytes, 44), 0, "{cmd:?}: result");
        assert_eq!(&bytes[48..56], b"ticketA\0");
        assert!(bytes[56..112].iter().all(|&b| b == 0));
        assert_eq!(word(&bytes, 112), leader, "{cmd:?}: leader");
        assert_eq!(word(&bytes, 116), term, "{cmd:?}: term");
        assert_eq!(word(&bytes, 120), valid_for, "{cmd:?}: valid_for");
        if request != 0 {
            assert_eq!(
                &bytes[32..36],
                &Command::from_u32(request).unwrap().as_u32().to_be_bytes()
            );
        }

        let (parsed, _) = parse_peer(&bytes, None).unwrap();
        assert_eq!(parsed.cmd, cmd);
        assert_eq!(parsed.body, msg.body);
        assert_eq!(parsed.header.request, request);
        assert_eq!(parsed.header.reason, reason);
        // Signed, the same message grows by the trailer and still round-trips.
        let signed = emit(&msg, Some(KEY));
        assert_eq!(signed.len(), 152);
        assert_eq!(
            &signed[4..124],
            &{
                let mut b = bytes.clone();
                b[27] = 152;
                b
            }[4..124]
        );
        let (parsed, mac) = parse_peer(&signed, Some(KEY)).unwrap();
        assert_eq!(parsed.body, msg.body);
        assert_eq!(mac.unwrap()[..], signed[128..148]);
    }
    assert_eq!(&Reason::Admin.as_u32().to_be_bytes(), b"Admn");
}

// ---- one distinct error per malformed case ----

fn valid_unsigned() -> Vec<u8> {
    emit(
        &peer(
            Command::Heartbeat,
            0x7C16_0EFA,
            "ticketA",
            0x7C16_0EFA,
            3,
            9,
        ),
        None,
    )
}

fn set_word(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn malformed_peer_messages() {
    let good = valid_unsigned();
    assert!(parse_peer(&good, None).is_ok());

    let mut b = good.clone();
    b[12] ^= 1;
    assert_eq!(
        parse_peer(&b, None),
        Err(DecodeError::BadMagic(0x5E1B_A08C))
    );

    let mut b = good.clone();
    set_word(&mut b, 16, 0x0001_0002);
    assert_eq!(
        parse_peer(&b, None),
        Err(DecodeError::BadVersion(0x0001_0002))
    );

    // length field says 124, datagram carries one byte more
    let mut b = good.clone();
    b.push(0);
    assert_eq!(
        parse_peer(&b, None),
        Err(DecodeError::LengthMismatch {
            header: 124,
            actual: 125
        })
    );

    assert_eq!(parse_peer(&[0x5F], None), Err(DecodeError::TooShort));
    assert_eq!(parse_peer(&[], None), Err(DecodeError::TooShort));
    assert_eq!(parse_peer(&good[..47], None), Err(DecodeError::TooShort));

    // header only, consistent length: booth would read a body that is not there
    let mut b = good[..48].to_vec();
    set_word(&mut b, 24, 48);
    assert_eq!(parse_peer(&b, None), Err(DecodeError::MissingBody));
    let mut b = good[..100].to_vec();
    set_word(&mut b, 24, 100);
    assert_eq!(parse_peer(&b, None), Err(DecodeError::MissingBody));

    let mut b = good.clone();
    b[48..112].fill(b'x');
    assert_eq!(parse_peer(&b, None), Err(DecodeError::NameNotTerminated));
    // 63 characters + NUL is the longest valid name
    b[111] = 0;
    assert_eq!(parse_peer(&b, None).unwrap().0.body.name.len(), 63);

    let mut b = good.clone();
    set_word(&mut b, 28, 0x1234_5678);
    assert_eq!(
        parse_peer(&b, None),
        Err(DecodeError::UnknownCommand(0x1234_5678))
    );

    let mut b = good.clone();
    b.resize(1025, 0);
    set_word(&mut b, 24, 1025);
    assert_eq!(parse_peer(&b, None), Err(DecodeError::TooLong));
    // up to 1024 is fine (booth's receive buffer)
    b.truncate(1024);
    set_word(&mut b, 24, 1024);
    assert!(parse_peer(&b, None).is_ok());

    // we have a key, the peer does not sign
    assert_eq!(parse_peer(&good, Some(KEY)), Err(DecodeError::MissingAuth));
    // OPT_AUTH claimed but no trailer
    let mut b = good.clone();
    set_word(&mut b, 0, OPT_AUTH);
    assert_eq!(parse_peer(&b, Some(KEY)), Err(DecodeError::MissingAuth));
    // trailer present but OPT_AUTH not set
    let mut b = heartbeat();
    set_word(&mut b, 0, 0);
    assert_eq!(parse_peer(&b, Some(KEY)), Err(DecodeError::MissingAuth));

    // CVE-2024-3049: hid 0 must not mean "compare nothing"
    let mut b = heartbeat();
    set_word(&mut b, 124, 0);
    assert_eq!(parse_peer(&b, Some(KEY)), Err(DecodeError::BadHashId(0)));
    set_word(&mut b, 124, 3);
    assert_eq!(parse_peer(&b, Some(KEY)), Err(DecodeError::BadHashId(3)));

    let mut b = heartbeat();
    b[140] ^= 0x10;
    assert_eq!(parse_peer(&b, Some(KEY)), Err(DecodeError::BadMac));
    let mut b = heartbeat();
    b[151] = 1; // padding is not signed: refuse rather than accept a variant
    assert_eq!(parse_peer(&b, Some(KEY)), Err(DecodeError::BadMac));
    let mut b = heartbeat();
    b[60] = 1; // signed body byte
    assert_eq!(parse_peer(&b, Some(KEY)), Err(DecodeError::BadMac));
}

#[test]
fn errors_have_distinct_labels() {
    let all = [
        DecodeError::TooShort,
        DecodeError::BadMagic(0),
        DecodeError::BadVersion(0),
        DecodeError::LengthMismatch {
            header: 0,
            actual: 0,
        },
        DecodeError::TooLong,
        DecodeError::UnknownCommand(0),
        DecodeError::MissingBody,
        DecodeError::NameNotTerminated,
        DecodeError::MissingAuth,
        DecodeError::BadHashId(0),
        DecodeError::BadMac,
        DecodeError::Stale,
        DecodeError::FromFuture,
        DecodeError::Replayed,
    ];
    for (i, a) in all.iter().enumerate() {
        assert!(!a.to_string().is_empty());
        for b in &all[i + 1..] {
            assert_ne!(a.as_str(), b.as_str());
        }
    }
    assert!(DecodeError::BadMac.is_auth_failure());
    assert!(DecodeError::Replayed.is_auth_failure());
    assert!(!DecodeError::BadMagic(1).is_auth_failure());
    assert_eq!(EncodeError::BufferTooSmall.as_str(), "buffer_too_small");
}

#[test]
fn emit_refuses_small_buffers() {
    let msg = peer(Command::Heartbeat, 1, "t", 1, 0, 0);
    assert_eq!(
        emit_peer(&msg, None, &mut [0u8; 123]),
        Err(EncodeError::BufferTooSmall)
    );
    assert_eq!(
        emit_peer(&msg, Some(KEY), &mut [0u8; 151]),
        Err(EncodeError::BufferTooSmall)
    );
    assert_eq!(emit_peer(&msg, None, &mut [0u8; 124]), Ok(124));
    assert_eq!(emit_peer(&msg, Some(KEY), &mut [0u8; 152]), Ok(152));
    assert_eq!(
        Header::default().emit(&mut [0u8; 47]),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn emit_sets_and_clears_opt_auth() {
    let mut msg = peer(Command::Ack, 1, "t", 1, 0, 0);
    msg.header.opts = OPT_AUTH | 4;
    msg.header.cmd = 0xDEAD_BEEF; // overwritten from msg.cmd
    msg.header.length = 7; // overwritten
    let plain = emit(&msg, None);
    assert_eq!(word(&plain, 0), 4);
    assert_eq!(&plain[28..32], b"Ack.");
    assert_eq!(word(&plain, 24), 124);
    msg.header.opts = 0;
    let signed = emit(&msg, Some(KEY));
    assert_eq!(word(&signed, 0), OPT_AUTH);
    assert_eq!(word(&signed, 124), HASH_ID_SHA1);
    assert_eq!(&signed[148..152], &[0u8; 4]);
}

#[test]
fn names_are_limited_to_63_bytes() {
    assert!(name_from(&[b'a'; 63]).is_ok());
    assert_eq!(name_from(&[b'a'; 64]), Err(EncodeError::NameTooLong));
    assert_eq!(name_from(b"a\0b"), Err(EncodeError::NameTooLong));
    let body = TicketBody {
        name: name_from(&[b'z'; 63]).unwrap(),
        leader: 1,
        term: 2,
        valid_for: 3,
    };
    let mut buf = [0xAAu8; TICKET_BODY_LEN];
    body.emit(&mut buf).unwrap();
    assert_eq!(buf[63], 0);
    assert_eq!(TicketBody::parse(&buf).unwrap(), body);
    assert_eq!(TicketBody::parse(&buf[..75]), Err(DecodeError::MissingBody));
}

// ---- replay window ----

fn mac_n(n: u8) -> [u8; MAC_LEN] {
    [n; MAC_LEN]
}

const NOW_S: u64 = 1_800_000_000;
const PAST: Duration = Duration::from_secs(600);
const FUTURE: Duration = Duration::from_secs(60);

fn now() -> WallTime {
    WallTime(NOW_S * 1_000_000 + 250_000)
}

#[test]
fn replay_exact_replay_refused() {
    let mut w = ReplayWindow::new();
    let s = NOW_S as u32;
    assert_eq!(
        w.check(Stamp::unmarked(s, 5), &mac_n(1), now(), PAST, FUTURE),
        Ok(())
    );
    assert_eq!(
        w.check(Stamp::unmarked(s, 5), &mac_n(1), now(), PAST, FUTURE),
        Err(DecodeError::Replayed)
    );
    // the real thing: the §2.12 heartbeat, replayed
    let hb = heartbeat();
    let (m, mac) = parse_peer(&hb, Some(KEY)).unwrap();
    let at = WallTime::from_secs(u64::from(m.header.secs) + 1);
    let mut w = ReplayWindow::new();
    let mac = mac.unwrap();
    assert_eq!(
        w.check(
            Stamp::unmarked(m.header.secs, m.header.usecs),
            &mac,
            at,
            PAST,
            FUTURE
        ),
        Ok(())
    );
    assert_eq!(
        w.check(
            Stamp::unmarked(m.header.secs, m.header.usecs),
            &mac,
            at,
            PAST,
            FUTURE
        ),
        Err(DecodeError::Replayed)
    );
}

#[test]
fn replay_stale_and_future() {
    let mut w = ReplayWindow::new();
    let s = NOW_S as u32;
    assert_eq!(
        w.check(Stamp::unmarked(s - 700, 0), &mac_n(1), now(), PAST, FUTURE),
        Err(DecodeError::Stale)
    );
    assert_eq!(
        w.check(Stamp::unmarked(s - 500, 0), &mac_n(2), now(), PAST, FUTURE),
        Ok(())
    );
    assert_eq!(
        w.check(Stamp::unmarked(s - 600, 0), &mac_n(3), now(), PAST, FUTURE),
        Ok(())
    );
    assert_eq!(
        w.check(Stamp::unmarked(s - 601, 0), &mac_n(4), now(), PAST, FUTURE),
        Err(DecodeError::Stale)
    );
    assert_eq!(
        w.check(Stamp::unmarked(s + 60, 0), &mac_n(5), now(), PAST, FUTURE),
        Ok(())
    );
    assert_eq!(
        w.check(Stamp::unmarked(s + 61, 0), &mac_n(6), now(), PAST, FUTURE),
        Err(DecodeError::FromFuture)
    );
    assert_eq!(
        w.check(Stamp::unmarked(s + 5000, 0), &mac_n(7), now(), PAST, FUTURE),
        Err(DecodeError::FromFuture)
    );
    assert_eq!(
        w.check(Stamp::unmarked(0, 0), &mac_n(8), now(), PAST, FUTURE),
        Err(DecodeError::Stale)
    );
    assert_eq!(
        w.check(Stamp::unmarked(u32::MAX, 0), &mac_n(9), now(), PAST, FUTURE),
        Err(DecodeError::FromFuture)
    );
    // refused messages are not remembered
    assert_eq!(
        w.check(Stamp::unmarked(s, 0), &mac_n(1), now(), PAST, FUTURE),
        Ok(())
    );
    assert_eq!(w.cached_len(), 4);
}

#[test]
fn replay_accepts_booth_style_non_monotonic_pairs() {
    // wall secs with monotonic usecs: later messages may carry smaller pairs
    let mut w = ReplayWindow::new();
    let s = NOW_S as u32;
    let pairs = [
        (s, 900_000),
        (s, 100_000),
        (s - 30, 5),
        (s + 1, 3),
        (s + 1, 2),
    ];
    for (i, (secs, usecs)) in pairs.into_iter().enumerate() {
        assert_eq!(
            w.check(
                Stamp::unmarked(secs, usecs),
                &mac_n(i as u8),
                now(),
                PAST,
                FUTURE
            ),
            Ok(()),
            "{i}"
        );
    }
    assert_eq!(w.cached_len(), pairs.len());
    assert_eq!(w.floor(0), (0, 0));
}

#[test]
fn replay_cache_overflow_raises_the_floor() {
    let mut w = ReplayWindow::new();
    let s = NOW_S as u32;
    let n = replay::CACHE_LEN as u8;
    for i in 0..n {
        let st = Stamp::unmarked(s - 100 + u32::from(i), 0);
        assert_eq!(w.check(st, &mac_n(i), now(), PAST, FUTURE), Ok(()));
    }
    for i in 0..n {
        let st = Stamp::unmarked(s - 100 + u32::from(i), 0);
        assert_eq!(
            w.check(st, &mac_n(i), now(), PAST, FUTURE),
            Err(DecodeError::Replayed)
        );
    }
    // one more pushes out the oldest, which the floor still refuses
    let st = Stamp::unmarked(s, 0);
    assert_eq!(w.check(st, &mac_n(n), now(), PAST, FUTURE), Ok(()));
    assert_eq!(w.floor(0), (s - 100, u32::MAX));
    let first = Stamp::unmarked(s - 100, 0);
    assert_eq!(
        w.check(first, &mac_n(0), now(), PAST, FUTURE),
        Err(DecodeError::Replayed)
    );
    // a genuine message from the second after the floor still passes
    let next = Stamp::unmarked(s - 99, 7);
    assert_eq!(w.check(next, &mac_n(200), now(), PAST, FUTURE), Ok(()));
}

#[test]
fn stamper_is_strictly_increasing() {
    let mut st = Stamper::new();
    let a = st.stamp(WallTime(5_000_000_123));
    assert_eq!(a, (5_000, 123));
    let b = st.stamp(WallTime(5_000_000_123));
    assert_eq!(b, (5_000, 124));
    let c = st.stamp(WallTime(4_000_000_000)); // wall clock stepped back
    assert_eq!(c, (5_000, 125));
    let mut st = Stamper::new();
    st.stamp(WallTime(7_999_999));
    assert_eq!(st.stamp(WallTime(7_999_999)), (8, 0));
}

// ---- TCP client protocol ----

fn client_header() -> Header {
    Header {
        from: 0x7C16_0EFA,
        secs: 0x6B06_9629,
        usecs: 42,
        options: 2 | 4,
        ..Header::default()
    }
}

#[test]
fn client_ticket_requests_round_trip() {
    for cmd in [
        Command::List,
        Command::Peers,
        Command::Grant,
        Command::Revoke,
    ] {
        for key in [None, Some(KEY)] {
            let req = ClientRequest {
                header: client_header(),
                cmd,
                body: RequestBody::Ticket(TicketBody {
                    name: name("ticketA"),
                    ..TicketBody::default()
                }),
            };
            let mut out = [0u8; 400];
            let n = emit_client_request(&req, key, &mut out).unwrap();
            assert_eq!(n, if key.is_some() { 152 } else { 124 });
            assert_eq!(word(&out, 24), n as u32);
            assert_eq!(&out[28..32], &cmd.as_u32().to_be_bytes());
            assert_eq!(frame_len(&out[..48]), Ok(n));
            let (parsed, mac) = parse_client_request(&out[..n], key).unwrap();
            assert_eq!(parsed.cmd, cmd);
            assert_eq!(parsed.body, req.body);
            assert_eq!(parsed.header.options, 6);
            assert_eq!(mac.is_some(), key.is_some());
            // the stock CLI may send more bytes than `length`
            let (again, _) = parse_client_request(&out[..n + 28], key).unwrap();
            assert_eq!(again, parsed);
        }
    }
}

#[test]
fn client_attr_requests_round_trip() {
    let body = AttrBody {
        ticket: name("ticketA"),
        attr: name_from(b"dc").unwrap(),
        value: value_from(&[b'v'; 127]).unwrap(),
    };
    for cmd in [
        Command::AttrSet,
        Command::AttrGet,
        Command::AttrDel,
        Command::AttrList,
    ] {
        assert_eq!(request_body(cmd), Some(BodyKind::Attr));
        for key in [None, Some(KEY)] {
            let req = ClientRequest {
                header: client_header(),
                cmd,
                body: RequestBody::Attr(body.clone()),
            };
            let mut out = [0u8; 400];
            let n = emit_client_request(&req, key, &mut out).unwrap();
            assert_eq!(n, if key.is_some() { 332 } else { 304 });
            assert_eq!(&out[48..56], b"ticketA\0");
            assert_eq!(&out[112..115], b"dc\0");
            assert_eq!(out[176..303], [b'v'; 127]);
            assert_eq!(out[303], 0);
            let (parsed, _) = parse_client_request(&out[..n], key).unwrap();
            assert_eq!(
                parsed,
                ClientRequest {
                    header: parsed.header,
                    ..req
                }
            );
        }
    }
}

#[test]
fn attr_body_limits() {
    assert_eq!(VALUE_LEN, 128);
    assert!(value_from(&[b'v'; 127]).is_ok());
    assert_eq!(value_from(&[b'v'; 128]), Err(EncodeError::ValueTooLong));
    assert_eq!(value_from(b"a\0"), Err(EncodeError::ValueTooLong));

    let mut buf = [0u8; ATTR_BODY_LEN];
    AttrBody::default().emit(&mut buf).unwrap();
    assert_eq!(AttrBody::parse(&buf).unwrap(), AttrBody::default());
    assert_eq!(AttrBody::parse(&buf[..255]), Err(DecodeError::MissingBody));
    assert_eq!(
        AttrBody::default().emit(&mut [0u8; 255]),
        Err(EncodeError::BufferTooSmall)
    );
    // each of the three fields must be terminated inside itself
    for range in [0..64, 64..128, 128..256] {
        let mut b = buf;
        b[range].fill(b'x');
        assert_eq!(AttrBody::parse(&b), Err(DecodeError::NameNotTerminated));
    }
}

#[test]
fn client_request_errors() {
    let req = ClientRequest {
        header: client_header(),
        cmd: Command::Grant,
        body: RequestBody::Ticket(TicketBody {
            name: name("t"),
            ..TicketBody::default()
        }),
    };
    let mut out = [0u8; 200];
    let n = emit_client_request(&req, Some(KEY), &mut out).unwrap();
    let good = &out[..n].to_vec()[..];
    assert!(parse_client_request(good, Some(KEY)).is_ok());

    // unknown command: UnknownCommand so the daemon answers IArg
    let mut b = good.to_vec();
    set_word(&mut b, 28, 0x5858_5858);
    // ... but only once authenticated: a changed cmd breaks the MAC
    assert_eq!(
        parse_client_request(&b, Some(KEY)),
        Err(DecodeError::BadMac)
    );
    assert_eq!(
        parse_client_request(&b, None),
        Err(DecodeError::UnknownCommand(0x5858_5858))
    );
    // a peer command is not a client request
    let mut b = good.to_vec();
    set_word(&mut b, 28, Command::Heartbeat.as_u32());
    assert_eq!(
        parse_client_request(&b, None),
        Err(DecodeError::UnknownCommand(Command::Heartbeat.as_u32()))
    );

    assert_eq!(
        parse_client_request(&good[..151], Some(KEY)),
        Err(DecodeError::LengthMismatch {
            header: 152,
            actual: 151
        })
    );
    assert_eq!(
        parse_client_request(&good[..20], None),
        Err(DecodeError::TooShort)
    );
    let mut b = good.to_vec();
    set_word(&mut b, 24, 2000);
    assert_eq!(parse_client_request(&b, None), Err(DecodeError::TooLong));
    let mut b = good.to_vec();
    set_word(&mut b, 24, 47);
    assert_eq!(
        parse_client_request(&b, None),
        Err(DecodeError::LengthMismatch {
            header: 47,
            actual: 152
        })
    );

    // unsigned request to a daemon with a key
    let n = emit_client_request(&req, None, &mut out).unwrap();
    assert_eq!(
        parse_client_request(&out[..n], Some(KEY)),
        Err(DecodeError::MissingAuth)
    );
    // header-only grant
    let mut b = out[..48].to_vec();
    set_word(&mut b, 24, 48);
    assert_eq!(
        parse_client_request(&b, None),
        Err(DecodeError::MissingBody)
    );
    // signed, but the signature leaves no room for the body
    let mut b = [0u8; 76];
    let mut h = client_header();
    h.cmd = Command::Grant.as_u32();
    h.length = 76;
    h.opts = OPT_AUTH;
    h.emit(&mut b).unwrap();
    let (head, trailer) = b.split_at_mut(48);
    auth::sign(KEY, head, trailer).unwrap();
    assert_eq!(
        parse_client_request(&b, Some(KEY)),
        Err(DecodeError::MissingBody)
    );
    // a hid-0 trailer on a client request
    let mut b = good.to_vec();
    set_word(&mut b, 124, 0);
    assert_eq!(
        parse_client_request(&b, Some(KEY)),
        Err(DecodeError::BadHashId(0))
    );
}

#[test]
fn result_replies_round_trip() {
    let ticket = TicketBody {
        name: name("ticketA"),
        leader: 0x0B11_3E6C,
        term: 4,
        valid_for: 0,
    };
    for key in [None, Some(KEY)] {
        let extra = if key.is_some() { 28 } else { 0 };
        let mut out = [0u8; 200];
        let n = emit_result_reply(
            &client_header(),
            ResultCode::Redirect,
            Some(&ticket),
            key,
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 124 + extra);
        assert_eq!(&out[28..32], b"Rslt");
        assert_eq!(&out[44..48], b"Redr");
        let (reply, mac) = parse_reply(&out[..n], key).unwrap();
        assert_eq!(reply.cmd, Command::ClResult);
        assert_eq!(reply.result(), Some(ResultCode::Redirect));
        assert_eq!(reply.ticket.as_ref(), Some(&ticket));
        assert!(reply.text.is_empty());
        assert_eq!(mac.is_some(), key.is_some());

        let n = emit_result_reply(&client_header(), ResultCode::Auth, None, key, &mut out).unwrap();
        assert_eq!(n, 48 + extra);
        let (reply, _) = parse_reply(&out[..n], key).unwrap();
        assert_eq!(reply.ticket, None);
        assert_eq!(reply.result(), Some(ResultCode::Auth));
        // a keyless client reading a signed reply skips the trailer
        let (reply, mac) = parse_reply(&out[..n], None).unwrap();
        assert_eq!((reply.ticket, mac), (None, None));
    }
    let mut small = [0u8; 75];
    assert_eq!(
        emit_result_reply(
            &client_header(),
            ResultCode::Success,
            None,
            Some(KEY),
            &mut small
        ),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn text_reply_with_auth_signs_header_only() {
    let text = b"ticket: ticketA, leader: 127.0.0.2, expires: 2027-01-15 08:00:00\n";
    let mut out = [0u8; 300];
    let n = emit_text_reply(&client_header(), Command::ClList, text, Some(KEY), &mut out).unwrap();
    assert_eq!(n, 76 + text.len());
    assert_eq!(word(&out, 24), n as u32);
    assert_eq!(word(&out, 0), OPT_AUTH);
    assert_eq!(word(&out, 48), HASH_ID_SHA1);
    // the MAC covers the 48-byte header only
    assert_eq!(auth::mac(KEY, &out[..48])[..], out[52..72]);
    assert_eq!(&out[72..76], &[0u8; 4]);
    assert_eq!(&out[76..n], text);

    let (reply, mac) = parse_reply(&out[..n], Some(KEY)).unwrap();
    assert_eq!(reply.cmd, Command::ClList);
    assert_eq!(reply.text, text);
    assert_eq!(mac.unwrap()[..], out[52..72]);
    // the text is not authenticated (booth-protocol §10.2 #15) ...
    let mut b = out;
    b[80] ^= 1;
    assert!(parse_reply(&b[..n], Some(KEY)).is_ok());
    // ... the header is
    let mut b = out;
    b[44] ^= 1;
    assert_eq!(
        parse_reply(&b[..n], Some(KEY)).unwrap_err(),
        DecodeError::BadMac
    );
    // keyless: the trailer is skipped, not shown as text
    assert_eq!(parse_reply(&out[..n], None).unwrap().0.text, text);

    // unsigned text reply; AGet value
    let n = emit_text_reply(&client_header(), Command::AttrGet, b"dc1\n", None, &mut out).unwrap();
    assert_eq!(n, 52);
    let (reply, _) = parse_reply(&out[..n], None).unwrap();
    assert_eq!((reply.cmd, reply.text), (Command::AttrGet, &b"dc1\n"[..]));
    assert_eq!(
        parse_reply(&out[..n], Some(KEY)).unwrap_err(),
        DecodeError::MissingAuth
    );

    // longer than a request may be: replies are not capped at 1024
    let long = [b'x'; 2000];
    let mut big = [0u8; 2100];
    let n = emit_text_reply(
        &client_header(),
        Command::AttrList,
        &long,
        Some(KEY),
        &mut big,
    )
    .unwrap();
    assert_eq!(
        parse_reply(&big[..n], Some(KEY)).unwrap().0.text.len(),
        2000
    );
    assert_eq!(
        emit_text_reply(&client_header(), Command::ClList, &long, None, &mut out),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn reply_errors() {
    let mut out = [0u8; 200];
    let n = emit_result_reply(
        &client_header(),
        ResultCode::Success,
        None,
        Some(KEY),
        &mut out,
    )
    .unwrap();
    let mut b = out;
    set_word(&mut b, 28, Command::Heartbeat.as_u32());
    assert_eq!(
        parse_reply(&b[..n], None),
        Err(DecodeError::UnknownCommand(Command::Heartbeat.as_u32()))
    );
    assert_eq!(
        parse_reply(&out[..n - 1], Some(KEY)),
        Err(DecodeError::LengthMismatch {
            header: 76,
            actual: 75
        })
    );
    let mut b = out;
    b[60] ^= 1;
    assert_eq!(parse_reply(&b[..n], Some(KEY)), Err(DecodeError::BadMac));
    assert_eq!(
        parse_reply(&out[..n], Some(b"other key")),
        Err(DecodeError::BadMac)
    );
}
