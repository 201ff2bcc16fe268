//! The shared HMAC key file (`authfile`, booth-protocol.md §2.11 "Key file").
//!
//! booth reads the first 64 bytes of the file, trims leading and trailing
//! whitespace when every byte is ASCII, and needs at least 8 bytes. We read the
//! key the same way, so both derive the same key from the same file, but refuse
//! what booth gets silently wrong:
//! * a key whose first byte is 0x00: booth then runs without authentication
//!   (§10.2 #12);
//! * a file longer than 64 bytes: booth silently drops the rest (§10.2 #13).
//!   An ASCII key followed only by whitespace (a final newline) is fine: booth
//!   and we end up with the same key.
//!
//! Like booth, a key file readable by group or others is refused.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use booth_core::config::{KEY_MAX, KEY_MIN};

use super::lexer::is_space;

/// A key as booth would use it, plus remarks that do not stop us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyFile {
    pub key: Vec<u8>,
    pub warnings: Vec<String>,
}

/// Bytes we read at most (anything longer is refused anyway).
const READ_MAX: u64 = 4096;

/// Reads and checks the key file. Errors are complete sentences naming the file.
pub(crate) fn read(path: &Path) -> Result<KeyFile, String> {
    let shown = path.display();
    let mut file = super::regular_file::open(path)
        .map_err(|e| format!("cannot open the key file {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat the key file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("the key file {shown} is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o044 != 0 {
        return Err(format!(
            "the key file {shown} has mode {mode:04o}: it must not be readable by group or \
             others (booth refuses it too); run `chmod 600 {shown}`"
        ));
    }
    let mut warnings = Vec::new();
    if mode & 0o022 != 0 {
        warnings.push(format!(
            "the key file {shown} has mode {mode:04o}: others may replace the key; \
             run `chmod 600 {shown}`"
        ));
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(READ_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the key file {shown}: {e}"))?;
    let key = key_from_bytes(&bytes).map_err(|e| format!("the key file {shown} {e}"))?;
    Ok(KeyFile { key, warnings })
}

/// booth's reading of a key file's contents (the error completes "the key file X …").
pub(crate) fn key_from_bytes(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let ascii = bytes.is_ascii();
    if bytes.len() > KEY_MAX {
        let tail_is_blank = bytes[KEY_MAX..].iter().all(|&b| is_space(b as char));
        if !(ascii && tail_is_blank) {
            let len = if bytes.len() as u64 > READ_MAX {
                format!("more than {READ_MAX}")
            } else {
                bytes.len().to_string()
            };
            return Err(format!(
                "is {len} bytes long: booth reads only the first {KEY_MAX} bytes and silently \
                 ignores the rest, so the key would be weaker than it looks; use a key of \
                 {KEY_MIN} to {KEY_MAX} bytes (booth-keygen writes {KEY_MAX} random bytes)"
            ));
        }
    }
    let mut key: &[u8] = if bytes.len() > KEY_MAX {
        &bytes[..KEY_MAX]
    } else {
        bytes
    };
    if ascii {
        while let [first, rest @ ..] = key {
            if !is_space(*first as char) {
                break;
            }
            key = rest;
        }
        while let [rest @ .., last] = key {
            if !is_space(*last as char) {
                break;
            }
            key = rest;
        }
    }
    if key.len() < KEY_MIN {
        let trimmed = if ascii && key.len() != bytes.len() {
            " after trimming whitespace"
        } else {
            ""
        };
        return Err(format!(
            "holds a key of {} bytes{trimmed}; booth needs at least {KEY_MIN} (and at most \
             {KEY_MAX})",
            key.len()
        ));
    }
    if key[0] == 0 {
        return Err(
            "holds a key whose first byte is 0x00: booth would treat it as \"no key\" and run \
             without authentication (its peers would neither sign nor check messages); \
             generate a new key"
                .to_owned(),
        );
    }
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_follows_booth() {
        assert_eq!(key_from_bytes(b"  secret-key\n").unwrap(), b"secret-key");
        // Binary keys are not trimmed, not even a trailing newline.
        let mut bin = vec![0xffu8; 10];
        bin.push(b'\n');
        assert_eq!(key_from_bytes(&bin).unwrap(), bin);
        // 64 ASCII characters and a newline: booth reads the 64, we agree.
        let mut k = vec![b'a'; 64];
        k.push(b'\n');
        assert_eq!(key_from_bytes(&k).unwrap(), vec![b'a'; 64]);
    }

    #[test]
    fn refusals() {
        assert!(key_from_bytes(b"short\n").unwrap_err().contains("5 bytes"));
        assert!(key_from_bytes(&[0u8; 64]).unwrap_err().contains("0x00"));
        assert!(key_from_bytes(&[1u8; 65]).unwrap_err().contains("65 bytes"));
        assert!(key_from_bytes(&[b'a'; 65]).is_err());
    }
}
