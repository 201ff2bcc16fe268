//! What the engine hands to the platform: CIB commits, handler runs, state to
//! persist, client replies, peers coming up.

use crate::site_id::{SiteId, NO_ONE};
use crate::time::Instant;
use crate::wire::ResultCode;
use serde::{Deserialize, Serialize};

/// Index of a ticket in [`crate::Config::tickets`].
pub type TicketIndex = usize;
/// Index of a member in [`crate::Config::members`].
pub type MemberIndex = usize;

defmt_derive! {
/// Who holds a ticket, as the CIB `owner` attribute says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    /// Not known (lost, stepped down, starting): CIB `owner = 0`.
    Unknown,
    /// Explicitly nobody, after an admin revoke: CIB `owner = -1`.
    NoOne,
    Site(SiteId),
}
}

impl Owner {
    /// The CIB `owner` value booth writes.
    pub const fn cib_value(self) -> i64 {
        match self {
            Owner::Unknown => 0,
            Owner::NoOne => -1,
            Owner::Site(id) => id.0 as i64,
        }
    }

    /// The `leader` field of a ticket message.
    pub const fn wire(self) -> u32 {
        match self {
            Owner::Site(id) => id.0,
            _ => NO_ONE,
        }
    }
}

defmt_derive! {
/// Write the ticket's state to the local CIB (`crm_ticket -g` / `-r`).
///
/// `granted = true` means this site may run the ticket's resources until
/// `expires`; the platform's lease guard must revoke at `expires` unless a later
/// commit moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    pub ticket: TicketIndex,
    pub granted: bool,
    pub owner: Owner,
    /// The fencing token: strictly higher for every new holder.
    pub term: u32,
    /// Holder: its own deadline. Others: their copy of the lease end.
    pub expires: Instant,
}
}

defmt_derive! {
/// Why the before-acquire-handler is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerReason {
    /// Before an admin grant's election.
    Grant,
    /// Before each renewal by the holder.
    Renewal,
    /// Before the first CIB grant after winning a failover or re-acquire.
    Acquire,
}
}

defmt_derive! {
/// Term, vote and lease knowledge that must survive a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PersistedTicket {
    pub term: u32,
    /// Member index voted for in `term`.
    pub voted_for: Option<u8>,
    /// Member index of the leader last followed (or self), if a lease was known.
    pub leader: Option<u8>,
    /// A lease was (or may still be) running when this was written.
    pub lease: bool,
    /// The ticket was lost here without a revoke: keep electing after a restart.
    pub lost: bool,
}
}

defmt_derive! {
/// What a member knows about a ticket when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// First start ever: no promises were made.
    Fresh,
    /// The state last persisted.
    Persisted(PersistedTicket),
    /// State was lost: assume any promise, refuse votes for expire + acquire-after.
    /// `term` is the highest term known from elsewhere, e.g. the CIB's `term`
    /// attribute (0 if none), so fencing tokens keep rising.
    Amnesia { term: u32 },
    /// The site's own store (the CIB, which the site's cluster replicates)
    /// says this site holds the ticket in `term` until `until`: the daemon
    /// moved to another node of the site, or restarted, within the lease.
    /// `until` is on this member's clock, already shortened by what the
    /// clocks of the site's nodes may differ (docs/site-memory.md). A lease
    /// that has not ended is led on and renewed at once; otherwise the
    /// ticket is re-acquired as after a restart of a holder.
    Held { term: u32, until: Instant },
}
}

defmt_derive! {
/// Identifies a waiting admin client to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(pub u32);
}

defmt_derive! {
/// Something the platform must act on. Drain with [`super::Node::poll_event`]
/// until `None` *before* calling `poll_transmit`: packets that depend on a
/// `Persist` are held back until it has been taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Persist this synchronously (fsync) before sending anything else.
    Persist { ticket: TicketIndex, state: PersistedTicket },
    Commit(Commit),
    /// Run the before-acquire-handler; report with `handle_handler_done`.
    RunHandler { ticket: TicketIndex, term: u32, reason: HandlerReason },
    /// Stop a running handler (its result no longer matters).
    CancelHandler { ticket: TicketIndex },
    /// A later answer to an admin request that returned `pending`.
    ClientReply { client: ClientId, ticket: TicketIndex, result: ResultCode, leader: u32, last: bool },
    /// First verified packet from a member since start (or since it went silent).
    PeerUp { member: MemberIndex },
    /// A peer's lease for a ticket is longer than ours: configs differ.
    TimingMismatch { ticket: TicketIndex, member: MemberIndex },
}
}
