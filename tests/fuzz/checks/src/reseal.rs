//! `blob_resealed`'s rewrite of its input, also used by the on-target build script
//! (`tests/on-target/build/fuzz_seeds.rs`) to make the blob that target parses from a seed.

use convbert::int8::crc32;
use convbert::int8::format::{FORMAT_VERSION, MAGIC, PREAMBLE_LEN};

/// `data` with the current magic and version written over its first six bytes and its last
/// four replaced by the CRC-32 of the rest; inputs too short to hold a preamble and a CRC are
/// returned as they are (the parser calls them truncated).
pub fn reseal(data: &[u8]) -> Vec<u8> {
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
