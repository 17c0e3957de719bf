//! The committed blob seeds of the fuzz targets (`tests/fuzz/corpus/blob_*`) as the blobs those
//! targets hand to `Model::from_bytes`, with what the host engine says about each: refused (and
//! why), or, for each of the fuzz checks' texts, the classification and the hash of the hidden
//! states. `src/fuzz_seeds.rs` runs them on the device and wants the same answers.
//!
//! The fuzz checks' own files are compiled in here: the structured decoder (which needs only
//! `arbitrary`) and the texts; the checks crate as a whole would bring the checkpoint loader.

#[path = "../../fuzz/checks/src/structured.rs"]
mod structured;
#[path = "../../fuzz/checks/src/engine.rs"]
#[allow(dead_code)] // only its TEXTS: the rest is the fuzz targets' check
mod engine;
#[path = "../../fuzz/checks/src/reseal.rs"]
mod reseal;
#[path = "../src/hidden_hash.rs"]
mod hidden_hash;

use convbert::int8::format::{MAGIC, PREAMBLE_LEN};
use convbert::int8::{arena_bytes, AlignedBlob, Engine, Model};
use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

/// Seeds whose blob is larger are not embedded (flash; the device copies one to RAM to damage).
const MAX_BLOB_LEN: usize = 16 * 1024;
/// A model whose arena is larger is only parsed on the device (the arena is on its stack).
const ARENA: usize = 4 * 1024;
/// How a fuzz target turns a seed into the blob it parses (`None`: it decodes to nothing).
type ToBlob = fn(&[u8]) -> Option<Vec<u8>>;
/// The corpus folders and their targets' [`ToBlob`].
const TARGETS: [(&str, ToBlob); 3] = [
    ("blob_raw", |seed| Some(seed.to_vec())),
    ("blob_resealed", |seed| Some(reseal::reseal(seed))),
    ("blob_structured", |seed| structured::structured_blob(seed).ok()),
];

/// Whether the target runs the portable kernels, where the engine's `Native` is `Generic`
/// (`core/build.rs`: ARMv6-M and ARMv7-M have no DSP extension). The seeds test nothing there
/// that the host does not, and those boards have no flash to spare.
fn portable_kernels() -> bool {
    println!("cargo:rerun-if-env-changed=CONVBERT_KERNELS");
    let target = env::var("TARGET").unwrap_or_default();
    env::var("CONVBERT_KERNELS").is_ok_and(|k| k == "generic") || ["thumbv6m", "thumbv7m"].iter().any(|t| target.starts_with(t))
}

/// `fuzz_seeds.rs`: `TEXTS`, `ARENA`, `MAX_BLOB_LEN`, and `SEEDS` (empty on a target with the
/// portable kernels), each distinct blob once, named by the seeds that give it.
pub fn write(out: &Path) {
    println!("cargo:rerun-if-changed=build/fuzz_seeds.rs");
    let corpus = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("../fuzz/corpus");
    let mut blobs: Vec<(Vec<u8>, Vec<String>)> = Vec::new();
    for (target, to_blob) in TARGETS {
        let dir = corpus.join(target);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|f| f.unwrap().path()).collect();
        files.sort();
        for file in files {
            let name = format!("{target}/{}", file.file_name().unwrap().to_string_lossy());
            let Some(blob) = to_blob(&fs::read(&file).unwrap()).filter(|b| b.len() <= MAX_BLOB_LEN) else { continue };
            match blobs.iter_mut().find(|(b, _)| *b == blob) {
                Some((_, names)) => names.push(name),
                None => blobs.push((blob, vec![name])),
            }
        }
    }
    if portable_kernels() {
        blobs.clear();
    }

    let mut code = String::new();
    writeln!(code, "/// The fuzz checks' texts (`tests/fuzz/checks/src/engine.rs`).\npub static TEXTS: [&str; 4] = {:?};", engine::TEXTS).unwrap();
    writeln!(code, "/// Bytes of the arena on the stack; a model that needs more is only parsed.\npub const ARENA: usize = {ARENA};").unwrap();
    let longest = blobs.iter().map(|(b, _)| b.len()).max().unwrap_or(0);
    writeln!(code, "/// Bytes of the largest blob.\npub const MAX_BLOB_LEN: usize = {longest};").unwrap();
    let max_len = blobs.iter().filter_map(|(b, _)| Some(Model::from_bytes(AlignedBlob::new(b).bytes()).ok()?.tokenizer().settings.max_len)).max();
    writeln!(code, "/// The longest `max_len` of the blobs.\npub const MAX_LEN: usize = {};", max_len.unwrap_or(0)).unwrap();
    writeln!(code, "/// Every distinct blob of the seeds.\npub static SEEDS: &[Seed] = &[").unwrap();
    for (i, (blob, names)) in blobs.iter().enumerate() {
        let file = out.join(format!("fuzz-seed-{i}.cbq"));
        fs::write(&file, blob).unwrap();
        let host = host_view(blob);
        let flips = tensor_middles(blob);
        writeln!(
            code,
            "    Seed {{ files: {:?}, blob: &Aligned(*include_bytes!({:?})), host: {host}, flips: &{flips:?} }},",
            names.join(", "),
            file.display().to_string()
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
    fs::write(out.join("fuzz_seeds.rs"), code).unwrap();
}


/// What the host engine says about `blob`, as a `Host` expression.
fn host_view(blob: &[u8]) -> String {
    let aligned = AlignedBlob::new(blob);
    let model = match Model::from_bytes(aligned.bytes()) {
        Ok(model) => model,
        Err(e) => return format!("Host::Refused({:?})", format!("{e:?}")),
    };
    let need = arena_bytes(&model, model.tokenizer().settings.max_len);
    if need > ARENA {
        return "Host::Parsed".into();
    }
    let (mut arena, mut ids) = (vec![0u8; need], vec![0u32; model.tokenizer().settings.max_len]);
    let mut engine = Engine::new(&model, &mut arena).expect("an arena of arena_bytes");
    let results: Vec<String> = engine::TEXTS
        .iter()
        .map(|text| {
            let result = match engine.classify(text) {
                Ok(r) => format!(
                    "Ok(Class {{ label: {}, score_q15: {}, tokens: {}, truncated: {}, logits: &{:?} }})",
                    r.label, r.score_q15, r.tokens, r.truncated, r.logits
                ),
                Err(e) => format!("Err({:?})", format!("{e:?}")),
            };
            format!("Run {{ result: {result}, hidden: {:#010x} }}", hidden_hash::hidden_hash(&mut engine, text, &mut ids))
        })
        .collect();
    format!("Host::Classified([{}])", results.join(", "))
}

/// The middle byte of every non-empty tensor, from the tensor table (`format.rs`: after the
/// preamble and header, at a multiple of 4, entries of offset u32, length u32, dtype and 3 zeros).
fn tensor_middles(blob: &[u8]) -> Vec<usize> {
    let word = |at: usize| blob.get(at..at + 4).map_or(0, |w| u32::from_le_bytes(w.try_into().unwrap()) as usize);
    if blob.len() < PREAMBLE_LEN + 4 || blob[..4] != MAGIC {
        return Vec::new();
    }
    let table = (PREAMBLE_LEN + word(8)).next_multiple_of(4);
    (0..word(12))
        .map(|i| (word(table + 12 * i), word(table + 12 * i + 4)))
        .filter(|&(offset, len)| len > 0 && offset + len <= blob.len() - 4)
        .map(|(offset, len)| offset + len / 2)
        .collect()
}
