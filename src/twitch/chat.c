/* The chat client: the sans-IO session (chat_session.c) wired to libuv, TLS
 * streams and WebSockets. Everything this file decides is about IO: which
 * transport a URL means, turning bytes into lines, reporting connection
 * ends to the session exactly once and never from inside one of its calls,
 * one timer for all of the session's deadlines, and an asynchronous close.
 */
#include "twitchd/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitch/chat_session.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/log.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"
#include "twitchd/ws.h"

#define MOD "chat"

typedef enum { T_IRC = 0, T_IRCS, T_WS, T_WSS } scheme_t;
typedef enum { S_IDLE = 0, S_RUNNING, S_CLOSING, S_CLOSED } chat_state_t;

/* One transport connection. It lives from ops.open until its stream or
 * WebSocket has closed; `id` is the session's name for it, 0 once the
 * session has forgotten it (then nothing more is reported). */
typedef struct transport {
  struct transport *next;
  tw_chat_t *chat;
  uint64_t id;
  tw_stream_t *stream;
  tw_ws_t *ws;
  tw_irc_splitter_t *split;
  int err;   /* why it ended, for the report */
  bool dead; /* failed before a handle existed: reaped by the timer */
} transport_t;

struct tw_chat {
  uv_loop_t *loop;
  tw_chat_cb_t cb;
  void *ud;
  tw_chat_session_t *sess;
  chat_state_t state;

  scheme_t scheme;
  char url[TW_MAX_CHAT_URL + 1]; /* for WebSockets */
  char host[TW_MAX_HOST + 1];
  uint16_t port;
  uint32_t connect_timeout_ms;
  tw_tls_ctx_t *tls;
  char secret[TW_MAX_CHAT_TOKEN + 1]; /* registered with the log redaction */

  uv_timer_t timer;
  bool timer_init;
  bool timer_closed;
  transport_t *transports;

  bool in_closed_cb; /* on_closed is running */
  bool free_on_close;
  char detail[TW_MAX_CHAT_DETAIL];
};

static void rearm(tw_chat_t *c);
static void maybe_finish_close(tw_chat_t *c);

/* ---- URL --------------------------------------------------------------- */

/* Parses irc://host[:port][/] and ircs://host[:port][/]. */
static int parse_irc_url(const char *url, tw_chat_t *c) {
  const char *p, *host, *host_end, *port_s = NULL;
  size_t hlen;
  if (strncmp(url, "ircs://", 7) == 0) {
    c->scheme = T_IRCS;
    c->port = 6697;
    p = url + 7;
  } else {
    c->scheme = T_IRC;
    c->port = 6667;
    p = url + 6;
  }
  if (*p == '[') {
    host = p + 1;
    host_end = strchr(host, ']');
    if (!host_end)
      return TW_EINVAL;
    p = host_end + 1;
  } else {
    host = p;
    while (*p && *p != ':' && *p != '/')
      p++;
    host_end = p;
  }
  if (*p == ':') {
    char *end;
    unsigned long v;
    port_s = ++p;
    v = strtoul(port_s, &end, 10);
    if (end == port_s || v == 0 || v > 65535)
      return TW_EINVAL;
    c->port = (uint16_t)v;
    p = end;
  }
  if (*p == '/')
    p++;
  if (*p != '\0')
    return TW_EINVAL; /* IRC URLs here carry no path, user or query */
  hlen = (size_t)(host_end - host);
  if (hlen == 0)
    return TW_EINVAL;
  if (hlen > TW_MAX_HOST)
    return TW_ETOOBIG;
  memcpy(c->host, host, hlen);
  c->host[hlen] = '\0';
  return 0;
}

static int parse_url(const char *url, tw_chat_t *c) {
  size_t n = strlen(url);
  if (n > TW_MAX_CHAT_URL)
    return TW_ETOOBIG;
  memcpy(c->url, url, n + 1);
  if (strncmp(url, "irc://", 6) == 0 || strncmp(url, "ircs://", 7) == 0)
    return parse_irc_url(url, c);
  if (strncmp(url, "wss://", 6) == 0 || strncmp(url, "ws://", 5) == 0) {
    tw_ws_url_t u;
    int err = tw_ws_url_parse(url, &u);
    if (err)
      return err;
    c->scheme = u.tls ? T_WSS : T_WS;
    memcpy(c->host, u.host, sizeof(c->host));
    c->port = u.port;
    return 0;
  }
  return TW_EINVAL;
}

/* ---- transports ------------------------------------------------------ */

static uint64_t now_ms(const tw_chat_t *c) {
  return uv_now(c->loop);
}

static transport_t *find_transport(tw_chat_t *c, uint64_t id) {
  for (transport_t *t = c->transports; t; t = t->next)
    if (t->id == id)
      return t;
  return NULL;
}

static void unlink_transport(tw_chat_t *c, transport_t *t) {
  for (transport_t **pp = &c->transports; *pp; pp = &(*pp)->next) {
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  }
  tw_irc_splitter_free(t->split);
  free(t);
}

/* The transport is gone: tell the session (if it still cares) and free. */
static void transport_ended(transport_t *t) {
  tw_chat_t *c = t->chat;
  uint64_t id = t->id;
  int err = t->err ? t->err : TW_ECLOSED;
  unlink_transport(c, t);
  if (id != 0 && c->state == S_RUNNING)
    tw_chat_session_conn_closed(c->sess, id, err, now_ms(c));
  rearm(c);
  maybe_finish_close(c);
}

static void on_line(void *ud, const char *line, size_t len, int err) {
  transport_t *t = ud;
  tw_chat_t *c = t->chat;
  if (err) {
    /* Longer than any IRC line may be: skipped and counted. */
    tw_chat_session_count_malformed(c->sess, 1);
    return;
  }
  if (t->id == 0)
    return; /* the session let go of this connection mid-chunk */
  tw_chat_session_feed(c->sess, t->id, line, len, now_ms(c));
}

static void feed_bytes(transport_t *t, const char *data, size_t len,
                       bool whole_frame) {
  tw_chat_t *c = t->chat;
  if (t->id == 0 || c->state != S_RUNNING)
    return;
  tw_chat_session_count_bytes(c->sess, len);
  tw_irc_splitter_feed(t->split, data, len, on_line, t);
  /* A WebSocket message ends its last line even without CRLF (and ends
   * the discarding of an over-long one). */
  if (whole_frame)
    tw_irc_splitter_finish(t->split, on_line, t);
  rearm(c);
}

/* Stream callbacks (irc://, ircs://). */
static void st_on_connect(tw_stream_t *s, void *ud) {
  transport_t *t = ud;
  tw_chat_t *c = t->chat;
  (void)s;
  if (t->id == 0 || c->state != S_RUNNING)
    return;
  tw_chat_session_conn_up(c->sess, t->id, now_ms(c));
  rearm(c);
}

static void st_on_read(tw_stream_t *s, const char *data, size_t len, void *ud) {
  (void)s;
  feed_bytes(ud, data, len, false);
}

static void st_on_error(tw_stream_t *s, int err, const char *detail, void *ud) {
  transport_t *t = ud;
  (void)s;
  t->err = err;
  if (t->id != 0)
    tw_info(MOD, "connection %llu: %s", (unsigned long long)t->id,
            detail && detail[0] ? detail : tw_strerror(err));
}

static void st_on_close(tw_stream_t *s, void *ud) {
  transport_t *t = ud;
  (void)s;
  t->stream = NULL;
  transport_ended(t);
}

/* WebSocket callbacks (wss://, ws://). */
static void ws_on_open(tw_ws_t *ws, void *ud) {
  transport_t *t = ud;
  tw_chat_t *c = t->chat;
  (void)ws;
  if (t->id == 0 || c->state != S_RUNNING)
    return;
  tw_chat_session_conn_up(c->sess, t->id, now_ms(c));
  rearm(c);
}

static void ws_on_message(tw_ws_t *ws, const char *data, size_t len, int binary,
                          void *ud) {
  (void)ws;
  (void)binary; /* Twitch sends text; a binary frame is read the same way */
  feed_bytes(ud, data, len, true);
}

static void ws_on_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  transport_t *t = ud;
  (void)ws;
  t->ws = NULL;
  if (info->err)
    t->err = info->err;
  if (t->id != 0)
    tw_info(MOD, "connection %llu closed (WebSocket code %d): %s",
            (unsigned long long)t->id, info->code,
            info->detail && info->detail[0]
                ? info->detail
                : (info->err ? tw_strerror(info->err) : "closed by the peer"));
  transport_ended(t);
}

/* Closes a transport's handle; its close callback frees it. */
static void transport_close(transport_t *t, bool graceful) {
  if (t->stream) {
    if (graceful)
      tw_stream_end(t->stream);
    else
      tw_stream_close(t->stream);
  } else if (t->ws) {
    if (!graceful || tw_ws_close(t->ws, TW_WS_CLOSE_NORMAL, NULL) != 0)
      tw_ws_abort(t->ws);
  }
}

/* ---- session ops --------------------------------------------------------- */

static void op_open(void *ud, uint64_t id) {
  tw_chat_t *c = ud;
  transport_t *t = calloc(1, sizeof(*t));
  int err;

  if (!t) {
    /* Nothing to report through: the session's login timeout gives up on
     * this connection and tries again later. */
    tw_error(MOD, "out of memory opening a connection");
    return;
  }
  t->chat = c;
  t->id = id;
  t->next = c->transports;
  c->transports = t;
  t->split = tw_irc_splitter_new(TW_MAX_IRC_LINE, 0);
  if (!t->split) {
    err = TW_ENOMEM;
    goto fail;
  }
  if (c->scheme == T_IRC || c->scheme == T_IRCS) {
    tw_stream_cb_t cb = {st_on_connect, st_on_read, NULL, st_on_error,
                         st_on_close};
    tw_stream_connect_opts_t o = {c->scheme == T_IRCS ? c->tls : NULL, NULL,
                                  c->connect_timeout_ms};
    err = tw_stream_new(c->loop, &cb, t, &t->stream);
    if (err)
      goto fail;
    err = tw_stream_connect(t->stream, c->host, c->port, &o);
    if (err) {
      /* The stream reports its end through on_close, from the loop. */
      t->err = err;
      tw_stream_close(t->stream);
    }
    return;
  } else {
    tw_ws_cb_t cb = {ws_on_open, ws_on_message, NULL, NULL, NULL, ws_on_close};
    tw_ws_connect_opts_t o;
    memset(&o, 0, sizeof(o));
    o.tls = c->scheme == T_WSS ? c->tls : NULL;
    o.open_timeout_ms = c->connect_timeout_ms;
    o.max_message = TW_MAX_WS_MESSAGE;
    err = tw_ws_connect(c->loop, c->url, &o, &cb, t, &t->ws);
    if (err) {
      t->ws = NULL;
      goto fail;
    }
    return;
  }
fail:
  /* No handle to close: the timer reports the failure from the loop, since
   * the session must not hear of it from inside its own call. */
  t->err = err;
  t->dead = true;
  rearm(c);
}

static void op_close(void *ud, uint64_t id) {
  tw_chat_t *c = ud;
  transport_t *t = find_transport(c, id);
  if (!t)
    return;
  t->id = 0;
  if (t->dead)
    return; /* reaped by the timer */
  /* Leaving after a handover or on shutdown: let queued lines go out. */
  transport_close(t, true);
}

static void op_write(void *ud, uint64_t id, const char *data, size_t len) {
  tw_chat_t *c = ud;
  transport_t *t = find_transport(c, id);
  int err;
  if (!t || t->dead)
    return;
  if (t->stream)
    err = tw_stream_write(t->stream, data, len);
  else if (t->ws)
    err = tw_ws_send_text(t->ws, data, len);
  else
    return;
  if (err) {
    /* The peer does not read (or the connection is going): treat it as
     * lost. The close callback reports it, from the loop. */
    tw_warn(MOD, "connection %llu: write failed: %s", (unsigned long long)id,
            tw_strerror(err));
    t->err = err;
    transport_close(t, false);
  }
}

static void op_event(void *ud, tw_event_t *ev) {
  tw_chat_t *c = ud;
  if (c->cb.on_event)
    c->cb.on_event(c, ev, c->ud);
  else
    tw_event_free(ev);
}

static void op_notice(void *ud, const tw_chat_notice_t *n) {
  tw_chat_t *c = ud;
  if (c->cb.on_notice)
    c->cb.on_notice(c, n, c->ud);
}

static void op_status(void *ud, const tw_chat_status_t *st) {
  tw_chat_t *c = ud;
  if (st->err && st->detail && st->detail[0])
    snprintf(c->detail, sizeof(c->detail), "%s", st->detail);
  if (c->cb.on_status)
    c->cb.on_status(c, st, c->ud);
}

static void op_refresh(void *ud) {
  tw_chat_t *c = ud;
  if (c->cb.refresh_token)
    c->cb.refresh_token(c, c->ud);
}

/* ---- the timer ----------------------------------------------------------- */

static void on_timer(uv_timer_t *timer) {
  tw_chat_t *c = timer->data;
  /* Report transports that failed before they had a handle, one at a time
   * from the head: a report may open or drop other transports. */
  for (;;) {
    transport_t *t = c->transports;
    while (t && !t->dead)
      t = t->next;
    if (!t)
      break;
    transport_ended(t);
  }
  if (c->state == S_RUNNING)
    tw_chat_session_tick(c->sess, now_ms(c));
  rearm(c);
}

/* Arms the one timer for the session's next deadline. Called after every
 * entry into the session (reads are processed a chunk at a time, so this
 * runs once per chunk, not per line). */
static void rearm(tw_chat_t *c) {
  uint64_t d, now;
  bool reap = false;
  /* Only a running client has a live timer (closing closes it). */
  if (c->state != S_RUNNING)
    return;
  for (transport_t *t = c->transports; t; t = t->next)
    if (t->dead)
      reap = true;
  now = now_ms(c);
  d = reap ? now : tw_chat_session_deadline(c->sess);
  if (d == UINT64_MAX) {
    uv_timer_stop(&c->timer);
    return;
  }
  uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

/* ---- lifecycle ------------------------------------------------------------
 */

int tw_chat_new(uv_loop_t *loop, const tw_chat_opts_t *opts,
                const tw_chat_cb_t *cb, void *ud, tw_chat_t **out) {
  tw_chat_session_ops_t ops = {op_open,   op_close,  op_write,  op_event,
                               op_notice, op_status, op_refresh};
  char detail[TW_MAX_CHAT_DETAIL];
  tw_chat_t *c;
  int err;

  if (!loop || !opts || !out)
    return TW_EINVAL;
  *out = NULL;
  c = calloc(1, sizeof(*c));
  if (!c)
    return TW_ENOMEM;
  c->loop = loop;
  if (cb)
    c->cb = *cb;
  c->ud = ud;
  c->connect_timeout_ms = opts->login_timeout_ms;
  err = parse_url(opts->url ? opts->url : TW_CHAT_DEFAULT_URL, c);
  if (err) {
    tw_error(MOD, "bad chat URL (use wss://, ircs://, or irc:// and ws:// "
                  "for local tests)");
    goto fail;
  }
  err = tw_chat_session_new(opts, &ops, c, &c->sess, detail, sizeof(detail));
  if (err) {
    tw_error(MOD, "bad chat settings: %s", detail);
    goto fail;
  }
  if (c->scheme == T_IRCS || c->scheme == T_WSS) {
    tw_tls_client_opts_t to = {opts->ca_file, 0};
    err = tw_tls_client_new(&to, &c->tls, detail, sizeof(detail));
    if (err) {
      tw_error(MOD, "TLS setup for chat failed: %s", detail);
      goto fail;
    }
  }
  if (opts->token && opts->token[0]) {
    const char *tok = opts->token;
    if (strncmp(tok, "oauth:", 6) == 0)
      tok += 6;
    /* The session has validated the token; keep our copy for removing it
     * from the redaction list later. */
    snprintf(c->secret, sizeof(c->secret), "%s", tok);
    if (c->secret[0])
      tw_log_add_secret(c->secret);
  }
  *out = c;
  return 0;
fail:
  tw_chat_session_free(c->sess);
  tw_tls_ctx_free(c->tls);
  free(c);
  return err;
}

int tw_chat_start(tw_chat_t *c) {
  if (!c)
    return TW_EINVAL;
  if (c->state != S_IDLE)
    return TW_ESTATE;
  if (uv_timer_init(c->loop, &c->timer) != 0)
    return TW_EIO;
  c->timer.data = c;
  c->timer_init = true;
  c->state = S_RUNNING;
  tw_chat_session_start(c->sess, now_ms(c));
  rearm(c);
  return 0;
}

static void destroy(tw_chat_t *c) {
  if (c->secret[0])
    tw_log_remove_secret(c->secret);
  tw_chat_session_free(c->sess);
  tw_tls_ctx_free(c->tls);
  free(c);
}

/* Finishes the close once every handle is gone. */
static void maybe_finish_close(tw_chat_t *c) {
  if (c->state != S_CLOSING || c->transports || !c->timer_closed)
    return;
  c->state = S_CLOSED;
  if (c->cb.on_closed) {
    c->in_closed_cb = true;
    c->cb.on_closed(c, c->ud);
    c->in_closed_cb = false;
  }
  if (c->free_on_close)
    destroy(c);
}

static void on_timer_closed(uv_handle_t *h) {
  tw_chat_t *c = h->data;
  c->timer_closed = true;
  maybe_finish_close(c);
}

void tw_chat_close(tw_chat_t *c) {
  if (!c || c->state == S_CLOSING || c->state == S_CLOSED)
    return;
  if (c->state == S_IDLE) {
    /* Never started: nothing on the loop; on_closed still runs, from here,
     * since there is no handle whose close could call it later. */
    c->state = S_CLOSING;
    c->timer_closed = true;
    maybe_finish_close(c);
    return;
  }
  c->state = S_CLOSING;
  /* The session asks to close every connection and reports STOPPED. */
  tw_chat_session_stop(c->sess, 0, now_ms(c));
  for (transport_t *t = c->transports; t; t = t->next)
    if (!t->dead && t->id != 0) {
      t->id = 0;
      transport_close(t, true);
    }
  /* Transports that never got a handle have nothing to close. */
  for (transport_t *t = c->transports, *next; t; t = next) {
    next = t->next;
    if (t->dead)
      unlink_transport(c, t);
  }
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

void tw_chat_free(tw_chat_t *c) {
  if (!c)
    return;
  if (c->in_closed_cb) {
    c->free_on_close = true;
    return;
  }
  if (c->state == S_CLOSED || c->state == S_IDLE) {
    destroy(c);
    return;
  }
  c->free_on_close = true;
  tw_chat_close(c);
}

/* ---- operations -------------------------------------------------------- */

int tw_chat_say(tw_chat_t *c, const char *channel, const char *text,
                const char *reply_to, bool is_action) {
  int err;
  if (!c)
    return TW_EINVAL;
  if (c->state == S_CLOSING || c->state == S_CLOSED)
    return TW_ESTATE;
  err = tw_chat_session_say(c->sess, channel, text, reply_to, is_action,
                            now_ms(c));
  rearm(c);
  return err;
}

int tw_chat_join(tw_chat_t *c, const char *channel) {
  int err;
  if (!c)
    return TW_EINVAL;
  if (c->state == S_CLOSING || c->state == S_CLOSED)
    return TW_ESTATE;
  err = tw_chat_session_join(c->sess, channel, now_ms(c));
  rearm(c);
  return err;
}

int tw_chat_part(tw_chat_t *c, const char *channel) {
  int err;
  if (!c)
    return TW_EINVAL;
  if (c->state == S_CLOSING || c->state == S_CLOSED)
    return TW_ESTATE;
  err = tw_chat_session_part(c->sess, channel, now_ms(c));
  rearm(c);
  return err;
}

int tw_chat_set_token(tw_chat_t *c, const char *token) {
  int err;
  const char *tok;
  if (!c || !token)
    return TW_EINVAL;
  err = tw_chat_session_set_token(c->sess, token, now_ms(c));
  if (err)
    return err;
  tok = strncmp(token, "oauth:", 6) == 0 ? token + 6 : token;
  if (strcmp(tok, c->secret) != 0) {
    if (c->secret[0])
      tw_log_remove_secret(c->secret);
    snprintf(c->secret, sizeof(c->secret), "%s", tok);
    tw_log_add_secret(c->secret);
  }
  rearm(c);
  return 0;
}

void tw_chat_token_failed(tw_chat_t *c, int err) {
  if (!c)
    return;
  tw_chat_session_token_failed(c->sess, err, now_ms(c));
  rearm(c);
}

bool tw_chat_is_joined(const tw_chat_t *c, const char *channel) {
  return c && tw_chat_session_is_joined(c->sess, channel);
}

bool tw_chat_is_ready(const tw_chat_t *c) {
  return c && c->state == S_RUNNING && tw_chat_session_is_ready(c->sess);
}

void tw_chat_stats(const tw_chat_t *c, tw_chat_stats_t *out) {
  if (!c || !out)
    return;
  tw_chat_session_stats(c->sess, out);
}

const char *tw_chat_detail(const tw_chat_t *c) {
  return c ? c->detail : "";
}
