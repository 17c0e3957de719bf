//! The board registry (`firmware/boards.txt`) agrees with what it describes: every board's
//! crate, Cargo feature, chip file and memory script exist, no crate has a board feature the
//! registry lacks, and a real board's `.cargo/config.toml` targets what the registry says.

use convbert_tests::repo_root;
use fw_build::registry::boards;

/// The `[features]` names of a crate's Cargo.toml (`name = [...]` lines of that table).
fn features(manifest: &str) -> Vec<String> {
    let table = manifest.split("[features]").nth(1).unwrap_or("");
    let table = table.split("\n[").next().unwrap_or("");
    table
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim().to_owned()))
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn every_board_has_its_crate_feature_and_memory_map() {
    let firmware = repo_root().join("firmware");
    let boards = boards();
    for board in &boards {
        let crate_dir = firmware.join(&board.crate_name);
        let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap_or_else(|e| panic!("{}: crate {}: {e}", board.name, board.crate_name));
        if let Some(feature) = &board.feature {
            assert!(features(&manifest).contains(feature), "{}: {} has no feature {feature}", board.name, board.crate_name);
            let chip = crate_dir.join("src/chips").join(format!("{}.rs", feature.replace('-', "_")));
            assert!(chip.exists(), "{}: no {}", board.name, chip.display());
            let memory = crate_dir.join(format!("memory-{}.x", board.name));
            assert!(memory.exists(), "{}: no {}", board.name, memory.display());
        }
        if board.real {
            let config = std::fs::read_to_string(crate_dir.join(".cargo/config.toml")).unwrap();
            assert!(config.contains(&format!("[target.{}]", board.target)), "{}: .cargo/config.toml does not target {}", board.name, board.target);
            assert!(config.contains(&format!("target-cpu={}", board.cpu)), "{}: .cargo/config.toml does not set target-cpu={}", board.name, board.cpu);
            assert!(config.contains("runner = \"probe-rs run"), "{}: no probe-rs runner", board.name);
        }
    }
    // No board feature outside the registry (the `_`-prefixed ones are capabilities; one named
    // after a program is that program's, as `update`'s heap).
    let is_program = |feature: &str| boards.iter().any(|b| b.has(feature));
    for crate_name in ["qemu-cortex-m"] {
        let manifest = std::fs::read_to_string(firmware.join(crate_name).join("Cargo.toml")).unwrap();
        for feature in features(&manifest).into_iter().filter(|f| !f.starts_with('_') && !is_program(f)) {
            assert!(boards.iter().any(|b| b.feature.as_deref() == Some(&feature)), "{crate_name}: feature {feature} is not in firmware/boards.txt");
        }
    }
}
