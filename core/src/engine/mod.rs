//! One member of a formation: the per-ticket election and lease state machines
//! behind a tick-and-packet interface.
//!
//! Feed it with [`Node::handle_datagram`], [`Node::handle_timeout`],
//! [`Node::handle_admin`] and [`Node::handle_handler_done`]; then drain
//! [`Node::poll_event`] until `None`, [`Node::poll_transmit`] until `None`,
//! and sleep until [`Node::poll_timeout`]. Nothing here reads a clock, a
//! socket or a random source, so the same inputs give the same outputs.

pub mod admin;
#[cfg(feature = "check")]
mod check;
mod election;
pub mod event;
mod lease;
mod outbox;
pub mod restore;
mod revoke;
mod rng;
mod startup;
pub mod stats;
mod ticket;
mod timer;

pub use admin::{AdminRequest, AdminResponse};
pub use event::*;
pub use outbox::OUTBOX_SLOTS;
pub use stats::{Counters, PeerStats};
pub use ticket::{Leader, State, MAX_WAITERS, TERM_CEILING};

use crate::config::{Config, ConfigError, TicketConfig};
use crate::site_id::NO_ONE;
use crate::time::{Instant, Now};
use crate::wire::auth::Stamper;
use crate::wire::{
    self, replay::PEER_PREFIX_LEN, Command, DecodeError, Header, PeerMessage, ReplayCache, Stamp,
    TicketBody,
};
use crate::MAX_MEMBERS;
use admin::Waiter;
use heapless::{Deque, Vec};
use outbox::Outbox;
use rng::Rng;
use ticket::{Ctx, Ticket};
use timer::Timer;

/// Client replies waiting for `poll_event` (a few per waiting client).
const REPLY_SLOTS: usize = 4 * MAX_WAITERS;

defmt_derive! {
/// Where a datagram came from, as the platform resolved its source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Member(MemberIndex),
    /// An address that is no configured member's.
    Unknown,
}
}

defmt_derive! {
/// Why a received datagram was dropped (each is also counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    Decode(DecodeError),
    /// Bad or missing MAC, or a stale, future or replayed timestamp.
    Auth(DecodeError),
    /// Not from a configured member (by address or by `from`).
    UnknownSender,
    /// `from` names a member other than the one at the source address.
    Spoofed,
    /// Our own ID in `from`.
    FromSelf,
    UnknownTicket,
    /// `leader` is 0 or not a member's ID.
    InvalidLeader,
    /// A client command arrived over UDP.
    NotAPeerCommand,
    /// `term` above [`TERM_CEILING`]: following it would let the
    /// fencing token saturate and repeat.
    ImplausibleTerm,
}
}

defmt_derive! {
/// The node could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewError {
    Config(ConfigError),
    /// `me` is not a member index.
    NoSuchMember,
}
}

defmt_derive! {
/// A datagram is ready in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub to: MemberIndex,
    pub len: usize,
}
}

defmt_derive! {
/// A ticket as `booth list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketView {
    pub state: State,
    pub owner: Owner,
    pub term: u32,
    /// End of the lease as known here.
    pub expires: Option<Instant>,
    /// The holder's own deadline (what the lease guard enforces).
    pub deadline: Option<Instant>,
    /// Granted here in the CIB.
    pub granted: bool,
    /// The admin grant's CIB commit waits until then.
    pub commit_pending_until: Option<Instant>,
}
}

/// A decoded peer message, as the ticket handlers see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming {
    pub from: MemberIndex,
    /// Header `secs`/`usecs` of the message.
    pub stamp: (u32, u32),
    pub request: u32,
    pub reason: u32,
    pub result: u32,
    pub leader: Leader,
    pub term: u32,
    pub valid_for: u32,
    /// Set when the sender is booth-rs (it marked `options`): what its
    /// `valid_for` truncated, in ms.
    pub sub_unit_ms: Option<u16>,
}

impl Incoming {
    pub fn leader_is(&self, member: MemberIndex) -> bool {
        self.leader == Leader::Member(member as u8)
    }
}

/// One member: sites and arbitrators alike. `TICKETS` is the ticket capacity,
/// `MEMBERS` the member capacity (at most [`MAX_MEMBERS`]: vote and ack
/// masks are u16); per-member state (statistics, replay windows) is sized
/// by it, so an appliance built for its formation pays for no more.
///
/// With the `check` feature it is `Clone`, for the exhaustive explorer of
/// the tests crate, which branches a formation's state at every step.
#[derive(Debug)]
#[cfg_attr(feature = "check", derive(Clone))]
pub struct Node<
    const TICKETS: usize,
    const MEMBERS: usize = MAX_MEMBERS,
    const REPLAY: usize = { wire::replay::CACHE_LEN },
> {
    /// First: declared after `peers` (next to buffers left uninitialised),
    /// the appliance built the 5 × 396 B of it on the stack and copied them
    /// into its static (start_engine's frame 2,112 B, from 168 B).
    replay: [ReplayCache<REPLAY, PEER_PREFIX_LEN>; MEMBERS],
    config: Config<TICKETS, MEMBERS>,
    me: MemberIndex,
    tickets: Vec<Ticket, TICKETS>,
    out: Outbox,
    rng: Rng,
    waiters: Vec<Waiter, MAX_WAITERS>,
    replies: Deque<Event, REPLY_SLOTS>,
    peers: [PeerStats; MEMBERS],
    /// Members heard from since start; `peer_up` those not yet reported.
    peers_seen: u16,
    peer_up: u16,
    /// Members whose last message carried the booth-rs mark. Any other
    /// site may be a booth 1.x holder, with its late expiry.
    marked: u16,
    counters: Counters,
    /// Latest `now.mono` seen: time never runs backwards in here.
    now: Instant,
    /// Header stamps: strictly increasing, so booth peers with a key take
    /// every packet on their fast path and our followers can echo them.
    stamper: Stamper,
}

impl<const TICKETS: usize, const MEMBERS: usize> Node<TICKETS, MEMBERS> {
    /// A member starting now. `restore[i]` is ticket i's persisted state
    /// (missing entries are [`Restore::Fresh`]); `seed` drives election back-off.
    /// With the default replay cache ([`wire::replay::CACHE_LEN`] a peer);
    /// [`Node::new_sized`] for another.
    pub fn new(
        config: Config<TICKETS, MEMBERS>,
        me: MemberIndex,
        seed: u64,
        now: Now,
        restore: &[Restore],
    ) -> Result<Self, NewError> {
        Self::new_sized(config, me, seed, now, restore)
    }
}

impl<const TICKETS: usize, const MEMBERS: usize, const REPLAY: usize>
    Node<TICKETS, MEMBERS, REPLAY>
{
    /// [`Node::new`] for any replay cache length `REPLAY`, which the caller's
    /// type names (a default const parameter is not inferred).
    pub fn new_sized(
        config: Config<TICKETS, MEMBERS>,
        me: MemberIndex,
        seed: u64,
        now: Now,
        restore: &[Restore],
    ) -> Result<Self, NewError> {
        let mut node = Self::unstarted();
        node.start(config, me, seed, now, restore)?;
        Ok(node)
    }

    /// A member with no configuration, for a `static` that [`Node::start`]
    /// fills in place: on a microcontroller the node never moves (and never
    /// needs a stack frame of its own size).
    pub const fn unstarted() -> Self {
        const { assert!(MEMBERS <= MAX_MEMBERS, "vote and ack masks hold 16 members") };
        Node {
            config: Config::new(),
            me: 0,
            tickets: Vec::new(),
            out: Outbox::new(),
            rng: Rng::new(0),
            waiters: Vec::new(),
            replies: Deque::new(),
            peers: [PeerStats::ZERO; MEMBERS],
            replay: [const { ReplayCache::new() }; MEMBERS],
            peers_seen: 0,
            marked: 0,
            peer_up: 0,
            counters: Counters::ZERO,
            now: Instant::ZERO,
            stamper: Stamper::new(),
        }
    }

    /// Starts this member in place (see [`Node::new`]); on error it stays
    /// unstarted.
    pub fn start(
        &mut self,
        config: Config<TICKETS, MEMBERS>,
        me: MemberIndex,
        seed: u64,
        now: Now,
        restore: &[Restore],
    ) -> Result<(), NewError> {
        self.start_from(&config, me, seed, now, restore)
    }

    /// [`Node::start`] from a borrowed configuration, copied in element by
    /// element: a configuration passed by value is copied through the stack
    /// (1.1 KiB for 8 tickets on Cortex-M), which a microcontroller's boot
    /// path cannot spare.
    pub fn start_from(
        &mut self,
        config: &Config<TICKETS, MEMBERS>,
        me: MemberIndex,
        seed: u64,
        now: Now,
        restore: &[Restore],
    ) -> Result<(), NewError> {
        config.validate().map_err(NewError::Config)?;
        if me >= config.members.len() {
            return Err(NewError::NoSuchMember);
        }
        // Field by field: a whole `Node` temporary would cost a stack frame
        // of its size, which is what starting in place avoids. Destructured,
        // so that a new configuration field cannot be forgotten here.
        let Config {
            members,
            tickets,
            key,
            max_time_skew,
            max_future_skew,
            wire_unit,
            check_source,
        } = config;
        let c = &mut self.config;
        c.members.clear();
        c.tickets.clear();
        for m in members {
            // Same capacities as `config`'s: these cannot fail.
            let _ = c.members.push(*m);
        }
        for t in tickets {
            let _ = c.tickets.push(t.clone());
        }
        c.key.clone_from(key);
        c.max_time_skew = *max_time_skew;
        c.max_future_skew = *max_future_skew;
        c.wire_unit = *wire_unit;
        c.check_source = *check_source;
        self.me = me;
        self.tickets.clear();
        self.out.clear();
        self.rng = Rng::new(seed);
        self.waiters.clear();
        self.replies.clear();
        self.peers.iter_mut().for_each(|p| *p = PeerStats::ZERO);
        self.replay.iter_mut().for_each(ReplayCache::clear);
        self.peers_seen = 0;
        self.peer_up = 0;
        self.counters = Counters::ZERO;
        self.now = now.mono;
        self.stamper = Stamper::new();
        for i in 0..self.config.tickets.len() {
            // Capacity equals the config's, so this cannot fail.
            let _ = self.tickets.push(Ticket::new(i));
            let r = restore.get(i).copied().unwrap_or(Restore::Fresh);
            self.with_ticket(i, |t, cx| t.start(cx, r));
        }
        Ok(())
    }

    // --- inputs ----------------------------------------------------------

    /// A datagram arrived. Drops (and counts) anything malformed, unsigned,
    /// replayed or spoofed before any state is touched.
    pub fn handle_datagram(
        &mut self,
        now: Now,
        source: Source,
        datagram: &[u8],
    ) -> Result<(), RecvError> {
        self.advance(now);
        let result = self.receive(now, source, datagram);
        if let Err(e) = result {
            self.count_drop(source, e);
        }
        result
    }

    fn receive(&mut self, now: Now, source: Source, datagram: &[u8]) -> Result<(), RecvError> {
        let key = self.config.key.as_deref();
        let (msg, mac) = wire::parse_peer(datagram, key).map_err(|e| match e {
            DecodeError::MissingAuth | DecodeError::BadHashId(_) | DecodeError::BadMac => {
                RecvError::Auth(e)
            }
            _ => RecvError::Decode(e),
        })?;
        let from = self.sender(source, &msg.header)?;
        if let Some(mac) = mac {
            let skew = (self.config.max_time_skew, self.config.max_future_skew);
            // The mark and the command are signed: only a key holder can
            // set or strip the mark, or turn a message into an ack.
            let stamp =
                if msg.header.options & wire::header::PEER_MARK_MASK == wire::header::PEER_MARK {
                    Stamp::marked(msg.header.secs, msg.header.usecs)
                } else {
                    Stamp::unmarked(msg.header.secs, msg.header.usecs)
                };
            let stamp = stamp.on_ack(msg.cmd == Command::Ack);
            self.replay[from]
                .check(stamp, &mac, now.wall, skew.0, skew.1)
                .map_err(RecvError::Auth)?;
        }
        self.note_peer(from);
        let ticket = self
            .config
            .ticket_index(&msg.body.name)
            .ok_or(RecvError::UnknownTicket)?;
        let incoming = self.incoming(from, &msg)?;
        self.note_mark(from, incoming.sub_unit_ms.is_some());
        self.with_ticket(ticket, |t, cx| dispatch(t, cx, msg.cmd, &incoming))
    }

    /// Remembers whether `from`'s last message carried the booth-rs mark.
    /// A member that stops marking may be a booth 1.x process now: every
    /// deadline we hold as if it were ours is shortened first.
    fn note_mark(&mut self, from: MemberIndex, marked: bool) {
        let bit = 1u16 << from;
        let was = self.marked & bit != 0;
        if marked {
            self.marked |= bit;
            return;
        }
        self.marked &= !bit;
        if was {
            for i in 0..self.tickets.len() {
                self.with_ticket(i, |t, cx| t.on_peer_unmarked(cx));
            }
        }
    }

    /// Resolves and checks the sender.
    fn sender(&self, source: Source, header: &Header) -> Result<MemberIndex, RecvError> {
        let from = self
            .config
            .member_index(crate::SiteId(header.from))
            .ok_or(RecvError::UnknownSender)?;
        if from == self.me {
            return Err(RecvError::FromSelf);
        }
        match source {
            Source::Member(m) if m != from => Err(RecvError::Spoofed),
            Source::Unknown if self.config.check_source => Err(RecvError::UnknownSender),
            _ => Ok(from),
        }
    }

    fn incoming(&self, from: MemberIndex, msg: &PeerMessage) -> Result<Incoming, RecvError> {
        let leader = match msg.body.leader {
            NO_ONE => Leader::NoOne,
            0 => return Err(RecvError::InvalidLeader),
            id => Leader::Member(
                self.config
                    .member_index(crate::SiteId(id))
                    .ok_or(RecvError::InvalidLeader)? as u8,
            ),
        };
        if msg.body.term > TERM_CEILING {
            return Err(RecvError::ImplausibleTerm);
        }
        Ok(Incoming {
            from,
            stamp: (msg.header.secs, msg.header.usecs),
            request: msg.header.request,
            reason: msg.header.reason,
            result: msg.header.result,
            leader,
            term: msg.body.term,
            valid_for: msg.body.valid_for,
            sub_unit_ms: wire::header::peer_mark(
                msg.header.options,
                self.config.wire_unit.millis(),
            ),
        })
    }

    fn note_peer(&mut self, from: MemberIndex) {
        let p = &mut self.peers[from];
        p.recv = p.recv.saturating_add(1);
        p.last_recv = Some(self.now);
        if self.peers_seen & (1 << from) == 0 {
            self.peers_seen |= 1 << from;
            self.peer_up |= 1 << from;
        }
    }

    fn count_drop(&mut self, source: Source, e: RecvError) {
        let c = &mut self.counters;
        let (node_counter, peer_counter): (&mut u32, fn(&mut PeerStats) -> &mut u32) = match e {
            RecvError::Decode(_) => (&mut c.decode_errors, |p| &mut p.errors),
            RecvError::Auth(_) => (&mut c.auth_failures, |p| &mut p.authfail),
            RecvError::UnknownSender => (&mut c.unknown_sender, |p| &mut p.invalid),
            RecvError::UnknownTicket => (&mut c.unknown_ticket, |p| &mut p.invalid),
            RecvError::Spoofed
            | RecvError::FromSelf
            | RecvError::InvalidLeader
            | RecvError::NotAPeerCommand
            | RecvError::ImplausibleTerm => (&mut c.invalid, |p| &mut p.invalid),
        };
        *node_counter = node_counter.saturating_add(1);
        // An unknown sender has no peer entry to blame.
        if let (Source::Member(m), false) = (source, e == RecvError::UnknownSender) {
            if let Some(p) = self.peers.get_mut(m) {
                let n = peer_counter(p);
                *n = n.saturating_add(1);
            }
        }
    }

    /// Time passed: fire every due timer.
    pub fn handle_timeout(&mut self, now: Now) {
        self.advance(now);
        for i in 0..self.tickets.len() {
            // Each timer fires at most once per call; a handler re-arming one
            // for `now` waits for the next call, so this always ends.
            for _ in 0..16 {
                let Some(timer) = self.tickets[i].timers.take_due(self.now) else {
                    break;
                };
                self.with_ticket(i, |t, cx| fire(t, cx, timer));
            }
        }
    }

    /// An admin request (grant or revoke) from a local client.
    pub fn handle_admin(
        &mut self,
        now: Now,
        client: ClientId,
        request: AdminRequest,
    ) -> AdminResponse {
        self.advance(now);
        let (AdminRequest::Grant { ticket, .. } | AdminRequest::Revoke { ticket }) = request;
        if ticket >= self.tickets.len() {
            return AdminResponse {
                result: wire::ResultCode::InvalidArg,
                leader: NO_ONE,
                pending: false,
            };
        }
        self.with_ticket(ticket, |t, cx| match request {
            AdminRequest::Grant {
                force, wait_commit, ..
            } => t.admin_grant(cx, client, force, wait_commit),
            AdminRequest::Revoke { .. } => t.admin_revoke(cx),
        })
    }

    /// The before-acquire-handler of `ticket` exited (`ok` = status 0 in time).
    pub fn handle_handler_done(&mut self, now: Now, ticket: TicketIndex, ok: bool) {
        self.advance(now);
        if ticket < self.tickets.len() {
            self.with_ticket(ticket, |t, cx| t.handler_done(cx, ok));
        }
    }

    /// Whether `attr-prereq auto` holds for `ticket` at this site: while it
    /// does not, this site starts no failover election for it (booth's rule;
    /// admin grants are gated by `attr-prereq manual` before `handle_admin`).
    pub fn set_failover_allowed(&mut self, now: Now, ticket: TicketIndex, allowed: bool) {
        self.advance(now);
        if ticket < self.tickets.len() {
            self.with_ticket(ticket, |t, cx| t.set_failover_allowed(cx, allowed));
        }
    }

    fn advance(&mut self, now: Now) {
        self.now = self.now.max(now.mono);
    }

    /// Runs `f` on ticket `i` with the node-wide context.
    fn with_ticket<R>(&mut self, i: TicketIndex, f: impl FnOnce(&mut Ticket, &mut Ctx) -> R) -> R {
        let mut cx = Ctx {
            now: self.now,
            me: self.me,
            members: &self.config.members,
            tc: &self.config.tickets[i],
            unit: self.config.wire_unit,
            out: &mut self.out,
            rng: &mut self.rng,
            waiters: &mut self.waiters,
            replies: &mut self.replies,
            counters: &mut self.counters,
            marked: self.marked,
        };
        #[cfg(feature = "check")]
        let term_before = self.tickets[i].term;
        let r = f(&mut self.tickets[i], &mut cx);
        self.counters.outbox_overflow = self.out.overflow;
        #[cfg(feature = "check")]
        self.tickets[i].check(
            self.me,
            self.config.members.len(),
            self.config.tickets[i].mode,
            term_before,
        );
        r
    }

    // --- outputs ---------------------------------------------------------

    /// The next event. Drain until `None` before `poll_transmit`.
    pub fn poll_event(&mut self) -> Option<Event> {
        for t in self.tickets.iter_mut() {
            if core::mem::take(&mut t.out_persist) {
                return Some(Event::Persist {
                    ticket: t.index,
                    state: t.persisted(),
                });
            }
        }
        for t in self.tickets.iter_mut() {
            if let Some(c) = t.out_commit.take() {
                return Some(Event::Commit(c));
            }
            if core::mem::take(&mut t.out_cancel_handler) {
                return Some(Event::CancelHandler { ticket: t.index });
            }
            if let Some(reason) = t.out_handler.take() {
                return Some(Event::RunHandler {
                    ticket: t.index,
                    term: t.term,
                    reason,
                });
            }
            if t.out_timing_mismatch != 0 {
                let member = t.out_timing_mismatch.trailing_zeros() as usize;
                t.out_timing_mismatch &= t.out_timing_mismatch - 1;
                if t.timing_warned & (1 << member) == 0 {
                    t.timing_warned |= 1 << member;
                    return Some(Event::TimingMismatch {
                        ticket: t.index,
                        member,
                    });
                }
            }
        }
        if let Some(e) = self.replies.pop_front() {
            return Some(e);
        }
        if self.peer_up != 0 {
            let member = self.peer_up.trailing_zeros() as usize;
            self.peer_up &= self.peer_up - 1;
            return Some(Event::PeerUp { member });
        }
        None
    }

    /// Encodes the next datagram into `buf` (at least [`wire::MAX_MSG_LEN`]
    /// bytes is always enough). Holds everything back while a `Persist` event
    /// is waiting to be taken: no packet leaves before the state it promises.
    pub fn poll_transmit(&mut self, now: Now, buf: &mut [u8]) -> Option<Transmit> {
        if self.tickets.iter().any(|t| t.out_persist) {
            return None;
        }
        loop {
            let (to, m) = self.out.pop()?;
            let (secs, usecs) = match m.echo {
                Some(echo) => echo,
                None => self.stamper.stamp(now.wall),
            };
            self.note_lease_copy(&m, (secs, usecs));
            let msg = PeerMessage {
                header: Header {
                    secs,
                    usecs,
                    from: self.config.members[self.me].id.0,
                    cmd: m.cmd.as_u32(),
                    request: m.request,
                    reason: m.reason.as_u32(),
                    result: m.result.as_u32(),
                    options: wire::header::PEER_MARK | u32::from(m.sub_unit_ms),
                    ..Header::default()
                },
                cmd: m.cmd,
                body: TicketBody {
                    name: self.config.tickets[m.ticket]
                        .name
                        .as_bytes()
                        .try_into()
                        .unwrap_or_default(),
                    leader: m.leader,
                    term: m.term,
                    valid_for: m.valid_for,
                },
            };
            // A buffer too small for one message is the caller's bug; skip it
            // rather than panic.
            let Ok(len) = wire::emit_peer(&msg, self.config.key.as_deref(), buf) else {
                continue;
            };
            let p = &mut self.peers[to];
            p.sent = p.sent.saturating_add(1);
            if m.resend {
                p.resends = p.resends.saturating_add(1);
            }
            return Some(Transmit { to, len });
        }
    }

    /// Remembers the stamp of the first copy of a lease message, so that acks
    /// can be matched to the exchange they answer.
    fn note_lease_copy(&mut self, m: &outbox::Outgoing, stamp: (u32, u32)) {
        let Some(t) = self.tickets.get_mut(m.ticket) else {
            return;
        };
        if let Some(ex) = t.exchange.as_mut() {
            if ex.cmd == m.cmd && ex.first_stamp.is_none() {
                ex.first_stamp = Some(stamp);
                t.lead_first_stamp.get_or_insert(stamp);
            }
        }
    }

    /// When to call `handle_timeout` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tickets.iter().filter_map(|t| t.timers.next()).min()
    }

    // --- views -----------------------------------------------------------

    pub fn config(&self) -> &Config<TICKETS, MEMBERS> {
        &self.config
    }

    pub fn me(&self) -> MemberIndex {
        self.me
    }

    pub fn ticket_config(&self, i: TicketIndex) -> Option<&TicketConfig> {
        self.config.tickets.get(i)
    }

    pub fn ticket_view(&self, i: TicketIndex) -> Option<TicketView> {
        let t = self.tickets.get(i)?;
        let owner = match t.leader {
            Leader::Unknown => Owner::Unknown,
            Leader::NoOne => Owner::NoOne,
            Leader::Member(m) => Owner::Site(self.config.members.get(m as usize)?.id),
        };
        Some(TicketView {
            state: t.state,
            owner,
            // The term of the lease we follow; our own may run ahead after failed elections.
            term: if matches!(t.leader, Leader::Member(_)) {
                t.leader_term
            } else {
                t.term
            },
            expires: t.lease_end,
            deadline: t.deadline.filter(|_| t.state == State::Leader),
            granted: t.granted,
            commit_pending_until: t.commit_delay.filter(|_| t.state == State::Leader),
        })
    }

    pub fn peer_stats(&self, member: MemberIndex) -> Option<&PeerStats> {
        self.peers
            .get(member)
            .filter(|_| member < self.config.members.len())
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }
}

/// Routes a peer message to its handler.
fn dispatch(t: &mut Ticket, cx: &mut Ctx, cmd: Command, m: &Incoming) -> Result<(), RecvError> {
    match cmd {
        Command::Status => t.on_status(cx, m),
        Command::MyIndex => t.on_my_index(cx, m),
        Command::ReqVote => t.on_req_vote(cx, m),
        Command::VoteFor => t.on_vote_for(cx, m),
        Command::Heartbeat => t.on_heartbeat(cx, m),
        Command::Update => t.on_update(cx, m),
        Command::Ack => t.on_ack(cx, m),
        Command::Revoked => t.on_revoked(cx, m),
        Command::Rejected => t.on_rejected(cx, m),
        _ => return Err(RecvError::NotAPeerCommand),
    }
    if t.state == State::Leader {
        t.commit_if_ready(cx);
    }
    Ok(())
}

/// Runs a due timer.
fn fire(t: &mut Ticket, cx: &mut Ctx, timer: Timer) {
    match timer {
        Timer::Startup => t.end_startup(cx),
        Timer::HolderDeadline => t.on_holder_deadline(cx),
        Timer::LeaseLost => {
            t.on_lease_lost(cx);
            t.answer_deferred_vote(cx);
        }
        Timer::ElectionEnd => t.count_votes(cx),
        Timer::ElectionStart => {
            let reason = t.next_reason;
            t.start_election(cx, reason)
        }
        Timer::VoteResend => t.on_vote_resend_timer(cx),
        Timer::Resend => t.on_resend_timer(cx),
        Timer::Renewal => t.on_renewal_timer(cx),
        Timer::CommitDelay => t.on_commit_delay_timer(),
    }
    if t.state == State::Leader {
        t.commit_if_ready(cx);
    }
}
