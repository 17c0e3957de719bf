//! `convbert classify`: the predicted label of each text, with its probabilities.
//!
//! A checkpoint folder runs the f32 reference pass (`convbert::float`), as
//! `ConvBertForSequenceClassification` does in PyTorch; a `.cbq` blob runs the int8 engine.

use std::io::Write;
use crate::model::ModelSource;
use crate::{texts, CliResult, TextArgs};

/// Labels listed under each text in the human-readable output.
const TOP_LABELS: usize = 5;

pub fn run(args: &TextArgs, json: bool, out: &mut dyn Write) -> CliResult {
    let source = ModelSource::open(&args.model)?;
    let texts = texts::collect(args.file.as_deref(), &args.text)?;
    let mut arena = Vec::new();
    let mut classifier = source.classifier(&mut arena)?;
    let labels = source.labels();

    for text in &texts {
        let p = classifier.classify(text)?;
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
