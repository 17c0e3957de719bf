//! Unit tests of the engine's building blocks that run **on the device** as well as on the host.
//!
//! The QEMU conformance suite proves that whole inferences match the host bit for bit; these
//! tests pin down the pieces one by one, so that a target whose compiler or core treats some
//! integer corner differently (shifts by 62, `i64` rounding on a 32-bit core, wrapping `i32`
//! sums, table lookups, UTF-8 decoding) fails with the name of the piece:
//!
//! - [`kernels`]: the portable matrix kernels against plain `i64` loops, on random and extreme
//!   data. Per-architecture kernels added later must pass the same tests.
//! - [`numerics`]: requantization, integer softmax, integer LayerNorm and square root, on
//!   values derived by hand.
//! - [`tokenizer`]: the ids of Hugging Face's `BertTokenizerFast` for 413 hostile strings.
//! - [`blobs`]: truncated, bit-flipped, resealed, wrong-version and size-wrapping blobs, and an
//!   arena one byte short, refused with the right error where 32-bit arithmetic differs.
//! - [`fuzz_seeds`]: the fuzz targets' blob seeds through the whole engine, with the results
//!   the host computed for them, and damaged copies of them, on each board's own kernels.
//!
//! A test is a plain `fn() -> Result<(), Failure>`: no panics (a panic would stop the device
//! before the summary) and no allocation. `tests/on_target.rs` runs [`TESTS`] on the host and,
//! through `firmware/`'s `unit-tests` program, on every QEMU board.
#![no_std]
#![forbid(unsafe_code)]

pub mod blobs;
pub mod fuzz_seeds;
mod hidden_hash;
pub mod kernels;
pub mod numerics;
pub mod tokenizer;

use core::fmt::{self, Write};

/// Why a test failed: a short message (longer ones are cut).
pub struct Failure(pub heapless::String<192>);

impl Failure {
    /// A failure with a formatted message.
    pub fn new(message: fmt::Arguments<'_>) -> Self {
        let mut text = heapless::String::new();
        let _ = text.write_fmt(message); // a message too long for the buffer is cut, not lost
        Self(text)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a test returns.
pub type Outcome = Result<(), Failure>;

/// Returns a [`Failure`] from the enclosing test when `cond` is false.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err($crate::Failure::new(format_args!($($message)+)));
        }
    };
}

/// One named test.
pub struct UnitTest {
    /// `module::what`, as printed.
    pub name: &'static str,
    /// The test itself.
    pub run: fn() -> Outcome,
}

/// Every test, in the order they run.
pub static TESTS: &[UnitTest] = &[
    UnitTest { name: "kernels::dense_matches_i64_loops", run: kernels::dense_matches_i64_loops },
    UnitTest { name: "kernels::dense_grouped_by_hand", run: kernels::dense_grouped_by_hand },
    UnitTest { name: "kernels::dense_extremes_wrap_like_i32", run: kernels::dense_extremes_wrap_like_i32 },
    UnitTest { name: "kernels::depthwise_matches_i64_loops", run: kernels::depthwise_matches_i64_loops },
    UnitTest { name: "kernels::depthwise_pads_with_zeros", run: kernels::depthwise_pads_with_zeros },
    UnitTest { name: "kernels::native_dense_matches_generic", run: kernels::native_dense_matches_generic },
    UnitTest { name: "kernels::native_dense_extremes_wrap_like_generic", run: kernels::native_dense_extremes_wrap_like_generic },
    UnitTest { name: "kernels::native_depthwise_matches_generic", run: kernels::native_depthwise_matches_generic },
    UnitTest { name: "kernels::native_accumulate_matches_generic", run: kernels::native_accumulate_matches_generic },
    UnitTest { name: "kernels::native_dense_many_tokens_matches_generic", run: kernels::native_dense_many_tokens_matches_generic },
    UnitTest { name: "kernels::native_requantize_loops_match_generic", run: kernels::native_requantize_loops_match_generic },
    UnitTest { name: "kernels::native_layer_norm_matches_generic", run: kernels::native_layer_norm_matches_generic },
    UnitTest { name: "numerics::requant_rounds_half_up", run: numerics::requant_rounds_half_up },
    UnitTest { name: "numerics::requant_saturates", run: numerics::requant_saturates },
    UnitTest { name: "numerics::requant_matches_its_definition", run: numerics::requant_matches_its_definition },
    UnitTest { name: "numerics::layer_norm_matches_its_definition", run: numerics::layer_norm_matches_its_definition },
    UnitTest { name: "numerics::softmax_by_hand", run: numerics::softmax_by_hand },
    UnitTest { name: "numerics::softmax_sums_to_one", run: numerics::softmax_sums_to_one },
    UnitTest { name: "numerics::softmax_extremes", run: numerics::softmax_extremes },
    UnitTest { name: "numerics::isqrt_is_floor_sqrt", run: numerics::isqrt_is_floor_sqrt },
    UnitTest { name: "numerics::layer_norm_by_hand", run: numerics::layer_norm_by_hand },
    UnitTest { name: "numerics::layer_norm_extremes", run: numerics::layer_norm_extremes },
    UnitTest { name: "numerics::activation_table_by_hand", run: numerics::activation_table_by_hand },
    UnitTest { name: "tokenizer::vocab_index_is_valid", run: tokenizer::vocab_index_is_valid },
    UnitTest { name: "tokenizer::hard_strings_match_hugging_face", run: tokenizer::hard_strings_match_hugging_face },
    UnitTest { name: "tokenizer::invalid_utf8_is_refused", run: tokenizer::invalid_utf8_is_refused },
    UnitTest { name: "blobs::tiny_blob_is_accepted_and_runs", run: blobs::tiny_blob_is_accepted_and_runs },
    UnitTest { name: "blobs::arena_one_byte_short_is_refused", run: blobs::arena_one_byte_short_is_refused },
    UnitTest { name: "blobs::truncated_blobs_are_refused", run: blobs::truncated_blobs_are_refused },
    UnitTest { name: "blobs::flipped_bits_are_refused", run: blobs::flipped_bits_are_refused },
    UnitTest { name: "blobs::wrong_versions_are_named", run: blobs::wrong_versions_are_named },
    UnitTest { name: "blobs::resealed_damage_never_panics", run: blobs::resealed_damage_never_panics },
    UnitTest { name: "blobs::wrapping_sizes_are_refused", run: blobs::wrapping_sizes_are_refused },
    UnitTest { name: "fuzz_seeds::seeds_match_the_host", run: fuzz_seeds::seeds_match_the_host },
    UnitTest { name: "fuzz_seeds::damaged_seeds_stay_in_range", run: fuzz_seeds::damaged_seeds_stay_in_range },
];

/// Counts of one run over [`TESTS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tests that returned `Ok`.
    pub passed: usize,
    /// Tests that returned a [`Failure`].
    pub failed: usize,
}

/// Runs every test, handing each name and outcome to `report` as it finishes.
pub fn run_all(mut report: impl FnMut(&str, &Outcome)) -> Summary {
    let mut summary = Summary::default();
    for test in TESTS {
        let outcome = (test.run)();
        match outcome {
            Ok(()) => summary.passed += 1,
            Err(_) => summary.failed += 1,
        }
        report(test.name, &outcome);
    }
    summary
}

/// A small deterministic generator (64-bit LCG, Knuth's MMIX constants) for test data that is
/// the same on every target.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next byte as an `i8`, every value equally likely.
    pub fn next_i8(&mut self) -> i8 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8 as i8
    }

    /// The next two bytes as an `i16`, every value equally likely.
    pub fn next_i16(&mut self) -> i16 {
        i16::from_le_bytes([self.next_i8() as u8, self.next_i8() as u8])
    }

    /// The next four bytes as an `i32`, every value equally likely.
    pub fn next_i32(&mut self) -> i32 {
        (self.next_i16() as i32) << 16 | self.next_i16() as u16 as i32
    }

    /// The next value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.next_i8() as u8 as usize % n
    }
}
