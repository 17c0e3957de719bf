//! Cortex-M55 Helium (MVE) kernels, in `asm!` (the MVE intrinsics are unstable).
//!
//! # Dense: 2-token x 3-output tiles
//!
//! `VMLADAVA.S16 Rda, Qn, Qm` adds the 8 products of two int16 vectors to a general register,
//! and `VLDRB.S16` loads 8 int8 weights already widened to int16, so 8 inputs of one (token,
//! output) sum cost one multiply instruction plus a share of the loads. For int8 inputs (the
//! FFN's products, `dense_i8`) `VMLADAVA.S8` adds 16 products of two int8 vectors: twice the
//! MACs per instruction, the same tile. A tile shares the loads: 2 tokens x 3 weight rows make
//! 6 sums from 2 + 3 loads per 16-byte block of inputs. The encodings fix the tile's size:
//! `Rda` must be an even register, and of r0-r14 only r0, r2, r4, r8, r10 and r12 are free (r6
//! is LLVM's base pointer, lr counts the loop), so six sums; the widening loads take only r0-r7
//! as the base, leaving r1, r3 and r5 for weight rows (r7 is the frame pointer).
//!
//! | register | holds |
//! |---|---|
//! | r0 r2 / r4 r8 / r10 r12 | sums of (token 0, token 1) with weight row 0 / 1 / 2 |
//! | r9 | both tokens' inputs, interleaved by 16 bytes in `scratch` |
//! | r1 r3 r5 | weight rows 0, 1, 2 |
//! | r11, lr | unrolled iterations; the `WLS`/`LE` low-overhead loop count |
//! | q0 q1 / q2 | a block of token 0, token 1 / of weights |
//!
//! The main loop is unrolled to 4 blocks: 4 x (5 loads + 6 `VMLADAVA`) + `LE`, 45 instructions
//! for 192 MACs with int16 inputs (4.3 MACs per instruction), 384 with int8 (8.5); a loop
//! before it takes the `(ig / block) % 4` leftover blocks. A last token without a partner (one
//! row, an odd count, or a scratch shorter than two rows) runs a 1 x 3 tile (r9 its inputs, r0
//! r2 r4 its sums: 29 instructions for 96 or 192 MACs). Inputs per group that are not a
//! multiple of the block (8 or 16), or a layer whose slices do not match its shape, run the
//! portable loop. One `TileInput` impl per input type holds its asm (`tile_input!`).
//!
//! The loop over the tiles of up to [`CHUNK`] (24) outputs is in the `asm!` too, so that small
//! products (the attention scores: 64 inputs, 32 outputs) pay little per tile: the block saves
//! r6 and r7 on the stack and keeps in them the inputs' start and a pointer to its counters, and
//! between tiles it zeroes the sums, stores them with one `STM` into a stack buffer and steps the
//! three row pointers (about 23 instructions per tile, against about 70 for a tile per call).
//! The sink then reads that buffer in a plain loop. The last tile of a group with fewer than
//! three rows left is a call of its own that repeats its last row; the extra sums are not read.
//! The two tokens are interleaved into `scratch` with `VLDRB`/`VSTRB` (5 instructions per 16
//! bytes of both).
//!
//! `VMLADAVA.S8` needs int8 on both sides; splitting int16 activations into two int8 halves
//! would double the accumulators a tile needs and add a correction sum per row, for the same
//! instructions per MAC: the int16 products stay on `.S16`.
//!
//! # The rest
//!
//! - `depthwise`: 8 channels at a time, the taps in an inner loop; the weights `[C, K]` are
//!   gathered (`VLDRB.S16 Q, [Rn, Qoffsets]`, offsets `lane * K`), the products of the even and
//!   odd lanes widened by `VMULLB`/`VMULLT` into two i32 sums and stored back in channel order
//!   by `VST20`/`VST21`: 9 instructions per tap for 8 channels. Only the taps inside the
//!   sentence run; channels past the last block of 8 take a scalar loop.
//! - `requantize_i16`, `requantize_i8`, `scale_i16`, `scale_i8`, `multiply_i16_i8`:
//!   [`Requant::apply`] for shifts 33..=62 is
//!   `VMULH.S32` then `VRSHL.S32` by `32 - n` (see `requant_lanes!`), 4 lanes at a time,
//!   saturated by `VQMOVNB` or `VMIN`/`VMAX`. A shift outside that range runs the portable code
//!   (the whole call again for `requantize_i16`, whose output is not its input).
//! - `activate_i8`, `add_residual`: their pairs have shifts below 33 too (the FFN's int8 inputs
//!   make the FFN's factors larger), so they use `requant_any_lanes!`, exact for shifts 2..=62
//!   from the product's high and low words. `activate_i8` then reads the activation table with
//!   two gathers (`VLDRH.S32 Q, [Rn, Qj, UXTW #1]`) and interpolates as `activation::lookup`;
//!   `add_residual` stops before a block whose branch value needs more than 32 bits (`VCLS`)
//!   and leaves it and the rest of the row to the portable code (in place: the block checks
//!   before it stores).
//! - `layer_norm`: the sum (`VADDLVA`, 64-bit) and the sum of squared deviations
//!   (`VMLALDAVA`), then `round(d * 2^47 / std / 2^36)` as a requantization (`VMULH`, `VRSHL`),
//!   times gamma plus beta (`VQADD`); the row's statistics are the portable code's
//!   (`layer_norm::RowStatistics`), and rows past its fast path's bounds, or elements whose
//!   normalised value reaches 2^16, take the portable code.
//! - `accumulate` (`VMLA.I32` by the scalar weight, which may be 32768): a tail-predicated
//!   loop, 4 elements per pass: `VLDRB.S32` of the row (4 int8 values widened to i32 lanes,
//!   any address), `VLDRW` + `VSTRW` of the sums, `VMLA` and `LETP`, 5 instructions;
//!   `VMLA.I32` keeps the low 32 bits of each product, so every `i32` weight is exact and odd
//!   lengths are the loop's last, predicated pass.

// The crate denies `unsafe`; this module is where the engine's `asm!` lives.
#![allow(unsafe_code)]

use core::arch::asm;

use super::shape::{depthwise_tail, depthwise_window, Shape};
use super::{generic, Kernels, Sink};
use crate::int8::activation::TABLE_LEN;
use crate::int8::layer_norm::{self, Affine, RowStatistics};
use crate::int8::{QDense, Requant};

/// [`Requant::apply`] of the 4 lanes of q0 by the multipliers in q1 and the VRSHL amount
/// `$shift` (a register, or `q0, Qn` for one amount per lane), `32 - n` for shifts `n` in
/// 33..=62: VMULH gives `hi32(x m)`, and a rounding right shift by `n - 32` is
/// `((hi >> (n - 33)) + 1) >> 1`, the definition's value for those shifts (exact, no overflow).
macro_rules! requant_lanes {
    ($shift:literal) => {
        concat!("vmulh.s32 q0, q0, q1\n", "vrshl.s32 q0, ", $shift, "\n")
    };
}

/// [`Requant::apply`] of the 4 lanes of q0 for any shift `n` in 2..=62, one pair per lane:
/// multipliers in q1, `33 - n` in q2, `1 - n` in q3 (q4 is clobbered). With `p = x m`,
/// `q = floor(p / 2^(n-1))` is the high word shifted left by `33 - n` (right where negative)
/// joined to the low word shifted right by `n - 1`, and `(q + 1) >> 1` (`VRSHR #1`) is the
/// definition's value, exact while `q` fits an i32. Otherwise `VQSHL` has saturated the high
/// word and the lanes are at least 2^30 in size, past any i16 or i8 (the narrowing saturates
/// them as the definition does); `add_residual`, whose output is i32, checks for that. (Shift 1
/// would need the high word shifted by 32, which `VQSHL` does not saturate as this needs.)
macro_rules! requant_any_lanes {
    () => {
        concat!(
            "vmul.i32 q4, q0, q1\n",
            "vmulh.s32 q0, q0, q1\n",
            "vqshl.s32 q0, q0, q2\n",
            "vshl.u32 q4, q4, q3\n",
            "vorr q0, q0, q4\n",
            "vrshr.s32 q0, q0, #1\n",
        )
    };
}

/// `out[c] = requant[c].to_i16(acc[c])` (or `to_i8`) for the per-channel requantize kernels:
/// `requant_lanes!` 4 lanes at a time, then `$narrow_store` saturates and stores q0 through
/// r0. A shift outside 33..=62 in some block runs the whole call again by `$portable` (`out` is
/// not an input); the channels past the last block of 4 take it always.
macro_rules! per_channel_requantize {
    ($acc:expr, $requant:expr, $out:expr, $narrow_store:literal, $portable:path) => {{
        let (acc, requant, out) = ($acc, $requant, $out);
        let n = acc.len().min(requant.len()).min(out.len());
        let blocks = n / 4;
        let (mut low, mut high) = (-1i32, -30i32);
        // SAFETY: `blocks` blocks read 4 sums of `acc` and 4 requants (8 words) and write 4
        // values of `out`, `4 blocks <= n` of each; only the registers named here change.
        unsafe {
            asm!(
                "vdup.32 q3, {c32}",
                "wls lr, {blocks}, 2f",
                "1:",
                // q1: multipliers, q2: 32 - shifts, the VRSHL amounts; their range into low/high.
                "vld20.32 {{q1, q2}}, [{rq}]",
                "vld21.32 {{q1, q2}}, [{rq}]!",
                "vsub.i32 q2, q3, q2",
                "vminv.s32 {low}, q2",
                "vmaxv.s32 {high}, q2",
                "vldrw.u32 q0, [{acc}], #16",
                requant_lanes!("q0, q2"),
                $narrow_store,
                "le lr, 1b",
                "2:",
                c32 = in(reg) 32,
                blocks = in(reg) blocks,
                rq = inout(reg) requant.as_ptr() => _,
                acc = inout(reg) acc.as_ptr() => _,
                // The narrowing stores take only r0-r7 as their base.
                inout("r0") out.as_mut_ptr() => _,
                low = inout(reg) low,
                high = inout(reg) high,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                options(nostack),
            );
        }
        let done = if low >= -30 && high <= -1 { 4 * blocks } else { 0 };
        let (acc, requant, out) = (acc.get(done..).unwrap_or(&[]), requant.get(done..).unwrap_or(&[]), out.get_mut(done..).unwrap_or(&mut []));
        $portable(acc, requant, out);
    }};
}

/// Helium kernels: every method but `requantize_i32`, `activate` (the classifier's, once per
/// text) and `sum_rows` (the embeddings), which are [`generic`].
pub struct ArmMve;

impl Kernels for ArmMve {
    fn dense(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        tiled_dense(x, ins, layer, scratch, sink);
    }

    fn dense_i8(x: &[i8], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        tiled_dense(x, ins, layer, scratch, sink);
    }

    fn depthwise(x: &[i16], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
        // The gathers' offsets `lane * k` are u16 lanes: up to 7 * 9362.
        if channels == 0 || !(1..=9362).contains(&k) {
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
            // since `first + taps <= rows`, and 8 b + 8 <= n <= channels) and gathers 8 bytes at
            // w[(8 b + lane) k + j - j0] (below n k <= w.len() for j < k), then stores 8 sums at
            // acc[8 b..] (n <= acc.len()). Only the registers named here change.
            unsafe {
                asm!(
                    // q3: the lanes' weight offsets, lane * k.
                    "vidup.u16 q3, r0, #1",
                    "vmul.i16 q3, q3, {k}",
                    "1:",
                    "vmov.i32 q4, #0",
                    "vmov.i32 q5, #0",
                    "mov {xp}, {x}",
                    "mov {wp}, {w}",
                    "dls lr, {taps}",
                    // One tap for 8 channels: the products of the even and the odd lanes, widened
                    // to i32, into their own sums.
                    "2:",
                    "vldrh.u16 q0, [{xp}]",
                    "add {xp}, {stride}",
                    "vldrb.s16 q1, [{wp}, q3]",
                    "adds {wp}, #1",
                    "vmullb.s16 q2, q0, q1",
                    "vadd.i32 q4, q4, q2",
                    "vmullt.s16 q2, q0, q1",
                    "vadd.i32 q5, q5, q2",
                    "le lr, 2b",
                    // Even and odd lanes back in channel order.
                    "vst20.32 {{q4, q5}}, [{acc}]",
                    "vst21.32 {{q4, q5}}, [{acc}]!",
                    "adds {x}, #16",
                    "add {w}, {k8}",
                    "subs {blocks}, #1",
                    "bne 1b",
                    inout("r0") 0usize => _,
                    k = in(reg) k,
                    k8 = in(reg) 8 * k,
                    stride = in(reg) 2 * channels,
                    taps = in(reg) taps,
                    blocks = inout(reg) blocks => _,
                    x = inout(reg) x.as_ptr() => _,
                    w = inout(reg) w.as_ptr() => _,
                    acc = inout(reg) acc.as_mut_ptr() => _,
                    xp = out(reg) _,
                    wp = out(reg) _,
                    out("lr") _,
                    out("q0") _,
                    out("q1") _,
                    out("q2") _,
                    out("q3") _,
                    out("q4") _,
                    out("q5") _,
                    options(nostack),
                );
            }
        }
        // The channels past the last block of 8, and zeros past `n`, as the portable loop.
        depthwise_tail((x, channels, taps), (w, k), 8 * blocks, n, acc);
    }

    fn requantize_i16(acc: &[i32], requant: &[Requant], out: &mut [i16]) {
        per_channel_requantize!(acc, requant, out, "vqmovnb.s32 q0, q0\nvstrh.32 q0, [r0], #8", generic::requantize_i16);
    }

    fn requantize_i8(acc: &[i32], requant: &[Requant], out: &mut [i8]) {
        // Two saturating narrowings (to the bottom half, then its bottom byte) clamp to i8.
        per_channel_requantize!(acc, requant, out, "vqmovnb.s32 q0, q0\nvqmovnb.s16 q0, q0\nvstrb.32 q0, [r0], #4", generic::requantize_i8);
    }

    fn multiply_i16_i8(a: &mut [i16], b: &[i8], requant: Requant) {
        if !(33..=62).contains(&requant.shift) {
            return generic::multiply_i16_i8(a, b, requant);
        }
        // SAFETY: the tail-predicated loop reads `n` values of `a` and of `b` and writes those
        // `n` of `a`, both at least that long; predicated-off lanes are neither read nor stored.
        unsafe {
            asm!(
                "vdup.32 q1, {m}",
                "wlstp.32 lr, {n}, 2f",
                "1:",
                "vldrh.s32 q0, [r0]",
                "vldrb.s32 q2, [r1], #4",
                "vmul.i32 q0, q0, q2",
                requant_lanes!("{shift}"),
                "vqmovnb.s32 q0, q0",
                "vstrh.32 q0, [r0], #8",
                "letp lr, 1b",
                "2:",
                m = in(reg) requant.multiplier,
                shift = in(reg) 32 - requant.shift,
                n = in(reg) a.len().min(b.len()),
                // The widening loads and narrowing store take only r0-r7 as their base.
                inout("r0") a.as_mut_ptr() => _,
                inout("r1") b.as_ptr() => _,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                options(nostack),
            );
        }
    }

    fn scale_i16(acc: &[i32], requant: Requant, out: &mut [i16]) {
        if !(33..=62).contains(&requant.shift) {
            return generic::scale_i16(acc, requant, out);
        }
        // SAFETY: the tail-predicated loop reads `n` sums of `acc` and writes `n` values of
        // `out`, both at least that long; predicated-off lanes are neither read nor stored.
        unsafe {
            asm!(
                "vdup.32 q1, {m}",
                "wlstp.32 lr, {n}, 2f",
                "1:",
                "vldrw.u32 q0, [{acc}], #16",
                requant_lanes!("{shift}"),
                "vqmovnb.s32 q0, q0",
                "vstrh.32 q0, [r0], #8",
                "letp lr, 1b",
                "2:",
                m = in(reg) requant.multiplier,
                shift = in(reg) 32 - requant.shift,
                n = in(reg) acc.len().min(out.len()),
                acc = inout(reg) acc.as_ptr() => _,
                // The narrowing store takes only r0-r7 as its base.
                inout("r0") out.as_mut_ptr() => _,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                options(nostack),
            );
        }
    }

    fn scale_i8(acc: &[i32], requant: Requant, out: &mut [i8]) {
        if !(33..=62).contains(&requant.shift) {
            return generic::scale_i8(acc, requant, out);
        }
        // SAFETY: the tail-predicated loop reads `n` sums of `acc` and writes `n` bytes of `out`,
        // both at least that long; predicated-off lanes are neither read nor stored.
        unsafe {
            asm!(
                "vdup.32 q1, {m}",
                "vdup.32 q2, {max}",
                "vdup.32 q3, {min}",
                "wlstp.32 lr, {n}, 2f",
                "1:",
                "vldrw.u32 q0, [{acc}], #16",
                requant_lanes!("{shift}"),
                "vmin.s32 q0, q0, q2",
                "vmax.s32 q0, q0, q3",
                "vstrb.32 q0, [r0], #4",
                "letp lr, 1b",
                "2:",
                m = in(reg) requant.multiplier,
                shift = in(reg) 32 - requant.shift,
                max = in(reg) i8::MAX as i32,
                min = in(reg) i8::MIN as i32,
                n = in(reg) acc.len().min(out.len()),
                acc = inout(reg) acc.as_ptr() => _,
                // The narrowing store takes only r0-r7 as its base.
                inout("r0") out.as_mut_ptr() => _,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                options(nostack),
            );
        }
    }

    fn activate_i8(acc: &[i32], requant: &[Requant], table: &[i16], out: &mut [i8]) {
        let n = acc.len().min(requant.len()).min(out.len());
        if table.len() != TABLE_LEN {
            return generic::activate_i8(acc, requant, table, out);
        }
        let blocks = n / 4;
        let (mut low, mut high) = (0i32, 0i32);
        // SAFETY: `blocks` blocks read 4 sums of `acc` and 4 requants (8 words) and write 4 bytes
        // of `out`, `4 blocks <= n` of each. The gathers read `table[j]` and `table[j + 1]` for
        // `j = (x + 32768) >> 7` of an i16 `x` (saturated by VQMOVNB, sign-extended by VMOVLB):
        // `j <= 511`, inside the `TABLE_LEN` (513) entries. Only the registers named here change.
        unsafe {
            asm!(
                "vdup.32 q6, {c33}",
                "vdup.32 q7, {c127}",
                "wls lr, {blocks}, 2f",
                "1:",
                // Requantize to i16 (the shifts' range, as 33 - n, into low/high).
                "vld20.32 {{q1, q2}}, [{rq}]",
                "vld21.32 {{q1, q2}}, [{rq}]!",
                "vsub.i32 q2, q6, q2",
                "vminv.s32 {low}, q2",
                "vmaxv.s32 {high}, q2",
                "vsub.i32 q3, q2, {c32}",
                "vldrw.u32 q0, [{acc}], #16",
                requant_any_lanes!(),
                "vqmovnb.s32 q0, q0",
                "vmovlb.s16 q0, q0",
                // The table's segment j (q1) and the position in it (q2), as `lookup`.
                "vadd.i32 q0, q0, {c32768}",
                "vshr.u32 q1, q0, #7",
                "vand q2, q0, q7",
                "vldrh.s32 q4, [{table}, q1, uxtw #1]",
                "vldrh.s32 q5, [{next}, q1, uxtw #1]",
                // start + round((end - start) * fraction / 128), then to the int8 step.
                "vsub.i32 q5, q5, q4",
                "vmul.i32 q5, q5, q2",
                "vrshr.s32 q5, q5, #7",
                "vadd.i32 q4, q4, q5",
                "vrshr.s32 q4, q4, #8",
                "vmin.s32 q4, q4, q7",
                "vstrb.32 q4, [r0], #4",
                "le lr, 1b",
                "2:",
                c33 = in(reg) 33,
                c32 = in(reg) 32,
                c127 = in(reg) i8::MAX as i32,
                c32768 = in(reg) 32768,
                blocks = in(reg) blocks,
                table = in(reg) table.as_ptr(),
                next = in(reg) table.as_ptr().wrapping_add(1),
                rq = inout(reg) requant.as_ptr() => _,
                acc = inout(reg) acc.as_ptr() => _,
                // The narrowing store takes only r0-r7 as its base.
                inout("r0") out.as_mut_ptr() => _,
                low = inout(reg) low,
                high = inout(reg) high,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                out("q4") _,
                out("q5") _,
                out("q6") _,
                out("q7") _,
                options(nostack),
            );
        }
        // A shift outside 2..=62 (33 - n outside -29..=31) in some block: all of it again by
        // the definition (`out` is not an input). The values past the last block of 4 always.
        let done = if low >= -29 && high <= 31 { 4 * blocks } else { 0 };
        let (acc, requant, out) = (acc.get(done..).unwrap_or(&[]), requant.get(done..).unwrap_or(&[]), out.get_mut(done..).unwrap_or(&mut []));
        generic::activate_i8(acc, requant, table, out);
    }

    fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
        let n = z.len().min(branch.len()).min(residual.len());
        let mut done = 0;
        // An int16 residual times a multiplier below 2^31 is below 2^46 in size: from shift 16 on
        // its `q` (see `requant_any_lanes!`) fits an i32, so its lanes need no check.
        if (16..=62).contains(&residual_rq.shift) {
            let z_start = z.as_mut_ptr();
            let mut z_end = z_start;
            // SAFETY: each of the `n / 4` blocks reads 4 requants (8 words) of `branch`, 4
            // values of `residual` and 4 of `z`, and stores those 4 of `z`: `4 (n / 4) <= n` of
            // each. A block with a branch shift outside 2..=62 or a branch value whose `q`
            // does not fit an i32 leaves the loop before it stores. Only the registers named
            // here change.
            unsafe {
                asm!(
                    "vdup.32 q6, {c33}",
                    "vdup.32 q7, {m}",
                    "wls lr, {blocks}, 2f",
                    "1:",
                    // q1: multipliers; q2: 33 - shifts, q3: 1 - shifts. Any 33 - n outside
                    // -29..=31 (shift outside 2..=62): stop here.
                    "vld20.32 {{q1, q2}}, [{rq}]",
                    "vld21.32 {{q1, q2}}, [{rq}]!",
                    "vsub.i32 q2, q6, q2",
                    "vadd.i32 q3, q2, {c29}",
                    "vmaxv.u32 {high}, q3",
                    "cmp {high}, #60",
                    "bhi 2f",
                    "vsub.i32 q3, q2, {c32}",
                    // The branch, as `requant_any_lanes!`, stopping where the high word shifted
                    // left by 33 - n would not fit: more than its leading sign bits (VCLS).
                    "vldrw.u32 q0, [{z}]",
                    "vmul.i32 q4, q0, q1",
                    "vmulh.s32 q0, q0, q1",
                    "vcls.s32 q5, q0",
                    "vsub.i32 q5, q2, q5",
                    "vmaxv.s32 {saturated}, q5",
                    "cmp {saturated}, #0",
                    "bgt 2f",
                    "vshl.s32 q0, q0, q2",
                    "vshl.u32 q4, q4, q3",
                    "vorr q0, q0, q4",
                    "vrshr.s32 q1, q0, #1",
                    // The residual, the same way with one pair for all lanes.
                    "vldrh.s32 q0, [r0], #8",
                    "vmul.i32 q4, q0, q7",
                    "vmulh.s32 q0, q0, q7",
                    "vshl.s32 q0, {high_shift}",
                    "vshl.u32 q4, {low_shift}",
                    "vorr q0, q0, q4",
                    "vrshr.s32 q0, q0, #1",
                    "vqadd.s32 q0, q0, q1",
                    "vstrw.32 q0, [{z}], #16",
                    "le lr, 1b",
                    "2:",
                    m = in(reg) residual_rq.multiplier,
                    high_shift = in(reg) 33 - residual_rq.shift,
                    low_shift = in(reg) 1 - residual_rq.shift,
                    c33 = in(reg) 33,
                    c32 = in(reg) 32,
                    c29 = in(reg) 29,
                    high = inout(reg) 0u32 => _,
                    saturated = inout(reg) 0i32 => _,
                    blocks = in(reg) n / 4,
                    rq = inout(reg) branch.as_ptr() => _,
                    // The widening load takes only r0-r7 as its base.
                    inout("r0") residual.as_ptr() => _,
                    z = inout(reg) z_start => z_end,
                    out("lr") _,
                    out("q0") _,
                    out("q1") _,
                    out("q2") _,
                    out("q3") _,
                    out("q4") _,
                    out("q5") _,
                    out("q6") _,
                    out("q7") _,
                    options(nostack),
                );
            }
            done = (z_end as usize - z_start as usize) / 4;
        }
        // From the first block that stopped (or the channels past the last block of 4), by
        // the definition.
        let (z, branch, residual) = (z.get_mut(done..).unwrap_or(&mut []), branch.get(done..).unwrap_or(&[]), residual.get(done..).unwrap_or(&[]));
        generic::add_residual(z, branch, residual, residual_rq);
    }

    fn layer_norm(z: &mut [i32], affine: Affine<'_>, eps_q: u32) {
        let n = z.len();
        // Rows of whole vectors, with their gamma and beta, up to the length whose sum of
        // squares the 64-bit accumulator holds exactly (as the portable fast path).
        if n == 0 || n % 4 != 0 || n > 4096 || affine.gamma.len() < n || affine.beta.len() < n {
            return layer_norm::layer_norm(z, affine, eps_q);
        }
        // The sum (64-bit) and the largest |z|.
        let (mut sum_low, mut sum_high, mut largest) = (0u32, 0i32, 0u32);
        // SAFETY: the tail-predicated loop reads the `n` values of `z`; only the registers
        // named here change.
        unsafe {
            asm!(
                "wlstp.32 lr, {n}, 2f",
                "1:",
                "vldrw.u32 q0, [{z}], #16",
                "vaddlva.s32 r4, r5, q0",
                "vmaxav.s32 {largest}, q0",
                "letp lr, 1b",
                "2:",
                n = in(reg) n,
                z = inout(reg) z.as_ptr() => _,
                // The 64-bit sum: an even and the next odd register.
                inout("r4") sum_low,
                inout("r5") sum_high,
                largest = inout(reg) largest,
                out("lr") _,
                out("q0") _,
                options(nostack),
            );
        }
        // Past 2^24 the 32-bit deviations below could overflow: the portable code then.
        if largest >= 1 << 24 {
            return layer_norm::layer_norm(z, affine, eps_q);
        }
        let mean = layer_norm::div_round(((sum_high as i64) << 32) | sum_low as i64, n as i64);
        // The sum of squared deviations: |d| < 2^25, d^2 < 2^50, 4096 of them below 2^62.
        let (mut squares_low, mut squares_high) = (0u32, 0i32);
        // SAFETY: as the loop above.
        unsafe {
            asm!(
                "wlstp.32 lr, {n}, 2f",
                "1:",
                "vldrw.u32 q0, [{z}], #16",
                "vsub.i32 q0, q0, {mean}",
                "vmlaldava.s32 r4, r5, q0, q0",
                "letp lr, 1b",
                "2:",
                n = in(reg) n,
                z = inout(reg) z.as_ptr() => _,
                mean = in(reg) mean as i32,
                inout("r4") squares_low,
                inout("r5") squares_high,
                out("lr") _,
                out("q0") _,
                options(nostack),
            );
        }
        let var_sum = (((squares_high as i64) << 32) | squares_low as i64) as u64;
        let statistics = RowStatistics::new(mean, var_sum, n, eps_q);
        let mut done = 0;
        // round(d * reciprocal / 2^36) is `Requant::apply` with the multiplier `reciprocal`
        // (when below 2^31: std above 2^16) and shift 36: VMULH then VRSHL by -4. While every
        // |normalised| is below 2^16, |normalised * gamma| < 2^31 and the saturating add of
        // beta is the definition's clamp; a block past that stops the loop before it stores.
        if let Ok(reciprocal) = i32::try_from(statistics.reciprocal) {
            let z_start = z.as_mut_ptr();
            let mut z_end = z_start;
            // SAFETY: each of the `n / 4` blocks reads 4 values of `z`, `gamma` and `beta`
            // (each at least `n` long) and stores those 4 of `z`; a block that stops does so
            // before its store. Only the registers named here change.
            unsafe {
                asm!(
                    "vdup.32 q1, {reciprocal}",
                    "wls lr, {blocks}, 2f",
                    "1:",
                    "vldrw.u32 q0, [{z}]",
                    "vsub.i32 q0, q0, {mean}",
                    "vmulh.s32 q0, q0, q1",
                    "vrshl.s32 q0, {shift}",
                    "vmaxav.s32 {largest}, q0",
                    "cmp {largest}, {limit}",
                    "bhs 2f",
                    "vldrh.s32 q2, [r0], #8",
                    "vmul.i32 q0, q0, q2",
                    "vldrw.u32 q2, [{beta}], #16",
                    "vqadd.s32 q0, q0, q2",
                    "vstrw.32 q0, [{z}], #16",
                    "le lr, 1b",
                    "2:",
                    reciprocal = in(reg) reciprocal,
                    blocks = in(reg) n / 4,
                    mean = in(reg) mean as i32,
                    shift = in(reg) 32 - (47 - layer_norm::NORM_BITS as i32),
                    largest = inout(reg) 0u32 => _,
                    limit = in(reg) 1u32 << 16,
                    // The widening load takes only r0-r7 as its base.
                    inout("r0") affine.gamma.as_ptr() => _,
                    beta = inout(reg) affine.beta.as_ptr() => _,
                    z = inout(reg) z_start => z_end,
                    out("lr") _,
                    out("q0") _,
                    out("q1") _,
                    out("q2") _,
                    options(nostack),
                );
            }
            done = (z_end as usize - z_start as usize) / 4;
        }
        let rest = Affine { gamma: affine.gamma.get(done..).unwrap_or(&[]), beta: affine.beta.get(done..).unwrap_or(&[]) };
        layer_norm::normalize(z.get_mut(done..).unwrap_or(&mut []), rest, &statistics);
    }

    fn accumulate(sums: &mut [i32], weight: i32, row: &[i8]) {
        let n = sums.len().min(row.len());
        // SAFETY: the tail-predicated loop reads `n` bytes of `row` (`VLDRB` takes any address)
        // and reads and writes `n` `i32`s of `sums` (word-aligned for `VLDRW`/`VSTRW`), both at
        // least that long; predicated-off lanes are neither read nor stored.
        unsafe {
            asm!(
                "wlstp.32 lr, {n}, 2f",
                "1:",
                "vldrb.s32 q0, [r0], #4",
                "vldrw.u32 q1, [{sums}]",
                "vmla.i32 q1, q0, {weight}",
                "vstrw.32 q1, [{sums}], #16",
                "letp lr, 1b",
                "2:",
                n = in(reg) n,
                // (The widening loads take only r0-r7 as their base.)
                inout("r0") row.as_ptr() => _,
                sums = inout(reg) sums.as_mut_ptr() => _,
                weight = in(reg) weight,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                options(nostack),
            );
        }
    }
}

/// The activations a tile takes, and its asm for them: int16 (8 per 16-byte vector, weights
/// widened by `VLDRB.S16`, `VMLADAVA.S16`) or int8 (16 per vector, `VMLADAVA.S8`, 16 MACs an
/// instruction: the FFN's products, `docs/INT8.md`).
trait TileInput: bytemuck::Pod {
    /// Inputs per block: one 16-byte vector of one token.
    const BLOCK: usize;
    /// [`sums2`]'s asm for this type.
    fn sums2(x: &[Self], w: &[i8], rows: usize, ig: usize, out: &mut [[i32; 2]; CHUNK]);
    /// [`sums1`]'s asm for this type.
    fn sums1(x: &[Self], w: &[i8], rows: usize, ig: usize, out: &mut [i32; CHUNK]);
}

/// Weight rows per call of the tile loops ([`sums2`], [`sums1`]): their sums wait in a stack
/// buffer of this many rows (x 2 tokens) for the sink. A multiple of 3; small enough that the
/// kernel suite's layers (up to 40 outputs) cross a chunk boundary.
const CHUNK: usize = 24;

/// [`Kernels::dense`] and [`Kernels::dense_i8`]: the tiles when the shape fits them, else the
/// portable loop.
fn tiled_dense<X: TileInput + Into<i32>>(x: &[X], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
    match Shape::of(ins, layer, X::BLOCK) {
        Some(shape) => dense_tiles(x, shape, layer, scratch, sink),
        None => generic::dense_rows(x, ins, layer, sink),
    }
}

/// The tiles for a [`Shape`]: token pairs interleaved into `scratch` through the 2 x 3 tile, an
/// odd last token (or every token, if `scratch` is short) through the 1 x 3 one.
fn dense_tiles<X: TileInput>(x: &[X], s: Shape, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
    // (Bytes of i16s: the casts cannot fail; `try_` keeps a panic path out of the firmware.)
    let mut pair = bytemuck::try_cast_slice_mut::<i16, u8>(scratch).ok().and_then(|bytes| bytes.get_mut(..2 * s.ins * core::mem::size_of::<X>()));
    // One set of buffers per call: each chunk overwrites the rows it has (and reads no others).
    let (mut pair_sums, mut row_sums) = ([[0i32; 2]; CHUNK], [0i32; CHUNK]);
    let (mut run0, mut run1) = ([0i32; CHUNK], [0i32; CHUNK]);
    let mut t = 0;
    while let Some(x0) = x.get(t * s.ins..(t + 1) * s.ins) {
        match (x.get((t + 1) * s.ins..(t + 2) * s.ins), pair.as_deref_mut()) {
            (Some(x1), Some(pair)) => {
                let pair = interleave(as_bytes(x0), as_bytes(x1), pair);
                chunks(s, layer, pair, 2, |o, w, bias, xg| {
                    X::sums2(xg, w, bias.len(), s.ig, &mut pair_sums);
                    for (((&b, &[s0, s1]), y0), y1) in bias.iter().zip(&pair_sums).zip(run0.iter_mut()).zip(run1.iter_mut()) {
                        (*y0, *y1) = (b.wrapping_add(s0), b.wrapping_add(s1));
                    }
                    let n = bias.len().min(CHUNK);
                    sink(t, o, run0.get(..n).unwrap_or(&[]));
                    sink(t + 1, o, run1.get(..n).unwrap_or(&[]));
                });
                t += 2;
            }
            _ => {
                chunks(s, layer, x0, 1, |o, w, bias, xg| {
                    X::sums1(xg, w, bias.len(), s.ig, &mut row_sums);
                    for (&b, s0) in bias.iter().zip(row_sums.iter_mut()) {
                        *s0 = b.wrapping_add(*s0);
                    }
                    sink(t, o, row_sums.get(..bias.len()).unwrap_or(&[]));
                });
                t += 1;
            }
        }
    }
}

/// A row of activations as bytes (both input types are plain integers: the cast cannot fail;
/// `try_` keeps a panic path out of the firmware).
fn as_bytes<X: TileInput>(x: &[X]) -> &[u8] {
    bytemuck::try_cast_slice(x).unwrap_or(&[])
}

/// Calls `f(o, rows, bias, x)` for every run of up to [`CHUNK`] outputs `o..` within a group:
/// their weight rows, their biases and the group's `tokens * ig` inputs of `x`.
#[inline(always)]
fn chunks<X>(s: Shape, layer: &QDense<'_>, x: &[X], tokens: usize, mut f: impl FnMut(usize, &[i8], &[i32], &[X])) {
    // By position, not with chunk iterators over the runtime sizes: their outlined
    // constructors check for a zero size, a panic site the optimiser cannot always remove
    // (`tests/no_panic.rs`).
    let (xs, ws, rows) = (tokens * s.ig, s.og * s.ig, CHUNK * s.ig);
    for g in 0..s.groups {
        let span = |len: usize| g * len..(g + 1) * len;
        let (Some(xg), Some(wg), Some(bg)) = (x.get(span(xs)), layer.weight.get(span(ws)), layer.bias.get(span(s.og))) else { break };
        for (k, bias) in bg.chunks(CHUNK).enumerate() {
            let Some(w) = wg.get(k * rows..) else { break };
            f(g * s.og + k * CHUNK, w.get(..rows).unwrap_or(w), bias, xg);
        }
    }
}

/// `pair` = blocks of 16 bytes of `x0`, then the same 16 of `x1`: the 2 x 3 tile's layout.
/// Returns the interleaved rows as `X`s, or `x0` and `x1` unchanged (an empty pair) unless both
/// rows hold `n` bytes, a multiple of 16, and `pair` twice that.
fn interleave<'p, X: TileInput>(x0: &[u8], x1: &[u8], pair: &'p mut [u8]) -> &'p [X] {
    let n = x0.len();
    if n % 16 != 0 || x1.len() != n || pair.len() < 2 * n {
        return &[];
    }
    // SAFETY: `n / 16` blocks read 16 bytes of each row (`n` in all, their lengths) and write
    // 32 to `pair` (`2 n`, checked above); only the registers named here change.
    unsafe {
        asm!(
            "wls lr, {blocks}, 2f",
            "1:",
            "vldrb.u8 q0, [{a}], #16",
            "vldrb.u8 q1, [{b}], #16",
            "vstrb.8 q1, [{p}, #16]",
            "vstrb.8 q0, [{p}], #32",
            "le lr, 1b",
            "2:",
            blocks = in(reg) n / 16,
            a = inout(reg) x0.as_ptr() => _,
            b = inout(reg) x1.as_ptr() => _,
            p = inout(reg) pair.as_mut_ptr() => _,
            out("lr") _,
            out("q0") _,
            out("q1") _,
            options(nostack),
        );
    }
    // `pair` comes from the `i16` scratch: aligned for both types.
    pair.get(..2 * n).and_then(|p| bytemuck::try_cast_slice(p).ok()).unwrap_or(&[])
}

/// One block of the 2 x 3 tile: `$xload` loads 16 bytes of inputs, `$load` 16 bytes of weights
/// (8 widened to int16, or 16 int8), `$mla` multiplies; the other operands are the addressing
/// modes of token 1's and token 0's inputs and of the three weight rows.
macro_rules! block2 {
    ($xload:literal, $load:literal, $mla:literal, $x1:expr, $x0:expr, $w0:expr, $w1:expr, $w2:expr) => {
        concat!(
            $xload, " q1, ", $x1, "\n",
            $xload, " q0, ", $x0, "\n",
            $load, " q2, ", $w0, "\n",
            $mla, " r0, q0, q2\n",
            $mla, " r2, q1, q2\n",
            $load, " q2, ", $w1, "\n",
            $mla, " r4, q0, q2\n",
            $mla, " r8, q1, q2\n",
            $load, " q2, ", $w2, "\n",
            $mla, " r10, q0, q2\n",
            $mla, " r12, q1, q2\n",
        )
    };
}

/// One block of the 1 x 3 tile, operands as in `block2!`.
macro_rules! block1 {
    ($xload:literal, $load:literal, $mla:literal, $x0:expr, $w0:expr, $w1:expr, $w2:expr) => {
        concat!(
            $xload, " q0, ", $x0, "\n",
            $load, " q2, ", $w0, "\n",
            $mla, " r0, q0, q2\n",
            $load, " q2, ", $w1, "\n",
            $mla, " r2, q0, q2\n",
            $load, " q2, ", $w2, "\n",
            $mla, " r4, q0, q2\n",
        )
    };
}

/// The tile loops' asm around the blocks, `$sums` the sum registers: a loop over triples of
/// weight rows, each running `singles` blocks and `quads` x 4 blocks unrolled (each load steps
/// its own pointer) from the tokens' first input, storing its sums, then moving the three row pointers to the next three
/// rows (row 3 is where row 2 ended, the stride is row 2's end minus row 1's).
/// r6 (LLVM's base pointer) and r7 (the frame pointer) cannot be operands, so the loop saves
/// them and keeps in them the inputs' start and a pointer to `[singles, out, triples]`.
macro_rules! triple_loop {
    ($sums:literal, $block:expr) => {
        concat!(
            "push {{r6, r7}}\n",
            "mov r7, lr\n",
            "mov r6, r9\n",
            "1:\n",
            "mov r0, #0\n",
            "mov r2, #0\n",
            "mov r4, #0\n",
            "mov r8, #0\n",
            "mov r10, #0\n",
            "mov r12, #0\n",
            "mov r9, r6\n",
            "ldr lr, [r7]\n",
            "wls lr, lr, 3f\n",
            "2:\n",
            $block,
            "le lr, 2b\n",
            "3:\n",
            "wls lr, r11, 5f\n",
            "4:\n",
            $block,
            $block,
            $block,
            $block,
            "le lr, 4b\n",
            "5:\n",
            "ldr lr, [r7, #4]\n",
            "stm lr!, {{", $sums, "}}\n",
            "str lr, [r7, #4]\n",
            "ldr lr, [r7, #8]\n",
            "subs lr, lr, #1\n",
            "str lr, [r7, #8]\n",
            "beq 6f\n",
            "sub r3, r5, r3\n",
            "mov r1, r5\n",
            "add.w r5, r5, r3, lsl #1\n",
            "sub r3, r5, r3\n",
            "b 1b\n",
            "6:\n",
            "pop {{r6, r7}}\n",
        )
    };
}

/// The rows of a tile call: the full triples of `rows` weight rows of `ig` inputs in `w`, and
/// the 1-2 rows left (their three pointers repeating the last row), as `(first row, triples)`;
/// `None` unless `w` holds `rows` rows, `rows <= CHUNK` and `ig` is a non-zero multiple of
/// `block`.
#[inline(always)]
fn calls(w: &[i8], rows: usize, ig: usize, block: usize) -> Option<[([*const i8; 3], usize); 2]> {
    let fits = ig > 0 && ig % block == 0 && rows <= CHUNK && w.len() >= rows * ig;
    let row = |k: usize| w.as_ptr().wrapping_add(k * ig);
    let (full, left) = (rows / 3, rows % 3);
    let last = 3 * full;
    fits.then(|| {
        [([row(0), row(1), row(2)], full), ([row(last), row(last + left.saturating_sub(1).min(1)), row(last + left.saturating_sub(1))], (left > 0) as usize)]
    })
}

/// `sums2` and `sums1` of a [`TileInput`]: `$xload`, `$load` and `$mla` as in `block2!`, `$w`
/// the weight pointers' step per block.
macro_rules! tile_input {
    ($t:ty, $block:literal, $xload:literal, $load:literal, $mla:literal, $w:literal) => {
        impl TileInput for $t {
            const BLOCK: usize = $block;

            /// The dot products of two interleaved tokens `x` (see [`interleave`], `2 ig`
            /// values) with the `rows` (at most [`CHUNK`]) weight rows of `ig` inputs in `w`,
            /// into `out[row] = [token 0, token 1]`. Leaves `out` as it is if the slices are
            /// shorter than that.
            fn sums2(x: &[Self], w: &[i8], rows: usize, ig: usize, out: &mut [[i32; 2]; CHUNK]) {
                let Some(calls) = calls(w, rows, ig, $block).filter(|_| x.len() >= 2 * ig) else { return };
                let (singles, quads) = ((ig / $block) % 4, ig / (4 * $block));
                let mut first = 0;
                for ([r0, r1, r2], triples) in calls {
                    if triples == 0 {
                        continue;
                    }
                    let mut ctx = [singles, out.as_mut_ptr().wrapping_add(first) as usize, triples];
                    first += 3 * triples;
                    // SAFETY: each of the `triples` passes runs `ig / BLOCK` blocks (`singles`,
                    // then `quads` unrolled 4 times), each reading 32 bytes of `x` (which holds
                    // `2 ig` values, 32 bytes per block) and 16 bytes of weights at each row
                    // pointer (`BLOCK` weights: 8 widened, or 16), then stores 6 sums at
                    // `ctx[1]`. `calls` checked that `w` holds the `rows` rows: with more than
                    // one pass the rows are consecutive, so the pointer step reaches the next
                    // three, and the last pass's pointers lie inside `w`. `out` has room for the
                    // `3 * triples` rows from `first` (at most `rows` rounded up to a multiple
                    // of 3, which `CHUNK` is). r6 and r7 are restored and the stack is
                    // balanced; otherwise only the registers named here and `ctx` change.
                    unsafe {
                        asm!(
                            triple_loop!(
                                "r0, r2, r4, r8, r10, r12",
                                block2!($xload, $load, $mla, "[r9, #16]", "[r9], #32", concat!("[r1], ", $w), concat!("[r3], ", $w), concat!("[r5], ", $w))
                            ),
                            inout("r9") x.as_ptr() => _,
                            inout("r1") r0 => _,
                            inout("r3") r1 => _,
                            inout("r5") r2 => _,
                            in("r11") quads,
                            inout("lr") ctx.as_mut_ptr() => _,
                            out("r0") _,
                            out("r2") _,
                            out("r4") _,
                            out("r8") _,
                            out("r10") _,
                            out("r12") _,
                            out("q0") _,
                            out("q1") _,
                            out("q2") _,
                        );
                    }
                }
            }

            /// [`TileInput::sums2`] for one token `x` (`ig` values).
            fn sums1(x: &[Self], w: &[i8], rows: usize, ig: usize, out: &mut [i32; CHUNK]) {
                let Some(calls) = calls(w, rows, ig, $block).filter(|_| x.len() >= ig) else { return };
                let (singles, quads) = ((ig / $block) % 4, ig / (4 * $block));
                let mut first = 0;
                for ([r0, r1, r2], triples) in calls {
                    if triples == 0 {
                        continue;
                    }
                    let mut ctx = [singles, out.as_mut_ptr().wrapping_add(first) as usize, triples];
                    first += 3 * triples;
                    // SAFETY: as in `sums2`, with 16 bytes of `x` a block and 3 sums a pass.
                    unsafe {
                        asm!(
                            triple_loop!(
                                "r0, r2, r4",
                                block1!($xload, $load, $mla, "[r9], #16", concat!("[r1], ", $w), concat!("[r3], ", $w), concat!("[r5], ", $w))
                            ),
                            inout("r9") x.as_ptr() => _,
                            inout("r1") r0 => _,
                            inout("r3") r1 => _,
                            inout("r5") r2 => _,
                            in("r11") quads,
                            inout("lr") ctx.as_mut_ptr() => _,
                            out("r0") _,
                            out("r2") _,
                            out("r4") _,
                            out("r8") _,
                            out("r10") _,
                            out("r12") _,
                            out("q0") _,
                            out("q2") _,
                        );
                    }
                }
            }
        }
    };
}

tile_input!(i16, 8, "vldrh.u16", "vldrb.s16", "vmladava.s16", "#8");
tile_input!(i8, 16, "vldrb.u8", "vldrb.u8", "vmladava.s8", "#16");
