//! The board registry, `firmware/boards.txt` (its header comment explains the columns), for
//! build scripts and host tests. The shell scripts read the same file through `boards.sh`.

use std::env;

/// The registry's text, compiled in: a change to it rebuilds this crate and its users.
const REGISTRY: &str = include_str!("../../boards.txt");

/// One line of the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    pub name: String,
    pub crate_name: String,
    /// An emulator board (`qemu`) or one on desks (`real`).
    pub real: bool,
    pub target: String,
    pub cpu: String,
    pub core: String,
    pub feature: Option<String>,
    /// `qemu-system-<this>`, `None` when QEMU does not emulate the board.
    pub qemu: Option<String>,
    pub console: String,
    pub programs: Vec<String>,
    pub blob_room: usize,
    pub ram: usize,
    pub stack: usize,
}

impl Board {
    /// Whether it builds `program` (demo, conformance, unit-tests).
    pub fn has(&self, program: &str) -> bool {
        self.programs.iter().any(|p| p == program)
    }
}

/// Every board, in the registry's order.
pub fn boards() -> Vec<Board> {
    let mut lines = REGISTRY.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("boards.txt has a header line").split_whitespace().collect();
    lines
        .map(|line| {
            let values: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(values.len(), header.len(), "boards.txt: a value per column in: {line}");
            let get = |column: &str| {
                let i = header.iter().position(|&c| c == column).unwrap_or_else(|| panic!("boards.txt has no column {column}"));
                values[i]
            };
            let optional = |column: &str| Some(get(column)).filter(|&v| v != "-").map(str::to_owned);
            let bytes = |column: &str| size(get(column)).unwrap_or_else(|| panic!("boards.txt: {column} of {}: not a size", get("board")));
            Board {
                name: get("board").to_owned(),
                crate_name: get("crate").to_owned(),
                real: get("kind") == "real",
                target: get("target").to_owned(),
                cpu: get("cpu").to_owned(),
                core: get("core").to_owned(),
                feature: optional("feature"),
                qemu: optional("qemu"),
                console: get("console").to_owned(),
                programs: get("programs").split(',').map(str::to_owned).collect(),
                blob_room: bytes("blob_room"),
                ram: bytes("ram"),
                stack: bytes("stack"),
            }
        })
        .collect()
}

/// `16K`, `4M`, `2048M` or plain bytes.
fn size(text: &str) -> Option<usize> {
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 1 << 10),
        b'M' => (&text[..text.len() - 1], 1 << 20),
        b'G' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

/// The board a build script is building: its crate's line whose feature is enabled; where
/// several share a crate and no feature (the aarch64 virt boards), the one whose cpu the
/// build's `-C target-cpu` names.
pub fn this_board() -> Board {
    let crate_name = env::var("CARGO_PKG_NAME").expect("run from build.rs");
    let rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let enabled = |feature: &str| env::var_os(format!("CARGO_FEATURE_{}", feature.to_uppercase().replace('-', "_"))).is_some();
    let candidates: Vec<Board> = boards()
        .into_iter()
        .filter(|b| b.crate_name == crate_name && b.feature.as_deref().is_none_or(enabled))
        .collect();
    let chosen: Vec<&Board> = match &candidates[..] {
        [one] => vec![one],
        many => many.iter().filter(|b| rustflags.split('\x1f').any(|f| f.trim_start_matches("-C") == format!("target-cpu={}", b.cpu))).collect(),
    };
    match chosen[..] {
        [board] => board.clone(),
        _ => panic!(
            "{crate_name}: cannot tell which board of firmware/boards.txt this build is for (enable one board feature, or pass -C target-cpu); candidates: {}",
            candidates.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses() {
        let boards = boards();
        assert!(boards.iter().any(|b| b.name == "mps3-an547" && b.blob_room == 2048 << 20 && b.stack == 16 << 10));
        assert!(boards.iter().all(|b| b.stack < b.ram));
    }
}
