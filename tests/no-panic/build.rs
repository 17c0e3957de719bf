//! Keeps the relocations in the linked programs (`--emit-relocs`): `tests/no_panic.rs` reads
//! them to find every call into the panic machinery.
fn main() {
    println!("cargo:rustc-link-arg=--emit-relocs");
}
