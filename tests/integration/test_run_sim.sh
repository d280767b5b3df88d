#!/usr/bin/env bash
# twitchd run against twitchd sim, as a user would run them: a config whose
# endpoints point at the simulator, with the seed's way of logging in (an
# authorization `code` in the config, exchanged on the first start), and
# skills. Checks that the code is exchanged and the tokens stored (0600),
# that the chat events received are logged, that a skill answers in the
# simulator's chat, that an event written to the --inject FIFO reaches the
# skills (follow -> chat, stream started -> a Rocket.Chat webhook), that the
# seed's spam and !title skills ban, delete and retitle through Helix, that
# an expired token is refreshed when chat logs in again, that SIGHUP reloads
# a changed skill without a new connection, that a broken config on SIGHUP
# keeps the running one, and that SIGTERM stops with status 0. No token or
# secret reaches the log, at debug level.
set -euo pipefail

. "$(dirname "$0")/lib/run_env.sh"
run_env_init

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

sim_start --room chan --consent-login chan --no-wss --no-ws --no-irc

# The bot runs as the broadcaster's own account, as the seed's connector
# did: Modify Channel Information accepts only the broadcaster's token.
# It logs in the seed's way: a code from the authorize step in the config.
scopes="chat:read+chat:edit+moderator:manage:banned_users+moderator:manage:chat_messages+channel:manage:broadcast+clips:edit+moderator:read:followers+channel:read:subscriptions"
code=$(sim_code "$scopes")

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
extrapids=$!
disown "$extrapids"
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
cp "$TW_SRC/examples/skills/spam.lua" "$work/skills/spam.lua"
cp "$TW_SRC/examples/skills/title.lua" "$work/skills/title.lua"
cat >"$work/twitchd.yaml" <<EOF
connectors:
  twitch:
    client-id: $client_id
    client-secret: $client_secret
    code: $code
    redirect: http://localhost
    channel: chan
    token-file: tokens.json
    ca-file: $ca
    always-listening: true
    endpoints:
      irc: $ircs
      oauth: $oauth
      helix: $helix
      eventsub: $eventsub
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
  - name: spam
    path: skills/spam.lua
  - name: title
    path: skills/title.lua
    whitelisted: [chan]
logging:
  level: debug
web:
  port: 0
EOF
"$TW_BIN" check -c "$work/twitchd.yaml" >/dev/null || fail "check refused the test config"

mkfifo "$work/inject"
"$TW_BIN" run -c "$work/twitchd.yaml" --inject "$work/inject" >"$work/bot.log" 2>&1 &
botpid=$!
wait_log "joined #chan"
# The code was exchanged and the tokens stored, readable by us only.
[ -f "$work/tokens.json" ] || fail "no token file after the code exchange"
[ "$(stat -c %a "$work/tokens.json")" = 600 ] || fail "token file mode $(stat -c %a "$work/tokens.json")"
tok() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/tokens.json" "$1"; }
token=$(tok access_token)
refresh1=$(tok refresh_token)
[ "$(tok login)" = chan ] || fail "token file login $(tok login)"

# A viewer speaks: the event is logged, the skill answers in the room.
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 1"}' >/dev/null
wait_log '"event":"Message"'
grep -F '"text":"!ping 1"' "$work/bot.log" | grep -qF '"user":"viewer"' || fail "Message event not logged with its user and text"
ctl GET "/chat/sent?login=chan&contains=pong%20v1&wait_ms=10000" | grep -q 'PRIVMSG #chan :pong v1 1' || fail "the skill's answer never reached the simulator"

# The seed's !title: the broadcaster may (Helix Modify Channel
# Information), a viewer may not.
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!title viewer title"}' >/dev/null
ctl POST /chat/say '{"room":"chan","login":"chan","text":"!title Coding a bot in C"}' >/dev/null
chan_id=$(helix_get "/users?login=chan" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
for _ in $(seq 1 100); do
  helix_get "/channels?broadcaster_id=$chan_id" | grep -qF '"title":"Coding a bot in C"' && break
  sleep 0.1
done
helix_get "/channels?broadcaster_id=$chan_id" | grep -qF '"title":"Coding a bot in C"' || fail "title not changed: $(helix_get "/channels?broadcaster_id=$chan_id")"
grep -q "users constraint refused user 'viewer'" "$work/bot.log" || fail "the viewer's !title was not refused"

# The seed's spam skill: ban (Helix Ban User) and delete (Delete Chat
# Messages) the follower seller.
spam_id=$(ctl POST /chat/say '{"room":"chan","login":"spammer","text":"Wanna become famous? Buy followers at x.invalid"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 1 100); do
  helix_get "/moderation/banned?broadcaster_id=$chan_id" | grep -qF '"user_login":"spammer"' && break
  sleep 0.1
done
helix_get "/moderation/banned?broadcaster_id=$chan_id" | grep -qF '"user_login":"spammer"' || fail "spammer not banned"
for _ in $(seq 1 100); do
  ctl GET /api/requests | grep -qF "message_id=$spam_id" && break
  sleep 0.1
done
ctl GET /api/requests | python3 -c '
import json, sys
reqs = json.load(sys.stdin)["requests"]
d = [r for r in reqs if r["method"] == "DELETE" and r["path"] == "/helix/moderation/chat" and sys.argv[1] in r["query"]]
assert d, "no Delete Chat Messages for the spam message"
assert d[-1]["status"] in (204, 404), d[-1]["status"]
' "$spam_id" || fail "spam message not deleted"

# The token never reaches the log, even at debug level; nor the secrets.
for secret in "$token" "$refresh1" "$client_secret" "$code"; do
  if grep -qF -- "$secret" "$work/bot.log"; then fail "a secret in the log"; fi
done

# The token expires while chat is connected; the connection drops; the
# next login is refused, the credentials are refreshed once, chat logs in
# again, and the rotated refresh token is in the file.
ctl POST /api/tokens/expire "{\"token\":\"$token\"}" >/dev/null
logins_before=$(grep -c "chat: logged in as chan" "$work/bot.log")
ctl POST /chat/drop '{"conn":0}' >/dev/null
for _ in $(seq 1 300); do
  [ "$(grep -c "chat: logged in as chan" "$work/bot.log")" -gt "$logins_before" ] && break
  sleep 0.1
done
[ "$(grep -c "chat: logged in as chan" "$work/bot.log")" -gt "$logins_before" ] || fail "chat did not log in again after the token expired"
[ "$(tok access_token)" != "$token" ] || fail "the access token was not renewed"
[ "$(tok refresh_token)" != "$refresh1" ] || fail "the rotated refresh token was not stored"
token=$(tok access_token)
n_refresh=$(ctl GET /api/requests | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin)["requests"] if r["path"] == "/oauth2/token" and "grant_type=refresh_token" in (r.get("body") or "")))')
[ "$n_refresh" = 1 ] || fail "$n_refresh refresh requests, want 1"
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 9"}' >/dev/null
ctl GET "/chat/sent?login=chan&contains=pong%20v1%209&wait_ms=10000" | grep -q 'pong v1 9' || fail "no answer after the refresh"

# The test hook: an event the simulator cannot produce (a follow).
echo '{"event":"UserFollowed","user":"newfan","follower":"newfan"}' >"$work/inject"
ctl GET "/chat/sent?login=chan&contains=follow%20newfan&wait_ms=10000" | grep -q 'Thank you so much for the follow newfan' || fail "injected follow not thanked in chat"
# The same through EventSub, as Twitch sends it: a channel.follow
# notification on the bot's session becomes UserFollowed for the skill, a
# gift becomes UserGiftedSubscription.
wait_log "EventSub: channel.follow for #chan"
ctl POST /eventsub/trigger '{"type":"channel.follow","room":"chan","event":{"user_login":"esfan","user_name":"EsFan"}}' | grep -q '"sent":1' || fail "EventSub trigger not sent"
ctl GET "/chat/sent?login=chan&contains=follow%20esfan&wait_ms=10000" | grep -q 'Thank you so much for the follow esfan' || fail "EventSub follow not thanked in chat"
ctl POST /eventsub/trigger '{"type":"channel.subscription.gift","room":"chan","event":{"user_login":"gifter","user_name":"Gifter","total":3}}' >/dev/null
wait_log '"event":"UserGiftedSubscription","user":"gifter"'
# A sub shows both in chat (USERNOTICE) and on EventSub: skills see it once.
ctl POST /chat/inject '{"room":"chan","line":"@badge-info=;badges=;display-name=Subber;login=subber;msg-id=sub;msg-param-sub-plan=1000;room-id=1;system-msg=subscribed;tmi-sent-ts=1;user-id=555 :tmi.twitch.tv USERNOTICE #chan"}' >/dev/null
wait_log "UserSubscribed in #chan from chat dropped: EventSub delivers it"
ctl POST /eventsub/trigger '{"type":"channel.subscribe","room":"chan","event":{"user_login":"subber","user_name":"Subber"}}' >/dev/null
wait_log '"event":"UserSubscribed","user":"subber"'
n=$(grep -c '"event":"UserSubscribed","user":"subber"' "$work/bot.log")
[ "$n" = 1 ] || fail "$n UserSubscribed events for one sub, want 1"

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
wait_log "reloaded: 5 skill(s)"
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 2"}' >/dev/null
ctl GET "/chat/sent?login=chan&contains=pong%20v2%202&wait_ms=10000" | grep -q 'pong v2 2' || fail "reloaded skill did not answer"
accepted_after=$(ctl GET /chat/counters | python3 -c 'import json,sys; print(json.load(sys.stdin)["conns_accepted"])')
[ "$accepted_before" = "$accepted_after" ] || fail "SIGHUP reconnected chat ($accepted_before -> $accepted_after connections)"

# SIGHUP with a broken config: errors with positions, the old config runs.
cp "$work/twitchd.yaml" "$work/good.yaml"
printf 'skills:\n  - name: x\n    path: nowhere.lua\n  - [\n' >>"$work/twitchd.yaml"
kill -HUP "$botpid"
wait_log "the running configuration stays"
grep -q "twitchd.yaml:[0-9]*:[0-9]*" "$work/bot.log" || fail "reload error without a position"
ctl POST /chat/say '{"room":"chan","login":"viewer","text":"!ping 3"}' >/dev/null
ctl GET "/chat/sent?login=chan&contains=pong%20v2%203&wait_ms=10000" | grep -q 'pong v2 3' || fail "bot stopped answering after a bad reload"

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
