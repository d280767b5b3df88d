/* Outgoing webhooks to Discord, Slack and Rocket.Chat (see
 * include/twitchd/webhook.h and docs/connectors.md).
 *
 * One instance is a FIFO of messages, each already turned into its JSON
 * body, and a single reusable curl easy handle: only the head of the queue
 * is ever in flight, which is what keeps delivery in order. One uv_timer_t
 * does all the waiting (the start of the next request, backoff, 429 waits,
 * Discord's rate-limit pauses), so a request is always started from the
 * timer callback and never from inside tw_webhook_send(): a done callback
 * can therefore never run inside a send.
 *
 * Closing: the request in flight is cancelled through the curl adapter,
 * which calls our done callback (at once, or right after the curl callback
 * we might be inside of); once nothing is in flight, every queued message
 * is completed with TW_ECANCELED and the timer is closed; its close
 * callback frees the instance. */
#include "twitchd/webhook.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define LOG_MOD "webhook"

/* Defaults for options left 0. */
#define DEF_ATTEMPTS 5
#define DEF_BACKOFF_BASE_MS 1000
#define DEF_BACKOFF_CAP_MS 60000
#define DEF_TIMEOUT_MS 15000
#define DEF_CONNECT_TIMEOUT_MS 10000

/* A JSON body is at most the text with every byte escaped as \u00XX, plus
 * the username and the keys. */
#define MAX_JSON_BODY (6 * TW_MAX_WEBHOOK_TEXT + 6 * 320 + 128)

/* Discord's cut text ends with U+2026, one UTF-16 unit. */
#define ELLIPSIS "\xe2\x80\xa6"

typedef struct wh_msg {
  struct wh_msg *next;
  uint64_t id;
  unsigned attempts;
  tw_webhook_done_cb cb;
  void *ud;
  size_t len;
  char body[]; /* the JSON request body, NUL-terminated */
} wh_msg_t;

struct tw_webhook {
  uv_loop_t *loop;
  tw_uvcurl_t *uc;
  char *name;
  tw_webhook_kind_t kind;
  char *url; /* what is requested (Discord: with wait=true); secret */
  char *username;
  char *ca_file;
  bool tls;
  unsigned max_queue;
  unsigned max_attempts;
  long timeout_ms;
  long connect_timeout_ms;
  double time_scale;

  CURL *easy;
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  tw_buf_t resp; /* response body, the first TW_MAX_WEBHOOK_BODY bytes */
  /* Response headers of interest; -1 when absent. */
  int64_t h_retry_after_ms;
  int64_t h_remaining;
  int64_t h_reset_after_ms;

  wh_msg_t *head, *tail;
  unsigned count;
  uint64_t next_id;
  bool inflight;
  bool timer_armed;
  uint64_t hold_until; /* monotonic ms before which nothing is started */
  tw_backoff_t backoff;

  uv_timer_t timer;
  bool closing;       /* tw_webhook_close() was called */
  bool close_started; /* the queue was drained and the timer is closing */
  bool dead;          /* the curl adapter went away under us */
  tw_webhook_close_cb close_cb;
  void *close_ud;

  tw_webhook_stats_t stats;
};

/* ---- kinds ---------------------------------------------------------------
 */

static const char *const kind_names[] = {"discord", "slack", "rocketchat"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *tw_webhook_kind_name(tw_webhook_kind_t kind) {
  return (unsigned)kind < NKINDS ? kind_names[kind] : NULL;
}

int tw_webhook_kind_parse(const char *s, tw_webhook_kind_t *out) {
  if (s == NULL || out == NULL)
    return TW_EINVAL;
  for (size_t i = 0; i < NKINDS; i++) {
    if (strcmp(s, kind_names[i]) == 0) {
      *out = (tw_webhook_kind_t)i;
      return 0;
    }
  }
  return TW_EINVAL;
}

/* ---- text and JSON -------------------------------------------------------
 */

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length, or 0
 * when it is not valid UTF-8 (overlong forms, surrogates and code points
 * past U+10FFFF included). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  if (n == 0)
    return 0;
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    v = c & 0x1fu;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    v = c & 0x0fu;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    v = c & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3fu);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

/* Checks that s[0..n) is valid UTF-8 and counts its UTF-16 code units. */
static bool utf8_check(const char *s, size_t n, size_t *units) {
  const unsigned char *p = (const unsigned char *)s;
  size_t u = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t l = utf8_next(p + i, n - i, &cp);
    if (l == 0)
      return false;
    u += cp >= 0x10000 ? 2 : 1;
    i += l;
  }
  if (units != NULL)
    *units = u;
  return true;
}

/* The byte length of the longest prefix of s (valid UTF-8) that is at most
 * `max_units` UTF-16 code units long. */
static size_t utf16_prefix(const char *s, size_t n, size_t max_units) {
  const unsigned char *p = (const unsigned char *)s;
  size_t u = 0, i = 0;
  while (i < n) {
    uint32_t cp;
    size_t l = utf8_next(p + i, n - i, &cp);
    size_t w = cp >= 0x10000 ? 2 : 1;
    if (l == 0 || u + w > max_units)
      break;
    u += w;
    i += l;
  }
  return i;
}

int tw_webhook_format(tw_webhook_kind_t kind, const char *text,
                      const char *username, tw_buf_t *out, int *truncated) {
  if (text == NULL || out == NULL || (unsigned)kind >= NKINDS)
    return TW_EINVAL;
  size_t len = strlen(text), units = 0;
  if (len == 0 || !utf8_check(text, len, &units))
    return TW_EINVAL;
  if (username != NULL &&
      (username[0] == '\0' || !utf8_check(username, strlen(username), NULL)))
    return TW_EINVAL;
  if (truncated != NULL)
    *truncated = 0;

  json_t *obj = json_object();
  if (obj == NULL)
    return TW_ENOMEM;
  json_t *jtext = NULL;
  if (kind == TW_WEBHOOK_DISCORD && units > TW_WEBHOOK_DISCORD_MAX_CHARS) {
    /* Cut rather than refuse: a go-live notice with a long title is still
     * worth posting, and Discord would answer 400 to the whole message. */
    size_t keep = utf16_prefix(text, len, TW_WEBHOOK_DISCORD_MAX_CHARS - 1);
    char *cut = malloc(keep + sizeof(ELLIPSIS));
    if (cut != NULL) {
      memcpy(cut, text, keep);
      memcpy(cut + keep, ELLIPSIS, sizeof(ELLIPSIS));
      jtext = json_stringn(cut, keep + sizeof(ELLIPSIS) - 1);
      free(cut);
    }
    if (truncated != NULL)
      *truncated = 1;
  } else {
    jtext = json_stringn(text, len);
  }
  const char *text_key = kind == TW_WEBHOOK_DISCORD ? "content" : "text";
  const char *name_key = kind == TW_WEBHOOK_ROCKETCHAT ? "alias" : "username";
  int rc = TW_ENOMEM;
  if (jtext == NULL || json_object_set_new(obj, text_key, jtext) != 0)
    goto done;
  if (username != NULL &&
      json_object_set_new(obj, name_key, json_string(username)) != 0)
    goto done;
  /* jansson keeps insertion order, so the body reads as documented. */
  char *s = json_dumps(obj, JSON_COMPACT);
  if (s == NULL)
    goto done;
  rc = tw_buf_append_str(out, s);
  free(s);
done:
  json_decref(obj);
  return rc;
}

/* ---- responses -----------------------------------------------------------
 */

/* Seconds as written in Retry-After and Discord's headers ("3", "0.25")
 * into milliseconds, rounded up so that we never come back early. */
static int parse_seconds_ms(const char *s, size_t n, int64_t *out) {
  size_t i = 0;
  int64_t whole = 0, frac = 0, scale = 100;
  bool digits = false, rest = false;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    if (whole > 1000000000)
      return -1;
    whole = whole * 10 + (s[i++] - '0');
    digits = true;
  }
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (scale > 0)
        frac += (s[i] - '0') * scale;
      else if (s[i] != '0')
        rest = true;
      scale /= 10;
      i++;
      digits = true;
    }
  }
  if (!digits || i != n)
    return -1;
  *out = whole * 1000 + frac + (rest ? 1 : 0);
  return 0;
}

/* Retry-After is delta-seconds or an HTTP date (RFC 9110 10.2.3). */
static int64_t parse_retry_after(const char *v, size_t n) {
  int64_t ms;
  if (parse_seconds_ms(v, n, &ms) == 0)
    return ms;
  char date[128];
  if (n == 0 || n >= sizeof(date))
    return -1;
  memcpy(date, v, n);
  date[n] = '\0';
  time_t t = curl_getdate(date, NULL);
  if (t == (time_t)-1)
    return -1;
  int64_t delta = (int64_t)t * 1000 - (int64_t)tw_wall_ms();
  return delta > 0 ? delta : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  tw_webhook_t *wh = ud;
  size_t n = size * nmemb;
  /* A new status line (after a 100 Continue, say): forget what came
   * before. */
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    wh->h_retry_after_ms = wh->h_remaining = wh->h_reset_after_ms = -1;
    return n;
  }
  const char *colon = memchr(p, ':', n);
  if (colon == NULL)
    return n;
  size_t nlen = (size_t)(colon - p);
  const char *v = colon + 1, *end = p + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
                     end[-1] == '\t'))
    end--;
  size_t vlen = (size_t)(end - v);
  int64_t ms;
  if (nlen == 11 && strncasecmp(p, "Retry-After", 11) == 0) {
    wh->h_retry_after_ms = parse_retry_after(v, vlen);
  } else if (nlen == 21 && strncasecmp(p, "X-RateLimit-Remaining", 21) == 0) {
    if (parse_seconds_ms(v, vlen, &ms) == 0)
      wh->h_remaining = ms / 1000;
  } else if (nlen == 23 && strncasecmp(p, "X-RateLimit-Reset-After", 23) == 0) {
    if (parse_seconds_ms(v, vlen, &ms) == 0)
      wh->h_reset_after_ms = ms;
  }
  return n;
}

/* Keeps the start of the body for error texts; the rest is read and
 * dropped, since failing the transfer would turn a long answer into a
 * network error. */
static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  tw_webhook_t *wh = ud;
  size_t n = size * nmemb;
  size_t room = wh->resp.cap - wh->resp.len;
  if (room > 0)
    (void)tw_buf_append(&wh->resp, p, n < room ? n : room);
  return n;
}

/* Copies `s` (n bytes) into out as one printable line: control characters
 * become spaces, the cut falls on a character boundary, and registered
 * secrets are redacted. */
static void clean_text(const char *s, size_t n, char *out, size_t cap) {
  char tmp[TW_MAX_WEBHOOK_ERRTEXT + 1];
  size_t o = 0;
  while (n > 0 && (*s == ' ' || *s == '\r' || *s == '\n' || *s == '\t')) {
    s++;
    n--;
  }
  for (size_t i = 0; i < n && o < TW_MAX_WEBHOOK_ERRTEXT;) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      tmp[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
      i++;
      continue;
    }
    uint32_t cp;
    size_t l = utf8_next((const unsigned char *)s + i, n - i, &cp);
    if (l == 0) {
      tmp[o++] = '?';
      i++;
      continue;
    }
    if (o + l > TW_MAX_WEBHOOK_ERRTEXT)
      break;
    memcpy(tmp + o, s + i, l);
    o += l;
    i += l;
  }
  while (o > 0 && tmp[o - 1] == ' ')
    o--;
  tmp[o] = '\0';
  tw_log_redact(tmp, out, cap);
}

/* The service's error text from the response body: Discord's
 * {"message", "code", "errors"}, Rocket.Chat's and Slack's {"error"}, or
 * Slack's plain-text codes (invalid_payload, channel_not_found...). */
static void response_text(const tw_webhook_t *wh, char *out, size_t cap) {
  const char *body = wh->resp.data ? wh->resp.data : "";
  size_t len = wh->resp.len;
  out[0] = '\0';
  if (len == 0)
    return;
  json_t *j = json_loadb(body, len, 0, NULL);
  if (json_is_object(j)) {
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (msg == NULL)
      msg = json_string_value(json_object_get(j, "error"));
    if (msg != NULL) {
      char buf[TW_MAX_WEBHOOK_ERRTEXT * 2];
      size_t o = (size_t)snprintf(buf, sizeof(buf), "%s", msg);
      json_t *code = json_object_get(j, "code");
      if (json_is_integer(code) && o < sizeof(buf))
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, " (code %lld)",
                              (long long)json_integer_value(code));
      /* Discord says which field was wrong only in "errors". */
      json_t *errs = json_object_get(j, "errors");
      char *dump = errs ? json_dumps(errs, JSON_COMPACT) : NULL;
      if (dump != NULL && o < sizeof(buf))
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, ": %s", dump);
      free(dump);
      if (o >= sizeof(buf))
        o = sizeof(buf) - 1;
      clean_text(buf, o, out, cap);
      json_decref(j);
      return;
    }
  }
  json_decref(j);
  clean_text(body, len, out, cap);
}

/* ---- the queue -----------------------------------------------------------
 */

static uint64_t scaled(const tw_webhook_t *wh, uint64_t ms) {
  if (wh->time_scale == 1.0)
    return ms;
  double v = (double)ms * wh->time_scale;
  return v < 1.0 ? (ms > 0 ? 1 : 0) : (uint64_t)v;
}

static void on_timer(uv_timer_t *t);

static void schedule(tw_webhook_t *wh, uint64_t delay_ms) {
  wh->timer_armed = true;
  uv_timer_start(&wh->timer, on_timer, delay_ms, 0);
}

/* Starts the head of the queue from the timer when nothing else is going
 * on (no request in flight, no wait pending). */
static void pump(tw_webhook_t *wh) {
  if (wh->closing || wh->dead || wh->inflight || wh->timer_armed ||
      wh->head == NULL)
    return;
  uint64_t now = tw_now_ms();
  schedule(wh, wh->hold_until > now ? wh->hold_until - now : 0);
}

/* Removes the head and reports its outcome. */
static void complete(tw_webhook_t *wh, int err, long status,
                     const char *detail) {
  wh_msg_t *m = wh->head;
  wh->head = m->next;
  if (wh->head == NULL)
    wh->tail = NULL;
  wh->count--;
  wh->stats.queued = wh->count;
  if (err == 0)
    wh->stats.sent++;
  else if (err == TW_ECANCELED)
    wh->stats.canceled++;
  else
    wh->stats.failed++;
  if (m->cb != NULL) {
    tw_webhook_result_t r = {m->id, err, status, m->attempts,
                             detail ? detail : ""};
    m->cb(wh, &r, m->ud);
  }
  free(m);
}

static void on_closed(uv_handle_t *h) {
  tw_webhook_t *wh = h->data;
  tw_webhook_close_cb cb = wh->close_cb;
  void *ud = wh->close_ud;
  if (wh->easy != NULL)
    curl_easy_cleanup(wh->easy);
  curl_slist_free_all(wh->headers);
  tw_buf_free(&wh->resp);
  free(wh->name);
  free(wh->url);
  free(wh->username);
  free(wh->ca_file);
  free(wh);
  if (cb != NULL)
    cb(ud);
}

/* Completes everything still queued with `err`. A callback may close the
 * instance, which drains the rest itself; the loop then finds it empty. */
static void fail_all(tw_webhook_t *wh, int err, const char *why) {
  while (wh->head != NULL)
    complete(wh, err, 0, why);
}

/* The end of closing, once nothing is in flight. */
static void finish_close(tw_webhook_t *wh) {
  if (wh->close_started)
    return;
  wh->close_started = true;
  fail_all(wh, TW_ECANCELED, "closed before delivery");
  wh->timer_armed = false;
  uv_close((uv_handle_t *)&wh->timer, on_closed);
}

/* The HTTP client is gone (its adapter was closed before us): nothing can
 * be sent any more. */
static void go_dead(tw_webhook_t *wh) {
  if (wh->dead)
    return;
  wh->dead = true;
  tw_warn(LOG_MOD, "%s: the HTTP client was closed; dropping %u message%s",
          wh->name, wh->count, wh->count == 1 ? "" : "s");
  fail_all(wh, TW_ECANCELED, "the HTTP client was closed");
}

/* A failure worth another try: after `wait_ms` when the service said how
 * long (-1: backoff), unless the message has used all its attempts. */
static void retry_or_fail(tw_webhook_t *wh, int err, long status,
                          const char *what, const char *detail,
                          int64_t wait_ms) {
  wh_msg_t *m = wh->head;
  const char *sep = detail[0] ? ": " : "";
  if (m->attempts >= wh->max_attempts) {
    tw_error(LOG_MOD,
             "%s: message %llu not delivered after %u attempt%s (last: "
             "%s%s%s)",
             wh->name, (unsigned long long)m->id, m->attempts,
             m->attempts == 1 ? "" : "s", what, sep, detail);
    tw_backoff_reset(&wh->backoff);
    complete(wh, err, status, detail);
    return;
  }
  wh->stats.retried++;
  uint64_t delay;
  if (wait_ms >= 0) {
    delay = (uint64_t)wait_ms;
    tw_warn(LOG_MOD,
            "%s: message %llu attempt %u: %s%s%s; retrying in %llu ms as the "
            "service asked",
            wh->name, (unsigned long long)m->id, m->attempts, what, sep, detail,
            (unsigned long long)delay);
  } else {
    delay = tw_backoff_next(&wh->backoff, tw_now_ms());
    tw_warn(LOG_MOD, "%s: message %llu attempt %u: %s%s%s; retrying in %llu ms",
            wh->name, (unsigned long long)m->id, m->attempts, what, sep, detail,
            (unsigned long long)delay);
  }
  schedule(wh, scaled(wh, delay));
}

/* How long a 429 asks us to wait: Discord's retry_after (seconds, with a
 * fraction) is more precise than its Retry-After header, which is rounded
 * up to whole seconds; other services only send the header. -1: no hint. */
static int64_t rate_limit_wait(const tw_webhook_t *wh) {
  int64_t ms = -1;
  if (wh->kind == TW_WEBHOOK_DISCORD && wh->resp.len > 0) {
    json_t *j = json_loadb(wh->resp.data, wh->resp.len, 0, NULL);
    json_t *ra = json_object_get(j, "retry_after");
    if (json_is_number(ra)) {
      double v = json_number_value(ra);
      if (isfinite(v) && v >= 0 && v < 1e9)
        ms = (int64_t)ceil(v * 1000.0);
    }
    json_decref(j);
  }
  if (ms < 0)
    ms = wh->h_retry_after_ms;
  if (ms > (int64_t)TW_MAX_WEBHOOK_WAIT_MS) {
    tw_warn(LOG_MOD, "%s: the service asked to wait %lld ms; waiting %u ms",
            wh->name, (long long)ms, TW_MAX_WEBHOOK_WAIT_MS);
    ms = TW_MAX_WEBHOOK_WAIT_MS;
  }
  return ms;
}

static void on_done(CURL *easy, CURLcode result, void *ud) {
  (void)easy;
  tw_webhook_t *wh = ud;
  wh_msg_t *m = wh->head;
  wh->inflight = false;
  if (wh->closing) {
    complete(wh, TW_ECANCELED, 0, "closed before delivery");
    finish_close(wh);
    return;
  }
  if (result == CURLE_ABORTED_BY_CALLBACK) {
    /* We set no progress callback, so only the adapter aborts. */
    go_dead(wh);
    return;
  }
  char detail[TW_MAX_WEBHOOK_ERRTEXT + 64];
  if (result != CURLE_OK) {
    const char *e = wh->errbuf[0] ? wh->errbuf : curl_easy_strerror(result);
    clean_text(e, strlen(e), detail, sizeof(detail));
    retry_or_fail(wh, tw_uvcurl_error(result), 0, "network error", detail, -1);
    pump(wh);
    return;
  }
  long status = 0;
  curl_easy_getinfo(wh->easy, CURLINFO_RESPONSE_CODE, &status);
  /* Discord announces that the next request would be limited. */
  if (wh->h_remaining == 0 && wh->h_reset_after_ms > 0) {
    uint64_t wait = (uint64_t)wh->h_reset_after_ms;
    if (wait > TW_MAX_WEBHOOK_WAIT_MS)
      wait = TW_MAX_WEBHOOK_WAIT_MS;
    wh->hold_until = tw_now_ms() + scaled(wh, wait);
    tw_debug(LOG_MOD, "%s: rate limit used up; pausing %llu ms", wh->name,
             (unsigned long long)wait);
  }
  char what[32];
  snprintf(what, sizeof(what), "HTTP %ld", status);
  response_text(wh, detail, sizeof(detail));

  if (status >= 200 && status < 300) {
    /* Rocket.Chat reports a refused message as {"success": false}, which
     * should come with a 400, but a script on the integration may say it
     * with a 200. */
    bool refused = false;
    if (wh->kind == TW_WEBHOOK_ROCKETCHAT && wh->resp.len > 0) {
      json_t *j = json_loadb(wh->resp.data, wh->resp.len, 0, NULL);
      refused = json_is_false(json_object_get(j, "success"));
      json_decref(j);
    }
    if (refused) {
      tw_error(LOG_MOD, "%s: message %llu refused (%s: %s); dropped", wh->name,
               (unsigned long long)m->id, what,
               detail[0] ? detail : "success: false");
      complete(wh, TW_EHTTP, status, detail);
    } else {
      tw_debug(LOG_MOD, "%s: message %llu delivered (%s, attempt %u)", wh->name,
               (unsigned long long)m->id, what, m->attempts);
      tw_backoff_reset(&wh->backoff);
      complete(wh, 0, status, "");
    }
  } else if (status == 429) {
    wh->stats.rate_limited++;
    retry_or_fail(wh, TW_ERATELIMIT, status, "rate limited (HTTP 429)", detail,
                  rate_limit_wait(wh));
  } else if (status >= 500 || status == 408) {
    retry_or_fail(wh, TW_EHTTP, status, what, detail, -1);
  } else {
    /* 4xx: the service will never take this message (bad payload, deleted
     * webhook or channel...); retrying would only hold up the rest. */
    tw_error(LOG_MOD, "%s: message %llu refused (%s%s%s); dropped", wh->name,
             (unsigned long long)m->id, what, detail[0] ? ": " : "", detail);
    tw_backoff_reset(&wh->backoff);
    complete(wh, TW_EHTTP, status, detail);
  }
  pump(wh);
}

/* Sends the head of the queue. */
static void start(tw_webhook_t *wh) {
  wh_msg_t *m = wh->head;
  CURL *e = wh->easy;
  m->attempts++;
  curl_easy_reset(e);
  wh->errbuf[0] = '\0';
  tw_buf_reset(&wh->resp);
  wh->h_retry_after_ms = wh->h_remaining = wh->h_reset_after_ms = -1;
  curl_easy_setopt(e, CURLOPT_URL, wh->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, wh->tls ? "https" : "http");
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, &m->body[0]);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)m->len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, wh->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "twitchd/" TW_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, wh);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, wh);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, wh->errbuf);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, wh->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, wh->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  /* A redirect would resend the message somewhere the user never
   * configured. */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  if (wh->ca_file != NULL)
    curl_easy_setopt(e, CURLOPT_CAINFO, wh->ca_file);
  tw_trace(LOG_MOD, "%s: POST message %llu attempt %u (%zu bytes): %s",
           wh->name, (unsigned long long)m->id, m->attempts, m->len, m->body);
  int rc = tw_uvcurl_add(wh->uc, e, on_done, wh);
  if (rc == 0) {
    wh->inflight = true;
    return;
  }
  if (rc == TW_ESTATE) {
    go_dead(wh);
    return;
  }
  char detail[96];
  snprintf(detail, sizeof(detail), "cannot start the request: %s",
           tw_strerror(rc));
  retry_or_fail(wh, rc, 0, "local error", detail, -1);
  pump(wh);
}

static void on_timer(uv_timer_t *t) {
  tw_webhook_t *wh = t->data;
  wh->timer_armed = false;
  if (wh->closing || wh->dead || wh->inflight || wh->head == NULL)
    return;
  uint64_t now = tw_now_ms();
  if (wh->hold_until > now) {
    schedule(wh, wh->hold_until - now);
    return;
  }
  start(wh);
}

/* ---- creation ------------------------------------------------------------
 */

static char *dupstr(const char *s) {
  if (s == NULL)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

static bool is_loopback(const char *host) {
  return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
         strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* Checks the URL and works out what is requested: for Discord, wait=true
 * is added (unless the user chose a wait), so that Discord confirms the
 * message was saved instead of answering 204 before it knows. *path gets
 * the path and query, the part that holds the token. */
static int prepare_url(tw_webhook_kind_t kind, const char *url, bool *tls,
                       char **final, char **path) {
  CURLU *u = curl_url();
  if (u == NULL)
    return TW_ENOMEM;
  int rc = TW_EINVAL;
  char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL, *query = NULL,
       *frag = NULL, *full = NULL, *p = NULL, *pq = NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
    goto done;
  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  curl_url_get(u, CURLUPART_HOST, &host, 0);
  curl_url_get(u, CURLUPART_USER, &user, 0);
  curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
  if (scheme == NULL || host == NULL || host[0] == '\0' || user != NULL ||
      pass != NULL || frag != NULL)
    goto done;
  if (strcmp(scheme, "https") == 0)
    *tls = true;
  else if (strcmp(scheme, "http") == 0 && is_loopback(host))
    *tls = false;
  else
    goto done;
  if (kind == TW_WEBHOOK_DISCORD) {
    bool has_wait = query != NULL && (strncmp(query, "wait=", 5) == 0 ||
                                      strstr(query, "&wait=") != NULL);
    if (!has_wait && curl_url_set(u, CURLUPART_QUERY, "wait=true",
                                  CURLU_APPENDQUERY) != CURLUE_OK) {
      rc = TW_ENOMEM;
      goto done;
    }
  }
  CURLUcode g1 = curl_url_get(u, CURLUPART_URL, &full, 0);
  curl_url_get(u, CURLUPART_PATH, &p, 0);
  curl_free(query);
  query = NULL;
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  if (g1 != CURLUE_OK || p == NULL) {
    rc = TW_ENOMEM;
    goto done;
  }
  size_t pl = strlen(p), ql = query ? strlen(query) : 0;
  pq = malloc(pl + ql + 2);
  *final = dupstr(full);
  if (pq == NULL || *final == NULL) {
    free(pq);
    free(*final);
    *final = NULL;
    rc = TW_ENOMEM;
    goto done;
  }
  memcpy(pq, p, pl);
  if (query != NULL) {
    pq[pl] = '?';
    memcpy(pq + pl + 1, query, ql + 1);
  } else {
    pq[pl] = '\0';
  }
  *path = pq;
  rc = 0;
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(user);
  curl_free(pass);
  curl_free(query);
  curl_free(frag);
  curl_free(full);
  curl_free(p);
  curl_url_cleanup(u);
  return rc;
}

static int check_name(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > TW_CONFIG_MAX_NAME)
    return TW_EINVAL;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return TW_EINVAL;
  }
  return 0;
}

int tw_webhook_new(uv_loop_t *loop, tw_uvcurl_t *uc, const tw_webhook_opts_t *o,
                   tw_webhook_t **out) {
  if (out != NULL)
    *out = NULL;
  if (loop == NULL || uc == NULL || o == NULL || out == NULL ||
      o->url == NULL || (unsigned)o->kind >= NKINDS || check_name(o->name))
    return TW_EINVAL;
  if (strlen(o->url) > TW_MAX_WEBHOOK_URL)
    return TW_ETOOBIG;
  if (o->username != NULL) {
    size_t units = 0;
    if (o->username[0] == '\0' ||
        !utf8_check(o->username, strlen(o->username), &units) || units > 80)
      return TW_EINVAL;
  }
  if (o->max_queue > TW_MAX_WEBHOOK_QUEUE ||
      o->max_attempts > TW_MAX_WEBHOOK_ATTEMPTS || o->timeout_ms < 0 ||
      o->connect_timeout_ms < 0 || o->time_scale < 0 ||
      (o->backoff_base_ms && o->backoff_cap_ms &&
       o->backoff_cap_ms < o->backoff_base_ms))
    return TW_EINVAL;

  bool tls = false;
  char *final = NULL, *path = NULL;
  int rc = prepare_url(o->kind, o->url, &tls, &final, &path);
  if (rc != 0)
    return rc;
  /* Registered before anything could log: the instance never prints its
   * URL, and this makes sure nothing else (curl's messages, a service
   * echoing the request) can either. A path too short to be a token is
   * not worth a slot. */
  rc = tw_log_add_secret(o->url);
  if (rc == 0 && strlen(path) >= TW_LOG_MIN_SECRET)
    rc = tw_log_add_secret(path);
  free(path);
  if (rc != 0) {
    free(final);
    return rc == TW_EINVAL ? TW_ETOOBIG : rc;
  }

  tw_webhook_t *wh = calloc(1, sizeof(*wh));
  if (wh == NULL) {
    free(final);
    return TW_ENOMEM;
  }
  wh->loop = loop;
  wh->uc = uc;
  wh->kind = o->kind;
  wh->url = final;
  wh->tls = tls;
  wh->name = dupstr(o->name);
  wh->username = dupstr(o->username);
  wh->ca_file = dupstr(o->ca_file);
  wh->max_queue = o->max_queue ? o->max_queue : TW_WEBHOOK_DEFAULT_QUEUE;
  wh->max_attempts = o->max_attempts ? o->max_attempts : DEF_ATTEMPTS;
  wh->timeout_ms = o->timeout_ms ? o->timeout_ms : DEF_TIMEOUT_MS;
  wh->connect_timeout_ms =
      o->connect_timeout_ms ? o->connect_timeout_ms : DEF_CONNECT_TIMEOUT_MS;
  wh->time_scale = o->time_scale > 0 ? o->time_scale : 1.0;
  wh->next_id = 1;
  tw_buf_init(&wh->resp, TW_MAX_WEBHOOK_BODY);
  uint64_t base = o->backoff_base_ms ? o->backoff_base_ms : DEF_BACKOFF_BASE_MS;
  uint64_t cap = o->backoff_cap_ms ? o->backoff_cap_ms : DEF_BACKOFF_CAP_MS;
  if (cap < base)
    cap = base;
  wh->easy = curl_easy_init();
  struct curl_slist *h =
      curl_slist_append(NULL, "Content-Type: application/json");
  /* No "Expect: 100-continue" round trip for a small body. */
  struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
  wh->headers = h2 ? h2 : h;
  if (wh->name == NULL || (o->username && wh->username == NULL) ||
      (o->ca_file && wh->ca_file == NULL) || wh->easy == NULL || h2 == NULL ||
      tw_backoff_init(&wh->backoff, base, cap, 0, o->rand, o->rand_ctx) != 0) {
    if (wh->easy)
      curl_easy_cleanup(wh->easy);
    curl_slist_free_all(wh->headers);
    free(wh->name);
    free(wh->url);
    free(wh->username);
    free(wh->ca_file);
    free(wh);
    return TW_ENOMEM;
  }
  uv_timer_init(loop, &wh->timer);
  wh->timer.data = wh;
  tw_debug(LOG_MOD, "%s: %s webhook ready (%s)", wh->name, kind_names[wh->kind],
           tls ? "https" : "http, loopback");
  *out = wh;
  return 0;
}

/* ---- sending -------------------------------------------------------------
 */

int tw_webhook_send(tw_webhook_t *wh, const char *text, tw_webhook_done_cb cb,
                    void *ud) {
  if (wh == NULL || text == NULL)
    return TW_EINVAL;
  if (wh->closing || wh->dead)
    return TW_ESTATE;
  size_t len = strlen(text);
  if (len == 0)
    return TW_EINVAL;
  if (len > TW_MAX_WEBHOOK_TEXT)
    return TW_ETOOBIG;
  if (wh->count >= wh->max_queue) {
    tw_warn(LOG_MOD, "%s: queue full (%u messages); message refused", wh->name,
            wh->count);
    return TW_EFULL;
  }
  tw_buf_t body;
  tw_buf_init(&body, MAX_JSON_BODY);
  int truncated = 0;
  int rc = tw_webhook_format(wh->kind, text, wh->username, &body, &truncated);
  if (rc != 0) {
    tw_buf_free(&body);
    return rc;
  }
  wh_msg_t *m = malloc(sizeof(*m) + body.len + 1);
  if (m == NULL) {
    tw_buf_free(&body);
    return TW_ENOMEM;
  }
  memcpy(m->body, body.data, body.len + 1);
  m->len = body.len;
  tw_buf_free(&body);
  m->next = NULL;
  m->id = wh->next_id++;
  m->attempts = 0;
  m->cb = cb;
  m->ud = ud;
  if (wh->tail)
    wh->tail->next = m;
  else
    wh->head = m;
  wh->tail = m;
  wh->count++;
  wh->stats.queued = wh->count;
  if (truncated) {
    wh->stats.truncated++;
    tw_warn(LOG_MOD, "%s: message %llu cut to %d characters (Discord's limit)",
            wh->name, (unsigned long long)m->id, TW_WEBHOOK_DISCORD_MAX_CHARS);
  }
  tw_trace(LOG_MOD, "%s: message %llu queued (%u waiting)", wh->name,
           (unsigned long long)m->id, wh->count);
  pump(wh);
  return 0;
}

int tw_webhook_send_event(tw_webhook_t *wh, const tw_event_t *ev,
                          tw_webhook_done_cb cb, void *ud) {
  if (wh == NULL || ev == NULL)
    return TW_EINVAL;
  if (ev->kind != TW_EVENT_MESSAGE)
    return TW_EUNSUPPORTED;
  if (ev->u.message.text == NULL)
    return TW_EINVAL;
  return tw_webhook_send(wh, ev->u.message.text, cb, ud);
}

void tw_webhook_stats(const tw_webhook_t *wh, tw_webhook_stats_t *out) {
  if (out == NULL)
    return;
  if (wh == NULL) {
    memset(out, 0, sizeof(*out));
    return;
  }
  *out = wh->stats;
}

const char *tw_webhook_name(const tw_webhook_t *wh) {
  return wh ? wh->name : NULL;
}

tw_webhook_kind_t tw_webhook_get_kind(const tw_webhook_t *wh) {
  return wh ? wh->kind : TW_WEBHOOK_DISCORD;
}

void tw_webhook_close(tw_webhook_t *wh, tw_webhook_close_cb cb, void *ud) {
  if (wh == NULL || wh->closing)
    return;
  wh->closing = true;
  wh->close_cb = cb;
  wh->close_ud = ud;
  if (wh->count > 0)
    tw_info(LOG_MOD, "%s: closed with %u message%s not delivered", wh->name,
            wh->count, wh->count == 1 ? "" : "s");
  if (wh->timer_armed) {
    uv_timer_stop(&wh->timer);
    wh->timer_armed = false;
  }
  if (wh->inflight) {
    /* Calls on_done with CURLE_ABORTED_BY_CALLBACK, which finishes the
     * close; from inside a curl callback that happens a little later. */
    tw_uvcurl_cancel(wh->uc, wh->easy);
    if (wh->inflight)
      return;
  }
  finish_close(wh);
}

/* ---- the set of a configuration -------------------------------------------
 */

struct tw_webhooks {
  tw_webhook_t **v;
  size_t n;
  uv_timer_t anchor; /* only so that closing an empty set is asynchronous */
  size_t pending;    /* closes not yet reported */
  tw_webhook_close_cb close_cb;
  void *close_ud;
};

int tw_webhooks_new(uv_loop_t *loop, tw_uvcurl_t *uc, const tw_config_t *cfg,
                    const tw_webhook_opts_t *base, tw_webhooks_t **out) {
  if (out != NULL)
    *out = NULL;
  if (loop == NULL || uc == NULL || cfg == NULL || out == NULL)
    return TW_EINVAL;
  size_t n = tw_config_webhook_count(cfg);
  tw_webhooks_t *set = calloc(1, sizeof(*set));
  if (set == NULL)
    return TW_ENOMEM;
  set->v = calloc(n ? n : 1, sizeof(*set->v));
  if (set->v == NULL) {
    free(set);
    return TW_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const tw_config_webhook_t *cw = tw_config_webhook(cfg, i);
    tw_webhook_opts_t o;
    if (base != NULL)
      o = *base;
    else
      memset(&o, 0, sizeof(o));
    o.name = cw->name;
    o.kind = cw->kind;
    o.url = cw->url.url;
    o.username = cw->username;
    int rc = tw_webhook_new(loop, uc, &o, &set->v[i]);
    if (rc != 0) {
      tw_error(LOG_MOD, "%s: cannot start this webhook: %s", cw->name,
               tw_strerror(rc));
      for (size_t j = 0; j < i; j++)
        tw_webhook_close(set->v[j], NULL, NULL);
      free(set->v);
      free(set);
      return rc;
    }
    set->n++;
  }
  uv_timer_init(loop, &set->anchor);
  set->anchor.data = set;
  *out = set;
  return 0;
}

size_t tw_webhooks_count(const tw_webhooks_t *set) {
  return set ? set->n : 0;
}

tw_webhook_t *tw_webhooks_at(tw_webhooks_t *set, size_t i) {
  return set && i < set->n ? set->v[i] : NULL;
}

tw_webhook_t *tw_webhooks_find(tw_webhooks_t *set, const char *name) {
  if (set == NULL || name == NULL)
    return NULL;
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->v[i]->name, name) == 0)
      return set->v[i];
  return NULL;
}

int tw_webhooks_route(tw_webhooks_t *set, const tw_event_t *ev,
                      tw_webhook_done_cb cb, void *ud) {
  if (set == NULL || ev == NULL)
    return TW_EINVAL;
  tw_webhook_t *wh = tw_webhooks_find(set, ev->connector);
  if (wh == NULL)
    return TW_ENOTFOUND;
  return tw_webhook_send_event(wh, ev, cb, ud);
}

static void set_one_closed(void *ud) {
  tw_webhooks_t *set = ud;
  if (--set->pending > 0)
    return;
  tw_webhook_close_cb cb = set->close_cb;
  void *cud = set->close_ud;
  free(set->v);
  free(set);
  if (cb != NULL)
    cb(cud);
}

static void on_anchor_closed(uv_handle_t *h) {
  set_one_closed(h->data);
}

void tw_webhooks_close(tw_webhooks_t *set, tw_webhook_close_cb cb, void *ud) {
  if (set == NULL || set->pending > 0)
    return;
  set->close_cb = cb;
  set->close_ud = ud;
  set->pending = set->n + 1;
  for (size_t i = 0; i < set->n; i++)
    tw_webhook_close(set->v[i], set_one_closed, set);
  uv_close((uv_handle_t *)&set->anchor, on_anchor_closed);
}
