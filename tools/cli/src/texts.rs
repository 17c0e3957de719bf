//! The texts a command runs on: command-line arguments, or a file with one text per line.

use std::path::Path;

/// Texts from `--file` (one per line, `\r\n` accepted, blank lines kept as empty texts
/// except a final newline) followed by those given as arguments.
///
/// # Errors
/// A message naming the file, and the line for invalid UTF-8.
pub fn collect(file: Option<&Path>, args: &[String]) -> Result<Vec<String>, String> {
    let mut texts = Vec::new();
    if let Some(path) = file {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if !body.is_empty() {
            for (n, line) in body.split(|&b| b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = std::str::from_utf8(line)
                    .map_err(|e| format!("{}:{}: invalid UTF-8 ({e})", path.display(), n + 1))?;
                texts.push(text.to_owned());
            }
        }
    }
    texts.extend(args.iter().cloned());
    if texts.is_empty() {
        return Err("no text given: pass texts as arguments or --file FILE".into());
    }
    Ok(texts)
}

/// `label<TAB>text` lines of a dataset file (SNIPS/CLINC150 format), in file order: row `n`
/// is line `n + 1` (blank lines are errors, so that messages can name lines).
///
/// # Errors
/// A message naming the file, and the line for invalid UTF-8 or a missing tab.
pub fn read_tsv(path: &Path) -> Result<Vec<(String, String)>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let mut rows = Vec::new();
    for (n, line) in body.split(|&b| b == b'\n').enumerate().filter(|_| !body.is_empty()) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|e| format!("{}:{}: invalid UTF-8 ({e})", path.display(), n + 1))?;
        let (label, text) =
            line.split_once('\t').ok_or_else(|| format!("{}:{}: expected `label<TAB>text`", path.display(), n + 1))?;
        rows.push((label.to_owned(), text.to_owned()));
    }
    Ok(rows)
}
