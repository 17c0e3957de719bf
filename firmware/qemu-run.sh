#!/usr/bin/env bash
# Runs one firmware ELF under QEMU with instruction counting: qemu-run.sh BOARD ELF
# BOARD: mps2-an386 mps2-an500 mps2-an505 mps3-an547 lm3s6965 microbit virt-a53 virt-a76.
# stdin goes to the board's UART (-serial stdio); the exit status is the firmware's
# (semihosting exit), 124 when QEMU_TIMEOUT seconds (default 600) pass first. QEMU_TIMEOUT=0
# sets no limit and execs QEMU itself, for callers that watch the output instead
# (tests/support.rs stops a run only after minutes of silence, never a slow one).
set -euo pipefail
board=$1 elf=$2
# One instruction = 1 ns of virtual time; see ../../shared/notes/qemu-boards.md.
icount=(-icount shift=0,align=off,sleep=off)
case $board in
  mps2-an386|mps2-an500|mps2-an505) qemu=(qemu-system-arm -M "$board" -m 16M) ;;
  mps3-an547) qemu=(qemu-system-arm -M "$board" -m 2G) ;;
  lm3s6965) qemu=(qemu-system-arm -M lm3s6965evb) ;;
  microbit) qemu=(qemu-system-arm -M microbit) ;;
  virt-a53) qemu=(qemu-system-aarch64 -M virt -cpu cortex-a53 -m 256M) ;;
  virt-a76) qemu=(qemu-system-aarch64 -M virt -cpu cortex-a76 -m 256M) ;;
  *) echo "unknown board: $board" >&2; exit 2 ;;
esac
limit=(timeout "${QEMU_TIMEOUT:-600}")
[ "${QEMU_TIMEOUT:-600}" != 0 ] || limit=()
exec "${limit[@]}" "${qemu[@]}" "${icount[@]}" -nographic -monitor none \
  -serial stdio -semihosting-config enable=on,target=native -kernel "$elf"
