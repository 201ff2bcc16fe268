//! Stack high-water mark. cortex-m-rt (feature `paint-stack`) fills the
//! whole stack area, `_stack_end` .. `_stack_start`, with 0xCCCC_CCCC before
//! `main`; the deepest word that no longer holds the paint marks the peak.

const PAINT: u32 = 0xCCCC_CCCC;

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of these linker symbols are taken (no read).
    (
        core::ptr::addr_of!(_stack_end) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    )
}

/// Bytes available for the stack.
pub fn size() -> usize {
    let (end, start) = bounds();
    start - end
}

/// Most bytes of stack ever used since reset.
pub fn high_water() -> usize {
    let (end, start) = bounds();
    let mut p = end;
    while p < start {
        // SAFETY: `p` is word-aligned (both symbols are) and inside RAM
        // between the end of the statics and the top of the stack; words
        // below the stack pointer are not in use by anybody.
        let w = unsafe { core::ptr::read_volatile(p as *const u32) };
        if w != PAINT {
            break;
        }
        p += 4;
    }
    start - p
}

/// Paints the free stack again (everything below the current stack pointer
/// but a margin), so that [`high_water`] afterwards measures from here on:
/// the appliance calls it once boot is over, to tell the boot-time peak
/// from the steady state. Returns the peak before repainting.
pub fn repaint() -> usize {
    let peak = high_water();
    let (end, _) = bounds();
    cortex_m::interrupt::free(|_| {
        // Interrupt handlers push their frames below the stack pointer:
        // with interrupts masked none is running, and the margin keeps this
        // function's own frame intact.
        let sp = cortex_m::register::msp::read() as usize;
        let top = sp.saturating_sub(256) & !3;
        let mut p = end;
        while p < top {
            // SAFETY: `p` is word-aligned RAM between the end of the statics
            // and 256 bytes below the live stack pointer: no live data.
            unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
    });
    peak
}
