//! This host's addresses, and which configured member they make us.
//!
//! Addresses come from `getifaddrs(3)`, which glibc answers with one netlink
//! dump it parses correctly; booth 1.0-283 walks netlink itself and hangs on
//! kernels ≥ 6.9 (booth-protocol.md §4.4, §10.3 #23).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every IPv4 and IPv6 address configured on an interface of this host, with
/// its prefix length (from the interface netmask).
pub fn local_addresses() -> io::Result<Vec<(IpAddr, u8)>> {
    let list = IfAddrs::new()?;
    let mut out = Vec::new();
    for (addr, mask) in list.iter() {
        let prefix = match mask {
            Some(IpAddr::V4(m)) => u32::from(m).count_ones() as u8,
            Some(IpAddr::V6(m)) => u128::from(m).count_ones() as u8,
            None => full_prefix(&addr),
        };
        if !out.contains(&(addr, prefix)) {
            out.push((addr, prefix));
        }
    }
    Ok(out)
}

/// The member whose address is exactly one of ours. `None` when no member or
/// more than one member matches: booth silently takes the last match, we make
/// the daemon name one with `-s` instead (see [`exact_matches`]).
pub fn find_exact(members: &[IpAddr], local: &[(IpAddr, u8)]) -> Option<usize> {
    match exact_matches(members, local).as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Every member whose address is exactly one of ours, in configuration order.
pub fn exact_matches(members: &[IpAddr], local: &[(IpAddr, u8)]) -> Vec<usize> {
    members
        .iter()
        .enumerate()
        .filter(|(_, m)| local.iter().any(|(a, _)| same_addr(a, m)))
        .map(|(i, _)| i)
        .collect()
}

/// The member a client talks to by default: an exact address match first,
/// else the member inside the most specific local subnet. Ties go to the
/// member listed first.
pub fn find_by_prefix(members: &[IpAddr], local: &[(IpAddr, u8)]) -> Option<usize> {
    let mut best: Option<(usize, u16)> = None;
    for (i, m) in members.iter().enumerate() {
        for (a, prefix) in local {
            let score = if same_addr(a, m) {
                // An exact match beats any subnet.
                u16::from(full_prefix(m)) + 1
            } else if in_subnet(m, a, *prefix) {
                u16::from(*prefix)
            } else {
                continue;
            };
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
            }
        }
    }
    best.map(|(i, _)| i)
}

fn full_prefix(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Equal addresses; an IPv4-mapped IPv6 address does not equal its IPv4 form
/// (booth gives them different site IDs, §2.9).
fn same_addr(a: &IpAddr, b: &IpAddr) -> bool {
    a == b
}

/// `addr` lies in the subnet `net/prefix` (same family only).
fn in_subnet(addr: &IpAddr, net: &IpAddr, prefix: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(*a) & mask == u32::from(*n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(*a) & mask == u128::from(*n) & mask
        }
        _ => false,
    }
}

/// The list `getifaddrs` returns, freed on drop.
struct IfAddrs {
    head: *mut libc::ifaddrs,
}

impl IfAddrs {
    fn new() -> io::Result<Self> {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs writes a list head to a valid out-pointer; the
        // list is freed exactly once in Drop.
        if unsafe { libc::getifaddrs(&mut head) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(IfAddrs { head })
    }

    /// (address, netmask) of every IPv4/IPv6 entry.
    fn iter(&self) -> Vec<(IpAddr, Option<IpAddr>)> {
        let mut out = Vec::new();
        let mut cur = self.head;
        while !cur.is_null() {
            // SAFETY: `cur` is a node of the list getifaddrs built, alive
            // until Drop; its sockaddr pointers are null or valid for their family.
            let ifa = unsafe { &*cur };
            if let Some(addr) = unsafe { sockaddr_ip(ifa.ifa_addr) } {
                // SAFETY: as above.
                let mask = unsafe { sockaddr_ip(ifa.ifa_netmask) };
                out.push((addr, mask));
            }
            cur = ifa.ifa_next;
        }
        out
    }
}

impl Drop for IfAddrs {
    fn drop(&mut self) {
        if !self.head.is_null() {
            // SAFETY: the head came from getifaddrs and is freed once.
            unsafe { libc::freeifaddrs(self.head) };
        }
    }
}

/// The IP address in a `sockaddr`, if it is IPv4 or IPv6.
///
/// # Safety
/// `sa` must be null or point to a sockaddr valid for its `sa_family`.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees a valid sockaddr of the family it names.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_is_among_local_addresses() {
        let local = local_addresses().unwrap();
        assert!(
            local.iter().any(|(a, p)| *a == ip("127.0.0.1") && *p == 8),
            "{local:?}"
        );
    }

    #[test]
    fn exact_match_needs_exactly_one_member() {
        let members = [ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")];
        let local = [(ip("127.0.0.1"), 8), (ip("10.0.0.2"), 24)];
        assert_eq!(find_exact(&members, &local), Some(1));
        let both = [(ip("10.0.0.2"), 24), (ip("10.0.0.3"), 24)];
        assert_eq!(find_exact(&members, &both), None);
        assert_eq!(exact_matches(&members, &both), vec![1, 2]);
        assert_eq!(find_exact(&members, &[(ip("10.0.1.2"), 24)]), None);
    }

    #[test]
    fn mapped_ipv6_is_not_the_ipv4_address() {
        let members = [ip("::ffff:192.168.202.100")];
        assert_eq!(find_exact(&members, &[(ip("192.168.202.100"), 24)]), None);
    }

    #[test]
    fn prefix_match_prefers_exact_then_longest() {
        let members = [ip("10.1.0.5"), ip("10.1.2.5"), ip("fd00::5")];
        let local = [(ip("10.1.2.9"), 24), (ip("10.1.0.1"), 16)];
        assert_eq!(find_by_prefix(&members, &local), Some(1));
        let local = [(ip("10.1.0.5"), 16), (ip("10.1.2.9"), 24)];
        assert_eq!(find_by_prefix(&members, &local), Some(0));
        assert_eq!(find_by_prefix(&members, &[(ip("fd00::1"), 64)]), Some(2));
        assert_eq!(find_by_prefix(&members, &[(ip("192.168.1.1"), 24)]), None);
        // 127.0.0.2-4 on lo (127.0.0.1/8): the first listed wins the tie.
        let lo = [ip("127.0.0.2"), ip("127.0.0.3")];
        assert_eq!(find_by_prefix(&lo, &[(ip("127.0.0.1"), 8)]), Some(0));
        assert!(in_subnet(&ip("1.2.3.4"), &ip("9.9.9.9"), 0));
    }
}
