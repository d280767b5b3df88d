/* Monotonic milliseconds (see include/twitchd/clock.h). */
#include "twitchd/clock.h"
#include "twitchd/error.h"

#include <stddef.h>
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

/* Days since the epoch of a civil date, after Howard Hinnant's
 * public-domain algorithm, so that neither the local time zone nor timegm()
 * (not in ISO C) is used. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly n decimal digits. */
static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int tw_time_parse_rfc3339(const char *s, int64_t *ms_out) {
  if (s == NULL || ms_out == NULL)
    return TW_EINVAL;
  const char *p = s;
  int y, mo, d, h, mi, se, ms = 0;
  if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
      digits(&p, 2, &d))
    return TW_EPARSE;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return TW_EPARSE;
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
      digits(&p, 2, &se))
    return TW_EPARSE;
  if (*p == '.') {
    p++;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
      if (nd < 3)
        ms = ms * 10 + (*p - '0');
      if (++nd > 12)
        return TW_EPARSE;
      p++;
    }
    if (nd == 0)
      return TW_EPARSE;
    for (; nd < 3; nd++)
      ms *= 10;
  }
  int offset_min = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 ||
        om > 59)
      return TW_EPARSE;
    offset_min = sign * (oh * 60 + om);
  } else {
    return TW_EPARSE;
  }
  if (*p != '\0')
    return TW_EPARSE;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
      se > 60)
    return TW_EPARSE;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap)
    return TW_EPARSE;
  /* A leap second (:60) is folded onto the next second. */
  int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
  int64_t secs =
      days * 86400 + h * 3600 + mi * 60 + se - (int64_t)offset_min * 60;
  *ms_out = secs * 1000 + ms;
  return 0;
}
