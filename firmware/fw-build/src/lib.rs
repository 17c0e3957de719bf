//! Build-script helpers shared by the board crates (host code, runs inside `build.rs`).
//!
//! - [`model`]: finds the blob (`CONVBERT_BLOB`), validates it with the engine's own parser,
//!   computes the exact arena size, and writes `OUT_DIR/model.rs` with `BLOB_LEN` and
//!   `ARENA_BYTES`; the crate then `include_bytes!`es `env!("CONVBERT_BLOB_PATH")`.
//!   `CONVBERT_BLOB=none` builds without a model (an empty blob and arena), for programs that
//!   need none: the unit tests.
//! - [`cases`]: the conformance cases file (`CONVBERT_CASES`), as `env!("CONVBERT_CASES_PATH")`.
//! - [`linker_script`]: embassy-style copy of a board's memory script into OUT_DIR;
//!   [`blob_section`]: the `.blob` section every board links.
//! - [`registry`]: the boards (`firmware/boards.txt`); [`check_model_fits`] checks a model
//!   against a board's memory there, with a clear build error.
//!
//! Relative paths in the env vars are taken from the `firmware/` folder.

pub mod registry;

use convbert::int8::{arena_bytes, AlignedBlob, Model};
use std::path::{Path, PathBuf};
use std::{env, fs};

/// Blob used when `CONVBERT_BLOB` is not set, relative to `firmware/`.
pub const DEFAULT_BLOB: &str = "../weights/snips-tiny.cbq";

/// The `CONVBERT_BLOB` value that builds a program without a model.
pub const NO_MODEL: &str = "none";

/// What the firmware needs to know about its model at build time.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Absolute path of the blob.
    pub path: PathBuf,
    /// Bytes in the blob.
    pub blob_len: usize,
    /// Exact arena bytes for the longest input (`max_len` tokens).
    pub arena_bytes: usize,
    /// The tokenizer's `max_len`.
    pub max_len: usize,
}

fn firmware_dir() -> PathBuf {
    Path::new(&env::var("CARGO_MANIFEST_DIR").expect("run from build.rs")).join("..")
}

fn out_dir() -> PathBuf {
    PathBuf::from(env::var("OUT_DIR").expect("run from build.rs"))
}

/// Resolves an env var holding a path (relative to `firmware/`), with rerun hints.
fn path_from_env(var: &str, default: Option<&str>) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed={var}");
    let value = env::var(var).ok().filter(|v| !v.is_empty()).or(default.map(str::to_owned))?;
    let path = firmware_dir().join(value);
    let path = fs::canonicalize(&path).unwrap_or_else(|e| panic!("{var}: cannot open {}: {e}", path.display()));
    println!("cargo:rerun-if-changed={}", path.display());
    Some(path)
}

/// Validates the model blob and exports its path and sizes to the crate being built.
pub fn model() -> ModelInfo {
    let info = if env::var("CONVBERT_BLOB").is_ok_and(|v| v == NO_MODEL) {
        println!("cargo:rerun-if-env-changed=CONVBERT_BLOB");
        let path = out_dir().join("no-model.bin");
        fs::write(&path, b"").expect("OUT_DIR is writable");
        ModelInfo { path, blob_len: 0, arena_bytes: 0, max_len: 0 }
    } else {
        let path = path_from_env("CONVBERT_BLOB", Some(DEFAULT_BLOB)).expect("a default exists");
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("CONVBERT_BLOB: {}: {e}", path.display()));
        let aligned = AlignedBlob::new(&bytes);
        let model = Model::from_bytes(aligned.bytes()).unwrap_or_else(|e| panic!("CONVBERT_BLOB: {}: {e}", path.display()));
        let max_len = model.tokenizer().settings.max_len;
        ModelInfo { blob_len: bytes.len(), arena_bytes: arena_bytes(&model, max_len), max_len, path }
    };
    let code = format!(
        "/// Bytes in the model blob ({path}).\npub const BLOB_LEN: usize = {};\n\
         /// Exact arena bytes for {max_len} tokens (`convbert::int8::arena_bytes`).\npub const ARENA_BYTES: usize = {};\n",
        info.blob_len,
        info.arena_bytes,
        path = info.path.display(),
        max_len = info.max_len,
    );
    fs::write(out_dir().join("model.rs"), code).expect("OUT_DIR is writable");
    println!("cargo:rustc-env=CONVBERT_BLOB_PATH={}", info.path.display());
    info
}

/// Exports the conformance cases file (an empty one when `CONVBERT_CASES` is not set).
pub fn cases() {
    let path = path_from_env("CONVBERT_CASES", None).unwrap_or_else(|| {
        let empty = out_dir().join("no-cases.txt");
        fs::write(&empty, b"").expect("OUT_DIR is writable");
        empty
    });
    println!("cargo:rustc-env=CONVBERT_CASES_PATH={}", path.display());
}

/// Copies the crate's linker script `src_name` to OUT_DIR as `dest_name` and puts OUT_DIR on
/// the linker search path (embassy style; the crate's own folder would shadow other crates').
pub fn linker_script(src_name: &str, dest_name: &str) {
    let src = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("run from build.rs")).join(src_name);
    fs::copy(&src, out_dir().join(dest_name)).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    println!("cargo:rustc-link-search={}", out_dir().display());
    println!("cargo:rerun-if-changed={}", src.display());
}

/// The linker script of the `.blob` output section (in the region a board's memory script
/// aliases as BLOB), in OUT_DIR and on the link line.
pub fn blob_section() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("blob.x");
    fs::copy(&script, out_dir().join("blob.x")).unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    println!("cargo:rustc-link-search={}", out_dir().display());
    println!("cargo:rustc-link-arg-bins=-Tblob.x");
}

/// The whole build script of a real board's crate (defmt over RTT, probe-rs): its memory.x,
/// cortex-m-rt's link.x, the blob section, defmt's linker script, the fit checks against the
/// registry, the cases file.
pub fn real_board() {
    let board = registry::this_board();
    linker_script("memory.x", "memory.x");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    blob_section();
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    check_model_fits(&board, &model());
    cases();
}

/// Stops the build when the model's blob or its arena (with the stack) does not fit `board`.
pub fn check_model_fits(board: &registry::Board, model: &ModelInfo) {
    check_fits(&board.name, "the model blob", model.blob_len, "its blob room (boards.txt)", board.blob_room);
    check_fits(&board.name, "the arena and the stack", model.arena_bytes + board.stack, "RAM", board.ram);
}

/// Stops the build with a clear message when `need` bytes do not fit a `have`-byte region.
fn check_fits(board: &str, what: &str, need: usize, region: &str, have: usize) {
    if need > have {
        panic!(
            "model does not fit {board}: {what} needs {need} bytes ({} KiB), {region} has {have} bytes ({} KiB). \
             Pick a board with more memory or a smaller blob (CONVBERT_BLOB).",
            need.div_ceil(1024),
            have / 1024
        );
    }
}
