//! memory.x, the blob section, defmt's linker script and the fit checks (sizes from
//! `firmware/boards.txt`): `fw_build::real_board`. The linker's region checks catch the rest.

fn main() {
    fw_build::real_board();
}
