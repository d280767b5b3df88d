/* The EventSub WebSocket client end to end: Helix subscriptions against the
 * in-process simulator's API listener (read back from its request record),
 * and the EventSub side from a scripted WSS server in this file (on
 * 127.0.0.1, port 0, a generated test CA) that sends exactly what
 * docs/twitch-protocol.md 3.5 describes: welcome, keepalives,
 * notifications, session_reconnect, revocation, close codes.
 *
 * Covered: subscriptions created on welcome with the session id and the
 * right conditions; notifications become the right tw_event_t; a
 * duplicate message id is delivered once; keepalive loss reconnects and
 * subscribes again on the new session; session_reconnect switches without
 * loss, duplication or resubscription; revocation stops that subscription
 * for good; a missing scope is one log line per subscription and the
 * others work; the client never sends a text frame; no token in the log. */
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

#include "net_test.h"
#include "sim_api_test.h"
#include "test_tokens.h"

#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/eventsub_client.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/sim.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"
#include "twitchd/ws.h"

#define BOT_TOKEN "chan-tok-SECRET-0000000001"
#define ALL_SCOPES                                                             \
  "moderator:read:followers channel:read:subscriptions bits:read "             \
  "channel:moderate"
#define MAX_CONNS 16
#define MAX_EVENTS 64
#define SUBS_PATH "/helix/eventsub/subscriptions"

/* ---- the scripted EventSub server ---------------------------------------- */

typedef struct srv srv_t;
typedef struct {
  srv_t *srv;
  tw_ws_t *ws;
  int n; /* 1-based connection number */
  bool open, closed, silent, reconnect_target;
  char path[256];
} sconn_t;

struct srv {
  tw_listener_t *l;
  tw_tls_ctx_t *tls;
  tw_test_pki_t pki;
  uv_timer_t ka;
  sconn_t c[MAX_CONNS];
  int n;
  unsigned client_frames; /* text/binary frames the client sent: must be 0 */
  bool hold_reconnect_welcome;
  bool mute_first; /* connection 1 upgrades and never speaks */
  int closed_listener;
};

static void srv_send(sconn_t *c, const char *json) {
  assert_non_null(c->ws);
  assert_int_equal(tw_ws_send_text(c->ws, json, strlen(json)), 0);
}

static void srv_welcome(sconn_t *c) {
  char b[512];
  snprintf(b, sizeof(b),
           "{\"metadata\":{\"message_id\":\"w-%d\",\"message_type\":"
           "\"session_welcome\",\"message_timestamp\":\"2026-11-26T00:00:00."
           "123456789Z\"},\"payload\":{\"session\":{\"id\":\"sess-%d\","
           "\"status\":\"connected\",\"connected_at\":\"2026-11-26T00:00:00Z\""
           ",\"keepalive_timeout_seconds\":10,\"reconnect_url\":null,"
           "\"recovery_url\":null}}}",
           c->n, c->reconnect_target ? 1 : c->n);
  srv_send(c, b);
}

static void s_on_open(tw_ws_t *ws, void *ud) {
  sconn_t *c = ud;
  c->open = true;
  snprintf(c->path, sizeof(c->path), "%s", tw_ws_path(ws));
  c->reconnect_target = strstr(c->path, "reconnect_id=") != NULL;
  if (c->n == 1 && c->srv->mute_first) {
    c->silent = true;
    return;
  }
  if (!(c->reconnect_target && c->srv->hold_reconnect_welcome))
    srv_welcome(c);
}

static void s_on_message(tw_ws_t *ws, const char *d, size_t len, int bin,
                         void *ud) {
  (void)ws;
  (void)d;
  (void)len;
  (void)bin;
  sconn_t *c = ud;
  c->srv->client_frames++;
}

static void s_on_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  (void)ws;
  (void)info;
  sconn_t *c = ud;
  c->ws = NULL;
  c->closed = true;
}

static void s_on_accept(tw_listener_t *l, tw_stream_t *s, void *ud) {
  (void)l;
  srv_t *srv = ud;
  if (srv->n >= MAX_CONNS) {
    tw_stream_close(s);
    return;
  }
  sconn_t *c = &srv->c[srv->n++];
  c->srv = srv;
  c->n = srv->n;
  tw_ws_cb_t cb = {s_on_open, s_on_message, NULL, NULL, NULL, s_on_close};
  if (tw_ws_accept(s, NULL, &cb, c, &c->ws) != 0)
    c->closed = true;
}

/* Keepalives every 100 ms to every open connection not made silent, as
 * Twitch sends them when nothing else went out. */
static void on_ka(uv_timer_t *t) {
  srv_t *srv = t->data;
  for (int i = 0; i < srv->n; i++) {
    sconn_t *c = &srv->c[i];
    if (c->ws && c->open && !c->silent &&
        !(c->reconnect_target && srv->hold_reconnect_welcome)) {
      char b[256];
      snprintf(b, sizeof(b),
               "{\"metadata\":{\"message_id\":\"ka-%d\",\"message_type\":"
               "\"session_keepalive\",\"message_timestamp\":\"2026-11-26T00:"
               "00:01Z\"},\"payload\":{}}",
               c->n);
      tw_ws_send_text(c->ws, b, strlen(b));
    }
  }
}

static void srv_start(uv_loop_t *loop, srv_t *srv) {
  memset(srv, 0, sizeof(*srv));
  assert_int_equal(tw_test_pki_make(&srv->pki, 0), 0);
  assert_int_equal(
      tw_tls_server_new(srv->pki.cert, srv->pki.key, &srv->tls, NULL, 0), 0);
  assert_int_equal(tw_listener_new(loop, "127.0.0.1", 0, srv->tls, s_on_accept,
                                   srv, &srv->l),
                   0);
  uv_timer_init(loop, &srv->ka);
  srv->ka.data = srv;
  uv_timer_start(&srv->ka, on_ka, 100, 100);
}

static void listener_closed(void *ud) {
  ((srv_t *)ud)->closed_listener = 1;
}

static void srv_stop(uv_loop_t *loop, srv_t *srv) {
  uv_close((uv_handle_t *)&srv->ka, NULL);
  for (int i = 0; i < srv->n; i++)
    if (srv->c[i].ws)
      tw_ws_abort(srv->c[i].ws);
  tw_listener_close(srv->l, listener_closed, srv);
  assert_true(tw_test_run_flag(loop, &srv->closed_listener));
  tw_tls_ctx_free(srv->tls);
  tw_test_pki_remove(&srv->pki);
}

/* A notification of `type` with message id `id` around `event`. */
static void srv_notify(sconn_t *c, const char *id, const char *type,
                       const char *event) {
  char b[4096];
  snprintf(b, sizeof(b),
           "{\"metadata\":{\"message_id\":\"%s\",\"message_type\":"
           "\"notification\",\"message_timestamp\":\"2026-11-26T00:00:02Z\","
           "\"subscription_type\":\"%s\",\"subscription_version\":\"1\"},"
           "\"payload\":{\"subscription\":{\"id\":\"sub-x\",\"status\":"
           "\"enabled\",\"type\":\"%s\",\"version\":\"1\",\"cost\":0,"
           "\"condition\":{\"broadcaster_user_id\":\"4242\"},\"transport\":{"
           "\"method\":\"websocket\",\"session_id\":\"sess-1\"},"
           "\"created_at\":\"2026-11-26T00:00:00Z\"},\"event\":%s}}",
           id, type, type, event);
  srv_send(c, b);
}

#define FOLLOW_EV                                                              \
  "{\"user_id\":\"1234\",\"user_login\":\"cool_user\",\"user_name\":\"Cool_"   \
  "User\",\"broadcaster_user_id\":\"4242\",\"broadcaster_user_login\":"        \
  "\"chan\",\"broadcaster_user_name\":\"Chan\",\"followed_at\":\"2026-11-"     \
  "26T00:00:02.5Z\"}"

/* ---- fixture ------------------------------------------------------------- */

typedef struct {
  tw_simfx_t *sf;
  test_tokens_t *tt;
  tw_helix_client_t *hc;
  tw_eventsub_t *es;
  srv_t srv;
  char base[128], wsurl[128];
  tw_event_t *ev[MAX_EVENTS];
  size_t nev;
  unsigned subscribed, sub_failed, revoked, migrated, connected;
  unsigned disconnected;
  uint64_t last_retry_ms;
  unsigned ka_secs; /* keepalive_timeout_seconds to ask for */
  size_t total;     /* events received (only MAX_EVENTS are kept) */
  char revoked_id[64], follow_sub_id[64];
  FILE *log;
  char *logbuf;
  size_t loglen;
} fx_t;

static fx_t *fx_new(const char *scopes) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  fx->sf = tw_simfx_new(NULL);
  assert_non_null(fx->sf);
  snprintf(fx->base, sizeof(fx->base), "https://127.0.0.1:%u/helix",
           (unsigned)fx->sf->api_port);
  tw_sim_user_t u;
  memset(&u, 0, sizeof(u));
  u.login = "chan";
  u.user_id = "4242";
  assert_int_equal(tw_sim_add_user(fx->sf->sim, &u), 0);
  tw_sim_token_t t;
  memset(&t, 0, sizeof(t));
  t.token = BOT_TOKEN;
  t.login = "chan";
  t.scopes = scopes;
  assert_int_equal(tw_sim_add_token_ex(fx->sf->sim, &t), 0);
  fx->tt = tt_new(&fx->sf->loop, BOT_TOKEN, "4242", NULL, NULL);
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.base_url = fx->base;
  o.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  o.ca_file = tw_sim_ca_file(fx->sf->sim);
  o.tokens = tt_source(fx->tt);
  o.backoff_base_ms = 5;
  o.backoff_cap_ms = 20;
  assert_int_equal(tw_helix_client_new(&fx->sf->loop, fx->sf->uc, &o, &fx->hc),
                   0);
  srv_start(&fx->sf->loop, &fx->srv);
  snprintf(fx->wsurl, sizeof(fx->wsurl), "wss://127.0.0.1:%u/ws",
           (unsigned)tw_listener_port(fx->srv.l));
  fx->log = open_memstream(&fx->logbuf, &fx->loglen);
  tw_log_set_output(fx->log);
  tw_log_set_level(TW_LOG_DEBUG);
  tw_log_add_secret(BOT_TOKEN);
  return fx;
}

static void on_event(tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  fx->total++;
  if (fx->nev < MAX_EVENTS)
    fx->ev[fx->nev++] = ev;
  else
    tw_event_free(ev);
}

static void on_status(const tw_eventsub_status_t *st, void *ud) {
  fx_t *fx = ud;
  switch (st->kind) {
  case TW_EVENTSUB_ST_CONNECTED:
    fx->connected++;
    break;
  case TW_EVENTSUB_ST_SUBSCRIBED:
    fx->subscribed++;
    if (strcmp(st->type, "channel.follow") == 0)
      snprintf(fx->follow_sub_id, sizeof(fx->follow_sub_id), "%s", st->sub_id);
    break;
  case TW_EVENTSUB_ST_SUB_FAILED:
    fx->sub_failed++;
    break;
  case TW_EVENTSUB_ST_REVOKED:
    fx->revoked++;
    snprintf(fx->revoked_id, sizeof(fx->revoked_id), "%s", st->sub_id);
    break;
  case TW_EVENTSUB_ST_MIGRATED:
    fx->migrated++;
    break;
  case TW_EVENTSUB_ST_DISCONNECTED:
    fx->disconnected++;
    fx->last_retry_ms = st->retry_in_ms;
    break;
  default:
    break;
  }
}

static void start_client(fx_t *fx, const tw_eventsub_type_t *types,
                         size_t ntypes, unsigned watchdog_ms) {
  const char *chans[] = {"chan"};
  tw_eventsub_opts_t o;
  memset(&o, 0, sizeof(o));
  o.url = fx->wsurl;
  o.ca_file = fx->srv.pki.ca;
  o.watchdog_ms = watchdog_ms;
  o.keepalive_timeout_seconds = fx->ka_secs;
  o.channels = chans;
  o.nchannels = 1;
  o.types = types;
  o.ntypes = ntypes;
  o.backoff_base_ms = 10;
  o.backoff_cap_ms = 50;
  o.on_event = on_event;
  o.on_status = on_status;
  o.ud = fx;
  assert_int_equal(tw_eventsub_new(&fx->sf->loop, fx->hc, &o, &fx->es), 0);
  assert_int_equal(tw_eventsub_start(fx->es), 0);
}

static void flag(void *arg) {
  *(int *)arg = 1;
}

static void fx_free(fx_t *fx) {
  int done = 0;
  tw_eventsub_close(fx->es, flag, &done);
  assert_true(tw_test_run_flag(&fx->sf->loop, &done));
  assert_int_equal(fx->srv.client_frames, 0);
  srv_stop(&fx->sf->loop, &fx->srv);
  done = 0;
  tw_helix_client_close(fx->hc, flag, &done);
  assert_true(tw_test_run_flag(&fx->sf->loop, &done));
  tt_free(fx->tt);
  for (size_t i = 0; i < fx->nev; i++)
    tw_event_free(fx->ev[i]);
  assert_int_equal(tw_simfx_free(fx->sf), 0);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  tw_log_clear_secrets();
  fclose(fx->log);
  assert_null(strstr(fx->logbuf, "SECRET"));
  free(fx->logbuf);
  free(fx);
}

/* ---- waiting ------------------------------------------------------------- */

typedef struct {
  fx_t *fx;
  int what;
  unsigned n;
} cond_t;

enum {
  W_SUBS_DONE,
  W_EVENTS,
  W_CONNS,
  W_WELCOMES,
  W_MIGRATED,
  W_REVOKED,
  W_DISCONNECTED,
  W_TOTAL
};

static int cond_ok(void *arg) {
  cond_t *c = arg;
  fx_t *fx = c->fx;
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  switch (c->what) {
  case W_SUBS_DONE:
    return fx->subscribed + fx->sub_failed >= c->n;
  case W_EVENTS:
    return fx->nev >= c->n;
  case W_CONNS:
    return fx->srv.n >= (int)c->n && fx->srv.c[c->n - 1].open;
  case W_WELCOMES:
    return st.welcomes >= c->n;
  case W_MIGRATED:
    return fx->migrated >= c->n;
  case W_REVOKED:
    return fx->revoked >= c->n;
  case W_DISCONNECTED:
    return fx->disconnected >= c->n;
  case W_TOTAL:
    return fx->total >= c->n;
  }
  return 0;
}

static void wait_for(fx_t *fx, int what, unsigned n) {
  cond_t c = {fx, what, n};
  if (!tw_test_run_until(&fx->sf->loop, cond_ok, &c, TW_TEST_WATCHDOG_MS))
    fail_msg("timed out waiting for condition %d >= %u", what, n);
}

/* Requests to create subscriptions since `since` whose body mentions
 * `needle` (NULL: all). */
typedef struct {
  const char *needle;
  unsigned n;
} count_t;

static int count_cb(void *ud, const tw_sim_api_req_t *r) {
  count_t *c = ud;
  if (strcmp(r->method, "POST") == 0 &&
      (!c->needle || (r->body && strstr(r->body, c->needle))))
    c->n++;
  return 0;
}

static unsigned creates(fx_t *fx, const char *needle) {
  count_t c = {needle, 0};
  tw_sim_api_foreach(fx->sf->sim, 0, SUBS_PATH, count_cb, &c);
  return c.n;
}

static size_t count_log(fx_t *fx, const char *needle) {
  fflush(fx->log);
  size_t n = 0;
  for (const char *p = fx->logbuf; p && (p = strstr(p, needle)); p++)
    n++;
  return n;
}

/* ---- tests --------------------------------------------------------------- */

static void test_subscribe_and_events(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES);
  fx->ka_secs = 30;
  start_client(fx, NULL, 0, 0);
  wait_for(fx, W_SUBS_DONE, 9);
  assert_int_equal(fx->subscribed, 9);
  assert_int_equal(fx->sub_failed, 0);
  assert_string_equal(fx->srv.c[0].path, "/ws?keepalive_timeout_seconds=30");
  /* Every create carried the session id of the welcome. */
  assert_int_equal(creates(fx, NULL), 9);
  assert_int_equal(creates(fx, "\"session_id\":\"sess-1\""), 9);
  assert_int_equal(creates(fx, "\"method\":\"websocket\""), 9);
  assert_int_equal(creates(fx, "\"moderator_user_id\":\"4242\""), 1);
  assert_int_equal(creates(fx, "\"to_broadcaster_user_id\":\"4242\""), 1);
  assert_int_equal(creates(fx, "\"type\":\"channel.follow\""), 1);
  assert_int_equal(creates(fx, "\"version\":\"2\""), 1);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_int_equal(st.subs_enabled, 9);
  assert_true(st.last_message_ms > 0);

  sconn_t *c = &fx->srv.c[0];
  srv_notify(c, "n-follow", "channel.follow", FOLLOW_EV);
  srv_notify(c, "n-follow", "channel.follow", FOLLOW_EV); /* redelivery */
  srv_notify(c, "n-sub", "channel.subscribe",
             "{\"user_id\":\"1235\",\"user_login\":\"subber\","
             "\"broadcaster_user_id\":\"4242\",\"broadcaster_user_login\":"
             "\"chan\",\"tier\":\"1000\",\"is_gift\":false}");
  srv_notify(c, "n-gift", "channel.subscription.gift",
             "{\"user_id\":\"1236\",\"user_login\":\"santa\",\"user_name\":"
             "\"Santa\",\"broadcaster_user_id\":\"4242\",\"broadcaster_user_"
             "login\":\"chan\",\"total\":3,\"tier\":\"1000\",\"is_anonymous\""
             ":false}");
  srv_notify(c, "n-online", "stream.online",
             "{\"id\":\"9\",\"broadcaster_user_id\":\"4242\",\"broadcaster_"
             "user_login\":\"chan\",\"type\":\"live\",\"started_at\":\"2026-"
             "11-26T00:00:00Z\"}");
  srv_notify(c, "n-offline", "stream.offline",
             "{\"broadcaster_user_id\":\"4242\",\"broadcaster_user_login\":"
             "\"chan\"}");
  wait_for(fx, W_EVENTS, 5);
  /* Run the loop until the last one, so that a late duplicate would show. */
  srv_notify(c, "n-last", "stream.offline",
             "{\"broadcaster_user_id\":\"4242\",\"broadcaster_user_login\":"
             "\"chan\"}");
  wait_for(fx, W_EVENTS, 6);
  assert_int_equal(fx->nev, 6);
  tw_event_t **e = fx->ev;
  assert_int_equal(e[0]->kind, TW_EVENT_USER_FOLLOWED);
  assert_string_equal(e[0]->u.user_followed.follower, "cool_user");
  assert_string_equal(e[0]->event_id, "n-follow");
  assert_string_equal(e[0]->target, "#chan");
  assert_string_equal(e[0]->connector, "twitch");
  assert_int_equal(e[1]->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(e[1]->user, "subber");
  assert_string_equal(e[1]->u.user_subscribed.tier, "1000");
  assert_int_equal(e[2]->kind, TW_EVENT_USER_GIFTED_SUBSCRIPTION);
  assert_string_equal(e[2]->u.user_gifted_subscription.gifter_name, "Santa");
  assert_int_equal(e[3]->kind, TW_EVENT_STREAM_STARTED);
  assert_int_equal(e[4]->kind, TW_EVENT_STREAM_ENDED);
  tw_eventsub_stats(fx->es, &st);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.notifications, 7);
  fx_free(fx);
}

/* Without channel:read:subscriptions and bits:read, the four types that need
 * them are refused; each is one log line naming the scope, the others are
 * created, and a new session does not ask again. */
static void test_scope_missing(void **state) {
  (void)state;
  fx_t *fx = fx_new("moderator:read:followers channel:moderate");
  start_client(fx, NULL, 0, 0);
  wait_for(fx, W_SUBS_DONE, 9);
  assert_int_equal(fx->subscribed, 5);
  assert_int_equal(fx->sub_failed, 4);
  assert_int_equal(count_log(fx, "lacks the scope channel:read:subscriptions"),
                   3);
  assert_int_equal(count_log(fx, "lacks the scope bits:read"), 1);
  unsigned before = creates(fx, NULL);
  assert_int_equal(before, 9);
  /* The server ends the session; the client comes back and creates only
   * the five that work (the simulator answers 409 for them, as they still
   * exist there: it does not bind subscriptions to sessions). */
  tw_ws_close(fx->srv.c[0].ws, 4000, "internal");
  wait_for(fx, W_WELCOMES, 2);
  unsigned want = before + 5;
  while (creates(fx, NULL) < want)
    uv_run(&fx->sf->loop, UV_RUN_ONCE);
  assert_int_equal(creates(fx, "\"session_id\":\"sess-2\""), 5);
  assert_int_equal(creates(fx, "channel.subscribe\""), 1);
  assert_int_equal(count_log(fx, "lacks the scope"), 4);
  assert_true(count_log(fx, "4000") >= 1);
  fx_free(fx);
}

static const tw_eventsub_type_t TWO[] = {{"stream.online", "1"},
                                         {"channel.follow", "2"}};

/* A session that goes silent is dropped after the watchdog, and the new
 * session subscribes again. */
static void test_keepalive_loss(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES);
  start_client(fx, TWO, 2, 400);
  wait_for(fx, W_SUBS_DONE, 2);
  fx->srv.c[0].silent = true;
  wait_for(fx, W_WELCOMES, 2);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_true(st.keepalive_timeouts >= 1);
  while (creates(fx, "\"session_id\":\"sess-2\"") < 2)
    uv_run(&fx->sf->loop, UV_RUN_ONCE);
  assert_true(fx->srv.c[0].closed);
  assert_true(count_log(fx, "keepalive timeout") >= 1);
  /* Events flow on the new session. */
  srv_notify(&fx->srv.c[1], "n-f2", "channel.follow", FOLLOW_EV);
  wait_for(fx, W_EVENTS, 1);
  assert_string_equal(fx->ev[0]->event_id, "n-f2");
  fx_free(fx);
}

/* session_reconnect: the old connection keeps delivering until the new
 * one's welcome, then is closed; no resubscription; an event redelivered
 * on the new connection is not doubled. */
static void test_session_reconnect(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES);
  start_client(fx, TWO, 2, 0);
  wait_for(fx, W_SUBS_DONE, 2);
  unsigned before = creates(fx, NULL);
  fx->srv.hold_reconnect_welcome = true;
  char b[512];
  snprintf(b, sizeof(b),
           "{\"metadata\":{\"message_id\":\"r-1\",\"message_type\":\"session_"
           "reconnect\",\"message_timestamp\":\"2026-11-26T00:00:03Z\"},"
           "\"payload\":{\"session\":{\"id\":\"sess-1\",\"status\":"
           "\"reconnecting\",\"keepalive_timeout_seconds\":null,\"reconnect_"
           "url\":\"wss://127.0.0.1:%u/ws?reconnect_id=abc\",\"connected_at\":"
           "\"2026-11-26T00:00:00Z\"}}}",
           (unsigned)tw_listener_port(fx->srv.l));
  srv_send(&fx->srv.c[0], b);
  wait_for(fx, W_CONNS, 2);
  assert_string_equal(fx->srv.c[1].path, "/ws?reconnect_id=abc");
  /* Still on the old connection: this one must arrive. */
  srv_notify(&fx->srv.c[0], "n-a", "channel.follow", FOLLOW_EV);
  wait_for(fx, W_EVENTS, 1);
  assert_false(fx->srv.c[0].closed);
  srv_welcome(&fx->srv.c[1]);
  wait_for(fx, W_MIGRATED, 1);
  while (!fx->srv.c[0].closed)
    uv_run(&fx->sf->loop, UV_RUN_ONCE);
  srv_notify(&fx->srv.c[1], "n-a", "channel.follow", FOLLOW_EV);
  srv_notify(&fx->srv.c[1], "n-b", "channel.follow", FOLLOW_EV);
  wait_for(fx, W_EVENTS, 2);
  assert_int_equal(fx->nev, 2);
  assert_string_equal(fx->ev[0]->event_id, "n-a");
  assert_string_equal(fx->ev[1]->event_id, "n-b");
  assert_int_equal(creates(fx, NULL), before);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_int_equal(st.migrations, 1);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.subs_enabled, 2);
  fx_free(fx);
}

/* A revoked subscription (authorization_revoked) is reported and not
 * created again on the next session; the other one is. */
static void test_revocation(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES);
  start_client(fx, TWO, 2, 0);
  wait_for(fx, W_SUBS_DONE, 2);
  assert_true(fx->follow_sub_id[0]);
  char b[1024];
  snprintf(b, sizeof(b),
           "{\"metadata\":{\"message_id\":\"rv-1\",\"message_type\":"
           "\"revocation\",\"message_timestamp\":\"2026-11-26T00:00:03Z\","
           "\"subscription_type\":\"channel.follow\",\"subscription_version\""
           ":\"2\"},\"payload\":{\"subscription\":{\"id\":\"%s\",\"status\":"
           "\"authorization_revoked\",\"type\":\"channel.follow\",\"version\":"
           "\"2\",\"cost\":0,\"condition\":{\"broadcaster_user_id\":\"4242\","
           "\"moderator_user_id\":\"4242\"},\"transport\":{\"method\":"
           "\"websocket\",\"session_id\":\"sess-1\"},\"created_at\":\"2026-"
           "11-26T00:00:00Z\"}}}",
           fx->follow_sub_id);
  srv_send(&fx->srv.c[0], b);
  wait_for(fx, W_REVOKED, 1);
  assert_string_equal(fx->revoked_id, fx->follow_sub_id);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_int_equal(st.subs_enabled, 1);
  assert_int_equal(count_log(fx, "authorization_revoked"), 1);
  tw_ws_close(fx->srv.c[0].ws, 4005, "network timeout");
  wait_for(fx, W_WELCOMES, 2);
  while (creates(fx, "\"session_id\":\"sess-2\"") < 1)
    uv_run(&fx->sf->loop, UV_RUN_ONCE);
  /* Let any further create land before counting. */
  for (int i = 0; i < 50 && fx->subscribed + fx->sub_failed < 3; i++)
    uv_run(&fx->sf->loop, UV_RUN_ONCE);
  assert_int_equal(creates(fx, "\"session_id\":\"sess-2\""), 1);
  assert_int_equal(creates(fx, "channel.follow"), 1);
  fx_free(fx);
}

/* A server that upgrades and never welcomes is dropped by the watchdog
 * like a silent session, and the next connection is used. */
static void test_no_welcome(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES);
  fx->srv.mute_first = true;
  start_client(fx, TWO, 2, 300);
  wait_for(fx, W_WELCOMES, 1);
  assert_true(fx->srv.n >= 2);
  assert_true(fx->srv.c[0].closed);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_true(st.keepalive_timeouts >= 1);
  assert_true(count_log(fx, "no welcome") >= 1);
  wait_for(fx, W_SUBS_DONE, 2);
  assert_int_equal(fx->subscribed, 2);
  fx_free(fx);
}

/* When every subscription was refused for scopes, a closed session is not
 * reopened: it could only be closed again with 4003, for ever. */
static void test_nothing_left(void **state) {
  (void)state;
  fx_t *fx = fx_new("channel:moderate");
  static const tw_eventsub_type_t cheer[] = {{"channel.cheer", "1"}};
  start_client(fx, cheer, 1, 0);
  wait_for(fx, W_SUBS_DONE, 1);
  assert_int_equal(fx->sub_failed, 1);
  tw_ws_close(fx->srv.c[0].ws, 4003, "connection unused");
  wait_for(fx, W_DISCONNECTED, 1);
  assert_int_equal(fx->last_retry_ms, 0);
  assert_int_equal(count_log(fx, "no subscription is left"), 1);
  assert_true(count_log(fx, "connection unused") >= 1);
  assert_int_equal(fx->srv.n, 1);
  fx_free(fx);
}

/* The dedupe memory is bounded: after TW_EVENTSUB_DEDUPE newer ids, the
 * oldest is forgotten (and delivered again), while a recent one is still
 * dropped. */
static void test_dedupe_bounded(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES);
  start_client(fx, TWO, 2, 0);
  wait_for(fx, W_SUBS_DONE, 2);
  char id[32];
  for (unsigned i = 0; i <= TW_EVENTSUB_DEDUPE; i++) {
    snprintf(id, sizeof(id), "d-%u", i);
    srv_notify(&fx->srv.c[0], id, "channel.follow", FOLLOW_EV);
    if (i % 256 == 255) /* let the socket drain */
      wait_for(fx, W_TOTAL, i + 1);
  }
  wait_for(fx, W_TOTAL, TW_EVENTSUB_DEDUPE + 1);
  srv_notify(&fx->srv.c[0], "d-1024", "channel.follow", FOLLOW_EV); /* dup */
  srv_notify(&fx->srv.c[0], "d-0", "channel.follow", FOLLOW_EV); /* evicted */
  wait_for(fx, W_TOTAL, TW_EVENTSUB_DEDUPE + 2);
  srv_notify(&fx->srv.c[0], "end", "channel.follow", FOLLOW_EV);
  wait_for(fx, W_TOTAL, TW_EVENTSUB_DEDUPE + 3);
  assert_int_equal(fx->total, TW_EVENTSUB_DEDUPE + 3);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_int_equal(st.duplicates, 1);
  fx_free(fx);
}

static void test_bad_options(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  tw_eventsub_opts_t o;
  memset(&o, 0, sizeof(o));
  tw_eventsub_t *es = NULL;
  tw_helix_client_t *hc = (tw_helix_client_t *)&loop; /* never used */
  assert_int_equal(tw_eventsub_new(&loop, hc, &o, &es), TW_EINVAL);
  const char *chans[] = {"chan"};
  o.channels = chans;
  o.nchannels = 1;
  o.on_event = on_event;
  o.keepalive_timeout_seconds = 5;
  assert_int_equal(tw_eventsub_new(&loop, hc, &o, &es), TW_EINVAL);
  o.keepalive_timeout_seconds = 0;
  o.url = "https://example.com/";
  assert_int_equal(tw_eventsub_new(&loop, hc, &o, &es), TW_EINVAL);
  assert_null(es);
  assert_string_equal(tw_eventsub_close_reason(4003),
                      "connection unused (no subscription within the window)");
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_subscribe_and_events),
      cmocka_unit_test(test_scope_missing),
      cmocka_unit_test(test_keepalive_loss),
      cmocka_unit_test(test_session_reconnect),
      cmocka_unit_test(test_revocation),
      cmocka_unit_test(test_no_welcome),
      cmocka_unit_test(test_nothing_left),
      cmocka_unit_test(test_dedupe_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
