/* tw_chat_t end to end against the Twitch simulator (twitchd/sim.h),
 * in-process on 127.0.0.1, over TLS (ircs://) and secure WebSocket (wss://)
 * with the simulator's generated CA: login and join, messages relayed as
 * events, a RECONNECT with no line lost or doubled, a dropped connection
 * and the backoff reconnect, a stalled socket found by our own PING, an
 * authentication failure healed by a refreshed token, a flood of 1,000
 * sends delivered in full with the simulator's over-limit counters at 0,
 * a long message split, and spoofing attempts through message text. Limits
 * and timeouts are shortened on both sides so that each test takes seconds;
 * tests wait on events, never on sleeps, and assert no durations. */
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
#include "twitchd/log.h"
#include "twitchd/sim.h"

#include "net_test.h"

#define ROOM "room"
#define BOT "bot"
#define TOKEN "goodtoken0001"
#define MAX_MSGS 2048

enum { T_IRCS = 0, T_WSS };

typedef struct {
  char id[TW_SIM_MSG_ID_SIZE];
  char text[64];
  int seen;
} posted_t;

typedef struct {
  uv_loop_t loop;
  tw_sim_t *sim;
  int sim_closed;
  tw_chat_t *chat;
  int chat_closed;
  int transport;
  char url[128];

  /* Events received. */
  tw_event_t *ev[MAX_MSGS];
  size_t nev;
  int status[16];
  int status_err[16];
  int refresh_calls;
  int refresh_answered;
  const char *refresh_with; /* token given back on refresh */

  /* Messages the test posted through the simulator. */
  posted_t posted[MAX_MSGS];
  size_t nposted;
  size_t post_target;
  uv_timer_t post_timer;
  int post_timer_init;
  size_t reconnect_at; /* send RECONNECT after this many posts (0: no) */

  /* Flood of sends from the bot. */
  size_t say_next, say_total;
  uv_timer_t say_timer;
  int say_timer_init;
  uint64_t say_rejected;

  /* Simulator observer. */
  uint64_t logins;
  uint64_t last_conn;
} fx_t;

/* ---- callbacks --------------------------------------------------------- */

static void on_event(tw_chat_t *c, tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  (void)c;
  assert_true(fx->nev < MAX_MSGS);
  fx->ev[fx->nev++] = ev;
  if (ev->kind == TW_EVENT_MESSAGE && ev->event_id) {
    for (size_t i = 0; i < fx->nposted; i++)
      if (strcmp(fx->posted[i].id, ev->event_id) == 0)
        fx->posted[i].seen++;
  }
}

static void on_status(tw_chat_t *c, const tw_chat_status_t *st, void *ud) {
  fx_t *fx = ud;
  (void)c;
  fx->status[st->kind]++;
  fx->status_err[st->kind] = st->err;
}

static void on_refresh(tw_chat_t *c, void *ud) {
  fx_t *fx = ud;
  fx->refresh_calls++;
  if (fx->refresh_with) {
    /* The credentials layer would refresh here; the simulator learns the
     * new token first, as Twitch would. */
    assert_int_equal(tw_sim_add_token(fx->sim, fx->refresh_with, BOT, 0), 0);
    assert_int_equal(tw_chat_set_token(c, fx->refresh_with), 0);
  }
}

static void on_closed(tw_chat_t *c, void *ud) {
  (void)c;
  ((fx_t *)ud)->chat_closed = 1;
}

static void sim_observer(void *ud, const tw_sim_event_t *ev) {
  fx_t *fx = ud;
  if (ev->kind == TW_SIM_EV_LOGIN) {
    fx->logins++;
    fx->last_conn = ev->conn;
  }
}

/* ---- fixture ----------------------------------------------------------- */

static void fx_setup(fx_t *fx, int transport, const tw_sim_chat_opts_t *chat) {
  tw_sim_opts_t so;
  tw_sim_room_t room;
  char detail[256];
  memset(fx, 0, sizeof(*fx));
  tw_test_log_from_env();
  fx->transport = transport;
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  memset(&so, 0, sizeof(so));
  so.listeners = TW_SIM_LISTEN_IRCS | TW_SIM_LISTEN_WSS;
  so.seed = 42;
  if (chat)
    so.chat = *chat;
  assert_int_equal(tw_sim_new(&fx->loop, &so, &fx->sim, detail, sizeof(detail)),
                   0);
  tw_sim_set_observer(fx->sim, sim_observer, fx);
  assert_int_equal(tw_sim_add_token(fx->sim, TOKEN, BOT, 0), 0);
  memset(&room, 0, sizeof(room));
  room.name = ROOM;
  assert_int_equal(tw_sim_add_room(fx->sim, &room), 0);
  if (transport == T_IRCS)
    snprintf(fx->url, sizeof(fx->url), "ircs://127.0.0.1:%u",
             tw_sim_port(fx->sim, TW_SIM_LISTEN_IRCS));
  else
    snprintf(fx->url, sizeof(fx->url), "wss://127.0.0.1:%u/",
             tw_sim_port(fx->sim, TW_SIM_LISTEN_WSS));
}

static void fx_opts(fx_t *fx, tw_chat_opts_t *o) {
  static const char *const chans[] = {"#" ROOM};
  tw_chat_opts_default(o);
  o->url = fx->url;
  o->ca_file = tw_sim_ca_file(fx->sim);
  o->login = BOT;
  o->token = TOKEN;
  o->channels = chans;
  o->nchannels = 1;
  o->backoff_base_ms = 50;
  o->backoff_cap_ms = 200;
  o->reconnect_linger_ms = 300;
}

static void fx_start(fx_t *fx, const tw_chat_opts_t *o) {
  tw_chat_cb_t cb = {on_event, NULL, on_status, on_refresh, on_closed};
  assert_int_equal(tw_chat_new(&fx->loop, o, &cb, fx, &fx->chat), 0);
  assert_int_equal(tw_chat_start(fx->chat), 0);
}

static int chat_closed(void *arg) {
  return ((fx_t *)arg)->chat_closed;
}
static int sim_closed(void *arg) {
  return ((fx_t *)arg)->sim_closed;
}
static void on_sim_closed(void *ud) {
  ((fx_t *)ud)->sim_closed = 1;
}

static void fx_teardown(fx_t *fx) {
  if (fx->post_timer_init)
    uv_close((uv_handle_t *)&fx->post_timer, NULL);
  if (fx->say_timer_init)
    uv_close((uv_handle_t *)&fx->say_timer, NULL);
  if (fx->chat) {
    tw_chat_close(fx->chat);
    assert_true(tw_test_run_until(&fx->loop, chat_closed, fx, 10000));
    tw_chat_free(fx->chat);
  }
  tw_sim_close(fx->sim, on_sim_closed, fx);
  assert_true(tw_test_run_until(&fx->loop, sim_closed, fx, 10000));
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  for (size_t i = 0; i < fx->nev; i++)
    tw_event_free(fx->ev[i]);
}

static int ready(void *arg) {
  fx_t *fx = arg;
  return tw_chat_is_ready(fx->chat) && tw_chat_is_joined(fx->chat, ROOM);
}

static tw_event_t *last_event(fx_t *fx) {
  assert_true(fx->nev > 0);
  return fx->ev[fx->nev - 1];
}

static int has_n_events(void *arg) {
  fx_t *fx = arg;
  return fx->nev >= fx->post_target;
}

/* Posts a message from `login` and waits for its event. */
static tw_event_t *post_and_wait(fx_t *fx, const char *login,
                                 const char *text) {
  posted_t *p = &fx->posted[fx->nposted++];
  snprintf(p->text, sizeof(p->text), "%s", text);
  assert_true(tw_sim_say(fx->sim, ROOM, login, text, NULL, p->id) >= 1);
  fx->post_target = fx->nev + 1;
  assert_true(tw_test_run_until(&fx->loop, has_n_events, fx, 10000));
  return last_event(fx);
}

/* ---- login, join, events -------------------------------------------- */

typedef struct {
  char lines[8][128];
  size_t n;
} rec_t;

static int record_line(void *ud, const tw_sim_sent_t *l) {
  rec_t *r = ud;
  if (r->n < 8)
    snprintf(r->lines[r->n++], sizeof(r->lines[0]), "%.*s", (int)l->len,
             l->line);
  return 0;
}

static void run_login_join_receive(int transport) {
  fx_t fx;
  tw_chat_opts_t o;
  tw_event_t *ev;
  rec_t rec;
  tw_chat_stats_t st;

  fx_setup(&fx, transport, NULL);
  fx_opts(&fx, &o);
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));
  /* What the simulator received, in order. */
  memset(&rec, 0, sizeof(rec));
  tw_sim_sent_foreach(fx.sim, 0, NULL, 0, record_line, &rec);
  assert_true(rec.n >= 4);
  assert_string_equal(rec.lines[0], "CAP REQ :twitch.tv/tags "
                                    "twitch.tv/commands twitch.tv/membership");
  assert_memory_equal(rec.lines[1], "PASS oauth:", 11);
  assert_string_equal(rec.lines[2], "NICK " BOT);
  assert_string_equal(rec.lines[3], "JOIN #" ROOM);

  ev = post_and_wait(&fx, "alice", "hello world");
  assert_int_equal(ev->kind, TW_EVENT_MESSAGE);
  assert_string_equal(ev->user, "alice");
  assert_string_equal(ev->target, "#" ROOM);
  assert_string_equal(ev->u.message.text, "hello world");
  assert_string_equal(ev->event_id, fx.posted[0].id);
  assert_non_null(ev->user_id);
  assert_false(ev->u.message.is_moderator);
  /* A moderator's badge reaches the event. */
  assert_int_equal(tw_sim_set_role(fx.sim, ROOM, "alice", TW_SIM_ROLE_MOD), 0);
  ev = post_and_wait(&fx, "alice", "now with a sword");
  assert_true(ev->u.message.is_moderator);
  /* Spoofing through the text changes nothing. */
  ev = post_and_wait(&fx, "mallory", "hi ;mod=1 :x! PRIVMSG :y");
  assert_string_equal(ev->user, "mallory");
  assert_false(ev->u.message.is_moderator);
  assert_string_equal(ev->u.message.text, "hi ;mod=1 :x! PRIVMSG :y");
  ev = post_and_wait(&fx, "mallory",
                     "@badges=broadcaster/1 :streamer!s@s PRIVMSG #room :x");
  assert_string_equal(ev->user, "mallory");
  assert_false(ev->u.message.is_broadcaster);
  /* A raw line with a crafted display name. */
  {
    static const char line[] =
        "@badges=;display-name=streamer!streamer@x\\sPRIVMSG\\s#room\\s:;id="
        "raw-1;mod=0;room-id=1;user-id=66 :eve!eve@eve.tmi.twitch.tv PRIVMSG "
        "#room :boo";
    fx.post_target = fx.nev + 1;
    assert_true(tw_sim_inject_room(fx.sim, ROOM, line, sizeof(line) - 1) >= 1);
    assert_true(tw_test_run_until(&fx.loop, has_n_events, &fx, 10000));
    ev = last_event(&fx);
    assert_string_equal(ev->user, "eve");
    assert_string_equal(ev->user_id, "66");
    assert_string_equal(ev->u.message.text, "boo");
  }
  tw_chat_stats(fx.chat, &st);
  assert_int_equal(st.lines_malformed, 0);
  assert_int_equal(st.logins, 1);
  fx_teardown(&fx);
}

static void test_login_join_receive_ircs(void **state) {
  (void)state;
  run_login_join_receive(T_IRCS);
}
static void test_login_join_receive_wss(void **state) {
  (void)state;
  run_login_join_receive(T_WSS);
}

/* ---- RECONNECT -------------------------------------------------------- */

/* Posts one message per tick; sends RECONNECT to the bot's connection
 * after reconnect_at posts. */
static void post_tick(uv_timer_t *t) {
  fx_t *fx = t->data;
  posted_t *p;
  if (fx->nposted >= fx->post_target) {
    uv_timer_stop(t);
    return;
  }
  p = &fx->posted[fx->nposted];
  snprintf(p->text, sizeof(p->text), "message %zu", fx->nposted);
  assert_true(tw_sim_say(fx->sim, ROOM, "viewer", p->text, NULL, p->id) >= 1);
  fx->nposted++;
  if (fx->reconnect_at && fx->nposted == fx->reconnect_at)
    assert_true(tw_sim_reconnect(fx->sim, fx->last_conn, 0) >= 1);
}

static int all_posted_seen(void *arg) {
  fx_t *fx = arg;
  if (fx->nposted < fx->post_target)
    return 0;
  for (size_t i = 0; i < fx->nposted; i++)
    if (!fx->posted[i].seen)
      return 0;
  /* and the old connection is gone */
  return fx->status[TW_CHAT_STATUS_HANDOVER] >= 1;
}

static int sim_has_one_conn(void *arg) {
  fx_t *fx = arg;
  tw_sim_counters_t c;
  tw_sim_counters(fx->sim, &c);
  return c.conns_open == 1;
}

static void run_reconnect(int transport) {
  fx_t fx;
  tw_chat_opts_t o;
  tw_chat_stats_t st;
  size_t msgs = 0;

  fx_setup(&fx, transport, NULL);
  fx_opts(&fx, &o);
  /* The connection must look healthy, so the move starts at once. */
  o.backoff_healthy_ms = 1;
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));
  /* 400 messages, one per loop tick, RECONNECT after the 100th: the rest
   * arrive while the client opens a new connection, joins there and drops
   * the old one. */
  fx.post_target = 400;
  fx.reconnect_at = 100;
  assert_int_equal(uv_timer_init(&fx.loop, &fx.post_timer), 0);
  fx.post_timer_init = 1;
  fx.post_timer.data = &fx;
  assert_int_equal(uv_timer_start(&fx.post_timer, post_tick, 1, 1), 0);
  assert_true(tw_test_run_until(&fx.loop, all_posted_seen, &fx, 20000));
  assert_true(tw_test_run_until(&fx.loop, sim_has_one_conn, &fx, 10000));
  /* Every message exactly once, in the order posted. */
  for (size_t i = 0; i < fx.nposted; i++)
    assert_int_equal(fx.posted[i].seen, 1);
  for (size_t i = 0; i < fx.nev; i++) {
    if (fx.ev[i]->kind != TW_EVENT_MESSAGE)
      continue;
    assert_string_equal(fx.ev[i]->u.message.text, fx.posted[msgs].text);
    msgs++;
  }
  assert_int_equal(msgs, 400);
  tw_chat_stats(fx.chat, &st);
  /* Both connections carried the room for a while: the overlap was real
   * and its copies were dropped. */
  assert_true(st.duplicates_dropped > 0);
  assert_int_equal(st.server_reconnects, 1);
  assert_int_equal(st.logins, 2);
  assert_int_equal(fx.status[TW_CHAT_STATUS_HANDOVER], 1);
  assert_int_equal(fx.status[TW_CHAT_STATUS_DISCONNECTED], 0);
  fx_teardown(&fx);
}

static void test_reconnect_ircs(void **state) {
  (void)state;
  run_reconnect(T_IRCS);
}
static void test_reconnect_wss(void **state) {
  (void)state;
  run_reconnect(T_WSS);
}

/* ---- drops and stalls ---------------------------------------------- */

static int two_logins_ready(void *arg) {
  fx_t *fx = arg;
  return fx->logins >= 2 && ready(arg);
}

static void test_drop_and_backoff_reconnect(void **state) {
  fx_t fx;
  tw_chat_opts_t o;
  tw_sim_counters_t c;
  tw_event_t *ev;
  (void)state;
  fx_setup(&fx, T_IRCS, NULL);
  fx_opts(&fx, &o);
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));
  assert_int_equal(tw_sim_drop(fx.sim, fx.last_conn), 1);
  assert_true(tw_test_run_until(&fx.loop, two_logins_ready, &fx, 10000));
  assert_int_equal(fx.status[TW_CHAT_STATUS_DISCONNECTED], 1);
  assert_int_equal(fx.status_err[TW_CHAT_STATUS_DISCONNECTED], TW_ECLOSED);
  tw_sim_counters(fx.sim, &c);
  assert_int_equal(c.conns_accepted, 2);
  /* And it works again. */
  ev = post_and_wait(&fx, "alice", "welcome back");
  assert_string_equal(ev->u.message.text, "welcome back");
  fx_teardown(&fx);
}

static void test_stall_found_by_own_ping(void **state) {
  fx_t fx;
  tw_chat_opts_t o;
  tw_chat_stats_t st;
  uint64_t first;
  (void)state;
  fx_setup(&fx, T_IRCS, NULL);
  fx_opts(&fx, &o);
  o.ping_idle_ms = 200;
  o.pong_timeout_ms = 200;
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));
  first = fx.last_conn;
  /* The socket stays open but the server goes silent. */
  assert_int_equal(tw_sim_stall(fx.sim, first, 1), 1);
  assert_true(tw_test_run_until(&fx.loop, two_logins_ready, &fx, 10000));
  tw_chat_stats(fx.chat, &st);
  assert_true(st.pings_sent >= 1);
  assert_int_equal(st.ping_timeouts, 1);
  assert_int_equal(fx.status_err[TW_CHAT_STATUS_DISCONNECTED], TW_ETIMEDOUT);
  assert_true(fx.last_conn != first);
  fx_teardown(&fx);
}

/* ---- authentication --------------------------------------------------- */

static void test_auth_failure_refresh(void **state) {
  fx_t fx;
  tw_chat_opts_t o;
  (void)state;
  fx_setup(&fx, T_WSS, NULL);
  fx_opts(&fx, &o);
  o.token = "expiredtoken01"; /* unknown to the simulator */
  fx.refresh_with = "refreshedtoken02";
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));
  assert_int_equal(fx.refresh_calls, 1);
  assert_int_equal(fx.status[TW_CHAT_STATUS_AUTH_FAILED], 1);
  fx_teardown(&fx);
}

static int refresh_asked_or_stopped(void *arg) {
  fx_t *fx = arg;
  return fx->status[TW_CHAT_STATUS_STOPPED] > 0 ||
         fx->refresh_calls > fx->refresh_answered;
}

static void test_auth_failure_gives_up(void **state) {
  fx_t fx;
  tw_chat_opts_t o;
  tw_sim_counters_t c;
  (void)state;
  fx_setup(&fx, T_IRCS, NULL);
  fx_opts(&fx, &o);
  o.token = "expiredtoken01";
  o.auth_max_failures = 3;
  fx_start(&fx, &o);
  /* The refresh fails for a passing reason each time: the client retries
   * with its token, and after three refusals stops for good. */
  for (;;) {
    assert_true(
        tw_test_run_until(&fx.loop, refresh_asked_or_stopped, &fx, 10000));
    if (fx.status[TW_CHAT_STATUS_STOPPED])
      break;
    fx.refresh_answered = fx.refresh_calls;
    tw_chat_token_failed(fx.chat, TW_EIO);
  }
  assert_int_equal(fx.refresh_calls, 2);
  assert_int_equal(fx.status_err[TW_CHAT_STATUS_STOPPED], TW_EAUTH);
  assert_non_null(strstr(tw_chat_detail(fx.chat), "refused the login"));
  assert_false(tw_chat_is_ready(fx.chat));
  tw_sim_counters(fx.sim, &c);
  assert_int_equal(c.login_failures, 3);
  fx_teardown(&fx);
}

/* ---- sending ------------------------------------------------------------ */

static void say_tick(uv_timer_t *t) {
  fx_t *fx = t->data;
  while (fx->say_next < fx->say_total) {
    char text[64];
    int err;
    snprintf(text, sizeof(text), "flood %zu", fx->say_next);
    err = tw_chat_say(fx->chat, ROOM, text, NULL, false);
    if (err == TW_EFULL) {
      fx->say_rejected++;
      return; /* retry on the next tick */
    }
    assert_int_equal(err, 0);
    fx->say_next++;
  }
  uv_timer_stop(t);
}

typedef struct {
  fx_t *fx;
  size_t n;
  int in_order;
} order_t;

static int check_order(void *ud, const tw_sim_sent_t *l) {
  order_t *o = ud;
  char want[64];
  if (l->len < 8 || memcmp(l->line, "PRIVMSG ", 8) != 0)
    return 0;
  snprintf(want, sizeof(want), "PRIVMSG #" ROOM " :flood %zu", o->n);
  if (l->len != strlen(want) || memcmp(l->line, want, l->len) != 0)
    o->in_order = 0;
  o->n++;
  return 0;
}

static int flood_delivered(void *arg) {
  fx_t *fx = arg;
  tw_sim_user_counters_t u;
  if (tw_sim_user_counters(fx->sim, BOT, &u) != 0)
    return 0;
  return u.sent + u.dropped_ratelimit + u.dropped_room_rate +
             u.dropped_duplicate + u.dropped_other + u.dropped_too_long >=
         fx->say_total;
}

static void test_flood_1000_within_limits(void **state) {
  tw_sim_chat_opts_t sc;
  fx_t fx;
  tw_chat_opts_t o;
  tw_sim_user_counters_t u;
  tw_sim_counters_t c;
  tw_chat_stats_t st;
  order_t ord;
  (void)state;
  /* Twitch's privileged limit, 100 per window, with the window shortened
   * to 500 ms on the simulator and 750 ms on the client (a margin for
   * arrival times, as in production). */
  memset(&sc, 0, sizeof(sc));
  sc.rate_window_ms = 500;
  sc.rate_limit = 20;
  sc.rate_limit_priv = 100;
  sc.lockout_ms = 60000; /* one slip would show as many drops */
  fx_setup(&fx, T_IRCS, &sc);
  assert_int_equal(tw_sim_set_role(fx.sim, ROOM, BOT, TW_SIM_ROLE_MOD), 0);
  fx_opts(&fx, &o);
  o.send_window_ms = 750;
  o.send_normal_max = 20;
  o.send_privileged_max = 100;
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));

  fx.say_total = 1000;
  assert_int_equal(uv_timer_init(&fx.loop, &fx.say_timer), 0);
  fx.say_timer_init = 1;
  fx.say_timer.data = &fx;
  assert_int_equal(uv_timer_start(&fx.say_timer, say_tick, 0, 20), 0);
  assert_true(tw_test_run_until(&fx.loop, flood_delivered, &fx, 25000));

  assert_int_equal(tw_sim_user_counters(fx.sim, BOT, &u), 0);
  assert_int_equal(u.sent, 1000);
  assert_int_equal(u.dropped_ratelimit, 0);
  assert_int_equal(u.dropped_room_rate, 0);
  assert_int_equal(u.dropped_duplicate, 0);
  assert_int_equal(u.dropped_other, 0);
  tw_sim_counters(fx.sim, &c);
  assert_int_equal(c.dropped_ratelimit, 0);
  /* The queue said "full" rather than dropping, and everything went. */
  assert_true(fx.say_rejected > 0);
  tw_chat_stats(fx.chat, &st);
  assert_int_equal(st.messages_sent, 1000);
  assert_int_equal(st.send_queued, 0);
  /* In order. */
  memset(&ord, 0, sizeof(ord));
  ord.in_order = 1;
  tw_sim_sent_foreach(fx.sim, 0, BOT, 0, check_order, &ord);
  assert_int_equal(ord.n, 1000);
  assert_true(ord.in_order);
  fx_teardown(&fx);
}

typedef struct {
  char text[2][2048];
  size_t n;
} parts_t;

static int collect_parts(void *ud, const tw_sim_sent_t *l) {
  parts_t *p = ud;
  static const char pre[] = "PRIVMSG #" ROOM " :";
  if (l->len > sizeof(pre) - 1 && memcmp(l->line, pre, sizeof(pre) - 1) == 0 &&
      p->n < 2) {
    snprintf(p->text[p->n++], sizeof(p->text[0]), "%.*s",
             (int)(l->len - (sizeof(pre) - 1)), l->line + sizeof(pre) - 1);
  }
  return 0;
}

static int two_sent(void *arg) {
  fx_t *fx = arg;
  tw_sim_user_counters_t u;
  return tw_sim_user_counters(fx->sim, BOT, &u) == 0 &&
         u.sent + u.dropped_too_long + u.dropped_room_rate >= 2;
}

static void test_long_message_split(void **state) {
  fx_t fx;
  tw_chat_opts_t o;
  tw_sim_user_counters_t u;
  parts_t parts;
  char text[800], joined[4200];
  size_t len = 0;
  (void)state;
  fx_setup(&fx, T_WSS, NULL);
  fx_opts(&fx, &o);
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));
  /* 709 characters (730 bytes): words of 9 letters and a space, some with
   * two-byte letters, so that the split counts characters, not bytes. */
  for (int i = 0; i < 71; i++) {
    memcpy(text + len,
           i % 7 == 3 ? "\xc3\xa9"
                        "t"
                        "\xc3\xa9"
                        "abcdef "
                      : "wordwordw ",
           i % 7 == 3 ? 12 : 10);
    len += i % 7 == 3 ? 12 : 10;
  }
  text[len - 1] = '\0'; /* no trailing space */
  assert_int_equal(tw_chat_say(fx.chat, ROOM, text, NULL, false), 0);
  assert_true(tw_test_run_until(&fx.loop, two_sent, &fx, 10000));
  assert_int_equal(tw_sim_user_counters(fx.sim, BOT, &u), 0);
  assert_int_equal(u.sent, 2);
  assert_int_equal(u.dropped_too_long, 0);
  memset(&parts, 0, sizeof(parts));
  tw_sim_sent_foreach(fx.sim, 0, BOT, 0, collect_parts, &parts);
  assert_int_equal(parts.n, 2);
  snprintf(joined, sizeof(joined), "%s %s", parts.text[0], parts.text[1]);
  assert_string_equal(joined, text);
  fx_teardown(&fx);
}

/* ---- anonymous ---------------------------------------------------------- */

static void test_anonymous_reads(void **state) {
  fx_t fx;
  tw_chat_opts_t o;
  tw_event_t *ev;
  (void)state;
  fx_setup(&fx, T_IRCS, NULL);
  fx_opts(&fx, &o);
  o.login = NULL;
  o.token = NULL;
  fx_start(&fx, &o);
  assert_true(tw_test_run_until(&fx.loop, ready, &fx, 10000));
  ev = post_and_wait(&fx, "alice", "hello guest");
  assert_string_equal(ev->u.message.text, "hello guest");
  assert_int_equal(tw_chat_say(fx.chat, ROOM, "hi", NULL, false),
                   TW_EFORBIDDEN);
  fx_teardown(&fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_login_join_receive_ircs),
      cmocka_unit_test(test_login_join_receive_wss),
      cmocka_unit_test(test_reconnect_ircs),
      cmocka_unit_test(test_reconnect_wss),
      cmocka_unit_test(test_drop_and_backoff_reconnect),
      cmocka_unit_test(test_stall_found_by_own_ping),
      cmocka_unit_test(test_auth_failure_refresh),
      cmocka_unit_test(test_auth_failure_gives_up),
      cmocka_unit_test(test_flood_1000_within_limits),
      cmocka_unit_test(test_long_message_split),
      cmocka_unit_test(test_anonymous_reads),
  };
  tw_log_set_level(TW_LOG_OFF);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
