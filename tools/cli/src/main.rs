//! `convbert`: the host command for ConvBERT models in Hugging Face checkpoint folders.
//!
//! Every failure is one line on stderr and a non-zero exit status (2 for a usage error, 1 for
//! anything else); nothing panics on user input (a missing folder, a corrupt file, invalid
//! UTF-8 in `--file`).

mod classify;
mod eval;
mod inspect;
mod model;
mod progress;
mod quantize;
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
    },
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
        Command::Classify { texts, json } => classify::run(&texts, json, out),
        Command::Eval { model, data, json, float, limit } => {
            let options = eval::Options { model: &model, data: &data, json, float: float.as_deref(), limit };
            eval::run(&options, out)
        }
        Command::Quantize { model, calib, samples, max_len, prune_vocab, out: blob, residual_bits, headroom, weight_rounding } => {
            let options = quantize::Options {
                model: &model,
                calib: &calib,
                samples,
                max_len,
                prune_vocab: &prune_vocab,
                out: &blob,
                pack: convbert_quantize::PackOptions { residual_bits, headroom, dense_inputs: None },
                weight_rounding,
            };
            quantize::run(&options, out)
        }
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
