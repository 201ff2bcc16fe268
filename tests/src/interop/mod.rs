//! Interop with the real booth 1.x (Debian's 1.0-283): mixed formations of
//! booth daemons and ours, run on loopback inside a network namespace the
//! test creates, with stub `crm_ticket`s whose logs give each site's CIB
//! grant intervals (tests/tests/interop_booth.rs).
//!
//! - [`netns`]: the namespace (a thread of its own, `lo` only, IPv6 off) and
//!   the firewall rules for partitions.
//! - [`process`]: daemons killed by PID on drop; clients with a deadline.
//! - [`formation`]: configs, keys, stubs, starting and killing members, both
//!   clients, agreement and single-holder checks.
//! - [`cib`]: the stub and its log.
//! - [`capture`]: every datagram on `lo`.
//! - [`audit`]: every captured datagram checked both ways, kinds tabulated.
//! - [`boothwire`]: booth's datagram rules and key handling, written apart
//!   from booth-core's codec.
pub mod audit;
pub mod boothwire;
pub mod capture;
pub mod cib;
pub mod formation;
pub mod netns;
pub mod process;
