#!/usr/bin/env bash
# Runs one firmware ELF under QEMU with instruction counting: qemu-run.sh BOARD ELF
# BOARD: a board of the registry (boards.txt) that QEMU emulates.
# stdin goes to the board's UART (-serial stdio); the exit status is the firmware's
# (semihosting exit), 124 when QEMU_TIMEOUT seconds (default 600) pass first. QEMU_TIMEOUT=0
# sets no limit and execs QEMU itself, for callers that watch the output instead
# (tests/support.rs stops a run only after minutes of silence, never a slow one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/boards.sh"
board=$1 elf=$2
for column in qemu machine qemu_cpu qemu_mem; do
  declare "$column=$(board_field "$board" "$column")"
done
[[ $qemu != - ]] || { echo "QEMU does not emulate $board" >&2; exit 2; }
qemu=(qemu-system-$qemu -M "$machine")
[[ $qemu_cpu == - ]] || qemu+=(-cpu "$qemu_cpu")
[[ $qemu_mem == - ]] || qemu+=(-m "$qemu_mem")
# One instruction = 1 ns of virtual time; see ../../shared/notes/qemu-boards.md.
icount=(-icount shift=0,align=off,sleep=off)
limit=(timeout "${QEMU_TIMEOUT:-600}")
[ "${QEMU_TIMEOUT:-600}" != 0 ] || limit=()
exec "${limit[@]}" "${qemu[@]}" "${icount[@]}" -nographic -monitor none \
  -serial stdio -semihosting-config enable=on,target=native -kernel "$elf"
