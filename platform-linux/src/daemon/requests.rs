//! Answering booth clients: list, peers, grant, revoke and the geostore
//! commands, with booth's reply formats (booth-protocol.md §2.5, §2.6, §6.3).

use std::net::SocketAddr;

use booth_core::engine::{AdminRequest, ClientId};
use booth_core::site_id::NO_ONE;
use booth_core::wire::attr::AttrBody;
use booth_core::wire::{client, Command, DecodeError, Header, ResultCode, Stamp, TicketBody};
use booth_core::{Duration, Now, Role};

use crate::config::PrereqKind;

use super::cib::{self, AttrJob};
use super::control::ConnId;
use super::event_loop::{AttrOp, AttrPending, Daemon};
use super::{listing, localtime};

/// `-F`: grant without waiting out the commit delay.
const OPT_IMMEDIATE: u32 = 1;
/// `-C`: the client waits for the CIB commit.
const OPT_WAIT_COMMIT: u32 = 4;

/// How long a grant client may wait, beyond the ticket's own delays.
const WAIT_SLACK: Duration = Duration::from_secs(60);

impl Daemon {
    /// The header of our replies: our ID and, with a key, a fresh stamp.
    fn reply_header(&self, now: &Now) -> Header {
        let me = self.node.config().members[self.me].id.0;
        let (secs, usecs) = match self.node.config().key {
            Some(_) => (now.wall.secs() as u32, now.wall.subsec_micros()),
            None => (0, 0),
        };
        Header {
            from: me,
            secs,
            usecs,
            ..Header::default()
        }
    }

    fn key(&self) -> Option<Vec<u8>> {
        self.node.config().key.as_ref().map(|k| k.to_vec())
    }

    /// Sends a `Rslt` reply, with a ticket body when given.
    pub(super) fn send_result(
        &mut self,
        conn: ConnId,
        result: ResultCode,
        ticket: Option<&TicketBody>,
        last: bool,
        now: &Now,
    ) {
        let header = self.reply_header(now);
        let key = self.key();
        let mut buf = [0u8; 256];
        match client::emit_result_reply(&header, result, ticket, key.as_deref(), &mut buf) {
            Ok(n) => self.control.send(conn, &buf[..n], last, now.mono),
            Err(e) => {
                log::error!("cannot encode a client reply: {e}");
                self.control.close(conn, now.mono);
            }
        }
    }

    /// Sends a text reply (`RLst`, `AGet`, `ALst`) and closes.
    fn send_text(&mut self, conn: ConnId, cmd: Command, text: &str, now: &Now) {
        let header = self.reply_header(now);
        let key = self.key();
        let mut buf = vec![0u8; 128 + text.len()];
        match client::emit_text_reply(&header, cmd, text.as_bytes(), key.as_deref(), &mut buf) {
            Ok(n) => self.control.send(conn, &buf[..n], true, now.mono),
            Err(e) => {
                log::error!("cannot encode a client reply: {e}");
                self.control.close(conn, now.mono);
            }
        }
    }

    /// The ticket body of grant/revoke replies: `leader` is the current
    /// leader or the redirect target.
    pub(super) fn reply_ticket(
        &self,
        ticket: Option<usize>,
        name: &[u8],
        leader: u32,
    ) -> TicketBody {
        let term = ticket
            .and_then(|t| self.node.ticket_view(t))
            .map_or(0, |v| v.term);
        TicketBody {
            name: booth_core::wire::ticket::name_from(name).unwrap_or_default(),
            leader,
            term,
            valid_for: 0,
        }
    }

    /// A complete request from a client.
    pub(super) fn on_request(&mut self, conn: ConnId, peer: SocketAddr, bytes: &[u8], now: Now) {
        let key = self.key();
        let (req, mac) = match client::parse_client_request(bytes, key.as_deref()) {
            Ok(r) => r,
            Err(e) if e.is_auth_failure() => {
                self.log_client_error(peer, "authentication", &e, now);
                self.send_result(conn, ResultCode::Auth, None, true, &now);
                return;
            }
            Err(
                e @ (DecodeError::TooShort | DecodeError::BadMagic(_) | DecodeError::BadVersion(_)),
            ) => {
                self.log_client_error(peer, "request", &e, now);
                self.control.close(conn, now.mono);
                return;
            }
            Err(e) => {
                // Unknown command, missing body, unterminated name, too long.
                self.log_client_error(peer, "request", &e, now);
                self.send_result(conn, ResultCode::InvalidArg, None, true, &now);
                return;
            }
        };
        if let Some(mac) = mac {
            let cfg = self.node.config();
            let (past, future) = (cfg.max_time_skew, cfg.max_future_skew);
            // Client requests are never marked: `booth` 1.x takes `usecs`
            // from a monotonic clock, so only `secs` orders them.
            let stamp = Stamp::unmarked(req.header.secs, req.header.usecs);
            if let Err(e) = self
                .client_replay
                .check(stamp, &mac, now.wall, past, future)
            {
                self.log_client_error(peer, "authentication", &e, now);
                self.send_result(conn, ResultCode::Auth, None, true, &now);
                return;
            }
        }
        match (&req.cmd, &req.body) {
            (Command::List, _) => {
                let mut text = listing::list_text(&self.node, &self.addrs, &now, &fmt_time);
                if req.header.options & listing::OPT_LIST_DETAILS != 0 {
                    let guard = self.guard_text();
                    text.push_str(&listing::detail_lines(&self.node, &now, &guard));
                }
                self.send_text(conn, Command::ClList, &text, &now);
            }
            (Command::Peers, _) => {
                let text = listing::peers_text(
                    &self.node,
                    &self.addrs,
                    &self.send_errors,
                    &now,
                    &fmt_time,
                );
                self.send_text(conn, Command::ClList, &text, &now);
            }
            (Command::Grant, client::RequestBody::Ticket(t)) => {
                self.grant(conn, t, req.header.options, now)
            }
            (Command::Revoke, client::RequestBody::Ticket(t)) => self.revoke(conn, t, now),
            (_, client::RequestBody::Attr(a)) => self.attr(conn, req.cmd, a, now),
            _ => self.send_result(conn, ResultCode::InvalidArg, None, true, &now),
        }
    }

    fn log_client_error(&mut self, peer: SocketAddr, what: &str, e: &DecodeError, now: Now) {
        let key = (e.as_str(), Some(peer.ip()));
        if let Some(n) = self.limiter.check(&key, now.mono.as_millis()) {
            log::warn!(
                "client {}: bad {what}: {e}{}",
                peer.ip(),
                super::ratelimit::suffix(n)
            );
        }
    }

    /// A request naming a ticket we do not have: rate-limited like other
    /// bad input, so a client looping on it cannot flood the log.
    fn log_unknown_ticket(&mut self, name: &str, now: &Now) {
        let key = ("client_unknown_ticket", None);
        if let Some(n) = self.limiter.check(&key, now.mono.as_millis()) {
            log::warn!(
                "client referenced unknown ticket {name:?}{}",
                super::ratelimit::suffix(n)
            );
        }
    }

    fn grant(&mut self, conn: ConnId, body: &TicketBody, options: u32, now: Now) {
        let name = String::from_utf8_lossy(&body.name).into_owned();
        let Some(t) = self.node.config().ticket_index(&body.name) else {
            self.log_unknown_ticket(&name, &now);
            let b = self.reply_ticket(None, &body.name, NO_ONE);
            self.send_result(conn, ResultCode::InvalidArg, Some(&b), true, &now);
            return;
        };
        if self.role == Role::Arbitrator {
            log::warn!("ticket {name}: grant requested, but we are just an arbitrator");
        } else if let Some(p) =
            self.attrs
                .failed_prereq(t, &self.cfg.tickets[t].attr_prereqs, PrereqKind::Manual)
        {
            log::warn!(
                "ticket {name}: attr-prereq on \"{}\" not met, grant denied",
                p.attr
            );
            let b = self.reply_ticket(Some(t), &body.name, NO_ONE);
            self.send_result(conn, ResultCode::AttrPrereq, Some(&b), true, &now);
            return;
        }
        let force = options & OPT_IMMEDIATE != 0;
        if force {
            log::warn!(
                "ticket {name}: granting immediately (-F)! If there are unreachable sites, \
                 make sure they do not hold the ticket"
            );
        }
        let manual = self.node.config().tickets[t].mode == booth_core::config::Mode::Manual;
        let held_elsewhere = self.node.ticket_view(t).is_some_and(|v| {
            matches!(v.owner, booth_core::engine::Owner::Site(id) if id != self.node.config().members[self.me].id)
        });
        if force && manual && held_elsewhere {
            // booth's words: a forced manual grant is a multi-grant.
            log::warn!(
                "ticket {name}: manual ticket forced to be granted! be aware that you may end \
                 up having two sites holding the same manual ticket! revoke the ticket from \
                 the unnecessary site!"
            );
        }
        log::info!("ticket {name}: grant requested by a client");
        let resp = self.node.handle_admin(
            now,
            ClientId(conn),
            AdminRequest::Grant {
                ticket: t,
                force,
                wait_commit: options & OPT_WAIT_COMMIT != 0,
            },
        );
        let b = self.reply_ticket(Some(t), &body.name, resp.leader);
        self.send_result(conn, resp.result, Some(&b), !resp.pending, &now);
        if resp.pending {
            let tc = &self.node.config().tickets[t];
            let wait = tc.expire + tc.acquire_after;
            let cap = now.mono + wait + wait + wait + WAIT_SLACK;
            self.control.wait_until(conn, cap);
            self.waiting.insert(conn, t);
        } else {
            log::info!("ticket {name}: grant answered {:?}", resp.result);
        }
    }

    fn revoke(&mut self, conn: ConnId, body: &TicketBody, now: Now) {
        let name = String::from_utf8_lossy(&body.name).into_owned();
        let Some(t) = self.node.config().ticket_index(&body.name) else {
            self.log_unknown_ticket(&name, &now);
            let b = self.reply_ticket(None, &body.name, NO_ONE);
            self.send_result(conn, ResultCode::InvalidArg, Some(&b), true, &now);
            return;
        };
        let resp = self
            .node
            .handle_admin(now, ClientId(conn), AdminRequest::Revoke { ticket: t });
        log::info!(
            "ticket {name}: revoke requested by a client: {:?}",
            resp.result
        );
        let b = self.reply_ticket(Some(t), &body.name, resp.leader);
        self.send_result(conn, resp.result, Some(&b), !resp.pending, &now);
        if resp.pending {
            self.waiting.insert(conn, t);
        }
    }

    fn attr(&mut self, conn: ConnId, cmd: Command, a: &AttrBody, now: Now) {
        let tname = String::from_utf8_lossy(&a.ticket).into_owned();
        let Some(t) = self.node.config().ticket_index(&a.ticket) else {
            self.log_unknown_ticket(&tname, &now);
            self.send_result(conn, ResultCode::InvalidArg, None, true, &now);
            return;
        };
        if self.role == Role::Arbitrator {
            log::warn!("geostore request for ticket {tname} on an arbitrator: arbitrators keep no attributes");
            self.send_result(conn, ResultCode::SyncFail, None, true, &now);
            return;
        }
        let (Ok(attr), Ok(value)) = (
            String::from_utf8(a.attr.to_vec()),
            String::from_utf8(a.value.to_vec()),
        ) else {
            self.send_result(conn, ResultCode::InvalidArg, None, true, &now);
            return;
        };
        match cmd {
            Command::AttrGet => match self.attrs.get(t, &attr) {
                Some(v) => {
                    let text = format!("{}\n", v.value);
                    self.send_text(conn, Command::AttrGet, &text, &now);
                }
                None => self.send_result(conn, ResultCode::NoSuchAttr, None, true, &now),
            },
            Command::AttrList => {
                let text = self.attrs.list_text(t, |s| fmt_time(s as i64));
                self.send_text(conn, Command::AttrList, &text, &now);
            }
            Command::AttrSet | Command::AttrDel => {
                if !cib::valid_geo_attr(&attr) {
                    log::warn!(
                        "ticket {tname}: geostore attribute name {attr:?} refused (names are \
                         letters, digits, '_', '.', ':', '-', and not one booth manages)"
                    );
                    self.send_result(conn, ResultCode::SyncFail, None, true, &now);
                    return;
                }
                let (op, args) = if cmd == Command::AttrSet {
                    let args = cib::set_attr_args(&tname, &attr, &value);
                    (AttrOp::Set { attr, value }, args)
                } else {
                    if self.attrs.get(t, &attr).is_none() {
                        self.send_result(conn, ResultCode::NoSuchAttr, None, true, &now);
                        return;
                    }
                    let args = cib::del_attr_args(&tname, &attr);
                    (AttrOp::Delete { attr }, args)
                };
                match AttrJob::start(args, now.mono) {
                    Ok(job) => {
                        let until = now.mono
                            + cib::WRITE_TIMEOUT
                            + cib::WRITE_TIMEOUT
                            + cib::WRITE_TIMEOUT
                            + WAIT_SLACK;
                        self.control.wait_until(conn, until);
                        self.attr_jobs.push(AttrPending {
                            conn,
                            ticket: t,
                            op,
                            job,
                        });
                    }
                    Err(why) => {
                        // No crm_ticket (a site without Pacemaker): keep the
                        // attribute here, as booth does.
                        log::warn!("ticket {tname}: geostore change not written to the CIB: {why}");
                        self.apply_attr(t, &op, now);
                        self.send_result(conn, ResultCode::Success, None, true, &now);
                    }
                }
            }
            _ => self.send_result(conn, ResultCode::InvalidArg, None, true, &now),
        }
    }

    pub(super) fn apply_attr(&mut self, t: usize, op: &AttrOp, now: Now) {
        match op {
            AttrOp::Set { attr, value } => self.attrs.set(t, attr, value, now.wall.secs()),
            AttrOp::Delete { attr } => {
                self.attrs.delete(t, attr);
            }
        }
        self.refresh_failover_gate(t, now);
    }

    /// booth's `attr-prereq auto`: while one fails, this site starts no
    /// failover election for the ticket (the engine retries once it holds).
    pub(super) fn refresh_failover_gate(&mut self, t: usize, now: Now) {
        let prereqs = &self.cfg.tickets[t].attr_prereqs;
        let failed = self.attrs.failed_prereq(t, prereqs, PrereqKind::Auto);
        if let Some(p) = failed {
            log::info!(
                "ticket {}: attr-prereq auto on \"{}\" not met: no failover election here",
                self.cfg.tickets[t].name,
                p.attr
            );
        }
        self.node.set_failover_allowed(now, t, failed.is_none());
    }

    /// Reaps geostore writes and answers their clients.
    pub(super) fn poll_attr_jobs(&mut self, now: Now) {
        let mut i = 0;
        while i < self.attr_jobs.len() {
            let Some(result) = self.attr_jobs[i].job.poll(now.mono, &mut self.reaper) else {
                i += 1;
                continue;
            };
            let p = self.attr_jobs.swap_remove(i);
            let tname = self.cfg.tickets[p.ticket].name.clone();
            match result {
                Ok(()) => {
                    self.apply_attr(p.ticket, &p.op, now);
                    log::info!("ticket {tname}: geostore {}", p.op);
                    self.send_result(p.conn, ResultCode::Success, None, true, &now);
                }
                Err(why) => {
                    log::error!("ticket {tname}: geostore {} failed: {why}", p.op);
                    self.send_result(p.conn, ResultCode::SyncFail, None, true, &now);
                }
            }
        }
    }
}

/// Local time as booth prints it.
pub(super) fn fmt_time(secs: i64) -> String {
    localtime::format(secs)
}
