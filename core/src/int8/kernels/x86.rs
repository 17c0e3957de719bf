//! x86-64 host kernels, chosen at run time: the `convbert` host tools and the benchmarks run on
//! whatever x86-64 machine they land on, so the vector code cannot be chosen at compile time
//! (a `-C target-cpu` build would refuse to start on an older CPU).
//!
//! # Dispatch
//!
//! [`X86`] is the [`Kernels`] implementation. Each of its methods asks [`level`] what this CPU
//! runs and calls that level's function, or the portable code of [`generic`]. The first call
//! asks the CPU (`CPUID` and `XGETBV`, see [`detect`]: `core` has no `is_x86_feature_detected!`,
//! that macro is `std`'s); the answer is kept in an atomic, so that every later call costs one
//! relaxed load and a compare. The level's functions are `#[target_feature(enable = ...)]`:
//! calling one is the `unsafe` step, sound because [`level`] said the CPU has the feature.
//!
//! Levels are ordered, each implying the ones below it, so that a method with no code of its own
//! at a higher level runs the best one below. An AVX-512 VNNI level (`VPDPWSSD`: 32 int16
//! products summed into 16 `i32` lanes in one instruction) would be a new [`Level`] variant
//! above [`Level::Avx2`], a test of its CPUID and XCR0 bits (ZMM and opmask state) in
//! [`detect`], a module `x86/avx512.rs`, and an arm in the methods it makes faster.
//!
//! The level's code is in [`avx2`]; its module doc describes the kernels.

// The crate denies `unsafe`; this module calls the `#[target_feature]` kernels after detection.
#![allow(unsafe_code)]

mod avx2;

use core::arch::x86_64::{__cpuid_count, _xgetbv};
use core::sync::atomic::{AtomicU8, Ordering};

use super::{generic, Kernels, Sink};
use crate::int8::{QDense, Requant};

/// The vector code this CPU runs, worst first: each level implies every level below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Level {
    /// No usable vector extension: [`generic`].
    Portable = 1,
    /// AVX2, with the OS saving the YMM registers: [`avx2`].
    Avx2 = 2,
}

/// [`level`]'s answer as its `u8`, 0 until the first call has asked the CPU.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The level this CPU runs, detected on the first call. Threads racing through the first call
/// all detect, and all store the same value.
#[inline]
fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Portable,
        2 => Level::Avx2,
        _ => {
            let level = detect();
            LEVEL.store(level as u8, Ordering::Relaxed);
            level
        }
    }
}

/// Whether this CPU runs the AVX2 kernels.
#[inline]
fn avx2() -> bool {
    level() >= Level::Avx2
}

/// Asks the CPU. AVX2 needs three answers: the CPU has it (CPUID leaf 7, EBX bit 5), the CPU
/// has AVX and the OS has enabled `XGETBV` (leaf 1, ECX bits 28 and 27), and the OS saves the
/// SSE and AVX register state on a context switch (XCR0 bits 1 and 2), without which the upper
/// halves of the YMM registers would be lost between threads.
fn detect() -> Level {
    // Leaf 0 says how many leaves there are; 7 is needed.
    if __cpuid_count(0, 0).eax < 7 {
        return Level::Portable;
    }
    let leaf1 = __cpuid_count(1, 0);
    let (osxsave, avx) = (leaf1.ecx & (1 << 27) != 0, leaf1.ecx & (1 << 28) != 0);
    if !(osxsave && avx) {
        return Level::Portable;
    }
    // SAFETY: XGETBV is the `xsave` feature's instruction, and the OS enables it (CR4.OSXSAVE)
    // exactly when CPUID leaf 1 reports OSXSAVE, checked above.
    let xcr0 = unsafe { _xgetbv(0) };
    let ymm_saved = xcr0 & 0b110 == 0b110;
    let avx2 = __cpuid_count(7, 0).ebx & (1 << 5) != 0;
    if ymm_saved && avx2 {
        Level::Avx2
    } else {
        Level::Portable
    }
}

/// `$avx2` where the CPU has AVX2, else `$portable`: the same call of [`avx2`]'s function and
/// of [`generic`]'s.
macro_rules! dispatch {
    ($avx2:expr, $portable:expr) => {
        if avx2() {
            // SAFETY: `avx2()` detected AVX2 and the OS's support of it, all that the
            // `#[target_feature]` function needs.
            unsafe { $avx2 }
        } else {
            $portable
        }
    };
}

/// The x86-64 kernels: [`avx2`] where the CPU has it, [`generic`] otherwise; see the module doc.
pub struct X86;

impl Kernels for X86 {
    fn dense(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        dispatch!(avx2::dense(x, ins, layer, scratch, sink), generic::dense_rows(x, ins, layer, sink))
    }

    fn dense_i8(x: &[i8], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        dispatch!(avx2::dense(x, ins, layer, scratch, sink), generic::dense_rows(x, ins, layer, sink))
    }

    fn activate_i8(acc: &[i32], requant: &[Requant], table: &[i16], out: &mut [i8]) {
        dispatch!(avx2::activate_i8(acc, requant, table, out), generic::activate_i8(acc, requant, table, out))
    }

    fn accumulate(sums: &mut [i32], weight: i32, row: &[i8]) {
        dispatch!(avx2::accumulate(sums, weight, row), generic::accumulate(sums, weight, row))
    }

    fn depthwise(x: &[i16], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
        dispatch!(avx2::depthwise(x, channels, t, w, k, acc), generic::depthwise(x, channels, t, w, k, acc))
    }

    fn requantize_i16(acc: &[i32], requant: &[Requant], out: &mut [i16]) {
        dispatch!(avx2::requantize(acc, requant, out, generic::requantize_i16), generic::requantize_i16(acc, requant, out))
    }

    fn requantize_i8(acc: &[i32], requant: &[Requant], out: &mut [i8]) {
        dispatch!(avx2::requantize(acc, requant, out, generic::requantize_i8), generic::requantize_i8(acc, requant, out))
    }

    fn requantize_i32(acc: &[i32], requant: &[Requant], out: &mut [i32]) {
        dispatch!(avx2::requantize(acc, requant, out, generic::requantize_i32), generic::requantize_i32(acc, requant, out))
    }

    fn activate(values: &mut [i16], table: &[i16]) {
        dispatch!(avx2::activate(values, table), generic::activate(values, table))
    }

    fn scale_i16(acc: &[i32], requant: Requant, out: &mut [i16]) {
        dispatch!(avx2::scale(acc, requant, out, generic::scale_i16), generic::scale_i16(acc, requant, out))
    }

    fn scale_i8(acc: &[i32], requant: Requant, out: &mut [i8]) {
        dispatch!(avx2::scale(acc, requant, out, generic::scale_i8), generic::scale_i8(acc, requant, out))
    }

    fn multiply_i16_i8(a: &mut [i16], b: &[i8], requant: Requant) {
        dispatch!(avx2::multiply_i16_i8(a, b, requant), generic::multiply_i16_i8(a, b, requant))
    }

    fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
        dispatch!(avx2::add_residual(z, branch, residual, residual_rq), generic::add_residual(z, branch, residual, residual_rq))
    }
}

// The shared kernel suite (`tests/on-target/src/kernels.rs`) compares `Native` with `Generic` on
// small shapes; these add the shapes that cross this module's own sizes: token rows past several
// 4-token tiles, runs past the 64 outputs of one sink call, inputs past several 16-wide blocks
// with every tail, and int8 rows past several 16-wide `accumulate` blocks.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::activation::TABLE_LEN;
    use crate::int8::kernels::{Generic, SCRATCH_ROWS};
    use std::vec;
    use std::vec::Vec;

    /// A xorshift generator: deterministic values for every case.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// A random value of `T`, or one of its extremes in a quarter of the cases when `extremes`.
        fn value<T: TryFrom<i64> + Default>(&mut self, min: i64, max: i64, extremes: bool) -> T {
            let v = if extremes && self.below(4) == 0 { [min, max][self.below(2)] } else { min + (self.next() % (max - min + 1) as u64) as i64 };
            T::try_from(v).unwrap_or_default()
        }
        fn requant(&mut self) -> Requant {
            let multiplier = (self.next() >> 33) as i32;
            match self.below(8) {
                0 => Requant { multiplier: self.next() as i32, shift: [0, 1, 32, 63][self.below(4)] },
                1 => Requant { multiplier, shift: 1 + self.below(32) as i32 },
                _ => Requant { multiplier, shift: 33 + self.below(30) as i32 },
            }
        }
    }

    #[test]
    fn detects_what_std_detects() {
        assert_eq!(detect() == Level::Avx2, std::is_x86_feature_detected!("avx2"));
        assert_eq!(level(), detect());
    }

    /// Every `(t, o)` sum of a `dense` or `dense_i8`, checking each is handed over once.
    fn sums<X: Copy>(x: &[X], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], dense: fn(&[X], usize, &QDense<'_>, &mut [i16], &mut Sink<'_>)) -> Vec<Option<i32>> {
        let outs = layer.bias.len();
        let mut out = vec![None; x.len() / ins * outs];
        dense(x, ins, layer, scratch, &mut |t, o0, sums| {
            for (o, &v) in (o0..).zip(sums) {
                assert!(o < outs && out[t * outs + o].replace(v).is_none(), "({t}, {o}) twice");
            }
        });
        out
    }

    #[test]
    fn dense_matches_generic_across_tiles_runs_and_blocks() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..300 {
            let groups = 1 + rng.below(3);
            let ig = 1 + rng.below(100);
            let og = 1 + rng.below(150 / groups);
            let (ins, outs, rows) = (groups * ig, groups * og, 1 + rng.below(13));
            let extremes = rng.below(3) == 0;
            // Rows from an odd offset, as the engine's slices may start anywhere.
            let offset = rng.below(2);
            let x16: Vec<i16> = (0..offset + rows * ins).map(|_| rng.value(-32768, 32767, extremes)).collect();
            let x8: Vec<i8> = (0..offset + rows * ins).map(|_| rng.value(-128, 127, extremes)).collect();
            let w: Vec<i8> = (0..ins / groups * outs).map(|_| rng.value(-128, 127, extremes)).collect();
            let bias: Vec<i32> = (0..outs).map(|_| rng.value(i32::MIN as i64, i32::MAX as i64, extremes)).collect();
            let layer = QDense { weight: &w, bias: &bias, requant: &[], groups };
            let shape = (rows, ins, outs, groups, offset);
            let (x16, x8) = (&x16[offset..], &x8[offset..]);
            // A scratch that holds a tile, or (a fifth of the cases) a random shorter one.
            let full = SCRATCH_ROWS * ins;
            let mut scratch = vec![0i16; if rng.below(5) == 0 { rng.below(full) } else { full }];
            let shape = (shape, scratch.len());
            assert_eq!(sums(x16, ins, &layer, &mut scratch, X86::dense), sums(x16, ins, &layer, &mut [], Generic::dense), "case {case} int16 {shape:?}");
            assert_eq!(sums(x8, ins, &layer, &mut scratch, X86::dense_i8), sums(x8, ins, &layer, &mut [], Generic::dense_i8), "case {case} int8 {shape:?}");
        }
    }

    #[test]
    fn vector_loops_match_generic_past_several_blocks() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut table = [0i16; TABLE_LEN];
        for case in 0..300 {
            let n = rng.below(70);
            let extremes = rng.below(3) == 0;
            let acc: Vec<i32> = (0..n).map(|_| rng.value::<i32>(i32::MIN as i64, i32::MAX as i64, extremes) >> rng.below(20)).collect();
            let mut requant: Vec<Requant> = (0..n).map(|_| rng.requant()).collect();
            if rng.below(2) == 0 {
                let one = rng.requant();
                requant.iter_mut().for_each(|rq| *rq = one);
            }
            let a: Vec<i16> = (0..n).map(|_| rng.value(-32768, 32767, extremes)).collect();
            let b: Vec<i8> = (0..n).map(|_| rng.value(-128, 127, extremes)).collect();
            table.iter_mut().for_each(|v| *v = rng.value(-32768, 32767, extremes));
            let one = requant.first().copied().unwrap_or_default();

            let (mut want, mut got) = (a.clone(), a.clone());
            Generic::multiply_i16_i8(&mut want, &b, one);
            X86::multiply_i16_i8(&mut got, &b, one);
            assert_eq!(want, got, "case {case}: multiply_i16_i8 {one:?}");
            let (mut want, mut got) = (vec![0i8; n], vec![0i8; n]);
            Generic::activate_i8(&acc, &requant, &table, &mut want);
            X86::activate_i8(&acc, &requant, &table, &mut got);
            assert_eq!(want, got, "case {case}: activate_i8");
            let (mut want, mut got) = (vec![0i8; n], vec![0i8; n]);
            Generic::scale_i8(&acc, one, &mut want);
            X86::scale_i8(&acc, one, &mut got);
            assert_eq!(want, got, "case {case}: scale_i8 {one:?}");
            let (mut want, mut got) = (acc.clone(), acc.clone());
            let residual_rq = rng.requant();
            Generic::add_residual(&mut want, &requant, &a, residual_rq);
            X86::add_residual(&mut got, &requant, &a, residual_rq);
            assert_eq!(want, got, "case {case}: add_residual {residual_rq:?}");
            // The int8 row `b` into `acc`, by the Q15 extremes, weights past the DSP kernel's
            // pair and random ones (drawn from `acc`, so that the cases above keep their data).
            let weight = [32768, -32768, i32::MIN, i32::MAX, 0, -1, one.multiplier, acc.first().copied().unwrap_or(7)][case % 8];
            let (mut want, mut got) = (acc.clone(), acc.clone());
            Generic::accumulate(&mut want, weight, &b);
            X86::accumulate(&mut got, weight, &b);
            assert_eq!(want, got, "case {case}: accumulate over {n} by {weight}");
            let offset = case % 3;
            let (mut want, mut got) = (acc.clone(), acc.clone());
            Generic::accumulate(&mut want, weight, b.get(offset..).unwrap_or(&[]));
            X86::accumulate(&mut got, weight, b.get(offset..).unwrap_or(&[]));
            assert_eq!(want, got, "case {case}: accumulate over {n} from {offset} by {weight}");
        }
    }
}
