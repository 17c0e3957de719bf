#!/usr/bin/env bash
# Host latency side by side, one thread each: our int8 engine and f32 reference (`convbert
# bench`) against ONNX Runtime int8/fp32 and PyTorch fp32, on weights/snips-small and
# weights/snips-tiny at 16, 32 and 64 tokens. Prints one table (with `uptime`: the numbers mean
# little without the load they ran under).
#
#   bash tools/bench-host.sh [--markdown FILE] [--rounds N] [--models ...] [--lengths ...]
#
# Needs the pinned Python environment (bash tools/python/setup-venv.sh). Not part of
# tools/test.sh: CI never runs the Python peers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "no $python: run bash tools/python/setup-venv.sh first" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p convbert-cli
exec "$python" "$root/tools/python/bench_peers.py" --convbert "$root/target/release/convbert" "$@"
