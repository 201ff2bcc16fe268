//! One ticket's state at one member, and what every handler shares: the
//! context of the call, sending, committing and persisting.

use super::admin::Waiter;
use super::event::{ClientId, Commit, Event, HandlerReason, Owner, PersistedTicket, TicketIndex};
use super::outbox::{Outbox, Outgoing};
use super::rng::Rng;
use super::stats::Counters;
use super::timer::{Timer, TimerTable};
use crate::config::{Member, Role, TicketConfig, WireTimeUnit};
use crate::site_id::NO_ONE;
use crate::time::{Duration, Instant};
use crate::wire::{Command, Reason, ResultCode};
use crate::MAX_MEMBERS;
use heapless::{Deque, Vec};

/// Admin clients that may wait for an outcome at once.
pub const MAX_WAITERS: usize = 8;

/// The highest term a member ever takes, from a peer or by election. The
/// term is the fencing token: it must rise strictly for every new holder, so
/// it must never saturate at `u32::MAX` and repeat. A peer's term above this
/// is a forgery or a corrupt member and is refused; a member at it stops
/// electing (a million elections of headroom: booth starts at term 0 and
/// raises it by one per round).
pub const TERM_CEILING: u32 = u32::MAX - (1 << 20);

defmt_derive! {
/// booth's ticket states (they appear in logs only, never on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Init,
    Follower,
    Candidate,
    Leader,
}
}

defmt_derive! {
/// Whom this member believes leads the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leader {
    /// Never known since start, or lost.
    Unknown,
    /// Explicitly nobody (revoked).
    NoOne,
    Member(u8),
}
}

/// A message of the holder's (or a revoker's) waiting for acknowledgements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exchange {
    pub cmd: Command,
    /// Send time of the first copy: a lease counts from here (`lease-safety.md` §6.2).
    pub sent_at: Instant,
    /// `term_valid_for` as sent, in wire units.
    pub valid_for: u32,
    /// Members that acknowledged (own bit preset).
    pub acks: u16,
    /// Header stamp of the first copy sent; an ack echoing an older stamp of
    /// ours acknowledges an older message and proves nothing about this one.
    pub first_stamp: Option<(u32, u32)>,
    pub resends_left: u8,
    /// A majority acknowledged: its effect has been applied.
    pub majority: bool,
}

/// A running election of ours.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Election {
    pub reason: Reason,
    /// The term the votes are for.
    pub term: u32,
    /// `votes[i]` = the member that member `i` voted for.
    pub votes: [Option<u8>; MAX_MEMBERS],
    /// The round runs in the current term without raising it: it only finds
    /// out whether anybody hears us and whether the ticket is really lost;
    /// a win starts a fresh round.
    pub probe: bool,
}

/// Everything a handler needs besides the ticket itself.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub me: usize,
    pub members: &'a [Member],
    pub tc: &'a TicketConfig,
    pub unit: WireTimeUnit,
    pub out: &'a mut Outbox,
    pub rng: &'a mut Rng,
    pub waiters: &'a mut Vec<Waiter, MAX_WAITERS>,
    pub replies: &'a mut Deque<Event, { 4 * MAX_WAITERS }>,
    pub counters: &'a mut Counters,
    /// Members whose last message carried the booth-rs mark.
    pub marked: u16,
}

impl Ctx<'_> {
    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }
    pub fn is_site(&self) -> bool {
        self.members.get(self.me).map(|m| m.role) == Some(Role::Site)
    }
    pub fn id_of(&self, member: u8) -> u32 {
        self.members.get(member as usize).map_or(NO_ONE, |m| m.id.0)
    }
    /// Sites other than us not known to be booth-rs members (their last
    /// message was unmarked, or none came): any of them may be a booth 1.x
    /// holder.
    pub fn unmarked_sites(&self) -> u16 {
        self.sites_mask() & !self.marked & !(1 << self.me)
    }
    /// Members other than us not known to be booth-rs members: any of them
    /// may be a booth 1.x follower that truncates leases.
    pub fn unmarked_peers(&self) -> u16 {
        self.peers_mask() & !self.marked
    }
    /// Every member but us.
    pub fn peers_mask(&self) -> u16 {
        let all = if self.members.len() >= 16 {
            u16::MAX
        } else {
            (1u16 << self.members.len()) - 1
        };
        all & !(1 << self.me)
    }
    /// The sites' bits (arbitrators excluded).
    pub fn sites_mask(&self) -> u16 {
        self.members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == Role::Site)
            .fold(0, |mask, (i, _)| mask | 1 << i)
    }
    /// A duration as `term_valid_for` units, truncated like booth.
    pub fn wire_units(&self, d: Duration) -> u32 {
        (d.0 / self.unit.millis()).min(u32::MAX as u64) as u32
    }
    pub fn wire_duration(&self, v: u32) -> Duration {
        Duration(v as u64 * self.unit.millis())
    }
    /// How long, from receipt, the sender of a lease advertised as `v` may
    /// still act on it: `v` + one wire unit + `timeout`. A booth 1.x holder
    /// advertises its lease truncated (it keeps up to a unit more,
    /// booth-protocol.md §2.3) and notices its own expiry only at its next
    /// cron run, up to `timeout` late (§3.3, §3.7). booth's candidates
    /// cover the latter by waiting out the election for the old holder's
    /// vote; our early win on a strict majority does not wait, so our lease
    /// copies must. Our own holders let go before `v`
    /// ([`TicketConfig::holder_lease`]); against them this is extra margin.
    pub fn lease_copy(&self, v: Duration) -> Duration {
        v + Duration(self.unit.millis()) + self.tc.timeout
    }
    /// How soon a message that somebody waits on is tried again when no
    /// answer came: vote requests within a round, and a new holder's first
    /// heartbeat (nothing is granted until a majority acknowledged it).
    /// Four tries per `timeout`; booth's once per `timeout` made every lost
    /// datagram of a hand-over cost a whole second or more under loss.
    pub fn quick_retry(&self) -> Duration {
        Duration((self.tc.timeout.0 / 8).max(1))
    }
    /// The lease copy of a lease message from the holder itself. From a
    /// booth-rs holder (its mark carries what truncation cut off): the exact
    /// remainder and no margin. Such a holder lets go at its own deadline,
    /// `sent + v·(1−ρ)/(1+ρ) − unit − margin` on its clock, which is at most
    /// `v/(1+ρ)` of real time after the send (any copy, re-sends included,
    /// carries what is left of the same lease end); this copy runs at
    /// least `v/(1+ρ)` of real time from receipt, which is later. The
    /// drift bound is the only margin, a message delay only adds to it.
    /// From anybody else: [`Self::lease_copy`] (a booth 1.x holder keeps
    /// up to a unit more than it says and notices its expiry late).
    pub fn lease_copy_from(&self, v: Duration, sub_unit_ms: Option<u16>) -> Duration {
        match sub_unit_ms {
            Some(sub) => v + Duration(u64::from(sub)),
            None => self.lease_copy(v),
        }
    }
    /// How long a site waits before running for a ticket whose holder
    /// (`lost`) let its lease lapse: the sites other than that holder take
    /// turns by member order, one [`Self::quick_retry`] apart, so the first
    /// asks at once and the others, which vote for it meanwhile, rarely
    /// split the vote. A random back-off before every candidacy cost every
    /// failover half a retry on average (issue 10); rivals that do collide
    /// fall back to [`Self::backoff`] between rounds.
    pub fn candidacy_delay(&self, lost: Leader) -> Duration {
        let lost = match lost {
            Leader::Member(l) => 1u16 << l,
            _ => 0,
        };
        let before_me = self.sites_mask() & !lost & ((1u16 << self.me) - 1);
        Duration(self.quick_retry().0 * u64::from(before_me.count_ones()))
    }

    /// Uniform back-off in 0..=`quick_retry`.
    pub fn quick_backoff(&mut self) -> Duration {
        let max = self.quick_retry();
        Duration(self.rng.below_or_eq(max.0))
    }
    /// Uniform back-off in 0..=min(1 s, timeout), as booth's `add_random_delay()`.
    pub fn backoff(&mut self) -> Duration {
        let max = self.tc.timeout.min(Duration::from_secs(1));
        Duration(self.rng.below_or_eq(max.0))
    }

    /// Answers the admin clients waiting for `ticket`; `last` ends their wait.
    pub fn reply(&mut self, ticket: TicketIndex, result: ResultCode, leader: u32, last: bool) {
        for w in self.waiters.iter().filter(|w| w.ticket == ticket) {
            let reply = Event::ClientReply {
                client: w.client,
                ticket,
                result,
                leader,
                last,
            };
            // Capacity equals the waiters', so this cannot fail.
            let _ = self.replies.push_back(reply);
        }
        if last {
            self.waiters.retain(|w| w.ticket != ticket);
        }
    }

    pub fn is_waiting(&self, ticket: TicketIndex) -> bool {
        self.waiters.iter().any(|w| w.ticket == ticket)
    }

    pub fn waiter_wants_commit(&self, ticket: TicketIndex) -> bool {
        self.waiters
            .iter()
            .any(|w| w.ticket == ticket && w.wait_commit)
    }

    pub fn add_waiter(&mut self, client: ClientId, ticket: TicketIndex, wait_commit: bool) -> bool {
        self.waiters
            .push(Waiter {
                client,
                ticket,
                wait_commit,
            })
            .is_ok()
    }
}

/// A vote request waiting for our lease copy to end (see
/// [`Ticket::deferred_vote`]): what answering it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeferredVote {
    pub from: u8,
    pub term: u32,
    pub reason: u32,
    pub stamp: (u32, u32),
    /// When it came: a request older than one retry has been asked again.
    pub at: Instant,
}

/// One ticket's protocol state at this member.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub index: TicketIndex,
    pub state: State,
    pub leader: Leader,
    /// Highest term seen; never decreases (persisted).
    pub term: u32,
    /// Member voted for in `term` (persisted). Following a leader counts as a vote.
    pub voted_for: Option<u8>,
    /// Term of the leader we follow (booth leaders may run behind our `term`).
    pub leader_term: u32,
    /// End of the lease as known here: followers from receipt + valid_for; the
    /// holder, what it advertised. Votes for others wait until this + acquire-after.
    pub lease_end: Option<Instant>,
    /// The holder's own deadline, from a majority-acknowledged send time.
    pub deadline: Option<Instant>,
    /// `deadline` was counted without the wire unit booth followers may cut
    /// (every other member was booth-rs); see [`Ticket::on_peer_unmarked`].
    pub deadline_exact: bool,
    /// What the last commit told the CIB.
    pub granted: bool,
    /// Header stamp of the first lease message of this leadership.
    pub lead_first_stamp: Option<(u32, u32)>,
    /// The deadline the last "granted" commit carried.
    pub committed_deadline: Option<Instant>,
    /// Commit delay an admin grant asked for, applied when it wins.
    pub grant_delay: Option<Instant>,
    /// An admin grant arrived during start-up: run it once that ends.
    pub grant_after_startup: bool,
    pub exchange: Option<Exchange>,
    pub election: Option<Election>,
    /// A term our next election may probe in instead of raising it: the
    /// term whose leader we lost (or were), or of our last round nobody
    /// answered (see `start_election`).
    pub probe_term: Option<u32>,
    /// The term in which a probe after a lost lease already ran: one per term,
    /// or two candidates that name the lost leader in their TVld rejects to
    /// each other would follow it and probe again forever.
    pub lost_probe_term: Option<u32>,
    /// A vote request that came while our lease copy had less than a
    /// [`Ctx::quick_retry`] left: answered when the copy ends
    /// ([`Ticket::answer_deferred_vote`]) instead of refused and re-asked a
    /// whole retry later.
    pub deferred_vote: Option<DeferredVote>,
    /// Reason for the election the `ElectionStart` timer will begin.
    pub next_reason: Reason,
    /// The ticket was lost here (not revoked): keep electing until somebody leads.
    pub wants_election: bool,
    /// `attr-prereq auto` holds (the platform evaluates it): failover
    /// elections (ticket lost, step-down) may start.
    pub failover_allowed: bool,
    /// Failed rounds of an admin grant's election.
    pub admin_rounds: u8,
    /// An admin grant's commit delay (booth §3.5 step 7).
    pub commit_delay: Option<Instant>,
    /// The commit delay covers a booth holder's overstay: acknowledgements
    /// do not end it, only its timer.
    pub commit_delay_firm: bool,
    /// The before-acquire-handler passed for this leadership (or none is configured).
    pub acquire_ok: bool,
    /// A handler run we wait for.
    pub handler: Option<HandlerReason>,
    /// Members that answered our start-up `Stat`.
    pub startup_answered: u16,
    /// We held the ticket before a restart and will try to re-acquire it.
    pub reacquire: bool,
    /// Members already warned about for mismatched timings.
    pub timing_warned: u16,
    pub timers: TimerTable,
    // Outputs waiting for `poll_event`, latest wins.
    pub out_commit: Option<Commit>,
    pub out_persist: bool,
    pub out_handler: Option<HandlerReason>,
    pub out_cancel_handler: bool,
    pub out_timing_mismatch: u16,
}

impl Ticket {
    pub fn new(index: TicketIndex) -> Self {
        Ticket {
            index,
            state: State::Init,
            leader: Leader::Unknown,
            term: 0,
            voted_for: None,
            leader_term: 0,
            lease_end: None,
            deadline: None,
            deadline_exact: false,
            granted: false,
            committed_deadline: None,
            lead_first_stamp: None,
            grant_delay: None,
            grant_after_startup: false,
            exchange: None,
            election: None,
            probe_term: None,
            lost_probe_term: None,
            deferred_vote: None,
            next_reason: Reason::JustSo,
            wants_election: false,
            failover_allowed: true,
            admin_rounds: 0,
            commit_delay: None,
            commit_delay_firm: false,
            acquire_ok: false,
            handler: None,
            startup_answered: 0,
            reacquire: false,
            timing_warned: 0,
            timers: TimerTable::default(),
            out_commit: None,
            out_persist: false,
            out_handler: None,
            out_cancel_handler: false,
            out_timing_mismatch: 0,
        }
    }

    pub fn in_startup(&self) -> bool {
        self.timers.is_set(Timer::Startup)
    }

    /// The owner as this member sees it.
    pub fn owner(&self, cx: &Ctx) -> Owner {
        match self.leader {
            Leader::Unknown => Owner::Unknown,
            Leader::NoOne => Owner::NoOne,
            Leader::Member(m) => match cx.members.get(m as usize) {
                Some(member) => Owner::Site(member.id),
                None => Owner::Unknown,
            },
        }
    }

    pub fn leader_is(&self, member: usize) -> bool {
        self.leader == Leader::Member(member as u8)
    }

    /// Our lease copy (or the holder's advertised lease) still runs, plus acquire-after.
    pub fn lease_blocks_votes(&self, cx: &Ctx) -> bool {
        matches!(self.lease_end, Some(end) if cx.now < end + cx.tc.acquire_after)
    }

    /// Whether a vote our lease copy blocks now may wait for it to end: a
    /// follower whose copy (plus acquire-after) ends within one
    /// [`Ctx::quick_retry`], the time the candidate would wait to ask again.
    pub fn vote_can_wait(&self, cx: &Ctx) -> bool {
        self.state != State::Leader
            && self.timers.is_set(Timer::LeaseLost)
            && matches!(self.lease_end, Some(end)
                if (end + cx.tc.acquire_after).saturating_since(cx.now) <= cx.quick_retry())
    }

    /// Remaining lease as it goes on the wire.
    pub fn wire_valid_for(&self, cx: &Ctx) -> u32 {
        match self.lease_end {
            Some(end) => cx.wire_units(end.saturating_since(cx.now)),
            None => 0,
        }
    }

    /// What [`Self::wire_valid_for`] truncated, in ms (0 with a ms unit).
    pub fn wire_sub_unit_ms(&self, cx: &Ctx) -> u16 {
        match self.lease_end {
            Some(end) => (end.saturating_since(cx.now).0 % cx.unit.millis()) as u16,
            None => 0,
        }
    }

    /// The state that must survive a restart.
    pub fn persisted(&self) -> PersistedTicket {
        PersistedTicket {
            term: self.term,
            voted_for: self.voted_for,
            leader: match self.leader {
                Leader::Member(m) => Some(m),
                _ => None,
            },
            lease: self.lease_end.is_some() && matches!(self.leader, Leader::Member(_)),
            lost: self.wants_election,
        }
    }

    /// Raises the term (clearing the vote) and asks for it to be persisted.
    pub fn raise_term(&mut self, term: u32) {
        debug_assert!(term <= TERM_CEILING, "term {term} above the ceiling");
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.out_persist = true;
        }
    }

    /// A lease (ours or our leader's) ran out: our next election may probe
    /// the current term first, once per term (see `start_election`).
    pub fn probe_after_lost_lease(&mut self) {
        if self.lost_probe_term != Some(self.term) {
            self.lost_probe_term = Some(self.term);
            self.probe_term = Some(self.term);
        }
    }

    /// Records a vote (or the leader we follow) in the current term.
    pub fn record_vote(&mut self, member: u8) {
        if self.voted_for.is_none() {
            self.voted_for = Some(member);
            self.out_persist = true;
        }
    }

    // --- sending ---------------------------------------------------------

    /// A message about this ticket carrying our view of it.
    pub fn message(&self, cx: &Ctx, cmd: Command, to: u16) -> Outgoing {
        // The term of the lease we hold or follow; our own may run ahead.
        let term = match self.state {
            State::Leader => self.leader_term,
            State::Follower | State::Init if matches!(self.leader, Leader::Member(_)) => {
                self.leader_term
            }
            _ => self.term,
        };
        Outgoing {
            to,
            ticket: self.index,
            cmd,
            request: 0,
            reason: Reason::JustSo,
            result: ResultCode::Success,
            leader: self.owner(cx).wire(),
            term,
            valid_for: self.wire_valid_for(cx),
            sub_unit_ms: self.wire_sub_unit_ms(cx),
            resend: false,
            echo: None,
        }
    }

    pub fn broadcast(&self, cx: &mut Ctx, cmd: Command, reason: Reason) {
        let mut msg = self.message(cx, cmd, cx.peers_mask());
        msg.reason = reason;
        cx.out.push(msg);
    }

    /// A reply (`request` = what it answers) to one member.
    pub fn reply_to(&self, cx: &mut Ctx, member: usize, cmd: Command, request: Command) {
        let mut msg = self.message(cx, cmd, 1 << member);
        msg.request = request.as_u32();
        cx.out.push(msg);
    }

    /// An acknowledgement, echoing the stamp of the message it acknowledges.
    pub fn ack(&self, cx: &mut Ctx, m: &super::Incoming, request: Command) {
        let mut msg = self.message(cx, Command::Ack, 1 << m.from);
        msg.request = request.as_u32();
        msg.echo = Some(m.stamp);
        cx.out.push(msg);
    }

    pub fn reject(&self, cx: &mut Ctx, member: usize, request: Command, result: ResultCode) {
        let mut msg = self.message(cx, Command::Rejected, 1 << member);
        msg.request = request.as_u32();
        msg.result = result;
        cx.out.push(msg);
    }

    // --- committing ------------------------------------------------------

    /// Records "not granted here" in the CIB (sites only).
    pub fn commit_not_granted(&mut self, cx: &Ctx) {
        self.granted = false;
        self.committed_deadline = None;
        if cx.is_site() {
            self.out_commit = Some(Commit {
                ticket: self.index,
                granted: false,
                owner: self.owner(cx),
                term: if matches!(self.leader, Leader::Member(_)) {
                    self.leader_term
                } else {
                    self.term
                },
                expires: self.lease_end.unwrap_or(cx.now),
            });
        }
    }

    /// Commits "granted here" once everything allows it, and moves the
    /// deadline of an existing grant. Returns whether we are granted now.
    pub fn commit_if_ready(&mut self, cx: &mut Ctx) -> bool {
        let ready = self.state == State::Leader
            && self.acquire_ok
            && self.commit_delay.is_none()
            && matches!(self.deadline, Some(d) if d > cx.now);
        if !ready {
            return false;
        }
        let Some(deadline) = self.deadline else {
            return false;
        };
        if self.committed_deadline == Some(deadline) {
            return true;
        }
        let first = !self.granted;
        self.granted = true;
        self.committed_deadline = Some(deadline);
        self.out_commit = Some(Commit {
            ticket: self.index,
            granted: true,
            owner: self.owner(cx),
            term: self.leader_term,
            expires: deadline,
        });
        if first {
            cx.reply(self.index, ResultCode::Success, cx.id_of(cx.me as u8), true);
        }
        true
    }

    /// Drops leadership and any grant here; the CIB is told unless nothing changed.
    pub fn drop_leadership(&mut self) {
        self.exchange = None;
        self.deadline = None;
        self.deadline_exact = false;
        self.commit_delay = None;
        self.commit_delay_firm = false;
        self.acquire_ok = false;
        self.timers.stop(Timer::HolderDeadline);
        self.timers.stop(Timer::Resend);
        self.timers.stop(Timer::Renewal);
        self.timers.stop(Timer::CommitDelay);
        if self.handler.take().is_some() {
            self.out_cancel_handler = true;
            self.out_handler = None;
        }
    }

    /// Leaves a running election.
    pub fn end_election(&mut self) {
        self.election = None;
        self.timers.stop(Timer::ElectionEnd);
        self.timers.stop(Timer::ElectionStart);
        self.timers.stop(Timer::VoteResend);
    }

    /// (Re)arms the lease-lost timer from the lease copy.
    pub fn arm_lease_lost(&mut self, cx: &Ctx) {
        match self.lease_end {
            Some(end) if matches!(self.leader, Leader::Member(_)) => {
                self.timers.set(Timer::LeaseLost, end + cx.tc.acquire_after)
            }
            _ => self.timers.stop(Timer::LeaseLost),
        }
    }
}
