//! The engine's inner loops, tract-style: a plain portable kernel per op in [`generic`], which
//! every target can run and which defines the results bit for bit. Per-architecture kernels
//! (Cortex-M DSP `SMLAD`, AArch64 `SDOT`, x86 AVX2) will sit beside it, be chosen at compile
//! time, and be tested to give identical integers.

pub mod generic;

pub use generic::{dense, depthwise, dot};
