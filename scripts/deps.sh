#!/usr/bin/env bash
# Installs the Debian packages twitchd needs to build and test, and only those
# that are missing, so that a second run is fast and does not need the network.
set -euo pipefail

PKGS=(
  build-essential cmake make pkg-config git ca-certificates openssl
  clang libclang-rt-14-dev llvm
  libuv1-dev libcurl4-openssl-dev libssl-dev libwslay-dev libmicrohttpd-dev
  libjansson-dev libfyaml-dev libpcre2-dev liblua5.4-dev libcmocka-dev
  zlib1g-dev python3 curl
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
