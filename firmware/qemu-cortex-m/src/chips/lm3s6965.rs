//! lm3s6965evb, Cortex-M3. Console: semihosting. Clock: QEMU's Stellaris default of 12 MHz
//! (not checked here: snips-tiny does not fit this board).

/// Nanoseconds (= instructions under `-icount shift=0`) per SysTick tick.
pub const NS_PER_TICK: (u64, u64) = (250, 3);
