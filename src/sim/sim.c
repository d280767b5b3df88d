/* The simulator's IO glue: listeners for irc://, ircs://, wss:// (and a
 * plain ws:// that redirects like Twitch's), one transport per client
 * connection feeding the sans-IO core (sim_chat.c), timers, and the public
 * tw_sim_* API (twitchd/sim.h).
 *
 * Output path: the core queues lines per connection and calls wake(); the
 * glue collects woken connections and flushes them once per loop iteration
 * (a uv_idle_t), so that many lines queued in one go leave in a few large
 * writes, which TLS turns into full-size records. A connection whose
 * transport is full keeps its bytes in the core's queue (bounded by
 * max_output) until the stream drains; WebSocket connections, whose API
 * reports no drain, are retried from a short timer while they wait.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "sim/sim_api_int.h"
#include "sim/sim_internal.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define MOD "sim"
/* Largest single write handed to a stream; OpenSSL cuts it into 16 KiB
 * records. */
#define FLUSH_CHUNK (256u * 1024u)
/* WebSocket: lines batched into one text message, at most this many bytes. */
#define WS_BATCH (64u * 1024u)
/* WebSocket: stop handing messages over while this much is queued. */
#define WS_HIGH (1024u * 1024u)
/* How often connections waiting for WebSocket send room are retried. */
#define WS_POLL_MS 2
/* Period of the keepalive timer. */
#define TICK_MS 100

struct sim_conn {
  tw_sim_t *sim;
  sim_conn_t *prev, *next;   /* sim->conns */
  sim_conn_t *pprev, *pnext; /* sim->pending */
  int in_pending;
  tw_simchat_conn_t *core;
  tw_stream_t *s;
  tw_ws_t *ws;
  tw_sim_transport_t transport;
  int redirect_only; /* the ws:// listener's connections */
  int ending;        /* the core asked for a close after flushing */
  int closed;        /* the transport is closing */
  int backlog;       /* WebSocket: waiting for send room */
};

/* ---- connection bookkeeping --------------------------------------------- */

static void conn_link(tw_sim_t *sim, sim_conn_t *c) {
  c->sim = sim;
  sim->nconns++;
  c->next = sim->conns;
  if (sim->conns)
    sim->conns->prev = c;
  sim->conns = c;
}

static void on_idle(uv_idle_t *h);
static void on_wspoll(uv_timer_t *t);

static void pending_add(sim_conn_t *c) {
  tw_sim_t *sim = c->sim;
  if (c->in_pending)
    return;
  c->in_pending = 1;
  c->pprev = NULL;
  c->pnext = sim->pending;
  if (sim->pending)
    sim->pending->pprev = c;
  sim->pending = c;
  if (!sim->closing)
    uv_idle_start(&sim->idle, on_idle);
}

static void pending_del(sim_conn_t *c) {
  tw_sim_t *sim = c->sim;
  if (!c->in_pending)
    return;
  if (c->pprev)
    c->pprev->pnext = c->pnext;
  else
    sim->pending = c->pnext;
  if (c->pnext)
    c->pnext->pprev = c->pprev;
  c->in_pending = 0;
  c->pprev = c->pnext = NULL;
}

static void backlog_set(sim_conn_t *c, int on) {
  tw_sim_t *sim = c->sim;
  if (c->backlog == on)
    return;
  c->backlog = on;
  if (on) {
    if (sim->nbacklog++ == 0 && !sim->closing)
      uv_timer_start(&sim->wspoll, on_wspoll, WS_POLL_MS, WS_POLL_MS);
  } else if (--sim->nbacklog == 0) {
    uv_timer_stop(&sim->wspoll);
  }
}

static void maybe_finish(tw_sim_t *sim);

/* The transport is gone: the core forgets the connection, we free ours. */
static void conn_gone(sim_conn_t *c) {
  tw_sim_t *sim = c->sim;
  pending_del(c);
  backlog_set(c, 0);
  if (c->core)
    tw__simchat_conn_free(c->core, tw_now_ms());
  if (c->prev)
    c->prev->next = c->next;
  else
    sim->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  sim->nconns--;
  free(c);
  if (sim->closing)
    maybe_finish(sim);
}

static void transport_close(sim_conn_t *c, int abrupt) {
  if (c->closed)
    return;
  c->closed = 1;
  pending_del(c);
  backlog_set(c, 0);
  if (c->s) {
    if (abrupt)
      tw_stream_close(c->s);
    else
      tw_stream_end(c->s);
  } else if (c->ws) {
    if (abrupt || tw_ws_close(c->ws, TW_WS_CLOSE_NORMAL, NULL) != 0)
      tw_ws_abort(c->ws);
  }
}

/* Hands queued output to the transport, as much as it takes. */
static void flush(sim_conn_t *c) {
  if (c->closed || !c->core)
    return;
  if (tw__simchat_conn_stalled(c->core)) {
    /* A stalled connection sends nothing; if the core wants it closed,
     * what it queued is lost, as with a real stuck server. */
    if (c->ending)
      transport_close(c, 0);
    return;
  }
  const char *p;
  size_t n = tw__simchat_out_peek(c->core, &p);
  if (c->s) {
    while (n) {
      size_t room = tw_stream_write_room(c->s);
      size_t k = n < room ? n : room;
      if (k > FLUSH_CHUNK)
        k = FLUSH_CHUNK;
      if (k == 0 || tw_stream_write(c->s, p, k) != 0)
        break; /* on_drain brings us back */
      tw__simchat_out_consume(c->core, k);
      n = tw__simchat_out_peek(c->core, &p);
    }
  } else if (c->ws) {
    while (n) {
      if (tw_ws_queued(c->ws) >= WS_HIGH) {
        backlog_set(c, 1);
        break;
      }
      size_t k;
      if (c->sim->o.ws_line_per_message) {
        const char *e = memchr(p, '\n', n);
        k = e ? (size_t)(e - p) + 1 : n;
      } else if (n <= WS_BATCH) {
        k = n;
      } else {
        /* Whole lines only: a message never ends inside a line. */
        const char *e = memrchr(p, '\n', WS_BATCH);
        if (!e)
          e = memchr(p, '\n', n);
        k = e ? (size_t)(e - p) + 1 : n;
      }
      int rc = tw_ws_send_text(c->ws, p, k);
      if (rc == TW_EFULL) {
        backlog_set(c, 1);
        break;
      }
      if (rc != 0) {
        transport_close(c, 1);
        return;
      }
      tw__simchat_out_consume(c->core, k);
      n = tw__simchat_out_peek(c->core, &p);
    }
    if (n == 0)
      backlog_set(c, 0);
  }
  if (c->ending && n == 0)
    transport_close(c, 0);
}

static void on_idle(uv_idle_t *h) {
  tw_sim_t *sim = h->data;
  /* Flushing may queue more (a flood refills): take the list as it is. */
  sim_conn_t *list = sim->pending;
  sim->pending = NULL;
  for (sim_conn_t *c = list; c; c = c->pnext)
    c->in_pending = 0;
  while (list) {
    sim_conn_t *c = list;
    list = c->pnext;
    c->pprev = c->pnext = NULL;
    flush(c);
  }
  tw__simchat_pump(sim->core, tw_now_ms());
  if (!sim->pending)
    uv_idle_stop(&sim->idle);
}

static void on_wspoll(uv_timer_t *t) {
  tw_sim_t *sim = t->data;
  for (sim_conn_t *c = sim->conns; c; c = c->next)
    if (c->backlog)
      pending_add(c);
}

static void on_tick(uv_timer_t *t) {
  tw_sim_t *sim = t->data;
  tw__simchat_tick(sim->core, tw_now_ms());
}

/* ---- the core's requests ------------------------------------------------ */

static void io_wake(void *ud, tw_simchat_conn_t *core) {
  (void)ud;
  sim_conn_t *c = tw__simchat_conn_ud(core);
  if (c)
    pending_add(c);
}

static void io_close(void *ud, tw_simchat_conn_t *core, int abrupt) {
  (void)ud;
  sim_conn_t *c = tw__simchat_conn_ud(core);
  if (!c)
    return;
  if (abrupt) {
    transport_close(c, 1);
  } else {
    c->ending = 1;
    pending_add(c);
  }
}

static void on_core_event(void *ud, const tw_sim_event_t *ev) {
  tw_sim_t *sim = ud;
  if (ev->kind == TW_SIM_EV_LINE || ev->kind == TW_SIM_EV_API)
    tw__sim_http_line(sim);
  if (sim->obs)
    sim->obs(sim->obs_ud, ev);
}

/* ---- IRC over TCP and TLS ----------------------------------------------- */

static void st_read(tw_stream_t *s, const char *data, size_t len, void *ud) {
  (void)s;
  sim_conn_t *c = ud;
  if (c->core && !c->closed)
    tw__simchat_feed(c->core, data, len, tw_now_ms());
}

static void st_drain(tw_stream_t *s, void *ud) {
  (void)s;
  sim_conn_t *c = ud;
  flush(c);
  tw__simchat_pump(c->sim->core, tw_now_ms());
}

static void st_error(tw_stream_t *s, int err, const char *detail, void *ud) {
  (void)s;
  sim_conn_t *c = ud;
  /* Peers hanging up is ordinary; only say more when debugging. */
  tw_debug(MOD, "connection %llu: %s (%s)",
           (unsigned long long)(c->core ? tw__simchat_conn_id(c->core) : 0),
           detail, tw_err_name(err));
}

static void st_close(tw_stream_t *s, void *ud) {
  (void)s;
  conn_gone(ud);
}

static const tw_stream_cb_t STREAM_CB = {NULL, st_read, st_drain, st_error,
                                         st_close};

static void on_accept_irc(tw_listener_t *l, tw_stream_t *s, void *ud) {
  tw_sim_t *sim = ud;
  if (sim->closing)
    return; /* left without callbacks: the listener closes it */
  sim_conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    return;
  c->transport = l == sim->l_irc ? TW_SIM_TRANSPORT_IRC : TW_SIM_TRANSPORT_IRCS;
  if (tw__simchat_conn_new(sim->core, c->transport, c, tw_now_ms(), &c->core) !=
      0) {
    /* Over max_conns (counted by the core): closed at once. */
    free(c);
    return;
  }
  c->s = s;
  conn_link(sim, c);
  tw_stream_set_callbacks(s, &STREAM_CB, c);
}

/* ---- IRC over WebSocket ------------------------------------------------- */

static void ws_open(tw_ws_t *ws, void *ud) {
  sim_conn_t *c = ud;
  tw_sim_t *sim = c->sim;
  if (sim->closing || tw__simchat_conn_new(sim->core, TW_SIM_TRANSPORT_WSS, c,
                                           tw_now_ms(), &c->core) != 0) {
    c->core = NULL;
    c->closed = 1;
    tw_ws_abort(ws);
  }
}

static void ws_message(tw_ws_t *ws, const char *data, size_t len, int binary,
                       void *ud) {
  (void)ws;
  (void)binary;
  sim_conn_t *c = ud;
  if (c->core && !c->closed)
    tw__simchat_feed_msg(c->core, data, len, tw_now_ms());
}

static void ws_closed(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  (void)ws;
  (void)info;
  conn_gone(ud);
}

static int ws_redirect(tw_ws_t *ws, const tw_ws_request_t *req, void *ud) {
  (void)req;
  sim_conn_t *c = ud;
  tw_sim_t *sim = c->sim;
  /* What Twitch's plain ws:// endpoint has answered since 2025-08-15. */
  char hdr[256];
  if (sim->port_wss) {
    snprintf(hdr, sizeof(hdr), "Location: wss://%s:%u/\r\n", sim->host,
             (unsigned)sim->port_wss);
    tw_ws_set_response_headers(ws, hdr);
  }
  return 301;
}

static const tw_ws_cb_t WS_CB = {ws_open, ws_message, NULL,
                                 NULL,    NULL,       ws_closed};
static const tw_ws_cb_t WS_REDIRECT_CB = {NULL, NULL,        NULL,
                                          NULL, ws_redirect, ws_closed};

static void on_accept_ws(tw_listener_t *l, tw_stream_t *s, void *ud) {
  tw_sim_t *sim = ud;
  if (sim->closing)
    return;
  /* Upgrades in progress are not in the core yet: bound them here, so that
   * clients that never finish the handshake cannot pile up. */
  if (sim->nconns >= tw__simchat_max_conns(sim->core)) {
    tw__simchat_count_refused(sim->core);
    return;
  }
  sim_conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    return;
  c->sim = sim;
  c->redirect_only = l == sim->l_ws;
  c->transport = TW_SIM_TRANSPORT_WSS;
  if (tw_ws_accept(s, NULL, c->redirect_only ? &WS_REDIRECT_CB : &WS_CB, c,
                   &c->ws) != 0) {
    free(c); /* tw_ws_accept closed the stream */
    return;
  }
  conn_link(sim, c);
}

/* ---- certificates ------------------------------------------------------- */

static int file_exists(const char *dir, const char *name) {
  char p[TW_SIM_MAX_PATH + 16];
  struct stat st;
  int n = snprintf(p, sizeof(p), "%s/%s", dir, name);
  return n > 0 && (size_t)n < sizeof(p) && stat(p, &st) == 0;
}

static void remove_temp_dir(tw_sim_t *sim) {
  static const char *const files[] = {TW_TLS_GEN_CA_FILE, TW_TLS_GEN_CERT_FILE,
                                      TW_TLS_GEN_KEY_FILE};
  char p[TW_SIM_MAX_PATH + 16];
  if (!sim->temp_dir)
    return;
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    int n = snprintf(p, sizeof(p), "%s/%s", sim->cert_dir, files[i]);
    if (n > 0 && (size_t)n < sizeof(p))
      unlink(p);
  }
  rmdir(sim->cert_dir);
  sim->temp_dir = 0;
}

static int setup_tls(tw_sim_t *sim, char *detail, size_t cap) {
  int rc;
  if (sim->o.cert_dir) {
    if ((size_t)snprintf(sim->cert_dir, sizeof(sim->cert_dir), "%s",
                         sim->o.cert_dir) >= sizeof(sim->cert_dir) - 16) {
      snprintf(detail, cap, "certificate directory path too long");
      return TW_EINVAL;
    }
  } else {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
      tmp = "/tmp";
    int n = snprintf(sim->cert_dir, sizeof(sim->cert_dir),
                     "%s/twitchd-sim-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof(sim->cert_dir) - 16) {
      snprintf(detail, cap, "TMPDIR path too long");
      return TW_EINVAL;
    }
    if (!mkdtemp(sim->cert_dir)) {
      snprintf(detail, cap, "cannot create a temporary directory: %s",
               strerror(errno));
      return TW_EIO;
    }
    sim->temp_dir = 1;
  }
  if (!file_exists(sim->cert_dir, TW_TLS_GEN_CERT_FILE)) {
    rc = tw_tls_gen_ca_and_cert(sim->cert_dir, NULL, 0, 0, detail, cap);
    if (rc != 0)
      return rc;
    tw_info(MOD, "generated a test CA and certificate in %s", sim->cert_dir);
  }
  sim->have_ca = file_exists(sim->cert_dir, TW_TLS_GEN_CA_FILE);
  snprintf(sim->ca_file, sizeof(sim->ca_file), "%s/%s", sim->cert_dir,
           TW_TLS_GEN_CA_FILE);
  char cert[TW_SIM_MAX_PATH + 16], key[TW_SIM_MAX_PATH + 16];
  snprintf(cert, sizeof(cert), "%s/%s", sim->cert_dir, TW_TLS_GEN_CERT_FILE);
  snprintf(key, sizeof(key), "%s/%s", sim->cert_dir, TW_TLS_GEN_KEY_FILE);
  return tw_tls_server_new(cert, key, &sim->tls, detail, cap);
}

/* ---- lifetime ----------------------------------------------------------- */

static void finish(tw_sim_t *sim) {
  void (*cb)(void *) = sim->close_cb;
  void *ud = sim->close_ud;
  tw__simes_free(sim);
  tw__simapi_free(sim->api);
  tw__simchat_free(sim->core);
  tw_tls_ctx_free(sim->tls);
  if (sim->api_key)
    memset(sim->api_key, 0, strlen(sim->api_key));
  free(sim->api_key);
  free(sim->api_cert);
  remove_temp_dir(sim);
  free(sim);
  if (cb)
    cb(ud);
}

static void maybe_finish(tw_sim_t *sim) {
  if (sim->closing && sim->handles_open == 0 && !sim->conns)
    finish(sim);
}

void tw__sim_handle_closed(tw_sim_t *sim) {
  sim->handles_open--;
  maybe_finish(sim);
}

static void on_handle_closed(uv_handle_t *h) {
  tw__sim_handle_closed(h->data);
}

static void on_listener_closed(void *ud) {
  tw__sim_handle_closed(ud);
}

static void close_listener(tw_sim_t *sim, tw_listener_t **l) {
  if (!*l)
    return;
  sim->handles_open++;
  tw_listener_close(*l, on_listener_closed, sim);
  *l = NULL;
}

void tw_sim_close(tw_sim_t *sim, void (*cb)(void *ud), void *ud) {
  if (!sim || sim->closing)
    return;
  sim->closing = 1;
  sim->close_cb = cb;
  sim->close_ud = ud;
  sim->obs = NULL;
  tw__simchat_set_observer(sim->core, NULL, NULL);
  tw__simchat_flood_cancel(sim->core);
  close_listener(sim, &sim->l_irc);
  close_listener(sim, &sim->l_ircs);
  close_listener(sim, &sim->l_wss);
  close_listener(sim, &sim->l_ws);
  tw__sim_http_close(sim);
  tw__sim_api_close(sim);
  tw__simes_close(sim);
  if (sim->api)
    tw__simapi_set_observer(sim->api, NULL, NULL);
  uv_handle_t *hs[] = {(uv_handle_t *)&sim->tick, (uv_handle_t *)&sim->idle,
                       (uv_handle_t *)&sim->wspoll, (uv_handle_t *)&sim->waitt};
  for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
    sim->handles_open++;
    uv_close(hs[i], on_handle_closed);
  }
  for (sim_conn_t *c = sim->conns; c; c = c->next) {
    if (c->s) {
      c->closed = 1;
      tw_stream_close(c->s);
    } else if (c->ws) {
      c->closed = 1;
      tw_ws_abort(c->ws);
    }
  }
}

static int listen_on(tw_sim_t *sim, unsigned which, uint16_t port,
                     tw_tls_ctx_t *tls, tw_listener_accept_cb cb,
                     tw_listener_t **out, uint16_t *bound, char *detail,
                     size_t cap) {
  if (!(sim->o.listeners & which))
    return 0;
  int rc = tw_listener_new(sim->loop, sim->host, port, tls, cb, sim, out);
  if (rc != 0) {
    snprintf(detail, cap, "cannot listen on %s port %u: %s", sim->host,
             (unsigned)port, tw_strerror(rc));
    return rc;
  }
  *bound = tw_listener_port(*out);
  return 0;
}

int tw_sim_new(uv_loop_t *loop, const tw_sim_opts_t *opts, tw_sim_t **out,
               char *detail, size_t detail_cap) {
  char dummy[1];
  if (!detail || detail_cap == 0) {
    detail = dummy;
    detail_cap = sizeof(dummy);
  }
  detail[0] = '\0';
  if (!loop || !out)
    return TW_EINVAL;
  *out = NULL;
  tw_sim_t *sim = calloc(1, sizeof(*sim));
  if (!sim)
    return TW_ENOMEM;
  sim->loop = loop;
  if (opts)
    sim->o = *opts;
  if (!sim->o.listeners)
    sim->o.listeners = TW_SIM_LISTEN_ALL;
  const char *host = sim->o.host ? sim->o.host : "127.0.0.1";
  if (strlen(host) >= sizeof(sim->host)) {
    free(sim);
    snprintf(detail, detail_cap, "host too long");
    return TW_EINVAL;
  }
  snprintf(sim->host, sizeof(sim->host), "%s", host);
  sim->o.host = NULL;
  sim->o.cert_dir = opts ? opts->cert_dir : NULL; /* used only below */
  uint64_t seed = sim->o.seed;
  if (!seed && RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
    seed = tw_wall_ms();
  tw_simchat_io_t io = {io_wake, io_close};
  uint64_t now = tw_now_ms();
  int rc = tw__simchat_new(&sim->o.chat, &io, sim, seed, now,
                           (int64_t)tw_wall_ms() - (int64_t)now, &sim->core);
  if (rc != 0) {
    free(sim);
    snprintf(detail, detail_cap, "invalid chat options");
    return rc;
  }
  tw__simchat_set_observer(sim->core, on_core_event, sim);
  rc = tw__simapi_new(sim->core, &sim->o.api, seed,
                      (int64_t)tw_wall_ms() - (int64_t)now, &sim->api);
  if (rc != 0) {
    tw__simchat_free(sim->core);
    free(sim);
    snprintf(detail, detail_cap, "invalid API options (consent_login?)");
    return rc;
  }
  sim->o.api.consent_login = NULL;
  tw__simapi_set_observer(sim->api, on_core_event, sim);
  uv_timer_init(loop, &sim->tick);
  uv_idle_init(loop, &sim->idle);
  uv_timer_init(loop, &sim->wspoll);
  uv_timer_init(loop, &sim->waitt);
  sim->tick.data = sim->idle.data = sim->wspoll.data = sim->waitt.data = sim;
  uv_timer_start(&sim->tick, on_tick, TICK_MS, TICK_MS);
  uv_unref((uv_handle_t *)&sim->tick);

  if (sim->o.listeners & (TW_SIM_LISTEN_IRCS | TW_SIM_LISTEN_WSS |
                          TW_SIM_LISTEN_API | TW_SIM_LISTEN_EVENTSUB)) {
    rc = setup_tls(sim, detail, detail_cap);
    if (rc != 0)
      goto fail;
  }
  if ((rc = listen_on(sim, TW_SIM_LISTEN_IRC, sim->o.irc_port, NULL,
                      on_accept_irc, &sim->l_irc, &sim->port_irc, detail,
                      detail_cap)) != 0 ||
      (rc = listen_on(sim, TW_SIM_LISTEN_IRCS, sim->o.ircs_port, sim->tls,
                      on_accept_irc, &sim->l_ircs, &sim->port_ircs, detail,
                      detail_cap)) != 0 ||
      (rc = listen_on(sim, TW_SIM_LISTEN_WSS, sim->o.wss_port, sim->tls,
                      on_accept_ws, &sim->l_wss, &sim->port_wss, detail,
                      detail_cap)) != 0 ||
      (rc = listen_on(sim, TW_SIM_LISTEN_WS, sim->o.ws_port, NULL, on_accept_ws,
                      &sim->l_ws, &sim->port_ws, detail, detail_cap)) != 0)
    goto fail;
  if (sim->o.listeners & TW_SIM_LISTEN_CONTROL) {
    rc = tw__sim_http_start(sim, detail, detail_cap);
    if (rc != 0)
      goto fail;
  }
  if (sim->o.listeners & TW_SIM_LISTEN_API) {
    rc = tw__sim_api_start(sim, detail, detail_cap);
    if (rc != 0)
      goto fail;
  }
  if (sim->o.listeners & TW_SIM_LISTEN_EVENTSUB) {
    rc = tw__simes_start(sim, detail, detail_cap);
    if (rc != 0)
      goto fail;
  }
  sim->o.cert_dir = NULL; /* borrowed from the caller: not kept */
  *out = sim;
  return 0;
fail:
  sim->o.cert_dir = NULL;
  /* Nobody is connected yet: closing frees everything from the loop. */
  tw_sim_close(sim, NULL, NULL);
  return rc;
}

/* ---- public API --------------------------------------------------------- */

uint16_t tw_sim_port(const tw_sim_t *sim, unsigned listener) {
  if (!sim)
    return 0;
  switch (listener) {
  case TW_SIM_LISTEN_IRC:
    return sim->port_irc;
  case TW_SIM_LISTEN_IRCS:
    return sim->port_ircs;
  case TW_SIM_LISTEN_WSS:
    return sim->port_wss;
  case TW_SIM_LISTEN_WS:
    return sim->port_ws;
  case TW_SIM_LISTEN_CONTROL:
    return sim->port_control;
  case TW_SIM_LISTEN_API:
    return sim->port_api;
  case TW_SIM_LISTEN_EVENTSUB:
    return sim->port_es;
  default:
    return 0;
  }
}

const char *tw_sim_ca_file(const tw_sim_t *sim) {
  return sim && sim->have_ca ? sim->ca_file : NULL;
}

static void describe_one(json_t *o, const char *key, const char *scheme,
                         const char *host, uint16_t port, const char *path) {
  char url[128], pk[32];
  if (!port)
    return;
  snprintf(url, sizeof(url), "%s://%s:%u%s", scheme, host, (unsigned)port,
           path);
  snprintf(pk, sizeof(pk), "%s_port", key);
  json_object_set_new(o, key, json_string(url));
  json_object_set_new(o, pk, json_integer(port));
}

int tw_sim_describe(const tw_sim_t *sim, char *out, size_t cap) {
  if (!sim || !out || cap == 0)
    return TW_EINVAL;
  json_t *o = json_object();
  if (!o)
    return TW_ENOMEM;
  describe_one(o, "irc", "irc", sim->host, sim->port_irc, "");
  describe_one(o, "ircs", "ircs", sim->host, sim->port_ircs, "");
  describe_one(o, "wss", "wss", sim->host, sim->port_wss, "/");
  describe_one(o, "ws", "ws", sim->host, sim->port_ws, "/");
  describe_one(o, "control", "http", sim->host, sim->port_control, "");
  describe_one(o, "eventsub", "wss", sim->host, sim->port_es, "/ws");
  if (sim->port_api) {
    char url[128];
    describe_one(o, "api", "https", sim->host, sim->port_api, "");
    snprintf(url, sizeof(url), "https://%s:%u/oauth2", sim->host,
             (unsigned)sim->port_api);
    json_object_set_new(o, "oauth", json_string(url));
    snprintf(url, sizeof(url), "https://%s:%u/helix", sim->host,
             (unsigned)sim->port_api);
    json_object_set_new(o, "helix", json_string(url));
    json_object_set_new(o, "client_id", json_string(TW_SIM_DEFAULT_CLIENT_ID));
    json_object_set_new(o, "client_secret",
                        json_string(TW_SIM_DEFAULT_CLIENT_SECRET));
    json_object_set_new(o, "consent_login",
                        json_string(tw__simapi_consent(sim->api)));
  }
  if (sim->have_ca)
    json_object_set_new(o, "ca_file", json_string(sim->ca_file));
  if (sim->tls)
    json_object_set_new(o, "cert_dir", json_string(sim->cert_dir));
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!s)
    return TW_ENOMEM;
  size_t n = strlen(s);
  int rc = 0;
  if (n + 1 > cap)
    rc = TW_ETOOBIG;
  else
    memcpy(out, s, n + 1);
  free(s);
  return rc;
}

void tw_sim_set_observer(tw_sim_t *sim, tw_sim_event_cb cb, void *ud) {
  if (!sim || sim->closing)
    return;
  sim->obs = cb;
  sim->obs_ud = ud;
}

int tw_sim_add_user(tw_sim_t *sim, const tw_sim_user_t *user) {
  return sim ? tw__simchat_add_user(sim->core, user) : TW_EINVAL;
}

int tw_sim_add_token(tw_sim_t *sim, const char *token, const char *login,
                     unsigned flags) {
  return sim ? tw__simchat_add_token(sim->core, token, login, flags)
             : TW_EINVAL;
}

int tw_sim_revoke_token(tw_sim_t *sim, const char *token) {
  return sim ? tw__simchat_revoke_token(sim->core, token) : TW_EINVAL;
}

int tw_sim_add_room(tw_sim_t *sim, const tw_sim_room_t *room) {
  return sim ? tw__simchat_add_room(sim->core, room) : TW_EINVAL;
}

int tw_sim_set_role(tw_sim_t *sim, const char *room, const char *login,
                    tw_sim_role_t role) {
  return sim ? tw__simchat_set_role(sim->core, room, login, role) : TW_EINVAL;
}

int tw_sim_inject_room(tw_sim_t *sim, const char *room, const char *line,
                       size_t len) {
  return sim ? tw__simchat_inject_room(sim->core, room, line, len, tw_now_ms())
             : TW_EINVAL;
}

int tw_sim_inject_conn(tw_sim_t *sim, uint64_t conn, const char *line,
                       size_t len) {
  return sim ? tw__simchat_inject_conn(sim->core, conn, line, len, tw_now_ms())
             : TW_EINVAL;
}

int tw_sim_say(tw_sim_t *sim, const char *room, const char *login,
               const char *text, const char *reply_to,
               char msg_id[TW_SIM_MSG_ID_SIZE]) {
  return sim ? tw__simchat_say(sim->core, room, login, text, reply_to, msg_id,
                               tw_now_ms())
             : TW_EINVAL;
}

int tw_sim_ping(tw_sim_t *sim, uint64_t conn) {
  return sim ? tw__simchat_ping(sim->core, conn, tw_now_ms()) : TW_EINVAL;
}

int tw_sim_reconnect(tw_sim_t *sim, uint64_t conn, uint32_t close_after_ms) {
  return sim ? tw__simchat_reconnect(sim->core, conn, close_after_ms,
                                     tw_now_ms())
             : TW_EINVAL;
}

int tw_sim_drop(tw_sim_t *sim, uint64_t conn) {
  return sim ? tw__simchat_drop(sim->core, conn) : TW_EINVAL;
}

int tw_sim_stall(tw_sim_t *sim, uint64_t conn, int stalled) {
  return sim ? tw__simchat_stall(sim->core, conn, stalled, tw_now_ms())
             : TW_EINVAL;
}

int tw__sim_read_lines_file(const char *path, char **out, size_t *len) {
  /* gzread() reads plain files unchanged, so one path serves both. */
  gzFile f = gzopen(path, "rb");
  if (!f)
    return errno == ENOENT ? TW_ENOTFOUND : TW_EIO;
  size_t cap = 1u << 20, n = 0;
  char *buf = malloc(cap);
  int rc = buf ? 0 : TW_ENOMEM;
  while (rc == 0) {
    if (n == cap) {
      if (cap >= TW_SIM_MAX_FLOOD_BYTES) {
        rc = TW_ETOOBIG;
        break;
      }
      cap *= 2;
      char *p = realloc(buf, cap);
      if (!p) {
        rc = TW_ENOMEM;
        break;
      }
      buf = p;
    }
    int k = gzread(f, buf + n, (unsigned)(cap - n));
    if (k < 0)
      rc = TW_EIO;
    else if (k == 0)
      break;
    else
      n += (size_t)k;
  }
  gzclose(f);
  if (rc == 0 && n > TW_SIM_MAX_FLOOD_BYTES)
    rc = TW_ETOOBIG;
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  *len = n;
  return 0;
}

int tw_sim_flood(tw_sim_t *sim, const tw_sim_flood_t *f) {
  if (!sim || !f || !f->room || (!f->file == !f->lines))
    return TW_EINVAL;
  char *buf = NULL;
  size_t len = 0;
  int rc;
  if (f->file) {
    rc = tw__sim_read_lines_file(f->file, &buf, &len);
    if (rc != 0)
      return rc;
  } else {
    for (size_t i = 0; i < f->nlines; i++) {
      if (!f->lines[i])
        return TW_EINVAL;
      len += strlen(f->lines[i]) + 1;
      if (len > TW_SIM_MAX_FLOOD_BYTES)
        return TW_ETOOBIG;
    }
    buf = malloc(len ? len : 1);
    if (!buf)
      return TW_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < f->nlines; i++) {
      size_t k = strlen(f->lines[i]);
      memcpy(buf + o, f->lines[i], k);
      o += k;
      buf[o++] = '\n';
    }
  }
  rc = tw__simchat_flood(sim->core, f->room, buf, len, f->count,
                         f->keep_channel, tw_now_ms());
  free(buf);
  return rc;
}

void tw_sim_flood_status(const tw_sim_t *sim, tw_sim_flood_status_t *out) {
  tw__simchat_flood_status(sim->core, out);
}

void tw_sim_flood_cancel(tw_sim_t *sim) {
  tw__simchat_flood_cancel(sim->core);
}

size_t tw_sim_sent_foreach(const tw_sim_t *sim, uint64_t conn,
                           const char *login, uint64_t since,
                           int (*cb)(void *ud, const tw_sim_sent_t *line),
                           void *ud) {
  return tw__simchat_sent_foreach(sim->core, conn, login, since, cb, ud);
}

uint64_t tw_sim_sent_last_seq(const tw_sim_t *sim) {
  return tw__simchat_sent_last_seq(sim->core);
}

void tw_sim_counters(const tw_sim_t *sim, tw_sim_counters_t *out) {
  tw__simchat_counters(sim->core, out);
}

int tw_sim_user_counters(const tw_sim_t *sim, const char *login,
                         tw_sim_user_counters_t *out) {
  return tw__simchat_user_counters(sim->core, login, out);
}

void tw_sim_counters_reset(tw_sim_t *sim) {
  tw__simchat_counters_reset(sim->core);
  tw__simapi_counters_reset(sim->api);
}

int tw_sim_conn_info(const tw_sim_t *sim, uint64_t conn,
                     tw_sim_conn_info_t *out) {
  return tw__simchat_conn_info(sim->core, conn, out);
}

size_t tw_sim_conns(const tw_sim_t *sim, uint64_t *ids, size_t max) {
  return tw__simchat_conns(sim->core, ids, max);
}

int tw_sim_conn_in_room(const tw_sim_t *sim, uint64_t conn, const char *room) {
  return tw__simchat_conn_in_room(sim->core, conn, room);
}

/* ---- OAuth and Helix ---------------------------------------------------- */

int tw_sim_add_token_ex(tw_sim_t *sim, const tw_sim_token_t *tok) {
  return sim ? tw__simapi_add_token(sim->api, tok, tw_now_ms()) : TW_EINVAL;
}

int tw_sim_token_info(const tw_sim_t *sim, const char *token,
                      tw_sim_token_info_t *out) {
  if (!sim || !token || !out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  uint64_t now = tw_now_ms();
  tw_simchat_token_view_t v;
  int rc = tw__simchat_token_get(sim->core, token, now, &v);
  if (rc != 0)
    return rc;
  snprintf(out->login, sizeof(out->login), "%s", v.login ? v.login : "");
  snprintf(out->user_id, sizeof(out->user_id), "%s",
           v.user_id ? v.user_id : "");
  snprintf(out->client_id, sizeof(out->client_id), "%s", v.client_id);
  size_t o = 0;
  for (size_t i = 0; i < v.scopes->n; i++) {
    int n = snprintf(out->scopes + o, sizeof(out->scopes) - o, "%s%s",
                     i ? " " : "", v.scopes->v[i]);
    if (n < 0 || (size_t)n >= sizeof(out->scopes) - o)
      break;
    o += (size_t)n;
  }
  out->app = v.login == NULL;
  out->revoked = v.revoked;
  out->expired = v.expired;
  out->expires_in_ms =
      v.expires_at == 0
          ? -1
          : (v.expires_at > now ? (int64_t)(v.expires_at - now) : 0);
  return 0;
}

int tw_sim_expire_token(tw_sim_t *sim, const char *token) {
  return sim ? tw__simchat_expire_token(sim->core, token, tw_now_ms())
             : TW_EINVAL;
}

int tw_sim_add_client(tw_sim_t *sim, const tw_sim_client_t *client) {
  return sim ? tw__simapi_add_client(sim->api, client) : TW_EINVAL;
}

int tw_sim_set_consent(tw_sim_t *sim, const char *login) {
  return sim ? tw__simapi_set_consent(sim->api, login) : TW_EINVAL;
}

int tw_sim_device_approve(tw_sim_t *sim, const char *code, const char *login,
                          int deny) {
  return sim ? tw__simapi_device_approve(sim->api, code, login, deny,
                                         tw_now_ms())
             : TW_EINVAL;
}

int tw_sim_api_force(tw_sim_t *sim, const char *path, unsigned status,
                     unsigned count, const char *message) {
  return sim ? tw__simapi_force(sim->api, path, status, count, message)
             : TW_EINVAL;
}

void tw_sim_api_force_clear(tw_sim_t *sim) {
  if (sim)
    tw__simapi_force_clear(sim->api);
}

size_t tw_sim_api_foreach(const tw_sim_t *sim, uint64_t since, const char *path,
                          int (*cb)(void *ud, const tw_sim_api_req_t *req),
                          void *ud) {
  return sim && cb ? tw__simapi_foreach(sim->api, since, path, cb, ud) : 0;
}

uint64_t tw_sim_api_last_seq(const tw_sim_t *sim) {
  return sim ? tw__simapi_last_seq(sim->api) : 0;
}

void tw_sim_api_counters(const tw_sim_t *sim, tw_sim_api_counters_t *out) {
  if (sim && out)
    tw__simapi_counters(sim->api, out);
}

int tw_sim_set_stream(tw_sim_t *sim, const char *room,
                      const tw_sim_stream_t *st) {
  if (!sim || !room)
    return TW_EINVAL;
  const char *r = room[0] == '#' ? room + 1 : room;
  tw_simhelix_chan_view_t before;
  int was_live =
      tw__simhelix_chan_view(sim->api, r, &before) == 0 && before.live;
  int rc = tw__simhelix_set_stream(sim->api, room, st, tw_now_ms());
  /* EventSub and Get Streams agree: a change of the live state is also a
   * stream.online / stream.offline notification. */
  if (rc == 0 && st && (st->live != 0) != was_live)
    tw__simes_stream_changed(sim, r, st->live != 0);
  return rc;
}
