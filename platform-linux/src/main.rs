//! `boothd`, also installed as `booth` and `geostore`: the program name and
//! the first word choose between the daemon, `status`, the client commands
//! and geostore (booth-protocol.md §1, §6.1).

use std::process::exit;

use booth_linux::client::{self, args, status, usage};
use booth_linux::daemon;

fn main() {
    let argv: Vec<String> = match std::env::args_os()
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(v) => v,
        Err(bad) => {
            eprintln!("boothd: argument {bad:?} is not valid UTF-8");
            exit(1);
        }
    };
    // `boothd guard …`: the lease guard, started by a site's daemon
    // (daemon/guard.rs); not a booth 1.x command, not for interactive use.
    if argv.get(1).map(String::as_str) == Some("guard") {
        exit(daemon::guard::main(&argv[2..]));
    }
    let prog = args::prog_name(argv.first().map(String::as_str).unwrap_or("boothd"));
    let parsed = match args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{prog}: {e}\nTry \"{prog} help\" for more information.");
            exit(1);
        }
    };
    let code = match parsed.action {
        args::Action::Help => {
            print!("{}", usage::help(&prog));
            0
        }
        args::Action::Version => {
            println!(
                "{}",
                usage::version(argv.first().map_or("boothd", String::as_str))
            );
            0
        }
        args::Action::Daemon | args::Action::Status => match parsed.daemon_options() {
            Err(e) => {
                eprintln!("{prog}: {e}");
                1
            }
            Ok(opts) if parsed.action == args::Action::Status => status::run(&opts, parsed.json),
            Ok(opts) => match daemon::run(opts) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{prog}: {e}");
                    1
                }
            },
        },
        args::Action::Client(_) | args::Action::Geostore(_) => client::run(&parsed),
    };
    exit(code);
}
