//! Requantization, integer softmax, integer LayerNorm and the activation table on values worked out by hand, and the
//! invariants that must hold for any input. These are the `i64` corners where a 32-bit core's
//! runtime helpers (`__aeabi_lmul`, `__aeabi_uldivmod`, 64-bit shifts) could differ.

use crate::{ensure, Lcg, Outcome};
use convbert::int8::activation::{lookup, table_input, TABLE_LEN};
use convbert::int8::layer_norm::{isqrt, layer_norm, Affine};
use convbert::int8::softmax::softmax_q15;
use convbert::int8::Requant;

/// `x * 1/2` at shift 31, `x * 3/4` at shift 2, and the widest products `|x| * m ~ 2^62`.
pub fn requant_rounds_half_up() -> Outcome {
    let half = Requant { multiplier: 1 << 30, shift: 31 };
    let got = [half.apply(5), half.apply(-5), half.apply(3), half.apply(-3), half.apply(1), half.apply(-1)];
    ensure!(got == [3, -2, 2, -1, 1, 0], "x / 2 for 5, -5, 3, -3, 1, -1: {got:?}");
    let three_quarters = Requant { multiplier: 3, shift: 2 };
    let got = [1, -1, 2, -2].map(|x| three_quarters.apply(x));
    ensure!(got == [1, -1, 2, -1], "x * 3/4 for 1, -1, 2, -2: {got:?}");
    // (2^31 - 1)^2 / 2^31 = 2^31 - 2 + 2^-31, and -2^31 * (2^31 - 1) / 2^31 exactly.
    let almost_one = Requant { multiplier: i32::MAX, shift: 31 };
    ensure!(almost_one.apply(i32::MAX) == i32::MAX - 1, "i32::MAX * (1 - 2^-31): {}", almost_one.apply(i32::MAX));
    ensure!(almost_one.apply(i32::MIN) == i32::MIN + 1, "i32::MIN * (1 - 2^-31): {}", almost_one.apply(i32::MIN));
    // The longest shift: 2^30 / 2^62 = 2^-32, so every i32 rounds to 0 (-2^31 is a tie: up to 0).
    let tiny = Requant { multiplier: 1 << 30, shift: 62 };
    ensure!(tiny.apply(i32::MAX) == 0 && tiny.apply(i32::MIN) == 0, "x * 2^-32 must round to 0");
    Ok(())
}

/// `apply` (which takes a 32-bit path for shifts 33..=62) against the definition
/// `clamp((x * m + 2^(n-1)) >> n)` in `i64`, for every shift 1..=62 and random and extreme
/// `x` and `m`.
pub fn requant_matches_its_definition() -> Outcome {
    let mut rng = Lcg(21);
    let xs = [0, 1, -1, i32::MAX, i32::MIN, i32::MIN + 1, 1 << 30, -(1 << 30)];
    for shift in 1..=62 {
        for case in 0..64 {
            let x = xs.get(case).copied().unwrap_or_else(|| rng.next_i32());
            let multiplier = if case % 8 == 0 { i32::MAX } else { rng.next_i32() & i32::MAX };
            let r = Requant { multiplier, shift };
            let want = ((x as i64 * multiplier as i64 + ((1i64 << shift) >> 1)) >> shift).clamp(i32::MIN as i64, i32::MAX as i64);
            ensure!(r.apply(x) as i64 == want, "x {x} m {multiplier} shift {shift}: {} != {want}", r.apply(x));
        }
    }
    Ok(())
}

/// The LayerNorm of the module doc, every step saturating, as `layer_norm` computed it before
/// its fast path for rows whose sum of squares is exact.
fn layer_norm_definition(z: &mut [i32], affine: Affine<'_>, eps_q: u32) {
    let n = z.len() as i64;
    let sum: i64 = z.iter().map(|&v| v as i64).sum();
    let mean = if sum >= 0 { (sum + n / 2) / n } else { -((-sum + n / 2) / n) };
    let var_sum = z.iter().fold(0u64, |s, &v| {
        let d = (v as i64 - mean).unsigned_abs();
        s.saturating_add(d.saturating_mul(d))
    });
    let std = isqrt(var_sum / n as u64 + eps_q as u64).max(1);
    let reciprocal = ((1u64 << 47) / std) as i64;
    for ((v, &g), &b) in z.iter_mut().zip(affine.gamma).zip(affine.beta) {
        let normalised = (*v as i64 - mean).saturating_mul(reciprocal).saturating_add(1 << 35) >> 36;
        let y = normalised.saturating_mul(g as i64).saturating_add(b as i64);
        *v = y.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    }
}

/// `layer_norm` against [`layer_norm_definition`] on 300 random rows of 1-64 values: small,
/// LayerNorm-domain sized (2^24) and full-range (whose squares saturate), with eps 0 and not.
pub fn layer_norm_matches_its_definition() -> Outcome {
    let mut rng = Lcg(22);
    let (mut gamma, mut beta) = ([0i16; 64], [0i32; 64]);
    for case in 0..300 {
        let n = 1 + rng.below(64);
        let bits = [4, 24, 31, 32][rng.below(4)];
        let mut z = [0i32; 64];
        z[..n].iter_mut().for_each(|v| *v = if bits == 32 { rng.next_i32() } else { rng.next_i32() >> (32 - bits) });
        gamma.iter_mut().for_each(|g| *g = rng.next_i16());
        beta.iter_mut().for_each(|b| *b = rng.next_i32() >> rng.below(32));
        let eps_q = [0, 1, rng.next_i32() as u32][rng.below(3)];
        let affine = Affine { gamma: &gamma[..n], beta: &beta[..n] };
        let mut want = z;
        layer_norm_definition(&mut want[..n], affine, eps_q);
        layer_norm(&mut z[..n], affine, eps_q);
        ensure!(z[..n] == want[..n], "case {case} ({n} values of {bits} bits, eps {eps_q}): {:?} != {:?}", &z[..n.min(4)], &want[..n.min(4)]);
    }
    Ok(())
}

/// Saturation to `i32`, `i8` and `i16`, and a masked (invalid) shift that must not trap.
pub fn requant_saturates() -> Outcome {
    let big = Requant { multiplier: i32::MAX, shift: 1 };
    ensure!(big.apply(i32::MAX) == i32::MAX && big.apply(i32::MIN) == i32::MIN, "i32 saturation");
    ensure!(big.to_i8(1000) == 127 && big.to_i8(-1000) == -128, "i8 saturation");
    ensure!(big.to_i16(100_000) == i16::MAX && big.to_i16(-100_000) == i16::MIN, "i16 saturation");
    // Shift 99 is masked to 35: 7 * 5 / 2^35 rounds to 0.
    ensure!(Requant { multiplier: 5, shift: 99 }.apply(7) == 0, "masked shift");
    Ok(())
}

/// One unit of input = 1/256 bit, so a difference of 256 halves `exp`.
const IDENTITY: Requant = Requant { multiplier: 1 << 30, shift: 30 };

/// Rows whose Q15 outputs follow from the table by hand (`docs/INT8.md`, softmax).
pub fn softmax_by_hand() -> Outcome {
    let mut out = [0u16; 4];
    softmax_q15(&[5, 5, 5, 5], IDENTITY, &mut out);
    ensure!(out == [8192; 4], "four equal logits: {out:?}");
    // exp = [2^15, 2^14]: 2/3 and 1/3.
    softmax_q15(&[0, -256], IDENTITY, &mut out[..2]);
    ensure!(out[..2] == [21845, 10923], "one bit apart: {:?}", &out[..2]);
    // Half a bit: table entry 128 = round(2^15 / sqrt 2) = 23170; 2^46 / 55938 = 1257977478.
    softmax_q15(&[0, -128], IDENTITY, &mut out[..2]);
    ensure!(out[..2] == [19195, 13573], "half a bit apart: {:?}", &out[..2]);
    // Eight bits: 2^15 >> 8 = 128; 2^46 / 32896 = 2139127680.
    softmax_q15(&[7, 7 - 2048], IDENTITY, &mut out[..2]);
    ensure!(out[..2] == [32640, 128], "eight bits apart: {:?}", &out[..2]);
    Ok(())
}

/// 200 random rows of 1 to 64 logits: outputs sum to 1 within rounding and keep the order.
pub fn softmax_sums_to_one() -> Outcome {
    let mut rng = Lcg(3);
    let (mut x, mut out) = ([0i32; 64], [0u16; 64]);
    let to_log2 = Requant { multiplier: 1_518_500_250, shift: 35 }; // ~ 0.0442 bit-units per unit
    for case in 0..200 {
        let n = 1 + rng.below(64);
        let (x, out) = (&mut x[..n], &mut out[..n]);
        x.iter_mut().for_each(|v| *v = rng.next_i8() as i32 * (1 << rng.below(12)));
        softmax_q15(x, to_log2, out);
        let sum: u32 = out.iter().map(|&o| o as u32).sum();
        ensure!(sum.abs_diff(32768) <= n as u32, "case {case}: {n} outputs sum to {sum}");
        for i in 0..n {
            for j in 0..n {
                ensure!(x[i] < x[j] || out[i] >= out[j], "case {case}: order broken at {i}, {j}");
            }
        }
    }
    Ok(())
}

/// Logits a whole `i32` apart, the largest factor, and an empty row.
pub fn softmax_extremes() -> Outcome {
    let mut out = [1u16; 3];
    softmax_q15(&[i32::MAX, i32::MIN, 0], Requant { multiplier: i32::MAX, shift: 1 }, &mut out);
    ensure!(out == [32768, 0, 0], "i32 extremes: {out:?}");
    softmax_q15(&[], IDENTITY, &mut out);
    ensure!(out == [32768, 0, 0], "an empty row must leave the output alone: {out:?}");
    Ok(())
}

/// `isqrt(x)^2 <= x < (isqrt(x) + 1)^2` for 0..10000 and the 64-bit corners.
pub fn isqrt_is_floor_sqrt() -> Outcome {
    for x in (0..10_000u64).chain([u64::MAX, u64::MAX - 1, 1 << 62, (1 << 62) - 1, 999_999_999_999]) {
        let r = isqrt(x);
        ensure!(r.checked_mul(r).is_some_and(|sq| sq <= x), "isqrt({x}) = {r} is too big");
        ensure!((r + 1).checked_mul(r + 1).is_none_or(|sq| sq > x), "isqrt({x}) = {r} is too small");
    }
    Ok(())
}

/// Rows whose normalised values follow by hand: `n = round(d * 2^11 / isqrt(var))`.
pub fn layer_norm_by_hand() -> Outcome {
    // Mean 0, variance 10^6, std 1000: n = +-2^11, then y = n * 3 + 100.
    let mut z = [1000, -1000, 1000, -1000];
    layer_norm(&mut z, Affine { gamma: &[3; 4], beta: &[100; 4] }, 0);
    ensure!(z == [6244, -6044, 6244, -6044], "+-1000: {z:?}");
    // d = [3000, -1000 x3], variance 3 * 10^6, isqrt = 1732: 3000 * 2048 / 1732 = 3547.3 and
    // -1000 * 2048 / 1732 = -1182.4.
    let mut z = [3000, -1000, -1000, -1000];
    layer_norm(&mut z, Affine { gamma: &[1; 4], beta: &[0; 4] }, 0);
    ensure!(z == [3547, -1182, -1182, -1182], "3000, -1000 x3: {z:?}");
    // epsilon: variance 10^6 + 2 * 10^6 gives std isqrt(3 * 10^6) = 1732 again.
    let mut z = [1000, -1000];
    layer_norm(&mut z, Affine { gamma: &[1; 2], beta: &[0; 2] }, 2_000_000);
    ensure!(z == [1182, -1182], "epsilon 2 * 10^6: {z:?}");
    Ok(())
}

/// A constant row gives beta; `i32` extremes and an empty row neither trap nor wrap.
pub fn layer_norm_extremes() -> Outcome {
    let mut z = [7; 4];
    layer_norm(&mut z, Affine { gamma: &[1; 4], beta: &[3; 4] }, 0);
    ensure!(z == [3; 4], "constant row: {z:?}");
    let mut z = [i32::MAX, i32::MIN, i32::MAX, i32::MIN];
    layer_norm(&mut z, Affine { gamma: &[i16::MAX; 4], beta: &[0; 4] }, 0);
    ensure!(z[0] > 0 && z[1] < 0 && z[0] == z[2] && z[1] == z[3], "i32 extremes: {z:?}");
    layer_norm(&mut [], Affine { gamma: &[], beta: &[] }, 0);
    Ok(())
}

/// The interpolated activation table on values worked out by hand: exact at the sample
/// points, halfway rounds up, the two ends of the int16 range, and a table of the wrong
/// length (refused at load time) gives 0 instead of trapping.
pub fn activation_table_by_hand() -> Outcome {
    // table[j] = 3j - 700: a straight line, so interpolation must land on it exactly where the
    // line hits an integer.
    let mut table = [0i16; TABLE_LEN];
    for (j, t) in table.iter_mut().enumerate() {
        *t = (3 * j as i32 - 700) as i16;
    }
    let x_of = |j: usize| table_input(j) as i16;
    ensure!(lookup(&table, i16::MIN) == -700, "first sample: {}", lookup(&table, i16::MIN));
    ensure!(lookup(&table, x_of(256)) == 68, "middle sample: {}", lookup(&table, x_of(256)));
    // 3 per 128 input steps: +64 steps is 1.5 (rounds up to 2), +21 is 0.49 (0), +22 is 0.52 (1).
    let at = |table: &[i16], offset: i16| lookup(table, x_of(256) + offset);
    let within = [at(&table, 64), at(&table, 21), at(&table, 22)];
    ensure!(within == [70, 68, 69], "within a segment: {within:?}");
    // i16::MAX is 127/128 of the way from 833 to the end point 3 * 512 - 700 = 836: 835.98.
    ensure!(lookup(&table, i16::MAX) == 836, "last input: {}", lookup(&table, i16::MAX));
    // A falling segment rounds half up too: from 10 to 7 at +64 steps is 8.5 -> 9.
    table[256] = 10;
    table[257] = 7;
    ensure!(at(&table, 64) == 9, "falling segment: {}", at(&table, 64));
    ensure!(lookup(&table[..100], 0) == 0, "a short table gives 0");
    Ok(())
}
