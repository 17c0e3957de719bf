//! `convbert tokenize`: the ids of each text, one line per text, `[CLS]` and `[SEP]` included.

use crate::{texts, CliResult, TextArgs};
use convbert_hf::Checkpoint;

pub fn run(args: &TextArgs) -> CliResult {
    let ckpt = Checkpoint::load(&args.model)?;
    let texts = texts::collect(args.file.as_deref(), &args.text)?;
    let tokenizer = ckpt.tokenizer()?;
    for (n, text) in texts.iter().enumerate() {
        let (ids, truncated) = encode(&tokenizer, text)?;
        if truncated {
            eprintln!("note: text {} truncated to {} tokens", n + 1, ids.len());
        }
        let line: Vec<String> = ids.iter().map(u32::to_string).collect();
        println!("{}", line.join(" "));
    }
    Ok(())
}

/// The ids of `text` (`[CLS] ... [SEP]`, at most `max_len`) and whether it was truncated.
pub fn encode(tokenizer: &convbert::tokenizer::Tokenizer<'_>, text: &str) -> Result<(Vec<u32>, bool), String> {
    let mut ids = vec![0; tokenizer.settings.max_len];
    let encoding = tokenizer.encode(text, &mut ids).map_err(|e| e.to_string())?;
    ids.truncate(encoding.len);
    Ok((ids, encoding.truncated))
}
