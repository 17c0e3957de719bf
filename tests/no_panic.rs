//! No panic is reachable from `Model::from_bytes`, the tokenizer or the whole classification
//! (`Engine::new` + `classify_bytes`: tokenizer, int8 forward pass, head), proved at link
//! time; a second test counts and locates panic sites, to say where one came back.
//!
//! `tests/no-panic` holds bare-metal programs built with LTO and opt-level s, on inputs the
//! optimiser cannot see, five times: for `thumbv7em-none-eabihf` with the target's own kernels
//! (`ArmDsp`) and with the portable ones (`CONVBERT_KERNELS=generic`, what the cores without a
//! kernel of their own run), for the Cortex-M55 with its Helium kernels (`ArmMve`), and for
//! AArch64 with the NEON kernels without and with the dot product (`ArmNeon`, Cortex-A53 and
//! A76). By default their panic handler calls a
//! symbol defined nowhere, so a program links only if no panic path survived optimisation.
//! With the `count-sites` feature the handler is an ordinary loop that reads the panic's
//! location; every site then leaves a `core::panic::Location` record (file, line, column) in
//! the image, referenced from the code, and this test reads them back.

use convbert_tests::repo_root;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;


/// Both tests build into one target folder, where a build overwrites the other's programs:
/// each holds this from its build until it has read what it built.
static PROBE_BUILD: Mutex<()> = Mutex::new(());

/// What one `cargo build` of the probe gave: whether it succeeded, its rendered errors, and the
/// path of each program it linked.
struct Build {
    ok: bool,
    errors: String,
    programs: Vec<(String, PathBuf)>,
}

/// A build of the probes: the kernels it links, and how.
struct ProbeBuild {
    /// What the messages call it.
    name: &'static str,
    /// `CONVBERT_KERNELS`: `native` (the target's own) or `generic`.
    choice: &'static str,
    target: &'static str,
    /// `-C target-cpu`, which chooses the Helium kernels.
    cpu: Option<&'static str>,
    /// Target folder, one per build so that none rebuilds another's.
    folder: &'static str,
}

const KERNELS: [ProbeBuild; 5] = [
    ProbeBuild { name: "DSP", choice: "native", target: "thumbv7em-none-eabihf", cpu: None, folder: "target/no-panic" },
    ProbeBuild { name: "portable", choice: "generic", target: "thumbv7em-none-eabihf", cpu: None, folder: "target/no-panic-generic" },
    ProbeBuild { name: "Helium", choice: "native", target: "thumbv8m.main-none-eabihf", cpu: Some("cortex-m55"), folder: "target/no-panic-mve" },
    ProbeBuild { name: "NEON", choice: "native", target: "aarch64-unknown-none", cpu: Some("cortex-a53"), folder: "target/no-panic-neon" },
    ProbeBuild { name: "NEON + SDOT", choice: "native", target: "aarch64-unknown-none", cpu: Some("cortex-a76"), folder: "target/no-panic-sdot" },
];

fn build_probe(kernels: &ProbeBuild, args: &[&str]) -> Build {
    let root = repo_root();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    if let Some(cpu) = kernels.cpu {
        cargo.env("RUSTFLAGS", format!("-C target-cpu={cpu}"));
    }
    let output = cargo
        .env("CONVBERT_KERNELS", kernels.choice)
        .args(["build", "--release", "--message-format=json-render-diagnostics", "--target", kernels.target])
        .args(args)
        .arg("--manifest-path")
        .arg(root.join("tests/no-panic/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join(kernels.folder))
        .output()
        .expect("run cargo");
    let mut programs = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let (Some(name), Some(path)) = (message["target"]["name"].as_str(), message["executable"].as_str()) {
            programs.push((name.to_owned(), PathBuf::from(path)));
        }
    }
    Build { ok: output.status.success(), errors: String::from_utf8_lossy(&output.stderr).into_owned(), programs }
}

/// A panic site: the source location a panic there would report.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Site {
    file: String,
    line: u32,
    column: u32,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Paths from the repository's root, and from the standard library's (`/rustc/<commit>/`).
        let root = repo_root().display().to_string();
        let file = match (self.file.strip_prefix(&root), self.file.find("/library/")) {
            (Some(ours), _) => ours.trim_start_matches('/'),
            (None, Some(at)) => &self.file[at + 1..],
            (None, None) => &self.file,
        };
        write!(f, "{file}:{}:{}", self.line, self.column)
    }
}

/// `len` bytes of the program's image at `address`.
fn bytes_at<'d>(elf: &object::File<'d>, address: u64, len: u64) -> Option<&'d [u8]> {
    elf.sections().find_map(|section| {
        let start = address.checked_sub(section.address())?;
        let end = start.checked_add(len)?;
        section.data().ok()?.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    })
}

/// The `Location` record at `address`, if it is one: the file name's address and length (each
/// a `u32` on a 32-bit target, a `u64` on a 64-bit one), then line and column, each a `u32`.
fn location_at(elf: &object::File<'_>, address: u64) -> Option<Site> {
    let word = if elf.is_64() { 8 } else { 4 };
    let bytes = bytes_at(elf, address, 2 * word + 8)?;
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |v, &byte| v << 8 | byte as u64);
    let (name_address, name_len) = (le(&bytes[..word as usize]), le(&bytes[word as usize..2 * word as usize]));
    let (line, column) = (le(&bytes[2 * word as usize..][..4]) as u32, le(&bytes[2 * word as usize + 4..][..4]) as u32);
    if name_len == 0 || name_len > 4096 || line == 0 || column == 0 {
        return None;
    }
    let file = std::str::from_utf8(bytes_at(elf, name_address, name_len)?).ok()?;
    file.ends_with(".rs").then(|| Site { file: file.to_owned(), line, column })
}

/// Every panic site of a program built with `count-sites`: the `Location` records its code
/// refers to.
fn panic_sites(path: &PathBuf) -> BTreeSet<Site> {
    let data = std::fs::read(path).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    let text = elf.section_by_name(".text").expect("a .text section");
    let mut sites = BTreeSet::new();
    for (_, relocation) in text.relocations() {
        let RelocationTarget::Symbol(index) = relocation.target() else { continue };
        let Ok(symbol) = elf.symbol_by_index(index) else { continue };
        // ARM's relocations name the record's symbol; AArch64's (`ADRP` + `ADD`) a section
        // symbol plus an addend.
        sites.extend(location_at(&elf, symbol.address().wrapping_add(relocation.addend() as u64)));
    }
    sites
}

fn list(sites: &BTreeSet<Site>) -> String {
    sites.iter().map(|site| format!("\n  {site}")).collect()
}

#[test]
fn parsing_and_classifying_link_without_a_panic_handler() {
    let _build = PROBE_BUILD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for kernels in &KERNELS {
        // The trap works: one reachable panic fails the link, naming the missing symbol.
        let canary = build_probe(kernels, &["--bin", "canary"]);
        assert!(!canary.ok && canary.errors.contains("a_panic_is_reachable"), "the canary linked:\n{}", canary.errors);

        for program in ["parse", "classify"] {
            let build = build_probe(kernels, &["--bin", program]);
            assert!(
                build.ok,
                "a panic is reachable from the `{program}` probe with {} kernels (sites: `cargo test \
                 --test no_panic panic_sites -- --nocapture`):\n{}",
                kernels.name,
                build.errors
            );
        }
    }
}

#[test]
fn panic_sites_of_the_forward_pass_are_counted() {
    let _build = PROBE_BUILD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for kernels in &KERNELS {
        let build = build_probe(kernels, &["--features", "count-sites"]);
        assert!(build.ok, "building the probe failed: is `rustup target add {}` done?\n{}", kernels.target, build.errors);
        let sites_of = |program: &str| {
            let (_, path) = build.programs.iter().find(|(name, _)| name == program).expect("the program was built");
            panic_sites(path)
        };

        // The counter works: it finds the canary's one site, at the indexing line.
        let canary = sites_of("canary");
        let canary_source = std::fs::read_to_string(repo_root().join("tests/no-panic/src/bin/canary.rs")).unwrap();
        let index_line = canary_source.lines().position(|l| l.contains("opaque_bytes()[")).unwrap() as u32 + 1;
        assert!(
            canary.len() == 1 && canary.iter().all(|s| s.file.ends_with("canary.rs") && s.line == index_line),
            "the canary's site was not found as canary.rs:{index_line}: {}",
            list(&canary)
        );

        let parse = sites_of("parse");
        let classify = sites_of("classify");
        let k = kernels.name;
        println!("{k} kernels: Model::from_bytes + tokenizer: {} panic sites{}", parse.len(), list(&parse));
        println!("{k} kernels: Engine::new + classify (whole path): {} panic sites{}", classify.len(), list(&classify));
        assert!(parse.is_empty(), "{k} kernels: panic sites reachable from Model::from_bytes or the tokenizer:{}", list(&parse));
        assert!(classify.is_empty(), "{k} kernels: panic sites reachable from Engine::new or classify:{}", list(&classify));
    }
}
