#!/usr/bin/env bash
# Flash bytes of the int8 engine alone (Model::from_bytes + tokenizer + Engine::classify), as the
# LTO'd object of tests/no-float (opt-level "s") for each Cortex-M target: code (.text) and
# constants (.rodata: the tokenizer's Unicode tables, the exp2 table, ...). Needs binutils' `size`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
printf '%-26s %10s %10s\n' target text rodata
for target in thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
    rustup target add "$target" >/dev/null 2>&1 || true
    cargo build -q --release --target "$target" --manifest-path "$root/tests/no-float/Cargo.toml" --target-dir "$root/target/no-float"
    dir=$(mktemp -d)
    (cd "$dir" && ar x "$root/target/no-float/$target/release/libconvbert_no_float_probe.a" && \
        size -A convbert_no_float_probe-*.o | awk -v t="$target" '
            $1 ~ /^\.text/ { text += $2 } $1 ~ /^\.rodata/ { ro += $2 }
            END { printf "%-26s %10d %10d\n", t, text, ro }')
    rm -rf "$dir"
done
