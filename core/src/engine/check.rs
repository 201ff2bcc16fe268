//! The invariants of one ticket's state at one member, checked after every
//! input when the `check` feature is on (the tests and the simulator turn it
//! on; firmware and packages leave it off, so the core never panics there).
//! A violation panics with the ticket's whole state: it is a bug in the
//! engine, found where it happened rather than as a double grant later.

use super::ticket::{Leader, State, Ticket, TERM_CEILING};
use crate::config::Mode;

impl Ticket {
    /// Panics if this ticket's state is inconsistent. `term_before` is the
    /// term before the input was handled: terms never go down.
    pub(crate) fn check(&self, me: usize, members: usize, mode: Mode, term_before: u32) {
        let fail = |what: &str| -> ! { panic!("ticket invariant broken: {what}\n{self:#?}") };
        if self.term < term_before {
            fail("the term went down");
        }
        if self.term > TERM_CEILING {
            fail("the term is above the ceiling");
        }
        if self.leader_term > self.term {
            fail("following a term above our own");
        }
        if self.voted_for.is_some_and(|v| v as usize >= members) {
            fail("voted for a member that does not exist");
        }
        if let Leader::Member(l) = self.leader {
            if l as usize >= members {
                fail("following a member that does not exist");
            }
        }
        let leading = self.leader == Leader::Member(me as u8);
        if self.state == State::Leader && !leading {
            fail("state Leader while somebody else leads");
        }
        if self.granted && !leading {
            fail("granted in the CIB while not the leader");
        }
        if self.granted && mode == Mode::Automatic {
            match (self.committed_deadline, self.deadline) {
                (Some(c), Some(d)) if c <= d => {}
                (Some(_), Some(_)) => fail("the CIB was given a deadline beyond our own"),
                _ => fail("granted without a deadline"),
            }
        }
        if let Some(e) = &self.election {
            if e.term > self.term {
                fail("an election in a term above ours");
            }
        }
    }
}
