/* The simulator's API side (see sim_api.h): request plumbing shared with
 * Helix (parameters, answers, forced responses, read-back) and the OAuth
 * endpoints of id.twitch.tv (docs/twitch-protocol.md section 1):
 * /oauth2/authorize, /oauth2/token (authorization_code, refresh_token,
 * client_credentials, device_code), /oauth2/device, /oauth2/validate,
 * /oauth2/revoke, plus /activate, where a person "opens" a device code's
 * verification_uri.
 *
 * Error bodies under /oauth2 are {"status":N,"message":"..."} with the
 * messages the protocol document quotes; where it quotes none, the text
 * chosen here is listed in docs/simulator.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/http_util.h"
#include "sim/sim_api_int.h"
#include "twitchd/error.h"

#define ALNUM_LOWER "abcdefghijklmnopqrstuvwxyz0123456789"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define UPPER "ABCDEFGHJKLMNPQRSTUVWXYZ"
/* Lengths of what the simulator makes up, as Twitch's look. */
#define ACCESS_LEN 30
#define REFRESH_LEN 50
#define CODE_LEN 30
#define DEVICE_LEN 40
#define USER_CODE_LEN 8

#define DEF_USER_TTL_MS (14400ull * 1000ull)
#define DEF_APP_TTL_MS (5011271ull * 1000ull)
#define DEF_CODE_TTL_MS (10u * 60u * 1000u)
#define DEF_DEVICE_TTL_MS (1800u * 1000u)
#define DEF_DEVICE_INTERVAL_MS 5000u
#define DEF_RATELIMIT 800u
#define DEF_CLIP_DELAY_MS 200u

typedef struct {
  char id[TW_SIM_MAX_CLIENT_ID + 1];
  char *secret; /* NULL: public */
  char *redir[TW_SIM_MAX_REDIRECTS];
  size_t nredir;
} client_t;

typedef struct {
  char client_id[TW_SIM_MAX_CLIENT_ID + 1];
  char login[TW_SIM_MAX_LOGIN + 1];
  char *redirect_uri;
  tw_scopes_t scopes;
  uint64_t expires_at;
} code_t;

enum { DEV_PENDING, DEV_APPROVED, DEV_DENIED };

typedef struct {
  char device_code[DEVICE_LEN + 1];
  char user_code[USER_CODE_LEN + 1];
  char client_id[TW_SIM_MAX_CLIENT_ID + 1];
  char login[TW_SIM_MAX_LOGIN + 1];
  tw_scopes_t scopes;
  uint64_t expires_at;
  uint64_t last_poll;
  uint32_t polls;
  int state;
} device_t;

typedef struct {
  char client_id[TW_SIM_MAX_CLIENT_ID + 1];
  char login[TW_SIM_MAX_LOGIN + 1];
  tw_scopes_t scopes;
} refresh_t;

typedef struct {
  double points;
  uint64_t at;
} bucket_t;

typedef struct {
  tw_sim_api_req_t v;
  char *names[TW_SIM_MAX_API_HEADERS];
  char *vals[TW_SIM_MAX_API_HEADERS];
  size_t bytes;
} rec_t;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rng_next(tw_simapi_t *api) {
  /* splitmix64, as the chat core: reproducible from the seed. */
  uint64_t z = (api->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void tw__simapi_rand(tw_simapi_t *api, char *out, size_t n,
                     const char *alphabet) {
  size_t k = strlen(alphabet);
  for (size_t i = 0; i < n; i++)
    out[i] = alphabet[rng_next(api) % k];
  out[n] = '\0';
}

uint64_t tw__simapi_wall(const tw_simapi_t *api, uint64_t now) {
  return (uint64_t)((int64_t)now + api->wall_offset);
}

void tw__simapi_rfc3339(uint64_t unix_ms, char out[32]) {
  time_t t = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *tw__simapi_reason(unsigned status) {
  switch (status) {
  case 200:
    return "OK";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 302:
    return "Found";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 413:
    return "Payload Too Large";
  case 422:
    return "Unprocessable Entity";
  case 425:
    return "Too Early";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

void tw__simapi_header(tw_simapi_resp_t *r, const char *name, const char *fmt,
                       ...) {
  if (r->nh >= TW_SIMAPI_MAX_RESP_HEADERS)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *v = n < 0 ? NULL : malloc((size_t)n + 1);
  if (!v)
    return;
  va_start(ap, fmt);
  vsnprintf(v, (size_t)n + 1, fmt, ap);
  va_end(ap);
  snprintf(r->hname[r->nh], sizeof(r->hname[r->nh]), "%s", name);
  r->hval[r->nh++] = v;
}

void tw__simapi_json(tw_simapi_resp_t *r, unsigned status, json_t *o) {
  r->status = status;
  r->body.len = 0;
  if (!o)
    return;
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!s || tw_buf_append(&r->body, s, strlen(s)) != 0) {
    /* Out of memory: an empty 500 rather than half a body. */
    r->status = 500;
    r->body.len = 0;
  }
  free(s);
}

static void oauth_err(tw_simapi_resp_t *r, unsigned status,
                      const char *message) {
  json_t *o = json_object();
  json_object_set_new(o, "status", json_integer(status));
  json_object_set_new(o, "message", json_string(message));
  tw__simapi_json(r, status, o);
}

void tw__simapi_helix_err(tw_simapi_resp_t *r, unsigned status,
                          const char *message) {
  json_t *o = json_object();
  json_object_set_new(o, "error", json_string(tw__simapi_reason(status)));
  json_object_set_new(o, "status", json_integer(status));
  json_object_set_new(o, "message", json_string(message));
  tw__simapi_json(r, status, o);
}

void tw__simapi_resp_free(tw_simapi_resp_t *r) {
  tw_buf_free(&r->body);
  for (size_t i = 0; i < r->nh; i++)
    free(r->hval[i]);
  r->nh = 0;
}

/* ---- parameters --------------------------------------------------------- */

static void params_free(tw_simapi_params_t *p) {
  for (size_t i = 0; i < p->n; i++) {
    tw__free_secret(p->k[i]);
    tw__free_secret(p->v[i]);
  }
  p->n = 0;
}

/* Adds the pairs of an application/x-www-form-urlencoded string (a query
 * string has the same shape). */
static void params_parse(tw_simapi_params_t *p, const char *s, size_t len) {
  size_t i = 0;
  while (s && i < len) {
    const char *amp = memchr(s + i, '&', len - i);
    size_t end = amp ? (size_t)(amp - s) : len;
    if (end > i) {
      const char *eq = memchr(s + i, '=', end - i);
      size_t klen = eq ? (size_t)(eq - (s + i)) : end - i;
      const char *vp = eq ? eq + 1 : s + end;
      size_t vlen = eq ? (size_t)(s + end - vp) : 0;
      char *k = NULL, *v = NULL;
      if (p->n >= TW_SIM_MAX_API_PARAMS ||
          tw__url_decode(s + i, klen, true, &k) != 0 ||
          tw__url_decode(vp, vlen, true, &v) != 0) {
        free(k);
        p->bad = 1;
        return;
      }
      p->k[p->n] = k;
      p->v[p->n++] = v;
    }
    i = end + 1;
  }
}

const char *tw__simapi_param(const tw_simapi_params_t *p, const char *key) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->k[i], key) == 0)
      return p->v[i];
  return NULL;
}

const char *tw__simapi_req_header(const tw_simapi_req_t *req,
                                  const char *name) {
  for (size_t i = 0; i < req->nh; i++)
    if (req->hname[i] && strcasecmp(req->hname[i], name) == 0)
      return req->hval[i] ? req->hval[i] : "";
  return NULL;
}

/* ---- lifetime ----------------------------------------------------------- */

static void client_free(client_t *c) {
  if (!c)
    return;
  free(c->secret);
  for (size_t i = 0; i < c->nredir; i++)
    free(c->redir[i]);
  free(c);
}

static void code_free(code_t *c) {
  if (!c)
    return;
  free(c->redirect_uri);
  tw_scopes_free(&c->scopes);
  free(c);
}

static void device_free(device_t *d) {
  if (!d)
    return;
  tw_scopes_free(&d->scopes);
  free(d);
}

static void refresh_free(refresh_t *r) {
  if (!r)
    return;
  tw_scopes_free(&r->scopes);
  free(r);
}

static void rec_free(rec_t *r) {
  if (!r)
    return;
  free((char *)r->v.method);
  free((char *)r->v.path);
  free((char *)r->v.query);
  free((char *)r->v.body);
  for (size_t i = 0; i < r->v.nheaders; i++) {
    free(r->names[i]);
    free(r->vals[i]);
  }
  free(r);
}

static void each_client(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  client_free(v);
}
static void each_code(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  code_free(v);
}
static void each_device(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  device_free(v);
}
static void each_refresh(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  refresh_free(v);
}
static void each_free(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  free(v);
}

int tw__simapi_new(tw_simchat_t *core, const tw_sim_api_opts_t *opts,
                   uint64_t seed, int64_t wall_offset_ms, tw_simapi_t **out) {
  *out = NULL;
  tw_simapi_t *api = calloc(1, sizeof(*api));
  if (!api)
    return TW_ENOMEM;
  api->core = core;
  if (opts)
    api->o = *opts;
  api->o.consent_login = NULL;
  if (!api->o.user_token_ttl_ms)
    api->o.user_token_ttl_ms = DEF_USER_TTL_MS;
  if (!api->o.app_token_ttl_ms)
    api->o.app_token_ttl_ms = DEF_APP_TTL_MS;
  if (!api->o.code_ttl_ms)
    api->o.code_ttl_ms = DEF_CODE_TTL_MS;
  if (!api->o.device_ttl_ms)
    api->o.device_ttl_ms = DEF_DEVICE_TTL_MS;
  if (!api->o.device_interval_ms)
    api->o.device_interval_ms = DEF_DEVICE_INTERVAL_MS;
  if (!api->o.ratelimit_points)
    api->o.ratelimit_points = DEF_RATELIMIT;
  if (!api->o.clip_delay_ms)
    api->o.clip_delay_ms = DEF_CLIP_DELAY_MS;
  else if (api->o.clip_delay_ms == TW_SIM_OFF)
    api->o.clip_delay_ms = 0;
  api->rng = seed ^ 0x5851f42d4c957f2dull;
  api->wall_offset = wall_offset_ms;
  const char *consent = opts && opts->consent_login
                            ? opts->consent_login
                            : TW_SIM_DEFAULT_CONSENT_LOGIN;
  if (!tw__sim_valid_login(consent, strlen(consent))) {
    free(api);
    return TW_EINVAL;
  }
  snprintf(api->consent, sizeof(api->consent), "%s", consent);
  tw__simmap_init(&api->clients);
  tw__simmap_init(&api->codes);
  tw__simmap_init(&api->devices);
  tw__simmap_init(&api->refresh);
  tw__simmap_init(&api->buckets);
  tw__simmap_init(&api->channels);
  tw__simmap_init(&api->lastmsg);
  tw__simmap_init(&api->bans);
  tw__simmap_init(&api->clips);
  tw__simmap_init(&api->subs);
  snprintf(api->base, sizeof(api->base), "https://127.0.0.1");
  tw_sim_client_t def = {TW_SIM_DEFAULT_CLIENT_ID, TW_SIM_DEFAULT_CLIENT_SECRET,
                         NULL, 0};
  int rc = tw__simapi_add_client(api, &def);
  if (rc != 0) {
    tw__simapi_free(api);
    return rc;
  }
  tw__simchat_set_ban_check(core, tw__simhelix_ban_check, api);
  *out = api;
  return 0;
}

void tw__simapi_free(tw_simapi_t *api) {
  if (!api)
    return;
  tw__simchat_set_ban_check(api->core, NULL, NULL);
  tw__simmap_each(&api->clients, each_client, NULL);
  tw__simmap_free(&api->clients);
  tw__simmap_each(&api->codes, each_code, NULL);
  tw__simmap_free(&api->codes);
  tw__simmap_each(&api->devices, each_device, NULL);
  tw__simmap_free(&api->devices);
  tw__simmap_each(&api->refresh, each_refresh, NULL);
  tw__simmap_free(&api->refresh);
  tw__simmap_each(&api->buckets, each_free, NULL);
  tw__simmap_free(&api->buckets);
  tw__simhelix_free(api);
  tw__simapi_force_clear(api);
  if (api->rec) {
    for (size_t i = 0; i < api->rec_n; i++)
      rec_free(api->rec[(api->rec_head + i) % TW_SIM_MAX_API_RECORD]);
    free(api->rec);
  }
  free(api);
}

void tw__simapi_set_base(tw_simapi_t *api, const char *base) {
  snprintf(api->base, sizeof(api->base), "%s", base);
}

void tw__simapi_set_observer(tw_simapi_t *api, tw_sim_event_cb cb, void *ud) {
  api->obs = cb;
  api->obs_ud = ud;
}

/* ---- control ------------------------------------------------------------ */

static int visible(const char *s, size_t max) {
  return s && tw__is_visible_ascii(s, max);
}

int tw__simapi_add_client(tw_simapi_t *api, const tw_sim_client_t *in) {
  if (!in || !visible(in->client_id, TW_SIM_MAX_CLIENT_ID) ||
      (in->client_secret &&
       !visible(in->client_secret, TW_SIM_MAX_CLIENT_SECRET)) ||
      in->nredirect_uris > TW_SIM_MAX_REDIRECTS ||
      (in->nredirect_uris && !in->redirect_uris))
    return TW_EINVAL;
  for (size_t i = 0; i < in->nredirect_uris; i++)
    if (!visible(in->redirect_uris[i], TW_SIM_MAX_URI))
      return TW_EINVAL;
  client_t *old =
      tw__simmap_get(&api->clients, in->client_id, strlen(in->client_id));
  if (!old && api->clients.count >= TW_SIM_MAX_CLIENTS)
    return TW_EFULL;
  client_t *c = calloc(1, sizeof(*c));
  if (!c)
    return TW_ENOMEM;
  snprintf(c->id, sizeof(c->id), "%s", in->client_id);
  int ok = 1;
  if (in->client_secret && !(c->secret = strdup(in->client_secret)))
    ok = 0;
  for (size_t i = 0; ok && i < in->nredirect_uris; i++) {
    if (!(c->redir[i] = strdup(in->redirect_uris[i])))
      ok = 0;
    else
      c->nredir++;
  }
  if (!ok || tw__simmap_put(&api->clients, c->id, strlen(c->id), c) != 0) {
    client_free(c);
    return TW_ENOMEM;
  }
  client_free(old);
  return 0;
}

int tw__simapi_set_consent(tw_simapi_t *api, const char *login) {
  if (!login) {
    api->consent[0] = '\0';
    return 0;
  }
  if (!tw__sim_valid_login(login, strlen(login)))
    return TW_EINVAL;
  snprintf(api->consent, sizeof(api->consent), "%s", login);
  return 0;
}

const char *tw__simapi_consent(const tw_simapi_t *api) {
  return api->consent;
}

typedef struct {
  const char *user_code;
  device_t *found;
} ucode_find_t;

static void ucode_cb(void *ud, const char *k, void *v) {
  (void)k;
  ucode_find_t *f = ud;
  device_t *d = v;
  if (!f->found && strcmp(d->user_code, f->user_code) == 0)
    f->found = d;
}

static device_t *device_by_code(tw_simapi_t *api, const char *code) {
  device_t *d = tw__simmap_get(&api->devices, code, strlen(code));
  if (d)
    return d;
  ucode_find_t f = {code, NULL};
  tw__simmap_each(&api->devices, ucode_cb, &f);
  return f.found;
}

int tw__simapi_device_approve(tw_simapi_t *api, const char *code,
                              const char *login, int deny, uint64_t now_ms) {
  if (!code)
    return TW_EINVAL;
  if (!login)
    login = api->consent;
  if (!deny && (!*login || !tw__sim_valid_login(login, strlen(login))))
    return TW_EINVAL;
  device_t *d = device_by_code(api, code);
  if (!d || now_ms >= d->expires_at)
    return TW_ENOTFOUND;
  if (!deny && tw__simchat_user_ensure(api->core, login, NULL) != 0)
    return TW_EINVAL;
  d->state = deny ? DEV_DENIED : DEV_APPROVED;
  if (!deny)
    snprintf(d->login, sizeof(d->login), "%s", login);
  return 0;
}

int tw__simapi_force(tw_simapi_t *api, const char *path, unsigned status,
                     unsigned count, const char *message) {
  if (!path || path[0] != '/' || strlen(path) >= sizeof(api->force[0].path) ||
      status < 400 || status > 599)
    return TW_EINVAL;
  size_t i;
  for (i = 0; i < api->nforce; i++)
    if (strcmp(api->force[i].path, path) == 0)
      break;
  if (count == 0) {
    if (i < api->nforce) {
      free(api->force[i].message);
      api->force[i] = api->force[--api->nforce];
    }
    return 0;
  }
  char *m = NULL;
  if (message && !(m = strdup(message)))
    return TW_ENOMEM;
  if (i == api->nforce) {
    if (api->nforce >= TW_SIM_MAX_FORCED) {
      free(m);
      return TW_EFULL;
    }
    api->nforce++;
  } else {
    free(api->force[i].message);
  }
  snprintf(api->force[i].path, sizeof(api->force[i].path), "%s", path);
  api->force[i].status = status;
  api->force[i].count = count;
  api->force[i].message = m;
  return 0;
}

void tw__simapi_force_clear(tw_simapi_t *api) {
  for (size_t i = 0; i < api->nforce; i++)
    free(api->force[i].message);
  api->nforce = 0;
}

size_t tw__simapi_foreach(const tw_simapi_t *api, uint64_t since,
                          const char *path,
                          int (*cb)(void *ud, const tw_sim_api_req_t *req),
                          void *ud) {
  size_t calls = 0;
  for (size_t i = 0; i < api->rec_n; i++) {
    const rec_t *r = api->rec[(api->rec_head + i) % TW_SIM_MAX_API_RECORD];
    if (r->v.seq <= since || (path && strcmp(r->v.path, path) != 0))
      continue;
    calls++;
    if (cb(ud, &r->v))
      break;
  }
  return calls;
}

uint64_t tw__simapi_last_seq(const tw_simapi_t *api) {
  return api->seq;
}

void tw__simapi_counters(const tw_simapi_t *api, tw_sim_api_counters_t *out) {
  *out = api->cnt;
}

void tw__simapi_counters_reset(tw_simapi_t *api) {
  memset(&api->cnt, 0, sizeof(api->cnt));
}

int tw__simapi_add_token(tw_simapi_t *api, const tw_sim_token_t *in,
                         uint64_t now_ms) {
  if (!in || !in->token)
    return TW_EINVAL;
  tw_scopes_t s = {0};
  int rc = 0;
  if (in->scopes && *in->scopes)
    rc = tw_scopes_add_spaced(&s, in->scopes, strlen(in->scopes));
  if (rc == 0) {
    tw_simchat_token_spec_t spec = {
        in->login, in->client_id ? in->client_id : TW_SIM_DEFAULT_CLIENT_ID, &s,
        in->ttl_ms ? now_ms + in->ttl_ms : 0, 0};
    rc = tw__simchat_put_token(api->core, in->token, &spec);
  }
  tw_scopes_free(&s);
  return rc;
}

/* ---- read-back ---------------------------------------------------------- */

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    if (n)
      memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static void rec_evict(tw_simapi_t *api) {
  rec_t *r = api->rec[api->rec_head];
  api->rec_bytes -= r->bytes;
  rec_free(r);
  api->rec_head = (api->rec_head + 1) % TW_SIM_MAX_API_RECORD;
  api->rec_n--;
  api->cnt.record_evicted++;
}

static rec_t *record(tw_simapi_t *api, const tw_simapi_req_t *req,
                     unsigned status, int forced, uint64_t now) {
  if (!api->rec) {
    api->rec = calloc(TW_SIM_MAX_API_RECORD, sizeof(*api->rec));
    if (!api->rec)
      return NULL;
  }
  rec_t *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  const char *q = req->query ? req->query : "";
  size_t blen = req->body_too_big ? 0 : req->body_len;
  r->v.seq = ++api->seq;
  r->v.method = dupn(req->method, strlen(req->method));
  r->v.path = dupn(req->path, strlen(req->path));
  r->v.query = dupn(q, strlen(q));
  r->v.body = dupn(req->body ? req->body : "", req->body ? blen : 0);
  r->v.body_len = req->body ? blen : 0;
  r->bytes = sizeof(*r) + strlen(req->path) + strlen(q) + r->v.body_len;
  int ok = r->v.method && r->v.path && r->v.query && r->v.body;
  for (size_t i = 0; ok && i < req->nh && i < TW_SIM_MAX_API_HEADERS; i++) {
    const char *n = req->hname[i] ? req->hname[i] : "";
    const char *v = req->hval[i] ? req->hval[i] : "";
    r->names[i] = dupn(n, strlen(n));
    r->vals[i] = dupn(v, strlen(v));
    r->v.nheaders++;
    ok = r->names[i] && r->vals[i];
    if (ok) {
      r->bytes += strlen(n) + strlen(v);
      if (!r->v.authorization && strcasecmp(n, "Authorization") == 0)
        r->v.authorization = r->vals[i];
      if (!r->v.client_id && strcasecmp(n, "Client-Id") == 0)
        r->v.client_id = r->vals[i];
    }
  }
  if (!ok) {
    rec_free(r);
    return NULL;
  }
  r->v.header_names = (const char *const *)r->names;
  r->v.header_values = (const char *const *)r->vals;
  r->v.status = status;
  r->v.forced = forced;
  r->v.at_ms = now;
  while (api->rec_n &&
         (api->rec_n >= TW_SIM_MAX_API_RECORD ||
          api->rec_bytes + r->bytes > TW_SIM_MAX_API_RECORD_BYTES))
    rec_evict(api);
  api->rec[(api->rec_head + api->rec_n) % TW_SIM_MAX_API_RECORD] = r;
  api->rec_n++;
  api->rec_bytes += r->bytes;
  return r;
}

/* ---- issuing tokens ----------------------------------------------------- */

static json_t *scopes_json(const tw_scopes_t *s) {
  json_t *a = json_array();
  for (size_t i = 0; i < s->n; i++)
    json_array_append_new(a, json_string(s->v[i]));
  return a;
}

static int64_t secs_up(uint64_t ms) {
  return (int64_t)((ms + 999) / 1000);
}

/* Prunes expired codes, so that abandoned flows do not fill the table. */
static void prune_cb(void *ud, const char *k, void *v);

typedef struct {
  tw_simapi_t *api;
  uint64_t now;
  char keys[64][DEVICE_LEN + 1];
  size_t n;
  int devices;
} prune_t;

static void prune_cb(void *ud, const char *k, void *v) {
  prune_t *p = ud;
  uint64_t exp =
      p->devices ? ((device_t *)v)->expires_at : ((code_t *)v)->expires_at;
  if (p->now >= exp && p->n < 64 && strlen(k) <= DEVICE_LEN)
    snprintf(p->keys[p->n++], sizeof(p->keys[0]), "%s", k);
}

static void prune(tw_simapi_t *api, tw__simmap_t *m, int devices,
                  uint64_t now) {
  prune_t *p = calloc(1, sizeof(*p));
  if (!p)
    return;
  p->api = api;
  p->now = now;
  p->devices = devices;
  tw__simmap_each(m, prune_cb, p);
  for (size_t i = 0; i < p->n; i++) {
    void *v = tw__simmap_del(m, p->keys[i], strlen(p->keys[i]));
    if (devices)
      device_free(v);
    else
      code_free(v);
  }
  free(p);
}

/* Issues an access token (and, for a user, a refresh token) and answers
 * 200 with Twitch's token JSON. */
static void issue(tw_simapi_ctx_t *x, const char *client_id, const char *login,
                  const tw_scopes_t *scopes) {
  tw_simapi_t *api = x->api;
  char access[ACCESS_LEN + 1], refresh[REFRESH_LEN + 1];
  tw__simapi_rand(api, access, ACCESS_LEN, ALNUM_LOWER);
  uint64_t ttl = login ? api->o.user_token_ttl_ms : api->o.app_token_ttl_ms;
  tw_simchat_token_spec_t spec = {login, client_id, scopes, x->now + ttl, 0};
  refresh_t *rf = NULL;
  int rc = tw__simchat_put_token(api->core, access, &spec);
  if (rc == 0 && login) {
    tw__simapi_rand(api, refresh, REFRESH_LEN, ALNUM_LOWER);
    rf = calloc(1, sizeof(*rf));
    if (!rf || api->refresh.count >= TW_SIM_MAX_REFRESH ||
        tw_scopes_copy(&rf->scopes, scopes) != 0 ||
        tw__simmap_put(&api->refresh, refresh, REFRESH_LEN, rf) != 0) {
      refresh_free(rf);
      rc = TW_EFULL;
    } else {
      snprintf(rf->client_id, sizeof(rf->client_id), "%s", client_id);
      snprintf(rf->login, sizeof(rf->login), "%s", login);
    }
  }
  if (rc != 0) {
    tw__simchat_revoke_token(api->core, access);
    oauth_err(x->resp, 500, "Internal Server Error");
    return;
  }
  api->cnt.tokens_issued++;
  json_t *o = json_object();
  json_object_set_new(o, "access_token", json_string(access));
  json_object_set_new(o, "expires_in", json_integer(secs_up(ttl)));
  if (login)
    json_object_set_new(o, "refresh_token", json_string(refresh));
  /* Twitch leaves scope out when none was granted. */
  if (scopes && scopes->n)
    json_object_set_new(o, "scope", scopes_json(scopes));
  json_object_set_new(o, "token_type", json_string("bearer"));
  tw__simapi_json(x->resp, 200, o);
}

/* ---- OAuth endpoints ---------------------------------------------------- */

/* The parameters of an OAuth request: the query string, then a form body
 * (Twitch reads both; a body field comes first when both have it). */
static void oauth_params(tw_simapi_ctx_t *x, tw_simapi_params_t *p) {
  const tw_simapi_req_t *req = x->req;
  if (req->body && req->body_len) {
    const char *ct = tw__simapi_req_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
      params_parse(p, req->body, req->body_len);
  }
  for (size_t i = 0; i < x->q.n && p->n < TW_SIM_MAX_API_PARAMS; i++) {
    p->k[p->n] = strdup(x->q.k[i]);
    p->v[p->n] = strdup(x->q.v[i]);
    if (!p->k[p->n] || !p->v[p->n]) {
      free(p->k[p->n]);
      free(p->v[p->n]);
      p->bad = 1;
      return;
    }
    p->n++;
  }
}

static const client_t *client_get(tw_simapi_t *api, const char *id) {
  return id ? tw__simmap_get(&api->clients, id, strlen(id)) : NULL;
}

/* Finds the client and checks its secret. `need_secret`: a confidential
 * client must send its secret. Answers and returns NULL on failure. */
static const client_t *
client_check(tw_simapi_ctx_t *x, const tw_simapi_params_t *p, int need_secret) {
  const char *id = tw__simapi_param(p, "client_id");
  const char *secret = tw__simapi_param(p, "client_secret");
  if (!id || !*id) {
    oauth_err(x->resp, 400, "missing client id");
    return NULL;
  }
  const client_t *c = client_get(x->api, id);
  if (!c) {
    oauth_err(x->resp, 400, "invalid client");
    return NULL;
  }
  if (c->secret && secret && *secret) {
    if (strcmp(c->secret, secret) != 0) {
      oauth_err(x->resp, 403, "invalid client secret");
      return NULL;
    }
  } else if (c->secret && need_secret) {
    oauth_err(x->resp, 400, "missing client secret");
    return NULL;
  }
  return c;
}

static void grant_code(tw_simapi_ctx_t *x, const tw_simapi_params_t *p) {
  const client_t *c = client_check(x, p, 1);
  if (!c)
    return;
  const char *code = tw__simapi_param(p, "code");
  const char *redirect = tw__simapi_param(p, "redirect_uri");
  code_t *k = code ? tw__simmap_get(&x->api->codes, code, strlen(code)) : NULL;
  if (!k || x->now >= k->expires_at || strcmp(k->client_id, c->id) != 0) {
    oauth_err(x->resp, 400, "Invalid authorization code");
    return;
  }
  /* Single use, whatever the outcome. */
  tw__simmap_del(&x->api->codes, code, strlen(code));
  if (!redirect || strcmp(redirect, k->redirect_uri) != 0)
    oauth_err(x->resp, 400, "Parameter redirect_uri does not match");
  else
    issue(x, c->id, k->login, &k->scopes);
  code_free(k);
}

static void grant_refresh(tw_simapi_ctx_t *x, const tw_simapi_params_t *p) {
  const client_t *c = client_check(x, p, 1);
  if (!c)
    return;
  const char *rt = tw__simapi_param(p, "refresh_token");
  refresh_t *r = rt ? tw__simmap_get(&x->api->refresh, rt, strlen(rt)) : NULL;
  if (!r || strcmp(r->client_id, c->id) != 0) {
    oauth_err(x->resp, 400, "Invalid refresh token");
    return;
  }
  /* Rotation: the old refresh token dies with this use. */
  tw__simmap_del(&x->api->refresh, rt, strlen(rt));
  if (tw__simchat_user_ensure(x->api->core, r->login, NULL) != 0) {
    oauth_err(x->resp, 400, "Invalid refresh token");
  } else {
    issue(x, c->id, r->login, &r->scopes);
    if (x->resp->status == 200)
      x->api->cnt.refreshes++;
  }
  refresh_free(r);
}

static void grant_client(tw_simapi_ctx_t *x, const tw_simapi_params_t *p) {
  const client_t *c = client_check(x, p, 1);
  if (!c)
    return;
  if (!c->secret) {
    /* A public client has no secret to prove who it is. */
    oauth_err(x->resp, 400, "invalid client");
    return;
  }
  issue(x, c->id, NULL, NULL);
}

static void grant_device(tw_simapi_ctx_t *x, const tw_simapi_params_t *p) {
  const client_t *c = client_check(x, p, 0);
  if (!c)
    return;
  tw_simapi_t *api = x->api;
  const char *dc = tw__simapi_param(p, "device_code");
  device_t *d = dc ? tw__simmap_get(&api->devices, dc, strlen(dc)) : NULL;
  if (!d || x->now >= d->expires_at || strcmp(d->client_id, c->id) != 0) {
    oauth_err(x->resp, 400, "invalid device code");
    return;
  }
  uint64_t last = d->last_poll;
  d->last_poll = x->now;
  if (d->state == DEV_PENDING && api->o.device_slow_down && d->polls &&
      x->now < last + api->o.device_interval_ms) {
    oauth_err(x->resp, 400, "slow_down");
    return;
  }
  if (d->state == DEV_PENDING && api->o.device_auto_approve &&
      d->polls >= api->o.device_auto_approve && api->consent[0] &&
      tw__simchat_user_ensure(api->core, api->consent, NULL) == 0) {
    d->state = DEV_APPROVED;
    snprintf(d->login, sizeof(d->login), "%s", api->consent);
  }
  d->polls++;
  if (d->state == DEV_PENDING) {
    oauth_err(x->resp, 400, "authorization_pending");
    return;
  }
  tw__simmap_del(&api->devices, d->device_code, strlen(d->device_code));
  if (d->state == DEV_DENIED)
    oauth_err(x->resp, 400, "access_denied");
  else
    issue(x, c->id, d->login, &d->scopes);
  device_free(d);
}

static void ep_token(tw_simapi_ctx_t *x) {
  tw_simapi_params_t p = {0};
  oauth_params(x, &p);
  const char *grant = tw__simapi_param(&p, "grant_type");
  if (p.bad)
    oauth_err(x->resp, 400, "malformed request");
  else if (!grant)
    oauth_err(x->resp, 400, "missing grant_type");
  else if (strcmp(grant, "authorization_code") == 0)
    grant_code(x, &p);
  else if (strcmp(grant, "refresh_token") == 0)
    grant_refresh(x, &p);
  else if (strcmp(grant, "client_credentials") == 0)
    grant_client(x, &p);
  else if (strcmp(grant, TW_OAUTH_DEVICE_GRANT) == 0)
    grant_device(x, &p);
  else
    oauth_err(x->resp, 400, "unsupported grant type");
  params_free(&p);
}

static void ep_device(tw_simapi_ctx_t *x) {
  tw_simapi_t *api = x->api;
  tw_simapi_params_t p = {0};
  oauth_params(x, &p);
  const client_t *c = p.bad ? NULL : client_check(x, &p, 0);
  if (p.bad)
    oauth_err(x->resp, 400, "malformed request");
  if (!c) {
    params_free(&p);
    return;
  }
  const char *scopes = tw__simapi_param(&p, "scopes");
  device_t *d = calloc(1, sizeof(*d));
  if (!d) {
    params_free(&p);
    oauth_err(x->resp, 500, "Internal Server Error");
    return;
  }
  if (scopes && tw_scopes_add_spaced(&d->scopes, scopes, strlen(scopes))) {
    params_free(&p);
    device_free(d);
    oauth_err(x->resp, 400, "invalid scope requested");
    return;
  }
  snprintf(d->client_id, sizeof(d->client_id), "%s", c->id);
  params_free(&p);
  if (api->devices.count >= TW_SIM_MAX_CODES)
    prune(api, &api->devices, 1, x->now);
  tw__simapi_rand(api, d->device_code, DEVICE_LEN, ALNUM);
  tw__simapi_rand(api, d->user_code, USER_CODE_LEN, UPPER);
  d->expires_at = x->now + api->o.device_ttl_ms;
  if (api->devices.count >= TW_SIM_MAX_CODES ||
      tw__simmap_put(&api->devices, d->device_code, DEVICE_LEN, d) != 0) {
    device_free(d);
    oauth_err(x->resp, 429, "too many pending device codes");
    return;
  }
  json_t *o = json_object();
  json_object_set_new(o, "device_code", json_string(d->device_code));
  json_object_set_new(o, "expires_in",
                      json_integer(secs_up(api->o.device_ttl_ms)));
  json_object_set_new(o, "interval",
                      json_integer(secs_up(api->o.device_interval_ms)));
  json_object_set_new(o, "user_code", json_string(d->user_code));
  char uri[256];
  snprintf(uri, sizeof(uri), "%s/activate?device-code=%s", api->base,
           d->user_code);
  json_object_set_new(o, "verification_uri", json_string(uri));
  tw__simapi_json(x->resp, 200, o);
}

/* Appends `key=value` (value form-encoded) to a URL being built. */
static void url_add(tw_buf_t *b, char *sep, const char *key, const char *value,
                    int *fail) {
  if (tw_buf_append(b, sep, 1) || tw_buf_append(b, key, strlen(key)) ||
      tw_buf_append(b, "=", 1) || tw__url_encode(b, value, strlen(value), true))
    *fail = 1;
  *sep = '&';
}

static void ep_authorize(tw_simapi_ctx_t *x) {
  tw_simapi_t *api = x->api;
  const tw_simapi_params_t *p = &x->q;
  const char *cid = tw__simapi_param(p, "client_id");
  const char *redirect = tw__simapi_param(p, "redirect_uri");
  const char *rtype = tw__simapi_param(p, "response_type");
  const char *scope = tw__simapi_param(p, "scope");
  const char *state = tw__simapi_param(p, "state");
  const client_t *c = client_get(api, cid);
  if (p->bad) {
    oauth_err(x->resp, 400, "malformed request");
    return;
  }
  if (!c) {
    oauth_err(x->resp, 400, "invalid client");
    return;
  }
  int ok = redirect && *redirect && strlen(redirect) <= TW_SIM_MAX_URI;
  if (ok && c->nredir) {
    ok = 0;
    for (size_t i = 0; i < c->nredir; i++)
      ok |= strcmp(c->redir[i], redirect) == 0;
  }
  if (!ok) {
    /* Twitch shows an error page rather than redirect to an unregistered
     * URI. */
    oauth_err(x->resp, 400,
              "Parameter redirect_uri does not match "
              "registered URI");
    return;
  }
  int implicit = rtype && strcmp(rtype, "token") == 0;
  if (!rtype || (!implicit && strcmp(rtype, "code") != 0)) {
    oauth_err(x->resp, 400, "unsupported response_type");
    return;
  }
  if (state && strlen(state) > TW_SIM_MAX_URI) {
    oauth_err(x->resp, 400, "state too long");
    return;
  }
  tw_scopes_t s = {0};
  if (scope && tw_scopes_add_spaced(&s, scope, strlen(scope)) != 0) {
    /* The list may hold an allocation even when empty. */
    tw_scopes_free(&s);
    oauth_err(x->resp, 400, "invalid scope requested");
    return;
  }
  tw_buf_t joined;
  tw_buf_init(&joined, TW_SIM_MAX_SCOPE_TEXT);
  if (tw_scopes_join(&s, &joined) != 0 || tw_buf_append(&joined, "", 1)) {
    tw_buf_free(&joined);
    tw_scopes_free(&s);
    oauth_err(x->resp, 400, "invalid scope requested");
    return;
  }
  /* Room for the redirect URI, the scopes and the state, each encoded
   * (three bytes per byte at most), and the rest. */
  tw_buf_t loc;
  tw_buf_init(&loc,
              3 * (TW_SIM_MAX_URI + TW_SIM_MAX_SCOPE_TEXT + TW_SIM_MAX_URI) +
                  1024);
  int fail = tw_buf_append(&loc, redirect, strlen(redirect)) != 0;
  char sep = strchr(redirect, '?') ? '&' : '?';
  if (!api->consent[0] ||
      tw__simchat_user_ensure(api->core, api->consent, NULL) != 0) {
    url_add(&loc, &sep, "error", "access_denied", &fail);
    url_add(&loc, &sep, "error_description", "The user denied you access",
            &fail);
  } else if (implicit) {
    /* The implicit grant: the token in the fragment, no refresh token. */
    char access[ACCESS_LEN + 1];
    tw__simapi_rand(api, access, ACCESS_LEN, ALNUM_LOWER);
    tw_simchat_token_spec_t spec = {api->consent, c->id, &s,
                                    x->now + api->o.user_token_ttl_ms, 0};
    if (tw__simchat_put_token(api->core, access, &spec) != 0) {
      tw_buf_free(&loc);
      tw_buf_free(&joined);
      tw_scopes_free(&s);
      oauth_err(x->resp, 500, "Internal Server Error");
      return;
    }
    api->cnt.tokens_issued++;
    sep = '#';
    url_add(&loc, &sep, "access_token", access, &fail);
    url_add(&loc, &sep, "scope", joined.data, &fail);
    url_add(&loc, &sep, "token_type", "bearer", &fail);
  } else {
    if (api->codes.count >= TW_SIM_MAX_CODES)
      prune(api, &api->codes, 0, x->now);
    code_t *k = calloc(1, sizeof(*k));
    char code[CODE_LEN + 1];
    tw__simapi_rand(api, code, CODE_LEN, ALNUM_LOWER);
    if (!k || api->codes.count >= TW_SIM_MAX_CODES ||
        !(k->redirect_uri = strdup(redirect)) ||
        tw_scopes_copy(&k->scopes, &s) != 0 ||
        tw__simmap_put(&api->codes, code, CODE_LEN, k) != 0) {
      code_free(k);
      tw_buf_free(&loc);
      tw_buf_free(&joined);
      tw_scopes_free(&s);
      oauth_err(x->resp, 429, "too many pending authorization codes");
      return;
    }
    snprintf(k->client_id, sizeof(k->client_id), "%s", c->id);
    snprintf(k->login, sizeof(k->login), "%s", api->consent);
    k->expires_at = x->now + api->o.code_ttl_ms;
    url_add(&loc, &sep, "code", code, &fail);
    url_add(&loc, &sep, "scope", joined.data, &fail);
  }
  if (state)
    url_add(&loc, &sep, "state", state, &fail);
  if (fail || tw_buf_append(&loc, "", 1) != 0) {
    oauth_err(x->resp, 500, "Internal Server Error");
  } else {
    x->resp->status = 302;
    tw__simapi_header(x->resp, "Location", "%s", loc.data);
  }
  tw_buf_free(&loc);
  tw_buf_free(&joined);
  tw_scopes_free(&s);
}

/* The token of an "Authorization: <scheme> <token>" header, when the
 * scheme is one of those given (case-insensitive). */
static const char *auth_token(const tw_simapi_req_t *req, int oauth_ok) {
  const char *h = tw__simapi_req_header(req, "Authorization");
  if (!h)
    return NULL;
  if (strncasecmp(h, "Bearer ", 7) == 0)
    h += 7;
  else if (oauth_ok && strncasecmp(h, "OAuth ", 6) == 0)
    h += 6;
  else
    return "";
  while (*h == ' ')
    h++;
  return h;
}

static void ep_validate(tw_simapi_ctx_t *x) {
  const char *t = auth_token(x->req, 1);
  if (!t) {
    oauth_err(x->resp, 401, "missing authorization token");
    return;
  }
  tw_simchat_token_view_t v;
  if (tw__simchat_token_get(x->api->core, t, x->now, &v) != 0 || !v.live) {
    oauth_err(x->resp, 401, "invalid access token");
    return;
  }
  json_t *o = json_object();
  json_object_set_new(o, "client_id", json_string(v.client_id));
  if (v.login) {
    json_object_set_new(o, "login", json_string(v.login));
    json_object_set_new(o, "user_id", json_string(v.user_id));
  }
  /* A token without scopes shows "scopes": null, as Twitch's does. */
  json_object_set_new(o, "scopes",
                      v.scopes->n ? scopes_json(v.scopes) : json_null());
  json_object_set_new(
      o, "expires_in",
      json_integer(v.expires_at ? secs_up(v.expires_at - x->now) : 0));
  tw__simapi_json(x->resp, 200, o);
}

static void ep_revoke(tw_simapi_ctx_t *x) {
  tw_simapi_params_t p = {0};
  oauth_params(x, &p);
  const char *cid = tw__simapi_param(&p, "client_id");
  const char *tok = tw__simapi_param(&p, "token");
  tw_simchat_token_view_t v;
  if (p.bad)
    oauth_err(x->resp, 400, "malformed request");
  else if (!cid || !*cid)
    oauth_err(x->resp, 400, "missing client id");
  else if (!client_get(x->api, cid))
    oauth_err(x->resp, 404, "client does not exist");
  else if (!tok || tw__simchat_token_get(x->api->core, tok, x->now, &v) != 0 ||
           v.revoked || strcmp(v.client_id, cid) != 0)
    oauth_err(x->resp, 400, "Invalid token");
  else {
    tw__simchat_revoke_token(x->api->core, tok);
    x->resp->status = 200;
  }
  params_free(&p);
}

/* GET /activate?device-code=USER_CODE: the page a person would open; here
 * it approves the code for the consenting user at once. */
static void ep_activate(tw_simapi_ctx_t *x) {
  const char *code = tw__simapi_param(&x->q, "device-code");
  int rc = code ? tw__simapi_device_approve(x->api, code, NULL, 0, x->now)
                : TW_ENOTFOUND;
  if (rc == TW_ENOTFOUND)
    oauth_err(x->resp, 404, "invalid device code");
  else if (rc != 0)
    oauth_err(x->resp, 403, "no consenting user");
  else
    oauth_err(x->resp, 200, "approved");
}

static void oauth_route(tw_simapi_ctx_t *x) {
  const char *m = x->req->method;
  const char *path = x->req->path;
  int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
  if (strcmp(path, "/oauth2/token") == 0 && post)
    ep_token(x);
  else if (strcmp(path, "/oauth2/device") == 0 && post)
    ep_device(x);
  else if (strcmp(path, "/oauth2/authorize") == 0 && get)
    ep_authorize(x);
  else if (strcmp(path, "/oauth2/validate") == 0 && get)
    ep_validate(x);
  else if (strcmp(path, "/oauth2/revoke") == 0 && post)
    ep_revoke(x);
  else if (strcmp(path, "/activate") == 0 && get)
    ep_activate(x);
  else
    oauth_err(x->resp, 404, "Not Found");
}

/* ---- the request -------------------------------------------------------- */

/* The usual text for a forced status. */
static const char *forced_message(int helix, unsigned status) {
  switch (status) {
  case 401:
    return helix ? "Invalid OAuth token" : "invalid access token";
  case 429:
    return "Request limit exceeded";
  default:
    return tw__simapi_reason(status);
  }
}

/* Adds the Ratelimit-* headers of the bucket for `key` after taking
 * `cost` points (0: just reporting). Returns 0, or -1 when the bucket is
 * empty. `empty` reports Remaining 0 whatever the bucket holds. */
static int ratelimit(tw_simapi_t *api, tw_simapi_resp_t *resp, const char *key,
                     unsigned cost, uint64_t now, int empty) {
  double limit = api->o.ratelimit_points;
  double per_ms = limit / 60000.0;
  bucket_t tmp = {limit, now};
  bucket_t *b = tw__simmap_get(&api->buckets, key, strlen(key));
  if (!b && cost) {
    if (api->buckets.count < TW_SIM_MAX_BUCKETS &&
        (b = malloc(sizeof(*b))) != NULL) {
      *b = tmp;
      if (tw__simmap_put(&api->buckets, key, strlen(key), b) != 0) {
        free(b);
        b = NULL;
      }
    }
  }
  if (!b)
    b = &tmp; /* over the cap: a full bucket each time */
  if (now > b->at) {
    b->points += (double)(now - b->at) * per_ms;
    if (b->points > limit)
      b->points = limit;
    b->at = now;
  }
  int rc = 0;
  if (cost) {
    if (b->points >= cost)
      b->points -= cost;
    else
      rc = -1;
  }
  uint64_t full_ms = (uint64_t)((limit - b->points) / per_ms);
  uint64_t reset = (tw__simapi_wall(api, now) + full_ms + 999) / 1000;
  tw__simapi_header(resp, "Ratelimit-Limit", "%u", api->o.ratelimit_points);
  /* A forced 429 reports an empty bucket without emptying one. */
  tw__simapi_header(resp, "Ratelimit-Remaining", "%u",
                    empty ? 0u : (unsigned)b->points);
  tw__simapi_header(resp, "Ratelimit-Reset", "%llu", (unsigned long long)reset);
  return rc;
}

/* Helix: the bucket is per token; requests without a usable token share
 * one. */
int tw__simapi_ratelimit(tw_simapi_ctx_t *x, unsigned cost) {
  return ratelimit(x->api, x->resp, x->token[0] ? x->token : "", cost, x->now,
                   0);
}

void tw__simapi_handle(tw_simapi_t *api, const tw_simapi_req_t *req,
                       uint64_t now_ms, tw_simapi_resp_t *resp) {
  memset(resp, 0, sizeof(*resp));
  tw_buf_init(&resp->body, 16u << 20);
  tw_simapi_ctx_t *x = calloc(1, sizeof(*x));
  if (!x) {
    resp->status = 500;
    return;
  }
  x->api = api;
  x->req = req;
  x->resp = resp;
  x->now = now_ms;
  const char *path = req->path ? req->path : "";
  int helix = strncmp(path, "/helix/", 7) == 0 || strcmp(path, "/helix") == 0;
  int forced = 0;
  if (req->query)
    params_parse(&x->q, req->query, strlen(req->query));
  for (size_t i = 0; i < api->nforce; i++) {
    if (strcmp(api->force[i].path, path) != 0)
      continue;
    unsigned st = api->force[i].status;
    const char *msg = api->force[i].message ? api->force[i].message
                                            : forced_message(helix, st);
    if (helix)
      tw__simapi_helix_err(resp, st, msg);
    else
      oauth_err(resp, st, msg);
    if (st == 429 || helix) {
      /* Forced 429s look like the bucket ran dry. */
      ratelimit(api, resp, "", 0, now_ms, st == 429);
    }
    if (--api->force[i].count == 0) {
      free(api->force[i].message);
      api->force[i] = api->force[--api->nforce];
    }
    forced = 1;
    api->cnt.forced++;
    break;
  }
  if (forced) {
    /* answered above */
  } else if (!req->method || !req->path) {
    oauth_err(resp, 400, "Bad Request");
  } else if (req->body_too_big) {
    if (helix)
      tw__simapi_helix_err(resp, 413, "request body too large");
    else
      oauth_err(resp, 413, "request body too large");
  } else if (helix) {
    tw__simhelix_handle(x);
  } else {
    oauth_route(x);
  }
  if (resp->status == 0)
    resp->status = 500;
  api->cnt.requests++;
  if (helix)
    api->cnt.helix_requests++;
  else if (strncmp(path, "/oauth2/", 8) == 0)
    api->cnt.oauth_requests++;
  if (resp->status == 401)
    api->cnt.unauthorized++;
  tw_simapi_req_t safe = *req;
  if (!safe.method)
    safe.method = "";
  if (!safe.path)
    safe.path = "";
  rec_t *r = record(api, &safe, resp->status, forced, now_ms);
  if (r && api->obs) {
    tw_sim_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = TW_SIM_EV_API;
    ev.line = r->v.path;
    ev.len = strlen(r->v.path);
    ev.count = r->v.seq;
    ev.api = &r->v;
    api->obs(api->obs_ud, &ev);
  }
  params_free(&x->q);
  free(x);
}
