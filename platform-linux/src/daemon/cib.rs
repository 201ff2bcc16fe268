//! Talking to the local Pacemaker CIB through `crm_ticket` (sites only).
//!
//! Always the current upstream command lines (booth-protocol.md §5.1), run
//! as an argv without a shell (§10.2 #17), off the protocol loop (§10.3
//! #21). Ticket commits are written by the lease guard ([`super::guard`]):
//! at most one write per ticket in flight, only the newest pending write
//! runs next. The protocol never waits for Pacemaker. The environment is
//! passed through, so `CIB_file=` works.

use std::process::Command;

use booth_core::engine::Commit;
use booth_core::{Duration, Instant, Now};

use super::child::{self, Finished, Outcome, Reaper, Running};

/// The program, looked up on `PATH` at every start (tests put a stub first).
pub const CRM_TICKET: &str = "crm_ticket";

/// Longest a CIB write may take before it is killed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest the start-up query of one ticket may take.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Ticket attributes booth itself manages; everything else in the CIB
/// ticket state is a geostore attribute (§5.3).
pub const RESERVED_ATTRS: &[&str] = &[
    "granted",
    "owner",
    "expires",
    "term",
    "id",
    "last-granted",
    "booth-cfg-name",
    "standby",
];

/// `crm_ticket` arguments recording a commit: `-g` granted here, `-r` not.
pub fn commit_args(
    ticket: &str,
    granted: bool,
    owner: i64,
    expires_epoch: u64,
    term: u32,
    cfg_name: &str,
) -> Vec<String> {
    vec![
        "-t".to_owned(),
        ticket.to_owned(),
        if granted { "-g" } else { "-r" }.to_owned(),
        "--force".to_owned(),
        "-S".to_owned(),
        "owner".to_owned(),
        format!("--attr-value={owner}"),
        "-S".to_owned(),
        "expires".to_owned(),
        format!("--attr-value={expires_epoch}"),
        "-S".to_owned(),
        "term".to_owned(),
        format!("--attr-value={term}"),
        "-S".to_owned(),
        "booth-cfg-name".to_owned(),
        format!("--attr-value={cfg_name}"),
    ]
}

/// The value [`commit_args`] gave attribute `name` (`-S name --attr-value=V`).
pub fn arg_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.windows(3)
        .find(|w| w[0] == "-S" && w[1] == name)
        .and_then(|w| w[2].strip_prefix("--attr-value="))
}

/// The arguments for an engine commit, `now` converting its deadline to epoch seconds.
pub fn commit_event_args(c: &Commit, ticket: &str, cfg_name: &str, now: &Now) -> Vec<String> {
    // A manual grant never ends: 0 rather than a time 584 million years on
    // (booth writes whatever its unset expiry converts to).
    let expires = if c.expires == booth_core::Instant::NEVER {
        0
    } else {
        now.wall_at(c.expires).secs()
    };
    commit_args(
        ticket,
        c.granted,
        c.owner.cib_value(),
        expires,
        c.term,
        cfg_name,
    )
}

/// Start-up query: `crm_ticket -t T -q`.
pub fn load_args(ticket: &str) -> Vec<String> {
    vec!["-t".to_owned(), ticket.to_owned(), "-q".to_owned()]
}

/// geostore set: `crm_ticket -t T -S ATTR --attr-value=VALUE`.
pub fn set_attr_args(ticket: &str, attr: &str, value: &str) -> Vec<String> {
    vec![
        "-t".to_owned(),
        ticket.to_owned(),
        "-S".to_owned(),
        attr.to_owned(),
        format!("--attr-value={value}"),
    ]
}

/// geostore delete: `crm_ticket -t T -D ATTR`.
pub fn del_attr_args(ticket: &str, attr: &str) -> Vec<String> {
    vec![
        "-t".to_owned(),
        ticket.to_owned(),
        "-D".to_owned(),
        attr.to_owned(),
    ]
}

/// An attribute name safe to pass as one argv word and as an XML attribute:
/// letters, digits, `_ . : -`, not starting with `-` (it would read as an
/// option), and not one booth manages.
pub fn valid_geo_attr(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
        && !RESERVED_ATTRS.contains(&name)
}

fn command(args: &[String]) -> Command {
    let mut c = Command::new(CRM_TICKET);
    c.args(args);
    c
}

/// Attribute `name` of a ticket state read by [`parse_ticket_state`].
pub fn state_attr<'a>(state: &'a [(String, String)], name: &str) -> Option<&'a str> {
    state
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a ticket state says granted (booth writes "true", "false" or a
/// number).
pub fn state_granted(state: &[(String, String)]) -> bool {
    state_attr(state, "granted")
        .is_some_and(|v| v == "true" || v.parse::<i64>().is_ok_and(|n| n != 0))
}

/// Attributes of the `<ticket_state …/>` element in `crm_ticket -q` output
/// (a `State XML:` line, an empty line, then the element).
pub fn parse_ticket_state(output: &str) -> Option<Vec<(String, String)>> {
    let start = output.find("<ticket_state")?;
    let rest = &output[start + "<ticket_state".len()..];
    let end = rest.find('>')?;
    let mut s = rest[..end].trim_end_matches('/');
    let mut attrs = Vec::new();
    loop {
        s = s.trim_start();
        let Some(eq) = s.find('=') else { break };
        let name = s[..eq].trim().to_owned();
        let after = s[eq + 1..].trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let close = after[1..].find(quote)?;
        attrs.push((name, unescape(&after[1..1 + close])));
        s = &after[close + 2..];
    }
    Some(attrs)
}

fn unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What a start-up query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The ticket state's attributes.
    State(Vec<(String, String)>),
    /// The CIB has no such ticket (exit 105, or booth's 6).
    Absent,
    /// `crm_ticket` is not installed.
    NoCrmTicket,
    Failed(String),
}

/// Runs `crm_ticket -t T -q` and waits for it (start-up only, bounded).
pub fn load_ticket(ticket: &str) -> Loaded {
    let deadline = super::clock::mono() + LOAD_TIMEOUT;
    let running = match child::spawn(command(&load_args(ticket)), true, deadline) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::NoCrmTicket,
        Err(e) => return Loaded::Failed(format!("cannot run {CRM_TICKET}: {e}")),
    };
    let f = running.wait_blocking(super::clock::mono);
    match f.outcome {
        Outcome::Exited(0) => match parse_ticket_state(&f.stdout) {
            Some(attrs) => Loaded::State(attrs),
            None => Loaded::Failed(format!(
                "no <ticket_state> in the output: {:?}",
                f.stdout.trim()
            )),
        },
        Outcome::Exited(105) | Outcome::Exited(6) => Loaded::Absent,
        other => Loaded::Failed(format!("{other}: {}", f.stderr)),
    }
}

fn result_of(f: &Finished) -> Result<(), String> {
    if f.outcome.success() {
        Ok(())
    } else if f.stderr.is_empty() {
        Err(f.outcome.to_string())
    } else {
        Err(format!("{}: {}", f.outcome, f.stderr))
    }
}

/// A geostore write (`-S`/`-D`) for a waiting client, retried up to three
/// times like booth.
#[derive(Debug)]
pub struct AttrJob {
    pub args: Vec<String>,
    pub tries_left: u8,
    running: Option<Running>,
}

impl AttrJob {
    pub const TRIES: u8 = 3;

    pub fn start(args: Vec<String>, now: Instant) -> Result<AttrJob, String> {
        let mut job = AttrJob {
            args,
            tries_left: Self::TRIES,
            running: None,
        };
        job.try_once(now)?;
        Ok(job)
    }

    fn try_once(&mut self, now: Instant) -> Result<(), String> {
        self.tries_left = self.tries_left.saturating_sub(1);
        match child::spawn(command(&self.args), false, now + WRITE_TIMEOUT) {
            Ok(r) => {
                self.running = Some(r);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("{CRM_TICKET} not installed"))
            }
            Err(e) => Err(format!("cannot run {CRM_TICKET}: {e}")),
        }
    }

    /// `Some(result)` once it succeeded or ran out of tries.
    pub fn poll(&mut self, now: Instant, reaper: &mut Reaper) -> Option<Result<(), String>> {
        let f = self.running.as_mut()?.poll(now)?;
        if let Some(r) = self.running.take() {
            reaper.adopt(r, now);
        }
        match result_of(&f) {
            Ok(()) => Some(Ok(())),
            Err(e) if self.tries_left == 0 => Some(Err(e)),
            Err(e) => {
                log::debug!("{CRM_TICKET} {:?} failed ({e}), retrying", self.args);
                self.try_once(now).err().map(Err)
            }
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.running.as_ref().map(|r| r.deadline())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::engine::Owner;
    use booth_core::{SiteId, WallTime};

    #[test]
    fn commit_argv_is_upstreams() {
        assert_eq!(
            commit_args("ticketA", true, 2081820410, 1795594217, 0, "booth"),
            [
                "-t",
                "ticketA",
                "-g",
                "--force",
                "-S",
                "owner",
                "--attr-value=2081820410",
                "-S",
                "expires",
                "--attr-value=1795594217",
                "-S",
                "term",
                "--attr-value=0",
                "-S",
                "booth-cfg-name",
                "--attr-value=booth"
            ]
        );
        // Revoke: owner -1 stays glued to its option so it is not read as one.
        let r = commit_args("t'; touch /tmp/x", false, -1, 5, 3, "n");
        assert_eq!(r[1], "t'; touch /tmp/x");
        assert_eq!(r[2], "-r");
        assert_eq!(r[6], "--attr-value=-1");
    }

    #[test]
    fn commit_event_converts_the_deadline_to_epoch() {
        let now = Now {
            mono: Instant(50_000),
            wall: WallTime::from_secs(1_795_594_207),
        };
        let c = Commit {
            ticket: 0,
            granted: true,
            owner: Owner::Site(SiteId(185679468)),
            term: 4,
            expires: Instant(60_000),
        };
        let a = commit_event_args(&c, "tA", "cfg", &now);
        assert_eq!(a[6], "--attr-value=185679468");
        assert_eq!(a[9], "--attr-value=1795594217");
        assert_eq!(a[12], "--attr-value=4");
        let lost = Commit {
            owner: Owner::Unknown,
            granted: false,
            ..c
        };
        let a = commit_event_args(&lost, "tA", "cfg", &now);
        assert_eq!((a[2].as_str(), a[6].as_str()), ("-r", "--attr-value=0"));
        // A manual grant never ends: 0, not 18446744073709.
        let manual = Commit {
            expires: Instant::NEVER,
            ..c
        };
        let a = commit_event_args(&manual, "tA", "cfg", &now);
        assert_eq!(a[9], "--attr-value=0");
    }

    #[test]
    fn other_argvs() {
        assert_eq!(load_args("tA"), ["-t", "tA", "-q"]);
        assert_eq!(
            set_attr_args("tA", "sr_status", "-it's $(x)"),
            ["-t", "tA", "-S", "sr_status", "--attr-value=-it's $(x)"]
        );
        assert_eq!(del_attr_args("tA", "a"), ["-t", "tA", "-D", "a"]);
        assert!(valid_geo_attr("sr_status"));
        assert!(valid_geo_attr("a.b:c-d"));
        assert!(!valid_geo_attr("-S"));
        assert!(!valid_geo_attr("granted"));
        assert!(!valid_geo_attr("a b"));
        assert!(!valid_geo_attr(""));
    }

    #[test]
    fn parses_crm_ticket_q_output() {
        let out = "State XML:\n\n<ticket_state id=\"ticketA\" granted=\"true\" owner=\"2081820410\" \
                   expires=\"1795594217\" term=\"0\" last-granted=\"1795594207\" sr='a &amp; &quot;b&quot;'/>\n";
        let attrs = parse_ticket_state(out).unwrap();
        assert_eq!(attrs[0], ("id".to_owned(), "ticketA".to_owned()));
        assert_eq!(attrs[2], ("owner".to_owned(), "2081820410".to_owned()));
        assert_eq!(attrs[6], ("sr".to_owned(), "a & \"b\"".to_owned()));
        assert_eq!(attrs.len(), 7);
        assert_eq!(parse_ticket_state("State XML:\n\n"), None);
        assert_eq!(
            parse_ticket_state("<ticket_state id=\"x\"/>"),
            Some(vec![("id".to_owned(), "x".to_owned())])
        );
    }
}
