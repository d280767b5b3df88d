/* tw_chat_t over its three transports against a small scripted peer on
 * 127.0.0.1 (plain TCP, TLS with a generated CA, and WebSocket over TLS):
 * how bytes become lines whatever the chunking (lines cut across reads,
 * several lines per read or per WebSocket message, a message without a
 * final CRLF, over-long lines), connection errors reported with their
 * type, reconnection after a drop, and a clean asynchronous close. The
 * protocol behaviour itself is tested in test_chat_session*.c, and the
 * client against the Twitch simulator in test_chat_client.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/chat.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/log.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"
#include "twitchd/ws.h"

#include "net_test.h"

enum { P_PLAIN = 0, P_TLS, P_WSS };

#define MAX_PEER_CONNS 16
#define MAX_LINES 256

typedef struct peer peer_t;

typedef struct {
  peer_t *p;
  tw_stream_t *s;
  tw_ws_t *ws;
  tw_irc_splitter_t *split;
  int closed;
  char lines[MAX_LINES][512];
  size_t nlines;
} pconn_t;

struct peer {
  int kind;
  uv_loop_t *loop;
  tw_listener_t *l;
  tw_tls_ctx_t *tls;
  pconn_t conns[MAX_PEER_CONNS];
  size_t nconns;
  int listener_closed;
  int answer_login; /* reply to NICK with the welcome */
};

static void pc_send(pconn_t *c, const char *data) {
  int err;
  if (c->closed)
    return;
  if (c->ws)
    err = tw_ws_send_text(c->ws, data, strlen(data));
  else
    err = tw_stream_write(c->s, data, strlen(data));
  assert_int_equal(err, 0);
}

static void pc_line(void *ud, const char *line, size_t len, int err) {
  pconn_t *c = ud;
  char buf[256];
  assert_int_equal(err, 0);
  if (len >= sizeof(buf))
    len = sizeof(buf) - 1;
  memcpy(buf, line, len);
  buf[len] = '\0';
  if (c->nlines < MAX_LINES)
    snprintf(c->lines[c->nlines++], sizeof(c->lines[0]), "%s", buf);
  if (strncmp(buf, "NICK ", 5) == 0 && c->p->answer_login) {
    /* The welcome in one write: several lines per read (or per WebSocket
     * message), as Twitch sends it. */
    char w[4096];
    snprintf(w, sizeof(w),
             ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands "
             "twitch.tv/membership\r\n"
             ":tmi.twitch.tv 001 %s :Welcome, GLHF!\r\n"
             ":tmi.twitch.tv 376 %s :>\r\n"
             "@badge-info=;badges=;color=;display-name=%s;emote-sets=0;user-"
             "id=5;user-type= :tmi.twitch.tv GLOBALUSERSTATE\r\n",
             buf + 5, buf + 5, buf + 5);
    pc_send(c, w);
  } else if (strncmp(buf, "JOIN #", 6) == 0) {
    char w[4096];
    const char *ch = buf + 6;
    snprintf(w, sizeof(w),
             ":bot!bot@bot.tmi.twitch.tv JOIN #%s\r\n"
             "@badge-info=;badges=;color=;display-name=bot;emote-sets=0;mod=0;"
             "subscriber=0;user-type= :tmi.twitch.tv USERSTATE #%s\r\n"
             "@emote-only=0;followers-only=-1;r9k=0;room-id=9;slow=0;subs-"
             "only=0 :tmi.twitch.tv ROOMSTATE #%s\r\n",
             ch, ch, ch);
    pc_send(c, w);
  }
}

static void pc_bytes(pconn_t *c, const char *data, size_t len) {
  tw_irc_splitter_feed(c->split, data, len, pc_line, c);
}

static void ps_read(tw_stream_t *s, const char *d, size_t n, void *ud) {
  (void)s;
  pc_bytes(ud, d, n);
}

static void ps_close(tw_stream_t *s, void *ud) {
  pconn_t *c = ud;
  (void)s;
  c->closed = 1;
  c->s = NULL;
}

static void pw_msg(tw_ws_t *ws, const char *d, size_t n, int bin, void *ud) {
  (void)ws;
  (void)bin;
  pc_bytes(ud, d, n);
}

static void pw_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  pconn_t *c = ud;
  (void)ws;
  (void)info;
  c->closed = 1;
  c->ws = NULL;
}

static void p_accept(tw_listener_t *l, tw_stream_t *s, void *ud) {
  peer_t *p = ud;
  pconn_t *c;
  (void)l;
  assert_true(p->nconns < MAX_PEER_CONNS);
  c = &p->conns[p->nconns++];
  memset(c, 0, sizeof(*c));
  c->p = p;
  c->split = tw_irc_splitter_new(0, 0);
  assert_non_null(c->split);
  if (p->kind == P_WSS) {
    tw_ws_cb_t cb = {NULL, pw_msg, NULL, NULL, NULL, pw_close};
    assert_int_equal(tw_ws_accept(s, NULL, &cb, c, &c->ws), 0);
  } else {
    tw_stream_cb_t cb = {NULL, ps_read, NULL, NULL, ps_close};
    c->s = s;
    tw_stream_set_callbacks(s, &cb, c);
  }
}

static void p_start(peer_t *p, uv_loop_t *loop, int kind,
                    const tw_test_pki_t *pki) {
  char detail[256];
  memset(p, 0, sizeof(*p));
  p->kind = kind;
  p->loop = loop;
  p->answer_login = 1;
  if (kind != P_PLAIN)
    assert_int_equal(
        tw_tls_server_new(pki->cert, pki->key, &p->tls, detail, sizeof(detail)),
        0);
  assert_int_equal(
      tw_listener_new(loop, "127.0.0.1", 0, p->tls, p_accept, p, &p->l), 0);
}

static void p_listener_closed(void *ud) {
  ((peer_t *)ud)->listener_closed = 1;
}

static void p_stop(peer_t *p) {
  for (size_t i = 0; i < p->nconns; i++) {
    pconn_t *c = &p->conns[i];
    if (!c->closed) {
      if (c->ws)
        tw_ws_abort(c->ws);
      else if (c->s)
        tw_stream_close(c->s);
    }
  }
  if (p->l)
    tw_listener_close(p->l, p_listener_closed, p);
  p->l = NULL;
  tw_tls_ctx_free(p->tls);
  p->tls = NULL;
}

static void p_free(peer_t *p) {
  for (size_t i = 0; i < p->nconns; i++)
    tw_irc_splitter_free(p->conns[i].split);
}

static size_t p_count(const pconn_t *c, const char *prefix) {
  size_t n = 0;
  for (size_t i = 0; i < c->nlines; i++)
    if (strncmp(c->lines[i], prefix, strlen(prefix)) == 0)
      n++;
  return n;
}

/* ---- the client side ------------------------------------------------- */

typedef struct {
  uv_loop_t loop;
  tw_test_pki_t pki;
  peer_t peer;
  tw_chat_t *chat;
  tw_event_t *ev[MAX_LINES];
  size_t nev;
  int statuses[16];
  int last_err[16];
  int closed_cb;
  int free_in_closed;
} fx_t;

static void c_event(tw_chat_t *chat, tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  (void)chat;
  assert_true(fx->nev < MAX_LINES);
  fx->ev[fx->nev++] = ev;
}

static void c_status(tw_chat_t *chat, const tw_chat_status_t *st, void *ud) {
  fx_t *fx = ud;
  (void)chat;
  fx->statuses[st->kind]++;
  fx->last_err[st->kind] = st->err;
}

static void c_closed(tw_chat_t *chat, void *ud) {
  fx_t *fx = ud;
  fx->closed_cb++;
  if (fx->free_in_closed) {
    tw_chat_free(chat);
    fx->chat = NULL;
  }
}

static void fx_setup(fx_t *fx, int kind) {
  memset(fx, 0, sizeof(*fx));
  tw_test_log_from_env();
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  assert_int_equal(tw_test_pki_make(&fx->pki, 0), 0);
  p_start(&fx->peer, &fx->loop, kind, &fx->pki);
}

static void fx_opts(fx_t *fx, tw_chat_opts_t *o, char *url, size_t cap,
                    const char *const *chans, size_t nchans) {
  static const char *const scheme[] = {"irc", "ircs", "wss"};
  tw_chat_opts_default(o);
  snprintf(url, cap, "%s://127.0.0.1:%u", scheme[fx->peer.kind],
           tw_listener_port(fx->peer.l));
  o->url = url;
  o->ca_file = fx->pki.ca;
  o->login = "bot";
  o->token = "transporttoken";
  o->channels = chans;
  o->nchannels = nchans;
  o->backoff_base_ms = 20;
  o->backoff_cap_ms = 40;
}

static void fx_new_chat(fx_t *fx, const tw_chat_opts_t *o) {
  tw_chat_cb_t cb = {c_event, NULL, c_status, NULL, c_closed};
  assert_int_equal(tw_chat_new(&fx->loop, o, &cb, fx, &fx->chat), 0);
}

static int is_ready_joined(void *arg) {
  fx_t *fx = arg;
  return tw_chat_is_ready(fx->chat) && tw_chat_is_joined(fx->chat, "room");
}

static int has_events(void *arg) {
  fx_t *fx = arg;
  return fx->nev >= 3;
}

static int closed_cb(void *arg) {
  return ((fx_t *)arg)->closed_cb > 0;
}

static void fx_teardown(fx_t *fx) {
  if (fx->chat) {
    tw_chat_close(fx->chat);
    assert_true(tw_test_run_until(&fx->loop, closed_cb, fx, 10000));
    tw_chat_free(fx->chat);
    fx->chat = NULL;
  }
  p_stop(&fx->peer);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  p_free(&fx->peer);
  for (size_t i = 0; i < fx->nev; i++)
    tw_event_free(fx->ev[i]);
  tw_test_pki_remove(&fx->pki);
}

static pconn_t *last_conn(fx_t *fx) {
  assert_true(fx->peer.nconns > 0);
  return &fx->peer.conns[fx->peer.nconns - 1];
}

static int peer_got_privmsg(void *arg) {
  fx_t *fx = arg;
  return fx->peer.nconns > 0 && p_count(last_conn(fx), "PRIVMSG #room") > 0;
}

/* Login, join, chunked lines in and a message out, on each transport. */
static void run_roundtrip(int kind) {
  static const char *const chans[] = {"room"};
  fx_t fx;
  tw_chat_opts_t o;
  char url[128];
  pconn_t *pc;
  tw_chat_stats_t st;
  char big[TW_MAX_IRC_LINE + 100];

  fx_setup(&fx, kind);
  fx_opts(&fx, &o, url, sizeof(url), chans, 1);
  fx_new_chat(&fx, &o);
  assert_int_equal(tw_chat_start(fx.chat), 0);
  assert_true(tw_test_run_until(&fx.loop, is_ready_joined, &fx, 10000));
  pc = last_conn(&fx);
  /* The login arrived in order. */
  assert_true(pc->nlines >= 4);
  assert_string_equal(pc->lines[0], "CAP REQ :twitch.tv/tags "
                                    "twitch.tv/commands twitch.tv/membership");
  assert_string_equal(pc->lines[1], "PASS oauth:transporttoken");
  assert_string_equal(pc->lines[2], "NICK bot");
  assert_string_equal(pc->lines[3], "JOIN #room");

  /* An over-long line is skipped; a line cut in two writes is joined (for
   * a WebSocket, each message ends its lines: one message holds both). */
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  memcpy(big, "PING :", 6);
  if (kind == P_WSS) {
    pc_send(pc, big);
    pc_send(pc, "@id=a1;user-id=1 :u!u@u.tmi.twitch.tv PRIVMSG #room :one\r\n"
                "@id=a2;user-id=1 :u!u@u.tmi.twitch.tv PRIVMSG #room :two");
    pc_send(pc,
            "@id=a3;user-id=1 :u!u@u.tmi.twitch.tv PRIVMSG #room :three\r\n");
  } else {
    pc_send(pc, big);
    pc_send(pc, "\r\n");
    pc_send(pc, "@id=a1;user-id=1 :u!u@u.tmi.twitch.tv PRIVMSG #room :one\r\n"
                "@id=a2;user-id=1 :u!u@u.tmi.twitch.tv PRI");
    pc_send(pc, "VMSG #room :two\r\n@id=a3;user-id=1 :u!u@u.tmi.twitch.tv "
                "PRIVMSG #room :three\r\n");
  }
  assert_true(tw_test_run_until(&fx.loop, has_events, &fx, 10000));
  assert_int_equal(fx.nev, 3);
  assert_string_equal(fx.ev[0]->u.message.text, "one");
  assert_string_equal(fx.ev[1]->u.message.text, "two");
  assert_string_equal(fx.ev[2]->u.message.text, "three");
  assert_string_equal(fx.ev[2]->target, "#room");
  tw_chat_stats(fx.chat, &st);
  assert_int_equal(st.lines_malformed, 1);
  assert_int_equal(st.events_delivered, 3);
  assert_true(st.bytes_received > sizeof(big));

  /* Sending. */
  assert_int_equal(
      tw_chat_say(fx.chat, "#room", "hello\r\nPRIVMSG #x :no", NULL, false), 0);
  assert_true(tw_test_run_until(&fx.loop, peer_got_privmsg, &fx, 10000));
  assert_int_equal(p_count(pc, "PRIVMSG #room :hello  PRIVMSG #x :no"), 1);
  assert_int_equal(p_count(pc, "PRIVMSG #x"), 0);

  /* Free from inside on_closed. */
  fx.free_in_closed = 1;
  tw_chat_close(fx.chat);
  tw_chat_close(fx.chat); /* twice is harmless */
  assert_int_equal(tw_chat_say(fx.chat, "room", "late", NULL, false),
                   TW_ESTATE);
  assert_true(tw_test_run_until(&fx.loop, closed_cb, &fx, 10000));
  assert_null(fx.chat);
  assert_int_equal(fx.statuses[TW_CHAT_STATUS_STOPPED], 1);
  fx_teardown(&fx);
}

static void test_roundtrip_irc(void **state) {
  (void)state;
  run_roundtrip(P_PLAIN);
}
static void test_roundtrip_ircs(void **state) {
  (void)state;
  run_roundtrip(P_TLS);
}
static void test_roundtrip_wss(void **state) {
  (void)state;
  run_roundtrip(P_WSS);
}

static int two_logins(void *arg) {
  fx_t *fx = arg;
  tw_chat_stats_t st;
  tw_chat_stats(fx->chat, &st);
  return st.logins >= 2 && tw_chat_is_joined(fx->chat, "room");
}

/* The peer drops the connection: the client reconnects, logs in and
 * rejoins. */
static void run_drop(int kind) {
  static const char *const chans[] = {"room"};
  fx_t fx;
  tw_chat_opts_t o;
  char url[128];
  pconn_t *pc;
  tw_chat_stats_t st;
  fx_setup(&fx, kind);
  fx_opts(&fx, &o, url, sizeof(url), chans, 1);
  fx_new_chat(&fx, &o);
  assert_int_equal(tw_chat_start(fx.chat), 0);
  assert_true(tw_test_run_until(&fx.loop, is_ready_joined, &fx, 10000));
  pc = last_conn(&fx);
  if (pc->ws)
    tw_ws_abort(pc->ws);
  else
    tw_stream_close(pc->s);
  assert_true(tw_test_run_until(&fx.loop, two_logins, &fx, 10000));
  assert_int_equal(fx.statuses[TW_CHAT_STATUS_DISCONNECTED], 1);
  assert_int_equal(fx.peer.nconns, 2);
  assert_int_equal(p_count(last_conn(&fx), "JOIN #room"), 1);
  tw_chat_stats(fx.chat, &st);
  assert_int_equal(st.reconnects, 1);
  fx_teardown(&fx);
}

static void test_drop_irc(void **state) {
  (void)state;
  run_drop(P_PLAIN);
}
static void test_drop_wss(void **state) {
  (void)state;
  run_drop(P_WSS);
}

static int disconnected_twice(void *arg) {
  return ((fx_t *)arg)->statuses[TW_CHAT_STATUS_DISCONNECTED] >= 2;
}

/* A server whose certificate the client does not trust: TW_ECERT, and it
 * keeps retrying with backoff rather than giving up or spinning. */
static void run_untrusted(int kind) {
  fx_t fx;
  tw_chat_opts_t o;
  char url[128];
  fx_setup(&fx, kind);
  fx_opts(&fx, &o, url, sizeof(url), NULL, 0);
  o.ca_file = NULL;
  fx_new_chat(&fx, &o);
  assert_int_equal(tw_chat_start(fx.chat), 0);
  assert_true(tw_test_run_until(&fx.loop, disconnected_twice, &fx, 10000));
  assert_int_equal(fx.last_err[TW_CHAT_STATUS_DISCONNECTED], TW_ECERT);
  assert_int_equal(fx.statuses[TW_CHAT_STATUS_LOGGED_IN], 0);
  fx_teardown(&fx);
}

static void test_untrusted_ircs(void **state) {
  (void)state;
  run_untrusted(P_TLS);
}
static void test_untrusted_wss(void **state) {
  (void)state;
  run_untrusted(P_WSS);
}

static void test_refused(void **state) {
  fx_t fx;
  tw_chat_opts_t o;
  char url[128];
  uint16_t port;
  (void)state;
  fx_setup(&fx, P_PLAIN);
  port = tw_listener_port(fx.peer.l);
  p_stop(&fx.peer); /* nobody listens there any more */
  tw_chat_opts_default(&o);
  snprintf(url, sizeof(url), "irc://127.0.0.1:%u", port);
  o.url = url;
  o.backoff_base_ms = 20;
  o.backoff_cap_ms = 40;
  fx_new_chat(&fx, &o);
  assert_int_equal(tw_chat_start(fx.chat), 0);
  assert_int_equal(tw_chat_start(fx.chat), TW_ESTATE);
  assert_true(tw_test_run_until(&fx.loop, disconnected_twice, &fx, 10000));
  assert_int_equal(fx.last_err[TW_CHAT_STATUS_DISCONNECTED], TW_ECONNREFUSED);
  assert_non_null(strstr(tw_chat_detail(fx.chat), "closed"));
  fx_teardown(&fx);
}

static void test_bad_arguments(void **state) {
  uv_loop_t loop;
  tw_chat_opts_t o;
  tw_chat_t *c = NULL;
  (void)state;
  assert_int_equal(uv_loop_init(&loop), 0);
  tw_chat_opts_default(&o);
  o.url = "http://127.0.0.1:1";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), TW_EINVAL);
  assert_null(c);
  o.url = "ircs://127.0.0.1:99999";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), TW_EINVAL);
  o.url = "irc://:6667";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), TW_EINVAL);
  o.url = "irc://host:6667/path";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), TW_EINVAL);
  o.url = "ircs://127.0.0.1:6697";
  o.ca_file = "/nonexistent/ca.pem";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), TW_ECONFIG);
  o.ca_file = NULL;
  o.token = "has space";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), TW_EINVAL);
  /* Valid forms, freed without starting: nothing on the loop. */
  o.token = NULL;
  o.url = "wss://irc-ws.chat.twitch.tv:443";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), 0);
  tw_chat_free(c);
  o.url = "irc://[::1]:6667";
  assert_int_equal(tw_chat_new(&loop, &o, NULL, NULL, &c), 0);
  tw_chat_close(c); /* never started: closes at once */
  tw_chat_free(c);
  tw_chat_free(NULL);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_irc),
      cmocka_unit_test(test_roundtrip_ircs),
      cmocka_unit_test(test_roundtrip_wss),
      cmocka_unit_test(test_drop_irc),
      cmocka_unit_test(test_drop_wss),
      cmocka_unit_test(test_untrusted_ircs),
      cmocka_unit_test(test_untrusted_wss),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_bad_arguments),
  };
  tw_log_set_level(TW_LOG_OFF);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
