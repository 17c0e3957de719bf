//! What the probe programs share: inputs the optimiser cannot see, and the panic handler.
//!
//! Each program (`src/bin/`) is an entry point `_start` that feeds [`opaque`] inputs to the
//! engine calls it probes, so the optimiser must keep every path those calls have for any input.
#![no_std]

/// Bytes standing in for a blob, a vocabulary or a text. Only [`opaque`] reads them.
static INPUT: [u8; 64] = [0; 64];
/// Words standing in for a vocabulary index.
static INPUT_WORDS: [u32; 16] = [0; 16];

/// A value the optimiser knows nothing about: `black_box` hides where it came from, so the
/// code that uses it must handle every possible value.
pub fn opaque<T>(value: T) -> T {
    core::hint::black_box(value)
}

/// Input bytes of unknown content and length.
pub fn opaque_bytes() -> &'static [u8] {
    opaque(&INPUT[..])
}

/// Input words of unknown content and length.
pub fn opaque_words() -> &'static [u32] {
    opaque(&INPUT_WORDS[..])
}

#[cfg(not(feature = "count-sites"))]
extern "C" {
    /// Defined nowhere: a program whose panic handler is still reachable after optimisation
    /// fails to link with "undefined symbol: a_panic_is_reachable".
    fn a_panic_is_reachable() -> !;
}

#[cfg(not(feature = "count-sites"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: never runs; the link fails whenever this handler is reachable.
    unsafe { a_panic_is_reachable() }
}

#[cfg(feature = "count-sites")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // Reading the location keeps every site's `Location` record in the image: the test reads
    // file, line and column of each site from them.
    opaque(info.location());
    loop {}
}
