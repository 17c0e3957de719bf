//! Vocabulary pruning: keep only the tokens a corpus needs, so the word-embedding table (the
//! largest tensor of a small model) shrinks.
//!
//! Kept: the five special tokens, every token the corpus's WordPiece segmentation uses (at
//! least `min_count` times), and every single-character token with its `##` form, so that any
//! text still tokenizes (a word whose longer pieces were dropped falls back to shorter ones, at
//! worst to characters). With `min_count` 1 the corpus's own texts keep their segmentation:
//! greedy longest-match only ever picks pieces that are kept. Other texts, and with a higher
//! `min_count` the corpus's rare words, may be split differently than with the full vocabulary:
//! a smaller table for a board's flash, at a cost in accuracy that `convbert eval` measures.

use convbert::tokenizer::{Tokenizer, SPECIAL_TOKENS};
use std::collections::{BTreeMap, BTreeSet};

/// A vocabulary to pack: its text and, for each of its lines, the row of the original
/// word-embedding table.
pub struct PackVocab {
    /// vocab.txt content, one token per line.
    pub text: String,
    /// Original id of each line.
    pub rows: Vec<usize>,
}

impl PackVocab {
    /// The whole vocabulary, unpruned: every row of a `vocab_size`-row table (rows past the
    /// text's lines are kept, so `classify_ids` accepts the same ids as the checkpoint).
    pub fn full(text: &str, vocab_size: usize) -> Self {
        Self { text: text.to_owned(), rows: (0..vocab_size).collect() }
    }

    /// The tokens `corpus` uses at least `min_count` times (see the module doc).
    ///
    /// # Errors
    /// A message if `corpus` is empty (only special and single-character tokens would stay,
    /// and every word would be split into characters) or a corpus text cannot be tokenized.
    pub fn pruned(tokenizer: &Tokenizer<'_>, corpus: &[String], min_count: usize) -> Result<Self, String> {
        if corpus.is_empty() {
            return Err("no corpus texts to prune the vocabulary for".into());
        }
        let vocab = tokenizer.vocab;
        let mut keep = BTreeSet::new();
        for token in SPECIAL_TOKENS {
            keep.extend(vocab.id(token));
        }
        for id in 0..vocab.len() as u32 {
            let token = vocab.token(id).unwrap_or("");
            if token.strip_prefix("##").unwrap_or(token).chars().count() == 1 {
                keep.insert(id);
            }
        }
        let mut uses = BTreeMap::<u32, usize>::new();
        let mut ids = vec![0u32; tokenizer.settings.max_len.max(2)];
        // Without truncation: every piece of every corpus text counts.
        let untruncated = Tokenizer::new(vocab, convbert::tokenizer::TokenizerSettings { max_len: usize::MAX, ..tokenizer.settings });
        for (n, text) in corpus.iter().enumerate() {
            let need = text.chars().count() * 2 + 2;
            if ids.len() < need {
                ids.resize(need, 0);
            }
            let encoding = untruncated.encode(text, &mut ids).map_err(|e| format!("corpus text {}: {e}", n + 1))?;
            for &id in &ids[..encoding.len] {
                *uses.entry(id).or_default() += 1;
            }
        }
        keep.extend(uses.into_iter().filter(|&(_, n)| n >= min_count).map(|(id, _)| id));
        let mut text = String::new();
        let mut rows = Vec::with_capacity(keep.len());
        for id in keep {
            text.push_str(vocab.token(id).unwrap_or(""));
            text.push('\n');
            rows.push(id as usize);
        }
        Ok(Self { text, rows })
    }
}
