/* Events as JSON (for logs and tests) and the RFC 3339 time helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"
#include "twitchd/event.h"

static char *dump(const tw_event_t *ev, unsigned flags) {
  json_t *j = tw_event_to_json(ev, flags);
  assert_non_null(j);
  char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
  json_decref(j);
  assert_non_null(s);
  return s;
}

static void test_user_followed_json(void **state) {
  (void)state;
  tw_event_t *ev = tw_event_new(TW_EVENT_USER_FOLLOWED);
  int64_t t;
  assert_int_equal(tw_event_time_parse("2020-07-15T18:16:11.17106713Z", &t), 0);
  assert_int_equal(tw_event_set_str(ev, "follower", "awesome_follower"), 0);
  assert_int_equal(tw_event_set_time(ev, "followed_at", t), 0);
  assert_int_equal(tw_event_set_str(ev, "connector", "twitch"), 0);
  assert_int_equal(tw_event_set_str(ev, "raw", "{\"x\":1}"), 0);
  char *s = dump(ev, 0);
  assert_string_equal(s, "{\"connector\":\"twitch\",\"event\":\"UserFollowed\","
                         "\"event_id\":null,\"followed_at\":\"2020-07-15T18:16:"
                         "11.171Z\",\"follower\":\"awesome_follower\","
                         "\"raw\":\"{\\\"x\\\":1}\",\"target\":null,"
                         "\"user\":null,\"user_id\":null}");
  free(s);
  s = dump(ev, TW_EVENT_JSON_NO_RAW);
  assert_null(strstr(s, "\"raw\""));
  assert_non_null(strstr(s, "\"follower\":\"awesome_follower\""));
  free(s);
  tw_event_free(ev);
}

static void test_message_json_types(void **state) {
  (void)state;
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  assert_int_equal(tw_event_set_str(ev, "text", "Hello \"world\" \xc3\xa9"), 0);
  assert_int_equal(tw_event_set_int(ev, "bits", 100), 0);
  assert_int_equal(tw_event_set_bool(ev, "is_moderator", true), 0);
  json_t *j = tw_event_to_json(ev, 0);
  assert_string_equal(json_string_value(json_object_get(j, "event")),
                      "Message");
  assert_string_equal(json_string_value(json_object_get(j, "text")),
                      "Hello \"world\" \xc3\xa9");
  assert_int_equal(json_integer_value(json_object_get(j, "bits")), 100);
  assert_true(json_is_true(json_object_get(j, "is_moderator")));
  assert_true(json_is_false(json_object_get(j, "is_vip")));
  assert_true(json_is_null(json_object_get(j, "reply_parent_msg_id")));
  json_decref(j);
  tw_event_free(ev);
}

/* Every kind's object has "event" and exactly its common and specific
 * fields, so a new row in the table shows up in logs with no other edit. */
static void test_every_kind_has_all_keys(void **state) {
  (void)state;
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    tw_event_t *ev = tw_event_new((tw_event_kind_t)k);
    json_t *j = tw_event_to_json(ev, 0);
    assert_non_null(j);
    size_t nc, n;
    tw_event_common_fields(&nc);
    const tw_event_field_t *f = tw_event_kind_fields(ev->kind, &n);
    assert_int_equal(json_object_size(j), 1 + nc + n);
    assert_string_equal(json_string_value(json_object_get(j, "event")),
                        tw_event_kind_name(ev->kind));
    for (size_t i = 0; i < n; i++)
      assert_non_null(json_object_get(j, f[i].name));
    json_decref(j);
    tw_event_free(ev);
  }
}

/* A string put in directly (bypassing the setters) that is not UTF-8 does
 * not make the whole object fail. */
static void test_direct_invalid_utf8(void **state) {
  (void)state;
  tw_event_t *ev = tw_event_new(TW_EVENT_UPDATE_TITLE);
  ev->u.update_title.status = strdup("bad \xff title");
  json_t *j = tw_event_to_json(ev, 0);
  assert_non_null(j);
  assert_true(json_is_null(json_object_get(j, "status")));
  json_decref(j);
  tw_event_free(ev);
}

static void test_time_parse(void **state) {
  (void)state;
  static const struct {
    const char *in;
    int64_t ms;
  } ok[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"1970-01-01T00:00:01.5Z", 1500},
      {"2020-07-15T18:16:11Z", 1594836971000},
      {"2020-07-15T18:16:11.17106713Z", 1594836971171},
      {"2020-07-15T20:16:11+02:00", 1594836971000},
      {"2020-07-15T13:46:11.000-04:30", 1594836971000},
      {"2024-02-29T00:00:00z", 1709164800000},
      {"2000-03-01t00:00:00Z", 951868800000},
      {"1969-12-31T23:59:59.999Z", -1},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    int64_t v = 42;
    assert_int_equal(tw_event_time_parse(ok[i].in, &v), 0);
    assert_int_equal(v, ok[i].ms);
  }
  static const char *const bad[] = {
      "",
      "today",
      "just now",
      "2020-07-15",
      "2020-07-15T18:16:11",
      "2020-07-15T18:16:11.Z",
      "2020-13-01T00:00:00Z",
      "2023-02-29T00:00:00Z",
      "2020-07-32T00:00:00Z",
      "2020-07-15T24:00:00Z",
      "2020-07-15T18:16:11Zjunk",
      "2020-07-15T18:16:11+2:00",
      "20a0-07-15T18:16:11Z",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t v;
    assert_int_equal(tw_event_time_parse(bad[i], &v), TW_EPARSE);
  }
  int64_t v;
  assert_int_equal(tw_event_time_parse(NULL, &v), TW_EINVAL);
}

static void test_time_format(void **state) {
  (void)state;
  char buf[TW_EVENT_TIME_BUF];
  assert_int_equal(tw_event_time_format(1594836971171, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "2020-07-15T18:16:11.171Z");
  assert_int_equal(tw_event_time_format(-1, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
  assert_int_equal(tw_event_time_format(1709164800000, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "2024-02-29T00:00:00.000Z");
  assert_int_equal(tw_event_time_format(0, buf, 10), TW_ETOOBIG);
  assert_int_equal(tw_event_time_format(INT64_MAX, buf, sizeof(buf)),
                   TW_EINVAL);
  /* round trip over a spread of instants */
  for (int64_t t = -86400000LL * 365 * 50; t < 86400000LL * 365 * 80;
       t += 86400000LL * 37 + 3600123) {
    int64_t back;
    assert_int_equal(tw_event_time_format(t, buf, sizeof(buf)), 0);
    assert_int_equal(tw_event_time_parse(buf, &back), 0);
    assert_int_equal(back, t);
  }
}


static tw_event_t *from_text(const char *text, int want_rc, char *err,
                             size_t cap) {
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  assert_non_null(j);
  tw_event_t *ev = NULL;
  assert_int_equal(tw_event_from_json(j, &ev, err, cap), want_rc);
  json_decref(j);
  return ev;
}

static void test_from_json_round_trip(void **state) {
  (void)state;
  char err[128];
  tw_event_t *ev = from_text(
      "{\"event\":\"UserFollowed\",\"follower\":\"ann\",\"target\":\"#chan\","
      "\"followed_at\":\"2020-07-15T18:16:11Z\",\"user\":null}",
      0, err, sizeof(err));
  assert_non_null(ev);
  assert_int_equal(ev->kind, TW_EVENT_USER_FOLLOWED);
  assert_string_equal(ev->u.user_followed.follower, "ann");
  assert_string_equal(ev->target, "#chan");
  assert_null(ev->user);
  assert_int_equal(ev->u.user_followed.followed_at, 1594836971000);
  /* Every kind and field survives to_json then from_json unchanged. */
  char *a = dump(ev, 0);
  json_t *j = tw_event_to_json(ev, 0);
  tw_event_t *back = NULL;
  assert_int_equal(tw_event_from_json(j, &back, err, sizeof(err)), 0);
  json_decref(j);
  char *b = dump(back, 0);
  assert_string_equal(a, b);
  free(a);
  free(b);
  tw_event_free(back);
  tw_event_free(ev);

  ev = from_text("{\"event\":\"Message\",\"text\":\"hi\",\"bits\":100,"
                 "\"is_moderator\":true}",
                 0, err, sizeof(err));
  assert_int_equal(ev->u.message.bits, 100);
  assert_true(ev->u.message.is_moderator);
  tw_event_free(ev);
}

static void test_from_json_errors(void **state) {
  (void)state;
  char err[128];
  assert_null(from_text("[1]", TW_EINVAL, err, sizeof(err)));
  assert_null(from_text("{\"text\":\"x\"}", TW_EINVAL, err, sizeof(err)));
  assert_non_null(strstr(err, "event"));
  assert_null(from_text("{\"event\":\"Nope\"}", TW_ENOTFOUND, err,
                        sizeof(err)));
  assert_non_null(strstr(err, "Nope"));
  /* A field of another kind is a typo, not silently ignored. */
  assert_null(from_text("{\"event\":\"Message\",\"follower\":\"x\"}",
                        TW_ENOTFOUND, err, sizeof(err)));
  assert_non_null(strstr(err, "follower"));
  assert_null(from_text("{\"event\":\"Message\",\"bits\":\"5\"}", TW_EINVAL,
                        err, sizeof(err)));
  assert_non_null(strstr(err, "bits"));
  assert_null(from_text("{\"event\":\"StreamStarted\",\"started_at\":\"soon\"}",
                        TW_EPARSE, err, sizeof(err)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_user_followed_json),
      cmocka_unit_test(test_message_json_types),
      cmocka_unit_test(test_every_kind_has_all_keys),
      cmocka_unit_test(test_direct_invalid_utf8),
      cmocka_unit_test(test_time_parse),
      cmocka_unit_test(test_time_format),
      cmocka_unit_test(test_from_json_round_trip),
      cmocka_unit_test(test_from_json_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
