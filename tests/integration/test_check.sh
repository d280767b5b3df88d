#!/usr/bin/env bash
# `twitchd check -c FILE` as a user runs it: exit status, FILE:LINE:COL
# messages on stderr, the summary on stdout, and no secret anywhere.
set -euo pipefail

BIN=${TW_BIN:?TW_BIN must name the twitchd binary}
FIX=${TW_FIXTURES:?TW_FIXTURES must name tests/fixtures}/config
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

# Runs the binary, keeping stdout, stderr and the exit status.
run() {
  set +e
  "$BIN" "$@" >"$work/out" 2>"$work/err"
  status=$?
  set -e
}

expect_status() {
  [ "$status" -eq "$1" ] || fail "$2: exit status $status, expected $1 (stderr: $(head -3 "$work/err"))"
}

expect_in() { # file, fixed string, what
  grep -qF -- "$2" "$1" || fail "$3: '$2' not in $(basename "$1"): $(head -5 "$1")"
}

expect_not_in() {
  if grep -qF -- "$2" "$1"; then fail "$3: '$2' must not appear"; fi
}

# 1. The seed's block, verbatim, is valid; secrets are not printed.
run check -c "$FIX/good/seed.yaml"
expect_status 0 "seed config"
expect_in "$work/out" "$FIX/good/seed.yaml: OK" "seed summary"
expect_in "$work/out" "theflyingdev" "seed summary channel"
expect_in "$work/out" "wss://irc-ws.chat.twitch.tv:443" "seed summary irc endpoint"
expect_in "$work/out" "skills: 0" "seed summary skills"
expect_in "$work/out" "logging: level info, format text" "seed summary logging"
expect_in "$work/out" "$HOME/.local/share/twitchd/tokens.json" "default token-file"
expect_in "$work/err" "$FIX/good/seed.yaml:11:5: note: connectors.twitch.webhook-lease-seconds: has no effect" "lease note"
for secret in kdksd0458j93847j hfu923hfks02nd2821jfislf; do
  expect_not_in "$work/out" "$secret" "seed summary"
  expect_not_in "$work/err" "$secret" "seed notes"
done

# 2. A typo: exit 1 with the right file:line:col and a suggestion.
cat >"$work/twitchd.yaml" <<'EOF'
# my bot
connectors:
  twitch:
    code: "hfu923hfks02nd2821jfislf"
    client-secret: "kdksd0458j93847j"
    channel: theflyingdev
    clientid: "e0asdj48jfkspod0284"
EOF
run check -c "$work/twitchd.yaml"
expect_status 1 "typo config"
expect_in "$work/err" "$work/twitchd.yaml:7:5: unknown key 'clientid' in connectors.twitch (did you mean 'client-id'?)" "typo message"
expect_in "$work/err" "$work/twitchd.yaml:3:3: missing required key 'client-id' in connectors.twitch" "missing key message"
[ ! -s "$work/out" ] || fail "typo config: nothing expected on stdout"
# the same from the file's folder, with a relative name (as the brief shows)
(cd "$work" && set +e && "$BIN" check -c twitchd.yaml >/dev/null 2>"$work/err2"; echo $? >"$work/st2")
[ "$(cat "$work/st2")" = 1 ] || fail "relative path: exit status $(cat "$work/st2")"
expect_in "$work/err2" "twitchd.yaml:7:5: unknown key 'clientid'" "relative path message"

# 3. Several problems are all reported, in order, with a count.
run check --config "$FIX/bad/many-errors.yaml"
expect_status 1 "many errors"
[ "$(grep -c "^$FIX/bad/many-errors.yaml:[0-9]*:[0-9]*: " "$work/err")" = 9 ] ||
  fail "many errors: expected 9 located lines, got: $(cat "$work/err")"
expect_in "$work/err" "many-errors.yaml: 9 errors" "error count"
first=$(head -1 "$work/err")
case "$first" in
*many-errors.yaml:3:3:*) ;;
*) fail "many errors: first line should be the earliest position: $first" ;;
esac

# 4. A YAML syntax error has a position too.
run check --config="$FIX/bad/syntax-flow.yaml"
expect_status 1 "syntax error"
expect_in "$work/err" "$FIX/bad/syntax-flow.yaml:2:46: YAML syntax error" "syntax position"
expect_not_in "$work/err" "[ERR]" "libfyaml's own output"

# 5. Usage problems and unreadable files: exit 2 with a clear message.
run check
expect_status 2 "no -c"
expect_in "$work/err" "missing -c FILE" "no -c message"
run check -c
expect_status 2 "-c without FILE"
run check -c "$work/nope.yaml"
expect_status 2 "missing file"
expect_in "$work/err" "cannot read $work/nope.yaml: cannot open: No such file or directory" "missing file message"
run check -c "$work"
expect_status 2 "directory"
expect_in "$work/err" "not a regular file" "directory message"
run check --frobnicate
expect_status 2 "unknown option"
expect_in "$work/err" "unexpected argument '--frobnicate'" "unknown option message"
run check --help
expect_status 0 "--help"
expect_in "$work/out" "usage: twitchd check -c FILE" "help text"

# 6. Both skill forms appear in the summary.
run check -c "$FIX/good/skills-list.yaml"
expect_status 0 "skills list form"
expect_in "$work/out" "skills: 4 (hello, bare, title, nested)" "skills list summary"
run check -c "$FIX/good/seed-skills.yaml"
expect_status 0 "seed skills"
expect_in "$work/out" "skills: 1 (twitch)" "seed skills summary"

# 7. The commented example configuration is valid.
run check -c "${TW_SRC:?TW_SRC must name the repository}/examples/twitchd.yaml"
expect_status 0 "examples/twitchd.yaml"
expect_in "$work/out" "skills: 1 (twitch)" "example summary"

if [ "$fails" -ne 0 ]; then
  echo "test_check: $fails failure(s)"
  exit 1
fi
echo "test_check: all checks passed"
