//! booth 1.x wire formats: fixed big-endian structs with an HMAC-SHA1 trailer.
//!
//! Every message is a 48-byte [`Header`] followed by a body (a 76-byte
//! [`TicketBody`] between peers, a ticket or [`attr::AttrBody`] from CLI
//! clients, text in some replies) and, when the sender has a key, a 28-byte
//! [`auth::Trailer`] (booth-protocol.md §2).
//!
//! Parsers check lengths, magic and version before they read any other
//! field (booth does not, §10.3 #19), never panic and never allocate.
//!
//! - [`header`], [`ticket`], [`attr`]: the fixed structs, each a `parse`/`emit` pair.
//! - [`auth`]: the trailer, HMAC-SHA1 signing and constant-time verification.
//! - [`replay`]: the timestamp window plus a MAC cache and floor that refuse
//!   every replay of an accepted message, at any age.
//! - [`peer`]: UDP messages between members.
//! - [`client`]: the TCP protocol between the CLI and a daemon.
pub mod attr;
pub mod auth;
pub mod client;
mod error;
pub mod fourcc;
pub mod header;
pub mod peer;
pub mod replay;
pub mod ticket;

pub use error::{DecodeError, EncodeError};
pub use fourcc::{Command, Reason, ResultCode};
pub use header::Header;
pub use peer::{emit_peer, parse_peer, PeerMessage};
pub use replay::{ReplayCache, ReplayWindow, Stamp};
pub use ticket::{Name, TicketBody};

/// `BOOTHC_MAGIC`.
pub const MAGIC: u32 = 0x5F1B_A08C;
/// `BOOTHC_VERSION`; the v0.1 Paxos booth (0x0001_0002) is incompatible.
pub const VERSION: u32 = 0x0001_0003;

/// Header size.
pub const HEADER_LEN: usize = 48;
/// Ticket body size.
pub const TICKET_BODY_LEN: usize = 76;
/// Header + ticket body: every UDP message without auth.
pub const TICKET_MSG_LEN: usize = HEADER_LEN + TICKET_BODY_LEN;
/// Attribute body size (TCP client requests only).
pub const ATTR_BODY_LEN: usize = 256;
/// Authentication trailer: `hid`, 20-byte MAC, 4 zero bytes.
pub const TRAILER_LEN: usize = 28;
/// Largest datagram or TCP request booth reads (`MAX_MSG_LEN`).
pub const MAX_MSG_LEN: usize = 1024;
/// Fixed size of a name field (63 bytes + NUL).
pub const NAME_LEN: usize = 64;

/// Header `opts` bit: the sender has a key and appended a trailer.
pub const OPT_AUTH: u32 = 1;
/// HMAC-SHA1 output size.
pub const MAC_LEN: usize = 20;
/// The only trailer `hid` accepted: SHA-1 (CVE-2024-3049, §10.2 #16).
pub const HASH_ID_SHA1: u32 = 2;
