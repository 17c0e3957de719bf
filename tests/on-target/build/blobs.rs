//! The blobs of the hostile-blob tests (`src/blobs.rs`), made on the host with the engine's own
//! writer: a tiny model that a 16 KiB-RAM board can hold, and the same model with a header
//! whose size products wrap to 0 on a 32-bit core.
//!
//! The weights are zeros and every requantization pair is the identity: the tests check what
//! `Model::from_bytes` and `Engine::new` accept, not what the model says.

use convbert::int8::format::{
    self, ClassifierScalars, ConfigRecord, Dtype, EmbeddingScalars, Header, LayerScalars, LnOutput, TokenizerRecord,
};
use convbert::int8::{BlobWriter, Requant};
use convbert::tokenizer::Vocab;
use convbert::{Activation, ModelConfig};

/// The tiny model's vocabulary: the special tokens and a few words.
const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nbook\ncancel\nflight\nplease\n";
/// Its labels, each followed by `\n`.
const LABELS: &str = "book_flight\ncancel_booking\n";
/// Its tokenizer's longest encoding.
const MAX_LEN: u32 = 8;
/// x -> x: `x * 2^30 / 2^30`.
const IDENTITY: Requant = Requant { multiplier: 1 << 30, shift: 30 };

/// One layer, widths 8, two labels: a blob of a few KiB.
pub fn tiny_config() -> ModelConfig {
    ModelConfig {
        vocab_size: Vocab::token_count(VOCAB),
        hidden_size: 8,
        embedding_size: 8,
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        head_ratio: 2,
        conv_kernel_size: 3,
        num_groups: 1,
        max_position_embeddings: 16,
        type_vocab_size: 2,
        hidden_act: Activation::Gelu,
        layer_norm_eps: 1e-12,
        num_labels: 2,
    }
}

/// `tiny_config` with `max_position_embeddings = 2^29`: the position table (2^29 x 8 int8)
/// and its requantization pairs (2^29 x 8 bytes) are each 2^32 bytes, 0 in 32-bit arithmetic.
/// The tensor table holds what a 32-bit core computes (both empty), so only a bound on the
/// field or checked arithmetic refuses it there; a 64-bit host sees a length mismatch.
pub fn wrapping_config() -> ModelConfig {
    ModelConfig { max_position_embeddings: 1 << 29, ..tiny_config() }
}

/// A blob of `config` whose every tensor has the length a 32-bit core computes for it.
pub fn blob(config: &ModelConfig) -> Vec<u8> {
    let tokens = Vocab::token_count(VOCAB);
    let (mut offsets, mut sorted) = (vec![0u32; tokens + 1], vec![0u32; tokens]);
    Vocab::build_index(VOCAB, &mut offsets, &mut sorted).expect("the tiny vocabulary is valid");

    let mut writer = BlobWriter::new();
    for slot in 0..format::slot_count(config) {
        let spec = format::slot(config, tokens, slot).expect("a slot below slot_count");
        let bytes_32bit = |elements: usize| (elements as u64 * spec.dtype.size() as u64) as u32 as usize;
        match (slot, spec.dtype, spec.elements) {
            (format::global::VOCAB_TEXT, ..) => writer.push_bytes(Dtype::U8, VOCAB.as_bytes().to_vec()),
            (format::global::VOCAB_OFFSETS, ..) => writer.push_u32(&offsets),
            (format::global::VOCAB_SORTED, ..) => writer.push_u32(&sorted),
            (format::global::SCALARS, ..) => writer.push_record(&EmbeddingScalars { ln: ln_output() }),
            (_, Dtype::Record, _) if slot >= format::slot_count(config) - format::CLASSIFIER_SLOTS => {
                writer.push_record(&ClassifierScalars { logits_log2: IDENTITY })
            }
            (_, Dtype::Record, _) => writer.push_record(&layer_scalars()),
            (_, Dtype::Requant, Some(n)) => writer.push_requants(&vec![IDENTITY; bytes_32bit(n) / 8]),
            (_, dtype, Some(n)) => writer.push_bytes(dtype, vec![0; bytes_32bit(n)]),
            (_, _, None) => unreachable!("only the vocabulary text has no fixed length"),
        }
    }
    let header = Header {
        config: ConfigRecord::new(config),
        tokenizer: TokenizerRecord { lowercase: true, strip_accents: None, max_len: MAX_LEN },
        labels: LABELS,
        logit_scale_f16: 0x3c00, // 1.0
        rejection: Default::default(),
    };
    writer.finish(&header).expect("the header serializes")
}

fn ln_output() -> LnOutput {
    LnOutput { residual: IDENTITY, eps_q: 1, reserved: 0 }
}

fn layer_scalars() -> LayerScalars {
    LayerScalars {
        key_query: IDENTITY,
        taps_log2: IDENTITY,
        conv: IDENTITY,
        scores_log2: IDENTITY,
        context: IDENTITY,
        attention_residual: IDENTITY,
        attention_ln: ln_output(),
        ffn_input: IDENTITY,
        ffn_residual: IDENTITY,
        ffn_ln: ln_output(),
    }
}
