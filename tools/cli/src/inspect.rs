//! `convbert inspect`: what a checkpoint folder or a packed blob holds.

use crate::model::ModelSource;
use crate::CliResult;
use convbert::int8::format::{self, GLOBAL_SLOTS, LAYER_SLOTS};
use convbert::int8::{arena_bytes, Model};
use convbert::tokenizer::TokenizerSettings;
use convbert::ModelConfig;
use std::io::Write;
use std::path::Path;

pub fn run(path: &Path, out: &mut dyn Write) -> CliResult {
    match ModelSource::open(path)? {
        ModelSource::Checkpoint(ckpt) => {
            writeln!(out, "model        {} (Hugging Face checkpoint, f32 reference)", ckpt.dir.display())?;
            describe(&ckpt.config, &ckpt.tokenizer, &ckpt.labels, out)?;
            writeln!(out, "parameters   {}", ckpt.parameter_count())?;
            writeln!(out)?;
            writeln!(out, "{:<22} {:>12} {:>12}", "tensor group", "parameters", "bytes")?;
            for (group, params, bytes) in ckpt.tensor_groups() {
                writeln!(out, "{group:<22} {params:>12} {bytes:>12}")?;
            }
        }
        ModelSource::Blob(blob, labels) => {
            let model = Model::from_bytes(blob.bytes())?;
            let c = model.config();
            writeln!(out, "model        {} (packed int8 blob, format version {})", path.display(), format::FORMAT_VERSION)?;
            describe(c, &model.tokenizer().settings, &labels, out)?;
            writeln!(out, "blob bytes   {}", model.blob_len())?;
            let arena: Vec<String> = [16, 32, 64, 128].iter().map(|&l| format!("{l} tokens {}", arena_bytes(&model, l))).collect();
            writeln!(out, "arena bytes  {}", arena.join(", "))?;
            writeln!(out)?;
            writeln!(out, "{:<22} {:>12}", "tensor group", "bytes")?;
            let bytes = |slots: std::ops::Range<usize>| slots.map(|s| model.slot_len(s)).sum::<usize>();
            writeln!(out, "{:<22} {:>12}", "vocabulary", bytes(0..format::global::WORD))?;
            writeln!(out, "{:<22} {:>12}", "embeddings", bytes(format::global::WORD..GLOBAL_SLOTS))?;
            for l in 0..c.num_hidden_layers {
                let first = GLOBAL_SLOTS + l * LAYER_SLOTS;
                writeln!(out, "{:<22} {:>12}", format!("layer {l:>2}"), bytes(first..first + LAYER_SLOTS))?;
            }
            let head = GLOBAL_SLOTS + c.num_hidden_layers * LAYER_SLOTS;
            writeln!(out, "{:<22} {:>12}", "classifier", bytes(head..format::slot_count(c)))?;
        }
    }
    Ok(())
}

/// The lines both kinds share: architecture, tokenizer, labels.
fn describe(c: &ModelConfig, t: &TokenizerSettings, labels: &[String], out: &mut dyn Write) -> CliResult {
    writeln!(
        out,
        "shape        {} layers, hidden {}, embedding {}{}, intermediate {}, groups {}",
        c.num_hidden_layers,
        c.hidden_size,
        c.embedding_size,
        if c.has_embeddings_project() { " (projected)" } else { "" },
        c.intermediate_size,
        c.num_groups
    )?;
    writeln!(
        out,
        "attention    {} heads of width {} + {} dynamic-conv heads, kernel {}",
        c.attention_heads(),
        c.head_size(),
        c.attention_heads(),
        c.conv_kernel_size
    )?;
    writeln!(out, "activation   {}, layer_norm_eps {:e}", c.hidden_act.hf_name(), c.layer_norm_eps)?;
    writeln!(out, "vocabulary   {} tokens, {} positions, {} token types", c.vocab_size, c.max_position_embeddings, c.type_vocab_size)?;
    writeln!(
        out,
        "tokenizer    lowercase {}, strip accents {}, max length {}",
        t.lowercase,
        t.strip_accents.unwrap_or(t.lowercase),
        t.max_len
    )?;
    match labels.len() {
        0 => writeln!(out, "labels       none (bare ConvBertModel)")?,
        n => writeln!(out, "labels       {n}: {}", labels.join(", "))?,
    }
    Ok(())
}
