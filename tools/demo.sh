#!/usr/bin/env bash
# The project's main job, on a fresh machine: build the `convbert` host tool and classify a few
# utterances with a committed model.
#
# Today this runs the int8 engine on the host with the shipped SNIPS model
# (weights/snips-tiny.cbq); the on-device demo in QEMU (issue 5) replaces it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v cargo >/dev/null || { echo "demo.sh: cargo not found: install Rust with rustup (https://rustup.rs), then rerun" >&2; exit 1; }
model=weights/snips-tiny.cbq

cargo build -q --release -p convbert-cli
convbert=target/release/convbert

echo "== convbert inspect --model $model"
"$convbert" inspect --model "$model"
echo
echo "== convbert classify --model $model (integer-only int8 engine)"
"$convbert" classify --model "$model" \
    "play some jazz by Miles Davis" \
    "will it rain in Paris tomorrow?" \
    "book a table for two at an Italian restaurant" \
    "add this song to my workout playlist" \
    "when is the next showing of Dune at the cinema" \
    "rate this novel four out of six stars"
