//! Start-up pieces for aarch64-rt: the identity page table, exception vectors, panic exit.

use aarch64_rt::{exception_handlers, initial_pagetable, ExceptionHandlers, InitialPagetable};

/// Level-1 block, valid, access flag set.
const BLOCK: usize = 1 | 1 << 10;
/// MAIR index 0 (aarch64-rt's default: Device-nGnRE), never executable.
const DEVICE: usize = BLOCK | 1 << 54;
/// MAIR index 1 (default: Normal write-back), inner shareable.
const NORMAL: usize = BLOCK | 1 << 2 | 3 << 8;

// 0..1 GiB: devices (PL011 at 0x0900_0000); 1..2 GiB: RAM, where the image runs.
initial_pagetable!({
    let mut table = [0; 512];
    table[0] = DEVICE;
    table[1] = NORMAL | 0x4000_0000;
    InitialPagetable(table)
});

/// Every exception panics (the defaults), and the panic exits through semihosting.
struct Exceptions;
impl ExceptionHandlers for Exceptions {}
exception_handlers!(Exceptions);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    semihosting::eprintln!("panic: {info}");
    semihosting::process::exit(101)
}
