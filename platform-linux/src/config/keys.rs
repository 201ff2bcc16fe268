//! Global keys and ticket sections (booth-protocol.md §4.2, §4.3), and the
//! builder that turns lexed lines into a [`Loaded`] configuration.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use booth_core::config::{Config, Member, Mode, Role, WireTimeUnit, NAME_MAX};
use booth_core::{Duration, SiteId, MAX_MEMBERS};

use super::authfile;
use super::diagnostics::{list, quote, suggest, ConfigError, Diagnostic};
use super::lexer::{self, is_space, Entry};
use super::ticket::{Draft, Setting, Source, Ticket};
use super::timing::{self, fmt_ms, parse_time, parse_uint, Problem};
use super::{
    AttrPrereq, Loaded, MemberInfo, PrereqKind, PrereqOp, Transport, DEFAULT_PORT, MAX_TICKETS,
};

/// Keys allowed anywhere in the file (booth-protocol.md §4.2, plus
/// `allow-even-members`).
pub(crate) const GLOBAL_KEYS: &[&str] = &[
    "transport",
    "port",
    "name",
    "authfile",
    "maxtimeskew",
    "site",
    "arbitrator",
    "site-user",
    "site-group",
    "arbitrator-user",
    "arbitrator-group",
    "debug",
    "allow-even-members",
];

/// Ticket keys booth knows (§4.3).
pub(crate) const BOOTH_TICKET_KEYS: &[&str] = &[
    "expire",
    "timeout",
    "retries",
    "renewal-freq",
    "acquire-after",
    "before-acquire-handler",
    "attr-prereq",
    "mode",
    "weights",
];

/// Our ticket keys; booth does not know them.
pub(crate) const EXTENSION_TICKET_KEYS: &[&str] = &[
    "max-clock-drift",
    "safety-margin",
    "handler-timeout",
    "stop-time",
];

/// The only keys booth copies from `__defaults__` into later tickets.
const INHERITED_BY_BOOTH: &[&str] = &["expire", "timeout", "retries", "weights", "mode"];

const DEFAULTS: &str = "__defaults__";

/// booth's limit on every value; we lift it for local-only values (§10.4 #34).
const VALUE_MAX: usize = 64;
const LONG_VALUES: &[&str] = &["before-acquire-handler", "authfile"];
const HANDLER_ARGS_MAX: usize = 16;
const ATTR_VALUE_MAX: usize = 127;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Before the first `ticket` line.
    Global,
    Defaults,
    Ticket(usize),
    /// After a refused `ticket` line: keys are checked, then dropped.
    Broken,
}

/// Reads a file line by line, collecting errors and warnings.
pub(crate) struct Builder<'a> {
    file: &'a str,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    section: Section,
    /// Keys set in the current ticket section, with their line.
    seen: HashMap<&'static str, usize>,
    /// Global keys set so far, with their line.
    globals: HashMap<&'static str, usize>,
    port: u16,
    name: Option<String>,
    authfile: Option<(String, usize)>,
    maxtimeskew: u64,
    site_user: String,
    site_group: String,
    arbitrator_user: String,
    arbitrator_group: String,
    debug: u32,
    allow_even: bool,
    members: Vec<MemberInfo>,
    defaults: Draft,
    tickets: Vec<Draft>,
    scratch: Draft,
    /// The first booth time value that is not whole seconds: (line, key, value).
    ms_value: Option<(usize, &'static str, String)>,
}

fn find(table: &[&'static str], key: &str) -> Option<&'static str> {
    table.iter().copied().find(|k| *k == key)
}

fn parse_bool(v: &str) -> Option<bool> {
    const YES: &[&str] = &["yes", "true", "on", "1"];
    const NO: &[&str] = &["no", "false", "off", "0"];
    if YES.iter().any(|y| v.eq_ignore_ascii_case(y)) {
        Some(true)
    } else if NO.iter().any(|n| v.eq_ignore_ascii_case(n)) {
        Some(false)
    } else {
        None
    }
}

fn role_key(role: Role) -> &'static str {
    match role {
        Role::Site => "site",
        Role::Arbitrator => "arbitrator",
    }
}

fn site_id(ip: IpAddr) -> SiteId {
    match ip {
        IpAddr::V4(v4) => SiteId::from_ipv4(v4.octets()),
        IpAddr::V6(v6) => SiteId::from_ipv6(v6.octets()),
    }
}

/// An IP literal, or a host name resolved once (first result, as booth).
fn resolve(value: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    if value.starts_with('[') {
        return Err("write an IPv6 address without brackets (e.g. site = 2001:db8::1)".to_owned());
    }
    match (value, 0u16).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| "the name resolves to no address".to_owned()),
        Err(e) => Err(format!(
            "not an IP address, and resolving it as a host name failed: {e}"
        )),
    }
}

/// Instance names end up in file names (PID file) and in the CIB.
fn valid_instance_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const INSTANCE_NAME_RULE: &str = "an instance name is 1 to 63 letters, digits, '-', '_' or '.' \
                                  (not starting with '.')";

impl<'a> Builder<'a> {
    pub(crate) fn new(file: &'a str) -> Self {
        Builder {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
            section: Section::Global,
            seen: HashMap::new(),
            globals: HashMap::new(),
            port: DEFAULT_PORT,
            name: None,
            authfile: None,
            maxtimeskew: 600,
            site_user: "hacluster".to_owned(),
            site_group: "haclient".to_owned(),
            arbitrator_user: "nobody".to_owned(),
            arbitrator_group: "nobody".to_owned(),
            debug: 0,
            allow_even: false,
            members: Vec::new(),
            defaults: Draft::new(DEFAULTS, 0),
            tickets: Vec::new(),
            scratch: Draft::new(DEFAULTS, 0),
            ms_value: None,
        }
    }

    fn diag(&self, line: Option<usize>, key: Option<&str>, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.to_owned(),
            line,
            key: key.map(str::to_owned),
            message,
        }
    }

    fn error(&mut self, line: usize, key: &str, message: String) {
        let d = self.diag(Some(line), Some(key), message);
        self.errors.push(d);
    }

    fn warn(&mut self, line: usize, key: &str, message: String) {
        let d = self.diag(Some(line), Some(key), message);
        self.warnings.push(d);
    }

    fn problem(&mut self, p: Problem) {
        let d = self.diag(p.line, p.key, p.message);
        self.errors.push(d);
    }

    /// Feeds one line (without its `\n`).
    pub(crate) fn line(&mut self, no: usize, raw: &str) {
        match lexer::lex(raw) {
            Ok(None) => {}
            Ok(Some(entry)) => self.entry(no, entry),
            Err(e) => {
                let d = self.diag(Some(no), e.key.as_deref(), e.message);
                self.errors.push(d);
            }
        }
    }

    fn section_name(&self) -> String {
        match self.section {
            Section::Global => String::new(),
            Section::Defaults => DEFAULTS.to_owned(),
            Section::Ticket(i) => self.tickets[i].name.clone(),
            Section::Broken => self.scratch.name.clone(),
        }
    }

    fn entry(&mut self, no: usize, e: Entry<'_>) {
        let value = e.value;
        if e.key == "ticket" {
            self.ticket(no, value);
            return;
        }
        if let Some(key) = find(GLOBAL_KEYS, e.key) {
            if self.value_fits(no, key, value) {
                self.global(no, key, value);
            }
            return;
        }
        let ticket_key =
            find(BOOTH_TICKET_KEYS, e.key).or_else(|| find(EXTENSION_TICKET_KEYS, e.key));
        let Some(key) = ticket_key else {
            self.unknown(no, e.key);
            return;
        };
        match self.section {
            Section::Global => self.error(
                no,
                key,
                format!(
                    "{key} = {}: {key} is a ticket setting, but no `ticket = \"name\"` line comes \
                     before it (booth: \"Unexpected keyword\"); move it into a ticket section",
                    quote(value)
                ),
            ),
            Section::Defaults
                if !INHERITED_BY_BOOTH.contains(&key) && !EXTENSION_TICKET_KEYS.contains(&key) =>
            {
                // booth accepts the line and ignores it; so do we, so that
                // mixed formations behave alike, but not silently.
                self.warn(
                    no,
                    key,
                    format!(
                        "{key} = {} in ticket \"{DEFAULTS}\" is IGNORED, as booth ignores it: \
                         booth does not pass {key} on to the tickets that follow (it inherits \
                         only {}); set {key} in each ticket section to have it",
                        quote(value),
                        list(INHERITED_BY_BOOTH)
                    ),
                )
            }
            _ => {
                if self.value_fits(no, key, value) {
                    self.ticket_key(no, key, value);
                }
            }
        }
    }

    /// booth's 64-character value limit, lifted for local-only values (#34).
    fn value_fits(&mut self, no: usize, key: &'static str, value: &str) -> bool {
        if value.len() > VALUE_MAX && !LONG_VALUES.contains(&key) {
            self.error(
                no,
                key,
                format!(
                    "{key} = {}: the value is {} characters long; booth accepts at most \
                     {VALUE_MAX}",
                    quote(value),
                    value.len()
                ),
            );
            return false;
        }
        true
    }

    fn unknown(&mut self, no: usize, key: &str) {
        let mut all: Vec<&str> = GLOBAL_KEYS.to_vec();
        all.push("ticket");
        all.extend_from_slice(BOOTH_TICKET_KEYS);
        all.extend_from_slice(EXTENSION_TICKET_KEYS);
        let hint = suggest(key, &all)
            .map(|s| format!(" (did you mean {s}?)"))
            .unwrap_or_default();
        let message = match self.section {
            Section::Global => format!(
                "unknown key {}{hint}; valid keys before the first ticket section: {}, ticket",
                quote(key),
                list(GLOBAL_KEYS)
            ),
            _ => {
                let mut ticket_keys = BOOTH_TICKET_KEYS.to_vec();
                ticket_keys.extend_from_slice(EXTENSION_TICKET_KEYS);
                format!(
                    "unknown key {} in ticket {}{hint}; ticket keys: {}; keys allowed anywhere: \
                     {}, ticket",
                    quote(key),
                    quote(&self.section_name()),
                    list(&ticket_keys),
                    list(GLOBAL_KEYS)
                )
            }
        };
        self.error(no, key, message);
    }

    /// Warns when a global key is given again (booth keeps the last value).
    fn note_global(&mut self, no: usize, key: &'static str) {
        if let Some(prev) = self.globals.insert(key, no) {
            self.warn(
                no,
                key,
                format!(
                    "{key} is already set on line {prev}; this line replaces that value (booth, \
                     too, uses the last one)"
                ),
            );
        }
    }

    fn global(&mut self, no: usize, key: &'static str, value: &str) {
        let q = quote(value);
        match key {
            "transport" => {
                if let Some(&prev) = self.globals.get(key) {
                    self.error(
                        no,
                        key,
                        format!(
                            "transport = {q}: transport is already set on line {prev}; booth \
                             allows it only once"
                        ),
                    );
                    return;
                }
                self.globals.insert(key, no);
                if value.eq_ignore_ascii_case("sctp") {
                    self.error(
                        no,
                        key,
                        format!(
                            "transport = {q}: booth accepts SCTP but its SCTP transport sends \
                             nothing, so the formation could never agree; use transport = UDP \
                             (or leave it out: UDP is the default)"
                        ),
                    );
                } else if !value.eq_ignore_ascii_case("udp") {
                    self.error(
                        no,
                        key,
                        format!("transport = {q}: the only working transport is UDP"),
                    );
                }
            }
            "port" => {
                if let Some(m) = self.members.first() {
                    let msg = format!(
                        "port = {q} comes after {} = {} on line {}: booth gives each member the \
                         port set before its line and silently ignores a later port for \
                         earlier members, so booth and we would disagree about the port; move \
                         the port line above all site and arbitrator lines",
                        role_key(m.role),
                        quote(&m.text),
                        m.line
                    );
                    self.error(no, key, msg);
                    return;
                }
                match parse_uint(value).filter(|p| (1..=65535).contains(p)) {
                    Some(p) => {
                        self.note_global(no, key);
                        self.port = p as u16;
                    }
                    None => self.error(
                        no,
                        key,
                        format!("port = {q}: a port is an integer from 1 to 65535 (default 9929)"),
                    ),
                }
            }
            "name" => {
                if valid_instance_name(value) {
                    self.note_global(no, key);
                    self.name = Some(value.to_owned());
                } else {
                    self.error(no, key, format!("name = {q}: {INSTANCE_NAME_RULE}"));
                }
            }
            "authfile" => {
                self.note_global(no, key);
                self.authfile = Some((value.to_owned(), no));
            }
            "maxtimeskew" => match parse_uint(value).filter(|s| *s <= timing::TIME_MAX_MS / 1000) {
                Some(s) => {
                    self.note_global(no, key);
                    self.maxtimeskew = s;
                }
                None => self.error(
                    no,
                    key,
                    format!(
                        "maxtimeskew = {q}: an integer number of seconds (no unit; default 600)"
                    ),
                ),
            },
            "site" => self.member(no, Role::Site, value),
            "arbitrator" => self.member(no, Role::Arbitrator, value),
            "site-user" | "site-group" | "arbitrator-user" | "arbitrator-group" => {
                if value.contains(is_space) {
                    self.error(
                        no,
                        key,
                        format!("{key} = {q}: a user or group name is a single word"),
                    );
                    return;
                }
                self.note_global(no, key);
                let slot = match key {
                    "site-user" => &mut self.site_user,
                    "site-group" => &mut self.site_group,
                    "arbitrator-user" => &mut self.arbitrator_user,
                    _ => &mut self.arbitrator_group,
                };
                *slot = value.to_owned();
            }
            "debug" => match parse_uint(value).and_then(|d| u32::try_from(d).ok()) {
                Some(d) => {
                    self.note_global(no, key);
                    self.debug = d;
                }
                None => self.error(
                    no,
                    key,
                    format!("debug = {q}: the debug level is a non-negative integer"),
                ),
            },
            "allow-even-members" => match parse_bool(value) {
                Some(b) => {
                    self.note_global(no, key);
                    self.allow_even = b;
                }
                None => self.error(
                    no,
                    key,
                    format!("allow-even-members = {q}: expected yes or no"),
                ),
            },
            _ => {}
        }
    }

    fn member(&mut self, no: usize, role: Role, value: &str) {
        let key = role_key(role);
        let q = quote(value);
        if value.len() > NAME_MAX {
            self.error(
                no,
                key,
                format!(
                    "{key} = {q}: {} characters; booth accepts at most {NAME_MAX} for an address",
                    value.len()
                ),
            );
            return;
        }
        if self.members.len() == MAX_MEMBERS {
            self.error(
                no,
                key,
                format!(
                    "{key} = {q}: more than {MAX_MEMBERS} sites and arbitrators (booth's limit)"
                ),
            );
            return;
        }
        let addr = match resolve(value) {
            Ok(addr) => addr,
            Err(why) => {
                self.error(no, key, format!("{key} = {q}: {why}"));
                return;
            }
        };
        let id = site_id(addr.ip());
        if let Some(prev) = self.members.iter().find(|m| m.id == id) {
            let msg = format!(
                "{key} = {q} has the same site ID {:#010X} as {} = {} on line {}: the same \
                 address twice, or a CRC-32 collision between two addresses (booth refuses this \
                 too); use another address for one of them",
                id.0,
                role_key(prev.role),
                quote(&prev.text),
                prev.line
            );
            self.error(no, key, msg);
            return;
        }
        self.members.push(MemberInfo {
            role,
            id,
            addr,
            text: value.to_owned(),
            line: no,
        });
    }

    fn ticket(&mut self, no: usize, name: &str) {
        self.seen.clear();
        if name == DEFAULTS {
            self.section = Section::Defaults;
            return;
        }
        self.section = Section::Broken;
        self.scratch = Draft::inherit(&self.defaults, name, no);
        let q = quote(name);
        if name.len() > NAME_MAX {
            self.error(
                no,
                "ticket",
                format!(
                    "ticket = {q}: the name is {} characters long; a ticket name has at most \
                     {NAME_MAX} (it travels in a 64-byte field)",
                    name.len()
                ),
            );
            return;
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '/')))
        {
            self.error(
                no,
                "ticket",
                format!(
                    "ticket = {q}: a ticket name may contain only letters, digits, '-' and '/' \
                     (booth's rule), not {}",
                    quote(&bad.to_string())
                ),
            );
            return;
        }
        if let Some(prev) = self.tickets.iter().find(|t| t.name == name) {
            let msg = format!(
                "ticket = {q}: ticket {q} is already defined on line {}",
                prev.line
            );
            self.error(no, "ticket", msg);
            return;
        }
        if self.tickets.len() == MAX_TICKETS {
            self.error(
                no,
                "ticket",
                format!("ticket = {q}: more than {MAX_TICKETS} tickets; this build supports at most {MAX_TICKETS}"),
            );
            return;
        }
        self.tickets.push(Draft::inherit(&self.defaults, name, no));
        self.section = Section::Ticket(self.tickets.len() - 1);
    }

    fn draft(&mut self) -> &mut Draft {
        match self.section {
            Section::Ticket(i) => &mut self.tickets[i],
            Section::Defaults => &mut self.defaults,
            Section::Global | Section::Broken => &mut self.scratch,
        }
    }

    /// A time value; remembers the first booth time that is not whole seconds.
    fn time(&mut self, no: usize, key: &'static str, value: &str) -> Option<u64> {
        match parse_time(value) {
            Ok(ms) => {
                if ms % 1000 != 0 && BOOTH_TICKET_KEYS.contains(&key) && self.ms_value.is_none() {
                    self.ms_value = Some((no, key, value.to_owned()));
                }
                Some(ms)
            }
            Err(why) => {
                self.error(no, key, format!("{key} = {}: {why}", quote(value)));
                None
            }
        }
    }

    fn ticket_key(&mut self, no: usize, key: &'static str, value: &str) {
        if key != "attr-prereq" {
            if let Some(prev) = self.seen.insert(key, no) {
                self.warn(
                    no,
                    key,
                    format!(
                        "{key} is already set on line {prev} in this section; this line replaces \
                         that value (booth, too, uses the last one)"
                    ),
                );
            }
        }
        let from = Source::Line(no);
        let q = quote(value);
        match key {
            "expire" | "timeout" | "renewal-freq" | "acquire-after" | "safety-margin"
            | "handler-timeout" | "stop-time" => {
                let Some(ms) = self.time(no, key, value) else {
                    return;
                };
                let positive = matches!(
                    key,
                    "expire" | "timeout" | "renewal-freq" | "handler-timeout"
                );
                if positive && ms == 0 {
                    self.error(no, key, format!("{key} = {q}: must be greater than 0"));
                    return;
                }
                let s = Setting::new(ms, from);
                let d = self.draft();
                match key {
                    "expire" => d.expire = s,
                    "timeout" => d.timeout = s,
                    "renewal-freq" => d.renewal = Some(s),
                    "acquire-after" => d.acquire_after = Some(s),
                    "safety-margin" => d.margin = s,
                    "handler-timeout" => d.handler_timeout = Some(s),
                    _ => d.stop_time = s,
                }
            }
            "retries" => match parse_uint(value).filter(|r| (3..=100).contains(r)) {
                Some(r) => self.draft().retries = Setting::new(r as u8, from),
                None => self.error(
                    no,
                    key,
                    format!("retries = {q}: an integer from 3 to 100 (default 10)"),
                ),
            },
            "mode" => {
                let manual = value.eq_ignore_ascii_case("manual");
                if !manual && !value.eq_ignore_ascii_case("automatic") {
                    self.warn(
                        no,
                        key,
                        format!(
                            "mode = {q} is neither \"automatic\" nor \"manual\"; booth (and we) \
                             treat it as automatic"
                        ),
                    );
                }
                let mode = if manual {
                    Mode::Manual
                } else {
                    Mode::Automatic
                };
                self.draft().mode = Setting::new(mode, from);
            }
            "weights" => {
                let mut weights = Vec::new();
                for word in value
                    .split(|c: char| is_space(c) || ",;:-+".contains(c))
                    .filter(|w| !w.is_empty())
                {
                    match parse_uint(word).and_then(|w| u32::try_from(w).ok()) {
                        Some(w) => weights.push(w),
                        None => {
                            self.error(
                                no,
                                key,
                                format!(
                                    "weights = {q}: {} is not a non-negative integer; weights \
                                     are integers separated by blanks or any of , ; : - +",
                                    quote(word)
                                ),
                            );
                            return;
                        }
                    }
                }
                self.warn(
                    no,
                    key,
                    format!(
                        "weights = {q}: parsed but unused by booth (and by us); it has no effect"
                    ),
                );
                self.draft().weights = Some(Setting::new(weights, from));
            }
            "before-acquire-handler" => {
                let argv: Vec<String> = value
                    .split(is_space)
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect();
                if argv.len() > HANDLER_ARGS_MAX {
                    self.error(
                        no,
                        key,
                        format!(
                            "before-acquire-handler = {q}: {} words; booth runs a program with \
                             at most {HANDLER_ARGS_MAX} (program and arguments)",
                            argv.len()
                        ),
                    );
                    return;
                }
                self.draft().handler = Some(Setting::new(argv, from));
            }
            "attr-prereq" => self.attr_prereq(no, value),
            "max-clock-drift" => {
                let digits = value
                    .strip_suffix("ppm")
                    .map_or(value, |d| d.trim_end_matches(is_space));
                match parse_uint(digits).filter(|p| *p < 100_000) {
                    Some(ppm) => self.draft().drift = Setting::new(ppm as u32, from),
                    None => self.error(
                        no,
                        key,
                        format!(
                            "max-clock-drift = {q}: the bound on any member's clock-rate error \
                             in parts per million, an integer below 100000 (default 1000)"
                        ),
                    ),
                }
            }
            _ => {}
        }
    }

    fn attr_prereq(&mut self, no: usize, value: &str) {
        let key = "attr-prereq";
        let q = quote(value);
        let words: Vec<&str> = value.split(is_space).filter(|w| !w.is_empty()).collect();
        let form = "expected `<auto|manual> <attribute> <eq|ne> <value>`, e.g. attr-prereq = \
                    auto repl-state eq ACTIVE";
        if words.len() < 4 {
            self.error(no, key, format!("attr-prereq = {q}: {form}"));
            return;
        }
        let kind = match words[0] {
            "auto" => PrereqKind::Auto,
            "manual" => PrereqKind::Manual,
            other => {
                self.error(
                    no,
                    key,
                    format!(
                        "attr-prereq = {q}: {} must be auto (checked before failover elections) \
                         or manual (checked before admin grants)",
                        quote(other)
                    ),
                );
                return;
            }
        };
        let op = match words[2] {
            "eq" => PrereqOp::Eq,
            "ne" => PrereqOp::Ne,
            other => {
                self.error(
                    no,
                    key,
                    format!("attr-prereq = {q}: {} must be eq or ne", quote(other)),
                );
                return;
            }
        };
        if words[1].len() > NAME_MAX || words[3].len() > ATTR_VALUE_MAX {
            self.error(
                no,
                key,
                format!(
                    "attr-prereq = {q}: an attribute name has at most {NAME_MAX} characters, a \
                     value at most {ATTR_VALUE_MAX}"
                ),
            );
            return;
        }
        if words.len() > 4 {
            self.warn(
                no,
                key,
                format!(
                    "attr-prereq = {q}: booth ignores everything after the fourth word ({}); the \
                     value compared is {}",
                    quote(&words[4..].join(" ")),
                    quote(words[3])
                ),
            );
        }
        self.draft().prereqs.push(AttrPrereq {
            kind,
            attr: words[1].to_owned(),
            op,
            value: words[3].to_owned(),
        });
    }

    /// Member count, parity and roles.
    fn check_members(&mut self, tickets: &[Ticket]) {
        let n = self.members.len();
        if n == 0 {
            let d = self.diag(
                None,
                None,
                "no site or arbitrator lines: a booth formation needs at least one site (and for \
                 automatic tickets an odd number of members)"
                    .to_owned(),
            );
            self.errors.push(d);
            return;
        }
        if !self.members.iter().any(|m| m.role == Role::Site) {
            let line = self.members[0].line;
            self.error(
                line,
                "arbitrator",
                "only arbitrators are configured: at least one `site` is needed to hold tickets"
                    .to_owned(),
            );
            return;
        }
        if n.is_multiple_of(2) && !self.allow_even {
            let automatic: Vec<&str> = tickets
                .iter()
                .filter(|t| t.mode.value == Mode::Automatic)
                .map(|t| t.name.as_str())
                .collect();
            if automatic.is_empty() {
                return;
            }
            let sites = self.members.iter().filter(|m| m.role == Role::Site).count();
            let last = self.members[n - 1].line;
            let shown = if automatic.len() > 3 {
                format!("{}, …", automatic[..3].join(", "))
            } else {
                automatic.join(", ")
            };
            // Only liveness suffers (a majority is still needed to hold a
            // ticket), and booth starts such a file, so we do too.
            self.warn(
                last,
                role_key(self.members[n - 1].role),
                format!(
                    "{n} members ({sites} sites, {} arbitrators) is an even number: if the \
                     formation splits into two halves, neither has a majority and the automatic \
                     tickets ({shown}) cannot fail over; add or remove an arbitrator (booth \
                     warns too; allow-even-members = yes silences this in files no booth 1.x \
                     member reads)",
                    n - sites
                ),
            );
        }
    }

    /// `name`, or the file name without its extension.
    fn instance_name(&mut self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let stem = Path::new(self.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("");
        if valid_instance_name(stem) {
            return stem.to_owned();
        }
        let d = self.diag(
            None,
            Some("name"),
            format!(
                "the instance name is taken from the file name, but {} is not a valid one \
                 ({INSTANCE_NAME_RULE}); add a `name = …` line",
                quote(stem)
            ),
        );
        self.errors.push(d);
        String::new()
    }

    /// The key from `authfile`, with the line of that key.
    fn load_key(&mut self) -> Option<(Vec<u8>, usize)> {
        let (path, line) = self.authfile.clone()?;
        let q = quote(&path);
        if Path::new(&path).is_relative() {
            self.warn(
                line,
                "authfile",
                format!(
                    "authfile = {q}: a relative path is read from the daemon's working \
                     directory; use an absolute path"
                ),
            );
        }
        match authfile::read(Path::new(&path)) {
            Ok(k) => {
                for w in k.warnings {
                    self.warn(line, "authfile", format!("authfile = {q}: {w}"));
                }
                Some((k.key, line))
            }
            Err(why) => {
                self.error(line, "authfile", format!("authfile = {q}: {why}"));
                None
            }
        }
    }

    /// Settings booth accepts that deserve a second look.
    fn warn_about_tickets(&mut self, tickets: &[Ticket]) {
        for t in tickets {
            let q = quote(&t.name);
            if t.mode.value == Mode::Automatic && !t.acquire_after_given {
                self.warn(
                    t.line,
                    "acquire-after",
                    format!(
                        "ticket {q}: acquire-after is not set, so booth's default of 0 applies: \
                         when the lease moves, another site may start the resources at once, \
                         before this site has stopped them (lease-safety.md §6.5); set \
                         acquire-after to at least the time the resources need to stop or be \
                         fenced (booth's manual suggests 60), or write acquire-after = 0 to keep \
                         0 without this warning"
                    ),
                );
            }
            if let (None, Some(ht)) = (&t.handler, &t.handler_timeout) {
                self.warn(
                    t.line,
                    "handler-timeout",
                    format!(
                        "ticket {q}: handler-timeout = {} is set but there is no \
                         before-acquire-handler",
                        fmt_ms(ht.value)
                    ),
                );
            }
        }
    }

    /// Ends the file: cross-checks, key file, and the core configuration.
    pub(crate) fn finish(mut self) -> Result<Loaded, ConfigError> {
        let drafts = std::mem::take(&mut self.tickets);
        let mut tickets: Vec<Ticket> = drafts.into_iter().map(Draft::resolve).collect();
        if self.errors.is_empty() {
            self.check_members(&tickets);
        }

        let name = self.instance_name();
        let key = self.load_key();

        if !self.errors.is_empty() {
            return Err(ConfigError {
                diagnostics: self.errors,
            });
        }

        let unit = if self.ms_value.is_some() {
            WireTimeUnit::Millis
        } else {
            WireTimeUnit::Seconds
        };
        if let Some((line, k, value)) = self.ms_value.clone() {
            self.warn(
                line,
                k,
                format!(
                    "{k} = {}: not a whole number of seconds, so booth (and we) send lease times \
                     on the wire in milliseconds instead of seconds for every ticket; every \
                     member's configuration must make the same choice, or peers misread leases \
                     by a factor of 1000",
                    quote(&value)
                ),
            );
        }

        for t in &mut tickets {
            for w in timing::make_safe(t, unit) {
                let d = self.diag(w.line, w.key, w.message);
                self.warnings.push(d);
            }
        }

        let mut core = Config::<MAX_TICKETS>::new();
        for m in &mut self.members {
            m.addr.set_port(self.port);
            // Capacity: at most MAX_MEMBERS were accepted above.
            let _ = core.members.push(Member {
                id: m.id,
                role: m.role,
            });
        }
        for t in &tickets {
            let pushed = t.to_core().is_some_and(|c| core.tickets.push(c).is_ok());
            if !pushed {
                self.error(
                    t.line,
                    "ticket",
                    format!("ticket {}: cannot be represented", quote(&t.name)),
                );
            }
        }
        if let Some((k, line)) = &key {
            match heapless::Vec::from_slice(k) {
                Ok(v) => core.key = Some(v),
                Err(_) => self.error(*line, "authfile", "key longer than 64 bytes".to_owned()),
            }
        }
        core.max_time_skew = Duration::from_secs(self.maxtimeskew);
        core.wire_unit = unit;

        for (t, c) in tickets.iter().zip(core.tickets.iter()) {
            for p in timing::check_ticket(t, c, &core.members, &self.members, unit) {
                self.problem(p);
            }
        }
        if self.errors.is_empty() {
            if let Err(e) = core.validate() {
                let ctx = timing::Ctx {
                    tickets: &tickets,
                    core_tickets: &core.tickets,
                    members: &self.members,
                    unit,
                    key: key.as_ref().map(|(k, line)| (*line, k.len())),
                };
                let p = timing::explain(e, &ctx);
                self.problem(p);
            }
        }
        if !self.errors.is_empty() {
            return Err(ConfigError {
                diagnostics: self.errors,
            });
        }

        self.warn_about_tickets(&tickets);
        self.warnings.sort_by_key(|w| w.line.unwrap_or(0));
        let authfile = self.authfile.as_ref().map(|(p, _)| PathBuf::from(p));
        Ok(Loaded {
            core,
            path: PathBuf::from(self.file),
            members: self.members,
            tickets: tickets.iter().map(Ticket::info).collect(),
            port: self.port,
            name,
            transport: Transport::Udp,
            authfile,
            site_user: self.site_user,
            site_group: self.site_group,
            arbitrator_user: self.arbitrator_user,
            arbitrator_group: self.arbitrator_group,
            debug: self.debug,
            allow_even_members: self.allow_even,
            warnings: self.warnings,
        })
    }
}
