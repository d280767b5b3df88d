/* The EventSub WebSocket client against the in-process simulator's own
 * EventSub listener (docs/simulator.md, "EventSub"): sessions, Helix
 * subscriptions bound to them, notifications triggered through the C API,
 * session_reconnect, stall, drop, duplicate and revocation.
 *
 * Covered: welcome -> subscriptions created (read back from the
 * simulator's session list and request record) -> triggered follow, sub,
 * resub, gift, online, offline, raid, cheer and ban arrive as the right
 * tw_event_t; a duplicate message id is delivered once; a stalled session
 * is dropped and the new one subscribes again; session_reconnect moves
 * without loss, duplication or new subscriptions; a revoked subscription is
 * not created again; a missing scope is one log line and the others work;
 * the simulator never closes with 4001 (the client sends nothing); no token
 * in the log. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "test_tokens.h"

#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/eventsub_client.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/sim.h"

#define BOT_TOKEN "chan-tok-SECRET-0000000002"
#define ALL_SCOPES                                                             \
  "moderator:read:followers channel:read:subscriptions bits:read "             \
  "channel:moderate"
#define MAX_EVENTS 64
#define SUBS_PATH "/helix/eventsub/subscriptions"

typedef struct {
  tw_simfx_t *sf;
  test_tokens_t *tt;
  tw_helix_client_t *hc;
  tw_eventsub_t *es;
  char base[128], wsurl[128], chan_id[64];
  tw_event_t *ev[MAX_EVENTS];
  size_t nev;
  unsigned subscribed, sub_failed, revoked, migrated, disconnected;
  int last_code;
  char follow_sub_id[64];
  FILE *log;
  char *logbuf;
  size_t loglen;
} fx_t;

static fx_t *fx_new(const char *scopes, uint32_t keepalive_ms) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  tw_sim_opts_t o;
  memset(&o, 0, sizeof(o));
  o.listeners =
      TW_SIM_LISTEN_API | TW_SIM_LISTEN_CONTROL | TW_SIM_LISTEN_EVENTSUB;
  o.eventsub.keepalive_ms = keepalive_ms;
  /* The 10 s window is Twitch's; under a sanitizer a sub-second keepalive
   * would make it too short for Get Users plus nine creates. */
  o.eventsub.subscribe_window_ms = TW_SIM_OFF;
  fx->sf = tw_simfx_new(&o);
  assert_non_null(fx->sf);
  snprintf(fx->base, sizeof(fx->base), "https://127.0.0.1:%u/helix",
           (unsigned)fx->sf->api_port);
  snprintf(fx->wsurl, sizeof(fx->wsurl), "wss://127.0.0.1:%u/ws",
           (unsigned)tw_sim_port(fx->sf->sim, TW_SIM_LISTEN_EVENTSUB));
  tw_sim_token_t t;
  memset(&t, 0, sizeof(t));
  t.token = BOT_TOKEN;
  t.login = "chan";
  t.scopes = scopes;
  assert_int_equal(tw_sim_add_token_ex(fx->sf->sim, &t), 0);
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(fx->sf->sim, BOT_TOKEN, &ti), 0);
  snprintf(fx->chan_id, sizeof(fx->chan_id), "%s", ti.user_id);
  fx->tt = tt_new(&fx->sf->loop, BOT_TOKEN, fx->chan_id, NULL, NULL);
  tw_helix_client_opts_t ho;
  memset(&ho, 0, sizeof(ho));
  ho.base_url = fx->base;
  ho.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  ho.ca_file = tw_sim_ca_file(fx->sf->sim);
  ho.tokens = tt_source(fx->tt);
  ho.backoff_base_ms = 5;
  ho.backoff_cap_ms = 20;
  assert_int_equal(tw_helix_client_new(&fx->sf->loop, fx->sf->uc, &ho, &fx->hc),
                   0);
  fx->log = open_memstream(&fx->logbuf, &fx->loglen);
  tw_log_set_output(fx->log);
  tw_log_set_level(TW_LOG_DEBUG);
  tw_log_add_secret(BOT_TOKEN);
  return fx;
}

static void on_event(tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  assert_true(fx->nev < MAX_EVENTS);
  fx->ev[fx->nev++] = ev;
}

static void on_status(const tw_eventsub_status_t *st, void *ud) {
  fx_t *fx = ud;
  switch (st->kind) {
  case TW_EVENTSUB_ST_SUBSCRIBED:
    fx->subscribed++;
    if (strcmp(st->type, "channel.follow") == 0)
      snprintf(fx->follow_sub_id, sizeof(fx->follow_sub_id), "%s", st->sub_id);
    break;
  case TW_EVENTSUB_ST_SUB_FAILED:
    fx->sub_failed++;
    break;
  case TW_EVENTSUB_ST_REVOKED:
    fx->revoked++;
    break;
  case TW_EVENTSUB_ST_MIGRATED:
    fx->migrated++;
    break;
  case TW_EVENTSUB_ST_DISCONNECTED:
    fx->disconnected++;
    fx->last_code = st->code;
    break;
  default:
    break;
  }
}

static void start_client(fx_t *fx, const tw_eventsub_type_t *types,
                         size_t ntypes) {
  const char *chans[] = {"chan"};
  tw_eventsub_opts_t o;
  memset(&o, 0, sizeof(o));
  o.url = fx->wsurl;
  o.ca_file = tw_sim_ca_file(fx->sf->sim);
  o.channels = chans;
  o.nchannels = 1;
  o.types = types;
  o.ntypes = ntypes;
  o.backoff_base_ms = 10;
  o.backoff_cap_ms = 50;
  o.on_event = on_event;
  o.on_status = on_status;
  o.ud = fx;
  assert_int_equal(tw_eventsub_new(&fx->sf->loop, fx->hc, &o, &fx->es), 0);
  assert_int_equal(tw_eventsub_start(fx->es), 0);
}

static void flag(void *arg) {
  *(int *)arg = 1;
}

static void fx_free(fx_t *fx) {
  int done = 0;
  tw_eventsub_close(fx->es, flag, &done);
  assert_true(tw_test_run_flag(&fx->sf->loop, &done));
  done = 0;
  tw_helix_client_close(fx->hc, flag, &done);
  assert_true(tw_test_run_flag(&fx->sf->loop, &done));
  tt_free(fx->tt);
  for (size_t i = 0; i < fx->nev; i++)
    tw_event_free(fx->ev[i]);
  assert_int_equal(tw_simfx_free(fx->sf), 0);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  tw_log_clear_secrets();
  fclose(fx->log);
  assert_null(strstr(fx->logbuf, "SECRET"));
  assert_null(strstr(fx->logbuf, "code 4001"));
  free(fx->logbuf);
  free(fx);
}

typedef struct {
  fx_t *fx;
  int what;
  unsigned n;
} cond_t;

enum { W_SUBS_DONE, W_EVENTS, W_WELCOMES, W_MIGRATED, W_REVOKED, W_SUBBED };

static int cond_ok(void *arg) {
  cond_t *c = arg;
  fx_t *fx = c->fx;
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  switch (c->what) {
  case W_SUBS_DONE:
    return fx->subscribed + fx->sub_failed >= c->n;
  case W_EVENTS:
    return fx->nev >= c->n;
  case W_WELCOMES:
    return st.welcomes >= c->n;
  case W_MIGRATED:
    return fx->migrated >= c->n;
  case W_REVOKED:
    return fx->revoked >= c->n;
  case W_SUBBED:
    return fx->subscribed >= c->n;
  }
  return 0;
}

static void wait_for(fx_t *fx, int what, unsigned n) {
  cond_t c = {fx, what, n};
  if (!tw_test_run_until(&fx->sf->loop, cond_ok, &c, TW_TEST_WATCHDOG_MS))
    fail_msg("timed out waiting for condition %d >= %u", what, n);
}

typedef struct {
  const char *needle;
  unsigned n;
} count_t;

static int count_cb(void *ud, const tw_sim_api_req_t *r) {
  count_t *c = ud;
  if (strcmp(r->method, "POST") == 0 &&
      (!c->needle || (r->body && strstr(r->body, c->needle))))
    c->n++;
  return 0;
}

static unsigned creates(fx_t *fx, const char *needle) {
  count_t c = {needle, 0};
  tw_sim_api_foreach(fx->sf->sim, 0, SUBS_PATH, count_cb, &c);
  return c.n;
}

static size_t count_log(fx_t *fx, const char *needle) {
  fflush(fx->log);
  size_t n = 0;
  for (const char *p = fx->logbuf; p && (p = strstr(p, needle)); p++)
    n++;
  return n;
}

/* The one live session (asserts there is exactly one). */
static tw_sim_eventsub_session_t session(fx_t *fx) {
  tw_sim_eventsub_session_t s[4];
  size_t n = tw_sim_eventsub_sessions(fx->sf->sim, s, 4);
  assert_int_equal(n, 1);
  return s[0];
}

static void trigger(fx_t *fx, const char *type, const char *json) {
  assert_int_equal(tw_sim_eventsub_trigger(fx->sf->sim, type, "chan", json), 1);
}

static void test_events(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES, 0);
  start_client(fx, NULL, 0);
  wait_for(fx, W_SUBS_DONE, 9);
  assert_int_equal(fx->subscribed, 9);
  tw_sim_eventsub_session_t s = session(fx);
  assert_int_equal(s.subs, 9);
  assert_string_equal(s.user_id, fx->chan_id);
  assert_int_equal(creates(fx, NULL), 9);

  trigger(fx, "channel.follow", "{\"user_login\":\"ann\"}");
  trigger(fx, "channel.subscribe",
          "{\"user_login\":\"bob\",\"tier\":\"2000\",\"is_gift\":true}");
  trigger(fx, "channel.subscription.message",
          "{\"user_login\":\"carl\",\"cumulative_months\":7,\"message\":{"
          "\"text\":\"seven!\",\"emotes\":null}}");
  trigger(fx, "channel.subscription.gift",
          "{\"user_login\":\"santa\",\"user_name\":\"Santa\",\"total\":5,"
          "\"is_anonymous\":false}");
  trigger(fx, "stream.online", NULL);
  trigger(fx, "stream.offline", NULL);
  trigger(fx, "channel.raid",
          "{\"from_broadcaster_user_login\":\"raidy\",\"viewers\":42}");
  trigger(fx, "channel.cheer",
          "{\"user_login\":\"dan\",\"bits\":100,\"message\":\"cheer100\","
          "\"is_anonymous\":false}");
  trigger(fx, "channel.ban",
          "{\"user_login\":\"troll\",\"is_permanent\":true,\"ends_at\":null}");
  wait_for(fx, W_EVENTS, 9);
  /* Twitch may deliver a notification twice: the second copy is dropped. */
  assert_int_equal(tw_sim_eventsub_duplicate(fx->sf->sim, NULL), 1);
  trigger(fx, "channel.follow", "{\"user_login\":\"last\"}");
  wait_for(fx, W_EVENTS, 10);
  assert_int_equal(fx->nev, 10);
  tw_event_t **e = fx->ev;
  for (size_t i = 0; i < fx->nev; i++) {
    assert_string_equal(e[i]->target, "#chan");
    assert_non_null(e[i]->event_id);
    assert_non_null(e[i]->raw);
  }
  assert_int_equal(e[0]->kind, TW_EVENT_USER_FOLLOWED);
  assert_string_equal(e[0]->u.user_followed.follower, "ann");
  assert_true(e[0]->u.user_followed.followed_at > 0);
  assert_int_equal(e[1]->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(e[1]->user, "bob");
  assert_string_equal(e[1]->u.user_subscribed.tier, "2000");
  assert_true(e[1]->u.user_subscribed.is_gift);
  assert_int_equal(e[2]->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(e[2]->u.user_subscribed.message, "seven!");
  assert_int_equal(e[2]->u.user_subscribed.months, 7);
  assert_int_equal(e[3]->kind, TW_EVENT_USER_GIFTED_SUBSCRIPTION);
  assert_string_equal(e[3]->u.user_gifted_subscription.gifter_name, "Santa");
  assert_string_equal(e[3]->user, "santa");
  assert_int_equal(e[4]->kind, TW_EVENT_STREAM_STARTED);
  assert_string_equal(e[4]->user, "chan");
  assert_true(e[4]->u.stream_started.started_at > 0);
  assert_int_equal(e[5]->kind, TW_EVENT_STREAM_ENDED);
  assert_int_equal(e[6]->kind, TW_EVENT_RAID);
  assert_string_equal(e[6]->u.raid.raider, "raidy");
  assert_int_equal(e[6]->u.raid.viewers, 42);
  assert_int_equal(e[7]->kind, TW_EVENT_CHEER);
  assert_int_equal(e[7]->u.cheer.bits, 100);
  assert_string_equal(e[7]->u.cheer.message, "cheer100");
  assert_int_equal(e[8]->kind, TW_EVENT_USER_BANNED);
  assert_string_equal(e[8]->user, "troll");
  assert_int_equal(e[8]->u.user_banned.duration, 0);
  assert_string_equal(e[8]->u.user_banned.room_id, fx->chan_id);
  assert_string_equal(e[9]->u.user_followed.follower, "last");
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(fx->disconnected, 0);
  fx_free(fx);
}

static const tw_eventsub_type_t TWO[] = {{"stream.online", "1"},
                                         {"channel.follow", "2"}};

/* A stalled session (sub-second keepalives, the simulator's extension) is
 * declared dead by the watchdog; the new session subscribes again and
 * events flow on it. */
static void test_keepalive_loss(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES, 200);
  start_client(fx, TWO, 2);
  wait_for(fx, W_SUBS_DONE, 2);
  char first[TW_SIM_EVENTSUB_ID_SIZE];
  snprintf(first, sizeof(first), "%s", session(fx).id);
  assert_int_equal(tw_sim_eventsub_stall(fx->sf->sim, NULL, 1), 1);
  wait_for(fx, W_WELCOMES, 2);
  wait_for(fx, W_SUBBED, 4);
  tw_sim_eventsub_session_t s = session(fx);
  assert_string_not_equal(s.id, first);
  assert_int_equal(s.subs, 2);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_true(st.keepalive_timeouts >= 1);
  assert_int_equal(creates(fx, NULL), 4);
  trigger(fx, "channel.follow", "{\"user_login\":\"ann\"}");
  wait_for(fx, W_EVENTS, 1);
  assert_string_equal(fx->ev[0]->u.user_followed.follower, "ann");
  fx_free(fx);
}

/* session_reconnect: the client moves to the reconnect URL, the session
 * keeps its subscriptions, nothing is created again, and no event is lost
 * or doubled. */
static void test_session_reconnect(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES, 0);
  start_client(fx, TWO, 2);
  wait_for(fx, W_SUBS_DONE, 2);
  trigger(fx, "channel.follow", "{\"user_login\":\"before\"}");
  wait_for(fx, W_EVENTS, 1);
  assert_int_equal(tw_sim_eventsub_reconnect(fx->sf->sim, NULL), 1);
  wait_for(fx, W_MIGRATED, 1);
  trigger(fx, "channel.follow", "{\"user_login\":\"after\"}");
  wait_for(fx, W_EVENTS, 2);
  assert_int_equal(tw_sim_eventsub_duplicate(fx->sf->sim, NULL), 1);
  trigger(fx, "stream.online", NULL);
  wait_for(fx, W_EVENTS, 3);
  assert_int_equal(fx->nev, 3);
  assert_string_equal(fx->ev[0]->u.user_followed.follower, "before");
  assert_string_equal(fx->ev[1]->u.user_followed.follower, "after");
  assert_int_equal(fx->ev[2]->kind, TW_EVENT_STREAM_STARTED);
  assert_int_equal(creates(fx, NULL), 2);
  tw_sim_eventsub_session_t s = session(fx);
  assert_int_equal(s.subs, 2);
  assert_int_equal(s.reconnecting, 0);
  tw_eventsub_stats_t st;
  tw_eventsub_stats(fx->es, &st);
  assert_int_equal(st.migrations, 1);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(fx->disconnected, 0);
  fx_free(fx);
}

/* Revocation: reported; after the connection drops, the new session
 * creates only the other subscription. */
static void test_revocation(void **state) {
  (void)state;
  fx_t *fx = fx_new(ALL_SCOPES, 0);
  start_client(fx, TWO, 2);
  wait_for(fx, W_SUBS_DONE, 2);
  assert_true(fx->follow_sub_id[0]);
  assert_int_equal(tw_sim_eventsub_revoke(fx->sf->sim, fx->follow_sub_id,
                                          "authorization_revoked"),
                   1);
  wait_for(fx, W_REVOKED, 1);
  assert_int_equal(session(fx).subs, 1);
  assert_int_equal(tw_sim_eventsub_drop(fx->sf->sim, NULL), 1);
  wait_for(fx, W_WELCOMES, 2);
  wait_for(fx, W_SUBBED, 3);
  assert_int_equal(creates(fx, "channel.follow"), 1);
  assert_int_equal(creates(fx, "stream.online"), 2);
  assert_int_equal(session(fx).subs, 1);
  assert_int_equal(count_log(fx, "authorization_revoked"), 1);
  fx_free(fx);
}

/* Without bits:read, channel.cheer is refused once with a log line naming
 * the scope; the eight others work. */
static void test_scope_missing(void **state) {
  (void)state;
  fx_t *fx = fx_new("moderator:read:followers channel:read:subscriptions "
                    "channel:moderate",
                    0);
  start_client(fx, NULL, 0);
  wait_for(fx, W_SUBS_DONE, 9);
  assert_int_equal(fx->subscribed, 8);
  assert_int_equal(fx->sub_failed, 1);
  assert_int_equal(count_log(fx, "lacks the scope bits:read"), 1);
  assert_int_equal(session(fx).subs, 8);
  trigger(fx, "channel.follow", "{\"user_login\":\"ann\"}");
  wait_for(fx, W_EVENTS, 1);
  assert_int_equal(creates(fx, "channel.cheer"), 1);
  fx_free(fx);
}

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_events),
      cmocka_unit_test(test_keepalive_loss),
      cmocka_unit_test(test_session_reconnect),
      cmocka_unit_test(test_revocation),
      cmocka_unit_test(test_scope_missing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
