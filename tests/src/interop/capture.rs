//! Records every UDP datagram sent on `lo` in the test's namespace to or from
//! the formation's port: an `AF_PACKET` socket (the namespace's own `lo`,
//! only outgoing copies, so each datagram is seen once, before any firewall
//! rule of ours drops it on input).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// One captured datagram.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Wall-clock seconds at capture.
    pub at: f64,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub payload: Vec<u8>,
}

/// A running capture; stops when dropped.
#[derive(Debug)]
pub struct Capture {
    seen: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Capture {
    /// Starts capturing UDP datagrams with `port` as source or destination.
    /// Call it from the namespace's thread (the socket belongs to the
    /// namespace of the thread that opens it).
    pub fn start(port: u16) -> std::io::Result<Capture> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, proto as i32) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Bind to lo only (ifindex 1 in a fresh namespace, but ask).
        let lo = c"lo";
        // SAFETY: NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(lo.as_ptr()) };
        // SAFETY: an all-zero sockaddr_ll is valid; fields are set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: setsockopt with a valid timeval.
        let rc2 = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        if rc != 0 || rc2 != 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("capture".to_owned())
            .spawn(move || capture_loop(fd, port, &s, &st))?;
        Ok(Capture {
            seen,
            stop,
            thread: Some(thread),
        })
    }

    /// Everything captured so far.
    pub fn datagrams(&self) -> Vec<Datagram> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many datagrams were captured so far (a mark for [`Capture::since`]).
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Datagrams captured after `mark` (a value of [`Capture::len`]).
    pub fn since(&self, mark: usize) -> Vec<Datagram> {
        let v = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        v.get(mark..).map(<[Datagram]>::to_vec).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn capture_loop(fd: i32, port: u16, seen: &Mutex<Vec<Datagram>>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: an all-zero sockaddr_ll is valid for recvfrom to fill.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        // SAFETY: buf and from are valid for the sizes given.
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n <= 0 {
            continue;
        }
        if from.sll_pkttype != libc::PACKET_OUTGOING {
            continue;
        }
        if let Some(d) = parse_udp(&buf[..n as usize], port) {
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        }
    }
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
}

/// An IPv4/UDP packet to or from `port`, unfragmented.
fn parse_udp(p: &[u8], port: u16) -> Option<Datagram> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 17 {
        return None;
    }
    let ihl = ((p[0] & 0x0F) as usize) * 4;
    let total = u16::from_be_bytes([p[2], p[3]]) as usize;
    let frag = u16::from_be_bytes([p[6], p[7]]) & 0x3FFF;
    if frag != 0 || total > p.len() || total < ihl + 8 {
        return None;
    }
    let u = &p[ihl..total];
    let (sport, dport) = (
        u16::from_be_bytes([u[0], u[1]]),
        u16::from_be_bytes([u[2], u[3]]),
    );
    if sport != port && dport != port {
        return None;
    }
    Some(Datagram {
        at: now(),
        src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        payload: u[8..].to_vec(),
    })
}
