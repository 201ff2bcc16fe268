//! Start-up: restore what was persisted, ask every peer for its view (`Stat`),
//! adopt a live leader from their answers (`MIdx`), then re-acquire a ticket we
//! held (booth-protocol.md §3.4).

use super::event::{HandlerReason, PersistedTicket, Restore};
use super::ticket::{Ctx, Leader, State, Ticket, TERM_CEILING};
use super::timer::Timer;
use super::Incoming;
use crate::config::Mode;
use crate::time::{Duration, Instant};
use crate::wire::{Command, Reason};

impl Ticket {
    /// Applies the restored state and broadcasts `Stat`.
    pub fn start(&mut self, cx: &mut Ctx, restore: Restore) {
        let restore = match restore {
            Restore::Held { term, until } => {
                let until = match cx.tc.mode {
                    Mode::Manual => Instant::NEVER,
                    Mode::Automatic => until,
                };
                if cx.is_site() && until > cx.now {
                    self.resume_holding(cx, term, until);
                    return;
                }
                // Its lease ended: as if we had held it and lost track of time.
                Restore::Persisted(PersistedTicket {
                    term,
                    voted_for: Some(cx.me as u8),
                    leader: u8::try_from(cx.me).ok(),
                    lease: true,
                    lost: false,
                })
            }
            other => other,
        };
        let refuse_until = cx.now + cx.tc.expire;
        match restore {
            Restore::Fresh => {}
            Restore::Persisted(p) => {
                // A file from before the ceiling existed may hold a forged term.
                self.term = p.term.min(TERM_CEILING);
                self.voted_for = p.voted_for;
                self.leader_term = self.term;
                self.wants_election = p.lost && cx.is_site();
                if p.lost {
                    // Whatever lease that loss left running: assume all of it.
                    self.lease_end = Some(refuse_until);
                }
                if let Some(l) = p.leader.filter(|l| (*l as usize) < cx.members.len()) {
                    if p.lease {
                        // The time that lease had left died with us: assume all of it.
                        self.lease_end = Some(refuse_until);
                        if l as usize == cx.me {
                            self.reacquire = cx.is_site();
                            self.wants_election = cx.is_site();
                        } else {
                            self.leader = Leader::Member(l);
                        }
                    }
                }
            }
            Restore::Amnesia { term } => {
                // Any promise may have been made: refuse votes for a whole lease.
                self.lease_end = Some(refuse_until);
                self.term = term.min(TERM_CEILING);
                self.leader_term = self.term;
                // We may have voted in that term: count it as done.
                self.voted_for = Some(cx.me as u8);
            }
            Restore::Held { .. } => {}
        }
        if cx.tc.mode == Mode::Manual {
            self.lease_end = None;
        }
        self.arm_lease_lost(cx);
        // Whatever the CIB says was granted here is stale: we lost track of time.
        self.commit_not_granted(cx);
        self.timers.set(Timer::Startup, cx.now + cx.tc.timeout);
        self.startup_answered = 1 << cx.me;
        self.broadcast(cx, Command::Status, Reason::JustSo);
        if cx.members.len() == 1 {
            self.end_startup(cx);
        }
    }

    /// Our site holds the ticket until `until` (its store says so, see
    /// [`Restore::Held`]): lead on in `term` and renew at once. The followers
    /// still count that lease and follow us in that term, so nobody else can
    /// have been granted; `until` is no later than the deadline of the
    /// daemon that was granted it, so this adds no time to it. The CIB grant
    /// is committed again with our deadline (it arms this node's lease
    /// guard) and stays granted throughout: the site's resources keep
    /// running. If the renewal fails, the deadline takes it as from any
    /// holder; a higher term or another leader in the answers steps us down.
    fn resume_holding(&mut self, cx: &mut Ctx, term: u32, until: Instant) {
        self.term = term.min(TERM_CEILING);
        self.voted_for = Some(cx.me as u8);
        self.assume_leadership(cx);
        self.acquire_ok = true;
        // A manual grant has no lease (`until` is never).
        self.lease_end = (cx.tc.mode == Mode::Automatic).then_some(until);
        self.deadline = Some(until);
        self.commit_if_ready(cx);
        self.send_heartbeat(cx);
    }

    /// A starting peer asks for our view.
    pub fn on_status(&mut self, cx: &mut Ctx, m: &Incoming) {
        if self.state != State::Candidate {
            self.reply_to(cx, m.from, Command::MyIndex, Command::Status);
        }
    }

    /// A peer's view, usually the answer to our `Stat`.
    pub fn on_my_index(&mut self, cx: &mut Ctx, m: &Incoming) {
        if m.term > self.term {
            self.raise_term(m.term);
        }
        if let Leader::Member(l) = m.leader {
            let left = cx.wire_duration(m.valid_for).min(cx.tc.expire);
            let adopt = l as usize != cx.me
                && left.0 > 0
                && !matches!(self.state, State::Leader | State::Candidate)
                && m.term >= self.term;
            if adopt {
                self.leader = Leader::Member(l);
                self.leader_term = m.term;
                self.state = State::Follower;
                self.reacquire = false;
                let end = cx.now + cx.lease_copy(left);
                self.lease_end = Some(self.lease_end.map_or(end, |e| e.max(end)));
                self.arm_lease_lost(cx);
                self.out_persist = true;
            }
        }
        if self.state == State::Leader && !m.leader_is(cx.me) {
            // It does not know we lead: tell it (booth also sends MIdx back).
            let msg = self.message(cx, Command::MyIndex, 1 << m.from);
            cx.out.push(msg);
        }
        if self.in_startup() {
            self.startup_answered |= 1 << m.from;
            if self.startup_answered | !cx.peers_mask() == u16::MAX {
                self.timers.stop(Timer::Startup);
                self.end_startup(cx);
            }
        }
    }

    /// Everybody answered, or `timeout` passed.
    pub fn end_startup(&mut self, cx: &mut Ctx) {
        self.timers.stop(Timer::Startup);
        if core::mem::take(&mut self.grant_after_startup) {
            if cx.tc.has_handler {
                self.handler = Some(HandlerReason::Grant);
                self.out_handler = Some(HandlerReason::Grant);
            } else {
                self.begin_grant(cx);
            }
            return;
        }
        if self.reacquire && !matches!(self.leader, Leader::Member(l) if l as usize != cx.me) {
            self.reacquire = false;
            self.start_election(cx, Reason::Reacquire);
        } else if self.wants_election && self.leader == Leader::Unknown {
            // We lost the ticket before the restart and nobody leads it yet.
            let wait = self.lease_end.map_or(Duration::ZERO, |e| {
                (e + cx.tc.acquire_after).saturating_since(cx.now)
            });
            let delay = wait + cx.backoff();
            self.schedule_election(cx, Reason::TicketLost, delay);
        }
    }
}
