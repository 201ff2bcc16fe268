//! The text of `booth list` and `booth peers` replies, exactly as booth
//! prints them (booth-protocol.md §6.3). Times are local, `%F %T`.

use booth_core::engine::{Owner, PeerStats, TicketView};
use booth_core::{Mode, Node, Now, Role};

/// Who leads, as `booth list` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderText<'a> {
    /// Never known since start, or lost: `NONE`.
    Unknown,
    /// Explicitly nobody (revoked): `none`.
    NoOne,
    /// A member's address as configured.
    Site(&'a str),
}

/// One ticket line's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketRow<'a> {
    pub name: &'a str,
    pub leader: LeaderText<'a>,
    /// Lease end (epoch seconds); `None` prints `INF`.
    pub expires: Option<i64>,
    /// Local leader whose CIB commit waits until then (epoch seconds).
    pub pending_until: Option<i64>,
    pub manual: bool,
}

/// `ticket: <t>, leader: <l>[, expires: <e>[ (commit pending until <p>)]][ [manual mode]]\n`.
pub fn ticket_line(row: &TicketRow, fmt: &dyn Fn(i64) -> String) -> String {
    let leader = match row.leader {
        LeaderText::Unknown => "NONE",
        LeaderText::NoOne => "none",
        LeaderText::Site(a) => a,
    };
    let mut s = format!("ticket: {}, leader: {leader}", row.name);
    if let LeaderText::Site(_) = row.leader {
        let expires = match row.expires {
            Some(e) if !row.manual => fmt(e),
            _ => "INF".to_owned(),
        };
        s.push_str(&format!(", expires: {expires}"));
        if let Some(p) = row.pending_until {
            s.push_str(&format!(" (commit pending until {})", fmt(p)));
        }
    }
    if row.manual {
        s.push_str(" [manual mode]");
    }
    s.push('\n');
    s
}

/// The whole `booth list` text for a node. `addrs` are the members'
/// addresses as configured.
pub fn list_text<const T: usize, const M: usize, const R: usize>(
    node: &Node<T, M, R>,
    addrs: &[String],
    now: &Now,
    fmt: &dyn Fn(i64) -> String,
) -> String {
    (0..node.config().tickets.len())
        .map(|i| ticket_line_at(node, i, addrs, now, fmt))
        .collect()
}

/// One ticket's `booth list` line (empty for an unknown index).
pub fn ticket_line_at<const T: usize, const M: usize, const R: usize>(
    node: &Node<T, M, R>,
    i: usize,
    addrs: &[String],
    now: &Now,
    fmt: &dyn Fn(i64) -> String,
) -> String {
    let (Some(tc), Some(view)) = (node.config().tickets.get(i), node.ticket_view(i)) else {
        return String::new();
    };
    let row = row_of(
        node,
        &view,
        tc.name.as_str(),
        tc.mode == Mode::Manual,
        addrs,
        now,
    );
    ticket_line(&row, fmt)
}

fn row_of<'a, const T: usize, const M: usize, const R: usize>(
    node: &Node<T, M, R>,
    view: &TicketView,
    name: &'a str,
    manual: bool,
    addrs: &'a [String],
    now: &Now,
) -> TicketRow<'a> {
    let cfg = node.config();
    let leader = match view.owner {
        Owner::Unknown => LeaderText::Unknown,
        Owner::NoOne => LeaderText::NoOne,
        Owner::Site(id) => match cfg.member_index(id).and_then(|m| addrs.get(m)) {
            Some(a) => LeaderText::Site(a.as_str()),
            None => LeaderText::Unknown,
        },
    };
    let me = cfg.members.get(node.me()).map(|m| m.id);
    let local_leader = matches!(view.owner, Owner::Site(id) if Some(id) == me);
    let epoch = |t| now.wall_at(t).secs() as i64;
    TicketRow {
        name,
        leader,
        expires: view.expires.map(epoch),
        pending_until: view
            .commit_pending_until
            .filter(|p| local_leader && *p > now.mono)
            .map(epoch),
        manual,
    }
}

/// `booth list` option bit asking a booth-rs daemon to append one
/// [`detail_lines`] line per ticket (`booth list --json` sets it). booth 1.x
/// daemons ignore request options of `list`, so they answer as always.
pub const OPT_LIST_DETAILS: u32 = 1 << 16;

/// Prefix of a detail line.
pub const DETAIL_PREFIX: &str = "booth-rs: ";

/// One line per ticket after the `booth list` text, for `--json`:
/// `booth-rs: ticket=T granted_here=1 deadline_in_ms=8874 deadline_epoch_ms=…
/// margin_ms=2096 foreign_grant_in_ms=10970 guard=pid:1234`. `deadline_*` is
/// this site's own deadline while granted here (the lease guard revokes at
/// it); `margin_ms` how much earlier that deadline is than the earliest
/// instant any other site may be granted ([`TicketConfig::holder_margin`]);
/// `foreign_grant_in_ms` that instant. `-` when not granted here. `guard`
/// is the lease guard's process (`pid:N`), `down`, or `none` (arbitrators).
///
/// [`TicketConfig::holder_margin`]: booth_core::config::TicketConfig::holder_margin
pub fn detail_lines<const T: usize, const M: usize, const R: usize>(
    node: &Node<T, M, R>,
    now: &Now,
    guard: &str,
) -> String {
    let mut out = String::new();
    for (i, tc) in node.config().tickets.iter().enumerate() {
        let Some(view) = node.ticket_view(i) else {
            continue;
        };
        let margin = tc.holder_margin().as_millis();
        let deadline = view.deadline.filter(|_| view.granted);
        let dash = || "-".to_owned();
        let in_ms = |t: booth_core::Instant| t.saturating_since(now.mono).as_millis();
        out.push_str(&format!(
            "{DETAIL_PREFIX}ticket={} granted_here={} deadline_in_ms={} deadline_epoch_ms={} \
             margin_ms={margin} foreign_grant_in_ms={} guard={guard}\n",
            tc.name,
            u8::from(view.granted),
            deadline.map_or_else(dash, |d| in_ms(d).to_string()),
            deadline.map_or_else(dash, |d| (now.wall_at(d).0 / 1000).to_string()),
            deadline.map_or_else(dash, |d| (in_ms(d) + margin).to_string()),
        ));
    }
    out
}

/// One member's `booth peers` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRow<'a> {
    pub role: Role,
    pub addr: &'a str,
    /// Epoch seconds of the last packet (0 when none, as booth shows it).
    pub last_recv: i64,
    pub stats: PeerStats,
    /// Sends that failed locally.
    pub send_errors: u32,
}

pub fn peer_block(row: &PeerRow, fmt: &dyn Fn(i64) -> String) -> String {
    let kind = match row.role {
        Role::Site => "site",
        Role::Arbitrator => "arbitrator",
    };
    let s = &row.stats;
    format!(
        "{kind:<12} {}, last recv: {}\n\tSent pkts:{} error:{} resends:{}\n\
         \tRecv pkts:{} error:{} authfail:{} invalid:{}\n\n",
        row.addr,
        fmt(row.last_recv),
        s.sent,
        row.send_errors,
        s.resends,
        s.recv,
        s.errors,
        s.authfail,
        s.invalid
    )
}

/// The whole `booth peers` text: every member but us.
pub fn peers_text<const T: usize, const M: usize, const R: usize>(
    node: &Node<T, M, R>,
    addrs: &[String],
    send_errors: &[u32],
    now: &Now,
    fmt: &dyn Fn(i64) -> String,
) -> String {
    let cfg = node.config();
    let mut out = String::new();
    for (i, m) in cfg.members.iter().enumerate() {
        if i == node.me() {
            continue;
        }
        let Some(stats) = node.peer_stats(i) else {
            continue;
        };
        let row = PeerRow {
            role: m.role,
            addr: addrs.get(i).map(String::as_str).unwrap_or("?"),
            last_recv: stats
                .last_recv
                .map(|t| now.wall_at(t).secs() as i64)
                .unwrap_or(0),
            stats: *stats,
            send_errors: send_errors.get(i).copied().unwrap_or(0),
        };
        out.push_str(&peer_block(&row, fmt));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::config::{Config, Member, TicketConfig};
    use booth_core::{Duration, Instant, SiteId, WallTime};

    fn fmt(secs: i64) -> String {
        format!("<{secs}>")
    }

    #[test]
    fn ticket_lines_match_booth() {
        let row = TicketRow {
            name: "tA",
            leader: LeaderText::Unknown,
            expires: Some(5),
            pending_until: None,
            manual: false,
        };
        assert_eq!(ticket_line(&row, &fmt), "ticket: tA, leader: NONE\n");
        let revoked = TicketRow {
            leader: LeaderText::NoOne,
            ..row
        };
        assert_eq!(ticket_line(&revoked, &fmt), "ticket: tA, leader: none\n");
        let held = TicketRow {
            leader: LeaderText::Site("127.0.0.21"),
            expires: Some(1_795_594_217),
            ..row
        };
        assert_eq!(
            ticket_line(&held, &fmt),
            "ticket: tA, leader: 127.0.0.21, expires: <1795594217>\n"
        );
        let pending = TicketRow {
            pending_until: Some(1_795_594_227),
            ..held
        };
        assert_eq!(
            ticket_line(&pending, &fmt),
            "ticket: tA, leader: 127.0.0.21, expires: <1795594217> (commit pending until <1795594227>)\n"
        );
        let manual = TicketRow {
            manual: true,
            ..held
        };
        assert_eq!(
            ticket_line(&manual, &fmt),
            "ticket: tA, leader: 127.0.0.21, expires: INF [manual mode]\n"
        );
        let manual_free = TicketRow {
            manual: true,
            ..row
        };
        assert_eq!(
            ticket_line(&manual_free, &fmt),
            "ticket: tA, leader: NONE [manual mode]\n"
        );
        // Real local time formatting has booth's shape.
        let real = ticket_line(&held, &|s| crate::daemon::localtime::format(s));
        assert!(real.starts_with("ticket: tA, leader: 127.0.0.21, expires: 2026-11-"));
        assert_eq!(
            real.len(),
            "ticket: tA, leader: 127.0.0.21, expires: ".len() + 20
        );
    }

    #[test]
    fn peer_block_matches_booth() {
        let row = PeerRow {
            role: Role::Site,
            addr: "127.0.0.3",
            last_recv: 7,
            stats: PeerStats {
                sent: 4,
                resends: 1,
                recv: 5,
                errors: 2,
                authfail: 3,
                invalid: 6,
                last_recv: None,
            },
            send_errors: 9,
        };
        assert_eq!(
            peer_block(&row, &fmt),
            "site         127.0.0.3, last recv: <7>\n\tSent pkts:4 error:9 resends:1\n\
             \tRecv pkts:5 error:2 authfail:3 invalid:6\n\n"
        );
        let arb = PeerRow {
            role: Role::Arbitrator,
            ..row
        };
        assert!(peer_block(&arb, &fmt).starts_with("arbitrator   127.0.0.3, last recv"));
    }

    #[test]
    fn node_texts() {
        let mut c: Config<4> = Config::new();
        for (a, role) in [
            ([127, 0, 0, 2], Role::Site),
            ([127, 0, 0, 3], Role::Site),
            ([127, 0, 0, 4], Role::Arbitrator),
        ] {
            c.members
                .push(Member {
                    id: SiteId::from_ipv4(a),
                    role,
                })
                .unwrap();
        }
        let t = TicketConfig::new("tA").unwrap().with_timing(
            Duration::from_secs(10),
            Duration::from_secs(1),
            3,
        );
        c.tickets.push(t).unwrap();
        let now = Now {
            mono: Instant(1000),
            wall: WallTime::from_secs(100),
        };
        let node = Node::new(c, 0, 1, now, &[]).unwrap();
        let addrs: Vec<String> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            list_text(&node, &addrs, &now, &fmt),
            "ticket: tA, leader: NONE\n"
        );
        assert_eq!(
            detail_lines(&node, &now, "pid:9"),
            "booth-rs: ticket=tA granted_here=0 deadline_in_ms=- deadline_epoch_ms=- \
             margin_ms=100 foreign_grant_in_ms=- guard=pid:9\n"
        );
        let peers = peers_text(&node, &addrs, &[0, 2, 0], &now, &fmt);
        assert_eq!(
            peers,
            "site         127.0.0.3, last recv: <0>\n\tSent pkts:0 error:2 resends:0\n\
             \tRecv pkts:0 error:0 authfail:0 invalid:0\n\n\
             arbitrator   127.0.0.4, last recv: <0>\n\tSent pkts:0 error:0 resends:0\n\
             \tRecv pkts:0 error:0 authfail:0 invalid:0\n\n"
        );
    }
}
