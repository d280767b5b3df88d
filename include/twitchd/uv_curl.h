/* twitchd: libcurl's multi_socket interface driven by a libuv loop.
 *
 * One tw_uvcurl_t owns one CURLM and runs every transfer added to it on the
 * loop: a uv_poll_t per socket curl asks to watch, one uv_timer_t for curl's
 * timeout, and a completion callback per transfer. Everything happens on the
 * loop's thread; no function here may be called from another thread.
 *
 * Ownership of the easy handle: the caller creates and configures it and
 * keeps owning it. From a successful tw_uvcurl_add() until its done callback
 * returns, the adapter borrows it: the caller must not clean it up, change
 * its options, or use CURLOPT_PRIVATE (the adapter stores its own state
 * there; pass your data as `ud` instead). When the done callback runs, the
 * handle has already been removed from the multi handle, so the callback may
 * curl_easy_cleanup() it, or reuse it and add it again.
 *
 * Exactly-once: every successful tw_uvcurl_add() leads to exactly one call
 * of its done callback: on completion (any CURLcode), on tw_uvcurl_cancel(),
 * or when the adapter is closed. Cancelled and aborted transfers report
 * CURLE_ABORTED_BY_CALLBACK.
 *
 * Re-entrancy: the functions below may be called from inside a done
 * callback and from inside curl's own callbacks (write, header, progress,
 * debug). Calls made while curl is running one of its callbacks are applied
 * as soon as curl returns (curl forbids re-entering the multi handle then).
 */
#ifndef TWITCHD_UV_CURL_H
#define TWITCHD_UV_CURL_H

#include <curl/curl.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Transfers in flight (added and not yet done) at once per adapter. */
#define TW_UVCURL_MAX_XFERS 1024

typedef struct tw_uvcurl tw_uvcurl_t;

/* Called once per transfer, on the loop thread. `easy` is no longer in the
 * multi handle; `ud` is what was given to tw_uvcurl_add(). */
typedef void (*tw_uvcurl_done_cb)(CURL *easy, CURLcode result, void *ud);

/* Called once the adapter is fully closed and its memory freed. */
typedef void (*tw_uvcurl_close_cb)(void *ud);

/* Creates an adapter on `loop` (borrowed; it must outlive the adapter).
 * Returns NULL when out of memory or if curl cannot be initialised. The
 * adapter is released with tw_uvcurl_close(). */
tw_uvcurl_t *tw_uvcurl_new(uv_loop_t *loop);

/* The multi handle, for options such as CURLMOPT_MAX_HOST_CONNECTIONS.
 * Borrowed. Do not set CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION or
 * their data, and do not add or remove handles directly. */
CURLM *tw_uvcurl_multi(tw_uvcurl_t *uc);

/* Starts `easy` (borrowed, see above) on the loop; `done` will be called
 * exactly once with `ud`. Returns 0, TW_EINVAL (NULL arguments, or `easy`
 * already in flight here), TW_ESTATE (the adapter is closing), TW_EFULL
 * (TW_UVCURL_MAX_XFERS in flight), TW_ENOMEM, or TW_EIO if curl refuses the
 * handle. When called from inside a curl callback, curl's refusal can only
 * be seen later and is reported through `done` (CURLE_FAILED_INIT). */
int tw_uvcurl_add(tw_uvcurl_t *uc, CURL *easy, tw_uvcurl_done_cb done,
                  void *ud);

/* Aborts one transfer: its done callback is called with
 * CURLE_ABORTED_BY_CALLBACK before this returns, or, when called from
 * inside a curl or done callback, right after that callback returns.
 * Returns 0, or TW_ENOTFOUND if `easy` is not in flight here (for example,
 * already done). */
int tw_uvcurl_cancel(tw_uvcurl_t *uc, CURL *easy);

/* Transfers in flight. */
unsigned tw_uvcurl_count(const tw_uvcurl_t *uc);

/* The TW_E* code for a failed transfer's CURLcode: TW_ETIMEDOUT,
 * TW_ECONNREFUSED, TW_EDNS, TW_ECERT (the peer's certificate or our CA file
 * could not be verified or used), TW_ETLS (other TLS failures),
 * TW_ECANCELED (aborted: tw_uvcurl_cancel() or close), else TW_EIO. One
 * table, so that every HTTP client reports network failures alike. */
int tw_uvcurl_error(CURLcode rc);

/* Closes the adapter: every transfer still in flight is aborted and its done
 * callback called once with CURLE_ABORTED_BY_CALLBACK (synchronously, unless
 * called from inside a curl or done callback, then right after it), the
 * multi handle is cleaned up, and the libuv handles are closed. `cb` (may
 * be NULL) runs from the loop once all memory is freed. After this call
 * `uc` only accepts further tw_uvcurl_close() calls (ignored) and
 * tw_uvcurl_add() (refused with TW_ESTATE) until `cb` has run; after that it
 * must not be used at all. */
void tw_uvcurl_close(tw_uvcurl_t *uc, tw_uvcurl_close_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
