//! The conformance runner over the cases file embedded at build time (`CONVBERT_CASES`).
#![no_std]
#![no_main]

use qemu_cortex_m::{blob, QemuBoard};

/// One utterance per line.
static CASES: &[u8] = include_bytes!(env!("CONVBERT_CASES_PATH"));

#[cortex_m_rt::entry]
fn main() -> ! {
    let (mut board, arena) = QemuBoard::take();
    convbert_app::conformance(&mut board, blob(), arena, CASES)
}
