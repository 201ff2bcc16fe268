//! Bench (not a test): how long the appliance takes to handle one
//! authenticated booth packet on the emulated Cortex-M4, with 8 tickets.
//!
//! A site (a plain core `Node`, member 0) and the appliance (member 2) run
//! in memory on simulated time; the site is granted all 8 tickets and
//! renews them, the appliance acknowledges. Each `poll_one` of the appliance
//! (copy in, verify HMAC-SHA1, replay window, engine, persist if asked, sign
//! the reply, copy out) is timed with the SysTick cycle counter, as is a
//! bare HMAC-SHA1 over one 124-byte message.
//!
//! Results are SysTick counts ("ticks", 40 ns each at 25 MHz). Under plain
//! QEMU they follow the host's clock (QEMU is not cycle accurate). Under
//! `-icount shift=0` every instruction takes 1 ns of virtual time, so
//! `ticks × 40` is the exact instruction count, and at one cycle per
//! instruction a real 25 MHz Cortex-M4 needs `ticks × 1.6` µs. bench.sh
//! runs both and converts.
#![no_std]
#![no_main]

use booth_appliance_mps2_an386::{exit, time, MEMBERS};
use booth_bare::booth_core::engine::{AdminRequest, ClientId, Source};
use booth_bare::booth_core::wire;
use booth_bare::booth_core::{
    Config, Duration, Instant, Member, Node, Now, Role, SiteId, TicketConfig, WallTime,
};
use booth_bare::provision::{NetConfig, Provision};
use booth_bare::runtime::{Datagrams, Endpoint, SendError, PEER_MSG_MAX};
use booth_bare::storage::RamStorage;
use booth_bare::Restored;
use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;

const T: usize = 8;
const EPOCH: u64 = 1_764_000_000;

fn ip(i: usize) -> [u8; 4] {
    [127, 0, 0, 1 + i as u8]
}

fn provision() -> Provision<T, MEMBERS> {
    let mut config = Config::new();
    let mut peers = heapless::Vec::new();
    for (i, role) in [Role::Site, Role::Site, Role::Arbitrator]
        .into_iter()
        .enumerate()
    {
        let _ = config.members.push(Member {
            id: SiteId::from_ipv4(ip(i)),
            role,
        });
        let _ = peers.push(Endpoint {
            ip: ip(i),
            port: 9929,
        });
    }
    for i in 0..T {
        let mut name = heapless::String::<16>::new();
        let _ = name.push_str("ticket-");
        let _ = name.push((b'0' + i as u8) as char);
        if let Ok(t) = TicketConfig::new(&name) {
            let _ = config.tickets.push(t.with_timing(
                Duration::from_secs(10),
                Duration::from_secs(1),
                3,
            ));
        }
    }
    config.key = heapless::Vec::from_slice(b"bench-key-0123456789abcdef-booth").ok();
    config.check_source = false;
    Provision {
        config,
        me: 2,
        peers,
        net: NetConfig {
            ip: [10, 0, 2, 15],
            prefix_len: 24,
            gateway: None,
            port: 9929,
        },
        wall_clock_secs: EPOCH,
        seed: 3,
    }
}

/// One datagram in each direction at a time.
struct Wire {
    inbox: Option<([u8; PEER_MSG_MAX], usize)>,
    outbox: heapless::Vec<([u8; PEER_MSG_MAX], usize), 32>,
}

impl Datagrams for Wire {
    fn recv(&mut self, buf: &mut [u8]) -> Option<(usize, Endpoint)> {
        let (b, n) = self.inbox.take()?;
        buf[..n].copy_from_slice(&b[..n]);
        Some((
            n,
            Endpoint {
                ip: [10, 0, 2, 2],
                port: 40000,
            },
        ))
    }
    fn send(&mut self, to: Endpoint, data: &[u8]) -> Result<(), SendError> {
        if to.ip != ip(0) {
            return Ok(());
        }
        let mut b = [0u8; PEER_MSG_MAX];
        b[..data.len()].copy_from_slice(data);
        self.outbox.push((b, data.len())).map_err(|_| SendError)
    }
}

#[derive(Default)]
struct Meter {
    n: u32,
    total: u64,
    min: u64,
    max: u64,
}

impl Meter {
    fn record(&mut self, c: u64) {
        self.min = if self.n == 0 { c } else { self.min.min(c) };
        self.max = self.max.max(c);
        self.total += c;
        self.n += 1;
    }
    fn avg(&self) -> u64 {
        self.total / u64::from(self.n.max(1))
    }
    fn print(&self, what: &str) {
        // SysTick counts of 40 ns each (25 MHz); see the module doc.
        hprintln!(
            "BENCH {} n={} avg_ticks={} min_ticks={} max_ticks={}",
            what,
            self.n,
            self.avg(),
            self.min,
            self.max
        );
    }
}

#[entry]
fn main() -> ! {
    let Some(cp) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    time::start(cp.SYST);

    let prov = provision();
    let now = |t: u64| Now {
        mono: Instant(t),
        wall: WallTime::from_secs(EPOCH).plus(Duration(t)),
    };
    let mut site = match Node::new(prov.config.clone(), 0, 1, now(0), &[]) {
        Ok(n) => n,
        Err(_) => fail("site node"),
    };
    let Ok(mut restored) = Restored::open(&prov, RamStorage::<512>::new(), Instant(0)) else {
        fail("restore")
    };
    let Some(node) = cortex_m::singleton!(: Node<T, MEMBERS> = Node::unstarted()) else {
        fail("appliance node")
    };
    if restored.start_node(node, &prov.config, Instant(0)).is_err() {
        fail("appliance node")
    }
    let mut app = restored.start(node);
    let mut wire = Wire {
        inbox: None,
        outbox: heapless::Vec::new(),
    };

    let mut plain = Meter::default();
    let mut persisting = Meter::default();
    let mut buf = [0u8; wire::MAX_MSG_LEN];
    let step = 10;
    let mut t = 0u64;
    while t < 60_000 {
        let n = now(t);
        if t == 2_000 {
            for i in 0..T {
                let _ = site.handle_admin(
                    n,
                    ClientId(i as u32),
                    AdminRequest::Grant {
                        ticket: i,
                        force: false,
                        wait_commit: false,
                    },
                );
            }
        }
        if site.poll_timeout().is_some_and(|d| d <= n.mono) {
            site.handle_timeout(n);
        }
        while site.poll_event().is_some() {}
        while let Some(tx) = site.poll_transmit(n, &mut buf) {
            if tx.to != 2 {
                continue;
            }
            let mut b = [0u8; PEER_MSG_MAX];
            b[..tx.len].copy_from_slice(&buf[..tx.len]);
            wire.inbox = Some((b, tx.len));
            let persists = app.stats().persists;
            let c0 = time::cycles();
            app.poll_one(n.mono, &mut wire);
            let c = time::cycles() - c0;
            if app.stats().persists == persists {
                plain.record(c);
            } else {
                persisting.record(c);
            }
        }
        app.on_timers(n.mono, &mut wire);
        for (b, len) in wire.outbox.iter() {
            let _ = site.handle_datagram(n, Source::Member(2), &b[..*len]);
        }
        wire.outbox.clear();
        t += step;
    }

    // The bare MAC over one ticket message, for comparison.
    let key = b"bench-key-0123456789abcdef-booth";
    let msg = [0x5Au8; wire::TICKET_MSG_LEN];
    let mut mac = Meter::default();
    for _ in 0..100 {
        let c0 = time::cycles();
        let m = wire::auth::mac(key, core::hint::black_box(&msg));
        core::hint::black_box(m);
        mac.record(time::cycles() - c0);
    }

    let s = app.stats();
    let views = (0..T)
        .filter_map(|i| app.node().ticket_view(i))
        .filter(|v| {
            v.owner == booth_bare::booth_core::engine::Owner::Site(SiteId::from_ipv4(ip(0)))
        })
        .count();
    hprintln!(
        "BENCH formation tickets_followed={}/{} received={} sent={} dropped={} persists={}",
        views,
        T,
        s.received,
        s.sent,
        s.dropped,
        s.persists
    );
    plain.print("handle_authenticated_packet");
    persisting.print("handle_packet_with_persist_to_ram");
    mac.print("hmac_sha1_124_bytes");
    let ok = views == T && s.dropped == 0 && plain.n > 0;
    exit(ok)
}

fn fail(what: &str) -> ! {
    hprintln!("BENCH failed: {}", what);
    exit(false)
}
