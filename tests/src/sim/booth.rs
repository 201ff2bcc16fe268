//! Mixed formations: site members that look like booth 1.x holders to the
//! others and to the auditor (issue 10, docs/simulation.md "Mixed
//! formations").
//!
//! Such a member runs our core like every other member; two things change
//! around it:
//!
//! * **On the wire** its datagrams lose the booth-rs mark (`options` = 0,
//!   re-signed when a key is set), as booth 1.x sends them. `valid_for` is
//!   already truncated to whole wire units, so the others see what a booth
//!   holder would send and apply their booth margins (a lease copy of
//!   `valid_for` + one wire unit + `timeout`, and a winner's CIB grant
//!   delayed by one wire unit + `timeout`).
//! * **In the auditor's truth** it holds a lease that a majority
//!   acknowledged up to one wire unit + one `timeout` past what it
//!   advertised: a booth holder keeps up to a unit more than its truncated
//!   `valid_for` says (booth-protocol.md §2.3) and notices its own expiry
//!   only at its next cron run, up to `timeout` late (§3.3, §3.7). The most
//!   its copies allow: every copy sent at `s` with `valid_for` `v` says the
//!   lease ends before `s + (v+1)·unit`, so it ends at the earliest of those
//!   minus 1 ms; it is let go `timeout` after that, on the member's clock.
//!
//! [`BoothMode::Marked`] keeps the late expiry but leaves the mark on the
//! wire: the others take the member for booth-rs and apply no booth margin.
//! It is the switch that shows the margins are needed (a test that cannot
//! fail proves nothing).

use booth_core::site_id::NO_ONE;
use booth_core::wire::{self, header::peer_mark, Command};
use std::collections::VecDeque;

/// How a site member looks to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoothMode {
    /// A booth-rs member: marked messages, lets go at its own deadline.
    #[default]
    BoothRs,
    /// Like a booth 1.x holder: unmarked messages, late expiry.
    Booth,
    /// Late expiry like a booth holder, but its messages keep the mark, so
    /// the others apply no booth margin to it (test switch: margins off).
    Marked,
}

impl BoothMode {
    pub fn is_booth(self) -> bool {
        self != BoothMode::BoothRs
    }
}

/// One lease the member advertised (all copies of one exchange carry what
/// is left of the same lease end).
#[derive(Debug, Clone)]
struct Lease {
    ticket: usize,
    term: u32,
    /// The exact lease end on the member's clock (from the mark).
    end_local: u64,
    /// Local time of its first copy.
    first_sent: u64,
    /// The most any copy's truncation cut off (ms).
    max_sub: u64,
    /// Members that acknowledged a copy (the member itself included).
    ackers: u16,
}

/// A copy sent: its header stamp names the lease it carried.
#[derive(Debug, Clone, Copy)]
struct Copy {
    stamp: (u32, u32),
    lease: usize,
}

/// What the simulator tracks of one booth-like member.
#[derive(Debug, Clone)]
pub struct BoothHolder {
    pub mode: BoothMode,
    me: usize,
    id: u32,
    members: usize,
    unit_ms: u64,
    timeout_ms: u64,
    leases: Vec<Lease>,
    copies: VecDeque<Copy>,
    /// Per ticket: leases first sent before this (local) were let go.
    revoked_before: Vec<u64>,
    /// Datagrams whose mark was cleared.
    pub unmarked: u64,
}

/// Copies remembered for matching acknowledgements.
const KEEP_COPIES: usize = 4096;
/// Leases remembered.
const KEEP_LEASES: usize = 1024;

impl BoothHolder {
    pub fn new(
        mode: BoothMode,
        me: usize,
        id: u32,
        members: usize,
        tickets: usize,
        unit_ms: u64,
        timeout_ms: u64,
    ) -> Self {
        BoothHolder {
            mode,
            me,
            id,
            members,
            unit_ms,
            timeout_ms,
            leases: Vec::new(),
            copies: VecDeque::new(),
            revoked_before: vec![0; tickets],
            unmarked: 0,
        }
    }

    /// A datagram the member sends at local time `now_local`: notes a lease
    /// it advertises and, in [`BoothMode::Booth`], clears the mark (and
    /// re-signs). Returns the ticket whose lease changed, if any.
    pub fn outgoing(
        &mut self,
        now_local: u64,
        key: Option<&[u8]>,
        ticket_of: impl Fn(&wire::Name) -> Option<usize>,
        bytes: &mut Vec<u8>,
    ) -> Option<usize> {
        let Ok((mut msg, _)) = wire::parse_peer(bytes, key) else {
            return None;
        };
        let mut changed = None;
        let step_down = msg.cmd == Command::Revoked
            || (msg.cmd == Command::VoteFor
                && msg.body.leader == NO_ONE
                && msg.header.request == 0);
        if step_down {
            // It tells its followers it let go (a revoke, or a step-down
            // to nobody): a booth holder lets go before it says so.
            if let Some(ticket) = ticket_of(&msg.body.name) {
                self.revoked(ticket, now_local);
                changed = Some(ticket);
            }
        }
        if matches!(msg.cmd, Command::Heartbeat | Command::Update) && msg.body.leader == self.id {
            if let Some(ticket) = ticket_of(&msg.body.name) {
                let sub = peer_mark(msg.header.options, self.unit_ms).map_or(0, u64::from);
                let end_local = now_local + u64::from(msg.body.valid_for) * self.unit_ms + sub;
                let term = msg.body.term;
                let lease =
                    match self.leases.iter().position(|l| {
                        l.ticket == ticket && l.term == term && l.end_local == end_local
                    }) {
                        Some(i) => {
                            self.leases[i].max_sub = self.leases[i].max_sub.max(sub);
                            i
                        }
                        None => {
                            if self.leases.len() == KEEP_LEASES {
                                self.leases.remove(0);
                                self.copies.clear();
                            }
                            self.leases.push(Lease {
                                ticket,
                                term,
                                end_local,
                                first_sent: now_local,
                                max_sub: sub,
                                ackers: 1 << self.me,
                            });
                            self.leases.len() - 1
                        }
                    };
                if self.copies.len() == KEEP_COPIES {
                    self.copies.pop_front();
                }
                self.copies.push_back(Copy {
                    stamp: (msg.header.secs, msg.header.usecs),
                    lease,
                });
                changed = Some(ticket);
            }
        }
        if self.mode == BoothMode::Booth && msg.header.options != 0 {
            msg.header.options = 0;
            let mut buf = [0u8; 1024];
            if let Ok(len) = wire::emit_peer(&msg, key, &mut buf) {
                *bytes = buf[..len].to_vec();
                self.unmarked += 1;
            }
        }
        changed
    }

    /// A datagram delivered to the member: an acknowledgement of one of its
    /// lease copies counts for that lease. Returns the ticket whose
    /// acknowledged lease may have changed.
    pub fn incoming(&mut self, from: usize, key: Option<&[u8]>, bytes: &[u8]) -> Option<usize> {
        let (msg, _) = wire::parse_peer(bytes, key).ok()?;
        let acked = [Command::Heartbeat, Command::Update].map(|c| c.as_u32());
        if msg.cmd != Command::Ack
            || !acked.contains(&msg.header.request)
            || msg.body.leader != self.id
        {
            return None;
        }
        let stamp = (msg.header.secs, msg.header.usecs);
        let copy = self.copies.iter().rev().find(|c| c.stamp == stamp)?;
        let lease = self.leases.get_mut(copy.lease)?;
        if lease.term != msg.body.term {
            return None;
        }
        lease.ackers |= 1 << from;
        Some(lease.ticket)
    }

    /// The member let go of the ticket and says so (an admin revoke, a
    /// step-down): a booth holder lets go at once, so the leases it gave
    /// out so far end for it.
    pub fn revoked(&mut self, ticket: usize, now_local: u64) {
        self.revoked_before[ticket] = now_local + 1;
    }

    /// The end, on the member's clock, of what it holds of `ticket` in the
    /// booth truth: the latest lease a majority acknowledged, plus what
    /// truncation may hide (less than one unit) plus `timeout`.
    pub fn holds_until_local(&self, ticket: usize) -> Option<u64> {
        let majority = self.members / 2 + 1;
        self.leases
            .iter()
            .filter(|l| l.ticket == ticket && l.first_sent >= self.revoked_before[ticket])
            .filter(|l| l.ackers.count_ones() as usize >= majority)
            .map(|l| (l.end_local + self.unit_ms).saturating_sub(l.max_sub + 1) + self.timeout_ms)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::wire::{Header, PeerMessage, TicketBody};

    const KEY: &[u8] = b"0123456789abcdef";
    const HOLDER: u32 = 0x0b11_3e6c;

    fn datagram(
        cmd: Command,
        options: u32,
        stamp: u32,
        valid_for: u32,
        key: Option<&[u8]>,
    ) -> Vec<u8> {
        let msg = PeerMessage {
            header: Header {
                secs: stamp,
                options,
                from: HOLDER,
                ..Header::default()
            },
            cmd,
            body: TicketBody {
                name: heapless::Vec::from_slice(b"ticket0").unwrap(),
                leader: HOLDER,
                term: 3,
                valid_for,
            },
        };
        let mut buf = [0u8; 1024];
        let len = wire::emit_peer(&msg, key, &mut buf).unwrap();
        buf[..len].to_vec()
    }

    fn ticket_of(name: &wire::Name) -> Option<usize> {
        (name.as_slice() == b"ticket0").then_some(0)
    }

    #[test]
    fn the_mark_is_cleared_and_the_datagram_re_signed() {
        let mut b = BoothHolder::new(BoothMode::Booth, 0, HOLDER, 3, 1, 1000, 500);
        let mark = wire::header::PEER_MARK | 250;
        let mut d = datagram(Command::Heartbeat, mark, 1, 6, Some(KEY));
        assert_eq!(b.outgoing(10_000, Some(KEY), ticket_of, &mut d), Some(0));
        let (msg, _) = wire::parse_peer(&d, Some(KEY)).expect("still signed with the key");
        assert_eq!(msg.header.options, 0);
        assert_eq!(b.unmarked, 1);

        // Marked mode leaves it alone.
        let mut m = BoothHolder::new(BoothMode::Marked, 0, HOLDER, 3, 1, 1000, 500);
        let mut d = datagram(Command::Heartbeat, mark, 1, 6, None);
        let before = d.clone();
        m.outgoing(10_000, None, ticket_of, &mut d);
        assert_eq!(d, before);
    }

    #[test]
    fn a_majority_acknowledged_lease_is_held_a_unit_and_a_timeout_late() {
        let mut b = BoothHolder::new(BoothMode::Booth, 0, HOLDER, 3, 1, 1000, 500);
        // An update at local 10_000: lease end 16_000 exactly.
        let mut d = datagram(Command::Update, wire::header::PEER_MARK, 7, 6, None);
        b.outgoing(10_000, None, ticket_of, &mut d);
        assert_eq!(b.holds_until_local(0), None, "nobody acknowledged it yet");
        let mut ack = datagram(Command::Ack, 0, 7, 6, None);
        ack[32..36].copy_from_slice(&Command::Update.as_u32().to_be_bytes());
        assert_eq!(b.incoming(1, None, &ack), Some(0));
        // Lease end + (unit − 1 ms) + timeout.
        assert_eq!(b.holds_until_local(0), Some(16_000 + 999 + 500));
        // A later heartbeat says 2 (of 2.5 s) are left: the lease ended
        // before 13_500 + 3000.
        let mut h = datagram(
            Command::Heartbeat,
            wire::header::PEER_MARK | 500,
            8,
            2,
            None,
        );
        b.outgoing(13_500, None, ticket_of, &mut h);
        assert_eq!(b.holds_until_local(0), Some(16_000 + 499 + 500));
        // A step-down ends it.
        let mut s = datagram(Command::VoteFor, wire::header::PEER_MARK, 9, 0, None);
        s[112..116].copy_from_slice(&NO_ONE.to_be_bytes());
        b.outgoing(14_000, None, ticket_of, &mut s);
        assert_eq!(b.holds_until_local(0), None);
    }
}
