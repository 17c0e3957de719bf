//! The tokenizer against Hugging Face's `BertTokenizerFast`: 413 hostile strings (whitespace and
//! control characters, accents, CJK, emoji, RTL text, special tokens inside words, 300-character
//! words, over-long text) with the uncased SNIPS+CLINC150 vocabulary of `tests/golden/tokenizer/`.

use crate::{ensure, Outcome};
use convbert::tokenizer::{TokenizeError, Tokenizer, TokenizerSettings, Vocab};

// VOCAB_TEXT, VOCAB_OFFSETS, VOCAB_SORTED, MAX_LEN and HARD_STRINGS, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/tokenizer_golden.rs"));

fn tokenizer() -> Result<Tokenizer<'static>, crate::Failure> {
    match Vocab::new(VOCAB_TEXT, &VOCAB_OFFSETS, &VOCAB_SORTED) {
        Ok(vocab) => Ok(Tokenizer::new(vocab, TokenizerSettings::uncased(MAX_LEN))),
        Err(e) => Err(crate::Failure::new(format_args!("the vocabulary index was refused: {e}"))),
    }
}

/// The index built on the host is accepted on the device, and lookups agree with the file.
pub fn vocab_index_is_valid() -> Outcome {
    let vocab = Vocab::new(VOCAB_TEXT, &VOCAB_OFFSETS, &VOCAB_SORTED);
    let Ok(vocab) = vocab else { return Err(crate::Failure::new(format_args!("index refused: {vocab:?}"))) };
    ensure!(vocab.len() == VOCAB_SORTED.len(), "{} tokens, the file has {}", vocab.len(), VOCAB_SORTED.len());
    ensure!(vocab.special_ids() == [0, 1, 2, 3, 4], "special ids {:?}", vocab.special_ids());
    for (id, line) in VOCAB_TEXT.lines().enumerate() {
        let id = id as u32;
        ensure!(vocab.token(id) == Some(line.trim_end()), "token {id}: {:?} != {line:?}", vocab.token(id));
        // A token written twice maps to its later line, as in `tokenizers`.
        ensure!(vocab.id(line.trim_end()).is_some_and(|found| found >= id), "id of {line:?}");
    }
    Ok(())
}

/// Every hard string gives exactly Hugging Face's ids and truncation flag.
pub fn hard_strings_match_hugging_face() -> Outcome {
    let tokenizer = tokenizer()?;
    let mut ids = [0u32; MAX_LEN];
    for (i, &(text, truncated, want)) in HARD_STRINGS.iter().enumerate() {
        let encoding = tokenizer.encode(text, &mut ids);
        let Ok(encoding) = encoding else { return Err(crate::Failure::new(format_args!("string {i}: {encoding:?}"))) };
        let got = &ids[..encoding.len];
        ensure!(got == want, "string {i} {text:?}: {} ids {:?}.., HF {} ids {:?}..", got.len(), &got[..got.len().min(6)], want.len(), &want[..want.len().min(6)]);
        ensure!(encoding.truncated == truncated, "string {i}: truncated {} != {truncated}", encoding.truncated);
    }
    Ok(())
}

/// Bytes that are not UTF-8 (a UART line) are refused with a typed error; valid bytes encode
/// like the same `str`.
pub fn invalid_utf8_is_refused() -> Outcome {
    let tokenizer = tokenizer()?;
    let mut ids = [0u32; MAX_LEN];
    for (bad, valid_up_to) in [(&b"caf\xe9"[..], 3), (b"\xe2\x82", 0), (b"\xff", 0), (b"ok \xc0\xaf", 3)] {
        let got = tokenizer.encode_bytes(bad, &mut ids);
        ensure!(got == Err(TokenizeError::InvalidUtf8 { valid_up_to }), "{bad:?}: {got:?}");
    }
    let text = "Play Caf\u{e9} del Mar \u{1f3b5}";
    let from_bytes = tokenizer.encode_bytes(text.as_bytes(), &mut ids).map(|e| e.len);
    let bytes_ids = ids;
    let from_str = tokenizer.encode(text, &mut ids).map(|e| e.len);
    ensure!(from_bytes == from_str && bytes_ids == ids, "bytes and str encode differently");
    Ok(())
}
