//! Local time, as booth prints it: `%F %T` in its tables, `%b %d %T` in
//! front of log lines.

use std::time::{SystemTime, UNIX_EPOCH};

/// Broken-down local time of `secs` since the epoch.
// `time_t` is 32 bits wide on some targets.
#[allow(clippy::useless_conversion)]
fn local(secs: i64) -> Option<libc::tm> {
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: an all-zero `tm` is a valid value (integers and a null
    // pointer); localtime_r only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        None
    } else {
        Some(tm)
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mon DD HH:MM:SS` for now (the log-line stamp, English month names as
/// in the C locale).
pub fn log_stamp() -> String {
    match local(now_secs()) {
        Some(tm) => format!(
            "{} {:02} {:02}:{:02}:{:02}",
            usize::try_from(tm.tm_mon)
                .ok()
                .and_then(|m| MONTHS.get(m))
                .unwrap_or(&"???"),
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        ),
        None => "??? ?? ??:??:??".to_owned(),
    }
}

/// `YYYY-MM-DD HH:MM:SS` in local time (booth's table format).
pub fn format_table(secs: i64) -> Option<String> {
    let tm = local(secs)?;
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    ))
}

/// Seconds since the epoch of a local `YYYY-MM-DD HH:MM:SS` as booth prints
/// it; `None` if the text is not exactly that. In a repeated hour (end of
/// daylight saving time) the C library picks one of the two.
#[allow(clippy::useless_conversion)]
pub fn parse_table(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i32> {
        let s = text.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (year, mon, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mon) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    // SAFETY: as in `local`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, initialised struct owned by us.
    let t = unsafe { libc::mktime(&mut tm) };
    if t == -1 {
        return None;
    }
    Some(i64::from(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_times_round_trip() {
        for secs in [0i64, 1_700_000_000, 1_795_000_123] {
            let text = format_table(secs).unwrap();
            assert_eq!(parse_table(&text), Some(secs), "{text}");
        }
        assert_eq!(parse_table("2026-11-25 08:03"), None);
        assert_eq!(parse_table("2026-13-25 08:03:08"), None);
        assert_eq!(parse_table("2026/11/25 08:03:08"), None);
        assert_eq!(parse_table("INF"), None);
    }

    #[test]
    fn log_stamp_shape() {
        let s = log_stamp();
        assert_eq!(s.len(), 15, "{s}");
        assert!(MONTHS.contains(&&s[..3]), "{s}");
        assert_eq!(&s[9..10], ":", "{s}");
    }
}
