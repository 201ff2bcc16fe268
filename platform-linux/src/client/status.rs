//! `booth status`: the daemon module checks the lock file, PID and port and
//! prints booth's `key=value` line; with `--json` we capture that line and
//! print it as JSON (booth-protocol.md §6.2, §6.3).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::daemon::{self, DaemonOptions};

use super::json;
use super::output::{print_raw, EXIT_ERROR};

/// Runs the status check; returns its exit code (0 running, 7 not running,
/// 1 configuration error, 4 lock file unreadable).
pub fn run(opts: &DaemonOptions, as_json: bool) -> i32 {
    if !as_json {
        return daemon::status(opts);
    }
    let (code, text) = match capture_stdout(|| daemon::status(opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("status: cannot capture the status output: {e}");
            return EXIT_ERROR;
        }
    };
    let mut out = json::status(&String::from_utf8_lossy(&text), code).to_string();
    out.push('\n');
    if print_raw(out.as_bytes()).is_err() {
        return EXIT_ERROR;
    }
    code
}

/// Runs `f` with file descriptor 1 pointing at an anonymous file and
/// returns what was written there. (The daemon's status check prints
/// booth's line itself; this keeps its output byte-identical for scripts
/// and still gives `--json` the same facts.)
fn capture_stdout<T>(f: impl FnOnce() -> T) -> std::io::Result<(T, Vec<u8>)> {
    // SAFETY: the name is a valid NUL-terminated string; the result is checked.
    let fd = unsafe { libc::memfd_create(c"booth-status".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor we own.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    std::io::stdout().flush()?;
    // SAFETY: dup of a valid descriptor; the result is checked.
    let saved = unsafe { libc::dup(1) };
    if saved < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `saved` is a new descriptor we own.
    let saved = unsafe { OwnedFd::from_raw_fd(saved) };
    // SAFETY: both descriptors are open.
    if unsafe { libc::dup2(file.as_raw_fd(), 1) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let value = f();
    let flushed = std::io::stdout().flush();
    // SAFETY: both descriptors are open; this restores the real stdout.
    let restored = unsafe { libc::dup2(saved.as_raw_fd(), 1) };
    if restored < 0 {
        return Err(std::io::Error::last_os_error());
    }
    flushed?;
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut text)?;
    Ok((value, text))
}
