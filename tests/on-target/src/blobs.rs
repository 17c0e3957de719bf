//! `Model::from_bytes` and `Engine::new` on damaged and hostile blobs, on the device: each must
//! be refused with the right error, and nothing may panic (a panic stops the device before the
//! summary). The blobs are made on the host by `build/blobs.rs`; on a 32-bit core some size
//! products differ from the host's, which is why these run here too.

use crate::{ensure, Failure, Outcome};
use convbert::int8::format::FORMAT_VERSION;
use convbert::int8::{arena_bytes, crc32, ClassifyError, Engine, FormatError, Model};
use convbert::ConfigError;

/// 16-byte aligned bytes, as `Model::from_bytes` wants a blob.
#[repr(C, align(16))]
pub struct Aligned<B: ?Sized>(pub B);

include!(concat!(env!("OUT_DIR"), "/blobs.rs"));

/// Arena for the tiny model, on the stack: it needs 1,035 bytes at its `max_len` of 8.
const ARENA: usize = 1536;

/// A copy of [`TINY`] in RAM, to damage.
fn tiny_copy() -> Aligned<[u8; TINY_LEN]> {
    let mut copy = Aligned([0; TINY_LEN]);
    copy.0.copy_from_slice(&TINY.0);
    copy
}

/// The model in [`TINY`].
fn tiny() -> Result<Model<'static>, Failure> {
    Model::from_bytes(&TINY.0).map_err(|e| Failure::new(format_args!("TINY refused: {e}")))
}

/// Rewrites the trailing CRC, so that a damage reaches the checks after it.
pub(crate) fn reseal(blob: &mut [u8]) {
    let body = blob.len() - 4;
    let crc = crc32(&blob[..body]);
    blob[body..].copy_from_slice(&crc.to_le_bytes());
}

/// The blob the others damage is valid: it parses, and runs in an arena of exactly
/// `arena_bytes`.
pub fn tiny_blob_is_accepted_and_runs() -> Outcome {
    let model = tiny()?;
    ensure!(model.labels().eq(["book_flight", "cancel_booking"]), "labels differ");
    let need = arena_bytes(&model, model.tokenizer().settings.max_len);
    ensure!(need <= ARENA, "arena {need} bytes, the test has {ARENA}");
    let mut arena = [0u8; ARENA];
    let Ok(mut engine) = Engine::new(&model, &mut arena[..need]) else {
        return Err(Failure::new(format_args!("Engine::new refused {need} bytes")));
    };
    match engine.classify("please book a flight") {
        Ok(result) => ensure!(result.label < 2 && result.tokens == 6, "label {} of {} tokens", result.label, result.tokens),
        Err(e) => return Err(Failure::new(format_args!("classify: {e}"))),
    }
    Ok(())
}

/// `Engine::new` refuses an arena one byte short of `arena_bytes`, saying how much it needs.
pub fn arena_one_byte_short_is_refused() -> Outcome {
    let model = tiny()?;
    let need = arena_bytes(&model, model.tokenizer().settings.max_len);
    let mut arena = [0u8; ARENA];
    let got = need - 1;
    let result = Engine::new(&model, &mut arena[..got]).err();
    ensure!(result == Some(ClassifyError::ArenaTooSmall { need, got }), "{got} bytes: {result:?}");
    Ok(())
}

/// Every prefix of the blob is refused as truncated or corrupt.
pub fn truncated_blobs_are_refused() -> Outcome {
    for len in 0..TINY_LEN {
        match Model::from_bytes(&TINY.0[..len]) {
            Err(FormatError::Truncated { .. } | FormatError::BadChecksum { .. }) => {}
            other => ensure!(false, "{len} bytes: {:?}", other.map(|_| ())),
        }
    }
    Ok(())
}

/// A flipped bit is a bad magic, a bad version, or else a bad checksum.
pub fn flipped_bits_are_refused() -> Outcome {
    let mut blob = tiny_copy();
    // Every bit of the preamble and the header, then one bit in every 7th byte after them.
    for bit in (0..64 * 8).chain((64 * 8..TINY_LEN * 8).step_by(7 * 8 + 1)) {
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        blob.0[byte] ^= mask;
        let result = Model::from_bytes(&blob.0).map(|_| ());
        blob.0[byte] ^= mask;
        // The magic and the version are read before the CRC, and named.
        let expected = match byte {
            0..4 => matches!(result, Err(FormatError::BadMagic)),
            4..6 => matches!(result, Err(FormatError::UnsupportedVersion { .. })),
            _ => matches!(result, Err(FormatError::BadChecksum { .. })),
        };
        ensure!(expected, "bit {bit}: {result:?}");
    }
    Ok(())
}

/// Another format version, resealed, is refused by name with the version found.
pub fn wrong_versions_are_named() -> Outcome {
    let mut blob = tiny_copy();
    for found in [0, 2, FORMAT_VERSION + 1, u16::MAX] {
        blob.0[4..6].copy_from_slice(&found.to_le_bytes());
        reseal(&mut blob.0);
        let result = Model::from_bytes(&blob.0).map(|_| ());
        ensure!(
            result == Err(FormatError::UnsupportedVersion { found, supported: FORMAT_VERSION }),
            "version {found}: {result:?}"
        );
    }
    Ok(())
}

/// Past the CRC every check must hold on its own: damage the preamble, header and tensor table
/// (where the structure is), reseal, parse, and run whatever parses.
pub fn resealed_damage_never_panics() -> Outcome {
    // The preamble's header length and tensor count say where the tensor table ends.
    let word = |at: usize| u32::from_le_bytes([TINY.0[at], TINY.0[at + 1], TINY.0[at + 2], TINY.0[at + 3]]) as usize;
    let structure_end = (16 + word(8)).next_multiple_of(4) + word(12) * 12;
    let mut blob = tiny_copy();
    let mut arena = [0u8; ARENA];
    let (mut tried, mut parsed) = (0, 0);
    for byte in 6..structure_end {
        for flip in [0x01u8, 0x80, 0xff] {
            blob.0[byte] ^= flip;
            reseal(&mut blob.0);
            tried += 1;
            if let Ok(model) = Model::from_bytes(&blob.0) {
                parsed += 1;
                let labels = model.config().num_labels;
                if let Ok(mut engine) = Engine::new(&model, &mut arena) {
                    if let Ok(result) = engine.classify("book a flight") {
                        ensure!(result.label < labels, "byte {byte} ^ {flip:#x}: label {} of {labels}", result.label);
                    }
                }
            }
            blob.0[byte] ^= flip;
        }
    }
    ensure!(parsed < tried, "all {tried} damaged blobs parsed");
    Ok(())
}

/// `max_position_embeddings = 2^29` makes the position table and its pairs 2^32 bytes each:
/// 0 on a 32-bit core, where the tensor table agrees. It must be refused everywhere.
pub fn wrapping_sizes_are_refused() -> Outcome {
    let result = Model::from_bytes(&WRAPPING.0).map(|_| ());
    let refused = matches!(
        result,
        Err(FormatError::Config(ConfigError::TooLarge { field: "max_position_embeddings", .. }))
    );
    ensure!(refused, "{result:?}");
    Ok(())
}
