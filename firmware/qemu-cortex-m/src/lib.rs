//! The QEMU Cortex-M boards as a [`convbert_app::Board`]: console, instruction counter, exit.
//!
//! Board facts live in `chips/<board>.rs`; the rest tests capabilities (`_cmsdk-uart`), not
//! board names. Unsafe code stays in `uart.rs` (MMIO) and [`QemuBoard::take`] (the arena).
#![no_std]

#[cfg_attr(feature = "mps2-an386", path = "chips/mps2_an386.rs")]
#[cfg_attr(feature = "mps2-an500", path = "chips/mps2_an500.rs")]
#[cfg_attr(feature = "mps2-an505", path = "chips/mps2_an505.rs")]
#[cfg_attr(feature = "mps3-an547", path = "chips/mps3_an547.rs")]
#[cfg_attr(feature = "lm3s6965", path = "chips/lm3s6965.rs")]
#[cfg_attr(feature = "microbit", path = "chips/microbit.rs")]
mod chip;
mod fault;
#[cfg(feature = "_cmsdk-uart")]
mod uart;

use convbert_app::Board;

// The blob in the section `blob.x` places in the board's BLOB region.
convbert_app::model_statics!(".blob");

/// The board: console and instruction counter.
pub struct QemuBoard {
    #[cfg(feature = "_cmsdk-uart")]
    uart: uart::CmsdkUart,
    counter: cortex_m_counter::Counter,
}

impl QemuBoard {
    /// Sets the board up and hands out the arena. Call once (a second call panics).
    pub fn take() -> (Self, &'static mut [u8]) {
        let Some(p) = cortex_m::Peripherals::take() else { panic!("QemuBoard::take called twice") };
        // SAFETY: `Peripherals::take` succeeds once per boot, so this is the only reference to
        // ARENA ever made, and nothing else names the static.
        let arena = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
        let board = Self {
            #[cfg(feature = "_cmsdk-uart")]
            // SAFETY: UART0's address on this board (chips/*.rs); this is its only driver.
            uart: unsafe { uart::CmsdkUart::new(chip::UART0) },
            counter: cortex_m_counter::Counter::start(p.SYST, chip::NS_PER_TICK),
        };
        (board, arena)
    }
}

impl Board for QemuBoard {
    #[cfg(feature = "_cmsdk-uart")]
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.uart.write_byte(b));
    }

    #[cfg(feature = "_semihosting-console")]
    fn write(&mut self, bytes: &[u8]) {
        use semihosting::io::Write as _;
        if let Ok(mut out) = semihosting::io::stdout() {
            let _ = out.write_all(bytes);
        }
    }

    #[cfg(feature = "_cmsdk-uart")]
    fn read_byte(&mut self) -> Option<u8> {
        Some(self.uart.read_byte())
    }

    #[cfg(feature = "_semihosting-console")]
    fn read_byte(&mut self) -> Option<u8> {
        None
    }

    fn instructions(&mut self) -> u64 {
        self.counter.instructions()
    }

    fn exit(&mut self, code: i32) -> ! {
        semihosting::process::exit(code)
    }
}
