//! The `convbert` command end to end: its outputs on a golden model, and one clear error line
//! (never a panic) for each kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A small random-weight model from the golden set (3 layers, kernel 3, f16 weights).
fn golden_model() -> PathBuf {
    repo().join("tests/golden/models/tiny-k3")
}

fn convbert(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convbert")).args(args).output().expect("run convbert")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs a command that must fail and returns its stderr, checking the failure is clean.
fn failure(args: &[&str]) -> String {
    let out = convbert(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail with status 1; stderr: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    // One message (plus, at most, the line of a suggested fix), no backtrace.
    assert!(err.trim_end().lines().count() <= 2, "{args:?}: {err}");
    err
}

/// A copy of the golden model in a temporary folder, to damage.
fn model_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(golden_model()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inspect_reports_shape_and_parameters() {
    let out = convbert(&["inspect", "--model", path_str(&golden_model())]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("3 layers, hidden 64, embedding 32 (projected)"), "{text}");
    assert!(text.contains("labels       2: book_flight, cancel_booking"), "{text}");
    assert!(text.contains("layer  2 ffn"), "{text}");
}

#[test]
fn tokenize_file_matches_hugging_face_ids() {
    // The first 50 SNIPS test utterances against the golden ids from BertTokenizerFast.
    let dataset = std::fs::read_to_string(repo().join("../shared/datasets/snips/test.tsv")).unwrap();
    let texts: Vec<&str> = dataset.lines().take(50).map(|l| l.split_once('\t').unwrap().1).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("texts.txt");
    std::fs::write(&file, texts.join("\n")).unwrap();

    let out = convbert(&["tokenize", "--model", path_str(&golden_model()), "--file", path_str(&file)]);
    assert!(out.status.success());
    let golden = std::fs::read_to_string(repo().join("tests/golden/tokenizer/snips-test.ids")).unwrap();
    let expected: Vec<&str> =
        golden.lines().filter(|l| !l.starts_with('#')).take(50).map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), expected);
}

#[test]
fn classify_json_gives_label_score_and_logits() {
    let out = convbert(&["classify", "--model", path_str(&golden_model()), "--json", "book me a flight", ""]);
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in lines {
        let logits: Vec<f64> = line["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(logits.len(), 2);
        let best = if logits[0] >= logits[1] { 0 } else { 1 };
        assert_eq!(line["label"], ["book_flight", "cancel_booking"][best]);
        let score = line["score"].as_f64().unwrap();
        let expected = 1.0 / (1.0 + (-(logits[best] - logits[1 - best])).exp());
        assert!((score - expected).abs() < 1e-5, "score {score} vs softmax {expected}");
    }
}

#[test]
fn missing_folder_is_a_clear_error() {
    let err = failure(&["classify", "--model", "/no/such/model", "hello"]);
    assert!(err.contains("/no/such/model: no such model folder"), "{err}");
}

#[test]
fn corrupt_safetensors_is_a_clear_error() {
    let dir = model_copy();
    std::fs::write(dir.path().join("model.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage").unwrap();
    let err = failure(&["inspect", "--model", path_str(dir.path())]);
    assert!(err.contains("model.safetensors: not a valid safetensors file"), "{err}");
}

#[test]
fn truncated_safetensors_is_a_clear_error() {
    let dir = model_copy();
    let file = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = failure(&["classify", "--model", path_str(dir.path()), "hi"]);
    assert!(err.contains("not a valid safetensors file"), "{err}");
}

#[test]
fn wrong_shapes_name_the_tensor() {
    let dir = model_copy();
    let config = dir.path().join("config.json");
    let text = std::fs::read_to_string(&config).unwrap().replace("\"intermediate_size\": 256", "\"intermediate_size\": 128");
    std::fs::write(&config, text).unwrap();
    let err = failure(&["classify", "--model", path_str(dir.path()), "hi"]);
    assert!(
        err.contains("tensor `convbert.encoder.layer.0.intermediate.dense.weight` has shape [256, 64], config.json implies [128, 64]"),
        "{err}"
    );
}

#[test]
fn unsupported_config_is_refused() {
    let dir = model_copy();
    let config = dir.path().join("config.json");
    let text = std::fs::read_to_string(&config).unwrap().replace("\"conv_kernel_size\": 3", "\"conv_kernel_size\": 4");
    std::fs::write(&config, text).unwrap();
    let err = failure(&["inspect", "--model", path_str(dir.path())]);
    assert!(err.contains("conv_kernel_size = 4 must be odd"), "{err}");
}

#[test]
fn pytorch_bin_only_says_how_to_convert() {
    let dir = model_copy();
    std::fs::rename(dir.path().join("model.safetensors"), dir.path().join("pytorch_model.bin")).unwrap();
    let err = failure(&["inspect", "--model", path_str(dir.path())]);
    assert!(err.contains("holds only pytorch_model.bin") && err.contains("safe_serialization=True"), "{err}");
}

#[test]
fn invalid_utf8_in_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("texts.txt");
    std::fs::write(&file, b"fine line\nbad \xff byte\n").unwrap();
    let err = failure(&["tokenize", "--model", path_str(&golden_model()), "--file", path_str(&file)]);
    assert!(err.contains("texts.txt:2: invalid UTF-8"), "{err}");
}

#[test]
fn no_text_is_a_clear_error() {
    let err = failure(&["classify", "--model", path_str(&golden_model())]);
    assert!(err.contains("no text given"), "{err}");
}

/// A small dataset in the golden model's labels, `label<TAB>text` per line.
fn golden_dataset(dir: &Path) -> PathBuf {
    let rows = [
        ("book_flight", "book me a flight to paris"),
        ("cancel_booking", "cancel my reservation"),
        ("book_flight", "i need a plane ticket for tomorrow"),
        ("cancel_booking", "please cancel the booking i made"),
        ("book_flight", "fly me to rome on friday"),
        ("cancel_booking", "drop my hotel booking"),
    ];
    let file = dir.join("data.tsv");
    std::fs::write(&file, rows.map(|(l, t)| format!("{l}\t{t}\n")).concat()).unwrap();
    file
}

fn eval_json(args: &[&str]) -> serde_json::Value {
    let out = convbert(&[&["eval", "--json"], args].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn eval_reports_accuracy_and_per_class_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = golden_dataset(dir.path());
    let out = convbert(&["eval", "--model", path_str(&golden_model()), "--data", path_str(&data)]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("accuracy     ") && text.contains("/6 ("), "{text}");
    assert!(text.contains("label           precision  recall      f1  support"), "{text}");
    assert!(text.contains("\nbook_flight ") && text.contains("\ncancel_booking "), "{text}");
    assert!(!text.contains("in-scope"), "no oos label, no in-scope line: {text}");

    let v = eval_json(&["--model", path_str(&golden_model()), "--data", path_str(&data)]);
    let per_class = v["per_class"].as_array().unwrap();
    let sum = |key: &str| per_class.iter().map(|c| c[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("support"), v["total"].as_u64().unwrap()), (6, 6));
    assert_eq!(sum("correct"), v["correct"].as_u64().unwrap());
    assert!((v["accuracy"].as_f64().unwrap() - sum("correct") as f64 / 6.0).abs() < 1e-12, "{v}");
    let mistakes: u64 = v["confusions"].as_array().unwrap().iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(mistakes, 6 - sum("correct"));
    assert!(v.get("float_accuracy").is_none() && v.get("oos_recall").is_none(), "{v}");

    let limited = eval_json(&["--model", path_str(&golden_model()), "--data", path_str(&data), "--limit", "2"]);
    assert_eq!(limited["total"], 2);
}

#[test]
fn eval_with_an_oos_label_reports_in_scope_accuracy_and_oos_recall() {
    let model = model_copy();
    let config = model.path().join("config.json");
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap().replace("cancel_booking", "oos")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.tsv");
    std::fs::write(&data, std::fs::read_to_string(golden_dataset(dir.path())).unwrap().replace("cancel_booking", "oos")).unwrap();

    let v = eval_json(&["--model", path_str(model.path()), "--data", path_str(&data)]);
    let class = |name: &str| v["per_class"].as_array().unwrap().iter().find(|c| c["label"] == name).unwrap().clone();
    let (in_scope, oos) = (class("book_flight"), class("oos"));
    let expected = in_scope["correct"].as_f64().unwrap() / in_scope["support"].as_f64().unwrap();
    assert!((v["in_scope_accuracy"].as_f64().unwrap() - expected).abs() < 1e-12, "{v}");
    assert_eq!(v["oos_recall"], oos["recall"]);
}

#[test]
fn eval_unknown_label_names_label_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.tsv");
    std::fs::write(&data, "book_flight\tfly me to rome\nPlayMusic\tplay some jazz\n").unwrap();
    let err = failure(&["eval", "--model", path_str(&golden_model()), "--data", path_str(&data)]);
    assert!(err.contains("data.tsv:2: label `PlayMusic` is not one of the model's 2 labels"), "{err}");
}

#[test]
fn eval_float_needs_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    let data = golden_dataset(dir.path());
    let model = path_str(&golden_model()).to_owned();
    let err = failure(&["eval", "--model", &model, "--float", &model, "--data", path_str(&data)]);
    assert!(err.contains("--float compares a .cbq blob with its checkpoint"), "{err}");
}

#[test]
fn eval_blob_against_float_reports_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let data = golden_dataset(dir.path());
    let blob = dir.path().join("m.cbq");
    let model = path_str(&golden_model()).to_owned();
    let out = convbert(&["quantize", "--model", &model, "--calib", path_str(&data), "--samples", "20", "--out", path_str(&blob)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let v = eval_json(&["--model", path_str(&blob), "--float", &model, "--data", path_str(&data)]);
    let agreed = v["agreed"].as_u64().unwrap();
    assert!(agreed <= 6 && (v["agreement"].as_f64().unwrap() - agreed as f64 / 6.0).abs() < 1e-12, "{v}");
    let drop = 100.0 * (v["float_accuracy"].as_f64().unwrap() - v["accuracy"].as_f64().unwrap());
    assert!((v["accuracy_drop_points"].as_f64().unwrap() - drop).abs() < 1e-9, "{v}");
    // The float side is the checkpoint itself: its accuracy matches a plain float eval.
    let float = eval_json(&["--model", &model, "--data", path_str(&data)]);
    assert_eq!(v["float_correct"], float["correct"]);
}
