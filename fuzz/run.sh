#!/usr/bin/env bash
# Builds every fuzz target, replays the inputs under fuzz/regressions/<target>/ (every crash ever
# found, kept so it stays fixed), then runs each target for N seconds (default 20):
#   ./fuzz/run.sh [SECONDS]
# The search starts from a fixed seed (FUZZ_SEED, default 1) so a run is repeatable; set
# FUZZ_SEED=0 for a fresh random seed each run. Skips with one line and exit 0 when nightly Rust
# or cargo-fuzz is missing, so CI can call it unconditionally. Every target runs even if one
# crashes; any crash fails the script at the end, its input saved under fuzz/artifacts/<target>/.
set -euo pipefail

seconds="${1:-20}"
seed="${FUZZ_SEED:-1}"
cd "$(dirname "$0")"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: skipped (no nightly toolchain; rustup toolchain install nightly)"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: skipped (cargo-fuzz not installed; cargo install cargo-fuzz)"
    exit 0
fi

cargo +nightly fuzz build
failed=()
for target in $(cargo +nightly fuzz list); do
    echo "fuzz: $target for ${seconds}s"
    mkdir -p "corpus/$target"
    if [[ -d "regressions/$target" ]] &&
        ! cargo +nightly fuzz run "$target" "regressions/$target" -- -runs=0; then
        echo "fuzz: $target crashed on a saved regression input"
        failed+=("$target")
        continue
    fi
    if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -seed="$seed" -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$target")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]} (inputs under fuzz/artifacts/)"
    exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a crash"
