//! Model hyper-parameters, as in Hugging Face's `ConvBertConfig`, and their validation.
//!
//! Hugging Face builds some configs that it then cannot run (the concatenation of attention and
//! convolution heads only reshapes when `head_ratio == 2`; an even kernel makes `unfold` return
//! one position too few). [`ModelConfig::validate`] refuses those with a [`ConfigError`] that
//! names the field, instead of computing a silently wrong answer.
//!
//! It also bounds every size ([`limits`]), so that a config read from an untrusted blob cannot
//! make a size product wrap on a 32-bit core or an accumulator of the int8 engine overflow.

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

/// The largest value [`ModelConfig::validate`] accepts for each size.
///
/// Chosen far above every published ConvBERT/BERT (base: V 30,522, H 768, I 3,072, 12 layers,
/// P 512, K 9) and so that, within them, nothing the engine computes can overflow. The head
/// count and the groups need no bound of their own: they must divide H, and `head_ratio` is 2.
///
/// - **Sizes fit in `u32`** (so every product below is the same on 32- and 64-bit targets,
///   and matches the blob's `u32` tensor lengths): the largest tensor is the word table,
///   `V * E <= 2^18 * 2^12 = 2^30` bytes; `I * H <= 2^26`; `P * E <= 2^24`. The arena at
///   `P` tokens is dominated by the dynamic-convolution taps, `2 * P * nh * K` bytes with
///   `nh * K <= H/2 * K < 2^18`, so `< 2^31`; every other buffer together is `< 2^28`
///   (`int8::arena_bytes` saturates all the same, so no length can wrap to a small number).
/// - **Softmax** (`int8::softmax`): a `u32` sum of at most `max(P, K, labels) <= 2^14` terms
///   of at most `2^15` each: `<= 2^29`.
/// - **Attention `P.V` and the dynamic convolution**: Q15 weights (each at most `2^15`, their
///   sum at most `2^15 + n` after per-term rounding, `n <= P = 2^12` terms) times int16 values:
///   `|sum| <= (2^15 + 2^12) * 2^15 < 2^31`, exact in `i32`.
/// - **Depthwise filter**: `K <= 127` taps of int16 x int8 (`<= 2^22`): `< 2^29`.
/// - **LayerNorm**: `i64` sums of `n <= 2^12` `i32` values (`< 2^44`); the variance in `u64`
///   saturates and is at most `2^64 - 2^33`, so adding `eps_q < 2^32` cannot wrap.
/// - **Dense products** (`x W^T + b`, int8 or int16 inputs) are defined as `i32` sums
///   *modulo 2^32* (wrapping, as SIMD kernels accumulate): exact while `in/groups * 2^22 +
///   |b| < 2^31` (511 full-scale int16 terms; real activations stay far below full scale), and
///   otherwise wrapped identically on every target: a defined result, never a panic.
pub mod limits {
    /// V: multilingual BERT has 119,547 tokens.
    pub const VOCAB_SIZE: usize = 1 << 18;
    /// H.
    pub const HIDDEN_SIZE: usize = 1 << 12;
    /// E.
    pub const EMBEDDING_SIZE: usize = 1 << 12;
    /// I.
    pub const INTERMEDIATE_SIZE: usize = 1 << 14;
    /// Encoder layers.
    pub const NUM_HIDDEN_LAYERS: usize = 64;
    /// K.
    pub const CONV_KERNEL_SIZE: usize = 127;
    /// P, hence also the longest input.
    pub const MAX_POSITION_EMBEDDINGS: usize = 1 << 12;
    /// Token-type rows.
    pub const TYPE_VOCAB_SIZE: usize = 1 << 10;
    /// Classifier outputs.
    pub const NUM_LABELS: usize = 1 << 14;
}

/// Why a [`ModelConfig`] cannot be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A size that must be positive is zero.
    ZeroSize(&'static str),
    /// A size exceeds its bound in [`limits`].
    TooLarge {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: usize,
        /// The largest value accepted.
        max: usize,
    },
    /// `layer_norm_eps` is not a finite number above zero.
    LayerNormEps,
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
            Self::TooLarge { field, value, max } => {
                write!(f, "config field `{field}` = {value} exceeds this engine's limit of {max}")
            }
            Self::LayerNormEps => write!(f, "config field `layer_norm_eps` must be a finite number above zero"),
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
        let bounded = [
            ("vocab_size", self.vocab_size, limits::VOCAB_SIZE),
            ("hidden_size", self.hidden_size, limits::HIDDEN_SIZE),
            ("embedding_size", self.embedding_size, limits::EMBEDDING_SIZE),
            ("intermediate_size", self.intermediate_size, limits::INTERMEDIATE_SIZE),
            ("num_hidden_layers", self.num_hidden_layers, limits::NUM_HIDDEN_LAYERS),
            ("conv_kernel_size", self.conv_kernel_size, limits::CONV_KERNEL_SIZE),
            ("max_position_embeddings", self.max_position_embeddings, limits::MAX_POSITION_EMBEDDINGS),
            ("type_vocab_size", self.type_vocab_size, limits::TYPE_VOCAB_SIZE),
            ("num_labels", self.num_labels, limits::NUM_LABELS),
        ];
        if let Some(&(field, value, max)) = bounded.iter().find(|(_, v, max)| v > max) {
            return Err(ConfigError::TooLarge { field, value, max });
        }
        // `!(eps > 0)` also refuses NaN.
        if !(self.layer_norm_eps > 0.0) || !self.layer_norm_eps.is_finite() {
            return Err(ConfigError::LayerNormEps);
        }
        if self.head_ratio != 2 {
            return Err(ConfigError::HeadRatio(self.head_ratio));
        }
        // HF: nh = N / 2 heads of width hs = H / N, concatenated with as many conv heads, then
        // viewed as 2 * nh * hs; that must be H for the output dense layer to accept it.
        let n = self.num_attention_heads;
        // `checked_rem`: the zero checks above are not visible to the optimiser, and a panic
        // site here would be one in every program that parses a blob.
        if n % 2 != 0 || self.hidden_size.checked_rem(n) != Some(0) {
            return Err(ConfigError::HeadSplit { hidden_size: self.hidden_size, num_attention_heads: n });
        }
        if self.conv_kernel_size % 2 == 0 {
            return Err(ConfigError::EvenKernel(self.conv_kernel_size));
        }
        let g = self.num_groups;
        if self.hidden_size.checked_rem(g) != Some(0) || self.intermediate_size.checked_rem(g) != Some(0) {
            return Err(ConfigError::Groups {
                num_groups: g,
                hidden_size: self.hidden_size,
                intermediate_size: self.intermediate_size,
            });
        }
        Ok(())
    }

    /// nh: self-attention heads that actually run (and, as many, convolution heads); 0 for
    /// a config that [`ModelConfig::validate`] refuses (as [`ModelConfig::head_size`]).
    pub fn attention_heads(&self) -> usize {
        self.num_attention_heads.checked_div(self.head_ratio).unwrap_or(0)
    }

    /// hs: width of one head, from the configured (not the halved) head count.
    pub fn head_size(&self) -> usize {
        self.hidden_size.checked_div(self.num_attention_heads).unwrap_or(0)
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

    #[test]
    fn refuses_sizes_past_the_limits() {
        let c = ModelConfig { max_position_embeddings: limits::MAX_POSITION_EMBEDDINGS + 1, ..small() };
        assert!(matches!(c.validate(), Err(ConfigError::TooLarge { field: "max_position_embeddings", .. })));
        let c = ModelConfig { num_labels: 140_000, ..small() };
        assert!(matches!(c.validate(), Err(ConfigError::TooLarge { field: "num_labels", .. })));
        // The 32-bit wrap of the attacker's blob: P * E = 2^32.
        let c = ModelConfig { max_position_embeddings: 1 << 16, embedding_size: 1 << 16, ..small() };
        assert!(matches!(c.validate(), Err(ConfigError::TooLarge { .. })));
        let at_limits = ModelConfig {
            vocab_size: limits::VOCAB_SIZE,
            hidden_size: limits::HIDDEN_SIZE,
            embedding_size: limits::EMBEDDING_SIZE,
            intermediate_size: limits::INTERMEDIATE_SIZE,
            num_hidden_layers: limits::NUM_HIDDEN_LAYERS,
            conv_kernel_size: limits::CONV_KERNEL_SIZE,
            max_position_embeddings: limits::MAX_POSITION_EMBEDDINGS,
            type_vocab_size: limits::TYPE_VOCAB_SIZE,
            num_labels: limits::NUM_LABELS,
            ..small()
        };
        assert_eq!(at_limits.validate(), Ok(()));
    }

    #[test]
    fn refuses_a_layer_norm_eps_that_is_not_positive() {
        for eps in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let c = ModelConfig { layer_norm_eps: eps, ..small() };
            assert_eq!(c.validate(), Err(ConfigError::LayerNormEps), "{eps}");
        }
    }
}
