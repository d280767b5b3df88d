/* twitchd: exponential backoff with full jitter.
 *
 * The delay before reconnect attempt k (k = 0, 1, ...) is a uniformly random
 * number of milliseconds in [0, min(cap, base * 2^k)] ("full jitter", so that
 * many clients dropped at once do not come back in lockstep). The attempt
 * count goes back to 0 only after a connection has stayed up for the healthy
 * period: a connection that succeeds and drops at once keeps backing off
 * instead of hammering the server.
 *
 * Time is passed in (monotonic ms); the random source is injectable so tests
 * are deterministic. The struct is a value type; its fields are private.
 */
#ifndef TWITCHD_BACKOFF_H
#define TWITCHD_BACKOFF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 64 uniformly random bits. `ctx` is the pointer given at init. */
typedef uint64_t (*tw_rand_fn)(void *ctx);

typedef struct {
  uint64_t base_ms;
  uint64_t cap_ms;
  uint64_t healthy_ms;
  uint32_t attempt;     /* failures since the last healthy period */
  int up;               /* a success was reported and not yet followed */
  uint64_t up_since_ms; /* when that success happened */
  tw_rand_fn rand;
  void *rand_ctx;
} tw_backoff_t;

/* Initialises `b` (attempt 0). `base_ms` >= 1, `cap_ms` >= base_ms;
 * `healthy_ms` is how long a connection must stay up before the attempt
 * count resets. `rand` may be NULL for the default source (uv_random, the
 * kernel's CSPRNG); `rand_ctx` is borrowed and passed to it. Returns 0 or
 * TW_EINVAL. */
int tw_backoff_init(tw_backoff_t *b, uint64_t base_ms, uint64_t cap_ms,
                    uint64_t healthy_ms, tw_rand_fn rand, void *rand_ctx);

/* Reports a failure (or a lost connection) at `now_ms` and returns the delay
 * in ms before the next attempt. If the connection that just ended had been
 * up for at least the healthy period, the attempt count restarts at 0 first.
 * The exponent stops growing once the cap is reached, so this never
 * overflows however many times it is called. */
uint64_t tw_backoff_next(tw_backoff_t *b, uint64_t now_ms);

/* Reports a successful connection at `now_ms`. The attempt count is kept
 * until the connection has been healthy for healthy_ms: the next call to
 * tw_backoff_next() or tw_backoff_poll() after that resets it. A repeated
 * success without a failure in between keeps the first time. */
void tw_backoff_success(tw_backoff_t *b, uint64_t now_ms);

/* Resets the attempt count if the connection has been up for the healthy
 * period by `now_ms` (callers with a periodic timer may call this; it is
 * also done by tw_backoff_next()). */
void tw_backoff_poll(tw_backoff_t *b, uint64_t now_ms);

/* Forgets all failures (attempt 0). */
void tw_backoff_reset(tw_backoff_t *b);

/* Failures counted since the last reset. */
uint32_t tw_backoff_attempt(const tw_backoff_t *b);

/* The upper bound of the delay the next tw_backoff_next() would draw from,
 * min(cap, base * 2^attempt), ignoring any pending healthy reset. */
uint64_t tw_backoff_ceiling(const tw_backoff_t *b);

#ifdef __cplusplus
}
#endif
#endif
