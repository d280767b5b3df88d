/* The JSON bodies of outgoing webhooks, without a network: each service's
 * exact format, escaping, Discord's 2000-character cut (counted in UTF-16
 * units, never splitting a character), and the refusal of bad text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/webhook.h"

static void expect_body(tw_webhook_kind_t kind, const char *text,
                        const char *username, const char *want) {
  tw_buf_t b;
  tw_buf_init(&b, 1 << 16);
  int cut = -1;
  assert_int_equal(tw_webhook_format(kind, text, username, &b, &cut), 0);
  assert_int_equal(cut, 0);
  assert_string_equal(b.data, want);
  tw_buf_free(&b);
}

static void test_formats(void **state) {
  (void)state;
  expect_body(TW_WEBHOOK_DISCORD, "I'm live!", NULL,
              "{\"content\":\"I'm live!\"}");
  expect_body(TW_WEBHOOK_DISCORD, "I'm live!", "Stream Bot",
              "{\"content\":\"I'm live!\",\"username\":\"Stream Bot\"}");
  expect_body(TW_WEBHOOK_SLACK, "I'm live!", NULL, "{\"text\":\"I'm live!\"}");
  expect_body(TW_WEBHOOK_SLACK, "I'm live!", "twitchd",
              "{\"text\":\"I'm live!\",\"username\":\"twitchd\"}");
  expect_body(TW_WEBHOOK_ROCKETCHAT, "I'm live!", NULL,
              "{\"text\":\"I'm live!\"}");
  expect_body(TW_WEBHOOK_ROCKETCHAT, "I'm live!", "twitchd",
              "{\"text\":\"I'm live!\",\"alias\":\"twitchd\"}");
}

/* Quotes, backslashes, control characters are escaped; UTF-8 passes
 * through as it is; '/' is not escaped (nothing requires it). */
static void test_escaping(void **state) {
  (void)state;
  expect_body(TW_WEBHOOK_SLACK,
              "say \"hi\"\\ now\n\ttab \x01 \xc3\xbc \xf0\x9f\x8e\x89 a/b",
              "N\xc3\xa9o",
              "{\"text\":\"say \\\"hi\\\"\\\\ now\\n\\ttab \\u0001 \xc3\xbc "
              "\xf0\x9f\x8e\x89 a/b\",\"username\":\"N\xc3\xa9o\"}");
}

static void test_bad_text(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 1 << 16);
  assert_int_equal(tw_webhook_format(TW_WEBHOOK_SLACK, "", NULL, &b, NULL),
                   TW_EINVAL);
  assert_int_equal(tw_webhook_format(TW_WEBHOOK_SLACK, NULL, NULL, &b, NULL),
                   TW_EINVAL);
  const char *bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80",
                       "\xf4\x90\x80\x80"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(
        tw_webhook_format(TW_WEBHOOK_DISCORD, bad[i], NULL, &b, NULL),
        TW_EINVAL);
  assert_int_equal(tw_webhook_format(TW_WEBHOOK_DISCORD, "ok", "", &b, NULL),
                   TW_EINVAL);
  assert_int_equal(
      tw_webhook_format(TW_WEBHOOK_DISCORD, "ok", "\xff", &b, NULL), TW_EINVAL);
  assert_int_equal(
      tw_webhook_format((tw_webhook_kind_t)7, "ok", NULL, &b, NULL), TW_EINVAL);
  assert_int_equal(b.len, 0);
  /* The buffer's cap is respected. */
  tw_buf_t small;
  tw_buf_init(&small, 8);
  assert_int_equal(tw_webhook_format(TW_WEBHOOK_SLACK, "longer than eight",
                                     NULL, &small, NULL),
                   TW_ETOOBIG);
  tw_buf_free(&small);
  tw_buf_free(&b);
}

/* The content of a Discord body, decoded. */
static char *discord_content(const char *text, int *cut) {
  tw_buf_t b;
  tw_buf_init(&b, 1 << 16);
  assert_int_equal(tw_webhook_format(TW_WEBHOOK_DISCORD, text, NULL, &b, cut),
                   0);
  json_t *j = json_loads(b.data, 0, NULL);
  assert_non_null(j);
  const char *c = json_string_value(json_object_get(j, "content"));
  assert_non_null(c);
  char *out = strdup(c);
  json_decref(j);
  tw_buf_free(&b);
  return out;
}

static size_t utf16_units(const char *s) {
  size_t u = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p & 0xc0) == 0x80)
      continue;
    u += (*p >= 0xf0) ? 2 : 1;
  }
  return u;
}

static void test_discord_cut(void **state) {
  (void)state;
  char text[4096];
  int cut = -1;
  /* Exactly 2000: untouched. */
  memset(text, 'a', 2000);
  text[2000] = '\0';
  char *c = discord_content(text, &cut);
  assert_int_equal(cut, 0);
  assert_string_equal(c, text);
  free(c);
  /* 2001: 1999 characters and an ellipsis. */
  memset(text, 'a', 2001);
  text[2001] = '\0';
  c = discord_content(text, &cut);
  assert_int_equal(cut, 1);
  assert_int_equal(utf16_units(c), 2000);
  assert_int_equal(strlen(c), 1999 + 3);
  assert_memory_equal(c + 1999, "\xe2\x80\xa6", 3);
  free(c);
  /* Emoji count two units each (surrogate pairs) and are never split:
   * 1001 of them is 2002 units, cut to 999 emoji (1998) + the ellipsis. */
  size_t o = 0;
  for (int i = 0; i < 1001; i++) {
    memcpy(text + o, "\xf0\x9f\x8e\x89", 4);
    o += 4;
  }
  text[o] = '\0';
  c = discord_content(text, &cut);
  assert_int_equal(cut, 1);
  assert_int_equal(utf16_units(c), 1999);
  assert_int_equal(strlen(c), 999 * 4 + 3);
  free(c);
  /* Slack and Rocket.Chat take long text as it is. */
  memset(text, 'b', 3000);
  text[3000] = '\0';
  tw_buf_t b;
  tw_buf_init(&b, 1 << 16);
  assert_int_equal(tw_webhook_format(TW_WEBHOOK_SLACK, text, NULL, &b, &cut),
                   0);
  assert_int_equal(cut, 0);
  assert_int_equal(b.len, 3000 + strlen("{\"text\":\"\"}"));
  tw_buf_free(&b);
}

static void test_kind_names(void **state) {
  (void)state;
  tw_webhook_kind_t k;
  assert_string_equal(tw_webhook_kind_name(TW_WEBHOOK_DISCORD), "discord");
  assert_string_equal(tw_webhook_kind_name(TW_WEBHOOK_SLACK), "slack");
  assert_string_equal(tw_webhook_kind_name(TW_WEBHOOK_ROCKETCHAT),
                      "rocketchat");
  assert_null(tw_webhook_kind_name((tw_webhook_kind_t)3));
  assert_int_equal(tw_webhook_kind_parse("slack", &k), 0);
  assert_int_equal(k, TW_WEBHOOK_SLACK);
  assert_int_equal(tw_webhook_kind_parse("rocketchat", &k), 0);
  assert_int_equal(k, TW_WEBHOOK_ROCKETCHAT);
  assert_int_equal(tw_webhook_kind_parse("Slack", &k), TW_EINVAL);
  assert_int_equal(tw_webhook_kind_parse("teams", &k), TW_EINVAL);
  assert_int_equal(tw_webhook_kind_parse(NULL, &k), TW_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_formats),    cmocka_unit_test(test_escaping),
      cmocka_unit_test(test_bad_text),   cmocka_unit_test(test_discord_cut),
      cmocka_unit_test(test_kind_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
