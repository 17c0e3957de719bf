//! Newline-terminated lists (the vocabulary, the blob's label names) split without a panic
//! path.
//!
//! `str::split_terminator('\n')` is the same split, but its `char` searcher slices a UTF-8
//! buffer by a length the optimiser cannot bound, which leaves a panic site in every program
//! that parses a blob (`tests/no_panic.rs` links a probe whose panic handler cannot link). A
//! `\n` byte is always a character boundary, so searching bytes needs no such slice.

/// The lines of `text`, each without its `\n`; as in `BufRead::lines`, a final newline does not
/// start an empty last line.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> + Clone {
    let mut rest = text;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match rest.bytes().position(|b| b == b'\n') {
            Some(end) => (rest.get(..end)?, rest.get(end + 1..)?),
            None => (rest, ""),
        };
        rest = next;
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::lines;

    #[test]
    fn splits_like_split_terminator() {
        for text in ["", "\n", "a", "a\n", "a\nb", "a\n\nb\n", "ä\nß\n\n", "\n\nx"] {
            let ours: Vec<&str> = lines(text).collect();
            let std: Vec<&str> = text.split_terminator('\n').collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }
}
