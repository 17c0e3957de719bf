//! Instruction counter: the virtual counter CNTVCT_EL0. Under `qemu -icount shift=0` one
//! instruction is 1 ns of virtual time, so instructions = ticks * 1e9 / CNTFRQ_EL0 (62.5 MHz on
//! QEMU virt: x16, the resolution).

use core::arch::asm;

/// Instructions since reset.
pub fn instructions() -> u64 {
    let (ticks, freq): (u64, u64);
    // SAFETY: reading the generic timer's counter and frequency registers, which EL1 may
    // access, has no side effects; the ISB keeps the read after the preceding instructions.
    unsafe { asm!("isb", "mrs {t}, cntvct_el0", "mrs {f}, cntfrq_el0", t = out(reg) ticks, f = out(reg) freq, options(nomem, nostack)) };
    (ticks as u128 * 1_000_000_000 / freq.max(1) as u128) as u64
}
