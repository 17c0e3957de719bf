//! `convbert classify`: the predicted label of each text, with its probabilities.
//!
//! Runs the f32 reference pass (`convbert::float`) over the tokenizer's ids, as
//! `ConvBertForSequenceClassification` does in PyTorch.

use crate::tokenize::encode;
use crate::{texts, CliResult, TextArgs};
use convbert::float::ops::softmax;
use convbert_hf::Checkpoint;

/// Labels listed under each text in the human-readable output.
const TOP_LABELS: usize = 5;

pub fn run(args: &TextArgs, json: bool) -> CliResult {
    let ckpt = Checkpoint::load(&args.model)?;
    if ckpt.labels.is_empty() {
        return Err(format!("{}: the model has no classification head", args.model.display()).into());
    }
    let texts = texts::collect(args.file.as_deref(), &args.text)?;
    let tokenizer = ckpt.tokenizer()?;
    let layers = ckpt.float_layers()?;
    let model = ckpt.float_model(&layers)?;
    let mut scratch = vec![0.0; model.scratch_len(tokenizer.settings.max_len)];
    let mut logits = vec![0.0; ckpt.labels.len()];

    for text in &texts {
        let (ids, truncated) = encode(&tokenizer, text)?;
        model.classify(&ids, None, &mut scratch, &mut logits)?;
        let mut probabilities = logits.clone();
        softmax(&mut probabilities);
        let best = argmax(&probabilities);
        let (label, score) = (&ckpt.labels[best], probabilities[best]);
        if json {
            let line = serde_json::json!({
                "text": text,
                "label": label,
                "score": score,
                "logits": logits,
                "truncated": truncated,
            });
            println!("{line}");
        } else {
            println!("{label}\t{score:.4}\t{text}{}", if truncated { "  (truncated)" } else { "" });
            let mut ranked: Vec<usize> = (0..logits.len()).collect();
            ranked.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
            for &i in ranked.iter().take(TOP_LABELS) {
                println!("    {:<28} {:.4}", ckpt.labels[i], probabilities[i]);
            }
        }
    }
    Ok(())
}

fn argmax(values: &[f32]) -> usize {
    (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap_or(0)
}
