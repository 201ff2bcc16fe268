//! Which daemon a client command talks to (booth-protocol.md §4.4, §6.1):
//! `-s ADDRESS`, `-s HOSTNAME` (resolved to IPv4), `-s other` (the only other
//! site; exactly two sites), or by default the member configured on a local
//! interface or subnet. booth asserts or dereferences NULL when nothing
//! matches (§10.3 #23); we say what is wrong instead.

use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};

use booth_core::Role;

use crate::config::MemberInfo;
use crate::netif;

use super::output::msg;

/// What we know about the local member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// Index into the configured members.
    Member(usize),
    /// No configured address is on a local interface or subnet.
    NotFound,
    /// The local addresses could not be listed.
    Unknown(String),
}

impl Local {
    pub fn index(&self) -> Option<usize> {
        match self {
            Local::Member(i) => Some(*i),
            _ => None,
        }
    }
}

/// The local member among `members`, given the interface addresses
/// `local` (address, prefix length): an exact address first, else the
/// longest prefix match (what booth's CLI accepts).
pub fn pick_local(members: &[MemberInfo], local: &[(IpAddr, u8)]) -> Local {
    let ips: Vec<IpAddr> = members.iter().map(|m| m.addr.ip()).collect();
    match netif::find_exact(&ips, local).or_else(|| netif::find_by_prefix(&ips, local)) {
        Some(i) if i < members.len() => Local::Member(i),
        _ => Local::NotFound,
    }
}

/// [`pick_local`] with this host's addresses.
pub fn find_local(members: &[MemberInfo]) -> Local {
    match netif::local_addresses() {
        Ok(addrs) => pick_local(members, &addrs),
        Err(e) => Local::Unknown(e.to_string()),
    }
}

/// Why no daemon could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// `-s` names an address or host that is not a configured member
    /// (the text given, and the address a host name resolved to).
    NotConfigured(String, Option<IpAddr>),
    /// `-s HOST` did not resolve to an IPv4 address.
    Resolve { host: String, err: String },
    /// No `-s` and no local member: the configured addresses.
    NoLocal { configured: Vec<String> },
    /// No `-s` and the interface list failed.
    LocalUnknown(String),
    /// `-s other` with a number of sites other than two.
    OtherNeedsTwoSites(usize),
    /// `-s other` but this host is not one of the two sites.
    OtherNotFromSite,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::NotConfigured(s, None) => f.write_str(&msg::site_not_found(s)),
            TargetError::NotConfigured(s, Some(ip)) => {
                write!(f, "{} (resolved to {ip})", msg::site_not_found(s))
            }
            TargetError::Resolve { host, err } => write!(
                f,
                "cannot resolve \"{host}\" to an IPv4 address ({err}); \
                 give a configured member's address with -s"
            ),
            TargetError::NoLocal { configured } => write!(
                f,
                "cannot find the local booth member: none of the configured addresses ({}) \
                 is on a local interface or subnet; choose a member with -s",
                configured.join(", ")
            ),
            TargetError::LocalUnknown(e) => write!(
                f,
                "cannot list the local addresses to find the local booth member ({e}); \
                 choose a member with -s"
            ),
            TargetError::OtherNeedsTwoSites(n) => write!(
                f,
                "-s other needs exactly two sites in the configuration, it has {n}"
            ),
            TargetError::OtherNotFromSite => f.write_str(
                "-s other needs this host to be one of the two sites (it is not, or it \
                 could not be found); give the site's address with -s",
            ),
        }
    }
}

impl std::error::Error for TargetError {}

/// The member `-s SITE` means.
fn by_name(members: &[MemberInfo], site: &str) -> Result<usize, TargetError> {
    let (ip, resolved) = match site.parse::<IpAddr>() {
        Ok(ip) => (ip, false),
        Err(_) => {
            let resolved = (site, 0u16)
                .to_socket_addrs()
                .map_err(|e| TargetError::Resolve {
                    host: site.to_owned(),
                    err: e.to_string(),
                })?
                .find(|a| a.is_ipv4())
                .ok_or_else(|| TargetError::Resolve {
                    host: site.to_owned(),
                    err: "no IPv4 address".to_owned(),
                })?;
            (resolved.ip(), true)
        }
    };
    members
        .iter()
        .position(|m| m.addr.ip() == ip)
        .ok_or_else(|| TargetError::NotConfigured(site.to_owned(), resolved.then_some(ip)))
}

/// The member to talk to.
pub fn choose(
    members: &[MemberInfo],
    site: Option<&str>,
    local: &Local,
) -> Result<usize, TargetError> {
    match site {
        Some("other") => {
            let sites: Vec<usize> = (0..members.len())
                .filter(|&i| members[i].role == Role::Site)
                .collect();
            if sites.len() != 2 {
                return Err(TargetError::OtherNeedsTwoSites(sites.len()));
            }
            match local.index() {
                Some(me) if me == sites[0] => Ok(sites[1]),
                Some(me) if me == sites[1] => Ok(sites[0]),
                _ => Err(TargetError::OtherNotFromSite),
            }
        }
        Some(s) => by_name(members, s),
        None => match local {
            Local::Member(i) => Ok(*i),
            Local::NotFound => Err(TargetError::NoLocal {
                configured: members.iter().map(|m| m.addr.ip().to_string()).collect(),
            }),
            Local::Unknown(e) => Err(TargetError::LocalUnknown(e.clone())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::SiteId;
    use std::net::SocketAddr;

    fn member(ip: &str, role: Role) -> MemberInfo {
        let addr: IpAddr = ip.parse().unwrap();
        let id = match addr {
            IpAddr::V4(v4) => SiteId::from_ipv4(v4.octets()),
            IpAddr::V6(v6) => SiteId::from_ipv6(v6.octets()),
        };
        MemberInfo {
            role,
            id,
            addr: SocketAddr::new(addr, 9929),
            text: ip.to_owned(),
            line: 1,
        }
    }

    fn three() -> Vec<MemberInfo> {
        vec![
            member("192.0.2.1", Role::Site),
            member("198.51.100.1", Role::Site),
            member("203.0.113.1", Role::Arbitrator),
        ]
    }

    #[test]
    fn explicit_site_must_be_configured() {
        let m = three();
        assert_eq!(choose(&m, Some("198.51.100.1"), &Local::NotFound), Ok(1));
        assert_eq!(
            choose(&m, Some("192.0.2.9"), &Local::NotFound),
            Err(TargetError::NotConfigured("192.0.2.9".into(), None))
        );
        assert_eq!(
            TargetError::NotConfigured("x".into(), None).to_string(),
            "cannot find site \"x\""
        );
    }

    #[test]
    fn other_needs_two_sites_and_a_local_site() {
        let m = three();
        assert_eq!(choose(&m, Some("other"), &Local::Member(0)), Ok(1));
        assert_eq!(choose(&m, Some("other"), &Local::Member(1)), Ok(0));
        assert_eq!(
            choose(&m, Some("other"), &Local::Member(2)),
            Err(TargetError::OtherNotFromSite)
        );
        assert_eq!(
            choose(&m, Some("other"), &Local::NotFound),
            Err(TargetError::OtherNotFromSite)
        );
        let mut four = three();
        four.push(member("192.0.2.7", Role::Site));
        assert_eq!(
            choose(&four, Some("other"), &Local::Member(0)),
            Err(TargetError::OtherNeedsTwoSites(3))
        );
    }

    #[test]
    fn default_is_the_local_member_or_a_clear_error() {
        let m = three();
        assert_eq!(choose(&m, None, &Local::Member(2)), Ok(2));
        let e = choose(&m, None, &Local::NotFound).unwrap_err();
        assert!(
            e.to_string()
                .contains("192.0.2.1, 198.51.100.1, 203.0.113.1"),
            "{e}"
        );
        assert!(matches!(
            choose(&m, None, &Local::Unknown("boom".into())),
            Err(TargetError::LocalUnknown(_))
        ));
    }

    #[test]
    fn local_member_by_exact_address_then_prefix() {
        let m = three();
        let lo: (IpAddr, u8) = ("127.0.0.1".parse().unwrap(), 8);
        let exact: (IpAddr, u8) = ("203.0.113.1".parse().unwrap(), 24);
        let subnet: (IpAddr, u8) = ("198.51.100.77".parse().unwrap(), 24);
        assert_eq!(pick_local(&m, &[lo, exact]), Local::Member(2));
        assert_eq!(pick_local(&m, &[lo, subnet]), Local::Member(1));
        assert_eq!(pick_local(&m, &[lo]), Local::NotFound);
    }
}
