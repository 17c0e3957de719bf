//! Which tensors does int8 hurt? Rounds one kind of tensor (every layer's) to int8 with its
//! calibrated scale, leaves everything else in f32, and counts how often the float model's
//! top-1 label survives, over a test set. The int8 engine keeps the sensitive ones wider.
//!
//! ```text
//! cargo run --release -p convbert-quantize --example sensitivity -- \
//!     MODEL_DIR CALIB.tsv SAMPLES TEST.tsv
//! ```
//! (`docs/INT8.md` has the table for `weights/clinc-tiny`.)

use convbert::float::{FloatModel, Observer, Point};
use convbert::tokenizer::Tokenizer;
use convbert_hf::Checkpoint;
use convbert_quantize::{spread, Ranges};
use std::collections::HashMap;

/// The LayerNorm outputs (and the embedding projection), which have BERT's outlier channels:
/// their ranges are also kept per channel. They come one token row at a time, so element `c`
/// of a row is channel `c`.
const PER_CHANNEL: [Point; 4] = [Point::EmbeddingNorm, Point::Projected, Point::AttentionNorm, Point::FfnNorm];

/// The packer's per-tensor ranges, plus per-channel ones for the [`PER_CHANNEL`] points.
#[derive(Default)]
struct Calibration {
    ranges: Ranges,
    channels: HashMap<(usize, Point), Vec<f32>>,
}

impl Observer for Calibration {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        self.ranges.observe(layer, point, values);
        if PER_CHANNEL.contains(&point) {
            let channels = self.channels.entry((layer, point)).or_insert_with(|| vec![0.0; values.len()]);
            for (c, v) in channels.iter_mut().zip(values.iter()) {
                *c = c.max(v.abs());
            }
        }
    }
}

/// Rounds every listed point to int8 on its calibrated per-tensor scale, or with one scale per
/// channel for the `per_channel` points among them.
struct FakeQuant<'r> {
    calibration: &'r Calibration,
    points: &'r [Point],
    per_channel: bool,
}

impl Observer for FakeQuant<'_> {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        if !self.points.contains(&point) {
            return;
        }
        let channels = self.calibration.channels.get(&(layer, point)).filter(|_| self.per_channel);
        let overall = self.calibration.ranges.get(layer, point);
        for (c, v) in values.iter_mut().enumerate() {
            let max = channels.and_then(|m| m.get(c)).map_or(overall, |&m| m.max(1e-6) as f64);
            let step = (max / 127.0) as f32;
            *v = (*v / step).round().clamp(-127.0, 127.0) * step;
        }
    }
}

fn texts(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().filter_map(|l| l.split_once('\t')).map(|(_, t)| t.to_owned()).collect()
}

fn predictions(model: &FloatModel<'_>, tokenizer: &Tokenizer<'_>, texts: &[String], observer: &mut dyn Observer) -> Vec<usize> {
    let max_len = tokenizer.settings.max_len;
    let (mut ids, mut scratch) = (vec![0u32; max_len], vec![0.0f32; model.scratch_len(max_len)]);
    let mut logits = vec![0.0f32; model.config().num_labels];
    texts
        .iter()
        .map(|text| {
            let e = tokenizer.encode(text, &mut ids).unwrap();
            model.classify_observed(&ids[..e.len], None, &mut scratch, &mut logits, observer).unwrap();
            (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_dir, calib, samples, test] = &args[..] else {
        eprintln!("usage: sensitivity MODEL_DIR CALIB.tsv SAMPLES TEST.tsv");
        std::process::exit(2)
    };
    let ckpt = Checkpoint::load(model_dir).unwrap();
    let tokenizer = ckpt.tokenizer().unwrap();
    let layers = ckpt.float_layers().unwrap();
    let model = ckpt.float_model(&layers).unwrap();
    // The packer's calibration (each text alone, at its exact length), with per-channel ranges.
    let mut calibration = Calibration::default();
    predictions(&model, &tokenizer, &spread(&texts(calib), samples.parse().unwrap()), &mut calibration);
    let test = texts(test);
    let reference = predictions(&model, &tokenizer, &test, &mut ());

    use Point::*;
    let matmul_inputs = [EmbeddingNorm, AttentionNorm, FfnNorm, KeyQuery, Mixed, FfnAct, HeadAct, Depthwise];
    let layer_norms = [EmbeddingNorm, AttentionNorm, FfnNorm];
    let kinds: &[(&str, &[Point], bool)] = &[
        ("embedding LayerNorm output", &[EmbeddingNorm], false),
        ("embedding LayerNorm output, per channel", &[EmbeddingNorm], true),
        ("query", &[Query], false),
        ("key", &[Key], false),
        ("value", &[Value], false),
        ("conv value", &[ConvValue], false),
        ("depthwise (span key input)", &[Depthwise], false),
        ("span key", &[SpanKey], false),
        ("span key * query", &[KeyQuery], false),
        ("mixed heads", &[Mixed], false),
        ("attention LayerNorm output", &[AttentionNorm], false),
        ("FFN activation output", &[FfnAct], false),
        ("FFN LayerNorm output", &[FfnNorm], false),
        ("classifier activation", &[HeadAct], false),
        ("attention LayerNorm output, per channel", &[AttentionNorm], true),
        ("FFN LayerNorm output, per channel", &[FfnNorm], true),
        ("the three LayerNorm outputs", &layer_norms, false),
        ("the three LayerNorm outputs, per channel", &layer_norms, true),
        ("all matmul inputs", &matmul_inputs, false),
        ("all matmul inputs, LayerNorm outputs per channel", &matmul_inputs, true),
    ];
    println!("| int8 tensor | top-1 agreement with f32 |");
    println!("|---|---|");
    for &(name, points, per_channel) in kinds {
        let got = predictions(&model, &tokenizer, &test, &mut FakeQuant { calibration: &calibration, points, per_channel });
        let agree = got.iter().zip(&reference).filter(|(a, b)| a == b).count();
        println!("| {name} | {:.2} % ({agree}/{}) |", 100.0 * agree as f64 / test.len() as f64, test.len());
    }
}
