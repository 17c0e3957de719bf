//! Borrowed f32 weight views, one field per Hugging Face tensor, and their shape checks.
//!
//! The views borrow from whoever owns the numbers (the host loader's buffers, or a static
//! table); nothing here copies. [`check`] runs once when a model is built so that the forward
//! pass can index every slice without a bounds failure.

use crate::{ConfigError, ModelConfig};
use core::fmt;

/// How a dense layer's weight matrix is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `nn.Linear`: `[out, in]`, `y = x W^T + b`.
    Linear,
    /// `GroupedLinearLayer`: `[G, in/G, out/G]`, block-diagonal and already in `x W`
    /// orientation: `y[g*Og + j] = sum_i x[g*Ig + i] * W[g, i, j] + b[g*Og + j]`.
    Grouped(usize),
}

/// A dense (fully connected) layer.
#[derive(Clone, Copy, Debug)]
pub struct Dense<'w> {
    /// `in_features * out_features` numbers (divided by G when grouped) in `layout` order.
    pub weight: &'w [f32],
    /// `[out_features]`.
    pub bias: &'w [f32],
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
    /// Matrix layout.
    pub layout: Layout,
}

/// `ConvBertEmbeddings` (+ `embeddings_project` when E != H).
#[derive(Clone, Copy, Debug)]
pub struct EmbeddingWeights<'w> {
    /// `word_embeddings.weight` `[V, E]`.
    pub word: &'w [f32],
    /// `position_embeddings.weight` `[P, E]`.
    pub position: &'w [f32],
    /// `token_type_embeddings.weight` `[T, E]`.
    pub token_type: &'w [f32],
    /// `LayerNorm.weight` `[E]`.
    pub ln_gamma: &'w [f32],
    /// `LayerNorm.bias` `[E]`.
    pub ln_beta: &'w [f32],
    /// `embeddings_project` E -> H; `None` exactly when E == H.
    pub project: Option<Dense<'w>>,
}

/// One `ConvBertLayer`.
#[derive(Clone, Copy, Debug)]
pub struct LayerWeights<'w> {
    /// `attention.self.query` H -> A.
    pub query: Dense<'w>,
    /// `attention.self.key` H -> A.
    pub key: Dense<'w>,
    /// `attention.self.value` H -> A.
    pub value: Dense<'w>,
    /// `key_conv_attn_layer.depthwise.weight` `[H, 1, K]`: one K-tap filter per channel.
    pub key_conv_depthwise: &'w [f32],
    /// `key_conv_attn_layer.pointwise.weight` `[A, H, 1]` with `key_conv_attn_layer.bias`
    /// `[A, 1]`: a Linear H -> A applied after the depthwise filter.
    pub key_conv_pointwise: Dense<'w>,
    /// `conv_kernel_layer` A -> nh*K: per token and head, the logits of the K conv taps.
    pub conv_kernel: Dense<'w>,
    /// `conv_out_layer` H -> A: the convolution branch's own "value".
    pub conv_out: Dense<'w>,
    /// `attention.output.dense` H -> H.
    pub attention_output: Dense<'w>,
    /// `attention.output.LayerNorm.weight` `[H]`.
    pub attention_ln_gamma: &'w [f32],
    /// `attention.output.LayerNorm.bias` `[H]`.
    pub attention_ln_beta: &'w [f32],
    /// `intermediate.dense` H -> I (Linear or Grouped).
    pub intermediate: Dense<'w>,
    /// `output.dense` I -> H (Linear or Grouped).
    pub output: Dense<'w>,
    /// `output.LayerNorm.weight` `[H]`.
    pub output_ln_gamma: &'w [f32],
    /// `output.LayerNorm.bias` `[H]`.
    pub output_ln_beta: &'w [f32],
}

/// `ConvBertClassificationHead`: `out_proj(act(dense(h[CLS])))`, no tanh pooler.
#[derive(Clone, Copy, Debug)]
pub struct ClassifierWeights<'w> {
    /// `classifier.dense` H -> H.
    pub dense: Dense<'w>,
    /// `classifier.out_proj` H -> labels.
    pub out_proj: Dense<'w>,
}

/// A weight view whose size disagrees with the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsError {
    /// The config itself cannot run.
    Config(ConfigError),
    /// A tensor has the wrong number of elements (or layout).
    Shape {
        /// Which tensor, as a Hugging Face name relative to its layer.
        tensor: &'static str,
        /// The layer index, for per-layer tensors.
        layer: Option<usize>,
        /// Elements expected.
        expected: usize,
        /// Elements found.
        got: usize,
    },
    /// A dense layer's declared in/out widths or layout disagree with the config.
    DenseShape {
        /// Which layer, as a Hugging Face name relative to its encoder layer.
        tensor: &'static str,
        /// The layer index, for per-layer tensors.
        layer: Option<usize>,
    },
    /// The number of layer views differs from `num_hidden_layers`.
    LayerCount {
        /// `num_hidden_layers`.
        expected: usize,
        /// Views given.
        got: usize,
    },
    /// `num_labels > 0` but no head was given, or a head was given for `num_labels == 0`.
    Classifier,
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Config(e) => e.fmt(f),
            Self::Shape { tensor, layer: Some(l), expected, got } => write!(
                f,
                "encoder.layer.{l}.{tensor}: expected {expected} elements, found {got}"
            ),
            Self::Shape { tensor, layer: None, expected, got } => {
                write!(f, "{tensor}: expected {expected} elements, found {got}")
            }
            Self::DenseShape { tensor, layer: Some(l) } => {
                write!(f, "encoder.layer.{l}.{tensor}: widths or layout disagree with the config")
            }
            Self::DenseShape { tensor, layer: None } => {
                write!(f, "{tensor}: widths or layout disagree with the config")
            }
            Self::LayerCount { expected, got } => {
                write!(f, "config has {expected} layers, {got} layer weight sets given")
            }
            Self::Classifier => write!(f, "classifier head presence disagrees with num_labels"),
        }
    }
}

impl core::error::Error for WeightsError {}

impl From<ConfigError> for WeightsError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// One tensor's expected element count.
struct Expect<'a> {
    tensor: &'static str,
    layer: Option<usize>,
    got: &'a [f32],
    expected: usize,
}

fn expect(e: Expect<'_>) -> Result<(), WeightsError> {
    if e.got.len() == e.expected {
        Ok(())
    } else {
        Err(WeightsError::Shape {
            tensor: e.tensor,
            layer: e.layer,
            expected: e.expected,
            got: e.got.len(),
        })
    }
}

fn check_dense(
    d: &Dense<'_>,
    tensor: &'static str,
    layer: Option<usize>,
    (in_features, out_features, layout): (usize, usize, Layout),
) -> Result<(), WeightsError> {
    if (d.in_features, d.out_features, d.layout) != (in_features, out_features, layout) {
        return Err(WeightsError::DenseShape { tensor, layer });
    }
    let blocks = match layout {
        Layout::Linear => 1,
        Layout::Grouped(g) => g,
    };
    expect(Expect { tensor, layer, got: d.weight, expected: in_features * out_features / blocks })?;
    expect(Expect { tensor, layer, got: d.bias, expected: out_features })
}

/// Checks every view against `config`; after this the forward pass cannot index out of bounds.
///
/// # Errors
/// The first disagreement, naming the tensor.
pub fn check(
    config: &ModelConfig,
    embeddings: &EmbeddingWeights<'_>,
    layers: &[LayerWeights<'_>],
    classifier: Option<&ClassifierWeights<'_>>,
) -> Result<(), WeightsError> {
    config.validate()?;
    let (h, e, a, i) = (
        config.hidden_size,
        config.embedding_size,
        config.all_head_size(),
        config.intermediate_size,
    );
    let k = config.conv_kernel_size;
    let nh = config.attention_heads();
    let ffn_layout = match config.num_groups {
        1 => Layout::Linear,
        g => Layout::Grouped(g),
    };
    let linear = Layout::Linear;

    let emb = embeddings;
    for (tensor, got, expected) in [
        ("embeddings.word_embeddings.weight", emb.word, config.vocab_size * e),
        ("embeddings.position_embeddings.weight", emb.position, config.max_position_embeddings * e),
        ("embeddings.token_type_embeddings.weight", emb.token_type, config.type_vocab_size * e),
        ("embeddings.LayerNorm.weight", emb.ln_gamma, e),
        ("embeddings.LayerNorm.bias", emb.ln_beta, e),
    ] {
        expect(Expect { tensor, layer: None, got, expected })?;
    }
    match (&emb.project, config.has_embeddings_project()) {
        (Some(p), true) => check_dense(p, "embeddings_project", None, (e, h, linear))?,
        (None, false) => {}
        (_, needed) => {
            return Err(WeightsError::Shape {
                tensor: "embeddings_project.weight",
                layer: None,
                expected: if needed { e * h } else { 0 },
                got: if needed { 0 } else { e * h },
            })
        }
    }

    if layers.len() != config.num_hidden_layers {
        return Err(WeightsError::LayerCount {
            expected: config.num_hidden_layers,
            got: layers.len(),
        });
    }
    for (n, l) in layers.iter().enumerate() {
        let at = Some(n);
        check_dense(&l.query, "attention.self.query", at, (h, a, linear))?;
        check_dense(&l.key, "attention.self.key", at, (h, a, linear))?;
        check_dense(&l.value, "attention.self.value", at, (h, a, linear))?;
        expect(Expect {
            tensor: "attention.self.key_conv_attn_layer.depthwise.weight",
            layer: at,
            got: l.key_conv_depthwise,
            expected: h * k,
        })?;
        check_dense(
            &l.key_conv_pointwise,
            "attention.self.key_conv_attn_layer.pointwise",
            at,
            (h, a, linear),
        )?;
        check_dense(&l.conv_kernel, "attention.self.conv_kernel_layer", at, (a, nh * k, linear))?;
        check_dense(&l.conv_out, "attention.self.conv_out_layer", at, (h, a, linear))?;
        check_dense(&l.attention_output, "attention.output.dense", at, (h, h, linear))?;
        for (tensor, got) in [
            ("attention.output.LayerNorm.weight", l.attention_ln_gamma),
            ("attention.output.LayerNorm.bias", l.attention_ln_beta),
            ("output.LayerNorm.weight", l.output_ln_gamma),
            ("output.LayerNorm.bias", l.output_ln_beta),
        ] {
            expect(Expect { tensor, layer: at, got, expected: h })?;
        }
        check_dense(&l.intermediate, "intermediate.dense", at, (h, i, ffn_layout))?;
        check_dense(&l.output, "output.dense", at, (i, h, ffn_layout))?;
    }

    match (classifier, config.num_labels) {
        (None, 0) => Ok(()),
        (Some(c), labels) if labels > 0 => {
            check_dense(&c.dense, "classifier.dense", None, (h, h, linear))?;
            check_dense(&c.out_proj, "classifier.out_proj", None, (h, labels, linear))
        }
        _ => Err(WeightsError::Classifier),
    }
}
