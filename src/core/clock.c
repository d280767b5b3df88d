/* Monotonic milliseconds (see include/twitchd/clock.h). */
#include "twitchd/clock.h"

#include <uv.h>

uint64_t tw_now_ms(void) {
  /* uv_hrtime() is CLOCK_MONOTONIC in nanoseconds on Linux. */
  return uv_hrtime() / 1000000u;
}
