//! How much a packed model differs from its float reference: signal-to-quantization-noise
//! ratio of the residual stream after the embeddings and after every layer, of the logits,
//! and top-1 agreement.

use crate::cores::on_all_cores;
use crate::Packed;
use convbert::float::{FloatModel, Observer, Point};
use convbert::int8::{arena_bytes, Engine, Model};
use convbert::tokenizer::Tokenizer;

/// Measured differences between the int8 and the float model.
pub struct Report {
    /// SQNR in dB of the residual stream: index 0 after the embeddings, l after layer l.
    pub stage_sqnr_db: Vec<f64>,
    /// SQNR in dB of the logits.
    pub logits_sqnr_db: f64,
    /// Texts on which both models pick the same label.
    pub agree: usize,
    /// Texts compared.
    pub total: usize,
}

/// Signal and noise energy, summed.
#[derive(Clone, Copy, Default)]
struct Energy {
    signal: f64,
    noise: f64,
}

impl Energy {
    fn add(&mut self, reference: &[f32], quantized: impl Iterator<Item = f64>) {
        for (&f, q) in reference.iter().zip(quantized) {
            self.signal += (f as f64).powi(2);
            self.noise += (f as f64 - q).powi(2);
        }
    }

    fn merge(&mut self, other: Energy) {
        self.signal += other.signal;
        self.noise += other.noise;
    }

    fn db(self) -> f64 {
        10.0 * (self.signal / self.noise.max(1e-30)).log10()
    }
}

/// The float residual stream after the embeddings and each layer, row by row.
struct StageRows {
    first: Point,
    rows: Vec<Vec<f32>>,
}

impl Observer for StageRows {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        if (layer == 0 && point == self.first) || point == Point::FfnNorm {
            let stage = if point == Point::FfnNorm { layer + 1 } else { 0 };
            self.rows.resize(self.rows.len().max(stage + 1), Vec::new());
            self.rows[stage].extend_from_slice(values);
        }
    }
}

/// One share of the texts' differences, summed.
struct Partial {
    stages: Vec<Energy>,
    logits: Energy,
    agree: usize,
}

/// Compares `packed` with `float` on `texts` (on every core); `float_tokenizer` is the
/// checkpoint's (the blob carries its own, possibly pruned, vocabulary). `progress(done,
/// total)` after each text.
///
/// # Errors
/// A message if a text cannot be run by either model.
pub fn measure(
    float: &FloatModel<'_>,
    float_tokenizer: &Tokenizer<'_>,
    packed: &Packed,
    blob: &[u8],
    texts: &[String],
    progress: impl FnMut(usize, usize),
) -> Result<Report, String> {
    let c = float.config();
    let model = Model::from_bytes(blob).map_err(|e| e.to_string())?;
    let first = if c.has_embeddings_project() { Point::Projected } else { Point::EmbeddingNorm };
    let shares = on_all_cores(
        texts,
        |share, tick| {
            let int8_tokenizer = model.tokenizer();
            let max_len = int8_tokenizer.settings.max_len;
            let mut arena = vec![0u8; arena_bytes(&model, max_len)];
            let mut engine = Engine::new(&model, &mut arena).map_err(|e| e.to_string())?;
            let mut scratch = vec![0.0f32; float.scratch_len(max_len)];
            let (mut float_ids, mut int8_ids) = (vec![0u32; max_len], vec![0u32; max_len]);
            let mut logits = vec![0.0f32; c.num_labels];
            let mut sums = Partial { stages: vec![Energy::default(); c.num_hidden_layers + 1], logits: Energy::default(), agree: 0 };
            for (n, text) in share.items.iter().enumerate() {
                let fail = |e: &dyn std::fmt::Display| format!("text {}: {e}", share.first + n + 1);
                let fe = float_tokenizer.encode(text, &mut float_ids).map_err(|e| fail(&e))?;
                let qe = int8_tokenizer.encode(text, &mut int8_ids).map_err(|e| fail(&e))?;
                let mut rows = StageRows { first, rows: Vec::new() };
                // Both at the blob's max length, so a long text is cut the same way.
                let float_len = fe.len.min(max_len);
                float.classify_observed(&float_ids[..float_len], None, &mut scratch, &mut logits, &mut rows).map_err(|e| fail(&e))?;
                let result = engine
                    .classify_ids_observed(&int8_ids[..qe.len], &mut |stage, residual| {
                        let scale = packed.residual_scales.get(stage).copied().unwrap_or(0.0);
                        if let Some(reference) = rows.rows.get(stage) {
                            sums.stages[stage].add(reference, residual.iter().map(|&q| q as f64 * scale));
                        }
                    })
                    .map_err(|e| fail(&e))?;
                sums.logits.add(&logits, result.logits.iter().map(|&q| q as f64 * packed.logit_scale));
                let float_best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap_or(0);
                sums.agree += usize::from(float_best == result.label);
                tick();
            }
            Ok(sums)
        },
        progress,
    )?;
    let mut stages = vec![Energy::default(); c.num_hidden_layers + 1];
    let (mut logit_energy, mut agree) = (Energy::default(), 0);
    for share in shares {
        for (total, part) in stages.iter_mut().zip(share.stages) {
            total.merge(part);
        }
        logit_energy.merge(share.logits);
        agree += share.agree;
    }
    Ok(Report {
        stage_sqnr_db: stages.iter().map(|e| e.db()).collect(),
        logits_sqnr_db: logit_energy.db(),
        agree,
        total: texts.len(),
    })
}
