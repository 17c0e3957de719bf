//! The on-target unit tests (kernels, numerics, tokenizer) on the real chip, logged with defmt.
#![no_std]
#![no_main]

use nucleo_h743zi::Nucleo;

#[cortex_m_rt::entry]
fn main() -> ! {
    let (mut board, _arena) = Nucleo::take();
    convbert_app::unit_tests(&mut board)
}
