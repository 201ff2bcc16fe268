//! Network faults inside the test's namespace, where every member of a
//! formation has its own loopback address `127.a.b.x` and the same port.
//!
//! * **Partitions**: `iptables` rules in a chain of the run's own
//!   (`INPUT` of the namespace), dropping booth's UDP datagrams from or to a
//!   member (both ways, or one way).
//! * **Loss, delay, duplication, reordering**: this kernel has no
//!   `sch_netem` ("Specified qdisc kind is unknown", no modules), so a
//!   userspace relay plays netem: from the first packet on, a `nat OUTPUT`
//!   rule per ordered pair of members (X → Y, source and destination port
//!   the booth port) sends the datagram to a relay socket on 127.0.0.1, and
//!   the relay forwards it to Y from a socket bound to X's address (so Y
//!   still sees X's address) after dropping, delaying (base + uniform
//!   jitter, hence reordering) or duplicating it as currently configured.
//!   The relay's own datagrams leave from another port and are not caught
//!   again. The rules exist before the daemons start, so no conntrack entry
//!   bypasses them.
//!
//! Nothing leaves the namespace: it has only `lo`.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs `iptables -w ARGS` in namespace `ns`.
pub fn iptables(ns: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "iptables", "-w"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Which datagrams of a member a partition drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Neither sent nor received.
    Both,
    /// It receives nothing (its datagrams still leave).
    Inbound,
    /// Nothing it sends arrives (it still receives).
    Outbound,
}

/// A filter chain of one run; deleted on drop.
#[derive(Debug)]
pub struct Filter {
    ns: String,
    chain: String,
    port: u16,
}

impl Filter {
    pub fn new(ns: &str, tag: &str, port: u16) -> Result<Filter, String> {
        let chain = format!("bf-{tag}");
        iptables(ns, &["-N", &chain])?;
        let f = Filter {
            ns: ns.to_owned(),
            chain,
            port,
        };
        iptables(ns, &["-I", "INPUT", "-j", &f.chain])?;
        Ok(f)
    }

    /// Drops booth datagrams of `ip` as `cut` says. The relay re-sends with
    /// the sender's address as source and the booth port as destination, so
    /// these rules see the real sender and receiver.
    pub fn cut(&self, ip: Ipv4Addr, cut: Cut) -> Result<(), String> {
        let ip = ip.to_string();
        let port = self.port.to_string();
        if matches!(cut, Cut::Both | Cut::Outbound) {
            iptables(
                &self.ns,
                &[
                    "-A",
                    &self.chain,
                    "-p",
                    "udp",
                    "-s",
                    &ip,
                    "--dport",
                    &port,
                    "-j",
                    "DROP",
                ],
            )?;
        }
        if matches!(cut, Cut::Both | Cut::Inbound) {
            iptables(
                &self.ns,
                &[
                    "-A",
                    &self.chain,
                    "-p",
                    "udp",
                    "-d",
                    &ip,
                    "--dport",
                    &port,
                    "-j",
                    "DROP",
                ],
            )?;
        }
        Ok(())
    }

    /// Removes every cut.
    pub fn heal(&self) -> Result<(), String> {
        iptables(&self.ns, &["-F", &self.chain])
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        let _ = iptables(&self.ns, &["-D", "INPUT", "-j", &self.chain]);
        let _ = iptables(&self.ns, &["-F", &self.chain]);
        let _ = iptables(&self.ns, &["-X", &self.chain]);
    }
}

/// What the relay does to each datagram.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Netem {
    /// Probability of dropping it.
    pub loss: f64,
    /// Probability of sending it twice (the copy with its own delay).
    pub duplicate: f64,
    pub delay: Duration,
    /// Added uniform delay in 0..jitter: datagrams overtake each other.
    pub jitter: Duration,
}

/// Counters of the relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub received: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub sent: u64,
    /// Datagrams sent after one that arrived later (same pair).
    pub reordered: u64,
}

struct Shared {
    netem: Mutex<Netem>,
    stats: Mutex<RelayStats>,
    stop: AtomicBool,
}

/// The relay of one formation; stopped (thread joined, rules deleted) on drop.
pub struct Relay {
    ns: String,
    chain: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Pair {
    inbound: UdpSocket,
    outbound: UdpSocket,
    to: SocketAddr,
    last_seq_sent: u64,
}

struct Due {
    at: Instant,
    pair: usize,
    seq: u64,
    data: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    // Earliest first in a max-heap.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

impl Relay {
    /// Sockets in namespace `ns` (by name, /run/netns/NAME), one DNAT rule
    /// per ordered pair of `ips`, and the forwarding thread.
    pub fn start(ns: &str, tag: &str, ips: &[Ipv4Addr], port: u16) -> Result<Relay, String> {
        let shared = Arc::new(Shared {
            netem: Mutex::new(Netem::default()),
            stats: Mutex::new(RelayStats::default()),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let ns_path = format!("/run/netns/{ns}");
        let ips_t = ips.to_vec();
        let sh = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("relay-{tag}"))
            .spawn(move || {
                let pairs = match open_pairs(&ns_path, &ips_t, port) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let ports: Vec<(usize, usize, u16)> = pairs
                    .iter()
                    .map(|(x, y, p)| (*x, *y, p.inbound.local_addr().map_or(0, |a| a.port())))
                    .collect();
                let _ = tx.send(Ok(ports));
                run(pairs.into_iter().map(|(_, _, p)| p).collect(), &sh);
            })
            .map_err(|e| e.to_string())?;
        let ports = rx
            .recv()
            .map_err(|_| "the relay thread died".to_owned())??;
        let chain = format!("br-{tag}");
        let relay = Relay {
            ns: ns.to_owned(),
            chain: chain.clone(),
            shared,
            thread: Some(thread),
        };
        iptables(ns, &["-t", "nat", "-N", &chain])?;
        iptables(ns, &["-t", "nat", "-I", "OUTPUT", "-j", &chain])?;
        let p = port.to_string();
        for (x, y, rport) in ports {
            let (sx, sy) = (ips[x].to_string(), ips[y].to_string());
            let to = format!("127.0.0.1:{rport}");
            iptables(
                ns,
                &[
                    "-t",
                    "nat",
                    "-A",
                    &chain,
                    "-p",
                    "udp",
                    "-s",
                    &sx,
                    "--sport",
                    &p,
                    "-d",
                    &sy,
                    "--dport",
                    &p,
                    "-j",
                    "DNAT",
                    "--to-destination",
                    &to,
                ],
            )?;
        }
        Ok(relay)
    }

    pub fn set(&self, n: Netem) {
        *self.shared.netem.lock().unwrap_or_else(|e| e.into_inner()) = n;
    }

    pub fn stats(&self) -> RelayStats {
        *self.shared.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = iptables(&self.ns, &["-t", "nat", "-D", "OUTPUT", "-j", &self.chain]);
        let _ = iptables(&self.ns, &["-t", "nat", "-F", &self.chain]);
        let _ = iptables(&self.ns, &["-t", "nat", "-X", &self.chain]);
        self.stop();
    }
}

/// Enters the namespace (this thread only) and opens both sockets of every
/// ordered pair.
fn open_pairs(
    ns_path: &str,
    ips: &[Ipv4Addr],
    port: u16,
) -> Result<Vec<(usize, usize, Pair)>, String> {
    let f = File::open(ns_path).map_err(|e| format!("{ns_path}: {e}"))?;
    // SAFETY: setns on the calling thread with an open namespace descriptor.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns: {}", io::Error::last_os_error()));
    }
    let mut out = Vec::new();
    for (x, ipx) in ips.iter().enumerate() {
        for (y, ipy) in ips.iter().enumerate() {
            if x == y {
                continue;
            }
            let inbound = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
            let outbound = UdpSocket::bind((*ipx, 0)).map_err(|e| format!("bind {ipx}: {e}"))?;
            inbound.set_nonblocking(true).map_err(|e| e.to_string())?;
            outbound.set_nonblocking(true).map_err(|e| e.to_string())?;
            out.push((
                x,
                y,
                Pair {
                    inbound,
                    outbound,
                    to: SocketAddr::V4(SocketAddrV4::new(*ipy, port)),
                    last_seq_sent: 0,
                },
            ));
        }
    }
    Ok(out)
}

/// xorshift64*: good enough for loss decisions.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Relays started by this process so far: each gets its own loss sequence.
static RELAYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn run(mut pairs: Vec<Pair>, sh: &Shared) {
    // Seeded by the process id alone, every relay of one test process drew
    // the same loss sequence: the runs of a scenario repeated one network
    // instead of sampling it, and only a new process (another machine's
    // `scripts/test`) met a different one. The relay's number and the
    // clock make each run its own sample.
    let n = RELAYS.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = Rng(
        (0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()) ^ nanos)
            .wrapping_add(n.wrapping_mul(0xbf58_476d_1ce4_e5b9))
            | 1,
    );
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; 65536];
    while !sh.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while heap.peek().is_some_and(|d| d.at <= now) {
            let Some(d) = heap.pop() else { break };
            let p = &mut pairs[d.pair];
            if p.outbound.send_to(&d.data, p.to).is_ok() {
                let mut st = sh.stats.lock().unwrap_or_else(|e| e.into_inner());
                st.sent += 1;
                if d.seq < p.last_seq_sent {
                    st.reordered += 1;
                }
            }
            p.last_seq_sent = p.last_seq_sent.max(d.seq);
        }
        let wait = heap
            .peek()
            .map_or(Duration::from_millis(50), |d| {
                d.at.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        let mut fds: Vec<libc::pollfd> = pairs
            .iter()
            .map(|p| libc::pollfd {
                fd: p.inbound.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms =
            wait.as_millis() as i32 + i32::from(!wait.subsec_nanos().is_multiple_of(1_000_000));
        // SAFETY: fds is a valid array of fds.len() pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            continue;
        }
        let netem = *sh.netem.lock().unwrap_or_else(|e| e.into_inner());
        for (i, pfd) in fds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            while let Ok((len, _)) = pairs[i].inbound.recv_from(&mut buf) {
                let mut st = sh.stats.lock().unwrap_or_else(|e| e.into_inner());
                st.received += 1;
                if rng.unit() < netem.loss {
                    st.dropped += 1;
                    continue;
                }
                let copies = if rng.unit() < netem.duplicate {
                    st.duplicated += 1;
                    2
                } else {
                    1
                };
                drop(st);
                for _ in 0..copies {
                    seq += 1;
                    let jitter = netem.jitter.mul_f64(rng.unit());
                    heap.push(Due {
                        at: Instant::now() + netem.delay + jitter,
                        pair: i,
                        seq,
                        data: buf[..len].to_vec(),
                    });
                }
            }
        }
    }
}
