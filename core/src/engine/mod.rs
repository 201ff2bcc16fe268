//! One member of a formation: the per-ticket election and lease state machines.
pub mod admin;
pub mod event;
pub use event::*;

/// Placeholder until the engine lands.
#[derive(Debug)]
pub struct Node;
