#!/usr/bin/env bash
# twitchd run against twitchd sim, as a user would run them: a config whose
# endpoints.irc points at the simulator, a token file, two skills. Checks
# that the chat events received are logged, that a skill answers in the
# simulator's chat, that an event written to the --inject FIFO reaches the
# skills, that SIGHUP reloads a changed skill without a new connection, that
# a broken config on SIGHUP keeps the running one, and that SIGTERM stops
# with status 0.
set -euo pipefail

: "${TW_BIN:?TW_BIN must point to the twitchd binary}"
: "${TW_SRC:?TW_SRC must point to the repository}"
work=$(mktemp -d)
simpid=
botpid=
cleanup() {
  for p in $botpid $simpid ${hookpid:-}; do
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$work/bot.log" ] && sed 's/^/bot: /' "$work/bot.log" | tail -40 >&2
  [ -f "$work/sim.err" ] && sed 's/^/sim: /' "$work/sim.err" | tail -20 >&2
  exit 1
}

# Waits up to 20 s for a fixed string in the bot's log.
wait_log() {
  for _ in $(seq 1 200); do
    grep -qF -- "$1" "$work/bot.log" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "no '$1' in the log"
}

# `twitchd run` refuses to start without a config or --sim, and names the
# position of a config error.
set +e
"$TW_BIN" run >/dev/null 2>&1
[ $? -eq 2 ] || fail "run without -c or --sim not refused with 2"
printf 'connectors:\n  twitch:\n    client-id: x\n    channel: c\n    bogus: 1\n' >"$work/bad.yaml"
"$TW_BIN" run -c "$work/bad.yaml" >/dev/null 2>"$work/bad.err"
[ $? -eq 2 ] || fail "bad config not refused with 2"
set -e
grep -q "bad.yaml:5:5" "$work/bad.err" || fail "config error without file:line:col: $(cat "$work/bad.err")"

token=runtesttoken0123456789
mkfifo "$work/simout"
"$TW_BIN" sim --token "$token=testbot" --room chan=4242 --mod chan=testbot \
  --no-wss --no-ws --no-irc >"$work/simout" 2>"$work/sim.err" &
simpid=$!
exec 3<"$work/simout"
read -r -t 30 line <&3 || fail "simulator printed no JSON line"
echo "$line" >"$work/ports.json"
get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/ports.json" "$1"; }
control=$(get control)
ircs=$(get ircs)
ca=$(get ca_file)

ctl() { # METHOD PATH [JSON]
  if [ $# -ge 3 ]; then
    curl -sf -X "$1" -H 'Content-Type: application/json' -d "$3" "$control$2"
  else
    curl -sf -X "$1" "$control$2"
  fi
}

# The token file, as `twitchd auth` writes it (mode 0600).
(umask 077 && printf '{"version":1,"access_token":"%s","login":"testbot","user_id":"4243","scopes":["chat:read","chat:edit"]}\n' "$token" >"$work/tokens.json")

# A stand-in for Rocket.Chat's incoming webhook: stores each POST body.
python3 - "$work" <<'PYEOF' &
import http.server, sys, os
work = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(os.path.join(work, "hook.body"), "ab") as f:
            f.write(self.path.encode() + b" " + body + b"\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"success":true}')
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(os.path.join(work, "hook.port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(os.path.join(work, "hook.port.tmp"), os.path.join(work, "hook.port"))
srv.serve_forever()
PYEOF
hookpid=$!
disown "$hookpid"
for _ in $(seq 1 100); do [ -s "$work/hook.port" ] && break; sleep 0.1; done
hookport=$(cat "$work/hook.port")

mkdir "$work/skills"
cat >"$work/skills/ping.lua" <<'EOF'
local twitch = bot.connector("twitch")
bot.match_regex([[^!ping (\d+)$]], function(message, m)
  message:respond("pong v1 " .. m[1])
end)
EOF
cp "$TW_SRC/examples/skills/follow.lua" "$work/skills/follow.lua"
cp "$TW_SRC/examples/skills/stream_started.lua" "$work/skills/stream_started.lua"
cat >"$work/twitchd.yaml" <<EOF
connectors:
  twitch:
    client-id: testclient
    channel: chan
    token-file: tokens.json
    ca-file: $ca
    always-listening: true
    endpoints:
      irc: $ircs
  webhook:
    rocketchat:
      kind: rocketchat
      url: http://127.0.0.1:$hookport/hooks/abc/secrettokenvalue
skills:
  - name: stream_started
    path: skills/stream_started.lua
  - name: ping
    path: skills/ping.lua
  - name: follow
    path: skills/follow.lua
logging:
  level: debug
EOF
"$TW_BIN" check -c "$work/twitchd.yaml" >/dev/null || fail "check refused the test config"

mkfifo "$work/inject"
"$TW_BIN" run -c "$work/twitchd.yaml" --inject "$work/inject" >"$work/bot.log" 2>&1 &
botpid=$!
wait_log "joined #chan"

# A viewer speaks: the event is logged, the skill answers in the room.
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 1"}' >/dev/null
wait_log '"event":"Message"'
grep -F '"text":"!ping 1"' "$work/bot.log" | grep -qF '"user":"viewer"' || fail "Message event not logged with its user and text"
ctl GET "/chat/sent?login=testbot&contains=pong%20v1&wait_ms=10000" | grep -q 'PRIVMSG #chan :pong v1 1' || fail "the skill's answer never reached the simulator"

# The token never reaches the log, even at debug level.
if grep -qF "$token" "$work/bot.log"; then fail "token in the log"; fi

# The test hook: an event the simulator cannot produce (a follow).
echo '{"event":"UserFollowed","user":"newfan","follower":"newfan"}' >"$work/inject"
ctl GET "/chat/sent?login=testbot&contains=follow%20newfan&wait_ms=10000" | grep -q 'Thank you so much for the follow newfan' || fail "injected follow not thanked in chat"
# The seed's first example: the stream goes live, Rocket.Chat hears of it.
echo '{"event":"StreamStarted","title":"Building a bot","viewers":5}' >"$work/inject"
want='/hooks/abc/secrettokenvalue {"text":"I'"'"'m live on twitch, come see me work on Building a bot"'
for _ in $(seq 1 100); do grep -qF "$want" "$work/hook.body" 2>/dev/null && break; sleep 0.1; done
grep -qF "$want" "$work/hook.body" || fail "webhook body: $(cat "$work/hook.body" 2>/dev/null)"
wait_log "webhook rocketchat: message 1 delivered"
# The webhook URL carries a token: never in the log.
if grep -qF "secrettokenvalue" "$work/bot.log"; then fail "webhook URL token in the log"; fi
# A malformed line on the hook is skipped with a reason; the bot goes on.
echo '{"event":"UserFollowed","folower":"typo"}' >"$work/inject"
wait_log 'no field "folower"'

# SIGHUP with a changed skill: the new version answers, on the same
# connection.
accepted_before=$(ctl GET /chat/counters | python3 -c 'import json,sys; print(json.load(sys.stdin)["conns_accepted"])')
sed -i 's/pong v1/pong v2/' "$work/skills/ping.lua"
kill -HUP "$botpid"
wait_log "reloaded: 3 skill(s)"
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 2"}' >/dev/null
ctl GET "/chat/sent?login=testbot&contains=pong%20v2%202&wait_ms=10000" | grep -q 'pong v2 2' || fail "reloaded skill did not answer"
accepted_after=$(ctl GET /chat/counters | python3 -c 'import json,sys; print(json.load(sys.stdin)["conns_accepted"])')
[ "$accepted_before" = "$accepted_after" ] || fail "SIGHUP reconnected chat ($accepted_before -> $accepted_after connections)"

# SIGHUP with a broken config: errors with positions, the old config runs.
cp "$work/twitchd.yaml" "$work/good.yaml"
printf 'skills:\n  - name: x\n    path: nowhere.lua\n  - [\n' >>"$work/twitchd.yaml"
kill -HUP "$botpid"
wait_log "the running configuration stays"
grep -q "twitchd.yaml:[0-9]*:[0-9]*" "$work/bot.log" || fail "reload error without a position"
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 3"}' >/dev/null
ctl GET "/chat/sent?login=testbot&contains=pong%20v2%203&wait_ms=10000" | grep -q 'pong v2 3' || fail "bot stopped answering after a bad reload"

kill -TERM "$botpid"
set +e
wait "$botpid"
status=$?
set -e
botpid=
[ "$status" -eq 0 ] || fail "SIGTERM exit status $status"
grep -q "SIGTERM: stopping" "$work/bot.log" || fail "no stop line"
kill -TERM "$simpid"
wait "$simpid" || true
simpid=
echo "ok"
