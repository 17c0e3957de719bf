//! Replays every committed fuzz seed (`tests/fuzz/corpus/<target>/*`) through the same checks
//! the fuzz targets run, as an ordinary deterministic test; `tools/fuzz.sh` runs the fuzzers.

use convbert_fuzz_checks::TARGETS;
use convbert_tests::repo_root;

#[test]
fn every_corpus_file_passes_its_target() {
    let corpus = repo_root().join("tests/fuzz/corpus");
    for (target, check) in TARGETS {
        let mut files: Vec<_> = std::fs::read_dir(corpus.join(target))
            .unwrap_or_else(|e| panic!("{target}: {e}"))
            .map(|entry| entry.expect("a readable corpus folder").path())
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{target}: only {} seeds", files.len());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails its check (message above)", file.display());
        }
    }
}
