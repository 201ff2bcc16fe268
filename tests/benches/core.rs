//! Benchmarks (reports, not tests): the cost of one authenticated packet in
//! the core, and how fast the simulator runs. `cargo bench -p booth-tests`.

use booth_core::engine::{Restore, Source};
use booth_core::time::{Instant, Now, WallTime};
use booth_core::wire::{self, Command, Header, PeerMessage, TicketBody};
use booth_core::Node;
use booth_tests::fixtures::{self, KEY};
use booth_tests::sim::scenario::run_seed;
use std::time::Instant as Clock;

fn stats(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (xs[0], xs[xs.len() / 2], xs[xs.len() - 1])
}

/// A follower receives a signed heartbeat, verifies it, updates its lease and
/// answers with a signed ack: the whole per-packet path of the core.
fn packet_cost() -> (f64, f64, f64) {
    let cfg: booth_core::Config<8> = fixtures::formation(&["tA"]);
    let wall = 1_790_000_000u32;
    let leader = cfg.members[0].id.0;
    let batch = 2000;
    let mut samples = Vec::new();
    for round in 0..30 {
        let now = Now {
            mono: Instant(10_000),
            wall: WallTime::from_secs(wall as u64),
        };
        let mut node = Node::new(cfg.clone(), 1, round, now, &[Restore::Fresh]).unwrap();
        let datagrams: Vec<Vec<u8>> = (0..batch)
            .map(|i| {
                let msg = PeerMessage {
                    header: Header {
                        secs: wall,
                        usecs: i,
                        from: leader,
                        cmd: Command::Heartbeat.as_u32(),
                        ..Header::default()
                    },
                    cmd: Command::Heartbeat,
                    body: TicketBody {
                        name: b"tA".as_slice().try_into().unwrap(),
                        leader,
                        term: 1,
                        valid_for: 9,
                    },
                };
                let mut buf = [0u8; 1024];
                let n = wire::emit_peer(&msg, Some(KEY), &mut buf).unwrap();
                buf[..n].to_vec()
            })
            .collect();
        let mut buf = [0u8; 1024];
        while node.poll_event().is_some() {}
        while node.poll_transmit(now, &mut buf).is_some() {}
        let start = Clock::now();
        for d in &datagrams {
            node.handle_datagram(now, Source::Member(0), d).unwrap();
            while node.poll_event().is_some() {}
            while node.poll_transmit(now, &mut buf).is_some() {}
        }
        samples.push(start.elapsed().as_nanos() as f64 / batch as f64);
    }
    stats(samples)
}

/// Simulated member-seconds per wall-clock second, per batch of seeds.
fn simulator_speed() -> (f64, f64, f64) {
    let mut samples = Vec::new();
    for batch in 0..10u64 {
        let start = Clock::now();
        let mut member_ms = 0u64;
        for seed in batch * 100..batch * 100 + 100 {
            let o = run_seed(seed, false);
            member_ms += o.sim_ms * o.members as u64;
        }
        samples.push(member_ms as f64 / 1000.0 / start.elapsed().as_secs_f64());
    }
    stats(samples)
}

fn main() {
    // `cargo test --benches` runs this too: keep that cheap.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let (min, med, max) = packet_cost();
    println!("| authenticated heartbeat in, signed ack out (ns/packet) | {min:.0} | {med:.0} | {max:.0} |");
    let (min, med, max) = simulator_speed();
    println!("| simulator (member-seconds per wall second) | {min:.0} | {med:.0} | {max:.0} |");
}
