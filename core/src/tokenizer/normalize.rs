//! `BertNormalizer`, one raw char at a time, and the pre-tokenizer's view of a normalised char.
//!
//! Every step of Hugging Face's normaliser maps chars independently, so normalising a text is
//! normalising each of its chars in turn: clean, pad CJK ideographs, strip accents, lowercase.
//! The one exception is NFD's reordering of adjacent combining marks, which is not reproduced;
//! the module doc of [`unicode_tables`](super::unicode_tables) lists the few marks it affects.

use super::unicode_tables::{
    CHINESE, CLASS_RUNS, CLEAN_DROP, CLEAN_KEEP, CLEAN_MASK, CLEAN_SPACE, LOWER_MULTI, LOWER_RUNS, SPLIT_MASK,
    SPLIT_PUNCT, SPLIT_SPACE, SPLIT_WORD, STRIP_DROP, STRIP_MULTI, STRIP_SINGLE,
};
use core::ops::ControlFlow;

/// What `BertPreTokenizer` does at a normalised char.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Split {
    /// The char continues the current word.
    Word,
    /// Whitespace: ends the word and is dropped.
    Space,
    /// Punctuation: ends the word and is a word of its own.
    Punct,
}

/// The pre-tokenizer class of `c`.
pub(super) fn split_class(c: char) -> Split {
    match class(c) & SPLIT_MASK {
        SPLIT_SPACE => Split::Space,
        SPLIT_PUNCT => Split::Punct,
        SPLIT_WORD => Split::Word,
        _ => Split::Word, // not generated
    }
}

/// The `BertNormalizer` steps that depend on settings; `clean_text` and `handle_chinese_chars`
/// are always on in `BertTokenizerFast`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Normalizer {
    pub(super) strip_accents: bool,
    pub(super) lowercase: bool,
}

impl Normalizer {
    /// Feeds the normalised form of the raw char `c` to `emit`: nothing, a space, or one to
    /// a few chars (a CJK ideograph comes padded with spaces).
    pub(super) fn normalize<B>(self, c: char, emit: &mut impl FnMut(char) -> ControlFlow<B>) -> ControlFlow<B> {
        let class = class(c);
        match class & CLEAN_MASK {
            CLEAN_DROP => return ControlFlow::Continue(()),
            CLEAN_SPACE => return emit(' '),
            CLEAN_KEEP => {}
            _ => {} // not generated
        }
        let chinese = class & CHINESE != 0;
        if chinese {
            emit(' ')?;
        }
        if !self.strip_accents {
            self.lowercase(c, emit)?;
        } else if class & STRIP_DROP != 0 {
            // Every char of the NFD is a nonspacing mark: nothing is left.
        } else if let Some(jamo) = hangul_jamo(c) {
            for j in jamo.into_iter().flatten() {
                self.lowercase(j, emit)?;
            }
        } else if let Some(s) = lookup_str(&STRIP_MULTI, c) {
            for s in s.chars() {
                self.lowercase(s, emit)?;
            }
        } else {
            self.lowercase(strip_single(c).unwrap_or(c), emit)?;
        }
        if chinese {
            emit(' ')?;
        }
        ControlFlow::Continue(())
    }

    fn lowercase<B>(self, c: char, emit: &mut impl FnMut(char) -> ControlFlow<B>) -> ControlFlow<B> {
        if !self.lowercase {
            return emit(c);
        }
        if let Some(s) = lookup_str(&LOWER_MULTI, c) {
            for l in s.chars() {
                emit(l)?;
            }
            return ControlFlow::Continue(());
        }
        emit(lower_single(c).unwrap_or(c))
    }
}

/// The class bits of `c` (see [`CLASS_RUNS`]).
fn class(c: char) -> u8 {
    let cp = u32::from(c);
    let run = CLASS_RUNS.partition_point(|&run| run >> 8 <= cp);
    // The first run starts at U+0000, so `run >= 1`.
    CLASS_RUNS.get(run.wrapping_sub(1)).map_or(0, |&run| run as u8)
}

/// The canonical decomposition of a precomposed Hangul syllable: leading consonant, vowel and
/// an optional trailing consonant (The Unicode Standard, section 3.12). No jamo is a mark.
fn hangul_jamo(c: char) -> Option<[Option<char>; 3]> {
    const S_BASE: u32 = 0xAC00;
    const S_COUNT: u32 = 11172;
    const T_COUNT: u32 = 28;
    const N_COUNT: u32 = 21 * T_COUNT;
    let s = u32::from(c).checked_sub(S_BASE).filter(|&s| s < S_COUNT)?;
    let trailing = (s % T_COUNT != 0).then(|| char::from_u32(0x11A7 + s % T_COUNT)).flatten();
    Some([char::from_u32(0x1100 + s / N_COUNT), char::from_u32(0x1161 + (s % N_COUNT) / T_COUNT), trailing])
}

fn strip_single(c: char) -> Option<char> {
    let cp = u32::from(c);
    let plane = (cp >> 16) as u8;
    STRIP_SINGLE.iter().filter(|(key_plane, ..)| *key_plane == plane).find_map(|&(_, value_plane, pairs)| {
        let i = pairs.binary_search_by_key(&(cp as u16), |&(k, _)| k).ok()?;
        let &(_, v) = pairs.get(i)?;
        char::from_u32(u32::from(value_plane) << 16 | u32::from(v))
    })
}

fn lower_single(c: char) -> Option<char> {
    let cp = u32::from(c);
    let run = LOWER_RUNS.partition_point(|&(packed, _)| packed & 0x1F_FFFF <= cp);
    let &(packed, delta) = LOWER_RUNS.get(run.checked_sub(1)?)?;
    let start = packed & 0x1F_FFFF;
    let len = (packed >> 21 & 0x3FF) + 1;
    let stride = if packed >> 31 == 1 { 2 } else { 1 };
    let k = cp - start;
    if k % stride != 0 || k / stride >= len {
        return None;
    }
    char::from_u32(cp.checked_add_signed(delta)?)
}

fn lookup_str(table: &[(u32, &'static str)], c: char) -> Option<&'static str> {
    let i = table.binary_search_by_key(&u32::from(c), |&(k, _)| k).ok()?;
    table.get(i).map(|&(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(n: Normalizer, text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            let _ = n.normalize::<()>(c, &mut |c| {
                out.push(c);
                ControlFlow::Continue(())
            });
        }
        out
    }

    const UNCASED: Normalizer = Normalizer { strip_accents: true, lowercase: true };
    const CASED: Normalizer = Normalizer { strip_accents: false, lowercase: false };
    const LOWER_ONLY: Normalizer = Normalizer { strip_accents: false, lowercase: true };

    #[test]
    fn steps() {
        assert_eq!(normalize(UNCASED, "Ångström\u{0}\u{FFFD}\u{200B}"), "angstrom");
        assert_eq!(normalize(CASED, "Ångström\t\u{3000}x"), "Ångström  x");
        assert_eq!(normalize(UNCASED, "中文"), " 中  文 ");
        assert_eq!(normalize(UNCASED, "한"), "\u{1112}\u{1161}\u{11AB}");
        assert_eq!(normalize(UNCASED, "İ"), "i");
        assert_eq!(normalize(LOWER_ONLY, "İ"), "i\u{307}");
        assert_eq!(normalize(UNCASED, "ΣΑΣ"), "σασ", "no final-sigma rule, as char::to_lowercase");
        assert_eq!(normalize(UNCASED, "ß"), "ß");
    }

    #[test]
    fn classes() {
        assert_eq!(split_class(' '), Split::Space);
        assert_eq!(split_class('!'), Split::Punct);
        assert_eq!(split_class('$'), Split::Punct, "ASCII symbols count as punctuation");
        assert_eq!(split_class('¿'), Split::Punct);
        assert_eq!(split_class('€'), Split::Word, "Unicode symbols do not");
        assert_eq!(split_class('a'), Split::Word);
    }
}
