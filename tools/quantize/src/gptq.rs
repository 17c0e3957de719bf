//! Rounding a weight matrix to int8 so that the layer's output, not each weight, moves as
//! little as possible: GPTQ (Frantar et al., ICLR 2023), the optimal-brain-quantization update
//! done column by column.
//!
//! Rounding each weight to its nearest int8 step leaves an output error `sum_i e_i x_i` whose
//! size depends on how the inputs `x` correlate. GPTQ rounds input column `i` of every row, then
//! moves the row's columns not yet rounded to cancel the error that rounding made, weighted by
//! the inverse of the inputs' second-moment matrix `H = sum x x^T` (measured on calibration
//! text). The per-row scales are unchanged (max-abs of the float row), so the blob's format and
//! the engine do not change; only which int8 value each weight gets.

use convbert::float::{ops, Observer, Point};
use convbert::ModelConfig;
use std::collections::HashMap;

/// The input moments of every dense layer, collected by observing the float model: keyed by
/// the point whose values are the layer's input (a layer's q/k/v/conv value/FFN... inputs are
/// the previous point's rows; see [`DenseInputs::input_of`]).
pub struct DenseInputs {
    config: ModelConfig,
    moments: HashMap<(usize, Point), InputMoments>,
    /// The classifier's dense layer sees only the [CLS] row of the last layer's output.
    classifier: InputMoments,
    /// The text of the batch whose values come next ([`Observer::text`]).
    text: usize,
    /// The last text of the batch whose [CLS] row of the last layer was taken.
    cls_taken: Option<usize>,
}

impl DenseInputs {
    /// Empty moments for a model of `config`.
    pub fn new(config: &ModelConfig) -> Self {
        Self { config: *config, moments: HashMap::new(), classifier: InputMoments::new(config.hidden_size), text: 0, cls_taken: None }
    }

    /// The moments of the inputs at `point` of `layer` (a dense layer's input point).
    pub fn input_of(&self, layer: usize, point: Point) -> Option<&InputMoments> {
        self.moments.get(&(layer, point))
    }

    /// The moments of the classifier dense layer's input ([CLS] of the last layer).
    pub fn classifier_input(&self) -> &InputMoments {
        &self.classifier
    }

    /// Adds what `other` saw.
    pub fn merge(&mut self, other: &DenseInputs) {
        for (key, theirs) in &other.moments {
            self.moments.entry(*key).or_insert_with(|| InputMoments::new(theirs.width)).merge(theirs);
        }
        self.classifier.merge(&other.classifier);
    }

    /// Input width at `point`, for the points that feed a dense layer.
    fn width(&self, point: Point) -> Option<usize> {
        let c = &self.config;
        match point {
            Point::EmbeddingNorm => Some(c.embedding_size),
            Point::Projected | Point::Depthwise | Point::Mixed | Point::AttentionNorm | Point::FfnNorm | Point::HeadAct => {
                Some(c.hidden_size)
            }
            Point::KeyQuery => Some(c.all_head_size()),
            Point::FfnAct => Some(c.intermediate_size),
            _ => None,
        }
    }
}

impl Observer for DenseInputs {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        if point == Point::EmbeddingSum {
            // A new batch: its texts count from 0 again.
            self.cls_taken = None;
        }
        if point == Point::FfnNorm && layer + 1 == self.config.num_hidden_layers && self.cls_taken != Some(self.text) {
            // The FFN LayerNorm is observed one token row at a time, text after text; a text's
            // first row is its [CLS].
            self.classifier.add_rows(&values[..values.len().min(self.config.hidden_size)]);
            self.cls_taken = Some(self.text);
        }
        if let Some(width) = self.width(point) {
            self.moments.entry((layer, point)).or_insert_with(|| InputMoments::new(width)).add_rows(values);
        }
    }

    fn text(&mut self, index: usize) {
        self.text = index;
    }
}

/// `sum x x^T` over the input rows a dense layer saw during calibration.
#[derive(Clone, Debug)]
pub struct InputMoments {
    /// Input width `n`.
    pub width: usize,
    /// `n x n`, row-major: the sum over the rows already moved out of `pending`.
    sum: Vec<f64>,
    /// Rows not yet in `sum`. Rows arrive one token (or one text) at a time; summing them
    /// [`BATCH_ROWS`] at a time makes the sum one GEMM per batch instead of a rank-1 update
    /// per row. Each batch is summed in f32 and the batches in f64, which keeps `sum` as
    /// exact as GPTQ needs (its dampening alone moves `H` by 1 %).
    pending: Vec<f32>,
    /// Rows added.
    pub rows: usize,
}

/// Rows summed per GEMM by [`InputMoments`].
const BATCH_ROWS: usize = 256;

impl InputMoments {
    /// Empty moments for inputs of `width`.
    pub fn new(width: usize) -> Self {
        Self { width, sum: vec![0.0; width * width], pending: Vec::new(), rows: 0 }
    }

    /// Adds every row of `values` (a whole number of rows of `width`).
    pub fn add_rows(&mut self, values: &[f32]) {
        self.rows += values.len() / self.width;
        self.push(values);
    }

    /// Adds what `other` saw.
    pub fn merge(&mut self, other: &InputMoments) {
        for (s, o) in self.sum.iter_mut().zip(&other.sum) {
            *s += o;
        }
        self.rows += other.rows;
        self.push(&other.pending);
    }

    /// Queues rows (already counted), summing the queue once it holds a batch.
    fn push(&mut self, values: &[f32]) {
        self.pending.extend_from_slice(&values[..values.len() / self.width * self.width]);
        if self.pending.len() >= BATCH_ROWS * self.width {
            add_gram(&mut self.sum, &self.pending, self.width);
            self.pending.clear();
        }
    }

    /// The full symmetric matrix.
    fn full(&self) -> Vec<f64> {
        let mut h = self.sum.clone();
        add_gram(&mut h, &self.pending, self.width);
        h
    }
}

/// `sum += x^T x` for the rows of `x` (`[rows, n]`), summed in f32 by one GEMM.
fn add_gram(sum: &mut [f64], x: &[f32], n: usize) {
    let mut gram = vec![0.0f32; n * n];
    ops::add_gram(x, n, &mut gram);
    for (s, g) in sum.iter_mut().zip(gram) {
        *s += f64::from(g);
    }
}

/// Fraction of the mean diagonal added to `H` before inverting it (GPTQ's dampening): keeps
/// the inverse well conditioned when some inputs are (nearly) always zero or collinear.
const DAMPENING: f64 = 0.01;

/// The int8 values of `rows` (each `[in]`, scaled by its `scales[r]`: `w ~ q * scale`), chosen
/// by GPTQ against `moments`. Returns `None` if `moments` has the wrong width or no rows, or
/// `H` cannot be factored; the caller then rounds to nearest.
pub fn round_rows(rows: &[Vec<f32>], scales: &[f64], moments: &InputMoments) -> Option<Vec<Vec<i8>>> {
    let n = moments.width;
    if moments.rows == 0 || rows.iter().any(|r| r.len() != n) {
        return None;
    }
    let mut h = moments.full();
    let mean_diag = (0..n).map(|i| h[i * n + i]).sum::<f64>() / n as f64;
    for i in 0..n {
        // An input that was always zero carries no information: any value is as good.
        if h[i * n + i] == 0.0 {
            h[i * n + i] = 1.0;
        }
        h[i * n + i] += DAMPENING * mean_diag.max(1e-12);
    }
    // U: the upper Cholesky factor of H^-1, whose row i says how the later columns absorb
    // column i's error.
    let u = upper_cholesky_of_inverse(&h, n)?;

    Some(
        rows.iter()
            .zip(scales)
            .map(|(row, &scale)| {
                let mut w: Vec<f64> = row.iter().map(|&v| v as f64).collect();
                let mut q = vec![0i8; n];
                for i in 0..n {
                    let rounded = (w[i] / scale).round().clamp(-127.0, 127.0);
                    q[i] = rounded as i8;
                    let error = (w[i] - rounded * scale) / u[i * n + i];
                    for (wj, uij) in w[i + 1..].iter_mut().zip(&u[i * n + i + 1..(i + 1) * n]) {
                        *wj -= error * uij;
                    }
                }
                q
            })
            .collect(),
    )
}

/// The upper triangular `U` with `U^T U = a^-1` (`a` symmetric positive definite, `n x n`),
/// or `None` if `a` is not positive definite.
///
/// With `J` the order-reversing permutation (`J x J` of a flat row-major matrix is the flat
/// array reversed): if `J a J = L L^T`, then `a = (J L J)(J L J)^T` with `J L J` upper
/// triangular, so `a^-1 = U^T U` for `U = (J L J)^-1 = J L^-1 J`. One factorisation and one
/// triangular inverse, instead of inverting `a` and then factoring the inverse.
fn upper_cholesky_of_inverse(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let reversed: Vec<f64> = a.iter().rev().copied().collect();
    let mut u = lower_inverse(&cholesky_lower(&reversed, n)?, n);
    u.reverse();
    Some(u)
}

/// `L` with `L L^T = a` (a symmetric positive definite, `n x n`), or `None` if it is not.
fn cholesky_lower(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v = a[i * n + j] - dot(&l[i * n..][..j], &l[j * n..][..j]);
            if i == j {
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// `L^-1` of a lower triangular `L` (`n x n`, non-zero diagonal), row by row: `L M = I` says
/// `L[i][i] M[i] = e_i - sum_{k<i} L[i][k] M[k]`, so each row is a sum of earlier rows, read
/// and written contiguously.
fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        let (done, rest) = m.split_at_mut(i * n);
        let row = &mut rest[..n];
        row[i] = 1.0;
        // Row k of M is zero past column k.
        for (k, (&l_ik, row_k)) in l[i * n..][..i].iter().zip(done.chunks_exact(n)).enumerate() {
            for (r, &m_k) in row[..=k].iter_mut().zip(&row_k[..=k]) {
                *r -= l_ik * m_k;
            }
        }
        let inv = 1.0 / l[i * n + i];
        for r in &mut row[..=i] {
            *r *= inv;
        }
    }
    m
}

/// `sum a[k] b[k]` in eight interleaved partial sums: one running sum would be a chain of
/// dependent adds that the compiler may not reorder; eight fill the vector lanes.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    let mut lanes = [0.0; 8];
    for (x, y) in a8.zip(b8) {
        for ((s, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output error `sum over rows of (W - Q s) H (W - Q s)^T`.
    fn output_error(rows: &[Vec<f32>], scales: &[f64], q: &[Vec<i8>], moments: &InputMoments) -> f64 {
        let (n, h) = (moments.width, moments.full());
        rows.iter()
            .zip(scales)
            .zip(q)
            .map(|((w, &s), q)| {
                let e: Vec<f64> = w.iter().zip(q).map(|(&w, &q)| w as f64 - q as f64 * s).collect();
                (0..n).map(|i| (0..n).map(|j| e[i] * h[i * n + j] * e[j]).sum::<f64>()).sum::<f64>()
            })
            .sum()
    }

    #[test]
    fn beats_rounding_to_nearest_on_correlated_inputs() {
        // Inputs with strongly correlated columns, weights on a coarse grid's off-steps.
        let n = 16;
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let mut moments = InputMoments::new(n);
        for _ in 0..500 {
            let common = next();
            let x: Vec<f32> = (0..n).map(|_| (common + 0.3 * next()) as f32).collect();
            moments.add_rows(&x);
        }
        let rows: Vec<Vec<f32>> = (0..8).map(|_| (0..n).map(|_| next() as f32).collect()).collect();
        let scales: Vec<f64> = rows.iter().map(|r| r.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64 / 127.0 * 40.0).collect();
        let nearest: Vec<Vec<i8>> =
            rows.iter().zip(&scales).map(|(r, &s)| r.iter().map(|&v| (v as f64 / s).round().clamp(-127.0, 127.0) as i8).collect()).collect();
        let gptq = round_rows(&rows, &scales, &moments).unwrap();
        let (e_nearest, e_gptq) = (output_error(&rows, &scales, &nearest, &moments), output_error(&rows, &scales, &gptq, &moments));
        assert!(e_gptq < 0.7 * e_nearest, "gptq {e_gptq} vs nearest {e_nearest}");
    }

    #[test]
    fn upper_factor_is_of_the_inverse() {
        // U^T U = a^-1, so U^T U a = I, with U upper triangular.
        let n = 3;
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let u = upper_cholesky_of_inverse(&a, n).unwrap();
        for i in 0..n {
            for j in 0..i {
                assert_eq!(u[i * n + j], 0.0);
            }
            for j in 0..n {
                let p: f64 = (0..n).map(|k| (0..n).map(|m| u[m * n + i] * u[m * n + k]).sum::<f64>() * a[k * n + j]).sum();
                assert!((p - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        assert!(cholesky_lower(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn wrong_width_or_no_rows_gives_none() {
        let moments = InputMoments::new(4);
        assert!(round_rows(&[vec![0.0; 4]], &[1.0], &moments).is_none());
        let mut moments = InputMoments::new(4);
        moments.add_rows(&[1.0, 2.0, 3.0, 4.0]);
        assert!(round_rows(&[vec![0.0; 3]], &[1.0], &moments).is_none());
    }
}
