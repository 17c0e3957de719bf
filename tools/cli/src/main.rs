//! `convbert`: the host command for ConvBERT models in Hugging Face checkpoint folders.
//!
//! Every failure is one line on stderr and a non-zero exit status; nothing panics on user
//! input (a missing folder, a corrupt file, invalid UTF-8 in `--file`).

mod classify;
mod inspect;
mod texts;
mod tokenize;

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
        /// One JSON object per text: {"text", "label", "score", "logits"}.
        #[arg(long)]
        json: bool,
    },
}

/// A model and the texts to run through it.
#[derive(Args)]
struct TextArgs {
    /// Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt).
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
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { model } => inspect::run(&model),
        Command::Tokenize(args) => tokenize::run(&args),
        Command::Classify { texts, json } => classify::run(&texts, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
