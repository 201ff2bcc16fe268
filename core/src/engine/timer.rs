//! A ticket's timers: one fixed table indexed by an enum (as quinn-proto does).

use crate::time::Instant;

/// Every deadline a ticket can have. Order is the order they fire in when due together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Timer {
    /// End of the start-up window in which we wait for peers' MIdx.
    Startup,
    /// The holder's own deadline: give the ticket up, unrenewed.
    HolderDeadline,
    /// A follower's lease copy plus acquire-after ran out: the ticket is lost.
    LeaseLost,
    /// Count the votes of the running election.
    ElectionEnd,
    /// Start an election after a random back-off.
    ElectionStart,
    /// Ask the members that have not answered the running election again.
    VoteResend,
    /// Re-send the message of the exchange in flight.
    Resend,
    /// Time for the holder to renew.
    Renewal,
    /// The admin grant's commit delay has passed.
    CommitDelay,
}

const COUNT: usize = 9;
const ALL: [Timer; COUNT] = [
    Timer::Startup,
    Timer::HolderDeadline,
    Timer::LeaseLost,
    Timer::ElectionEnd,
    Timer::ElectionStart,
    Timer::VoteResend,
    Timer::Resend,
    Timer::Renewal,
    Timer::CommitDelay,
];

#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable([Option<Instant>; COUNT]);

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }
    pub fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }
    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }
    pub fn is_set(&self, t: Timer) -> bool {
        self.0[t as usize].is_some()
    }
    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
    /// The first timer due at `now`, cleared.
    pub fn take_due(&mut self, now: Instant) -> Option<Timer> {
        for t in ALL {
            if matches!(self.0[t as usize], Some(at) if at <= now) {
                self.0[t as usize] = None;
                return Some(t);
            }
        }
        None
    }
}
