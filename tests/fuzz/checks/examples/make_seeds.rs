//! Writes the committed seed corpus, `tests/fuzz/corpus/<target>/`, from scratch:
//! `cargo run --example make_seeds` (in `tests/fuzz/checks`). Everything is deterministic, so a rerun
//! gives the same files unless the blob format or the tiny checkpoint changed.
//!
//! - blobs: the tiny checkpoint quantized by `convbert-quantize` (a real blob), and packed
//!   structured blobs with E < H, E == H and E > H;
//! - blob_structured: decoder inputs chosen to cover those E/H relations, FFN groups, the
//!   widest kernel and a model without labels;
//! - tokenizer: awkward texts under several settings, and bytes that are not UTF-8;
//! - hf_folder: each file of the tiny checkpoint as it is, and a config.json that disagrees
//!   with the weights.

use convbert::int8::{AlignedBlob, Model};
use convbert_fuzz_checks::{structured_blob, tiny_checkpoint, CHECKPOINT_FILES, TARGETS};
use convbert_hf::Checkpoint;
use convbert_quantize::{calibrate, pack, PackVocab};
use std::cmp::Ordering;
use std::path::Path;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for (target, _) in TARGETS {
        let _ = std::fs::remove_dir_all(corpus.join(target));
    }

    let real = quantized_tiny_checkpoint();
    for target in ["blob_raw", "blob_resealed"] {
        write(target, "tiny-quantized.cbq", &real);
    }
    for (name, input) in structured_inputs() {
        write("blob_structured", name, &input);
        let blob = structured_blob(&input).unwrap();
        if name.starts_with("e-") {
            for target in ["blob_raw", "blob_resealed"] {
                write(target, &format!("structured-{name}.cbq"), &blob);
            }
        }
    }

    let long = "supercalifragilisticexpialidocious ".repeat(8);
    // (vocabulary: 0 uncased, 1 cased, 2 tiny; strip_accents: 0 None, 1 true, 2 false;
    // lowercase; max_len byte; text), encoded as `tokenizer` decodes them.
    let texts: [(u8, u8, bool, u8, &[u8]); 6] = [
        (0, 0, true, 126, "Héllo WORLD [CLS] naïve 北京 playing!! ".as_bytes()),
        (1, 1, false, 5, "Ünïcödé ß ﬁ Ⅻ ０１２ \u{301}e\u{301} \u{0}\u{7}\u{200b}\u{feff} 🛫✈️".as_bytes()),
        (2, 2, true, 62, "play playing music é ##é 北 ! [UNK][SEP] [PAD]".as_bytes()),
        (0, 2, false, 0, b""),
        (1, 0, true, 40, b"caf\xe9 \xff\xfe not utf-8"),
        (2, 1, true, 63, long.as_bytes()),
    ];
    for (i, &(vocab, strip_accents, lowercase, max_len, text)) in texts.iter().enumerate() {
        let settings = vocab << 3 | strip_accents << 1 | u8::from(lowercase);
        write("tokenizer", &format!("text-{i}"), &[&[settings, max_len][..], text].concat());
    }

    for (i, (name, bytes)) in CHECKPOINT_FILES.iter().zip(tiny_checkpoint()).enumerate() {
        write("hf_folder", name, &[&[i as u8][..], bytes].concat());
    }
    let config = String::from_utf8(tiny_checkpoint()[0].clone()).unwrap().replace("\"hidden_size\": 8", "\"hidden_size\": 12");
    write("hf_folder", "config-wrong-width.json", &[&[0u8][..], config.as_bytes()].concat());
}

/// The tiny checkpoint, calibrated on a few texts and packed as `convbert quantize` would.
fn quantized_tiny_checkpoint() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("convbert-fuzz-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in CHECKPOINT_FILES.iter().zip(tiny_checkpoint()) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let checkpoint = Checkpoint::load(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let layers = checkpoint.float_layers().unwrap();
    let model = checkpoint.float_model(&layers).unwrap();
    let tokenizer = checkpoint.tokenizer().unwrap();
    let texts: Vec<String> = ["play music", "playing music!", "é 北", "music music play !"].map(String::from).to_vec();
    let ranges = calibrate(&model, &tokenizer, &texts, |_, _| {}).unwrap();
    let vocab = PackVocab::full(&checkpoint.vocab_text, checkpoint.config.vocab_size);
    pack(&model, tokenizer.settings, &vocab, &checkpoint.labels, &ranges, Default::default()).unwrap().blob
}

/// What a seed's architecture must have.
type Criterion = fn(&convbert::ModelConfig) -> bool;

/// Decoder inputs (from a fixed pseudo-random stream) whose blobs cover what the seeds should:
/// each E/H relation, grouped FFNs with the widest kernel, and no labels.
fn structured_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let wanted: [(&str, Criterion); 5] = [
        ("e-below-h", |c| c.embedding_size.cmp(&c.hidden_size) == Ordering::Less && c.num_hidden_layers > 0),
        ("e-equals-h", |c| c.embedding_size == c.hidden_size && c.num_hidden_layers > 0),
        ("e-above-h", |c| c.embedding_size > c.hidden_size && c.num_hidden_layers > 0),
        ("groups-kernel-9", |c| c.num_groups > 1 && c.conv_kernel_size == 9 && c.num_hidden_layers > 0),
        ("no-labels", |c| c.num_labels == 0),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next_input = move || {
        (0..2048)
            .map(|_| {
                // xorshift64: a fixed stream, so the seeds are reproducible.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect::<Vec<u8>>()
    };
    wanted
        .iter()
        .map(|&(name, wanted)| loop {
            let input = next_input();
            let blob = AlignedBlob::new(&structured_blob(&input).unwrap());
            if wanted(Model::from_bytes(blob.bytes()).unwrap().config()) {
                break (name, input);
            }
        })
        .collect()
}
