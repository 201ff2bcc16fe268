//! UDP messages between members: header + ticket body [+ trailer], 124 or
//! 152 bytes (booth-protocol.md §2.5, §2.10).

use super::{
    auth, Command, DecodeError, EncodeError, Header, TicketBody, HEADER_LEN, MAC_LEN, MAX_MSG_LEN,
    OPT_AUTH, TICKET_MSG_LEN, TRAILER_LEN,
};

defmt_derive! {
/// A peer message. `header.cmd` and `cmd` agree after [`parse_peer`];
/// [`emit_peer`] writes `cmd`, `length` and the `OPT_AUTH` bit itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMessage {
    pub header: Header,
    pub cmd: Command,
    pub body: TicketBody,
}
}

/// Commands members exchange over UDP (the others belong to the TCP client
/// protocol; booth would log and drop them).
pub const fn is_peer_command(cmd: Command) -> bool {
    matches!(
        cmd,
        Command::Status
            | Command::MyIndex
            | Command::ReqVote
            | Command::VoteFor
            | Command::Heartbeat
            | Command::Ack
            | Command::Update
            | Command::Revoked
            | Command::Rejected
    )
}

/// Validates, in this order, before reading any other field: datagram ≥ 48
/// bytes; magic; version; `length` == datagram size; `length` ≤ 1024; `cmd`
/// known; body present; name NUL-terminated. Then, with a `key`: `OPT_AUTH`
/// set and a trailer after the body ([`DecodeError::MissingAuth`]), `hid` 2
/// ([`DecodeError::BadHashId`]), HMAC-SHA1 over `[0, length - 28)` compared
/// in constant time ([`DecodeError::BadMac`]). Without a key any trailer is
/// ignored, as booth does.
///
/// Returns the message and, when authenticated, its MAC for
/// [`super::ReplayWindow::check`] (which the caller must still apply).
pub fn parse_peer(
    datagram: &[u8],
    key: Option<&[u8]>,
) -> Result<(PeerMessage, Option<[u8; MAC_LEN]>), DecodeError> {
    let header = Header::parse(datagram)?;
    let actual = u32::try_from(datagram.len()).unwrap_or(u32::MAX);
    if header.length != actual {
        return Err(DecodeError::LengthMismatch {
            header: header.length,
            actual,
        });
    }
    // `length` equals the datagram size from here on, so it indexes `datagram`.
    let length = datagram.len();
    if length > MAX_MSG_LEN {
        return Err(DecodeError::TooLong);
    }
    let cmd = Command::from_u32(header.cmd).ok_or(DecodeError::UnknownCommand(header.cmd))?;
    let body_bytes = datagram
        .get(HEADER_LEN..TICKET_MSG_LEN)
        .ok_or(DecodeError::MissingBody)?;
    let body = TicketBody::parse(body_bytes)?;

    let mac = match key {
        None => None,
        Some(key) => {
            if !header.has_auth() || length < TICKET_MSG_LEN + TRAILER_LEN {
                return Err(DecodeError::MissingAuth);
            }
            let (signed, trailer) = datagram.split_at(length - TRAILER_LEN);
            Some(auth::verify(key, signed, trailer)?)
        }
    };
    Ok((PeerMessage { header, cmd, body }, mac))
}

/// Encodes header + body and, with a `key`, the trailer (hid 2, HMAC-SHA1
/// over the first 124 bytes, 4 zero bytes). Fills `header.length`, sets
/// `header.cmd` from `msg.cmd` and sets or clears `OPT_AUTH`; `secs`/`usecs`
/// are written as given. Returns the bytes written: 124, or 152 with a key.
pub fn emit_peer(
    msg: &PeerMessage,
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let len = match key {
        Some(_) => TICKET_MSG_LEN + TRAILER_LEN,
        None => TICKET_MSG_LEN,
    };
    let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    let mut header = msg.header;
    header.cmd = msg.cmd.as_u32();
    // `len` is 124 or 152: the cast cannot truncate.
    header.length = len as u32;
    header.opts = match key {
        Some(_) => header.opts | OPT_AUTH,
        None => header.opts & !OPT_AUTH,
    };
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    header.emit(head)?;
    msg.body.emit(rest)?;
    if let Some(key) = key {
        let (signed, trailer) = out.split_at_mut(TICKET_MSG_LEN);
        auth::sign(key, signed, trailer)?;
    }
    Ok(len)
}
