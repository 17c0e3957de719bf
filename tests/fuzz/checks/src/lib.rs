//! The checks behind every fuzz target, shared by the libFuzzer binaries
//! (`tests/fuzz/fuzz_targets/`) and the replay of the committed corpus (`tests/fuzz_corpus.rs`),
//! so both judge an input alike.
//!
//! Each target is one function from bytes to nothing that panics on a finding: the engine
//! panicked, or its output broke a promise (label out of range, score above 1.0, an arena one
//! byte short accepted, ...). Refusing an input with a typed error is never a finding.
//!
//! | target            | input                                                            |
//! |-------------------|------------------------------------------------------------------|
//! | `blob_raw`        | bytes handed to `Model::from_bytes` as they are                  |
//! | `blob_resealed`   | bytes whose magic, version and CRC-32 are rewritten first        |
//! | `blob_structured` | bytes decoded into a small random architecture, packed by `BlobWriter` |
//! | `tokenizer`       | settings byte, length byte, then text bytes                      |
//! | `hf_folder`       | a file selector byte, then the new content of that checkpoint file |

mod blob;
mod engine;
mod hf_folder;
mod reseal;
mod structured;
mod tokenizer;

pub use blob::{blob_raw, blob_resealed, blob_structured};
pub use hf_folder::{hf_folder, tiny_checkpoint, CHECKPOINT_FILES};
pub use structured::structured_blob;
pub use tokenizer::tokenizer;

/// A target's name (its corpus folder's name) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, for the replay test and the seed generator.
pub const TARGETS: [Target; 5] = [
    ("blob_raw", blob_raw),
    ("blob_resealed", blob_resealed),
    ("blob_structured", blob_structured),
    ("tokenizer", tokenizer),
    ("hf_folder", hf_folder),
];
