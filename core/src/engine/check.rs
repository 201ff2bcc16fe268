//! The invariants of one ticket's state at one member, checked after every
//! input when the `check` feature is on (the tests and the simulator turn it
//! on; firmware and packages leave it off, so the core never panics there).
//! A violation panics with the ticket's whole state: it is a bug in the
//! engine, found where it happened rather than as a double grant later.

use super::ticket::{Leader, State, Ticket, TERM_CEILING};
use super::Node;
use crate::config::Mode;
use core::fmt::{self, Write as _};
use core::hash::Hasher;

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

/// Feeds what is formatted into a hasher, without allocating.
struct HashWriter<'a, H: Hasher>(&'a mut H);

impl<H: Hasher> fmt::Write for HashWriter<'_, H> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

impl<const TICKETS: usize, const MEMBERS: usize, const REPLAY: usize>
    Node<TICKETS, MEMBERS, REPLAY>
{
    /// Feeds `h` everything that decides what this node does with its next
    /// inputs, for the exhaustive explorer (tests/src/explore.rs): two nodes
    /// of one configuration with equal fingerprints behave alike. Left out:
    /// the configuration (the explorer's members never change theirs), the
    /// replay windows when no key is configured (unused then), and the
    /// statistics (`peers`, `counters`), which the engine only writes;
    /// with them every path to a state would be a state of its own.
    /// Destructured, so that a new field cannot be forgotten here.
    pub fn fingerprint<H: Hasher>(&self, h: &mut H) {
        let Node {
            config: _,
            me,
            tickets,
            out,
            rng,
            waiters,
            replies,
            peers: _,
            replay,
            peers_seen,
            peer_up,
            marked,
            counters: _,
            now,
            stamper,
        } = self;
        let mut w = HashWriter(h);
        // Writing into a hasher cannot fail.
        let _ = write!(
            w,
            "{me:?}{tickets:?}{out:?}{rng:?}{waiters:?}{replies:?}\
             {peers_seen}/{peer_up}/{marked}/{now:?}{stamper:?}"
        );
        // Without a key nothing reads or writes them (and formatting their
        // MAC caches is most of the cost).
        if self.config.key.is_some() {
            let _ = write!(w, "{replay:?}");
        }
    }
}
