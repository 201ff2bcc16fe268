//! The 28-byte authentication trailer and HMAC-SHA1 (booth-protocol.md §2.11).
//!
//! The MAC covers `[0, length - 28)`: header (with the final `length`) and
//! body, or only the header in text replies. We accept only `hid` 2 and
//! compare in constant time (§10.2 #16).

use super::header::{get_u32, put_u32};
use super::{DecodeError, EncodeError, HASH_ID_SHA1, MAC_LEN, TRAILER_LEN};
use crate::time::WallTime;
use hmac::{Hmac, KeyInit, Mac};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// SHA-1 block size: HMAC keys are padded or hashed to this.
const BLOCK_LEN: usize = 64;

/// Byte offsets inside the trailer.
mod field {
    use super::{MAC_LEN, TRAILER_LEN};
    use core::ops::Range;
    pub const HID: usize = 0;
    pub const MAC: Range<usize> = 4..4 + MAC_LEN;
    pub const PAD: Range<usize> = 4 + MAC_LEN..TRAILER_LEN;
}

defmt_derive! {
/// `struct hmac`: hash id and MAC; the 4 padding bytes are not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub hid: u32,
    pub mac: [u8; MAC_LEN],
}
}

impl Trailer {
    /// Reads a trailer; fewer than 28 bytes is [`DecodeError::MissingAuth`].
    /// The padding is checked by [`verify`].
    pub fn parse(buf: &[u8]) -> Result<Trailer, DecodeError> {
        if buf.len() < TRAILER_LEN {
            return Err(DecodeError::MissingAuth);
        }
        let hid = get_u32(buf, field::HID).ok_or(DecodeError::MissingAuth)?;
        let mac = buf
            .get(field::MAC)
            .and_then(|m| m.try_into().ok())
            .ok_or(DecodeError::MissingAuth)?;
        Ok(Trailer { hid, mac })
    }

    /// Writes the 28 trailer bytes: `hid`, MAC, 4 zero bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EncodeError> {
        if buf.len() < TRAILER_LEN {
            return Err(EncodeError::BufferTooSmall);
        }
        put_u32(buf, field::HID, self.hid).ok_or(EncodeError::BufferTooSmall)?;
        buf.get_mut(field::MAC)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(&self.mac);
        buf.get_mut(field::PAD)
            .ok_or(EncodeError::BufferTooSmall)?
            .fill(0);
        Ok(())
    }
}

/// HMAC-SHA1(key, data).
pub fn mac(key: &[u8], data: &[u8]) -> [u8; MAC_LEN] {
    // RFC 2104 key preparation done here (zero-pad, or hash a long key) so
    // that building the MAC has no error path.
    let mut block = [0u8; BLOCK_LEN];
    if key.len() <= BLOCK_LEN {
        block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
    } else {
        let digest = Sha1::digest(key);
        block
            .iter_mut()
            .zip(digest.iter())
            .for_each(|(b, k)| *b = *k);
    }
    let mut m = <HmacSha1 as KeyInit>::new(&block.into());
    m.update(data);
    let tag = m.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.iter_mut().zip(tag.iter()).for_each(|(o, t)| *o = *t);
    out
}

/// Signs `signed` and writes the trailer into `trailer` (28 bytes).
/// Returns the MAC.
pub fn sign(key: &[u8], signed: &[u8], trailer: &mut [u8]) -> Result<[u8; MAC_LEN], EncodeError> {
    let t = Trailer {
        hid: HASH_ID_SHA1,
        mac: mac(key, signed),
    };
    t.emit(trailer)?;
    Ok(t.mac)
}

/// Checks the trailer in `trailer` against `signed`: `hid` must be 2, the
/// padding zero and the MAC equal (compared in constant time). Returns the
/// MAC (for the replay cache).
pub fn verify(key: &[u8], signed: &[u8], trailer: &[u8]) -> Result<[u8; MAC_LEN], DecodeError> {
    let t = Trailer::parse(trailer)?;
    if t.hid != HASH_ID_SHA1 {
        return Err(DecodeError::BadHashId(t.hid));
    }
    // booth senders zero the padding; unsigned bytes that may vary would
    // make a signed message malleable.
    if trailer.get(field::PAD) != Some(&[0u8; 4][..]) {
        return Err(DecodeError::BadMac);
    }
    let expected = mac(key, signed);
    if bool::from(expected.as_slice().ct_eq(t.mac.as_slice())) {
        Ok(t.mac)
    } else {
        Err(DecodeError::BadMac)
    }
}

/// Send-side timestamps for the header: wall-clock seconds and microseconds,
/// strictly increasing per sender so booth receivers take their fast path
/// and log no warnings (booth-protocol.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamper {
    last: (u32, u32),
}

impl Stamper {
    pub const fn new() -> Self {
        Stamper { last: (0, 0) }
    }

    /// `(secs, usecs)` for a message sent at `now`; one microsecond after the
    /// previous stamp if the clock has not moved on (or stepped back).
    pub fn stamp(&mut self, now: WallTime) -> (u32, u32) {
        let secs = u32::try_from(now.secs()).unwrap_or(u32::MAX);
        let mut next = (secs, now.subsec_micros());
        if next <= self.last {
            let (s, us) = self.last;
            next = if us >= 999_999 {
                (s.saturating_add(1), 0)
            } else {
                (s, us + 1)
            };
        }
        self.last = next;
        next
    }
}
