//! Text bytes into the tokenizer under every setting: lowercase on/off, strip_accents
//! None/Some(true)/Some(false), max_len 2..=64, with the golden cased and uncased vocabularies
//! and a tiny one that leaves most words `[UNK]`.

use convbert::tokenizer::{TokenizeError, Tokenizer, TokenizerSettings, Vocab};
use std::sync::OnceLock;

/// A vocabulary of the five special tokens and a few pieces, one of them non-ASCII.
pub const TINY_VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nplay\n##ing\nmusic\né\n##é\n北\n!\n";

/// The largest max_len tried; ids are encoded with it too, as the reference for truncation.
const LONGEST: usize = 64;

/// The vocabularies, indexed once per process.
fn vocabularies() -> &'static [Vocab<'static>; 3] {
    static VOCABS: OnceLock<[Vocab<'static>; 3]> = OnceLock::new();
    VOCABS.get_or_init(|| {
        [
            include_str!("../../../golden/tokenizer/vocab-uncased.txt"),
            include_str!("../../../golden/tokenizer/vocab-cased.txt"),
            TINY_VOCAB,
        ]
        .map(|text| {
            let n = Vocab::token_count(text);
            let offsets = Vec::leak(vec![0u32; n + 1]);
            let sorted = Vec::leak(vec![0u32; n]);
            Vocab::build_index(text, offsets, sorted).expect("the fuzz vocabularies are valid")
        })
    })
}

/// `data` = settings byte (bit 0 lowercase, bits 1-2 strip_accents, bits 3-4 vocabulary),
/// max_len byte, then the text. Checks that invalid UTF-8 is refused where it starts, and
/// that an encoding is `[CLS] ... [SEP]`, within max_len and the vocabulary, and a prefix of
/// the longest encoding (truncation drops only the end).
pub fn tokenizer(data: &[u8]) {
    let [choice, length, text @ ..] = data else { return };
    let vocab = vocabularies()[usize::from(choice >> 3) % 3];
    let settings = TokenizerSettings {
        lowercase: choice & 1 != 0,
        strip_accents: [None, Some(true), Some(false)][usize::from(choice >> 1) % 3],
        max_len: 2 + usize::from(*length) % (LONGEST - 1),
    };
    let tokenizer = Tokenizer::new(vocab, settings);
    let mut ids = [0u32; LONGEST];
    let text = match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(e) => {
            let valid_up_to = e.valid_up_to();
            assert_eq!(tokenizer.encode_bytes(text, &mut ids), Err(TokenizeError::InvalidUtf8 { valid_up_to }));
            return;
        }
    };

    let encoding = tokenizer.encode(text, &mut ids).expect("max_len >= 2 always fits [CLS] [SEP]");
    let (len, max_len) = (encoding.len, settings.max_len);
    assert!((2..=max_len).contains(&len), "{len} ids with max_len {max_len}");
    assert_eq!((ids[0], ids[len - 1]), (vocab.cls_id(), vocab.sep_id()), "not [CLS] ... [SEP]");
    assert!(ids[..len].iter().all(|&id| (id as usize) < vocab.len()), "an id past the vocabulary: {:?}", &ids[..len]);
    assert!(!encoding.truncated || len == max_len, "truncated at {len} of {max_len} ids");

    // An output buffer of max_len ids under the longest setting truncates the same way.
    let longest = Tokenizer::new(vocab, TokenizerSettings { max_len: LONGEST, ..settings });
    let mut short_ids = [0u32; LONGEST];
    assert_eq!(longest.encode(text, &mut short_ids[..max_len]), Ok(encoding), "a short buffer differs from max_len");
    assert_eq!(short_ids[..len], ids[..len]);

    let mut all_ids = [0u32; LONGEST];
    let reference = longest.encode(text, &mut all_ids).expect("64 ids fit");
    let pieces = &all_ids[1..reference.len - 1];
    let kept = pieces.len().min(max_len - 2);
    assert_eq!(ids[1..len - 1], pieces[..kept], "max_len {max_len} does not keep a prefix of the pieces");
    assert_eq!(encoding.truncated, reference.truncated || pieces.len() > max_len - 2, "truncation flag");
}
