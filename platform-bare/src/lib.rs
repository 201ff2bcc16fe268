//! The booth arbitrator as a microcontroller appliance (no_std, no allocator).
//!
//! The same [`booth_core`] engine the Linux daemon runs, driven by a
//! monotonic tick and one UDP socket, with its promises kept in a flash
//! region. Board-independent: a board supplies an Ethernet driver
//! (a [`smoltcp::phy::Device`]), a millisecond tick, a [`storage::Storage`]
//! for two flash slots and the provisioning blob's bytes; see
//! `firmware/qemu-mps2-an386` for one.
//!
//! - [`provision`]: the blob a host tool makes from `booth.conf`.
//! - [`storage`]: term/vote/lease state in two CRC-checked slots.
//! - [`clock`]: the wall clock for the auth header (provisioned, forward-only).
//! - [`runtime`]: the loop around the engine ([`runtime::Appliance`]).
//! - [`net`]: smoltcp interface + UDP socket as the runtime's [`runtime::Datagrams`].
//!
//! Logging goes to defmt (feature `defmt`) or the `log` facade (feature
//! `log`), or nowhere.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

#[macro_use]
mod fmt;

pub mod clock;
pub mod crc;
pub mod net;
pub mod provision;
pub mod runtime;
pub mod storage;

pub use booth_core;
pub use clock::WallClock;
pub use provision::{NetConfig, Provision};
pub use runtime::{Appliance, Datagrams, Endpoint, Restored};
pub use smoltcp;
pub use storage::{RamStorage, Slot, StateStore, Storage};
