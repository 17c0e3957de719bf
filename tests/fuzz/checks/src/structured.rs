//! Structure-aware blobs: the fuzz input decides a small architecture (every E/H relation,
//! grouped FFNs, kernels of 1 to 9 taps, 0 to 40 labels, 0 to 3 layers, a tiny vocabulary),
//! its weights and its requantization pairs, and [`BlobWriter`] packs them in
//! `format::slot` order, as `tools/quantize/src/pack.rs` does with calibrated values.
//!
//! Every such blob is well formed, so `Model::from_bytes` must accept it and the engine must
//! run it: this reaches the forward pass with weights and scales no quantizer would choose.
//!
//! The decoder only (the check is `blob::blob_structured`): it needs nothing but `arbitrary`
//! and the engine, so `tests/on-target`'s build script compiles this file too, to turn the
//! committed seeds into the blobs it runs on every board.

use arbitrary::{Result, Unstructured};
use convbert::int8::format::{
    self, ClassifierScalars, ConfigRecord, Dtype, EmbeddingScalars, Header, LayerScalars, LnOutput, TokenizerRecord,
};
use convbert::int8::{BlobWriter, Rejection, Requant};
use convbert::tokenizer::{Vocab, SPECIAL_TOKENS};
use convbert::{Activation, ModelConfig};

/// Word pieces a generated vocabulary may hold besides the special tokens.
const PIECES: [&str; 10] = ["play", "##ing", "music", "book", "##s", "flight", "paris", "é", "北", "!"];

/// The blob `data` decodes to (see the module doc).
///
/// # Errors
/// Only if `arbitrary` runs out of a way to decode (short inputs decode to zeros instead).
pub fn structured_blob(data: &[u8]) -> Result<Vec<u8>> {
    let mut u = Unstructured::new(data);
    let mut vocab_text: String = SPECIAL_TOKENS.iter().map(|t| format!("{t}\n")).collect();
    for piece in PIECES {
        if u.arbitrary()? {
            vocab_text.push_str(piece);
            vocab_text.push('\n');
        }
    }
    let tokens = Vocab::token_count(&vocab_text);
    let config = architecture(&mut u, tokens)?;
    let max_len = u.int_in_range(2..=config.max_position_embeddings)?;

    let mut w = BlobWriter::new();
    let classifier_scalars = format::GLOBAL_SLOTS + config.num_hidden_layers * format::LAYER_SLOTS + format::classifier::SCALARS;
    for index in 0..format::slot_count(&config) {
        let spec = format::slot(&config, tokens, index).expect("every index below slot_count has a spec");
        let n = spec.elements.unwrap_or(0);
        match spec.dtype {
            Dtype::U8 => w.push_bytes(Dtype::U8, vocab_text.as_bytes().to_vec()),
            Dtype::U32 => {
                let (mut offsets, mut sorted) = (vec![0u32; tokens + 1], vec![0u32; tokens]);
                Vocab::build_index(&vocab_text, &mut offsets, &mut sorted).expect("the vocabulary holds every special token");
                w.push_u32(if index == format::global::VOCAB_OFFSETS { &offsets } else { &sorted });
            }
            Dtype::I8 => w.push_i8(&values::<i8>(&mut u, n)?),
            Dtype::I16 => w.push_i16(&values::<i16>(&mut u, n)?),
            Dtype::I32 => w.push_i32(&values::<i32>(&mut u, n)?),
            Dtype::Requant => w.push_requants(&(0..n).map(|_| requant(&mut u)).collect::<Result<Vec<_>>>()?),
            Dtype::Record if index == format::global::SCALARS => w.push_record(&EmbeddingScalars { ln: ln_output(&mut u)? }),
            Dtype::Record if index == classifier_scalars => w.push_record(&ClassifierScalars { logits_log2: requant(&mut u)? }),
            Dtype::Record => w.push_record(&LayerScalars {
                key_query: requant(&mut u)?,
                taps_log2: requant(&mut u)?,
                conv: requant(&mut u)?,
                scores_log2: requant(&mut u)?,
                context: requant(&mut u)?,
                attention_residual: requant(&mut u)?,
                attention_ln: ln_output(&mut u)?,
                ffn_input: requant(&mut u)?,
                ffn_residual: requant(&mut u)?,
                ffn_ln: ln_output(&mut u)?,
            }),
        }
    }

    let labels: String = (0..config.num_labels).map(|i| format!("label {i}\n")).collect();
    let header = Header {
        config: ConfigRecord::new(&config),
        tokenizer: TokenizerRecord { lowercase: u.arbitrary()?, strip_accents: u.arbitrary()?, max_len: max_len as u32 },
        labels: &labels,
        logit_scale_f16: u.arbitrary()?,
        rejection: Rejection {
            below_q15: u.arbitrary()?,
            // One of the model's labels: `Model::from_bytes` refuses any other.
            no_intent_label: match config.num_labels {
                0 => None,
                labels if u.arbitrary()? => Some(u.int_in_range(0..=labels - 1)? as u16),
                _ => None,
            },
        },
    };
    Ok(w.finish(&header).expect("a header of small integers and short labels serializes"))
}

/// A small architecture that `ModelConfig::validate` accepts, over `tokens` vocabulary lines.
fn architecture(u: &mut Unstructured<'_>, tokens: usize) -> Result<ModelConfig> {
    // H = N * hs with N = 2 * nh (half the heads self-attention, half convolution).
    let num_attention_heads = 2 * u.int_in_range(1..=3)?;
    let hidden_size = num_attention_heads * u.int_in_range(1..=4)?;
    let divisors: Vec<usize> = (1..=hidden_size).filter(|g| hidden_size % g == 0).collect();
    let num_groups = *u.choose(&divisors)?;
    // E below, equal to and above H: the first and last need the E -> H projection.
    let embedding_size = match u.int_in_range(0..=2)? {
        0 => u.int_in_range(1..=hidden_size - 1)?,
        1 => hidden_size,
        _ => hidden_size + u.int_in_range(1..=8)?,
    };
    Ok(ModelConfig {
        vocab_size: tokens + u.int_in_range(0..=3)?,
        hidden_size,
        embedding_size,
        intermediate_size: num_groups * u.int_in_range(1..=4)?,
        num_hidden_layers: u.int_in_range(0..=3)?,
        num_attention_heads,
        head_ratio: 2,
        conv_kernel_size: 2 * u.int_in_range(0..=4)? + 1,
        num_groups,
        max_position_embeddings: u.int_in_range(2..=24)?,
        type_vocab_size: u.int_in_range(1..=2)?,
        hidden_act: *u.choose(&[Activation::Gelu, Activation::GeluNew, Activation::Relu])?,
        layer_norm_eps: 1e-12,
        num_labels: u.int_in_range(0..=40)?,
    })
}

fn values<'a, T: arbitrary::Arbitrary<'a>>(u: &mut Unstructured<'a>, n: usize) -> Result<Vec<T>> {
    (0..n).map(|_| u.arbitrary()).collect()
}

/// Any pair `Model::from_bytes` accepts: multiplier in `0..2^31`, shift in `1..=62`.
fn requant(u: &mut Unstructured<'_>) -> Result<Requant> {
    Ok(Requant { multiplier: u.int_in_range(0..=i32::MAX)?, shift: u.int_in_range(1..=62)? })
}

fn ln_output(u: &mut Unstructured<'_>) -> Result<LnOutput> {
    Ok(LnOutput { residual: requant(u)?, eps_q: u.arbitrary()?, reserved: 0 })
}
