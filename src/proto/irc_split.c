/* Sans-IO line splitter: bytes in, complete lines out, bounded memory.
 *
 * A line that lies entirely inside one fed chunk is handed to the callback
 * straight from that chunk, without a copy; only the unfinished tail of a
 * chunk is copied into the splitter's buffer, which never holds more than
 * the cap (plus one byte for the CR of a CRLF). A line that outgrows the cap
 * switches the splitter to "discarding" until the next LF: the bytes are
 * counted, not stored, so a peer that never sends a line break costs no
 * memory.
 */
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"
#include "twitchd/irc.h"

struct tw_irc_splitter {
  size_t cap;         /* longest line delivered, without terminator */
  size_t len;         /* bytes held in buf */
  unsigned flags;     /* TW_IRC_SPLIT_* */
  int discarding;     /* inside an over-long line */
  size_t discard_len; /* bytes of it seen so far */
  uint64_t dropped;   /* over-long lines so far */
  char *buf;          /* cap + 1 bytes: room for a trailing CR */
};

tw_irc_splitter_t *tw_irc_splitter_new(size_t max_line, unsigned flags) {
  if (max_line == 0 || max_line > TW_MAX_IRC_LINE)
    max_line = TW_MAX_IRC_LINE;
  tw_irc_splitter_t *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->buf = malloc(max_line + 1);
  if (!s->buf) {
    free(s);
    return NULL;
  }
  s->cap = max_line;
  s->flags = flags;
  return s;
}

void tw_irc_splitter_free(tw_irc_splitter_t *s) {
  if (!s)
    return;
  free(s->buf);
  free(s);
}

void tw_irc_splitter_reset(tw_irc_splitter_t *s) {
  s->len = 0;
  s->discarding = 0;
  s->discard_len = 0;
}

uint64_t tw_irc_splitter_dropped(const tw_irc_splitter_t *s) {
  return s->dropped;
}

size_t tw_irc_splitter_pending(const tw_irc_splitter_t *s) {
  return s->len;
}

static void drop(tw_irc_splitter_t *s, size_t n, tw_irc_line_cb cb, void *ud) {
  s->dropped++;
  cb(ud, NULL, n, TW_ETOOBIG);
}

/* Delivers line[0..n) (its LF already removed), stripping one CR. */
static void deliver(tw_irc_splitter_t *s, const char *line, size_t n,
                    tw_irc_line_cb cb, void *ud) {
  size_t raw = n;
  if (n && line[n - 1] == '\r')
    n--;
  if (n > s->cap) {
    drop(s, raw, cb, ud);
    return;
  }
  if (n == 0 && !(s->flags & TW_IRC_SPLIT_KEEP_EMPTY))
    return;
  cb(ud, line, n, 0);
}

int tw_irc_splitter_feed(tw_irc_splitter_t *s, const char *data, size_t len,
                         tw_irc_line_cb cb, void *ud) {
  if (!s || !cb || (!data && len))
    return TW_EINVAL;
  while (len > 0) {
    const char *lf = memchr(data, '\n', len);
    if (s->discarding) {
      if (!lf) {
        s->discard_len += len;
        return 0;
      }
      size_t n = (size_t)(lf - data);
      s->discarding = 0;
      drop(s, s->discard_len + n, cb, ud);
      s->discard_len = 0;
      data = lf + 1;
      len -= n + 1;
      continue;
    }
    if (!lf) {
      /* An unfinished line: keep it if it can still become a valid one
       * (cap bytes plus a CR), otherwise start discarding it. */
      if (len > s->cap + 1 - s->len) {
        s->discarding = 1;
        s->discard_len = s->len + len;
        s->len = 0;
        return 0;
      }
      memcpy(s->buf + s->len, data, len);
      s->len += len;
      return 0;
    }
    size_t n = (size_t)(lf - data);
    if (s->len == 0) {
      deliver(s, data, n, cb, ud); /* zero-copy: the line is in the chunk */
    } else if (n > s->cap + 1 - s->len) {
      size_t total = s->len + n;
      s->len = 0;
      drop(s, total, cb, ud);
    } else {
      memcpy(s->buf + s->len, data, n);
      size_t total = s->len + n;
      s->len = 0;
      deliver(s, s->buf, total, cb, ud);
    }
    data = lf + 1;
    len -= n + 1;
  }
  return 0;
}

int tw_irc_splitter_finish(tw_irc_splitter_t *s, tw_irc_line_cb cb, void *ud) {
  if (!s || !cb)
    return TW_EINVAL;
  if (s->discarding) {
    size_t n = s->discard_len;
    tw_irc_splitter_reset(s);
    drop(s, n, cb, ud);
    return 0;
  }
  if (s->len) {
    size_t n = s->len;
    s->len = 0;
    deliver(s, s->buf, n, cb, ud);
  }
  return 0;
}
