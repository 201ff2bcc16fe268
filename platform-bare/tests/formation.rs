//! The appliance runtime in a formation: two sites that are plain core
//! `Node`s and one arbitrator that is an `Appliance` over a fake UDP
//! interface, with a shared fake clock and an in-memory network.
//!
//! Checks that the appliance's vote decides a failover (2 of 3), that it
//! restarts from its persisted state, and that a wall clock provisioned far
//! behind the formation catches up from verified peer packets.

use std::collections::VecDeque;

use booth_bare::provision::{NetConfig, Provision};
use booth_bare::runtime::{Appliance, Datagrams, Endpoint, Restored, SendError};
use booth_bare::storage::{Found, RamStorage};
use booth_core::engine::{AdminRequest, ClientId, Owner, Source, State};
use booth_core::wire::ResultCode;
use booth_core::{
    Config, Duration, Instant, Member, Node, Now, Role, SiteId, TicketConfig, WallTime,
};

const T: usize = 4;
/// The firmware's member capacity: the formation runs with the appliance's
/// sizes (sites too, as their configuration is the provision's).
const M: usize = 5;
const EPOCH: u64 = 1_764_000_000;
const ARB: usize = 2;
/// What the appliance sees as the source of every datagram: a NAT gateway
/// (as QEMU's slirp), not the member's address.
const NAT: Endpoint = Endpoint {
    ip: [10, 0, 2, 2],
    port: 40000,
};

fn ip(i: usize) -> [u8; 4] {
    [127, 0, 0, 1 + i as u8]
}

fn provision(wall_secs: u64) -> Provision<T, M> {
    let mut config = Config::new();
    let mut peers = heapless::Vec::new();
    for (i, role) in [Role::Site, Role::Site, Role::Arbitrator]
        .into_iter()
        .enumerate()
    {
        config
            .members
            .push(Member {
                id: SiteId::from_ipv4(ip(i)),
                role,
            })
            .unwrap();
        peers
            .push(Endpoint {
                ip: ip(i),
                port: 9929,
            })
            .unwrap();
    }
    let t = TicketConfig::new("ticketA").unwrap().with_timing(
        Duration::from_secs(10),
        Duration::from_secs(1),
        3,
    );
    config.tickets.push(t).unwrap();
    config.key = Some(heapless::Vec::from_slice(b"formation-test-key-0123").unwrap());
    config.check_source = false;
    Provision {
        config,
        me: ARB as u8,
        peers,
        net: NetConfig {
            ip: [10, 0, 2, 15],
            prefix_len: 24,
            gateway: Some([10, 0, 2, 2]),
            port: 9929,
        },
        wall_clock_secs: wall_secs,
        seed: 7,
    }
}

/// The appliance's UDP interface.
#[derive(Default)]
struct FakeUdp {
    inbox: VecDeque<(Endpoint, Vec<u8>)>,
    outbox: Vec<(Endpoint, Vec<u8>)>,
    /// Refuse every other send (a full socket buffer).
    flaky: bool,
    calls: u32,
}

impl Datagrams for FakeUdp {
    fn recv(&mut self, buf: &mut [u8]) -> Option<(usize, Endpoint)> {
        let (from, bytes) = self.inbox.pop_front()?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Some((bytes.len(), from))
    }
    fn send(&mut self, to: Endpoint, data: &[u8]) -> Result<(), SendError> {
        self.calls += 1;
        if self.flaky && self.calls % 2 == 1 {
            return Err(SendError);
        }
        self.outbox.push((to, data.to_vec()));
        Ok(())
    }
}

struct World {
    /// Milliseconds since the start: every member's monotonic clock.
    t: u64,
    sites: [Option<Node<T, M>>; 2],
    app: Option<Appliance<'static, RamStorage<512>, T, M>>,
    udp: FakeUdp,
    /// (deliver at, from, to, bytes)
    wire: Vec<(u64, usize, usize, Vec<u8>)>,
    prov: Provision<T, M>,
}

impl World {
    fn new(app_wall_secs: u64) -> World {
        let prov = provision(app_wall_secs);
        let mut w = World {
            t: 0,
            sites: [None, None],
            app: None,
            udp: FakeUdp::default(),
            wire: Vec::new(),
            prov,
        };
        w.start_site(0);
        w.start_site(1);
        w.start_app(RamStorage::new());
        w
    }

    fn now(&self) -> Now {
        Now {
            mono: Instant(self.t),
            wall: WallTime::from_secs(EPOCH).plus(Duration(self.t)),
        }
    }

    fn start_site(&mut self, i: usize) {
        let node = Node::new(self.prov.config.clone(), i, 11 + i as u64, self.now(), &[]).unwrap();
        self.sites[i] = Some(node);
    }

    fn start_app(&mut self, storage: RamStorage<512>) {
        let now = Instant(self.t);
        let mut restored = Restored::open(&self.prov, storage, now).unwrap();
        // Each start gets its own node (leaked: a test lives briefly).
        let node = Box::leak(Box::new(Node::unstarted()));
        restored.start_node(node, &self.prov.config, now).unwrap();
        let app = restored.start(node);
        self.app = Some(app);
    }

    /// Stops the appliance and returns its flash.
    fn stop_app(&mut self) -> RamStorage<512> {
        self.app.take().unwrap().into_storage()
    }

    fn site(&self, i: usize) -> &Node<T, M> {
        self.sites[i].as_ref().unwrap()
    }

    fn owner(&self, i: usize) -> Owner {
        let view = if i == ARB {
            self.app.as_ref().unwrap().node().ticket_view(0)
        } else {
            self.site(i).ticket_view(0)
        };
        view.unwrap().owner
    }

    fn id(i: usize) -> Owner {
        Owner::Site(SiteId::from_ipv4(ip(i)))
    }

    fn grant(&mut self, i: usize) -> ResultCode {
        let now = self.now();
        let r = self.sites[i].as_mut().unwrap().handle_admin(
            now,
            ClientId(1),
            AdminRequest::Grant {
                ticket: 0,
                force: false,
                wait_commit: false,
            },
        );
        r.result
    }

    /// Runs every member for `ms` milliseconds in 1 ms steps.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.step();
            self.t += 1;
        }
    }

    fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&World) -> bool) -> bool {
        for _ in 0..limit_ms {
            if done(self) {
                return true;
            }
            self.step();
            self.t += 1;
        }
        done(self)
    }

    fn step(&mut self) {
        let now = self.now();
        // Deliver what is due (1 ms one-way delay).
        let due: Vec<_> = {
            let (due, later): (Vec<_>, Vec<_>) =
                self.wire.drain(..).partition(|(at, ..)| *at <= self.t);
            self.wire = later;
            due
        };
        for (_, from, to, bytes) in due {
            if to == ARB {
                if self.app.is_some() {
                    self.udp.inbox.push_back((NAT, bytes));
                }
            } else if let Some(node) = self.sites[to].as_mut() {
                let _ = node.handle_datagram(now, Source::Member(from), &bytes);
            }
        }
        for i in 0..2 {
            let Some(node) = self.sites[i].as_mut() else {
                continue;
            };
            if node.poll_timeout().is_some_and(|d| d <= now.mono) {
                node.handle_timeout(now);
            }
            while node.poll_event().is_some() {}
            let mut buf = [0u8; 1024];
            while let Some(tx) = node.poll_transmit(now, &mut buf) {
                self.wire
                    .push((self.t + 1, i, tx.to, buf[..tx.len].to_vec()));
            }
        }
        if let Some(app) = self.app.as_mut() {
            app.poll(now.mono, &mut self.udp);
            for (to, bytes) in self.udp.outbox.drain(..) {
                let to = self
                    .prov
                    .peers
                    .iter()
                    .position(|p| *p == to)
                    .expect("the appliance sent to a member address");
                self.wire.push((self.t + 1, ARB, to, bytes));
            }
        }
    }
}

#[test]
fn the_appliance_votes_a_failover_through_and_restarts_from_flash() {
    let mut w = World::new(EPOCH);
    w.run(2_000);
    let r = w.grant(0);
    assert!(matches!(r, ResultCode::Success | ResultCode::More), "{r:?}");
    assert!(
        w.run_until(5_000, |w| w.owner(1) == World::id(0)
            && w.owner(ARB) == World::id(0)),
        "site 1 {:?}, appliance {:?}",
        w.owner(1),
        w.owner(ARB)
    );
    assert_eq!(w.site(0).ticket_view(0).unwrap().state, State::Leader);
    let app = w.app.as_ref().unwrap();
    assert!(app.stats().persists > 0, "{:?}", app.stats());
    assert_eq!(app.stats().dropped, 0, "{:?}", app.stats());
    assert_eq!(app.node().counters().auth_failures, 0);

    // The holder dies. Site 1 may take over only after the lease, and only
    // with the appliance's vote.
    let killed = w.t;
    w.sites[0] = None;
    assert!(
        w.run_until(40_000, |w| w.site(1).ticket_view(0).unwrap().state
            == State::Leader),
        "site 1 never took the ticket: {:?}",
        w.site(1).ticket_view(0)
    );
    assert!(
        w.t - killed >= 10_000,
        "took over {} ms after the kill",
        w.t - killed
    );
    assert!(w.run_until(3_000, |w| w.owner(ARB) == World::id(1)));
    let term = w.site(1).ticket_view(0).unwrap().term;

    // Restart the appliance from its flash: it finds its record and follows
    // site 1 again; the formation keeps its holder.
    let flash = w.stop_app();
    w.run(500);
    w.start_app(flash);
    assert!(matches!(
        w.app.as_ref().unwrap().found(),
        Found::Valid { .. }
    ));
    assert!(w.run_until(5_000, |w| w.owner(ARB) == World::id(1)));
    w.run(25_000);
    assert_eq!(w.owner(ARB), World::id(1));
    let view = w.site(1).ticket_view(0).unwrap();
    assert_eq!(view.state, State::Leader);
    assert_eq!(
        view.term, term,
        "the holder kept its term across the restart"
    );
}

#[test]
fn without_the_appliance_the_surviving_site_cannot_take_the_ticket() {
    let mut w = World::new(EPOCH);
    w.run(2_000);
    let r = w.grant(0);
    assert!(matches!(r, ResultCode::Success | ResultCode::More), "{r:?}");
    assert!(w.run_until(5_000, |w| w.owner(1) == World::id(0)));
    w.sites[0] = None;
    let _ = w.stop_app();
    w.run(40_000);
    assert_ne!(w.site(1).ticket_view(0).unwrap().state, State::Leader);
}

#[test]
fn a_wall_clock_an_hour_behind_catches_up_from_verified_peers() {
    let mut w = World::new(EPOCH - 3_600);
    w.run(2_000);
    let app = w.app.as_ref().unwrap();
    assert!(app.stats().clock_adjustments >= 1, "{:?}", app.stats());
    let wall = app.now(Instant(w.t)).wall.secs();
    assert!(
        wall + 5 >= EPOCH,
        "appliance clock {wall}, formation {EPOCH}"
    );
    let r = w.grant(0);
    assert!(matches!(r, ResultCode::Success | ResultCode::More), "{r:?}");
    assert!(w.run_until(5_000, |w| w.owner(ARB) == World::id(0)));
}

#[test]
fn a_full_interface_delays_datagrams_but_loses_none() {
    let mut w = World::new(EPOCH);
    w.udp.flaky = true;
    w.run(2_000);
    let r = w.grant(0);
    assert!(matches!(r, ResultCode::Success | ResultCode::More), "{r:?}");
    assert!(w.run_until(5_000, |w| w.owner(ARB) == World::id(0)));
    w.run(20_000);
    let app = w.app.as_ref().unwrap();
    assert!(app.stats().send_blocked > 0, "{:?}", app.stats());
    // Every refused datagram went out later: the engine saw no loss.
    assert_eq!(
        app.stats().sent,
        app.stats().send_blocked,
        "{:?}",
        app.stats()
    );
    assert_eq!(w.site(0).ticket_view(0).unwrap().state, State::Leader);
    assert_eq!(w.site(0).peer_stats(ARB).unwrap().resends, 0);
}
