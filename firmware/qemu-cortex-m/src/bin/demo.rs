//! The intent demo: utterances in on UART0, `label score instructions` out.
#![no_std]
#![no_main]

use qemu_cortex_m::{blob, QemuBoard};

#[cortex_m_rt::entry]
fn main() -> ! {
    let (mut board, arena) = QemuBoard::take();
    convbert_app::demo(&mut board, blob(), arena)
}
