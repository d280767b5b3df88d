#!/usr/bin/env bash
# connectors.webhook as a user meets it through `twitchd check`: the example
# file is valid, mistakes are reported with FILE:LINE:COL, and a webhook URL
# (a secret: it carries the webhook's token) is never printed.
set -euo pipefail

BIN=${TW_BIN:?TW_BIN must name the twitchd binary}
SRC=${TW_SRC:?TW_SRC must name the repository}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home
unset XDG_DATA_HOME
mkdir -p "$HOME"

fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

run() {
  set +e
  "$BIN" "$@" >"$work/out" 2>"$work/err"
  status=$?
  set -e
}

expect_in() { # file, fixed string, what
  grep -qF -- "$2" "$1" || fail "$3: '$2' not in $(basename "$1"): $(head -5 "$1")"
}

expect_not_in() {
  if grep -qF -- "$2" "$1"; then fail "$3: '$2' must not appear"; fi
}

# 1. The example is valid and its URLs' tokens are not printed.
run check -c "$SRC/examples/webhook.yaml"
[ "$status" -eq 0 ] || fail "examples/webhook.yaml: exit $status: $(head -3 "$work/err")"
expect_in "$work/out" "examples/webhook.yaml: OK" "example summary"
for f in out err; do
  expect_not_in "$work/$f" "replace-with" "example $f"
done

# 2. Mistakes: each reported at its position, none showing a URL.
cat >"$work/bad.yaml" <<'YAML'
connectors:
  twitch:
    client-id: abc
    channel: foo
  webhook:
    discord:
      kind: discrod
      url: "https://discord.com/api/webhooks/1/TOKEN-aaaa-1111"
    plain:
      kind: slack
      url: "http://hooks.slack.com/services/T/B/TOKEN-bbbb-2222"
    named:
      kind: discord
      url: "https://discord.com/api/webhooks/2/TOKEN-cccc-3333"
      username: Clyde
    broken:
      kind: rocketchat
      url: "https://exa mple.org/hooks/TOKEN-dddd-4444"
YAML
run check -c "$work/bad.yaml"
[ "$status" -eq 1 ] || fail "bad.yaml: exit $status, expected 1"
expect_in "$work/err" "bad.yaml:7:13: connectors.webhook.discord.kind: expected one of discord, slack, rocketchat" "kind typo"
expect_in "$work/err" "bad.yaml:11:12: connectors.webhook.plain.url: http:// is allowed only for a loopback host" "http url"
expect_in "$work/err" "bad.yaml:15:17: connectors.webhook.named.username: Discord refuses" "clyde"
expect_in "$work/err" "bad.yaml:18:12: connectors.webhook.broken.url: the value is not a valid URL" "bad url"
for f in out err; do
  expect_not_in "$work/$f" "TOKEN-" "bad.yaml $f"
done

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "ok"
