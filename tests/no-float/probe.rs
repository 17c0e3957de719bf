//! The whole int8 inference path, and nothing else: parse a blob, build the engine, classify
//! text. `tests/no_float.rs` builds this for `thumbv6m-none-eabi` and inspects the object.
#![no_std]

use convbert::int8::{Engine, Model};

/// Classifies `text` with the model in `blob`; returns the label, or a negative error code.
#[no_mangle]
pub fn convbert_probe(blob: &'static [u8], arena: &mut [u8], text: &[u8]) -> i32 {
    let Ok(model) = Model::from_bytes(blob) else { return -1 };
    let Ok(mut engine) = Engine::new(&model, arena) else { return -2 };
    match engine.classify_bytes(text) {
        Ok(result) => result.label as i32,
        Err(_) => -3,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
