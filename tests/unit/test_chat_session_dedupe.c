/* The bounded key set the chat session uses across a RECONNECT overlap:
 * membership, insertion order eviction, and a long randomised run checked
 * against a plain reference (the last `cap` distinct keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitch/chat_dedupe.h"
#include "twitchd/error.h"

static bool check(tw__chat_dedupe_t *d, const char *k) {
  return tw__chat_dedupe_check(d, k, strlen(k));
}

static void test_basics(void **state) {
  tw__chat_dedupe_t d;
  (void)state;
  assert_int_equal(tw__chat_dedupe_init(&d, 0), TW_EINVAL);
  assert_int_equal(tw__chat_dedupe_init(&d, 3), 0);
  assert_false(check(&d, "a"));
  assert_true(check(&d, "a"));
  assert_false(check(&d, "b"));
  assert_false(check(&d, "c"));
  assert_int_equal(tw__chat_dedupe_count(&d), 3);
  /* Full: "d" pushes out the oldest, "a". */
  assert_false(check(&d, "d"));
  assert_int_equal(tw__chat_dedupe_count(&d), 3);
  assert_true(check(&d, "b"));
  assert_true(check(&d, "c"));
  assert_true(check(&d, "d"));
  assert_false(check(&d, "a")); /* forgotten, so new again; pushes "b" */
  assert_false(check(&d, "b"));
  /* Keys are bytes, not C strings. */
  assert_false(tw__chat_dedupe_check(&d, "x\0y", 3));
  assert_true(tw__chat_dedupe_check(&d, "x\0y", 3));
  assert_false(tw__chat_dedupe_check(&d, "x\0z", 3));
  tw__chat_dedupe_clear(&d);
  assert_int_equal(tw__chat_dedupe_count(&d), 0);
  assert_false(check(&d, "c"));
  tw__chat_dedupe_free(&d);
  tw__chat_dedupe_free(&d); /* twice is harmless */
}

/* xorshift, for a repeatable run. */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void test_against_reference(void **state) {
  enum { CAP = 257, SPACE = 700, STEPS = 200000 };
  tw__chat_dedupe_t d;
  /* Reference: the keys in the set, oldest first. */
  int ref[CAP];
  size_t nref = 0;
  (void)state;
  assert_int_equal(tw__chat_dedupe_init(&d, CAP), 0);
  for (int step = 0; step < STEPS; step++) {
    int k = (int)(rnd() % SPACE);
    char key[32];
    bool in_ref = false;
    int n = snprintf(key, sizeof(key), "msg-%d-id", k);
    for (size_t i = 0; i < nref; i++)
      if (ref[i] == k)
        in_ref = true;
    assert_int_equal(tw__chat_dedupe_check(&d, key, (size_t)n), in_ref);
    if (!in_ref) {
      if (nref == CAP) {
        memmove(ref, ref + 1, (CAP - 1) * sizeof(ref[0]));
        nref--;
      }
      ref[nref++] = k;
    }
    assert_int_equal(tw__chat_dedupe_count(&d), nref);
  }
  tw__chat_dedupe_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basics),
      cmocka_unit_test(test_against_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
