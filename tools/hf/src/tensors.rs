//! Reading `model.safetensors` (or its shards) into f32 tensors, whatever the stored dtype.

use crate::LoadError;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// One tensor, widened to f32.
pub(crate) struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub dtype: Dtype,
}

/// All float tensors of a checkpoint by Hugging Face name. Non-float tensors (buffers such
/// as `position_ids`) are skipped; asking for one later reports its dtype.
pub(crate) struct TensorStore {
    tensors: HashMap<String, Tensor>,
    skipped: HashMap<String, Dtype>,
}

impl TensorStore {
    /// Loads `model.safetensors`, or every shard named by `model.safetensors.index.json`.
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files = if single.exists() {
            vec![single]
        } else if index.exists() {
            shard_files(&index)?.into_iter().map(|f| dir.join(f)).collect()
        } else if dir.join("pytorch_model.bin").exists() {
            return Err(LoadError::PytorchBinOnly(dir.to_owned()));
        } else {
            return Err(LoadError::MissingFile(single));
        };
        let mut store = Self { tensors: HashMap::new(), skipped: HashMap::new() };
        for file in files {
            store.read_file(&file)?;
        }
        Ok(store)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), LoadError> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::MissingFile(path.to_owned()),
            _ => LoadError::Io(path.to_owned(), e),
        })?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| LoadError::Safetensors(path.to_owned(), e.to_string()))?;
        for (name, view) in file.tensors() {
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                Dtype::F16 => raw.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                Dtype::BF16 => raw.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                Dtype::F64 => raw
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                    .collect(),
                other => {
                    self.skipped.insert(name, other);
                    continue;
                }
            };
            self.tensors.insert(name, Tensor { shape: view.shape().to_vec(), data, dtype: view.dtype() });
        }
        Ok(())
    }

    /// Calls `f` on every tensor's name, shape and values.
    pub fn map(&mut self, mut f: impl FnMut(&str, &[usize], &mut [f32])) {
        for (name, tensor) in &mut self.tensors {
            f(name, &tensor.shape, &mut tensor.data);
        }
    }

    /// Whether a float tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name`, checked to have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&Tensor, LoadError> {
        let tensor = self.tensors.get(name).ok_or_else(|| match self.skipped.get(name) {
            Some(dtype) => LoadError::TensorDtype { name: name.into(), dtype: format!("{dtype:?}") },
            None => LoadError::MissingTensor(name.into()),
        })?;
        if tensor.shape != shape {
            return Err(LoadError::TensorShape {
                name: name.into(),
                expected: shape.to_vec(),
                found: tensor.shape.clone(),
            });
        }
        Ok(tensor)
    }

    /// Every float tensor, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(name, t)| (name.as_str(), t))
    }
}

/// The distinct shard files of a sharded checkpoint's index.
fn shard_files(index: &Path) -> Result<Vec<String>, LoadError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|e| LoadError::Io(index.to_owned(), e))?;
    let parsed: Index = serde_json::from_str(&text).map_err(|e| LoadError::Json(index.to_owned(), e))?;
    let mut files: Vec<String> = parsed.weight_map.into_values().collect();
    files.sort();
    files.dedup();
    Ok(files)
}
