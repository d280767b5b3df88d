/* Unit tests for error codes: every code has a distinct, non-empty message
 * and name; unknown codes say so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"

#define CODE(name, val, msg) TW_##name,
static const int k_codes[] = {TW_ERRNO_MAP(CODE)};
#undef CODE
#define N_CODES (sizeof(k_codes) / sizeof(k_codes[0]))

static void test_messages_distinct(void **state) {
  (void)state;
  for (size_t i = 0; i < N_CODES; i++) {
    const char *m = tw_strerror(k_codes[i]);
    const char *n = tw_err_name(k_codes[i]);
    assert_non_null(m);
    assert_non_null(n);
    assert_true(strlen(m) > 0);
    assert_true(strncmp(n, "TW_E", 4) == 0);
    assert_string_not_equal(m, "unknown error");
    assert_string_not_equal(m, "success");
    for (size_t j = 0; j < i; j++) {
      assert_int_not_equal(k_codes[i], k_codes[j]);
      assert_string_not_equal(m, tw_strerror(k_codes[j]));
      assert_string_not_equal(n, tw_err_name(k_codes[j]));
    }
  }
}

/* Codes are negative, and numbered -1, -2, ... without gaps, so that a new
 * code appended with "the next free number" cannot collide. */
static void test_codes_dense(void **state) {
  (void)state;
  for (size_t i = 0; i < N_CODES; i++)
    assert_int_equal(k_codes[i], -(int)(i + 1));
}

static void test_known_examples(void **state) {
  (void)state;
  assert_string_equal(tw_strerror(TW_OK), "success");
  assert_string_equal(tw_err_name(TW_OK), "TW_OK");
  assert_string_equal(tw_strerror(TW_ETIMEDOUT), "timed out");
  assert_string_equal(tw_err_name(TW_ETIMEDOUT), "TW_ETIMEDOUT");
  assert_string_equal(tw_err_name(TW_ECANCELED), "TW_ECANCELED");
}

static void test_unknown(void **state) {
  (void)state;
  const int unknown[] = {1, 42, -(int)N_CODES - 1, -1000, INT32_MIN, INT32_MAX};
  for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    assert_string_equal(tw_strerror(unknown[i]), "unknown error");
    assert_string_equal(tw_err_name(unknown[i]), "TW_EUNKNOWN");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_messages_distinct),
      cmocka_unit_test(test_codes_dense),
      cmocka_unit_test(test_known_examples),
      cmocka_unit_test(test_unknown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
