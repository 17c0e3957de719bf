//! Portable reference kernels: the defaults of [`super::Kernels`]. Integer arithmetic only;
//! accumulators are `i32`, wrapping.
//!
//! Weight rows are stored `[out, in_per_group]`, row-major and 16-byte aligned per tensor, the
//! layout CMSIS-NN-style SIMD kernels read directly.

use super::Sink;
use crate::int8::{QDense, Requant};

/// Outputs per run handed to the sink by [`dense_rows`].
const RUN: usize = 32;

/// [`super::Kernels::dense`] and [`super::Kernels::dense_i8`]: two token rows at a time (each
/// weight loaded once for both), runs of up to 32 outputs of a group.
pub fn dense_rows<X: Copy + Into<i32>>(x: &[X], ins: usize, layer: &QDense<'_>, sink: &mut Sink<'_>) {
    let groups = layer.groups.max(1);
    let (ig, og) = (ins / groups, layer.bias.len() / groups);
    // Each size is tested on its own, so that the optimiser sees that no chunk size is 0 (a
    // panic site otherwise; `tests/no_panic.rs`).
    let Some(block) = ig.checked_mul(og).filter(|&block| block > 0 && ig > 0 && og > 0 && ins > 0) else { return };
    let Some(run_len) = ig.checked_mul(RUN).filter(|&len| len > 0) else { return };
    let (mut sums_a, mut sums_b) = ([0i32; RUN], [0i32; RUN]);
    let mut rows = x.chunks_exact(ins).enumerate();
    while let Some((t, row_a)) = rows.next() {
        // The next row, if any, is token t + 1; alone, token t is paired with itself.
        let pair = rows.next();
        let row_b = pair.map_or(row_a, |(_, row)| row);
        // Group g: its inputs, weight rows and biases, by position (a `zip` of the chunk
        // iterators would divide by their sizes in an outlined constructor).
        let mut w_groups = layer.weight.chunks_exact(block);
        let mut b_groups = layer.bias.chunks_exact(og);
        for (g, (xa, xb)) in row_a.chunks_exact(ig).zip(row_b.chunks_exact(ig)).enumerate() {
            let (Some(w_group), Some(b_group)) = (w_groups.next(), b_groups.next()) else { break };
            let mut w_runs = w_group.chunks(run_len);
            for (run, b_run) in b_group.chunks(RUN).enumerate() {
                let Some(w_run) = w_runs.next() else { break };
                let n = run_sums(xa, xb, w_run, b_run, &mut sums_a, &mut sums_b);
                let o0 = g * og + run * RUN;
                sink(t, o0, sums_a.get(..n).unwrap_or(&[]));
                if pair.is_some() {
                    sink(t + 1, o0, sums_b.get(..n).unwrap_or(&[]));
                }
            }
        }
    }
}

/// `bias + W x` of one run of output rows for two tokens `a` and `b`; returns the outputs
/// written. Not inlined: one copy of the loop per input type however many sinks call `dense`.
#[inline(never)]
fn run_sums<X: Copy + Into<i32>>(xa: &[X], xb: &[X], w_rows: &[i8], biases: &[i32], sums_a: &mut [i32], sums_b: &mut [i32]) -> usize {
    let ig = xa.len().max(1);
    let mut n = 0;
    for (((w_row, &bias), sa), sb) in w_rows.chunks_exact(ig).zip(biases).zip(sums_a.iter_mut()).zip(sums_b.iter_mut()) {
        // (Cortex-M0's 8 registers cannot hold the two-token loop: one token at a time there.)
        let (a, b) = if cfg!(convbert_few_registers) { (dot(xa, w_row), dot(xb, w_row)) } else { dot2(xa, xb, w_row) };
        (*sa, *sb) = (bias.wrapping_add(a), bias.wrapping_add(b));
        n += 1;
    }
    n
}

/// `(sum_i a[i] * w[i], sum_i b[i] * w[i])`, `i32` wrapping: two tokens, one weight row.
///
/// Two weights a step: four multiply-adds per loop branch instead of two (on a Cortex-M3 the
/// loop's count and branch were 2 of every 7 instructions).
#[inline]
fn dot2<X: Copy + Into<i32>>(a: &[X], b: &[X], w: &[i8]) -> (i32, i32) {
    let mac = |(sa, sb): (i32, i32), xa: X, xb: X, wv: i8| {
        let wv = wv as i32;
        (sa.wrapping_add(xa.into().wrapping_mul(wv)), sb.wrapping_add(xb.into().wrapping_mul(wv)))
    };
    // The common length first, so that the pairs and the remainders line up.
    let n = a.len().min(b.len()).min(w.len());
    let (pairs_a, rest_a) = a.get(..n).unwrap_or(&[]).as_chunks::<2>();
    let (pairs_b, rest_b) = b.get(..n).unwrap_or(&[]).as_chunks::<2>();
    let (pairs_w, rest_w) = w.get(..n).unwrap_or(&[]).as_chunks::<2>();
    let mut sums = (0i32, 0i32);
    for ((&[a0, a1], &[b0, b1]), &[w0, w1]) in pairs_a.iter().zip(pairs_b).zip(pairs_w) {
        sums = mac(mac(sums, a0, b0, w0), a1, b1, w1);
    }
    for ((&xa, &xb), &wv) in rest_a.iter().zip(rest_b).zip(rest_w) {
        sums = mac(sums, xa, xb, wv);
    }
    sums
}

/// `sum_i a[i] * b[i]` over int8 or int16 `a` and int8 `b`, in `i32` (wrapping, as the SIMD
/// kernels do).
///
/// Two terms a step, as [`dot2`] (the loop's count and branch are what a Cortex-M0 saves).
#[inline]
pub fn dot<X: Copy + Into<i32>>(a: &[X], b: &[i8]) -> i32 {
    let mac = |acc: i32, x: X, y: i8| acc.wrapping_add(x.into().wrapping_mul(y as i32));
    let n = a.len().min(b.len());
    let (pairs_a, rest_a) = a.get(..n).unwrap_or(&[]).as_chunks::<2>();
    let (pairs_b, rest_b) = b.get(..n).unwrap_or(&[]).as_chunks::<2>();
    let mut sum = 0i32;
    for (&[a0, a1], &[b0, b1]) in pairs_a.iter().zip(pairs_b) {
        sum = mac(mac(sum, a0, b0), a1, b1);
    }
    for (&x, &y) in rest_a.iter().zip(rest_b) {
        sum = mac(sum, x, y);
    }
    sum
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

/// `sums[c] += weight * row[c]` over an int8 row, `i32` wrapping.
#[inline]
pub fn accumulate(sums: &mut [i32], weight: i32, row: &[i8]) {
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

/// `out[c] = requant[c].to_i8(acc[c])`.
#[inline]
pub fn requantize_i8(acc: &[i32], requant: &[Requant], out: &mut [i8]) {
    for ((o, &a), rq) in out.iter_mut().zip(acc).zip(requant) {
        *o = rq.to_i8(a);
    }
}

/// `out[c] = requant[c].apply(acc[c])`.
#[inline]
pub fn requantize_i32(acc: &[i32], requant: &[Requant], out: &mut [i32]) {
    for ((o, &a), rq) in out.iter_mut().zip(acc).zip(requant) {
        *o = rq.apply(a);
    }
}

/// `values[c] = act(values[c])`, the activation's interpolated table.
#[inline]
pub fn activate(values: &mut [i16], table: &[i16]) {
    for v in values.iter_mut() {
        *v = crate::int8::activation::lookup(table, *v);
    }
}

/// `out[c] = act(requant[c].to_i16(acc[c]))` as int8, through a table with an int8 output.
#[inline]
pub fn activate_i8(acc: &[i32], requant: &[Requant], table: &[i16], out: &mut [i8]) {
    for ((o, &a), rq) in out.iter_mut().zip(acc).zip(requant) {
        *o = crate::int8::activation::lookup_i8(table, rq.to_i16(a));
    }
}

/// `out[c] = requant.to_i8(acc[c])`: one requantization for the whole row.
#[inline]
pub fn scale_i8(acc: &[i32], requant: Requant, out: &mut [i8]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = requant.to_i8(a);
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
