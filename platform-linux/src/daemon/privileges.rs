//! Dropping root: to `site-user`/`site-group` on sites and
//! `arbitrator-user`/`arbitrator-group` on arbitrators (booth reads these
//! keys wrongly and silently runs as uid 4294967294 when a name does not
//! resolve, §10.4 #30; we fail instead).

use std::ffi::{CStr, CString};
use std::io;

/// A resolved user and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

/// Why the identity could not be taken.
#[derive(Debug)]
pub enum PrivError {
    NoSuchUser(String),
    NoSuchGroup(String),
    Lookup(String, io::Error),
    Switch(&'static str, io::Error),
}

impl std::fmt::Display for PrivError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivError::NoSuchUser(u) => write!(f, "user \"{u}\" does not exist"),
            PrivError::NoSuchGroup(g) => write!(f, "group \"{g}\" does not exist"),
            PrivError::Lookup(n, e) => write!(f, "cannot look up \"{n}\": {e}"),
            PrivError::Switch(what, e) => write!(f, "{what} failed: {e}"),
        }
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Resolves a user and a group name (a decimal number is taken as an ID).
pub fn resolve(user: &str, group: &str) -> Result<Ids, PrivError> {
    Ok(Ids {
        uid: lookup_user(user)?,
        gid: lookup_group(group)?,
    })
}

/// Where booth's default group `nobody` does not exist (Debian and its
/// derivatives call it `nogroup`), the group to use instead.
pub const NOBODY_FALLBACK: &str = "nogroup";

/// [`resolve`], except that a missing group `nobody` (booth's default for
/// arbitrators) becomes [`NOBODY_FALLBACK`]: booth 1.x starts with such a
/// file, so we must too. Returns the group name actually used.
pub fn resolve_with_fallback<'a>(user: &str, group: &'a str) -> Result<(Ids, &'a str), PrivError> {
    match resolve(user, group) {
        Err(PrivError::NoSuchGroup(_)) if group == "nobody" => {
            resolve(user, NOBODY_FALLBACK).map(|ids| (ids, NOBODY_FALLBACK))
        }
        other => other.map(|ids| (ids, group)),
    }
}

fn cstring(name: &str) -> Result<CString, PrivError> {
    CString::new(name).map_err(|_| PrivError::NoSuchUser(name.to_owned()))
}

/// Runs a reentrant `get*nam_r` call with a buffer that grows on `ERANGE`:
/// `call(buf)` returns the syscall's code and the id if an entry was found.
fn lookup_id<T>(
    name: &str,
    mut call: impl FnMut(&mut [u8]) -> (libc::c_int, Option<T>),
) -> Result<Option<T>, PrivError> {
    let mut buf = vec![0u8; 4096];
    loop {
        match call(&mut buf) {
            (0, found) => return Ok(found),
            (libc::ERANGE, _) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            (e, _) => {
                return Err(PrivError::Lookup(
                    name.to_owned(),
                    io::Error::from_raw_os_error(e),
                ))
            }
        }
    }
}

fn lookup_user(name: &str) -> Result<libc::uid_t, PrivError> {
    let c = cstring(name)?;
    let found = lookup_id(name, |buf| {
        // SAFETY: an all-zero passwd is valid plain data.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: getpwnam_r fills `pw` using `buf` (of the given length)
        // for strings and sets `result` to &pw or null.
        let rc = unsafe {
            libc::getpwnam_r(
                c.as_ptr(),
                &mut pw,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        (rc, (!result.is_null()).then_some(pw.pw_uid))
    })?;
    // A numeric uid needs no entry.
    found.map_or_else(
        || {
            name.parse()
                .map_err(|_| PrivError::NoSuchUser(name.to_owned()))
        },
        Ok,
    )
}

fn lookup_group(name: &str) -> Result<libc::gid_t, PrivError> {
    let c = CString::new(name).map_err(|_| PrivError::NoSuchGroup(name.to_owned()))?;
    let found = lookup_id(name, |buf| {
        // SAFETY: an all-zero group is valid plain data.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as getpwnam_r above.
        let rc = unsafe {
            libc::getgrnam_r(
                c.as_ptr(),
                &mut gr,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        (rc, (!result.is_null()).then_some(gr.gr_gid))
    })?;
    found.map_or_else(
        || {
            name.parse()
                .map_err(|_| PrivError::NoSuchGroup(name.to_owned()))
        },
        Ok,
    )
}

/// The name of a uid, for logs.
pub fn user_name(uid: libc::uid_t) -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: as getpwnam_r above.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(
            uid,
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        ) == 0
            && !result.is_null()
        {
            return CStr::from_ptr(pw.pw_name).to_string_lossy().into_owned();
        }
    }
    uid.to_string()
}

/// Becomes `ids` for good: supplementary groups = just the gid, then gid,
/// then uid (real, effective and saved), then checks root cannot be regained.
pub fn drop_to(ids: Ids) -> Result<(), PrivError> {
    // SAFETY: plain syscalls with valid arguments; each result is checked.
    unsafe {
        if libc::setgroups(1, &ids.gid) != 0 {
            return Err(PrivError::Switch("setgroups", io::Error::last_os_error()));
        }
        if libc::setresgid(ids.gid, ids.gid, ids.gid) != 0 {
            return Err(PrivError::Switch("setresgid", io::Error::last_os_error()));
        }
        if libc::setresuid(ids.uid, ids.uid, ids.uid) != 0 {
            return Err(PrivError::Switch("setresuid", io::Error::last_os_error()));
        }
        if ids.uid != 0 && libc::setuid(0) == 0 {
            return Err(PrivError::Switch(
                "dropping root",
                io::Error::other("root could be regained"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_root_and_numbers_and_refuses_unknown_names() {
        assert_eq!(resolve("root", "root").unwrap(), Ids { uid: 0, gid: 0 });
        assert_eq!(
            resolve("1234", "5678").unwrap(),
            Ids {
                uid: 1234,
                gid: 5678
            }
        );
        assert!(matches!(
            resolve("no-such-user-booth-rs", "root"),
            Err(PrivError::NoSuchUser(_))
        ));
        assert!(matches!(
            resolve("root", "no-such-group-booth-rs"),
            Err(PrivError::NoSuchGroup(_))
        ));
        assert_eq!(user_name(0), "root");
    }
}
