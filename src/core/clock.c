/* Monotonic milliseconds (see include/twitchd/clock.h). */
#include "twitchd/clock.h"

#include <time.h>

#include <uv.h>

uint64_t tw_now_ms(void) {
  /* uv_hrtime() is CLOCK_MONOTONIC in nanoseconds on Linux. */
  return uv_hrtime() / 1000000u;
}

uint64_t tw_wall_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
    return 0;
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
