//! [`Kernels::dense`] for the Arm DSP extension (Cortex-M4/M7/M33): `SMLAD`, two int16 MACs
//! per instruction. The other methods are the portable ones.
//!
//! # Tile and data layout
//! One pass of the inner loop computes one output channel for two token rows `a` and `b`, so
//! every weight word loaded serves two tokens. `SXTB16 w` turns the int8 weight word
//! `[w0 w1 w2 w3]` into the int16 pair `(w0, w2)`, and `SXTB16 w, ROR #8` into `(w1, w3)`;
//! `SMLAD acc, x, w` adds `lo(x) * lo(w) + hi(x) * hi(w)`. So that each activation word meets
//! the weight pair it multiplies, the two tokens' inputs of the current group are repacked
//! into `scratch` once per token pair, for every 4 inputs as the 4 words
//! `(a0, a2) (a1, a3) (b0, b2) (b1, b3)`, which one `LDM` loads; the repacking is shared by
//! all output channels of the group.
//!
//! Per 8 inputs the loop runs 1 `LDM` of 2 weight words, 2 `LDM`s of 4 activation words, 4
//! `SXTB16` and 8 `SMLAD`: 15 instructions for 16 MACs. A pass covers [`BLOCK`] inputs, so
//! `CMP` + `BNE` add 2 per 64 MACs: 62 + 2 instructions for 64 MACs. `SMLAD` wraps like the
//! portable `i32` sums (an overflow only sets the sticky Q flag, which nothing reads).
//!
//! # Registers
//! `LDM` fills its registers in ascending order, so they are named, not allocated: r0
//! activations (scratch) pointer, r1 weight pointer, r2 end of the activations, r3 and r4 the
//! sums of tokens `a` and `b`, r5 r8 r9 r10 the 4 activation words, r11 r12 two weight words,
//! lr the weight pair being multiplied. That is every register `asm!` may use on Thumb (r6,
//! r7 (frame pointer), sp and pc are not).
//!
//! # Shapes the loop does not take
//! Inputs past the last whole block of the group, or past what `scratch` holds, are summed in
//! Rust after the loop; an odd last token is paired with itself (its second sum is dropped).
//! `LDM` needs word-aligned weight rows (the blob aligns every tensor to 16 bytes): with
//! misaligned rows or inputs per group not a multiple of 4, Rust sums every input.

// `asm!` is the only way to `SMLAD` on stable Rust; each unsafe block says why it is sound.
#![allow(unsafe_code)]

use super::{generic, Kernels};
use crate::int8::QDense;
use core::arch::asm;

/// Inputs per pass of the inner loop.
const BLOCK: usize = 32;

/// The DSP-extension kernels; see the module doc.
pub struct ArmDsp;

impl Kernels for ArmDsp {
    fn dense<S: FnMut(usize, usize, i32)>(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut S) {
        let groups = layer.groups.max(1);
        let (ig, og) = (ins / groups, layer.bias.len() / groups);
        // As in `generic::dense_rows`; each size is tested on its own so that the optimiser sees
        // that no chunk size or divisor below is 0 (no panic site).
        let Some(block) = ig.checked_mul(og).filter(|&block| block > 0 && ig > 0 && og > 0) else { return };
        // SAFETY: every bit pattern of two `i16`s is a valid `u32`.
        let (_, words, _) = unsafe { scratch.align_to_mut::<u32>() };
        // Inputs per group the loop takes (a token pair needs one scratch word per input); the
        // rest, or all of them for shapes it does not take, are summed in Rust.
        let aligned = ig % 4 == 0 && layer.weight.as_ptr() as usize % 4 == 0;
        let fast = if aligned { ig.min(words.len()) / BLOCK * BLOCK } else { 0 };
        // The same groups as `generic::dense_rows`: as many as there are whole input spans,
        // weight blocks and bias blocks (no `zip` of the two: its outlined constructor divides
        // by the chunk sizes, a panic site the optimiser cannot remove).
        let mut b_groups = layer.bias.chunks_exact(og);
        for (g, w_group) in layer.weight.chunks_exact(block).take(ins / ig).enumerate() {
            let Some(b_group) = b_groups.next() else { break };
            let span = g * ig..(g + 1) * ig;
            let mut rows = x.chunks_exact(ins).filter_map(|row| row.get(span.clone())).enumerate();
            while let Some((t, a)) = rows.next() {
                let b = rows.next();
                pack(words, fast, a, b.map_or(a, |(_, b)| b));
                let (packed, end) = (words.as_ptr(), words.as_ptr().wrapping_add(fast));
                for (o, (w, &bias)) in w_group.chunks_exact(ig).zip(b_group).enumerate() {
                    let (mut sum_a, mut sum_b) = (bias, bias);
                    if fast > 0 {
                        // SAFETY: `fast` is a non-zero multiple of `BLOCK`, at most `words.len()`
                        // and at most `ig = w.len()`; `w` is word-aligned because the weights
                        // and `ig` are.
                        (sum_a, sum_b) = unsafe { dot2(packed, end, w.as_ptr(), bias) };
                    }
                    if fast < ig {
                        let rest = |x: &[i16]| generic::dot(x.get(fast..).unwrap_or(&[]), w.get(fast..).unwrap_or(&[]));
                        sum_a = sum_a.wrapping_add(rest(a));
                        sum_b = sum_b.wrapping_add(b.map_or(0, |(_, b)| rest(b)));
                    }
                    let o = g * og + o;
                    sink(t, o, sum_a);
                    if let Some((t, _)) = b {
                        sink(t, o, sum_b);
                    }
                }
            }
        }
    }
}

/// Writes the first `n` inputs of tokens `a` and `b` into `words` in the loop's order (module
/// doc).
fn pack(words: &mut [u32], n: usize, a: &[i16], b: &[i16]) {
    let pair = |lo: i16, hi: i16| u32::from(lo as u16) | u32::from(hi as u16) << 16;
    let chunks = words.chunks_exact_mut(4).zip(a.chunks_exact(4).zip(b.chunks_exact(4))).take(n / 4);
    for (dst, (a, b)) in chunks {
        if let ([d0, d1, d2, d3], [a0, a1, a2, a3], [b0, b1, b2, b3]) = (dst, a, b) {
            (*d0, *d1, *d2, *d3) = (pair(*a0, *a2), pair(*a1, *a3), pair(*b0, *b2), pair(*b1, *b3));
        }
    }
}

/// 4 inputs of both tokens against the weight word in register `$w`: r5 r8 r9 r10 =
/// `(a0, a2) (a1, a3) (b0, b2) (b1, b3)`, lr = `(w0, w2)`, then `(w1, w3)`.
macro_rules! four_inputs {
    ($w:literal) => {
        concat!(
            "ldm r0!, {{r5, r8, r9, r10}}\n",
            "sxtb16 lr, ", $w, "\n",
            "smlad r3, r5, lr, r3\n",
            "smlad r4, r9, lr, r4\n",
            "sxtb16 lr, ", $w, ", ror #8\n",
            "smlad r3, r8, lr, r3\n",
            "smlad r4, r10, lr, r4\n",
        )
    };
}

/// `bias + sum_i a[i] * w[i]` and the same for `b`, over the inputs of the token pair packed
/// from `packed` to `end` (one word per input).
///
/// # Safety
/// `packed..end` is a readable, word-aligned run of a non-zero multiple of [`BLOCK`] words;
/// `w` is word-aligned and as many bytes from it (one per input) are readable.
#[inline(always)]
unsafe fn dot2(packed: *const u32, end: *const u32, w: *const i8, bias: i32) -> (i32, i32) {
    let (mut a, mut b) = (bias, bias);
    // SAFETY: the caller's contract: the loop reads the words `packed..end` and as many
    // weight bytes, word-aligned as `LDM` needs, in whole blocks, at least one. It writes only
    // the registers it names as outputs, and no memory.
    unsafe {
        asm!(
            "2:",
            "ldm r1!, {{r11, r12}}",
            four_inputs!("r11"),
            four_inputs!("r12"),
            "ldm r1!, {{r11, r12}}",
            four_inputs!("r11"),
            four_inputs!("r12"),
            "ldm r1!, {{r11, r12}}",
            four_inputs!("r11"),
            four_inputs!("r12"),
            "ldm r1!, {{r11, r12}}",
            four_inputs!("r11"),
            four_inputs!("r12"),
            "cmp r0, r2",
            "bne 2b",
            inout("r0") packed => _,
            inout("r1") w => _,
            in("r2") end,
            inout("r3") a,
            inout("r4") b,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
            options(pure, readonly, nostack),
        );
    }
    (a, b)
}
