/* twitchd: byte streams over libuv, plain TCP or TLS, and listeners.
 *
 * A tw_stream_t is one connection. Upper layers (IRC client, WebSocket,
 * simulator) see the same API whether bytes travel in clear or through TLS:
 * TLS runs on OpenSSL memory BIOs pumped from the libuv socket, never on the
 * file descriptor, so everything stays on the loop.
 *
 * Lifetime. tw_stream_new() creates a stream; tw_stream_close() (abrupt) or
 * tw_stream_end() (flush first) ends it. Either way on_close runs exactly once,
 * from the loop, and the memory is freed when it returns: the pointer must not
 * be used afterwards. A fatal error (connect failure, certificate rejected,
 * peer hung up) is reported once through on_error, after which the stream
 * closes itself and on_close follows; calling tw_stream_close() from on_error
 * or later (before on_close) is allowed and harmless. Closing asked for by the
 * owner produces no on_error.
 *
 * Callbacks may call any function of this API on the stream, including
 * tw_stream_close(); nothing is freed before the loop runs the close.
 *
 * Writing. tw_stream_write() copies the bytes into a queue bounded by
 * TW_MAX_STREAM_WQUEUE (bytes not yet taken by the kernel, plaintext before
 * the TLS handshake, ciphertext after). A write that would exceed it fails
 * whole with TW_EFULL and nothing is queued: no byte is ever dropped
 * silently. on_drain tells when the queue has emptied. Writes made before the
 * connection is up are queued and sent once it is.
 *
 * Signals. Writing to a connection the peer closed raises SIGPIPE, which
 * kills a process by default and which libuv does not mask. The first
 * tw_stream_new() or tw_listener_new() therefore sets SIGPIPE to ignored
 * when it is still at its default (a handler the program installed is left
 * alone); the failure then arrives as TW_ECLOSED.
 */
#ifndef TWITCHD_STREAM_H
#define TWITCHD_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "twitchd/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most bytes a stream holds for writing (see above). */
#define TW_MAX_STREAM_WQUEUE (2u * 1024u * 1024u)
/* Bytes read from the socket at a time (one on_read delivers at most this). */
#define TW_STREAM_READ_CHUNK 65536u
/* Longest host name accepted, in bytes (DNS limit). */
#define TW_MAX_HOST 255
/* Room for the detail string of an error. */
#define TW_MAX_STREAM_DETAIL 256
/* Default time allowed for resolve + TCP connect + TLS handshake. */
#define TW_STREAM_CONNECT_TIMEOUT_MS 10000u
/* Time an accepted TLS connection has to finish its handshake. */
#define TW_STREAM_ACCEPT_TIMEOUT_MS 10000u
/* Time tw_stream_end() waits for the queue to drain before closing anyway. */
#define TW_STREAM_END_TIMEOUT_MS 5000u
/* Most resolved addresses tried in turn by one connect. */
#define TW_STREAM_MAX_ADDRS 8
/* Backlog of a listener. */
#define TW_LISTENER_BACKLOG 128

typedef struct tw_stream tw_stream_t;
typedef struct tw_listener tw_listener_t;

typedef struct {
  /* The stream is usable: TCP connected and, for TLS, handshake done and
   * peer verified. For an accepted stream: right after on_accept returns
   * (plain) or when the TLS handshake completes. */
  void (*on_connect)(tw_stream_t *s, void *ud);
  /* Bytes from the peer (plaintext for TLS). `data` is borrowed for the call;
   * len is at most TW_STREAM_READ_CHUNK. */
  void (*on_read)(tw_stream_t *s, const char *data, size_t len, void *ud);
  /* The write queue has become empty again. */
  void (*on_drain)(tw_stream_t *s, void *ud);
  /* A fatal error: `err` is a TW_E* code (TW_ECONNREFUSED, TW_EDNS,
   * TW_ETIMEDOUT, TW_ECLOSED when the peer closed, TW_ECERT, TW_EHOSTNAME,
   * TW_ETLS, TW_EIO...), `detail` a sentence for people (borrowed for the
   * call; also kept by tw_stream_detail()). Called at most once; on_close
   * follows. */
  void (*on_error)(tw_stream_t *s, int err, const char *detail, void *ud);
  /* The stream is closed; its memory is freed when this returns. Called
   * exactly once. */
  void (*on_close)(tw_stream_t *s, void *ud);
} tw_stream_cb_t;

typedef struct {
  /* TLS client context (twitchd/tls.h), or NULL for plain TCP. Borrowed for
   * the call: the stream keeps its own reference. */
  tw_tls_ctx_t *tls;
  /* Name verified against the certificate and sent as SNI. NULL: the host
   * given to tw_stream_connect(). An IP literal is verified against the
   * certificate's IP addresses and sends no SNI. Copied. */
  const char *verify_host;
  /* Limit for resolve + connect + handshake, in ms. 0: the default
   * TW_STREAM_CONNECT_TIMEOUT_MS. */
  unsigned timeout_ms;
} tw_stream_connect_opts_t;

/* Creates an idle stream on `loop` (borrowed; must outlive the stream).
 * `cb` is copied; any of its members may be NULL. Returns 0 or TW_ENOMEM /
 * TW_EINVAL. End it with tw_stream_close() or tw_stream_end(). */
int tw_stream_new(uv_loop_t *loop, const tw_stream_cb_t *cb, void *ud,
                  tw_stream_t **out);

/* Starts connecting to `host` (a name or an IP literal; copied) on `port`:
 * resolves, tries each address in turn (at most TW_STREAM_MAX_ADDRS), then
 * does the TLS handshake when opts->tls is set. `opts` may be NULL (plain
 * TCP, defaults). Returns 0 (the outcome comes through on_connect or
 * on_error) or TW_EINVAL (bad argument, host longer than TW_MAX_HOST, a
 * server TLS context), TW_ESTATE (already connecting/connected or closing),
 * TW_ENOMEM / TW_ETLS. After a synchronous failure the stream is still owned
 * by the caller, who closes it. */
int tw_stream_connect(tw_stream_t *s, const char *host, uint16_t port,
                      const tw_stream_connect_opts_t *opts);

/* Queues `len` bytes (copied) for the peer. Returns 0, TW_EFULL (the queue
 * would exceed TW_MAX_STREAM_WQUEUE; nothing was queued), TW_ESTATE (the
 * stream is ending, closing or failed), TW_ENOMEM or TW_ETLS. */
int tw_stream_write(tw_stream_t *s, const void *data, size_t len);

/* How many bytes tw_stream_write() accepts right now (0 when ending or
 * closing). */
size_t tw_stream_write_room(const tw_stream_t *s);

/* Bytes queued and not yet taken by the kernel. */
size_t tw_stream_queued(const tw_stream_t *s);

/* Ends the stream gracefully: no more writes are accepted, queued bytes are
 * flushed, TLS sends close_notify, TCP sends FIN, then the stream closes and
 * on_close runs. Incoming bytes are discarded meanwhile. Gives up after
 * TW_STREAM_END_TIMEOUT_MS. Safe to call more than once and after
 * tw_stream_close() (no effect then). */
void tw_stream_end(tw_stream_t *s);

/* Closes the stream at once, dropping queued bytes. on_close runs later from
 * the loop. Safe to call more than once before on_close. */
void tw_stream_close(tw_stream_t *s);

/* Replaces the callbacks and their user data (`cb` copied). Used to hand an
 * accepted stream to its owner, or a connection to another layer. */
void tw_stream_set_callbacks(tw_stream_t *s, const tw_stream_cb_t *cb,
                             void *ud);

/* The detail of the last error ("" when none). Owned by the stream. */
const char *tw_stream_detail(const tw_stream_t *s);

/* Non-zero when the stream uses TLS. */
int tw_stream_is_tls(const tw_stream_t *s);

/* The negotiated protocol ("TLSv1.3"...) once the handshake is done, else
 * NULL. Static string. */
const char *tw_stream_tls_version(const tw_stream_t *s);

/* Writes the peer's address as "ip:port" ("[ip]:port" for IPv6) into `out`
 * (capacity `cap`). Returns 0, TW_ESTATE (not connected) or TW_ETOOBIG. */
int tw_stream_peer(const tw_stream_t *s, char *out, size_t cap);

/* Called for each accepted connection. `s` belongs to the callee, who sets
 * its callbacks with tw_stream_set_callbacks() (or tw_ws_accept(), which
 * does) before returning, and eventually closes it. A stream left without
 * callbacks is closed. */
typedef void (*tw_listener_accept_cb)(tw_listener_t *l, tw_stream_t *s,
                                      void *ud);

/* Listens on `ip` (an IP literal, copied; NULL: "127.0.0.1") and `port`
 * (0: an ephemeral port; see tw_listener_port()). `tls`, when not NULL, must
 * be a server context: accepted streams then do a TLS handshake first
 * (borrowed for the call; the listener keeps its own reference). Returns 0,
 * TW_EINVAL, TW_EEXIST (address in use), TW_EIO or TW_ENOMEM; on success
 * *out is owned by the caller and ended with tw_listener_close(). */
int tw_listener_new(uv_loop_t *loop, const char *ip, uint16_t port,
                    tw_tls_ctx_t *tls, tw_listener_accept_cb on_accept,
                    void *ud, tw_listener_t **out);

/* The port actually bound (useful with port 0). */
uint16_t tw_listener_port(const tw_listener_t *l);

/* Stops listening. Streams already accepted stay open. `on_closed` (may be
 * NULL) runs from the loop once the listener's memory is freed. */
void tw_listener_close(tw_listener_t *l, void (*on_closed)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
