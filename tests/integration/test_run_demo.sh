#!/usr/bin/env bash
# `make run` without credentials: twitchd run --sim with examples/demo.yaml.
# The in-process simulator comes up, the bot (the channel's own account)
# logs in and joins, the demo chat plays, and the seed's four example skills
# act: answers in the simulator's chat (its log lines "#room <login> ..."),
# a title changed, a spammer banned and its message deleted through the
# simulator's Helix. SIGINT stops it with status 0.
set -euo pipefail

: "${TW_BIN:?TW_BIN must point to the twitchd binary}"
: "${TW_SRC:?TW_SRC must point to the repository}"
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -40 "$work/log" >&2
  exit 1
}
wait_log() {
  for _ in $(seq 1 300); do
    grep -qF -- "$1" "$work/log" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "no '$1' in the log"
}

"$TW_BIN" run --sim -c "$TW_SRC/examples/demo.yaml" --demo-interval-ms 100 >"$work/log" 2>&1 &
pid=$!
wait_log "sim: twitchd_demo joined #twitchd_demo"
# StreamStarted (injected) -> the stream_started skill announces in chat.
wait_log "<twitchd_demo> I'm live on twitch, come see me work on Writing a Twitch bot in C"
# UserFollowed (injected) -> the follow skill thanks the follower.
wait_log "<twitchd_demo> Thank you so much for the follow viewer_bob, you are awesome!"
# The title skill's whitelist: the streamer may, a viewer may not.
wait_log "skill: title: Attempt to change title"
wait_log "twitch: UpdateTitle in #twitchd_demo: done"
# The spam skill: Helix Ban User and Delete Chat Messages, and the
# simulator's chat reports both (UserBanned, MessageDeleted events).
wait_log "twitch: BanUser in #twitchd_demo: done: banned spam_bot_42"
wait_log "twitch: DeleteMessage in #twitchd_demo: done"
wait_log '"event":"UserBanned","user":"spam_bot_42"'
wait_log "the users constraint refused user 'viewer_ann'"
kill -INT "$pid"
set +e
wait "$pid"
status=$?
set -e
pid=
[ "$status" -eq 0 ] || fail "exit status $status after SIGINT"
echo ok
