//! `booth list` and `booth peers`: the daemon answers with text (`RLst`) in
//! booth's own format, which we print unchanged, or turn into JSON with
//! `--json`.

use std::net::SocketAddr;

use booth_core::wire::client::RequestBody;
use booth_core::wire::{Command, ResultCode, TicketBody};

use super::args::ClientCmd;
use super::json;
use super::output::{msg, print_raw, EXIT_ERROR, EXIT_OK};
use super::session::{fourcc, result_name, Session};

/// Asks `addr` for its ticket list or peer table and prints it.
pub fn run(sess: &mut Session, cmd: ClientCmd, addr: SocketAddr, as_json: bool) -> i32 {
    let wire = match cmd {
        ClientCmd::List => Command::List,
        ClientCmd::Peers => Command::Peers,
        _ => return EXIT_ERROR,
    };
    // Our daemon adds its lease details for --json; booth 1.x ignores the bit.
    let options = if as_json && wire == Command::List {
        crate::daemon::listing::OPT_LIST_DETAILS
    } else {
        0
    };
    let text = match fetch(sess, wire, addr, options) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let out = if as_json {
        let text = String::from_utf8_lossy(&text);
        let value = match cmd {
            ClientCmd::List => json::list(&text),
            _ => json::peers(&text),
        };
        let mut s = value.to_string();
        s.push('\n');
        s.into_bytes()
    } else {
        text
    };
    match print_raw(&out) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            sess.log.error(&format!("cannot write the output: {e}"));
            EXIT_ERROR
        }
    }
}

/// One request, one text reply; errors are logged and give the exit code.
fn fetch(
    sess: &mut Session,
    wire: Command,
    addr: SocketAddr,
    options: u32,
) -> Result<Vec<u8>, i32> {
    let fail = |sess: &Session, m: &str| {
        sess.log.error(m);
        EXIT_ERROR
    };
    let mut conn = sess
        .send(
            addr,
            wire,
            RequestBody::Ticket(TicketBody::default()),
            options,
        )
        .map_err(|e| fail(sess, &e.to_string()))?;
    let reply = sess
        .reply(&mut conn)
        .map_err(|e| fail(sess, &e.to_string()))?;
    match reply.cmd {
        Command::ClList => Ok(reply.text),
        Command::ClResult => Err(match ResultCode::from_u32(reply.result) {
            Some(ResultCode::Auth) => fail(sess, msg::AUTH),
            _ => fail(
                sess,
                &format!("got an error code: {}", result_name(reply.result)),
            ),
        }),
        other => Err(fail(
            sess,
            &format!("unexpected reply {}", fourcc(other.as_u32())),
        )),
    }
}
