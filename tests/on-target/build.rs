//! Turns the committed Hugging Face tokenizer goldens into Rust statics for the tokenizer tests:
//! the uncased vocabulary with its index (built here by `Vocab::build_index`, so a board keeps
//! it in flash instead of building it in RAM), and every hard string with `BertTokenizerFast`'s
//! ids (`tests/golden/tokenizer/`, made by `tools/golden/make_tokenizer_golden.py`).

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
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("tokenizer_golden.rs");
    fs::write(out, code).unwrap();
}

/// `max_length` of the golden encodings (the header line of the `.ids` files says so).
const MAX_LEN: usize = 128;
