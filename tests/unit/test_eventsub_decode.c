/* EventSub WebSocket messages: the sans-IO decoder (every message type of
 * docs/twitch-protocol.md 3.5, malformed input refused with a reason) and
 * the mapping of the 3.3 example notifications to twitchd events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/eventsub.h"
#include "twitchd/eventsub_events.h"

static const char WELCOME[] =
    "{\"metadata\":{\"message_id\":\"96a3f3b5-5dec-4eed-908e-e11ee657416c\","
    "\"message_type\":\"session_welcome\",\"message_timestamp\":\"2023-07-"
    "19T14:56:51.634234626Z\"},\"payload\":{\"session\":{\"id\":"
    "\"AQoQILE98gtqShGmLD7AM6yJThAB\",\"status\":\"connected\",\"connected_"
    "at\":\"2023-07-19T14:56:51.616329898Z\",\"keepalive_timeout_seconds\":"
    "10,\"reconnect_url\":null,\"recovery_url\":null}}}";

static const char KEEPALIVE[] =
    "{\"metadata\":{\"message_id\":\"84c1e79a-2a4b-4c13-ba0b-4312293e9308\","
    "\"message_type\":\"session_keepalive\",\"message_timestamp\":\"2023-07-"
    "19T10:11:12.634234626Z\"},\"payload\":{}}";

static const char RECONNECT[] =
    "{\"metadata\":{\"message_id\":\"84c1e79a-2a4b-4c13-ba0b-4312293e9308\","
    "\"message_type\":\"session_reconnect\",\"message_timestamp\":\"2022-11-"
    "18T09:10:11.634234626Z\"},\"payload\":{\"session\":{\"id\":"
    "\"AQoQexAWVYKSTIu4ec_2VAxyuhAB\",\"status\":\"reconnecting\","
    "\"keepalive_timeout_seconds\":null,\"reconnect_url\":\"wss://"
    "eventsub.wss.twitch.tv?x=1\",\"connected_at\":\"2022-11-16T10:11:12."
    "634234626Z\"}}}";

static const char REVOCATION[] =
    "{\"metadata\":{\"message_id\":\"84c1e79a-2a4b-4c13-ba0b-4312293e9308\","
    "\"message_type\":\"revocation\",\"message_timestamp\":\"2022-11-16T10:"
    "11:12.464757833Z\",\"subscription_type\":\"channel.follow\","
    "\"subscription_version\":\"1\"},\"payload\":{\"subscription\":{\"id\":"
    "\"f1c2a387-161a-49f9-a165-0f21d7a4e1c4\",\"status\":\"authorization_"
    "revoked\",\"type\":\"channel.follow\",\"version\":\"1\",\"cost\":1,"
    "\"condition\":{\"broadcaster_user_id\":\"12826\"},\"transport\":{"
    "\"method\":\"websocket\",\"session_id\":\"AQoQexAWVYKSTIu4ec_2VAxyuhAB\""
    "},\"created_at\":\"2022-11-16T10:11:12.464757833Z\"}}}";

/* A notification envelope around `event` (JSON text) of `type`. */
static char *notif(const char *type, const char *event) {
  size_t n = strlen(event) + 1024;
  char *s = malloc(n);
  snprintf(s, n,
           "{\"metadata\":{\"message_id\":\"msg-1\",\"message_type\":"
           "\"notification\",\"message_timestamp\":\"2022-11-16T10:11:12Z\","
           "\"subscription_type\":\"%s\",\"subscription_version\":\"1\"},"
           "\"payload\":{\"subscription\":{\"id\":\"sub-1\",\"status\":"
           "\"enabled\",\"type\":\"%s\",\"version\":\"1\",\"cost\":0,"
           "\"condition\":{\"broadcaster_user_id\":\"1337\"},\"transport\":{"
           "\"method\":\"websocket\",\"session_id\":\"x\"},\"created_at\":"
           "\"2022-11-16T10:11:12Z\"},\"event\":%s}}",
           type, type, event);
  return s;
}

static tw_event_t *map(const char *type, const char *event) {
  char *s = notif(type, event);
  tw_eventsub_msg_t m;
  char err[TW_MAX_EVENTSUB_ERR];
  assert_int_equal(tw_eventsub_decode(s, strlen(s), &m, err, sizeof(err)), 0);
  assert_int_equal(m.type, TW_EVENTSUB_MSG_NOTIFICATION);
  tw_event_t *ev = NULL;
  int rc = tw_eventsub_to_event(&m, "twitch", &ev, err, sizeof(err));
  if (rc)
    fail_msg("mapping %s: %s (%s)", type, tw_strerror(rc), err);
  assert_string_equal(ev->event_id, "msg-1");
  assert_string_equal(ev->connector, "twitch");
  assert_non_null(ev->raw);
  assert_int_equal(ev->raw[0], '{');
  tw_eventsub_msg_free(&m);
  free(s);
  return ev;
}

static int64_t ms(const char *t) {
  int64_t v = 0;
  assert_int_equal(tw_event_time_parse(t, &v), 0);
  return v;
}

static void test_welcome(void **state) {
  (void)state;
  tw_eventsub_msg_t m;
  assert_int_equal(tw_eventsub_decode(WELCOME, strlen(WELCOME), &m, NULL, 0),
                   0);
  assert_int_equal(m.type, TW_EVENTSUB_MSG_WELCOME);
  assert_string_equal(m.message_id, "96a3f3b5-5dec-4eed-908e-e11ee657416c");
  assert_string_equal(m.message_timestamp, "2023-07-19T14:56:51.634234626Z");
  assert_string_equal(m.session.id, "AQoQILE98gtqShGmLD7AM6yJThAB");
  assert_string_equal(m.session.status, "connected");
  assert_int_equal(m.session.keepalive_timeout_seconds, 10);
  assert_null(m.session.reconnect_url);
  tw_eventsub_msg_free(&m);
  assert_null(m.json_);
}

static void test_keepalive_and_unknown(void **state) {
  (void)state;
  tw_eventsub_msg_t m;
  assert_int_equal(
      tw_eventsub_decode(KEEPALIVE, strlen(KEEPALIVE), &m, NULL, 0), 0);
  assert_int_equal(m.type, TW_EVENTSUB_MSG_KEEPALIVE);
  tw_eventsub_msg_free(&m);
  /* A future message type is not an error: the connection must survive. */
  const char *u = "{\"metadata\":{\"message_id\":\"a\",\"message_type\":"
                  "\"session_recover\",\"message_timestamp\":\"t\"}}";
  assert_int_equal(tw_eventsub_decode(u, strlen(u), &m, NULL, 0), 0);
  assert_int_equal(m.type, TW_EVENTSUB_MSG_UNKNOWN);
  assert_string_equal(m.message_type, "session_recover");
  tw_eventsub_msg_free(&m);
}

static void test_reconnect_and_revocation(void **state) {
  (void)state;
  tw_eventsub_msg_t m;
  assert_int_equal(
      tw_eventsub_decode(RECONNECT, strlen(RECONNECT), &m, NULL, 0), 0);
  assert_int_equal(m.type, TW_EVENTSUB_MSG_RECONNECT);
  assert_string_equal(m.session.reconnect_url,
                      "wss://eventsub.wss.twitch.tv?x=1");
  assert_int_equal(m.session.keepalive_timeout_seconds, -1);
  tw_eventsub_msg_free(&m);
  assert_int_equal(
      tw_eventsub_decode(REVOCATION, strlen(REVOCATION), &m, NULL, 0), 0);
  assert_int_equal(m.type, TW_EVENTSUB_MSG_REVOCATION);
  assert_string_equal(m.subscription.status, "authorization_revoked");
  assert_string_equal(m.subscription.id,
                      "f1c2a387-161a-49f9-a165-0f21d7a4e1c4");
  assert_string_equal(tw_eventsub_condition(&m, "broadcaster_user_id"),
                      "12826");
  assert_null(tw_eventsub_condition(&m, "nope"));
  assert_null(m.event);
  tw_eventsub_msg_free(&m);
}

static void expect_parse_error(const char *s, const char *needle) {
  tw_eventsub_msg_t m;
  char err[TW_MAX_EVENTSUB_ERR];
  int rc = tw_eventsub_decode(s, strlen(s), &m, err, sizeof(err));
  if (rc != TW_EPARSE)
    fail_msg("expected TW_EPARSE for %s, got %d", s, rc);
  if (strstr(err, needle) == NULL)
    fail_msg("error '%s' does not mention '%s'", err, needle);
  tw_eventsub_msg_free(&m);
}

static void test_malformed(void **state) {
  (void)state;
  expect_parse_error("", "not JSON");
  expect_parse_error("[1]", "not a JSON object");
  expect_parse_error("{\"metadata\":1}", "metadata");
  expect_parse_error("{\"metadata\":{\"message_type\":\"session_keepalive\","
                     "\"message_timestamp\":\"t\"}}",
                     "message_id");
  expect_parse_error("{\"metadata\":{\"message_id\":\"a\",\"message_type\":"
                     "\"session_welcome\",\"message_timestamp\":\"t\"},"
                     "\"payload\":{\"session\":{\"id\":\"s\"}}}",
                     "keepalive_timeout_seconds");
  expect_parse_error("{\"metadata\":{\"message_id\":\"a\",\"message_type\":"
                     "\"session_welcome\",\"message_timestamp\":\"t\"},"
                     "\"payload\":{\"session\":{\"id\":\"s\","
                     "\"keepalive_timeout_seconds\":0}}}",
                     "out of range");
  expect_parse_error("{\"metadata\":{\"message_id\":\"a\",\"message_type\":"
                     "\"session_reconnect\",\"message_timestamp\":\"t\"},"
                     "\"payload\":{\"session\":{\"id\":\"s\"}}}",
                     "reconnect_url");
  expect_parse_error("{\"metadata\":{\"message_id\":\"a\",\"message_type\":"
                     "\"notification\",\"message_timestamp\":\"t\"},"
                     "\"payload\":{\"subscription\":{\"id\":\"s\",\"type\":"
                     "\"x\",\"version\":\"1\",\"condition\":{}}}}",
                     "payload.event");
  expect_parse_error("{\"metadata\":{\"message_id\":\"a\",\"message_id\":\"b\","
                     "\"message_type\":\"session_keepalive\","
                     "\"message_timestamp\":\"t\"}}",
                     "not JSON");
  /* An id too long for the dedupe ring. */
  char big[600];
  memset(big, 'a', sizeof(big));
  char msg[800];
  snprintf(msg, sizeof(msg),
           "{\"metadata\":{\"message_id\":\"%.*s\",\"message_type\":"
           "\"session_keepalive\",\"message_timestamp\":\"t\"}}",
           (int)sizeof(big), big);
  expect_parse_error(msg, "longer");
  tw_eventsub_msg_t m;
  assert_int_equal(tw_eventsub_decode(NULL, 0, &m, NULL, 0), TW_EINVAL);
}

static void test_map_follow(void **state) {
  (void)state;
  tw_event_t *ev =
      map("channel.follow",
          "{\"user_id\":\"1234\",\"user_login\":\"cool_user\",\"user_name\":"
          "\"Cool_User\",\"broadcaster_user_id\":\"1337\",\"broadcaster_user_"
          "login\":\"cooler_user\",\"broadcaster_user_name\":\"Cooler_User\","
          "\"followed_at\":\"2020-07-15T18:16:11.17106713Z\"}");
  assert_int_equal(ev->kind, TW_EVENT_USER_FOLLOWED);
  assert_string_equal(ev->u.user_followed.follower, "cool_user");
  assert_int_equal(ev->u.user_followed.followed_at,
                   ms("2020-07-15T18:16:11.171Z"));
  assert_string_equal(ev->user, "cool_user");
  assert_string_equal(ev->user_id, "1234");
  assert_string_equal(ev->target, "#cooler_user");
  tw_event_free(ev);
}

static void test_map_subs(void **state) {
  (void)state;
  tw_event_t *ev =
      map("channel.subscribe",
          "{\"user_id\":\"1234\",\"user_login\":\"cool_user\",\"user_name\":"
          "\"Cool_User\",\"broadcaster_user_id\":\"1337\",\"broadcaster_user_"
          "login\":\"cooler_user\",\"broadcaster_user_name\":\"Cooler_User\","
          "\"tier\":\"2000\",\"is_gift\":true}");
  assert_int_equal(ev->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(ev->u.user_subscribed.tier, "2000");
  assert_true(ev->u.user_subscribed.is_gift);
  assert_null(ev->u.user_subscribed.message);
  assert_string_equal(ev->user, "cool_user");
  tw_event_free(ev);
  ev = map("channel.subscription.message",
           "{\"user_id\":\"1234\",\"user_login\":\"cool_user\",\"user_name\":"
           "\"Cool_User\",\"broadcaster_user_id\":\"1337\",\"broadcaster_"
           "user_login\":\"cooler_user\",\"broadcaster_user_name\":\"Cooler_"
           "User\",\"tier\":\"1000\",\"message\":{\"text\":\"Love the "
           "stream! FevziGG\",\"emotes\":[{\"begin\":23,\"end\":30,\"id\":"
           "\"302976485\"}]},\"cumulative_months\":15,\"streak_months\":1,"
           "\"duration_months\":6}");
  assert_int_equal(ev->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(ev->u.user_subscribed.message,
                      "Love the stream! FevziGG");
  assert_int_equal(ev->u.user_subscribed.months, 15);
  assert_string_equal(ev->u.user_subscribed.tier, "1000");
  assert_false(ev->u.user_subscribed.is_gift);
  tw_event_free(ev);
}

static void test_map_gift(void **state) {
  (void)state;
  tw_event_t *ev =
      map("channel.subscription.gift",
          "{\"user_id\":\"1234\",\"user_login\":\"cool_user\",\"user_name\":"
          "\"Cool_User\",\"broadcaster_user_id\":\"1337\",\"broadcaster_user_"
          "login\":\"cooler_user\",\"broadcaster_user_name\":\"Cooler_User\","
          "\"total\":2,\"tier\":\"1000\",\"cumulative_total\":284,\"is_"
          "anonymous\":false}");
  assert_int_equal(ev->kind, TW_EVENT_USER_GIFTED_SUBSCRIPTION);
  assert_string_equal(ev->u.user_gifted_subscription.gifter_name, "Cool_User");
  assert_null(ev->u.user_gifted_subscription.gifted_name);
  assert_string_equal(ev->user, "cool_user");
  tw_event_free(ev);
  ev = map("channel.subscription.gift",
           "{\"user_id\":null,\"user_login\":null,\"user_name\":null,"
           "\"broadcaster_user_id\":\"1337\",\"broadcaster_user_login\":"
           "\"cooler_user\",\"broadcaster_user_name\":\"Cooler_User\","
           "\"total\":5,\"tier\":\"1000\",\"cumulative_total\":null,"
           "\"is_anonymous\":true}");
  assert_string_equal(ev->u.user_gifted_subscription.gifter_name, "anonymous");
  assert_null(ev->user);
  tw_event_free(ev);
}

static void test_map_stream_raid_ban_cheer(void **state) {
  (void)state;
  tw_event_t *ev = map(
      "stream.online",
      "{\"id\":\"9001\",\"broadcaster_user_id\":\"1337\",\"broadcaster_user_"
      "login\":\"cool_user\",\"broadcaster_user_name\":\"Cool_User\",\"type\":"
      "\"live\",\"started_at\":\"2020-10-11T10:11:12.123Z\"}");
  assert_int_equal(ev->kind, TW_EVENT_STREAM_STARTED);
  assert_int_equal(ev->u.stream_started.started_at,
                   ms("2020-10-11T10:11:12.123Z"));
  assert_null(ev->u.stream_started.title);
  assert_string_equal(ev->target, "#cool_user");
  assert_string_equal(ev->user_id, "1337");
  tw_event_free(ev);
  ev = map("stream.offline",
           "{\"broadcaster_user_id\":\"1337\",\"broadcaster_user_login\":"
           "\"cool_user\",\"broadcaster_user_name\":\"Cool_User\"}");
  assert_int_equal(ev->kind, TW_EVENT_STREAM_ENDED);
  assert_string_equal(ev->target, "#cool_user");
  tw_event_free(ev);
  ev = map("channel.raid",
           "{\"from_broadcaster_user_id\":\"1234\",\"from_broadcaster_user_"
           "login\":\"cool_user\",\"from_broadcaster_user_name\":\"Cool_"
           "User\",\"to_broadcaster_user_id\":\"1337\",\"to_broadcaster_user_"
           "login\":\"cooler_user\",\"to_broadcaster_user_name\":\"Cooler_"
           "User\",\"viewers\":9001}");
  assert_int_equal(ev->kind, TW_EVENT_RAID);
  assert_string_equal(ev->u.raid.raider, "cool_user");
  assert_int_equal(ev->u.raid.viewers, 9001);
  assert_string_equal(ev->target, "#cooler_user");
  assert_string_equal(ev->user_id, "1234");
  tw_event_free(ev);
  ev = map("channel.ban",
           "{\"user_id\":\"1234\",\"user_login\":\"cool_user\",\"user_name\":"
           "\"Cool_User\",\"broadcaster_user_id\":\"1337\",\"broadcaster_"
           "user_login\":\"cooler_user\",\"broadcaster_user_name\":\"Cooler_"
           "User\",\"moderator_user_id\":\"1339\",\"moderator_user_login\":"
           "\"mod_user\",\"moderator_user_name\":\"Mod_User\",\"reason\":"
           "\"Offensive language\",\"banned_at\":\"2020-07-15T18:15:11."
           "17106713Z\",\"ends_at\":\"2020-07-15T18:16:11.17106713Z\",\"is_"
           "permanent\":false}");
  assert_int_equal(ev->kind, TW_EVENT_USER_BANNED);
  assert_int_equal(ev->u.user_banned.duration, 60);
  assert_string_equal(ev->u.user_banned.room_id, "1337");
  assert_string_equal(ev->user, "cool_user");
  tw_event_free(ev);
  ev = map("channel.ban",
           "{\"user_id\":\"1234\",\"user_login\":\"cool_user\","
           "\"broadcaster_user_id\":\"1337\",\"broadcaster_user_login\":"
           "\"cooler_user\",\"banned_at\":\"2020-07-15T18:15:11Z\","
           "\"ends_at\":null,\"is_permanent\":true}");
  assert_int_equal(ev->u.user_banned.duration, 0);
  tw_event_free(ev);
  ev = map("channel.cheer",
           "{\"is_anonymous\":false,\"user_id\":\"1234\",\"user_login\":"
           "\"cool_user\",\"user_name\":\"Cool_User\",\"broadcaster_user_id\":"
           "\"1337\",\"broadcaster_user_login\":\"cooler_user\","
           "\"broadcaster_user_name\":\"Cooler_User\",\"message\":"
           "\"pogchamp\",\"bits\":1000}");
  assert_int_equal(ev->kind, TW_EVENT_CHEER);
  assert_int_equal(ev->u.cheer.bits, 1000);
  assert_string_equal(ev->u.cheer.message, "pogchamp");
  assert_string_equal(tw_event_kind_name(ev->kind), "Cheer");
  assert_string_equal(ev->user, "cool_user");
  tw_event_free(ev);
}

static void test_map_errors(void **state) {
  (void)state;
  char *s = notif("channel.follow", "{\"user_login\":\"x\"}");
  tw_eventsub_msg_t m;
  char err[TW_MAX_EVENTSUB_ERR];
  assert_int_equal(tw_eventsub_decode(s, strlen(s), &m, NULL, 0), 0);
  tw_event_t *ev = (tw_event_t *)1;
  assert_int_equal(tw_eventsub_to_event(&m, NULL, &ev, err, sizeof(err)),
                   TW_EPARSE);
  assert_null(ev);
  assert_non_null(strstr(err, "broadcaster_user_login"));
  tw_eventsub_msg_free(&m);
  free(s);
  s = notif("channel.update", "{\"broadcaster_user_login\":\"x\"}");
  assert_int_equal(tw_eventsub_decode(s, strlen(s), &m, NULL, 0), 0);
  assert_int_equal(tw_eventsub_to_event(&m, NULL, &ev, err, sizeof(err)),
                   TW_EUNSUPPORTED);
  tw_eventsub_msg_free(&m);
  free(s);
  s = notif("channel.cheer", "{\"broadcaster_user_login\":\"x\",\"bits\":"
                             "\"many\"}");
  assert_int_equal(tw_eventsub_decode(s, strlen(s), &m, NULL, 0), 0);
  assert_int_equal(tw_eventsub_to_event(&m, NULL, &ev, err, sizeof(err)),
                   TW_EPARSE);
  assert_non_null(strstr(err, "bits"));
  tw_eventsub_msg_free(&m);
  free(s);
  assert_string_equal(tw_eventsub_type_scope("channel.follow"),
                      "moderator:read:followers");
  assert_null(tw_eventsub_type_scope("stream.online"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_welcome),
      cmocka_unit_test(test_keepalive_and_unknown),
      cmocka_unit_test(test_reconnect_and_revocation),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_map_follow),
      cmocka_unit_test(test_map_subs),
      cmocka_unit_test(test_map_gift),
      cmocka_unit_test(test_map_stream_raid_ban_cheer),
      cmocka_unit_test(test_map_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
