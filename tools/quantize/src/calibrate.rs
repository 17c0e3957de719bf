//! Calibration: the float model runs on real utterances and records, for every tensor that
//! will be quantized, the largest magnitude it reaches.
//!
//! Method: max-abs over all tokens of all calibration utterances, each run alone at its exact
//! length (batch 1, so no padding token ever enters the statistics). Max rather than a
//! percentile because BERT's outlier channels carry signal (clipping them hurt accuracy in
//! published reproductions); the int16 residual stream and the fine i32 LayerNorm domains give
//! the headroom that max-abs needs.

use convbert::float::{FloatModel, Observer, Point};
use convbert::tokenizer::Tokenizer;
use crate::cores::on_all_cores;
use crate::gptq::DenseInputs;
use std::collections::HashMap;

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

/// Each text run alone at its exact length (batch 1, so no padding token ever enters the
/// statistics), shown to one observer per core; returns the observers.
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
            let max_len = tokenizer.settings.max_len;
            let mut ids = vec![0u32; max_len];
            let mut scratch = vec![0.0f32; model.scratch_len(max_len)];
            let mut logits = vec![0.0f32; model.config().num_labels];
            for (n, text) in share.items.iter().enumerate() {
                let fail = |e: &dyn std::fmt::Display| format!("calibration text {}: {e}", share.first + n + 1);
                let encoding = tokenizer.encode(text, &mut ids).map_err(|e| fail(&e))?;
                model
                    .classify_observed(&ids[..encoding.len], None, &mut scratch, &mut logits, &mut observer)
                    .map_err(|e| fail(&e))?;
                tick();
            }
            Ok(observer)
        },
        progress,
    )
}

/// `count` texts spread evenly over `texts`, the calibration sample `convbert quantize` uses
/// (datasets are often grouped by label, so the first `count` would see few labels).
pub fn spread<T: Clone>(texts: &[T], count: usize) -> Vec<T> {
    if count >= texts.len() {
        return texts.to_vec();
    }
    (0..count).map(|i| texts[i * texts.len() / count].clone()).collect()
}
