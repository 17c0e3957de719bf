//! QEMU `virt` (Cortex-A53 / A76) as a [`convbert_app::Board`]: PL011 console, CNTVCT
//! instruction counter, semihosting exit. Unsafe code: `pl011.rs`, `counter.rs` and
//! [`VirtBoard::take`] (the arena).
#![no_std]

mod counter;
mod pl011;
mod rt;

use convbert_app::Board;
use core::sync::atomic::{AtomicBool, Ordering};

// The blob in `.rodata.blob`, which image.ld gathers into the image's read-only data.
convbert_app::model_statics!(".rodata.blob");
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The board: UART and counter.
pub struct VirtBoard {
    uart: pl011::Pl011,
}

impl VirtBoard {
    /// The board and the arena. Call once (a second call panics).
    pub fn take() -> (Self, &'static mut [u8]) {
        assert!(!TAKEN.swap(true, Ordering::AcqRel), "VirtBoard::take called twice");
        // SAFETY: TAKEN lets this line run once per boot, so this is the only reference to ARENA.
        let arena = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
        // SAFETY: the virt board's first PL011, mapped as device memory by rt.rs; its only driver.
        let uart = unsafe { pl011::Pl011::new(pl011::UART0) };
        (Self { uart }, arena)
    }
}

impl Board for VirtBoard {
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.uart.write_byte(b));
    }

    fn read_byte(&mut self) -> Option<u8> {
        Some(self.uart.read_byte())
    }

    fn instructions(&mut self) -> u64 {
        counter::instructions()
    }

    fn exit(&mut self, code: i32) -> ! {
        semihosting::process::exit(code)
    }
}
