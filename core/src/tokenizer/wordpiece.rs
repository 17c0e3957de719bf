//! WordPiece: greedy longest-match-first splitting of one word into vocabulary pieces.
//!
//! As `tokenizers`' `WordPiece::tokenize`: from the start of the word take the longest prefix
//! that is a token, then continue from its end with `##` before every later piece. When some
//! position has no match at all, the whole word is `[UNK]`, not just that part.

use super::pretokenize::MAX_WORD_CHARS;
use super::vocab::Vocab;

/// Marks a piece that continues a word.
const CONTINUATION: &[u8] = b"##";

/// Splits `word` (at most [`MAX_WORD_CHARS`] chars) into `pieces`; `false` means the word
/// cannot be split and is `[UNK]`.
pub(super) fn split(vocab: &Vocab<'_>, word: &str, pieces: &mut heapless::Vec<u32, MAX_WORD_CHARS>) -> bool {
    pieces.clear();
    let mut rest = word;
    let mut prefix: &[u8] = b"";
    while !rest.is_empty() {
        // Shrink the candidate one char at a time from the end until it is a token.
        let mut candidate = rest;
        let id = loop {
            if let Some(id) = vocab.find(prefix, candidate.as_bytes()) {
                break id;
            }
            let mut chars = candidate.chars();
            chars.next_back();
            candidate = chars.as_str();
            if candidate.is_empty() {
                return false;
            }
        };
        // Each piece holds at least one char, so a word of MAX_WORD_CHARS chars fits.
        if pieces.push(id).is_err() {
            return false;
        }
        rest = rest.get(candidate.len()..).unwrap_or("");
        prefix = CONTINUATION;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nba\n##na\nb\n##a\n##n\nnan\n";

    fn pieces(word: &str) -> Option<Vec<u32>> {
        let (mut offsets, mut sorted) = (vec![0; 12], vec![0; 11]);
        let vocab = Vocab::build_index(TEXT, &mut offsets, &mut sorted).unwrap();
        let mut out = heapless::Vec::new();
        split(&vocab, word, &mut out).then(|| out.to_vec())
    }

    #[test]
    fn greedy_longest_first() {
        assert_eq!(pieces("banana"), Some(vec![5, 6, 6]));
        assert_eq!(pieces("ban"), Some(vec![5, 9]));
        assert_eq!(pieces("b"), Some(vec![7]));
        assert_eq!(pieces("nan"), Some(vec![10]));
        assert_eq!(pieces("nana"), Some(vec![10, 8]));
        assert_eq!(pieces("bax"), None, "one unmatched position makes the whole word [UNK]");
        assert_eq!(pieces("na"), None, "`##na` cannot start a word");
        assert_eq!(pieces("é"), None);
    }
}
