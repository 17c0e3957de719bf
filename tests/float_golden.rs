//! The f32 reference pass against Hugging Face transformers itself.
//!
//! `tools/golden/make_float_golden.py` builds random ConvBERT models in PyTorch (every config
//! feature: projection or not, grouped FFN, kernel sizes, activations, f32/f16/bf16 storage)
//! and records inputs, last hidden states and logits. Every output must agree within 1e-4
//! of its largest magnitude.

use convbert_hf::Checkpoint;
use convbert_tests::{golden, relative_max_diff, GoldenFile};

const TOLERANCE: f32 = 1e-4;

#[test]
fn float_reference_matches_hugging_face() {
    let mut models: Vec<_> = std::fs::read_dir(golden("models"))
        .expect("tests/golden/models exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    models.sort();
    assert!(models.len() >= 5, "expected the golden model set, found {models:?}");

    let mut worst = (0.0f32, String::new());
    let mut cases = 0;
    for name in &models {
        let ckpt = Checkpoint::load(golden(&format!("models/{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"));
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
    println!("float golden: {cases} cases over {} models, worst relative diff {:.2e} ({})", models.len(), worst.0, worst.1);
}
