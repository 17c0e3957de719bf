//! The f32 reference pass against Hugging Face transformers itself.
//!
//! `tools/golden/make_float_golden.py` builds random ConvBERT models in PyTorch (every config
//! feature: projection or not, grouped FFN, kernel sizes, activations, f32/f16/bf16 storage)
//! and records inputs, last hidden states and logits. Every output must agree within 1e-4
//! of its largest magnitude.
//!
//! Models too big to commit (`tests/golden/synthetic/<name>/`, e.g. base-1l) carry no weights,
//! only a manifest for the deterministic generator in `support.rs`; they are materialised into
//! a scratch folder as an ordinary F32 checkpoint and then loaded like the others.

use convbert_hf::Checkpoint;
use convbert_tests::{golden, materialise_synthetic, relative_max_diff, scratch_dir, synthetic_tensor, GoldenFile};
use std::path::PathBuf;

const TOLERANCE: f32 = 1e-4;

#[test]
fn float_reference_matches_hugging_face() {
    let list = |dir: &str| -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(golden(dir))
            .unwrap_or_else(|e| panic!("tests/golden/{dir}: {e}"))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let stored = list("models");
    let synthetic = list("synthetic");
    assert!(stored.len() >= 5, "expected the golden model set, found {stored:?}");
    assert!(!synthetic.is_empty(), "expected synthetic golden models (base-1l)");
    let scratch = scratch_dir("float-golden");
    // (name, checkpoint folder): stored ones in place, synthetic ones materialised into scratch.
    let mut models: Vec<(String, PathBuf)> =
        stored.into_iter().map(|n| (n.clone(), golden(&format!("models/{n}")))).collect();
    for name in synthetic {
        let dst = scratch.join(&name);
        materialise_synthetic(&golden(&format!("synthetic/{name}")), &dst).unwrap_or_else(|e| panic!("{name}: {e}"));
        models.push((name, dst));
    }

    let mut worst = (0.0f32, String::new());
    let mut cases = 0;
    for (name, dir) in &models {
        let ckpt = Checkpoint::load(dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let layers = ckpt.float_layers().unwrap();
        let model = ckpt.float_model(&layers).unwrap();
        let cases_file = GoldenFile::open(&golden(&format!("float/{name}.safetensors")));
        let lengths: Vec<String> = cases_file
            .names()
            .into_iter()
            .filter_map(|n| n.strip_suffix(".input_ids").map(String::from))
            .collect();
        for case in lengths {
            let ids = cases_file.ids(&format!("{case}.input_ids"));
            let types = cases_file.ids(&format!("{case}.token_type_ids"));
            let mut scratch = vec![0.0; model.scratch_len(ids.len())];

            let hidden = model.forward(&ids, Some(&types), &mut scratch).unwrap();
            let hidden_diff = relative_max_diff(hidden, &cases_file.f32s(&format!("{case}.last_hidden_state")));

            let mut logits = vec![0.0; ckpt.config.num_labels];
            model.classify(&ids, Some(&types), &mut scratch, &mut logits).unwrap();
            let logits_diff = relative_max_diff(&logits, &cases_file.f32s(&format!("{case}.logits")));

            println!("{name:>18} {case:>7}: hidden {hidden_diff:.2e}  logits {logits_diff:.2e}");
            for (what, diff) in [("hidden", hidden_diff), ("logits", logits_diff)] {
                assert!(diff <= TOLERANCE, "{name} {case} {what}: relative diff {diff:e} > {TOLERANCE:e}");
                if diff > worst.0 {
                    worst = (diff, format!("{name} {case} {what}"));
                }
            }
            cases += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!("float golden: {cases} cases over {} models, worst relative diff {:.2e} ({})", models.len(), worst.0, worst.1);
}

/// Values printed by the Python generator (`synthetic_values` in make_float_golden.py) and listed
/// in tools/golden/README.md, so a spec drift on either side shows up here by name.
#[test]
fn synthetic_generator_matches_python() {
    use convbert_tests::{fnv1a64, splitmix64};
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    let query = "convbert.encoder.layer.0.attention.self.query.weight";
    assert_eq!(fnv1a64(query.as_bytes()), 0xf822_5934_a086_5f03);
    // k - 512 of the first elements: value = (k - 512) * 2^-(9 + shift) (+ 1 for a gamma).
    let steps = |values: Vec<f32>, shift: i32, offset: f64| -> Vec<f64> {
        values.iter().map(|&v| (f64::from(v) - offset) * 2f64.powi(9 + shift)).collect()
    };
    assert_eq!(steps(synthetic_tensor(query, 4, 4, false), 4, 0.0), [263.0, -39.0, -49.0, -301.0]);
    let gamma = synthetic_tensor("convbert.embeddings.LayerNorm.weight", 4, 3, true);
    assert_eq!(steps(gamma, 3, 1.0), [-235.0, 208.0, 21.0, -486.0]);
    // Sum of all 6,144,000 word-embedding values (exact in f64): -6245.69921875.
    let words = synthetic_tensor("convbert.embeddings.word_embeddings.weight", 8000 * 768, 0, false);
    assert_eq!(words.iter().map(|&v| f64::from(v)).sum::<f64>(), -6245.69921875);
}

#[test]
fn bad_inputs_are_typed_errors_not_panics() {
    use convbert::RunError;
    let ckpt = Checkpoint::load(golden("models/tiny-k3")).unwrap();
    let layers = ckpt.float_layers().unwrap();
    let model = ckpt.float_model(&layers).unwrap();
    let c = ckpt.config;
    let mut scratch = vec![0.0; model.scratch_len(c.max_position_embeddings)];
    let mut logits = vec![0.0; c.num_labels];

    let mut run = |ids: &[u32], types: Option<&[u32]>| model.classify(ids, types, &mut scratch, &mut logits);
    assert_eq!(run(&[], None), Err(RunError::EmptyInput));
    let too_long = vec![5; c.max_position_embeddings + 1];
    assert_eq!(run(&too_long, None), Err(RunError::TooLong { len: too_long.len(), max: c.max_position_embeddings }));
    assert_eq!(run(&[2, c.vocab_size as u32, 3], None), Err(RunError::TokenId { position: 1, id: c.vocab_size as u32 }));
    assert_eq!(run(&[2, 3], Some(&[0, 2])), Err(RunError::TokenType { position: 1, id: 2 }));
    assert_eq!(run(&[2, 3], Some(&[0])), Err(RunError::TokenTypesLength { ids: 2, types: 1 }));

    let need = model.scratch_len(3);
    let mut small = vec![0.0; need - 1];
    assert_eq!(
        model.forward(&[2, 5, 3], None, &mut small).map(|_| ()),
        Err(RunError::ScratchTooSmall { need, got: need - 1 })
    );
    let mut wrong_logits = vec![0.0; c.num_labels + 1];
    assert_eq!(
        model.classify(&[2, 5, 3], None, &mut scratch, &mut wrong_logits),
        Err(RunError::LogitsLength { need: c.num_labels, got: c.num_labels + 1 })
    );
}
