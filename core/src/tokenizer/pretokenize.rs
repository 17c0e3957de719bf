//! Raw text to words: special tokens, normalisation, then `BertPreTokenizer`'s splits.
//!
//! Hugging Face first cuts the raw text at special tokens (`[CLS]`, `[MASK]`, ... are added tokens
//! that are matched before normalisation), normalises the pieces between them, splits those on
//! whitespace (dropped) and punctuation (each mark a word of its own). Here the same happens in
//! one pass over the text, with the current word in a fixed buffer.

use super::normalize::{split_class, Normalizer, Split};
use super::vocab::Vocab;
use core::ops::ControlFlow;

/// Longest word WordPiece splits (`max_input_chars_per_word`); a longer one is `[UNK]`.
pub const MAX_WORD_CHARS: usize = 100;

/// One word of a text, after normalisation and pre-tokenization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word<'w> {
    /// A special token written in the text, with its id.
    Special(u32),
    /// A normalised word of 1 to [`MAX_WORD_CHARS`] chars, for WordPiece.
    Text(&'w str),
    /// A normalised word longer than [`MAX_WORD_CHARS`] chars: `[UNK]`.
    TooLong,
}

/// Calls `f` with every word of `text`, in order, until it breaks.
pub(super) fn pre_tokenize<B>(
    vocab: &Vocab<'_>,
    normalizer: Normalizer,
    text: &str,
    f: &mut impl FnMut(Word<'_>) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let mut word = WordBuf::default();
    let mut chars = text.chars();
    loop {
        let rest = chars.as_str();
        if let Some((id, len)) = vocab.special_prefix(rest) {
            word.flush(f)?;
            f(Word::Special(id))?;
            chars = rest.get(len..).unwrap_or("").chars();
            continue;
        }
        let Some(c) = chars.next() else { break };
        normalizer.normalize(c, &mut |n| match split_class(n) {
            Split::Word => {
                word.push(n);
                ControlFlow::Continue(())
            }
            Split::Space => word.flush(f),
            Split::Punct => {
                word.flush(f)?;
                f(Word::Text(n.encode_utf8(&mut [0; 4])))
            }
        })?;
    }
    word.flush(f)
}

/// The word being built: at most [`MAX_WORD_CHARS`] chars, then only the fact that it is longer.
#[derive(Default)]
struct WordBuf {
    text: heapless::String<{ MAX_WORD_CHARS * 4 }>,
    chars: usize,
    too_long: bool,
}

impl WordBuf {
    fn push(&mut self, c: char) {
        // The buffer holds MAX_WORD_CHARS chars of any width, so `push` fails only past that.
        if self.chars == MAX_WORD_CHARS || self.text.push(c).is_err() {
            self.too_long = true;
        } else {
            self.chars += 1;
        }
    }

    fn flush<B>(&mut self, f: &mut impl FnMut(Word<'_>) -> ControlFlow<B>) -> ControlFlow<B> {
        let flow = if self.too_long {
            f(Word::TooLong)
        } else if self.text.is_empty() {
            ControlFlow::Continue(())
        } else {
            f(Word::Text(&self.text))
        };
        *self = Self::default();
        flow
    }
}
