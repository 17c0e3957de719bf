//! Lending the checkpoint's f32 tensors to `convbert::float` as zero-copy views.
//!
//! Each Hugging Face tensor is fetched by name with the exact shape config.json implies, so
//! a wrong checkpoint is reported by tensor name and shape, not as a bare element count.

use crate::{Checkpoint, LoadError};
use convbert::float::{ClassifierWeights, Dense, EmbeddingWeights, FloatModel, LayerWeights, Layout};

/// The views of every tensor the forward pass uses.
pub(crate) struct FloatParts<'w> {
    pub embeddings: EmbeddingWeights<'w>,
    pub layers: Vec<LayerWeights<'w>>,
    pub classifier: Option<ClassifierWeights<'w>>,
}

impl Checkpoint {
    /// Hands every float tensor to `f` as (Hugging Face name, shape, values), which may change
    /// the values: the quantization study rounds weights this way to see what rounding costs.
    pub fn map_tensors(&mut self, f: impl FnMut(&str, &[usize], &mut [f32])) {
        self.tensors.map(f);
    }

    /// The float reference model over this checkpoint's weights. `layers` must be the
    /// storage returned by [`Checkpoint::float_layers`] (the model borrows it).
    ///
    /// # Errors
    /// [`LoadError`] if a tensor is missing or mis-shaped (already checked at load time).
    pub fn float_model<'w>(&'w self, layers: &'w [LayerWeights<'w>]) -> Result<FloatModel<'w>, LoadError> {
        let parts = self.float_parts()?;
        FloatModel::new(self.config, parts.embeddings, layers, parts.classifier)
            .map_err(|e| LoadError::Config(self.dir.join("config.json"), e.to_string()))
    }

    /// Per-layer weight views, to pass to [`Checkpoint::float_model`].
    ///
    /// # Errors
    /// As [`Checkpoint::float_model`].
    pub fn float_layers(&self) -> Result<Vec<LayerWeights<'_>>, LoadError> {
        Ok(self.float_parts()?.layers)
    }

    pub(crate) fn float_parts(&self) -> Result<FloatParts<'_>, LoadError> {
        let c = &self.config;
        let (v, h, e, i) = (c.vocab_size, c.hidden_size, c.embedding_size, c.intermediate_size);
        let (a, k, taps) = (c.all_head_size(), c.conv_kernel_size, c.attention_heads() * c.conv_kernel_size);
        let g = c.num_groups;
        // Names below are relative to the base model; the classifier head's are not.
        let pre = self.prefix;
        let t = |name: &str, shape: &[usize]| -> Result<&[f32], LoadError> {
            Ok(&self.tensors.get(name, shape)?.data)
        };
        let linear = |name: &str, inputs: usize, outputs: usize| -> Result<Dense<'_>, LoadError> {
            Ok(Dense {
                weight: t(&format!("{name}.weight"), &[outputs, inputs])?,
                bias: t(&format!("{name}.bias"), &[outputs])?,
                in_features: inputs,
                out_features: outputs,
                layout: Layout::Linear,
            })
        };
        // ConvBertIntermediate / ConvBertOutput: nn.Linear when G == 1, else GroupedLinearLayer.
        let ffn = |name: &str, inputs: usize, outputs: usize| -> Result<Dense<'_>, LoadError> {
            if g == 1 {
                return linear(name, inputs, outputs);
            }
            Ok(Dense {
                weight: t(&format!("{name}.weight"), &[g, inputs / g, outputs / g])?,
                bias: t(&format!("{name}.bias"), &[outputs])?,
                in_features: inputs,
                out_features: outputs,
                layout: Layout::Grouped(g),
            })
        };

        let embeddings = EmbeddingWeights {
            word: t(&format!("{pre}embeddings.word_embeddings.weight"), &[v, e])?,
            position: t(&format!("{pre}embeddings.position_embeddings.weight"), &[c.max_position_embeddings, e])?,
            token_type: t(&format!("{pre}embeddings.token_type_embeddings.weight"), &[c.type_vocab_size, e])?,
            ln_gamma: t(&format!("{pre}embeddings.LayerNorm.weight"), &[e])?,
            ln_beta: t(&format!("{pre}embeddings.LayerNorm.bias"), &[e])?,
            project: if c.has_embeddings_project() {
                Some(linear(&format!("{pre}embeddings_project"), e, h)?)
            } else {
                None
            },
        };
        let layers = (0..c.num_hidden_layers)
            .map(|n| {
                let p = format!("{pre}encoder.layer.{n}.");
                let sep = format!("{p}attention.self.key_conv_attn_layer.");
                Ok(LayerWeights {
                    query: linear(&format!("{p}attention.self.query"), h, a)?,
                    key: linear(&format!("{p}attention.self.key"), h, a)?,
                    value: linear(&format!("{p}attention.self.value"), h, a)?,
                    key_conv_depthwise: t(&format!("{sep}depthwise.weight"), &[h, 1, k])?,
                    key_conv_pointwise: Dense {
                        weight: t(&format!("{sep}pointwise.weight"), &[a, h, 1])?,
                        bias: t(&format!("{sep}bias"), &[a, 1])?,
                        in_features: h,
                        out_features: a,
                        layout: Layout::Linear,
                    },
                    conv_kernel: linear(&format!("{p}attention.self.conv_kernel_layer"), a, taps)?,
                    conv_out: linear(&format!("{p}attention.self.conv_out_layer"), h, a)?,
                    attention_output: linear(&format!("{p}attention.output.dense"), h, h)?,
                    attention_ln_gamma: t(&format!("{p}attention.output.LayerNorm.weight"), &[h])?,
                    attention_ln_beta: t(&format!("{p}attention.output.LayerNorm.bias"), &[h])?,
                    intermediate: ffn(&format!("{p}intermediate.dense"), h, i)?,
                    output: ffn(&format!("{p}output.dense"), i, h)?,
                    output_ln_gamma: t(&format!("{p}output.LayerNorm.weight"), &[h])?,
                    output_ln_beta: t(&format!("{p}output.LayerNorm.bias"), &[h])?,
                })
            })
            .collect::<Result<Vec<_>, LoadError>>()?;
        let classifier = if c.num_labels > 0 {
            Some(ClassifierWeights {
                dense: linear("classifier.dense", h, h)?,
                out_proj: linear("classifier.out_proj", h, c.num_labels)?,
            })
        } else {
            None
        };
        Ok(FloatParts { embeddings, layers, classifier })
    }
}
