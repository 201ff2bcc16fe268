//! Board support for QEMU's `mps2-an386` (Cortex-M4 at 25 MHz, SMSC LAN9118):
//! the pieces the appliance and the bench share.
//!
//! - [`time`]: SysTick at 1 kHz (the monotonic clock) and a cycle counter.
//! - [`lan9118`]: the Ethernet driver as a smoltcp `Device`.
//! - [`flash`]: the provisioning blob and the persistent-state region.
//! - [`semi`]: semihosting file calls (the state region's backing file).
//! - [`stack`]: the stack high-water mark (cortex-m-rt paints the stack).
//!
//! `unsafe` appears only for memory-mapped registers, the reserved flash
//! regions, linker symbols and semihosting traps, each with its reason.
#![no_std]

#[macro_use]
pub mod fmt;

pub mod flash;
pub mod lan9118;
#[cfg(feature = "log")]
pub mod logger;
pub mod semi;
pub mod stack;
pub mod time;

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("features `defmt` and `log` are mutually exclusive");

// The defmt global logger: frames go to QEMU's stdout through semihosting.
#[cfg(feature = "defmt")]
use defmt_semihosting as _;

#[cfg(feature = "defmt")]
defmt::timestamp!("{=u64:ms}", time::now().as_millis());

/// Ticket capacity of this build.
pub const TICKETS: usize = 8;

/// Member capacity of this build: two sites, an arbitrator and room for two
/// more members. Per-member engine state (replay windows, statistics) is
/// sized by it; a blob with more members is refused at boot.
pub const MEMBERS: usize = 5;

/// A panic (the engine is written never to panic; a failed bounds check
/// still could) logs where it happened and ends the run with status 1.
/// Not panic-semihosting: its message formatting pulls core::fmt into
/// every image (flash) and a dynamic call into the stack analysis.
/// A panic that happens while reporting one (the log path failing) ends
/// the run at once, so the handler re-enters at most once: the stack
/// analysis counts on it.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    use core::sync::atomic::{AtomicBool, Ordering};
    static PANICKING: AtomicBool = AtomicBool::new(false);
    if !PANICKING.swap(true, Ordering::Relaxed) {
        match info.location() {
            Some(at) => error!("panic at {}:{}", at.file(), at.line()),
            None => error!("panic"),
        }
    }
    exit(false)
}

/// Ends the QEMU run through semihosting: exit status 0 if `ok`, else 1.
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not reached under QEMU; on hardware without a debugger, halt here.
    loop {
        cortex_m::asm::wfi();
    }
}
