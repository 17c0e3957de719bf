//! The portable matrix kernels (`convbert::int8::kernels`) against plain `i64` loops, with
//! int8 inputs and with the int16 inputs (residual stream, mixed heads, activations) they also take.
//!
//! The loops below are the definition; the kernels are the optimised code. When a target gets a
//! kernel of its own (DSP `SMLAD`, NEON `SDOT`), these tests must pass on it unchanged.

use crate::{ensure, Lcg, Outcome};
use convbert::int8::kernels::{dense, depthwise};

/// `bias[o] + sum_i x[g(o) * ig + i] * w[o * ig + i]`, the meaning of `dense`.
fn dense_reference<X: Copy + Into<i32>>(x: &[X], w: &[i8], bias: &[i32], groups: usize, o: usize, outputs: usize) -> i64 {
    let (ig, og) = (x.len() / groups, outputs / groups);
    let g = o / og;
    let products = (0..ig).map(|i| x[g * ig + i].into() as i64 * w[o * ig + i] as i64);
    bias[o] as i64 + products.sum::<i64>()
}

/// 200 random shapes (inputs up to 64, outputs up to 32, 1, 2 or 4 groups) and values, with
/// int8 and with int16 inputs.
pub fn dense_matches_i64_loops() -> Outcome {
    let mut rng = Lcg(1);
    let (mut x8, mut x16, mut w, mut bias, mut acc) = ([0i8; 64], [0i16; 64], [0i8; 64 * 32], [0i32; 32], [0i32; 32]);
    for case in 0..200 {
        let groups = [1, 2, 4][rng.below(3)];
        let inputs = groups * (1 + rng.below(64 / groups));
        let outputs = groups * (1 + rng.below(32 / groups));
        let (x8, x16, w) = (&mut x8[..inputs], &mut x16[..inputs], &mut w[..inputs / groups * outputs]);
        let (bias, acc) = (&mut bias[..outputs], &mut acc[..outputs]);
        x8.iter_mut().chain(w.iter_mut()).for_each(|v| *v = rng.next_i8());
        x16.iter_mut().for_each(|v| *v = rng.next_i16());
        bias.iter_mut().for_each(|b| *b = rng.next_i8() as i32 * 1000);
        dense(x8, w, bias, groups, acc);
        for (o, &got) in acc.iter().enumerate() {
            let want = dense_reference(x8, w, bias, groups, o, outputs);
            ensure!(got as i64 == want, "case {case} ({inputs}->{outputs}, {groups} groups) int8 output {o}: {got} != {want}");
        }
        dense(x16, w, bias, groups, acc);
        for (o, &got) in acc.iter().enumerate() {
            let want = dense_reference(x16, w, bias, groups, o, outputs);
            ensure!(got as i64 == want, "case {case} ({inputs}->{outputs}, {groups} groups) int16 output {o}: {got} != {want}");
        }
    }
    Ok(())
}

/// A 4 -> 2 linear layer and its 2-group version, worked out by hand.
pub fn dense_grouped_by_hand() -> Outcome {
    let x = [1i8, -2, 3, 4];
    let mut acc = [0; 2];
    // Rows [1, 1, 1, 1] and [0, 1, 0, -1], bias [10, 0].
    dense(&x, &[1, 1, 1, 1, 0, 1, 0, -1], &[10, 0], 1, &mut acc);
    ensure!(acc == [16, -6], "linear: {acc:?}");
    // Two groups: output 0 reads x[0..2] with [2, 1], output 1 reads x[2..4] with [-1, 1], bias 5.
    dense(&x, &[2, 1, -1, 1], &[0, 5], 2, &mut acc);
    ensure!(acc == [0, 6], "grouped: {acc:?}");
    Ok(())
}

static MINUS_128: [i8; 1024] = [-128; 1024];
static PLUS_127: [i8; 1024] = [127; 1024];
static I16_MIN: [i16; 511] = [i16::MIN; 511];

/// The largest products over a 1024-wide int8 row and a 511-wide int16 row (the most full-scale
/// int16 terms an `i32` holds), and the documented `i32` wrap of the bias sum.
pub fn dense_extremes_wrap_like_i32() -> Outcome {
    let mut acc = [0; 1];
    dense(&MINUS_128, &MINUS_128, &[0], 1, &mut acc);
    ensure!(acc[0] == 1024 * 16384, "(-128)^2 x 1024: {}", acc[0]);
    dense(&MINUS_128, &PLUS_127, &[-7], 1, &mut acc);
    ensure!(acc[0] == -1024 * 128 * 127 - 7, "-128 x 127 x 1024 - 7: {}", acc[0]);
    dense(&I16_MIN, &MINUS_128[..511], &[0], 1, &mut acc);
    ensure!(acc[0] == 511 * 32768 * 128, "(-32768) x (-128) x 511: {}", acc[0]);
    dense(&[1i8], &[1], &[i32::MAX], 1, &mut acc);
    ensure!(acc[0] == i32::MIN, "i32::MAX + 1 must wrap: {}", acc[0]);
    Ok(())
}

/// `sum_j w[c * k + j] * x[t + j - k/2][c]`, zero outside the sentence: `depthwise`'s meaning.
fn depthwise_reference<X: Copy + Into<i32>>(x: &[X], channels: usize, t: usize, w: &[i8], k: usize, c: usize) -> i64 {
    let rows = x.len() / channels;
    (0..k)
        .filter_map(|j| (t + j).checked_sub(k / 2).filter(|&s| s < rows).map(|s| (j, s)))
        .map(|(j, s)| x[s * channels + c].into() as i64 * w[c * k + j] as i64)
        .sum()
}

/// 100 random sentences (1-12 tokens, 1-16 channels, kernel 1, 3, 5 or 9), every position, with
/// int8 and with int16 inputs.
pub fn depthwise_matches_i64_loops() -> Outcome {
    let mut rng = Lcg(2);
    let (mut x8, mut x16, mut w, mut acc) = ([0i8; 12 * 16], [0i16; 12 * 16], [0i8; 16 * 9], [0i32; 16]);
    for case in 0..100 {
        let (rows, channels, k) = (1 + rng.below(12), 1 + rng.below(16), [1, 3, 5, 9][rng.below(4)]);
        let (x8, x16, w, acc) = (&mut x8[..rows * channels], &mut x16[..rows * channels], &mut w[..channels * k], &mut acc[..channels]);
        x8.iter_mut().chain(w.iter_mut()).for_each(|v| *v = rng.next_i8());
        x16.iter_mut().for_each(|v| *v = rng.next_i16());
        for t in 0..rows {
            depthwise(x8, channels, t, w, k, acc);
            for (c, &got) in acc.iter().enumerate() {
                let want = depthwise_reference(x8, channels, t, w, k, c);
                ensure!(got as i64 == want, "case {case} (L {rows}, C {channels}, k {k}) int8 t {t} c {c}: {got} != {want}");
            }
            depthwise(x16, channels, t, w, k, acc);
            for (c, &got) in acc.iter().enumerate() {
                let want = depthwise_reference(x16, channels, t, w, k, c);
                ensure!(got as i64 == want, "case {case} (L {rows}, C {channels}, k {k}) int16 t {t} c {c}: {got} != {want}");
            }
        }
    }
    Ok(())
}

/// Three tokens, two channels, kernel 3, worked out by hand at both edges.
pub fn depthwise_pads_with_zeros() -> Outcome {
    // Rows [1, 10], [2, 20], [3, 30]; filters [1, 2, 3] and [1, 0, 0].
    let x = [1i8, 10, 2, 20, 3, 30];
    let w = [1i8, 2, 3, 1, 0, 0];
    let mut acc = [0; 2];
    depthwise(&x, 2, 0, &w, 3, &mut acc);
    ensure!(acc == [2 + 3 * 2, 0], "t = 0: {acc:?}");
    depthwise(&x, 2, 2, &w, 3, &mut acc);
    ensure!(acc == [2 + 2 * 3, 20], "t = 2: {acc:?}");
    Ok(())
}
