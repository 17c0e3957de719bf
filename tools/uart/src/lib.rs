//! The host side of the firmware's UART protocols (`firmware/app`): an utterance line in, an
//! answer line out, and the model update of the `update` program (framing in
//! `firmware/app/src/update.rs`): `SOH update <length>`, `update ready <length> <chunk>`, the
//! blob in chunks with an `ack <received>` after each, then `update ok ...` or
//! `update refused: ...`.
//!
//! Works over any byte stream: a serial port opened as a file (`stty -F /dev/ttyUSB0 115200 raw
//! -echo` first), or QEMU's stdin and stdout.

use std::io::{BufRead, Write};

/// A board on the other end of a line-based byte stream.
pub struct Console<R: BufRead, W: Write> {
    from_board: R,
    to_board: W,
}

/// What the board said about an update.
#[derive(Debug, PartialEq, Eq)]
pub enum Update {
    /// `update ok ...`: the new model answers from now on.
    Taken(String),
    /// `update refused: ...`: the old model keeps answering.
    Refused(String),
}

impl<R: BufRead, W: Write> Console<R, W> {
    pub fn new(from_board: R, to_board: W) -> Self {
        Self { from_board, to_board }
    }

    /// The board's next line, without its line end.
    ///
    /// # Errors
    /// When the stream ends or fails.
    pub fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.from_board.read_line(&mut line) {
            Ok(0) => Err("the board's output ended".into()),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => Err(format!("reading from the board: {e}")),
        }
    }

    /// Skips lines until one starts with `prefix`, and returns it.
    ///
    /// # Errors
    /// When the stream ends first.
    pub fn line_starting(&mut self, prefix: &str) -> Result<String, String> {
        loop {
            let line = self.line()?;
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    /// Sends raw bytes.
    ///
    /// # Errors
    /// When the stream fails.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.to_board.write_all(bytes).and_then(|()| self.to_board.flush()).map_err(|e| format!("writing to the board: {e}"))
    }

    /// Sends one utterance and returns the board's answer line (`label score count "text"`,
    /// or `error: ...`).
    ///
    /// # Errors
    /// When the stream fails or ends.
    pub fn ask(&mut self, utterance: &str) -> Result<String, String> {
        self.send(format!("{utterance}\n").as_bytes())?;
        loop {
            let line = self.line()?;
            if line.ends_with(&format!("\"{utterance}\"")) {
                return Ok(line);
            }
        }
    }

    /// Offers `blob` to the board; sends it in acknowledged chunks if the board has room, and
    /// returns its verdict. `announced` is the length the request states (normally
    /// `blob.len()`).
    ///
    /// # Errors
    /// When the stream fails, or the board answers outside the protocol.
    pub fn update(&mut self, blob: &[u8]) -> Result<Update, String> {
        self.send(format!("\x01update {}\n", blob.len()).as_bytes())?;
        let reply = self.line_starting("update ")?;
        if let Some(why) = reply.strip_prefix("update refused: ") {
            return Ok(Update::Refused(why.to_owned()));
        }
        let chunk: usize = reply
            .strip_prefix("update ready ")
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .filter(|&c| c > 0)
            .ok_or_else(|| format!("unexpected reply to the update request: {reply}"))?;
        let mut sent = 0;
        for piece in blob.chunks(chunk) {
            self.send(piece)?;
            sent += piece.len();
            let ack = self.line_starting("ack ")?;
            if ack != format!("ack {sent}") {
                return Err(format!("the board acknowledged `{ack}` after {sent} bytes"));
            }
        }
        let verdict = self.line_starting("update ")?;
        match (verdict.strip_prefix("update ok "), verdict.strip_prefix("update refused: ")) {
            (Some(ok), _) => Ok(Update::Taken(ok.to_owned())),
            (_, Some(why)) => Ok(Update::Refused(why.to_owned())),
            _ => Err(format!("unexpected verdict: {verdict}")),
        }
    }
}
