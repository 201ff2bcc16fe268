//! The state file: every ticket's term, vote and lease knowledge, written with
//! fsync before any packet that depends on it leaves (`lease-safety.md` §6.3).
//!
//! Layout: `BRST`, a version byte (2), the little-endian formation
//! fingerprint of the member list that wrote it (`Config::formation_fingerprint`),
//! the postcard encoding of `Vec<(ticket name, PersistedTicket)>`, then a
//! little-endian CRC-32 of all bytes before it. Version 1 files (no
//! fingerprint, from before) are read as written under the current list. Written as temp file + fsync + rename + fsync of the
//! directory, so a crash leaves the old or the new file, never a mix.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use booth_core::engine::restore::{self, SiteRecord, Stored};
use booth_core::engine::{PersistedTicket, Restore};
use booth_core::time::{Duration, Now, WallTime};

const MAGIC: &[u8; 4] = b"BRST";
const VERSION: u8 = 2;
/// Files of the first format carry no fingerprint.
const VERSION_UNBOUND: u8 = 1;
/// Larger files are not ours (64 tickets take well under 8 KiB).
const FILE_MAX: u64 = 1 << 20;

/// Default directory of state files.
pub const DEFAULT_DIR: &str = "/var/lib/booth";
/// Environment variable overriding [`DEFAULT_DIR`] (tests, odd layouts).
pub const DIR_ENV: &str = "BOOTH_STATE_DIR";

/// `<dir>/<name>@<addr>:<port>/tickets.state`, `dir` from `BOOTH_STATE_DIR`
/// or [`DEFAULT_DIR`]. One directory per member instance, so a site and an
/// arbitrator on one host, or two members of formations with the same
/// config name, never share a state file or a guard socket (which lives
/// beside it, [`super::guard_proto::socket_path`]).
pub fn default_path(name: &str, me: SocketAddr) -> PathBuf {
    let dir = std::env::var_os(DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    dir.join(format!("{name}@{me}")).join("tickets.state")
}

/// `<dir>/<name>.state`: where earlier booth-rs builds kept the state of
/// every member with this config name. Read once when the per-instance file
/// does not exist yet; [`read`]'s member binding decides whether it is ours.
pub fn legacy_path(name: &str) -> PathBuf {
    let per_instance = default_path(name, SocketAddr::from(([0, 0, 0, 0], 0)));
    let dir = per_instance
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new(DEFAULT_DIR));
    dir.join(format!("{name}.state"))
}

/// Creates the directory of `state` (and its parents) and, when `owner` is
/// given (we are root, about to become that user), hands the directory and
/// the files in it to the owner. Only our own per-instance directory is
/// changed: `/var/lib/booth` itself may belong to booth 1.x or a package.
pub fn prepare_instance_dir(
    state: &Path,
    owner: Option<(libc::uid_t, libc::gid_t)>,
) -> io::Result<()> {
    let dir = parent(state);
    fs::create_dir_all(dir)?;
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    for entry in fs::read_dir(dir)? {
        std::os::unix::fs::lchown(entry?.path(), Some(uid), Some(gid))?;
    }
    Ok(())
}

/// What was found on disk at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No file: this member never persisted anything (first start).
    Missing,
    Valid(BTreeMap<String, PersistedTicket>),
    /// Present but unreadable or damaged: why.
    Damaged(String),
    /// Intact, but written under another member list (reordered, inserted,
    /// replaced) or by another member: its vote and leader indexes would
    /// name the wrong members.
    Foreign {
        written: u32,
        ours: u32,
    },
}

/// Reads the state file; `fingerprint` is this member's
/// `Config::formation_fingerprint`.
pub fn read(path: &Path, fingerprint: u32) -> Found {
    let mut bytes = Vec::new();
    match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Found::Missing,
        Err(e) => return Found::Damaged(format!("cannot open: {e}")),
        Ok(f) => {
            if let Err(e) = f.take(FILE_MAX + 1).read_to_end(&mut bytes) {
                return Found::Damaged(format!("cannot read: {e}"));
            }
        }
    }
    match decode(&bytes) {
        Ok((Some(written), _)) if written != fingerprint => Found::Foreign {
            written,
            ours: fingerprint,
        },
        Ok((_, map)) => Found::Valid(map),
        Err(why) => Found::Damaged(why),
    }
}

/// What the site's CIB says of one ticket at start-up: the site's own
/// memory, replicated by its cluster to every node the daemon may run on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CibTicket {
    /// The CIB has a state for the ticket (a daemon of this site wrote it).
    pub present: bool,
    pub term: u32,
    /// Granted, and to this very site.
    pub granted_here: bool,
    /// `expires`, epoch seconds.
    pub expires: Option<u64>,
}

/// The restore value for each ticket name, in order, by the core's one
/// policy (`booth_core::engine::restore`, docs/site-memory.md): this node's
/// state file is what the member itself stored, `cib` (empty on an
/// arbitrator) what its site recorded.
pub fn restores(found: &Found, tickets: &[&str], cib: &[CibTicket], now: Now) -> Vec<Restore> {
    tickets
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let stored = match found {
                Found::Missing => Stored::Nothing,
                Found::Damaged(_) | Found::Foreign { .. } => Stored::Untrusted { term: 0 },
                Found::Valid(map) => map
                    .get(*name)
                    .map_or(Stored::Nothing, |p| Stored::Entry(*p)),
            };
            let site = cib.get(i).map(|c| SiteRecord {
                present: c.present,
                term: c.term,
                granted_here: c.granted_here,
                left: c.expires.map(|secs| {
                    Duration(WallTime::from_secs(secs).0.saturating_sub(now.wall.0) / 1000)
                }),
            });
            restore::restore(stored, site, now.mono)
        })
        .collect()
}

/// The fingerprint (none in a version 1 file) and the entries.
type Decoded = (Option<u32>, BTreeMap<String, PersistedTicket>);

fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    if bytes.len() as u64 > FILE_MAX {
        return Err("larger than any state file".to_owned());
    }
    if bytes.len() < MAGIC.len() + 1 + 4 {
        return Err(format!("truncated ({} bytes)", bytes.len()));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(body) != stored {
        return Err("checksum mismatch".to_owned());
    }
    if &body[..4] != MAGIC {
        return Err("not a booth-rs state file".to_owned());
    }
    let (fingerprint, entries) = match body[4] {
        VERSION_UNBOUND => (None, &body[5..]),
        VERSION if body.len() >= 9 => (
            Some(u32::from_le_bytes([body[5], body[6], body[7], body[8]])),
            &body[9..],
        ),
        v => return Err(format!("unknown version {v}")),
    };
    let (entries, rest): (Vec<(String, PersistedTicket)>, &[u8]) =
        postcard::take_from_bytes(entries).map_err(|e| format!("undecodable: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes".to_owned());
    }
    Ok((fingerprint, entries.into_iter().collect()))
}

fn encode(fingerprint: u32, map: &BTreeMap<String, PersistedTicket>) -> Vec<u8> {
    let entries: Vec<(&String, &PersistedTicket)> = map.iter().collect();
    let mut out = Vec::with_capacity(64 + 32 * entries.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&fingerprint.to_le_bytes());
    // Encoding plain strings and integers into a Vec cannot fail.
    let body = postcard::to_stdvec(&entries).unwrap_or_default();
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The state of every ticket as last written, and where to write it.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    fingerprint: u32,
    entries: BTreeMap<String, PersistedTicket>,
    /// Writes done (for logs and tests).
    pub writes: u64,
}

impl StateStore {
    /// A store starting from what was found (a damaged or foreign file is
    /// replaced at the first write; entries of tickets no longer configured
    /// are kept).
    pub fn new(path: PathBuf, fingerprint: u32, found: &Found) -> Self {
        let entries = match found {
            Found::Valid(map) => map.clone(),
            _ => BTreeMap::new(),
        };
        StateStore {
            path,
            fingerprint,
            entries,
            writes: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one ticket's state and writes the whole file durably.
    pub fn persist(&mut self, ticket: &str, state: PersistedTicket) -> io::Result<()> {
        self.entries.insert(ticket.to_owned(), state);
        write_atomic(&self.path, &encode(self.fingerprint, &self.entries))?;
        self.writes += 1;
        Ok(())
    }

    /// Creates the directory if needed and checks that a file can be created
    /// in it (run after dropping privileges, so a later `Persist` cannot fail
    /// for want of permission).
    pub fn check_writable(&self) -> io::Result<()> {
        let dir = parent(&self.path);
        fs::create_dir_all(dir)?;
        let probe = dir.join(format!(
            ".{}.probe",
            self.path.file_name().unwrap_or_default().to_string_lossy()
        ));
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&probe)?;
        drop(f);
        fs::remove_file(&probe)
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// temp file, write, fsync, rename over `path`, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::time::Instant;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "booth-persist-{tag}-{}-{}",
            std::process::id(),
            crate::daemon::clock::wall().0
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    const FP: u32 = 0x5EED_F00D;

    fn state(term: u32) -> PersistedTicket {
        PersistedTicket {
            term,
            voted_for: Some(1),
            leader: Some(2),
            lease: true,
            lost: false,
        }
    }

    #[test]
    fn round_trip_and_restores() {
        let dir = temp_dir("rt");
        let path = dir.join("booth.state");
        assert_eq!(read(&path, FP), Found::Missing);
        assert_eq!(
            restores(&Found::Missing, &["a"], &[], now()),
            vec![Restore::Fresh]
        );
        let mut store = StateStore::new(path.clone(), FP, &Found::Missing);
        store.check_writable().unwrap();
        store.persist("tA", state(7)).unwrap();
        store.persist("tB", PersistedTicket::default()).unwrap();
        store.persist("tA", state(8)).unwrap();
        let found = read(&path, FP);
        let Found::Valid(map) = &found else {
            panic!("{found:?}")
        };
        assert_eq!(map.len(), 2);
        assert_eq!(
            restores(&found, &["tA", "tB", "tC"], &[], now()),
            vec![
                Restore::Persisted(state(8)),
                Restore::Persisted(PersistedTicket::default()),
                Restore::Fresh
            ]
        );
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("booth.state")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corruption_means_amnesia() {
        let dir = temp_dir("bad");
        let path = dir.join("booth.state");
        let mut store = StateStore::new(path.clone(), FP, &Found::Missing);
        store.persist("tA", state(3)).unwrap();
        let good = fs::read(&path).unwrap();

        // Every single flipped bit is caught.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            fs::write(&path, &bad).unwrap();
            let found = read(&path, FP);
            assert!(matches!(found, Found::Damaged(_)), "byte {i}: {found:?}");
            assert_eq!(
                restores(&found, &["tA", "tZ"], &cib_terms(&[5]), now()),
                vec![Restore::Amnesia { term: 5 }, Restore::Amnesia { term: 0 }]
            );
        }
        // Truncation, emptiness and garbage too.
        for bad in [
            &good[..good.len() - 1],
            &[][..],
            b"hello world, not a state",
        ] {
            fs::write(&path, bad).unwrap();
            assert!(matches!(read(&path, FP), Found::Damaged(_)));
        }
        // A damaged file is replaced by the next write.
        let mut store = StateStore::new(path.clone(), FP, &read(&path, FP));
        store.persist("tA", state(4)).unwrap();
        assert!(matches!(read(&path, FP), Found::Valid(_)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_member_list_or_member_means_amnesia() {
        let dir = temp_dir("foreign");
        let path = dir.join("booth.state");
        let mut store = StateStore::new(path.clone(), FP, &Found::Missing);
        store.persist("tA", state(3)).unwrap();
        let found = read(&path, FP ^ 1);
        assert_eq!(
            found,
            Found::Foreign {
                written: FP,
                ours: FP ^ 1
            }
        );
        assert_eq!(
            restores(&found, &["tA"], &cib_terms(&[6]), now()),
            vec![Restore::Amnesia { term: 6 }]
        );
        // The next write binds the file to the new list.
        let mut store = StateStore::new(path.clone(), FP ^ 1, &found);
        store.persist("tA", state(7)).unwrap();
        assert!(matches!(read(&path, FP ^ 1), Found::Valid(_)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_first_format_file_is_still_read() {
        let dir = temp_dir("v1");
        let path = dir.join("booth.state");
        let entries = vec![("tA".to_owned(), state(5))];
        let mut bytes = MAGIC.to_vec();
        bytes.push(VERSION_UNBOUND);
        bytes.extend_from_slice(&postcard::to_stdvec(&entries).unwrap());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        let Found::Valid(map) = read(&path, FP) else {
            panic!("{:?}", read(&path, FP))
        };
        assert_eq!(map.get("tA"), Some(&state(5)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_path_is_damaged_not_missing() {
        let dir = temp_dir("dir");
        // A directory where the file should be: open works, read fails.
        let path = dir.join("booth.state");
        fs::create_dir(&path).unwrap();
        assert!(matches!(read(&path, FP), Found::Damaged(_)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn default_path_is_per_member_instance() {
        let a: SocketAddr = "127.0.0.2:9929".parse().unwrap();
        let b: SocketAddr = "127.0.0.4:9929".parse().unwrap();
        let p = default_path("booth", a);
        assert!(p.ends_with("booth@127.0.0.2:9929/tickets.state"), "{p:?}");
        assert_ne!(p, default_path("booth", b));
        assert_ne!(p, default_path("other", a));
        let v6: SocketAddr = "[fd00::1]:9929".parse().unwrap();
        assert!(default_path("booth", v6).ends_with("booth@[fd00::1]:9929/tickets.state"));
    }

    #[test]
    fn legacy_path_is_beside_the_instance_directories() {
        let a: SocketAddr = "127.0.0.2:9929".parse().unwrap();
        let inst = default_path("booth", a);
        let old = legacy_path("booth");
        assert_eq!(old.parent(), inst.parent().unwrap().parent());
        assert!(old.ends_with("booth.state"));
    }

    #[test]
    fn instance_dir_is_created() {
        let dir = std::env::temp_dir().join(format!("booth-persist-inst-{}", std::process::id()));
        let state = dir.join("a/b@127.0.0.1:1/tickets.state");
        prepare_instance_dir(&state, None).unwrap();
        assert!(state.parent().unwrap().is_dir());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// 1,800,000,000 s on the wall clock, 50 s on the monotonic one.
    fn now() -> Now {
        Now {
            mono: Instant(50_000),
            wall: WallTime::from_secs(1_800_000_000),
        }
    }

    /// CIB states that know these terms, granted nowhere here.
    fn cib_terms(terms: &[u32]) -> Vec<CibTicket> {
        terms
            .iter()
            .map(|&term| CibTicket {
                present: true,
                term,
                ..CibTicket::default()
            })
            .collect()
    }

    fn granted_here(term: u32, expires: u64) -> CibTicket {
        CibTicket {
            present: true,
            term,
            granted_here: true,
            expires: Some(expires),
        }
    }

    #[test]
    fn a_cib_grant_to_us_is_held_until_its_expiry_less_the_clock_allowance() {
        let cib = [granted_here(7, 1_800_000_010)];
        let held = Restore::Held {
            term: 7,
            until: Instant(50_000 + 10_000 - 2_000),
        };
        // Moved to a node without a file, or restarted with a file that
        // does not know a later term.
        assert_eq!(restores(&Found::Missing, &["a"], &cib, now()), vec![held]);
        let file = Found::Valid(BTreeMap::from([("a".to_owned(), state(7))]));
        assert_eq!(restores(&file, &["a"], &cib, now()), vec![held]);
        // Expired: handed to the engine as ended (it re-acquires).
        let old = [granted_here(7, 1_799_999_990)];
        assert_eq!(
            restores(&Found::Missing, &["a"], &old, now()),
            vec![Restore::Held {
                term: 7,
                until: Instant(50_000)
            }]
        );
    }

    #[test]
    fn a_file_that_knows_a_later_term_than_the_cib_grant_wins() {
        let cib = [granted_here(7, 1_800_000_010)];
        let file = Found::Valid(BTreeMap::from([("a".to_owned(), state(9))]));
        assert_eq!(
            restores(&file, &["a"], &cib, now()),
            vec![Restore::Persisted(state(9))]
        );
    }

    #[test]
    fn a_site_that_ran_elsewhere_since_this_file_starts_with_amnesia() {
        let cib = [CibTicket {
            present: true,
            term: 12,
            granted_here: false,
            expires: Some(1_800_000_010),
        }];
        let stale = Found::Valid(BTreeMap::from([("a".to_owned(), state(9))]));
        let amnesia = vec![Restore::Amnesia { term: 12 }];
        assert_eq!(restores(&stale, &["a"], &cib, now()), amnesia);
        assert_eq!(restores(&Found::Missing, &["a"], &cib, now()), amnesia);
        // A current file, or a CIB that never heard of the ticket: the file.
        let current = Found::Valid(BTreeMap::from([("a".to_owned(), state(12))]));
        assert_eq!(
            restores(&current, &["a"], &cib, now()),
            vec![Restore::Persisted(state(12))]
        );
        let none = [CibTicket::default()];
        assert_eq!(
            restores(&Found::Missing, &["a"], &none, now()),
            vec![Restore::Fresh]
        );
    }
}
