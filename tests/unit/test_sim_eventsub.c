/* The simulator's EventSub WebSocket side (docs/twitch-protocol.md section
 * 3.5) with the real WebSocket client over TLS and Helix over HTTPS: the
 * welcome, keepalives, close 4001 on client traffic and 4003 without a
 * subscription, Helix's session binding, notifications with the doc's
 * payload shapes, subscriptions disabled on disconnect, stream.online from
 * tw_sim_set_stream(); and the faults (session_reconnect handover,
 * revocation, duplicates, stalls, drops). Tests wait on messages, never on
 * time, and assert order, never durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "twitchd/error.h"
#include "twitchd/sim.h"
#include "twitchd/tls.h"
#include "twitchd/ws.h"

#define CID TW_SIM_DEFAULT_CLIENT_ID
#define SCOPES                                                                 \
  "moderator:read:followers channel:read:subscriptions bits:read "             \
  "channel:moderate"
#define MAXMSG 256
#define WAIT_MS 15000u

typedef struct {
  tw_simfx_t *fx;
  tw_tls_ctx_t *tls;
  char chan_id[40];
  uint16_t es_port;
} world_t;

typedef struct {
  world_t *w;
  tw_ws_t *ws;
  int open, closed, code;
  json_t *msg[MAXMSG];
  char *raw[MAXMSG];
  size_t n;
  char session[TW_SIM_EVENTSUB_ID_SIZE];
} client_t;

static void world(world_t *w, const tw_sim_eventsub_opts_t *eo) {
  memset(w, 0, sizeof(*w));
  tw_sim_opts_t o = {0};
  o.listeners =
      TW_SIM_LISTEN_API | TW_SIM_LISTEN_CONTROL | TW_SIM_LISTEN_EVENTSUB;
  if (eo)
    o.eventsub = *eo;
  w->fx = tw_simfx_new(&o);
  assert_non_null(w->fx);
  w->es_port = tw_sim_port(w->fx->sim, TW_SIM_LISTEN_EVENTSUB);
  assert_true(w->es_port > 0);
  tw_tls_client_opts_t to = {.ca_file = tw_sim_ca_file(w->fx->sim)};
  assert_int_equal(tw_tls_client_new(&to, &w->tls, NULL, 0), 0);
  tw_sim_token_t t = {.token = "tokchan", .login = "chan", .scopes = SCOPES};
  assert_int_equal(tw_sim_add_token_ex(w->fx->sim, &t), 0);
  tw_sim_token_t t2 = {.token = "tokother", .login = "other", .scopes = SCOPES};
  assert_int_equal(tw_sim_add_token_ex(w->fx->sim, &t2), 0);
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(w->fx->sim, "tokchan", &ti), 0);
  snprintf(w->chan_id, sizeof(w->chan_id), "%s", ti.user_id);
}

static void world_free(world_t *w) {
  tw_tls_ctx_free(w->tls);
  assert_int_equal(tw_simfx_free(w->fx), 0);
}

/* ---- the client ---------------------------------------------------------- */

static void c_open(tw_ws_t *ws, void *ud) {
  (void)ws;
  ((client_t *)ud)->open = 1;
}

static void c_message(tw_ws_t *ws, const char *data, size_t len, int binary,
                      void *ud) {
  (void)ws, (void)binary;
  client_t *c = ud;
  if (c->n >= MAXMSG)
    return;
  c->raw[c->n] = strndup(data, len);
  c->msg[c->n] = json_loadb(data, len, 0, NULL);
  c->n++;
}

static void c_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  (void)ws;
  client_t *c = ud;
  c->closed = 1;
  c->code = info->code;
  c->ws = NULL;
}

static const tw_ws_cb_t CB = {c_open, c_message, NULL, NULL, NULL, c_close};

static void client_url(world_t *w, client_t *c, const char *url) {
  memset(c, 0, sizeof(*c));
  c->w = w;
  tw_ws_connect_opts_t o = {.tls = w->tls};
  assert_int_equal(tw_ws_connect(&w->fx->loop, url, &o, &CB, c, &c->ws), 0);
}

static void client(world_t *w, client_t *c, const char *query) {
  char url[256];
  snprintf(url, sizeof(url), "wss://127.0.0.1:%u/ws%s", (unsigned)w->es_port,
           query ? query : "");
  client_url(w, c, url);
}

static const char *mtype(const client_t *c, size_t i) {
  return json_string_value(
      json_object_get(json_object_get(c->msg[i], "metadata"), "message_type"));
}

typedef struct {
  client_t *c;
  size_t after;
  const char *type;
  size_t found;
} wait_t;

static int find_type(void *arg) {
  wait_t *x = arg;
  for (size_t i = x->after; i < x->c->n; i++)
    if (x->c->msg[i] && strcmp(mtype(x->c, i), x->type) == 0) {
      x->found = i;
      return 1;
    }
  return x->c->closed;
}

/* Waits for the next message of `type` at index >= after; returns its
 * index. */
static size_t wait_type(world_t *w, client_t *c, size_t after,
                        const char *type) {
  wait_t x = {c, after, type, 0};
  assert_true(tw_test_run_until(&w->fx->loop, find_type, &x, WAIT_MS));
  if (c->closed && (x.found < after || !c->msg[x.found] ||
                    strcmp(mtype(c, x.found), type) != 0))
    fail_msg("closed (%d) before a %s", c->code, type);
  return x.found;
}

static int is_closed(void *arg) {
  return ((client_t *)arg)->closed;
}

static void wait_closed(world_t *w, client_t *c) {
  assert_true(tw_test_run_until(&w->fx->loop, is_closed, c, WAIT_MS));
}

typedef struct {
  world_t *w;
  const char *session;
} gone_t;

static int session_gone(void *arg) {
  gone_t *g = arg;
  tw_sim_eventsub_session_t v[8];
  size_t n = tw_sim_eventsub_sessions(g->w->fx->sim, v, 8);
  for (size_t i = 0; i < n && i < 8; i++)
    if (strcmp(v[i].id, g->session) == 0)
      return 0;
  return 1;
}

/* Waits until the simulator has ended `session` (its side of a close). */
static void wait_gone(world_t *w, const char *session) {
  gone_t g = {w, session};
  assert_true(tw_test_run_until(&w->fx->loop, session_gone, &g, WAIT_MS));
}

static void client_free(world_t *w, client_t *c) {
  if (c->ws && !c->closed) {
    tw_ws_close(c->ws, 1000, NULL);
    wait_closed(w, c);
  }
  for (size_t i = 0; i < c->n; i++) {
    json_decref(c->msg[i]);
    free(c->raw[i]);
  }
  c->n = 0;
}

/* Connects and waits for the welcome; keeps the session id. */
static void connect_welcome(world_t *w, client_t *c, const char *query) {
  client(w, c, query);
  size_t i = wait_type(w, c, 0, "session_welcome");
  assert_int_equal(i, 0);
  json_t *s = json_object_get(json_object_get(c->msg[0], "payload"), "session");
  snprintf(c->session, sizeof(c->session), "%s",
           json_string_value(json_object_get(s, "id")));
}

/* ---- Helix -------------------------------------------------------------- */

/* Subscribes; returns the HTTP status, the id in sub_id (may be NULL). */
static long subscribe(world_t *w, const char *token, const char *type,
                      const char *version, const char *cond,
                      const char *session, char *sub_id) {
  char body[1024];
  snprintf(body, sizeof(body),
           "{\"type\":\"%s\",\"version\":\"%s\",\"condition\":%s,"
           "\"transport\":{\"method\":\"websocket\",\"session_id\":\"%s\"}}",
           type, version, cond, session);
  tw_simresp_t r;
  assert_int_equal(tw_simfx_helix(w->fx, "POST",
                                  "/helix/eventsub/subscriptions", token, CID,
                                  body, &r),
                   0);
  long st = r.status;
  if (sub_id && st == 202)
    snprintf(sub_id, 64, "%s",
             tw_simfx_jstr(json_array_get(json_object_get(r.json, "data"), 0),
                           "id"));
  tw_simresp_free(&r);
  return st;
}

static void bcond(world_t *w, char *out, size_t cap) {
  snprintf(out, cap, "{\"broadcaster_user_id\":\"%s\"}", w->chan_id);
}

/* The status of subscription `id` as Get EventSub Subscriptions lists it. */
static void sub_status(world_t *w, const char *token, const char *id,
                       char *out) {
  char path[160];
  snprintf(path, sizeof(path),
           "/helix/eventsub/subscriptions?subscription_id=%s", id);
  tw_simresp_t r;
  assert_int_equal(tw_simfx_helix(w->fx, "GET", path, token, CID, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  json_t *d = json_array_get(json_object_get(r.json, "data"), 0);
  snprintf(out, 64, "%s", d ? tw_simfx_jstr(d, "status") : "");
  tw_simresp_free(&r);
}

static json_t *payload(const client_t *c, size_t i) {
  return json_object_get(c->msg[i], "payload");
}

static json_t *event(const client_t *c, size_t i) {
  return json_object_get(payload(c, i), "event");
}

/* The event's member names, in order, joined by commas. */
static void keys(json_t *o, char *out, size_t cap) {
  const char *k;
  json_t *v;
  size_t n = 0;
  out[0] = '\0';
  json_object_foreach(o, k, v) {
    n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", k);
    assert_true(n < cap);
  }
}

/* ---- tests ----------------------------------------------------------------
 */

static void test_welcome_and_keepalive(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.keepalive_ms = 50,
                               .subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  client_t c;
  connect_welcome(&w, &c, NULL);
  json_t *m = json_object_get(c.msg[0], "metadata");
  assert_int_equal(strlen(tw_simfx_jstr(m, "message_id")), 36);
  assert_string_equal(tw_simfx_jstr(m, "message_type"), "session_welcome");
  const char *ts = tw_simfx_jstr(m, "message_timestamp");
  assert_int_equal(strlen(ts), 30); /* 2023-07-19T14:56:51.634234626Z */
  assert_int_equal(ts[29], 'Z');
  json_t *s = json_object_get(payload(&c, 0), "session");
  assert_int_equal(strlen(tw_simfx_jstr(s, "id")), 28);
  assert_string_equal(tw_simfx_jstr(s, "status"), "connected");
  assert_int_equal(
      json_integer_value(json_object_get(s, "keepalive_timeout_seconds")), 1);
  assert_true(json_is_null(json_object_get(s, "reconnect_url")));
  assert_int_equal(strlen(tw_simfx_jstr(s, "connected_at")), 30);
  /* Keepalives follow, each with a fresh id and an empty payload. */
  size_t k1 = wait_type(&w, &c, 1, "session_keepalive");
  size_t k2 = wait_type(&w, &c, k1 + 1, "session_keepalive");
  assert_true(k2 > k1);
  assert_int_equal(json_object_size(payload(&c, k1)), 0);
  assert_string_not_equal(
      tw_simfx_jstr(json_object_get(c.msg[k1], "metadata"), "message_id"),
      tw_simfx_jstr(json_object_get(c.msg[k2], "metadata"), "message_id"));
  tw_sim_eventsub_session_t info;
  assert_int_equal(tw_sim_eventsub_sessions(w.fx->sim, &info, 1), 1);
  assert_string_equal(info.id, c.session);
  assert_true(info.keepalives >= 2);
  client_free(&w, &c);

  /* The URL's keepalive is clamped as Twitch does (without the override). */
  world_free(&w);
  tw_sim_eventsub_opts_t eo2 = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo2);
  connect_welcome(&w, &c, "?keepalive_timeout_seconds=3");
  s = json_object_get(payload(&c, 0), "session");
  assert_int_equal(
      json_integer_value(json_object_get(s, "keepalive_timeout_seconds")), 10);
  client_free(&w, &c);
  connect_welcome(&w, &c, "?keepalive_timeout_seconds=9999");
  s = json_object_get(payload(&c, 0), "session");
  assert_int_equal(
      json_integer_value(json_object_get(s, "keepalive_timeout_seconds")), 600);
  client_free(&w, &c);
  /* Not a number, or another path: the upgrade is refused. */
  client(&w, &c, "?keepalive_timeout_seconds=abc");
  wait_closed(&w, &c);
  assert_int_equal(c.open, 0);
  client_free(&w, &c);
  char url[128];
  snprintf(url, sizeof(url), "wss://127.0.0.1:%u/other", (unsigned)w.es_port);
  client_url(&w, &c, url);
  wait_closed(&w, &c);
  assert_int_equal(c.open, 0);
  client_free(&w, &c);
  world_free(&w);
}

static void test_inbound_traffic_4001(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  client_t c;
  connect_welcome(&w, &c, NULL);
  char cond[128], id[64], st[64];
  bcond(&w, cond, sizeof(cond));
  assert_int_equal(
      subscribe(&w, "tokchan", "stream.online", "1", cond, c.session, id), 202);
  /* A ping is fine (answered); a text frame is not. */
  assert_int_equal(tw_ws_ping(c.ws, "x", 1), 0);
  assert_int_equal(tw_ws_send_text(c.ws, "hello", 5), 0);
  wait_closed(&w, &c);
  assert_int_equal(c.code, 4001);
  sub_status(&w, "tokchan", id, st);
  assert_string_equal(st, "websocket_received_inbound_traffic");
  client_free(&w, &c);
  world_free(&w);
}

static void test_unused_4003(void **state) {
  (void)state;
  world_t w;
  /* The window is long enough for an HTTPS subscribe on a loaded machine;
   * the order of events, not time, decides the assertions. */
  tw_sim_eventsub_opts_t eo = {.keepalive_ms = 60000,
                               .subscribe_window_ms = 2000};
  world(&w, &eo);
  client_t c, d, e;
  connect_welcome(&w, &c, NULL);
  connect_welcome(&w, &d, NULL);
  char cond[128];
  bcond(&w, cond, sizeof(cond));
  assert_int_equal(
      subscribe(&w, "tokchan", "stream.online", "1", cond, d.session, NULL),
      202);
  /* e connects after d subscribed: once e's window ran out, so did d's. */
  connect_welcome(&w, &e, NULL);
  wait_closed(&w, &e);
  assert_int_equal(e.code, 4003);
  assert_int_equal(e.n, 1); /* only the welcome: no keepalive in between */
  wait_closed(&w, &c);
  assert_int_equal(c.code, 4003);
  /* The session with a subscription is still there and delivers. */
  assert_int_equal(d.closed, 0);
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "stream.online", "chan", NULL), 1);
  wait_type(&w, &d, 1, "notification");
  client_free(&w, &e);
  client_free(&w, &d);
  client_free(&w, &c);
  world_free(&w);
}

static void test_helix_binding(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  char cond[128], id[64], st[64];
  bcond(&w, cond, sizeof(cond));
  /* No such session. */
  assert_int_equal(subscribe(&w, "tokchan", "stream.online", "1", cond,
                             "AQoQnosuchsession", NULL),
                   400);
  client_t c;
  connect_welcome(&w, &c, NULL);
  assert_int_equal(
      subscribe(&w, "tokchan", "stream.online", "1", cond, c.session, id), 202);
  /* Another user's token cannot use the session. */
  assert_int_equal(
      subscribe(&w, "tokother", "stream.offline", "1", cond, c.session, NULL),
      400);
  /* Three sessions with subscriptions per user token; the fourth: 429. */
  client_t more[3];
  static const char *const types[] = {"stream.offline", "channel.subscribe",
                                      "channel.cheer"};
  for (int i = 0; i < 3; i++) {
    connect_welcome(&w, &more[i], NULL);
    long want = i < 2 ? 202 : 429;
    assert_int_equal(
        subscribe(&w, "tokchan", types[i], "1", cond, more[i].session, NULL),
        want);
  }
  for (int i = 0; i < 3; i++)
    client_free(&w, &more[i]);
  /* A disconnect disables the session's subscriptions. */
  client_free(&w, &c);
  wait_gone(&w, c.session);
  sub_status(&w, "tokchan", id, st);
  assert_string_equal(st, "websocket_disconnected");
  /* ... and a new session may subscribe the same again. */
  connect_welcome(&w, &c, NULL);
  assert_int_equal(
      subscribe(&w, "tokchan", "stream.online", "1", cond, c.session, NULL),
      202);
  client_free(&w, &c);
  world_free(&w);
}

/* One trigger; checks the notification's envelope and returns its index. */
static size_t notified(world_t *w, client_t *c, const char *type,
                       const char *version, const char *room,
                       const char *event_json, const char *want_keys) {
  size_t before = c->n;
  assert_int_equal(tw_sim_eventsub_trigger(w->fx->sim, type, room, event_json),
                   1);
  size_t i = wait_type(w, c, before, "notification");
  json_t *m = json_object_get(c->msg[i], "metadata");
  assert_string_equal(tw_simfx_jstr(m, "subscription_type"), type);
  assert_string_equal(tw_simfx_jstr(m, "subscription_version"), version);
  assert_int_equal(strlen(tw_simfx_jstr(m, "message_id")), 36);
  json_t *sub = json_object_get(payload(c, i), "subscription");
  assert_string_equal(tw_simfx_jstr(sub, "type"), type);
  assert_string_equal(tw_simfx_jstr(sub, "status"), "enabled");
  json_t *tr = json_object_get(sub, "transport");
  assert_string_equal(tw_simfx_jstr(tr, "method"), "websocket");
  assert_string_equal(tw_simfx_jstr(tr, "session_id"), c->session);
  char k[1024];
  keys(event(c, i), k, sizeof(k));
  assert_string_equal(k, want_keys);
  return i;
}

#define U3 "user_id,user_login,user_name,"
#define B3 "broadcaster_user_id,broadcaster_user_login,broadcaster_user_name"

static void test_notifications(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  tw_sim_user_t ann = {.login = "ann", .display_name = "Ann"};
  assert_int_equal(tw_sim_add_user(w.fx->sim, &ann), 0);
  client_t c;
  connect_welcome(&w, &c, NULL);
  char cond[256];
  bcond(&w, cond, sizeof(cond));
  static const char *const v1[] = {"stream.online",
                                   "stream.offline",
                                   "channel.subscribe",
                                   "channel.subscription.gift",
                                   "channel.subscription.message",
                                   "channel.cheer",
                                   "channel.ban"};
  for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++)
    assert_int_equal(
        subscribe(&w, "tokchan", v1[i], "1", cond, c.session, NULL), 202);
  assert_int_equal(
      subscribe(&w, "tokchan", "channel.update", "2", cond, c.session, NULL),
      202);
  char fcond[256];
  snprintf(fcond, sizeof(fcond),
           "{\"broadcaster_user_id\":\"%s\",\"moderator_user_id\":\"%s\"}",
           w.chan_id, w.chan_id);
  assert_int_equal(
      subscribe(&w, "tokchan", "channel.follow", "2", fcond, c.session, NULL),
      202);
  char rcond[256];
  snprintf(rcond, sizeof(rcond), "{\"to_broadcaster_user_id\":\"%s\"}",
           w.chan_id);
  assert_int_equal(
      subscribe(&w, "tokchan", "channel.raid", "1", rcond, c.session, NULL),
      202);

  size_t i = notified(&w, &c, "channel.follow", "2", "chan",
                      "{\"user_login\":\"ann\"}", U3 B3 ",followed_at");
  json_t *e = event(&c, i);
  assert_string_equal(tw_simfx_jstr(e, "user_login"), "ann");
  assert_string_equal(tw_simfx_jstr(e, "user_name"), "Ann");
  assert_string_equal(tw_simfx_jstr(e, "broadcaster_user_id"), w.chan_id);
  assert_string_equal(tw_simfx_jstr(e, "broadcaster_user_login"), "chan");
  assert_int_equal(strlen(tw_simfx_jstr(e, "followed_at")), 30);
  json_t *sub = json_object_get(payload(&c, i), "subscription");
  assert_string_equal(
      tw_simfx_jstr(json_object_get(sub, "condition"), "moderator_user_id"),
      w.chan_id);

  i = notified(&w, &c, "stream.online", "1", "chan", NULL,
               "id," B3 ",type,started_at");
  assert_string_equal(tw_simfx_jstr(event(&c, i), "type"), "live");
  notified(&w, &c, "stream.offline", "1", "chan", NULL, B3);
  i = notified(&w, &c, "channel.subscribe", "1", "chan",
               "{\"user_login\":\"ann\",\"tier\":\"2000\"}",
               U3 B3 ",tier,is_gift");
  assert_string_equal(tw_simfx_jstr(event(&c, i), "tier"), "2000");
  assert_true(json_is_false(json_object_get(event(&c, i), "is_gift")));
  i = notified(&w, &c, "channel.subscription.gift", "1", "chan",
               "{\"user_login\":\"ann\",\"total\":2}",
               U3 B3 ",total,tier,cumulative_total,is_anonymous");
  assert_int_equal(json_integer_value(json_object_get(event(&c, i), "total")),
                   2);
  i = notified(&w, &c, "channel.subscription.gift", "1", "chan",
               "{\"is_anonymous\":true,\"total\":5}",
               U3 B3 ",total,tier,cumulative_total,is_anonymous");
  assert_true(json_is_null(json_object_get(event(&c, i), "user_id")));
  assert_true(json_is_null(json_object_get(event(&c, i), "cumulative_total")));
  i = notified(&w, &c, "channel.subscription.message", "1", "chan",
               "{\"user_login\":\"ann\",\"message\":\"Love the stream!\","
               "\"cumulative_months\":15}",
               U3 B3 ",tier,message,cumulative_months,streak_months,"
                     "duration_months");
  json_t *msg = json_object_get(event(&c, i), "message");
  assert_string_equal(tw_simfx_jstr(msg, "text"), "Love the stream!");
  assert_true(json_is_array(json_object_get(msg, "emotes")));
  assert_int_equal(
      json_integer_value(json_object_get(event(&c, i), "cumulative_months")),
      15);
  i = notified(&w, &c, "channel.cheer", "1", "chan",
               "{\"user_login\":\"ann\",\"bits\":1000,\"message\":\"pog\"}",
               "is_anonymous," U3 B3 ",message,bits");
  assert_int_equal(json_integer_value(json_object_get(event(&c, i), "bits")),
                   1000);
  i = notified(&w, &c, "channel.raid", "1", "chan",
               "{\"from_broadcaster_user_login\":\"ann\",\"viewers\":9001}",
               "from_broadcaster_user_id,from_broadcaster_user_login,"
               "from_broadcaster_user_name,to_broadcaster_user_id,"
               "to_broadcaster_user_login,to_broadcaster_user_name,viewers");
  assert_string_equal(tw_simfx_jstr(event(&c, i), "to_broadcaster_user_id"),
                      w.chan_id);
  i = notified(&w, &c, "channel.ban", "1", "chan",
               "{\"user_login\":\"ann\",\"reason\":\"spam\"}",
               U3 B3 ",moderator_user_id,moderator_user_login,"
                     "moderator_user_name,reason,banned_at,ends_at,"
                     "is_permanent");
  assert_true(json_is_true(json_object_get(event(&c, i), "is_permanent")));
  assert_true(json_is_null(json_object_get(event(&c, i), "ends_at")));
  i = notified(&w, &c, "channel.update", "2", "chan",
               "{\"title\":\"Best Stream Ever\"}",
               B3 ",title,language,category_id,category_name,"
                  "content_classification_labels");
  assert_string_equal(tw_simfx_jstr(event(&c, i), "title"), "Best Stream Ever");

  /* Another channel matches nobody; bad input is an error, not a crash. */
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "elsewhere", NULL),
      0);
  assert_int_equal(tw_sim_eventsub_trigger(w.fx->sim, "no.such", "chan", NULL),
                   TW_EINVAL);
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan", "[1]"),
      TW_EINVAL);
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan", "{bad"),
      TW_EINVAL);
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "Bad Room!", NULL),
      TW_EINVAL);
  assert_int_equal(tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan",
                                           "{\"user_login\":\"NO SUCH!\"}"),
                   TW_EINVAL);

  /* Over the control interface. */
  long status;
  size_t before = c.n;
  json_t *r = tw_simfx_control(
      w.fx, "POST", "/eventsub/trigger",
      "{\"type\":\"channel.follow\",\"room\":\"chan\",\"event\":"
      "{\"user_login\":\"ann\"}}",
      &status);
  assert_int_equal(status, 200);
  assert_int_equal(json_integer_value(json_object_get(r, "sent")), 1);
  json_decref(r);
  wait_type(&w, &c, before, "notification");
  r = tw_simfx_control(w.fx, "GET", "/eventsub/sessions", NULL, &status);
  assert_int_equal(status, 200);
  json_t *s0 = json_array_get(json_object_get(r, "sessions"), 0);
  assert_string_equal(tw_simfx_jstr(s0, "id"), c.session);
  assert_string_equal(tw_simfx_jstr(s0, "user_id"), w.chan_id);
  assert_int_equal(json_integer_value(json_object_get(s0, "subscriptions")),
                   10);
  json_decref(r);
  r = tw_simfx_control(w.fx, "POST", "/eventsub/trigger",
                       "{\"type\":\"channel.follow\"}", &status);
  assert_int_equal(status, 400);
  json_decref(r);
  client_free(&w, &c);
  world_free(&w);
}

static void test_stream_state(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  client_t c;
  connect_welcome(&w, &c, NULL);
  char cond[128];
  bcond(&w, cond, sizeof(cond));
  assert_int_equal(
      subscribe(&w, "tokchan", "stream.online", "1", cond, c.session, NULL),
      202);
  assert_int_equal(
      subscribe(&w, "tokchan", "stream.offline", "1", cond, c.session, NULL),
      202);
  tw_sim_stream_t st = {.live = 1, .title = "hi"};
  assert_int_equal(tw_sim_set_stream(w.fx->sim, "chan", &st), 0);
  size_t i = wait_type(&w, &c, 1, "notification");
  json_t *e = event(&c, i);
  assert_string_equal(
      tw_simfx_jstr(json_object_get(c.msg[i], "metadata"), "subscription_type"),
      "stream.online");
  /* The same stream as Get Streams. */
  tw_simresp_t r;
  assert_int_equal(tw_simfx_helix(w.fx, "GET", "/helix/streams?user_login=chan",
                                  "tokchan", CID, NULL, &r),
                   0);
  json_t *d = json_array_get(json_object_get(r.json, "data"), 0);
  assert_string_equal(tw_simfx_jstr(e, "id"), tw_simfx_jstr(d, "id"));
  tw_simresp_free(&r);
  /* Staying live sends nothing; going offline sends stream.offline. */
  size_t before = c.n;
  assert_int_equal(tw_sim_set_stream(w.fx->sim, "chan", &st), 0);
  st.live = 0;
  assert_int_equal(tw_sim_set_stream(w.fx->sim, "chan", &st), 0);
  i = wait_type(&w, &c, before, "notification");
  assert_string_equal(
      tw_simfx_jstr(json_object_get(c.msg[i], "metadata"), "subscription_type"),
      "stream.offline");
  assert_int_equal(i, before);
  client_free(&w, &c);
  world_free(&w);
}

/* A ban through Helix is also a channel.ban notification, as on Twitch (a
 * bot sees its own bans arrive on EventSub). */
static void test_helix_ban_notifies(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  tw_sim_user_t ann = {.login = "ann", .user_id = "5550"};
  assert_int_equal(tw_sim_add_user(w.fx->sim, &ann), 0);
  tw_sim_token_t tb = {.token = "tokban",
                       .login = "chan",
                       .scopes = "moderator:manage:banned_users"};
  assert_int_equal(tw_sim_add_token_ex(w.fx->sim, &tb), 0);
  client_t c;
  connect_welcome(&w, &c, NULL);
  char cond[128];
  bcond(&w, cond, sizeof(cond));
  assert_int_equal(
      subscribe(&w, "tokchan", "channel.ban", "1", cond, c.session, NULL), 202);
  char path[256];
  snprintf(path, sizeof(path),
           "/helix/moderation/bans?broadcaster_id=%s&moderator_id=%s",
           w.chan_id, w.chan_id);
  size_t before = c.n;
  tw_simresp_t r;
  assert_int_equal(
      tw_simfx_helix(w.fx, "POST", path, "tokban", CID,
                     "{\"data\":{\"user_id\":\"5550\",\"duration\":60,"
                     "\"reason\":\"spam\"}}",
                     &r),
      0);
  assert_int_equal(r.status, 200);
  tw_simresp_free(&r);
  size_t i = wait_type(&w, &c, before, "notification");
  json_t *e = event(&c, i);
  assert_string_equal(
      tw_simfx_jstr(json_object_get(c.msg[i], "metadata"), "subscription_type"),
      "channel.ban");
  assert_string_equal(tw_simfx_jstr(e, "user_login"), "ann");
  assert_string_equal(tw_simfx_jstr(e, "user_id"), "5550");
  assert_string_equal(tw_simfx_jstr(e, "reason"), "spam");
  assert_string_equal(tw_simfx_jstr(e, "moderator_user_login"), "chan");
  assert_true(json_is_false(json_object_get(e, "is_permanent")));
  assert_true(json_is_string(json_object_get(e, "ends_at")));
  client_free(&w, &c);
  world_free(&w);
}

/* ---- faults ----------------------------------------------------------------
 */

static const char *meta_str(const client_t *c, size_t i, const char *key) {
  return tw_simfx_jstr(json_object_get(c->msg[i], "metadata"), key);
}

static tw_sim_eventsub_session_t session_info(world_t *w, const char *id) {
  tw_sim_eventsub_session_t v[8];
  size_t n = tw_sim_eventsub_sessions(w->fx->sim, v, 8);
  for (size_t i = 0; i < n && i < 8; i++)
    if (strcmp(v[i].id, id) == 0)
      return v[i];
  fail_msg("no session %s", id);
  return v[0];
}

/* A session with one channel.follow subscription; its id in sub_id. */
static void followed(world_t *w, client_t *c, char *sub_id) {
  connect_welcome(w, c, NULL);
  char fcond[256];
  snprintf(fcond, sizeof(fcond),
           "{\"broadcaster_user_id\":\"%s\",\"moderator_user_id\":\"%s\"}",
           w->chan_id, w->chan_id);
  assert_int_equal(
      subscribe(w, "tokchan", "channel.follow", "2", fcond, c->session, sub_id),
      202);
}

static void test_reconnect_handover(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  client_t a, b;
  char id[64], st[64];
  followed(&w, &a, id);
  assert_int_equal(tw_sim_eventsub_reconnect(w.fx->sim, a.session), 1);
  size_t i = wait_type(&w, &a, 1, "session_reconnect");
  json_t *s = json_object_get(payload(&a, i), "session");
  assert_string_equal(tw_simfx_jstr(s, "id"), a.session);
  assert_string_equal(tw_simfx_jstr(s, "status"), "reconnecting");
  assert_true(json_is_null(json_object_get(s, "keepalive_timeout_seconds")));
  const char *url = tw_simfx_jstr(s, "reconnect_url");
  char prefix[64];
  snprintf(prefix, sizeof(prefix), "wss://127.0.0.1:%u/ws?",
           (unsigned)w.es_port);
  assert_memory_equal(url, prefix, strlen(prefix));
  tw_sim_eventsub_session_t info;
  assert_int_equal(tw_sim_eventsub_sessions(w.fx->sim, &info, 1), 1);
  assert_int_equal(info.reconnecting, 1);
  /* The old connection still delivers until the client moves. */
  assert_int_equal(tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan",
                                           "{\"user_login\":\"ann\"}"),
                   1);
  wait_type(&w, &a, i + 1, "notification");
  /* Moving: the new connection is welcomed to the same session, the old
   * one closed normally, the subscription carried over. */
  client_url(&w, &b, url);
  size_t k = wait_type(&w, &b, 0, "session_welcome");
  s = json_object_get(payload(&b, k), "session");
  assert_string_equal(tw_simfx_jstr(s, "id"), a.session);
  assert_string_equal(tw_simfx_jstr(s, "status"), "connected");
  snprintf(b.session, sizeof(b.session), "%s", a.session);
  wait_closed(&w, &a);
  assert_int_equal(a.code, 1000);
  sub_status(&w, "tokchan", id, st);
  assert_string_equal(st, "enabled");
  assert_int_equal(tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan",
                                           "{\"user_login\":\"bob\"}"),
                   1);
  i = wait_type(&w, &b, k + 1, "notification");
  assert_string_equal(tw_simfx_jstr(event(&b, i), "user_login"), "bob");
  assert_int_equal(tw_sim_eventsub_sessions(w.fx->sim, &info, 1), 1);
  assert_int_equal(info.reconnecting, 0);
  assert_int_equal(info.subs, 1);
  /* The URL is single-use: again it is an invalid reconnect (4007). */
  client_t c;
  client_url(&w, &c, url);
  wait_closed(&w, &c);
  assert_int_equal(c.code, 4007);
  client_free(&w, &c);
  client_free(&w, &b);
  client_free(&w, &a);
  world_free(&w);
}

static void test_reconnect_grace_4004(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF,
                               .keepalive_ms = 60000,
                               .reconnect_grace_ms = 100};
  world(&w, &eo);
  client_t a;
  char id[64], st[64];
  followed(&w, &a, id);
  /* Over the control interface this time. */
  char body[128];
  snprintf(body, sizeof(body), "{\"session\":\"%s\"}", a.session);
  long status;
  json_t *r =
      tw_simfx_control(w.fx, "POST", "/eventsub/reconnect", body, &status);
  assert_int_equal(status, 200);
  assert_int_equal(json_integer_value(json_object_get(r, "sessions")), 1);
  json_decref(r);
  wait_type(&w, &a, 1, "session_reconnect");
  wait_closed(&w, &a);
  assert_int_equal(a.code, 4004);
  wait_gone(&w, a.session);
  sub_status(&w, "tokchan", id, st);
  assert_string_equal(st, "websocket_disconnected");
  r = tw_simfx_control(w.fx, "POST", "/eventsub/reconnect",
                       "{\"session\":\"nosuch\"}", &status);
  assert_int_equal(status, 404);
  json_decref(r);
  client_free(&w, &a);
  world_free(&w);
}

static void test_revocation(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  client_t a;
  char id[64], st[64];
  followed(&w, &a, id);
  char body[160];
  snprintf(body, sizeof(body),
           "{\"subscription_id\":\"%s\",\"status\":\"user_removed\"}", id);
  long status;
  json_t *r = tw_simfx_control(w.fx, "POST", "/eventsub/revoke", body, &status);
  assert_int_equal(status, 200);
  assert_int_equal(json_integer_value(json_object_get(r, "sent")), 1);
  json_decref(r);
  size_t i = wait_type(&w, &a, 1, "revocation");
  assert_string_equal(meta_str(&a, i, "subscription_type"), "channel.follow");
  assert_string_equal(meta_str(&a, i, "subscription_version"), "2");
  json_t *p = payload(&a, i);
  assert_null(json_object_get(p, "event"));
  json_t *sub = json_object_get(p, "subscription");
  assert_string_equal(tw_simfx_jstr(sub, "id"), id);
  assert_string_equal(tw_simfx_jstr(sub, "status"), "user_removed");
  /* Removed: not listed, nothing delivered, a second revoke finds none. */
  sub_status(&w, "tokchan", id, st);
  assert_string_equal(st, "");
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan", NULL), 0);
  assert_int_equal(tw_sim_eventsub_revoke(w.fx->sim, id, NULL), TW_ENOTFOUND);
  /* Bad control input: clear errors. */
  static const struct {
    const char *path, *body;
    long status;
  } bad[] = {
      {"/eventsub/revoke", "{}", 400},
      {"/eventsub/revoke", "{\"subscription_id\":5}", 400},
      {"/eventsub/revoke", "{\"subscription_id\":\"nope\"}", 404},
      {"/eventsub/stall", "{\"stalled\":\"x\"}", 400},
      {"/eventsub/drop", "{\"session\":[1]}", 400},
      {"/eventsub/duplicate", "{\"session\":\"nope\"}", 404},
      {"/eventsub/trigger",
       "{\"type\":\"channel.follow\",\"room\":"
       "\"chan\",\"event\":\"x\"}",
       400},
      {"/eventsub/trigger", "not json", 400},
  };
  for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
    json_t *x =
        tw_simfx_control(w.fx, "POST", bad[b].path, bad[b].body, &status);
    if (status != bad[b].status)
      fail_msg("%s %s: %ld", bad[b].path, bad[b].body, status);
    json_decref(x);
  }
  assert_int_equal(a.closed, 0);
  client_free(&w, &a);
  world_free(&w);
}

static void test_duplicate(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF};
  world(&w, &eo);
  client_t a;
  char id[64];
  followed(&w, &a, id);
  /* Nothing to duplicate yet. */
  assert_int_equal(tw_sim_eventsub_duplicate(w.fx->sim, a.session), 0);
  assert_int_equal(tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan",
                                           "{\"user_login\":\"ann\"}"),
                   1);
  size_t i = wait_type(&w, &a, 1, "notification");
  long status;
  json_t *r =
      tw_simfx_control(w.fx, "POST", "/eventsub/duplicate", "{}", &status);
  assert_int_equal(status, 200);
  assert_int_equal(json_integer_value(json_object_get(r, "sessions")), 1);
  json_decref(r);
  size_t j = wait_type(&w, &a, i + 1, "notification");
  assert_string_equal(meta_str(&a, i, "message_id"),
                      meta_str(&a, j, "message_id"));
  assert_string_equal(a.raw[i], a.raw[j]);
  client_free(&w, &a);
  world_free(&w);
}

static void test_stall_and_drop(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF,
                               .keepalive_ms = 30};
  world(&w, &eo);
  client_t a, b;
  char id[64], st[64];
  followed(&w, &a, id);
  connect_welcome(&w, &b, NULL);
  assert_int_equal(tw_sim_eventsub_stall(w.fx->sim, a.session, 1), 1);
  /* What the simulator had sent when the stall began (some of it may still
   * be on the way to the client). */
  size_t stalled_at = (size_t)session_info(&w, a.session).sent;
  /* A notification to a stalled session is lost. */
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan", NULL), 0);
  /* While the other session gets three keepalives, the stalled one gets
   * nothing at all. */
  size_t k = wait_type(&w, &b, 1, "session_keepalive");
  k = wait_type(&w, &b, k + 1, "session_keepalive");
  k = wait_type(&w, &b, k + 1, "session_keepalive");
  assert_int_equal(session_info(&w, a.session).sent, stalled_at);
  assert_int_equal(a.n, stalled_at);
  assert_int_equal(a.closed, 0);
  /* Resumed, keepalives come again. */
  assert_int_equal(tw_sim_eventsub_stall(w.fx->sim, a.session, 0), 1);
  wait_type(&w, &a, stalled_at, "session_keepalive");
  /* Dropped: no close frame (1006), the subscriptions disabled. */
  long status;
  char body[128];
  snprintf(body, sizeof(body), "{\"session\":\"%s\"}", a.session);
  json_t *r = tw_simfx_control(w.fx, "POST", "/eventsub/drop", body, &status);
  assert_int_equal(status, 200);
  json_decref(r);
  wait_closed(&w, &a);
  assert_int_equal(a.code, 1006);
  wait_gone(&w, a.session);
  sub_status(&w, "tokchan", id, st);
  assert_string_equal(st, "websocket_disconnected");
  assert_int_equal(tw_sim_eventsub_drop(w.fx->sim, "nosuch"), TW_ENOTFOUND);
  client_free(&w, &b);
  client_free(&w, &a);
  world_free(&w);
}

/* ---- observer
 * ---------------------------------------------------------------- */

typedef struct {
  int connect, subscribed, welcome, notification, close, close_code;
  char order[64];
  size_t n;
} seen_t;

static void on_event(void *ud, const tw_sim_event_t *ev) {
  seen_t *s = ud;
  char k = 0;
  switch (ev->kind) {
  case TW_SIM_EV_ES_CONNECT:
    s->connect++;
    k = 'c';
    break;
  case TW_SIM_EV_ES_SENT:
    if (strcmp(ev->room, "session_welcome") == 0) {
      s->welcome++;
      k = 'w';
    } else if (strcmp(ev->room, "notification") == 0) {
      s->notification++;
      k = 'n';
      assert_non_null(strstr(ev->line, "\"channel.follow\""));
    }
    break;
  case TW_SIM_EV_ES_SUBSCRIBED:
    s->subscribed++;
    k = 's';
    assert_memory_equal(ev->line, "channel.follow", ev->len);
    break;
  case TW_SIM_EV_ES_CLOSE:
    s->close++;
    s->close_code = (int)ev->count;
    k = 'x';
    break;
  default:
    break;
  }
  if (k && s->n + 1 < sizeof(s->order))
    s->order[s->n++] = k;
}

static int seen_close(void *arg) {
  return ((seen_t *)arg)->close > 0;
}

static void test_observer(void **state) {
  (void)state;
  world_t w;
  tw_sim_eventsub_opts_t eo = {.subscribe_window_ms = TW_SIM_OFF,
                               .keepalive_ms = 60000};
  world(&w, &eo);
  seen_t seen = {0};
  tw_sim_set_observer(w.fx->sim, on_event, &seen);
  client_t a;
  char id[64];
  followed(&w, &a, id);
  /* Get EventSub Subscriptions shows the session's connect time. */
  char path[160];
  snprintf(path, sizeof(path),
           "/helix/eventsub/subscriptions?subscription_id=%s", id);
  tw_simresp_t r;
  assert_int_equal(tw_simfx_helix(w.fx, "GET", path, "tokchan", CID, NULL, &r),
                   0);
  json_t *d = json_array_get(json_object_get(r.json, "data"), 0);
  json_t *s = json_object_get(payload(&a, 0), "session");
  assert_string_equal(
      tw_simfx_jstr(json_object_get(d, "transport"), "connected_at"),
      tw_simfx_jstr(s, "connected_at"));
  tw_simresp_free(&r);
  assert_int_equal(
      tw_sim_eventsub_trigger(w.fx->sim, "channel.follow", "chan", NULL), 1);
  wait_type(&w, &a, 1, "notification");
  assert_int_equal(tw_ws_send_binary(a.ws, "x", 1), 0);
  assert_true(tw_test_run_until(&w.fx->loop, seen_close, &seen, WAIT_MS));
  assert_string_equal(seen.order, "cwsnx");
  assert_int_equal(seen.close_code, 4001);
  wait_closed(&w, &a);
  tw_sim_set_observer(w.fx->sim, NULL, NULL);
  client_free(&w, &a);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_welcome_and_keepalive),
      cmocka_unit_test(test_inbound_traffic_4001),
      cmocka_unit_test(test_unused_4003),
      cmocka_unit_test(test_helix_binding),
      cmocka_unit_test(test_notifications),
      cmocka_unit_test(test_stream_state),
      cmocka_unit_test(test_helix_ban_notifies),
      cmocka_unit_test(test_reconnect_handover),
      cmocka_unit_test(test_reconnect_grace_4004),
      cmocka_unit_test(test_revocation),
      cmocka_unit_test(test_duplicate),
      cmocka_unit_test(test_stall_and_drop),
      cmocka_unit_test(test_observer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
