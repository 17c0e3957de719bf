#!/usr/bin/env bash
# Builds one firmware program for one board of the registry (boards.txt) and prints the ELF's
# path:
#   build.sh BOARD PROGRAM        PROGRAM: one of the board's `programs` (demo, conformance, unit-tests)
# Env: CONVBERT_BLOB (model, default ../weights/snips-tiny.cbq or the board crate's own),
# CONVBERT_CASES (conformance cases). Relative paths are resolved here, from the caller's
# folder. An emulator board has its own target dir, so switching boards does not rebuild
# everything; a real board is built exactly as `cargo run --release` in its crate builds it, so
# the ELF tested in QEMU is the one a user flashes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/boards.sh"
board=$1 program=$2
crate=$(board_field "$board" crate)
for column in kind target cpu feature programs opt; do
  declare "$column=$(board_field "$board" "$column")"
done
[[ ,$programs, == *,$program,* ]] || { echo "$board has no program '$program' (it has: $programs)" >&2; exit 2; }
for var in CONVBERT_BLOB CONVBERT_CASES; do
  if [[ -n ${!var:-} ]]; then export "$var=$(realpath "${!var}")"; fi
done
# The unit tests need no model (fw-build's NO_MODEL), so every board can run them.
if [[ $program == unit-tests ]]; then export CONVBERT_BLOB=none; fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
if [[ $kind == real ]]; then
  # The crate's .cargo/config.toml sets the target, target-cpu and runner.
  (cd "$here/$crate" && cargo build -q --release --bin "$program" >&2)
  echo "$here/target/$target/release/$program"
  exit
fi
target_dir=$here/target/boards/$board
export CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt
[[ $feature == - ]] && feature=
# A program with a feature of its own name (update: a heap) gets it.
grep -q "^$program = " "$here/$crate/Cargo.toml" && feature="$feature${feature:+,}$program"
# target-cpu: the code the board's core runs best (M55: Helium; A76: dot product).
(cd "$here/$crate" && RUSTFLAGS="-C target-cpu=$cpu" cargo build -q --release --target "$target" \
  ${feature:+--features "$feature"} --bin "$program" --target-dir "$target_dir" >&2)
echo "$target_dir/$target/release/$program"
