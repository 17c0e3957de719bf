#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the Rust targets and QEMU it
# needs, proves the engine builds for bare-metal Cortex-M and that the real-board firmware
# fits its chip, then runs the whole workspace's tests (unit, Hugging Face golden vectors,
# tokenizer parity, CLI, int8 blob robustness, no soft-float, QEMU conformance on every
# emulated target). Ends with "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() { echo "test.sh: $*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then rerun"
targets="thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf aarch64-unknown-none"
if command -v rustup >/dev/null; then
    # shellcheck disable=SC2086
    rustup target add $targets >/dev/null \
        || die "rustup could not add the targets $targets (no network?); add them by hand and rerun"
else
    echo "test.sh: rustup not found; assuming the targets $targets are installed" >&2
fi
if ! command -v qemu-system-arm >/dev/null || ! command -v qemu-system-aarch64 >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "== installing qemu-system-arm (QEMU for the conformance suite)"
        { apt-get update -qq && apt-get install -y -qq qemu-system-arm; } >/dev/null \
            || die "apt-get could not install qemu-system-arm; install it and rerun"
    else
        die "QEMU is missing: run 'sudo apt-get install -y qemu-system-arm' (Debian/Ubuntu) and rerun"
    fi
fi
[ -d ../shared/datasets ] || die "../shared/datasets is missing: the tokenizer parity test reads SNIPS and CLINC150 from there"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# The engine is no_std: it must build for Cortex-M0 (no atomics, no FPU) and Cortex-M4F.
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    echo "== cargo build -p convbert --target $target"
    cargo build -q -p convbert --release --target "$target" || status=1
done

# The real board: its build script fails if code + blob exceed the flash or the arena the RAM.
echo "== firmware/nucleo-h743zi (STM32H743ZI): cargo build --release"
(cd firmware/nucleo-h743zi && cargo build -q --release) || status=1

echo "== cargo test --workspace"
cargo test --workspace -- --show-output 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# Once more with overflow checks, where an overflowing sum panics instead of wrapping: the
# engine's unit tests and the hostile-blob tests. Own target folder, so the build above stays.
echo "== cargo test -p convbert --lib -p convbert-tests --test int8_blob (overflow checks on)"
CARGO_TARGET_DIR=target/overflow-checks RUSTFLAGS="-C overflow-checks=on" \
    cargo test -p convbert --lib -p convbert-tests --test int8_blob 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))  # a build failure counts
echo "$passed passed, $failed failed"
exit "$status"
