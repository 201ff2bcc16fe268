//! The TCP side of the port: booth clients (`booth list/grant/revoke/peers`,
//! `geostore`). Non-blocking everywhere, so a slow or silent client never
//! stalls the protocol loop (§10.3 #22): at most [`MAX_CONNS`] connections,
//! one request of at most 1024 bytes each, its header within
//! [`FIRST_BYTES_MS`] and all of it within [`READ_TIMEOUT_MS`], replies
//! flushed within [`WRITE_TIMEOUT_MS`].
//!
//! No key is needed to connect, so connections that have not yet delivered a
//! request must never lock an admin out. A real client sends its whole
//! request right after connecting; an idle or dribbling connection is what a
//! flood looks like. So a full table makes room for a newcomer by dropping
//! the oldest connection still reading (first from the source with the most
//! of them), each connection is read as soon as it is accepted, and one
//! source holds at most [`MAX_READING_PER_SOURCE`] reading connections.
//! Connections with a request handed over (answered, or a grant waiting for
//! its outcome) are never dropped for a newcomer.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use booth_core::wire::{client, DecodeError, HEADER_LEN, MAX_MSG_LEN};
use booth_core::{Duration, Instant};
use socket2::{Domain, Protocol, Socket, Type};

/// Concurrent client connections.
pub const MAX_CONNS: usize = 128;
/// Connections still reading their request, from one source address.
pub const MAX_READING_PER_SOURCE: usize = 32;
/// Connections accepted per readiness of the listener, so that a burst of
/// newcomers cannot push out a client accepted in the same burst before its
/// request (already sent) is read.
const ACCEPT_BATCH: usize = 16;
/// Time a client has to send the request header (booth's client sends its
/// whole request at once).
pub const FIRST_BYTES_MS: u64 = 1_000;
/// Time a client has to send its whole request.
pub const READ_TIMEOUT_MS: u64 = 5_000;
/// Time a client has to take a reply off our hands.
pub const WRITE_TIMEOUT_MS: u64 = 5_000;

/// Identifies a connection (also the engine's `ClientId`).
pub type ConnId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the request.
    Reading,
    /// Request handed over; more replies will come (grant, geostore write).
    Waiting,
    /// Last reply queued: flush, then close.
    Closing,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    phase: Phase,
    /// Read deadline while reading; wait limit while waiting.
    deadline: Instant,
    /// While reading: the header must be in by then.
    header_deadline: Instant,
    /// Order of acceptance (the oldest reading connection goes first).
    accepted: u64,
    /// Set while `out` holds unsent bytes.
    write_deadline: Option<Instant>,
}

/// Something the loop must answer.
#[derive(Debug)]
pub enum Incoming {
    /// A complete request (`bytes` = the message up to its `length`).
    Request {
        conn: ConnId,
        peer: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Not a booth request at all (bad magic, version, too short); the
    /// connection is already closed.
    Garbage {
        peer: SocketAddr,
        error: DecodeError,
    },
    /// A waiting client went away.
    Gone { conn: ConnId },
}

/// The listener and its connections.
#[derive(Debug)]
pub struct ControlServer {
    listener: TcpListener,
    conns: Vec<Conn>,
    next_id: ConnId,
    accepted: u64,
    /// Connections refused (every slot held by a request in progress), or
    /// dropped to make room for a newcomer.
    pub refused: u64,
    /// Connections dropped for a timeout.
    pub timed_out: u64,
}

/// Where the loop found readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fd {
    Listener,
    Conn(ConnId),
}

impl ControlServer {
    /// Listens on our own member address and port.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.set_reuse_address(true)?;
        s.bind(&addr.into())?;
        s.listen(MAX_CONNS as i32)?;
        s.set_nonblocking(true)?;
        Ok(ControlServer {
            listener: s.into(),
            conns: Vec::new(),
            next_id: 1,
            accepted: 0,
            refused: 0,
            timed_out: 0,
        })
    }

    /// Descriptors to poll, with the events wanted.
    pub fn poll_set(&self, out: &mut Vec<(RawFd, libc::c_short, Fd)>) {
        out.push((self.listener.as_raw_fd(), libc::POLLIN, Fd::Listener));
        for c in &self.conns {
            let mut ev = 0;
            if c.phase != Phase::Closing {
                ev |= libc::POLLIN;
            }
            if !c.out.is_empty() {
                ev |= libc::POLLOUT;
            }
            out.push((c.stream.as_raw_fd(), ev, Fd::Conn(c.id)));
        }
    }

    /// Accepts pending connections (at most a batch) and reads each at once:
    /// what a real client sent with its connect is a request right away.
    pub fn accept(&mut self, now: Instant) -> Vec<Incoming> {
        let mut got = Vec::new();
        for _ in 0..ACCEPT_BATCH {
            let (stream, peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock, or a connection that died before accept.
                Err(_) => break,
            };
            if !self.make_room(peer) {
                self.refused += 1;
                drop(stream);
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            self.accepted += 1;
            self.conns.push(Conn {
                id,
                stream,
                peer,
                inbuf: Vec::with_capacity(HEADER_LEN + 256),
                out: Vec::new(),
                phase: Phase::Reading,
                deadline: now + Duration(READ_TIMEOUT_MS),
                write_deadline: None,
                header_deadline: now + Duration(FIRST_BYTES_MS),
                accepted: self.accepted,
            });
            got.extend(self.read_request(self.conns.len() - 1));
        }
        got
    }

    /// Frees a slot for a newcomer from `peer`, if one can be freed: the
    /// source's own oldest reading connection when it is at its limit, else
    /// (table full) the oldest reading connection of the source with the most.
    fn make_room(&mut self, peer: SocketAddr) -> bool {
        let reading_from = |conns: &[Conn], ip| {
            conns
                .iter()
                .filter(|c| c.phase == Phase::Reading && c.peer.ip() == ip)
                .count()
        };
        let victim_source = if reading_from(&self.conns, peer.ip()) >= MAX_READING_PER_SOURCE {
            Some(peer.ip())
        } else if self.conns.len() >= MAX_CONNS {
            self.conns
                .iter()
                .filter(|c| c.phase == Phase::Reading)
                .max_by_key(|c| {
                    (
                        reading_from(&self.conns, c.peer.ip()),
                        u64::MAX - c.accepted,
                    )
                })
                .map(|c| c.peer.ip())
        } else {
            return true;
        };
        let victim = victim_source.and_then(|ip| {
            self.conns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.phase == Phase::Reading && c.peer.ip() == ip)
                .min_by_key(|(_, c)| c.accepted)
                .map(|(i, _)| i)
        });
        match victim {
            Some(i) => {
                self.conns.swap_remove(i);
                self.refused += 1;
                true
            }
            None => false,
        }
    }

    /// Services one connection after poll reported `revents` for it.
    pub fn service(
        &mut self,
        id: ConnId,
        revents: libc::c_short,
        now: Instant,
    ) -> Option<Incoming> {
        let i = self.conns.iter().position(|c| c.id == id)?;
        if revents & libc::POLLOUT != 0 && self.flush(i, now) {
            return None;
        }
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
            return None;
        }
        let c = &mut self.conns[i];
        match c.phase {
            Phase::Reading => self.read_request(i),
            Phase::Waiting | Phase::Closing => {
                // The client may not send more; EOF means it gave up.
                let mut buf = [0u8; 256];
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        let id = c.id;
                        let waiting = c.phase == Phase::Waiting;
                        self.conns.swap_remove(i);
                        waiting.then_some(Incoming::Gone { conn: id })
                    }
                    Ok(_) => None,
                    Err(e) if would_block(&e) => None,
                    Err(_) => {
                        let id = c.id;
                        self.conns.swap_remove(i);
                        Some(Incoming::Gone { conn: id })
                    }
                }
            }
        }
    }

    fn read_request(&mut self, i: usize) -> Option<Incoming> {
        let mut buf = [0u8; MAX_MSG_LEN];
        loop {
            let want = self.wanted(i);
            let c = &mut self.conns[i];
            if c.inbuf.len() >= want {
                break;
            }
            let room = (want - c.inbuf.len()).min(MAX_MSG_LEN);
            match c.stream.read(&mut buf[..room]) {
                Ok(0) => {
                    // Closed before a whole request: nothing to answer.
                    self.conns.swap_remove(i);
                    return None;
                }
                Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if would_block(&e) => return None,
                Err(_) => {
                    self.conns.swap_remove(i);
                    return None;
                }
            }
        }
        let c = &mut self.conns[i];
        let len = match client::frame_len(&c.inbuf) {
            Ok(len) => len,
            Err(error) => {
                let peer = c.peer;
                self.conns.swap_remove(i);
                return Some(Incoming::Garbage { peer, error });
            }
        };
        c.phase = Phase::Waiting;
        let take = len.min(MAX_MSG_LEN).min(c.inbuf.len());
        Some(Incoming::Request {
            conn: c.id,
            peer: c.peer,
            bytes: c.inbuf[..take].to_vec(),
        })
    }

    /// Bytes needed before the request can be parsed: the header, then the
    /// whole `length` (capped at 1024: a longer request is refused as is).
    fn wanted(&self, i: usize) -> usize {
        let c = &self.conns[i];
        if c.inbuf.len() < HEADER_LEN {
            return HEADER_LEN;
        }
        match client::frame_len(&c.inbuf) {
            Ok(len) if len > MAX_MSG_LEN => c.inbuf.len(),
            Ok(len) => len,
            Err(_) => c.inbuf.len(),
        }
    }

    /// Queues a reply; `last` closes the connection once it is sent.
    pub fn send(&mut self, id: ConnId, bytes: &[u8], last: bool, now: Instant) {
        let Some(i) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let c = &mut self.conns[i];
        c.out.extend_from_slice(bytes);
        if last {
            c.phase = Phase::Closing;
        }
        if c.write_deadline.is_none() {
            c.write_deadline = Some(now + Duration(WRITE_TIMEOUT_MS));
        }
        self.flush(i, now);
    }

    /// Keeps a waiting connection at most until `until`.
    pub fn wait_until(&mut self, id: ConnId, until: Instant) {
        if let Some(c) = self.conns.iter_mut().find(|c| c.id == id) {
            c.deadline = until;
        }
    }

    /// Closes a connection (after sending what is queued, if it can).
    pub fn close(&mut self, id: ConnId, now: Instant) {
        if let Some(i) = self.conns.iter().position(|c| c.id == id) {
            self.conns[i].phase = Phase::Closing;
            self.flush(i, now);
        }
    }

    /// Writes what it can; closes a finished connection. Returns whether
    /// connection `i` is gone.
    fn flush(&mut self, i: usize, now: Instant) -> bool {
        let c = &mut self.conns[i];
        while !c.out.is_empty() {
            match c.stream.write(&c.out) {
                Ok(0) => break,
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if would_block(&e) => break,
                Err(_) => {
                    self.conns.swap_remove(i);
                    return true;
                }
            }
        }
        let c = &mut self.conns[i];
        if c.out.is_empty() {
            c.write_deadline = None;
            if c.phase == Phase::Closing {
                finish(&mut self.conns.swap_remove(i).stream);
                return true;
            }
        } else if c.write_deadline.is_none() {
            c.write_deadline = Some(now + Duration(WRITE_TIMEOUT_MS));
        }
        false
    }

    /// Drops connections past a deadline; returns the waiting ones dropped.
    pub fn expire(&mut self, now: Instant) -> Vec<ConnId> {
        let mut gone = Vec::new();
        let mut timed_out = 0;
        self.conns.retain(|c| {
            let late_write = c.write_deadline.is_some_and(|d| now >= d);
            let late = match c.phase {
                Phase::Reading => {
                    now >= c.deadline || (c.inbuf.len() < HEADER_LEN && now >= c.header_deadline)
                }
                Phase::Waiting => now >= c.deadline,
                Phase::Closing => false,
            };
            if late_write || late {
                timed_out += 1;
                if c.phase == Phase::Waiting {
                    gone.push(c.id);
                }
                false
            } else {
                true
            }
        });
        self.timed_out += timed_out;
        gone
    }

    /// The earliest connection deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conns
            .iter()
            .flat_map(|c| {
                let d = match c.phase {
                    Phase::Reading if c.inbuf.len() < HEADER_LEN => {
                        Some(c.deadline.min(c.header_deadline))
                    }
                    Phase::Reading | Phase::Waiting => Some(c.deadline),
                    Phase::Closing => None,
                };
                [d, c.write_deadline]
            })
            .flatten()
            .min()
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Reads (and drops) what the client sent beyond its request, so closing
/// does not answer with a reset that could destroy our reply in flight.
fn finish(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; MAX_MSG_LEN];
    let _ = stream.read(&mut buf);
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::wire::{Header, TicketBody};

    fn server() -> (ControlServer, SocketAddr) {
        let s = ControlServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let a = s.local_addr().unwrap();
        (s, a)
    }

    /// Accepts and services every connection until `f` has what it wants.
    fn pump(s: &mut ControlServer, now: Instant) -> Vec<Incoming> {
        let mut got = Vec::new();
        for _ in 0..50 {
            got.extend(s.accept(now));
            let mut set = Vec::new();
            s.poll_set(&mut set);
            for (_, _, fd) in set {
                if let Fd::Conn(id) = fd {
                    let ev = libc::POLLIN | libc::POLLOUT;
                    got.extend(s.service(id, ev, now));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        got
    }

    /// Sends a last reply on `conn` and checks the client `c` reads all of it.
    fn assert_reply_arrives(s: &mut ControlServer, conn: ConnId, c: &mut TcpStream, now: Instant) {
        s.send(conn, b"reply", true, now);
        c.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut r = Vec::new();
        c.read_to_end(&mut r).unwrap();
        assert_eq!(r, b"reply");
    }

    fn list_request() -> Vec<u8> {
        let req = client::ClientRequest {
            header: Header::default(),
            cmd: booth_core::wire::Command::List,
            body: client::RequestBody::Ticket(TicketBody::default()),
        };
        let mut buf = [0u8; 256];
        let n = client::emit_client_request(&req, None, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    /// A connection to `to` from the loopback address `from`.
    fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        let src = SocketAddr::from((from, 0));
        s.bind(&src.into()).unwrap();
        s.connect(&to.into()).unwrap();
        s.into()
    }

    #[test]
    fn header_and_request_deadlines() {
        let (mut s, a) = server();
        let now = Instant(1_000);
        let silent = TcpStream::connect(a).unwrap();
        let mut slow = TcpStream::connect(a).unwrap();
        let req = list_request();
        // A whole header, then nothing: it has the whole read timeout.
        slow.write_all(&req[..HEADER_LEN]).unwrap();
        assert!(pump(&mut s, now).is_empty());
        assert_eq!(s.connections(), 2);
        assert_eq!(s.next_deadline(), Some(now + Duration(FIRST_BYTES_MS)));
        assert!(s.expire(now + Duration(FIRST_BYTES_MS - 1)).is_empty());
        s.expire(now + Duration(FIRST_BYTES_MS));
        assert_eq!(s.connections(), 1, "the silent one is gone");
        assert_eq!(s.next_deadline(), Some(now + Duration(READ_TIMEOUT_MS)));
        s.expire(now + Duration(READ_TIMEOUT_MS));
        assert_eq!(s.connections(), 0);
        assert_eq!(s.timed_out, 2);
        drop(silent);
    }

    #[test]
    fn an_idle_flood_from_one_source_cannot_lock_a_client_out() {
        let (mut s, a) = server();
        let now = Instant(1_000);
        // 100 idle connections and 100 that dribble a byte now and then,
        // accepted as they come (the backlog would hold them back otherwise).
        let mut flood = Vec::new();
        for i in 0..200 {
            let mut c = TcpStream::connect(a).unwrap();
            if i % 2 == 1 {
                let _ = c.write_all(&[0x00]);
            }
            flood.push(c);
            assert!(s.accept(now).is_empty());
        }
        pump(&mut s, now);
        assert!(
            s.connections() <= MAX_READING_PER_SOURCE,
            "{}",
            s.connections()
        );
        // A client from the flooding address itself still gets its answer.
        let mut c = TcpStream::connect(a).unwrap();
        c.write_all(&list_request()).unwrap();
        let got = pump(&mut s, now);
        let [Incoming::Request { conn, .. }] = got.as_slice() else {
            panic!("{got:?}")
        };
        assert_reply_arrives(&mut s, *conn, &mut c, now);
        assert!(s.refused >= 200 - MAX_READING_PER_SOURCE as u64);
        drop(flood);
    }

    #[test]
    fn a_full_table_drops_the_biggest_sources_oldest_reader() {
        let (mut s, a) = server();
        let now = Instant(1_000);
        let mut held = Vec::new();
        // Four sources fill the table.
        for (src, n) in [(11, 32), (12, 32), (13, 32), (14, 32)] {
            for _ in 0..n {
                held.push(connect_from([127, 0, 0, src], a));
                s.accept(now);
            }
        }
        assert_eq!(s.connections(), MAX_CONNS);
        // A client waiting for its grant's outcome is never dropped.
        let mut waiting = connect_from([127, 0, 0, 15], a);
        waiting.write_all(&list_request()).unwrap();
        let got = pump(&mut s, now);
        assert!(
            matches!(got.as_slice(), [Incoming::Request { .. }]),
            "{got:?}"
        );
        assert_eq!(s.connections(), MAX_CONNS);
        assert_eq!(s.refused, 1);
        let mut c = connect_from([127, 0, 0, 16], a);
        c.write_all(&list_request()).unwrap();
        let got = pump(&mut s, now);
        assert!(
            matches!(got.as_slice(), [Incoming::Request { .. }]),
            "{got:?}"
        );
        assert_eq!(s.refused, 2);
        let sources: Vec<_> = s.conns.iter().map(|c| c.peer.ip()).collect();
        assert!(sources.contains(&std::net::IpAddr::from([127, 0, 0, 15])));
        drop(held);
    }

    #[test]
    fn one_request_per_connection_and_garbage() {
        let (mut s, a) = server();
        let now = Instant(1_000);
        let mut req = list_request();
        let n = req.len();
        let mut c = TcpStream::connect(a).unwrap();
        // The stock CLI may send more than `length` says.
        req.extend_from_slice(&[0u8; 28]);
        c.write_all(&req).unwrap();
        let got = pump(&mut s, now);
        let [Incoming::Request { conn, bytes, .. }] = got.as_slice() else {
            panic!("{got:?}")
        };
        assert_eq!(bytes.len(), n);
        assert_reply_arrives(&mut s, *conn, &mut c, now);
        assert_eq!(s.connections(), 0);

        let mut g = TcpStream::connect(a).unwrap();
        g.write_all(&[0xAB; 48]).unwrap();
        let got = pump(&mut s, now);
        assert!(
            matches!(
                got.as_slice(),
                [Incoming::Garbage {
                    error: DecodeError::BadMagic(_),
                    ..
                }]
            ),
            "{got:?}"
        );
        assert_eq!(s.connections(), 0);
    }
}
