//! The f32 reference forward pass of `ConvBertModel` and `ConvBertForSequenceClassification`.
//!
//! This is the yardstick: golden tests prove it matches PyTorch to 1e-4 of the output's
//! magnitude on every config Hugging Face accepts, and the quantized engine is measured
//! against it. It favours plainness over speed; it is not meant for a microcontroller (it
//! needs an FPU and `L * (5H + 2.5H + E + I + ...)` floats of scratch), though it runs there.
//! The one concession to speed: every dense layer takes all L token rows at once
//! ([`ops::dense_rows`]), which the host tools' `float-gemm` feature turns into a packed SIMD
//! GEMM (about ten times faster than the row-at-a-time loops on the shipped models), for
//! calibrating on tens of thousands of texts.
//!
//! Usage: build a [`FloatModel`] from borrowed weight views (the host loader in
//! `tools/hf` makes them from a checkpoint folder), size a scratch buffer with
//! [`FloatModel::scratch_len`], then call [`FloatModel::forward`] or [`FloatModel::classify`].

mod forward;
#[cfg(feature = "float-gemm")]
mod gemm;
pub mod ops;
pub mod weights;

pub use weights::{ClassifierWeights, Dense, EmbeddingWeights, LayerWeights, Layout, WeightsError};

use crate::input::RunError;
use crate::ModelConfig;
use core::fmt;

/// A tensor the forward pass shows to an [`Observer`], named after the PyTorch value it is.
/// Values come one token row at a time (or all rows of a `[L, width]` buffer at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    /// word + position + type embeddings, before LayerNorm `[E]`.
    EmbeddingSum,
    /// After the embeddings' LayerNorm `[E]`.
    EmbeddingNorm,
    /// After `embeddings_project` (only when E != H) `[H]`.
    Projected,
    /// `query(x)` `[L, A]`.
    Query,
    /// `key(x)` `[L, A]`.
    Key,
    /// `value(x)` `[L, A]`.
    Value,
    /// `conv_out_layer(x)` `[L, A]`.
    ConvValue,
    /// The depthwise-filtered input of the span-aware key `[L, H]`.
    Depthwise,
    /// The span-aware key `[L, A]`.
    SpanKey,
    /// span key * query `[L, A]`.
    KeyQuery,
    /// Dynamic-conv kernel logits before softmax `[L, nh * K]`.
    KernelLogits,
    /// One query's attention scores `q . k / sqrt(hs)` `[L]`.
    Scores,
    /// Attention and conv heads concatenated `[L, H]`.
    Mixed,
    /// attention output dense + residual, before LayerNorm `[H]`.
    AttentionSum,
    /// After the attention LayerNorm `[H]`.
    AttentionNorm,
    /// FFN intermediate before the activation `[I]`.
    FfnPre,
    /// FFN intermediate after the activation `[I]`.
    FfnAct,
    /// FFN output dense + residual, before LayerNorm `[H]`.
    FfnSum,
    /// After the FFN LayerNorm: the layer's output `[H]`.
    FfnNorm,
    /// Classifier dense output `[H]`.
    HeadPre,
    /// Classifier activation output `[H]`.
    HeadAct,
    /// The logits `[labels]`.
    Logits,
}

/// Sees intermediate tensors of a forward pass; `layer` is 0 for embeddings and head points.
///
/// An observer may also change the values, and the pass goes on with the changed tensor: this
/// is how `tools/quantize/examples/sensitivity.rs` rounds one kind of tensor to int8 at a time
/// to find which ones the int8 engine should keep wider.
pub trait Observer {
    /// Called with each observed tensor (or row of it).
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]);

    /// Called before the values of text `index` of a batch are shown
    /// ([`FloatModel::classify_batch_observed`]; a single-text pass calls it with 0). A batch
    /// shows each point's values text by text, so an observer that keeps something per text
    /// (the [CLS] row, a text's residual stream) needs to know whose values come next; one
    /// that only accumulates can ignore it.
    fn text(&mut self, _index: usize) {}
}

/// The no-op observer.
impl Observer for () {
    fn observe(&mut self, _: usize, _: Point, _: &mut [f32]) {}
}

/// A ConvBERT whose weights are borrowed f32 views that have passed the shape checks.
#[derive(Clone, Copy, Debug)]
pub struct FloatModel<'w> {
    config: ModelConfig,
    embeddings: EmbeddingWeights<'w>,
    layers: &'w [LayerWeights<'w>],
    classifier: Option<ClassifierWeights<'w>>,
}

impl<'w> FloatModel<'w> {
    /// Checks every view against `config` and builds the model.
    ///
    /// # Errors
    /// [`WeightsError`] naming the first tensor whose size disagrees with the config.
    pub fn new(
        config: ModelConfig,
        embeddings: EmbeddingWeights<'w>,
        layers: &'w [LayerWeights<'w>],
        classifier: Option<ClassifierWeights<'w>>,
    ) -> Result<Self, WeightsError> {
        weights::check(&config, &embeddings, layers, classifier.as_ref())?;
        Ok(Self { config, embeddings, layers, classifier })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The embedding weights.
    pub fn embeddings(&self) -> &EmbeddingWeights<'w> {
        &self.embeddings
    }

    /// The encoder layers' weights.
    pub fn layers(&self) -> &'w [LayerWeights<'w>] {
        self.layers
    }

    /// The classification head's weights, if any.
    pub fn classifier(&self) -> Option<&ClassifierWeights<'w>> {
        self.classifier.as_ref()
    }

    /// f32 elements of scratch that a pass over `seq_len` tokens needs.
    pub fn scratch_len(&self, seq_len: usize) -> usize {
        forward::Scratch::len(&self.config, seq_len, seq_len)
    }

    /// f32 elements of scratch that a batch of texts of `rows` tokens in all, none longer than
    /// `longest`, needs ([`FloatModel::classify_batch_observed`]).
    pub fn batch_scratch_len(&self, rows: usize, longest: usize) -> usize {
        forward::Scratch::len(&self.config, rows, longest)
    }
}

/// Why a batch pass failed: the [`RunError`], and which text of the batch caused it (`None`
/// when the batch as a whole is at fault: scratch, logits buffer, no classifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// Index of the text in the batch.
    pub text: Option<usize>,
    /// What went wrong.
    pub error: RunError,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text {
            Some(i) => write!(f, "text {} of the batch: {}", i + 1, self.error),
            None => self.error.fmt(f),
        }
    }
}

impl core::error::Error for BatchError {}
