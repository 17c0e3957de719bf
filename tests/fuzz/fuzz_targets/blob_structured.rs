#![no_main]
// See convbert_fuzz_checks::blob_structured for what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| convbert_fuzz_checks::blob_structured(data));
