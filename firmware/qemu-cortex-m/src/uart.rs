//! CMSDK APB UART (ARM DDI0479): the console of the mps2/mps3 boards; QEMU's `-serial stdio`
//! is UART0. Polled, no interrupts. All MMIO of the crate is here.

use core::ptr::{read_volatile, write_volatile};

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
/// The smallest divider the UART accepts; QEMU ignores the baud rate itself.
const MIN_BAUDDIV: u32 = 16;

/// One CMSDK APB UART, owned.
pub struct CmsdkUart {
    base: usize,
}

impl CmsdkUart {
    /// Enables transmitter and receiver.
    ///
    /// # Safety
    /// `base` must be the address of a CMSDK APB UART that no other code drives.
    pub unsafe fn new(base: usize) -> Self {
        let uart = Self { base };
        uart.write_reg(BAUDDIV, MIN_BAUDDIV);
        uart.write_reg(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        uart
    }

    /// Sends one byte, waiting while the transmit buffer is full.
    pub fn write_byte(&mut self, byte: u8) {
        while self.read_reg(STATE) & STATE_TX_FULL != 0 {}
        self.write_reg(DATA, u32::from(byte));
    }

    /// Waits for one received byte.
    pub fn read_byte(&mut self) -> u8 {
        while self.read_reg(STATE) & STATE_RX_FULL == 0 {}
        self.read_reg(DATA) as u8
    }

    fn read_reg(&self, offset: usize) -> u32 {
        // SAFETY: `new`'s contract: base + offset is a register of an owned CMSDK UART.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write_reg(&self, offset: usize, value: u32) {
        // SAFETY: as in `read_reg`; writes to these registers have no memory side effects.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}
