//! A packed model, validated once and then read in place ([`Model::from_bytes`]).
//!
//! Like smoltcp's `new_checked`, [`Model::from_bytes`] checks everything a forward pass will
//! rely on (magic, version, CRC, header, every tensor's offset, alignment, type and length,
//! every requantization pair, the vocabulary index) and only then returns a `Model`. After
//! that its accessors cannot fail: the weights stay where they are (flash) and are viewed, not
//! copied.

use super::format::{self, ClassifierScalars, Dtype, EmbeddingScalars, Header, LayerScalars, LnOutput, Rejection};
use super::layer_norm::Affine;
use super::Requant;
use crate::lines::lines;
use crate::tokenizer::{Tokenizer, TokenizerSettings, Vocab, VocabError};
use crate::{ConfigError, ModelConfig};
use byteorder::{ByteOrder, LittleEndian};
use core::fmt;

/// Why a blob was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Shorter than its own fields say.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        got: usize,
    },
    /// Not a ConvBERT blob.
    BadMagic,
    /// Written by another version of the format.
    UnsupportedVersion {
        /// The blob's version.
        found: u16,
        /// The one this engine reads.
        supported: u16,
    },
    /// The bytes were changed after packing.
    BadChecksum {
        /// CRC stored in the blob.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The blob does not start at a 4-byte aligned address (put it in a `#[repr(align(16))]`
    /// wrapper, or copy it to aligned memory).
    MisalignedBlob,
    /// The postcard header does not decode.
    Header,
    /// The architecture cannot run.
    Config(ConfigError),
    /// Labels, activation or tokenizer settings disagree with the config.
    Inconsistent(&'static str),
    /// The tensor table has the wrong number of entries.
    TensorCount {
        /// Entries the config implies.
        expected: usize,
        /// Entries in the blob.
        found: usize,
    },
    /// A tensor is out of place, of the wrong type or size, or holds an invalid value.
    Tensor {
        /// Slot index in the table.
        slot: usize,
        /// Slot name.
        name: &'static str,
        /// What is wrong.
        problem: TensorProblem,
    },
    /// The vocabulary or its index is unusable.
    Vocab(VocabError),
}

/// What is wrong with one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorProblem {
    /// Its bytes lie outside the data region.
    OutOfBounds,
    /// Its offset is not a multiple of 16.
    Misaligned,
    /// Its dtype code differs from the slot's.
    Dtype,
    /// Its length differs from what the config implies.
    Length {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// A requantization pair is out of range, or the text is not UTF-8.
    Value,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { need, got } => write!(f, "blob truncated: needs {need} bytes, has {got}"),
            Self::BadMagic => write!(f, "not a ConvBERT blob (bad magic)"),
            Self::UnsupportedVersion { found, supported } => {
                write!(f, "blob format version {found}, this engine reads version {supported}")
            }
            Self::BadChecksum { stored, computed } => {
                write!(f, "blob corrupted: CRC-32 is {computed:#010x}, stored {stored:#010x}")
            }
            Self::MisalignedBlob => write!(f, "blob is not 4-byte aligned in memory"),
            Self::Header => write!(f, "blob header does not decode"),
            Self::Config(e) => write!(f, "blob config: {e}"),
            Self::Inconsistent(what) => write!(f, "blob header inconsistent: {what}"),
            Self::TensorCount { expected, found } => {
                write!(f, "blob has {found} tensors, its config implies {expected}")
            }
            Self::Tensor { slot, name, problem } => {
                write!(f, "blob tensor {slot} ({name}): ")?;
                match problem {
                    TensorProblem::OutOfBounds => write!(f, "outside the data region"),
                    TensorProblem::Misaligned => write!(f, "offset not a multiple of 16"),
                    TensorProblem::Dtype => write!(f, "wrong element type"),
                    TensorProblem::Length { expected, found } => {
                        write!(f, "{found} bytes, the config implies {expected}")
                    }
                    TensorProblem::Value => write!(f, "invalid value"),
                }
            }
            Self::Vocab(e) => write!(f, "blob vocabulary: {e}"),
        }
    }
}

impl core::error::Error for FormatError {}

/// A validated model blob; see the module doc.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    blob: &'a [u8],
    table: &'a [u8],
    config: ModelConfig,
    header: Header<'a>,
    vocab: Vocab<'a>,
}

/// An int8 dense layer viewed in place: `[out, in/groups]` weights, `i32` biases, per-channel
/// requantization.
#[derive(Clone, Copy, Debug)]
pub struct QDense<'a> {
    /// `[out, in / groups]` row-major.
    pub weight: &'a [i8],
    /// `[out]`.
    pub bias: &'a [i32],
    /// `[out]`.
    pub requant: &'a [Requant],
    /// 1 for `nn.Linear`, G for `GroupedLinearLayer`.
    pub groups: usize,
}

impl<'a> Model<'a> {
    /// Validates `blob` and returns a view of it; see the module doc.
    ///
    /// # Errors
    /// A [`FormatError`] naming the first problem found.
    pub fn from_bytes(blob: &'a [u8]) -> Result<Self, FormatError> {
        let got = blob.len();
        if got < format::PREAMBLE_LEN + 4 {
            return Err(FormatError::Truncated { need: format::PREAMBLE_LEN + 4, got });
        }
        if blob[..4] != format::MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = LittleEndian::read_u16(&blob[4..6]);
        if version != format::FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion { found: version, supported: format::FORMAT_VERSION });
        }
        let (body, crc_bytes) = blob.split_at(got - 4);
        let stored = LittleEndian::read_u32(crc_bytes);
        let computed = crc32(body);
        if stored != computed {
            return Err(FormatError::BadChecksum { stored, computed });
        }
        if blob.as_ptr() as usize % 4 != 0 {
            return Err(FormatError::MisalignedBlob);
        }

        let header_len = LittleEndian::read_u32(&blob[8..12]) as usize;
        let count = LittleEndian::read_u32(&blob[12..16]) as usize;
        let header_end = format::PREAMBLE_LEN.saturating_add(header_len);
        let header_bytes = body.get(format::PREAMBLE_LEN..header_end).ok_or(FormatError::Truncated { need: header_end.saturating_add(4), got })?;
        let header: Header<'a> = postcard::from_bytes(header_bytes).map_err(|_| FormatError::Header)?;
        let config = header.config.config().ok_or(FormatError::Inconsistent("unknown activation code"))?;
        config.validate().map_err(FormatError::Config)?;
        if lines(header.labels).count() != config.num_labels {
            return Err(FormatError::Inconsistent("label count differs from num_labels"));
        }
        if header.rejection.no_intent_label.is_some_and(|label| usize::from(label) >= config.num_labels) {
            return Err(FormatError::Inconsistent("the no-intent label is not a label"));
        }
        let max_len = header.tokenizer.max_len as usize;
        if max_len < 2 || max_len > config.max_position_embeddings {
            return Err(FormatError::Inconsistent("tokenizer max_len outside 2..=max_position_embeddings"));
        }

        let expected = format::slot_count(&config);
        if count != expected {
            return Err(FormatError::TensorCount { expected, found: count });
        }
        let table_start = header_end.next_multiple_of(4);
        let table_end = count.saturating_mul(format::ENTRY_LEN).saturating_add(table_start);
        let table = body.get(table_start..table_end).ok_or(FormatError::Truncated { need: table_end.saturating_add(4), got })?;

        // The vocabulary first: the index slots' lengths depend on its line count.
        let text_entry = entry(table, format::global::VOCAB_TEXT);
        let text_bytes = check_entry(body, table_end, text_entry, 0, format::slot(&config, 0, 0))?;
        let text = core::str::from_utf8(text_bytes).map_err(|_| tensor_error(&config, 0, TensorProblem::Value))?;
        let tokens = Vocab::token_count(text);
        if tokens > config.vocab_size {
            return Err(FormatError::Inconsistent("vocabulary has more tokens than vocab_size"));
        }
        for slot in 1..count {
            let bytes = check_entry(body, table_end, entry(table, slot), slot, format::slot(&config, tokens, slot))?;
            if !values_are_valid(&config, slot, bytes) {
                return Err(tensor_error(&config, slot, TensorProblem::Value));
            }
        }

        let offsets = cast(slot_bytes(body, table, format::global::VOCAB_OFFSETS));
        let sorted = cast(slot_bytes(body, table, format::global::VOCAB_SORTED));
        let vocab = Vocab::new(text, offsets, sorted).map_err(FormatError::Vocab)?;
        Ok(Self { blob: body, table, config, header, vocab })
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Label `id`'s name.
    pub fn label(&self, id: usize) -> Option<&'a str> {
        lines(self.header.labels).nth(id)
    }

    /// All label names, in id order.
    pub fn labels(&self) -> impl Iterator<Item = &'a str> {
        lines(self.header.labels)
    }

    /// Real value of one logit unit, as IEEE f16 bits (for host tools; see [`Header`]).
    pub fn logit_scale_f16(&self) -> u16 {
        self.header.logit_scale_f16
    }

    /// When the engine answers "no intent" instead of the best label.
    pub fn rejection(&self) -> Rejection {
        self.header.rejection
    }

    /// The tokenizer stored with the model.
    pub fn tokenizer(&self) -> Tokenizer<'a> {
        let t = self.header.tokenizer;
        Tokenizer::new(
            self.vocab,
            TokenizerSettings { lowercase: t.lowercase, strip_accents: t.strip_accents, max_len: t.max_len as usize },
        )
    }

    /// Total bytes of the blob.
    pub fn blob_len(&self) -> usize {
        self.blob.len() + 4
    }

    /// Bytes of one slot's tensor.
    pub fn slot_len(&self, slot: usize) -> usize {
        slot_bytes(self.blob, self.table, slot).len()
    }

    /// The embeddings' tensors.
    pub fn embeddings(&self) -> QEmbeddings<'a> {
        use format::global::*;
        let c = &self.config;
        QEmbeddings {
            word: self.i8s(WORD),
            word_requant: self.requants(WORD_REQUANT),
            position: self.i8s(POSITION),
            position_requant: self.requants(POSITION_REQUANT),
            token_type: self.i8s(TOKEN_TYPE),
            token_type_requant: self.requants(TOKEN_TYPE_REQUANT),
            ln: Affine { gamma: self.i16s(LN_GAMMA), beta: self.i32s(LN_BETA) },
            project: c.has_embeddings_project().then(|| self.dense(PROJECT_WEIGHT, 1)),
            scalars: self.record(SCALARS),
        }
    }

    /// Encoder layer `n`'s tensors (`n < num_hidden_layers`).
    pub fn layer(&self, n: usize) -> QLayer<'a> {
        use format::layer::*;
        let base = format::GLOBAL_SLOTS + n * format::LAYER_SLOTS;
        let groups = self.config.num_groups;
        QLayer {
            query: self.dense(base + QUERY, 1),
            key: self.dense(base + KEY, 1),
            value: self.dense(base + VALUE, 1),
            conv_value: self.dense(base + CONV_VALUE, 1),
            depthwise: self.i8s(base + DEPTHWISE_WEIGHT),
            depthwise_requant: self.requants(base + DEPTHWISE_REQUANT),
            pointwise: self.dense(base + POINTWISE, 1),
            kernel: self.dense(base + KERNEL, 1),
            attention_output: self.dense(base + ATTENTION_OUTPUT, 1),
            attention_ln: Affine { gamma: self.i16s(base + ATTENTION_LN_GAMMA), beta: self.i32s(base + ATTENTION_LN_BETA) },
            ffn_in: self.dense(base + FFN_IN, groups),
            activation: self.i16s(base + ACTIVATION_TABLE),
            ffn_out: self.dense(base + FFN_OUT, groups),
            ffn_ln: Affine { gamma: self.i16s(base + FFN_LN_GAMMA), beta: self.i32s(base + FFN_LN_BETA) },
            ffn_block_units: format::ffn_block_units(&self.config),
            scalars: self.record(base + SCALARS),
        }
    }

    /// The classification head's tensors (empty for a model without labels).
    pub fn classifier(&self) -> QClassifier<'a> {
        use format::classifier::*;
        let base = format::GLOBAL_SLOTS + self.config.num_hidden_layers * format::LAYER_SLOTS;
        QClassifier {
            dense: self.dense(base + DENSE, 1),
            activation: self.i16s(base + ACTIVATION_TABLE),
            out_proj: self.dense(base + OUT_PROJ, 1),
            scalars: self.record(base + SCALARS),
        }
    }

    // Typed views of one slot. `from_bytes` checked every slot's type, length, alignment and
    // values against the config, so these casts cannot fail; the empty/default fallback only
    // keeps a panic path out of the firmware.

    fn i8s(&self, slot: usize) -> &'a [i8] {
        cast(slot_bytes(self.blob, self.table, slot))
    }

    fn i16s(&self, slot: usize) -> &'a [i16] {
        cast(slot_bytes(self.blob, self.table, slot))
    }

    fn i32s(&self, slot: usize) -> &'a [i32] {
        cast(slot_bytes(self.blob, self.table, slot))
    }

    fn requants(&self, slot: usize) -> &'a [Requant] {
        cast(slot_bytes(self.blob, self.table, slot))
    }

    fn record<T: bytemuck::Pod + Default>(&self, slot: usize) -> T {
        bytemuck::try_pod_read_unaligned(slot_bytes(self.blob, self.table, slot)).unwrap_or_default()
    }

    /// The dense layer whose weight is in `slot` (bias and requant follow it).
    fn dense(&self, slot: usize, groups: usize) -> QDense<'a> {
        QDense { weight: self.i8s(slot), bias: self.i32s(slot + 1), requant: self.requants(slot + 2), groups }
    }
}

/// The embeddings' tensors: ConvBertEmbeddings and the optional E -> H projection.
#[derive(Clone, Copy, Debug)]
pub struct QEmbeddings<'a> {
    /// `[V, E]`, one scale per row.
    pub word: &'a [i8],
    /// `[V]`: word row -> LayerNorm domain.
    pub word_requant: &'a [Requant],
    /// `[P, E]`, one scale per row.
    pub position: &'a [i8],
    /// `[P]`.
    pub position_requant: &'a [Requant],
    /// `[types, E]`, one scale per row.
    pub token_type: &'a [i8],
    /// `[types]`.
    pub token_type_requant: &'a [Requant],
    /// LayerNorm(E).
    pub ln: Affine<'a>,
    /// `embeddings_project` (E -> H) when E != H.
    pub project: Option<QDense<'a>>,
    /// The LayerNorm's output requantization.
    pub scalars: EmbeddingScalars,
}

/// One ConvBertLayer's tensors. Widths: H hidden, A = all_head_size, nh attention heads, K taps,
/// I intermediate.
#[derive(Clone, Copy, Debug)]
pub struct QLayer<'a> {
    /// H -> A, int8 out.
    pub query: QDense<'a>,
    /// H -> A, int8 out.
    pub key: QDense<'a>,
    /// H -> A, int8 out.
    pub value: QDense<'a>,
    /// H -> A (`conv_out_layer`), int8 out.
    pub conv_value: QDense<'a>,
    /// `[H, K]` depthwise filter of the span-aware key.
    pub depthwise: &'a [i8],
    /// `[H]`: depthwise sums -> int16 pointwise input.
    pub depthwise_requant: &'a [Requant],
    /// H -> A, int16 span-aware key.
    pub pointwise: QDense<'a>,
    /// A -> nh * K: the dynamic convolution's kernel generator.
    pub kernel: QDense<'a>,
    /// H -> H on the mixed heads.
    pub attention_output: QDense<'a>,
    /// The attention output LayerNorm.
    pub attention_ln: Affine<'a>,
    /// H -> I (grouped when num_groups > 1), rows in FFN-block order ([`QLayer::ffn_block`]).
    pub ffn_in: QDense<'a>,
    /// The activation's table, int8 output in 1/256 steps ([`super::activation::lookup_i8`]).
    pub activation: &'a [i16],
    /// I -> H (grouped when num_groups > 1), weight columns in FFN blocks
    /// ([`QLayer::ffn_block`]).
    pub ffn_out: QDense<'a>,
    /// The FFN output LayerNorm.
    pub ffn_ln: Affine<'a>,
    /// Intermediate units per group in one FFN block ([`format::ffn_block_units`]).
    pub ffn_block_units: usize,
    /// Requantizations of the products that have no tensor of their own.
    pub scalars: LayerScalars,
}

/// One block of a layer's FFN: a share of the intermediate units ([`format::ffn_block_units`]).
#[derive(Clone, Copy, Debug)]
pub struct FfnBlock<'a> {
    /// The block's rows of `intermediate`: a grouped `H -> width` layer.
    pub ffn_in: QDense<'a>,
    /// The block's `[H, width / G]` columns of `output`'s weight: with `output`'s bias (or
    /// none), a grouped `width -> H` layer.
    pub ffn_out_weight: &'a [i8],
    /// Activations per token: `G` times the block's units per group.
    pub width: usize,
}

impl<'a> QLayer<'a> {
    /// FFN block `j`, or `None` past the last. Every unit is in exactly one block, so the
    /// blocks' `output` sums add up to the whole product (`docs/FORMAT.md`).
    pub fn ffn_block(&self, j: usize) -> Option<FfnBlock<'a>> {
        let groups = self.ffn_in.groups.max(1);
        let (h, i) = (self.ffn_out.bias.len(), self.ffn_in.bias.len());
        let (units_per_group, inputs_per_group) = (i / groups, h / groups);
        // The block's first unit within its group (every earlier block is a whole one).
        let first = j.checked_mul(self.ffn_block_units)?;
        let units = self.ffn_block_units.min(units_per_group.checked_sub(first)?);
        if units == 0 {
            return None;
        }
        let (row, width) = (groups * first, groups * units);
        let ffn_in = QDense {
            weight: self.ffn_in.weight.get(row * inputs_per_group..(row + width) * inputs_per_group)?,
            bias: self.ffn_in.bias.get(row..row + width)?,
            requant: self.ffn_in.requant.get(row..row + width)?,
            groups,
        };
        let ffn_out_weight = self.ffn_out.weight.get(h * first..h * (first + units))?;
        Some(FfnBlock { ffn_in, ffn_out_weight, width })
    }
}

/// ConvBertClassificationHead's tensors.
#[derive(Clone, Copy, Debug)]
pub struct QClassifier<'a> {
    /// H -> H on `[CLS]`.
    pub dense: QDense<'a>,
    /// The activation's table.
    pub activation: &'a [i16],
    /// H -> labels.
    pub out_proj: QDense<'a>,
    /// The logits' softmax scale.
    pub scalars: ClassifierScalars,
}

/// Entry `slot` of the table: (offset, byte length, dtype code).
fn entry(table: &[u8], slot: usize) -> (usize, usize, u8) {
    let e = table.get(slot * format::ENTRY_LEN..(slot + 1) * format::ENTRY_LEN).unwrap_or(&[0; format::ENTRY_LEN]);
    (LittleEndian::read_u32(&e[0..4]) as usize, LittleEndian::read_u32(&e[4..8]) as usize, e[8])
}

/// The bytes of `slot`, or nothing if the entry is out of range (impossible once validated).
fn slot_bytes<'a>(body: &'a [u8], table: &[u8], slot: usize) -> &'a [u8] {
    let (offset, len, _) = entry(table, slot);
    body.get(offset..offset.saturating_add(len)).unwrap_or(&[])
}

/// A typed view of validated bytes; empty if the bytes were not (cannot happen after
/// validation, which checks alignment and lengths).
fn cast<T: bytemuck::Pod>(bytes: &[u8]) -> &[T] {
    bytemuck::try_cast_slice(bytes).unwrap_or(&[])
}

fn tensor_error(config: &ModelConfig, slot: usize, problem: TensorProblem) -> FormatError {
    let name = format::slot(config, 0, slot).map_or("?", |s| s.name);
    FormatError::Tensor { slot, name, problem }
}

/// Checks one entry against its slot spec and returns its bytes.
fn check_entry(
    body: &[u8],
    data_start: usize,
    (offset, len, code): (usize, usize, u8),
    slot: usize,
    spec: Option<format::SlotSpec>,
) -> Result<&[u8], FormatError> {
    let Some(spec) = spec else {
        return Err(FormatError::Inconsistent("tensor table longer than the config implies"));
    };
    let fail = |problem| Err(FormatError::Tensor { slot, name: spec.name, problem });
    if Dtype::from_code(code) != Some(spec.dtype) {
        return fail(TensorProblem::Dtype);
    }
    if offset % format::TENSOR_ALIGN != 0 {
        return fail(TensorProblem::Misaligned);
    }
    let Some(bytes) = body.get(offset..offset.saturating_add(len)).filter(|_| offset >= data_start) else {
        return fail(TensorProblem::OutOfBounds);
    };
    match spec.elements.map(|n| n.saturating_mul(spec.dtype.size())) {
        Some(expected) if expected != len => fail(TensorProblem::Length { expected, found: len }),
        None if len == 0 => fail(TensorProblem::Length { expected: 1, found: 0 }),
        _ => Ok(bytes),
    }
}

/// Whether every requantization pair in a slot is in range (other slots hold any value).
fn values_are_valid(config: &ModelConfig, slot: usize, bytes: &[u8]) -> bool {
    let requants: &[Requant] = match format::slot(config, 0, slot).map(|s| s.dtype) {
        Some(Dtype::Requant) => cast(bytes),
        Some(Dtype::Record) => {
            // Records are Requant pairs, except LnOutput's trailing eps_q/reserved words,
            // which hold any value; check the pairs of each record type by field.
            return record_is_valid(config, slot, bytes);
        }
        _ => return true,
    };
    requants.len() * 8 == bytes.len() && requants.iter().all(|r| r.is_valid())
}

fn record_is_valid(config: &ModelConfig, slot: usize, bytes: &[u8]) -> bool {
    let ln_ok = |ln: &LnOutput| ln.residual.is_valid();
    if slot == format::global::SCALARS {
        let Ok(s) = bytemuck::try_pod_read_unaligned::<EmbeddingScalars>(bytes) else { return false };
        return ln_ok(&s.ln);
    }
    if slot >= format::GLOBAL_SLOTS + config.num_hidden_layers * format::LAYER_SLOTS {
        let Ok(s) = bytemuck::try_pod_read_unaligned::<ClassifierScalars>(bytes) else { return false };
        return s.logits_log2.is_valid();
    }
    let Ok(s) = bytemuck::try_pod_read_unaligned::<LayerScalars>(bytes) else { return false };
    [s.key_query, s.taps_log2, s.conv, s.scores_log2, s.context, s.attention_residual, s.ffn_input, s.ffn_residual]
        .iter()
        .all(|r| r.is_valid())
        && ln_ok(&s.attention_ln)
        && ln_ok(&s.ffn_ln)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), a nibble at a time: a 64-byte table
/// instead of 1 KiB, fast enough to check a blob once at start-up.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 16] = {
        let mut table = [0u32; 16];
        let mut i = 0;
        while i < 16 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 4 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in bytes {
        crc = TABLE[((crc ^ b as u32) & 15) as usize] ^ (crc >> 4);
        crc = TABLE[((crc ^ (b as u32 >> 4)) & 15) as usize] ^ (crc >> 4);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
