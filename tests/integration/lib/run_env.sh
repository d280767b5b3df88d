# Shared set-up of the integration tests that run `twitchd run` against
# `twitchd sim` (sourced, not run; the test_*.sh glob does not see it).
#
# After `run_env_init`: $work (a scratch directory removed at exit), fail,
# wait_log (for $work/bot.log), sim_start ARGS... (sets control, ircs,
# oauth, helix, eventsub, ca, client_id, client_secret and simpid), ctl METHOD PATH
# [JSON] (the simulator's control interface), sim_code SCOPES (consents as
# the simulator's consent login and prints the authorization code, the
# seed's way of logging in) and helix_get PATH (with $token).
# Processes whose pids are in $simpid, $botpid and $extrapids are killed at
# exit.

run_env_init() {
  : "${TW_BIN:?TW_BIN must point to the twitchd binary}"
  : "${TW_SRC:?TW_SRC must point to the repository}"
  work=$(mktemp -d)
  simpid=
  botpid=
  extrapids=
  trap run_env_cleanup EXIT
}

run_env_cleanup() {
  for p in $botpid $simpid $extrapids; do
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}

fail() {
  echo "FAIL: $*" >&2
  [ -f "$work/bot.log" ] && sed "s/^/bot: /" "$work/bot.log" | grep -v "\"event\":\"Message\"" | tail -60 >&2
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

sim_start() {
  mkfifo "$work/simout"
  "$TW_BIN" sim "$@" >"$work/simout" 2>"$work/sim.err" &
  simpid=$!
  disown "$simpid"
  exec 3<"$work/simout"
  local line
  read -r -t 30 line <&3 || fail "simulator printed no JSON line"
  echo "$line" >"$work/ports.json"
  control=$(sim_get control)
  ircs=$(sim_get ircs)
  oauth=$(sim_get oauth)
  helix=$(sim_get helix)
  eventsub=$(sim_get eventsub)
  ca=$(sim_get ca_file)
  client_id=$(sim_get client_id)
  client_secret=$(sim_get client_secret)
}

sim_get() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/ports.json" "$1"
}

ctl() { # METHOD PATH [JSON]
  if [ $# -ge 3 ]; then
    curl -sf -X "$1" -H 'Content-Type: application/json' -d "$3" "$control$2"
  else
    curl -sf -X "$1" "$control$2"
  fi
}

# The seed's first step, played by curl as the browser: consent at the
# authorize URL, and the code from the redirect's address.
sim_code() {
  local location code
  location=$(curl -s --cacert "$ca" -o /dev/null -w '%{redirect_url}' \
    "$oauth/authorize?client_id=$client_id&redirect_uri=http://localhost&response_type=code&scope=$1&state=s1")
  code=$(python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["code"][0])' "$location")
  [ -n "$code" ] || fail "no code from the simulator's authorize: $location"
  echo "$code"
}

helix_get() {
  curl -sf --cacert "$ca" -H "Authorization: Bearer $token" -H "Client-Id: $client_id" "$helix$1"
}

# The port of the bot's web server, from its log line.
web_port() {
  wait_log "web server on http://"
  sed -n 's|.*web server on http://[0-9.]*:\([0-9]*\).*|\1|p' "$work/bot.log" | head -1
}

# GET /health on the bot's web server: prints "STATUS BODY".
health() {
  curl -s -w ' %{http_code}' "http://127.0.0.1:$(web_port)/health" |
    sed 's/^\(.*\) \([0-9]*\)$/\2 \1/'
}
