/* The credentials manager against the in-process simulator's OAuth host
 * (HTTPS with the simulator's test CA given as ca_file): what reaches
 * "Twitch" is read back from the simulator's request record. Code exchange
 * then a stored token, validation at start and on the interval (an expired
 * token found by validation is refreshed), refresh ahead of expiry, two
 * concurrent 401s making exactly one refresh request, a spent refresh
 * token (one error, one AuthRequired, no further request), 5xx retried
 * with backoff, the app token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "twitchd/clock.h"
#include "twitchd/creds.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/oauth.h"
#include "twitchd/sim.h"
#include "twitchd/token_store.h"

#define MAX_SEEN 16

typedef struct {
  tw_simfx_t *sim;
  char base[128];
  char dir[256], file[300];
  tw_creds_t *creds;
  int closed;
  int user_tokens, app_tokens, events;
  char last_user[TW_MAX_OAUTH_TOKEN + 1];
  char last_app[TW_MAX_OAUTH_TOKEN + 1];
  char reason[512];
  int answers;
  int status[MAX_SEEN];
  char token[MAX_SEEN][TW_MAX_OAUTH_TOKEN + 1];
} fx_t;

static void on_event(tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  const char *r = NULL;
  assert_int_equal(ev->kind, TW_EVENT_AUTH_REQUIRED);
  tw_event_get_str(ev, "reason", &r);
  snprintf(fx->reason, sizeof(fx->reason), "%s", r ? r : "");
  fx->events++;
  tw_event_free(ev);
}

static void on_change(void *arg, tw_creds_t *c, tw_creds_change_t what,
                      const char *token, const char *reason) {
  (void)c;
  (void)reason;
  fx_t *fx = arg;
  if (what == TW_CREDS_USER_TOKEN) {
    fx->user_tokens++;
    snprintf(fx->last_user, sizeof(fx->last_user), "%s", token);
  } else if (what == TW_CREDS_APP_TOKEN) {
    fx->app_tokens++;
    snprintf(fx->last_app, sizeof(fx->last_app), "%s", token);
  }
}

static void on_answer(void *arg, int status, const char *token) {
  fx_t *fx = arg;
  if (fx->answers < MAX_SEEN) {
    fx->status[fx->answers] = status;
    snprintf(fx->token[fx->answers], sizeof(fx->token[0]), "%s",
             token ? token : "");
  }
  fx->answers++;
}

static int setup_with(void **state, const tw_sim_opts_t *o) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  fx->sim = tw_simfx_new(o);
  assert_non_null(fx->sim);
  snprintf(fx->base, sizeof(fx->base), "https://127.0.0.1:%u/oauth2",
           (unsigned)fx->sim->api_port);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->dir, sizeof(fx->dir), "%s/twcsim-XXXXXX", tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(fx->dir));
  snprintf(fx->file, sizeof(fx->file), "%s/tokens.json", fx->dir);
  *state = fx;
  return 0;
}

static int setup(void **state) {
  return setup_with(state, NULL);
}

static int setup_short_ttl(void **state) {
  tw_sim_opts_t o = {0};
  o.api.user_token_ttl_ms = 2000;
  return setup_with(state, &o);
}

static void on_closed(void *ud) {
  ((fx_t *)ud)->closed = 1;
}

static void close_creds(fx_t *fx) {
  if (!fx->creds)
    return;
  fx->closed = 0;
  tw_creds_close(fx->creds, on_closed, fx);
  assert_true(tw_test_run_flag(&fx->sim->loop, &fx->closed));
  fx->creds = NULL;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  close_creds(fx);
  assert_int_equal(tw_simfx_free(fx->sim), 0);
  unlink(fx->file);
  rmdir(fx->dir);
  free(fx);
  return 0;
}

static void start(fx_t *fx, const char *code, bool app, bool user,
                  uint32_t validate_ms, uint32_t margin_ms) {
  tw_creds_opts_t o;
  tw_creds_opts_default(&o);
  o.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  o.client_secret = TW_SIM_DEFAULT_CLIENT_SECRET;
  o.code = code;
  o.redirect_uri = "http://localhost/cb";
  o.oauth_base = fx->base;
  o.ca_file = tw_sim_ca_file(fx->sim->sim);
  o.token_file = fx->file;
  o.user_token = user;
  o.app_token = app;
  o.on_event = on_event;
  o.ud = fx;
  o.retry_base_ms = 5;
  o.retry_cap_ms = 40;
  o.min_renew_gap_ms = 1;
  o.validate_interval_ms = validate_ms;
  o.refresh_margin_ms = margin_ms;
  assert_int_equal(tw_creds_new(&fx->sim->loop, &o, &fx->creds), 0);
  assert_int_equal(tw_creds_subscribe(fx->creds, on_change, fx), 0);
  assert_int_equal(tw_creds_start(fx->creds), 0);
}

/* A fresh authorization code from the simulator's consent page. */
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
  assert_non_null(rd.code);
  snprintf(code, cap, "%s", rd.code);
  tw_oauth_redirect_clear(&rd);
  tw_simresp_free(&r);
}

typedef struct {
  const char *needle;
  int n;
} count_t;

static int count_cb(void *ud, const tw_sim_api_req_t *req) {
  count_t *c = ud;
  if (!c->needle || (req->body && strstr(req->body, c->needle)))
    c->n++;
  return 0;
}

/* Requests to `path` whose body contains `needle` (NULL: all). */
static int count(fx_t *fx, const char *path, const char *needle) {
  count_t c = {needle, 0};
  tw_sim_api_foreach(fx->sim->sim, 0, path, count_cb, &c);
  return c.n;
}

#define REFRESHES(fx) count(fx, "/oauth2/token", "grant_type=refresh_token")
#define VALIDATES(fx) count(fx, "/oauth2/validate", NULL)

static int is_ready(void *arg) {
  fx_t *fx = arg;
  return tw_creds_state(fx->creds) == TW_CREDS_READY &&
         tw_creds_login(fx->creds) != NULL;
}

static void become_ready(fx_t *fx, uint32_t validate_ms, uint32_t margin_ms) {
  char code[256];
  get_code(fx, code, sizeof(code));
  start(fx, code, false, true, validate_ms, margin_ms);
  assert_true(tw_test_run_until(&fx->sim->loop, is_ready, fx, 10000));
}

static void test_code_then_stored_token(void **state) {
  fx_t *fx = *state;
  become_ready(fx, 0, 0);
  assert_int_equal(count(fx, "/oauth2/token", "grant_type=authorization_code"),
                   1);
  assert_int_equal(VALIDATES(fx), 1);
  assert_string_equal(tw_creds_login(fx->creds), TW_SIM_DEFAULT_CONSENT_LOGIN);
  tw_sim_token_info_t info;
  assert_int_equal(tw_sim_token_info(fx->sim->sim, fx->last_user, &info), 0);
  assert_string_equal(info.login, TW_SIM_DEFAULT_CONSENT_LOGIN);
  /* Restart: the stored token is used and validated; the code is not
   * sent again. */
  close_creds(fx);
  fx->user_tokens = 0;
  start(fx, "some-spent-code-1234", false, true, 0, 0);
  assert_true(tw_test_run_until(&fx->sim->loop, is_ready, fx, 10000));
  assert_int_equal(count(fx, "/oauth2/token", NULL), 1);
  assert_int_equal(VALIDATES(fx), 2);
  assert_int_equal(fx->user_tokens, 0);
}

static int validations_3(void *arg) {
  return VALIDATES((fx_t *)arg) >= 3;
}
static int user_tokens_2(void *arg) {
  return ((fx_t *)arg)->user_tokens >= 2;
}

static void test_periodic_validation_finds_expiry(void **state) {
  fx_t *fx = *state;
  become_ready(fx, 30, 0);
  assert_true(tw_test_run_until(&fx->sim->loop, validations_3, fx, 10000));
  assert_int_equal(REFRESHES(fx), 0);
  /* Twitch expires the token early: the next validation sees 401 and the
   * token is refreshed. */
  assert_int_equal(tw_sim_expire_token(fx->sim->sim, fx->last_user), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, user_tokens_2, fx, 10000));
  assert_int_equal(REFRESHES(fx), 1);
}

static void test_refresh_ahead_of_expiry(void **state) {
  fx_t *fx = *state;
  /* Tokens live 2 s here; with a 10 min margin the manager renews
   * half-way. */
  become_ready(fx, 0, 0);
  assert_int_equal(REFRESHES(fx), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, user_tokens_2, fx, 10000));
  assert_int_equal(REFRESHES(fx), 1);
  tw_sim_token_info_t info;
  assert_int_equal(tw_sim_token_info(fx->sim->sim, fx->last_user, &info), 0);
  assert_false(info.expired);
}

static int answers_2(void *arg) {
  return ((fx_t *)arg)->answers >= 2;
}

static void test_two_401s_one_refresh(void **state) {
  fx_t *fx = *state;
  become_ready(fx, 0, 0);
  char old[TW_MAX_OAUTH_TOKEN + 1];
  snprintf(old, sizeof(old), "%s", fx->last_user);
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_int_equal(src.refresh(src.ud, old, on_answer, fx), 0);
  assert_int_equal(src.refresh(src.ud, old, on_answer, fx), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, answers_2, fx, 10000));
  assert_int_equal(REFRESHES(fx), 1);
  assert_int_equal(fx->status[0], 0);
  assert_int_equal(fx->status[1], 0);
  assert_string_equal(fx->token[0], fx->token[1]);
  assert_string_not_equal(fx->token[0], old);
  /* The file holds the rotated refresh token: it works at the simulator
   * (the old one is dead there). */
  tw_token_store_t *st;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &st), 0);
  assert_int_equal(tw_token_store_load(st, &t), 0);
  assert_string_equal(t.access_token, fx->token[0]);
  char body[2048];
  snprintf(body, sizeof(body),
           "grant_type=refresh_token&refresh_token=%s&client_id=%s&client_"
           "secret=%s",
           t.refresh_token, TW_SIM_DEFAULT_CLIENT_ID,
           TW_SIM_DEFAULT_CLIENT_SECRET);
  tw_simresp_t r;
  const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
  assert_int_equal(tw_simfx_api(fx->sim, "POST", "/oauth2/token", h, body, &r),
                   0);
  assert_int_equal(r.status, 200);
  tw_simresp_free(&r);
  tw_token_set_clear(&t);
  tw_token_store_free(st);
}

static void on_tick(uv_timer_t *t) {
  *(int *)t->data = 1;
}

static void run_for(uv_loop_t *loop, unsigned ms) {
  uv_timer_t t;
  int done = 0;
  uv_timer_init(loop, &t);
  t.data = &done;
  uv_timer_start(&t, on_tick, ms, 0);
  while (!done)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

static void test_spent_refresh_token(void **state) {
  fx_t *fx = *state;
  become_ready(fx, 20, 0);
  /* Somebody else spends the refresh token (another copy of the bot, a
   * disconnected app...). */
  tw_token_store_t *st;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &st), 0);
  assert_int_equal(tw_token_store_load(st, &t), 0);
  char body[2048];
  snprintf(body, sizeof(body),
           "grant_type=refresh_token&refresh_token=%s&client_id=%s&client_"
           "secret=%s",
           t.refresh_token, TW_SIM_DEFAULT_CLIENT_ID,
           TW_SIM_DEFAULT_CLIENT_SECRET);
  tw_token_set_clear(&t);
  tw_token_store_free(st);
  tw_simresp_t r;
  const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
  assert_int_equal(tw_simfx_api(fx->sim, "POST", "/oauth2/token", h, body, &r),
                   0);
  assert_int_equal(r.status, 200);
  tw_simresp_free(&r);
  FILE *log = tmpfile();
  tw_log_set_output(log);
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_int_equal(src.refresh(src.ud, fx->last_user, on_answer, fx), 0);
  assert_int_equal(src.refresh(src.ud, fx->last_user, on_answer, fx), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, answers_2, fx, 10000));
  assert_int_equal(fx->status[0], TW_EAUTH);
  assert_int_equal(fx->status[1], TW_EAUTH);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_NEEDS_AUTH);
  assert_int_equal(fx->events, 1);
  assert_non_null(strstr(fx->reason, "Invalid refresh token"));
  assert_non_null(strstr(fx->reason, "twitchd auth"));
  uint64_t seq = tw_sim_api_last_seq(fx->sim->sim);
  run_for(&fx->sim->loop, 200);
  assert_int_equal(tw_sim_api_last_seq(fx->sim->sim), seq);
  assert_int_equal(src.refresh(src.ud, NULL, on_answer, fx), TW_EAUTH);
  fflush(log);
  rewind(log);
  char line[4096];
  int errors = 0;
  while (fgets(line, sizeof(line), log))
    if (strstr(line, "ERROR") && strstr(line, "creds:"))
      errors++;
  assert_int_equal(errors, 1);
  tw_log_set_output(NULL);
  fclose(log);
}

static int user_tokens_1(void *arg) {
  return ((fx_t *)arg)->user_tokens >= 1;
}

static void test_5xx_then_success(void **state) {
  fx_t *fx = *state;
  become_ready(fx, 0, 0);
  fx->user_tokens = 0;
  assert_int_equal(
      tw_sim_api_force(fx->sim->sim, "/oauth2/token", 503, 2, NULL), 0);
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_int_equal(src.refresh(src.ud, fx->last_user, on_answer, fx), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, user_tokens_1, fx, 10000));
  /* Two forced 503s, then the refresh that worked; the caller waited
   * through the blip and got the new token. */
  assert_int_equal(REFRESHES(fx), 3);
  while (fx->answers < 1)
    uv_run(&fx->sim->loop, UV_RUN_ONCE);
  assert_int_equal(fx->status[0], 0);
  assert_string_equal(fx->token[0], fx->last_user);
  tw_creds_stats_t s;
  tw_creds_stats(fx->creds, &s);
  assert_int_equal(s.retries, 2);
  assert_int_equal(fx->events, 0);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_READY);
}

static int app_1(void *arg) {
  return ((fx_t *)arg)->app_tokens >= 1;
}
static int app_2(void *arg) {
  return ((fx_t *)arg)->app_tokens >= 2;
}

static void test_app_token(void **state) {
  fx_t *fx = *state;
  start(fx, NULL, true, false, 0, 0);
  assert_true(tw_test_run_until(&fx->sim->loop, app_1, fx, 10000));
  tw_sim_token_info_t info;
  assert_int_equal(tw_sim_token_info(fx->sim->sim, fx->last_app, &info), 0);
  assert_true(info.app);
  char old[TW_MAX_OAUTH_TOKEN + 1];
  snprintf(old, sizeof(old), "%s", fx->last_app);
  tw_token_source_t src = tw_creds_app_source(fx->creds);
  assert_int_equal(src.refresh(src.ud, old, on_answer, fx), 0);
  assert_int_equal(src.refresh(src.ud, old, on_answer, fx), 0);
  assert_true(tw_test_run_until(&fx->sim->loop, app_2, fx, 10000));
  assert_true(tw_test_run_until(&fx->sim->loop, answers_2, fx, 10000));
  assert_int_equal(count(fx, "/oauth2/token", "grant_type=client_credentials"),
                   2);
  assert_string_equal(fx->token[0], fx->last_app);
  assert_string_equal(fx->token[1], fx->last_app);
  assert_int_equal(access(fx->file, F_OK), -1);
}

/* ---- kill -9 in the middle of refreshes ---------------------------------- */

static void child_answer(void *arg, int status, const char *token);

static void child_refresh(tw_creds_t *c) {
  tw_token_source_t src = tw_creds_user_source(c);
  const char *cur = src.current(src.ud);
  if (!cur || src.refresh(src.ud, cur, child_answer, c) != 0)
    _exit(3);
}

static void child_answer(void *arg, int status, const char *token) {
  (void)token;
  if (status != 0 && status != TW_EAGAIN)
    _exit(4);
  child_refresh(arg);
}

static void run_child(const char *base, const char *ca, const char *file) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    _exit(2);
  tw_log_set_level(TW_LOG_ERROR);
  tw_creds_opts_t o;
  tw_creds_opts_default(&o);
  o.client_id = TW_SIM_DEFAULT_CLIENT_ID;
  o.client_secret = TW_SIM_DEFAULT_CLIENT_SECRET;
  o.oauth_base = base;
  o.ca_file = ca;
  o.token_file = file;
  o.min_renew_gap_ms = 1;
  o.retry_base_ms = 1;
  o.retry_cap_ms = 5;
  tw_creds_t *c = NULL;
  if (tw_creds_new(&loop, &o, &c) != 0 || tw_creds_start(c) != 0)
    _exit(2);
  child_refresh(c);
  uv_run(&loop, UV_RUN_DEFAULT);
  _exit(6);
}

static int refreshes_20(void *arg) {
  return REFRESHES((fx_t *)arg) >= 20;
}

typedef struct {
  char token[TW_MAX_OAUTH_TOKEN + 1];
} last_t;

/* The refresh token the last answered refresh request spent. */
static int last_cb(void *ud, const tw_sim_api_req_t *req) {
  last_t *l = ud;
  const char *b = req->body ? strstr(req->body, "refresh_token=") : NULL;
  if (b && req->status == 200 && strstr(req->body, "grant_type=refresh")) {
    b += strlen("refresh_token=");
    size_t n = strcspn(b, "&");
    if (n < sizeof(l->token)) {
      memcpy(l->token, b, n);
      l->token[n] = '\0';
    }
  }
  return 0;
}

static void test_kill9_during_refreshes(void **state) {
  fx_t *fx = *state;
  become_ready(fx, 0, 0);
  close_creds(fx);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    run_child(fx->base, tw_sim_ca_file(fx->sim->sim), fx->file);
  assert_true(tw_test_run_until(&fx->sim->loop, refreshes_20, fx, 20000));
  /* Kill at a varying point of the child's cycle (request, answer, write),
   * not always right after an answer. */
  run_for(&fx->sim->loop, 1 + (unsigned)(tw_now_ms() % 13));
  kill(pid, SIGKILL);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st));
  /* Let the simulator finish the request the child may have left. */
  run_for(&fx->sim->loop, 50);
  tw_token_store_t *store;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &store), 0);
  assert_int_equal(tw_token_store_load(store, &t), 0);
  char body[2048];
  snprintf(body, sizeof(body),
           "grant_type=refresh_token&refresh_token=%s&client_id=%s&client_"
           "secret=%s",
           t.refresh_token, TW_SIM_DEFAULT_CLIENT_ID,
           TW_SIM_DEFAULT_CLIENT_SECRET);
  last_t last = {{0}};
  tw_sim_api_foreach(fx->sim->sim, 0, "/oauth2/token", last_cb, &last);
  bool spent_by_last = strcmp(last.token, t.refresh_token) == 0;
  tw_token_set_clear(&t);
  tw_token_store_free(store);
  tw_simresp_t r;
  const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
  assert_int_equal(tw_simfx_api(fx->sim, "POST", "/oauth2/token", h, body, &r),
                   0);
  long status = r.status;
  tw_simresp_free(&r);
  /* The file always loads (never half-written). Its refresh token works at
   * the simulator, unless the kill fell after the simulator answered the
   * last refresh and before the child wrote the new token: the simulator
   * spends refresh tokens on use (as Twitch does for public clients), so
   * that window cannot be closed by any client; the test tells which case
   * it saw and fails on anything else. */
  if (status != 200) {
    assert_true(spent_by_last);
    fprintf(stderr, "note: kill landed between the answer and the save\n");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_code_then_stored_token, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_periodic_validation_finds_expiry,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_ahead_of_expiry,
                                      setup_short_ttl, teardown),
      cmocka_unit_test_setup_teardown(test_two_401s_one_refresh, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_spent_refresh_token, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_5xx_then_success, setup, teardown),
      cmocka_unit_test_setup_teardown(test_app_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9_during_refreshes, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
