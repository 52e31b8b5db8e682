#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and prints, per target, how many inputs
# it ran and whether it crashed. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Not part of CI. Crashing inputs land in fuzz/artifacts/TARGET/;
# once fixed, keep them in fuzz/regressions/TARGET/, which are replayed before each run.
#   fuzz/run.sh 600            # ten minutes each
#   fuzz/run.sh 60 entry_decode
#   RUNS=10000000 fuzz/run.sh 3600   # stop each at ten million inputs (or the time, first)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(entry_decode invite_parse sync_messages reducer_histories)
fi
mkdir -p logs
cargo +nightly fuzz build -O
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log="logs/$target.log"
    # An input that runs a minute is a hang (the reducer's rebuild once looped for ever): report
    # it as a crash then, not after libFuzzer's default twenty minutes.
    limits=(-max_total_time="$seconds" -timeout=60)
    if [ -n "${RUNS:-}" ]; then
        limits+=(-runs="$RUNS")
    fi
    # Inputs that once crashed the target replay first (each is a test of its own).
    if [ -d "regressions/$target" ]; then
        if ! cargo +nightly fuzz run -O "$target" regressions/"$target"/* >"logs/$target.regressions.log" 2>&1; then
            echo "$target: a regression input crashes again (see logs/$target.regressions.log)"
            status=1
            continue
        fi
    fi
    started=$(date +%s)
    if cargo +nightly fuzz run -O "$target" "corpus/$target" -- "${limits[@]}" -print_final_stats=1 >"$log" 2>&1; then
        verdict="no crash"
    else
        verdict="CRASHED (see $log and artifacts/$target/)"
        status=1
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    echo "$target: ${runs:-?} inputs in $(( $(date +%s) - started )) s, $verdict"
done
exit $status
