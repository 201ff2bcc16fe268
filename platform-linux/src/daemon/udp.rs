//! The peer socket: UDP bound to our own member address and port (not the
//! wildcard), as booth does.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// booth's receive buffer (`MAX_MSG_LEN`); anything longer is refused.
pub const MAX_DATAGRAM: usize = 1024;
/// What we read into: large enough to notice an oversized datagram.
pub const RECV_BUF: usize = 2048;
/// booth's `SO_RCVBUF`.
const SO_RCVBUF: usize = 160_000;

/// Binds the non-blocking peer socket.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    let _ = s.set_recv_buffer_size(SO_RCVBUF);
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// One received datagram.
#[derive(Debug)]
pub enum Received {
    Datagram {
        from: SocketAddr,
        len: usize,
    },
    /// Longer than [`MAX_DATAGRAM`] (size as far as read).
    Oversized {
        from: SocketAddr,
        len: usize,
    },
    /// Nothing more to read now.
    Empty,
}

/// Reads one datagram into `buf` (≥ [`RECV_BUF`] bytes).
pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    match sock.recv_from(buf) {
        Ok((len, from)) if len > MAX_DATAGRAM => Ok(Received::Oversized { from, len }),
        Ok((len, from)) => Ok(Received::Datagram { from, len }),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Received::Empty),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Received::Empty),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_datagrams_are_flagged() {
        let a = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let b = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = a.local_addr().unwrap();
        b.send_to(&[1u8; 100], to).unwrap();
        b.send_to(&[2u8; 1500], to).unwrap();
        let mut buf = [0u8; RECV_BUF];
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut got = Vec::new();
        while got.len() < 2 && std::time::Instant::now() < until {
            match recv(&a, &mut buf).unwrap() {
                Received::Empty => std::thread::sleep(std::time::Duration::from_millis(1)),
                r => got.push(r),
            }
        }
        assert!(matches!(got[0], Received::Datagram { len: 100, .. }));
        assert!(matches!(got[1], Received::Oversized { len: 1500, .. }));
    }
}
