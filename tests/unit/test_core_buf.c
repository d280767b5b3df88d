/* Unit tests for the bounded buffer (include/twitchd/buf.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"

static void test_append_and_nul(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 100);
  assert_null(b.data);
  assert_int_equal(tw_buf_append(&b, "abc", 3), 0);
  assert_int_equal(tw_buf_append_str(&b, "def"), 0);
  assert_int_equal(b.len, 6);
  assert_string_equal(b.data, "abcdef");
  assert_true(b.alloc >= b.len + 1);
  assert_true(b.alloc <= b.cap + 1);
  tw_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  /* Reusable after free, with the same cap. */
  assert_int_equal(tw_buf_append_str(&b, "x"), 0);
  assert_string_equal(b.data, "x");
  tw_buf_free(&b);
}

static void test_cap_enforced(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 8);
  assert_int_equal(tw_buf_append(&b, "12345", 5), 0);
  /* One byte too many: refused, contents untouched. */
  assert_int_equal(tw_buf_append(&b, "6789", 4), TW_ETOOBIG);
  assert_int_equal(b.len, 5);
  assert_string_equal(b.data, "12345");
  /* Exactly up to the cap is fine. */
  assert_int_equal(tw_buf_append(&b, "678", 3), 0);
  assert_int_equal(b.len, 8);
  assert_string_equal(b.data, "12345678");
  assert_int_equal(tw_buf_append(&b, "9", 1), TW_ETOOBIG);
  assert_string_equal(b.data, "12345678");
  /* An empty append at the cap succeeds and changes nothing. */
  assert_int_equal(tw_buf_append(&b, "", 0), 0);
  assert_int_equal(b.len, 8);
  /* A huge length must not wrap the arithmetic. */
  assert_int_equal(tw_buf_append(&b, "x", SIZE_MAX), TW_ETOOBIG);
  assert_int_equal(tw_buf_reserve(&b, SIZE_MAX), TW_ETOOBIG);
  assert_string_equal(b.data, "12345678");
  tw_buf_free(&b);
}

static void test_growth_many_appends(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 10000);
  for (int i = 0; i < 10000; i++)
    assert_int_equal(tw_buf_append(&b, "z", 1), 0);
  assert_int_equal(tw_buf_append(&b, "z", 1), TW_ETOOBIG);
  assert_int_equal(b.len, 10000);
  assert_true(b.alloc <= 10001);
  assert_int_equal(b.data[10000], '\0');
  tw_buf_free(&b);
}

static void test_consume(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 64);
  tw_buf_consume(&b, 3); /* on an empty, unallocated buffer: harmless */
  assert_int_equal(b.len, 0);
  assert_int_equal(tw_buf_append_str(&b, "hello world"), 0);
  tw_buf_consume(&b, 6);
  assert_int_equal(b.len, 5);
  assert_string_equal(b.data, "world");
  tw_buf_consume(&b, 0);
  assert_string_equal(b.data, "world");
  tw_buf_consume(&b, 99);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.data, "");
  /* Consumed room is available again up to the cap. */
  char big[64];
  memset(big, 'q', sizeof(big));
  assert_int_equal(tw_buf_append(&b, big, 64), 0);
  tw_buf_consume(&b, 60);
  assert_int_equal(tw_buf_append(&b, big, 60), 0);
  assert_int_equal(b.len, 64);
  tw_buf_free(&b);
}

static void test_reset(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 16);
  tw_buf_reset(&b);
  assert_int_equal(tw_buf_append_str(&b, "abcdef"), 0);
  char *before = b.data;
  tw_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_ptr_equal(b.data, before); /* memory kept */
  assert_string_equal(b.data, "");
  tw_buf_free(&b);
}

static void test_appendf(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 10);
  assert_int_equal(tw_buf_appendf(&b, "%s-%d", "ab", 42), 0);
  assert_string_equal(b.data, "ab-42");
  /* 5 used; "123456" would make 11 > 10: refused, contents intact. */
  assert_int_equal(tw_buf_appendf(&b, "%d", 123456), TW_ETOOBIG);
  assert_int_equal(b.len, 5);
  assert_string_equal(b.data, "ab-42");
  /* Exactly to the cap. */
  assert_int_equal(tw_buf_appendf(&b, "%d", 12345), 0);
  assert_string_equal(b.data, "ab-4212345");
  assert_int_equal(tw_buf_appendf(&b, "%s", "x"), TW_ETOOBIG);
  assert_string_equal(b.data, "ab-4212345");
  assert_int_equal(tw_buf_appendf(&b, "%s", ""), 0);
  assert_int_equal(b.len, 10);
  tw_buf_free(&b);

  /* A long formatted string forces the grow-and-retry path. */
  tw_buf_init(&b, 4096);
  assert_int_equal(tw_buf_append_str(&b, "x"), 0);
  assert_int_equal(tw_buf_appendf(&b, "%0300d|%s", 7, "end"), 0);
  assert_int_equal(b.len, 1 + 300 + 4);
  assert_string_equal(b.data + 301, "|end");
  assert_int_equal(b.data[300], '7');
  tw_buf_free(&b);
}

static void test_reserve(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 100);
  assert_int_equal(tw_buf_reserve(&b, 50), 0);
  assert_non_null(b.data);
  assert_true(b.alloc >= 51);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.data, "");
  char *p = b.data;
  /* Appending what was reserved does not reallocate. */
  char chunk[50];
  memset(chunk, 'r', sizeof(chunk));
  assert_int_equal(tw_buf_append(&b, chunk, 50), 0);
  assert_ptr_equal(b.data, p);
  assert_int_equal(tw_buf_reserve(&b, 50), 0);
  assert_int_equal(tw_buf_reserve(&b, 51), TW_ETOOBIG);
  assert_int_equal(b.len, 50);
  tw_buf_free(&b);
}

static void test_zero_cap(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 0);
  assert_int_equal(tw_buf_append(&b, "a", 1), TW_ETOOBIG);
  assert_int_equal(tw_buf_appendf(&b, "a"), TW_ETOOBIG);
  assert_int_equal(tw_buf_appendf(&b, "%s", ""), 0);
  assert_int_equal(b.len, 0);
  tw_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_and_nul),
      cmocka_unit_test(test_cap_enforced),
      cmocka_unit_test(test_growth_many_appends),
      cmocka_unit_test(test_consume),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_appendf),
      cmocka_unit_test(test_reserve),
      cmocka_unit_test(test_zero_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
