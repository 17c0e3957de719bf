//! The forward pass, top to bottom, in the order of `modeling_convbert.py`.
//!
//! Shapes: L tokens, H hidden, E embedding, A = H/2 attention width, nh = N/2 heads of width
//! hs, K conv taps, I intermediate. Rows are tokens; every matrix is row-major `[L, width]`.
//!
//! A pass runs a batch of texts at once: their token rows are stacked into one `[R, width]`
//! matrix (R = the sum of their lengths), so that every dense layer is one product over all
//! R rows (the host's GEMM packs each weight matrix once per batch instead of once per text),
//! while everything that mixes tokens (positions, the depthwise and dynamic convolutions,
//! attention) runs on each text's own rows, exactly as for that text alone. Each row's numbers
//! are therefore the same whether its text runs alone or in a batch.

use super::ops::{activate, dense, dense_rows, dot, layer_norm, softmax};
use super::weights::LayerWeights;
use super::{BatchError, FloatModel, Observer, Point};
use crate::input::{self, RunError};
use crate::ModelConfig;
use core::ops::Range;

/// The activation buffers of one pass, carved out of the caller's scratch slice.
pub(super) struct Scratch<'s> {
    /// `[L, H]` the residual stream: layer input, then layer output.
    hidden: &'s mut [f32],
    /// `[L, E]` the embeddings before the projection.
    embed: &'s mut [f32],
    /// `[L, A]` each: query, key, value, span-aware key (then key * query), conv value.
    query: &'s mut [f32],
    key: &'s mut [f32],
    value: &'s mut [f32],
    span_key: &'s mut [f32],
    conv_value: &'s mut [f32],
    /// `[L, H]` the depthwise-filtered input of the span-aware key.
    depthwise: &'s mut [f32],
    /// `[L, nh * K]` per token and head, the K conv taps (logits, then softmax).
    conv_taps: &'s mut [f32],
    /// `[L, H]` attention heads then conv heads, concatenated.
    mixed: &'s mut [f32],
    /// `[L, H]` the attention block's output (LayerNorm applied), the FFN's residual.
    attended: &'s mut [f32],
    /// `[longest text]` one query's attention scores.
    scores: &'s mut [f32],
    /// `[L, I]` the FFN's intermediate activations.
    ffn: &'s mut [f32],
    /// `[H]` the classifier head's hidden row.
    head: &'s mut [f32],
}

impl<'s> Scratch<'s> {
    /// Element counts of the buffers, in carving order, for `l` rows in all, of texts of at
    /// most `longest` tokens.
    fn sizes(c: &ModelConfig, l: usize, longest: usize) -> [usize; 14] {
        let (h, a) = (c.hidden_size, c.all_head_size());
        let taps = c.attention_heads() * c.conv_kernel_size;
        [
            l * h,
            l * c.embedding_size,
            l * a,
            l * a,
            l * a,
            l * a,
            l * a,
            l * h,
            l * taps,
            l * h,
            l * h,
            longest,
            l * c.intermediate_size,
            h,
        ]
    }

    pub(super) fn len(c: &ModelConfig, l: usize, longest: usize) -> usize {
        Self::sizes(c, l, longest).iter().sum()
    }

    fn carve(c: &ModelConfig, l: usize, longest: usize, buf: &'s mut [f32]) -> Result<Self, RunError> {
        let need = Self::len(c, l, longest);
        if buf.len() < need {
            return Err(RunError::ScratchTooSmall { need, got: buf.len() });
        }
        let [hidden, embed, query, key, value, span_key, conv_value, depthwise, conv_taps, mixed, attended, scores, ffn, head] =
            Self::sizes(c, l, longest);
        let mut rest = buf;
        Ok(Self {
            hidden: take(&mut rest, hidden),
            embed: take(&mut rest, embed),
            query: take(&mut rest, query),
            key: take(&mut rest, key),
            value: take(&mut rest, value),
            span_key: take(&mut rest, span_key),
            conv_value: take(&mut rest, conv_value),
            depthwise: take(&mut rest, depthwise),
            conv_taps: take(&mut rest, conv_taps),
            mixed: take(&mut rest, mixed),
            attended: take(&mut rest, attended),
            scores: take(&mut rest, scores),
            ffn: take(&mut rest, ffn),
            head: take(&mut rest, head),
        })
    }
}

/// Splits the first `n` elements off `rest`; the caller has checked that they exist.
fn take<'s>(rest: &mut &'s mut [f32], n: usize) -> &'s mut [f32] {
    let (part, tail) = core::mem::take(rest).split_at_mut(n);
    *rest = tail;
    part
}

/// The texts of one pass: their token ids and, for a single text, its token types.
struct Batch<'a> {
    texts: &'a [&'a [u32]],
    /// Only a single-text pass ([`FloatModel::forward`], [`FloatModel::classify`]) takes token
    /// types; `None` means all zero.
    types: Option<&'a [u32]>,
}

/// One text of a [`Batch`]: its index, its token ids and its rows in the stacked matrices.
struct Segment<'a> {
    index: usize,
    ids: &'a [u32],
    rows: Range<usize>,
}

impl Segment<'_> {
    /// This text's part of a stacked `[R, width]` matrix.
    fn of<'v>(&self, values: &'v [f32], width: usize) -> &'v [f32] {
        &values[self.rows.start * width..self.rows.end * width]
    }

    /// [`Segment::of`], writable.
    fn of_mut<'v>(&self, values: &'v mut [f32], width: usize) -> &'v mut [f32] {
        &mut values[self.rows.start * width..self.rows.end * width]
    }
}

impl Batch<'_> {
    /// Rows of the stacked matrices: all texts' tokens.
    fn rows(&self) -> usize {
        self.texts.iter().map(|t| t.len()).sum()
    }

    /// Tokens of the longest text.
    fn longest(&self) -> usize {
        self.texts.iter().map(|t| t.len()).max().unwrap_or(0)
    }

    /// The texts in order, with their rows.
    fn segments(&self) -> impl Iterator<Item = Segment<'_>> {
        self.texts.iter().enumerate().scan(0, |first, (index, &ids)| {
            let rows = *first..*first + ids.len();
            *first = rows.end;
            Some(Segment { index, ids, rows })
        })
    }

    /// `rows = LayerNorm(rows + residual)` (both `[R, H]`, H the LayerNorm's width), shown to
    /// `observer` text by text before (`sum`) and after (`norm`) the LayerNorm.
    fn add_and_norm(
        &self,
        observer: &mut dyn Observer,
        layer: usize,
        (rows, residual): (&mut [f32], &[f32]),
        (gamma, beta, eps): (&[f32], &[f32], f32),
        (sum, norm): (Point, Point),
    ) {
        let h = gamma.len().max(1);
        for seg in self.segments() {
            observer.text(seg.index);
            for (row, x) in seg.of_mut(rows, h).chunks_exact_mut(h).zip(seg.of(residual, h).chunks_exact(h)) {
                add_residual(row, x);
                observer.observe(layer, sum, row);
                layer_norm(row, gamma, beta, eps);
                observer.observe(layer, norm, row);
            }
        }
    }

    /// Shows `values` (`[R, width]`) to `observer` one text at a time, as a pass over that
    /// text alone would.
    fn observe(&self, observer: &mut dyn Observer, layer: usize, point: Point, values: &mut [f32], width: usize) {
        for seg in self.segments() {
            observer.text(seg.index);
            observer.observe(layer, point, seg.of_mut(values, width));
        }
    }
}

impl FloatModel<'_> {
    /// Runs `ConvBertModel` over `ids` (batch 1, no padding) and returns the last hidden state,
    /// `[L, H]` row-major, borrowed from `scratch`. `token_types` of `None` means all zero.
    ///
    /// # Errors
    /// [`RunError`] for empty, too long or out-of-vocabulary input, or too small a scratch.
    pub fn forward<'s>(
        &self,
        ids: &[u32],
        token_types: Option<&[u32]>,
        scratch: &'s mut [f32],
    ) -> Result<&'s [f32], RunError> {
        let texts = [ids];
        let batch = Batch { texts: &texts, types: token_types };
        Ok(self.run(&batch, scratch, &mut ()).map_err(|e| e.error)?.hidden)
    }

    /// Runs `ConvBertForSequenceClassification` and writes its `[num_labels]` logits.
    ///
    /// # Errors
    /// As [`FloatModel::forward`], plus [`RunError::NoClassifier`] and
    /// [`RunError::LogitsLength`].
    pub fn classify(
        &self,
        ids: &[u32],
        token_types: Option<&[u32]>,
        scratch: &mut [f32],
        logits: &mut [f32],
    ) -> Result<(), RunError> {
        self.classify_observed(ids, token_types, scratch, logits, &mut ())
    }

    /// [`FloatModel::classify`], showing every intermediate tensor to `observer` (the
    /// quantizer's calibration uses this).
    ///
    /// # Errors
    /// As [`FloatModel::classify`].
    pub fn classify_observed(
        &self,
        ids: &[u32],
        token_types: Option<&[u32]>,
        scratch: &mut [f32],
        logits: &mut [f32],
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        let texts = [ids];
        let batch = Batch { texts: &texts, types: token_types };
        self.classify_batch(&batch, scratch, logits, observer).map_err(|e| e.error)
    }

    /// [`FloatModel::classify_observed`] for several texts at once (all token types zero):
    /// `logits` is `[texts, num_labels]`, and `scratch` must hold
    /// [`FloatModel::batch_scratch_len`] of the texts' total and longest lengths. Each text's
    /// logits and observed values are those of its own single-text pass; `observer` is told
    /// with [`Observer::text`] which text the values it is shown next belong to.
    ///
    /// # Errors
    /// As [`FloatModel::classify`], naming the text at fault when one is.
    pub fn classify_batch_observed(
        &self,
        texts: &[&[u32]],
        scratch: &mut [f32],
        logits: &mut [f32],
        observer: &mut dyn Observer,
    ) -> Result<(), BatchError> {
        self.classify_batch(&Batch { texts, types: None }, scratch, logits, observer)
    }

    fn classify_batch(
        &self,
        batch: &Batch<'_>,
        scratch: &mut [f32],
        logits: &mut [f32],
        observer: &mut dyn Observer,
    ) -> Result<(), BatchError> {
        let whole = |error| BatchError { text: None, error };
        let head = self.classifier.ok_or(whole(RunError::NoClassifier))?;
        let labels = self.config.num_labels;
        if logits.len() != labels * batch.texts.len() {
            return Err(whole(RunError::LogitsLength { need: labels * batch.texts.len(), got: logits.len() }));
        }
        let s = self.run(batch, scratch, observer)?;
        // ConvBertClassificationHead: x = h[:, 0] ([CLS]); out_proj(act(dense(x))).
        let h = self.config.hidden_size;
        for (seg, logits) in batch.segments().zip(logits.chunks_exact_mut(labels)) {
            observer.text(seg.index);
            let cls = &s.hidden[seg.rows.start * h..][..h];
            dense(&head.dense, cls, s.head);
            observer.observe(0, Point::HeadPre, s.head);
            activate(self.config.hidden_act, s.head);
            observer.observe(0, Point::HeadAct, s.head);
            dense(&head.out_proj, s.head, logits);
            observer.observe(0, Point::Logits, logits);
        }
        Ok(())
    }

    fn run<'s>(&self, batch: &Batch<'_>, scratch: &'s mut [f32], observer: &mut dyn Observer) -> Result<Scratch<'s>, BatchError> {
        for seg in batch.segments() {
            input::validate(&self.config, seg.ids, batch.types).map_err(|error| BatchError { text: Some(seg.index), error })?;
        }
        let mut s = Scratch::carve(&self.config, batch.rows(), batch.longest(), scratch)
            .map_err(|error| BatchError { text: None, error })?;
        self.embed(batch, &mut s, observer);
        for (n, layer) in self.layers.iter().enumerate() {
            self.layer(n, layer, batch, &mut s, observer);
        }
        Ok(s)
    }

    /// ConvBertEmbeddings, then embeddings_project: hidden[t] = proj(LN_E(word + pos + type)).
    fn embed(&self, batch: &Batch<'_>, s: &mut Scratch<'_>, observer: &mut dyn Observer) {
        let (c, w) = (&self.config, &self.embeddings);
        let e = c.embedding_size;
        for seg in batch.segments() {
            observer.text(seg.index);
            // Positions count from 0 in every text.
            for (t, (&id, row)) in seg.ids.iter().zip(seg.of_mut(s.embed, e).chunks_exact_mut(e)).enumerate() {
                // Ids and types were validated against the table sizes, so these rows exist.
                let tt = batch.types.map_or(0, |types| types[t]) as usize;
                let word = &w.word[id as usize * e..][..e];
                let position = &w.position[t * e..][..e];
                let token_type = &w.token_type[tt * e..][..e];
                for (((x, wv), p), ty) in row.iter_mut().zip(word).zip(position).zip(token_type) {
                    *x = wv + p + ty;
                }
                observer.observe(0, Point::EmbeddingSum, row);
                layer_norm(row, w.ln_gamma, w.ln_beta, c.layer_norm_eps);
                observer.observe(0, Point::EmbeddingNorm, row);
            }
        }
        match &w.project {
            Some(project) => {
                dense_rows(project, s.embed, s.hidden);
                for seg in batch.segments() {
                    observer.text(seg.index);
                    for row in seg.of_mut(s.hidden, c.hidden_size).chunks_exact_mut(c.hidden_size) {
                        observer.observe(0, Point::Projected, row);
                    }
                }
            }
            // E == H: the scratch buffers have the same size.
            None => s.hidden.copy_from_slice(s.embed),
        }
    }

    /// One ConvBertLayer: mixed attention (self-attention + dynamic conv heads), then FFN.
    fn layer(&self, n: usize, w: &LayerWeights<'_>, batch: &Batch<'_>, s: &mut Scratch<'_>, observer: &mut dyn Observer) {
        let c = &self.config;
        let (h, a, taps) = (c.hidden_size, c.all_head_size(), c.attention_heads() * c.conv_kernel_size);
        let mut observe = |point, values: &mut [f32], width| batch.observe(observer, n, point, values, width);

        // q, k, v = x Wq^T + bq, ...; co = x Wco^T + bco                        [L, A] each
        dense_rows(&w.query, s.hidden, s.query);
        dense_rows(&w.key, s.hidden, s.key);
        dense_rows(&w.value, s.hidden, s.value);
        dense_rows(&w.conv_out, s.hidden, s.conv_value);
        observe(Point::Query, s.query, a);
        observe(Point::Key, s.key, a);
        observe(Point::Value, s.value, a);
        observe(Point::ConvValue, s.conv_value, a);

        // Span-aware key: SeparableConv1D = depthwise K-tap filter per channel, then a
        // pointwise H -> A with bias.                                            [L, H] -> [L, A]
        for seg in batch.segments() {
            self.depthwise(w, seg.of(s.hidden, h), seg.of_mut(s.depthwise, h));
        }
        observe(Point::Depthwise, s.depthwise, h);
        dense_rows(&w.key_conv_pointwise, s.depthwise, s.span_key);
        observe(Point::SpanKey, s.span_key, a);

        // Conv kernels: softmax_j((span_key * q) Wck^T + bck), one K-tap kernel per token
        // and head.                                                              [L, nh * K]
        for (ks, q) in s.span_key.iter_mut().zip(s.query.iter()) {
            *ks *= q;
        }
        observe(Point::KeyQuery, s.span_key, a);
        dense_rows(&w.conv_kernel, s.span_key, s.conv_taps);
        observe(Point::KernelLogits, s.conv_taps, taps);
        for kernel in s.conv_taps.chunks_exact_mut(c.conv_kernel_size) {
            softmax(kernel);
        }

        // mixed[t] = concat(attention heads, conv heads)                         [L, H]
        for seg in batch.segments() {
            observer.text(seg.index);
            let heads = Heads {
                query: seg.of(s.query, a),
                key: seg.of(s.key, a),
                value: seg.of(s.value, a),
                conv_value: seg.of(s.conv_value, a),
                conv_taps: seg.of(s.conv_taps, taps),
            };
            self.mix(n, &heads, seg.of_mut(s.mixed, h), &mut s.scores[..seg.ids.len()], observer);
        }

        // ConvBertSelfOutput: attended = LN(mixed Wao^T + bao + x)                [L, H]
        batch.observe(observer, n, Point::Mixed, s.mixed, h);
        dense_rows(&w.attention_output, s.mixed, s.attended);
        let attention_ln = (w.attention_ln_gamma, w.attention_ln_beta, c.layer_norm_eps);
        batch.add_and_norm(observer, n, (s.attended, s.hidden), attention_ln, (Point::AttentionSum, Point::AttentionNorm));

        // FFN: hidden = LN(W2 act(W1 attended + b1) + b2 + attended)         [L, I] -> [L, H]
        dense_rows(&w.intermediate, s.attended, s.ffn);
        let i = c.intermediate_size;
        for seg in batch.segments() {
            observer.text(seg.index);
            for row in seg.of_mut(s.ffn, i).chunks_exact_mut(i) {
                observer.observe(n, Point::FfnPre, row);
                activate(c.hidden_act, row);
                observer.observe(n, Point::FfnAct, row);
            }
        }
        dense_rows(&w.output, s.ffn, s.hidden);
        let ffn_ln = (w.output_ln_gamma, w.output_ln_beta, c.layer_norm_eps);
        batch.add_and_norm(observer, n, (s.hidden, s.attended), ffn_ln, (Point::FfnSum, Point::FfnNorm));
    }

    /// The span-aware key's depthwise K-tap filter over one text's rows `x` (`[L, H]`), zero
    /// padded at the text's ends.
    fn depthwise(&self, w: &LayerWeights<'_>, x: &[f32], out: &mut [f32]) {
        let (h, k) = (self.config.hidden_size, self.config.conv_kernel_size);
        let l = x.len() / h;
        for (t, out) in out.chunks_exact_mut(h).enumerate() {
            out.fill(0.0);
            for j in 0..k {
                let Some(src) = tap_source(t, j, k, l) else { continue };
                let x = &x[src * h..][..h];
                for ((o, xv), filter) in out.iter_mut().zip(x).zip(w.key_conv_depthwise.chunks_exact(k)) {
                    *o += filter[j] * xv;
                }
            }
        }
    }

    /// One text's attention heads and dynamic-convolution heads, concatenated into `mixed`
    /// (`[L, H]`); `scores` is `[L]` scratch.
    fn mix(&self, n: usize, x: &Heads<'_>, mixed: &mut [f32], scores: &mut [f32], observer: &mut dyn Observer) {
        let c = &self.config;
        let (h, a, hs, nh, k) = (c.hidden_size, c.all_head_size(), c.head_size(), c.attention_heads(), c.conv_kernel_size);
        let l = scores.len();
        let sqrt_hs = libm::sqrtf(hs as f32);
        for (t, mixed_row) in mixed.chunks_exact_mut(h).enumerate() {
            let (attention_out, conv_out) = mixed_row.split_at_mut(a);
            for head in 0..nh {
                let cols = head * hs..(head + 1) * hs;
                // Self-attention: softmax_u(q[t] . k[u] / sqrt(hs)) weighted sum of v[u].
                let q = &x.query[t * a..][cols.clone()];
                for (u, score) in scores.iter_mut().enumerate() {
                    *score = dot(q, &x.key[u * a..][cols.clone()]) / sqrt_hs;
                }
                observer.observe(n, Point::Scores, scores);
                softmax(scores);
                let out = &mut attention_out[cols.clone()];
                out.fill(0.0);
                for (u, &p) in scores.iter().enumerate() {
                    for (o, v) in out.iter_mut().zip(&x.value[u * a..][cols.clone()]) {
                        *o += p * v;
                    }
                }
                // Dynamic convolution: the head's K-tap kernel slides over conv_value,
                // shared by the head's hs channels.
                let kernel = &x.conv_taps[(t * nh + head) * k..][..k];
                let out = &mut conv_out[cols.clone()];
                out.fill(0.0);
                for (j, &tap) in kernel.iter().enumerate() {
                    let Some(src) = tap_source(t, j, k, l) else { continue };
                    for (o, v) in out.iter_mut().zip(&x.conv_value[src * a..][cols.clone()]) {
                        *o += tap * v;
                    }
                }
            }
        }
    }
}

/// One text's inputs of the attention and conv heads ([`FloatModel::mix`]).
struct Heads<'a> {
    /// `[L, A]` each.
    query: &'a [f32],
    key: &'a [f32],
    value: &'a [f32],
    conv_value: &'a [f32],
    /// `[L, nh * K]` the softmaxed conv kernels.
    conv_taps: &'a [f32],
}

/// Source row of conv tap `j` (of `k`, centred) for output token `t` of a text of `l` tokens,
/// when inside `[0, l)` (zero padding outside).
fn tap_source(t: usize, j: usize, k: usize, l: usize) -> Option<usize> {
    (t + j).checked_sub((k - 1) / 2).filter(|&src| src < l)
}

/// `row += residual`, the residual of BERT-style post-LN blocks.
fn add_residual(row: &mut [f32], residual: &[f32]) {
    for (v, r) in row.iter_mut().zip(residual) {
        *v += r;
    }
}
