/* `twitchd auth` end to end against the fake OAuth endpoints
 * (tests/support/oauth_fake.h): the real binary ($TW_BIN) runs as a child
 * process on this loop, and the test plays the browser: it fetches the
 * authorize URL the command prints without following the redirect, then
 * requests the Location on the command's local catcher. Also: a state that
 * does not match, a denied login, and the device code flow approved on the
 * fake. The simulator-based shell test (tests/integration/test_auth.sh)
 * covers the same against `twitchd sim`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_test.h"
#include "oauth_fake.h"
#include "twitchd/buf.h"
#include "twitchd/token_store.h"
#include "twitchd/uv_curl.h"

typedef enum { TAMPER_NONE = 0, TAMPER_STATE } tamper_t;

typedef struct {
  uv_loop_t loop;
  fake_oauth_t *fake;
  tw_uvcurl_t *uc;
  int uc_closed;
  char dir[256], cfg[300], file[300];
  int port;
  /* The child. */
  uv_process_t proc;
  uv_pipe_t out;
  tw_buf_t stdout_buf;
  int exited;
  int64_t exit_status;
  int out_closed;
  /* The browser. */
  tamper_t tamper;
  int browser_step; /* 0 idle, 1 authorize sent, 2 redirect sent, 3 done */
  CURL *easy;
  tw_buf_t page;
  long page_status;
  /* Device flow. */
  bool device;
  bool approved;
} fx_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  fx_t *fx = ud;
  tw_buf_append(&fx->page, p, size * n);
  return size * n;
}

static void get(fx_t *fx, const char *url, tw_uvcurl_done_cb done);

static void on_redirect_done(CURL *e, CURLcode rc, void *ud) {
  fx_t *fx = ud;
  assert_int_equal(rc, CURLE_OK);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &fx->page_status);
  curl_easy_cleanup(e);
  fx->browser_step = 3;
}

static void on_authorize_done(CURL *e, CURLcode rc, void *ud) {
  fx_t *fx = ud;
  assert_int_equal(rc, CURLE_OK);
  long status = 0;
  char *loc = NULL;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc);
  assert_int_equal(status, 302);
  assert_non_null(loc);
  char url[2048];
  snprintf(url, sizeof(url), "%s", loc);
  curl_easy_cleanup(e);
  /* The browser lands on http://localhost:PORT/cb?...; go to 127.0.0.1
   * directly (no name lookup in tests). */
  char target[2100];
  const char *path = strstr(url, "/cb?");
  assert_non_null(path);
  snprintf(target, sizeof(target), "http://127.0.0.1:%d%s", fx->port, path);
  if (fx->tamper == TAMPER_STATE) {
    char *st = strstr(target, "state=");
    assert_non_null(st);
    st[6] = st[6] == '0' ? '1' : '0';
  }
  fx->browser_step = 2;
  tw_buf_reset(&fx->page);
  get(fx, target, on_redirect_done);
}

static void get(fx_t *fx, const char *url, tw_uvcurl_done_cb done) {
  CURL *e = curl_easy_init();
  assert_non_null(e);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, fx);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  assert_int_equal(tw_uvcurl_add(fx->uc, e, done, fx), 0);
}

/* Reacts to what the command printed so far. */
static void drive(fx_t *fx) {
  const char *text = fx->stdout_buf.data ? fx->stdout_buf.data : "";
  if (!fx->device && fx->browser_step == 0 &&
      strstr(text, "Waiting for the browser")) {
    const char *u = strstr(text, fake_oauth_base(fx->fake));
    assert_non_null(u);
    size_t n = strcspn(u, "\n");
    char url[4096];
    assert_true(n < sizeof(url));
    memcpy(url, u, n);
    url[n] = '\0';
    assert_non_null(strstr(url, "/authorize?response_type=code"));
    assert_non_null(strstr(url, "state="));
    assert_non_null(strstr(url, "chat%3Aread"));
    fx->browser_step = 1;
    get(fx, url, on_authorize_done);
  }
  if (fx->device && !fx->approved && strstr(text, "enter the code: ABCDEFGH")) {
    fake_oauth_approve_device(fx->fake);
    fx->approved = true;
  }
}

static void on_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b) {
  (void)h;
  b->base = malloc(sug);
  b->len = b->base ? sug : 0;
}

static void on_out_closed(uv_handle_t *h) {
  ((fx_t *)h->data)->out_closed = 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  fx_t *fx = s->data;
  if (n > 0) {
    tw_buf_append(&fx->stdout_buf, b->base, (size_t)n);
    drive(fx);
  } else if (n < 0) {
    uv_close((uv_handle_t *)s, on_out_closed);
  }
  free(b->base);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  fx_t *fx = p->data;
  fx->exit_status = sig ? 128 + sig : status;
  fx->exited = 1;
  uv_close((uv_handle_t *)p, NULL);
}

static int pick_port(uv_loop_t *loop) {
  uv_tcp_t t;
  struct sockaddr_in sa;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  uv_tcp_init(loop, &t);
  uv_ip4_addr("127.0.0.1", 0, &sa);
  assert_int_equal(uv_tcp_bind(&t, (struct sockaddr *)&sa, 0), 0);
  assert_int_equal(uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len), 0);
  int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return port;
}

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  fx->fake = fake_oauth_start(&fx->loop);
  assert_non_null(fx->fake);
  fx->uc = tw_uvcurl_new(&fx->loop);
  assert_non_null(fx->uc);
  tw_buf_init(&fx->stdout_buf, 1 << 20);
  tw_buf_init(&fx->page, 1 << 20);
  const char *tmp = getenv("TMPDIR");
  snprintf(fx->dir, sizeof(fx->dir), "%s/twauth-XXXXXX", tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(fx->dir));
  snprintf(fx->cfg, sizeof(fx->cfg), "%s/twitchd.yaml", fx->dir);
  snprintf(fx->file, sizeof(fx->file), "%s/tokens.json", fx->dir);
  fx->port = pick_port(&fx->loop);
  FILE *f = fopen(fx->cfg, "w");
  assert_non_null(f);
  fprintf(f,
          "connectors:\n"
          "  twitch:\n"
          "    client-id: %s\n"
          "    client-secret: %s\n"
          "    channel: somechannel\n"
          "    redirect: http://localhost:%d/cb\n"
          "    token-file: %s\n"
          "    endpoints:\n"
          "      oauth: %s\n",
          FAKE_CLIENT_ID, FAKE_CLIENT_SECRET, fx->port, fx->file,
          fake_oauth_base(fx->fake));
  fclose(f);
  *state = fx;
  return 0;
}

static void on_uc_closed(void *ud) {
  ((fx_t *)ud)->uc_closed = 1;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  tw_uvcurl_close(fx->uc, on_uc_closed, fx);
  fake_oauth_stop(fx->fake);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  tw_buf_free(&fx->stdout_buf);
  tw_buf_free(&fx->page);
  unlink(fx->file);
  unlink(fx->cfg);
  rmdir(fx->dir);
  free(fx);
  return 0;
}

static int finished(void *arg) {
  fx_t *fx = arg;
  return fx->exited && fx->out_closed;
}

/* Runs `twitchd auth -c CFG [extra]` until it exits. */
static void run_auth(fx_t *fx, const char *extra) {
  const char *bin = getenv("TW_BIN");
  assert_non_null(bin);
  char *args[6] = {(char *)bin, "auth", "-c", fx->cfg, (char *)extra, NULL};
  uv_pipe_init(&fx->loop, &fx->out, 0);
  fx->out.data = fx;
  fx->proc.data = fx;
  uv_stdio_container_t io[3];
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&fx->out;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = 2;
  uv_process_options_t o = {0};
  o.file = bin;
  o.args = args;
  o.exit_cb = on_exit_cb;
  o.stdio = io;
  o.stdio_count = 3;
  assert_int_equal(uv_spawn(&fx->loop, &fx->proc, &o), 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&fx->out, on_alloc, on_read),
                   0);
  assert_true(tw_test_run_until(&fx->loop, finished, fx, 20000));
}

static void test_browser_login(void **state) {
  fx_t *fx = *state;
  run_auth(fx, NULL);
  assert_int_equal(fx->exit_status, 0);
  assert_int_equal(fx->browser_step, 3);
  assert_int_equal(fx->page_status, 200);
  assert_non_null(strstr(fx->page.data, "Logged in as " FAKE_LOGIN));
  assert_non_null(
      strstr(fx->stdout_buf.data, "Logged in as " FAKE_LOGIN " (user id"));
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CODE), 1);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_VALIDATE), 1);
  tw_token_store_t *st;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &st), 0);
  assert_int_equal(tw_token_store_load(st, &t), 0);
  assert_string_equal(t.login, FAKE_LOGIN);
  assert_string_equal(t.user_id, FAKE_USER_ID);
  assert_true(fake_oauth_access_valid(fx->fake, t.access_token));
  assert_true(fake_oauth_refresh_valid(fx->fake, t.refresh_token));
  /* The tokens were never printed. */
  assert_null(strstr(fx->stdout_buf.data, t.access_token));
  assert_null(strstr(fx->stdout_buf.data, t.refresh_token));
  struct stat sb;
  assert_int_equal(stat(fx->file, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  tw_token_set_clear(&t);
  tw_token_store_free(st);
}

static void test_state_mismatch(void **state) {
  fx_t *fx = *state;
  fx->tamper = TAMPER_STATE;
  run_auth(fx, NULL);
  assert_int_equal(fx->exit_status, 1);
  assert_int_equal(fx->page_status, 400);
  /* The code was never exchanged, nothing was written. */
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CODE), 0);
  assert_int_equal(access(fx->file, F_OK), -1);
}

static void test_access_denied(void **state) {
  fx_t *fx = *state;
  fake_oauth_set_deny(fx->fake, true);
  run_auth(fx, NULL);
  assert_int_equal(fx->exit_status, 1);
  assert_int_equal(fx->page_status, 400);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_CODE), 0);
  assert_int_equal(access(fx->file, F_OK), -1);
}

static void test_exchange_refused(void **state) {
  fx_t *fx = *state;
  fake_oauth_force(fx->fake, FAKE_CODE, 1, 400,
                   "{\"status\":400,\"message\":\"Invalid authorization "
                   "code\"}");
  run_auth(fx, NULL);
  assert_int_equal(fx->exit_status, 1);
  assert_int_equal(fx->page_status, 400);
  assert_int_equal(access(fx->file, F_OK), -1);
}

static void test_no_wait(void **state) {
  fx_t *fx = *state;
  fx->browser_step = 3; /* no browser */
  run_auth(fx, "--no-wait");
  assert_int_equal(fx->exit_status, 0);
  assert_non_null(strstr(fx->stdout_buf.data, "/authorize?response_type="));
  assert_non_null(strstr(fx->stdout_buf.data, "connectors.twitch.code"));
}

static void test_device_flow(void **state) {
  fx_t *fx = *state;
  fx->device = true;
  run_auth(fx, "--device");
  assert_int_equal(fx->exit_status, 0);
  assert_true(fx->approved);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_DEVICE), 1);
  /* At least one poll answered authorization_pending before approval is
   * not guaranteed; the approved poll is. */
  assert_true(fake_oauth_count(fx->fake, FAKE_DEVICE_TOKEN) >= 1);
  assert_non_null(strstr(fx->stdout_buf.data, "Logged in as " FAKE_LOGIN));
  tw_token_store_t *st;
  tw_token_set_t t = {0};
  assert_int_equal(tw_token_store_new(fx->file, &st), 0);
  assert_int_equal(tw_token_store_load(st, &t), 0);
  assert_true(fake_oauth_refresh_valid(fx->fake, t.refresh_token));
  tw_token_set_clear(&t);
  tw_token_store_free(st);
}

static void test_device_slow_down(void **state) {
  fx_t *fx = *state;
  fx->device = true;
  /* The first poll is told to slow down: the command keeps polling (5 s
   * further apart, as RFC 8628 says) instead of failing. */
  fake_oauth_force(fx->fake, FAKE_DEVICE_TOKEN, 1, 400,
                   "{\"status\":400,\"message\":\"slow_down\"}");
  run_auth(fx, "--device");
  assert_int_equal(fx->exit_status, 0);
  assert_int_equal(fake_oauth_count(fx->fake, FAKE_DEVICE_TOKEN), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_browser_login, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_access_denied, setup, teardown),
      cmocka_unit_test_setup_teardown(test_exchange_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_wait, setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_flow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_slow_down, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
