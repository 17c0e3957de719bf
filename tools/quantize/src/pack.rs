//! Turning a float model and its calibration ranges into a blob, slot by slot in
//! `convbert::int8::format` order. Each step's comment gives the scales it uses; the device
//! side of every step is the same-named step of `convbert::int8::Engine`.
//!
//! Scale conventions (all symmetric, zero point 0):
//! - `s8(max) = max / 127` for int8 tensors, `s16(max) = max / 32767` for int16 ones (the
//!   residual stream, mixed heads, activation outputs: docs/INT8.md says which);
//! - LayerNorm inputs and logits live on fine i32 domains, `max / 2^22` and `max / 2^20`;
//! - weights: one scale per output channel, `max|row| / 127`; biases on `s_in * s_w[c]`.

use crate::calibrate::Ranges;
use crate::gptq::{self, DenseInputs, InputMoments};
use convbert::float::{Dense, FloatModel, Layout, Point};
use convbert::int8::format::{self, ClassifierScalars, ConfigRecord, EmbeddingScalars, Header, LayerScalars, LnOutput, TokenizerRecord};
use convbert::int8::activation::{table_input, TABLE_LEN};
use convbert::int8::{BlobWriter, Rejection, Requant};
use crate::prune::PackVocab;
use convbert::tokenizer::{TokenizerSettings, Vocab};
use convbert::{Activation, ModelConfig};

/// Headroom of the i32 LayerNorm domain: the calibrated max maps to 2^22.
const LN_DOMAIN: f64 = (1u32 << 22) as f64;
/// The logits' i32 domain: the calibrated max maps to 2^20.
const LOGIT_DOMAIN: f64 = (1u32 << 20) as f64;
/// Fraction bits of the integer LayerNorm's normalised value (`layer_norm::NORM_BITS`).
const NORM_BITS: i32 = 11;

fn s8(max: f64) -> f64 {
    max / 127.0
}

fn s16(max: f64) -> f64 {
    max / 32767.0
}

/// The residual stream's scale: int16 by default; [`PackOptions::residual_bits`] can narrow
/// its range (still stored as i16) to measure what a narrower stream would cost.
fn residual_scale(max: f64, bits: u32) -> f64 {
    max / ((1u32 << (bits.clamp(2, 16) - 1)) - 1) as f64
}

/// Choices that trade accuracy against nothing on the device (storage is the same).
#[derive(Clone, Copy)]
pub struct PackOptions<'a> {
    /// Significant bits of the residual stream (16 by default; 8 to measure an int8 stream).
    pub residual_bits: u32,
    /// Factor on every calibrated range: above 1 leaves room for inputs that reach further
    /// than the calibration texts did, at the cost of resolution.
    pub headroom: f64,
    /// The dense layers' calibration inputs, to choose each weight's int8 value by GPTQ
    /// ([`crate::gptq`]); `None` rounds every weight to its nearest step.
    pub dense_inputs: Option<&'a DenseInputs>,
}

impl Default for PackOptions<'_> {
    fn default() -> Self {
        Self { residual_bits: 16, headroom: 1.0, dense_inputs: None }
    }
}

/// A real factor as a requantization pair.
fn requant(factor: f64, what: &str) -> Result<Requant, String> {
    Requant::from_real(factor).ok_or_else(|| format!("{what}: rescale factor {factor:e} is out of range"))
}

fn round_i32(v: f64) -> i32 {
    v.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

fn quantize_i8(v: f64, scale: f64) -> i8 {
    (v / scale).round().clamp(-127.0, 127.0) as i8
}

/// The weight rows of `d` as `[out, in/groups]` (a grouped layer's `[G, in/G, out/G]` is
/// transposed block by block).
fn weight_rows(d: &Dense<'_>) -> Vec<Vec<f32>> {
    match d.layout {
        Layout::Linear => d.weight.chunks_exact(d.in_features).map(<[f32]>::to_vec).collect(),
        Layout::Grouped(g) => {
            let (ig, og) = (d.in_features / g, d.out_features / g);
            (0..d.out_features)
                .map(|o| {
                    let (group, j) = (o / og, o % og);
                    (0..ig).map(|i| d.weight[group * ig * og + i * og + j]).collect()
                })
                .collect()
        }
    }
}

/// A dense layer's int8 tensors: weight rows `[out, in/groups]`, bias and requant per output.
struct QuantizedDense {
    weight: Vec<i8>,
    bias: Vec<i32>,
    requants: Vec<Requant>,
}

impl QuantizedDense {
    fn push(&self, w: &mut BlobWriter) {
        w.push_i8(&self.weight);
        w.push_i32(&self.bias);
        w.push_requants(&self.requants);
    }
}

/// Quantizes `d`: input scale `s_in`, output scale `s_out`; the weights by GPTQ when `inputs`
/// has the layer's input moments (and it is not grouped), else to nearest. Returns the tensors
/// and the per-channel weight scales.
fn quantize_dense(
    d: &Dense<'_>,
    (s_in, s_out): (f64, f64),
    inputs: Option<&InputMoments>,
    what: &str,
) -> Result<(QuantizedDense, Vec<f64>), String> {
    let rows = weight_rows(d);
    let scales: Vec<f64> = rows.iter().map(|r| s8(r.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12) as f64)).collect();
    let by_gptq = match (d.layout, inputs) {
        (Layout::Linear, Some(moments)) => gptq::round_rows(&rows, &scales, moments),
        _ => None,
    };
    let weight: Vec<i8> = match by_gptq {
        Some(q) => q.concat(),
        None => rows.iter().zip(&scales).flat_map(|(r, &s)| r.iter().map(move |&v| quantize_i8(v as f64, s))).collect(),
    };
    let bias: Vec<i32> = d.bias.iter().zip(&scales).map(|(&b, &s)| round_i32(b as f64 / (s_in * s))).collect();
    let requants = scales.iter().map(|&s| requant(s_in * s / s_out, what)).collect::<Result<Vec<_>, _>>()?;
    Ok((QuantizedDense { weight, bias, requants }, scales))
}

/// [`quantize_dense`], pushed in natural order.
fn push_dense(
    w: &mut BlobWriter,
    d: &Dense<'_>,
    scales: (f64, f64),
    inputs: Option<&InputMoments>,
    what: &str,
) -> Result<Vec<f64>, String> {
    let (q, weight_scales) = quantize_dense(d, scales, inputs, what)?;
    q.push(w);
    Ok(weight_scales)
}

/// Pushes the FFN (`intermediate`, the activation table, `output`) in FFN-block order
/// (`format::ffn_block_units`): `intermediate`'s rows block by block, within a block group by
/// group; `output`'s weight columns gathered block by block.
fn push_ffn(w: &mut BlobWriter, c: &ModelConfig, ffn_in: &QuantizedDense, table: &[i16], ffn_out: &QuantizedDense) {
    let g = c.num_groups.max(1);
    let (row_len, per_group, block) = (c.hidden_size / g, c.intermediate_size / g, format::ffn_block_units(c));
    // Each block's units within a group.
    let blocks: Vec<_> = (0..per_group).step_by(block).map(|start| start..(start + block).min(per_group)).collect();
    let rows = blocks.iter().flat_map(|units| (0..g).flat_map(move |group| units.clone().map(move |unit| group * per_group + unit)));
    let blocked_in = QuantizedDense {
        weight: rows.clone().flat_map(|r| ffn_in.weight[r * row_len..(r + 1) * row_len].iter().copied()).collect(),
        bias: rows.clone().map(|r| ffn_in.bias[r]).collect(),
        requants: rows.map(|r| ffn_in.requants[r]).collect(),
    };
    blocked_in.push(w);
    w.push_i16(table);
    // `output`'s rows are `[H, per_group]`; block by block, every row's columns of the block.
    let columns = blocks.iter().flat_map(|units| ffn_out.weight.chunks_exact(per_group).flat_map(move |row| row[units.clone()].iter().copied()));
    w.push_i8(&columns.collect::<Vec<_>>());
    w.push_i32(&ffn_out.bias);
    w.push_requants(&ffn_out.requants);
}

/// Pushes a LayerNorm's gamma (i16) and beta (i32) and returns its output's requant and the
/// scale of its output `y`: the integer LN produces `y = n * G + B` on the scale
/// `s_gamma * 2^-11`.
fn push_layer_norm(
    w: &mut BlobWriter,
    gamma: &[f32],
    beta: &[f32],
    (eps, s_in): (f32, f64),
    s_residual: f64,
    what: &str,
) -> Result<(LnOutput, f64), String> {
    let s_gamma = gamma.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6) as f64 / 16383.0;
    let s_y = s_gamma / (1u32 << NORM_BITS) as f64;
    let g: Vec<i16> = gamma.iter().map(|&v| (v as f64 / s_gamma).round() as i16).collect();
    let b: Vec<i32> = beta.iter().map(|&v| round_i32(v as f64 / s_y)).collect();
    if b.iter().any(|v| v.unsigned_abs() >= 1 << 29) {
        return Err(format!("{what}: LayerNorm beta too large relative to gamma for the integer format"));
    }
    w.push_i16(&g);
    w.push_i32(&b);
    let output = LnOutput {
        residual: requant(s_y / s_residual, what)?,
        eps_q: (eps as f64 / (s_in * s_in)).round().min(u32::MAX as f64) as u32,
        reserved: 0,
    };
    Ok((output, s_y))
}

/// The activation's table for an int16 input on `s_in` and output on `s_out`:
/// `table[j] = act(table_input(j) * s_in) / s_out`, read with interpolation by the engine
/// (`convbert::int8::activation`).
fn activation_table(act: Activation, s_in: f64, s_out: f64) -> Vec<i16> {
    (0..TABLE_LEN)
        .map(|j| {
            let x = table_input(j) as f64 * s_in;
            let y = match act {
                Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
                Activation::GeluNew => {
                    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
                }
                Activation::Relu => x.max(0.0),
            };
            (y / s_out).round().clamp(-32767.0, 32767.0) as i16
        })
        .collect()
}

/// erf by Abramowitz-Stegun 7.1.26: it only fills the activation tables, where its 1.5e-7
/// error is far below half an int16 output step.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    if x >= 0.0 { y } else { -y }
}

/// The packed blob and the scales host tools need to read its outputs.
pub struct Packed {
    /// The blob bytes.
    pub blob: Vec<u8>,
    /// Real value of one unit of the int16 residual stream after the embeddings (index 0)
    /// and after each layer.
    pub residual_scales: Vec<f64>,
    /// Real value of one logit unit.
    pub logit_scale: f64,
}

/// Packs `model` with `ranges` into a blob, with the vocabulary `vocab`, tokenizer `settings`
/// and labels.
///
/// # Errors
/// A message naming the step whose scale cannot be represented.
pub fn pack(
    model: &FloatModel<'_>,
    settings: TokenizerSettings,
    vocab: &PackVocab,
    labels: &[String],
    ranges: &Ranges,
    options: PackOptions,
) -> Result<Packed, String> {
    // A pruned vocabulary packs only its rows of the word-embedding table, and the position
    // table only the rows the blob's max length can reach (texts are cut to it).
    let full = model.config();
    let c = ModelConfig {
        vocab_size: vocab.rows.len(),
        max_position_embeddings: settings.max_len.min(full.max_position_embeddings),
        ..*full
    };
    let head = model.classifier().ok_or("the model has no classification head to quantize")?;
    let (h, k) = (c.hidden_size, c.conv_kernel_size);
    let log2e_256 = std::f64::consts::LOG2_E * 256.0;
    let r = |layer, point| ranges.get(layer, point) * options.headroom;
    let input = |layer, point| options.dense_inputs.and_then(|i| i.input_of(layer, point));
    let mut w = BlobWriter::new();
    let mut residual_scales = Vec::new();

    // Vocabulary: the text and its lookup index.
    let tokens = Vocab::token_count(&vocab.text);
    let (mut offsets, mut sorted) = (vec![0u32; tokens + 1], vec![0u32; tokens]);
    Vocab::build_index(&vocab.text, &mut offsets, &mut sorted).map_err(|err| format!("vocabulary: {err}"))?;
    w.push_bytes(format::Dtype::U8, vocab.text.as_bytes().to_vec());
    w.push_u32(&offsets);
    w.push_u32(&sorted);

    // Embeddings: every row of the word, position and type tables int8 with its own scale
    // (one scale per position table cost clinc-small 16 of 5,500 test labels: docs/INT8.md);
    // their sum on the LayerNorm(E) domain s_e.
    let emb = model.embeddings();
    let s_e = r(0, Point::EmbeddingSum) / LN_DOMAIN;
    let e = c.embedding_size;
    let word_rows = vocab.rows.iter().filter_map(|&id| emb.word.chunks_exact(e).nth(id));
    for (rows, what) in [
        (word_rows.collect::<Vec<_>>(), "embeddings.word"),
        (emb.position.chunks_exact(e).take(c.max_position_embeddings).collect(), "embeddings.position"),
        (emb.token_type.chunks_exact(e).collect(), "embeddings.token_type"),
    ] {
        let mut table = Vec::with_capacity(rows.len() * e);
        let mut requants = Vec::with_capacity(rows.len());
        for row in rows {
            let s = s8(row.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12) as f64);
            table.extend(row.iter().map(|&v| quantize_i8(v as f64, s)));
            requants.push(requant(s / s_e, what)?);
        }
        w.push_i8(&table);
        w.push_requants(&requants);
    }

    // LayerNorm(E), then (when E != H) the projection into the residual stream.
    let first = if c.has_embeddings_project() { Point::Projected } else { Point::EmbeddingNorm };
    // The residual stream's scale, which is also the next matrix products' input scale.
    let mut s_stream = residual_scale(r(0, first), options.residual_bits);
    // With a projection, the LayerNorm's i16 output is only the projection's input.
    let s_emb16 = residual_scale(r(0, Point::EmbeddingNorm), options.residual_bits);
    let (ln, _) = push_layer_norm(&mut w, emb.ln_gamma, emb.ln_beta, (c.layer_norm_eps, s_e), s_emb16, "embeddings.LayerNorm")?;
    match &emb.project {
        Some(p) => {
            push_dense(&mut w, p, (s_emb16, s_stream), input(0, Point::EmbeddingNorm), "embeddings_project")?;
        }
        None => {
            w.push_i8(&[]);
            w.push_i32(&[]);
            w.push_requants(&[]);
        }
    }
    w.push_record(&EmbeddingScalars { ln });
    residual_scales.push(s_stream);

    for (n, layer) in model.layers().iter().enumerate() {
        let p = |point| r(n, point);
        let name = |what: &str| format!("encoder.layer.{n}.{what}");
        let s_x = s_stream;
        // q, k, v, conv value: int8 each (values and conv values since format 6: docs/INT8.md).
        let (s_q, s_k, s_v, s_co) = (s8(p(Point::Query)), s8(p(Point::Key)), s8(p(Point::Value)), s8(p(Point::ConvValue)));
        // The layer's input: the embeddings' output, or the previous layer's.
        let x = if n == 0 { input(0, first) } else { input(n - 1, Point::FfnNorm) };
        push_dense(&mut w, &layer.query, (s_x, s_q), x, &name("query"))?;
        push_dense(&mut w, &layer.key, (s_x, s_k), x, &name("key"))?;
        push_dense(&mut w, &layer.value, (s_x, s_v), x, &name("value"))?;
        push_dense(&mut w, &layer.conv_out, (s_x, s_co), x, &name("conv_out_layer"))?;

        // Depthwise filter: a scale per channel over its K taps; output int8.
        let s_dw = s16(p(Point::Depthwise));
        let mut dw = Vec::with_capacity(h * k);
        let mut dw_rq = Vec::with_capacity(h);
        for taps in layer.key_conv_depthwise.chunks_exact(k) {
            let s = s8(taps.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12) as f64);
            dw.extend(taps.iter().map(|&v| quantize_i8(v as f64, s)));
            dw_rq.push(requant(s_x * s / s_dw, &name("depthwise"))?);
        }
        w.push_i8(&dw);
        w.push_requants(&dw_rq);
        let s_sk = s16(p(Point::SpanKey));
        push_dense(&mut w, &layer.key_conv_pointwise, (s_dw, s_sk), input(n, Point::Depthwise), &name("pointwise"))?;

        // Kernel generator on span_key * query; its logits on an i32 domain for the softmax.
        let s_kq = s16(p(Point::KeyQuery));
        let s_taps = p(Point::KernelLogits) / LOGIT_DOMAIN;
        push_dense(&mut w, &layer.conv_kernel, (s_kq, s_taps), input(n, Point::KeyQuery), &name("conv_kernel_layer"))?;

        // Mixed heads (one int8 scale), output dense into the attention LayerNorm domain.
        let s_mix = s16(p(Point::Mixed));
        let s_z1 = p(Point::AttentionSum) / LN_DOMAIN;
        push_dense(&mut w, &layer.attention_output, (s_mix, s_z1), input(n, Point::Mixed), &name("attention.output.dense"))?;
        let s_attended = residual_scale(p(Point::AttentionNorm), options.residual_bits);
        let (attention_ln, s_attention_y) = push_layer_norm(
            &mut w,
            layer.attention_ln_gamma,
            layer.attention_ln_beta,
            (c.layer_norm_eps, s_z1),
            s_attended,
            &name("attention.output.LayerNorm"),
        )?;

        // FFN: int8 inputs to both products (docs/INT8.md): an int8 copy of the attention
        // LayerNorm's output, and the activation's table, int16 in, int8 out in 1/256 steps.
        let s_ffn_in = s8(p(Point::AttentionNorm));
        let (s_act_in, s_act_out) = (s16(p(Point::FfnPre)), s8(p(Point::FfnAct)));
        let (ffn_in, _) = quantize_dense(&layer.intermediate, (s_ffn_in, s_act_in), input(n, Point::AttentionNorm), &name("intermediate.dense"))?;
        let table = activation_table(c.hidden_act, s_act_in, s_act_out / 256.0);
        let s_z2 = p(Point::FfnSum) / LN_DOMAIN;
        let (ffn_out, _) = quantize_dense(&layer.output, (s_act_out, s_z2), input(n, Point::FfnAct), &name("output.dense"))?;
        push_ffn(&mut w, &c, &ffn_in, &table, &ffn_out);
        let s_next = residual_scale(p(Point::FfnNorm), options.residual_bits);
        let (ffn_ln, _) = push_layer_norm(
            &mut w,
            layer.output_ln_gamma,
            layer.output_ln_beta,
            (c.layer_norm_eps, s_z2),
            s_next,
            &name("output.LayerNorm"),
        )?;

        let hs = c.head_size() as f64;
        w.push_record(&LayerScalars {
            key_query: requant(s_sk * s_q / s_kq, &name("span_key*query"))?,
            taps_log2: requant(s_taps * log2e_256, &name("conv kernel softmax"))?,
            conv: requant(s_co / 32768.0 / s_mix, &name("dynamic conv"))?,
            scores_log2: requant(s_q * s_k / hs.sqrt() * log2e_256, &name("attention softmax"))?,
            context: requant(s_v / 32768.0 / s_mix, &name("attention context"))?,
            attention_residual: requant(s_stream / s_z1, &name("attention residual"))?,
            attention_ln,
            ffn_input: requant(s_attention_y / s_ffn_in, &name("ffn input"))?,
            ffn_residual: requant(s_attended / s_z2, &name("ffn residual"))?,
            ffn_ln,
        });
        s_stream = s_next;
        residual_scales.push(s_stream);
    }

    // Classifier on [CLS]: dense -> activation table -> out_proj -> i32 logits.
    let (s_head_in, s_head_out) = (s16(r(0, Point::HeadPre)), s16(r(0, Point::HeadAct)));
    let cls = options.dense_inputs.map(DenseInputs::classifier_input);
    push_dense(&mut w, &head.dense, (s_stream, s_head_in), cls, "classifier.dense")?;
    w.push_i16(&activation_table(c.hidden_act, s_head_in, s_head_out));
    let logit_scale = r(0, Point::Logits) / LOGIT_DOMAIN;
    push_dense(&mut w, &head.out_proj, (s_head_out, logit_scale), input(0, Point::HeadAct), "classifier.out_proj")?;
    w.push_record(&ClassifierScalars { logits_log2: requant(logit_scale * log2e_256, "classifier softmax")? });

    let label_text: String = labels.iter().map(|l| format!("{l}\n")).collect();
    let header = Header {
        config: ConfigRecord::new(&c),
        tokenizer: TokenizerRecord { lowercase: settings.lowercase, strip_accents: settings.strip_accents, max_len: settings.max_len as u32 },
        labels: &label_text,
        logit_scale_f16: half::f16::from_f64(logit_scale).to_bits(),
        // Chosen afterwards on held-out data, if at all (`convbert quantize --reject`).
        rejection: Rejection::default(),
    };
    let blob = w.finish(&header).map_err(|err| format!("header: {err}"))?;
    Ok(Packed { blob, residual_scales, logit_scale })
}
