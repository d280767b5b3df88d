/* twitchd: credentials that look after themselves.
 *
 * A tw_creds_t keeps the bot's Twitch tokens usable for as long as the
 * process runs, on a libuv loop (docs/twitch-protocol.md section 1,
 * docs/auth.md):
 *
 *  - the user access token: loaded from the token file (twitchd/
 *    token_store.h); when there is no file and a `code` is configured, the
 *    code is exchanged (authorization_code grant) and the answer stored;
 *    validated at start and every hour (GET <oauth>/validate, as Twitch
 *    requires); refreshed ahead of expiry and whenever a client reports a
 *    401; the rotated refresh token is written to the token file before the
 *    new access token is handed to anyone, so a crash can never leave the
 *    only valid refresh token in memory;
 *  - the app access token (client_credentials), when a client secret is
 *    configured and opts.app_token is set: fetched at start, renewed ahead
 *    of expiry and on 401, validated hourly, kept in memory only.
 *
 * If that write fails (disk full, read-only file system), the error is
 * logged, the new token is used anyway (the old refresh token may already
 * be spent: withholding the new one would only stop the bot now instead of
 * at the next restart) and the write is retried every save_retry_ms until
 * it works.
 *
 * Renewals are single-flight: however many clients report a 401 at once,
 * one HTTP request renews the token and all of them get its answer.
 * Transient failures (network, 5xx, 429, a garbled answer) are retried with
 * capped exponential backoff (twitchd/backoff.h), forever. A dead
 * credential (400 "Invalid refresh token", a refused code, a wrong client
 * id or secret) is logged once as an error, reported once as an
 * AuthRequired event and to subscribers, and nothing more is sent for it:
 * the state becomes TW_CREDS_NEEDS_AUTH until a person runs `twitchd auth`.
 *
 * Tokens are registered with the logger's redaction (twitchd/log.h) the
 * moment they arrive and are sent only to the configured OAuth endpoint
 * (twitchd/oauth_http.h): they never reach a log line at any level.
 *
 * Timing decisions (when to renew, when to validate next) are made by a
 * pure function of the times involved (src/twitch/creds_plan.h), unit
 * tested; the handle only arms one timer per token from its answer.
 *
 * Everything runs on the loop's thread.
 */
#ifndef TWITCHD_CREDS_H
#define TWITCHD_CREDS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "twitchd/chat.h"
#include "twitchd/event.h"
#include "twitchd/token_source.h"
#include "twitchd/uv_curl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults (ms) of the options below. */
#define TW_CREDS_VALIDATE_INTERVAL_MS 3600000u /* Twitch: hourly */
#define TW_CREDS_REFRESH_MARGIN_MS 600000u     /* renew 10 min ahead */
#define TW_CREDS_RETRY_BASE_MS 1000u           /* first retry bound */
#define TW_CREDS_RETRY_CAP_MS 300000u          /* largest retry delay */
#define TW_CREDS_MIN_RENEW_GAP_MS 10000u /* between two 401-driven renewals */
#define TW_CREDS_SAVE_RETRY_MS 30000u    /* token file write retry */
/* Caps. */
#define TW_CREDS_MAX_WAITERS 256 /* pending refresh() answers per token */
/* A refresh() caller is answered TW_EAGAIN after this many failed attempts
 * (the manager keeps retrying on its own). */
#define TW_CREDS_WAITER_FAILURES 3
#define TW_CREDS_MAX_SUBSCRIBERS 16 /* tw_creds_subscribe() callbacks */
#define TW_MAX_CREDS_DETAIL 512     /* tw_creds_error() text */

typedef struct tw_creds tw_creds_t;

/* The user credential's state. */
typedef enum {
  TW_CREDS_IDLE = 0,   /* created, tw_creds_start() not called yet */
  TW_CREDS_STARTING,   /* loading, exchanging the code, first validation */
  TW_CREDS_READY,      /* a user access token is available */
  TW_CREDS_NO_TOKEN,   /* no token file and no code: anonymous chat only;
                          run `twitchd auth` */
  TW_CREDS_NEEDS_AUTH, /* the token cannot be renewed without a person
                          (refresh token or code refused, client id or
                          secret wrong): run `twitchd auth` */
  TW_CREDS_ERROR,      /* the token file is unreadable or not a token file;
                          it is left untouched */
  TW_CREDS_CLOSED
} tw_creds_state_t;

/* A static name ("ready", "needs_auth"...). */
const char *tw_creds_state_name(tw_creds_state_t s);

/* What a subscriber is told. */
typedef enum {
  TW_CREDS_USER_TOKEN = 1, /* a new user access token (`token`) */
  TW_CREDS_APP_TOKEN,      /* a new app access token (`token`) */
  TW_CREDS_USER_DEAD,      /* user credential needs a person (`reason`) */
  TW_CREDS_APP_DEAD        /* app credential refused (`reason`) */
} tw_creds_change_t;

/* Called on every change, from the loop. `token` and `reason` are borrowed
 * for the call (NULL when not applicable). */
typedef void (*tw_creds_watch_cb)(void *arg, tw_creds_t *c,
                                  tw_creds_change_t what, const char *token,
                                  const char *reason);

/* Settings; strings are borrowed for tw_creds_new(), which copies them. */
typedef struct {
  const char *client_id;     /* required */
  const char *client_secret; /* NULL: a public client (device flow app) */
  const char *code;          /* optional: exchanged when there is no file */
  const char *redirect_uri;  /* sent with the code exchange */
  const char *token_file;    /* NULL: tw_token_store_default_path() */
  const char *ca_file;       /* extra trusted CA (PEM), NULL for none */
  const char *oauth_base;    /* NULL: TW_OAUTH_DEFAULT_BASE */
  const char *connector;     /* events' connector field; NULL: "twitch" */
  /* How to tell the user to log in again, used in messages; NULL: "run
   * `twitchd auth -c <your config>`". */
  const char *auth_hint;
  bool user_token; /* manage the user token (normally true) */
  bool app_token;  /* also manage an app token (needs client_secret) */
  /* Times in ms; 0 means the TW_CREDS_* default. */
  uint32_t validate_interval_ms;
  uint32_t refresh_margin_ms;
  uint32_t retry_base_ms;
  uint32_t retry_cap_ms;
  uint32_t min_renew_gap_ms;
  uint32_t http_timeout_ms;
  /* After a failed write of the token file, how long until the next try
   * (0: TW_CREDS_SAVE_RETRY_MS). */
  uint32_t save_retry_ms;
  /* Optional: an adapter to share (borrowed; must outlive the handle).
   * NULL: the handle makes its own. */
  tw_uvcurl_t *curl;
  /* Optional: AuthRequired events. Ownership of `ev` passes to the callee,
   * who frees it with tw_event_free(). */
  void (*on_event)(tw_event_t *ev, void *ud);
  void *ud;
  /* Random source for the backoff jitter (NULL: the kernel's). */
  uint64_t (*rand)(void *ctx);
  void *rand_ctx;
} tw_creds_opts_t;

/* Fills *o with defaults: user_token true, everything else 0/NULL. */
void tw_creds_opts_default(tw_creds_opts_t *o);

/* Creates a handle on `loop` (borrowed; must outlive it). Touches no file
 * and sends nothing before tw_creds_start(). Registers client_secret and
 * code as log secrets. Returns 0 with *out set, TW_EINVAL (no client id,
 * app_token without client_secret, neither token wanted, an oauth_base
 * that tw_oauth_http_check_base() refuses), TW_ENOTFOUND (no token_file
 * and no default path) or TW_ENOMEM. */
int tw_creds_new(uv_loop_t *loop, const tw_creds_opts_t *opts,
                 tw_creds_t **out);

/* Loads the token file and starts the work described above. Returns 0
 * (the state says what happens next: STARTING or NO_TOKEN), TW_EPARSE or
 * TW_EIO when the file exists but cannot be used (state ERROR;
 * tw_creds_error() says why; the app token, if wanted, is still managed),
 * TW_ESTATE when already started or closed. */
int tw_creds_start(tw_creds_t *c);

/* Cancels every request and timer; pending refresh() callers get
 * TW_ECANCELED; `cb` (may be NULL) runs from the loop once every handle is
 * closed, and the memory is freed after it returns. Safe from callbacks;
 * a second call is ignored. */
void tw_creds_close(tw_creds_t *c, void (*cb)(void *ud), void *ud);

tw_creds_state_t tw_creds_state(const tw_creds_t *c);

/* A sentence about the last failure (never a secret), "" when none. Owned
 * by the handle; valid until the next return to the loop. */
const char *tw_creds_error(const tw_creds_t *c);

/* The user token's login and user id once known (from the file or the
 * last validation), else NULL. Owned by the handle; valid until the next
 * return to the loop. */
const char *tw_creds_login(const tw_creds_t *c);
const char *tw_creds_user_id(const tw_creds_t *c);

/* The current user / app access token, NULL when none. Borrowed like the
 * above. */
const char *tw_creds_user_token(const tw_creds_t *c);
const char *tw_creds_app_token(const tw_creds_t *c);

/* Token sources (twitchd/token_source.h) for API clients. The structs are
 * values; their `ud` is the handle, valid until tw_creds_close(). The app
 * source's refresh() returns TW_EUNSUPPORTED when opts.app_token is off. */
tw_token_source_t tw_creds_user_source(tw_creds_t *c);
tw_token_source_t tw_creds_app_source(tw_creds_t *c);

/* Calls cb(arg, ...) on every change until unsubscribed. The same (cb, arg)
 * twice is one subscription. Returns 0, TW_EFULL (TW_CREDS_MAX_SUBSCRIBERS)
 * or TW_EINVAL. */
int tw_creds_subscribe(tw_creds_t *c, tw_creds_watch_cb cb, void *arg);
void tw_creds_unsubscribe(tw_creds_t *c, tw_creds_watch_cb cb, void *arg);

/* ---- chat ----------------------------------------------------------------
 * The chat client takes its token through tw_chat_set_token() and asks for
 * a fresh one through its refresh_token callback ("Login authentication
 * failed"). These bind it to the user credential, so that every (re)connect
 * logs in with the current token (docs/anchors.md section 6, item 1). */

/* Pushes every new user token to `chat` (tw_chat_set_token) and stops it
 * when the credential is dead (tw_chat_token_failed(TW_EAUTH)). `chat` is
 * borrowed: call tw_creds_chat_detach() before freeing it. Returns 0,
 * TW_EFULL (uses one of the TW_CREDS_MAX_SUBSCRIBERS) or TW_EINVAL. */
int tw_creds_chat_attach(tw_creds_t *c, tw_chat_t *chat);
/* Undoes tw_creds_chat_attach() and withdraws a pending chat refresh. */
void tw_creds_chat_detach(tw_creds_t *c, tw_chat_t *chat);
/* Call from the chat's refresh_token callback: the current user token was
 * refused at login, so it is renewed (single-flight with every other
 * client) and the chat is answered with tw_chat_set_token(), or with
 * tw_chat_token_failed() (TW_EAUTH when a person must log in; another
 * code for a transient failure, which the chat retries within its own
 * limit). */
void tw_creds_chat_refresh(tw_creds_t *c, tw_chat_t *chat);

/* Counters, for tests and health output. */
typedef struct {
  uint64_t user_renewals;    /* refresh/exchange requests sent */
  uint64_t user_validations; /* validate requests sent (user token) */
  uint64_t app_renewals;     /* client_credentials requests sent */
  uint64_t app_validations;  /* validate requests sent (app token) */
  uint64_t retries;          /* failed attempts that will be retried */
  uint64_t save_failures;    /* token file writes that failed */
} tw_creds_stats_t;

void tw_creds_stats(const tw_creds_t *c, tw_creds_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
