/* The simulator's EventSub webhook delivery (docs/twitch-protocol.md
 * section 3.4; docs/simulator.md, "EventSub webhooks"): the callback
 * verification, signed notifications with at-least-once redelivery,
 * revocations, the failure count that ends in
 * notification_failures_exceeded, and the faults of twitchd/sim.h
 * (redelivery, bad signature, stale timestamp).
 *
 * Every message is one delivery carrying copies of what it needs (URL,
 * secret, body), so that a subscription removed meanwhile (a revocation
 * is sent after it is gone) never leaves a dangling pointer; a delivery
 * finds its subscription again by id when it completes. Outgoing HTTP
 * runs on the loop through the curl adapter; retries wait on one timer
 * armed for the nearest due delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "proto/http_util.h"
#include "sim/sim_api_int.h"
#include "sim/sim_internal.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/eventsub_webhook.h"
#include "twitchd/log.h"
#include "twitchd/uv_curl.h"

#define MOD "sim"
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_RETRY_MS 1000u
#define DEFAULT_RETRIES 3u
#define DEFAULT_MAX_FAILURES 3u
/* Longest wait between two retries, whatever the doubling gives. */
#define MAX_BACKOFF_MS 60000u
/* How old a stale fault's timestamp is: past the 10 minutes receivers
 * must refuse. */
#define STALE_MS (11u * 60u * 1000u)
#define CHALLENGE_LEN 32
/* Connections at once to one callback host. */
#define MAX_HOST_CONNS 8

typedef struct wh_del {
  struct wh_del *next, *prev;
  struct tw_simwh *wh;
  char sub_id[TW_SIM_WEBHOOK_ID_SIZE];
  char msg_id[TW_SIM_WEBHOOK_ID_SIZE];
  char mtype[32];
  char sub_type[128], sub_version[16];
  char challenge[CHALLENGE_LEN + 1]; /* verification only */
  char *url, *secret, *body;
  size_t len;
  unsigned retry, fault;
  uint64_t due; /* monotonic ms of the next attempt; 0: in flight */
  CURL *easy;
  struct curl_slist *hdrs;
  char resp[TW_SIM_MAX_WEBHOOK_RESPONSE];
  size_t resp_len;
  int resp_over;
} wh_del_t;

/* The last notification, for redelivery and faults. */
typedef struct {
  char sub_id[TW_SIM_WEBHOOK_ID_SIZE];
  char msg_id[TW_SIM_WEBHOOK_ID_SIZE];
  char sub_type[128], sub_version[16];
  char *url, *secret, *body;
  size_t len;
  unsigned retry; /* the highest Retry sent with this id */
} wh_last_t;

typedef struct tw_simwh {
  tw_sim_t *sim;
  tw_uvcurl_t *uc;
  uv_timer_t timer;
  char *ca_file;
  wh_del_t *dels;
  size_t ndels;
  wh_last_t last;
  tw_sim_webhook_attempt_t *ring; /* TW_SIM_MAX_WEBHOOK_ATTEMPTS */
  size_t ring_head, ring_n;
  uint64_t seq;
  int closing;
} tw_simwh_t;

/* ---- signing ------------------------------------------------------------ */

int tw_sim_webhook_sign(const char *secret, const char *id,
                        const char *timestamp, const char *body, size_t len,
                        char out[72]) {
  /* Twitch's signature, computed by the same codec the client verifies
   * with (proto), so both sides read one definition. */
  if (!secret || !id || !timestamp || (!body && len) || !out ||
      len > TW_SIM_MAX_EVENTSUB_MESSAGE)
    return TW_EINVAL;
  return tw_eventsub_webhook_sign(secret, id, timestamp, body ? body : "", len,
                                  out, 72);
}

/* ---- helpers ------------------------------------------------------------ */

static void stamp_wall(uint64_t wall, char out[40]) {
  char ts[32];
  tw__simapi_rfc3339(wall, ts);
  snprintf(out, 40, "%.19s.%03u000000Z", ts, (unsigned)(wall % 1000));
}

static void new_id(tw_simwh_t *wh, char out[TW_SIM_WEBHOOK_ID_SIZE]) {
  tw__simapi_rand(wh->sim->api, out, 36, "0123456789abcdef");
  out[8] = out[13] = out[18] = out[23] = '-';
}

static void del_free(wh_del_t *d) {
  if (d->hdrs)
    curl_slist_free_all(d->hdrs);
  if (d->easy)
    curl_easy_cleanup(d->easy);
  free(d->url);
  tw__free_secret(d->secret);
  free(d->body);
  free(d);
}

static void del_unlink(tw_simwh_t *wh, wh_del_t *d) {
  if (d->prev)
    d->prev->next = d->next;
  else
    wh->dels = d->next;
  if (d->next)
    d->next->prev = d->prev;
  wh->ndels--;
}

static void record(tw_simwh_t *wh, const wh_del_t *d, long status, int error) {
  size_t i;
  if (wh->ring_n < TW_SIM_MAX_WEBHOOK_ATTEMPTS) {
    i = (wh->ring_head + wh->ring_n++) % TW_SIM_MAX_WEBHOOK_ATTEMPTS;
  } else {
    i = wh->ring_head;
    wh->ring_head = (wh->ring_head + 1) % TW_SIM_MAX_WEBHOOK_ATTEMPTS;
  }
  tw_sim_webhook_attempt_t *a = &wh->ring[i];
  memset(a, 0, sizeof(*a));
  a->seq = ++wh->seq;
  snprintf(a->url, sizeof(a->url), "%s", d->url ? d->url : "");
  snprintf(a->message_type, sizeof(a->message_type), "%s", d->mtype);
  snprintf(a->message_id, sizeof(a->message_id), "%s", d->msg_id);
  snprintf(a->subscription_id, sizeof(a->subscription_id), "%s", d->sub_id);
  a->retry = d->retry;
  a->fault = d->fault;
  a->status = status;
  a->error = error;
  tw_debug(MOD, "webhook %s %s retry %u: status %ld error %d", d->mtype,
           d->msg_id, d->retry, status, error);
}

static tw_simapi_sub_t *find_sub(tw_simwh_t *wh, const char *id) {
  return tw__simmap_get(&wh->sim->api->subs, id, strlen(id));
}

static void set_status(tw_simapi_sub_t *s, const char *status) {
  json_object_set_new(s->obj, "status", json_string(status));
}

/* ---- sending ------------------------------------------------------------ */

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
  wh_del_t *d = ud;
  size_t len = sz * n;
  size_t room = sizeof(d->resp) - d->resp_len;
  if (len > room)
    d->resp_over = 1;
  size_t k = len < room ? len : room;
  memcpy(d->resp + d->resp_len, p, k);
  d->resp_len += k;
  return len;
}

static void on_done(CURL *easy, CURLcode rc, void *ud);
static void rearm(tw_simwh_t *wh);

/* Starts one attempt: signs with a fresh timestamp (a stale fault's is 11
 * minutes old) and POSTs. A failure to start is recorded and handled like
 * a failed attempt. */
static void attempt(tw_simwh_t *wh, wh_del_t *d) {
  d->due = 0;
  d->resp_len = 0;
  d->resp_over = 0;
  if (d->hdrs) {
    curl_slist_free_all(d->hdrs);
    d->hdrs = NULL;
  }
  uint64_t wall = tw__simapi_wall(wh->sim->api, tw_now_ms());
  if (d->fault & TW_SIM_WEBHOOK_STALE)
    wall = wall > STALE_MS ? wall - STALE_MS : 0;
  char ts[40], sig[72], line[256];
  stamp_wall(wall, ts);
  if (tw_sim_webhook_sign(d->secret, d->msg_id, ts, d->body, d->len, sig)) {
    on_done(NULL, CURLE_FAILED_INIT, d);
    return;
  }
  if (d->fault & TW_SIM_WEBHOOK_BAD_SIGNATURE)
    sig[7] = sig[7] == '0' ? '1' : '0'; /* one hex digit off */
  const char *h[] = {"Content-Type: application/json", "Expect:", NULL};
  struct curl_slist *l = NULL;
  for (size_t i = 0; h[i]; i++)
    l = curl_slist_append(l, h[i]);
#define HDR(...)                                                               \
  do {                                                                         \
    snprintf(line, sizeof(line), __VA_ARGS__);                                 \
    l = curl_slist_append(l, line);                                            \
  } while (0)
  HDR("Twitch-Eventsub-Message-Id: %s", d->msg_id);
  HDR("Twitch-Eventsub-Message-Retry: %u", d->retry);
  HDR("Twitch-Eventsub-Message-Type: %s", d->mtype);
  HDR("Twitch-Eventsub-Message-Signature: %s", sig);
  HDR("Twitch-Eventsub-Message-Timestamp: %s", ts);
  HDR("Twitch-Eventsub-Subscription-Type: %s", d->sub_type);
  HDR("Twitch-Eventsub-Subscription-Version: %s", d->sub_version);
#undef HDR
  d->hdrs = l;
  if (!d->easy)
    d->easy = curl_easy_init();
  CURL *e = d->easy;
  if (!e || !l) {
    on_done(NULL, CURLE_OUT_OF_MEMORY, d);
    return;
  }
  curl_easy_reset(e);
  uint32_t tmo = wh->sim->o.eventsub.webhook_timeout_ms;
  curl_easy_setopt(e, CURLOPT_URL, d->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never an environment proxy */
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* as Twitch */
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   (long)(tmo ? tmo : DEFAULT_TIMEOUT_MS));
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)d->len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->hdrs);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
  if (wh->ca_file)
    curl_easy_setopt(e, CURLOPT_CAINFO, wh->ca_file);
  if (tw_uvcurl_add(wh->uc, e, on_done, d) != 0)
    on_done(NULL, CURLE_FAILED_INIT, d);
}

/* The subscription failed too often: its status says so, and a revocation
 * is sent to it (once, not retried). */
static void failures_exceeded(tw_simwh_t *wh, tw_simapi_sub_t *s) {
  set_status(s, "notification_failures_exceeded");
  json_t *p = json_object();
  json_t *o = json_deep_copy(s->obj);
  json_object_set_new(p, "subscription", o);
  tw__simwh_send(wh->sim, s, "revocation", p);
  json_decref(p);
}

static void on_done(CURL *easy, CURLcode rc, void *ud) {
  wh_del_t *d = ud;
  tw_simwh_t *wh = d->wh;
  long status = 0;
  if (easy && rc == CURLE_OK)
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  int error = rc == CURLE_OK ? 0 : tw_uvcurl_error(rc);
  record(wh, d, status, error);
  if (wh->closing) {
    del_unlink(wh, d);
    del_free(d);
    return;
  }
  int ok = rc == CURLE_OK && status >= 200 && status < 300;
  tw_simapi_sub_t *s = find_sub(wh, d->sub_id);
  if (strcmp(d->mtype, "webhook_callback_verification") == 0) {
    /* Exactly the challenge with 200, nothing more. */
    int good = rc == CURLE_OK && status == 200 && !d->resp_over &&
               d->resp_len == strlen(d->challenge) &&
               memcmp(d->resp, d->challenge, d->resp_len) == 0;
    if (s)
      set_status(s, good ? "enabled" : "webhook_callback_verification_failed");
  } else if (strcmp(d->mtype, "notification") == 0 && !d->fault && !ok) {
    uint32_t max = wh->sim->o.eventsub.webhook_retries;
    max = max == TW_SIM_OFF ? 0 : max ? max : DEFAULT_RETRIES;
    if (d->retry < max && s &&
        strcmp(json_string_value(json_object_get(s->obj, "status")),
               "enabled") == 0) {
      uint32_t base = wh->sim->o.eventsub.webhook_retry_ms;
      uint64_t wait = (uint64_t)(base ? base : DEFAULT_RETRY_MS)
                      << (d->retry < 16 ? d->retry : 16);
      if (wait > MAX_BACKOFF_MS)
        wait = MAX_BACKOFF_MS;
      d->retry++;
      if (strcmp(wh->last.msg_id, d->msg_id) == 0 && d->retry > wh->last.retry)
        wh->last.retry = d->retry;
      d->due = tw_now_ms() + wait;
      rearm(wh);
      return;
    }
    uint32_t maxf = wh->sim->o.eventsub.webhook_max_failures;
    if (s && ++s->failures >= (maxf ? maxf : DEFAULT_MAX_FAILURES) &&
        strcmp(json_string_value(json_object_get(s->obj, "status")),
               "enabled") == 0)
      failures_exceeded(wh, s);
  } else if (strcmp(d->mtype, "notification") == 0 && !d->fault && s) {
    s->failures = 0;
  }
  del_unlink(wh, d);
  del_free(d);
}

static void on_timer(uv_timer_t *t) {
  tw_simwh_t *wh = t->data;
  uint64_t now = tw_now_ms();
  /* Attempts may finish (and unlink) at once: take the next one first. */
  for (wh_del_t *d = wh->dels, *next; d; d = next) {
    next = d->next;
    if (d->due && d->due <= now)
      attempt(wh, d);
  }
  rearm(wh);
}

static void rearm(tw_simwh_t *wh) {
  if (wh->closing)
    return;
  uint64_t best = 0;
  for (wh_del_t *d = wh->dels; d; d = d->next)
    if (d->due && (!best || d->due < best))
      best = d->due;
  if (!best) {
    uv_timer_stop(&wh->timer);
    return;
  }
  uint64_t now = tw_now_ms();
  uv_timer_start(&wh->timer, on_timer, best > now ? best - now : 0, 0);
}

/* Queues a delivery due now (the timer starts it from the loop, never
 * from inside the caller). Takes `body` (malloc'd). */
static int enqueue(tw_simwh_t *wh, const char *sub_id, const char *url,
                   const char *secret, const char *mtype, const char *sub_type,
                   const char *sub_version, char *body, size_t len,
                   const char *msg_id, unsigned retry, unsigned fault,
                   const char *challenge) {
  wh_del_t *d = calloc(1, sizeof(*d));
  if (!d) {
    free(body);
    return TW_ENOMEM;
  }
  d->wh = wh;
  d->body = body;
  d->len = len;
  d->url = strdup(url);
  d->secret = strdup(secret);
  snprintf(d->sub_id, sizeof(d->sub_id), "%s", sub_id);
  snprintf(d->mtype, sizeof(d->mtype), "%s", mtype);
  snprintf(d->sub_type, sizeof(d->sub_type), "%s", sub_type);
  snprintf(d->sub_version, sizeof(d->sub_version), "%s", sub_version);
  if (msg_id)
    snprintf(d->msg_id, sizeof(d->msg_id), "%s", msg_id);
  else
    new_id(wh, d->msg_id);
  if (challenge)
    snprintf(d->challenge, sizeof(d->challenge), "%s", challenge);
  d->retry = retry;
  d->fault = fault;
  if (!d->url || !d->secret) {
    del_free(d);
    return TW_ENOMEM;
  }
  if (wh->ndels >= TW_SIM_MAX_WEBHOOK_PENDING ||
      len > TW_SIM_MAX_EVENTSUB_MESSAGE) {
    int e = wh->ndels >= TW_SIM_MAX_WEBHOOK_PENDING ? TW_EFULL : TW_ETOOBIG;
    record(wh, d, 0, e);
    del_free(d);
    return e;
  }
  d->next = wh->dels;
  if (wh->dels)
    wh->dels->prev = d;
  wh->dels = d;
  wh->ndels++;
  d->due = tw_now_ms();
  rearm(wh);
  return 0;
}

static const char *jstr(json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v ? v : "";
}

static const char *sub_callback(const tw_simapi_sub_t *s) {
  return jstr(json_object_get(s->obj, "transport"), "callback");
}

static void last_clear(wh_last_t *l) {
  free(l->url);
  tw__free_secret(l->secret);
  free(l->body);
  memset(l, 0, sizeof(*l));
}

int tw__simwh_send(tw_sim_t *sim, const tw_simapi_sub_t *sub, const char *mtype,
                   json_t *payload) {
  tw_simwh_t *wh = sim->wh;
  if (!wh || wh->closing || !sub->secret)
    return TW_ESTATE;
  char *body = json_dumps(payload, JSON_COMPACT);
  if (!body)
    return TW_ENOMEM;
  size_t len = strlen(body);
  char id[TW_SIM_WEBHOOK_ID_SIZE];
  new_id(wh, id);
  const char *url = sub_callback(sub);
  if (strcmp(mtype, "notification") == 0 &&
      len <= TW_SIM_MAX_EVENTSUB_MESSAGE) {
    /* Kept for redelivery and the faults. */
    last_clear(&wh->last);
    wh->last.url = strdup(url);
    wh->last.secret = strdup(sub->secret);
    wh->last.body = malloc(len + 1);
    if (wh->last.url && wh->last.secret && wh->last.body) {
      memcpy(wh->last.body, body, len + 1);
      wh->last.len = len;
      snprintf(wh->last.sub_id, sizeof(wh->last.sub_id), "%s",
               jstr(sub->obj, "id"));
      snprintf(wh->last.msg_id, sizeof(wh->last.msg_id), "%s", id);
      snprintf(wh->last.sub_type, sizeof(wh->last.sub_type), "%s",
               jstr(sub->obj, "type"));
      snprintf(wh->last.sub_version, sizeof(wh->last.sub_version), "%s",
               jstr(sub->obj, "version"));
    } else {
      last_clear(&wh->last);
    }
  }
  return enqueue(wh, jstr(sub->obj, "id"), url, sub->secret, mtype,
                 jstr(sub->obj, "type"), jstr(sub->obj, "version"), body, len,
                 id, 0, 0, NULL);
}

void tw__simwh_verify(tw_sim_t *sim, tw_simapi_sub_t *sub) {
  tw_simwh_t *wh = sim->wh;
  if (!wh || wh->closing || !sub->secret)
    return;
  char ch[CHALLENGE_LEN + 1];
  tw__simapi_rand(sim->api, ch, CHALLENGE_LEN,
                  "abcdefghijklmnopqrstuvwxyz0123456789-");
  json_t *p = json_object();
  json_object_set_new(p, "challenge", json_string(ch));
  json_t *o = json_deep_copy(sub->obj);
  json_object_set_new(p, "subscription", o);
  char *body = json_dumps(p, JSON_COMPACT);
  json_decref(p);
  if (!body) {
    set_status(sub, "webhook_callback_verification_failed");
    return;
  }
  if (enqueue(wh, jstr(sub->obj, "id"), sub_callback(sub), sub->secret,
              "webhook_callback_verification", jstr(sub->obj, "type"),
              jstr(sub->obj, "version"), body, strlen(body), NULL, 0, 0,
              ch) != 0)
    set_status(sub, "webhook_callback_verification_failed");
}

/* ---- lifetime ----------------------------------------------------------- */

int tw__simwh_start(tw_sim_t *sim) {
  tw_simwh_t *wh = calloc(1, sizeof(*wh));
  if (!wh)
    return TW_ENOMEM;
  wh->ring = calloc(TW_SIM_MAX_WEBHOOK_ATTEMPTS, sizeof(*wh->ring));
  const char *ca = sim->o.eventsub.webhook_ca_file;
  if (ca)
    wh->ca_file = strdup(ca);
  /* The caller's string is not kept. */
  sim->o.eventsub.webhook_ca_file = NULL;
  wh->uc = wh->ring && (!ca || wh->ca_file) ? tw_uvcurl_new(sim->loop) : NULL;
  if (!wh->uc) {
    free(wh->ring);
    free(wh->ca_file);
    free(wh);
    return TW_ENOMEM;
  }
  /* A burst of deliveries to one receiver queues inside curl rather than
   * opening hundreds of connections at once. */
  curl_multi_setopt(tw_uvcurl_multi(wh->uc), CURLMOPT_MAX_HOST_CONNECTIONS,
                    (long)MAX_HOST_CONNS);
  wh->sim = sim;
  uv_timer_init(sim->loop, &wh->timer);
  wh->timer.data = wh;
  sim->wh = wh;
  return 0;
}

static void on_uc_closed(void *ud) {
  tw__sim_handle_closed(ud);
}

static void on_wh_timer_closed(uv_handle_t *h) {
  tw_simwh_t *wh = h->data;
  tw__sim_handle_closed(wh->sim);
}

void tw__simwh_close(tw_sim_t *sim) {
  tw_simwh_t *wh = sim->wh;
  if (!wh || wh->closing)
    return;
  wh->closing = 1;
  sim->handles_open += 2;
  uv_close((uv_handle_t *)&wh->timer, on_wh_timer_closed);
  /* Transfers in flight are aborted now; their done callbacks free them. */
  tw_uvcurl_close(wh->uc, on_uc_closed, sim);
}

void tw__simwh_free(tw_sim_t *sim) {
  tw_simwh_t *wh = sim->wh;
  if (!wh)
    return;
  while (wh->dels) {
    wh_del_t *d = wh->dels;
    del_unlink(wh, d);
    del_free(d);
  }
  last_clear(&wh->last);
  free(wh->ring);
  free(wh->ca_file);
  free(wh);
  sim->wh = NULL;
}

/* ---- public API --------------------------------------------------------- */

int tw_sim_webhook_redeliver(tw_sim_t *sim) {
  tw_simwh_t *wh = sim ? sim->wh : NULL;
  if (!wh || wh->closing || !wh->last.body)
    return TW_ENOTFOUND;
  wh_last_t *l = &wh->last;
  char *body = malloc(l->len + 1);
  if (!body)
    return TW_ENOMEM;
  memcpy(body, l->body, l->len + 1);
  l->retry++;
  int rc =
      enqueue(wh, l->sub_id, l->url, l->secret, "notification", l->sub_type,
              l->sub_version, body, l->len, l->msg_id, l->retry, 0, NULL);
  return rc == 0 ? 1 : rc;
}

int tw_sim_webhook_fault(tw_sim_t *sim, unsigned fault) {
  if (fault != TW_SIM_WEBHOOK_BAD_SIGNATURE && fault != TW_SIM_WEBHOOK_STALE)
    return TW_EINVAL;
  tw_simwh_t *wh = sim ? sim->wh : NULL;
  if (!wh || wh->closing || !wh->last.body)
    return TW_ENOTFOUND;
  wh_last_t *l = &wh->last;
  char *body = malloc(l->len + 1);
  if (!body)
    return TW_ENOMEM;
  memcpy(body, l->body, l->len + 1);
  int rc =
      enqueue(wh, l->sub_id, l->url, l->secret, "notification", l->sub_type,
              l->sub_version, body, l->len, NULL, 0, fault, NULL);
  return rc == 0 ? 1 : rc;
}

size_t tw_sim_webhook_attempts(tw_sim_t *sim, uint64_t since,
                               tw_sim_webhook_attempt_t *out, size_t max) {
  tw_simwh_t *wh = sim ? sim->wh : NULL;
  if (!wh)
    return 0;
  size_t n = 0;
  for (size_t k = 0; k < wh->ring_n; k++) {
    const tw_sim_webhook_attempt_t *a =
        &wh->ring[(wh->ring_head + k) % TW_SIM_MAX_WEBHOOK_ATTEMPTS];
    if (a->seq <= since)
      continue;
    if (out && n < max)
      out[n] = *a;
    n++;
  }
  return n;
}
