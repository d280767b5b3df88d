/* Unit tests for exponential backoff with full jitter, with an injected
 * random source and time passed in by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "twitchd/backoff.h"
#include "twitchd/error.h"

/* A random source that returns a fixed value. */
static uint64_t fixed_rand(void *ctx) {
  return *(const uint64_t *)ctx;
}

/* A deterministic pseudo-random sequence (splitmix64). */
static uint64_t seq_rand(void *ctx) {
  uint64_t *s = ctx;
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static uint64_t expected_ceiling(uint64_t base, uint64_t cap, unsigned k) {
  uint64_t v = base;
  for (unsigned i = 0; i < k; i++) {
    if (v > cap / 2)
      return cap;
    v *= 2;
  }
  return v < cap ? v : cap;
}

static void test_init_validation(void **state) {
  (void)state;
  tw_backoff_t b;
  assert_int_equal(tw_backoff_init(&b, 0, 100, 0, NULL, NULL), TW_EINVAL);
  assert_int_equal(tw_backoff_init(&b, 100, 99, 0, NULL, NULL), TW_EINVAL);
  assert_int_equal(tw_backoff_init(&b, 100, 100, 0, NULL, NULL), 0);
  /* The default source gives delays within bounds too. */
  for (int i = 0; i < 50; i++)
    assert_true(tw_backoff_next(&b, 0) <= 100);
}

/* With the largest random value every delay is exactly the ceiling; with 0
 * it is 0: the bounds of [0, min(cap, base*2^k)] for every attempt. */
static void test_bounds_every_attempt(void **state) {
  (void)state;
  const uint64_t base = 500, cap = 60000;
  uint64_t hi = UINT64_MAX, lo = 0;
  tw_backoff_t b_hi, b_lo;
  assert_int_equal(tw_backoff_init(&b_hi, base, cap, 10000, fixed_rand, &hi),
                   0);
  assert_int_equal(tw_backoff_init(&b_lo, base, cap, 10000, fixed_rand, &lo),
                   0);
  for (unsigned k = 0; k <= 100; k++) {
    assert_int_equal(tw_backoff_attempt(&b_hi), k);
    uint64_t want = expected_ceiling(base, cap, k);
    assert_int_equal(tw_backoff_ceiling(&b_hi), want);
    assert_int_equal(tw_backoff_next(&b_hi, 0), want);
    assert_int_equal(tw_backoff_next(&b_lo, 0), 0);
  }
  /* 500, 1000, 2000, ..., 32000, then the cap for good. */
  assert_int_equal(expected_ceiling(base, cap, 6), 32000);
  assert_int_equal(expected_ceiling(base, cap, 7), 60000);
}

static void test_random_within_bounds(void **state) {
  (void)state;
  uint64_t seed = 42;
  tw_backoff_t b;
  assert_int_equal(tw_backoff_init(&b, 100, 30000, 0, seq_rand, &seed), 0);
  uint64_t seen_max[12] = {0};
  for (int round = 0; round < 200; round++) {
    tw_backoff_reset(&b);
    for (unsigned k = 0; k < 12; k++) {
      uint64_t d = tw_backoff_next(&b, 0);
      assert_true(d <= expected_ceiling(100, 30000, k));
      if (d > seen_max[k])
        seen_max[k] = d;
    }
  }
  /* Full jitter really spreads: the largest draws come near the ceiling. */
  for (unsigned k = 0; k < 12; k++)
    assert_true(seen_max[k] >= expected_ceiling(100, 30000, k) * 9 / 10);
}

static void test_cap_reached_and_held(void **state) {
  (void)state;
  uint64_t hi = UINT64_MAX;
  tw_backoff_t b;
  assert_int_equal(tw_backoff_init(&b, 1000, 5000, 0, fixed_rand, &hi), 0);
  assert_int_equal(tw_backoff_next(&b, 0), 1000);
  assert_int_equal(tw_backoff_next(&b, 0), 2000);
  assert_int_equal(tw_backoff_next(&b, 0), 4000);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(tw_backoff_next(&b, 0), 5000);
  /* A cap equal to the base: always the base. */
  assert_int_equal(tw_backoff_init(&b, 700, 700, 0, fixed_rand, &hi), 0);
  for (int i = 0; i < 10; i++)
    assert_int_equal(tw_backoff_next(&b, 0), 700);
}

static void test_no_overflow_at_100(void **state) {
  (void)state;
  uint64_t hi = UINT64_MAX;
  tw_backoff_t b;
  /* Huge values: base*2^k overflows 64 bits after a few attempts. */
  assert_int_equal(
      tw_backoff_init(&b, UINT64_MAX / 3, UINT64_MAX - 1, 0, fixed_rand, &hi),
      0);
  for (int i = 0; i < 100; i++)
    tw_backoff_next(&b, 0);
  assert_int_equal(tw_backoff_attempt(&b), 100);
  assert_int_equal(tw_backoff_ceiling(&b), UINT64_MAX - 1);
  assert_int_equal(tw_backoff_next(&b, 0), UINT64_MAX - 1);
  /* And the cap itself may be the largest value. */
  assert_int_equal(tw_backoff_init(&b, 1, UINT64_MAX, 0, fixed_rand, &hi), 0);
  for (int i = 0; i < 100; i++)
    tw_backoff_next(&b, 0);
  assert_int_equal(tw_backoff_next(&b, 0), UINT64_MAX);
  /* Ordinary values, 100 attempts in: still the cap. */
  assert_int_equal(tw_backoff_init(&b, 1000, 120000, 0, fixed_rand, &hi), 0);
  for (int i = 0; i < 100; i++)
    tw_backoff_next(&b, 0);
  assert_int_equal(tw_backoff_next(&b, 0), 120000);
}

static void test_reset_after_healthy_period(void **state) {
  (void)state;
  uint64_t hi = UINT64_MAX;
  tw_backoff_t b;
  const uint64_t healthy = 30000;
  assert_int_equal(tw_backoff_init(&b, 1000, 60000, healthy, fixed_rand, &hi),
                   0);
  uint64_t t = 100000;
  assert_int_equal(tw_backoff_next(&b, t), 1000);
  assert_int_equal(tw_backoff_next(&b, t), 2000);
  assert_int_equal(tw_backoff_next(&b, t), 4000);

  /* Connected, then dropped before the healthy period: keep backing off. */
  tw_backoff_success(&b, t);
  tw_backoff_poll(&b, t + healthy - 1);
  assert_int_equal(tw_backoff_attempt(&b), 3);
  assert_int_equal(tw_backoff_next(&b, t + healthy - 1), 8000);

  /* A flapping connection (up for 1 ms each time) never resets. */
  t += healthy;
  for (int i = 0; i < 5; i++) {
    tw_backoff_success(&b, t);
    tw_backoff_next(&b, t + 1);
    t += 2;
  }
  assert_int_equal(tw_backoff_attempt(&b), 9);

  /* A repeated success report does not restart the healthy timer. */
  tw_backoff_success(&b, t);
  tw_backoff_success(&b, t + healthy - 10);
  tw_backoff_poll(&b, t + healthy);
  assert_int_equal(tw_backoff_attempt(&b), 0);

  /* Up long enough, then dropped: start again from the base. */
  assert_int_equal(tw_backoff_next(&b, t + healthy), 1000);
  assert_int_equal(tw_backoff_next(&b, t + healthy), 2000);
  tw_backoff_success(&b, t + 2 * healthy);
  assert_int_equal(tw_backoff_next(&b, t + 3 * healthy), 1000);

  /* Failures without a success in between never reset, however late. */
  assert_int_equal(tw_backoff_next(&b, t + 100 * healthy), 2000);

  /* An explicit reset. */
  tw_backoff_reset(&b);
  assert_int_equal(tw_backoff_attempt(&b), 0);
  assert_int_equal(tw_backoff_next(&b, 0), 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_validation),
      cmocka_unit_test(test_bounds_every_attempt),
      cmocka_unit_test(test_random_within_bounds),
      cmocka_unit_test(test_cap_reached_and_held),
      cmocka_unit_test(test_no_overflow_at_100),
      cmocka_unit_test(test_reset_after_healthy_period),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
