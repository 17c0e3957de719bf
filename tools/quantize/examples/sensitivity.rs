//! Which tensors does int8 hurt? Rounds tensors to int8 or int16 on their calibrated scales,
//! leaves everything else in f32, and counts how often the float model's top-1 label survives,
//! over a test set. The int8 engine keeps the sensitive ones wider.
//!
//! ```text
//! cargo run --release -p convbert-quantize --example sensitivity -- \
//!     MODEL_DIR CALIB.tsv SAMPLES TEST.tsv [one-at-a-time | engine | weights]
//! ```
//! `one-at-a-time` (the default) rounds one kind of tensor (every layer's) to int8 at a time;
//! `engine` rounds every activation to the engine's precision (blob format 2's, then 3's; weights,
//! softmax and LayerNorm stay f32) and widens the remaining int8 ones; `weights` rounds the
//! weights to int8 by nearest (one scale per output channel, format 2's or 3's embedding-table
//! scales), all of them and one part of the model at a time.
//! (`docs/INT8.md` has the tables.)

use convbert::float::{FloatModel, Observer, Point};
use convbert::tokenizer::Tokenizer;
use convbert_hf::Checkpoint;
use convbert_quantize::{on_all_cores, spread, Ranges};
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

impl Calibration {
    fn merge(&mut self, other: Calibration) {
        self.ranges.merge(other.ranges);
        for (key, theirs) in other.channels {
            let ours = self.channels.entry(key).or_insert_with(|| vec![0.0; theirs.len()]);
            for (c, t) in ours.iter_mut().zip(theirs) {
                *c = c.max(t);
            }
        }
    }
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

/// Rounds every listed point to `bits` on its calibrated per-tensor scale, or with one scale
/// per channel for the `per_channel` points among them.
#[derive(Clone, Copy)]
struct FakeQuant<'r> {
    calibration: &'r Calibration,
    points: &'r [(Point, u32)],
    per_channel: bool,
}

impl Observer for FakeQuant<'_> {
    fn observe(&mut self, layer: usize, point: Point, values: &mut [f32]) {
        let Some(&(_, bits)) = self.points.iter().find(|(p, _)| *p == point) else {
            return;
        };
        let top = ((1u32 << (bits - 1)) - 1) as f32;
        let channels = self.calibration.channels.get(&(layer, point)).filter(|_| self.per_channel);
        let overall = self.calibration.ranges.get(layer, point);
        for (c, v) in values.iter_mut().enumerate() {
            let max = channels.and_then(|m| m.get(c)).map_or(overall, |&m| m.max(1e-6) as f64);
            let step = (max / top as f64) as f32;
            *v = (*v / step).round().clamp(-top, top) * step;
        }
    }
}

fn texts(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().filter_map(|l| l.split_once('\t')).map(|(_, t)| t.to_owned()).collect()
}

/// The model's top-1 label for every text, with `observer` (one copy per core) seeing and
/// changing every intermediate tensor.
fn predictions<O: Observer + Send>(model: &FloatModel<'_>, tokenizer: &Tokenizer<'_>, texts: &[String], observer: impl Fn() -> O + Sync) -> (Vec<usize>, Vec<O>) {
    let shares = on_all_cores(
        texts,
        |share, tick| {
            let max_len = tokenizer.settings.max_len;
            let (mut ids, mut scratch) = (vec![0u32; max_len], vec![0.0f32; model.scratch_len(max_len)]);
            let mut logits = vec![0.0f32; model.config().num_labels];
            let mut observer = observer();
            let labels: Vec<usize> = share
                .items
                .iter()
                .map(|text| {
                    let e = tokenizer.encode(text, &mut ids).unwrap();
                    model.classify_observed(&ids[..e.len], None, &mut scratch, &mut logits, &mut observer).unwrap();
                    tick();
                    (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap()
                })
                .collect();
            Ok((labels, observer))
        },
        |_, _| {},
    )
    .unwrap();
    let (labels, observers): (Vec<Vec<usize>>, Vec<O>) = shares.into_iter().unzip();
    (labels.concat(), observers)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model_dir, calib, samples, test, study) = match &args[..] {
        [m, c, s, t] => (m, c, s, t, "one-at-a-time"),
        [m, c, s, t, study] => (m, c, s, t, study.as_str()),
        _ => {
            eprintln!("usage: sensitivity MODEL_DIR CALIB.tsv SAMPLES TEST.tsv [one-at-a-time | engine | weights]");
            std::process::exit(2)
        }
    };
    let ckpt = Checkpoint::load(model_dir).unwrap();
    let tokenizer = ckpt.tokenizer().unwrap();
    let layers = ckpt.float_layers().unwrap();
    let model = ckpt.float_model(&layers).unwrap();
    let test = texts(test);
    let (reference, _) = predictions(&model, &tokenizer, &test, || ());
    let rows = match study {
        "one-at-a-time" => one_at_a_time(),
        "engine" => engine_precisions(),
        "weights" => int8_weights(),
        other => panic!("unknown study {other}"),
    };
    println!("| rounded | top-1 agreement with f32 |");
    println!("|---|---|");
    // The packer's calibration (each text alone, at its exact length), with per-channel ranges;
    // made when the first row rounds activations.
    let mut calibration = None;
    for row in rows {
        let calibration = match (&calibration, row.points.is_empty()) {
            (Some(c), _) => c,
            (None, true) => &Calibration::default(),
            (None, false) => {
                let mut c = Calibration::default();
                let (_, shares) = predictions(&model, &tokenizer, &spread(&texts(calib), samples.parse().unwrap()), Calibration::default);
                for share in shares {
                    c.merge(share);
                }
                calibration.insert(c)
            }
        };
        // Rounded weights need their own copy of the checkpoint; calibration stays on the f32 one.
        let rounded = row.weights.as_ref().map(|which| {
            let mut copy = Checkpoint::load(model_dir).unwrap();
            round_weights(&mut copy, which, row.one_scale_per_table);
            copy
        });
        let rounded_layers = rounded.as_ref().map(|c| c.float_layers().unwrap());
        let rounded_model = rounded.as_ref().zip(rounded_layers.as_ref()).map(|(c, l)| c.float_model(l).unwrap());
        let model = rounded_model.as_ref().unwrap_or(&model);
        let quant = FakeQuant { calibration, points: &row.points, per_channel: row.per_channel };
        let (got, _) = predictions(model, &tokenizer, &test, || quant);
        let agree = got.iter().zip(&reference).filter(|(a, b)| a == b).count();
        println!("| {} | {:.2} % ({agree}/{}) |", row.name, 100.0 * agree as f64 / test.len() as f64, test.len());
    }
}

/// Rounds the weights whose Hugging Face names `which` accepts to int8 as the packer does: one
/// scale per output channel (per row of the embedding tables). With `one_scale_per_table`, the
/// position and token type tables get one scale each, as blob format 2 had them. Biases and
/// LayerNorm parameters stay f32.
fn round_weights(ckpt: &mut Checkpoint, which: &dyn Fn(&str) -> bool, one_scale_per_table: bool) {
    ckpt.map_tensors(|name, shape, values| {
        if !name.ends_with(".weight") || shape.len() < 2 || !which(name) {
            return;
        }
        let small_table = name.contains("position_embeddings") || name.contains("token_type_embeddings");
        let channel = if small_table && one_scale_per_table { values.len() } else { values.len() / shape[0] };
        for row in values.chunks_mut(channel.max(1)) {
            let step = row.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12) / 127.0;
            for v in row {
                *v = (*v / step).round() * step;
            }
        }
    });
}

/// A table row: its name, the rounded activations with their bits, per-channel activation
/// scales or not, and which weights are rounded to int8 (none if `None`).
struct Row {
    name: String,
    points: Vec<(Point, u32)>,
    per_channel: bool,
    weights: Option<Box<dyn Fn(&str) -> bool>>,
    /// Position and token type tables with one scale each (blob format 2), not one per row.
    one_scale_per_table: bool,
}

/// One kind of tensor in int8 at a time.
fn one_at_a_time() -> Vec<Row> {
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
    kinds
        .iter()
        .map(|&(name, points, per_channel)| Row {
            name: format!("int8: {name}"),
            points: points.iter().map(|&p| (p, 8)).collect(),
            per_channel,
            weights: None,
            one_scale_per_table: false,
        })
        .collect()
}

/// Every activation in int16 except the `int8` ones.
fn engine_activations(int8: &[Point]) -> Vec<(Point, u32)> {
    use Point::*;
    let all = [EmbeddingNorm, Projected, Query, Key, Value, ConvValue, Depthwise, SpanKey, KeyQuery, Mixed];
    let all = all.into_iter().chain([AttentionNorm, FfnPre, FfnAct, FfnNorm, HeadPre, HeadAct]);
    all.map(|p| (p, if int8.contains(&p) { 8 } else { 16 })).collect()
}

/// The activations at blob format 2's precisions (q, k and both activation-table inputs int8),
/// then those int8 ones widened, up to format 3's (q and k int8) and all int16.
fn engine_precisions() -> Vec<Row> {
    use Point::*;
    let row = |name: &str, int8: &[Point]| Row {
        name: name.to_owned(),
        points: engine_activations(int8),
        per_channel: false,
        weights: None,
        one_scale_per_table: false,
    };
    vec![
        row("format 2 activations: q, k, FFN and classifier activation inputs int8", &[Query, Key, FfnPre, HeadPre]),
        row("format 2, classifier activation input int16", &[Query, Key, FfnPre]),
        row("format 2, FFN activation input int16", &[Query, Key, HeadPre]),
        row("format 3 activations: q, k int8", &[Query, Key]),
        row("all activations int16", &[]),
    ]
}

/// The int8 weights (f32 activations): first with blob format 2's scales (one per position /
/// token-type table), all and by part, then with format 3's (one per row) by part, and last all
/// of them with format 3's activations.
fn int8_weights() -> Vec<Row> {
    let row = |name: &str, weights: fn(&str) -> bool, one_scale_per_table: bool| Row {
        name: name.to_owned(),
        points: vec![],
        per_channel: false,
        weights: Some(Box::new(weights)),
        one_scale_per_table,
    };
    let mut rows = vec![
        row("format 2 scales: all weights", |_| true, true),
        row("format 2 scales: the embedding tables and projection only", |n| n.contains("embeddings"), true),
        row("format 2 scales: the word embeddings only", |n| n.contains("word_embeddings"), true),
        row("format 2 scales: the position embeddings only", |n| n.contains("position_embeddings"), true),
        row("format 2 scales: the token type embeddings only", |n| n.contains("token_type_embeddings"), true),
        row("format 3 scales: all weights", |_| true, false),
        row("format 3 scales: the embedding tables and projection only", |n| n.contains("embeddings"), false),
        row("format 3 scales: the attention only", |n| n.contains(".attention."), false),
        row("format 3 scales: the FFN only", |n| n.contains(".intermediate.") || (n.contains(".output.") && !n.contains(".attention.")), false),
        row("format 3 scales: the classifier only", |n| n.starts_with("classifier."), false),
    ];
    rows.push(Row {
        name: "format 3 scales: all weights, format 3 activations".into(),
        points: engine_activations(&[Point::Query, Point::Key]),
        per_channel: false,
        weights: Some(Box::new(|_| true)),
        one_scale_per_table: false,
    });
    rows
}
