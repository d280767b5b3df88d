#!/usr/bin/env bash
# Runs every benchmark in bench/ (built by `make build`) and prints figures.
# Benchmarks are not tests: they assert nothing about time.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
corpus=${TW_CORPUS:-$PWD/tests/fixtures/corpus/channel.txt.gz}
export TW_CORPUS=$corpus TW_BIN=$PWD/$build/twitchd
shopt -s nullglob
for b in "$build"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" "$corpus"
done
