//! The packed blob and the int8 engine under hostile input: `Model::from_bytes` must refuse
//! every damaged blob with a typed error, and nothing (parsing or running) may panic.

use convbert::int8::format::FORMAT_VERSION;
use convbert::int8::{arena_bytes, AlignedBlob, ClassifyError, Engine, FormatError, Model};
use convbert::RunError;
use convbert_hf::Checkpoint;
use convbert_quantize::{calibrate, pack, PackVocab};
use convbert_tests::{dataset, golden};

/// A blob of the 3-layer golden model, calibrated on 30 SNIPS utterances.
fn golden_blob() -> Vec<u8> {
    let ckpt = Checkpoint::load(golden("models/tiny-k3")).unwrap();
    let layers = ckpt.float_layers().unwrap();
    let model = ckpt.float_model(&layers).unwrap();
    let tokenizer = ckpt.tokenizer().unwrap();
    let data = std::fs::read_to_string(dataset("snips/train.tsv")).unwrap();
    let texts: Vec<String> = data.lines().take(30).map(|l| l.split_once('\t').unwrap().1.to_owned()).collect();
    let ranges = calibrate(&model, &tokenizer, &texts, |_, _| {}).unwrap();
    let vocab = PackVocab::full(&ckpt.vocab_text, ckpt.config.vocab_size);
    pack(&model, tokenizer.settings, &vocab, &ckpt.labels, &ranges, Default::default()).unwrap().blob
}

fn parse(bytes: &[u8]) -> Result<(), FormatError> {
    Model::from_bytes(AlignedBlob::new(bytes).bytes()).map(|_| ())
}

/// Rewrites the trailing CRC so that a deliberate change reaches the later checks.
fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - 4;
    let crc = convbert::int8::crc32(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn good_blob_parses_and_runs() {
    let blob = AlignedBlob::new(&golden_blob());
    let model = Model::from_bytes(blob.bytes()).unwrap();
    assert_eq!(model.labels().collect::<Vec<_>>(), ["book_flight", "cancel_booking"]);
    let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
    let mut engine = Engine::new(&model, &mut arena).unwrap();
    let r = engine.classify("book me a flight to Paris").unwrap();
    assert!(r.score_q15 > 16384 && r.tokens > 2 && !r.truncated);
}

#[test]
fn truncated_blobs_are_refused() {
    let blob = golden_blob();
    let lengths = (0..200).chain((200..blob.len()).step_by(997)).chain([blob.len() - 1]);
    for len in lengths {
        let err = parse(&blob[..len]).unwrap_err();
        assert!(matches!(err, FormatError::Truncated { .. } | FormatError::BadChecksum { .. }), "length {len}: {err}");
    }
}

#[test]
fn flipped_bits_are_refused_by_the_checksum() {
    let blob = golden_blob();
    for i in (0..8).chain((8..blob.len() - 4).step_by(1009)) {
        let mut bad = blob.clone();
        bad[i] ^= 1 << (i % 8);
        // The magic and version are read first and named; everything else is the CRC's.
        let err = parse(&bad).unwrap_err();
        let expected = match i {
            0..4 => matches!(err, FormatError::BadMagic),
            4..6 => matches!(err, FormatError::UnsupportedVersion { .. }),
            _ => matches!(err, FormatError::BadChecksum { .. }),
        };
        assert!(expected, "byte {i}: {err}");
    }
}

#[test]
fn damaged_blobs_with_a_valid_checksum_never_panic() {
    // Past the CRC, every check must hold on its own: flip bytes in the header and table
    // (where the structure lives) and re-seal; whatever parses must also run.
    let blob = golden_blob();
    let structure_end = 16 + 2048.min(blob.len() / 4);
    let mut parsed = 0;
    for i in (0..structure_end).step_by(5) {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = blob.clone();
            bad[i] ^= flip;
            let bad = with_crc(bad);
            let aligned = AlignedBlob::new(&bad);
            if let Ok(model) = Model::from_bytes(aligned.bytes()) {
                parsed += 1;
                let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
                if let Ok(mut engine) = Engine::new(&model, &mut arena) {
                    let _ = engine.classify("play some jazz");
                }
            }
        }
    }
    println!("{parsed} damaged-but-resealed blobs still parsed (and ran without panicking)");
}

#[test]
fn wrong_magic_and_version_are_named() {
    let blob = golden_blob();
    let mut bad = blob.clone();
    bad[0] = b'X';
    assert_eq!(parse(&bad), Err(FormatError::BadMagic));
    let mut bad = blob.clone();
    bad[4] = 9;
    assert_eq!(parse(&bad), Err(FormatError::UnsupportedVersion { found: 9, supported: FORMAT_VERSION }));
    // Blobs of the versions before are refused too: 3 (int16 FFN inputs, no `ffn_input`
    // requant) and 4 (no rejection rule in the header).
    for version in [3, 4] {
        let mut old = blob.clone();
        old[4] = version;
        assert_eq!(parse(&old), Err(FormatError::UnsupportedVersion { found: version.into(), supported: FORMAT_VERSION }));
    }
}

#[test]
fn misaligned_blob_is_refused() {
    let blob = golden_blob();
    let holder = AlignedBlob::new(&[&[0u8][..], &blob].concat());
    assert_eq!(Model::from_bytes(&holder.bytes()[1..]).map(|_| ()), Err(FormatError::MisalignedBlob));
}

#[test]
fn arena_one_byte_too_small_states_the_need() {
    let blob = AlignedBlob::new(&golden_blob());
    let model = Model::from_bytes(blob.bytes()).unwrap();
    let need = arena_bytes(&model, model.tokenizer().settings.max_len);
    let mut arena = vec![0u8; need - 1];
    assert_eq!(Engine::new(&model, &mut arena).err(), Some(ClassifyError::ArenaTooSmall { need, got: need - 1 }));
    let message = ClassifyError::ArenaTooSmall { need, got: need - 1 }.to_string();
    assert!(message.contains(&need.to_string()), "{message}");
}

#[test]
fn awkward_text_is_classified_or_refused_cleanly() {
    let blob = AlignedBlob::new(&golden_blob());
    let model = Model::from_bytes(blob.bytes()).unwrap();
    let max_len = model.tokenizer().settings.max_len;
    let mut arena = vec![0u8; arena_bytes(&model, max_len)];
    let mut engine = Engine::new(&model, &mut arena).unwrap();

    // Empty and blank text run as [CLS] [SEP], as Hugging Face does.
    for text in ["", "   \t\n ", "\u{3000}\u{a0}"] {
        let r = engine.classify(text).unwrap();
        assert_eq!((r.tokens, r.truncated), (2, false), "{text:?}");
    }
    // Over-long text is cut to max_len and says so.
    let long = "book a flight ".repeat(400);
    let r = engine.classify(&long).unwrap();
    assert_eq!((r.tokens, r.truncated), (max_len, true));
    // Non-ASCII and unknown characters tokenize ([UNK] at worst).
    for text in ["réserver un vol pour Zürich", "飞往北京的航班", "🛫✈️ flight", "\u{0}\u{fffd}\u{200b}"] {
        assert!(engine.classify(text).is_ok(), "{text:?}");
    }
    // Invalid UTF-8 is a typed error.
    assert!(matches!(engine.classify_bytes(b"caf\xe9"), Err(ClassifyError::Tokenize(_))));
    // Ids: empty, too long, out of the vocabulary.
    assert_eq!(engine.classify_ids(&[]).err(), Some(ClassifyError::Input(RunError::EmptyInput)));
    let too_long = vec![5u32; max_len + 1];
    assert!(matches!(engine.classify_ids(&too_long), Err(ClassifyError::Input(RunError::TooLong { .. }))));
    assert!(matches!(engine.classify_ids(&[2, u32::MAX, 3]), Err(ClassifyError::Input(RunError::TokenId { .. }))));
}

/// `with_rejection` changes the header's rule and nothing else: the same logits and best
/// label, and `intent` follows the rule (a threshold above every score, the no-intent label).
#[test]
fn a_rejection_rule_turns_answers_into_no_intent() {
    use convbert::int8::{with_rejection, Rejection};
    let blob = golden_blob();
    let run = |bytes: &[u8], text: &str| {
        let aligned = AlignedBlob::new(bytes);
        let model = Model::from_bytes(aligned.bytes()).unwrap();
        let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
        let c = Engine::new(&model, &mut arena).unwrap().classify(text).map(|c| (c.intent, c.label, c.score_q15, c.logits.to_vec())).unwrap();
        (model.rejection(), c)
    };
    let text = "play the new album by the beatles";
    let (rule, (intent, label, score, logits)) = run(&blob, text);
    assert_eq!((rule, intent), (Rejection::default(), Some(label)), "a packed blob never rejects");

    let above_all = with_rejection(&blob, Rejection { below_q15: u16::MAX, no_intent_label: None }).unwrap();
    let (rule, (intent, same_label, same_score, same_logits)) = run(&above_all, text);
    assert_eq!(rule.below_q15, u16::MAX);
    assert_eq!((intent, same_label, same_score, same_logits), (None, label, score, logits.clone()));

    let that_label = Rejection { below_q15: 0, no_intent_label: Some(label as u16) };
    assert_eq!(run(&with_rejection(&blob, that_label).unwrap(), text).1 .0, None);

    // A no-intent label that is not a label: the parser refuses the blob.
    let labels = Model::from_bytes(AlignedBlob::new(&blob).bytes()).unwrap().config().num_labels as u16;
    let outside = with_rejection(&blob, Rejection { below_q15: 0, no_intent_label: Some(labels) }).unwrap();
    assert_eq!(parse(&outside), Err(FormatError::Inconsistent("the no-intent label is not a label")));
}
