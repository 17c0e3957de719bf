//! `convbert tokenize`: the ids of each text, one line per text, `[CLS]` and `[SEP]` included.

use std::io::Write;
use crate::model::ModelSource;
use crate::{texts, CliResult, TextArgs};

pub fn run(args: &TextArgs, out: &mut dyn Write) -> CliResult {
    let source = ModelSource::open(&args.model)?;
    let texts = texts::collect(args.file.as_deref(), &args.text)?;
    let tokenizer = source.tokenizer()?;
    let mut ids = vec![0; tokenizer.settings.max_len];
    for (n, text) in texts.iter().enumerate() {
        let encoding = tokenizer.encode(text, &mut ids)?;
        if encoding.truncated {
            eprintln!("note: text {} truncated to {} tokens", n + 1, encoding.len);
        }
        let line: Vec<String> = ids[..encoding.len].iter().map(u32::to_string).collect();
        writeln!(out, "{}", line.join(" "))?;
    }
    Ok(())
}
