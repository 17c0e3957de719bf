//! Shared helpers for the integration tests: where the golden data and datasets live, how
//! to read golden tensors, and how to build and run firmware under QEMU.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

/// The repository root (this crate sits in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// `tests/golden/<rel>`.
pub fn golden(rel: &str) -> PathBuf {
    repo_root().join("tests/golden").join(rel)
}

/// `../shared/datasets/<rel>` beside the checkout (read-only in CI).
pub fn dataset(rel: &str) -> PathBuf {
    repo_root().join("../shared/datasets").join(rel)
}

/// `firmware/build.sh BOARD PROGRAM` with the given environment: the ELF's path, or the build's
/// errors.
pub fn build_firmware(board: &str, program: &str, env: &[(&str, &Path)]) -> Result<PathBuf, String> {
    let mut build = Command::new("bash");
    build.arg(repo_root().join("firmware/build.sh")).args([board, program]);
    for (key, value) in env {
        build.env(key, value);
    }
    let build = build.output().map_err(|e| e.to_string())?;
    if !build.status.success() {
        return Err(format!("{board}: build failed:\n{}", String::from_utf8_lossy(&build.stderr)));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&build.stdout).trim()))
}

/// `firmware/qemu-run.sh BOARD ELF` (no input): the board's output, or why it failed (exit
/// status, output and QEMU's messages).
///
/// There is no limit on the total time, only on silence: the run is stopped when the board
/// prints nothing for `silence_s` seconds. A slow but progressing run (a loaded machine, a
/// big model) is never cut; a hung emulator still is. Every program here prints a line per
/// test or case.
pub fn run_in_qemu(board: &str, elf: &Path, silence_s: u64) -> Result<String, String> {
    run_in_qemu_with(board, elf, &QemuSession { input: &[], input_after: None, last_line: None, silence_s })
}

/// `firmware/qemu-run.sh BOARD ELF` started with no time limit, its stdin (the board's UART
/// input), stdout and stderr piped. The caller stops it.
pub fn spawn_qemu(board: &str, elf: &Path) -> Result<std::process::Child, String> {
    Command::new("bash")
        .arg(repo_root().join("firmware/qemu-run.sh"))
        .arg(board)
        .arg(elf)
        .env("QEMU_TIMEOUT", "0") // no total limit: qemu-run.sh then execs QEMU itself
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{board}: cannot start QEMU: {e}"))
}

/// What a QEMU run is fed and when it is over.
pub struct QemuSession<'a> {
    /// Bytes for the board's UART (QEMU's stdin).
    pub input: &'a [u8],
    /// Send `input` only once the board prints a line starting with this (a UART that the
    /// firmware has not switched on yet drops what it receives, as STM32's does in QEMU).
    pub input_after: Option<&'a str>,
    /// A program that never leaves QEMU (a real board's image idles after its last line)
    /// is done once it prints a line starting with this; QEMU is then stopped.
    pub last_line: Option<&'a str>,
    /// Seconds of silence after which the run counts as hung.
    pub silence_s: u64,
}

/// [`run_in_qemu`] with input and an end line.
pub fn run_in_qemu_with(board: &str, elf: &Path, session: &QemuSession<'_>) -> Result<String, String> {
    let mut qemu = spawn_qemu(board, elf)?;
    let input = session.input.to_vec();
    let mut stdin = qemu.stdin.take().ok_or("QEMU's stdin is not piped")?;
    // Fed from a thread: a UART takes bytes only as fast as the program reads them, and QEMU
    // reads its stdin only as fast as the UART takes them.
    let (ready, wait_ready) = mpsc::channel::<()>();
    let wait = session.input_after.is_some();
    std::thread::spawn(move || {
        if wait && wait_ready.recv().is_err() {
            return;
        }
        let _ = stdin.write_all(&input);
    });
    let lines = qemu.stdout.take().map(BufReader::new).ok_or("QEMU's stdout is not piped")?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.split(b'\n') {
            let Ok(line) = line else { break };
            if sender.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                break;
            }
        }
    });
    let mut output = String::new();
    loop {
        match receiver.recv_timeout(Duration::from_secs(session.silence_s)) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
                if session.input_after.is_some_and(|start| line.starts_with(start)) {
                    let _ = ready.send(());
                }
                if session.last_line.is_some_and(|end| line.starts_with(end)) {
                    let _ = qemu.kill();
                    let _ = qemu.wait();
                    return Ok(output);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let _ = qemu.kill();
                let _ = qemu.wait();
                return Err(format!("{board}: no output for {} s, QEMU stopped; output so far:\n{output}", session.silence_s));
            }
        }
    }
    let finished = qemu.wait_with_output().map_err(|e| e.to_string())?;
    if !finished.status.success() || session.last_line.is_some() {
        return Err(format!(
            "{board}: QEMU exited with {:?}{}:\n{output}{}",
            finished.status.code(),
            session.last_line.map_or(String::new(), |end| format!(" before printing '{end}'")),
            String::from_utf8_lossy(&finished.stderr)
        ));
    }
    Ok(output)
}

/// `job` over every item on two worker threads (QEMU is single-threaded and the machines have
/// two cores), the results in the items' order.
pub fn on_two_workers<T: Send, R: Send>(items: Vec<T>, job: impl Fn(T) -> R + Sync) -> Vec<R> {
    let queue = Mutex::new(items.into_iter().enumerate());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((i, item)) = queue.lock().unwrap().next() else { break };
                let result = job(item);
                results.lock().unwrap().push((i, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// A safetensors file of golden arrays, widened to f32 / i64 on request.
pub struct GoldenFile {
    bytes: Vec<u8>,
}

impl GoldenFile {
    /// Reads the file; panics with the path on failure (tests only).
    pub fn open(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { bytes }
    }

    fn view(&self) -> safetensors::SafeTensors<'_> {
        safetensors::SafeTensors::deserialize(&self.bytes).expect("valid safetensors")
    }

    /// Names of all arrays.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.view().names().into_iter().map(String::from).collect();
        names.sort();
        names
    }

    /// An f32 array by name.
    pub fn f32s(&self, name: &str) -> Vec<f32> {
        let view = self.view();
        let t = view.tensor(name).unwrap_or_else(|_| panic!("golden array {name} missing"));
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
        t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    }

    /// An integer array by name, as u32 (ids).
    pub fn ids(&self, name: &str) -> Vec<u32> {
        let view = self.view();
        let t = view.tensor(name).unwrap_or_else(|_| panic!("golden array {name} missing"));
        match t.dtype() {
            safetensors::Dtype::I64 => {
                t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect()
            }
            safetensors::Dtype::I32 => {
                t.data().chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap()) as u32).collect()
            }
            other => panic!("{name}: unexpected dtype {other:?}"),
        }
    }
}

/// max |a - b| / max |b|: the error relative to the reference's magnitude.
pub fn relative_max_diff(got: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(got.len(), reference.len(), "lengths differ");
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let diff = got.iter().zip(reference).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

// --- synthetic weights ---------------------------------------------------------------------------

/// FNV-1a, 64 bit: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The standard splitmix64 finaliser (all arithmetic wrapping).
pub fn splitmix64(z: u64) -> u64 {
    let z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A synthetic weight tensor, bit-identical to `synthetic_values` in
/// `tools/golden/make_float_golden.py` (spec: `tools/golden/README.md`, "Synthetic weights").
///
/// Element `i` (row-major flat index) is
/// `k = splitmix64(fnv1a64(name) wrapping_add i) >> 54` (10 bits, 0..=1023) and
/// `value = (k - 512) * 2^-(9 + shift)`, plus 1 when `gamma` (LayerNorm weights). Every step is
/// exact in f32: `k - 512` has at most 10 bits, the scale is a power of two, and `1 + value`
/// needs at most `10 + shift` significant bits.
pub fn synthetic_tensor(name: &str, numel: usize, shift: u32, gamma: bool) -> Vec<f32> {
    assert!(shift <= 14, "{name}: shift {shift} would need more than f32's 24 significant bits with gamma");
    let seed = fnv1a64(name.as_bytes());
    let scale = f32::from_bits((127 - 9 - shift) << 23); // 2^-(9 + shift), exactly
    let offset = if gamma { 1.0 } else { 0.0 };
    (0..numel as u64)
        .map(|i| {
            let k = (splitmix64(seed.wrapping_add(i)) >> 54) as i32;
            offset + (k - 512) as f32 * scale
        })
        .collect()
}

/// Turns a synthetic golden folder (`config.json`, `tokenizer_config.json`, `vocab.txt`,
/// `synthetic.json`: tensor name -> `{"shape": [...], "shift": n, "gamma": bool}`) into an
/// ordinary checkpoint folder at `dst_dir` (created; emptied first if it exists): the three
/// files copied, plus `model.safetensors` with every manifest tensor as F32.
pub fn materialise_synthetic(src_dir: &Path, dst_dir: &Path) -> std::io::Result<()> {
    let manifest_path = src_dir.join("synthetic.json");
    let manifest: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&manifest_path)?)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    if dst_dir.exists() {
        std::fs::remove_dir_all(dst_dir)?;
    }
    std::fs::create_dir_all(dst_dir)?;
    for file in ["config.json", "tokenizer_config.json", "vocab.txt"] {
        std::fs::copy(src_dir.join(file), dst_dir.join(file))?;
    }
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = manifest
        .iter()
        .map(|(name, entry)| {
            let bad = format!("{}: malformed entry for {name}", manifest_path.display());
            let shape: Vec<usize> = entry["shape"]
                .as_array()
                .expect(&bad)
                .iter()
                .map(|d| d.as_u64().expect(&bad) as usize)
                .collect();
            let shift = entry["shift"].as_u64().expect(&bad) as u32;
            let gamma = entry["gamma"].as_bool().expect(&bad);
            let values = synthetic_tensor(name, shape.iter().product(), shift, gamma);
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), shape, bytes)
        })
        .collect();
    let views = tensors.iter().map(|(name, shape, bytes)| {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
            .expect("shape matches data");
        (name.as_str(), view)
    });
    safetensors::serialize_to_file(views, None, &dst_dir.join("model.safetensors"))
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// A fresh scratch folder `<temp>/convbert-tests-<tag>-<pid>` (not created); the caller removes it.
pub fn scratch_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("convbert-tests-{tag}-{}", std::process::id()))
}

/// The start of the demo's answer line for `text` as the host engine computes it on `blob`:
/// `label score ` (`firmware/app/src/demo.rs`: the score in thousandths, rounded from Q15;
/// `no-intent` for a rejected text).
pub fn demo_answer_start(blob: &[u8], text: &str) -> String {
    use convbert::int8::{arena_bytes, AlignedBlob, Engine, Model};
    let aligned = AlignedBlob::new(blob);
    let model = Model::from_bytes(aligned.bytes()).unwrap();
    let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
    let mut engine = Engine::new(&model, &mut arena).unwrap();
    let c = engine.classify(text).unwrap();
    let milli = (u32::from(c.score_q15) * 1000 + 16384) >> 15;
    let label = if c.intent.is_some() { c.label_name } else { "no-intent" };
    format!("{label} {}.{:03} ", milli / 1000, milli % 1000)
}
