//! Blob bytes into `Model::from_bytes`: as they are, re-sealed so that a mutation gets past
//! the magic, version and CRC-32 checks to the header, table and tensor checks, and decoded
//! into a well-formed blob by [`structured_blob`].

use crate::engine::check_model;
use crate::structured::structured_blob;
use crate::reseal::reseal;
use convbert::int8::{AlignedBlob, Model};

/// Parses `data` (copied to aligned memory, as a device's flash would be) and, when it
/// parses, runs it through [`check_model`].
pub fn blob_raw(data: &[u8]) {
    let aligned = AlignedBlob::new(data);
    if let Ok(model) = Model::from_bytes(aligned.bytes()) {
        check_model(&model);
    }
}

/// [`blob_raw`] on [`reseal`]`(data)`.
pub fn blob_resealed(data: &[u8]) {
    blob_raw(&reseal(data));
}

/// Packs the architecture and values `data` decodes to ([`structured_blob`]), checks that the
/// blob parses, and runs it through [`check_model`].
pub fn blob_structured(data: &[u8]) {
    let Ok(blob) = structured_blob(data) else { return };
    let aligned = AlignedBlob::new(&blob);
    match Model::from_bytes(aligned.bytes()) {
        Ok(model) => check_model(&model),
        Err(e) => panic!("a well-formed blob from BlobWriter was refused: {e}"),
    }
}

