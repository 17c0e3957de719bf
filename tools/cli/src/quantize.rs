//! `convbert quantize`: a Hugging Face checkpoint in, one packed int8 blob out, with a report
//! of what quantization cost (SQNR per layer, agreement with the float model, memory).

use crate::model::ModelSource;
use crate::{eval, progress, texts, CliResult};
use convbert::int8::{arena_bytes, with_rejection, AlignedBlob, Engine, Model, Rejection};
use convbert::tokenizer::TokenizerSettings;
use convbert_hf::Checkpoint;
use convbert_quantize::reject::{self, OosMetrics};
use convbert_quantize::{calibrate_for_report, dense_inputs, measure, pack, spread, Calibration, PackOptions, PackVocab, Report};
use std::error::Error;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The command's arguments (see `main.rs`).
pub struct Options<'a> {
    pub model: &'a Path,
    pub calib: &'a Path,
    pub samples: usize,
    pub max_len: Option<usize>,
    pub prune_vocab: &'a [PathBuf],
    pub prune_min_count: usize,
    pub out: &'a Path,
    pub pack: PackOptions<'a>,
    pub weight_rounding: WeightRounding,
    /// The out-of-scope rule to store, if any.
    pub reject: Option<RejectOptions<'a>>,
}

/// `--reject` and its companions.
pub struct RejectOptions<'a> {
    pub threshold: Reject,
    /// Held-out labelled texts (`--valid`) to choose the threshold on and to report it.
    pub valid: Option<&'a Path>,
    /// The label meaning "none of the others" (`--oos-label`), if the model has it.
    pub oos_label: &'a str,
    /// Points of in-scope accuracy `auto` may give up on `valid`.
    pub max_drop_points: f64,
}

/// How the rejection threshold is set.
#[derive(Clone, Copy, Debug)]
pub enum Reject {
    /// The highest oos recall on `--valid` within the accuracy budget.
    Auto,
    /// Reject best-label scores below this Q15 value.
    Below(u16),
}

impl std::str::FromStr for Reject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            _ => s.parse().map(Self::Below).map_err(|_| format!("`{s}`: give `auto` or a Q15 score threshold 0-65535")),
        }
    }
}

/// How the weights get their int8 values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum WeightRounding {
    /// GPTQ: each weight row rounded so that the layer's output on the calibration inputs
    /// moves least (`convbert_quantize::gptq`).
    Gptq,
    /// Each weight to its nearest int8 step.
    Nearest,
}

/// GPTQ's input moments come from at most this many of the calibration texts: enough rows
/// (tens of thousands of tokens) for matrices of at most 1024 x 1024, and the moments cost
/// more per text than the ranges.
const GPTQ_TEXTS: usize = 2000;

pub fn run(o: &Options<'_>, out: &mut dyn Write) -> CliResult {
    let ckpt = Checkpoint::load(o.model)?;
    let tokenizer = ckpt.tokenizer()?;
    let layers = ckpt.float_layers()?;
    let model = ckpt.float_model(&layers)?;
    let max_len = o.max_len.unwrap_or(tokenizer.settings.max_len);
    if !(2..=ckpt.config.max_position_embeddings).contains(&max_len) {
        return Err(format!("--max-len {max_len} must be in 2..={}", ckpt.config.max_position_embeddings).into());
    }
    let settings = TokenizerSettings { max_len, ..tokenizer.settings };

    let calibration = calibration_texts(o.calib, o.samples)?;
    let mut phases = Phases::start();
    let bar = progress::bar("calibrating", calibration.len());
    // Calibration also keeps the float outputs the report compares with (when they fit in
    // memory), so that the report runs only the engine.
    let Calibration { ranges, reference } =
        calibrate_for_report(&model, &tokenizer, &calibration, max_len, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    phases.end("calibration");

    let full = PackVocab::full(&ckpt.vocab_text, ckpt.config.vocab_size);
    let vocab = if o.prune_vocab.is_empty() {
        full
    } else {
        let corpus = prune_corpus(o.prune_vocab)?;
        let pruned = PackVocab::pruned(&tokenizer, &corpus, o.prune_min_count)?;
        writeln!(out, 
            "vocabulary   pruned to {} of {} tokens ({} corpus texts)",
            pruned.rows.len(),
            full.rows.len(),
            corpus.len()
        )?;
        pruned
    };
    let inputs = match o.weight_rounding {
        WeightRounding::Gptq => {
            let texts = spread(&calibration, GPTQ_TEXTS);
            let bar = progress::bar("layer inputs", texts.len());
            let inputs = dense_inputs(&model, &tokenizer, &texts, |done, _| bar.set_position(done as u64))?;
            bar.finish_and_clear();
            phases.end("layer inputs");
            Some(inputs)
        }
        WeightRounding::Nearest => None,
    };
    let options = PackOptions { dense_inputs: inputs.as_ref(), ..o.pack };
    let packed = pack(&model, settings, &vocab, &ckpt.labels, &ranges, options)?;
    phases.end("packing");

    // Load the blob back as `classify` will and run one text in an `arena_bytes` arena, so
    // that a blob the engine cannot run is never written.
    let blob = AlignedBlob::new(&packed.blob);
    let qmodel = Model::from_bytes(blob.bytes()).map_err(|e| format!("the packed blob does not load back: {e}"))?;
    let mut engine_arena = vec![0u8; arena_bytes(&qmodel, qmodel.tokenizer().settings.max_len)];
    Engine::new(&qmodel, &mut engine_arena)
        .and_then(|mut engine| engine.classify(&calibration[0]).map(|_| ()))
        .map_err(|e| format!("the packed blob does not run: {e}"))?;
    let bar = progress::bar("measuring", calibration.len());
    let report =
        measure(&model, &tokenizer, &packed, blob.bytes(), &calibration, reference.as_deref(), |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    phases.end("report");
    let blob_bytes = match &o.reject {
        None => packed.blob.clone(),
        Some(r) => {
            let rejection = choose_rejection(r, &packed.blob, &ckpt.labels, out)?;
            let blob = with_rejection(&packed.blob, rejection).map_err(|e| format!("setting the rejection rule: {e}"))?;
            phases.end("rejection");
            blob
        }
    };
    write_atomically(o.out, &blob_bytes)?;

    writeln!(out, "blob         {} ({} bytes, {} vocabulary tokens)", o.out.display(), blob_bytes.len(), qmodel.tokenizer().vocab.len())?;
    writeln!(out, "calibration  {} texts spread over {}", calibration.len(), o.calib.display())?;
    let arena: Vec<String> = [16, 32, 64, 128].iter().map(|&l| format!("{l} tokens {}", arena_bytes(&qmodel, l))).collect();
    writeln!(out, "arena bytes  {} (max length {max_len})", arena.join(", "))?;
    print_report(&report, out)?;
    let chart = o.out.with_extension("sqnr.svg");
    write_chart(&report, &chart)?;
    writeln!(out, "chart        {}", chart.display())?;
    writeln!(out, "time         {}", phases.summary())?;
    Ok(())
}

/// Wall time of each step of the command, printed last: calibrating on big datasets takes
/// minutes, and this says which step to blame.
struct Phases {
    since: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    fn start() -> Self {
        Self { since: Instant::now(), done: Vec::new() }
    }

    /// Closes the step that ran since the last call (or the start) under `name`.
    fn end(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, (now - self.since).as_secs_f64()));
        self.since = now;
    }

    /// `name 1.2 s, ...`, in order.
    fn summary(&self) -> String {
        self.done.iter().map(|(name, s)| format!("{name} {s:.1} s")).collect::<Vec<_>>().join(", ")
    }
}

/// The out-of-scope rule of `--reject`: the threshold given, or the one chosen on `--valid`
/// (reported with what it does there).
fn choose_rejection(r: &RejectOptions<'_>, blob: &[u8], labels: &[String], out: &mut dyn Write) -> Result<Rejection, Box<dyn Error>> {
    let oos = labels.iter().position(|l| l == r.oos_label);
    let Some(valid) = r.valid else {
        return match r.threshold {
            Reject::Below(q15) => Ok(reject::rejection(q15, oos)),
            Reject::Auto => Err("--reject auto chooses the threshold on held-out texts: give --valid FILE.tsv".into()),
        };
    };
    let rows = texts::read_tsv(valid)?;
    let truth = eval::label_ids(&rows, labels, r.oos_label, valid)?;
    let texts: Vec<&str> = rows.iter().map(|(_, t)| t.as_str()).collect();
    let source = ModelSource::Blob(AlignedBlob::new(blob), labels.to_vec());
    let (predicted, scores) = eval::predict(&source, &texts, "rejection")?;
    // Out-of-scope texts are labelled `oos_label`, the model's own label or one past them.
    let scored = eval::scored(&truth, &predicted, &scores, oos.unwrap_or(labels.len()));
    let chosen = match r.threshold {
        Reject::Auto => reject::choose_threshold(&scored, r.max_drop_points / 100.0),
        Reject::Below(q15) => OosMetrics::at(&scored, q15),
    };
    let before = OosMetrics::at(&scored, 0);
    writeln!(
        out,
        "rejection    scores below {} ({:.3}){}; on {} ({} texts, {} out of scope): in-scope accuracy {:.2} % -> {:.2} %, \
         oos recall {:.2} % -> {:.2} %",
        chosen.below_q15,
        f64::from(chosen.below_q15) / 32768.0,
        oos.map_or(String::new(), |_| format!(" and label {}", r.oos_label)),
        valid.display(),
        scored.len(),
        chosen.oos,
        100.0 * before.in_scope_accuracy,
        100.0 * chosen.in_scope_accuracy,
        100.0 * before.oos_recall,
        100.0 * chosen.oos_recall
    )?;
    Ok(reject::rejection(chosen.below_q15, oos))
}

/// `samples` texts spread over the `label<TAB>text` lines of `path`; never empty.
fn calibration_texts(path: &Path, samples: usize) -> Result<Vec<String>, String> {
    if samples == 0 {
        return Err("--samples 0: calibration needs at least one text (default 400)".into());
    }
    let rows = texts::read_tsv(path)?;
    if rows.is_empty() {
        return Err(format!(
            "{}: no `label<TAB>text` lines to calibrate on; give --calib real inputs, e.g. the dataset's train.tsv",
            path.display()
        ));
    }
    Ok(spread(&rows, samples).into_iter().map(|(_, t)| t).collect())
}

/// The texts of every `--prune-vocab` file; each file must hold some (an empty one would
/// prune the vocabulary down to single characters).
fn prune_corpus(paths: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut corpus = Vec::new();
    for path in paths {
        let rows = texts::read_tsv(path)?;
        if rows.is_empty() {
            return Err(format!(
                "{}: no `label<TAB>text` lines to keep the vocabulary of; give --prune-vocab the texts the model \
                 must handle (e.g. the dataset's train.tsv) or leave it out",
                path.display()
            ));
        }
        corpus.extend(rows.into_iter().map(|(_, t)| t));
    }
    Ok(corpus)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it to `path`: a failure or
/// a crash never leaves a partial blob under the name the user gave.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let name = path.file_name().ok_or_else(|| format!("{}: --out must name a file", path.display()))?;
    let mut temporary_name = OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.partial", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        // Best effort: the write error is the one to report.
        let _ = std::fs::remove_file(&temporary);
        return Err(fail(e));
    }
    Ok(())
}

fn print_report(r: &Report, out: &mut dyn Write) -> CliResult {
    let stages: Vec<String> = r
        .stage_sqnr_db
        .iter()
        .enumerate()
        .map(|(i, db)| if i == 0 { format!("embeddings {db:.1}") } else { format!("L{i} {db:.1}") })
        .collect();
    writeln!(out, "SQNR dB      {}, logits {:.1}", stages.join(", "), r.logits_sqnr_db)?;
    writeln!(out, "agreement    {}/{} calibration texts ({:.2} %) same top-1 as float", r.agree, r.total, 100.0 * r.agree as f64 / r.total.max(1) as f64)?;
    Ok(())
}

/// SQNR per stage as an SVG line chart.
fn write_chart(r: &Report, path: &Path) -> CliResult {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (720, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let points: Vec<(i32, f64)> = r.stage_sqnr_db.iter().enumerate().map(|(i, &db)| (i as i32, db)).collect();
    let top = points.iter().fold(r.logits_sqnr_db, |m, p| m.max(p.1)) * 1.15 + 1.0;
    let mut chart = ChartBuilder::on(&root)
        .caption("int8 vs float: SQNR of the residual stream", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0..(points.len() as i32), 0.0..top)?;
    chart.configure_mesh().x_desc("stage (0 = embeddings, l = after layer l)").y_desc("SQNR (dB)").draw()?;
    chart.draw_series(LineSeries::new(points.clone(), &BLUE))?;
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
    let logits = (points.len() as i32, r.logits_sqnr_db);
    chart.draw_series(std::iter::once(Circle::new(logits, 5, RED.filled())))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many entries `dir` holds: only the blob, no temporary file left beside it.
    fn entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("m.cbq");
        std::fs::write(&blob, b"old").unwrap();
        write_atomically(&blob, b"new blob").unwrap();
        assert_eq!(std::fs::read(&blob).unwrap(), b"new blob");
        assert_eq!(entries(dir.path()), 1);
    }

    #[test]
    fn failed_atomic_write_removes_its_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the blob should go: the rename fails after the data was written.
        let blob = dir.path().join("m.cbq");
        std::fs::create_dir(&blob).unwrap();
        let err = write_atomically(&blob, b"blob").unwrap_err();
        assert!(err.starts_with(&format!("{}: ", blob.display())), "{err}");
        assert_eq!(entries(dir.path()), 1);
        assert!(write_atomically(&dir.path().join("no/such/folder/m.cbq"), b"blob").is_err());
        assert_eq!(entries(dir.path()), 1);
    }
}
