//! The provisioning blob: everything an appliance needs to join a formation,
//! generated on a host from a standard `booth.conf` (see the
//! `booth-provision` tool) and placed in a flash region, so the firmware
//! carries no configuration of its own.
//!
//! Layout (integers little-endian):
//!
//! | Offset | Size | Field |
//! |---|---|---|
//! | 0 | 4 | magic `BRPV` |
//! | 4 | 1 | format version (1) |
//! | 5 | 3 | zero |
//! | 8 | 4 | payload length n |
//! | 12 | n | postcard [`Provision`] |
//! | 12 + n | 4 | CRC-32 (IEEE) of bytes 0..12 + n |
//!
//! The payload holds the shared HMAC key: treat a blob like the authfile.
//! The ticket list is a postcard sequence, so a blob written from a
//! `Config<64>` on the host decodes into a firmware's `Config<8, 5>` as long
//! as it has at most 8 tickets and 5 members ([`BlobError::Payload`] otherwise).

use booth_core::{Config, MAX_MEMBERS};
use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::runtime::Endpoint;

const MAGIC: [u8; 4] = *b"BRPV";
pub const VERSION: u8 = 1;
/// Bytes around the payload.
pub const FRAMING_LEN: usize = 16;

/// The appliance's own network interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetConfig {
    /// Interface address (behind NAT it differs from the member address).
    pub ip: [u8; 4],
    pub prefix_len: u8,
    /// Default route, if members are not on the local subnet.
    pub gateway: Option<[u8; 4]>,
    /// UDP port to listen on (the formation's `port`).
    pub port: u16,
}

/// What the appliance is told at provisioning time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provision<const TICKETS: usize, const MEMBERS: usize = MAX_MEMBERS> {
    /// Members, tickets, timings, key, skew (as the engine runs them).
    pub config: Config<TICKETS, MEMBERS>,
    /// Our index in `config.members`.
    pub me: u8,
    /// Every member's address, in member order (ours included).
    pub peers: Vec<Endpoint, MEMBERS>,
    pub net: NetConfig,
    /// Wall clock (Unix seconds) at provisioning: the floor of the appliance's
    /// wall clock at boot, for the auth header timestamp (see [`crate::clock`]).
    pub wall_clock_secs: u64,
    /// Seeds election back-off and the smoltcp ephemeral ports.
    pub seed: u64,
}

/// Why a blob was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BlobError {
    /// Shorter than its framing or its stated length.
    Truncated,
    /// No `BRPV` at the start: nothing was provisioned (erased flash).
    NotProvisioned,
    UnknownVersion(u8),
    /// The CRC does not match: a damaged or partly written blob.
    Checksum,
    /// The payload does not decode, e.g. more tickets than this build holds.
    Payload,
    /// The payload decodes but is inconsistent (`me` or `peers` vs. members).
    Inconsistent,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl<const TICKETS: usize, const MEMBERS: usize> Provision<TICKETS, MEMBERS> {
    /// Writes the framed blob into `buf`, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, BlobError> {
        self.check()?;
        if buf.len() < FRAMING_LEN {
            return Err(BlobError::BufferTooSmall);
        }
        let end = buf.len() - 4;
        let n = postcard::to_slice(self, &mut buf[12..end])
            .map_err(|_| BlobError::BufferTooSmall)?
            .len();
        buf[0..4].copy_from_slice(&MAGIC);
        buf[4] = VERSION;
        buf[5..8].fill(0);
        buf[8..12].copy_from_slice(&(n as u32).to_le_bytes());
        let crc = crate::crc::hash(&buf[..12 + n]);
        buf[12 + n..16 + n].copy_from_slice(&crc.to_le_bytes());
        Ok(16 + n)
    }

    /// An empty provision, to [`Provision::decode_into`].
    pub const fn empty() -> Self {
        Provision {
            config: Config::new(),
            me: 0,
            peers: Vec::new(),
            net: NetConfig {
                ip: [0; 4],
                prefix_len: 0,
                gateway: None,
                port: 0,
            },
            wall_clock_secs: 0,
            seed: 0,
        }
    }

    /// Reads a framed blob from the start of `region` (bytes after it are ignored).
    pub fn decode(region: &[u8]) -> Result<Self, BlobError> {
        let mut p = Self::empty();
        p.decode_into(region)?;
        Ok(p)
    }

    /// [`Provision::decode`] into `self`, field by field. postcard's
    /// derived decoder builds each ticket list and configuration on the
    /// stack and moves it up through every layer (5.9 KiB of stack on
    /// Cortex-M for 8 tickets); this takes one element at a time straight
    /// into its place. The bytes are postcard's encoding of the struct, in
    /// field order: `round_trip_and_capacity_conversion` checks both agree.
    pub fn decode_into(&mut self, region: &[u8]) -> Result<(), BlobError> {
        let mut rest = payload(region)?;
        let rest = &mut rest;
        let c = &mut self.config;
        take_seq(rest, &mut c.members)?;
        take_seq(rest, &mut c.tickets)?;
        c.key = take(rest)?;
        c.max_time_skew = take(rest)?;
        c.max_future_skew = take(rest)?;
        c.wire_unit = take(rest)?;
        c.check_source = take(rest)?;
        self.me = take(rest)?;
        take_seq(rest, &mut self.peers)?;
        self.net = take(rest)?;
        self.wall_clock_secs = take(rest)?;
        self.seed = take(rest)?;
        self.check()
    }

    fn check(&self) -> Result<(), BlobError> {
        let members = self.config.members.len();
        if self.me as usize >= members || self.peers.len() != members {
            return Err(BlobError::Inconsistent);
        }
        Ok(())
    }

    /// Our own member address (as peers know us).
    pub fn own_endpoint(&self) -> Endpoint {
        self.peers[self.me as usize]
    }
}

/// The checked payload of a framed blob.
fn payload(region: &[u8]) -> Result<&[u8], BlobError> {
    if region.len() < FRAMING_LEN {
        return Err(BlobError::Truncated);
    }
    if region[0..4] != MAGIC {
        return Err(BlobError::NotProvisioned);
    }
    if region[4] != VERSION {
        return Err(BlobError::UnknownVersion(region[4]));
    }
    let n = u32::from_le_bytes([region[8], region[9], region[10], region[11]]) as usize;
    let end = n.checked_add(FRAMING_LEN).ok_or(BlobError::Truncated)?;
    if end > region.len() {
        return Err(BlobError::Truncated);
    }
    let stored = u32::from_le_bytes([
        region[12 + n],
        region[13 + n],
        region[14 + n],
        region[15 + n],
    ]);
    if crate::crc::hash(&region[..12 + n]) != stored {
        return Err(BlobError::Checksum);
    }
    Ok(&region[12..12 + n])
}

/// Decodes one value from the front of `rest`.
fn take<'a, T: Deserialize<'a>>(rest: &mut &'a [u8]) -> Result<T, BlobError> {
    let (v, r) = postcard::take_from_bytes(rest).map_err(|_| BlobError::Payload)?;
    *rest = r;
    Ok(v)
}

/// Decodes a sequence into `out`: postcard writes its length as a varint,
/// as it writes a `usize`, then the elements.
fn take_seq<'a, T: Deserialize<'a>, const N: usize>(
    rest: &mut &'a [u8],
    out: &mut Vec<T, N>,
) -> Result<(), BlobError> {
    let n: usize = take(rest)?;
    out.clear();
    for _ in 0..n {
        let v = take(rest)?;
        out.push(v).map_err(|_| BlobError::Payload)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::{Duration, Member, Role, SiteId, TicketConfig};

    fn sample<const T: usize>(tickets: usize) -> Provision<T> {
        let mut config = Config::new();
        let mut peers = Vec::new();
        for (i, role) in [Role::Site, Role::Site, Role::Arbitrator]
            .into_iter()
            .enumerate()
        {
            let ip = [127, 0, 0, 1 + i as u8];
            config
                .members
                .push(Member {
                    id: SiteId::from_ipv4(ip),
                    role,
                })
                .unwrap();
            peers.push(Endpoint { ip, port: 9929 }).unwrap();
        }
        for i in 0..tickets {
            let mut name = heapless::String::<16>::new();
            core::fmt::write(&mut name, format_args!("ticket-{i}")).unwrap();
            let t = TicketConfig::new(&name).unwrap().with_timing(
                Duration::from_secs(10),
                Duration::from_secs(1),
                3,
            );
            config.tickets.push(t).unwrap();
        }
        config.key = Some(Vec::from_slice(b"0123456789abcdef").unwrap());
        config.check_source = false;
        Provision {
            config,
            me: 2,
            peers,
            net: NetConfig {
                ip: [10, 0, 2, 15],
                prefix_len: 24,
                gateway: Some([10, 0, 2, 2]),
                port: 9929,
            },
            wall_clock_secs: 1_764_000_000,
            seed: 42,
        }
    }

    #[test]
    fn round_trip_and_capacity_conversion() {
        let p = sample::<64>(8);
        let mut buf = [0u8; 2048];
        let n = p.encode(&mut buf).unwrap();
        // A whole 8-ticket formation with a key fits in about 1 KiB.
        assert!(n < 1200, "{n}");
        let q = Provision::<64>::decode(&buf[..n]).unwrap();
        assert_eq!(q, p);
        // Decodes into a smaller build, with trailing erased flash after it.
        buf[n..].fill(0xFF);
        let small = Provision::<8>::decode(&buf).unwrap();
        assert_eq!(small.config.tickets.len(), 8);
        assert_eq!(small.config.tickets[7].name, p.config.tickets[7].name);
        assert_eq!(
            small.own_endpoint(),
            Endpoint {
                ip: [127, 0, 0, 3],
                port: 9929
            }
        );
        // Too many tickets for a 4-ticket build.
        assert_eq!(Provision::<4>::decode(&buf), Err(BlobError::Payload));
        // The appliance's capacities: 8 tickets, 5 members; 2 are too few.
        let five = Provision::<8, 5>::decode(&buf).unwrap();
        assert_eq!(five.config.members, p.config.members);
        assert_eq!(Provision::<8, 2>::decode(&buf), Err(BlobError::Payload));
    }

    /// The field-by-field decoder reads what serde's derived one reads.
    #[test]
    fn decode_into_agrees_with_the_derived_decoder() {
        for tickets in [0, 1, 8] {
            let mut p = sample::<8>(tickets);
            p.config.key = None;
            p.config.max_future_skew = Duration::from_secs(7);
            let mut buf = [0u8; 2048];
            let n = p.encode(&mut buf).unwrap();
            let derived: Provision<8> = postcard::from_bytes(&buf[12..n - 4]).unwrap();
            assert_eq!(derived, p);
            assert_eq!(Provision::<8>::decode(&buf[..n]).unwrap(), p);
            // A provision decoded into is overwritten whole.
            let mut q = sample::<8>(8);
            q.decode_into(&buf[..n]).unwrap();
            assert_eq!(q, p);
        }
    }

    #[test]
    fn damage_is_detected() {
        let p = sample::<8>(2);
        let mut buf = [0u8; 1024];
        let n = p.encode(&mut buf).unwrap();
        for i in 0..n {
            let mut b = buf;
            b[i] ^= 0x04;
            assert!(Provision::<8>::decode(&b[..n]).is_err(), "byte {i}");
        }
        assert_eq!(
            Provision::<8>::decode(&[0xFF; 64]),
            Err(BlobError::NotProvisioned)
        );
        assert_eq!(
            Provision::<8>::decode(&buf[..n - 1]),
            Err(BlobError::Truncated)
        );
        assert_eq!(Provision::<8>::decode(&buf[..8]), Err(BlobError::Truncated));
        let mut small = [0u8; 40];
        assert_eq!(p.encode(&mut small), Err(BlobError::BufferTooSmall));
    }

    #[test]
    fn inconsistent_blobs_are_refused() {
        let mut p = sample::<8>(1);
        p.me = 3;
        let mut buf = [0u8; 1024];
        assert_eq!(p.encode(&mut buf), Err(BlobError::Inconsistent));
        let mut p = sample::<8>(1);
        p.peers.pop();
        assert_eq!(p.encode(&mut buf), Err(BlobError::Inconsistent));
    }
}
