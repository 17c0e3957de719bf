//! Host-side loading of Hugging Face ConvBERT checkpoint folders.
//!
//! A folder as `save_pretrained` writes it: `config.json` (with `id2label`),
//! `model.safetensors` (f32, f16 or bf16; shards with an index also work), `vocab.txt`, and
//! optionally `tokenizer_config.json`. [`Checkpoint::load`] reads and checks all of it, naming
//! the file or tensor at fault; [`Checkpoint::float_model`] then lends the weights to the
//! `no_std` reference pass in `convbert::float` without copying.

mod config;
mod error;
mod tensors;
mod weights;

pub use error::LoadError;

use convbert::tokenizer::{Tokenizer, TokenizerSettings, Vocab};
use convbert::ModelConfig;
use std::path::{Path, PathBuf};
use tensors::TensorStore;

/// A loaded checkpoint folder: config, labels, tokenizer files and f32 weights.
pub struct Checkpoint {
    /// The folder it came from.
    pub dir: PathBuf,
    /// Hyper-parameters from config.json; `num_labels` is 0 when there is no classifier.
    pub config: ModelConfig,
    /// Label names in id order (empty without a classifier).
    pub labels: Vec<String>,
    /// Tokenizer settings from tokenizer_config.json (BERT defaults if absent).
    pub tokenizer: TokenizerSettings,
    /// vocab.txt, one token per line, line number = id.
    pub vocab_text: String,
    /// The vocabulary's lookup index (see [`Vocab::build_index`]).
    vocab_offsets: Vec<u32>,
    vocab_sorted: Vec<u32>,
    tensors: TensorStore,
    /// `"convbert."` for a `ConvBertForSequenceClassification` state dict, `""` for a bare model.
    prefix: &'static str,
}

impl Checkpoint {
    /// Loads and checks a checkpoint folder.
    ///
    /// # Errors
    /// [`LoadError`] naming the missing or malformed file, or the tensor whose shape or dtype
    /// disagrees with config.json.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(LoadError::NotAFolder(dir.to_owned()));
        }
        let (mut config, mut labels) = config::read_model_config(&dir.join("config.json"))?;
        let tensors = TensorStore::load(dir)?;
        let prefix = if tensors.contains("convbert.embeddings.word_embeddings.weight") { "convbert." } else { "" };
        if !tensors.contains("classifier.out_proj.weight") {
            // A bare ConvBertModel (or a head we do not know): run it without a classifier.
            config.num_labels = 0;
            labels.clear();
        } else if labels.is_empty() {
            return Err(LoadError::Config(
                dir.join("config.json"),
                "the checkpoint has a classifier but config.json has no id2label".into(),
            ));
        }
        let tokenizer = config::read_tokenizer_settings(&dir.join("tokenizer_config.json"), config.max_position_embeddings)?;
        let vocab_path = dir.join("vocab.txt");
        let vocab_text = std::fs::read_to_string(&vocab_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::MissingFile(vocab_path.clone()),
            std::io::ErrorKind::InvalidData => LoadError::Vocab(vocab_path.clone(), "not valid UTF-8".into()),
            _ => LoadError::Io(vocab_path.clone(), e),
        })?;
        let tokens = Vocab::token_count(&vocab_text);
        if tokens > config.vocab_size {
            return Err(LoadError::Vocab(
                vocab_path,
                format!("{tokens} tokens, but config.json has vocab_size {}", config.vocab_size),
            ));
        }
        let (mut vocab_offsets, mut vocab_sorted) = (vec![0; tokens + 1], vec![0; tokens]);
        Vocab::build_index(&vocab_text, &mut vocab_offsets, &mut vocab_sorted)
            .map_err(|e| LoadError::Vocab(vocab_path, e.to_string()))?;
        let checkpoint = Self {
            dir: dir.to_owned(),
            config,
            labels,
            tokenizer,
            vocab_text,
            vocab_offsets,
            vocab_sorted,
            tensors,
            prefix,
        };
        // Resolve every tensor now so that shape errors surface at load time.
        checkpoint.float_parts()?;
        Ok(checkpoint)
    }

    /// The checkpoint's tokenizer (vocab.txt with tokenizer_config.json's settings).
    ///
    /// # Errors
    /// None in practice: the index was built from this text and checked at load time.
    pub fn tokenizer(&self) -> Result<Tokenizer<'_>, LoadError> {
        let vocab = Vocab::new(&self.vocab_text, &self.vocab_offsets, &self.vocab_sorted)
            .map_err(|e| LoadError::Vocab(self.dir.join("vocab.txt"), e.to_string()))?;
        Ok(Tokenizer::new(vocab, self.tokenizer))
    }

    /// Number of parameters the model uses (buffers and unused tensors excluded).
    pub fn parameter_count(&self) -> usize {
        self.tensor_groups().iter().map(|(_, n, _)| n).sum()
    }

    /// Parameters and stored bytes per tensor group (embeddings, each layer's attention and
    /// FFN, the classifier), in model order, for `convbert inspect`.
    pub fn tensor_groups(&self) -> Vec<(String, usize, usize)> {
        let mut groups: std::collections::BTreeMap<(usize, String), (usize, usize)> = Default::default();
        for (name, tensor) in self.tensors.iter() {
            let Some(group) = tensor_group(name.strip_prefix(self.prefix).unwrap_or(name)) else { continue };
            let entry = groups.entry(group).or_default();
            entry.0 += tensor.data.len();
            entry.1 += tensor.data.len() * tensor.dtype.bitsize() / 8;
        }
        groups.into_iter().map(|((_, group), (params, bytes))| (group, params, bytes)).collect()
    }
}

/// The inspect group of a tensor name (without the `convbert.` prefix) with a key that sorts
/// groups in model order, or `None` for buffers the model does not use.
fn tensor_group(name: &str) -> Option<(usize, String)> {
    if name.starts_with("embeddings.") && name != "embeddings.position_ids" && name != "embeddings.token_type_ids" {
        return Some((0, "embeddings".into()));
    }
    if name.starts_with("embeddings_project.") {
        return Some((1, "embeddings_project".into()));
    }
    if name.starts_with("classifier.") {
        return Some((usize::MAX, "classifier".into()));
    }
    let (layer, rest) = name.strip_prefix("encoder.layer.")?.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (offset, part) = if rest.starts_with("attention.") { (0, "attention") } else { (1, "ffn") };
    Some((2 + 2 * layer + offset, format!("layer {layer:>2} {part}")))
}
