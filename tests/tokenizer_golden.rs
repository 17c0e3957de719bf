//! The tokenizer against Hugging Face's `BertTokenizerFast`, id for id.
//!
//! `tools/golden/make_tokenizer_golden.py` recorded the ids of every SNIPS and CLINC150
//! utterance (all splits, uncased vocabulary) and of every string of `hard_strings.jsonl`
//! (uncased and cased), at max_length 128 with truncation. Every one must match exactly,
//! truncation flag included. A second test hashes, block by block, what normalisation and
//! pre-tokenization make of every Unicode scalar value under each casing/accent setting.

use convbert::tokenizer::{Tokenizer, TokenizerSettings, Vocab, Word};
use convbert_tests::{dataset, golden};
use std::ops::ControlFlow;

const MAX_LEN: usize = 128;
const SHOWN_FAILURES: usize = 5;

/// A vocabulary from `tests/golden/tokenizer/`, indexed in leaked host memory.
fn vocab(name: &str) -> Vocab<'static> {
    let path = golden(&format!("tokenizer/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text: &'static str = Box::leak(text.into_boxed_str());
    let n = Vocab::token_count(text);
    let offsets = Box::leak(vec![0; n + 1].into_boxed_slice());
    let sorted = Box::leak(vec![0; n].into_boxed_slice());
    Vocab::build_index(text, offsets, sorted).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Lines of a text file, without the newline that ends the last one.
fn lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    assert_eq!(lines.pop().as_deref(), Some(""), "{} must end with a newline", path.display());
    lines
}

/// One recorded encoding: `<truncated 0|1> <id> ...`.
#[derive(Debug, PartialEq)]
struct Expected {
    truncated: bool,
    ids: Vec<u32>,
}

fn expected(name: &str) -> Vec<Expected> {
    lines(&golden(&format!("tokenizer/{name}")))
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut fields = l.split(' ');
            let truncated = fields.next() == Some("1");
            Expected { truncated, ids: fields.map(|f| f.parse().expect("an id")).collect() }
        })
        .collect()
}

/// Matches of one input set.
struct Tally {
    name: &'static str,
    same: usize,
    total: usize,
    failures: Vec<String>,
}

fn compare(name: &'static str, tokenizer: &Tokenizer<'_>, texts: &[String], expected: &[Expected]) -> Tally {
    assert_eq!(texts.len(), expected.len(), "{name}: golden ids out of step with the inputs");
    let mut tally = Tally { name, same: 0, total: texts.len(), failures: Vec::new() };
    let mut ids = [0u32; MAX_LEN];
    for (text, want) in texts.iter().zip(expected) {
        let got = match tokenizer.encode(text, &mut ids) {
            Ok(enc) => Expected { truncated: enc.truncated, ids: ids[..enc.len].to_vec() },
            Err(e) => panic!("{name}: {text:?}: {e}"),
        };
        if got == *want {
            tally.same += 1;
        } else if tally.failures.len() < SHOWN_FAILURES {
            tally.failures.push(format!("{name}: {text:?}\n  ours {got:?}\n  HF   {want:?}"));
        }
    }
    tally
}

fn utterances(rel: &str) -> Vec<String> {
    lines(&dataset(rel)).into_iter().map(|l| l.split_once('\t').expect("label<TAB>text").1.to_owned()).collect()
}

#[test]
fn ids_match_hugging_face() {
    let uncased = Tokenizer::new(vocab("vocab-uncased.txt"), TokenizerSettings::uncased(MAX_LEN));
    let cased = Tokenizer::new(vocab("vocab-cased.txt"), TokenizerSettings::cased(MAX_LEN));

    let mut tallies = Vec::new();
    for (name, dir) in [("snips", "snips"), ("clinc150", "clinc150")] {
        let (mut texts, mut want) = (Vec::new(), Vec::new());
        for split in ["train", "valid", "test"] {
            texts.extend(utterances(&format!("{dir}/{split}.tsv")));
            want.extend(expected(&format!("{dir}-{split}.ids")));
        }
        tallies.push(compare(name, &uncased, &texts, &want));
    }
    let hard: Vec<String> = lines(&golden("tokenizer/hard_strings.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON string per line"))
        .collect();
    tallies.push(compare("hard strings uncased", &uncased, &hard, &expected("hard-uncased.ids")));
    tallies.push(compare("hard strings cased", &cased, &hard, &expected("hard-cased.ids")));

    let same: usize = tallies.iter().map(|t| t.same).sum();
    let total: usize = tallies.iter().map(|t| t.total).sum();
    let parts: Vec<String> = tallies.iter().map(|t| format!("{} {}/{}", t.name, t.same, t.total)).collect();
    println!("tokenizer: {same}/{total} strings identical to HF ({})", parts.join(", "));
    for failure in tallies.iter().flat_map(|t| &t.failures) {
        println!("{failure}");
    }
    assert_eq!(same, total, "tokenizer differs from Hugging Face");
}

/// FNV-1a, 64 bits: small, and the Python side needs no extra package.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

#[test]
fn every_code_point_normalizes_like_hugging_face() {
    let vocab = vocab("vocab-uncased.txt");
    let mut blocks = 0;
    let mut failures = Vec::new();
    for line in lines(&golden("tokenizer/codepoints.fnv")).iter().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        let [lowercase, strip, start, hash] = f[..] else { panic!("bad line {line:?}") };
        let settings =
            TokenizerSettings { lowercase: lowercase == "1", strip_accents: Some(strip == "1"), max_len: MAX_LEN };
        let tokenizer = Tokenizer::new(vocab, settings);
        let start = u32::from_str_radix(start, 16).unwrap();
        let mut fnv = Fnv(0xcbf2_9ce4_8422_2325);
        for c in (start..start + 0x1000).filter_map(char::from_u32) {
            let _ = tokenizer.pre_tokenize::<()>(&format!("a{c}b"), |word| {
                match word {
                    Word::Text(w) => fnv.write(w.as_bytes()),
                    other => panic!("U+{:04X}: unexpected {other:?}", u32::from(c)),
                }
                fnv.write(&[0xff]);
                ControlFlow::Continue(())
            });
            fnv.write(&[0xfe]);
        }
        blocks += 1;
        if format!("{:016x}", fnv.0) != hash {
            failures.push(format!("lowercase {lowercase} strip_accents {strip}: block U+{start:04X}"));
        }
    }
    println!("code points: {}/{blocks} blocks of 4096 normalize and split identically to HF", blocks - failures.len());
    for failure in failures.iter().take(SHOWN_FAILURES) {
        println!("  differs: {failure}");
    }
    assert!(failures.is_empty());
}
