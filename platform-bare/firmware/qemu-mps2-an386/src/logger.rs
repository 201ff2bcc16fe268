//! A `log` logger that prints through semihosting to QEMU's stdout:
//! `<ms since boot> <LEVEL> <message>`.

use cortex_m_semihosting::hprintln;
use log::{LevelFilter, Metadata, Record};

struct Semihosting;

static LOGGER: Semihosting = Semihosting;

impl log::Log for Semihosting {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        // smoltcp's per-packet traces are far too chatty for semihosting.
        if record.level() > log::Level::Info && record.target().starts_with("smoltcp") {
            return;
        }
        hprintln!(
            "{:>8} {:<5} {}",
            crate::time::now().as_millis(),
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Installs the logger with `level`.
pub fn init(level: LevelFilter) {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
