//! `booth-provision`: makes the provisioning blob of a booth arbitrator
//! appliance (`platform-bare`) from a standard `booth.conf` and its authfile.
//!
//! ```text
//! booth-provision -c booth.conf -s 127.0.0.3 -o arbitrator.blob \
//!     [--ip 10.0.2.15/24] [--gateway 10.0.2.2] [--wall-clock SECS] [--seed N] [--check-source]
//! booth-provision --show arbitrator.blob
//! ```
//!
//! `-s` names the appliance's member address in the file (it must be an
//! `arbitrator`). `--ip`/`--gateway` set its own interface when it sits
//! behind NAT (QEMU user networking: 10.0.2.15/24 via 10.0.2.2); by default
//! the interface gets the member address with a /24 and no gateway.
//! Source-address checks are off unless `--check-source` is given, because
//! NAT rewrites the sources the appliance sees; the HMAC still authenticates
//! every peer packet. The blob holds the key: it is written with mode 0600.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::exit;
use std::time::{SystemTime, UNIX_EPOCH};

use booth_bare::provision::{NetConfig, Provision};
use booth_bare::runtime::Endpoint;
use booth_core::Role;
use booth_linux::config;

/// Ticket capacity of the QEMU firmware build (a warning, not a limit here).
const FIRMWARE_TICKETS: usize = 8;
const BLOB_MAX: usize = 64 * 1024;

const USAGE: &str = "usage: booth-provision -c <booth.conf> -s <arbitrator address> -o <blob>
                       [--ip <addr>/<prefix>] [--gateway <addr>] [--wall-clock <unix secs>]
                       [--seed <n>] [--check-source]
       booth-provision --show <blob>";

struct Args {
    config: PathBuf,
    me: Ipv4Addr,
    out: PathBuf,
    ip: Option<(Ipv4Addr, u8)>,
    gateway: Option<Ipv4Addr>,
    wall: Option<u64>,
    seed: Option<u64>,
    check_source: bool,
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = if argv.first().map(String::as_str) == Some("--show") {
        match argv.get(1) {
            Some(p) if argv.len() == 2 => show(p),
            _ => Err(USAGE.to_owned()),
        }
    } else {
        parse(&argv).and_then(|a| provision(&a))
    };
    if let Err(e) = result {
        eprintln!("booth-provision: {e}");
        exit(1);
    }
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut config = None;
    let mut me = None;
    let mut out = None;
    let mut a = Args {
        config: PathBuf::new(),
        me: Ipv4Addr::UNSPECIFIED,
        out: PathBuf::new(),
        ip: None,
        gateway: None,
        wall: None,
        seed: None,
        check_source: false,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        if flag == "--check-source" {
            a.check_source = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            exit(0);
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let ipv4 = |v: &str| {
            v.parse::<Ipv4Addr>()
                .map_err(|_| format!("{flag}: {v:?} is not an IPv4 address"))
        };
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "-c" => config = Some(PathBuf::from(value)),
            "-s" => me = Some(ipv4(value)?),
            "-o" => out = Some(PathBuf::from(value)),
            "--ip" => {
                let (addr, prefix) = value
                    .split_once('/')
                    .ok_or_else(|| format!("--ip: {value:?} is not <addr>/<prefix>"))?;
                let prefix: u8 = prefix
                    .parse()
                    .ok()
                    .filter(|p| *p <= 32)
                    .ok_or_else(|| format!("--ip: bad prefix length in {value:?}"))?;
                a.ip = Some((ipv4(addr)?, prefix));
            }
            "--gateway" => a.gateway = Some(ipv4(value)?),
            "--wall-clock" => a.wall = Some(number(value)?),
            "--seed" => a.seed = Some(number(value)?),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    a.config = config.ok_or_else(|| format!("-c is required\n{USAGE}"))?;
    a.me = me.ok_or_else(|| format!("-s is required\n{USAGE}"))?;
    a.out = out.ok_or_else(|| format!("-o is required\n{USAGE}"))?;
    Ok(a)
}

fn endpoint(addr: SocketAddr, text: &str) -> Result<Endpoint, String> {
    match addr.ip() {
        IpAddr::V4(ip) => Ok(Endpoint {
            ip: ip.octets(),
            port: addr.port(),
        }),
        IpAddr::V6(_) => Err(format!(
            "member {text} is IPv6: the appliance speaks IPv4 only"
        )),
    }
}

fn provision(a: &Args) -> Result<(), String> {
    let loaded = config::load(&a.config).map_err(|e| e.to_string())?;
    for w in &loaded.warnings {
        eprintln!("booth-provision: warning: {w}");
    }
    let me = loaded
        .member_by_ip(IpAddr::V4(a.me))
        .ok_or_else(|| format!("{} is not a member in {}", a.me, a.config.display()))?;
    if loaded.members[me].role != Role::Arbitrator {
        return Err(format!(
            "{} is a site in {}: the appliance is a vote-only arbitrator",
            a.me,
            a.config.display()
        ));
    }
    if loaded.core.key.is_none() {
        eprintln!(
            "booth-provision: warning: no authfile: the appliance will run without authentication"
        );
    }
    if loaded.core.tickets.len() > FIRMWARE_TICKETS {
        eprintln!(
            "booth-provision: warning: {} tickets; the QEMU firmware is built for {FIRMWARE_TICKETS}",
            loaded.core.tickets.len()
        );
    }
    let mut peers = heapless::Vec::new();
    for m in &loaded.members {
        peers
            .push(endpoint(m.addr, &m.text)?)
            .map_err(|_| "more than 16 members".to_owned())?;
    }
    let (ip, prefix_len) = a.ip.unwrap_or((a.me, 24));
    let mut core = loaded.core.clone();
    core.check_source = a.check_source;
    let wall = match a.wall {
        Some(w) => w,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs(),
    };
    let seed = match a.seed {
        Some(s) => s,
        None => random_seed()?,
    };
    let prov = Provision::<{ config::MAX_TICKETS }> {
        config: core,
        me: me as u8,
        peers,
        net: NetConfig {
            ip: ip.octets(),
            prefix_len,
            gateway: a.gateway.map(|g| g.octets()),
            port: loaded.port,
        },
        wall_clock_secs: wall,
        seed,
    };
    let mut buf = vec![0u8; BLOB_MAX];
    let n = prov
        .encode(&mut buf)
        .map_err(|e| format!("cannot encode the blob: {e:?}"))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&a.out)
        .map_err(|e| format!("{}: {e}", a.out.display()))?;
    f.write_all(&buf[..n])
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", a.out.display()))?;
    println!(
        "{}: {n} bytes; arbitrator {} (member {me} of {}), {} ticket(s), interface {ip}/{prefix_len}{}, port {}",
        a.out.display(),
        a.me,
        loaded.members.len(),
        loaded.core.tickets.len(),
        a.gateway.map(|g| format!(" via {g}")).unwrap_or_default(),
        loaded.port
    );
    Ok(())
}

fn random_seed() -> Result<u64, String> {
    let mut b = [0u8; 8];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

fn show(path: &str) -> Result<(), String> {
    let bytes = fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let p = Provision::<{ config::MAX_TICKETS }>::decode(&bytes)
        .map_err(|e| format!("{path}: not a valid blob: {e:?}"))?;
    let ip = |a: [u8; 4]| Ipv4Addr::from(a);
    println!("blob: {path} ({} bytes)", bytes.len());
    for (i, (m, e)) in p.config.members.iter().zip(&p.peers).enumerate() {
        let role = match m.role {
            Role::Site => "site",
            Role::Arbitrator => "arbitrator",
        };
        let me = if i == p.me as usize {
            "  <- this appliance"
        } else {
            ""
        };
        println!(
            "member {i}: {role} {}:{} (id {}){me}",
            ip(e.ip),
            e.port,
            m.id.0
        );
    }
    for t in &p.config.tickets {
        println!(
            "ticket {}: expire {} ms, timeout {} ms, retries {}, renewal {} ms, acquire-after {} ms",
            t.name,
            t.expire.as_millis(),
            t.timeout.as_millis(),
            t.retries,
            t.renewal_freq.as_millis(),
            t.acquire_after.as_millis()
        );
    }
    println!(
        "key: {}; check source: {}; max time skew: {} s",
        p.config
            .key
            .as_ref()
            .map_or("none".to_owned(), |k| format!("{} bytes", k.len())),
        p.config.check_source,
        p.config.max_time_skew.as_millis() / 1000
    );
    println!(
        "interface: {}/{}{}, port {}",
        ip(p.net.ip),
        p.net.prefix_len,
        p.net
            .gateway
            .map(|g| format!(" via {}", ip(g)))
            .unwrap_or_default(),
        p.net.port
    );
    println!(
        "wall clock at provisioning: {} (Unix seconds)",
        p.wall_clock_secs
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "booth-provision-test-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_booth_conf_becomes_a_blob_the_firmware_reads() {
        let d = scratch();
        let key = d.join("authkey");
        fs::write(&key, "booth-provision-test-key-0123456789\n").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let conf = d.join("booth.conf");
        fs::write(
            &conf,
            format!(
                "transport = UDP\nport = 9929\nauthfile = {}\nsite = 127.0.0.1\nsite = 127.0.0.2\n\
                 arbitrator = 127.0.0.3\nticket = \"ticketA\"\n    expire = 10\n    timeout = 1\n    \
                 retries = 3\n    acquire-after = 0\n",
                key.display()
            ),
        )
        .unwrap();
        let blob = d.join("blob");
        let a = parse(&args(&[
            "-c",
            conf.to_str().unwrap(),
            "-s",
            "127.0.0.3",
            "-o",
            blob.to_str().unwrap(),
            "--ip",
            "10.0.2.15/24",
            "--gateway",
            "10.0.2.2",
            "--wall-clock",
            "1764000000",
            "--seed",
            "9",
        ]))
        .unwrap();
        provision(&a).unwrap();
        assert_eq!(
            fs::metadata(&blob).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let p = Provision::<8>::decode(&fs::read(&blob).unwrap()).unwrap();
        assert_eq!(p.me, 2);
        assert_eq!(p.own_endpoint().ip, [127, 0, 0, 3]);
        assert_eq!(p.peers[0].ip, [127, 0, 0, 1]);
        assert_eq!(p.config.members[1].id.0, 2081820410);
        assert_eq!(p.config.tickets[0].name.as_str(), "ticketA");
        assert_eq!(
            p.config.key.as_deref(),
            Some(&b"booth-provision-test-key-0123456789"[..])
        );
        assert!(!p.config.check_source);
        assert_eq!(p.net.gateway, Some([10, 0, 2, 2]));
        assert_eq!((p.wall_clock_secs, p.seed), (1_764_000_000, 9));
        show(blob.to_str().unwrap()).unwrap();

        // A site address is refused: the appliance only votes.
        let a = parse(&args(&[
            "-c",
            conf.to_str().unwrap(),
            "-s",
            "127.0.0.1",
            "-o",
            blob.to_str().unwrap(),
        ]))
        .unwrap();
        assert!(provision(&a).unwrap_err().contains("is a site"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&args(&["-c", "x"])).is_err());
        assert!(parse(&args(&["-c", "x", "-s", "::1", "-o", "y"])).is_err());
        assert!(parse(&args(&[
            "-c", "x", "-s", "1.2.3.4", "-o", "y", "--ip", "1.2.3.4"
        ]))
        .is_err());
        assert!(parse(&args(&[
            "-c", "x", "-s", "1.2.3.4", "-o", "y", "--bogus", "1"
        ]))
        .is_err());
    }
}
