//! Deterministic simulation of booth formations.
