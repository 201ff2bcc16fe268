//! Opening a configuration or key file without ever blocking: a FIFO (or a
//! device) named as the config or authfile used to hang the daemon and the
//! client in `open(2)` until a writer appeared.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for reading, refusing anything but a regular file.
/// `O_NONBLOCK` makes opening a FIFO return at once (regular files ignore
/// it); the type check then refuses it before anything is read.
pub(crate) fn open(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("booth-rs-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("booth.conf");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let e = open(&fifo).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(open(&dir).is_err(), "a directory is refused");
        std::fs::write(dir.join("ok"), "x").unwrap();
        assert!(open(&dir.join("ok")).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
