/* Byte streams over libuv: plain TCP or TLS through OpenSSL memory BIOs.
 *
 * TLS never touches the socket. Bytes read from libuv go into the SSL's read
 * BIO; whatever OpenSSL writes into its write BIO (handshake records, alerts,
 * session tickets, KeyUpdate answers, application data) is moved to the
 * stream's write queue after every SSL call and sent with uv_write. That one
 * rule, "flush the write BIO after each SSL call", is what makes
 * post-handshake messages work without special cases.
 *
 * Writes are coalesced: at most one uv_write is in flight (`inflight`); bytes
 * written meanwhile collect in `pending` and go out together when it
 * completes. Before a TLS handshake completes, application bytes wait in
 * `early` as plaintext. The three together never exceed TW_MAX_STREAM_WQUEUE
 * (plus the TLS record overhead of what was accepted).
 *
 * Memory is freed only once every libuv handle and request that points at
 * the stream has called back (`refs`), which is what lets callbacks close
 * the stream from anywhere.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/stream.h"

#include "net/net_internal.h"

/* Extra room in the ciphertext queues for TLS record headers and tags of
 * what the plaintext cap let in, and for handshake and alert records. */
#define TW_STREAM_TLS_SLACK (64u * 1024u)
/* Plaintext taken out of OpenSSL per SSL_read (one TLS record at most). */
#define TW_STREAM_TLS_READ_CHUNK 16384u
/* Ciphertext moved from the write BIO to the queue per step. */
#define TW_STREAM_BIO_CHUNK 16384u
/* A drained queue keeps its memory unless it grew beyond this. */
#define TW_STREAM_KEEP_BUF (64u * 1024u)

enum {
  ST_IDLE = 0,   /* created, nothing started */
  ST_RESOLVING,  /* waiting for getaddrinfo */
  ST_CONNECTING, /* waiting for TCP connect */
  ST_HANDSHAKE,  /* TCP up, TLS handshake running */
  ST_OPEN,       /* usable */
  ST_ENDING,     /* flushing before close (tw_stream_end) */
  ST_CLOSING     /* handles closing; on_close pending */
};

/* One socket. Separate from the stream because a failed connect leaves a
 * libuv handle unusable and the next address needs a fresh one. */
typedef struct {
  uv_tcp_t h;
  uv_connect_t conn;
  tw_stream_t *s;
  int connected;
} tw_tcp_t;

struct tw_stream {
  uv_loop_t *loop;
  tw_stream_cb_t cb;
  void *ud;
  int cb_set;
  int state;
  int server;
  int failed;       /* on_error already reported */
  int owner_ended;  /* tw_stream_end() called: no writes, no errors */
  unsigned refs;    /* handles/requests that still point here */
  tw_tcp_t *tcp;    /* current socket, NULL when none */
  uv_timer_t timer; /* connect/handshake timeout, then end linger */
  uv_getaddrinfo_t gai;
  int gai_active;
  struct addrinfo *ai;      /* resolved list (owned) */
  struct addrinfo *ai_next; /* next address to try */
  int attempts;
  uv_write_t wreq;
  int writing;
  uv_shutdown_t sreq;
  int shutting;
  tw_buf_t inflight; /* bytes owned by the uv_write in flight */
  tw_buf_t pending;  /* bytes waiting for the next uv_write */
  tw_buf_t early;    /* TLS plaintext written before the handshake ended */
  SSL_CTX *ssl_ctx;  /* own reference */
  SSL *ssl;          /* owns rbio and wbio */
  BIO *rbio;
  BIO *wbio;
  int last_err;
  uint16_t port;
  unsigned timeout_ms;
  char host[TW_MAX_HOST + 1];
  char verify_host[TW_MAX_HOST + 1];
  char cur_ip[64];             /* address being tried, for details */
  char name[TW_MAX_HOST + 16]; /* "host:port" or the peer, for logs */
  char detail[TW_MAX_STREAM_DETAIL];
  char rbuf[TW_STREAM_READ_CHUNK];
  char pbuf[TW_STREAM_TLS_READ_CHUNK];
};

static void begin_close(tw_stream_t *s);
static void start_end(tw_stream_t *s, int close_notify);
static void kick_write(tw_stream_t *s);
static void try_next_addr(tw_stream_t *s);
static void tls_read_all(tw_stream_t *s);

static const char *MOD = "net";

/* ---- small helpers ---- */

static int is_ip_literal(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static size_t queued_bytes(const tw_stream_t *s) {
  return s->inflight.len + s->pending.len + s->early.len;
}

static void release_buf(tw_buf_t *b) {
  if (b->alloc > TW_STREAM_KEEP_BUF)
    tw_buf_free(b);
  else
    tw_buf_reset(b);
}

static void maybe_finish(tw_stream_t *s) {
  if (s->state != ST_CLOSING || s->refs > 0)
    return;
  if (s->ai)
    uv_freeaddrinfo(s->ai);
  SSL_free(s->ssl); /* frees both BIOs */
  SSL_CTX_free(s->ssl_ctx);
  tw_buf_free(&s->inflight);
  tw_buf_free(&s->pending);
  tw_buf_free(&s->early);
  if (s->cb.on_close)
    s->cb.on_close(s, s->ud);
  free(s);
}

static void on_timer_closed(uv_handle_t *h) {
  tw_stream_t *s = h->data;
  s->refs--;
  maybe_finish(s);
}

static void on_tcp_closed(uv_handle_t *h) {
  tw_tcp_t *w = h->data;
  tw_stream_t *s = w->s;
  free(w);
  s->refs--;
  maybe_finish(s);
}

static void drop_tcp(tw_stream_t *s) {
  if (s->tcp) {
    uv_close((uv_handle_t *)&s->tcp->h, on_tcp_closed);
    s->tcp = NULL;
  }
}

static void begin_close(tw_stream_t *s) {
  if (s->state == ST_CLOSING)
    return;
  s->state = ST_CLOSING;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, on_timer_closed);
  drop_tcp(s);
  /* Cancelling may fail when the lookup already runs; its callback then
   * comes later and finds the stream closing. */
  if (s->gai_active)
    uv_cancel((uv_req_t *)&s->gai);
}

/* Reports a fatal error once, then winds the stream down. Bytes already
 * queued (a TLS alert telling the peer why, typically) are flushed first
 * when the socket is up. */
static void fail(tw_stream_t *s, int err, const char *detail) {
  if (s->state == ST_CLOSING)
    return;
  if (s->state == ST_ENDING || s->owner_ended) {
    /* The owner asked to end; an error now only shortens the wait. */
    begin_close(s);
    return;
  }
  if (s->failed)
    return; /* reported already; the stream is winding down */
  s->failed = 1;
  s->last_err = err;
  if (detail != s->detail)
    tw__strlcpy(s->detail, detail, sizeof(s->detail));
  tw_debug(MOD, "stream %s: %s (%s)", s->name, tw_err_name(err), s->detail);
  if (s->cb.on_error)
    s->cb.on_error(s, err, s->detail, s->ud);
  if (s->state == ST_CLOSING)
    return;
  if (s->tcp && s->tcp->connected && (s->pending.len || s->writing))
    start_end(s, 0);
  else
    begin_close(s);
}

static void failf(tw_stream_t *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failf(tw_stream_t *s, int err, const char *fmt, ...) {
  char d[TW_MAX_STREAM_DETAIL];
  va_list ap;
  if (s->state == ST_CLOSING)
    return;
  /* A local buffer: the detail already reported must not change. */
  va_start(ap, fmt);
  vsnprintf(d, sizeof(d), fmt, ap);
  va_end(ap);
  fail(s, err, d);
}

static int map_uv_err(int uverr) {
  switch (uverr) {
  case UV_ECONNREFUSED:
    return TW_ECONNREFUSED;
  case UV_ETIMEDOUT:
    return TW_ETIMEDOUT;
  case UV_ECONNRESET:
  case UV_EPIPE:
  case UV_EOF:
  case UV_ECONNABORTED:
    return TW_ECLOSED;
  case UV_ENOMEM:
    return TW_ENOMEM;
  default:
    return TW_EIO;
  }
}

/* ---- writing ---- */

/* Moves whatever OpenSSL produced into the pending queue. */
static int flush_wbio(tw_stream_t *s) {
  char tmp[TW_STREAM_BIO_CHUNK];
  if (!s->wbio)
    return 0;
  while (BIO_ctrl_pending(s->wbio) > 0) {
    int n = BIO_read(s->wbio, tmp, (int)sizeof(tmp));
    if (n <= 0)
      break;
    if (tw_buf_append(&s->pending, tmp, (size_t)n) != 0) {
      failf(s, TW_EFULL, "TLS output exceeds the write queue");
      return TW_EFULL;
    }
  }
  return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  tw_stream_t *s = req->data;
  (void)status;
  if (s->state == ST_CLOSING)
    return;
  begin_close(s);
}

static void do_shutdown(tw_stream_t *s) {
  if (s->shutting || !s->tcp)
    return;
  s->shutting = 1;
  s->sreq.data = s;
  if (uv_shutdown(&s->sreq, (uv_stream_t *)&s->tcp->h, on_shutdown) != 0) {
    s->shutting = 0;
    begin_close(s);
  }
}

static void on_written(uv_write_t *req, int status) {
  tw_stream_t *s = req->data;
  s->writing = 0;
  release_buf(&s->inflight);
  if (s->state == ST_CLOSING || status == UV_ECANCELED)
    return;
  if (status < 0) {
    failf(s, map_uv_err(status), "write failed: %s", uv_strerror(status));
    return;
  }
  kick_write(s);
  if (s->writing || s->pending.len)
    return;
  if (s->state == ST_ENDING) {
    do_shutdown(s);
    return;
  }
  /* Handshake records draining are no news to the owner. */
  if (s->cb.on_drain && s->state == ST_OPEN)
    s->cb.on_drain(s, s->ud);
}

static void kick_write(tw_stream_t *s) {
  uv_buf_t b;
  tw_buf_t t;
  int r;
  if (s->writing || s->pending.len == 0 || !s->tcp || !s->tcp->connected)
    return;
  if (s->state != ST_HANDSHAKE && s->state != ST_OPEN && s->state != ST_ENDING)
    return;
  /* Swap so that new writes go to a fresh `pending` while libuv holds the
   * bytes of `inflight`. */
  t = s->inflight;
  s->inflight = s->pending;
  s->pending = t;
  b = uv_buf_init(s->inflight.data, (unsigned)s->inflight.len);
  s->wreq.data = s;
  r = uv_write(&s->wreq, (uv_stream_t *)&s->tcp->h, &b, 1, on_written);
  if (r != 0) {
    release_buf(&s->inflight);
    failf(s, map_uv_err(r), "write failed: %s", uv_strerror(r));
    return;
  }
  s->writing = 1;
}

static int tls_write(tw_stream_t *s, const void *data, size_t len) {
  int r;
  ERR_clear_error();
  r = SSL_write(s->ssl, data, (int)len);
  if (r <= 0 || (size_t)r != len) {
    tw__tls_err_detail(s->detail, sizeof(s->detail), "TLS write failed");
    fail(s, TW_ETLS, s->detail);
    return TW_ETLS;
  }
  return flush_wbio(s);
}

/* ---- TLS ---- */

static void tls_handshake_failed(tw_stream_t *s, int ssl_err) {
  long vr = s->server ? X509_V_OK : SSL_get_verify_result(s->ssl);
  if (vr != X509_V_OK) {
    int err = (vr == X509_V_ERR_HOSTNAME_MISMATCH ||
               vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
                  ? TW_EHOSTNAME
                  : TW_ECERT;
    ERR_clear_error();
    failf(s, err, "certificate verification failed for %s: %s", s->verify_host,
          X509_verify_cert_error_string(vr));
    return;
  }
  if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    failf(s, TW_ETLS, "TLS handshake failed: unexpected end of stream");
    ERR_clear_error();
    return;
  }
  tw__tls_err_detail(s->detail, sizeof(s->detail), "TLS handshake failed");
  fail(s, TW_ETLS, s->detail);
}

static void on_opened(tw_stream_t *s) {
  s->state = ST_OPEN;
  uv_timer_stop(&s->timer);
  if (s->ssl && s->early.len > 0) {
    if (tls_write(s, s->early.data, s->early.len) != 0)
      return;
    release_buf(&s->early);
  }
  if (s->owner_ended) {
    /* Ended before it was up: what was written goes out, then the end. */
    start_end(s, 1);
    return;
  }
  kick_write(s);
  if (s->ssl)
    tw_debug(MOD, "stream %s:%u: %s established", s->host, (unsigned)s->port,
             SSL_get_version(s->ssl));
  if (s->cb.on_connect)
    s->cb.on_connect(s, s->ud);
}

static void tls_handshake(tw_stream_t *s) {
  int r, e;
  ERR_clear_error();
  r = SSL_do_handshake(s->ssl);
  e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, r);
  if (flush_wbio(s) != 0)
    return;
  kick_write(s);
  if (s->state != ST_HANDSHAKE)
    return;
  if (r == 1) {
    on_opened(s);
    return;
  }
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return;
  tls_handshake_failed(s, e);
}

static void tls_read_all(tw_stream_t *s) {
  while (s->state == ST_OPEN) {
    int r, e;
    ERR_clear_error();
    r = SSL_read(s->ssl, s->pbuf, (int)sizeof(s->pbuf));
    if (r > 0) {
      if (s->cb.on_read)
        s->cb.on_read(s, s->pbuf, (size_t)r, s->ud);
      continue;
    }
    e = SSL_get_error(s->ssl, r);
    /* SSL_read may have produced records of its own (a KeyUpdate answer,
     * an alert): they must go out even though no data came in. */
    if (flush_wbio(s) != 0)
      return;
    kick_write(s);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      fail(s, TW_ECLOSED, "connection closed by peer (TLS close_notify)");
      return;
    }
    tw__tls_err_detail(s->detail, sizeof(s->detail), "TLS read failed");
    fail(s, TW_ETLS, s->detail);
    return;
  }
}

static void tls_feed(tw_stream_t *s, const char *data, size_t len) {
  if (BIO_write(s->rbio, data, (int)len) != (int)len) {
    tw__tls_err_detail(s->detail, sizeof(s->detail), "TLS buffer error");
    fail(s, TW_ETLS, s->detail);
    return;
  }
  if (s->state == ST_HANDSHAKE)
    tls_handshake(s);
  /* Application data may arrive in the same read as the end of the
   * handshake, so read right away rather than on the next socket read. */
  if (s->state == ST_OPEN)
    tls_read_all(s);
}

static int tls_setup(tw_stream_t *s, SSL_CTX *ctx, int server) {
  SSL_CTX_up_ref(ctx);
  s->ssl_ctx = ctx;
  s->ssl = SSL_new(ctx);
  s->rbio = BIO_new(BIO_s_mem());
  s->wbio = BIO_new(BIO_s_mem());
  if (!s->ssl || !s->rbio || !s->wbio) {
    BIO_free(s->rbio);
    BIO_free(s->wbio);
    s->rbio = s->wbio = NULL;
    tw__tls_err_detail(s->detail, sizeof(s->detail), "cannot create TLS");
    return TW_ENOMEM;
  }
  /* An empty memory BIO must read as "retry", not as end of stream. */
  BIO_set_mem_eof_return(s->rbio, -1);
  BIO_set_mem_eof_return(s->wbio, -1);
  SSL_set_bio(s->ssl, s->rbio, s->wbio);
  if (server)
    SSL_set_accept_state(s->ssl);
  else
    SSL_set_connect_state(s->ssl);
  return 0;
}

static int tls_client_names(tw_stream_t *s) {
  const char *name = s->verify_host;
  int ip = is_ip_literal(name);
  ERR_clear_error();
  if ((SSL_CTX_get_verify_mode(s->ssl_ctx) & SSL_VERIFY_PEER) != 0) {
    if (ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), name) != 1)
        goto bad;
    } else {
      SSL_set_hostflags(s->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(s->ssl, name) != 1)
        goto bad;
    }
  }
  /* RFC 6066: SNI carries host names only, never IP literals. */
  if (!ip && SSL_set_tlsext_host_name(s->ssl, name) != 1)
    goto bad;
  return 0;
bad:
  tw__tls_err_detail(s->detail, sizeof(s->detail),
                     "cannot set the TLS host name");
  return TW_ETLS;
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tw_tcp_t *w = h->data;
  (void)suggested;
  *buf = uv_buf_init(w->s->rbuf, (unsigned)sizeof(w->s->rbuf));
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  tw_tcp_t *w = h->data;
  tw_stream_t *s = w->s;
  (void)buf;
  if (s->state == ST_CLOSING || nread == 0)
    return;
  if (nread < 0) {
    if (s->state == ST_ENDING) {
      /* The peer is done; finish flushing to it all the same. */
      uv_read_stop(h);
      return;
    }
    if (nread == UV_EOF)
      fail(s, TW_ECLOSED, "connection closed by peer");
    else
      failf(s, map_uv_err((int)nread), "read failed: %s",
            uv_strerror((int)nread));
    return;
  }
  if (s->state == ST_ENDING)
    return; /* the owner no longer wants data */
  if (s->ssl)
    tls_feed(s, s->rbuf, (size_t)nread);
  else if (s->cb.on_read)
    s->cb.on_read(s, s->rbuf, (size_t)nread, s->ud);
}

static int start_reading(tw_stream_t *s) {
  int r = uv_read_start((uv_stream_t *)&s->tcp->h, on_alloc, on_read);
  if (r != 0)
    failf(s, TW_EIO, "cannot read: %s", uv_strerror(r));
  return r;
}

/* ---- connecting ---- */

static void on_timer(uv_timer_t *t) {
  tw_stream_t *s = t->data;
  switch (s->state) {
  case ST_RESOLVING:
  case ST_CONNECTING:
  case ST_HANDSHAKE:
    failf(s, TW_ETIMEDOUT, "%s to %s port %u timed out after %u ms",
          s->state == ST_HANDSHAKE ? "TLS handshake" : "connect", s->host,
          (unsigned)s->port, s->timeout_ms);
    break;
  case ST_ENDING:
    begin_close(s);
    break;
  default:
    break;
  }
}

static tw_tcp_t *new_tcp(tw_stream_t *s) {
  tw_tcp_t *w = calloc(1, sizeof(*w));
  if (!w)
    return NULL;
  if (uv_tcp_init(s->loop, &w->h) != 0) {
    free(w);
    return NULL;
  }
  w->h.data = w;
  w->conn.data = w;
  w->s = s;
  s->refs++;
  return w;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t cap) {
  char ip[64] = "?";
  if (sa->sa_family == AF_INET)
    uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
  else if (sa->sa_family == AF_INET6)
    uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
  tw__strlcpy(out, ip, cap);
}

static void on_connected(uv_connect_t *req, int status) {
  tw_tcp_t *w = req->data;
  tw_stream_t *s = w->s;
  if (status == UV_ECANCELED || s->state == ST_CLOSING || w != s->tcp)
    return;
  if (status < 0) {
    s->last_err = map_uv_err(status);
    snprintf(s->detail, sizeof(s->detail), "connect to %.100s port %u (%s): %s",
             s->host, (unsigned)s->port, s->cur_ip, uv_strerror(status));
    drop_tcp(s);
    try_next_addr(s);
    return;
  }
  w->connected = 1;
  uv_freeaddrinfo(s->ai);
  s->ai = s->ai_next = NULL;
  if (start_reading(s) != 0)
    return;
  if (s->ssl) {
    s->state = ST_HANDSHAKE;
    tls_handshake(s);
  } else {
    on_opened(s);
  }
}

static void try_next_addr(tw_stream_t *s) {
  while (s->ai_next && s->attempts < TW_STREAM_MAX_ADDRS) {
    struct addrinfo *a = s->ai_next;
    tw_tcp_t *w;
    int r;
    s->ai_next = a->ai_next;
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
      continue;
    s->attempts++;
    addr_text(a->ai_addr, s->cur_ip, sizeof(s->cur_ip));
    w = new_tcp(s);
    if (!w) {
      fail(s, TW_ENOMEM, "out of memory");
      return;
    }
    s->tcp = w;
    /* Chat lines are small and latency matters more than packet count. */
    uv_tcp_nodelay(&w->h, 1);
    r = uv_tcp_connect(&w->conn, &w->h, a->ai_addr, on_connected);
    if (r == 0) {
      s->state = ST_CONNECTING;
      return;
    }
    s->last_err = map_uv_err(r);
    snprintf(s->detail, sizeof(s->detail), "connect to %.100s port %u (%s): %s",
             s->host, (unsigned)s->port, s->cur_ip, uv_strerror(r));
    drop_tcp(s);
  }
  if (s->attempts == 0)
    failf(s, TW_EDNS, "no usable address for %s", s->host);
  else
    fail(s, s->last_err ? s->last_err : TW_EIO, s->detail);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  tw_stream_t *s = req->data;
  s->gai_active = 0;
  s->refs--;
  if (s->state == ST_CLOSING) {
    if (res)
      uv_freeaddrinfo(res);
    maybe_finish(s);
    return;
  }
  if (status < 0) {
    if (res)
      uv_freeaddrinfo(res);
    failf(s, TW_EDNS, "cannot resolve %s: %s", s->host, uv_strerror(status));
    return;
  }
  s->ai = s->ai_next = res;
  try_next_addr(s);
}

/* ---- public API ---- */

void tw__net_ignore_sigpipe(void) {
  static int done;
  struct sigaction sa;
  if (done)
    return;
  done = 1;
  /* A write to a socket the peer has closed raises SIGPIPE, whose default
   * action kills the process; libuv does not mask it. The error is handled
   * through EPIPE instead. A handler the application installed is kept. */
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
  }
}

static int stream_alloc(uv_loop_t *loop, tw_stream_t **out) {
  tw_stream_t *s;
  tw__net_ignore_sigpipe();
  s = calloc(1, sizeof(*s));
  if (!s)
    return TW_ENOMEM;
  s->loop = loop;
  if (uv_timer_init(loop, &s->timer) != 0) {
    free(s);
    return TW_EIO;
  }
  s->timer.data = s;
  s->refs = 1; /* the timer */
  tw_buf_init(&s->inflight, TW_MAX_STREAM_WQUEUE + TW_STREAM_TLS_SLACK);
  tw_buf_init(&s->pending, TW_MAX_STREAM_WQUEUE + TW_STREAM_TLS_SLACK);
  tw_buf_init(&s->early, TW_MAX_STREAM_WQUEUE);
  *out = s;
  return 0;
}

int tw_stream_new(uv_loop_t *loop, const tw_stream_cb_t *cb, void *ud,
                  tw_stream_t **out) {
  int r;
  if (!out)
    return TW_EINVAL;
  *out = NULL;
  if (!loop)
    return TW_EINVAL;
  r = stream_alloc(loop, out);
  if (r != 0)
    return r;
  tw_stream_set_callbacks(*out, cb, ud);
  return 0;
}

void tw_stream_set_callbacks(tw_stream_t *s, const tw_stream_cb_t *cb,
                             void *ud) {
  if (!s)
    return;
  if (cb) {
    s->cb = *cb;
    s->cb_set = 1;
  } else {
    memset(&s->cb, 0, sizeof(s->cb));
    s->cb_set = 0;
  }
  s->ud = ud;
}

int tw_stream_connect(tw_stream_t *s, const char *host, uint16_t port,
                      const tw_stream_connect_opts_t *opts) {
  struct addrinfo hints;
  char portstr[8];
  const char *vh;
  int r;

  if (!s || !host || !host[0] || port == 0)
    return TW_EINVAL;
  if (s->state != ST_IDLE || s->server)
    return TW_ESTATE;
  if (strlen(host) > TW_MAX_HOST)
    return TW_EINVAL;
  vh = opts && opts->verify_host && opts->verify_host[0] ? opts->verify_host
                                                         : host;
  if (strlen(vh) > TW_MAX_HOST)
    return TW_EINVAL;
  if (opts && opts->tls && tw_tls_ctx_is_server(opts->tls))
    return TW_EINVAL;
  tw__strlcpy(s->host, host, sizeof(s->host));
  tw__strlcpy(s->verify_host, vh, sizeof(s->verify_host));
  s->port = port;
  snprintf(s->name, sizeof(s->name), "%s:%u", host, (unsigned)port);
  s->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
                                           : TW_STREAM_CONNECT_TIMEOUT_MS;

  if (opts && opts->tls) {
    r = tls_setup(s, tw__tls_ssl_ctx(opts->tls), 0);
    if (r == 0)
      r = tls_client_names(s);
    if (r != 0)
      return r;
  }

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  /* A literal never needs the resolver (nor the network). */
  hints.ai_flags = AI_NUMERICSERV | (is_ip_literal(host) ? AI_NUMERICHOST : 0);
  snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
  s->gai.data = s;
  r = uv_getaddrinfo(s->loop, &s->gai, on_resolved, host, portstr, &hints);
  if (r != 0) {
    snprintf(s->detail, sizeof(s->detail), "cannot resolve %s: %s", host,
             uv_strerror(r));
    return TW_EDNS;
  }
  s->gai_active = 1;
  s->refs++;
  s->state = ST_RESOLVING;
  uv_timer_start(&s->timer, on_timer, s->timeout_ms, 0);
  tw_debug(MOD, "connecting to %s port %u%s", host, (unsigned)port,
           s->ssl ? " (TLS)" : "");
  return 0;
}

static int writable_state(const tw_stream_t *s) {
  if (s->failed || s->owner_ended)
    return 0;
  return s->state == ST_IDLE || s->state == ST_RESOLVING ||
         s->state == ST_CONNECTING || s->state == ST_HANDSHAKE ||
         s->state == ST_OPEN;
}

size_t tw_stream_queued(const tw_stream_t *s) {
  return s ? queued_bytes(s) : 0;
}

size_t tw_stream_write_room(const tw_stream_t *s) {
  size_t q;
  if (!s || !writable_state(s))
    return 0;
  q = queued_bytes(s);
  return q >= TW_MAX_STREAM_WQUEUE ? 0 : TW_MAX_STREAM_WQUEUE - q;
}

int tw_stream_write(tw_stream_t *s, const void *data, size_t len) {
  int r;
  if (!s || (!data && len))
    return TW_EINVAL;
  if (!writable_state(s))
    return TW_ESTATE;
  if (len == 0)
    return 0;
  if (len > TW_MAX_STREAM_WQUEUE ||
      queued_bytes(s) > TW_MAX_STREAM_WQUEUE - len)
    return TW_EFULL;
  if (!s->ssl)
    r = tw_buf_append(&s->pending, data, len);
  else if (s->state == ST_OPEN)
    r = tls_write(s, data, len);
  else /* plaintext waits for the handshake to end */
    r = tw_buf_append(&s->early, data, len);
  if (r != 0)
    return r;
  kick_write(s);
  return 0;
}

/* Flushes the queue, then FIN, then close. After a fatal TLS error OpenSSL
 * forbids SSL_shutdown, hence `close_notify`. */
static void start_end(tw_stream_t *s, int close_notify) {
  s->state = ST_ENDING;
  release_buf(&s->early);
  if (close_notify && s->ssl && SSL_is_init_finished(s->ssl)) {
    ERR_clear_error();
    /* The peer learns that the end is deliberate, not a truncation. */
    SSL_shutdown(s->ssl);
    ERR_clear_error();
    flush_wbio(s);
  }
  uv_timer_stop(&s->timer);
  uv_timer_start(&s->timer, on_timer, TW_STREAM_END_TIMEOUT_MS, 0);
  kick_write(s);
  if (!s->writing && s->pending.len == 0)
    do_shutdown(s);
}

void tw_stream_end(tw_stream_t *s) {
  if (!s || s->state == ST_CLOSING || s->state == ST_ENDING || s->owner_ended)
    return;
  s->owner_ended = 1;
  switch (s->state) {
  case ST_OPEN:
    start_end(s, 1);
    break;
  case ST_RESOLVING:
  case ST_CONNECTING:
  case ST_HANDSHAKE:
    /* Queued bytes go out once the connection is up (on_opened). */
    if (queued_bytes(s) == 0)
      begin_close(s);
    break;
  default:
    begin_close(s);
    break;
  }
}

void tw_stream_close(tw_stream_t *s) {
  if (!s)
    return;
  begin_close(s);
}

const char *tw_stream_detail(const tw_stream_t *s) {
  return s ? s->detail : "";
}

int tw_stream_is_tls(const tw_stream_t *s) {
  return s && s->ssl != NULL;
}

const char *tw_stream_tls_version(const tw_stream_t *s) {
  if (!s || !s->ssl || !SSL_is_init_finished(s->ssl))
    return NULL;
  return SSL_get_version(s->ssl);
}

int tw_stream_peer(const tw_stream_t *s, char *out, size_t cap) {
  struct sockaddr_storage ss;
  char ip[64];
  int len = sizeof(ss), n;
  if (!s || !out || cap == 0)
    return TW_EINVAL;
  if (!s->tcp || !s->tcp->connected ||
      uv_tcp_getpeername(&s->tcp->h, (struct sockaddr *)&ss, &len) != 0)
    return TW_ESTATE;
  addr_text((struct sockaddr *)&ss, ip, sizeof(ip));
  if (ss.ss_family == AF_INET6)
    n = snprintf(out, cap, "[%s]:%u", ip,
                 (unsigned)ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
  else
    n = snprintf(out, cap, "%s:%u", ip,
                 (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
  return n < 0 || (size_t)n >= cap ? TW_ETOOBIG : 0;
}

/* ---- accepted streams (used by the listener) ---- */

int tw__stream_new_accepted(uv_loop_t *loop, SSL_CTX *server,
                            tw_stream_t **out) {
  tw_stream_t *s;
  int r = stream_alloc(loop, &s);
  if (r != 0)
    return r;
  s->server = 1;
  s->state = ST_CONNECTING;
  s->timeout_ms = TW_STREAM_ACCEPT_TIMEOUT_MS;
  tw__strlcpy(s->host, "client", sizeof(s->host));
  tw__strlcpy(s->name, "accepted", sizeof(s->name));
  s->tcp = new_tcp(s);
  if (!s->tcp || (server && tls_setup(s, server, 1) != 0)) {
    begin_close(s);
    return TW_ENOMEM;
  }
  *out = s;
  return 0;
}

uv_tcp_t *tw__stream_tcp(tw_stream_t *s) {
  return &s->tcp->h;
}

int tw__stream_has_callbacks(const tw_stream_t *s) {
  return s->cb_set;
}

uv_loop_t *tw__stream_loop(const tw_stream_t *s) {
  return s->loop;
}

SSL *tw__stream_ssl(tw_stream_t *s) {
  return s ? s->ssl : NULL;
}

void tw__stream_start_accepted(tw_stream_t *s) {
  char peer[80];
  if (s->state != ST_CONNECTING)
    return; /* the owner closed it from on_accept */
  s->tcp->connected = 1;
  if (tw_stream_peer(s, peer, sizeof(peer)) == 0) {
    tw__strlcpy(s->host, peer, sizeof(s->host));
    snprintf(s->name, sizeof(s->name), "from %s", peer);
  }
  uv_tcp_nodelay(&s->tcp->h, 1);
  if (start_reading(s) != 0)
    return;
  if (s->ssl) {
    s->state = ST_HANDSHAKE;
    uv_timer_start(&s->timer, on_timer, s->timeout_ms, 0);
  } else {
    on_opened(s);
  }
}
