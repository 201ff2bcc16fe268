//! Sees the UDP datagrams of a formation on loopback (an `AF_PACKET` socket
//! on `lo`, root only): to replay a captured datagram, or to count the
//! packets of a renewal. Only packets as received (not the transmit copies)
//! are seen, so each datagram appears once.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::netns::{run_in, Netns};

/// One UDP datagram seen on `lo`.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub at: Instant,
    /// Wall-clock time the kernel received it (epoch seconds), comparable
    /// with the CIB logs.
    pub wall: f64,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// A packet socket on `lo` keeping UDP datagrams from or to `port`.
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    port: u16,
}

const ETH_P_IP: u16 = 0x0800;

impl Capture {
    /// Opens the capture (in `ns` when given). Needs CAP_NET_RAW.
    pub fn open(ns: Option<&Netns>, port: u16) -> io::Result<Capture> {
        let fd = run_in(ns, || -> io::Result<OwnedFd> {
            // SAFETY: plain socket(2); the fd is owned right away.
            let raw = unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                    i32::from(ETH_P_IP.to_be()),
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: a NUL-terminated name.
            let ifindex = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
            // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETH_P_IP.to_be();
            sll.sll_ifindex = ifindex as i32;
            // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            let size: libc::c_int = 8 << 20;
            // SAFETY: an int option of the size passed.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                );
            }
            Ok(fd)
        })?;
        let cap = Capture { fd, port };
        // The first SIOCGSTAMP switches arrival stamps on for this socket;
        // from then on each read records its packet's stamp.
        let _ = cap.kernel_stamp();
        Ok(cap)
    }

    /// The booth command of a peer datagram (`HrtB`, `UpdE`, ...), if it has a header.
    pub fn command(d: &Datagram) -> Option<booth_core::wire::Command> {
        let h = booth_core::wire::Header::parse(&d.payload).ok()?;
        booth_core::wire::Command::from_u32(h.cmd)
    }

    /// The next datagram from or to the port, waiting at most `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Datagram> {
        let until = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if n <= 0 {
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return None;
            }
            // SAFETY: receiving into `buf`, whose length is passed.
            let len = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if len <= 0 {
                continue;
            }
            if let Some(mut d) = parse_udp(&buf[..len as usize]) {
                if let Some(t) = self.kernel_stamp() {
                    d.wall = t;
                }
                if d.src.port() == self.port || d.dst.port() == self.port {
                    return Some(d);
                }
            }
            if Instant::now() >= until {
                return None;
            }
        }
    }

    /// When the kernel received the last packet read (SIOCGSTAMP), so
    /// datagrams read late still carry their arrival time.
    fn kernel_stamp(&self) -> Option<f64> {
        const SIOCGSTAMP: libc::c_ulong = 0x8906;
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: SIOCGSTAMP writes one timeval into `tv`.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCGSTAMP as _, &mut tv) };
        (rc == 0).then_some(tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6)
    }

    /// Every matching datagram seen during `window`.
    pub fn collect(&self, window: Duration) -> Vec<Datagram> {
        let until = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(d) = self.next(until.saturating_duration_since(Instant::now())) {
            out.push(d);
        }
        out
    }
}

/// An IPv4 UDP packet into addresses and payload.
fn parse_udp(p: &[u8]) -> Option<Datagram> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 17 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let udp = p.get(ihl..)?;
    if udp.len() < 8 {
        return None;
    }
    let ip = |o: usize| Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3]);
    let port = |o: usize| u16::from_be_bytes([udp[o], udp[o + 1]]);
    let len = usize::from(port(4));
    let payload = udp.get(8..len.max(8))?.to_vec();
    Some(Datagram {
        at: Instant::now(),
        wall: super::poll::epoch_now(),
        src: SocketAddrV4::new(ip(12), port(0)),
        dst: SocketAddrV4::new(ip(16), port(2)),
        payload,
    })
}
