/* twitchd: a bounded dynamic byte buffer.
 *
 * Grows on demand up to a cap fixed at init; an append past the cap fails with
 * TW_ETOOBIG and leaves the buffer unchanged. Data is always followed by a NUL
 * byte (not counted in len) so text can be read as a C string.
 */
#ifndef TWITCHD_BUF_H
#define TWITCHD_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char *data;   /* owned; NULL until the first append */
  size_t len;   /* bytes in use */
  size_t alloc; /* bytes allocated */
  size_t cap;   /* the most len may ever be */
} tw_buf_t;

/* Initialises an empty buffer that may hold at most `cap` bytes. */
void tw_buf_init(tw_buf_t *b, size_t cap);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void tw_buf_free(tw_buf_t *b);
/* Empties the buffer, keeping its memory. */
void tw_buf_reset(tw_buf_t *b);
/* Appends `n` bytes (copied). Returns 0, TW_ETOOBIG or TW_ENOMEM. */
int tw_buf_append(tw_buf_t *b, const void *p, size_t n);
/* Appends a NUL-terminated string (copied). */
int tw_buf_append_str(tw_buf_t *b, const char *s);
/* Appends printf-formatted text. Returns 0, TW_ETOOBIG or TW_ENOMEM. */
int tw_buf_appendf(tw_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Removes the first `n` bytes (all if n >= len), moving the rest down. */
void tw_buf_consume(tw_buf_t *b, size_t n);
/* Ensures room for `n` more bytes without exceeding the cap. */
int tw_buf_reserve(tw_buf_t *b, size_t n);

#ifdef __cplusplus
}
#endif
#endif
