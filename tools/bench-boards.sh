#!/usr/bin/env bash
# Instructions per inference on every QEMU board, as a markdown table for the README, with the
# model's MACs, MAC/instr, arena bytes and the firmware image's .text bytes.
#   bash tools/bench-boards.sh [--out FILE]
# Env: BOARDS="mps2-an386 ..." and MODELS="snips-tiny snips-small tiny-k3" restrict the run
# (default: all). Texts are `play` repeated to exactly 16, 32 and 64 tokens ([CLS], [SEP]
# included); counts cover tokenizer + inference (firmware/README.md, "Instruction counts").
# A model that does not fit a board, or a length above the blob's max length, is skipped with a
# note; any other failure stops the script with a non-zero status.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

out=
while (($#)); do
  case $1 in
    --out) (($# >= 2)) || { echo "error: --out needs a FILE" >&2; exit 2; }; out=$2; shift 2 ;;
    -h|--help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "error: unknown option '$1'; usage: $0 [--out FILE]" >&2; exit 2 ;;
  esac
done
source "$root/firmware/boards.sh"
# Every emulator board of the registry (firmware/boards.txt).
BOARDS=${BOARDS:-$(board_names kind qemu | tr '\n' ' ')}
# tiny-k3 is the random-weight golden model that firmware/small-model.sh packs for the two small
# boards (snips-* do not fit them); it runs only there, as in the conformance suite.
MODELS=${MODELS:-"snips-tiny snips-small tiny-k3"}
LENGTHS=(16 32 64)

cli=$root/target/release/convbert
[[ -x $cli ]] || cargo build -q --release -p convbert-cli
for tool in qemu-system-arm python3 size; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (qemu: apt-get install -y qemu-system-arm)" >&2; exit 1; }
done
# A fixed folder (ignored by git): the same blob and cases paths on every run keep cargo's
# per-board builds cached.
work=$root/firmware/target/bench
mkdir -p "$work"

board_cpu() { board_field "$1" core; }

# MACs of one forward pass at L tokens (../shared/notes/kernels.md): snips-tiny at 32 tokens is
# 21,095,296, ConvBERT-small 295,880,448. HF gives half the heads to attention and half to the
# dynamic convolution, so "heads" below is num_attention_heads / head_ratio.
macs() {  # CONFIG_JSON TOKENS
  python3 - "$1" "$2" <<'EOF'
import json, sys
c, L = json.load(open(sys.argv[1])), int(sys.argv[2])
H, E, I, K = c["hidden_size"], c["embedding_size"], c["intermediate_size"], c["conv_kernel_size"]
heads = max(1, c["num_attention_heads"] // c["head_ratio"])
A = heads * (H // c["num_attention_heads"])
layer = 3*H*A + H*K + H*A + A*heads*K + H*A + A*K + H*H + 2*H*I // c.get("num_groups", 1) + 2*A*L
print(c["num_hidden_layers"] * L * layer + (E*H*L if E != H else 0) + H*H + H*len(c["id2label"]))
EOF
}

# Check the lists before the first build rather than minutes into the run.
for board in $BOARDS; do board_cpu "$board" >/dev/null; done
for model in $MODELS; do
  [[ $model == tiny-k3 || (-f weights/$model.cbq && -f weights/$model/config.json) ]] ||
    { echo "error: model '$model': weights/$model.cbq or weights/$model/config.json missing" >&2; exit 2; }
done

commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

rows=() notes=()
note() { notes+=("$1"); echo "note: $1" >&2; }

for board in $BOARDS; do
  cpu=$(board_cpu "$board")
  # A board without a demo (lm3s6965 and microbit print through semihosting and have no UART
  # input) runs the conformance program with the texts embedded instead.
  program=demo
  [[ ,$(board_field "$board" programs), == *,demo,* ]] || program=conformance
  for model in $MODELS; do
    case $model in
      tiny-k3)
        case $board in lm3s6965) max_len=32 ;; microbit) max_len=16 ;; *) continue ;; esac
        config=tests/golden/models/tiny-k3/config.json blob=$work/tiny-k3-$max_len.cbq
        label="tiny-k3 (small-model.sh, max_len $max_len)" ;;
      *)
        config=weights/$model/config.json blob=weights/$model.cbq label=$model ;;
    esac

    # Texts of exactly N tokens, checked with the host tokenizer of the same vocabulary.
    texts=() lengths=()
    for n in "${LENGTHS[@]}"; do
      text=$(printf 'play %.0s' $(seq $((n - 2))))
      texts+=("${text% }") lengths+=("$n")
    done
    if [[ $model == tiny-k3 ]]; then
      # As firmware/small-model.sh does, but into our own folder (a concurrent conformance run
      # keeps its blob) and with the vocabulary pruned to our texts.
      # Made again only when the texts or the packer change, so the board's build stays cached.
      cases=$work/tiny-k3-$max_len.tsv
      printf 'x\t%s\n' "${texts[@]}" >"$cases.new"
      if ! { cmp -s "$cases.new" "$cases" && [[ $blob -nt $cli ]]; }; then
        mv "$cases.new" "$cases"
        "$cli" quantize --model tests/golden/models/tiny-k3 --calib ../shared/datasets/snips/train.tsv \
          --samples 100 --max-len "$max_len" --prune-vocab "$cases" --out "$blob" >/dev/null
      fi
    fi
    info=$("$cli" inspect --model "$blob")
    blob_max=$(sed -n 's/^tokenizer .*max length \([0-9]*\).*/\1/p' <<<"$info")
    keep=()
    for i in "${!lengths[@]}"; do
      n=${lengths[$i]}
      if ((n > blob_max)); then note "$board $label: $n tokens skipped, the blob's max length is $blob_max"; continue; fi
      got=$("$cli" tokenize --model "$blob" "${texts[$i]}" 2>/dev/null | awk '{print NF}')
      [[ $got == "$n" ]] || { echo "error: $model: text for $n tokens gives $got tokens" >&2; exit 1; }
      keep+=("$i")
    done
    ((${#keep[@]})) || continue
    for i in "${keep[@]}"; do echo "${texts[$i]}"; done >"$work/texts-$board.txt"
    # The cases only matter to the conformance program; a changing value would rebuild the demo.
    cases=; [[ $program == demo ]] || cases=$work/texts-$board.txt

    echo "== $board $label: building $program" >&2
    if ! elf=$(CONVBERT_BLOB=$blob CONVBERT_CASES=$cases bash firmware/build.sh "$board" "$program" 2>"$work/build.log"); then
      if grep -qE 'model does not fit|will not fit in region|overflowed by' "$work/build.log"; then
        why=$(grep -oE 'model does not fit.*|will not fit in region.*|overflowed by.*' "$work/build.log" | head -1)
        note "$board $label: skipped, ${why%%. Pick a board*}"
        continue
      fi
      tail -30 "$work/build.log" >&2
      echo "error: build failed: $board $program with $blob" >&2
      exit 1
    fi
    # Copy at once: the per-board target folder is shared with other builds (tests, other blobs).
    cp "$elf" "$work/fw.elf"
    # The kernels core/build.rs chose for this build (dsp for thumbv7em and cortex-m33, mve for
    # cortex-m55, generic otherwise), read from its output rather than assumed. The convbert-<hash>
    # glob leaves out convbert-on-target.
    kernels=$(ls -t "$(dirname "$elf")"/build/convbert-[0-9a-f]*/output 2>/dev/null | head -1 |
      xargs -r sed -n 's/.*convbert_kernels="\(.*\)"/\1/p' || true)
    [[ $program == demo ]] || note "$board $label: counted by the conformance program (texts built in; the board has no UART input for the demo)"
    text_bytes=$(size -A "$work/fw.elf" | awk '$1 == ".text" { print $2 }')

    echo "== $board $label: running" >&2
    status=0
    if [[ $program == demo ]]; then
      # One line per text, then EOT (a UART has no end of file). Lines: label score instructions "text".
      { cat "$work/texts-$board.txt"; printf '\004'; } | bash firmware/qemu-run.sh "$board" "$work/fw.elf" >"$work/run.log" 2>&1 || status=$?
      counts=$(awk '$3 ~ /^[0-9]+$/ && $4 ~ /^"/ { print $3 }' "$work/run.log")
    else
      bash firmware/qemu-run.sh "$board" "$work/fw.elf" </dev/null >"$work/run.log" 2>&1 || status=$?
      counts=$(sed -n 's/^case .* instructions=\([0-9]*\) .*/\1/p' "$work/run.log")
    fi
    if ((status != 0)) || [[ $(grep -c . <<<"$counts" || true) != "${#keep[@]}" ]] || grep -q '^error' "$work/run.log"; then
      cat "$work/run.log" >&2
      echo "error: run failed (exit $status): $board $label" >&2
      exit 1
    fi

    j=0
    while read -r count; do
      n=${lengths[${keep[$j]}]}
      arena=$(sed -n "s/^arena bytes.* $n tokens \([0-9]*\).*/\1/p" <<<"$info")
      m=$(macs "$config" "$n")
      ratio=$(awk -v m="$m" -v c="$count" 'BEGIN { printf "%.2f", m / c }')
      rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$board" "$cpu" "${kernels:-?}" \
        "$label" "$n" "$(commas <<<"$count")" "$(commas <<<"$m")" "$ratio" "$(commas <<<"$arena")" "$(commas <<<"$text_bytes")")")
      j=$((j + 1))
    done <<<"$counts"
  done
done

{
  echo "| board | CPU | kernels | model | tokens | instructions | MACs | MAC/instr | arena bytes | image .text bytes |"
  echo "|---|---|---|---|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  ((${#notes[@]} == 0)) || { echo; printf -- '- %s\n' "${notes[@]}"; }
} >"$work/table.md"
cat "$work/table.md"
[[ -z $out ]] || cp "$work/table.md" "$out"

# The engine alone (no board support, no demo), opt-level s: what the image's .text is built on.
echo
echo "engine only (tools/code-size.sh):"
bash tools/code-size.sh
