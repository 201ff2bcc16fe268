//! A small `log` backend: stderr in the foreground (`-S`), syslog(3) as a
//! daemon. `-D` raises the verbosity (once: debug, twice: trace).

use std::ffi::CString;
use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    Syslog,
}

/// The level for `-D` given `count` times (booth's `debug` key counts too).
pub fn level_for(count: u32) -> LevelFilter {
    match count {
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

struct Logger {
    sink: Sink,
    level: LevelFilter,
}

static IDENT: &std::ffi::CStr = c"boothd";

/// Installs the logger. A second call (tests, or a daemon that was already
/// set up) only changes the maximum level.
pub fn init(sink: Sink, level: LevelFilter) {
    if sink == Sink::Syslog {
        // SAFETY: openlog keeps the ident pointer; IDENT is a 'static C string.
        unsafe { libc::openlog(IDENT.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
    }
    if log::set_boxed_logger(Box::new(Logger { sink, level })).is_ok() {
        log::set_max_level(level);
    }
}

fn syslog_priority(level: Level) -> libc::c_int {
    match level {
        Level::Error => libc::LOG_ERR,
        Level::Warn => libc::LOG_WARNING,
        Level::Info => libc::LOG_INFO,
        Level::Debug | Level::Trace => libc::LOG_DEBUG,
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = format!("{}: {}", level_word(record.level()), record.args());
        match self.sink {
            Sink::Stderr => {
                let stamp = super::localtime::format(super::clock::wall().secs() as i64);
                let pid = std::process::id();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{stamp} boothd[{pid}]: {text}");
            }
            Sink::Syslog => {
                let msg = CString::new(text.replace('\0', "\\0")).unwrap_or_default();
                // SAFETY: "%s" with one valid NUL-terminated string argument.
                unsafe {
                    libc::syslog(
                        syslog_priority(record.level()),
                        c"%s".as_ptr(),
                        msg.as_ptr(),
                    )
                };
            }
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_count_raises_level() {
        assert_eq!(level_for(0), LevelFilter::Info);
        assert_eq!(level_for(1), LevelFilter::Debug);
        assert_eq!(level_for(5), LevelFilter::Trace);
        assert_eq!(syslog_priority(Level::Warn), libc::LOG_WARNING);
    }
}
