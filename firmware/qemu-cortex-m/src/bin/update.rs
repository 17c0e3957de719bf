//! The demo with model updates over UART0 (`convbert_app::demo_with_updates`): the built-in
//! model answers until a new blob arrives and validates. Received blobs and every arena live
//! in an `embedded-alloc` heap. For the boards with 4 MiB of data RAM (mps2-*).
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use embedded_alloc::LlffHeap;
use qemu_cortex_m::{blob, QemuBoard};

/// Room for the running model's arena, a received blob and its arena (clinc-tiny: 1.1 MB).
const HEAP_BYTES: usize = 3 * 1024 * 1024;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

#[cortex_m_rt::entry]
fn main() -> ! {
    static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
    // SAFETY: cortex-m-rt hands `main`'s `static mut`s out as `&'static mut` once; the heap
    // is initialised here, before anything allocates, and owns that memory from now on.
    unsafe { HEAP.init(HEAP_MEMORY.as_mut_ptr() as usize, HEAP_BYTES) };
    // The static arena stays unused: arenas come from the heap, sized for each model.
    let (mut board, _) = QemuBoard::take();
    convbert_app::demo_with_updates(&mut board, blob())
}
