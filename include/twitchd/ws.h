/* twitchd: WebSocket client and server on tw_stream_t (RFC 6455, wslay).
 *
 * One tw_ws_t is one WebSocket connection, either dialled with
 * tw_ws_connect() (ws:// or wss://) or accepted with tw_ws_accept() on a
 * stream a tw_listener_t handed out. Both then offer the same message API:
 * text and binary messages (whole; fragments are reassembled, at most
 * TW_MAX_WS_MESSAGE bytes), ping with a pong callback, pings answered
 * automatically, and the close handshake.
 *
 * Lifetime. Whatever happens (failed connect, refused upgrade, close by
 * either side, protocol error, dropped TCP), on_close runs exactly once with
 * a tw_ws_close_info_t saying why, and the handle is freed when it returns.
 * tw_ws_close() starts the close handshake; tw_ws_abort() drops the
 * connection without one. Callbacks may call any function of this API on the
 * handle, including tw_ws_close(); nothing is freed before the loop runs
 * the final close.
 *
 * What is not here: following redirects (a 3xx is reported with its
 * Location, the caller decides), proxies, extensions (permessage-deflate is
 * not offered), subprotocol negotiation beyond passing headers through.
 */
#ifndef TWITCHD_WS_H
#define TWITCHD_WS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "twitchd/stream.h"
#include "twitchd/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest message received or sent, in bytes, unless opts lower it (or
 * raise it, up to TW_MAX_WS_MESSAGE_LIMIT). A bigger incoming message closes
 * the connection with 1009 and TW_ETOOBIG. */
#define TW_MAX_WS_MESSAGE (1024u * 1024u)
/* Hard ceiling for the per-connection message limit. */
#define TW_MAX_WS_MESSAGE_LIMIT (16u * 1024u * 1024u)
/* Most bytes of messages queued for sending and not yet given to the
 * stream (whose own queue is TW_MAX_STREAM_WQUEUE). */
#define TW_MAX_WS_WQUEUE (2u * 1024u * 1024u)
/* Most messages (of any kind, automatic pongs included) queued and not yet
 * handed to the stream. Sends over it fail with TW_EFULL; a peer whose
 * pings pile up answers past twice this count is dropped (TW_EFULL). */
#define TW_MAX_WS_QUEUED_MSGS 4096u
/* Largest HTTP upgrade request or response head, in bytes. */
#define TW_MAX_WS_HANDSHAKE 16384u
/* Longest URL accepted by tw_ws_url_parse(). */
#define TW_MAX_WS_URL 2048
/* Longest path+query kept. */
#define TW_MAX_WS_PATH 2048
/* Longest block of extra request/response header lines. */
#define TW_MAX_WS_EXTRA_HEADERS 4096
/* Longest close reason (the frame allows 123 bytes). */
#define TW_MAX_WS_REASON 123
/* Longest ping payload (control frames carry at most 125 bytes). */
#define TW_MAX_WS_PING 125
/* Default limit for connect + TLS + upgrade, in ms. */
#define TW_WS_OPEN_TIMEOUT_MS 15000u
/* How long to wait for the peer's answer to our close frame, in ms. */
#define TW_WS_CLOSE_TIMEOUT_MS 5000u

/* Close codes used by this module (RFC 6455 section 7.4.1). */
#define TW_WS_CLOSE_NORMAL 1000
#define TW_WS_CLOSE_GOING_AWAY 1001
#define TW_WS_CLOSE_PROTOCOL_ERROR 1002
#define TW_WS_CLOSE_NO_STATUS 1005
#define TW_WS_CLOSE_ABNORMAL 1006
#define TW_WS_CLOSE_INVALID_DATA 1007
#define TW_WS_CLOSE_TOO_BIG 1009

typedef struct tw_ws tw_ws_t;

/* A parsed ws:// or wss:// URL. */
typedef struct {
  int tls;                       /* 1 for wss:// */
  char host[TW_MAX_HOST + 1];    /* without brackets for IPv6 literals */
  uint16_t port;                 /* explicit, or 80 / 443 */
  char path[TW_MAX_WS_PATH + 1]; /* path and query, "/" when empty */
} tw_ws_url_t;

/* Why a connection ended, passed to on_close (valid during the call). */
typedef struct {
  /* 0 when the connection ended by a close handshake (started by either
   * side) or by tw_ws_close(); otherwise the TW_E* reason: TW_ETOOBIG
   * (message over the limit, we sent 1009), TW_EPROTO (peer broke the
   * protocol, bad Sec-WebSocket-Accept...), TW_EHTTP (upgrade refused, see
   * http_status), TW_ECLOSED (TCP closed without a close frame),
   * TW_ETIMEDOUT, TW_ECANCELED (tw_ws_close() before open, tw_ws_abort()),
   * and the stream's codes (TW_ECONNREFUSED, TW_ECERT, TW_EHOSTNAME...). */
  int err;
  /* The close code of the side that started the close (see by_peer):
   * the peer's code (4003...), or ours (1000, 1009...). 1006 when no close
   * frame was exchanged, 1005 when the close frame carried no code. */
  int code;
  /* Its reason ("" when none). Borrowed for the call. */
  const char *reason;
  /* 1 when the peer started the close (or dropped the connection). */
  int by_peer;
  /* 1 if on_open ran. */
  int opened;
  /* For TW_EHTTP: the HTTP status the server answered (301, 404...).
   * On the server side, the status we answered a rejected request with. */
  int http_status;
  /* The Location header of a refused upgrade, else "". Borrowed. */
  const char *location;
  /* A sentence for people ("" when nothing to add). Borrowed. */
  const char *detail;
} tw_ws_close_info_t;

/* The request of a client asking for an upgrade (server side). */
typedef struct {
  const char *method;  /* "GET" */
  const char *path;    /* path and query as sent, e.g. "/ws?x=1" */
  const char *host;    /* Host header ("" if absent) */
  const char *headers; /* raw header lines after the request line */
} tw_ws_request_t;

typedef struct {
  /* The upgrade succeeded; messages may be sent. */
  void (*on_open)(tw_ws_t *ws, void *ud);
  /* A whole message (`data` borrowed for the call, not NUL-terminated;
   * `binary` 0 for text). Text is valid UTF-8 (checked by wslay). Not
   * called after tw_ws_close(). */
  void (*on_message)(tw_ws_t *ws, const char *data, size_t len, int binary,
                     void *ud);
  /* A pong arrived (payload borrowed). Not called after tw_ws_close(). */
  void (*on_pong)(tw_ws_t *ws, const char *data, size_t len, void *ud);
  /* A ping arrived; it is answered automatically. Optional, for watching
   * liveness from the server side. */
  void (*on_ping)(tw_ws_t *ws, const char *data, size_t len, void *ud);
  /* Server side only: decide on an upgrade request (borrowed for the call).
   * Return 0 to accept (101), or an HTTP status (300..599) to refuse with;
   * extra response headers can be set first with
   * tw_ws_set_response_headers(). NULL accepts every valid request. */
  int (*on_request)(tw_ws_t *ws, const tw_ws_request_t *req, void *ud);
  /* The end, exactly once; the handle is freed when this returns. */
  void (*on_close)(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud);
} tw_ws_cb_t;

typedef struct {
  /* TLS client context for wss:// (borrowed for the call). NULL with a
   * wss:// URL: TW_EINVAL. Ignored for ws://. */
  tw_tls_ctx_t *tls;
  /* Name checked against the certificate and sent as SNI; NULL: the URL's
   * host (copied). */
  const char *verify_host;
  /* Extra request header lines, each ending in "\r\n" (e.g.
   * "Origin: https://x\r\n"); NULL for none. Copied; at most
   * TW_MAX_WS_EXTRA_HEADERS bytes. */
  const char *extra_headers;
  /* Limit for connect + TLS + upgrade in ms; 0: TW_WS_OPEN_TIMEOUT_MS. */
  unsigned open_timeout_ms;
  /* Message size limit; 0: TW_MAX_WS_MESSAGE. */
  size_t max_message;
} tw_ws_connect_opts_t;

typedef struct {
  /* Message size limit; 0: TW_MAX_WS_MESSAGE. */
  size_t max_message;
  /* Time the client has to send its upgrade request, in ms; 0:
   * TW_WS_OPEN_TIMEOUT_MS. */
  unsigned open_timeout_ms;
} tw_ws_server_opts_t;

/* Parses a ws:// or wss:// URL (scheme case-insensitive; host a name, an
 * IPv4 literal or a bracketed IPv6 literal; optional port 1-65535; path and
 * query kept, "/" when absent). Returns 0, or TW_EINVAL for any other scheme,
 * user info, a fragment, a bad port or an empty host, TW_ETOOBIG for parts
 * over their caps. `url` borrowed; `out` filled by the call. */
int tw_ws_url_parse(const char *url, tw_ws_url_t *out);

/* Dials `url` (copied) and performs the upgrade. `opts` may be NULL for ws://
 * URLs; `cb` is copied. Returns 0 with *out set (the outcome then arrives via
 * on_open or on_close), or a synchronous error: TW_EINVAL (bad URL, wss://
 * without opts->tls, bad extra headers), TW_ENOMEM, TW_ETLS; no callback
 * runs after a synchronous error and nothing is left to free. */
int tw_ws_connect(uv_loop_t *loop, const char *url,
                  const tw_ws_connect_opts_t *opts, const tw_ws_cb_t *cb,
                  void *ud, tw_ws_t **out);

/* Takes an accepted stream (ownership passes to the tw_ws_t, whatever the
 * result) and serves the WebSocket upgrade on it: reads the request,
 * validates it (GET, HTTP/1.1, Upgrade: websocket, Connection: Upgrade,
 * Sec-WebSocket-Version: 13, a 16-byte Sec-WebSocket-Key), asks on_request,
 * answers 101 (or 400/426/the refusal status). Call it from the listener's
 * on_accept. `opts` may be NULL. Returns 0 with *out set, or TW_EINVAL /
 * TW_ENOMEM (the stream is then closed). */
int tw_ws_accept(tw_stream_t *s, const tw_ws_server_opts_t *opts,
                 const tw_ws_cb_t *cb, void *ud, tw_ws_t **out);

/* Queues a text message (copied). Returns 0, TW_ESTATE (not open, or closing),
 * TW_ETOOBIG (over the message limit), TW_EFULL (the send queue would exceed
 * TW_MAX_WS_WQUEUE bytes or TW_MAX_WS_QUEUED_MSGS messages; nothing was
 * queued) or TW_ENOMEM. */
int tw_ws_send_text(tw_ws_t *ws, const char *data, size_t len);

/* Same for a binary message. */
int tw_ws_send_binary(tw_ws_t *ws, const void *data, size_t len);

/* Sends a ping carrying up to TW_MAX_WS_PING bytes (copied); the answer
 * arrives through on_pong. Returns 0, TW_ESTATE, TW_EINVAL (payload too
 * long), TW_EFULL (TW_MAX_WS_QUEUED_MSGS reached) or TW_ENOMEM. */
int tw_ws_ping(tw_ws_t *ws, const void *data, size_t len);

/* Starts the close handshake with `code` (1000-4999 except the reserved
 * 1004-1006 and 1015) and `reason` (copied, at most TW_MAX_WS_REASON bytes,
 * may be NULL). on_close follows once the peer answers, or after
 * TW_WS_CLOSE_TIMEOUT_MS. Before the connection is open it cancels it
 * (on_close with TW_ECANCELED). Returns 0, TW_EINVAL (bad code or reason),
 * or TW_ESTATE when a close is already under way (harmless). */
int tw_ws_close(tw_ws_t *ws, int code, const char *reason);

/* Drops the connection without a close handshake (fault injection in the
 * simulator; tearing down on shutdown). on_close follows with
 * TW_ECANCELED. Safe to call more than once before on_close. */
void tw_ws_abort(tw_ws_t *ws);

/* Server side, from on_request: extra header lines for the response (each
 * ending in "\r\n", e.g. "Location: wss://host/\r\n"). Copied. Returns 0,
 * TW_EINVAL (malformed) or TW_ETOOBIG (over TW_MAX_WS_EXTRA_HEADERS). */
int tw_ws_set_response_headers(tw_ws_t *ws, const char *headers);

/* Bytes queued for sending (messages not yet handed to the stream plus the
 * stream's own queue). */
size_t tw_ws_queued(const tw_ws_t *ws);

/* Non-zero once on_open ran and until a close starts. */
int tw_ws_is_open(const tw_ws_t *ws);

/* The request path ("/ws?x=1"): on the server the one the client asked for,
 * on the client the one sent. Owned by the handle. */
const char *tw_ws_path(const tw_ws_t *ws);

/* The underlying stream (borrowed; do not close it or change its
 * callbacks). For peer addresses and TLS details. */
tw_stream_t *tw_ws_stream(tw_ws_t *ws);

/* Computes Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key +
 * "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")). `out` needs 29 bytes. Returns 0
 * or TW_EINVAL. Public for test servers that craft their own answers. */
int tw_ws_accept_key(const char *key, char out[29]);

#ifdef __cplusplus
}
#endif
#endif
