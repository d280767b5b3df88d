/* Stream up/down from Get Streams: the pure transition function. The polling
 * itself runs end to end against the simulator in
 * tests/integration/test_run_live.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/event.h"
#include "twitchd/stream_watch.h"

static tw_helix_stream_t live_stream(void) {
  tw_helix_stream_t s;
  memset(&s, 0, sizeof(s));
  s.id = "40952121085";
  s.user_id = "141981764";
  s.user_login = "twitchdev";
  s.title = "Building a bot";
  s.started_at = "2021-03-10T15:04:21Z";
  s.viewer_count = 42;
  return s;
}

/* The first answer only learns the state: a bot restarted in the middle of
 * a stream must not announce it again. */
static void test_first_answer_is_silent(void **state) {
  (void)state;
  tw_helix_stream_t s = live_stream();
  tw_event_t *ev = (tw_event_t *)1;
  assert_true(
      tw_stream_watch_apply("twitchdev", "twitch", false, false, &s, &ev));
  assert_null(ev);
  assert_false(
      tw_stream_watch_apply("twitchdev", "twitch", false, false, NULL, &ev));
  assert_null(ev);
}

static void test_goes_live(void **state) {
  (void)state;
  tw_helix_stream_t s = live_stream();
  tw_event_t *ev = NULL;
  assert_true(
      tw_stream_watch_apply("twitchdev", "twitch", true, false, &s, &ev));
  assert_non_null(ev);
  assert_int_equal(ev->kind, TW_EVENT_STREAM_STARTED);
  assert_string_equal(ev->u.stream_started.title, "Building a bot");
  assert_int_equal(ev->u.stream_started.viewers, 42);
  int64_t at;
  assert_int_equal(tw_event_time_parse("2021-03-10T15:04:21Z", &at), 0);
  assert_int_equal(ev->u.stream_started.started_at, at);
  assert_string_equal(ev->target, "#twitchdev");
  assert_string_equal(ev->user, "twitchdev");
  assert_string_equal(ev->user_id, "141981764");
  assert_string_equal(ev->event_id, "40952121085");
  assert_string_equal(ev->connector, "twitch");
  tw_event_free(ev);
}

static void test_goes_offline(void **state) {
  (void)state;
  tw_event_t *ev = NULL;
  assert_false(
      tw_stream_watch_apply("twitchdev", "twitch", true, true, NULL, &ev));
  assert_non_null(ev);
  assert_int_equal(ev->kind, TW_EVENT_STREAM_ENDED);
  assert_string_equal(ev->target, "#twitchdev");
  tw_event_free(ev);
}

static void test_no_change_no_event(void **state) {
  (void)state;
  tw_helix_stream_t s = live_stream();
  tw_event_t *ev = (tw_event_t *)1;
  assert_true(
      tw_stream_watch_apply("twitchdev", "twitch", true, true, &s, &ev));
  assert_null(ev);
  assert_false(
      tw_stream_watch_apply("twitchdev", "twitch", true, false, NULL, &ev));
  assert_null(ev);
}

/* Twitch may leave fields out; the event carries what there is. */
static void test_sparse_stream(void **state) {
  (void)state;
  tw_helix_stream_t s;
  memset(&s, 0, sizeof(s));
  s.user_login = "twitchdev";
  s.started_at = "not a time";
  tw_event_t *ev = NULL;
  assert_true(
      tw_stream_watch_apply("twitchdev", "twitch", true, false, &s, &ev));
  assert_non_null(ev);
  assert_null(ev->u.stream_started.title);
  assert_int_equal(ev->u.stream_started.started_at, 0);
  tw_event_free(ev);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_answer_is_silent),
      cmocka_unit_test(test_goes_live),
      cmocka_unit_test(test_goes_offline),
      cmocka_unit_test(test_no_change_no_event),
      cmocka_unit_test(test_sparse_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
