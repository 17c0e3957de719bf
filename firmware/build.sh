#!/usr/bin/env bash
# Builds one firmware program for one QEMU board and prints the ELF's path:
#   build.sh BOARD PROGRAM        PROGRAM: demo | conformance | unit-tests
# Env: CONVBERT_BLOB (model, default ../weights/snips-tiny.cbq), CONVBERT_CASES (conformance
# cases). Relative paths are resolved here, from the caller's folder. Each board has its own
# target dir, so switching boards does not rebuild everything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
board=$1 program=$2
case $board in
  mps2-an386) crate=qemu-cortex-m target=thumbv7em-none-eabihf cpu=cortex-m4 features=$board ;;
  mps2-an500) crate=qemu-cortex-m target=thumbv7em-none-eabihf cpu=cortex-m7 features=$board ;;
  mps2-an505) crate=qemu-cortex-m target=thumbv8m.main-none-eabihf cpu=cortex-m33 features=$board ;;
  mps3-an547) crate=qemu-cortex-m target=thumbv8m.main-none-eabihf cpu=cortex-m55 features=$board ;;
  lm3s6965) crate=qemu-cortex-m target=thumbv7m-none-eabi cpu=cortex-m3 features=$board ;;
  microbit) crate=qemu-cortex-m target=thumbv6m-none-eabi cpu=cortex-m0 features=$board ;;
  virt-a53) crate=qemu-aarch64 target=aarch64-unknown-none cpu=cortex-a53 features= ;;
  virt-a76) crate=qemu-aarch64 target=aarch64-unknown-none cpu=cortex-a76 features= ;;
  *) echo "unknown board: $board (mps2-an386 mps2-an500 mps2-an505 mps3-an547 lm3s6965 microbit virt-a53 virt-a76)" >&2; exit 2 ;;
esac
for var in CONVBERT_BLOB CONVBERT_CASES; do
  if [[ -n ${!var:-} ]]; then export "$var=$(realpath "${!var}")"; fi
done
# The unit tests need no model (fw-build's NO_MODEL), so every board can run them.
if [[ $program == unit-tests ]]; then export CONVBERT_BLOB=none; fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
target_dir=$here/target/boards/$board
# The 256 KiB-flash boards need small code more than fast code.
case $board in lm3s6965|microbit) export CARGO_PROFILE_RELEASE_OPT_LEVEL=s ;; esac
# target-cpu: the code the board's core runs best (M55: Helium; A76: dot product).
(cd "$here/$crate" && RUSTFLAGS="-C target-cpu=$cpu" cargo build -q --release --target "$target" \
  ${features:+--features "$features"} --bin "$program" --target-dir "$target_dir" >&2)
echo "$target_dir/$target/release/$program"
