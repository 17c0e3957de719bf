//! How much a packed model differs from its float reference: signal-to-quantization-noise
//! ratio of the residual stream after the embeddings and after every layer, of the logits,
//! and top-1 agreement.

use crate::calibrate::FloatBatches;
use crate::cores::on_all_cores;
use crate::Packed;
use convbert::float::{FloatModel, Observer, Point};
use convbert::int8::{arena_bytes, Engine, Model};
use convbert::tokenizer::Tokenizer;
use convbert::ModelConfig;

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

/// What the report compares the engine with on one text: the float model's residual stream
/// after the embeddings and after each layer (`stages[stage]`, `[L, H]`), and its logits.
/// Calibration can keep these ([`crate::calibrate::calibrate_for_report`]), so that the report
/// need not run the float model over every text a second time.
pub struct FloatReference {
    stages: Vec<Vec<f32>>,
    logits: Vec<f32>,
}

impl FloatReference {
    /// Bytes of float numbers held.
    pub(crate) fn bytes(&self) -> usize {
        (self.stages.iter().map(Vec::len).sum::<usize>() + self.logits.len()) * std::mem::size_of::<f32>()
    }

    /// Token rows of the text.
    pub(crate) fn rows(&self, hidden: usize) -> usize {
        self.stages.first().map_or(0, |s| s.len() / hidden)
    }
}

/// The float residual stream after the embeddings and each layer, row by row, of every text
/// of a batch: `texts[text][stage]`.
pub(crate) struct StageRows {
    first: Point,
    texts: Vec<Vec<Vec<f32>>>,
    /// The text whose values come next.
    text: usize,
}

impl StageRows {
    /// Rows of a model of `config`.
    pub(crate) fn new(config: &ModelConfig) -> Self {
        let first = if config.has_embeddings_project() { Point::Projected } else { Point::EmbeddingNorm };
        Self { first, texts: Vec::new(), text: 0 }
    }

    /// The batch's references (text by text, with `logits` `[texts, labels]`); the rows are
    /// emptied for the next batch.
    pub(crate) fn take(&mut self, logits: &[f32], labels: usize) -> Vec<FloatReference> {
        self.texts
            .drain(..)
            .zip(logits.chunks_exact(labels))
            .map(|(mut stages, logits)| {
                // The rows grew by doubling; the reference may be kept for a long time.
                stages.iter_mut().for_each(Vec::shrink_to_fit);
                FloatReference { stages, logits: logits.to_vec() }
            })
            .collect()
    }
}

impl Observer for StageRows {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        if (layer == 0 && point == self.first) || point == Point::FfnNorm {
            let stage = if point == Point::FfnNorm { layer + 1 } else { 0 };
            self.texts.resize(self.texts.len().max(self.text + 1), Vec::new());
            let rows = &mut self.texts[self.text];
            rows.resize(rows.len().max(stage + 1), Vec::new());
            rows[stage].extend_from_slice(values);
        }
    }

    fn text(&mut self, index: usize) {
        self.text = index;
    }
}

/// One share of the texts' differences, summed.
struct Partial {
    stages: Vec<Energy>,
    logits: Energy,
    agree: usize,
}

/// Compares `packed` with `float` on `texts` (on every core); `float_tokenizer` is the
/// checkpoint's (the blob carries its own, possibly pruned, vocabulary). `reference`, if given,
/// holds the float model's outputs on each text (cut to the blob's max length), and the float
/// model is not run again. `progress(done, total)` after each text.
///
/// # Errors
/// A message if a text cannot be run by either model, or `reference` does not match `texts`.
pub fn measure(
    float: &FloatModel<'_>,
    float_tokenizer: &Tokenizer<'_>,
    packed: &Packed,
    blob: &[u8],
    texts: &[String],
    reference: Option<&[FloatReference]>,
    progress: impl FnMut(usize, usize),
) -> Result<Report, String> {
    let c = float.config();
    let model = Model::from_bytes(blob).map_err(|e| e.to_string())?;
    if reference.is_some_and(|r| r.len() != texts.len()) {
        return Err("the float reference does not hold one entry per text".into());
    }
    let shares = on_all_cores(
        texts,
        |share, tick| {
            let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
            let mut compare = Comparison::new(&model, &mut arena, packed, c)?;
            match reference {
                Some(reference) => {
                    let reference = &reference[share.first..share.first + share.items.len()];
                    for (n, (text, r)) in share.items.iter().zip(reference).enumerate() {
                        compare.text(text, r).map_err(|e| format!("text {}: {e}", share.first + n + 1))?;
                        tick();
                    }
                }
                None => {
                    // The float model runs a batch of texts (cut to the blob's max length, so
                    // that a long text is cut the same way in both), then the engine each text.
                    let mut batches = FloatBatches::new(float, float_tokenizer, model.tokenizer().settings.max_len);
                    let mut rows = StageRows::new(c);
                    batches
                        .run(share.items, &mut rows, |indices, logits, rows| {
                            for (n, r) in indices.zip(rows.take(logits, c.num_labels)) {
                                compare.text(&share.items[n], &r).map_err(|e| (n, e))?;
                                tick();
                            }
                            Ok(())
                        })
                        .map_err(|(n, e)| format!("text {}: {e}", share.first + n + 1))?;
                }
            }
            Ok(compare.sums)
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

/// One thread's engine, comparing it with the float reference text by text.
struct Comparison<'m, 'a> {
    engine: Engine<'m, 'a>,
    model: &'a Model<'m>,
    packed: &'a Packed,
    ids: Vec<u32>,
    sums: Partial,
}

impl<'m, 'a> Comparison<'m, 'a> {
    /// An engine for `model` in `arena` (at least `arena_bytes` at the model's max length).
    fn new(model: &'a Model<'m>, arena: &'a mut [u8], packed: &'a Packed, c: &ModelConfig) -> Result<Self, String> {
        let max_len = model.tokenizer().settings.max_len;
        let engine = Engine::new(model, arena).map_err(|e| e.to_string())?;
        let sums = Partial { stages: vec![Energy::default(); c.num_hidden_layers + 1], logits: Energy::default(), agree: 0 };
        Ok(Self { engine, model, packed, ids: vec![0; max_len], sums })
    }

    /// Runs the engine on `text` and adds its differences from `reference` to the sums.
    fn text(&mut self, text: &str, reference: &FloatReference) -> Result<(), String> {
        let (packed, sums) = (self.packed, &mut self.sums);
        let qe = self.model.tokenizer().encode(text, &mut self.ids).map_err(|e| e.to_string())?;
        let result = self
            .engine
            .classify_ids_observed(&self.ids[..qe.len], &mut |stage, residual| {
                let scale = packed.residual_scales.get(stage).copied().unwrap_or(0.0);
                if let Some(float) = reference.stages.get(stage) {
                    sums.stages[stage].add(float, residual.iter().map(|&q| q as f64 * scale));
                }
            })
            .map_err(|e| e.to_string())?;
        let logits = &reference.logits;
        sums.logits.add(logits, result.logits.iter().map(|&q| q as f64 * packed.logit_scale));
        let float_best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap_or(0);
        sums.agree += usize::from(float_best == result.label);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{calibrate_for_report, pack, PackVocab};
    use convbert_hf::Checkpoint;
    use std::path::Path;

    #[test]
    fn the_kept_float_reference_gives_the_report_a_second_float_pass_gives() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let data = std::fs::read_to_string(root.join("../shared/datasets/snips/test.tsv")).unwrap();
        let texts: Vec<String> = data.lines().take(120).map(|l| l.split_once('\t').unwrap().1.to_owned()).collect();
        let ckpt = Checkpoint::load(root.join("tests/golden/models/tiny-e-wide")).unwrap();
        let layers = ckpt.float_layers().unwrap();
        let model = ckpt.float_model(&layers).unwrap();
        let tokenizer = ckpt.tokenizer().unwrap();
        let max_len = tokenizer.settings.max_len;
        let calibration = calibrate_for_report(&model, &tokenizer, &texts, max_len, |_, _| {}).unwrap();
        let reference = calibration.reference.as_deref().expect("every text fits");
        assert_eq!(reference.len(), texts.len());
        let vocab = PackVocab::full(&ckpt.vocab_text, ckpt.config.vocab_size);
        let packed = pack(&model, tokenizer.settings, &vocab, &ckpt.labels, &calibration.ranges, Default::default()).unwrap();
        let blob = convbert::int8::AlignedBlob::new(&packed.blob);
        let kept = super::measure(&model, &tokenizer, &packed, blob.bytes(), &texts, Some(reference), |_, _| {}).unwrap();
        let rerun = super::measure(&model, &tokenizer, &packed, blob.bytes(), &texts, None, |_, _| {}).unwrap();
        assert_eq!((kept.agree, kept.total), (rerun.agree, rerun.total));
        assert_eq!(kept.logits_sqnr_db.to_bits(), rerun.logits_sqnr_db.to_bits());
        assert_eq!(kept.stage_sqnr_db.iter().map(|d| d.to_bits()).collect::<Vec<_>>(), rerun.stage_sqnr_db.iter().map(|d| d.to_bits()).collect::<Vec<_>>());

        // A report cut shorter than some text cannot use the calibration's float pass.
        let short = calibrate_for_report(&model, &tokenizer, &texts, 8, |_, _| {}).unwrap();
        assert!(short.reference.is_none());
    }
}
