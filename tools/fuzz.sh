#!/usr/bin/env bash
# Runs a cargo-fuzz target of tests/fuzz (or all of them, one after the other) for SECONDS each,
# on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags), and prints the
# executions and exec/s of each. The committed seeds (tests/fuzz/corpus/<target>) are copied
# into a scratch folder first, so a run never grows them; crash inputs go to
# tests/fuzz/artifacts/<target>/ (git-ignored). AddressSanitizer is used where it builds, else
# none (Rust code is memory-safe without it; the targets look for panics and wrong results).
#
# Usage: tools/fuzz.sh TARGET SECONDS    TARGET: blob_raw blob_resealed blob_structured tokenizer hf_folder
#        tools/fuzz.sh all SECONDS
#        FUZZ_ARGS="-fork=2 -ignore_crashes=1" tools/fuzz.sh ...   (extra libFuzzer flags: here, two
#        processes that go on past crashes to collect several different ones)
#        FUZZ_SANITIZER=none tools/fuzz.sh ...   (no AddressSanitizer, for long runs)
#        FUZZ_BUILD_ARGS=--no-trace-compares tools/fuzz.sh ...   (extra cargo-fuzz flags: here,
#        no comparison tracing, about twice the exec/s of the structure-aware target, whose
#        comparisons libFuzzer need not solve)
# Exit status: 0 if no target found anything, 1 otherwise, 2 on a usage error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir="$root/tests/fuzz"
targets=(blob_raw blob_resealed blob_structured tokenizer hf_folder)

usage() {
    local IFS='|'
    echo "usage: tools/fuzz.sh {${targets[*]}|all} SECONDS" >&2
    exit 2
}
[[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || usage
if [[ $1 == all ]]; then
    chosen=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $1 "* ]]; then
    chosen=("$1")
else
    usage
fi
seconds=$2

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
cd "$root"

# AddressSanitizer where it builds (FUZZ_SANITIZER=none skips it: 4 to 7 times the exec/s).
sanitizer=${FUZZ_SANITIZER:-address}
# shellcheck disable=SC2086
if ! cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" ${FUZZ_BUILD_ARGS:-} "${chosen[0]}" >/dev/null 2>&1; then
    echo "fuzz.sh: AddressSanitizer build failed; fuzzing with --sanitizer none" >&2
    sanitizer=none
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
summary=()
for target in "${chosen[@]}"; do
    mkdir -p "$scratch/$target" "$fuzz_dir/artifacts/$target"
    cp "$fuzz_dir/corpus/$target"/* "$scratch/$target/"
    log="$scratch/$target.log"
    echo "== $target: $seconds s, sanitizer $sanitizer"
    status=0
    # shellcheck disable=SC2086
    cargo fuzz run --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" ${FUZZ_BUILD_ARGS:-} "$target" "$scratch/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$fuzz_dir/artifacts/$target/" ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [[ -z $executions ]]; then
        # -fork prints no final stats: its last status line "#N: ... time: Ts" has them.
        read -r executions elapsed < <(sed -n 's/^#\([0-9]*\): .* time: \([0-9]*\)s .*/\1 \2/p' "$log" | tail -1) || true
        [[ -n ${elapsed:-} && $elapsed -gt 0 ]] && rate=$((executions / elapsed))
    fi
    if [[ $status -ne 0 ]]; then
        failed+=("$target")
        # The panic message and where the crash input was written.
        grep -E "panicked at|^[^ ]+\.rs:[0-9]+|attempt to|Test unit written to|SUMMARY|ERROR" "$log" | head -20 || tail -30 "$log"
    fi
    summary+=("$(printf '%-16s %12s executions %8s exec/s  %s' "$target" "${executions:-?}" "${rate:-?}" \
        "$([[ $status -eq 0 ]] && echo 'no finding' || echo "FINDING (log: tests/fuzz/artifacts/$target/)")")")
    cp "$log" "$fuzz_dir/artifacts/$target/last-run.log"
done

echo "== summary ($seconds s per target, sanitizer $sanitizer)"
printf '%s\n' "${summary[@]}"
[[ ${#failed[@]} -eq 0 ]]
