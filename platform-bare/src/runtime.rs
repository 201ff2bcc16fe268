//! The appliance loop: one [`Node`] driven by a monotonic tick and a UDP
//! interface, with its promises kept in a [`StateStore`].
//!
//! The board calls [`Appliance::poll`] whenever something may have happened
//! (a frame arrived, a timer tick) and sleeps until the instant it returns or
//! until the network wakes it. Each step follows the engine's contract:
//! feed an input, drain every event — persisting state **before** any packet
//! is taken — then send what the engine queued.
//!
//! The UDP interface is the [`Datagrams`] trait, so the same loop runs over
//! smoltcp on the board ([`crate::net`]) and over an in-memory network in the
//! host tests.

use booth_core::engine::{Event, NewError, RecvError, Restore, Source};
use booth_core::wire::{DecodeError, Header, TICKET_MSG_LEN, TRAILER_LEN};
use booth_core::{Config, Duration, Instant, Node, Now, MAX_MEMBERS};
use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::clock::WallClock;
use crate::provision::Provision;
use crate::storage::{formation_fingerprint, Found, StateStore, Storage, StoreError};

/// The member list and the ticket names of `config`: what the persisted
/// state was read for.
fn config_fingerprint<const T: usize, const M: usize>(config: &Config<T, M>, me: usize) -> u32 {
    config
        .tickets
        .iter()
        .fold(formation_fingerprint(config, me), |h, t| {
            h.rotate_left(5) ^ crate::crc::hash(t.name.as_bytes())
        })
}

/// Datagrams handled per [`Appliance::poll`] before timers get their turn.
pub const MAX_DATAGRAMS_PER_POLL: usize = 16;

/// Every datagram between members is a signed ticket message (152 bytes);
/// the engine emits nothing else over UDP.
pub const PEER_MSG_MAX: usize = TICKET_MSG_LEN + TRAILER_LEN;

/// How soon to retry a datagram the interface could not take.
const SEND_RETRY: Duration = Duration(1);

/// An IPv4 UDP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Endpoint {
    pub ip: [u8; 4],
    pub port: u16,
}

/// The datagram could not be queued (it is dropped; booth resends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SendError;

/// A UDP socket, as the appliance needs it.
pub trait Datagrams {
    /// Copies the next received datagram into `buf`: its length and sender.
    /// Datagrams longer than `buf` are dropped by the implementation.
    fn recv(&mut self, buf: &mut [u8]) -> Option<(usize, Endpoint)>;
    /// Queues one datagram to `to`. On `Err` the runtime keeps the datagram
    /// and offers it again at its next poll (back-pressure, not loss).
    fn send(&mut self, to: Endpoint, data: &[u8]) -> Result<(), SendError>;
}

/// Traffic and health counters of the runtime (the engine keeps its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    pub received: u32,
    /// Refused by the engine (malformed, unsigned, stale, unknown ...).
    pub dropped: u32,
    pub sent: u32,
    /// Times the interface could not take a datagram yet (retried later).
    pub send_blocked: u32,
    pub persists: u32,
    /// Verified packets that moved the wall clock forward.
    pub clock_adjustments: u32,
}

/// Starting, step one: the persisted state has been read and the engine's
/// inputs are ready ([`Restored::open`]).
///
/// Starting takes three steps because a [`Node`] is large (9.1 KiB for 8
/// tickets and 5 members on Cortex-M) and Rust has no placement: every move
/// of a node copies it through the stack. So the board binds the node
/// itself, where it will live for good, and lends it to the appliance. The
/// configuration (1.1 KiB) is not copied through the stack either: `open`
/// only borrows the provision, and `start_node` copies its configuration
/// into the node element by element.
///
/// ```text
/// static NODE: Node<8, 5> = Node::unstarted();   // e.g. through cortex_m::singleton!
/// let mut restored = Restored::open(&provision, storage, now)?;
/// restored.start_node(node, &provision.config, now)?; // started in place, never moved
/// let mut app = restored.start(node);
/// ```
#[derive(Debug)]
pub struct Restored<S, const TICKETS: usize, const MEMBERS: usize = MAX_MEMBERS> {
    me: usize,
    seed: u64,
    peers: Vec<Endpoint, MEMBERS>,
    /// What identifies the configuration the state was read for.
    fingerprint: u32,
    store: StateStore<S, TICKETS>,
    restores: Vec<Restore, TICKETS>,
    clock: WallClock,
    found: Found,
}

impl<S: Storage, const TICKETS: usize, const MEMBERS: usize> Restored<S, TICKETS, MEMBERS> {
    /// Reads the persisted state from `storage` for the provisioned
    /// formation and sets the wall clock. `mono` is the monotonic clock now.
    pub fn open(
        prov: &Provision<TICKETS, MEMBERS>,
        storage: S,
        mono: Instant,
    ) -> Result<Self, StoreError<S::Error>> {
        let me = prov.me as usize;
        let (store, loaded) = StateStore::open(storage, &prov.config, me)?;
        let provisioned = booth_core::WallTime::from_secs(prov.wall_clock_secs);
        let wall = loaded.wall.map_or(provisioned, |w| w.max(provisioned));
        match loaded.found {
            Found::Empty => info!("no persisted state: first start"),
            Found::Valid { seq, .. } => info!("restored persisted state, record {}", seq),
            Found::OtherFormation { seq, .. } => warn!(
                "state record {} is from another member list: terms kept, votes refused for a lease",
                seq
            ),
            Found::Damaged => error!(
                "persisted state is damaged: starting with amnesia (votes refused for a lease)"
            ),
        }
        Ok(Restored {
            me,
            seed: prov.seed,
            peers: prov.peers.clone(),
            fingerprint: config_fingerprint(&prov.config, me),
            store,
            restores: loaded.restores,
            clock: WallClock::new(wall, mono),
            found: loaded.found,
        })
    }

    /// Step two: starts the engine in place (a `static` made with
    /// [`Node::unstarted`]) from the restored state and `config`, the
    /// configuration of the provision given to [`Restored::open`] (another
    /// one is refused as [`ConfigError::MemberCount`]). Call once.
    ///
    /// [`ConfigError::MemberCount`]: booth_core::config::ConfigError::MemberCount
    #[inline(never)]
    pub fn start_node(
        &mut self,
        node: &mut Node<TICKETS, MEMBERS>,
        config: &Config<TICKETS, MEMBERS>,
        mono: Instant,
    ) -> Result<(), NewError> {
        if config_fingerprint(config, self.me) != self.fingerprint {
            return Err(NewError::Config(
                booth_core::config::ConfigError::MemberCount,
            ));
        }
        let now = Now {
            mono,
            wall: self.clock.at(mono),
        };
        node.start_from(config, self.me, self.seed, now, &self.restores)
    }

    /// Step three: the appliance around `node`.
    pub fn start<'n>(
        self,
        node: &'n mut Node<TICKETS, MEMBERS>,
    ) -> Appliance<'n, S, TICKETS, MEMBERS> {
        Appliance {
            node,
            store: self.store,
            peers: self.peers,
            clock: self.clock,
            rx: [0; PEER_MSG_MAX],
            tx: [0; PEER_MSG_MAX],
            stashed: None,
            stats: Stats::default(),
            found: self.found,
            halted: false,
        }
    }

    /// How the persisted state was found.
    pub fn found(&self) -> Found {
        self.found
    }

    /// The wall clock at monotonic instant `mono`.
    pub fn wall(&self, mono: Instant) -> booth_core::WallTime {
        self.clock.at(mono)
    }
}

/// A vote-only member: the engine, its persistent state and its peers' addresses.
#[derive(Debug)]
pub struct Appliance<'n, S, const TICKETS: usize, const MEMBERS: usize = MAX_MEMBERS> {
    node: &'n mut Node<TICKETS, MEMBERS>,
    store: StateStore<S, TICKETS>,
    peers: Vec<Endpoint, MEMBERS>,
    clock: WallClock,
    /// One received datagram. Members send only signed ticket messages, so
    /// anything longer is no peer message: the interface drops it (see
    /// [`Datagrams::recv`]) instead of this buffer holding booth's 1 KiB.
    rx: [u8; PEER_MSG_MAX],
    /// One datagram to send.
    tx: [u8; PEER_MSG_MAX],
    /// `tx` holds a datagram of this length for this member that the
    /// interface refused: it goes first at the next flush.
    stashed: Option<(usize, usize)>,
    stats: Stats,
    found: Found,
    /// A write of promised state failed: nothing is sent any more.
    halted: bool,
}

impl<'n, S: Storage, const TICKETS: usize, const MEMBERS: usize>
    Appliance<'n, S, TICKETS, MEMBERS>
{
    /// Handles due timers and up to [`MAX_DATAGRAMS_PER_POLL`] datagrams;
    /// returns when to poll again at the latest.
    pub fn poll(&mut self, mono: Instant, net: &mut impl Datagrams) -> Option<Instant> {
        self.on_timers(mono, net);
        for _ in 0..MAX_DATAGRAMS_PER_POLL {
            if !self.poll_one(mono, net) {
                break;
            }
        }
        self.next_deadline(mono)
    }

    /// Fires due timers, then sends what they queued (and anything pending).
    pub fn on_timers(&mut self, mono: Instant, net: &mut impl Datagrams) {
        if self.node.poll_timeout().is_some_and(|t| t <= mono) {
            let now = self.now(mono);
            self.node.handle_timeout(now);
        }
        self.flush(mono, net);
    }

    /// Receives and handles one datagram, replies included. False if none was waiting.
    pub fn poll_one(&mut self, mono: Instant, net: &mut impl Datagrams) -> bool {
        let Some((len, from)) = net.recv(&mut self.rx) else {
            return false;
        };
        self.stats.received = self.stats.received.wrapping_add(1);
        self.handle(mono, from, len.min(PEER_MSG_MAX));
        self.flush(mono, net);
        true
    }

    fn handle(&mut self, mono: Instant, from: Endpoint, len: usize) {
        let source = match self.peers.iter().position(|p| *p == from) {
            Some(m) => Source::Member(m),
            None => Source::Unknown,
        };
        let signed = self.node.config().key.is_some();
        let result = self
            .node
            .handle_datagram(self.now(mono), source, &self.rx[..len]);
        let stamp = Header::parse(&self.rx[..len]).map(|h| h.secs);
        match (result, stamp) {
            (Ok(()), Ok(secs)) if signed => {
                // Verified by the engine: a key holder's clock.
                if self.clock.observe(mono, secs) {
                    self.stats.clock_adjustments = self.stats.clock_adjustments.wrapping_add(1);
                }
            }
            (Ok(()), _) => {}
            (Err(RecvError::Auth(DecodeError::FromFuture)), Ok(secs)) => {
                // The MAC was verified before the timestamp was judged: our
                // clock is behind the formation's. Catch up and try again.
                if self.clock.observe(mono, secs) {
                    self.stats.clock_adjustments = self.stats.clock_adjustments.wrapping_add(1);
                    warn!(
                        "wall clock was behind a verified peer stamp: moved forward to {}",
                        secs
                    );
                    if self
                        .node
                        .handle_datagram(self.now(mono), source, &self.rx[..len])
                        .is_err()
                    {
                        self.stats.dropped = self.stats.dropped.wrapping_add(1);
                    }
                } else {
                    self.stats.dropped = self.stats.dropped.wrapping_add(1);
                }
            }
            (Err(e), _) => {
                self.stats.dropped = self.stats.dropped.wrapping_add(1);
                debug!("dropped a datagram: {:?}", e);
            }
        }
    }

    /// Drains events (persisting first), then transmits.
    fn flush(&mut self, mono: Instant, net: &mut impl Datagrams) {
        let now = self.now(mono);
        while let Some(ev) = self.node.poll_event() {
            match ev {
                Event::Persist { ticket, state } => {
                    if let Err(e) = self.store.persist(ticket, state, now.wall) {
                        let why = match e {
                            StoreError::Storage(_) => "the storage failed",
                            StoreError::SlotTooSmall { .. } => "the record does not fit a slot",
                            StoreError::NoSuchTicket => "no such ticket",
                        };
                        error!(
                            "cannot persist ticket {}: {}; halting (nothing more is sent)",
                            ticket, why
                        );
                        self.halted = true;
                    } else {
                        self.stats.persists = self.stats.persists.wrapping_add(1);
                        debug!("persisted ticket {}: {:?}", ticket, state);
                    }
                }
                Event::PeerUp { member } => info!("member {} is up", member),
                Event::TimingMismatch { ticket, member } => warn!(
                    "ticket {}: member {} runs a longer lease: configurations differ",
                    ticket, member
                ),
                Event::Commit(c) => debug!("ticket view: {:?}", c),
                // Arbitrators have no CIB, no handler and no admin clients.
                other => debug!("ignored event {:?}", other),
            }
        }
        if self.halted {
            return;
        }
        loop {
            let (to, len) = match self.stashed.take() {
                Some(s) => s,
                None => match self.node.poll_transmit(now, &mut self.tx) {
                    Some(t) => (t.to, t.len),
                    None => return,
                },
            };
            let Some(peer) = self.peers.get(to).copied() else {
                continue;
            };
            match net.send(peer, &self.tx[..len]) {
                Ok(()) => self.stats.sent = self.stats.sent.wrapping_add(1),
                Err(SendError) => {
                    self.stats.send_blocked = self.stats.send_blocked.wrapping_add(1);
                    self.stashed = Some((to, len));
                    return;
                }
            }
        }
    }

    /// Both clocks at monotonic instant `mono`.
    pub fn now(&self, mono: Instant) -> Now {
        Now {
            mono,
            wall: self.clock.at(mono),
        }
    }

    /// When to call [`Appliance::on_timers`] next: the engine's next timer,
    /// or very soon while a datagram waits for room in the interface.
    pub fn next_deadline(&self, mono: Instant) -> Option<Instant> {
        let engine = self.node.poll_timeout();
        if self.stashed.is_some() {
            let soon = mono + SEND_RETRY;
            return Some(engine.map_or(soon, |t| t.min(soon)));
        }
        engine
    }

    pub fn node(&self) -> &Node<TICKETS, MEMBERS> {
        self.node
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn clock(&self) -> &WallClock {
        &self.clock
    }

    /// How the persisted state was found at start.
    pub fn found(&self) -> Found {
        self.found
    }

    /// A persist failed and the appliance stopped sending; restart it.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    pub fn store(&self) -> &StateStore<S, TICKETS> {
        &self.store
    }

    /// Stops the appliance, handing back its storage (tests restart with it).
    pub fn into_storage(self) -> S {
        self.store.into_storage()
    }
}
