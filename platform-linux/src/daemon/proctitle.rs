//! The daemon's process title, as booth 1.x sets it:
//! `boothd <config path> <site|arbitrator> for [<addr>]:<port>`.
//!
//! Pacemaker's `booth-site` agent decides whether booth runs with
//! `ps -o pid,cmd -e | grep -w "[b]oothd.*$config"`, and admins' scripts do
//! the same, so the title is an interface: it must name the full config path
//! (the agent may be given a path or a bare name) and the lease guard must not
//! look like it (it is started as `booth-lease-guard`, see `guard_link.rs`).
//!
//! Linux shows `/proc/PID/cmdline` from the memory that held argv at exec, so
//! the title is written there. argv alone is often too short (`boothd daemon
//! -S -c booth`), so, like setproctitle(3), the environment strings that
//! follow it are moved to the heap first and their space is used as well.

use std::io;

/// `boothd /etc/booth/booth.conf site for [192.0.2.1]:9929`.
pub fn booth_title(config: &str, role: &str, addr: &str, port: u16) -> String {
    format!("boothd {config} {role} for [{addr}]:{port}")
}

/// Start and end of the argv and environment strings, from /proc/self/stat
/// (fields 48 to 51).
fn arg_env_area() -> io::Result<(usize, usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may contain blanks; fields after it do not.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("unexpected /proc/self/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3.
    let field = |n: usize| -> io::Result<usize> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no field {n} in /proc/self/stat")))
    };
    let (arg_start, arg_end, env_end) = (field(48)?, field(49)?, field(51)?);
    if arg_start == 0 || arg_end <= arg_start || env_end < arg_end {
        return Err(io::Error::other("no argv area in /proc/self/stat"));
    }
    Ok((arg_start, arg_end, env_end))
}

/// Sets the title seen in `ps` and `/proc/PID/cmdline`. Call it once, early,
/// while the process has a single thread: it rewrites the environment.
/// A title longer than argv and the environment together is cut.
pub fn set(title: &str) -> io::Result<()> {
    let (start, arg_end, env_end) = arg_env_area()?;
    // Copy every variable to the heap so that nothing points into the area
    // any more (glibc's setenv allocates; clearenv leaves the old strings).
    let vars: Vec<_> = std::env::vars_os().collect();
    // SAFETY: single-threaded at this point (documented precondition), so
    // nothing reads environ while it is cleared and rebuilt.
    unsafe { libc::clearenv() };
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let room = env_end - start;
    let bytes = title.as_bytes();
    let n = bytes.len().min(room.saturating_sub(1));
    // SAFETY: [start, env_end) is this process's own argv and environment
    // memory (from the kernel, mapped read-write on the stack at exec); after
    // the copy above only std's saved argv points into it, and argv is not
    // read again.
    unsafe {
        let p = start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, room - n);
        // With a NUL in argv's last byte Linux shows the whole argv area,
        // NULs and all (`ps` would show trailing blanks); a non-NUL byte
        // there tells it the title was rewritten (setproctitle) and makes it
        // stop at the title's own NUL. A title that ends just before that
        // byte is shown whole either way.
        let last = arg_end - start - 1;
        if n < last {
            *p.add(last) = b' ';
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_like_booths() {
        assert_eq!(
            booth_title("/etc/booth/booth.conf", "site", "192.0.2.1", 9929),
            "boothd /etc/booth/booth.conf site for [192.0.2.1]:9929"
        );
    }
}
