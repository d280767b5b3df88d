/* Helpers for tests of the net layer and of anything built on it: temporary
 * directories with a generated test CA, and running a libuv loop until a
 * condition holds (with a watchdog, so a broken test fails instead of
 * hanging). */
#ifndef TWITCHD_TEST_NET_TEST_H
#define TWITCHD_TEST_NET_TEST_H

#include <stddef.h>
#include <uv.h>

/* Room for a path built by these helpers. */
#define TW_TEST_MAX_PATH 1024
/* Watchdog used by tests that do not pick their own, in ms. It only stops a
 * hung test; no test asserts how long anything takes. */
#define TW_TEST_WATCHDOG_MS 20000u

/* A directory holding a generated CA (tw_tls_gen_ca_and_cert()). */
typedef struct {
  char dir[TW_TEST_MAX_PATH];
  char ca[TW_TEST_MAX_PATH];   /* dir/ca.pem */
  char cert[TW_TEST_MAX_PATH]; /* dir/cert.pem */
  char key[TW_TEST_MAX_PATH];  /* dir/key.pem */
} tw_test_pki_t;

/* Creates a fresh directory under $TMPDIR (or /tmp) with mkdtemp and
 * generates a CA and a localhost certificate valid `days` days (0: default;
 * negative: expired) in it. Returns 0 or a TW_E* code. */
int tw_test_pki_make(tw_test_pki_t *pki, int days);

/* Removes the files written by tw_test_pki_make() and the directory. */
void tw_test_pki_remove(const tw_test_pki_t *pki);

/* Sets the log level from $TW_TEST_LOG ("debug", "trace"...) when set, so
 * a failing test can be rerun with the library's own account. */
void tw_test_log_from_env(void);

/* Runs `loop` until done(arg) returns non-zero or `timeout_ms` passes.
 * Returns 1 when the condition held, 0 on timeout. */
int tw_test_run_until(uv_loop_t *loop, int (*done)(void *arg), void *arg,
                      unsigned timeout_ms);

/* Runs `loop` until *flag becomes non-zero (or the watchdog fires). Returns
 * 1 when it did. */
int tw_test_run_flag(uv_loop_t *loop, const int *flag);

/* Runs the loop until no handle is left (every close callback ran), then
 * closes it. Returns uv_loop_close()'s result (0 when clean); lists the
 * handles still open on stderr otherwise. */
int tw_test_loop_finish(uv_loop_t *loop);

#endif
