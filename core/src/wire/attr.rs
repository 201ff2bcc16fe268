//! The 256-byte attribute body of geostore requests (booth-protocol.md §2.4).
//! Only TCP clients send it; peers never do.

use super::ticket::{read_cstr, write_cstr, Name};
use super::{DecodeError, EncodeError, ATTR_BODY_LEN, NAME_LEN};

/// Size of the value field (127 bytes + NUL, `BOOTH_ATTRVAL_LEN`).
pub const VALUE_LEN: usize = 128;

/// Attribute name bytes, without the NUL (at most 63).
pub type AttrName = heapless::Vec<u8, 63>;
/// Attribute value bytes, without the NUL (at most 127).
pub type AttrValue = heapless::Vec<u8, 127>;

/// Byte offsets inside the body.
mod field {
    use super::{NAME_LEN, VALUE_LEN};
    use core::ops::Range;
    pub const TICKET: Range<usize> = 0..NAME_LEN;
    pub const ATTR: Range<usize> = NAME_LEN..2 * NAME_LEN;
    pub const VALUE: Range<usize> = 2 * NAME_LEN..2 * NAME_LEN + VALUE_LEN;
}

/// An attribute value for the wire: at most 127 bytes and no NUL
/// ([`EncodeError::ValueTooLong`]).
pub fn value_from(bytes: &[u8]) -> Result<AttrValue, EncodeError> {
    if bytes.contains(&0) {
        return Err(EncodeError::ValueTooLong);
    }
    AttrValue::from_slice(bytes).map_err(|_| EncodeError::ValueTooLong)
}

defmt_derive! {
/// `struct attr_msg`: ticket, attribute name, value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttrBody {
    pub ticket: Name,
    pub attr: AttrName,
    /// Empty for get, delete and list.
    pub value: AttrValue,
}
}

impl AttrBody {
    /// Reads a body from `buf` (which starts at message byte 48). Needs 256
    /// bytes; each of the three fields needs a NUL inside it.
    pub fn parse(buf: &[u8]) -> Result<AttrBody, DecodeError> {
        if buf.len() < ATTR_BODY_LEN {
            return Err(DecodeError::MissingBody);
        }
        Ok(AttrBody {
            ticket: read_cstr(buf.get(field::TICKET))?,
            attr: read_cstr(buf.get(field::ATTR))?,
            value: read_cstr(buf.get(field::VALUE))?,
        })
    }

    /// Writes the 256 body bytes into `buf` (which starts at the body).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), EncodeError> {
        if buf.len() < ATTR_BODY_LEN {
            return Err(EncodeError::BufferTooSmall);
        }
        write_cstr(
            buf.get_mut(field::TICKET),
            &self.ticket,
            EncodeError::NameTooLong,
        )?;
        write_cstr(
            buf.get_mut(field::ATTR),
            &self.attr,
            EncodeError::NameTooLong,
        )?;
        write_cstr(
            buf.get_mut(field::VALUE),
            &self.value,
            EncodeError::ValueTooLong,
        )?;
        Ok(())
    }
}
