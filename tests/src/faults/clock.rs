//! Clock faults on one member with libfaketime (Debian package `faketime`),
//! through a wrapper that the formation starts instead of `boothd`
//! (`BOOTHD=<wrapper>`): a member whose formation directory holds
//! `faketime-<ip>.env` runs under libfaketime, every other invocation is
//! passed through unchanged (keeping `argv[0]`, which picks daemon or client).
//!
//! What libfaketime 0.9.10 really does (measured here with
//! `clock_gettime` and `select`):
//! * `FAKETIME="+1h"` shifts `CLOCK_REALTIME` and also *replaces*
//!   `CLOCK_MONOTONIC`/`CLOCK_BOOTTIME` with the fake wall clock; changing
//!   the offset at run time would then make the monotonic clock jump,
//!   which no kernel does. With `FAKETIME_DONT_FAKE_MONOTONIC=1` only the
//!   wall clock moves: that is [`ClockFault::WallJumps`], a wall clock that
//!   steps (offsets read from a file that the test rewrites).
//! * `FAKETIME="+0 x1.5"` makes every clock of the process, the monotonic
//!   ones included, run 1.5 times as fast from the process's start, and
//!   scales `select`/`poll` timeouts to match; processes started through
//!   the `faketime` program share one start (`FAKETIME_SHARED`), so the
//!   daemon and the lease guard it starts read the same fast clock. That
//!   is [`ClockFault::Rate`]. `faketime` forks: the daemon is the child of
//!   the PID the formation knows ([`daemon_pid`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// libfaketime as Debian installs it.
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A clock fault on one member.
#[derive(Debug, Clone, PartialEq)]
pub enum ClockFault {
    /// The wall clock only, offset by what the spec file says (`+300`,
    /// `-300`, …), re-read every second.
    WallJumps,
    /// Every clock runs `rate` times as fast.
    Rate(f64),
}

const WRAPPER: &str = r#"#!/bin/bash
# booth-rs fault tests: runs boothd, under libfaketime for a daemon whose
# formation directory holds faketime-<ip>.env (see tests/src/faults/clock.rs).
real="__REAL__"
name=$(basename "$0")
ip=""; cfg=""; prev=""
for a in "$@"; do
    [ "$prev" = "-s" ] && ip=$a
    [ "$prev" = "-c" ] && cfg=$a
    prev=$a
done
if [ "$1" = daemon ] && [ -n "$ip" ] && [ -n "$cfg" ]; then
    envf="$(dirname "$cfg")/faketime-$ip.env"
    if [ -f "$envf" ]; then
        . "$envf"
        case "$MODE" in
        wall)
            export LD_PRELOAD="__LIB__" FAKETIME_DONT_FAKE_MONOTONIC=1 \
                FAKETIME_TIMESTAMP_FILE="$SPECFILE" FAKETIME_CACHE_DURATION=1
            exec -a "$name" "$real" "$@" ;;
        rate)
            exec faketime -f "$SPEC" "$real" "$@" ;;
        esac
    fi
fi
exec -a "$name" "$real" "$@"
"#;

/// Writes the wrapper for `real` into `dir`; returns its path.
pub fn write_wrapper(dir: &Path, real: &Path) -> std::io::Result<PathBuf> {
    // Named boothd: the daemon reports errors under its program name.
    let dir = dir.join("bin");
    fs::create_dir_all(&dir)?;
    let path = dir.join("boothd");
    let text = WRAPPER
        .replace("__REAL__", &real.display().to_string())
        .replace("__LIB__", LIBFAKETIME);
    fs::write(&path, text)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// Puts the member at `ip` of the formation in `dir` under `fault` from its
/// next start. For [`ClockFault::WallJumps`], returns the spec file.
pub fn arm(dir: &Path, ip: &str, fault: &ClockFault) -> std::io::Result<Option<PathBuf>> {
    let env = dir.join(format!("faketime-{ip}.env"));
    match fault {
        ClockFault::WallJumps => {
            let spec = dir.join(format!("faketime-{ip}.spec"));
            fs::write(&spec, "+0\n")?;
            fs::set_permissions(&spec, fs::Permissions::from_mode(0o644))?;
            fs::write(&env, format!("MODE=wall\nSPECFILE={}\n", spec.display()))?;
            Ok(Some(spec))
        }
        ClockFault::Rate(r) => {
            fs::write(&env, format!("MODE=rate\nSPEC='+0 x{r}'\n"))?;
            Ok(None)
        }
    }
}

/// The wall clock of a [`ClockFault::WallJumps`] member now runs `secs` off.
pub fn set_offset(spec: &Path, secs: i64) -> std::io::Result<()> {
    fs::write(spec, format!("{secs:+}\n"))
}

/// The daemon's PID: `pid` itself, or its child when `pid` is `faketime`.
pub fn daemon_pid(pid: u32) -> u32 {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "faketime" {
        let children =
            fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = children
            .split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
        {
            return c;
        }
    }
    pid
}

/// Whether libfaketime is installed.
pub fn available() -> bool {
    Path::new(LIBFAKETIME).is_file()
        && std::process::Command::new("faketime")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}
