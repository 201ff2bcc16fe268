//! The lease: the holder's HrtB → Ack → UpdE → Ack renewal, followers adopting
//! it, and what happens when it runs out (booth-protocol.md §3.7).
//!
//! The safety rule (`lease-safety.md` §4.1): the holder's deadline moves only
//! when a majority acknowledged a message, and counts from that message's
//! *send* time, shrunk for clock drift, wire truncation and a margin. Followers
//! count from receipt and wait `acquire-after` more before voting anew, so the
//! holder always lets go first.

use super::event::HandlerReason;
use super::ticket::{Ctx, Exchange, Leader, State, Ticket};
use super::timer::Timer;
use super::Incoming;
use crate::config::Mode;
use crate::site_id::NO_ONE;
use crate::time::Instant;
use crate::wire::{Command, Reason, ResultCode};

impl Ticket {
    /// Broadcasts a heartbeat carrying the lease we advertise.
    pub fn send_heartbeat(&mut self, cx: &mut Ctx) {
        self.start_exchange(cx, Command::Heartbeat, Reason::JustSo);
    }

    /// After a majority acknowledged the heartbeat: the renewed lease.
    fn send_update(&mut self, cx: &mut Ctx) {
        self.lease_end = Some(cx.now + cx.tc.expire);
        self.start_exchange(cx, Command::Update, Reason::JustSo);
    }

    /// Sends `cmd` to every peer and waits for their acknowledgements.
    pub fn start_exchange(&mut self, cx: &mut Ctx, cmd: Command, reason: Reason) {
        let valid_for = self.wire_valid_for(cx);
        self.exchange = Some(Exchange {
            cmd,
            sent_at: cx.now,
            valid_for,
            acks: 1 << cx.me,
            first_stamp: None,
            resends_left: cx.tc.retries,
            majority: false,
        });
        self.broadcast(cx, cmd, reason);
        let wait = self.resend_wait(cx);
        self.timers.set(Timer::Resend, cx.now + wait);
        if self.state == State::Leader {
            self.arm_holder_deadline(cx);
        }
        self.check_acks(cx);
    }

    fn arm_holder_deadline(&mut self, cx: &Ctx) {
        match (cx.tc.mode, self.deadline.or(self.lease_end)) {
            (Mode::Automatic, Some(at)) => self.timers.set(Timer::HolderDeadline, at),
            _ => self.timers.stop(Timer::HolderDeadline),
        }
    }

    /// An acknowledgement of our heartbeat, update, revoke or step-down.
    pub fn on_ack(&mut self, cx: &mut Ctx, m: &Incoming) {
        let Some(ex) = self.exchange else {
            return;
        };
        if m.request != ex.cmd.as_u32() {
            return;
        }
        let lease_msg = matches!(ex.cmd, Command::Heartbeat | Command::Update);
        if lease_msg
            && (self.state != State::Leader || m.term != self.leader_term || !m.leader_is(cx.me))
        {
            return;
        }
        if lease_msg && !self.ack_is_current(ex.first_stamp, m.stamp) {
            return;
        }
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        ex.acks |= 1 << m.from;
        self.check_acks(cx);
    }

    /// Whether an ack of a lease message acknowledges the exchange in flight.
    /// booth's acks do not say which copy they answer, so a delayed ack (or
    /// one queued while we were frozen) of an earlier update would extend the
    /// lease from the wrong send time. Our followers echo the copy's stamp;
    /// an echo of an older stamp of ours is refused. A stamp that is not ours
    /// (booth followers) is counted as booth counts it.
    fn ack_is_current(&self, first: Option<(u32, u32)>, echo: (u32, u32)) -> bool {
        let Some(first) = first else {
            // Nothing of this exchange has left yet.
            return false;
        };
        let stale = self
            .lead_first_stamp
            .is_some_and(|lead| echo >= lead && echo < first);
        !stale
    }

    /// Applies a majority (once) and notices when everybody answered.
    fn check_acks(&mut self, cx: &mut Ctx) {
        let Some(mut ex) = self.exchange else { return };
        let sites = cx.sites_mask();
        if ex.acks & sites == sites && !self.commit_delay_firm && self.commit_delay.take().is_some()
        {
            // booth: the commit delay ends when every site acknowledged.
            self.timers.stop(Timer::CommitDelay);
        }
        if !ex.majority && ex.acks.count_ones() as usize >= cx.majority() {
            ex.majority = true;
            self.exchange = Some(ex);
            self.on_majority(cx, ex);
        }
        if let Some(ex) = self.exchange.as_mut() {
            if ex.acks | !cx.peers_mask() == u16::MAX {
                self.exchange = None;
                self.timers.stop(Timer::Resend);
            }
        }
        self.commit_if_ready(cx);
    }

    fn on_majority(&mut self, cx: &mut Ctx, ex: Exchange) {
        if self.state != State::Leader {
            return;
        }
        // Only booth followers cut a later heartbeat's lease to whole units;
        // when every other member's last message was marked, none can.
        let exact = cx.tc.mode == Mode::Automatic && cx.unmarked_peers() == 0;
        let v = cx.wire_duration(ex.valid_for);
        let deadline = match cx.tc.mode {
            Mode::Manual => Instant::NEVER,
            Mode::Automatic if exact => ex.sent_at + cx.tc.holder_lease_among_marked(v),
            Mode::Automatic => ex.sent_at + cx.tc.holder_lease(v, cx.unit),
        };
        // A renewal's heartbeat carries the lease already counted; only the
        // first one after winning, and each update, moves the deadline.
        let moves = ex.cmd == Command::Update || self.deadline.is_none();
        if moves && self.deadline.is_none_or(|d| deadline > d) {
            self.deadline = Some(deadline);
            self.deadline_exact = exact;
            self.arm_holder_deadline(cx);
        }
        // Manual tickets have no lease to renew: one heartbeat round is all.
        match (ex.cmd, cx.tc.mode) {
            (Command::Heartbeat, Mode::Automatic) => self.send_update(cx),
            (Command::Update, Mode::Automatic) => self
                .timers
                .set(Timer::Renewal, ex.sent_at + cx.tc.renewal_freq),
            _ => {}
        }
    }

    /// Re-sends the exchange in flight: to everybody if nobody answered, else
    /// to the silent members (booth §3.7); starts over when retries run out.
    pub fn on_resend_timer(&mut self, cx: &mut Ctx) {
        let Some(mut ex) = self.exchange else { return };
        if ex.resends_left == 0 {
            self.exchange = None;
            if !ex.majority
                && self.state == State::Leader
                && matches!(ex.cmd, Command::Heartbeat | Command::Update)
            {
                self.send_heartbeat(cx);
            }
            return;
        }
        ex.resends_left -= 1;
        let to = if ex.acks == 1 << cx.me {
            cx.peers_mask()
        } else {
            cx.peers_mask() & !ex.acks
        };
        self.exchange = Some(ex);
        // booth rebuilds re-sends with reason and request 0.
        let mut msg = self.message(cx, ex.cmd, to);
        msg.resend = true;
        if matches!(ex.cmd, Command::Revoked | Command::VoteFor) {
            // A revoke or step-down names nobody, whatever we learnt since
            // (we may follow a new leader by now: a step-down re-send naming
            // it is no step-down, found by the booth 1.x interop test).
            msg.leader = NO_ONE;
        }
        cx.out.push(msg);
        let wait = self.resend_wait(cx);
        self.timers.set(Timer::Resend, cx.now + wait);
    }

    /// Until the next re-send of the exchange in flight: booth's `timeout`,
    /// but a quick retry while a new holder waits for the first majority
    /// that grants it (the hand-over is not done until then).
    fn resend_wait(&self, cx: &Ctx) -> crate::time::Duration {
        if self.state == State::Leader && self.deadline.is_none() {
            cx.quick_retry()
        } else {
            cx.tc.timeout
        }
    }

    /// Time to renew: the handler first (if any), then a heartbeat.
    pub fn on_renewal_timer(&mut self, cx: &mut Ctx) {
        if self.state != State::Leader {
            return;
        }
        // While the takeover's own check still runs, renew without a second one.
        if cx.tc.has_handler && self.handler.is_none() {
            self.handler = Some(HandlerReason::Renewal);
            self.out_handler = Some(HandlerReason::Renewal);
        } else {
            self.send_heartbeat(cx);
        }
    }

    /// A member whose messages were marked sent an unmarked one: it may be a
    /// booth 1.x process now (a downgrade in place), which cuts the lease of
    /// our later heartbeats to whole wire units. A deadline counted for
    /// booth-rs followers only loses that unit here, and the CIB and the
    /// lease guard are told the earlier deadline at once.
    pub fn on_peer_unmarked(&mut self, cx: &mut Ctx) {
        if self.state != State::Leader || !core::mem::take(&mut self.deadline_exact) {
            return;
        }
        let Some(d) = self.deadline else { return };
        let shrunk = d - cx.wire_duration(1);
        self.deadline = Some(shrunk);
        if shrunk <= cx.now {
            self.on_holder_deadline(cx);
            return;
        }
        self.arm_holder_deadline(cx);
        self.commit_if_ready(cx);
    }

    /// The holder's own deadline passed without a renewal: give up first.
    pub fn on_holder_deadline(&mut self, cx: &mut Ctx) {
        if self.state == State::Leader {
            cx.counters.tickets_lost = cx.counters.tickets_lost.saturating_add(1);
            self.give_up(cx);
        }
    }

    /// Stops leading: revoke here (owner unknown), keep the advertised lease so
    /// our vote for others waits it out, and try again (booth's "lost majority").
    pub fn give_up(&mut self, cx: &mut Ctx) {
        self.drop_leadership();
        self.state = State::Follower;
        self.leader = Leader::Unknown;
        self.commit_not_granted(cx);
        self.out_persist = true;
        self.probe_after_lost_lease();
        // Our lease copy keeps our vote from others until it ends; our own
        // candidacy needs no wait (the voters guard their leases), and the
        // members still holding our heartbeat's lease will vote only for us.
        let delay = cx.tc.timeout + cx.backoff();
        self.schedule_election(cx, Reason::Reacquire, delay);
    }

    pub fn on_commit_delay_timer(&mut self) {
        self.commit_delay = None;
        self.commit_delay_firm = false;
    }

    /// A heartbeat: follow its sender if it may lead.
    pub fn on_heartbeat(&mut self, cx: &mut Ctx, m: &Incoming) {
        if self.accept_leader(cx, m, false) {
            self.ack(cx, m, Command::Heartbeat);
        }
    }

    /// An update (the renewed lease): only from our leader or while unowned.
    pub fn on_update(&mut self, cx: &mut Ctx, m: &Incoming) {
        if self.accept_leader(cx, m, true) {
            self.commit_not_granted(cx);
            self.ack(cx, m, Command::Update);
        }
    }

    /// booth's follower rules for HrtB and UpdE; true if we now follow `m.from`.
    fn accept_leader(&mut self, cx: &mut Ctx, m: &Incoming, update: bool) -> bool {
        let cmd = if update {
            Command::Update
        } else {
            Command::Heartbeat
        };
        if self.state == State::Leader {
            if self.deadline.or(self.lease_end).is_some_and(|d| d > cx.now) {
                self.reject(cx, m.from, cmd, ResultCode::TermStillValid);
                return false;
            }
            self.give_up(cx);
        }
        let from_leader = self.leader_is(m.from);
        let unowned = matches!(self.leader, Leader::Unknown | Leader::NoOne);
        // Never follow a term below our own, not even our leader's (booth
        // would): we may have voted in a newer term since, and a stale holder
        // must not be granted after a newer one. Our holders re-elect instead.
        if (update && !from_leader && !unowned) || m.term < self.term {
            self.reject(cx, m.from, cmd, ResultCode::TermOutdated);
            return false;
        }
        if self.state == State::Candidate {
            self.lose_election(cx);
        }
        self.timers.stop(Timer::ElectionStart);
        self.raise_term(m.term);
        if m.term == self.term {
            self.record_vote(m.from as u8);
        }
        let v = cx.wire_duration(m.valid_for);
        if cx.tc.mode == Mode::Automatic && v.0 > cx.tc.expire.0 + cx.unit.millis() {
            self.out_timing_mismatch |= 1 << m.from;
        }
        let end = cx.now + cx.lease_copy_from(v, m.sub_unit_ms);
        let same_lease = from_leader && self.leader_term == m.term;
        if !from_leader {
            self.out_persist = true;
        }
        if !from_leader
            && matches!(self.exchange, Some(ex) if matches!(ex.cmd, Command::Revoked | Command::VoteFor))
        {
            // Our revoke or step-down is history: somebody leads again.
            self.exchange = None;
            self.timers.stop(Timer::Resend);
        }
        self.leader = Leader::Member(m.from as u8);
        self.leader_term = m.term;
        self.state = State::Follower;
        self.reacquire = false;
        self.wants_election = false;
        self.lease_end = match (cx.tc.mode, self.lease_end) {
            (Mode::Manual, _) => None,
            // Never shorten a lease we acknowledged (booth would, by truncation).
            (Mode::Automatic, Some(old)) if same_lease => Some(old.max(end)),
            (Mode::Automatic, _) => Some(end),
        };
        self.arm_lease_lost(cx);
        true
    }

    /// Our lease copy and acquire-after ran out: the ticket is lost here.
    pub fn on_lease_lost(&mut self, cx: &mut Ctx) {
        if self.state == State::Leader || !matches!(self.leader, Leader::Member(_)) {
            return;
        }
        if let Some(until) = self.timers.get(Timer::Startup) {
            // Decide only once the peers had their say.
            self.timers.set(Timer::LeaseLost, until);
            return;
        }
        cx.counters.tickets_lost = cx.counters.tickets_lost.saturating_add(1);
        let lost = self.leader;
        self.leader = Leader::Unknown;
        self.state = State::Follower;
        self.lease_end = None;
        self.commit_not_granted(cx);
        self.out_persist = true;
        self.probe_after_lost_lease();
        let delay = cx.candidacy_delay(lost);
        self.schedule_election(cx, Reason::TicketLost, delay);
    }
}
