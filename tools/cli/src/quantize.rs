//! `convbert quantize`: a Hugging Face checkpoint in, one packed int8 blob out, with a report
//! of what quantization cost (SQNR per layer, agreement with the float model, memory).

use std::io::Write;
use crate::{progress, texts, CliResult};
use convbert::int8::{arena_bytes, AlignedBlob, Model};
use convbert::tokenizer::TokenizerSettings;
use convbert_hf::Checkpoint;
use convbert_quantize::{calibrate, dense_inputs, measure, pack, spread, PackOptions, PackVocab, Report};
use std::path::{Path, PathBuf};

/// The command's arguments (see `main.rs`).
pub struct Options<'a> {
    pub model: &'a Path,
    pub calib: &'a Path,
    pub samples: usize,
    pub max_len: Option<usize>,
    pub prune_vocab: &'a [PathBuf],
    pub out: &'a Path,
    pub pack: PackOptions<'a>,
    pub weight_rounding: WeightRounding,
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

    let rows = texts::read_tsv(o.calib)?;
    let calibration: Vec<String> = spread(&rows, o.samples).into_iter().map(|(_, t)| t).collect();
    let bar = progress::bar("calibrating", calibration.len());
    let ranges = calibrate(&model, &tokenizer, &calibration, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();

    let full = PackVocab::full(&ckpt.vocab_text, ckpt.config.vocab_size);
    let vocab = if o.prune_vocab.is_empty() {
        full
    } else {
        let mut corpus = Vec::new();
        for path in o.prune_vocab {
            corpus.extend(texts::read_tsv(path)?.into_iter().map(|(_, t)| t));
        }
        let pruned = PackVocab::pruned(&tokenizer, &corpus)?;
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
            Some(inputs)
        }
        WeightRounding::Nearest => None,
    };
    let options = PackOptions { dense_inputs: inputs.as_ref(), ..o.pack };
    let packed = pack(&model, settings, &vocab, &ckpt.labels, &ranges, options)?;
    std::fs::write(o.out, &packed.blob).map_err(|e| format!("{}: {e}", o.out.display()))?;

    let blob = AlignedBlob::new(&packed.blob);
    let qmodel = Model::from_bytes(blob.bytes())?;
    let bar = progress::bar("measuring", calibration.len());
    let report = measure(&model, &tokenizer, &packed, blob.bytes(), &calibration, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();

    writeln!(out, "blob         {} ({} bytes, {} vocabulary tokens)", o.out.display(), packed.blob.len(), Model::from_bytes(blob.bytes())?.tokenizer().vocab.len())?;
    writeln!(out, "calibration  {} texts spread over {}", calibration.len(), o.calib.display())?;
    let arena: Vec<String> = [16, 32, 64, 128].iter().map(|&l| format!("{l} tokens {}", arena_bytes(&qmodel, l))).collect();
    writeln!(out, "arena bytes  {} (max length {max_len})", arena.join(", "))?;
    print_report(&report, out)?;
    let chart = o.out.with_extension("sqnr.svg");
    write_chart(&report, &chart)?;
    writeln!(out, "chart        {}", chart.display())?;
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
