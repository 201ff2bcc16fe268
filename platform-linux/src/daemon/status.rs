//! `booth status`: booth's checks and exit codes (booth-protocol.md §6.2),
//! plus a real liveness probe (§10.3 #25): the daemon must answer a list
//! request over TCP within two seconds, not merely hold its lock file.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use booth_core::wire::{client, Command, Header, ResultCode, TicketBody, HEADER_LEN};

use super::lockfile::{self, Probe};
use super::{clock, identify, load, DaemonOptions};

/// Exit codes (OCF/LSB, as booth).
const RUNNING: i32 = 0;
const CONFIG_ERROR: i32 = 1;
const LOCK_UNREADABLE: i32 = 4;
const NOT_RUNNING: i32 = 7;

/// How long the daemon has to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks whether the daemon of this configuration runs here. Prints the
/// status line to stdout when it does; with `-S` the verdict goes to
/// stderr (`not running: <reason>` or `Booth at … seems to be running.`).
pub fn status(opts: &DaemonOptions) -> i32 {
    let fail = |code: i32, reason: &str| {
        log::debug!("not running: {reason}");
        if opts.foreground {
            eprintln!("not running: {reason}");
        }
        code
    };
    let cfg = match load(opts) {
        Ok(c) => c,
        Err(e) => {
            // booth logs why to stderr; pcs and admins need to see it too.
            eprintln!("{e}");
            return fail(CONFIG_ERROR, "Error reading configuration.");
        }
    };
    let me = match identify(&cfg, opts.local) {
        Ok(m) => m,
        Err(e) => {
            log::debug!("{e}");
            return fail(NOT_RUNNING, "No Service IP active here.");
        }
    };
    let path = opts
        .lockfile
        .clone()
        .unwrap_or_else(|| lockfile::default_path(&cfg.name));
    let (pid, line) = match lockfile::probe(&path) {
        Probe::Missing | Probe::Error(_) => return fail(NOT_RUNNING, "No PID file."),
        Probe::NotLocked => return fail(NOT_RUNNING, "PID file not locked."),
        Probe::Locked { pid, line } => (pid, line),
    };
    print!("booth_lockpid={pid} ");
    let _ = std::io::stdout().flush();
    let Some(line) = line else {
        return fail(LOCK_UNREADABLE, "Cannot read lockfile data.");
    };
    let member = &cfg.members[me];
    if let Err(reason) = probe_list(member.addr, member.id.0, cfg.core.key.as_deref()) {
        return fail(NOT_RUNNING, &reason);
    }
    println!("booth_lockfile='{}' {line}", path.display());
    if opts.foreground {
        eprintln!(
            "Booth at {} port {} seems to be running.",
            member.shown(),
            cfg.port
        );
    }
    RUNNING
}

/// Asks the daemon at `addr` for its ticket list and waits for the answer.
pub fn probe_list(addr: SocketAddr, from: u32, key: Option<&[u8]>) -> Result<(), String> {
    let start = Instant::now();
    let left = || PROBE_TIMEOUT.saturating_sub(start.elapsed());
    let late = || {
        format!(
            "no answer to a list request within {} s",
            PROBE_TIMEOUT.as_secs()
        )
    };
    let mut s = match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err("TCP port not in use.".to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(late()),
        Err(e) => return Err(format!("cannot connect to {addr}: {e}")),
    };
    let now = clock::wall();
    let (secs, usecs) = match key {
        Some(_) => (now.secs() as u32, now.subsec_micros()),
        None => (0, 0),
    };
    let req = client::ClientRequest {
        header: Header {
            from,
            secs,
            usecs,
            ..Header::default()
        },
        cmd: Command::List,
        body: client::RequestBody::Ticket(TicketBody::default()),
    };
    let mut buf = [0u8; 512];
    let n = client::emit_client_request(&req, key, &mut buf).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            late()
        } else {
            format!("list request failed: {e}")
        }
    };
    s.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .map_err(io)?;
    s.write_all(&buf[..n]).map_err(io)?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if left().is_zero() {
            return Err(late());
        }
        s.set_read_timeout(Some(left().max(Duration::from_millis(1))))
            .map_err(io)?;
        let got = s.read(&mut chunk).map_err(io)?;
        if got == 0 {
            return Err("the daemon closed the connection without answering".to_owned());
        }
        reply.extend_from_slice(&chunk[..got]);
        if reply.len() >= HEADER_LEN {
            let len = client::frame_len(&reply).map_err(|e| format!("bad answer: {e}"))?;
            if reply.len() >= len {
                break;
            }
            if len > 1 << 20 {
                return Err("bad answer: too long".to_owned());
            }
        }
    }
    let (r, _) = client::parse_reply(&reply, key).map_err(|e| format!("bad answer: {e}"))?;
    match (r.cmd, r.result()) {
        (Command::ClList, Some(ResultCode::Success)) => Ok(()),
        (_, Some(ResultCode::Auth)) => Err("the daemon refused our authentication".to_owned()),
        (cmd, res) => Err(format!("unexpected answer {cmd:?} {res:?}")),
    }
}
