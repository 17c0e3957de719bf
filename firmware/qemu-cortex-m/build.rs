//! Picks the board's memory script, checks that the model fits, exports blob and cases paths.

/// One QEMU board: its memory script and the sizes the fit check needs.
struct Board {
    name: &'static str,
    memory: &'static str,
    /// Region holding the blob, and its size.
    blob_region: (&'static str, usize),
    /// Data RAM for .data/.bss (arena included) and the stack.
    ram: usize,
    /// Stack reserved in RAM.
    stack: usize,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// Code and constants besides the blob: upper bounds (the linker has the last word). The small
/// boards are built with opt-level "s" (build.sh): about 40 KiB of code instead of 85.
const CODE_MARGIN: usize = 128 * KIB;
const SMALL_CODE_MARGIN: usize = 48 * KIB;
const STACK: usize = 16 * KIB;
const SMALL_STACK: usize = 4 * KIB;

const BOARDS: &[(&str, Board)] = &[
    ("MPS2_AN386", Board { name: "mps2-an386", memory: "memory-mps2-an386.x", blob_region: ("FLASH (less 128 KiB for code)", 4 * MIB - CODE_MARGIN), ram: 4 * MIB, stack: STACK }),
    ("MPS2_AN500", Board { name: "mps2-an500", memory: "memory-mps2-an500.x", blob_region: ("FLASH (less 128 KiB for code)", 4 * MIB - CODE_MARGIN), ram: 4 * MIB, stack: STACK }),
    ("MPS2_AN505", Board { name: "mps2-an505", memory: "memory-mps2-an505.x", blob_region: ("FLASH (less 128 KiB for code)", 4 * MIB - CODE_MARGIN), ram: 4 * MIB, stack: STACK }),
    ("MPS3_AN547", Board { name: "mps3-an547", memory: "memory-mps3-an547.x", blob_region: ("DDR", 2048 * MIB), ram: 512 * KIB, stack: STACK }),
    ("LM3S6965", Board { name: "lm3s6965", memory: "memory-lm3s6965.x", blob_region: ("FLASH (less 48 KiB for code)", 256 * KIB - SMALL_CODE_MARGIN), ram: 64 * KIB, stack: SMALL_STACK }),
    ("MICROBIT", Board { name: "microbit", memory: "memory-microbit.x", blob_region: ("FLASH (less 48 KiB for code)", 256 * KIB - SMALL_CODE_MARGIN), ram: 16 * KIB, stack: SMALL_STACK }),
];

fn main() {
    let chosen: Vec<&Board> = BOARDS
        .iter()
        .filter(|(feature, _)| std::env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
        .map(|(_, b)| b)
        .collect();
    let [board] = chosen[..] else {
        panic!("enable exactly one board feature: mps2-an386, mps2-an500, mps2-an505, mps3-an547, lm3s6965, microbit");
    };
    fw_build::linker_script(board.memory, "memory.x");
    fw_build::linker_script("blob.x", "blob.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tblob.x");

    let model = fw_build::model();
    fw_build::check_fits(board.name, "the model blob", model.blob_len, board.blob_region.0, board.blob_region.1);
    fw_build::check_fits(board.name, "the arena and the stack", model.arena_bytes + board.stack, "RAM", board.ram);
    fw_build::cases();
}
