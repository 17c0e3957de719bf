//! Calibration: the float model runs on real utterances and records, for every tensor that
//! will be quantized, the largest magnitude it reaches.
//!
//! Method: max-abs over all tokens of all calibration utterances, each run at its exact length
//! (texts are batched by stacking their token rows, never padded, so no padding token ever
//! enters the statistics). Max rather than a
//! percentile because BERT's outlier channels carry signal (clipping them hurt accuracy in
//! published reproductions); the int16 residual stream and the fine i32 LayerNorm domains give
//! the headroom that max-abs needs.

use convbert::float::{BatchError, FloatModel, Observer, Point};
use convbert::tokenizer::Tokenizer;
use crate::cores::{on_all_cores, threads};
use crate::report::{FloatReference, StageRows};
use crate::gptq::DenseInputs;
use std::collections::HashMap;
use std::ops::Range;

/// Max |value| per (layer, point).
#[derive(Default)]
pub struct Ranges {
    max: HashMap<(usize, Point), f32>,
}

impl Observer for Ranges {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        let m = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let slot = self.max.entry((layer, point)).or_insert(0.0);
        *slot = slot.max(m);
    }
}

impl Ranges {
    /// Takes in the ranges `other` saw: the max of both.
    pub fn merge(&mut self, other: Ranges) {
        for (key, m) in other.max {
            let slot = self.max.entry(key).or_insert(0.0);
            *slot = slot.max(m);
        }
    }

    /// The largest magnitude seen at `point` of `layer`, never zero (an unseen or all-zero
    /// tensor gets a tiny range so that its scale stays finite).
    pub fn get(&self, layer: usize, point: Point) -> f64 {
        self.max.get(&(layer, point)).copied().unwrap_or(0.0).max(1e-6) as f64
    }
}

/// Runs the float model over `texts` (on every core) and collects ranges; `progress(done,
/// total)` is called after each text.
///
/// # Errors
/// A message if `texts` is empty (no range would be measured, and every scale would come from
/// the placeholder range of [`Ranges::get`]) or if a text cannot be tokenized or run.
pub fn calibrate(
    model: &FloatModel<'_>,
    tokenizer: &Tokenizer<'_>,
    texts: &[String],
    progress: impl FnMut(usize, usize),
) -> Result<Ranges, String> {
    if texts.is_empty() {
        return Err("no calibration texts: the ranges need at least one".into());
    }
    let mut ranges = Ranges::default();
    for share in observe_texts(model, tokenizer, texts, Ranges::default, progress)? {
        ranges.merge(share);
    }
    Ok(ranges)
}

/// What [`calibrate_for_report`] measured.
pub struct Calibration {
    pub ranges: Ranges,
    /// The float model's outputs on every text, in order, for [`crate::measure`]; `None` when a
    /// text is longer than the report's max length (the report cuts it, so its float pass
    /// differs) or the references would take more than [`REFERENCE_BYTES`].
    pub reference: Option<Vec<FloatReference>>,
}

/// Memory the float references of [`calibrate_for_report`] may take: 13 KiB per token for
/// clinc-small (its residual stream after 13 stages), 2.9 GB for all 15,100 CLINC150 training
/// texts. Past it the report runs the float model again instead (slower, in less memory).
const REFERENCE_BYTES: usize = 4 << 30;

/// [`calibrate`], also keeping what the report compares the engine with
/// ([`crate::report::FloatReference`]): the report then runs only the engine, which saves a
/// second float pass over every text (about half of the float work of `convbert quantize`).
/// `report_max_len` is the blob's max length, to which the report cuts each text.
///
/// # Errors
/// As [`calibrate`].
pub fn calibrate_for_report(
    model: &FloatModel<'_>,
    tokenizer: &Tokenizer<'_>,
    texts: &[String],
    report_max_len: usize,
    progress: impl FnMut(usize, usize),
) -> Result<Calibration, String> {
    if texts.is_empty() {
        return Err("no calibration texts: the ranges need at least one".into());
    }
    let (c, budget) = (model.config(), REFERENCE_BYTES / threads());
    let shares = on_all_cores(
        texts,
        |share, tick| {
            let mut observer = Recording { ranges: Ranges::default(), rows: StageRows::new(c) };
            let (mut kept, mut bytes) = (Some(Vec::new()), 0);
            let mut batches = FloatBatches::new(model, tokenizer, tokenizer.settings.max_len);
            batches
                .run(share.items, &mut observer, |texts, logits, observer| {
                    let batch = observer.rows.take(logits, c.num_labels);
                    bytes += batch.iter().map(FloatReference::bytes).sum::<usize>();
                    let usable = batch.iter().all(|r| r.rows(c.hidden_size) <= report_max_len) && bytes <= budget;
                    // One unusable text makes the report run the float model anyway.
                    kept = kept.take().filter(|_| usable).map(|mut k: Vec<_>| {
                        k.extend(batch);
                        k
                    });
                    texts.for_each(|_| tick());
                    Ok(())
                })
                .map_err(|(n, e)| format!("calibration text {}: {e}", share.first + n + 1))?;
            Ok((observer.ranges, kept))
        },
        progress,
    )?;
    let mut ranges = Ranges::default();
    let mut reference = Some(Vec::with_capacity(texts.len()));
    for (share_ranges, kept) in shares {
        ranges.merge(share_ranges);
        reference = reference.zip(kept).map(|(mut all, share)| {
            all.extend(share);
            all
        });
    }
    Ok(Calibration { ranges, reference })
}

/// The observer of [`calibrate_for_report`]: ranges and the report's float rows at once.
struct Recording {
    ranges: Ranges,
    rows: StageRows,
}

impl Observer for Recording {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        self.ranges.observe(layer, point, values);
        self.rows.observe(layer, point, values);
    }

    fn text(&mut self, index: usize) {
        self.rows.text(index);
    }
}

/// Runs the float model over `texts` (on every core) and collects every dense layer's input
/// moments, for GPTQ rounding ([`crate::gptq`]).
///
/// # Errors
/// A message if a text cannot be tokenized or run.
pub fn dense_inputs(
    model: &FloatModel<'_>,
    tokenizer: &Tokenizer<'_>,
    texts: &[String],
    progress: impl FnMut(usize, usize),
) -> Result<DenseInputs, String> {
    let mut inputs = DenseInputs::new(model.config());
    for share in observe_texts(model, tokenizer, texts, || DenseInputs::new(model.config()), progress)? {
        inputs.merge(&share);
    }
    Ok(inputs)
}

/// Each text run at its exact length (no padding token ever enters the statistics), several
/// texts per float pass ([`FloatBatches`]), shown to one observer per core; returns the
/// observers.
fn observe_texts<O: Observer + Send>(
    model: &FloatModel<'_>,
    tokenizer: &Tokenizer<'_>,
    texts: &[String],
    new_observer: impl Fn() -> O + Sync,
    progress: impl FnMut(usize, usize),
) -> Result<Vec<O>, String> {
    on_all_cores(
        texts,
        |share, tick| {
            let mut observer = new_observer();
            let mut batches = FloatBatches::new(model, tokenizer, tokenizer.settings.max_len);
            batches
                .run(share.items, &mut observer, |texts, _, _| {
                    texts.for_each(|_| tick());
                    Ok(())
                })
            .map_err(|(n, e)| format!("calibration text {}: {e}", share.first + n + 1))?;
            Ok(observer)
        },
        progress,
    )
}

/// Token rows per float pass that [`FloatBatches`] aims at: texts are added to a batch until
/// their rows reach this. One text's dozen rows leave each dense layer's GEMM packing a whole
/// weight matrix for a few rows of arithmetic; a few hundred rows make the packing cheap and
/// fill the kernel's tiles, while the activations (about 10 KiB per row for clinc-small) stay
/// in the caches.
const BATCH_ROWS: usize = 256;

/// Runs texts through the float model a batch at a time, with the buffers of one thread.
pub(crate) struct FloatBatches<'m> {
    model: &'m FloatModel<'m>,
    tokenizer: &'m Tokenizer<'m>,
    /// The current batch's token ids, text after text; `ends[i]` is where text `i` ends.
    ids: Vec<u32>,
    ends: Vec<usize>,
    /// One text's encoding, before it is appended to `ids`; its length is the most tokens a
    /// text keeps (the tokenizer truncates to it, keeping `[SEP]` last).
    encoded: Vec<u32>,
    scratch: Vec<f32>,
    logits: Vec<f32>,
}

impl<'m> FloatBatches<'m> {
    /// Buffers for batches of texts encoded into at most `max_len` tokens (and at most the
    /// tokenizer's own limit).
    pub(crate) fn new(model: &'m FloatModel<'m>, tokenizer: &'m Tokenizer<'m>, max_len: usize) -> Self {
        let rows = BATCH_ROWS + max_len;
        Self {
            model,
            tokenizer,
            ids: Vec::with_capacity(rows),
            ends: Vec::new(),
            encoded: vec![0; max_len],
            scratch: vec![0.0; model.batch_scratch_len(rows, max_len)],
            logits: Vec::new(),
        }
    }

    /// Runs every text of `texts` (in order) with `observer` watching; after each batch,
    /// `batch_done(indices, logits, observer)` gets the batch's text indices into `texts`,
    /// its `[texts, num_labels]` logits and the observer.
    ///
    /// # Errors
    /// The index into `texts` of the text that could not be tokenized or run, with the reason;
    /// or `batch_done`'s error.
    pub(crate) fn run<O: Observer>(
        &mut self,
        texts: &[String],
        observer: &mut O,
        mut batch_done: impl FnMut(Range<usize>, &[f32], &mut O) -> Result<(), (usize, String)>,
    ) -> Result<(), (usize, String)> {
        let mut first = 0;
        while first < texts.len() {
            let end = self.encode_batch(texts, first)?;
            self.run_batch(observer).map_err(|e| (e.text.map_or(first, |i| first + i), e.error.to_string()))?;
            batch_done(first..end, &self.logits, observer)?;
            first = end;
        }
        Ok(())
    }

    /// Encodes texts from `first` on until the batch holds [`BATCH_ROWS`] rows or the texts
    /// end; returns the index past the batch's last text.
    fn encode_batch(&mut self, texts: &[String], first: usize) -> Result<usize, (usize, String)> {
        self.ids.clear();
        self.ends.clear();
        let mut next = first;
        while next < texts.len() && self.ids.len() < BATCH_ROWS {
            let encoding = self.tokenizer.encode(&texts[next], &mut self.encoded).map_err(|e| (next, e.to_string()))?;
            self.ids.extend_from_slice(&self.encoded[..encoding.len]);
            self.ends.push(self.ids.len());
            next += 1;
        }
        Ok(next)
    }

    /// Runs the encoded batch; its logits are left in `self.logits`.
    fn run_batch(&mut self, observer: &mut dyn Observer) -> Result<(), BatchError> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        let texts: Vec<&[u32]> = starts.zip(&self.ends).map(|(start, &end)| &self.ids[start..end]).collect();
        self.logits.resize(texts.len() * self.model.config().num_labels, 0.0);
        self.model.classify_batch_observed(&texts, &mut self.scratch, &mut self.logits, observer)
    }
}

/// `count` texts spread evenly over `texts`, the calibration sample `convbert quantize` uses
/// (datasets are often grouped by label, so the first `count` would see few labels).
pub fn spread<T: Clone>(texts: &[T], count: usize) -> Vec<T> {
    if count >= texts.len() {
        return texts.to_vec();
    }
    (0..count).map(|i| texts[i * texts.len() / count].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use convbert_hf::Checkpoint;
    use std::path::Path;

    /// Every value shown, per text: `texts[text] = [(layer, point, values)]`.
    #[derive(Default)]
    struct Recorder {
        texts: Vec<Vec<(usize, Point, Vec<f32>)>>,
        text: usize,
    }

    impl Observer for Recorder {
        fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
            self.texts.resize_with(self.texts.len().max(self.text + 1), Vec::new);
            self.texts[self.text].push((layer, point, values.to_vec()));
        }

        fn text(&mut self, index: usize) {
            self.text = index;
        }
    }

    #[test]
    fn batched_passes_show_each_text_what_a_single_pass_shows() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let data = std::fs::read_to_string(root.join("../shared/datasets/snips/test.tsv")).unwrap();
        // 150 texts: several batches, the last one partial.
        let texts: Vec<String> = data.lines().take(150).map(|l| l.split_once('\t').unwrap().1.to_owned()).collect();
        for name in ["tiny-k3", "tiny-e-wide", "small-2l"] {
            let ckpt = Checkpoint::load(root.join("tests/golden/models").join(name)).unwrap();
            let layers = ckpt.float_layers().unwrap();
            let model = ckpt.float_model(&layers).unwrap();
            let tokenizer = ckpt.tokenizer().unwrap();

            // Each text alone (a single-text pass is text 0 of its batch of one).
            let mut single = Vec::new();
            let (mut ids, mut scratch) = (vec![0u32; 16], vec![0.0; model.scratch_len(16)]);
            let mut logits = vec![0.0f32; model.config().num_labels];
            let mut single_logits = Vec::new();
            for text in &texts {
                let e = tokenizer.encode(text, &mut ids).unwrap();
                let mut alone = Recorder::default();
                model.classify_observed(&ids[..e.len], None, &mut scratch, &mut logits, &mut alone).unwrap();
                assert_eq!(alone.texts.len(), 1, "{name}");
                single.append(&mut alone.texts);
                single_logits.extend_from_slice(&logits);
            }

            let (mut batched, mut batched_logits) = (Recorder::default(), Vec::new());
            let mut batches = FloatBatches::new(&model, &tokenizer, 16);
            let (mut recorded, mut most) = (Vec::new(), 0);
            batches
                .run(&texts, &mut batched, |indices, logits, observer: &mut Recorder| {
                    assert_eq!(observer.texts.len(), indices.len(), "{name}: {indices:?}");
                    most = most.max(indices.len());
                    recorded.append(&mut observer.texts);
                    batched_logits.extend_from_slice(logits);
                    Ok(())
                })
                .unwrap();
            assert_eq!(recorded.len(), texts.len());
            assert!(most > 10, "{name}: batches of at most {most} texts");
            // Bit for bit, values and the order each text's values come in.
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&batched_logits), bits(&single_logits), "{name}");
            for (n, (b, s)) in recorded.iter().zip(&single).enumerate() {
                assert_eq!(b.len(), s.len(), "{name} text {n}");
                for ((bl, bp, bv), (sl, sp, sv)) in b.iter().zip(s) {
                    assert!((bl, bp) == (sl, sp) && bits(bv) == bits(sv), "{name} text {n}: {bp:?} of layer {bl}");
                }
            }
        }
    }
}
