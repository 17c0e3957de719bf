//! The kernels for the Arm DSP extension (Cortex-M4/M7/M33): [`Kernels::dense`],
//! [`Kernels::dense_i8`], `accumulate`, `accumulate` and `depthwise` in `asm!` with `SMLAD`
//! and its relatives. The other methods are the portable ones. Under QEMU one instruction is the unit of cost, so the loops are
//! counted in instructions below.
//!
//! # `dense` on a token pair: tile and data layout
//! One pass of the inner loop computes one output channel for two token rows `a` and `b`, so
//! every weight word loaded serves two tokens. `SXTB16 w` turns the int8 weight word
//! `[w0 w1 w2 w3]` into the int16 pair `(w0, w2)`, and `SXTB16 w, ROR #8` into `(w1, w3)`;
//! `SMLAD acc, x, w` adds `lo(x) * lo(w) + hi(x) * hi(w)`. So that each activation word meets
//! the weight pair it multiplies, the two tokens' inputs of the current group are repacked
//! into `scratch` once per token pair (`PKHBT`/`PKHTB`), for every 4 inputs as the 4 words
//! `(a0, a2) (a1, a3) (b0, b2) (b1, b3)`, which one `LDM` loads; the repacking is shared by
//! all output channels of the group.
//!
//! Per 16 inputs the loop runs 1 `LDM` of 4 weight words, 4 `LDM`s of 4 activation words, 8
//! `SXTB16` and 16 `SMLAD`: 29 instructions for 32 MACs. A pass covers 128 inputs (64 or 32
//! where the inputs are not a multiple of that), so `CMP` + `BNE` add 2 per 256 MACs. `SMLAD` wraps
//! like the portable `i32` sums (an overflow only sets the sticky Q flag, which nothing reads).
//!
//! The loop over output channels runs in the same `asm!` block, [`CHANNELS`] channels per
//! call: per channel it zeroes the two sums, rewinds the activation pointer, stores the sums
//! into a stack buffer and steps to the next weight row, 10 instructions. Rust (`pair_run`,
//! one copy for every sink) then adds the bias and sorts the sums into one run per token,
//! which `dense` hands to the sink.
//!
//! Registers: `LDM` fills its registers in ascending order, so they are named, not
//! allocated: r0 activations (scratch) pointer, r1 weight pointer, r2 end of the activations,
//! r3 and r4 the sums of tokens `a` and `b`, r8 to r11 the 4 activation words, r5 r7 r12 lr
//! the 4 weight words, r6 the weight pair being multiplied. r6 and r7 are reserved to the
//! compiler (base and frame pointer), so the block saves them on the stack and restores them;
//! the values needed once per channel live there too: the activations' start, the output
//! pointer, the end of the weight rows and the weight bytes a row has past the loop's inputs.
//!
//! Shapes the loop does not take: inputs past the last whole pass of the group, or past what
//! `scratch` holds, are summed in Rust after the loop; an odd last token is paired with
//! itself (its second sum is dropped). `LDM` needs word-aligned weight rows (the blob aligns
//! every tensor to 16 bytes): with misaligned rows or inputs per group not a multiple of 4,
//! Rust sums every input.
//!
//! int8 activations (`dense_i8`, the FFN's) go through the same loops: `SXTB16 x` widens 4
//! int8 inputs `[x0 x1 x2 x3]` straight into the pair `(x0, x2)` and `SXTB16 x, ROR #8` into
//! `(x1, x3)`, so their packing (`DspInput for i8`) is 4 instructions per 4 inputs of a token
//! where the int16 packing needs 2 loads and 2 `PKH`s.
//!
//! # `dense` on token quads
//! From 4 token rows on, the tokens run 4 at a time, every weight word
//! serving four; the last 1 to 3 rows take the pair loop above. `pack_quad` writes each 4
//! inputs of the quad `a b c d` as 8 words: the even halves `(a0, a2) (b0, b2) (c0, c2)
//! (d0, d2)`, then the odd halves `(a1, a3) (b1, b3) (c1, c3) (d1, d3)`, so that one `LDM`
//! brings the 4 words that meet one weight pair. Per 8 inputs the loop runs 1 `LDRD` of 2
//! weight words, 4 `SXTB16`, 4 `LDM`s of 4 activation words and 16 `SMLAD`: 25 instructions
//! for 32 MACs (12.5 per 16, against 14.5 for a pair). A pass covers 64 inputs (32 where the
//! inputs are not a multiple of 64), +2 for `CMP` + `BNE`.
//!
//! The channel loop (`quads_64`, `quads_32`) starts each channel's 4 sums at its bias and
//! stores them straight into the 4 runs of `CHANNELS` words that `dense` hands to the sink
//! (`STR` at offsets 0, 128, 256, 384 bytes), so that where the loop takes every input of the
//! group (all the engine's shapes) no Rust runs per output; otherwise `quad_run` adds the
//! rest. Per channel: 5 instructions to load the bias into the sums, 10 to store them, rewind
//! the activations and step to the next weight row. Registers (all 14): r0 activations
//! pointer, r1 weight pointer, r2 end of the activations, r3 to r6 the sums of `a` to `d`, r7
//! and r12 the 2 weight words, lr the weight pair being multiplied, r8 to r11 the 4
//! activation words; r6 and r7 are saved on the stack as above, where the activations' start,
//! the output pointer, the bias' distance from it, the end of the weight rows and the skip
//! live too. The shapes it takes are the pair loop's, with two scratch words per input.
//!
//! # The vector kernels
//! `accumulate` (`P V`, dynamic convolution, int8 value rows): with the pair `(0, -weight)` in
//! a register, `SMLSD` adds `weight * hi(v)` and `SMLSDX` adds `weight * lo(v)`, exact for
//! every weight in `-32767..=32768` (a Q15 probability may be 32768, which `SMLABB`'s signed
//! half could not hold); other weights take the portable loop. Per 4 elements: one `LDR` of
//! the row word (any address), `SXTB16` and `SXTB16 ROR #8` into `(v0, v2)` and `(v1, v3)`,
//! 1 `LDM` + 1 `STM` of the sums and 4 `SMLSD(X)`: 9 instructions, 16 elements a pass, 38
//! with `CMP` + `BNE` (2.375 per element; loading 4 row words by one `LDM` would need
//! word-aligned rows and a register more than the 12 free ones: 4 sums, 4 row words, a widened
//! half, the pair and 3 pointers). It leaves the last `len % 16` to Rust; it is called once
//! per head and row, so it is not inlined (its 12 registers would make the caller's loop
//! spill). `depthwise` runs tap
//! by tap over 4 channels per pass: 1 `LDM` + 1 `STM` of the sums, 2 `LDR`s of inputs, 4
//! `LDRSB` of the strided taps, 4 `SMLABB`/`SMLATB`, 2 pointer steps, 2 loop instructions.
//! `LDR` takes any address on these cores; `LDM`, `LDRD` and `STRD` only word-aligned ones.

// `asm!` is the only way to `SMLAD` on stable Rust; each unsafe block says why it is sound.
#![allow(unsafe_code)]

use super::{generic, Kernels, Sink};
use crate::int8::QDense;
use core::arch::asm;

/// Output channels per call of the channel loop:
/// their two sums each wait for the sink in a stack buffer of `2 * CHANNELS` words.
const CHANNELS: usize = 32;

/// Elements per pass of the vector kernels' loops.
const VECTOR: usize = 16;

/// 4 elements of `accumulate` from the next `row` word (4 int8 values, any alignment):
/// `SXTB16` widens `[v0 v1 v2 v3]` into `{even}` = `(v0, v2)` and `{v}` = `(v1, v3)`, then
/// `SMLSDX`/`SMLSD` against `(0, -weight)` add `weight` times the low and
/// the high half into the sums r8 to r11, in element order.
macro_rules! accumulate_four {
    () => {
        concat!(
            "ldr {v}, [{row}], #4\n",
            "sxtb16 {even}, {v}\n",
            "sxtb16 {v}, {v}, ror #8\n",
            "ldm {sums}, {{r8, r9, r10, r11}}\n",
            "smlsdx r8, {pair}, {even}, r8\n",
            "smlsdx r9, {pair}, {v}, r9\n",
            "smlsd r10, {even}, {pair}, r10\n",
            "smlsd r11, {v}, {pair}, r11\n",
            "stm {sums}!, {{r8, r9, r10, r11}}\n",
        )
    };
}

/// The DSP-extension kernels; see the module doc.
pub struct ArmDsp;

impl Kernels for ArmDsp {
    fn dense(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        dense_tokens(x, ins, layer, scratch, sink);
    }

    fn dense_i8(x: &[i8], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        dense_tokens(x, ins, layer, scratch, sink);
    }

    #[inline(never)]
    fn accumulate(sums: &mut [i32], weight: i32, row: &[i8]) {
        let n = sums.len().min(row.len());
        // The pair `(0, -weight)` of `accumulate`, for the same weights (module doc).
        let negated = weight.wrapping_neg();
        let fast = if i16::try_from(negated).is_ok() { n / VECTOR * VECTOR } else { 0 };
        if fast > 0 {
            let (pr, ps) = (row.as_ptr(), sums.as_mut_ptr());
            // SAFETY: the loop reads `fast` bytes of `row` by `LDR`, which takes any address on
            // these cores, and reads and writes `fast` `i32`s of `sums` (word-aligned for `LDM`
            // and `STM`), both at least that long, in whole passes of `VECTOR`, at least one;
            // `sums` is the only memory written, borrowed mutably here.
            unsafe {
                asm!(
                    "2:",
                    accumulate_four!(),
                    accumulate_four!(),
                    accumulate_four!(),
                    accumulate_four!(),
                    "cmp {row}, {end}",
                    "bne 2b",
                    row = inout(reg) pr => _,
                    sums = inout(reg) ps => _,
                    end = in(reg) pr.wrapping_add(fast),
                    pair = in(reg) (negated as u32) << 16,
                    v = out(reg) _,
                    even = out(reg) _,
                    out("r8") _,
                    out("r9") _,
                    out("r10") _,
                    out("r11") _,
                    options(nostack),
                );
            }
        }
        if fast < n {
            let (sums, row) = (sums.get_mut(fast..n).unwrap_or(&mut []), row.get(fast..n).unwrap_or(&[]));
            generic::accumulate(sums, weight, row);
        }
    }

    fn depthwise(x: &[i16], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
        acc.fill(0);
        if channels == 0 || k == 0 {
            return;
        }
        let pad = k / 2;
        // Channels the loop takes: 4 per pass, each with its `k` weights in `w`.
        let fast = channels.min(acc.len()).min(w.len() / k) / 4 * 4;
        for j in 0..k {
            let Some(row) = (t + j).checked_sub(pad).and_then(|src| x.chunks_exact(channels).nth(src)) else { continue };
            if fast > 0 {
                let (pa, pw) = (acc.as_mut_ptr(), w.as_ptr().wrapping_add(j));
                // SAFETY: the loop reads `fast` `i16`s of `row` (`channels` long), the bytes
                // `w[c * k + j]` for `c < fast` (`fast * k <= w.len()`, `j < k`) and reads and
                // writes `fast` `i32`s of `acc`, word-aligned for `LDM` and `STM`, 4 per pass,
                // at least one; `LDR` takes any address on these cores; `acc` is the only
                // memory written, borrowed mutably here.
                unsafe {
                    asm!(
                        "2:",
                        "ldm {acc}, {{r8, r9, r10, r11}}",
                        "ldr {x}, [{row}], #4",
                        "ldrsb {w}, [{pw}]",
                        "smlabb r8, {x}, {w}, r8",
                        "ldrsb {w}, [{pw}, {k}]",
                        "smlatb r9, {x}, {w}, r9",
                        "add {pw}, {pw}, {k2}",
                        "ldr {x}, [{row}], #4",
                        "ldrsb {w}, [{pw}]",
                        "smlabb r10, {x}, {w}, r10",
                        "ldrsb {w}, [{pw}, {k}]",
                        "smlatb r11, {x}, {w}, r11",
                        "add {pw}, {pw}, {k2}",
                        "stm {acc}!, {{r8, r9, r10, r11}}",
                        "cmp {acc}, {end}",
                        "bne 2b",
                        acc = inout(reg) pa => _,
                        row = inout(reg) row.as_ptr() => _,
                        pw = inout(reg) pw => _,
                        end = in(reg) pa.wrapping_add(fast),
                        k = in(reg) k,
                        k2 = in(reg) 2 * k,
                        x = out(reg) _,
                        w = out(reg) _,
                        out("r8") _,
                        out("r9") _,
                        out("r10") _,
                        out("r11") _,
                        options(nostack),
                    );
                }
            }
            // The channels past the loop's, as `generic::depthwise`.
            for (c, (a, &xv)) in acc.iter_mut().zip(row).enumerate().skip(fast) {
                if let Some(&tap) = w.get(c * k + j) {
                    *a = a.wrapping_add(i32::from(xv).wrapping_mul(i32::from(tap)));
                }
            }
        }
    }
}

/// [`Kernels::dense`] and [`Kernels::dense_i8`]: token quads, then pairs, through the packed
/// layouts of the module doc (`DspInput` packs either type into them).
fn dense_tokens<X: DspInput>(x: &[X], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
    let groups = layer.groups.max(1);

    let (ig, og) = (ins / groups, layer.bias.len() / groups);
    // As in `generic::dense_rows`; each size is tested on its own so that the optimiser sees
    // that no chunk size or divisor below is 0 (no panic site).
    let Some(block) = ig.checked_mul(og).filter(|&block| block > 0 && ig > 0 && og > 0) else { return };
    // SAFETY: every bit pattern of two `i16`s is a valid `u32`.
    let (_, words, _) = unsafe { scratch.align_to_mut::<u32>() };
    let rows = x.len() / ins.max(1);
    // Inputs per group the loop takes (a token pair needs one scratch word per input); the
    // rest, or all of them for shapes it does not take, are summed in Rust.
    let aligned = ig % 4 == 0 && layer.weight.as_ptr() as usize % 4 == 0;
    let fast = if aligned { ig.min(words.len()) / 32 * 32 } else { 0 };
    // Token quads first (two scratch words per input), then pairs.
    let fast_quad = if aligned { ig.min(words.len() / 2) / 32 * 32 } else { 0 };
    let quad_rows = if fast_quad > 0 { rows / 4 * 4 } else { 0 };
    // The pair loop's sums, and the runs for the sink (a pair uses the first two).
    let mut sums = [0i32; 2 * CHANNELS];
    let mut runs = [[0i32; CHANNELS]; 4];
    let rows_bytes = ig.saturating_mul(CHANNELS).max(1);
    // The same groups as `generic::dense_rows`: as many as there are whole input spans,
    // weight blocks and bias blocks (no `zip` of the two: its outlined constructor divides
    // by the chunk sizes, a panic site the optimiser cannot remove).
    let mut b_groups = layer.bias.chunks_exact(og);
    for (g, w_group) in layer.weight.chunks_exact(block).take(ins / ig).enumerate() {
        let Some(b_group) = b_groups.next() else { break };
        let span = g * ig..(g + 1) * ig;
        // Rows done by quads.
        let mut done = 0;
        let mut quads = x.chunks_exact(ins).filter_map(|row| row.get(span.clone())).take(quad_rows);
        while let (Some(a), Some(b), Some(c), Some(d)) = (quads.next(), quads.next(), quads.next(), quads.next()) {
            let tokens = [a, b, c, d];
            X::pack_quad(words, fast_quad, tokens);
            let rest = |t: usize, from: usize, w: &[i8]| tokens.get(t).map_or(0, |x| rest_of(x, from, w));
            let mut bias_blocks = b_group.chunks(CHANNELS);
            for (k, w_rows) in w_group.chunks(rows_bytes).enumerate() {
                let Some(biases) = bias_blocks.next() else { break };
                let n = quad_run(words, fast_quad, (ig, &rest), (w_rows, biases), &mut runs);
                for (t, run) in (done..).zip(&runs) {
                    sink(t, g * og + k * CHANNELS, run.get(..n).unwrap_or(&[]));
                }
            }
            done += 4;
        }
        let [run_a, run_b, ..] = &mut runs;
        let mut rows = x.chunks_exact(ins).filter_map(|row| row.get(span.clone())).enumerate().skip(done);
        while let Some((t, a)) = rows.next() {
            let b = rows.next();
            X::pack(words, fast, a, b.map_or(a, |(_, b)| b));
            let tokens = [Some(a), b.map(|(_, b)| b)];
            let rest = |t: usize, from: usize, w: &[i8]| tokens.get(t).copied().flatten().map_or(0, |x| rest_of(x, from, w));
            let mut bias_blocks = b_group.chunks(CHANNELS);
            for (c, w_rows) in w_group.chunks(rows_bytes).enumerate() {
                let Some(biases) = bias_blocks.next() else { break };
                let n = pair_run(words, fast, (ig, &rest), (w_rows, biases), &mut sums, (run_a, run_b));
                let o0 = g * og + c * CHANNELS;
                sink(t, o0, run_a.get(..n).unwrap_or(&[]));
                if let Some((u, _)) = b {
                    sink(u, o0, run_b.get(..n).unwrap_or(&[]));
                }
            }
        }
    }
}

/// `rest(t, from, w)`: the sum of token `t`'s inputs from `from` on times the weight row `w`
/// from `from` on (0 for a token that is not there): the inputs the packed loops did not take.
/// A trait object, so that `pair_run` and `quad_run` exist once for both input types.
type Rest<'r> = dyn Fn(usize, usize, &[i8]) -> i32 + 'r;

/// The [`Rest`] of one token row `x`.
fn rest_of<X: DspInput>(x: &[X], from: usize, w: &[i8]) -> i32 {
    generic::dot(x.get(from..).unwrap_or(&[]), w.get(from..).unwrap_or(&[]))
}

/// `bias + W x` of up to [`CHANNELS`] output rows `w_rows` for tokens `a` and `b` (or `a`
/// alone) into `run_a` and `run_b`; returns the rows done. The first `fast` inputs come from
/// the loop over `packed` (`pack`'s layout), the rest from `rest`. Not generic: one copy of
/// this code for both input types however many sinks call `dense`.
#[inline(never)]
fn pair_run(
    packed: &[u32],
    fast: usize,
    (ig, rest): (usize, &Rest<'_>),
    (w_rows, biases): (&[i8], &[i32]),
    sums: &mut [i32; 2 * CHANNELS],
    (run_a, run_b): (&mut [i32; CHANNELS], &mut [i32; CHANNELS]),
) -> usize {
    let ig = ig.max(1);
    let n = biases.len().min(w_rows.len() / ig).min(CHANNELS);
    if fast > 0 && n > 0 && fast <= packed.len() && fast <= ig {
        let (packed, w) = (packed.as_ptr(), w_rows.as_ptr());
        // SAFETY: `fast` is a non-zero multiple of 32 (`dense`), at most `packed.len()` and at
        // most `ig`; the `n` rows of `ig` bytes from `w` lie in `w_rows` and are word-aligned
        // because the weights and `ig` are (`dense` checks both before choosing a non-zero
        // `fast`); `n <= CHANNELS`, so the `2 * n` sums fit `sums`.
        unsafe {
            let pass = match fast % 128 {
                0 => channels_128,
                64 => channels_64,
                _ => channels_32,
            };
            pass(packed, packed.add(fast), w, w.add(n * ig), ig - fast, sums.as_mut_ptr());
        }
    }
    // The inputs past the loop's, onto its sums (0 where it did not run).
    let loop_ran = fast > 0;
    // (No `zip` of two chunk iterators: see `dense`.)
    let mut rows = w_rows.chunks_exact(ig);
    for (((pair, &bias), ya), yb) in sums.chunks_exact(2).zip(biases).zip(run_a.iter_mut()).zip(run_b.iter_mut()).take(n) {
        let (Some(w), &[loop_a, loop_b]) = (rows.next(), pair) else { break };
        let (loop_a, loop_b) = if loop_ran { (loop_a, loop_b) } else { (0, 0) };
        let (rest_a, rest_b) = if fast < ig { (rest(0, fast, w), rest(1, fast, w)) } else { (0, 0) };
        *ya = bias.wrapping_add(loop_a).wrapping_add(rest_a);
        *yb = bias.wrapping_add(loop_b).wrapping_add(rest_b);
    }
    n
}

/// 4 inputs of `pack`: `(a0, a1) (a2, a3)` -> r8 r9 = `(a0, a2) (a1, a3)`, the same for `b`
/// into r10 r11, stored as one group of 4 words.
macro_rules! pack_four {
    () => {
        concat!(
            "ldr {x}, [{a}], #4\n",
            "ldr {y}, [{a}], #4\n",
            "pkhbt r8, {x}, {y}, lsl #16\n",
            "pkhtb r9, {y}, {x}, asr #16\n",
            "ldr {x}, [{b}], #4\n",
            "ldr {y}, [{b}], #4\n",
            "pkhbt r10, {x}, {y}, lsl #16\n",
            "pkhtb r11, {y}, {x}, asr #16\n",
            "stm {d}!, {{r8, r9, r10, r11}}\n",
        )
    };
}

/// Writes the first `n` inputs (a multiple of 32) of tokens `a` and `b` into `words` in the
/// loop's order (module doc).
fn pack_i16(words: &mut [u32], n: usize, a: &[i16], b: &[i16]) {
    let n = n.min(words.len()).min(a.len()).min(b.len()) / 16 * 16;
    if n == 0 {
        return;
    }
    // SAFETY: the loop reads `n` `i16`s of `a` and of `b` and writes `n` words of `words`, all
    // at least that long, 16 per pass, at least one; `LDR` takes any address on these cores
    // and `words` is word-aligned for `STM`; `words` is the only memory written, borrowed
    // mutably here.
    unsafe {
        asm!(
            "2:",
            pack_four!(),
            pack_four!(),
            pack_four!(),
            pack_four!(),
            "cmp {d}, {end}",
            "bne 2b",
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            d = inout(reg) words.as_mut_ptr() => _,
            end = in(reg) words.as_mut_ptr().wrapping_add(n),
            x = out(reg) _,
            y = out(reg) _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            options(nostack),
        );
    }
}

/// 4 inputs of both tokens against the weight word in register `$w`: r8 to r11 =
/// `(a0, a2) (a1, a3) (b0, b2) (b1, b3)`, r6 = `(w0, w2)`, then `(w1, w3)`.
macro_rules! four_inputs {
    ($w:literal) => {
        concat!(
            "ldm r0!, {{r8, r9, r10, r11}}\n",
            "sxtb16 r6, ", $w, "\n",
            "smlad r3, r8, r6, r3\n",
            "smlad r4, r10, r6, r4\n",
            "sxtb16 r6, ", $w, ", ror #8\n",
            "smlad r3, r9, r6, r3\n",
            "smlad r4, r11, r6, r4\n",
        )
    };
}

/// 16 inputs of both tokens: 4 weight words, then 4 inputs against each.
macro_rules! sixteen_inputs {
    () => {
        concat!(
            "ldm r1!, {{r5, r7, r12, lr}}\n",
            four_inputs!("r5"),
            four_inputs!("r7"),
            four_inputs!("r12"),
            four_inputs!("lr"),
        )
    };
}

/// Defines a channel loop (module doc) whose inner pass covers `16 * n` inputs, `n` being the
/// number of `sixteen_inputs!()` given.
macro_rules! channel_loop {
    ($(#[$doc:meta])* $name:ident, $($pass:expr),+) => {
        $(#[$doc])*
        ///
        /// For every weight row from `w` to `w_end` (a row: one byte per packed input, then
        /// `skip` bytes the loop does not read), writes to `out` the two sums over the packed
        /// inputs of the token pair from `packed` to `end` (one word per input): that row's
        /// `sum_i a[i] * w[i]` and the same for `b`.
        ///
        /// # Safety
        /// `packed..end` is a readable, word-aligned run of a non-zero multiple of the pass's
        /// inputs in words; `w..w_end` is a whole number of rows, at least one, each
        /// word-aligned with its bytes readable; `out` is writable for two `i32`s per row.
        #[inline(never)]
        unsafe fn $name(packed: *const u32, end: *const u32, w: *const i8, w_end: *const i8, skip: usize, out: *mut i32) {
            // SAFETY: the caller's contract: the loop reads the words `packed..end` and as many
            // bytes of each weight row, word-aligned as `LDM` needs, in whole passes, at least
            // one, and writes two words per row from `out`. It saves r6 and r7, which it may
            // not name as operands, and restores them and `sp` before it ends.
            unsafe {
                asm!(
                    // [sp]: activations' start, output pointer, end of the weight rows, skip.
                    "push {{r0, r3, r4, r5, r6, r7}}",
                    "3:",
                    "movs r3, #0",
                    "movs r4, #0",
                    "2:",
                    $($pass,)+
                    "cmp r0, r2",
                    "bne 2b",
                    "ldrd r0, r7, [sp]",
                    "stm r7!, {{r3, r4}}",
                    "str r7, [sp, #4]",
                    "ldrd r6, r7, [sp, #8]",
                    "add r1, r7",
                    "cmp r1, r6",
                    "bne 3b",
                    "pop {{r0, r3, r4, r5, r6, r7}}",
                    inout("r0") packed => _,
                    inout("r1") w => _,
                    in("r2") end,
                    inout("r3") out => _,
                    inout("r4") w_end => _,
                    inout("r5") skip => _,
                    out("r8") _,
                    out("r9") _,
                    out("r10") _,
                    out("r11") _,
                    out("r12") _,
                    out("lr") _,
                );
            }
        }
    };
}

channel_loop!(
    /// The channel loop with passes of 128 inputs.
    channels_128,
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!()
);

channel_loop!(
    /// The channel loop with passes of 64 inputs, for inputs per group that are not a
    /// multiple of 128.
    channels_64,
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!(),
    sixteen_inputs!()
);

channel_loop!(
    /// The channel loop with passes of 32 inputs, for inputs per group that are not a
    /// multiple of 64.
    channels_32,
    sixteen_inputs!(),
    sixteen_inputs!()
);

/// `bias + W x` of up to [`CHANNELS`] output rows `w_rows` for the 4 `tokens` into `runs`;
/// returns the rows done. The quad loop over `packed` (`pack_quad`'s layout) writes `bias` plus
/// the first `fast` inputs' products; `rest` adds the others. Not generic, as `pair_run`.
#[inline(never)]
fn quad_run(packed: &[u32], fast: usize, (ig, rest): (usize, &Rest<'_>), (w_rows, biases): (&[i8], &[i32]), runs: &mut [[i32; CHANNELS]; 4]) -> usize {
    let ig = ig.max(1);
    let n = biases.len().min(w_rows.len() / ig).min(CHANNELS);
    let loop_ran = fast > 0 && n > 0 && fast <= packed.len() / 2 && fast <= ig;
    if loop_ran {
        let (packed, w, out) = (packed.as_ptr(), w_rows.as_ptr(), runs.as_mut_ptr().cast::<i32>());
        let to_bias = (biases.as_ptr() as usize).wrapping_sub(out as usize);
        // SAFETY: `fast` is a non-zero multiple of 32 (`dense`), at most half of
        // `packed.len()` and at most `ig`; the `n` rows of `ig` bytes from `w` lie in `w_rows`
        // and are word-aligned because the weights and `ig` are (`dense` checks both before
        // choosing a non-zero `fast`); `n <= CHANNELS`, so the `n` biases from `out + to_bias`
        // lie in `biases` and the 4 runs of `n` sums in `runs`.
        unsafe {
            let pass = if fast % 64 == 0 { quads_64 } else { quads_32 };
            pass(packed, packed.add(2 * fast), w, w.add(n * ig), ig - fast, out, to_bias);
        }
        if fast == ig {
            return n;
        }
    }
    // The inputs past the loop's, onto its sums (all of them, onto the bias, where it did not
    // run).
    let from = if loop_ran { fast } else { 0 };
    let mut rows = w_rows.chunks_exact(ig);
    for (o, &bias) in biases.iter().take(n).enumerate() {
        let Some(w) = rows.next() else { break };
        for (t, run) in runs.iter_mut().enumerate() {
            if let Some(y) = run.get_mut(o) {
                *y = if loop_ran { *y } else { bias }.wrapping_add(rest(t, from, w));
            }
        }
    }
    n
}

/// 4 inputs of `pack_quad`, one token after the other: `(x0, x1) (x2, x3)` -> `(x0, x2)` into
/// r8 to r11 (stored by the caller with one `STM`), `(x1, x3)` 16 bytes further on.
macro_rules! pack_quad_four {
    () => {
        concat!(
            "ldr {x}, [{a}], #4\n",
            "ldr {y}, [{a}], #4\n",
            "pkhbt r8, {x}, {y}, lsl #16\n",
            "pkhtb {x}, {y}, {x}, asr #16\n",
            "str {x}, [{dst}, #16]\n",
            "ldr {x}, [{b}], #4\n",
            "ldr {y}, [{b}], #4\n",
            "pkhbt r9, {x}, {y}, lsl #16\n",
            "pkhtb {x}, {y}, {x}, asr #16\n",
            "str {x}, [{dst}, #20]\n",
            "ldr {x}, [{c}], #4\n",
            "ldr {y}, [{c}], #4\n",
            "pkhbt r10, {x}, {y}, lsl #16\n",
            "pkhtb {x}, {y}, {x}, asr #16\n",
            "str {x}, [{dst}, #24]\n",
            "ldr {x}, [{d}], #4\n",
            "ldr {y}, [{d}], #4\n",
            "pkhbt r11, {x}, {y}, lsl #16\n",
            "pkhtb {x}, {y}, {x}, asr #16\n",
            "str {x}, [{dst}, #28]\n",
            "stm {dst}!, {{r8, r9, r10, r11}}\n",
            "add {dst}, {dst}, #16\n",
        )
    };
}

/// Writes the first `n` inputs (a multiple of 32) of the 4 `tokens` into `words` in the quad
/// loop's order (module doc), two words per input.
fn pack_quad_i16(words: &mut [u32], n: usize, tokens: [&[i16]; 4]) {
    let [a, b, c, d] = tokens;
    let n = n.min(words.len() / 2).min(a.len()).min(b.len()).min(c.len()).min(d.len()) / 16 * 16;
    if n == 0 {
        return;
    }
    // SAFETY: the loop reads `n` `i16`s of each token and writes `2 * n` words of `words`, all
    // at least that long, 16 inputs per pass, at least one; `LDR` takes any address on these
    // cores and `words` is word-aligned for `STM` and `STR`; `words` is the only memory
    // written, borrowed mutably here.
    unsafe {
        asm!(
            "2:",
            pack_quad_four!(),
            pack_quad_four!(),
            pack_quad_four!(),
            pack_quad_four!(),
            "cmp {dst}, {end}",
            "bne 2b",
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            c = inout(reg) c.as_ptr() => _,
            d = inout(reg) d.as_ptr() => _,
            dst = inout(reg) words.as_mut_ptr() => _,
            end = in(reg) words.as_mut_ptr().wrapping_add(2 * n),
            x = out(reg) _,
            y = out(reg) _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            options(nostack),
        );
    }
}

/// 4 inputs' halves of all 4 tokens against the weight pair `$w` sign-extends to: r8 to r11
/// = `(a0, a2) (b0, b2) (c0, c2) (d0, d2)` against `(w0, w2)` in lr (or the odd halves).
macro_rules! quad_half {
    ($w:literal) => {
        concat!(
            "sxtb16 lr, ", $w, "\n",
            "ldm r0!, {{r8, r9, r10, r11}}\n",
            "smlad r3, r8, lr, r3\n",
            "smlad r4, r9, lr, r4\n",
            "smlad r5, r10, lr, r5\n",
            "smlad r6, r11, lr, r6\n",
        )
    };
}

/// 8 inputs of 4 tokens: 2 weight words (r7, r12) by `LDRD`, then each one's even and odd
/// pairs.
macro_rules! eight_quad {
    () => {
        concat!(
            "ldrd r7, r12, [r1], #8\n",
            quad_half!("r7"),
            quad_half!("r7, ror #8"),
            quad_half!("r12"),
            quad_half!("r12, ror #8"),
        )
    };
}

/// Defines a quad channel loop (module doc) whose inner pass covers `8 * n` inputs, `n` being
/// the number of `eight_quad!()` given.
macro_rules! quad_loop {
    ($(#[$doc:meta])* $name:ident, $($pass:expr),+) => {
        $(#[$doc])*
        ///
        /// For every weight row from `w` to `w_end` (a row: one byte per packed input, then
        /// `skip` bytes the loop does not read), writes the row's bias (read `to_bias` bytes
        /// past its output) plus the sum over the packed inputs of the token quad from
        /// `packed` to `end` (two words per input) to `out` for token `a`, and [`CHANNELS`],
        /// `2 * CHANNELS` and `3 * CHANNELS` words further on for `b`, `c` and `d`, then steps
        /// `out` one word on.
        ///
        /// # Safety
        /// `packed..end` is a readable, word-aligned run of twice a non-zero multiple of the
        /// pass's inputs in words; `w..w_end` is a whole number of rows, at least one, each
        /// word-aligned with its bytes readable; from `out`, one word per row is writable in
        /// each of the 4 runs, and readable `to_bias` bytes on.
        #[inline(never)]
        unsafe fn $name(packed: *const u32, end: *const u32, w: *const i8, w_end: *const i8, skip: usize, out: *mut i32, to_bias: usize) {
            // SAFETY: the caller's contract: the loop reads the words `packed..end` and half as
            // many bytes of each weight row, word-aligned as `LDM` and `LDRD` need, in whole
            // passes, at least one, reads one bias and writes one word of each run per row. It
            // saves r6 and r7, which it may not name as operands, and restores them and `sp`
            // before it ends.
            unsafe {
                asm!(
                    "push {{r6, r7}}",
                    // [sp]: activations' start, output pointer, bias offset, end of the weight
                    // rows, skip.
                    "push.w {{r0, r3, r4, r5, r8}}",
                    "3:",
                    "ldrd r7, r12, [sp, #4]",
                    "ldr r3, [r7, r12]",
                    "mov r4, r3",
                    "mov r5, r3",
                    "mov r6, r3",
                    "2:",
                    $($pass,)+
                    "cmp r0, r2",
                    "bne 2b",
                    "ldrd r0, r7, [sp]",
                    "str r4, [r7, #{b}]",
                    "str r5, [r7, #{c}]",
                    "str r6, [r7, #{d}]",
                    "str r3, [r7], #4",
                    "str r7, [sp, #4]",
                    "ldrd r12, lr, [sp, #12]",
                    "add r1, lr",
                    "cmp r1, r12",
                    "bne 3b",
                    "pop.w {{r0, r3, r4, r5, r8}}",
                    "pop {{r6, r7}}",
                    b = const 4 * CHANNELS,
                    c = const 8 * CHANNELS,
                    d = const 12 * CHANNELS,
                    inout("r0") packed => _,
                    inout("r1") w => _,
                    in("r2") end,
                    inout("r3") out => _,
                    inout("r4") to_bias => _,
                    inout("r5") w_end => _,
                    inout("r8") skip => _,
                    out("r9") _,
                    out("r10") _,
                    out("r11") _,
                    out("r12") _,
                    out("lr") _,
                );
            }
        }
    };
}

quad_loop!(
    /// The quad channel loop with passes of 64 inputs.
    quads_64,
    eight_quad!(),
    eight_quad!(),
    eight_quad!(),
    eight_quad!(),
    eight_quad!(),
    eight_quad!(),
    eight_quad!(),
    eight_quad!()
);

quad_loop!(
    /// The quad channel loop with passes of 32 inputs, for inputs per group that are not a
    /// multiple of 64.
    quads_32,
    eight_quad!(),
    eight_quad!(),
    eight_quad!(),
    eight_quad!()
);

/// The activations the packed loops take: int16 rows, whose pairs `PKHBT`/`PKHTB` sort into
/// even and odd halves, or int8 rows (the FFN's), which `SXTB16` widens straight into them:
/// `SXTB16 x` is `(x0, x2)` and `SXTB16 x, ROR #8` is `(x1, x3)`.
trait DspInput: Copy + Into<i32> {
    /// The pair loop's layout of the first `n` inputs of `a` and `b` (module doc).
    fn pack(words: &mut [u32], n: usize, a: &[Self], b: &[Self]);
    /// The quad loop's layout of the first `n` inputs of the 4 `tokens` (module doc).
    fn pack_quad(words: &mut [u32], n: usize, tokens: [&[Self]; 4]);
}

impl DspInput for i16 {
    fn pack(words: &mut [u32], n: usize, a: &[i16], b: &[i16]) {
        pack_i16(words, n, a, b);
    }
    fn pack_quad(words: &mut [u32], n: usize, tokens: [&[i16]; 4]) {
        pack_quad_i16(words, n, tokens);
    }
}

/// 4 int8 inputs of token `$x` (one word) widened to `(x0, x2)` in `$even` and `(x1, x3)`
/// stored at `[{dst}, $odd]`.
macro_rules! widen_four {
    ($x:literal, $even:literal, $odd:literal) => {
        concat!(
            "ldr {y}, [", $x, "], #4\n",
            "sxtb16 ", $even, ", {y}\n",
            "sxtb16 {y}, {y}, ror #8\n",
            "str {y}, [{dst}, #", $odd, "]\n",
        )
    };
}

impl DspInput for i8 {
    fn pack(words: &mut [u32], n: usize, a: &[i8], b: &[i8]) {
        let n = n.min(words.len()).min(a.len()).min(b.len()) / 4 * 4;
        if n == 0 {
            return;
        }
        // SAFETY: each pass reads 4 bytes of `a` and of `b` and writes 4 words of `words`; `n / 4`
        // passes read `n` bytes of each (their lengths are at least `n`) and write `n` words
        // (`words.len() >= n`). `LDR` takes any address on these cores and `words` is
        // word-aligned for `STR`; `words` is the only memory written, borrowed mutably here.
        unsafe {
            asm!(
                "2:",
                widen_four!("{a}", "{x}", "4"),
                "str {x}, [{dst}]",
                widen_four!("{b}", "{x}", "12"),
                "str {x}, [{dst}, #8]",
                "add {dst}, {dst}, #16",
                "cmp {dst}, {end}",
                "bne 2b",
                a = inout(reg) a.as_ptr() => _,
                b = inout(reg) b.as_ptr() => _,
                dst = inout(reg) words.as_mut_ptr() => _,
                end = in(reg) words.as_mut_ptr().wrapping_add(n),
                x = out(reg) _,
                y = out(reg) _,
                options(nostack),
            );
        }
    }

    fn pack_quad(words: &mut [u32], n: usize, tokens: [&[i8]; 4]) {
        let [a, b, c, d] = tokens;
        let n = n.min(words.len() / 2).min(a.len()).min(b.len()).min(c.len()).min(d.len()) / 4 * 4;
        if n == 0 {
            return;
        }
        // SAFETY: each pass reads 4 bytes of each token and writes 8 words of `words`; `n / 4`
        // passes read `n` bytes of each token (their lengths are at least `n`) and write `2 n`
        // words (`words.len() >= 2 n`). `LDR` takes any address on these cores and `words` is
        // word-aligned for `STM` and `STR`; `words` is the only memory written, borrowed
        // mutably here.
        unsafe {
            asm!(
                "2:",
                widen_four!("{a}", "r8", "16"),
                widen_four!("{b}", "r9", "20"),
                widen_four!("{c}", "r10", "24"),
                widen_four!("{d}", "r11", "28"),
                "stm {dst}!, {{r8, r9, r10, r11}}",
                "add {dst}, {dst}, #16",
                "cmp {dst}, {end}",
                "bne 2b",
                a = inout(reg) a.as_ptr() => _,
                b = inout(reg) b.as_ptr() => _,
                c = inout(reg) c.as_ptr() => _,
                d = inout(reg) d.as_ptr() => _,
                dst = inout(reg) words.as_mut_ptr() => _,
                end = in(reg) words.as_mut_ptr().wrapping_add(2 * n),
                y = out(reg) _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                options(nostack),
            );
        }
    }
}
