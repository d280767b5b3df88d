/* Twitch actions through Helix, end to end against the scripted fake Helix
 * (helix_fake.h): each action kind becomes the documented request (method,
 * target with the channel's and the token user's ids, body), the users
 * cache saves Get Users requests, outcomes (success and typed failures)
 * reach the callback and the log, and bad actions are refused up front.
 * The log is captured at trace level and must never hold the token. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "helix_fake.h"
#include "net_test.h"
#include "test_tokens.h"

#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/twitch_actions.h"
#include "twitchd/uv_curl.h"

#define TOK "acttok-SECRETzzzzzzzzzz"
#define ME "5678"
#define MAX_RES 16

typedef struct {
  uint64_t seq;
  tw_event_kind_t kind;
  int err;
  int status;
  tw_helix_err_kind_t hkind;
  char channel[64];
  char detail[512];
} res_t;

typedef struct {
  uv_loop_t loop;
  tw_uvcurl_t *uc;
  helix_fake_t *fake;
  test_tokens_t *tt;
  tw_helix_client_t *hc;
  tw_twitch_actions_t *acts;
  res_t res[MAX_RES];
  size_t nres, want;
  FILE *log;
  char *logbuf;
  size_t loglen;
} fx_t;

static void on_result(const tw_twitch_action_result_t *r, void *arg) {
  fx_t *fx = arg;
  assert_true(fx->nres < MAX_RES);
  res_t *o = &fx->res[fx->nres++];
  o->seq = r->seq;
  o->kind = r->kind;
  o->err = r->err;
  o->status = r->http_status;
  o->hkind = r->error->kind;
  snprintf(o->channel, sizeof(o->channel), "%s", r->channel);
  snprintf(o->detail, sizeof(o->detail), "%s", r->detail);
}

static int enough(void *arg) {
  fx_t *fx = arg;
  return fx->nres >= fx->want;
}

static void wait_results(fx_t *fx, size_t n) {
  fx->want = n;
  assert_true(tw_test_run_until(&fx->loop, enough, fx, TW_TEST_WATCHDOG_MS));
}

static void make(fx_t *fx, bool via_helix) {
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.base_url = hf_base(fx->fake);
  o.client_id = "cid-test";
  o.tokens = tt_source(fx->tt);
  o.backoff_base_ms = 5;
  o.backoff_cap_ms = 20;
  o.clip_poll_ms = 10;
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &o, &fx->hc), 0);
  const char *channels[] = {"Chan", "#other"};
  tw_twitch_actions_opts_t ao;
  memset(&ao, 0, sizeof(ao));
  ao.channels = channels;
  ao.nchannels = 2;
  ao.send_chat_via_helix = via_helix;
  assert_int_equal(tw_twitch_actions_new(&fx->loop, fx->hc, &ao, &fx->acts), 0);
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  fx->uc = tw_uvcurl_new(&fx->loop);
  assert_int_equal(hf_start(&fx->loop, &fx->fake), 0);
  hf_add_user(fx->fake, "chan", "42");
  hf_add_user(fx->fake, "other", "43");
  hf_add_user(fx->fake, "baduser", "1001");
  fx->tt = tt_new(&fx->loop, TOK, ME, NULL, NULL);
  fx->log = open_memstream(&fx->logbuf, &fx->loglen);
  tw_log_set_output(fx->log);
  tw_log_set_level(TW_LOG_TRACE);
  *state = fx;
  return 0;
}

static void flag(void *arg) {
  *(int *)arg = 1;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  int a = 0, h = 0;
  if (fx->acts)
    tw_twitch_actions_close(fx->acts, flag, &a);
  else
    a = 1;
  tw_helix_client_close(fx->hc, flag, &h);
  assert_true(tw_test_run_flag(&fx->loop, &a));
  assert_true(tw_test_run_flag(&fx->loop, &h));
  tt_free(fx->tt);
  hf_close(fx->fake, NULL, NULL);
  tw_uvcurl_close(fx->uc, NULL, NULL);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  fclose(fx->log);
  assert_null(strstr(fx->logbuf, TOK));
  assert_null(strstr(fx->logbuf, "SECRET"));
  free(fx->logbuf);
  free(fx);
  return 0;
}

#define BAN_OK                                                                 \
  "{\"data\":[{\"broadcaster_id\":\"42\",\"moderator_id\":\"5678\","           \
  "\"user_id\":\"1001\",\"created_at\":\"2026-01-01T00:00:00Z\","              \
  "\"end_time\":null}]}"

static tw_event_t *ban(const char *user, int64_t duration, const char *reason,
                       const char *target) {
  tw_event_t *ev = tw_event_new(TW_EVENT_BAN_USER);
  assert_non_null(ev);
  if (user)
    assert_int_equal(tw_event_set_str(ev, "user", user), 0);
  assert_int_equal(tw_event_set_int(ev, "duration", duration), 0);
  if (reason)
    assert_int_equal(tw_event_set_str(ev, "reason", reason), 0);
  if (target)
    assert_int_equal(tw_event_set_str(ev, "target", target), 0);
  return ev;
}

static size_t count_users_query(fx_t *fx, const char *target) {
  size_t n = 0;
  for (size_t i = 0; i < hf_count(fx->fake); i++)
    n += strcmp(hf_rec(fx->fake, i)->target, target) == 0;
  return n;
}

/* BanUser: login -> id through Get Users, timeout with reason, the token's
 * user as moderator; a second ban of the same login costs no Get Users. */
static void test_ban_user(void **state) {
  fx_t *fx = *state;
  make(fx, false);
  hf_script(fx->fake, "POST", "/moderation/bans", 200,
            "{\"data\":[{\"broadcaster_id\":\"42\",\"moderator_id\":\"5678\","
            "\"user_id\":\"1001\",\"created_at\":\"2026-01-01T00:00:00Z\","
            "\"end_time\":\"2026-01-01T00:10:00Z\"}]}",
            700, 0);
  tw_event_t *ev = ban("BadUser", 600, "spam", "#chan");
  assert_true(tw_twitch_actions_handles(fx->acts, ev));
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev); /* the action keeps its own copies */
  assert_int_equal(fx->nres, 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].kind, TW_EVENT_BAN_USER);
  assert_string_equal(fx->res[0].channel, "chan");
  assert_int_equal(fx->res[0].status, 200);
  size_t n = hf_count(fx->fake);
  const hf_rec_t *r = hf_rec(fx->fake, n - 1);
  assert_string_equal(r->method, "POST");
  assert_string_equal(r->target,
                      "/moderation/bans?broadcaster_id=42&moderator_id=" ME);
  assert_string_equal(
      r->body, "{\"data\":{\"user_id\":\"1001\",\"duration\":600,\"reason\":"
               "\"spam\"}}");
  assert_int_equal(count_users_query(fx, "/users?login=chan"), 1);
  assert_int_equal(count_users_query(fx, "/users?login=baduser"), 1);

  /* again, permanent this time: no Get Users at all */
  hf_script(fx->fake, "POST", "/moderation/bans", 200, BAN_OK, 700, 0);
  ev = ban("baduser", 0, NULL, NULL);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, 0);
  assert_string_equal(fx->res[1].channel, "chan"); /* first channel */
  assert_int_equal(hf_count_path(fx->fake, "GET", "/users"), 2);
  r = hf_rec(fx->fake, hf_count(fx->fake) - 1);
  assert_string_equal(r->body, "{\"data\":{\"user_id\":\"1001\"}}");
  assert_non_null(strstr(fx->logbuf, "BanUser in #chan: done"));
}

/* Two bans of one login at once share one Get Users. */
static void test_ban_concurrent_one_lookup(void **state) {
  fx_t *fx = *state;
  make(fx, false);
  for (int i = 0; i < 2; i++) {
    hf_script(fx->fake, "POST", "/moderation/bans", 200, BAN_OK, 700, 0);
    tw_event_t *ev = ban("baduser", 60, NULL, "#chan");
    assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
    tw_event_free(ev);
  }
  wait_results(fx, 2);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[1].err, 0);
  assert_int_equal(count_users_query(fx, "/users?login=baduser"), 1);
  assert_int_equal(count_users_query(fx, "/users?login=chan"), 1);
  assert_int_equal(hf_count_path(fx->fake, "POST", "/moderation/bans"), 2);
}

/* Failures: an unknown user, a refused ban (not a moderator). */
static void test_ban_failures(void **state) {
  fx_t *fx = *state;
  make(fx, false);
  tw_event_t *ev = ban("ghost", 0, NULL, "#chan");
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_ENOTFOUND);
  assert_non_null(strstr(fx->res[0].detail, "ghost"));
  assert_int_equal(hf_count_path(fx->fake, "POST", "/moderation/bans"), 0);

  hf_script(fx->fake, "POST", "/moderation/bans", 403,
            "{\"error\":\"Forbidden\",\"status\":403,\"message\":\"not a "
            "moderator\"}",
            700, 0);
  ev = ban("baduser", 0, NULL, "#chan");
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, TW_EFORBIDDEN);
  assert_int_equal(fx->res[1].hkind, TW_HELIX_ERR_FORBIDDEN);
  assert_int_equal(fx->res[1].status, 403);
  assert_non_null(strstr(fx->logbuf, "BanUser in #chan failed"));
  tw_twitch_actions_stats_t st;
  tw_twitch_actions_stats(fx->acts, &st);
  assert_int_equal(st.failed, 2);
  assert_int_equal(st.pending, 0);
}

/* DeleteMessage, UpdateTitle (in the second channel), CreateClip. */
static void test_delete_title_clip(void **state) {
  fx_t *fx = *state;
  make(fx, false);
  hf_script(fx->fake, "DELETE", "/moderation/chat", 204, "", 700, 0);
  tw_event_t *ev = tw_event_new(TW_EVENT_DELETE_MESSAGE);
  tw_event_set_str(ev, "id", "msg-123");
  tw_event_set_str(ev, "target", "#chan");
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  const hf_rec_t *r = hf_rec(fx->fake, hf_count(fx->fake) - 1);
  assert_string_equal(r->method, "DELETE");
  assert_string_equal(r->target, "/moderation/chat?broadcaster_id=42&"
                                 "moderator_id=" ME "&message_id=msg-123");

  hf_script(fx->fake, "PATCH", "/channels", 204, "", 700, 0);
  ev = tw_event_new(TW_EVENT_UPDATE_TITLE);
  tw_event_set_str(ev, "status", "Speedrun \xc3\xa9t\xc3\xa9");
  tw_event_set_str(ev, "target", "#OTHER");
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, 0);
  assert_string_equal(fx->res[1].channel, "other");
  r = hf_rec(fx->fake, hf_count(fx->fake) - 1);
  assert_string_equal(r->target, "/channels?broadcaster_id=43");
  assert_string_equal(r->body, "{\"title\":\"Speedrun \xc3\xa9t\xc3\xa9\"}");

  hf_script(fx->fake, "POST", "/clips", 202,
            "{\"data\":[{\"id\":\"ClipX\",\"edit_url\":\"https://x/e\"}]}", 700,
            0);
  hf_script(fx->fake, "GET", "/clips", 200,
            "{\"data\":[{\"id\":\"ClipX\",\"url\":\"https://clips.twitch.tv/"
            "ClipX\",\"duration\":30,\"view_count\":0,\"vod_offset\":null,"
            "\"is_featured\":false}]}",
            700, 0);
  ev = tw_event_new(TW_EVENT_CREATE_CLIP);
  tw_event_set_str(ev, "target", "#chan");
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  wait_results(fx, 3);
  assert_int_equal(fx->res[2].err, 0);
  assert_non_null(strstr(fx->res[2].detail, "ClipX"));
  assert_non_null(strstr(fx->res[2].detail, "https://clips.twitch.tv/ClipX"));
  assert_int_equal(hf_count_path(fx->fake, "POST", "/clips"), 1);
  /* the seed's CreateClip(id=broadcaster id) skips the lookup */
  size_t users_before = hf_count_path(fx->fake, "GET", "/users");
  hf_script(fx->fake, "POST", "/clips", 404,
            "{\"error\":\"Not Found\",\"status\":404,\"message\":\"Clipping "
            "is not possible for an offline channel.\"}",
            700, 0);
  ev = tw_event_new(TW_EVENT_CREATE_CLIP);
  tw_event_set_str(ev, "id", "777");
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  wait_results(fx, 4);
  assert_int_equal(fx->res[3].err, TW_ENOTFOUND);
  assert_non_null(strstr(fx->res[3].detail, "offline"));
  assert_int_equal(hf_count_path(fx->fake, "GET", "/users"), users_before);
  r = hf_rec(fx->fake, hf_count(fx->fake) - 1);
  assert_string_equal(r->target, "/clips?broadcaster_id=777");
}

/* Message: through Send Chat Message when configured, with is_sent and the
 * drop reason reported; otherwise refused so the caller uses IRC. */
static void test_message(void **state) {
  fx_t *fx = *state;
  make(fx, true);
  hf_script(fx->fake, "POST", "/chat/messages", 200,
            "{\"data\":[{\"message_id\":\"m-1\",\"is_sent\":true}]}", 700, 0);
  hf_script(fx->fake, "POST", "/chat/messages", 200,
            "{\"data\":[{\"message_id\":\"\",\"is_sent\":false,\"drop_reason\":"
            "{\"code\":\"msg_duplicate\",\"message\":\"dup\"}}]}",
            700, 0);
  for (int i = 0; i < 2; i++) {
    tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
    tw_event_set_str(ev, "text", "hello chat");
    tw_event_set_str(ev, "target", "#chan");
    if (i == 0)
      tw_event_set_str(ev, "reply_parent_msg_id", "parent-1");
    assert_true(tw_twitch_actions_handles(fx->acts, ev));
    assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
    tw_event_free(ev);
    wait_results(fx, (size_t)i + 1);
  }
  assert_int_equal(fx->res[0].err, 0);
  assert_non_null(strstr(fx->res[0].detail, "m-1"));
  assert_int_equal(fx->res[1].err, TW_EEXIST);
  assert_non_null(strstr(fx->res[1].detail, "msg_duplicate"));
  const hf_rec_t *r = NULL;
  for (size_t i = 0; i < hf_count(fx->fake); i++)
    if (strcmp(hf_rec(fx->fake, i)->path, "/chat/messages") == 0) {
      r = hf_rec(fx->fake, i);
      break;
    }
  assert_non_null(r);
  assert_string_equal(r->body, "{\"broadcaster_id\":\"42\",\"sender_id\":\"" ME
                               "\",\"message\":\"hello chat\","
                               "\"reply_parent_message_id\":\"parent-1\"}");
}

static void test_message_via_irc(void **state) {
  fx_t *fx = *state;
  make(fx, false);
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  tw_event_set_str(ev, "text", "hello");
  assert_false(tw_twitch_actions_handles(fx->acts, ev));
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_EUNSUPPORTED);
  tw_event_free(ev);
  assert_int_equal(hf_count(fx->fake), 0);
}

/* Refused up front: unknown channel, missing fields, incoming kinds. */
static void test_refused(void **state) {
  fx_t *fx = *state;
  make(fx, true);
  tw_event_t *ev = ban("baduser", 0, NULL, "#elsewhere");
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_ENOTFOUND);
  tw_event_free(ev);
  ev = ban(NULL, 0, NULL, NULL);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_EINVAL);
  tw_event_free(ev);
  ev = ban("baduser", -5, NULL, NULL);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_EINVAL);
  tw_event_free(ev);
  ev = ban("baduser", 1209601, NULL, NULL);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_EINVAL);
  tw_event_free(ev);
  ev = tw_event_new(TW_EVENT_DELETE_MESSAGE);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_EINVAL);
  tw_event_free(ev);
  ev = tw_event_new(TW_EVENT_UPDATE_TITLE);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_EINVAL);
  tw_event_free(ev);
  ev = tw_event_new(TW_EVENT_USER_FOLLOWED);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx),
                   TW_EUNSUPPORTED);
  tw_event_free(ev);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  assert_int_equal(fx->nres, 0);
  assert_int_equal(hf_count(fx->fake), 0);
  /* bad options */
  tw_twitch_actions_t *a = NULL;
  const char *bad[] = {"no spaces"};
  tw_twitch_actions_opts_t o;
  memset(&o, 0, sizeof(o));
  o.channels = bad;
  o.nchannels = 1;
  assert_int_equal(tw_twitch_actions_new(&fx->loop, fx->hc, &o, &a), TW_EINVAL);
  o.nchannels = 0;
  assert_int_equal(tw_twitch_actions_new(&fx->loop, fx->hc, &o, &a), TW_EINVAL);
}

/* Closing with actions in progress reports each as cancelled. */
static void test_close_pending(void **state) {
  fx_t *fx = *state;
  make(fx, false);
  tw_event_t *ev = ban("baduser", 0, NULL, NULL);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  assert_int_equal(tw_twitch_actions_do(fx->acts, ev, on_result, fx), 0);
  tw_event_free(ev);
  int done = 0;
  tw_twitch_actions_close(fx->acts, flag, &done);
  fx->acts = NULL;
  assert_int_equal(fx->nres, 2);
  assert_int_equal(fx->res[0].err, TW_ECANCELED);
  assert_int_equal(fx->res[1].err, TW_ECANCELED);
  assert_true(tw_test_run_flag(&fx->loop, &done));
}

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ban_user, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ban_concurrent_one_lookup, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ban_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_title_clip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_message_via_irc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_pending, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
