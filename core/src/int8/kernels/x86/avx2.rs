//! AVX2 kernels (x86-64 hosts; [`super`] calls them only on a CPU that has AVX2).
//!
//! Every function here is `#[target_feature(enable = "avx2")]`: the intrinsics inline into it,
//! and calling it from code without the feature is `unsafe`. Inside, `unsafe` is only for the
//! loads, stores and gathers through raw pointers, each with the bounds that keep it in its
//! slice.
//!
//! # Dense: 4-token x 2-row tiles
//!
//! `VPMADDWD` multiplies 16 int16 pairs and adds neighbours into 8 `i32` lanes: 16 MACs in one
//! instruction, exact (two products of at most `2^15 * 2^7` each). The int8 weights are widened
//! to int16 by `VPMOVSXBW` from memory, once per 16 inputs of a weight row, and serve every
//! token of the tile. A tile of 4 tokens x 2 rows keeps 8 accumulators, 4 token vectors and a
//! weight vector in the 16 YMM registers: per 16 inputs, 6 loads (2 widening), 8 `VPMADDWD` and
//! 8 `VPADDD` for 128 MACs. Four tokens is also the engine's tile of the stages that run per
//! tile (`engine.rs`), so those products are one token tile. Without VNNI's `VPDPWSSD` (the
//! multiply and the add in one), or an exact use of `VPMADDUBSW` (unsigned x signed bytes, with
//! int16 pair sums that saturate: int8 inputs offset to 0..255 can exceed them), AVX2 has no
//! denser integer dot product.
//!
//! Int8 activations ([`super::Kernels::dense_i8`]) are widened into `scratch` a tile at a time
//! first (where `scratch` holds a tile; in place otherwise, with `VPMOVSXBW` loads in the
//! loop), so that each input is widened once rather than once per pair of weight rows.
//!
//! `i32` wrapping sums are associative, so summing lanes in any order gives the portable
//! kernel's integers: the 8 accumulators are reduced at the end by `VPHADDD` into one vector of
//! the 8 sums, and inputs past the last block of 16 are added one by one. Outputs are handed to
//! the sink in runs of up to [`RUN`] per token. A layer whose slices do not match its shape
//! runs the portable loop.
//!
//! # The rest
//!
//! - The requantize loops (`requantize_*`, `scale_*`, `activate_i8`, `multiply_i16_i8`,
//!   `add_residual`): [`Requant::apply`] for shifts in 33..=62 (every pair of the shipped
//!   models) 8 lanes at a time by `VPMULDQ`, see [`apply8`]; a block of 8 with another shift
//!   runs the definition. Saturation to int16 and int8 is `PACKSSDW`/`PACKSSWB`.
//! - `activate`, `activate_i8`: the table's two neighbouring entries of each lane by one
//!   `VPGATHERDD` ([`lookup8`]).
//! - `depthwise`: 8 channels at a time, each tap's 8 weights (`K` bytes apart) by one gather.
//! - `accumulate`: 16 int8 values a step (one 16-byte load, `VPMOVSXBD` of each half), two
//!   `VPMULLD` by the broadcast weight (the low 32 bits of each product: the `i32` wrapping
//!   product), two load-add-stores of 8 sums.

use core::arch::x86_64::*;

use super::super::shape::{depthwise_tail, depthwise_window, Shape};
use super::super::{generic, Sink};
use crate::int8::activation::TABLE_LEN;
use crate::int8::{QDense, Requant};

/// Token rows of a dense tile.
const TOKENS: usize = 4;
/// Weight rows of a dense tile.
const ROWS: usize = 2;
/// Outputs per run handed to the sink.
const RUN: usize = 64;
/// The low input bits that interpolate within a segment of an activation table
/// ([`crate::int8::activation`]): 16 minus log2 of its segments.
const FRACTION_BITS: i32 = 16 - (TABLE_LEN - 1).trailing_zeros() as i32;

/// An activation type of [`dense`]: int16 (read as is) or int8 (widened).
pub trait Input: Copy + Into<i32> {
    /// 16 values at `p`, as 16 int16 lanes.
    ///
    /// # Safety
    /// 16 values are readable at `p`, and the CPU has AVX2.
    unsafe fn load16(p: *const Self) -> __m256i;

    /// `rows` as int16 in the start of `scratch`, if it needs widening and fits there.
    ///
    /// # Safety
    /// The CPU has AVX2.
    unsafe fn widened<'s>(rows: &[Self], scratch: &'s mut [i16]) -> Option<&'s [i16]>;
}

impl Input for i16 {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load16(p: *const i16) -> __m256i {
        // SAFETY: the caller's: 32 bytes readable at `p` (unaligned loads are allowed).
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline]
    unsafe fn widened<'s>(_: &[i16], _: &'s mut [i16]) -> Option<&'s [i16]> {
        None
    }
}

impl Input for i8 {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load16(p: *const i8) -> __m256i {
        // SAFETY: the caller's: 16 bytes readable at `p`.
        _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(p.cast()) })
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn widened<'s>(rows: &[i8], scratch: &'s mut [i16]) -> Option<&'s [i16]> {
        let wide = scratch.get_mut(..rows.len())?;
        let mut i = 0;
        while i + 16 <= rows.len() {
            // SAFETY: `i + 16 <= rows.len() = wide.len()`: 16 values of each from `i`.
            unsafe { _mm256_storeu_si256(wide.as_mut_ptr().add(i).cast(), Self::load16(rows.as_ptr().add(i))) };
            i += 16;
        }
        for (w, &x) in wide.iter_mut().zip(rows).skip(i) {
            *w = x as i16;
        }
        Some(wide)
    }
}

/// [`super::Kernels::dense`] and `dense_i8`: token tiles of up to [`TOKENS`] rows; see the
/// module doc. Int8 rows are widened into `scratch` first where it holds a tile: each token's
/// inputs are then widened once, not once per pair of weight rows.
#[target_feature(enable = "avx2")]
pub fn dense<X: Input>(x: &[X], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
    let Some(shape) = Shape::of(ins, layer, 1) else {
        return generic::dense_rows(x, ins, layer, sink);
    };
    // Whole token rows only, as the portable loop.
    let x = x.get(..x.len() / ins * ins).unwrap_or(&[]);
    for (tile, rows) in x.chunks(TOKENS * ins).enumerate() {
        // SAFETY: this function runs only where the CPU has AVX2 (its `target_feature`).
        match unsafe { X::widened(rows, scratch) } {
            Some(wide) => tokens_of(wide, tile * TOKENS, shape, layer, sink),
            None => tokens_of(rows, tile * TOKENS, shape, layer, sink),
        }
    }
}

/// [`tokens`] for the 1 to [`TOKENS`] whole rows of `rows`.
#[inline]
#[target_feature(enable = "avx2")]
fn tokens_of<X: Input>(rows: &[X], t0: usize, s: Shape, layer: &QDense<'_>, sink: &mut Sink<'_>) {
    match rows.len() / s.ins {
        4 => tokens::<X, 4>(rows, t0, s, layer, sink),
        3 => tokens::<X, 3>(rows, t0, s, layer, sink),
        2 => tokens::<X, 2>(rows, t0, s, layer, sink),
        _ => tokens::<X, 1>(rows, t0, s, layer, sink),
    }
}

/// The `T` token rows `rows` (`T * ins` values, tokens `t0..`) through every output of `layer`.
#[inline]
#[target_feature(enable = "avx2")]
fn tokens<X: Input, const T: usize>(rows: &[X], t0: usize, s: Shape, layer: &QDense<'_>, sink: &mut Sink<'_>) {
    let mut runs = [[0i32; RUN]; T];
    for g in 0..s.groups {
        // Token t's inputs of group g; the weight rows and biases of the group.
        let xs: [&[X]; T] = core::array::from_fn(|t| rows.get(t * s.ins + g * s.ig..).and_then(|r| r.get(..s.ig)).unwrap_or(&[]));
        let w_group = layer.weight.get(g * s.og * s.ig..(g + 1) * s.og * s.ig).unwrap_or(&[]);
        let b_group = layer.bias.get(g * s.og..(g + 1) * s.og).unwrap_or(&[]);
        for (run, (w_run, b_run)) in w_group.chunks(RUN * s.ig).zip(b_group.chunks(RUN)).enumerate() {
            let mut pairs = w_run.chunks_exact(ROWS * s.ig);
            for (r, w_rows) in (0..).step_by(ROWS).zip(&mut pairs) {
                let sums = tile::<X, T, ROWS>(xs, w_rows, s.ig);
                for (run, sums) in runs.iter_mut().zip(sums) {
                    for ((y, sum), b) in run.iter_mut().skip(r).zip(sums).zip(b_run.iter().skip(r)) {
                        *y = b.wrapping_add(sum);
                    }
                }
            }
            // The last row of an odd run.
            let r = b_run.len() / ROWS * ROWS;
            if let Some(&b) = b_run.get(r) {
                let sums = tile::<X, T, 1>(xs, pairs.remainder(), s.ig);
                for (run, [sum]) in runs.iter_mut().zip(sums) {
                    if let Some(y) = run.get_mut(r) {
                        *y = b.wrapping_add(sum);
                    }
                }
            }
            for (t, run_sums) in runs.iter().enumerate() {
                sink(t0 + t, g * s.og + run * RUN, run_sums.get(..b_run.len()).unwrap_or(&[]));
            }
        }
    }
}

/// `sum_i xs[t][i] * w[r * ig + i]` for the `T` token rows `xs` and the `R` weight rows of
/// `ig` inputs in `w` (`T * R <= 8`), `i32` wrapping. Over fewer inputs if a slice is shorter
/// (a caller's bug, not reachable from [`dense`]): every load stays inside its slice.
#[inline]
#[target_feature(enable = "avx2")]
// Indexed loops over the constant tile sizes: they unroll into the accumulator registers (an
// iterator version kept the accumulators in memory, a store per update).
#[allow(clippy::needless_range_loop)]
fn tile<X: Input, const T: usize, const R: usize>(xs: [&[X]; T], w: &[i8], ig: usize) -> [[i32; R]; T] {
    let n = xs.iter().fold(ig, |n, x| n.min(x.len())).min(w.len().saturating_sub((R - 1) * ig));
    let mut acc = [[_mm256_setzero_si256(); R]; T];
    let blocks = n / 16;
    for i in (0..blocks).map(|b| 16 * b) {
        let mut xv = [_mm256_setzero_si256(); T];
        for (v, x) in xv.iter_mut().zip(xs) {
            // SAFETY: `i + 16 <= n <= x.len()`.
            *v = unsafe { X::load16(x.as_ptr().add(i)) };
        }
        for r in 0..R {
            // SAFETY: `r * ig + i + 16 <= (R - 1) * ig + n <= w.len()`.
            let wv = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(w.as_ptr().add(r * ig + i).cast()) });
            for t in 0..T {
                acc[t][r] = _mm256_add_epi32(acc[t][r], _mm256_madd_epi16(xv[t], wv));
            }
        }
    }
    let i = 16 * blocks;
    const { assert!(T * R <= 8, "one reduction of 8") };
    let mut flat = [_mm256_setzero_si256(); 8];
    for t in 0..T {
        for r in 0..R {
            flat[t * R + r] = acc[t][r];
        }
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` holds 8 i32s, 32 bytes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), reduce8(flat)) };
    let mut sums = [[0i32; R]; T];
    for (t, (sums, x)) in sums.iter_mut().zip(xs).enumerate() {
        for (r, sum) in sums.iter_mut().enumerate() {
            let tail = x.get(i..n).unwrap_or(&[]).iter().zip(w.get(r * ig + i..).unwrap_or(&[]));
            let lane = lanes.get(t * R + r).copied().unwrap_or(0);
            *sum = tail.fold(lane, |s, (&x, &w)| s.wrapping_add(x.into().wrapping_mul(w as i32)));
        }
    }
    sums
}

/// The 8 lane sums of 8 vectors: lane k of the result is the sum of the lanes of `v[k]`.
#[inline]
#[target_feature(enable = "avx2")]
fn reduce8(v: [__m256i; 8]) -> __m256i {
    // Pairs of neighbours, then fours, within each 128-bit half: `ab` holds the half-sums of
    // v[0..4] (low half: their low halves; high half: their high halves), `cd` those of v[4..8].
    let (a, b) = (_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    let (c, d) = (_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    let (ab, cd) = (_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    // The low halves' sums of v[0..8], plus the high halves'.
    _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(ab, cd), _mm256_permute2x128_si256::<0x31>(ab, cd))
}

/// [`super::Kernels::accumulate`]: 16 values at a time, one unaligned 16-byte load widened
/// by `VPMOVSXBD` in two halves of 8, `VPMULLD` by the broadcast weight (the `i32` wrapping
/// product, exact for any weight), the rest one by one.
#[target_feature(enable = "avx2")]
pub fn accumulate(sums: &mut [i32], weight: i32, row: &[i8]) {
    let n = sums.len().min(row.len());
    let weights = _mm256_set1_epi32(weight);
    let mut c = 0;
    while c + 16 <= n {
        // SAFETY: `c + 16 <= n`: 16 values of `row` and 16 of `sums` from `c`.
        unsafe {
            let values = _mm_loadu_si128(row.as_ptr().add(c).cast());
            let p = sums.as_mut_ptr().add(c).cast::<__m256i>();
            let low = _mm256_mullo_epi32(_mm256_cvtepi8_epi32(values), weights);
            let high = _mm256_mullo_epi32(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(values, values)), weights);
            _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p), low));
            _mm256_storeu_si256(p.add(1), _mm256_add_epi32(_mm256_loadu_si256(p.add(1)), high));
        }
        c += 16;
    }
    generic::accumulate(sums.get_mut(c..n).unwrap_or(&mut []), weight, row.get(c..).unwrap_or(&[]));
}

/// [`super::Kernels::depthwise`]: 8 channels at a time, over the taps whose source row is inside
/// the sentence. The weights are `[C, K]`, so a tap's 8 weights are `K` bytes apart: one
/// `VPGATHERDD` of the 4 bytes at each (the weight in the low byte, sign-extended by two shifts);
/// the products are `VPMULLD` of the widened inputs. A block whose gather would read past the end
/// of `w` (the last one, when `w` ends with it) and the channels past the last block of 8 take
/// the scalar loop.
#[target_feature(enable = "avx2")]
pub fn depthwise(x: &[i16], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
    // The gather's offsets are i32 lanes.
    if channels == 0 || k == 0 || w.len() > i32::MAX as usize {
        return generic::depthwise(x, channels, t, w, k, acc);
    }
    let rows = x.len() / channels;
    let n = acc.len().min(channels).min(w.len() / k);
    // The taps whose source row t + j - k/2 is inside the sentence: j0..j1, from row `first`
    // (none: every sum 0).
    let (j0, first, taps) = depthwise_window(rows, t, k).unwrap_or((0, 0, 0));
    let j1 = j0 + taps;
    // Lane l's offset: (c0 + l) * k + j, stepped by 8 k per block and by 1 per tap.
    let lanes = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(k as i32));
    let mut c0 = 0;
    // A block reads w[(c0 + 7) k + j ..][..4] for j < k: below (c0 + 8) k + 3.
    while c0 + 8 <= n && (c0 + 8) * k + 3 <= w.len() {
        let mut sums = _mm256_setzero_si256();
        for j in j0..j1 {
            let offsets = _mm256_add_epi32(lanes, _mm256_set1_epi32((c0 * k + j) as i32));
            // SAFETY: the lanes read 4 bytes at w[(c0 + l) k + j] for l < 8 and j < k, all below
            // (c0 + 8) k + 3 <= w.len() (the loop's condition).
            let words = unsafe { _mm256_i32gather_epi32::<1>(w.as_ptr().cast(), offsets) };
            let taps = _mm256_srai_epi32::<24>(_mm256_slli_epi32::<24>(words));
            let src = (first + j - j0) * channels + c0;
            // SAFETY: the source row first + j - j0 < rows (j < j1), and c0 + 8 <= n <= channels:
            // 8 values inside `x`.
            let xv = unsafe { _mm256_cvtepi16_epi32(_mm_loadu_si128(x.as_ptr().add(src).cast())) };
            sums = _mm256_add_epi32(sums, _mm256_mullo_epi32(xv, taps));
        }
        // SAFETY: c0 + 8 <= n <= acc.len().
        unsafe { _mm256_storeu_si256(acc.as_mut_ptr().add(c0).cast(), sums) };
        c0 += 8;
    }
    // The channels after the last block, as the portable loop, and zeros past `n`.
    let (x, w) = (x.get(first * channels..).unwrap_or(&[]), w.get(j0..).unwrap_or(&[]));
    depthwise_tail((x, channels, taps), (w, k), c0, n, acc);
}

/// [`Requant::apply`] of the 8 lanes of `x`, lanes 0-3 by the pairs in `lo` and lanes 4-7 by
/// those in `hi` (each as 4 `[multiplier, shift]` word pairs, [`Requant`]'s layout), and
/// whether every shift is in 33..=62, the only ones this computes (the caller runs the
/// definition otherwise).
///
/// For those shifts the definition is `((hi32(x m) >> (n - 33)) + 1) >> 1`, `hi32` the high word
/// of the 64-bit product: `VPMULDQ` multiplies the even words of two vectors into 4 products,
/// here each lane with the multiplier beside its shift, so the lanes are widened into even
/// words first. The high words and the shifts come out as lanes 0, 4, 1, 5, 2, 6, 3, 7, and
/// are put back in order at the end.
#[inline]
#[target_feature(enable = "avx2")]
fn apply8(x: __m256i, lo: __m256i, hi: __m256i) -> (__m256i, bool) {
    let products_lo = _mm256_mul_epi32(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(x)), lo);
    let products_hi = _mm256_mul_epi32(_mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(x)), hi);
    let high = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(products_lo), products_hi);
    let shifts = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(lo), hi);
    // n - 33 in 0..=29, as unsigned words.
    let amounts = _mm256_sub_epi32(shifts, _mm256_set1_epi32(33));
    let in_range = _mm256_cmpeq_epi32(_mm256_min_epu32(amounts, _mm256_set1_epi32(29)), amounts);
    let rounded = _mm256_srai_epi32::<1>(_mm256_add_epi32(_mm256_srav_epi32(high, amounts), _mm256_set1_epi32(1)));
    let ordered = _mm256_permutevar8x32_epi32(rounded, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
    (ordered, _mm256_movemask_epi8(in_range) == -1)
}

/// One pair in every lane, for [`apply8`]'s `lo` and `hi`.
#[inline]
#[target_feature(enable = "avx2")]
fn broadcast(requant: Requant) -> __m256i {
    _mm256_set1_epi64x(((requant.shift as i64) << 32) | requant.multiplier as u32 as i64)
}

/// The 8 sums at `acc` requantized by the 8 pairs at `requant` ([`apply8`]).
///
/// # Safety
/// 8 values are readable at `acc` and at `requant`, and the CPU has AVX2.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn apply_at(acc: *const i32, requant: *const Requant) -> (__m256i, bool) {
    // SAFETY: the caller's: 32 bytes at `acc`, 64 at `requant` (`Requant` is two `i32`s,
    // `repr(C)`).
    let (x, lo, hi) = unsafe { (_mm256_loadu_si256(acc.cast()), _mm256_loadu_si256(requant.cast()), _mm256_loadu_si256(requant.add(4).cast())) };
    apply8(x, lo, hi)
}

/// An output type of the requantize loops: 8 `i32` lanes stored saturated to it.
pub trait Output: Copy {
    /// Stores the 8 lanes of `v` at `p`, saturated to `Self`.
    ///
    /// # Safety
    /// 8 values are writable at `p`, and the CPU has AVX2.
    unsafe fn store8(p: *mut Self, v: __m256i);
}

impl Output for i32 {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store8(p: *mut i32, v: __m256i) {
        // SAFETY: the caller's: 32 bytes writable at `p`.
        unsafe { _mm256_storeu_si256(p.cast(), v) }
    }
}

impl Output for i16 {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store8(p: *mut i16, v: __m256i) {
        // SAFETY: the caller's: 16 bytes writable at `p`.
        unsafe { _mm_storeu_si128(p.cast(), pack_i16(v)) }
    }
}

impl Output for i8 {
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store8(p: *mut i8, v: __m256i) {
        // Saturating to int16 first does not change the int8 saturation.
        let halves = pack_i16(v);
        // SAFETY: the caller's: 8 bytes writable at `p`.
        unsafe { _mm_storel_epi64(p.cast(), _mm_packs_epi16(halves, halves)) }
    }
}

/// The 8 lanes of `v` saturated to int16.
#[inline]
#[target_feature(enable = "avx2")]
fn pack_i16(v: __m256i) -> __m128i {
    _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
}

/// `out[c] = requant[c].apply(acc[c])` saturated to `Y`, 8 at a time: the requantize loops.
/// A block with a shift [`apply8`] does not compute, and the values past the last block, run
/// `portable`, the definition.
#[inline]
#[target_feature(enable = "avx2")]
pub fn requantize<Y: Output>(acc: &[i32], requant: &[Requant], out: &mut [Y], portable: fn(&[i32], &[Requant], &mut [Y])) {
    let n = acc.len().min(requant.len()).min(out.len());
    let mut c = 0;
    while c + 8 <= n {
        // SAFETY: `c + 8 <= n`: 8 values of each slice from `c`.
        let (v, ok) = unsafe { apply_at(acc.as_ptr().add(c), requant.as_ptr().add(c)) };
        if ok {
            // SAFETY: as above.
            unsafe { Y::store8(out.as_mut_ptr().add(c), v) };
        } else {
            portable(&acc[c..c + 8], &requant[c..c + 8], &mut out[c..c + 8]);
        }
        c += 8;
    }
    portable(&acc[c..n], &requant[c..n], &mut out[c..n]);
}

/// `out[c] = requant.apply(acc[c])` saturated to `Y`, 8 at a time: the scale loops. A shift
/// that [`apply8`] does not compute runs `portable` over the whole row, as do the values past
/// the last block.
#[inline]
#[target_feature(enable = "avx2")]
pub fn scale<Y: Output>(acc: &[i32], requant: Requant, out: &mut [Y], portable: fn(&[i32], Requant, &mut [Y])) {
    let n = acc.len().min(out.len());
    let mut c = 0;
    if (33..=62).contains(&requant.shift) {
        let pairs = broadcast(requant);
        while c + 8 <= n {
            // SAFETY: `c + 8 <= n`: 8 values of `acc` and of `out` from `c`.
            unsafe { Y::store8(out.as_mut_ptr().add(c), apply8(_mm256_loadu_si256(acc.as_ptr().add(c).cast()), pairs, pairs).0) };
            c += 8;
        }
    }
    portable(&acc[c..n], requant, &mut out[c..n]);
}

/// `act(x)` of 8 int16 inputs in `i32` lanes through a [`TABLE_LEN`]-entry table,
/// [`crate::int8::activation::lookup`]'s interpolation: one `VPGATHERDD` reads each lane's two
/// neighbouring entries as one word (the start in its low half, the end in its high half).
///
/// # Safety
/// `table` holds [`TABLE_LEN`] entries, the lanes are int16 values, and the CPU has AVX2.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn lookup8(table: &[i16], x: __m256i) -> __m256i {
    let u = _mm256_add_epi32(x, _mm256_set1_epi32(32768));
    let segment = _mm256_srli_epi32::<FRACTION_BITS>(u);
    let fraction = _mm256_and_si256(u, _mm256_set1_epi32((1 << FRACTION_BITS) - 1));
    // SAFETY: u is in 0..2^16, so the segment j is below 2^9 = TABLE_LEN - 1: the 4 bytes at
    // entry j are entries j and j + 1, inside the table.
    let ends = unsafe { _mm256_i32gather_epi32::<2>(table.as_ptr().cast(), segment) };
    let (start, end) = (_mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(ends)), _mm256_srai_epi32::<16>(ends));
    let step = _mm256_mullo_epi32(_mm256_sub_epi32(end, start), fraction);
    _mm256_add_epi32(start, _mm256_srai_epi32::<FRACTION_BITS>(_mm256_add_epi32(step, _mm256_set1_epi32(1 << (FRACTION_BITS - 1)))))
}

/// [`super::Kernels::activate`], 8 values at a time ([`lookup8`]).
#[target_feature(enable = "avx2")]
pub fn activate(values: &mut [i16], table: &[i16]) {
    if table.len() != TABLE_LEN {
        return generic::activate(values, table);
    }
    let mut c = 0;
    while c + 8 <= values.len() {
        // SAFETY: `c + 8 <= values.len()`; the table's length is checked above.
        unsafe {
            let p = values.as_mut_ptr().add(c);
            let v = lookup8(table, _mm256_cvtepi16_epi32(_mm_loadu_si128(p.cast())));
            i16::store8(p, v);
        }
        c += 8;
    }
    generic::activate(&mut values[c..], table);
}

/// [`super::Kernels::activate_i8`], 8 values at a time: [`apply8`] saturated to int16, then
/// [`lookup8`], then [`crate::int8::activation::lookup_i8`]'s rounding to the int8 step.
#[target_feature(enable = "avx2")]
pub fn activate_i8(acc: &[i32], requant: &[Requant], table: &[i16], out: &mut [i8]) {
    let n = acc.len().min(requant.len()).min(out.len());
    let mut c = 0;
    while c + 8 <= n && table.len() == TABLE_LEN {
        // SAFETY: `c + 8 <= n`: 8 values of each slice from `c`.
        let (v, ok) = unsafe { apply_at(acc.as_ptr().add(c), requant.as_ptr().add(c)) };
        if ok {
            let x = _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(i16::MAX as i32)), _mm256_set1_epi32(i16::MIN as i32));
            // SAFETY: the lanes are int16 values, the table's length is checked, and 8 values
            // of `out` from `c` are writable.
            unsafe {
                let y = lookup8(table, x);
                i8::store8(out.as_mut_ptr().add(c), _mm256_srai_epi32::<8>(_mm256_add_epi32(y, _mm256_set1_epi32(128))));
            }
        } else {
            generic::activate_i8(&acc[c..c + 8], &requant[c..c + 8], table, &mut out[c..c + 8]);
        }
        c += 8;
    }
    generic::activate_i8(&acc[c..n], &requant[c..n], table, &mut out[c..n]);
}

/// [`super::Kernels::multiply_i16_i8`], 8 values at a time (the int16 x int8 products are exact
/// in `i32`).
#[target_feature(enable = "avx2")]
pub fn multiply_i16_i8(a: &mut [i16], b: &[i8], requant: Requant) {
    let n = a.len().min(b.len());
    let mut c = 0;
    if (33..=62).contains(&requant.shift) {
        let pairs = broadcast(requant);
        while c + 8 <= n {
            // SAFETY: `c + 8 <= n`: 8 values of `a` and of `b` from `c`.
            unsafe {
                let p = a.as_mut_ptr().add(c);
                let products = _mm256_mullo_epi32(_mm256_cvtepi16_epi32(_mm_loadu_si128(p.cast())), _mm256_cvtepi8_epi32(_mm_loadl_epi64(b.as_ptr().add(c).cast())));
                i16::store8(p, apply8(products, pairs, pairs).0);
            }
            c += 8;
        }
    }
    generic::multiply_i16_i8(&mut a[c..n], &b[c..n], requant);
}

/// [`super::Kernels::add_residual`], 8 values at a time; `i32` saturating addition, which AVX2
/// lacks, as the wrapping sum replaced by the bound of the operands' sign where it overflowed.
#[target_feature(enable = "avx2")]
pub fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
    let n = z.len().min(branch.len()).min(residual.len());
    let mut c = 0;
    if (33..=62).contains(&residual_rq.shift) {
        let pairs = broadcast(residual_rq);
        while c + 8 <= n {
            // SAFETY: `c + 8 <= n`: 8 values of each slice from `c`.
            let ((a, ok), (b, _)) = unsafe {
                let r = _mm256_cvtepi16_epi32(_mm_loadu_si128(residual.as_ptr().add(c).cast()));
                (apply_at(z.as_ptr().add(c), branch.as_ptr().add(c)), apply8(r, pairs, pairs))
            };
            if ok {
                let sum = _mm256_add_epi32(a, b);
                // Overflow: a and b of one sign, the sum of the other.
                let overflow = _mm256_andnot_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(a, sum));
                let bound = _mm256_xor_si256(_mm256_srai_epi32::<31>(a), _mm256_set1_epi32(i32::MAX));
                let saturated = _mm256_blendv_epi8(sum, bound, _mm256_srai_epi32::<31>(overflow));
                // SAFETY: as above.
                unsafe { i32::store8(z.as_mut_ptr().add(c), saturated) };
            } else {
                generic::add_residual(&mut z[c..c + 8], &branch[c..c + 8], &residual[c..c + 8], residual_rq);
            }
            c += 8;
        }
    }
    generic::add_residual(&mut z[c..n], &branch[c..n], &residual[c..n], residual_rq);
}
