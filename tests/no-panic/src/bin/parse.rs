//! `Model::from_bytes` and the tokenizer, on inputs of unknown content: must link with the
//! default panic handler, which proves that no panic is reachable from them.
#![no_std]
#![no_main]

use convbert::int8::Model;
use convbert::tokenizer::{Tokenizer, TokenizerSettings, Vocab};
use convbert_no_panic_probe::{opaque, opaque_bytes, opaque_words};

#[no_mangle]
extern "C" fn _start() -> ! {
    let mut ids = [0u32; 32];
    // A blob, then text through the tokenizer stored with it.
    if let Ok(model) = Model::from_bytes(opaque_bytes()) {
        opaque(&model);
        let _ = opaque(model.tokenizer().encode_bytes(opaque_bytes(), opaque(&mut ids[..])));
    }
    // A vocabulary given at run time, with any settings.
    if let Ok(text) = core::str::from_utf8(opaque_bytes()) {
        if let Ok(vocab) = Vocab::new(text, opaque_words(), opaque_words()) {
            let settings =
                TokenizerSettings { lowercase: opaque(false), strip_accents: opaque(None), max_len: opaque(0) };
            let _ = opaque(Tokenizer::new(vocab, settings).encode_bytes(opaque_bytes(), opaque(&mut ids[..])));
        }
    }
    loop {}
}
