//! The local channel between a site's daemon and its lease guard
//! ([`super::guard`]): a `SOCK_SEQPACKET` unix socket, one message per
//! record, each record a version byte followed by a postcard-encoded
//! [`ToGuard`] or [`FromGuard`]. Times are `CLOCK_BOOTTIME` milliseconds
//! (both ends read the same clock, [`super::clock::mono`]).
//!
//! This is our own format (not booth's); a record with another version byte
//! is refused and the connection closed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// First byte of every record.
pub const VERSION: u8 = 1;

/// Largest record either side sends or accepts.
pub const MAX_RECORD: usize = 16 * 1024;

/// The daemon → guard messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToGuard {
    /// First message on a connection: who is talking.
    Hello { pid: u32, instance: String },
    /// A CIB commit of one ticket, to be written by the guard.
    Commit(CommitMsg),
    /// Liveness probe, answered with [`FromGuard::Pong`].
    Ping { seq: u64 },
    /// The daemon exits on purpose (SIGTERM: the site's resource stops or
    /// moves to another node). A later daemon of this site, here or on
    /// another node, may resume and renew what is granted, so at a deadline
    /// the guard first reads the CIB and leaves a grant such a daemon
    /// renewed (docs/site-memory.md). After a crash (no `Leaving`) it
    /// revokes at once.
    Leaving,
}

/// One engine commit (`Event::Commit`) of one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMsg {
    pub ticket: String,
    /// Increases with every commit the daemon sends (for its logs).
    pub seq: u64,
    /// `Some(d)`: granted here, and this site must stop being granted at
    /// `d` (the holder's own deadline) unless a later commit moves it.
    /// `None`: not granted here.
    pub deadline: Option<u64>,
    /// `crm_ticket` arguments recording this commit.
    pub write: Vec<String>,
    /// For grants: the `crm_ticket` arguments recording "not granted here"
    /// that the guard runs when the deadline passes. Empty otherwise.
    pub revoke: Vec<String>,
}

/// One armed deadline, as the guard reports it to a (new) daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmedMsg {
    pub ticket: String,
    pub deadline: u64,
}

/// What a CIB write was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteKind {
    /// The daemon's "granted here" commit.
    Grant,
    /// The daemon's "not granted here" commit.
    NotGranted,
    /// The guard's own revoke at a deadline.
    GuardRevoke,
    /// The guard's read of the CIB before that revoke, after the daemon left
    /// on purpose ([`ToGuard::Leaving`]).
    Check,
}

/// The guard → daemon messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromGuard {
    /// First message on a connection: the guard's process and what it
    /// still guards (deadlines a previous daemon left behind).
    Hello {
        pid: u32,
        armed: Vec<ArmedMsg>,
        /// Times the guard revoked at a deadline since it started.
        fired: u64,
    },
    /// A CIB write ended.
    Written {
        ticket: String,
        /// The commit's sequence number (0 for the guard's own revokes).
        seq: u64,
        kind: WriteKind,
        /// `None` on success, else why it failed.
        error: Option<String>,
        /// Milliseconds the `crm_ticket` call took.
        took_ms: u64,
    },
    /// A deadline passed while armed: the guard revokes.
    Fired {
        ticket: String,
        deadline: u64,
        /// How late the guard noticed (ms after the deadline).
        late_ms: u64,
        /// A grant write was still running and was killed first.
        killed_grant: bool,
    },
    Pong {
        seq: u64,
    },
}

/// One record: the version byte and the postcard body.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = vec![VERSION];
    // Serialising our own enums of strings and integers into a Vec cannot fail.
    out.extend(postcard::to_stdvec(msg).unwrap_or_default());
    out
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Empty,
    Version(u8),
    Body(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty record"),
            DecodeError::Version(v) => {
                write!(f, "record version {v}, this build speaks {VERSION}")
            }
            DecodeError::Body(e) => write!(f, "undecodable record: {e}"),
        }
    }
}

/// Reads one record.
pub fn decode<'a, T: Deserialize<'a>>(rec: &'a [u8]) -> Result<T, DecodeError> {
    match rec.split_first() {
        None => Err(DecodeError::Empty),
        Some((&VERSION, body)) => {
            postcard::from_bytes(body).map_err(|e| DecodeError::Body(e.to_string()))
        }
        Some((&v, _)) => Err(DecodeError::Version(v)),
    }
}

/// Where the guard of the instance whose state file is `state` listens:
/// the state file's name with `.guard` (the state directory belongs to the
/// daemon's user).
pub fn socket_path(state: &Path) -> PathBuf {
    state.with_extension("guard")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_check_the_version() {
        let m = ToGuard::Commit(CommitMsg {
            ticket: "ticketA".into(),
            seq: 7,
            deadline: Some(123_456),
            write: vec!["-t".into(), "ticketA".into(), "-g".into()],
            revoke: vec!["-t".into(), "ticketA".into(), "-r".into()],
        });
        let rec = encode(&m);
        assert_eq!(rec[0], VERSION);
        assert_eq!(decode::<ToGuard>(&rec), Ok(m));
        let mut bad = rec.clone();
        bad[0] = 9;
        assert_eq!(decode::<ToGuard>(&bad), Err(DecodeError::Version(9)));
        assert_eq!(decode::<ToGuard>(&[]), Err(DecodeError::Empty));
        assert!(matches!(
            decode::<ToGuard>(&[VERSION, 200]),
            Err(DecodeError::Body(_))
        ));
        let f = FromGuard::Fired {
            ticket: "t".into(),
            deadline: 5,
            late_ms: 1,
            killed_grant: true,
        };
        assert_eq!(decode::<FromGuard>(&encode(&f)), Ok(f));
    }

    #[test]
    fn socket_next_to_the_state_file() {
        assert_eq!(
            socket_path(Path::new("/var/lib/booth/booth.state")),
            Path::new("/var/lib/booth/booth.guard")
        );
    }
}
