//! The core builds for a Cortex-M4 with no allocator (and no `alloc` at all).

use std::path::Path;
use std::process::Command;

#[test]
fn core_builds_for_cortex_m_without_alloc() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = dir.join("../target/thumbv7em-check");
    let out = Command::new(cargo)
        .current_dir(dir)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "booth-core",
            "--target",
            "thumbv7em-none-eabihf",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "booth-core does not build for thumbv7em-none-eabihf (is the target installed? \
         `rustup target add thumbv7em-none-eabihf`, or run scripts/setup):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = target_dir.join("thumbv7em-none-eabihf/release/libbooth_core.rlib");
    assert!(lib.exists(), "no rlib at {}", lib.display());

    // No `alloc` anywhere in the core's sources.
    let mut stack = vec![dir.join("src")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                assert!(
                    !text.contains("extern crate alloc"),
                    "{} uses alloc",
                    p.display()
                );
                assert!(!text.contains("alloc::"), "{} uses alloc", p.display());
            }
        }
    }
}
