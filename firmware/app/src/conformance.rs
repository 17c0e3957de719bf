//! The conformance runner: classifies embedded cases, one machine-readable line each.
//!
//! ```text
//! conformance arena_bytes=<need> arena_static=<given> blob_bytes=<n> max_len=<tokens> labels=<n> cases=<n>
//! case <i> tokens=<n> truncated=<0|1> label=<id> score_q15=<u16> instructions=<u64> logits=<i32>,<i32>,...
//! error <i> <message>
//! done cases=<n> errors=<n>
//! ```
//! Cases are the lines of the cases file, verbatim (a trailing `\r` dropped), empty lines
//! skipped; `<i>` counts the non-empty lines from 0. Exit status 0 when no case failed.

use crate::{start, timed_classify, Board, Out};
use convbert::int8::Model;
use core::fmt::Write;

/// The non-empty lines of the cases file.
fn cases(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).filter(|l| !l.is_empty())
}

/// Runs every case, prints the results, exits.
pub fn conformance<B: Board>(board: &mut B, blob: &'static [u8], arena: &mut [u8], cases_text: &[u8]) -> ! {
    let given = arena.len();
    let mut engine = start(board, blob, arena);
    let (need, labels) = header(engine.model());
    let count = cases(cases_text).count();
    let _ = writeln!(
        Out(board),
        "conformance arena_bytes={need} arena_static={given} blob_bytes={} max_len={} labels={labels} cases={count}",
        blob.len(),
        engine.model().tokenizer().settings.max_len
    );
    let mut errors = 0;
    for (i, text) in cases(cases_text).enumerate() {
        let (result, instructions) = timed_classify(board, &mut engine, text);
        let mut out = Out(board);
        let _ = match result {
            Ok(c) => {
                let _ = write!(
                    out,
                    "case {i} tokens={} truncated={} label={} score_q15={} instructions={} logits=",
                    c.tokens,
                    u8::from(c.truncated),
                    c.label,
                    c.score_q15,
                    instructions
                );
                for (j, l) in c.logits.iter().enumerate() {
                    let _ = write!(out, "{}{l}", if j == 0 { "" } else { "," });
                }
                writeln!(out)
            }
            Err(e) => {
                errors += 1;
                writeln!(out, "error {i} {e}")
            }
        };
    }
    let _ = writeln!(Out(board), "done cases={count} errors={errors}");
    board.exit(if errors == 0 { 0 } else { 1 })
}

/// Exact arena bytes for the model's longest input, and its label count.
fn header(model: &Model<'_>) -> (usize, usize) {
    let max_len = model.tokenizer().settings.max_len;
    (convbert::int8::arena_bytes(model, max_len), model.config().num_labels)
}
