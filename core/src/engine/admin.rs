//! Admin requests (booth grant/revoke) and their immediate answers.

use super::event::{ClientId, TicketIndex};
use crate::wire::ResultCode;

defmt_derive! {
/// What an admin asks of this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRequest {
    /// `booth grant [-F] [-C]`.
    Grant { ticket: TicketIndex, force: bool, wait_commit: bool },
    /// `booth revoke`.
    Revoke { ticket: TicketIndex },
}
}

defmt_derive! {
/// The first answer to an admin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminResponse {
    pub result: ResultCode,
    /// Site ID for `Redirect` (and the current leader otherwise), or `NO_ONE`.
    pub leader: u32,
    /// More answers follow as `Event::ClientReply` for this client.
    pub pending: bool,
}
}

/// An admin client waiting for the outcome of its grant (revokes answer at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub client: ClientId,
    pub ticket: TicketIndex,
    pub wait_commit: bool,
}
