//! The packed model blob (`.cbq`): layout, records and the slot order. `docs/FORMAT.md` is the
//! prose version of this file.
//!
//! ```text
//! 0   magic "CVBQ"             4 bytes
//! 4   format version           u16 LE (FORMAT_VERSION)
//! 6   reserved                 u16 LE, 0
//! 8   header length            u32 LE
//! 12  tensor count             u32 LE
//! 16  header                   postcard-encoded `Header`
//! ..  tensor table             at the next multiple of 4: `count` entries of 12 bytes
//!                              (offset u32, byte length u32, dtype u8, 3 zero bytes)
//! ..  tensor data              each tensor at a multiple of 16 from the blob's start
//! end CRC-32 (IEEE)            u32 LE over every byte before it
//! ```
//!
//! Tensors come in a fixed order ([`slots`]) that the config determines: the vocabulary, the
//! embeddings, each layer's tensors, the classifier. Integers are little-endian; weight rows
//! are `[out, in_per_group]` int8, so SIMD kernels (Cortex-M `SMLAD`, AArch64 `SDOT`, AVX2)
//! read them in place without a format change. The FFN's two products are stored in blocks of
//! intermediate units ([`ffn_block_units`], version 6), so that the engine runs the FFN a block
//! at a time and never holds a token's whole `[I]` row.

use super::activation::TABLE_LEN;
use super::Requant;
use crate::{Activation, ModelConfig};
use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};

/// The first four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"CVBQ";
/// The layout version this engine reads; any change to the layout bumps it.
pub const FORMAT_VERSION: u16 = 6;
/// Alignment of every tensor, from the blob's first byte.
pub const TENSOR_ALIGN: usize = 16;
/// Bytes of the fixed preamble before the header.
pub const PREAMBLE_LEN: usize = 16;
/// Bytes of one tensor-table entry.
pub const ENTRY_LEN: usize = 12;

/// What a blob's header holds besides the tensors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header<'a> {
    /// The architecture.
    pub config: ConfigRecord,
    /// Tokenizer settings (the vocabulary itself is a tensor).
    pub tokenizer: TokenizerRecord,
    /// Label names in id order, each followed by `\n`.
    #[serde(borrow)]
    pub labels: &'a str,
    /// Real value of one logit unit, as IEEE f16 bits, for host tools that print float
    /// logits; the engine never reads it.
    pub logit_scale_f16: u16,
    /// When the answer is "no intent" instead of the best label (format version 5).
    pub rejection: Rejection,
}

/// When the engine answers "no intent" (out of scope) instead of its best label; the packer
/// chooses it on held-out data (`convbert quantize --reject`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// A best label scoring (Q15 probability) below this is no intent; 0 never rejects.
    pub below_q15: u16,
    /// A label meaning "none of the others" (CLINC150's `oos`): predicting it is no intent too.
    pub no_intent_label: Option<u16>,
}

/// [`ModelConfig`] as stored: fixed-width integers, fields as in [`ModelConfig`].
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub vocab_size: u32,
    pub hidden_size: u32,
    pub embedding_size: u32,
    pub intermediate_size: u32,
    pub num_hidden_layers: u32,
    pub num_attention_heads: u32,
    pub head_ratio: u32,
    pub conv_kernel_size: u32,
    pub num_groups: u32,
    pub max_position_embeddings: u32,
    pub type_vocab_size: u32,
    /// 0 gelu, 1 gelu_new, 2 relu.
    pub hidden_act: u8,
    /// `layer_norm_eps` as f32 bits (informative: the engine uses the folded `eps_q`).
    pub layer_norm_eps_bits: u32,
    pub num_labels: u32,
}

impl ConfigRecord {
    /// The record of `config`.
    pub fn new(c: &ModelConfig) -> Self {
        Self {
            vocab_size: c.vocab_size as u32,
            hidden_size: c.hidden_size as u32,
            embedding_size: c.embedding_size as u32,
            intermediate_size: c.intermediate_size as u32,
            num_hidden_layers: c.num_hidden_layers as u32,
            num_attention_heads: c.num_attention_heads as u32,
            head_ratio: c.head_ratio as u32,
            conv_kernel_size: c.conv_kernel_size as u32,
            num_groups: c.num_groups as u32,
            max_position_embeddings: c.max_position_embeddings as u32,
            type_vocab_size: c.type_vocab_size as u32,
            hidden_act: match c.hidden_act {
                Activation::Gelu => 0,
                Activation::GeluNew => 1,
                Activation::Relu => 2,
            },
            layer_norm_eps_bits: c.layer_norm_eps.to_bits(),
            num_labels: c.num_labels as u32,
        }
    }

    /// The config, or `None` for an unknown activation code.
    pub fn config(&self) -> Option<ModelConfig> {
        Some(ModelConfig {
            vocab_size: self.vocab_size as usize,
            hidden_size: self.hidden_size as usize,
            embedding_size: self.embedding_size as usize,
            intermediate_size: self.intermediate_size as usize,
            num_hidden_layers: self.num_hidden_layers as usize,
            num_attention_heads: self.num_attention_heads as usize,
            head_ratio: self.head_ratio as usize,
            conv_kernel_size: self.conv_kernel_size as usize,
            num_groups: self.num_groups as usize,
            max_position_embeddings: self.max_position_embeddings as usize,
            type_vocab_size: self.type_vocab_size as usize,
            hidden_act: match self.hidden_act {
                0 => Activation::Gelu,
                1 => Activation::GeluNew,
                2 => Activation::Relu,
                _ => return None,
            },
            layer_norm_eps: f32::from_bits(self.layer_norm_eps_bits),
            num_labels: self.num_labels as usize,
        })
    }
}

/// The tokenizer's settings as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerRecord {
    /// `do_lower_case`.
    pub lowercase: bool,
    /// `strip_accents`.
    pub strip_accents: Option<bool>,
    /// Longest encoding, `[CLS]` and `[SEP]` included.
    pub max_len: u32,
}

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Dtype {
    /// Bytes (vocabulary text).
    U8 = 1,
    /// `u32` (vocabulary index).
    U32 = 2,
    /// `i8` (weights, lookup tables).
    I8 = 3,
    /// `i16` (LayerNorm gamma).
    I16 = 4,
    /// `i32` (biases, LayerNorm beta).
    I32 = 5,
    /// [`Requant`] pairs, 8 bytes each.
    Requant = 6,
    /// One `#[repr(C)]` record of `i32` words ([`EmbeddingScalars`], [`LayerScalars`], ...).
    Record = 7,
}

impl Dtype {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 | Self::Record => 1,
            Self::I16 => 2,
            Self::U32 | Self::I32 => 4,
            Self::Requant => 8,
        }
    }

    /// The dtype of a table code.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::U8,
            2 => Self::U32,
            3 => Self::I8,
            4 => Self::I16,
            5 => Self::I32,
            6 => Self::Requant,
            7 => Self::Record,
            _ => return None,
        })
    }
}

/// Where a LayerNorm's result goes: the `i16` residual stream, which the next matrix products
/// also read (int16 x int8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct LnOutput {
    /// `y -> i16` residual.
    pub residual: Requant,
    /// `layer_norm_eps` on the squared input scale, rounded.
    pub eps_q: u32,
    /// Zero.
    pub reserved: u32,
}

/// The embeddings' scalar parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct EmbeddingScalars {
    /// LayerNorm(E) output: the residual stream, or with a projection, the projection's input.
    pub ln: LnOutput,
}

/// One encoder layer's scalar parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct LayerScalars {
    /// `span_key * query` (i16 x i8) `->` i16 kernel-generator input.
    pub key_query: Requant,
    /// Kernel logits `->` 1/256 bits, for the tap softmax.
    pub taps_log2: Requant,
    /// `sum_j p_j * conv_value` (Q15 x i8, version 6) `->` i16 mixed.
    pub conv: Requant,
    /// `q . k` (i8 x i8) `->` 1/256 bits, `1/sqrt(hs)` folded in.
    pub scores_log2: Requant,
    /// `sum_u p_u * value` (Q15 x i8, version 6) `->` i16 mixed.
    pub context: Requant,
    /// Layer input residual (i16) `->` attention LayerNorm domain.
    pub attention_residual: Requant,
    /// Attention LayerNorm outputs.
    pub attention_ln: LnOutput,
    /// Attention LayerNorm output `->` the FFN's int8 input (version 4).
    pub ffn_input: Requant,
    /// Attention output residual (i16) `->` FFN LayerNorm domain.
    pub ffn_residual: Requant,
    /// FFN LayerNorm outputs.
    pub ffn_ln: LnOutput,
}

/// The classifier head's scalar parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct ClassifierScalars {
    /// Logits `->` 1/256 bits, for the score softmax.
    pub logits_log2: Requant,
}

/// One tensor slot: what the config says it must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSpec {
    /// A short name for error messages and reports.
    pub name: &'static str,
    /// Element type.
    pub dtype: Dtype,
    /// Element count (bytes for records); `None` for the vocabulary text, whose length varies.
    pub elements: Option<usize>,
}

/// Slots before the first layer.
pub const GLOBAL_SLOTS: usize = 15;
/// Slots per layer.
pub const LAYER_SLOTS: usize = 35;
/// Slots of the classifier head (present even with 0 labels, then empty).
pub const CLASSIFIER_SLOTS: usize = 8;

/// Indices of the global slots.
#[allow(missing_docs)]
pub mod global {
    pub const VOCAB_TEXT: usize = 0;
    pub const VOCAB_OFFSETS: usize = 1;
    pub const VOCAB_SORTED: usize = 2;
    pub const WORD: usize = 3;
    pub const WORD_REQUANT: usize = 4;
    pub const POSITION: usize = 5;
    pub const POSITION_REQUANT: usize = 6;
    pub const TOKEN_TYPE: usize = 7;
    pub const TOKEN_TYPE_REQUANT: usize = 8;
    pub const LN_GAMMA: usize = 9;
    pub const LN_BETA: usize = 10;
    pub const PROJECT_WEIGHT: usize = 11;
    pub const PROJECT_BIAS: usize = 12;
    pub const PROJECT_REQUANT: usize = 13;
    pub const SCALARS: usize = 14;
}

/// Offsets of a layer's slots from its first one.
#[allow(missing_docs)]
pub mod layer {
    pub const QUERY: usize = 0; // weight, bias, requant
    pub const KEY: usize = 3;
    pub const VALUE: usize = 6;
    pub const CONV_VALUE: usize = 9;
    pub const DEPTHWISE_WEIGHT: usize = 12;
    pub const DEPTHWISE_REQUANT: usize = 13;
    pub const POINTWISE: usize = 14; // weight, bias, requant
    pub const KERNEL: usize = 17; // weight, bias, requant
    pub const ATTENTION_OUTPUT: usize = 20; // weight, bias, requant
    pub const ATTENTION_LN_GAMMA: usize = 23;
    pub const ATTENTION_LN_BETA: usize = 24;
    pub const FFN_IN: usize = 25; // weight, bias, requant
    pub const ACTIVATION_TABLE: usize = 28;
    pub const FFN_OUT: usize = 29; // weight, bias, requant
    pub const FFN_LN_GAMMA: usize = 32;
    pub const FFN_LN_BETA: usize = 33;
    pub const SCALARS: usize = 34;
}

/// Offsets of the classifier's slots.
#[allow(missing_docs)]
pub mod classifier {
    pub const DENSE: usize = 0; // weight, bias, requant
    pub const ACTIVATION_TABLE: usize = 3;
    pub const OUT_PROJ: usize = 4; // weight, bias, requant
    pub const SCALARS: usize = 7;
}

/// Intermediate units per group in one FFN block (version 6): `min(I, 2H) / G`.
///
/// The FFN `LN(W2 act(W1 x + b1) + b2 + x)` is a sum over intermediate units, so it can run a
/// block of units at a time: block `j`'s rows of `W1` give its activations, and `W2`'s columns
/// of those units add their share of `W2 act`. The engine then holds `[tile, block]`
/// activations, not `[tile, I]`, and no kernel repacks an I-wide input: what lets
/// ConvBERT-small run in 64 KiB at 64 tokens. Two blocks for BERT's `I = 4H`: each block
/// costs the output product a pass over its outputs (measured on the Cortex-M55 at 32 tokens:
/// four blocks of H units cost 4.6 % more instructions than one, two blocks 1.5 %).
///
/// Layout, with G groups of `Ig = I / G` units and `u` units per group per block (the last
/// block may have fewer, `u_j = min(u, Ig - j u)`): block `j` holds, group by group, units
/// `g Ig + j u .. g Ig + j u + u_j`. `intermediate.*` stores its rows (weight rows, bias,
/// requant) block after block in that order, so that block `j` is a grouped `H -> G u_j`
/// layer of its own (for G = 1 that is the natural order); `output.weight` stores block after
/// block the `[H, u_j]` columns of those units, each a grouped `G u_j -> H` layer of its own.
/// `output.bias` and `output.requant` keep their order (they belong to the outputs).
pub fn ffn_block_units(c: &ModelConfig) -> usize {
    let g = c.num_groups.max(1);
    (c.intermediate_size.min(2 * c.hidden_size) / g).max(1)
}

/// Total slot count for a config.
pub fn slot_count(c: &ModelConfig) -> usize {
    c.num_hidden_layers.saturating_mul(LAYER_SLOTS).saturating_add(GLOBAL_SLOTS + CLASSIFIER_SLOTS)
}

/// The spec of slot `index` for config `c` with `tokens` vocabulary lines, or `None` past the end.
pub fn slot(c: &ModelConfig, tokens: usize, index: usize) -> Option<SlotSpec> {
    use Dtype::*;
    // Products saturate: `ModelConfig::validate` bounds every size so that none reaches u32::MAX,
    // and a saturated count can never equal a `u32` length read from the table.
    let (v, h, e, i) = (c.vocab_size, c.hidden_size, c.embedding_size, c.intermediate_size);
    let (a, k, g) = (c.all_head_size(), c.conv_kernel_size, c.num_groups.max(1));
    let taps = c.attention_heads().saturating_mul(k);
    let proj = usize::from(c.has_embeddings_project());
    let spec = |name, dtype, elements| Some(SlotSpec { name, dtype, elements: Some(elements) });
    // A dense layer is three consecutive slots: weight, bias, requant.
    let dense = |names: [&'static str; 3], offset: usize, inputs: usize, outputs: usize, groups: usize| match offset {
        0 => spec(names[0], I8, outputs.saturating_mul(inputs) / groups),
        1 => spec(names[1], I32, outputs),
        _ => spec(names[2], Requant, outputs),
    };

    if index < GLOBAL_SLOTS {
        return match index {
            global::VOCAB_TEXT => Some(SlotSpec { name: "vocab.text", dtype: U8, elements: None }),
            global::VOCAB_OFFSETS => spec("vocab.offsets", U32, tokens.saturating_add(1)),
            global::VOCAB_SORTED => spec("vocab.sorted", U32, tokens),
            global::WORD => spec("embeddings.word", I8, v.saturating_mul(e)),
            global::WORD_REQUANT => spec("embeddings.word.requant", Requant, v),
            global::POSITION => spec("embeddings.position", I8, c.max_position_embeddings.saturating_mul(e)),
            global::POSITION_REQUANT => spec("embeddings.position.requant", Requant, c.max_position_embeddings),
            global::TOKEN_TYPE => spec("embeddings.token_type", I8, c.type_vocab_size.saturating_mul(e)),
            global::TOKEN_TYPE_REQUANT => spec("embeddings.token_type.requant", Requant, c.type_vocab_size),
            global::LN_GAMMA => spec("embeddings.ln.gamma", I16, e),
            global::LN_BETA => spec("embeddings.ln.beta", I32, e),
            global::PROJECT_WEIGHT => spec("embeddings_project.weight", I8, proj * h.saturating_mul(e)),
            global::PROJECT_BIAS => spec("embeddings_project.bias", I32, proj * h),
            global::PROJECT_REQUANT => spec("embeddings_project.requant", Requant, proj * h),
            _ => spec("embeddings.scalars", Record, core::mem::size_of::<EmbeddingScalars>()),
        };
    }
    let index = index - GLOBAL_SLOTS;
    if index < c.num_hidden_layers.saturating_mul(LAYER_SLOTS) {
        let s = index % LAYER_SLOTS;
        return match s {
            0..=2 => dense(["query.weight", "query.bias", "query.requant"], s, h, a, 1),
            3..=5 => dense(["key.weight", "key.bias", "key.requant"], s - 3, h, a, 1),
            6..=8 => dense(["value.weight", "value.bias", "value.requant"], s - 6, h, a, 1),
            9..=11 => dense(["conv_out.weight", "conv_out.bias", "conv_out.requant"], s - 9, h, a, 1),
            12 => spec("depthwise.weight", I8, h.saturating_mul(k)),
            13 => spec("depthwise.requant", Requant, h),
            14..=16 => dense(["pointwise.weight", "pointwise.bias", "pointwise.requant"], s - 14, h, a, 1),
            17..=19 => dense(["conv_kernel.weight", "conv_kernel.bias", "conv_kernel.requant"], s - 17, a, taps, 1),
            20..=22 => dense(["attention_output.weight", "attention_output.bias", "attention_output.requant"], s - 20, h, h, 1),
            23 => spec("attention_ln.gamma", I16, h),
            24 => spec("attention_ln.beta", I32, h),
            25..=27 => dense(["intermediate.weight", "intermediate.bias", "intermediate.requant"], s - 25, h, i, g),
            28 => spec("activation.table", I16, TABLE_LEN),
            29..=31 => dense(["output.weight", "output.bias", "output.requant"], s - 29, i, h, g),
            32 => spec("ffn_ln.gamma", I16, h),
            33 => spec("ffn_ln.beta", I32, h),
            _ => spec("layer.scalars", Record, core::mem::size_of::<LayerScalars>()),
        };
    }
    let index = index - c.num_hidden_layers.saturating_mul(LAYER_SLOTS);
    let labels = c.num_labels;
    let head = usize::from(labels > 0);
    match index {
        0..=2 => dense(["classifier.dense.weight", "classifier.dense.bias", "classifier.dense.requant"], index, h, head * h, 1),
        3 => spec("classifier.activation.table", I16, head * TABLE_LEN),
        4..=6 => dense(["classifier.out_proj.weight", "classifier.out_proj.bias", "classifier.out_proj.requant"], index - 4, h, labels, 1),
        7 => spec("classifier.scalars", Record, core::mem::size_of::<ClassifierScalars>()),
        _ => None,
    }
}
