//! Linker scripts (aarch64-rt's image.ld + our memory.ld), fit check, blob and cases paths.

/// `image` in memory.ld; QEMU runs with `-m 256M`.
const IMAGE: usize = 64 * 1024 * 1024;
/// Code, stack (aarch64-rt reserves 160 KiB) and page tables: a generous bound.
const MARGIN: usize = 1024 * 1024;

fn main() {
    fw_build::linker_script("memory.ld", "memory.ld");
    println!("cargo:rustc-link-arg-bins=-Timage.ld");
    println!("cargo:rustc-link-arg-bins=-Tmemory.ld");
    let model = fw_build::model();
    fw_build::check_fits("qemu virt", "the blob, the arena and the code", model.blob_len + model.arena_bytes + MARGIN, "image", IMAGE);
    fw_build::cases();
}
