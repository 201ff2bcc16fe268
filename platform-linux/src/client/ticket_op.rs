//! `booth grant` and `booth revoke` (booth-protocol.md §3.5, §3.8, §6.2,
//! §6.3): send `CGnt`/`CRvk`, then read `Rslt` replies until a definite one.
//!
//! * `More` is intermediate: without `-w`/`-C` we give up after the third.
//! * `Pend` (elected, CIB commit delayed) is success unless `-C`.
//! * `Redr` (revoke at a non-leader) names the leader's site ID: we connect
//!   to that member and repeat.
//! * Every error exits 1 (booth HEAD); booth 1.0 exits 0 for some.

use booth_core::wire::client::RequestBody;
use booth_core::wire::ticket::name_from;
use booth_core::wire::{Command, ResultCode, TicketBody};
use booth_core::Role;

use crate::config::MemberInfo;

use super::args::ClientCmd;
use super::output::{msg, EXIT_ERROR, EXIT_OK};
use super::session::{result_name, Session};

/// `options` bits (§2.8).
pub const OPT_IMMEDIATE: u32 = 1;
pub const OPT_WAIT: u32 = 2;
pub const OPT_WAIT_COMMIT: u32 = 4;

/// Intermediate replies after which we give up without `-w`.
const GIVE_UP_AFTER: u32 = 3;
/// Redirects followed before we suspect a loop.
const MAX_REDIRECTS: u32 = 4;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub force: bool,
    pub wait: bool,
    pub wait_commit: bool,
}

impl Flags {
    /// Header `options`: -F → 1, -w → 2, -C → 2|4.
    pub const fn options(self) -> u32 {
        let mut o = 0;
        if self.force {
            o |= OPT_IMMEDIATE;
        }
        if self.wait || self.wait_commit {
            o |= OPT_WAIT;
        }
        if self.wait_commit {
            o |= OPT_WAIT_COMMIT;
        }
        o
    }
}

/// What one reply means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Keep reading on this connection (`true`: waiting for the commit).
    Wait {
        commit: bool,
    },
    /// Repeat the request at the member with this site ID.
    Redirect(u32),
    Done(i32),
}

/// Interprets one result, printing booth's message for final ones.
fn judge(
    sess: &Session,
    op: &str,
    ticket: &str,
    flags: Flags,
    result: u32,
    leader: Option<u32>,
) -> Step {
    let log = &sess.log;
    match ResultCode::from_u32(result) {
        Some(ResultCode::Success | ResultCode::SyncSucc) => {
            log.info(&msg::succeeded(op));
            Step::Done(EXIT_OK)
        }
        Some(ResultCode::Async) => {
            log.info(&msg::asynchronous(op));
            Step::Done(EXIT_OK)
        }
        Some(ResultCode::More) => Step::Wait { commit: false },
        Some(ResultCode::CibPending) if flags.wait_commit => Step::Wait { commit: true },
        Some(ResultCode::CibPending) => {
            log.info(msg::COMMIT_PENDING);
            Step::Done(EXIT_OK)
        }
        Some(ResultCode::Redirect) => match leader {
            Some(id) => Step::Redirect(id),
            None => {
                log.error("the daemon redirected the request but named no leader");
                Step::Done(EXIT_ERROR)
            }
        },
        Some(ResultCode::TicketIdle) => {
            log.info(msg::NOT_OWNED);
            Step::Done(EXIT_OK)
        }
        Some(ResultCode::Overgrant) => {
            log.info(msg::OVERGRANT);
            Step::Done(EXIT_ERROR)
        }
        Some(ResultCode::SyncFail) => {
            log.info(&msg::failed(op));
            Step::Done(EXIT_ERROR)
        }
        Some(ResultCode::InvalidArg) => {
            log.error(&msg::no_ticket(ticket));
            Step::Done(EXIT_ERROR)
        }
        Some(ResultCode::Auth) => {
            log.error(msg::AUTH);
            Step::Done(EXIT_ERROR)
        }
        Some(ResultCode::ExtFailed) => {
            log.error(&msg::handler_failed(ticket));
            Step::Done(EXIT_ERROR)
        }
        Some(ResultCode::AttrPrereq) => {
            log.error(&msg::prereq_failed(ticket));
            Step::Done(EXIT_ERROR)
        }
        _ => {
            log.error(&format!("got an error code: {}", result_name(result)));
            Step::Done(EXIT_ERROR)
        }
    }
}

/// The arbitrator refusal, if `target` is one (booth 1.0 prints it and
/// exits 0; we exit 1, §10.3 #24).
pub fn refuse_arbitrator(
    sess: &Session,
    members: &[MemberInfo],
    target: usize,
    local: Option<usize>,
) -> Option<i32> {
    let m = members.get(target)?;
    if m.role != Role::Arbitrator {
        return None;
    }
    if local == Some(target) {
        sess.log.error(msg::ARBITRATOR_HERE);
    } else {
        sess.log
            .error(&msg::arbitrator_there(&m.addr.ip().to_string()));
    }
    Some(EXIT_ERROR)
}

/// Runs grant or revoke of `ticket` at member `target`.
pub fn run(
    sess: &mut Session,
    members: &[MemberInfo],
    cmd: ClientCmd,
    ticket: &str,
    flags: Flags,
    mut target: usize,
    local: Option<usize>,
) -> i32 {
    let (op, wire_cmd) = match cmd {
        ClientCmd::Grant => ("grant", Command::Grant),
        ClientCmd::Revoke => ("revoke", Command::Revoke),
        _ => return EXIT_ERROR,
    };
    let name = match name_from(ticket.as_bytes()) {
        Ok(n) => n,
        Err(_) => {
            sess.log.error(&format!(
                "ticket name \"{ticket}\" is too long (at most 63 bytes)"
            ));
            return EXIT_ERROR;
        }
    };
    let body = TicketBody {
        name,
        ..TicketBody::default()
    };

    let mut redirects = 0;
    loop {
        if let Some(code) = refuse_arbitrator(sess, members, target, local) {
            return code;
        }
        let Some(member) = members.get(target) else {
            return EXIT_ERROR;
        };
        let mut conn = match sess.send(
            member.addr,
            wire_cmd,
            RequestBody::Ticket(body.clone()),
            flags.options(),
        ) {
            Ok(c) => c,
            Err(e) => {
                sess.log.error(&e.to_string());
                return EXIT_ERROR;
            }
        };
        let mut intermediate = 0;
        let mut announced = false;
        let next = loop {
            let reply = match sess.reply(&mut conn) {
                Ok(r) => r,
                Err(e) => {
                    sess.log.error(&e.to_string());
                    return EXIT_ERROR;
                }
            };
            if reply.cmd != Command::ClResult {
                sess.log.error(&format!(
                    "unexpected reply {} to a {op} request",
                    super::session::fourcc(reply.cmd.as_u32())
                ));
                return EXIT_ERROR;
            }
            let leader = reply.ticket.as_ref().map(|t| t.leader);
            match judge(sess, op, ticket, flags, reply.result, leader) {
                Step::Done(code) => return code,
                Step::Redirect(id) => break id,
                Step::Wait { commit } => {
                    if !announced {
                        announced = true;
                        sess.log.info(&msg::request_sent(op));
                    }
                    if commit {
                        sess.log.info(msg::WAITING_FOR_COMMIT);
                    }
                    intermediate += 1;
                    if !flags.wait && intermediate >= GIVE_UP_AFTER {
                        sess.log.info(msg::GIVING_UP);
                        return EXIT_OK;
                    }
                }
            }
        };
        redirects += 1;
        let Some(leader) = members.iter().position(|m| m.id.0 == next) else {
            sess.log.error(&format!(
                "{} redirected the {op} to the leader, site ID {next} ({next:#010x}), which is \
                 not in our configuration; is the configuration the same everywhere?",
                member.addr.ip()
            ));
            return EXIT_ERROR;
        };
        if leader == target || redirects > MAX_REDIRECTS {
            sess.log.error(&format!(
                "{} redirected the {op} to {}; giving up after {redirects} redirect(s), \
                 the members disagree about the leader",
                member.addr.ip(),
                members[leader].addr.ip()
            ));
            return EXIT_ERROR;
        }
        sess.log.debug(|| {
            format!(
                "{} is not the leader of ticket {ticket}; asking the leader {}",
                member.addr.ip(),
                members[leader].addr.ip()
            )
        });
        target = leader;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_bits() {
        let f = |force, wait, wait_commit| {
            Flags {
                force,
                wait,
                wait_commit,
            }
            .options()
        };
        assert_eq!(f(false, false, false), 0);
        assert_eq!(f(true, false, false), 1);
        assert_eq!(f(false, true, false), 2);
        assert_eq!(f(false, false, true), 6);
        assert_eq!(f(true, true, true), 7);
    }
}
