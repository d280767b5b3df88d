/* The Helix client and the Twitch actions against the in-process simulator
 * (its HTTPS API listener, docs/simulator.md): TLS with the simulator's CA
 * as the extra trust anchor (and refused without it), each call's effect
 * visible through the simulator, typed errors from its token and role
 * checks, 401 refresh with a token the test source registers, forced 429
 * and 5xx answers with the read-back of what was sent, and no token in the
 * log (captured at trace level). */
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

#include <jansson.h>

#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/sim.h"
#include "twitchd/twitch_actions.h"

#define BOT_TOKEN "simbot-tok-SECRET-000000001"
#define MAX_RES 16

typedef struct {
  int err;
  int status;
  unsigned attempts;
  tw_helix_err_kind_t kind;
  char detail[512];
  char first[128];
  bool is_sent;
} res_t;

typedef struct {
  tw_simfx_t *sf;
  test_tokens_t *tt;
  tw_helix_client_t *hc;
  char base[128];
  res_t res[MAX_RES];
  size_t nres, want;
  unsigned minted;
  const char *scopes;
  FILE *log;
  char *logbuf;
  size_t loglen;
} fx_t;

#define ALL_SCOPES                                                             \
  "chat:read chat:edit user:write:chat channel:manage:broadcast "              \
  "moderator:manage:banned_users moderator:manage:chat_messages clips:edit "   \
  "moderator:manage:announcements moderator:manage:shoutouts "                 \
  "moderator:read:followers"

static int add_token(fx_t *fx, const char *tok) {
  tw_sim_token_t t;
  memset(&t, 0, sizeof(t));
  t.token = tok;
  t.login = "chan"; /* the broadcaster's own token */
  t.scopes = fx->scopes;
  return tw_sim_add_token_ex(fx->sf->sim, &t);
}

/* The test source's refresh: a new token, registered with the simulator. */
static int mint(void *ud, char *out, size_t cap) {
  fx_t *fx = ud;
  snprintf(out, cap, "simbot-tok-SECRET-minted-%06u", ++fx->minted);
  return add_token(fx, out);
}

static void on_res(tw_helix_client_t *c, const tw_helix_result_t *r,
                   void *arg) {
  (void)c;
  fx_t *fx = arg;
  assert_true(fx->nres < MAX_RES);
  res_t *o = &fx->res[fx->nres++];
  memset(o, 0, sizeof(*o));
  o->err = r->err;
  o->status = r->http_status;
  o->attempts = r->attempts;
  o->kind = r->error->kind;
  snprintf(o->detail, sizeof(o->detail), "%s", r->detail);
  if (r->users && r->users->n)
    snprintf(o->first, sizeof(o->first), "%s", r->users->v[0].id);
  if (r->clip)
    snprintf(o->first, sizeof(o->first), "%s", r->clip->id);
  if (r->chat)
    o->is_sent = r->chat->is_sent;
}

static int enough(void *arg) {
  fx_t *fx = arg;
  return fx->nres >= fx->want;
}

static void wait_results(fx_t *fx, size_t n) {
  fx->want = n;
  assert_true(
      tw_test_run_until(&fx->sf->loop, enough, fx, TW_TEST_WATCHDOG_MS));
}

static int make_client(fx_t *fx, const char *ca_file) {
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.base_url = fx->base;
  o.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  o.ca_file = ca_file;
  o.tokens = tt_source(fx->tt);
  o.backoff_base_ms = 5;
  o.backoff_cap_ms = 20;
  o.clip_poll_ms = 50;
  return tw_helix_client_new(&fx->sf->loop, fx->sf->uc, &o, &fx->hc);
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  fx->sf = tw_simfx_new(NULL);
  assert_non_null(fx->sf);
  snprintf(fx->base, sizeof(fx->base), "https://127.0.0.1:%u/helix",
           (unsigned)fx->sf->api_port);
  tw_sim_user_t u;
  memset(&u, 0, sizeof(u));
  u.login = "chan";
  u.user_id = "4242";
  assert_int_equal(tw_sim_add_user(fx->sf->sim, &u), 0);
  u.login = "baduser";
  u.user_id = "1001";
  assert_int_equal(tw_sim_add_user(fx->sf->sim, &u), 0);
  tw_sim_room_t room;
  memset(&room, 0, sizeof(room));
  room.name = "chan";
  assert_int_equal(tw_sim_add_room(fx->sf->sim, &room), 0);
  assert_int_equal(
      tw_sim_add_token(fx->sf->sim, "tokviewer-SECRET-1", "viewer", 0), 0);
  fx->scopes = ALL_SCOPES;
  assert_int_equal(add_token(fx, BOT_TOKEN), 0);
  fx->tt = tt_new(&fx->sf->loop, BOT_TOKEN, "4242", mint, fx);
  fx->log = open_memstream(&fx->logbuf, &fx->loglen);
  tw_log_set_output(fx->log);
  tw_log_set_level(TW_LOG_TRACE);
  *state = fx;
  return 0;
}

static void flag(void *arg) {
  *(int *)arg = 1;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  if (fx->hc) {
    int done = 0;
    tw_helix_client_close(fx->hc, flag, &done);
    assert_true(tw_test_run_flag(&fx->sf->loop, &done));
  }
  tt_free(fx->tt);
  assert_int_equal(tw_simfx_free(fx->sf), 0);
  tw_log_set_output(NULL);
  tw_log_set_level(TW_LOG_INFO);
  fclose(fx->log);
  assert_null(strstr(fx->logbuf, "SECRET"));
  free(fx->logbuf);
  free(fx);
  return 0;
}

/* Verification is always on: with the simulator's CA as the extra anchor
 * the request goes through (and reaches the Helix side); without it, the
 * self-signed chain is refused with TW_ECERT, and never retried. */
static void test_tls_anchor(void **state) {
  fx_t *fx = *state;
  assert_int_equal(make_client(fx, NULL), 0);
  const char *logins[] = {"chan"};
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, logins, 1, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_ECERT);
  assert_int_equal(fx->res[0].attempts, 1);
  assert_int_equal(tw_sim_api_last_seq(fx->sf->sim), 0);
  int done = 0;
  tw_helix_client_close(fx->hc, flag, &done);
  assert_true(tw_test_run_flag(&fx->sf->loop, &done));
  fx->hc = NULL;

  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, logins, 1, on_res, fx, NULL), 0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, 0);
  assert_int_equal(fx->res[1].status, 200);
  assert_string_equal(fx->res[1].first, "4242");
  assert_true(tw_sim_api_last_seq(fx->sf->sim) >= 1);
}

/* ---- forced answers and read-back --------------------------------------- */

typedef struct {
  char path[64];
  unsigned status;
  int forced;
  char auth[160];
  uint64_t wall_ms; /* when the simulator answered, on our wall clock */
} seen_t;

static seen_t seen[64];
static size_t nseen;

static void observe(void *ud, const tw_sim_event_t *ev) {
  (void)ud;
  if (ev->kind != TW_SIM_EV_API || nseen >= 64)
    return;
  seen_t *s = &seen[nseen++];
  snprintf(s->path, sizeof(s->path), "%s", ev->api->path);
  s->status = ev->api->status;
  s->forced = ev->api->forced;
  snprintf(s->auth, sizeof(s->auth), "%s",
           ev->api->authorization ? ev->api->authorization : "");
  s->wall_ms = tw_wall_ms();
}

static size_t seen_path(const char *path) {
  size_t n = 0;
  for (size_t i = 0; i < nseen; i++)
    n += strcmp(seen[i].path, path) == 0;
  return n;
}

static void start_observing(fx_t *fx) {
  nseen = 0;
  tw_sim_set_observer(fx->sf->sim, observe, NULL);
}

/* A 401 (forced, "Invalid OAuth token"): the source mints a new token
 * (registered with the simulator), and the request goes once more with
 * it. */
static void test_forced_401_refresh(void **state) {
  fx_t *fx = *state;
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  start_observing(fx);
  assert_int_equal(tw_sim_api_force(fx->sf->sim, "/helix/users", 401, 1, NULL),
                   0);
  const char *logins[] = {"chan"};
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, logins, 1, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].attempts, 2);
  assert_int_equal(tt_refreshes(fx->tt), 1);
  assert_int_equal(seen_path("/helix/users"), 2);
  assert_int_equal(seen[0].status, 401);
  assert_string_equal(seen[0].auth, "Bearer " BOT_TOKEN);
  assert_string_equal(seen[1].auth, "Bearer simbot-tok-SECRET-minted-000001");
}

/* 5xx: Get Users is sent again (three times for two 500s); Ban User and
 * Send Chat Message once only. */
static void test_forced_5xx(void **state) {
  fx_t *fx = *state;
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  start_observing(fx);
  tw_sim_api_force(fx->sf->sim, "/helix/users", 500, 2, NULL);
  tw_sim_api_force(fx->sf->sim, "/helix/moderation/bans", 500, 5, NULL);
  tw_sim_api_force(fx->sf->sim, "/helix/chat/messages", 503, 5, NULL);
  const char *logins[] = {"chan"};
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, logins, 1, on_res, fx, NULL), 0);
  assert_int_equal(
      tw_helix_ban(fx->hc, "4242", NULL, "1001", 60, NULL, on_res, fx, NULL),
      0);
  assert_int_equal(
      tw_helix_send_chat(fx->hc, "4242", NULL, "hi", NULL, on_res, fx, NULL),
      0);
  wait_results(fx, 3);
  assert_int_equal(seen_path("/helix/users"), 3);
  assert_int_equal(seen_path("/helix/moderation/bans"), 1);
  assert_int_equal(seen_path("/helix/chat/messages"), 1);
  for (size_t i = 0; i < 3; i++) {
    if (fx->res[i].attempts == 3) { /* the Get Users */
      assert_int_equal(fx->res[i].err, 0);
      assert_string_equal(fx->res[i].first, "4242");
      continue;
    }
    assert_int_equal(fx->res[i].err, TW_EHTTP);
    assert_int_equal(fx->res[i].kind, TW_HELIX_ERR_SERVER);
    assert_int_equal(fx->res[i].attempts, 1);
  }
}

/* 429 (forced: Ratelimit-Remaining 0 and a Ratelimit-Reset): nothing is
 * sent again before the reset. */
static void test_forced_429(void **state) {
  fx_t *fx = *state;
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  start_observing(fx);
  tw_sim_api_force(fx->sf->sim, "/helix/users", 429, 1, NULL);
  const char *logins[] = {"chan"};
  assert_int_equal(
      tw_helix_get_users(fx->hc, NULL, 0, logins, 1, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].attempts, 2);
  assert_int_equal(nseen, 2);
  assert_int_equal(seen[0].status, 429);
  /* The simulator's reset is at most the next whole second after the 429
   * (its bucket for forced answers is full). */
  uint64_t reset_ms = (seen[0].wall_ms + 999) / 1000 * 1000;
  assert_true(seen[1].wall_ms >= reset_ms);
}

/* ---- effects through the simulator ------------------------------------- */

static void on_act(const tw_twitch_action_result_t *r, void *arg) {
  fx_t *fx = arg;
  assert_true(fx->nres < MAX_RES);
  res_t *o = &fx->res[fx->nres++];
  memset(o, 0, sizeof(*o));
  o->err = r->err;
  o->status = r->http_status;
  o->kind = r->error->kind;
  snprintf(o->detail, sizeof(o->detail), "%s", r->detail);
}

/* A Helix GET made by the test itself (not the client), JSON answer. */
static json_t *sim_get(fx_t *fx, const char *path_query) {
  tw_simresp_t r;
  assert_int_equal(tw_simfx_helix(fx->sf, "GET", path_query, BOT_TOKEN,
                                  TW_SIM_DEFAULT_CLIENT_ID, NULL, &r),
                   0);
  assert_int_equal(r.status, 200);
  json_t *j = json_incref(r.json);
  tw_simresp_free(&r);
  return j;
}

typedef struct {
  const char *query;
  size_t n;
} count_ctx_t;

static int count_query(void *ud, const tw_sim_api_req_t *req) {
  count_ctx_t *c = ud;
  if (strcmp(req->query, c->query) == 0)
    c->n++;
  return 0;
}

static int count_query_all(void *ud, const tw_sim_api_req_t *req) {
  (void)ud;
  (void)req;
  return 0;
}

static size_t users_queries(fx_t *fx, const char *query) {
  count_ctx_t c = {query, 0};
  tw_sim_api_foreach(fx->sf->sim, 0, "/helix/users", count_query, &c);
  return c.n;
}

static tw_twitch_actions_t *make_actions(fx_t *fx) {
  const char *channels[] = {"chan"};
  tw_twitch_actions_opts_t ao;
  memset(&ao, 0, sizeof(ao));
  ao.channels = channels;
  ao.nchannels = 1;
  ao.send_chat_via_helix = true;
  tw_twitch_actions_t *a = NULL;
  assert_int_equal(tw_twitch_actions_new(&fx->sf->loop, fx->hc, &ao, &a), 0);
  return a;
}

static void close_actions(fx_t *fx, tw_twitch_actions_t *a) {
  int done = 0;
  tw_twitch_actions_close(a, flag, &done);
  assert_true(tw_test_run_flag(&fx->sf->loop, &done));
}

static void act(fx_t *fx, tw_twitch_actions_t *a, tw_event_t *ev) {
  size_t before = fx->nres;
  assert_int_equal(tw_twitch_actions_do(a, ev, on_act, fx), 0);
  tw_event_free(ev);
  wait_results(fx, before + 1);
}

/* Every action end to end, its effect read back from the simulator: the
 * title changed, the ban listed (and one Get Users for two bans of one
 * login), the message gone from chat, the clip listed, the chat message
 * relayed into the room. */
static void test_actions_effects(void **state) {
  fx_t *fx = *state;
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  tw_twitch_actions_t *a = make_actions(fx);
  tw_simirc_t *watch = tw_simirc_login(fx->sf, "tokviewer-SECRET-1", "viewer");
  assert_true(tw_simirc_ok(watch));
  tw_simirc_send(watch, "JOIN #chan");
  assert_non_null(tw_simirc_wait(watch, "USERSTATE #chan"));

  /* UpdateTitle */
  tw_event_t *ev = tw_event_new(TW_EVENT_UPDATE_TITLE);
  tw_event_set_str(ev, "status", "Speedrunning twitchd");
  act(fx, a, ev);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].status, 204);
  json_t *j = sim_get(fx, "/helix/channels?broadcaster_id=4242");
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(json_object_get(j, "data"), 0), "title")),
      "Speedrunning twitchd");
  json_decref(j);

  /* BanUser (timeout), unban, BanUser (ban): one Get Users for baduser */
  ev = tw_event_new(TW_EVENT_BAN_USER);
  tw_event_set_str(ev, "user", "baduser");
  tw_event_set_int(ev, "duration", 300);
  tw_event_set_str(ev, "reason", "spam");
  tw_event_set_str(ev, "target", "#chan");
  act(fx, a, ev);
  assert_int_equal(fx->res[1].err, 0);
  assert_non_null(tw_simirc_wait(watch, "@ban-duration=300;"));
  j = sim_get(fx, "/helix/moderation/banned?broadcaster_id=4242");
  json_t *b0 = json_array_get(json_object_get(j, "data"), 0);
  assert_string_equal(json_string_value(json_object_get(b0, "user_id")),
                      "1001");
  assert_string_equal(json_string_value(json_object_get(b0, "reason")), "spam");
  json_decref(j);
  assert_int_equal(
      tw_helix_unban(fx->hc, "4242", NULL, "1001", on_res, fx, NULL), 0);
  wait_results(fx, 3);
  assert_int_equal(fx->res[2].err, 0);
  ev = tw_event_new(TW_EVENT_BAN_USER);
  tw_event_set_str(ev, "user", "BadUser");
  act(fx, a, ev);
  assert_int_equal(fx->res[3].err, 0);
  assert_non_null(tw_simirc_wait(watch, "CLEARCHAT #chan :baduser"));
  assert_int_equal(users_queries(fx, "login=baduser"), 1);
  assert_int_equal(users_queries(fx, "login=chan"), 1);

  /* DeleteMessage: gone from chat; deleting it again is "not found" */
  char mid[TW_SIM_MSG_ID_SIZE];
  assert_true(
      tw_sim_say(fx->sf->sim, "chan", "viewer", "delete me", NULL, mid) > 0);
  ev = tw_event_new(TW_EVENT_DELETE_MESSAGE);
  tw_event_set_str(ev, "id", mid);
  act(fx, a, ev);
  assert_int_equal(fx->res[4].err, 0);
  const char *line = tw_simirc_wait(watch, "CLEARMSG #chan :delete me");
  assert_non_null(line);
  assert_non_null(strstr(line, mid));
  ev = tw_event_new(TW_EVENT_DELETE_MESSAGE);
  tw_event_set_str(ev, "id", mid);
  act(fx, a, ev);
  assert_int_equal(fx->res[5].err, TW_ENOTFOUND);
  assert_int_equal(fx->res[5].status, 404);

  /* CreateClip: offline first (404), then live: confirmed by Get Clips */
  ev = tw_event_new(TW_EVENT_CREATE_CLIP);
  act(fx, a, ev);
  assert_int_equal(fx->res[6].err, TW_ENOTFOUND);
  assert_non_null(strstr(fx->res[6].detail, "offline"));
  tw_sim_stream_t st;
  memset(&st, 0, sizeof(st));
  st.live = 1;
  st.viewer_count = 3;
  assert_int_equal(tw_sim_set_stream(fx->sf->sim, "chan", &st), 0);
  ev = tw_event_new(TW_EVENT_CREATE_CLIP);
  act(fx, a, ev);
  assert_int_equal(fx->res[7].err, 0);
  char clip[128];
  assert_int_equal(sscanf(fx->res[7].detail, "clip %127s", clip), 1);
  char q[256];
  snprintf(q, sizeof(q), "/helix/clips?id=%s", clip);
  j = sim_get(fx, q);
  assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
  json_decref(j);

  /* Message via Helix: relayed into the room */
  ev = tw_event_new(TW_EVENT_MESSAGE);
  tw_event_set_str(ev, "text", "hello from twitchd");
  act(fx, a, ev);
  assert_int_equal(fx->res[8].err, 0);
  assert_non_null(tw_simirc_wait(watch, "PRIVMSG #chan :hello from twitchd"));
  /* the same text again at once: Twitch drops it as a duplicate */
  ev = tw_event_new(TW_EVENT_MESSAGE);
  tw_event_set_str(ev, "text", "hello from twitchd");
  act(fx, a, ev);
  assert_int_equal(fx->res[9].err, TW_EEXIST);
  assert_non_null(strstr(fx->res[9].detail, "msg_duplicate"));

  /* Over 500 characters: split at word boundaries into several Send Chat
   * Message calls, as chat does on IRC (Twitch answers 422 otherwise); a
   * line break becomes a space (Twitch refuses line breaks). */
  char longtext[1300];
  size_t off = 0;
  for (int i = 0; off + 16 < 1200; i++)
    off += (size_t)snprintf(longtext + off, sizeof(longtext) - off,
                            "word%04d %s", i, i == 3 ? "\n" : "");
  ev = tw_event_new(TW_EVENT_MESSAGE);
  tw_event_set_str(ev, "text", longtext);
  act(fx, a, ev);
  assert_int_equal(fx->res[10].err, 0);
  assert_non_null(strstr(fx->res[10].detail, "sent in 3 parts"));
  assert_non_null(tw_simirc_wait(watch, "PRIVMSG #chan :word0000 word0001"));
  const char *l2 = tw_simirc_wait(watch, "PRIVMSG #chan :word");
  assert_non_null(l2);
  const char *l3 = tw_simirc_wait(watch, "PRIVMSG #chan :word");
  assert_non_null(l3);
  const char *text3 = strstr(l3, " :word");
  assert_non_null(text3);
  assert_true(strlen(text3 + 2) <= 500);

  tw_simirc_close(watch);
  close_actions(fx, a);
}

/* Typed errors from the simulator's checks: a token without the scope, a
 * user who is not a moderator, a message id that does not exist. */
static void test_sim_typed_errors(void **state) {
  fx_t *fx = *state;
  fx->scopes = "chat:read chat:edit";
  assert_int_equal(add_token(fx, BOT_TOKEN), 0); /* same token, fewer scopes */
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  assert_int_equal(
      tw_helix_ban(fx->hc, "4242", NULL, "1001", 0, NULL, on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, TW_ESCOPE);
  assert_int_equal(fx->res[0].kind, TW_HELIX_ERR_MISSING_SCOPE);
  assert_non_null(strstr(fx->res[0].detail, "moderator:manage:banned_users"));
  assert_int_equal(tt_refreshes(fx->tt), 0);

  /* a user with every scope who is not a moderator of #chan */
  tw_sim_user_t u;
  memset(&u, 0, sizeof(u));
  u.login = "otherbot";
  u.user_id = "3003";
  assert_int_equal(tw_sim_add_user(fx->sf->sim, &u), 0);
  tw_sim_token_t t;
  memset(&t, 0, sizeof(t));
  t.token = "otherbot-tok-SECRET-1";
  t.login = "otherbot";
  t.scopes = ALL_SCOPES;
  assert_int_equal(tw_sim_add_token_ex(fx->sf->sim, &t), 0);
  int done = 0;
  tw_helix_client_close(fx->hc, flag, &done);
  assert_true(tw_test_run_flag(&fx->sf->loop, &done));
  fx->hc = NULL;
  tt_free(fx->tt);
  fx->tt = tt_new(&fx->sf->loop, "otherbot-tok-SECRET-1", "3003", mint, fx);
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  assert_int_equal(
      tw_helix_ban(fx->hc, "4242", NULL, "1001", 0, NULL, on_res, fx, NULL), 0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, TW_EFORBIDDEN);
  assert_int_equal(fx->res[1].status, 403);
  /* made a moderator, the same call works */
  assert_int_equal(
      tw_sim_set_role(fx->sf->sim, "chan", "otherbot", TW_SIM_ROLE_MOD), 0);
  assert_int_equal(tw_helix_delete_messages(fx->hc, "4242", NULL,
                                            "00000000-0000-0000-0000-"
                                            "000000000000",
                                            on_res, fx, NULL),
                   0);
  wait_results(fx, 3);
  assert_int_equal(fx->res[2].err, TW_ENOTFOUND);
  assert_int_equal(fx->res[2].kind, TW_HELIX_ERR_NOT_FOUND);
}

/* An expired token: the simulator answers 401, the source mints a new one,
 * the request is sent again and takes effect. */
static void test_expired_token(void **state) {
  fx_t *fx = *state;
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  assert_int_equal(tw_sim_expire_token(fx->sf->sim, BOT_TOKEN), 0);
  assert_int_equal(
      tw_helix_set_title(fx->hc, "4242", "after refresh", on_res, fx, NULL), 0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[0].attempts, 2);
  assert_int_equal(tt_refreshes(fx->tt), 1);
  tw_sim_api_counters_t c;
  tw_sim_api_counters(fx->sf->sim, &c);
  assert_int_equal(c.unauthorized, 1);
  json_t *j = NULL;
  /* read back with the new token */
  tw_simresp_t r;
  assert_int_equal(
      tw_simfx_helix(fx->sf, "GET", "/helix/channels?broadcaster_id=4242",
                     tt_current(fx->tt), TW_SIM_DEFAULT_CLIENT_ID, NULL, &r),
      0);
  j = json_array_get(json_object_get(r.json, "data"), 0);
  assert_string_equal(json_string_value(json_object_get(j, "title")),
                      "after refresh");
  tw_simresp_free(&r);
}

static size_t nsubs;
static char sub_id[128];
static void on_subs(tw_helix_client_t *c, const tw_helix_result_t *r,
                    void *arg) {
  nsubs = r->subs ? r->subs->n : 0;
  if (r->subs && r->subs->n)
    snprintf(sub_id, sizeof(sub_id), "%s", r->subs->v[0].id);
  on_res(c, r, arg);
}

/* The other convenience calls against the simulator: streams, an
 * announcement seen in chat, a shoutout while live, EventSub subscription
 * create, list and delete. */
static void test_sim_other_calls(void **state) {
  fx_t *fx = *state;
  assert_int_equal(make_client(fx, tw_sim_ca_file(fx->sf->sim)), 0);
  tw_simirc_t *watch = tw_simirc_login(fx->sf, "tokviewer-SECRET-1", "viewer");
  assert_true(tw_simirc_ok(watch));
  tw_simirc_send(watch, "JOIN #chan");
  assert_non_null(tw_simirc_wait(watch, "USERSTATE #chan"));
  tw_sim_stream_t st;
  memset(&st, 0, sizeof(st));
  st.live = 1;
  st.viewer_count = 5;
  st.title = "live now";
  assert_int_equal(tw_sim_set_stream(fx->sf->sim, "chan", &st), 0);
  tw_sim_user_t u;
  memset(&u, 0, sizeof(u));
  u.login = "friend";
  u.user_id = "7007";
  assert_int_equal(tw_sim_add_user(fx->sf->sim, &u), 0);

  const char *logins[] = {"chan"};
  assert_int_equal(tw_helix_get_streams(fx->hc, NULL, 0, logins, 1, true, 0,
                                        NULL, on_res, fx, NULL),
                   0);
  wait_results(fx, 1);
  assert_int_equal(fx->res[0].err, 0);

  assert_int_equal(tw_helix_announce(fx->hc, "4242", NULL, "Hello chat!",
                                     "blue", on_res, fx, NULL),
                   0);
  wait_results(fx, 2);
  assert_int_equal(fx->res[1].err, 0);
  assert_int_equal(fx->res[1].status, 204);
  const char *line = tw_simirc_wait(watch, "USERNOTICE #chan :Hello chat!");
  assert_non_null(line);
  assert_non_null(strstr(line, "msg-param-color=BLUE"));

  assert_int_equal(
      tw_helix_shoutout(fx->hc, "4242", "7007", NULL, on_res, fx, NULL), 0);
  wait_results(fx, 3);
  assert_int_equal(fx->res[2].err, 0);
  assert_int_equal(fx->res[2].status, 204);

  tw_helix_kv_t cond[] = {{"broadcaster_user_id", "4242"},
                          {"moderator_user_id", "4242"}};
  tw_helix_sub_spec_t spec;
  memset(&spec, 0, sizeof(spec));
  spec.type = "channel.follow";
  spec.version = "2";
  spec.condition = cond;
  spec.ncondition = 2;
  spec.method = TW_HELIX_TRANSPORT_WEBSOCKET;
  spec.session_id = "AQoQexAWVYKSTIu4ec_2VAxyuhAB";
  assert_int_equal(tw_helix_eventsub_create(fx->hc, &spec, on_subs, fx, NULL),
                   0);
  wait_results(fx, 4);
  assert_int_equal(fx->res[3].err, 0);
  assert_int_equal(fx->res[3].status, 202);
  assert_int_equal(nsubs, 1);
  /* the same again: 409, already exists */
  assert_int_equal(tw_helix_eventsub_create(fx->hc, &spec, on_subs, fx, NULL),
                   0);
  wait_results(fx, 5);
  assert_int_equal(fx->res[4].err, TW_EEXIST);
  assert_int_equal(tw_helix_eventsub_list(fx->hc, TW_HELIX_SUBS_ALL, NULL, NULL,
                                          on_subs, fx, NULL),
                   0);
  wait_results(fx, 6);
  assert_int_equal(nsubs, 1);
  char id[128];
  snprintf(id, sizeof(id), "%s", sub_id);
  assert_int_equal(tw_helix_eventsub_delete(fx->hc, id, on_res, fx, NULL), 0);
  wait_results(fx, 7);
  assert_int_equal(fx->res[6].status, 204);
  assert_int_equal(tw_helix_eventsub_list(fx->hc, TW_HELIX_SUBS_ALL, NULL, NULL,
                                          on_subs, fx, NULL),
                   0);
  wait_results(fx, 8);
  assert_int_equal(nsubs, 0);
  tw_simirc_close(watch);
}

/* The queue is bounded: with room for two calls, a third is refused with
 * TW_EFULL and nothing of it reaches the simulator; the two go through. */
static void test_sim_queue_full(void **state) {
  fx_t *fx = *state;
  tw_helix_client_opts_t o;
  memset(&o, 0, sizeof(o));
  o.base_url = fx->base;
  o.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  o.ca_file = tw_sim_ca_file(fx->sf->sim);
  o.tokens = tt_source(fx->tt);
  o.max_queue = 2;
  assert_int_equal(tw_helix_client_new(&fx->sf->loop, fx->sf->uc, &o, &fx->hc),
                   0);
  assert_int_equal(tw_helix_set_title(fx->hc, "4242", "one", on_res, fx, NULL),
                   0);
  assert_int_equal(tw_helix_set_title(fx->hc, "4242", "two", on_res, fx, NULL),
                   0);
  assert_int_equal(
      tw_helix_set_title(fx->hc, "4242", "three", on_res, fx, NULL), TW_EFULL);
  wait_results(fx, 2);
  assert_int_equal(fx->res[0].err, 0);
  assert_int_equal(fx->res[1].err, 0);
  assert_int_equal(tw_sim_api_foreach(fx->sf->sim, 0, "/helix/channels",
                                      count_query_all, NULL),
                   2);
}

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tls_anchor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forced_401_refresh, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forced_5xx, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forced_429, setup, teardown),
      cmocka_unit_test_setup_teardown(test_actions_effects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sim_typed_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expired_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sim_queue_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sim_other_calls, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
