//! The 48-byte header every booth message starts with (booth-protocol.md §2.2).

use super::{
    Command, DecodeError, EncodeError, Reason, ResultCode, HEADER_LEN, MAGIC, OPT_AUTH, VERSION,
};

/// Byte offsets of the header words.
mod field {
    pub const OPTS: usize = 0;
    pub const SECS: usize = 4;
    pub const USECS: usize = 8;
    pub const MAGIC: usize = 12;
    pub const VERSION: usize = 16;
    pub const FROM: usize = 20;
    pub const LENGTH: usize = 24;
    pub const CMD: usize = 28;
    pub const REQUEST: usize = 32;
    pub const OPTIONS: usize = 36;
    pub const REASON: usize = 40;
    pub const RESULT: usize = 44;
}

/// booth-rs's mark in the header `options` word of peer messages: the high
/// half reads "br"; the low half carries the part of the lease remainder
/// that `term_valid_for` truncated (milliseconds below one wire unit).
/// booth 1.x reads `options` only in client requests and sends 0 between
/// peers; the interop suite runs every mixed formation with the mark set
/// (docs/compatibility.md).
pub const PEER_MARK: u32 = 0x6272_0000;
/// The half of `options` that must equal [`PEER_MARK`].
pub const PEER_MARK_MASK: u32 = 0xFFFF_0000;

/// The sub-unit milliseconds of a booth-rs peer's `options`, or `None`
/// when the sender did not mark it (booth 1.x, or an older booth-rs).
pub fn peer_mark(options: u32, unit_ms: u64) -> Option<u16> {
    let sub = (options & !PEER_MARK_MASK) as u16;
    (options & PEER_MARK_MASK == PEER_MARK && u64::from(sub) < unit_ms).then_some(sub)
}

/// Big-endian word at `off`, `None` past the end (never panics).
pub(crate) fn get_u32(buf: &[u8], off: usize) -> Option<u32> {
    let bytes = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Writes a big-endian word at `off`, `None` past the end (never panics).
pub(crate) fn put_u32(buf: &mut [u8], off: usize, v: u32) -> Option<()> {
    let bytes = buf.get_mut(off..off.checked_add(4)?)?;
    bytes.copy_from_slice(&v.to_be_bytes());
    Some(())
}

defmt_derive! {
/// The header as raw 32-bit words; `magic` and `version` are implied.
///
/// Fields stay raw so a receiver can log or echo values it does not know;
/// [`Header::command`] and friends decode them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Option bits; [`OPT_AUTH`] when the sender signs.
    pub opts: u32,
    /// Wall-clock seconds at send time (0 without auth).
    pub secs: u32,
    /// Microseconds; booth takes them from its *monotonic* clock (0 without auth).
    pub usecs: u32,
    /// Sender's site ID.
    pub from: u32,
    /// Total message size including any trailer and text.
    pub length: u32,
    /// Command four-character code.
    pub cmd: u32,
    /// In replies, the command answered; else 0.
    pub request: u32,
    /// Client option bits (`-F`, `-w`, `-C`); 0 between peers.
    pub options: u32,
    /// Reason code.
    pub reason: u32,
    /// Result code; 0 = success.
    pub result: u32,
}
}

impl Header {
    /// Reads a header, checking size, magic and version before anything else.
    /// Does not check `length`: that depends on the transport.
    pub fn parse(buf: &[u8]) -> Result<Header, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::TooShort);
        }
        let word = |off| get_u32(buf, off).ok_or(DecodeError::TooShort);
        let magic = word(field::MAGIC)?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        let version = word(field::VERSION)?;
        if version != VERSION {
            return Err(DecodeError::BadVersion(version));
        }
        Ok(Header {
            opts: word(field::OPTS)?,
            secs: word(field::SECS)?,
            usecs: word(field::USECS)?,
            from: word(field::FROM)?,
            length: word(field::LENGTH)?,
            cmd: word(field::CMD)?,
            request: word(field::REQUEST)?,
            options: word(field::OPTIONS)?,
            reason: word(field::REASON)?,
            result: word(field::RESULT)?,
        })
    }

    /// Writes the 48 header bytes, magic and version included.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EncodeError> {
        if buf.len() < HEADER_LEN {
            return Err(EncodeError::BufferTooSmall);
        }
        let words = [
            (field::OPTS, self.opts),
            (field::SECS, self.secs),
            (field::USECS, self.usecs),
            (field::MAGIC, MAGIC),
            (field::VERSION, VERSION),
            (field::FROM, self.from),
            (field::LENGTH, self.length),
            (field::CMD, self.cmd),
            (field::REQUEST, self.request),
            (field::OPTIONS, self.options),
            (field::REASON, self.reason),
            (field::RESULT, self.result),
        ];
        for (off, v) in words {
            put_u32(buf, off, v).ok_or(EncodeError::BufferTooSmall)?;
        }
        Ok(())
    }

    /// `cmd` as a known command.
    pub const fn command(&self) -> Option<Command> {
        Command::from_u32(self.cmd)
    }

    /// `request` as a known command (`None` also for 0).
    pub const fn request_command(&self) -> Option<Command> {
        Command::from_u32(self.request)
    }

    /// `reason` as a known reason code.
    pub const fn reason_code(&self) -> Option<Reason> {
        Reason::from_u32(self.reason)
    }

    /// `result` as a known result code.
    pub const fn result_code(&self) -> Option<ResultCode> {
        ResultCode::from_u32(self.result)
    }

    /// The sender claims to have signed the message.
    pub const fn has_auth(&self) -> bool {
        self.opts & OPT_AUTH != 0
    }
}
