#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the Rust targets it needs,
# proves the engine builds for bare-metal Cortex-M, then runs the whole workspace's tests
# (unit, Hugging Face golden vectors, tokenizer parity, CLI). Ends with "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() { echo "test.sh: $*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then rerun"
if command -v rustup >/dev/null; then
    rustup target add thumbv6m-none-eabi thumbv7em-none-eabihf >/dev/null \
        || die "rustup could not add the thumbv6m/thumbv7em targets (no network?); add them by hand and rerun"
else
    echo "test.sh: rustup not found; assuming thumbv6m-none-eabi and thumbv7em-none-eabihf are installed" >&2
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

echo "== cargo test --workspace"
cargo test --workspace -- --show-output 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))  # a build failure counts
echo "$passed passed, $failed failed"
exit "$status"
