/* twitchd: OAuth 2 codec for Twitch's id.twitch.tv (sans-IO).
 *
 * Builds what twitchd sends to id.twitch.tv (the authorize URL a person
 * opens, the form bodies of the token, device and revoke requests, the
 * validate header) and decodes what comes back (token, validate and device
 * answers, Twitch's {"status":N,"message":"..."} error bodies, the query
 * string of the redirect). No sockets, no clock, no globals: the caller does
 * the HTTP and passes the wall-clock time in where an expiry is computed.
 * docs/twitch-protocol.md section 1 is the contract; the exact strings it
 * quotes are what the decoders match.
 *
 * Paths are relative to the OAuth base URL, which is configurable (the
 * simulator serves it on 127.0.0.1): POST <base>/token, POST <base>/device,
 * GET <base>/validate, POST <base>/revoke, GET <base>/authorize.
 *
 * Builders append to a caller-owned tw_buf_t (whose cap bounds the result)
 * and leave it unchanged when they fail. Decoders allocate their results;
 * each result type has a _clear() function that frees it (and overwrites
 * secrets first). Nothing here logs: form bodies and decoded tokens hold
 * secrets, and the caller registers them with tw_log_add_secret().
 *
 * Scopes: tw_scopes_t is a small owned list of scope names; see also
 * tw_oauth_scopes_for(), which computes what twitchd needs for a set of
 * features (docs/scopes.md explains each scope).
 */
#ifndef TWITCHD_OAUTH_H
#define TWITCHD_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twitchd/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_OAUTH_DEFAULT_BASE "https://id.twitch.tv/oauth2"
#define TW_OAUTH_PATH_AUTHORIZE "/authorize"
#define TW_OAUTH_PATH_TOKEN "/token"
#define TW_OAUTH_PATH_DEVICE "/device"
#define TW_OAUTH_PATH_VALIDATE "/validate"
#define TW_OAUTH_PATH_REVOKE "/revoke"
#define TW_OAUTH_FORM_TYPE "application/x-www-form-urlencoded"
#define TW_OAUTH_DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"

/* Caps, in bytes. */
#define TW_MAX_OAUTH_URL 8192       /* authorize URL (suggested buf cap) */
#define TW_MAX_OAUTH_BODY 8192      /* a request form body (suggested cap) */
#define TW_MAX_OAUTH_RESPONSE 65536 /* largest response body decoded */
#define TW_MAX_OAUTH_TOKEN 1024     /* a token; = TW_LOG_MAX_SECRET */
#define TW_MAX_OAUTH_STR 2048       /* client id, code, login, URI... */
#define TW_MAX_OAUTH_QUERY 8192     /* redirect query string */
#define TW_MAX_OAUTH_MESSAGE 256    /* server error text kept */
#define TW_MIN_OAUTH_STATE 16       /* shortest state accepted */
#define TW_MAX_OAUTH_STATE 256      /* longest state accepted */
#define TW_MAX_SCOPES 128           /* scopes in one list (Twitch has ~80) */
#define TW_MAX_SCOPE_LEN 64         /* one scope name */

/* ---- scope lists ------------------------------------------------------ */

/* An owned list of distinct scope names, in insertion order. A zeroed
 * struct ({0}) is an empty list. A scope name is 1..TW_MAX_SCOPE_LEN bytes
 * of visible ASCII (no spaces). */
typedef struct {
  size_t n;
  char **v; /* n strings, owned */
} tw_scopes_t;

/* Adds a copy of `scope` unless already present. Returns 0, TW_EINVAL (not
 * a valid scope name), TW_EFULL (TW_MAX_SCOPES reached) or TW_ENOMEM. */
int tw_scopes_add(tw_scopes_t *s, const char *scope);
/* Adds every scope of a space-separated list of `len` bytes (runs of
 * spaces are one separator; the redirect's `scope` parameter, once
 * decoded, has this shape). On error the list is left as it was. */
int tw_scopes_add_spaced(tw_scopes_t *s, const char *text, size_t len);
/* True when `scope` is in the list. */
bool tw_scopes_has(const tw_scopes_t *s, const char *scope);
/* Replaces `dst` with a copy of `src`. On error dst is left empty. */
int tw_scopes_copy(tw_scopes_t *dst, const tw_scopes_t *src);
/* Appends the scopes of `need` that `have` lacks to `missing` (copied).
 * Returns the number appended or a negative TW_E* code. */
int tw_scopes_missing(const tw_scopes_t *have, const tw_scopes_t *need,
                      tw_scopes_t *missing);
/* Appends the names joined by single spaces (not encoded) to `out`. */
int tw_scopes_join(const tw_scopes_t *s, tw_buf_t *out);
/* Frees every name and the array; the list is empty afterwards. */
void tw_scopes_free(tw_scopes_t *s);

/* Features twitchd can use, for tw_oauth_scopes_for(). Chat can go over IRC
 * (chat:read/chat:edit) or over EventSub + Helix (user:read:chat and
 * user:write:chat); a configuration picks one per direction. */
#define TW_FEAT_IRC_READ (1u << 0)       /* chat:read */
#define TW_FEAT_IRC_SEND (1u << 1)       /* chat:edit */
#define TW_FEAT_EVENTSUB_CHAT (1u << 2)  /* user:read:chat */
#define TW_FEAT_HELIX_SEND (1u << 3)     /* user:write:chat */
#define TW_FEAT_BOT_BADGE (1u << 4)      /* user:bot + channel:bot */
#define TW_FEAT_BAN (1u << 5)            /* moderator:manage:banned_users */
#define TW_FEAT_DELETE_MESSAGE (1u << 6) /* moderator:manage:chat_messages */
#define TW_FEAT_SET_TITLE (1u << 7)      /* channel:manage:broadcast */
#define TW_FEAT_CLIPS (1u << 8)          /* clips:edit */
#define TW_FEAT_ANNOUNCE (1u << 9)       /* moderator:manage:announcements */
#define TW_FEAT_SHOUTOUT (1u << 10)      /* moderator:manage:shoutouts */
#define TW_FEAT_WHISPER (1u << 11)       /* user:manage:whispers */
#define TW_FEAT_FOLLOWS (1u << 12)       /* moderator:read:followers */
#define TW_FEAT_SUBSCRIPTIONS (1u << 13) /* channel:read:subscriptions */
#define TW_FEAT_CHEERS (1u << 14)        /* bits:read */
#define TW_FEAT_BAN_EVENTS (1u << 15)    /* channel:moderate */
#define TW_FEAT_STREAM_STATUS (1u << 16) /* (no scope) */
#define TW_FEAT_RAIDS (1u << 17)         /* (no scope) */
#define TW_FEAT_ALL ((1u << 18) - 1u)
/* The seed connector's feature set, on today's platform: chat over IRC,
 * follows, subscriptions and gifts, stream up/down, set title, create clip,
 * delete message, ban. */
#define TW_FEAT_SEED                                                           \
  (TW_FEAT_IRC_READ | TW_FEAT_IRC_SEND | TW_FEAT_FOLLOWS |                     \
   TW_FEAT_SUBSCRIPTIONS | TW_FEAT_STREAM_STATUS | TW_FEAT_SET_TITLE |         \
   TW_FEAT_CLIPS | TW_FEAT_DELETE_MESSAGE | TW_FEAT_BAN)

/* Adds to `out` the scopes the features in `features` need, in a fixed
 * order (the order of the table in docs/scopes.md), without duplicates.
 * Unknown bits give TW_EINVAL and leave `out` unchanged. */
int tw_oauth_scopes_for(unsigned features, tw_scopes_t *out);

/* Why twitchd asks for `scope` (a static sentence), or NULL when twitchd
 * never asks for it. */
const char *tw_oauth_scope_reason(const char *scope);

/* When `scope` is one Twitch no longer has (the Kraken v5 scopes of the
 * seed's example URL, user:edit:follows...), a static sentence saying what
 * happened to it; NULL otherwise. */
const char *tw_oauth_scope_removed(const char *scope);

/* ---- request builders --------------------------------------------------- */

/* Parameters of the authorize URL (all borrowed for the call). */
typedef struct {
  const char *base;          /* NULL: TW_OAUTH_DEFAULT_BASE */
  const char *client_id;     /* required */
  const char *redirect_uri;  /* required; exactly as registered */
  const tw_scopes_t *scopes; /* NULL or empty: no scope parameter */
  const char *state;         /* required; random, see tw_oauth_state_hex() */
  bool force_verify;         /* adds force_verify=true */
} tw_oauth_authorize_t;

/* Appends the authorize URL a person opens in a browser:
 *   <base>/authorize?response_type=code&client_id=..&redirect_uri=..
 *   &scope=chat%3Aread+chat%3Aedit&state=..[&force_verify=true]
 * Values are form-encoded (space as '+', ':' and '/' as %3A and %2F).
 * Returns 0; TW_EINVAL when client_id is not visible ASCII, redirect_uri is
 * empty or not UTF-8 text, or state is not TW_MIN_OAUTH_STATE..
 * TW_MAX_OAUTH_STATE visible ASCII characters; TW_ETOOBIG; TW_ENOMEM. */
int tw_oauth_authorize_url(tw_buf_t *out, const tw_oauth_authorize_t *p);

/* Writes 2*n lower-case hex digits of the `n` random bytes (the caller
 * draws them, e.g. with OpenSSL's RAND_bytes) into `out` (capacity `cap`,
 * NUL-terminated): a state value for the authorize URL. Returns 0 or
 * TW_EINVAL (n < 8, or cap too small). */
int tw_oauth_state_hex(const unsigned char *rnd, size_t n, char *out,
                       size_t cap);

/* Token request bodies, for POST <base>/token with Content-Type
 * TW_OAUTH_FORM_TYPE. All strings are borrowed; each is checked (tokens,
 * ids, secrets and codes must be visible ASCII of bounded length, so a
 * value can never add a form field) and URL-encoded. Each returns 0,
 * TW_EINVAL, TW_ETOOBIG or TW_ENOMEM and leaves `out` unchanged on error.
 * The bodies hold secrets: do not log them. */

/* client_id=&client_secret=&code=&grant_type=authorization_code
 * &redirect_uri= */
int tw_oauth_body_authorization_code(tw_buf_t *out, const char *client_id,
                                     const char *client_secret,
                                     const char *code,
                                     const char *redirect_uri);
/* grant_type=refresh_token&refresh_token=<encoded>&client_id=
 * [&client_secret=]. `client_secret` NULL for public clients (device code
 * flow apps), which must not send one. */
int tw_oauth_body_refresh(tw_buf_t *out, const char *client_id,
                          const char *client_secret, const char *refresh_token);
/* client_id=&client_secret=&grant_type=client_credentials */
int tw_oauth_body_client_credentials(tw_buf_t *out, const char *client_id,
                                     const char *client_secret);
/* For POST <base>/device: client_id=&scopes=<space-joined, encoded>.
 * Note "scopes", plural, unlike the authorize URL's "scope". */
int tw_oauth_body_device_start(tw_buf_t *out, const char *client_id,
                               const tw_scopes_t *scopes);
/* The device poll: client_id=&scopes=&device_code=
 * &grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code */
int tw_oauth_body_device_token(tw_buf_t *out, const char *client_id,
                               const tw_scopes_t *scopes,
                               const char *device_code);
/* For POST <base>/revoke: client_id=&token= */
int tw_oauth_body_revoke(tw_buf_t *out, const char *client_id,
                         const char *token);
/* For GET <base>/validate: appends the header line, without CRLF,
 * "Authorization: OAuth <token>". */
int tw_oauth_validate_header(tw_buf_t *out, const char *access_token);

/* ---- results --------------------------------------------------------------
 */

/* What an id.twitch.tv answer means. Decoders fill tw_oauth_error_t.result
 * with one of these; the comments list the messages (compared without
 * regard to case) and statuses that map to each. */
typedef enum {
  TW_OAUTH_OK = 0,
  /* 400 "Invalid refresh token": unknown, revoked or already used (public
   * clients' refresh tokens are one-time). The credential is dead. */
  TW_OAUTH_INVALID_REFRESH_TOKEN,
  /* 400 "Invalid authorization code" (bad, used or expired code), or an
   * RFC 6749 "invalid_grant". */
  TW_OAUTH_INVALID_GRANT,
  /* 400 "authorization_pending": device flow, the user is not done yet. */
  TW_OAUTH_PENDING,
  /* 400 "slow_down": device flow, poll less often. */
  TW_OAUTH_SLOW_DOWN,
  /* 400 "invalid device code" (or RFC 8628 "expired_token"): start over. */
  TW_OAUTH_EXPIRED_DEVICE_CODE,
  /* "access_denied": the user refused (redirect or device flow). */
  TW_OAUTH_ACCESS_DENIED,
  /* 400 "invalid client", 403 "invalid client secret", 400 "missing client
   * secret", 404 "client does not exist": configuration is wrong. */
  TW_OAUTH_INVALID_CLIENT,
  /* 401 (e.g. "invalid access token", "missing authorization token"), and
   * revoke's 400 "Invalid token": the access token is not valid. */
  TW_OAUTH_UNAUTHORIZED,
  /* 429. */
  TW_OAUTH_RATE_LIMITED,
  /* 5xx. */
  TW_OAUTH_SERVER_ERROR,
  /* A 2xx answer that is not the documented JSON. */
  TW_OAUTH_BAD_RESPONSE,
  /* Redirect: the state does not match the one sent (forged or stale). */
  TW_OAUTH_STATE_MISMATCH,
  /* Anything else (the message says what). */
  TW_OAUTH_OTHER
} tw_oauth_result_t;

/* A decoded failure. `message` is the server's text, sanitised (control
 * characters replaced) and truncated; never a secret of ours. */
typedef struct {
  tw_oauth_result_t result;
  int http_status; /* 0 when not from an HTTP answer (redirect checks) */
  char message[TW_MAX_OAUTH_MESSAGE];
} tw_oauth_error_t;

/* A static name like "invalid_refresh_token" (never NULL). */
const char *tw_oauth_result_name(tw_oauth_result_t r);
/* True when trying again later may succeed (PENDING, SLOW_DOWN,
 * RATE_LIMITED, SERVER_ERROR). */
bool tw_oauth_result_retryable(tw_oauth_result_t r);
/* True when the credential or configuration is dead and retrying cannot
 * help: a person must act (INVALID_REFRESH_TOKEN, INVALID_GRANT,
 * EXPIRED_DEVICE_CODE, ACCESS_DENIED, INVALID_CLIENT, STATE_MISMATCH). */
bool tw_oauth_result_fatal(tw_oauth_result_t r);
/* The TW_E* code a decoder returns for `r`: 0 for OK; TW_EAGAIN for
 * PENDING and SLOW_DOWN; TW_ERATELIMIT; TW_EPARSE for BAD_RESPONSE;
 * TW_EHTTP for SERVER_ERROR and OTHER; TW_EAUTH for the rest. */
int tw_oauth_result_err(tw_oauth_result_t r);

/* Decodes an error answer (`len` bytes of `body`, borrowed; may be empty or
 * not JSON) with HTTP status `http_status` into `err` (always filled).
 * Returns tw_oauth_result_err(err->result). A 2xx status gives TW_OAUTH_OK
 * and 0. Tolerates Twitch's {"status":N,"message":"..."} with or without an
 * "error" member, and RFC 6749 {"error":"...","error_description":"..."}. */
int tw_oauth_decode_error(int http_status, const char *body, size_t len,
                          tw_oauth_error_t *err);

/* ---- response decoders ---------------------------------------------------
 * Each takes the HTTP status and the body (borrowed) of one answer.
 * Returns 0 and fills `out` on a 2xx answer with a valid body. Otherwise
 * `out` is left empty and the return is TW_EINVAL (NULL argument),
 * TW_ETOOBIG (body over TW_MAX_OAUTH_RESPONSE; err->result BAD_RESPONSE),
 * TW_ENOMEM, or tw_oauth_result_err() of the decoded error (TW_EPARSE for
 * a malformed 2xx body). `err` may be NULL; when given it is always
 * filled. */

/* A token answer (every grant). `expires_in` is -1 when absent (the docs'
 * refresh example omits it), `expires_at_ms` = now_ms + expires_in * 1000,
 * or 0 when expires_in is absent or 0. `scopes` accepts an array (today)
 * or a space-separated string (older docs) and is empty when absent. */
typedef struct {
  char *access_token;  /* owned, secret, never NULL after success */
  char *refresh_token; /* owned, secret; NULL when none (client creds) */
  char *token_type;    /* owned; "bearer"; NULL when absent */
  int64_t expires_in;  /* seconds */
  uint64_t expires_at_ms;
  tw_scopes_t scopes;
} tw_oauth_token_t;

/* `now_ms` is the wall clock in milliseconds since the Unix epoch
 * (tw_wall_ms()), so that the expiry can be stored and survive restarts. */
int tw_oauth_decode_token(int http_status, const char *body, size_t len,
                          uint64_t now_ms, tw_oauth_token_t *out,
                          tw_oauth_error_t *err);
/* Frees the strings (overwriting the tokens first) and zeroes the struct. */
void tw_oauth_token_clear(tw_oauth_token_t *t);

/* A validate answer. App tokens have no login or user id (NULL). Scopes
 * "null" is an empty list. expires_in 0 means a token that does not
 * expire. */
typedef struct {
  char *client_id; /* owned */
  char *login;     /* owned, NULL for app tokens */
  char *user_id;   /* owned, NULL for app tokens */
  int64_t expires_in;
  tw_scopes_t scopes;
} tw_oauth_validation_t;

int tw_oauth_decode_validate(int http_status, const char *body, size_t len,
                             tw_oauth_validation_t *out, tw_oauth_error_t *err);
void tw_oauth_validation_clear(tw_oauth_validation_t *v);

/* A device authorization answer. `interval` defaults to 5 s when absent
 * and is at least 1. */
typedef struct {
  char *device_code;      /* owned, secret */
  char *user_code;        /* owned */
  char *verification_uri; /* owned */
  int64_t expires_in;     /* seconds */
  int64_t interval;       /* seconds between polls */
} tw_oauth_device_t;

int tw_oauth_decode_device(int http_status, const char *body, size_t len,
                           tw_oauth_device_t *out, tw_oauth_error_t *err);
void tw_oauth_device_clear(tw_oauth_device_t *d);

/* A revoke answer: 200 with an empty body is success. */
int tw_oauth_decode_revoke(int http_status, const char *body, size_t len,
                           tw_oauth_error_t *err);

/* ---- the redirect -----------------------------------------------------------
 */

/* The parameters Twitch puts on the redirect URI. Each is decoded ('+' and
 * %XX) and owned; NULL when absent. */
typedef struct {
  char *code; /* secret */
  char *state;
  char *scope;             /* granted scopes, space-separated */
  char *error;             /* e.g. "access_denied" */
  char *error_description; /* e.g. "The user denied you access" */
} tw_oauth_redirect_t;

/* Parses the query of a redirect: `len` bytes (borrowed) that may be the
 * bare query ("code=..&state=.."), or a request target or URL containing
 * '?' (everything up to the first '?' is skipped; a '#fragment' is
 * dropped). Unknown parameters are ignored. Returns 0; TW_EPARSE for a
 * malformed escape, a NUL byte, or a known parameter given twice (two
 * codes or states are ambiguous, so neither is trusted); TW_ETOOBIG over
 * TW_MAX_OAUTH_QUERY; TW_EINVAL; TW_ENOMEM. On error `out` is empty. */
int tw_oauth_parse_redirect(const char *query, size_t len,
                            tw_oauth_redirect_t *out);
void tw_oauth_redirect_clear(tw_oauth_redirect_t *r);

/* Compares two states in time that does not depend on where they differ
 * (only on their lengths, which are not secret). False when either is
 * NULL. */
bool tw_oauth_state_equal(const char *expected, const char *got);

/* What a parsed redirect means, given the state that was sent: 0 when it
 * carries a code and the state matches; otherwise fills `err` (optional)
 * and returns TW_EAUTH with STATE_MISMATCH (checked first: an answer with
 * a wrong state is not ours, whatever it says), ACCESS_DENIED
 * (error=access_denied) or OTHER (another error, or no code). */
int tw_oauth_redirect_check(const tw_oauth_redirect_t *r,
                            const char *expected_state, tw_oauth_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
