#!/usr/bin/env bash
# The project's main job, on a fresh machine: build the `convbert` host tool and classify a few
# utterances with a committed model.
#
# Today this runs the f32 reference on the host with a random-weight golden model (its labels
# mean nothing): trained models (issue 3), the int8 engine (issue 4) and the on-device demo in
# QEMU (issue 5) replace it step by step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v cargo >/dev/null || { echo "demo.sh: cargo not found: install Rust with rustup (https://rustup.rs), then rerun" >&2; exit 1; }
model=tests/golden/models/small-2l

cargo build -q --release -p convbert-cli
convbert=target/release/convbert

echo "== convbert inspect --model $model"
"$convbert" inspect --model "$model"
echo
echo "== convbert classify --model $model (random weights: labels are not meaningful yet)"
"$convbert" classify --model "$model" \
    "wake me up at 7" \
    "play some jazz by Miles Davis" \
    "will it rain in Paris tomorrow?" \
    "book a table for two at an Italian restaurant"
