//! boothd on Linux: config, sockets, crm_ticket, CLI and the daemon loop.

pub mod client;
pub mod config;
pub mod daemon;
pub mod netif;
