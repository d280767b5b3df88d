/* twitchd: one HTTP request to the OAuth endpoint, on the loop.
 *
 * The credentials manager (twitchd/creds.h) and `twitchd auth` talk to
 * id.twitch.tv (or the simulator) through this: one POST of a form body or
 * one GET with an Authorization header, run by tw_uvcurl on the loop. It
 * exists so that every request that carries a token is configured the same
 * careful way in one place:
 *   - TLS verification is always on; an extra CA file (PEM) is added to the
 *     system store, never substituted for it;
 *   - redirects are never followed, so a token goes only to the configured
 *     endpoint;
 *   - only https (and http, which the configuration allows for loopback
 *     hosts only) are allowed;
 *   - the answer is capped at TW_MAX_OAUTH_RESPONSE bytes;
 *   - nothing is logged but the method, the path and the status.
 *
 * Everything runs on the loop's thread.
 */
#ifndef TWITCHD_OAUTH_HTTP_H
#define TWITCHD_OAUTH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "twitchd/uv_curl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_OAUTH_HTTP_TIMEOUT_MS 30000u /* whole request, by default */
#define TW_OAUTH_HTTP_CONNECT_MS 10000u /* connection set-up, by default */
#define TW_MAX_OAUTH_HTTP_DETAIL 256    /* transport error detail */

typedef struct tw_oauth_http tw_oauth_http_t;

/* The outcome of one request. `err` is 0 when an HTTP answer came (any
 * status, in `status`, with `body` of `len` bytes, NUL-terminated), or a
 * negative TW_E* code when none did: TW_ETIMEDOUT, TW_ECONNREFUSED,
 * TW_EDNS, TW_ECERT, TW_ETLS, TW_ETOOBIG (answer over the cap), TW_EIO
 * (another transport failure), TW_ECANCELED (tw_oauth_http_cancel() or the
 * adapter closed). `detail` is a sentence for people (curl's message), ""
 * on success. All borrowed for the call. The request is freed after the
 * callback returns. */
typedef void (*tw_oauth_http_cb)(void *arg, int err, long status,
                                 const char *body, size_t len,
                                 const char *detail);

/* A request. Strings are borrowed for tw_oauth_http_start(), which copies
 * what it keeps. */
typedef struct {
  const char *base;    /* OAuth base URL; NULL: TW_OAUTH_DEFAULT_BASE */
  const char *path;    /* TW_OAUTH_PATH_TOKEN, ..._VALIDATE, ... */
  const char *body;    /* POST form body; NULL makes a GET */
  size_t body_len;     /* bytes of body */
  const char *bearer;  /* GET: sends "Authorization: OAuth <bearer>" */
  const char *ca_file; /* extra trusted CA (PEM), NULL for none */
  uint32_t timeout_ms; /* 0: TW_OAUTH_HTTP_TIMEOUT_MS */
} tw_oauth_http_req_t;

/* Checks an OAuth base URL before any token is sent to it: https:// to
 * any host, or http:// only to a loopback host (localhost, 127.0.0.0/8,
 * [::1]), so that no setting can send a token over the network in clear
 * text. Returns 0 or TW_EINVAL. */
int tw_oauth_http_check_base(const char *base);

/* Starts `req` on `uc` (borrowed; must outlive the request). `cb` is called
 * exactly once with `arg`, from the loop, never from inside this call.
 * *out (optional) receives a handle valid until the callback returns, for
 * tw_oauth_http_cancel(). Returns 0; TW_EINVAL (no path, a URL that does
 * not fit, a base tw_oauth_http_check_base() refuses, a bearer that is not
 * visible ASCII); TW_ENOMEM; or what
 * tw_uvcurl_add() returns (TW_ESTATE when the adapter is closing, TW_EFULL).
 * On error cb is not called. */
int tw_oauth_http_start(tw_uvcurl_t *uc, const tw_oauth_http_req_t *req,
                        tw_oauth_http_cb cb, void *arg, tw_oauth_http_t **out);

/* Aborts a request: its callback runs with TW_ECANCELED (before this
 * returns, or right after the curl callback that called this). */
void tw_oauth_http_cancel(tw_oauth_http_t *h);

#ifdef __cplusplus
}
#endif
#endif
