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
//! The last tile of a group with fewer than three rows left repeats its last row and drops those
//! sums. Inputs per group that are not a multiple of 8, or a layer whose slices do not match its
//! shape, run the portable loop.
//!
//! `VMLADAVA.S8` (16 MACs) needs int8 on both sides, so it serves `dot_i8` (attention scores);
//! splitting int16 activations into two int8 halves would double the accumulators a tile needs
//! and add a correction sum per row, for the same instructions per MAC.

// The crate denies `unsafe`; this module is where the engine's `asm!` lives.
#![allow(unsafe_code)]

use core::arch::asm;
use core::num::NonZeroUsize;

use super::{generic, Kernels};
use crate::int8::QDense;

/// Helium kernels: `dense`, `dot_i8` and `accumulate`; the rest is [`generic`].
pub struct ArmMve;

impl Kernels for ArmMve {
    fn dense<S: FnMut(usize, usize, i32)>(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut S) {
        match Shape::of(ins, layer) {
            Some(shape) => dense_tiles(x, shape, layer, scratch, sink),
            None => generic::dense_rows(x, ins, layer, sink),
        }
    }

    fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let mut sum = 0i32;
        // SAFETY: the tail-predicated loop reads exactly `n` bytes from each pointer, and both
        // slices hold at least `n`; it writes only the registers named here and q0-q1.
        unsafe {
            asm!(
                "wlstp.8 lr, {n}, 2f",
                "1:",
                "vldrb.u8 q0, [{a}], #16",
                "vldrb.u8 q1, [{b}], #16",
                "vmladava.s8 r0, q0, q1",
                "letp lr, 1b",
                "2:",
                n = in(reg) n,
                a = inout(reg) a.as_ptr() => _,
                b = inout(reg) b.as_ptr() => _,
                inout("r0") sum,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                options(nostack, readonly),
            );
        }
        sum
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

/// [`Kernels::dense`] for a [`Shape`]: token pairs interleaved into `scratch` through the
/// 2 x 3 tile, an odd last token (or every token, if `scratch` is short) through the 1 x 3 one.
fn dense_tiles<S: FnMut(usize, usize, i32)>(x: &[i16], s: Shape, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut S) {
    let mut pair = scratch.get_mut(..2 * s.ins);
    let mut t = 0;
    while let Some(x0) = x.get(t * s.ins..(t + 1) * s.ins) {
        match (x.get((t + 1) * s.ins..(t + 2) * s.ins), pair.as_deref_mut()) {
            (Some(x1), Some(pair)) => {
                interleave(x0, x1, pair);
                triples(s, layer, pair, 2, |o, w, bias, xg| {
                    for (k, (&b, [s0, s1])) in bias.iter().zip(tile2(xg, w, bias.len(), s.ig)).enumerate() {
                        sink(t, o + k, b.wrapping_add(s0));
                        sink(t + 1, o + k, b.wrapping_add(s1));
                    }
                });
                t += 2;
            }
            _ => {
                triples(s, layer, x0, 1, |o, w, bias, xg| {
                    for (k, (&b, s0)) in bias.iter().zip(tile1(xg, w, bias.len(), s.ig)).enumerate() {
                        sink(t, o + k, b.wrapping_add(s0));
                    }
                });
                t += 1;
            }
        }
    }
}

/// Calls `f(o, rows, bias, x)` for every run of up to three outputs `o..` within a group: their
/// weight rows, their 1-3 biases and the group's `tokens * ig` inputs of `x`.
#[inline(always)]
fn triples(s: Shape, layer: &QDense<'_>, x: &[i16], tokens: usize, mut f: impl FnMut(usize, &[i8], &[i32], &[i16])) {
    // Chunk sizes as `NonZeroUsize`, which proves to the compiler that no `chunks` call panics.
    let size = |n: usize| NonZeroUsize::new(n).map(NonZeroUsize::get);
    let (Some(xs), Some(ws), Some(rows3), Some(og)) = (size(tokens * s.ig), size(s.og * s.ig), size(3 * s.ig), size(s.og)) else { return };
    let groups = x.chunks_exact(xs).zip(layer.weight.chunks_exact(ws)).zip(layer.bias.chunks_exact(og));
    for (g, ((xg, wg), bg)) in groups.enumerate() {
        for (o, (w, bias)) in (g * og..).step_by(3).zip(wg.chunks(rows3).zip(bg.chunks(3))) {
            f(o, w, bias, xg);
        }
    }
}

/// `pair` = blocks of 8 inputs of `x0`, then the same 8 of `x1`: the 2 x 3 tile's layout.
fn interleave(x0: &[i16], x1: &[i16], pair: &mut [i16]) {
    for ((p, a), b) in pair.chunks_exact_mut(16).zip(x0.chunks_exact(8)).zip(x1.chunks_exact(8)) {
        let (p0, p1) = p.split_at_mut(8);
        p0.copy_from_slice(a);
        p1.copy_from_slice(b);
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

/// The tiles' loop counts and row pointers: `(blocks % 4, blocks / 4)` for `ig / 8` blocks of 8
/// inputs, and rows 0, 1 and 2 of `w` with the last of its `rows` (1-3) repeated; `None` unless
/// `x` holds `tokens * ig` inputs and `w` `rows * ig` weights, so that the tiles stay inside both.
#[inline(always)]
fn operands(x: &[i16], tokens: usize, w: &[i8], rows: usize, ig: usize) -> Option<((usize, usize), [*const i8; 3])> {
    let fits = (1..=3).contains(&rows) && x.len() >= tokens * ig && w.len() >= rows * ig;
    let row = |k: usize| w.as_ptr().wrapping_add(k.min(rows - 1) * ig);
    fits.then(|| (((ig / 8) % 4, ig / 32), [row(0), row(1), row(2)]))
}

/// The dot products of two interleaved tokens `x` (see [`interleave`]) with the `rows` (1-3)
/// weight rows of `ig` inputs in `w`, `[row][token]`: the row 2 and 3 results repeat the last
/// row where there are fewer. All zero if the slices are shorter than that.
#[inline(always)]
fn tile2(x: &[i16], w: &[i8], rows: usize, ig: usize) -> [[i32; 2]; 3] {
    let Some(((singles, quads), w)) = operands(x, 2, w, rows, ig) else { return [[0; 2]; 3] };
    let [mut s00, mut s01, mut s10, mut s11, mut s20, mut s21] = [0i32; 6];
    // SAFETY: the loops run `ig / 8` blocks in all (`singles`, then `quads` unrolled 4 times),
    // each reading 16 values of `x` and 8 bytes of each row pointer, which `operands` checked
    // are inside `x` and `w`; the unrolled body reads its blocks 2-4 at negative offsets from
    // the pointers its block 1 advanced. Only the registers named here change.
    unsafe {
        asm!(
            "wls lr, lr, 3f",
            "2:",
            block2!("[r9, #16]", "[r9], #32", "[r1], #8", "[r3], #8", "[r5], #8"),
            "le lr, 2b",
            "3:",
            "wls lr, r11, 5f",
            "4:",
            block2!("[r9, #16]", "[r9], #128", "[r1], #32", "[r3], #32", "[r5], #32"),
            block2!("[r9, #-80]", "[r9, #-96]", "[r1, #-24]", "[r3, #-24]", "[r5, #-24]"),
            block2!("[r9, #-48]", "[r9, #-64]", "[r1, #-16]", "[r3, #-16]", "[r5, #-16]"),
            block2!("[r9, #-16]", "[r9, #-32]", "[r1, #-8]", "[r3, #-8]", "[r5, #-8]"),
            "le lr, 4b",
            "5:",
            inout("r9") x.as_ptr() => _,
            inout("r1") w[0] => _,
            inout("r3") w[1] => _,
            inout("r5") w[2] => _,
            in("r11") quads,
            inout("lr") singles => _,
            inout("r0") s00,
            inout("r2") s01,
            inout("r4") s10,
            inout("r8") s11,
            inout("r10") s20,
            inout("r12") s21,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            options(nostack, readonly),
        );
    }
    [[s00, s01], [s10, s11], [s20, s21]]
}

/// [`tile2`] for one token `x`.
#[inline(always)]
fn tile1(x: &[i16], w: &[i8], rows: usize, ig: usize) -> [i32; 3] {
    let Some(((singles, quads), w)) = operands(x, 1, w, rows, ig) else { return [0; 3] };
    let [mut s0, mut s1, mut s2] = [0i32; 3];
    // SAFETY: as in `tile2`, with 8 values of `x` a block.
    unsafe {
        asm!(
            "wls lr, lr, 3f",
            "2:",
            block1!("[r9], #16", "[r1], #8", "[r3], #8", "[r5], #8"),
            "le lr, 2b",
            "3:",
            "wls lr, r11, 5f",
            "4:",
            block1!("[r9], #64", "[r1], #32", "[r3], #32", "[r5], #32"),
            block1!("[r9, #-48]", "[r1, #-24]", "[r3, #-24]", "[r5, #-24]"),
            block1!("[r9, #-32]", "[r1, #-16]", "[r3, #-16]", "[r5, #-16]"),
            block1!("[r9, #-16]", "[r1, #-8]", "[r3, #-8]", "[r5, #-8]"),
            "le lr, 4b",
            "5:",
            inout("r9") x.as_ptr() => _,
            inout("r1") w[0] => _,
            inout("r3") w[1] => _,
            inout("r5") w[2] => _,
            in("r11") quads,
            inout("lr") singles => _,
            inout("r0") s0,
            inout("r2") s1,
            inout("r4") s2,
            out("q0") _,
            out("q2") _,
            options(nostack, readonly),
        );
    }
    [s0, s1, s2]
}
