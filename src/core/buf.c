/* Bounded dynamic byte buffer (see include/twitchd/buf.h).
 *
 * Invariants kept by every function: len <= cap; when data is not NULL,
 * alloc >= len + 1 and data[len] == '\0'. A failed call leaves len and the
 * bytes in use exactly as they were, so callers can report the error and keep
 * going with the data they already had.
 */
#include "twitchd/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"

void tw_buf_init(tw_buf_t *b, size_t cap) {
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
  /* One byte is always kept for the terminating NUL, so a cap of SIZE_MAX
   * could never be honoured; clamp it so the arithmetic below cannot wrap. */
  b->cap = cap < SIZE_MAX / 2 ? cap : SIZE_MAX / 2;
}

void tw_buf_free(tw_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
}

void tw_buf_reset(tw_buf_t *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

int tw_buf_reserve(tw_buf_t *b, size_t n) {
  if (n > b->cap - b->len)
    return TW_ETOOBIG;
  size_t need = b->len + n + 1; /* + the NUL terminator */
  if (need <= b->alloc)
    return 0;
  /* Grow geometrically so that many small appends stay linear overall, but
   * never allocate more than the cap (plus the NUL) allows. */
  size_t want = b->alloc ? b->alloc : 64;
  while (want < need && want <= SIZE_MAX / 2)
    want *= 2;
  if (want < need)
    want = need;
  if (want > b->cap + 1)
    want = b->cap + 1;
  char *p = realloc(b->data, want);
  if (!p)
    return TW_ENOMEM;
  if (!b->data)
    p[0] = '\0';
  b->data = p;
  b->alloc = want;
  return 0;
}

int tw_buf_append(tw_buf_t *b, const void *p, size_t n) {
  int rc = tw_buf_reserve(b, n);
  if (rc != 0)
    return rc;
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int tw_buf_append_str(tw_buf_t *b, const char *s) {
  return tw_buf_append(b, s, strlen(s));
}

int tw_buf_appendf(tw_buf_t *b, const char *fmt, ...) {
  va_list ap;
  /* Make sure there is a writable byte so vsnprintf always has a target. */
  int rc = tw_buf_reserve(b, 0);
  if (rc != 0)
    return rc;
  size_t room = b->alloc - b->len; /* includes the NUL byte */
  va_start(ap, fmt);
  int n = vsnprintf(b->data + b->len, room, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->data[b->len] = '\0';
    return TW_EINVAL;
  }
  if ((size_t)n < room) {
    b->len += (size_t)n;
    return 0;
  }
  /* Did not fit: vsnprintf may have scribbled past len, so restore the NUL
   * before anything can fail, then grow and format again. */
  b->data[b->len] = '\0';
  rc = tw_buf_reserve(b, (size_t)n);
  if (rc != 0)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void tw_buf_consume(tw_buf_t *b, size_t n) {
  if (n >= b->len) {
    tw_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}
