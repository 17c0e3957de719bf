//! The QEMU conformance suite: every emulated target must compute exactly what the host int8
//! engine computes. For each (board, model) it builds `firmware/` with the committed cases
//! embedded (`firmware/conformance.sh`), runs it under QEMU with instruction counting, and
//! compares tokens, truncation, label, Q15 score and every logit with `convbert::int8::Engine`
//! on the host, bit for bit. Prints the table of the README. Needs qemu-system-arm/-aarch64
//! (tools/test.sh installs them) and the Rust targets of the boards.

use convbert::int8::{arena_bytes, AlignedBlob, Engine, Model};
use convbert_tests::{build_firmware, on_two_workers, repo_root, run_in_qemu};
use object::{Object, ObjectSection};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (board, model blob, cases file). The 256-KiB boards take a model made to fit them.
const RUNS: &[(&str, &str, &str)] = &[
    // The 10 MB ConvBERT-small blobs: 0.1 G instructions per inference at 10 tokens, 0.65 G at
    // 64, even on the M55 (whose Helium build needs 3.5x fewer instructions than the others).
    // So: on the M55 only, dataset utterances without the long hard strings (the tiny models
    // run those through the same tokenizer code), and first, so that the other worker runs the
    // short runs meanwhile.
    ("mps3-an547", "weights/snips-small.cbq", "tests/conformance/snips.txt:200"),
    ("mps3-an547", "weights/clinc-small.cbq", "tests/conformance/clinc150.txt:100"),
    ("mps2-an386", "weights/snips-tiny.cbq", "tests/conformance/snips.txt"),
    ("mps2-an500", "weights/snips-tiny.cbq", "tests/conformance/snips.txt"),
    ("mps2-an505", "weights/snips-tiny.cbq", "tests/conformance/snips.txt"),
    ("mps3-an547", "weights/snips-tiny.cbq", "tests/conformance/snips.txt"),
    ("virt-a53", "weights/snips-tiny.cbq", "tests/conformance/snips.txt"),
    ("virt-a76", "weights/snips-tiny.cbq", "tests/conformance/snips.txt"),
    ("mps2-an386", "weights/clinc-tiny.cbq", "tests/conformance/clinc150.txt"),
    ("mps3-an547", "weights/clinc-tiny.cbq", "tests/conformance/clinc150.txt"),
    ("virt-a76", "weights/clinc-tiny.cbq", "tests/conformance/clinc150.txt"),
    // No shipped model fits 256 KiB of flash: these run the random-weight golden model that
    // `firmware/small-model.sh` prunes to the cases (max length 32 and 16), on 50 and 40 SNIPS
    // utterances (more text, or the hard strings, would grow its vocabulary past the flash;
    // the microbit image with 50 was 304 bytes too big).
    ("lm3s6965", "small-model:32", "tests/conformance/snips.txt:50"),
    ("microbit", "small-model:16", "tests/conformance/snips.txt:40"),
];

/// One case as a device (or the host) reports it.
#[derive(Debug, PartialEq, Eq)]
struct Case {
    tokens: usize,
    truncated: bool,
    label: usize,
    score_q15: u16,
    logits: Vec<i32>,
}

/// A `key=value` field of a device line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ').find_map(|w| w.strip_prefix(key).and_then(|w| w.strip_prefix('='))).unwrap_or("")
}

/// The device's `case` lines, with the instruction count of each.
fn parse_device(output: &str) -> Vec<(Case, u64)> {
    output
        .lines()
        .filter(|l| l.starts_with("case "))
        .map(|l| {
            let case = Case {
                tokens: field(l, "tokens").parse().unwrap(),
                truncated: field(l, "truncated") == "1",
                label: field(l, "label").parse().unwrap(),
                score_q15: field(l, "score_q15").parse().unwrap(),
                logits: field(l, "logits").split(',').map(|v| v.parse().unwrap()).collect(),
            };
            (case, field(l, "instructions").parse().unwrap())
        })
        .collect()
}

/// The cases as the firmware reads them: non-empty lines, a trailing `\r` dropped.
fn host_cases(blob: &Path, cases: &Path) -> Vec<Case> {
    let bytes = AlignedBlob::new(&std::fs::read(blob).unwrap());
    let model = Model::from_bytes(bytes.bytes()).unwrap();
    let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
    let mut engine = Engine::new(&model, &mut arena).unwrap();
    let text = std::fs::read(cases).unwrap();
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let r = engine.classify_bytes(l).unwrap();
            Case { tokens: r.tokens, truncated: r.truncated, label: r.label, score_q15: r.score_q15, logits: r.logits.to_vec() }
        })
        .collect()
}

/// Code and constant bytes of an ELF, without the model blob (which the Cortex-M images keep
/// in a section of its own and the AArch64 image inside `.rodata`).
fn code_bytes(elf: &Path, blob_len: u64) -> u64 {
    let data = std::fs::read(elf).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let (mut text, mut rodata) = (0, 0);
    for s in file.sections() {
        match s.name() {
            Ok(n) if n.starts_with(".text") => text += s.size(),
            Ok(n) if n.starts_with(".rodata") => rodata += s.size(),
            _ => {}
        }
    }
    text + if rodata >= blob_len { rodata - blob_len } else { rodata }
}

struct Row {
    board: &'static str,
    model: String,
    cases: usize,
    identical: usize,
    mean_instructions: u64,
    arena: usize,
    code: u64,
    blob: usize,
}

/// The blob and cases file of a run. Cases `FILE:N` are the file's first `N` lines (written
/// to `target/`); a `small-model:MAX_LEN` blob is made here, pruned to the run's cases.
fn prepare(board: &str, blob: &str, cases: &str) -> Result<(PathBuf, PathBuf), String> {
    let root = repo_root();
    let cases = match cases.split_once(':') {
        None => root.join(cases),
        Some((file, count)) => {
            let count: usize = count.parse().map_err(|_| format!("{board}: bad cases spec {cases}"))?;
            let lines: Vec<String> = std::fs::read_to_string(root.join(file)).unwrap().lines().take(count).map(|l| format!("{l}\n")).collect();
            let name = Path::new(file).file_stem().unwrap().to_string_lossy().into_owned();
            let subset = root.join(format!("target/conformance-{board}-{name}-{count}.txt"));
            std::fs::write(&subset, lines.concat()).map_err(|e| e.to_string())?;
            subset
        }
    };
    let Some(max_len) = blob.strip_prefix("small-model:") else { return Ok((root.join(blob), cases)) };
    let made = Command::new("bash").arg(root.join("firmware/small-model.sh")).arg(&cases).arg(max_len).output().map_err(|e| e.to_string())?;
    if !made.status.success() {
        return Err(format!("{board}: small-model.sh failed:\n{}", String::from_utf8_lossy(&made.stderr)));
    }
    Ok((PathBuf::from(String::from_utf8_lossy(&made.stdout).trim()), cases))
}

fn run(board: &'static str, blob: PathBuf, cases: PathBuf) -> Result<Row, String> {
    let built = build_firmware(board, "conformance", &[("CONVBERT_BLOB", &blob), ("CONVBERT_CASES", &cases)])?;
    // A private copy: another worker may rebuild this board (another model) while this one runs.
    let elf = repo_root().join(format!("target/conformance-{board}-{}.elf", blob.file_stem().unwrap().to_string_lossy()));
    std::fs::copy(&built, &elf).map_err(|e| format!("{board}: {}: {e}", built.display()))?;
    // No limit on the total: the ConvBERT-small runs take about 8 minutes on an idle 2-core
    // machine and twice that on a loaded one. The firmware prints a line per case (at most
    // 0.65 G instructions, about 30 s loaded), so 5 minutes of silence means a hung emulator.
    let output = run_in_qemu(board, &elf, 300)?;
    let device = parse_device(&output);
    let host = host_cases(&blob, &cases);
    let identical = device.iter().zip(&host).filter(|((d, _), h)| d == *h).count();
    if let Some(((d, _), h)) = device.iter().zip(&host).find(|((d, _), h)| d != *h) {
        eprintln!("{board}: first mismatch: device {d:?}, host {h:?}");
    }
    let header = output.lines().find(|l| l.starts_with("conformance ")).unwrap_or("");
    let blob_len = std::fs::metadata(&blob).map_or(0, |m| m.len());
    Ok(Row {
        board,
        model: blob.file_stem().unwrap().to_string_lossy().into_owned(),
        cases: host.len().max(device.len()),
        identical: if device.len() == host.len() { identical } else { 0 },
        mean_instructions: device.iter().map(|(_, n)| n).sum::<u64>() / device.len().max(1) as u64,
        arena: field(header, "arena_bytes").parse().unwrap_or(0),
        code: code_bytes(&elf, blob_len),
        blob: field(header, "blob_bytes").parse().unwrap_or(0),
    })
}

#[test]
fn every_qemu_target_matches_the_host_bit_for_bit() {
    for tool in ["qemu-system-arm", "qemu-system-aarch64"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success()),
            "{tool} not found: install Debian's qemu-system-arm (tools/test.sh does, as root)"
        );
    }
    // Small-model blobs are made first, one at a time (they share firmware/target/small); the
    // runs then share two workers.
    let prepared: Vec<_> = RUNS.iter().map(|&(board, blob, cases)| (board, blob, prepare(board, blob, cases))).collect();
    let mut rows = on_two_workers(prepared, |(board, blob, prepared)| {
        (board, blob, prepared.and_then(|(blob, cases)| run(board, blob, cases)))
    });
    rows.sort_by_key(|(board, blob, _)| (*blob, RUNS.iter().position(|r| r.0 == *board)));
    println!("| target | model | cases | identical | instructions per inference (mean) | arena bytes | code bytes | blob bytes |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for (board, blob, result) in rows {
        match result {
            Ok(r) => {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.board, r.model, r.cases, r.identical, r.mean_instructions, r.arena, r.code, r.blob
                );
                if r.identical != r.cases {
                    failures.push(format!("{board} {blob}: {}/{} identical", r.identical, r.cases));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "conformance failures:\n{}", failures.join("\n"));
}
