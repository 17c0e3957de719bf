//! One deliberate panic site (an index the optimiser cannot check): the test's proof that a
//! reachable panic does fail the link, and that the site counter finds it.
#![no_std]
#![no_main]

use convbert_no_panic_probe::{opaque, opaque_bytes};

#[no_mangle]
extern "C" fn _start() -> ! {
    opaque(opaque_bytes()[opaque(100)]);
    loop {}
}
