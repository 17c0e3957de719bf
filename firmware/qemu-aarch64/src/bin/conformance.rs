//! The conformance runner over the cases file embedded at build time (`CONVBERT_CASES`).
#![no_std]
#![no_main]

use aarch64_rt::entry;
use qemu_aarch64::{blob, VirtBoard};

/// One utterance per line.
static CASES: &[u8] = include_bytes!(env!("CONVBERT_CASES_PATH"));

entry!(main);
fn main(_: u64, _: u64, _: u64, _: u64) -> ! {
    let (mut board, arena) = VirtBoard::take();
    convbert_app::conformance(&mut board, blob(), arena, CASES)
}
