//! Time values, and the timing relations a ticket must satisfy.
//!
//! The relations themselves are the core's ([`Config::validate`]); this module
//! runs them per ticket, adds the two relations that involve platform-only keys
//! (`handler-timeout`, `stop-time`), and explains every failure with the
//! numbers involved and where each came from.

use booth_core::config::{
    Config, ConfigError as CoreError, Member, Mode, TicketConfig, WireTimeUnit,
};
use booth_core::{Duration, MAX_MEMBERS};

use super::diagnostics::quote;
use super::ticket::{Setting, Source, Ticket};
use super::MemberInfo;

/// Largest time value we accept: booth keeps times as C `int` milliseconds.
pub(crate) const TIME_MAX_MS: u64 = i32::MAX as u64;

/// What a valid time value looks like.
pub(crate) const TIME_HELP: &str =
    "a time is an integer number of seconds or an integer followed by \"ms\" (e.g. 10 or 500ms)";

/// A non-empty string of ASCII digits as a number (no sign, no blanks).
pub(crate) fn parse_uint(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// booth's time syntax: `N` seconds or `Nms`. Returns milliseconds.
pub(crate) fn parse_time(v: &str) -> Result<u64, String> {
    let (digits, per_unit) = match v.strip_suffix("ms") {
        Some(d) => (d, 1),
        None => (v, 1000),
    };
    let Some(n) = parse_uint(digits) else {
        let hint = if let Some(d) = v
            .strip_suffix("ms")
            .map(|d| d.trim_end_matches(super::lexer::is_space))
            .filter(|d| parse_uint(d).is_some())
        {
            format!("; write {d}ms without a blank")
        } else if v.starts_with('-') {
            "; it must not be negative".to_owned()
        } else if let Some(ms) = v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0 && v.contains('.'))
        {
            format!(
                "; write {}ms for fractions of a second",
                (ms * 1000.0).round()
            )
        } else if let Some(d) = v
            .strip_suffix('s')
            .or_else(|| v.strip_suffix("sec"))
            .map(|d| d.trim_end())
            .filter(|d| parse_uint(d).is_some())
        {
            format!("; a number without a unit means seconds: write {d}")
        } else {
            String::new()
        };
        return Err(format!("{TIME_HELP}{hint}"));
    };
    n.checked_mul(per_unit)
        .filter(|ms| *ms <= TIME_MAX_MS)
        .ok_or_else(|| {
            format!(
                "too long: at most {} s (booth keeps times as 32-bit milliseconds)",
                TIME_MAX_MS / 1000
            )
        })
}

/// `5 s`, `500 ms`, `1.5 s`.
pub(crate) fn fmt_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms} ms")
    } else {
        let frac = format!("{:03}", ms % 1000);
        format!("{}.{} s", ms / 1000, frac.trim_end_matches('0'))
    }
}

fn unit_name(unit: WireTimeUnit) -> &'static str {
    match unit {
        WireTimeUnit::Seconds => "1 s",
        WireTimeUnit::Millis => "1 ms",
    }
}

fn src<T>(s: &Setting<T>) -> String {
    match s.from {
        Source::Default => "default".to_owned(),
        Source::Derived(how) => format!("default: {how}"),
        Source::Line(n) => format!("line {n}"),
        Source::Inherited(n) => format!("from __defaults__ on line {n}"),
    }
}

fn time(name: &str, s: &Setting<u64>) -> String {
    format!("{name} = {} ({})", fmt_ms(s.value), src(s))
}

fn retries(t: &Ticket) -> String {
    format!("retries = {} ({})", t.retries.value, src(&t.retries))
}

fn drift(t: &Ticket) -> String {
    format!(
        "max-clock-drift = {} ppm ({})",
        t.drift.value,
        src(&t.drift)
    )
}

/// A problem found after parsing, before it gets its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub line: Option<usize>,
    pub key: Option<&'static str>,
    pub message: String,
}

/// What [`explain`] needs to turn a core error into numbers and lines.
pub(crate) struct Ctx<'a> {
    pub tickets: &'a [Ticket],
    pub core_tickets: &'a [TicketConfig],
    pub members: &'a [MemberInfo],
    pub unit: WireTimeUnit,
    /// Line and length of the key, when an authfile is configured.
    pub key: Option<(usize, usize)>,
}

fn member_text(m: &MemberInfo) -> String {
    let role = match m.role {
        booth_core::Role::Site => "site",
        booth_core::Role::Arbitrator => "arbitrator",
    };
    format!("{role} = {} (line {})", quote(&m.text), m.line)
}

/// Translates one core validation error into a message naming the ticket or
/// members, their lines, the offending values and the rule.
pub(crate) fn explain(e: CoreError, ctx: &Ctx<'_>) -> Problem {
    let ticket = |i: u8| &ctx.tickets[usize::from(i)];
    let on_ticket = |i: u8, key: &'static str, message: String| Problem {
        line: Some(ticket(i).line),
        key: Some(key),
        message: format!("ticket {}: {message}", quote(&ticket(i).name)),
    };
    match e {
        CoreError::MemberCount => Problem {
            line: None,
            key: None,
            message: if ctx.members.is_empty() {
                "no site or arbitrator lines: a booth formation needs at least one site (and \
                 for automatic tickets an odd number of members)"
                    .to_owned()
            } else {
                format!(
                    "{} members; booth supports at most {MAX_MEMBERS} sites and arbitrators",
                    ctx.members.len()
                )
            },
        },
        CoreError::NoSite => Problem {
            line: ctx.members.first().map(|m| m.line),
            key: Some("arbitrator"),
            message: "only arbitrators are configured: at least one `site` is needed to hold \
                      tickets"
                .to_owned(),
        },
        CoreError::DuplicateMember { first, second } => {
            let a = &ctx.members[usize::from(first)];
            let b = &ctx.members[usize::from(second)];
            Problem {
                line: Some(b.line),
                key: Some("site"),
                message: format!(
                    "{} and {} have the same site ID {:#010X}: the same address twice, or a \
                     CRC-32 collision between two addresses (booth refuses this too); use \
                     another address for one of them",
                    member_text(a),
                    member_text(b),
                    a.id.0
                ),
            }
        }
        CoreError::TooManyTickets => Problem {
            line: None,
            key: Some("ticket"),
            message: format!(
                "more than {} tickets; this build supports at most {}",
                super::MAX_TICKETS,
                super::MAX_TICKETS
            ),
        },
        CoreError::TicketNameLength => Problem {
            line: None,
            key: Some("ticket"),
            message: format!(
                "a ticket name must be 1 to {} characters long",
                booth_core::config::NAME_MAX
            ),
        },
        CoreError::DuplicateTicket { index } => {
            on_ticket(index, "ticket", "is defined more than once".to_owned())
        }
        CoreError::Retries { ticket: i } => {
            let t = ticket(i);
            on_ticket(
                i,
                "retries",
                format!(
                    "retries = {} ({}) must be between 3 and 100",
                    t.retries.value,
                    src(&t.retries)
                ),
            )
        }
        CoreError::ZeroTime { ticket: i } => {
            let t = ticket(i);
            on_ticket(
                i,
                "expire",
                format!(
                    "expire, timeout and renewal-freq must all be greater than 0, but {}, {}, {}",
                    time("expire", &t.expire),
                    time("timeout", &t.timeout),
                    time("renewal-freq", &t.renewal)
                ),
            )
        }
        CoreError::RetriesExceedRenewal { ticket: i } => {
            let t = ticket(i);
            let tries = u64::from(t.retries.value) + 1;
            let mut used = vec![
                time("timeout", &t.timeout),
                retries(t),
                time("renewal-freq", &t.renewal),
            ];
            if matches!(t.renewal.from, Source::Derived(_)) {
                used.push(time("expire", &t.expire));
            }
            on_ticket(
                i,
                "renewal-freq",
                format!(
                    "timeout × (retries + 1) = {} × {tries} = {} must be less than \
                     renewal-freq = {}: the leader must be able to resend a renewal `retries` \
                     times before the next one is due (booth refuses this too); raise expire or \
                     renewal-freq, or lower timeout or retries. Values used: {}",
                    fmt_ms(t.timeout.value),
                    fmt_ms(t.timeout.value.saturating_mul(tries)),
                    fmt_ms(t.renewal.value),
                    used.join(", ")
                ),
            )
        }
        CoreError::RenewalAfterHolderDeadline { ticket: i } => {
            let t = ticket(i);
            let core_t = &ctx.core_tickets[usize::from(i)];
            let unit = ctx.unit.millis();
            let sent = Duration(t.expire.value - t.expire.value % unit);
            let lease = core_t.holder_lease(sent, ctx.unit).as_millis();
            on_ticket(
                i,
                "renewal-freq",
                format!(
                    "renewal-freq + timeout = {} + {} = {} must be less than the holder's own \
                     lease of {} (expire = {} shrunk by max-clock-drift on both clocks, by one \
                     wire unit of {} and by safety-margin); otherwise the holder's lease would \
                     end before a renewal round completes. Lower renewal-freq (default: \
                     expire / 2) or raise expire. Values used: {}",
                    fmt_ms(t.renewal.value),
                    fmt_ms(t.timeout.value),
                    fmt_ms(t.renewal.value + t.timeout.value),
                    fmt_ms(lease),
                    fmt_ms(t.expire.value),
                    unit_name(ctx.unit),
                    [
                        time("renewal-freq", &t.renewal),
                        time("timeout", &t.timeout),
                        time("expire", &t.expire),
                        drift(t),
                        time("safety-margin", &t.margin),
                    ]
                    .join(", ")
                ),
            )
        }
        CoreError::Drift { ticket: i } => {
            let t = ticket(i);
            on_ticket(
                i,
                "max-clock-drift",
                format!(
                    "max-clock-drift = {} ppm ({}) is 10 % or more: that is a broken clock, not \
                     drift; use a value below 100000 (default 1000)",
                    t.drift.value,
                    src(&t.drift)
                ),
            )
        }
        CoreError::KeyLength => Problem {
            line: ctx.key.map(|(line, _)| line),
            key: Some("authfile"),
            message: format!(
                "the key is {} bytes; booth needs {} to {} bytes",
                ctx.key.map_or(0, |(_, len)| len),
                booth_core::config::KEY_MIN,
                booth_core::config::KEY_MAX
            ),
        },
        CoreError::LeaseBelowWireUnit { ticket: i } => {
            let t = ticket(i);
            on_ticket(
                i,
                "expire",
                format!(
                    "{} is not longer than one wire unit ({}): booth peers would see a \
                     remaining lease of 0; use a longer expire",
                    time("expire", &t.expire),
                    unit_name(ctx.unit)
                ),
            )
        }
    }
}

/// Lowers `retries` (not below booth's minimum of 3), then `timeout`, then
/// `renewal-freq`, until the ticket meets the two renewal relations of
/// [`Config::validate`]. Each of these only makes the holder resend or renew
/// sooner, so the result is at least as safe as the file and the lease itself
/// is untouched; a file booth 1.x accepts must start, and we would rather run
/// it with a warning than refuse it. Returns one warning per change.
/// Whatever cannot be fixed this way is left for [`check_ticket`] to refuse.
pub(crate) fn make_safe(t: &mut Ticket, unit: WireTimeUnit) -> Vec<Problem> {
    let mut warnings = Vec::new();
    if t.mode.value == Mode::Manual || t.timeout.value == 0 || !(3..=100).contains(&t.retries.value)
    {
        return warnings;
    }
    warnings.extend(fit_retries(t));
    let Some(core_t) = t.to_core() else {
        return warnings;
    };
    let sent = Duration(t.expire.value - t.expire.value % unit.millis());
    let lease = core_t.holder_lease(sent, unit).as_millis();
    if t.renewal.value + t.timeout.value >= lease && lease > t.timeout.value + 1 {
        let new = lease - t.timeout.value - 1;
        warnings.push(Problem {
            line: Some(t.line),
            key: Some("renewal-freq"),
            message: format!(
                "ticket {}: renewal-freq + timeout = {} + {} is not less than the holder's \
                 own lease of {} (expire = {} less clock drift, one wire unit and \
                 safety-margin); renewing every {} instead so the holder renews before its \
                 lease ends",
                quote(&t.name),
                fmt_ms(t.renewal.value),
                fmt_ms(t.timeout.value),
                fmt_ms(lease),
                fmt_ms(t.expire.value),
                fmt_ms(new)
            ),
        });
        t.renewal = Setting::new(new, Source::Derived("lowered to fit the lease"));
        warnings.extend(fit_retries(t));
    }
    warnings
}

/// booth's rule `timeout × (retries + 1) < renewal-freq`, met by lowering
/// retries or, when even 3 do not fit, the resend interval.
fn fit_retries(t: &mut Ticket) -> Option<Problem> {
    let tries = u64::from(t.retries.value) + 1;
    if t.timeout.value.saturating_mul(tries) < t.renewal.value {
        return None;
    }
    let before = format!(
        "ticket {}: timeout × (retries + 1) = {} × {tries} = {} is not less than \
         renewal-freq = {} (booth 1.x refuses this file)",
        quote(&t.name),
        fmt_ms(t.timeout.value),
        fmt_ms(t.timeout.value.saturating_mul(tries)),
        fmt_ms(t.renewal.value)
    );
    let lowered = Source::Derived("lowered to fit renewal-freq");
    // Largest retries r with timeout × (r + 1) < renewal-freq.
    let fit = (t.renewal.value.saturating_sub(1) / t.timeout.value).saturating_sub(1);
    let (key, message) = if fit >= 3 {
        let r = fit.min(100) as u8;
        t.retries = Setting::new(r, lowered);
        ("retries", format!("{before}; using retries = {r} instead"))
    } else {
        let timeout = t.renewal.value.saturating_sub(1) / 4;
        if timeout == 0 {
            return None;
        }
        t.retries = Setting::new(3, lowered);
        t.timeout = Setting::new(timeout, lowered);
        (
            "timeout",
            format!(
                "{before}; using retries = 3 and timeout = {} instead (the resend interval \
                 only; the lease is unchanged)",
                fmt_ms(timeout)
            ),
        )
    };
    Some(Problem {
        line: Some(t.line),
        key: Some(key),
        message,
    })
}

/// All timing problems of one ticket: the core's relations (run on this ticket
/// alone, so every ticket gets checked) and our `handler-timeout` and
/// `stop-time` rules.
pub(crate) fn check_ticket(
    t: &Ticket,
    core_t: &TicketConfig,
    members: &heapless::Vec<Member, MAX_MEMBERS>,
    all_members: &[MemberInfo],
    unit: WireTimeUnit,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut one = Config::<1>::new();
    one.members = members.clone();
    one.wire_unit = unit;
    if one.tickets.push(core_t.clone()).is_ok() {
        if let Err(e) = one.validate() {
            let ctx = Ctx {
                tickets: std::slice::from_ref(t),
                core_tickets: std::slice::from_ref(core_t),
                members: all_members,
                unit,
                key: None,
            };
            problems.push(explain(e, &ctx));
        }
    }
    if t.mode.value == Mode::Manual {
        return problems;
    }
    let name = quote(&t.name);
    // Only a configured handler with a configured timeout is killed.
    let handler_timeout = t.handler_timeout.as_ref().filter(|_| t.handler.is_some());
    if let Some(ht) =
        handler_timeout.filter(|ht| problems.is_empty() && ht.value >= t.renewal.value)
    {
        problems.push(Problem {
            line: Some(t.line),
            key: Some("handler-timeout"),
            message: format!(
                "ticket {name}: {} must be less than {}: the before-acquire-handler runs before \
                 every renewal and has to finish before the next one is due",
                time("handler-timeout", ht),
                time("renewal-freq", &t.renewal)
            ),
        });
    }
    if t.stop_time.value > 0 {
        let need = t.stop_time.value + two_rho_d(t.drift.value, t.expire.value);
        if t.acquire_after.value < need {
            problems.push(Problem {
                line: Some(t.line),
                key: Some("acquire-after"),
                message: format!(
                    "ticket {name}: acquire-after = {} is shorter than stop-time + 2 × \
                     max-clock-drift × expire = {} + 2 × {} ppm × {} = {}: when the lease moves, \
                     another site could start the resources before this one has stopped them \
                     (lease-safety.md §3); set acquire-after = {} or more. Values used: {}",
                    fmt_ms(t.acquire_after.value),
                    fmt_ms(t.stop_time.value),
                    t.drift.value,
                    fmt_ms(t.expire.value),
                    fmt_ms(need),
                    need.div_ceil(1000),
                    [
                        time("acquire-after", &t.acquire_after),
                        time("stop-time", &t.stop_time),
                        drift(t),
                        time("expire", &t.expire),
                    ]
                    .join(", ")
                ),
            });
        }
    }
    problems
}

/// 2·ρ·D in milliseconds, rounded up.
pub(crate) fn two_rho_d(ppm: u32, expire_ms: u64) -> u64 {
    (2 * u128::from(ppm) * u128::from(expire_ms)).div_ceil(1_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("10"), Ok(10_000));
        assert_eq!(parse_time("500ms"), Ok(500));
        assert_eq!(parse_time("0"), Ok(0));
        assert!(parse_time("10x").unwrap_err().starts_with(TIME_HELP));
        assert!(parse_time("1.5").unwrap_err().contains("1500ms"));
        assert!(parse_time("10s").unwrap_err().contains("write 10"));
        assert!(parse_time("-1").unwrap_err().contains("negative"));
        assert!(parse_time("10 ms").unwrap_err().contains("write 10ms"));
        assert!(parse_time("+10").is_err());
        assert!(parse_time("ms").is_err());
        assert!(parse_time("99999999999999999999999").is_err());
        assert!(parse_time("2147484").is_err());
        assert_eq!(parse_time("2147483"), Ok(2_147_483_000));
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_ms(5000), "5 s");
        assert_eq!(fmt_ms(500), "500 ms");
        assert_eq!(fmt_ms(31_200), "31.2 s");
        assert_eq!(fmt_ms(1_005), "1.005 s");
        assert_eq!(two_rho_d(1000, 600_000), 1200);
        assert_eq!(two_rho_d(1, 1), 1);
    }
}
