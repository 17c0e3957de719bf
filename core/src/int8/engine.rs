//! The int8 forward pass, top to bottom, and the arena it runs in.
//!
//! Shapes: L tokens, H hidden, E embedding, A = all_head_size, nh attention heads of width hs,
//! K taps (pad = K/2 on each side), I intermediate. Activation buffers are `[L, width]`
//! row-major. Every buffer is carved once from the caller's arena by [`Engine::new`]; the pass
//! allocates nothing and reuses buffers across layers. The inner loops are [`Native`]'s
//! (`kernels`); this file only says what is computed, in which order, into which buffer.
//!
//! Only three buffers hold every token: the int16 residual stream `[L, H]` and, within a
//! layer, the keys and values `[L, A]` (int8) that attention reads for every query.
//! Everything else runs a tile of [`TILE`] tokens at a time, so that each weight row a product
//! loads serves every token of the tile and the rows of a tile are all that is held:
//! - `prepare_tile`: the tile's queries, conv values and dynamic-convolution taps. The
//!   span-aware key's depthwise filter reads the layer input `pad` rows around the tile.
//! - `finish_tile`: the mixed heads (attention over every token's key and value, the dynamic
//!   convolution over the conv values `pad` rows around), the attention output, and the FFN a
//!   block of intermediate units at a time; the results overwrite the tile's residual rows.
//!
//! A tile's residual rows may only be overwritten once no later depthwise filter reads them,
//! so `prepare_tile` runs [`Lookahead::ahead`] tiles ahead of `finish_tile`: queries and taps
//! wait in rings of `ahead + 1` tiles, conv values in a ring of rows. ConvBERT-small at 64
//! tokens then needs under 64 KiB of arena, half of it the residual stream.

use super::format::LnOutput;
use super::kernels::{Kernels, Native, SCRATCH_ROWS};
use super::layer_norm::Affine;
use super::model::{Model, QDense, QLayer};
use super::softmax::softmax_q15;
use super::Requant;
use crate::input::{self, RunError};
use crate::tokenizer::TokenizeError;
use crate::ModelConfig;
use core::fmt;

/// Tokens per tile (see the module doc): four, the Cortex-M DSP kernel's token tile (every
/// weight word loaded serves four tokens), and rows still small on a microcontroller.
const TILE: usize = 4;

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
    /// The answer: the best label, or `None` for "no intent" (out of scope) when the blob's
    /// [`Rejection`](super::Rejection) says so (its score below the threshold, or the best
    /// label is the model's no-intent label).
    pub intent: Option<usize>,
    /// Index of the best label (the first one on a tie), also when it is rejected.
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

/// How far `prepare_tile` runs ahead of `finish_tile` (module doc), for K taps on up to L
/// tokens.
#[derive(Clone, Copy)]
struct Lookahead {
    /// Tiles prepared ahead of the one being finished: `finish_tile(j)` overwrites rows up to
    /// `t0(j) + TILE - 1`, and the tile prepared right after it, `j + ahead + 1`, filters rows
    /// from `t0(j) + (ahead + 1) TILE - pad` on: past them exactly when `ahead TILE >= pad`.
    ahead: usize,
    /// Tiles whose queries and taps wait: `ahead + 1`.
    slots: usize,
    /// Rows of the conv-value ring: the dynamic convolution of tile `j` reads rows
    /// `t0(j) - pad ..` up to the last row of tile `j + ahead`, `pad + slots * TILE` rows; a
    /// multiple of [`TILE`] so that a tile's rows never wrap (fewer when all L rows fit).
    conv_rows: usize,
}

impl Lookahead {
    fn new(c: &ModelConfig, l: usize) -> Self {
        let pad = c.conv_kernel_size / 2;
        let ahead = pad.div_ceil(TILE);
        let ring = pad.saturating_add((ahead + 1) * TILE).next_multiple_of(TILE);
        Self { ahead, slots: ahead + 1, conv_rows: ring.min(l.saturating_add(TILE - 1) / TILE * TILE) }
    }

    /// Tile `j` of `l` tokens: its first token, its token count and its slot in the rings.
    fn tile(&self, l: usize, j: usize) -> (usize, usize, usize) {
        let t0 = j * TILE;
        (t0, TILE.min(l.saturating_sub(t0)), j % self.slots.max(1))
    }
}

/// Element counts of the arena's buffers, for `l` tokens.
struct Plan {
    ids: usize,
    zero_bias: usize,
    acc: usize,
    logits: usize,
    residual: usize,
    probs: usize,
    taps: usize,
    key: usize,
    value: usize,
    query: usize,
    conv_value: usize,
    scratch: usize,
    tile: usize,
}

impl Plan {
    fn new(m: &Model<'_>, l: usize) -> Self {
        let c = m.config();
        let (h, a, e, hs) = (c.hidden_size, c.all_head_size(), c.embedding_size, c.head_size());
        // The config's sizes are bounded (`config::limits`); `l` is the caller's.
        let taps = c.attention_heads() * c.conv_kernel_size;
        let ffn_width = c.num_groups.max(1) * super::format::ffn_block_units(c);
        let ring = Lookahead::new(c, l);
        let rows = |width: usize| l.saturating_mul(width);
        Self {
            ids: l,
            // The keys' product has no bias.
            zero_bias: l,
            // A tile's i32 rows: embedding sums [E], depthwise sums [H], kernel logits [nh*K],
            // attention and FFN outputs [H]; or one head's context sums [hs] and the tile's
            // scores [n, L]; the classifier's logits [labels].
            acc: (TILE * h.max(e).max(taps).max(c.num_labels)).max(TILE.saturating_mul(l).saturating_add(hs)),
            logits: c.num_labels,
            residual: rows(h),
            probs: l.max(c.num_labels),
            taps: ring.slots * TILE * taps,
            key: rows(a),
            value: rows(a),
            query: ring.slots * TILE * a,
            conv_value: ring.conv_rows * a,
            // The widest input of any product: H, E (projection), A (kernel generator) or an
            // FFN block (`format::ffn_block_units`).
            scratch: SCRATCH_ROWS * h.max(e).max(a).max(ffn_width),
            // A tile's rows (`split_tile`): LayerNorm(E) outputs, filtered or mixed [H] and
            // span-aware keys [A] or widened queries [hs] (i16); then the FFN's int8 input [H]
            // and one block's activations (i8).
            tile: (TILE * (h.max(e) + a)).max((TILE * (h + ffn_width)).div_ceil(2)),
        }
    }

    /// Bytes, with slack to align the start to 4. Saturates instead of wrapping: a length
    /// past what a validated model can need (`config::limits`) becomes `usize::MAX`, an
    /// arena no one has, never a small number.
    fn bytes(&self) -> usize {
        let words = [self.ids, self.zero_bias, self.acc, self.logits];
        let halves = [self.scratch, self.tile, self.residual, self.probs, self.taps];
        let bytes = [self.key, self.value, self.query, self.conv_value];
        let sum = |counts: &[usize]| counts.iter().fold(0usize, |s, &n| s.saturating_add(n));
        sum(&words).saturating_mul(4).saturating_add(sum(&halves).saturating_mul(2)).saturating_add(sum(&bytes)).saturating_add(3)
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
    ring: Lookahead,
    ids: &'a mut [u32],
    zero_bias: &'a mut [i32],
    acc: &'a mut [i32],
    logits: &'a mut [i32],
    scratch: &'a mut [i16],
    tile: &'a mut [i16],
    residual: &'a mut [i16],
    probs: &'a mut [u16],
    taps: &'a mut [u16],
    key: &'a mut [i8],
    value: &'a mut [i8],
    query: &'a mut [i8],
    conv_value: &'a mut [i8],
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
        let (zero_bias, rest) = take::<i32>(rest, plan.zero_bias);
        let (acc, rest) = take::<i32>(rest, plan.acc);
        let (logits, rest) = take::<i32>(rest, plan.logits);
        // The tile's rows, then the kernels' scratch: still 4-byte aligned, for word loads
        // (the tile holds an even count). Not the other way round: a scratch of exactly 4 KiB
        // (ConvBERT-small) right before the rows it widens puts each load of a row at the
        // address, modulo 4 KiB, of a store to the scratch: x86's 4K aliasing.
        let (tile, rest) = take::<i16>(rest, plan.tile);
        let (scratch, rest) = take::<i16>(rest, plan.scratch);
        let (residual, rest) = take::<i16>(rest, plan.residual);
        let (probs, rest) = take::<u16>(rest, plan.probs);
        let (taps, rest) = take::<u16>(rest, plan.taps);
        let (key, rest) = take::<i8>(rest, plan.key);
        let (value, rest) = take::<i8>(rest, plan.value);
        let (query, rest) = take::<i8>(rest, plan.query);
        let (conv_value, _) = take::<i8>(rest, plan.conv_value);
        zero_bias.fill(0);
        Ok(Self {
            model: *model,
            max_len,
            ring: Lookahead::new(model.config(), max_len),
            ids,
            zero_bias,
            acc,
            logits,
            scratch,
            tile,
            residual,
            probs,
            taps,
            key,
            value,
            query,
            conv_value,
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

    /// [`Engine::observe_ids`], then the classification of that same pass: one encoder run for
    /// the tools that want both (the quantizer's report).
    ///
    /// # Errors
    /// As [`Engine::classify_ids`].
    pub fn classify_ids_observed(&mut self, ids: &[u32], observe: &mut StageObserver<'_>) -> Result<Classification<'_>, ClassifyError> {
        self.observe_ids(ids, observe)?;
        self.classification(ids.len(), false)
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
            self.layer(&self.model.layer(n), l);
            if let Some(f) = observe.as_mut() {
                f(n + 1, span(self.residual, 0, l * h));
            }
        }
        Ok(())
    }

    /// ConvBertEmbeddings (+ projection): residual[t] = LN(word + position + type), a tile at
    /// a time.
    fn embed(&mut self, l: usize) {
        let m = self.model;
        let c = m.config();
        let (h, e) = (c.hidden_size, c.embedding_size);
        let emb = m.embeddings();
        let ln = emb.scalars.ln;
        for t0 in (0..l).step_by(TILE) {
            let n = TILE.min(l - t0);
            // LN(word + position + token type 0), each row on its own scale.        [n, E] i32
            for tt in 0..n {
                let (t, z) = (t0 + tt, span_mut(self.acc, tt * e, e));
                let id = self.ids.get(t).map_or(0, |&id| id as usize);
                let (w_rq, p_rq, t_rq) = (emb.word_requant.get(id), emb.position_requant.get(t), emb.token_type_requant.first());
                let (Some(&w_rq), Some(&p_rq), Some(&t_rq)) = (w_rq, p_rq, t_rq) else { continue };
                let (word, position, token_type) = (span(emb.word, id * e, e), span(emb.position, t * e, e), span(emb.token_type, 0, e));
                Native::sum_rows(z, [(word, w_rq), (position, p_rq), (token_type, t_rq)]);
                Native::layer_norm(z, emb.ln, ln.eps_q);
            }
            let (z, residual) = (span(self.acc, 0, n * e), span_mut(self.residual, t0 * h, n * h));
            match &emb.project {
                // E == H: the LayerNorm's i16 output is the residual row.              [n, H]
                None => Native::scale_i16(z, ln.residual, residual),
                // E != H (either way round): the E-wide output, then embeddings_project.
                Some(project) => {
                    let projected_input = span_mut(self.tile, 0, n * e);
                    Native::scale_i16(z, ln.residual, projected_input);
                    Native::dense(projected_input, e, project, self.scratch, &mut store(residual, h, project.requant, Native::requantize_i16));
                }
            }
        }
    }

    /// One ConvBertLayer: mixed attention, then the FFN. Updates `residual` in place.
    fn layer(&mut self, layer: &QLayer<'_>, l: usize) {
        let c = *self.model.config();
        let (h, a, hs) = (c.hidden_size, c.all_head_size(), c.head_size());
        // k, v = requant(W x + b) for every token, x the i16 residual stream.          [L, A]
        // The keys are stored head by head, [nh, L, hs]: each head's are then the weight rows
        // of a dense product with that head's queries (the scores).
        let x = span(self.residual, 0, l * h);
        let key = span_mut(self.key, 0, l * a);
        Native::dense(x, h, &layer.key, self.scratch, &mut store_by_head(key, l, hs, layer.key.requant));
        let value = span_mut(self.value, 0, l * a);
        Native::dense(x, h, &layer.value, self.scratch, &mut store(value, a, layer.value.requant, Native::requantize_i8));

        // The tiles, `prepare_tile` running `ahead` tiles in front (module doc).
        let tiles = l.div_ceil(TILE);
        let ahead = self.ring.ahead;
        for j in 0..ahead.min(tiles) {
            self.prepare_tile(layer, l, j);
        }
        for j in 0..tiles {
            if j + ahead < tiles {
                self.prepare_tile(layer, l, j + ahead);
            }
            self.finish_tile(layer, l, j);
        }
    }

    /// Tile `j`'s queries and conv values, and its dynamic-convolution taps: softmax_j over
    /// each head's K logits of ((span-aware key * q) Wck^T + bck), Q15. Reads the layer
    /// input's rows `t0 - pad .. t0 + n + pad`, which no finished tile has overwritten yet.
    fn prepare_tile(&mut self, layer: &QLayer<'_>, l: usize, j: usize) {
        let c = *self.model.config();
        let (h, a, k) = (c.hidden_size, c.all_head_size(), c.conv_kernel_size);
        let taps = c.attention_heads() * k;
        let s = &layer.scalars;
        let (t0, n, slot) = self.ring.tile(l, j);
        let conv_row = t0 % self.ring.conv_rows.max(1);
        let Self { residual, scratch, tile: tile_rows, acc, query, conv_value, taps: all_taps, .. } = self;
        let (rows, spare) = split_tile(tile_rows, h.max(c.embedding_size));
        let (x, tile) = (span(residual, 0, l * h), span(residual, t0 * h, n * h));

        // q, conv value = requant(W x + b) of the tile's rows, into their rings.       [n, A]
        let query = span_mut(query, slot * TILE * a, n * a);
        Native::dense(tile, h, &layer.query, scratch, &mut store(query, a, layer.query.requant, Native::requantize_i8));
        let conv_rows = span_mut(conv_value, conv_row * a, n * a);
        Native::dense(tile, h, &layer.conv_value, scratch, &mut store(conv_rows, a, layer.conv_value.requant, Native::requantize_i8));

        // Span-aware key: depthwise K-tap filter per channel, then pointwise H -> A.
        let filtered = span_mut(rows, 0, n * h);
        for tt in 0..n {
            let sums = span_mut(acc, 0, h);
            Native::depthwise(x, h, t0 + tt, layer.depthwise, k, sums);
            Native::requantize_i16(sums, layer.depthwise_requant, span_mut(filtered, tt * h, h)); // [n, H]
        }
        let span_key = span_mut(spare, 0, n * a);
        Native::dense(filtered, h, &layer.pointwise, scratch, &mut store(span_key, a, layer.pointwise.requant, Native::requantize_i16));
        Native::multiply_i16_i8(span_key, query, s.key_query); //                            [n, A]
        let logits = span_mut(acc, 0, n * taps);
        Native::dense(span_key, a, &layer.kernel, scratch, &mut store(logits, taps, layer.kernel.requant, Native::requantize_i32));
        let tile_taps = span_mut(all_taps, slot * TILE * taps, n * taps); //                [n, nh*K]
        for (head_logits, head_taps) in logits.chunks_exact(k.max(1)).zip(tile_taps.chunks_exact_mut(k.max(1))) {
            softmax_q15(head_logits, s.taps_log2, head_taps);
        }
    }

    /// Tile `j`'s mixed heads = concat(attention heads, conv heads), the attention output
    /// LN(W mixed + b + residual), then the FFN, into the tile's residual rows.
    fn finish_tile(&mut self, layer: &QLayer<'_>, l: usize, j: usize) {
        let c = *self.model.config();
        let (h, a, hs, nh, k) = (c.hidden_size, c.all_head_size(), c.head_size(), c.attention_heads(), c.conv_kernel_size);
        let s = &layer.scalars;
        let (pad, conv_rows) = (k / 2, self.ring.conv_rows.max(1));
        let (t0, n, slot) = self.ring.tile(l, j);
        let Self { residual, scratch, tile, acc, zero_bias, probs, key, value, query, conv_value, taps: all_taps, .. } = self;
        let (rows, spare) = split_tile(tile, h.max(c.embedding_size));
        let (tile_query, tile_taps) = (span(query, slot * TILE * a, n * a), span(all_taps, slot * TILE * nh * k, n * nh * k));
        let mixed = span_mut(rows, 0, n * h);
        for head in 0..nh {
            let col = head * hs;
            // Self-attention scores q[t] . k[u] (1/sqrt(hs) is in the softmax's scale), the
            // tile's int8 queries widened to the product's int16 input.             [n, L]
            let queries = span_mut(spare, 0, n * hs);
            for (tt, q) in queries.chunks_exact_mut(hs.max(1)).enumerate() {
                for (q16, &q8) in q.iter_mut().zip(span(tile_query, tt * a + col, hs)) {
                    *q16 = q8 as i16;
                }
            }
            let keys = QDense { weight: span(key, head * l * hs, l * hs), bias: span(zero_bias, 0, l), requant: &[], groups: 1 };
            let (sums, scores) = acc.split_at_mut(hs.min(acc.len()));
            let scores = span_mut(scores, 0, n * l);
            Native::dense(queries, hs, &keys, scratch, &mut store_sums(scores, l));
            // (Rows by position: a `zip` of two chunk iterators has an outlined constructor
            // that divides by their sizes, a panic path in some builds; `tests/no_panic.rs`.)
            for tt in 0..n {
                let (t, scores, mixed) = (t0 + tt, span(scores, tt * l, l), span_mut(mixed, tt * h, h));
                // softmax_u(scores) weighted sum of v[u]: Q15 weights summing to at most
                // 2^15 + L times int8 values, exact in i32 (`config::limits`).
                let probs = span_mut(probs, 0, l);
                softmax_q15(scores, s.scores_log2, probs);
                sums.fill(0);
                for (u, &p) in probs.iter().enumerate() {
                    Native::accumulate(sums, p as i32, span(value, u * a + col, hs));
                }
                Native::scale_i16(sums, s.context, span_mut(mixed, col, hs));
                // Dynamic convolution: the head's K taps slide over the conv values (ring).
                sums.fill(0);
                for (jj, &p) in span(tile_taps, (tt * nh + head) * k, k).iter().enumerate() {
                    let Some(src) = (t + jj).checked_sub(pad).filter(|&src| src < l) else { continue };
                    Native::accumulate(sums, p as i32, span(conv_value, src % conv_rows * a + col, hs));
                }
                Native::scale_i16(sums, s.conv, span_mut(mixed, a + col, hs));
            }
        }
        let z = span_mut(acc, 0, n * h);
        Native::dense(mixed, h, &layer.attention_output, scratch, &mut store_sums(z, h));
        let residual = span_mut(residual, t0 * h, n * h);
        // The LayerNorm's output twice: the i16 residual, and the FFN's int8 input (at the
        // tile's start: the mixed heads are consumed), then a block's activations.     [n, H]
        let bytes = as_bytes_mut(tile);
        let (ffn_input, activated) = bytes.split_at_mut((TILE * h).min(bytes.len()));
        let ffn_input = span_mut(ffn_input, 0, n * h);
        let attention_ln = (layer.attention_ln, &s.attention_ln);
        add_and_norm(z, layer.attention_output.requant, residual, s.attention_residual, attention_ln, Some((ffn_input, s.ffn_input)));

        // FFN: LN(W2 act(W1 x + b1) + b2 + residual), both products on int8 inputs, a block
        // of intermediate units at a time: the blocks' W2 sums add up into z (`FfnBlock`).
        for (b, block) in (0..).map_while(|b| layer.ffn_block(b)).enumerate() {
            let activated = span_mut(activated, 0, n * block.width); //                          [n, w]
            Native::dense_i8(ffn_input, h, &block.ffn_in, scratch, &mut store_activated_i8(activated, block.width, block.ffn_in.requant, layer.activation));
            let ffn_out = QDense { weight: block.ffn_out_weight, bias: layer.ffn_out.bias, requant: &[], groups: layer.ffn_out.groups };
            let z = span_mut(acc, 0, n * h);
            if b == 0 {
                Native::dense_i8(activated, block.width, &ffn_out, scratch, &mut store_sums(z, h));
            } else {
                Native::dense_i8(activated, block.width, &ffn_out, scratch, &mut add_sums_less_bias(z, h, layer.ffn_out.bias));
            }
        }
        let z = span_mut(acc, 0, n * h);
        add_and_norm(z, layer.ffn_out.requant, residual, s.ffn_residual, (layer.ffn_ln, &s.ffn_ln), None);
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
        let head = m.classifier();
        let activated = span_mut(self.tile, 0, h);
        let cls = span(self.residual, 0, h);
        Native::dense(cls, h, &head.dense, self.scratch, &mut store_activated(activated, h, head.dense.requant, head.activation));
        let logits = span_mut(self.logits, 0, labels);
        Native::dense(activated, h, &head.out_proj, self.scratch, &mut store(logits, labels, head.out_proj.requant, Native::requantize_i32));
        let (logits, probs) = (span(self.logits, 0, labels), span_mut(self.probs, 0, labels));
        softmax_q15(logits, head.scalars.logits_log2, probs);
        // The first best on a tie, as torch.argmax.
        let (mut best, mut best_logit) = (0, i32::MIN);
        for (i, &v) in logits.iter().enumerate() {
            if i == 0 || v > best_logit {
                (best, best_logit) = (i, v);
            }
        }
        let score_q15 = probs.get(best).copied().unwrap_or(0);
        let rejection = m.rejection();
        let rejected = score_q15 < rejection.below_q15 || rejection.no_intent_label.is_some_and(|label| usize::from(label) == best);
        Ok(Classification {
            intent: if rejected { None } else { Some(best) },
            label: best,
            label_name: m.label(best).unwrap_or(""),
            score_q15,
            logits,
            tokens,
            truncated,
        })
    }
}

/// A sink for [`Kernels::dense`] that stores `requantize(sums, requant[o..])` at
/// `out[t * width + o..]` (`Native::requantize_i8`, `_i16` or `_i32`).
fn store<'o, Y>(out: &'o mut [Y], width: usize, requant: &'o [Requant], requantize: fn(&[i32], &[Requant], &mut [Y])) -> impl FnMut(usize, usize, &[i32]) + 'o {
    move |t, o, sums| requantize(sums, span(requant, o, sums.len()), span_mut(out, t * width + o, sums.len()))
}

/// A sink that stores `requant[o].to_i8(sum)` head by head: output `o` of token `t` at
/// `out[head, t, c]` (`[nh, L, hs]`, `o = head * hs + c`).
fn store_by_head<'o>(out: &'o mut [i8], l: usize, hs: usize, requant: &'o [Requant]) -> impl FnMut(usize, usize, &[i32]) + 'o {
    move |t, o0, sums| {
        // The run, cut where it crosses from one head to the next.
        let mut o = o0;
        let mut sums = sums;
        while !sums.is_empty() {
            let (Some(head), Some(c)) = (o.checked_div(hs), o.checked_rem(hs)) else { return };
            let (here, rest) = sums.split_at(sums.len().min(hs - c));
            Native::requantize_i8(here, span(requant, o, here.len()), span_mut(out, (head * l + t) * hs + c, here.len()));
            (o, sums) = (o + here.len(), rest);
        }
    }
}

/// A sink that keeps the raw `i32` sums, for the products a LayerNorm or a softmax follows.
fn store_sums(out: &mut [i32], width: usize) -> impl FnMut(usize, usize, &[i32]) + '_ {
    move |t, o, sums| {
        for (y, &sum) in span_mut(out, t * width + o, sums.len()).iter_mut().zip(sums) {
            *y = sum;
        }
    }
}

/// A sink that adds `sum - bias[o]` to what `out` holds: the FFN blocks after the first, whose
/// products include the bias that block 0 already added (`i32` wrapping: exactly the block's
/// share of `W2 act`). One bias for all blocks instead of a zero bias `[H]` in the arena.
fn add_sums_less_bias<'o>(out: &'o mut [i32], width: usize, bias: &'o [i32]) -> impl FnMut(usize, usize, &[i32]) + 'o {
    move |t, o, sums| {
        for ((y, &sum), &b) in span_mut(out, t * width + o, sums.len()).iter_mut().zip(sums).zip(span(bias, o, sums.len())) {
            *y = y.wrapping_add(sum.wrapping_sub(b));
        }
    }
}

/// A sink that stores `act(requant[o].to_i16(sum))` as int8, through a table with an int8
/// output (the FFN's).
fn store_activated_i8<'o>(out: &'o mut [i8], width: usize, requant: &'o [Requant], table: &'o [i16]) -> impl FnMut(usize, usize, &[i32]) + 'o {
    move |t, o, sums| Native::activate_i8(sums, span(requant, o, sums.len()), table, span_mut(out, t * width + o, sums.len()))
}

/// A sink that stores `act(requant[o].to_i16(sum))` through the activation's table (the
/// classifier's, int16 out).
fn store_activated<'o>(out: &'o mut [i16], width: usize, requant: &'o [Requant], table: &'o [i16]) -> impl FnMut(usize, usize, &[i32]) + 'o {
    move |t, o, sums| {
        let values = span_mut(out, t * width + o, sums.len());
        Native::requantize_i16(sums, span(requant, o, sums.len()), values);
        Native::activate(values, table);
    }
}

/// Rows of `z` (branch sums, `[n, H]`): `residual = LN(branch(z) + residual)` on the
/// LayerNorm's domain, back to the i16 residual stream, and to `int8_copy` (`[n, H]`) by its
/// requant when there is one.
fn add_and_norm(
    z: &mut [i32],
    branch: &[Requant],
    residual: &mut [i16],
    residual_rq: Requant,
    (affine, ln): (Affine<'_>, &LnOutput),
    mut int8_copy: Option<(&mut [i8], Requant)>,
) {
    let h = affine.gamma.len().max(1);
    for (t, (z, residual)) in z.chunks_exact_mut(h).zip(residual.chunks_exact_mut(h)).enumerate() {
        Native::add_residual(z, branch, residual, residual_rq);
        Native::layer_norm(z, affine, ln.eps_q);
        Native::scale_i16(z, ln.residual, residual);
        if let Some((copy, requant)) = int8_copy.as_mut() {
            Native::scale_i8(z, *requant, span_mut(copy, t * h, h));
        }
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

/// The tile region's views in the attention stages: `[TILE, width]` rows (filtered or mixed
/// heads, `width = max(H, E)`) and the rest (span-aware keys, widened queries).
fn split_tile(tile: &mut [i16], width: usize) -> (&mut [i16], &mut [i16]) {
    tile.split_at_mut((TILE * width).min(tile.len()))
}

/// An `i16` buffer's bytes, for the int8 rows that share it (`Engine::finish_tile`).
fn as_bytes_mut(buf: &mut [i16]) -> &mut [i8] {
    bytemuck::try_cast_slice_mut(buf).unwrap_or(&mut [])
}

/// Splits `n` elements of `T` off the front of `bytes` (aligned by construction).
fn take<T: bytemuck::Pod>(bytes: &mut [u8], n: usize) -> (&mut [T], &mut [u8]) {
    let (head, tail) = bytes.split_at_mut((n * core::mem::size_of::<T>()).min(bytes.len()));
    (bytemuck::try_cast_slice_mut(head).unwrap_or(&mut []), tail)
}
