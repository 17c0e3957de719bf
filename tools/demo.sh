#!/usr/bin/env bash
# The project's main job, on a fresh machine: the on-device intent demo. Builds the Cortex-M4F
# firmware (QEMU board mps2-an386) with the shipped SNIPS model (weights/snips-tiny.cbq) linked
# in, and classifies a few utterances typed into the board's UART, printing each intent, its
# score and the instructions the inference took on the device.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() { echo "demo.sh: $*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then rerun"
if command -v rustup >/dev/null; then
    rustup target add thumbv7em-none-eabihf >/dev/null || die "rustup could not add thumbv7em-none-eabihf; add it and rerun"
fi
if ! command -v qemu-system-arm >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "== installing qemu-system-arm"
        { apt-get update -qq && apt-get install -y -qq qemu-system-arm; } >/dev/null || die "apt-get could not install qemu-system-arm"
    else
        die "QEMU is missing: run 'sudo apt-get install -y qemu-system-arm' (Debian/Ubuntu), then rerun"
    fi
fi

echo "== building the Cortex-M4F firmware with weights/snips-tiny.cbq and running it in QEMU (mps2-an386)"
echo "   (label, score, instructions on the device, text)"
bash firmware/run-demo.sh
