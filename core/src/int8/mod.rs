//! The integer-only int8 engine: a packed model ([`Model`]), its numerics, and the forward
//! pass ([`Engine`]). No floating point is used anywhere in this module.
//!
//! Numerics in one page (`docs/FORMAT.md` has the blob, `docs/INT8.md` the derivations):
//! - Weights are int8, symmetric, one scale per output channel; biases int32 on the scale
//!   `s_in * s_w[c]`. Every rescale is a [`Requant`] (31-bit multiplier + shift, round half
//!   up), computed on the host.
//! - Activations are int16 (the residual stream, which the products read directly, values,
//!   mixed heads, activation inputs and outputs) or int8 where that costs nothing measurable
//!   (q and k); per-tensor scales. Each residual sum and LayerNorm runs on a fine
//!   `i32` domain.
//! - Softmax (attention over tokens, dynamic-convolution taps) is base-2 with a 256-entry
//!   table, in Q15. GELU (or the configured activation) is a 513-entry table per layer, filled
//!   by the host and read with linear interpolation (int16 in, int16 out). LayerNorm uses an integer square root and one reciprocal per row.

pub mod activation;
mod engine;
pub mod format;
pub mod kernels;
pub mod layer_norm;
mod model;
mod requant;
pub mod softmax;
#[cfg(feature = "std")]
mod write;

pub use engine::{arena_bytes, ClassifyError, Classification, Engine, StageObserver};
pub use format::Rejection;
pub use model::{crc32, FfnBlock, FormatError, Model, QClassifier, QDense, QEmbeddings, QLayer, TensorProblem};
pub use requant::Requant;
#[cfg(feature = "std")]
pub use write::{with_rejection, AlignedBlob, BlobWriter};
