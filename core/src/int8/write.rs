//! Writing blobs (host side, `std` feature): the inverse of [`super::Model::from_bytes`].
//!
//! The writer lays tensors out; it does not know what they mean. The quantizer pushes them in
//! [`super::format::slot`] order, and `Model::from_bytes` on the result is the check.

use super::format::{Dtype, Header, Rejection, ENTRY_LEN, FORMAT_VERSION, MAGIC, PREAMBLE_LEN, TENSOR_ALIGN};
use super::model::{crc32, FormatError, Model};
use super::Requant;
use std::{vec, vec::Vec};

/// Collects tensors in slot order, then writes the blob.
#[derive(Default)]
pub struct BlobWriter {
    tensors: Vec<(Dtype, Vec<u8>)>,
}

impl BlobWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tensors pushed so far (the next slot index).
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Appends raw bytes of `dtype`.
    pub fn push_bytes(&mut self, dtype: Dtype, bytes: Vec<u8>) {
        self.tensors.push((dtype, bytes));
    }

    /// Appends an `i8` tensor.
    pub fn push_i8(&mut self, values: &[i8]) {
        self.push_bytes(Dtype::I8, values.iter().map(|&v| v as u8).collect());
    }

    /// Appends an `i16` tensor.
    pub fn push_i16(&mut self, values: &[i16]) {
        self.push_bytes(Dtype::I16, values.iter().flat_map(|v| v.to_le_bytes()).collect());
    }

    /// Appends an `i32` tensor.
    pub fn push_i32(&mut self, values: &[i32]) {
        self.push_bytes(Dtype::I32, values.iter().flat_map(|v| v.to_le_bytes()).collect());
    }

    /// Appends a `u32` tensor.
    pub fn push_u32(&mut self, values: &[u32]) {
        self.push_bytes(Dtype::U32, values.iter().flat_map(|v| v.to_le_bytes()).collect());
    }

    /// Appends requantization pairs.
    pub fn push_requants(&mut self, values: &[Requant]) {
        let words = values.iter().flat_map(|r| [r.multiplier, r.shift]);
        self.push_bytes(Dtype::Requant, words.flat_map(|v| v.to_le_bytes()).collect());
    }

    /// Appends one record (`EmbeddingScalars`, `LayerScalars`, ...).
    pub fn push_record<T: bytemuck::Pod>(&mut self, record: &T) {
        self.push_bytes(Dtype::Record, bytemuck::bytes_of(record).to_vec());
    }

    /// The finished blob: preamble, header, table, 16-byte aligned tensors, CRC-32.
    ///
    /// # Errors
    /// If the header does not serialize.
    pub fn finish(self, header: &Header<'_>) -> Result<Vec<u8>, postcard::Error> {
        let header_bytes = postcard::to_allocvec(header)?;
        let table_start = (PREAMBLE_LEN + header_bytes.len()).next_multiple_of(4);
        let mut offset = (table_start + self.tensors.len() * ENTRY_LEN).next_multiple_of(TENSOR_ALIGN);

        let mut blob = Vec::with_capacity(offset + self.tensors.iter().map(|t| t.1.len() + TENSOR_ALIGN).sum::<usize>() + 4);
        blob.extend_from_slice(&MAGIC);
        blob.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        blob.extend_from_slice(&0u16.to_le_bytes());
        blob.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
        blob.extend_from_slice(&(self.tensors.len() as u32).to_le_bytes());
        blob.extend_from_slice(&header_bytes);
        blob.resize(table_start, 0);
        for (dtype, bytes) in &self.tensors {
            blob.extend_from_slice(&(offset as u32).to_le_bytes());
            blob.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            blob.extend_from_slice(&[*dtype as u8, 0, 0, 0]);
            offset = (offset + bytes.len()).next_multiple_of(TENSOR_ALIGN);
        }
        for (_, bytes) in &self.tensors {
            blob.resize(blob.len().next_multiple_of(TENSOR_ALIGN), 0);
            blob.extend_from_slice(bytes);
        }
        let crc = crc32(&blob);
        blob.extend_from_slice(&crc.to_le_bytes());
        Ok(blob)
    }
}

/// `blob` with another [`Rejection`] (the rest unchanged): the packer sets it once it has
/// measured the packed model on held-out data.
///
/// # Errors
/// If `blob` is not a valid blob ([`Model::from_bytes`]).
pub fn with_rejection(blob: &[u8], rejection: Rejection) -> Result<Vec<u8>, FormatError> {
    let aligned = AlignedBlob::new(blob);
    let bytes = aligned.bytes();
    Model::from_bytes(bytes)?;
    // Valid: the preamble, header and table below are what `from_bytes` checked.
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    let (header_len, count) = (word(8), word(12));
    let mut header: Header<'_> = postcard::from_bytes(&bytes[PREAMBLE_LEN..PREAMBLE_LEN + header_len]).map_err(|_| FormatError::Header)?;
    header.rejection = rejection;
    let table = (PREAMBLE_LEN + header_len).next_multiple_of(4);
    let mut writer = BlobWriter::new();
    for entry in (0..count).map(|n| table + n * ENTRY_LEN) {
        let (offset, len) = (word(entry), word(entry + 4));
        let dtype = Dtype::from_code(bytes[entry + 8]).ok_or(FormatError::Header)?;
        writer.push_bytes(dtype, bytes[offset..offset + len].to_vec());
    }
    writer.finish(&header).map_err(|_| FormatError::Header)
}

/// A blob copied into 16-byte aligned memory, as [`super::Model::from_bytes`] requires (a
/// `Vec<u8>` read from a file has no alignment guarantee).
pub struct AlignedBlob {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBlob {
    /// Copies `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self { words, len: bytes.len() }
    }

    /// The blob's bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}
