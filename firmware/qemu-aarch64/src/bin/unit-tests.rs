//! The on-target unit tests (kernels, numerics, tokenizer); built without a model blob.
#![no_std]
#![no_main]

use aarch64_rt::entry;
use qemu_aarch64::VirtBoard;

entry!(main);
fn main(_: u64, _: u64, _: u64, _: u64) -> ! {
    let (mut board, _arena) = VirtBoard::take();
    convbert_app::unit_tests(&mut board)
}
