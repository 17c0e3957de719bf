//! The shape checks that the vector kernels (Helium, NEON, AVX2) share.

use crate::int8::QDense;

/// A dense layer the tiles run: `groups` groups of `ig` inputs (a non-zero multiple of the
/// kernel's block) and `og` outputs, `ins = groups * ig`, the weights at least `og * ins` long
/// and the biases `groups * og`. Other layers (none that a validated model has) take the
/// portable loop.
#[derive(Clone, Copy)]
pub struct Shape {
    pub ins: usize,
    pub ig: usize,
    pub og: usize,
    pub groups: usize,
}

impl Shape {
    /// The shape of `layer` on `ins` inputs, if its slices match it and `ig` is a multiple of
    /// `block`.
    pub fn of(ins: usize, layer: &QDense<'_>, block: usize) -> Option<Self> {
        let groups = layer.groups.max(1);
        let (ig, og) = (ins / groups, layer.bias.len() / groups);
        let fits = ig > 0
            && ig % block.max(1) == 0
            && og > 0
            && ig * groups == ins
            && og * groups == layer.bias.len()
            && og.checked_mul(ins).is_some_and(|w| layer.weight.len() >= w);
        fits.then_some(Shape { ins, ig, og, groups })
    }
}

/// The taps of a depthwise filter of `k` taps that reach inside a sentence of `rows` rows for
/// token `t`: `(j0, first, taps)`, taps `j0..j0 + taps` reading rows `first..first + taps`
/// (`first = t + j0 - k/2`); `None` when none does.
pub fn depthwise_window(rows: usize, t: usize, k: usize) -> Option<(usize, usize, usize)> {
    let pad = k / 2;
    let (j0, j1) = (pad.saturating_sub(t), k.min((rows + pad).saturating_sub(t)));
    let taps = j1.checked_sub(j0).filter(|&taps| taps > 0)?;
    Some((j0, t + j0 - pad, taps))
}

/// The depthwise sums of channels `from..n` by the portable loop, and zeros past `n`: the
/// channels a vector kernel's blocks did not take. `x` starts at the window's first row
/// (`depthwise_window`), `w` at its first tap.
pub fn depthwise_tail((x, channels, taps): (&[i16], usize, usize), (w, k): (&[i8], usize), from: usize, n: usize, acc: &mut [i32]) {
    let (tail, rest) = acc.split_at_mut(n.min(acc.len()));
    for (c, a) in tail.iter_mut().enumerate().skip(from) {
        let column = x.iter().skip(c).step_by(channels.max(1)).take(taps);
        let products = column.zip(w.iter().skip(c * k)).map(|(&xv, &wv)| (xv as i32).wrapping_mul(wv as i32));
        *a = products.fold(0i32, i32::wrapping_add);
    }
    rest.fill(0);
}
