//! The booth arbitrator appliance on QEMU's mps2-an386.
//!
//! Boot: read the provisioning blob (0x0004_0000), load the persistent state
//! region, bring up the LAN9118 and smoltcp with the provisioned address,
//! start the engine from the persisted state. Then loop: take frames one at
//! a time and handle each datagram, fire timers, send, and sleep (WFI) until
//! the next deadline, a tick or a frame. Every 5 s a `STATUS` line reports
//! tickets, counters, the stack high-water mark and per-packet timings.
//!
//! It never exits on its own, except when it cannot run (no blob, no NIC,
//! a state write failed): then QEMU exits with status 1.
#![no_std]
#![no_main]

use board::{error, exit, flash, info, lan9118, stack, time, warn, MEMBERS, TICKETS};
use booth_appliance_mps2_an386 as board;
use booth_bare::booth_core::engine::Owner;
use booth_bare::booth_core::{Duration, Instant};
use booth_bare::net::{Net, UdpBuffers};
use booth_bare::smoltcp::iface::SocketStorage;
use booth_bare::{Appliance, Provision, Restored};
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception};

/// Bytes of each UDP socket buffer: three signed booth datagrams (152 bytes
/// each). The loop takes one frame at a time and handles its datagram before
/// the next, so the receive side holds one at most; a full send side pushes
/// to the NIC, and only while ARP is unresolved does the runtime hold back
/// (and retry). See docs/appliance.md, "Sizing".
const UDP_BUFFER: usize = 512;
const STATUS_EVERY: Duration = Duration(5_000);

/// The LAN9118's interrupt line, for the NVIC.
#[derive(Clone, Copy)]
struct EthIrq;

// SAFETY: 13 is the LAN9118's interrupt number on mps2-an386, a valid
// external interrupt of this core.
unsafe impl cortex_m::interrupt::InterruptNumber for EthIrq {
    fn number(self) -> u16 {
        lan9118::IRQ
    }
}

// cortex-m-rt requires this handler to be declared `unsafe fn`; its body
// does nothing unsafe itself.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == lan9118::IRQ as i16 {
        // The frame itself is read by the main loop; this only wakes it.
        lan9118::Regs::mps2().ack_interrupts();
    }
}

/// Cycles spent handling datagrams (receive, verify, decide, persist, sign, send).
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
        if self.n == 0 {
            0
        } else {
            self.total / u64::from(self.n)
        }
    }
}

/// The appliance as it runs: the engine's node, the state store and the
/// runtime's buffers all live in statics.
type App = Appliance<'static, flash::StateFlash, TICKETS, MEMBERS>;
type Node = booth_bare::booth_core::Node<TICKETS, MEMBERS>;

/// One static for two things never needed at once: the decoded provision
/// (1.2 KiB, during boot only) and then the UDP socket buffers (from the
/// network's start on). Safe Rust's way to overlay them: boot's largest
/// temporary is off the stack, at no static RAM.
#[allow(clippy::large_enum_variant)]
enum Scratch {
    Boot(Provision<TICKETS, MEMBERS>),
    Net(UdpBuffers<UDP_BUFFER>),
}

/// What `boot` hands over besides the appliance: the network settings.
struct Booted {
    app: &'static mut App,
    net: booth_bare::NetConfig,
    seed: u64,
}

#[entry]
fn main() -> ! {
    #[cfg(feature = "log")]
    board::logger::init(log::LevelFilter::Info);
    let Some(cp) = cortex_m::Peripherals::take() else {
        exit(false)
    };
    time::start(cp.SYST);
    // Boot and network bring-up are separate frames that are gone before
    // `run`: their temporaries (the decoded blob, the restored state) never
    // sit under the steady state's stack, and what outlives them is in
    // statics, so `main` itself keeps no large locals.
    let Some(scratch) = cortex_m::singleton!(: Scratch = Scratch::Boot(Provision::empty())) else {
        exit(false)
    };
    let booted = boot(scratch);
    let net = network(&booted.net, booted.seed, scratch);
    info!("listening on UDP port {}", booted.net.port);
    // Boot is over: its stack peak is kept apart from the steady state's.
    let boot_peak = stack::repaint();
    info!("stack used by boot: {} bytes", boot_peak);
    run(booted.app, net, boot_peak)
}

/// Reads the provisioning blob and the persisted state, and starts the
/// engine in place in its static. Each step is a function of its own, so
/// that their temporaries (postcard's, the store's) do not pile up in one
/// frame.
#[inline(never)]
fn boot(scratch: &mut Scratch) -> Booted {
    info!(
        "booth arbitrator appliance {} on mps2-an386, {} tickets and {} members max",
        env!("CARGO_PKG_VERSION"),
        TICKETS,
        MEMBERS
    );
    let Scratch::Boot(prov) = scratch else {
        exit(false)
    };
    read_provision(prov);
    let net = prov.net;
    let seed = prov.seed;
    let mut restored = restore(prov);
    let node = start_engine(&mut restored, &prov.config);
    let app = appliance(restored, node);
    Booted { app, net, seed }
}

#[inline(never)]
fn read_provision(prov: &mut Provision<TICKETS, MEMBERS>) {
    if let Err(e) = prov.decode_into(flash::provision_region()) {
        error!(
            "no usable provisioning blob at {:?}: {:?}",
            flash::PROVISION_ADDR,
            e
        );
        exit(false)
    }
    let own = prov.own_endpoint();
    info!(
        "provisioned: member {} of {} at {:?}, {} ticket(s), interface {:?}/{} gateway {:?}, wall clock {}",
        prov.me,
        prov.config.members.len(),
        own.ip,
        prov.config.tickets.len(),
        prov.net.ip,
        prov.net.prefix_len,
        prov.net.gateway,
        prov.wall_clock_secs
    );
}

#[inline(never)]
fn restore(prov: &Provision<TICKETS, MEMBERS>) -> Restored<flash::StateFlash, TICKETS, MEMBERS> {
    let storage = flash::StateFlash::open();
    info!("state region: {:?}", storage.backing);
    let restored = match Restored::open(prov, storage, time::now()) {
        Ok(r) => r,
        Err(e) => {
            error!("cannot read the state region: {:?}", e);
            exit(false)
        }
    };
    info!(
        "state found: {:?}; wall clock {}",
        restored.found(),
        restored.wall(time::now()).secs()
    );
    restored
}

/// The node (9 KiB) is made in its static and started in place: it never
/// moves, so no stack frame ever holds one.
#[inline(never)]
fn start_engine(
    restored: &mut Restored<flash::StateFlash, TICKETS, MEMBERS>,
    config: &booth_bare::booth_core::Config<TICKETS, MEMBERS>,
) -> &'static mut Node {
    let Some(node) = cortex_m::singleton!(: Node = Node::unstarted()) else {
        exit(false)
    };
    if let Err(e) = restored.start_node(node, config, time::now()) {
        error!("the engine refused the provisioned configuration: {:?}", e);
        exit(false)
    }
    node
}

/// The appliance around the started node, in its static (its temporary
/// sits in this frame, not in `boot`'s under the engine's start).
#[inline(never)]
fn appliance(
    restored: Restored<flash::StateFlash, TICKETS, MEMBERS>,
    node: &'static mut Node,
) -> &'static mut App {
    let Some(app) = cortex_m::singleton!(: App = restored.start(node)) else {
        exit(false)
    };
    app
}

/// Brings up the LAN9118 and smoltcp, all of it in statics.
#[inline(never)]
fn network(
    net_cfg: &booth_bare::NetConfig,
    seed: u64,
    scratch: &'static mut Scratch,
) -> &'static mut Net<'static, lan9118::Lan9118> {
    let Some(frames) = cortex_m::singleton!(: lan9118::FrameBuffers = lan9118::FrameBuffers::new())
    else {
        exit(false)
    };
    let eth = match lan9118::Lan9118::init(lan9118::Regs::mps2(), frames) {
        Ok(e) => e,
        Err(e) => {
            error!("LAN9118: {:?}", e);
            exit(false)
        }
    };
    let mac = eth.mac();
    // The provision is done with: its place holds the socket buffers now.
    // From a constant, so that the compiler writes them in place instead
    // of building 1.3 KiB on the stack first.
    const FRESH: Scratch = Scratch::Net(UdpBuffers::new());
    *scratch = FRESH;
    let (Scratch::Net(buffers), Some(slots)) = (
        scratch,
        cortex_m::singleton!(: [SocketStorage<'static>; 1] = [SocketStorage::EMPTY]),
    ) else {
        exit(false)
    };
    let Some(net) = cortex_m::singleton!(: Net<'static, lan9118::Lan9118> =
        Net::new(eth, mac, net_cfg, seed, time::now(), buffers, slots))
    else {
        exit(false)
    };
    // SAFETY: the handler only acknowledges the interrupt, and the device
    // is initialised: unmasking cannot break a critical section here.
    unsafe { NVIC::unmask(EthIrq) };
    net
}

/// Serves the formation, forever.
#[inline(never)]
fn run(
    app: &'static mut App,
    net: &'static mut Net<'static, lan9118::Lan9118>,
    boot_peak: usize,
) -> ! {
    let mut plain = Meter::default();
    let mut persisting = Meter::default();
    let mut next_status = time::now() + STATUS_EVERY;
    loop {
        let mono = time::now();
        // Frames one at a time; each datagram is handled before the next frame.
        for _ in 0..32 {
            let more = net.ingress_one(mono);
            loop {
                let persists = app.stats().persists;
                let t0 = time::cycles();
                if !app.poll_one(mono, net) {
                    break;
                }
                let c = time::cycles() - t0;
                if app.stats().persists == persists {
                    plain.record(c);
                } else {
                    persisting.record(c);
                }
            }
            net.egress(mono);
            if !more {
                break;
            }
        }
        app.on_timers(mono, net);
        net.egress(mono);
        if app.is_halted() {
            error!(
                "state could not be persisted: stopping (a restart resumes from the last record)"
            );
            exit(false);
        }

        if mono >= next_status {
            next_status = mono + STATUS_EVERY;
            status(app, net, &plain, &persisting, mono, boot_peak);
        }

        let deadline = [
            app.next_deadline(mono),
            net.poll_at(mono),
            Some(next_status),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(next_status);
        let regs = net.device().regs();
        cortex_m::interrupt::free(|_| {
            // With interrupts masked, a tick or frame arriving now stays
            // pending and ends the WFI at once.
            if time::now() < deadline && !regs.rx_pending() {
                cortex_m::asm::wfi();
            }
        });
    }
}

fn status(
    app: &App,
    net: &Net<'_, lan9118::Lan9118>,
    plain: &Meter,
    persisting: &Meter,
    mono: Instant,
    boot_peak: usize,
) {
    let node = app.node();
    for i in 0..node.config().tickets.len() {
        let (Some(t), Some(v)) = (node.ticket_config(i), node.ticket_view(i)) else {
            continue;
        };
        let owner = match v.owner {
            Owner::Site(id) => id.0 as i64,
            Owner::NoOne => -1,
            Owner::Unknown => 0,
        };
        info!(
            "STATUS ticket={} owner={} term={} state={:?}",
            t.name.as_str(),
            owner,
            v.term,
            v.state
        );
    }
    let s = app.stats();
    let c = node.counters();
    let e = net.device().counters;
    info!(
        "STATUS counters rx={} sent={} dropped={} auth_failures={} blocked={} persists={} clock_adjustments={} eth_rx={} eth_tx={} eth_dropped={}",
        s.received,
        s.sent,
        s.dropped,
        c.auth_failures,
        s.send_blocked,
        s.persists,
        s.clock_adjustments,
        e.rx,
        e.tx,
        e.rx_dropped + e.tx_dropped
    );
    info!(
        "STATUS stack_high_water={} stack_boot_peak={} stack_size={} uptime_ms={} wall={}",
        stack::high_water(),
        boot_peak,
        stack::size(),
        mono.as_millis(),
        app.now(mono).wall.secs()
    );
    info!(
        "STATUS handle n={} avg_cycles={} min_cycles={} max_cycles={} avg_us={} | with_persist n={} avg_cycles={} max_cycles={}",
        plain.n,
        plain.avg(),
        plain.min,
        plain.max,
        time::cycles_to_us(plain.avg()),
        persisting.n,
        persisting.avg(),
        persisting.max
    );
    if s.dropped > 0 && c.auth_failures > 0 {
        warn!("some datagrams failed authentication: check keys and clocks");
    }
}
