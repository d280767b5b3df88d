/* The EventSub WebSocket client; behaviour documented in
 * twitchd/eventsub_client.h and docs/eventsub.md. */
#include "twitchd/eventsub_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/eventsub.h"
#include "twitch/eventsub_plan.h"
#include "twitchd/eventsub_events.h"
#include "twitchd/log.h"
#include "twitchd/tls.h"
#include "twitchd/ws.h"

#define MOD "eventsub"

typedef enum { ROLE_MAIN = 0, ROLE_PENDING, ROLE_RETIRING } role_t;

typedef struct conn {
  tw_eventsub_t *es;
  tw_ws_t *ws;
  role_t role;
  bool welcomed;
  bool timed_out;
  struct conn *next;
} conn_t;

typedef enum {
  SUB_WANTED = 0, /* to create on the next welcomed session */
  SUB_PENDING,    /* Create EventSub Subscription in flight */
  SUB_ENABLED,
  SUB_SKIPPED, /* missing scope: never again for this client */
  SUB_REVOKED  /* revoked for good */
} sub_state_t;

typedef struct sub {
  tw_eventsub_t *es;
  size_t chan, type;
  sub_state_t st;
  uint64_t call; /* Helix call id while PENDING */
  uint64_t gen;  /* session generation it was created for */
  char id[TW_MAX_EVENTSUB_ID + 1];
} sub_t;

typedef struct chan {
  tw_eventsub_t *es;
  char *login;
  char id[TW_MAX_HELIX_ID + 1];
  uint64_t lookup; /* Helix call id while resolving */
  bool resolving;
} chan_t;

struct tw_eventsub {
  uv_loop_t *loop;
  tw_helix_client_t *hc;
  tw_tls_ctx_t *tls;
  char *url, *connector, *moderator;
  unsigned watchdog_opt;
  chan_t *chans;
  size_t nchans;
  tw_eventsub_type_t *types;
  size_t ntypes;
  sub_t *subs;
  size_t nsubs;
  conn_t *conns, *main, *pending;
  uint64_t gen; /* bumped by every new (non-migrated) session */
  char session[TW_MAX_EVENTSUB_ID + 1]; /* the live session's id */
  uint64_t keepalive_ms;
  uv_timer_t watchdog, retry;
  int timers_open;
  tw_backoff_t bo;
  /* Dedupe ring: the last TW_EVENTSUB_DEDUPE message ids and their hashes
   * (compared first, so a lookup is a scan of integers). */
  uint64_t seen_hash[TW_EVENTSUB_DEDUPE];
  char *seen[TW_EVENTSUB_DEDUPE];
  size_t seen_next;
  bool started, closing;
  void (*close_cb)(void *);
  void *close_ud;
  tw_eventsub_stats_t st;
  void (*on_event)(tw_event_t *ev, void *ud);
  void (*on_status)(const tw_eventsub_status_t *st, void *ud);
  void *ud;
};

const char *tw_eventsub_close_reason(int code) {
  switch (code) {
  case 4000:
    return "internal server error";
  case 4001:
    return "client sent inbound traffic";
  case 4002:
    return "client failed ping-pong";
  case 4003:
    return "connection unused (no subscription within the window)";
  case 4004:
    return "reconnect grace time expired";
  case 4005:
    return "network timeout";
  case 4006:
    return "network error";
  case 4007:
    return "invalid reconnect";
  default:
    return "";
  }
}

static void status(tw_eventsub_t *es, const tw_eventsub_status_t *s) {
  if (es->on_status && !es->closing)
    es->on_status(s, es->ud);
}

static uint64_t hash_id(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* True when `id` was seen; otherwise remembers it (evicting the oldest). */
static bool seen_before(tw_eventsub_t *es, const char *id) {
  uint64_t h = hash_id(id);
  for (size_t i = 0; i < TW_EVENTSUB_DEDUPE; i++)
    if (es->seen[i] && es->seen_hash[i] == h && strcmp(es->seen[i], id) == 0)
      return true;
  char *copy = strdup(id);
  if (copy == NULL)
    return false; /* deliver rather than drop when out of memory */
  free(es->seen[es->seen_next]);
  es->seen[es->seen_next] = copy;
  es->seen_hash[es->seen_next] = h;
  es->seen_next = (es->seen_next + 1) % TW_EVENTSUB_DEDUPE;
  return false;
}

/* ---- lifetime ------------------------------------------------------------ */

static void free_all(tw_eventsub_t *es) {
  for (size_t i = 0; i < es->nchans; i++)
    free(es->chans[i].login);
  tw__eventsub_plan_types_free(es->types, es->ntypes);
  for (size_t i = 0; i < TW_EVENTSUB_DEDUPE; i++)
    free(es->seen[i]);
  free(es->chans);
  free(es->types);
  free(es->subs);
  free(es->url);
  free(es->connector);
  free(es->moderator);
  tw_tls_ctx_free(es->tls);
  free(es);
}

static void maybe_finish(tw_eventsub_t *es) {
  if (!es->closing || es->timers_open || es->conns)
    return;
  void (*cb)(void *) = es->close_cb;
  void *ud = es->close_ud;
  free_all(es);
  if (cb)
    cb(ud);
}

static void on_timer_closed(uv_handle_t *h) {
  tw_eventsub_t *es = h->data;
  es->timers_open--;
  maybe_finish(es);
}

int tw_eventsub_new(uv_loop_t *loop, tw_helix_client_t *hc,
                    const tw_eventsub_opts_t *o, tw_eventsub_t **out) {
  if (out)
    *out = NULL;
  if (!loop || !hc || !o || !out || !o->on_event || !o->channels ||
      o->nchannels == 0 || o->nchannels > TW_MAX_EVENTSUB_CHANNELS ||
      o->ntypes > TW_MAX_EVENTSUB_TYPES || (o->types == NULL && o->ntypes) ||
      (o->keepalive_timeout_seconds &&
       (o->keepalive_timeout_seconds < TW_EVENTSUB_KEEPALIVE_MIN_S ||
        o->keepalive_timeout_seconds > TW_EVENTSUB_KEEPALIVE_MAX_S)))
    return TW_EINVAL;
  size_t ntypes;
  const tw_eventsub_type_t *types =
      tw__eventsub_plan_types(o->types, o->ntypes, &ntypes);
  if (tw__eventsub_plan_check(o->channels, o->nchannels, types, ntypes) != 0)
    return TW_EINVAL;
  const char *base = o->url ? o->url : TW_EVENTSUB_DEFAULT_URL;
  tw_ws_url_t pu;
  if (tw_ws_url_parse(base, &pu) != 0)
    return TW_EINVAL;

  tw_eventsub_t *es = calloc(1, sizeof(*es));
  if (!es)
    return TW_ENOMEM;
  es->loop = loop;
  es->hc = hc;
  es->watchdog_opt = o->watchdog_ms;
  es->on_event = o->on_event;
  es->on_status = o->on_status;
  es->ud = o->ud;
  int rc = TW_ENOMEM;
  /* The keepalive query goes on the configured URL only: reconnect URLs
   * must be used exactly as Twitch gives them. */
  size_t ul = strlen(base) + 48;
  es->url = malloc(ul);
  if (!es->url)
    goto fail;
  if (o->keepalive_timeout_seconds)
    snprintf(es->url, ul, "%s%ckeepalive_timeout_seconds=%u", base,
             strchr(base, '?') ? '&' : '?', o->keepalive_timeout_seconds);
  else
    snprintf(es->url, ul, "%s", base);
  /* Until a welcome says otherwise: Twitch's default keepalive (10 s) and
   * the margin. */
  es->keepalive_ms = o->watchdog_ms ? o->watchdog_ms
                                    : 10000u + TW_EVENTSUB_KEEPALIVE_MARGIN_MS;
  es->connector = strdup(o->connector ? o->connector : "twitch");
  if (!es->connector)
    goto fail;
  if (o->moderator_user_id && !(es->moderator = strdup(o->moderator_user_id)))
    goto fail;
  es->chans = calloc(o->nchannels, sizeof(*es->chans));
  es->types = calloc(ntypes, sizeof(*es->types));
  es->subs = calloc(o->nchannels * ntypes, sizeof(*es->subs));
  if (!es->chans || !es->types || !es->subs)
    goto fail;
  for (size_t i = 0; i < o->nchannels; i++) {
    es->chans[i].es = es;
    if (!(es->chans[i].login = tw__eventsub_plan_login(o->channels[i])))
      goto fail;
    es->nchans++;
  }
  if (tw__eventsub_plan_types_copy(types, ntypes, es->types, &es->ntypes))
    goto fail;
  for (size_t c = 0; c < es->nchans; c++)
    for (size_t t = 0; t < es->ntypes; t++) {
      sub_t *s = &es->subs[es->nsubs++];
      s->es = es;
      s->chan = c;
      s->type = t;
    }
  char detail[TW_MAX_TLS_DETAIL];
  tw_tls_client_opts_t to = {o->ca_file, 0};
  if ((rc = tw_tls_client_new(&to, &es->tls, detail, sizeof(detail))) != 0) {
    tw_error(MOD, "TLS setup failed: %s", detail);
    goto fail;
  }
  if ((rc = tw_backoff_init(
           &es->bo,
           o->backoff_base_ms ? o->backoff_base_ms
                              : TW_EVENTSUB_BACKOFF_BASE_MS,
           o->backoff_cap_ms ? o->backoff_cap_ms : TW_EVENTSUB_BACKOFF_CAP_MS,
           o->healthy_ms ? o->healthy_ms : TW_EVENTSUB_HEALTHY_MS, o->rand,
           o->rand_ctx)) != 0)
    goto fail;
  uv_timer_init(loop, &es->watchdog);
  uv_timer_init(loop, &es->retry);
  es->watchdog.data = es->retry.data = es;
  es->timers_open = 2;
  *out = es;
  return 0;
fail:
  free_all(es);
  return rc;
}

/* ---- connections --------------------------------------------------------- */

static void ws_on_open(tw_ws_t *ws, void *ud);
static void ws_on_message(tw_ws_t *ws, const char *data, size_t len, int binary,
                          void *ud);
static void ws_on_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud);

static int conn_open(tw_eventsub_t *es, const char *url, role_t role) {
  conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    return TW_ENOMEM;
  c->es = es;
  c->role = role;
  tw_ws_cb_t cb = {ws_on_open, ws_on_message, NULL, NULL, NULL, ws_on_close};
  tw_ws_connect_opts_t o;
  memset(&o, 0, sizeof(o));
  o.tls = es->tls;
  o.max_message = TW_MAX_EVENTSUB_MESSAGE;
  int rc = tw_ws_connect(es->loop, url, &o, &cb, c, &c->ws);
  if (rc) {
    free(c);
    return rc;
  }
  c->next = es->conns;
  es->conns = c;
  if (role == ROLE_PENDING)
    es->pending = c;
  else
    es->main = c;
  es->st.connects++;
  return 0;
}

static void on_retry(uv_timer_t *t);

static void schedule_reconnect(tw_eventsub_t *es, uint64_t *delay_out) {
  uint64_t d = tw_backoff_next(&es->bo, tw_now_ms());
  if (delay_out)
    *delay_out = d;
  uv_timer_start(&es->retry, on_retry, d, 0);
}

static void on_retry(uv_timer_t *t) {
  tw_eventsub_t *es = t->data;
  if (es->closing || es->main || es->pending)
    return;
  int rc = conn_open(es, es->url, ROLE_MAIN);
  if (rc) {
    uint64_t d;
    schedule_reconnect(es, &d);
    tw_warn(MOD, "cannot connect: %s; next attempt in %llu ms", tw_strerror(rc),
            (unsigned long long)d);
  }
}

/* The connection that must speak: the session's, or during a switch whose
 * old connection already ended, the reconnect target (which could
 * otherwise sit silent for ever after its upgrade). */
static void on_watchdog(uv_timer_t *t) {
  tw_eventsub_t *es = t->data;
  conn_t *c = es->main ? es->main : es->pending;
  if (es->closing || !c || !c->ws)
    return;
  es->st.keepalive_timeouts++;
  tw_warn(MOD,
          "no message for %llu ms (%s): reconnecting; events during the gap "
          "are lost",
          (unsigned long long)es->keepalive_ms,
          c->welcomed ? "keepalive timeout" : "no welcome");
  c->timed_out = true;
  tw_ws_abort(c->ws);
}

static void reset_watchdog(tw_eventsub_t *es) {
  if (es->keepalive_ms)
    uv_timer_start(&es->watchdog, on_watchdog, es->keepalive_ms, 0);
}

static void ws_on_open(tw_ws_t *ws, void *ud) {
  (void)ws;
  conn_t *c = ud;
  tw_debug(MOD, "connected%s; waiting for the welcome",
           c->role == ROLE_PENDING ? " to the reconnect URL" : "");
  /* A server that upgrades and then says nothing is as dead as one that
   * stops keeping alive: the same watchdog covers the welcome. */
  if (c == c->es->main)
    reset_watchdog(c->es);
}

/* ---- subscriptions ------------------------------------------------------- */

static void on_created(tw_helix_client_t *hc, const tw_helix_result_t *res,
                       void *arg);

static void create_sub(tw_eventsub_t *es, sub_t *s) {
  chan_t *ch = &es->chans[s->chan];
  const tw_eventsub_type_t *ty = &es->types[s->type];
  const char *mod =
      es->moderator ? es->moderator : tw_helix_client_user_id(es->hc);
  tw_helix_kv_t cond[2];
  size_t nc = tw__eventsub_plan_condition(ty->type, ch->id, mod, cond);
  tw_helix_sub_spec_t spec;
  memset(&spec, 0, sizeof(spec));
  spec.type = ty->type;
  spec.version = ty->version;
  spec.condition = cond;
  spec.ncondition = nc;
  spec.method = TW_HELIX_TRANSPORT_WEBSOCKET;
  spec.session_id = es->session;
  s->gen = es->gen;
  int rc = tw_helix_eventsub_create(es->hc, &spec, on_created, s, &s->call);
  if (rc) {
    s->st = SUB_WANTED;
    s->call = 0;
    es->st.subs_failed++;
    tw_warn(MOD, "cannot subscribe to %s for #%s: %s; next session retries",
            ty->type, ch->login, tw_strerror(rc));
    return;
  }
  s->st = SUB_PENDING;
}

static void create_for_chan(tw_eventsub_t *es, size_t ci) {
  for (size_t i = 0; i < es->nsubs; i++) {
    sub_t *s = &es->subs[i];
    if (s->chan == ci && s->st == SUB_WANTED)
      create_sub(es, s);
  }
}

static bool session_live(tw_eventsub_t *es) {
  return es->main && es->main->welcomed && !es->closing;
}

static void on_lookup(tw_helix_client_t *hc, int err, const char *id,
                      const char *login, const tw_helix_result_t *res,
                      void *arg) {
  (void)hc;
  (void)login;
  (void)res;
  chan_t *ch = arg;
  tw_eventsub_t *es = ch->es;
  ch->resolving = false;
  ch->lookup = 0;
  if (err || !id || strlen(id) > TW_MAX_HELIX_ID) {
    tw_warn(MOD, "cannot resolve #%s to a user id: %s; next session retries",
            ch->login, err ? tw_strerror(err) : "bad id");
    return;
  }
  memcpy(ch->id, id, strlen(id) + 1);
  if (session_live(es))
    create_for_chan(es, (size_t)(ch - es->chans));
}

static void subscribe_all(tw_eventsub_t *es) {
  for (size_t ci = 0; ci < es->nchans; ci++) {
    chan_t *ch = &es->chans[ci];
    if (ch->id[0]) {
      create_for_chan(es, ci);
    } else if (!ch->resolving) {
      int rc = tw_helix_lookup_user(es->hc, ch->login, NULL, on_lookup, ch,
                                    &ch->lookup);
      if (rc)
        tw_warn(MOD, "cannot look up #%s: %s", ch->login, tw_strerror(rc));
      else
        ch->resolving = true;
    }
  }
}

static void on_created(tw_helix_client_t *hc, const tw_helix_result_t *res,
                       void *arg) {
  (void)hc;
  sub_t *s = arg;
  tw_eventsub_t *es = s->es;
  const char *type = es->types[s->type].type;
  const char *login = es->chans[s->chan].login;
  s->call = 0;
  tw_eventsub_status_t st;
  memset(&st, 0, sizeof(st));
  st.type = type;
  st.channel = login;
  if (s->gen != es->gen) {
    /* An answer for a session that has since died: the new session creates
     * its own. */
    s->st = SUB_WANTED;
    return;
  }
  if (res->err == 0) {
    s->st = SUB_ENABLED;
    s->id[0] = '\0';
    if (res->subs && res->subs->n && res->subs->v[0].id &&
        strlen(res->subs->v[0].id) <= TW_MAX_EVENTSUB_ID)
      memcpy(s->id, res->subs->v[0].id, strlen(res->subs->v[0].id) + 1);
    es->st.subs_created++;
    tw_info(MOD, "subscribed to %s for #%s", type, login);
    st.kind = TW_EVENTSUB_ST_SUBSCRIBED;
    st.sub_id = s->id;
    status(es, &st);
    return;
  }
  es->st.subs_failed++;
  st.kind = TW_EVENTSUB_ST_SUB_FAILED;
  st.err = res->err;
  if (res->err == TW_ESCOPE || res->err == TW_EFORBIDDEN) {
    const char *scope = res->error && res->error->scope[0]
                            ? res->error->scope
                            : tw_eventsub_type_scope(type);
    /* Logged once: the subscription is skipped for the life of the client,
     * since asking again with the same token gets the same answer. */
    s->st = SUB_SKIPPED;
    tw_warn(MOD,
            "not subscribing to %s for #%s: the token lacks the scope %s "
            "(run `twitchd auth` with it); other subscriptions continue",
            type, login, scope ? scope : "(unknown)");
    st.scope = scope;
    status(es, &st);
    return;
  }
  s->st = SUB_WANTED;
  if (res->err == TW_ECLOSED) {
    tw_debug(MOD, "subscription to %s for #%s: session already gone", type,
             login);
    return;
  }
  tw_warn(MOD,
          "subscribing to %s for #%s failed: %s (HTTP %d%s%s); the next "
          "session retries",
          type, login, tw_strerror(res->err), res->http_status,
          res->detail && *res->detail ? ": " : "",
          res->detail ? res->detail : "");
  status(es, &st);
}

/* The session is gone: every subscription that was not refused for good is
 * wanted again, and calls still in flight are withdrawn. */
static void subs_reset(tw_eventsub_t *es) {
  for (size_t i = 0; i < es->nsubs; i++) {
    sub_t *s = &es->subs[i];
    if (s->st == SUB_PENDING && s->call)
      tw_helix_client_cancel(es->hc, s->call);
    s->call = 0;
    if (s->st == SUB_PENDING || s->st == SUB_ENABLED)
      s->st = SUB_WANTED;
    s->id[0] = '\0';
  }
}

static unsigned subs_enabled(const tw_eventsub_t *es) {
  unsigned n = 0;
  for (size_t i = 0; i < es->nsubs; i++)
    n += es->subs[i].st == SUB_ENABLED;
  return n;
}

/* ---- messages ------------------------------------------------------------ */

static void set_keepalive(tw_eventsub_t *es, int64_t ks) {
  if (es->watchdog_opt) {
    es->keepalive_ms = es->watchdog_opt;
    return;
  }
  uint64_t k = (uint64_t)(ks > 0 ? ks : 10) * 1000u;
  uint64_t margin = TW_EVENTSUB_KEEPALIVE_MARGIN_MS;
  if (margin > k / 2)
    margin = k / 2;
  es->keepalive_ms = k + margin;
}

static void on_welcome(tw_eventsub_t *es, conn_t *c,
                       const tw_eventsub_msg_t *m) {
  c->welcomed = true;
  es->st.welcomes++;
  tw_eventsub_status_t st;
  memset(&st, 0, sizeof(st));
  snprintf(es->session, sizeof(es->session), "%s", m->session.id);
  set_keepalive(es, m->session.keepalive_timeout_seconds);
  tw_backoff_success(&es->bo, tw_now_ms());
  if (c->role == ROLE_PENDING) {
    /* The reconnect target is up: it becomes the session, the old
     * connection is closed, and the subscriptions have moved with it. */
    conn_t *old = es->main;
    es->pending = NULL;
    c->role = ROLE_MAIN;
    es->main = c;
    if (old && old->ws) {
      old->role = ROLE_RETIRING;
      tw_ws_close(old->ws, TW_WS_CLOSE_NORMAL, NULL);
    }
    es->st.migrations++;
    tw_info(MOD, "moved to the reconnect session; subscriptions carried over");
    st.kind = TW_EVENTSUB_ST_MIGRATED;
    reset_watchdog(es);
    status(es, &st);
    return;
  }
  es->gen++;
  tw_info(MOD, "session welcomed (keepalive %lld s); subscribing",
          (long long)m->session.keepalive_timeout_seconds);
  tw_debug(MOD, "session id %s", m->session.id);
  reset_watchdog(es);
  st.kind = TW_EVENTSUB_ST_CONNECTED;
  status(es, &st);
  if (!es->closing && es->main == c)
    subscribe_all(es);
}

static void on_notification(tw_eventsub_t *es, const tw_eventsub_msg_t *m) {
  es->st.notifications++;
  if (seen_before(es, m->message_id)) {
    es->st.duplicates++;
    tw_debug(MOD, "duplicate notification %s dropped", m->message_id);
    return;
  }
  tw_event_t *ev = NULL;
  char err[TW_MAX_EVENTSUB_ERR];
  int rc = tw_eventsub_to_event(m, es->connector, &ev, err, sizeof(err));
  if (rc == TW_EUNSUPPORTED) {
    tw_debug(MOD, "%s", err);
    return;
  }
  if (rc) {
    es->st.bad_messages++;
    tw_warn(MOD, "notification %s (%s) not usable: %s", m->message_id,
            m->subscription.type, *err ? err : tw_strerror(rc));
    return;
  }
  es->st.events++;
  es->on_event(ev, es->ud);
}

static void on_revocation(tw_eventsub_t *es, const tw_eventsub_msg_t *m) {
  es->st.revocations++;
  const char *why = m->subscription.status ? m->subscription.status : "";
  bool final = strcmp(why, "authorization_revoked") == 0 ||
               strcmp(why, "user_removed") == 0 ||
               strcmp(why, "version_removed") == 0;
  sub_t *s = NULL;
  for (size_t i = 0; i < es->nsubs; i++)
    if (es->subs[i].id[0] && strcmp(es->subs[i].id, m->subscription.id) == 0)
      s = &es->subs[i];
  const char *login = s ? es->chans[s->chan].login : "?";
  tw_warn(MOD, "Twitch revoked the %s subscription for #%s (%s)%s",
          m->subscription.type, login, why,
          final ? "; not subscribing again" : "; the next session retries");
  if (s) {
    s->st = final ? SUB_REVOKED : SUB_WANTED;
    s->id[0] = '\0';
  }
  tw_eventsub_status_t st;
  memset(&st, 0, sizeof(st));
  st.kind = TW_EVENTSUB_ST_REVOKED;
  st.type = m->subscription.type;
  st.channel = s ? login : NULL;
  st.status = why;
  st.sub_id = m->subscription.id;
  status(es, &st);
}

static void ws_on_message(tw_ws_t *ws, const char *data, size_t len, int binary,
                          void *ud) {
  (void)ws;
  conn_t *c = ud;
  tw_eventsub_t *es = c->es;
  if (es->closing || c->role == ROLE_RETIRING)
    return;
  es->st.last_message_ms = tw_now_ms();
  if (c == es->main)
    reset_watchdog(es);
  if (binary) {
    es->st.bad_messages++;
    tw_warn(MOD, "binary message of %zu bytes ignored", len);
    return;
  }
  tw_eventsub_msg_t m;
  char err[TW_MAX_EVENTSUB_ERR];
  int rc = tw_eventsub_decode(data, len, &m, err, sizeof(err));
  if (rc) {
    es->st.bad_messages++;
    tw_warn(MOD, "message ignored: %s", *err ? err : tw_strerror(rc));
    tw_eventsub_msg_free(&m);
    return;
  }
  switch (m.type) {
  case TW_EVENTSUB_MSG_WELCOME:
    if (c->welcomed)
      tw_warn(MOD, "second welcome on one connection ignored");
    else
      on_welcome(es, c, &m);
    break;
  case TW_EVENTSUB_MSG_KEEPALIVE:
    break;
  case TW_EVENTSUB_MSG_NOTIFICATION:
    on_notification(es, &m);
    break;
  case TW_EVENTSUB_MSG_RECONNECT:
    if (c != es->main || es->pending) {
      tw_debug(MOD, "session_reconnect ignored (a switch is under way)");
      break;
    }
    tw_info(MOD, "Twitch asks to reconnect; opening the new connection");
    rc = conn_open(es, m.session.reconnect_url, ROLE_PENDING);
    if (rc)
      /* The old connection goes on until Twitch closes it (4004); then the
       * client reconnects from scratch and subscribes again. */
      tw_warn(MOD, "cannot open the reconnect URL: %s", tw_strerror(rc));
    break;
  case TW_EVENTSUB_MSG_REVOCATION:
    on_revocation(es, &m);
    break;
  default:
    tw_debug(MOD, "message type %s ignored", m.message_type);
    break;
  }
  tw_eventsub_msg_free(&m);
}

/* True while some subscription may still be created; with none left (all
 * refused for scopes or revoked for good) a session would only be closed
 * by Twitch with 4003 again and again. */
static bool anything_to_subscribe(const tw_eventsub_t *es) {
  for (size_t i = 0; i < es->nsubs; i++)
    if (es->subs[i].st != SUB_SKIPPED && es->subs[i].st != SUB_REVOKED)
      return true;
  return false;
}

/* The session is lost for good (not migrated): forget its subscriptions
 * and schedule a fresh connection. Returns the delay (0: none scheduled). */
static uint64_t session_lost(tw_eventsub_t *es) {
  uv_timer_stop(&es->watchdog);
  subs_reset(es);
  es->gen++; /* answers for the dead session are stale */
  if (!anything_to_subscribe(es)) {
    tw_error(MOD, "no subscription is left to create (missing scopes or "
                  "revoked); EventSub stops until restarted");
    return 0;
  }
  uint64_t d = 0;
  schedule_reconnect(es, &d);
  return d;
}

static void ws_on_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  (void)ws;
  conn_t *c = ud;
  tw_eventsub_t *es = c->es;
  for (conn_t **p = &es->conns; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  c->ws = NULL;
  if (es->closing) {
    free(c);
    maybe_finish(es);
    return;
  }
  const char *meaning = tw_eventsub_close_reason(info->code);
  char why[192];
  snprintf(why, sizeof(why), "%s%s%s%s%s",
           c->timed_out ? "keepalive timeout" : "", *meaning ? meaning : "",
           info->reason && *info->reason ? " (" : "",
           info->reason ? info->reason : "",
           info->reason && *info->reason ? ")" : "");
  if (c == es->pending) {
    es->pending = NULL;
    tw_warn(MOD,
            "the reconnect connection ended before its welcome: code %d "
            "%s %s; staying on the old one",
            info->code, why, info->err ? tw_strerror(info->err) : "");
    if (!es->main) {
      uint64_t d = session_lost(es);
      tw_warn(MOD, "session lost during the switch; reconnecting in %llu ms",
              (unsigned long long)d);
    }
    free(c);
    return;
  }
  if (c->role == ROLE_RETIRING || c != es->main) {
    tw_debug(MOD, "old connection closed (code %d)", info->code);
    free(c);
    return;
  }
  es->main = NULL;
  uv_timer_stop(&es->watchdog);
  tw_eventsub_status_t st;
  memset(&st, 0, sizeof(st));
  st.kind = TW_EVENTSUB_ST_DISCONNECTED;
  st.code = info->code;
  st.err = info->err;
  st.reason = why;
  if (es->pending) {
    /* Twitch closed the old socket before the new one's welcome: wait for
     * it; the subscriptions live on in the new session. */
    tw_info(MOD, "old connection closed (code %d %s) during the switch",
            info->code, why);
    reset_watchdog(es);
    free(c);
    return;
  }
  if (info->code == 4001)
    tw_error(MOD,
             "Twitch closed the session: code 4001 %s: this client never "
             "sends; a bug",
             why);
  st.retry_in_ms = session_lost(es);
  tw_warn(MOD, "session ended: code %d %s%s%s; reconnecting in %llu ms",
          info->code, why, info->err ? " " : "",
          info->err ? tw_strerror(info->err) : "",
          (unsigned long long)st.retry_in_ms);
  free(c);
  status(es, &st);
}

/* ---- public -------------------------------------------------------------- */

int tw_eventsub_start(tw_eventsub_t *es) {
  if (!es || es->started || es->closing)
    return TW_ESTATE;
  es->started = true;
  int rc = conn_open(es, es->url, ROLE_MAIN);
  if (rc) {
    uint64_t d;
    schedule_reconnect(es, &d);
    tw_warn(MOD, "cannot connect: %s; next attempt in %llu ms", tw_strerror(rc),
            (unsigned long long)d);
  }
  return rc;
}

void tw_eventsub_stats(const tw_eventsub_t *es, tw_eventsub_stats_t *out) {
  if (!es || !out)
    return;
  *out = es->st;
  out->subs_enabled = subs_enabled(es);
}

void tw_eventsub_close(tw_eventsub_t *es, void (*cb)(void *), void *ud) {
  if (!es || es->closing)
    return;
  es->closing = true;
  es->close_cb = cb;
  es->close_ud = ud;
  for (size_t i = 0; i < es->nsubs; i++)
    if (es->subs[i].call)
      tw_helix_client_cancel(es->hc, es->subs[i].call);
  for (size_t i = 0; i < es->nchans; i++)
    if (es->chans[i].resolving)
      tw_helix_client_cancel(es->hc, es->chans[i].lookup);
  for (conn_t *c = es->conns; c; c = c->next)
    if (c->ws)
      tw_ws_abort(c->ws);
  uv_close((uv_handle_t *)&es->watchdog, on_timer_closed);
  uv_close((uv_handle_t *)&es->retry, on_timer_closed);
}
