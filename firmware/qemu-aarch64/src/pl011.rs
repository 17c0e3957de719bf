//! Arm PL011 UART (polled), QEMU virt's console: `-serial stdio`. QEMU's model sends and
//! receives without set-up, so there is none.

use core::ptr::{read_volatile, write_volatile};

/// The virt board's first PL011.
pub const UART0: usize = 0x0900_0000;
const DR: usize = 0x000;
const FR: usize = 0x018;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;

/// One PL011, owned.
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// # Safety
    /// `base` must be a PL011 mapped as device memory that no other code drives.
    pub unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// Sends one byte, waiting while the FIFO is full.
    pub fn write_byte(&mut self, byte: u8) {
        while self.read_reg(FR) & FR_TXFF != 0 {}
        // SAFETY: `new`'s contract; DR is the data register.
        unsafe { write_volatile((self.base + DR) as *mut u32, u32::from(byte)) }
    }

    /// Waits for one received byte.
    pub fn read_byte(&mut self) -> u8 {
        while self.read_reg(FR) & FR_RXFE != 0 {}
        self.read_reg(DR) as u8
    }

    fn read_reg(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract: base + offset is a register of an owned PL011.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }
}
