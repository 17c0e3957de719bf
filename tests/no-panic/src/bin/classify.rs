//! The whole inference path on inputs of unknown content: a blob, an arena, a text.
//! `tests/no_panic.rs` counts the panic sites left in it (built with `count-sites`).
#![no_std]
#![no_main]

use convbert::int8::{Engine, Model};
use convbert_no_panic_probe::{opaque, opaque_bytes};

#[no_mangle]
extern "C" fn _start() -> ! {
    let mut arena = [0u8; 4096];
    if let Ok(model) = Model::from_bytes(opaque_bytes()) {
        if let Ok(mut engine) = Engine::new(&model, opaque(&mut arena[..])) {
            let _ = opaque(engine.classify_bytes(opaque_bytes()).map(|result| (result.label, result.score_q15)));
        }
    }
    loop {}
}
