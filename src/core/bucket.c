/* Token bucket (see include/twitchd/bucket.h).
 *
 * Tokens are kept scaled by period_ms ("credit"): every millisecond adds
 * exactly `refill` units of credit and a token costs `period_ms` units, so
 * integer arithmetic is exact and fractions of a token are never lost. With
 * both factors capped at 1e9 the largest credit is 1e18, below 2^64.
 */
#include "twitchd/bucket.h"

#include "twitchd/error.h"

static uint64_t max_credit(const tw_bucket_t *b) {
  return b->capacity * b->period_ms;
}

/* Brings the credit up to date with `now_ms`. */
static void refill(tw_bucket_t *b, uint64_t now_ms) {
  if (b->full_at_ms != 0 && now_ms >= b->full_at_ms) {
    b->credit = max_credit(b);
    b->full_at_ms = 0;
    if (now_ms > b->last_ms)
      b->last_ms = now_ms;
    return;
  }
  if (now_ms <= b->last_ms)
    return; /* no time passed, or a stale time */
  uint64_t from = b->last_ms > b->hold_ms ? b->last_ms : b->hold_ms;
  b->last_ms = now_ms;
  if (now_ms <= from)
    return; /* held */
  uint64_t elapsed = now_ms - from;
  uint64_t room = max_credit(b) - b->credit;
  /* Compare before multiplying: after a long idle elapsed*refill could
   * overflow, but then the bucket is simply full. */
  if (elapsed >= room / b->refill + 1)
    b->credit = max_credit(b);
  else
    b->credit += elapsed * b->refill;
  if (b->credit > max_credit(b))
    b->credit = max_credit(b);
}

int tw_bucket_init(tw_bucket_t *b, uint64_t capacity, uint64_t refill_n,
                   uint64_t period_ms, uint64_t now_ms) {
  if (capacity == 0 || capacity > TW_BUCKET_MAX || refill_n == 0 ||
      refill_n > TW_BUCKET_MAX || period_ms == 0 ||
      period_ms > TW_BUCKET_MAX_PERIOD_MS)
    return TW_EINVAL;
  b->capacity = capacity;
  b->refill = refill_n;
  b->period_ms = period_ms;
  b->credit = capacity * period_ms;
  b->last_ms = now_ms;
  b->hold_ms = 0;
  b->full_at_ms = 0;
  return 0;
}

int tw_bucket_take(tw_bucket_t *b, uint64_t n, uint64_t now_ms) {
  if (n == 0)
    return 0;
  if (n > b->capacity)
    return TW_EINVAL;
  refill(b, now_ms);
  uint64_t need = n * b->period_ms;
  if (b->credit < need)
    return TW_EAGAIN;
  b->credit -= need;
  return 0;
}

uint64_t tw_bucket_wait_ms(tw_bucket_t *b, uint64_t n, uint64_t now_ms) {
  if (n > b->capacity)
    return UINT64_MAX;
  refill(b, now_ms);
  uint64_t need = n * b->period_ms;
  if (b->credit >= need)
    return 0;
  uint64_t missing = need - b->credit;
  uint64_t wait = (missing + b->refill - 1) / b->refill;
  /* After tw_bucket_hold() accrual only starts at hold_ms. */
  if (b->hold_ms > now_ms)
    wait += b->hold_ms - now_ms;
  if (b->full_at_ms != 0 && b->full_at_ms - now_ms < wait)
    wait = b->full_at_ms - now_ms;
  return wait;
}

uint64_t tw_bucket_available(tw_bucket_t *b, uint64_t now_ms) {
  refill(b, now_ms);
  return b->credit / b->period_ms;
}

void tw_bucket_set(tw_bucket_t *b, uint64_t remaining, uint64_t reset_in_ms,
                   uint64_t now_ms) {
  refill(b, now_ms);
  if (remaining > b->capacity)
    remaining = b->capacity;
  b->credit = remaining * b->period_ms;
  b->hold_ms = 0;
  b->full_at_ms = 0;
  if (reset_in_ms != 0 && remaining < b->capacity) {
    /* Saturate rather than wrap for absurd reset values. */
    b->full_at_ms =
        reset_in_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + reset_in_ms;
  }
}

void tw_bucket_hold(tw_bucket_t *b, uint64_t until_ms, uint64_t now_ms) {
  refill(b, now_ms);
  b->credit = 0;
  if (until_ms > now_ms) {
    /* Nothing accrues before until_ms, and the server promised a full
     * bucket then. */
    b->hold_ms = until_ms;
    b->full_at_ms = until_ms;
  } else {
    b->hold_ms = 0;
    b->full_at_ms = 0;
  }
}
