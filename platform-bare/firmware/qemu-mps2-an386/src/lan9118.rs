//! SMSC LAN9118 Ethernet controller (as QEMU emulates it at 0x4020_0000,
//! IRQ 13), driven by polling its FIFOs, offered to smoltcp as a `Device`.
//!
//! Register offsets and the init sequence follow the data sheet as QEMU's
//! `hw/net/lan9118.c` implements it (see bare-metal.md §6.3). The interrupt
//! only wakes the core from WFI: its handler acknowledges it and the main
//! loop drains the FIFOs.

use booth_bare::smoltcp::phy::{self, DeviceCapabilities, Medium};
use booth_bare::smoltcp::time::Instant;

/// Base address of the controller on mps2-an386.
pub const BASE: usize = 0x4020_0000;
/// Its interrupt number.
pub const IRQ: u16 = 13;

/// Largest frame handled, with its CRC: a signed booth peer datagram (152
/// bytes) + UDP 8 + IPv4 20 (+ up to 40 of IPv4 options) + Ethernet 14 +
/// CRC 4 = 238, rounded up. Members send nothing longer (the engine takes
/// only ticket messages over UDP); longer frames are read out and dropped
/// (counted). ARP (60) and a ping of up to 190 bytes fit; ICMP errors about
/// long frames are not sent (smoltcp drops what exceeds the MTU). Saves 2.5
/// KiB of RAM against 1536-byte buffers.
pub const FRAME: usize = 256;

mod reg {
    pub const RX_DATA_FIFO: usize = 0x00;
    pub const TX_DATA_FIFO: usize = 0x20;
    pub const RX_STATUS_FIFO: usize = 0x40;
    pub const TX_STATUS_FIFO: usize = 0x48;
    pub const IRQ_CFG: usize = 0x54;
    pub const INT_STS: usize = 0x58;
    pub const INT_EN: usize = 0x5C;
    pub const BYTE_TEST: usize = 0x64;
    pub const TX_CFG: usize = 0x70;
    pub const RX_FIFO_INF: usize = 0x7C;
    pub const TX_FIFO_INF: usize = 0x80;
    pub const PMT_CTRL: usize = 0x84;
    pub const MAC_CSR_CMD: usize = 0xA4;
    pub const MAC_CSR_DATA: usize = 0xA8;
}

mod mac {
    pub const CR: u32 = 1;
    pub const ADDRH: u32 = 2;
    pub const ADDRL: u32 = 3;
}

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const MAC_CSR_BUSY: u32 = 0x8000_0000;
const MAC_CSR_READ: u32 = 0x4000_0000;
/// MAC_CR: transmitter and receiver on (exact match + broadcast).
const MAC_CR_TXEN_RXEN: u32 = 0x0C;
const TX_CFG_TX_ON: u32 = 0x2;
/// INT_EN / INT_STS: RX status FIFO level.
const INT_RSFL: u32 = 0x8;
/// IRQ_CFG: IRQ enabled, push-pull, active high.
const IRQ_CFG_ENABLE: u32 = 0x111;
const RX_STATUS_ERROR: u32 = 1 << 15;
const TX_CMD_A_FIRST_LAST: u32 = (1 << 13) | (1 << 12);

/// The register block.
#[derive(Debug, Clone, Copy)]
pub struct Regs {
    base: usize,
}

impl Regs {
    /// The controller at [`BASE`].
    pub const fn mps2() -> Self {
        Regs { base: BASE }
    }

    fn read(self, off: usize) -> u32 {
        // SAFETY: `base + off` is one of the LAN9118's 32-bit registers
        // (offsets in `reg`), a memory-mapped device region of this board;
        // reads have no effect beyond the FIFO pops the driver intends.
        unsafe { core::ptr::read_volatile((self.base + off) as *const u32) }
    }

    fn write(self, off: usize, v: u32) {
        // SAFETY: as in `read`; the register block is only accessed from the
        // main loop, except INT_STS, which the interrupt handler writes and
        // the main loop never touches.
        unsafe { core::ptr::write_volatile((self.base + off) as *mut u32, v) }
    }

    fn mac_read(self, index: u32) -> u32 {
        self.write(reg::MAC_CSR_CMD, MAC_CSR_BUSY | MAC_CSR_READ | index);
        while self.read(reg::MAC_CSR_CMD) & MAC_CSR_BUSY != 0 {}
        self.read(reg::MAC_CSR_DATA)
    }

    fn mac_write(self, index: u32, v: u32) {
        self.write(reg::MAC_CSR_DATA, v);
        self.write(reg::MAC_CSR_CMD, MAC_CSR_BUSY | index);
        while self.read(reg::MAC_CSR_CMD) & MAC_CSR_BUSY != 0 {}
    }

    /// Acknowledges every interrupt (the handler's only job).
    pub fn ack_interrupts(self) {
        self.write(reg::INT_STS, 0xFFFF_FFFF);
    }

    /// A received frame is waiting in the RX FIFO.
    pub fn rx_pending(self) -> bool {
        (self.read(reg::RX_FIFO_INF) >> 16) & 0xFF != 0
    }
}

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InitError {
    /// BYTE_TEST did not read 0x87654321: no LAN9118 here.
    NotFound(u32),
    NotReady,
}

/// Frame counters.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    pub rx: u32,
    pub tx: u32,
    /// Frames with the error bit, runts, or larger than [`FRAME`].
    pub rx_dropped: u32,
    /// No room in the TX FIFO.
    pub tx_dropped: u32,
}

/// One receive and one transmit frame buffer (kept in a `static` by the
/// board, so that the driver itself is small and cheap to move).
#[derive(Debug)]
pub struct FrameBuffers {
    rx: [u8; FRAME],
    tx: [u8; FRAME],
}

impl FrameBuffers {
    pub const fn new() -> Self {
        FrameBuffers {
            rx: [0; FRAME],
            tx: [0; FRAME],
        }
    }
}

impl Default for FrameBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// The driver: registers plus its frame buffers.
#[derive(Debug)]
pub struct Lan9118 {
    regs: Regs,
    mac: [u8; 6],
    rx: &'static mut [u8; FRAME],
    tx: &'static mut [u8; FRAME],
    pub counters: Counters,
}

impl Lan9118 {
    /// Checks the chip, reads its MAC address and turns RX/TX and the
    /// RX interrupt on (unmasking it in the NVIC is the caller's job).
    pub fn init(regs: Regs, buffers: &'static mut FrameBuffers) -> Result<Self, InitError> {
        let test = regs.read(reg::BYTE_TEST);
        if test != BYTE_TEST_VALUE {
            return Err(InitError::NotFound(test));
        }
        let mut ready = false;
        for _ in 0..100_000 {
            if regs.read(reg::PMT_CTRL) & 1 != 0 {
                ready = true;
                break;
            }
        }
        if !ready {
            return Err(InitError::NotReady);
        }
        let lo = regs.mac_read(mac::ADDRL).to_le_bytes();
        let hi = regs.mac_read(mac::ADDRH).to_le_bytes();
        let mac = [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]];
        regs.mac_write(mac::CR, MAC_CR_TXEN_RXEN);
        regs.write(reg::TX_CFG, TX_CFG_TX_ON);
        regs.ack_interrupts();
        regs.write(reg::INT_EN, INT_RSFL);
        regs.write(reg::IRQ_CFG, IRQ_CFG_ENABLE);
        Ok(Lan9118 {
            regs,
            mac,
            rx: &mut buffers.rx,
            tx: &mut buffers.tx,
            counters: Counters::default(),
        })
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    pub fn regs(&self) -> Regs {
        self.regs
    }

    /// Pops the next good frame into `rx`; its length without the CRC.
    fn receive_frame(&mut self) -> Option<usize> {
        while self.regs.rx_pending() {
            let status = self.regs.read(reg::RX_STATUS_FIFO);
            // Bits 29:16: frame length including the 4-byte CRC.
            let len = ((status >> 16) & 0x3FFF) as usize;
            let words = len.div_ceil(4);
            let good = status & RX_STATUS_ERROR == 0 && len >= 18 && words * 4 <= FRAME;
            for i in 0..words {
                let w = self.regs.read(reg::RX_DATA_FIFO);
                if good {
                    self.rx[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
                }
            }
            if good {
                self.counters.rx = self.counters.rx.wrapping_add(1);
                return Some(len - 4);
            }
            self.counters.rx_dropped = self.counters.rx_dropped.wrapping_add(1);
        }
        None
    }
}

/// Writes one frame of `len` bytes from `buf` to the TX FIFO.
fn transmit_frame(regs: Regs, buf: &[u8], len: usize, counters: &mut Counters) {
    // Bits 15:0 of TX_FIFO_INF: free bytes in the TX data FIFO.
    let free = (regs.read(reg::TX_FIFO_INF) & 0xFFFF) as usize;
    let words = len.div_ceil(4);
    if free < words * 4 + 8 {
        counters.tx_dropped = counters.tx_dropped.wrapping_add(1);
        return;
    }
    regs.write(reg::TX_DATA_FIFO, TX_CMD_A_FIRST_LAST | len as u32);
    regs.write(reg::TX_DATA_FIFO, len as u32);
    for i in 0..words {
        let mut w = [0u8; 4];
        let end = (i * 4 + 4).min(len);
        w[..end - i * 4].copy_from_slice(&buf[i * 4..end]);
        regs.write(reg::TX_DATA_FIFO, u32::from_le_bytes(w));
    }
    // Discard the TX status words (nothing to retry on a LAN).
    while (regs.read(reg::TX_FIFO_INF) >> 16) & 0xFF != 0 {
        let _ = regs.read(reg::TX_STATUS_FIFO);
    }
    counters.tx = counters.tx.wrapping_add(1);
}

/// A received frame, borrowed from the driver's RX buffer.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Room for one frame in the driver's TX buffer.
pub struct TxToken<'a> {
    regs: Regs,
    buf: &'a mut [u8; FRAME],
    counters: &'a mut Counters,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(FRAME);
        let r = f(&mut self.buf[..len]);
        transmit_frame(self.regs, &self.buf[..], len, self.counters);
        r
    }
}

impl phy::Device for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let len = self.receive_frame()?;
        Some((
            RxToken {
                frame: &self.rx[..len],
            },
            TxToken {
                regs: self.regs,
                buf: self.tx,
                counters: &mut self.counters,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            regs: self.regs,
            buf: self.tx,
            counters: &mut self.counters,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps.max_burst_size = Some(1);
        caps
    }
}
