/* The simulator's control interface: HTTP+JSON on 127.0.0.1 (libmicrohttpd
 * on the loop through the core adapter), the same operations as the
 * tw_sim_* functions, for `twitchd sim` and shell tests. The endpoints are
 * documented in docs/simulator.md.
 *
 * GET /chat/sent can wait (wait_ms) until a matching line arrives: the
 * request is suspended and resumed whenever any client line arrives, or
 * when its deadline passes, and then looks again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "sim/sim_internal.h"
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

/* How often the deadlines of waiting requests are checked. */
#define WAIT_POLL_MS 20

struct sim_waiter {
  sim_waiter_t *prev, *next;
  int listed;
  tw_sim_t *sim;
  struct MHD_Connection *conn;
  uint64_t deadline; /* 0: not waiting yet */
  tw_buf_t body;
};

typedef sim_waiter_t req_t; /* every request; only some ever wait */

/* ---- responses ---------------------------------------------------------- */

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status,
                                  json_t *o) {
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!s)
    return MHD_NO;
  size_t n = strlen(s);
  struct MHD_Response *r =
      MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_COPY);
  free(s);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result rc = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result reply_err(struct MHD_Connection *conn, int err,
                                 const char *msg) {
  unsigned st = 500;
  switch (err) {
  case TW_EINVAL:
  case TW_EPARSE:
    st = 400;
    break;
  case TW_ENOTFOUND:
    st = 404;
    break;
  case TW_ESTATE:
  case TW_EEXIST:
    st = 409;
    break;
  case TW_ETOOBIG:
    st = 413;
    break;
  case TW_EFULL:
    st = 429;
    break;
  default:
    break;
  }
  json_t *o = json_object();
  json_object_set_new(o, "error", json_string(msg ? msg : tw_strerror(err)));
  json_object_set_new(o, "code", json_string(tw_err_name(err)));
  return reply_json(conn, st, o);
}

static enum MHD_Result reply_ok(struct MHD_Connection *conn) {
  json_t *o = json_object();
  json_object_set_new(o, "ok", json_true());
  return reply_json(conn, 200, o);
}

static enum MHD_Result reply_count(struct MHD_Connection *conn, int n,
                                   const char *key) {
  if (n < 0)
    return reply_err(conn, n, NULL);
  json_t *o = json_object();
  json_object_set_new(o, key, json_integer(n));
  return reply_json(conn, 200, o);
}

/* ---- JSON arguments ----------------------------------------------------- */

/* A string member, NULL when absent; *bad set when present but not a
 * string. */
static const char *jstr(json_t *o, const char *key, int *bad) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return NULL;
  if (!json_is_string(v)) {
    *bad = 1;
    return NULL;
  }
  return json_string_value(v);
}

static uint64_t juint(json_t *o, const char *key, uint64_t dflt, int *bad) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return dflt;
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    *bad = 1;
    return dflt;
  }
  return (uint64_t)json_integer_value(v);
}

static int jbool(json_t *o, const char *key, int dflt, int *bad) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return dflt;
  if (json_is_boolean(v))
    return json_is_true(v);
  if (json_is_integer(v))
    return json_integer_value(v) != 0;
  *bad = 1;
  return dflt;
}

static int query_uint(struct MHD_Connection *conn, const char *key,
                      uint64_t dflt, uint64_t *out) {
  const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
  *out = dflt;
  if (!v || !*v)
    return 0;
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (*end || v[0] == '-')
    return TW_EINVAL;
  *out = x;
  return 0;
}

static json_t *strings_array(json_t *o, const char *key, int *bad) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return NULL;
  if (!json_is_array(v)) {
    *bad = 1;
    return NULL;
  }
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    if (!json_is_string(e)) {
      *bad = 1;
      return NULL;
    }
  }
  return v;
}

/* ---- endpoints ---------------------------------------------------------- */

static enum MHD_Result do_users(tw_sim_t *sim, struct MHD_Connection *conn,
                                json_t *b) {
  int bad = 0;
  tw_sim_user_t u = {0};
  u.login = jstr(b, "login", &bad);
  u.user_id = jstr(b, "user_id", &bad);
  u.display_name = jstr(b, "display_name", &bad);
  u.color = jstr(b, "color", &bad);
  u.verified_bot = jbool(b, "verified_bot", 0, &bad);
  const char *token = jstr(b, "token", &bad);
  unsigned flags = (jbool(b, "no_read", 0, &bad) ? TW_SIM_TOKEN_NO_READ : 0) |
                   (jbool(b, "no_edit", 0, &bad) ? TW_SIM_TOKEN_NO_EDIT : 0);
  if (bad || !u.login)
    return reply_err(conn, TW_EINVAL, "login (string) is required");
  int rc = tw_sim_add_user(sim, &u);
  if (rc == 0 && token)
    rc = tw_sim_add_token(sim, token, u.login, flags);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_tokens(tw_sim_t *sim, struct MHD_Connection *conn,
                                 json_t *b) {
  int bad = 0;
  const char *token = jstr(b, "token", &bad);
  const char *login = jstr(b, "login", &bad);
  unsigned flags = (jbool(b, "no_read", 0, &bad) ? TW_SIM_TOKEN_NO_READ : 0) |
                   (jbool(b, "no_edit", 0, &bad) ? TW_SIM_TOKEN_NO_EDIT : 0);
  if (bad || !token || !login)
    return reply_err(conn, TW_EINVAL, "token and login are required");
  int rc = tw_sim_add_token(sim, token, login, flags);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_revoke(tw_sim_t *sim, struct MHD_Connection *conn,
                                 json_t *b) {
  int bad = 0;
  const char *token = jstr(b, "token", &bad);
  if (bad || !token)
    return reply_err(conn, TW_EINVAL, "token is required");
  int rc = tw_sim_revoke_token(sim, token);
  return rc ? reply_err(conn, rc, "unknown token") : reply_ok(conn);
}

static int roles_from(tw_sim_t *sim, const char *room, json_t *list,
                      tw_sim_role_t role) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    int rc = tw_sim_set_role(sim, room, json_string_value(e), role);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static enum MHD_Result do_rooms(tw_sim_t *sim, struct MHD_Connection *conn,
                                json_t *b) {
  int bad = 0;
  tw_sim_room_t r = {0};
  r.name = jstr(b, "name", &bad);
  r.room_id = jstr(b, "room_id", &bad);
  r.suspended = jbool(b, "suspended", 0, &bad);
  r.emote_only = jbool(b, "emote_only", 0, &bad);
  r.r9k = jbool(b, "r9k", 0, &bad);
  r.subs_only = jbool(b, "subs_only", 0, &bad);
  r.slow = (int)juint(b, "slow", 0, &bad);
  json_t *fo = json_object_get(b, "followers_only");
  if (fo && json_is_integer(fo)) {
    r.followers_only = (int)json_integer_value(fo);
    r.followers_only_set = 1;
  } else if (fo && !json_is_null(fo)) {
    bad = 1;
  }
  json_t *mods = strings_array(b, "mods", &bad);
  json_t *vips = strings_array(b, "vips", &bad);
  if (bad || !r.name)
    return reply_err(conn, TW_EINVAL, "name (string) is required");
  int rc = tw_sim_add_room(sim, &r);
  if (rc == 0 && mods)
    rc = roles_from(sim, r.name, mods, TW_SIM_ROLE_MOD);
  if (rc == 0 && vips)
    rc = roles_from(sim, r.name, vips, TW_SIM_ROLE_VIP);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_roles(tw_sim_t *sim, struct MHD_Connection *conn,
                                json_t *b) {
  int bad = 0;
  const char *room = jstr(b, "room", &bad);
  const char *login = jstr(b, "login", &bad);
  const char *role = jstr(b, "role", &bad);
  tw_sim_role_t r = TW_SIM_ROLE_NONE;
  if (role && strcmp(role, "mod") == 0)
    r = TW_SIM_ROLE_MOD;
  else if (role && strcmp(role, "vip") == 0)
    r = TW_SIM_ROLE_VIP;
  else if (role && strcmp(role, "none") != 0)
    bad = 1;
  if (bad || !room || !login || !role)
    return reply_err(conn, TW_EINVAL,
                     "room, login and role (mod, vip or none) are required");
  int rc = tw_sim_set_role(sim, room, login, r);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_inject(tw_sim_t *sim, struct MHD_Connection *conn,
                                 json_t *b) {
  int bad = 0;
  const char *room = jstr(b, "room", &bad);
  uint64_t cid = juint(b, "conn", 0, &bad);
  const char *line = jstr(b, "line", &bad);
  json_t *lines = strings_array(b, "lines", &bad);
  if (bad || (!room == !cid) || (!line == !lines))
    return reply_err(conn, TW_EINVAL,
                     "one of room or conn, and one of line or lines");
  int total = 0;
  size_t n = lines ? json_array_size(lines) : 1;
  for (size_t i = 0; i < n; i++) {
    const char *l = lines ? json_string_value(json_array_get(lines, i)) : line;
    int rc = room ? tw_sim_inject_room(sim, room, l, strlen(l))
                  : tw_sim_inject_conn(sim, cid, l, strlen(l));
    if (rc < 0)
      return reply_err(conn, rc,
                       rc == TW_EINVAL ? "not a valid IRC line or room" : NULL);
    total += rc;
  }
  return reply_count(conn, total, "delivered");
}

static enum MHD_Result do_say(tw_sim_t *sim, struct MHD_Connection *conn,
                              json_t *b) {
  int bad = 0;
  const char *room = jstr(b, "room", &bad);
  const char *login = jstr(b, "login", &bad);
  const char *text = jstr(b, "text", &bad);
  const char *reply_to = jstr(b, "reply_to", &bad);
  if (bad || !room || !login || !text)
    return reply_err(conn, TW_EINVAL, "room, login and text are required");
  char id[TW_SIM_MSG_ID_SIZE];
  int n = tw_sim_say(sim, room, login, text, reply_to, id);
  if (n < 0)
    return reply_err(conn, n, NULL);
  json_t *o = json_object();
  json_object_set_new(o, "delivered", json_integer(n));
  json_object_set_new(o, "id", json_string(id));
  return reply_json(conn, 200, o);
}

static enum MHD_Result do_fault(tw_sim_t *sim, struct MHD_Connection *conn,
                                json_t *b, const char *what) {
  int bad = 0;
  uint64_t cid = juint(b, "conn", 0, &bad);
  uint64_t after = juint(b, "close_after_ms", 0, &bad);
  int stalled = jbool(b, "stalled", 1, &bad);
  if (bad || after > UINT32_MAX)
    return reply_err(conn, TW_EINVAL, "bad conn, close_after_ms or stalled");
  int n;
  if (strcmp(what, "ping") == 0)
    n = tw_sim_ping(sim, cid);
  else if (strcmp(what, "reconnect") == 0)
    n = tw_sim_reconnect(sim, cid, (uint32_t)after);
  else if (strcmp(what, "drop") == 0)
    n = tw_sim_drop(sim, cid);
  else
    n = tw_sim_stall(sim, cid, stalled);
  return reply_count(conn, n, "conns");
}

static enum MHD_Result do_flood(tw_sim_t *sim, struct MHD_Connection *conn,
                                json_t *b) {
  int bad = 0;
  tw_sim_flood_t f = {0};
  f.room = jstr(b, "room", &bad);
  f.file = jstr(b, "file", &bad);
  f.count = juint(b, "count", 0, &bad);
  f.keep_channel = jbool(b, "keep_channel", 0, &bad);
  json_t *lines = strings_array(b, "lines", &bad);
  if (bad || !f.room || (!f.file == !lines))
    return reply_err(conn, TW_EINVAL,
                     "room and one of file or lines are required");
  const char **arr = NULL;
  if (lines) {
    f.nlines = json_array_size(lines);
    arr = calloc(f.nlines ? f.nlines : 1, sizeof(*arr));
    if (!arr)
      return reply_err(conn, TW_ENOMEM, NULL);
    for (size_t i = 0; i < f.nlines; i++)
      arr[i] = json_string_value(json_array_get(lines, i));
    f.lines = arr;
  }
  int rc = tw_sim_flood(sim, &f);
  free(arr);
  if (rc != 0)
    return reply_err(conn, rc,
                     rc == TW_ESTATE ? "a flood is already running" : NULL);
  return reply_ok(conn);
}

static json_t *flood_json(tw_sim_t *sim) {
  tw_sim_flood_status_t st;
  tw_sim_flood_status(sim, &st);
  json_t *o = json_object();
  json_object_set_new(o, "active", json_boolean(st.active));
  json_object_set_new(o, "sent", json_integer((json_int_t)st.sent));
  json_object_set_new(o, "total", json_integer((json_int_t)st.total));
  json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
  json_object_set_new(o, "room", json_string(st.room));
  return o;
}

static const char *transport_name(tw_sim_transport_t t) {
  switch (t) {
  case TW_SIM_TRANSPORT_IRC:
    return "irc";
  case TW_SIM_TRANSPORT_IRCS:
    return "ircs";
  case TW_SIM_TRANSPORT_WSS:
    return "wss";
  default:
    return "none";
  }
}

static enum MHD_Result do_conns(tw_sim_t *sim, struct MHD_Connection *conn) {
  size_t n = tw_sim_conns(sim, NULL, 0);
  uint64_t *ids = calloc(n ? n : 1, sizeof(*ids));
  if (!ids)
    return reply_err(conn, TW_ENOMEM, NULL);
  n = tw_sim_conns(sim, ids, n);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    tw_sim_conn_info_t ci;
    if (tw_sim_conn_info(sim, ids[i], &ci) != 0)
      continue;
    json_t *caps = json_array();
    if (ci.caps & TW_SIM_CAP_TAGS)
      json_array_append_new(caps, json_string("twitch.tv/tags"));
    if (ci.caps & TW_SIM_CAP_COMMANDS)
      json_array_append_new(caps, json_string("twitch.tv/commands"));
    if (ci.caps & TW_SIM_CAP_MEMBERSHIP)
      json_array_append_new(caps, json_string("twitch.tv/membership"));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)ci.id));
    json_object_set_new(o, "transport",
                        json_string(transport_name(ci.transport)));
    json_object_set_new(o, "login", json_string(ci.login));
    json_object_set_new(o, "logged_in", json_boolean(ci.logged_in));
    json_object_set_new(o, "anonymous", json_boolean(ci.anonymous));
    json_object_set_new(o, "caps", caps);
    json_object_set_new(o, "stalled", json_boolean(ci.stalled));
    json_object_set_new(o, "rooms", json_integer((json_int_t)ci.nrooms));
    json_object_set_new(o, "queued", json_integer((json_int_t)ci.queued));
    json_object_set_new(o, "lines", json_integer((json_int_t)ci.lines));
    json_array_append_new(arr, o);
  }
  free(ids);
  json_t *o = json_object();
  json_object_set_new(o, "conns", arr);
  return reply_json(conn, 200, o);
}

#define CNT(o, s, f)                                                           \
  json_object_set_new(o, #f, json_integer((json_int_t)(s)->f))

static void user_counters_cb(void *ud, const char *login,
                             const tw_sim_user_counters_t *c) {
  json_t *o = json_object();
  CNT(o, c, sent);
  CNT(o, c, dropped_ratelimit);
  CNT(o, c, dropped_room_rate);
  CNT(o, c, dropped_duplicate);
  CNT(o, c, dropped_too_long);
  CNT(o, c, dropped_other);
  json_object_set_new(
      o, "over_limit",
      json_integer((json_int_t)(c->dropped_ratelimit + c->dropped_room_rate)));
  CNT(o, c, joins);
  CNT(o, c, joins_dropped);
  CNT(o, c, logins);
  CNT(o, c, login_failures);
  json_object_set_new(ud, login, o);
}

static enum MHD_Result do_counters(tw_sim_t *sim, struct MHD_Connection *conn) {
  tw_sim_counters_t k;
  tw_sim_counters(sim, &k);
  json_t *o = json_object();
  CNT(o, &k, conns_accepted);
  CNT(o, &k, conns_refused);
  CNT(o, &k, conns_open);
  CNT(o, &k, logins);
  CNT(o, &k, login_failures);
  CNT(o, &k, lines_in);
  CNT(o, &k, lines_too_long);
  CNT(o, &k, lines_bad);
  CNT(o, &k, lines_out);
  CNT(o, &k, bytes_out);
  CNT(o, &k, privmsgs);
  CNT(o, &k, relayed);
  CNT(o, &k, dropped_ratelimit);
  CNT(o, &k, dropped_room_rate);
  CNT(o, &k, dropped_duplicate);
  CNT(o, &k, dropped_too_long);
  CNT(o, &k, dropped_anonymous);
  CNT(o, &k, dropped_other);
  CNT(o, &k, joins);
  CNT(o, &k, joins_dropped);
  CNT(o, &k, pings_sent);
  CNT(o, &k, ping_timeouts);
  CNT(o, &k, slow_disconnects);
  CNT(o, &k, drops);
  CNT(o, &k, injected);
  CNT(o, &k, flood_lines);
  CNT(o, &k, record_evicted);
  CNT(o, &k, stalled_bytes);
  json_t *users = json_object();
  tw__simchat_users_each(sim->core, user_counters_cb, users);
  json_object_set_new(o, "users", users);
  return reply_json(conn, 200, o);
}

typedef struct {
  json_t *arr;
  const char *contains;
  uint64_t limit, n, next;
} sent_ctx_t;

static int sent_cb(void *ud, const tw_sim_sent_t *s) {
  sent_ctx_t *x = ud;
  x->next = s->seq;
  if (x->contains && !strstr(s->line, x->contains))
    return 0;
  json_t *o = json_object();
  json_object_set_new(o, "seq", json_integer((json_int_t)s->seq));
  json_object_set_new(o, "conn", json_integer((json_int_t)s->conn));
  json_object_set_new(o, "login", json_string(s->login));
  /* Lines are bytes; jansson wants UTF-8, so odd bytes are replaced. */
  json_t *l = json_stringn(s->line, s->len);
  if (!l) {
    char *copy = malloc(s->len + 1);
    if (copy) {
      for (size_t i = 0; i < s->len; i++)
        copy[i] = (unsigned char)s->line[i] < 0x80 ? s->line[i] : '?';
      l = json_stringn(copy, s->len);
      free(copy);
    }
  }
  json_object_set_new(o, "line", l ? l : json_string(""));
  json_object_set_new(o, "at_ms", json_integer((json_int_t)s->at_ms));
  json_array_append_new(x->arr, o);
  return ++x->n >= x->limit;
}

static void waiter_unlink(req_t *r) {
  tw_sim_t *sim = r->sim;
  if (!r->listed)
    return;
  if (r->prev)
    r->prev->next = r->next;
  else
    sim->waiters = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
  r->listed = 0;
  sim->nwaiters--;
  if (!sim->waiters && !sim->closing)
    uv_timer_stop(&sim->waitt);
}

static void on_wait_timer(uv_timer_t *t);

/* Suspends the request until something arrives (a chat line or an API
 * request) or its deadline passes; the handler then runs again and looks
 * again. Returns 1 when suspended, 0 when the caller answers now. */
static int suspend_wait(tw_sim_t *sim, struct MHD_Connection *conn, req_t *r,
                        uint64_t wait_ms) {
  uint64_t now = tw_now_ms();
  if (wait_ms == 0)
    return 0;
  if (wait_ms > TW_SIM_MAX_WAIT_MS)
    wait_ms = TW_SIM_MAX_WAIT_MS;
  if (r->deadline == 0)
    r->deadline = now + wait_ms;
  if (now >= r->deadline || sim->nwaiters >= TW_SIM_MAX_WAITERS ||
      tw_uvmhd_suspend(sim->mhd, conn) != 0)
    return 0;
  r->conn = conn;
  r->prev = NULL;
  r->next = sim->waiters;
  if (sim->waiters)
    sim->waiters->prev = r;
  sim->waiters = r;
  r->listed = 1;
  sim->nwaiters++;
  if (!uv_is_active((uv_handle_t *)&sim->waitt))
    uv_timer_start(&sim->waitt, on_wait_timer, WAIT_POLL_MS, WAIT_POLL_MS);
  return 1;
}

static enum MHD_Result do_sent(tw_sim_t *sim, struct MHD_Connection *conn,
                               req_t *r) {
  uint64_t cid, since, wait_ms, limit;
  if (query_uint(conn, "conn", 0, &cid) ||
      query_uint(conn, "since", 0, &since) ||
      query_uint(conn, "wait_ms", 0, &wait_ms) ||
      query_uint(conn, "limit", 1000, &limit))
    return reply_err(conn, TW_EINVAL, "bad number in the query");
  if (limit == 0 || limit > TW_SIM_MAX_SENT_PAGE)
    limit = TW_SIM_MAX_SENT_PAGE;
  if (wait_ms > TW_SIM_MAX_WAIT_MS)
    wait_ms = TW_SIM_MAX_WAIT_MS;
  const char *login =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "login");
  const char *contains =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "contains");
  if (login && !*login)
    login = NULL;
  if (contains && !*contains)
    contains = NULL;
  sent_ctx_t x = {json_array(), contains, limit, 0, since};
  tw_sim_sent_foreach(sim, cid, login, since, sent_cb, &x);
  if (x.n == 0 && suspend_wait(sim, conn, r, wait_ms)) {
    json_decref(x.arr);
    return MHD_YES;
  }
  json_t *o = json_object();
  json_object_set_new(o, "lines", x.arr);
  json_object_set_new(o, "next", json_integer((json_int_t)x.next));
  json_object_set_new(o, "last_seq",
                      json_integer((json_int_t)tw_sim_sent_last_seq(sim)));
  return reply_json(conn, 200, o);
}

static void resume(req_t *r) {
  tw_sim_t *sim = r->sim;
  struct MHD_Connection *conn = r->conn;
  waiter_unlink(r);
  tw_uvmhd_resume(sim->mhd, conn);
}

static void on_wait_timer(uv_timer_t *t) {
  tw_sim_t *sim = t->data;
  uint64_t now = tw_now_ms();
  req_t *r = sim->waiters;
  while (r) {
    req_t *next = r->next;
    if (now >= r->deadline)
      resume(r);
    r = next;
  }
}

void tw__sim_http_line(tw_sim_t *sim) {
  while (sim->waiters)
    resume(sim->waiters);
}

/* ---- the API side: OAuth and Helix control ------------------------------ */

static enum MHD_Result do_api_clients(tw_sim_t *sim,
                                      struct MHD_Connection *conn, json_t *b) {
  int bad = 0;
  tw_sim_client_t c = {0};
  c.client_id = jstr(b, "client_id", &bad);
  c.client_secret = jstr(b, "client_secret", &bad);
  json_t *uris = strings_array(b, "redirect_uris", &bad);
  if (bad || !c.client_id)
    return reply_err(conn, TW_EINVAL, "client_id (string) is required");
  const char *arr[TW_SIM_MAX_REDIRECTS];
  if (uris) {
    if (json_array_size(uris) > TW_SIM_MAX_REDIRECTS)
      return reply_err(conn, TW_EINVAL, "too many redirect_uris");
    for (size_t i = 0; i < json_array_size(uris); i++)
      arr[i] = json_string_value(json_array_get(uris, i));
    c.redirect_uris = arr;
    c.nredirect_uris = json_array_size(uris);
  }
  int rc = tw_sim_add_client(sim, &c);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_api_tokens(tw_sim_t *sim, struct MHD_Connection *conn,
                                     json_t *b) {
  int bad = 0;
  tw_sim_token_t t = {0};
  t.token = jstr(b, "token", &bad);
  t.login = jstr(b, "login", &bad);
  t.client_id = jstr(b, "client_id", &bad);
  t.scopes = jstr(b, "scopes", &bad);
  t.ttl_ms = juint(b, "ttl_ms", 0, &bad);
  if (bad || !t.token)
    return reply_err(conn, TW_EINVAL, "token (string) is required");
  int rc = tw_sim_add_token_ex(sim, &t);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_api_token_op(tw_sim_t *sim,
                                       struct MHD_Connection *conn, json_t *b,
                                       int expire) {
  int bad = 0;
  const char *token = jstr(b, "token", &bad);
  if (bad || !token)
    return reply_err(conn, TW_EINVAL, "token is required");
  int rc = expire ? tw_sim_expire_token(sim, token)
                  : tw_sim_revoke_token(sim, token);
  return rc ? reply_err(conn, rc, "unknown token") : reply_ok(conn);
}

static enum MHD_Result do_api_token_info(tw_sim_t *sim,
                                         struct MHD_Connection *conn) {
  const char *token =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
  tw_sim_token_info_t ti;
  int rc = token ? tw_sim_token_info(sim, token, &ti) : TW_EINVAL;
  if (rc != 0)
    return reply_err(conn, rc,
                     rc == TW_EINVAL ? "token is required" : "unknown token");
  json_t *o = json_object();
  json_object_set_new(o, "login", ti.app ? json_null() : json_string(ti.login));
  json_object_set_new(o, "user_id",
                      ti.app ? json_null() : json_string(ti.user_id));
  json_object_set_new(o, "client_id", json_string(ti.client_id));
  json_object_set_new(o, "scopes", json_string(ti.scopes));
  json_object_set_new(o, "app", json_boolean(ti.app));
  json_object_set_new(o, "revoked", json_boolean(ti.revoked));
  json_object_set_new(o, "expired", json_boolean(ti.expired));
  json_object_set_new(o, "expires_in_ms", json_integer(ti.expires_in_ms));
  return reply_json(conn, 200, o);
}

static enum MHD_Result do_api_consent(tw_sim_t *sim,
                                      struct MHD_Connection *conn, json_t *b) {
  int bad = 0;
  const char *login = jstr(b, "login", &bad);
  if (bad)
    return reply_err(conn, TW_EINVAL, "login must be a string or null");
  int rc = tw_sim_set_consent(sim, login);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_api_device(tw_sim_t *sim, struct MHD_Connection *conn,
                                     json_t *b) {
  int bad = 0;
  const char *code = jstr(b, "code", &bad);
  const char *login = jstr(b, "login", &bad);
  int deny = jbool(b, "deny", 0, &bad);
  if (bad || !code)
    return reply_err(conn, TW_EINVAL,
                     "code (a user_code or device_code) is required");
  int rc = tw_sim_device_approve(sim, code, login, deny);
  return rc ? reply_err(conn, rc,
                        rc == TW_ENOTFOUND ? "unknown or expired code" : NULL)
            : reply_ok(conn);
}

static enum MHD_Result do_api_force(tw_sim_t *sim, struct MHD_Connection *conn,
                                    json_t *b) {
  int bad = 0;
  const char *path = jstr(b, "path", &bad);
  uint64_t status = juint(b, "status", 0, &bad);
  uint64_t count = juint(b, "count", 1, &bad);
  const char *message = jstr(b, "message", &bad);
  if (bad || !path || count > UINT32_MAX)
    return reply_err(conn, TW_EINVAL, "path and status (400-599) required");
  int rc =
      tw_sim_api_force(sim, path, (unsigned)status, (unsigned)count, message);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

static enum MHD_Result do_api_streams(tw_sim_t *sim,
                                      struct MHD_Connection *conn, json_t *b) {
  int bad = 0;
  tw_sim_stream_t st = {0};
  const char *room = jstr(b, "room", &bad);
  st.live = jbool(b, "live", 0, &bad);
  st.title = jstr(b, "title", &bad);
  st.game_id = jstr(b, "game_id", &bad);
  st.game_name = jstr(b, "game_name", &bad);
  st.language = jstr(b, "language", &bad);
  uint64_t v = juint(b, "viewer_count", 0, &bad);
  if (bad || !room || v > UINT32_MAX)
    return reply_err(conn, TW_EINVAL, "room (string) is required");
  st.viewer_count = (uint32_t)v;
  int rc = tw_sim_set_stream(sim, room, &st);
  return rc ? reply_err(conn, rc, NULL) : reply_ok(conn);
}

typedef struct {
  json_t *arr;
  uint64_t limit, n;
} apireq_ctx_t;

/* Bytes to a JSON string; bytes that are not UTF-8 become '?'. */
static json_t *jbytes(const char *s, size_t n) {
  json_t *v = json_stringn(s, n);
  if (v)
    return v;
  char *copy = malloc(n + 1);
  if (!copy)
    return json_string("");
  for (size_t i = 0; i < n; i++)
    copy[i] = (unsigned char)s[i] < 0x80 && s[i] ? s[i] : '?';
  v = json_stringn(copy, n);
  free(copy);
  return v ? v : json_string("");
}

static int apireq_cb(void *ud, const tw_sim_api_req_t *q) {
  apireq_ctx_t *x = ud;
  json_t *o = json_object();
  json_object_set_new(o, "seq", json_integer((json_int_t)q->seq));
  json_object_set_new(o, "method", jbytes(q->method, strlen(q->method)));
  json_object_set_new(o, "path", jbytes(q->path, strlen(q->path)));
  json_object_set_new(o, "query", jbytes(q->query, strlen(q->query)));
  json_t *h = json_array();
  for (size_t i = 0; i < q->nheaders; i++) {
    json_t *pair = json_array();
    json_array_append_new(
        pair, jbytes(q->header_names[i], strlen(q->header_names[i])));
    json_array_append_new(
        pair, jbytes(q->header_values[i], strlen(q->header_values[i])));
    json_array_append_new(h, pair);
  }
  json_object_set_new(o, "headers", h);
  json_object_set_new(o, "authorization",
                      q->authorization
                          ? jbytes(q->authorization, strlen(q->authorization))
                          : json_null());
  json_object_set_new(o, "client_id",
                      q->client_id ? jbytes(q->client_id, strlen(q->client_id))
                                   : json_null());
  json_object_set_new(o, "body", jbytes(q->body, q->body_len));
  json_object_set_new(o, "status", json_integer(q->status));
  json_object_set_new(o, "forced", json_boolean(q->forced));
  json_object_set_new(o, "at_ms", json_integer((json_int_t)q->at_ms));
  json_array_append_new(x->arr, o);
  return ++x->n >= x->limit;
}

static enum MHD_Result do_api_requests(tw_sim_t *sim,
                                       struct MHD_Connection *conn, req_t *r) {
  uint64_t since, wait_ms, limit;
  if (query_uint(conn, "since", 0, &since) ||
      query_uint(conn, "wait_ms", 0, &wait_ms) ||
      query_uint(conn, "limit", 1000, &limit))
    return reply_err(conn, TW_EINVAL, "bad number in the query");
  if (limit == 0 || limit > TW_SIM_MAX_SENT_PAGE)
    limit = TW_SIM_MAX_SENT_PAGE;
  const char *path =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "path");
  if (path && !*path)
    path = NULL;
  apireq_ctx_t x = {json_array(), limit, 0};
  tw_sim_api_foreach(sim, since, path, apireq_cb, &x);
  if (x.n == 0 && suspend_wait(sim, conn, r, wait_ms)) {
    json_decref(x.arr);
    return MHD_YES;
  }
  json_t *o = json_object();
  json_object_set_new(o, "requests", x.arr);
  json_object_set_new(o, "last_seq",
                      json_integer((json_int_t)tw_sim_api_last_seq(sim)));
  return reply_json(conn, 200, o);
}

static enum MHD_Result do_api_counters(tw_sim_t *sim,
                                       struct MHD_Connection *conn) {
  tw_sim_api_counters_t k;
  tw_sim_api_counters(sim, &k);
  json_t *o = json_object();
  CNT(o, &k, requests);
  CNT(o, &k, oauth_requests);
  CNT(o, &k, helix_requests);
  CNT(o, &k, forced);
  CNT(o, &k, rate_limited);
  CNT(o, &k, unauthorized);
  CNT(o, &k, tokens_issued);
  CNT(o, &k, refreshes);
  CNT(o, &k, record_evicted);
  return reply_json(conn, 200, o);
}

/* ---- EventSub ----------------------------------------------------------- */

static enum MHD_Result do_es(tw_sim_t *sim, struct MHD_Connection *conn,
                             json_t *b, const char *what) {
  int bad = 0;
  if (strcmp(what, "trigger") == 0) {
    const char *type = jstr(b, "type", &bad);
    const char *room = jstr(b, "room", &bad);
    json_t *ev = json_object_get(b, "event");
    if (ev && json_is_null(ev))
      ev = NULL;
    if (bad || !type || !room || (ev && !json_is_object(ev)))
      return reply_err(conn, TW_EINVAL,
                       "type and room (strings) are required; event must be "
                       "an object");
    return reply_count(conn, tw__simes_trigger_json(sim, type, room, ev),
                       "sent");
  }
  if (strcmp(what, "revoke") == 0) {
    const char *id = jstr(b, "subscription_id", &bad);
    const char *status = jstr(b, "status", &bad);
    if (bad || !id)
      return reply_err(conn, TW_EINVAL, "subscription_id is required");
    return reply_count(conn, tw_sim_eventsub_revoke(sim, id, status), "sent");
  }
  const char *session = jstr(b, "session", &bad);
  int stalled = jbool(b, "stalled", 1, &bad);
  if (bad)
    return reply_err(conn, TW_EINVAL, "bad session or stalled");
  int n;
  if (strcmp(what, "reconnect") == 0)
    n = tw_sim_eventsub_reconnect(sim, session);
  else if (strcmp(what, "drop") == 0)
    n = tw_sim_eventsub_drop(sim, session);
  else if (strcmp(what, "duplicate") == 0)
    n = tw_sim_eventsub_duplicate(sim, session);
  else
    n = tw_sim_eventsub_stall(sim, session, stalled);
  return reply_count(conn, n, "sessions");
}

static enum MHD_Result do_es_sessions(tw_sim_t *sim,
                                      struct MHD_Connection *conn) {
  size_t n = tw_sim_eventsub_sessions(sim, NULL, 0);
  tw_sim_eventsub_session_t *v = n ? calloc(n, sizeof(*v)) : NULL;
  if (n && !v)
    return reply_err(conn, TW_ENOMEM, NULL);
  n = tw_sim_eventsub_sessions(sim, v, n);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(v[i].id));
    json_object_set_new(o, "user_id", json_string(v[i].user_id));
    json_object_set_new(o, "conn", json_integer((json_int_t)v[i].conn));
    json_object_set_new(o, "keepalive_ms", json_integer(v[i].keepalive_ms));
    json_object_set_new(o, "stalled", json_boolean(v[i].stalled));
    json_object_set_new(o, "reconnecting", json_boolean(v[i].reconnecting));
    json_object_set_new(o, "subscriptions",
                        json_integer((json_int_t)v[i].subs));
    json_object_set_new(o, "sent", json_integer((json_int_t)v[i].sent));
    json_object_set_new(o, "keepalives",
                        json_integer((json_int_t)v[i].keepalives));
    json_object_set_new(o, "notifications",
                        json_integer((json_int_t)v[i].notifications));
    json_array_append_new(arr, o);
  }
  free(v);
  json_t *o = json_object();
  json_object_set_new(o, "sessions", arr);
  return reply_json(conn, 200, o);
}

static enum MHD_Result do_wh_attempts(tw_sim_t *sim,
                                      struct MHD_Connection *conn) {
  uint64_t since;
  if (query_uint(conn, "since", 0, &since))
    return reply_err(conn, TW_EINVAL, "bad number in the query");
  size_t n = tw_sim_webhook_attempts(sim, since, NULL, 0);
  tw_sim_webhook_attempt_t *v = n ? calloc(n, sizeof(*v)) : NULL;
  if (n && !v)
    return reply_err(conn, TW_ENOMEM, NULL);
  n = tw_sim_webhook_attempts(sim, since, v, n);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)v[i].seq));
    json_object_set_new(o, "url", json_string(v[i].url));
    json_object_set_new(o, "message_type", json_string(v[i].message_type));
    json_object_set_new(o, "message_id", json_string(v[i].message_id));
    json_object_set_new(o, "subscription_id",
                        json_string(v[i].subscription_id));
    json_object_set_new(o, "retry", json_integer(v[i].retry));
    json_object_set_new(
        o, "fault",
        json_string(v[i].fault == TW_SIM_WEBHOOK_BAD_SIGNATURE ? "bad_signature"
                    : v[i].fault == TW_SIM_WEBHOOK_STALE       ? "stale"
                                                               : ""));
    json_object_set_new(o, "status", json_integer(v[i].status));
    json_object_set_new(o, "error",
                        v[i].error ? json_string(tw_strerror(v[i].error))
                                   : json_null());
    json_array_append_new(arr, o);
  }
  free(v);
  json_t *o = json_object();
  json_object_set_new(o, "attempts", arr);
  return reply_json(conn, 200, o);
}

static enum MHD_Result do_wh_fault(tw_sim_t *sim, struct MHD_Connection *conn,
                                   json_t *b) {
  int bad = 0;
  const char *f = jstr(b, "fault", &bad);
  unsigned fault = 0;
  if (!bad && f && strcmp(f, "bad_signature") == 0)
    fault = TW_SIM_WEBHOOK_BAD_SIGNATURE;
  else if (!bad && f && strcmp(f, "stale") == 0)
    fault = TW_SIM_WEBHOOK_STALE;
  if (!fault)
    return reply_err(conn, TW_EINVAL,
                     "fault must be \"bad_signature\" or \"stale\"");
  return reply_count(conn, tw_sim_webhook_fault(sim, fault), "sent");
}

/* ---- dispatch ----------------------------------------------------------- */

static enum MHD_Result route(tw_sim_t *sim, struct MHD_Connection *conn,
                             const char *url, const char *method, req_t *r) {
  int get = strcmp(method, "GET") == 0;
  int post = strcmp(method, "POST") == 0;
  if (get && strcmp(url, "/health") == 0)
    return reply_ok(conn);
  if (get && strcmp(url, "/info") == 0) {
    char buf[4096];
    if (tw_sim_describe(sim, buf, sizeof(buf)) != 0)
      return reply_err(conn, TW_ETOOBIG, NULL);
    json_t *o = json_loads(buf, 0, NULL);
    return o ? reply_json(conn, 200, o) : reply_err(conn, TW_ENOMEM, NULL);
  }
  if (get && strcmp(url, "/chat/sent") == 0)
    return do_sent(sim, conn, r);
  if (get && strcmp(url, "/chat/conns") == 0)
    return do_conns(sim, conn);
  if (get && strcmp(url, "/chat/counters") == 0)
    return do_counters(sim, conn);
  if (get && strcmp(url, "/chat/flood") == 0)
    return reply_json(conn, 200, flood_json(sim));
  if (get && strcmp(url, "/api/requests") == 0)
    return do_api_requests(sim, conn, r);
  if (get && strcmp(url, "/api/counters") == 0)
    return do_api_counters(sim, conn);
  if (get && strcmp(url, "/api/tokens") == 0)
    return do_api_token_info(sim, conn);
  if (get && strcmp(url, "/eventsub/sessions") == 0)
    return do_es_sessions(sim, conn);
  if (get && strcmp(url, "/eventsub/webhook/attempts") == 0)
    return do_wh_attempts(sim, conn);
  if (!post)
    return reply_err(conn, TW_ENOTFOUND, "no such endpoint or method");

  json_t *b;
  if (r->body.len == 0) {
    b = json_object();
  } else {
    json_error_t je;
    b = json_loadb(r->body.data, r->body.len, 0, &je);
    if (!b || !json_is_object(b)) {
      json_decref(b);
      return reply_err(conn, TW_EPARSE, "the body must be a JSON object");
    }
  }
  enum MHD_Result rc;
  if (strcmp(url, "/chat/users") == 0)
    rc = do_users(sim, conn, b);
  else if (strcmp(url, "/chat/tokens") == 0)
    rc = do_tokens(sim, conn, b);
  else if (strcmp(url, "/chat/tokens/revoke") == 0)
    rc = do_revoke(sim, conn, b);
  else if (strcmp(url, "/chat/rooms") == 0)
    rc = do_rooms(sim, conn, b);
  else if (strcmp(url, "/chat/roles") == 0)
    rc = do_roles(sim, conn, b);
  else if (strcmp(url, "/chat/inject") == 0)
    rc = do_inject(sim, conn, b);
  else if (strcmp(url, "/chat/say") == 0)
    rc = do_say(sim, conn, b);
  else if (strcmp(url, "/chat/ping") == 0)
    rc = do_fault(sim, conn, b, "ping");
  else if (strcmp(url, "/chat/reconnect") == 0)
    rc = do_fault(sim, conn, b, "reconnect");
  else if (strcmp(url, "/chat/drop") == 0)
    rc = do_fault(sim, conn, b, "drop");
  else if (strcmp(url, "/chat/stall") == 0)
    rc = do_fault(sim, conn, b, "stall");
  else if (strcmp(url, "/chat/flood") == 0)
    rc = do_flood(sim, conn, b);
  else if (strcmp(url, "/chat/flood/cancel") == 0) {
    tw_sim_flood_cancel(sim);
    rc = reply_ok(conn);
  } else if (strcmp(url, "/api/clients") == 0) {
    rc = do_api_clients(sim, conn, b);
  } else if (strcmp(url, "/api/tokens") == 0) {
    rc = do_api_tokens(sim, conn, b);
  } else if (strcmp(url, "/api/tokens/expire") == 0) {
    rc = do_api_token_op(sim, conn, b, 1);
  } else if (strcmp(url, "/api/tokens/revoke") == 0) {
    rc = do_api_token_op(sim, conn, b, 0);
  } else if (strcmp(url, "/api/consent") == 0) {
    rc = do_api_consent(sim, conn, b);
  } else if (strcmp(url, "/api/device/approve") == 0) {
    rc = do_api_device(sim, conn, b);
  } else if (strcmp(url, "/api/force") == 0) {
    rc = do_api_force(sim, conn, b);
  } else if (strcmp(url, "/api/streams") == 0) {
    rc = do_api_streams(sim, conn, b);
  } else if (strcmp(url, "/api/force/clear") == 0) {
    tw_sim_api_force_clear(sim);
    rc = reply_ok(conn);
  } else if (strncmp(url, "/eventsub/", 10) == 0 &&
             (strcmp(url + 10, "trigger") == 0 ||
              strcmp(url + 10, "reconnect") == 0 ||
              strcmp(url + 10, "revoke") == 0 ||
              strcmp(url + 10, "drop") == 0 || strcmp(url + 10, "stall") == 0 ||
              strcmp(url + 10, "duplicate") == 0)) {
    rc = do_es(sim, conn, b, url + 10);
  } else if (strcmp(url, "/eventsub/webhook/redeliver") == 0) {
    rc = reply_count(conn, tw_sim_webhook_redeliver(sim), "sent");
  } else if (strcmp(url, "/eventsub/webhook/fault") == 0) {
    rc = do_wh_fault(sim, conn, b);
  } else if (strcmp(url, "/chat/counters/reset") == 0) {
    tw_sim_counters_reset(sim);
    rc = reply_ok(conn);
  } else {
    rc = reply_err(conn, TW_ENOTFOUND, "no such endpoint or method");
  }
  json_decref(b);
  return rc;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)version;
  tw_sim_t *sim = cls;
  req_t *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof(*r));
    if (!r)
      return MHD_NO;
    r->sim = sim;
    tw_buf_init(&r->body, TW_SIM_MAX_CONTROL_BODY);
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_size) {
    if (tw_buf_append(&r->body, upload, *upload_size) != 0)
      return MHD_NO; /* over the cap: the connection is dropped */
    *upload_size = 0;
    return MHD_YES;
  }
  if (sim->closing)
    return reply_err(conn, TW_ESTATE, "the simulator is closing");
  return route(sim, conn, url, method, r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  req_t *r = *con_cls;
  if (!r)
    return;
  waiter_unlink(r);
  tw_buf_free(&r->body);
  free(r);
  *con_cls = NULL;
}

int tw__sim_http_start(tw_sim_t *sim, char *detail, size_t detail_cap) {
  tw_uvmhd_opts_t o = {0};
  o.host = sim->host;
  o.port = sim->o.control_port;
  o.handler = handler;
  o.handler_cls = sim;
  o.completed = completed;
  o.completed_cls = sim;
  o.connection_timeout_s = TW_SIM_MAX_WAIT_MS / 1000 + 30;
  int rc = tw_uvmhd_start(sim->loop, &o, &sim->mhd);
  if (rc != 0) {
    snprintf(detail, detail_cap, "cannot start the control server on %s:%u: %s",
             sim->host, (unsigned)sim->o.control_port, tw_strerror(rc));
    return rc;
  }
  sim->port_control = tw_uvmhd_port(sim->mhd);
  return 0;
}

static void on_mhd_closed(void *ud) {
  tw__sim_handle_closed(ud);
}

void tw__sim_http_close(tw_sim_t *sim) {
  if (!sim->mhd)
    return;
  /* Waiting requests are resumed and ended by the adapter. */
  while (sim->waiters)
    waiter_unlink(sim->waiters);
  sim->handles_open++;
  tw_uvmhd_close(sim->mhd, on_mhd_closed, sim);
  sim->mhd = NULL;
}
