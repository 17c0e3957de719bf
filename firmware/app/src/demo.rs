//! The intent demo: one utterance per input line, one result line per utterance.
//!
//! Output per line: `<label> <score> <instructions> "<text>"`, score as a decimal probability
//! (from the Q15 score), instructions counted around `classify_bytes` (tokenizer included).
//! `<label>` is `no-intent` when the blob's rejection threshold turns the best label down (the
//! score is then that label's).
//! Input ends with EOT (0x04, Ctrl-D): a UART has no end-of-file.

use crate::{start, timed_classify, Board, Out};
use convbert::int8::Engine;
use core::fmt::Write;

/// Longest line kept; the rest of a longer line is dropped (the model keeps 64 tokens anyway).
pub(crate) const LINE: usize = 512;
/// End of transmission: the host sends it after the last line.
const EOT: u8 = 0x04;
/// The label printed for an utterance the model rejects as out of scope.
const NO_INTENT: &str = "no-intent";

/// Runs the demo until EOT (or forever), then exits with 0 (1 if any line failed).
pub fn demo<B: Board>(board: &mut B, blob: &'static [u8], arena: &mut [u8]) -> ! {
    let mut engine = start(board, blob, arena);
    let _ = writeln!(Out(board), "ready: type an utterance per line, Ctrl-D to end");
    let mut line = [0u8; LINE];
    let mut failures = 0;
    while let Some(text) = read_line(board, &mut line) {
        if !answer(board, &mut engine, text) {
            failures += 1;
        }
    }
    board.exit(if failures == 0 { 0 } else { 1 })
}

/// The next non-blank input line, trimmed (at most [`LINE`] bytes of it); `None` at EOT or
/// when the board has no input.
pub(crate) fn read_line<'l, B: Board>(board: &mut B, line: &'l mut [u8; LINE]) -> Option<&'l [u8]> {
    let mut len = 0;
    loop {
        match board.read_byte()? {
            EOT => return None,
            b'\n' | b'\r' if !line[..len].trim_ascii().is_empty() => return Some(line[..len].trim_ascii()),
            b'\n' | b'\r' => len = 0,
            b if len < LINE => {
                line[len] = b;
                len += 1;
            }
            _ => {}
        }
    }
}

/// Classifies `text` and prints its result line (or its error); false on an error.
pub(crate) fn answer<B: Board>(board: &mut B, engine: &mut Engine<'_, '_>, text: &[u8]) -> bool {
    let (result, instructions) = timed_classify(board, engine, text);
    let mut out = Out(board);
    match result {
        Ok(c) => {
            let milli = (u32::from(c.score_q15) * 1000 + 16384) >> 15;
            let label = if c.intent.is_some() { c.label_name } else { NO_INTENT };
            let _ = writeln!(out, "{label} {}.{:03} {instructions} \"{}\"", milli / 1000, milli % 1000, Text(text));
            true
        }
        Err(e) => {
            let _ = writeln!(out, "error: {e} \"{}\"", Text(text));
            false
        }
    }
}

/// Displays bytes as UTF-8, with `?` for invalid sequences.
struct Text<'t>(&'t [u8]);

impl core::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("?")?;
            }
        }
        Ok(())
    }
}
