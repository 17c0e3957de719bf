//! `convbert bench`: single-thread latency of one classification per text, on the host.
//!
//! Times exactly what a caller holding token ids pays: `Engine::classify_ids` for a blob,
//! `FloatModel::classify` for a checkpoint. Tokenization stays outside the timed loop, as it
//! does for the ONNX Runtime and PyTorch peers that `tools/bench-host.sh` compares against.
//! One JSON line per text, with the logits (float scale) so that a driver can check that every
//! runtime computed the same model.

use crate::model::ModelSource;
use crate::{texts, CliResult, TextArgs};
use convbert::int8::{arena_bytes, Engine, Model};
use std::error::Error;
use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

/// How many runs to time (at least one) and how many to discard first (caches, branch
/// predictors, pages).
pub struct Runs {
    pub iters: usize,
    pub warmup: usize,
}

pub fn run(args: &TextArgs, runs: &Runs, out: &mut dyn Write) -> CliResult {
    let source = ModelSource::open(&args.model)?;
    let texts = texts::collect(args.file.as_deref(), &args.text)?;
    let tokenizer = source.tokenizer()?;
    let mut ids = Vec::new();
    for text in &texts {
        let mut buffer = vec![0; tokenizer.settings.max_len];
        let encoding = tokenizer.encode(text, &mut buffer)?;
        buffer.truncate(encoding.len);
        ids.push(buffer);
    }
    // Each closure is one classification returning float-scale logits; the few-element Vec
    // it allocates costs nanoseconds against milliseconds of inference.
    match &source {
        ModelSource::Blob(blob, _) => {
            let model = Model::from_bytes(blob.bytes())?;
            let mut arena = vec![0u8; arena_bytes(&model, model.tokenizer().settings.max_len)];
            let mut engine = Engine::new(&model, &mut arena)?;
            let scale = half::f16::from_bits(model.logit_scale_f16()).to_f32();
            time(&ids, runs, "int8", out, |ids| {
                Ok(engine.classify_ids(ids)?.logits.iter().map(|&l| l as f32 * scale).collect())
            })
        }
        ModelSource::Checkpoint(c) => {
            let layers = c.float_layers()?;
            let model = c.float_model(&layers)?;
            let mut scratch = vec![0.0; model.scratch_len(tokenizer.settings.max_len)];
            let mut logits = vec![0.0; c.labels.len()];
            time(&ids, runs, "f32", out, |ids| {
                model.classify(ids, None, &mut scratch, &mut logits)?;
                Ok(logits.clone())
            })
        }
    }
}

/// Times `classify` on each id sequence and writes one JSON line per sequence.
fn time(
    inputs: &[Vec<u32>],
    runs: &Runs,
    engine: &str,
    out: &mut dyn Write,
    mut classify: impl FnMut(&[u32]) -> Result<Vec<f32>, Box<dyn Error>>,
) -> CliResult {
    for ids in inputs {
        for _ in 0..runs.warmup {
            classify(black_box(ids))?;
        }
        let (mut wall, mut cpu) = (Vec::with_capacity(runs.iters), Vec::with_capacity(runs.iters));
        for _ in 0..runs.iters {
            let (start, start_cpu) = (Instant::now(), thread_cpu_ms());
            black_box(classify(black_box(ids))?);
            wall.push(start.elapsed().as_secs_f64() * 1e3);
            cpu.extend(start_cpu.zip(thread_cpu_ms()).map(|(start, end)| end - start));
        }
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let line = serde_json::json!({
            "engine": engine,
            "tokens": ids.len(),
            "iters": runs.iters,
            "median_ms": wall[wall.len() / 2],
            "mean_ms": wall.iter().sum::<f64>() / wall.len() as f64,
            "min_ms": wall[0],
            "cpu_median_ms": cpu.get(cpu.len() / 2),
            "logits": classify(ids)?,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// CPU time this thread has run, in ms. Unlike wall time it stops while another process holds
/// the core, so on a shared machine it follows the work itself. `None` off Unix.
fn thread_cpu_ms() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `clock_gettime` only writes the one `timespec` it is given a pointer to.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return Some(t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 * 1e-6);
        }
    }
    None
}
