//! Linker scripts (aarch64-rt's image.ld + our memory.ld), fit check (sizes from
//! `firmware/boards.txt`: the 64 MiB image split between the blob and the data), blob and
//! cases paths.

fn main() {
    let board = fw_build::registry::this_board();
    fw_build::linker_script("memory.ld", "memory.ld");
    println!("cargo:rustc-link-arg-bins=-Timage.ld");
    println!("cargo:rustc-link-arg-bins=-Tmemory.ld");
    fw_build::check_model_fits(&board, &fw_build::model());
    fw_build::cases();
}
