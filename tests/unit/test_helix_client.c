/* The Helix client end to end against a scripted fake Helix (helix_fake.h)
 * on 127.0.0.1, port 0, everything on one loop: headers, typed results and
 * errors, the 401 refresh, 429 and bucket waits, which failures are
 * retried and which are not, the queue cap, cancellation, close, the users
 * cache, clip confirmation, and that no token reaches the log (captured at
 * trace level in every test). No test measures time; the 429 test checks
 * the order of events against the reset the fake announced. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <cmocka.h>
#include <uv.h>

#include "helix_fake.h"
#include "net_test.h"
#include "test_tokens.h"

#include "twitchd/error.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/uv_curl.h"

#define TOK1 "tok1-SECRETaaaaaaaaaaaa"
#define TOK2 "tok2-SECRETbbbbbbbbbbbb"
#define TOK3 "tok3-SECRETcccccccccccc"
#define ME "5678"
#define MAX_RES 32

typedef struct {
  uint64_t id;
  int err;
  int status;
  unsigned attempts;
  bool already_done;
  tw_helix_err_kind_t kind;
  char scope[128];
  char detail[512];
  size_t n; /* users, clips... */
  char first[128];
  bool is_sent;
  char drop[64];
  bool has_clip;
} res_t;

typedef struct {
  uv_loop_t loop;
  tw_uvcurl_t *uc;
  helix_fake_t *fake;
  test_tokens_t *tt;
  tw_helix_client_t *hc;
  res_t res[MAX_RES];
  size_t nres;
  size_t want;
  const char *mint_list[4];
  size_t mint_next;
  int mint_err; /* what mint answers, when set */
  FILE *log;
  char *logbuf;
  size_t loglen;
} fx_t;

static int mint(void *ud, char *out, size_t cap) {
  fx_t *fx = ud;
  if (fx->mint_err)
    return fx->mint_err;
  if (fx->mint_next >= 4 || !fx->mint_list[fx->mint_next])
    return TW_EAUTH;
  snprintf(out, cap, "%s", fx->mint_list[fx->mint_next++]);
  return 0;
}

static void on_res(tw_helix_client_t *c, const tw_helix_result_t *r,
                   void *arg) {
  (void)c;
  fx_t *fx = arg;
  assert_true(fx->nres < MAX_RES);
  res_t *o = &fx->res[fx->nres++];
  memset(o, 0, sizeof(*o));
  o->id = r->id;
  o->err = r->err;
  o->status = r->http_status;
  o->attempts = r->attempts;
  o->already_done = r->already_done;
  o->kind = r->error->kind;
  snprintf(o->scope, sizeof(o->scope), "%s", r->error->scope);
  snprintf(o->detail, sizeof(o->detail), "%s", r->detail);
  if (r->users) {
    o->n = r->users->n;
    if (o->n)
      snprintf(o->first, sizeof(o->first), "%s", r->users->v[0].id);
  }
  if (r->chat) {
    o->is_sent = r->chat->is_sent;
    snprintf(o->drop, sizeof(o->drop), "%s",
             r->chat->drop_code ? r->chat->drop_code : "");
  }
  if (r->clip) {
    o->has_clip = true;
    snprintf(o->first, sizeof(o->first), "%s", r->clip->id);
  }
  if (r->clip_created && !r->clip)
    snprintf(o->first, sizeof(o->first), "%s", r->clip_created->id);
}

static int enough(void *arg) {
  fx_t *fx = arg;
  return fx->nres >= fx->want;
}

static void wait_results(fx_t *fx, size_t n) {
  fx->want = n;
  assert_true(tw_test_run_until(&fx->loop, enough, fx, TW_TEST_WATCHDOG_MS));
}

static void make_client(fx_t *fx, const tw_helix_client_opts_t *extra) {
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  if (extra)
    o = *extra;
  if (!o.base_url)
    o.base_url = hf_base(fx->fake);
  o.client_id = "cid-test";
  o.tokens = tt_source(fx->tt);
  if (!o.backoff_base_ms) {
    o.backoff_base_ms = 5;
    o.backoff_cap_ms = 20;
  }
  if (!o.clip_poll_ms)
    o.clip_poll_ms = 10;
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &o, &fx->hc), 0);
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  fx->uc = tw_uvcurl_new(&fx->loop);
  assert_non_null(fx->uc);
  assert_int_equal(hf_start(&fx->loop, &fx->fake), 0);
  fx->tt = tt_new(&fx->loop, TOK1, ME, mint, fx);
  fx->mint_list[0] = TOK2;
  fx->mint_list[1] = TOK3;
  fx->log = open_memstream(&fx->logbuf, &fx->loglen);
  tw_log_set_output(fx->log);
  tw_log_set_level(TW_LOG_TRACE);
  *state = fx;
  return 0;
}

static void closed_flag(void *arg) {
  *(int *)arg = 1;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  int done = 0;
  if (fx->hc) {
    tw_helix_client_close(fx->hc, closed_flag, &done);
    assert_true(tw_test_run_flag(&fx->loop, &done));
  }
  tt_free(fx->tt);
  int fdone = 0;
  hf_close(fx->fake, closed_flag, &fdone);
  tw_uvcurl_close(fx->uc, NULL, NULL);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  fclose(fx->log);
  /* Secrets never reach the log, not even at trace level. */
  assert_null(strstr(fx->logbuf, TOK1));
  assert_null(strstr(fx->logbuf, TOK2));
  assert_null(strstr(fx->logbuf, TOK3));
  assert_null(strstr(fx->logbuf, "SECRET"));
  free(fx->logbuf);
  free(fx);
  return 0;
}

#define RL_OK 700, 0

/* Get Users: the headers every request needs, the decoded body, and the
 * cache filled from it. */
static void test_get_users_headers(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_add_user(fx->fake, "alice", "1001");
  const char *logins[] = {"alice"};
  uint64_t id = 0;
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, logins, 1, on_res, fx, &id), 0);
  assert_int_equal(fx->nres, 0); /* never from inside the call */
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].id, id);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].status, 200);
  assert_int_equal(fx->res[0].n, 1);
  assert_string_equal(fx->res[0].first, "1001");
  const hf_rec_t *r = hf_rec(fx->fake, 0);
  assert_string_equal(r->method, "GET");
  assert_string_equal(r->target, "/users?login=alice");
  assert_string_equal(r->auth, "Bearer " TOK1);
  assert_string_equal(r->client_id, "cid-test");
  char out[64];
  assert_int_equal(tw_helix_cache_get(fx->hc, "ALICE", NULL, out, sizeof(out)),
                   0);
  assert_string_equal(out, "1001");
  assert_int_equal(tw_helix_cache_get(fx->hc, NULL, "1001", out, sizeof(out)),
                   0);
  assert_string_equal(out, "alice");
}

/* Modify Channel Information: PATCH, JSON body, Content-Type, 204. */
static void test_set_title(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_script(fx->fake, "PATCH", "/channels", 204, "", RL_OK);
  assert_int_equal(
      tw_helix_set_title(fx->hc, "42", "New title", on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].status, 204);
  const hf_rec_t *r = hf_rec(fx->fake, 0);
  assert_string_equal(r->method, "PATCH");
  assert_string_equal(r->target, "/channels?broadcaster_id=42");
  assert_string_equal(r->ctype, "application/json");
  assert_string_equal(r->body, "{\"title\":\"New title\"}");
}

/* Typed errors: a missing scope (401, no refresh), not a moderator (403),
 * a message that is not there (404). */
static void test_typed_errors(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_script(fx->fake, "POST", "/moderation/bans", 401,
            "{\"error\":\"Unauthorized\",\"status\":401,\"message\":\"Missing "
            "scope: moderator:manage:banned_users\"}",
            RL_OK);
  assert_int_equal(
      tw_helix_ban(fx->hc, "42", NULL, "1001", 0, NULL, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_ESCOPE);
  assert_int_equal(fx->res[0].kind, TW_HELIX_ERR_MISSING_SCOPE);
  assert_string_equal(fx->res[0].scope, "moderator:manage:banned_users");
  assert_int_equal(fx->res[0].attempts, 1);
  assert_int_equal(tt_refresh_calls(fx->tt), 0);
  /* the moderator id is the token's user */
  assert_string_equal(hf_rec(fx->fake, 0)->target,
                      "/moderation/bans?broadcaster_id=42&moderator_id=" ME);

  hf_script(fx->fake, "DELETE", "/moderation/chat", 403,
            "{\"error\":\"Forbidden\",\"status\":403,\"message\":\"The user "
            "in moderator_id is not one of the broadcaster's moderators.\"}",
            RL_OK);
  assert_int_equal(
      tw_helix_delete_messages(fx->hc, "42", NULL, "abc", on_res, fx, NULL), 0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, TW_EFORBIDDEN);
  assert_int_equal(fx->res[1].kind, TW_HELIX_ERR_FORBIDDEN);
  assert_non_null(strstr(fx->res[1].detail, "moderators"));

  hf_script(fx->fake, "DELETE", "/moderation/chat", 404,
            "{\"error\":\"Not Found\",\"status\":404,\"message\":\"message "
            "not found\"}",
            RL_OK);
  assert_int_equal(
      tw_helix_delete_messages(fx->hc, "42", NULL, "abc", on_res, fx, NULL), 0);
  wait_results(fx, 3);
  assert_int_equal(fx->res[2].err, TW_ENOTFOUND);
  assert_int_equal(fx->res[2].attempts, 1);
}

/* 401 Invalid OAuth token: one refresh, the request again with the new
 * token, success. Two requests at once share the one refresh. */
static void test_401_refresh_retry(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_set_valid_token(fx->fake, TOK2);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "a", on_res, fx, NULL), 0);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "b", on_res, fx, NULL), 0);
  wait_results(fx, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(fx->res[i].err, 0);
    assert_int_equal(fx->res[i].attempts, 2);
  }
  assert_int_equal(tt_refreshes(fx->tt), 1);
  assert_int_equal(hf_count(fx->fake), 4);
  assert_string_equal(hf_rec(fx->fake, 0)->auth, "Bearer " TOK1);
  assert_string_equal(hf_rec(fx->fake, 2)->auth, "Bearer " TOK2);
  assert_string_equal(hf_rec(fx->fake, 3)->auth, "Bearer " TOK2);
  tw_helix_stats_t st;
  tw_helix_client_stats(fx->hc, &st);
  assert_int_equal(st.refreshed, 2);
}

/* A second 401 after the refresh is the caller's typed error: no loop. */
static void test_401_twice(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_set_valid_token(fx->fake, "something-else-entirely");
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "a", on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_EAUTH);
  assert_int_equal(fx->res[0].kind, TW_HELIX_ERR_INVALID_TOKEN);
  assert_int_equal(fx->res[0].status, 401);
  assert_int_equal(fx->res[0].attempts, 2);
  assert_int_equal(tt_refreshes(fx->tt), 1);
  assert_int_equal(hf_count(fx->fake), 2);
}

/* No token at all: the source is asked first; a source that cannot give
 * one fails the call with TW_EAUTH and nothing is sent. */
static void test_no_token(void **state) {
  fx_t *fx = *state;
  tt_free(fx->tt);
  fx->tt = tt_new(&fx->loop, NULL, ME, mint, fx);
  fx->mint_list[0] = NULL;
  make_client(fx, NULL);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "a", on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_EAUTH);
  assert_int_equal(hf_count(fx->fake), 0);
}

/* A source that fails for a transient reason (the credentials manager's
 * TW_EAGAIN after failed refresh attempts) is not a dead login: the call
 * fails with the source's reason, not TW_EAUTH. */
static void test_token_source_transient(void **state) {
  fx_t *fx = *state;
  tt_free(fx->tt);
  fx->tt = tt_new(&fx->loop, NULL, ME, mint, fx);
  fx->mint_err = TW_EAGAIN;
  make_client(fx, NULL);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "a", on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_EAGAIN);
  assert_int_equal(hf_count(fx->fake), 0);
}

static int got_429(void *arg) {
  fx_t *fx = arg;
  tw_helix_stats_t st;
  tw_helix_client_stats(fx->hc, &st);
  return st.rate_limited > 0;
}

/* 429 with an empty bucket: nothing is sent again before Ratelimit-Reset,
 * then the request goes and succeeds. */
static void test_429_waits_for_reset(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  int64_t reset = (int64_t)time(NULL) + 2;
  hf_script(fx->fake, "GET", "/streams", 429,
            "{\"error\":\"Too Many Requests\",\"status\":429,\"message\":"
            "\"Request limit exceeded\"}",
            0, reset);
  const char *ids[] = {"42"};
  assert_int_equal(tw_helix_get_streams(fx->hc, ids, 1, NULL, 0, false, 0, NULL,
                                        on_res, fx, NULL),
                   0);
  /* Once the 429 is in, a new request in the same bucket is held until
   * the reset too. */
  assert_true(tw_test_run_until(&fx->loop, got_429, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "x", on_res, fx, NULL), 0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].attempts, 2);
  assert_int_equal(fx->res[1].err, 0);
  assert_int_equal(hf_count(fx->fake), 3);
  for (size_t i = 1; i < 3; i++)
    assert_true(hf_rec(fx->fake, i)->at_wall_ms >= (uint64_t)reset * 1000);
  tw_helix_stats_t st;
  tw_helix_client_stats(fx->hc, &st);
  assert_int_equal(st.rate_limited, 1);
}

/* Ratelimit-Remaining 0 on a success: the next request waits for its
 * bucket instead of being sent into a 429. With Ratelimit-Limit 6 (a
 * point every 10 s) the reset, a second or two away, comes first. */
static void test_bucket_empty_waits(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  /* two seconds ahead, so that it is still ahead when the answer comes */
  int64_t reset = (int64_t)time(NULL) + 2;
  hf_script_rl(fx->fake, "PATCH", "/channels", 204, "", 6, 0, reset);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "a", on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "b", on_res, fx, NULL), 0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, 0);
  assert_int_equal(fx->res[1].attempts, 1);
  assert_int_equal(hf_count(fx->fake), 2);
  assert_true(hf_rec(fx->fake, 1)->at_wall_ms >= (uint64_t)reset * 1000);
  tw_helix_stats_t st;
  tw_helix_client_stats(fx->hc, &st);
  assert_true(st.waited >= 1);
}

#define E500                                                                   \
  "{\"error\":\"Internal Server Error\",\"status\":500,\"message\":\"\"}"

/* 5xx: a GET is sent again (backoff) and succeeds; Ban User and Send Chat
 * Message are not sent twice. */
static void test_5xx_retry_policy(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_add_user(fx->fake, "alice", "1001");
  hf_script(fx->fake, "GET", "/users", 500, E500, RL_OK);
  hf_script(fx->fake, "GET", "/users", 503, E500, RL_OK);
  const char *logins[] = {"alice"};
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, logins, 1, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].attempts, 3);
  assert_int_equal(hf_count_path(fx->fake, "GET", "/users"), 3);

  hf_script(fx->fake, "POST", "/moderation/bans", 500, E500, RL_OK);
  assert_int_equal(
      tw_helix_ban(fx->hc, "42", NULL, "1001", 600, "spam", on_res, fx, NULL),
      0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, TW_EHTTP);
  assert_int_equal(fx->res[1].kind, TW_HELIX_ERR_SERVER);
  assert_int_equal(fx->res[1].attempts, 1);
  assert_int_equal(hf_count_path(fx->fake, "POST", "/moderation/bans"), 1);

  hf_script(fx->fake, "POST", "/chat/messages", 502, E500, RL_OK);
  assert_int_equal(
      tw_helix_send_chat(fx->hc, "42", NULL, "hello", NULL, on_res, fx, NULL),
      0);
  wait_results(fx, 3);
  assert_int_equal(fx->res[2].err, TW_EHTTP);
  assert_int_equal(fx->res[2].attempts, 1);
  assert_int_equal(hf_count_path(fx->fake, "POST", "/chat/messages"), 1);
  assert_non_null(strstr(hf_rec(fx->fake, 4)->body, "\"sender_id\":\"" ME));
}

/* A GET that keeps failing stops after max_attempts. */
static void test_5xx_attempts_capped(void **state) {
  fx_t *fx = *state;
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.max_attempts = 3;
  make_client(fx, &o);
  for (int i = 0; i < 5; i++)
    hf_script(fx->fake, "GET", "/clips", 500, E500, RL_OK);
  const char *ids[] = {"Clip1"};
  assert_int_equal(tw_helix_get_clips(fx->hc, ids, 1, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_EHTTP);
  assert_int_equal(fx->res[0].attempts, 3);
  assert_int_equal(hf_count(fx->fake), 3);
}

/* A failure before anything was sent (nobody listening) is retried even
 * for Send Chat Message, up to the cap, and reported as refused. */
static void test_unsent_network_error(void **state) {
  fx_t *fx = *state;
  /* a port that was free a moment ago */
  uv_tcp_t tmp;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_init(&fx->loop, &tmp);
  uv_tcp_bind(&tmp, (struct sockaddr *)&sa, 0);
  int len = sizeof(sa);
  uv_tcp_getsockname(&tmp, (struct sockaddr *)&sa, &len);
  uv_close((uv_handle_t *)&tmp, NULL);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  char base[64];
  snprintf(base, sizeof(base), "http://127.0.0.1:%u/helix",
           (unsigned)ntohs(sa.sin_port));
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.base_url = base;
  o.max_attempts = 2;
  make_client(fx, &o);
  assert_int_equal(
      tw_helix_send_chat(fx->hc, "42", NULL, "hello", NULL, on_res, fx, NULL),
      0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_ECONNREFUSED);
  assert_int_equal(fx->res[0].attempts, 2);
}

/* A repeated request answered "already done" is a success: an Unban sent
 * again after a 500 gets "user is not banned" because the first one
 * worked. A 409 (concurrent ban-state update) on Ban User is tried again. */
static void test_already_done_and_conflict(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_script(fx->fake, "DELETE", "/moderation/bans", 500, E500, RL_OK);
  hf_script(fx->fake, "DELETE", "/moderation/bans", 400,
            "{\"error\":\"Bad Request\",\"status\":400,\"message\":\"user "
            "is not banned\"}",
            RL_OK);
  assert_int_equal(tw_helix_unban(fx->hc, "42", NULL, "1001", on_res, fx, NULL),
                   0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_true(fx->res[0].already_done);
  assert_int_equal(fx->res[0].attempts, 2);
  /* the same 400 on a first attempt is an error */
  hf_script(fx->fake, "DELETE", "/moderation/bans", 400,
            "{\"error\":\"Bad Request\",\"status\":400,\"message\":\"user "
            "is not banned\"}",
            RL_OK);
  assert_int_equal(tw_helix_unban(fx->hc, "42", NULL, "1001", on_res, fx, NULL),
                   0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, TW_ENOTFOUND);
  assert_false(fx->res[1].already_done);

  hf_script(fx->fake, "POST", "/moderation/bans", 409,
            "{\"error\":\"Conflict\",\"status\":409,\"message\":\"try "
            "again\"}",
            RL_OK);
  hf_script(fx->fake, "POST", "/moderation/bans", 200,
            "{\"data\":[{\"broadcaster_id\":\"42\",\"moderator_id\":\"5678\","
            "\"user_id\":\"1001\",\"created_at\":\"2026-01-01T00:00:00Z\","
            "\"end_time\":null}]}",
            RL_OK);
  assert_int_equal(
      tw_helix_ban(fx->hc, "42", NULL, "1001", 0, NULL, on_res, fx, NULL), 0);
  wait_results(fx, 3);
  assert_int_equal(fx->res[2].err, 0);
  assert_int_equal(fx->res[2].attempts, 2);
}

/* A 429 with points left is the endpoint's own limit (announcements: one
 * per 2 s): that request backs off and is sent again; the token's bucket
 * is not emptied, so other requests go on meanwhile. */
static void test_endpoint_limit(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_script(fx->fake, "POST", "/chat/announcements", 429,
            "{\"error\":\"Too Many Requests\",\"status\":429,\"message\":"
            "\"slow down\"}",
            700, 0);
  hf_script(fx->fake, "POST", "/chat/announcements", 204, "", RL_OK);
  assert_int_equal(
      tw_helix_announce(fx->hc, "42", NULL, "hi", NULL, on_res, fx, NULL), 0);
  assert_true(tw_test_run_until(&fx->loop, got_429, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "t", on_res, fx, NULL), 0);
  wait_results(fx, 2);
  /* the title went first, while the announcement waited */
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[1].err, 0);
  assert_int_equal(fx->res[1].attempts, 2);
  assert_string_equal(hf_rec(fx->fake, 1)->path, "/channels");
  assert_string_equal(hf_rec(fx->fake, 2)->path, "/chat/announcements");
}

/* Send Chat Message has its own bucket: a 429 that empties the general
 * bucket does not hold chat messages. */
static void test_chat_bucket_separate(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  int64_t reset = (int64_t)time(NULL) + 2;
  hf_script(fx->fake, "GET", "/streams", 429,
            "{\"error\":\"Too Many Requests\",\"status\":429,\"message\":"
            "\"Request limit exceeded\"}",
            0, reset);
  hf_script(fx->fake, "POST", "/chat/messages", 200,
            "{\"data\":[{\"message_id\":\"m1\",\"is_sent\":true}]}", RL_OK);
  const char *ids[] = {"42"};
  assert_int_equal(tw_helix_get_streams(fx->hc, ids, 1, NULL, 0, false, 0, NULL,
                                        on_res, fx, NULL),
                   0);
  assert_true(tw_test_run_until(&fx->loop, got_429, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(
      tw_helix_send_chat(fx->hc, "42", NULL, "hi", NULL, on_res, fx, NULL), 0);
  wait_results(fx, 2);
  assert_true(fx->res[0].is_sent); /* the chat message came back first */
  assert_string_equal(hf_rec(fx->fake, 1)->path, "/chat/messages");
  assert_string_equal(hf_rec(fx->fake, 2)->path, "/streams");
}

/* The queue is bounded: a full queue refuses with TW_EFULL and queues
 * nothing; a cancelled call is never reported; close reports the rest. */
static void test_queue_full_cancel_close(void **state) {
  fx_t *fx = *state;
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.max_queue = 3;
  make_client(fx, &o);
  uint64_t id1, id2, id3;
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "a", on_res, fx, &id1), 0);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "b", on_res, fx, &id2), 0);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "c", on_res, fx, &id3), 0);
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "d", on_res, fx, NULL),
                   TW_EFULL);
  tw_helix_stats_t st;
  tw_helix_client_stats(fx->hc, &st);
  assert_int_equal(st.queued, 3);
  assert_int_equal(tw_helix_client_cancel(fx->hc, id2), 0);
  assert_int_equal(tw_helix_client_cancel(fx->hc, id2), TW_ENOTFOUND);
  /* room again */
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "e", on_res, fx, NULL), 0);
  int done = 0;
  tw_helix_client_close(fx->hc, closed_flag, &done);
  /* all three reported, cancelled, before close returned */
  assert_int_equal(fx->nres, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(fx->res[i].err, TW_ECANCELED);
    assert_true(fx->res[i].id != id2);
  }
  assert_int_equal(tw_helix_set_title(fx->hc, "42", "f", on_res, fx, NULL),
                   TW_ESTATE);
  assert_true(tw_test_run_flag(&fx->loop, &done));
  fx->hc = NULL;
  assert_int_equal(hf_count(fx->fake), 0);
}

static void on_user(tw_helix_client_t *c, int err, const char *id,
                    const char *login, const tw_helix_result_t *res,
                    void *arg) {
  (void)c;
  (void)res;
  fx_t *fx = arg;
  res_t *o = &fx->res[fx->nres++];
  memset(o, 0, sizeof(*o));
  o->err = err;
  snprintf(o->first, sizeof(o->first), "%s", id ? id : "");
  snprintf(o->detail, sizeof(o->detail), "%s", login ? login : "");
}

/* Lookups: concurrent ones of the same login share one Get Users; later
 * ones come from the cache; an unknown login is TW_ENOTFOUND. */
static void test_users_cache(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_add_user(fx->fake, "Bob", "2002");
  assert_int_equal(tw_helix_lookup_user(fx->hc, "bob", NULL, on_user, fx, NULL),
                   0);
  assert_int_equal(tw_helix_lookup_user(fx->hc, "BOB", NULL, on_user, fx, NULL),
                   0);
  wait_results(fx, 2);
  assert_int_equal(hf_count_path(fx->fake, "GET", "/users"), 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_string_equal(fx->res[0].first, "2002");
  assert_string_equal(fx->res[1].first, "2002");
  assert_int_equal(tw_helix_lookup_user(fx->hc, "bob", NULL, on_user, fx, NULL),
                   0);
  assert_int_equal(fx->nres, 2); /* from the loop, not from inside */
  assert_int_equal(
      tw_helix_lookup_user(fx->hc, NULL, "2002", on_user, fx, NULL), 0);
  wait_results(fx, 4);
  assert_int_equal(hf_count_path(fx->fake, "GET", "/users"), 1);
  assert_string_equal(fx->res[3].detail, "bob");
  assert_int_equal(
      tw_helix_lookup_user(fx->hc, "nobody", NULL, on_user, fx, NULL), 0);
  wait_results(fx, 5);
  assert_int_equal(fx->res[4].err, TW_ENOTFOUND);
  assert_int_equal(
      tw_helix_lookup_user(fx->hc, "bad login!", NULL, on_user, fx, NULL),
      TW_EINVAL);
  tw_helix_stats_t st;
  tw_helix_client_stats(fx->hc, &st);
  assert_int_equal(st.cache_misses, 2);
}

/* The cache is bounded (least recently used goes) and entries expire. */
static void test_users_cache_bounded_ttl(void **state) {
  fx_t *fx = *state;
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.users_cache = 2;
  o.users_ttl_ms = 60000;
  make_client(fx, &o);
  hf_add_user(fx->fake, "u1", "1");
  hf_add_user(fx->fake, "u2", "2");
  hf_add_user(fx->fake, "u3", "3");
  const char *all[] = {"u1", "u2", "u3"};
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, all, 3, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(tw_helix_cache_size(fx->hc), 2);
  char out[16];
  assert_int_equal(tw_helix_cache_get(fx->hc, "u1", NULL, out, sizeof(out)),
                   TW_ENOTFOUND);
  assert_int_equal(tw_helix_cache_get(fx->hc, "u3", NULL, out, sizeof(out)), 0);
}

static void test_users_cache_expiry(void **state) {
  fx_t *fx = *state;
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.users_ttl_ms = 1;
  make_client(fx, &o);
  hf_add_user(fx->fake, "carol", "3003");
  assert_int_equal(
      tw_helix_lookup_user(fx->hc, "carol", NULL, on_user, fx, NULL), 0);
  wait_results(fx, 1);
  /* let the loop's clock pass the 1 ms TTL */
  uv_sleep(5);
  assert_int_equal(
      tw_helix_lookup_user(fx->hc, "carol", NULL, on_user, fx, NULL), 0);
  wait_results(fx, 2);
  assert_int_equal(hf_count_path(fx->fake, "GET", "/users"), 2);
}

#define CLIP_202                                                               \
  "{\"data\":[{\"id\":\"FunnyClip\",\"edit_url\":\"https://clips.twitch.tv/"   \
  "FunnyClip/edit\"}]}"
#define CLIP_LISTED                                                            \
  "{\"data\":[{\"id\":\"FunnyClip\",\"url\":\"https://clips.twitch.tv/"        \
  "FunnyClip\",\"broadcaster_id\":\"42\",\"title\":\"t\",\"duration\":30.0,"   \
  "\"view_count\":0,\"created_at\":\"2026-01-01T00:00:00Z\","                  \
  "\"vod_offset\":null,\"is_featured\":false}],\"pagination\":{}}"

/* Create Clip: 202, then Get Clips until the clip is listed. */
static void test_clip_confirmed(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_script(fx->fake, "POST", "/clips", 202, CLIP_202, RL_OK);
  hf_script(fx->fake, "GET", "/clips", 200, "{\"data\":[]}", RL_OK);
  hf_script(fx->fake, "GET", "/clips", 200, CLIP_LISTED, RL_OK);
  uint64_t id = 0;
  assert_int_equal(tw_helix_create_clip(fx->hc, "42", NULL, 0, on_res, fx, &id),
                   0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].id, id);
  assert_int_equal(fx->res[0].err, 0);
  assert_true(fx->res[0].has_clip);
  assert_string_equal(fx->res[0].first, "FunnyClip");
  assert_int_equal(hf_count_path(fx->fake, "GET", "/clips"), 2);
  assert_string_equal(hf_rec(fx->fake, 1)->target, "/clips?id=FunnyClip");
  assert_string_equal(hf_rec(fx->fake, 0)->target, "/clips?broadcaster_id=42");
  /* no body, so no Content-Type (curl would call it a form) */
  assert_string_equal(hf_rec(fx->fake, 0)->ctype, "");
}

/* Never listed within the window: TW_ETIMEDOUT, the id still reported. */
static void test_clip_window(void **state) {
  fx_t *fx = *state;
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.clip_window_ms = 60;
  make_client(fx, &o);
  hf_script(fx->fake, "POST", "/clips", 202, CLIP_202, RL_OK);
  assert_int_equal(
      tw_helix_create_clip(fx->hc, "42", NULL, 0, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_ETIMEDOUT);
  assert_false(fx->res[0].has_clip);
  assert_string_equal(fx->res[0].first, "FunnyClip");
  assert_true(hf_count_path(fx->fake, "GET", "/clips") >= 1);
  /* Create Clip itself is never repeated */
  assert_int_equal(hf_count_path(fx->fake, "POST", "/clips"), 1);
}

/* Send Chat Message: is_sent and the drop reason reach the caller. */
static void test_chat_dropped(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_script(fx->fake, "POST", "/chat/messages", 200,
            "{\"data\":[{\"message_id\":\"\",\"is_sent\":false,"
            "\"drop_reason\":{\"code\":\"msg_duplicate\",\"message\":\"dup\"}"
            "}]}",
            RL_OK);
  assert_int_equal(
      tw_helix_send_chat(fx->hc, "42", NULL, "hi", NULL, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_false(fx->res[0].is_sent);
  assert_string_equal(fx->res[0].drop, "msg_duplicate");
}

#define SUB_202                                                                \
  "{\"data\":[{\"id\":\"sub-1\",\"status\":\"enabled\",\"type\":"              \
  "\"channel.follow\",\"version\":\"2\",\"condition\":{"                       \
  "\"broadcaster_user_id\":\"42\",\"moderator_user_id\":\"42\"},"              \
  "\"created_at\":\"2026-01-01T00:00:00Z\",\"transport\":{\"method\":"         \
  "\"websocket\",\"session_id\":\"S1\",\"connected_at\":\"2026-01-01T00:"      \
  "00:00Z\"},\"cost\":0}],\"total\":1,\"total_cost\":0,\"max_total_cost\":"    \
  "10}"

static size_t nsubs;
static void on_subs(tw_helix_client_t *c, const tw_helix_result_t *r,
                    void *arg) {
  if (r->subs)
    nsubs = r->subs->n;
  on_res(c, r, arg);
}

/* The other convenience calls: each sends its documented request and
 * takes Twitch's success status (204, 202, 200) as success. */
static void test_other_calls(void **state) {
  fx_t *fx = *state;
  make_client(fx, NULL);
  hf_script(fx->fake, "DELETE", "/moderation/bans", 204, "", RL_OK);
  hf_script(fx->fake, "DELETE", "/moderation/chat", 204, "", RL_OK);
  hf_script(fx->fake, "POST", "/chat/announcements", 204, "", RL_OK);
  hf_script(fx->fake, "POST", "/chat/shoutouts", 204, "", RL_OK);
  hf_script(fx->fake, "POST", "/eventsub/subscriptions", 202, SUB_202, RL_OK);
  hf_script(fx->fake, "GET", "/eventsub/subscriptions", 200, SUB_202, RL_OK);
  hf_script(fx->fake, "DELETE", "/eventsub/subscriptions", 204, "", RL_OK);
  assert_int_equal(tw_helix_unban(fx->hc, "42", NULL, "1001", on_res, fx, NULL),
                   0);
  wait_results(fx, 1);
  assert_int_equal(
      tw_helix_delete_messages(fx->hc, "42", NULL, NULL, on_res, fx, NULL), 0);
  wait_results(fx, 2);
  assert_int_equal(tw_helix_announce(fx->hc, "42", NULL, "Hello chat!",
                                     "purple", on_res, fx, NULL),
                   0);
  wait_results(fx, 3);
  assert_int_equal(
      tw_helix_shoutout(fx->hc, "42", "43", NULL, on_res, fx, NULL), 0);
  wait_results(fx, 4);
  tw_helix_kv_t cond[] = {{"broadcaster_user_id", "42"},
                          {"moderator_user_id", "42"}};
  tw_helix_sub_spec_t spec;
  memset(&spec, 0, sizeof(spec));
  spec.type = "channel.follow";
  spec.version = "2";
  spec.condition = cond;
  spec.ncondition = 2;
  spec.method = TW_HELIX_TRANSPORT_WEBSOCKET;
  spec.session_id = "S1";
  assert_int_equal(tw_helix_eventsub_create(fx->hc, &spec, on_subs, fx, NULL),
                   0);
  wait_results(fx, 5);
  assert_int_equal(nsubs, 1);
  nsubs = 0;
  assert_int_equal(tw_helix_eventsub_list(fx->hc, TW_HELIX_SUBS_ALL, NULL, NULL,
                                          on_subs, fx, NULL),
                   0);
  wait_results(fx, 6);
  assert_int_equal(nsubs, 1);
  assert_int_equal(tw_helix_eventsub_delete(fx->hc, "sub-1", on_res, fx, NULL),
                   0);
  wait_results(fx, 7);
  static const struct {
    const char *method, *target;
    int status;
  } want[] = {
      {"DELETE",
       "/moderation/bans?broadcaster_id=42&moderator_id=" ME "&user_id=1001",
       204},
      {"DELETE", "/moderation/chat?broadcaster_id=42&moderator_id=" ME, 204},
      {"POST", "/chat/announcements?broadcaster_id=42&moderator_id=" ME, 204},
      {"POST",
       "/chat/shoutouts?from_broadcaster_id=42&to_broadcaster_id=43&"
       "moderator_id=" ME,
       204},
      {"POST", "/eventsub/subscriptions", 202},
      {"GET", "/eventsub/subscriptions", 200},
      {"DELETE", "/eventsub/subscriptions?id=sub-1", 204},
  };
  for (size_t i = 0; i < 7; i++) {
    assert_int_equal(fx->res[i].err, 0);
    assert_int_equal(fx->res[i].status, want[i].status);
    assert_string_equal(hf_rec(fx->fake, i)->method, want[i].method);
    assert_string_equal(hf_rec(fx->fake, i)->target, want[i].target);
  }
  assert_string_equal(hf_rec(fx->fake, 2)->body,
                      "{\"message\":\"Hello chat!\",\"color\":\"purple\"}");
  assert_non_null(strstr(hf_rec(fx->fake, 4)->body, "\"session_id\":\"S1\""));
}

/* Options and arguments are checked. */
static void test_bad_options(void **state) {
  fx_t *fx = *state;
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.client_id = "cid";
  o.tokens = tt_source(fx->tt);
  tw_helix_client_t *hc = NULL;
  o.base_url = "http://example.com/helix"; /* plain http off loopback */
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &o, &hc), TW_EINVAL);
  o.base_url = "ftp://127.0.0.1/helix";
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &o, &hc), TW_EINVAL);
  o.base_url = NULL;
  o.ca_file = "/nonexistent/ca.pem";
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &o, &hc), TW_ECONFIG);
  o.ca_file = NULL;
  o.client_id = NULL;
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &o, &hc), TW_EINVAL);
  o.client_id = "cid";
  o.max_queue = TW_MAX_HELIX_QUEUE + 1;
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &o, &hc), TW_EINVAL);
  make_client(fx, NULL);
  /* a login where an id belongs fails at the builder, nothing queued */
  assert_int_equal(
      tw_helix_set_title(fx->hc, "somelogin", "t", on_res, fx, NULL),
      TW_EINVAL);
  assert_int_equal(tw_helix_client_send(fx->hc, NULL, on_res, fx, NULL),
                   TW_EINVAL);
}

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_get_users_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_title, setup, teardown),
      cmocka_unit_test_setup_teardown(test_typed_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_401_refresh_retry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_401_twice, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_token_source_transient, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_429_waits_for_reset, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bucket_empty_waits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_5xx_retry_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_5xx_attempts_capped, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unsent_network_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_queue_full_cancel_close, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_users_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_users_cache_bounded_ttl, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_users_cache_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clip_confirmed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clip_window, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chat_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_already_done_and_conflict, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_endpoint_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chat_bucket_separate, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
