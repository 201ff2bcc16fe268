//! Tests for booth-rs beyond unit tests: the deterministic simulator that runs
//! whole formations of the real core under faults, and the helpers of the
//! interop and end-to-end suites.
pub mod explore;
pub mod faults;
pub mod fixtures;
pub mod formation;
pub mod interop;
pub mod sim;
