#!/usr/bin/env bash
# twitchd sim: the command line simulator as scripts use it. Starts it on
# ephemeral ports with --ports-file, logs a client in over TLS (trusting the
# generated CA, verifying "localhost"), then drives it through the control
# interface: say, inject, long-poll read-back, counters, drop; then stops it
# with SIGTERM and checks the exit status and the cleanup.
set -euo pipefail

: "${TW_BIN:?TW_BIN must point to the twitchd binary}"
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$work/err" ] && sed 's/^/sim: /' "$work/err" >&2
  exit 1
}

# Bad options are refused with status 2.
set +e
"$TW_BIN" sim --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option not refused with 2"
"$TW_BIN" sim --irc-port 70000 >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad port not refused with 2"
"$TW_BIN" sim --token nologin >/dev/null 2>&1
[ $? -eq 2 ] || fail "--token without =LOGIN not refused"
"$TW_BIN" sim --api-port 70000 >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --api-port not refused with 2"
"$TW_BIN" sim --client >/dev/null 2>&1
[ $? -eq 2 ] || fail "--client without a value not refused"
"$TW_BIN" sim --device-interval-ms x >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --device-interval-ms not refused"
"$TW_BIN" sim --eventsub-port 70000 >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --eventsub-port not refused with 2"
"$TW_BIN" sim --eventsub-keepalive-ms 0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--eventsub-keepalive-ms 0 not refused with 2"
"$TW_BIN" sim --webhook-retries x >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --webhook-retries not refused with 2"
"$TW_BIN" sim --webhook-ca-file >/dev/null 2>&1
[ $? -eq 2 ] || fail "--webhook-ca-file without a path not refused"
set -e
"$TW_BIN" sim --help | grep -q -- '--ports-file' || fail "--help"
"$TW_BIN" sim --help | grep -q -- '--api-port' || fail "--help lacks --api-port"
"$TW_BIN" sim --help | grep -q -- '--eventsub-port' || fail "--help lacks --eventsub-port"
"$TW_BIN" sim --help | grep -q -- '--no-eventsub' || fail "--help lacks --no-eventsub"
"$TW_BIN" sim --help | grep -q -- '--webhook-retry-ms' || fail "--help lacks --webhook-retry-ms"

# The simulator prints its JSON line once every listener is open: reading
# it from a FIFO waits for exactly that.
mkfifo "$work/fifo"
"$TW_BIN" sim --token simtoken123=bot --room chan=4242 --mod chan=bot \
  --client cliapp=clisecret99 --device-interval-ms 100 \
  --webhook-retry-ms 10 --webhook-retries 1 --webhook-timeout-ms 5000 \
  --ports-file "$work/ports.json" >"$work/fifo" 2>"$work/err" &
pid=$!
exec 3<"$work/fifo"
read -r -t 30 line <&3 || fail "no JSON line on stdout"
[ -s "$work/ports.json" ] || fail "no ports file"
[ "$line" = "$(cat "$work/ports.json")" ] ||
  fail "stdout line and ports file differ"

get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/ports.json" "$1"; }
control=$(get control)
ircs_port=$(get ircs_port)
ca=$(get ca_file)
[ -f "$ca" ] || fail "ca_file $ca missing"
certdir=$(get cert_dir)

# The API listener: its fields in the JSON line, and a real HTTPS exchange.
api_port=$(get api_port)
oauth=$(get oauth)
helix=$(get helix)
[ "$oauth" = "https://127.0.0.1:$api_port/oauth2" ] || fail "oauth field: $oauth"
[ "$helix" = "https://127.0.0.1:$api_port/helix" ] || fail "helix field: $helix"
[ "$(get client_id)" = twitchd-sim-client ] || fail "client_id field"
[ "$(get client_secret)" = twitchd-sim-secret ] || fail "client_secret field"
[ "$(get consent_login)" = bot ] || fail "consent_login is not the first --token login"
tok=$(curl -fsS --cacert "$ca" --resolve "localhost:$api_port:127.0.0.1" \
  -d client_id=cliapp -d client_secret=clisecret99 -d grant_type=client_credentials \
  "https://localhost:$api_port/oauth2/token")
echo "$tok" | grep -q '"token_type":"bearer"' || fail "client credentials: $tok"
code=$(curl -s -o "$work/bad" -w '%{http_code}' --cacert "$ca" \
  --resolve "localhost:$api_port:127.0.0.1" \
  -d client_id=cliapp -d client_secret=wrong -d grant_type=client_credentials \
  "https://localhost:$api_port/oauth2/token")
[ "$code" = 403 ] || fail "wrong secret gave $code"
grep -q '"message":"invalid client secret"' "$work/bad" || fail "403 body: $(cat "$work/bad")"
# Helix with the --token token (default client): the token's user, and a
# channel made live through the control interface.
hx() { curl -fsS --cacert "$ca" --resolve "localhost:$api_port:127.0.0.1" \
  -H "Authorization: Bearer simtoken123" -H "Client-Id: twitchd-sim-client" \
  -D "$work/hx.h" "https://localhost:$api_port/helix$1"; }
hx /users | grep -q '"login":"bot"' || fail "helix users"
grep -qi '^ratelimit-remaining: ' "$work/hx.h" || fail "no Ratelimit headers"
post() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$control$1"; }
post /api/streams '{"room":"chan","live":true,"title":"cli live","viewer_count":3}' |
  grep -q '"ok":true' || fail "api/streams"
hx "/streams?user_login=chan" | grep -q '"title":"cli live"' || fail "helix streams"
# The EventSub listener: its fields, and its control endpoints.
es_port=$(get eventsub_port)
[ "$(get eventsub)" = "wss://127.0.0.1:$es_port/ws" ] || fail "eventsub field: $(get eventsub)"
curl -fsS "$control/eventsub/sessions" | grep -q '"sessions":\[\]' || fail "eventsub/sessions"
post /eventsub/trigger '{"type":"channel.follow","room":"chan","event":{"user_login":"ann"}}' |
  grep -q '"sent":0' || fail "eventsub/trigger"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"type":"nope","room":"chan"}' \
  "$control/eventsub/trigger")
[ "$code" = 400 ] || fail "bad trigger gave $code"
# EventSub webhooks: a plain local receiver (http on loopback is the
# simulator's extension) answers the challenge, checks each signature and
# exits after the verification and one notification.
python3 - "$work/rport" >"$work/recv.out" 2>&1 <<'EOF' &
import hashlib, hmac, http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        h = lambda k: self.headers["Twitch-Eventsub-Message-" + k]
        mac = hmac.new(b"clihooksecret", (h("Id") + h("Timestamp")).encode() + body,
                       hashlib.sha256).hexdigest()
        ok = h("Signature") == "sha256=" + mac
        print(h("Type"), h("Retry"), "sig-ok" if ok else "sig-bad", flush=True)
        if h("Type") == "webhook_callback_verification":
            c = json.loads(body)["challenge"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(c)))
            self.end_headers()
            self.wfile.write(c)
        else:
            self.send_response(204)
            self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.handle_request()
s.handle_request()
EOF
rpid=$!
for _ in $(seq 1 200); do [ -s "$work/rport" ] && break; sleep 0.05; done
rport=$(cat "$work/rport")
chan_id=$(hx "/users?login=chan" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
apptok=$(echo "$tok" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
hook=$(curl -fsS --cacert "$ca" --resolve "localhost:$api_port:127.0.0.1" \
  -H "Authorization: Bearer $apptok" -H "Client-Id: cliapp" \
  -H 'Content-Type: application/json' \
  -d '{"type":"stream.offline","version":"1","condition":{"broadcaster_user_id":"'"$chan_id"'"},"transport":{"method":"webhook","callback":"http://127.0.0.1:'"$rport"'/cb","secret":"clihooksecret"}}' \
  "https://localhost:$api_port/helix/eventsub/subscriptions")
echo "$hook" | grep -q '"status":"webhook_callback_verification_pending"' || fail "webhook create: $hook"
if echo "$hook" | grep -q clihooksecret; then fail "the secret is listed"; fi
# The verification is recorded once answered; then a notification.
for _ in $(seq 1 200); do
  curl -fsS "$control/eventsub/webhook/attempts" | grep -q webhook_callback_verification && break
  sleep 0.05
done
post /eventsub/trigger '{"type":"stream.offline","room":"chan"}' |
  grep -q '"sent":1' || fail "webhook trigger: $(curl -fsS "$control/eventsub/webhook/attempts")"
wait "$rpid" || fail "receiver: $(cat "$work/recv.out")"
[ "$(cat "$work/recv.out")" = "webhook_callback_verification 0 sig-ok
notification 0 sig-ok" ] || fail "receiver saw: $(cat "$work/recv.out")"
for _ in $(seq 1 200); do
  curl -fsS "$control/eventsub/webhook/attempts?since=1" | grep -q '"status":204' && break
  sleep 0.05
done
curl -fsS "$control/eventsub/webhook/attempts" | python3 -c '
import json, sys
a = json.load(sys.stdin)["attempts"]
assert [(x["message_type"], x["status"]) for x in a] == [
    ("webhook_callback_verification", 200), ("notification", 204)], a
' || fail "webhook attempts"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"fault":"x"}' \
  "$control/eventsub/webhook/fault")
[ "$code" = 400 ] || fail "bad webhook fault gave $code"
reqs=$(curl -fsS "$control/api/requests?path=/oauth2/token")
echo "$reqs" | python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
assert [q["status"] for q in r] == [200, 403], r
assert "client_secret=clisecret99" in r[0]["body"], r
' || fail "API read-back: $reqs"

# A TLS client, verifying the simulator as "localhost" with ca.pem. It logs
# in, joins, waits for a message said through the control interface, then
# sends one and waits to be dropped.
python3 - "$ircs_port" "$ca" "$control" >"$work/client.out" 2>&1 <<'EOF' &
import socket, ssl, sys, urllib.request, json
port, ca, control = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                    server_hostname="localhost")
s.settimeout(20)
f = s.makefile("rb")
def send(line):
    s.sendall(line.encode() + b"\r\n")
def wait(needle):
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("closed while waiting for " + needle)
        line = line.decode().rstrip("\r\n")
        if needle in line:
            return line
send("CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership")
send("PASS oauth:simtoken123")
send("NICK bot")
wait(" 376 bot ")
send("JOIN #chan")
print(wait("USERSTATE #chan"), flush=True)
print(wait("PRIVMSG #chan :!hello"), flush=True)
print(wait("USERNOTICE #chan"), flush=True)
send("PRIVMSG #chan :hi from python")
print(wait("USERSTATE #chan"), flush=True)
# The control interface drops us: EOF.
while f.readline():
    pass
print("EOF", flush=True)
EOF
client=$!

post() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$control$1"; }

# Wait (long poll) until the client has joined, then talk to it.
out=$(curl -fsS "$control/chat/sent?login=bot&contains=JOIN&wait_ms=15000")
echo "$out" | grep -q '"line":"JOIN #chan"' || fail "JOIN not read back: $out"
since=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])')
post /chat/say '{"room":"chan","login":"viewer","text":"!hello"}' | grep -q '"delivered":1' ||
  fail "say not delivered"
post /chat/inject '{"room":"chan","line":"@msg-id=raid;login=x;msg-param-viewerCount=5 :tmi.twitch.tv USERNOTICE #chan"}' |
  grep -q '"delivered":1' || fail "inject not delivered"
out=$(curl -fsS "$control/chat/sent?login=bot&since=$since&contains=PRIVMSG&wait_ms=15000")
echo "$out" | grep -q 'PRIVMSG #chan :hi from python' || fail "PRIVMSG not read back: $out"
conn=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["lines"][0]["conn"])')

counters=$(curl -fsS "$control/chat/counters")
echo "$counters" | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["logins"] == 1, c
assert c["privmsgs"] == 1, c
assert c["users"]["bot"]["sent"] == 1, c
assert c["users"]["bot"]["over_limit"] == 0, c
' || fail "counters: $counters"

post /chat/drop "{\"conn\":$conn}" | grep -q '"conns":1' || fail "drop"
wait "$client" || fail "client: $(cat "$work/client.out")"
grep -q 'badges=moderator/1' "$work/client.out" || fail "not a moderator: $(cat "$work/client.out")"
grep -q 'id=' "$work/client.out" || fail "no message id"
grep -q '^EOF$' "$work/client.out" || fail "the drop was not seen"

# Unknown endpoint: a JSON 404.
code=$(curl -s -o /dev/null -w '%{http_code}' "$control/nope")
[ "$code" = 404 ] || fail "unknown endpoint gave $code"

kill -TERM "$pid"
exec 3<&-
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM"
[ ! -e "$certdir" ] || fail "temporary certificate directory left behind"
[ ! -e "$work/ports.json" ] || fail "ports file left behind"
grep -q 'simtoken123' "$work/err" && fail "a token reached the log"
grep -q 'clisecret99' "$work/err" && fail "a client secret reached the log"

# --no-eventsub: no such listener in the JSON line.
mkfifo "$work/fifo2"
"$TW_BIN" sim --no-eventsub --no-irc --no-tls --no-wss --no-ws --no-api \
  >"$work/fifo2" 2>"$work/err2" &
pid=$!
exec 4<"$work/fifo2"
read -r -t 30 line2 <&4 || fail "no JSON line with --no-eventsub"
case "$line2" in *eventsub*) fail "--no-eventsub still lists eventsub: $line2" ;; esac
case "$line2" in *control*) ;; *) fail "no control field: $line2" ;; esac
kill -TERM "$pid"
exec 4<&-
st2=0; wait "$pid" || st2=$?; [ "$st2" -eq 0 ] || fail "exit status $st2 after SIGTERM (--no-eventsub): $(cat "$work/err2")"
pid=
echo "ok"
