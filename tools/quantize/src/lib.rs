//! Post-training int8 quantization of a ConvBERT checkpoint into a packed blob.
//!
//! [`calibrate`] runs the float reference on real utterances and records every tensor's
//! range; [`pack`] turns weights and ranges into the blob that `convbert::int8::Model`
//! reads; [`reject`] chooses its out-of-scope threshold. The numerics are described in
//! `docs/INT8.md`.

pub mod calibrate;
pub mod cores;
pub mod gptq;
pub mod pack;
pub mod prune;
pub mod reject;
pub mod report;

pub use calibrate::{calibrate, calibrate_for_report, dense_inputs, spread, Calibration, Ranges};
pub use cores::on_all_cores;
pub use pack::{pack, PackOptions, Packed};
pub use prune::PackVocab;
pub use report::{measure, FloatReference, Report};
