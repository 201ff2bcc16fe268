//! booth 1.x's rules for a UDP datagram between members, written down from
//! booth-protocol.md §2 independently of booth-core's codec (so that the two
//! can be compared), booth's reading of a key file, and HMAC-SHA1 built by
//! hand (RFC 2104) on SHA-1.
//!
//! [`check`] lists every way a datagram breaks what a booth 1.x receiver
//! needs or what the field tables say a sender puts there.

use sha1::{Digest, Sha1};
use std::fmt;

pub const MAGIC: u32 = 0x5F1B_A08C;
pub const VERSION: u32 = 0x0001_0003;
pub const NO_ONE: u32 = 0xFFFF_FFFF;

/// Four-character code.
pub const fn cc(s: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*s)
}

pub const STAT: u32 = cc(b"Stat");
pub const MIDX: u32 = cc(b"MIdx");
pub const RVOT: u32 = cc(b"RVot");
pub const VTFR: u32 = cc(b"VtFr");
pub const HRTB: u32 = cc(b"HrtB");
pub const ACK: u32 = cc(b"Ack.");
pub const UPDE: u32 = cc(b"UpdE");
pub const REVK: u32 = cc(b"Revk");
pub const RJC: u32 = cc(b"RJC!");

pub const ADMN: u32 = cc(b"Admn");
pub const TLST: u32 = cc(b"TLst");
pub const RACQ: u32 = cc(b"Racq");
pub const LOCF: u32 = cc(b"LocF");
pub const SPDN: u32 = cc(b"Spdn");

pub const TODT: u32 = cc(b"TOdt");
pub const TVLD: u32 = cc(b"TVld");
pub const OUTD: u32 = cc(b"Outd");

/// The code as text ("HrtB"), or hex when it is not printable; "0" for 0.
pub fn code(v: u32) -> String {
    if v == 0 {
        return "0".to_owned();
    }
    let b = v.to_be_bytes();
    if b.iter().all(|c| c.is_ascii_graphic()) {
        String::from_utf8_lossy(&b).into_owned()
    } else {
        format!("{v:#010x}")
    }
}

/// booth's site ID: CRC-32 (IEEE) of the 4 address bytes, top bit cleared.
pub fn site_id(ip: [u8; 4]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in ip {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc & 0x7FFF_FFFF
}

/// The key booth 1.x derives from a key file's bytes: the first 64 bytes;
/// leading and trailing whitespace trimmed when every byte is ASCII; at
/// least 8 bytes. `None` when booth would run without authentication (no
/// usable key, or a first byte of 0, booth-protocol.md §2.11).
pub fn booth_key(file: &[u8]) -> Option<Vec<u8>> {
    let mut k = &file[..file.len().min(64)];
    if k.is_ascii() {
        while let [first, rest @ ..] = k {
            if first.is_ascii_whitespace() {
                k = rest;
            } else {
                break;
            }
        }
        while let [rest @ .., last] = k {
            if last.is_ascii_whitespace() {
                k = rest;
            } else {
                break;
            }
        }
    }
    (k.len() >= 8 && k[0] != 0).then(|| k.to_vec())
}

/// HMAC-SHA1 (RFC 2104), by hand.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha1::new()
        .chain_update(&ipad)
        .chain_update(data)
        .finalize();
    let outer = Sha1::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    let mut out = [0u8; 20];
    out.copy_from_slice(&outer);
    out
}

fn be(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The fields of a peer datagram at booth's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub opts: u32,
    pub secs: u32,
    pub usecs: u32,
    pub magic: u32,
    pub version: u32,
    pub from: u32,
    pub length: u32,
    pub cmd: u32,
    pub request: u32,
    pub options: u32,
    pub reason: u32,
    pub result: u32,
    pub name: Vec<u8>,
    pub leader: u32,
    pub term: u32,
    pub valid_for: u32,
    /// `hid`, MAC and the 4 bytes after it, when 28 bytes follow the body.
    pub trailer: Option<(u32, [u8; 20], [u8; 4])>,
}

impl Fields {
    /// The header and, if present, the body and trailer. Only the length is
    /// checked here.
    pub fn read(b: &[u8]) -> Result<Fields, String> {
        if b.len() < 48 {
            return Err(format!(
                "{} bytes: shorter than the 48-byte header",
                b.len()
            ));
        }
        let mut f = Fields {
            opts: be(b, 0),
            secs: be(b, 4),
            usecs: be(b, 8),
            magic: be(b, 12),
            version: be(b, 16),
            from: be(b, 20),
            length: be(b, 24),
            cmd: be(b, 28),
            request: be(b, 32),
            options: be(b, 36),
            reason: be(b, 40),
            result: be(b, 44),
            name: Vec::new(),
            leader: 0,
            term: 0,
            valid_for: 0,
            trailer: None,
        };
        if b.len() >= 124 {
            f.name = b[48..112].to_vec();
            f.leader = be(b, 112);
            f.term = be(b, 116);
            f.valid_for = be(b, 120);
        }
        if b.len() == 152 {
            let mut mac = [0u8; 20];
            mac.copy_from_slice(&b[128..148]);
            let mut pad = [0u8; 4];
            pad.copy_from_slice(&b[148..152]);
            f.trailer = Some((be(b, 124), mac, pad));
        }
        Ok(f)
    }

    /// The ticket name up to its NUL, if it has one within 64 bytes.
    pub fn ticket(&self) -> Option<String> {
        let end = self.name.iter().position(|&c| c == 0)?;
        Some(String::from_utf8_lossy(&self.name[..end]).into_owned())
    }

    /// "HrtB", "Ack.(HrtB)", "RVot[Admn]", "RJC!(RVot)=TVld", "VtFr[LocF]":
    /// command, the request it answers, its reason and its result.
    pub fn kind(&self) -> String {
        let mut s = code(self.cmd);
        if self.request != 0 {
            s += &format!("({})", code(self.request));
        }
        if self.reason != 0 {
            s += &format!("[{}]", code(self.reason));
        }
        if self.result != 0 {
            s += &format!("={}", code(self.result));
        }
        s
    }
}

/// What a receiver knows about the formation.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// Site IDs of every member.
    pub members: &'a [u32],
    pub tickets: &'a [&'a str],
    /// The key both ends use, as booth derives it; `None` without authfile.
    pub key: Option<&'a [u8]>,
    /// `expire` in wire units (whole seconds here).
    pub expire: u32,
    /// Wall-clock seconds at capture time, for the timestamp window.
    pub now: u64,
}

/// A rule a datagram broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(pub String);

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every rule `bytes` (one UDP payload from `src_id`) breaks.
pub fn check(bytes: &[u8], src_id: u32, r: &Rules) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut bad = |s: String| p.push(Problem(s));
    let f = match Fields::read(bytes) {
        Ok(f) => f,
        Err(e) => {
            bad(e);
            return p;
        }
    };
    // What booth's receiver checks (transport.c, ticket.c).
    if f.magic != MAGIC {
        bad(format!("magic {:#x}", f.magic));
    }
    if f.version != VERSION {
        bad(format!("version {:#x}", f.version));
    }
    if f.length as usize != bytes.len() {
        bad(format!("length {} but {} bytes", f.length, bytes.len()));
    }
    if bytes.len() > 1024 {
        bad("longer than booth's 1024-byte receive buffer".to_owned());
    }
    let expected_len = if r.key.is_some() { 152 } else { 124 };
    if bytes.len() != expected_len {
        bad(format!(
            "{} bytes, every peer message is {expected_len} here",
            bytes.len()
        ));
    }
    if ![STAT, MIDX, RVOT, VTFR, HRTB, ACK, UPDE, REVK, RJC].contains(&f.cmd) {
        bad(format!("command {} is not a peer command", code(f.cmd)));
    }
    if f.from != src_id {
        bad(format!(
            "from {:#x} but sent from the member with ID {src_id:#x}",
            f.from
        ));
    }
    match r.key {
        Some(key) => {
            if f.opts != 1 {
                bad(format!(
                    "opts {} with a key (must be 1 = BOOTH_OPT_AUTH)",
                    f.opts
                ));
            }
            match f.trailer {
                None => bad("no authentication trailer".to_owned()),
                Some((hid, mac, pad)) => {
                    if hid != 2 {
                        bad(format!("hid {hid}, booth's SHA-1 is 2"));
                    }
                    if pad != [0; 4] {
                        bad(format!("trailer padding {pad:02x?} not zero"));
                    }
                    if hmac_sha1(key, &bytes[..bytes.len() - 28]) != mac {
                        bad("HMAC-SHA1 does not verify with booth's key".to_owned());
                    }
                }
            }
            let skew = (r.now as i64 - f.secs as i64).abs();
            if skew > 600 {
                bad(format!(
                    "secs {} is {skew} s from now (maxtimeskew 600)",
                    f.secs
                ));
            }
            if f.usecs >= 1_000_000 {
                bad(format!("usecs {}", f.usecs));
            }
        }
        None => {
            if f.opts != 0 {
                bad(format!("opts {} without a key", f.opts));
            }
        }
    }
    if bytes.len() < 124 {
        return p;
    }
    // The body.
    match f.ticket() {
        None => bad("ticket name without NUL in 64 bytes".to_owned()),
        Some(t) if !r.tickets.contains(&t.as_str()) => bad(format!("unknown ticket {t:?}")),
        Some(_) => {}
    }
    if f.leader == 0 {
        bad("leader 0 (booth drops it as an unknown leader)".to_owned());
    } else if f.leader != NO_ONE && !r.members.contains(&f.leader) {
        bad(format!("leader {:#x} is not a member", f.leader));
    }
    // booth sends 0 here between peers and reads the word only in client
    // requests; booth-rs marks its own peer messages ("br" in the high half,
    // the ms that `term_valid_for` truncated in the low half, issue 10), and
    // this suite runs every mixed formation with the mark to show booth 1.x
    // ignores it. Anything else is a bug.
    let marked = f.options & 0xFFFF_0000 == 0x6272_0000 && f.options & 0xFFFF < 1000;
    if f.options != 0 && !marked {
        bad(format!("options {:#x} between peers", f.options));
    }
    // What the field tables say senders put there (§2.5, §2.6, §2.7, §2.12).
    let election_reasons = [ADMN, TLST, RACQ, SPDN];
    let (ok, rule) = match f.cmd {
        STAT | HRTB | UPDE => (f.request == 0 && f.reason == 0, "request and reason 0"),
        RVOT => (
            f.request == 0
                && election_reasons.contains(&f.reason)
                && f.leader == f.from
                && f.valid_for == 0,
            "an election reason, request 0, the candidate as leader, valid_for 0",
        ),
        REVK => (
            f.request == 0 && [ADMN, 0].contains(&f.reason) && f.leader == NO_ONE,
            "Admn (0 when re-sent), request 0, leader NO_ONE",
        ),
        VTFR if f.request == 0 => (
            [LOCF, 0].contains(&f.reason) && f.leader == NO_ONE,
            "a step-down carries LocF (0 when re-sent) and leader NO_ONE",
        ),
        VTFR => (
            f.request == RVOT && f.reason == 0,
            "a vote answers RVot, reason 0",
        ),
        ACK => (
            [HRTB, UPDE, REVK].contains(&f.request) && f.reason == 0,
            "an ack answers HrtB, UpdE or Revk, reason 0",
        ),
        MIDX => (
            [STAT, 0].contains(&f.request) && f.reason == 0,
            "answers Stat (or is unsolicited), reason 0",
        ),
        RJC => (
            f.request != 0 && f.reason == 0,
            "a reject names the rejected request, reason 0",
        ),
        _ => (true, ""),
    };
    if !ok {
        bad(format!("{}: {rule}", f.kind()));
    }
    match f.cmd {
        RJC => {
            if ![TODT, TVLD, OUTD].contains(&f.result) {
                bad(format!("{}: result must be TOdt, TVld or Outd", f.kind()));
            }
        }
        _ => {
            if f.result != 0 {
                bad(format!("{}: result must be 0", f.kind()));
            }
        }
    }
    if matches!(f.cmd, HRTB | UPDE) {
        if f.leader != f.from {
            bad(format!("{}: the sender must be the leader", f.kind()));
        }
        if f.valid_for > r.expire {
            bad(format!(
                "{}: valid_for {} longer than expire {}",
                f.kind(),
                f.valid_for,
                r.expire
            ));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_ids_match_booths() {
        // booth-protocol.md §2.9, observed on booth 1.0-283.
        assert_eq!(site_id([127, 0, 0, 2]), 0x7C16_0EFA);
        assert_eq!(site_id([127, 0, 0, 3]), 0x0B11_3E6C);
        assert_eq!(site_id([127, 0, 0, 4]), 0x1575_ABCF);
    }

    #[test]
    fn keys_as_booth_reads_them() {
        assert_eq!(
            booth_key(b"  0123456789abcdef\n").as_deref(),
            Some(&b"0123456789abcdef"[..])
        );
        let mut bin = [0xA5u8; 64];
        bin[63] = b'\n';
        assert_eq!(booth_key(&bin).as_deref(), Some(&bin[..]));
        bin[0] = 0;
        assert_eq!(booth_key(&bin), None);
        assert_eq!(booth_key(b"short"), None);
    }

    #[test]
    fn test_vector_of_booth_protocol_2_12_verifies() {
        let hex = "00000001 6b069629 000e750e 5f1ba08c 00010003 7fc58b3d 00000098 48727442 \
                   00000000 00000000 00000000 00000000";
        let mut b: Vec<u8> = hex
            .split_whitespace()
            .flat_map(|w| u32::from_str_radix(w, 16).unwrap().to_be_bytes())
            .collect();
        let mut name = [0u8; 64];
        name[..2].copy_from_slice(b"tA");
        b.extend_from_slice(&name);
        for w in [0x7fc58b3du32, 0, 0x13, 2] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        for w in [
            "308b15ce", "624f0a96", "15a11c2c", "a5e0f958", "b4473aa2", "00000000",
        ] {
            b.extend_from_slice(&u32::from_str_radix(w, 16).unwrap().to_be_bytes());
        }
        assert_eq!(b.len(), 152);
        let ids = [0x7fc58b3d, 1];
        let rules = Rules {
            members: &ids,
            tickets: &["tA"],
            key: Some(b"0123456789abcdef"),
            expire: 20,
            now: 0x6b069629,
        };
        assert_eq!(check(&b, 0x7fc58b3d, &rules), vec![]);
        b[130] ^= 1;
        assert!(!check(&b, 0x7fc58b3d, &rules).is_empty());
    }
}
