//! memory.x + blob.x, defmt's linker script, and the fit checks: blob + code in the 2 MiB
//! flash, arena + stack in the 128 KiB DTCM. The linker's region checks catch the rest.

const KIB: usize = 1024;
/// Code and constants besides the blob: a generous upper bound (the QEMU builds use ~85 KiB).
const CODE_MARGIN: usize = 128 * KIB;
const FLASH: usize = 2048 * KIB;
const DTCM: usize = 128 * KIB;
const STACK: usize = 16 * KIB;

fn main() {
    fw_build::linker_script("memory.x", "memory.x");
    fw_build::linker_script("blob.x", "blob.x");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tblob.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    let model = fw_build::model();
    fw_build::check_fits("nucleo-h743zi", "the blob and the code", model.blob_len + CODE_MARGIN, "FLASH", FLASH);
    fw_build::check_fits("nucleo-h743zi", "the arena and the stack", model.arena_bytes + STACK, "DTCM", DTCM);
    fw_build::cases();
}
