#!/usr/bin/env bash
# Fails when a banned libc function is called anywhere in our C sources:
# strcpy, strcat, sprintf, gets, atoi, strtok (DESIGN.md, convention 11).
# The bounded alternatives are snprintf, memcpy with an explicit length,
# strtol/strtoul with end-pointer checks, and hand-written tokenizers.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|strtok)[[:space:]]*\('
if hits=$(grep -rnE "$pattern" --include='*.c' --include='*.h' src include tests bench examples 2>/dev/null); then
  echo "banned functions used (see DESIGN.md, convention 11):"
  echo "$hits"
  exit 1
fi
echo "banned-function check: clean"
