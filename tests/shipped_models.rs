//! The shipped models (`weights/`): the Rust float reference reproduces PyTorch's logits on a
//! committed sample of test utterances, the committed int8 blobs agree with it, and the blob
//! is exactly what `convbert quantize` makes from the checkpoint.

use convbert::int8::{arena_bytes, AlignedBlob, Engine, Model};
use convbert_hf::Checkpoint;
use convbert_tests::{golden, relative_max_diff, repo_root};

const TOLERANCE: f32 = 1e-4;

struct Sample {
    text: String,
    ids: Vec<u32>,
    logits: Vec<f32>,
}

fn samples(name: &str) -> Vec<Sample> {
    let text = std::fs::read_to_string(golden(&format!("shipped/{name}.jsonl"))).unwrap();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Sample {
                text: v["text"].as_str().unwrap().to_owned(),
                ids: v["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect(),
                logits: v["logits"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            }
        })
        .collect()
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b]).then(b.cmp(&a))).unwrap()
}

/// Models with a committed golden sample.
fn shipped() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(golden("shipped"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().unwrap().strip_suffix(".jsonl").map(String::from))
        .collect();
    names.sort();
    names
}

#[test]
fn float_reference_reproduces_pytorch_on_shipped_models() {
    for name in shipped() {
        let ckpt = Checkpoint::load(repo_root().join("weights").join(&name)).unwrap();
        let tokenizer = ckpt.tokenizer().unwrap();
        let layers = ckpt.float_layers().unwrap();
        let model = ckpt.float_model(&layers).unwrap();
        let mut scratch = vec![0.0; model.scratch_len(tokenizer.settings.max_len)];
        let mut ids = vec![0; tokenizer.settings.max_len];
        let mut logits = vec![0.0; ckpt.labels.len()];
        let mut worst = 0.0f32;
        let all = samples(&name);
        for s in &all {
            let enc = tokenizer.encode(&s.text, &mut ids).unwrap();
            assert_eq!(ids[..enc.len], s.ids[..], "{name}: tokenizer differs on {:?}", s.text);
            model.classify(&s.ids, None, &mut scratch, &mut logits).unwrap();
            let diff = relative_max_diff(&logits, &s.logits);
            assert!(diff <= TOLERANCE, "{name}: {:?} logits differ by {diff:e}", s.text);
            assert_eq!(argmax(&logits), argmax(&s.logits), "{name}: {:?}", s.text);
            worst = worst.max(diff);
        }
        println!("{name}: {} utterances, same ids and argmax as PyTorch, worst logit diff {worst:.2e}", all.len());
    }
}

#[test]
fn shipped_blobs_agree_with_pytorch() {
    for name in shipped() {
        let path = repo_root().join("weights").join(format!("{name}.cbq"));
        let Ok(bytes) = std::fs::read(&path) else { panic!("{}: blob missing", path.display()) };
        let blob = AlignedBlob::new(&bytes);
        let model = Model::from_bytes(blob.bytes()).unwrap();
        let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
        let mut engine = Engine::new(&model, &mut arena).unwrap();
        let all = samples(&name);
        let agree = all.iter().filter(|s| engine.classify(&s.text).unwrap().label == argmax(&s.logits)).count();
        println!("{name}: int8 blob agrees with PyTorch float on {agree}/{} utterances", all.len());
        // Post-training quantization must keep >= 97.5 % top-1 agreement on the sample.
        assert!(agree * 40 >= all.len() * 39, "{name}: only {agree}/{} agree", all.len());
    }
}

#[test]
fn snips_tiny_blob_is_what_quantize_makes() {
    // The README's command: convbert quantize --model weights/snips-tiny --calib
    // ../shared/datasets/snips/train.tsv --max-len 64 --prune-vocab <same file> --out ...
    let ckpt = Checkpoint::load(repo_root().join("weights/snips-tiny")).unwrap();
    let tokenizer = ckpt.tokenizer().unwrap();
    let layers = ckpt.float_layers().unwrap();
    let model = ckpt.float_model(&layers).unwrap();
    let data = std::fs::read_to_string(convbert_tests::dataset("snips/train.tsv")).unwrap();
    let train: Vec<String> = data.lines().map(|l| l.split_once('\t').unwrap().1.to_owned()).collect();
    let calibration = convbert_quantize::spread(&train, 400);
    let ranges = convbert_quantize::calibrate(&model, &tokenizer, &calibration, |_, _| {}).unwrap();
    // GPTQ rounding (the default) on the same 400 texts (the command uses up to 2,000).
    let inputs = convbert_quantize::dense_inputs(&model, &tokenizer, &calibration, |_, _| {}).unwrap();
    let vocab = convbert_quantize::PackVocab::pruned(&tokenizer, &train, 1).unwrap();
    let settings = convbert::tokenizer::TokenizerSettings { max_len: 64, ..tokenizer.settings };
    let options = convbert_quantize::PackOptions { dense_inputs: Some(&inputs), ..Default::default() };
    let packed = convbert_quantize::pack(&model, settings, &vocab, &ckpt.labels, &ranges, options).unwrap();
    let committed = std::fs::read(repo_root().join("weights/snips-tiny.cbq")).unwrap();
    assert!(packed.blob == committed, "weights/snips-tiny.cbq differs from a fresh quantization: rerun the README command");
}
