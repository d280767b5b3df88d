/* Benchmark of the net layer on 127.0.0.1: bulk throughput of a stream
 * (plain TCP and TLS) and the rate of small WebSocket messages (IRC-line
 * sized) over ws:// and wss://. Prints figures; asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "twitchd/error.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"
#include "twitchd/ws.h"

#define BULK_BYTES (256u * 1024u * 1024u)
#define BULK_CHUNK 65536u
#define WS_MSGS 200000
#define WS_LINE                                                                \
  "@badge-info=;badges=;color=#1E90FF;display-name=viewer;id=0;mod=0 "         \
  ":viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #channel :hello chat, how "     \
  "is everyone doing today?\r\n"

typedef struct {
  uv_loop_t *loop;
  tw_stream_t *cli, *srv;
  size_t sent, received;
  int ws_sent, ws_received;
  tw_ws_t *wcli, *wsrv;
  int done;
} bench_t;

static char chunk[BULK_CHUNK];

/* ---- bulk stream ---- */

static void b_pump(tw_stream_t *s, void *ud) {
  bench_t *b = ud;
  while (b->sent < BULK_BYTES && tw_stream_write_room(s) >= BULK_CHUNK) {
    if (tw_stream_write(s, chunk, BULK_CHUNK) != 0)
      break;
    b->sent += BULK_CHUNK;
  }
}

static void b_read(tw_stream_t *s, const char *d, size_t n, void *ud) {
  bench_t *b = ud;
  (void)s;
  (void)d;
  b->received += n;
  if (b->received >= BULK_BYTES)
    b->done = 1;
}

static const tw_stream_cb_t CLI_CB = {b_pump, NULL, b_pump, NULL, NULL};
static const tw_stream_cb_t SRV_CB = {NULL, b_read, NULL, NULL, NULL};

static void b_accept(tw_listener_t *l, tw_stream_t *s, void *ud) {
  bench_t *b = ud;
  (void)l;
  b->srv = s;
  tw_stream_set_callbacks(s, &SRV_CB, b);
}

static void bulk(uv_loop_t *loop, tw_tls_ctx_t *stls, tw_tls_ctx_t *ctls,
                 const char *label) {
  bench_t b;
  tw_listener_t *l;
  tw_stream_connect_opts_t o;
  uint64_t t0, t1;
  memset(&b, 0, sizeof(b));
  b.loop = loop;
  if (tw_listener_new(loop, NULL, 0, stls, b_accept, &b, &l) != 0)
    exit(1);
  memset(&o, 0, sizeof(o));
  o.tls = ctls;
  o.verify_host = "localhost";
  tw_stream_new(loop, &CLI_CB, &b, &b.cli);
  t0 = uv_hrtime();
  tw_stream_connect(b.cli, "127.0.0.1", tw_listener_port(l), &o);
  while (!b.done)
    uv_run(loop, UV_RUN_ONCE);
  t1 = uv_hrtime();
  printf("%-28s %8.1f MiB/s  (%u MiB in %.3f s, connect included)\n", label,
         (double)BULK_BYTES / 1048576.0 / ((double)(t1 - t0) / 1e9),
         BULK_BYTES / 1048576u, (double)(t1 - t0) / 1e9);
  tw_stream_close(b.cli);
  tw_stream_close(b.srv);
  tw_listener_close(l, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- WebSocket messages ---- */

static void w_send_some(tw_ws_t *ws, bench_t *b) {
  while (b->ws_sent < WS_MSGS &&
         tw_ws_send_text(ws, WS_LINE, sizeof(WS_LINE) - 1) == 0)
    b->ws_sent++;
}

static void w_open(tw_ws_t *ws, void *ud) {
  bench_t *b = ud;
  if (ws == b->wcli)
    w_send_some(ws, b);
}

static void w_msg(tw_ws_t *ws, const char *d, size_t n, int bin, void *ud) {
  bench_t *b = ud;
  (void)ws;
  (void)d;
  (void)n;
  (void)bin;
  if (++b->ws_received == WS_MSGS)
    b->done = 1;
}

static void w_close(tw_ws_t *ws, const tw_ws_close_info_t *i, void *ud) {
  bench_t *b = ud;
  (void)i;
  if (ws == b->wcli)
    b->wcli = NULL;
  else
    b->wsrv = NULL;
}

static const tw_ws_cb_t WCB = {w_open, w_msg, NULL, NULL, NULL, w_close};

static void w_accept(tw_listener_t *l, tw_stream_t *s, void *ud) {
  bench_t *b = ud;
  (void)l;
  tw_ws_accept(s, NULL, &WCB, b, &b->wsrv);
}

static void ws_rate(uv_loop_t *loop, tw_tls_ctx_t *stls, tw_tls_ctx_t *ctls,
                    const char *label) {
  bench_t b;
  tw_listener_t *l;
  tw_ws_connect_opts_t o;
  char url[128];
  uint64_t t0, t1;
  memset(&b, 0, sizeof(b));
  if (tw_listener_new(loop, NULL, 0, stls, w_accept, &b, &l) != 0)
    exit(1);
  snprintf(url, sizeof(url), "%s://localhost:%u/", stls ? "wss" : "ws",
           (unsigned)tw_listener_port(l));
  memset(&o, 0, sizeof(o));
  o.tls = ctls;
  t0 = uv_hrtime();
  if (tw_ws_connect(loop, url, &o, &WCB, &b, &b.wcli) != 0)
    exit(1);
  while (!b.done) {
    uv_run(loop, UV_RUN_ONCE);
    if (b.wcli && tw_ws_is_open(b.wcli))
      w_send_some(b.wcli, &b);
  }
  t1 = uv_hrtime();
  printf("%-28s %8.0f msg/s  (%d messages of %zu B in %.3f s)\n", label,
         WS_MSGS / ((double)(t1 - t0) / 1e9), WS_MSGS, sizeof(WS_LINE) - 1,
         (double)(t1 - t0) / 1e9);
  if (b.wcli)
    tw_ws_abort(b.wcli);
  if (b.wsrv)
    tw_ws_abort(b.wsrv);
  tw_listener_close(l, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
}

int main(void) {
  char dir[] = "/tmp/twbench-XXXXXX";
  char cert[64], key[64], ca[64];
  tw_tls_ctx_t *stls, *ctls;
  tw_tls_client_opts_t co;
  uv_loop_t loop;

  if (!mkdtemp(dir) || tw_tls_gen_ca_and_cert(dir, NULL, 0, 1, NULL, 0) != 0)
    return 1;
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  snprintf(key, sizeof(key), "%s/key.pem", dir);
  snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
  memset(&co, 0, sizeof(co));
  co.ca_file = ca;
  if (tw_tls_server_new(cert, key, &stls, NULL, 0) != 0 ||
      tw_tls_client_new(&co, &ctls, NULL, 0) != 0)
    return 1;
  memset(chunk, 'x', sizeof(chunk));
  uv_loop_init(&loop);

  bulk(&loop, NULL, NULL, "stream TCP, one way");
  bulk(&loop, stls, ctls, "stream TLS 1.3, one way");
  ws_rate(&loop, NULL, ctls, "ws:// text messages");
  ws_rate(&loop, stls, ctls, "wss:// text messages");

  tw_tls_ctx_free(stls);
  tw_tls_ctx_free(ctls);
  uv_loop_close(&loop);
  unlink(cert);
  unlink(key);
  unlink(ca);
  rmdir(dir);
  return 0;
}
