//! The on-target unit tests of `tests/on-target` (kernels, numerics, tokenizer), one line each:
//!
//! ```text
//! test <name> ... ok
//! test <name> ... FAILED: <why>
//! unit-tests: <n> passed, <n> failed
//! ```
//!
//! Exit status 0 when every test passed. `tests/on_target.rs` runs this on every QEMU board.

use crate::{Board, Out};
use core::fmt::Write;

/// Runs every test, prints the results, exits.
pub fn unit_tests<B: Board>(board: &mut B) -> ! {
    let summary = convbert_on_target::run_all(|name, outcome| {
        let _ = match outcome {
            Ok(()) => writeln!(Out(board), "test {name} ... ok"),
            Err(why) => writeln!(Out(board), "test {name} ... FAILED: {why}"),
        };
    });
    let _ = writeln!(Out(board), "unit-tests: {} passed, {} failed", summary.passed, summary.failed);
    board.exit(if summary.failed == 0 { 0 } else { 1 })
}
