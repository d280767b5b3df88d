/* Exponential backoff with full jitter (see include/twitchd/backoff.h). */
#include "twitchd/backoff.h"

#include <uv.h>

#include "twitchd/error.h"

/* The default random source: the kernel's CSPRNG through libuv. If that
 * fails (it should not), fall back to a splitmix64 sequence seeded from the
 * monotonic clock, since jitter needs to be spread, not secret. */
static uint64_t default_rand(void *ctx) {
  (void)ctx;
  uint64_t r;
  if (uv_random(NULL, NULL, &r, sizeof(r), 0, NULL) == 0)
    return r;
  static uint64_t state;
  if (state == 0)
    state = uv_hrtime();
  uint64_t z = (state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

int tw_backoff_init(tw_backoff_t *b, uint64_t base_ms, uint64_t cap_ms,
                    uint64_t healthy_ms, tw_rand_fn rand, void *rand_ctx) {
  if (base_ms == 0 || cap_ms < base_ms)
    return TW_EINVAL;
  b->base_ms = base_ms;
  b->cap_ms = cap_ms;
  b->healthy_ms = healthy_ms;
  b->attempt = 0;
  b->up = 0;
  b->up_since_ms = 0;
  b->rand = rand ? rand : default_rand;
  b->rand_ctx = rand ? rand_ctx : NULL;
  return 0;
}

uint64_t tw_backoff_ceiling(const tw_backoff_t *b) {
  /* base * 2^attempt <= cap  <=>  base <= cap >> attempt; testing it this
   * way cannot overflow, whatever the attempt count. */
  if (b->attempt >= 64 || b->base_ms > (b->cap_ms >> b->attempt))
    return b->cap_ms;
  return b->base_ms << b->attempt;
}

void tw_backoff_poll(tw_backoff_t *b, uint64_t now_ms) {
  if (b->up && now_ms >= b->up_since_ms &&
      now_ms - b->up_since_ms >= b->healthy_ms) {
    b->attempt = 0;
    b->up = 0;
  }
}

uint64_t tw_backoff_next(tw_backoff_t *b, uint64_t now_ms) {
  tw_backoff_poll(b, now_ms);
  b->up = 0; /* the connection, if any, is gone */
  uint64_t hi = tw_backoff_ceiling(b);
  /* Uniform in [0, hi] by multiply-and-shift: one draw, no modulo, and the
   * extreme random values map to the extreme delays (tests rely on it). */
  uint64_t r = b->rand(b->rand_ctx);
  uint64_t delay;
  if (hi == UINT64_MAX)
    delay = r;
  else
    delay = (uint64_t)(((unsigned __int128)r * (hi + 1)) >> 64);
  /* The count saturates instead of wrapping; the ceiling is computed so
   * that any count is safe. */
  if (b->attempt < UINT32_MAX)
    b->attempt++;
  return delay;
}

void tw_backoff_success(tw_backoff_t *b, uint64_t now_ms) {
  /* A repeated report for the same connection keeps the first time. */
  if (b->up)
    return;
  b->up = 1;
  b->up_since_ms = now_ms;
}

void tw_backoff_reset(tw_backoff_t *b) {
  b->attempt = 0;
  b->up = 0;
}

uint32_t tw_backoff_attempt(const tw_backoff_t *b) {
  return b->attempt;
}
