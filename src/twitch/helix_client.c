/* The Helix client's request engine (see include/twitchd/helix_client.h).
 *
 * Every accepted request is a call in one FIFO list. A call is READY (wants
 * to be sent), WAIT (not before a given time: backoff, clip polling),
 * TOKEN (waiting for the token source) or INFLIGHT (an easy handle in the
 * curl adapter). One uv_timer_t runs the pump: it is started with 0 to
 * "kick" and otherwise armed for the earliest time a waiting call or an
 * empty bucket allows. The pump walks the list in order and starts what
 * may start (in-flight cap, token present, bucket point available); it
 * never calls a callback while walking, so callbacks cannot change the
 * list under it: failures found while walking are marked and delivered
 * afterwards, one at a time from the head.
 *
 * A callback is never called from inside the function that accepted the
 * call, because the first send happens from the timer.
 *
 * Closing: calls on the wire are cancelled through the adapter (their done
 * callback completes them with TW_ECANCELED), the others are completed at
 * once, then the timer is closed; the memory is freed once the timer is
 * closed and nothing is on the wire. */
#include "twitchd/helix_client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "twitch/helix_client_int.h"
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define LOG_MOD "helix"

#define DEF_BACKOFF_BASE_MS 500
#define DEF_BACKOFF_CAP_MS 30000
#define DEF_TIMEOUT_MS 30000
#define DEF_CONNECT_TIMEOUT_MS 10000
/* Longest base URL accepted. */
#define MAX_BASE_URL 2048
/* A 429 that is the endpoint's own limit (points were left) waits at
 * least this long before the next try. */
#define ENDPOINT_LIMIT_MIN_MS 1000

typedef enum {
  ST_READY = 0,
  ST_WAIT,
  ST_TOKEN,
  ST_INFLIGHT,
  ST_FAILED /* marked by the pump; delivered after the walk */
} hx_state_t;

typedef struct hx_call {
  struct hx_call *prev, *next;
  tw_helix_client_t *c;
  uint64_t id;
  tw_helix_endpoint_t endpoint;
  tw_helix_method_t method;
  int success_status;
  /* Not to be sent again once it may have reached Twitch. */
  bool no_resend;
  bool chat_bucket;
  char *url;
  char *body;
  size_t body_len;
  tw_helix_done_cb cb;
  void *arg;
  hx_state_t state;
  uint64_t not_before;
  unsigned attempts;
  bool refreshed; /* the one 401 refresh has been used */
  bool canceled;  /* withdrawn while on the wire: free, do not report */
  bool has_fresh; /* `token` holds what the source just handed us */
  int fail_err;   /* ST_FAILED: the error */
  tw_backoff_t backoff;
  CURL *easy;
  struct curl_slist *hdrs;
  tw_buf_t resp;
  bool resp_too_big;
  tw_helix_ratelimit_t rl;
  char errbuf[CURL_ERROR_SIZE];
  char token[TW_MAX_HELIX_TOKEN + 1];
  char user[TW_MAX_HELIX_ID + 1]; /* bucket key of the last send */
} hx_call_t;

typedef struct {
  bool used;
  char user[TW_MAX_HELIX_ID + 1]; /* "" for an app token */
  uint64_t last_use;
  tw_bucket_t general;
  tw_bucket_t chat;
} hx_bucket_t;

struct tw_helix_client {
  uv_loop_t *loop;
  tw_uvcurl_t *uc;
  uv_timer_t timer;
  char *base;
  bool tls;
  char *client_id_hdr; /* "Client-Id: ..." */
  STACK_OF(X509) * extra_cas;
  tw_token_source_t tokens;
  unsigned max_queue, max_inflight, max_attempts;
  uint64_t backoff_base, backoff_cap;
  long timeout_ms, connect_timeout_ms;
  tw_rand_fn rand;
  void *rand_ctx;
  hx_call_t *head, *tail;
  unsigned ncalls;
  unsigned inflight;
  uint64_t next_id;
  hx_bucket_t buckets[TW_MAX_HELIX_BUCKETS];
  uint64_t bucket_tick;
  tw_helix_stats_t stats;
  tw__helix_ext_t ext;
  bool closing;
  bool timer_closed;
  bool in_pump;
  tw_helix_close_cb close_cb;
  void *close_arg;
};

/* ---- small helpers ------------------------------------------------------ */

tw__helix_ext_t *tw__helix_ext(tw_helix_client_t *c) {
  return &c->ext;
}

tw_helix_stats_t *tw__helix_stats(tw_helix_client_t *c) {
  return &c->stats;
}

bool tw__helix_closing(const tw_helix_client_t *c) {
  return c->closing;
}

uint64_t tw__helix_next_id(tw_helix_client_t *c) {
  return ++c->next_id;
}

static void pump(tw_helix_client_t *c);

static void on_timer(uv_timer_t *t) {
  pump(t->data);
}

void tw__helix_kick(tw_helix_client_t *c) {
  if (!c->closing)
    uv_timer_start(&c->timer, on_timer, 0, 0);
}

static char *dupstr(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p)
    memcpy(p, s, n + 1);
  return p;
}

static const char *src_user(const tw_helix_client_t *c) {
  const char *u = c->tokens.user_id ? c->tokens.user_id(c->tokens.ud) : NULL;
  return u ? u : "";
}

const char *tw_helix_client_user_id(const tw_helix_client_t *c) {
  return c ? src_user(c) : "";
}

/* The bucket pair of a token user, created (or recycled, least recently
 * used first) on first use. Twitch counts user-token requests per client
 * id per user, so a refreshed token keeps its user's bucket. */
static hx_bucket_t *bucket_for(tw_helix_client_t *c, const char *user) {
  hx_bucket_t *victim = NULL;
  uint64_t now = tw_now_ms();
  for (size_t i = 0; i < TW_MAX_HELIX_BUCKETS; i++) {
    hx_bucket_t *b = &c->buckets[i];
    if (b->used && strcmp(b->user, user) == 0) {
      b->last_use = ++c->bucket_tick;
      return b;
    }
    if (!victim || !b->used || (victim->used && b->last_use < victim->last_use))
      victim = b;
  }
  memset(victim, 0, sizeof(*victim));
  victim->used = true;
  snprintf(victim->user, sizeof(victim->user), "%s", user);
  victim->last_use = ++c->bucket_tick;
  tw_bucket_init(&victim->general, TW_HELIX_DEFAULT_POINTS,
                 TW_HELIX_DEFAULT_POINTS, 60000, now);
  tw_bucket_init(&victim->chat, TW_HELIX_DEFAULT_POINTS,
                 TW_HELIX_DEFAULT_POINTS, 60000, now);
  return victim;
}

static tw_bucket_t *call_bucket(tw_helix_client_t *c, const char *user,
                                bool chat) {
  hx_bucket_t *b = bucket_for(c, user);
  return chat ? &b->chat : &b->general;
}

/* ---- list --------------------------------------------------------------- */

static void link_tail(tw_helix_client_t *c, hx_call_t *k) {
  k->prev = c->tail;
  k->next = NULL;
  if (c->tail)
    c->tail->next = k;
  else
    c->head = k;
  c->tail = k;
  c->ncalls++;
}

static void unlink_call(tw_helix_client_t *c, hx_call_t *k) {
  if (k->prev)
    k->prev->next = k->next;
  else
    c->head = k->next;
  if (k->next)
    k->next->prev = k->prev;
  else
    c->tail = k->prev;
  k->prev = k->next = NULL;
  c->ncalls--;
}

static void free_call(hx_call_t *k) {
  if (k->easy)
    curl_easy_cleanup(k->easy);
  curl_slist_free_all(k->hdrs);
  tw_buf_free(&k->resp);
  /* The token copy is wiped so that it does not linger in freed memory. */
  memset(k->token, 0, sizeof(k->token));
  free(k->url);
  free(k->body);
  free(k);
}

static void maybe_finish_close(tw_helix_client_t *c);

/* ---- completion --------------------------------------------------------- */

typedef union {
  tw_helix_users_t users;
  tw_helix_streams_t streams;
  tw_helix_ban_t ban;
  tw_helix_clip_created_t clip_created;
  tw_helix_clips_t clips;
  tw_helix_chat_sent_t chat;
  tw_helix_subs_t subs;
} hx_decoded_t;

/* Decodes a 2xx body for the endpoint into `d` and points the result at
 * it. Endpoints answering 204 have nothing to decode. */
static int decode_body(tw_helix_endpoint_t e, const char *body, size_t len,
                       hx_decoded_t *d, tw_helix_result_t *r) {
  int rc = 0;
  switch (e) {
  case TW_HELIX_GET_USERS:
    rc = tw_helix_decode_users(body, len, &d->users);
    r->users = rc == 0 ? &d->users : NULL;
    break;
  case TW_HELIX_GET_STREAMS:
    rc = tw_helix_decode_streams(body, len, &d->streams);
    r->streams = rc == 0 ? &d->streams : NULL;
    break;
  case TW_HELIX_BAN_USER:
    rc = tw_helix_decode_ban(body, len, &d->ban);
    r->ban = rc == 0 ? &d->ban : NULL;
    break;
  case TW_HELIX_CREATE_CLIP:
    rc = tw_helix_decode_clip_created(body, len, &d->clip_created);
    r->clip_created = rc == 0 ? &d->clip_created : NULL;
    break;
  case TW_HELIX_GET_CLIPS:
    rc = tw_helix_decode_clips(body, len, &d->clips);
    r->clips = rc == 0 ? &d->clips : NULL;
    break;
  case TW_HELIX_SEND_CHAT_MESSAGE:
    rc = tw_helix_decode_chat_sent(body, len, &d->chat);
    r->chat = rc == 0 ? &d->chat : NULL;
    break;
  case TW_HELIX_EVENTSUB_CREATE:
  case TW_HELIX_EVENTSUB_LIST:
    rc = tw_helix_decode_subs(body, len, &d->subs);
    r->subs = rc == 0 ? &d->subs : NULL;
    break;
  default:
    break;
  }
  return rc;
}

static void free_decoded(tw_helix_endpoint_t e, hx_decoded_t *d) {
  switch (e) {
  case TW_HELIX_GET_USERS:
    tw_helix_users_free(&d->users);
    break;
  case TW_HELIX_GET_STREAMS:
    tw_helix_streams_free(&d->streams);
    break;
  case TW_HELIX_BAN_USER:
    tw_helix_ban_free(&d->ban);
    break;
  case TW_HELIX_CREATE_CLIP:
    tw_helix_clip_created_free(&d->clip_created);
    break;
  case TW_HELIX_GET_CLIPS:
    tw_helix_clips_free(&d->clips);
    break;
  case TW_HELIX_SEND_CHAT_MESSAGE:
    tw_helix_chat_sent_free(&d->chat);
    break;
  case TW_HELIX_EVENTSUB_CREATE:
  case TW_HELIX_EVENTSUB_LIST:
    tw_helix_subs_free(&d->subs);
    break;
  default:
    break;
  }
}

/* Completes a call (already unlinked or not): reports to the caller, logs
 * the outcome, frees the call. `herr` may be NULL (no answer). */
static void finish(tw_helix_client_t *c, hx_call_t *k, int err, long status,
                   const tw_helix_error_t *herr, const char *detail,
                   bool already_done) {
  if (k->prev || k->next || c->head == k)
    unlink_call(c, k);
  const tw_helix_endpoint_info_t *info = tw_helix_endpoint_info(k->endpoint);
  tw_helix_error_t none;
  memset(&none, 0, sizeof(none));
  tw_helix_result_t r;
  memset(&r, 0, sizeof(r));
  r.id = k->id;
  r.endpoint = k->endpoint;
  r.http_status = (int)status;
  r.attempts = k->attempts;
  r.already_done = already_done;
  r.error = herr ? herr : &none;
  r.body = k->resp.data ? k->resp.data : "";
  r.body_len = k->resp.len;
  hx_decoded_t d;
  memset(&d, 0, sizeof(d));
  bool decoded = false;
  if (err == 0 && !already_done && status >= 200 && status < 300) {
    int rc = decode_body(k->endpoint, r.body, r.body_len, &d, &r);
    decoded = true;
    if (rc != 0) {
      err = rc;
      detail = "the answer is not the documented shape";
    } else if (k->endpoint == TW_HELIX_GET_USERS) {
      tw__helix_cache_fill(c, r.users);
    }
  }
  r.err = err;
  r.detail = detail ? detail : "";
  if (err == 0) {
    c->stats.succeeded++;
    tw_debug(LOG_MOD, "%s: done (HTTP %ld, attempt %u%s)", info->name, status,
             k->attempts, already_done ? ", already done" : "");
  } else {
    c->stats.failed++;
    if (err != TW_ECANCELED)
      tw_warn(LOG_MOD, "%s failed: %s (HTTP %ld%s%s%s, %u attempt%s)%s%s",
              info->name, tw_strerror(err), status,
              herr && herr->kind ? ", " : "",
              herr && herr->kind ? tw_helix_err_name(herr->kind) : "",
              herr && herr->kind == TW_HELIX_ERR_MISSING_SCOPE ? " " : "",
              k->attempts, k->attempts == 1 ? "" : "s", r.detail[0] ? ": " : "",
              r.detail);
    /* (a missing scope's name is in r.detail, the server's message) */
  }
  if (k->cb)
    k->cb(c, &r, k->arg);
  if (decoded)
    free_decoded(k->endpoint, &d);
  free_call(k);
}

/* ---- curl --------------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  hx_call_t *k = ud;
  size_t len = size * n;
  if (k->resp.len + len > TW_MAX_HELIX_RESPONSE) {
    k->resp_too_big = true;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (tw_buf_append(&k->resp, p, len) != 0)
    return 0;
  return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  hx_call_t *k = ud;
  size_t len = size * n;
  /* A new status line (after a 100 Continue, say) starts a new set. */
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
    tw_helix_ratelimit_init(&k->rl);
  else
    (void)tw_helix_ratelimit_header(&k->rl, p, len);
  return len;
}

/* Adds the configured extra CA certificates to the store curl built from
 * the system's, so that ca_file adds an anchor instead of replacing them. */
static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *parm) {
  (void)curl;
  STACK_OF(X509) *cas = parm;
  X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
  for (int i = 0; st && i < sk_X509_num(cas); i++)
    (void)X509_STORE_add_cert(st, sk_X509_value(cas, i));
  return CURLE_OK;
}

/* Failures that happen before a single byte of the request can have left:
 * retrying them cannot perform anything twice. */
static bool unsent_failure(CURL *e, CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SSL_CONNECT_ERROR:
    return true;
  default:
    break;
  }
  long sent = 0;
  if (curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK &&
      sent == 0)
    return true;
  return false;
}

/* Failures no retry can cure. */
static bool permanent_failure(CURLcode rc) {
  switch (rc) {
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_WRITE_ERROR: /* our response cap */
  case CURLE_OUT_OF_MEMORY:
    return true;
  default:
    return false;
  }
}

static void on_done(CURL *easy, CURLcode result, void *ud);

/* Puts the call on the wire with `token`. Returns 0 or a TW_E* code. */
static int start(tw_helix_client_t *c, hx_call_t *k, const char *token) {
  size_t tlen = strlen(token);
  if (tlen == 0 || tlen > TW_MAX_HELIX_TOKEN)
    return TW_EAUTH;
  if (k->token != token)
    memcpy(k->token, token, tlen + 1);
  if (k->easy == NULL)
    k->easy = curl_easy_init();
  else
    curl_easy_reset(k->easy);
  if (k->easy == NULL)
    return TW_ENOMEM;
  curl_slist_free_all(k->hdrs);
  k->hdrs = NULL;
  tw_buf_reset(&k->resp);
  k->resp_too_big = false;
  tw_helix_ratelimit_init(&k->rl);
  k->errbuf[0] = '\0';

  char auth[TW_MAX_HELIX_TOKEN + 32];
  snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k->token);
  struct curl_slist *h = NULL, *t;
  const char *lines[] = {
      c->client_id_hdr, auth, "Accept: application/json",
      /* no 100-continue round trip for small bodies */
      "Expect:",
      /* (an empty POST would otherwise be labelled a form by curl) */
      k->body_len ? "Content-Type: " TW_HELIX_JSON_TYPE : "Content-Type:"};
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    if (!lines[i])
      continue;
    t = curl_slist_append(h, lines[i]);
    if (!t) {
      curl_slist_free_all(h);
      memset(auth, 0, sizeof(auth));
      return TW_ENOMEM;
    }
    h = t;
  }
  memset(auth, 0, sizeof(auth));
  k->hdrs = h;

  CURL *e = k->easy;
  curl_easy_setopt(e, CURLOPT_URL, k->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, c->tls ? "https" : "http");
  switch (k->method) {
  case TW_HELIX_GET:
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    break;
  case TW_HELIX_POST:
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->body ? k->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)k->body_len);
    break;
  case TW_HELIX_PATCH:
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->body ? k->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)k->body_len);
    break;
  case TW_HELIX_DELETE:
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    break;
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->hdrs);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "twitchd/" TW_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->errbuf);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  /* A redirect would carry the bearer token somewhere unconfigured. */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (c->extra_cas) {
    /* The shared CA cache would carry our extra anchor into other users of
     * the adapter; build the store per connection instead. */
    curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c->extra_cas);
  }
  k->attempts++;
  /* The target and the method only: headers hold the token, and an
   * EventSub webhook body holds its secret. */
  tw_debug(LOG_MOD, "%s %s (attempt %u)", tw_helix_method_name(k->method),
           k->url + strlen(c->base), k->attempts);
  int rc = tw_uvcurl_add(c->uc, e, on_done, k);
  if (rc != 0) {
    k->attempts--;
    return rc;
  }
  k->state = ST_INFLIGHT;
  c->inflight++;
  c->stats.requests++;
  if (k->attempts > 1)
    c->stats.retried++;
  return 0;
}

/* ---- tokens ------------------------------------------------------------- */

static void on_token(void *arg, int status, const char *access_token) {
  hx_call_t *k = arg;
  tw_helix_client_t *c = k->c;
  if (k->state != ST_TOKEN)
    return;
  if (status != 0 || access_token == NULL || access_token[0] == '\0' ||
      strlen(access_token) > TW_MAX_HELIX_TOKEN) {
    /* The source's reason stands: TW_EAUTH when a person must log in,
     * TW_ECANCELED at shutdown, another code for a transient failure (the
     * caller may try the action again later; the login is not dead). */
    int err = status ? status : TW_EAUTH;
    char detail[128];
    snprintf(detail, sizeof(detail), "the token source gave no token (%s)",
             tw_strerror(status ? status : TW_EAUTH));
    finish(c, k, err, 0, NULL, detail, false);
    tw__helix_kick(c);
    return;
  }
  memcpy(k->token, access_token, strlen(access_token) + 1);
  k->has_fresh = true;
  k->state = ST_READY;
  tw__helix_kick(c);
}

/* Asks the source for a (new) token for `k`. Returns 0, or an error when
 * the source refused at once. */
static int need_token(tw_helix_client_t *c, hx_call_t *k,
                      const char *rejected) {
  if (!c->tokens.refresh)
    return TW_EAUTH;
  k->state = ST_TOKEN;
  k->has_fresh = false;
  int rc = c->tokens.refresh(c->tokens.ud, rejected, on_token, k);
  if (rc != 0) {
    k->state = ST_READY;
    return rc;
  }
  return 0;
}

/* ---- answers ------------------------------------------------------------ */

/* Sends the call again after `delay_ms` (0: as soon as its bucket
 * allows). */
static void requeue(tw_helix_client_t *c, hx_call_t *k, uint64_t delay_ms) {
  k->state = delay_ms ? ST_WAIT : ST_READY;
  k->not_before = tw_now_ms() + delay_ms;
  (void)c;
}

/* Sends that count toward max_attempts: the 401 refresh retry is extra. */
static unsigned counted(const hx_call_t *k) {
  return k->attempts - (k->refreshed ? 1u : 0u);
}

static void sentence(const char *in, char *out, size_t cap) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < cap;
       p++)
    out[o++] = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
  out[o] = '\0';
}

static void on_answer(tw_helix_client_t *c, hx_call_t *k, long status) {
  const tw_helix_endpoint_info_t *info = tw_helix_endpoint_info(k->endpoint);
  tw_bucket_t *b = call_bucket(c, k->user, k->chat_bucket);
  if (k->rl.has_limit && k->rl.limit > 0 && k->rl.limit <= TW_BUCKET_MAX &&
      k->rl.limit != b->capacity)
    tw_bucket_init(b, k->rl.limit, k->rl.limit, 60000, tw_now_ms());
  tw_helix_rl_action_t act = tw_helix_ratelimit_apply(
      &k->rl, (int)status, b, tw_wall_ms(), tw_now_ms());

  if (status >= 200 && status < 300) {
    if (status != k->success_status)
      tw_debug(LOG_MOD, "%s answered %ld (documented: %d)", info->name, status,
               k->success_status);
    finish(c, k, 0, status, NULL, NULL, false);
    return;
  }
  tw_helix_error_t herr;
  int code = tw_helix_decode_error(
      (int)status, k->resp.data ? k->resp.data : "", k->resp.len, &herr);
  char detail[TW_MAX_HELIX_DETAIL];
  sentence(herr.message, detail, sizeof(detail));

  if (herr.kind == TW_HELIX_ERR_INVALID_TOKEN && !k->refreshed) {
    k->refreshed = true;
    c->stats.refreshed++;
    tw_info(LOG_MOD,
            "%s: HTTP 401 (%s); refreshing the token and retrying once",
            info->name, detail);
    int rc = need_token(c, k, k->token);
    if (rc == 0)
      return;
    finish(c, k, code, status, &herr, detail, false);
    return;
  }
  if (herr.kind == TW_HELIX_ERR_RATE_LIMITED) {
    c->stats.rate_limited++;
    if (counted(k) < c->max_attempts) {
      uint64_t delay = 0;
      if (act == TW_HELIX_RL_ENDPOINT_LIMIT) {
        delay = tw_backoff_next(&k->backoff, tw_now_ms());
        if (delay < ENDPOINT_LIMIT_MIN_MS)
          delay = ENDPOINT_LIMIT_MIN_MS;
      }
      tw_info(LOG_MOD, "%s: HTTP 429; sending again %s", info->name,
              act == TW_HELIX_RL_ENDPOINT_LIMIT ? "after a backoff"
                                                : "after Ratelimit-Reset");
      requeue(c, k, delay);
      return;
    }
  } else if (herr.kind != TW_HELIX_ERR_INVALID_TOKEN &&
             tw_helix_should_retry(k->endpoint, &herr) &&
             !(herr.kind == TW_HELIX_ERR_SERVER && k->no_resend) &&
             counted(k) < c->max_attempts) {
    uint64_t delay = tw_backoff_next(&k->backoff, tw_now_ms());
    tw_info(LOG_MOD, "%s: HTTP %ld (%s); retrying in %llu ms", info->name,
            status, tw_helix_err_name(herr.kind), (unsigned long long)delay);
    requeue(c, k, delay);
    return;
  }
  if (k->attempts > 1 && tw_helix_already_done(k->endpoint, &herr)) {
    finish(c, k, 0, status, &herr, NULL, true);
    return;
  }
  finish(c, k, code, status, &herr, detail, false);
}

static void on_network_error(tw_helix_client_t *c, hx_call_t *k, CURLcode rc) {
  const tw_helix_endpoint_info_t *info = tw_helix_endpoint_info(k->endpoint);
  char detail[TW_MAX_HELIX_DETAIL];
  sentence(k->resp_too_big ? "the answer exceeds TW_MAX_HELIX_RESPONSE"
           : k->errbuf[0]  ? k->errbuf
                           : curl_easy_strerror(rc),
           detail, sizeof(detail));
  int err = k->resp_too_big ? TW_ETOOBIG : tw_uvcurl_error(rc);
  bool unsent = unsent_failure(k->easy, rc);
  bool may = !permanent_failure(rc) && counted(k) < c->max_attempts &&
             (unsent || tw_helix_endpoint_info(k->endpoint)->retry ==
                            TW_HELIX_RETRY_SAFE) &&
             (unsent || !k->no_resend);
  if (may) {
    uint64_t delay = tw_backoff_next(&k->backoff, tw_now_ms());
    tw_info(LOG_MOD, "%s: %s (%s); retrying in %llu ms", info->name, detail,
            unsent ? "not sent" : "may have been sent",
            (unsigned long long)delay);
    requeue(c, k, delay);
    return;
  }
  if (!unsent && k->no_resend && !permanent_failure(rc))
    tw_warn(LOG_MOD,
            "%s: %s after the request may have reached Twitch; not sending "
            "it again",
            info->name, detail);
  finish(c, k, err, 0, NULL, detail, false);
}

static void on_done(CURL *easy, CURLcode result, void *ud) {
  (void)easy;
  hx_call_t *k = ud;
  tw_helix_client_t *c = k->c;
  c->inflight--;
  k->state = ST_READY;
  if (k->canceled) {
    free_call(k);
    maybe_finish_close(c);
    return;
  }
  if (result == CURLE_ABORTED_BY_CALLBACK || c->closing) {
    finish(c, k, TW_ECANCELED, 0, NULL, "closed", false);
    maybe_finish_close(c);
    return;
  }
  if (result != CURLE_OK) {
    on_network_error(c, k, result);
  } else {
    long status = 0;
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    on_answer(c, k, status);
  }
  tw__helix_kick(c);
}

/* ---- the pump ----------------------------------------------------------- */

static void pump(tw_helix_client_t *c) {
  if (c->closing || c->in_pump)
    return;
  c->in_pump = true;
  uint64_t now = tw_now_ms();
  uint64_t wake = UINT64_MAX;
  for (hx_call_t *k = c->head; k; k = k->next) {
    if (k->state == ST_WAIT) {
      if (now < k->not_before) {
        if (k->not_before < wake)
          wake = k->not_before;
        continue;
      }
      k->state = ST_READY;
    }
    if (k->state != ST_READY)
      continue;
    if (c->inflight >= c->max_inflight)
      continue;
    const char *token = NULL;
    if (k->has_fresh) {
      token = k->token;
    } else {
      token = c->tokens.current ? c->tokens.current(c->tokens.ud) : NULL;
      if (token == NULL || token[0] == '\0') {
        int rc = need_token(c, k, NULL);
        if (rc != 0) {
          k->state = ST_FAILED;
          k->fail_err = TW_EAUTH;
        }
        continue;
      }
    }
    snprintf(k->user, sizeof(k->user), "%s", src_user(c));
    tw_bucket_t *b = call_bucket(c, k->user, k->chat_bucket);
    uint64_t w = tw_bucket_wait_ms(b, 1, now);
    if (w > 0) {
      c->stats.waited++;
      tw_debug(LOG_MOD, "%s waits %llu ms for its rate-limit bucket",
               tw_helix_endpoint_info(k->endpoint)->name,
               (unsigned long long)w);
      if (now + w < wake)
        wake = now + w;
      continue;
    }
    (void)tw_bucket_take(b, 1, now);
    k->has_fresh = false;
    int rc = start(c, k, token);
    if (rc != 0) {
      k->state = ST_FAILED;
      k->fail_err = rc;
    }
  }
  c->in_pump = false;
  /* Deliver what the walk marked, from the head, one at a time: each
   * callback may change the list. */
  for (;;) {
    hx_call_t *k = c->head;
    while (k && k->state != ST_FAILED)
      k = k->next;
    if (!k)
      break;
    finish(c, k, k->fail_err, 0, NULL,
           k->fail_err == TW_EAUTH ? "no access token available"
                                   : "cannot start the request",
           false);
  }
  tw__helix_users_deliver(c);
  if (!c->closing && wake != UINT64_MAX) {
    uint64_t n2 = tw_now_ms();
    uv_timer_start(&c->timer, on_timer, wake > n2 ? wake - n2 : 0, 0);
  }
}

/* ---- submit ------------------------------------------------------------- */

int tw__helix_submit(tw_helix_client_t *c, const tw_helix_req_t *req,
                     uint64_t delay_ms, tw_helix_done_cb cb, void *arg,
                     uint64_t *id) {
  if (!c || !req)
    return TW_EINVAL;
  if (c->closing)
    return TW_ESTATE;
  const tw_helix_endpoint_info_t *info = tw_helix_endpoint_info(req->endpoint);
  if (!info || req->target.len == 0 || req->target.data[0] != '/')
    return TW_EINVAL;
  if (c->ncalls >= c->max_queue)
    return TW_EFULL;
  hx_call_t *k = calloc(1, sizeof(*k));
  if (!k)
    return TW_ENOMEM;
  k->c = c;
  size_t blen = strlen(c->base);
  k->url = malloc(blen + req->target.len + 1);
  if (req->body.len) {
    k->body = malloc(req->body.len + 1);
    if (k->body) {
      memcpy(k->body, req->body.data, req->body.len);
      k->body[req->body.len] = '\0';
    }
  }
  if (!k->url || (req->body.len && !k->body)) {
    free(k->url);
    free(k->body);
    free(k);
    return TW_ENOMEM;
  }
  memcpy(k->url, c->base, blen);
  memcpy(k->url + blen, req->target.data, req->target.len);
  k->url[blen + req->target.len] = '\0';
  k->body_len = req->body.len;
  k->endpoint = req->endpoint;
  k->method = req->method;
  k->success_status = req->success_status;
  /* Ban User is in the table as safe to repeat (a repeated permanent ban
   * answers "already banned"), but a repeated timeout restarts its clock
   * and logs a second moderation action, so after an unknown outcome it is
   * not sent again. */
  k->no_resend =
      info->retry == TW_HELIX_RETRY_NEVER || req->endpoint == TW_HELIX_BAN_USER;
  k->chat_bucket = req->endpoint == TW_HELIX_SEND_CHAT_MESSAGE;
  k->cb = cb;
  k->arg = arg;
  k->id = tw__helix_next_id(c);
  tw_buf_init(&k->resp, TW_MAX_HELIX_RESPONSE);
  tw_backoff_init(&k->backoff, c->backoff_base, c->backoff_cap, 1, c->rand,
                  c->rand_ctx);
  if (delay_ms) {
    k->state = ST_WAIT;
    k->not_before = tw_now_ms() + delay_ms;
  }
  link_tail(c, k);
  if (id)
    *id = k->id;
  tw__helix_kick(c);
  return 0;
}

int tw_helix_client_send(tw_helix_client_t *c, const tw_helix_req_t *req,
                         tw_helix_done_cb cb, void *arg, uint64_t *id) {
  return tw__helix_submit(c, req, 0, cb, arg, id);
}

int tw_helix_client_cancel(tw_helix_client_t *c, uint64_t id) {
  if (!c || id == 0)
    return TW_EINVAL;
  for (hx_call_t *k = c->head; k; k = k->next) {
    if (k->id != id)
      continue;
    unlink_call(c, k);
    if (k->state == ST_TOKEN && c->tokens.cancel)
      c->tokens.cancel(c->tokens.ud, on_token, k);
    if (k->state == ST_INFLIGHT) {
      k->canceled = true;
      tw_uvcurl_cancel(c->uc, k->easy);
    } else {
      free_call(k);
    }
    tw__helix_kick(c);
    return 0;
  }
  if (tw__helix_users_cancel(c, id) == 0)
    return 0;
  return tw__helix_clips_cancel(c, id);
}

void tw_helix_client_stats(const tw_helix_client_t *c, tw_helix_stats_t *out) {
  if (!c || !out)
    return;
  *out = c->stats;
  out->queued = c->ncalls;
}

/* ---- lifetime ----------------------------------------------------------- */

static bool loopback_host(const char *h) {
  return strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 ||
         strcmp(h, "[::1]") == 0 || strncmp(h, "127.", 4) == 0;
}

/* Accepts https, or http for a loopback host; sets *tls. */
static int check_base(const char *url, bool *tls) {
  CURLU *u = curl_url();
  if (!u)
    return TW_ENOMEM;
  char *scheme = NULL, *host = NULL;
  int rc = TW_EINVAL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    if (strcmp(scheme, "https") == 0) {
      *tls = true;
      rc = 0;
    } else if (strcmp(scheme, "http") == 0 && loopback_host(host)) {
      *tls = false;
      rc = 0;
    }
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  if (strchr(url, '?') || strchr(url, '#'))
    rc = TW_EINVAL;
  return rc;
}

static int load_cas(const char *path, STACK_OF(X509) * *out) {
  FILE *f = fopen(path, "r");
  if (!f)
    return TW_ECONFIG;
  STACK_OF(X509) *sk = sk_X509_new_null();
  if (!sk) {
    fclose(f);
    return TW_ENOMEM;
  }
  X509 *x;
  while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
    if (!sk_X509_push(sk, x)) {
      X509_free(x);
      break;
    }
  }
  ERR_clear_error();
  fclose(f);
  if (sk_X509_num(sk) == 0) {
    sk_X509_free(sk);
    return TW_ECONFIG;
  }
  *out = sk;
  return 0;
}

static void free_client(tw_helix_client_t *c) {
  free(c->ext.users);
  if (c->extra_cas)
    sk_X509_pop_free(c->extra_cas, X509_free);
  free(c->base);
  free(c->client_id_hdr);
  free(c);
}

int tw__helix_users_init(tw_helix_client_t *c, unsigned cap, uint64_t ttl);

int tw_helix_client_new(uv_loop_t *loop, tw_uvcurl_t *uc,
                        const tw_helix_client_opts_t *o,
                        tw_helix_client_t **out) {
  if (!loop || !uc || !o || !out || !o->client_id || !o->client_id[0] ||
      !o->tokens.current || !o->tokens.refresh)
    return TW_EINVAL;
  if (strlen(o->client_id) > 256 || strpbrk(o->client_id, "\r\n"))
    return TW_EINVAL;
  if (o->max_queue > TW_MAX_HELIX_QUEUE ||
      o->max_inflight > TW_MAX_HELIX_INFLIGHT ||
      o->max_attempts > TW_MAX_HELIX_ATTEMPTS ||
      o->users_cache > TW_MAX_HELIX_USERS_CACHE ||
      (o->backoff_cap_ms && o->backoff_base_ms > o->backoff_cap_ms) ||
      o->timeout_ms < 0 || o->connect_timeout_ms < 0)
    return TW_EINVAL;
  const char *base = o->base_url ? o->base_url : TW_HELIX_DEFAULT_BASE;
  size_t blen = strlen(base);
  if (blen == 0 || blen > MAX_BASE_URL)
    return TW_EINVAL;
  bool tls = true;
  int rc = check_base(base, &tls);
  if (rc != 0)
    return rc;
  tw_helix_client_t *c = calloc(1, sizeof(*c));
  if (!c)
    return TW_ENOMEM;
  c->loop = loop;
  c->uc = uc;
  c->tls = tls;
  c->base = dupstr(base);
  if (c->base) /* targets start with '/' */
    while (blen > 0 && c->base[blen - 1] == '/')
      c->base[--blen] = '\0';
  size_t hl = strlen(o->client_id) + 16;
  c->client_id_hdr = malloc(hl);
  if (!c->base || !c->client_id_hdr) {
    free_client(c);
    return TW_ENOMEM;
  }
  snprintf(c->client_id_hdr, hl, "Client-Id: %s", o->client_id);
  if (o->ca_file) {
    rc = load_cas(o->ca_file, &c->extra_cas);
    if (rc != 0) {
      tw_error(LOG_MOD, "cannot read CA certificates from %s", o->ca_file);
      free_client(c);
      return rc;
    }
  }
  c->tokens = o->tokens;
  c->max_queue = o->max_queue ? o->max_queue : TW_HELIX_DEFAULT_QUEUE;
  c->max_inflight =
      o->max_inflight ? o->max_inflight : TW_HELIX_DEFAULT_INFLIGHT;
  c->max_attempts =
      o->max_attempts ? o->max_attempts : TW_HELIX_DEFAULT_ATTEMPTS;
  c->backoff_base =
      o->backoff_base_ms ? o->backoff_base_ms : DEF_BACKOFF_BASE_MS;
  c->backoff_cap = o->backoff_cap_ms ? o->backoff_cap_ms : DEF_BACKOFF_CAP_MS;
  if (c->backoff_cap < c->backoff_base)
    c->backoff_cap = c->backoff_base;
  c->timeout_ms = o->timeout_ms ? o->timeout_ms : DEF_TIMEOUT_MS;
  c->connect_timeout_ms =
      o->connect_timeout_ms ? o->connect_timeout_ms : DEF_CONNECT_TIMEOUT_MS;
  c->rand = o->rand;
  c->rand_ctx = o->rand_ctx;
  c->ext.clip_window_ms =
      o->clip_window_ms ? o->clip_window_ms : TW_HELIX_CLIP_WINDOW_MS;
  c->ext.clip_poll_ms =
      o->clip_poll_ms ? o->clip_poll_ms : TW_HELIX_DEFAULT_CLIP_POLL_MS;
  rc = tw__helix_users_init(
      c, o->users_cache ? o->users_cache : TW_HELIX_DEFAULT_USERS_CACHE,
      o->users_ttl_ms ? o->users_ttl_ms : TW_HELIX_DEFAULT_USERS_TTL_MS);
  if (rc != 0) {
    free_client(c);
    return rc;
  }
  if (uv_timer_init(loop, &c->timer) != 0) {
    free_client(c);
    return TW_EIO;
  }
  c->timer.data = c;
  *out = c;
  return 0;
}

static void on_timer_closed(uv_handle_t *h) {
  tw_helix_client_t *c = h->data;
  c->timer_closed = true;
  maybe_finish_close(c);
}

static void maybe_finish_close(tw_helix_client_t *c) {
  if (!c->closing || !c->timer_closed || c->inflight > 0)
    return;
  tw_helix_close_cb cb = c->close_cb;
  void *arg = c->close_arg;
  free_client(c);
  if (cb)
    cb(arg);
}

void tw_helix_client_close(tw_helix_client_t *c, tw_helix_close_cb cb,
                           void *arg) {
  if (!c || c->closing)
    return;
  c->closing = true;
  c->close_cb = cb;
  c->close_arg = arg;
  /* Composite jobs first: they withdraw their own requests. */
  tw__helix_clips_close(c);
  tw__helix_users_close(c);
  for (;;) {
    hx_call_t *k = c->head;
    while (k && k->state == ST_INFLIGHT && k->canceled)
      k = k->next;
    if (!k)
      break;
    if (k->state == ST_INFLIGHT) {
      /* The adapter calls on_done (now, or right after the current curl
       * callback), which completes it with TW_ECANCELED. Unlink first so
       * that this loop moves on either way. */
      unlink_call(c, k);
      k->prev = k->next = NULL;
      tw_uvcurl_cancel(c->uc, k->easy);
      continue;
    }
    if (k->state == ST_TOKEN && c->tokens.cancel)
      c->tokens.cancel(c->tokens.ud, on_token, k);
    finish(c, k, TW_ECANCELED, 0, NULL, "closed", false);
  }
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
