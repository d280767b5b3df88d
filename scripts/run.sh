#!/usr/bin/env bash
# `make run`: starts twitchd. With a config file it runs that config; without
# one it runs against the built-in simulator (no credentials needed).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
config=${2:-}
if [ -n "$config" ]; then
  exec "$build/twitchd" run -c "$config"
fi
exec "$build/twitchd" run --sim -c examples/demo.yaml
