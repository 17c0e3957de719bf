//! `convbert`: the host command for ConvBERT models in Hugging Face checkpoint folders.
//!
//! Every failure is one line on stderr and a non-zero exit status (2 for a usage error, 1 for
//! anything else); nothing panics on user input (a missing folder, a corrupt file, invalid
//! UTF-8 in `--file`).

mod bench;
mod classify;
mod eval;
mod inspect;
mod model;
mod progress;
mod quantize;
mod send_model;
mod texts;
mod tokenize;
mod usage;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// ConvBERT intent classification on the host: inspect, tokenize and classify.
#[derive(Parser)]
#[command(name = "convbert", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model's config, parameter count and size per tensor group.
    Inspect {
        /// Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt).
        #[arg(long)]
        model: PathBuf,
    },
    /// Print the token ids of each text, one line per text.
    Tokenize(TextArgs),
    /// Print the predicted label and probabilities of each text.
    Classify {
        #[command(flatten)]
        texts: TextArgs,
        /// One JSON object per text: {"text", "label", "score", "logits", "truncated"}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        threads: Threads,
    },
    /// Score a model on a labelled dataset: accuracy, per-class precision/recall/F1, the most
    /// confused labels, and for a blob with `--float`, agreement with its float checkpoint.
    Eval {
        /// Hugging Face checkpoint folder or a packed `.cbq` blob.
        #[arg(long)]
        model: PathBuf,
        /// Labelled texts, `label<TAB>text` per line; every label must be one of the model's.
        #[arg(long)]
        data: PathBuf,
        /// One JSON object with every number instead of the report.
        #[arg(long)]
        json: bool,
        /// The checkpoint the `--model` blob was quantized from, to compare against.
        #[arg(long)]
        float: Option<PathBuf>,
        /// Only the first N lines of `--data`.
        #[arg(long)]
        limit: Option<usize>,
        /// The label of out-of-scope texts in `--data` (the model need not have it): reports
        /// in-scope accuracy, oos recall and overall accuracy, without and with the blob's
        /// rejection rule.
        #[arg(long, default_value = eval::OOS)]
        oos_label: String,
        #[command(flatten)]
        threads: Threads,
    },
    /// Quantize a checkpoint to a packed int8 blob, calibrating on real text.
    Quantize {
        /// Hugging Face checkpoint folder.
        #[arg(long)]
        model: PathBuf,
        /// Calibration texts, `label<TAB>text` per line (e.g. a dataset's train.tsv).
        #[arg(long)]
        calib: PathBuf,
        /// How many calibration texts to use, spread over the file.
        #[arg(long, default_value_t = 400)]
        samples: usize,
        /// Longest input in tokens the blob accepts (sizes the device's arena); default:
        /// the checkpoint's max length.
        #[arg(long)]
        max_len: Option<usize>,
        /// Keep only the vocabulary these `label<TAB>text` files need (repeatable).
        #[arg(long, num_args = 1..)]
        prune_vocab: Vec<PathBuf>,
        /// With --prune-vocab: keep only the tokens those texts use at least this often (rare
        /// words then split into shorter pieces): a smaller blob, at a cost `eval` measures.
        #[arg(long, default_value_t = 1, requires = "prune_vocab")]
        prune_min_count: usize,
        /// Output blob.
        #[arg(long)]
        out: PathBuf,
        /// Significant bits of the int16 residual stream (2-16); lower only to measure what a
        /// narrower stream costs (docs/INT8.md).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=16))]
        residual_bits: u32,
        /// Factor on every calibrated range (room for inputs beyond the calibration set).
        #[arg(long, default_value_t = 1.0)]
        headroom: f64,
        /// How weights get their int8 values: `gptq` (error-compensating, from the
        /// calibration inputs) or `nearest` (plain rounding); docs/INT8.md.
        #[arg(long, value_enum, default_value_t = quantize::WeightRounding::Gptq)]
        weight_rounding: quantize::WeightRounding,
        #[command(flatten)]
        reject: RejectArgs,
        #[command(flatten)]
        threads: Threads,
    },
    /// Send a packed blob to a board running the `update` firmware (firmware/README.md), over
    /// its serial port; the board takes it only if it validates, else keeps its old model.
    SendModel {
        /// The board's serial device, set up first (e.g. `stty -F /dev/ttyUSB0 115200 raw -echo`).
        #[arg(long)]
        port: PathBuf,
        /// The `.cbq` blob to send.
        #[arg(long)]
        blob: PathBuf,
    },
    /// Time one classification per text on one thread (tokenization excluded): the int8
    /// engine for a blob, the f32 reference for a checkpoint. One JSON line per text:
    /// {"engine", "tokens", "iters", "median_ms", "mean_ms", "min_ms", "cpu_median_ms",
    /// "logits"} (wall time; `cpu_median_ms` is the thread's CPU time, which load does not
    /// inflate).
    Bench {
        #[command(flatten)]
        texts: TextArgs,
        /// Timed runs per text.
        #[arg(long, default_value_t = 100, value_parser = at_least_one())]
        iters: usize,
        /// Untimed runs per text before them.
        #[arg(long, default_value_t = 10)]
        warmup: usize,
    },
}

/// The out-of-scope rule a blob stores: below it the engine answers "no intent".
#[derive(Args)]
struct RejectArgs {
    /// `auto`: the threshold with the highest oos recall on --valid that costs at most
    /// --reject-max-drop points of in-scope accuracy there; a number: reject best-label scores
    /// below it (Q15: 16384 is 0.5). Without it the blob never rejects.
    #[arg(long)]
    reject: Option<quantize::Reject>,
    /// Held-out `label<TAB>text` lines to choose the threshold on (and report it), e.g. the
    /// dataset's valid.tsv; labelled --oos-label for out-of-scope texts.
    #[arg(long, requires = "reject")]
    valid: Option<PathBuf>,
    /// The label meaning "none of the others" (CLINC150's): predicting it is "no intent" too.
    #[arg(long, default_value = eval::OOS, requires = "reject")]
    oos_label: String,
    /// For --reject auto: in-scope accuracy points the threshold may cost on --valid.
    #[arg(long, default_value_t = 1.5, requires = "reject")]
    reject_max_drop: f64,
}

impl RejectArgs {
    fn options(&self) -> Option<quantize::RejectOptions<'_>> {
        self.reject.map(|threshold| quantize::RejectOptions {
            threshold,
            valid: self.valid.as_deref(),
            oos_label: &self.oos_label,
            max_drop_points: self.reject_max_drop,
        })
    }
}

/// How many threads a batch command runs on.
#[derive(Args)]
struct Threads {
    /// Threads to spread the texts over (default: one per core).
    #[arg(long, value_parser = at_least_one())]
    threads: Option<usize>,
}

/// Parses a count that must not be zero.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

impl Threads {
    /// Makes it the count of every later `on_all_cores`.
    fn apply(&self) {
        if let Some(n) = self.threads {
            convbert_quantize::cores::set_threads(n);
        }
    }
}

/// A model and the texts to run through it.
#[derive(Args)]
struct TextArgs {
    /// Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt) or a packed
    /// `.cbq` blob (run by the int8 engine).
    #[arg(long)]
    model: PathBuf,
    /// Read texts from this file, one per line (UTF-8).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Texts given on the command line.
    text: Vec<String>,
}

/// What the command failed on, printed as `error: ...`.
type CliResult = Result<(), Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage::report(&e),
    };
    let stdout = std::io::stdout();
    let out = &mut stdout.lock();
    let result = match cli.command {
        Command::Inspect { model } => inspect::run(&model, out),
        Command::Tokenize(args) => tokenize::run(&args, out),
        Command::Classify { texts, json, threads } => {
            threads.apply();
            classify::run(&texts, json, out)
        }
        Command::Eval { model, data, json, float, limit, oos_label, threads } => {
            threads.apply();
            let options = eval::Options { model: &model, data: &data, json, float: float.as_deref(), limit, oos_label: &oos_label };
            eval::run(&options, out)
        }
        Command::Quantize {
            model,
            calib,
            samples,
            max_len,
            prune_vocab,
            prune_min_count,
            out: blob,
            residual_bits,
            headroom,
            weight_rounding,
            reject,
            threads,
        } => {
            threads.apply();
            let options = quantize::Options {
                model: &model,
                calib: &calib,
                samples,
                max_len,
                prune_vocab: &prune_vocab,
                prune_min_count,
                out: &blob,
                pack: convbert_quantize::PackOptions { residual_bits, headroom, dense_inputs: None },
                weight_rounding,
                reject: reject.options(),
            };
            quantize::run(&options, out)
        }
        Command::SendModel { port, blob } => send_model::run(&port, &blob, out),
        Command::Bench { texts, iters, warmup } => bench::run(&texts, &bench::Runs { iters, warmup }, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`convbert ... | head`) is the reader's choice, not a failure.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
