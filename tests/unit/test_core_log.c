/* Unit tests for the logger: levels, formats, redaction, truncation. */
#define _GNU_SOURCE
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
#include "twitchd/log.h"

/* ---- capture ------------------------------------------------------------ */

static char *g_cap;
static size_t g_caplen;
static FILE *g_mem;

static void cap_start(void) {
  g_cap = NULL;
  g_caplen = 0;
  g_mem = open_memstream(&g_cap, &g_caplen);
  assert_non_null(g_mem);
  tw_log_set_output(g_mem);
}

/* Returns everything logged since cap_start(); the caller frees it. */
static char *cap_end(void) {
  tw_log_set_output(NULL);
  fclose(g_mem);
  g_mem = NULL;
  return g_cap;
}

static int setup(void **state) {
  (void)state;
  tw_log_set_level(TW_LOG_TRACE);
  tw_log_set_format(TW_LOG_TEXT);
  tw_log_clear_secrets();
  return 0;
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (*s == '\n')
      n++;
  return n;
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ" at s. */
static void assert_iso_ts(const char *s) {
  static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (size_t i = 0; i < sizeof(pat) - 1; i++) {
    if (pat[i] == 'd')
      assert_true(s[i] >= '0' && s[i] <= '9');
    else
      assert_int_equal(s[i], pat[i]);
  }
}

/* Parses one JSON line, checks its shape, returns the "msg" (caller frees). */
static char *json_msg(const char *line) {
  json_error_t err;
  json_t *j = json_loads(line, 0, &err);
  if (!j)
    fail_msg("not JSON (%s): %s", err.text, line);
  assert_true(json_is_object(j));
  assert_int_equal(json_object_size(j), 4);
  const char *ts = json_string_value(json_object_get(j, "ts"));
  assert_non_null(ts);
  assert_int_equal(strlen(ts), 24);
  assert_iso_ts(ts);
  assert_non_null(json_string_value(json_object_get(j, "level")));
  assert_non_null(json_string_value(json_object_get(j, "module")));
  const char *m = json_string_value(json_object_get(j, "msg"));
  assert_non_null(m);
  char *r = strdup(m);
  json_decref(j);
  return r;
}

/* ---- levels ------------------------------------------------------------- */

static void test_level_filter(void **state) {
  (void)state;
  tw_log_set_level(TW_LOG_WARN);
  assert_int_equal(tw_log_get_level(), TW_LOG_WARN);
  cap_start();
  tw_trace("t", "trace %d", 1);
  tw_debug("t", "debug %d", 1);
  tw_info("t", "info %d", 1);
  tw_warn("t", "warn %d", 1);
  tw_error("t", "error %d", 1);
  char *out = cap_end();
  assert_int_equal(count_lines(out), 2);
  assert_null(strstr(out, "info 1"));
  assert_non_null(strstr(out, "WARN  t: warn 1\n"));
  assert_non_null(strstr(out, "ERROR t: error 1\n"));
  free(out);

  tw_log_set_level(TW_LOG_OFF);
  cap_start();
  tw_error("t", "nothing");
  tw_log(TW_LOG_OFF, "t", "not a level to write at");
  out = cap_end();
  assert_int_equal(strlen(out), 0);
  free(out);

  tw_log_set_level(TW_LOG_TRACE);
  cap_start();
  tw_trace("t", "now visible");
  tw_log((tw_log_level_t)42, "t", "bogus level dropped");
  out = cap_end();
  assert_int_equal(count_lines(out), 1);
  assert_non_null(strstr(out, "TRACE t: now visible"));
  free(out);
}

static void test_level_parse(void **state) {
  (void)state;
  tw_log_level_t l;
  assert_int_equal(tw_log_level_parse("trace", &l), 0);
  assert_int_equal(l, TW_LOG_TRACE);
  assert_int_equal(tw_log_level_parse("DEBUG", &l), 0);
  assert_int_equal(l, TW_LOG_DEBUG);
  assert_int_equal(tw_log_level_parse("Info", &l), 0);
  assert_int_equal(l, TW_LOG_INFO);
  assert_int_equal(tw_log_level_parse("warning", &l), 0);
  assert_int_equal(l, TW_LOG_WARN);
  assert_int_equal(tw_log_level_parse("warn", &l), 0);
  assert_int_equal(l, TW_LOG_WARN);
  assert_int_equal(tw_log_level_parse("error", &l), 0);
  assert_int_equal(l, TW_LOG_ERROR);
  assert_int_equal(tw_log_level_parse("off", &l), 0);
  assert_int_equal(l, TW_LOG_OFF);
  assert_int_equal(tw_log_level_parse("verbose", &l), TW_EINVAL);
  assert_int_equal(tw_log_level_parse("", &l), TW_EINVAL);
  assert_int_equal(tw_log_level_parse("infos", &l), TW_EINVAL);
  assert_int_equal(tw_log_level_parse(NULL, &l), TW_EINVAL);

  tw_log_format_t f;
  assert_int_equal(tw_log_format_parse("json", &f), 0);
  assert_int_equal(f, TW_LOG_JSON);
  assert_int_equal(tw_log_format_parse("TEXT", &f), 0);
  assert_int_equal(f, TW_LOG_TEXT);
  assert_int_equal(tw_log_format_parse("xml", &f), TW_EINVAL);

  assert_string_equal(tw_log_level_name(TW_LOG_WARN), "warn");
  assert_string_equal(tw_log_level_name(TW_LOG_TRACE), "trace");
  assert_string_equal(tw_log_level_name((tw_log_level_t)99), "unknown");
}

/* ---- formats ------------------------------------------------------------ */

static void test_text_format(void **state) {
  (void)state;
  cap_start();
  tw_info("chat", "joined #%s", "foo");
  char *out = cap_end();
  /* "2026-11-25T21:30:00.123Z INFO  chat: joined #foo\n" */
  assert_int_equal(strlen(out), 24 + strlen(" INFO  chat: joined #foo\n"));
  assert_iso_ts(out);
  assert_string_equal(out + 24, " INFO  chat: joined #foo\n");
  free(out);

  /* A newline in a message cannot forge a second line. */
  cap_start();
  tw_warn("irc", "got: %s", "PRIVMSG x\r\n2026-01-01T00:00:00.000Z ERROR fake");
  out = cap_end();
  assert_int_equal(count_lines(out), 1);
  assert_non_null(strstr(out, "PRIVMSG x\\r\\n2026"));
  free(out);

  /* Other control characters are made visible; tabs and UTF-8 are kept. */
  cap_start();
  tw_info("m", "a\x01"
               "b\tc \xc3\xa9 \xff");
  out = cap_end();
  assert_non_null(strstr(out, "m: a\\x01b\tc \xc3\xa9 \\xff\n"));
  free(out);
}

static void test_json_format(void **state) {
  (void)state;
  tw_log_set_format(TW_LOG_JSON);
  const char *nasty = "quote\" backslash\\ nl\n cr\r tab\t bell\x07 "
                      "esc\x1b del\x7f slash/ utf8 \xc3\xa9\xe2\x82\xac "
                      "emoji \xf0\x9f\x98\x80";
  cap_start();
  tw_error("eventsub", "%s", nasty);
  char *out = cap_end();
  assert_int_equal(count_lines(out), 1);
  assert_int_equal(out[strlen(out) - 1], '\n');
  /* Control characters as \u00XX in the raw line. */
  assert_non_null(strstr(out, "bell\\u0007"));
  assert_non_null(strstr(out, "esc\\u001b"));
  json_t *j = json_loads(out, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
  assert_string_equal(json_string_value(json_object_get(j, "module")),
                      "eventsub");
  json_decref(j);
  char *msg = json_msg(out);
  assert_string_equal(msg, nasty);
  free(msg);
  free(out);

  /* Bytes that are not UTF-8 still give valid JSON. */
  cap_start();
  tw_info("m", "bad \xff\xfe \xc3 \xed\xa0\x80 end");
  out = cap_end();
  msg = json_msg(out);
  assert_non_null(strstr(msg, " end"));
  free(msg);
  free(out);

  /* A module name with a quote is escaped too. */
  cap_start();
  tw_info("we\"ird", "x");
  out = cap_end();
  j = json_loads(out, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "module")),
                      "we\"ird");
  json_decref(j);
  free(out);
}

/* ---- redaction ---------------------------------------------------------- */

#define TOKEN "k7x2mq9vtyu0plr4e5sd8fgh1jz3nc"
#define CSECRET "cS/3cr+t=with&odd chars"
#define WSECRET "wh\"sec\\ret/42"

static void test_secret_limits(void **state) {
  (void)state;
  assert_int_equal(tw_log_add_secret(NULL), TW_EINVAL);
  assert_int_equal(tw_log_add_secret(""), TW_EINVAL);
  assert_int_equal(tw_log_add_secret("abcde"), TW_EINVAL); /* 5 < 6 */
  assert_int_equal(tw_log_add_secret("abcdef"), 0);
  char big[TW_LOG_MAX_SECRET + 2];
  memset(big, 'b', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(tw_log_add_secret(big), TW_EINVAL);
  big[TW_LOG_MAX_SECRET] = '\0';
  assert_int_equal(tw_log_add_secret(big), 0);
  /* A refused short secret really is not redacted. */
  char out[64];
  tw_log_redact("abcde abcdef", out, sizeof(out));
  assert_string_equal(out, "abcde [REDACTED]");
  tw_log_clear_secrets();

  /* The table is bounded. */
  char s[32];
  for (int i = 0; i < TW_LOG_MAX_SECRETS; i++) {
    snprintf(s, sizeof(s), "secret-%04d", i);
    assert_int_equal(tw_log_add_secret(s), 0);
  }
  assert_int_equal(tw_log_add_secret("one-too-many"), TW_EFULL);
  /* Re-adding a known one is not an error. */
  assert_int_equal(tw_log_add_secret("secret-0007"), 0);
  tw_log_redact("secret-0000 secret-0063 one-too-many", out, sizeof(out));
  assert_string_equal(out, "[REDACTED] [REDACTED] one-too-many");
  tw_log_clear_secrets();
}

static void assert_no_secrets(const char *s) {
  assert_null(strstr(s, TOKEN));
  assert_null(strstr(s, CSECRET));
  assert_null(strstr(s, WSECRET));
  assert_null(strstr(s, "cS%2F3cr%2Bt%3Dwith%26odd%20chars"));
  assert_null(strstr(s, "cS%2f3cr%2bt%3dwith%26odd%20chars"));
  assert_null(strstr(s, "cS%2F3cr%2Bt%3Dwith%26odd+chars"));
  assert_null(strstr(s, "wh\\\"sec\\\\ret/42"));
  assert_null(strstr(s, "wh\\\"sec\\\\ret\\/42"));
  /* No fragment long enough to matter either. */
  assert_null(strstr(s, "k7x2mq"));
  assert_null(strstr(s, "cS/3cr"));
}

static void log_leaky_lines(void) {
  tw_info("auth", "token %s refreshed", TOKEN);
  tw_info("helix", "GET https://api.twitch.tv/helix/users?access_token=%s&x=1",
          TOKEN);
  tw_info("oauth",
          "POST https://id.twitch.tv/oauth2/token?client_id=abc"
          "&client_secret=%s&grant_type=client_credentials",
          "cS%2F3cr%2Bt%3Dwith%26odd%20chars");
  tw_info("oauth", "lower-case escapes: %s",
          "cS%2f3cr%2bt%3dwith%26odd%20chars");
  tw_info("oauth", "form body: client_secret=%s",
          "cS%2F3cr%2Bt%3Dwith%26odd+chars");
  tw_debug("http",
           "request:\r\nPOST /oauth2/token HTTP/1.1\r\nHost: id.twitch.tv\r\n"
           "Authorization: Bearer %s\r\nClient-Secret: %s\r\n\r\n"
           "{\"secret\":\"%s\"}",
           TOKEN, CSECRET, WSECRET);
  tw_debug("http", "response: {\"access_token\":\"%s\",\"expires_in\":5000}",
           TOKEN);
  /* The JSON-escaped form, as jansson would dump it, with and without
   * escaped slashes. */
  tw_debug("eventsub", "sub: {\"transport\":{\"secret\":\"%s\"}}",
           "wh\\\"sec\\\\ret/42");
  tw_debug("eventsub", "sub: {\"transport\":{\"secret\":\"%s\"}}",
           "wh\\\"sec\\\\ret\\/42");
  tw_warn("twice", "%s%s %s", TOKEN, TOKEN, CSECRET);
}

static void test_redaction_text(void **state) {
  (void)state;
  assert_int_equal(tw_log_add_secret(TOKEN), 0);
  assert_int_equal(tw_log_add_secret(CSECRET), 0);
  assert_int_equal(tw_log_add_secret(WSECRET), 0);
  cap_start();
  log_leaky_lines();
  char *out = cap_end();
  assert_int_equal(count_lines(out), 10);
  assert_no_secrets(out);
  assert_non_null(strstr(out, "token [REDACTED] refreshed"));
  assert_non_null(strstr(out, "users?access_token=[REDACTED]&x=1"));
  assert_non_null(strstr(out, "&client_secret=[REDACTED]&grant_type"));
  assert_non_null(strstr(out, "lower-case escapes: [REDACTED]\n"));
  assert_non_null(strstr(out, "form body: client_secret=[REDACTED]\n"));
  assert_non_null(strstr(out, "Authorization: Bearer [REDACTED]\\r\\n"));
  assert_non_null(strstr(out, "{\"access_token\":\"[REDACTED]\",\"expires"));
  assert_non_null(strstr(out, "{\"secret\":\"[REDACTED]\"}}\n"));
  /* Adjacent repeats merge into one marker. */
  assert_non_null(strstr(out, "twice: [REDACTED] [REDACTED]\n"));
  free(out);
}

static void test_redaction_json(void **state) {
  (void)state;
  tw_log_set_format(TW_LOG_JSON);
  assert_int_equal(tw_log_add_secret(TOKEN), 0);
  assert_int_equal(tw_log_add_secret(CSECRET), 0);
  assert_int_equal(tw_log_add_secret(WSECRET), 0);
  cap_start();
  log_leaky_lines();
  char *out = cap_end();
  assert_int_equal(count_lines(out), 10);
  assert_no_secrets(out);
  /* Every line is valid JSON, and the decoded message is clean too: the
   * secret with '"' and '\\' was redacted before escaping, not missed
   * because escaping changed its bytes. */
  char *line = out;
  int n = 0;
  while (*line) {
    char *nl = strchr(line, '\n');
    assert_non_null(nl);
    *nl = '\0';
    char *msg = json_msg(line);
    assert_no_secrets(msg);
    assert_non_null(strstr(msg, "[REDACTED]"));
    free(msg);
    line = nl + 1;
    n++;
  }
  assert_int_equal(n, 10);
  free(out);
}

/* Text that only spells a secret once escaped is still redacted, and the
 * JSON stays valid when the match is widened to whole escape units. */
static void test_redaction_after_escaping(void **state) {
  (void)state;
  /* A secret that contains a literal backslash-n. */
  assert_int_equal(tw_log_add_secret("abc\\ndef"), 0);
  cap_start();
  tw_info("m", "x abc\ndef y");
  char *out = cap_end();
  assert_null(strstr(out, "abc\\ndef"));
  assert_non_null(strstr(out, "x [REDACTED] y"));
  free(out);

  tw_log_set_format(TW_LOG_JSON);
  cap_start();
  tw_info("m", "x abc\ndef y");
  out = cap_end();
  assert_null(strstr(out, "abc\\ndef"));
  char *msg = json_msg(out);
  assert_string_equal(msg, "x [REDACTED] y");
  free(msg);
  free(out);
  tw_log_clear_secrets();

  /* A secret ending in a backslash: in "abcdef\"" the escaped text holds
   * "abcdef\\\"", whose first seven bytes spell the secret but cut the
   * escape of the quote in two. Redaction must take the whole unit. */
  assert_int_equal(tw_log_add_secret("abcdef\\"), 0);
  cap_start();
  tw_info("m", "v=abcdef\" end");
  out = cap_end();
  msg = json_msg(out);
  assert_null(strstr(msg, "abcdef"));
  assert_non_null(strstr(msg, " end"));
  free(msg);
  free(out);
}

static void test_remove_and_clear(void **state) {
  (void)state;
  char out[256];
  assert_int_equal(tw_log_add_secret("old-token-123"), 0);
  assert_int_equal(tw_log_add_secret("new-token-456"), 0);
  tw_log_redact("old-token-123 new-token-456", out, sizeof(out));
  assert_string_equal(out, "[REDACTED] [REDACTED]");
  tw_log_remove_secret("old-token-123");
  tw_log_remove_secret("never-registered");
  tw_log_remove_secret(NULL);
  tw_log_redact("old-token-123 new-token-456", out, sizeof(out));
  assert_string_equal(out, "old-token-123 [REDACTED]");
  tw_log_clear_secrets();
  tw_log_redact("old-token-123 new-token-456", out, sizeof(out));
  assert_string_equal(out, "old-token-123 new-token-456");
  /* After clearing, the table is empty again. */
  char s[32];
  for (int i = 0; i < TW_LOG_MAX_SECRETS; i++) {
    snprintf(s, sizeof(s), "again-%04d", i);
    assert_int_equal(tw_log_add_secret(s), 0);
  }
  tw_log_clear_secrets();
}

static void test_redact_function(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(tw_log_add_secret("aaaaaaaaaa"), 0);
  /* Overlapping repeats are covered whole: no tail of 'a's survives. */
  size_t n = tw_log_redact("x aaaaaaaaaaaaaaaaaaa y", out, sizeof(out));
  assert_string_equal(out, "x [REDACTED] y");
  assert_int_equal(n, strlen(out));
  /* Small output buffers are always terminated and never overrun. */
  char small[8];
  memset(small, '#', sizeof(small));
  n = tw_log_redact("hello aaaaaaaaaa world", small, sizeof(small));
  /* The marker does not fit, so the copy stops before it. */
  assert_int_equal(n, 6);
  assert_string_equal(small, "hello ");
  char one[1];
  assert_int_equal(tw_log_redact("abc", one, 1), 0);
  assert_int_equal(one[0], '\0');
  tw_log_redact(NULL, out, sizeof(out));
  assert_string_equal(out, "");
}

/* ---- truncation --------------------------------------------------------- */

static void test_truncation(void **state) {
  (void)state;
  size_t big = 3 * TW_LOG_MAX_LINE;
  char *msg = malloc(big + 1);
  memset(msg, 'x', big);
  msg[big] = '\0';
  for (int f = 0; f < 2; f++) {
    tw_log_set_format(f ? TW_LOG_JSON : TW_LOG_TEXT);
    cap_start();
    tw_info("m", "%s", msg);
    char *out = cap_end();
    size_t len = strlen(out);
    assert_true(len <= TW_LOG_MAX_LINE);
    assert_true(len > TW_LOG_MAX_LINE - 100);
    assert_int_equal(count_lines(out), 1);
    if (f) {
      char *m = json_msg(out);
      assert_int_equal(strcmp(m + strlen(m) - 4, "x..."), 0);
      free(m);
    } else {
      assert_int_equal(strcmp(out + len - 5, "x...\n"), 0);
    }
    free(out);
  }
  free(msg);

  /* Multi-byte characters and escapes are never cut in half. */
  tw_log_set_format(TW_LOG_JSON);
  size_t units = TW_LOG_MAX_LINE;
  char *u = malloc(units * 2 + 1);
  for (size_t i = 0; i < units; i++)
    memcpy(u + 2 * i, i % 2 ? "\xc3\xa9" : "\"\x01", 2);
  u[units * 2] = '\0';
  for (int shift = 0; shift < 8; shift++) {
    cap_start();
    tw_info("m", "%.*s%s", shift, "abcdefgh", u);
    char *out = cap_end();
    assert_true(strlen(out) <= TW_LOG_MAX_LINE);
    char *m = json_msg(out); /* fails if UTF-8 or an escape was split */
    free(m);
    free(out);
  }
  free(u);
}

/* A secret that straddles the truncation point must not leak its start. */
static void test_truncation_never_splits_secret(void **state) {
  (void)state;
  const char *sec = "SeCrEt-ToKeN-0123456789";
  assert_int_equal(tw_log_add_secret(sec), 0);
  size_t max = 3 * TW_LOG_MAX_LINE;
  char *msg = malloc(max + 64);
  for (int f = 0; f < 2; f++) {
    tw_log_set_format(f ? TW_LOG_JSON : TW_LOG_TEXT);
    /* Around the line cap, and around the much later point where the
     * formatted message itself is cut. */
    for (size_t off = TW_LOG_MAX_LINE - 200; off < max; off++) {
      if (off > TW_LOG_MAX_LINE + 40 && off % 13 != 0)
        continue;
      memset(msg, 'x', off);
      memcpy(msg + off, sec, strlen(sec));
      memset(msg + off + strlen(sec), 'y', 40);
      msg[off + strlen(sec) + 40] = '\0';
      cap_start();
      tw_info("m", "%s", msg);
      char *out = cap_end();
      assert_true(strlen(out) <= TW_LOG_MAX_LINE);
      if (strstr(out, "SeC") != NULL)
        fail_msg("secret prefix leaked at offset %zu (format %d)", off, f);
      free(out);
    }
  }
  free(msg);
}

/* When long secrets shrink to a short marker, the point where the formatted
 * message was cut moves into the visible part of the line; a secret cut in
 * two there must not show its first half. */
static void test_truncation_after_shrinking(void **state) {
  (void)state;
  char sec[TW_LOG_MAX_SECRET + 1];
  memset(sec, 'z', TW_LOG_MAX_SECRET);
  memcpy(sec, "LongSecret-", 11);
  sec[TW_LOG_MAX_SECRET] = '\0';
  assert_int_equal(tw_log_add_secret(sec), 0);
  size_t copies = 4 * TW_LOG_MAX_LINE / TW_LOG_MAX_SECRET;
  char *msg = malloc(TW_LOG_MAX_SECRET + copies * (TW_LOG_MAX_SECRET + 1) + 1);
  for (int f = 0; f < 2; f++) {
    tw_log_set_format(f ? TW_LOG_JSON : TW_LOG_TEXT);
    for (size_t shift = 0; shift < TW_LOG_MAX_SECRET; shift += 37) {
      size_t o = 0;
      memset(msg, '-', shift);
      o += shift;
      for (size_t i = 0; i < copies; i++) {
        memcpy(msg + o, sec, TW_LOG_MAX_SECRET);
        o += TW_LOG_MAX_SECRET;
        msg[o++] = ' ';
      }
      msg[o] = '\0';
      cap_start();
      tw_info("m", "%s", msg);
      char *out = cap_end();
      assert_true(strlen(out) <= TW_LOG_MAX_LINE);
      assert_non_null(strstr(out, "[REDACTED]"));
      if (strstr(out, "LongSec") || strstr(out, "zzzz"))
        fail_msg("part of a secret leaked (shift %zu, format %d)", shift, f);
      free(out);
    }
  }
  free(msg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_level_filter, setup),
      cmocka_unit_test_setup(test_level_parse, setup),
      cmocka_unit_test_setup(test_text_format, setup),
      cmocka_unit_test_setup(test_json_format, setup),
      cmocka_unit_test_setup(test_secret_limits, setup),
      cmocka_unit_test_setup(test_redaction_text, setup),
      cmocka_unit_test_setup(test_redaction_json, setup),
      cmocka_unit_test_setup(test_redaction_after_escaping, setup),
      cmocka_unit_test_setup(test_remove_and_clear, setup),
      cmocka_unit_test_setup(test_redact_function, setup),
      cmocka_unit_test_setup(test_truncation, setup),
      cmocka_unit_test_setup(test_truncation_never_splits_secret, setup),
      cmocka_unit_test_setup(test_truncation_after_shrinking, setup),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  tw_log_clear_secrets();
  return rc;
}
