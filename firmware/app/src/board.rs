//! What a program needs from a board: bytes out, bytes in, an instruction counter, an exit.

/// The board services the programs use. Implementations live in the board crates.
pub trait Board {
    /// Writes all of `bytes` to the console (blocking).
    fn write(&mut self, bytes: &[u8]);
    /// Waits for the next input byte; `None` when the board has no input at all.
    fn read_byte(&mut self) -> Option<u8>;
    /// A free-running count of executed instructions (or cycles on real hardware).
    fn instructions(&mut self) -> u64;
    /// Ends the program with `code` (0 = success), e.g. through semihosting.
    fn exit(&mut self, code: i32) -> !;
}

/// `core::fmt::Write` over a board's console, for `write!`.
pub struct Out<'b, B: Board>(pub &'b mut B);

impl<B: Board> core::fmt::Write for Out<'_, B> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}
