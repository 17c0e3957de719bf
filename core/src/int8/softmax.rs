//! Integer softmax, for the attention scores (over tokens) and the dynamic-convolution taps
//! (over the K kernel positions).
//!
//! `exp` is computed in base 2: the host folds the input's real scale and `log2(e)` into one
//! [`Requant`] that maps a logit difference to **1/256ths of a bit**. With `y` such units,
//! `2^(-y/256) = EXP2_Q15[y % 256] >> (y / 256)`: one table load and one shift per element,
//! exact to the table's rounding (< 0.2 % relative). Normalising costs one division per row.

use super::Requant;

/// `round(2^15 * 2^(-f/256))` for `f` in `0..256`; `tests::table_is_exact` recomputes it.
const EXP2_Q15: [u16; 256] = [
    32768, 32679, 32591, 32503, 32415, 32327, 32240, 32153, 32066, 31979, 31893, 31806, 31720, 31635, 31549, 31464,
    31379, 31294, 31209, 31125, 31041, 30957, 30873, 30790, 30706, 30623, 30541, 30458, 30376, 30293, 30212, 30130,
    30048, 29967, 29886, 29805, 29725, 29644, 29564, 29484, 29405, 29325, 29246, 29167, 29088, 29009, 28931, 28852,
    28774, 28697, 28619, 28542, 28464, 28388, 28311, 28234, 28158, 28082, 28006, 27930, 27855, 27779, 27704, 27629,
    27554, 27480, 27406, 27332, 27258, 27184, 27110, 27037, 26964, 26891, 26818, 26746, 26674, 26601, 26530, 26458,
    26386, 26315, 26244, 26173, 26102, 26031, 25961, 25891, 25821, 25751, 25681, 25612, 25543, 25474, 25405, 25336,
    25268, 25199, 25131, 25063, 24995, 24928, 24860, 24793, 24726, 24659, 24593, 24526, 24460, 24394, 24328, 24262,
    24196, 24131, 24066, 24001, 23936, 23871, 23806, 23742, 23678, 23614, 23550, 23486, 23423, 23359, 23296, 23233,
    23170, 23108, 23045, 22983, 22921, 22859, 22797, 22735, 22674, 22613, 22552, 22491, 22430, 22369, 22309, 22248,
    22188, 22128, 22068, 22009, 21949, 21890, 21831, 21772, 21713, 21654, 21595, 21537, 21479, 21421, 21363, 21305,
    21247, 21190, 21133, 21076, 21019, 20962, 20905, 20849, 20792, 20736, 20680, 20624, 20568, 20513, 20457, 20402,
    20347, 20292, 20237, 20182, 20127, 20073, 20019, 19965, 19911, 19857, 19803, 19750, 19696, 19643, 19590, 19537,
    19484, 19431, 19379, 19326, 19274, 19222, 19170, 19118, 19066, 19015, 18963, 18912, 18861, 18810, 18759, 18708,
    18658, 18607, 18557, 18507, 18457, 18407, 18357, 18308, 18258, 18209, 18160, 18110, 18061, 18013, 17964, 17915,
    17867, 17819, 17770, 17722, 17674, 17627, 17579, 17531, 17484, 17437, 17390, 17343, 17296, 17249, 17202, 17156,
    17109, 17063, 17017, 16971, 16925, 16879, 16834, 16788, 16743, 16697, 16652, 16607, 16562, 16518, 16473, 16428
];

/// Differences of more than this many bits give `exp` below the Q15 resolution.
const MAX_BITS: i32 = 24;

/// Writes `softmax(x)` in Q15 (32768 = 1.0) to `out`; `to_log2` maps one unit of `x` to
/// 1/256ths of a bit. `out` must be as long as `x` (extra elements are left alone).
pub fn softmax_q15(x: &[i32], to_log2: Requant, out: &mut [u16]) {
    let Some(&max) = x.iter().max() else { return };
    // The engine sums at most `max(P, K, labels) <= 2^14` terms of at most 2^15
    // (`config::limits`), so 2^29 at most; u64 and saturation keep any other caller's length
    // from wrapping too (a sum past 2^46 would only round every output to 0).
    let mut sum: u64 = 0;
    for (o, &v) in out.iter_mut().zip(x) {
        let diff = (max as i64 - v as i64).min(i32::MAX as i64) as i32;
        let y = to_log2.apply(diff).clamp(0, MAX_BITS * 256);
        // A u32 shift: `y >> 8` reaches MAX_BITS = 24, past a u16's width.
        let e = EXP2_Q15[(y & 255) as usize] as u32 >> (y >> 8);
        *o = e as u16;
        sum = sum.saturating_add(e as u64);
    }
    // sum >= 2^15 (the maximum contributes 2^15), so the reciprocal is at most 2^31 and each
    // product below at most 2^46.
    // (As a u32: one 32 x 32-bit multiply per element on a 32-bit core.)
    let reciprocal = ((1u64 << 46) / sum.max(1 << 15)) as u32;
    for o in out.iter_mut().take(x.len()) {
        *o = ((*o as u64 * reciprocal as u64 + (1 << 30)) >> 31) as u16;
    }
}

// Integer-exact tests (by-hand values, extremes): tests/on-target/src/numerics.rs, which also
// runs on every QEMU board. These compare with floating point, on the host only.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_exact() {
        for (f, &v) in EXP2_Q15.iter().enumerate() {
            assert_eq!(v as f64, (32768.0 * 2f64.powf(-(f as f64) / 256.0)).round(), "entry {f}");
        }
    }

    #[test]
    fn long_rows_do_not_overflow_the_sum() {
        // 2^14 equal terms (the engine's largest row) share 2^15 exactly; 200,000 (past the
        // 131,072 at which a u32 sum of 2^15-terms wrapped) each round to 0, without panicking.
        for (n, each) in [(1usize << 14, 2u16), (200_000, 0)] {
            let x = vec![-5; n];
            let mut out = vec![u16::MAX; n];
            softmax_q15(&x, Requant { multiplier: 1 << 30, shift: 31 }, &mut out);
            assert!(out.iter().all(|&o| o == each), "{n} terms");
        }
    }

    #[test]
    fn matches_float_softmax() {
        // Logits with scale 0.01: real values -1.27..1.27.
        let x: [i32; 6] = [127, 0, -50, 100, -127, 3];
        let scale = 0.01f64;
        let to_log2 = Requant::from_real(scale * core::f64::consts::LOG2_E * 256.0).unwrap();
        let mut out = [0u16; 6];
        softmax_q15(&x, to_log2, &mut out);
        let exps: Vec<f64> = x.iter().map(|&v| (v as f64 * scale).exp()).collect();
        let sum: f64 = exps.iter().sum();
        for (o, e) in out.iter().zip(&exps) {
            assert!((*o as f64 / 32768.0 - e / sum).abs() < 2e-3, "{o} vs {}", e / sum);
        }
    }
}
