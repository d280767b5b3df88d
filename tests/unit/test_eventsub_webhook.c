/* The EventSub webhook receiver (twitchd/eventsub_webhook_client.h) mounted
 * on a local libmicrohttpd server (tw_uvmhd, 127.0.0.1, port 0) the way the
 * runtime mounts it, with a scripted Helix fake: subscriptions created with
 * the webhook transport, the challenge answered, notifications delivered
 * once (redelivery acknowledged without reprocessing), every refusal
 * answered with its status, revocation reported, the secret generated and
 * never logged. Requests are hand-signed POSTs sent with libcurl on the
 * same loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "helix_fake.h"
#include "net_test.h"
#include "test_tokens.h"
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/eventsub_webhook_client.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/uv_curl.h"
#include "twitchd/uv_mhd.h"

#define APP_TOKEN "apptoken0123456789abcdef"
#define SECRET "s3cRe7-webhook-secret"

typedef struct {
  uv_loop_t loop;
  tw_uvcurl_t *uc;
  helix_fake_t *fake;
  test_tokens_t *tt;
  tw_helix_client_t *hc;
  tw_uvmhd_t *mhd;
  tw_eventsub_webhook_t *wh;
  uint16_t port;
  char base[64];
  uint64_t wall; /* 0: real time */
  tw_event_t *events[16];
  size_t nevents;
  tw_eventsub_status_t last_status;
  char last_status_str[64];
  size_t nstatus, nsubscribed, nfailed, nrevoked;
  FILE *log;
  char *logbuf;
  size_t loglen;
} fx_t;

/* ---- the owner's server: MHD gathering the body, then the handler ------- */

typedef struct {
  tw_buf_t body;
} req_t;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  fx_t *fx = cls;
  req_t *q = *con_cls;
  if (q == NULL) {
    q = calloc(1, sizeof(*q));
    if (!q)
      return MHD_NO;
    tw_buf_init(&q->body, TW_MAX_EVENTSUB_WEBHOOK_BODY);
    *con_cls = q;
    return MHD_YES;
  }
  if (*upload_size) {
    tw_buf_append(&q->body, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  tw_eventsub_webhook_response_t r;
  tw_eventsub_webhook_handle(fx->wh, method, url,
                             tw_eventsub_webhook_mhd_header, conn, q->body.data,
                             q->body.len, &r);
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      r.body_len, r.body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(resp, "Content-Type", r.content_type);
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)r.status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  req_t *q = *con_cls;
  if (!q)
    return;
  tw_buf_free(&q->body);
  free(q);
  *con_cls = NULL;
}

/* ---- callbacks ------------------------------------------------------------
 */

static void on_event(tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  if (fx->nevents < 16)
    fx->events[fx->nevents++] = ev;
  else
    tw_event_free(ev);
}

static void on_status(const tw_eventsub_status_t *st, void *ud) {
  fx_t *fx = ud;
  fx->nstatus++;
  fx->last_status = *st;
  snprintf(fx->last_status_str, sizeof(fx->last_status_str), "%s",
           st->status ? st->status : "");
  fx->nsubscribed += st->kind == TW_EVENTSUB_ST_SUBSCRIBED;
  fx->nfailed += st->kind == TW_EVENTSUB_ST_SUB_FAILED;
  fx->nrevoked += st->kind == TW_EVENTSUB_ST_REVOKED;
}

static uint64_t fake_wall(void *ud) {
  fx_t *fx = ud;
  return fx->wall ? fx->wall : tw_wall_ms();
}

/* ---- fixture --------------------------------------------------------------
 */

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  fx->log = open_memstream(&fx->logbuf, &fx->loglen);
  tw_log_set_output(fx->log);
  tw_log_set_level(TW_LOG_TRACE);
  fx->uc = tw_uvcurl_new(&fx->loop);
  assert_non_null(fx->uc);
  assert_int_equal(hf_start(&fx->loop, &fx->fake), 0);
  hf_add_user(fx->fake, "alice", "1001");
  /* An app token: no user. */
  fx->tt = tt_new(&fx->loop, APP_TOKEN, "", NULL, NULL);
  tw_helix_client_opts_t ho;
  memset(&ho, 0, sizeof(ho));
  ho.base_url = hf_base(fx->fake);
  ho.client_id = "cid-test";
  ho.tokens = tt_source(fx->tt);
  ho.backoff_base_ms = 5;
  ho.backoff_cap_ms = 20;
  assert_int_equal(tw_helix_client_new(&fx->loop, fx->uc, &ho, &fx->hc), 0);
  tw_uvmhd_opts_t mo;
  memset(&mo, 0, sizeof(mo));
  mo.handler = on_request;
  mo.handler_cls = fx;
  mo.completed = on_completed;
  assert_int_equal(tw_uvmhd_start(&fx->loop, &mo, &fx->mhd), 0);
  fx->port = tw_uvmhd_port(fx->mhd);
  snprintf(fx->base, sizeof(fx->base), "http://127.0.0.1:%u/", fx->port);
  *state = fx;
  return 0;
}

static void flag(void *arg) {
  *(int *)arg = 1;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  int d1 = 0, d2 = 0, d3 = 0, d4 = 0;
  if (fx->wh) {
    tw_eventsub_webhook_close(fx->wh, flag, &d1);
    assert_true(tw_test_run_flag(&fx->loop, &d1));
  }
  tw_uvmhd_close(fx->mhd, flag, &d2);
  tw_helix_client_close(fx->hc, flag, &d3);
  assert_true(tw_test_run_flag(&fx->loop, &d3));
  tt_free(fx->tt);
  hf_close(fx->fake, flag, &d4);
  tw_uvcurl_close(fx->uc, NULL, NULL);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  for (size_t i = 0; i < fx->nevents; i++)
    tw_event_free(fx->events[i]);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  fclose(fx->log);
  /* Neither the token nor the secret reaches the log, even at trace. */
  assert_null(strstr(fx->logbuf, APP_TOKEN));
  assert_null(strstr(fx->logbuf, SECRET));
  free(fx->logbuf);
  free(fx);
  return 0;
}

static const tw_eventsub_type_t TYPES[] = {{"channel.follow", "2"},
                                           {"stream.online", "1"}};

static void make(fx_t *fx, const char *secret, const char *moderator) {
  static const char *chans[] = {"#Alice"};
  tw_eventsub_webhook_opts_t o;
  memset(&o, 0, sizeof(o));
  o.callback_base = fx->base;
  o.channels = chans;
  o.nchannels = 1;
  o.types = TYPES;
  o.ntypes = 2;
  o.secret = secret;
  o.moderator_user_id = moderator;
  o.wall_ms = fake_wall;
  o.on_event = on_event;
  o.on_status = on_status;
  o.ud = fx;
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &o, &fx->wh), 0);
}

/* ---- a hand-signed POST ---------------------------------------------------
 */

typedef struct {
  int done;
  long status;
  tw_buf_t body;
  char ctype[128];
} reply_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  reply_t *r = ud;
  tw_buf_append(&r->body, p, sz * n);
  return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  reply_t *r = ud;
  size_t len = sz * n;
  if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0) {
    size_t l = len - 14;
    while (l && (p[14 + l - 1] == '\r' || p[14 + l - 1] == '\n'))
      l--;
    snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)l, p + 14);
  }
  return len;
}

static void on_done(CURL *e, CURLcode rc, void *ud) {
  reply_t *r = ud;
  if (rc == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
  r->done = 1;
}

/* Sends `body` as message `type` with id `id` and timestamp `ts`, signed
 * with `secret` (NULL: a wrong signature; "" : no signature header). Extra
 * header line `extra` may be NULL. Returns the status; the reply stays in
 * *out (free its body). */
static long post(fx_t *fx, const char *method, const char *path,
                 const char *type, const char *id, const char *ts,
                 const char *body, const char *secret, reply_t *out) {
  memset(out, 0, sizeof(*out));
  tw_buf_init(&out->body, 1 << 16);
  char sig[TW_EVENTSUB_WEBHOOK_SIG_BUF] =
      "sha256=0000000000000000000000000000000000000000000000000000000000000000";
  if (secret && *secret)
    assert_int_equal(tw_eventsub_webhook_sign(secret, id, ts, body,
                                              strlen(body), sig, sizeof(sig)),
                     0);
  char url[128], h1[128], h2[128], h3[160], h4[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", fx->port, path);
  snprintf(h1, sizeof(h1), "Twitch-Eventsub-Message-Id: %s", id);
  snprintf(h2, sizeof(h2), "twitch-eventsub-message-type: %s", type);
  snprintf(h3, sizeof(h3), "Twitch-Eventsub-Message-Signature: %s", sig);
  snprintf(h4, sizeof(h4), "TWITCH-EVENTSUB-MESSAGE-TIMESTAMP: %s", ts);
  struct curl_slist *hl = NULL;
  hl = curl_slist_append(hl, "Content-Type: application/json");
  hl = curl_slist_append(hl, h1);
  hl = curl_slist_append(hl, h2);
  if (!(secret && *secret == '\0'))
    hl = curl_slist_append(hl, h3);
  hl = curl_slist_append(hl, h4);
  hl = curl_slist_append(hl, "Twitch-Eventsub-Message-Retry: 0");
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
  assert_int_equal(tw_uvcurl_add(fx->uc, e, on_done, out), 0);
  assert_true(tw_test_run_flag(&fx->loop, &out->done));
  curl_easy_cleanup(e);
  curl_slist_free_all(hl);
  return out->status;
}

static long post_simple(fx_t *fx, const char *type, const char *id,
                        const char *ts, const char *body, const char *secret) {
  reply_t r;
  long s = post(fx, "POST", "/eventsub", type, id, ts, body, secret, &r);
  tw_buf_free(&r.body);
  return s;
}

static void now_ts(char out[64], int64_t delta_ms) {
  uint64_t ms = (uint64_t)((int64_t)tw_wall_ms() + delta_ms);
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           (unsigned)(ms % 1000));
}

static const char CHALLENGE_FOLLOW[] =
    "{\"challenge\":\"pogchamp-kappa-360noscope-vohiyo\",\"subscription\":{"
    "\"id\":\"sub-follow\",\"status\":\"webhook_callback_verification_"
    "pending\",\"type\":\"channel.follow\",\"version\":\"2\",\"cost\":0,"
    "\"condition\":{\"broadcaster_user_id\":\"1001\",\"moderator_user_id\":"
    "\"1001\"},\"transport\":{\"method\":\"webhook\",\"callback\":\"x\"},"
    "\"created_at\":\"2026-11-26T03:00:00Z\"}}";

static const char FOLLOW[] =
    "{\"subscription\":{\"id\":\"sub-follow\",\"status\":\"enabled\",\"type\":"
    "\"channel.follow\",\"version\":\"2\",\"condition\":{\"broadcaster_user_"
    "id\":\"1001\",\"moderator_user_id\":\"1001\"}},\"event\":{\"user_id\":"
    "\"9\",\"user_login\":\"fan\",\"user_name\":\"Fan\",\"broadcaster_user_"
    "id\":\"1001\",\"broadcaster_user_login\":\"alice\",\"broadcaster_user_"
    "name\":\"Alice\",\"followed_at\":\"2026-11-26T02:59:59Z\"}}";

static const char REVOKE[] =
    "{\"subscription\":{\"id\":\"sub-follow\",\"status\":\"authorization_"
    "revoked\",\"type\":\"channel.follow\",\"version\":\"2\",\"condition\":{"
    "\"broadcaster_user_id\":\"1001\",\"moderator_user_id\":\"1001\"}}}";

static int subs_posted(void *arg) {
  fx_t *fx = arg;
  return fx->nsubscribed + fx->nfailed >= 2;
}

/* start(): Get Users, then one webhook subscription per type with our
 * callback and secret, with the app token; follow's moderator is the
 * broadcaster when none is configured. */
static void test_subscribes(void **state) {
  fx_t *fx = *state;
  make(fx, SECRET, NULL);
  char want_cb[96];
  snprintf(want_cb, sizeof(want_cb), "http://127.0.0.1:%u/eventsub", fx->port);
  assert_string_equal(tw_eventsub_webhook_callback(fx->wh), want_cb);
  assert_string_equal(tw_eventsub_webhook_path(fx->wh), "/eventsub");
  hf_script(fx->fake, "POST", "/eventsub/subscriptions", 202,
            "{\"data\":[{\"id\":\"sub-follow\",\"status\":\"webhook_callback_"
            "verification_pending\",\"type\":\"channel.follow\",\"version\":"
            "\"2\",\"condition\":{},\"transport\":{\"method\":\"webhook\","
            "\"callback\":\"x\"},\"created_at\":\"2026-11-26T03:00:00Z\","
            "\"cost\":0}],\"total\":1,\"total_cost\":0,\"max_total_cost\":"
            "10000}",
            700, 0);
  assert_int_equal(tw_eventsub_webhook_start(fx->wh), 0);
  assert_int_equal(tw_eventsub_webhook_start(fx->wh), TW_ESTATE);
  assert_true(
      tw_test_run_until(&fx->loop, subs_posted, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->nsubscribed, 2);
  assert_int_equal(hf_count_path(fx->fake, "POST", "/eventsub/subscriptions"),
                   2);
  size_t seen = 0;
  for (size_t i = 0; i < hf_count(fx->fake); i++) {
    const hf_rec_t *r = hf_rec(fx->fake, i);
    if (strcmp(r->path, "/eventsub/subscriptions") != 0)
      continue;
    assert_string_equal(r->auth, "Bearer " APP_TOKEN);
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    json_t *t = json_object_get(j, "transport");
    assert_string_equal(json_string_value(json_object_get(t, "method")),
                        "webhook");
    assert_string_equal(json_string_value(json_object_get(t, "callback")),
                        want_cb);
    assert_string_equal(json_string_value(json_object_get(t, "secret")),
                        SECRET);
    json_t *c = json_object_get(j, "condition");
    assert_string_equal(
        json_string_value(json_object_get(c, "broadcaster_user_id")), "1001");
    if (strcmp(json_string_value(json_object_get(j, "type")),
               "channel.follow") == 0) {
      assert_string_equal(
          json_string_value(json_object_get(c, "moderator_user_id")), "1001");
      seen++;
    }
    json_decref(j);
  }
  assert_int_equal(seen, 1);
  tw_eventsub_webhook_stats_t st;
  tw_eventsub_webhook_stats(fx->wh, &st);
  assert_int_equal(st.subs_created, 2);
  assert_int_equal(st.subs_enabled, 0); /* not verified yet */
}

/* The whole exchange over HTTP: challenge, notification once, redelivery,
 * refusals, revocation. */
static void test_exchange(void **state) {
  fx_t *fx = *state;
  make(fx, SECRET, "777");
  assert_int_equal(tw_eventsub_webhook_start(fx->wh), 0);
  assert_true(
      tw_test_run_until(&fx->loop, subs_posted, fx, TW_TEST_WATCHDOG_MS));
  for (size_t i = 0; i < hf_count(fx->fake); i++) {
    const hf_rec_t *r = hf_rec(fx->fake, i);
    if (strstr(r->body, "channel.follow"))
      assert_non_null(strstr(r->body, "\"moderator_user_id\":\"777\""));
  }
  char ts[64];
  now_ts(ts, -1000);
  reply_t r;
  /* Challenge: 200, text/plain, exactly the challenge. */
  assert_int_equal(post(fx, "POST", "/eventsub",
                        "webhook_callback_verification", "c-1", ts,
                        CHALLENGE_FOLLOW, SECRET, &r),
                   200);
  assert_int_equal(r.body.len, strlen("pogchamp-kappa-360noscope-vohiyo"));
  assert_memory_equal(r.body.data, "pogchamp-kappa-360noscope-vohiyo",
                      r.body.len);
  assert_string_equal(r.ctype, "text/plain");
  tw_buf_free(&r.body);
  tw_eventsub_webhook_stats_t st;
  tw_eventsub_webhook_stats(fx->wh, &st);
  assert_int_equal(st.subs_enabled, 1);
  assert_int_equal(st.challenges, 1);

  /* Notification: 204 and one UserFollowed. */
  assert_int_equal(post_simple(fx, "notification", "n-1", ts, FOLLOW, SECRET),
                   204);
  assert_int_equal(fx->nevents, 1);
  assert_int_equal(fx->events[0]->kind, TW_EVENT_USER_FOLLOWED);
  assert_string_equal(fx->events[0]->u.user_followed.follower, "fan");
  assert_string_equal(fx->events[0]->target, "#alice");
  assert_string_equal(fx->events[0]->event_id, "n-1");
  /* Redelivered (same id): 204, not processed again. */
  assert_int_equal(post_simple(fx, "notification", "n-1", ts, FOLLOW, SECRET),
                   204);
  assert_int_equal(fx->nevents, 1);
  /* A new id is a new event. */
  assert_int_equal(post_simple(fx, "notification", "n-2", ts, FOLLOW, SECRET),
                   204);
  assert_int_equal(fx->nevents, 2);

  /* Refusals. */
  assert_int_equal(post_simple(fx, "notification", "n-3", ts, FOLLOW, NULL),
                   403);
  assert_int_equal(
      post_simple(fx, "notification", "n-4", ts, FOLLOW, "wrong-secret-123"),
      403);
  assert_int_equal(post_simple(fx, "notification", "n-5", ts, FOLLOW, ""), 400);
  char old[64];
  now_ts(old, -(TW_EVENTSUB_WEBHOOK_MAX_AGE_S * 1000 + 5000));
  assert_int_equal(post_simple(fx, "notification", "n-6", old, FOLLOW, SECRET),
                   403);
  /* The same message is fresh by the receiver's clock option. */
  fx->wall = tw_wall_ms() - TW_EVENTSUB_WEBHOOK_MAX_AGE_S * 1000;
  assert_int_equal(post_simple(fx, "notification", "n-6", old, FOLLOW, SECRET),
                   204);
  fx->wall = 0;
  assert_int_equal(post_simple(fx, "notification.x", "n-7", ts, FOLLOW, SECRET),
                   400);
  assert_int_equal(post_simple(fx, "notification", "n-8", ts, "{}", SECRET),
                   400);
  assert_int_equal(fx->nevents, 3);
  assert_int_equal(
      post(fx, "GET", "/eventsub", "notification", "n-9", ts, "", SECRET, &r),
      405);
  tw_buf_free(&r.body);
  assert_int_equal(
      post(fx, "POST", "/other", "notification", "n-9", ts, FOLLOW, SECRET, &r),
      404);
  tw_buf_free(&r.body);
  /* A refused message's id is not remembered: sent correctly, it counts. */
  assert_int_equal(post_simple(fx, "notification", "n-3", ts, FOLLOW, SECRET),
                   204);
  assert_int_equal(fx->nevents, 4);

  /* Revocation: 204, reported, the subscription no longer enabled. */
  assert_int_equal(post_simple(fx, "revocation", "r-1", ts, REVOKE, SECRET),
                   204);
  assert_int_equal(fx->nrevoked, 1);
  assert_int_equal(fx->last_status.kind, TW_EVENTSUB_ST_REVOKED);
  assert_string_equal(fx->last_status_str, "authorization_revoked");
  tw_eventsub_webhook_stats(fx->wh, &st);
  assert_int_equal(st.subs_enabled, 0);
  assert_int_equal(st.revocations, 1);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.bad_signature, 2);
  assert_int_equal(st.stale, 1);
  assert_int_equal(st.events, 4);
  /* Nothing more was asked of Helix after the revocation. */
  assert_int_equal(hf_count_path(fx->fake, "POST", "/eventsub/subscriptions"),
                   2);
  assert_non_null(strstr(fx->logbuf, "authorization_revoked"));
}

/* Without a configured secret one is generated (40 characters, used in the
 * subscriptions, accepted for signatures) and never logged. */
static void test_generated_secret(void **state) {
  fx_t *fx = *state;
  make(fx, NULL, NULL);
  assert_int_equal(tw_eventsub_webhook_start(fx->wh), 0);
  assert_true(
      tw_test_run_until(&fx->loop, subs_posted, fx, TW_TEST_WATCHDOG_MS));
  char secret[128] = "";
  for (size_t i = 0; i < hf_count(fx->fake); i++) {
    const hf_rec_t *rec = hf_rec(fx->fake, i);
    json_t *j = json_loads(rec->body, 0, NULL);
    json_t *t = j ? json_object_get(j, "transport") : NULL;
    const char *s = json_string_value(json_object_get(t, "secret"));
    if (s) {
      if (secret[0])
        assert_string_equal(secret, s); /* one secret for all */
      snprintf(secret, sizeof(secret), "%s", s);
    }
    json_decref(j);
  }
  assert_int_equal(strlen(secret), TW_EVENTSUB_WEBHOOK_SECRET_LEN);
  char ts[64];
  now_ts(ts, 0);
  assert_int_equal(post_simple(fx, "webhook_callback_verification", "c-1", ts,
                               CHALLENGE_FOLLOW, secret),
                   200);
  fflush(fx->log);
  assert_null(strstr(fx->logbuf, secret));
  /* A second receiver gets its own secret; a call without a header
   * lookup is answered 500, never a crash. */
  static const char *chans[] = {"alice"};
  tw_eventsub_webhook_opts_t o;
  memset(&o, 0, sizeof(o));
  o.callback_base = fx->base;
  o.channels = chans;
  o.nchannels = 1;
  o.on_event = on_event;
  o.ud = fx;
  tw_eventsub_webhook_t *other = NULL;
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &o, &other), 0);
  tw_eventsub_webhook_response_t resp;
  assert_int_equal(tw_eventsub_webhook_handle(other, "POST", "/eventsub?x=1",
                                              NULL, NULL, "", 0, &resp),
                   500);
  int done = 0;
  tw_eventsub_webhook_close(other, flag, &done);
  assert_true(tw_test_run_flag(&fx->loop, &done));
}

/* A Helix refusal is reported and not retried; a lookup failure too. */
static void test_sub_failures(void **state) {
  fx_t *fx = *state;
  make(fx, SECRET, NULL);
  hf_script(fx->fake, "POST", "/eventsub/subscriptions", 409,
            "{\"error\":\"Conflict\",\"status\":409,\"message\":\"subscription "
            "already exists\"}",
            700, 0);
  hf_script(
      fx->fake, "POST", "/eventsub/subscriptions", 403,
      "{\"error\":\"Forbidden\",\"status\":403,\"message\":\"subscription "
      "missing proper authorization\"}",
      700, 0);
  assert_int_equal(tw_eventsub_webhook_start(fx->wh), 0);
  assert_true(
      tw_test_run_until(&fx->loop, subs_posted, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->nfailed, 2);
  assert_non_null(strstr(fx->logbuf, "already exists"));
  tw_eventsub_webhook_stats_t st;
  tw_eventsub_webhook_stats(fx->wh, &st);
  assert_int_equal(st.subs_failed, 2);
  assert_int_equal(hf_count_path(fx->fake, "POST", "/eventsub/subscriptions"),
                   2);
}

static void test_bad_options(void **state) {
  fx_t *fx = *state;
  static const char *chans[] = {"alice"};
  static const char *nochan[] = {""};
  tw_eventsub_webhook_opts_t o;
  memset(&o, 0, sizeof(o));
  o.callback_base = fx->base;
  o.channels = chans;
  o.nchannels = 1;
  o.on_event = on_event;
  tw_eventsub_webhook_t *w = NULL;
  tw_eventsub_webhook_opts_t b = o;
  b.callback_base = NULL;
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &b, &w),
                   TW_EINVAL);
  b = o;
  b.path = "eventsub";
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &b, &w),
                   TW_EINVAL);
  b = o;
  b.secret = "short";
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &b, &w),
                   TW_EINVAL);
  b = o;
  b.secret = "has a space in it";
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &b, &w),
                   TW_EINVAL);
  b = o;
  b.channels = nochan;
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &b, &w),
                   TW_EINVAL);
  b = o;
  b.on_event = NULL;
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &b, &w),
                   TW_EINVAL);
  assert_null(w);
  b = o;
  b.path = "/hooks/twitch";
  assert_int_equal(tw_eventsub_webhook_new(&fx->loop, fx->hc, &b, &w), 0);
  char want[96];
  snprintf(want, sizeof(want), "http://127.0.0.1:%u/hooks/twitch", fx->port);
  assert_string_equal(tw_eventsub_webhook_callback(w), want);
  int done = 0;
  tw_eventsub_webhook_close(w, flag, &done);
  assert_true(tw_test_run_flag(&fx->loop, &done));
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_subscribes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_exchange, setup, teardown),
      cmocka_unit_test_setup_teardown(test_generated_secret, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sub_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
