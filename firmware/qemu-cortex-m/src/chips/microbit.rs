//! microbit (nRF51822), Cortex-M0. Console: semihosting. SysTick at 16 MHz.

/// Nanoseconds (= instructions under `-icount shift=0`) per SysTick tick.
pub const NS_PER_TICK: (u64, u64) = (125, 2);
