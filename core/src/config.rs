//! The configuration the engine runs on: members, tickets and their timings.
//!
//! This is the *result* of parsing `booth.conf` (the parser lives with the
//! platform). [`Config::validate`] refuses timing relations that would let two
//! sites hold a ticket at once (`lease-safety.md` §6.5).

use crate::site_id::SiteId;
use crate::time::Duration;
use crate::MAX_MEMBERS;
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Longest ticket name on the wire (64-byte field with a NUL).
pub const NAME_MAX: usize = 63;
/// Longest authentication key booth reads.
pub const KEY_MAX: usize = 64;
/// Shortest key booth accepts.
pub const KEY_MIN: usize = 8;

pub type TicketName = String<NAME_MAX>;

defmt_derive! {
/// Site or arbitrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// May hold tickets; writes the CIB.
    Site,
    /// Votes and acknowledges only.
    Arbitrator,
}
}

defmt_derive! {
/// `mode = automatic | manual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    Automatic,
    /// No elections and no lease: an admin decides (two-site setups).
    Manual,
}
}

defmt_derive! {
/// Unit of `term_valid_for` on the wire: booth switches every ticket to
/// milliseconds once any time value in its config is not whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireTimeUnit {
    Seconds,
    Millis,
}
}

impl WireTimeUnit {
    /// Milliseconds per wire unit.
    pub const fn millis(self) -> u64 {
        match self {
            WireTimeUnit::Seconds => 1000,
            WireTimeUnit::Millis => 1,
        }
    }
}

defmt_derive! {
/// One configured member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: SiteId,
    pub role: Role,
}
}

/// One ticket's settings (booth-protocol.md §4.3, plus our safety parameters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TicketConfig {
    pub name: TicketName,
    pub mode: Mode,
    /// Lease length D (`expire`).
    pub expire: Duration,
    /// Resend interval and election length (`timeout`).
    pub timeout: Duration,
    /// Resends before giving up on a round (`retries`, 3..=100).
    pub retries: u8,
    /// How often the holder renews (`renewal-freq`, default expire/2).
    pub renewal_freq: Duration,
    /// Hand-over delay A: a follower waits lease end + A before voting anew.
    pub acquire_after: Duration,
    /// A `before-acquire-handler` is configured (the platform runs it).
    pub has_handler: bool,
    /// Bound ρ on any member's clock-rate error, in parts per million.
    pub max_drift_ppm: u32,
    /// Extra time the holder gives up before its drift-corrected deadline.
    pub safety_margin: Duration,
}

impl TicketConfig {
    /// A ticket with booth's defaults (expire 600 s, timeout 5 s, retries 10,
    /// renewal expire/2) and our safety defaults (ρ = 1000 ppm, margin 100 ms).
    pub fn new(name: &str) -> Result<Self, ConfigError> {
        let mut n = TicketName::new();
        if name.is_empty() || n.push_str(name).is_err() {
            return Err(ConfigError::TicketNameLength);
        }
        Ok(TicketConfig {
            name: n,
            mode: Mode::Automatic,
            expire: Duration::from_secs(600),
            timeout: Duration::from_secs(5),
            retries: 10,
            renewal_freq: Duration::from_secs(300),
            acquire_after: Duration::ZERO,
            has_handler: false,
            max_drift_ppm: 1000,
            safety_margin: Duration::from_millis(100),
        })
    }

    /// `expire`, `timeout`, `retries` and a renewal of expire/2 in one go.
    pub fn with_timing(mut self, expire: Duration, timeout: Duration, retries: u8) -> Self {
        self.expire = expire;
        self.timeout = timeout;
        self.retries = retries;
        self.renewal_freq = Duration(expire.0 / 2);
        self
    }

    /// The holder's own usable lease for a lease of `v` as sent on the wire:
    /// `v·(1−ρ)/(1+ρ) − unit − margin` (`lease-safety.md` §3). The wire unit is
    /// subtracted because booth followers truncate later heartbeats.
    pub fn holder_lease(&self, v: Duration, unit: WireTimeUnit) -> Duration {
        self.holder_lease_among_marked(v)
            .saturating_sub(Duration(unit.millis()))
    }

    /// The holder's usable lease when every other member is booth-rs:
    /// `v·(1−ρ)/(1+ρ) − margin`. Our followers never shorten a copy (later
    /// messages carry the milliseconds truncation cut off), so the drift
    /// bound and the margin are all that stands between the holder letting
    /// go and a follower's copy ending (docs/compatibility.md, "the mark").
    pub fn holder_lease_among_marked(&self, v: Duration) -> Duration {
        let ppm = self.max_drift_ppm as u64;
        let scaled = (v.0 as u128 * (1_000_000 - ppm.min(999_999)) as u128
            / (1_000_000 + ppm) as u128) as u64;
        Duration(scaled).saturating_sub(self.safety_margin)
    }

    /// How long before the earliest instant any other site may be granted
    /// the holder's own deadline falls, measured on the holder's clock:
    /// `A·(1−ρ)/(1+ρ) + margin`. A follower waits `v + A` on its clock from
    /// receipt of the renewal (≥ `(v + A)/(1+ρ)` of real time after the
    /// send); the holder lets go [`Self::holder_lease`] after the send on its
    /// clock (≤ `v/(1+ρ) − (unit + margin)/(1−ρ)` of real time). The wire unit
    /// is not counted: a booth 1.x follower may lose it to truncation. Our
    /// own followers never shorten a lease, so against them the real margin
    /// is one wire unit longer. The lease length cancels out.
    pub fn holder_margin(&self) -> Duration {
        let ppm = self.max_drift_ppm as u64;
        let a = (self.acquire_after.0 as u128 * (1_000_000 - ppm.min(999_999)) as u128
            / (1_000_000 + ppm) as u128) as u64;
        Duration(a.saturating_add(self.safety_margin.0))
    }
}

/// Everything the engine needs, with compile-time capacities: `TICKETS`
/// tickets and `MEMBERS` members (at most [`MAX_MEMBERS`], booth's limit; a
/// microcontroller build sizes it to its formation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config<const TICKETS: usize, const MEMBERS: usize = MAX_MEMBERS> {
    /// In configuration order (the order defines vote/ack bit positions).
    pub members: Vec<Member, MEMBERS>,
    pub tickets: Vec<TicketConfig, TICKETS>,
    /// Shared HMAC key; `None` disables authentication (booth without `authfile`).
    pub key: Option<Vec<u8, KEY_MAX>>,
    /// Auth timestamps older than this are refused (`maxtimeskew`).
    pub max_time_skew: Duration,
    /// Auth timestamps further in the future than this are refused (booth has no bound).
    pub max_future_skew: Duration,
    /// Wire unit of `term_valid_for` (derived from the config text as booth does).
    pub wire_unit: WireTimeUnit,
    /// Drop peer datagrams whose source is not the member named in `from`.
    pub check_source: bool,
}

defmt_derive! {
/// A configuration the engine refuses. The platform adds file and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// No members, or more than 16.
    MemberCount,
    /// No site among the members (a formation needs somebody to hold tickets).
    NoSite,
    /// Two members share a site ID (CRC-32 collision or a repeated address).
    DuplicateMember { first: u8, second: u8 },
    /// More tickets than the build's capacity.
    TooManyTickets,
    /// Empty or longer than 63 bytes.
    TicketNameLength,
    DuplicateTicket { index: u8 },
    /// `retries` outside 3..=100.
    Retries { ticket: u8 },
    /// `expire`, `timeout` or `renewal-freq` is zero.
    ZeroTime { ticket: u8 },
    /// booth's rule: `timeout × (retries + 1)` must be below `renewal-freq`.
    RetriesExceedRenewal { ticket: u8 },
    /// The holder would not renew before its own drift-corrected deadline.
    RenewalAfterHolderDeadline { ticket: u8 },
    /// `max_drift_ppm` of 10 % or more is not a clock, it is a fault.
    Drift { ticket: u8 },
    /// A key shorter than 8 or longer than 64 bytes.
    KeyLength,
    /// The whole lease fits in one wire unit, so booth peers would see 0.
    LeaseBelowWireUnit { ticket: u8 },
}
}

impl<const TICKETS: usize, const MEMBERS: usize> Config<TICKETS, MEMBERS> {
    /// An empty configuration with booth's global defaults.
    pub const fn new() -> Self {
        Config {
            members: Vec::new(),
            tickets: Vec::new(),
            key: None,
            max_time_skew: Duration::from_secs(600),
            max_future_skew: Duration::from_secs(600),
            wire_unit: WireTimeUnit::Seconds,
            check_source: true,
        }
    }

    /// Index of a member by its ID.
    pub fn member_index(&self, id: SiteId) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    /// Index of a ticket by name.
    pub fn ticket_index(&self, name: &[u8]) -> Option<usize> {
        self.tickets.iter().position(|t| t.name.as_bytes() == name)
    }

    /// What persisted state is bound to: every member's ID and role, in
    /// order, and which of them `me` is. Persisted votes and leaders are
    /// member *indexes*: under a reordered, extended or replaced member list,
    /// or in another member's file, they name someone else, so state written
    /// under another fingerprint must be restored as amnesia. CRC-32 over
    /// little-endian IDs, role bytes and `me` (the appliance stores the same).
    pub fn formation_fingerprint(&self, me: usize) -> u32 {
        let mut h = crc32fast::Hasher::new();
        for m in &self.members {
            h.update(&m.id.0.to_le_bytes());
            h.update(&[m.role as u8]);
        }
        h.update(&(me as u32).to_le_bytes());
        h.finalize()
    }

    /// Votes needed to win: strictly more than half of all members.
    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }

    /// Checks every relation the engine relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.members.is_empty() {
            return Err(ConfigError::MemberCount);
        }
        if !self.members.iter().any(|m| m.role == Role::Site) {
            return Err(ConfigError::NoSite);
        }
        for (i, a) in self.members.iter().enumerate() {
            for (j, b) in self.members.iter().enumerate().skip(i + 1) {
                if a.id == b.id {
                    return Err(ConfigError::DuplicateMember {
                        first: i as u8,
                        second: j as u8,
                    });
                }
            }
        }
        if let Some(key) = &self.key {
            if key.len() < KEY_MIN {
                return Err(ConfigError::KeyLength);
            }
        }
        for (i, t) in self.tickets.iter().enumerate() {
            let ticket = i as u8;
            if t.name.is_empty() {
                return Err(ConfigError::TicketNameLength);
            }
            if self.tickets[..i].iter().any(|o| o.name == t.name) {
                return Err(ConfigError::DuplicateTicket { index: ticket });
            }
            if !(3..=100).contains(&t.retries) {
                return Err(ConfigError::Retries { ticket });
            }
            if t.expire.0 == 0 || t.timeout.0 == 0 || t.renewal_freq.0 == 0 {
                return Err(ConfigError::ZeroTime { ticket });
            }
            if t.max_drift_ppm >= 100_000 {
                return Err(ConfigError::Drift { ticket });
            }
            if t.expire.0 <= self.wire_unit.millis() {
                return Err(ConfigError::LeaseBelowWireUnit { ticket });
            }
            if t.mode == Mode::Manual {
                continue;
            }
            if t.timeout.saturating_mul(t.retries as u64 + 1) >= t.renewal_freq {
                return Err(ConfigError::RetriesExceedRenewal { ticket });
            }
            // The holder renews at renewal_freq after its last renewal; that must
            // come (with one resend round) before its own shrunk deadline.
            let sent = Duration(t.expire.0 - t.expire.0 % self.wire_unit.millis());
            if t.renewal_freq + t.timeout >= t.holder_lease(sent, self.wire_unit) {
                return Err(ConfigError::RenewalAfterHolderDeadline { ticket });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;

    fn members(ids: &[(u32, Role)]) -> Config<1> {
        let mut c = Config::new();
        for &(id, role) in ids {
            c.members
                .push(Member {
                    id: SiteId(id),
                    role,
                })
                .unwrap();
        }
        c
    }

    #[test]
    fn any_change_to_the_member_list_or_to_me_changes_the_fingerprint() {
        use Role::*;
        let base = members(&[(1, Site), (2, Site), (3, Arbitrator)]);
        let f = base.formation_fingerprint(0);
        assert_eq!(f, base.formation_fingerprint(0));
        for (what, other, me) in [
            (
                "reordered",
                members(&[(2, Site), (1, Site), (3, Arbitrator)]),
                1,
            ),
            (
                "inserted",
                members(&[(1, Site), (4, Site), (2, Site), (3, Arbitrator)]),
                0,
            ),
            (
                "replaced",
                members(&[(1, Site), (5, Site), (3, Arbitrator)]),
                0,
            ),
            (
                "role",
                members(&[(1, Site), (2, Arbitrator), (3, Arbitrator)]),
                0,
            ),
            (
                "another member's",
                members(&[(1, Site), (2, Site), (3, Arbitrator)]),
                1,
            ),
        ] {
            assert_ne!(f, other.formation_fingerprint(me), "{what}");
        }
    }
}

impl<const TICKETS: usize, const MEMBERS: usize> Default for Config<TICKETS, MEMBERS> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formation() -> Config<4> {
        let mut c = Config::new();
        for (i, role) in [Role::Site, Role::Site, Role::Arbitrator]
            .into_iter()
            .enumerate()
        {
            c.members
                .push(Member {
                    id: SiteId(i as u32 + 1),
                    role,
                })
                .unwrap();
        }
        c
    }

    #[test]
    fn fast_test_timings_pass() {
        let mut c = formation();
        let t = TicketConfig::new("ticketA").unwrap().with_timing(
            Duration::from_secs(10),
            Duration::from_secs(1),
            3,
        );
        c.tickets.push(t).unwrap();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.majority(), 2);
    }

    #[test]
    fn booth_retry_rule_is_enforced() {
        // booth rejects expire 10 with the default timeout 5 / retries 10 (§3.2).
        let mut c = formation();
        let mut t = TicketConfig::new("t").unwrap();
        t.expire = Duration::from_secs(10);
        t.renewal_freq = Duration::from_secs(5);
        c.tickets.push(t).unwrap();
        assert_eq!(
            c.validate(),
            Err(ConfigError::RetriesExceedRenewal { ticket: 0 })
        );
    }

    #[test]
    fn holder_lease_is_shrunk_by_drift_unit_and_margin() {
        let t = TicketConfig::new("t").unwrap();
        // 10 s at 1000 ppm: 10_000 * 0.999 / 1.001 = 9980, - 1000 unit - 100 margin.
        assert_eq!(
            t.holder_lease(Duration::from_secs(10), WireTimeUnit::Seconds),
            Duration(8880)
        );
        assert_eq!(
            t.holder_lease(Duration(50), WireTimeUnit::Seconds),
            Duration::ZERO
        );
    }

    #[test]
    fn holder_margin_is_the_shrunk_hand_over_delay_plus_margin() {
        let mut t = TicketConfig::new("t").unwrap();
        assert_eq!(t.holder_margin(), Duration(100));
        // 2 s at 1000 ppm: 2000 * 0.999 / 1.001 = 1996, + 100 margin.
        t.acquire_after = Duration::from_secs(2);
        assert_eq!(t.holder_margin(), Duration(2096));
    }

    #[test]
    fn duplicate_members_and_short_keys_are_refused() {
        let mut c = formation();
        c.members
            .push(Member {
                id: SiteId(1),
                role: Role::Site,
            })
            .unwrap();
        assert_eq!(
            c.validate(),
            Err(ConfigError::DuplicateMember {
                first: 0,
                second: 3
            })
        );
        let mut c = formation();
        c.key = Some(Vec::from_slice(b"short").unwrap());
        assert_eq!(c.validate(), Err(ConfigError::KeyLength));
    }
}
