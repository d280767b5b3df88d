/* The chat client bound to the credentials manager (tw_creds_chat_*),
 * against the simulator (chat over TLS and its OAuth host): the token is
 * expired at "Twitch" and the connection dropped; the reconnect's login is
 * refused, the chat asks for a token, one refresh happens and the chat
 * logs in again with the new token (anchors.md section 6, item 1). Then the
 * refresh token dies: the chat stops (no hot loop) and the manager says
 * "needs auth". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "twitchd/chat.h"
#include "twitchd/creds.h"
#include "twitchd/error.h"
#include "twitchd/oauth.h"
#include "twitchd/sim.h"

#define ROOM "somechan"

typedef struct {
  tw_simfx_t *sim;
  char base[128], url[128];
  char dir[256], file[300];
  tw_creds_t *creds;
  tw_chat_t *chat;
  int creds_closed, chat_closed;
  int user_tokens;
  int refresh_calls;
  int stopped;
  int stopped_err;
  int events;
} fx_t;

static void on_event(tw_event_t *ev, void *ud) {
  ((fx_t *)ud)->events++;
  tw_event_free(ev);
}

static void on_change(void *arg, tw_creds_t *c, tw_creds_change_t what,
                      const char *token, const char *reason) {
  (void)c;
  (void)token;
  (void)reason;
  if (what == TW_CREDS_USER_TOKEN)
    ((fx_t *)arg)->user_tokens++;
}

static void on_chat_event(tw_chat_t *c, tw_event_t *ev, void *ud) {
  (void)c;
  (void)ud;
  tw_event_free(ev);
}

static void on_status(tw_chat_t *c, const tw_chat_status_t *st, void *ud) {
  (void)c;
  fx_t *fx = ud;
  if (st->kind == TW_CHAT_STATUS_STOPPED) {
    fx->stopped++;
    fx->stopped_err = st->err;
  }
}

static void on_refresh(tw_chat_t *c, void *ud) {
  fx_t *fx = ud;
  fx->refresh_calls++;
  tw_creds_chat_refresh(fx->creds, c);
}

static void on_chat_closed(tw_chat_t *c, void *ud) {
  (void)c;
  ((fx_t *)ud)->chat_closed = 1;
}

static void on_creds_closed(void *ud) {
  ((fx_t *)ud)->creds_closed = 1;
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  tw_sim_opts_t o = {0};
  o.listeners = TW_SIM_LISTEN_API | TW_SIM_LISTEN_IRCS;
  o.seed = 7;
  fx->sim = tw_simfx_new(&o);
  assert_non_null(fx->sim);
  tw_sim_room_t room = {0};
  room.name = ROOM;
  assert_int_equal(tw_sim_add_room(fx->sim->sim, &room), 0);
  snprintf(fx->base, sizeof(fx->base), "https://127.0.0.1:%u/oauth2",
           (unsigned)fx->sim->api_port);
  snprintf(fx->url, sizeof(fx->url), "ircs://127.0.0.1:%u",
           (unsigned)tw_sim_port(fx->sim->sim, TW_SIM_LISTEN_IRCS));
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->dir, sizeof(fx->dir), "%s/twcchat-XXXXXX", tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(fx->dir));
  snprintf(fx->file, sizeof(fx->file), "%s/tokens.json", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  if (fx->chat) {
    tw_creds_chat_detach(fx->creds, fx->chat);
    tw_chat_close(fx->chat);
    assert_true(tw_test_run_flag(&fx->sim->loop, &fx->chat_closed));
    tw_chat_free(fx->chat);
  }
  if (fx->creds) {
    tw_creds_close(fx->creds, on_creds_closed, fx);
    assert_true(tw_test_run_flag(&fx->sim->loop, &fx->creds_closed));
  }
  assert_int_equal(tw_simfx_free(fx->sim), 0);
  unlink(fx->file);
  rmdir(fx->dir);
  free(fx);
  return 0;
}

static int is_ready(void *arg) {
  fx_t *fx = arg;
  return tw_creds_state(fx->creds) == TW_CREDS_READY &&
         tw_creds_login(fx->creds) != NULL;
}

static int chat_ready(void *arg) {
  fx_t *fx = arg;
  return tw_chat_is_ready(fx->chat) && tw_chat_is_joined(fx->chat, ROOM);
}

static int relogged(void *arg) {
  fx_t *fx = arg;
  return fx->user_tokens >= 2 && chat_ready(arg);
}

typedef struct {
  const char *needle;
  int n;
} count_t;

static int count_cb(void *ud, const tw_sim_api_req_t *req) {
  count_t *c = ud;
  if (req->body && strstr(req->body, c->needle))
    c->n++;
  return 0;
}

static int refreshes(fx_t *fx) {
  count_t c = {"grant_type=refresh_token", 0};
  tw_sim_api_foreach(fx->sim->sim, 0, "/oauth2/token", count_cb, &c);
  return c.n;
}

static void get_code(fx_t *fx, char *code, size_t cap) {
  tw_simresp_t r;
  assert_int_equal(
      tw_simfx_api(
          fx->sim, "GET",
          "/oauth2/"
          "authorize?response_type=code&client_id=" TW_SIM_DEFAULT_CLIENT_ID
          "&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&scope=chat%3Aread+"
          "chat%3Aedit&state=0123456789abcdef0123",
          NULL, NULL, &r),
      0);
  assert_int_equal(r.status, 302);
  tw_oauth_redirect_t rd;
  assert_int_equal(tw_oauth_parse_redirect(r.location, strlen(r.location), &rd),
                   0);
  snprintf(code, cap, "%s", rd.code);
  tw_oauth_redirect_clear(&rd);
  tw_simresp_free(&r);
}

static int stopped(void *arg) {
  return ((fx_t *)arg)->stopped > 0;
}

static void test_relogin_with_refreshed_token(void **state) {
  fx_t *fx = *state;
  char code[256];
  get_code(fx, code, sizeof(code));
  tw_creds_opts_t co;
  tw_creds_opts_default(&co);
  co.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  co.client_secret = TW_SIM_DEFAULT_CLIENT_SECRET;
  co.code = code;
  co.redirect_uri = "http://localhost/cb";
  co.oauth_base = fx->base;
  co.ca_file = tw_sim_ca_file(fx->sim->sim);
  co.token_file = fx->file;
  co.on_event = on_event;
  co.ud = fx;
  co.min_renew_gap_ms = 1;
  assert_int_equal(tw_creds_new(&fx->sim->loop, &co, &fx->creds), 0);
  assert_int_equal(tw_creds_subscribe(fx->creds, on_change, fx), 0);
  assert_int_equal(tw_creds_start(fx->creds), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, is_ready, fx, 10000));

  static const char *const chans[] = {"#" ROOM};
  tw_chat_opts_t o;
  tw_chat_opts_default(&o);
  o.url = fx->url;
  o.ca_file = tw_sim_ca_file(fx->sim->sim);
  o.login = tw_creds_login(fx->creds);
  o.token = tw_creds_user_token(fx->creds);
  o.channels = chans;
  o.nchannels = 1;
  o.backoff_base_ms = 20;
  o.backoff_cap_ms = 100;
  tw_chat_cb_t cb = {on_chat_event, NULL, on_status, on_refresh,
                     on_chat_closed};
  assert_int_equal(tw_chat_new(&fx->sim->loop, &o, &cb, fx, &fx->chat), 0);
  assert_int_equal(tw_creds_chat_attach(fx->creds, fx->chat), 0);
  assert_int_equal(tw_chat_start(fx->chat), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, chat_ready, fx, 10000));

  /* Twitch expires the token early and the connection drops. */
  assert_int_equal(
      tw_sim_expire_token(fx->sim->sim, tw_creds_user_token(fx->creds)), 0);
  assert_int_equal(tw_sim_drop(fx->sim->sim, 0), 1);
  assert_true(tw_test_run_until(&fx->sim->loop, relogged, fx, 15000));
  assert_true(fx->refresh_calls >= 1);
  assert_int_equal(refreshes(fx), 1);
  assert_int_equal(fx->stopped, 0);

  /* Now the refresh token dies too (spent elsewhere): the next refused
   * login ends in "needs auth", the chat stops, nothing loops. */
  tw_sim_api_force(fx->sim->sim, "/oauth2/token", 400, 1,
                   "Invalid refresh token");
  assert_int_equal(
      tw_sim_expire_token(fx->sim->sim, tw_creds_user_token(fx->creds)), 0);
  assert_int_equal(tw_sim_drop(fx->sim->sim, 0), 1);
  assert_true(tw_test_run_until(&fx->sim->loop, stopped, fx, 15000));
  assert_int_equal(fx->stopped_err, TW_EAUTH);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_NEEDS_AUTH);
  assert_int_equal(fx->events, 1);
  assert_int_equal(refreshes(fx), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_relogin_with_refreshed_token, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
