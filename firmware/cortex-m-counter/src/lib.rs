//! Instruction counter: SysTick free-running over 24 bits, wraps counted by its exception.
//!
//! Under `qemu -icount shift=0` one instruction takes 1 ns of virtual time, so instructions =
//! ticks * (1e9 / SysTick clock), the board's nanoseconds per tick. (DWT CYCCNT reads 0 in
//! QEMU 7.2, so SysTick is the one counter that works both there and on hardware, where a tick
//! of the core clock is a cycle.) Resolution is one tick (e.g. 40 instructions at 25 MHz).
#![no_std]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::exception;

/// SysTick periods completed (2^24 ticks each).
static WRAPS: AtomicU32 = AtomicU32::new(0);
const RELOAD: u32 = 0x00FF_FFFF;

#[exception]
fn SysTick() {
    // The only writer; a load and a store suffice (thumbv6m has no atomic add).
    WRAPS.store(WRAPS.load(Relaxed).wrapping_add(1), Relaxed);
}

/// A started SysTick and the board's tick length.
pub struct Counter {
    /// (numerator, denominator) of nanoseconds, hence instructions, per tick.
    ns_per_tick: (u64, u64),
}

impl Counter {
    /// Starts SysTick on the core clock, reload 2^24 - 1, wrap exception on.
    pub fn start(mut syst: SYST, ns_per_tick: (u64, u64)) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        Self { ns_per_tick }
    }

    /// Instructions since [`Counter::start`].
    pub fn instructions(&self) -> u64 {
        let ticks = loop {
            let wraps = WRAPS.load(Relaxed);
            let current = SYST::get_current();
            // A wrap between the two reads would pair the new count with the old wraps.
            if WRAPS.load(Relaxed) == wraps {
                break u64::from(wraps) * (u64::from(RELOAD) + 1) + u64::from(RELOAD - current);
            }
        };
        ticks * self.ns_per_tick.0 / self.ns_per_tick.1
    }
}
