//! boothd on Linux: config, sockets, crm_ticket, CLI and the daemon loop.

pub mod config;
pub mod daemon;
pub mod netif;
