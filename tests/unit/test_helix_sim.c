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

#include "twitchd/clock.h"
#include "twitchd/error.h"
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
  "moderator:manage:announcements moderator:manage:shoutouts"

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
  assert_true(fx->res[1].status > 0); /* an HTTP answer came */
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
    if (fx->res[i].attempts == 3)
      continue; /* the Get Users */
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
  assert_int_equal(fx->res[0].attempts, 2);
  assert_int_equal(nseen, 2);
  assert_int_equal(seen[0].status, 429);
  /* The simulator's reset is at most the next whole second after the 429
   * (its bucket for forced answers is full). */
  uint64_t reset_ms = (seen[0].wall_ms + 999) / 1000 * 1000;
  assert_true(seen[1].wall_ms >= reset_ms);
}

int main(void) {
  tw_test_log_from_env();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tls_anchor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forced_401_refresh, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forced_5xx, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forced_429, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
