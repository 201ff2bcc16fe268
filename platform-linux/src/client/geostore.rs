//! `geostore set|get|delete|list` (booth-protocol.md §2.4, §6.3): per-ticket
//! attributes kept by a site. `get` prints the value the daemon sends
//! (`value\n`), `list` its lines (`name value time`); `set` reports
//! "set succeeded!" and `delete` nothing (as booth 1.0 does). Writes aimed at
//! an arbitrator are refused before anything is sent, as booth does.

use booth_core::Role;

use crate::config::MemberInfo;

use booth_core::wire::attr::{value_from, AttrBody, AttrName};
use booth_core::wire::client::RequestBody;
use booth_core::wire::ticket::name_from;
use booth_core::wire::{Command, ResultCode};

use super::args::AttrCmd;
use super::output::{msg, print_raw, EXIT_ERROR, EXIT_OK};
use super::session::{fourcc, result_name, Session};

/// Runs one geostore command against `member` (`local`: it is this host).
pub fn run(
    sess: &mut Session,
    cmd: AttrCmd,
    member: &MemberInfo,
    local: bool,
    ticket: &str,
    attr: &str,
    value: &str,
) -> i32 {
    let fail = |sess: &Session, m: &str| {
        sess.log.error(m);
        EXIT_ERROR
    };
    if member.role == Role::Arbitrator && matches!(cmd, AttrCmd::Set | AttrCmd::Delete) {
        return fail(
            sess,
            &if local {
                msg::NO_ATTRS_HERE.to_owned()
            } else {
                msg::no_attrs_there(&member.addr.ip().to_string())
            },
        );
    }
    let addr = member.addr;
    let Ok(ticket_name) = name_from(ticket.as_bytes()) else {
        return fail(
            sess,
            &format!("ticket name \"{ticket}\" is too long (at most 63 bytes)"),
        );
    };
    let Ok(attr_name) = AttrName::from_slice(attr.as_bytes()) else {
        return fail(
            sess,
            &format!("attribute name \"{attr}\" is too long (at most 63 bytes)"),
        );
    };
    if attr.contains('\0') {
        return fail(sess, "attribute names cannot contain NUL");
    }
    let Ok(attr_value) = value_from(value.as_bytes()) else {
        return fail(sess, "attribute value is too long (at most 127 bytes)");
    };
    let wire = match cmd {
        AttrCmd::Set => Command::AttrSet,
        AttrCmd::Get => Command::AttrGet,
        AttrCmd::Delete => Command::AttrDel,
        AttrCmd::List => Command::AttrList,
    };
    let body = AttrBody {
        ticket: ticket_name,
        attr: attr_name,
        value: attr_value,
    };
    let mut conn = match sess.send(addr, wire, RequestBody::Attr(body), 0) {
        Ok(c) => c,
        Err(e) => return fail(sess, &e.to_string()),
    };
    let reply = match sess.reply(&mut conn) {
        Ok(r) => r,
        Err(e) => return fail(sess, &e.to_string()),
    };
    match (reply.cmd, ResultCode::from_u32(reply.result)) {
        (Command::AttrGet | Command::AttrList, Some(ResultCode::Success)) => {
            match print_raw(&reply.text) {
                Ok(()) => EXIT_OK,
                Err(e) => fail(sess, &format!("cannot write the output: {e}")),
            }
        }
        (Command::ClResult, Some(ResultCode::Success)) => {
            if cmd == AttrCmd::Set {
                sess.log.info(&msg::succeeded("set"));
            }
            EXIT_OK
        }
        (_, Some(ResultCode::NoSuchAttr)) => fail(sess, &msg::attr_not_set(attr)),
        (_, Some(ResultCode::InvalidArg)) => fail(sess, &msg::no_ticket(ticket)),
        (_, Some(ResultCode::Auth)) => fail(sess, msg::AUTH),
        (_, Some(ResultCode::SyncFail)) => fail(sess, &msg::failed(cmd.word())),
        (Command::ClResult, _) => fail(
            sess,
            &format!("got an error code: {}", result_name(reply.result)),
        ),
        (other, _) => fail(
            sess,
            &format!(
                "unexpected reply {} (result {}) to geostore {}",
                fourcc(other.as_u32()),
                result_name(reply.result),
                cmd.word()
            ),
        ),
    }
}
