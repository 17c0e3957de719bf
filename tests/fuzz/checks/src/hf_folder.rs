//! A Hugging Face checkpoint folder with one file replaced by the fuzz input, loaded by
//! `convbert_hf::Checkpoint::load` and, when it loads, run by the float reference.
//!
//! The other files come from [`tiny_checkpoint`], a ConvBERT small enough (8 wide, one layer,
//! a dozen tokens) that a whole `model.safetensors` fits in a seed file of a few KB.

use crate::tokenizer::TINY_VOCAB;
use convbert::{ModelConfig, RunError};
use convbert_hf::Checkpoint;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The files of a checkpoint folder, in the order the selector byte picks them.
pub const CHECKPOINT_FILES: [&str; 4] = ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"];

/// The text the float model classifies.
const TEXT: &str = "play music! réserver 北京";

/// `data` = selector byte (which of [`CHECKPOINT_FILES`]), then that file's new content;
/// the folder is loaded, and a checkpoint that loads must tokenize and classify [`TEXT`].
pub fn hf_folder(data: &[u8]) {
    let Some((&choice, replacement)) = data.split_first() else { return };
    let replaced = usize::from(choice) % CHECKPOINT_FILES.len();
    let dir = ScratchDir::new();
    for (i, (name, original)) in CHECKPOINT_FILES.iter().zip(tiny_checkpoint()).enumerate() {
        let bytes = if i == replaced { replacement } else { original.as_slice() };
        std::fs::write(dir.0.join(name), bytes).expect("the scratch folder is writable");
    }
    if let Ok(checkpoint) = Checkpoint::load(&dir.0) {
        classify(&checkpoint);
    }
}

/// Runs a loaded checkpoint's float model on [`TEXT`]: loading checked every shape, so nothing
/// but a missing classifier may fail.
fn classify(checkpoint: &Checkpoint) {
    let layers = checkpoint.float_layers().expect("a loaded checkpoint lends its layers");
    let model = checkpoint.float_model(&layers).expect("a loaded checkpoint builds its model");
    let tokenizer = checkpoint.tokenizer().expect("a loaded checkpoint has its tokenizer");
    // Encodings are cut to the buffer: 64 ids bound the pass whatever model_max_length says.
    let mut ids = [0u32; 64];
    let encoding = match tokenizer.encode(TEXT, &mut ids) {
        Ok(encoding) => encoding,
        Err(e) => panic!("a loaded checkpoint cannot tokenize ({:?}): {e}", tokenizer.settings),
    };
    let ids = &ids[..encoding.len];
    let labels = checkpoint.config.num_labels;
    assert_eq!(checkpoint.labels.len(), labels, "label names and num_labels differ");
    let mut scratch = vec![0.0; model.scratch_len(ids.len())];
    let mut logits = vec![0.0; labels];
    match model.classify(ids, None, &mut scratch, &mut logits) {
        Ok(()) => {}
        Err(RunError::NoClassifier) if labels == 0 => {}
        Err(e) => panic!("a loaded checkpoint failed to classify {} ids: {e}", ids.len()),
    }
}

/// A folder `<temp>/convbert-fuzz-<pid>-<n>`, removed on drop (a fresh one per input, so the
/// replay test's threads never share one).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("convbert-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temp folder is writable");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tiny checkpoint's files, in [`CHECKPOINT_FILES`] order: E = 4 < H = 8 (so the
/// projection is there), 2 FFN groups, 3 taps, one layer, 2 labels, [`TINY_VOCAB`].
pub fn tiny_checkpoint() -> &'static [Vec<u8>; 4] {
    static FILES: OnceLock<[Vec<u8>; 4]> = OnceLock::new();
    FILES.get_or_init(|| {
        let c = ModelConfig {
            vocab_size: convbert::tokenizer::Vocab::token_count(TINY_VOCAB),
            hidden_size: 8,
            embedding_size: 4,
            intermediate_size: 16,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            head_ratio: 2,
            conv_kernel_size: 3,
            num_groups: 2,
            max_position_embeddings: 16,
            type_vocab_size: 2,
            hidden_act: convbert::Activation::Gelu,
            layer_norm_eps: 1e-12,
            num_labels: 2,
        };
        let config = format!(
            r#"{{"model_type": "convbert", "architectures": ["ConvBertForSequenceClassification"],
"vocab_size": {}, "hidden_size": {}, "embedding_size": {}, "intermediate_size": {},
"num_hidden_layers": {}, "num_attention_heads": {}, "head_ratio": 2, "conv_kernel_size": {},
"num_groups": {}, "max_position_embeddings": {}, "type_vocab_size": {}, "hidden_act": "gelu",
"layer_norm_eps": 1e-12, "id2label": {{"0": "off", "1": "on"}}}}
"#,
            c.vocab_size,
            c.hidden_size,
            c.embedding_size,
            c.intermediate_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.conv_kernel_size,
            c.num_groups,
            c.max_position_embeddings,
            c.type_vocab_size,
        );
        let tokenizer_config = br#"{"do_lower_case": true, "model_max_length": 16}"#.to_vec();
        [config.into_bytes(), safetensors_of(&c), TINY_VOCAB.as_bytes().to_vec(), tokenizer_config]
    })
}

/// `model.safetensors` of a `ConvBertForSequenceClassification` with config `c`: every tensor
/// `convbert_hf` reads, with small deterministic values (LayerNorm weights 1).
fn safetensors_of(c: &ModelConfig) -> Vec<u8> {
    let (v, h, e, i, g) = (c.vocab_size, c.hidden_size, c.embedding_size, c.intermediate_size, c.num_groups);
    let (a, k, taps) = (c.all_head_size(), c.conv_kernel_size, c.attention_heads() * c.conv_kernel_size);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("convbert.embeddings.word_embeddings.weight".into(), vec![v, e]),
        ("convbert.embeddings.position_embeddings.weight".into(), vec![c.max_position_embeddings, e]),
        ("convbert.embeddings.token_type_embeddings.weight".into(), vec![c.type_vocab_size, e]),
        ("convbert.embeddings.LayerNorm.weight".into(), vec![e]),
        ("convbert.embeddings.LayerNorm.bias".into(), vec![e]),
        ("convbert.embeddings_project.weight".into(), vec![h, e]),
        ("convbert.embeddings_project.bias".into(), vec![h]),
        ("classifier.dense.weight".into(), vec![h, h]),
        ("classifier.dense.bias".into(), vec![h]),
        ("classifier.out_proj.weight".into(), vec![c.num_labels, h]),
        ("classifier.out_proj.bias".into(), vec![c.num_labels]),
    ];
    for n in 0..c.num_hidden_layers {
        let p = format!("convbert.encoder.layer.{n}.");
        let layer: [(&str, Vec<usize>); 23] = [
            ("attention.self.query.weight", vec![a, h]),
            ("attention.self.query.bias", vec![a]),
            ("attention.self.key.weight", vec![a, h]),
            ("attention.self.key.bias", vec![a]),
            ("attention.self.value.weight", vec![a, h]),
            ("attention.self.value.bias", vec![a]),
            ("attention.self.key_conv_attn_layer.depthwise.weight", vec![h, 1, k]),
            ("attention.self.key_conv_attn_layer.pointwise.weight", vec![a, h, 1]),
            ("attention.self.key_conv_attn_layer.bias", vec![a, 1]),
            ("attention.self.conv_kernel_layer.weight", vec![taps, a]),
            ("attention.self.conv_kernel_layer.bias", vec![taps]),
            ("attention.self.conv_out_layer.weight", vec![a, h]),
            ("attention.self.conv_out_layer.bias", vec![a]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("intermediate.dense.weight", vec![g, h / g, i / g]),
            ("intermediate.dense.bias", vec![i]),
            ("output.dense.weight", vec![g, i / g, h / g]),
            ("output.dense.bias", vec![h]),
            ("output.LayerNorm.weight", vec![h]),
            ("output.LayerNorm.bias", vec![h]),
        ];
        shapes.extend(layer.into_iter().map(|(name, shape)| (format!("{p}{name}"), shape)));
    }
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .enumerate()
        .map(|(seed, (name, shape))| {
            let numel: usize = shape.iter().product();
            let value = |j: usize| match name.ends_with("LayerNorm.weight") {
                true => 1.0f32,
                false => ((j * 7 + seed) % 13) as f32 / 26.0 - 0.25,
            };
            (0..numel).flat_map(|j| value(j).to_le_bytes()).collect()
        })
        .collect();
    let views = shapes.iter().zip(&data).map(|((name, shape), bytes)| {
        (name.as_str(), TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches the data"))
    });
    safetensors::serialize(views, None).expect("the tiny tensors serialize")
}
