//! CRC-32 (IEEE 802.3, as zlib and `crc32fast` compute it) with a 16-entry
//! table: 64 bytes of flash instead of the 16 KiB slice-by-16 tables of
//! `crc32fast`, which dominated the firmware image. Records and blobs are a
//! few hundred bytes, so speed does not matter here.

/// Reflected polynomial 0x04C11DB7.
const POLY: u32 = 0xEDB8_8320;

/// One nibble at a time.
const TABLE: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// A running CRC-32.
#[derive(Debug, Clone, Copy)]
pub struct Hasher(u32);

impl Hasher {
    pub const fn new() -> Self {
        Hasher(!0)
    }

    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c ^= u32::from(b);
            c = (c >> 4) ^ TABLE[(c & 0xF) as usize];
            c = (c >> 4) ^ TABLE[(c & 0xF) as usize];
        }
        self.0 = c;
    }

    pub const fn finalize(self) -> u32 {
        !self.0
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

/// CRC-32 of `data`.
pub fn hash(data: &[u8]) -> u32 {
    let mut h = Hasher::new();
    h.update(data);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_crc32fast() {
        assert_eq!(hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(hash(b""), 0);
        let data: [u8; 300] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for n in [1, 4, 63, 64, 65, 300] {
            assert_eq!(hash(&data[..n]), crc32fast::hash(&data[..n]), "{n}");
        }
        let mut h = Hasher::new();
        h.update(&data[..10]);
        h.update(&data[10..]);
        assert_eq!(h.finalize(), crc32fast::hash(&data));
    }
}
