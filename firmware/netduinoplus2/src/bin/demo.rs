//! The intent demo over USART1: an utterance per line in, `label score cycles "text"` out.
#![no_std]
#![no_main]

use netduinoplus2::{blob, Netduino};

#[cortex_m_rt::entry]
fn main() -> ! {
    let (mut board, arena) = Netduino::take();
    convbert_app::demo(&mut board, blob(), arena)
}
