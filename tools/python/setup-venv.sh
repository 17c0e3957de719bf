#!/usr/bin/env bash
# Creates ./.venv at the repository root with the pinned Python tools (torch CPU, transformers, ONNX Runtime).
# Only golden-vector generation, training and peer benchmarks need it; the Rust build and CI do not.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 -m venv "$root/.venv" || { echo "python3 -m venv failed: install python3-venv (apt-get install -y python3-venv)" >&2; exit 1; }
"$root/.venv/bin/pip" install -q -r "$root/tools/python/requirements.txt"
echo "Python tools ready: $root/.venv/bin/python"
