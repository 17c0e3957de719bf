//! The intent demo: one utterance per input line, one result line per utterance.
//!
//! Output per line: `<label> <score> <instructions> "<text>"`, score as a decimal probability
//! (from the Q15 score), instructions counted around `classify_bytes` (tokenizer included).
//! Input ends with EOT (0x04, Ctrl-D): a UART has no end-of-file.

use crate::{start, timed_classify, Board, Out};
use core::fmt::Write;

/// Longest line kept; the rest of a longer line is dropped (the model keeps 64 tokens anyway).
const LINE: usize = 512;
/// End of transmission: the host sends it after the last line.
const EOT: u8 = 0x04;

/// Runs the demo until EOT (or forever), then exits with 0 (1 if any line failed).
pub fn demo<B: Board>(board: &mut B, blob: &'static [u8], arena: &mut [u8]) -> ! {
    let mut engine = start(board, blob, arena);
    let _ = writeln!(Out(board), "ready: type an utterance per line, Ctrl-D to end");
    let mut line = [0u8; LINE];
    let (mut len, mut failures) = (0usize, 0);
    loop {
        match board.read_byte() {
            None | Some(EOT) => break,
            Some(b'\n' | b'\r') => {
                let text = line[..len].trim_ascii();
                if !text.is_empty() {
                    let (result, instructions) = timed_classify(board, &mut engine, text);
                    let mut out = Out(board);
                    let _ = match result {
                        Ok(c) => {
                            let milli = (u32::from(c.score_q15) * 1000 + 16384) >> 15;
                            writeln!(out, "{} {}.{:03} {} \"{}\"", c.label_name, milli / 1000, milli % 1000, instructions, Text(text))
                        }
                        Err(e) => {
                            failures += 1;
                            writeln!(out, "error: {e} \"{}\"", Text(text))
                        }
                    };
                }
                len = 0;
            }
            Some(b) if len < LINE => {
                line[len] = b;
                len += 1;
            }
            Some(_) => {}
        }
    }
    board.exit(if failures == 0 { 0 } else { 1 })
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
