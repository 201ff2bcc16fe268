//! The 76-byte ticket body that follows the header in every peer message and
//! in most client requests (booth-protocol.md §2.3).

use super::header::{get_u32, put_u32};
use super::{DecodeError, EncodeError, NAME_LEN, TICKET_BODY_LEN};

/// Ticket name bytes as on the wire, without the NUL (at most 63).
pub type Name = heapless::Vec<u8, 63>;

/// Byte offsets inside the body.
mod field {
    use super::NAME_LEN;
    pub const NAME: core::ops::Range<usize> = 0..NAME_LEN;
    pub const LEADER: usize = 64;
    pub const TERM: usize = 68;
    pub const VALID_FOR: usize = 72;
}

/// A name for the wire. Refuses more than 63 bytes, and NUL bytes, which
/// would end the name early on the wire ([`EncodeError::NameTooLong`]).
pub fn name_from(bytes: &[u8]) -> Result<Name, EncodeError> {
    if bytes.contains(&0) {
        return Err(EncodeError::NameTooLong);
    }
    Name::from_slice(bytes).map_err(|_| EncodeError::NameTooLong)
}

/// Reads a NUL-terminated string from a fixed field: the NUL must lie inside it.
pub(crate) fn read_cstr<const N: usize>(
    field: Option<&[u8]>,
) -> Result<heapless::Vec<u8, N>, DecodeError> {
    let field = field.ok_or(DecodeError::MissingBody)?;
    let nul = field
        .iter()
        .position(|&b| b == 0)
        .ok_or(DecodeError::NameNotTerminated)?;
    let text = field.get(..nul).ok_or(DecodeError::NameNotTerminated)?;
    heapless::Vec::from_slice(text).map_err(|_| DecodeError::NameNotTerminated)
}

/// Writes `text` NUL-padded into a fixed field, leaving room for one NUL.
pub(crate) fn write_cstr(
    field: Option<&mut [u8]>,
    text: &[u8],
    too_long: EncodeError,
) -> Result<(), EncodeError> {
    let field = field.ok_or(EncodeError::BufferTooSmall)?;
    if text.len() >= field.len() {
        return Err(too_long);
    }
    let (head, tail) = field.split_at_mut(text.len());
    head.copy_from_slice(text);
    tail.fill(0);
    Ok(())
}

defmt_derive! {
/// `struct ticket_msg`: which ticket, who leads it, in which term, for how long.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketBody {
    /// Ticket name (booth's `id`).
    pub name: Name,
    /// Leader's site ID; `NO_ONE` (0xFFFFFFFF) when nobody.
    pub leader: u32,
    /// Election term.
    pub term: u32,
    /// Lease remaining at send time, in the sender's wire unit (s or ms).
    pub valid_for: u32,
}
}

impl TicketBody {
    /// Reads a body from `buf` (which starts at the body, i.e. message byte 48).
    /// Needs 76 bytes ([`DecodeError::MissingBody`]); the name needs a NUL
    /// within its 64 bytes ([`DecodeError::NameNotTerminated`]).
    pub fn parse(buf: &[u8]) -> Result<TicketBody, DecodeError> {
        if buf.len() < TICKET_BODY_LEN {
            return Err(DecodeError::MissingBody);
        }
        let name = read_cstr(buf.get(field::NAME))?;
        let word = |off| get_u32(buf, off).ok_or(DecodeError::MissingBody);
        Ok(TicketBody {
            name,
            leader: word(field::LEADER)?,
            term: word(field::TERM)?,
            valid_for: word(field::VALID_FOR)?,
        })
    }

    /// Writes the 76 body bytes into `buf` (which starts at the body).
    /// A NUL inside `name` ends the name on the wire.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EncodeError> {
        if buf.len() < TICKET_BODY_LEN {
            return Err(EncodeError::BufferTooSmall);
        }
        write_cstr(
            buf.get_mut(field::NAME),
            &self.name,
            EncodeError::NameTooLong,
        )?;
        for (off, v) in [
            (field::LEADER, self.leader),
            (field::TERM, self.term),
            (field::VALID_FOR, self.valid_for),
        ] {
            put_u32(buf, off, v).ok_or(EncodeError::BufferTooSmall)?;
        }
        Ok(())
    }
}
