//! Picks the board's memory script, checks that the model fits (sizes from
//! `firmware/boards.txt`), exports blob and cases paths.

fn main() {
    let board = fw_build::registry::this_board();
    fw_build::linker_script(&format!("memory-{}.x", board.name), "memory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    fw_build::blob_section();
    fw_build::check_model_fits(&board, &fw_build::model());
    fw_build::cases();
}
