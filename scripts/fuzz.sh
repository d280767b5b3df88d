#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for N seconds (default
# 15) from its seed corpus in tests/fuzz/corpus/<target>/. Skips, saying so,
# when clang is not installed. New inputs go to a scratch folder, not the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found, skipping"
  exit 0
fi
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTW_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-fuzz -j"${JOBS:-2}"
shopt -s nullglob
ran=0
for bin in build-fuzz/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds=tests/fuzz/corpus/$name
  work=$(mktemp -d)
  echo "fuzz: $name for ${secs}s"
  args=("$work")
  [ -d "$seeds" ] && args+=("$seeds")
  dict=tests/fuzz/$name.dict
  extra=()
  [ -f "$dict" ] && extra+=("-dict=$dict")
  "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
    "${extra[@]}" "${args[@]}" 2>"$work.log" || { tail -50 "$work.log"; exit 1; }
  grep -E 'stat::number_of_executed_units' "$work.log" || true
  rm -rf "$work" "$work.log"
  ran=$((ran + 1))
done
echo "fuzz: $ran targets ran clean"
