/* Helpers for net tests: see net_test.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/tls.h"

#include "net_test.h"

static int join(char *out, const char *dir, const char *name) {
  int n = snprintf(out, TW_TEST_MAX_PATH, "%s/%s", dir, name);
  return n > 0 && n < TW_TEST_MAX_PATH ? 0 : TW_ETOOBIG;
}

int tw_test_pki_make(tw_test_pki_t *pki, int days) {
  const char *tmp = getenv("TMPDIR");
  char detail[TW_MAX_TLS_DETAIL];
  int n, r;
  memset(pki, 0, sizeof(*pki));
  if (!tmp || !tmp[0])
    tmp = "/tmp";
  n = snprintf(pki->dir, sizeof(pki->dir), "%s/twnet-XXXXXX", tmp);
  if (n < 0 || (size_t)n >= sizeof(pki->dir))
    return TW_ETOOBIG;
  if (!mkdtemp(pki->dir))
    return TW_EIO;
  if (join(pki->ca, pki->dir, TW_TLS_GEN_CA_FILE) ||
      join(pki->cert, pki->dir, TW_TLS_GEN_CERT_FILE) ||
      join(pki->key, pki->dir, TW_TLS_GEN_KEY_FILE))
    return TW_ETOOBIG;
  r = tw_tls_gen_ca_and_cert(pki->dir, NULL, 0, days, detail, sizeof(detail));
  if (r != 0)
    fprintf(stderr, "tw_tls_gen_ca_and_cert: %s\n", detail);
  return r;
}

void tw_test_pki_remove(const tw_test_pki_t *pki) {
  if (!pki->dir[0])
    return;
  unlink(pki->ca);
  unlink(pki->cert);
  unlink(pki->key);
  rmdir(pki->dir);
}

typedef struct {
  uv_timer_t t;
  int fired;
} watchdog_t;

static void on_watchdog(uv_timer_t *t) {
  ((watchdog_t *)t->data)->fired = 1;
}

static void on_watchdog_closed(uv_handle_t *h) {
  free(h->data);
}

int tw_test_run_until(uv_loop_t *loop, int (*done)(void *arg), void *arg,
                      unsigned timeout_ms) {
  watchdog_t *w = calloc(1, sizeof(*w));
  int ok;
  if (!w)
    return 0;
  uv_timer_init(loop, &w->t);
  w->t.data = w;
  uv_timer_start(&w->t, on_watchdog, timeout_ms, 0);
  while (!(ok = done(arg)) && !w->fired)
    uv_run(loop, UV_RUN_ONCE);
  if (!ok)
    fprintf(stderr, "test: condition not reached within %u ms\n", timeout_ms);
  uv_close((uv_handle_t *)&w->t, on_watchdog_closed);
  return ok;
}

static int flag_set(void *arg) {
  return *(const int *)arg != 0;
}

int tw_test_run_flag(uv_loop_t *loop, const int *flag) {
  return tw_test_run_until(loop, flag_set, (void *)flag, TW_TEST_WATCHDOG_MS);
}

static void print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "test: handle still open: %s%s\n",
          uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_closing(h) ? " (closing)" : "");
}

static void on_finish_watchdog(uv_timer_t *t) {
  uv_stop(t->loop);
}

int tw_test_loop_finish(uv_loop_t *loop) {
  uv_timer_t wd;
  int r;
  /* An unreferenced watchdog: it does not keep the loop alive, but stops a
   * loop that a leaked active handle would keep running forever. */
  uv_timer_init(loop, &wd);
  uv_unref((uv_handle_t *)&wd);
  uv_timer_start(&wd, on_finish_watchdog, TW_TEST_WATCHDOG_MS, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  r = uv_loop_close(loop);
  if (r != 0)
    uv_walk(loop, print_handle, NULL);
  return r;
}

void tw_test_log_from_env(void) {
  const char *v = getenv("TW_TEST_LOG");
  tw_log_level_t level;
  if (v && tw_log_level_parse(v, &level) == 0)
    tw_log_set_level(level);
}
