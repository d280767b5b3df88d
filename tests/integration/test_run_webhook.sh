#!/usr/bin/env bash
# The seed's `forward-url`: EventSub over webhooks. twitchd run against
# twitchd sim, logged in the seed's way, with forward-url pointing at the
# bot's own web server: the app token is fetched (client credentials), the
# subscriptions are created with it, the simulator's verification challenge
# is answered, a follow POSTed by the simulator reaches the follow skill,
# which thanks in chat; a redelivery (same message id) is not handled twice;
# a forged signature and an unsigned POST are refused; the webhook secret
# never reaches the log.
set -euo pipefail

. "$(dirname "$0")/lib/run_env.sh"
run_env_init

sim_start --room chan --consent-login chan --no-wss --no-ws --no-irc \
  --webhook-retry-ms 100
code=$(sim_code "chat:read+chat:edit+moderator:read:followers")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
secret=whsecret-0123456789abcdef

mkdir "$work/skills"
cp "$TW_SRC/examples/skills/follow.lua" "$work/skills/"
cat >"$work/twitchd.yaml" <<EOF2
connectors:
  twitch:
    client-id: $client_id
    client-secret: $client_secret
    code: $code
    channel: chan
    token-file: tokens.json
    ca-file: $ca
    always-listening: true
    stream-check-seconds: 0
    forward-url: http://127.0.0.1:$port
    eventsub-secret: $secret
    endpoints:
      irc: $ircs
      oauth: $oauth
      helix: $helix
      eventsub: $eventsub
skills:
  - name: follow
    path: skills/follow.lua
web:
  port: $port
logging:
  level: debug
EOF2

"$TW_BIN" run -c "$work/twitchd.yaml" >"$work/bot.log" 2>&1 &
botpid=$!
wait_log "EventSub over webhooks: Twitch calls http://127.0.0.1:$port/eventsub"
wait_log "chat: joined #chan"
# The subscriptions are verified through the web server: the simulator's
# challenges were answered 200.
answered() {
  ctl GET /eventsub/webhook/attempts | python3 -c '
import json,sys
a = json.load(sys.stdin)["attempts"]
print(sum(1 for x in a if x["message_type"] == sys.argv[1] and x["status"] == int(sys.argv[2])))' "$1" "$2"
}
for _ in $(seq 1 100); do
  [ "$(answered webhook_callback_verification 200)" -ge 1 ] && break
  sleep 0.1
done
[ "$(answered webhook_callback_verification 200)" -ge 1 ] || fail "no verification challenge answered 200: $(ctl GET /eventsub/webhook/attempts)"

# A follow, POSTed by the simulator, thanked in chat.
ctl POST /eventsub/trigger '{"type":"channel.follow","room":"chan","event":{"user_login":"hookfan","user_name":"HookFan"}}' >/dev/null
ctl GET "/chat/sent?login=chan&contains=follow%20hookfan&wait_ms=10000" | grep -q 'Thank you so much for the follow hookfan' || fail "webhook follow not thanked in chat"
# The same message again (Twitch delivers at least once): acknowledged,
# not handled twice.
ctl POST /eventsub/webhook/redeliver '{}' >/dev/null
for _ in $(seq 1 50); do
  [ "$(answered notification 204)" -ge 2 ] && break
  sleep 0.1
done
[ "$(answered notification 204)" -ge 2 ] || fail "the redelivery was not acknowledged with 204"
n=$(grep -c '"event":"UserFollowed","user":"hookfan"' "$work/bot.log")
[ "$n" = 1 ] || fail "$n UserFollowed events for one follow, want 1"
# A forged signature: refused.
ctl POST /eventsub/webhook/fault '{"fault":"bad_signature"}' >/dev/null
# An unsigned POST from anyone: refused, not handled.
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"subscription":{"type":"channel.follow"},"event":{"user_login":"evil"}}' \
  "http://127.0.0.1:$port/eventsub")
[ "$st" = 400 ] || [ "$st" = 403 ] || fail "unsigned webhook answered $st"
for _ in $(seq 1 50); do
  [ "$(answered notification 403)" -ge 1 ] && break
  sleep 0.1
done
[ "$(answered notification 403)" -ge 1 ] || fail "forged signature not refused with 403: $(ctl GET /eventsub/webhook/attempts)"
if grep -q '"user_login":"evil"\|"user":"evil"' "$work/bot.log"; then fail "an unsigned webhook was handled"; fi
if grep -qF -- "$secret" "$work/bot.log"; then fail "the webhook secret is in the log"; fi

kill -TERM "$botpid"
wait "$botpid"
botpid=
echo ok
