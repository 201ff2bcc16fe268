//! Raw protocol access for tests and measurements: a `booth list` over TCP
//! without spawning the client, and peer datagrams built with booth-core's
//! codec (validly signed, or signed with another key, for bad-input tests).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use booth_core::wire::client::{self, ClientRequest, RequestBody};
use booth_core::wire::peer::{emit_peer, PeerMessage};
use booth_core::wire::ticket::name_from;
use booth_core::wire::{Command, Header, TicketBody};

/// A header stamped now (wall seconds and microseconds), from `from`.
pub fn header_now(from: u32) -> Header {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Header {
        from,
        secs: now.as_secs() as u32,
        usecs: now.subsec_micros(),
        ..Header::default()
    }
}

/// The bytes of a client request for `cmd` on `ticket` (empty for list/peers).
pub fn client_request(cmd: Command, ticket: &str, key: Option<&[u8]>) -> Vec<u8> {
    let req = ClientRequest {
        header: header_now(0),
        cmd,
        body: RequestBody::Ticket(TicketBody {
            name: name_from(ticket.as_bytes()).expect("ticket name fits"),
            ..TicketBody::default()
        }),
    };
    let mut buf = [0u8; 1024];
    let n = client::emit_client_request(&req, key, &mut buf).expect("request fits");
    buf[..n].to_vec()
}

/// Sends `request` on `stream`, returns every reply (command, result code,
/// text) until the daemon closes, or what went wrong.
pub fn exchange(
    stream: std::io::Result<TcpStream>,
    request: &[u8],
    key: Option<&[u8]>,
    timeout: Duration,
) -> Result<Vec<(Command, u32, String)>, String> {
    let mut s = stream.map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(request).map_err(|e| format!("send: {e}"))?;
    let mut data = Vec::new();
    s.read_to_end(&mut data)
        .map_err(|e| format!("receive: {e}"))?;
    let mut out = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let len = client::frame_len(rest).map_err(|e| format!("reply frame: {e}"))?;
        if len > rest.len() {
            return Err(format!("truncated reply ({} of {len} bytes)", rest.len()));
        }
        let (r, _) = client::parse_reply(&rest[..len], key).map_err(|e| format!("reply: {e}"))?;
        out.push((
            r.cmd,
            r.header.result,
            String::from_utf8_lossy(r.text).into_owned(),
        ));
        rest = &rest[len..];
    }
    Ok(out)
}

/// `booth list` text of the daemon at `addr`, straight over TCP.
pub fn list_text(
    connect: impl FnOnce(SocketAddr) -> std::io::Result<TcpStream>,
    addr: SocketAddr,
    key: Option<&[u8]>,
    timeout: Duration,
) -> Result<String, String> {
    let req = client_request(Command::List, "", key);
    let replies = exchange(connect(addr), &req, key, timeout)?;
    match replies.as_slice() {
        [(Command::ClList, _, text)] => Ok(text.clone()),
        other => Err(format!("unexpected list reply: {other:?}")),
    }
}

/// A peer message from `from` (a site ID) about `ticket`, signed with `key`.
pub fn peer_datagram(
    cmd: Command,
    from: u32,
    ticket: &str,
    leader: u32,
    term: u32,
    valid_for: u32,
    key: Option<&[u8]>,
) -> Vec<u8> {
    let msg = PeerMessage {
        header: header_now(from),
        cmd,
        body: TicketBody {
            name: name_from(ticket.as_bytes()).expect("ticket name fits"),
            leader,
            term,
            valid_for,
        },
    };
    let mut buf = [0u8; 256];
    let n = emit_peer(&msg, key, &mut buf).expect("datagram fits");
    buf[..n].to_vec()
}
