//! Counters the platform shows in `booth peers` and logs (rate-limited there).

use crate::time::Instant;

/// Per-member traffic, as `booth peers` prints it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerStats {
    pub sent: u32,
    pub resends: u32,
    pub recv: u32,
    /// Datagrams from this member that failed to decode.
    pub errors: u32,
    /// Bad MAC, missing signature, stale, future or replayed timestamp.
    pub authfail: u32,
    /// Decoded but unusable (unknown leader ID, unknown ticket, spoofed source).
    pub invalid: u32,
    pub last_recv: Option<Instant>,
}

impl PeerStats {
    pub const ZERO: PeerStats = PeerStats {
        sent: 0,
        resends: 0,
        recv: 0,
        errors: 0,
        authfail: 0,
        invalid: 0,
        last_recv: None,
    };
}

/// Counters for the whole member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Datagrams that failed to decode, from anyone.
    pub decode_errors: u32,
    pub auth_failures: u32,
    /// Datagrams from an address or ID that is not a member.
    pub unknown_sender: u32,
    pub unknown_ticket: u32,
    /// Decoded but refused (leader 0, self-addressed, spoofed source).
    pub invalid: u32,
    /// Messages dropped because the outbox was full (treated like loss).
    pub outbox_overflow: u32,
    pub elections_started: u32,
    pub elections_won: u32,
    pub tickets_lost: u32,
    /// Elections not started because the term reached [`super::TERM_CEILING`].
    pub term_ceiling_hits: u32,
}

impl Counters {
    pub const ZERO: Counters = Counters {
        decode_errors: 0,
        auth_failures: 0,
        unknown_sender: 0,
        unknown_ticket: 0,
        invalid: 0,
        outbox_overflow: 0,
        elections_started: 0,
        elections_won: 0,
        tickets_lost: 0,
        term_ceiling_hits: 0,
    };
}
