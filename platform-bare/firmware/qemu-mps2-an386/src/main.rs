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

use board::{error, exit, flash, info, lan9118, stack, time, warn, TICKETS};
use booth_appliance_mps2_an386 as board;
use booth_bare::booth_core::engine::Owner;
use booth_bare::booth_core::{Duration, Instant};
use booth_bare::net::{Net, UdpBuffers};
use booth_bare::smoltcp::iface::SocketStorage;
use booth_bare::{Appliance, Provision, Restored};
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception};
use panic_semihosting as _;

/// Bytes of each UDP socket buffer (a booth peer datagram is 152 bytes).
const UDP_BUFFER: usize = 1024;
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

/// What `boot` hands over: the restored state and the network settings.
struct Booted {
    restored: Restored<flash::StateFlash, TICKETS>,
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
    let mut booted = boot();
    // The node lives in a static, started in place: no stack frame of its
    // size at boot (12.7 KiB), and it never moves.
    let Some(node) = cortex_m::singleton!(: booth_bare::booth_core::Node<TICKETS> =
        booth_bare::booth_core::Node::unstarted())
    else {
        exit(false)
    };
    if let Err(e) = booted.restored.start_node(node, time::now()) {
        error!("the engine refused the provisioned configuration: {:?}", e);
        exit(false)
    }
    run(booted, node)
}

/// Reads the provisioning blob and the persisted state.
#[inline(never)]
fn boot() -> Booted {
    info!(
        "booth arbitrator appliance {} on mps2-an386, {} tickets max",
        env!("CARGO_PKG_VERSION"),
        TICKETS
    );
    let prov = match Provision::<TICKETS>::decode(flash::provision_region()) {
        Ok(p) => p,
        Err(e) => {
            error!(
                "no usable provisioning blob at {:?}: {:?}",
                flash::PROVISION_ADDR,
                e
            );
            exit(false)
        }
    };
    let net = prov.net;
    let seed = prov.seed;
    let own = prov.own_endpoint();
    info!(
        "provisioned: member {} of {} at {:?}, {} ticket(s), interface {:?}/{} gateway {:?}, wall clock {}",
        prov.me,
        prov.config.members.len(),
        own.ip,
        prov.config.tickets.len(),
        net.ip,
        net.prefix_len,
        net.gateway,
        prov.wall_clock_secs
    );
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
    Booted {
        restored,
        net,
        seed,
    }
}

/// Brings up the network and serves the formation, forever.
#[inline(never)]
fn run(booted: Booted, node: &mut booth_bare::booth_core::Node<TICKETS>) -> ! {
    let Booted {
        restored,
        net: net_cfg,
        seed,
    } = booted;
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
    let mut app = restored.start(node);
    let (Some(buffers), Some(slots)) = (
        cortex_m::singleton!(: UdpBuffers<UDP_BUFFER> = UdpBuffers::new()),
        cortex_m::singleton!(: [SocketStorage<'static>; 1] = [SocketStorage::EMPTY]),
    ) else {
        exit(false)
    };
    let mut net = Net::new(eth, mac, &net_cfg, seed, time::now(), buffers, slots);
    // SAFETY: the handler only acknowledges the interrupt, and the device
    // is initialised: unmasking cannot break a critical section here.
    unsafe { NVIC::unmask(EthIrq) };
    info!("listening on UDP port {}", net_cfg.port);
    // Boot is over: its stack peak (the engine's constructor) is kept apart
    // from the steady state's.
    let boot_peak = stack::repaint();
    info!("stack used by boot: {} bytes", boot_peak);

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
                if !app.poll_one(mono, &mut net) {
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
        app.on_timers(mono, &mut net);
        net.egress(mono);
        if app.is_halted() {
            error!(
                "state could not be persisted: stopping (a restart resumes from the last record)"
            );
            exit(false);
        }

        if mono >= next_status {
            next_status = mono + STATUS_EVERY;
            status(&app, &net, &plain, &persisting, mono, boot_peak);
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
    app: &Appliance<'_, flash::StateFlash, TICKETS>,
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
