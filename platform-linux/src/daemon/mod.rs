//! `boothd daemon`: one member of a booth formation on Linux, and
//! `booth status`.
//!
//! [`run`] loads the configuration, finds which member this host is, takes
//! the lock file, binds the UDP peer socket and the TCP client listener on
//! the member's own address, drops root, restores the persisted ticket state
//! and runs the single-threaded event loop ([`event_loop`]) around the
//! sans-IO [`booth_core::Node`]. Everything that can block (CIB writes,
//! handlers, slow clients) runs beside the loop, never in it.
//!
//! Files, one concept each: [`clock`] (the two clocks), [`udp`] (peer
//! socket), [`control`] (client connections), [`requests`] (answering
//! them), [`listing`] (list/peers text), [`geostore`] (attributes), [`cib`]
//! (`crm_ticket` command lines), [`guard`] (the lease guard process that
//! writes commits to the CIB and revokes at each deadline, even when the
//! daemon is frozen or dead), [`guard_link`] (the daemon's end of it),
//! [`guard_proto`] (their messages), [`sd_notify`] (systemd readiness and
//! watchdog), [`handler`] (before-acquire-handler), [`child`] (child
//! processes), [`persist`] (state file), [`lockfile`], [`signals`],
//! [`privileges`], [`daemonize`], [`log`], [`ratelimit`], [`localtime`].

pub mod child;
pub mod cib;
pub mod clock;
pub mod control;
pub mod daemonize;
mod event_loop;
pub mod geostore;
pub mod guard;
pub mod guard_link;
pub mod guard_proto;
pub mod handler;
pub mod listing;
pub mod localtime;
pub mod lockfile;
pub mod log;
pub mod persist;
pub mod privileges;
pub mod proctitle;
pub mod ratelimit;
mod requests;
pub mod sd_notify;
pub mod signals;
mod status;
pub mod udp;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::{self, ConfigError, Loaded};
use crate::netif;

pub use status::status;

/// How `boothd daemon` was invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonOptions {
    /// The configuration file (already resolved from `-c`).
    pub config: PathBuf,
    /// `-S`: stay in the foreground and log to stderr.
    pub foreground: bool,
    /// Number of `-D`.
    pub debug: u8,
    /// `-l`: lock file instead of `/var/run/booth/<name>.pid`.
    pub lockfile: Option<PathBuf>,
    /// `-s`: the member address to run as (booth demands `-D` first; we do not).
    pub local: Option<IpAddr>,
}

/// Why the daemon could not start or had to stop.
#[derive(Debug)]
pub enum DaemonError {
    Config(ConfigError),
    /// No, or no unique, local member.
    Identity(String),
    /// Another daemon holds the lock file.
    AlreadyRunning {
        lockfile: PathBuf,
        pid: u32,
    },
    Lock {
        lockfile: PathBuf,
        error: String,
    },
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        error: io::Error,
    },
    Privileges(String),
    /// The state directory or file cannot be written.
    State(String),
    /// A state write failed while running: we stop rather than make promises
    /// we cannot keep.
    Persist(String),
    Startup(String),
    Io(&'static str, io::Error),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Config(e) => write!(f, "configuration error:\n{e}"),
            DaemonError::Identity(m) => f.write_str(m),
            DaemonError::AlreadyRunning { lockfile, pid } => write!(
                f,
                "another boothd (pid {pid}) holds the lock file {}; is this instance already running?",
                lockfile.display()
            ),
            DaemonError::Lock { lockfile, error } => {
                write!(f, "cannot use the lock file {}: {error}", lockfile.display())
            }
            DaemonError::Bind { what, addr, error } => write!(
                f,
                "cannot bind the {what} socket to {addr}: {error} (another daemon on this address and port?)"
            ),
            DaemonError::Privileges(m) => write!(f, "cannot drop privileges: {m}"),
            DaemonError::State(m) => write!(f, "state file: {m}"),
            DaemonError::Persist(m) => write!(
                f,
                "cannot persist ticket state ({m}); stopping rather than sending promises that \
                 would not survive a restart"
            ),
            DaemonError::Startup(m) => f.write_str(m),
            DaemonError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for DaemonError {}

impl From<ConfigError> for DaemonError {
    fn from(e: ConfigError) -> Self {
        DaemonError::Config(e)
    }
}

/// Runs the daemon until SIGTERM/SIGINT (`Ok`) or a fatal error.
pub fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    event_loop::run(opts)
}

/// Which member this host is: `-s`, or the one member whose address is on
/// an interface here.
pub fn identify(cfg: &Loaded, local: Option<IpAddr>) -> Result<usize, DaemonError> {
    let members: Vec<IpAddr> = cfg.members.iter().map(|m| m.addr.ip()).collect();
    if let Some(ip) = local {
        return cfg.member_by_ip(ip).ok_or_else(|| {
            DaemonError::Identity(format!(
                "-s {ip}: not a site or arbitrator address in {}",
                cfg.path.display()
            ))
        });
    }
    let addrs = netif::local_addresses()
        .map_err(|e| DaemonError::Identity(format!("cannot list this host's addresses: {e}")))?;
    let matches = netif::exact_matches(&members, &addrs);
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(DaemonError::Identity(format!(
            "no site or arbitrator address of {} is configured on this host; \
             start the daemon where one is, or name it with -s",
            cfg.path.display()
        ))),
        many => Err(DaemonError::Identity(format!(
            "several members of {} are local here ({}); name the one to run with -s",
            cfg.path.display(),
            many.iter()
                .map(|&i| cfg.members[i].text.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// 64 random bits for the engine's election back-off.
pub fn seed() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        use std::io::Read;
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = f.read_exact(&mut b);
        }
    }
    u64::from_le_bytes(b) ^ u64::from(std::process::id()) ^ clock::wall().0
}

/// Loads the configuration named by the options.
fn load(opts: &DaemonOptions) -> Result<Loaded, DaemonError> {
    Ok(config::load(&opts.config)?)
}
