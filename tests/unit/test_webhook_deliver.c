/* Outgoing webhooks end to end: tw_webhook_t posting through the core curl
 * adapter to a fake chat service (libmicrohttpd through the core adapter)
 * on 127.0.0.1, port 0, everything on one loop. The fake service records
 * every request and answers from a script, so each test can assert what
 * the service saw (JSON, headers, order, number of requests) and what the
 * caller was told. No test measures time: waits are asserted through the
 * log ("retrying in 1000 ms as the service asked") and made short with
 * time_scale.
 *
 * Every test also checks, in its teardown, that the log (captured at trace
 * level) never contains the webhook URL or its token, nor even
 * "[REDACTED]": the module must not try to log the URL at all. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>
#include <uv.h>

#include "net_test.h"

#include "twitchd/buf.h"
#include "twitchd/config.h"
#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/log.h"
#include "twitchd/uv_curl.h"
#include "twitchd/uv_mhd.h"
#include "twitchd/webhook.h"

#define WATCHDOG_MS 20000
#define MAX_RECS 64
#define MAX_SCRIPT 32
#define MAX_RESULTS 64
/* The token part of every test URL: must never reach the log. */
#define TOKEN "tok-Zx9SECRETqq7"

/* ---- the fake service ---------------------------------------------------- */

typedef struct {
  unsigned status;
  const char *ctype;
  const char *body;
  const char *hname[3];
  const char *hval[3];
  bool hang; /* suspend the request and never answer */
} reply_t;

typedef struct {
  char method[8];
  char path[256];
  char wait[16];
  char thread[32];
  char ctype[64];
  char ua[64];
  bool has_expect;
  char body[16384];
} rec_t;

typedef struct {
  tw_webhook_result_t r;
  char detail[256];
  int tag; /* which message, from the test's point of view */
} result_t;

typedef struct {
  uv_loop_t loop;
  uv_timer_t watchdog;
  tw_uvcurl_t *uc;
  tw_uvmhd_t *mhd;
  tw_uvmhd_t *mhd_tls; /* an https twin, for the TLS test */
  uint16_t port;
  bool uc_closed, mhd_closed, mhd_tls_closed, wh_closed;
  int wh_closed_count;
  tw_webhook_t *wh;
  char url[256];
  /* server */
  rec_t recs[MAX_RECS];
  int nrecs;
  reply_t script[MAX_SCRIPT];
  int nscript, next;
  reply_t dflt;
  /* client */
  result_t results[MAX_RESULTS];
  int nresults;
  bool close_in_cb; /* close the webhook from the first result callback */
  /* log */
  FILE *logf;
  char *logbuf;
  size_t loglen;
} fx_t;

typedef struct {
  tw_buf_t body;
  bool hung;
} req_t;

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  fail_msg("watchdog: the test did not finish in %d ms", WATCHDOG_MS);
}

static void copy_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
                       const char *key, char *dst, size_t cap) {
  const char *v = MHD_lookup_connection_value(c, kind, key);
  snprintf(dst, cap, "%s", v ? v : "");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)version;
  fx_t *fx = cls;
  req_t *r = *con_cls;
  if (r == NULL) {
    r = calloc(1, sizeof(*r));
    assert_non_null(r);
    tw_buf_init(&r->body, 1 << 20);
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_size) {
    assert_int_equal(tw_buf_append(&r->body, upload, *upload_size), 0);
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->hung)
    return MHD_NO; /* resumed by the daemon's shutdown */
  assert_true(fx->nrecs < MAX_RECS);
  rec_t *rec = &fx->recs[fx->nrecs++];
  memset(rec, 0, sizeof(*rec));
  snprintf(rec->method, sizeof(rec->method), "%s", method);
  snprintf(rec->path, sizeof(rec->path), "%s", url);
  copy_value(conn, MHD_GET_ARGUMENT_KIND, "wait", rec->wait, sizeof(rec->wait));
  copy_value(conn, MHD_GET_ARGUMENT_KIND, "thread_id", rec->thread,
             sizeof(rec->thread));
  copy_value(conn, MHD_HEADER_KIND, "Content-Type", rec->ctype,
             sizeof(rec->ctype));
  copy_value(conn, MHD_HEADER_KIND, "User-Agent", rec->ua, sizeof(rec->ua));
  rec->has_expect =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect") != NULL;
  snprintf(rec->body, sizeof(rec->body), "%s",
           r->body.data ? r->body.data : "");

  const reply_t *rp =
      fx->next < fx->nscript ? &fx->script[fx->next++] : &fx->dflt;
  if (rp->hang) {
    r->hung = true;
    assert_int_equal(tw_uvmhd_suspend(fx->mhd, conn), 0);
    return MHD_YES;
  }
  const char *body = rp->body ? rp->body : "";
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  assert_non_null(resp);
  if (rp->ctype)
    MHD_add_response_header(resp, "Content-Type", rp->ctype);
  for (int i = 0; i < 3 && rp->hname[i]; i++)
    MHD_add_response_header(resp, rp->hname[i], rp->hval[i]);
  enum MHD_Result rc = MHD_queue_response(conn, rp->status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  req_t *r = *con_cls;
  if (r == NULL)
    return;
  tw_buf_free(&r->body);
  free(r);
  *con_cls = NULL;
}

/* ---- fixture ------------------------------------------------------------- */

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  uv_timer_init(&fx->loop, &fx->watchdog);
  uv_timer_start(&fx->watchdog, on_watchdog, WATCHDOG_MS, 0);
  uv_unref((uv_handle_t *)&fx->watchdog);
  fx->uc = tw_uvcurl_new(&fx->loop);
  assert_non_null(fx->uc);
  tw_uvmhd_opts_t o = {0};
  o.handler = handler;
  o.handler_cls = fx;
  o.completed = completed;
  o.completed_cls = fx;
  assert_int_equal(tw_uvmhd_start(&fx->loop, &o, &fx->mhd), 0);
  fx->port = tw_uvmhd_port(fx->mhd);
  assert_true(fx->port > 0);
  fx->dflt.status = 204;
  fx->logf = open_memstream(&fx->logbuf, &fx->loglen);
  assert_non_null(fx->logf);
  tw_log_set_output(fx->logf);
  tw_log_set_level(TW_LOG_TRACE);
  *state = fx;
  return 0;
}

static void on_uc_closed(void *ud) {
  ((fx_t *)ud)->uc_closed = true;
}

static void on_mhd_closed(void *ud) {
  ((fx_t *)ud)->mhd_closed = true;
}

static void on_mhd_tls_closed(void *ud) {
  ((fx_t *)ud)->mhd_tls_closed = true;
}

static void on_wh_closed(void *ud) {
  fx_t *fx = ud;
  fx->wh_closed = true;
  fx->wh_closed_count++;
}

static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static const char *log_text(fx_t *fx) {
  fflush(fx->logf);
  return fx->logbuf ? fx->logbuf : "";
}

static int teardown(void **state) {
  fx_t *fx = *state;
  if (fx->wh != NULL && !fx->wh_closed)
    tw_webhook_close(fx->wh, on_wh_closed, fx);
  while (fx->wh != NULL && !fx->wh_closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
  tw_uvcurl_close(fx->uc, on_uc_closed, fx);
  tw_uvmhd_close(fx->mhd, on_mhd_closed, fx);
  if (fx->mhd_tls != NULL)
    tw_uvmhd_close(fx->mhd_tls, on_mhd_tls_closed, fx);
  while (!fx->uc_closed || !fx->mhd_closed ||
         (fx->mhd_tls != NULL && !fx->mhd_tls_closed))
    uv_run(&fx->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&fx->watchdog, NULL);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&fx->loop) != 0) {
    uv_walk(&fx->loop, on_walk_close, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    fail_msg("the loop had handles left");
  }
  const char *log = log_text(fx);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  if (strstr(log, TOKEN) != NULL || strstr(log, "[REDACTED]") != NULL ||
      (fx->url[0] && strstr(log, fx->url) != NULL))
    fail_msg("the webhook URL reached the log:\n%s", log);
  fclose(fx->logf);
  free(fx->logbuf);
  tw_log_clear_secrets();
  free(fx);
  return 0;
}

static void on_result(tw_webhook_t *wh, const tw_webhook_result_t *r,
                      void *ud) {
  fx_t *fx = ud;
  assert_ptr_equal(wh, fx->wh);
  assert_true(fx->nresults < MAX_RESULTS);
  result_t *res = &fx->results[fx->nresults++];
  res->r = *r;
  snprintf(res->detail, sizeof(res->detail), "%s", r->detail);
  res->r.detail = res->detail;
  if (fx->close_in_cb && fx->nresults == 1)
    tw_webhook_close(wh, on_wh_closed, fx);
}

static void script(fx_t *fx, reply_t r) {
  assert_true(fx->nscript < MAX_SCRIPT);
  fx->script[fx->nscript++] = r;
}

static tw_webhook_opts_t opts(fx_t *fx, tw_webhook_kind_t kind,
                              const char *path_and_query) {
  snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%u%s", fx->port,
           path_and_query);
  tw_webhook_opts_t o;
  memset(&o, 0, sizeof(o));
  o.name = kind == TW_WEBHOOK_DISCORD ? "discord"
           : kind == TW_WEBHOOK_SLACK ? "slack"
                                      : "rocketchat";
  o.kind = kind;
  o.url = fx->url;
  o.backoff_base_ms = 1;
  o.backoff_cap_ms = 4;
  return o;
}

static void make(fx_t *fx, const tw_webhook_opts_t *o) {
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, o, &fx->wh), 0);
  assert_non_null(fx->wh);
}

static void send_ok(fx_t *fx, const char *text) {
  assert_int_equal(tw_webhook_send(fx->wh, text, on_result, fx), 0);
}

static void run_until_results(fx_t *fx, int n) {
  while (fx->nresults < n)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

static void expect_log(fx_t *fx, const char *want) {
  const char *log = log_text(fx);
  if (strstr(log, want) == NULL)
    fail_msg("expected in the log: %s\nlog:\n%s", want, log);
}

static tw_webhook_stats_t stats(fx_t *fx) {
  tw_webhook_stats_t s;
  tw_webhook_stats(fx->wh, &s);
  return s;
}

/* The backoff's largest draw, so that delays are known exactly. */
static uint64_t max_rand(void *ctx) {
  (void)ctx;
  return UINT64_MAX;
}

/* ---- formats ------------------------------------------------------------- */

/* Discord: {"content", "username"} as JSON, ?wait=true added so that
 * Discord confirms the message was saved (200 with the message). */
static void test_discord_request(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o =
      opts(fx, TW_WEBHOOK_DISCORD, "/api/webhooks/123/" TOKEN);
  o.username = "Stream Bot";
  make(fx, &o);
  fx->dflt.status = 200;
  fx->dflt.ctype = "application/json";
  fx->dflt.body = "{\"id\":\"1\",\"type\":0,\"content\":\"x\"}";
  send_ok(fx, "Live now: \"Coding\" \xc3\xbc \xf0\x9f\x8e\x89");
  run_until_results(fx, 1);
  assert_int_equal(fx->nrecs, 1);
  rec_t *r = &fx->recs[0];
  assert_string_equal(r->method, "POST");
  assert_string_equal(r->path, "/api/webhooks/123/" TOKEN);
  assert_string_equal(r->wait, "true");
  assert_string_equal(r->ctype, "application/json");
  assert_memory_equal(r->ua, "twitchd/", 8);
  assert_false(r->has_expect);
  assert_string_equal(r->body, "{\"content\":\"Live now: \\\"Coding\\\" "
                               "\xc3\xbc \xf0\x9f\x8e\x89\",\"username\":"
                               "\"Stream Bot\"}");
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[0].r.http_status, 200);
  assert_int_equal(fx->results[0].r.attempts, 1);
  assert_int_equal(fx->results[0].r.id, 1);
  assert_string_equal(fx->results[0].detail, "");
  tw_webhook_stats_t s = stats(fx);
  assert_int_equal(s.sent, 1);
  assert_int_equal(s.queued, 0);
}

/* A URL that already chooses wait (and a thread) is left as it is; without
 * wait Discord answers 204, which is success too. */
static void test_discord_204(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o =
      opts(fx, TW_WEBHOOK_DISCORD,
           "/api/webhooks/1/" TOKEN "?thread_id=77&wait=false");
  make(fx, &o);
  send_ok(fx, "one");
  send_ok(fx, "two");
  run_until_results(fx, 2);
  assert_int_equal(fx->nrecs, 2);
  assert_string_equal(fx->recs[0].wait, "false");
  assert_string_equal(fx->recs[0].thread, "77");
  assert_string_equal(fx->recs[0].body, "{\"content\":\"one\"}");
  assert_string_equal(fx->recs[1].body, "{\"content\":\"two\"}");
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[0].r.http_status, 204);
  assert_int_equal(fx->results[1].r.id, 2);
  assert_int_equal(stats(fx).sent, 2);
}

static void test_slack_request(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/T0/B0/" TOKEN);
  make(fx, &o);
  fx->dflt.status = 200;
  fx->dflt.ctype = "text/html";
  fx->dflt.body = "ok";
  send_ok(fx, "I'm live\non Twitch");
  run_until_results(fx, 1);
  assert_int_equal(fx->nrecs, 1);
  assert_string_equal(fx->recs[0].path, "/services/T0/B0/" TOKEN);
  assert_string_equal(fx->recs[0].wait, "");
  assert_string_equal(fx->recs[0].ctype, "application/json");
  assert_string_equal(fx->recs[0].body, "{\"text\":\"I'm live\\non Twitch\"}");
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[0].r.http_status, 200);
}

static void test_rocketchat_request(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_ROCKETCHAT, "/hooks/abc/" TOKEN);
  o.username = "twitchd";
  make(fx, &o);
  script(fx, (reply_t){.status = 200,
                       .ctype = "application/json",
                       .body = "{\"success\":true}"});
  /* A script on the integration may refuse with a 200. */
  script(fx, (reply_t){.status = 200,
                       .ctype = "application/json",
                       .body = "{\"success\":false,\"error\":\"no room\"}"});
  script(fx, (reply_t){.status = 400,
                       .ctype = "application/json",
                       .body = "{\"success\":false,\"error\":\"overriding "
                               "destination channel is disabled\"}"});
  send_ok(fx, "hi");
  send_ok(fx, "second");
  send_ok(fx, "third");
  run_until_results(fx, 3);
  assert_int_equal(fx->nrecs, 3);
  assert_string_equal(fx->recs[0].body,
                      "{\"text\":\"hi\",\"alias\":\"twitchd\"}");
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[1].r.err, TW_EHTTP);
  assert_int_equal(fx->results[1].r.http_status, 200);
  assert_string_equal(fx->results[1].detail, "no room");
  assert_int_equal(fx->results[2].r.err, TW_EHTTP);
  assert_int_equal(fx->results[2].r.http_status, 400);
  assert_string_equal(fx->results[2].detail,
                      "overriding destination channel is disabled");
  tw_webhook_stats_t s = stats(fx);
  assert_int_equal(s.sent, 1);
  assert_int_equal(s.failed, 2);
  assert_int_equal(s.retried, 0);
}

/* ---- retries ------------------------------------------------------------- */

/* 500 and 502 are retried with exponential backoff (here its largest draw:
 * 1 ms, then 2 ms), then the message is delivered; the next message waits
 * for it. */
static void test_5xx_then_success(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  o.rand = max_rand;
  make(fx, &o);
  script(fx, (reply_t){.status = 500, .body = "rollup_error"});
  script(fx, (reply_t){.status = 502, .body = "<html>bad gateway</html>"});
  fx->dflt = (reply_t){.status = 200, .body = "ok"};
  send_ok(fx, "A");
  send_ok(fx, "B");
  run_until_results(fx, 2);
  assert_int_equal(fx->nrecs, 4);
  assert_string_equal(fx->recs[0].body, "{\"text\":\"A\"}");
  assert_string_equal(fx->recs[1].body, "{\"text\":\"A\"}");
  assert_string_equal(fx->recs[2].body, "{\"text\":\"A\"}");
  assert_string_equal(fx->recs[3].body, "{\"text\":\"B\"}");
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[0].r.attempts, 3);
  assert_int_equal(fx->results[1].r.attempts, 1);
  tw_webhook_stats_t s = stats(fx);
  assert_int_equal(s.sent, 2);
  assert_int_equal(s.retried, 2);
  assert_int_equal(s.failed, 0);
  expect_log(fx, "slack: message 1 attempt 1: HTTP 500: rollup_error; "
                 "retrying in 1 ms");
  expect_log(fx, "slack: message 1 attempt 2: HTTP 502: <html>bad "
                 "gateway</html>; retrying in 2 ms");
}

/* A 429 is waited out exactly as long as the service says, then the same
 * message is sent again before the next one. */
static void test_429_retry_after(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  o.time_scale = 0.01;
  make(fx, &o);
  script(fx, (reply_t){.status = 429,
                       .ctype = "application/json",
                       .body = "{\"ok\":false,\"error\":\"rate_limited\"}",
                       .hname = {"Retry-After"},
                       .hval = {"1"}});
  script(fx, (reply_t){.status = 429,
                       .body = "slow down",
                       .hname = {"Retry-After"},
                       .hval = {"0"}});
  fx->dflt = (reply_t){.status = 200, .body = "ok"};
  send_ok(fx, "A");
  send_ok(fx, "B");
  run_until_results(fx, 2);
  assert_int_equal(fx->nrecs, 4);
  const char *want[] = {"A", "A", "A", "B"};
  for (int i = 0; i < 4; i++) {
    char b[64];
    snprintf(b, sizeof(b), "{\"text\":\"%s\"}", want[i]);
    assert_string_equal(fx->recs[i].body, b);
  }
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[0].r.attempts, 3);
  assert_int_equal(fx->results[1].r.err, 0);
  tw_webhook_stats_t s = stats(fx);
  assert_int_equal(s.rate_limited, 2);
  assert_int_equal(s.retried, 2);
  assert_int_equal(s.sent, 2);
  /* The waits asked for, unscaled. */
  expect_log(fx, "slack: message 1 attempt 1: rate limited (HTTP 429): "
                 "rate_limited; retrying in 1000 ms as the service asked");
  expect_log(fx, "message 1 attempt 2: rate limited (HTTP 429): slow down; "
                 "retrying in 0 ms as the service asked");
}

/* 408 is retried like a 5xx; a 429 without any hint falls back to the
 * backoff (here 1 ms, then 2 ms: the largest draws). */
static void test_408_and_bare_429(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_ROCKETCHAT, "/hooks/x/" TOKEN);
  o.rand = max_rand;
  make(fx, &o);
  script(fx, (reply_t){.status = 408});
  script(fx, (reply_t){.status = 429});
  fx->dflt = (reply_t){.status = 200, .body = "{\"success\":true}"};
  send_ok(fx, "A");
  run_until_results(fx, 1);
  assert_int_equal(fx->nrecs, 3);
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[0].r.attempts, 3);
  expect_log(fx, "message 1 attempt 1: HTTP 408; retrying in 1 ms\n");
  expect_log(fx, "message 1 attempt 2: rate limited (HTTP 429); retrying in "
                 "2 ms\n");
}

/* A wait longer than TW_MAX_WEBHOOK_WAIT_MS is cut to it. */
static void test_429_wait_capped(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  o.time_scale = 0.00001; /* 15 minutes become 9 ms */
  make(fx, &o);
  script(fx, (reply_t){
                 .status = 429, .hname = {"Retry-After"}, .hval = {"100000"}});
  fx->dflt = (reply_t){.status = 200, .body = "ok"};
  send_ok(fx, "A");
  run_until_results(fx, 1);
  assert_int_equal(fx->results[0].r.err, 0);
  expect_log(fx, "slack: the service asked to wait 100000000 ms; waiting "
                 "900000 ms");
  expect_log(fx, "retrying in 900000 ms as the service asked");
}

/* Discord's body says retry_after with a fraction; it wins over the
 * header, which Discord rounds up to whole seconds. An HTTP date works as
 * Retry-After too. */
static void test_429_discord_retry_after(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_DISCORD, "/api/webhooks/9/" TOKEN);
  make(fx, &o);
  script(fx, (reply_t){.status = 429,
                       .ctype = "application/json",
                       .body = "{\"message\":\"You are being rate limited.\","
                               "\"retry_after\":0.0254,\"global\":false}",
                       .hname = {"Retry-After"},
                       .hval = {"1"}});
  script(fx, (reply_t){.status = 429,
                       .body = "",
                       .hname = {"Retry-After"},
                       .hval = {"Wed, 21 Oct 2015 07:28:00 GMT"}});
  send_ok(fx, "A");
  run_until_results(fx, 1);
  assert_int_equal(fx->nrecs, 3);
  assert_int_equal(fx->results[0].r.err, 0);
  expect_log(fx, "rate limited (HTTP 429): You are being rate limited.; "
                 "retrying in 26 ms as the service asked");
  /* A date in the past: go now. */
  expect_log(fx, "message 1 attempt 2: rate limited (HTTP 429); retrying in "
                 "0 ms as the service asked");
}

/* A 4xx is final for that message: logged with the status and the
 * service's text, counted, and the next message is still delivered. */
static void test_400_permanent(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  make(fx, &o);
  script(fx, (reply_t){.status = 400,
                       .ctype = "text/plain",
                       .body = "invalid_payload"});
  script(fx, (reply_t){.status = 404,
                       .ctype = "text/plain",
                       .body = "channel_not_found"});
  fx->dflt = (reply_t){.status = 200, .body = "ok"};
  send_ok(fx, "A");
  send_ok(fx, "B");
  send_ok(fx, "C");
  run_until_results(fx, 3);
  assert_int_equal(fx->nrecs, 3); /* nothing retried */
  assert_int_equal(fx->results[0].r.err, TW_EHTTP);
  assert_int_equal(fx->results[0].r.http_status, 400);
  assert_int_equal(fx->results[0].r.attempts, 1);
  assert_string_equal(fx->results[0].detail, "invalid_payload");
  assert_int_equal(fx->results[1].r.http_status, 404);
  assert_string_equal(fx->results[1].detail, "channel_not_found");
  assert_int_equal(fx->results[2].r.err, 0);
  assert_string_equal(fx->recs[2].body, "{\"text\":\"C\"}");
  tw_webhook_stats_t s = stats(fx);
  assert_int_equal(s.failed, 2);
  assert_int_equal(s.sent, 1);
  assert_int_equal(s.retried, 0);
  expect_log(fx, "ERROR webhook: slack: message 1 refused (HTTP 400: "
                 "invalid_payload); dropped");
  expect_log(fx, "message 2 refused (HTTP 404: channel_not_found)");
}

/* Discord's error body: message, code and the field errors. */
static void test_discord_error_text(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_DISCORD, "/api/webhooks/9/" TOKEN);
  make(fx, &o);
  script(fx, (reply_t){.status = 400,
                       .ctype = "application/json",
                       .body = "{\"message\":\"Invalid Form Body\",\"code\":"
                               "50035,\"errors\":{\"username\":{\"_errors\":"
                               "[{\"code\":\"USERNAME_INVALID\"}]}}}"});
  send_ok(fx, "A");
  run_until_results(fx, 1);
  assert_int_equal(fx->results[0].r.err, TW_EHTTP);
  assert_string_equal(fx->results[0].detail,
                      "Invalid Form Body (code 50035): {\"username\":{\"_"
                      "errors\":[{\"code\":\"USERNAME_INVALID\"}]}}");
}

/* Out of attempts: the message is logged as failed, with its last error. */
static void test_attempts_exhausted(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  o.max_attempts = 3;
  make(fx, &o);
  fx->dflt = (reply_t){.status = 503, .body = "Service Unavailable"};
  send_ok(fx, "A");
  run_until_results(fx, 1);
  assert_int_equal(fx->nrecs, 3);
  assert_int_equal(fx->results[0].r.err, TW_EHTTP);
  assert_int_equal(fx->results[0].r.http_status, 503);
  assert_int_equal(fx->results[0].r.attempts, 3);
  tw_webhook_stats_t s = stats(fx);
  assert_int_equal(s.failed, 1);
  assert_int_equal(s.retried, 2);
  expect_log(fx, "slack: message 1 not delivered after 3 attempts (last: "
                 "HTTP 503: Service Unavailable)");
}

/* A 429 counts as an attempt, so a service that never stops limiting
 * cannot hold the queue forever. */
static void test_429_exhausted(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  o.max_attempts = 2;
  make(fx, &o);
  fx->dflt = (reply_t){.status = 429, .hname = {"Retry-After"}, .hval = {"0"}};
  send_ok(fx, "A");
  run_until_results(fx, 1);
  assert_int_equal(fx->nrecs, 2);
  assert_int_equal(fx->results[0].r.err, TW_ERATELIMIT);
}

/* A network error (nothing listening) is retried, then reported. */
static void test_network_error(void **state) {
  fx_t *fx = *state;
  /* A port that was free a moment ago and has nothing listening. */
  uv_tcp_t tcp;
  uv_tcp_init(&fx->loop, &tcp);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(&tcp, (const struct sockaddr *)&a, 0), 0);
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  uv_tcp_getsockname(&tcp, (struct sockaddr *)&ss, &len);
  unsigned port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&tcp, NULL);
  uv_run(&fx->loop, UV_RUN_NOWAIT);

  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_ROCKETCHAT, "");
  snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%u/hooks/" TOKEN, port);
  o.max_attempts = 2;
  make(fx, &o);
  send_ok(fx, "A");
  run_until_results(fx, 1);
  assert_int_equal(fx->results[0].r.err, TW_ECONNREFUSED);
  assert_int_equal(fx->results[0].r.http_status, 0);
  assert_int_equal(fx->results[0].r.attempts, 2);
  assert_true(strlen(fx->results[0].detail) > 0);
  expect_log(fx, "rocketchat: message 1 attempt 1: network error: ");
  expect_log(fx, "rocketchat: message 1 not delivered after 2 attempts");
}

/* Discord says the webhook's bucket is empty: the next request waits for
 * the reset instead of collecting a 429. */
static void test_discord_bucket_pause(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_DISCORD, "/api/webhooks/9/" TOKEN);
  make(fx, &o);
  script(fx, (reply_t){
                 .status = 204,
                 .hname = {"X-RateLimit-Remaining", "X-RateLimit-Reset-After"},
                 .hval = {"0", "0.03"}});
  send_ok(fx, "A");
  send_ok(fx, "B");
  run_until_results(fx, 2);
  assert_int_equal(fx->nrecs, 2);
  assert_int_equal(stats(fx).rate_limited, 0);
  expect_log(fx, "discord: rate limit used up; pausing 30 ms");
}

/* ---- the queue ----------------------------------------------------------- */

static void test_queue_full(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  o.max_queue = 2;
  make(fx, &o);
  fx->dflt = (reply_t){.status = 200, .body = "ok"};
  send_ok(fx, "A");
  send_ok(fx, "B");
  assert_int_equal(tw_webhook_send(fx->wh, "C", on_result, fx), TW_EFULL);
  assert_int_equal(stats(fx).queued, 2);
  expect_log(fx, "slack: queue full (2 messages); message refused");
  run_until_results(fx, 2);
  assert_int_equal(fx->nrecs, 2);
  assert_int_equal(fx->nresults, 2); /* none for C */
  /* Room again. */
  send_ok(fx, "D");
  run_until_results(fx, 3);
  assert_string_equal(fx->recs[2].body, "{\"text\":\"D\"}");
}

static void test_bad_arguments(void **state) {
  fx_t *fx = *state;
  tw_webhook_t *wh = NULL;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  tw_webhook_opts_t b;
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, NULL, &wh), TW_EINVAL);
  assert_int_equal(tw_webhook_new(NULL, fx->uc, &o, &wh), TW_EINVAL);
  assert_int_equal(tw_webhook_new(&fx->loop, NULL, &o, &wh), TW_EINVAL);
  const char *bad_urls[] = {
      "http://hooks.slack.com/services/x/" TOKEN, /* http, not loopback */
      "ftp://127.0.0.1/x/" TOKEN,
      "https://user:pw@hooks.slack.com/x/" TOKEN,
      "https://hooks.slack.com/x/" TOKEN "#frag",
      "not a url",
      "",
  };
  for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
    b = o;
    b.url = bad_urls[i];
    assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_EINVAL);
    assert_null(wh);
  }
  char longurl[TW_MAX_WEBHOOK_URL + 64];
  int n = snprintf(longurl, sizeof(longurl), "https://e.x/");
  memset(longurl + n, 'a', sizeof(longurl) - (size_t)n - 1);
  longurl[sizeof(longurl) - 1] = '\0';
  b = o;
  b.url = longurl;
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_ETOOBIG);
  b = o;
  b.name = "my hook";
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_EINVAL);
  b.name = "";
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_EINVAL);
  b = o;
  b.kind = (tw_webhook_kind_t)9;
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_EINVAL);
  b = o;
  b.max_queue = TW_MAX_WEBHOOK_QUEUE + 1;
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_EINVAL);
  b = o;
  b.max_attempts = TW_MAX_WEBHOOK_ATTEMPTS + 1;
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_EINVAL);
  b = o;
  char name81[90];
  memset(name81, 'n', 81);
  name81[81] = '\0';
  b.username = name81;
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), TW_EINVAL);

  /* https to any host is accepted (nothing is sent here). */
  b = o;
  b.url = "https://hooks.slack.com/services/T0/B0/" TOKEN;
  assert_int_equal(tw_webhook_new(&fx->loop, fx->uc, &b, &wh), 0);
  tw_webhook_close(wh, NULL, NULL);

  make(fx, &o);
  assert_string_equal(tw_webhook_name(fx->wh), "slack");
  assert_int_equal(tw_webhook_get_kind(fx->wh), TW_WEBHOOK_SLACK);
  assert_int_equal(tw_webhook_send(fx->wh, "", on_result, fx), TW_EINVAL);
  assert_int_equal(tw_webhook_send(fx->wh, NULL, on_result, fx), TW_EINVAL);
  assert_int_equal(tw_webhook_send(fx->wh, "\xff\xfe", on_result, fx),
                   TW_EINVAL);
  char big[TW_MAX_WEBHOOK_TEXT + 2];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(tw_webhook_send(fx->wh, big, on_result, fx), TW_ETOOBIG);
  big[TW_MAX_WEBHOOK_TEXT] = '\0'; /* exactly the cap: fine */
  send_ok(fx, big);
  run_until_results(fx, 1);
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->nresults, 1);
}

/* The URL (and the path, which holds the token) is registered for
 * redaction as soon as the instance exists. */
static void test_url_is_secret(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_DISCORD, "/api/webhooks/5/" TOKEN);
  char out[512];
  tw_log_redact(fx->url, out, sizeof(out));
  assert_string_equal(out, fx->url); /* not yet */
  make(fx, &o);
  tw_log_redact(fx->url, out, sizeof(out));
  assert_string_equal(out, "[REDACTED]");
  tw_log_redact("GET /api/webhooks/5/" TOKEN "?wait=true", out, sizeof(out));
  assert_null(strstr(out, TOKEN));
}

/* ---- events and routing -------------------------------------------------- */

static void test_send_event(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_DISCORD, "/api/webhooks/5/" TOKEN);
  make(fx, &o);
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  assert_non_null(ev);
  assert_int_equal(tw_webhook_send_event(fx->wh, ev, on_result, fx),
                   TW_EINVAL); /* no text */
  assert_int_equal(tw_event_set_str(ev, "text",
                                    "I'm live on twitch, come "
                                    "see me work on C"),
                   0);
  assert_int_equal(tw_webhook_send_event(fx->wh, ev, on_result, fx), 0);
  tw_event_t *ban = tw_event_new(TW_EVENT_BAN_USER);
  assert_int_equal(tw_webhook_send_event(fx->wh, ban, on_result, fx),
                   TW_EUNSUPPORTED);
  run_until_results(fx, 1);
  assert_string_equal(fx->recs[0].body, "{\"content\":\"I'm live on twitch, "
                                        "come see me work on C\"}");
  tw_event_free(ev);
  tw_event_free(ban);
}

typedef struct {
  fx_t *fx;
  bool closed;
  int results;
  int last_err;
} set_ctx_t;

static void on_set_result(tw_webhook_t *wh, const tw_webhook_result_t *r,
                          void *ud) {
  (void)wh;
  set_ctx_t *sc = ud;
  sc->results++;
  sc->last_err = r->err;
}

static void on_set_closed(void *ud) {
  ((set_ctx_t *)ud)->closed = true;
}

/* The runtime's path: a configuration with named webhooks, and skills'
 * Message actions routed by their connector name. */
static void test_route_from_config(void **state) {
  fx_t *fx = *state;
  char yaml[1024];
  snprintf(yaml, sizeof(yaml),
           "connectors:\n"
           "  twitch:\n"
           "    client-id: abc\n"
           "    channel: theflyingdev\n"
           "    token-file: /tmp/twitchd-test-tokens.json\n"
           "  webhook:\n"
           "    discord:\n"
           "      kind: discord\n"
           "      url: http://127.0.0.1:%u/api/webhooks/1/" TOKEN "\n"
           "      username: twitchd\n"
           "    rocketchat:\n"
           "      kind: rocketchat\n"
           "      url: http://127.0.0.1:%u/hooks/2/" TOKEN "\n",
           fx->port, fx->port);
  snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%u/api/webhooks/1/",
           fx->port);
  tw_config_t *cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml)), 0);
  tw_webhook_opts_t base;
  memset(&base, 0, sizeof(base));
  base.backoff_base_ms = 1;
  base.url = "ignored";
  tw_webhooks_t *set = NULL;
  assert_int_equal(tw_webhooks_new(&fx->loop, fx->uc, cfg, &base, &set), 0);
  tw_config_free(cfg); /* the set copied what it needs */
  assert_int_equal(tw_webhooks_count(set), 2);
  assert_string_equal(tw_webhook_name(tw_webhooks_at(set, 0)), "discord");
  assert_null(tw_webhooks_at(set, 2));
  assert_non_null(tw_webhooks_find(set, "rocketchat"));
  assert_null(tw_webhooks_find(set, "twitch"));

  fx->dflt = (reply_t){.status = 200, .body = "{\"success\":true}"};
  set_ctx_t sc = {fx, false, 0, -1};
  /* The seed's example: on StreamStarted, a Message to "rocketchat". */
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  tw_event_set_str(ev, "text", "I'm live on twitch");
  tw_event_set_str(ev, "connector", "rocketchat");
  assert_int_equal(tw_webhooks_route(set, ev, on_set_result, &sc), 0);
  tw_event_set_str(ev, "connector", "discord");
  assert_int_equal(tw_webhooks_route(set, ev, on_set_result, &sc), 0);
  tw_event_set_str(ev, "connector", "slack");
  assert_int_equal(tw_webhooks_route(set, ev, on_set_result, &sc),
                   TW_ENOTFOUND);
  tw_event_set_str(ev, "connector", NULL);
  assert_int_equal(tw_webhooks_route(set, ev, on_set_result, &sc),
                   TW_ENOTFOUND);
  while (sc.results < 2)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_int_equal(sc.last_err, 0);
  /* Two instances, each in order; which one reaches the server first is
   * not defined, so find each by path. */
  assert_int_equal(fx->nrecs, 2);
  int rc_i = strncmp(fx->recs[0].path, "/hooks/", 7) == 0 ? 0 : 1;
  assert_string_equal(fx->recs[rc_i].path, "/hooks/2/" TOKEN);
  assert_string_equal(fx->recs[rc_i].body, "{\"text\":\"I'm live on twitch\"}");
  assert_string_equal(fx->recs[1 - rc_i].path, "/api/webhooks/1/" TOKEN);
  assert_string_equal(fx->recs[1 - rc_i].wait, "true");
  assert_string_equal(fx->recs[1 - rc_i].body,
                      "{\"content\":\"I'm live on twitch\",\"username\":"
                      "\"twitchd\"}");
  tw_event_free(ev);
  tw_webhooks_close(set, on_set_closed, &sc);
  while (!sc.closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

/* A configuration without webhooks: an empty set, closed asynchronously
 * like any other. */
static void test_empty_set(void **state) {
  fx_t *fx = *state;
  const char *yaml = "connectors:\n"
                     "  twitch:\n"
                     "    client-id: abc\n"
                     "    channel: foo\n"
                     "    token-file: /tmp/twitchd-test-tokens.json\n";
  tw_config_t *cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml)), 0);
  tw_webhooks_t *set = NULL;
  assert_int_equal(tw_webhooks_new(&fx->loop, fx->uc, cfg, NULL, &set), 0);
  tw_config_free(cfg);
  assert_int_equal(tw_webhooks_count(set), 0);
  set_ctx_t sc = {fx, false, 0, -1};
  tw_webhooks_close(set, on_set_closed, &sc);
  assert_false(sc.closed);
  while (!sc.closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

/* ---- closing ------------------------------------------------------------- */

/* Closing with a request in flight (the service never answers) and more
 * queued: every message is reported cancelled, at once, and the loop ends
 * clean. */
static void test_close_in_flight(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  make(fx, &o);
  script(fx, (reply_t){.hang = true});
  send_ok(fx, "A");
  send_ok(fx, "B");
  send_ok(fx, "C");
  while (fx->nrecs < 1)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_int_equal(tw_uvcurl_count(fx->uc), 1);
  tw_webhook_close(fx->wh, on_wh_closed, fx);
  assert_int_equal(fx->nresults, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(fx->results[i].r.err, TW_ECANCELED);
    assert_int_equal(fx->results[i].r.id, (uint64_t)i + 1);
  }
  assert_int_equal(fx->results[0].r.attempts, 1);
  assert_int_equal(fx->results[1].r.attempts, 0);
  assert_int_equal(tw_uvcurl_count(fx->uc), 0);
  /* A second close is ignored. */
  tw_webhook_close(fx->wh, on_wh_closed, fx);
  while (!fx->wh_closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_int_equal(fx->wh_closed_count, 1);
  assert_int_equal(fx->nrecs, 1);
  expect_log(fx, "slack: closed with 3 messages not delivered");
}

/* Closing while a retry waits on the timer (a long backoff): nothing is
 * left waiting. */
static void test_close_during_backoff(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  o.backoff_base_ms = 60000;
  o.backoff_cap_ms = 60000;
  o.rand = max_rand; /* the full minute, not a lucky 0 */
  make(fx, &o);
  script(fx, (reply_t){.status = 500});
  send_ok(fx, "A");
  while (fx->nrecs < 1 || !strstr(log_text(fx), "retrying in"))
    uv_run(&fx->loop, UV_RUN_ONCE);
  tw_webhook_close(fx->wh, on_wh_closed, fx);
  assert_int_equal(fx->nresults, 1);
  assert_int_equal(fx->results[0].r.err, TW_ECANCELED);
  assert_int_equal(fx->results[0].r.attempts, 1);
  while (!fx->wh_closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

/* Closing from a done callback: the rest is cancelled, and sends are
 * refused. */
static void test_close_from_callback(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  make(fx, &o);
  fx->dflt = (reply_t){.status = 200, .body = "ok"};
  fx->close_in_cb = true;
  send_ok(fx, "A");
  send_ok(fx, "B");
  run_until_results(fx, 2);
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->results[1].r.err, TW_ECANCELED);
  assert_int_equal(fx->nrecs, 1);
  while (!fx->wh_closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

/* The curl adapter closed under a webhook (a shutdown in the wrong order):
 * the messages are reported cancelled, sends are refused, and the webhook
 * still closes cleanly. */
static void test_adapter_closed_first(void **state) {
  fx_t *fx = *state;
  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "/services/x/" TOKEN);
  make(fx, &o);
  script(fx, (reply_t){.hang = true});
  send_ok(fx, "A");
  send_ok(fx, "B");
  while (fx->nrecs < 1)
    uv_run(&fx->loop, UV_RUN_ONCE);
  tw_uvcurl_close(fx->uc, on_uc_closed, fx);
  assert_int_equal(fx->nresults, 2);
  assert_int_equal(fx->results[0].r.err, TW_ECANCELED);
  assert_int_equal(fx->results[1].r.err, TW_ECANCELED);
  assert_int_equal(tw_webhook_send(fx->wh, "C", on_result, fx), TW_ESTATE);
  tw_webhook_close(fx->wh, on_wh_closed, fx);
  while (!fx->wh_closed || !fx->uc_closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
  /* teardown closes it again: make that a no-op by a fresh adapter */
  fx->uc = tw_uvcurl_new(&fx->loop);
  fx->uc_closed = false;
  expect_log(fx, "slack: the HTTP client was closed; dropping 2 messages");
}

/* ---- https ----------------------------------------------------------------
 */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[3][16384];
  static int i;
  char *b = buf[i++ % 3];
  size_t n = fread(b, 1, sizeof(buf[0]) - 1, f);
  b[n] = '\0';
  fclose(f);
  return b;
}

/* Over https with a test CA: delivered when the CA is trusted (ca_file),
 * refused as a certificate failure when it is not. */
static void test_https(void **state) {
  fx_t *fx = *state;
  tw_test_pki_t pki;
  assert_int_equal(tw_test_pki_make(&pki, 0), 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char *cert = read_file(pki.cert);
  char *key = read_file(pki.key);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_TLS | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
      handler, fx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
      MHD_OPTION_NOTIFY_COMPLETED, completed, fx, MHD_OPTION_END);
  assert_non_null(d);
  assert_int_equal(tw_uvmhd_adopt(&fx->loop, d, &fx->mhd_tls), 0);
  unsigned port = tw_uvmhd_port(fx->mhd_tls);
  assert_true(port > 0);

  tw_webhook_opts_t o = opts(fx, TW_WEBHOOK_SLACK, "");
  snprintf(fx->url, sizeof(fx->url), "https://127.0.0.1:%u/services/T/B/" TOKEN,
           port);
  o.ca_file = pki.ca;
  o.max_attempts = 1;
  make(fx, &o);
  fx->dflt = (reply_t){.status = 200, .body = "ok"};
  send_ok(fx, "over TLS");
  run_until_results(fx, 1);
  assert_int_equal(fx->results[0].r.err, 0);
  assert_int_equal(fx->nrecs, 1);
  assert_string_equal(fx->recs[0].body, "{\"text\":\"over TLS\"}");
  tw_webhook_close(fx->wh, on_wh_closed, fx);
  while (!fx->wh_closed)
    uv_run(&fx->loop, UV_RUN_ONCE);

  /* The same server, without trusting its CA. */
  fx->wh_closed = false;
  o.ca_file = NULL;
  make(fx, &o);
  send_ok(fx, "not over TLS");
  run_until_results(fx, 2);
  assert_int_equal(fx->results[1].r.err, TW_ECERT);
  assert_int_equal(fx->nrecs, 1);
  tw_test_pki_remove(&pki);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_discord_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discord_204, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slack_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rocketchat_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_5xx_then_success, setup, teardown),
      cmocka_unit_test_setup_teardown(test_429_retry_after, setup, teardown),
      cmocka_unit_test_setup_teardown(test_429_discord_retry_after, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_408_and_bare_429, setup, teardown),
      cmocka_unit_test_setup_teardown(test_429_wait_capped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_400_permanent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discord_error_text, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attempts_exhausted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_429_exhausted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_network_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discord_bucket_pause, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_url_is_secret, setup, teardown),
      cmocka_unit_test_setup_teardown(test_send_event, setup, teardown),
      cmocka_unit_test_setup_teardown(test_route_from_config, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_set, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_during_backoff, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_close_from_callback, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_adapter_closed_first, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_https, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
