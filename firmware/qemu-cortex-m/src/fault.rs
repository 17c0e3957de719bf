//! Panics and HardFaults print a line to semihosting stderr and exit non-zero, so a runner
//! under `timeout` sees a failure instead of a core spinning forever.

use core::panic::PanicInfo;
use cortex_m_rt::{exception, ExceptionFrame};

/// Exit status of a panic.
const PANIC_EXIT: i32 = 101;
/// Exit status of a HardFault.
const FAULT_EXIT: i32 = 134;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    semihosting::eprintln!("panic: {info}");
    semihosting::process::exit(PANIC_EXIT)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    semihosting::eprintln!("hardfault: pc={:#010x} lr={:#010x}", frame.pc(), frame.lr());
    semihosting::process::exit(FAULT_EXIT)
}
