#!/usr/bin/env bash
# twitchd auth against `twitchd sim`, as a user runs it: the browser part is
# played by curl (it fetches the authorize URL from the simulator without
# following the redirect, then requests the Location on the command's local
# catcher). Checks the exit status, what the command printed, the page the
# browser got, the token file (mode 0600, the token known to the simulator
# as the consenting user's), a state that does not match (refused, nothing
# exchanged), and the device flow approved through the simulator's control
# interface. No token may appear in the command's output, at debug level.
set -euo pipefail

: "${TW_BIN:?TW_BIN must point to the twitchd binary}"
work=$(mktemp -d)
pid=
apid=
cleanup() {
  for p in $apid $pid; do
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in sim.err auth.out auth.err; do
    [ -f "$work/$f" ] && sed "s/^/$f: /" "$work/$f" >&2
  done
  exit 1
}

# The simulator, with a short device polling interval.
mkfifo "$work/fifo"
"$TW_BIN" sim --no-irc --no-tls --no-wss --no-ws --device-interval-ms 200 \
  --consent-login authbot --ports-file "$work/ports.json" \
  >"$work/fifo" 2>"$work/sim.err" &
pid=$!
exec 3<"$work/fifo"
read -r -t 30 _line <&3 || fail "no JSON line from the simulator"
get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/ports.json" "$1"; }
oauth=$(get oauth)
ca=$(get ca_file)
control=$(get control)
client_id=$(get client_id)
client_secret=$(get client_secret)

# A free port for the redirect catcher.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/twitchd.yaml" <<EOF
connectors:
  twitch:
    client-id: $client_id
    client-secret: $client_secret
    channel: somechannel
    redirect: http://localhost:$port/callback
    token-file: $work/tokens.json
    ca-file: $ca
    endpoints:
      oauth: $oauth
logging:
  level: debug
EOF

# Runs `twitchd auth` in the background with its stdout on a FIFO, read
# line by line (waiting on the output itself, not on sleeps) into auth.out.
n=0
start_auth() {
  n=$((n + 1))
  mkfifo "$work/afifo.$n"
  "$TW_BIN" auth -c "$work/twitchd.yaml" --timeout 60 "$@" \
    >"$work/afifo.$n" 2>"$work/auth.err" &
  apid=$!
  exec 4<"$work/afifo.$n"
  : >"$work/auth.out"
}
wait_line() { # $1: text to wait for
  local line
  while IFS= read -r -t 30 line <&4; do
    printf '%s\n' "$line" >>"$work/auth.out"
    case "$line" in *"$1"*) return 0 ;; esac
  done
  return 1
}
finish_auth() { # waits for the command; sets rc
  local line
  rc=0
  wait "$apid" || rc=$?
  while IFS= read -r -t 30 line <&4; do printf '%s\n' "$line" >>"$work/auth.out"; done
  exec 4<&-
}

# Plays the browser: prints the page status; the page goes to $work/page.
browser() { # $1: "tamper" to change the state
  local url loc target
  url=$(grep -o "$oauth/authorize?[^ ]*" "$work/auth.out" | head -n1)
  [ -n "$url" ] || fail "no authorize URL printed"
  case "$url" in *"state="*) ;; *) fail "authorize URL without state" ;; esac
  case "$url" in *"scope=chat%3Aread"*) ;; *) fail "authorize URL without chat:read: $url" ;; esac
  # The scopes of the EventSub events `twitchd run` subscribes to.
  for sc in moderator%3Aread%3Afollowers channel%3Aread%3Asubscriptions bits%3Aread channel%3Amoderate; do
    case "$url" in *"$sc"*) ;; *) fail "authorize URL without $sc: $url" ;; esac
  done
  loc=$(curl -sS --cacert "$ca" -o /dev/null -w '%{redirect_url}' "$url")
  case "$loc" in "http://localhost:$port/callback?"*code=*) ;; *) fail "redirect: $loc" ;; esac
  target="http://127.0.0.1:$port${loc#http://localhost:$port}"
  if [ "${1:-}" = tamper ]; then
    target=$(echo "$target" | sed -E 's/state=(.)/state=Z\1/')
  fi
  curl -sS -o "$work/page" -w '%{http_code}' "$target"
}

# 1. The browser flow.
start_auth
wait_line "Waiting for the browser" || fail "auth never waited for the browser"
status=$(browser)
[ "$status" = 200 ] || fail "page status $status"
grep -q "Logged in as authbot" "$work/page" || fail "page: $(cat "$work/page")"
finish_auth
[ "$rc" = 0 ] || fail "twitchd auth exited $rc"
grep -q "^Logged in as authbot (user id " "$work/auth.out" || fail "no 'Logged in as'"
grep -q "^Tokens saved to $work/tokens.json" "$work/auth.out" || fail "no 'Tokens saved'"
[ "$(stat -c %a "$work/tokens.json")" = 600 ] || fail "token file mode"
access=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/tokens.json")
refresh=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$work/tokens.json")
info=$(curl -fsS "$control/api/tokens?token=$access")
echo "$info" | grep -q '"login":"authbot"' || fail "sim does not know the token: $info"
for t in "$access" "$refresh" "$client_secret"; do
  if grep -qF -- "$t" "$work/auth.out" "$work/auth.err"; then
    fail "a secret reached the output"
  fi
done
grep -q "oauth: POST /token: HTTP 200" "$work/auth.err" || fail "no debug lines in the log"
# The code exchange and the validation reached the simulator.
reqs=$(curl -fsS "$control/api/requests?path=/oauth2/token")
echo "$reqs" | grep -q 'grant_type=authorization_code' || fail "no code exchange: $reqs"

# 2. A redirect whose state does not match: refused, nothing exchanged.
before=$(curl -fsS "$control/api/requests?path=/oauth2/token" |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))')
cp "$work/tokens.json" "$work/tokens.before"
start_auth
wait_line "Waiting for the browser" || fail "auth (2) never waited"
status=$(browser tamper)
[ "$status" = 400 ] || fail "tampered state: page status $status"
finish_auth
[ "$rc" = 1 ] || fail "tampered state: exit $rc"
grep -q "state does not match" "$work/auth.err" || fail "no state message"
after=$(curl -fsS "$control/api/requests?path=/oauth2/token" |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))')
[ "$before" = "$after" ] || fail "a code was exchanged after a state mismatch"
cmp -s "$work/tokens.json" "$work/tokens.before" || fail "token file changed"

# 3. The device flow, approved through the control interface.
rm -f "$work/tokens.json"
start_auth --device
wait_line "enter the code: " || fail "no device code printed"
ucode=$(sed -n 's/^and enter the code: //p' "$work/auth.out")
[ -n "$ucode" ] || fail "empty user code"
curl -fsS -X POST -H 'Content-Type: application/json' \
  -d "{\"code\":\"$ucode\"}" "$control/api/device/approve" | grep -q '"ok":true' ||
  fail "approval refused"
finish_auth
[ "$rc" = 0 ] || fail "twitchd auth --device exited $rc"
grep -q "^Logged in as authbot" "$work/auth.out" || fail "device: no 'Logged in as'"
[ -f "$work/tokens.json" ] || fail "device: no token file"

# 4. Usage errors.
set +e
"$TW_BIN" auth >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing -c not refused with 2"
"$TW_BIN" auth -c "$work/nope.yaml" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing config not refused with 2"
set -e
"$TW_BIN" auth --help | grep -q -- "--device" || fail "--help"
"$TW_BIN" --help | grep -q "auth" || fail "twitchd --help lacks auth"

kill -TERM "$pid"
wait "$pid" || true
echo "OK"
