//! The conformance program over a few built-in utterances (or the file in `CONVBERT_CASES` at
//! build time), every output line logged with defmt.
#![no_std]
#![no_main]

use nucleo_h743zi::{blob, Nucleo};

/// Used when no cases file is given at build time.
const BUILT_IN: &[u8] = b"wake me up at 7\nwill it rain in seattle tomorrow\nplay some jazz by miles davis\n\
book a table for two at a sushi place tonight\nadd this song to my road trip playlist\n";
static CASES: &[u8] = include_bytes!(env!("CONVBERT_CASES_PATH"));

#[cortex_m_rt::entry]
fn main() -> ! {
    let (mut board, arena) = Nucleo::take();
    let cases = if CASES.is_empty() { BUILT_IN } else { CASES };
    convbert_app::conformance(&mut board, blob(), arena, cases)
}
