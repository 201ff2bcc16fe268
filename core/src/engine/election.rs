//! Elections: a site asks every member for its vote; strictly more than half of
//! all members (sites and arbitrators) elects it (booth-protocol.md §3.6).
//!
//! Differences from booth, all compatible on the wire: every round raises the
//! term (Raft) except probes (the first round after a lost lease and rounds
//! after one nobody answered), which cannot win; following a leader counts
//! as having voted in its term; and a voter refuses anyone but its leader
//! until its lease copy plus `acquire-after` has run out.

use super::event::HandlerReason;
use super::event::MemberIndex;
use super::ticket::{Ctx, DeferredVote, Election, Leader, State, Ticket, TERM_CEILING};
use super::timer::Timer;
use super::Incoming;
use crate::config::Mode;
use crate::time::Duration;
use crate::wire::{Command, Reason, ResultCode};
use crate::MAX_MEMBERS;

impl Ticket {
    /// Starts an election after `delay` (sites only).
    pub fn schedule_election(&mut self, cx: &mut Ctx, reason: Reason, delay: Duration) {
        if !cx.is_site() || cx.tc.mode == Mode::Manual {
            return;
        }
        // Set here, cleared only by following, leading or a revoke.
        self.wants_election |= reason != Reason::Admin;
        self.next_reason = reason;
        self.timers.set(Timer::ElectionStart, cx.now + delay);
    }

    /// Asks everybody for their vote in a new term. A leader may do this too
    /// (a re-election, when members saw a higher term): it keeps its lease and
    /// speaks in its old term until it wins.
    pub fn start_election(&mut self, cx: &mut Ctx, reason: Reason) {
        if !cx.is_site() || cx.tc.mode == Mode::Manual || self.election.is_some() {
            return;
        }
        let failover = matches!(reason, Reason::TicketLost | Reason::StepDown);
        if failover && !self.failover_allowed {
            // booth: `attr-prereq auto` gates failover elections. We keep
            // wanting the ticket and try when the prerequisite holds again.
            return;
        }
        if self.term >= TERM_CEILING {
            // A new term would repeat a fencing token: better no holder than
            // two with one token. Only a reset of the formation's state helps.
            cx.counters.term_ceiling_hits = cx.counters.term_ceiling_hits.saturating_add(1);
            return;
        }
        self.timers.stop(Timer::ElectionStart);
        if self.state != State::Leader {
            // A revoke's or step-down's re-sends belong to the old term: a
            // late copy must not undo the leadership this election may bring.
            self.exchange = None;
            self.timers.stop(Timer::Resend);
        }
        // The first round after we lost our leader's lease (or our own
        // lease), and every round after one nobody answered, is a probe: it
        // runs in the current term. Raising the term there made a member of
        // ours that was cut off for a while come back above the formation's
        // term: it then refuses a booth leader's heartbeats (we never follow
        // a lower term), booth leaders do not re-elect on TOdt, and it never
        // rejoined. A probe's RVot instead meets a TVld reject in the
        // leader's own term (we follow it) or votes; voters in a higher term
        // answer in it and we raise to it. booth raises the term only after a
        // tie (booth-protocol.md §3.6). A probe never leads: somebody may have
        // won this term unseen, and booth voters vote again within a term
        // after losing its lease (observed on 1.0-283), so a probe that wins
        // starts a fresh round with a new term, and every holder of ours
        // still has a term above every earlier holder's.
        let probe = self.probe_term == Some(self.term) && !matches!(self.leader, Leader::Member(_));
        self.probe_term = None;
        if !probe {
            self.raise_term(self.term.saturating_add(1));
        }
        self.record_vote(cx.me as u8);
        let mut votes = [None; MAX_MEMBERS];
        votes[cx.me] = Some(cx.me as u8);
        if self.leader == Leader::NoOne {
            // This election may grant the ticket again: "revoked" is history.
            self.leader = Leader::Unknown;
        }
        self.election = Some(Election {
            reason,
            term: self.term,
            votes,
            probe,
        });
        if self.state != State::Leader {
            self.state = State::Candidate;
        }
        self.timers.set(Timer::ElectionEnd, cx.now + cx.tc.timeout);
        cx.counters.elections_started = cx.counters.elections_started.saturating_add(1);

        self.send_vote_request(cx, reason, cx.peers_mask(), false);
        if cx.members.len() == 1 {
            self.count_votes(cx);
        }
    }

    /// Our `RVot` of the running round to the members in `to`; a re-send
    /// waits for the next one while the round lasts.
    fn send_vote_request(&mut self, cx: &mut Ctx, reason: Reason, to: u16, resend: bool) {
        let mut msg = self.message(cx, Command::ReqVote, to);
        msg.reason = reason;
        msg.leader = cx.id_of(cx.me as u8);
        msg.term = self.term;
        msg.valid_for = 0;
        msg.sub_unit_ms = 0;
        msg.resend = resend;
        cx.out.push(msg);
        let next = cx.now + cx.quick_retry();
        if self
            .timers
            .get(Timer::ElectionEnd)
            .is_some_and(|end| next < end)
        {
            self.timers.set(Timer::VoteResend, next);
        }
    }

    /// Asks the members that have not answered this round again. Under 30 %
    /// loss a request and its answer both arrive in only about half the
    /// tries; one try per round made a lost datagram cost a whole round plus
    /// a back-off (and a probe two), so a hand-over took tens of seconds.
    /// A voter answers a repeated request of the same term as it did the
    /// first (it has voted, or refuses for the same reason), and network
    /// duplication sends such copies anyway: repeating adds no new state.
    pub fn on_vote_resend_timer(&mut self, cx: &mut Ctx) {
        let Some(e) = self.election else {
            return;
        };
        if e.term != self.term {
            return;
        }
        let silent = e.votes[..cx.members.len()]
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_none())
            .fold(0u16, |mask, (i, _)| mask | 1 << i)
            & cx.peers_mask();
        if silent != 0 {
            self.send_vote_request(cx, e.reason, silent, true);
        }
    }

    /// A candidate asks for our vote (booth's voter rules, in booth's order).
    pub fn on_req_vote(&mut self, cx: &mut Ctx, m: &Incoming) {
        if cx.tc.mode == Mode::Manual {
            return;
        }
        let reason = Reason::from_u32(m.reason);
        if reason == Some(Reason::TicketLost) {
            if self.state == State::Init && self.leader == Leader::NoOne {
                return self.reject(cx, m.from, Command::ReqVote, ResultCode::YouOutdated);
            }
            if self.seems_ok(cx) {
                return self.reject(cx, m.from, Command::ReqVote, ResultCode::TermStillValid);
            }
        }
        if !self.leader_is(m.from) && self.lease_blocks_votes(cx) {
            if self.vote_can_wait(cx) {
                // Our copy ends within a retry: answer then, not a retry later.
                self.deferred_vote = Some(DeferredVote {
                    from: m.from as u8,
                    term: m.term,
                    reason: m.reason,
                    stamp: m.stamp,
                    at: cx.now,
                });
                return;
            }
            return self.reject(cx, m.from, Command::ReqVote, ResultCode::TermStillValid);
        }
        if m.term < self.term {
            return self.reject(cx, m.from, Command::ReqVote, ResultCode::TermOutdated);
        }
        if self.state == State::Leader {
            // Our lease is over (or the candidate is us restarted elsewhere): yield.
            self.give_up(cx);
        }
        if !self.lease_blocks_votes(cx)
            && !self.leader_is(m.from)
            && matches!(self.leader, Leader::Member(_))
        {
            // Our lease ran out and this request beat our own timer to it.
            self.on_lease_lost(cx);
        }
        if m.term > self.term {
            self.raise_term(m.term);
            if self.election.is_some() {
                self.lose_election(cx);
            }
        }
        self.record_vote(m.from as u8);
        if self.wants_election && self.timers.is_set(Timer::ElectionStart) {
            // Give the candidate we vote for a round before trying ourselves.
            let delay = cx.tc.timeout + cx.tc.timeout + cx.backoff();
            self.timers.set(Timer::ElectionStart, cx.now + delay);
        }
        if self.leader == Leader::NoOne {
            // An election after the revoke may grant the ticket again: our
            // "revoked" is no longer news (else we would refuse its failover).
            self.leader = Leader::Unknown;
        }
        let mut msg = self.message(cx, Command::VoteFor, 1 << m.from);
        msg.request = Command::ReqVote.as_u32();
        msg.leader = self
            .voted_for
            .map_or(crate::site_id::NO_ONE, |v| cx.id_of(v));
        msg.term = self.term;
        cx.out.push(msg);
    }

    /// Our lease copy ended: answer the vote request that waited for it, as
    /// if it came now (unless it is older than a retry: the candidate has
    /// asked again, or given up).
    pub fn answer_deferred_vote(&mut self, cx: &mut Ctx) {
        let Some(d) = self.deferred_vote.take() else {
            return;
        };
        if cx.now.saturating_since(d.at) > cx.quick_retry() || self.lease_blocks_votes(cx) {
            return;
        }
        let m = Incoming {
            from: d.from as MemberIndex,
            stamp: d.stamp,
            request: 0,
            reason: d.reason,
            result: 0,
            leader: Leader::Unknown,
            term: d.term,
            valid_for: 0,
            sub_unit_ms: None,
        };
        self.on_req_vote(cx, &m);
    }

    /// booth's `ticket_seems_ok()`: we lead with lease left, or follow with at
    /// least a third of `expire` left.
    fn seems_ok(&self, cx: &Ctx) -> bool {
        let left = self
            .lease_end
            .map_or(Duration::ZERO, |e| e.saturating_since(cx.now));
        match self.state {
            State::Leader => left > Duration::ZERO,
            State::Follower => left.0 * 3 >= cx.tc.expire.0,
            _ => false,
        }
    }

    /// A vote for a candidate, or a leader stepping down (`VtFr` to nobody).
    pub fn on_vote_for(&mut self, cx: &mut Ctx, m: &Incoming) {
        if m.request == Command::ReqVote.as_u32() {
            if m.term > self.term {
                self.raise_term(m.term);
                if self.election.is_some() {
                    self.lose_election(cx);
                }
                return;
            }
            if self.election.is_none() || m.term != self.term {
                return;
            }
            let Some(e) = self.election.as_mut() else {
                return;
            };
            let Leader::Member(choice) = m.leader else {
                return;
            };
            // A changed vote is ignored, as in booth.
            if e.votes[m.from].is_none() {
                e.votes[m.from] = Some(choice);
            }
            let votes = &e.votes[..cx.members.len()];
            let answered = votes.iter().all(Option::is_some);
            // A strict majority in our term cannot be beaten: no need to wait
            // out the election for silent members (booth waits a `timeout`).
            // An un-forced admin grant still waits, for every site's vote
            // decides its commit delay.
            let mine = votes.iter().filter(|v| **v == Some(cx.me as u8)).count();
            let waits_for_sites = e.reason == Reason::Admin && self.grant_delay.is_some();
            // A probe has its answer once a majority heard it unblocked.
            let heard = e.probe && votes.iter().flatten().count() >= cx.majority();
            if answered || heard || (mine >= cx.majority() && !waits_for_sites) {
                self.count_votes(cx);
            }
        } else if m.leader == Leader::NoOne
            && self.leader_is(m.from)
            && m.term == self.leader_term
            && self.state != State::Leader
        {
            // Our leader gave the ticket up (its handler failed): it revoked first.
            self.leader = Leader::Unknown;
            self.state = State::Follower;
            self.lease_end = Some(cx.now);
            self.timers.stop(Timer::LeaseLost);
            self.commit_not_granted(cx);
            self.out_persist = true;
            let delay = cx.tc.acquire_after + cx.backoff();
            self.schedule_election(cx, Reason::StepDown, delay);
        }
    }

    /// The election's time is up (or everybody answered): count.
    pub fn count_votes(&mut self, cx: &mut Ctx) {
        self.timers.stop(Timer::ElectionEnd);
        self.timers.stop(Timer::VoteResend);
        let Some(e) = self.election.take() else {
            return;
        };
        if e.term != self.term {
            // Votes of an older term elect nobody.
            self.election = Some(e);
            return self.lose_election(cx);
        }
        let mut tally = [0usize; MAX_MEMBERS];
        for choice in e.votes[..cx.members.len()].iter().flatten() {
            if let Some(n) = tally.get_mut(*choice as usize) {
                *n += 1;
            }
        }
        let best = tally.iter().copied().max().unwrap_or(0);
        let won = best >= cx.majority() && tally[cx.me] == best;
        if self.state == State::Leader {
            // A re-election: on a win, lead on in the new term; else keep the old one.
            if won {
                self.leader_term = self.term;
                self.out_persist = true;
                self.send_heartbeat(cx);
            }
            return;
        }
        let heard = e.votes[..cx.members.len()].iter().flatten().count();
        if e.probe && heard >= cx.majority() {
            // A majority heard us and none of it is bound by a lease (a
            // voter that is would have refused, naming its leader, and we
            // would follow): no lease acknowledged by a majority is left
            // (majorities intersect), so run for a term of our own at once.
            // The votes themselves name whom each voter chose in this term
            // (mostly the leader we lost) and mean nothing more; waiting out
            // the round and a back-off for them cost a second per hand-over.
            return self.start_election(cx, e.reason);
        }
        if won {
            return self.become_leader(cx, e.reason, &e.votes);
        }
        if best >= cx.majority() {
            // Somebody else won; its heartbeat will tell us (and stop our retry).
            self.state = State::Follower;
            self.fail_admin_grant(cx, ResultCode::SyncFail);
            self.retry_election(cx, e.reason);
            return;
        }
        // No winner: another round after a random back-off (a new term,
        // unless nobody answered this one).
        let others_voted = e.votes[..cx.members.len()]
            .iter()
            .enumerate()
            .any(|(i, v)| i != cx.me && v.is_some());
        if !others_voted {
            self.probe_term = Some(e.term);
        }
        if e.reason == Reason::Admin {
            self.admin_rounds = self.admin_rounds.saturating_add(1);
            if self.admin_rounds > cx.tc.retries {
                // The admin hears of the failure; a ticket lost before keeps
                // being elected all the same.
                self.state = if self.wants_election {
                    State::Follower
                } else {
                    State::Init
                };
                self.fail_admin_grant(cx, ResultCode::SyncFail);
                self.retry_election(cx, Reason::TicketLost);
                return;
            }
            cx.reply(self.index, ResultCode::More, crate::site_id::NO_ONE, false);
        }
        // booth's random back-off separates candidates that split the vote;
        // a round that only lost datagrams has no rival to make way for.
        let rival = e.votes[..cx.members.len()]
            .iter()
            .any(|v| v.is_some_and(|c| c as usize != cx.me));
        let delay = if rival {
            cx.backoff()
        } else {
            cx.quick_backoff()
        };
        self.schedule_election(cx, e.reason, delay);
    }

    /// A member turned a request of ours down.
    pub fn on_rejected(&mut self, cx: &mut Ctx, m: &Incoming) {
        let lease_msg =
            m.request == Command::Heartbeat.as_u32() || m.request == Command::Update.as_u32();
        if self.state == State::Leader && lease_msg && m.result == ResultCode::TermOutdated.as_u32()
        {
            // A member saw a higher term (a failed election) and will not follow
            // us in our old one. With a lease to protect, win a newer term
            // keeping it meanwhile; without one, yield as Raft does (two
            // leaseless leaders re-electing would fight forever).
            if m.term > self.leader_term && self.election.is_none() {
                self.raise_term(m.term);
                if self.deadline.is_some_and(|d| d > cx.now) {
                    self.start_election(cx, Reason::Reacquire);
                } else {
                    self.give_up(cx);
                }
            }
            return;
        }
        if m.request != Command::ReqVote.as_u32() || self.state != State::Candidate {
            return;
        }
        let ahead = m.term > self.term;
        if ahead {
            self.raise_term(m.term);
        }
        match (ResultCode::from_u32(m.result), m.leader) {
            (Some(ResultCode::TermOutdated), Leader::Member(l))
            | (Some(ResultCode::TermStillValid), Leader::Member(l))
                if l as usize != cx.me && m.valid_for > 0 && m.term >= self.term =>
            {
                // Follow the leader the voter knows; its heartbeats will confirm.
                // (Second-hand lease time only delays us; a zero remainder must
                // not restart our acquire-after wait, or candidates keep each
                // other waiting forever.) The remainder is the voter's own
                // copy, which already has the margins for a late holder; we
                // only wait until that voter will vote, so we add the unit
                // its truncation cut off and no margin again (a second
                // `lease_copy` made a candidate that missed the last update
                // sit out two seconds more than the voter it waits for).
                // Safety does not rest on it: the voters that acknowledged
                // the holder's lease guard it with first-hand copies.
                let left = cx.wire_duration(m.valid_for).min(cx.tc.expire);
                self.leader = Leader::Member(l);
                self.leader_term = m.term;
                let end = cx.now + left + cx.wire_duration(1);
                self.lease_end = Some(self.lease_end.map_or(end, |e| e.max(end)));
                self.lose_election(cx);
                self.state = State::Follower;
                self.arm_lease_lost(cx);
            }
            (Some(ResultCode::YouOutdated), Leader::NoOne) if m.term >= self.leader_term => {
                // The ticket was revoked while we were away: nobody wants it.
                // (A revoke older than the lease we lost is stale news: that
                // voter missed the later grant, and costs us one vote only.)
                self.wants_election = false;
                self.lose_election(cx);
                self.state = State::Init;
                self.leader = Leader::NoOne;
            }
            (Some(ResultCode::TermOutdated), _) if ahead || self.election.is_none() => {
                self.lose_election(cx);
                self.state = State::Follower;
            }
            // A voter at our term (or below) calling us outdated answers an
            // older request of ours (a re-sent or duplicated RVot of the
            // round before): it says nothing about this round, which it
            // used to end, wasting a round and a back-off.
            (Some(ResultCode::TermOutdated), _) => {}
            // Other rejects only cost this round a vote.
            _ => {}
        }
    }

    /// Leaves our own election without winning.
    pub fn lose_election(&mut self, cx: &mut Ctx) {
        let reason = self.election.map_or(self.next_reason, |e| e.reason);
        self.end_election();
        if self.state == State::Candidate {
            self.state = State::Follower;
        }
        self.fail_admin_grant(cx, ResultCode::SyncFail);
        self.retry_election(cx, reason);
    }

    /// The platform's verdict on `attr-prereq auto`.
    pub fn set_failover_allowed(&mut self, cx: &mut Ctx, allowed: bool) {
        let was = core::mem::replace(&mut self.failover_allowed, allowed);
        if allowed && !was && self.wants_election && self.election.is_none() {
            let delay = cx.backoff();
            self.schedule_election(cx, Reason::TicketLost, delay);
        }
    }

    /// A lost ticket with nobody leading yet: try again after a round's time,
    /// unless a leader's heartbeat stops us first (booth keeps electing too).
    fn retry_election(&mut self, cx: &mut Ctx, reason: Reason) {
        if self.wants_election && !matches!(self.leader, Leader::Member(_) | Leader::NoOne) {
            let delay = cx.tc.timeout + cx.backoff();
            let reason = if reason == Reason::Admin {
                Reason::TicketLost
            } else {
                reason
            };
            self.schedule_election(cx, reason, delay);
        }
    }

    fn fail_admin_grant(&mut self, cx: &mut Ctx, result: ResultCode) {
        if cx.is_waiting(self.index) {
            self.grant_delay = None;
            cx.reply(self.index, result, self.owner(cx).wire(), true);
        }
    }

    /// What leading means, however we came to it (an election won, a manual
    /// grant): we lead in our current term, and that must be persisted
    /// before anybody hears of it.
    pub(super) fn assume_leadership(&mut self, cx: &Ctx) {
        self.state = State::Leader;
        self.leader = Leader::Member(cx.me as u8);
        self.leader_term = self.term;
        self.out_persist = true;
    }

    /// We won: lead, and heartbeat at once.
    fn become_leader(&mut self, cx: &mut Ctx, reason: Reason, votes: &[Option<u8>; MAX_MEMBERS]) {
        cx.counters.elections_won = cx.counters.elections_won.saturating_add(1);
        self.end_election();
        self.assume_leadership(cx);
        self.lead_first_stamp = None;
        self.reacquire = false;
        self.wants_election = false;
        self.granted = false;
        self.deadline = None;
        self.deadline_exact = false;
        self.lease_end = Some(cx.now + cx.tc.expire);
        self.timers.stop(Timer::LeaseLost);

        // booth's commit delay for admin grants, cancelled when every site voted.
        let sites = cx.sites_mask();
        let voted = votes[..cx.members.len()]
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some())
            .fold(0u16, |mask, (i, _)| mask | 1 << i);
        self.commit_delay = match self.grant_delay.take() {
            Some(until) if voted & sites != sites => Some(until),
            _ => None,
        };
        // While another site may be a booth 1.x holder, a majority may vote
        // (a booth voter does, at the very end of its copy, with no margin)
        // while that holder still runs its resources: it advertised its
        // lease truncated and notices the end only at its next cron run. We
        // may have missed its last update, so our own copy does not cover it
        // either. Seen in the interop suite: a booth arbitrator's vote let
        // us grant 0.96 s before the partitioned booth holder revoked. Wait
        // as long as it can overstay: one wire unit and one `timeout`; acks
        // do not cut this short. Between booth-rs sites (every other site's
        // last message marked) there is no such holder.
        self.commit_delay_firm = cx.unmarked_sites() != 0;
        if self.commit_delay_firm {
            let until = cx.now + cx.wire_duration(1) + cx.tc.timeout;
            self.commit_delay = Some(self.commit_delay.map_or(until, |d| d.max(until)));
        }
        if let Some(until) = self.commit_delay {
            self.timers.set(Timer::CommitDelay, until);
        }

        // An admin grant ran the handler before its election; every other way
        // to the ticket runs it before the first CIB grant (booth does not).
        self.acquire_ok = !cx.tc.has_handler || reason == Reason::Admin;
        if !self.acquire_ok {
            self.handler = Some(HandlerReason::Acquire);
            self.out_handler = Some(HandlerReason::Acquire);
        }
        if self.commit_delay.is_some() {
            let last = !cx.waiter_wants_commit(self.index);
            cx.reply(
                self.index,
                ResultCode::CibPending,
                cx.id_of(cx.me as u8),
                last,
            );
        }
        self.send_heartbeat(cx);
    }
}
