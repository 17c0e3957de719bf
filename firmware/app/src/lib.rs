//! Board-independent firmware programs over a tiny [`Board`] trait.
//!
//! - [`demo`]: reads utterances line by line, prints `label score instructions` for each.
//! - [`conformance`]: classifies a list of embedded cases and prints one machine-readable line
//!   per case (format in `firmware/README.md`), for a host-side comparison with the host engine.
//! - [`unit_tests`]: the kernel, numerics and tokenizer tests of `tests/on-target`, on the device.
//! - [`demo_with_updates`] (feature `update`, for boards with a heap): the demo, and new models
//!   received over the UART.
//!
//! All end with [`Board::exit`]: 0 when every step worked, 1 otherwise. The crate knows no
//! board, no register and no linker section: board crates hand it a blob and an arena, which
//! [`model_statics!`] declares for them in the section they name.
#![no_std]
#![forbid(unsafe_code)]

mod board;
mod conformance;
mod demo;
mod unit_tests;
#[cfg(feature = "update")]
mod update;

pub use board::{Board, Out};

/// Bytes at a 16-byte aligned address, as `Model::from_bytes` wants a blob (and as SIMD loads
/// want tensors): boards wrap their `include_bytes!` blob and their arena in it.
#[repr(C, align(16))]
pub struct Aligned<T>(pub T);

/// The model statics of a board crate: `BLOB` (the blob of `CONVBERT_BLOB`, aligned, in the
/// linker section `$section`), `static mut ARENA` (the exact arena for the model's longest
/// input), and `pub fn blob()`. Their sizes come from the crate's build script
/// (`fw_build::model` writes `OUT_DIR/model.rs`). The board hands `ARENA` out once, in its
/// own `take`, which is where the one `unsafe` line lives.
#[macro_export]
macro_rules! model_statics {
    ($section:literal) => {
        // BLOB_LEN and ARENA_BYTES, computed by build.rs from the blob itself.
        include!(concat!(env!("OUT_DIR"), "/model.rs"));

        /// The model blob.
        #[link_section = $section]
        static BLOB: $crate::Aligned<[u8; BLOB_LEN]> = $crate::Aligned(*include_bytes!(env!("CONVBERT_BLOB_PATH")));

        /// The engine's scratch memory, sized at build time for the model's longest input.
        static mut ARENA: $crate::Aligned<[u8; ARENA_BYTES]> = $crate::Aligned([0; ARENA_BYTES]);

        /// The model blob.
        pub fn blob() -> &'static [u8] {
            &BLOB.0
        }
    };
}
pub use conformance::conformance;
pub use demo::demo;
pub use unit_tests::unit_tests;
#[cfg(feature = "update")]
pub use update::{demo_with_updates, CHUNK};

use convbert::int8::{Classification, ClassifyError, Engine, Model};
use core::fmt::Write;

/// Validates the blob and builds an engine in `arena`, or prints why not and exits with 2.
fn start<'a, B: Board>(board: &mut B, blob: &'static [u8], arena: &'a mut [u8]) -> Engine<'static, 'a> {
    let model = match Model::from_bytes(blob) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(Out(board), "error: model blob: {e}");
            board.exit(2)
        }
    };
    match Engine::new(&model, arena) {
        Ok(engine) => engine,
        Err(e) => {
            let _ = writeln!(Out(board), "error: engine: {e}");
            board.exit(2)
        }
    }
}

/// Classifies `text` and counts the instructions the inference took on `board`.
fn timed_classify<'e, B: Board>(
    board: &mut B,
    engine: &'e mut Engine<'_, '_>,
    text: &[u8],
) -> (Result<Classification<'e>, ClassifyError>, u64) {
    let start = board.instructions();
    let result = engine.classify_bytes(text);
    (result, board.instructions() - start)
}
