//! The arbitrator appliance runtime (no_std).
#![no_std]
#![forbid(unsafe_code)]
