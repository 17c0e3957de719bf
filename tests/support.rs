//! Shared helpers for the integration tests: where the golden data and datasets live, and how
//! to read golden tensors.

use std::path::{Path, PathBuf};

/// The repository root (this crate sits in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// `tests/golden/<rel>`.
pub fn golden(rel: &str) -> PathBuf {
    repo_root().join("tests/golden").join(rel)
}

/// `../shared/datasets/<rel>` beside the checkout (read-only in CI).
pub fn dataset(rel: &str) -> PathBuf {
    repo_root().join("../shared/datasets").join(rel)
}

/// A safetensors file of golden arrays, widened to f32 / i64 on request.
pub struct GoldenFile {
    bytes: Vec<u8>,
}

impl GoldenFile {
    /// Reads the file; panics with the path on failure (tests only).
    pub fn open(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { bytes }
    }

    fn view(&self) -> safetensors::SafeTensors<'_> {
        safetensors::SafeTensors::deserialize(&self.bytes).expect("valid safetensors")
    }

    /// Names of all arrays.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.view().names().into_iter().map(String::from).collect();
        names.sort();
        names
    }

    /// An f32 array by name.
    pub fn f32s(&self, name: &str) -> Vec<f32> {
        let view = self.view();
        let t = view.tensor(name).unwrap_or_else(|_| panic!("golden array {name} missing"));
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
        t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    }

    /// An integer array by name, as u32 (ids).
    pub fn ids(&self, name: &str) -> Vec<u32> {
        let view = self.view();
        let t = view.tensor(name).unwrap_or_else(|_| panic!("golden array {name} missing"));
        match t.dtype() {
            safetensors::Dtype::I64 => {
                t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect()
            }
            safetensors::Dtype::I32 => {
                t.data().chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap()) as u32).collect()
            }
            other => panic!("{name}: unexpected dtype {other:?}"),
        }
    }
}

/// max |a - b| / max |b|: the error relative to the reference's magnitude.
pub fn relative_max_diff(got: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(got.len(), reference.len(), "lengths differ");
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let diff = got.iter().zip(reference).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}
