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
    // One message (plus, at most, the line of a suggested fix), no backtrace.
    failing(args, 1, 2)
}

/// Runs a command that must fail with `status` and exactly one line on stderr; returns it.
fn one_line_failure(args: &[&str], status: i32) -> String {
    failing(args, status, 1)
}

fn failing(args: &[&str], status: i32, max_lines: usize) -> String {
    let out = convbert(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(status), "{args:?} should fail with status {status}; stderr: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.trim_end().lines().count() <= max_lines, "{args:?}: {err}");
    err
}

/// The names in `dir`, sorted: what a command left behind.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
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
fn classify_file_output_keeps_input_order_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = std::fs::read_to_string(repo().join("../shared/datasets/snips/test.tsv")).unwrap();
    let texts: Vec<&str> = dataset.lines().take(40).map(|l| l.split_once('\t').unwrap().1).collect();
    let file = dir.path().join("texts.txt");
    std::fs::write(&file, texts.join("\n")).unwrap();
    let blob = dir.path().join("m.cbq");
    let data = golden_dataset(dir.path());
    let model = path_str(&golden_model()).to_owned();
    let quantize = ["quantize", "--model", &model, "--calib", path_str(&data), "--out", path_str(&blob), "--threads", "2"];
    assert!(convbert(&quantize).status.success());

    // Both engines: the f32 reference (checkpoint) and the int8 engine (blob).
    for model in [model.as_str(), path_str(&blob)] {
        let classify = |threads: &str, json: &[&str]| {
            let out = convbert(&[&["classify", "--model", model, "--file", path_str(&file), "--threads", threads], json].concat());
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            stdout(&out)
        };
        let one = classify("1", &["--json"]);
        let shown: Vec<String> = one.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_owned()).collect();
        assert_eq!(shown, texts);
        assert_eq!(classify("3", &["--json"]), one);
        assert_eq!(classify("3", &[]), classify("1", &[]));
    }
}

#[test]
fn bench_times_the_logits_that_classify_gives() {
    let model = path_str(&golden_model()).to_owned();
    let out = convbert(&["bench", "--model", &model, "--iters", "3", "--warmup", "1", "book me a flight", "cancel"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let classified = stdout(&convbert(&["classify", "--model", &model, "--json", "book me a flight", "cancel"]));
    for (line, expected) in lines.iter().zip(classified.lines()) {
        let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
        assert_eq!(line["engine"], "f32");
        assert_eq!(line["iters"], 3);
        assert_eq!(line["logits"], expected["logits"]);
        let (min, median) = (line["min_ms"].as_f64().unwrap(), line["median_ms"].as_f64().unwrap());
        assert!(0.0 < min && min <= median, "{line}");
        // Thread CPU time (Unix): never more than the wall time around it, beyond clock noise.
        assert!(line["cpu_median_ms"].as_f64().is_some_and(|cpu| 0.0 < cpu && cpu <= 1.5 * median + 0.1), "{line}");
    }
    assert_eq!(lines.len(), 2);
    let ids = stdout(&convbert(&["tokenize", "--model", &model, "book me a flight"]));
    assert_eq!(lines[0]["tokens"], ids.split_whitespace().count());
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

    // The blob and its chart, and no temporary file from the atomic write.
    assert_eq!(files_in(dir.path()), ["data.tsv", "m.cbq", "m.sqnr.svg"]);

    let v = eval_json(&["--model", path_str(&blob), "--float", &model, "--data", path_str(&data)]);
    let agreed = v["agreed"].as_u64().unwrap();
    assert!(agreed <= 6 && (v["agreement"].as_f64().unwrap() - agreed as f64 / 6.0).abs() < 1e-12, "{v}");
    let drop = 100.0 * (v["float_accuracy"].as_f64().unwrap() - v["accuracy"].as_f64().unwrap());
    assert!((v["accuracy_drop_points"].as_f64().unwrap() - drop).abs() < 1e-9, "{v}");
    // The float side is the checkpoint itself: its accuracy matches a plain float eval.
    let float = eval_json(&["--model", &model, "--data", path_str(&data)]);
    assert_eq!(v["float_correct"], float["correct"]);
}

#[test]
fn usage_errors_are_one_line_with_status_2() {
    let model = golden_model();
    let model = path_str(&model);
    for args in [
        &[][..],
        &["frobnicate"],
        &["classify", "--model", model, "--bogus", "hi"],
        &["quantize", "--model", model],
        &["quantize", "--model", model, "--calib", "c.tsv", "--out", "m.cbq", "--samples", "many"],
        &["quantize", "--model", model, "--calib", "c.tsv", "--out", "m.cbq", "--residual-bits", "40"],
        &["classify", "--model", model, "--threads", "0", "hi"],
        &["bench", "--model", model, "--iters", "0", "hi"],
    ] {
        let err = one_line_failure(args, 2);
        assert!(!args.is_empty() || err == "error: no command given; try `convbert --help` for the list\n", "{err}");
    }
    let err = one_line_failure(&["quantize", "--model", model], 2);
    assert!(
        err.starts_with("error: the following required arguments were not provided: --calib <CALIB> --out <OUT>; usage: convbert quantize "),
        "{err}"
    );
    let err = one_line_failure(&["classify", "--modle", model], 2);
    assert!(err.contains("unexpected argument '--modle'") && err.contains("'--model'"), "{err}");
}

#[test]
fn help_and_version_print_to_stdout_with_status_0() {
    for (args, expected) in [
        (&["--help"][..], "Usage: convbert <COMMAND>"),
        (&["classify", "--help"], "Usage: convbert classify [OPTIONS] --model <MODEL> [TEXT]..."),
        (&["--version"], concat!("convbert ", env!("CARGO_PKG_VERSION"))),
    ] {
        let out = convbert(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains(expected), "{args:?}: {}", stdout(&out));
        assert!(out.stderr.is_empty(), "{args:?}");
    }
}

/// The golden model with config.json's text `from` replaced by `to`.
fn model_with_config(from: &str, to: &str) -> tempfile::TempDir {
    let dir = model_copy();
    let config = dir.path().join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&config, text.replace(from, to)).unwrap();
    dir
}

#[test]
fn layer_norm_eps_must_be_finite_and_positive() {
    // -1 gave NaN scores and status 0; 1e39 is infinite as f32; 1e-50 is 0 as f32.
    for eps in ["-1", "0", "1e39", "1e-50"] {
        let model = model_with_config("\"layer_norm_eps\": 1e-12", &format!("\"layer_norm_eps\": {eps}"));
        let err = one_line_failure(&["classify", "--model", path_str(model.path()), "hi"], 1);
        assert!(err.contains("config.json: config field `layer_norm_eps` must be a finite number above zero"), "{eps}: {err}");
    }
}

#[test]
fn non_finite_floats_from_python_name_their_field() {
    // Python's json module writes NaN and Infinity, which are not JSON.
    for (from, to, expected) in [
        ("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": NaN", "field `layer_norm_eps` is NaN"),
        ("\"hidden_dropout_prob\": 0.1", "\"hidden_dropout_prob\": Infinity", "field `hidden_dropout_prob` is Infinity"),
        ("\"initializer_range\": 0.02", "\"initializer_range\": -Infinity", "field `initializer_range` is -Infinity"),
    ] {
        let model = model_with_config(from, to);
        let err = one_line_failure(&["inspect", "--model", path_str(model.path())], 1);
        assert!(err.contains(&format!("config.json: {expected}")) && err.contains("set it to a finite number"), "{err}");
    }
}

#[test]
fn quantize_refuses_a_label_with_a_control_character_and_writes_nothing() {
    let model = model_with_config("\"1\": \"cancel_booking\"", "\"1\": \"cancel\\nbooking\"");
    let dir = tempfile::tempdir().unwrap();
    let data = golden_dataset(dir.path());
    let blob = dir.path().join("m.cbq");
    let args = ["quantize", "--model", path_str(model.path()), "--calib", path_str(&data), "--out", path_str(&blob)];
    let err = one_line_failure(&args, 1);
    assert!(err.contains("id2label[\"1\"] holds the control character U+000A"), "{err}");
    assert_eq!(files_in(dir.path()), ["data.tsv"]);
}

#[test]
fn quantize_refuses_empty_calibration_and_prune_sets_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = golden_dataset(dir.path());
    let empty = dir.path().join("empty.tsv");
    std::fs::write(&empty, "").unwrap();
    let blob = dir.path().join("m.cbq");
    let quantize = |extra: &[&str]| {
        let model = golden_model();
        let args = [&["quantize", "--model", path_str(&model), "--out", path_str(&blob)], extra].concat();
        one_line_failure(&args, 1)
    };
    let err = quantize(&["--calib", path_str(&empty)]);
    assert!(err.contains("empty.tsv: no `label<TAB>text` lines to calibrate on"), "{err}");
    let err = quantize(&["--calib", path_str(&data), "--samples", "0"]);
    assert!(err.contains("--samples 0: calibration needs at least one text"), "{err}");
    let err = quantize(&["--calib", path_str(&data), "--prune-vocab", path_str(&data), path_str(&empty)]);
    assert!(err.contains("empty.tsv: no `label<TAB>text` lines to keep the vocabulary of"), "{err}");
    assert_eq!(files_in(dir.path()), ["data.tsv", "empty.tsv"]);
}

/// A copy of the golden model with `n` labels `label0`, `label1`, ...: config.json's
/// id2label and a classifier output layer of `n` rows of small deterministic weights.
fn model_with_labels(n: usize) -> tempfile::TempDir {
    let dir = model_copy();
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["id2label"] = (0..n).map(|i| (i.to_string(), format!("label{i}").into())).collect::<serde_json::Map<_, _>>().into();
    config.as_object_mut().unwrap().remove("label2id");
    std::fs::write(&config_path, config.to_string()).unwrap();

    // safetensors: u64 header length, JSON header of dtype/shape/data_offsets, data.
    let file = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    let f16s = |count: usize| -> Vec<u8> {
        (0..count).flat_map(|i| half::f16::from_f32(((i * 7919) % 101) as f32 / 500.0 - 0.1).to_le_bytes()).collect()
    };
    let (mut new_header, mut body) = (serde_json::Map::new(), Vec::new());
    for (name, mut info) in header {
        let tensor = match name.as_str() {
            "__metadata__" => {
                new_header.insert(name, info);
                continue;
            }
            "classifier.out_proj.weight" | "classifier.out_proj.bias" => {
                assert_eq!(info["dtype"], "F16");
                info["shape"][0] = n.into();
                f16s(info["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).product())
            }
            _ => {
                let offsets = &info["data_offsets"];
                data[offsets[0].as_u64().unwrap() as usize..offsets[1].as_u64().unwrap() as usize].to_vec()
            }
        };
        info["data_offsets"] = serde_json::json!([body.len(), body.len() + tensor.len()]);
        body.extend(tensor);
        new_header.insert(name, info);
    }
    let mut header_text = serde_json::to_vec(&new_header).unwrap();
    header_text.resize(header_text.len().next_multiple_of(8), b' ');
    std::fs::write(&file, [&(header_text.len() as u64).to_le_bytes()[..], &header_text, &body].concat()).unwrap();
    dir
}

#[test]
fn eval_memory_stays_linear_in_the_label_count() {
    // As many labels as a blob may have: a dense labels x labels table of u64 counts would
    // not fit in the address space eval is given here (and aborted before).
    let labels = convbert::limits::NUM_LABELS;
    let address_space_kib = 1 << 20;
    assert!(labels * labels * 8 > address_space_kib * 1024);
    let model = model_with_labels(labels);
    let dir = tempfile::tempdir().unwrap();
    let texts = ["book me a flight", "cancel it", "fly to rome", "drop my booking", "a ticket please", "no thanks"];
    let data = dir.path().join("data.tsv");
    std::fs::write(&data, texts.iter().enumerate().map(|(i, t)| format!("label{}\t{t}\n", i * 3000)).collect::<String>()).unwrap();
    let blob = dir.path().join("many.cbq");
    let out = convbert(&[
        "quantize", "--model", path_str(model.path()), "--calib", path_str(&data), "--weight-rounding", "nearest",
        "--out", path_str(&blob),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // One malloc arena, so that per-thread arenas do not use up the address space.
    let out = Command::new("sh")
        .args(["-c", &format!("ulimit -v {address_space_kib} && exec \"$0\" \"$@\"")])
        .args([env!("CARGO_BIN_EXE_convbert"), "eval", "--json", "--model", path_str(&blob), "--data", path_str(&data)])
        .env("MALLOC_ARENA_MAX", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "status {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["total"], 6);
    let per_class = v["per_class"].as_array().unwrap();
    assert_eq!(per_class.iter().map(|c| c["support"].as_u64().unwrap()).sum::<u64>(), 6);
    assert!(per_class.len() <= 12, "only labels that occur are listed: {}", per_class.len());
}
