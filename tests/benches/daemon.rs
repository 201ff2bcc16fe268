//! Daemon measurements on real processes, booth-rs and booth 1.x side by side
//! in the same harness (docs/measurements.md):
//!
//! * grant to visible: `booth grant` started → client exit, → every member's
//!   `list` shows the new leader (each polled over TCP every 2 ms), → both
//!   sites' `crm_ticket` called;
//! * failover after SIGKILL of the holder at a different point of the
//!   renewal cycle in each run: the remaining lease (last `UpdE` seen on the
//!   wire + expire − kill) and the overhead beyond it (the new holder's
//!   `crm_ticket -g` − that lease end), in the all-booth-rs formation, the
//!   mixed ones (booth-rs and booth 1.x members together) and all booth 1.x;
//! * the hand-over gap after SIGSTOP or a partition (both ways) of the
//!   holder: the new holder's `crm_ticket -g` − the old holder's
//!   `crm_ticket -r` (its lease guard's or its own), all booth-rs, in a
//!   network namespace of its own;
//! * RSS (VmRSS, VmHWM) of every daemon, with any helper process it forked;
//! * datagrams per renewal period for one granted ticket, and with none.
//!
//! Two sites + one arbitrator on loopback, expire 10 s, timeout 1 s,
//! retries 3, acquire-after 0, `crm_ticket` the logging stub (the same for
//! both). booth 1.x needs `-D` to accept `-s`, so it logs at debug level;
//! booth-rs runs without `-D` (with it under `BENCH_DEBUG=1`). Needs root for
//! the packet capture, the namespace and iptables.
//!
//! `cargo bench -p booth-tests --bench daemon`. Options in the environment:
//! `BENCH_RUNS=N` (default 7), `BENCH_ONLY=rs|1x`,
//! `BENCH_PART=grant|failover|gap|steady` (or several, comma-separated),
//! `BENCH_MIX=rrr,rrb,…` (failover formations: r booth-rs, b booth 1.x for
//! site 0 — the holder killed —, site 1, arbitrator), `BENCH_CIB=file` (the
//! real `crm_ticket` writing a file CIB per site instead of the stub),
//! `BENCH_DEBUG=1` (booth-rs with `-D`; with `BOOTH_KEEP=1` the logs stay),
//! `BOOTHD=path` (another build of boothd).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use booth_core::wire::{Command, TicketBody, HEADER_LEN};
use booth_tests::faults::net::{Cut, Filter};
use booth_tests::formation::capture::{Capture, Datagram};
use booth_tests::formation::{
    epoch_now, is_root, proc_status_kb, wait_for, wire, Cib, Daemon, Formation, Netns, Ticket,
    BOOTH_1X,
};

const T: &str = "ticketA";
const EXPIRE: f64 = 10.0;
const RENEWAL: f64 = 5.0;

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks for a list; there are no unit tests here.
    }
    assert!(is_root(), "the measurements capture packets: run as root");
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut daemons = Vec::new();
    if only != "1x" {
        daemons.push(Daemon::BoothRs);
    }
    if only != "rs" && std::path::Path::new(BOOTH_1X).exists() {
        daemons.push(Daemon::Booth1x);
    }
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    let want = |p: &str| part.is_empty() || part.split(',').any(|q| q.trim() == p);
    let mut report = format!(
        "boothd: {}; crm_ticket: {:?}; runs: {runs}\n",
        booth_tests::formation::boothd().display(),
        cib()
    );
    let started = Instant::now();
    for d in daemons {
        if !want("grant") && !want("steady") {
            break;
        }
        let name = match d {
            Daemon::BoothRs => "booth-rs",
            Daemon::Booth1x => "booth 1.x",
        };
        eprintln!("== {name}: grant to visible, {runs} runs");
        let g = if want("grant") {
            grant_latency(d, runs)
        } else {
            Grant::default()
        };
        eprintln!("== {name}: steady state");
        let st = if want("steady") {
            steady(d)
        } else {
            Steady::default()
        };
        report.push_str(&format!(
            "\n### {name}\n\n| measurement | min | median | max | n |\n|---|---|---|---|---|\n"
        ));
        row(&mut report, "grant: client exits (ms)", &g.client);
        row(
            &mut report,
            "grant: all 3 members list the leader (ms)",
            &g.listed,
        );
        row(
            &mut report,
            "grant: both sites' CIBs written (stub: called) (ms)",
            &g.cib,
        );
        for (role, v) in &st.rss {
            row(&mut report, &format!("VmRSS {role} (kB)"), v);
        }
        for (role, v) in &st.hwm {
            row(&mut report, &format!("VmHWM {role} (kB)"), v);
        }
        row(&mut report, "renewal interval (s)", &st.interval);
        row(
            &mut report,
            "datagrams per renewal, 1 granted ticket",
            &st.per_renewal,
        );
        row(
            &mut report,
            "bytes per renewal (UDP payload)",
            &st.bytes_per_renewal,
        );
        row(
            &mut report,
            "datagrams in 10 s, ticket not granted",
            &st.idle,
        );
        report.push_str(&format!(
            "\nOne renewal round on the wire: {}\n",
            st.sequence
        ));
    }
    if want("failover") {
        let mixes = mixes();
        let codes: Vec<&str> = mixes.iter().map(|m| m.code).collect();
        eprintln!(
            "== failover after SIGKILL of site 0, {runs} runs of {}",
            codes.join(", ")
        );
        let t = Instant::now();
        let fo = failover_all(&mixes, runs);
        report.push_str(&format!(
            "\n### Failover after SIGKILL of the holder (site 0; r = booth-rs, b = booth 1.x: \
             site 0, site 1, arbitrator), {:.0} s\n",
            t.elapsed().as_secs_f64()
        ));
        for (m, r) in mixes.iter().zip(&fo) {
            report.push_str(&format!("\n#### {} — {}\n\n", m.code, m.what));
            report.push_str("| measurement | min | median | max | n |\n|---|---|---|---|---|\n");
            row(&mut report, "lease left at SIGKILL (s)", &r.remaining);
            row(
                &mut report,
                "new holder's CIB grant after SIGKILL (s)",
                &r.total,
            );
            let ms: Vec<f64> = r.overhead.iter().map(|x| x * 1e3).collect();
            row(&mut report, "**overhead beyond the lease (ms)**", &ms);
            let ms: Vec<f64> = r.listed_overhead.iter().map(|x| x * 1e3).collect();
            row(
                &mut report,
                "arbitrator lists the new holder, beyond the lease (ms)",
                &ms,
            );
            row(&mut report, "UpdE valid_for on the wire (s)", &r.valid_for);
        }
    }
    if want("gap") {
        let m = MIXES[0];
        eprintln!(
            "== gap after SIGSTOP / partition of site 0, {runs} runs of {}",
            m.code
        );
        let t = Instant::now();
        let gaps = gap_all(&m, runs);
        report.push_str(&format!(
            "\n### Hand-over gap after SIGSTOP / partition of the holder, {} ({}), {:.0} s\n\n\
             | measurement | min | median | max | n |\n|---|---|---|---|---|\n",
            m.code,
            m.what,
            t.elapsed().as_secs_f64()
        ));
        for (fault, g) in &gaps {
            let w = match fault {
                Fault::Stop => "SIGSTOP",
                Fault::Cut => "partition",
            };
            let ms = |v: &[f64]| v.iter().map(|x| x * 1e3).collect::<Vec<f64>>();
            row(
                &mut report,
                &format!("{w}: **old holder's CIB revoke → new holder's CIB grant (ms)**"),
                &ms(&g.gap),
            );
            row(
                &mut report,
                &format!("{w}: old holder's revoke − lease end (ms)"),
                &ms(&g.revoke),
            );
            row(
                &mut report,
                &format!("{w}: new holder's grant − lease end (ms)"),
                &ms(&g.grant),
            );
        }
    }
    report.push_str(&format!(
        "\nWhole bench: {:.0} s\n",
        started.elapsed().as_secs_f64()
    ));
    println!("{report}");
}

fn row(out: &mut String, what: &str, v: &[f64]) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    if s.is_empty() {
        out.push_str(&format!("| {what} | – | – | – | 0 |\n"));
        return;
    }
    let med = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    let f = |x: f64| {
        if x.abs() >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
        }
    };
    out.push_str(&format!(
        "| {what} | {} | {} | {} | {} |\n",
        f(s[0]),
        f(med),
        f(s[s.len() - 1]),
        s.len()
    ));
}

/// `BENCH_CIB=file`: the sites run the real `crm_ticket` on file CIBs.
fn cib() -> Cib {
    match std::env::var("BENCH_CIB").as_deref() {
        Ok("file") => Cib::File,
        _ => Cib::Stub,
    }
}

fn formation(d: Daemon, tag: &str) -> Formation {
    Formation::builder()
        .tag(tag)
        .site_cibs(&[cib(), cib()])
        .daemon(d)
        .debug(false)
        .ticket(Ticket::fast(T))
        .start()
}

/// Waits until every member lists nobody (or nobody yet) as leader.
fn wait_nobody(f: &Formation) {
    wait_for(Duration::from_secs(20), "nobody to hold the ticket", || {
        (0..f.len())
            .all(|i| {
                f.list_raw(i)
                    .is_ok_and(|t| t.contains("leader: none") || t.contains("leader: NONE"))
            })
            .then_some(())
    });
}

#[derive(Default)]
struct Grant {
    client: Vec<f64>,
    listed: Vec<f64>,
    cib: Vec<f64>,
}

fn grant_latency(d: Daemon, runs: usize) -> Grant {
    let f = formation(d, "bench-grant");
    let mut g = Grant {
        client: vec![],
        listed: vec![],
        cib: vec![],
    };
    let key = f.key().map(<[u8]>::to_vec);
    for run in 0..runs {
        wait_nobody(&f);
        let site = run % 2;
        let other = 1 - site;
        let needle = format!("leader: {}, expires", f.ip(site));
        let before: Vec<usize> = (0..2).map(|i| f.cib_calls(i).len()).collect();
        let addrs: Vec<SocketAddr> = (0..f.len()).map(|i| f.addr(i)).collect();
        let t0 = Instant::now();
        let t0_wall = epoch_now();
        let (client, listed) = thread::scope(|s| {
            let pollers: Vec<_> = addrs
                .iter()
                .map(|&a| {
                    let (needle, key) = (needle.clone(), key.clone());
                    s.spawn(move || loop {
                        let text = wire::list_text(
                            |a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)),
                            a,
                            key.as_deref(),
                            Duration::from_secs(2),
                        );
                        if text.is_ok_and(|t| t.contains(&needle)) {
                            return t0.elapsed();
                        }
                        assert!(t0.elapsed() < Duration::from_secs(20), "no leader at {a}");
                        thread::sleep(Duration::from_millis(2));
                    })
                })
                .collect();
            let out = f.grant(site, T);
            let client = t0.elapsed();
            assert_eq!(out.code, 0, "{out}\n{}", f.diagnostics());
            let listed = pollers
                .into_iter()
                .map(|p| p.join().expect("poller"))
                .max()
                .expect("three members");
            (client, listed)
        });
        let holder_id = i64::from(f.site_id(site));
        let cib_at = wait_for(Duration::from_secs(10), "both CIB writes", || {
            let g_at = f.cib_calls(site)[before[site]..]
                .iter()
                .find(|c| c.granted() == Some(true))
                .map(|c| c.at)?;
            let r_at = f.cib_calls(other)[before[other]..]
                .iter()
                .find(|c| c.granted() == Some(false) && c.owner() == Some(holder_id))
                .map(|c| c.at)?;
            Some(g_at.max(r_at))
        });
        g.client.push(client.as_secs_f64() * 1e3);
        g.listed.push(listed.as_secs_f64() * 1e3);
        g.cib.push((cib_at - t0_wall) * 1e3);
        let out = f.revoke(site, T);
        assert_eq!(out.code, 0, "{out}");
    }
    g
}

/// One formation of the failover measurements: the daemon of site 0 (the
/// holder that is stopped, killed or cut off), of site 1 (the next holder)
/// and of the arbitrator.
#[derive(Debug, Clone, Copy)]
struct Mix {
    /// `r` booth-rs, `b` booth 1.x: site 0, site 1, arbitrator.
    code: &'static str,
    members: [Daemon; 3],
    what: &'static str,
}

const R: Daemon = Daemon::BoothRs;
const B: Daemon = Daemon::Booth1x;

/// Every formation of the failover measurement; the mixed ones are those of
/// the interop suite (tests/tests/interop_booth.rs: 1 booth sites + our
/// arbitrator, 2 booth site + our site + booth arbitrator, 3 our sites +
/// booth arbitrator, 4 all ours), each mixed pair of sites with either one
/// as the killed holder, and a booth site beside ours with our arbitrator.
const MIXES: [Mix; 8] = [
    Mix {
        code: "rrr",
        members: [R, R, R],
        what: "all booth-rs (interop 4)",
    },
    Mix {
        code: "rrb",
        members: [R, R, B],
        what: "booth-rs sites, booth arbitrator (interop 3)",
    },
    Mix {
        code: "rbr",
        members: [R, B, R],
        what: "booth-rs site killed, booth site, booth-rs arbitrator",
    },
    Mix {
        code: "brr",
        members: [B, R, R],
        what: "booth site killed, booth-rs site, booth-rs arbitrator",
    },
    Mix {
        code: "rbb",
        members: [R, B, B],
        what: "booth-rs site killed, booth site, booth arbitrator (interop 2)",
    },
    Mix {
        code: "brb",
        members: [B, R, B],
        what: "booth site killed, booth-rs site, booth arbitrator (interop 2)",
    },
    Mix {
        code: "bbr",
        members: [B, B, R],
        what: "booth sites, booth-rs arbitrator (interop 1)",
    },
    Mix {
        code: "bbb",
        members: [B, B, B],
        what: "all booth 1.0-283",
    },
];

/// `BENCH_MIX=rrr,brb,…` picks formations; else `BENCH_ONLY=rs` all
/// booth-rs, `BENCH_ONLY=1x` all booth 1.x, otherwise every formation
/// (those with booth 1.x only if it is installed).
fn mixes() -> Vec<Mix> {
    let have_1x = std::path::Path::new(BOOTH_1X).exists();
    let chosen = std::env::var("BENCH_MIX").unwrap_or_default();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    MIXES
        .iter()
        .copied()
        .filter(|m| {
            if !chosen.is_empty() {
                return chosen.split(',').any(|c| c.trim() == m.code);
            }
            match only.as_str() {
                "rs" => m.code == "rrr",
                "1x" => m.code == "bbb",
                _ => have_1x || m.code == "rrr",
            }
        })
        .collect()
}

/// `BENCH_DEBUG=1`: booth-rs members run with `-D` too (booth 1.x always
/// does), for a timeline of a slow failover; `BOOTH_KEEP=1` keeps the
/// scratch directories with the logs.
fn debug() -> bool {
    std::env::var_os("BENCH_DEBUG").is_some()
}

fn mixed_formation(m: &Mix, tag: &str, ns: Option<Arc<Netns>>) -> Formation {
    let mut b = Formation::builder()
        .tag(tag)
        .site_cibs(&[cib(), cib()])
        .daemon(m.members[0])
        .member_daemons(&m.members)
        .debug(debug())
        .ticket(Ticket::fast(T));
    if let Some(ns) = ns {
        b = b.netns(ns);
    }
    b.start()
}

#[derive(Default)]
struct Failover {
    remaining: Vec<f64>,
    total: Vec<f64>,
    overhead: Vec<f64>,
    listed_overhead: Vec<f64>,
    valid_for: Vec<f64>,
}

/// The holder's (site 0's) last `UpdE` seen on the wire at or before `at`,
/// and the `valid_for` it carried.
fn last_update(seen: &[Datagram], from: IpAddr, at: f64) -> (f64, u32) {
    let upd = seen
        .iter()
        .rev()
        .filter(|d| IpAddr::V4(*d.src.ip()) == from && d.wall <= at)
        .find(|d| Capture::command(d) == Some(Command::Update))
        .unwrap_or_else(|| {
            let summary: Vec<String> = seen
                .iter()
                .map(|d| {
                    format!(
                        "{:.3} {}→{} {:?}",
                        d.wall - at,
                        d.src,
                        d.dst,
                        Capture::command(d)
                    )
                })
                .collect();
            panic!(
                "no UpdE from the holder before the fault:\n{}",
                summary.join("\n")
            )
        });
    let valid_for = TicketBody::parse(&upd.payload[HEADER_LEN..])
        .expect("ticket body")
        .valid_for;
    (upd.wall, valid_for)
}

/// Where in the 5 s renewal cycle run `run` of `runs` places its fault
/// (after the grant and one second to settle).
fn fault_delay(run: usize, runs: usize) -> Duration {
    Duration::from_secs_f64(1.0 + RENEWAL * (run as f64 + 0.5) / runs as f64)
}

/// Runs are interleaved over the formations (run k of every formation, then
/// run k + 1), so a change of load on the shared machine spreads over all.
fn failover_all(mixes: &[Mix], runs: usize) -> Vec<Failover> {
    let mut r: Vec<Failover> = mixes.iter().map(|_| Failover::default()).collect();
    for run in 0..runs {
        for (m, out) in mixes.iter().zip(r.iter_mut()) {
            failover_run(m, run, runs, out);
        }
    }
    r
}

fn failover_run(m: &Mix, run: usize, runs: usize, r: &mut Failover) {
    let mut f = mixed_formation(m, &format!("bench-failover-{}", m.code), None);
    let cap = Capture::open(None, f.port()).expect("packet capture");
    let out = f.grant(0, T);
    assert_eq!(out.code, 0, "{out}");
    f.wait_leader(T, Some(0), Duration::from_secs(10));
    // Kill at a different point of the 5 s renewal cycle each run.
    thread::sleep(fault_delay(run, runs));
    let killed = f.kill9(0);
    let seen: Vec<Datagram> = cap.collect(Duration::from_millis(50));
    let (upd_at, valid_for) = last_update(&seen, f.ip(0).into(), killed);
    let lease_end = upd_at + EXPIRE;
    let id1 = f.site_id(1);
    let arb = f.len() - 1;
    let needle = format!("leader: {}, expires", f.ip(1));
    let mut listed_at = None;
    let granted_at = wait_for(Duration::from_secs(40), "site 1's CIB grant", || {
        if listed_at.is_none() && f.list_raw(arb).is_ok_and(|t| t.contains(&needle)) {
            listed_at = Some(epoch_now());
        }
        f.cib_calls(1)
            .iter()
            .find(|c| c.granted() == Some(true) && c.owner() == Some(i64::from(id1)))
            .map(|c| c.at)
    });
    let listed_at = listed_at.unwrap_or_else(|| {
        wait_for(
            Duration::from_secs(10),
            "the arbitrator to list site 1",
            || {
                f.list_raw(arb)
                    .is_ok_and(|t| t.contains(&needle))
                    .then(epoch_now)
            },
        )
    });
    if debug() {
        let mut all = seen;
        all.extend(cap.collect(Duration::from_millis(100)));
        timeline(&f, &all, lease_end, lease_end - 0.3, granted_at + 0.05);
    }
    r.remaining.push(lease_end - killed);
    r.total.push(granted_at - killed);
    r.overhead.push(granted_at - lease_end);
    r.listed_overhead.push(listed_at - lease_end);
    r.valid_for.push(f64::from(valid_for));
    eprintln!(
        "  {} run {run}: lease left {:.3} s, site 1 granted after {:.3} s ({:+.3} s){}",
        m.code,
        lease_end - killed,
        granted_at - killed,
        granted_at - lease_end,
        if debug() {
            format!(" [{}]", f.dir().display())
        } else {
            String::new()
        }
    );
}

/// `BENCH_DEBUG=1`: the datagrams seen between `from` and `to` and every
/// `crm_ticket` call of the sites, in ms after `zero` (the lease end).
fn timeline(f: &Formation, seen: &[Datagram], zero: f64, from: f64, to: f64) {
    let who = |ip: &std::net::Ipv4Addr| {
        f.member_at(&ip.to_string()).map_or("?".to_owned(), |i| {
            let kind = match f.daemon_of(i) {
                Daemon::BoothRs => "r",
                Daemon::Booth1x => "b",
            };
            let name = ["A", "B", "arb"].get(i).copied().unwrap_or("?");
            format!("{name}({kind})")
        })
    };
    let mut lines: Vec<(f64, String)> = seen
        .iter()
        .filter(|d| d.wall >= from && d.wall <= to)
        .map(|d| {
            let h = booth_core::wire::Header::parse(&d.payload).ok();
            let body = TicketBody::parse(d.payload.get(HEADER_LEN..).unwrap_or(&[])).ok();
            let req = h
                .and_then(|h| Command::from_u32(h.request))
                .map_or(String::new(), |c| format!(" re {c:?}"));
            let res = h.map_or(0, |h| h.result);
            (
                d.wall,
                format!(
                    "{} → {} {}{req} result {res} term {} valid_for {}",
                    who(d.src.ip()),
                    who(d.dst.ip()),
                    Capture::command(d).map_or("?".to_owned(), |c| format!("{c:?}")),
                    body.as_ref().map_or(0, |b| b.term),
                    body.as_ref().map_or(0, |b| b.valid_for),
                ),
            )
        })
        .collect();
    for site in 0..2 {
        for c in f.cib_calls(site) {
            if c.at >= from && c.at <= to {
                lines.push((c.at, format!("site {site} crm_ticket {}", c.args.join(" "))));
            }
        }
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, l) in lines {
        eprintln!("    {:+9.3} ms  {l}", (at - zero) * 1e3);
    }
}

/// The fault of the gap measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGSTOP of the holder's daemon (its lease guard keeps running).
    Stop,
    /// The holder's booth datagrams dropped both ways (iptables in the
    /// formation's own network namespace).
    Cut,
}

#[derive(Default)]
struct Gap {
    /// New holder's CIB grant − old holder's CIB revoke.
    gap: Vec<f64>,
    /// Old holder's CIB revoke − (its last `UpdE` + expire).
    revoke: Vec<f64>,
    /// New holder's CIB grant − (the old holder's last `UpdE` + expire).
    grant: Vec<f64>,
}

/// The hand-over gap after SIGSTOP or a partition of the holder: from the
/// old holder's CIB revoke (its lease guard's or its own `crm_ticket -r`)
/// to the new holder's CIB grant, each formation in a network namespace of
/// its own making (only `lo`).
fn gap_all(m: &Mix, runs: usize) -> Vec<(Fault, Gap)> {
    let ns = Netns::create().expect("a network namespace (root)");
    let mut r = vec![(Fault::Stop, Gap::default()), (Fault::Cut, Gap::default())];
    for run in 0..runs {
        for (fault, out) in r.iter_mut() {
            gap_run(m, *fault, run, runs, &ns, out);
        }
    }
    r
}

fn gap_run(m: &Mix, fault: Fault, run: usize, runs: usize, ns: &Arc<Netns>, r: &mut Gap) {
    let tag = format!("bench-gap-{}", m.code);
    let mut f = mixed_formation(m, &tag, Some(ns.clone()));
    let cap = Capture::open(Some(ns), f.port()).expect("packet capture");
    let filter = Filter::new(
        ns.name(),
        &format!("{}-{run}", std::process::id()),
        f.port(),
    )
    .expect("iptables chain");
    let out = f.grant(0, T);
    assert_eq!(out.code, 0, "{out}");
    f.wait_leader(T, Some(0), Duration::from_secs(10));
    thread::sleep(fault_delay(run, runs));
    let at = match fault {
        Fault::Stop => f.sigstop(0),
        Fault::Cut => {
            let at = epoch_now();
            filter.cut(f.ip(0), Cut::Both).expect("iptables");
            at
        }
    };
    let seen: Vec<Datagram> = cap.collect(Duration::from_millis(50));
    let (upd_at, _) = last_update(&seen, f.ip(0).into(), at);
    let lease_end = upd_at + EXPIRE;
    let id1 = i64::from(f.site_id(1));
    let (revoked, granted) = wait_for(
        Duration::from_secs(40),
        "site 0's CIB revoke and site 1's grant",
        || {
            let revoked = f
                .cib_calls(0)
                .iter()
                .find(|c| c.at >= at && c.granted() == Some(false))
                .map(|c| c.at)?;
            let granted = f
                .cib_calls(1)
                .iter()
                .find(|c| c.granted() == Some(true) && c.owner() == Some(id1))
                .map(|c| c.at)?;
            Some((revoked, granted))
        },
    );
    if debug() {
        let mut all = seen;
        all.extend(cap.collect(Duration::from_millis(100)));
        timeline(&f, &all, lease_end, revoked - 0.3, granted + 0.05);
    }
    r.gap.push(granted - revoked);
    r.revoke.push(revoked - lease_end);
    r.grant.push(granted - lease_end);
    eprintln!(
        "  {} {fault:?} run {run}: revoke {:+.3} s, grant {:+.3} s after the lease end, gap {:.3} s{}",
        m.code,
        revoked - lease_end,
        granted - lease_end,
        granted - revoked,
        if debug() {
            format!(" [{}]", f.dir().display())
        } else {
            String::new()
        }
    );
    drop(filter);
    drop(cap);
    drop(f);
}

#[derive(Default)]
struct Steady {
    rss: Vec<(String, Vec<f64>)>,
    hwm: Vec<(String, Vec<f64>)>,
    per_renewal: Vec<f64>,
    bytes_per_renewal: Vec<f64>,
    interval: Vec<f64>,
    idle: Vec<f64>,
    sequence: String,
}

fn steady(d: Daemon) -> Steady {
    let mut st = Steady {
        rss: vec![],
        hwm: vec![],
        per_renewal: vec![],
        bytes_per_renewal: vec![],
        interval: vec![],
        idle: vec![],
        sequence: String::new(),
    };
    let roles = ["site (holder)", "site (follower)", "arbitrator"];
    for r in roles {
        st.rss.push((format!("{r}, daemon process"), vec![]));
        st.rss.push((format!("{r}, with helpers"), vec![]));
        st.hwm.push((format!("{r}, with helpers"), vec![]));
    }
    for round in 0..3 {
        let f = formation(d, "bench-steady");
        let cap = Capture::open(None, f.port()).expect("packet capture");
        // Idle: nothing granted.
        let idle = cap.collect(Duration::from_secs(10));
        st.idle.push(idle.len() as f64);
        let out = f.grant(0, T);
        assert_eq!(out.code, 0, "{out}");
        f.wait_leader(T, Some(0), Duration::from_secs(10));
        // Two renewals committed by the holder: steady state.
        wait_for(Duration::from_secs(20), "two renewals", || {
            (f.cib_calls(0)
                .iter()
                .filter(|c| c.granted() == Some(true))
                .count()
                >= 3)
                .then_some(())
        });
        let _ = cap.collect(Duration::ZERO);
        let window = 4.0 * RENEWAL;
        let seen = cap.collect(Duration::from_secs_f64(window));
        // A renewal round starts with the holder's heartbeat to site B.
        let (ip0, ip1) = (f.ip(0), f.ip(1));
        let starts: Vec<usize> = seen
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                *d.src.ip() == ip0
                    && *d.dst.ip() == ip1
                    && Capture::command(d) == Some(Command::Heartbeat)
            })
            .map(|(i, _)| i)
            .collect();
        for w in starts.windows(2) {
            let round = &seen[w[0]..w[1]];
            st.per_renewal.push(round.len() as f64);
            st.bytes_per_renewal
                .push(round.iter().map(|d| d.payload.len() as f64).sum::<f64>());
            st.interval.push(seen[w[1]].wall - seen[w[0]].wall);
        }
        if round == 0 {
            // One period starting at a holder's HrtB.
            let from0 = f.ip(0);
            if let Some(start) = seen.iter().position(|d| {
                *d.src.ip() == from0 && Capture::command(d) == Some(Command::Heartbeat)
            }) {
                let t = seen[start].wall;
                let names: Vec<String> = seen[start..]
                    .iter()
                    .enumerate()
                    .take_while(|(k, d)| {
                        *k == 0
                            || !(*d.src.ip() == from0
                                && Capture::command(d) == Some(Command::Heartbeat)
                                && d.wall > t + 0.5)
                    })
                    .map(|(_, d)| d)
                    .map(|d| {
                        let who = |ip: &std::net::Ipv4Addr| {
                            f.member_at(&ip.to_string()).map_or("?".to_owned(), |i| {
                                ["A", "B", "arb"].get(i).copied().unwrap_or("?").to_owned()
                            })
                        };
                        format!(
                            "{}→{} {}",
                            who(d.src.ip()),
                            who(d.dst.ip()),
                            Capture::command(d).map_or("?".to_owned(), |c| format!("{c:?}"))
                        )
                    })
                    .collect();
                st.sequence = format!("{} ({} datagrams)", names.join(", "), names.len());
            }
        }
        for (i, r) in roles.iter().enumerate() {
            let pid = f.pid(i).expect("running");
            let (rss, hwm) = group_kb(pid);
            let own = proc_status_kb(pid, "VmRSS").unwrap_or(0) as f64;
            let push = |v: &mut Vec<(String, Vec<f64>)>, name: String, x: f64| {
                v.iter_mut().find(|(n, _)| *n == name).unwrap().1.push(x);
            };
            push(&mut st.rss, format!("{r}, daemon process"), own);
            push(&mut st.rss, format!("{r}, with helpers"), rss);
            push(&mut st.hwm, format!("{r}, with helpers"), hwm);
        }
    }
    st
}

/// VmRSS and VmHWM summed over the daemon `pid`, its process group and its
/// children (helpers it forked, such as a lease guard).
fn group_kb(pid: u32) -> (f64, f64) {
    let children = booth_tests::formation::children_of(pid);
    let mut rss = 0;
    let mut hwm = 0;
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let pgid: Option<u32> = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(2))
            .and_then(|s| s.parse().ok());
        if p == pid || pgid == Some(pid) || children.contains(&p) {
            rss += proc_status_kb(p, "VmRSS").unwrap_or(0);
            hwm += proc_status_kb(p, "VmHWM").unwrap_or(0);
        }
    }
    (rss as f64, hwm as f64)
}
