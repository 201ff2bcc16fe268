//! systemd's notification protocol without libsystemd: datagrams to
//! `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
//!
//! `READY=1` once the daemon has started (for `Type=notify`), `STOPPING=1`
//! when it leaves, and `WATCHDOG=1` from the event loop every half
//! `$WATCHDOG_USEC` (set by `WatchdogSec=`), so systemd kills and restarts
//! a daemon whose loop stopped turning. Without `$NOTIFY_SOCKET` every call
//! does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use booth_core::{Duration, Instant};

/// The notification socket and the watchdog period.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    /// Half of `$WATCHDOG_USEC`, when the watchdog is on for this process.
    interval: Option<Duration>,
    next: Option<Instant>,
    pub sent: u64,
}

impl Notifier {
    /// From the environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`).
    pub fn from_env(now: Instant) -> Notifier {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Notifier::new(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
            now,
        )
    }

    fn new(
        socket: Option<&str>,
        usec: Option<&str>,
        pid: Option<&str>,
        my_pid: u32,
        now: Instant,
    ) -> Notifier {
        let target = socket.and_then(|s| {
            let addr = match s.strip_prefix('@') {
                Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok()?,
                None if s.starts_with('/') => SocketAddr::from_pathname(s).ok()?,
                None => return None,
            };
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        if socket.is_some() && target.is_none() {
            log::warn!("NOTIFY_SOCKET={socket:?} is not usable; not notifying systemd");
        }
        // WATCHDOG_PID, when set, names the process the watchdog is for.
        let for_us = pid.is_none_or(|p| p.parse::<u32>().ok() == Some(my_pid));
        let interval = usec
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| *u > 0 && for_us && target.is_some())
            .map(|u| Duration((u / 2000).max(1)));
        Notifier {
            target,
            interval,
            next: interval.map(|_| now),
            sent: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The keep-alive period, when the watchdog is on.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Sends `state` (newline-separated `KEY=value` lines).
    pub fn notify(&mut self, state: &str) {
        if let Some((sock, addr)) = &self.target {
            match sock.send_to_addr(state.as_bytes(), addr) {
                Ok(_) => self.sent += 1,
                Err(e) => log::debug!("sd_notify {state:?}: {e}"),
            }
        }
    }

    /// `READY=1` with a status line (and `MAINPID`, for a forked daemon).
    pub fn ready(&mut self, status: &str) {
        let msg = format!(
            "READY=1\nMAINPID={}\nSTATUS={}",
            std::process::id(),
            status.replace('\n', " ")
        );
        self.notify(&msg);
    }

    /// Sends `WATCHDOG=1` when due; called from the event loop.
    pub fn on_time(&mut self, now: Instant) {
        let (Some(interval), Some(next)) = (self.interval, self.next) else {
            return;
        };
        if now >= next {
            self.notify("WATCHDOG=1");
            self.next = Some(now + interval);
        }
    }

    /// When the next keep-alive is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alives_at_half_the_watchdog_period() {
        let dir = std::env::temp_dir().join(format!("booth-sdnotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_nonblocking(true).unwrap();
        let p = path.to_str().unwrap();
        let mut n = Notifier::new(Some(p), Some("4000000"), Some("42"), 42, Instant(1_000));
        assert_eq!(n.watchdog_interval(), Some(Duration(2_000)));
        n.ready("site 192.0.2.1");
        n.on_time(Instant(1_000));
        n.on_time(Instant(2_999));
        n.on_time(Instant(3_000));
        assert_eq!(n.next_deadline(), Some(Instant(5_000)));
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(len) = rx.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with("READY=1\nMAINPID="), "{got:?}");
        assert!(got[0].ends_with("STATUS=site 192.0.2.1"));
        assert_eq!(&got[1..], ["WATCHDOG=1", "WATCHDOG=1"]);
        let _ = std::fs::remove_dir_all(&dir);

        // Another process's watchdog, or none at all.
        let n = Notifier::new(Some(p), Some("4000000"), Some("7"), 42, Instant(0));
        assert_eq!(n.watchdog_interval(), None);
        let mut n = Notifier::new(None, Some("4000000"), None, 42, Instant(0));
        assert!(!n.enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.notify("READY=1");
        assert_eq!(n.sent, 0);
        assert!(Notifier::new(Some("relative"), None, None, 1, Instant(0))
            .target
            .is_none());
        assert!(Notifier::new(Some("@abstract-x"), None, None, 1, Instant(0)).enabled());
    }
}
