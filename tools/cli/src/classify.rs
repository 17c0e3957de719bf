//! `convbert classify`: the predicted label of each text, with its probabilities.
//!
//! A checkpoint folder runs the f32 reference pass (`convbert::float`), as
//! `ConvBertForSequenceClassification` does in PyTorch; a `.cbq` blob runs the int8 engine.

use std::io::Write;
use crate::model::ModelSource;
use crate::{progress, texts, CliResult, TextArgs};
use convbert_quantize::on_all_cores;

/// Labels listed under each text in the human-readable output.
const TOP_LABELS: usize = 5;

pub fn run(args: &TextArgs, json: bool, out: &mut dyn Write) -> CliResult {
    let source = ModelSource::open(&args.model)?;
    let texts = texts::collect(args.file.as_deref(), &args.text)?;
    let labels = source.labels();

    // Each thread classifies a contiguous share with its own classifier; the shares come back
    // in order, so the output follows the input whatever the thread count.
    let bar = progress::bar("classifying", texts.len());
    let shares = on_all_cores(
        &texts,
        |share, tick| {
            let mut arena = Vec::new();
            let mut classifier = source.classifier(&mut arena).map_err(|e| e.to_string())?;
            let mut predictions = Vec::with_capacity(share.items.len());
            for (n, text) in share.items.iter().enumerate() {
                predictions.push(classifier.classify(text).map_err(|e| format!("text {}: {e}", share.first + n + 1))?);
                tick();
            }
            Ok(predictions)
        },
        |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();

    for (text, p) in texts.iter().zip(shares.into_iter().flatten()) {
        let (label, score) = (&labels[p.label], p.probabilities[p.label]);
        if json {
            let line = serde_json::json!({
                "text": text,
                "label": label,
                "score": score,
                "logits": p.logits,
                "truncated": p.truncated,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{label}\t{score:.4}\t{text}{}", if p.truncated { "  (truncated)" } else { "" })?;
            let mut ranked: Vec<usize> = (0..p.logits.len()).collect();
            ranked.sort_by(|&a, &b| p.probabilities[b].total_cmp(&p.probabilities[a]));
            for &i in ranked.iter().take(TOP_LABELS) {
                writeln!(out, "    {:<28} {:.4}", labels[i], p.probabilities[i])?;
            }
        }
    }
    Ok(())
}
