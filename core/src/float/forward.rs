//! The forward pass, top to bottom, in the order of `modeling_convbert.py`.
//!
//! Shapes: L tokens, H hidden, E embedding, A = H/2 attention width, nh = N/2 heads of width
//! hs, K conv taps, I intermediate. Rows are tokens; every matrix is row-major `[L, width]`.

use super::ops::{activate, dense, dense_rows, dot, layer_norm, softmax};
use super::weights::LayerWeights;
use super::{FloatModel, Observer, Point};
use crate::input::{self, RunError};
use crate::ModelConfig;

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
    /// `[L]` one query's attention scores.
    scores: &'s mut [f32],
    /// `[L, I]` the FFN's intermediate activations.
    ffn: &'s mut [f32],
    /// `[H]` the classifier head's hidden row.
    head: &'s mut [f32],
}

impl<'s> Scratch<'s> {
    /// Element counts of the buffers, in carving order.
    fn sizes(c: &ModelConfig, l: usize) -> [usize; 14] {
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
            l,
            l * c.intermediate_size,
            h,
        ]
    }

    pub(super) fn len(c: &ModelConfig, l: usize) -> usize {
        Self::sizes(c, l).iter().sum()
    }

    fn carve(c: &ModelConfig, l: usize, buf: &'s mut [f32]) -> Result<Self, RunError> {
        let need = Self::len(c, l);
        if buf.len() < need {
            return Err(RunError::ScratchTooSmall { need, got: buf.len() });
        }
        let [hidden, embed, query, key, value, span_key, conv_value, depthwise, conv_taps, mixed, attended, scores, ffn, head] =
            Self::sizes(c, l);
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
        Ok(self.run(ids, token_types, scratch, &mut ())?.hidden)
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
        let head = self.classifier.ok_or(RunError::NoClassifier)?;
        if logits.len() != self.config.num_labels {
            return Err(RunError::LogitsLength { need: self.config.num_labels, got: logits.len() });
        }
        let s = self.run(ids, token_types, scratch, observer)?;
        // ConvBertClassificationHead: x = h[:, 0] ([CLS]); out_proj(act(dense(x))).
        let cls = &s.hidden[..self.config.hidden_size];
        dense(&head.dense, cls, s.head);
        observer.observe(0, Point::HeadPre, s.head);
        activate(self.config.hidden_act, s.head);
        observer.observe(0, Point::HeadAct, s.head);
        dense(&head.out_proj, s.head, logits);
        observer.observe(0, Point::Logits, logits);
        Ok(())
    }

    fn run<'s>(
        &self,
        ids: &[u32],
        token_types: Option<&[u32]>,
        scratch: &'s mut [f32],
        observer: &mut dyn Observer,
    ) -> Result<Scratch<'s>, RunError> {
        input::validate(&self.config, ids, token_types)?;
        let mut s = Scratch::carve(&self.config, ids.len(), scratch)?;
        self.embed(ids, token_types, &mut s, observer);
        for (n, layer) in self.layers.iter().enumerate() {
            self.layer(n, layer, ids.len(), &mut s, observer);
        }
        Ok(s)
    }

    /// ConvBertEmbeddings, then embeddings_project: hidden[t] = proj(LN_E(word + pos + type)).
    fn embed(&self, ids: &[u32], token_types: Option<&[u32]>, s: &mut Scratch<'_>, observer: &mut dyn Observer) {
        let (c, w) = (&self.config, &self.embeddings);
        let e = c.embedding_size;
        for (t, (&id, row)) in ids.iter().zip(s.embed.chunks_exact_mut(e)).enumerate() {
            // Ids and types were validated against the table sizes, so these rows exist.
            let tt = token_types.map_or(0, |types| types[t]) as usize;
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
        match &w.project {
            Some(project) => {
                dense_rows(project, s.embed, s.hidden);
                for row in s.hidden.chunks_exact_mut(c.hidden_size) {
                    observer.observe(0, Point::Projected, row);
                }
            }
            // E == H: the scratch buffers have the same size.
            None => s.hidden.copy_from_slice(s.embed),
        }
    }

    /// One ConvBertLayer: mixed attention (self-attention + dynamic conv heads), then FFN.
    fn layer(&self, n: usize, w: &LayerWeights<'_>, l: usize, s: &mut Scratch<'_>, observer: &mut dyn Observer) {
        let mut observe = |point, values: &mut [f32]| observer.observe(n, point, values);
        let c = &self.config;
        let (h, a, hs, nh, k) =
            (c.hidden_size, c.all_head_size(), c.head_size(), c.attention_heads(), c.conv_kernel_size);
        let pad = (k - 1) / 2;
        // Source row of conv tap j for output token t, when inside [0, L) (zero padding).
        let tap_source = |t: usize, j: usize| (t + j).checked_sub(pad).filter(|&src| src < l);

        // q, k, v = x Wq^T + bq, ...; co = x Wco^T + bco                        [L, A] each
        dense_rows(&w.query, s.hidden, s.query);
        dense_rows(&w.key, s.hidden, s.key);
        dense_rows(&w.value, s.hidden, s.value);
        dense_rows(&w.conv_out, s.hidden, s.conv_value);
        observe(Point::Query, s.query);
        observe(Point::Key, s.key);
        observe(Point::Value, s.value);
        observe(Point::ConvValue, s.conv_value);

        // Span-aware key: SeparableConv1D = depthwise K-tap filter per channel, then a
        // pointwise H -> A with bias.                                            [L, H] -> [L, A]
        for (t, out) in s.depthwise.chunks_exact_mut(h).enumerate() {
            out.fill(0.0);
            for j in 0..k {
                let Some(src) = tap_source(t, j) else { continue };
                let x = &s.hidden[src * h..][..h];
                for ((o, xv), filter) in out.iter_mut().zip(x).zip(w.key_conv_depthwise.chunks_exact(k)) {
                    *o += filter[j] * xv;
                }
            }
        }
        observe(Point::Depthwise, s.depthwise);
        dense_rows(&w.key_conv_pointwise, s.depthwise, s.span_key);
        observe(Point::SpanKey, s.span_key);

        // Conv kernels: softmax_j((span_key * q) Wck^T + bck), one K-tap kernel per token
        // and head.                                                              [L, nh * K]
        for (ks, q) in s.span_key.iter_mut().zip(s.query.iter()) {
            *ks *= q;
        }
        observe(Point::KeyQuery, s.span_key);
        dense_rows(&w.conv_kernel, s.span_key, s.conv_taps);
        observe(Point::KernelLogits, s.conv_taps);
        for kernel in s.conv_taps.chunks_exact_mut(k) {
            softmax(kernel);
        }

        // mixed[t] = concat(attention heads, conv heads)                         [L, H]
        let sqrt_hs = libm::sqrtf(hs as f32);
        for (t, mixed_row) in s.mixed.chunks_exact_mut(h).enumerate() {
            let (attention_out, conv_out) = mixed_row.split_at_mut(a);
            for head in 0..nh {
                let cols = head * hs..(head + 1) * hs;
                // Self-attention: softmax_u(q[t] . k[u] / sqrt(hs)) weighted sum of v[u].
                let q = &s.query[t * a..][cols.clone()];
                let scores = &mut s.scores[..l];
                for (u, score) in scores.iter_mut().enumerate() {
                    *score = dot(q, &s.key[u * a..][cols.clone()]) / sqrt_hs;
                }
                observe(Point::Scores, scores);
                softmax(scores);
                let out = &mut attention_out[cols.clone()];
                out.fill(0.0);
                for (u, &p) in scores.iter().enumerate() {
                    for (o, v) in out.iter_mut().zip(&s.value[u * a..][cols.clone()]) {
                        *o += p * v;
                    }
                }
                // Dynamic convolution: the head's K-tap kernel slides over conv_value,
                // shared by the head's hs channels.
                let kernel = &s.conv_taps[(t * nh + head) * k..][..k];
                let out = &mut conv_out[cols.clone()];
                out.fill(0.0);
                for (j, &tap) in kernel.iter().enumerate() {
                    let Some(src) = tap_source(t, j) else { continue };
                    for (o, v) in out.iter_mut().zip(&s.conv_value[src * a..][cols.clone()]) {
                        *o += tap * v;
                    }
                }
            }
        }

        // ConvBertSelfOutput: attended = LN(mixed Wao^T + bao + x)                [L, H]
        observe(Point::Mixed, s.mixed);
        dense_rows(&w.attention_output, s.mixed, s.attended);
        for (row, x) in s.attended.chunks_exact_mut(h).zip(s.hidden.chunks_exact(h)) {
            add_residual(row, x);
            observe(Point::AttentionSum, row);
            layer_norm(row, w.attention_ln_gamma, w.attention_ln_beta, c.layer_norm_eps);
            observe(Point::AttentionNorm, row);
        }

        // FFN: hidden = LN(W2 act(W1 attended + b1) + b2 + attended)         [L, I] -> [L, H]
        dense_rows(&w.intermediate, s.attended, s.ffn);
        for row in s.ffn.chunks_exact_mut(c.intermediate_size) {
            observe(Point::FfnPre, row);
            activate(c.hidden_act, row);
            observe(Point::FfnAct, row);
        }
        dense_rows(&w.output, s.ffn, s.hidden);
        for (row, residual) in s.hidden.chunks_exact_mut(h).zip(s.attended.chunks_exact(h)) {
            add_residual(row, residual);
            observe(Point::FfnSum, row);
            layer_norm(row, w.output_ln_gamma, w.output_ln_beta, c.layer_norm_eps);
            observe(Point::FfnNorm, row);
        }
    }
}

/// `row += residual`, the residual of BERT-style post-LN blocks.
fn add_residual(row: &mut [f32], residual: &[f32]) {
    for (v, r) in row.iter_mut().zip(residual) {
        *v += r;
    }
}
