//! Blob bytes into `Model::from_bytes`: as they are, and re-sealed so that a mutation gets past
//! the magic, version and CRC-32 checks to the header, table and tensor checks.

use crate::engine::check_model;
use convbert::int8::format::{FORMAT_VERSION, MAGIC, PREAMBLE_LEN};
use convbert::int8::{crc32, AlignedBlob, Model};

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

/// `data` with the current magic and version written over its first six bytes and its last
/// four replaced by the CRC-32 of the rest; inputs too short to hold a preamble and a CRC are
/// returned as they are (the parser calls them truncated).
fn reseal(data: &[u8]) -> Vec<u8> {
    let mut blob = data.to_vec();
    if blob.len() < PREAMBLE_LEN + 4 {
        return blob;
    }
    blob[..4].copy_from_slice(&MAGIC);
    blob[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let body = blob.len() - 4;
    let crc = crc32(&blob[..body]);
    blob[body..].copy_from_slice(&crc.to_le_bytes());
    blob
}
