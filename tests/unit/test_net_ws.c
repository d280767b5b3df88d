/* Tests for tw_ws_t, client and server, over ws:// and wss:// on 127.0.0.1.
 * Most tests run twice (plain and TLS). Where the server must misbehave
 * (wrong Sec-WebSocket-Accept, hand-made fragments, silence) it is a raw
 * tw_listener_t writing crafted bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"
#include "twitchd/ws.h"

#include "net/ws_http.h"
#include "net_test.h"

#define MSG_CAP (3u * 1024u * 1024u)
#define FILL_MSG 65000u /* not a divisor of the byte cap */

typedef struct fx fx_t;

/* One end of a WebSocket connection: what happened, and what to do. */
typedef struct {
  fx_t *fx;
  tw_ws_t *ws;
  int opens, closes, msgs, binmsgs, pongs, pings;
  tw_buf_t last;
  size_t last_len;
  char pong[TW_MAX_WS_PING + 1];
  char ping[TW_MAX_WS_PING + 1];
  /* copy of the close info */
  int err, code, by_peer, opened, http_status;
  char reason[TW_MAX_WS_REASON + 1];
  char location[256];
  char detail[TW_MAX_STREAM_DETAIL];
  /* server: what on_request saw */
  char req_path[256];
  char req_host[256];
  char req_headers[1024];
  /* behaviour */
  int echo;
  const char *open_text;
  const char *open_binary;
  const char *open_ping;
  int open_close_code;
  const char *open_close_reason;
  size_t open_big1, open_big2; /* sizes of messages sent on open */
  int open_fill;               /* send FILL_MSG messages until TW_EFULL */
  int filled;                  /* how many were accepted */
  int fill_rc;
  int small_filled; /* then 1-byte messages, until the count cap */
  int small_rc;
  int close_after_msgs; /* close 1000 "bye" after this many */
  int abort_on_msg;     /* drop the connection on the first message */
  int reject_status;
  const char *reject_headers;
} end_t;

/* A hand-written server. */
enum { RAW_BAD_ACCEPT = 1, RAW_FRAGMENTS, RAW_SILENT, RAW_HUGE_HEAD };

typedef struct {
  tw_stream_t *s;
  int mode;
  tw_buf_t in;
  int responded;
  int closes;
  int got_pong, pong_masked;
  char pong[16];
} raw_t;

struct fx {
  uv_loop_t loop;
  int tls;
  tw_test_pki_t pki;
  tw_tls_ctx_t *stls, *ctls;
  tw_listener_t *lst;
  tw_ws_server_opts_t sopts;
  int raw_mode;
  raw_t raw;
  end_t srv, cli;
  int accepted;
};

static const int TLS_OFF = 0, TLS_ON = 1;

/* ---- WebSocket callbacks (both ends) ---- */

static void do_open_actions(end_t *e) {
  tw_ws_t *ws = e->ws;
  if (e->open_text)
    assert_int_equal(tw_ws_send_text(ws, e->open_text, strlen(e->open_text)),
                     0);
  if (e->open_binary)
    assert_int_equal(
        tw_ws_send_binary(ws, e->open_binary, strlen(e->open_binary)), 0);
  if (e->open_ping)
    assert_int_equal(tw_ws_ping(ws, e->open_ping, strlen(e->open_ping)), 0);
  if (e->open_big1 || e->open_big2) {
    char *big =
        malloc(e->open_big1 > e->open_big2 ? e->open_big1 : e->open_big2);
    assert_non_null(big);
    memset(big, 'a', e->open_big1 > e->open_big2 ? e->open_big1 : e->open_big2);
    if (e->open_big1)
      assert_int_equal(tw_ws_send_text(ws, big, e->open_big1), 0);
    if (e->open_big2)
      assert_int_equal(tw_ws_send_text(ws, big, e->open_big2), 0);
    free(big);
  }
  if (e->open_fill) {
    static char chunk[FILL_MSG];
    int rc;
    memset(chunk, 'f', sizeof(chunk));
    while ((rc = tw_ws_send_text(ws, chunk, sizeof(chunk))) == 0)
      e->filled++;
    e->fill_rc = rc;
    /* Bytes are nearly at the cap; tiny messages hit the count cap. */
    while ((rc = tw_ws_send_text(ws, "s", 1)) == 0)
      e->small_filled++;
    e->small_rc = rc;
  }
  if (e->open_close_code)
    assert_int_equal(tw_ws_close(ws, e->open_close_code, e->open_close_reason),
                     0);
}

static void w_open(tw_ws_t *ws, void *ud) {
  end_t *e = ud;
  assert_ptr_equal(ws, e->ws);
  e->opens++;
  assert_true(tw_ws_is_open(ws));
  do_open_actions(e);
}

static void w_message(tw_ws_t *ws, const char *data, size_t len, int binary,
                      void *ud) {
  end_t *e = ud;
  assert_ptr_equal(ws, e->ws);
  e->msgs++;
  if (binary)
    e->binmsgs++;
  e->last_len = len;
  tw_buf_reset(&e->last);
  assert_int_equal(tw_buf_append(&e->last, data, len), 0);
  if (e->echo) {
    int rc = binary ? tw_ws_send_binary(ws, data, len)
                    : tw_ws_send_text(ws, data, len);
    assert_int_equal(rc, 0);
  }
  if (e->close_after_msgs && e->msgs == e->close_after_msgs)
    assert_int_equal(tw_ws_close(ws, TW_WS_CLOSE_NORMAL, "bye"), 0);
  if (e->abort_on_msg) {
    tw_ws_abort(ws);
    tw_ws_abort(ws); /* twice: harmless */
    assert_int_equal(tw_ws_send_text(ws, "late", 4), TW_ESTATE);
  }
}

static void copy_payload(char *out, const char *data, size_t len) {
  if (len > TW_MAX_WS_PING)
    len = TW_MAX_WS_PING;
  memcpy(out, data, len);
  out[len] = '\0';
}

static void w_pong(tw_ws_t *ws, const char *data, size_t len, void *ud) {
  end_t *e = ud;
  (void)ws;
  e->pongs++;
  copy_payload(e->pong, data, len);
}

static void w_ping(tw_ws_t *ws, const char *data, size_t len, void *ud) {
  end_t *e = ud;
  (void)ws;
  e->pings++;
  copy_payload(e->ping, data, len);
}

static int w_request(tw_ws_t *ws, const tw_ws_request_t *req, void *ud) {
  end_t *e = ud;
  assert_string_equal(req->method, "GET");
  snprintf(e->req_path, sizeof(e->req_path), "%s", req->path);
  snprintf(e->req_host, sizeof(e->req_host), "%s", req->host);
  snprintf(e->req_headers, sizeof(e->req_headers), "%s", req->headers);
  assert_string_equal(tw_ws_path(ws), req->path);
  if (e->reject_headers)
    assert_int_equal(tw_ws_set_response_headers(ws, e->reject_headers), 0);
  return e->reject_status;
}

static void w_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  end_t *e = ud;
  assert_ptr_equal(ws, e->ws);
  e->closes++;
  e->err = info->err;
  e->code = info->code;
  e->by_peer = info->by_peer;
  e->opened = info->opened;
  e->http_status = info->http_status;
  snprintf(e->reason, sizeof(e->reason), "%s", info->reason);
  snprintf(e->location, sizeof(e->location), "%s", info->location);
  snprintf(e->detail, sizeof(e->detail), "%s", info->detail);
  e->ws = NULL;
}

static const tw_ws_cb_t WSCB = {w_open, w_message, w_pong,
                                w_ping, w_request, w_close};

/* ---- raw server ---- */

static size_t frame(uint8_t *out, int fin, int opcode, const char *payload,
                    size_t len) {
  size_t n = 0;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
  assert_true(len < 126);
  out[n++] = (uint8_t)len;
  memcpy(out + n, payload, len);
  return n + len;
}

static void raw_respond(raw_t *r, const char *head, size_t hlen) {
  const char *v;
  size_t vlen;
  char key[64], accept[29], resp[512];
  int n;
  assert_true(tw__http_header(head, hlen, "Sec-WebSocket-Key", &v, &vlen));
  assert_true(vlen < sizeof(key));
  memcpy(key, v, vlen);
  key[vlen] = '\0';
  assert_int_equal(tw_ws_accept_key(key, accept), 0);
  if (r->mode == RAW_BAD_ACCEPT)
    accept[3] = accept[3] == 'A' ? 'B' : 'A';
  if (r->mode == RAW_SILENT)
    return;
  if (r->mode == RAW_HUGE_HEAD) {
    static char huge[TW_MAX_WS_HANDSHAKE + 1024];
    size_t used = (size_t)snprintf(huge, sizeof(huge),
                                   "HTTP/1.1 101 Switching Protocols\r\n");
    while (used + 40 < sizeof(huge))
      used += (size_t)snprintf(huge + used, sizeof(huge) - used,
                               "X-Padding: %030d\r\n", 0);
    assert_int_equal(tw_stream_write(r->s, huge, used), 0);
    return;
  }
  n = snprintf(resp, sizeof(resp),
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
               accept);
  assert_int_equal(tw_stream_write(r->s, resp, (size_t)n), 0);
  if (r->mode == RAW_FRAGMENTS) {
    /* One text message in three frames, with a ping between two of them
     * (control frames may interleave), in the same write as the 101. */
    uint8_t f[256];
    size_t m = 0;
    m += frame(f + m, 0, 0x1, "Hello, ", 7);
    m += frame(f + m, 0, 0x0, "fragmented ", 11);
    m += frame(f + m, 1, 0x9, "p", 1);
    m += frame(f + m, 1, 0x0, "world", 5);
    assert_int_equal(tw_stream_write(r->s, f, m), 0);
  }
}

/* Reads one masked client frame (a pong, here) after the head. */
static void raw_scan_frames(raw_t *r, size_t off) {
  const uint8_t *p = (const uint8_t *)r->in.data + off;
  size_t avail = r->in.len - off, len, i;
  if (avail < 2)
    return;
  len = p[1] & 0x7f;
  if (avail < 6 + len)
    return;
  if ((p[0] & 0x0f) == 0xA && !r->got_pong) {
    r->got_pong = 1;
    r->pong_masked = (p[1] & 0x80) != 0;
    for (i = 0; i < len && i < sizeof(r->pong) - 1; i++)
      r->pong[i] = (char)(p[6 + i] ^ p[2 + (i % 4)]);
    r->pong[i] = '\0';
  }
}

static void raw_read(tw_stream_t *s, const char *data, size_t len, void *ud) {
  raw_t *r = ud;
  size_t hlen;
  (void)s;
  assert_int_equal(tw_buf_append(&r->in, data, len), 0);
  hlen = tw__http_head_len(r->in.data, r->in.len);
  if (!hlen)
    return;
  if (!r->responded) {
    r->responded = 1;
    raw_respond(r, r->in.data, hlen);
  }
  raw_scan_frames(r, hlen);
}

static void raw_close(tw_stream_t *s, void *ud) {
  raw_t *r = ud;
  (void)s;
  r->closes++;
  r->s = NULL;
}

static const tw_stream_cb_t RAWCB = {NULL, raw_read, NULL, NULL, raw_close};

static void on_accept(tw_listener_t *l, tw_stream_t *s, void *ud) {
  fx_t *fx = ud;
  (void)l;
  fx->accepted++;
  if (fx->raw_mode) {
    fx->raw.s = s;
    fx->raw.mode = fx->raw_mode;
    tw_stream_set_callbacks(s, &RAWCB, &fx->raw);
    return;
  }
  assert_null(fx->srv.ws);
  assert_int_equal(tw_ws_accept(s, &fx->sopts, &WSCB, &fx->srv, &fx->srv.ws),
                   0);
}

/* ---- fixture ---- */

static int setup(void **state) {
  const int *tls = *state;
  fx_t *fx = calloc(1, sizeof(*fx));
  tw_tls_client_opts_t co;
  if (!fx || uv_loop_init(&fx->loop) != 0)
    return -1;
  fx->tls = tls ? *tls : 0;
  if (tw_test_pki_make(&fx->pki, 0) != 0)
    return -1;
  if (tw_tls_server_new(fx->pki.cert, fx->pki.key, &fx->stls, NULL, 0) != 0)
    return -1;
  memset(&co, 0, sizeof(co));
  co.ca_file = fx->pki.ca;
  if (tw_tls_client_new(&co, &fx->ctls, NULL, 0) != 0)
    return -1;
  fx->srv.fx = fx->cli.fx = fx;
  tw_buf_init(&fx->srv.last, MSG_CAP);
  tw_buf_init(&fx->cli.last, MSG_CAP);
  tw_buf_init(&fx->raw.in, 65536);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  tw_tls_ctx_free(fx->stls);
  tw_tls_ctx_free(fx->ctls);
  tw_test_pki_remove(&fx->pki);
  tw_buf_free(&fx->srv.last);
  tw_buf_free(&fx->cli.last);
  tw_buf_free(&fx->raw.in);
  free(fx);
  return 0;
}

static void start_server(fx_t *fx) {
  assert_int_equal(tw_listener_new(&fx->loop, NULL, 0,
                                   fx->tls ? fx->stls : NULL, on_accept, fx,
                                   &fx->lst),
                   0);
}

static void url_for(fx_t *fx, char *out, size_t cap, const char *path) {
  snprintf(out, cap, "%s://localhost:%u%s", fx->tls ? "wss" : "ws",
           (unsigned)tw_listener_port(fx->lst), path);
}

static void start_client_opts(fx_t *fx, const char *path,
                              tw_ws_connect_opts_t *o) {
  char url[256];
  url_for(fx, url, sizeof(url), path);
  o->tls = fx->ctls;
  assert_int_equal(
      tw_ws_connect(&fx->loop, url, o, &WSCB, &fx->cli, &fx->cli.ws), 0);
  assert_non_null(fx->cli.ws);
}

static void start_client(fx_t *fx, const char *path) {
  tw_ws_connect_opts_t o;
  memset(&o, 0, sizeof(o));
  start_client_opts(fx, path, &o);
}

static void finish(fx_t *fx) {
  if (fx->lst)
    tw_listener_close(fx->lst, NULL, NULL);
  fx->lst = NULL;
  if (fx->cli.ws)
    tw_ws_abort(fx->cli.ws);
  if (fx->srv.ws)
    tw_ws_abort(fx->srv.ws);
  if (fx->raw.s)
    tw_stream_close(fx->raw.s);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
}

static int client_closed(void *arg) {
  return ((fx_t *)arg)->cli.closes > 0;
}

static int both_closed(void *arg) {
  fx_t *fx = arg;
  return fx->cli.closes > 0 && fx->srv.closes > 0;
}

static int client_has_msg(void *arg) {
  return ((fx_t *)arg)->cli.msgs > 0;
}

static void run(fx_t *fx, int (*done)(void *)) {
  assert_true(tw_test_run_until(&fx->loop, done, fx, TW_TEST_WATCHDOG_MS));
}

static void expect_client_err(fx_t *fx, int err) {
  if (fx->cli.err != err)
    fail_msg("expected %s, got %s (%s)", tw_err_name(err),
             tw_err_name(fx->cli.err), fx->cli.detail);
}

/* ---- tests ---- */

/* Upgrade, text and binary echo, client-initiated close with its reason. */
static void test_upgrade_echo_close(void **state) {
  fx_t *fx = *state;
  fx->srv.echo = 1;
  fx->cli.open_text = "hello";
  fx->cli.open_binary = "bin\001ary";
  fx->cli.close_after_msgs = 2;
  start_server(fx);
  start_client(fx, "/chat?x=1");
  run(fx, both_closed);
  assert_int_equal(fx->cli.opens, 1);
  assert_int_equal(fx->srv.opens, 1);
  assert_string_equal(fx->srv.req_path, "/chat?x=1");
  {
    char host[64];
    snprintf(host, sizeof(host), "localhost:%u",
             (unsigned)tw_listener_port(fx->lst));
    assert_string_equal(fx->srv.req_host, host);
  }
  assert_int_equal(fx->srv.msgs, 2);
  assert_int_equal(fx->srv.binmsgs, 1);
  assert_int_equal(fx->cli.msgs, 2);
  assert_int_equal(fx->cli.binmsgs, 1);
  assert_string_equal(fx->cli.last.data, "bin\001ary");
  /* The client started the close. */
  assert_int_equal(fx->cli.err, 0);
  assert_int_equal(fx->cli.code, 1000);
  assert_int_equal(fx->cli.by_peer, 0);
  assert_int_equal(fx->cli.opened, 1);
  assert_string_equal(fx->cli.reason, "bye");
  assert_int_equal(fx->srv.err, 0);
  assert_int_equal(fx->srv.code, 1000);
  assert_int_equal(fx->srv.by_peer, 1);
  assert_string_equal(fx->srv.reason, "bye");
  finish(fx);
  assert_int_equal(fx->cli.closes, 1);
  assert_int_equal(fx->srv.closes, 1);
}

static void test_bad_accept(void **state) {
  fx_t *fx = *state;
  fx->raw_mode = RAW_BAD_ACCEPT;
  start_server(fx);
  start_client(fx, "/");
  run(fx, client_closed);
  expect_client_err(fx, TW_EPROTO);
  assert_non_null(strstr(fx->cli.detail, "Sec-WebSocket-Accept"));
  assert_int_equal(fx->cli.opens, 0);
  assert_int_equal(fx->cli.opened, 0);
  finish(fx);
}

/* 301 is reported with its Location, not followed. */
static void test_non_101(void **state) {
  fx_t *fx = *state;
  fx->srv.reject_status = 301;
  fx->srv.reject_headers = "Location: wss://irc-ws.chat.twitch.tv:443\r\n";
  start_server(fx);
  start_client(fx, "/");
  run(fx, both_closed);
  expect_client_err(fx, TW_EHTTP);
  assert_int_equal(fx->cli.http_status, 301);
  assert_string_equal(fx->cli.location, "wss://irc-ws.chat.twitch.tv:443");
  assert_non_null(strstr(fx->cli.detail, "301"));
  assert_int_equal(fx->cli.opens, 0);
  assert_int_equal(fx->srv.opens, 0);
  assert_int_equal(fx->srv.err, TW_EHTTP);
  assert_int_equal(fx->srv.http_status, 301);
  assert_int_equal(fx->accepted, 1);
  finish(fx);
}

static int raw_got_pong(void *arg) {
  return ((fx_t *)arg)->raw.got_pong;
}

static void test_fragments(void **state) {
  fx_t *fx = *state;
  fx->raw_mode = RAW_FRAGMENTS;
  start_server(fx);
  start_client(fx, "/");
  run(fx, client_has_msg);
  assert_int_equal(fx->cli.msgs, 1);
  assert_string_equal(fx->cli.last.data, "Hello, fragmented world");
  assert_int_equal(fx->cli.pings, 1);
  assert_string_equal(fx->cli.ping, "p");
  /* The ping was answered with a masked pong carrying its payload. */
  run(fx, raw_got_pong);
  assert_true(fx->raw.pong_masked);
  assert_string_equal(fx->raw.pong, "p");
  finish(fx);
}

static int server_has_pong(void *arg) {
  return ((fx_t *)arg)->srv.pongs > 0;
}

static int client_has_pong(void *arg) {
  return ((fx_t *)arg)->cli.pongs > 0;
}

static void test_server_ping(void **state) {
  fx_t *fx = *state;
  fx->srv.open_ping = "srv-ping";
  start_server(fx);
  start_client(fx, "/");
  run(fx, server_has_pong);
  assert_string_equal(fx->srv.pong, "srv-ping");
  assert_int_equal(fx->cli.pings, 1);
  assert_string_equal(fx->cli.ping, "srv-ping");
  assert_int_equal(fx->cli.pongs, 0);
  finish(fx);
}

static void test_client_ping(void **state) {
  fx_t *fx = *state;
  fx->cli.open_ping = "liveness-1";
  start_server(fx);
  start_client(fx, "/");
  run(fx, client_has_pong);
  assert_int_equal(fx->cli.pongs, 1);
  assert_string_equal(fx->cli.pong, "liveness-1");
  assert_int_equal(fx->srv.pings, 1);
  /* Payload over 125 bytes is refused. */
  {
    char big[TW_MAX_WS_PING + 1];
    memset(big, 'x', sizeof(big));
    assert_int_equal(tw_ws_ping(fx->cli.ws, big, sizeof(big)), TW_EINVAL);
  }
  finish(fx);
}

/* EventSub's "no subscription in time" close. */
static void test_server_close_4003(void **state) {
  fx_t *fx = *state;
  fx->srv.open_close_code = 4003;
  fx->srv.open_close_reason = "session_welcome timeout";
  start_server(fx);
  start_client(fx, "/ws");
  run(fx, both_closed);
  assert_int_equal(fx->cli.err, 0);
  assert_int_equal(fx->cli.code, 4003);
  assert_string_equal(fx->cli.reason, "session_welcome timeout");
  assert_int_equal(fx->cli.by_peer, 1);
  assert_int_equal(fx->cli.opened, 1);
  assert_int_equal(fx->srv.err, 0);
  assert_int_equal(fx->srv.code, 4003);
  assert_int_equal(fx->srv.by_peer, 0);
  finish(fx);
  assert_int_equal(fx->cli.closes, 1);
  assert_int_equal(fx->srv.closes, 1);
}

/* A message of exactly the cap passes; one byte more closes with 1009. */
static void test_oversized(void **state) {
  fx_t *fx = *state;
  fx->sopts.max_message = 2u * TW_MAX_WS_MESSAGE;
  fx->srv.open_big1 = TW_MAX_WS_MESSAGE;
  fx->srv.open_big2 = TW_MAX_WS_MESSAGE + 1u;
  start_server(fx);
  start_client(fx, "/");
  run(fx, both_closed);
  assert_int_equal(fx->cli.msgs, 1);
  assert_int_equal(fx->cli.last_len, TW_MAX_WS_MESSAGE);
  expect_client_err(fx, TW_ETOOBIG);
  assert_int_equal(fx->cli.code, 1009);
  assert_int_equal(fx->cli.by_peer, 0);
  finish(fx);
}

static void test_send_too_big(void **state) {
  fx_t *fx = *state;
  char *big = malloc(TW_MAX_WS_MESSAGE + 1u);
  assert_non_null(big);
  memset(big, 'b', TW_MAX_WS_MESSAGE + 1u);
  fx->srv.echo = 1;
  fx->cli.open_text = "x";
  start_server(fx);
  start_client(fx, "/");
  run(fx, client_has_msg);
  assert_int_equal(tw_ws_send_text(fx->cli.ws, big, TW_MAX_WS_MESSAGE + 1u),
                   TW_ETOOBIG);
  free(big);
  finish(fx);
}

/* Several IRC lines in one frame arrive as one message, byte for byte. */
static void test_crlf_lines(void **state) {
  fx_t *fx = *state;
  static const char lines[] =
      ":tmi.twitch.tv 001 bot :Welcome, GLHF!\r\n"
      ":tmi.twitch.tv 002 bot :Your host is tmi.twitch.tv\r\n"
      "@badge-info=;color=#FF0000 :a!a@a.tmi.twitch.tv PRIVMSG #c :hi\r\n"
      "PING :tmi.twitch.tv\r\n";
  fx->srv.open_text = lines;
  start_server(fx);
  start_client(fx, "/");
  run(fx, client_has_msg);
  assert_int_equal(fx->cli.msgs, 1);
  assert_int_equal(fx->cli.last_len, sizeof(lines) - 1);
  assert_memory_equal(fx->cli.last.data, lines, sizeof(lines) - 1);
  finish(fx);
}

static int server_got_all_fill(void *arg) {
  fx_t *fx = arg;
  return fx->cli.filled > 0 &&
         fx->srv.msgs >= fx->cli.filled + fx->cli.small_filled;
}

/* The send queue is bounded: TW_EFULL, and everything accepted arrives. */
static void test_send_queue_full(void **state) {
  fx_t *fx = *state;
  fx->cli.open_fill = 1;
  start_server(fx);
  start_client(fx, "/");
  run(fx, server_got_all_fill);
  assert_int_equal(fx->cli.fill_rc, TW_EFULL);
  assert_true((size_t)fx->cli.filled * FILL_MSG >= TW_MAX_WS_WQUEUE);
  assert_true((size_t)fx->cli.filled * FILL_MSG <=
              TW_MAX_WS_WQUEUE + TW_MAX_STREAM_WQUEUE + FILL_MSG);
  assert_int_equal(fx->cli.small_rc, TW_EFULL);
  assert_true(fx->cli.small_filled > 0);
  assert_true((size_t)fx->cli.small_filled <= TW_MAX_WS_QUEUED_MSGS);
  assert_int_equal(fx->srv.msgs, fx->cli.filled + fx->cli.small_filled);
  assert_int_equal(fx->srv.last_len, 1);
  finish(fx);
}

/* The server drops TCP without a close frame. (It waits for a message so
 * that its 101 surely went out: an abort drops what is queued.) */
static void test_dropped(void **state) {
  fx_t *fx = *state;
  fx->cli.open_text = "x";
  fx->srv.abort_on_msg = 1;
  start_server(fx);
  start_client(fx, "/");
  run(fx, both_closed);
  expect_client_err(fx, TW_ECLOSED);
  assert_int_equal(fx->cli.code, 1006);
  assert_int_equal(fx->cli.by_peer, 1);
  assert_int_equal(fx->cli.opened, 1);
  assert_int_equal(fx->srv.err, TW_ECANCELED);
  finish(fx);
}

static void test_open_timeout(void **state) {
  fx_t *fx = *state;
  tw_ws_connect_opts_t o;
  fx->raw_mode = RAW_SILENT;
  start_server(fx);
  memset(&o, 0, sizeof(o));
  o.open_timeout_ms = 300;
  start_client_opts(fx, "/", &o);
  run(fx, client_closed);
  expect_client_err(fx, TW_ETIMEDOUT);
  assert_int_equal(fx->cli.opened, 0);
  finish(fx);
}

static void test_huge_head(void **state) {
  fx_t *fx = *state;
  fx->raw_mode = RAW_HUGE_HEAD;
  start_server(fx);
  start_client(fx, "/");
  run(fx, client_closed);
  expect_client_err(fx, TW_ETOOBIG);
  finish(fx);
}

static void test_close_before_open(void **state) {
  fx_t *fx = *state;
  start_server(fx);
  start_client(fx, "/");
  assert_false(tw_ws_is_open(fx->cli.ws));
  assert_int_equal(tw_ws_send_text(fx->cli.ws, "x", 1), TW_ESTATE);
  assert_int_equal(tw_ws_close(fx->cli.ws, 1000, NULL), 0);
  run(fx, client_closed);
  expect_client_err(fx, TW_ECANCELED);
  assert_int_equal(fx->cli.opens, 0);
  finish(fx);
  assert_int_equal(fx->cli.closes, 1);
}

static void test_refused(void **state) {
  fx_t *fx = *state;
  uv_tcp_t sock;
  struct sockaddr_in sa;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  char url[128];
  tw_ws_connect_opts_t o;
  assert_int_equal(uv_tcp_init(&fx->loop, &sock), 0);
  assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
  assert_int_equal(uv_tcp_bind(&sock, (struct sockaddr *)&sa, 0), 0);
  assert_int_equal(uv_tcp_getsockname(&sock, (struct sockaddr *)&ss, &len), 0);
  snprintf(url, sizeof(url), "%s://127.0.0.1:%u/", fx->tls ? "wss" : "ws",
           (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
  memset(&o, 0, sizeof(o));
  o.tls = fx->ctls;
  assert_int_equal(
      tw_ws_connect(&fx->loop, url, &o, &WSCB, &fx->cli, &fx->cli.ws), 0);
  run(fx, client_closed);
  expect_client_err(fx, TW_ECONNREFUSED);
  uv_close((uv_handle_t *)&sock, NULL);
  finish(fx);
}

static void test_wss_wrong_host(void **state) {
  fx_t *fx = *state;
  tw_ws_connect_opts_t o;
  if (!fx->tls) {
    finish(fx); /* nothing to verify over ws:// */
    return;
  }
  memset(&o, 0, sizeof(o));
  o.verify_host = "example.invalid";
  start_server(fx);
  start_client_opts(fx, "/", &o);
  run(fx, client_closed);
  expect_client_err(fx, TW_EHOSTNAME);
  finish(fx);
}

static void test_sync_errors(void **state) {
  fx_t *fx = *state;
  tw_ws_t *ws = NULL;
  tw_ws_connect_opts_t o;
  memset(&o, 0, sizeof(o));
  assert_int_equal(
      tw_ws_connect(&fx->loop, "https://x/", &o, &WSCB, &fx->cli, &ws),
      TW_EINVAL);
  /* wss:// needs a TLS context. */
  assert_int_equal(tw_ws_connect(&fx->loop, "wss://localhost:1/", NULL, &WSCB,
                                 &fx->cli, &ws),
                   TW_EINVAL);
  o.extra_headers = "Origin: x\r\n\r\nGET / HTTP/1.1\r\n";
  assert_int_equal(
      tw_ws_connect(&fx->loop, "ws://localhost:1/", &o, &WSCB, &fx->cli, &ws),
      TW_EINVAL);
  assert_null(ws);
  finish(fx);
  assert_int_equal(fx->cli.closes, 0);
}

/* Extra request headers reach the server; a server-side close code outside
 * the allowed ranges is refused. */
static void test_extra_headers(void **state) {
  fx_t *fx = *state;
  tw_ws_connect_opts_t o;
  memset(&o, 0, sizeof(o));
  o.extra_headers = "Origin: https://example.test\r\nX-Test: 1\r\n";
  fx->cli.open_text = "x";
  fx->srv.echo = 1;
  start_server(fx);
  start_client_opts(fx, "/", &o);
  run(fx, client_has_msg);
  assert_non_null(strstr(fx->srv.req_headers, "Origin: https://example.test"));
  assert_non_null(strstr(fx->srv.req_headers, "X-Test: 1"));
  assert_int_equal(tw_ws_close(fx->cli.ws, 1005, NULL), TW_EINVAL);
  assert_int_equal(tw_ws_close(fx->cli.ws, 999, NULL), TW_EINVAL);
  assert_int_equal(tw_ws_close(fx->cli.ws, 5000, NULL), TW_EINVAL);
  finish(fx);
}

/* ---- server-side request validation, with a raw client ---- */

typedef struct {
  tw_stream_t *s;
  tw_buf_t in;
  const char *request;
  int closes;
  fx_t *fx;
} rawc_t;

static void rc_connect(tw_stream_t *s, void *ud) {
  rawc_t *c = ud;
  assert_int_equal(tw_stream_write(s, c->request, strlen(c->request)), 0);
}

static void rc_read(tw_stream_t *s, const char *d, size_t n, void *ud) {
  rawc_t *c = ud;
  assert_int_equal(tw_buf_append(&c->in, d, n), 0);
  if (tw__http_head_len(c->in.data, c->in.len))
    tw_stream_close(s); /* the answer is all we wanted */
}

static void rc_close(tw_stream_t *s, void *ud) {
  rawc_t *c = ud;
  (void)s;
  c->closes++;
  c->s = NULL;
}

static const tw_stream_cb_t RCCB = {rc_connect, rc_read, NULL, NULL, rc_close};

static int rawc_closed(void *arg) {
  rawc_t *c = arg;
  return c->closes > 0 && c->fx->srv.closes > 0;
}

static void raw_request(fx_t *fx, const char *req, const char *expect) {
  rawc_t c;
  tw_stream_connect_opts_t o;
  memset(&c, 0, sizeof(c));
  tw_buf_init(&c.in, 65536);
  c.request = req;
  c.fx = fx;
  fx->srv.closes = 0;
  fx->srv.opens = 0;
  memset(&o, 0, sizeof(o));
  o.tls = fx->tls ? fx->ctls : NULL;
  o.verify_host = "localhost";
  assert_int_equal(tw_stream_new(&fx->loop, &RCCB, &c, &c.s), 0);
  assert_int_equal(
      tw_stream_connect(c.s, "127.0.0.1", tw_listener_port(fx->lst), &o), 0);
  assert_true(
      tw_test_run_until(&fx->loop, rawc_closed, &c, TW_TEST_WATCHDOG_MS));
  if (strncmp(c.in.data ? c.in.data : "", expect, strlen(expect)) != 0)
    fail_msg("expected \"%s\", got \"%s\"", expect, c.in.data ? c.in.data : "");
  tw_buf_free(&c.in);
  assert_int_equal(fx->srv.closes, 1);
  assert_int_equal(fx->srv.opens, strstr(expect, " 101 ") ? 1 : 0);
}

static void test_server_validation(void **state) {
  fx_t *fx = *state;
  start_server(fx);
  raw_request(fx, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 ");
  assert_int_equal(fx->srv.err, TW_EPROTO);
  raw_request(fx,
              "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\n\r\n",
              "HTTP/1.1 405 ");
  raw_request(fx,
              "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
              "HTTP/1.1 426 ");
  raw_request(fx,
              "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              "Sec-WebSocket-Key: short\r\n\r\n",
              "HTTP/1.1 400 ");
  raw_request(fx, "GET / HTTP/1.0\r\n\r\n", "HTTP/1.1 400 ");
  /* A valid request gets 101 with the RFC's accept value; the raw client
   * then hangs up without a close frame. */
  raw_request(fx,
              "GET /ok HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
              "HTTP/1.1 101 ");
  finish(fx);
}

/* A client that connects and never sends its request is dropped. */
static void test_server_request_timeout(void **state) {
  fx_t *fx = *state;
  fx->sopts.open_timeout_ms = 200;
  start_server(fx);
  raw_request(fx, "", "");
  assert_int_equal(fx->srv.err, TW_ETIMEDOUT);
  finish(fx);
}

#define T(f)                                                                   \
  cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,                 \
                                           (void *)&TLS_OFF),                  \
      cmocka_unit_test_prestate_setup_teardown(f, setup, teardown,             \
                                               (void *)&TLS_ON)

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      T(test_upgrade_echo_close),
      T(test_bad_accept),
      T(test_non_101),
      T(test_fragments),
      T(test_server_ping),
      T(test_client_ping),
      T(test_server_close_4003),
      T(test_oversized),
      T(test_send_too_big),
      T(test_crlf_lines),
      T(test_send_queue_full),
      T(test_dropped),
      T(test_open_timeout),
      T(test_huge_head),
      T(test_close_before_open),
      T(test_refused),
      T(test_wss_wrong_host),
      T(test_sync_errors),
      T(test_extra_headers),
      T(test_server_validation),
      T(test_server_request_timeout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
