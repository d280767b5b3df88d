#!/usr/bin/env bash
# The seed's `always-listening: false`: chat is joined only while the stream
# is live. twitchd run against twitchd sim, logged in the seed's way, with
# stream checks every 3 s: offline at start, the bot is in no room; the
# stream goes live (the simulator's control interface), EventSub's
# stream.online makes the bot join at once (before the next stream check
# notices), StreamStarted is logged with the stream's title (from Get
# Streams) and the stream_started skill answers in chat; the stream ends,
# StreamEnded, and the bot leaves the room. A failing Get Streams (forced
# 500s) is not taken for a stream ending.
set -euo pipefail

. "$(dirname "$0")/lib/run_env.sh"
run_env_init

sim_start --room chan --consent-login chan --no-wss --no-ws --no-irc
code=$(sim_code "chat:read+chat:edit")

mkdir "$work/skills"
cp "$TW_SRC/examples/skills/stream_started.lua" "$work/skills/"
cat >"$work/twitchd.yaml" <<EOF2
connectors:
  twitch:
    client-id: $client_id
    client-secret: $client_secret
    code: $code
    channel: chan
    token-file: tokens.json
    ca-file: $ca
    always-listening: false
    stream-check-seconds: 3
    endpoints:
      irc: $ircs
      oauth: $oauth
      helix: $helix
      eventsub: $eventsub
skills:
  - name: stream_started
    path: skills/stream_started.lua
    connector: twitch
web:
  port: 0
EOF2

"$TW_BIN" run -c "$work/twitchd.yaml" >"$work/bot.log" 2>&1 &
botpid=$!
wait_log "chat: logged in as chan"
wait_log "streams: #chan is offline"
rooms() { ctl GET /chat/conns | python3 -c 'import json,sys; print(sum(c["rooms"] for c in json.load(sys.stdin)["conns"]))'; }
[ "$(rooms)" = 0 ] || fail "joined chat while the stream is offline"

wait_log "EventSub: stream.online for #chan"
ctl POST /api/streams '{"room":"chan","live":true,"title":"Late night C","viewer_count":7}' >/dev/null
wait_log "chat: joined #chan"
joined=$(grep -n "chat: joined #chan" "$work/bot.log" | head -1 | cut -d: -f1)
polled=$(grep -n "streams: #chan is live now" "$work/bot.log" | head -1 | cut -d: -f1 || true)
[ -z "$polled" ] || [ "$polled" -gt "$joined" ] || fail "joined only after the stream check, not on EventSub's stream.online"
wait_log '"event":"StreamStarted","user":"chan"'
grep -F '"event":"StreamStarted"' "$work/bot.log" | grep -qF '"title":"Late night C","viewers":7' || fail "StreamStarted without the stream's title and viewers"
wait_log "streams: #chan is live now"
n=$(grep -c "is live: joining chat" "$work/bot.log")
[ "$n" = 1 ] || fail "joined $n times for one stream"
ctl GET "/chat/sent?login=chan&contains=Late%20night%20C&wait_ms=10000" | grep -qF "PRIVMSG #chan :I'm live on twitch, come see me work on Late night C" || fail "no announcement in chat"

# Get Streams failing for a while (every retry of a poll included) is not
# the stream ending.
ctl POST /api/force '{"path":"/helix/streams","status":500,"count":8}' >/dev/null
wait_log "streams: Get Streams failed"
if grep -qF '"event":"StreamEnded"' "$work/bot.log"; then fail "a failed poll ended the stream"; fi

ctl POST /api/streams '{"room":"chan","live":false}' >/dev/null
wait_log '"event":"StreamEnded","user":"chan"'
wait_log "went offline: leaving chat"
for _ in $(seq 1 100); do [ "$(rooms)" = 0 ] && break; sleep 0.1; done
[ "$(rooms)" = 0 ] || fail "still in the room after the stream ended"
n=$(grep -c '"event":"StreamStarted"' "$work/bot.log")
[ "$n" = 1 ] || fail "$n StreamStarted events, want 1"

kill -TERM "$botpid"
wait "$botpid"
botpid=
echo ok
