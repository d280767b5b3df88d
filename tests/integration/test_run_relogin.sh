#!/usr/bin/env bash
# A bot started without a login reads chat anonymously and says how to log
# in (GET /health answers 503 and says why); once a login exists (here the seed's way: a `code` added to the
# configuration; `twitchd auth` writing the token file works the same),
# SIGHUP logs it in without a restart: the code is exchanged, the anonymous
# connection is replaced by the bot's own, and its skills answer in chat.
set -euo pipefail

. "$(dirname "$0")/lib/run_env.sh"
run_env_init

sim_start --room chan --consent-login chan --no-wss --no-ws --no-irc

write_config() { # [CODE]
  cat >"$work/twitchd.yaml" <<EOF2
connectors:
  twitch:
    client-id: $client_id
    client-secret: $client_secret
    ${1:+code: $1}
    channel: chan
    token-file: tokens.json
    ca-file: $ca
    always-listening: true
    stream-check-seconds: 0
    endpoints:
      irc: $ircs
      oauth: $oauth
      helix: $helix
      eventsub: $eventsub
skills:
  - name: ping
    path: ping.lua
web:
  port: 0
EOF2
}
cat >"$work/ping.lua" <<'EOF2'
bot.match_regex([[^!ping (\d+)$]], function(message, m)
  message:respond("pong " .. m[1])
end)
EOF2
write_config

"$TW_BIN" run -c "$work/twitchd.yaml" >"$work/bot.log" 2>&1 &
botpid=$!
wait_log "twitchd auth"
wait_log "chat: joined #chan"
wait_log "EventSub waits for a login"
logins() { ctl GET /chat/conns | python3 -c 'import json,sys; print(" ".join(sorted(c["login"] for c in json.load(sys.stdin)["conns"] if c["logged_in"])))'; }
case "$(logins)" in justinfan*) ;; *) fail "not anonymous before the login: $(logins)" ;; esac
# Health says why the bot is not fully up: anonymous, no login.
h=$(health)
case "$h" in "503 "*'"ok":false'*'"anonymous":true'*'"login":"no_token","eventsub":null'*) ;; *) fail "health while anonymous: $h" ;; esac
port=$(web_port)
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" = 404 ] || fail "unknown path not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$port/health")" = 405 ] || fail "POST /health not 405"
head -c 1100000 /dev/zero | tr '\0' 'x' >"$work/big"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$work/big" "http://127.0.0.1:$port/eventsub")" = 413 ] || fail "an over-long body not refused with 413"
# Read-only: a skill's answer is refused, not sent.
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 1"}' >/dev/null
wait_log "chat is read-only without a token"

write_config "$(sim_code "chat:read+chat:edit")"
kill -HUP "$botpid"
wait_log "reload: the bot had no usable login (no_token)"
wait_log "creds: exchanged the configured code"
wait_log "chat: logged in as chan"
wait_log "EventSub session open" # EventSub needs a login: it starts now
[ -f "$work/tokens.json" ] || fail "no token file after the exchange"
for _ in $(seq 1 100); do [ "$(logins)" = chan ] && break; sleep 0.1; done
[ "$(logins)" = chan ] || fail "connections after the re-login: $(logins)"
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 2"}' >/dev/null
ctl GET "/chat/sent?login=chan&contains=pong%202&wait_ms=10000" | grep -q 'PRIVMSG #chan :pong 2' || fail "no answer after the re-login"
h=$(health)
case "$h" in "200 "*'"ok":true'*'"anonymous":false'*'"login":"ready"'*) ;; *) fail "health after the login: $h" ;; esac
# EventSub's state is in it too: subscriptions that need no scope are on.
for _ in $(seq 1 100); do
  case "$(health)" in *'"eventsub":{"subscriptions":0'*) sleep 0.1 ;; *) break ;; esac
done
case "$(health)" in *'"eventsub":{"subscriptions":'[1-9]*'"sessions":1'*) ;; *) fail "health without EventSub's subscriptions: $(health)" ;; esac
# And the runtime's counters: one answer sent on chat (the anonymous one
# was refused), one reload.
case "$(health)" in *'"runtime":{'*'"chat_sent":1,'*'"reloads":1}'*) ;; *) fail "health without the runtime's counters: $(health)" ;; esac

kill -TERM "$botpid"
wait "$botpid"
botpid=
echo ok
