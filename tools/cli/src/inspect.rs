//! `convbert inspect`: what a checkpoint holds.

use std::io::Write;
use crate::CliResult;
use convbert_hf::Checkpoint;
use std::path::Path;

pub fn run(dir: &Path, out: &mut dyn Write) -> CliResult {
    let ckpt = Checkpoint::load(dir)?;
    let c = &ckpt.config;
    writeln!(out, "model        {}", ckpt.dir.display())?;
    writeln!(out, 
        "shape        {} layers, hidden {}, embedding {}{}, intermediate {}, groups {}",
        c.num_hidden_layers,
        c.hidden_size,
        c.embedding_size,
        if c.has_embeddings_project() { " (projected)" } else { "" },
        c.intermediate_size,
        c.num_groups
    )?;
    writeln!(out, 
        "attention    {} heads of width {} + {} dynamic-conv heads, kernel {}",
        c.attention_heads(),
        c.head_size(),
        c.attention_heads(),
        c.conv_kernel_size
    )?;
    writeln!(out, "activation   {}, layer_norm_eps {:e}", c.hidden_act.hf_name(), c.layer_norm_eps)?;
    writeln!(out, "vocabulary   {} tokens, {} positions, {} token types", c.vocab_size, c.max_position_embeddings, c.type_vocab_size)?;
    let t = &ckpt.tokenizer;
    writeln!(out, 
        "tokenizer    lowercase {}, strip accents {}, max length {}",
        t.lowercase,
        t.strip_accents.unwrap_or(t.lowercase),
        t.max_len
    )?;
    match ckpt.labels.len() {
        0 => writeln!(out, "labels       none (bare ConvBertModel)")?,
        n => writeln!(out, "labels       {n}: {}", ckpt.labels.join(", "))?,
    }
    writeln!(out, "parameters   {}", ckpt.parameter_count())?;
    writeln!(out)?;
    writeln!(out, "{:<22} {:>12} {:>12}", "tensor group", "parameters", "bytes")?;
    for (group, params, bytes) in ckpt.tensor_groups() {
        writeln!(out, "{group:<22} {params:>12} {bytes:>12}")?;
    }
    Ok(())
}
