//! `help` and `version` output: booth's commands and option letters, in our
//! own words, plus our extensions.

use super::args::Personality;

/// `<argv0> <version>`, as booth prints it (`argv[0]` as typed:
/// `/usr/sbin/booth 1.0`).
pub fn version(argv0: &str) -> String {
    format!("{argv0} {}", env!("CARGO_PKG_VERSION"))
}

const COMMON: &str = "\
  -c NAME|PATH    Configuration: a path, or a name meaning /etc/booth/NAME.conf
                  (default /etc/booth/booth.conf)
  -s SITE         Daemon to ask: a configured member's address, a host name
                  (IPv4), or \"other\" (the other site of a two-site setup);
                  default: the member configured on this host
  -t TICKET       Ticket; may be left out when only one is configured
  -D              More output on stderr (repeat for more)
  --timeout SECS  Longest wait for each reply (default 30, geostore set and
                  delete 150; 0 = no limit)
  -h, --help      This text
  -V, --version   Version
";

/// Usage text for `help`, `-h`, `--help`.
pub fn help(prog: &str) -> String {
    match Personality::from_prog(prog) {
        Personality::Geostore => format!(
            "Usage:
  {prog} list   [-t TICKET] [options]
  {prog} get    [-t TICKET] [options] ATTRIBUTE
  {prog} set    [-t TICKET] [options] ATTRIBUTE VALUE
  {prog} delete [-t TICKET] [options] ATTRIBUTE

Per-ticket attributes kept by a booth site (see attr-prereq in booth.conf).

Options:
{COMMON}
Examples:
  {prog} set -t ticket-A -s 192.0.2.10 sr_status ACTIVE
  {prog} get -t ticket-A sr_status
  {prog} list -t ticket-A
"
        ),
        Personality::Booth => format!(
            "Usage:
  {prog} [client] list    [options]
  {prog} [client] grant   [options] [-F] [-w] [-C] [TICKET]
  {prog} [client] revoke  [options] [-w] [TICKET]
  {prog} [client] peers   [options]
  {prog} status           [-c CONFIG] [-D] [-S] [-l LOCKFILE] [--json]
  {prog} daemon           [-c CONFIG] [-D] [-S] [-l LOCKFILE] [-s LOCAL-ADDRESS]
  {prog} version | help

Commands:
  list            Tickets as the daemon sees them
  grant           Grant a ticket to the site asked (default: this site)
  revoke          Revoke a ticket (the request goes on to its holder)
  peers           The other members and the daemon's packet counters
  status          Whether the local daemon runs (for scripts; OCF exit codes)
  daemon          Run the daemon (also: start, site, arbitrator; the role
                  comes from the configuration)

Options:
{COMMON}  -F              grant: do not wait for unreachable sites to give the ticket
                  up (manual tickets: grant even if granted elsewhere); careful!
  -w              grant/revoke: wait for the final outcome
  -C              grant: wait until the ticket is committed to the CIB (implies -w);
                  with -w or -C the default --timeout is
                  3 x (expire + acquire-after) + 90 s of the ticket
  --json          list, peers, status: JSON on stdout
  -S              daemon: stay in the foreground (systemd)
  -l LOCKFILE     daemon, status: lock file (default /var/run/booth/NAME.pid)

Examples:
  {prog} list
  {prog} grant ticket-A
  {prog} grant -s 192.0.2.10 -t ticket-A
  {prog} revoke ticket-A
"
        ),
    }
}
