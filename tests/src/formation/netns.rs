//! Network namespaces created by a test: only `lo`, so nothing outside can
//! receive a packet. Processes are put into one with `setns(2)` between fork
//! and exec, threads (and the sockets they open) with `setns` on themselves.
//!
//! Namespaces can be linked to each other, never to the host: a veth pair
//! whose two ends are created directly inside two of them
//! ([`Netns::veth_to_bridge`]), one end enslaved to a bridge there
//! ([`Netns::add_bridge`]). A [`NodeNs`] adds private mount and PID
//! namespaces, so that one host can run several cluster nodes, each with its
//! own `/run`, `/var/lib` and `/dev/shm`.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::poll::{try_wait_for, POLL_INTERVAL};
use super::{children_of, signal, SYSTEM_PATH};

/// A namespace named `booth-rs-<pid>-<n>`, deleted (`ip netns del`) when the
/// last handle goes. Kill the processes in it before that.
#[derive(Debug)]
pub struct Netns {
    name: String,
    file: File,
}

impl Netns {
    /// Creates the namespace and brings its loopback up. Needs root.
    pub fn create() -> io::Result<Arc<Netns>> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "booth-rs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run_ip(&["netns", "add", &name])?;
        let file = match File::open(format!("/run/netns/{name}")) {
            Ok(f) => f,
            Err(e) => {
                let _ = run_ip(&["netns", "del", &name]);
                return Err(e);
            }
        };
        let ns = Netns { name, file };
        // Dropped (and deleted) if lo cannot be brought up.
        run_ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(Arc::new(ns))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// A bridge `name`, up, with `addrs` (`a.b.c.d/len`) on it.
    pub fn add_bridge(&self, name: &str, addrs: &[&str]) -> io::Result<()> {
        self.ip(&["link", "add", name, "type", "bridge"])?;
        for a in addrs {
            self.ip(&["addr", "add", a, "dev", name])?;
        }
        self.ip(&["link", "set", name, "up"])
    }

    /// A veth pair created inside the two namespaces (never in the host's):
    /// `ifname` here, up, with address `addr/prefix`; `peer` in `other`, up
    /// and enslaved to `bridge` there. Deleting either namespace deletes the
    /// pair.
    pub fn veth_to_bridge(
        &self,
        ifname: &str,
        addr: Ipv4Addr,
        prefix: u8,
        other: &Netns,
        peer: &str,
        bridge: &str,
    ) -> io::Result<()> {
        run_ip(&[
            "link",
            "add",
            ifname,
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            &other.name,
        ])?;
        other.ip(&["link", "set", peer, "master", bridge])?;
        other.ip(&["link", "set", peer, "up"])?;
        self.ip(&["addr", "add", &format!("{addr}/{prefix}"), "dev", ifname])?;
        self.ip(&["link", "set", ifname, "up"])
    }

    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Makes `cmd` enter this namespace before it execs.
    pub fn enter(&self, cmd: &mut Command) {
        let fd = self.fd();
        // SAFETY: setns is async-signal-safe; `fd` stays open (it belongs to
        // `self`, which outlives the spawn because the caller borrows it).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
    }

    /// Runs `f` on a thread inside the namespace (sockets it opens stay there).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let fd = self.fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: setns on the calling thread only; `fd` is open.
                let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread in the namespace panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&["netns", "del", &self.name]) {
            eprintln!("formation: cannot delete netns {}: {e}", self.name);
        }
    }
}

/// Private mount and PID namespaces inside a network namespace: one node of
/// a cluster. Their init is `sh -c SETUP` (run as root, `set -e`), which then
/// becomes a reaper (a perl loop around `wait`: daemons that double-fork are
/// adopted by the init, and a zombie would still pass `kill -0`, so an OCF
/// agent's stop would wait for it forever); `/proc` is the namespace's own. Processes enter
/// with `nsenter` ([`NodeNs::command`]), which forks, so they and all they
/// start are in the PID namespace: SIGKILL of the init ([`NodeNs::kill`]) ends
/// every process of the node at once, as a crash would, and nothing can
/// outlive it. The init also dies with the `unshare` that holds it
/// (`--kill-child`), and that one with the thread that started it
/// (`PR_SET_PDEATHSIG`): a test killed outright leaves no node running.
#[derive(Debug)]
pub struct NodeNs {
    name: String,
    holder: Option<Child>,
    init: u32,
    // Dropped after the node's processes are gone.
    net: Arc<Netns>,
}

/// Written by the init when its setup is done.
const NODE_READY: &str = "/run/.node-ready";

impl NodeNs {
    /// Creates the namespaces in `net` and runs `setup` in them; returns
    /// once it is done. Needs root.
    pub fn create(name: &str, net: Arc<Netns>, setup: &str) -> Result<NodeNs, String> {
        let script = format!(
            "set -e\n{setup}\n: > {NODE_READY}\n\
             exec perl -e 'while (1) {{ sleep 1 if wait() == -1 }}'\n"
        );
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "sh",
            "-c",
            &script,
        ])
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        net.enter(&mut cmd);
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        let holder = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot run unshare: {e}"))?;
        let mut node = NodeNs {
            name: name.to_owned(),
            init: 0,
            holder: Some(holder),
            net,
        };
        let hpid = node.holder.as_ref().map_or(0, Child::id);
        let ready = try_wait_for(Duration::from_secs(20), POLL_INTERVAL, || {
            if node.init == 0 {
                node.init = children_of(hpid).first().copied().unwrap_or(0);
            }
            if node.init != 0 && node.path(NODE_READY).exists() {
                return Some(Ok(()));
            }
            let h = node.holder.as_mut()?;
            match h.try_wait() {
                Ok(Some(status)) => Some(Err(status)),
                _ => None,
            }
        });
        match ready {
            Some(Ok(())) => Ok(node),
            Some(Err(status)) => {
                let mut err = String::new();
                if let Some(mut e) = node.holder.as_mut().and_then(|h| h.stderr.take()) {
                    let _ = io::Read::read_to_string(&mut e, &mut err);
                }
                node.holder = None;
                Err(format!(
                    "{name}: the node's setup failed ({status}):\n{err}"
                ))
            }
            None => Err(format!("{name}: the node's setup did not finish in 20 s")),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn net(&self) -> &Arc<Netns> {
        &self.net
    }

    /// The init's PID as the host sees it.
    pub fn init_pid(&self) -> u32 {
        self.init
    }

    /// Whether the node's processes still run.
    pub fn is_alive(&self) -> bool {
        self.holder.is_some()
    }

    /// `path` as seen inside the node (through `/proc/INIT/root`), while it runs.
    pub fn path(&self, path: &str) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.init)).join(path.trim_start_matches('/'))
    }

    /// `argv` run inside the node's namespaces (network, mount, PID), with
    /// a clean environment (`PATH` only).
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.init.to_string())
            .args(["--mount", "--net", "--pid", "--"])
            .args(argv)
            .env_clear()
            .env("PATH", SYSTEM_PATH);
        cmd
    }

    /// Host PIDs of every process of the node (its PID namespace).
    pub fn pids(&self) -> Vec<u32> {
        let Ok(want) = std::fs::read_link(format!("/proc/{}/ns/pid", self.init)) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let ns = std::fs::read_link(e.path().join("ns/pid")).ok()?;
                (ns == want).then_some(pid)
            })
            .collect()
    }

    /// SIGKILL to the init: the kernel kills every process of the node.
    /// Waits until the holder has exited. Idempotent.
    pub fn kill(&mut self) {
        let Some(mut h) = self.holder.take() else {
            return;
        };
        if self.init != 0 {
            signal(self.init, libc::SIGKILL);
        }
        let done = try_wait_for(Duration::from_secs(20), POLL_INTERVAL, || {
            h.try_wait().ok().flatten()
        });
        if done.is_none() {
            eprintln!("formation: node {} outlived SIGKILL of its init", self.name);
            let _ = h.kill();
            let _ = h.wait();
        }
    }
}

impl Drop for NodeNs {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `f` in `ns` if there is one, else right here.
pub fn run_in<T: Send>(ns: Option<&Netns>, f: impl FnOnce() -> T + Send) -> T {
    match ns {
        Some(ns) => ns.run(f),
        None => f(),
    }
}

fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
