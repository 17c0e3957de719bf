//! Portable reference kernels: the defaults of [`super::Kernels`]. Integer arithmetic only;
//! accumulators are `i32`, wrapping.
//!
//! Weight rows are stored `[out, in_per_group]`, row-major and 16-byte aligned per tensor, the
//! layout CMSIS-NN-style SIMD kernels read directly.

use crate::int8::{QDense, Requant};

/// [`super::Kernels::dense`]: one token row at a time, one output channel at a time.
pub fn dense_rows<S: FnMut(usize, usize, i32)>(x: &[i16], ins: usize, layer: &QDense<'_>, sink: &mut S) {
    let groups = layer.groups.max(1);
    let (ig, og) = (ins / groups, layer.bias.len() / groups);
    // Each size is tested on its own, so that the optimiser sees that no chunk size is 0 (a
    // panic site otherwise; `tests/no_panic.rs`).
    let Some(block) = ig.checked_mul(og).filter(|&block| block > 0 && ig > 0 && og > 0 && ins > 0) else { return };
    for (t, row) in x.chunks_exact(ins).enumerate() {
        // Group g: its inputs, weight rows and biases, by position (a `zip` of the chunk
        // iterators would divide by their sizes in an outlined constructor).
        let mut w_groups = layer.weight.chunks_exact(block);
        let mut b_groups = layer.bias.chunks_exact(og);
        for (g, x_group) in row.chunks_exact(ig).enumerate() {
            let (Some(w_group), Some(b_group)) = (w_groups.next(), b_groups.next()) else { break };
            for (o, (w_row, &b)) in w_group.chunks_exact(ig).zip(b_group).enumerate() {
                sink(t, g * og + o, b.wrapping_add(dot(x_group, w_row)));
            }
        }
    }
}

/// `sum_i a[i] * b[i]` over int8 or int16 `a` and int8 `b`, in `i32` (wrapping, as the SIMD
/// kernels do).
#[inline]
pub fn dot<X: Copy + Into<i32>>(a: &[X], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| acc.wrapping_add(x.into().wrapping_mul(y as i32)))
}

/// Depthwise 1-D convolution of token `t` over `[L, C]` rows: `acc[c] = sum_j
/// w[c * k + j] * x[t + j - k/2, c]`, positions outside `0..L` being zero (`Conv1d`,
/// `groups = C`, zero padding `k/2`, no bias).
pub fn depthwise<X: Copy + Into<i32>>(x: &[X], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
    acc.fill(0);
    if channels == 0 || k == 0 {
        return;
    }
    let pad = k / 2;
    for j in 0..k {
        let Some(row) = (t + j).checked_sub(pad).and_then(|src| x.chunks_exact(channels).nth(src)) else { continue };
        for ((a, &xv), taps) in acc.iter_mut().zip(row).zip(w.chunks_exact(k)) {
            *a = a.wrapping_add(xv.into().wrapping_mul(taps[j] as i32));
        }
    }
}

/// `sums[c] += weight * row[c]`, `i32` wrapping.
#[inline]
pub fn accumulate(sums: &mut [i32], weight: i32, row: &[i16]) {
    for (sum, &v) in sums.iter_mut().zip(row) {
        *sum = sum.wrapping_add(weight.wrapping_mul(v as i32));
    }
}

/// `out[c] = requant[c].to_i16(acc[c])`: one requantization per channel.
#[inline]
pub fn requantize_i16(acc: &[i32], requant: &[Requant], out: &mut [i16]) {
    for ((o, &a), rq) in out.iter_mut().zip(acc).zip(requant) {
        *o = rq.to_i16(a);
    }
}

/// `out[c] = requant.to_i16(acc[c])`: one requantization for the whole row.
#[inline]
pub fn scale_i16(acc: &[i32], requant: Requant, out: &mut [i16]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = requant.to_i16(a);
    }
}

/// `a[c] = requant.to_i16(a[c] * b[c])`: an elementwise product (span-aware key x query).
#[inline]
pub fn multiply_i16_i8(a: &mut [i16], b: &[i8], requant: Requant) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = requant.to_i16(*x as i32 * y as i32);
    }
}

/// `z[c] = branch[c].apply(z[c]) + residual_rq.apply(residual[c])`, saturating: a branch and
/// its residual on the LayerNorm's domain.
#[inline]
pub fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
    for ((v, rq), &r) in z.iter_mut().zip(branch).zip(residual) {
        *v = rq.apply(*v).saturating_add(residual_rq.apply(r as i32));
    }
}

/// `z[c] = sum over (row, requant) of requant.apply(row[c])`, saturating: word + position +
/// token type embeddings, each row on its own scale, onto the embedding LayerNorm's domain.
#[inline]
pub fn sum_rows(z: &mut [i32], rows: [(&[i8], Requant); 3]) {
    let [(a, ra), (b, rb), (c, rc)] = rows;
    for (((v, &x), &y), &w) in z.iter_mut().zip(a).zip(b).zip(c) {
        *v = ra.apply(x as i32).saturating_add(rb.apply(y as i32)).saturating_add(rc.apply(w as i32));
    }
}

// Tests: tests/on-target/src/kernels.rs, run on the host and on every QEMU board.
