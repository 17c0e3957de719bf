//! A WordPiece vocabulary borrowed from `vocab.txt` text, with a sorted index for lookups.
//!
//! The text is the file itself (one token per line, id = line number), so it can stay in flash.
//! Two caller-owned `u32` arrays index it: where each line starts, and the ids sorted by token
//! bytes. [`Vocab::build_index`] fills them on a host; a device can store them next to the text
//! and check them with [`Vocab::new`]. Lookups are binary searches; nothing is copied.
//!
//! Reading follows `tokenizers`' `WordPiece::read_file`: a line's token is the line with trailing
//! whitespace trimmed, and when a token appears twice the later line wins (it is a `HashMap`
//! insert). A vocabulary must hold all five BERT special tokens: `BertTokenizerFast` registers
//! them as added tokens, and one missing from `vocab.txt` would get an id past the end of the
//! file, which this view cannot give.

use core::cmp::Ordering;
use core::fmt;

/// The special tokens, in the order of [`Vocab::special_ids`]. Hugging Face matches them in
/// raw text before normalisation and always adds `[CLS]` and `[SEP]` around an encoding.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

const UNK: usize = 1;
const CLS: usize = 2;
const SEP: usize = 3;

/// Why a vocabulary or its index was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabError {
    /// The text has no lines.
    Empty,
    /// The text is longer than a `u32` offset can address.
    TooLarge,
    /// One of [`SPECIAL_TOKENS`] is not a line of the text.
    MissingToken(&'static str),
    /// An index array has the wrong length: `offsets` needs one entry per token plus one,
    /// `sorted` one per token ([`Vocab::token_count`] tokens).
    IndexLength {
        /// Entries needed.
        need: usize,
        /// Entries given.
        got: usize,
    },
    /// `offsets[line]` is not where that line starts.
    BadOffset {
        /// The first wrong entry.
        line: usize,
    },
    /// `sorted[position]` is not a valid id, or ids are not in strictly increasing
    /// (token, id) order there.
    BadOrder {
        /// The first wrong entry.
        position: usize,
    },
}

impl fmt::Display for VocabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => write!(f, "vocabulary has no tokens"),
            Self::TooLarge => write!(f, "vocabulary text is over 4 GiB"),
            Self::MissingToken(t) => write!(f, "vocabulary lacks the special token {t}"),
            Self::IndexLength { need, got } => {
                write!(f, "vocabulary index has {got} entries, needs {need}")
            }
            Self::BadOffset { line } => write!(f, "vocabulary offset of line {line} is wrong"),
            Self::BadOrder { position } => {
                write!(f, "vocabulary sorted index is wrong at position {position}")
            }
        }
    }
}

impl core::error::Error for VocabError {}

/// A vocabulary view: `vocab.txt` text plus its line offsets and sorted ids.
#[derive(Clone, Copy, Debug)]
pub struct Vocab<'a> {
    text: &'a str,
    /// `offsets[id]..offsets[id + 1]` is line `id`, newline included; the last entry is `text.len()`.
    offsets: &'a [u32],
    /// Every id, sorted by (token bytes, id).
    sorted: &'a [u32],
    special: [u32; SPECIAL_TOKENS.len()],
}

impl<'a> Vocab<'a> {
    /// Tokens (lines) in `text`: `offsets` needs this plus one entries, `sorted` this many.
    /// As in `BufRead::lines`, a final newline does not start an empty last line.
    pub fn token_count(text: &str) -> usize {
        crate::lines::lines(text).count()
    }

    /// Fills `offsets` and `sorted` for `text` and returns the view over them.
    ///
    /// Slices longer than needed are fine; only their prefixes are used.
    ///
    /// # Errors
    /// [`VocabError::IndexLength`] when a slice is too short, and anything [`Vocab::new`] refuses.
    pub fn build_index(text: &'a str, offsets: &'a mut [u32], sorted: &'a mut [u32]) -> Result<Self, VocabError> {
        let n = Self::token_count(text);
        if n == 0 {
            return Err(VocabError::Empty);
        }
        let u32_len = u32::try_from(text.len()).map_err(|_| VocabError::TooLarge)?;
        let (got_offsets, got_sorted) = (offsets.len(), sorted.len());
        let offsets = offsets.get_mut(..n + 1).ok_or(VocabError::IndexLength { need: n + 1, got: got_offsets })?;
        let sorted = sorted.get_mut(..n).ok_or(VocabError::IndexLength { need: n, got: got_sorted })?;

        let mut starts = line_starts(text);
        for slot in offsets.iter_mut() {
            *slot = starts.next().unwrap_or(u32_len);
        }
        // ids fit u32 because every line holds at least its newline byte, and the text fits u32.
        for (slot, id) in sorted.iter_mut().zip(0u32..) {
            *slot = id;
        }
        let view = Lines { text, offsets };
        sorted.sort_unstable_by(|&a, &b| view.token(a).cmp(view.token(b)).then(a.cmp(&b)));
        Self::new(text, offsets, sorted)
    }

    /// Checks an index (as built by [`Vocab::build_index`]) against `text` and returns the view.
    ///
    /// Costs one pass over the text and one comparison per token, so a device can afford it at
    /// start-up.
    ///
    /// # Errors
    /// A [`VocabError`] naming the first problem.
    pub fn new(text: &'a str, offsets: &'a [u32], sorted: &'a [u32]) -> Result<Self, VocabError> {
        let n = Self::token_count(text);
        if n == 0 {
            return Err(VocabError::Empty);
        }
        let u32_len = u32::try_from(text.len()).map_err(|_| VocabError::TooLarge)?;
        if offsets.len() != n + 1 {
            return Err(VocabError::IndexLength { need: n + 1, got: offsets.len() });
        }
        if sorted.len() != n {
            return Err(VocabError::IndexLength { need: n, got: sorted.len() });
        }
        let expected = line_starts(text).chain(core::iter::once(u32_len));
        if let Some(line) = offsets.iter().zip(expected).position(|(&got, want)| got != want) {
            return Err(VocabError::BadOffset { line });
        }

        // Strictly increasing (token, id) pairs with every id below n make `sorted` a
        // permutation: equal ids would be equal pairs.
        let view = Lines { text, offsets };
        let n32 = n as u32;
        if let Some(position) = sorted.iter().position(|&id| id >= n32) {
            return Err(VocabError::BadOrder { position });
        }
        if let Some(position) = sorted
            .windows(2)
            .position(|w| view.token(w[0]).cmp(view.token(w[1])).then(w[0].cmp(&w[1])) != Ordering::Less)
        {
            return Err(VocabError::BadOrder { position: position + 1 });
        }

        let mut vocab = Self { text, offsets, sorted, special: [0; SPECIAL_TOKENS.len()] };
        let mut special = [0; SPECIAL_TOKENS.len()];
        for (slot, token) in special.iter_mut().zip(SPECIAL_TOKENS) {
            *slot = vocab.id(token).ok_or(VocabError::MissingToken(token))?;
        }
        vocab.special = special;
        Ok(vocab)
    }

    /// Number of ids (lines), duplicates included.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Always false: [`Vocab::new`] refuses an empty text.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The token of `id` (its line, trailing whitespace trimmed).
    pub fn token(&self, id: u32) -> Option<&'a str> {
        ((id as usize) < self.len()).then(|| self.lines().token(id))
    }

    /// The id of `token`; the later line when it appears twice.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.find(b"", token.as_bytes())
    }

    /// Ids of [`SPECIAL_TOKENS`], in that order.
    pub fn special_ids(&self) -> [u32; SPECIAL_TOKENS.len()] {
        self.special
    }

    /// `[UNK]`: the id of a word WordPiece cannot split.
    pub fn unk_id(&self) -> u32 {
        self.special[UNK]
    }

    /// `[CLS]`: the first id of every encoding.
    pub fn cls_id(&self) -> u32 {
        self.special[CLS]
    }

    /// `[SEP]`: the last id of every encoding.
    pub fn sep_id(&self) -> u32 {
        self.special[SEP]
    }

    /// The id of the token `prefix + piece`, compared in place, without building the string.
    pub(super) fn find(&self, prefix: &[u8], piece: &[u8]) -> Option<u32> {
        let lines = self.lines();
        let key = |id: u32| {
            let token = lines.token(id).as_bytes();
            match token.strip_prefix(prefix) {
                Some(rest) => rest.cmp(piece),
                // The token differs from the key within the prefix, or is shorter than it.
                None => token.cmp(prefix),
            }
        };
        // The last id not greater than the key: among duplicates, the later line.
        let end = self.sorted.partition_point(|&id| key(id) != Ordering::Greater);
        let id = *self.sorted.get(end.checked_sub(1)?)?;
        (key(id) == Ordering::Equal).then_some(id)
    }

    /// The special token that `text` starts with, and its length. Their texts are not prefixes
    /// of one another, so Hugging Face's leftmost-longest match is the first that fits.
    pub(super) fn special_prefix(&self, text: &str) -> Option<(u32, usize)> {
        if !text.starts_with('[') {
            return None;
        }
        SPECIAL_TOKENS.iter().zip(self.special).find(|(t, _)| text.starts_with(*t)).map(|(t, id)| (id, t.len()))
    }

    fn lines(&self) -> Lines<'a> {
        Lines { text: self.text, offsets: self.offsets }
    }
}

/// Offsets of every line start, as `u32`. Only called once the text is known to fit.
fn line_starts(text: &str) -> impl Iterator<Item = u32> + '_ {
    crate::lines::lines(text).scan(0u32, |start, line| {
        let this = *start;
        *start = start.saturating_add(line.len() as u32).saturating_add(1);
        Some(this)
    })
}

/// Token text by id; needs only the offsets, so sorting the index can use it.
#[derive(Clone, Copy)]
struct Lines<'a> {
    text: &'a str,
    offsets: &'a [u32],
}

impl<'a> Lines<'a> {
    /// Line `id` without trailing whitespace, or "" for an id past the end (callers check ids).
    fn token(self, id: u32) -> &'a str {
        let line = match self.offsets.get(id as usize..) {
            Some(&[start, end, ..]) => self.text.get(start as usize..end as usize),
            _ => None,
        };
        line.unwrap_or("").trim_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\nx \t\nhello\n";

    fn build(text: &str) -> Result<(Vec<u32>, Vec<u32>), VocabError> {
        let n = Vocab::token_count(text);
        let (mut offsets, mut sorted) = (vec![0; n + 1], vec![0; n]);
        Vocab::build_index(text, &mut offsets, &mut sorted)?;
        Ok((offsets, sorted))
    }

    #[test]
    fn lookups() {
        let (offsets, sorted) = build(TEXT).unwrap();
        let vocab = Vocab::new(TEXT, &offsets, &sorted).unwrap();
        assert_eq!(vocab.len(), 9);
        assert_eq!(vocab.special_ids(), [0, 1, 2, 3, 4]);
        assert_eq!(vocab.id("hello"), Some(8), "the later duplicate wins");
        assert_eq!(vocab.id("x"), Some(7), "trailing whitespace is trimmed");
        assert_eq!(vocab.find(b"##", b"s"), Some(6));
        assert_eq!(vocab.find(b"#", b"#s"), Some(6));
        assert_eq!(vocab.id("s"), None);
        assert_eq!(vocab.find(b"##", b"hello"), None);
        assert_eq!(vocab.id(""), None);
        assert_eq!(vocab.token(7), Some("x"));
        assert_eq!(vocab.token(9), None);
        assert_eq!(vocab.special_prefix("[SEP]x"), Some((3, 5)));
        assert_eq!(vocab.special_prefix("[SEP"), None);
    }

    #[test]
    fn last_line_without_newline() {
        let text = TEXT.trim_end_matches('\n');
        let (offsets, sorted) = build(text).unwrap();
        let vocab = Vocab::new(text, &offsets, &sorted).unwrap();
        assert_eq!(vocab.len(), 9);
        assert_eq!(vocab.token(8), Some("hello"));
    }

    #[test]
    fn refusals() {
        assert_eq!(build("").unwrap_err(), VocabError::Empty);
        assert_eq!(build("[PAD]\n[UNK]\n[CLS]\n[MASK]\n").unwrap_err(), VocabError::MissingToken("[SEP]"));
        let mut small = [0u32; 3];
        let mut sorted = [0u32; 9];
        assert_eq!(
            Vocab::build_index(TEXT, &mut small, &mut sorted).unwrap_err(),
            VocabError::IndexLength { need: 10, got: 3 }
        );

        let (mut offsets, mut sorted) = build(TEXT).unwrap();
        assert_eq!(Vocab::new(TEXT, &offsets[..9], &sorted).unwrap_err(), VocabError::IndexLength { need: 10, got: 9 });
        sorted.swap(0, 1);
        assert_eq!(Vocab::new(TEXT, &offsets, &sorted).unwrap_err(), VocabError::BadOrder { position: 1 });
        sorted.swap(0, 1);
        sorted[4] = 9;
        assert_eq!(Vocab::new(TEXT, &offsets, &sorted).unwrap_err(), VocabError::BadOrder { position: 4 });
        offsets[3] += 1;
        assert_eq!(Vocab::new(TEXT, &offsets, &sorted).unwrap_err(), VocabError::BadOffset { line: 3 });
    }
}
