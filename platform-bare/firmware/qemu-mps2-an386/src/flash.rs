//! The two reserved regions after the code in SSRAM1 (see memory.x):
//!
//! * **Provisioning blob** at 0x0004_0000 (16 KiB), read-only to the
//!   firmware. QEMU places the file there before reset:
//!   `-device loader,file=<blob>,addr=0x40000,force-raw=on`. A real board
//!   would program it into a flash sector at manufacturing or over a
//!   provisioning port.
//! * **Persistent state** at 0x0004_4000: two 4 KiB slots, read
//!   memory-mapped like flash, erased and programmed through
//!   [`StateFlash`]. mps2-an386 has no flash (SSRAM1 is RAM that QEMU wipes
//!   on every start), so the region is backed by a host file,
//!   [`STATE_FILE`] in QEMU's working directory, through semihosting: at boot
//!   the file is loaded into the region, and every erase and program is
//!   written through to the file before it returns. A QEMU killed at any
//!   moment leaves in the file everything a finished `persist` wrote (the
//!   host kernel holds it; it is not fsync'd, so a host power cut is not
//!   covered). On a real MCU, `StateFlash` would drive the flash controller
//!   instead; the record format is written for flash either way.

use booth_bare::storage::{Slot, Storage};

use crate::semi;

/// Where the provisioning blob is loaded.
pub const PROVISION_ADDR: usize = 0x0004_0000;
pub const PROVISION_LEN: usize = 16 * 1024;
/// Where the state slots are.
pub const STATE_ADDR: usize = 0x0004_4000;
pub const SLOT_LEN: usize = 4 * 1024;
/// The host file behind the state region (NUL-terminated for semihosting).
pub const STATE_FILE: &[u8] = b"booth-appliance-state.bin\0";

/// The provisioning region as bytes.
pub fn provision_region() -> &'static [u8] {
    // SAFETY: 0x0004_0000..+16 KiB lies in SSRAM1 (4 MiB of RAM in QEMU),
    // outside every region the linker uses (memory.x asserts FLASH ends
    // before it), and nothing in the firmware writes it: an immutable
    // 'static view is sound.
    unsafe { core::slice::from_raw_parts(PROVISION_ADDR as *const u8, PROVISION_LEN) }
}

fn slot_addr(slot: Slot) -> usize {
    STATE_ADDR + slot as usize * SLOT_LEN
}

/// How the state region came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Backing {
    /// The backing file existed; this many bytes were loaded.
    Loaded(usize),
    /// No backing file yet: the region starts erased (first boot).
    Created,
    /// No semihosting file access: state lives only until QEMU exits.
    RamOnly,
}

/// The state region's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlashError {
    OutOfBounds,
    /// The write-through to the backing file failed.
    Backing,
}

/// Two slots of "flash" at [`STATE_ADDR`], written through to [`STATE_FILE`].
#[derive(Debug)]
pub struct StateFlash {
    file: Option<semi::File>,
    pub backing: Backing,
    /// Bytes written through to the backing file.
    pub written: u32,
}

impl StateFlash {
    /// Loads the backing file into the region (or creates it erased).
    pub fn open() -> Self {
        let mut flash = StateFlash {
            file: None,
            backing: Backing::RamOnly,
            written: 0,
        };
        // Power-on state of the region: erased.
        for slot in [Slot::A, Slot::B] {
            flash.fill(slot, 0xFF);
        }
        if let Some(mut f) = semi::open(STATE_FILE, cortex_m_semihosting::nr::open::RW_BINARY) {
            let mut chunk = [0u8; 256];
            let mut off = 0;
            while off < 2 * SLOT_LEN {
                let n = f.read(&mut chunk);
                if n == 0 {
                    break;
                }
                let n = n.min(2 * SLOT_LEN - off);
                for (i, b) in chunk[..n].iter().enumerate() {
                    poke(STATE_ADDR + off + i, *b);
                }
                off += n;
            }
            flash.backing = Backing::Loaded(off);
            flash.file = Some(f);
        } else if let Some(f) =
            semi::open(STATE_FILE, cortex_m_semihosting::nr::open::RW_TRUNC_BINARY)
        {
            flash.file = Some(f);
            flash.backing = Backing::Created;
            // Write the erased image so later writes land at their offsets.
            if flash.mirror(Slot::A, 0, SLOT_LEN).is_err()
                || flash.mirror(Slot::B, 0, SLOT_LEN).is_err()
            {
                flash.file = None;
                flash.backing = Backing::RamOnly;
            }
        }
        flash
    }

    fn fill(&mut self, slot: Slot, v: u8) {
        let base = slot_addr(slot);
        for i in 0..SLOT_LEN {
            poke(base + i, v);
        }
    }

    /// Copies `len` bytes of the region at `slot`+`off` to the backing file.
    fn mirror(&mut self, slot: Slot, off: usize, len: usize) -> Result<(), FlashError> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let pos = slot as usize * SLOT_LEN + off;
        if !f.seek(pos) {
            return Err(FlashError::Backing);
        }
        let mut chunk = [0u8; 128];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(chunk.len());
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = peek(slot_addr(slot) + off + done + i);
            }
            if !f.write(&chunk[..n]) {
                return Err(FlashError::Backing);
            }
            done += n;
        }
        self.written = self.written.wrapping_add(len as u32);
        Ok(())
    }
}

fn peek(addr: usize) -> u8 {
    // SAFETY: callers pass addresses inside the state region (checked by
    // `Storage` bounds), which is RAM reserved for it in memory.x.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

fn poke(addr: usize, v: u8) {
    // SAFETY: as `peek`; only this module writes the state region, from the
    // main loop.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

fn check(off: usize, len: usize) -> Result<(), FlashError> {
    match off.checked_add(len) {
        Some(end) if end <= SLOT_LEN => Ok(()),
        _ => Err(FlashError::OutOfBounds),
    }
}

impl Storage for StateFlash {
    type Error = FlashError;

    fn slot_len(&self) -> usize {
        SLOT_LEN
    }

    fn read(&mut self, slot: Slot, offset: usize, buf: &mut [u8]) -> Result<(), FlashError> {
        check(offset, buf.len())?;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = peek(slot_addr(slot) + offset + i);
        }
        Ok(())
    }

    fn erase(&mut self, slot: Slot) -> Result<(), FlashError> {
        self.fill(slot, 0xFF);
        self.mirror(slot, 0, SLOT_LEN)
    }

    fn program(&mut self, slot: Slot, offset: usize, data: &[u8]) -> Result<(), FlashError> {
        check(offset, data.len())?;
        for (i, b) in data.iter().enumerate() {
            poke(slot_addr(slot) + offset + i, *b);
        }
        self.mirror(slot, offset, data.len())
    }
}
