//! The host's all-rows-at-once products (feature `float-gemm`): ndarray's safe
//! `general_mat_mul`, which for f32 runs `matrixmultiply`'s packed kernels with the SIMD level
//! (AVX2 and FMA on x86-64) chosen at run time. A whole `[L, in]` activation times a weight
//! matrix keeps the vector units busy, where the portable row-at-a-time dot products of
//! [`super::ops::dense`] are sequential float sums that the compiler must not reorder.

use super::weights::{Dense, Layout};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut2};

/// [`super::ops::dense_rows`]: `y = x W^T + b` (or the grouped blocks) for all rows at once.
pub(super) fn dense_rows(d: &Dense<'_>, x: &[f32], y: &mut [f32]) {
    let rows = y.len() / d.out_features;
    let x = view(x, rows, d.in_features);
    let mut y = view_mut(y, rows, d.out_features);
    // Every row starts as the bias; the product is added to it.
    y.assign(&ArrayView1::from(d.bias));
    match d.layout {
        Layout::Linear => {
            let w = view(d.weight, d.out_features, d.in_features);
            general_mat_mul(1.0, &x, &w.t(), 1.0, &mut y);
        }
        // Block-diagonal: input columns of group g times W[g] give output columns of group g.
        Layout::Grouped(groups) => {
            let (ig, og) = (d.in_features / groups, d.out_features / groups);
            for (g, w) in d.weight.chunks_exact(ig * og).enumerate() {
                let x_g = x.slice(s![.., g * ig..(g + 1) * ig]);
                let mut y_g = y.slice_mut(s![.., g * og..(g + 1) * og]);
                general_mat_mul(1.0, &x_g, &view(w, ig, og), 1.0, &mut y_g);
            }
        }
    }
}

/// Rows of the Gram matrix that [`add_gram`] multiplies per product.
const GRAM_BLOCK: usize = 128;

/// [`super::ops::add_gram`]: `gram += x^T x`, for a symmetric `gram`.
///
/// The product is symmetric, so only the blocks of rows on and right of the diagonal are
/// multiplied (about 56 % of the arithmetic for a width of 1024), and the lower triangle is
/// copied from the upper one. The copy is exactly what a full product would give there:
/// elements (i, j) and (j, i) are sums of the same products in the same order, and each
/// element's sum does not depend on the shape of the block it is computed in.
pub(super) fn add_gram(x: &[f32], width: usize, gram: &mut [f32]) {
    let x = view(x, x.len() / width, width);
    let mut gram = view_mut(gram, width, width);
    for start in (0..width).step_by(GRAM_BLOCK) {
        let end = (start + GRAM_BLOCK).min(width);
        let rows = x.slice(s![.., start..end]);
        let cols = x.slice(s![.., start..]);
        general_mat_mul(1.0, &rows.t(), &cols, 1.0, &mut gram.slice_mut(s![start..end, start..]));
    }
    for i in 1..width {
        for j in 0..i {
            gram[[i, j]] = gram[[j, i]];
        }
    }
}

/// `data` as a row-major `[rows, cols]` matrix. The callers' slices hold at least that many
/// numbers (the shape checks of [`super::weights`]), so this cannot fail.
fn view(data: &[f32], rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, cols), data).expect("slice holds rows * cols numbers")
}

/// [`view`], writable.
fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols), data).expect("slice holds rows * cols numbers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_gram_equals_the_full_product_bit_for_bit() {
        // Wider than two blocks and not a multiple of one; more rows than one GEMM k-block.
        let (rows, width) = (300, 2 * GRAM_BLOCK + 37);
        let mut seed = 7u32;
        let x: Vec<f32> = (0..rows * width)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let mut blocked = vec![0.0f32; width * width];
        add_gram(&x, width, &mut blocked);
        let mut full = vec![0.0f32; width * width];
        let xv = view(&x, rows, width);
        general_mat_mul(1.0, &xv.t(), &xv, 1.0, &mut view_mut(&mut full, width, width));
        assert!(blocked.iter().zip(&full).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
