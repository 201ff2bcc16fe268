//! systemd's notification protocol against a real `boothd daemon`: with
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC` set as systemd sets them, the daemon
//! sends `READY=1` once started and `WATCHDOG=1` every half period from its
//! event loop; SIGSTOP silences it (so systemd's watchdog would fire), and
//! SIGTERM ends with `STOPPING=1`. A site also starts its lease guard.
//! No root needed: one site alone on a loopback address.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use booth_tests::formation::{binary, signal};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every notification received within `window`, with its arrival time.
fn collect(rx: &UnixDatagram, window: Duration) -> Vec<(Instant, String)> {
    collect_until(rx, window, "")
}

/// [`collect`], returning early once `last` arrived.
fn collect_until(rx: &UnixDatagram, window: Duration, last: &str) -> Vec<(Instant, String)> {
    let until = Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        rx.set_read_timeout(Some(left)).unwrap();
        match rx.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = !last.is_empty() && text == last;
                out.push((Instant::now(), text));
                if done {
                    return out;
                }
            }
            Err(_) => return out,
        }
    }
}

#[test]
fn ready_watchdog_keepalives_and_stopping() {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("booth-rs-watchdog-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let stub = dir.join("bin/crm_ticket");
    std::fs::write(
        &stub,
        "#!/bin/sh\ncase \" $* \" in *\" -q \"*) exit 105;; esac\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ip = format!("127.{}.{}.77", 100 + pid % 100, pid % 250);
    let port = 20000 + (pid % 20000) as u16;
    let who = |flag: &str| {
        let o = Command::new("id").arg(flag).output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let conf = dir.join("booth.conf");
    std::fs::write(
        &conf,
        format!(
            "transport = UDP\nport = {port}\nsite-user = {u}\nsite-group = {g}\n\
             arbitrator-user = {u}\narbitrator-group = {g}\n\
             site = {ip}\nsite = 127.0.0.250\narbitrator = 127.0.0.251\n\
             ticket = \"tW\"\n    expire = 10\n    timeout = 1\n    retries = 3\n",
            u = who("-un"),
            g = who("-gn"),
        ),
    )
    .unwrap();
    let sock = dir.join("notify");
    let rx = UnixDatagram::bind(&sock).unwrap();

    let daemon = Command::new(binary::boothd())
        .args(["daemon", "-S", "-c"])
        .arg(&conf)
        .args(["-s", &ip, "-l"])
        .arg(dir.join("lock"))
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/bin", dir.join("bin").display()),
        )
        .env("BOOTH_STATE_DIR", dir.join("state"))
        .env("NOTIFY_SOCKET", &sock)
        .env("WATCHDOG_USEC", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let dpid = daemon.id();
    let mut daemon = Kill(daemon);
    let log = || std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();

    // READY=1 first, then a keep-alive every 500 ms.
    let got = collect(&rx, Duration::from_millis(2600));
    let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        texts.first().is_some_and(|t| t.starts_with("READY=1\n")),
        "{texts:?}\n{}",
        log()
    );
    let pings: Vec<Instant> = got
        .iter()
        .filter(|(_, t)| t == "WATCHDOG=1")
        .map(|(at, _)| *at)
        .collect();
    assert!(pings.len() >= 4, "{texts:?}");
    for w in pings.windows(2) {
        let d = w[1] - w[0];
        assert!(
            d >= Duration::from_millis(400) && d <= Duration::from_millis(800),
            "keep-alives {d:?} apart"
        );
    }
    assert!(log().contains("lease guard of booth started"), "{}", log());

    // A stopped loop sends nothing: systemd's watchdog would fire.
    signal(dpid, libc::SIGSTOP);
    let silent = collect(&rx, Duration::from_millis(1500));
    signal(dpid, libc::SIGCONT);
    assert!(silent.is_empty(), "{silent:?}");
    let again = collect(&rx, Duration::from_millis(1200));
    assert!(again.iter().any(|(_, t)| t == "WATCHDOG=1"), "{again:?}");

    // SIGTERM: STOPPING=1, then the daemon exits.
    signal(dpid, libc::SIGTERM);
    let bye = collect_until(&rx, Duration::from_secs(5), "STOPPING=1");
    assert!(bye.iter().any(|(_, t)| t == "STOPPING=1"), "{bye:?}");
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", log());
    // The guard (nothing granted, daemon gone) exits on its own.
    let guard: Option<u32> = log()
        .lines()
        .find_map(|l| l.split("started the lease guard (pid ").nth(1))
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok());
    let guard = guard.expect("the guard's pid in the log");
    // Gone, or a zombie waiting for init.
    let running = || {
        std::fs::read_to_string(format!("/proc/{guard}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| !r.trim().starts_with('Z')))
            .unwrap_or(false)
    };
    let until = Instant::now() + Duration::from_secs(20);
    while running() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone = !running();
    if !gone {
        signal(guard, libc::SIGKILL);
    }
    assert!(gone, "the idle guard {guard} did not exit");
    let _ = std::fs::remove_dir_all(&dir);
}
