//! Shared set-up of the benchmarks: a shipped model, quantized in-process exactly as
//! `convbert quantize` would (400 SNIPS training utterances, spread over the file).

use convbert::int8::AlignedBlob;
use convbert_hf::Checkpoint;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A checkpoint and its int8 blob.
pub struct Bench {
    pub checkpoint: Checkpoint,
    pub blob: AlignedBlob,
}

/// Loads `weights/<name>` and quantizes it.
pub fn load(name: &str) -> Bench {
    let checkpoint = Checkpoint::load(repo().join("weights").join(name)).expect("shipped model");
    let layers = checkpoint.float_layers().unwrap();
    let model = checkpoint.float_model(&layers).unwrap();
    let tokenizer = checkpoint.tokenizer().unwrap();
    let data = std::fs::read_to_string(repo().join("../shared/datasets/snips/train.tsv")).expect("SNIPS beside the checkout");
    let all: Vec<String> = data.lines().map(|l| l.split_once('\t').unwrap().1.to_owned()).collect();
    let texts = convbert_quantize::spread(&all, 400);
    let ranges = convbert_quantize::calibrate(&model, &tokenizer, &texts, |_, _| {}).unwrap();
    let vocab = convbert_quantize::PackVocab::full(&checkpoint.vocab_text, checkpoint.config.vocab_size);
    let packed = convbert_quantize::pack(&model, tokenizer.settings, &vocab, &checkpoint.labels, &ranges, Default::default()).unwrap();
    Bench { blob: AlignedBlob::new(&packed.blob), checkpoint }
}

/// `[CLS] w w ... [SEP]` of `len` ids, deterministic ordinary tokens.
pub fn ids(len: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..len as u32).map(|i| 100 + (i * 37) % 900).collect();
    ids[0] = 2;
    ids[len - 1] = 3;
    ids
}
