//! The TCP protocol between the CLI (`booth`, `geostore`) and a daemon
//! (booth-protocol.md §2.4–§2.6, §2.10): one request per connection, then one
//! or more replies.
//!
//! Requests: header + ticket body (list, peers, grant, revoke) or attribute
//! body (geostore) [+ trailer]. Replies: `Rslt` with or without a ticket
//! body [+ trailer], or text (`RLst`, `AGet`, `ALst`) where the trailer sits
//! *between* header and text and the MAC covers only the header.

use super::attr::AttrBody;
use super::{
    auth, Command, DecodeError, EncodeError, Header, ResultCode, TicketBody, ATTR_BODY_LEN,
    HEADER_LEN, MAC_LEN, MAX_MSG_LEN, OPT_AUTH, TICKET_BODY_LEN, TICKET_MSG_LEN, TRAILER_LEN,
};

defmt_derive! {
/// Which body a client request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Ticket,
    Attr,
}
}

impl BodyKind {
    /// Body size on the wire.
    pub const fn size(self) -> usize {
        match self {
            BodyKind::Ticket => TICKET_BODY_LEN,
            BodyKind::Attr => ATTR_BODY_LEN,
        }
    }
}

/// The body a client request command carries; `None` for commands a client
/// may not send (the daemon answers those with `RLT_INVALID_ARG`).
pub const fn request_body(cmd: Command) -> Option<BodyKind> {
    match cmd {
        Command::List | Command::Peers | Command::Grant | Command::Revoke => Some(BodyKind::Ticket),
        Command::AttrSet | Command::AttrGet | Command::AttrDel | Command::AttrList => {
            Some(BodyKind::Attr)
        }
        _ => None,
    }
}

defmt_derive! {
/// A client request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    Ticket(TicketBody),
    Attr(AttrBody),
}
}

impl RequestBody {
    pub const fn kind(&self) -> BodyKind {
        match self {
            RequestBody::Ticket(_) => BodyKind::Ticket,
            RequestBody::Attr(_) => BodyKind::Attr,
        }
    }

    fn emit(&self, buf: &mut [u8]) -> Result<(), EncodeError> {
        match self {
            RequestBody::Ticket(t) => t.emit(buf),
            RequestBody::Attr(a) => a.emit(buf),
        }
    }
}

defmt_derive! {
/// A request from a CLI client. `header.cmd` and `cmd` agree after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    pub header: Header,
    pub cmd: Command,
    /// Must match [`request_body`] of `cmd`: [`emit_client_request`] writes
    /// whatever it is given.
    pub body: RequestBody,
}
}

defmt_derive! {
/// A daemon's reply as the CLI sees it; `text` borrows from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientReply<'a> {
    pub header: Header,
    pub cmd: Command,
    /// Present in `Rslt` replies to grant and revoke (`leader` = redirect target).
    pub ticket: Option<TicketBody>,
    /// Text of `RLst`, `AGet` and `ALst` replies; empty otherwise. Only the
    /// header is authenticated, never the text (§10.2 #15): treat as untrusted.
    pub text: &'a [u8],
}
}

impl ClientReply<'_> {
    /// `result` as a known code.
    pub const fn result(&self) -> Option<ResultCode> {
        ResultCode::from_u32(self.header.result)
    }
}

/// Size of the message whose header starts `buf`, for a stream reader that
/// has the first 48 bytes: checks magic, version and `length` ≥ 48. Requests
/// must also be ≤ 1024 ([`parse_client_request`] checks); replies need not.
pub fn frame_len(buf: &[u8]) -> Result<usize, DecodeError> {
    let header = Header::parse(buf)?;
    length_of(&header, buf.len())
}

fn length_of(header: &Header, actual: usize) -> Result<usize, DecodeError> {
    let length = usize::try_from(header.length).unwrap_or(usize::MAX);
    if length < HEADER_LEN {
        return Err(mismatch(header, actual));
    }
    Ok(length)
}

fn mismatch(header: &Header, actual: usize) -> DecodeError {
    DecodeError::LengthMismatch {
        header: header.length,
        actual: u32::try_from(actual).unwrap_or(u32::MAX),
    }
}

/// The message proper, `buf[..length]`, after checking 48 ≤ `length` ≤ `max`
/// ([`DecodeError::TooLong`]) and that `buf` holds all of it.
fn message(buf: &[u8], max: usize) -> Result<(Header, &[u8]), DecodeError> {
    let header = Header::parse(buf)?;
    let length = length_of(&header, buf.len())?;
    if length > max {
        return Err(DecodeError::TooLong);
    }
    let msg = buf.get(..length).ok_or(mismatch(&header, buf.len()))?;
    Ok((header, msg))
}

/// Where authentication puts the trailer.
#[derive(Clone, Copy)]
enum TrailerAt {
    /// At the end; the MAC covers everything before it.
    End,
    /// Right after the header; the MAC covers the header only (text replies).
    AfterHeader,
}

/// Verifies the trailer of `msg` when we have a key. Returns the end of the
/// content that precedes the trailer (or of all content without one), the
/// start of any text, and the MAC.
fn authenticate(
    header: &Header,
    msg: &[u8],
    key: Option<&[u8]>,
    at: TrailerAt,
) -> Result<(usize, usize, Option<[u8; MAC_LEN]>), DecodeError> {
    let len = msg.len();
    // A keyless receiver still skips a trailer the sender announced.
    let signed = header.has_auth() && len >= HEADER_LEN + TRAILER_LEN;
    let (content_end, text_start, trailer) = match (signed, at) {
        (false, _) => (len, HEADER_LEN, None),
        (true, TrailerAt::End) => (len - TRAILER_LEN, len, Some(len - TRAILER_LEN)),
        (true, TrailerAt::AfterHeader) => (HEADER_LEN, HEADER_LEN + TRAILER_LEN, Some(HEADER_LEN)),
    };
    let mac = match (key, trailer) {
        (None, _) => None,
        (Some(_), None) => return Err(DecodeError::MissingAuth),
        (Some(key), Some(at)) => {
            let signed = msg.get(..at).ok_or(DecodeError::MissingAuth)?;
            let trailer = msg.get(at..).ok_or(DecodeError::MissingAuth)?;
            Some(auth::verify(key, signed, trailer)?)
        }
    };
    Ok((content_end, text_start, mac))
}

/// Parses a request as a daemon receives it. Checks, in order: header (size,
/// magic, version); 48 ≤ `length` ≤ `buf.len()` (bytes after `length` are
/// ignored: the stock CLI may send more) and `length` ≤ 1024
/// ([`DecodeError::TooLong`], checked first); then with a `key` the trailer
/// at the end, before the command is looked at, so a forged request is
/// answered `RLT_AUTH` and parsed no further; `cmd` a client request
/// ([`DecodeError::UnknownCommand`]: answer `RLT_INVALID_ARG`); body present
/// and its names NUL-terminated.
///
/// Returns the MAC when authenticated; the caller applies the timestamp rule
/// ([`super::ReplayWindow`]).
pub fn parse_client_request(
    buf: &[u8],
    key: Option<&[u8]>,
) -> Result<(ClientRequest, Option<[u8; MAC_LEN]>), DecodeError> {
    let (header, msg) = message(buf, MAX_MSG_LEN)?;
    let (content_end, _, mac) = authenticate(&header, msg, key, TrailerAt::End)?;
    let cmd = Command::from_u32(header.cmd).ok_or(DecodeError::UnknownCommand(header.cmd))?;
    let kind = request_body(cmd).ok_or(DecodeError::UnknownCommand(header.cmd))?;
    let body_bytes = msg
        .get(HEADER_LEN..content_end)
        .filter(|b| b.len() >= kind.size())
        .ok_or(DecodeError::MissingBody)?;
    let body = match kind {
        BodyKind::Ticket => RequestBody::Ticket(TicketBody::parse(body_bytes)?),
        BodyKind::Attr => RequestBody::Attr(AttrBody::parse(body_bytes)?),
    };
    Ok((ClientRequest { header, cmd, body }, mac))
}

/// Writes `header` with `cmd`, `length` and `OPT_AUTH` filled in.
fn emit_header(
    header: &Header,
    cmd: Command,
    len: usize,
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<(), EncodeError> {
    let mut header = *header;
    header.cmd = cmd.as_u32();
    header.length = u32::try_from(len).map_err(|_| EncodeError::ValueTooLong)?;
    header.opts = match key {
        Some(_) => header.opts | OPT_AUTH,
        None => header.opts & !OPT_AUTH,
    };
    header.emit(out)
}

/// Signs `out[..len]` with the trailer at its end, if there is a key.
fn sign_end(key: Option<&[u8]>, out: &mut [u8], len: usize) -> Result<(), EncodeError> {
    if let Some(key) = key {
        let msg = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
        let at = len
            .checked_sub(TRAILER_LEN)
            .ok_or(EncodeError::BufferTooSmall)?;
        let (signed, trailer) = msg.split_at_mut(at);
        auth::sign(key, signed, trailer)?;
    }
    Ok(())
}

const fn trailer_len(key: Option<&[u8]>) -> usize {
    match key {
        Some(_) => TRAILER_LEN,
        None => 0,
    }
}

/// Encodes a request: header (with `cmd`, `length`, `OPT_AUTH` set here;
/// timestamps as given), body and, with a key, the trailer. Returns the size:
/// 124/152 with a ticket body, 304/332 with an attribute body.
pub fn emit_client_request(
    req: &ClientRequest,
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let body_end = HEADER_LEN + req.body.kind().size();
    let len = body_end + trailer_len(key);
    let msg = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    let (head, rest) = msg.split_at_mut(HEADER_LEN);
    emit_header(&req.header, req.cmd, len, key, head)?;
    req.body.emit(rest)?;
    sign_end(key, msg, len)?;
    Ok(len)
}

/// Encodes a `Rslt` reply carrying `result`, with the ticket body for grant
/// and revoke, header only otherwise. `header` supplies `from`, timestamps
/// and the rest; `cmd`, `result`, `length` and `OPT_AUTH` are set here.
/// Returns the size: 48/76 header only, 124/152 with a ticket.
pub fn emit_result_reply(
    header: &Header,
    result: ResultCode,
    ticket: Option<&TicketBody>,
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let body_end = match ticket {
        Some(_) => TICKET_MSG_LEN,
        None => HEADER_LEN,
    };
    let len = body_end + trailer_len(key);
    let msg = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    let (head, rest) = msg.split_at_mut(HEADER_LEN);
    let mut header = *header;
    header.result = result.as_u32();
    emit_header(&header, Command::ClResult, len, key, head)?;
    if let Some(ticket) = ticket {
        ticket.emit(rest)?;
    }
    sign_end(key, msg, len)?;
    Ok(len)
}

/// Encodes a text reply (`cmd` = `RLst`, `AGet` or `ALst`): header, then with
/// a key the trailer over the header alone, then `text`. `length` counts
/// everything. Returns the size: 48 + n, or 76 + n with a key.
pub fn emit_text_reply(
    header: &Header,
    cmd: Command,
    text: &[u8],
    key: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let text_start = HEADER_LEN + trailer_len(key);
    let len = text_start
        .checked_add(text.len())
        .ok_or(EncodeError::ValueTooLong)?;
    let msg = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
    let (head, rest) = msg.split_at_mut(HEADER_LEN);
    emit_header(header, cmd, len, key, head)?;
    let (trailer, body) = rest.split_at_mut(text_start - HEADER_LEN);
    body.copy_from_slice(text);
    if let Some(key) = key {
        auth::sign(key, head, trailer)?;
    }
    Ok(len)
}

/// Parses a reply as the CLI receives it: header; 48 ≤ `length` ≤
/// `buf.len()` (no 1024 cap: lists can be long); `cmd` one of `Rslt`, `RLst`,
/// `AGet`, `ALst`; with a `key` the trailer (at the end for `Rslt`, after the
/// header for text); for `Rslt` a ticket body when there is room for one.
pub fn parse_reply<'a>(
    buf: &'a [u8],
    key: Option<&[u8]>,
) -> Result<(ClientReply<'a>, Option<[u8; MAC_LEN]>), DecodeError> {
    let (header, msg) = message(buf, usize::MAX)?;
    let cmd = Command::from_u32(header.cmd).ok_or(DecodeError::UnknownCommand(header.cmd))?;
    let at = match cmd {
        Command::ClResult => TrailerAt::End,
        Command::ClList | Command::AttrGet | Command::AttrList => TrailerAt::AfterHeader,
        _ => return Err(DecodeError::UnknownCommand(header.cmd)),
    };
    let (content_end, text_start, mac) = authenticate(&header, msg, key, at)?;
    let (ticket, text) = match at {
        TrailerAt::End => {
            let ticket = match msg.get(HEADER_LEN..content_end) {
                Some(body) if body.len() >= TICKET_BODY_LEN => Some(TicketBody::parse(body)?),
                _ => None,
            };
            (ticket, &[][..])
        }
        TrailerAt::AfterHeader => (None, msg.get(text_start..).unwrap_or(&[])),
    };
    Ok((
        ClientReply {
            header,
            cmd,
            ticket,
            text,
        },
        mac,
    ))
}
