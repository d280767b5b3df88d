/* The credentials manager (twitchd/creds.h) against a fake of Twitch's
 * OAuth endpoints (tests/support/oauth_fake.h) on 127.0.0.1: start from a
 * stored token, exchange the configured code, validate at start and on the
 * interval, refresh ahead of expiry, single-flight on concurrent 401s, the
 * rotated refresh token on disk before anyone gets the access token, a dead
 * refresh token (one error, one AuthRequired, no more requests), retries
 * after 5xx, the app token, a kill -9 in the middle of refreshes, and no
 * token in a debug log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_test.h"
#include "oauth_fake.h"
#include "twitchd/clock.h"
#include "twitchd/creds.h"
#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/log.h"
#include "twitchd/oauth_http.h"
#include "twitchd/token_store.h"

#define MAX_SEEN 16

typedef struct {
  uv_loop_t loop;
  fake_oauth_t *fake;
  char dir[256];
  char file[300];
  tw_creds_t *creds;
  int closed;
  /* What subscribers and callbacks saw. */
  int user_tokens, app_tokens, user_dead, app_dead;
  char last_user[FAKE_TOKEN_LEN + 1];
  char last_app[FAKE_TOKEN_LEN + 1];
  int events;
  char event_reason[512];
  /* Checked at each USER_TOKEN notification: the file already holds it. */
  int file_checks, file_ok;
  /* refresh() answers. */
  int answers;
  int answer_status[MAX_SEEN];
  char answer_token[MAX_SEEN][FAKE_TOKEN_LEN + 1];
} fx_t;

static void on_event(tw_event_t *ev, void *ud) {
  fx_t *fx = ud;
  assert_int_equal(ev->kind, TW_EVENT_AUTH_REQUIRED);
  assert_string_equal(tw_event_kind_name(ev->kind), "AuthRequired");
  const char *reason = NULL;
  assert_int_equal(tw_event_get_str(ev, "reason", &reason), 0);
  snprintf(fx->event_reason, sizeof(fx->event_reason), "%s", reason);
  fx->events++;
  tw_event_free(ev);
}

static void on_change(void *arg, tw_creds_t *c, tw_creds_change_t what,
                      const char *token, const char *reason) {
  (void)c;
  (void)reason;
  fx_t *fx = arg;
  switch (what) {
  case TW_CREDS_USER_TOKEN: {
    fx->user_tokens++;
    snprintf(fx->last_user, sizeof(fx->last_user), "%s", token);
    /* The rotated refresh token must already be on disk. */
    tw_token_store_t *st = NULL;
    tw_token_set_t t = {0};
    fx->file_checks++;
    if (tw_token_store_new(fx->file, &st) == 0 &&
        tw_token_store_load(st, &t) == 0 &&
        strcmp(t.access_token, token) == 0 && t.refresh_token &&
        fake_oauth_refresh_valid(fx->fake, t.refresh_token))
      fx->file_ok++;
    tw_token_set_clear(&t);
    tw_token_store_free(st);
    break;
  }
  case TW_CREDS_APP_TOKEN:
    fx->app_tokens++;
    snprintf(fx->last_app, sizeof(fx->last_app), "%s", token);
    break;
  case TW_CREDS_USER_DEAD:
    fx->user_dead++;
    break;
  case TW_CREDS_APP_DEAD:
    fx->app_dead++;
    break;
  }
}

static void on_answer(void *arg, int status, const char *token) {
  fx_t *fx = arg;
  if (fx->answers < MAX_SEEN) {
    fx->answer_status[fx->answers] = status;
    snprintf(fx->answer_token[fx->answers], FAKE_TOKEN_LEN + 1, "%s",
             token ? token : "");
  }
  fx->answers++;
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  tw_test_log_from_env();
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  fx->fake = fake_oauth_start(&fx->loop);
  assert_non_null(fx->fake);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->dir, sizeof(fx->dir), "%.150s/twcreds-XXXXXX",
           tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(fx->dir));
  snprintf(fx->file, sizeof(fx->file), "%s/tokens.json", fx->dir);
  *state = fx;
  return 0;
}

static void on_creds_closed(void *ud) {
  ((fx_t *)ud)->closed = 1;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  if (fx->creds) {
    tw_creds_close(fx->creds, on_creds_closed, fx);
    assert_true(tw_test_run_flag(&fx->loop, &fx->closed));
  }
  fake_oauth_stop(fx->fake);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  unlink(fx->file);
  rmdir(fx->dir);
  tw_log_set_output(NULL);
  free(fx);
  return 0;
}

static void opts_for(fx_t *fx, tw_creds_opts_t *o) {
  tw_creds_opts_default(o);
  o->client_id = FAKE_CLIENT_ID;
  o->client_secret = FAKE_CLIENT_SECRET;
  o->oauth_base = fake_oauth_base(fx->fake);
  o->token_file = fx->file;
  o->redirect_uri = "http://localhost:3000/callback";
  o->on_event = on_event;
  o->ud = fx;
  o->retry_base_ms = 5;
  o->retry_cap_ms = 40;
  o->min_renew_gap_ms = 1;
}

static void start(fx_t *fx, const tw_creds_opts_t *o, int expect) {
  assert_int_equal(tw_creds_new(&fx->loop, o, &fx->creds), 0);
  assert_int_equal(tw_creds_subscribe(fx->creds, on_change, fx), 0);
  assert_int_equal(tw_creds_start(fx->creds), expect);
}

/* Writes a token file with a freshly issued pair; expires_in_ms 0: unknown. */
static void store_tokens(fx_t *fx, char *access, char *refresh,
                         int64_t expires_in_ms) {
  fake_oauth_issue(fx->fake, access, refresh);
  tw_token_store_t *st;
  assert_int_equal(tw_token_store_new(fx->file, &st), 0);
  tw_token_set_t t = {0};
  t.access_token = access;
  t.refresh_token = refresh;
  t.expires_at_ms = expires_in_ms ? tw_wall_ms() + (uint64_t)expires_in_ms : 0;
  t.client_id = (char *)FAKE_CLIENT_ID;
  assert_int_equal(tw_token_store_save(st, &t), 0);
  tw_token_store_free(st);
}

static int is_ready(void *arg) {
  fx_t *fx = arg;
  return tw_creds_state(fx->creds) == TW_CREDS_READY &&
         tw_creds_login(fx->creds) != NULL;
}

/* ---- tests ---------------------------------------------------------------
 */

static void test_stored_token_validated_at_start(void **state) {
  fx_t *fx = *state;
  char a[64], r[64];
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  start(fx, &o, 0);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_STARTING);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_VALIDATE), 1);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 0);
  assert_string_equal(tw_creds_login(fx->creds), FAKE_LOGIN);
  assert_string_equal(tw_creds_user_id(fx->creds), FAKE_USER_ID);
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_string_equal(src.current(src.ud), a);
  assert_string_equal(src.user_id(src.ud), FAKE_USER_ID);
  /* A caller that only wants a token gets the current one, later. */
  assert_int_equal(src.refresh(src.ud, NULL, on_answer, fx), 0);
  assert_int_equal(fx->answers, 0);
  while (fx->answers < 1)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_int_equal(fx->answers, 1);
  assert_int_equal(fx->answer_status[0], 0);
  assert_string_equal(fx->answer_token[0], a);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 0);
  /* The login learned from validate went to the file. */
  tw_token_store_t *st;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &st), 0);
  assert_int_equal(tw_token_store_load(st, &t), 0);
  assert_string_equal(t.login, FAKE_LOGIN);
  tw_token_set_clear(&t);
  tw_token_store_free(st);
}

static int user_token_seen(void *arg) {
  return ((fx_t *)arg)->user_tokens > 0;
}

static void test_code_exchange(void **state) {
  fx_t *fx = *state;
  fake_oauth_add_code(fx->fake, "thecode12345");
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.code = "thecode12345";
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CODE), 1);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_VALIDATE), 1);
  assert_int_equal(fx->user_tokens, 1);
  assert_int_equal(fx->file_ok, 1);
  struct stat sb;
  assert_int_equal(stat(fx->file, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_bad_code_needs_auth(void **state) {
  fx_t *fx = *state;
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.code = "notavalidcode";
  start(fx, &o, 0);
  assert_true(tw_test_run_flag(&fx->loop, &fx->events));
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_NEEDS_AUTH);
  assert_non_null(strstr(fx->event_reason, "twitchd auth"));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CODE), 1);
  assert_int_equal(access(fx->file, F_OK), -1);
}

static void test_no_token(void **state) {
  fx_t *fx = *state;
  tw_creds_opts_t o;
  opts_for(fx, &o);
  start(fx, &o, 0);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_NO_TOKEN);
  assert_non_null(strstr(tw_creds_error(fx->creds), "twitchd auth"));
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_null(src.current(src.ud));
  assert_int_equal(src.refresh(src.ud, NULL, on_answer, fx), TW_EAUTH);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  for (int k = 0; k < FAKE_KINDS; k++)
    assert_int_equal(fake_oauth_count(fx->fake, (fake_kind_t)k), 0);
}

static void test_corrupt_file_untouched(void **state) {
  fx_t *fx = *state;
  const char junk[] = "{\"version\": 1, \"access_token\": ";
  FILE *f = fopen(fx->file, "w");
  assert_non_null(f);
  fputs(junk, f);
  fclose(f);
  chmod(fx->file, 0600);
  fake_oauth_add_code(fx->fake, "thecode12345");
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.code = "thecode12345"; /* must not be used over a damaged file */
  start(fx, &o, TW_EPARSE);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_ERROR);
  assert_non_null(strstr(tw_creds_error(fx->creds), fx->file));
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CODE), 0);
  char buf[256] = {0};
  f = fopen(fx->file, "r");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  assert_int_equal(n, strlen(junk));
  assert_string_equal(buf, junk);
}

static int validations_3(void *arg) {
  return fake_oauth_count(((fx_t *)arg)->fake, FAKE_VALIDATE) >= 3;
}

static void test_periodic_validation(void **state) {
  fx_t *fx = *state;
  char a[64], r[64];
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.validate_interval_ms = 30;
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, validations_3, fx, 10000));
  tw_creds_stats_t s;
  tw_creds_stats(fx->creds, &s);
  assert_true(s.user_validations >= 3);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 0);
}

static void test_validate_401_refreshes(void **state) {
  fx_t *fx = *state;
  char a[64], r[64];
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  fake_oauth_revoke(fx->fake, a);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 1);
  /* The refused token, then the new one. */
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_VALIDATE), 2);
  assert_string_not_equal(tw_creds_user_token(fx->creds), a);
  assert_int_equal(fx->file_ok, 1);
  assert_false(fake_oauth_refresh_valid(fx->fake, r));
}

static void test_refresh_ahead_of_expiry(void **state) {
  fx_t *fx = *state;
  char a[64], r[64];
  /* Expires in 2 s; 1.5 s margin: renewed at about 0.5 s, not before the
   * start-up validation. */
  store_tokens(fx, a, r, 2000);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.refresh_margin_ms = 1500;
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, user_token_seen, fx, 10000));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 1);
  assert_int_equal(fx->file_ok, fx->file_checks);
  assert_string_not_equal(fx->last_user, a);
  assert_false(fake_oauth_refresh_valid(fx->fake, r));
}

static int answers_3(void *arg) {
  return ((fx_t *)arg)->answers >= 3;
}

static void test_concurrent_401_single_flight(void **state) {
  fx_t *fx = *state;
  char a[64], r[64];
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  /* Two clients report a 401 for the same token at once, a third a bit
   * later while the refresh is in flight. */
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  assert_int_equal(fx->answers, 0); /* never from inside refresh() */
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  assert_true(tw_test_run_until(&fx->loop, answers_3, fx, 10000));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 1);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(fx->answer_status[i], 0);
    assert_string_equal(fx->answer_token[i], fx->last_user);
  }
  assert_string_not_equal(fx->last_user, a);
  /* The file held the rotated refresh token before anyone got the token. */
  assert_int_equal(fx->file_checks, 1);
  assert_int_equal(fx->file_ok, 1);
  /* A late 401 for the old token: answered with the current one, no
   * request. */
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  while (fx->answers < 4)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_string_equal(fx->answer_token[3], fx->last_user);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 1);
}

typedef struct {
  int error_lines;
  int creds_lines;
} logscan_t;

static void scan_log(FILE *f, logscan_t *ls) {
  char line[4096];
  rewind(f);
  memset(ls, 0, sizeof(*ls));
  while (fgets(line, sizeof(line), f)) {
    if (strstr(line, " creds:"))
      ls->creds_lines++;
    if (strstr(line, "ERROR") && strstr(line, " creds:"))
      ls->error_lines++;
  }
}

static void on_tick(uv_timer_t *t) {
  (*(int *)t->data)++;
}

/* Runs the loop for about `ms` (for "nothing more happens" checks only;
 * nothing asserts how long anything took). */
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

static void test_invalid_refresh_token(void **state) {
  fx_t *fx = *state;
  FILE *log = tmpfile();
  assert_non_null(log);
  tw_log_set_output(log);
  char a[64], r[64];
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.validate_interval_ms = 20;
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  fake_oauth_force(fx->fake, FAKE_REFRESH, 100, 400,
                   "{\"status\":400,\"message\":\"Invalid refresh token\"}");
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  while (fx->answers < 2)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_int_equal(fx->answer_status[0], TW_EAUTH);
  assert_int_equal(fx->answer_status[1], TW_EAUTH);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_NEEDS_AUTH);
  assert_int_equal(fx->events, 1);
  assert_int_equal(fx->user_dead, 1);
  assert_non_null(strstr(fx->event_reason, "twitchd auth"));
  assert_non_null(strstr(fx->event_reason, "Invalid refresh token"));
  int refreshes = fake_oauth_count(fx->fake, FAKE_REFRESH);
  int validates = fake_oauth_count(fx->fake, FAKE_VALIDATE);
  assert_int_equal(refreshes, 1);
  /* Later calls fail at once; nothing more reaches Twitch, even with
   * validation every 20 ms. */
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), TW_EAUTH);
  assert_null(src.current(src.ud));
  run_for(&fx->loop, 200);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), refreshes);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_VALIDATE), validates);
  assert_int_equal(fx->events, 1);
  fflush(log);
  logscan_t ls;
  scan_log(log, &ls);
  assert_int_equal(ls.error_lines, 1);
  tw_log_set_output(NULL);
  fclose(log);
}

static void test_5xx_retried_with_backoff(void **state) {
  fx_t *fx = *state;
  char a[64], r[64];
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  fake_oauth_force(fx->fake, FAKE_REFRESH, 3, 500,
                   "{\"status\":500,\"message\":\"Internal Server Error\"}");
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  /* One caller: after TW_CREDS_WAITER_FAILURES failures it hears of them
   * (transient: TW_EAGAIN, not TW_EAUTH); the manager keeps retrying on its
   * own until it works. */
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  assert_true(tw_test_run_until(&fx->loop, user_token_seen, fx, 10000));
  assert_int_equal(fx->answers, 1);
  assert_int_equal(fx->answer_status[0], TW_EAGAIN);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 4);
  tw_creds_stats_t s;
  tw_creds_stats(fx->creds, &s);
  assert_int_equal(s.retries, 3);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_READY);
  assert_int_equal(fx->file_ok, 1);
  assert_int_equal(fx->events, 0);
}

static int app_token_seen(void *arg) {
  return ((fx_t *)arg)->app_tokens > 0;
}
static int app_token_2(void *arg) {
  return ((fx_t *)arg)->app_tokens > 1;
}

static void test_app_token(void **state) {
  fx_t *fx = *state;
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.user_token = false;
  o.app_token = true;
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, app_token_seen, fx, 10000));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CLIENT), 1);
  tw_token_source_t src = tw_creds_app_source(fx->creds);
  assert_string_equal(src.current(src.ud), fx->last_app);
  assert_string_equal(src.user_id(src.ud), "");
  char old[FAKE_TOKEN_LEN + 1];
  snprintf(old, sizeof(old), "%s", fx->last_app);
  /* Two 401s: one new token. */
  assert_int_equal(src.refresh(src.ud, old, on_answer, fx), 0);
  assert_int_equal(src.refresh(src.ud, old, on_answer, fx), 0);
  assert_true(tw_test_run_until(&fx->loop, app_token_2, fx, 10000));
  while (fx->answers < 2)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CLIENT), 2);
  assert_string_not_equal(fx->last_app, old);
  assert_string_equal(fx->answer_token[0], fx->last_app);
  assert_string_equal(fx->answer_token[1], fx->last_app);
  /* Never on disk. */
  assert_int_equal(access(fx->file, F_OK), -1);
  /* The user source is off. */
  tw_token_source_t us = tw_creds_user_source(fx->creds);
  assert_int_equal(us.refresh(us.ud, NULL, on_answer, fx), TW_EUNSUPPORTED);
}

static void test_app_token_needs_secret(void **state) {
  fx_t *fx = *state;
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.app_token = true;
  o.client_secret = NULL;
  tw_creds_t *c = NULL;
  assert_int_equal(tw_creds_new(&fx->loop, &o, &c), TW_EINVAL);
  assert_null(c);
}

static void test_oauth_base_check(void **state) {
  (void)state;
  assert_int_equal(tw_oauth_http_check_base("https://id.twitch.tv/oauth2"), 0);
  assert_int_equal(tw_oauth_http_check_base("http://127.0.0.1:8080/oauth2"), 0);
  assert_int_equal(tw_oauth_http_check_base("http://127.9.9.9/x"), 0);
  assert_int_equal(tw_oauth_http_check_base("http://localhost:1/x"), 0);
  assert_int_equal(tw_oauth_http_check_base("http://[::1]:99/x"), 0);
  /* Clear text to anything else would send tokens over the network. */
  assert_int_equal(tw_oauth_http_check_base("http://id.twitch.tv/oauth2"),
                   TW_EINVAL);
  assert_int_equal(tw_oauth_http_check_base("http://127.0.0.1.evil.com/"),
                   TW_EINVAL);
  assert_int_equal(tw_oauth_http_check_base("http://localhost@evil.com/"),
                   TW_EINVAL);
  assert_int_equal(tw_oauth_http_check_base("http://10.0.0.1/"), TW_EINVAL);
  assert_int_equal(tw_oauth_http_check_base("ftp://127.0.0.1/"), TW_EINVAL);
  assert_int_equal(tw_oauth_http_check_base("https://"), TW_EINVAL);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  tw_creds_opts_t o;
  tw_creds_opts_default(&o);
  o.client_id = FAKE_CLIENT_ID;
  o.token_file = "/nonexistent/tokens.json";
  o.oauth_base = "http://id.twitch.tv/oauth2";
  tw_creds_t *c = NULL;
  assert_int_equal(tw_creds_new(&loop, &o, &c), TW_EINVAL);
  assert_null(c);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static int file_has_last(void *arg) {
  fx_t *fx = arg;
  tw_token_store_t *st = NULL;
  tw_token_set_t t = {0};
  int ok = tw_token_store_new(fx->file, &st) == 0 &&
           tw_token_store_load(st, &t) == 0 &&
           strcmp(t.access_token, fx->last_user) == 0;
  tw_token_set_clear(&t);
  tw_token_store_free(st);
  return ok;
}

static void test_save_failure_retried(void **state) {
  fx_t *fx = *state;
  /* The token file lives in a sub-directory that the test can swap for a
   * regular file (permissions would not stop root). */
  char sub[200], moved[220];
  snprintf(sub, sizeof(sub), "%.180s/sub", fx->dir);
  snprintf(moved, sizeof(moved), "%.180s/sub.moved", fx->dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  snprintf(fx->file, sizeof(fx->file), "%s/tokens.json", sub);
  char a[64], r[64];
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.save_retry_ms = 20;
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  assert_int_equal(rename(sub, moved), 0);
  FILE *f = fopen(sub, "w");
  assert_non_null(f);
  fclose(f);
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_int_equal(src.refresh(src.ud, a, on_answer, fx), 0);
  while (fx->answers < 1)
    uv_run(&fx->loop, UV_RUN_ONCE);
  /* The new token is used although it could not be written... */
  assert_int_equal(fx->answer_status[0], 0);
  assert_string_equal(fx->answer_token[0], fx->last_user);
  tw_creds_stats_t s;
  tw_creds_stats(fx->creds, &s);
  assert_true(s.save_failures >= 1);
  /* ...and written as soon as the file system allows it again. */
  assert_int_equal(unlink(sub), 0);
  assert_int_equal(rename(moved, sub), 0);
  assert_true(tw_test_run_until(&fx->loop, file_has_last, fx, 10000));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), 1);
  tw_creds_close(fx->creds, on_creds_closed, fx);
  assert_true(tw_test_run_flag(&fx->loop, &fx->closed));
  fx->creds = NULL;
  unlink(fx->file);
  rmdir(sub);
}

/* Reads the whole file into a malloc'ed string. */
static char *slurp(FILE *f) {
  fflush(f);
  long n = ftell(f);
  char *s = calloc(1, (size_t)n + 1);
  assert_non_null(s);
  rewind(f);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  return s;
}

static void test_no_token_in_debug_log(void **state) {
  fx_t *fx = *state;
  FILE *log = tmpfile();
  assert_non_null(log);
  tw_log_set_output(log);
  tw_log_set_level(TW_LOG_TRACE);
  fake_oauth_add_code(fx->fake, "thecode12345");
  tw_creds_opts_t o;
  opts_for(fx, &o);
  o.code = "thecode12345";
  o.app_token = true;
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  assert_true(tw_test_run_until(&fx->loop, app_token_seen, fx, 10000));
  char first[FAKE_TOKEN_LEN + 1];
  snprintf(first, sizeof(first), "%s", fx->last_user);
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  assert_int_equal(src.refresh(src.ud, first, on_answer, fx), 0);
  while (fx->answers < 1)
    uv_run(&fx->loop, UV_RUN_ONCE);
  tw_token_store_t *st;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &st), 0);
  assert_int_equal(tw_token_store_load(st, &t), 0);
  tw_log_set_level(TW_LOG_INFO);
  tw_log_set_output(NULL);
  char *text = slurp(log);
  fclose(log);
  assert_non_null(strstr(text, "creds:")); /* the log did get lines */
  const char *secrets[] = {first,        t.access_token, t.refresh_token,
                           fx->last_app, "thecode12345", FAKE_CLIENT_SECRET};
  for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
    if (strstr(text, secrets[i]))
      fail_msg("secret #%zu found in the log", i);
  }
  free(text);
  tw_token_set_clear(&t);
  tw_token_store_free(st);
}

/* ---- kill -9 in the middle of refreshes ---------------------------------- */

static void child_answer(void *arg, int status, const char *token);

typedef struct {
  tw_creds_t *c;
  int n;
} child_t;

static void child_refresh(child_t *ch) {
  tw_token_source_t src = tw_creds_user_source(ch->c);
  const char *cur = src.current(src.ud);
  if (!cur || src.refresh(src.ud, cur, child_answer, ch) != 0)
    _exit(3);
}

static void child_answer(void *arg, int status, const char *token) {
  (void)token;
  child_t *ch = arg;
  if (status != 0 && status != TW_EAGAIN)
    _exit(4);
  ch->n++;
  child_refresh(ch);
}

static void child_ready(void *arg, tw_creds_t *c, tw_creds_change_t what,
                        const char *token, const char *reason) {
  (void)c;
  (void)token;
  (void)reason;
  child_t *ch = arg;
  if (what == TW_CREDS_USER_DEAD)
    _exit(5);
  (void)ch;
}

/* Refreshes in a loop, forever, in a fresh loop of the child. */
static void run_child(const char *base, const char *file) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    _exit(2);
  tw_log_set_level(TW_LOG_ERROR);
  tw_creds_opts_t o;
  tw_creds_opts_default(&o);
  o.client_id = FAKE_CLIENT_ID;
  o.client_secret = FAKE_CLIENT_SECRET;
  o.oauth_base = base;
  o.token_file = file;
  o.min_renew_gap_ms = 1;
  o.retry_base_ms = 1;
  o.retry_cap_ms = 5;
  child_t ch = {0};
  if (tw_creds_new(&loop, &o, &ch.c) != 0 || tw_creds_start(ch.c) != 0)
    _exit(2);
  tw_creds_subscribe(ch.c, child_ready, &ch);
  child_refresh(&ch);
  uv_run(&loop, UV_RUN_DEFAULT);
  _exit(6);
}

static int refreshes_30(void *arg) {
  return fake_oauth_count(((fx_t *)arg)->fake, FAKE_REFRESH) >= 30;
}

static void test_kill9_during_refreshes(void **state) {
  fx_t *fx = *state;
  char a[64], r[64];
  fake_oauth_set_grace(fx->fake, true);
  store_tokens(fx, a, r, 4 * 3600 * 1000);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    run_child(fake_oauth_base(fx->fake), fx->file);
  /* The fake answers on this loop while the child refreshes. */
  assert_true(tw_test_run_until(&fx->loop, refreshes_30, fx, 15000));
  kill(pid, SIGKILL);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st));
  /* Whatever instant the kill hit, the file is a whole token file... */
  tw_token_store_t *store;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &store), 0);
  assert_int_equal(tw_token_store_load(store, &t), 0);
  assert_non_null(t.refresh_token);
  bool valid = fake_oauth_refresh_valid(fx->fake, t.refresh_token);
  tw_token_set_clear(&t);
  tw_token_store_free(store);
  /* ...and its refresh token works: a new manager renews with it. (With
   * strictly one-time refresh tokens a kill between Twitch's answer and
   * the write would leave a spent token on disk, which no client can
   * prevent; the fake runs with the grace Twitch's confidential clients
   * get, where the old token lives until the new one is used.) */
  assert_true(valid);
  tw_creds_opts_t o;
  opts_for(fx, &o);
  start(fx, &o, 0);
  assert_true(tw_test_run_until(&fx->loop, is_ready, fx, 10000));
  tw_token_source_t src = tw_creds_user_source(fx->creds);
  int before = fake_oauth_count(fx->fake, FAKE_REFRESH);
  assert_int_equal(src.refresh(src.ud, src.current(src.ud), on_answer, fx), 0);
  while (fx->answers < 1)
    uv_run(&fx->loop, UV_RUN_ONCE);
  assert_int_equal(fx->answer_status[0], 0);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_REFRESH), before + 1);
  assert_int_equal(tw_creds_state(fx->creds), TW_CREDS_READY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stored_token_validated_at_start,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_code_exchange, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_code_needs_auth, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_no_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_file_untouched, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_periodic_validation, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_validate_401_refreshes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refresh_ahead_of_expiry, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_401_single_flight, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_invalid_refresh_token, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_5xx_retried_with_backoff, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_app_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_app_token_needs_secret, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_no_token_in_debug_log, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_kill9_during_refreshes, setup,
                                      teardown),
      cmocka_unit_test(test_oauth_base_check),
      cmocka_unit_test_setup_teardown(test_save_failure_retried, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
