/* Unit tests for the token bucket and the monotonic clock. Time is always
 * passed in by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "twitchd/bucket.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"

static void test_init_validation(void **state) {
  (void)state;
  tw_bucket_t b;
  assert_int_equal(tw_bucket_init(&b, 0, 1, 1000, 0), TW_EINVAL);
  assert_int_equal(tw_bucket_init(&b, 1, 0, 1000, 0), TW_EINVAL);
  assert_int_equal(tw_bucket_init(&b, 1, 1, 0, 0), TW_EINVAL);
  assert_int_equal(tw_bucket_init(&b, TW_BUCKET_MAX + 1ull, 1, 1, 0),
                   TW_EINVAL);
  assert_int_equal(tw_bucket_init(&b, 1, TW_BUCKET_MAX + 1ull, 1, 0),
                   TW_EINVAL);
  assert_int_equal(tw_bucket_init(&b, 1, 1, TW_BUCKET_MAX_PERIOD_MS + 1ull, 0),
                   TW_EINVAL);
  assert_int_equal(tw_bucket_init(&b, TW_BUCKET_MAX, TW_BUCKET_MAX,
                                  TW_BUCKET_MAX_PERIOD_MS, 0),
                   0);
}

/* Chat: 20 messages per 30 s. A full bucket allows a burst of exactly 20. */
static void test_burst_capacity(void **state) {
  (void)state;
  tw_bucket_t b;
  uint64_t t = 5000;
  assert_int_equal(tw_bucket_init(&b, 20, 20, 30000, t), 0);
  assert_int_equal(tw_bucket_available(&b, t), 20);
  for (int i = 0; i < 20; i++)
    assert_int_equal(tw_bucket_take(&b, 1, t), 0);
  assert_int_equal(tw_bucket_take(&b, 1, t), TW_EAGAIN);
  assert_int_equal(tw_bucket_available(&b, t), 0);
  /* A failed take takes nothing. */
  assert_int_equal(tw_bucket_take(&b, 1, t), TW_EAGAIN);
  /* More than the capacity can never succeed. */
  assert_int_equal(tw_bucket_take(&b, 21, t + 10000000), TW_EINVAL);
  assert_int_equal(tw_bucket_wait_ms(&b, 21, t), UINT64_MAX);
  assert_int_equal(tw_bucket_take(&b, 0, t), 0);
}

static void test_refill_math(void **state) {
  (void)state;
  tw_bucket_t b;
  /* 20 tokens per 30000 ms: one token every 1500 ms. */
  assert_int_equal(tw_bucket_init(&b, 20, 20, 30000, 0), 0);
  assert_int_equal(tw_bucket_take(&b, 20, 0), 0);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 0), 1500);
  assert_int_equal(tw_bucket_wait_ms(&b, 2, 0), 3000);
  assert_int_equal(tw_bucket_take(&b, 1, 1499), TW_EAGAIN);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 1499), 1);
  assert_int_equal(tw_bucket_take(&b, 1, 1500), 0);
  /* Fractions are kept across takes: at 2000 ms we have 1/3 of a token
   * accrued since 1500, so the next is at exactly 3000. */
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 2000), 1000);
  assert_int_equal(tw_bucket_take(&b, 1, 2999), TW_EAGAIN);
  assert_int_equal(tw_bucket_take(&b, 1, 3000), 0);
  /* Many small steps add up to the same as one big one (no drift). */
  for (uint64_t t = 3001; t <= 33000; t++)
    assert_true(tw_bucket_available(&b, t) <= 20);
  assert_int_equal(tw_bucket_available(&b, 33000), 20);

  /* A rate that does not divide evenly: 7 tokens per 1000 ms. */
  assert_int_equal(tw_bucket_init(&b, 7, 7, 1000, 100), 0);
  assert_int_equal(tw_bucket_take(&b, 7, 100), 0);
  /* One token needs 1000/7 = 142.86 ms: wait rounds up. */
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 100), 143);
  assert_int_equal(tw_bucket_take(&b, 1, 242), TW_EAGAIN);
  assert_int_equal(tw_bucket_take(&b, 1, 243), 0);
  /* 1000 ms after emptying, exactly 7 tokens have accrued in total. */
  assert_int_equal(tw_bucket_available(&b, 1100), 6);
}

static void test_refill_capped(void **state) {
  (void)state;
  tw_bucket_t b;
  assert_int_equal(tw_bucket_init(&b, 10, 1, 100, 0), 0);
  assert_int_equal(tw_bucket_take(&b, 10, 0), 0);
  /* Long after, still only the capacity. */
  assert_int_equal(tw_bucket_available(&b, 1000000), 10);
  assert_int_equal(tw_bucket_take(&b, 10, 1000000), 0);
  assert_int_equal(tw_bucket_take(&b, 1, 1000000), TW_EAGAIN);
}

/* After a very long idle, elapsed * refill would overflow 64 bits. */
static void test_no_overflow_after_long_idle(void **state) {
  (void)state;
  tw_bucket_t b;
  assert_int_equal(tw_bucket_init(&b, TW_BUCKET_MAX, TW_BUCKET_MAX, 1, 0), 0);
  assert_int_equal(tw_bucket_take(&b, TW_BUCKET_MAX, 0), 0);
  uint64_t later = UINT64_MAX - 1;
  assert_int_equal(tw_bucket_available(&b, later), TW_BUCKET_MAX);
  assert_int_equal(tw_bucket_take(&b, TW_BUCKET_MAX, later), 0);
  assert_int_equal(tw_bucket_available(&b, later), 0);
  assert_int_equal(tw_bucket_wait_ms(&b, TW_BUCKET_MAX, later), 1);
  assert_int_equal(tw_bucket_available(&b, UINT64_MAX), TW_BUCKET_MAX);

  /* Biggest period and capacity, slowest refill. */
  assert_int_equal(
      tw_bucket_init(&b, TW_BUCKET_MAX, 1, TW_BUCKET_MAX_PERIOD_MS, 0), 0);
  assert_int_equal(tw_bucket_take(&b, TW_BUCKET_MAX, 0), 0);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 0), TW_BUCKET_MAX_PERIOD_MS);
  assert_int_equal(tw_bucket_available(&b, UINT64_MAX / 2), TW_BUCKET_MAX);
}

static void test_time_going_back(void **state) {
  (void)state;
  tw_bucket_t b;
  assert_int_equal(tw_bucket_init(&b, 2, 2, 1000, 10000), 0);
  assert_int_equal(tw_bucket_take(&b, 2, 10000), 0);
  /* An older time adds nothing and does not rewind the accounting. */
  assert_int_equal(tw_bucket_available(&b, 5000), 0);
  assert_int_equal(tw_bucket_take(&b, 1, 10499), TW_EAGAIN);
  assert_int_equal(tw_bucket_take(&b, 1, 10500), 0);
}

static void test_server_set(void **state) {
  (void)state;
  tw_bucket_t b;
  /* Helix: 800 points per minute. */
  assert_int_equal(tw_bucket_init(&b, 800, 800, 60000, 0), 0);
  assert_int_equal(tw_bucket_take(&b, 1, 0), 0);
  /* The server says only 3 remain (other processes share the bucket). */
  tw_bucket_set(&b, 3, 60000, 10);
  assert_int_equal(tw_bucket_available(&b, 10), 3);
  assert_int_equal(tw_bucket_take(&b, 3, 10), 0);
  assert_int_equal(tw_bucket_take(&b, 1, 10), TW_EAGAIN);
  /* Normal refill continues: one point every 75 ms. */
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 10), 75);
  assert_int_equal(tw_bucket_take(&b, 1, 85), 0);
  /* The server can also report more than we counted (clamped). */
  tw_bucket_set(&b, 5000, 0, 100);
  assert_int_equal(tw_bucket_available(&b, 100), 800);

  /* The reset time promises a full bucket even if our rate is slower. */
  assert_int_equal(tw_bucket_init(&b, 100, 1, 60000, 0), 0);
  tw_bucket_set(&b, 0, 2000, 1000);
  assert_int_equal(tw_bucket_wait_ms(&b, 50, 1000), 2000);
  assert_int_equal(tw_bucket_take(&b, 50, 2999), TW_EAGAIN);
  assert_int_equal(tw_bucket_take(&b, 50, 3000), 0);
  assert_int_equal(tw_bucket_available(&b, 3000), 50);
}

static void test_hold(void **state) {
  (void)state;
  tw_bucket_t b;
  assert_int_equal(tw_bucket_init(&b, 800, 800, 60000, 0), 0);
  /* A 429: nothing until the reset, then full. */
  tw_bucket_hold(&b, 30000, 1000);
  assert_int_equal(tw_bucket_available(&b, 1000), 0);
  assert_int_equal(tw_bucket_take(&b, 1, 29999), TW_EAGAIN);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 1000), 29000);
  assert_int_equal(tw_bucket_wait_ms(&b, 800, 1000), 29000);
  assert_int_equal(tw_bucket_available(&b, 30000), 800);
  /* A server report cancels a hold. */
  tw_bucket_hold(&b, 90000, 30000);
  tw_bucket_set(&b, 10, 0, 31000);
  assert_int_equal(tw_bucket_take(&b, 10, 31000), 0);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 31000), 75);
  /* A hold in the past only empties the bucket. */
  tw_bucket_hold(&b, 10, 40000);
  assert_int_equal(tw_bucket_available(&b, 40000), 0);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, 40000), 75);
}

static void test_clock(void **state) {
  (void)state;
  uint64_t a = tw_now_ms();
  uint64_t b = tw_now_ms();
  assert_true(b >= a);
  /* Wall time is after 2020-01-01 and in milliseconds, not seconds. */
  uint64_t w = tw_wall_ms();
  assert_true(w > 1577836800000ull);
  assert_true(w < 4102444800000ull); /* 2100-01-01 */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_validation),
      cmocka_unit_test(test_burst_capacity),
      cmocka_unit_test(test_refill_math),
      cmocka_unit_test(test_refill_capped),
      cmocka_unit_test(test_no_overflow_after_long_idle),
      cmocka_unit_test(test_time_going_back),
      cmocka_unit_test(test_server_set),
      cmocka_unit_test(test_hold),
      cmocka_unit_test(test_clock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
