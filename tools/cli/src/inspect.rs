//! `convbert inspect`: what a checkpoint holds.

use crate::CliResult;
use convbert_hf::Checkpoint;
use std::path::Path;

pub fn run(dir: &Path) -> CliResult {
    let ckpt = Checkpoint::load(dir)?;
    let c = &ckpt.config;
    println!("model        {}", ckpt.dir.display());
    println!(
        "shape        {} layers, hidden {}, embedding {}{}, intermediate {}, groups {}",
        c.num_hidden_layers,
        c.hidden_size,
        c.embedding_size,
        if c.has_embeddings_project() { " (projected)" } else { "" },
        c.intermediate_size,
        c.num_groups
    );
    println!(
        "attention    {} heads of width {} + {} dynamic-conv heads, kernel {}",
        c.attention_heads(),
        c.head_size(),
        c.attention_heads(),
        c.conv_kernel_size
    );
    println!("activation   {}, layer_norm_eps {:e}", c.hidden_act.hf_name(), c.layer_norm_eps);
    println!("vocabulary   {} tokens, {} positions, {} token types", c.vocab_size, c.max_position_embeddings, c.type_vocab_size);
    let t = &ckpt.tokenizer;
    println!(
        "tokenizer    lowercase {}, strip accents {}, max length {}",
        t.lowercase,
        t.strip_accents.unwrap_or(t.lowercase),
        t.max_len
    );
    match ckpt.labels.len() {
        0 => println!("labels       none (bare ConvBertModel)"),
        n => println!("labels       {n}: {}", ckpt.labels.join(", ")),
    }
    println!("parameters   {}", ckpt.parameter_count());
    println!();
    println!("{:<22} {:>12} {:>12}", "tensor group", "parameters", "bytes");
    for (group, params, bytes) in ckpt.tensor_groups() {
        println!("{group:<22} {params:>12} {bytes:>12}");
    }
    Ok(())
}
