/* The EventSub webhook receiver end to end against the in-process
 * simulator: the receiver mounted on a local libmicrohttpd server, the
 * Helix client holding an APP token. Subscription created with our
 * callback -> challenge answered -> enabled at the simulator -> a
 * triggered follow arrives as one UserFollowed even when redelivered ->
 * a bad signature and a stale timestamp refused with 403 -> a revocation
 * reported. Waits on events, never on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "test_tokens.h"
#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/eventsub_webhook_client.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/sim.h"
#include "twitchd/uv_mhd.h"

#define APP_TOKEN "apptok-SECRET-0123456789"
#define SECRET "webhook-SECRET-abcdef"

typedef struct {
  tw_simfx_t *sf;
  test_tokens_t *tt;
  tw_helix_client_t *hc;
  tw_uvmhd_t *mhd;
  tw_eventsub_webhook_t *wh;
  char helix_base[96], cb_base[64];
  tw_event_t *events[8];
  size_t nevents, nsubscribed, nfailed, nrevoked;
  char sub_id[TW_MAX_EVENTSUB_ID + 1];
  char revoked_status[64];
  FILE *log;
  char *logbuf;
  size_t loglen;
} fx_t;

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

static void on_event(tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  if (fx->nevents < 8)
    fx->events[fx->nevents++] = ev;
  else
    tw_event_free(ev);
}

static void on_status(const tw_eventsub_status_t *st, void *ud) {
  fx_t *fx = ud;
  if (st->kind == TW_EVENTSUB_ST_SUBSCRIBED) {
    fx->nsubscribed++;
    snprintf(fx->sub_id, sizeof(fx->sub_id), "%s", st->sub_id);
  }
  fx->nfailed += st->kind == TW_EVENTSUB_ST_SUB_FAILED;
  if (st->kind == TW_EVENTSUB_ST_REVOKED) {
    fx->nrevoked++;
    snprintf(fx->revoked_status, sizeof(fx->revoked_status), "%s",
             st->status ? st->status : "");
  }
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  fx->log = open_memstream(&fx->logbuf, &fx->loglen);
  tw_log_set_output(fx->log);
  tw_log_set_level(TW_LOG_TRACE);
  tw_sim_opts_t o;
  memset(&o, 0, sizeof(o));
  o.listeners =
      TW_SIM_LISTEN_API | TW_SIM_LISTEN_CONTROL | TW_SIM_LISTEN_EVENTSUB;
  o.eventsub.webhook_retry_ms = 5;
  o.eventsub.webhook_retries = 2;
  o.eventsub.webhook_timeout_ms = 5000;
  fx->sf = tw_simfx_new(&o);
  assert_non_null(fx->sf);
  tw_sim_token_t app;
  memset(&app, 0, sizeof(app));
  app.token = APP_TOKEN; /* login NULL: an app token */
  assert_int_equal(tw_sim_add_token_ex(fx->sf->sim, &app), 0);
  tw_sim_token_t t;
  memset(&t, 0, sizeof(t));
  t.token = "tokchan-SECRET";
  t.login = "chan";
  t.scopes = "moderator:read:followers";
  assert_int_equal(tw_sim_add_token_ex(fx->sf->sim, &t), 0);
  snprintf(fx->helix_base, sizeof(fx->helix_base), "https://127.0.0.1:%u/helix",
           (unsigned)fx->sf->api_port);
  fx->tt = tt_new(&fx->sf->loop, APP_TOKEN, "", NULL, NULL);
  tw_helix_client_opts_t ho;
  memset(&ho, 0, sizeof(ho));
  ho.base_url = fx->helix_base;
  ho.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  ho.ca_file = tw_sim_ca_file(fx->sf->sim);
  ho.tokens = tt_source(fx->tt);
  ho.backoff_base_ms = 5;
  ho.backoff_cap_ms = 20;
  assert_int_equal(tw_helix_client_new(&fx->sf->loop, fx->sf->uc, &ho, &fx->hc),
                   0);
  tw_uvmhd_opts_t mo;
  memset(&mo, 0, sizeof(mo));
  mo.handler = on_request;
  mo.handler_cls = fx;
  mo.completed = on_completed;
  assert_int_equal(tw_uvmhd_start(&fx->sf->loop, &mo, &fx->mhd), 0);
  snprintf(fx->cb_base, sizeof(fx->cb_base), "http://127.0.0.1:%u",
           (unsigned)tw_uvmhd_port(fx->mhd));
  *state = fx;
  return 0;
}

static void flag(void *arg) {
  *(int *)arg = 1;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  int d1 = 0, d2 = 0, d3 = 0;
  if (fx->wh) {
    tw_eventsub_webhook_close(fx->wh, flag, &d1);
    assert_true(tw_test_run_flag(&fx->sf->loop, &d1));
  }
  tw_uvmhd_close(fx->mhd, flag, &d2);
  tw_helix_client_close(fx->hc, flag, &d3);
  assert_true(tw_test_run_flag(&fx->sf->loop, &d3));
  tt_free(fx->tt);
  assert_int_equal(tw_simfx_free(fx->sf), 0);
  assert_true(d2);
  for (size_t i = 0; i < fx->nevents; i++)
    tw_event_free(fx->events[i]);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  fclose(fx->log);
  assert_null(strstr(fx->logbuf, APP_TOKEN));
  assert_null(strstr(fx->logbuf, SECRET));
  free(fx->logbuf);
  free(fx);
  return 0;
}

static int enabled(void *arg) {
  fx_t *fx = arg;
  tw_eventsub_webhook_stats_t st;
  tw_eventsub_webhook_stats(fx->wh, &st);
  return (st.subs_enabled == 1 && fx->nsubscribed == 1) || fx->nfailed;
}

static int one_event(void *arg) {
  fx_t *fx = arg;
  return fx->nevents >= 1;
}

typedef struct {
  fx_t *fx;
  size_t n;
} cnt_t;

static int attempts_n(void *arg) {
  cnt_t *c = arg;
  return tw_sim_webhook_attempts(c->fx->sf->sim, 0, NULL, 0) >= c->n;
}

static tw_sim_webhook_attempt_t wait_attempt(fx_t *fx, size_t n) {
  cnt_t c = {fx, n};
  assert_true(
      tw_test_run_until(&fx->sf->loop, attempts_n, &c, TW_TEST_WATCHDOG_MS));
  tw_sim_webhook_attempt_t a[64];
  size_t got = tw_sim_webhook_attempts(fx->sf->sim, 0, a, 64);
  assert_true(got >= n && n <= 64);
  return a[n - 1];
}

static int revoked(void *arg) {
  fx_t *fx = arg;
  return fx->nrevoked >= 1;
}

static void test_end_to_end(void **state) {
  fx_t *fx = *state;
  static const char *chans[] = {"chan"};
  static const tw_eventsub_type_t types[] = {{"channel.follow", "2"}};
  tw_eventsub_webhook_opts_t o;
  memset(&o, 0, sizeof(o));
  o.callback_base = fx->cb_base;
  o.channels = chans;
  o.nchannels = 1;
  o.types = types;
  o.ntypes = 1;
  o.secret = SECRET;
  o.on_event = on_event;
  o.on_status = on_status;
  o.ud = fx;
  assert_int_equal(tw_eventsub_webhook_new(&fx->sf->loop, fx->hc, &o, &fx->wh),
                   0);
  assert_int_equal(tw_eventsub_webhook_start(fx->wh), 0);

  /* Created with our callback, challenge answered, enabled. */
  assert_true(
      tw_test_run_until(&fx->sf->loop, enabled, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->nfailed, 0);
  tw_simresp_t r;
  assert_int_equal(tw_simfx_helix(fx->sf, "GET",
                                  "/helix/eventsub/subscriptions", APP_TOKEN,
                                  TW_SIM_DEFAULT_CLIENT_ID, NULL, &r),
                   0);
  json_t *d = json_array_get(json_object_get(r.json, "data"), 0);
  assert_non_null(d);
  assert_string_equal(tw_simfx_jstr(d, "status"), "enabled");
  assert_string_equal(tw_simfx_jstr(d, "id"), fx->sub_id);
  json_t *tr = json_object_get(d, "transport");
  char want_cb[96];
  snprintf(want_cb, sizeof(want_cb), "%s/eventsub", fx->cb_base);
  assert_string_equal(tw_simfx_jstr(tr, "method"), "webhook");
  assert_string_equal(tw_simfx_jstr(tr, "callback"), want_cb);
  tw_simresp_free(&r);
  size_t base = tw_sim_webhook_attempts(fx->sf->sim, 0, NULL, 0);
  assert_true(base >= 1); /* the challenge */

  /* A triggered follow arrives once as UserFollowed. */
  assert_int_equal(tw_sim_eventsub_trigger(fx->sf->sim, "channel.follow",
                                           "chan", "{\"user_login\":\"fan\"}"),
                   1);
  assert_true(
      tw_test_run_until(&fx->sf->loop, one_event, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->events[0]->kind, TW_EVENT_USER_FOLLOWED);
  assert_string_equal(fx->events[0]->u.user_followed.follower, "fan");
  assert_string_equal(fx->events[0]->target, "#chan");
  tw_sim_webhook_attempt_t a = wait_attempt(fx, base + 1);
  assert_int_equal(a.status, 204);

  /* Redelivered with the same id: acknowledged, not processed again. */
  assert_int_equal(tw_sim_webhook_redeliver(fx->sf->sim), 1);
  a = wait_attempt(fx, base + 2);
  assert_int_equal(a.status, 204);
  assert_true(a.retry >= 1);
  assert_int_equal(fx->nevents, 1);

  /* A bad signature and a stale timestamp are refused with 403. */
  assert_int_equal(
      tw_sim_webhook_fault(fx->sf->sim, TW_SIM_WEBHOOK_BAD_SIGNATURE), 1);
  a = wait_attempt(fx, base + 3);
  assert_int_equal(a.fault, TW_SIM_WEBHOOK_BAD_SIGNATURE);
  assert_int_equal(a.status, 403);
  assert_int_equal(tw_sim_webhook_fault(fx->sf->sim, TW_SIM_WEBHOOK_STALE), 1);
  a = wait_attempt(fx, base + 4);
  assert_int_equal(a.fault, TW_SIM_WEBHOOK_STALE);
  assert_int_equal(a.status, 403);
  assert_int_equal(fx->nevents, 1);
  tw_eventsub_webhook_stats_t st;
  tw_eventsub_webhook_stats(fx->wh, &st);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.bad_signature, 1);
  assert_int_equal(st.stale, 1);

  /* Revocation reported; the subscription is no longer enabled here. */
  assert_true(tw_sim_eventsub_revoke(fx->sf->sim, fx->sub_id,
                                     "authorization_revoked") >= 0);
  assert_true(
      tw_test_run_until(&fx->sf->loop, revoked, fx, TW_TEST_WATCHDOG_MS));
  assert_string_equal(fx->revoked_status, "authorization_revoked");
  tw_eventsub_webhook_stats(fx->wh, &st);
  assert_int_equal(st.subs_enabled, 0);
  assert_int_equal(st.revocations, 1);
}

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_end_to_end, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
