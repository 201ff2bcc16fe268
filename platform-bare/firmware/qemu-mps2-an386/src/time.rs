//! SysTick at 1 kHz: the monotonic millisecond clock of the appliance, and
//! a cycle counter (milliseconds × 25,000 + the SysTick phase) for timing.

use core::cell::Cell;

use booth_core::Instant;
use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;

/// Core clock of mps2-an386.
pub const CPU_HZ: u32 = 25_000_000;
/// SysTick reload for a 1 ms tick.
const RELOAD: u32 = CPU_HZ / 1000 - 1;

static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts the 1 kHz tick.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    cortex_m::interrupt::free(|cs| {
        let m = MILLIS.borrow(cs);
        m.set(m.get() + 1);
    });
}

/// Milliseconds since boot.
pub fn now() -> Instant {
    Instant(cortex_m::interrupt::free(|cs| MILLIS.borrow(cs).get()))
}

/// Core cycles since boot, at SysTick resolution (one cycle).
pub fn cycles() -> u64 {
    cortex_m::interrupt::free(|cs| {
        let ms = MILLIS.borrow(cs).get();
        let val = SYST::get_current();
        // A wrap between the two reads leaves the tick pending: count it.
        let pending = cortex_m::peripheral::SCB::is_pendst_pending();
        let val2 = SYST::get_current();
        let (ms, val) = if pending || val2 > val {
            (ms + 1, val2)
        } else {
            (ms, val)
        };
        ms * u64::from(RELOAD + 1) + u64::from(RELOAD - val.min(RELOAD))
    })
}

/// Microseconds for a number of cycles at 25 MHz.
pub fn cycles_to_us(c: u64) -> u64 {
    c / u64::from(CPU_HZ / 1_000_000)
}
