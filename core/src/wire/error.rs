//! Why a message was refused, or could not be built.

use core::fmt;

defmt_derive! {
/// Why a received message was refused. One variant per check, so counters
/// and logs can tell a misconfigured peer from an attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than 48 bytes: not even a header.
    TooShort,
    /// `magic` is not 0x5F1BA08C.
    BadMagic(u32),
    /// `version` is not 0x00010003 (e.g. a v0.1 Paxos booth).
    BadVersion(u32),
    /// The header's `length` disagrees with the bytes received.
    LengthMismatch { header: u32, actual: u32 },
    /// `length` above 1024 (`MAX_MSG_LEN`).
    TooLong,
    /// `cmd` is not one this message kind may carry.
    UnknownCommand(u32),
    /// `length` leaves no room for the body the command needs.
    MissingBody,
    /// A name or value field has no NUL within its fixed size.
    NameNotTerminated,
    /// We have a key but the message is not signed (no `OPT_AUTH` or no trailer).
    MissingAuth,
    /// Trailer `hid` is not 2 (SHA-1); CVE-2024-3049.
    BadHashId(u32),
    /// HMAC does not match.
    BadMac,
    /// Timestamp older than the accepted skew.
    Stale,
    /// Timestamp too far in the future.
    FromFuture,
    /// Exactly this signed message was already accepted.
    Replayed,
}
}

impl DecodeError {
    /// Short stable name, usable as a counter label.
    pub const fn as_str(&self) -> &'static str {
        match self {
            DecodeError::TooShort => "too_short",
            DecodeError::BadMagic(_) => "bad_magic",
            DecodeError::BadVersion(_) => "bad_version",
            DecodeError::LengthMismatch { .. } => "length_mismatch",
            DecodeError::TooLong => "too_long",
            DecodeError::UnknownCommand(_) => "unknown_command",
            DecodeError::MissingBody => "missing_body",
            DecodeError::NameNotTerminated => "name_not_terminated",
            DecodeError::MissingAuth => "missing_auth",
            DecodeError::BadHashId(_) => "bad_hash_id",
            DecodeError::BadMac => "bad_mac",
            DecodeError::Stale => "stale",
            DecodeError::FromFuture => "from_future",
            DecodeError::Replayed => "replayed",
        }
    }

    /// The message was well formed but failed authentication or the
    /// timestamp check (booth's `authfail`; a TCP client gets `RLT_AUTH`).
    pub const fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            DecodeError::MissingAuth
                | DecodeError::BadHashId(_)
                | DecodeError::BadMac
                | DecodeError::Stale
                | DecodeError::FromFuture
                | DecodeError::Replayed
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::TooShort => f.write_str("shorter than a header"),
            DecodeError::BadMagic(m) => write!(f, "bad magic {m:#010x}"),
            DecodeError::BadVersion(v) => write!(f, "unsupported version {v:#010x}"),
            DecodeError::LengthMismatch { header, actual } => {
                write!(f, "length field {header} but {actual} bytes")
            }
            DecodeError::TooLong => f.write_str("longer than 1024 bytes"),
            DecodeError::UnknownCommand(c) => write!(f, "unknown command {c:#010x}"),
            DecodeError::MissingBody => f.write_str("body missing"),
            DecodeError::NameNotTerminated => f.write_str("name not NUL-terminated"),
            DecodeError::MissingAuth => f.write_str("not authenticated"),
            DecodeError::BadHashId(h) => write!(f, "unsupported hash id {h}"),
            DecodeError::BadMac => f.write_str("bad MAC"),
            DecodeError::Stale => f.write_str("timestamp too old"),
            DecodeError::FromFuture => f.write_str("timestamp in the future"),
            DecodeError::Replayed => f.write_str("replayed message"),
        }
    }
}

impl core::error::Error for DecodeError {}

defmt_derive! {
/// Why a message could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer cannot hold the message.
    BufferTooSmall,
    /// A name does not fit its 64-byte field with a NUL.
    NameTooLong,
    /// A value (attribute value, text payload) does not fit.
    ValueTooLong,
}
}

impl EncodeError {
    /// Short stable name, usable as a counter label.
    pub const fn as_str(&self) -> &'static str {
        match self {
            EncodeError::BufferTooSmall => "buffer_too_small",
            EncodeError::NameTooLong => "name_too_long",
            EncodeError::ValueTooLong => "value_too_long",
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::BufferTooSmall => "output buffer too small",
            EncodeError::NameTooLong => "name longer than 63 bytes",
            EncodeError::ValueTooLong => "value too long",
        })
    }
}

impl core::error::Error for EncodeError {}
