/* TCP listeners handing accepted connections out as tw_stream_t, plain or
 * TLS. The simulator's chat, EventSub and HTTP servers sit on these. */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/stream.h"

#include "net/net_internal.h"

struct tw_listener {
  uv_tcp_t tcp;
  uv_loop_t *loop;
  SSL_CTX *ssl_ctx; /* own reference, NULL for plain */
  tw_listener_accept_cb on_accept;
  void *ud;
  uint16_t port;
  int closing;
  void (*on_closed)(void *ud);
  void *closed_ud;
};

static void on_listener_closed(uv_handle_t *h) {
  tw_listener_t *l = h->data;
  void (*cb)(void *) = l->on_closed;
  void *ud = l->closed_ud;
  SSL_CTX_free(l->ssl_ctx);
  free(l);
  if (cb)
    cb(ud);
}

static void on_connection(uv_stream_t *server, int status) {
  tw_listener_t *l = server->data;
  tw_stream_t *s;
  if (l->closing)
    return;
  if (status < 0) {
    tw_warn("net", "listener port %u: accept failed: %s", (unsigned)l->port,
            uv_strerror(status));
    return;
  }
  if (tw__stream_new_accepted(l->loop, l->ssl_ctx, &s) != 0) {
    tw_warn("net", "listener port %u: out of memory", (unsigned)l->port);
    return;
  }
  if (uv_accept(server, (uv_stream_t *)tw__stream_tcp(s)) != 0) {
    tw_stream_close(s);
    return;
  }
  if (l->on_accept)
    l->on_accept(l, s, l->ud);
  /* An owner that did not take the stream has nothing to hear from it. */
  if (!tw__stream_has_callbacks(s)) {
    tw_stream_close(s);
    return;
  }
  tw__stream_start_accepted(s);
}

int tw_listener_new(uv_loop_t *loop, const char *ip, uint16_t port,
                    tw_tls_ctx_t *tls, tw_listener_accept_cb on_accept,
                    void *ud, tw_listener_t **out) {
  struct sockaddr_storage ss;
  int len = sizeof(ss), r;
  tw_listener_t *l;

  if (!out)
    return TW_EINVAL;
  *out = NULL;
  if (!loop || !on_accept)
    return TW_EINVAL;
  if (tls && !tw_tls_ctx_is_server(tls))
    return TW_EINVAL;
  if (!ip)
    ip = "127.0.0.1";
  memset(&ss, 0, sizeof(ss));
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss) != 0)
    return TW_EINVAL;
  tw__net_ignore_sigpipe();
  l = calloc(1, sizeof(*l));
  if (!l)
    return TW_ENOMEM;
  l->loop = loop;
  l->on_accept = on_accept;
  l->ud = ud;
  if (uv_tcp_init(loop, &l->tcp) != 0) {
    free(l);
    return TW_EIO;
  }
  l->tcp.data = l;
  if (tls) {
    l->ssl_ctx = tw__tls_ssl_ctx(tls);
    SSL_CTX_up_ref(l->ssl_ctx);
  }
  r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&l->tcp, TW_LISTENER_BACKLOG, on_connection);
  if (r == 0)
    r = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
  if (r != 0) {
    tw_warn("net", "cannot listen on %s port %u: %s", ip, (unsigned)port,
            uv_strerror(r));
    /* The handle is live: the loop frees it. */
    l->closing = 1;
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return r == UV_EADDRINUSE ? TW_EEXIST : TW_EIO;
  }
  l->port =
      ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
  tw_debug("net", "listening on %s port %u%s", ip, (unsigned)l->port,
           tls ? " (TLS)" : "");
  *out = l;
  return 0;
}

uint16_t tw_listener_port(const tw_listener_t *l) {
  return l ? l->port : 0;
}

void tw_listener_close(tw_listener_t *l, void (*on_closed)(void *ud),
                       void *ud) {
  if (!l || l->closing)
    return;
  l->closing = 1;
  l->on_closed = on_closed;
  l->closed_ud = ud;
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
