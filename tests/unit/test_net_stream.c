/* Tests for tw_stream_t and tw_listener_t, plain TCP and TLS, on 127.0.0.1
 * with ephemeral ports and a CA generated for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/ssl.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"

#include "net/net_internal.h"
#include "net_test.h"

#define BIG (1024u * 1024u)
#define RX_CAP (4u * 1024u * 1024u)
#define SEND_CHUNK 65536u

typedef struct fx fx_t;

typedef struct {
  fx_t *fx;
  tw_stream_t *s;
  int connects, errors, closes, drains;
  int err;
  char detail[TW_MAX_STREAM_DETAIL];
  size_t rx_at_error;
  tw_buf_t rx;
  size_t to_send, sent;
  unsigned seed;
  int end_after_send, ended;
  int close_on_error;
  size_t close_after_n; /* close once this many bytes arrived (0: never) */
  int closed_by_us;
  int write_after_close_rc;
  const char *greeting;
} peer_t;

struct fx {
  uv_loop_t loop;
  tw_test_pki_t pki;
  tw_tls_ctx_t *stls;
  tw_tls_ctx_t *ctls;
  tw_listener_t *lst;
  peer_t srv, cli;
  int accepted;
};

/* ---- data pattern ---- */

static uint8_t pat(unsigned seed, size_t i) {
  return (uint8_t)((i * 131u) ^ (i >> 7) ^ (seed * 77u));
}

static void fill(uint8_t *b, size_t n, unsigned seed, size_t off) {
  size_t i;
  for (i = 0; i < n; i++)
    b[i] = pat(seed, off + i);
}

static int check_pattern(const tw_buf_t *b, unsigned seed) {
  size_t i;
  for (i = 0; i < b->len; i++)
    if ((uint8_t)b->data[i] != pat(seed, i))
      return 0;
  return 1;
}

/* ---- callbacks ---- */

static void pump_send(peer_t *p) {
  static uint8_t chunk[SEND_CHUNK];
  while (p->s && p->sent < p->to_send) {
    size_t n = p->to_send - p->sent;
    size_t room = tw_stream_write_room(p->s);
    if (n > sizeof(chunk))
      n = sizeof(chunk);
    if (room == 0)
      break;
    if (n > room)
      n = room;
    fill(chunk, n, p->seed, p->sent);
    assert_int_equal(tw_stream_write(p->s, chunk, n), 0);
    p->sent += n;
  }
  if (p->s && p->to_send && p->sent == p->to_send && p->end_after_send &&
      !p->ended) {
    p->ended = 1;
    tw_stream_end(p->s);
  }
}

static void cb_connect(tw_stream_t *s, void *ud) {
  peer_t *p = ud;
  assert_ptr_equal(s, p->s);
  p->connects++;
  if (p->greeting)
    assert_int_equal(tw_stream_write(s, p->greeting, strlen(p->greeting)), 0);
  pump_send(p);
}

static void cb_read(tw_stream_t *s, const char *data, size_t len, void *ud) {
  peer_t *p = ud;
  assert_ptr_equal(s, p->s);
  assert_true(len > 0 && len <= TW_STREAM_READ_CHUNK);
  assert_int_equal(tw_buf_append(&p->rx, data, len), 0);
  if (p->close_after_n && p->rx.len >= p->close_after_n && !p->closed_by_us) {
    p->closed_by_us = 1;
    tw_stream_close(s);
    tw_stream_close(s); /* twice: harmless */
    p->write_after_close_rc = tw_stream_write(s, "x", 1);
  }
}

static void cb_drain(tw_stream_t *s, void *ud) {
  peer_t *p = ud;
  (void)s;
  p->drains++;
  pump_send(p);
}

static void cb_error(tw_stream_t *s, int err, const char *detail, void *ud) {
  peer_t *p = ud;
  assert_ptr_equal(s, p->s);
  assert_non_null(detail);
  p->errors++;
  p->err = err;
  p->rx_at_error = p->rx.len;
  snprintf(p->detail, sizeof(p->detail), "%s", detail);
  assert_string_equal(tw_stream_detail(s), detail);
  if (p->close_on_error) {
    tw_stream_close(s);
    tw_stream_close(s);
  }
}

static void cb_close(tw_stream_t *s, void *ud) {
  peer_t *p = ud;
  assert_ptr_equal(s, p->s);
  p->closes++;
  p->s = NULL;
}

static const tw_stream_cb_t CB = {cb_connect, cb_read, cb_drain, cb_error,
                                  cb_close};

static void on_accept(tw_listener_t *l, tw_stream_t *s, void *ud) {
  fx_t *fx = ud;
  (void)l;
  fx->accepted++;
  assert_null(fx->srv.s); /* one connection per test */
  fx->srv.s = s;
  tw_stream_set_callbacks(s, &CB, &fx->srv);
}

/* ---- fixture ---- */

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  char detail[TW_MAX_TLS_DETAIL];
  tw_tls_client_opts_t co;
  if (!fx || uv_loop_init(&fx->loop) != 0)
    return -1;
  if (tw_test_pki_make(&fx->pki, 0) != 0)
    return -1;
  if (tw_tls_server_new(fx->pki.cert, fx->pki.key, &fx->stls, detail,
                        sizeof(detail)) != 0)
    return -1;
  memset(&co, 0, sizeof(co));
  co.ca_file = fx->pki.ca;
  if (tw_tls_client_new(&co, &fx->ctls, detail, sizeof(detail)) != 0)
    return -1;
  fx->srv.fx = fx->cli.fx = fx;
  tw_buf_init(&fx->srv.rx, RX_CAP);
  tw_buf_init(&fx->cli.rx, RX_CAP);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  tw_tls_ctx_free(fx->stls);
  tw_tls_ctx_free(fx->ctls);
  tw_test_pki_remove(&fx->pki);
  tw_buf_free(&fx->srv.rx);
  tw_buf_free(&fx->cli.rx);
  free(fx);
  return 0;
}

static void start_server(fx_t *fx, tw_tls_ctx_t *tls) {
  assert_int_equal(
      tw_listener_new(&fx->loop, "127.0.0.1", 0, tls, on_accept, fx, &fx->lst),
      0);
  assert_true(tw_listener_port(fx->lst) > 0);
}

static void start_client(fx_t *fx, tw_tls_ctx_t *tls, const char *host,
                         const char *verify_host, unsigned timeout_ms,
                         uint16_t port) {
  tw_stream_connect_opts_t o;
  memset(&o, 0, sizeof(o));
  o.tls = tls;
  o.verify_host = verify_host;
  o.timeout_ms = timeout_ms;
  assert_int_equal(tw_stream_new(&fx->loop, &CB, &fx->cli, &fx->cli.s), 0);
  if (!port)
    port = tw_listener_port(fx->lst);
  assert_int_equal(tw_stream_connect(fx->cli.s, host, port, &o), 0);
}

/* Closes whatever is left and checks the loop ends clean. */
static void finish(fx_t *fx) {
  if (fx->lst)
    tw_listener_close(fx->lst, NULL, NULL);
  fx->lst = NULL;
  if (fx->cli.s)
    tw_stream_close(fx->cli.s);
  if (fx->srv.s)
    tw_stream_close(fx->srv.s);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
}

static int both_received(void *arg) {
  fx_t *fx = arg;
  return fx->cli.rx.len >= fx->srv.to_send && fx->srv.rx.len >= fx->cli.to_send;
}

static int both_closed(void *arg) {
  fx_t *fx = arg;
  return fx->cli.closes && fx->srv.closes;
}

static int both_connected(void *arg) {
  fx_t *fx = arg;
  return fx->cli.connects && fx->srv.connects;
}

static int client_closed(void *arg) {
  return ((fx_t *)arg)->cli.closes > 0;
}

/* ---- tests ---- */

static void roundtrip(fx_t *fx, int tls) {
  start_server(fx, tls ? fx->stls : NULL);
  fx->cli.to_send = BIG;
  fx->cli.seed = 1;
  fx->srv.to_send = BIG;
  fx->srv.seed = 2;
  start_client(fx, tls ? fx->ctls : NULL, "127.0.0.1", "localhost", 0, 0);
  assert_int_equal(tw_stream_is_tls(fx->cli.s), tls);
  assert_true(
      tw_test_run_until(&fx->loop, both_received, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->cli.rx.len, BIG);
  assert_int_equal(fx->srv.rx.len, BIG);
  assert_true(check_pattern(&fx->srv.rx, 1));
  assert_true(check_pattern(&fx->cli.rx, 2));
  assert_int_equal(fx->cli.errors + fx->srv.errors, 0);
  assert_int_equal(fx->cli.connects, 1);
  assert_int_equal(fx->srv.connects, 1);
  assert_true(fx->cli.drains >= 1);
  if (tls) {
    assert_string_equal(tw_stream_tls_version(fx->cli.s), "TLSv1.3");
    assert_string_equal(tw_stream_tls_version(fx->srv.s), "TLSv1.3");
    /* The verified name went out as SNI. */
    assert_string_equal(SSL_get_servername(tw__stream_ssl(fx->srv.s),
                                           TLSEXT_NAMETYPE_host_name),
                        "localhost");
  } else {
    assert_null(tw_stream_tls_version(fx->cli.s));
  }
  {
    char peer[64];
    assert_int_equal(tw_stream_peer(fx->cli.s, peer, sizeof(peer)), 0);
    assert_non_null(strstr(peer, "127.0.0.1:"));
  }
  tw_stream_close(fx->cli.s);
  assert_true(
      tw_test_run_until(&fx->loop, both_closed, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->cli.errors, 0);
  assert_int_equal(fx->srv.errors, 1);
  assert_int_equal(fx->srv.err, TW_ECLOSED);
  finish(fx);
  assert_int_equal(fx->cli.closes, 1);
  assert_int_equal(fx->srv.closes, 1);
  assert_int_equal(fx->accepted, 1);
}

static void test_tcp_roundtrip(void **state) {
  roundtrip(*state, 0);
}

static void test_tls_roundtrip(void **state) {
  roundtrip(*state, 1);
}

/* TLS 1.2 has no post-handshake tickets and a different handshake shape. */
static void test_tls12_roundtrip(void **state) {
  fx_t *fx = *state;
  SSL_CTX_set_max_proto_version(tw__tls_ssl_ctx(fx->stls), TLS1_2_VERSION);
  start_server(fx, fx->stls);
  fx->cli.to_send = 100000;
  fx->cli.seed = 3;
  fx->srv.to_send = 100000;
  fx->srv.seed = 4;
  start_client(fx, fx->ctls, "127.0.0.1", "localhost", 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_received, fx, TW_TEST_WATCHDOG_MS));
  assert_true(check_pattern(&fx->srv.rx, 3));
  assert_true(check_pattern(&fx->cli.rx, 4));
  assert_string_equal(tw_stream_tls_version(fx->cli.s), "TLSv1.2");
  finish(fx);
}

/* Without verify_host an IP literal is checked against the IP SAN. */
static void test_tls_ip_literal(void **state) {
  fx_t *fx = *state;
  start_server(fx, fx->stls);
  fx->srv.greeting = "hi";
  start_client(fx, fx->ctls, "127.0.0.1", NULL, 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_connected, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->cli.errors, 0);
  /* RFC 6066: no SNI for an IP literal. */
  assert_null(
      SSL_get_servername(tw__stream_ssl(fx->srv.s), TLSEXT_NAMETYPE_host_name));
  finish(fx);
}

/* Connecting by name goes through the resolver (localhost is in
 * /etc/hosts; no DNS query leaves the machine). */
static void test_tcp_by_name(void **state) {
  fx_t *fx = *state;
  start_server(fx, fx->stls);
  start_client(fx, fx->ctls, "localhost", NULL, 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_connected, fx, TW_TEST_WATCHDOG_MS));
  finish(fx);
}

static void expect_client_failure(fx_t *fx, int err, const char *needle) {
  assert_true(
      tw_test_run_until(&fx->loop, client_closed, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->cli.connects, 0);
  assert_int_equal(fx->cli.errors, 1);
  assert_int_equal(fx->cli.closes, 1);
  if (fx->cli.err != err)
    fail_msg("expected %s, got %s (%s)", tw_err_name(err),
             tw_err_name(fx->cli.err), fx->cli.detail);
  if (needle && !strstr(fx->cli.detail, needle))
    fail_msg("detail \"%s\" lacks \"%s\"", fx->cli.detail, needle);
}

static void test_tls_unknown_ca(void **state) {
  fx_t *fx = *state;
  tw_test_pki_t other;
  tw_tls_ctx_t *ctx;
  tw_tls_client_opts_t co;
  assert_int_equal(tw_test_pki_make(&other, 0), 0);
  memset(&co, 0, sizeof(co));
  co.ca_file = other.ca; /* trusts a different CA */
  assert_int_equal(tw_tls_client_new(&co, &ctx, NULL, 0), 0);
  start_server(fx, fx->stls);
  start_client(fx, ctx, "127.0.0.1", "localhost", 0, 0);
  tw_tls_ctx_free(ctx); /* the stream keeps its own reference */
  expect_client_failure(fx, TW_ECERT, "issuer");
  assert_non_null(strstr(fx->cli.detail, "localhost"));
  /* The client told the server why: an alert, not a bare hang-up. */
  assert_true(
      tw_test_run_until(&fx->loop, both_closed, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->srv.err, TW_ETLS);
  assert_non_null(strstr(fx->srv.detail, "unknown ca"));
  assert_int_equal(fx->srv.connects, 0);
  finish(fx);
  tw_test_pki_remove(&other);
}

/* A zero-initialised (or NULL) client configuration verifies. */
static void test_tls_verify_is_default(void **state) {
  fx_t *fx = *state;
  tw_tls_ctx_t *ctx;
  assert_int_equal(tw_tls_client_new(NULL, &ctx, NULL, 0), 0);
  start_server(fx, fx->stls);
  start_client(fx, ctx, "127.0.0.1", "localhost", 0, 0);
  tw_tls_ctx_free(ctx);
  expect_client_failure(fx, TW_ECERT, NULL);
  finish(fx);
}

/* Verification off only when asked for: then the unknown CA passes. */
static void test_tls_insecure_explicit(void **state) {
  fx_t *fx = *state;
  tw_tls_ctx_t *ctx;
  tw_tls_client_opts_t co;
  memset(&co, 0, sizeof(co));
  co.insecure_no_verify = 1;
  assert_int_equal(tw_tls_client_new(&co, &ctx, NULL, 0), 0);
  start_server(fx, fx->stls);
  fx->srv.greeting = "hello";
  start_client(fx, ctx, "127.0.0.1", "example.invalid", 0, 0);
  tw_tls_ctx_free(ctx);
  assert_true(
      tw_test_run_until(&fx->loop, both_connected, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->cli.errors, 0);
  finish(fx);
}

static void test_tls_expired(void **state) {
  fx_t *fx = *state;
  tw_test_pki_t old;
  tw_tls_ctx_t *sctx, *cctx;
  tw_tls_client_opts_t co;
  assert_int_equal(tw_test_pki_make(&old, -1), 0);
  assert_int_equal(tw_tls_server_new(old.cert, old.key, &sctx, NULL, 0), 0);
  memset(&co, 0, sizeof(co));
  co.ca_file = old.ca;
  assert_int_equal(tw_tls_client_new(&co, &cctx, NULL, 0), 0);
  start_server(fx, sctx);
  start_client(fx, cctx, "127.0.0.1", "localhost", 0, 0);
  tw_tls_ctx_free(sctx);
  tw_tls_ctx_free(cctx);
  expect_client_failure(fx, TW_ECERT, "expired");
  finish(fx);
  tw_test_pki_remove(&old);
}

static void test_tls_wrong_host(void **state) {
  fx_t *fx = *state;
  start_server(fx, fx->stls);
  start_client(fx, fx->ctls, "127.0.0.1", "example.invalid", 0, 0);
  expect_client_failure(fx, TW_EHOSTNAME, "hostname mismatch");
  assert_non_null(strstr(fx->cli.detail, "example.invalid"));
  finish(fx);
}

static void test_connect_refused(void **state) {
  fx_t *fx = *state;
  uv_tcp_t sock;
  struct sockaddr_in sa;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  uint16_t port;
  /* A bound socket that does not listen holds the port and refuses. */
  assert_int_equal(uv_tcp_init(&fx->loop, &sock), 0);
  assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
  assert_int_equal(uv_tcp_bind(&sock, (struct sockaddr *)&sa, 0), 0);
  assert_int_equal(uv_tcp_getsockname(&sock, (struct sockaddr *)&ss, &len), 0);
  port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  start_client(fx, NULL, "127.0.0.1", NULL, 0, port);
  expect_client_failure(fx, TW_ECONNREFUSED, "127.0.0.1");
  uv_close((uv_handle_t *)&sock, NULL);
  finish(fx);
}

static int client_and_accepted_closed(void *arg) {
  fx_t *fx = arg;
  return fx->cli.closes && (!fx->accepted || fx->srv.closes);
}

/* A server that accepts and never speaks TLS: the handshake times out. */
static void test_tls_handshake_timeout(void **state) {
  fx_t *fx = *state;
  start_server(fx, NULL);
  start_client(fx, fx->ctls, "127.0.0.1", "localhost", 300, 0);
  /* The detail names the phase (TLS handshake, normally); which phase the
   * clock ran out in depends on the machine, so only the code is checked. */
  expect_client_failure(fx, TW_ETIMEDOUT, "timed out");
  /* On a slow machine the clock may run out before the server accepted. */
  assert_true(tw_test_run_until(&fx->loop, client_and_accepted_closed, fx,
                                TW_TEST_WATCHDOG_MS));
  finish(fx);
}

static int client_drained(void *arg) {
  fx_t *fx = arg;
  return fx->cli.s && tw_stream_queued(fx->cli.s) == 0;
}

static int server_got_cap(void *arg) {
  fx_t *fx = arg;
  return fx->srv.rx.len >= TW_MAX_STREAM_WQUEUE;
}

static int server_saw_end(void *arg) {
  return ((fx_t *)arg)->srv.errors > 0;
}

static void wqueue_full(fx_t *fx, int tls) {
  uint8_t *big = malloc(TW_MAX_STREAM_WQUEUE);
  assert_non_null(big);
  fill(big, TW_MAX_STREAM_WQUEUE, 5, 0);
  start_server(fx, tls ? fx->stls : NULL);
  start_client(fx, tls ? fx->ctls : NULL, "127.0.0.1", "localhost", 0, 0);
  /* Before the connection is up: the queue holds exactly the cap. */
  assert_int_equal(tw_stream_write(fx->cli.s, big, TW_MAX_STREAM_WQUEUE), 0);
  assert_int_equal(tw_stream_write_room(fx->cli.s), 0);
  assert_int_equal(tw_stream_queued(fx->cli.s), TW_MAX_STREAM_WQUEUE);
  assert_int_equal(tw_stream_write(fx->cli.s, "x", 1), TW_EFULL);
  assert_int_equal(tw_stream_write(fx->cli.s, big, TW_MAX_STREAM_WQUEUE + 1u),
                   TW_EFULL);
  free(big);
  assert_true(
      tw_test_run_until(&fx->loop, server_got_cap, fx, TW_TEST_WATCHDOG_MS));
  /* Once drained the room is back. */
  assert_true(
      tw_test_run_until(&fx->loop, client_drained, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(tw_stream_write_room(fx->cli.s), TW_MAX_STREAM_WQUEUE);
  tw_stream_end(fx->cli.s);
  assert_true(
      tw_test_run_until(&fx->loop, server_saw_end, fx, TW_TEST_WATCHDOG_MS));
  /* Everything accepted arrived, nothing refused did. */
  assert_int_equal(fx->srv.rx.len, TW_MAX_STREAM_WQUEUE);
  assert_true(check_pattern(&fx->srv.rx, 5));
  assert_int_equal(fx->srv.err, TW_ECLOSED);
  assert_int_equal(fx->cli.errors, 0);
  finish(fx);
}

static void test_tcp_wqueue_full(void **state) {
  wqueue_full(*state, 0);
}

static void test_tls_wqueue_full(void **state) {
  wqueue_full(*state, 1);
}

/* The client closes: it gets on_close only; the server hears TW_ECLOSED. */
static void close_by_client(fx_t *fx, int tls) {
  start_server(fx, tls ? fx->stls : NULL);
  fx->srv.greeting = "hello";
  fx->cli.close_after_n = 5;
  start_client(fx, tls ? fx->ctls : NULL, "127.0.0.1", "localhost", 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_closed, fx, TW_TEST_WATCHDOG_MS));
  finish(fx);
  assert_int_equal(fx->cli.write_after_close_rc, TW_ESTATE);
  assert_int_equal(fx->cli.connects, 1);
  assert_int_equal(fx->cli.errors, 0);
  assert_int_equal(fx->cli.closes, 1);
  assert_int_equal(fx->srv.errors, 1);
  assert_int_equal(fx->srv.err, TW_ECLOSED);
  assert_int_equal(fx->srv.closes, 1);
}

static void test_tcp_close_by_client(void **state) {
  close_by_client(*state, 0);
}

static void test_tls_close_by_client(void **state) {
  close_by_client(*state, 1);
}

/* The server closes; the client closes again from on_error: still one
 * on_close each. */
static void close_by_server(fx_t *fx, int tls) {
  start_server(fx, tls ? fx->stls : NULL);
  fx->cli.greeting = "hi";
  fx->srv.close_after_n = 2;
  fx->cli.close_on_error = 1;
  start_client(fx, tls ? fx->ctls : NULL, "127.0.0.1", "localhost", 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_closed, fx, TW_TEST_WATCHDOG_MS));
  finish(fx);
  assert_int_equal(fx->srv.errors, 0);
  assert_int_equal(fx->srv.closes, 1);
  assert_int_equal(fx->cli.errors, 1);
  assert_int_equal(fx->cli.err, TW_ECLOSED);
  assert_int_equal(fx->cli.closes, 1);
}

static void test_tcp_close_by_server(void **state) {
  close_by_server(*state, 0);
}

static void test_tls_close_by_server(void **state) {
  close_by_server(*state, 1);
}

/* tw_stream_end flushes everything, then TLS close_notify: the client gets
 * every byte before TW_ECLOSED. */
static void test_tls_end_flushes(void **state) {
  fx_t *fx = *state;
  start_server(fx, fx->stls);
  fx->srv.to_send = 300000;
  fx->srv.seed = 6;
  fx->srv.end_after_send = 1;
  start_client(fx, fx->ctls, "127.0.0.1", "localhost", 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_closed, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->cli.errors, 1);
  assert_int_equal(fx->cli.err, TW_ECLOSED);
  if (!strstr(fx->cli.detail, "close_notify"))
    fail_msg("detail: %s", fx->cli.detail);
  assert_int_equal(fx->cli.rx_at_error, 300000);
  assert_true(check_pattern(&fx->cli.rx, 6));
  assert_int_equal(fx->srv.errors, 0);
  finish(fx);
}

/* Written and ended before the connection is even up: the bytes still go
 * out (after the handshake), then the end; no on_connect, no error. */
static void test_tls_end_before_open(void **state) {
  fx_t *fx = *state;
  start_server(fx, fx->stls);
  start_client(fx, fx->ctls, "127.0.0.1", "localhost", 0, 0);
  assert_int_equal(tw_stream_write(fx->cli.s, "early bytes", 11), 0);
  tw_stream_end(fx->cli.s);
  assert_int_equal(tw_stream_write(fx->cli.s, "late", 4), TW_ESTATE);
  assert_int_equal(tw_stream_write_room(fx->cli.s), 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_closed, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->srv.rx.len, 11);
  assert_memory_equal(fx->srv.rx.data, "early bytes", 11);
  assert_int_equal(fx->srv.err, TW_ECLOSED);
  assert_int_equal(fx->cli.connects, 0);
  assert_int_equal(fx->cli.errors, 0);
  finish(fx);
  assert_int_equal(fx->cli.closes, 1);
}

static int client_got(void *arg) {
  fx_t *fx = arg;
  return fx->cli.rx.len > 0;
}

static int server_got(void *arg) {
  fx_t *fx = arg;
  return fx->srv.rx.len > 0;
}

/* TLS 1.3 KeyUpdate requested by the server: the client answers from inside
 * SSL_read (post-handshake output that must be flushed) and traffic keeps
 * flowing both ways under the new keys. */
static void test_tls_key_update(void **state) {
  fx_t *fx = *state;
  int round;
  start_server(fx, fx->stls);
  start_client(fx, fx->ctls, "127.0.0.1", "localhost", 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_connected, fx, TW_TEST_WATCHDOG_MS));
  for (round = 0; round < 3; round++) {
    SSL *ssl = tw__stream_ssl(fx->srv.s);
    assert_int_equal(SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    tw_buf_reset(&fx->cli.rx);
    tw_buf_reset(&fx->srv.rx);
    assert_int_equal(tw_stream_write(fx->srv.s, "ping", 4), 0);
    assert_true(
        tw_test_run_until(&fx->loop, client_got, fx, TW_TEST_WATCHDOG_MS));
    assert_int_equal(tw_stream_write(fx->cli.s, "pong", 4), 0);
    assert_true(
        tw_test_run_until(&fx->loop, server_got, fx, TW_TEST_WATCHDOG_MS));
    assert_string_equal(fx->srv.rx.data, "pong");
  }
  assert_int_equal(fx->cli.errors + fx->srv.errors, 0);
  finish(fx);
}

static int server_failed(void *arg) {
  return ((fx_t *)arg)->srv.errors > 0;
}

/* A corrupt record makes the client's SSL_read fail; the alert it produces
 * exists only in OpenSSL's output BIO, and reaches the server only if the
 * stream flushes that BIO after SSL_read. */
static void test_tls_alert_from_read(void **state) {
  fx_t *fx = *state;
  static const char bogus[] = "\x17\x03\x03\x00\x20"
                              "0123456789abcdef0123456789abcdef";
  uv_buf_t b = uv_buf_init((char *)bogus, sizeof(bogus) - 1);
  start_server(fx, fx->stls);
  start_client(fx, fx->ctls, "127.0.0.1", "localhost", 0, 0);
  assert_true(
      tw_test_run_until(&fx->loop, both_connected, fx, TW_TEST_WATCHDOG_MS));
  /* Written under the server's TLS layer, straight to the socket. */
  assert_int_equal(
      uv_try_write((uv_stream_t *)tw__stream_tcp(fx->srv.s), &b, 1),
      (int)b.len);
  assert_true(
      tw_test_run_until(&fx->loop, server_failed, fx, TW_TEST_WATCHDOG_MS));
  assert_int_equal(fx->cli.err, TW_ETLS);
  if (fx->srv.err != TW_ETLS || !strstr(fx->srv.detail, "alert"))
    fail_msg("server: %s (%s)", tw_err_name(fx->srv.err), fx->srv.detail);
  finish(fx);
}

static void test_bad_arguments(void **state) {
  fx_t *fx = *state;
  tw_stream_t *s;
  tw_listener_t *l;
  tw_stream_connect_opts_t o;
  char longhost[TW_MAX_HOST + 2];
  assert_int_equal(
      tw_listener_new(&fx->loop, "not-an-ip", 0, NULL, on_accept, fx, &l),
      TW_EINVAL);
  assert_int_equal(
      tw_listener_new(&fx->loop, NULL, 0, fx->ctls, on_accept, fx, &l),
      TW_EINVAL);
  assert_int_equal(tw_stream_new(&fx->loop, NULL, NULL, &s), 0);
  memset(&o, 0, sizeof(o));
  o.tls = fx->stls;
  assert_int_equal(tw_stream_connect(s, "127.0.0.1", 1, &o), TW_EINVAL);
  memset(longhost, 'a', sizeof(longhost) - 1);
  longhost[sizeof(longhost) - 1] = '\0';
  assert_int_equal(tw_stream_connect(s, longhost, 1, NULL), TW_EINVAL);
  assert_int_equal(tw_stream_connect(s, "127.0.0.1", 0, NULL), TW_EINVAL);
  assert_int_equal(tw_stream_write(s, NULL, 3), TW_EINVAL);
  assert_int_equal(tw_stream_peer(s, longhost, sizeof(longhost)), TW_ESTATE);
  tw_stream_close(s);
  finish(fx);
}

static void test_tls_ctx_errors(void **state) {
  fx_t *fx = *state;
  /* TLS 1.2 is the floor on both sides. */
  assert_int_equal(SSL_CTX_get_min_proto_version(tw__tls_ssl_ctx(fx->ctls)),
                   TLS1_2_VERSION);
  assert_int_equal(SSL_CTX_get_min_proto_version(tw__tls_ssl_ctx(fx->stls)),
                   TLS1_2_VERSION);
  assert_false(tw_tls_ctx_is_server(fx->ctls));
  assert_true(tw_tls_ctx_is_server(fx->stls));
  tw_tls_ctx_t *ctx = NULL;
  tw_test_pki_t other;
  tw_tls_client_opts_t co;
  char detail[TW_MAX_TLS_DETAIL];
  memset(&co, 0, sizeof(co));
  co.ca_file = "/nonexistent/ca.pem";
  assert_int_equal(tw_tls_client_new(&co, &ctx, detail, sizeof(detail)),
                   TW_ECONFIG);
  assert_null(ctx);
  assert_non_null(strstr(detail, "/nonexistent/ca.pem"));
  assert_int_equal(tw_test_pki_make(&other, 0), 0);
  /* A key that belongs to another certificate. */
  assert_int_equal(
      tw_tls_server_new(fx->pki.cert, other.key, &ctx, detail, sizeof(detail)),
      TW_ECONFIG);
  if (!strstr(detail, "mismatch"))
    fail_msg("detail: %s", detail);
  assert_int_equal(
      tw_tls_server_new(NULL, other.key, &ctx, detail, sizeof(detail)),
      TW_EINVAL);
  assert_int_equal(tw_tls_server_new(fx->pki.ca, "/nonexistent", &ctx, detail,
                                     sizeof(detail)),
                   TW_ECONFIG);
  tw_test_pki_remove(&other);
  finish(fx);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      T(test_tcp_roundtrip),         T(test_tls_roundtrip),
      T(test_tls12_roundtrip),       T(test_tls_ip_literal),
      T(test_tcp_by_name),           T(test_tls_unknown_ca),
      T(test_tls_verify_is_default), T(test_tls_insecure_explicit),
      T(test_tls_expired),           T(test_tls_wrong_host),
      T(test_connect_refused),       T(test_tls_handshake_timeout),
      T(test_tcp_wqueue_full),       T(test_tls_wqueue_full),
      T(test_tcp_close_by_client),   T(test_tls_close_by_client),
      T(test_tcp_close_by_server),   T(test_tls_close_by_server),
      T(test_tls_end_flushes),       T(test_tls_end_before_open),
      T(test_tls_key_update),        T(test_tls_alert_from_read),
      T(test_bad_arguments),         T(test_tls_ctx_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
