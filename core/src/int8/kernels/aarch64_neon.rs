//! AArch64 NEON kernels (Cortex-A53, Cortex-A76, ...): the products' loops in `asm!`, the rest
//! in the stable `core::arch::aarch64` intrinsics.
//!
//! Why `asm!` for every load and store: the `aarch64-unknown-none` targets build with
//! `+strict-align`, under which LLVM splits any NEON load or store it cannot prove 16-byte
//! aligned (the `vld1q_*`/`vst1q_*` intrinsics included) into byte accesses, although `LD1`/`ST1`
//! need only element alignment. `SDOT` has no stable intrinsic either. The intrinsics do the
//! register-only arithmetic; the loads and stores outside the product loops are small `asm!`
//! helpers ([`load`], [`store_i16`], ...).
//!
//! # Dense: 4-token tiles
//!
//! A tile keeps one `i32x4` accumulator per (token, output) pair in registers and reads each
//! weight row straight from the weights; each token vector and each weight vector loaded
//! serves several products. The loop over the tiles of a chunk of up to [`CHUNK`] outputs is in
//! the `asm!` too (about 50 instructions a tile around the blocks: zeroing, `ADDP` folds of the
//! accumulators' 4 lanes, the biases, the stores into a stack buffer from which the sink gets
//! one run per token and chunk). A last tile of fewer rows repeats its last row (and bias), a
//! last block of 1-3 tokens its last token; the extra sums are never handed over. Inputs per
//! group that are not a multiple of 8 (int16) or 16 (int8), or a layer whose slices do not match
//! its shape, run the portable loop.
//!
//! - int8 activations ([`Kernels::dense_i8`], the FFN: most of a model's MACs), 4 tokens x 4
//!   rows, 16 inputs a block. With the dot-product extension (`cfg(target_feature =
//!   "dotprod")`: Cortex-A55, A76 and later, set by `-C target-cpu`): 8 loads and 16 `SDOT` (4
//!   products a lane), 26 instructions for 256 MACs. Without it: `SMULL`/`SMULL2` (8 int16
//!   products each, at most `2^14`) then `SADALP` (pairwise into the int32 lanes), 74
//!   instructions for 256 MACs; two products are never summed in int16, where `-128 * -128 * 2`
//!   would overflow.
//! - int16 activations ([`Kernels::dense`]) with the dot-product extension: each token split
//!   into bytes, `x = 256 h + l + 128` (`h = x >> 8`, `l = (x & 255) - 128`, both int8), so
//!   `sum x w = 256 sum h w + sum l w + 128 sum w`; 4 tokens x 2 rows, 16 inputs a block: 4
//!   token loads (`h` and `l` of 16 inputs), 2 weight loads and 18 `SDOT` (2 per pair, and `sum
//!   w` per row, shared by the tokens), 26 instructions for 128 MACs. The 4 tokens are split
//!   once into `scratch` (5 instructions per 16 inputs of a token), before all the outputs read
//!   them.
//! - int16 activations without it (or with a short `scratch`): 4 tokens x 4 rows, weights
//!   widened by `SXTL`, products by `SMLAL`/`SMLAL2`; 16 inputs a block, 82 instructions for
//!   256 MACs (4 is the most `SMLAL` allows), after one block of 8 when `ig / 8` is odd.
//!
//! # The rest
//!
//! - `requantize_i16`, `scale_i16`, `scale_i8`, `multiply_i16_i8`, `add_residual` and the
//!   requantization of `activate_i8`: [`apply`], 4 lanes of [`Requant::apply`] (per-channel
//!   pairs deinterleaved by `LD2`): `SQDMULH` + `SRSHL` for shifts 32..=62 (the shipped
//!   models' usual ones), 64-bit `SMULL` + `SRSHL` + `SQXTN` for 0..=31; a block with a shift
//!   outside 0..=62 (refused at load time) and the values past the last whole block run the
//!   portable code.
//! - `activate_i8`: the table lookup's index, fraction, interpolation and roundings by vector,
//!   each lane's two table entries loaded into their lanes by `LD1` (NEON has no gather).
//! - `accumulate` (int8 rows, the weight may be 32768): 16 values a step, 1 `LD1` of 16 bytes
//!   (any address), 1 `LD1` + 1 `ST1` of 4 sum vectors, 6 `SXTL(2)` (to int16, then to
//!   int32), 4 `MLA`, `SUBS` + `B.NE`: 15 instructions per 16 values (`MLA.4S` keeps the
//!   products' low 32 bits, so any `i32` weight is exact); the last `len % 16` values run the
//!   portable loop.
//! - `depthwise`: 8 channels at a time, the taps in an inner loop; the weights `[C, K]` are
//!   gathered lane by lane (`LD1 {v.b}[lane]`, each lane's pointer stepping along its row), the
//!   products widened by `SMLAL`/`SMLAL2`: 15 instructions a tap for 8 channels. Only the taps
//!   inside the sentence run; channels past the last block of 8 take a scalar loop.

// The crate denies `unsafe`; this module is where the engine's NEON loads and stores live.
#![allow(unsafe_code)]

use core::arch::aarch64::*;
use core::arch::asm;

use super::shape::{depthwise_tail, depthwise_window, Shape};
use super::{generic, Kernels, Sink};
use crate::int8::activation::TABLE_LEN;
use crate::int8::{QDense, Requant};

/// NEON kernels: `dense`, `dense_i8`, `activate_i8`, `accumulate`, `depthwise`,
/// `requantize_i16`, `scale_i16`, `scale_i8`, `multiply_i16_i8` and `add_residual`; the rest is
/// [`generic`].
pub struct ArmNeon;

impl Kernels for ArmNeon {
    // SAFETY (every call below): the functions need NEON, which this build enables (checked at
    // compile time below the impl).
    fn dense(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        #[cfg(target_feature = "dotprod")]
        if let Some(shape) = Shape::of(ins, layer, 16).filter(|_| scratch.len() >= TOKENS * ins) {
            // SAFETY: see the top of the impl.
            return unsafe { dense_split(x, shape, layer, scratch, sink) };
        }
        #[cfg(not(target_feature = "dotprod"))]
        let _ = scratch;
        match Shape::of(ins, layer, 8) {
            // SAFETY: see the top of the impl.
            Some(shape) => unsafe { dense_tiles(x, shape, layer, sink, chunk_i16) },
            None => generic::dense_rows(x, ins, layer, sink),
        }
    }

    fn dense_i8(x: &[i8], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        let _ = scratch;
        match Shape::of(ins, layer, 16) {
            // SAFETY: see the top of the impl.
            Some(shape) => unsafe { dense_tiles(x, shape, layer, sink, chunk_i8) },
            None => generic::dense_rows(x, ins, layer, sink),
        }
    }

    fn requantize_i16(acc: &[i32], requant: &[Requant], out: &mut [i16]) {
        // SAFETY: see the top of the impl.
        unsafe { requantize_i16(acc, requant, out) }
    }

    fn scale_i16(acc: &[i32], requant: Requant, out: &mut [i16]) {
        // SAFETY: see the top of the impl.
        unsafe { scale_i16(acc, requant, out) }
    }

    fn scale_i8(acc: &[i32], requant: Requant, out: &mut [i8]) {
        // SAFETY: see the top of the impl.
        unsafe { scale_i8(acc, requant, out) }
    }

    fn multiply_i16_i8(a: &mut [i16], b: &[i8], requant: Requant) {
        // SAFETY: see the top of the impl.
        unsafe { multiply_i16_i8(a, b, requant) }
    }

    fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
        // SAFETY: see the top of the impl.
        unsafe { add_residual(z, branch, residual, residual_rq) }
    }

    fn activate_i8(acc: &[i32], requant: &[Requant], table: &[i16], out: &mut [i8]) {
        // SAFETY: see the top of the impl.
        unsafe { activate_i8(acc, requant, table, out) }
    }

    fn accumulate(sums: &mut [i32], weight: i32, row: &[i8]) {
        let blocks = sums.len().min(row.len()) / 16;
        if blocks > 0 {
            // SAFETY: `blocks` blocks each read 16 bytes of `row` and read and write 16 `i32`s
            // of `sums`: `16 blocks` of each, which both hold; `LD1`/`ST1` need only element
            // alignment (a byte for the row). Only the registers named here change.
            unsafe {
                asm!(
                    "dup v5.4s, {weight:w}",
                    "1:",
                    "ld1 {{v0.16b}}, [{row}], #16",
                    "ld1 {{v1.4s, v2.4s, v3.4s, v4.4s}}, [{sums}]",
                    // Values 0-7 and 8-15 as int16, then each half as int32.
                    "sxtl v6.8h, v0.8b",
                    "sxtl2 v7.8h, v0.16b",
                    "sxtl v0.4s, v6.4h",
                    "sxtl2 v6.4s, v6.8h",
                    "mla v1.4s, v0.4s, v5.4s",
                    "mla v2.4s, v6.4s, v5.4s",
                    "sxtl v0.4s, v7.4h",
                    "sxtl2 v7.4s, v7.8h",
                    "mla v3.4s, v0.4s, v5.4s",
                    "mla v4.4s, v7.4s, v5.4s",
                    "st1 {{v1.4s, v2.4s, v3.4s, v4.4s}}, [{sums}], #64",
                    "subs {blocks}, {blocks}, #1",
                    "b.ne 1b",
                    weight = in(reg) weight,
                    row = inout(reg) row.as_ptr() => _,
                    sums = inout(reg) sums.as_mut_ptr() => _,
                    blocks = inout(reg) blocks => _,
                    out("v0") _,
                    out("v1") _,
                    out("v2") _,
                    out("v3") _,
                    out("v4") _,
                    out("v5") _,
                    out("v6") _,
                    out("v7") _,
                    options(nostack),
                );
            }
        }
        let done = 16 * blocks;
        generic::accumulate(sums.get_mut(done..).unwrap_or(&mut []), weight, row.get(done..).unwrap_or(&[]));
    }

    fn depthwise(x: &[i16], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
        if channels == 0 || k == 0 {
            return generic::depthwise(x, channels, t, w, k, acc);
        }
        let rows = x.len() / channels;
        let n = acc.len().min(channels).min(w.len() / k);
        // The taps whose source row t + j - k/2 is inside the sentence.
        let Some((j0, first, taps)) = depthwise_window(rows, t, k) else { return acc.fill(0) };
        let (x, w) = (x.get(first * channels..).unwrap_or(&[]), w.get(j0..).unwrap_or(&[]));
        let blocks = n / 8;
        if blocks > 0 {
            // SAFETY: block b reads, for each of the `taps` taps j, 8 values at x[(j - j0) *
            // channels + 8 b..] (rows `first..first + taps` of the sentence, all inside `x`,
            // since `first + taps <= rows`, and 8 b + 8 <= n <= channels) and one byte at each
            // w[(8 b + lane) k + j - j0] (below n k <= w.len() for j < k), then stores 8 sums at
            // acc[8 b..] (n <= acc.len()). Only the registers named here change.
            unsafe {
                asm!(
                    "1:",
                    "movi v0.16b, #0",
                    "movi v1.16b, #0",
                    // The 8 channels' weight pointers, k apart.
                    "mov {p0}, {w}",
                    "add {p1}, {p0}, {k}",
                    "add {p2}, {p1}, {k}",
                    "add {p3}, {p2}, {k}",
                    "add {p4}, {p3}, {k}",
                    "add {p5}, {p4}, {k}",
                    "add {p6}, {p5}, {k}",
                    "add {p7}, {p6}, {k}",
                    "add {w}, {p7}, {k}",
                    "mov {xp}, {x}",
                    "mov {j}, {taps}",
                    // One tap for 8 channels: their 8 weights gathered lane by lane.
                    "2:",
                    "ld1 {{v2.b}}[0], [{p0}], #1",
                    "ld1 {{v2.b}}[1], [{p1}], #1",
                    "ld1 {{v2.b}}[2], [{p2}], #1",
                    "ld1 {{v2.b}}[3], [{p3}], #1",
                    "ld1 {{v2.b}}[4], [{p4}], #1",
                    "ld1 {{v2.b}}[5], [{p5}], #1",
                    "ld1 {{v2.b}}[6], [{p6}], #1",
                    "ld1 {{v2.b}}[7], [{p7}], #1",
                    "ld1 {{v3.8h}}, [{xp}], {stride}",
                    "sxtl v2.8h, v2.8b",
                    "smlal v0.4s, v3.4h, v2.4h",
                    "smlal2 v1.4s, v3.8h, v2.8h",
                    "subs {j}, {j}, #1",
                    "b.ne 2b",
                    "st1 {{v0.4s, v1.4s}}, [{acc}], #32",
                    "add {x}, {x}, #16",
                    "subs {blocks}, {blocks}, #1",
                    "b.ne 1b",
                    k = in(reg) k,
                    stride = in(reg) 2 * channels,
                    taps = in(reg) taps,
                    blocks = inout(reg) blocks => _,
                    x = inout(reg) x.as_ptr() => _,
                    w = inout(reg) w.as_ptr() => _,
                    acc = inout(reg) acc.as_mut_ptr() => _,
                    xp = out(reg) _,
                    j = out(reg) _,
                    p0 = out(reg) _,
                    p1 = out(reg) _,
                    p2 = out(reg) _,
                    p3 = out(reg) _,
                    p4 = out(reg) _,
                    p5 = out(reg) _,
                    p6 = out(reg) _,
                    p7 = out(reg) _,
                    out("v0") _,
                    out("v1") _,
                    out("v2") _,
                    out("v3") _,
                    options(nostack),
                );
            }
        }
        // The channels past the last block of 8, and zeros past `n`, as the portable loop.
        depthwise_tail((x, channels, taps), (w, k), 8 * blocks, n, acc);
    }
}

/// The kernels' intrinsics need NEON: `core/build.rs` picks them only where the target has it
/// (this checks that at compile time), so calling the `#[target_feature(enable = "neon")]`
/// functions here is sound.
const _: () = assert!(cfg!(target_feature = "neon"));

// The loops below take their blocks by position: a `zip` of chunk iterators has an outlined
// constructor that divides by the chunk sizes, a panic path the optimiser leaves in
// (`tests/no_panic.rs`).

/// [`Kernels::requantize_i16`]: blocks of 4 channels through [`apply`].
#[target_feature(enable = "neon")]
fn requantize_i16(acc: &[i32], requant: &[Requant], out: &mut [i16]) {
    let mut done = 0;
    for block in 0..acc.len().min(requant.len()).min(out.len()) / 4 {
        let span = 4 * block..4 * block + 4;
        let (Some(a), Some(rq), Some(o)) = (acc.get(span.clone()), requant.get(span.clone()), out.get_mut(span)) else { break };
        let (Ok(a), Ok(o)) = (a.try_into(), o.try_into()) else { break };
        let (m, n) = pairs(rq);
        let Some(v) = apply(load(a), m, n) else { break };
        store_i16(o, v);
        done += 4;
    }
    // The channels past the last block of 4, or from the first block with a shift outside
    // 0..=62, by the definition (`out` is not an input).
    generic::requantize_i16(acc.get(done..).unwrap_or(&[]), requant.get(done..).unwrap_or(&[]), out.get_mut(done..).unwrap_or(&mut []));
}

/// [`Kernels::scale_i16`]: blocks of 4 values through [`apply`].
#[target_feature(enable = "neon")]
fn scale_i16(acc: &[i32], requant: Requant, out: &mut [i16]) {
    let (m, n) = (vdupq_n_s32(requant.multiplier), vdupq_n_s32(requant.shift));
    let mut done = 0;
    for block in 0..acc.len().min(out.len()) / 4 {
        let span = 4 * block..4 * block + 4;
        let (Some(a), Some(o)) = (acc.get(span.clone()), out.get_mut(span)) else { break };
        let (Ok(a), Ok(o)) = (a.try_into(), o.try_into()) else { break };
        let Some(v) = apply(load(a), m, n) else { break };
        store_i16(o, v);
        done += 4;
    }
    generic::scale_i16(acc.get(done..).unwrap_or(&[]), requant, out.get_mut(done..).unwrap_or(&mut []));
}

/// [`Kernels::scale_i8`]: blocks of 8 values through [`apply`].
#[target_feature(enable = "neon")]
fn scale_i8(acc: &[i32], requant: Requant, out: &mut [i8]) {
    let (m, n) = (vdupq_n_s32(requant.multiplier), vdupq_n_s32(requant.shift));
    let mut done = 0;
    for block in 0..acc.len().min(out.len()) / 8 {
        let span = 8 * block..8 * block + 8;
        let (Some(a), Some(o)) = (acc.get(span.clone()), out.get_mut(span)) else { break };
        let (Some(a0), Some(a1), Ok(o)) = (a.first_chunk(), a.last_chunk(), o.try_into()) else { break };
        let (Some(v0), Some(v1)) = (apply(load(a0), m, n), apply(load(a1), m, n)) else { break };
        store_i8(o, v0, v1);
        done += 8;
    }
    generic::scale_i8(acc.get(done..).unwrap_or(&[]), requant, out.get_mut(done..).unwrap_or(&mut []));
}

/// [`Kernels::multiply_i16_i8`]: blocks of 8 products (`SMULL`, exact in 32 bits) through
/// [`apply`].
#[target_feature(enable = "neon")]
fn multiply_i16_i8(a: &mut [i16], b: &[i8], requant: Requant) {
    let (m, n) = (vdupq_n_s32(requant.multiplier), vdupq_n_s32(requant.shift));
    let mut done = 0;
    for block in 0..a.len().min(b.len()) / 8 {
        let span = 8 * block..8 * block + 8;
        let (Some(x), Some(y)) = (a.get_mut(span.clone()), b.get(span)) else { break };
        let (Ok(x), Ok(y)) = (<&mut [i16; 8]>::try_from(x), y.try_into()) else { break };
        let (p0, p1) = products(x, y);
        let (Some(v0), Some(v1)) = (apply(p0, m, n), apply(p1, m, n)) else { break };
        store_i16x8(x, v0, v1);
        done += 8;
    }
    generic::multiply_i16_i8(a.get_mut(done..).unwrap_or(&mut []), b.get(done..).unwrap_or(&[]), requant);
}

/// [`Kernels::add_residual`]: blocks of 4 channels through [`apply`], summed by `SQADD`.
#[target_feature(enable = "neon")]
fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
    let (m, n) = (vdupq_n_s32(residual_rq.multiplier), vdupq_n_s32(residual_rq.shift));
    let mut done = 0;
    for block in 0..z.len().min(branch.len()).min(residual.len()) / 4 {
        let span = 4 * block..4 * block + 4;
        let (Some(z), Some(rq), Some(r)) = (z.get_mut(span.clone()), branch.get(span.clone()), residual.get(span)) else { break };
        let (Ok(z), Ok(r)) = (<&mut [i32; 4]>::try_from(z), r.try_into()) else { break };
        let (mb, nb) = pairs(rq);
        // A shift outside 0..=62: this block and the rest by the definition (in place, so
        // nothing of this block is stored yet).
        let (Some(v), Some(r)) = (apply(load(z), mb, nb), apply(load_i16(r), m, n)) else { break };
        store(z, vqaddq_s32(v, r));
        done += 4;
    }
    generic::add_residual(z.get_mut(done..).unwrap_or(&mut []), branch.get(done..).unwrap_or(&[]), residual.get(done..).unwrap_or(&[]), residual_rq);
}

/// [`Kernels::activate_i8`]: blocks of 8 channels, requantized through [`apply`] and looked up
/// by [`lookup_i8`].
#[target_feature(enable = "neon")]
fn activate_i8(acc: &[i32], requant: &[Requant], table: &[i16], out: &mut [i8]) {
    let mut done = 0;
    // A table of another length (refused when the blob loads): the portable code's zeros.
    if let Ok(table) = <&[i16; TABLE_LEN]>::try_from(table) {
        for block in 0..acc.len().min(requant.len()).min(out.len()) / 8 {
            let span = 8 * block..8 * block + 8;
            let (Some(a), Some(rq), Some(o)) = (acc.get(span.clone()), requant.get(span.clone()), out.get_mut(span)) else { break };
            let (Some(a0), Some(a1), Ok(o)) = (a.first_chunk(), a.last_chunk(), o.try_into()) else { break };
            let ((m0, n0), (m1, n1)) = (pairs(rq.get(..4).unwrap_or(&[])), pairs(rq.get(4..).unwrap_or(&[])));
            let (Some(v0), Some(v1)) = (apply(load(a0), m0, n0), apply(load(a1), m1, n1)) else { break };
            lookup_i8(table, v0, v1, o);
            done += 8;
        }
    }
    generic::activate_i8(acc.get(done..).unwrap_or(&[]), requant.get(done..).unwrap_or(&[]), table, out.get_mut(done..).unwrap_or(&mut []));
}

/// `out[i] = lookup_i8(table, to_i16(lane i))` ([`crate::int8::activation::lookup_i8`]) for the
/// 8 lanes of `a` and `b`: the saturation to int16, the segment index and fraction by vector,
/// the two table entries of each lane by `LD1` into its lane (NEON has no gather: 4
/// instructions a lane), the interpolation in 32 bits and both round-half-up shifts by `SRSHR`,
/// the saturation to int8 by `SQXTN`.
#[inline(always)]
fn lookup_i8(table: &[i16; TABLE_LEN], a: int32x4_t, b: int32x4_t, out: &mut [i8; 8]) {
    // SAFETY: each lane's segment index is a 16-bit value shifted right by 7 (`FRACTION_BITS`,
    // checked below), so at most 511, and the two entries it reads, `table[j]` and
    // `table[j + 1]`, lie inside the `TABLE_LEN` = 513 of `table`; `ST1` writes the 8 bytes of
    // `out`. Only the registers named here change.
    unsafe {
        asm!(
            "sqxtn v16.4h, {a:v}.4s",
            "sqxtn2 v16.8h, {b:v}.4s",
            "movi v17.8h, #0x80, lsl #8",
            "eor v16.16b, v16.16b, v17.16b",
            "ushr v18.8h, v16.8h, #7",
            "movi v17.8h, #0x7f",
            "and v19.16b, v16.16b, v17.16b",
            "umov {j:w}, v18.h[0]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[0], [{p}], #2",
            "ld1 {{v21.h}}[0], [{p}]",
            "umov {j:w}, v18.h[1]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[1], [{p}], #2",
            "ld1 {{v21.h}}[1], [{p}]",
            "umov {j:w}, v18.h[2]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[2], [{p}], #2",
            "ld1 {{v21.h}}[2], [{p}]",
            "umov {j:w}, v18.h[3]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[3], [{p}], #2",
            "ld1 {{v21.h}}[3], [{p}]",
            "umov {j:w}, v18.h[4]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[4], [{p}], #2",
            "ld1 {{v21.h}}[4], [{p}]",
            "umov {j:w}, v18.h[5]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[5], [{p}], #2",
            "ld1 {{v21.h}}[5], [{p}]",
            "umov {j:w}, v18.h[6]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[6], [{p}], #2",
            "ld1 {{v21.h}}[6], [{p}]",
            "umov {j:w}, v18.h[7]",
            "add {p}, {table}, {j}, lsl #1",
            "ld1 {{v20.h}}[7], [{p}], #2",
            "ld1 {{v21.h}}[7], [{p}]",
            "ssubl v22.4s, v21.4h, v20.4h",
            "ssubl2 v23.4s, v21.8h, v20.8h",
            "ushll v16.4s, v19.4h, #0",
            "ushll2 v17.4s, v19.8h, #0",
            "mul v22.4s, v22.4s, v16.4s",
            "mul v23.4s, v23.4s, v17.4s",
            "srshr v22.4s, v22.4s, #7",
            "srshr v23.4s, v23.4s, #7",
            "saddw v22.4s, v22.4s, v20.4h",
            "saddw2 v23.4s, v23.4s, v20.8h",
            "srshr v22.4s, v22.4s, #8",
            "srshr v23.4s, v23.4s, #8",
            "sqxtn v16.4h, v22.4s",
            "sqxtn2 v16.8h, v23.4s",
            "sqxtn v16.8b, v16.8h",
            "st1 {{v16.8b}}, [{out}]",
            a = in(vreg) a,
            b = in(vreg) b,
            table = in(reg) table.as_ptr(),
            out = in(reg) out.as_mut_ptr(),
            j = out(reg) _,
            p = out(reg) _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            options(nostack),
        );
    }
}

// The shifts of `lookup_i8`'s `asm!` are those of the activation tables: 512 segments, 7
// fraction bits.
const _: () = assert!(TABLE_LEN == 513);

/// [`Requant::apply`] of 4 lanes `x` by multipliers `m` and shifts `n`, or `None` if a shift is
/// outside 0..=62. Shifts 32..=62 (the usual ones): `SQDMULH` gives `d = floor(x m / 2^31)`
/// (it saturates only for `x = m = i32::MIN`, where `d = 2^31 - 1` instead of `2^31` rounds to
/// the same result for these shifts), and `SRSHL` by `31 - n` a rounding shift right computed
/// without overflow: `floor((d + 2^(n-32)) / 2^(n-31)) = floor((x m + 2^(n-1)) / 2^n)`, the
/// definition. Other shifts: the 64-bit products (`SMULL`), `SRSHL` by `-n` and `SQXTN`, the
/// definition's saturation to `i32`, word for word.
#[inline]
#[target_feature(enable = "neon")]
fn apply(x: int32x4_t, m: int32x4_t, n: int32x4_t) -> Option<int32x4_t> {
    let shifts = vreinterpretq_u32_s32(n);
    if vminvq_u32(shifts) >= 32 && vmaxvq_u32(shifts) <= 62 {
        return Some(vrshlq_s32(vqdmulhq_s32(x, m), vsubq_s32(vdupq_n_s32(31), n)));
    }
    if vmaxvq_u32(shifts) > 62 {
        return None;
    }
    let right = vnegq_s32(n);
    let low = vrshlq_s64(vmull_s32(vget_low_s32(x), vget_low_s32(m)), vmovl_s32(vget_low_s32(right)));
    let high = vrshlq_s64(vmull_high_s32(x, m), vmovl_high_s32(right));
    Some(vqmovn_high_s64(vqmovn_s64(low), high))
}

/// 4 requantization pairs as (multipliers, shifts), deinterleaved by `LD2`.
#[inline]
#[target_feature(enable = "neon")]
fn pairs(rq: &[Requant]) -> (int32x4_t, int32x4_t) {
    let Ok(rq) = <&[Requant; 4]>::try_from(rq) else { return (vdupq_n_s32(0), vdupq_n_s32(-1)) };
    // SAFETY: `Requant` is `repr(C)`, two `i32`s: `rq` is the 8 `i32`s `LD2` reads.
    let pair = unsafe { vld2q_s32(rq.as_ptr().cast::<i32>()) };
    (pair.0, pair.1)
}

// Loads and stores. `LD1`/`ST1` need only element alignment, but under the target's
// `+strict-align` LLVM splits a NEON load or store it cannot prove 16-byte aligned into byte
// accesses (the `vld1q_*` intrinsics included), so these are `asm!`.

/// 4 `i32`s into a vector.
#[inline(always)]
fn load(a: &[i32; 4]) -> int32x4_t {
    let v;
    // SAFETY: `LD1` reads the 16 bytes of `a`; only `v` changes.
    unsafe { asm!("ld1 {{{v:v}.4s}}, [{a}]", v = out(vreg) v, a = in(reg) a.as_ptr(), options(pure, readonly, nostack, preserves_flags)) };
    v
}

/// 4 `i16`s into a vector, widened to `i32`.
#[inline(always)]
fn load_i16(a: &[i16; 4]) -> int32x4_t {
    let v;
    // SAFETY: `LD1` reads the 8 bytes of `a`; only `v` changes.
    unsafe { asm!("ld1 {{{v:v}.4h}}, [{a}]", "sxtl {v:v}.4s, {v:v}.4h", v = out(vreg) v, a = in(reg) a.as_ptr(), options(pure, readonly, nostack, preserves_flags)) };
    v
}

/// A vector into 4 `i32`s.
#[inline(always)]
fn store(out: &mut [i32; 4], v: int32x4_t) {
    // SAFETY: `ST1` writes the 16 bytes of `out`, nothing else.
    unsafe { asm!("st1 {{{v:v}.4s}}, [{o}]", v = in(vreg) v, o = in(reg) out.as_mut_ptr(), options(nostack, preserves_flags)) };
}

/// A vector saturated to `i16` (`SQXTN`) into 4 `i16`s.
#[inline(always)]
fn store_i16(out: &mut [i16; 4], v: int32x4_t) {
    // SAFETY: `ST1` writes the 8 bytes of `out`, nothing else; `v` is an input the block may
    // change (`inout`), no other register.
    unsafe { asm!("sqxtn {v:v}.4h, {v:v}.4s", "st1 {{{v:v}.4h}}, [{o}]", v = inout(vreg) v => _, o = in(reg) out.as_mut_ptr(), options(nostack)) };
}

/// The 8 products `x[i] * y[i]` in 32 bits, as two vectors.
#[inline(always)]
fn products(x: &[i16; 8], y: &[i8; 8]) -> (int32x4_t, int32x4_t) {
    let (low, high);
    // SAFETY: `LD1` reads the 16 bytes of `x` and the 8 of `y`; only the registers named here
    // change.
    unsafe {
        asm!(
            "ld1 {{{t:v}.8h}}, [{x}]",
            "ld1 {{{u:v}.8b}}, [{y}]",
            "sxtl {u:v}.8h, {u:v}.8b",
            "smull {low:v}.4s, {t:v}.4h, {u:v}.4h",
            "smull2 {high:v}.4s, {t:v}.8h, {u:v}.8h",
            x = in(reg) x.as_ptr(),
            y = in(reg) y.as_ptr(),
            t = out(vreg) _,
            u = out(vreg) _,
            low = out(vreg) low,
            high = out(vreg) high,
            options(pure, readonly, nostack, preserves_flags),
        )
    };
    (low, high)
}

/// Two vectors saturated to `i16` (`SQXTN`) into 8 `i16`s.
#[inline(always)]
fn store_i16x8(out: &mut [i16; 8], a: int32x4_t, b: int32x4_t) {
    // SAFETY: `ST1` writes the 16 bytes of `out`, nothing else; `t` is a scratch register.
    unsafe {
        asm!(
            "sqxtn {t:v}.4h, {a:v}.4s",
            "sqxtn2 {t:v}.8h, {b:v}.4s",
            "st1 {{{t:v}.8h}}, [{o}]",
            a = in(vreg) a,
            b = in(vreg) b,
            t = out(vreg) _,
            o = in(reg) out.as_mut_ptr(),
            options(nostack),
        )
    };
}

/// Two vectors saturated to `i8` (`SQXTN` twice) into 8 `i8`s.
#[inline(always)]
fn store_i8(out: &mut [i8; 8], a: int32x4_t, b: int32x4_t) {
    // SAFETY: `ST1` writes the 8 bytes of `out`, nothing else; `t` is a scratch register.
    unsafe {
        asm!(
            "sqxtn {t:v}.4h, {a:v}.4s",
            "sqxtn2 {t:v}.8h, {b:v}.4s",
            "sqxtn {t:v}.8b, {t:v}.8h",
            "st1 {{{t:v}.8b}}, [{o}]",
            a = in(vreg) a,
            b = in(vreg) b,
            t = out(vreg) _,
            o = in(reg) out.as_mut_ptr(),
            options(nostack),
        )
    };
}

/// Tokens of a tile.
const TOKENS: usize = 4;
/// Weight rows (outputs) of a tile.
const ROWS: usize = 4;
/// Outputs per run handed to the sink: the tiles' sums of one chunk wait in a stack buffer of
/// `TOKENS x CHUNK`. A multiple of [`ROWS`]; small enough that the kernel suite's layers (up to
/// 40 outputs) cross a chunk boundary.
const CHUNK: usize = 32;

/// The sums of one chunk of up to [`CHUNK`] outputs for [`TOKENS`] tokens, `[token][output]`;
/// 16-byte aligned for the tiles' `STR Q` stores.
#[repr(C, align(16))]
struct Sums([[i32; CHUNK]; TOKENS]);

/// [`Kernels::dense`] / [`Kernels::dense_i8`] for a [`Shape`]: blocks of up to 4 tokens, each
/// through every chunk of every group. `chunk(xs, w, bias, ig, sums)` puts into `sums` the
/// biases plus the dot products of the 4 token rows `xs` (`ig` long) with the weight rows of
/// `w`, one per bias.
#[target_feature(enable = "neon")]
fn dense_tiles<X: Copy>(x: &[X], s: Shape, layer: &QDense<'_>, sink: &mut Sink<'_>, chunk: impl Fn([&[X]; TOKENS], &[i8], &[i32], usize, &mut Sums)) {
    // (`checked_div`: `Shape` has non-zero sizes, which the optimiser cannot see; a division's
    // panic path would stay in the firmware. `tests/no_panic.rs`.)
    let rows = x.len().checked_div(s.ins).unwrap_or(0);
    let groups = s.groups;
    let mut sums = Sums([[0; CHUNK]; TOKENS]);
    for t0 in (0..rows).step_by(TOKENS) {
        let tokens = (rows - t0).min(TOKENS);
        for g in 0..groups {
            // Token k of the block (the last real one again past the end): its group's inputs.
            let xs: [&[X]; TOKENS] = core::array::from_fn(|k| {
                let start = (t0 + k.min(tokens - 1)) * s.ins + g * s.ig;
                x.get(start..start + s.ig).unwrap_or(&[])
            });
            for c0 in (0..s.og).step_by(CHUNK) {
                let outs = (s.og - c0).min(CHUNK);
                let o0 = g * s.og + c0;
                let (w, bias) = (layer.weight.get(o0 * s.ig..(o0 + outs) * s.ig).unwrap_or(&[]), layer.bias.get(o0..o0 + outs).unwrap_or(&[]));
                chunk(xs, w, bias, s.ig, &mut sums);
                for (k, row) in sums.0.iter().enumerate().take(tokens) {
                    sink(t0 + k, o0, row.get(..outs).unwrap_or(&[]));
                }
            }
        }
    }
}

/// One `asm!` call over tiles of `N` weight rows: the first tile's row pointers, its biases,
/// the number of tiles and the first row.
type TileCall<const N: usize> = ([*const i8; N], *const i32, usize, usize);

/// The tile calls of a chunk of weight rows of `ig` inputs in `w`, one per bias, `N` rows a
/// tile: the full tiles, then the rows left (the last one repeated, in the row pointers and in
/// `tail`, which holds the last tile's biases), as `(row pointers, biases, tiles, first row)`;
/// `None` unless `w` holds the rows, there are at most `CHUNK`, every token row holds `x_len`
/// values and `ig` is a non-zero multiple of `block`.
#[inline]
fn calls<const N: usize, X>(xs: &[&[X]; TOKENS], x_len: usize, w: &[i8], bias: &[i32], ig: usize, block: usize, tail: &mut [i32; N]) -> Option<[TileCall<N>; 2]> {
    let rows = bias.len();
    let fits = ig >= block && ig % block == 0 && rows <= CHUNK && w.len() >= rows * ig && xs.iter().all(|x| x.len() >= x_len);
    let row = |k: usize| w.as_ptr().wrapping_add(k * ig);
    let (full, left) = (rows / N, rows % N);
    let last = N * full;
    let repeat = |j: usize| last + j.min(left.saturating_sub(1));
    for (j, b) in tail.iter_mut().enumerate() {
        *b = bias.get(repeat(j)).copied().unwrap_or(0);
    }
    fits.then(|| {
        let tail_rows = core::array::from_fn(|j| row(repeat(j)));
        [(core::array::from_fn(row), bias.as_ptr(), full, 0), (tail_rows, tail.as_ptr(), (left > 0) as usize, last)]
    })
}

/// The `asm!` of a run of tiles: for each of `{tiles}` groups of 4 weight rows, 16 zeroed
/// accumulators v0-v15 (`v(4 t + r)` for token `t`, weight row `r`), the token pointers
/// `{x0}`-`{x3}` reset to the rows' starts, then `$body`, which reads the token rows through
/// them and the weight rows through `{w0}`-`{w3}` (post-incremented by `ig` in all) and may use
/// v16-v31, `{count}` and its own `$operands`; then `ADDP` folds (token `t`'s 4 totals into
/// `v(4 t)`), the 4 rows' biases from `{bias}` added, 4 `STR Q` into the [`Sums`] at `{out}`
/// (+16 bytes a tile) and the row pointers step over the 3 rows the others read.
macro_rules! tiles_asm {
    ($xs:expr, $ws:expr, $bias:expr, $tiles:expr, $ig:expr, $out:expr, [$($body:literal,)*], $($operands:tt)*) => {
        asm!(
            "0:",
            "movi v0.16b, #0", "movi v1.16b, #0", "movi v2.16b, #0", "movi v3.16b, #0",
            "movi v4.16b, #0", "movi v5.16b, #0", "movi v6.16b, #0", "movi v7.16b, #0",
            "movi v8.16b, #0", "movi v9.16b, #0", "movi v10.16b, #0", "movi v11.16b, #0",
            "movi v12.16b, #0", "movi v13.16b, #0", "movi v14.16b, #0", "movi v15.16b, #0",
            "mov {x0}, {t0}", "mov {x1}, {t1}", "mov {x2}, {t2}", "mov {x3}, {t3}",
            $($body,)*
            "addp v0.4s, v0.4s, v1.4s", "addp v2.4s, v2.4s, v3.4s", "addp v0.4s, v0.4s, v2.4s",
            "addp v4.4s, v4.4s, v5.4s", "addp v6.4s, v6.4s, v7.4s", "addp v4.4s, v4.4s, v6.4s",
            "addp v8.4s, v8.4s, v9.4s", "addp v10.4s, v10.4s, v11.4s", "addp v8.4s, v8.4s, v10.4s",
            "addp v12.4s, v12.4s, v13.4s", "addp v14.4s, v14.4s, v15.4s", "addp v12.4s, v12.4s, v14.4s",
            "ld1 {{v16.4s}}, [{bias}], #16",
            "add v0.4s, v0.4s, v16.4s", "add v4.4s, v4.4s, v16.4s", "add v8.4s, v8.4s, v16.4s", "add v12.4s, v12.4s, v16.4s",
            "str q0, [{out}]", "str q4, [{out}, #128]", "str q8, [{out}, #256]", "str q12, [{out}, #384]",
            "add {out}, {out}, #16",
            "add {w0}, {w0}, {skip}", "add {w1}, {w1}, {skip}", "add {w2}, {w2}, {skip}", "add {w3}, {w3}, {skip}",
            "subs {tiles}, {tiles}, #1",
            "b.ne 0b",
            t0 = in(reg) $xs[0].as_ptr(),
            t1 = in(reg) $xs[1].as_ptr(),
            t2 = in(reg) $xs[2].as_ptr(),
            t3 = in(reg) $xs[3].as_ptr(),
            x0 = out(reg) _,
            x1 = out(reg) _,
            x2 = out(reg) _,
            x3 = out(reg) _,
            w0 = inout(reg) $ws[0] => _,
            w1 = inout(reg) $ws[1] => _,
            w2 = inout(reg) $ws[2] => _,
            w3 = inout(reg) $ws[3] => _,
            skip = in(reg) 3 * $ig,
            bias = inout(reg) $bias => _,
            tiles = inout(reg) $tiles => _,
            out = inout(reg) $out => _,
            count = out(reg) _,
            $($operands)*
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        )
    };
}

// The `{out}` offsets of `tiles_asm!` are the rows of `Sums`.
const _: () = assert!(CHUNK * 4 == 128);

/// The chunk of [`dense_tiles`] for int16 activations: weights widened by `SXTL`, products by
/// `SMLAL`/`SMLAL2`; blocks of 16 inputs (4 two-register token loads, 4 weight loads, 8 `SXTL`,
/// 64 `SMLAL`, 2 for the loop: 82 instructions for 256 MACs) after one block of 8 if `ig / 8`
/// is odd. Not inlined: one copy for every layer and sink.
#[inline(never)]
fn chunk_i16(xs: [&[i16]; TOKENS], w: &[i8], bias: &[i32], ig: usize, sums: &mut Sums) {
    let mut tail = [0; ROWS];
    let Some(calls) = calls(&xs, ig, w, bias, ig, 8, &mut tail) else { return };
    for (ws, biases, tiles, first) in calls {
        if tiles == 0 {
            continue;
        }
        // SAFETY: each of the `tiles` tiles reads `ig` inputs (`ig / 8` blocks of 8: one, then
        // pairs) of each token row, which hold `ig` (`calls`), `ig` bytes from each of its 4 row
        // pointers and 4 biases; `calls` checked that `w` holds a row per bias: with more than one
        // tile the rows (and biases) are consecutive, so the step of `3 ig` reaches the next 4,
        // and a last tile's pointers lie inside `w` and its biases are `tail`. It stores 4 x 16
        // bytes at row offsets `0..4 * CHUNK` of `sums`, 16 bytes further a tile, `first + 4
        // tiles <= CHUNK` (at most `CHUNK` rows, a multiple of 4). Only the registers named here
        // change (v0-v31 are declared clobbered).
        unsafe {
            tiles_asm!(
                xs,
                ws,
                biases,
                tiles,
                ig,
                sums.0[0].as_mut_ptr().wrapping_add(first),
                [
                    "cbz {singles}, 2f",
                    "ld1 {{v16.8h}}, [{x0}], #16",
                    "ld1 {{v18.8h}}, [{x1}], #16",
                    "ld1 {{v20.8h}}, [{x2}], #16",
                    "ld1 {{v22.8h}}, [{x3}], #16",
                    "ld1 {{v24.8b}}, [{w0}], #8",
                    "ld1 {{v26.8b}}, [{w1}], #8",
                    "ld1 {{v28.8b}}, [{w2}], #8",
                    "ld1 {{v30.8b}}, [{w3}], #8",
                    "sxtl v24.8h, v24.8b",
                    "sxtl v26.8h, v26.8b",
                    "sxtl v28.8h, v28.8b",
                    "sxtl v30.8h, v30.8b",
                    "smlal v0.4s, v16.4h, v24.4h",
                    "smlal v1.4s, v16.4h, v26.4h",
                    "smlal v2.4s, v16.4h, v28.4h",
                    "smlal v3.4s, v16.4h, v30.4h",
                    "smlal v4.4s, v18.4h, v24.4h",
                    "smlal v5.4s, v18.4h, v26.4h",
                    "smlal v6.4s, v18.4h, v28.4h",
                    "smlal v7.4s, v18.4h, v30.4h",
                    "smlal v8.4s, v20.4h, v24.4h",
                    "smlal v9.4s, v20.4h, v26.4h",
                    "smlal v10.4s, v20.4h, v28.4h",
                    "smlal v11.4s, v20.4h, v30.4h",
                    "smlal v12.4s, v22.4h, v24.4h",
                    "smlal v13.4s, v22.4h, v26.4h",
                    "smlal v14.4s, v22.4h, v28.4h",
                    "smlal v15.4s, v22.4h, v30.4h",
                    "smlal2 v0.4s, v16.8h, v24.8h",
                    "smlal2 v1.4s, v16.8h, v26.8h",
                    "smlal2 v2.4s, v16.8h, v28.8h",
                    "smlal2 v3.4s, v16.8h, v30.8h",
                    "smlal2 v4.4s, v18.8h, v24.8h",
                    "smlal2 v5.4s, v18.8h, v26.8h",
                    "smlal2 v6.4s, v18.8h, v28.8h",
                    "smlal2 v7.4s, v18.8h, v30.8h",
                    "smlal2 v8.4s, v20.8h, v24.8h",
                    "smlal2 v9.4s, v20.8h, v26.8h",
                    "smlal2 v10.4s, v20.8h, v28.8h",
                    "smlal2 v11.4s, v20.8h, v30.8h",
                    "smlal2 v12.4s, v22.8h, v24.8h",
                    "smlal2 v13.4s, v22.8h, v26.8h",
                    "smlal2 v14.4s, v22.8h, v28.8h",
                    "smlal2 v15.4s, v22.8h, v30.8h",
                    "2:",
                    "cbz {blocks}, 4f",
                    "mov {count}, {blocks}",
                    "3:",
                    "ld1 {{v16.8h, v17.8h}}, [{x0}], #32",
                    "ld1 {{v18.8h, v19.8h}}, [{x1}], #32",
                    "ld1 {{v20.8h, v21.8h}}, [{x2}], #32",
                    "ld1 {{v22.8h, v23.8h}}, [{x3}], #32",
                    "ld1 {{v25.16b}}, [{w0}], #16",
                    "ld1 {{v27.16b}}, [{w1}], #16",
                    "ld1 {{v29.16b}}, [{w2}], #16",
                    "ld1 {{v31.16b}}, [{w3}], #16",
                    "sxtl v24.8h, v25.8b",
                    "sxtl2 v25.8h, v25.16b",
                    "sxtl v26.8h, v27.8b",
                    "sxtl2 v27.8h, v27.16b",
                    "sxtl v28.8h, v29.8b",
                    "sxtl2 v29.8h, v29.16b",
                    "sxtl v30.8h, v31.8b",
                    "sxtl2 v31.8h, v31.16b",
                    "smlal v0.4s, v16.4h, v24.4h",
                    "smlal v1.4s, v16.4h, v26.4h",
                    "smlal v2.4s, v16.4h, v28.4h",
                    "smlal v3.4s, v16.4h, v30.4h",
                    "smlal v4.4s, v18.4h, v24.4h",
                    "smlal v5.4s, v18.4h, v26.4h",
                    "smlal v6.4s, v18.4h, v28.4h",
                    "smlal v7.4s, v18.4h, v30.4h",
                    "smlal v8.4s, v20.4h, v24.4h",
                    "smlal v9.4s, v20.4h, v26.4h",
                    "smlal v10.4s, v20.4h, v28.4h",
                    "smlal v11.4s, v20.4h, v30.4h",
                    "smlal v12.4s, v22.4h, v24.4h",
                    "smlal v13.4s, v22.4h, v26.4h",
                    "smlal v14.4s, v22.4h, v28.4h",
                    "smlal v15.4s, v22.4h, v30.4h",
                    "smlal2 v0.4s, v16.8h, v24.8h",
                    "smlal2 v1.4s, v16.8h, v26.8h",
                    "smlal2 v2.4s, v16.8h, v28.8h",
                    "smlal2 v3.4s, v16.8h, v30.8h",
                    "smlal2 v4.4s, v18.8h, v24.8h",
                    "smlal2 v5.4s, v18.8h, v26.8h",
                    "smlal2 v6.4s, v18.8h, v28.8h",
                    "smlal2 v7.4s, v18.8h, v30.8h",
                    "smlal2 v8.4s, v20.8h, v24.8h",
                    "smlal2 v9.4s, v20.8h, v26.8h",
                    "smlal2 v10.4s, v20.8h, v28.8h",
                    "smlal2 v11.4s, v20.8h, v30.8h",
                    "smlal2 v12.4s, v22.8h, v24.8h",
                    "smlal2 v13.4s, v22.8h, v26.8h",
                    "smlal2 v14.4s, v22.8h, v28.8h",
                    "smlal2 v15.4s, v22.8h, v30.8h",
                    "smlal v0.4s, v17.4h, v25.4h",
                    "smlal v1.4s, v17.4h, v27.4h",
                    "smlal v2.4s, v17.4h, v29.4h",
                    "smlal v3.4s, v17.4h, v31.4h",
                    "smlal v4.4s, v19.4h, v25.4h",
                    "smlal v5.4s, v19.4h, v27.4h",
                    "smlal v6.4s, v19.4h, v29.4h",
                    "smlal v7.4s, v19.4h, v31.4h",
                    "smlal v8.4s, v21.4h, v25.4h",
                    "smlal v9.4s, v21.4h, v27.4h",
                    "smlal v10.4s, v21.4h, v29.4h",
                    "smlal v11.4s, v21.4h, v31.4h",
                    "smlal v12.4s, v23.4h, v25.4h",
                    "smlal v13.4s, v23.4h, v27.4h",
                    "smlal v14.4s, v23.4h, v29.4h",
                    "smlal v15.4s, v23.4h, v31.4h",
                    "smlal2 v0.4s, v17.8h, v25.8h",
                    "smlal2 v1.4s, v17.8h, v27.8h",
                    "smlal2 v2.4s, v17.8h, v29.8h",
                    "smlal2 v3.4s, v17.8h, v31.8h",
                    "smlal2 v4.4s, v19.8h, v25.8h",
                    "smlal2 v5.4s, v19.8h, v27.8h",
                    "smlal2 v6.4s, v19.8h, v29.8h",
                    "smlal2 v7.4s, v19.8h, v31.8h",
                    "smlal2 v8.4s, v21.8h, v25.8h",
                    "smlal2 v9.4s, v21.8h, v27.8h",
                    "smlal2 v10.4s, v21.8h, v29.8h",
                    "smlal2 v11.4s, v21.8h, v31.8h",
                    "smlal2 v12.4s, v23.8h, v25.8h",
                    "smlal2 v13.4s, v23.8h, v27.8h",
                    "smlal2 v14.4s, v23.8h, v29.8h",
                    "smlal2 v15.4s, v23.8h, v31.8h",
                    "subs {count}, {count}, #1",
                    "b.ne 3b",
                    "4:",
                ],
                singles = in(reg) (ig / 8) % 2,
                blocks = in(reg) ig / 16,
            );
        }
    }
}

/// The chunk of [`dense_tiles`] for int8 activations with the dot-product extension: 16 inputs
/// a block, `SDOT` of 4 products per lane (26 instructions for 256 MACs).
#[cfg(target_feature = "dotprod")]
#[inline(never)]
fn chunk_i8(xs: [&[i8]; TOKENS], w: &[i8], bias: &[i32], ig: usize, sums: &mut Sums) {
    let mut tail = [0; ROWS];
    let Some(calls) = calls(&xs, ig, w, bias, ig, 16, &mut tail) else { return };
    for (ws, biases, tiles, first) in calls {
        if tiles == 0 {
            continue;
        }
        // SAFETY: as in `chunk_i16`, the blocks being 16 inputs; `SDOT` is there
        // (`cfg(target_feature = "dotprod")`).
        unsafe {
            tiles_asm!(
                xs,
                ws,
                biases,
                tiles,
                ig,
                sums.0[0].as_mut_ptr().wrapping_add(first),
                [
                    "mov {count}, {blocks}",
                    "1:",
                    "ld1 {{v16.16b}}, [{x0}], #16",
                    "ld1 {{v17.16b}}, [{x1}], #16",
                    "ld1 {{v18.16b}}, [{x2}], #16",
                    "ld1 {{v19.16b}}, [{x3}], #16",
                    "ld1 {{v20.16b}}, [{w0}], #16",
                    "ld1 {{v21.16b}}, [{w1}], #16",
                    "ld1 {{v22.16b}}, [{w2}], #16",
                    "ld1 {{v23.16b}}, [{w3}], #16",
                    "sdot v0.4s, v16.16b, v20.16b",
                    "sdot v1.4s, v16.16b, v21.16b",
                    "sdot v2.4s, v16.16b, v22.16b",
                    "sdot v3.4s, v16.16b, v23.16b",
                    "sdot v4.4s, v17.16b, v20.16b",
                    "sdot v5.4s, v17.16b, v21.16b",
                    "sdot v6.4s, v17.16b, v22.16b",
                    "sdot v7.4s, v17.16b, v23.16b",
                    "sdot v8.4s, v18.16b, v20.16b",
                    "sdot v9.4s, v18.16b, v21.16b",
                    "sdot v10.4s, v18.16b, v22.16b",
                    "sdot v11.4s, v18.16b, v23.16b",
                    "sdot v12.4s, v19.16b, v20.16b",
                    "sdot v13.4s, v19.16b, v21.16b",
                    "sdot v14.4s, v19.16b, v22.16b",
                    "sdot v15.4s, v19.16b, v23.16b",
                    "subs {count}, {count}, #1",
                    "b.ne 1b",
                ],
                blocks = in(reg) ig / 16,
            );
        }
    }
}

/// The chunk of [`dense_tiles`] for int8 activations without the dot-product extension: 16
/// inputs a block, each half's 8 products into int16 by `SMULL`/`SMULL2` (at most `2^14`
/// each), then pairwise into the int32 lanes by `SADALP` (74 instructions for 256 MACs); two
/// products are never summed in int16, where `-128 * -128 * 2` would overflow.
#[cfg(not(target_feature = "dotprod"))]
#[inline(never)]
fn chunk_i8(xs: [&[i8]; TOKENS], w: &[i8], bias: &[i32], ig: usize, sums: &mut Sums) {
    let mut tail = [0; ROWS];
    let Some(calls) = calls(&xs, ig, w, bias, ig, 16, &mut tail) else { return };
    for (ws, biases, tiles, first) in calls {
        if tiles == 0 {
            continue;
        }
        // SAFETY: as in `chunk_i16`, the blocks being 16 inputs.
        unsafe {
            tiles_asm!(
                xs,
                ws,
                biases,
                tiles,
                ig,
                sums.0[0].as_mut_ptr().wrapping_add(first),
                [
                    "mov {count}, {blocks}",
                    "1:",
                    "ld1 {{v16.16b}}, [{x0}], #16",
                    "ld1 {{v17.16b}}, [{x1}], #16",
                    "ld1 {{v18.16b}}, [{x2}], #16",
                    "ld1 {{v19.16b}}, [{x3}], #16",
                    "ld1 {{v20.16b}}, [{w0}], #16",
                    "ld1 {{v21.16b}}, [{w1}], #16",
                    "ld1 {{v22.16b}}, [{w2}], #16",
                    "ld1 {{v23.16b}}, [{w3}], #16",
                    "smull v24.8h, v16.8b, v20.8b",
                    "smull v25.8h, v16.8b, v21.8b",
                    "smull v26.8h, v16.8b, v22.8b",
                    "smull v27.8h, v16.8b, v23.8b",
                    "smull2 v28.8h, v16.16b, v20.16b",
                    "smull2 v29.8h, v16.16b, v21.16b",
                    "smull2 v30.8h, v16.16b, v22.16b",
                    "smull2 v31.8h, v16.16b, v23.16b",
                    "sadalp v0.4s, v24.8h",
                    "sadalp v0.4s, v28.8h",
                    "sadalp v1.4s, v25.8h",
                    "sadalp v1.4s, v29.8h",
                    "sadalp v2.4s, v26.8h",
                    "sadalp v2.4s, v30.8h",
                    "sadalp v3.4s, v27.8h",
                    "sadalp v3.4s, v31.8h",
                    "smull v24.8h, v17.8b, v20.8b",
                    "smull v25.8h, v17.8b, v21.8b",
                    "smull v26.8h, v17.8b, v22.8b",
                    "smull v27.8h, v17.8b, v23.8b",
                    "smull2 v28.8h, v17.16b, v20.16b",
                    "smull2 v29.8h, v17.16b, v21.16b",
                    "smull2 v30.8h, v17.16b, v22.16b",
                    "smull2 v31.8h, v17.16b, v23.16b",
                    "sadalp v4.4s, v24.8h",
                    "sadalp v4.4s, v28.8h",
                    "sadalp v5.4s, v25.8h",
                    "sadalp v5.4s, v29.8h",
                    "sadalp v6.4s, v26.8h",
                    "sadalp v6.4s, v30.8h",
                    "sadalp v7.4s, v27.8h",
                    "sadalp v7.4s, v31.8h",
                    "smull v24.8h, v18.8b, v20.8b",
                    "smull v25.8h, v18.8b, v21.8b",
                    "smull v26.8h, v18.8b, v22.8b",
                    "smull v27.8h, v18.8b, v23.8b",
                    "smull2 v28.8h, v18.16b, v20.16b",
                    "smull2 v29.8h, v18.16b, v21.16b",
                    "smull2 v30.8h, v18.16b, v22.16b",
                    "smull2 v31.8h, v18.16b, v23.16b",
                    "sadalp v8.4s, v24.8h",
                    "sadalp v8.4s, v28.8h",
                    "sadalp v9.4s, v25.8h",
                    "sadalp v9.4s, v29.8h",
                    "sadalp v10.4s, v26.8h",
                    "sadalp v10.4s, v30.8h",
                    "sadalp v11.4s, v27.8h",
                    "sadalp v11.4s, v31.8h",
                    "smull v24.8h, v19.8b, v20.8b",
                    "smull v25.8h, v19.8b, v21.8b",
                    "smull v26.8h, v19.8b, v22.8b",
                    "smull v27.8h, v19.8b, v23.8b",
                    "smull2 v28.8h, v19.16b, v20.16b",
                    "smull2 v29.8h, v19.16b, v21.16b",
                    "smull2 v30.8h, v19.16b, v22.16b",
                    "smull2 v31.8h, v19.16b, v23.16b",
                    "sadalp v12.4s, v24.8h",
                    "sadalp v12.4s, v28.8h",
                    "sadalp v13.4s, v25.8h",
                    "sadalp v13.4s, v29.8h",
                    "sadalp v14.4s, v26.8h",
                    "sadalp v14.4s, v30.8h",
                    "sadalp v15.4s, v27.8h",
                    "sadalp v15.4s, v31.8h",
                    "subs {count}, {count}, #1",
                    "b.ne 1b",
                ],
                blocks = in(reg) ig / 16,
            );
        }
    }
}

/// [`Kernels::dense`] with the dot-product extension: `SDOT` on int16 activations split into
/// bytes, 4 tokens at a time. With `h = x >> 8` (signed) and `l = (x & 255) - 128` (signed),
/// `x = 256 h + l + 128`, so `sum x w = 256 sum h w + sum l w + 128 sum w`: two `SDOT`s per
/// (token, row) and 16 inputs, and one per row for `sum w` that all tokens share. A block's
/// tokens are split once into `scratch` (per 16 inputs: their 16 `h`, then their 16 `l`), which
/// every output then reads: 4 x 2 tiles take 26 instructions per 16 inputs for 128 MACs (4.9
/// a instruction; the 4 x 4 `SMLAL` tile: 3.1). Needs `TOKENS * ins` values of `scratch`.
// The engine's scratch (`SCRATCH_ROWS * ins` values) holds a block's split tokens.
#[cfg(target_feature = "dotprod")]
const _: () = assert!(TOKENS <= super::SCRATCH_ROWS);

#[cfg(target_feature = "dotprod")]
#[target_feature(enable = "neon")]
fn dense_split(x: &[i16], s: Shape, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
    // (`checked_div`, `try_` and `get`: see `dense_tiles`.)
    let rows = x.len().checked_div(s.ins).unwrap_or(0);
    let groups = s.groups;
    let Ok(split) = bytemuck::try_cast_slice_mut::<i16, i8>(scratch) else { return };
    let mut sums = Sums([[0; CHUNK]; TOKENS]);
    for t0 in (0..rows).step_by(TOKENS) {
        let tokens = (rows - t0).min(TOKENS);
        // Token k of the block (the last real one again past the end) into split row k.
        for k in 0..TOKENS {
            let Some(to) = split.get_mut(k * 2 * s.ins..(k + 1) * 2 * s.ins) else { break };
            let start = (t0 + k.min(tokens - 1)) * s.ins;
            split_row(x.get(start..start + s.ins).unwrap_or(&[]), to);
        }
        for g in 0..groups {
            let xs: [&[i8]; TOKENS] = core::array::from_fn(|k| {
                let start = k * 2 * s.ins + 2 * g * s.ig;
                split.get(start..start + 2 * s.ig).unwrap_or(&[])
            });
            for c0 in (0..s.og).step_by(CHUNK) {
                let outs = (s.og - c0).min(CHUNK);
                let o0 = g * s.og + c0;
                let (w, bias) = (layer.weight.get(o0 * s.ig..(o0 + outs) * s.ig).unwrap_or(&[]), layer.bias.get(o0..o0 + outs).unwrap_or(&[]));
                chunk_split(xs, w, bias, s.ig, &mut sums);
                for (k, row) in sums.0.iter().enumerate().take(tokens) {
                    sink(t0 + k, o0, row.get(..outs).unwrap_or(&[]));
                }
            }
        }
    }
}

/// One token row `x` split into `to` (twice its length) for [`dense_split`]; leaves `to` as it
/// is unless `x.len()` is a multiple of 16 and `to` twice that.
#[cfg(target_feature = "dotprod")]
fn split_row(x: &[i16], to: &mut [i8]) {
    let n = x.len();
    if n % 16 != 0 || n == 0 || to.len() != 2 * n {
        return;
    }
    // SAFETY: `n / 16` blocks each read 16 values of `x` and write 32 bytes of `to`: `n` and
    // `2 n` in all, their lengths. Only the registers named here change.
    unsafe {
        asm!(
            "movi v4.16b, #0x80",
            "1:",
            "ld1 {{v0.8h, v1.8h}}, [{x}], #32",
            // High bytes (the odd ones, little-endian) into v2, low ones into v3, then - 128.
            "uzp2 v2.16b, v0.16b, v1.16b",
            "uzp1 v3.16b, v0.16b, v1.16b",
            "eor v3.16b, v3.16b, v4.16b",
            "st1 {{v2.16b, v3.16b}}, [{to}], #32",
            "subs {blocks}, {blocks}, #1",
            "b.ne 1b",
            x = inout(reg) x.as_ptr() => _,
            to = inout(reg) to.as_mut_ptr() => _,
            blocks = inout(reg) n / 16 => _,
            out("v0") _,
            out("v1") _,
            out("v2") _,
            out("v3") _,
            out("v4") _,
            options(nostack),
        );
    }
}

/// The chunk of [`dense_split`]: tiles of 4 split tokens `xs` (`2 ig` bytes each) x 2 weight
/// rows (v0-v7: the `h` sums of token `t`, row `r` in `v(2 t + r)`; v8-v15 the `l` sums; v16-v17
/// the rows' `sum w` by `SDOT` with ones in v28), the loop over the tiles in the `asm!`.
#[cfg(target_feature = "dotprod")]
#[inline(never)]
fn chunk_split(xs: [&[i8]; TOKENS], w: &[i8], bias: &[i32], ig: usize, sums: &mut Sums) {
    let mut tail = [0; 2];
    let Some(calls) = calls(&xs, 2 * ig, w, bias, ig, 16, &mut tail) else { return };
    for (ws, biases, tiles, first) in calls {
        if tiles == 0 {
            continue;
        }
        // SAFETY: each of the `tiles` tiles reads `2 ig` bytes of each split token row, which
        // hold that (`calls`), `ig` bytes from each of its 2 row pointers and 2 biases; `calls`
        // checked that `w` holds a row per bias: with more than one tile the rows (and biases)
        // are consecutive, so the step of `ig` reaches the next 2, and a last tile's pointers
        // lie inside `w` and its biases are `tail`. It stores 4 x 8 bytes at row offsets `0..4 *
        // CHUNK` of `sums`, 8 bytes further a tile, `first + 2 tiles <= CHUNK`. Only the
        // registers named here change.
        unsafe {
            asm!(
                "movi v28.16b, #1",
                "0:",
                "movi v0.16b, #0",
                "movi v1.16b, #0",
                "movi v2.16b, #0",
                "movi v3.16b, #0",
                "movi v4.16b, #0",
                "movi v5.16b, #0",
                "movi v6.16b, #0",
                "movi v7.16b, #0",
                "movi v8.16b, #0",
                "movi v9.16b, #0",
                "movi v10.16b, #0",
                "movi v11.16b, #0",
                "movi v12.16b, #0",
                "movi v13.16b, #0",
                "movi v14.16b, #0",
                "movi v15.16b, #0",
                "movi v16.16b, #0",
                "movi v17.16b, #0",
                "mov {x0}, {t0}",
                "mov {x1}, {t1}",
                "mov {x2}, {t2}",
                "mov {x3}, {t3}",
                "mov {count}, {blocks}",
                "1:",
                "ld1 {{v18.16b, v19.16b}}, [{x0}], #32",
                "ld1 {{v20.16b, v21.16b}}, [{x1}], #32",
                "ld1 {{v22.16b, v23.16b}}, [{x2}], #32",
                "ld1 {{v24.16b, v25.16b}}, [{x3}], #32",
                "ld1 {{v26.16b}}, [{w0}], #16",
                "ld1 {{v27.16b}}, [{w1}], #16",
                "sdot v16.4s, v28.16b, v26.16b",
                "sdot v17.4s, v28.16b, v27.16b",
                "sdot v0.4s, v18.16b, v26.16b",
                "sdot v1.4s, v18.16b, v27.16b",
                "sdot v2.4s, v20.16b, v26.16b",
                "sdot v3.4s, v20.16b, v27.16b",
                "sdot v4.4s, v22.16b, v26.16b",
                "sdot v5.4s, v22.16b, v27.16b",
                "sdot v6.4s, v24.16b, v26.16b",
                "sdot v7.4s, v24.16b, v27.16b",
                "sdot v8.4s, v19.16b, v26.16b",
                "sdot v9.4s, v19.16b, v27.16b",
                "sdot v10.4s, v21.16b, v26.16b",
                "sdot v11.4s, v21.16b, v27.16b",
                "sdot v12.4s, v23.16b, v26.16b",
                "sdot v13.4s, v23.16b, v27.16b",
                "sdot v14.4s, v25.16b, v26.16b",
                "sdot v15.4s, v25.16b, v27.16b",
                "subs {count}, {count}, #1",
                "b.ne 1b",
                "addp v0.4s, v0.4s, v1.4s",
                "addp v2.4s, v2.4s, v3.4s",
                "addp v0.4s, v0.4s, v2.4s",
                "addp v4.4s, v4.4s, v5.4s",
                "addp v6.4s, v6.4s, v7.4s",
                "addp v4.4s, v4.4s, v6.4s",
                "addp v8.4s, v8.4s, v9.4s",
                "addp v10.4s, v10.4s, v11.4s",
                "addp v8.4s, v8.4s, v10.4s",
                "addp v12.4s, v12.4s, v13.4s",
                "addp v14.4s, v14.4s, v15.4s",
                "addp v12.4s, v12.4s, v14.4s",
                "addp v16.4s, v16.4s, v17.4s",
                "addp v16.4s, v16.4s, v16.4s",
                "shl v16.4s, v16.4s, #7",
                "shl v0.4s, v0.4s, #8",
                "add v0.4s, v0.4s, v8.4s",
                "add v0.4s, v0.4s, v16.4s",
                "shl v4.4s, v4.4s, #8",
                "add v4.4s, v4.4s, v12.4s",
                "add v4.4s, v4.4s, v16.4s",
                "ld1 {{v17.2s}}, [{bias}], #8",
                "dup v17.2d, v17.d[0]",
                "add v0.4s, v0.4s, v17.4s",
                "add v4.4s, v4.4s, v17.4s",
                "dup d1, v0.d[1]",
                "dup d5, v4.d[1]",
                "str d0, [{out}]",
                "str d1, [{out}, #128]",
                "str d4, [{out}, #256]",
                "str d5, [{out}, #384]",
                "add {out}, {out}, #8",
                "add {w0}, {w0}, {ig}",
                "add {w1}, {w1}, {ig}",
                "subs {tiles}, {tiles}, #1",
                "b.ne 0b",
                t0 = in(reg) xs[0].as_ptr(),
                t1 = in(reg) xs[1].as_ptr(),
                t2 = in(reg) xs[2].as_ptr(),
                t3 = in(reg) xs[3].as_ptr(),
                x0 = out(reg) _,
                x1 = out(reg) _,
                x2 = out(reg) _,
                x3 = out(reg) _,
                w0 = inout(reg) ws[0] => _,
                w1 = inout(reg) ws[1] => _,
                ig = in(reg) ig,
                bias = inout(reg) biases => _,
                blocks = in(reg) ig / 16,
                count = out(reg) _,
                tiles = inout(reg) tiles => _,
                out = inout(reg) sums.0[0].as_mut_ptr().wrapping_add(first) => _,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                out("v12") _, out("v13") _, out("v14") _, out("v15") _,
                out("v16") _, out("v17") _, out("v18") _, out("v19") _,
                out("v20") _, out("v21") _, out("v22") _, out("v23") _,
                out("v24") _, out("v25") _, out("v26") _, out("v27") _,
                out("v28") _,
                options(nostack),
            );
        }
    }
}
