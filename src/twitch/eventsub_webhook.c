/* The EventSub webhook receiver and subscriber; behaviour documented in
 * twitchd/eventsub_webhook.h and twitchd/eventsub_webhook_client.h. */
#include "twitchd/eventsub_webhook_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitch/eventsub_plan.h"
#include "twitchd/eventsub_events.h"
#include "twitchd/log.h"

#define MOD "eventsub-webhook"

typedef enum {
  SUB_WANTED = 0, /* not created yet */
  SUB_PENDING,    /* Create EventSub Subscription in flight */
  SUB_CREATED,    /* Helix accepted it; waiting for the challenge */
  SUB_ENABLED,    /* the challenge was answered */
  SUB_FAILED,     /* Helix refused it (not retried by this client) */
  SUB_REVOKED     /* revoked by Twitch */
} sub_state_t;

typedef struct wsub {
  tw_eventsub_webhook_t *wh;
  size_t chan, type;
  sub_state_t st;
  uint64_t call;
  char id[TW_MAX_EVENTSUB_ID + 1];
} wsub_t;

typedef struct wchan {
  tw_eventsub_webhook_t *wh;
  char *login;
  char id[TW_MAX_HELIX_ID + 1];
  uint64_t lookup;
  bool resolving;
} wchan_t;

/* A remembered message id and when it was first accepted (tw_now_ms). */
typedef struct {
  char *id;
  uint64_t hash;
  uint64_t at_ms;
} seen_t;

struct tw_eventsub_webhook {
  uv_loop_t *loop;
  tw_helix_client_t *hc;
  char *path, *callback, *secret, *connector, *moderator;
  wchan_t *chans;
  size_t nchans;
  tw_eventsub_type_t *types;
  size_t ntypes;
  wsub_t *subs;
  size_t nsubs;
  /* Dedupe ring, oldest at seen_next once full. */
  seen_t seen[TW_EVENTSUB_WEBHOOK_DEDUPE];
  size_t seen_next, seen_count;
  uint64_t (*wall_ms)(void *ud);
  void (*on_event)(tw_event_t *ev, void *ud);
  void (*on_status)(const tw_eventsub_status_t *st, void *ud);
  void *ud;
  bool started, closing;
  uv_timer_t closer; /* defers the close callback to the loop */
  void (*close_cb)(void *);
  void *close_ud;
  tw_eventsub_webhook_stats_t st;
};

static void report(tw_eventsub_webhook_t *wh, const tw_eventsub_status_t *s) {
  if (wh->on_status && !wh->closing)
    wh->on_status(s, wh->ud);
}

static uint64_t hash_id(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* ---- lifetime ------------------------------------------------------------ */

static void free_all(tw_eventsub_webhook_t *wh) {
  for (size_t i = 0; i < wh->nchans; i++)
    free(wh->chans[i].login);
  tw__eventsub_plan_types_free(wh->types, wh->ntypes);
  for (size_t i = 0; i < TW_EVENTSUB_WEBHOOK_DEDUPE; i++)
    free(wh->seen[i].id);
  free(wh->chans);
  free(wh->types);
  free(wh->subs);
  free(wh->path);
  free(wh->callback);
  if (wh->secret) {
    /* The secret stays registered with the logger: a line logged later
     * (by another module quoting a Helix body, say) is still redacted. */
    OPENSSL_cleanse(wh->secret, strlen(wh->secret));
    free(wh->secret);
  }
  free(wh->connector);
  free(wh->moderator);
  free(wh);
}

static bool secret_ok(const char *s) {
  size_t n = strlen(s);
  if (n < TW_EVENTSUB_WEBHOOK_SECRET_MIN || n > TW_EVENTSUB_WEBHOOK_SECRET_MAX)
    return false;
  for (const char *p = s; *p; p++)
    if (*p <= ' ' || *p > '~')
      return false;
  return true;
}

/* TW_EVENTSUB_WEBHOOK_SECRET_LEN characters of [A-Za-z0-9] from the CSPRNG;
 * rejection sampling keeps them uniform. */
static char *new_secret(void) {
  static const char al[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  char *s = malloc(TW_EVENTSUB_WEBHOOK_SECRET_LEN + 1);
  if (!s)
    return NULL;
  size_t n = 0;
  while (n < TW_EVENTSUB_WEBHOOK_SECRET_LEN) {
    unsigned char r[64];
    if (RAND_bytes(r, sizeof(r)) != 1) {
      free(s);
      return NULL;
    }
    for (size_t i = 0; i < sizeof(r) && n < TW_EVENTSUB_WEBHOOK_SECRET_LEN; i++)
      if (r[i] < 248) /* 248 = 4 * 62 */
        s[n++] = al[r[i] % 62];
  }
  s[n] = '\0';
  return s;
}

int tw_eventsub_webhook_new(uv_loop_t *loop, tw_helix_client_t *hc,
                            const tw_eventsub_webhook_opts_t *o,
                            tw_eventsub_webhook_t **out) {
  if (out)
    *out = NULL;
  if (!loop || !hc || !o || !out || !o->on_event || !o->callback_base ||
      !*o->callback_base || !o->channels || o->nchannels == 0 ||
      o->nchannels > TW_MAX_EVENTSUB_CHANNELS ||
      o->ntypes > TW_MAX_EVENTSUB_TYPES || (o->types == NULL && o->ntypes))
    return TW_EINVAL;
  const char *path = o->path ? o->path : TW_EVENTSUB_WEBHOOK_DEFAULT_PATH;
  if (path[0] != '/' || strchr(path, '?') || strchr(path, '#'))
    return TW_EINVAL;
  if (o->secret && !secret_ok(o->secret))
    return TW_EINVAL;
  size_t ntypes;
  const tw_eventsub_type_t *types =
      tw__eventsub_plan_types(o->types, o->ntypes, &ntypes);
  if (tw__eventsub_plan_check(o->channels, o->nchannels, types, ntypes) != 0)
    return TW_EINVAL;
  /* A trailing '/' on the base is dropped so that base + path has one. */
  size_t bl = strlen(o->callback_base);
  while (bl && o->callback_base[bl - 1] == '/')
    bl--;
  if (bl + strlen(path) > TW_MAX_EVENTSUB_WEBHOOK_URL)
    return TW_EINVAL;

  tw_eventsub_webhook_t *wh = calloc(1, sizeof(*wh));
  if (!wh)
    return TW_ENOMEM;
  wh->loop = loop;
  wh->hc = hc;
  wh->wall_ms = o->wall_ms;
  wh->on_event = o->on_event;
  wh->on_status = o->on_status;
  wh->ud = o->ud;
  int rc = TW_ENOMEM;
  size_t cl = bl + strlen(path) + 1;
  if (!(wh->path = strdup(path)) || !(wh->callback = malloc(cl)))
    goto fail;
  snprintf(wh->callback, cl, "%.*s%s", (int)bl, o->callback_base, path);
  if (!(wh->connector = strdup(o->connector ? o->connector : "twitch")))
    goto fail;
  if (o->moderator_user_id && !(wh->moderator = strdup(o->moderator_user_id)))
    goto fail;
  if (o->secret) {
    if (!(wh->secret = strdup(o->secret)))
      goto fail;
  } else if (!(wh->secret = new_secret())) {
    rc = TW_EIO;
    goto fail;
  }
  if ((rc = tw_log_add_secret(wh->secret)) != 0) {
    tw_error(MOD, "cannot register the webhook secret for redaction: %s",
             tw_strerror(rc));
    goto fail;
  }
  rc = TW_ENOMEM;
  wh->chans = calloc(o->nchannels, sizeof(*wh->chans));
  wh->types = calloc(ntypes, sizeof(*wh->types));
  wh->subs = calloc(o->nchannels * ntypes, sizeof(*wh->subs));
  if (!wh->chans || !wh->types || !wh->subs)
    goto fail;
  for (size_t i = 0; i < o->nchannels; i++) {
    wh->chans[i].wh = wh;
    if (!(wh->chans[i].login = tw__eventsub_plan_login(o->channels[i])))
      goto fail;
    wh->nchans++;
  }
  if (tw__eventsub_plan_types_copy(types, ntypes, wh->types, &wh->ntypes))
    goto fail;
  for (size_t c = 0; c < wh->nchans; c++)
    for (size_t t = 0; t < wh->ntypes; t++) {
      wsub_t *s = &wh->subs[wh->nsubs++];
      s->wh = wh;
      s->chan = c;
      s->type = t;
    }
  uv_timer_init(loop, &wh->closer);
  wh->closer.data = wh;
  *out = wh;
  return 0;
fail:
  free_all(wh);
  return rc;
}

/* ---- subscribing --------------------------------------------------------- */

static void on_created(tw_helix_client_t *hc, const tw_helix_result_t *res,
                       void *arg);

static void create_sub(tw_eventsub_webhook_t *wh, wsub_t *s) {
  wchan_t *ch = &wh->chans[s->chan];
  const tw_eventsub_type_t *ty = &wh->types[s->type];
  /* With an app token there is no token user: the moderator is the one
   * configured, else the broadcaster (who must have authorised the app
   * with moderator:read:followers). */
  tw_helix_kv_t cond[2];
  size_t nc =
      tw__eventsub_plan_condition(ty->type, ch->id, wh->moderator, cond);
  tw_helix_sub_spec_t spec;
  memset(&spec, 0, sizeof(spec));
  spec.type = ty->type;
  spec.version = ty->version;
  spec.condition = cond;
  spec.ncondition = nc;
  spec.method = TW_HELIX_TRANSPORT_WEBHOOK;
  spec.callback = wh->callback;
  spec.secret = wh->secret;
  int rc = tw_helix_eventsub_create(wh->hc, &spec, on_created, s, &s->call);
  if (rc) {
    s->st = SUB_FAILED;
    s->call = 0;
    wh->st.subs_failed++;
    tw_warn(MOD, "cannot subscribe to %s for #%s: %s", ty->type, ch->login,
            tw_strerror(rc));
    tw_eventsub_status_t st;
    memset(&st, 0, sizeof(st));
    st.kind = TW_EVENTSUB_ST_SUB_FAILED;
    st.type = ty->type;
    st.channel = ch->login;
    st.err = rc;
    report(wh, &st);
    return;
  }
  s->st = SUB_PENDING;
}

static void on_lookup(tw_helix_client_t *hc, int err, const char *id,
                      const char *login, const tw_helix_result_t *res,
                      void *arg) {
  (void)hc;
  (void)login;
  (void)res;
  wchan_t *ch = arg;
  tw_eventsub_webhook_t *wh = ch->wh;
  ch->resolving = false;
  ch->lookup = 0;
  if (err || !id || strlen(id) > TW_MAX_HELIX_ID) {
    tw_warn(MOD, "cannot resolve #%s to a user id: %s; not subscribing",
            ch->login, err ? tw_strerror(err) : "bad id");
    tw_eventsub_status_t st;
    memset(&st, 0, sizeof(st));
    st.kind = TW_EVENTSUB_ST_SUB_FAILED;
    st.channel = ch->login;
    st.err = err ? err : TW_EPARSE;
    report(wh, &st);
    return;
  }
  memcpy(ch->id, id, strlen(id) + 1);
  size_t ci = (size_t)(ch - wh->chans);
  for (size_t i = 0; i < wh->nsubs && !wh->closing; i++)
    if (wh->subs[i].chan == ci && wh->subs[i].st == SUB_WANTED)
      create_sub(wh, &wh->subs[i]);
}

int tw_eventsub_webhook_start(tw_eventsub_webhook_t *wh) {
  if (!wh || wh->started || wh->closing)
    return TW_ESTATE;
  wh->started = true;
  tw_info(MOD, "subscribing with callback %s", wh->callback);
  for (size_t ci = 0; ci < wh->nchans && !wh->closing; ci++) {
    wchan_t *ch = &wh->chans[ci];
    int rc = tw_helix_lookup_user(wh->hc, ch->login, NULL, on_lookup, ch,
                                  &ch->lookup);
    if (rc)
      tw_warn(MOD, "cannot look up #%s: %s", ch->login, tw_strerror(rc));
    else
      ch->resolving = true;
  }
  return 0;
}

static void on_created(tw_helix_client_t *hc, const tw_helix_result_t *res,
                       void *arg) {
  (void)hc;
  wsub_t *s = arg;
  tw_eventsub_webhook_t *wh = s->wh;
  const char *type = wh->types[s->type].type;
  const char *login = wh->chans[s->chan].login;
  s->call = 0;
  tw_eventsub_status_t st;
  memset(&st, 0, sizeof(st));
  st.type = type;
  st.channel = login;
  if (res->err == 0) {
    /* The challenge may have come before this answer: keep ENABLED. */
    if (s->st != SUB_ENABLED)
      s->st = SUB_CREATED;
    if (res->subs && res->subs->n && res->subs->v[0].id &&
        strlen(res->subs->v[0].id) <= TW_MAX_EVENTSUB_ID)
      memcpy(s->id, res->subs->v[0].id, strlen(res->subs->v[0].id) + 1);
    wh->st.subs_created++;
    tw_info(MOD, "subscribed to %s for #%s (awaiting verification)", type,
            login);
    st.kind = TW_EVENTSUB_ST_SUBSCRIBED;
    st.sub_id = s->id;
    report(wh, &st);
    return;
  }
  s->st = SUB_FAILED;
  wh->st.subs_failed++;
  st.kind = TW_EVENTSUB_ST_SUB_FAILED;
  st.err = res->err;
  if (res->err == TW_EEXIST) {
    /* Made by an earlier run. It works only if that run used the same
     * secret: with a generated secret its messages will be refused 403. */
    tw_warn(MOD,
            "a %s subscription for #%s with this callback already exists; "
            "it keeps the secret it was created with (configure a fixed "
            "secret, or delete it)",
            type, login);
  } else if (res->err == TW_ESCOPE || res->err == TW_EFORBIDDEN) {
    const char *scope = res->error && res->error->scope[0]
                            ? res->error->scope
                            : tw_eventsub_type_scope(type);
    tw_warn(MOD,
            "not subscribing to %s for #%s: the broadcaster (or moderator) "
            "has not authorised this app with %s",
            type, login, scope ? scope : "(unknown scope)");
    st.scope = scope;
  } else {
    tw_warn(MOD, "subscribing to %s for #%s failed: %s (HTTP %d%s%s)", type,
            login, tw_strerror(res->err), res->http_status,
            res->detail && *res->detail ? ": " : "",
            res->detail ? res->detail : "");
  }
  report(wh, &st);
}

/* The subscription a message is about: by id, else by type and the
 * broadcaster of its condition (a challenge can precede Helix's answer). */
static wsub_t *find_sub(tw_eventsub_webhook_t *wh, const tw_eventsub_msg_t *m) {
  const char *id = m->subscription.id;
  for (size_t i = 0; id && i < wh->nsubs; i++)
    if (wh->subs[i].id[0] && strcmp(wh->subs[i].id, id) == 0)
      return &wh->subs[i];
  const char *type = m->subscription.type;
  if (!type || !m->subscription.condition)
    return NULL;
  const char *b = tw_eventsub_condition(m, tw__eventsub_plan_channel_key(type));
  for (size_t i = 0; b && i < wh->nsubs; i++) {
    wsub_t *s = &wh->subs[i];
    if (strcmp(wh->types[s->type].type, type) == 0 &&
        strcmp(wh->chans[s->chan].id, b) == 0)
      return s;
  }
  return NULL;
}

/* ---- requests ------------------------------------------------------------ */

static void answer(tw_eventsub_webhook_response_t *r, int status,
                   const char *text, size_t len) {
  r->status = status;
  r->content_type = "text/plain";
  if (len > TW_MAX_EVENTSUB_WEBHOOK_RESPONSE)
    len = TW_MAX_EVENTSUB_WEBHOOK_RESPONSE;
  if (len)
    memcpy(r->body, text, len);
  r->body[len] = '\0';
  r->body_len = len;
}

/* Dedupe. Returns 1 when `id` was seen, 0 when it is new (and remembered),
 * -1 when the ring is full of ids younger than the keep time. */
static int seen_before(tw_eventsub_webhook_t *wh, const char *id,
                       uint64_t now) {
  uint64_t h = hash_id(id);
  for (size_t i = 0; i < TW_EVENTSUB_WEBHOOK_DEDUPE; i++)
    if (wh->seen[i].id && wh->seen[i].hash == h &&
        strcmp(wh->seen[i].id, id) == 0)
      return 1;
  seen_t *slot = &wh->seen[wh->seen_next];
  if (slot->id && now - slot->at_ms < TW_EVENTSUB_WEBHOOK_DEDUPE_KEEP_MS)
    return -1;
  char *copy = strdup(id);
  if (!copy)
    return -1;
  free(slot->id);
  slot->id = copy;
  slot->hash = h;
  slot->at_ms = now;
  wh->seen_next = (wh->seen_next + 1) % TW_EVENTSUB_WEBHOOK_DEDUPE;
  return 0;
}

static void on_notification(tw_eventsub_webhook_t *wh,
                            const tw_eventsub_msg_t *m,
                            tw_eventsub_webhook_response_t *resp) {
  wh->st.notifications++;
  int seen = seen_before(wh, m->message_id, tw_now_ms());
  if (seen == 1) {
    wh->st.duplicates++;
    tw_debug(MOD, "duplicate notification %s acknowledged", m->message_id);
    answer(resp, 204, "", 0);
    return;
  }
  if (seen < 0) {
    /* Cannot promise not to process it twice later: let Twitch retry. */
    wh->st.refused++;
    tw_warn(MOD, "dedupe memory full; notification %s deferred", m->message_id);
    answer(resp, 503, "busy", 4);
    return;
  }
  /* A notification proves the subscription verified, even if this process
   * did not see its challenge (an earlier run answered it). */
  wsub_t *s = find_sub(wh, m);
  if (s && s->st != SUB_REVOKED)
    s->st = SUB_ENABLED;
  answer(resp, 204, "", 0);
  tw_event_t *ev = NULL;
  char err[TW_MAX_EVENTSUB_ERR];
  err[0] = '\0';
  int rc = tw_eventsub_to_event(m, wh->connector, &ev, err, sizeof(err));
  if (rc == TW_EUNSUPPORTED) {
    tw_debug(MOD, "%s", err);
    return;
  }
  if (rc) {
    /* Acknowledged anyway: a retry would carry the same unusable event. */
    tw_warn(MOD, "notification %s (%s) not usable: %s", m->message_id,
            m->subscription.type, *err ? err : tw_strerror(rc));
    return;
  }
  wh->st.events++;
  wh->on_event(ev, wh->ud);
}

static void on_revocation(tw_eventsub_webhook_t *wh,
                          const tw_eventsub_msg_t *m) {
  wh->st.revocations++;
  const char *why = m->subscription.status ? m->subscription.status : "";
  bool final = strcmp(why, "authorization_revoked") == 0 ||
               strcmp(why, "user_removed") == 0 ||
               strcmp(why, "version_removed") == 0;
  wsub_t *s = find_sub(wh, m);
  const char *login = s ? wh->chans[s->chan].login : "?";
  tw_warn(MOD, "Twitch revoked the %s subscription for #%s (%s)%s",
          m->subscription.type, login, why,
          final ? "; not subscribing again"
                : "; the next start of twitchd subscribes again");
  if (s) {
    s->st = SUB_REVOKED;
    s->id[0] = '\0';
  }
  tw_eventsub_status_t st;
  memset(&st, 0, sizeof(st));
  st.kind = TW_EVENTSUB_ST_REVOKED;
  st.type = m->subscription.type;
  st.channel = s ? login : NULL;
  st.status = why;
  st.sub_id = m->subscription.id;
  report(wh, &st);
}

static bool path_is(const char *url, const char *path) {
  size_t n = strlen(path);
  return strncmp(url, path, n) == 0 && (url[n] == '\0' || url[n] == '?');
}

int tw_eventsub_webhook_handle(tw_eventsub_webhook_t *wh, const char *method,
                               const char *path,
                               tw_eventsub_webhook_header_fn hdr, void *hctx,
                               const char *body, size_t len,
                               tw_eventsub_webhook_response_t *resp) {
  if (!resp)
    return TW_EINVAL;
  memset(resp, 0, sizeof(*resp));
  if (!wh || !method || !path || !hdr || (!body && len)) {
    answer(resp, 500, "bad call", 8);
    return resp->status;
  }
  if (wh->closing) {
    answer(resp, 503, "closing", 7);
    return resp->status;
  }
  wh->st.requests++;
  if (!path_is(path, wh->path)) {
    wh->st.refused++;
    answer(resp, 404, "not found", 9);
    return resp->status;
  }
  if (strcmp(method, "POST") != 0) {
    wh->st.refused++;
    answer(resp, 405, "POST only", 9);
    return resp->status;
  }
  tw_eventsub_webhook_headers_t h = {hdr(hctx, TW_EVENTSUB_HDR_MESSAGE_ID),
                                     hdr(hctx, TW_EVENTSUB_HDR_MESSAGE_RETRY),
                                     hdr(hctx, TW_EVENTSUB_HDR_MESSAGE_TYPE),
                                     hdr(hctx, TW_EVENTSUB_HDR_SIGNATURE),
                                     hdr(hctx, TW_EVENTSUB_HDR_TIMESTAMP),
                                     hdr(hctx, TW_EVENTSUB_HDR_SUB_TYPE),
                                     hdr(hctx, TW_EVENTSUB_HDR_SUB_VERSION)};
  uint64_t wall = wh->wall_ms ? wh->wall_ms(wh->ud) : tw_wall_ms();
  tw_eventsub_wh_verdict_t v;
  tw_eventsub_webhook_verify(&h, body, len, wh->secret, (int64_t)wall, &v);
  switch (v.kind) {
  case TW_EVENTSUB_WH_REFUSE:
    wh->st.refused++;
    if (v.status == 403 && strstr(v.reason, "signature"))
      wh->st.bad_signature++;
    else if (v.status == 403)
      wh->st.stale++;
    /* The reason never quotes the secret or signature; the message id is
     * not secret either. */
    tw_warn(MOD, "refused a request (HTTP %d): %s", v.status, v.reason);
    answer(resp, v.status, v.reason, strlen(v.reason));
    break;
  case TW_EVENTSUB_WH_CHALLENGE: {
    wh->st.challenges++;
    wsub_t *s = find_sub(wh, &v.msg);
    if (s && s->st != SUB_REVOKED) {
      s->st = SUB_ENABLED;
      if (!s->id[0] && strlen(v.msg.subscription.id) <= TW_MAX_EVENTSUB_ID)
        memcpy(s->id, v.msg.subscription.id, strlen(v.msg.subscription.id) + 1);
    }
    tw_info(MOD, "answered the verification of %s subscription %s%s",
            v.msg.subscription.type, v.msg.subscription.id,
            s ? "" : " (not one this process asked for)");
    answer(resp, 200, v.challenge, v.challenge_len);
    break;
  }
  case TW_EVENTSUB_WH_NOTIFICATION:
    on_notification(wh, &v.msg, resp);
    break;
  case TW_EVENTSUB_WH_REVOCATION:
    on_revocation(wh, &v.msg);
    answer(resp, 204, "", 0);
    break;
  }
  tw_eventsub_webhook_verdict_free(&v);
  return resp->status;
}

const char *tw_eventsub_webhook_mhd_header(void *ctx, const char *name) {
  return ctx ? MHD_lookup_connection_value((struct MHD_Connection *)ctx,
                                           MHD_HEADER_KIND, name)
             : NULL;
}

const char *tw_eventsub_webhook_path(const tw_eventsub_webhook_t *wh) {
  return wh ? wh->path : NULL;
}

const char *tw_eventsub_webhook_callback(const tw_eventsub_webhook_t *wh) {
  return wh ? wh->callback : NULL;
}

void tw_eventsub_webhook_stats(const tw_eventsub_webhook_t *wh,
                               tw_eventsub_webhook_stats_t *out) {
  if (!wh || !out)
    return;
  *out = wh->st;
  out->subs_enabled = 0;
  for (size_t i = 0; i < wh->nsubs; i++)
    out->subs_enabled += wh->subs[i].st == SUB_ENABLED;
}

static void on_closer_closed(uv_handle_t *h) {
  tw_eventsub_webhook_t *wh = h->data;
  void (*cb)(void *) = wh->close_cb;
  void *ud = wh->close_ud;
  free_all(wh);
  if (cb)
    cb(ud);
}

void tw_eventsub_webhook_close(tw_eventsub_webhook_t *wh, void (*cb)(void *),
                               void *ud) {
  if (!wh || wh->closing)
    return;
  wh->closing = true;
  wh->close_cb = cb;
  wh->close_ud = ud;
  for (size_t i = 0; i < wh->nsubs; i++)
    if (wh->subs[i].call)
      tw_helix_client_cancel(wh->hc, wh->subs[i].call);
  for (size_t i = 0; i < wh->nchans; i++)
    if (wh->chans[i].resolving)
      tw_helix_client_cancel(wh->hc, wh->chans[i].lookup);
  uv_close((uv_handle_t *)&wh->closer, on_closer_closed);
}
