/* Unit tests for the credentials manager's timing decisions
 * (src/twitch/creds_plan.h): time is passed in by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "twitch/creds_plan.h"

#define MIN 60000u
#define HOUR 3600000u
#define WALL0 1764000000000u /* some epoch ms */

/* A token loaded at WALL0 that expires in 4 h, validated just now. */
static tw__creds_plan_in_t base_in(void) {
  tw__creds_plan_in_t in = {
      .now_wall_ms = WALL0,
      .now_mono_ms = 1000000,
      .have_token = true,
      .can_renew = true,
      .expires_at_ms = WALL0 + 4 * HOUR,
      .obtained_at_ms = WALL0,
      .margin_ms = 10 * MIN,
      .next_validate_ms = 1000000 + HOUR,
      .min_gap_ms = 10000,
  };
  return in;
}

static void test_renew_at(void **st) {
  (void)st;
  /* A long-lived token: the margin. */
  assert_int_equal(tw__creds_renew_at(WALL0, WALL0 + 4 * HOUR, 10 * MIN),
                   WALL0 + 4 * HOUR - 10 * MIN);
  /* A token living less than twice the margin: half-way, never at once. */
  assert_int_equal(tw__creds_renew_at(WALL0, WALL0 + 60000, 10 * MIN),
                   WALL0 + 30000);
  /* Unknown start: the margin alone (a loaded token near expiry is renewed
   * now). */
  assert_int_equal(tw__creds_renew_at(0, WALL0 + 60000, 10 * MIN),
                   WALL0 + 60000 - 10 * MIN);
  /* No underflow. */
  assert_int_equal(tw__creds_renew_at(0, 5, 10 * MIN), 0);
}

static void test_wait_for_the_earliest(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  tw__creds_plan_t p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  /* Validation (1 h) comes before the renewal (3 h 50). */
  assert_int_equal(p.wait_ms, HOUR);
  in.next_validate_ms = 0;
  p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  assert_int_equal(p.wait_ms, 4 * HOUR - 10 * MIN);
}

static void test_hourly_validation(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  in.now_mono_ms += HOUR;
  in.now_wall_ms += HOUR;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_VALIDATE);
  /* Not while a request is in flight. */
  in.busy = true;
  tw__creds_plan_t p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  assert_true(p.wait_ms == TW__CREDS_FOREVER);
}

static void test_refresh_ahead_of_expiry(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  in.next_validate_ms = 0;
  in.now_wall_ms = WALL0 + 4 * HOUR - 10 * MIN - 1;
  tw__creds_plan_t p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  assert_int_equal(p.wait_ms, 1);
  in.now_wall_ms++;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_RENEW);
  /* Renewal wins over a validation due at the same time. */
  in.next_validate_ms = in.now_mono_ms;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_RENEW);
  /* Unknown expiry: never renewed proactively. */
  in.expires_at_ms = 0;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_VALIDATE);
}

static void test_expired_without_refresh_gives_up(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  in.can_renew = false;
  in.next_validate_ms = 0;
  tw__creds_plan_t p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  assert_int_equal(p.wait_ms, 4 * HOUR);
  in.now_wall_ms = in.expires_at_ms;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_GIVE_UP);
  in = base_in();
  in.can_renew = false;
  in.renew_requested = true;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_GIVE_UP);
}

static void test_requested_renewal_gap(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  in.renew_requested = true;
  /* Never renewed: at once. */
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_RENEW);
  /* Renewed 3 s ago: a client that keeps seeing 401 waits out the gap. */
  in.last_renew_ms = in.now_mono_ms - 3000;
  tw__creds_plan_t p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  assert_int_equal(p.wait_ms, 7000);
  in.now_mono_ms += 7000;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_RENEW);
}

static void test_retry_owns_schedule(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  in.now_wall_ms = in.expires_at_ms; /* expired: renewal overdue */
  in.retry_at_ms = in.now_mono_ms + 2500;
  in.renew_requested = true;
  tw__creds_plan_t p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  assert_int_equal(p.wait_ms, 2500);
  in.now_mono_ms += 2500;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_RENEW);
}

static void test_no_token_renews_now(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  in.have_token = false;
  in.expires_at_ms = 0;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_RENEW);
  in.can_renew = false;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_GIVE_UP);
}

static void test_save_retry(void **st) {
  (void)st;
  tw__creds_plan_in_t in = base_in();
  in.dirty = true;
  in.save_at_ms = in.now_mono_ms + 30000;
  tw__creds_plan_t p = tw__creds_plan(&in);
  assert_int_equal(p.action, TW__CREDS_WAIT);
  assert_int_equal(p.wait_ms, 30000);
  in.now_mono_ms += 30000;
  assert_int_equal(tw__creds_plan(&in).action, TW__CREDS_SAVE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_renew_at),
      cmocka_unit_test(test_wait_for_the_earliest),
      cmocka_unit_test(test_hourly_validation),
      cmocka_unit_test(test_refresh_ahead_of_expiry),
      cmocka_unit_test(test_expired_without_refresh_gives_up),
      cmocka_unit_test(test_requested_renewal_gap),
      cmocka_unit_test(test_retry_owns_schedule),
      cmocka_unit_test(test_no_token_renews_now),
      cmocka_unit_test(test_save_retry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
