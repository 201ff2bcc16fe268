//! `booth.conf`: booth 1.x's configuration file, read as booth reads it, minus
//! booth's parser defects (booth-protocol.md §4 and §10.4).
//!
//! Every file booth 1.x accepts is accepted with the same meaning, except
//! where booth silently does something other than what the file says; those
//! are errors here, each naming the file, the line, the key and the value:
//!
//! * `port` after a `site`/`arbitrator` line (booth ignores it for earlier
//!   members, #31);
//! * an unquoted value followed by `# comment` (booth makes the comment part of
//!   the value, #33);
//! * `transport = SCTP` (accepted by booth, sends nothing, #35);
//! * a key file whose key starts with 0x00 (booth then runs without
//!   authentication, #12) or that is longer than booth reads (#13);
//! * timing relations that could let two sites hold a ticket at once
//!   ([`booth_core::Config::validate`], `lease-safety.md` §6.5).
//!
//! Keys in `ticket = "__defaults__"` that booth does not pass on to later
//! tickets (only `expire`, `timeout`, `retries`, `weights` and `mode` are,
//! #32) are ignored as booth ignores them, with a warning naming the line.
//!
//! Values booth accepts but that do nothing, or defaults we consider unsafe,
//! are reported in [`Loaded::warnings`] (`weights`, an unset `acquire-after`,
//! an even member count with automatic tickets (#36), timings lowered to be
//! safe,
//! a millisecond wire unit, an unusual `mode`, a key given twice...).
//!
//! Numbers are read strictly: where booth would take the leading digits of
//! `9929x` we refuse the value.
//!
//! # Extension keys
//!
//! booth 1.x does not know these keys and refuses a file that contains them
//! ("Unknown keyword"), so a file shared with booth members must not use them.
//!
//! | Key | Where | Default | Meaning |
//! |---|---|---|---|
//! | `allow-even-members` | global | `no` | no warning for an even member count with automatic tickets |
//! | `max-clock-drift` | ticket | `1000` | bound ρ on any member's clock-rate error, in ppm (optional `ppm` suffix) |
//! | `safety-margin` | ticket | `100ms` | time the holder gives up before its drift-corrected deadline |
//! | `handler-timeout` | ticket | none | longest run of the before-acquire-handler; must be below `renewal-freq` |
//! | `stop-time` | ticket | `0` | worst-case time for this site's resources to stop or be fenced; when set, `acquire-after` must be at least `stop-time + 2·ρ·expire` (`lease-safety.md` §3) |
//!
//! The four ticket keys may be set in `__defaults__` and are then inherited.
//! They never change the wire unit (only booth's own time keys do).

mod authfile;
mod diagnostics;
mod keys;
mod lexer;
mod regular_file;
mod ticket;
mod timing;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use booth_core::config::Config;
use booth_core::{Duration, Role, SiteId};

pub use diagnostics::{ConfigError, Diagnostic};

/// Ticket capacity of this build (booth itself has no limit).
pub const MAX_TICKETS: usize = 64;

/// UDP and TCP port when the file sets none.
pub const DEFAULT_PORT: u16 = 9929;

/// Where `-c NAME` looks for `NAME.conf`.
pub const CONFIG_DIR: &str = "/etc/booth";

/// The configuration used without `-c`.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/booth/booth.conf";

/// Largest configuration file we read.
const FILE_MAX: u64 = 1 << 20;

/// The transport between members. booth's SCTP stub is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
}

/// One `site` or `arbitrator` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub role: Role,
    /// booth's CRC-32 of the binary address.
    pub id: SiteId,
    /// The resolved address with the global port.
    pub addr: SocketAddr,
    /// The address or host name as written.
    pub text: String,
    /// Line of the `site`/`arbitrator` key.
    pub line: usize,
}

/// `auto` gates failover elections; `manual` gates admin grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrereqKind {
    Auto,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrereqOp {
    Eq,
    Ne,
}

/// `attr-prereq = <auto|manual> <attr> <eq|ne> <value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPrereq {
    pub kind: PrereqKind,
    pub attr: String,
    pub op: PrereqOp,
    pub value: String,
}

/// Per-ticket facts the core does not need (same order as `core.tickets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketInfo {
    pub name: String,
    /// Line of the `ticket = "…"` key.
    pub line: usize,
    /// `before-acquire-handler`, split on whitespace (program or directory
    /// first, at most 16 words).
    pub handler: Option<Vec<String>>,
    /// Longest run of the handler (extension key). None, the default, is
    /// booth's behaviour: the handler is never killed (booth's own
    /// `service-runnable` may take longer than `timeout`).
    pub handler_timeout: Option<Duration>,
    pub attr_prereqs: Vec<AttrPrereq>,
    /// `weights`, parsed but unused (as in booth).
    pub weights: Option<Vec<u32>>,
    /// Worst-case stop/fence time of this site's resources (extension key).
    pub stop_time: Duration,
}

/// A configuration ready to run: the core's part and the platform's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Members in file order, tickets, key, skew and wire unit.
    pub core: Config<MAX_TICKETS>,
    /// The file read (for `BOOTH_CONF_PATH`), or the origin given to [`parse`].
    pub path: PathBuf,
    /// Same order as `core.members`.
    pub members: Vec<MemberInfo>,
    /// Same order as `core.tickets`.
    pub tickets: Vec<TicketInfo>,
    pub port: u16,
    /// Instance name: `name`, or the file name without its extension.
    pub name: String,
    pub transport: Transport,
    pub authfile: Option<PathBuf>,
    /// Defaults hacluster / haclient (booth reads these keys wrongly, §10.4 #30).
    pub site_user: String,
    pub site_group: String,
    /// Defaults nobody / nobody; unlike booth we use them for arbitrators.
    pub arbitrator_user: String,
    pub arbitrator_group: String,
    pub debug: u32,
    pub allow_even_members: bool,
    /// Things booth accepts that deserve attention; the file is usable.
    pub warnings: Vec<Diagnostic>,
}

impl MemberInfo {
    /// The address as booth prints it (list, peers, status, the lock file,
    /// `BOOTH_LOCAL`, the process title): booth replaces a host name by the
    /// first address it resolves to when it reads the file, so a name never
    /// appears in its output.
    pub fn shown(&self) -> String {
        self.addr.ip().to_string()
    }
}

impl Loaded {
    /// The user and group a daemon in `role` runs as.
    pub fn user_and_group(&self, role: Role) -> (&str, &str) {
        match role {
            Role::Site => (&self.site_user, &self.site_group),
            Role::Arbitrator => (&self.arbitrator_user, &self.arbitrator_group),
        }
    }

    /// The member configured with exactly this address; the last one when
    /// several match, as booth's `find_myself()`.
    pub fn member_by_ip(&self, ip: IpAddr) -> Option<usize> {
        self.members.iter().rposition(|m| m.addr.ip() == ip)
    }
}

/// The file `-c ARG` names (booth-protocol.md §4.5): an argument without `/`
/// is a name under [`CONFIG_DIR`], with `.conf` appended when it has no dot;
/// anything else is a path. Without `-c`: [`DEFAULT_CONFIG_PATH`].
pub fn resolve_config_arg(arg: Option<&str>) -> PathBuf {
    match arg {
        None => PathBuf::from(DEFAULT_CONFIG_PATH),
        Some(a) if a.contains('/') => PathBuf::from(a),
        Some(a) if a.contains('.') => Path::new(CONFIG_DIR).join(a),
        Some(a) => Path::new(CONFIG_DIR).join(format!("{a}.conf")),
    }
}

/// Reads and checks a configuration file (and its key file).
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let mut bytes = Vec::new();
    regular_file::open(path)
        .and_then(|f| f.take(FILE_MAX + 1).read_to_end(&mut bytes))
        .map_err(|e| ConfigError::file(&shown, format!("cannot read the configuration: {e}")))?;
    if bytes.len() as u64 > FILE_MAX {
        return Err(ConfigError::file(
            &shown,
            format!("larger than {FILE_MAX} bytes; this is not a booth configuration"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        ConfigError {
            diagnostics: vec![Diagnostic {
                file: shown.clone(),
                line: Some(line),
                key: None,
                message: "not valid UTF-8 text".to_owned(),
            }],
        }
    })?;
    parse(&text, &shown)
}

/// Checks configuration text; `origin` is the file name used in messages and
/// for the default instance name (so without a `name` line its stem must be a
/// valid instance name). A configured `authfile` is read and host names are
/// resolved, once each.
pub fn parse(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
    let mut b = keys::Builder::new(origin);
    for (i, line) in text.split('\n').enumerate() {
        b.line(i + 1, line);
    }
    b.finish()
}
