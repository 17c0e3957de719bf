#!/usr/bin/env bash
# Makes a blob small enough for lm3s6965 (256K/64K) and microbit (256K/16K): the random-weight
# golden model tests/golden/models/tiny-k3 (labels mean nothing: for conformance only),
# vocabulary pruned to CASES_FILE, max length 32 (lm3s6965) or 16 (microbit, 16K RAM).
#   small-model.sh CASES_FILE MAX_LEN   -> prints the blob path (under firmware/target/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
cases=$(realpath "$1") max_len=${2:-32}
out=$here/target/small/tiny-k3-$max_len.cbq
mkdir -p "$here/target/small"
# --prune-vocab reads `label<TAB>text`; the label is unused.
sed 's/^/x\t/' "$cases" > "$here/target/small/cases.tsv"
(cd "$root" && cargo run -q --release -p convbert-cli -- quantize --model tests/golden/models/tiny-k3 \
  --calib ../shared/datasets/snips/train.tsv --samples 100 --max-len "$max_len" \
  --prune-vocab "$here/target/small/cases.tsv" --out "$out" >&2)
echo "$out"
