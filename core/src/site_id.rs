//! Member identities: booth's CRC-32 of the binary address, top bit cleared.

use serde::{Deserialize, Serialize};

defmt_derive! {
/// A member's 32-bit ID as it travels in `from` and `leader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SiteId(pub u32);
}

/// `leader` value meaning "explicitly nobody".
pub const NO_ONE: u32 = 0xFFFF_FFFF;

impl SiteId {
    /// ID of an IPv4 member: CRC-32 (IEEE) over the 4 address bytes, `& 0x7FFF_FFFF`.
    pub fn from_ipv4(octets: [u8; 4]) -> SiteId {
        SiteId(crc32fast::hash(&octets) & 0x7FFF_FFFF)
    }

    /// ID of an IPv6 member: CRC-32 over the 16 address bytes (a v4-mapped
    /// address gives a different ID than the plain IPv4 one, as in booth).
    pub fn from_ipv6(octets: [u8; 16]) -> SiteId {
        SiteId(crc32fast::hash(&octets) & 0x7FFF_FFFF)
    }

    /// The ID as the CIB `owner` attribute stores it (signed decimal).
    pub const fn as_owner(self) -> i32 {
        self.0 as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // booth-protocol.md §2.9, observed on booth 1.0-283 and computed.
    #[test]
    fn ids_match_booth() {
        let cases: [([u8; 4], u32); 8] = [
            ([127, 0, 0, 2], 0x7C16_0EFA),
            ([127, 0, 0, 3], 0x0B11_3E6C),
            ([127, 0, 0, 4], 0x1575_ABCF),
            ([127, 0, 0, 21], 0x7FC5_8B3D),
            ([127, 0, 0, 22], 0x66CC_DA87),
            ([127, 0, 0, 23], 0x11CB_EA11),
            ([127, 0, 0, 31], 0x1F10_6223),
            ([192, 168, 201, 100], 0x5085_F484),
        ];
        for (addr, id) in cases {
            assert_eq!(SiteId::from_ipv4(addr), SiteId(id), "{addr:?}");
        }
        let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 202, 100];
        assert_eq!(SiteId::from_ipv6(mapped), SiteId(0x18F7_5F4E));
        assert_eq!(SiteId(2081820410).as_owner(), 2081820410);
    }
}
