//! Turns the committed Hugging Face tokenizer goldens into Rust statics for the tokenizer tests:
//! the uncased vocabulary with its index (built here by `Vocab::build_index`, so a board keeps
//! it in flash instead of building it in RAM), and every hard string with `BertTokenizerFast`'s
//! ids (`tests/golden/tokenizer/`, made by `tools/golden/make_tokenizer_golden.py`).
//! Also writes the blobs of the hostile-blob tests ([`blobs`]) and the fuzz seeds' blobs with
//! the host's results ([`fuzz_seeds`]).

#[path = "build/blobs.rs"]
mod blobs;
#[path = "build/fuzz_seeds.rs"]
mod fuzz_seeds;

use convbert::tokenizer::Vocab;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn read(path: &Path) -> String {
    println!("cargo:rerun-if-changed={}", path.display());
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn main() {
    let golden = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("../golden/tokenizer");
    let golden = fs::canonicalize(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    let vocab_path = golden.join("vocab-uncased.txt");
    let vocab_text = read(&vocab_path);
    let n = Vocab::token_count(&vocab_text);
    let (mut offsets, mut sorted) = (vec![0u32; n + 1], vec![0u32; n]);
    Vocab::build_index(&vocab_text, &mut offsets, &mut sorted).expect("the golden vocabulary is valid");

    let texts: Vec<String> = read(&golden.join("hard_strings.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("hard_strings.jsonl: one JSON string per line"))
        .collect();
    let ids = read(&golden.join("hard-uncased.ids"));
    let encodings: Vec<&str> = ids.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(texts.len(), encodings.len(), "hard_strings.jsonl and hard-uncased.ids disagree");

    let mut code = String::new();
    writeln!(code, "/// `vocab-uncased.txt`.\npub static VOCAB_TEXT: &str = include_str!({:?});", vocab_path.display().to_string()).unwrap();
    writeln!(code, "/// Its line offsets.\npub static VOCAB_OFFSETS: [u32; {}] = {offsets:?};", offsets.len()).unwrap();
    writeln!(code, "/// Its ids in token order.\npub static VOCAB_SORTED: [u32; {}] = {sorted:?};", sorted.len()).unwrap();
    writeln!(code, "/// `max_length` of the golden encodings.\npub const MAX_LEN: usize = {MAX_LEN};").unwrap();
    writeln!(code, "/// (text, truncated, ids) from `BertTokenizerFast`.").unwrap();
    writeln!(code, "pub static HARD_STRINGS: [(&str, bool, &[u32]); {}] = [", texts.len()).unwrap();
    for (text, encoding) in texts.iter().zip(encodings) {
        let mut fields = encoding.split(' ');
        let truncated = fields.next() == Some("1");
        let ids: Vec<u32> = fields.map(|v| v.parse().expect("an id")).collect();
        writeln!(code, "    ({text:?}, {truncated}, &{ids:?}),").unwrap();
    }
    writeln!(code, "];").unwrap();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("tokenizer_golden.rs"), code).unwrap();
    write_blobs(&out);
    fuzz_seeds::write(&out);
}

/// `blobs.rs`: each blob as a 16-byte aligned static, as `Model::from_bytes` wants it.
fn write_blobs(out: &Path) {
    println!("cargo:rerun-if-changed=build/blobs.rs");
    let mut code = String::new();
    let tiny = blobs::blob(&blobs::tiny_config());
    writeln!(code, "/// Bytes of [`TINY`] (the size of a copy to damage).\npub const TINY_LEN: usize = {};", tiny.len()).unwrap();
    let blobs = [
        ("TINY", "A valid one-layer model of width 8.", tiny),
        ("WRAPPING", "`TINY` with size products that wrap to 0 on 32 bits.", blobs::blob(&blobs::wrapping_config())),
    ];
    for (name, doc, bytes) in blobs {
        let file = out.join(format!("{}.cbq", name.to_lowercase()));
        fs::write(&file, &bytes).unwrap();
        let path = file.display().to_string();
        writeln!(code, "/// {doc}\npub static {name}: &Aligned<[u8]> = &Aligned(*include_bytes!({path:?}));").unwrap();
    }
    fs::write(out.join("blobs.rs"), code).unwrap();
}

/// `max_length` of the golden encodings (the header line of the `.ids` files says so).
const MAX_LEN: usize = 128;
