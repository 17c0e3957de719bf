//! The on-target unit tests (kernels, numerics, tokenizer); built without a model blob.
#![no_std]
#![no_main]

use qemu_cortex_m::QemuBoard;

#[cortex_m_rt::entry]
fn main() -> ! {
    let (mut board, _arena) = QemuBoard::take();
    convbert_app::unit_tests(&mut board)
}
