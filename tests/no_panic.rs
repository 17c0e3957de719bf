//! No panic is reachable from `Model::from_bytes`, the tokenizer or the whole classification
//! (`Engine::new` + `classify_bytes`: tokenizer, int8 forward pass, head), proved at link
//! time; a second test counts and locates panic sites, to say where one came back.
//!
//! `tests/no-panic` holds bare-metal programs built for `thumbv7em-none-eabihf` with LTO and
//! opt-level s, on inputs the optimiser cannot see, twice: with the target's own kernels
//! (`ArmDsp`) and with the portable ones (`CONVBERT_KERNELS=generic`, what the cores without a
//! kernel of their own run). By default their panic handler calls a
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

const TARGET: &str = "thumbv7em-none-eabihf";

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

/// The two kernel choices the probes are built with: (`CONVBERT_KERNELS`, target folder).
const KERNELS: [(&str, &str); 2] = [("native", "target/no-panic"), ("generic", "target/no-panic-generic")];

fn build_probe((kernels, folder): (&str, &str), args: &[&str]) -> Build {
    let root = repo_root();
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .env("CONVBERT_KERNELS", kernels)
        .args(["build", "--release", "--message-format=json-render-diagnostics", "--target", TARGET])
        .args(args)
        .arg("--manifest-path")
        .arg(root.join("tests/no-panic/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join(folder))
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

/// The `Location` record at `address`, if it is one: on a 32-bit target, the file name's
/// address and length, then line and column, each a `u32`.
fn location_at(elf: &object::File<'_>, address: u64) -> Option<Site> {
    let words: Vec<u32> = bytes_at(elf, address, 16)?.chunks(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect();
    let (name_address, name_len, line, column) = (words[0], words[1], words[2], words[3]);
    if name_len == 0 || name_len > 4096 || line == 0 || column == 0 {
        return None;
    }
    let file = std::str::from_utf8(bytes_at(elf, name_address.into(), name_len.into())?).ok()?;
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
        sites.extend(location_at(&elf, symbol.address()));
    }
    sites
}

fn list(sites: &BTreeSet<Site>) -> String {
    sites.iter().map(|site| format!("\n  {site}")).collect()
}

#[test]
fn parsing_and_classifying_link_without_a_panic_handler() {
    let _build = PROBE_BUILD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for kernels in KERNELS {
        // The trap works: one reachable panic fails the link, naming the missing symbol.
        let canary = build_probe(kernels, &["--bin", "canary"]);
        assert!(!canary.ok && canary.errors.contains("a_panic_is_reachable"), "the canary linked:\n{}", canary.errors);

        for program in ["parse", "classify"] {
            let build = build_probe(kernels, &["--bin", program]);
            assert!(
                build.ok,
                "a panic is reachable from the `{program}` probe with {} kernels (sites: `cargo test \
                 --test no_panic panic_sites -- --nocapture`):\n{}",
                kernels.0,
                build.errors
            );
        }
    }
}

#[test]
fn panic_sites_of_the_forward_pass_are_counted() {
    let _build = PROBE_BUILD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for kernels in KERNELS {
        let build = build_probe(kernels, &["--features", "count-sites"]);
        assert!(build.ok, "building the probe failed: is `rustup target add {TARGET}` done?\n{}", build.errors);
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
        let k = kernels.0;
        println!("{k} kernels: Model::from_bytes + tokenizer: {} panic sites{}", parse.len(), list(&parse));
        println!("{k} kernels: Engine::new + classify (whole path): {} panic sites{}", classify.len(), list(&classify));
        assert!(parse.is_empty(), "{k} kernels: panic sites reachable from Model::from_bytes or the tokenizer:{}", list(&parse));
        assert!(classify.is_empty(), "{k} kernels: panic sites reachable from Engine::new or classify:{}", list(&classify));
    }
}
