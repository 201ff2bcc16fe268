//! booth-core: the booth 1.x ticket protocol as a sans-IO state machine.
//!
//! The core never reads a clock or a socket. A platform feeds it the current
//! time, received datagrams and admin requests, and drains datagrams to send,
//! the next deadline and events (CIB commits, handler runs, state to persist).
//! Same inputs, same outputs, always.
//!
//! Layout, in the order a packet travels:
//! - [`wire`]: booth 1.x message formats (views + `Repr`s), HMAC trailer, replay window.
//! - [`engine`]: one member ([`engine::Node`]) holding the per-ticket state machines.
//! - [`config`]: the parsed configuration the engine runs on (not the parser).
//! - [`time`], [`site_id`]: explicit time and booth's CRC-32 member identities.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

#[macro_use]
mod fmt;

pub mod config;
pub mod engine;
pub mod site_id;
pub mod time;
pub mod wire;

pub use config::{Config, Member, Mode, Role, TicketConfig};
pub use engine::{Event, Node};
pub use site_id::SiteId;
pub use time::{Duration, Instant, Now, WallTime};

/// Members per formation, as booth's `MAX_NODES` (vote and ack masks are u16 here).
pub const MAX_MEMBERS: usize = 16;
