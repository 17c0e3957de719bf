//! Model hyper-parameters, as in Hugging Face's `ConvBertConfig`, and their validation.
//!
//! Hugging Face builds some configs that it then cannot run (the concatenation of attention and
//! convolution heads only reshapes when `head_ratio == 2`; an even kernel makes `unfold` return
//! one position too few). [`ModelConfig::validate`] refuses those with a [`ConfigError`] that
//! names the field, instead of computing a silently wrong answer.

use core::fmt;

/// The activation named by `hidden_act`, used in the FFN and in the classification head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `"gelu"`: the exact, erf-based GELU, `x/2 * (1 + erf(x/sqrt 2))`.
    Gelu,
    /// `"gelu_new"` (also `"gelu_pytorch_tanh"`): the tanh approximation used by GPT-2.
    GeluNew,
    /// `"relu"`.
    Relu,
}

impl Activation {
    /// Parses a `hidden_act` string the way `transformers.activations.ACT2FN` names them.
    pub fn from_hf_name(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluNew),
            "relu" => Some(Self::Relu),
            _ => None,
        }
    }

    /// The canonical Hugging Face name.
    pub fn hf_name(self) -> &'static str {
        match self {
            Self::Gelu => "gelu",
            Self::GeluNew => "gelu_new",
            Self::Relu => "relu",
        }
    }
}

/// The hyper-parameters of a `ConvBertModel` / `ConvBertForSequenceClassification`.
///
/// Names follow `config.json`. Derived sizes (attention heads actually run, head width, the
/// width of Q/K/V) are methods, so they cannot disagree with the fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelConfig {
    /// V: rows of the word-embedding table.
    pub vocab_size: usize,
    /// H: width of the residual stream.
    pub hidden_size: usize,
    /// E: width of the embeddings; when it differs from H a projection E -> H follows them.
    pub embedding_size: usize,
    /// I: width of the feed-forward block.
    pub intermediate_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// N: the configured head count. Only `N / head_ratio` self-attention heads run; the rest
    /// of the width goes to the convolution heads.
    pub num_attention_heads: usize,
    /// Share of heads given to convolution; Hugging Face's code only works with 2.
    pub head_ratio: usize,
    /// K: taps of the dynamic convolution; odd.
    pub conv_kernel_size: usize,
    /// G: groups of the block-diagonal FFN layers (`GroupedLinearLayer`); 1 means plain Linear.
    pub num_groups: usize,
    /// P: rows of the position-embedding table, hence the longest input.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table (2 for BERT-style sentence pairs).
    pub type_vocab_size: usize,
    /// `hidden_act`.
    pub hidden_act: Activation,
    /// `layer_norm_eps`, added to the variance in every LayerNorm.
    pub layer_norm_eps: f32,
    /// Width of the classifier output; 0 for a bare `ConvBertModel`.
    pub num_labels: usize,
}

/// Why a [`ModelConfig`] cannot be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A size that must be positive is zero.
    ZeroSize(&'static str),
    /// `head_ratio` is not 2, which Hugging Face's ConvBERT cannot run either.
    HeadRatio(usize),
    /// `num_attention_heads` is odd or does not divide `hidden_size`, so the attention and
    /// convolution heads do not add up to `hidden_size`.
    HeadSplit {
        /// H.
        hidden_size: usize,
        /// N.
        num_attention_heads: usize,
    },
    /// `conv_kernel_size` is even: HF's `unfold` would return one position too few.
    EvenKernel(usize),
    /// `num_groups` does not divide both `hidden_size` and `intermediate_size`.
    Groups {
        /// G.
        num_groups: usize,
        /// H.
        hidden_size: usize,
        /// I.
        intermediate_size: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ZeroSize(field) => write!(f, "config field `{field}` must be positive"),
            Self::HeadRatio(r) => write!(
                f,
                "head_ratio = {r} is not supported: Hugging Face's ConvBERT only runs with head_ratio = 2"
            ),
            Self::HeadSplit { hidden_size, num_attention_heads } => write!(
                f,
                "num_attention_heads = {num_attention_heads} must be even and divide hidden_size = {hidden_size} \
                 (half the heads are self-attention, half dynamic convolution)"
            ),
            Self::EvenKernel(k) => write!(
                f,
                "conv_kernel_size = {k} must be odd (Hugging Face's unfold loses a position with an even kernel)"
            ),
            Self::Groups { num_groups, hidden_size, intermediate_size } => write!(
                f,
                "num_groups = {num_groups} must divide hidden_size = {hidden_size} and intermediate_size = {intermediate_size}"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

impl ModelConfig {
    /// Checks that Hugging Face's code would run this config and that every derived size is whole.
    ///
    /// # Errors
    /// The first problem found, as a [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("embedding_size", self.embedding_size),
            ("intermediate_size", self.intermediate_size),
            ("num_attention_heads", self.num_attention_heads),
            ("conv_kernel_size", self.conv_kernel_size),
            ("num_groups", self.num_groups),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::ZeroSize(field));
        }
        if self.head_ratio != 2 {
            return Err(ConfigError::HeadRatio(self.head_ratio));
        }
        // HF: nh = N / 2 heads of width hs = H / N, concatenated with as many conv heads, then
        // viewed as 2 * nh * hs; that must be H for the output dense layer to accept it.
        let n = self.num_attention_heads;
        if n % 2 != 0 || self.hidden_size % n != 0 {
            return Err(ConfigError::HeadSplit { hidden_size: self.hidden_size, num_attention_heads: n });
        }
        if self.conv_kernel_size % 2 == 0 {
            return Err(ConfigError::EvenKernel(self.conv_kernel_size));
        }
        let g = self.num_groups;
        if self.hidden_size % g != 0 || self.intermediate_size % g != 0 {
            return Err(ConfigError::Groups {
                num_groups: g,
                hidden_size: self.hidden_size,
                intermediate_size: self.intermediate_size,
            });
        }
        Ok(())
    }

    /// nh: self-attention heads that actually run (and, as many, convolution heads).
    pub fn attention_heads(&self) -> usize {
        self.num_attention_heads / self.head_ratio
    }

    /// hs: width of one head, from the configured (not the halved) head count.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// A = nh * hs: width of Q, K, V and of the convolution branch (H / 2).
    pub fn all_head_size(&self) -> usize {
        self.attention_heads() * self.head_size()
    }

    /// Whether an E -> H projection follows the embeddings.
    pub fn has_embeddings_project(&self) -> bool {
        self.embedding_size != self.hidden_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn small() -> ModelConfig {
        ModelConfig {
            vocab_size: 30522,
            hidden_size: 256,
            embedding_size: 128,
            intermediate_size: 1024,
            num_hidden_layers: 12,
            num_attention_heads: 4,
            head_ratio: 2,
            conv_kernel_size: 9,
            num_groups: 1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            hidden_act: Activation::Gelu,
            layer_norm_eps: 1e-12,
            num_labels: 7,
        }
    }

    #[test]
    fn published_small_is_valid() {
        let c = small();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.attention_heads(), c.head_size(), c.all_head_size()), (2, 64, 128));
    }

    #[test]
    fn refuses_what_hf_cannot_run() {
        let c = ModelConfig { head_ratio: 1, ..small() };
        assert_eq!(c.validate(), Err(ConfigError::HeadRatio(1)));
        let c = ModelConfig { conv_kernel_size: 8, ..small() };
        assert_eq!(c.validate(), Err(ConfigError::EvenKernel(8)));
        let c = ModelConfig { num_attention_heads: 3, hidden_size: 96, ..small() };
        assert!(matches!(c.validate(), Err(ConfigError::HeadSplit { .. })));
        let c = ModelConfig { num_groups: 3, ..small() };
        assert!(matches!(c.validate(), Err(ConfigError::Groups { .. })));
        let c = ModelConfig { vocab_size: 0, ..small() };
        assert_eq!(c.validate(), Err(ConfigError::ZeroSize("vocab_size")));
    }
}
