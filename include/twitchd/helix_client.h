/* twitchd: the Helix (Twitch API) client on the libuv loop.
 *
 * A tw_helix_client_t sends the requests that include/twitchd/helix.h
 * builds (sans-IO) through the core libcurl adapter (uv_curl.h), and hands
 * each caller a typed result: the HTTP status, the decoded body, or a typed
 * tw_helix_error_t. docs/twitch-protocol.md section 2 is the contract.
 *
 * Headers. Every request carries Client-Id and "Authorization: Bearer
 * <token>", the token coming from a tw_token_source_t (the credentials
 * manager). The token is never logged, nor any request header.
 *
 * Queue. Calls wait in one bounded FIFO (opts.max_queue, at most
 * TW_MAX_HELIX_QUEUE, counting the ones in flight and the ones waiting for
 * a retry); a full queue refuses with TW_EFULL, never drops. At most
 * opts.max_inflight requests are on the wire at once.
 *
 * Answers.
 *  - 2xx is success (Twitch's statuses: 200, 202, 204 per endpoint); the
 *    body is decoded with the endpoint's decoder.
 *  - 401 "Invalid OAuth token" (or no token yet): the token source is asked
 *    to refresh (it runs one refresh for all callers) and the request is
 *    sent once more with the new token; a second 401 is the caller's typed
 *    error. Other 401s (missing scope, client id mismatch) are not retried.
 *  - Rate limits: each token user has a token bucket (800 points a minute
 *    until Ratelimit-Limit says otherwise; Send Chat Message has its own)
 *    that Ratelimit-Remaining and Ratelimit-Reset keep in step with
 *    Twitch's. A request waits while its bucket is empty. A 429 empties the
 *    bucket until Ratelimit-Reset and the request is sent again after it
 *    (tw_helix_ratelimit_apply()).
 *  - 5xx, and network failures after the request may have reached Twitch,
 *    are retried with capped exponential backoff only for requests that may
 *    be sent twice (tw_helix_should_retry()). Never again after such a
 *    failure: Create Clip, Send Chat Message, announcements, shoutouts (the
 *    table's TW_HELIX_RETRY_NEVER), and Ban User too, because a repeated
 *    timeout restarts its clock and writes a second moderation-log entry.
 *    A failure before anything was sent (DNS, refused connection, TLS
 *    handshake) is retried for every endpoint. A repeated request answered
 *    "already done" (tw_helix_already_done()) is a success.
 *  - Every request gets at most opts.max_attempts sends (the 401 refresh
 *    retry comes on top).
 *
 * Users cache. Every Get Users answer fills a bounded cache (login -> id,
 * id -> login, with a TTL); tw_helix_lookup_user() answers from it, and
 * concurrent lookups of the same user share one request.
 *
 * Callbacks are called exactly once per accepted call, on the loop, never
 * from inside the function that accepted the call; they may call anything
 * here, including tw_helix_client_close(). Everything runs on the loop's
 * thread.
 */
#ifndef TWITCHD_HELIX_CLIENT_H
#define TWITCHD_HELIX_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "twitchd/backoff.h"
#include "twitchd/helix.h"
#include "twitchd/token_source.h"
#include "twitchd/uv_curl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Calls held at once (queued, in flight, waiting to retry), ceiling. */
#define TW_MAX_HELIX_QUEUE 4096
/* Default queue size when the options leave it 0. */
#define TW_HELIX_DEFAULT_QUEUE 256
/* Requests on the wire at once, ceiling and default. */
#define TW_MAX_HELIX_INFLIGHT 64
#define TW_HELIX_DEFAULT_INFLIGHT 8
/* Sends per request (401 retry excluded), ceiling and default. */
#define TW_MAX_HELIX_ATTEMPTS 10
#define TW_HELIX_DEFAULT_ATTEMPTS 4
/* Longest access token accepted from the source, in bytes. */
#define TW_MAX_HELIX_TOKEN 1024
/* Users cache: entries (ceiling and default) and default TTL. Ids never
 * change; a login can (renames), so entries expire after an hour. */
#define TW_MAX_HELIX_USERS_CACHE 65536
#define TW_HELIX_DEFAULT_USERS_CACHE 1024
#define TW_HELIX_DEFAULT_USERS_TTL_MS (60u * 60u * 1000u)
/* Concurrent distinct user lookups waiting for Get Users. */
#define TW_MAX_HELIX_LOOKUPS 256
/* Clip confirmation: Twitch says "If after 15 seconds Get Clips hasn't
 * returned the clip, assume it failed" (twitch-protocol.md 2.9). Get Clips
 * is polled every second within that window by default. */
#define TW_HELIX_CLIP_WINDOW_MS 15000u
#define TW_HELIX_DEFAULT_CLIP_POLL_MS 1000u
/* Token users with their own rate-limit buckets (least recently used one
 * is recycled). */
#define TW_MAX_HELIX_BUCKETS 8
/* Helix's documented default: 800 points per minute. */
#define TW_HELIX_DEFAULT_POINTS 800u
/* Longest detail text in a result (server message, curl error), bytes. */
#define TW_MAX_HELIX_DETAIL 512

typedef struct tw_helix_client tw_helix_client_t;

typedef struct {
  /* Helix base URL, e.g. "https://api.twitch.tv/helix" (NULL: that). https;
   * http only for a loopback host (127.0.0.0/8, ::1, localhost), as the
   * configuration allows for tests. Copied. */
  const char *base_url;
  /* The application's client id (required; sent as Client-Id). Copied. */
  const char *client_id;
  /* Extra trust anchor (PEM), added to the system store; verification of
   * the chain and the host name is always on. NULL: none. Read at once. */
  const char *ca_file;
  /* Where tokens come from (required; copied by value; its ud borrowed and
   * must outlive the client). */
  tw_token_source_t tokens;
  /* 0 for the defaults above. */
  unsigned max_queue;
  unsigned max_inflight;
  unsigned max_attempts;
  /* Backoff between retries after a 5xx or a network error: full jitter
   * from base up to cap (defaults 500 ms and 30 s). */
  uint64_t backoff_base_ms;
  uint64_t backoff_cap_ms;
  /* Per-request and connect timeouts (defaults 30 s and 10 s). */
  long timeout_ms;
  long connect_timeout_ms;
  /* Users cache size and TTL (defaults above). */
  unsigned users_cache;
  uint64_t users_ttl_ms;
  /* Clip confirmation window and poll interval (defaults above). */
  uint64_t clip_window_ms;
  uint64_t clip_poll_ms;
  /* Backoff random source (NULL: the kernel's). Borrowed. */
  tw_rand_fn rand;
  void *rand_ctx;
} tw_helix_client_opts_t;

/* The outcome of one call. Everything is borrowed for the callback. */
typedef struct {
  uint64_t id; /* what the call returned in *id */
  tw_helix_endpoint_t endpoint;
  /* 0, or: a tw_helix_err_code() code for an error answer (TW_ESCOPE,
   * TW_EAUTH, TW_EFORBIDDEN, TW_ENOTFOUND, TW_EEXIST, TW_ERATELIMIT,
   * TW_ETOOBIG, TW_EHTTP...); TW_EPARSE for a 2xx body that is not the
   * documented shape; TW_ETIMEDOUT, TW_ECONNREFUSED, TW_EDNS, TW_ECERT,
   * TW_ETLS, TW_EIO for network failures; when the token source could not
   * give a token, its reason (TW_EAUTH: a person must log in; another code,
   * e.g. TW_EAGAIN: a transient failure); TW_ECANCELED when the client
   * closed first. */
  int err;
  int http_status;   /* last answer's status; 0 when none came */
  unsigned attempts; /* requests sent */
  /* A repeated request was answered with an error that means the first
   * copy was performed (tw_helix_already_done()); err is 0. */
  bool already_done;
  /* The typed error of the last answer (kind NONE on success and for
   * failures without an answer). Never NULL. */
  const tw_helix_error_t *error;
  /* A sentence for logs: the server's message, curl's error; "" on
   * success. Never contains the token. */
  const char *detail;
  /* The raw body of the last answer (may be empty). */
  const char *body;
  size_t body_len;
  /* On success, the decoded body for the endpoint (others NULL): */
  const tw_helix_users_t *users;               /* GET_USERS */
  const tw_helix_streams_t *streams;           /* GET_STREAMS */
  const tw_helix_ban_t *ban;                   /* BAN_USER */
  const tw_helix_clip_created_t *clip_created; /* CREATE_CLIP */
  const tw_helix_clips_t *clips;               /* GET_CLIPS */
  const tw_helix_chat_sent_t *chat;            /* SEND_CHAT_MESSAGE */
  const tw_helix_subs_t *subs;                 /* EVENTSUB_CREATE, _LIST */
  /* tw_helix_create_clip(): the confirmed clip (NULL until confirmed);
   * clip_created is kept from the 202 (also on TW_ETIMEDOUT). */
  const tw_helix_clip_t *clip;
} tw_helix_result_t;

typedef void (*tw_helix_done_cb)(tw_helix_client_t *c,
                                 const tw_helix_result_t *res, void *arg);

/* A user lookup's answer: err 0 with id and login (borrowed for the call),
 * TW_ENOTFOUND when Twitch knows no such user, or the Get Users call's
 * error (`res`, NULL when the answer came from the cache or the lookup
 * was refused before any request). */
typedef void (*tw_helix_user_cb)(tw_helix_client_t *c, int err, const char *id,
                                 const char *login,
                                 const tw_helix_result_t *res, void *arg);

typedef void (*tw_helix_close_cb)(void *arg);

typedef struct {
  uint64_t requests;     /* HTTP requests sent */
  uint64_t succeeded;    /* calls completed with err 0 */
  uint64_t failed;       /* calls completed with an error */
  uint64_t retried;      /* requests sent again (any reason) */
  uint64_t refreshed;    /* 401s that led to a token refresh */
  uint64_t rate_limited; /* 429 answers */
  uint64_t waited;       /* times a request waited for its bucket */
  uint64_t cache_hits;   /* lookups answered from the users cache */
  uint64_t cache_misses; /* lookups that needed Get Users */
  unsigned queued;       /* calls held now */
} tw_helix_stats_t;

/* Creates a client on `loop` sending through `uc` (both borrowed; both
 * must outlive the client). `opts` borrowed for the call. Returns 0 and
 * sets *out, or TW_EINVAL (NULL, no client id, no token source, a bad base
 * URL, an option out of range), TW_ECONFIG (ca_file unreadable or not
 * PEM), TW_ENOMEM. Release with tw_helix_client_close(). */
int tw_helix_client_new(uv_loop_t *loop, tw_uvcurl_t *uc,
                        const tw_helix_client_opts_t *opts,
                        tw_helix_client_t **out);

/* Closes the client: every call not yet completed gets its callback with
 * TW_ECANCELED (before this returns, or right after the curl callback it
 * is called from), pending token refreshes are withdrawn, and `cb` (may be
 * NULL) runs from the loop once the memory is freed. New calls are refused
 * with TW_ESTATE. Further calls to close are ignored. */
void tw_helix_client_close(tw_helix_client_t *c, tw_helix_close_cb cb,
                           void *arg);

/* Sends a built request (borrowed; copied). On 0, `cb` is called exactly
 * once with `arg`, and *id (may be NULL) gets the call's id. Otherwise
 * returns TW_EINVAL (NULL, or a request no builder made), TW_EFULL (queue
 * full; nothing queued), TW_ESTATE (closing) or TW_ENOMEM, and `cb` is
 * never called. */
int tw_helix_client_send(tw_helix_client_t *c, const tw_helix_req_t *req,
                         tw_helix_done_cb cb, void *arg, uint64_t *id);

/* Withdraws a call (any kind: request, lookup, clip): its callback will
 * not be called, and a request on the wire is aborted. Returns 0, or
 * TW_ENOTFOUND when no such call is pending (already completed). */
int tw_helix_client_cancel(tw_helix_client_t *c, uint64_t id);

/* Counters (copied into *out). */
void tw_helix_client_stats(const tw_helix_client_t *c, tw_helix_stats_t *out);

/* The token source's user id now ("" when it has none). Borrowed until the
 * loop runs again. */
const char *tw_helix_client_user_id(const tw_helix_client_t *c);

/* ---- users cache ------------------------------------------------------ */

/* Resolves one user, by login (case-insensitive) or by id (exactly one of
 * the two non-NULL; borrowed), from the cache or with Get Users. The
 * callback is called exactly once, from the loop. Returns 0 (*id, may be
 * NULL, gets the call's id), TW_EINVAL (both or none, a malformed login or
 * id), TW_EFULL (TW_MAX_HELIX_LOOKUPS distinct users pending, or the queue
 * is full), TW_ESTATE, TW_ENOMEM. */
int tw_helix_lookup_user(tw_helix_client_t *c, const char *login,
                         const char *user_id, tw_helix_user_cb cb, void *arg,
                         uint64_t *id);

/* Cache probes (tests, diagnostics): copies the id of `login` (or the
 * login of `user_id`) into out (capacity cap) when cached and fresh.
 * Returns 0, TW_ENOTFOUND, TW_EINVAL, TW_ETOOBIG. */
int tw_helix_cache_get(tw_helix_client_t *c, const char *login,
                       const char *user_id, char *out, size_t cap);

/* Entries in the cache now (expired ones included until evicted). */
size_t tw_helix_cache_size(const tw_helix_client_t *c);

/* ---- convenience calls -------------------------------------------------
 * Each builds the request with helix.h's builder (same argument rules),
 * sends it as tw_helix_client_send() does and returns what the builder or
 * send returns. All strings are borrowed for the call. A NULL moderator or
 * sender id means the token source's user (TW_EAUTH when it has none). */

int tw_helix_get_users(tw_helix_client_t *c, const char *const *ids,
                       size_t nids, const char *const *logins, size_t nlogins,
                       tw_helix_done_cb cb, void *arg, uint64_t *id);
int tw_helix_get_streams(tw_helix_client_t *c, const char *const *user_ids,
                         size_t nids, const char *const *user_logins,
                         size_t nlogins, bool live_only, unsigned first,
                         const char *after, tw_helix_done_cb cb, void *arg,
                         uint64_t *id);
/* Modify Channel Information with {"title": title}. */
int tw_helix_set_title(tw_helix_client_t *c, const char *broadcaster_id,
                       const char *title, tw_helix_done_cb cb, void *arg,
                       uint64_t *id);
/* duration_s 0: permanent ban; else a timeout. reason may be NULL. */
int tw_helix_ban(tw_helix_client_t *c, const char *broadcaster_id,
                 const char *moderator_id, const char *user_id,
                 uint32_t duration_s, const char *reason, tw_helix_done_cb cb,
                 void *arg, uint64_t *id);
int tw_helix_unban(tw_helix_client_t *c, const char *broadcaster_id,
                   const char *moderator_id, const char *user_id,
                   tw_helix_done_cb cb, void *arg, uint64_t *id);
/* message_id NULL clears the whole chat. */
int tw_helix_delete_messages(tw_helix_client_t *c, const char *broadcaster_id,
                             const char *moderator_id, const char *message_id,
                             tw_helix_done_cb cb, void *arg, uint64_t *id);
/* Create Clip, then Get Clips by the new id every clip_poll_ms until it is
 * listed or clip_window_ms after the 202 have passed. The result's
 * endpoint is CREATE_CLIP; on success res->clip is the listed clip; when
 * the window passes, err is TW_ETIMEDOUT (res->clip_created still names
 * the id Twitch gave). */
int tw_helix_create_clip(tw_helix_client_t *c, const char *broadcaster_id,
                         const char *title, unsigned duration_tenths,
                         tw_helix_done_cb cb, void *arg, uint64_t *id);
int tw_helix_get_clips(tw_helix_client_t *c, const char *const *ids,
                       size_t nids, tw_helix_done_cb cb, void *arg,
                       uint64_t *id);
/* Send Chat Message. HTTP success with is_sent false is err 0: read
 * res->chat->is_sent and drop_code / drop_message. */
int tw_helix_send_chat(tw_helix_client_t *c, const char *broadcaster_id,
                       const char *sender_id, const char *message,
                       const char *reply_parent_id, tw_helix_done_cb cb,
                       void *arg, uint64_t *id);
int tw_helix_announce(tw_helix_client_t *c, const char *broadcaster_id,
                      const char *moderator_id, const char *message,
                      const char *color, tw_helix_done_cb cb, void *arg,
                      uint64_t *id);
int tw_helix_shoutout(tw_helix_client_t *c, const char *from_broadcaster_id,
                      const char *to_broadcaster_id, const char *moderator_id,
                      tw_helix_done_cb cb, void *arg, uint64_t *id);
int tw_helix_eventsub_create(tw_helix_client_t *c,
                             const tw_helix_sub_spec_t *spec,
                             tw_helix_done_cb cb, void *arg, uint64_t *id);
int tw_helix_eventsub_list(tw_helix_client_t *c, tw_helix_subs_filter_t f,
                           const char *value, const char *after,
                           tw_helix_done_cb cb, void *arg, uint64_t *id);
int tw_helix_eventsub_delete(tw_helix_client_t *c, const char *sub_id,
                             tw_helix_done_cb cb, void *arg, uint64_t *id);

#ifdef __cplusplus
}
#endif
#endif
