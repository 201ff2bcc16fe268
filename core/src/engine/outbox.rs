//! Messages waiting to be sent. A broadcast is one entry with a recipient mask,
//! so a full formation costs one slot, not fifteen.

use super::event::{MemberIndex, TicketIndex};
use crate::wire::{Command, Reason, ResultCode};
use heapless::Deque;

/// Slots in the outbox. More than a burst of every ticket broadcasting at once
/// for the default capacities; overflow is counted and treated as packet loss.
pub const OUTBOX_SLOTS: usize = 48;

/// The fields of a ticket message that vary; the node fills in the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// Bit i set: still to send to member i.
    pub to: u16,
    pub ticket: TicketIndex,
    pub cmd: Command,
    pub request: u32,
    pub reason: Reason,
    pub result: ResultCode,
    pub leader: u32,
    pub term: u32,
    pub valid_for: u32,
    /// The lease remainder below one wire unit, in ms, for our own peers
    /// (header `options`, [`crate::wire::header::PEER_MARK`]).
    pub sub_unit_ms: u16,
    /// Counts as a re-send in the peer statistics.
    pub resend: bool,
    /// Header stamp to send instead of a fresh one: an ack echoes the stamp
    /// of the message it acknowledges, so the holder knows which copy it was.
    pub echo: Option<(u32, u32)>,
}

#[derive(Debug)]
#[cfg_attr(feature = "check", derive(Clone))]
pub(crate) struct Outbox {
    queue: Deque<Outgoing, OUTBOX_SLOTS>,
    pub overflow: u32,
}

impl Outbox {
    pub const fn new() -> Self {
        Outbox {
            queue: Deque::new(),
            overflow: 0,
        }
    }

    pub fn push(&mut self, msg: Outgoing) {
        if msg.to == 0 {
            return;
        }
        if self.queue.push_back(msg).is_err() {
            self.overflow = self.overflow.saturating_add(1);
        }
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.overflow = 0;
    }

    /// The next (recipient, message), removing that recipient from its entry.
    pub fn pop(&mut self) -> Option<(MemberIndex, Outgoing)> {
        let front = self.queue.front_mut()?;
        let member = front.to.trailing_zeros() as MemberIndex;
        front.to &= front.to - 1;
        let msg = *front;
        if front.to == 0 {
            self.queue.pop_front();
        }
        Some((member, msg))
    }
}
