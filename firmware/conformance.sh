#!/usr/bin/env bash
# Runs the conformance cases on one QEMU board and prints the device's lines (format in
# README.md) on stdout:  conformance.sh BOARD CASES_FILE
# CASES_FILE: one utterance per line, embedded into the image at build time. Model: env
# CONVBERT_BLOB (default weights/snips-tiny.cbq). Exit status: the firmware's (0 = every case
# ran), 124 on timeout (QEMU_TIMEOUT, default 600 s).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 2 ]] || { echo "usage: $0 BOARD CASES_FILE" >&2; exit 2; }
elf=$(CONVBERT_CASES=$2 "$here/build.sh" "$1" conformance)
"$here/qemu-run.sh" "$1" "$elf" </dev/null
