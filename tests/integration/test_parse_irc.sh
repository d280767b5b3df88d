#!/usr/bin/env bash
# twitchd parse-irc: raw IRC lines in, one JSON object per line out.
# Compares the exact output for tests/fixtures/irc/cli_input.txt, then checks
# CRLF input, a last line without LF, over-long lines, NUL bytes, invalid
# UTF-8, the whole 5,000-line corpus, and the exit codes.
set -euo pipefail

: "${TW_BIN:?TW_BIN must point to the twitchd binary}"
src=${TW_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
fixtures=${TW_FIXTURES:-$src/tests/fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# 1. The fixture, byte for byte.
"$TW_BIN" parse-irc <"$fixtures/irc/cli_input.txt" >"$work/out.jsonl" ||
  fail "parse-irc exited $?"
diff -u "$fixtures/irc/cli_expected.jsonl" "$work/out.jsonl" ||
  fail "output differs from cli_expected.jsonl"

# 2. The same lines with CRLF endings give the same output.
sed 's/$/\r/' "$fixtures/irc/cli_input.txt" >"$work/crlf.txt"
"$TW_BIN" parse-irc <"$work/crlf.txt" >"$work/crlf.jsonl"
diff -u "$fixtures/irc/cli_expected.jsonl" "$work/crlf.jsonl" ||
  fail "CRLF input gives different output"

# 3. A last line without its LF is still parsed.
out=$(printf 'PING :x' | "$TW_BIN" parse-irc)
[ "$out" = '{"tags":{},"prefix":null,"command":"PING","params":["x"]}' ] ||
  fail "unterminated last line: $out"

# 4. Line length: the cap passes, one byte more is rejected, and the next
#    line is parsed normally (resynchronisation).
python3 - "$work/long.txt" <<'EOF'
import sys
cap = 16384
head = "PRIVMSG #c :"
with open(sys.argv[1], "w") as f:
    f.write(head + "a" * (cap - len(head)) + "\r\n")
    f.write(head + "b" * (cap + 1 - len(head)) + "\n")
    f.write("PING :after\n")
    f.write(head + "c" * 100000 + "\n")
    f.write("PING :again\n")
EOF
"$TW_BIN" parse-irc <"$work/long.txt" >"$work/long.jsonl"
python3 - "$work/long.jsonl" <<'EOF' || fail "line length handling"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
assert len(out) == 5, len(out)
assert out[0]["command"] == "PRIVMSG" and len(out[0]["params"][1]) == 16384 - 12
assert out[1] == {"error": "line too long"}, out[1]
assert out[2]["params"] == ["after"], out[2]
assert out[3] == {"error": "line too long"}, out[3]
assert out[4]["params"] == ["again"], out[4]
EOF

# 5. NUL bytes are refused; invalid UTF-8 comes out as U+FFFD; control
#    characters are escaped. Every output line is valid JSON.
printf 'PRIVMSG #c :a\000b\nPRIVMSG #c :\377\376 ok \303\251\n@k=\\x01\\s\001 X\n' |
  "$TW_BIN" parse-irc >"$work/bytes.jsonl"
python3 - "$work/bytes.jsonl" <<'EOF' || fail "byte handling"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert out[0] == {"error": "NUL byte in line"}, out[0]
assert out[1]["params"] == ["#c", "\ufffd\ufffd ok \u00e9"], out[1]
assert out[2]["tags"] == {"k": "x01 \u0001"}, out[2]
EOF

# 6. The real corpus: 5,000 lines, no errors, all valid JSON, and every
#    PRIVMSG has a nick and a channel.
corpus=${TW_CORPUS:-$src/tests/fixtures/corpus/channel.txt.gz}
if [ -f "$corpus" ]; then
  gzip -dc "$corpus" | "$TW_BIN" parse-irc >"$work/corpus.jsonl"
  python3 - "$work/corpus.jsonl" <<'EOF' || fail "corpus"
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert "error" not in o, (n, o)
    if o["command"] == "PRIVMSG":
        assert o["prefix"]["nick"] and o["params"][0].startswith("#"), o
    n += 1
assert n == 5000, n
EOF
else
  echo "corpus $corpus not found: step 6 skipped" >&2
fi

# 7. Help and argument errors.
"$TW_BIN" parse-irc --help | grep -q 'usage: twitchd parse-irc' ||
  fail "--help"
set +e
"$TW_BIN" parse-irc --bogus </dev/null >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "unknown argument exits $rc, want 2"

echo "parse-irc: ok"
