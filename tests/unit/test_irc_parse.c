/* IRC line parser: table-driven from tests/fixtures/irc/parse.json (lines
 * and expected splits from ircdocs/parser-tests, twitch-irc-rs,
 * dank-twitch-irc, go-twitch-irc and our own spoofing and malformed-input
 * cases), plus the caps, the tag helpers and robustness sweeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "twitchd/error.h"
#include "twitchd/irc.h"

static int failures;

/* Records a failed expectation and keeps going, so that one run reports
 * every failing fixture case rather than the first. */
static void fail_case(size_t idx, const char *src, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_case(size_t idx, const char *src, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "parse.json case %zu (%s): ", idx, src);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  failures++;
}

static json_t *load_fixture(const char *name) {
  const char *dir = getenv("TW_FIXTURES");
  char path[1024];
  snprintf(path, sizeof(path), "%s/irc/%s", dir ? dir : "tests/fixtures", name);
  json_error_t e;
  json_t *j = json_load_file(path, JSON_ALLOW_NUL, &e);
  if (!j)
    fail_msg("cannot load %s: line %d: %s", path, e.line, e.text);
  return j;
}

/* Copies the line into a heap block of exactly its length (no NUL after
 * it), so that AddressSanitizer catches any read past the end. */
static char *exact_copy(const char *s, size_t n) {
  char *p = malloc(n ? n : 1);
  assert_non_null(p);
  memcpy(p, s, n);
  return p;
}

static int view_eq_json(tw_irc_str_t v, const json_t *j) {
  if (json_is_null(j))
    return v.ptr == NULL;
  if (!json_is_string(j) || !v.ptr)
    return 0;
  size_t n = json_string_length(j);
  return v.len == n && memcmp(v.ptr, json_string_value(j), n) == 0;
}

static const char *cmd_name(tw_irc_cmd_t c) {
  static const char *const names[] = {
      "OTHER",    "NUMERIC", "PRIVMSG",   "USERNOTICE", "CLEARCHAT",
      "CLEARMSG", "NOTICE",  "ROOMSTATE", "USERSTATE",  "GLOBALUSERSTATE",
      "JOIN",     "PART",    "PING",      "PONG",       "RECONNECT",
      "CAP",      "WHISPER", "HOSTTARGET"};
  return (size_t)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

static void check_tags(size_t idx, const char *src, const tw_irc_msg_t *m,
                       const json_t *want) {
  /* Distinct keys in order of first appearance, each with its last value,
   * unescaped: what IRCv3 says a client sees. */
  size_t k = 0;
  const char *wkey;
  json_t *wval;
  void *it = json_object_iter((json_t *)want);
  for (size_t i = 0; i < m->ntags; i++) {
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = m->tags[j].key.len == m->tags[i].key.len &&
             memcmp(m->tags[j].key.ptr, m->tags[i].key.ptr,
                    m->tags[i].key.len) == 0;
    if (seen)
      continue;
    if (!it) {
      fail_case(idx, src, "extra tag '%.*s'", (int)m->tags[i].key.len,
                m->tags[i].key.ptr);
      return;
    }
    wkey = json_object_iter_key(it);
    wval = json_object_iter_value(it);
    tw_irc_str_t key = m->tags[i].key;
    if (key.len != strlen(wkey) || memcmp(key.ptr, wkey, key.len) != 0) {
      fail_case(idx, src, "tag %zu is '%.*s', want '%s'", k, (int)key.len,
                key.ptr, wkey);
      return;
    }
    tw_irc_str_t raw = tw_irc_tag_getn(m, key.ptr, key.len);
    char buf[TW_MAX_IRC_LINE];
    size_t n = 0;
    assert_int_equal(tw_irc_unescape(raw.ptr, raw.len, buf, sizeof(buf), &n),
                     0);
    tw_irc_str_t got = {buf, n};
    if (!view_eq_json(got, wval))
      fail_case(idx, src, "tag '%s' is '%.*s', want '%s'", wkey, (int)n, buf,
                json_string_value(wval));
    it = json_object_iter_next((json_t *)want, it);
    k++;
  }
  if (it)
    fail_case(idx, src, "missing tag '%s'", json_object_iter_key(it));
}

static void check_prefix(size_t idx, const char *src, const tw_irc_msg_t *m,
                         const json_t *want) {
  if (json_is_null(want)) {
    if (m->prefix.ptr)
      fail_case(idx, src, "unexpected prefix '%.*s'", (int)m->prefix.len,
                m->prefix.ptr);
    return;
  }
  if (!m->prefix.ptr) {
    fail_case(idx, src, "prefix missing");
    return;
  }
  const char *parts[] = {"nick", "user", "host"};
  const tw_irc_str_t got[] = {m->nick, m->user, m->host};
  for (int i = 0; i < 3; i++) {
    const json_t *w = json_object_get(want, parts[i]);
    if (!view_eq_json(got[i], w))
      fail_case(idx, src, "prefix %s is '%.*s'%s", parts[i], (int)got[i].len,
                got[i].ptr ? got[i].ptr : "", got[i].ptr ? "" : " (absent)");
  }
}

static void test_fixture_cases(void **state) {
  (void)state;
  json_t *root = load_fixture("parse.json");
  json_t *cases = json_object_get(root, "cases");
  assert_true(json_array_size(cases) >= 100);
  failures = 0;
  size_t idx;
  json_t *c;
  json_array_foreach(cases, idx, c) {
    const char *src = json_string_value(json_object_get(c, "src"));
    json_t *jl = json_object_get(c, "line");
    size_t len = json_string_length(jl);
    char *line = exact_copy(json_string_value(jl), len);
    tw_irc_msg_t m;
    int rc = tw_irc_parse(&m, line, len);
    json_t *werr = json_object_get(c, "error");
    if (werr) {
      if (rc != TW_EPARSE)
        fail_case(idx, src, "parsed, want error '%s'", json_string_value(werr));
      else if (strcmp(tw_irc_err_str(m.err), json_string_value(werr)) != 0)
        fail_case(idx, src, "error '%s', want '%s'", tw_irc_err_str(m.err),
                  json_string_value(werr));
      free(line);
      continue;
    }
    if (rc != 0) {
      fail_case(idx, src, "rejected: %s", tw_irc_err_str(m.err));
      free(line);
      continue;
    }
    if (!view_eq_json(m.command, json_object_get(c, "command")))
      fail_case(idx, src, "command '%.*s'", (int)m.command.len, m.command.ptr);
    json_t *wcmd = json_object_get(c, "cmd");
    if (wcmd && strcmp(cmd_name(m.cmd), json_string_value(wcmd)) != 0)
      fail_case(idx, src, "cmd %s, want %s", cmd_name(m.cmd),
                json_string_value(wcmd));
    json_t *wparams = json_object_get(c, "params");
    if (m.nparams != json_array_size(wparams)) {
      fail_case(idx, src, "%zu params, want %zu", m.nparams,
                json_array_size(wparams));
    } else {
      for (size_t i = 0; i < m.nparams; i++)
        if (!view_eq_json(m.params[i], json_array_get(wparams, i)))
          fail_case(idx, src, "param %zu is '%.*s'", i, (int)m.params[i].len,
                    m.params[i].ptr);
    }
    check_prefix(idx, src, &m, json_object_get(c, "prefix"));
    check_tags(idx, src, &m, json_object_get(c, "tags"));
    free(line);
  }
  json_decref(root);
  assert_int_equal(failures, 0);
}

static tw_irc_str_t sv(const char *s) {
  tw_irc_str_t v = {s, strlen(s)};
  return v;
}

static void test_line_length_cap(void **state) {
  (void)state;
  size_t cap = TW_MAX_IRC_LINE;
  char *buf = malloc(cap + 3);
  assert_non_null(buf);
  memset(buf, 'a', cap + 3);
  memcpy(buf, "PRIVMSG #c :", 12);
  tw_irc_msg_t m;
  /* Exactly the cap: accepted, with or without a CRLF after it. */
  assert_int_equal(tw_irc_parse(&m, buf, cap), 0);
  assert_int_equal(m.params[1].len, cap - 12);
  buf[cap] = '\r';
  buf[cap + 1] = '\n';
  assert_int_equal(tw_irc_parse(&m, buf, cap + 2), 0);
  assert_int_equal(m.line.len, cap);
  /* One byte more: rejected. */
  buf[cap] = 'a';
  assert_int_equal(tw_irc_parse(&m, buf, cap + 1), TW_EPARSE);
  assert_int_equal(m.err, TW_IRC_E_TOO_LONG);
  assert_string_equal(tw_irc_err_str(m.err), "line too long");
  free(buf);
}

static void test_tag_cap(void **state) {
  (void)state;
  char line[1024];
  size_t n = 0;
  line[n++] = '@';
  for (int i = 0; i < TW_MAX_IRC_TAGS; i++)
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%sk%d=%d", i ? ";" : "",
                          i, i);
  size_t tags_end = n;
  n += (size_t)snprintf(line + n, sizeof(line) - n, " PING");
  tw_irc_msg_t m;
  assert_int_equal(tw_irc_parse(&m, line, n), 0);
  assert_int_equal(m.ntags, TW_MAX_IRC_TAGS);
  assert_true(tw_irc_str_eq(tw_irc_tag_get(&m, "k63"), "63"));
  /* One more tag: rejected, not truncated. */
  n = tags_end + (size_t)snprintf(line + tags_end, sizeof(line) - tags_end,
                                  ";k64=64 PING");
  assert_int_equal(tw_irc_parse(&m, line, n), TW_EPARSE);
  assert_int_equal(m.err, TW_IRC_E_TOO_MANY_TAGS);
}

static void test_tag_lookup(void **state) {
  (void)state;
  const char *l = "@a=1;b;c=;a=2;d=x\\sy :n!u@h CMD";
  tw_irc_msg_t m;
  assert_int_equal(tw_irc_parse(&m, l, strlen(l)), 0);
  assert_int_equal(m.ntags, 5);
  assert_true(tw_irc_str_eq(tw_irc_tag_get(&m, "a"), "2")); /* last wins */
  tw_irc_str_t b = tw_irc_tag_get(&m, "b");
  assert_non_null(b.ptr); /* present, empty */
  assert_int_equal(b.len, 0);
  tw_irc_str_t c = tw_irc_tag_get(&m, "c");
  assert_non_null(c.ptr);
  assert_int_equal(c.len, 0);
  assert_null(tw_irc_tag_get(&m, "zz").ptr); /* absent */
  assert_null(tw_irc_tag_get(&m, "").ptr);
  assert_true(tw_irc_tag_is_shadowed(&m, 0));
  assert_false(tw_irc_tag_is_shadowed(&m, 3));
  assert_false(tw_irc_tag_is_shadowed(&m, 99));
  /* Views point into the line: no copy was made. */
  assert_true(tw_irc_tag_get(&m, "d").ptr > l &&
              tw_irc_tag_get(&m, "d").ptr < l + strlen(l));
  assert_true(tw_irc_str_eq(tw_irc_tag_get(&m, "d"), "x\\sy"));
  assert_true(tw_irc_str_eq(tw_irc_last_param(&m), "CMD") == 0);
  assert_null(tw_irc_last_param(&m).ptr);
  assert_false(tw_irc_str_eq(b, NULL));
  tw_irc_str_t none = {NULL, 0};
  assert_false(tw_irc_str_eq(none, ""));
}

static void test_unescape_bounds(void **state) {
  (void)state;
  char out[8];
  size_t n = 99;
  /* Fits exactly: no room for a NUL, none written past cap. */
  memset(out, 'Z', sizeof(out));
  assert_int_equal(tw_irc_unescape("a\\sb", 4, out, 3, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(out, "a b", 3);
  assert_int_equal(out[3], 'Z');
  /* Room for the NUL: written. */
  assert_int_equal(tw_irc_unescape("a\\sb", 4, out, 4, &n), 0);
  assert_string_equal(out, "a b");
  /* Too small, in the plain run and at an escape. */
  assert_int_equal(tw_irc_unescape("abcd", 4, out, 3, &n), TW_ETOOBIG);
  assert_int_equal(tw_irc_unescape("ab\\s", 4, out, 2, &n), TW_ETOOBIG);
  assert_int_equal(tw_irc_unescape("", 0, out, 0, &n), 0);
  assert_int_equal(n, 0);

  /* The scratch: no copy without a backslash, a copy with one, and a
   * clean refusal when full. */
  tw_irc_scratch_t *s = malloc(sizeof(*s));
  assert_non_null(s);
  tw_irc_scratch_reset(s);
  tw_irc_str_t v;
  tw_irc_str_t plain = sv("plain");
  assert_int_equal(tw_irc_scratch_unescape(s, plain, &v), 0);
  assert_ptr_equal(v.ptr, plain.ptr);
  assert_int_equal(s->used, 0);
  assert_int_equal(tw_irc_scratch_unescape(s, sv("Riot\\sGames"), &v), 0);
  assert_true(tw_irc_str_eq(v, "Riot Games"));
  assert_int_equal(s->used, 10);
  tw_irc_str_t absent = {NULL, 0};
  assert_int_equal(tw_irc_scratch_unescape(s, absent, &v), 0);
  assert_null(v.ptr);
  s->used = sizeof(s->buf) - 2;
  assert_int_equal(tw_irc_scratch_unescape(s, sv("abc\\s"), &v), TW_ETOOBIG);
  assert_null(v.ptr);
  free(s);
}

static void test_null_and_terminators(void **state) {
  (void)state;
  tw_irc_msg_t m;
  assert_int_equal(tw_irc_parse(&m, NULL, 0), TW_EPARSE);
  assert_int_equal(m.err, TW_IRC_E_EMPTY);
  assert_int_equal(tw_irc_parse(&m, "\n", 1), TW_EPARSE);
  assert_int_equal(m.err, TW_IRC_E_EMPTY);
  assert_int_equal(tw_irc_parse(&m, "PING\r", 5), 0);
  assert_int_equal(m.line.len, 4);
  /* Only one terminator is ignored. */
  assert_int_equal(tw_irc_parse(&m, "PING\r\n\r\n", 8), TW_EPARSE);
  assert_int_equal(m.err, TW_IRC_E_LINEBREAK);
  assert_string_equal(tw_irc_err_str((tw_irc_err_t)999), "unknown parse error");
}

/* Every prefix of real lines, and every line with one byte flipped to each
 * structural character, parses or fails cleanly (ASan checks the reads). */
static void test_truncation_and_mutation_sweep(void **state) {
  (void)state;
  const char *lines[] = {
      "@badge-info=subscriber/5;badges=broadcaster/1,subscriber/0;"
      "color=#19E6E6;display-name=randers;emotes=25:0-4;flags=;id=7eb848c9;"
      "mod=0;room-id=40286300;subscriber=1;tmi-sent-ts=1563096499780;"
      "turbo=0;user-id=40286300;user-type= :randers!randers@randers.tmi."
      "twitch.tv PRIVMSG #randers :Kappa test",
      ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands",
      "@a=b\\\\c\\:d;e :x!y@z 353 me = #c :a b c"};
  const char specials[] = {' ', ':', '@', '!', ';', '=', '\\', '\r', '\0'};
  for (size_t l = 0; l < sizeof(lines) / sizeof(lines[0]); l++) {
    size_t len = strlen(lines[l]);
    for (size_t i = 0; i <= len; i++) {
      char *p = exact_copy(lines[l], i);
      tw_irc_msg_t m;
      int rc = tw_irc_parse(&m, p, i);
      assert_true(rc == 0 || (rc == TW_EPARSE && m.err != TW_IRC_OK));
      free(p);
    }
    for (size_t i = 0; i < len; i++) {
      for (size_t s = 0; s < sizeof(specials); s++) {
        char *p = exact_copy(lines[l], len);
        p[i] = specials[s];
        tw_irc_msg_t m;
        int rc = tw_irc_parse(&m, p, len);
        assert_true(rc == 0 || (rc == TW_EPARSE && m.err != TW_IRC_OK));
        if (rc == 0) {
          /* Whatever was parsed lies inside the line. */
          for (size_t t = 0; t < m.ntags; t++)
            assert_true(m.tags[t].value.ptr + m.tags[t].value.len <= p + len);
          for (size_t k = 0; k < m.nparams; k++)
            assert_true(m.params[k].ptr + m.params[k].len <= p + len);
        }
        free(p);
      }
    }
  }
}

/* Message text glued to a genuine PRIVMSG never changes its sender, tags,
 * channel or number of params, whatever it contains. */
static void test_text_cannot_spoof(void **state) {
  (void)state;
  const char *head = "@badges=;display-name=u;mod=0;user-id=42 "
                     ":u!u@u.tmi.twitch.tv PRIVMSG #chan :";
  const char *frags[] = {" :evil!evil@evil PRIVMSG #x :",
                         "@badges=broadcaster/1;mod=1 ",
                         ";mod=1;user-id=999",
                         "display-name=boss",
                         ":boss!boss@boss.tmi.twitch.tv",
                         " PRIVMSG #other :",
                         "\\s\\:",
                         " @a=b :c!d@e USERNOTICE #chan :",
                         "\001ACTION ",
                         "  "};
  size_t nf = sizeof(frags) / sizeof(frags[0]);
  char line[512];
  for (size_t a = 0; a < nf; a++) {
    for (size_t b = 0; b < nf; b++) {
      int n = snprintf(line, sizeof(line), "%s%s%s", head, frags[a], frags[b]);
      tw_irc_msg_t m;
      assert_int_equal(tw_irc_parse(&m, line, (size_t)n), 0);
      assert_true(tw_irc_str_eq(m.nick, "u"));
      assert_true(tw_irc_str_eq(m.host, "u.tmi.twitch.tv"));
      assert_int_equal(m.ntags, 4);
      assert_true(tw_irc_str_eq(tw_irc_tag_get(&m, "mod"), "0"));
      assert_true(tw_irc_str_eq(tw_irc_tag_get(&m, "user-id"), "42"));
      assert_int_equal(tw_irc_tag_get(&m, "badges").len, 0);
      assert_int_equal(m.cmd, TW_IRC_CMD_PRIVMSG);
      assert_int_equal(m.nparams, 2);
      assert_true(tw_irc_str_eq(m.params[0], "#chan"));
      assert_int_equal(m.params[1].len, strlen(frags[a]) + strlen(frags[b]));
    }
  }
}

/* The tag scanner classifies 16 bytes at a time and finishes byte by byte;
 * random tag sections of every length, with delimiters at every offset,
 * must split exactly as a naive reference splitter says. */
static uint32_t rng = 2463534242u;
static uint32_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static void test_tag_scanner_differential(void **state) {
  (void)state;
  const char alphabet[] = "ab=;\\x=;;s";
  char line[160];
  for (int iter = 0; iter < 20000; iter++) {
    size_t tl = 1 + next_rand() % 90; /* tag section length */
    size_t n = 0;
    line[n++] = '@';
    for (size_t i = 0; i < tl; i++)
      line[n++] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
    size_t tail = next_rand() % 24; /* bytes after the section */
    line[n++] = ' ';
    memcpy(line + n, "PING :abcdefghijklmnopqrstuvw", tail + 4);
    n += tail + 4;
    char *p = exact_copy(line, n);
    tw_irc_msg_t m;
    int rc = tw_irc_parse(&m, p, n);

    /* Reference: split [1, 1+tl) on ';', then each item on its first '='. */
    size_t want = 0, ref_k[64], ref_klen[64], ref_v[64], ref_vlen[64];
    int ref_err = 0;
    size_t s = 1;
    for (size_t i = 1; i <= tl + 1 && !ref_err; i++) {
      if (i <= tl && line[i] != ';')
        continue;
      if (i > s) {
        const char *eq = memchr(line + s, '=', i - s);
        if (eq == line + s) {
          ref_err = TW_IRC_E_BAD_TAGS;
        } else if (want == TW_MAX_IRC_TAGS) {
          ref_err = TW_IRC_E_TOO_MANY_TAGS;
        } else {
          ref_k[want] = s;
          ref_klen[want] = (eq ? (size_t)(eq - line) : i) - s;
          ref_v[want] = eq ? (size_t)(eq - line) + 1 : i;
          ref_vlen[want] = i - ref_v[want];
          want++;
        }
      }
      s = i + 1;
    }
    if (ref_err) {
      assert_int_equal(rc, TW_EPARSE);
      assert_int_equal(m.err, ref_err);
    } else {
      assert_int_equal(rc, 0);
      assert_int_equal(m.ntags, want);
      for (size_t k = 0; k < want; k++) {
        assert_ptr_equal(m.tags[k].key.ptr, p + ref_k[k]);
        assert_int_equal(m.tags[k].key.len, ref_klen[k]);
        assert_ptr_equal(m.tags[k].value.ptr, p + ref_v[k]);
        assert_int_equal(m.tags[k].value.len, ref_vlen[k]);
      }
      assert_int_equal(m.cmd, TW_IRC_CMD_PING);
    }
    free(p);
  }
}

/* NUL, CR and LF are found wherever they are, and win over any structural
 * error, whether they sit in the tag section or after it. */
static void test_bad_bytes_anywhere(void **state) {
  (void)state;
  const char *base =
      "@a=1;b=2;ccccccccccccccccccc=3;d :n!u@h PRIVMSG #c :hello";
  size_t len = strlen(base);
  const char bad[] = {'\0', '\r', '\n'};
  for (size_t i = 1; i + 1 < len; i++) {
    for (size_t b = 0; b < 3; b++) {
      char *p = exact_copy(base, len);
      p[i] = bad[b];
      tw_irc_msg_t m;
      assert_int_equal(tw_irc_parse(&m, p, len), TW_EPARSE);
      assert_int_equal(m.err, b == 0 ? TW_IRC_E_NUL : TW_IRC_E_LINEBREAK);
      free(p);
    }
  }
  /* NUL wins over CR wherever each is. */
  char twobad[] = "@a=\r;b=\0 X";
  tw_irc_msg_t m;
  assert_int_equal(tw_irc_parse(&m, twobad, sizeof(twobad) - 1), TW_EPARSE);
  assert_int_equal(m.err, TW_IRC_E_NUL);
  /* And over a structural error found earlier in the scan. */
  char structural[] = "@=a;b\0 X";
  assert_int_equal(tw_irc_parse(&m, structural, sizeof(structural) - 1),
                   TW_EPARSE);
  assert_int_equal(m.err, TW_IRC_E_NUL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tag_scanner_differential),
      cmocka_unit_test(test_bad_bytes_anywhere),
      cmocka_unit_test(test_fixture_cases),
      cmocka_unit_test(test_line_length_cap),
      cmocka_unit_test(test_tag_cap),
      cmocka_unit_test(test_tag_lookup),
      cmocka_unit_test(test_unescape_bounds),
      cmocka_unit_test(test_null_and_terminators),
      cmocka_unit_test(test_truncation_and_mutation_sweep),
      cmocka_unit_test(test_text_cannot_spoof),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
