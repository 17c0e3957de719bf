//! The demo with model updates over the UART: a fleet gets new models without new firmware.
//!
//! Utterance lines are answered as in [`crate::demo`]. A line `SOH update <length>` (SOH is
//! 0x01, so no typed utterance can be taken for one) starts an update:
//!
//! ```text
//! host:  \x01update <length>\n
//! board: update ready <length> <chunk>        (or `update refused: ...`: nothing is sent then)
//! host:  <chunk> bytes                       (the last chunk may be shorter)
//! board: ack <bytes received so far>          after each chunk; the host waits for it
//! board: update ok <bytes> bytes, <n> labels, arena <bytes> bytes
//!    or: update refused: <why>
//! ```
//!
//! The blob goes into a heap buffer (the board's global allocator: `embedded-alloc` on the
//! QEMU boards), 16-byte aligned as [`Model::from_bytes`] wants. Only when it validates (its
//! CRC, version and every tensor) and its arena could be allocated beside the running model's
//! does it replace that model; until then, and after any refusal, the old model keeps
//! answering. A transfer that stops half-way leaves the board waiting for the rest: the UART
//! has no timeout.

extern crate alloc;

use crate::demo::{answer, read_line, LINE};
use crate::{Board, Out};
use alloc::vec::Vec;
use convbert::int8::{arena_bytes, Engine, Model};
use core::fmt::Write;

/// What starts an update line.
const REQUEST: &[u8] = b"\x01update ";
/// Bytes between acknowledgements: small enough for any UART FIFO on the host side.
pub const CHUNK: usize = 1024;

/// 16 bytes at a 16-byte aligned address: a heap blob is a vector of them.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(16))]
struct Block([u8; 16]);

/// A validated model and its arena, both owned.
struct Loaded {
    blob: Blob,
    arena: Vec<u8>,
    labels: usize,
}

/// Where the running model's bytes are.
enum Blob {
    /// The one linked into the firmware.
    Flash(&'static [u8]),
    /// One received over the UART.
    Heap { blocks: Vec<Block>, len: usize },
}

impl Blob {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Flash(bytes) => bytes,
            Self::Heap { blocks, len } => bytemuck::cast_slice::<Block, u8>(blocks).get(..*len).unwrap_or(&[]),
        }
    }
}

/// Runs the demo with updates until EOT, then exits with 0 (1 if any line failed; refused
/// updates are not failures: the board did what it should).
pub fn demo_with_updates<B: Board>(board: &mut B, flash_blob: &'static [u8]) -> ! {
    let mut loaded = match load(Blob::Flash(flash_blob), 0) {
        Ok(loaded) => loaded,
        Err(why) => {
            let _ = writeln!(Out(board), "error: built-in model: {why}");
            board.exit(2)
        }
    };
    let _ = writeln!(Out(board), "ready: type an utterance per line, Ctrl-D to end; updates: SOH update <length>");
    let mut line = [0u8; LINE];
    let mut failures = 0;
    loop {
        let next = {
            // Reported when a new model's arena does not fit beside this one.
            let running_arena = loaded.arena.len();
            let Ok(model) = Model::from_bytes(loaded.blob.bytes()) else { board.exit(2) };
            let Ok(mut engine) = Engine::new(&model, &mut loaded.arena) else { board.exit(2) };
            loop {
                let Some(text) = read_line(board, &mut line) else { board.exit(if failures == 0 { 0 } else { 1 }) };
                match text.strip_prefix(REQUEST) {
                    None => failures += usize::from(!answer(board, &mut engine, text)),
                    Some(length) => match receive(board, length, running_arena) {
                        Ok(new) => break new,
                        Err(why) => {
                            let _ = writeln!(Out(board), "update refused: {why}");
                        }
                    },
                }
            }
        };
        // The engine and its borrows are gone: the new model takes over.
        loaded = next;
    }
}

/// Receives a blob of the announced length and loads it, or says why not. `running_arena`:
/// bytes the running model's arena holds (reported when the new one does not fit beside it).
fn receive<B: Board>(board: &mut B, length: &[u8], running_arena: usize) -> Result<Loaded, Refusal> {
    let len: usize = core::str::from_utf8(length).ok().and_then(|l| l.trim().parse().ok()).ok_or(Refusal::BadRequest)?;
    let mut blocks = Vec::new();
    blocks.try_reserve_exact(len.div_ceil(16)).map_err(|_| Refusal::NoRoom { what: "the blob", bytes: len, beside: 0 })?;
    blocks.resize(len.div_ceil(16), Block([0; 16]));
    let _ = writeln!(Out(board), "update ready {len} {CHUNK}");
    let bytes = bytemuck::cast_slice_mut::<Block, u8>(&mut blocks);
    for (n, chunk) in bytes[..len].chunks_mut(CHUNK).enumerate() {
        for byte in chunk.iter_mut() {
            *byte = board.read_byte().ok_or(Refusal::NoInput)?;
        }
        let _ = writeln!(Out(board), "ack {}", n * CHUNK + chunk.len());
    }
    let loaded = load(Blob::Heap { blocks, len }, running_arena)?;
    let _ = writeln!(Out(board), "update ok {len} bytes, {} labels, arena {} bytes", loaded.labels, loaded.arena.len());
    Ok(loaded)
}

/// Validates `blob` and allocates its arena (while `running_arena` bytes of another are still
/// held), or says why not.
fn load(blob: Blob, running_arena: usize) -> Result<Loaded, Refusal> {
    let (need, labels) = {
        let model = Model::from_bytes(blob.bytes()).map_err(Refusal::Invalid)?;
        (arena_bytes(&model, model.tokenizer().settings.max_len), model.config().num_labels)
    };
    let mut arena = Vec::new();
    arena.try_reserve_exact(need).map_err(|_| Refusal::NoRoom { what: "its arena", bytes: need, beside: running_arena })?;
    arena.resize(need, 0);
    Ok(Loaded { blob, arena, labels })
}

/// Why an update was not taken.
enum Refusal {
    /// The length after `update` is not a number.
    BadRequest,
    /// The heap cannot hold `bytes` more (while still holding the running model's `beside`
    /// bytes of arena).
    NoRoom { what: &'static str, bytes: usize, beside: usize },
    /// The board's input ended mid-transfer.
    NoInput,
    /// `Model::from_bytes` refused the blob.
    Invalid(convbert::int8::FormatError),
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadRequest => f.write_str("the request is not `update <length>`"),
            Self::NoRoom { what, bytes, beside: 0 } => write!(f, "no room for {what}: {bytes} bytes do not fit the heap"),
            Self::NoRoom { what, bytes, beside } => write!(f, "no room for {what}: {bytes} bytes do not fit the heap beside the running model's {beside}"),
            Self::NoInput => f.write_str("the input ended during the transfer"),
            Self::Invalid(e) => write!(f, "not a valid model: {e}"),
        }
    }
}
