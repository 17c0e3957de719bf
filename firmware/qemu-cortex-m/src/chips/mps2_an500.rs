//! mps2-an500, Cortex-M7, as QEMU 7.2 models it.

/// UART0, QEMU's `-serial stdio`.
pub const UART0: usize = 0x4000_4000;
/// SysTick runs at 25 MHz: nanoseconds (= instructions under `-icount shift=0`) per tick.
pub const NS_PER_TICK: (u64, u64) = (40, 1);
