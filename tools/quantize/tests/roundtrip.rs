//! Quantize a golden model and run the blob through the int8 engine: it must parse, and its
//! predictions must agree with the float reference.

use convbert::int8::{arena_bytes, AlignedBlob, Engine, Model};
use convbert_hf::Checkpoint;
use std::path::Path;

fn snips_texts(n: usize) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = std::fs::read_to_string(root.join("../shared/datasets/snips/test.tsv")).unwrap();
    data.lines().take(n).map(|l| l.split_once('\t').unwrap().1.to_owned()).collect()
}

#[test]
fn quantized_golden_model_agrees_with_float() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Embedding width E below, equal to and above the hidden width H (tiny-e-wide: E 96 > H 64,
    // which Hugging Face projects down like E < H).
    for name in ["tiny-k3", "small-2l", "tiny-k5-relu", "tiny-eh", "tiny-e-wide"] {
        let ckpt = Checkpoint::load(root.join("tests/golden/models").join(name)).unwrap();
        let layers = ckpt.float_layers().unwrap();
        let model = ckpt.float_model(&layers).unwrap();
        let tokenizer = ckpt.tokenizer().unwrap();
        let texts = snips_texts(200);
        let ranges = convbert_quantize::calibrate(&model, &tokenizer, &texts[..100], |_, _| {}).unwrap();
        let packed = convbert_quantize::pack(&model, tokenizer.settings, &convbert_quantize::PackVocab::full(&ckpt.vocab_text, ckpt.config.vocab_size), &ckpt.labels, &ranges, Default::default()).unwrap();

        let blob = AlignedBlob::new(&packed.blob);
        let qmodel = Model::from_bytes(blob.bytes()).unwrap();
        let mut arena = vec![0u8; arena_bytes(&qmodel, tokenizer.settings.max_len)];
        let mut engine = Engine::new(&qmodel, &mut arena).unwrap();

        let mut ids = vec![0u32; tokenizer.settings.max_len];
        let mut scratch = vec![0.0; model.scratch_len(tokenizer.settings.max_len)];
        let mut logits = vec![0.0f32; ckpt.labels.len()];
        let (mut agree, mut worst) = (0, 0.0f64);
        for text in &texts {
            let enc = tokenizer.encode(text, &mut ids).unwrap();
            model.classify(&ids[..enc.len], None, &mut scratch, &mut logits).unwrap();
            let q = engine.classify(text).unwrap();
            let float_best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
            agree += usize::from(q.label == float_best);
            let max = logits.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
            for (&ql, &fl) in q.logits.iter().zip(&logits) {
                worst = worst.max((ql as f64 * packed.logit_scale - fl as f64).abs() / max);
            }
        }
        println!("{name}: blob {} bytes, top-1 agreement {agree}/{}, worst logit error {worst:.3} of max", packed.blob.len(), texts.len());
        // Measured 2026-12-01: 200/200 for all but tiny-e-wide (199/200 with blob format 3, 193/200
        // with format 4's int8 FFN inputs); worst error 0.021-0.214 (tiny-e-wide's random 3-label
        // head has the smallest logit margins, and its random FFN the least int8-friendly ranges:
        // the trained models' agreement is measured in docs/INT8.md).
        let least = if name == "tiny-e-wide" { 190 } else { 195 };
        assert!(agree >= least, "{name}: top-1 agreement {agree}/200");
        assert!(worst < 0.25, "{name}: worst logit error {worst:.3} of max");
    }
}


#[test]
fn empty_calibration_and_prune_sets_are_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ckpt = Checkpoint::load(root.join("tests/golden/models/tiny-k3")).unwrap();
    let layers = ckpt.float_layers().unwrap();
    let model = ckpt.float_model(&layers).unwrap();
    let tokenizer = ckpt.tokenizer().unwrap();
    let err = convbert_quantize::calibrate(&model, &tokenizer, &[], |_, _| {}).err().unwrap();
    assert_eq!(err, "no calibration texts: the ranges need at least one");
    let err = convbert_quantize::PackVocab::pruned(&tokenizer, &[], 1).err().unwrap();
    assert_eq!(err, "no corpus texts to prune the vocabulary for");
}
