/* twitchd: monotonic time.
 *
 * The one place that reads the clock for timers, rate limits and backoff.
 * Everything else takes the time as a uint64_t count of milliseconds passed
 * in by the caller, so that tests can drive time by hand.
 */
#ifndef TWITCHD_CLOCK_H
#define TWITCHD_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Milliseconds on a monotonic clock (uv_hrtime(): not wall time, never jumps
 * back when the system clock is set, starts at an arbitrary point). */
uint64_t tw_now_ms(void);

/* Milliseconds since the Unix epoch on the system clock (may jump). Only for
 * converting absolute times that servers send, such as Helix's
 * Ratelimit-Reset (epoch seconds), into a delay from now; never for
 * measuring intervals. */
uint64_t tw_wall_ms(void);

/* Parses an RFC 3339 timestamp (borrowed), as Twitch writes them:
 * "2020-07-15T18:16:11Z", "2020-07-15T18:16:11.17106713Z" (up to 12
 * fraction digits, truncated to ms), "2020-07-15T20:16:11+02:00"; 'T', 't'
 * or a space between date and time. Into milliseconds since the epoch in
 * *ms_out. Pure: no clock, no time zone. Returns 0, TW_EPARSE or TW_EINVAL
 * (NULL). */
int tw_time_parse_rfc3339(const char *s, int64_t *ms_out);

#ifdef __cplusplus
}
#endif
#endif
