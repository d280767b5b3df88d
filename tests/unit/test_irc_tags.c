/* Tag value decoders: table-driven from tests/fixtures/irc/values.json
 * (unescaping cases from twitch-irc-rs and dank-twitch-irc, emote and badge
 * cases from dank-twitch-irc, plus ours), and the edge cases that JSON
 * cannot carry (invalid UTF-8, truncation, NULL views). */
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
#include "twitchd/irc_tags.h"

static json_t *root;

static int setup(void **state) {
  (void)state;
  const char *dir = getenv("TW_FIXTURES");
  char path[1024];
  snprintf(path, sizeof(path), "%s/irc/values.json",
           dir ? dir : "tests/fixtures");
  json_error_t e;
  root = json_load_file(path, JSON_ALLOW_NUL, &e);
  if (!root) {
    fprintf(stderr, "cannot load %s: line %d: %s\n", path, e.line, e.text);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  json_decref(root);
  return 0;
}

/* A heap copy of exactly the string's bytes, so ASan sees over-reads. */
static tw_irc_str_t exact(const json_t *s, char **owned) {
  size_t n = json_string_length(s);
  *owned = malloc(n ? n : 1);
  assert_non_null(*owned);
  memcpy(*owned, json_string_value(s), n);
  tw_irc_str_t v = {*owned, n};
  return v;
}

static tw_irc_str_t sv(const char *s) {
  tw_irc_str_t v = {s, s ? strlen(s) : 0};
  return v;
}

static void test_unescape(void **state) {
  (void)state;
  size_t i;
  json_t *c;
  int failures = 0;
  json_array_foreach(json_object_get(root, "unescape"), i, c) {
    char *raw_buf;
    tw_irc_str_t raw = exact(json_array_get(c, 1), &raw_buf);
    const json_t *want = json_array_get(c, 2);
    /* Into a buffer of exactly the input's size: always enough. */
    char *out = malloc(raw.len ? raw.len : 1);
    size_t n = 0;
    assert_int_equal(tw_irc_unescape(raw.ptr, raw.len, out, raw.len, &n), 0);
    if (n != json_string_length(want) ||
        memcmp(out, json_string_value(want), n) != 0) {
      fprintf(stderr, "unescape case %zu (%s): got '%.*s'\n", i,
              json_string_value(json_array_get(c, 0)), (int)n, out);
      failures++;
    }
    free(out);
    free(raw_buf);
  }
  assert_int_equal(failures, 0);
}

static void test_emotes(void **state) {
  (void)state;
  size_t i;
  json_t *c;
  int failures = 0;
  json_array_foreach(json_object_get(root, "emotes"), i, c) {
    char *tb, *xb;
    tw_irc_str_t tag = exact(json_object_get(c, "tag"), &tb);
    tw_irc_str_t text = exact(json_object_get(c, "text"), &xb);
    const json_t *want = json_object_get(c, "expect");
    tw_irc_emote_t em[TW_MAX_IRC_EMOTES];
    size_t n = tw_irc_emotes_parse(tag, text, em, TW_MAX_IRC_EMOTES);
    int bad = n != json_array_size(want);
    for (size_t k = 0; !bad && k < n; k++) {
      const json_t *w = json_array_get(want, k);
      const char *code = json_string_value(json_object_get(w, "code"));
      bad = !tw_irc_str_eq(em[k].id,
                           json_string_value(json_object_get(w, "id"))) ||
            em[k].cp_start !=
                (size_t)json_integer_value(json_object_get(w, "start")) ||
            em[k].cp_end !=
                (size_t)json_integer_value(json_object_get(w, "end")) ||
            em[k].byte_end > text.len ||
            em[k].byte_end - em[k].byte_start != strlen(code) ||
            memcmp(text.ptr + em[k].byte_start, code, strlen(code)) != 0;
    }
    if (bad) {
      fprintf(stderr, "emotes case %zu (%s): tag '%s' gave %zu emotes\n", i,
              json_string_value(json_object_get(c, "src")),
              json_string_value(json_object_get(c, "tag")), n);
      for (size_t k = 0; k < n; k++)
        fprintf(stderr, "  %.*s [%zu,%zu) bytes [%zu,%zu)\n", (int)em[k].id.len,
                em[k].id.ptr, em[k].cp_start, em[k].cp_end, em[k].byte_start,
                em[k].byte_end);
      failures++;
    }
    free(tb);
    free(xb);
  }
  assert_int_equal(failures, 0);
}

static void test_badges(void **state) {
  (void)state;
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(root, "badges"), i, c) {
    char *lb;
    tw_irc_str_t list = exact(json_array_get(c, 1), &lb);
    const json_t *want = json_array_get(c, 2);
    tw_irc_badge_t b[TW_MAX_IRC_BADGES];
    size_t n = tw_irc_badges_parse(list, b, TW_MAX_IRC_BADGES);
    assert_int_equal(n, json_array_size(want));
    for (size_t k = 0; k < n; k++) {
      const json_t *w = json_array_get(want, k);
      assert_true(
          tw_irc_str_eq(b[k].name, json_string_value(json_array_get(w, 0))));
      assert_true(
          tw_irc_str_eq(b[k].version, json_string_value(json_array_get(w, 1))));
    }
    free(lb);
  }
  json_array_foreach(json_object_get(root, "badge_info_months"), i, c) {
    char *lb;
    tw_irc_str_t list = exact(json_array_get(c, 1), &lb);
    const json_t *want = json_array_get(c, 2);
    int64_t got = tw_irc_badge_info_months(list);
    if (json_is_null(want))
      assert_true(got == TW_IRC_NONE);
    else
      assert_int_equal(got, json_integer_value(want));
    free(lb);
  }
}

static void test_scalars(void **state) {
  (void)state;
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(root, "u64"), i, c) {
    char *b;
    tw_irc_str_t s = exact(json_array_get(c, 0), &b);
    const json_t *want = json_array_get(c, 1);
    uint64_t v = 7;
    int rc = tw_irc_parse_u64(s, &v);
    if (json_is_null(want)) {
      assert_int_equal(rc, TW_EPARSE);
      assert_int_equal(v, 7); /* untouched on error */
    } else {
      assert_int_equal(rc, 0);
      char txt[32];
      snprintf(txt, sizeof(txt), "%llu", (unsigned long long)v);
      assert_string_equal(txt, json_string_value(want));
    }
    free(b);
  }
  json_array_foreach(json_object_get(root, "i64"), i, c) {
    char *b;
    tw_irc_str_t s = exact(json_array_get(c, 0), &b);
    const json_t *want = json_array_get(c, 1);
    int64_t v = 7;
    int rc = tw_irc_parse_i64(s, &v);
    if (json_is_null(want))
      assert_int_equal(rc, TW_EPARSE);
    else
      assert_true(rc == 0 && v == json_integer_value(want));
    free(b);
  }
  json_array_foreach(json_object_get(root, "bool"), i, c) {
    char *b;
    tw_irc_str_t s = exact(json_array_get(c, 0), &b);
    const json_t *want = json_array_get(c, 1);
    int v = 7;
    int rc = tw_irc_parse_bool(s, &v);
    if (json_is_null(want))
      assert_int_equal(rc, TW_EPARSE);
    else
      assert_true(rc == 0 && v == json_integer_value(want));
    free(b);
  }
  json_array_foreach(json_object_get(root, "color"), i, c) {
    char *b;
    tw_irc_str_t s = exact(json_array_get(c, 0), &b);
    const json_t *want = json_array_get(c, 1);
    uint32_t v = 7;
    int rc = tw_irc_parse_color(s, &v);
    if (json_is_null(want))
      assert_int_equal(rc, TW_EPARSE);
    else
      assert_true(rc == 0 && v == (uint32_t)json_integer_value(want));
    free(b);
  }
  tw_irc_str_t none = {NULL, 0};
  uint64_t u;
  int64_t s64;
  int bl;
  uint32_t rgb;
  assert_int_equal(tw_irc_parse_u64(none, &u), TW_EPARSE);
  assert_int_equal(tw_irc_parse_i64(none, &s64), TW_EPARSE);
  assert_int_equal(tw_irc_parse_bool(none, &bl), TW_EPARSE);
  assert_int_equal(tw_irc_parse_color(none, &rgb), TW_EPARSE);
}

static void test_msg_level_helpers(void **state) {
  (void)state;
  const char *l = "@bits=100;mod=1;sub=x;ts=-5 :u!u@u PRIVMSG #c :hi";
  tw_irc_msg_t m;
  assert_int_equal(tw_irc_parse(&m, l, strlen(l)), 0);
  assert_int_equal(tw_irc_tag_i64(&m, "bits"), 100);
  assert_int_equal(tw_irc_tag_i64(&m, "ts"), -5);
  assert_true(tw_irc_tag_i64(&m, "sub") == TW_IRC_NONE);
  assert_true(tw_irc_tag_i64(&m, "nope") == TW_IRC_NONE);
  assert_int_equal(tw_irc_tag_bool(&m, "mod"), 1);
  assert_int_equal(tw_irc_tag_bool(&m, "sub"), -1);
  assert_int_equal(tw_irc_tag_bool(&m, "nope"), -1);
}

static void test_utf8_and_invalid_bytes(void **state) {
  (void)state;
  assert_int_equal(tw_irc_utf8_count(sv("")), 0);
  assert_int_equal(tw_irc_utf8_count(sv("abc")), 3);
  assert_int_equal(tw_irc_utf8_count(sv("\xf0\x9f\x91\x89 <3")), 4);
  /* Stray continuation bytes belong to the previous character; bytes that
   * start a sequence count once each, whatever follows. */
  assert_int_equal(tw_irc_utf8_count(sv("\x80\x80")), 0);
  assert_int_equal(tw_irc_utf8_count(sv("\xff\xfe")), 2);
  assert_int_equal(tw_irc_utf8_count(sv("a\xe2\x82")), 2);
  /* Emotes over invalid UTF-8 stay inside the text. */
  const char *text = "\xe2\x82 Kappa \xf0";
  tw_irc_emote_t em[4];
  size_t n = tw_irc_emotes_parse(sv("25:2-6,0-99"), sv(text), em, 4);
  assert_int_equal(n, 2);
  assert_int_equal(em[0].cp_start, 0);
  assert_int_equal(em[0].byte_start, 0);
  assert_int_equal(em[0].byte_end, strlen(text));
  assert_int_equal(em[1].byte_start, 3);
  assert_int_equal(em[1].byte_end, 8);
  assert_memory_equal(text + 3, "Kappa", 5);
}

static void test_emote_limits(void **state) {
  (void)state;
  tw_irc_emote_t em[2];
  /* Truncation to max keeps the first ranges of the tag, sorted. */
  size_t n = tw_irc_emotes_parse(sv("1:4-4,2-2/2:0-0"), sv("abcde"), em, 2);
  assert_int_equal(n, 2);
  assert_int_equal(em[0].cp_start, 2);
  assert_int_equal(em[1].cp_start, 4);
  /* No text, no tag, no room: nothing, and nothing written. */
  tw_irc_str_t none = {NULL, 0};
  assert_int_equal(tw_irc_emotes_parse(sv("1:0-1"), none, em, 2), 0);
  assert_int_equal(tw_irc_emotes_parse(none, sv("ab"), em, 2), 0);
  assert_int_equal(tw_irc_emotes_parse(sv("1:0-1"), sv("ab"), em, 0), 0);
  assert_int_equal(tw_irc_emotes_parse(sv("1:0-1"), sv("ab"), NULL, 2), 0);
  /* Many overlapping ranges: bounded work, every offset inside the text. */
  static char tag[TW_MAX_IRC_LINE];
  size_t t = 0;
  t += (size_t)snprintf(tag + t, sizeof(tag) - t, "1:");
  for (int i = 0; i < 1000 && t + 16 < sizeof(tag); i++)
    t += (size_t)snprintf(tag + t, sizeof(tag) - t, "%s%d-499", i ? "," : "",
                          i % 500);
  char text[500];
  memset(text, 'x', sizeof(text));
  tw_irc_str_t tv = {text, sizeof(text)};
  tw_irc_str_t tg = {tag, t};
  tw_irc_emote_t big[TW_MAX_IRC_EMOTES];
  n = tw_irc_emotes_parse(tg, tv, big, TW_MAX_IRC_EMOTES);
  assert_int_equal(n, TW_MAX_IRC_EMOTES);
  for (size_t k = 0; k < n; k++) {
    assert_true(big[k].byte_end <= sizeof(text));
    assert_true(k == 0 || big[k - 1].cp_start <= big[k].cp_start);
  }
}

static void test_lists_and_badges_api(void **state) {
  (void)state;
  tw_irc_str_t rest = sv(" a  b ");
  tw_irc_str_t item;
  assert_true(tw_irc_list_next(&rest, ' ', &item));
  assert_true(tw_irc_str_eq(item, "a"));
  assert_true(tw_irc_list_next(&rest, ' ', &item));
  assert_true(tw_irc_str_eq(item, "b"));
  assert_false(tw_irc_list_next(&rest, ' ', &item));
  tw_irc_str_t none = {NULL, 0};
  assert_false(tw_irc_list_next(&none, ',', &item));

  tw_irc_badge_t b[1];
  /* Returns the total, writes at most max. */
  assert_int_equal(tw_irc_badges_parse(sv("a/1,b/2,c/3"), b, 1), 3);
  assert_true(tw_irc_str_eq(b[0].name, "a"));
  tw_irc_str_t ver;
  assert_true(
      tw_irc_badges_find(sv("moderator/1,subscriber/12"), "subscriber", &ver));
  assert_true(tw_irc_str_eq(ver, "12"));
  assert_false(tw_irc_badges_find(sv("moderator/1"), "vip", &ver));
  assert_true(tw_irc_badges_find(sv("vip/1"), "vip", NULL));
}

static void test_action(void **state) {
  (void)state;
  tw_irc_str_t in;
  assert_true(tw_irc_action(sv("\001ACTION \001"), &in));
  assert_int_equal(in.len, 0);
  assert_false(tw_irc_action(sv("\001ACTION "), &in)); /* no closing \1 */
  assert_false(tw_irc_action(sv("\001ACTION"), &in));
  assert_false(tw_irc_action(sv("\001"), &in));
  tw_irc_str_t none = {NULL, 0};
  assert_false(tw_irc_action(none, &in));
  assert_null(in.ptr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unescape),
      cmocka_unit_test(test_emotes),
      cmocka_unit_test(test_badges),
      cmocka_unit_test(test_scalars),
      cmocka_unit_test(test_msg_level_helpers),
      cmocka_unit_test(test_utf8_and_invalid_bytes),
      cmocka_unit_test(test_emote_limits),
      cmocka_unit_test(test_lists_and_badges_api),
      cmocka_unit_test(test_action),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
