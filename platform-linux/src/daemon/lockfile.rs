//! The PID/lock file: an `fcntl` write lock held for the daemon's life, and
//! booth's one-line state record that `booth status` prints.
//!
//! The file holds what booth's `write_daemon_state()` writes
//! (`booth_pid=… booth_state=… booth_type=… booth_cfg_name='…' booth_id=…
//! booth_addr_string='…' booth_port=…`); `booth status` prefixes
//! `booth_lockpid=<pid of the lock holder> booth_lockfile='<path>'`, so booth's
//! own `booth status` and OCF agents read our file unchanged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use booth_core::Role;

/// Where `-l` points by default: `/var/run/booth/<name>.pid`.
pub fn default_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/booth/{name}.pid"))
}

/// What the lock file says about a daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonState {
    pub pid: u32,
    /// `false` while starting up.
    pub started: bool,
    pub role: Role,
    pub cfg_name: String,
    pub id: u32,
    pub addr: String,
    pub port: u16,
}

impl DaemonState {
    /// The line booth writes into the lock file.
    pub fn line(&self) -> String {
        format!(
            "booth_pid={} booth_state={} booth_type={} booth_cfg_name='{}' booth_id={} \
             booth_addr_string='{}' booth_port={}",
            self.pid,
            if self.started { "started" } else { "starting" },
            match self.role {
                Role::Site => "site",
                Role::Arbitrator => "arbitrator",
            },
            self.cfg_name,
            self.id,
            self.addr,
            self.port
        )
    }
}

/// The line `booth status` prints: lock holder, lock path, then the file's line.
pub fn status_line(lock_pid: u32, path: &Path, file_line: &str) -> String {
    format!(
        "booth_lockpid={lock_pid} booth_lockfile='{}' {file_line}",
        path.display()
    )
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Held {
        pid: u32,
    },
    Io(io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { pid } => write!(f, "already locked by process {pid}"),
            LockError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The held lock file.
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
}

impl LockFile {
    /// Creates (with its directory) and locks the file.
    pub fn acquire(path: &Path) -> Result<LockFile, LockError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(LockError::Io)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(LockError::Io)?;
        match set_write_lock(&file) {
            Ok(()) => Ok(LockFile {
                file,
                path: path.to_owned(),
            }),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                Err(LockError::Held {
                    pid: lock_holder(&file).unwrap_or(0),
                })
            }
            Err(e) => Err(LockError::Io(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the content with `state`'s line and syncs it.
    pub fn write_state(&mut self, state: &DaemonState) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file
            .write_all(format!("{}\n", state.line()).as_bytes())?;
        self.file.sync_data()
    }

    /// Empties the file at a clean exit (booth truncates it too); the lock
    /// goes with the process.
    pub fn release(mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
    }
}

/// What `booth status` finds at a lock path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No such file.
    Missing,
    /// The file exists but nobody holds the lock.
    NotLocked,
    /// Locked by `pid`; `line` is the first line of the content (may be
    /// empty or short when unreadable).
    Locked { pid: u32, line: Option<String> },
    /// Could not even be opened.
    Error(String),
}

/// Looks at a lock file without taking the lock.
pub fn probe(path: &Path) -> Probe {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Probe::Missing,
        // A non-root `booth status` may only read it.
        Err(_) => match File::open(path) {
            Ok(f) => f,
            Err(e) => return Probe::Error(e.to_string()),
        },
    };
    let Some(pid) = lock_holder(&file) else {
        return Probe::NotLocked;
    };
    let mut buf = Vec::new();
    let line = match (&mut file).take(1024).read_to_end(&mut buf) {
        Ok(n) if n >= 4 => {
            let text = String::from_utf8_lossy(&buf);
            let first = text.split(['\r', '\n']).next().unwrap_or_default();
            Some(first.to_owned())
        }
        _ => None,
    };
    Probe::Locked { pid, line }
}

fn flock_all(kind: libc::c_short) -> libc::flock {
    // SAFETY: an all-zero flock is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0;
    fl
}

fn set_write_lock(file: &File) -> io::Result<()> {
    let fl = flock_all(libc::F_WRLCK as libc::c_short);
    // SAFETY: F_SETLK takes a pointer to a valid flock; the fd is open.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The PID holding a conflicting lock on the whole file, if any.
fn lock_holder(file: &File) -> Option<u32> {
    let mut fl = flock_all(libc::F_WRLCK as libc::c_short);
    // SAFETY: F_GETLK reads and updates a valid flock; the fd is open.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) } == -1 {
        return None;
    }
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        None
    } else {
        Some(fl.l_pid as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_matches_booth() {
        let s = DaemonState {
            pid: 4242,
            started: true,
            role: Role::Site,
            cfg_name: "booth".to_owned(),
            id: 2081820410,
            addr: "127.0.0.2".to_owned(),
            port: 9929,
        };
        assert_eq!(
            s.line(),
            "booth_pid=4242 booth_state=started booth_type=site booth_cfg_name='booth' \
             booth_id=2081820410 booth_addr_string='127.0.0.2' booth_port=9929"
        );
        let a = DaemonState {
            started: false,
            role: Role::Arbitrator,
            ..s.clone()
        };
        assert!(a
            .line()
            .contains("booth_state=starting booth_type=arbitrator"));
        assert_eq!(
            status_line(4242, Path::new("/var/run/booth/booth.pid"), &s.line()),
            format!(
                "booth_lockpid=4242 booth_lockfile='/var/run/booth/booth.pid' {}",
                s.line()
            )
        );
        assert_eq!(default_path("x"), PathBuf::from("/var/run/booth/x.pid"));
    }

    #[test]
    fn lock_file_holds_the_line_and_is_emptied_on_release() {
        let dir = std::env::temp_dir().join(format!("booth-lock-{}", std::process::id()));
        let path = dir.join("sub/booth.pid");
        assert_eq!(probe(&path), Probe::Missing);
        let mut lock = LockFile::acquire(&path).unwrap();
        let state = DaemonState {
            pid: std::process::id(),
            started: true,
            role: Role::Site,
            cfg_name: "b".to_owned(),
            id: 1,
            addr: "127.0.0.2".to_owned(),
            port: 1,
        };
        lock.write_state(&state).unwrap();
        // fcntl locks are per process: our own F_GETLK sees no conflict.
        assert_eq!(probe(&path), Probe::NotLocked);
        // (Another process seeing the lock is covered by tests/daemon_smoke.rs.)
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", state.line()));
        lock.release();
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
        fs::remove_dir_all(&dir).unwrap();
    }
}
