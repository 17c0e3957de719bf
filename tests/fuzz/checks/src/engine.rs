//! What every blob that parses must do: run in exactly `arena_bytes`, refuse one byte less,
//! run the same at an odd address, and give in-range results on any text.

use convbert::int8::{arena_bytes, Classification, ClassifyError, Engine, Model};

/// Texts every parsed model classifies: empty, ASCII, non-ASCII, and longer than any max_len
/// the fuzzed blobs can afford to run. `tests/on-target`'s build script reads them too, to
/// classify the seeds' blobs on the host and on every board.
pub(crate) const TEXTS: [&str; 4] = [
    "",
    "play some music, book a flight to paris!",
    "réserver un vol pour Zürich 飞往北京 🛫 \u{0}\u{200b}",
    "the quick brown fox jumps over the lazy dog and keeps on running for a while longer now \
     the quick brown fox jumps over the lazy dog and keeps on running for a while longer now \
     the quick brown fox jumps over the lazy dog and keeps on running for a while longer now",
];

/// Arenas above this are legal but cannot be allocated within libFuzzer's memory limit; such
/// a model is only parsed. Blobs of up to a few hundred KB stay far below it.
const MAX_ARENA_BYTES: usize = 256 << 20;

/// Runs `model` as a device would and panics on any broken promise; see the module doc.
pub(crate) fn check_model(model: &Model<'_>) {
    let max_len = model.tokenizer().settings.max_len;
    let need = arena_bytes(model, max_len);
    if need > MAX_ARENA_BYTES {
        return;
    }

    let mut short = vec![0u8; need - 1];
    match Engine::new(model, &mut short) {
        Err(ClassifyError::ArenaTooSmall { need: said, got }) => {
            assert_eq!((said, got), (need, need - 1), "ArenaTooSmall states the wrong sizes");
        }
        Err(e) => panic!("an arena one byte short gave {e:?}, not ArenaTooSmall"),
        Ok(_) => panic!("an arena one byte short of arena_bytes ({need}) was accepted"),
    }

    let mut exact = vec![0u8; need];
    let from_exact = classify_texts(model, &mut exact, &TEXTS);
    // The engine aligns its buffers itself: an odd start (with the same byte count, so the
    // alignment slack of `arena_bytes` is all used) must give the same results. The longest
    // text only: it uses every buffer to its end, and each pass costs most of an execution.
    let mut holder = vec![0u8; need + 1];
    let odd = usize::from(holder.as_ptr() as usize & 1 == 0);
    let longest = &TEXTS[TEXTS.len() - 1..];
    let from_odd = classify_texts(model, &mut holder[odd..odd + need], longest);
    assert_eq!(from_exact[TEXTS.len() - 1..], from_odd, "results depend on the arena's address");
}

/// What one classification gave: (label, score, logits, tokens, truncated), or the error.
type Outcome = Result<(usize, u16, Vec<i32>, usize, bool), ClassifyError>;

/// Classifies `texts` in `arena` (which must be large enough) and checks each result.
fn classify_texts(model: &Model<'_>, arena: &mut [u8], texts: &[&str]) -> Vec<Outcome> {
    let mut engine = match Engine::new(model, arena) {
        Ok(engine) => engine,
        Err(e) => panic!("an arena of arena_bytes was refused: {e}"),
    };
    texts
        .iter()
        .map(|text| {
            let outcome = engine.classify(text);
            check_outcome(model, &outcome);
            outcome.map(|r| (r.label, r.score_q15, r.logits.to_vec(), r.tokens, r.truncated))
        })
        .collect()
}

/// Label and score in range, one logit per label, the label the best logit, and no error but
/// `NoClassifier` (for a model without labels): texts always tokenize within the vocabulary.
fn check_outcome(model: &Model<'_>, outcome: &Result<Classification<'_>, ClassifyError>) {
    let labels = model.config().num_labels;
    let max_len = model.tokenizer().settings.max_len;
    let r = match outcome {
        Err(ClassifyError::NoClassifier) if labels == 0 => return,
        Err(e) => panic!("classification failed with {e:?} ({labels} labels)"),
        Ok(r) => r,
    };
    assert!(r.label < labels, "label {} of {labels}", r.label);
    assert!(r.score_q15 <= 32768, "score {} above 1.0 in Q15", r.score_q15);
    assert_eq!(r.logits.len(), labels, "logits length");
    assert!(r.logits.iter().all(|&v| v <= r.logits[r.label]), "label {} is not the best logit {:?}", r.label, r.logits);
    assert_eq!(Some(r.label_name), model.label(r.label), "label name");
    assert!((2..=max_len).contains(&r.tokens), "{} tokens with max_len {max_len}", r.tokens);
    assert!(!r.truncated || r.tokens == max_len, "truncated at {} of {max_len} tokens", r.tokens);
}
