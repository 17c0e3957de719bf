//! The f32 reference forward pass of `ConvBertModel` and `ConvBertForSequenceClassification`.
//!
//! This is the yardstick: golden tests prove it matches PyTorch to 1e-4 of the output's
//! magnitude on every config Hugging Face accepts, and the quantized engine is measured
//! against it. It favours plainness over speed; it is not meant for a microcontroller (it
//! needs an FPU and `L * (5H + 2.5H + ...)` floats of scratch), though it runs there.
//!
//! Usage: build a [`FloatModel`] from borrowed weight views (the host loader in
//! `tools/hf` makes them from a checkpoint folder), size a scratch buffer with
//! [`FloatModel::scratch_len`], then call [`FloatModel::forward`] or [`FloatModel::classify`].

mod forward;
pub mod ops;
pub mod weights;

pub use weights::{ClassifierWeights, Dense, EmbeddingWeights, LayerWeights, Layout, WeightsError};

use crate::ModelConfig;

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

    /// f32 elements of scratch that a pass over `seq_len` tokens needs.
    pub fn scratch_len(&self, seq_len: usize) -> usize {
        forward::Scratch::len(&self.config, seq_len)
    }
}
