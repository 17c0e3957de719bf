//! The kernels (`convbert::int8::kernels`): the portable ones against plain `i64` loops, and
//! the target's own ([`Native`]: DSP `SMLAD`, Helium, ...) against the portable ones, bit for
//! bit, on random shapes with odd lengths, tails, groups and extreme values.
//!
//! The `i64` loops below are the definition; `Generic` is the portable code that every target
//! can run; `Native` is what the engine runs here. On the host `Native` is `Generic`; on each
//! QEMU board (`tests/on_target.rs`) it is that board's kernels.

use crate::{ensure, Lcg, Outcome};
use convbert::int8::kernels::generic::depthwise;
use convbert::int8::activation::TABLE_LEN;
use convbert::int8::layer_norm::{layer_norm, Affine};
use convbert::int8::kernels::{Generic, Kernels, Native, SCRATCH_ROWS};
use convbert::int8::{QDense, Requant};

/// `bias[o] + sum_i x[g(o) * ig + i] * w[o * ig + i]`, the meaning of `dense`.
fn dense_reference(x: &[i16], w: &[i8], bias: &[i32], groups: usize, o: usize, outputs: usize) -> i64 {
    let (ig, og) = (x.len() / groups, outputs / groups);
    let g = o / og;
    let products = (0..ig).map(|i| x[g * ig + i] as i64 * w[o * ig + i] as i64);
    bias[o] as i64 + products.sum::<i64>()
}

/// `Generic::dense` of one token row into `acc`.
fn dense(x: &[i16], w: &[i8], bias: &[i32], groups: usize, acc: &mut [i32]) {
    let layer = QDense { weight: w, bias, requant: &[], groups };
    Generic::dense(x, x.len(), &layer, &mut [], &mut |_, o0, sums| {
        for (a, &sum) in acc.iter_mut().skip(o0).zip(sums) {
            *a = sum;
        }
    });
}

/// 200 random shapes (inputs up to 64, outputs up to 32, 1, 2 or 4 groups) and values, with
/// int8-range and full int16 inputs.
pub fn dense_matches_i64_loops() -> Outcome {
    let mut rng = Lcg(1);
    let (mut x8, mut x16, mut w, mut bias, mut acc) = ([0i16; 64], [0i16; 64], [0i8; 64 * 32], [0i32; 32], [0i32; 32]);
    for case in 0..200 {
        let groups = [1, 2, 4][rng.below(3)];
        let inputs = groups * (1 + rng.below(64 / groups));
        let outputs = groups * (1 + rng.below(32 / groups));
        let (x8, x16, w) = (&mut x8[..inputs], &mut x16[..inputs], &mut w[..inputs / groups * outputs]);
        let (bias, acc) = (&mut bias[..outputs], &mut acc[..outputs]);
        w.iter_mut().for_each(|v| *v = rng.next_i8());
        x8.iter_mut().for_each(|v| *v = rng.next_i8() as i16);
        x16.iter_mut().for_each(|v| *v = rng.next_i16());
        bias.iter_mut().for_each(|b| *b = rng.next_i8() as i32 * 1000);
        for (x, what) in [(&*x8, "int8-range"), (&*x16, "int16")] {
            dense(x, w, bias, groups, acc);
            for (o, &got) in acc.iter().enumerate() {
                let want = dense_reference(x, w, bias, groups, o, outputs);
                ensure!(got as i64 == want, "case {case} ({inputs}->{outputs}, {groups} groups) {what} output {o}: {got} != {want}");
            }
        }
    }
    Ok(())
}

/// A 4 -> 2 linear layer and its 2-group version, worked out by hand.
pub fn dense_grouped_by_hand() -> Outcome {
    let x = [1i16, -2, 3, 4];
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
static X_MINUS_128: [i16; 1024] = [-128; 1024];
static I16_MIN: [i16; 511] = [i16::MIN; 511];

/// The largest products over a 1024-wide int8-range row and a 511-wide int16 row (the most
/// full-scale int16 terms an `i32` holds), and the documented `i32` wrap of the bias sum.
pub fn dense_extremes_wrap_like_i32() -> Outcome {
    let mut acc = [0; 1];
    dense(&X_MINUS_128, &MINUS_128, &[0], 1, &mut acc);
    ensure!(acc[0] == 1024 * 16384, "(-128)^2 x 1024: {}", acc[0]);
    dense(&X_MINUS_128, &PLUS_127, &[-7], 1, &mut acc);
    ensure!(acc[0] == -1024 * 128 * 127 - 7, "-128 x 127 x 1024 - 7: {}", acc[0]);
    dense(&I16_MIN, &MINUS_128[..511], &[0], 1, &mut acc);
    ensure!(acc[0] == 511 * 32768 * 128, "(-32768) x (-128) x 511: {}", acc[0]);
    dense(&[1i16], &[1], &[i32::MAX], 1, &mut acc);
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

/// Whether this target's `Native` is `Generic` (no kernels of its own): the `native_*` checks
/// would compare the portable code with itself there, so they return at once, and their code
/// stays out of the test program of the 256 KiB-flash boards, which run the portable kernels.
pub(crate) fn native_is_generic() -> bool {
    core::any::TypeId::of::<Native>() == core::any::TypeId::of::<Generic>()
}

/// Largest shapes of the `Native` vs `Generic` cases.
const MAX_ROWS: usize = 7;
const MAX_INS: usize = 72;
const MAX_OUTS: usize = 40;

/// The dense kernel a check runs: `dense` on int16 rows, or `dense_i8` on the same rows as
/// int8 (values the case keeps in int8's range).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Inputs {
    I16,
    I8,
}

/// Longest rows of the dense checks (`native_dense_many_tokens_matches_generic`'s).
const MAX_X: usize = 12 * 128 + 1;

/// Runs `K::dense` or `K::dense_i8` and returns every `(t, o)` sum, `Err((t, o))` where the
/// sink was given an output twice or one outside the layer.
fn dense_sums<K: Kernels>(inputs: Inputs, x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], out: &mut [Option<i32>]) -> Result<(), (usize, usize)> {
    let outs = layer.bias.len();
    out.iter_mut().for_each(|v| *v = None);
    let mut twice = None;
    let mut sink = |t: usize, o0: usize, sums: &[i32]| {
        for (o, &v) in (o0..).zip(sums) {
            match out.get_mut(t * outs + o).filter(|_| o < outs) {
                Some(slot @ None) => *slot = Some(v),
                _ => twice = Some((t, o)),
            }
        }
    };
    match inputs {
        Inputs::I16 => K::dense(x, ins, layer, scratch, &mut sink),
        Inputs::I8 => {
            let mut x8 = [0i8; MAX_X];
            let x8 = &mut x8[..x.len()];
            x8.iter_mut().zip(x).for_each(|(b, &v)| *b = v as i8);
            K::dense_i8(x8, ins, layer, scratch, &mut sink);
        }
    }
    twice.map_or(Ok(()), Err)
}

/// `Native::dense` against `Generic::dense` on 300 random shapes: 1-7 token rows, inputs 1-72
/// (odd lengths, lengths that are not a multiple of any vector width), 1-40 outputs, 1, 2 or 3
/// groups, full and too-short scratch, random values and runs of the extremes (-128, 127,
/// -32768, 32767); and `dense_i8` on each case's rows cut to int8.
pub fn native_dense_matches_generic() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    let mut rng = Lcg(11);
    let mut x = [0i16; MAX_ROWS * MAX_INS];
    let mut w = [0i8; MAX_INS * MAX_OUTS];
    let mut bias = [0i32; MAX_OUTS];
    let mut scratch = [0i16; SCRATCH_ROWS * MAX_INS];
    let (mut want, mut got) = ([None; MAX_ROWS * MAX_OUTS], [None; MAX_ROWS * MAX_OUTS]);
    let requant = [Requant::default(); MAX_OUTS];
    for case in 0..300 {
        let groups = [1, 2, 3][rng.below(3)];
        let ins = groups * (1 + rng.below(MAX_INS / groups));
        let outs = groups * (1 + rng.below(MAX_OUTS / groups));
        let rows = 1 + rng.below(MAX_ROWS);
        let (x, w, bias) = (&mut x[..rows * ins], &mut w[..ins / groups * outs], &mut bias[..outs]);
        let extremes = rng.below(4) == 0;
        x.iter_mut().for_each(|v| *v = if extremes { [i16::MIN, i16::MAX, -128, 127][rng.below(4)] } else { rng.next_i16() });
        w.iter_mut().for_each(|v| *v = if extremes { [i8::MIN, i8::MAX][rng.below(2)] } else { rng.next_i8() });
        bias.iter_mut().for_each(|b| *b = rng.next_i16() as i32 * 4099);
        let layer = QDense { weight: w, bias, requant: &requant[..outs], groups };
        let scratch_len = if rng.below(5) == 0 { rng.below(SCRATCH_ROWS * ins) } else { SCRATCH_ROWS * ins };
        let (want, got) = (&mut want[..rows * outs], &mut got[..rows * outs]);
        for inputs in [Inputs::I16, Inputs::I8] {
            let shape = (inputs, rows, ins, outs, groups, scratch_len);
            ensure!(dense_sums::<Generic>(inputs, x, ins, &layer, &mut [], want).is_ok(), "case {case} {shape:?}: Generic called a sink twice");
            if let Err((t, o)) = dense_sums::<Native>(inputs, x, ins, &layer, &mut scratch[..scratch_len], got) {
                ensure!(false, "case {case} (inputs, rows, ins, outs, groups, scratch) {shape:?}: Native gave ({t}, {o}) twice or out of range");
            }
            for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                ensure!(g == w && w.is_some(), "case {case} (inputs, rows, ins, outs, groups, scratch) {shape:?}: token {} output {}: Native {g:?}, Generic {w:?}", i / outs, i % outs);
            }
        }
    }
    Ok(())
}

/// Full-scale int16 rows: `-32768 x -128` over 511 inputs is the largest sum an `i32` holds,
/// and over 512 it wraps, in `Native` as in `Generic` (two tokens, plus a bias that wraps).
pub fn native_dense_extremes_wrap_like_generic() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    let requant = [Requant::default(); 2];
    let mut scratch = [0i16; SCRATCH_ROWS * 512];
    for ins in [511usize, 512] {
        let x = &I16_MIN[..511.min(ins)];
        let mut rows = [i16::MIN; 2 * 512];
        rows[..x.len()].copy_from_slice(x);
        let layer = QDense { weight: &MINUS_128[..2 * ins], bias: &[0, i32::MAX], requant: &requant, groups: 1 };
        let (mut want, mut got) = ([None; 4], [None; 4]);
        ensure!(dense_sums::<Generic>(Inputs::I16, &rows[..2 * ins], ins, &layer, &mut [], &mut want).is_ok(), "Generic sink twice");
        ensure!(dense_sums::<Native>(Inputs::I16, &rows[..2 * ins], ins, &layer, &mut scratch, &mut got).is_ok(), "Native sink twice");
        ensure!(got == want, "{ins} inputs: Native {got:?}, Generic {want:?}");
    }
    Ok(())
}

/// `Native::depthwise` against `Generic` on random shapes (1-67 channels, K 1-9, 1-12 rows)
/// and extremes.
pub fn native_depthwise_matches_generic() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    let mut rng = Lcg(12);
    let mut x = [0i16; 12 * 67];
    let (mut want, mut got) = ([0i32; 67], [0i32; 67]);
    for case in 0..200 {
        let extremes = rng.below(4) == 0;
        let (channels, k) = (1 + rng.below(67), [1, 3, 5, 9][rng.below(4)]);
        let rows = 1 + rng.below(12);
        let (x, w) = (&mut x[..rows * channels], &mut [0i8; 67 * 9][..channels * k]);
        x.iter_mut().for_each(|v| *v = if extremes { i16::MAX } else { rng.next_i16() });
        w.iter_mut().for_each(|v| *v = if extremes { i8::MIN } else { rng.next_i8() });
        for t in 0..rows {
            Generic::depthwise(x, channels, t, w, k, &mut want[..channels]);
            Native::depthwise(x, channels, t, w, k, &mut got[..channels]);
            ensure!(want == got, "case {case}: depthwise L {rows} C {channels} k {k} t {t}");
        }
    }
    Ok(())
}

/// `Native::accumulate` against `Generic::accumulate` on 300 random int8 rows of 0-67
/// values starting at every byte offset 0-3 (kernels that load words may not assume any),
/// with runs of the extremes (-128, 127) and weights of every kind: random Q15 probabilities
/// `0..=32768`, their extremes, the edges of the DSP kernel's `(0, -weight)` pair (-32767 in,
/// -32768 and 32769 out), `i32::MIN`, `i32::MAX` and random `i32`s, onto random sums that
/// wrap.
pub fn native_accumulate_matches_generic() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    const N: usize = 67;
    let mut rng = Lcg(18);
    let mut buffer = [0i8; N + 3];
    for case in 0..300 {
        let n = rng.below(N + 1);
        let offset = rng.below(4);
        let row = &mut buffer[offset..offset + n];
        let extremes = rng.below(4) == 0;
        row.iter_mut().for_each(|v| *v = if extremes { [i8::MIN, i8::MAX, i8::MIN, rng.next_i8()][rng.below(4)] } else { rng.next_i8() });
        let weight = match rng.below(8) {
            0 | 1 => (rng.next_i16() as u16 as i32) % 32769,
            2 => [0, 1, 32767, 32768][rng.below(4)],
            3 => [-32767, -32768, 32769, -1][rng.below(4)],
            4 => [i32::MIN, i32::MAX, i32::MIN + 1, 65536][rng.below(4)],
            5 => rng.next_i16() as i32,
            _ => rng.next_i32(),
        };
        let mut want = [0i32; N];
        want.iter_mut().for_each(|v| *v = rng.next_i32());
        let mut got = want;
        // A sums slice longer than the row in some cases: only `min` of the two is summed.
        let sums = (n + rng.below(2)).min(N);
        Generic::accumulate(&mut want[..sums], weight, row);
        Native::accumulate(&mut got[..sums], weight, row);
        ensure!(want == got, "case {case}: accumulate over {n} from offset {offset} with weight {weight}");
    }
    // A full row of -128 by 32768 (the largest product of a Q15 probability, -2^22 each) onto
    // sums at the edge of wrapping.
    let (mut want, mut got) = ([i32::MIN + 5; N], [i32::MIN + 5; N]);
    for offset in 0..4 {
        let row = &MINUS_128[offset..offset + N];
        Generic::accumulate(&mut want, 32768, row);
        Native::accumulate(&mut got, 32768, row);
        ensure!(want == got && want[0] == (i32::MIN + 5).wrapping_sub((offset as i32 + 1) << 22), "-128 x 32768 from offset {offset}: Native {}, Generic {}", got[0], want[0]);
    }
    Ok(())
}

/// `Native::dense` against `Generic::dense` for 9 to 12 token rows (several of the Cortex-M
/// DSP kernel's 4-token tiles and a remainder of 1 to 3), inputs 32 or 64 per group (whole
/// passes of its loops), 1 or 2 groups, 1-16 outputs, and token rows starting at an odd
/// address (kernels that need word-aligned rows must fall back); `dense_i8` on every other
/// case, with int8 values.
pub fn native_dense_many_tokens_matches_generic() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    const ROWS: usize = 12;
    const INS: usize = 128;
    const OUTS: usize = 16;
    let mut rng = Lcg(13);
    let mut buffer = [0i16; ROWS * INS + 1];
    let mut w = [0i8; INS / 2 * OUTS];
    let mut bias = [0i32; OUTS];
    let mut scratch = [0i16; SCRATCH_ROWS * INS];
    let (mut want, mut got) = ([None; ROWS * OUTS], [None; ROWS * OUTS]);
    for case in 0..40 {
        let groups = 1 + rng.below(2);
        let ins = groups * [32, 64][rng.below(2)];
        let outs = groups * (1 + rng.below(OUTS / groups));
        let rows = 9 + rng.below(ROWS - 8);
        let offset = rng.below(2);
        let x = &mut buffer[offset..offset + rows * ins];
        let w = &mut w[..ins / groups * outs];
        let inputs = [Inputs::I16, Inputs::I8][case % 2];
        x.iter_mut().for_each(|v| *v = if inputs == Inputs::I8 { rng.next_i8() as i16 } else { rng.next_i16() });
        w.iter_mut().for_each(|v| *v = rng.next_i8());
        bias.iter_mut().for_each(|b| *b = rng.next_i32());
        let layer = QDense { weight: w, bias: &bias[..outs], requant: &[], groups };
        let (want, got) = (&mut want[..rows * outs], &mut got[..rows * outs]);
        let shape = (inputs, rows, ins, outs, groups, offset);
        ensure!(dense_sums::<Generic>(inputs, x, ins, &layer, &mut [], want).is_ok(), "case {case} {shape:?}: Generic sink twice");
        ensure!(dense_sums::<Native>(inputs, x, ins, &layer, &mut scratch, got).is_ok(), "case {case} (inputs, rows, ins, outs, groups, offset) {shape:?}: Native sink twice");
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            ensure!(g == w && w.is_some(), "case {case} (inputs, rows, ins, outs, groups, offset) {shape:?}: token {} output {}: Native {g:?}, Generic {w:?}", i / outs, i % outs);
        }
    }
    Ok(())
}

/// A random requantization pair: mostly valid ones (multiplier 0..2^31, shift 1..=62, the
/// usual 33..=62 more often), sometimes one a blob would refuse (negative multiplier, shift 0
/// or 63), which the kernels must still treat as the portable code does.
fn random_requant(rng: &mut Lcg) -> Requant {
    match rng.below(8) {
        0 => Requant { multiplier: rng.next_i32(), shift: [0, 63, 1, 32][rng.below(4)] },
        1 | 2 => Requant { multiplier: rng.next_i32() & i32::MAX, shift: 1 + rng.below(32) as i32 },
        _ => Requant { multiplier: rng.next_i32() & i32::MAX, shift: 33 + rng.below(30) as i32 },
    }
}

/// `Native`'s requantize loops (`requantize_i8`, `_i16`, `_i32`, `scale_i16`, `scale_i8`,
/// `multiply_i16_i8`, `add_residual`), `activate` and `activate_i8` against `Generic` on 300 random rows of 0-40 values: random
/// and extreme sums, random pairs (shifts 1..=62 and some invalid ones), rows that mix pairs
/// with and without a vector path, and random tables.
pub fn native_requantize_loops_match_generic() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    const N: usize = 40;
    let mut rng = Lcg(14);
    let mut table = [0i16; TABLE_LEN];
    for case in 0..300 {
        let n = rng.below(N + 1);
        let (mut acc, mut requant, mut residual) = ([0i32; N], [Requant::default(); N], [0i16; N]);
        let extremes = rng.below(4) == 0;
        for ((a, rq), r) in acc.iter_mut().zip(requant.iter_mut()).zip(residual.iter_mut()) {
            *a = if extremes { [i32::MIN, i32::MAX, 0, -1][rng.below(4)] } else { rng.next_i32() >> rng.below(16) };
            *rq = random_requant(&mut rng);
            *r = rng.next_i16();
        }
        // Some rows share one pair, as one tensor's requantization does.
        if rng.below(3) == 0 {
            let shared = random_requant(&mut rng);
            requant.iter_mut().for_each(|rq| *rq = shared);
        }
        let (acc, requant, residual) = (&acc[..n], &requant[..n], &residual[..n]);
        let (mut want16, mut got16) = ([0i16; N], [0i16; N]);
        Generic::requantize_i16(acc, requant, &mut want16[..n]);
        Native::requantize_i16(acc, requant, &mut got16[..n]);
        ensure!(want16 == got16, "case {case}: requantize_i16 over {n}");
        let (mut want8, mut got8) = ([0i8; N], [0i8; N]);
        Generic::requantize_i8(acc, requant, &mut want8[..n]);
        Native::requantize_i8(acc, requant, &mut got8[..n]);
        ensure!(want8 == got8, "case {case}: requantize_i8 over {n}");
        let (mut want32, mut got32) = ([0i32; N], [0i32; N]);
        Generic::requantize_i32(acc, requant, &mut want32[..n]);
        Native::requantize_i32(acc, requant, &mut got32[..n]);
        ensure!(want32 == got32, "case {case}: requantize_i32 over {n}");
        let one = requant.first().copied().unwrap_or_default();
        Generic::scale_i16(acc, one, &mut want16[..n]);
        Native::scale_i16(acc, one, &mut got16[..n]);
        ensure!(want16 == got16, "case {case}: scale_i16 over {n} with {one:?}");
        Generic::scale_i8(acc, one, &mut want8[..n]);
        Native::scale_i8(acc, one, &mut got8[..n]);
        ensure!(want8 == got8, "case {case}: scale_i8 over {n} with {one:?}");
        want16[..n].copy_from_slice(residual);
        got16 = want16;
        Generic::multiply_i16_i8(&mut want16[..n], &want8[..n], one);
        Native::multiply_i16_i8(&mut got16[..n], &want8[..n], one);
        ensure!(want16 == got16, "case {case}: multiply_i16_i8 over {n} with {one:?}");
        let (mut want_z, mut got_z) = ([0i32; N], [0i32; N]);
        want_z[..n].copy_from_slice(acc);
        got_z[..n].copy_from_slice(acc);
        let residual_rq = random_requant(&mut rng);
        Generic::add_residual(&mut want_z[..n], requant, residual, residual_rq);
        Native::add_residual(&mut got_z[..n], requant, residual, residual_rq);
        ensure!(want_z == got_z, "case {case}: add_residual over {n} with residual {residual_rq:?}");
        table.iter_mut().for_each(|v| *v = rng.next_i16());
        want16[..n].iter_mut().zip(residual).for_each(|(v, &r)| *v = r);
        got16 = want16;
        Generic::activate(&mut want16[..n], &table);
        Native::activate(&mut got16[..n], &table);
        ensure!(want16 == got16, "case {case}: activate over {n}");
        Generic::activate_i8(acc, requant, &table, &mut want8[..n]);
        Native::activate_i8(acc, requant, &table, &mut got8[..n]);
        ensure!(want8 == got8, "case {case}: activate_i8 over {n}");
    }
    Ok(())
}

/// `Native::layer_norm` against the portable `layer_norm` on 300 random rows of 0-67 values
/// (whole vectors and not): LayerNorm-domain values, tiny spreads (a reciprocal past 2^31),
/// values past 2^24 and full-range ones, extreme gammas and betas (normalised values times
/// gamma past 2^31, betas that saturate the sum).
pub fn native_layer_norm_matches_generic() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    const N: usize = 67;
    let mut rng = Lcg(17);
    let (mut gamma, mut beta) = ([0i16; N], [0i32; N]);
    for case in 0..300 {
        let n = rng.below(N + 1);
        let kind = rng.below(5);
        let mut want = [0i32; N];
        let center = rng.next_i32() >> 10;
        for v in want.iter_mut() {
            *v = match kind {
                0 => rng.next_i32() >> 9,
                1 => center + (rng.next_i16() >> 12) as i32,
                2 => rng.next_i32() >> 6,
                3 => rng.next_i32(),
                _ => [i32::MIN, i32::MAX, 0, 1 << 24, -(1 << 24)][rng.below(5)],
            };
        }
        let mut got = want;
        for (g, b) in gamma.iter_mut().zip(beta.iter_mut()) {
            let extreme = rng.below(4) == 0;
            *g = if extreme { [i16::MIN, i16::MAX][rng.below(2)] } else { rng.next_i16() };
            *b = if extreme { [i32::MIN, i32::MAX][rng.below(2)] } else { rng.next_i32() >> 4 };
        }
        let affine = Affine { gamma: &gamma[..n], beta: &beta[..n] };
        let eps_q = [0, 1, rng.next_i32() as u32][rng.below(3)];
        layer_norm(&mut want[..n], affine, eps_q);
        Native::layer_norm(&mut got[..n], affine, eps_q);
        ensure!(want == got, "case {case}: {n} values of kind {kind}, eps {eps_q}");
    }
    Ok(())
}
