//! Cortex-M55 Helium (MVE) kernels, in `asm!` (the MVE intrinsics are unstable).
//!
//! # Dense: 2-token x 3-output tiles
//!
//! `VMLADAVA.S16 Rda, Qn, Qm` adds the 8 products of two int16 vectors to a general register,
//! and `VLDRB.S16` loads 8 int8 weights already widened to int16, so 8 inputs of one (token,
//! output) sum cost one multiply instruction plus a share of the loads. A tile shares the loads:
//! 2 tokens x 3 weight rows make 6 sums from 2 + 3 loads per 8 inputs. The encodings fix the
//! tile's size: `Rda` must be an even register, and of r0-r14 only r0, r2, r4, r8, r10 and r12
//! are free (r6 is LLVM's base pointer, lr counts the loop), so six sums; the widening loads take
//! only r0-r7 as the base, leaving r1, r3 and r5 for weight rows (r7 is the frame pointer).
//!
//! | register | holds |
//! |---|---|
//! | r0 r2 / r4 r8 / r10 r12 | sums of (token 0, token 1) with weight row 0 / 1 / 2 |
//! | r9 | both tokens' inputs, interleaved by 8 in `scratch` (one pointer, offsets for token 1) |
//! | r1 r3 r5 | weight rows 0, 1, 2 |
//! | r11, lr | unrolled iterations; the `WLS`/`LE` low-overhead loop count |
//! | q0 q1 / q2 | 8 inputs of token 0, token 1 / 8 weights |
//!
//! The main loop is unrolled to 32 inputs: 4 x (5 loads + 6 `VMLADAVA`) + `LE`, 45 instructions
//! for 192 MACs (4.3 MACs per instruction); a loop before it takes the `(ig / 8) % 4` leftover
//! blocks of 8. A last token without a partner (one row, an odd count, or a scratch shorter than
//! two rows) runs a 1 x 3 tile (r9 its inputs, r0 r2 r4 its sums: 29 instructions for 96 MACs).
//! Inputs per group that are not a multiple of 8, or a layer whose slices do not match its
//! shape, run the portable loop.
//!
//! The loop over the tiles of up to [`CHUNK`] (24) outputs is in the `asm!` too, so that small
//! products (the attention scores: 64 inputs, 32 outputs) pay little per tile: the block saves
//! r6 and r7 on the stack and keeps in them the inputs' start and a pointer to its counters, and
//! between tiles it zeroes the sums, stores them with one `STM` into a stack buffer and steps the
//! three row pointers (about 23 instructions per tile, against about 70 for a tile per call).
//! The sink then reads that buffer in a plain loop. The last tile of a group with fewer than
//! three rows left is a call of its own that repeats its last row; the extra sums are not read.
//! The two tokens are interleaved into `scratch` with `VLDRH`/`VSTRH` (5 instructions per 8
//! inputs of both).
//!
//! `VMLADAVA.S8` (16 MACs) needs int8 on both sides; splitting int16 activations into two int8
//! halves would double the accumulators a tile needs and add a correction sum per row, for the
//! same instructions per MAC.
//!
//! # The rest
//!
//! - `depthwise`: 8 channels at a time, the taps in an inner loop; the weights `[C, K]` are
//!   gathered (`VLDRB.S16 Q, [Rn, Qoffsets]`, offsets `lane * K`), the products of the even and
//!   odd lanes widened by `VMULLB`/`VMULLT` into two i32 sums and stored back in channel order
//!   by `VST20`/`VST21`: 9 instructions per tap for 8 channels. Only the taps inside the
//!   sentence run; channels past the last block of 8 take a scalar loop.
//! - `requantize_i16`, `scale_i16`, `add_residual`: [`Requant::apply`] for shifts 33..=62 is
//!   `VMULH.S32` then `VRSHL.S32` by `32 - n` (see `requant_lanes!`), 4 lanes at a time,
//!   saturated to i16 by `VQMOVNB` or added by `VQADD`. A shift outside that range runs the
//!   portable code: the whole call again for `requantize_i16` (its output is not its input),
//!   the rest of the row from the first block that holds one for `add_residual` (in place: the
//!   block checks its shifts before it stores).
//! - `accumulate` (`VMLA.I32` by the scalar weight, which may be 32768): a tail-predicated
//!   loop.

// The crate denies `unsafe`; this module is where the engine's `asm!` lives.
#![allow(unsafe_code)]

use core::arch::asm;
use core::num::NonZeroUsize;

use super::{generic, Kernels, Sink};
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

/// Helium kernels: `dense`, `accumulate`, `depthwise`, `requantize_i16`, `scale_i16`
/// and `add_residual`; the rest is [`generic`].
pub struct ArmMve;

impl Kernels for ArmMve {
    fn dense(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        match Shape::of(ins, layer) {
            Some(shape) => dense_tiles(x, shape, layer, scratch, sink),
            None => generic::dense_rows(x, ins, layer, sink),
        }
    }

    fn depthwise(x: &[i16], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
        // The gathers' offsets `lane * k` are u16 lanes: up to 7 * 9362.
        if channels == 0 || !(1..=9362).contains(&k) {
            return generic::depthwise(x, channels, t, w, k, acc);
        }
        let rows = x.len() / channels;
        let n = acc.len().min(channels).min(w.len() / k);
        // The taps whose source row t + j - k/2 is inside the sentence: j0..j1.
        let pad = k / 2;
        let (j0, j1) = (pad.saturating_sub(t), k.min((rows + pad).saturating_sub(t)));
        let Some(taps) = j1.checked_sub(j0).filter(|&taps| taps > 0) else { return acc.fill(0) };
        let first = t + j0 - pad;
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
        let (tail, rest) = acc.split_at_mut(n.min(acc.len()));
        for (c, a) in tail.iter_mut().enumerate().skip(8 * blocks) {
            let column = x.iter().skip(c).step_by(channels).take(taps);
            let products = column.zip(w.iter().skip(c * k)).map(|(&xv, &wv)| (xv as i32).wrapping_mul(wv as i32));
            *a = products.fold(0i32, i32::wrapping_add);
        }
        rest.fill(0);
    }

    fn requantize_i16(acc: &[i32], requant: &[Requant], out: &mut [i16]) {
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
                "vqmovnb.s32 q0, q0",
                "vstrh.32 q0, [r0], #8",
                "le lr, 1b",
                "2:",
                c32 = in(reg) 32,
                blocks = in(reg) blocks,
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
                options(nostack),
            );
        }
        // A shift outside 33..=62 in some block: all of it again by the definition (`out` is
        // not an input). The channels past the last block of 4 always.
        let done = if low >= -30 && high <= -1 { 4 * blocks } else { 0 };
        let (acc, requant, out) = (acc.get(done..).unwrap_or(&[]), requant.get(done..).unwrap_or(&[]), out.get_mut(done..).unwrap_or(&mut []));
        generic::requantize_i16(acc, requant, out);
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

    fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
        let n = z.len().min(branch.len()).min(residual.len());
        let mut done = 0;
        if (33..=62).contains(&residual_rq.shift) {
            let z_start = z.as_mut_ptr();
            let mut z_end = z_start;
            // SAFETY: each of the `n / 4` blocks reads 4 requants (8 words) of `branch`, 4
            // values of `residual` and 4 of `z`, and stores those 4 of `z`: `4 (n / 4) <= n` of
            // each. A block whose branch shifts are not all in 33..=62 leaves the loop before
            // it stores. Only the registers named here change.
            unsafe {
                asm!(
                    "vdup.32 q4, {m}",
                    "wls lr, {blocks}, 2f",
                    "1:",
                    // q1: multipliers; q2: shifts - 33, then !(shift - 33) = 32 - shift, the
                    // VRSHL amounts. Any lane above 29 unsigned: out of 33..=62, stop here.
                    "vld20.32 {{q1, q2}}, [{rq}]",
                    "vld21.32 {{q1, q2}}, [{rq}]!",
                    "vsub.i32 q2, q2, {c33}",
                    "vmaxv.u32 {high}, q2",
                    "cmp {high}, #29",
                    "bhi 2f",
                    "vmvn q2, q2",
                    "vldrw.u32 q0, [{z}]",
                    requant_lanes!("q0, q2"),
                    "vmov q2, q0",
                    "vldrh.s32 q0, [r0], #8",
                    "vmov q1, q4",
                    requant_lanes!("{shift}"),
                    "vqadd.s32 q0, q0, q2",
                    "vstrw.32 q0, [{z}], #16",
                    "le lr, 1b",
                    "2:",
                    m = in(reg) residual_rq.multiplier,
                    shift = in(reg) 32 - residual_rq.shift,
                    c33 = in(reg) 33,
                    high = inout(reg) 0u32 => _,
                    blocks = in(reg) n / 4,
                    rq = inout(reg) branch.as_ptr() => _,
                    // The widening load takes only r0-r7 as its base.
                    inout("r0") residual.as_ptr() => _,
                    z = inout(reg) z_start => z_end,
                    out("lr") _,
                    out("q0") _,
                    out("q1") _,
                    out("q2") _,
                    out("q4") _,
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

    fn accumulate(sums: &mut [i32], weight: i32, row: &[i16]) {
        let n = sums.len().min(row.len());
        // SAFETY: the tail-predicated loop reads `n` values of `row` and reads and writes `n`
        // of `sums`, both at least that long; predicated-off lanes are neither read nor stored.
        unsafe {
            asm!(
                "wlstp.32 lr, {n}, 2f",
                "1:",
                "vldrh.s32 q0, [r0], #8",
                "vldrw.u32 q1, [{sums}]",
                "vmla.i32 q1, q0, {weight}",
                "vstrw.32 q1, [{sums}], #16",
                "letp lr, 1b",
                "2:",
                n = in(reg) n,
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

/// A layer the tile runs: `groups` groups of `ig` inputs (a multiple of 8) and `og` outputs,
/// every slice as long as that shape says.
#[derive(Clone, Copy)]
struct Shape {
    ins: usize,
    ig: usize,
    og: usize,
}

impl Shape {
    fn of(ins: usize, layer: &QDense<'_>) -> Option<Self> {
        let groups = layer.groups.max(1);
        let (ig, og) = (ins / groups, layer.bias.len() / groups);
        let fits = ig > 0
            && ig % 8 == 0
            && og > 0
            && ig * groups == ins
            && og * groups == layer.bias.len()
            && og.checked_mul(ins).is_some_and(|w| layer.weight.len() >= w);
        fits.then_some(Shape { ins, ig, og })
    }
}

/// Weight rows per call of the tile loops ([`sums2`], [`sums1`]): their sums wait in a stack
/// buffer of this many rows (x 2 tokens) for the sink. A multiple of 3; small enough that the
/// kernel suite's layers (up to 40 outputs) cross a chunk boundary.
const CHUNK: usize = 24;

/// [`Kernels::dense`] for a [`Shape`]: token pairs interleaved into `scratch` through the
/// 2 x 3 tile, an odd last token (or every token, if `scratch` is short) through the 1 x 3 one.
fn dense_tiles(x: &[i16], s: Shape, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
    let mut pair = scratch.get_mut(..2 * s.ins);
    // One buffer per call: each chunk overwrites the rows it has (and reads no others).
    let (mut pair_sums, mut row_sums) = ([[0i32; 2]; CHUNK], [0i32; CHUNK]);
    let mut t = 0;
    while let Some(x0) = x.get(t * s.ins..(t + 1) * s.ins) {
        match (x.get((t + 1) * s.ins..(t + 2) * s.ins), pair.as_deref_mut()) {
            (Some(x1), Some(pair)) => {
                interleave(x0, x1, pair);
                chunks(s, layer, pair, 2, |o, w, bias, xg| {
                    sums2(xg, w, bias.len(), s.ig, &mut pair_sums);
                    let (mut run0, mut run1) = ([0i32; CHUNK], [0i32; CHUNK]);
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
                    sums1(xg, w, bias.len(), s.ig, &mut row_sums);
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

/// Calls `f(o, rows, bias, x)` for every run of up to [`CHUNK`] outputs `o..` within a group:
/// their weight rows, their biases and the group's `tokens * ig` inputs of `x`.
#[inline(always)]
fn chunks(s: Shape, layer: &QDense<'_>, x: &[i16], tokens: usize, mut f: impl FnMut(usize, &[i8], &[i32], &[i16])) {
    // Chunk sizes as `NonZeroUsize`, which proves to the compiler that no `chunks` call panics.
    let size = |n: usize| NonZeroUsize::new(n).map(NonZeroUsize::get);
    let (Some(xs), Some(ws), Some(rows), Some(og)) = (size(tokens * s.ig), size(s.og * s.ig), size(CHUNK * s.ig), size(s.og)) else { return };
    let groups = x.chunks_exact(xs).zip(layer.weight.chunks_exact(ws)).zip(layer.bias.chunks_exact(og));
    for (g, ((xg, wg), bg)) in groups.enumerate() {
        for (o, (w, bias)) in (g * og..).step_by(CHUNK).zip(wg.chunks(rows).zip(bg.chunks(CHUNK))) {
            f(o, w, bias, xg);
        }
    }
}

/// `pair` = blocks of 8 inputs of `x0`, then the same 8 of `x1`: the 2 x 3 tile's layout.
/// Leaves `pair` as it is unless both rows hold `n` values, a multiple of 8, and `pair` twice that.
fn interleave(x0: &[i16], x1: &[i16], pair: &mut [i16]) {
    let n = x0.len();
    if n % 8 != 0 || x1.len() != n || pair.len() < 2 * n {
        return;
    }
    // SAFETY: `n / 8` blocks read 8 values of each row (`n` in all, their lengths) and write 16
    // to `pair` (`2 n`, checked above); only the registers named here change.
    unsafe {
        asm!(
            "wls lr, {blocks}, 2f",
            "1:",
            "vldrh.u16 q0, [{a}], #16",
            "vldrh.u16 q1, [{b}], #16",
            "vstrh.16 q1, [{p}, #16]",
            "vstrh.16 q0, [{p}], #32",
            "le lr, 1b",
            "2:",
            blocks = in(reg) n / 8,
            a = inout(reg) x0.as_ptr() => _,
            b = inout(reg) x1.as_ptr() => _,
            p = inout(reg) pair.as_mut_ptr() => _,
            out("lr") _,
            out("q0") _,
            out("q1") _,
            options(nostack),
        );
    }
}

/// One block of 8 inputs of the 2 x 3 tile; the operands are the addressing modes of token 1's
/// and token 0's inputs and of the three weight rows.
macro_rules! block2 {
    ($x1:literal, $x0:literal, $w0:literal, $w1:literal, $w2:literal) => {
        concat!(
            "vldrh.u16 q1, ", $x1, "\n",
            "vldrh.u16 q0, ", $x0, "\n",
            "vldrb.s16 q2, ", $w0, "\n",
            "vmladava.s16 r0, q0, q2\n",
            "vmladava.s16 r2, q1, q2\n",
            "vldrb.s16 q2, ", $w1, "\n",
            "vmladava.s16 r4, q0, q2\n",
            "vmladava.s16 r8, q1, q2\n",
            "vldrb.s16 q2, ", $w2, "\n",
            "vmladava.s16 r10, q0, q2\n",
            "vmladava.s16 r12, q1, q2\n",
        )
    };
}

/// One block of 8 inputs of the 1 x 3 tile, operands as in `block2!`.
macro_rules! block1 {
    ($x0:literal, $w0:literal, $w1:literal, $w2:literal) => {
        concat!(
            "vldrh.u16 q0, ", $x0, "\n",
            "vldrb.s16 q2, ", $w0, "\n",
            "vmladava.s16 r0, q0, q2\n",
            "vldrb.s16 q2, ", $w1, "\n",
            "vmladava.s16 r2, q0, q2\n",
            "vldrb.s16 q2, ", $w2, "\n",
            "vmladava.s16 r4, q0, q2\n",
        )
    };
}

/// The tile loops' asm around the blocks, `$sums` the sum registers: a loop over triples of
/// weight rows, each running `singles` blocks of 8 inputs (`$single`) and `quads` x 4 (`$quad`)
/// from the tokens' first input, storing its sums, then moving the three row pointers to the
/// next three rows (row 3 is where row 2 ended, the stride is row 2's end minus row 1's).
/// r6 (LLVM's base pointer) and r7 (the frame pointer) cannot be operands, so the loop saves
/// them and keeps in them the inputs' start and a pointer to `[singles, out, triples]`.
macro_rules! triple_loop {
    ($sums:literal, $single:expr, $quad:expr) => {
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
            $single,
            "le lr, 2b\n",
            "3:\n",
            "wls lr, r11, 5f\n",
            "4:\n",
            $quad,
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
/// `None` unless `w` holds `rows` rows, `rows <= CHUNK` and `ig` is a non-zero multiple of 8.
#[inline(always)]
fn calls(w: &[i8], rows: usize, ig: usize) -> Option<[([*const i8; 3], usize); 2]> {
    let fits = ig > 0 && ig % 8 == 0 && rows <= CHUNK && w.len() >= rows * ig;
    let row = |k: usize| w.as_ptr().wrapping_add(k * ig);
    let (full, left) = (rows / 3, rows % 3);
    let last = 3 * full;
    fits.then(|| {
        [([row(0), row(1), row(2)], full), ([row(last), row(last + left.saturating_sub(1).min(1)), row(last + left.saturating_sub(1))], (left > 0) as usize)]
    })
}

/// The dot products of two interleaved tokens `x` (see [`interleave`], `2 ig` values) with the
/// `rows` (at most [`CHUNK`]) weight rows of `ig` inputs in `w`, into `out[row] = [token 0,
/// token 1]`. Leaves `out` as it is if the slices are shorter than that.
fn sums2(x: &[i16], w: &[i8], rows: usize, ig: usize, out: &mut [[i32; 2]; CHUNK]) {
    let Some(calls) = calls(w, rows, ig).filter(|_| x.len() >= 2 * ig) else { return };
    let (singles, quads) = ((ig / 8) % 4, ig / 32);
    let mut first = 0;
    for ([r0, r1, r2], triples) in calls {
        if triples == 0 {
            continue;
        }
        let mut ctx = [singles, out.as_mut_ptr().wrapping_add(first) as usize, triples];
        first += 3 * triples;
        // SAFETY: each of the `triples` passes runs `ig / 8` blocks (`singles`, then `quads`
        // unrolled 4 times), each reading 16 values of `x` (which holds `2 ig`) and 8 bytes at
        // each row pointer, then stores 6 sums at `ctx[1]`. `calls` checked that `w` holds the
        // `rows` rows: with more than one pass the rows are consecutive, so the pointer step
        // reaches the next three, and the last pass's pointers lie inside `w`. `out` has room for
        // the `3 * triples` rows from `first` (at most `rows` rounded up to a multiple of 3, which
        // `CHUNK` is). The unrolled body reads its blocks 2-4 at negative offsets from the
        // pointers its block 1 advanced. r6 and r7 are restored and the stack is balanced;
        // otherwise only the registers named here and `ctx` change.
        unsafe {
            asm!(
                triple_loop!(
                    "r0, r2, r4, r8, r10, r12",
                    block2!("[r9, #16]", "[r9], #32", "[r1], #8", "[r3], #8", "[r5], #8"),
                    concat!(
                        block2!("[r9, #16]", "[r9], #128", "[r1], #32", "[r3], #32", "[r5], #32"),
                        block2!("[r9, #-80]", "[r9, #-96]", "[r1, #-24]", "[r3, #-24]", "[r5, #-24]"),
                        block2!("[r9, #-48]", "[r9, #-64]", "[r1, #-16]", "[r3, #-16]", "[r5, #-16]"),
                        block2!("[r9, #-16]", "[r9, #-32]", "[r1, #-8]", "[r3, #-8]", "[r5, #-8]"),
                    )
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

/// [`sums2`] for one token `x` (`ig` values).
fn sums1(x: &[i16], w: &[i8], rows: usize, ig: usize, out: &mut [i32; CHUNK]) {
    let Some(calls) = calls(w, rows, ig).filter(|_| x.len() >= ig) else { return };
    let (singles, quads) = ((ig / 8) % 4, ig / 32);
    let mut first = 0;
    for ([r0, r1, r2], triples) in calls {
        if triples == 0 {
            continue;
        }
        let mut ctx = [singles, out.as_mut_ptr().wrapping_add(first) as usize, triples];
        first += 3 * triples;
        // SAFETY: as in `sums2`, with 8 values of `x` a block and 3 sums a pass.
        unsafe {
            asm!(
                triple_loop!(
                    "r0, r2, r4",
                    block1!("[r9], #16", "[r1], #8", "[r3], #8", "[r5], #8"),
                    concat!(
                        block1!("[r9], #64", "[r1], #32", "[r3], #32", "[r5], #32"),
                        block1!("[r9, #-48]", "[r1, #-24]", "[r3, #-24]", "[r5, #-24]"),
                        block1!("[r9, #-32]", "[r1, #-16]", "[r3, #-16]", "[r5, #-16]"),
                        block1!("[r9, #-16]", "[r1, #-8]", "[r3, #-8]", "[r5, #-8]"),
                    )
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
