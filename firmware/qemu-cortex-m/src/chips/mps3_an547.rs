//! mps3-an547, Cortex-M55 (Secure), as QEMU 7.2 models it.

/// UART0, QEMU's `-serial stdio`.
pub const UART0: usize = 0x5930_3000;
/// SysTick runs at 32 MHz: nanoseconds (= instructions under `-icount shift=0`) per tick.
pub const NS_PER_TICK: (u64, u64) = (125, 4);
