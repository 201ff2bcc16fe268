//! The command line as booth 1.x reads it (booth-protocol.md §6.1): the
//! program name and the first word choose the mode, options may stand before
//! or after the words, short options may be grouped (`-DD`) and take their
//! value attached (`-cNAME`) or as the next argument.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::resolve_config_arg;
use crate::daemon::DaemonOptions;

/// Client commands (`booth [client] …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCmd {
    List,
    Grant,
    Revoke,
    Peers,
}

impl ClientCmd {
    /// The word on the command line, also used in booth's messages
    /// ("grant request sent, …").
    pub const fn word(self) -> &'static str {
        match self {
            ClientCmd::List => "list",
            ClientCmd::Grant => "grant",
            ClientCmd::Revoke => "revoke",
            ClientCmd::Peers => "peers",
        }
    }
}

/// geostore commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrCmd {
    Set,
    Get,
    Delete,
    List,
}

impl AttrCmd {
    pub const fn word(self) -> &'static str {
        match self {
            AttrCmd::Set => "set",
            AttrCmd::Get => "get",
            AttrCmd::Delete => "delete",
            AttrCmd::List => "list",
        }
    }
}

/// What the invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `boothd daemon|start|site|arbitrator`.
    Daemon,
    /// `booth status`.
    Status,
    Client(ClientCmd),
    Geostore(AttrCmd),
    Version,
    Help,
}

/// Which family of commands the program name selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// `boothd`, `booth` or any other name: the first word decides.
    Booth,
    /// `geostore`: the first word is set, get, delete or list.
    Geostore,
}

impl Personality {
    /// From `argv[0]`: only the base name counts.
    pub fn from_prog(prog: &str) -> Self {
        if prog == "geostore" {
            Personality::Geostore
        } else {
            Personality::Booth
        }
    }
}

/// Everything the command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Base name of `argv[0]`, used in messages and `version`.
    pub prog: String,
    pub action: Action,
    /// `-c NAME|PATH`.
    pub config: Option<String>,
    /// `-s SITE`: a member's address, a host name or `other` for clients;
    /// the local address for the daemon.
    pub site: Option<String>,
    /// `-t TICKET`, or the positional ticket of grant/revoke.
    pub ticket: Option<String>,
    /// `-F`: grant without waiting for unreachable sites.
    pub force: bool,
    /// `-w`: wait for the final result.
    pub wait: bool,
    /// `-C`: wait for the CIB commit (implies `-w`).
    pub wait_commit: bool,
    /// `-D`, repeatable.
    pub debug: u8,
    /// `-S`: stay in the foreground.
    pub foreground: bool,
    /// `-l LOCKFILE`.
    pub lockfile: Option<String>,
    /// `--json` (list, peers, status).
    pub json: bool,
    /// `--timeout SECS`: `None` = the default, `Some(None)` = wait forever.
    pub timeout: Option<Option<Duration>>,
    /// geostore: attribute name and value.
    pub attr: Option<String>,
    pub value: Option<String>,
}

/// A command line we cannot act on; shown as `<prog>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// The base name of `argv[0]` (`/usr/sbin/booth` → `booth`).
pub fn prog_name(argv0: &str) -> String {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if base.is_empty() {
        "boothd".to_owned()
    } else {
        base.to_owned()
    }
}

/// Short options that take a value.
const WITH_VALUE: &[char] = &['c', 's', 't', 'l'];

/// One option as seen on the command line, before we know the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Opt {
    Short(char, Option<String>),
    Help,
    Version,
    Json,
    Timeout(String),
}

impl Opt {
    fn shown(&self) -> String {
        match self {
            Opt::Short(c, _) => format!("-{c}"),
            Opt::Help => "--help".into(),
            Opt::Version => "--version".into(),
            Opt::Json => "--json".into(),
            Opt::Timeout(_) => "--timeout".into(),
        }
    }
}

/// Splits the arguments (without `argv[0]`) into options and words.
fn lex(args: &[String]) -> Result<(Vec<Opt>, Vec<String>), UsageError> {
    let mut opts = Vec::new();
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            words.extend(it.by_ref().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let no_value = |o: Opt| match inline {
                Some(_) => err(format!("option --{name} takes no value")),
                None => Ok(o),
            };
            match name {
                "help" => opts.push(no_value(Opt::Help)?),
                "version" => opts.push(no_value(Opt::Version)?),
                "json" => opts.push(no_value(Opt::Json)?),
                "timeout" => {
                    let v = match inline {
                        Some(v) => v,
                        None => match it.next() {
                            Some(v) => v.clone(),
                            None => return err("option --timeout needs a value (seconds)"),
                        },
                    };
                    opts.push(Opt::Timeout(v));
                }
                _ => return err(format!("unknown option --{name}")),
            }
            continue;
        }
        match arg.strip_prefix('-') {
            Some(short) if !short.is_empty() => {
                for (i, c) in short.char_indices() {
                    if WITH_VALUE.contains(&c) {
                        let rest = &short[i + c.len_utf8()..];
                        let value = if rest.is_empty() {
                            match it.next() {
                                Some(v) => v.clone(),
                                None => return err(format!("option -{c} needs a value")),
                            }
                        } else {
                            rest.to_owned()
                        };
                        opts.push(Opt::Short(c, Some(value)));
                        break;
                    }
                    match c {
                        'h' => opts.push(Opt::Help),
                        'V' => opts.push(Opt::Version),
                        'F' | 'w' | 'C' | 'D' | 'S' => opts.push(Opt::Short(c, None)),
                        _ => return err(format!("unknown option -{c}")),
                    }
                }
            }
            // A lone "-" is a word, as for getopt.
            _ => words.push(arg.clone()),
        }
    }
    Ok((opts, words))
}

/// `--timeout` value: seconds (`30`, `2.5`, `30s`) or milliseconds (`500ms`);
/// 0 means no timeout.
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, UsageError> {
    let bad = || {
        UsageError(format!(
            "--timeout \"{text}\": expected seconds, e.g. 30, 2.5 or 500ms"
        ))
    };
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let secs = v * scale;
    if !secs.is_finite() || secs > 31_536_000.0 {
        return Err(bad());
    }
    if secs == 0.0 {
        return Ok(None);
    }
    Ok(Some(
        Duration::from_secs_f64(secs).max(Duration::from_millis(1)),
    ))
}

/// Which options each mode accepts (booth's letters plus ours).
fn allowed(action: Action, opt: &Opt) -> bool {
    let c = match opt {
        Opt::Help | Opt::Version => return true,
        Opt::Json => {
            return matches!(
                action,
                Action::Status | Action::Client(ClientCmd::List) | Action::Client(ClientCmd::Peers)
            )
        }
        Opt::Timeout(_) => return matches!(action, Action::Client(_) | Action::Geostore(_)),
        Opt::Short(c, _) => *c,
    };
    match action {
        Action::Daemon => matches!(c, 'c' | 'D' | 'S' | 'l' | 's'),
        Action::Status => matches!(c, 'c' | 'D' | 'S' | 'l' | 's'),
        // booth's client accepts all of these for every client command and
        // ignores those that do not apply (-t for list, -F for revoke, -S).
        Action::Client(_) => matches!(c, 'c' | 's' | 't' | 'F' | 'w' | 'C' | 'D' | 'S'),
        Action::Geostore(_) => matches!(c, 'c' | 's' | 't' | 'D'),
        Action::Version | Action::Help => true,
    }
}

fn mode_name(action: Action) -> &'static str {
    match action {
        Action::Daemon => "the daemon",
        Action::Status => "status",
        Action::Client(c) => c.word(),
        Action::Geostore(a) => a.word(),
        Action::Version => "version",
        Action::Help => "help",
    }
}

/// Parses `argv` (with `argv[0]`).
pub fn parse(argv: &[String]) -> Result<Args, UsageError> {
    let prog = prog_name(argv.first().map(String::as_str).unwrap_or("boothd"));
    let (opts, words) = lex(argv.get(1..).unwrap_or(&[]))?;
    let mut words = words.into_iter();

    let mut action = match Personality::from_prog(&prog) {
        Personality::Geostore => match words.next().as_deref() {
            Some("set") => Action::Geostore(AttrCmd::Set),
            Some("get") => Action::Geostore(AttrCmd::Get),
            Some("delete") => Action::Geostore(AttrCmd::Delete),
            Some("list") => Action::Geostore(AttrCmd::List),
            Some("help") => Action::Help,
            Some("version") => Action::Version,
            Some(w) => {
                return err(format!(
                    "unknown command \"{w}\" (expected set, get, delete or list)"
                ))
            }
            // Bare `geostore` prints the usage, as booth does.
            None => Action::Help,
        },
        Personality::Booth => {
            let mut first = words.next();
            if first.as_deref() == Some("client") {
                first = words.next();
                match first.as_deref() {
                    Some("list" | "grant" | "revoke" | "peers") => {}
                    None => return err("client needs a command: list, grant, revoke or peers"),
                    Some(w) => {
                        return err(format!(
                            "unknown client command \"{w}\" (expected list, grant, revoke or peers)"
                        ))
                    }
                }
            }
            match first.as_deref() {
                Some("daemon" | "start" | "site" | "arbitrator") => Action::Daemon,
                Some("status") => Action::Status,
                Some("list") => Action::Client(ClientCmd::List),
                Some("grant") => Action::Client(ClientCmd::Grant),
                Some("revoke") => Action::Client(ClientCmd::Revoke),
                Some("peers") => Action::Client(ClientCmd::Peers),
                Some("help") => Action::Help,
                Some("version") => Action::Version,
                Some(w) => return err(format!("unknown command \"{w}\"")),
                // Bare `booth` prints the usage (exit 0), as booth does; with
                // only options, -h / -V decide below, anything else is an error.
                None => Action::Help,
            }
        }
    };
    let no_command = matches!(action, Action::Help) && !opts.iter().any(|o| matches!(o, Opt::Help));

    // -h and -V win over everything else, as in booth.
    if opts.iter().any(|o| matches!(o, Opt::Help)) {
        action = Action::Help;
    } else if opts.iter().any(|o| matches!(o, Opt::Version)) {
        action = Action::Version;
    } else if no_command && !opts.is_empty() {
        return err("no command given");
    }

    let mut a = Args {
        prog,
        action,
        config: None,
        site: None,
        ticket: None,
        force: false,
        wait: false,
        wait_commit: false,
        debug: 0,
        foreground: false,
        lockfile: None,
        json: false,
        timeout: None,
        attr: None,
        value: None,
    };
    if matches!(action, Action::Help | Action::Version) {
        return Ok(a);
    }

    for opt in opts {
        if !allowed(action, &opt) {
            return err(format!(
                "option {} is not valid for {}",
                opt.shown(),
                mode_name(action)
            ));
        }
        match opt {
            Opt::Short('c', v) => a.config = v,
            Opt::Short('s', v) => a.site = v,
            Opt::Short('t', v) => a.ticket = v,
            Opt::Short('l', v) => a.lockfile = v,
            Opt::Short('F', _) => a.force = true,
            Opt::Short('w', _) => a.wait = true,
            Opt::Short('C', _) => {
                a.wait_commit = true;
                a.wait = true;
            }
            Opt::Short('D', _) => a.debug = a.debug.saturating_add(1),
            Opt::Short('S', _) => a.foreground = true,
            Opt::Json => a.json = true,
            Opt::Timeout(v) => a.timeout = Some(parse_timeout(&v)?),
            Opt::Short(..) | Opt::Help | Opt::Version => {}
        }
    }
    for (name, v) in [
        ("-c", &a.config),
        ("-s", &a.site),
        ("-t", &a.ticket),
        ("-l", &a.lockfile),
    ] {
        if v.as_deref() == Some("") {
            return err(format!("option {name} needs a non-empty value"));
        }
    }

    let rest: Vec<String> = words.collect();
    match action {
        Action::Client(ClientCmd::Grant | ClientCmd::Revoke) => match rest.as_slice() {
            [] => {}
            [t] if a.ticket.is_none() => a.ticket = Some(t.clone()),
            [t] if a.ticket.as_deref() == Some(t.as_str()) => {}
            [_] => return err("the ticket is given twice (-t and as an argument)"),
            _ => return err(format!("too many arguments: {}", rest.join(" "))),
        },
        Action::Geostore(cmd) => {
            let needed = match cmd {
                AttrCmd::Set => 2,
                AttrCmd::Get | AttrCmd::Delete => 1,
                AttrCmd::List => 0,
            };
            if rest.len() < needed {
                return err(match cmd {
                    AttrCmd::Set => "set needs an attribute name and a value",
                    _ => "an attribute name is needed",
                });
            }
            if rest.len() > needed {
                return err(format!("too many arguments: {}", rest[needed..].join(" ")));
            }
            let mut rest = rest.into_iter();
            a.attr = rest.next();
            a.value = rest.next();
        }
        _ if !rest.is_empty() => {
            return err(format!("unexpected argument: {}", rest.join(" ")));
        }
        _ => {}
    }
    Ok(a)
}

impl Args {
    /// The daemon's options (`daemon` and `status`): `-D` also keeps the
    /// daemon in the foreground, as in booth; `-s` is the local address
    /// (booth accepts it only after a `-D`; we always do).
    pub fn daemon_options(&self) -> Result<DaemonOptions, UsageError> {
        let local = match self.site.as_deref() {
            None => None,
            Some(s) => match s.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    return err(format!(
                        "-s \"{s}\": the daemon needs one of its configured IP addresses here"
                    ))
                }
            },
        };
        Ok(DaemonOptions {
            config: resolve_config_arg(self.config.as_deref()),
            foreground: self.foreground || self.debug > 0,
            debug: self.debug,
            lockfile: self.lockfile.as_ref().map(PathBuf::from),
            local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Args, UsageError> {
        let v: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&v)
    }

    #[test]
    fn first_word_chooses_the_mode() {
        assert_eq!(p("boothd daemon -S").unwrap().action, Action::Daemon);
        assert_eq!(p("booth start").unwrap().action, Action::Daemon);
        assert_eq!(
            p("/usr/sbin/boothd arbitrator").unwrap().action,
            Action::Daemon
        );
        assert_eq!(p("booth status").unwrap().action, Action::Status);
        assert_eq!(
            p("booth client list").unwrap().action,
            Action::Client(ClientCmd::List)
        );
        assert_eq!(
            p("boothd peers").unwrap().action,
            Action::Client(ClientCmd::Peers)
        );
        assert_eq!(
            p("geostore delete a").unwrap().action,
            Action::Geostore(AttrCmd::Delete)
        );
        assert!(p("geostore grant t").is_err());
        assert!(p("booth frobnicate").is_err());
        assert_eq!(p("booth").unwrap().action, Action::Help);
        assert_eq!(p("geostore").unwrap().action, Action::Help);
        assert!(p("booth -D").is_err());
        assert!(p("booth client").is_err());
    }

    #[test]
    fn options_anywhere_grouped_and_attached() {
        let a = p("booth grant tA -s 10.0.0.1 -FC -cfoo").unwrap();
        assert_eq!(a.ticket.as_deref(), Some("tA"));
        assert_eq!(a.site.as_deref(), Some("10.0.0.1"));
        assert_eq!(a.config.as_deref(), Some("foo"));
        assert!(a.force && a.wait && a.wait_commit);
        let a = p("booth -DD -t tB revoke -w").unwrap();
        assert_eq!(a.action, Action::Client(ClientCmd::Revoke));
        assert_eq!(a.debug, 2);
        assert_eq!(a.ticket.as_deref(), Some("tB"));
        assert!(a.wait && !a.wait_commit);
        assert!(p("booth grant -t a b").is_err());
        assert!(p("booth grant a b").is_err());
        assert!(p("booth grant -s").is_err());
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(p("booth --version").unwrap().action, Action::Version);
        assert_eq!(p("booth -V").unwrap().action, Action::Version);
        assert_eq!(p("booth version").unwrap().action, Action::Version);
        assert_eq!(p("booth grant -h").unwrap().action, Action::Help);
        assert_eq!(p("geostore --help").unwrap().action, Action::Help);
        assert_eq!(p("boothd help").unwrap().action, Action::Help);
        assert_eq!(p("/x/y/geostore -V").unwrap().prog, "geostore");
    }

    #[test]
    fn per_mode_options() {
        assert!(p("booth list --json").unwrap().json);
        assert!(p("booth status --json").is_ok());
        assert!(p("booth grant --json t").is_err());
        assert!(p("boothd daemon -t x").is_err());
        assert!(p("booth list -l /tmp/x").is_err());
        let d = p("boothd daemon -D -s 127.0.0.2 -l /tmp/l -c x").unwrap();
        assert_eq!(d.site.as_deref(), Some("127.0.0.2"));
        assert_eq!(d.lockfile.as_deref(), Some("/tmp/l"));
        assert!(p("booth list extra").is_err());
    }

    #[test]
    fn geostore_positionals() {
        let a = p("geostore set -t tA color red").unwrap();
        assert_eq!(a.attr.as_deref(), Some("color"));
        assert_eq!(a.value.as_deref(), Some("red"));
        assert!(p("geostore set color").is_err());
        assert!(p("geostore get").is_err());
        assert!(p("geostore list x").is_err());
        let a = p("geostore set k -- -1").unwrap();
        assert_eq!(a.value.as_deref(), Some("-1"));
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_timeout("2.5").unwrap(),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            parse_timeout("500ms").unwrap(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("x").is_err());
        let a = p("booth list --timeout=5").unwrap();
        assert_eq!(a.timeout, Some(Some(Duration::from_secs(5))));
        let a = p("booth list --timeout 0").unwrap();
        assert_eq!(a.timeout, Some(None));
    }
}
