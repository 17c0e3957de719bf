//! A digest of every hidden state a text produces, for [`fuzz_seeds`](crate::fuzz_seeds): the
//! fuzzed weights and scales often drive the logits to 0, and a model without labels has
//! none, so the final result alone would hide a kernel that gets a layer wrong. The build
//! script compiles this file too (`build/fuzz_seeds.rs`), so host and device hash alike.

use convbert::int8::Engine;

/// FNV-1a over the little-endian bytes of the int16 residual stream after the embeddings and
/// after each layer (`Engine::observe_ids`) for `text`'s encoding in `ids` (at least
/// `max_len` long); the empty hash if the text does not encode or the encoder refuses it.
pub fn hidden_hash(engine: &mut Engine<'_, '_>, text: &str, ids: &mut [u32]) -> u32 {
    let mut hash = 0x811c_9dc5_u32;
    let tokenizer = engine.model().tokenizer();
    if let Ok(encoding) = tokenizer.encode(text, ids) {
        let _ = engine.observe_ids(&ids[..encoding.len], &mut |_, hidden: &[i16]| {
            for byte in hidden.iter().flat_map(|v| v.to_le_bytes()) {
                hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
            }
        });
    }
    hash
}
