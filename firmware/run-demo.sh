#!/usr/bin/env bash
# The intent demo on mps2-an386 (Cortex-M4F) with snips-tiny: a few utterances go into UART0,
# one `label score instructions "text"` line comes back for each. BOARD=... picks another board.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
board=${BOARD:-mps2-an386}
elf=$("$here/build.sh" "$board" demo)
# EOT (Ctrl-D) after the last line ends the demo: a UART has no end-of-file.
printf '%s\n' \
  "play some jazz by miles davis" \
  "will it rain in seattle tomorrow" \
  "play the latest album by daft punk on spotify" \
  "book a table for four at an italian restaurant tonight" \
  "add this song to my workout playlist" \
  "rate this book five stars" \
  "what time is the new star wars movie playing at the cinema" \
  "find me the tv series friends" |
  { cat; printf '\004'; } | "$here/qemu-run.sh" "$board" "$elf"
