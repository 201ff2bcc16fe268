//! One TCP connection to a daemon: connect with a timeout, send one request,
//! read whole replies with a deadline each (booth's CLI has none and can hang
//! for ever, booth-protocol.md §10.3 #22).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use booth_core::wire::client::frame_len;
use booth_core::wire::{DecodeError, HEADER_LEN};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long we wait for each reply unless `--timeout` says otherwise.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest reply we accept (a list of many tickets is a few hundred KiB).
pub const MAX_REPLY: usize = 16 << 20;

/// Why talking to a daemon failed. Displayed with the address and port.
#[derive(Debug)]
pub enum ConnError {
    Connect {
        addr: SocketAddr,
        err: io::Error,
    },
    Send {
        addr: SocketAddr,
        err: io::Error,
    },
    /// No complete reply within the read timeout.
    Timeout {
        addr: SocketAddr,
        after: Duration,
    },
    /// The daemon closed the connection; `partial` bytes of a reply had come.
    Closed {
        addr: SocketAddr,
        partial: usize,
    },
    Recv {
        addr: SocketAddr,
        err: io::Error,
    },
    /// Not a booth reply (wrong magic, version or length).
    Malformed {
        addr: SocketAddr,
        err: DecodeError,
    },
    TooLarge {
        addr: SocketAddr,
        len: usize,
    },
}

fn at(addr: &SocketAddr) -> String {
    format!("{} port {}", addr.ip(), addr.port())
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Connect { addr, err } if err.kind() == io::ErrorKind::TimedOut => write!(
                f,
                "cannot connect to booth at {}: no answer within {}",
                at(addr),
                secs(CONNECT_TIMEOUT)
            ),
            ConnError::Connect { addr, err } => {
                write!(f, "cannot connect to booth at {}: {err}", at(addr))
            }
            ConnError::Send { addr, err } => {
                write!(f, "cannot send the request to {}: {err}", at(addr))
            }
            ConnError::Timeout { addr, after } => write!(
                f,
                "no reply from {} within {}; the outcome is unknown, check with \"booth list\" \
                 (--timeout sets how long to wait)",
                at(addr),
                secs(*after)
            ),
            ConnError::Closed { addr, partial: 0 } => {
                write!(f, "{} closed the connection without a reply", at(addr))
            }
            ConnError::Closed { addr, partial } => write!(
                f,
                "{} closed the connection in the middle of a reply ({partial} bytes)",
                at(addr)
            ),
            ConnError::Recv { addr, err } => {
                write!(f, "cannot read the reply from {}: {err}", at(addr))
            }
            ConnError::Malformed { addr, err } => {
                write!(
                    f,
                    "{} sent something that is not a booth reply: {err}",
                    at(addr)
                )
            }
            ConnError::TooLarge { addr, len } => write!(
                f,
                "{} announced a reply of {len} bytes; refusing more than {MAX_REPLY}",
                at(addr)
            ),
        }
    }
}

impl std::error::Error for ConnError {}

/// A connected client socket.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
    /// Per-reply deadline; `None` waits for ever (`--timeout 0`).
    read_timeout: Option<Duration>,
}

impl Connection {
    /// Connects within [`CONNECT_TIMEOUT`].
    pub fn open(addr: SocketAddr, read_timeout: Option<Duration>) -> Result<Self, ConnError> {
        Self::open_with(addr, CONNECT_TIMEOUT, read_timeout)
    }

    pub fn open_with(
        addr: SocketAddr,
        connect_timeout: Duration,
        read_timeout: Option<Duration>,
    ) -> Result<Self, ConnError> {
        let stream = TcpStream::connect_timeout(&addr, connect_timeout)
            .map_err(|err| ConnError::Connect { addr, err })?;
        // Requests are small; a daemon that does not read them is as dead
        // as one that does not answer.
        let write_timeout = read_timeout.unwrap_or(connect_timeout).max(connect_timeout);
        stream
            .set_write_timeout(Some(write_timeout))
            .map_err(|err| ConnError::Send { addr, err })?;
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            stream,
            addr,
            read_timeout,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let addr = self.addr;
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|err| ConnError::Send { addr, err })
    }

    /// Reads one whole message (header, then `length − 48` more bytes) before
    /// the read timeout runs out.
    pub fn recv(&mut self) -> Result<Vec<u8>, ConnError> {
        let deadline = self.read_timeout.map(|t| (Instant::now() + t, t));
        let mut buf = vec![0u8; HEADER_LEN];
        self.fill(&mut buf, 0, deadline)?;
        let addr = self.addr;
        let len = frame_len(&buf).map_err(|err| ConnError::Malformed { addr, err })?;
        if len > MAX_REPLY {
            return Err(ConnError::TooLarge { addr, len });
        }
        buf.resize(len, 0);
        self.fill(&mut buf, HEADER_LEN, deadline)?;
        Ok(buf)
    }

    fn fill(
        &mut self,
        buf: &mut [u8],
        mut pos: usize,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<(), ConnError> {
        let addr = self.addr;
        while pos < buf.len() {
            let wait = match deadline {
                None => None,
                Some((end, total)) => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ConnError::Timeout { addr, after: total });
                    }
                    Some(left)
                }
            };
            self.stream
                .set_read_timeout(wait)
                .map_err(|err| ConnError::Recv { addr, err })?;
            match self.stream.read(&mut buf[pos..]) {
                Ok(0) => return Err(ConnError::Closed { addr, partial: pos }),
                Ok(n) => pos += n,
                // Interrupted, or the socket timeout fired: the next round
                // checks the deadline.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(err) => return Err(ConnError::Recv { addr, err }),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn silent_daemon_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let hold = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            std::thread::sleep(Duration::from_millis(600));
            drop(s);
        });
        let mut c = Connection::open(addr, Some(Duration::from_millis(200))).unwrap();
        let t0 = Instant::now();
        let e = c.recv().unwrap_err();
        assert!(matches!(e, ConnError::Timeout { .. }), "{e}");
        assert!(t0.elapsed() < Duration::from_millis(550));
        assert!(e.to_string().contains("127.0.0.1 port"), "{e}");
        hold.join().unwrap();
    }

    #[test]
    fn refused_connection_names_the_address() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = Connection::open(addr, None).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!("127.0.0.1 port {}", addr.port())),
            "{text}"
        );
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }

    #[test]
    fn garbage_is_malformed_and_eof_is_closed() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(&[0x55; 48]).unwrap();
            let (s2, _) = l.accept().unwrap();
            drop(s2);
        });
        let mut c = Connection::open(addr, Some(Duration::from_secs(5))).unwrap();
        assert!(matches!(c.recv(), Err(ConnError::Malformed { .. })));
        let mut c = Connection::open(addr, Some(Duration::from_secs(5))).unwrap();
        assert!(matches!(
            c.recv(),
            Err(ConnError::Closed { partial: 0, .. })
        ));
        t.join().unwrap();
    }
}
