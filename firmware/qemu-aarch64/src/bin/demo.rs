//! The intent demo: utterances in on the PL011, `label score instructions` out.
#![no_std]
#![no_main]

use aarch64_rt::entry;
use qemu_aarch64::{blob, VirtBoard};

entry!(main);
fn main(_: u64, _: u64, _: u64, _: u64) -> ! {
    let (mut board, arena) = VirtBoard::take();
    convbert_app::demo(&mut board, blob(), arena)
}
