/* Tests for the test-CA generator (tw_tls_gen_ca_and_cert). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "twitchd/error.h"
#include "twitchd/tls.h"

#include "net_test.h"

typedef struct {
  char dir[TW_TEST_MAX_PATH];
} tmp_t;

static int setup(void **state) {
  tmp_t *t = calloc(1, sizeof(*t));
  const char *base = getenv("TMPDIR");
  if (!t)
    return -1;
  snprintf(t->dir, sizeof(t->dir), "%s/twgen-XXXXXX",
           base && base[0] ? base : "/tmp");
  if (!mkdtemp(t->dir))
    return -1;
  *state = t;
  return 0;
}

static void path(char *out, const tmp_t *t, const char *name) {
  int n = snprintf(out, TW_TEST_MAX_PATH, "%.900s/%.100s", t->dir, name);
  assert_true(n > 0 && n < TW_TEST_MAX_PATH);
}

static int teardown(void **state) {
  tmp_t *t = *state;
  char p[TW_TEST_MAX_PATH];
  path(p, t, TW_TLS_GEN_CA_FILE);
  unlink(p);
  path(p, t, TW_TLS_GEN_CERT_FILE);
  unlink(p);
  path(p, t, TW_TLS_GEN_KEY_FILE);
  unlink(p);
  rmdir(t->dir);
  free(t);
  return 0;
}

static X509 *load_cert(const tmp_t *t, const char *name) {
  char p[TW_TEST_MAX_PATH];
  FILE *f;
  X509 *x;
  path(p, t, name);
  f = fopen(p, "r");
  assert_non_null(f);
  x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(x);
  return x;
}

static void test_files_and_modes(void **state) {
  tmp_t *t = *state;
  const char *names[] = {"sim.example", "10.1.2.3", "*.wild.example"};
  char p[TW_TEST_MAX_PATH];
  struct stat st;
  FILE *f;
  EVP_PKEY *key;
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, names, 3, 7, NULL, 0), 0);
  path(p, t, TW_TLS_GEN_KEY_FILE);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  f = fopen(p, "r");
  assert_non_null(f);
  key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(key);
  assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  assert_int_equal(EVP_PKEY_get_bits(key), 256);
  {
    /* The key is the leaf's. */
    X509 *leaf = load_cert(t, TW_TLS_GEN_CERT_FILE);
    assert_int_equal(X509_check_private_key(leaf, key), 1);
    X509_free(leaf);
  }
  EVP_PKEY_free(key);
  path(p, t, TW_TLS_GEN_CERT_FILE);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0077, 0044); /* certificates are public */
  /* No temporary file left behind, and no CA key written. */
  path(p, t, ".key.pem.tmp");
  assert_int_not_equal(access(p, F_OK), 0);
  path(p, t, "ca-key.pem");
  assert_int_not_equal(access(p, F_OK), 0);
}

static void test_ca_and_leaf(void **state) {
  tmp_t *t = *state;
  const char *names[] = {"sim.example", "10.1.2.3"};
  X509 *ca, *leaf;
  X509_STORE *store;
  X509_STORE_CTX *vctx;
  time_t hour_ago_ish = time(NULL) - 3500;
  time_t in_6_days = time(NULL) + 6 * 86400;
  time_t in_8_days = time(NULL) + 8 * 86400;
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, names, 2, 7, NULL, 0), 0);
  ca = load_cert(t, TW_TLS_GEN_CA_FILE);
  leaf = load_cert(t, TW_TLS_GEN_CERT_FILE);
  assert_int_equal(X509_check_ca(ca), 1);
  assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
  assert_int_equal(X509_check_ca(leaf), 0);
  assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
  assert_int_equal(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
  assert_int_equal(X509_check_host(leaf, "sim.example", 0, 0, NULL), 1);
  assert_int_equal(X509_check_host(leaf, "other.example", 0, 0, NULL), 0);
  assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
  assert_int_equal(X509_check_ip_asc(leaf, "::1", 0), 1);
  assert_int_equal(X509_check_ip_asc(leaf, "10.1.2.3", 0), 1);
  /* Valid from about an hour ago to `days` from now. */
  assert_true(X509_cmp_time(X509_get0_notBefore(leaf), &hour_ago_ish) < 0);
  assert_true(X509_cmp_time(X509_get0_notAfter(leaf), &in_6_days) > 0);
  assert_true(X509_cmp_time(X509_get0_notAfter(leaf), &in_8_days) < 0);
  /* The CA signs the leaf. */
  store = X509_STORE_new();
  vctx = X509_STORE_CTX_new();
  assert_int_equal(X509_STORE_add_cert(store, ca), 1);
  assert_int_equal(X509_STORE_CTX_init(vctx, store, leaf, NULL), 1);
  assert_int_equal(X509_verify_cert(vctx), 1);
  X509_STORE_CTX_free(vctx);
  X509_STORE_free(store);
  X509_free(ca);
  X509_free(leaf);
}

static void test_expired(void **state) {
  tmp_t *t = *state;
  X509 *leaf;
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, NULL, 0, -1, NULL, 0), 0);
  leaf = load_cert(t, TW_TLS_GEN_CERT_FILE);
  assert_true(X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0);
  assert_true(ASN1_TIME_compare(X509_get0_notBefore(leaf),
                                X509_get0_notAfter(leaf)) < 0);
  X509_free(leaf);
}

static void test_bad_input(void **state) {
  tmp_t *t = *state;
  char detail[TW_MAX_TLS_DETAIL];
  const char *comma[] = {"a.example,DNS:evil.example"};
  const char *space[] = {"bad name"};
  const char *dash[] = {"-lead.example"};
  const char *nul[] = {NULL};
  const char *many[TW_TLS_GEN_MAX_NAMES + 1];
  size_t i;
  assert_int_equal(
      tw_tls_gen_ca_and_cert(t->dir, comma, 1, 1, detail, sizeof(detail)),
      TW_EINVAL);
  assert_non_null(strstr(detail, "invalid certificate name"));
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, space, 1, 1, NULL, 0),
                   TW_EINVAL);
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, dash, 1, 1, NULL, 0),
                   TW_EINVAL);
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, nul, 1, 1, NULL, 0),
                   TW_EINVAL);
  for (i = 0; i < TW_TLS_GEN_MAX_NAMES + 1; i++)
    many[i] = "x.example";
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, many,
                                          TW_TLS_GEN_MAX_NAMES + 1, 1, NULL, 0),
                   TW_EINVAL);
  assert_int_equal(tw_tls_gen_ca_and_cert(NULL, NULL, 0, 1, NULL, 0),
                   TW_EINVAL);
  assert_int_equal(tw_tls_gen_ca_and_cert(t->dir, NULL, 0, 100000, NULL, 0),
                   TW_EINVAL);
  assert_int_equal(tw_tls_gen_ca_and_cert("/nonexistent/dir", NULL, 0, 1,
                                          detail, sizeof(detail)),
                   TW_EIO);
  assert_non_null(strstr(detail, "/nonexistent/dir"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_files_and_modes),
      T(test_ca_and_leaf),
      T(test_expired),
      T(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
