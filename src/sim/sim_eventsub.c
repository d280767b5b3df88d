/* The simulator's EventSub WebSocket side (docs/twitch-protocol.md section
 * 3.5; docs/simulator.md, "EventSub"): a wss:// listener serving /ws, one
 * session per connection with its welcome, keepalives, the 4001 and 4003
 * closes, notifications for the subscriptions the Helix side stored
 * (sim_helix.c) and the faults of twitchd/sim.h (session_reconnect,
 * revocation, drops, stalls, duplicates).
 *
 * Sessions and connections are apart because a session_reconnect moves a
 * session (its id and subscriptions) from one connection to another. All
 * timing (keepalive, subscribe window, reconnect grace) runs from one timer
 * armed for the nearest deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sim/sim_api_int.h"
#include "sim/sim_internal.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define MOD "sim"
/* Twitch's keepalive bounds and default, in seconds. */
#define KA_MIN_S 10u
#define KA_MAX_S 600u
#define KA_DEFAULT_S 10u
#define RECONNECT_GRACE_MS 30000u
#define RECONNECT_ID_LEN 32

typedef struct es_sess es_sess_t;

typedef struct es_conn {
  struct es_conn *next, *prev;
  tw_simes_t *es;
  tw_ws_t *ws;
  uint64_t id;
  es_sess_t *sess;
  uint32_t keepalive_ms; /* asked for in the URL */
  char reconnect_id[RECONNECT_ID_LEN + 1];
  int gone; /* a close or abort was started */
} es_conn_t;

struct es_sess {
  es_sess_t *next, *prev;
  char id[TW_SIM_EVENTSUB_ID_SIZE];
  char owner[TW_SIM_MAX_CLIENT_ID + TW_SIM_MAX_ID + 2]; /* "" until bound */
  es_conn_t *conn; /* the connection messages go to */
  es_conn_t *old;  /* the one a reconnect replaced, closing */
  uint32_t keepalive_ms;
  uint64_t last_sent, welcome_at;
  uint64_t reconnect_deadline; /* 0: no reconnect pending */
  char reconnect_id[RECONNECT_ID_LEN + 1];
  char connected_at[40];
  int used, stalled;
  char *last_notif; /* the last notification sent, for duplicates */
  size_t last_len;
  uint64_t sent, keepalives, notifications;
};

struct tw_simes {
  tw_sim_t *sim;
  tw_listener_t *l;
  uv_timer_t timer;
  es_conn_t *conns;
  es_sess_t *sessions;
  size_t nsessions, nconns;
  uint64_t next_conn;
};

/* ---- small helpers ------------------------------------------------------ */

static void emit(tw_simes_t *es, tw_sim_event_kind_t kind, uint64_t conn,
                 const char *session, const char *room, const char *line,
                 size_t len, uint64_t count) {
  tw_sim_t *sim = es->sim;
  if (!sim->obs)
    return;
  tw_sim_event_t ev = {0};
  ev.kind = kind;
  ev.conn = conn;
  ev.login = session;
  ev.room = room;
  ev.line = line;
  ev.len = len;
  ev.count = count;
  sim->obs(sim->obs_ud, &ev);
}

/* RFC 3339 with nanoseconds, as Twitch writes its timestamps. */
static void stamp(tw_simes_t *es, uint64_t now, char out[40]) {
  uint64_t wall = tw__simapi_wall(es->sim->api, now);
  char ts[32];
  tw__simapi_rfc3339(wall, ts);
  snprintf(out, 40, "%.19s.%03u000000Z", ts, (unsigned)(wall % 1000));
}

static void uuid(tw_simes_t *es, char out[37]) {
  tw__simapi_rand(es->sim->api, out, 36, "0123456789abcdef");
  out[8] = out[13] = out[18] = out[23] = '-';
}

static es_sess_t *sess_find(tw_simes_t *es, const char *id) {
  for (es_sess_t *s = es->sessions; s; s = s->next)
    if (strcmp(s->id, id) == 0)
      return s;
  return NULL;
}

static const char *sub_str(const tw_simapi_sub_t *s, const char *key) {
  const char *v = json_string_value(json_object_get(s->obj, key));
  return v ? v : "";
}

static const char *sub_session(const tw_simapi_sub_t *s) {
  const char *v = json_string_value(
      json_object_get(json_object_get(s->obj, "transport"), "session_id"));
  return v ? v : "";
}

static int sub_enabled(const tw_simapi_sub_t *s) {
  return strcmp(sub_str(s, "status"), "enabled") == 0;
}

/* ---- sending ------------------------------------------------------------ */

static void rearm(tw_simes_t *es);

/* Sends one message on the session's connection unless it is stalled. */
static int send_msg(tw_simes_t *es, es_sess_t *s, json_t *msg,
                    const char *type) {
  char *text = json_dumps(msg, JSON_COMPACT);
  json_decref(msg);
  if (!text)
    return TW_ENOMEM;
  size_t n = strlen(text);
  int rc = 0;
  if (n > TW_SIM_MAX_EVENTSUB_MESSAGE)
    rc = TW_ETOOBIG;
  else if (!s->conn || s->conn->gone || !tw_ws_is_open(s->conn->ws))
    rc = TW_ESTATE;
  else if (s->stalled)
    rc = TW_ESTATE; /* lost, as on a dead link */
  else {
    rc = tw_ws_send_text(s->conn->ws, text, n);
    if (rc == 0) {
      s->last_sent = tw_now_ms();
      s->sent++;
      emit(es, TW_SIM_EV_ES_SENT, s->conn->id, s->id, type, text, n, 0);
    }
  }
  if (rc == 0 && strcmp(type, "notification") == 0) {
    s->notifications++;
    free(s->last_notif);
    s->last_notif = text;
    s->last_len = n;
    text = NULL;
  }
  free(text);
  rearm(es);
  return rc;
}

static json_t *metadata(tw_simes_t *es, const char *type, const char *sub_type,
                        const char *sub_version) {
  char id[37], ts[40];
  uuid(es, id);
  stamp(es, tw_now_ms(), ts);
  json_t *m = json_object();
  json_object_set_new(m, "message_id", json_string(id));
  json_object_set_new(m, "message_type", json_string(type));
  json_object_set_new(m, "message_timestamp", json_string(ts));
  if (sub_type) {
    json_object_set_new(m, "subscription_type", json_string(sub_type));
    json_object_set_new(m, "subscription_version", json_string(sub_version));
  }
  return m;
}

static json_t *envelope(json_t *meta, json_t *payload) {
  json_t *o = json_object();
  json_object_set_new(o, "metadata", meta);
  json_object_set_new(o, "payload", payload);
  return o;
}

static uint32_t ka_seconds(const es_sess_t *s) {
  uint32_t sec = (s->keepalive_ms + 999) / 1000;
  return sec ? sec : 1;
}

static json_t *session_obj(tw_simes_t *es, const es_sess_t *s,
                           const char *status, const char *reconnect_url) {
  (void)es;
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(s->id));
  json_object_set_new(o, "status", json_string(status));
  json_object_set_new(o, "connected_at", json_string(s->connected_at));
  json_object_set_new(o, "keepalive_timeout_seconds",
                      reconnect_url ? json_null()
                                    : json_integer(ka_seconds(s)));
  json_object_set_new(o, "reconnect_url",
                      reconnect_url ? json_string(reconnect_url) : json_null());
  return o;
}

static void send_welcome(tw_simes_t *es, es_sess_t *s) {
  json_t *p = json_object();
  json_object_set_new(p, "session", session_obj(es, s, "connected", NULL));
  send_msg(es, s, envelope(metadata(es, "session_welcome", NULL, NULL), p),
           "session_welcome");
}

static void send_keepalive(tw_simes_t *es, es_sess_t *s) {
  s->keepalives++;
  send_msg(
      es, s,
      envelope(metadata(es, "session_keepalive", NULL, NULL), json_object()),
      "session_keepalive");
}

/* The subscription as notifications show it: transport without the
 * connected_at / disconnected_at that Get EventSub Subscriptions adds. */
static json_t *sub_for_message(const tw_simapi_sub_t *sub, const char *status) {
  json_t *o = json_deep_copy(sub->obj);
  json_t *t = json_object_get(o, "transport");
  json_object_del(t, "connected_at");
  json_object_del(t, "disconnected_at");
  if (status)
    json_object_set_new(o, "status", json_string(status));
  return o;
}

/* ---- session lifetime --------------------------------------------------- */

typedef struct {
  const char *session;
  const char *status;
  char ts[40];
  size_t enabled;
} disable_t;

static void disable_cb(void *ud, const char *k, void *v) {
  (void)k;
  disable_t *d = ud;
  tw_simapi_sub_t *s = v;
  if (!s->websocket || strcmp(sub_session(s), d->session) != 0 ||
      !sub_enabled(s))
    return;
  if (!d->status) {
    d->enabled++;
    return;
  }
  json_object_set_new(s->obj, "status", json_string(d->status));
  json_object_set_new(json_object_get(s->obj, "transport"), "disconnected_at",
                      json_string(d->ts));
}

static size_t enabled_subs(tw_simes_t *es, const char *session) {
  disable_t d = {.session = session};
  tw__simmap_each(&es->sim->api->subs, disable_cb, &d);
  return d.enabled;
}

/* What Twitch's CLI reports for a session closed with `code`. */
static const char *status_for(int code) {
  switch (code) {
  case 4000:
    return "websocket_internal_error";
  case 4001:
    return "websocket_received_inbound_traffic";
  case 4002:
    return "websocket_failed_ping_pong";
  case 4003:
    return "websocket_connection_unused";
  case 4005:
    return "websocket_network_timeout";
  case 4006:
    return "websocket_network_error";
  default:
    return "websocket_disconnected";
  }
}

static void disable_subs(tw_simes_t *es, es_sess_t *s, int code) {
  if (es->sim->closing)
    return;
  disable_t d = {.session = s->id, .status = status_for(code)};
  stamp(es, tw_now_ms(), d.ts);
  tw__simmap_each(&es->sim->api->subs, disable_cb, &d);
}

static void sess_end(tw_simes_t *es, es_sess_t *s, int code) {
  disable_subs(es, s, code);
  if (s->conn)
    s->conn->sess = NULL;
  if (s->old)
    s->old->sess = NULL;
  if (s->prev)
    s->prev->next = s->next;
  else
    es->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  es->nsessions--;
  free(s->last_notif);
  free(s);
}

static void disable_subs(tw_simes_t *es, es_sess_t *s, int code);

static void conn_close(es_conn_t *c, int code, const char *reason) {
  if (c->gone)
    return;
  c->gone = 1;
  /* The subscriptions are disabled as the close starts, not when the
   * handshake ends, as Twitch's status shows at once. */
  if (c->sess && c->sess->conn == c && code != TW_WS_CLOSE_NORMAL)
    disable_subs(c->es, c->sess, code);
  if (tw_ws_close(c->ws, code, reason) != 0)
    tw_ws_abort(c->ws);
}

static es_sess_t *sess_new(tw_simes_t *es, es_conn_t *c) {
  es_sess_t *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  /* Twitch's ids are 28 characters of base64url. */
  tw__simapi_rand(es->sim->api, s->id, 28,
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789_-");
  uint32_t ka = es->sim->o.eventsub.keepalive_ms;
  s->keepalive_ms = ka ? ka : c->keepalive_ms;
  s->conn = c;
  c->sess = s;
  uint64_t now = tw_now_ms();
  s->welcome_at = now;
  stamp(es, now, s->connected_at);
  s->next = es->sessions;
  if (es->sessions)
    es->sessions->prev = s;
  es->sessions = s;
  es->nsessions++;
  return s;
}

/* ---- timing ------------------------------------------------------------- */

static uint64_t window_ms(tw_simes_t *es, const es_sess_t *s) {
  uint32_t w = es->sim->o.eventsub.subscribe_window_ms;
  if (w == TW_SIM_OFF)
    return 0;
  return w ? w : s->keepalive_ms;
}

static void on_timer(uv_timer_t *t);

static void rearm(tw_simes_t *es) {
  if (es->sim->closing)
    return;
  uint64_t now = tw_now_ms(), next = UINT64_MAX;
  for (es_sess_t *s = es->sessions; s; s = s->next) {
    if (!s->conn || s->conn->gone)
      continue;
    if (!s->stalled && s->last_sent + s->keepalive_ms < next)
      next = s->last_sent + s->keepalive_ms;
    uint64_t w = window_ms(es, s);
    if (!s->used && w && s->welcome_at + w < next)
      next = s->welcome_at + w;
    if (s->reconnect_deadline && s->reconnect_deadline < next)
      next = s->reconnect_deadline;
  }
  if (next == UINT64_MAX) {
    uv_timer_stop(&es->timer);
    return;
  }
  uv_timer_start(&es->timer, on_timer, next > now ? next - now : 0, 0);
}

static void on_timer(uv_timer_t *t) {
  tw_simes_t *es = t->data;
  uint64_t now = tw_now_ms();
  /* Closing only starts here; sessions end in the close callbacks, so the
   * list is stable while it is walked. */
  for (es_sess_t *s = es->sessions; s; s = s->next) {
    es_conn_t *c = s->conn;
    if (!c || c->gone)
      continue;
    uint64_t w = window_ms(es, s);
    if (s->reconnect_deadline && now >= s->reconnect_deadline) {
      s->reconnect_deadline = 0;
      conn_close(c, 4004, "reconnect grace time expired");
      continue;
    }
    if (!s->used && w && now >= s->welcome_at + w) {
      conn_close(c, 4003, "connection unused");
      continue;
    }
    if (!s->stalled && now >= s->last_sent + s->keepalive_ms)
      send_keepalive(es, s);
  }
  rearm(es);
}

/* ---- connections -------------------------------------------------------- */

static void es_open(tw_ws_t *ws, void *ud) {
  es_conn_t *c = ud;
  tw_simes_t *es = c->es;
  if (es->sim->closing) {
    c->gone = 1;
    tw_ws_abort(ws);
    return;
  }
  emit(es, TW_SIM_EV_ES_CONNECT, c->id, NULL, NULL, NULL, 0, 0);
  if (c->reconnect_id[0]) {
    es_sess_t *s = NULL;
    for (es_sess_t *x = es->sessions; x; x = x->next)
      if (x->reconnect_deadline &&
          strcmp(x->reconnect_id, c->reconnect_id) == 0)
        s = x;
    if (!s) {
      conn_close(c, 4007, "invalid reconnect");
      return;
    }
    /* The handover: the new connection takes the session, welcomes the
     * client, and the old one is closed. */
    s->old = s->conn;
    s->conn = c;
    c->sess = s;
    s->reconnect_deadline = 0;
    s->reconnect_id[0] = '\0';
    send_welcome(es, s);
    if (s->old)
      conn_close(s->old, TW_WS_CLOSE_NORMAL, "reconnected");
    return;
  }
  if (es->nsessions >= TW_SIM_MAX_EVENTSUB_SESSIONS) {
    conn_close(c, 4000, "too many sessions");
    return;
  }
  es_sess_t *s = sess_new(es, c);
  if (!s) {
    conn_close(c, 4000, "internal server error");
    return;
  }
  send_welcome(es, s);
}

static void es_message(tw_ws_t *ws, const char *data, size_t len, int binary,
                       void *ud) {
  (void)ws, (void)data, (void)len, (void)binary;
  /* "If you send a message to the server, except for Pong messages, the
   * server closes the connection." */
  conn_close(ud, 4001, "client sent inbound traffic");
}

static void es_closed(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  (void)ws;
  es_conn_t *c = ud;
  tw_simes_t *es = c->es;
  es_sess_t *s = c->sess;
  int code = info->code;
  emit(es, TW_SIM_EV_ES_CLOSE, c->id, s ? s->id : NULL, NULL, info->reason,
       info->reason ? strlen(info->reason) : 0, (uint64_t)code);
  if (s) {
    if (s->old == c)
      s->old = NULL;
    else if (s->conn == c) {
      s->conn = NULL;
      sess_end(es, s, info->by_peer ? TW_WS_CLOSE_NORMAL : code);
    }
  }
  if (c->prev)
    c->prev->next = c->next;
  else
    es->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  es->nconns--;
  free(c);
  tw_sim_t *sim = es->sim;
  rearm(es);
  tw__sim_handle_closed(sim);
}

/* Decides on the upgrade: path /ws, query keepalive_timeout_seconds and
 * reconnect_id. */
static int es_request(tw_ws_t *ws, const tw_ws_request_t *req, void *ud) {
  (void)ws;
  es_conn_t *c = ud;
  const char *p = req->path;
  if (strncmp(p, "/ws", 3) != 0 || (p[3] != '\0' && p[3] != '?'))
    return 404;
  if (c->es->nsessions >= TW_SIM_MAX_EVENTSUB_SESSIONS)
    return 503;
  c->keepalive_ms = KA_DEFAULT_S * 1000u;
  const char *q = p[3] == '?' ? p + 4 : "";
  while (*q) {
    const char *amp = strchr(q, '&');
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', n);
    size_t kn = eq ? (size_t)(eq - q) : n;
    const char *v = eq ? eq + 1 : q + n;
    size_t vn = eq ? n - kn - 1 : 0;
    if (kn == 25 && memcmp(q, "keepalive_timeout_seconds", 25) == 0) {
      char buf[24];
      if (vn == 0 || vn >= sizeof(buf))
        return 400;
      memcpy(buf, v, vn);
      buf[vn] = '\0';
      char *end;
      long k = strtol(buf, &end, 10);
      if (*end)
        return 400;
      /* "An invalid, but numeric value will return the nearest acceptable
       * value." */
      if (k < (long)KA_MIN_S)
        k = KA_MIN_S;
      if (k > (long)KA_MAX_S)
        k = KA_MAX_S;
      c->keepalive_ms = (uint32_t)k * 1000u;
    } else if (kn == 12 && memcmp(q, "reconnect_id", 12) == 0) {
      if (vn == 0 || vn > RECONNECT_ID_LEN)
        vn = 0; /* unusable: 4007 once open */
      memcpy(c->reconnect_id, v, vn);
      c->reconnect_id[vn] = '\0';
      if (!vn)
        snprintf(c->reconnect_id, sizeof(c->reconnect_id), "-");
    }
    q += n;
    if (*q == '&')
      q++;
  }
  return 0;
}

static const tw_ws_cb_t ES_CB = {es_open, es_message, NULL,
                                 NULL,    es_request, es_closed};

static void on_accept(tw_listener_t *l, tw_stream_t *st, void *ud) {
  (void)l;
  tw_simes_t *es = ud;
  tw_sim_t *sim = es->sim;
  if (sim->closing)
    return;
  /* Upgrades in progress count too, so that idle sockets cannot pile up. */
  if (es->nconns >= 2u * TW_SIM_MAX_EVENTSUB_SESSIONS)
    return;
  es_conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    return;
  c->es = es;
  c->id = ++es->next_conn;
  tw_ws_server_opts_t so = {.max_message = TW_SIM_MAX_EVENTSUB_MESSAGE};
  if (tw_ws_accept(st, &so, &ES_CB, c, &c->ws) != 0) {
    free(c);
    return;
  }
  c->next = es->conns;
  if (es->conns)
    es->conns->prev = c;
  es->conns = c;
  es->nconns++;
  sim->handles_open++; /* until es_closed */
}

/* ---- Helix hooks -------------------------------------------------------- */

static unsigned hook_check(void *ud, const char *session, const char *owner,
                           char *msg) {
  tw_simes_t *es = ud;
  es_sess_t *s = sess_find(es, session);
  if (!s || !s->conn) {
    snprintf(msg, 128,
             "websocket transport session does not exist or has "
             "already disconnected");
    return 400;
  }
  if (s->owner[0] && strcmp(s->owner, owner) != 0) {
    snprintf(msg, 128, "websocket transport session belongs to another user");
    return 400;
  }
  if (enabled_subs(es, s->id) >= TW_SIM_MAX_EVENTSUB_SESSION_SUBS) {
    snprintf(msg, 128,
             "maximum subscriptions per websocket transport "
             "exceeded");
    return 429;
  }
  if (!s->owner[0] || enabled_subs(es, s->id) == 0) {
    size_t n = 0;
    for (es_sess_t *x = es->sessions; x; x = x->next)
      if (x != s && strcmp(x->owner, owner) == 0 && enabled_subs(es, x->id))
        n++;
    if (n >= TW_SIM_MAX_EVENTSUB_USER_CONNS) {
      snprintf(msg, 128, "number of websocket transports limit exceeded");
      return 429;
    }
  }
  return 0;
}

static void hook_created(void *ud, const char *session, const char *owner,
                         json_t *sub) {
  tw_simes_t *es = ud;
  es_sess_t *s = sess_find(es, session);
  if (!s)
    return;
  s->used = 1;
  snprintf(s->owner, sizeof(s->owner), "%s", owner);
  /* Get EventSub Subscriptions shows when the session connected. */
  json_object_set_new(json_object_get(sub, "transport"), "connected_at",
                      json_string(s->connected_at));
  const char *type = json_string_value(json_object_get(sub, "type"));
  if (!type)
    type = "";
  emit(es, TW_SIM_EV_ES_SUBSCRIBED, s->conn ? s->conn->id : 0, s->id, NULL,
       type, strlen(type), 0);
  rearm(es);
}

/* ---- events ------------------------------------------------------------- */

/* Builds an event: members in the order of the doc's examples, each taken
 * from the caller's partial event when it has it, else the default. */
typedef struct {
  tw_simes_t *es;
  json_t *in;  /* the partial event (borrowed) */
  json_t *out; /* the event being built */
  char now[40];
  int err;
} ev_t;

static void put(ev_t *e, const char *key, json_t *dflt) {
  json_t *v = json_object_get(e->in, key);
  if (v) {
    json_decref(dflt);
    json_object_set(e->out, key, v);
  } else
    json_object_set_new(e->out, key, dflt ? dflt : json_null());
}

/* Three members PREFIX{id,login,name} for the user named by the partial
 * event's PREFIXlogin (or PREFIXid), else `dflt` (a login); NULL values
 * when `anon`. Unknown users are created. */
static void put_user(ev_t *e, const char *prefix, const char *dflt, int anon) {
  char k_id[64], k_login[64], k_name[64];
  snprintf(k_id, sizeof(k_id), "%sid", prefix);
  snprintf(k_login, sizeof(k_login), "%slogin", prefix);
  snprintf(k_name, sizeof(k_name), "%sname", prefix);
  if (anon) {
    json_object_set_new(e->out, k_id, json_null());
    json_object_set_new(e->out, k_login, json_null());
    json_object_set_new(e->out, k_name, json_null());
    return;
  }
  tw_simchat_t *core = e->es->sim->core;
  const char *login = json_string_value(json_object_get(e->in, k_login));
  const char *id = json_string_value(json_object_get(e->in, k_id));
  tw_simchat_user_view_t u = {0};
  if (!login && id && tw__simchat_user_find(core, NULL, id, &u) == 0)
    login = u.login;
  if (!login)
    login = dflt;
  if (tw__simchat_user_ensure(core, login, &u) != 0) {
    e->err = TW_EINVAL;
    return;
  }
  put(e, k_id, json_string(u.id));
  put(e, k_login, json_string(u.login));
  put(e, k_name, json_string(u.display));
}

static int jbool_in(json_t *in, const char *key) {
  return json_is_true(json_object_get(in, key));
}

static json_t *build_event(tw_simes_t *es, const char *type, const char *room,
                           json_t *in, int *err) {
  ev_t e = {.es = es, .in = in, .out = json_object()};
  stamp(es, tw_now_ms(), e.now);
  const char *B = "broadcaster_user_";
  const char *viewer = "simviewer";
  if (strcmp(type, "stream.online") == 0) {
    tw_simhelix_chan_view_t cv;
    char sid[24], started[40];
    if (tw__simhelix_chan_view(es->sim->api, room, &cv) == 0 && cv.live) {
      snprintf(sid, sizeof(sid), "%s", cv.stream_id);
      char ts[32];
      tw__simapi_rfc3339(cv.started_wall_ms, ts);
      snprintf(started, sizeof(started), "%.19s.%03uZ", ts,
               (unsigned)(cv.started_wall_ms % 1000));
    } else {
      tw__simapi_rand(es->sim->api, sid, 11, "0123456789");
      snprintf(started, sizeof(started), "%s", e.now);
    }
    put(&e, "id", json_string(sid));
    put_user(&e, B, room, 0);
    put(&e, "type", json_string("live"));
    put(&e, "started_at", json_string(started));
  } else if (strcmp(type, "stream.offline") == 0) {
    put_user(&e, B, room, 0);
  } else if (strcmp(type, "channel.update") == 0) {
    tw_simhelix_chan_view_t cv;
    if (tw__simhelix_chan_view(es->sim->api, room, &cv) != 0)
      snprintf(cv.language, sizeof(cv.language), "en");
    put_user(&e, B, room, 0);
    put(&e, "title", json_string(cv.title));
    put(&e, "language", json_string(cv.language[0] ? cv.language : "en"));
    put(&e, "category_id", json_string(cv.game_id));
    put(&e, "category_name", json_string(cv.game_name));
    put(&e, "content_classification_labels", json_array());
  } else if (strcmp(type, "channel.follow") == 0) {
    put_user(&e, "user_", viewer, 0);
    put_user(&e, B, room, 0);
    put(&e, "followed_at", json_string(e.now));
  } else if (strcmp(type, "channel.subscribe") == 0) {
    put_user(&e, "user_", viewer, 0);
    put_user(&e, B, room, 0);
    put(&e, "tier", json_string("1000"));
    put(&e, "is_gift", json_false());
  } else if (strcmp(type, "channel.subscription.gift") == 0) {
    int anon = jbool_in(in, "is_anonymous");
    put_user(&e, "user_", viewer, anon);
    put_user(&e, B, room, 0);
    json_t *total = json_object_get(in, "total");
    put(&e, "total", total ? json_incref(total) : json_integer(1));
    put(&e, "tier", json_string("1000"));
    if (anon)
      json_object_set_new(e.out, "cumulative_total", json_null());
    else
      put(&e, "cumulative_total", total ? json_incref(total) : json_integer(1));
    put(&e, "is_anonymous", json_boolean(anon));
  } else if (strcmp(type, "channel.subscription.message") == 0) {
    put_user(&e, "user_", viewer, 0);
    put_user(&e, B, room, 0);
    put(&e, "tier", json_string("1000"));
    json_t *m = json_object_get(in, "message");
    json_t *msg = json_object();
    if (json_is_object(m)) {
      json_t *t = json_object_get(m, "text");
      json_t *em = json_object_get(m, "emotes");
      json_object_set_new(msg, "text", t ? json_incref(t) : json_string(""));
      json_object_set_new(msg, "emotes", em ? json_incref(em) : json_array());
    } else {
      json_object_set_new(msg, "text",
                          json_is_string(m) ? json_incref(m) : json_string(""));
      json_object_set_new(msg, "emotes", json_array());
    }
    json_object_set_new(e.out, "message", msg);
    put(&e, "cumulative_months", json_integer(1));
    put(&e, "streak_months", json_null());
    put(&e, "duration_months", json_integer(1));
  } else if (strcmp(type, "channel.cheer") == 0) {
    int anon = jbool_in(in, "is_anonymous");
    put(&e, "is_anonymous", json_boolean(anon));
    put_user(&e, "user_", viewer, anon);
    put_user(&e, B, room, 0);
    put(&e, "message", json_string(""));
    put(&e, "bits", json_integer(100));
  } else if (strcmp(type, "channel.raid") == 0) {
    put_user(&e, "from_broadcaster_user_", "simraider", 0);
    put_user(&e, "to_broadcaster_user_", room, 0);
    put(&e, "viewers", json_integer(0));
  } else if (strcmp(type, "channel.ban") == 0) {
    put_user(&e, "user_", viewer, 0);
    put_user(&e, B, room, 0);
    put_user(&e, "moderator_user_", room, 0);
    put(&e, "reason", json_string(""));
    put(&e, "banned_at", json_string(e.now));
    json_t *ends = json_object_get(in, "ends_at");
    put(&e, "ends_at", json_null());
    put(&e, "is_permanent", json_boolean(!json_is_string(ends)));
  } else {
    e.err = TW_EINVAL;
  }
  /* Members the caller added beyond the doc's go through unchanged. */
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    if (!json_object_get(e.out, k))
      json_object_set(e.out, k, v);
  }
  if (e.err) {
    json_decref(e.out);
    *err = e.err;
    return NULL;
  }
  return e.out;
}

/* The type's version on Twitch (channel.follow and channel.update: 2). */
static int known_type(const char *type) {
  static const char *const t[] = {"stream.online",
                                  "stream.offline",
                                  "channel.update",
                                  "channel.follow",
                                  "channel.subscribe",
                                  "channel.subscription.gift",
                                  "channel.subscription.message",
                                  "channel.cheer",
                                  "channel.raid",
                                  "channel.ban"};
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if (strcmp(type, t[i]) == 0)
      return 1;
  return 0;
}

/* A subscription matches when every condition member the event also has
 * is equal (channel.follow's moderator_user_id is not in the event), and
 * at least one was compared. */
static int cond_match(json_t *cond, json_t *ev) {
  const char *k;
  json_t *v;
  int compared = 0;
  json_object_foreach(cond, k, v) {
    json_t *e = json_object_get(ev, k);
    if (!e)
      continue;
    if (!json_is_string(v) || !json_is_string(e) ||
        strcmp(json_string_value(v), json_string_value(e)) != 0)
      return 0;
    compared = 1;
  }
  return compared;
}

typedef struct {
  tw_simes_t *es;
  const char *type;
  json_t *ev;
  int webhook; /* match webhook subscriptions instead of websocket ones */
  tw_simapi_sub_t **hits;
  size_t n, cap;
} match_t;

static int sub_webhook(const tw_simapi_sub_t *s) {
  return !s->websocket && s->secret != NULL;
}

static void match_cb(void *ud, const char *k, void *v) {
  (void)k;
  match_t *m = ud;
  tw_simapi_sub_t *s = v;
  if (!sub_enabled(s) || strcmp(sub_str(s, "type"), m->type))
    return;
  if (m->webhook ? !sub_webhook(s)
                 : (!s->websocket || !sess_find(m->es, sub_session(s))))
    return;
  if (!cond_match(json_object_get(s->obj, "condition"), m->ev))
    return;
  if (m->n == m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 8;
    void *p = realloc(m->hits, nc * sizeof(*m->hits));
    if (!p)
      return;
    m->hits = p;
    m->cap = nc;
  }
  m->hits[m->n++] = s;
}

static void hook_notify(void *ud, const char *type, const char *room,
                        json_t *event);

static int trigger(tw_simes_t *es, const char *type, const char *room,
                   json_t *in) {
  if (!type || !known_type(type) || !room)
    return TW_EINVAL;
  if (room[0] == '#')
    room++;
  if (!tw__sim_valid_login(room, strlen(room)))
    return TW_EINVAL;
  if (in && !json_is_object(in))
    return TW_EINVAL;
  json_t *empty = NULL;
  if (!in)
    in = empty = json_object();
  int err = 0;
  json_t *ev = build_event(es, type, room, in, &err);
  json_decref(empty);
  if (!ev)
    return err;
  /* Webhook deliveries are queued first (queueing never calls out), so
   * that observers run by the WebSocket sends cannot change them. */
  match_t wm = {.es = es, .type = type, .ev = ev, .webhook = 1};
  tw__simmap_each(&es->sim->api->subs, match_cb, &wm);
  int wsent = 0, wrc = 0;
  for (size_t i = 0; i < wm.n; i++) {
    json_t *p = json_object();
    json_object_set_new(p, "subscription", sub_for_message(wm.hits[i], NULL));
    json_object_set(p, "event", ev);
    int r = tw__simwh_send(es->sim, wm.hits[i], "notification", p);
    json_decref(p);
    if (r == 0)
      wsent++;
    else
      wrc = r;
  }
  free(wm.hits);
  match_t m = {.es = es, .type = type, .ev = ev};
  tw__simmap_each(&es->sim->api->subs, match_cb, &m);
  /* Messages are built after the walk: sending may call observers, which
   * may change the subscriptions. */
  json_t **subs = m.n ? calloc(m.n, sizeof(*subs)) : NULL;
  char(*sess)[TW_SIM_EVENTSUB_ID_SIZE] =
      m.n ? calloc(m.n, sizeof(*sess)) : NULL;
  size_t n = (subs && sess) ? m.n : 0;
  for (size_t i = 0; i < n; i++) {
    subs[i] = sub_for_message(m.hits[i], NULL);
    snprintf(sess[i], sizeof(sess[i]), "%s", sub_session(m.hits[i]));
  }
  free(m.hits);
  int sent = 0, rc = 0;
  for (size_t i = 0; i < n; i++) {
    es_sess_t *s = sess_find(es, sess[i]);
    if (s) {
      json_t *p = json_object();
      json_object_set_new(p, "subscription", json_incref(subs[i]));
      json_object_set(p, "event", ev);
      const char *ver = json_string_value(json_object_get(subs[i], "version"));
      int r = send_msg(
          es, s,
          envelope(metadata(es, "notification", type, ver ? ver : "1"), p),
          "notification");
      if (r == 0)
        sent++;
      else if (r == TW_ETOOBIG)
        rc = r;
    }
    json_decref(subs[i]);
  }
  free(subs);
  free(sess);
  json_decref(ev);
  if (m.n && !n)
    return TW_ENOMEM;
  sent += wsent;
  if (!rc)
    rc = wrc;
  return sent ? sent : rc;
}

/* ---- module lifetime ---------------------------------------------------- */

static void hook_wh_created(void *ud, tw_simapi_sub_t *sub) {
  tw_simes_t *es = ud;
  tw__simwh_verify(es->sim, sub);
}

int tw__simes_start(tw_sim_t *sim, char *detail, size_t cap) {
  tw_simes_t *es = calloc(1, sizeof(*es));
  if (!es)
    return TW_ENOMEM;
  es->sim = sim;
  int rc = tw_listener_new(sim->loop, sim->host, sim->o.eventsub_port, sim->tls,
                           on_accept, es, &es->l);
  if (rc != 0) {
    snprintf(detail, cap, "cannot listen on %s port %u: %s", sim->host,
             (unsigned)sim->o.eventsub_port, tw_strerror(rc));
    free(es);
    return rc;
  }
  sim->port_es = tw_listener_port(es->l);
  uv_timer_init(sim->loop, &es->timer);
  es->timer.data = es;
  sim->es = es;
  rc = tw__simwh_start(sim);
  if (rc != 0) {
    /* sim->es is set: the simulator's failure path closes the listener
     * and the timer through tw__simes_close(). */
    snprintf(detail, cap, "cannot start webhook delivery: %s", tw_strerror(rc));
    return rc;
  }
  tw_simapi_es_hooks_t h = {hook_check, hook_created, hook_notify,
                            hook_wh_created, es};
  sim->api->es = h;
  return 0;
}

static void on_listener_closed(void *ud) {
  tw__sim_handle_closed(ud);
}

static void on_timer_closed(uv_handle_t *h) {
  tw_simes_t *es = h->data;
  tw__sim_handle_closed(es->sim);
}

void tw__simes_close(tw_sim_t *sim) {
  tw_simes_t *es = sim->es;
  if (!es)
    return;
  memset(&sim->api->es, 0, sizeof(sim->api->es));
  if (es->l) {
    sim->handles_open++;
    tw_listener_close(es->l, on_listener_closed, sim);
    es->l = NULL;
  }
  sim->handles_open++;
  uv_close((uv_handle_t *)&es->timer, on_timer_closed);
  tw__simwh_close(sim);
  for (es_conn_t *c = es->conns; c; c = c->next) {
    c->gone = 1;
    tw_ws_abort(c->ws);
  }
}

void tw__simes_free(tw_sim_t *sim) {
  tw_simes_t *es = sim->es;
  if (!es)
    return;
  while (es->sessions)
    sess_end(es, es->sessions, TW_WS_CLOSE_NORMAL);
  tw__simwh_free(sim);
  free(es);
  sim->es = NULL;
}

static void hook_notify(void *ud, const char *type, const char *room,
                        json_t *event) {
  trigger(ud, type, room, event);
}

void tw__simes_stream_changed(tw_sim_t *sim, const char *room, int live) {
  if (sim->es)
    trigger(sim->es, live ? "stream.online" : "stream.offline", room, NULL);
}

/* ---- public API --------------------------------------------------------- */

int tw_sim_eventsub_trigger(tw_sim_t *sim, const char *type, const char *room,
                            const char *event_json) {
  if (!sim || sim->closing)
    return TW_EINVAL;
  if (!sim->es)
    return 0;
  json_t *in = NULL;
  if (event_json) {
    if (strlen(event_json) > TW_SIM_MAX_EVENTSUB_EVENT)
      return TW_ETOOBIG;
    in = json_loads(event_json, 0, NULL);
    if (!json_is_object(in)) {
      json_decref(in);
      return TW_EINVAL;
    }
  }
  int rc = trigger(sim->es, type, room, in);
  json_decref(in);
  return rc;
}

/* Calls fn for `session` (NULL: every live one); the count or
 * TW_ENOTFOUND. The next session is taken before the call, which may end
 * the current one. */
static int each_session(tw_sim_t *sim, const char *session,
                        int (*fn)(tw_simes_t *es, es_sess_t *s, int arg),
                        int arg) {
  if (!sim || !sim->es || sim->closing)
    return TW_ENOTFOUND;
  tw_simes_t *es = sim->es;
  int n = 0;
  for (es_sess_t *s = es->sessions, *next; s; s = next) {
    next = s->next;
    if (!s->conn || s->conn->gone)
      continue;
    if (session && strcmp(s->id, session) != 0)
      continue;
    if (fn(es, s, arg))
      n++;
  }
  if (session && n == 0 && !sess_find(es, session))
    return TW_ENOTFOUND;
  return n;
}

static int do_reconnect(tw_simes_t *es, es_sess_t *s, int arg) {
  (void)arg;
  tw_sim_t *sim = es->sim;
  tw__simapi_rand(sim->api, s->reconnect_id, RECONNECT_ID_LEN,
                  "abcdefghijklmnopqrstuvwxyz0123456789");
  uint32_t g = sim->o.eventsub.reconnect_grace_ms;
  s->reconnect_deadline = tw_now_ms() + (g ? g : RECONNECT_GRACE_MS);
  char url[160];
  snprintf(url, sizeof(url), "wss://%s:%u/ws?reconnect_id=%s", sim->host,
           (unsigned)sim->port_es, s->reconnect_id);
  json_t *p = json_object();
  json_object_set_new(p, "session", session_obj(es, s, "reconnecting", url));
  send_msg(es, s, envelope(metadata(es, "session_reconnect", NULL, NULL), p),
           "session_reconnect");
  return 1;
}

int tw_sim_eventsub_reconnect(tw_sim_t *sim, const char *session) {
  return each_session(sim, session, do_reconnect, 0);
}

static int do_drop(tw_simes_t *es, es_sess_t *s, int arg) {
  (void)es, (void)arg;
  s->conn->gone = 1;
  tw_ws_abort(s->conn->ws);
  return 1;
}

int tw_sim_eventsub_drop(tw_sim_t *sim, const char *session) {
  return each_session(sim, session, do_drop, 0);
}

static int do_stall(tw_simes_t *es, es_sess_t *s, int arg) {
  s->stalled = arg;
  if (!arg)
    s->last_sent = tw_now_ms();
  rearm(es);
  return 1;
}

int tw_sim_eventsub_stall(tw_sim_t *sim, const char *session, int stalled) {
  return each_session(sim, session, do_stall, stalled != 0);
}

static int do_duplicate(tw_simes_t *es, es_sess_t *s, int arg) {
  (void)arg;
  if (!s->last_notif || s->stalled)
    return 0;
  if (tw_ws_send_text(s->conn->ws, s->last_notif, s->last_len) != 0)
    return 0;
  s->last_sent = tw_now_ms();
  s->sent++;
  emit(es, TW_SIM_EV_ES_SENT, s->conn->id, s->id, "notification", s->last_notif,
       s->last_len, 0);
  rearm(es);
  return 1;
}

int tw_sim_eventsub_duplicate(tw_sim_t *sim, const char *session) {
  return each_session(sim, session, do_duplicate, 0);
}

int tw_sim_eventsub_revoke(tw_sim_t *sim, const char *sub_id,
                           const char *status) {
  if (!sim || sim->closing || !sub_id)
    return TW_EINVAL;
  if (!status)
    status = "authorization_revoked";
  if (!*status || strlen(status) > 64)
    return TW_EINVAL;
  tw_simapi_sub_t *sub =
      tw__simmap_get(&sim->api->subs, sub_id, strlen(sub_id));
  if (!sub)
    return TW_ENOTFOUND;
  tw__simmap_del(&sim->api->subs, sub_id, strlen(sub_id));
  int sent = 0;
  es_sess_t *s = sim->es && sub->websocket && sub_enabled(sub)
                     ? sess_find(sim->es, sub_session(sub))
                     : NULL;
  if (s && s->conn) {
    json_t *p = json_object();
    json_object_set_new(p, "subscription", sub_for_message(sub, status));
    json_t *meta = metadata(sim->es, "revocation", sub_str(sub, "type"),
                            sub_str(sub, "version"));
    sent = send_msg(sim->es, s, envelope(meta, p), "revocation") == 0;
  } else if (sim->es && sub_webhook(sub) && sub_enabled(sub)) {
    /* Queued with copies of the callback and secret: the subscription is
     * gone before the POST goes out. */
    json_t *p = json_object();
    json_object_set_new(p, "subscription", sub_for_message(sub, status));
    sent = tw__simwh_send(sim, sub, "revocation", p) == 0;
    json_decref(p);
  }
  tw__simhelix_sub_free(sub);
  return sent;
}

size_t tw_sim_eventsub_sessions(tw_sim_t *sim, tw_sim_eventsub_session_t *out,
                                size_t max) {
  if (!sim || !sim->es)
    return 0;
  size_t n = 0;
  es_sess_t *last = sim->es->sessions;
  while (last && last->next)
    last = last->next;
  /* The list is newest first; report oldest first. */
  for (es_sess_t *s = last; s; s = s->prev, n++) {
    if (n >= max || !out)
      continue;
    tw_sim_eventsub_session_t *o = &out[n];
    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "%s", s->id);
    const char *slash = strchr(s->owner, '/');
    snprintf(o->user_id, sizeof(o->user_id), "%s", slash ? slash + 1 : "");
    o->conn = s->conn ? s->conn->id : 0;
    o->keepalive_ms = s->keepalive_ms;
    o->stalled = s->stalled;
    o->reconnecting = s->reconnect_deadline != 0;
    o->subs = enabled_subs(sim->es, s->id);
    o->sent = s->sent;
    o->keepalives = s->keepalives;
    o->notifications = s->notifications;
  }
  return n;
}

/* For the HTTP control interface: a trigger with a parsed event. */
int tw__simes_trigger_json(tw_sim_t *sim, const char *type, const char *room,
                           json_t *event) {
  if (!sim || sim->closing)
    return TW_EINVAL;
  if (!sim->es)
    return 0;
  if (event) {
    char *s = json_dumps(event, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    free(s);
    if (n > TW_SIM_MAX_EVENTSUB_EVENT)
      return TW_ETOOBIG;
  }
  return trigger(sim->es, type, room, event);
}
