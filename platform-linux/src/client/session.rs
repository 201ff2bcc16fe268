//! Building requests and reading replies for one client run: the header
//! (`from` = the local member's ID, or 0 when unknown; wall-clock stamps that
//! strictly increase within the process), the HMAC trailer when the
//! configuration has an authfile, and reply authentication.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use booth_core::wire::auth::Stamper;
use booth_core::wire::client::{emit_client_request, parse_reply, ClientRequest, RequestBody};
use booth_core::wire::{Command, DecodeError, Header, ResultCode, TicketBody, MAX_MSG_LEN};
use booth_core::WallTime;

use super::connection::{ConnError, Connection};
use super::output::{msg, Log};

/// A reply as the commands use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub cmd: Command,
    /// Raw `result` (0 = success).
    pub result: u32,
    pub ticket: Option<TicketBody>,
    /// Text of list, peers and geostore replies (unauthenticated, §10.2 #15).
    pub text: Vec<u8>,
}

/// A failed exchange.
#[derive(Debug)]
pub enum ExchangeError {
    Conn(ConnError),
    /// The reply did not authenticate with our key, or was unsigned.
    /// `refused`: its (unverified) header says the daemon refused our
    /// request as unauthenticated, i.e. the keys differ.
    Auth {
        addr: SocketAddr,
        err: DecodeError,
        refused: bool,
    },
    /// A well-formed booth message that is not a client reply.
    Unexpected {
        addr: SocketAddr,
        err: DecodeError,
    },
    /// The request could not be built (a name too long...).
    Encode(String),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Conn(e) => e.fmt(f),
            ExchangeError::Auth {
                addr,
                refused: true,
                ..
            } => write!(
                f,
                "{} (the daemon at {} port {} refused our request, and its reply does not \
                 verify with our key: is the authfile the same on all members?)",
                msg::AUTH,
                addr.ip(),
                addr.port()
            ),
            ExchangeError::Auth {
                addr,
                err: DecodeError::MissingAuth,
                ..
            } => write!(
                f,
                "the reply from {} port {} is not signed although our configuration has an \
                 authfile; does the daemon use the same authfile?",
                addr.ip(),
                addr.port()
            ),
            ExchangeError::Auth { addr, err, .. } => write!(
                f,
                "the reply from {} port {} failed authentication ({err}); do all members \
                 use the same authfile?",
                addr.ip(),
                addr.port()
            ),
            ExchangeError::Unexpected { addr, err } => write!(
                f,
                "unexpected reply from {} port {}: {err}",
                addr.ip(),
                addr.port()
            ),
            ExchangeError::Encode(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ExchangeError {}

impl From<ConnError> for ExchangeError {
    fn from(e: ConnError) -> Self {
        ExchangeError::Conn(e)
    }
}

/// Client state shared by every request of one run.
#[derive(Debug)]
pub struct Session {
    pub log: Log,
    key: Option<Vec<u8>>,
    /// Our `from`: the local member's ID, 0 when not known.
    from: u32,
    stamper: Stamper,
    /// Per-reply deadline; `None` = for ever.
    pub read_timeout: Option<Duration>,
}

fn wall_now() -> WallTime {
    let us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    WallTime(us)
}

impl Session {
    pub fn new(log: Log, key: Option<Vec<u8>>, from: u32, read_timeout: Option<Duration>) -> Self {
        Session {
            log,
            key,
            from,
            stamper: Stamper::new(),
            read_timeout,
        }
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The request bytes. Without a key the timestamps stay 0, as booth
    /// sends them; with one they are wall time, strictly increasing.
    pub fn encode(
        &mut self,
        cmd: Command,
        body: RequestBody,
        options: u32,
    ) -> Result<Vec<u8>, ExchangeError> {
        let (secs, usecs) = match self.key {
            Some(_) => self.stamper.stamp(wall_now()),
            None => (0, 0),
        };
        let req = ClientRequest {
            header: Header {
                secs,
                usecs,
                from: self.from,
                options,
                ..Header::default()
            },
            cmd,
            body,
        };
        let mut buf = [0u8; MAX_MSG_LEN];
        let n = emit_client_request(&req, self.key.as_deref(), &mut buf)
            .map_err(|e| ExchangeError::Encode(format!("cannot build the request: {e}")))?;
        Ok(buf[..n].to_vec())
    }

    /// Connects to `addr` and sends one request.
    pub fn send(
        &mut self,
        addr: SocketAddr,
        cmd: Command,
        body: RequestBody,
        options: u32,
    ) -> Result<Connection, ExchangeError> {
        let bytes = self.encode(cmd, body, options)?;
        self.log.debug(|| {
            format!(
                "connecting to {} port {} ({} request, {} bytes{})",
                addr.ip(),
                addr.port(),
                fourcc(cmd.as_u32()),
                bytes.len(),
                if self.key.is_some() { ", signed" } else { "" }
            )
        });
        let mut conn = Connection::open(addr, self.read_timeout)?;
        conn.send(&bytes)?;
        Ok(conn)
    }

    /// Reads and checks the next reply.
    pub fn reply(&self, conn: &mut Connection) -> Result<Reply, ExchangeError> {
        let buf = conn.recv()?;
        let addr = conn.addr();
        let (r, _mac) = parse_reply(&buf, self.key.as_deref()).map_err(|err| {
            if err.is_auth_failure() {
                // Only to choose the message: this header is not trusted.
                let refused = parse_reply(&buf, None)
                    .is_ok_and(|(r, _)| r.result() == Some(ResultCode::Auth));
                ExchangeError::Auth { addr, err, refused }
            } else {
                ExchangeError::Unexpected { addr, err }
            }
        })?;
        let reply = Reply {
            cmd: r.cmd,
            result: r.header.result,
            ticket: r.ticket,
            text: r.text.to_vec(),
        };
        self.log.debug(|| {
            format!(
                "reply {} result {} ({} bytes)",
                fourcc(reply.cmd.as_u32()),
                result_name(reply.result),
                buf.len()
            )
        });
        Ok(reply)
    }
}

/// A four-character code as text (`"More"`), or hex when not printable.
pub fn fourcc(v: u32) -> String {
    let b = v.to_be_bytes();
    if b.iter().all(|c| c.is_ascii_graphic()) {
        b.iter().map(|&c| char::from(c)).collect()
    } else {
        format!("{v:#x}")
    }
}

/// A result code for messages: `0` or its four characters.
pub fn result_name(v: u32) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        fourcc(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::wire::client::parse_client_request;
    use booth_core::wire::client::BodyKind;

    #[test]
    fn signed_requests_carry_increasing_stamps_and_our_id() {
        let mut s = Session::new(
            Log::new("booth", 0),
            Some(b"0123456789abcdef".to_vec()),
            42,
            None,
        );
        let body = || RequestBody::Ticket(TicketBody::default());
        let a = s.encode(Command::List, body(), 0).unwrap();
        let b = s.encode(Command::List, body(), 0).unwrap();
        assert_eq!(a.len(), 152);
        let (ra, _) = parse_client_request(&a, Some(b"0123456789abcdef")).unwrap();
        let (rb, _) = parse_client_request(&b, Some(b"0123456789abcdef")).unwrap();
        assert_eq!(ra.header.from, 42);
        assert!((rb.header.secs, rb.header.usecs) > (ra.header.secs, ra.header.usecs));
        assert!(ra.header.secs > 1_600_000_000);
        assert_eq!(ra.body.kind(), BodyKind::Ticket);
    }

    #[test]
    fn unsigned_requests_have_zero_stamps() {
        let mut s = Session::new(Log::new("booth", 0), None, 0, None);
        let a = s
            .encode(
                Command::Grant,
                RequestBody::Ticket(TicketBody::default()),
                5,
            )
            .unwrap();
        assert_eq!(a.len(), 124);
        let (r, _) = parse_client_request(&a, None).unwrap();
        assert_eq!((r.header.secs, r.header.usecs, r.header.options), (0, 0, 5));
    }

    #[test]
    fn codes_as_text() {
        assert_eq!(fourcc(0x4D6F_7265), "More");
        assert_eq!(result_name(0), "0");
        assert_eq!(fourcc(0x0102_0304), "0x1020304");
    }
}
