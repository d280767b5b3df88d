/* twitchd: outgoing webhooks to Discord, Slack and Rocket.Chat.
 *
 * The seed's first example ("when I go live, post to another chat") is a
 * skill sending a Message to another connector. For the chat services that
 * offer incoming webhooks, that connector is this module: a tw_webhook_t
 * posts each message's text to one webhook URL in the service's JSON format
 *
 *   Discord      {"content": text, "username": name}   (?wait=true added)
 *   Slack        {"text": text, "username": name}
 *   Rocket.Chat  {"text": text, "alias": name}
 *
 * (the name only when configured) and reports the outcome of each message.
 *
 * Delivery. Each instance has a bounded FIFO queue (a full queue is an error
 * to the caller, never a silent drop) and sends one request at a time, so
 * messages arrive in the order they were sent. A message is retried, with
 * exponential backoff and full jitter, after a network error, a 5xx or a 408;
 * after a 429 it waits exactly as long as the service asks (Discord's
 * retry_after, else the Retry-After header) and then continues. Any other
 * 4xx, and a Rocket.Chat answer {"success": false}, is a permanent failure
 * for that message: it is logged with the status and the service's error
 * text, counted, and the queue moves on. Every message gets at most
 * max_attempts requests (429s included); then it is logged as failed.
 * After Discord says a webhook's rate limit is used up (X-RateLimit-Remaining
 * 0), the next request waits for X-RateLimit-Reset-After.
 *
 * Secrets. A webhook URL carries the webhook's token: anyone who has it can
 * post. tw_webhook_new() registers the URL (and its path) with
 * tw_log_add_secret() for the life of the process, and this module never
 * logs it: log lines name the instance ("webhook discord: ...").
 *
 * Threads and loops: everything runs on the loop thread. Requests go
 * through a tw_uvcurl_t (core's libcurl adapter), which the caller owns and
 * must close after every instance using it.
 *
 * Routing. A skill's Message action names its connector (ev->connector). The
 * runtime keeps a tw_webhooks_t made from the configuration and, for any
 * action whose connector is not "twitch", calls tw_webhooks_route(), which
 * finds the instance of that name and queues the message on it.
 */
#ifndef TWITCHD_WEBHOOK_H
#define TWITCHD_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "twitchd/backoff.h"
#include "twitchd/buf.h"
#include "twitchd/config.h"
#include "twitchd/event.h"
#include "twitchd/uv_curl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Messages one instance holds at once, the one in flight included. */
#define TW_MAX_WEBHOOK_QUEUE 256
/* Default queue size when the options leave it 0. */
#define TW_WEBHOOK_DEFAULT_QUEUE 64
/* Longest message text, in bytes (the event layer's string cap). */
#define TW_MAX_WEBHOOK_TEXT TW_MAX_EVENT_STR
/* Longest webhook URL, in bytes: the longest secret the logger redacts. */
#define TW_MAX_WEBHOOK_URL TW_LOG_MAX_SECRET
/* Bytes of a response body kept (for the service's error text); the rest
 * is read and discarded. */
#define TW_MAX_WEBHOOK_BODY 16384
/* Longest service error text shown in logs and results, in bytes. */
#define TW_MAX_WEBHOOK_ERRTEXT 200
/* Most attempts per message that max_attempts may ask for. */
#define TW_MAX_WEBHOOK_ATTEMPTS 20
/* Longest wait a 429 may impose; a longer Retry-After is cut to this. */
#define TW_MAX_WEBHOOK_WAIT_MS (15u * 60u * 1000u)
/* Discord's limit on content: 2000 characters. Longer text is cut to fit,
 * ending with an ellipsis, and a warning is logged. Characters are counted
 * as UTF-16 code units, which is never fewer than Discord's count. */
#define TW_WEBHOOK_DISCORD_MAX_CHARS 2000

typedef struct tw_webhook tw_webhook_t;

typedef struct {
  /* The instance's name: what skills address (the Message's connector) and
   * what log lines show. Required, 1 to TW_CONFIG_MAX_NAME bytes. Copied. */
  const char *name;
  tw_webhook_kind_t kind;
  /* The incoming-webhook URL. Required; https, or http for a loopback host
   * (tests, local bridges); at most TW_MAX_WEBHOOK_URL bytes. Copied, and
   * registered with tw_log_add_secret(). */
  const char *url;
  /* Optional display name (Discord username, Slack username, Rocket.Chat
   * alias), at most 80 characters. Copied. */
  const char *username;
  /* Optional CA bundle (PEM) to trust instead of the system's, for private
   * services and TLS tests. Copied. */
  const char *ca_file;
  /* 0 for the defaults: TW_WEBHOOK_DEFAULT_QUEUE, 5 attempts, backoff from
   * 1 s up to 60 s, 15 s per request, 10 s to connect. */
  unsigned max_queue;    /* 1..TW_MAX_WEBHOOK_QUEUE */
  unsigned max_attempts; /* 1..TW_MAX_WEBHOOK_ATTEMPTS */
  uint64_t backoff_base_ms;
  uint64_t backoff_cap_ms;
  long timeout_ms;
  long connect_timeout_ms;
  /* The backoff's random source and its closure (borrowed); NULL for the
   * default (the kernel's CSPRNG). */
  tw_rand_fn rand;
  void *rand_ctx;
  /* For tests: every wait this instance schedules (backoff, Retry-After,
   * rate-limit pauses) is multiplied by this before the timer is armed;
   * logs still show the unscaled wait. 0 means 1. */
  double time_scale;
} tw_webhook_opts_t;

/* The outcome of one message, passed to its done callback. */
typedef struct {
  uint64_t id;       /* 1, 2, ... in the order the instance accepted them */
  int err;           /* 0 delivered, or why not (see tw_webhook_send) */
  long http_status;  /* the last response's status; 0 when none came */
  unsigned attempts; /* requests made for it */
  /* The service's error text or curl's error, redacted and at most
   * TW_MAX_WEBHOOK_ERRTEXT bytes; "" when delivered. Borrowed for the call. */
  const char *detail;
} tw_webhook_result_t;

/* Called exactly once per accepted message, on the loop thread, never from
 * inside tw_webhook_send(). It may call any function here, including
 * tw_webhook_send() and tw_webhook_close() on the same instance. */
typedef void (*tw_webhook_done_cb)(tw_webhook_t *wh,
                                   const tw_webhook_result_t *res, void *ud);

/* Called once the instance is closed and its memory freed. */
typedef void (*tw_webhook_close_cb)(void *ud);

typedef struct {
  uint64_t sent;         /* delivered */
  uint64_t failed;       /* refused, or out of attempts */
  uint64_t canceled;     /* still queued or in flight at close */
  uint64_t retried;      /* requests repeated after a failure or a 429 */
  uint64_t rate_limited; /* 429 answers */
  uint64_t truncated;    /* texts cut to the service's limit */
  unsigned queued;       /* messages held now, the one in flight included */
} tw_webhook_stats_t;

/* "discord", "slack", "rocketchat" (static); NULL for an unknown kind. */
const char *tw_webhook_kind_name(tw_webhook_kind_t kind);
/* The reverse (exact, lower case). Returns 0, or TW_EINVAL. */
int tw_webhook_kind_parse(const char *s, tw_webhook_kind_t *out);

/* Appends to `out` the JSON body that posts `text` (valid UTF-8, borrowed)
 * with the optional `username` (borrowed, may be NULL) to a `kind` webhook,
 * cutting Discord content as described at TW_WEBHOOK_DISCORD_MAX_CHARS.
 * *truncated (may be NULL) tells whether it did. Returns 0, TW_EINVAL (NULL,
 * empty or invalid UTF-8 text, unknown kind), TW_ETOOBIG (the buffer's cap)
 * or TW_ENOMEM. */
int tw_webhook_format(tw_webhook_kind_t kind, const char *text,
                      const char *username, tw_buf_t *out, int *truncated);

/* Creates an instance on `loop` that sends through `uc` (both borrowed;
 * both must outlive the instance). `opts` is borrowed for the call; its
 * strings are copied. Returns 0 and sets *out, or TW_EINVAL (NULL
 * arguments, a bad name, kind, URL or username, an option out of range),
 * TW_ETOOBIG (URL longer than TW_MAX_WEBHOOK_URL), TW_EFULL (the logger's
 * secret table is full: without redaction the URL could leak, so nothing is
 * created) or TW_ENOMEM. Release with tw_webhook_close(). */
int tw_webhook_new(uv_loop_t *loop, tw_uvcurl_t *uc,
                   const tw_webhook_opts_t *opts, tw_webhook_t **out);

/* Queues `text` (copied; valid UTF-8, 1 to TW_MAX_WEBHOOK_TEXT bytes) for
 * delivery. On 0, `cb` (may be NULL) will be called exactly once with `ud`
 * (borrowed) and the outcome: err 0; TW_EHTTP (refused with a 4xx other
 * than 429, or by Rocket.Chat's {"success": false}; or a 5xx on the last
 * attempt); TW_ERATELIMIT (a 429 on the last attempt); TW_ETIMEDOUT,
 * TW_ECONNREFUSED, TW_EDNS, TW_ECERT, TW_ETLS or TW_EIO (a network error on
 * the last attempt); TW_ECANCELED (closed first, or the curl adapter was
 * closed under it). Otherwise returns TW_EINVAL (NULL, empty or invalid
 * UTF-8), TW_ETOOBIG, TW_EFULL (the queue is full: nothing was queued),
 * TW_ESTATE (closing, or the adapter is gone) or TW_ENOMEM, and `cb` is
 * never called. */
int tw_webhook_send(tw_webhook_t *wh, const char *text, tw_webhook_done_cb cb,
                    void *ud);

/* Queues a Message action (borrowed; its text is copied) as
 * tw_webhook_send() does with ev->u.message.text. Returns what that
 * returns, or TW_EUNSUPPORTED for any other kind of event (a webhook can
 * only post messages) and TW_EINVAL for a Message without text. */
int tw_webhook_send_event(tw_webhook_t *wh, const tw_event_t *ev,
                          tw_webhook_done_cb cb, void *ud);

/* Counters since creation (copied into *out). */
void tw_webhook_stats(const tw_webhook_t *wh, tw_webhook_stats_t *out);

/* The instance's name and kind (the name is owned by the instance). */
const char *tw_webhook_name(const tw_webhook_t *wh);
tw_webhook_kind_t tw_webhook_get_kind(const tw_webhook_t *wh);

/* Closes the instance: the request in flight is cancelled, and every
 * message not yet delivered gets its done callback with TW_ECANCELED
 * (synchronously, unless called from inside a curl callback: then right
 * after it). Sends are refused from now on. `cb` (may be NULL) runs from the
 * loop once the timer is closed and the memory freed; `wh` must not be used
 * after this call except for further tw_webhook_close() calls, which are
 * ignored. */
void tw_webhook_close(tw_webhook_t *wh, tw_webhook_close_cb cb, void *ud);

/* ---- all instances of a configuration ---------------------------------- */

typedef struct tw_webhooks tw_webhooks_t;

/* Creates one instance per connectors.webhook entry of `cfg` (borrowed for
 * the call; loaded without errors), in file order, on `loop` with `uc` (as
 * for tw_webhook_new). `base` (may be NULL; borrowed) supplies the options
 * the configuration has no key for (queue size, attempts, timeouts, CA
 * file...); its name, kind, url and username are ignored. A configuration
 * without webhooks gives an empty set. Returns 0 and sets *out, or what
 * tw_webhook_new() returns for the first instance that fails (those created
 * before it are closed). Release with tw_webhooks_close(). */
int tw_webhooks_new(uv_loop_t *loop, tw_uvcurl_t *uc, const tw_config_t *cfg,
                    const tw_webhook_opts_t *base, tw_webhooks_t **out);

/* Number of instances, and instance i (owned by the set; NULL when out of
 * range). */
size_t tw_webhooks_count(const tw_webhooks_t *set);
tw_webhook_t *tw_webhooks_at(tw_webhooks_t *set, size_t i);

/* The instance named `name` (borrowed), or NULL. */
tw_webhook_t *tw_webhooks_find(tw_webhooks_t *set, const char *name);

/* Routes an action (borrowed) to the instance named by ev->connector and
 * queues it there as tw_webhook_send_event() does. Returns what that
 * returns, or TW_ENOTFOUND when no instance has that name (or the event
 * names no connector). */
int tw_webhooks_route(tw_webhooks_t *set, const tw_event_t *ev,
                      tw_webhook_done_cb cb, void *ud);

/* Closes every instance (see tw_webhook_close()); `cb` (may be NULL) runs
 * once all of them are closed and the set is freed. */
void tw_webhooks_close(tw_webhooks_t *set, tw_webhook_close_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
