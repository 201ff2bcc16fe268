//! A private network namespace per test, created with `unshare(CLONE_NEWNET)`
//! on a thread of its own: the thread, every thread it spawns, every socket
//! they open and every process they start live in it, and nothing else does.
//! It has only `lo` (brought up here) with IPv6 off, so booth 1.0-283's
//! netlink address dump does not hang on kernels ≥ 6.9 (booth-protocol.md
//! §4.4) and no packet can leave the machine. The namespace disappears with
//! its last process and thread.
//!
//! Firewall rules ([`Netns::iptables`]) are only ever run from inside it: the
//! helper checks that the calling thread still is in this namespace.

use std::fs;
use std::io;
use std::process::{Command, Stdio};

/// The namespace the calling thread entered with [`run_in_new_netns`].
#[derive(Debug, Clone)]
pub struct Netns {
    /// `net:[inode]` of the namespace.
    id: String,
    /// The namespace the test process started in.
    outer: String,
}

fn current_ns() -> io::Result<String> {
    Ok(fs::read_link("/proc/thread-self/ns/net")?
        .to_string_lossy()
        .into_owned())
}

/// Runs `f` on a new thread inside a new network namespace and returns its
/// result; a panic in `f` is passed on to the caller.
pub fn run_in_new_netns<T, F>(name: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Netns) -> T + Send + 'static,
{
    let h = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let ns = enter().unwrap_or_else(|e| panic!("cannot set up a network namespace: {e}"));
            f(ns)
        })
        .expect("spawn the namespace thread");
    match h.join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn enter() -> io::Result<Netns> {
    let outer = current_ns()?;
    // SAFETY: unshare with CLONE_NEWNET affects only the calling thread (a
    // new network namespace is allowed in a multi-threaded process).
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let id = current_ns()?;
    if id == outer {
        return Err(io::Error::other("unshare did not change the namespace"));
    }
    let ns = Netns { id, outer };
    // /proc/sys/net follows the namespace of the thread that opens it.
    for dev in ["all", "default", "lo"] {
        fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1")?;
    }
    ns.run("ip", &["link", "set", "lo", "up"])?;
    Ok(ns)
}

impl Netns {
    /// Panics unless the calling thread is inside this namespace (and not
    /// in the one the test process started in).
    pub fn assert_inside(&self) {
        let now = current_ns().expect("read /proc/thread-self/ns/net");
        assert!(
            now == self.id && now != self.outer,
            "not inside the test's network namespace ({now}, expected {})",
            self.id
        );
    }

    /// Runs a command in this namespace (the caller's thread must be in it).
    pub fn run(&self, prog: &str, args: &[&str]) -> io::Result<()> {
        self.assert_inside();
        let out = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{prog} {}: {} {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// `iptables -w <args>` in this namespace.
    pub fn iptables(&self, args: &[&str]) {
        let mut all = vec!["-w"];
        all.extend_from_slice(args);
        self.run("iptables", &all)
            .unwrap_or_else(|e| panic!("iptables failed: {e}"));
    }

    /// Drops every UDP datagram from or to `ip` (its TCP port, where the
    /// clients talk, stays reachable). Rules sit in INPUT, so senders see
    /// no error, as in a real partition.
    pub fn partition(&self, ip: &str) {
        self.iptables(&["-I", "INPUT", "-p", "udp", "-s", ip, "-j", "DROP"]);
        self.iptables(&["-I", "INPUT", "-p", "udp", "-d", ip, "-j", "DROP"]);
    }

    /// Drops the UDP datagrams `ip` sends with booth command `cmd` (a
    /// four-character code at offset 28 of the UDP payload).
    pub fn drop_kind_from(&self, ip: &str, cmd: u32) {
        // From the IP header length to the UDP header, then 8 + 28 bytes on.
        let m = format!("0>>22&0x3C@36=0x{cmd:08x}");
        self.iptables(&[
            "-I", "INPUT", "-p", "udp", "-s", ip, "-m", "u32", "--u32", &m, "-j", "DROP",
        ]);
    }

    /// Removes every rule added here.
    pub fn heal(&self) {
        self.iptables(&["-F", "INPUT"]);
    }
}
