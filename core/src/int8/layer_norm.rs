//! Integer LayerNorm, used for all three kinds (embeddings, attention output, FFN output).
//!
//! The input is an `i32` row on a fine "LayerNorm-domain" scale (the host chooses it so the
//! sum of the branch and the residual keeps ~20 significant bits). Then, exactly in integers:
//!
//! ```text
//! mean = round(sum z / n)            d = z - mean          var = sum d^2 / n     (i64)
//! std  = isqrt(var + eps_q)          n_c = round(d_c * 2^11 / std)  (|n_c| <= sqrt(n) * 2^11)
//! y_c  = n_c * gamma_c + beta_c      (gamma: i16, beta: i32, both folded by the host)
//! ```
//!
//! and the caller requantizes `y` to its outputs. The reciprocal `2^47 / std` is taken once per
//! row, so a row costs one 64-bit division, not one per element.

/// Fraction bits of the normalised value `n_c`.
pub const NORM_BITS: u32 = 11;

/// The per-channel affine part: `gamma` as i16 and `beta` as i32, on the host's scales.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a> {
    /// `[n]` quantized gamma.
    pub gamma: &'a [i16],
    /// `[n]` beta on the scale of `n_c * gamma_c`.
    pub beta: &'a [i32],
}

/// Normalises `z` in place: each element becomes `y_c` of the module doc.
///
/// `eps_q` is the config's epsilon on the squared input scale, rounded (often 0).
pub fn layer_norm(z: &mut [i32], affine: Affine<'_>, eps_q: u32) {
    let n = z.len() as i64;
    if n == 0 {
        return;
    }
    // The sum, and whether every |z| is below 2^24 (the LayerNorm domain keeps ~20 significant
    // bits), which lets the sum of squares run in 32-bit steps below.
    let (mut sum, mut bits) = (0i64, 0u32);
    for &v in z.iter() {
        sum += v as i64;
        bits |= (v ^ (v >> 31)) as u32;
    }
    let mean = div_round(sum, n);
    let var_sum = if bits < 1 << 24 && z.len() <= 4096 {
        // |d| < 2^25 (both z and the mean are below 2^24), d^2 < 2^50, and 4096 of them below
        // 2^62: the plain sum is exact, the saturating one below would not saturate.
        let mean = mean as i32;
        z.iter().fold(0i64, |s, &v| {
            let d = v - mean;
            s + d as i64 * d as i64
        }) as u64
    } else {
        // |d| < 2^32 (z and the mean are i32s), so each square fits a u64.
        z.iter().fold(0u64, |s, &v| {
            let d = (v as i64 - mean).unsigned_abs() as u32 as u64;
            s.saturating_add(d * d)
        })
    };
    normalize(z, affine, &RowStatistics::new(mean, var_sum, z.len(), eps_q));
}

/// What the last step of a row needs: its mean and `2^47 / std`, and whether its sum of squares
/// saturated.
#[derive(Clone, Copy, Debug)]
pub struct RowStatistics {
    /// `round(sum z / n)`.
    pub mean: i64,
    /// `2^47 / isqrt(var + eps_q)`.
    pub reciprocal: i64,
    /// The sum of squares saturated (rows no validated model produces).
    pub saturated: bool,
}

impl RowStatistics {
    /// The statistics of a row of `n` values with `mean` and sum of squared deviations
    /// `var_sum` (`u64::MAX` when it saturated).
    pub fn new(mean: i64, var_sum: u64, n: usize, eps_q: u32) -> Self {
        let var = var_sum / (n.max(1) as u64) + eps_q as u64;
        let std = isqrt(var).max(1);
        Self { mean, reciprocal: ((1u64 << 47) / std) as i64, saturated: var_sum == u64::MAX }
    }
}

/// The last step of [`layer_norm`]: `z[c] = round((z[c] - mean) * 2^11 / std) * gamma[c] +
/// beta[c]`, for the whole row or any part of it (vector kernels run it on the elements their
/// loop did not take).
pub fn normalize(z: &mut [i32], affine: Affine<'_>, statistics: &RowStatistics) {
    let &RowStatistics { mean, reciprocal, saturated } = statistics;
    let shift = 47 - NORM_BITS;
    if saturated {
        // Every step saturates too, as the definition says.
        for ((v, &g), &b) in z.iter_mut().zip(affine.gamma).zip(affine.beta) {
            let d = *v as i64 - mean;
            let normalised = d.saturating_mul(reciprocal).saturating_add(1 << (shift - 1)) >> shift;
            let y = normalised.saturating_mul(g as i64).saturating_add(b as i64);
            *v = y.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        }
        return;
    }
    // An exact sum of squares bounds every |d_c| by sqrt(var_sum) < sqrt(n * (var + 1)), at
    // most 2.9 sqrt(n) * std < 2^8 std (n <= 4096), so |d_c * 2^47 / std| < 2^55,
    // |normalised| <= 2^19 and |normalised * gamma + beta| < 2^35: nothing above saturates, and
    // these plain operations give the same integers, much faster on 32-bit cores.
    for ((v, &g), &b) in z.iter_mut().zip(affine.gamma).zip(affine.beta) {
        let d = *v as i64 - mean;
        let normalised = ((d * reciprocal + (1 << (shift - 1))) >> shift) as i32;
        let y = normalised as i64 * g as i64 + b as i64;
        *v = y.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    }
}

/// `round(a / b)` for `b > 0`, halves away from zero (0 for `b <= 0`, which no caller passes:
/// the check keeps the division's panic paths out of the firmware).
pub fn div_round(a: i64, b: i64) -> i64 {
    if b <= 0 {
        0
    } else if a >= 0 {
        (a + b / 2) / b
    } else {
        -((-a + b / 2) / b)
    }
}

/// `floor(sqrt(x))`, digit by digit: one bit of the root per step (at most 32 steps of shifts
/// and compares), no division, which a 32-bit core has no instruction for at 64 bits.
pub fn isqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    let (mut rest, mut root) = (x, 0u64);
    // The largest power of 4 not above x.
    let mut bit = 1u64 << ((63 - x.leading_zeros()) & !1);
    while bit != 0 {
        if rest >= root + bit {
            rest -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

// Integer-exact tests (by-hand values, extremes): tests/on-target/src/numerics.rs, which also
// runs on every QEMU board. These compare with floating point, on the host only.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_float() {
        let input: [i32; 8] = [1000, -2000, 3000, 500, -700, 0, 1200, -3000];
        let mut z = input;
        let gamma = [1 << 12; 8]; // 1.0 on a 2^-12 scale
        let beta = [0; 8];
        layer_norm(&mut z, Affine { gamma: &gamma, beta: &beta }, 0);
        let mean = input.iter().map(|&v| v as f64).sum::<f64>() / 8.0;
        let var = input.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 8.0;
        for (y, x) in z.iter().zip(input) {
            let expected = (x as f64 - mean) / var.sqrt();
            let got = *y as f64 / (1u64 << (NORM_BITS + 12)) as f64;
            assert!((got - expected).abs() < 2e-3, "{got} vs {expected}");
        }
    }
}
