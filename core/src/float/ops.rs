//! The f32 building blocks of the reference pass, each the plain loop of its PyTorch op.
//!
//! Slices are assumed to have the sizes the shape checks in [`super::weights`] guarantee;
//! iterators (`zip`, `chunks_exact`) keep the loops free of index arithmetic that could fail.

use super::weights::{Dense, Layout};
use crate::Activation;

/// `y = dense(x)` for one row: `x` is `[in_features]`, `y` is `[out_features]`.
pub fn dense(d: &Dense<'_>, x: &[f32], y: &mut [f32]) {
    match d.layout {
        // nn.Linear: W is [out, in]; each output is one dot product.
        Layout::Linear => {
            for ((yo, w_row), b) in y.iter_mut().zip(d.weight.chunks_exact(d.in_features)).zip(d.bias)
            {
                *yo = dot(x, w_row) + b;
            }
        }
        // GroupedLinearLayer: W is [G, in/G, out/G]; group g maps x[g*Ig..] to y[g*Og..].
        Layout::Grouped(groups) => {
            let (ig, og) = (d.in_features / groups, d.out_features / groups);
            let w_groups = d.weight.chunks_exact(ig * og);
            for (((xg, yg), wg), bg) in x
                .chunks_exact(ig)
                .zip(y.chunks_exact_mut(og))
                .zip(w_groups)
                .zip(d.bias.chunks_exact(og))
            {
                yg.copy_from_slice(bg);
                for (xi, w_row) in xg.iter().zip(wg.chunks_exact(og)) {
                    for (yj, w) in yg.iter_mut().zip(w_row) {
                        *yj += xi * w;
                    }
                }
            }
        }
    }
}

/// `y = dense(x)` for every row: `x` is `[L, in_features]`, `y` is `[L, out_features]`.
///
/// With the `float-gemm` feature this is one packed GEMM per weight block (see
/// `float/gemm.rs`); the portable fallback runs [`dense`] row by row.
pub fn dense_rows(d: &Dense<'_>, x: &[f32], y: &mut [f32]) {
    #[cfg(feature = "float-gemm")]
    super::gemm::dense_rows(d, x, y);
    #[cfg(not(feature = "float-gemm"))]
    for (x, y) in x.chunks_exact(d.in_features).zip(y.chunks_exact_mut(d.out_features)) {
        dense(d, x, y);
    }
}

/// `gram += x^T x` for the rows of `x` (`[rows, width]`; `gram` is `[width, width]` and
/// symmetric, e.g. zero): the sum of each row's outer product with itself, e.g. the input
/// moments that GPTQ rounds against.
pub fn add_gram(x: &[f32], width: usize, gram: &mut [f32]) {
    #[cfg(feature = "float-gemm")]
    super::gemm::add_gram(x, width, gram);
    #[cfg(not(feature = "float-gemm"))]
    for row in x.chunks_exact(width) {
        for (&xi, gram_row) in row.iter().zip(gram.chunks_exact_mut(width)) {
            for (g, &xj) in gram_row.iter_mut().zip(row) {
                *g += xi * xj;
            }
        }
    }
}

/// `sum_i a[i] * b[i]`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `nn.LayerNorm` over one row, in place: `(x - mean) / sqrt(var + eps) * gamma + beta`,
/// with the biased variance as PyTorch uses.
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv_std = 1.0 / libm::sqrtf(var + eps);
    for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv_std * g + b;
    }
}

/// `ACT2FN[hidden_act]`, in place.
pub fn activate(act: Activation, x: &mut [f32]) {
    for v in x {
        *v = match act {
            Activation::Gelu => 0.5 * *v * (1.0 + libm::erff(*v * core::f32::consts::FRAC_1_SQRT_2)),
            Activation::GeluNew => {
                // sqrt(2/pi) * (x + 0.044715 x^3), as transformers' NewGELUActivation.
                let inner = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
                0.5 * *v * (1.0 + libm::tanhf(inner))
            }
            Activation::Relu => v.max(0.0),
        };
    }
}

/// `torch.softmax` over one row, in place (max subtracted first, as PyTorch does).
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = libm::expf(*v - max);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_dense_is_block_diagonal() {
        // G = 2, in 4, out 2: W[g, i, j] with Ig = 2, Og = 1.
        let w = [1.0, 2.0, /* group 1 */ 3.0, 4.0];
        let d = Dense { weight: &w, bias: &[0.5, -0.5], in_features: 4, out_features: 2, layout: Layout::Grouped(2) };
        let mut y = [0.0; 2];
        dense(&d, &[1.0, 1.0, 2.0, 0.0], &mut y);
        assert_eq!(y, [1.0 + 2.0 + 0.5, 6.0 - 0.5]);
    }

    #[test]
    fn linear_dense_uses_out_in_rows() {
        let w = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let d = Dense { weight: &w, bias: &[0.0, 1.0, 2.0], in_features: 2, out_features: 3, layout: Layout::Linear };
        let mut y = [0.0; 3];
        dense(&d, &[3.0, 4.0], &mut y);
        assert_eq!(y, [3.0, 5.0, 9.0]);
    }

    #[test]
    fn dense_rows_is_dense_on_each_row() {
        // 3 rows; a Linear 4 -> 3 and a Grouped(2) 4 -> 2, with numbers that are exact in f32.
        let x: [f32; 12] = core::array::from_fn(|i| (i as f32 - 5.0) / 4.0);
        let w: [f32; 12] = core::array::from_fn(|i| (7.0 - i as f32) / 8.0);
        for d in [
            Dense { weight: &w, bias: &[0.5, -1.0, 2.0], in_features: 4, out_features: 3, layout: Layout::Linear },
            Dense { weight: &w[..4], bias: &[0.25, -0.5], in_features: 4, out_features: 2, layout: Layout::Grouped(2) },
        ] {
            let mut all = [0.0; 9];
            let all = &mut all[..3 * d.out_features];
            dense_rows(&d, &x, all);
            for (x, y) in x.chunks_exact(4).zip(all.chunks_exact(d.out_features)) {
                let mut one = [0.0; 3];
                dense(&d, x, &mut one[..d.out_features]);
                assert_eq!(y, &one[..d.out_features]);
            }
        }
    }

    #[test]
    fn gram_adds_outer_products() {
        let mut gram = [1.0; 4];
        add_gram(&[1.0, 2.0, 3.0, -1.0], 2, &mut gram);
        assert_eq!(gram, [1.0 + 1.0 + 9.0, 1.0 + 2.0 - 3.0, 1.0 + 2.0 - 3.0, 1.0 + 4.0 + 1.0]);
    }

    #[test]
    fn layer_norm_normalises() {
        let mut x = [1.0, 2.0, 3.0, 4.0];
        layer_norm(&mut x, &[1.0; 4], &[0.0; 4], 0.0);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        let var: f32 = x.iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = [1.0, 2.0, 3.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[2] > x[1] && x[1] > x[0]);
    }
}
