/* The sans-IO line splitter: any chunking gives the same lines, CRLF and LF
 * both end lines, over-long lines are dropped, counted, reported and
 * followed by a clean resynchronisation, and memory stays bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"
#include "twitchd/irc.h"

#define MAX_EVENTS 64

/* What the callback saw, in order. */
typedef struct {
  size_t n;
  char lines[MAX_EVENTS][64];
  size_t lens[MAX_EVENTS];
  int errs[MAX_EVENTS];
  const char *last_ptr; /* where the last line pointed */
} events_t;

static void on_line(void *ud, const char *line, size_t len, int err) {
  events_t *ev = ud;
  assert_true(ev->n < MAX_EVENTS);
  ev->errs[ev->n] = err;
  ev->lens[ev->n] = len;
  if (err) {
    assert_null(line);
  } else {
    assert_true(len < sizeof(ev->lines[0]));
    memcpy(ev->lines[ev->n], line, len);
    ev->lines[ev->n][len] = '\0';
    ev->last_ptr = line;
  }
  ev->n++;
}

static void feed_in_chunks(tw_irc_splitter_t *s, const char *data, size_t len,
                           const size_t *cuts, size_t ncuts, events_t *ev) {
  size_t at = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    assert_int_equal(tw_irc_splitter_feed(s, data + at, end - at, on_line, ev),
                     0);
    at = end;
  }
}

static const char stream[] = "PING :tmi.twitch.tv\r\n"
                             ":a!a@a.tmi.twitch.tv PRIVMSG #c :hello there\n"
                             "\r\n"
                             "@x=1 :tmi.twitch.tv ROOMSTATE #c\r\n"
                             "last\r\n";
static const char *const stream_lines[] = {
    "PING :tmi.twitch.tv", ":a!a@a.tmi.twitch.tv PRIVMSG #c :hello there",
    "@x=1 :tmi.twitch.tv ROOMSTATE #c", "last"};

static void expect_stream_lines(const events_t *ev) {
  assert_int_equal(ev->n, 4);
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(ev->errs[i], 0);
    assert_string_equal(ev->lines[i], stream_lines[i]);
  }
}

/* Every way of cutting the stream in two, and in three, gives the same
 * lines: WebSocket frames and TLS records cut anywhere. */
static void test_any_chunking(void **state) {
  (void)state;
  size_t len = sizeof(stream) - 1;
  for (size_t a = 0; a <= len; a++) {
    for (size_t b = a; b <= len; b += 3) {
      tw_irc_splitter_t *s = tw_irc_splitter_new(0, 0);
      assert_non_null(s);
      events_t ev = {0};
      size_t cuts[2] = {a, b};
      feed_in_chunks(s, stream, len, cuts, 2, &ev);
      expect_stream_lines(&ev);
      assert_int_equal(tw_irc_splitter_pending(s), 0);
      tw_irc_splitter_free(s);
    }
  }
  /* One byte at a time. */
  tw_irc_splitter_t *s = tw_irc_splitter_new(0, 0);
  events_t ev = {0};
  for (size_t i = 0; i < len; i++)
    tw_irc_splitter_feed(s, stream + i, 1, on_line, &ev);
  expect_stream_lines(&ev);
  tw_irc_splitter_free(s);
}

static void test_keep_empty_and_finish(void **state) {
  (void)state;
  tw_irc_splitter_t *s = tw_irc_splitter_new(0, TW_IRC_SPLIT_KEEP_EMPTY);
  events_t ev = {0};
  tw_irc_splitter_feed(s, "a\n\r\n\nb", 6, on_line, &ev);
  assert_int_equal(ev.n, 3);
  assert_string_equal(ev.lines[0], "a");
  assert_int_equal(ev.lens[1], 0);
  assert_int_equal(ev.lens[2], 0);
  assert_int_equal(tw_irc_splitter_pending(s), 1);
  /* The unterminated last line comes out at the end of the stream. */
  assert_int_equal(tw_irc_splitter_finish(s, on_line, &ev), 0);
  assert_int_equal(ev.n, 4);
  assert_string_equal(ev.lines[3], "b");
  assert_int_equal(tw_irc_splitter_pending(s), 0);
  /* finish() again: nothing more. */
  tw_irc_splitter_finish(s, on_line, &ev);
  assert_int_equal(ev.n, 4);
  /* A CR split from its LF across feeds is still one CRLF. */
  tw_irc_splitter_feed(s, "c\r", 2, on_line, &ev);
  tw_irc_splitter_feed(s, "\nd\r", 3, on_line, &ev);
  tw_irc_splitter_finish(s, on_line, &ev);
  assert_int_equal(ev.n, 6);
  assert_string_equal(ev.lines[4], "c");
  assert_string_equal(ev.lines[5], "d"); /* a final CR is stripped too */
  tw_irc_splitter_free(s);
}

/* A line inside one chunk is passed straight from the chunk. */
static void test_zero_copy(void **state) {
  (void)state;
  tw_irc_splitter_t *s = tw_irc_splitter_new(0, 0);
  events_t ev = {0};
  const char *chunk = "PING :x\r\nPONG :y\r\n";
  tw_irc_splitter_feed(s, chunk, strlen(chunk), on_line, &ev);
  assert_int_equal(ev.n, 2);
  assert_ptr_equal(ev.last_ptr, chunk + 9);
  tw_irc_splitter_free(s);
}

static void test_over_long_lines(void **state) {
  (void)state;
  const size_t cap = 16;
  tw_irc_splitter_t *s = tw_irc_splitter_new(cap, 0);
  events_t ev = {0};
  /* Exactly the cap, with CRLF: delivered. cap + 1: dropped. */
  const char *data = "0123456789abcdef\r\n"
                     "0123456789abcdefX\r\n"
                     "ok\n";
  tw_irc_splitter_feed(s, data, strlen(data), on_line, &ev);
  assert_int_equal(ev.n, 3);
  assert_string_equal(ev.lines[0], "0123456789abcdef");
  assert_int_equal(ev.errs[1], TW_ETOOBIG);
  assert_int_equal(ev.lens[1], 18); /* bytes discarded, CR included */
  assert_string_equal(ev.lines[2], "ok");
  assert_int_equal(tw_irc_splitter_dropped(s), 1);

  /* The same, a byte at a time: the buffered path must agree. */
  events_t ev2 = {0};
  for (size_t i = 0; i < strlen(data); i++)
    tw_irc_splitter_feed(s, data + i, 1, on_line, &ev2);
  assert_int_equal(ev2.n, 3);
  assert_string_equal(ev2.lines[0], "0123456789abcdef");
  assert_int_equal(ev2.errs[1], TW_ETOOBIG);
  assert_int_equal(ev2.lens[1], 18);
  assert_string_equal(ev2.lines[2], "ok");
  assert_int_equal(tw_irc_splitter_dropped(s), 2);

  /* A peer that never sends LF: nothing is held, however much it sends,
   * and the splitter resynchronises at the first LF. */
  events_t ev3 = {0};
  char junk[1000];
  memset(junk, 'j', sizeof(junk));
  for (int i = 0; i < 100; i++) {
    tw_irc_splitter_feed(s, junk, sizeof(junk), on_line, &ev3);
    assert_true(tw_irc_splitter_pending(s) <= cap + 1);
  }
  assert_int_equal(ev3.n, 0);
  tw_irc_splitter_feed(s, "jj\nPING :a\n", 11, on_line, &ev3);
  assert_int_equal(ev3.n, 2);
  assert_int_equal(ev3.errs[0], TW_ETOOBIG);
  assert_int_equal(ev3.lens[0], 100 * sizeof(junk) + 2);
  assert_string_equal(ev3.lines[1], "PING :a");
  assert_int_equal(tw_irc_splitter_dropped(s), 3);

  /* Over-long and unterminated at the end of the stream: reported. */
  events_t ev4 = {0};
  tw_irc_splitter_feed(s, junk, 40, on_line, &ev4);
  tw_irc_splitter_finish(s, on_line, &ev4);
  assert_int_equal(ev4.n, 1);
  assert_int_equal(ev4.errs[0], TW_ETOOBIG);
  assert_int_equal(ev4.lens[0], 40);
  assert_int_equal(tw_irc_splitter_dropped(s), 4);

  /* A partial line plus a chunk that pushes it over the cap. */
  events_t ev5 = {0};
  tw_irc_splitter_feed(s, "0123456789", 10, on_line, &ev5);
  tw_irc_splitter_feed(s, "0123456789\nok\n", 14, on_line, &ev5);
  assert_int_equal(ev5.n, 2);
  assert_int_equal(ev5.errs[0], TW_ETOOBIG);
  assert_int_equal(ev5.lens[0], 20);
  assert_string_equal(ev5.lines[1], "ok");
  tw_irc_splitter_free(s);
}

static void test_reset_and_args(void **state) {
  (void)state;
  tw_irc_splitter_t *s = tw_irc_splitter_new(0, 0);
  events_t ev = {0};
  tw_irc_splitter_feed(s, "half a li", 9, on_line, &ev);
  assert_int_equal(tw_irc_splitter_pending(s), 9);
  tw_irc_splitter_reset(s);
  assert_int_equal(tw_irc_splitter_pending(s), 0);
  tw_irc_splitter_feed(s, "ne\nwhole\n", 9, on_line, &ev);
  assert_int_equal(ev.n, 2);
  assert_string_equal(ev.lines[0], "ne");
  assert_string_equal(ev.lines[1], "whole");
  assert_int_equal(tw_irc_splitter_feed(NULL, "x", 1, on_line, &ev), TW_EINVAL);
  assert_int_equal(tw_irc_splitter_feed(s, "x", 1, NULL, &ev), TW_EINVAL);
  assert_int_equal(tw_irc_splitter_feed(s, NULL, 1, on_line, &ev), TW_EINVAL);
  assert_int_equal(tw_irc_splitter_feed(s, NULL, 0, on_line, &ev), 0);
  assert_int_equal(tw_irc_splitter_finish(NULL, on_line, &ev), TW_EINVAL);
  assert_int_equal(tw_irc_splitter_finish(s, NULL, &ev), TW_EINVAL);
  tw_irc_splitter_free(s);
  tw_irc_splitter_free(NULL);
  /* Caps above TW_MAX_IRC_LINE are clamped. */
  s = tw_irc_splitter_new((size_t)-1, 0);
  assert_non_null(s);
  tw_irc_splitter_free(s);
}

/* Random bytes with random line breaks, fed in random chunks: the splitter
 * never holds more than cap + 1 bytes and accounts for every byte. */
static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

typedef struct {
  size_t bytes; /* line bytes delivered or discarded, terminators aside */
  size_t lines;
} tally_t;

static void on_tally(void *ud, const char *line, size_t len, int err) {
  tally_t *t = ud;
  (void)line;
  (void)err;
  t->bytes += len;
  t->lines++;
}

static void test_random_stream_bounded(void **state) {
  (void)state;
  const size_t cap = 64;
  tw_irc_splitter_t *s = tw_irc_splitter_new(cap, TW_IRC_SPLIT_KEEP_EMPTY);
  tally_t t = {0};
  static char buf[1 << 16];
  size_t lf = 0, cr_before_lf = 0;
  for (size_t i = 0; i < sizeof(buf); i++) {
    uint32_t r = rnd() % 97;
    buf[i] = r == 0 ? '\n' : r == 1 ? '\r' : (char)('a' + r % 26);
    if (buf[i] == '\n') {
      lf++;
      if (i && buf[i - 1] == '\r')
        cr_before_lf++;
    }
  }
  size_t at = 0;
  while (at < sizeof(buf)) {
    size_t n = 1 + rnd() % 300;
    if (n > sizeof(buf) - at)
      n = sizeof(buf) - at;
    tw_irc_splitter_feed(s, buf + at, n, on_tally, &t);
    assert_true(tw_irc_splitter_pending(s) <= cap + 1);
    at += n;
  }
  tw_irc_splitter_finish(s, on_tally, &t);
  /* Every LF ends one line, plus the unterminated tail. */
  size_t tail = buf[sizeof(buf) - 1] != '\n';
  assert_int_equal(t.lines, lf + tail);
  /* Delivered lines lose one CR before their LF; dropped lines report the
   * raw byte count, CR included. Both add up to the stream minus LFs minus
   * the stripped CRs of delivered lines, so the total is bounded by it. */
  assert_true(t.bytes <= sizeof(buf) - lf);
  assert_true(t.bytes + cr_before_lf + 1 >= sizeof(buf) - lf);
  tw_irc_splitter_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_any_chunking),
      cmocka_unit_test(test_keep_empty_and_finish),
      cmocka_unit_test(test_zero_copy),
      cmocka_unit_test(test_over_long_lines),
      cmocka_unit_test(test_reset_and_args),
      cmocka_unit_test(test_random_stream_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
