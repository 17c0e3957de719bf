//! Command-line parsing failures as one line, like every other `convbert` error.
//!
//! clap writes a usage error as several paragraphs (the error, tips, the usage, a pointer to
//! `--help`); scripts and logs read one line per failure, so the paragraphs are joined.
//! `--help` and `--version` print as clap writes them.

use clap::error::ErrorKind;
use std::process::ExitCode;

/// Exit status of a usage error (unknown option, missing or invalid argument): 2, as clap
/// and most Unix commands use; a command that parsed but failed exits with 1.
pub const USAGE_ERROR: u8 = 2;

/// Prints `error` (help and version text to stdout as clap formats them, anything else as
/// one line on stderr) and returns the status to exit with.
pub fn report(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // A closed pipe (`convbert --help | head`) is the reader's choice.
            let _ = error.print();
            ExitCode::SUCCESS
        }
        // clap shows the whole help when no command is given.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("error: no command given; try `convbert --help` for the list");
            ExitCode::from(USAGE_ERROR)
        }
        _ => {
            eprintln!("{}", one_line(&error.render().to_string()));
            ExitCode::from(USAGE_ERROR)
        }
    }
}

/// clap's rendered error with each paragraph on one line and paragraphs joined by `; `; the
/// closing "For more information, try '--help'." is dropped (the usage is kept).
fn one_line(rendered: &str) -> String {
    rendered
        .split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|paragraph| !paragraph.is_empty() && !paragraph.starts_with("For more information"))
        .map(|paragraph| match paragraph.strip_prefix("Usage: ") {
            Some(usage) => format!("usage: {usage}"),
            None => paragraph,
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_become_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  --model <MODEL>\n  --out <OUT>\n\n\
                        Usage: convbert quantize --model <MODEL> --out <OUT>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "error: the following required arguments were not provided: --model <MODEL> --out <OUT>; \
             usage: convbert quantize --model <MODEL> --out <OUT>"
        );
    }
}
