//! booth 1.x wire formats: fixed big-endian structs with an HMAC-SHA1 trailer.
pub mod fourcc;
pub use fourcc::{Command, Reason, ResultCode};
