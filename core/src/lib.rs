//! `convbert`: a `no_std`, allocation-free ConvBERT inference engine for microcontrollers.
//!
//! ConvBERT (Jiang et al., NeurIPS 2020) is BERT whose attention block mixes self-attention heads
//! with span-based dynamic convolution heads. This crate runs it the way Hugging Face
//! `transformers` does (`modeling_convbert.py`), without a heap: every buffer is owned by the
//! caller and sized in advance.
//!
//! Modules, each one concept:
//! - [`config`]: the model's hyper-parameters and the checks that refuse configs Hugging Face
//!   itself cannot run.
//! - [`tokenizer`]: BERT basic tokenization and WordPiece, giving exactly the ids of Hugging Face's
//!   `BertTokenizerFast`, written into caller storage.
//! - [`float`]: the f32 reference forward pass. It is the yardstick for everything quantized:
//!   golden tests prove it computes what PyTorch computes.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod config;
pub mod input;
pub mod float;
pub mod int8;
mod lines;
pub mod tokenizer;

pub use config::{limits, Activation, ConfigError, ModelConfig};
pub use input::RunError;
