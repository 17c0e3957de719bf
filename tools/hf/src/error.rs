//! Why a checkpoint folder could not be loaded: one variant per cause, each message naming
//! the file or tensor and, where there is one, the fix.

use std::fmt;
use std::path::PathBuf;

/// A failure to load a Hugging Face checkpoint folder.
#[derive(Debug)]
pub enum LoadError {
    /// The folder does not exist or is not a folder.
    NotAFolder(PathBuf),
    /// A required file is missing.
    MissingFile(PathBuf),
    /// Only a PyTorch pickle is present; it cannot be read safely without Python.
    PytorchBinOnly(PathBuf),
    /// A file could not be read.
    Io(PathBuf, std::io::Error),
    /// A JSON file is malformed.
    Json(PathBuf, serde_json::Error),
    /// A config field has a value this engine (or Hugging Face) cannot run.
    Config(PathBuf, String),
    /// A safetensors file is malformed.
    Safetensors(PathBuf, String),
    /// A tensor the model needs is absent.
    MissingTensor(String),
    /// A tensor's shape disagrees with config.json.
    TensorShape {
        /// Hugging Face name.
        name: String,
        /// Shape config.json implies.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype other than f32, f16, bf16 or f64.
    TensorDtype {
        /// Hugging Face name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// vocab.txt is unusable.
    Vocab(PathBuf, String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAFolder(p) => write!(f, "{}: no such model folder", p.display()),
            Self::MissingFile(p) => write!(f, "{}: file not found", p.display()),
            Self::PytorchBinOnly(dir) => write!(
                f,
                "{dir}: holds only pytorch_model.bin; convert it to model.safetensors with\n  \
                 python -c \"from transformers import AutoModelForSequenceClassification as M; \
                 M.from_pretrained('{dir}').save_pretrained('{dir}', safe_serialization=True)\"",
                dir = dir.display()
            ),
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Json(p, e) => write!(f, "{}: invalid JSON: {e}", p.display()),
            Self::Config(p, why) => write!(f, "{}: {why}", p.display()),
            Self::Safetensors(p, why) => write!(f, "{}: not a valid safetensors file: {why}", p.display()),
            Self::MissingTensor(name) => write!(f, "tensor `{name}` is missing from the checkpoint"),
            Self::TensorShape { name, expected, found } => write!(
                f,
                "tensor `{name}` has shape {found:?}, config.json implies {expected:?}"
            ),
            Self::TensorDtype { name, dtype } => write!(
                f,
                "tensor `{name}` is stored as {dtype}; only F32, F16, BF16 and F64 are supported"
            ),
            Self::Vocab(p, why) => write!(f, "{}: {why}", p.display()),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(_, e) => Some(e),
            Self::Json(_, e) => Some(e),
            _ => None,
        }
    }
}
