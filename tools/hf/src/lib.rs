//! Loading Hugging Face checkpoint folders (placeholder).
