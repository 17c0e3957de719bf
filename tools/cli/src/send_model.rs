//! `convbert send-model`: a new model for a board running the `update` firmware, over its
//! serial port, without reflashing (protocol: `firmware/app/src/update.rs`, host side
//! `convbert_uart`).

use crate::CliResult;
use convbert_uart::{Console, Update};
use std::fs::OpenOptions;
use std::io::{BufReader, Write};
use std::path::Path;

pub fn run(port: &Path, blob: &Path, out: &mut dyn Write) -> CliResult {
    let bytes = std::fs::read(blob).map_err(|e| format!("{}: {e}", blob.display()))?;
    let open = |what| OpenOptions::new().read(true).write(true).open(port).map_err(|e| format!("{} ({what}): {e}", port.display()));
    let mut board = Console::new(BufReader::new(open("reading")?), open("writing")?);
    match board.update(&bytes)? {
        Update::Taken(how) => writeln!(out, "taken: {how}")?,
        Update::Refused(why) => return Err(format!("the board refused {}: {why} (its old model keeps answering)", blob.display()).into()),
    }
    Ok(())
}
