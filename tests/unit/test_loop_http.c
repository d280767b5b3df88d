/* Tests for the libuv adapters: curl (multi_socket) and libmicrohttpd
 * (external epoll), on one loop, against each other on 127.0.0.1. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <uv.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/uv_curl.h"
#include "twitchd/uv_mhd.h"

#define MAX_BODY (1u << 20)
#define WATCHDOG_MS 20000

/* ---- fixture ------------------------------------------------------------ */

typedef struct fx fx_t;

/* A TCP server that accepts and never answers. */
typedef struct {
  uv_tcp_t listener;
  uv_tcp_t clients[32];
  int nclients;
  uint16_t port;
  fx_t *fx;
} silent_t;

struct fx {
  uv_loop_t loop;
  uv_timer_t watchdog;
  tw_uvcurl_t *uc;
  tw_uvmhd_t *mhd;
  uint16_t port;
  int curl_closed;
  int mhd_closed;
  /* server side */
  int requests;  /* requests started */
  int completed; /* requests finished (MHD completed callback) */
  int suspended; /* connections suspended by /never */
  int resumed_calls;
  bool close_from_handler;
  silent_t silent;
  bool silent_on;
};

typedef struct {
  tw_buf_t body;
  int calls;
  bool suspended;
  bool resumed;
} req_t;

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  fail_msg("watchdog: the test did not finish in %d ms", WATCHDOG_MS);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *type, const void *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  enum MHD_Result rc = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return rc;
}

typedef struct {
  uv_timer_t timer;
  fx_t *fx;
  struct MHD_Connection *conn;
  req_t *req;
} resume_t;

static void on_resume_timer_closed(uv_handle_t *h) {
  free(h->data);
}

/* Answers a suspended request later, from a uv timer: how webhook and
 * OAuth handlers will answer asynchronously. */
static void on_resume_timer(uv_timer_t *t) {
  resume_t *rs = t->data;
  rs->req->resumed = true;
  assert_int_equal(tw_uvmhd_resume(rs->fx->mhd, rs->conn), 0);
  /* A second resume of the same connection is refused, not a crash. */
  assert_int_equal(tw_uvmhd_resume(rs->fx->mhd, rs->conn), TW_ENOTFOUND);
  uv_close((uv_handle_t *)&rs->timer, on_resume_timer_closed);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)version;
  fx_t *fx = cls;
  req_t *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof(*r));
    assert_non_null(r);
    tw_buf_init(&r->body, MAX_BODY);
    *con_cls = r;
    fx->requests++;
    return MHD_YES;
  }
  r->calls++;
  if (*upload_size) {
    if (tw_buf_append(&r->body, upload, *upload_size) != 0)
      return MHD_NO;
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(url, "/json") == 0 && strcmp(method, "GET") == 0) {
    const char *i =
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "i");
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"ok\":true,\"i\":%ld}",
                     i ? strtol(i, NULL, 10) : -1L);
    return respond(conn, 200, "application/json", body, (size_t)n);
  }
  if (strcmp(url, "/echo") == 0 && strcmp(method, "POST") == 0)
    return respond(conn, 200, "application/octet-stream",
                   r->body.data ? r->body.data : "", r->body.len);
  if (strcmp(url, "/slow") == 0) {
    if (r->resumed) {
      fx->resumed_calls++;
      return respond(conn, 200, "text/plain", "late", 4);
    }
    resume_t *rs = calloc(1, sizeof(*rs));
    assert_non_null(rs);
    rs->fx = fx;
    rs->conn = conn;
    rs->req = r;
    uv_timer_init(&fx->loop, &rs->timer);
    rs->timer.data = rs;
    uv_timer_start(&rs->timer, on_resume_timer, 30, 0);
    assert_int_equal(tw_uvmhd_suspend(fx->mhd, conn), 0);
    return MHD_YES;
  }
  if (strcmp(url, "/never") == 0) {
    if (!r->suspended) {
      r->suspended = true;
      fx->suspended++;
      assert_int_equal(tw_uvmhd_suspend(fx->mhd, conn), 0);
      return MHD_YES;
    }
    return respond(conn, 503, "text/plain", "bye", 3);
  }
  if (strcmp(url, "/close") == 0) {
    fx->close_from_handler = true;
    tw_uvmhd_close(fx->mhd, NULL, NULL); /* deferred: we are in MHD_run */
    return MHD_NO;
  }
  return respond(conn, 404, "text/plain", "not found", 9);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)conn;
  (void)toe;
  fx_t *fx = cls;
  req_t *r = *con_cls;
  if (!r)
    return;
  tw_buf_free(&r->body);
  free(r);
  *con_cls = NULL;
  fx->completed++;
}

static void fx_init(fx_t *fx) {
  memset(fx, 0, sizeof(*fx));
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  uv_timer_init(&fx->loop, &fx->watchdog);
  uv_timer_start(&fx->watchdog, on_watchdog, WATCHDOG_MS, 0);
  uv_unref((uv_handle_t *)&fx->watchdog);
  fx->uc = tw_uvcurl_new(&fx->loop);
  assert_non_null(fx->uc);
  tw_uvmhd_opts_t o = {0};
  o.handler = handler;
  o.handler_cls = fx;
  o.completed = completed;
  o.completed_cls = fx;
  assert_int_equal(tw_uvmhd_start(&fx->loop, &o, &fx->mhd), 0);
  fx->port = tw_uvmhd_port(fx->mhd);
  assert_true(fx->port != 0);
}

static void on_curl_closed(void *ud) {
  ((fx_t *)ud)->curl_closed++;
}

static void on_mhd_closed(void *ud) {
  ((fx_t *)ud)->mhd_closed++;
}

static void run_until(fx_t *fx, const int *counter, int want) {
  while (*counter < want)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

static void count_handle(uv_handle_t *h, void *arg) {
  (void)h;
  (*(int *)arg)++;
}

static void silent_close(fx_t *fx);

/* Closes whatever is still open and checks the loop closes cleanly. */
static void fx_done(fx_t *fx) {
  if (fx->uc && !fx->curl_closed) {
    tw_uvcurl_close(fx->uc, on_curl_closed, fx);
    run_until(fx, &fx->curl_closed, 1);
  }
  if (fx->mhd && !fx->mhd_closed) {
    tw_uvmhd_close(fx->mhd, on_mhd_closed, fx);
    run_until(fx, &fx->mhd_closed, 1);
  }
  assert_int_equal(fx->curl_closed, 1);
  assert_int_equal(fx->mhd_closed, 1);
  /* Every request MHD started was completed and its state freed. */
  assert_int_equal(fx->completed, fx->requests);
  if (fx->silent_on)
    silent_close(fx);
  uv_close((uv_handle_t *)&fx->watchdog, NULL);
  assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
  int n = 0;
  uv_walk(&fx->loop, count_handle, &n);
  assert_int_equal(n, 0);
  assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* ---- a server that accepts and never answers ------------------------------
 */

static void silent_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf) {
  (void)h;
  (void)sz;
  static char scratch[4096];
  buf->base = scratch;
  buf->len = sizeof(scratch);
}

static void silent_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  if (n < 0)
    uv_read_stop(s); /* peer went away; closed with the rest at the end */
}

static void on_silent_conn(uv_stream_t *srv, int status) {
  silent_t *si = srv->data;
  assert_int_equal(status, 0);
  assert_true(si->nclients < 32);
  uv_tcp_t *c = &si->clients[si->nclients];
  uv_tcp_init(srv->loop, c);
  assert_int_equal(uv_accept(srv, (uv_stream_t *)c), 0);
  uv_read_start((uv_stream_t *)c, silent_alloc, silent_read);
  si->nclients++;
}

static void silent_open(fx_t *fx) {
  silent_t *si = &fx->silent;
  si->fx = fx;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_init(&fx->loop, &si->listener);
  si->listener.data = si;
  assert_int_equal(uv_tcp_bind(&si->listener, (struct sockaddr *)&sa, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&si->listener, 64, on_silent_conn),
                   0);
  int len = sizeof(sa);
  uv_tcp_getsockname(&si->listener, (struct sockaddr *)&sa, &len);
  si->port = ntohs(sa.sin_port);
  fx->silent_on = true;
}

static void silent_close(fx_t *fx) {
  silent_t *si = &fx->silent;
  for (int i = 0; i < si->nclients; i++)
    uv_close((uv_handle_t *)&si->clients[i], NULL);
  uv_close((uv_handle_t *)&si->listener, NULL);
  fx->silent_on = false;
}

/* A port nobody listens on: bind one, note it, close it. */
static uint16_t closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  socklen_t len = sizeof(sa);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  close(fd);
  return ntohs(sa.sin_port);
}

/* ---- client ------------------------------------------------------------- */

typedef struct cli cli_t;
struct cli {
  CURL *easy;
  tw_buf_t body;
  CURLcode result;
  long status;
  int done_calls;
  fx_t *fx;
  int *counter; /* incremented on done */
  /* hooks */
  void (*on_write)(cli_t *c);
  void (*on_done)(cli_t *c);
  void *ctx;
  int index;
  char url[128];
  char *post;
  size_t post_len;
};

static size_t write_cb(char *p, size_t sz, size_t n, void *ud) {
  cli_t *c = ud;
  if (tw_buf_append(&c->body, p, sz * n) != 0)
    return 0;
  if (c->on_write)
    c->on_write(c);
  return sz * n;
}

static void done_cb(CURL *easy, CURLcode result, void *ud) {
  cli_t *c = ud;
  assert_ptr_equal(easy, c->easy);
  c->result = result;
  c->status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &c->status);
  c->done_calls++;
  if (c->counter)
    (*c->counter)++;
  if (c->on_done)
    c->on_done(c);
}

static void cli_init(cli_t *c, fx_t *fx, uint16_t port, const char *path,
                     int *counter) {
  memset(c, 0, sizeof(*c));
  c->fx = fx;
  c->counter = counter;
  tw_buf_init(&c->body, MAX_BODY);
  c->easy = curl_easy_init();
  assert_non_null(c->easy);
  snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u%s", (unsigned)port,
           path);
  curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
  curl_easy_setopt(c->easy, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
  /* A safety net only; tests that expect a timeout set a shorter one. */
  curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 15000L);
}

static void cli_free(cli_t *c) {
  curl_easy_cleanup(c->easy);
  tw_buf_free(&c->body);
  free(c->post);
}

static void cli_add(fx_t *fx, cli_t *c) {
  assert_int_equal(tw_uvcurl_add(fx->uc, c->easy, done_cb, c), 0);
}

/* ---- tests -------------------------------------------------------------- */

static void test_get_json(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  cli_t c;
  cli_init(&c, &fx, fx.port, "/json?i=7", &done);
  cli_add(&fx, &c);
  assert_int_equal(tw_uvcurl_count(fx.uc), 1);
  run_until(&fx, &done, 1);
  assert_int_equal(c.result, CURLE_OK);
  assert_int_equal(c.status, 200);
  json_t *j = json_loads(c.body.data, 0, NULL);
  assert_non_null(j);
  assert_true(json_is_true(json_object_get(j, "ok")));
  assert_int_equal(json_integer_value(json_object_get(j, "i")), 7);
  json_decref(j);
  char *ct = NULL;
  curl_easy_getinfo(c.easy, CURLINFO_CONTENT_TYPE, &ct);
  assert_string_equal(ct, "application/json");
  assert_int_equal(tw_uvcurl_count(fx.uc), 0);
  /* The handle is ours again: a second request on it works. */
  tw_buf_reset(&c.body);
  cli_add(&fx, &c);
  run_until(&fx, &done, 2);
  assert_int_equal(c.result, CURLE_OK);
  assert_int_equal(c.done_calls, 2);
  cli_free(&c);
  fx_done(&fx);
}

static void test_post_echo(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  cli_t small, big;
  cli_init(&small, &fx, fx.port, "/echo", &done);
  curl_easy_setopt(small.easy, CURLOPT_POSTFIELDS, "hello=world&x=1");
  cli_init(&big, &fx, fx.port, "/echo", &done);
  big.post_len = 300000;
  big.post = malloc(big.post_len);
  for (size_t i = 0; i < big.post_len; i++)
    big.post[i] = (char)('a' + (i * 7) % 26);
  curl_easy_setopt(big.easy, CURLOPT_POSTFIELDS, big.post);
  curl_easy_setopt(big.easy, CURLOPT_POSTFIELDSIZE_LARGE,
                   (curl_off_t)big.post_len);
  cli_add(&fx, &small);
  cli_add(&fx, &big);
  run_until(&fx, &done, 2);
  assert_int_equal(small.result, CURLE_OK);
  assert_int_equal(small.status, 200);
  assert_string_equal(small.body.data, "hello=world&x=1");
  assert_int_equal(big.result, CURLE_OK);
  assert_int_equal(big.body.len, big.post_len);
  assert_memory_equal(big.body.data, big.post, big.post_len);
  cli_free(&small);
  cli_free(&big);
  fx_done(&fx);
}

static void test_concurrent(void **state) {
  (void)state;
  enum { N = 20 };
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  cli_t c[N];
  for (int i = 0; i < N; i++) {
    char path[32];
    snprintf(path, sizeof(path), "/json?i=%d", i);
    cli_init(&c[i], &fx, fx.port, path, &done);
    cli_add(&fx, &c[i]);
  }
  assert_int_equal(tw_uvcurl_count(fx.uc), N);
  run_until(&fx, &done, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(c[i].result, CURLE_OK);
    assert_int_equal(c[i].done_calls, 1);
    json_t *j = json_loads(c[i].body.data, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "i")), i);
    json_decref(j);
    cli_free(&c[i]);
  }
  assert_int_equal(fx.requests, N);
  fx_done(&fx);
}

static void test_timeout(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  silent_open(&fx);
  int done = 0;
  cli_t c;
  cli_init(&c, &fx, fx.silent.port, "/", &done);
  curl_easy_setopt(c.easy, CURLOPT_TIMEOUT_MS, 300L);
  cli_add(&fx, &c);
  run_until(&fx, &done, 1);
  assert_int_equal(c.result, CURLE_OPERATION_TIMEDOUT);
  assert_int_equal(c.done_calls, 1);
  assert_int_equal(fx.silent.nclients, 1);
  cli_free(&c);
  fx_done(&fx);
}

static void test_refused(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  cli_t c;
  cli_init(&c, &fx, closed_port(), "/", &done);
  cli_add(&fx, &c);
  run_until(&fx, &done, 1);
  assert_int_equal(c.result, CURLE_COULDNT_CONNECT);
  assert_int_equal(c.done_calls, 1);
  cli_free(&c);
  fx_done(&fx);
}

static void test_api_errors(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  silent_open(&fx);
  int done = 0;
  cli_t c, other;
  cli_init(&c, &fx, fx.silent.port, "/", &done);
  cli_init(&other, &fx, fx.silent.port, "/", &done);
  assert_int_equal(tw_uvcurl_add(fx.uc, NULL, done_cb, &c), TW_EINVAL);
  assert_int_equal(tw_uvcurl_add(fx.uc, c.easy, NULL, &c), TW_EINVAL);
  cli_add(&fx, &c);
  /* The same handle twice is refused; the first stays in flight. */
  assert_int_equal(tw_uvcurl_add(fx.uc, c.easy, done_cb, &c), TW_EINVAL);
  assert_int_equal(tw_uvcurl_cancel(fx.uc, other.easy), TW_ENOTFOUND);
  /* Cancel from outside any callback: the callback runs before return. */
  assert_int_equal(tw_uvcurl_cancel(fx.uc, c.easy), 0);
  assert_int_equal(c.done_calls, 1);
  assert_int_equal(c.result, CURLE_ABORTED_BY_CALLBACK);
  assert_int_equal(tw_uvcurl_cancel(fx.uc, c.easy), TW_ENOTFOUND);
  tw_uvcurl_close(fx.uc, on_curl_closed, &fx);
  tw_uvcurl_close(fx.uc, on_curl_closed, &fx); /* ignored */
  assert_int_equal(tw_uvcurl_add(fx.uc, other.easy, done_cb, &other),
                   TW_ESTATE);
  run_until(&fx, &fx.curl_closed, 1);
  assert_int_equal(c.done_calls, 1);
  assert_int_equal(other.done_calls, 0);
  cli_free(&c);
  cli_free(&other);
  fx_done(&fx);
}

/* Closing with transfers in every state: connecting/waiting on a silent
 * server, waiting on a suspended MHD connection, and not yet started. */
static void test_close_in_flight(void **state) {
  (void)state;
  enum { NS = 5, NM = 2 };
  fx_t fx;
  fx_init(&fx);
  silent_open(&fx);
  int done = 0;
  cli_t s[NS], m[NM], late;
  for (int i = 0; i < NS; i++) {
    cli_init(&s[i], &fx, fx.silent.port, "/", &done);
    cli_add(&fx, &s[i]);
  }
  for (int i = 0; i < NM; i++) {
    cli_init(&m[i], &fx, fx.port, "/never", &done);
    cli_add(&fx, &m[i]);
  }
  /* Wait until the requests are really out there (events, not sleeps). */
  while (fx.silent.nclients < NS || fx.suspended < NM)
    uv_run(&fx.loop, UV_RUN_ONCE);
  assert_int_equal(tw_uvmhd_suspended(fx.mhd), NM);
  cli_init(&late, &fx, fx.port, "/json", &done);
  cli_add(&fx, &late);
  assert_int_equal(done, 0);
  tw_uvcurl_close(fx.uc, on_curl_closed, &fx);
  /* Done callbacks ran synchronously, each exactly once. */
  assert_int_equal(done, NS + NM + 1);
  for (int i = 0; i < NS; i++) {
    assert_int_equal(s[i].done_calls, 1);
    assert_int_equal(s[i].result, CURLE_ABORTED_BY_CALLBACK);
  }
  for (int i = 0; i < NM; i++) {
    assert_int_equal(m[i].done_calls, 1);
    assert_int_equal(m[i].result, CURLE_ABORTED_BY_CALLBACK);
  }
  assert_int_equal(late.done_calls, 1);
  assert_int_equal(late.result, CURLE_ABORTED_BY_CALLBACK);
  run_until(&fx, &fx.curl_closed, 1);
  assert_int_equal(done, NS + NM + 1); /* and never again */
  /* The MHD side still has the two suspended connections: closing it must
   * resume them so MHD can stop, and complete both requests. */
  assert_int_equal(tw_uvmhd_suspended(fx.mhd), NM);
  tw_uvmhd_close(fx.mhd, on_mhd_closed, &fx);
  run_until(&fx, &fx.mhd_closed, 1);
  assert_int_equal(fx.completed, fx.requests);
  for (int i = 0; i < NS; i++)
    cli_free(&s[i]);
  for (int i = 0; i < NM; i++)
    cli_free(&m[i]);
  cli_free(&late);
  fx_done(&fx);
}

static void test_suspend_resume_from_timer(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  cli_t c[3];
  for (int i = 0; i < 3; i++) {
    cli_init(&c[i], &fx, fx.port, "/slow", &done);
    cli_add(&fx, &c[i]);
  }
  run_until(&fx, &done, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(c[i].result, CURLE_OK);
    assert_int_equal(c[i].status, 200);
    assert_string_equal(c[i].body.data, "late");
    cli_free(&c[i]);
  }
  assert_int_equal(fx.resumed_calls, 3);
  assert_int_equal(tw_uvmhd_suspended(fx.mhd), 0);
  fx_done(&fx);
}

/* Sequential requests, each on a fresh connection that curl closes: the
 * kernel hands the same fd number to the next socket while the previous
 * socket's uv_poll_t is still closing. Each next request is started from
 * the done callback of the previous one. */
typedef struct {
  int fds[64];
  int nfds;
  int remaining;
} chain_t;

static int sockopt_cb(void *ud, curl_socket_t fd, curlsocktype purpose) {
  (void)purpose;
  chain_t *ch = ud;
  if (ch->nfds < 64)
    ch->fds[ch->nfds++] = (int)fd;
  return CURL_SOCKOPT_OK;
}

static void chain_next(cli_t *c) {
  chain_t *ch = c->ctx;
  assert_int_equal(c->result, CURLE_OK);
  assert_string_equal(c->body.data, "{\"ok\":true,\"i\":-1}");
  if (--ch->remaining > 0) {
    tw_buf_reset(&c->body);
    assert_int_equal(tw_uvcurl_add(c->fx->uc, c->easy, done_cb, c), 0);
  }
}

static void test_socket_reuse(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  chain_t ch = {.remaining = 30};
  cli_t c;
  cli_init(&c, &fx, fx.port, "/json", &done);
  curl_easy_setopt(c.easy, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c.easy, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
  curl_easy_setopt(c.easy, CURLOPT_SOCKOPTDATA, &ch);
  c.on_done = chain_next;
  c.ctx = &ch;
  cli_add(&fx, &c);
  run_until(&fx, &done, 30);
  assert_int_equal(c.done_calls, 30);
  assert_int_equal(ch.nfds, 30);
  /* The scenario really happened: some fd number came back. */
  int reused = 0;
  for (int i = 1; i < ch.nfds; i++)
    for (int j = 0; j < i; j++)
      if (ch.fds[i] == ch.fds[j])
        reused++;
  assert_true(reused > 0);
  cli_free(&c);
  fx_done(&fx);
}

/* From inside curl's write callback: start a transfer, cancel another. */
typedef struct {
  cli_t *to_add;
  cli_t *to_cancel;
  int fired;
} reenter_t;

static void reenter_on_write(cli_t *c) {
  reenter_t *re = c->ctx;
  if (re->fired++)
    return;
  assert_int_equal(
      tw_uvcurl_add(c->fx->uc, re->to_add->easy, done_cb, re->to_add), 0);
  assert_int_equal(tw_uvcurl_cancel(c->fx->uc, re->to_cancel->easy), 0);
  /* Deferred: curl is running, so nothing has been called back yet. */
  assert_int_equal(re->to_cancel->done_calls, 0);
  /* Asking twice is harmless. */
  assert_int_equal(tw_uvcurl_cancel(c->fx->uc, re->to_cancel->easy), 0);
}

static void test_reentrant_from_write_cb(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  silent_open(&fx);
  int done = 0;
  cli_t first, added, victim;
  cli_init(&first, &fx, fx.port, "/json?i=1", &done);
  cli_init(&added, &fx, fx.port, "/json?i=2", &done);
  cli_init(&victim, &fx, fx.silent.port, "/", &done);
  reenter_t re = {.to_add = &added, .to_cancel = &victim};
  first.on_write = reenter_on_write;
  first.ctx = &re;
  cli_add(&fx, &victim);
  while (fx.silent.nclients < 1)
    uv_run(&fx.loop, UV_RUN_ONCE);
  cli_add(&fx, &first);
  run_until(&fx, &done, 3);
  assert_int_equal(first.result, CURLE_OK);
  assert_int_equal(added.result, CURLE_OK);
  assert_non_null(strstr(added.body.data, "\"i\":2"));
  assert_int_equal(victim.result, CURLE_ABORTED_BY_CALLBACK);
  assert_int_equal(first.done_calls, 1);
  assert_int_equal(added.done_calls, 1);
  assert_int_equal(victim.done_calls, 1);
  cli_free(&first);
  cli_free(&added);
  cli_free(&victim);
  fx_done(&fx);
}

/* Closing from inside curl's write callback: the current transfer and the
 * others are all aborted once, right after curl returns. */
static void close_on_write(cli_t *c) {
  int *fired = c->ctx;
  if ((*fired)++)
    return;
  tw_uvcurl_close(c->fx->uc, on_curl_closed, c->fx);
  assert_int_equal(c->done_calls, 0);
}

static void test_close_from_write_cb(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  silent_open(&fx);
  int done = 0, fired = 0;
  cli_t a, b;
  cli_init(&a, &fx, fx.silent.port, "/", &done);
  cli_init(&b, &fx, fx.port, "/echo", &done);
  b.post_len = 200000; /* several writes: the first one closes */
  b.post = malloc(b.post_len);
  memset(b.post, 'p', b.post_len);
  curl_easy_setopt(b.easy, CURLOPT_POSTFIELDS, b.post);
  curl_easy_setopt(b.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b.post_len);
  b.on_write = close_on_write;
  b.ctx = &fired;
  cli_add(&fx, &a);
  cli_add(&fx, &b);
  run_until(&fx, &fx.curl_closed, 1);
  assert_int_equal(a.done_calls, 1);
  assert_int_equal(b.done_calls, 1);
  assert_int_equal(a.result, CURLE_ABORTED_BY_CALLBACK);
  assert_int_equal(b.result, CURLE_ABORTED_BY_CALLBACK);
  assert_int_equal(done, 2);
  cli_free(&a);
  cli_free(&b);
  fx_done(&fx);
}

/* Closing before the loop ever ran: transfers never started still get
 * their single callback. */
static void test_close_before_run(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  cli_t c[3];
  for (int i = 0; i < 3; i++) {
    cli_init(&c[i], &fx, fx.port, "/json", &done);
    cli_add(&fx, &c[i]);
  }
  tw_uvcurl_close(fx.uc, on_curl_closed, &fx);
  assert_int_equal(done, 3);
  run_until(&fx, &fx.curl_closed, 1);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(c[i].done_calls, 1);
    assert_int_equal(c[i].result, CURLE_ABORTED_BY_CALLBACK);
    cli_free(&c[i]);
  }
  fx_done(&fx);
}

/* Closing the server from inside its own handler is deferred until
 * MHD_run() returns; the client sees the connection end. */
static void test_mhd_close_from_handler(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  int done = 0;
  cli_t c;
  cli_init(&c, &fx, fx.port, "/close", &done);
  cli_add(&fx, &c);
  run_until(&fx, &done, 1);
  assert_true(fx.close_from_handler);
  assert_int_not_equal(c.result, CURLE_OK);
  assert_int_equal(c.done_calls, 1);
  fx.mhd_closed = 1; /* closed without a callback: nothing left to close */
  fx.mhd = NULL;
  cli_free(&c);
  fx_done(&fx);
}

/* A daemon started by the caller (external epoll) and handed over. */
static void test_adopt(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_EPOLL, 0, NULL, NULL, handler, &fx, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, &fx,
      MHD_OPTION_END);
  assert_non_null(d);
  tw_uvmhd_t *u = NULL;
  assert_int_equal(tw_uvmhd_adopt(&fx.loop, d, &u), 0);
  assert_ptr_equal(tw_uvmhd_daemon(u), d);
  int done = 0;
  cli_t c;
  cli_init(&c, &fx, tw_uvmhd_port(u), "/json?i=3", &done);
  cli_add(&fx, &c);
  run_until(&fx, &done, 1);
  assert_int_equal(c.result, CURLE_OK);
  assert_non_null(strstr(c.body.data, "\"i\":3"));
  int closed = 0;
  tw_uvmhd_close(u, on_mhd_closed, &fx);
  closed = fx.mhd_closed;
  run_until(&fx, &fx.mhd_closed, closed + 1);
  fx.mhd_closed = 0;

  /* A daemon without an epoll fd cannot be driven; it is stopped. */
  d = MHD_start_daemon(0, 0, NULL, NULL, handler, &fx, MHD_OPTION_SOCK_ADDR,
                       (struct sockaddr *)&sa, MHD_OPTION_END);
  assert_non_null(d);
  assert_int_equal(tw_uvmhd_adopt(&fx.loop, d, &u), TW_EINVAL);

  /* Bad options for start. */
  tw_uvmhd_t *bad = NULL;
  tw_uvmhd_opts_t o = {0};
  assert_int_equal(tw_uvmhd_start(&fx.loop, &o, &bad), TW_EINVAL);
  o.handler = handler;
  o.host = "not-an-address";
  assert_int_equal(tw_uvmhd_start(&fx.loop, &o, &bad), TW_EINVAL);
  assert_null(bad);
  cli_free(&c);
  fx_done(&fx);
}

/* An idle connection is closed by MHD's own timeout: nothing happens on any
 * fd, so only the uv timer armed from MHD_get_timeout() can make MHD notice.
 */
typedef struct {
  uv_tcp_t tcp;
  uv_connect_t req;
  int eof;
} idle_t;

static void idle_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  idle_t *id = s->data;
  if (n < 0) {
    id->eof = 1;
    uv_read_stop(s);
  }
}

static void idle_connected(uv_connect_t *req, int status) {
  assert_int_equal(status, 0);
  uv_read_start(req->handle, silent_alloc, idle_read);
}

static void test_mhd_idle_timeout(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx);
  tw_uvmhd_opts_t o = {0};
  o.handler = handler;
  o.handler_cls = &fx;
  o.connection_timeout_s = 1;
  tw_uvmhd_t *u = NULL;
  assert_int_equal(tw_uvmhd_start(&fx.loop, &o, &u), 0);
  idle_t id = {0};
  uv_tcp_init(&fx.loop, &id.tcp);
  id.tcp.data = &id;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", tw_uvmhd_port(u), &sa);
  assert_int_equal(
      uv_tcp_connect(&id.req, &id.tcp, (struct sockaddr *)&sa, idle_connected),
      0);
  run_until(&fx, &id.eof, 1);
  uv_close((uv_handle_t *)&id.tcp, NULL);
  int closed = 0;
  tw_uvmhd_close(u, on_mhd_closed, &fx);
  closed = fx.mhd_closed;
  run_until(&fx, &fx.mhd_closed, closed + 1);
  fx.mhd_closed = 0;
  fx_done(&fx);
}

/* One table maps curl's failures for every HTTP client. */
static void test_curl_error_map(void **state) {
  (void)state;
  assert_int_equal(tw_uvcurl_error(CURLE_OPERATION_TIMEDOUT), TW_ETIMEDOUT);
  assert_int_equal(tw_uvcurl_error(CURLE_COULDNT_CONNECT), TW_ECONNREFUSED);
  assert_int_equal(tw_uvcurl_error(CURLE_COULDNT_RESOLVE_HOST), TW_EDNS);
  assert_int_equal(tw_uvcurl_error(CURLE_PEER_FAILED_VERIFICATION), TW_ECERT);
  assert_int_equal(tw_uvcurl_error(CURLE_SSL_CACERT_BADFILE), TW_ECERT);
  assert_int_equal(tw_uvcurl_error(CURLE_SSL_CONNECT_ERROR), TW_ETLS);
  assert_int_equal(tw_uvcurl_error(CURLE_ABORTED_BY_CALLBACK), TW_ECANCELED);
  assert_int_equal(tw_uvcurl_error(CURLE_RECV_ERROR), TW_EIO);
}

int main(void) {
  /* The adapters log through tw_log; keep test output quiet but visible. */
  tw_log_set_level(TW_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_json),
      cmocka_unit_test(test_post_echo),
      cmocka_unit_test(test_concurrent),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_api_errors),
      cmocka_unit_test(test_close_in_flight),
      cmocka_unit_test(test_suspend_resume_from_timer),
      cmocka_unit_test(test_socket_reuse),
      cmocka_unit_test(test_reentrant_from_write_cb),
      cmocka_unit_test(test_close_from_write_cb),
      cmocka_unit_test(test_close_before_run),
      cmocka_unit_test(test_mhd_close_from_handler),
      cmocka_unit_test(test_adopt),
      cmocka_unit_test(test_mhd_idle_timeout),
      cmocka_unit_test(test_curl_error_map),
  };
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
