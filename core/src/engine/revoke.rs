//! Admin grant and revoke, revoke messages, the holder stepping down, and the
//! before-acquire-handler's verdicts (booth-protocol.md §3.5, §3.8, §3.9).

use super::admin::AdminResponse;
use super::event::{ClientId, HandlerReason};
use super::ticket::{Ctx, Leader, State, Ticket, TERM_CEILING};
use super::timer::Timer;
use super::Incoming;
use crate::config::Mode;
use crate::site_id::NO_ONE;
use crate::time::Instant;
use crate::wire::{Command, Reason, ResultCode};

fn answer(result: ResultCode, leader: u32, pending: bool) -> AdminResponse {
    AdminResponse {
        result,
        leader,
        pending,
    }
}

impl Ticket {
    /// `booth grant`: elect this site (automatic) or take the ticket (manual).
    pub fn admin_grant(
        &mut self,
        cx: &mut Ctx,
        client: ClientId,
        force: bool,
        wait_commit: bool,
    ) -> AdminResponse {
        let leader = self.owner(cx).wire();
        if !cx.is_site() {
            return answer(ResultCode::InvalidArg, leader, false);
        }
        let owned_elsewhere = match self.leader {
            Leader::Member(m) => m as usize != cx.me && self.lease_end.is_none_or(|e| e > cx.now),
            _ => false,
        };
        let busy =
            self.state == State::Candidate || self.handler.is_some() || cx.is_waiting(self.index);
        match cx.tc.mode {
            Mode::Automatic if self.state == State::Leader || owned_elsewhere => {
                return answer(ResultCode::Overgrant, leader, false)
            }
            Mode::Manual if self.state == State::Leader || (owned_elsewhere && !force) => {
                return answer(ResultCode::Overgrant, leader, false)
            }
            _ if busy => return answer(ResultCode::SyncFail, leader, false),
            _ => {}
        }
        if !cx.add_waiter(client, self.index, wait_commit) {
            return answer(ResultCode::Busy, leader, false);
        }
        self.grant_delay = if force {
            None
        } else {
            Some(cx.now + cx.tc.expire + cx.tc.acquire_after)
        };
        self.admin_rounds = 0;
        if self.in_startup() {
            self.grant_after_startup = true;
        } else if cx.tc.has_handler {
            self.handler = Some(HandlerReason::Grant);
            self.out_handler = Some(HandlerReason::Grant);
        } else {
            self.begin_grant(cx);
        }
        answer(ResultCode::More, leader, true)
    }

    /// The grant proper, once the handler (if any) agreed.
    pub fn begin_grant(&mut self, cx: &mut Ctx) {
        match cx.tc.mode {
            Mode::Automatic => self.start_election(cx, Reason::Admin),
            Mode::Manual if self.term >= TERM_CEILING => {
                cx.counters.term_ceiling_hits = cx.counters.term_ceiling_hits.saturating_add(1);
            }
            Mode::Manual => self.take_manually(cx),
        }
    }

    /// A manual ticket is the admin's word, as in booth: no election and no
    /// waiting for anyone's acknowledgement. Lead at once, in a new term so
    /// the token still orders grants, commit the grant to the CIB now (it
    /// never expires), then tell the others. With `-F` while another site
    /// holds it, booth grants here too (the platform warns of two holders).
    fn take_manually(&mut self, cx: &mut Ctx) {
        self.raise_term(self.term.saturating_add(1));
        self.record_vote(cx.me as u8);
        self.assume_leadership(cx);
        self.acquire_ok = true;
        self.grant_delay = None;
        self.commit_delay = None;
        self.lease_end = None;
        self.deadline = Some(Instant::NEVER);
        self.commit_if_ready(cx);
        self.send_heartbeat(cx);
    }

    /// `booth revoke`: only the holder revokes; others redirect to it.
    pub fn admin_revoke(&mut self, cx: &mut Ctx) -> AdminResponse {
        if !cx.is_site() {
            return answer(ResultCode::InvalidArg, NO_ONE, false);
        }
        match self.leader {
            Leader::Member(m) if m as usize == cx.me && self.state == State::Leader => {
                self.revoke_here(cx);
                answer(ResultCode::Success, NO_ONE, false)
            }
            Leader::Member(m) if self.lease_end.is_none_or(|e| e > cx.now) => {
                answer(ResultCode::Redirect, cx.id_of(m), false)
            }
            _ => answer(ResultCode::TicketIdle, NO_ONE, false),
        }
    }

    /// Revokes locally first, then tells everybody (`Revk`).
    fn revoke_here(&mut self, cx: &mut Ctx) {
        self.drop_leadership();
        cx.reply(self.index, ResultCode::SyncFail, NO_ONE, true);
        self.wants_election = false;
        self.end_election();
        self.state = State::Init;
        self.leader = Leader::NoOne;
        // Our resources are stopping now: nobody gets our vote before acquire-after.
        self.lease_end = Some(cx.now);
        self.commit_not_granted(cx);
        self.out_persist = true;
        self.start_exchange(cx, Command::Revoked, Reason::Admin);
    }

    /// The leader revoked the ticket.
    pub fn on_revoked(&mut self, cx: &mut Ctx, m: &Incoming) {
        // Only for the leadership we follow: a late copy of an older revoke
        // must not end a newer lease.
        if self.leader_is(m.from) && m.term == self.leader_term && self.state != State::Leader {
            self.wants_election = false;
            self.timers.stop(Timer::ElectionStart);
            self.state = State::Init;
            self.leader = Leader::NoOne;
            self.lease_end = Some(cx.now);
            self.timers.stop(Timer::LeaseLost);
            self.commit_not_granted(cx);
            self.out_persist = true;
            self.ack(cx, m, Command::Revoked);
        } else if self.state == State::Init && self.leader == Leader::NoOne {
            // Our ack was lost: acknowledge again.
            self.ack(cx, m, Command::Revoked);
        }
    }

    /// The handler failed while we lead: revoke here and tell the others to
    /// elect somebody else (`VtFr` to nobody, reason `LocF`).
    pub fn step_down(&mut self, cx: &mut Ctx) {
        self.drop_leadership();
        self.state = State::Init;
        self.leader = Leader::Unknown;
        self.lease_end = Some(cx.now);
        self.commit_not_granted(cx);
        self.out_persist = true;
        self.start_exchange(cx, Command::VoteFor, Reason::LocalFail);
        // Others elect at once; if none can, try again (the handler runs
        // again before any grant) after a renewal period.
        let delay = cx.tc.renewal_freq + cx.backoff();
        self.schedule_election(cx, Reason::StepDown, delay);
    }

    /// The platform reports the before-acquire-handler's exit.
    pub fn handler_done(&mut self, cx: &mut Ctx, ok: bool) {
        match self.handler.take() {
            Some(HandlerReason::Grant) if ok => self.begin_grant(cx),
            Some(HandlerReason::Grant) => {
                self.grant_delay = None;
                cx.reply(self.index, ResultCode::ExtFailed, NO_ONE, true);
            }
            Some(HandlerReason::Renewal) if ok && self.state == State::Leader => {
                self.send_heartbeat(cx)
            }
            Some(HandlerReason::Acquire) if ok && self.state == State::Leader => {
                self.acquire_ok = true;
                self.commit_if_ready(cx);
            }
            Some(HandlerReason::Renewal) | Some(HandlerReason::Acquire)
                if self.state == State::Leader =>
            {
                self.step_down(cx)
            }
            _ => {}
        }
    }
}
