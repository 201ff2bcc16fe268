//! What the client prints, and its exit codes (booth-protocol.md §6.2, §6.3).
//!
//! Tables (list, peers, geostore values) go to stdout exactly as the daemon
//! sent them. Everything else is a log line on stderr with the prefix booth
//! 1.0 puts there (observed): `Nov 25 09:48:33 host booth: [32264]: info: …`,
//! i.e. `<%b %d %T> <hostname> <prog>: [<pid>]: <level>: <message>`.
//! Scripts match the message part; the texts below are booth's.

use std::io::Write;

use super::clock;

/// Success, including "ticket is not owned", a pending CIB commit without
/// `-C` and "Giving up on waiting …" (booth HEAD).
pub const EXIT_OK: i32 = 0;
/// Every error (booth HEAD; booth 1.0 exits 0 for some, §10.3 #24).
pub const EXIT_ERROR: i32 = 1;

/// Log levels with cluster-glue's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    const fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// The stderr logger of one client run.
#[derive(Debug, Clone)]
pub struct Log {
    prog: String,
    /// Number of `-D`: debug lines are shown when it is at least 1.
    debug: u8,
}

impl Log {
    pub fn new(prog: &str, debug: u8) -> Self {
        Log {
            prog: prog.to_owned(),
            debug,
        }
    }

    pub fn prog(&self) -> &str {
        &self.prog
    }

    /// The line as written, without the newline.
    pub fn line(&self, level: Level, msg: &str) -> String {
        format!(
            "{} {} {}: [{}]: {}: {}",
            clock::log_stamp(),
            hostname(),
            self.prog,
            std::process::id(),
            level.as_str(),
            msg
        )
    }

    fn write(&self, level: Level, msg: &str) {
        let mut err = std::io::stderr().lock();
        // Nothing sensible to do when stderr is gone.
        let _ = writeln!(err, "{}", self.line(level, msg));
    }

    pub fn error(&self, msg: &str) {
        self.write(Level::Error, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.write(Level::Warn, msg);
    }

    pub fn info(&self, msg: &str) {
        self.write(Level::Info, msg);
    }

    pub fn debug(&self, msg: impl FnOnce() -> String) {
        if self.debug > 0 {
            self.write(Level::Debug, &msg());
        }
    }
}

/// This host's name (the node name), as syslog-style lines show it.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it when the name fits (we leave the last byte 0 regardless).
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if r != 0 {
        return "localhost".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Writes daemon text (list, peers, geostore) to stdout unchanged.
/// A closed stdout (`booth list | head -1`) is not an error.
pub fn print_raw(text: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// booth's client messages.
pub mod msg {
    pub fn request_sent(op: &str) -> String {
        format!("{op} request sent, waiting for the result ...")
    }
    pub fn succeeded(op: &str) -> String {
        format!("{op} succeeded!")
    }
    pub fn failed(op: &str) -> String {
        format!("{op} failed!")
    }
    pub fn asynchronous(op: &str) -> String {
        format!(
            "{op} command sent, result will be returned asynchronously. \
             Please use \"booth list\" to see the outcome."
        )
    }
    pub const COMMIT_PENDING: &str = "grant succeeded (CIB commit pending)";
    pub const WAITING_FOR_COMMIT: &str = "waiting for the CIB commit ...";
    pub const NOT_OWNED: &str = "ticket is not owned";
    pub const OVERGRANT: &str = "You're granting a granted ticket. If you wanted to migrate a \
                                 ticket, use revoke first, then use grant.";
    pub const GIVING_UP: &str = "Giving up on waiting for the definite result. Please use \
                                 \"booth list\" later to see the outcome.";
    pub const ARBITRATOR_HERE: &str = "We're just an arbitrator, cannot grant/revoke tickets here.";
    pub fn arbitrator_there(addr: &str) -> String {
        format!("{addr} is just an arbitrator, cannot grant/revoke tickets there.")
    }
    pub const NO_ATTRS_HERE: &str = "We're just an arbitrator, no attributes here.";
    pub fn no_attrs_there(addr: &str) -> String {
        format!("{addr} is just an arbitrator, no attributes there.")
    }
    pub const AUTH: &str = "authentication error";
    pub fn no_ticket(t: &str) -> String {
        format!("ticket \"{t}\" does not exist")
    }
    pub fn handler_failed(t: &str) -> String {
        format!("before-acquire-handler for ticket \"{t}\" failed, grant denied")
    }
    pub fn prereq_failed(t: &str) -> String {
        format!("attr-prereq for ticket \"{t}\" failed, grant denied")
    }
    pub fn attr_not_set(a: &str) -> String {
        format!("attribute \"{a}\" not set")
    }
    /// `-s` names no configured member (booth 1.0's text; it exits 2, we 1).
    pub fn site_not_found(s: &str) -> String {
        format!("cannot find site \"{s}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_carry_the_cluster_glue_prefix() {
        let log = Log::new("booth", 0);
        let line = log.line(Level::Info, &msg::succeeded("grant"));
        let tail = format!(
            " {} booth: [{}]: info: grant succeeded!",
            hostname(),
            std::process::id()
        );
        assert!(line.ends_with(&tail), "{line}");
        // "Nov 25 09:48:33 "
        assert_eq!(line.as_bytes()[3], b' ', "{line}");
        assert_eq!(&line[9..10], ":", "{line}");
        assert!(log
            .line(Level::Error, msg::AUTH)
            .ends_with(" ERROR: authentication error"));
    }
}
