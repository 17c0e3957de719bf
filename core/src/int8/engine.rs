//! The int8 forward pass, top to bottom, and the arena it runs in.
//!
//! Shapes: L tokens, H hidden, E embedding, A = H/2, nh heads of width hs, K taps, I
//! intermediate. Activation buffers are `[L, width]` row-major. Every buffer is carved once
//! from the caller's arena by [`Engine::new`]; the pass allocates nothing and reuses buffers
//! across layers. The depthwise filter, the mixed heads with the attention output, and the FFN
//! run one token at a time, so their `[H]` and `[I]` rows never exist for all tokens at once.

use super::activation;
use super::format::{self, layer};
use super::kernels::generic::{dense, depthwise, dot};
use super::Requant;
use super::layer_norm::{layer_norm, Affine};
use super::model::{Model, QDense};
use super::softmax::softmax_q15;
use crate::input::{self, RunError};
use crate::tokenizer::TokenizeError;
use core::fmt;

/// Why [`Engine::new`] or a classification failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassifyError {
    /// The arena is smaller than [`arena_bytes`] says the model needs.
    ArenaTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        got: usize,
    },
    /// The text could not be tokenized (invalid UTF-8).
    Tokenize(TokenizeError),
    /// The ids were refused (empty, too long, out of the vocabulary).
    Input(RunError),
    /// The model has no classification head.
    NoClassifier,
}

impl fmt::Display for ClassifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ArenaTooSmall { need, got } => {
                write!(f, "arena holds {got} bytes, this model needs {need}")
            }
            Self::Tokenize(e) => e.fmt(f),
            Self::Input(e) => e.fmt(f),
            Self::NoClassifier => write!(f, "the model has no classification head"),
        }
    }
}

impl core::error::Error for ClassifyError {}

/// The result of one classification. Integers only: the score is a Q15 probability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification<'e> {
    /// Index of the best label (the first one on a tie).
    pub label: usize,
    /// Its name.
    pub label_name: &'e str,
    /// Its softmax probability in Q15: 32768 is 1.0.
    pub score_q15: u16,
    /// The logits, one per label, on the model's logit scale.
    pub logits: &'e [i32],
    /// Tokens run, `[CLS]` and `[SEP]` included.
    pub tokens: usize,
    /// The text was longer than the model's maximum length and was cut.
    pub truncated: bool,
}

/// Sees the int16 residual stream `[L, H]` after each stage (0: embeddings, l: layer l).
pub type StageObserver<'f> = dyn FnMut(usize, &[i16]) + 'f;

/// Element counts of the arena's buffers, for `l` tokens.
struct Plan {
    ids: usize,
    scores: usize,
    acc: usize,
    logits: usize,
    residual: usize,
    taps: usize,
    probs: usize,
    qkv: usize,
    values: usize,
    span_key: usize,
    row16: usize,
}

impl Plan {
    fn new(m: &Model<'_>, l: usize) -> Self {
        let c = m.config();
        let (h, a, i, e) = (c.hidden_size, c.all_head_size(), c.intermediate_size, c.embedding_size);
        // The config's sizes are bounded (`config::limits`); `l` is the caller's.
        let taps = c.attention_heads() * c.conv_kernel_size;
        let rows = |width: usize| l.saturating_mul(width);
        Self {
            ids: l,
            scores: l,
            acc: h.max(i).max(taps).max(e).max(c.num_labels),
            logits: c.num_labels,
            residual: rows(h),
            taps: rows(taps),
            probs: l.max(c.num_labels),
            // query and key, then value and conv value
            qkv: rows(a).saturating_mul(2),
            values: rows(a).saturating_mul(2),
            span_key: rows(a),
            row16: i.max(h).max(e),
        }
    }

    /// Bytes, with slack to align the start to 4. Saturates instead of wrapping: a length
    /// past what a validated model can need (`config::limits`) becomes `usize::MAX`, an
    /// arena no one has, never a small number.
    fn bytes(&self) -> usize {
        let words = [self.ids, self.scores, self.acc, self.logits];
        let halves = [self.residual, self.taps, self.probs, self.values, self.span_key, self.row16];
        let sum = |counts: &[usize]| counts.iter().fold(0usize, |s, &n| s.saturating_add(n));
        sum(&words).saturating_mul(4).saturating_add(sum(&halves).saturating_mul(2)).saturating_add(self.qkv).saturating_add(3)
    }
}

/// Exact arena bytes [`Engine::new`] needs to run `model` on up to `max_len` tokens
/// (`usize::MAX` if that cannot exist on this target).
pub fn arena_bytes(model: &Model<'_>, max_len: usize) -> usize {
    Plan::new(model, max_len).bytes()
}

/// The engine: a model and the buffers of one pass.
pub struct Engine<'m, 'a> {
    model: Model<'m>,
    max_len: usize,
    ids: &'a mut [u32],
    scores: &'a mut [i32],
    acc: &'a mut [i32],
    logits: &'a mut [i32],
    residual: &'a mut [i16],
    taps: &'a mut [u16],
    probs: &'a mut [u16],
    query: &'a mut [i8],
    key: &'a mut [i8],
    value: &'a mut [i16],
    conv_value: &'a mut [i16],
    span_key: &'a mut [i16],
    row16: &'a mut [i16],
}

impl<'m, 'a> Engine<'m, 'a> {
    /// An engine for texts of up to the model tokenizer's `max_len` tokens, in `arena`.
    ///
    /// # Errors
    /// [`ClassifyError::ArenaTooSmall`] with the bytes needed ([`arena_bytes`]).
    pub fn new(model: &Model<'m>, arena: &'a mut [u8]) -> Result<Self, ClassifyError> {
        let max_len = model.tokenizer().settings.max_len;
        let plan = Plan::new(model, max_len);
        let need = plan.bytes();
        if arena.len() < need {
            return Err(ClassifyError::ArenaTooSmall { need, got: arena.len() });
        }
        let pad = arena.as_ptr().align_offset(4).min(3);
        let rest = &mut arena[pad..];
        // 4-byte buffers first, then 2-byte, then bytes: every cut stays aligned.
        let (ids, rest) = take::<u32>(rest, plan.ids);
        let (scores, rest) = take::<i32>(rest, plan.scores);
        let (acc, rest) = take::<i32>(rest, plan.acc);
        let (logits, rest) = take::<i32>(rest, plan.logits);
        let (residual, rest) = take::<i16>(rest, plan.residual);
        let (taps, rest) = take::<u16>(rest, plan.taps);
        let (probs, rest) = take::<u16>(rest, plan.probs);
        let (values, rest) = take::<i16>(rest, plan.values);
        let (span_key, rest) = take::<i16>(rest, plan.span_key);
        let (row16, rest) = take::<i16>(rest, plan.row16);
        let (qkv, _) = take::<i8>(rest, plan.qkv);
        let (query, key) = qkv.split_at_mut(qkv.len() / 2);
        let (value, conv_value) = values.split_at_mut(values.len() / 2);
        Ok(Self {
            model: *model,
            max_len,
            ids,
            scores,
            acc,
            logits,
            residual,
            taps,
            probs,
            query,
            key,
            value,
            conv_value,
            span_key,
            row16,
        })
    }

    /// The model this engine runs.
    pub fn model(&self) -> &Model<'m> {
        &self.model
    }

    /// Tokenizes `text` (truncating as Hugging Face does) and classifies it. Empty or blank
    /// text is classified as `[CLS] [SEP]`, as Hugging Face does.
    ///
    /// # Errors
    /// [`ClassifyError::NoClassifier`] for a model without a head.
    pub fn classify(&mut self, text: &str) -> Result<Classification<'_>, ClassifyError> {
        self.classify_bytes(text.as_bytes())
    }

    /// [`Engine::classify`] for bytes, e.g. a line from a UART.
    ///
    /// # Errors
    /// [`ClassifyError::Tokenize`] for invalid UTF-8, and as [`Engine::classify`].
    pub fn classify_bytes(&mut self, text: &[u8]) -> Result<Classification<'_>, ClassifyError> {
        let encoding = self.model.tokenizer().encode_bytes(text, self.ids).map_err(ClassifyError::Tokenize)?;
        self.run(encoding.len, None)?;
        self.classification(encoding.len, encoding.truncated)
    }

    /// Classifies token ids (`[CLS] ... [SEP]`, as the tokenizer gives them).
    ///
    /// # Errors
    /// [`ClassifyError::Input`] for empty, too long or out-of-vocabulary ids.
    pub fn classify_ids(&mut self, ids: &[u32]) -> Result<Classification<'_>, ClassifyError> {
        let n = self.load_ids(ids)?;
        self.run(n, None)?;
        self.classification(n, false)
    }

    /// Runs the encoder on `ids` and calls `observe(stage, residual)` with the `[L, H]` int16
    /// residual stream after the embeddings (stage 0) and after each layer (stage l + 1), for
    /// host tools that measure quantization noise.
    ///
    /// # Errors
    /// As [`Engine::classify_ids`].
    pub fn observe_ids(&mut self, ids: &[u32], observe: &mut StageObserver<'_>) -> Result<(), ClassifyError> {
        let n = self.load_ids(ids)?;
        self.run(n, Some(observe))
    }

    fn load_ids(&mut self, ids: &[u32]) -> Result<usize, ClassifyError> {
        if ids.len() > self.max_len {
            return Err(ClassifyError::Input(RunError::TooLong { len: ids.len(), max: self.max_len }));
        }
        span_mut(self.ids, 0, ids.len()).copy_from_slice(ids);
        Ok(ids.len())
    }

    /// The encoder over `self.ids[..l]`.
    fn run(&mut self, l: usize, mut observe: Option<&mut StageObserver<'_>>) -> Result<(), ClassifyError> {
        let c = *self.model.config();
        input::validate(&c, span(self.ids, 0, l), None).map_err(ClassifyError::Input)?;
        self.embed(l);
        let h = c.hidden_size;
        if let Some(f) = observe.as_mut() {
            f(0, span(self.residual, 0, l * h));
        }
        for n in 0..c.num_hidden_layers {
            self.layer(n, l);
            if let Some(f) = observe.as_mut() {
                f(n + 1, span(self.residual, 0, l * h));
            }
        }
        Ok(())
    }

    /// ConvBertEmbeddings (+ projection): residual[t] from word + position + type.
    fn embed(&mut self, l: usize) {
        let m = self.model;
        let c = m.config();
        let (h, e) = (c.hidden_size, c.embedding_size);
        let s = m.embedding_scalars();
        let (word, word_rq) = (m.i8s(format::global::WORD), m.requants(format::global::WORD_REQUANT));
        let (position, position_rq) = (m.i8s(format::global::POSITION), m.requants(format::global::POSITION_REQUANT));
        let (token_type, token_type_rq) = (m.i8s(format::global::TOKEN_TYPE), m.requants(format::global::TOKEN_TYPE_REQUANT));
        let affine = Affine { gamma: m.i16s(format::global::LN_GAMMA), beta: m.i32s(format::global::LN_BETA) };
        let project = c.has_embeddings_project().then(|| m.dense(format::global::PROJECT_WEIGHT, 1));

        for (t, &id) in span(self.ids, 0, l).iter().enumerate() {
            let id = id as usize;
            // Each row has its own scale; the sum is on the embedding LayerNorm's domain.
            // Token type 0 (single sentences).
            let (w_rq, p_rq, t_rq) = (word_rq.get(id), position_rq.get(t), token_type_rq.first());
            let (Some(&w_rq), Some(&p_rq), Some(&t_rq)) = (w_rq, p_rq, t_rq) else { continue };
            let (w, p, ty) = (span(word, id * e, e), span(position, t * e, e), span(token_type, 0, e));
            let z = span_mut(self.acc, 0, e);
            for (((zc, &wv), &pv), &tv) in z.iter_mut().zip(w).zip(p).zip(ty) {
                *zc = w_rq.apply(wv as i32).saturating_add(p_rq.apply(pv as i32)).saturating_add(t_rq.apply(tv as i32));
            }
            layer_norm(z, affine, s.ln.eps_q);
            let residual = span_mut(self.residual, t * h, h);
            match &project {
                // E == H: the LayerNorm's i16 output is the residual row.
                None => write_ln_output(z, &s.ln, residual),
                // E != H (either way round): the E-wide i16 output goes to `row16`, then
                // embeddings_project (Linear E -> H) into the residual row.
                Some(p) => {
                    let projected_input = span_mut(self.row16, 0, e);
                    write_ln_output(z, &s.ln, projected_input);
                    dense_rows(p, projected_input, residual, &mut self.acc, Requant::to_i16);
                }
            }
        }
    }

    /// One ConvBertLayer: mixed attention, then the FFN. Updates `residual` in place.
    fn layer(&mut self, n: usize, l: usize) {
        let m = self.model;
        let c = *m.config();
        let (h, a, hs, nh, k) = (c.hidden_size, c.all_head_size(), c.head_size(), c.attention_heads(), c.conv_kernel_size);
        let base = m.layer_slot(n);
        let s = m.layer_scalars(n);
        let pad = k / 2;
        // The layer's input: the i16 residual stream, which the matrix products read directly.
        let (x, acc) = (span(self.residual, 0, l * h), &mut *self.acc);

        // q, k, v, conv value = requant(W x + b)                                   [L, A] i8
        dense_rows(&m.dense(base + layer::QUERY, 1), x, span_mut(self.query, 0, l * a), acc, Requant::to_i8);
        dense_rows(&m.dense(base + layer::KEY, 1), x, span_mut(self.key, 0, l * a), acc, Requant::to_i8);
        dense_rows(&m.dense(base + layer::VALUE, 1), x, span_mut(self.value, 0, l * a), acc, Requant::to_i16);
        dense_rows(&m.dense(base + layer::CONV_VALUE, 1), x, span_mut(self.conv_value, 0, l * a), acc, Requant::to_i16);

        // Span-aware key, one token at a time: depthwise K-tap filter per channel (a row of
        // `row16`), then pointwise H -> A.                                        [L, A] i16
        let depthwise_w = m.i8s(base + layer::DEPTHWISE_WEIGHT);
        let depthwise_rq = m.requants(base + layer::DEPTHWISE_REQUANT);
        let pointwise = m.dense(base + layer::POINTWISE, 1);
        for t in 0..l {
            depthwise(x, h, t, depthwise_w, k, span_mut(acc, 0, h));
            let filtered = span_mut(self.row16, 0, h);
            for ((o, &v), rq) in filtered.iter_mut().zip(acc.iter()).zip(depthwise_rq) {
                *o = rq.to_i16(v);
            }
            dense_rows(&pointwise, filtered, span_mut(self.span_key, t * a, a), acc, Requant::to_i16);
        }

        // Conv kernels: softmax_j((span_key * q) Wck^T + bck) per token and head, Q15.   [L, nh*K]
        for (ks, &q) in span_mut(self.span_key, 0, l * a).iter_mut().zip(self.query.iter()) {
            *ks = s.key_query.to_i16(*ks as i32 * q as i32);
        }
        let kernel = m.dense(base + layer::KERNEL, 1);
        let taps = nh * k;
        for t in 0..l {
            let logits = span_mut(acc, 0, taps);
            dense(span(self.span_key, t * a, a), kernel.weight, kernel.bias, 1, logits);
            for (v, rq) in logits.iter_mut().zip(kernel.requant) {
                *v = rq.apply(*v);
            }
            let token_taps = span_mut(self.taps, t * taps, taps);
            for head in 0..nh {
                softmax_q15(span(logits, head * k, k), s.taps_log2, span_mut(token_taps, head * k, k));
            }
        }

        // One token at a time: mixed = concat(attention heads, conv heads) (a row of `row16`),
        // then the attention output LN(W mixed + b + residual) into residual[t]. The other
        // tokens' q, k, v, conv value and taps are all computed, so residual[t] is free.
        let output = m.dense(base + layer::ATTENTION_OUTPUT, 1);
        let ln1 = Affine { gamma: m.i16s(base + layer::ATTENTION_LN_GAMMA), beta: m.i32s(base + layer::ATTENTION_LN_BETA) };
        for t in 0..l {
            let mixed = span_mut(self.row16, 0, h);
            for head in 0..nh {
                let col = head * hs;
                // Self-attention: softmax_u(q[t] . k[u] / sqrt(hs)) weighted sum of v[u].
                let q = span(self.query, t * a + col, hs);
                let scores = span_mut(self.scores, 0, l);
                for (u, score) in scores.iter_mut().enumerate() {
                    *score = dot(q, span(self.key, u * a + col, hs));
                }
                let probs = span_mut(self.probs, 0, l);
                softmax_q15(scores, s.scores_log2, probs);
                // Q15 weights summing to at most 2^15 + L times int16 values: |sum| < 2^31,
                // exact in i32 (`config::limits`).
                let sums = span_mut(acc, 0, hs);
                sums.fill(0);
                for (u, &p) in probs.iter().enumerate() {
                    for (sum, &v) in sums.iter_mut().zip(span(self.value, u * a + col, hs)) {
                        *sum = sum.wrapping_add(p as i32 * v as i32);
                    }
                }
                for (o, &sum) in span_mut(mixed, col, hs).iter_mut().zip(sums.iter()) {
                    *o = s.context.to_i16(sum);
                }
                // Dynamic convolution: the head's K taps slide over the conv value.
                sums.fill(0);
                for (j, &p) in span(self.taps, (t * nh + head) * k, k).iter().enumerate() {
                    let Some(src) = (t + j).checked_sub(pad).filter(|&src| src < l) else { continue };
                    for (sum, &v) in sums.iter_mut().zip(span(self.conv_value, src * a + col, hs)) {
                        *sum = sum.wrapping_add(p as i32 * v as i32);
                    }
                }
                for (o, &sum) in span_mut(mixed, a + col, hs).iter_mut().zip(sums.iter()) {
                    *o = s.conv.to_i16(sum);
                }
            }
            let z = span_mut(acc, 0, h);
            let residual = span_mut(self.residual, t * h, h);
            dense(mixed, output.weight, output.bias, 1, z);
            add_residual(z, output.requant, residual, s.attention_residual);
            layer_norm(z, ln1, s.attention_ln.eps_q);
            write_ln_output(z, &s.attention_ln, residual);
        }

        // FFN, one token at a time: LN(W2 act(W1 x + b1) + b2 + residual)
        let (ffn_in, ffn_out) = (m.dense(base + layer::FFN_IN, c.num_groups), m.dense(base + layer::FFN_OUT, c.num_groups));
        let table = m.i16s(base + layer::ACTIVATION_TABLE);
        let ln2 = Affine { gamma: m.i16s(base + layer::FFN_LN_GAMMA), beta: m.i32s(base + layer::FFN_LN_BETA) };
        let i = c.intermediate_size;
        for t in 0..l {
            let residual = span_mut(self.residual, t * h, h);
            let activated = span_mut(self.row16, 0, i);
            let hidden = span_mut(acc, 0, i);
            dense(residual, ffn_in.weight, ffn_in.bias, ffn_in.groups, hidden);
            activate(hidden, ffn_in.requant, table, activated);
            let z = span_mut(acc, 0, h);
            dense(activated, ffn_out.weight, ffn_out.bias, ffn_out.groups, z);
            add_residual(z, ffn_out.requant, residual, s.ffn_residual);
            layer_norm(z, ln2, s.ffn_ln.eps_q);
            write_ln_output(z, &s.ffn_ln, residual);
        }
    }

    /// ConvBertClassificationHead on [CLS]: out_proj(act(dense(x[0]))), then the score.
    fn classification(&mut self, tokens: usize, truncated: bool) -> Result<Classification<'_>, ClassifyError> {
        let m = self.model;
        let c = m.config();
        let labels = c.num_labels;
        if labels == 0 {
            return Err(ClassifyError::NoClassifier);
        }
        let h = c.hidden_size;
        let base = m.classifier_slot();
        let head_dense = m.dense(base + format::classifier::DENSE, 1);
        let table = m.i16s(base + format::classifier::ACTIVATION_TABLE);
        let out = m.dense(base + format::classifier::OUT_PROJ, 1);

        let (hidden, activated) = (span_mut(self.acc, 0, h), span_mut(self.row16, 0, h));
        dense(span(self.residual, 0, h), head_dense.weight, head_dense.bias, 1, hidden);
        activate(hidden, head_dense.requant, table, activated);
        dense(activated, out.weight, out.bias, 1, span_mut(self.acc, 0, labels));
        for ((logit, &a), rq) in self.logits.iter_mut().zip(self.acc.iter()).zip(out.requant) {
            *logit = rq.apply(a);
        }
        let (logits, probs) = (span(self.logits, 0, labels), span_mut(self.probs, 0, labels));
        softmax_q15(logits, m.classifier_scalars().logits_log2, probs);
        // The first best on a tie, as torch.argmax.
        let (mut best, mut best_logit) = (0, i32::MIN);
        for (i, &v) in logits.iter().enumerate() {
            if i == 0 || v > best_logit {
                (best, best_logit) = (i, v);
            }
        }
        Ok(Classification {
            label: best,
            label_name: m.label(best).unwrap_or(""),
            score_q15: probs.get(best).copied().unwrap_or(0),
            logits,
            tokens,
            truncated,
        })
    }
}

/// `buf[start..start + len]`, or an empty slice where that is past the end.
///
/// [`Engine::new`] sizes every buffer for the model's widths at its `max_len` tokens and
/// [`Engine::run`] never runs more tokens, so on a validated model the empty case never
/// happens; returning it instead of indexing keeps a panic path (a dead device) out of the
/// firmware. `tests/no_panic.rs` counts the panic sites left in the forward pass.
fn span<T>(buf: &[T], start: usize, len: usize) -> &[T] {
    buf.get(start..start.saturating_add(len)).unwrap_or(&[])
}

/// [`span`] for writing.
fn span_mut<T>(buf: &mut [T], start: usize, len: usize) -> &mut [T] {
    buf.get_mut(start..start.saturating_add(len)).unwrap_or(&mut [])
}

/// Splits `n` elements of `T` off the front of `bytes` (aligned by construction).
fn take<T: bytemuck::Pod>(bytes: &mut [u8], n: usize) -> (&mut [T], &mut [u8]) {
    let (head, tail) = bytes.split_at_mut((n * core::mem::size_of::<T>()).min(bytes.len()));
    (bytemuck::try_cast_slice_mut(head).unwrap_or(&mut []), tail)
}

/// `output[t] = store(requant, W input[t] + b)` for every row (`Requant::to_i8` or `to_i16`).
fn dense_rows<X: Copy + Into<i32>, Y>(d: &QDense<'_>, input: &[X], output: &mut [Y], acc: &mut [i32], store: fn(Requant, i32) -> Y) {
    let outs = d.requant.len();
    if outs == 0 {
        return;
    }
    let ins = input.len() / (output.len() / outs).max(1);
    for (x, y) in input.chunks_exact(ins.max(1)).zip(output.chunks_exact_mut(outs)) {
        let acc = span_mut(acc, 0, outs);
        dense(x, d.weight, d.bias, d.groups, acc);
        for ((o, &a), rq) in y.iter_mut().zip(acc.iter()).zip(d.requant) {
            *o = store(*rq, a);
        }
    }
}

/// `z[c] = requant_c(z[c]) + residual_rq(residual[c])`: the branch and the residual on the
/// LayerNorm's domain.
fn add_residual(z: &mut [i32], branch_rq: &[super::Requant], residual: &[i16], residual_rq: super::Requant) {
    for ((v, rq), &r) in z.iter_mut().zip(branch_rq).zip(residual) {
        *v = rq.apply(*v).saturating_add(residual_rq.apply(r as i32));
    }
}

/// `out[c] = act(requant_c(acc[c]))`: the activation through the host's interpolated table.
fn activate(acc: &[i32], requant: &[super::Requant], table: &[i16], out: &mut [i16]) {
    for ((o, &a), rq) in out.iter_mut().zip(acc).zip(requant) {
        *o = activation::lookup(table, rq.to_i16(a));
    }
}

/// A LayerNorm's output into the int16 residual stream (which is also the next matrix
/// products' input).
fn write_ln_output(y: &[i32], ln: &format::LnOutput, residual: &mut [i16]) {
    for (r, &v) in residual.iter_mut().zip(y) {
        *r = ln.residual.to_i16(v);
    }
}
