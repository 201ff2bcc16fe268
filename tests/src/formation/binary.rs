//! Where the `boothd` under test is: the workspace's release build.
//!
//! `CARGO_BIN_EXE_boothd` exists only inside booth-linux's own tests, so the
//! binary is found relative to this crate: `<workspace>/target/release/boothd`
//! (or under `CARGO_TARGET_DIR`), built with `cargo build --release -p
//! booth-linux` when it is missing. `cargo test --workspace --release` builds
//! it before any test runs. `BOOTHD=/path/to/boothd` overrides all of this.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// booth 1.x from Debian's `booth` package, for side-by-side runs.
pub const BOOTH_1X: &str = "/usr/sbin/boothd";

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The release `boothd`, built once per process if it is missing.
pub fn boothd() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(locate).clone()
}

fn locate() -> PathBuf {
    if let Some(p) = std::env::var_os("BOOTHD") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "BOOTHD={} is not a file", p.display());
        return p;
    }
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release").join("boothd");
    if !bin.is_file() {
        eprintln!(
            "formation: {} is missing, running cargo build --release -p booth-linux",
            bin.display()
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "booth-linux"])
            .current_dir(&root)
            .status()
            .expect("cannot run cargo");
        assert!(
            status.success(),
            "cargo build --release -p booth-linux failed"
        );
        assert!(
            bin.is_file(),
            "{} still missing after the build",
            bin.display()
        );
    } else if let Some(src) = newest_source(&root) {
        let built = bin.metadata().and_then(|m| m.modified()).ok();
        if built.is_some_and(|b| b < src) {
            eprintln!(
                "formation: warning: {} is older than the sources; run \
                 `cargo build --release -p booth-linux` (cargo test --workspace --release does)",
                bin.display()
            );
        }
    }
    bin
}

/// Modification time of the newest file under platform-linux/src and core/src.
fn newest_source(root: &Path) -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, newest);
            } else if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                if newest.is_none_or(|n| t > n) {
                    *newest = Some(t);
                }
            }
        }
    }
    let mut newest = None;
    walk(&root.join("platform-linux/src"), &mut newest);
    walk(&root.join("core/src"), &mut newest);
    newest
}
