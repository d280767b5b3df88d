/* WebSocket client and server on tw_stream_t, framing by wslay.
 *
 * The opening handshake is ours (HTTP/1.1 upgrade, bounded by
 * TW_MAX_WS_HANDSHAKE); after it wslay's event API does the framing. wslay
 * pulls bytes through recv_callback and pushes through send_callback; with a
 * push-style loop we hand it the bytes of each read (rx/rx_len) and let it
 * write straight into the stream's bounded queue, reporting WOULDBLOCK when
 * that queue is full and resuming on the stream's on_drain.
 *
 * wslay answers pings and close frames by itself and queues a close on
 * protocol errors (1002), invalid UTF-8 (1007) and oversized messages (1009);
 * we learn of the latter from the code it finally sent.
 *
 * The end is always the same: the stream closes (gracefully after a close
 * handshake, abruptly otherwise), the timer closes, then on_close runs with
 * the first recorded reason and the handle is freed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <wslay/wslay.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/ws.h"

#include "net/net_internal.h"
#include "net/ws_http.h"

enum {
  WS_CONNECTING = 0, /* client: stream connecting */
  WS_HANDSHAKE,      /* waiting for the HTTP head */
  WS_OPEN,           /* messages flow */
  WS_CLOSING,        /* close handshake under way */
  WS_DONE            /* stream ending or closing; waiting for on_close */
};

/* Frame bytes wslay marks "more follows" are gathered up to this size before
 * going to the stream, so that a frame's header and payload travel in one
 * write (one TLS record, one TCP segment) rather than two. */
#define TW_WS_OUT_CHUNK 16384u

/* Room for the Host header value: host, brackets, colon, port. */
#define TW_WS_HOST_HDR (TW_MAX_HOST + 8)

struct tw_ws {
  uv_loop_t *loop;
  tw_stream_t *stream; /* NULL once closed */
  wslay_event_context_ptr ctx;
  tw_ws_cb_t cb;
  void *ud;
  int server;
  int state;
  int opened;
  int user_closed; /* tw_ws_close() sent our close frame */
  int silent;      /* synchronous failure: no user callbacks */
  int timer_closed;
  int stream_closed;
  uv_timer_t timer;
  size_t max_message;
  unsigned open_timeout_ms;
  tw_buf_t hs;  /* handshake bytes received so far */
  tw_buf_t out; /* frame bytes waiting for the rest of their frame */
  const uint8_t *rx;
  size_t rx_len;
  /* Outcome: the first recorded reason wins. */
  int have_outcome;
  int err;
  int code;
  int by_peer;
  int http_status;
  int wslay_closed; /* wslay queued a close on its own (error) */
  int in_recv;      /* inside wslay_event_recv: sending waits for its end */
  char reason[TW_MAX_WS_REASON + 1];
  char location[TW_MAX_WS_URL + 1];
  char detail[TW_MAX_STREAM_DETAIL];
  /* Handshake data. */
  char key[25];
  char accept[29];
  char path[TW_MAX_WS_PATH + 1];
  char host_hdr[TW_WS_HOST_HDR];
  char extra[TW_MAX_WS_EXTRA_HEADERS + 1];
};

static const char *MOD = "ws";

static void after_io(tw_ws_t *ws);
static void on_timer(uv_timer_t *t);

/* ---- outcome and teardown ---- */

static void outcome(tw_ws_t *ws, int err, int code, int by_peer,
                    const char *reason, size_t rlen, const char *detail) {
  if (ws->have_outcome)
    return;
  ws->have_outcome = 1;
  ws->err = err;
  ws->code = code;
  ws->by_peer = by_peer;
  if (rlen > TW_MAX_WS_REASON)
    rlen = TW_MAX_WS_REASON;
  if (reason && rlen)
    memcpy(ws->reason, reason, rlen);
  ws->reason[rlen] = '\0';
  if (detail)
    tw__strlcpy(ws->detail, detail, sizeof(ws->detail));
}

static void ws_free(tw_ws_t *ws) {
  if (ws->ctx)
    wslay_event_context_free(ws->ctx);
  tw_buf_free(&ws->hs);
  tw_buf_free(&ws->out);
  free(ws);
}

/* When wslay closed the connection on its own, the code it sent says why. */
static void settle_wslay_close(tw_ws_t *ws) {
  int sent;
  if (!ws->wslay_closed || ws->have_outcome || !ws->ctx)
    return;
  sent = wslay_event_get_close_sent(ws->ctx)
             ? wslay_event_get_status_code_sent(ws->ctx)
             : TW_WS_CLOSE_ABNORMAL;
  switch (sent) {
  case TW_WS_CLOSE_TOO_BIG:
    outcome(ws, TW_ETOOBIG, sent, 0, NULL, 0,
            "message larger than the limit; closed with 1009");
    break;
  case TW_WS_CLOSE_INVALID_DATA:
    outcome(ws, TW_EPROTO, sent, 0, NULL, 0,
            "text message is not valid UTF-8; closed with 1007");
    break;
  default:
    outcome(ws, TW_EPROTO, sent, 0, NULL, 0,
            "peer broke the WebSocket protocol; closed with 1002");
    break;
  }
}

static void maybe_final(tw_ws_t *ws) {
  tw_ws_close_info_t info;
  if (!ws->stream_closed || !ws->timer_closed)
    return;
  settle_wslay_close(ws);
  if (!ws->have_outcome)
    outcome(ws, TW_ECLOSED, TW_WS_CLOSE_ABNORMAL, 1, NULL, 0,
            "connection closed");
  if (!ws->silent && ws->cb.on_close) {
    memset(&info, 0, sizeof(info));
    info.err = ws->err;
    info.code = ws->code;
    info.reason = ws->reason;
    info.by_peer = ws->by_peer;
    info.opened = ws->opened;
    info.http_status = ws->http_status;
    info.location = ws->location;
    info.detail = ws->detail;
    ws->cb.on_close(ws, &info, ws->ud);
  }
  ws_free(ws);
}

static void on_timer_closed(uv_handle_t *h) {
  tw_ws_t *ws = h->data;
  ws->timer_closed = 1;
  maybe_final(ws);
}

/* Ends the connection: `graceful` flushes what is queued (our close frame,
 * a refusal response) before closing. */
static void teardown(tw_ws_t *ws, int graceful) {
  if (ws->state == WS_DONE)
    return;
  ws->state = WS_DONE;
  uv_timer_stop(&ws->timer);
  if (ws->stream) {
    if (graceful)
      tw_stream_end(ws->stream);
    else
      tw_stream_close(ws->stream);
  }
}

/* ---- wslay callbacks ---- */

static ssize_t wsl_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                        int flags, void *ud) {
  tw_ws_t *ws = ud;
  size_t n;
  (void)flags;
  if (ws->rx_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  n = len < ws->rx_len ? len : ws->rx_len;
  memcpy(buf, ws->rx, n);
  ws->rx += n;
  ws->rx_len -= n;
  return (ssize_t)n;
}

/* Hands the gathered frame bytes to the stream. The room was checked when
 * they were gathered, so this cannot hit the cap. */
static int flush_out(tw_ws_t *ws) {
  int r;
  if (ws->out.len == 0 || !ws->stream)
    return 0;
  r = tw_stream_write(ws->stream, ws->out.data, ws->out.len);
  if (r == 0)
    tw_buf_reset(&ws->out);
  return r;
}

static ssize_t wsl_send(wslay_event_context_ptr ctx, const uint8_t *data,
                        size_t len, int flags, void *ud) {
  tw_ws_t *ws = ud;
  size_t room, n;
  if (!ws->stream) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  room = tw_stream_write_room(ws->stream);
  /* What is gathered already counts against the stream's room. */
  room = room > ws->out.len ? room - ws->out.len : 0;
  if (room > ws->out.cap - ws->out.len)
    room = ws->out.cap - ws->out.len;
  if (room == 0) {
    if (flush_out(ws) != 0) {
      wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    room = tw_stream_write_room(ws->stream);
    if (room > ws->out.cap)
      room = ws->out.cap;
    if (room == 0) {
      wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
  }
  n = len < room ? len : room;
  if (tw_buf_append(&ws->out, data, n) != 0 ||
      (!(flags & WSLAY_MSG_MORE) && flush_out(ws) != 0)) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)n;
}

static int wsl_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       void *ud) {
  (void)ud;
  if (RAND_bytes(buf, (int)len) != 1) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return 0;
}

static void wsl_on_msg(wslay_event_context_ptr ctx,
                       const struct wslay_event_on_msg_recv_arg *arg,
                       void *ud) {
  tw_ws_t *ws = ud;
  (void)ctx;
  switch (arg->opcode) {
  case WSLAY_TEXT_FRAME:
  case WSLAY_BINARY_FRAME:
    if (!ws->user_closed && ws->state == WS_OPEN && ws->cb.on_message)
      ws->cb.on_message(ws, (const char *)arg->msg, arg->msg_length,
                        arg->opcode == WSLAY_BINARY_FRAME, ws->ud);
    break;
  case WSLAY_PING:
    if (ws->cb.on_ping && ws->state == WS_OPEN)
      ws->cb.on_ping(ws, (const char *)arg->msg, arg->msg_length, ws->ud);
    break;
  case WSLAY_PONG:
    if (!ws->user_closed && ws->state == WS_OPEN && ws->cb.on_pong)
      ws->cb.on_pong(ws, (const char *)arg->msg, arg->msg_length, ws->ud);
    break;
  case WSLAY_CONNECTION_CLOSE:
    /* When we spoke first this is the peer's answer and our own code stays
     * the outcome; otherwise the peer's code and reason are what the caller
     * needs (4003 "session_welcome timeout"...). wslay echoes it. */
    if (!ws->user_closed) {
      const char *reason = NULL;
      size_t rlen = 0;
      if (arg->msg_length > 2) {
        reason = (const char *)arg->msg + 2;
        rlen = arg->msg_length - 2;
      }
      outcome(ws, 0,
              arg->status_code ? arg->status_code : TW_WS_CLOSE_NO_STATUS, 1,
              reason, rlen, "closed by peer");
    }
    if (ws->state == WS_OPEN) {
      ws->state = WS_CLOSING;
      /* Our echo may wait behind a full queue; bound that wait. */
      uv_timer_start(&ws->timer, on_timer, TW_WS_CLOSE_TIMEOUT_MS, 0);
    }
    break;
  default:
    break;
  }
}

static int make_ctx(tw_ws_t *ws) {
  struct wslay_event_callbacks cbs;
  int r;
  memset(&cbs, 0, sizeof(cbs));
  cbs.recv_callback = wsl_recv;
  cbs.send_callback = wsl_send;
  cbs.genmask_callback = wsl_genmask;
  cbs.on_msg_recv_callback = wsl_on_msg;
  r = ws->server ? wslay_event_context_server_init(&ws->ctx, &cbs, ws)
                 : wslay_event_context_client_init(&ws->ctx, &cbs, ws);
  if (r != 0)
    return TW_ENOMEM;
  wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_message);
  return 0;
}

/* ---- I/O pumping ---- */

/* Sends what wslay has queued and decides whether the connection is over. */
static void after_io(tw_ws_t *ws) {
  wslay_event_context_ptr c = ws->ctx;
  if (!c || !ws->stream || ws->state == WS_DONE || ws->in_recv)
    return;
  /* wslay_event_send() returns after any partial write, and ours are
   * partial every TW_WS_OUT_CHUNK bytes: call again while bytes move. */
  while (wslay_event_want_write(c)) {
    size_t before = tw_stream_queued(ws->stream) + ws->out.len;
    if (wslay_event_send(c) != 0 || flush_out(ws) != 0) {
      outcome(ws, TW_EIO, TW_WS_CLOSE_ABNORMAL, 0, NULL, 0,
              "cannot write to the connection");
      teardown(ws, 0);
      return;
    }
    if (!ws->stream || tw_stream_queued(ws->stream) + ws->out.len == before)
      break; /* the stream is full; on_drain resumes */
  }
  if (flush_out(ws) != 0) {
    outcome(ws, TW_EIO, TW_WS_CLOSE_ABNORMAL, 0, NULL, 0,
            "cannot write to the connection");
    teardown(ws, 0);
    return;
  }
  if (!wslay_event_get_close_sent(c))
    return;
  /* Our close frame is in the stream's queue. The connection is over when
   * the peer's close came too, or when wslay stopped reading (it closed on
   * an error and will not wait for an answer). Otherwise the close timer
   * bounds the wait. */
  if (wslay_event_get_close_received(c) || !wslay_event_get_read_enabled(c))
    teardown(ws, 1);
}

static void feed(tw_ws_t *ws, const char *data, size_t len) {
  int r;
  if (!ws->ctx || (ws->state != WS_OPEN && ws->state != WS_CLOSING))
    return;
  ws->rx = (const uint8_t *)data;
  ws->rx_len = len;
  ws->in_recv = 1;
  r = wslay_event_recv(ws->ctx);
  ws->in_recv = 0;
  ws->rx_len = 0;
  if (ws->state == WS_DONE)
    return;
  if (r != 0) {
    outcome(ws, r == WSLAY_ERR_NOMEM ? TW_ENOMEM : TW_EPROTO,
            TW_WS_CLOSE_ABNORMAL, 0, NULL, 0, "WebSocket receive failed");
    teardown(ws, 0);
    return;
  }
  /* wslay answers every ping; while our queue cannot drain those answers
   * pile up, and only a misbehaving peer makes them pile up this far. */
  if (wslay_event_get_queued_msg_count(ws->ctx) > 2 * TW_MAX_WS_QUEUED_MSGS) {
    outcome(ws, TW_EFULL, TW_WS_CLOSE_ABNORMAL, 0, NULL, 0,
            "peer sends pings faster than they can be answered");
    teardown(ws, 0);
    return;
  }
  /* Reading stopped without a close from the peer or from us: wslay found
   * an error and queued a close of its own. */
  if (!wslay_event_get_read_enabled(ws->ctx) &&
      !wslay_event_get_close_received(ws->ctx) && !ws->user_closed &&
      !ws->wslay_closed) {
    ws->wslay_closed = 1;
    ws->state = WS_CLOSING;
    uv_timer_start(&ws->timer, on_timer, TW_WS_CLOSE_TIMEOUT_MS, 0);
  }
  after_io(ws);
}

/* ---- handshake ---- */

static void fail_handshake(tw_ws_t *ws, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_handshake(tw_ws_t *ws, int err, const char *fmt, ...) {
  char d[TW_MAX_STREAM_DETAIL];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d, sizeof(d), fmt, ap);
  va_end(ap);
  outcome(ws, err, TW_WS_CLOSE_ABNORMAL, 0, NULL, 0, d);
  tw_debug(MOD, "%s", d);
  teardown(ws, 0);
}

static void opened(tw_ws_t *ws, const char *rest, size_t rest_len) {
  ws->state = WS_OPEN;
  ws->opened = 1;
  uv_timer_stop(&ws->timer);
  if (ws->cb.on_open)
    ws->cb.on_open(ws, ws->ud);
  /* Frames may follow the head in the same read (a welcome message sent
   * right after 101). */
  if (rest_len && ws->state == WS_OPEN)
    feed(ws, rest, rest_len);
  else
    after_io(ws);
}

static void client_head(tw_ws_t *ws, const char *head, size_t hlen,
                        const char *rest, size_t rest_len) {
  const char *v;
  size_t vlen;
  int st = tw__http_status(head, hlen);
  if (st < 0) {
    fail_handshake(ws, TW_EPROTO, "upgrade response is not HTTP");
    return;
  }
  if (st != 101) {
    ws->http_status = st;
    if (tw__http_header(head, hlen, "Location", &v, &vlen)) {
      if (vlen > TW_MAX_WS_URL)
        vlen = TW_MAX_WS_URL;
      memcpy(ws->location, v, vlen);
      ws->location[vlen] = '\0';
    }
    fail_handshake(ws, TW_EHTTP, "upgrade refused: HTTP %d%s%.200s", st,
                   ws->location[0] ? ", Location: " : "", ws->location);
    return;
  }
  if (!tw__http_header(head, hlen, "Upgrade", &v, &vlen) ||
      !tw__http_list_has(v, vlen, "websocket")) {
    fail_handshake(ws, TW_EPROTO, "101 response without Upgrade: websocket");
    return;
  }
  if (!tw__http_header(head, hlen, "Connection", &v, &vlen) ||
      !tw__http_list_has(v, vlen, "upgrade")) {
    fail_handshake(ws, TW_EPROTO, "101 response without Connection: Upgrade");
    return;
  }
  if (!tw__http_header(head, hlen, "Sec-WebSocket-Accept", &v, &vlen) ||
      vlen != 28 || memcmp(v, ws->accept, 28) != 0) {
    fail_handshake(ws, TW_EPROTO,
                   "Sec-WebSocket-Accept missing or wrong (expected %s)",
                   ws->accept);
    return;
  }
  /* We offered no extension; a server that picks one anyway would frame
   * messages we cannot read (RFC 6455 4.1). */
  if (tw__http_header(head, hlen, "Sec-WebSocket-Extensions", &v, &vlen) &&
      vlen > 0) {
    fail_handshake(ws, TW_EPROTO, "server chose an extension we did not offer");
    return;
  }
  opened(ws, rest, rest_len);
}

static void server_refuse(tw_ws_t *ws, int status, int err, const char *why,
                          const char *extra) {
  char resp[512 + TW_MAX_WS_EXTRA_HEADERS];
  int n =
      snprintf(resp, sizeof(resp),
               "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n"
               "Connection: close\r\n%s%s\r\n",
               status, tw__http_reason(status), extra ? extra : "", ws->extra);
  ws->http_status = status;
  if (n > 0 && (size_t)n < sizeof(resp))
    tw_stream_write(ws->stream, resp, (size_t)n);
  outcome(ws, err, TW_WS_CLOSE_ABNORMAL, 0, NULL, 0, why);
  tw_debug(MOD, "refused upgrade with %d: %s", status, why);
  teardown(ws, 1);
}

static void server_head(tw_ws_t *ws, const char *head, size_t hlen,
                        const char *rest, size_t rest_len) {
  char method[16], resp[256 + TW_MAX_WS_EXTRA_HEADERS];
  char host[TW_WS_HOST_HDR];
  const char *v, *headers;
  size_t vlen;
  tw_ws_request_t req;
  int st, n;

  st = tw__http_request_line(head, hlen, method, sizeof(method), ws->path,
                             sizeof(ws->path));
  if (st == TW_ETOOBIG) {
    server_refuse(ws, 414, TW_EPROTO, "request target too long", NULL);
    return;
  }
  if (st != 0) {
    server_refuse(ws, 400, TW_EPROTO, "malformed request line", NULL);
    return;
  }
  if (strcmp(method, "GET") != 0) {
    server_refuse(ws, 405, TW_EPROTO, "upgrade must use GET", "Allow: GET\r\n");
    return;
  }
  host[0] = '\0';
  if (!tw__http_header(head, hlen, "Host", &v, &vlen) || vlen == 0 ||
      vlen >= sizeof(host)) {
    server_refuse(ws, 400, TW_EPROTO, "missing or bad Host header", NULL);
    return;
  }
  memcpy(host, v, vlen);
  host[vlen] = '\0';
  if (!tw__http_header(head, hlen, "Upgrade", &v, &vlen) ||
      !tw__http_list_has(v, vlen, "websocket")) {
    server_refuse(ws, 400, TW_EPROTO, "missing Upgrade: websocket", NULL);
    return;
  }
  if (!tw__http_header(head, hlen, "Connection", &v, &vlen) ||
      !tw__http_list_has(v, vlen, "upgrade")) {
    server_refuse(ws, 400, TW_EPROTO, "missing Connection: Upgrade", NULL);
    return;
  }
  if (!tw__http_header(head, hlen, "Sec-WebSocket-Version", &v, &vlen) ||
      vlen != 2 || memcmp(v, "13", 2) != 0) {
    server_refuse(ws, 426, TW_EPROTO, "unsupported Sec-WebSocket-Version",
                  "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  if (!tw__http_header(head, hlen, "Sec-WebSocket-Key", &v, &vlen) ||
      !tw__ws_key_valid(v, vlen)) {
    server_refuse(ws, 400, TW_EPROTO, "missing or bad Sec-WebSocket-Key", NULL);
    return;
  }
  memcpy(ws->key, v, 24);
  ws->key[24] = '\0';
  if (tw_ws_accept_key(ws->key, ws->accept) != 0) {
    server_refuse(ws, 500, TW_ETLS, "cannot compute Sec-WebSocket-Accept",
                  NULL);
    return;
  }
  headers = memchr(head, '\n', hlen);
  headers = headers ? headers + 1 : head + hlen;
  req.method = method;
  req.path = ws->path;
  req.host = host;
  req.headers = headers;
  st = ws->cb.on_request ? ws->cb.on_request(ws, &req, ws->ud) : 0;
  if (ws->state == WS_DONE)
    return; /* aborted from on_request */
  if (st != 0) {
    if (st < 300 || st > 599)
      st = 500;
    server_refuse(ws, st, TW_EHTTP, "upgrade refused by the application", NULL);
    return;
  }
  n = snprintf(resp, sizeof(resp),
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
               ws->accept, ws->extra);
  if (n < 0 || (size_t)n >= sizeof(resp) ||
      tw_stream_write(ws->stream, resp, (size_t)n) != 0) {
    fail_handshake(ws, TW_EIO, "cannot write the 101 response");
    return;
  }
  opened(ws, rest, rest_len);
}

/* Collects the HTTP head. Only the head counts against TW_MAX_WS_HANDSHAKE:
 * frames may follow it in the same read (a server that sends right after
 * its 101), and those go to wslay, however many there are. */
static void handshake_bytes(tw_ws_t *ws, const char *data, size_t len) {
  size_t room = ws->hs.cap - ws->hs.len;
  size_t take = len < room ? len : room;
  size_t scan_from = ws->hs.len > 3 ? ws->hs.len - 3 : 0;
  size_t hlen, extra;
  int r = tw_buf_append(&ws->hs, data, take);
  if (r != 0) {
    fail_handshake(ws, r, "out of memory");
    return;
  }
  hlen = tw__http_head_len(ws->hs.data + scan_from, ws->hs.len - scan_from);
  if (hlen == 0) {
    if (take < len || ws->hs.len == ws->hs.cap) {
      if (ws->server)
        server_refuse(ws, 431, TW_ETOOBIG, "upgrade request too large", NULL);
      else
        fail_handshake(ws, TW_ETOOBIG,
                       "upgrade response head larger than %u bytes",
                       TW_MAX_WS_HANDSHAKE);
    }
    return;
  }
  hlen += scan_from;
  /* Bytes after the head: the part copied into `hs`, then the part of
   * `data` that was not copied. The head stays in `hs` while it is parsed;
   * nothing appends to it once the state has left WS_HANDSHAKE. */
  extra = ws->hs.len - hlen;
  if (ws->server)
    server_head(ws, ws->hs.data, hlen, ws->hs.data + hlen, extra);
  else
    client_head(ws, ws->hs.data, hlen, ws->hs.data + hlen, extra);
  if (take < len && (ws->state == WS_OPEN || ws->state == WS_CLOSING))
    feed(ws, data + take, len - take);
  tw_buf_free(&ws->hs);
}

/* ---- stream callbacks ---- */

static void st_connect(tw_stream_t *s, void *ud) {
  tw_ws_t *ws = ud;
  char req[512 + TW_MAX_WS_PATH + TW_MAX_WS_EXTRA_HEADERS];
  int n;
  (void)s;
  if (ws->server || ws->state != WS_CONNECTING)
    return;
  n = snprintf(req, sizeof(req),
               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n%s\r\n",
               ws->path, ws->host_hdr, ws->key, ws->extra);
  ws->state = WS_HANDSHAKE;
  if (n < 0 || (size_t)n >= sizeof(req) ||
      tw_stream_write(ws->stream, req, (size_t)n) != 0)
    fail_handshake(ws, TW_EIO, "cannot write the upgrade request");
}

static void st_read(tw_stream_t *s, const char *data, size_t len, void *ud) {
  tw_ws_t *ws = ud;
  (void)s;
  if (ws->state == WS_HANDSHAKE)
    handshake_bytes(ws, data, len);
  else
    feed(ws, data, len);
}

static void st_drain(tw_stream_t *s, void *ud) {
  (void)s;
  after_io(ud);
}

static void st_error(tw_stream_t *s, int err, const char *detail, void *ud) {
  tw_ws_t *ws = ud;
  (void)s;
  settle_wslay_close(ws);
  /* After a complete close handshake a hang-up is the expected end. */
  if (ws->ctx && wslay_event_get_close_received(ws->ctx) &&
      wslay_event_get_close_sent(ws->ctx))
    return;
  if (ws->state == WS_OPEN || ws->state == WS_CLOSING)
    outcome(ws, err, TW_WS_CLOSE_ABNORMAL, 1, NULL, 0,
            err == TW_ECLOSED ? "connection closed without a close frame"
                              : detail);
  else
    outcome(ws, err, TW_WS_CLOSE_ABNORMAL, err == TW_ECLOSED, NULL, 0, detail);
}

static void st_close(tw_stream_t *s, void *ud) {
  tw_ws_t *ws = ud;
  (void)s;
  ws->stream = NULL;
  ws->stream_closed = 1;
  ws->state = WS_DONE;
  if (!uv_is_closing((uv_handle_t *)&ws->timer)) {
    uv_timer_stop(&ws->timer);
    uv_close((uv_handle_t *)&ws->timer, on_timer_closed);
  }
}

static const tw_stream_cb_t STREAM_CB = {st_connect, st_read, st_drain,
                                         st_error, st_close};

static void on_timer(uv_timer_t *t) {
  tw_ws_t *ws = t->data;
  if (ws->state == WS_CONNECTING || ws->state == WS_HANDSHAKE) {
    fail_handshake(ws, TW_ETIMEDOUT, "WebSocket upgrade timed out after %u ms",
                   ws->open_timeout_ms);
  } else if (ws->state == WS_CLOSING) {
    /* The peer never answered our close: give up waiting. */
    if (ws->have_outcome && ws->err == 0 && !ws->by_peer)
      tw__strlcpy(ws->detail, "peer did not answer the close frame",
                  sizeof(ws->detail));
    teardown(ws, 0);
  }
}

/* ---- construction ---- */

static tw_ws_t *ws_alloc(uv_loop_t *loop, const tw_ws_cb_t *cb, void *ud,
                         size_t max_message, unsigned open_timeout_ms) {
  tw_ws_t *ws = calloc(1, sizeof(*ws));
  if (!ws)
    return NULL;
  ws->loop = loop;
  if (cb)
    ws->cb = *cb;
  ws->ud = ud;
  ws->max_message = max_message ? max_message : TW_MAX_WS_MESSAGE;
  if (ws->max_message > TW_MAX_WS_MESSAGE_LIMIT)
    ws->max_message = TW_MAX_WS_MESSAGE_LIMIT;
  ws->open_timeout_ms =
      open_timeout_ms ? open_timeout_ms : TW_WS_OPEN_TIMEOUT_MS;
  tw_buf_init(&ws->hs, TW_MAX_WS_HANDSHAKE);
  tw_buf_init(&ws->out, TW_WS_OUT_CHUNK);
  if (uv_timer_init(loop, &ws->timer) != 0) {
    free(ws);
    return NULL;
  }
  ws->timer.data = ws;
  return ws;
}

/* Tears down a handle that never reached the caller. */
static void silent_destroy(tw_ws_t *ws) {
  ws->silent = 1;
  ws->state = WS_DONE;
  if (ws->stream) {
    tw_stream_close(ws->stream); /* st_close closes the timer */
  } else {
    ws->stream_closed = 1;
    uv_close((uv_handle_t *)&ws->timer, on_timer_closed);
  }
}

int tw_ws_connect(uv_loop_t *loop, const char *url,
                  const tw_ws_connect_opts_t *opts, const tw_ws_cb_t *cb,
                  void *ud, tw_ws_t **out) {
  tw_ws_url_t u;
  tw_stream_connect_opts_t so;
  tw_ws_t *ws;
  int r;

  if (!out)
    return TW_EINVAL;
  *out = NULL;
  if (!loop || !url)
    return TW_EINVAL;
  r = tw_ws_url_parse(url, &u);
  if (r != 0)
    return r == TW_ETOOBIG ? TW_EINVAL : r;
  if (u.tls && (!opts || !opts->tls || tw_tls_ctx_is_server(opts->tls)))
    return TW_EINVAL;
  if (opts && opts->extra_headers) {
    if (strlen(opts->extra_headers) > TW_MAX_WS_EXTRA_HEADERS ||
        tw__http_check_header_lines(opts->extra_headers) != 0)
      return TW_EINVAL;
  }
  if (opts && opts->max_message > TW_MAX_WS_MESSAGE_LIMIT)
    return TW_EINVAL;
  ws = ws_alloc(loop, cb, ud, opts ? opts->max_message : 0,
                opts ? opts->open_timeout_ms : 0);
  if (!ws)
    return TW_ENOMEM;
  ws->server = 0;
  ws->state = WS_CONNECTING;
  memcpy(ws->path, u.path, sizeof(ws->path));
  if (opts && opts->extra_headers)
    tw__strlcpy(ws->extra, opts->extra_headers, sizeof(ws->extra));
  {
    int v6 = strchr(u.host, ':') != NULL;
    int dflt = u.port == (u.tls ? 443 : 80);
    char port[8] = "";
    if (!dflt)
      snprintf(port, sizeof(port), ":%u", (unsigned)u.port);
    snprintf(ws->host_hdr, sizeof(ws->host_hdr), "%s%s%s%s", v6 ? "[" : "",
             u.host, v6 ? "]" : "", port);
  }
  r = tw__ws_new_key(ws->key);
  if (r == 0)
    r = tw_ws_accept_key(ws->key, ws->accept);
  if (r == 0)
    r = make_ctx(ws);
  if (r == 0)
    r = tw_stream_new(loop, &STREAM_CB, ws, &ws->stream);
  if (r == 0) {
    memset(&so, 0, sizeof(so));
    so.tls = u.tls ? opts->tls : NULL;
    so.verify_host = opts ? opts->verify_host : NULL;
    so.timeout_ms = ws->open_timeout_ms;
    r = tw_stream_connect(ws->stream, u.host, u.port, &so);
  }
  if (r != 0) {
    silent_destroy(ws);
    return r;
  }
  uv_timer_start(&ws->timer, on_timer, ws->open_timeout_ms, 0);
  tw_debug(MOD, "connecting to %s://%s%s", u.tls ? "wss" : "ws", ws->host_hdr,
           ws->path);
  *out = ws;
  return 0;
}

int tw_ws_accept(tw_stream_t *s, const tw_ws_server_opts_t *opts,
                 const tw_ws_cb_t *cb, void *ud, tw_ws_t **out) {
  tw_ws_t *ws;
  if (out)
    *out = NULL;
  if (!s)
    return TW_EINVAL;
  if (!out || (opts && opts->max_message > TW_MAX_WS_MESSAGE_LIMIT)) {
    tw_stream_close(s);
    return TW_EINVAL;
  }
  ws = ws_alloc(tw__stream_loop(s), cb, ud, opts ? opts->max_message : 0,
                opts ? opts->open_timeout_ms : 0);
  if (!ws) {
    tw_stream_close(s);
    return TW_ENOMEM;
  }
  ws->server = 1;
  ws->stream = s;
  ws->state = WS_HANDSHAKE;
  tw_stream_set_callbacks(s, &STREAM_CB, ws);
  if (make_ctx(ws) != 0) {
    silent_destroy(ws);
    return TW_ENOMEM;
  }
  uv_timer_start(&ws->timer, on_timer, ws->open_timeout_ms, 0);
  *out = ws;
  return 0;
}

/* ---- message API ---- */

static int can_send(const tw_ws_t *ws) {
  return ws && ws->state == WS_OPEN && !ws->user_closed && ws->ctx &&
         !wslay_event_get_close_received(ws->ctx);
}

static int queue_msg(tw_ws_t *ws, uint8_t opcode, const void *data,
                     size_t len) {
  struct wslay_event_msg m;
  int r;
  if (!can_send(ws))
    return TW_ESTATE;
  if (!data && len)
    return TW_EINVAL;
  if (wslay_event_get_queued_msg_count(ws->ctx) >= TW_MAX_WS_QUEUED_MSGS)
    return TW_EFULL;
  if (opcode == WSLAY_PING) {
    if (len > TW_MAX_WS_PING)
      return TW_EINVAL;
  } else {
    if (len > ws->max_message)
      return TW_ETOOBIG;
    if (wslay_event_get_queued_msg_length(ws->ctx) + len > TW_MAX_WS_WQUEUE)
      return TW_EFULL;
  }
  m.opcode = opcode;
  m.msg = data;
  m.msg_length = len;
  r = wslay_event_queue_msg(ws->ctx, &m);
  if (r == WSLAY_ERR_NO_MORE_MSG)
    return TW_ESTATE;
  if (r == WSLAY_ERR_NOMEM)
    return TW_ENOMEM;
  if (r != 0)
    return TW_EINVAL;
  after_io(ws);
  return 0;
}

int tw_ws_send_text(tw_ws_t *ws, const char *data, size_t len) {
  return queue_msg(ws, WSLAY_TEXT_FRAME, data, len);
}

int tw_ws_send_binary(tw_ws_t *ws, const void *data, size_t len) {
  return queue_msg(ws, WSLAY_BINARY_FRAME, data, len);
}

int tw_ws_ping(tw_ws_t *ws, const void *data, size_t len) {
  return queue_msg(ws, WSLAY_PING, data, len);
}

static int close_code_ok(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

int tw_ws_close(tw_ws_t *ws, int code, const char *reason) {
  size_t rlen = reason ? strlen(reason) : 0;
  int r;
  if (!ws)
    return TW_EINVAL;
  if (!close_code_ok(code) || rlen > TW_MAX_WS_REASON)
    return TW_EINVAL;
  switch (ws->state) {
  case WS_CONNECTING:
  case WS_HANDSHAKE:
    outcome(ws, TW_ECANCELED, TW_WS_CLOSE_ABNORMAL, 0, NULL, 0,
            "closed before the connection opened");
    teardown(ws, 0);
    return 0;
  case WS_OPEN:
    break;
  default:
    return TW_ESTATE;
  }
  r = wslay_event_queue_close(ws->ctx, (uint16_t)code, (const uint8_t *)reason,
                              rlen);
  if (r == WSLAY_ERR_NO_MORE_MSG)
    return TW_ESTATE;
  if (r != 0)
    return r == WSLAY_ERR_NOMEM ? TW_ENOMEM : TW_EINVAL;
  ws->user_closed = 1;
  ws->state = WS_CLOSING;
  outcome(ws, 0, code, 0, reason, rlen, "closed by us");
  uv_timer_stop(&ws->timer);
  uv_timer_start(&ws->timer, on_timer, TW_WS_CLOSE_TIMEOUT_MS, 0);
  after_io(ws);
  return 0;
}

void tw_ws_abort(tw_ws_t *ws) {
  if (!ws || ws->state == WS_DONE)
    return;
  outcome(ws, TW_ECANCELED, TW_WS_CLOSE_ABNORMAL, 0, NULL, 0,
          "connection aborted");
  teardown(ws, 0);
}

int tw_ws_set_response_headers(tw_ws_t *ws, const char *headers) {
  if (!ws || !headers)
    return TW_EINVAL;
  if (strlen(headers) > TW_MAX_WS_EXTRA_HEADERS)
    return TW_ETOOBIG;
  if (tw__http_check_header_lines(headers) != 0)
    return TW_EINVAL;
  tw__strlcpy(ws->extra, headers, sizeof(ws->extra));
  return 0;
}

size_t tw_ws_queued(const tw_ws_t *ws) {
  if (!ws)
    return 0;
  return (ws->ctx ? wslay_event_get_queued_msg_length(ws->ctx) : 0) +
         (ws->stream ? tw_stream_queued(ws->stream) : 0);
}

int tw_ws_is_open(const tw_ws_t *ws) {
  return can_send(ws);
}

const char *tw_ws_path(const tw_ws_t *ws) {
  return ws ? ws->path : "";
}

tw_stream_t *tw_ws_stream(tw_ws_t *ws) {
  return ws ? ws->stream : NULL;
}
