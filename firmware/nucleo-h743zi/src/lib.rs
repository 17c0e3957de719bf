//! NUCLEO-H743ZI (STM32H743ZI, Cortex-M7F) as a [`convbert_app::Board`]: output lines logged
//! with defmt over RTT, DWT cycles as the instruction counter (core clock: the reset HSI,
//! 64 MHz; no clock set-up), exit on a breakpoint that `probe-rs run` stops at.
//!
//! Programs (`src/bin/`): `conformance` (the default: a few built-in utterances, or the file
//! in `CONVBERT_CASES` at build time) and `unit-tests` (the tests of `tests/on-target`).
#![no_std]

use convbert_app::Board;
use cortex_m::peripheral::DWT;
use defmt_rtt as _;
use panic_probe as _;

// The blob in flash (blob.x places `.blob`); the arena in DTCM (memory.x puts RAM there).
convbert_app::model_statics!(".blob");

/// Output lines go to defmt, one `info!` per line; the cycle counter extends DWT's 32 bits.
pub struct Nucleo {
    line: [u8; 256],
    len: usize,
    high: u64,
    last: u32,
}

impl Nucleo {
    /// Turns on the caches and the cycle counter and hands out the arena. Call once (a second
    /// call panics).
    pub fn take() -> (Self, &'static mut [u8]) {
        let Some(mut p) = cortex_m::Peripherals::take() else { panic!("Nucleo::take called twice") };
        p.SCB.enable_icache();
        p.SCB.enable_dcache(&mut p.CPUID);
        p.DCB.enable_trace();
        DWT::unlock(); // the M7 locks DWT writes until unlocked
        p.DWT.enable_cycle_counter();
        // SAFETY: `Peripherals::take` succeeded, so this runs once: the only reference to ARENA.
        let arena = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
        (Self { line: [0; 256], len: 0, high: 0, last: 0 }, arena)
    }
}

impl Board for Nucleo {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' || self.len == self.line.len() {
                let text = core::str::from_utf8(&self.line[..self.len]).unwrap_or("<non-UTF-8 line>");
                defmt::info!("{=str}", text);
                self.len = 0;
            }
            if b != b'\n' {
                self.line[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn read_byte(&mut self) -> Option<u8> {
        None
    }

    fn instructions(&mut self) -> u64 {
        // Wraps every 2^32 cycles (67 s at 64 MHz): called at least once per inference.
        let now = DWT::cycle_count();
        if now < self.last {
            self.high += 1 << 32;
        }
        self.last = now;
        self.high | u64::from(now)
    }

    fn exit(&mut self, code: i32) -> ! {
        defmt::info!("exit {=i32}", code);
        // probe-rs run ends on the breakpoint; without a probe, the core just idles.
        cortex_m::asm::bkpt();
        loop {
            cortex_m::asm::wfi();
        }
    }
}
