/* Internal helpers shared by the files of the net layer. */
#ifndef TWITCHD_NET_INTERNAL_H
#define TWITCHD_NET_INTERNAL_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "twitchd/stream.h"
#include "twitchd/tls.h"

/* The OpenSSL context behind a tw_tls_ctx_t (borrowed). */
SSL_CTX *tw__tls_ssl_ctx(const tw_tls_ctx_t *ctx);

/* Writes "<prefix>: <OpenSSL error queue>" into out and clears the queue.
 * With an empty queue, writes the prefix alone. */
void tw__tls_err_detail(char *out, size_t cap, const char *prefix);

/* Copies a string into a fixed buffer, truncating; out is always
 * NUL-terminated when cap > 0. */
void tw__strlcpy(char *out, const char *in, size_t cap);

/* Creates a stream for a connection a listener accepted on `server` (its
 * tcp handle is initialised by the caller through tw__stream_tcp()). */
int tw__stream_new_accepted(uv_loop_t *loop, SSL_CTX *server,
                            tw_stream_t **out);
/* The libuv handle to accept into, for the listener. */
uv_tcp_t *tw__stream_tcp(tw_stream_t *s);
/* Starts an accepted stream once the owner has set its callbacks. */
void tw__stream_start_accepted(tw_stream_t *s);
/* Non-zero when the owner set at least one callback. */
int tw__stream_has_callbacks(const tw_stream_t *s);
/* Sets SIGPIPE to ignored once per process, unless the application
 * installed its own handler (see stream.h). */
void tw__net_ignore_sigpipe(void);

/* The loop a stream runs on. */
uv_loop_t *tw__stream_loop(const tw_stream_t *s);
/* The SSL object of a TLS stream, else NULL (tests poke TLS internals). */
SSL *tw__stream_ssl(tw_stream_t *s);

#endif
