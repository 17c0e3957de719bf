//! The engine's inner loops behind one seam, tract-style.
//!
//! [`Kernels`] lists every inner operation of the forward pass. Its default methods are the
//! portable code in [`generic`]: integer arithmetic only, `i32` wrapping sums, and the
//! definition of every result bit. [`Generic`] uses them all. A per-architecture
//! implementation overrides the methods it makes faster and inherits the rest; because `i32`
//! wrapping sums are associative, any order of the products gives the same integers, and the
//! shared kernel suite (`tests/on-target/src/kernels.rs`, run on the host and on every QEMU
//! board) proves each implementation identical to [`Generic`].
//!
//! [`Native`] is the implementation the engine runs, chosen at compile time by `core/build.rs`
//! from the target and `-C target-cpu` (stable Rust exposes no `target_feature` for the Arm
//! DSP or Helium extensions): `CONVBERT_KERNELS=generic` at build time forces the portable code.
//!
//! | `cfg(convbert_kernels)` | targets | [`Native`] |
//! |---|---|---|
//! | `"dsp"` | `thumbv7em` (Cortex-M4/M7), `thumbv8m.main` with cortex-m33/m35p | `ArmDsp` (`SMLAD`) |
//! | `"mve"` | `thumbv8m.main` with cortex-m55/m85 | `ArmMve` (Helium) |
//! | `"x86"` | `x86_64` | `X86`: AVX2 if the CPU has it (detected at run time), else [`Generic`] |
//! | `"neon"` | `aarch64` with NEON (Cortex-A53, A76, ...) | `ArmNeon` (`SMLAL`; `SDOT` with `+dotprod`) |
//! | `"generic"` | everything else | [`Generic`] |

pub mod generic;
#[cfg(any(all(target_arch = "arm", convbert_kernels = "mve"), all(target_arch = "aarch64", convbert_kernels = "neon"), all(target_arch = "x86_64", convbert_kernels = "x86")))]
mod shape;

use super::layer_norm::Affine;
use super::model::QDense;
use super::Requant;

/// Rows of `[rows, ins]` activations that [`Kernels::dense`] may copy into its scratch, e.g. to
/// interleave a tile of tokens. The engine's arena holds `SCRATCH_ROWS * max(ins)` `i16`s for
/// it on every target, so that `arena_bytes` is the same number on the host and on the device.
pub const SCRATCH_ROWS: usize = 4;

/// Where [`Kernels::dense`] hands its sums: `sink(t, o0, sums)`, `sums[j]` being output
/// `o0 + j` of token row `t`. A trait object, not a type parameter: one copy of each kernel's
/// code serves every sink (flash is the scarce resource), and a call per run of outputs costs
/// nothing measurable.
pub type Sink<'s> = dyn FnMut(usize, usize, &[i32]) + 's;

/// The inner operations of the forward pass; see the module doc. Every method has the portable
/// definition as its default.
pub trait Kernels {
    /// A dense layer over a block of tokens: for every token row `t` of `x` (`[rows, ins]`,
    /// int16) and every output channel `o` of `layer`, the sum
    /// `bias[o] + sum_i x[t, g(o) * ig + i] * w[o, i]` (`ig = ins / groups`, `g(o)` the group
    /// of channel `o`, `i32` wrapping), handed to `sink(t, o0, sums)` in runs: `sums[j]` is
    /// output `o0 + j` of token `t`. Every `(t, o)` is handed over exactly once, runs in any
    /// order; a run is what the kernel had in registers or a small buffer, so that the sink can
    /// requantize it in one vector loop.
    ///
    /// `scratch` holds at least [`SCRATCH_ROWS`]` * ins` values (less: the kernel must still
    /// give the same result, e.g. by running the portable loop).
    #[inline]
    fn dense(x: &[i16], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        let _ = scratch;
        generic::dense_rows(x, ins, layer, sink);
    }

    /// [`Kernels::dense`] for int8 activations (the FFN's two products: `docs/INT8.md` says
    /// why those inputs are int8). Same sums, same runs, same `scratch` contract.
    #[inline]
    fn dense_i8(x: &[i8], ins: usize, layer: &QDense<'_>, scratch: &mut [i16], sink: &mut Sink<'_>) {
        let _ = scratch;
        generic::dense_rows(x, ins, layer, sink);
    }

    /// `out[c] = act(requant[c].to_i16(acc[c]))` as int8: the FFN's activation, whose table
    /// holds the int8 output in 1/256 steps ([`crate::int8::activation::lookup_i8`]).
    #[inline]
    fn activate_i8(acc: &[i32], requant: &[Requant], table: &[i16], out: &mut [i8]) {
        generic::activate_i8(acc, requant, table, out);
    }

    /// `sums[c] += weight * row[c]` for int8 rows: one term of an attention context (`P V`) or
    /// a dynamic convolution (taps x conv value). Exact for every `i32` weight (`i32` wrapping
    /// sums), though the engine's weights are Q15 probabilities `0..=32768`.
    #[inline]
    fn accumulate(sums: &mut [i32], weight: i32, row: &[i8]) {
        generic::accumulate(sums, weight, row);
    }

    /// Depthwise 1-D convolution of token `t` over `[L, channels]` rows; see
    /// [`generic::depthwise`].
    #[inline]
    fn depthwise(x: &[i16], channels: usize, t: usize, w: &[i8], k: usize, acc: &mut [i32]) {
        generic::depthwise(x, channels, t, w, k, acc);
    }

    /// `out[c] = requant[c].to_i16(acc[c])` (depthwise sums, products into int16).
    #[inline]
    fn requantize_i16(acc: &[i32], requant: &[Requant], out: &mut [i16]) {
        generic::requantize_i16(acc, requant, out);
    }

    /// `out[c] = requant[c].to_i8(acc[c])` (products into int8: query, key).
    #[inline]
    fn requantize_i8(acc: &[i32], requant: &[Requant], out: &mut [i8]) {
        generic::requantize_i8(acc, requant, out);
    }

    /// `out[c] = requant[c].apply(acc[c])` (products onto an `i32` domain: kernel logits, the
    /// classifier's logits).
    #[inline]
    fn requantize_i32(acc: &[i32], requant: &[Requant], out: &mut [i32]) {
        generic::requantize_i32(acc, requant, out);
    }

    /// `values[c] = act(values[c])` through the activation's table
    /// ([`crate::int8::activation`]).
    #[inline]
    fn activate(values: &mut [i16], table: &[i16]) {
        generic::activate(values, table);
    }

    /// `out[c] = requant.to_i16(acc[c])` (attention context, dynamic convolution, LayerNorm
    /// output).
    #[inline]
    fn scale_i16(acc: &[i32], requant: Requant, out: &mut [i16]) {
        generic::scale_i16(acc, requant, out);
    }

    /// `out[c] = requant.to_i8(acc[c])` (the attention LayerNorm's output as the FFN's int8
    /// input).
    #[inline]
    fn scale_i8(acc: &[i32], requant: Requant, out: &mut [i8]) {
        generic::scale_i8(acc, requant, out);
    }

    /// `a[c] = requant.to_i16(a[c] * b[c])` (span-aware key x query).
    #[inline]
    fn multiply_i16_i8(a: &mut [i16], b: &[i8], requant: Requant) {
        generic::multiply_i16_i8(a, b, requant);
    }

    /// The integer LayerNorm of one row in place; see [`crate::int8::layer_norm`].
    #[inline]
    fn layer_norm(z: &mut [i32], affine: Affine<'_>, eps_q: u32) {
        crate::int8::layer_norm::layer_norm(z, affine, eps_q);
    }

    /// A branch plus its residual on the LayerNorm's domain; see [`generic::add_residual`].
    #[inline]
    fn add_residual(z: &mut [i32], branch: &[Requant], residual: &[i16], residual_rq: Requant) {
        generic::add_residual(z, branch, residual, residual_rq);
    }

    /// Word + position + token type rows on the LayerNorm's domain; see [`generic::sum_rows`].
    #[inline]
    fn sum_rows(z: &mut [i32], rows: [(&[i8], Requant); 3]) {
        generic::sum_rows(z, rows);
    }
}

/// The portable implementation: every default method of [`Kernels`].
pub struct Generic;

impl Kernels for Generic {}

#[cfg(all(target_arch = "arm", convbert_kernels = "dsp"))]
mod arm_dsp;
#[cfg(all(target_arch = "arm", convbert_kernels = "dsp"))]
pub use arm_dsp::ArmDsp as Native;

#[cfg(all(target_arch = "arm", convbert_kernels = "mve"))]
mod arm_mve;
#[cfg(all(target_arch = "arm", convbert_kernels = "mve"))]
pub use arm_mve::ArmMve as Native;

#[cfg(all(target_arch = "x86_64", convbert_kernels = "x86"))]
mod x86;
#[cfg(all(target_arch = "x86_64", convbert_kernels = "x86"))]
pub use x86::X86 as Native;

#[cfg(all(target_arch = "aarch64", convbert_kernels = "neon"))]
mod aarch64_neon;
#[cfg(all(target_arch = "aarch64", convbert_kernels = "neon"))]
pub use aarch64_neon::ArmNeon as Native;

/// The implementation the engine runs on this target; see the module doc.
#[cfg(not(any(all(target_arch = "arm", any(convbert_kernels = "dsp", convbert_kernels = "mve")), all(target_arch = "x86_64", convbert_kernels = "x86"), all(target_arch = "aarch64", convbert_kernels = "neon"))))]
pub type Native = Generic;
