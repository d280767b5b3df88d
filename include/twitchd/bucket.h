/* twitchd: token bucket rate limiter.
 *
 * A bucket holds at most `capacity` tokens and gains `refill` tokens every
 * `period_ms`, continuously (a fraction of a token accrues every millisecond
 * and is kept, so refill never drifts). Chat's "20 messages per 30 s" is
 * capacity 20, refill 20 per 30000 ms; Helix's "800 points per minute" is
 * capacity 800, refill 800 per 60000 ms.
 *
 * Time is always passed in (monotonic milliseconds, see tw_now_ms()); the
 * bucket never reads a clock. Times earlier than one already seen are
 * treated as no time passing.
 *
 * The struct is a value type meant to be embedded; its fields are private.
 */
#ifndef TWITCHD_BUCKET_H
#define TWITCHD_BUCKET_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest capacity and refill amount accepted. */
#define TW_BUCKET_MAX 1000000000u
/* Longest refill period accepted (about 11.5 days). */
#define TW_BUCKET_MAX_PERIOD_MS 1000000000u

typedef struct {
  uint64_t capacity;   /* tokens */
  uint64_t refill;     /* tokens added per period */
  uint64_t period_ms;  /* the period */
  uint64_t credit;     /* tokens * period_ms, plus the accrued fraction */
  uint64_t last_ms;    /* credit is exact as of this time (latest seen) */
  uint64_t hold_ms;    /* nothing accrues before this time; 0 = none */
  uint64_t full_at_ms; /* server-reported time when full again; 0 = none */
} tw_bucket_t;

/* Initialises a full bucket at time `now_ms`. Returns 0, or TW_EINVAL if a
 * value is 0 or above TW_BUCKET_MAX / TW_BUCKET_MAX_PERIOD_MS. */
int tw_bucket_init(tw_bucket_t *b, uint64_t capacity, uint64_t refill,
                   uint64_t period_ms, uint64_t now_ms);

/* Takes `n` tokens at `now_ms` if they are all there. Returns 0 (taken),
 * TW_EAGAIN (not enough yet: nothing taken; ask tw_bucket_wait_ms()), or
 * TW_EINVAL when n exceeds the capacity (it would never succeed). Taking 0
 * tokens always succeeds. */
int tw_bucket_take(tw_bucket_t *b, uint64_t n, uint64_t now_ms);

/* Milliseconds from `now_ms` until `n` tokens are available: 0 if they are
 * now, UINT64_MAX if n exceeds the capacity. Takes nothing. */
uint64_t tw_bucket_wait_ms(tw_bucket_t *b, uint64_t n, uint64_t now_ms);

/* Whole tokens available at `now_ms`. */
uint64_t tw_bucket_available(tw_bucket_t *b, uint64_t now_ms);

/* Adopts what the server reported (Helix: Ratelimit-Remaining, and
 * Ratelimit-Reset turned into milliseconds from now): `remaining` tokens
 * now (clamped to the capacity; the accrued fraction is dropped), normal
 * refill from here, and full no later than `reset_in_ms` from now (0: no
 * such promise). Other clients may share the server's bucket, so its count
 * wins over ours in both directions. */
void tw_bucket_set(tw_bucket_t *b, uint64_t remaining, uint64_t reset_in_ms,
                   uint64_t now_ms);

/* Empties the bucket and grants nothing before `until_ms`, when it becomes
 * full: what a 429 answer asks for ("wait until Ratelimit-Reset"). A time
 * not after `now_ms` just empties the bucket. */
void tw_bucket_hold(tw_bucket_t *b, uint64_t until_ms, uint64_t now_ms);

#ifdef __cplusplus
}
#endif
#endif
