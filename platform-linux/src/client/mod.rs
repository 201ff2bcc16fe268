//! The command-line client: `booth list|grant|revoke|peers` and
//! `geostore set|get|delete|list`, wire-compatible with booth 1.x daemons
//! (booth-protocol.md §2, §6).
//!
//! One concept per file:
//! - [`args`]: the command line, booth's option letters plus `--json` and
//!   `--timeout`;
//! - [`target`]: which daemon to ask (`-s`, `other`, or the local member);
//! - [`connection`]: TCP with connect and read timeouts;
//! - [`session`]: request headers, HMAC, reply authentication;
//! - [`ticket_op`] (grant, revoke), [`list`] (list, peers), [`geostore`];
//! - [`output`]: booth's messages and exit codes; [`json`]: `--json`;
//! - [`status`]: `booth status --json` around the daemon's status check;
//! - [`usage`], [`clock`].

pub mod args;
pub mod clock;
pub mod connection;
pub mod geostore;
pub mod json;
pub mod list;
pub mod output;
pub mod session;
pub mod status;
pub mod target;
pub mod ticket_op;
pub mod usage;

use std::time::Duration;

use crate::config::{self, Loaded};

use args::{Action, Args, AttrCmd, ClientCmd};
use connection::DEFAULT_READ_TIMEOUT;
use output::{Log, EXIT_ERROR};
use session::Session;

/// Extra wait with `-w`/`-C`, on top of three times the ticket's
/// `expire + acquire-after` (our daemon keeps a waiting grant client for
/// 3 × (expire + acquire-after) + 60 s; its verdict must arrive first).
const WAIT_SLACK: Duration = Duration::from_secs(90);
/// Default wait for geostore set/delete: the site writes the CIB
/// (`crm_ticket`, up to 20 s a try) before it answers.
const ATTR_WRITE_TIMEOUT: Duration = Duration::from_secs(150);

/// The ticket a command is about: the given one, or the only configured one.
pub fn pick_ticket(cfg: &Loaded, given: Option<&str>) -> Result<String, String> {
    if let Some(t) = given {
        return Ok(t.to_owned());
    }
    match cfg.tickets.as_slice() {
        [only] => Ok(only.name.clone()),
        [] => Err("No ticket given. The configuration defines none.".to_owned()),
        many => Err(format!(
            "No ticket given. The configuration has {} tickets ({}): name one with -t.",
            many.len(),
            many.iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Per-reply read timeout: `--timeout` if given; with `-w`/`-C` long enough
/// for the daemon's commit delay (`expire + acquire-after`, three times) plus
/// slack; for geostore writes [`ATTR_WRITE_TIMEOUT`]; otherwise 30 s.
pub fn read_timeout(args: &Args, cfg: &Loaded, ticket: Option<&str>) -> Option<Duration> {
    if let Some(t) = args.timeout {
        return t;
    }
    if matches!(
        args.action,
        Action::Geostore(AttrCmd::Set | AttrCmd::Delete)
    ) {
        return Some(ATTR_WRITE_TIMEOUT);
    }
    let waits = matches!(
        args.action,
        Action::Client(ClientCmd::Grant | ClientCmd::Revoke)
    ) && (args.wait || args.wait_commit);
    let ticket_cfg = ticket.and_then(|t| cfg.core.tickets.iter().find(|c| c.name.as_str() == t));
    match ticket_cfg {
        Some(tc) if waits => {
            let delay = Duration::from_millis(tc.expire.0.saturating_add(tc.acquire_after.0));
            Some((delay.saturating_mul(3) + WAIT_SLACK).max(DEFAULT_READ_TIMEOUT))
        }
        _ => Some(DEFAULT_READ_TIMEOUT),
    }
}

/// Runs a client or geostore command; returns the exit code.
pub fn run(args: &Args) -> i32 {
    let log = Log::new(&args.prog, args.debug);
    let path = config::resolve_config_arg(args.config.as_deref());
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            for d in &e.diagnostics {
                log.error(&d.to_string());
            }
            return EXIT_ERROR;
        }
    };
    for w in &cfg.warnings {
        log.debug(|| format!("configuration: {w}"));
    }

    let local = target::find_local(&cfg.members);
    log.debug(|| match &local {
        target::Local::Member(i) => format!("local member: {}", cfg.members[*i].addr.ip()),
        target::Local::NotFound => "no configured member is local".to_owned(),
        target::Local::Unknown(e) => format!("cannot list local addresses: {e}"),
    });
    let target = match target::choose(&cfg.members, args.site.as_deref(), &local) {
        Ok(t) => t,
        Err(e) => {
            log.error(&e.to_string());
            return EXIT_ERROR;
        }
    };
    let from = local.index().map_or(0, |i| cfg.members[i].id.0);
    let key = cfg.core.key.as_ref().map(|k| k.to_vec());
    let addr = cfg.members[target].addr;

    match args.action {
        Action::Client(cmd @ (ClientCmd::List | ClientCmd::Peers)) => {
            let mut sess = Session::new(log, key, from, read_timeout(args, &cfg, None));
            list::run(&mut sess, cmd, addr, args.json)
        }
        Action::Client(cmd @ (ClientCmd::Grant | ClientCmd::Revoke)) => {
            let ticket = match pick_ticket(&cfg, args.ticket.as_deref()) {
                Ok(t) => t,
                Err(e) => {
                    log.error(&e);
                    return EXIT_ERROR;
                }
            };
            let timeout = read_timeout(args, &cfg, Some(&ticket));
            let mut sess = Session::new(log, key, from, timeout);
            let flags = ticket_op::Flags {
                force: args.force,
                wait: args.wait,
                wait_commit: args.wait_commit,
            };
            ticket_op::run(
                &mut sess,
                &cfg.members,
                cmd,
                &ticket,
                flags,
                target,
                local.index(),
            )
        }
        Action::Geostore(cmd) => {
            let ticket = match pick_ticket(&cfg, args.ticket.as_deref()) {
                Ok(t) => t,
                Err(e) => {
                    log.error(&e);
                    return EXIT_ERROR;
                }
            };
            let timeout = read_timeout(args, &cfg, Some(&ticket));
            let mut sess = Session::new(log, key, from, timeout);
            geostore::run(
                &mut sess,
                cmd,
                &cfg.members[target],
                local.index() == Some(target),
                &ticket,
                args.attr.as_deref().unwrap_or(""),
                args.value.as_deref().unwrap_or(""),
            )
        }
        Action::Daemon | Action::Status | Action::Version | Action::Help => EXIT_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Loaded {
        crate::config::parse(
            "site = 192.0.2.1\nsite = 198.51.100.1\narbitrator = 203.0.113.1\n\
             ticket = \"tA\"\n    expire = 200\n    acquire-after = 10\n",
            "booth.conf",
        )
        .unwrap()
    }

    fn timeout_for(line: &str, ticket: Option<&str>) -> Option<Duration> {
        let v: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        read_timeout(&args::parse(&v).unwrap(), &cfg(), ticket)
    }

    #[test]
    fn read_timeouts() {
        let s = Duration::from_secs;
        assert_eq!(timeout_for("booth list", None), Some(s(30)));
        assert_eq!(timeout_for("booth grant tA", Some("tA")), Some(s(30)));
        // 3 × (200 + 10) + 90.
        assert_eq!(timeout_for("booth grant -w tA", Some("tA")), Some(s(720)));
        assert_eq!(timeout_for("booth grant -C tA", Some("tA")), Some(s(720)));
        assert_eq!(timeout_for("booth revoke -w tX", Some("tX")), Some(s(30)));
        assert_eq!(timeout_for("geostore set a b", Some("tA")), Some(s(150)));
        assert_eq!(timeout_for("geostore get a", Some("tA")), Some(s(30)));
        assert_eq!(
            timeout_for("booth grant -w --timeout 2 tA", Some("tA")),
            Some(s(2))
        );
        assert_eq!(
            timeout_for("booth grant -w --timeout 0 tA", Some("tA")),
            None
        );
    }

    #[test]
    fn ticket_defaults_to_the_only_one() {
        let c = cfg();
        assert_eq!(pick_ticket(&c, None).unwrap(), "tA");
        assert_eq!(pick_ticket(&c, Some("tB")).unwrap(), "tB");
    }
}
