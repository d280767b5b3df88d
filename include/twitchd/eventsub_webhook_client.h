/* twitchd: the EventSub webhook receiver and subscriber (layer twitch).
 *
 * Used when `forward-url` is configured: Twitch POSTs EventSub messages to
 * <forward-url><path>. A tw_eventsub_webhook_t creates the subscriptions
 * through a Helix client that holds an APP access token (webhook
 * subscriptions require one: tw_creds_app_source()), and judges the POSTs
 * with tw_eventsub_webhook_verify() (twitchd/eventsub_webhook.h, where the
 * full behaviour is described).
 *
 * It owns no HTTP server. The owner's server (the runtime's libmicrohttpd
 * on tw_uvmhd) gathers the body of a request for tw_eventsub_webhook_path()
 * and calls tw_eventsub_webhook_handle() once the body is complete, then
 * queues the response it fills in. The owner keeps at most
 * TW_MAX_EVENTSUB_WEBHOOK_BODY bytes of body; a longer one may be passed
 * with its full length (refused 400) or answered 413 by the owner. Twitch
 * calls https on port 443 only: the server sits behind the reverse proxy
 * that forward-url names. With libmicrohttpd:
 *
 *   tw_eventsub_webhook_response_t r;
 *   tw_eventsub_webhook_handle(wh, method, url, tw_eventsub_webhook_mhd_header,
 *                              connection, body, body_len, &r);
 *   resp = MHD_create_response_from_buffer(r.body_len, r.body,
 *                                          MHD_RESPMEM_MUST_COPY);
 *   MHD_add_response_header(resp, "Content-Type", r.content_type);
 *   MHD_queue_response(connection, r.status, resp);
 *
 * Everything runs on the loop's thread; the handler never blocks (on_event
 * runs inside it; keep it short: Twitch wants the 2xx within seconds).
 */
#ifndef TWITCHD_EVENTSUB_WEBHOOK_CLIENT_H
#define TWITCHD_EVENTSUB_WEBHOOK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "twitchd/event.h"
#include "twitchd/eventsub_client.h"
#include "twitchd/eventsub_webhook.h"
#include "twitchd/helix_client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Path mounted when opts.path is NULL. */
#define TW_EVENTSUB_WEBHOOK_DEFAULT_PATH "/eventsub"
/* Longest callback URL (base + path). */
#define TW_MAX_EVENTSUB_WEBHOOK_URL 2048
/* Message ids remembered for dedupe. An id is kept at least
 * TW_EVENTSUB_WEBHOOK_DEDUPE_KEEP_MS: when the ring is full, the oldest id
 * is evicted only if older than that; otherwise the notification is
 * answered 503 (Twitch retries later) instead of risking a duplicate.
 * 16384 ids over 12 minutes is a sustained 22 notifications a second. */
#define TW_EVENTSUB_WEBHOOK_DEDUPE 16384
/* The replay window plus the future skew: a message older than that is
 * refused by its timestamp, so its id need not be remembered longer. */
#define TW_EVENTSUB_WEBHOOK_DEDUPE_KEEP_MS                                     \
  ((uint64_t)(TW_EVENTSUB_WEBHOOK_MAX_AGE_S +                                  \
              TW_EVENTSUB_WEBHOOK_MAX_FUTURE_S) *                              \
   1000u)
/* Length of a generated secret (characters from [A-Za-z0-9]). */
#define TW_EVENTSUB_WEBHOOK_SECRET_LEN 40
/* Longest response body (a challenge, or a refusal's reason). */
#define TW_MAX_EVENTSUB_WEBHOOK_RESPONSE (TW_MAX_EVENTSUB_WEBHOOK_CHALLENGE + 1)

typedef struct {
  /* Public base URL Twitch reaches (forward-url), e.g.
   * "https://bot.example.com" (copied). Twitch requires https on 443; the
   * simulator also accepts http://127.0.0.1:port. Required. */
  const char *callback_base;
  /* Path under it (copied); NULL: TW_EVENTSUB_WEBHOOK_DEFAULT_PATH. Must
   * start with '/'. */
  const char *path;
  /* Broadcaster logins (copied), 1..TW_MAX_EVENTSUB_CHANNELS. */
  const char *const *channels;
  size_t nchannels;
  /* Types (copied); NULL/0: the WebSocket client's default list. */
  const tw_eventsub_type_t *types;
  size_t ntypes;
  /* moderator_user_id for channel.follow v2 (copied): the broadcaster or
   * a moderator who authorised this app with moderator:read:followers.
   * NULL: the broadcaster's own id. */
  const char *moderator_user_id;
  /* The subscription secret (copied), 10..100 visible ASCII characters;
   * NULL: TW_EVENTSUB_WEBHOOK_SECRET_LEN random characters (OpenSSL
   * RAND_bytes). Registered with tw_log_add_secret() either way. */
  const char *secret;
  const char *connector; /* events' connector; NULL: "twitch" */
  /* Wall clock for the timestamp check (tests); NULL: tw_wall_ms(). */
  uint64_t (*wall_ms)(void *ud);
  /* Events; ownership of ev passes to the callee (tw_event_free()). */
  void (*on_event)(tw_event_t *ev, void *ud);
  /* Subscription changes (SUBSCRIBED, SUB_FAILED, REVOKED); may be NULL. */
  void (*on_status)(const tw_eventsub_status_t *st, void *ud);
  void *ud;
} tw_eventsub_webhook_opts_t;

typedef struct tw_eventsub_webhook tw_eventsub_webhook_t;

/* Looks up a request header by name (case-insensitive); NULL when absent.
 * `ctx` is what the caller passes to tw_eventsub_webhook_handle(). */
typedef const char *(*tw_eventsub_webhook_header_fn)(void *ctx,
                                                     const char *name);

/* What to answer. body is NOT NUL-terminated beyond body_len's need (it is
 * in practice) and lives in the struct: no allocation, nothing to free. */
typedef struct {
  int status;               /* 200, 204, 400, 403, 404, 405, 500, 503 */
  const char *content_type; /* static: "text/plain" */
  char body[TW_MAX_EVENTSUB_WEBHOOK_RESPONSE + 1];
  size_t body_len;
} tw_eventsub_webhook_response_t;

typedef struct {
  uint64_t requests;      /* requests handled */
  uint64_t refused;       /* answered 4xx/5xx */
  uint64_t bad_signature; /* 403 for the signature */
  uint64_t stale;         /* 403 for the timestamp */
  uint64_t challenges;    /* verification challenges answered */
  uint64_t notifications; /* accepted notifications (duplicates included) */
  uint64_t duplicates;    /* notifications already seen */
  uint64_t events;        /* events given to on_event */
  uint64_t revocations;
  uint64_t subs_created; /* Create EventSub Subscription succeeded */
  uint64_t subs_failed;
  unsigned subs_enabled; /* verified by a challenge and not revoked */
} tw_eventsub_webhook_stats_t;

/* Creates the receiver on `loop` with `hc` (borrowed; must outlive it; its
 * token source must give an app access token). `opts` borrowed for the call
 * (strings copied). Returns 0 and sets *out; TW_EINVAL (no callback_base or
 * on_event, a path not starting with '/', a URL over the cap, no channel
 * or too many, a bad type, a secret out of 10..100 visible ASCII),
 * TW_EIO (no random bytes), TW_ENOMEM, or tw_log_add_secret()'s error
 * when the secret cannot be registered for redaction (it is refused
 * rather than risk logging it). */
int tw_eventsub_webhook_new(uv_loop_t *loop, tw_helix_client_t *hc,
                            const tw_eventsub_webhook_opts_t *opts,
                            tw_eventsub_webhook_t **out);

/* Resolves the broadcasters and creates the subscriptions. Returns 0 or
 * TW_ESTATE (already started or closing). Failures are reported through
 * on_status (SUB_FAILED) and the log, never retried in a loop. */
int tw_eventsub_webhook_start(tw_eventsub_webhook_t *wh);

/* Handles one request whose body is complete. `method`, `path` (the URL
 * path, query string allowed), `body` (len bytes) borrowed; `hdr(hctx,
 * name)` gives the headers. Fills *resp (always) and returns its status.
 * Path other than ours: 404; method other than POST: 405. Call it from the
 * loop thread. */
int tw_eventsub_webhook_handle(tw_eventsub_webhook_t *wh, const char *method,
                               const char *path,
                               tw_eventsub_webhook_header_fn hdr, void *hctx,
                               const char *body, size_t len,
                               tw_eventsub_webhook_response_t *resp);

/* A tw_eventsub_webhook_header_fn for libmicrohttpd: `ctx` is the
 * struct MHD_Connection *. */
const char *tw_eventsub_webhook_mhd_header(void *ctx, const char *name);

/* The mounted path and the full callback URL (borrowed, live as long as
 * `wh`). */
const char *tw_eventsub_webhook_path(const tw_eventsub_webhook_t *wh);
const char *tw_eventsub_webhook_callback(const tw_eventsub_webhook_t *wh);

/* Counters, copied into *out. */
void tw_eventsub_webhook_stats(const tw_eventsub_webhook_t *wh,
                               tw_eventsub_webhook_stats_t *out);

/* Cancels Helix calls and frees everything; no callback runs after this
 * returns. Subscriptions are not deleted on Twitch (a restart with the
 * same secret keeps using them). `cb` (may be NULL) runs from the loop
 * after the memory is freed. */
void tw_eventsub_webhook_close(tw_eventsub_webhook_t *wh, void (*cb)(void *ud),
                               void *ud);

#ifdef __cplusplus
}
#endif
#endif
