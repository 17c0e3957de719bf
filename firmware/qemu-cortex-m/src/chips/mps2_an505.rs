//! mps2-an505, Cortex-M33 (Secure), as QEMU 7.2 models it.

/// UART0, QEMU's `-serial stdio`.
pub const UART0: usize = 0x5020_0000;
/// SysTick runs at 20 MHz: nanoseconds (= instructions under `-icount shift=0`) per tick.
pub const NS_PER_TICK: (u64, u64) = (50, 1);
