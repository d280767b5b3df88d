/* EventSub webhook verification (sans-IO): the two signature test vectors
 * of docs/twitch-protocol.md 3.4, the three message types, and every
 * refusal with its status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"
#include "twitchd/eventsub_events.h"
#include "twitchd/eventsub_webhook.h"

/* Vector 1 (twitch_api tests): a channel.follow notification. */
static const char V1_SECRET[] = "secretabcd";
static const char V1_ID[] = "ae2ff348-e102-16be-a3eb-6830c1bf38d2";
static const char V1_TS[] = "2021-02-19T23:47:00.8091512Z";
static const char V1_BODY[] =
    "{\"subscription\":{\"id\":\"ae2ff348-e102-16be-a3eb-6830c1bf38d2\","
    "\"status\":\"enabled\",\"type\":\"channel.follow\",\"version\":\"1\","
    "\"condition\":{\"broadcaster_user_id\":\"44429626\"},\"transport\":{"
    "\"method\":\"webhook\",\"callback\":\"null\"},\"created_at\":\"2021-02-"
    "19T23:47:00.7621315Z\"},\"event\":{\"user_id\":\"28408015\",\"user_"
    "login\":\"testFromUser\",\"user_name\":\"testFromUser\",\"broadcaster_"
    "user_id\":\"44429626\",\"broadcaster_user_login\":\"44429626\","
    "\"broadcaster_user_name\":\"testBroadcaster\"}}";
static const char V1_SIG[] =
    "sha256=d10f5bd9474b7ac7bd7105eb79c2d52768b4d0cd2a135982c3bf5a1d59a78823";

/* Vector 2 (computed for the doc): a challenge. */
static const char V2_SECRET[] = "s3cRe7s3cRe7";
static const char V2_ID[] = "e76c6bd4-55c9-4987-8304-da1588d8988b";
static const char V2_TS[] = "2025-06-01T12:00:00.123456789Z";
static const char V2_BODY[] =
    "{\"challenge\":\"pogchamp-kappa-360noscope-vohiyo\",\"subscription\":{"
    "\"id\":\"f1c2a387-161a-49f9-a165-0f21d7a4e1c4\",\"status\":\"webhook_"
    "callback_verification_pending\",\"type\":\"stream.online\",\"version\":"
    "\"1\",\"cost\":1,\"condition\":{\"broadcaster_user_id\":\"1337\"},"
    "\"transport\":{\"method\":\"webhook\",\"callback\":\"https://example.com/"
    "webhooks/callback\"},\"created_at\":\"2025-06-01T11:59:59.634234626Z\"}}";
static const char V2_SIG[] =
    "sha256=873ba5962ff251fcb92f0fd0aa1bd8efcfab0b3cef83afa332f9b8e52427f1ed";

static int64_t ts_ms(const char *ts) {
  int64_t ms = 0;
  assert_int_equal(tw_eventsub_webhook_parse_time(ts, &ms), 0);
  return ms;
}

static void test_vectors_sign(void **state) {
  (void)state;
  char sig[TW_EVENTSUB_WEBHOOK_SIG_BUF];
  assert_int_equal(strlen(V1_BODY), 458);
  assert_int_equal(strlen(V2_BODY), 377);
  assert_int_equal(tw_eventsub_webhook_sign(V1_SECRET, V1_ID, V1_TS, V1_BODY,
                                            strlen(V1_BODY), sig, sizeof(sig)),
                   0);
  assert_string_equal(sig, V1_SIG);
  assert_int_equal(tw_eventsub_webhook_sign(V2_SECRET, V2_ID, V2_TS, V2_BODY,
                                            strlen(V2_BODY), sig, sizeof(sig)),
                   0);
  assert_string_equal(sig, V2_SIG);
  assert_int_equal(tw_eventsub_webhook_sign(V2_SECRET, V2_ID, V2_TS, V2_BODY,
                                            strlen(V2_BODY), sig, 10),
                   TW_ETOOBIG);
  assert_int_equal(
      tw_eventsub_webhook_sign(NULL, V2_ID, V2_TS, "", 0, sig, sizeof(sig)),
      TW_EINVAL);
}

static void test_notification_vector(void **state) {
  (void)state;
  tw_eventsub_webhook_headers_t h = {
      V1_ID, "0", "notification", V1_SIG, V1_TS, "channel.follow", "1"};
  tw_eventsub_wh_verdict_t v;
  int64_t now = ts_ms(V1_TS) + 5000;
  assert_int_equal(tw_eventsub_webhook_verify(&h, V1_BODY, strlen(V1_BODY),
                                              V1_SECRET, now, &v),
                   0);
  assert_int_equal(v.kind, TW_EVENTSUB_WH_NOTIFICATION);
  assert_int_equal(v.status, 204);
  assert_int_equal(v.msg.type, TW_EVENTSUB_MSG_NOTIFICATION);
  assert_string_equal(v.msg.message_id, V1_ID);
  assert_string_equal(v.msg.message_timestamp, V1_TS);
  assert_string_equal(v.msg.subscription.type, "channel.follow");
  assert_string_equal(tw_eventsub_condition(&v.msg, "broadcaster_user_id"),
                      "44429626");
  assert_non_null(v.msg.event);
  assert_int_equal(v.timestamp_ms, ts_ms(V1_TS));
  tw_eventsub_webhook_verdict_free(&v);

  /* An uppercase hex signature is the same value. */
  char up[sizeof(V1_SIG)];
  memcpy(up, V1_SIG, sizeof(V1_SIG));
  for (char *p = up + 7; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  h.signature = up;
  h.message_retry = "3";
  tw_eventsub_webhook_verify(&h, V1_BODY, strlen(V1_BODY), V1_SECRET, now, &v);
  assert_int_equal(v.kind, TW_EVENTSUB_WH_NOTIFICATION);
  assert_int_equal(v.retry, 3);
  tw_eventsub_webhook_verdict_free(&v);
}

static void test_challenge_vector(void **state) {
  (void)state;
  tw_eventsub_webhook_headers_t h = {
      V2_ID,           "0", "webhook_callback_verification", V2_SIG, V2_TS,
      "stream.online", "1"};
  tw_eventsub_wh_verdict_t v;
  assert_int_equal(tw_eventsub_webhook_verify(&h, V2_BODY, strlen(V2_BODY),
                                              V2_SECRET, ts_ms(V2_TS) - 30000,
                                              &v),
                   0);
  assert_int_equal(v.kind, TW_EVENTSUB_WH_CHALLENGE);
  assert_int_equal(v.status, 200);
  assert_string_equal(v.challenge, "pogchamp-kappa-360noscope-vohiyo");
  assert_int_equal(v.challenge_len, strlen("pogchamp-kappa-360noscope-vohiyo"));
  assert_string_equal(v.msg.subscription.id,
                      "f1c2a387-161a-49f9-a165-0f21d7a4e1c4");
  assert_string_equal(v.msg.subscription.type, "stream.online");
  tw_eventsub_webhook_verdict_free(&v);
}

/* Signs `body` with `secret` and verifies it with type `type`. */
static void judge(const char *type, const char *ts, const char *body,
                  const char *secret, int64_t now,
                  tw_eventsub_wh_verdict_t *v) {
  static char sig[TW_EVENTSUB_WEBHOOK_SIG_BUF];
  assert_int_equal(tw_eventsub_webhook_sign(secret, "m-1", ts, body,
                                            strlen(body), sig, sizeof(sig)),
                   0);
  tw_eventsub_webhook_headers_t h = {"m-1", "0", type, sig, ts, NULL, NULL};
  assert_int_equal(
      tw_eventsub_webhook_verify(&h, body, strlen(body), secret, now, v), 0);
}

static void test_revocation(void **state) {
  (void)state;
  const char *body =
      "{\"subscription\":{\"id\":\"s1\",\"status\":\"authorization_revoked\","
      "\"type\":\"channel.follow\",\"version\":\"2\",\"condition\":{"
      "\"broadcaster_user_id\":\"7\"}}}";
  const char *ts = "2026-11-26T03:00:00Z";
  tw_eventsub_wh_verdict_t v;
  judge("revocation", ts, body, "0123456789", ts_ms(ts), &v);
  assert_int_equal(v.kind, TW_EVENTSUB_WH_REVOCATION);
  assert_int_equal(v.status, 204);
  assert_string_equal(v.msg.subscription.status, "authorization_revoked");
  assert_string_equal(v.msg.subscription.id, "s1");
  tw_eventsub_webhook_verdict_free(&v);
}

static void expect_refusal(tw_eventsub_wh_verdict_t *v, int status,
                           const char *needle) {
  assert_int_equal(v->kind, TW_EVENTSUB_WH_REFUSE);
  assert_int_equal(v->status, status);
  if (strstr(v->reason, needle) == NULL)
    fail_msg("reason \"%s\" lacks \"%s\"", v->reason, needle);
  tw_eventsub_webhook_verdict_free(v);
}

static void test_refusals_headers_signature(void **state) {
  (void)state;
  int64_t now = ts_ms(V1_TS);
  size_t n = strlen(V1_BODY);
  tw_eventsub_wh_verdict_t v;
  const tw_eventsub_webhook_headers_t good = {
      V1_ID, "0", "notification", V1_SIG, V1_TS, "channel.follow", "1"};
  tw_eventsub_webhook_headers_t h;

  h = good;
  h.message_id = NULL;
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 400, "Message-Id");
  h = good;
  h.message_type = "";
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 400, "Message-Type");
  h = good;
  h.signature = NULL;
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 400, "Message-Signature");
  h = good;
  h.timestamp = NULL;
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 400, "Message-Timestamp");

  /* Wrong secret, tampered body (one byte), wrong id, malformed value. */
  tw_eventsub_webhook_verify(&good, V1_BODY, n, "secretabce", now, &v);
  expect_refusal(&v, 403, "does not match");
  char *tampered = strdup(V1_BODY);
  tampered[n - 5] = 'X';
  tw_eventsub_webhook_verify(&good, tampered, n, V1_SECRET, now, &v);
  expect_refusal(&v, 403, "does not match");
  free(tampered);
  tw_eventsub_webhook_verify(&good, V1_BODY, n - 1, V1_SECRET, now, &v);
  expect_refusal(&v, 403, "does not match");
  h = good;
  h.message_id = "ae2ff348-e102-16be-a3eb-6830c1bf38d3";
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 403, "does not match");
  h = good;
  h.signature = V1_SIG + 7; /* no "sha256=" */
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 403, "sha256=");
  h = good;
  h.signature = "sha1=d10f5bd9474b7ac7bd7105eb79c2d52768b4d0cd2a135982c3bf5a1"
                "d59a78823xx";
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 403, "sha256=");
  h = good;
  h.signature = "sha256=d10f";
  tw_eventsub_webhook_verify(&h, V1_BODY, n, V1_SECRET, now, &v);
  expect_refusal(&v, 403, "sha256=");

  /* NULL arguments. */
  assert_int_equal(
      tw_eventsub_webhook_verify(NULL, V1_BODY, n, V1_SECRET, now, &v),
      TW_EINVAL);
  assert_int_equal(v.status, 400);
  tw_eventsub_webhook_verdict_free(&v);
  assert_int_equal(
      tw_eventsub_webhook_verify(&good, V1_BODY, n, V1_SECRET, now, NULL),
      TW_EINVAL);
}

static void test_refusals_time(void **state) {
  (void)state;
  int64_t t = ts_ms(V1_TS);
  size_t n = strlen(V1_BODY);
  tw_eventsub_wh_verdict_t v;
  const tw_eventsub_webhook_headers_t good = {
      V1_ID, "0", "notification", V1_SIG, V1_TS, "channel.follow", "1"};
  /* Exactly at the edge of the window is accepted; one ms later is not. */
  tw_eventsub_webhook_verify(&good, V1_BODY, n, V1_SECRET,
                             t + TW_EVENTSUB_WEBHOOK_MAX_AGE_S * 1000, &v);
  assert_int_equal(v.kind, TW_EVENTSUB_WH_NOTIFICATION);
  tw_eventsub_webhook_verdict_free(&v);
  tw_eventsub_webhook_verify(&good, V1_BODY, n, V1_SECRET,
                             t + TW_EVENTSUB_WEBHOOK_MAX_AGE_S * 1000 + 1, &v);
  expect_refusal(&v, 403, "old");
  tw_eventsub_webhook_verify(&good, V1_BODY, n, V1_SECRET,
                             t - TW_EVENTSUB_WEBHOOK_MAX_FUTURE_S * 1000 - 1,
                             &v);
  expect_refusal(&v, 403, "future");
  tw_eventsub_webhook_verify(&good, V1_BODY, n, V1_SECRET,
                             t - TW_EVENTSUB_WEBHOOK_MAX_FUTURE_S * 1000, &v);
  assert_int_equal(v.kind, TW_EVENTSUB_WH_NOTIFICATION);
  tw_eventsub_webhook_verdict_free(&v);

  /* A signed but unparsable timestamp. */
  judge("notification", "yesterday", V1_BODY, "0123456789", t, &v);
  expect_refusal(&v, 403, "RFC 3339");

  /* Offsets and fractions. */
  assert_int_equal(ts_ms("2021-02-19T23:47:00Z"),
                   ts_ms("2021-02-20T01:47:00+02:00"));
  assert_int_equal(ts_ms("1970-01-01T00:00:01.5Z"), 1500);
  int64_t ms;
  assert_int_equal(tw_eventsub_webhook_parse_time("2021-02-30T00:00:00Z", &ms),
                   TW_EPARSE);
  assert_int_equal(tw_eventsub_webhook_parse_time("2021-02-19T23:47:00", &ms),
                   TW_EPARSE);
  assert_int_equal(tw_eventsub_webhook_parse_time("2021-02-19T23:47:00.Z", &ms),
                   TW_EPARSE);
  assert_int_equal(
      tw_eventsub_webhook_parse_time("2021-02-19T23:47:00Zjunk", &ms),
      TW_EPARSE);
}

static void test_refusals_body_type(void **state) {
  (void)state;
  const char *ts = "2026-11-26T03:00:00Z";
  int64_t now = ts_ms(ts);
  tw_eventsub_wh_verdict_t v;
  judge("notification.v2", ts, V1_BODY, "0123456789", now, &v);
  expect_refusal(&v, 400, "unknown message type");
  judge("notification", ts, "{not json", "0123456789", now, &v);
  expect_refusal(&v, 400, "not JSON");
  judge("notification", ts,
        "{\"subscription\":{\"id\":\"s\",\"type\":\"t\",\"version\":\"1\","
        "\"condition\":{}}}",
        "0123456789", now, &v);
  expect_refusal(&v, 400, "event");
  judge("revocation", ts, "{\"event\":{}}", "0123456789", now, &v);
  expect_refusal(&v, 400, "subscription");
  judge("webhook_callback_verification", ts, "[1]", "0123456789", now, &v);
  expect_refusal(&v, 400, "not a JSON object");
  judge("webhook_callback_verification", ts,
        "{\"challenge\":\"\",\"subscription\":{\"id\":\"a\",\"type\":\"b\"}}",
        "0123456789", now, &v);
  expect_refusal(&v, 400, "challenge");
  judge("webhook_callback_verification", ts,
        "{\"challenge\":7,\"subscription\":{\"id\":\"a\",\"type\":\"b\"}}",
        "0123456789", now, &v);
  expect_refusal(&v, 400, "challenge");
  judge("webhook_callback_verification", ts, "{\"challenge\":\"abc\"}",
        "0123456789", now, &v);
  expect_refusal(&v, 400, "subscription");
  /* Duplicate members could smuggle two values past one signature check. */
  judge("webhook_callback_verification", ts,
        "{\"challenge\":\"a\",\"challenge\":\"b\",\"subscription\":{\"id\":"
        "\"a\",\"type\":\"b\"}}",
        "0123456789", now, &v);
  expect_refusal(&v, 400, "JSON");
  /* Over the body cap: refused before the MAC is computed. */
  size_t big = TW_MAX_EVENTSUB_WEBHOOK_BODY + 1;
  char *b = calloc(1, big);
  assert_non_null(b);
  tw_eventsub_webhook_headers_t h = {"m",  "0", "notification", V1_SIG, ts,
                                     NULL, NULL};
  tw_eventsub_webhook_verify(&h, b, big, "0123456789", now, &v);
  expect_refusal(&v, 400, "limit");
  free(b);
}

static void test_maps_to_event(void **state) {
  (void)state;
  const char *ts = "2026-11-26T03:00:00Z";
  const char *body =
      "{\"subscription\":{\"id\":\"s1\",\"status\":\"enabled\",\"type\":"
      "\"channel.follow\",\"version\":\"2\",\"condition\":{\"broadcaster_"
      "user_id\":\"7\",\"moderator_user_id\":\"7\"}},\"event\":{\"user_id\":"
      "\"9\",\"user_login\":\"fan\",\"user_name\":\"Fan\",\"broadcaster_user_"
      "id\":\"7\",\"broadcaster_user_login\":\"chan\",\"broadcaster_user_"
      "name\":\"Chan\",\"followed_at\":\"2026-11-26T02:59:59Z\"}}";
  tw_eventsub_wh_verdict_t v;
  judge("notification", ts, body, "0123456789", ts_ms(ts), &v);
  assert_int_equal(v.kind, TW_EVENTSUB_WH_NOTIFICATION);
  tw_event_t *ev = NULL;
  assert_int_equal(tw_eventsub_to_event(&v.msg, NULL, &ev, NULL, 0), 0);
  assert_int_equal(ev->kind, TW_EVENT_USER_FOLLOWED);
  assert_string_equal(ev->u.user_followed.follower, "fan");
  assert_string_equal(ev->event_id, "m-1");
  tw_event_free(ev);
  tw_eventsub_webhook_verdict_free(&v);
  tw_eventsub_webhook_verdict_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_sign),
      cmocka_unit_test(test_notification_vector),
      cmocka_unit_test(test_challenge_vector),
      cmocka_unit_test(test_revocation),
      cmocka_unit_test(test_refusals_headers_signature),
      cmocka_unit_test(test_refusals_time),
      cmocka_unit_test(test_refusals_body_type),
      cmocka_unit_test(test_maps_to_event),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
