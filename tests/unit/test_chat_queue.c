/* Unit tests for the outbound chat queue. Time is simulated: every test
 * drives the queue with explicit millisecond values, so runs are exact and
 * repeatable. Every time the queue says "wait w ms", the driver checks the
 * answer is exact: a pull at now + w - 1 is refused (with 1 ms to go) and a
 * pull at now + w succeeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitch/chat_queue.h"
#include "twitchd/error.h"

#define LINE_CAP (TW_MAX_CHAT_LINE + 1)
#define MAX_SENT 4096

/* Twitch's own rules, without our margins: what the tests hold us to. */
#define TWITCH_WINDOW 30000
#define TWITCH_NORMAL 20
#define TWITCH_PRIV 100
#define TWITCH_INTERVAL 1000

typedef struct {
  uint64_t t;
  bool privileged; /* as the test had set the channel when it was sent */
  char channel[TW_MAX_CHAT_CHANNEL_NAME + 1];
  char line[LINE_CAP];
  size_t len;
} sent_t;

typedef struct {
  sent_t *v;
  size_t n;
  /* channels the test has made privileged */
  char priv[16][TW_MAX_CHAT_CHANNEL_NAME + 1];
  size_t npriv;
} log_t;

static tw_chatq_t *new_queue(void) {
  tw_chatq_t *q = NULL;
  assert_int_equal(tw_chatq_new(NULL, &q), 0);
  assert_non_null(q);
  return q;
}

static log_t *new_log(void) {
  log_t *l = calloc(1, sizeof(*l));
  assert_non_null(l);
  l->v = calloc(MAX_SENT, sizeof(*l->v));
  assert_non_null(l->v);
  return l;
}

static void free_log(log_t *l) {
  free(l->v);
  free(l);
}

static bool log_is_priv(const log_t *l, const char *ch) {
  for (size_t i = 0; i < l->npriv; i++)
    if (strcmp(l->priv[i], ch) == 0)
      return true;
  return false;
}

static void set_priv(tw_chatq_t *q, log_t *l, const char *name, bool on) {
  char ch[TW_MAX_CHAT_CHANNEL_NAME + 1];
  assert_int_equal(tw_chatq_set_privileged(q, name, on), 0);
  /* Keep the log's copy in the queue's spelling. */
  assert_int_equal(tw__chat_channel_normalize(name, ch), 0);
  for (size_t i = 0; i < l->npriv; i++) {
    if (strcmp(l->priv[i], ch) == 0) {
      if (!on)
        memcpy(l->priv[i], l->priv[--l->npriv], sizeof(l->priv[i]));
      return;
    }
  }
  if (on) {
    assert_true(l->npriv < 16);
    snprintf(l->priv[l->npriv++], sizeof(l->priv[0]), "%s", ch);
  }
}

/* The channel a line is addressed to. */
static void line_channel(const char *line, char *out) {
  const char *p = strstr(line, "PRIVMSG #");
  size_t n = 0;
  assert_non_null(p);
  p += 9;
  while (p[n] && p[n] != ' ')
    n++;
  assert_true(n <= TW_MAX_CHAT_CHANNEL_NAME);
  memcpy(out, p, n);
  out[n] = '\0';
}

/* The text of a line (after " :"), as a pointer into it. */
static const char *line_text(const char *line) {
  const char *p = strstr(line, " :");
  assert_non_null(p);
  return p + 2;
}

/* One pull at *now. On success the line is logged and 1 returned. On
 * TW_EAGAIN the answer is checked for exactness, *now advances by it and the
 * pull there must succeed; returns 1 too. Returns 0 when the queue is empty
 * (then wait must be UINT64_MAX). */
static int pull(tw_chatq_t *q, log_t *l, uint64_t *now) {
  char buf[LINE_CAP];
  size_t len = 12345;
  uint64_t wait = 0;
  int rc = tw_chatq_next(q, *now, buf, sizeof(buf), &len, &wait);

  if (rc == TW_EAGAIN) {
    tw_chatq_stats_t st;
    assert_int_equal(len, 0);
    tw_chatq_stats(q, *now, &st);
    if (wait == UINT64_MAX) {
      assert_int_equal(st.queued, 0);
      return 0;
    }
    assert_true(st.queued > 0);
    assert_true(wait >= 1);
    {
      uint64_t w = wait;
      /* One millisecond early: still refused, with exactly 1 ms to go. */
      rc = tw_chatq_next(q, *now + w - 1, buf, sizeof(buf), &len, &wait);
      assert_int_equal(rc, TW_EAGAIN);
      assert_int_equal(wait, 1);
      /* On time: a line. */
      *now += w;
      rc = tw_chatq_next(q, *now, buf, sizeof(buf), &len, &wait);
    }
  }
  assert_int_equal(rc, 0);
  assert_int_equal(wait, 0);
  assert_int_equal(strlen(buf), len);
  assert_true(l->n < MAX_SENT);
  {
    sent_t *s = &l->v[l->n++];
    s->t = *now;
    memcpy(s->line, buf, len + 1);
    s->len = len;
    line_channel(buf, s->channel);
    s->privileged = log_is_priv(l, s->channel);
  }
  return 1;
}

/* Pulls until the queue is empty. */
static void drain(tw_chatq_t *q, log_t *l, uint64_t *now) {
  while (pull(q, l, now))
    ;
}

/* Holds the log to Twitch's documented rules (30 s, 20/100, 1 s per
 * non-privileged channel, no line ever carrying CR, LF or NUL): a line to a
 * non-privileged channel needs fewer than 20 lines in the 30 s before it, a
 * privileged one fewer than 100. Lines sent in the same millisecond count as
 * before it when logged earlier. */
static void check_twitch_rules(const log_t *l) {
  size_t lo = 0;
  for (size_t i = 0; i < l->n; i++) {
    const sent_t *s = &l->v[i];
    size_t in_window;
    if (i > 0)
      assert_true(s->t >= l->v[i - 1].t);
    while (l->v[lo].t + TWITCH_WINDOW <= s->t)
      lo++;
    in_window = i - lo;
    if (s->privileged) {
      if (in_window >= TWITCH_PRIV)
        fail_msg("line %zu at %llu: %zu lines in the window before it", i,
                 (unsigned long long)s->t, in_window);
    } else {
      if (in_window >= TWITCH_NORMAL)
        fail_msg("line %zu at %llu (#%s): %zu lines in the window before it", i,
                 (unsigned long long)s->t, s->channel, in_window);
      for (size_t j = i; j-- > 0;) {
        if (strcmp(l->v[j].channel, s->channel) == 0) {
          if (s->t - l->v[j].t < TWITCH_INTERVAL)
            fail_msg("line %zu: two lines in #%s within 1 s", i, s->channel);
          break;
        }
      }
    }
    assert_int_equal(strlen(s->line), s->len);
    assert_null(strchr(s->line, '\r'));
    assert_null(strchr(s->line, '\n'));
    assert_true(s->len <= TW_MAX_CHAT_LINE);
  }
}

/* --- format ------------------------------------------------------------ */

static void test_line_format(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 1000;
  (void)state;
  assert_int_equal(
      tw_chatq_say(q, "#Some_Chan", "hello world", NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "some_chan", "waves", NULL, true, now), 0);
  assert_int_equal(tw_chatq_say(q, "some_chan", "absolutely!",
                                "885196de-cb67-427a-baa8-82f9b0fcd05f", false,
                                now),
                   0);
  assert_int_equal(
      tw_chatq_say(q, "some_chan", "nods", "abc;def ghi\\jkl", true, now), 0);
  drain(q, l, &now);
  assert_int_equal(l->n, 4);
  assert_string_equal(l->v[0].line, "PRIVMSG #some_chan :hello world");
  assert_string_equal(l->v[1].line, "PRIVMSG #some_chan :\x01"
                                    "ACTION waves\x01");
  assert_string_equal(l->v[2].line,
                      "@reply-parent-msg-id=885196de-cb67-427a-baa8-"
                      "82f9b0fcd05f PRIVMSG #some_chan :absolutely!");
  /* ';' ' ' '\' in the id are escaped per IRCv3. */
  assert_string_equal(l->v[3].line,
                      "@reply-parent-msg-id=abc\\:def\\sghi\\\\jkl PRIVMSG "
                      "#some_chan :\x01"
                      "ACTION nods\x01");
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

/* --- injection --------------------------------------------------------- */

static void test_injection_crlf(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  assert_int_equal(
      tw_chatq_say(q, "chan", "hi\r\nPRIVMSG #other :pwned", NULL, false, now),
      0);
  drain(q, l, &now);
  assert_int_equal(l->n, 1);
  assert_string_equal(l->v[0].line, "PRIVMSG #chan :hi  PRIVMSG #other :pwned");
  assert_string_equal(l->v[0].channel, "chan");
  free_log(l);
  tw_chatq_free(q);
}

static void test_injection_nul_and_others(void **state) {
  static const char text[] = "a\0\r\nJOIN #x\rb\nc";
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  /* NUL inside a counted text is a space too, not an end. */
  assert_int_equal(
      tw_chatq_say_len(q, "chan", text, sizeof(text) - 1, NULL, false, now), 0);
  /* An action cannot be closed early or forged with \x01. */
  assert_int_equal(
      tw_chatq_say(q, "chan", "x\x01\r\nQUIT\x01 y", NULL, true, now), 0);
  assert_int_equal(tw_chatq_say(q, "chan",
                                "\x01"
                                "ACTION forged\x01",
                                NULL, false, now),
                   0);
  /* A reply id with CR LF is escaped, never raw. */
  assert_int_equal(
      tw_chatq_say(q, "chan", "ok", "id\r\nPRIVMSG #x :y", false, now), 0);
  /* A channel name cannot carry anything. */
  assert_int_equal(tw_chatq_say(q, "chan\r\nQUIT", "x", NULL, false, now),
                   TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "chan :x", "x", NULL, false, now),
                   TW_EINVAL);
  drain(q, l, &now);
  assert_int_equal(l->n, 4);
  assert_string_equal(l->v[0].line, "PRIVMSG #chan :a   JOIN #x b c");
  assert_string_equal(l->v[1].line, "PRIVMSG #chan :\x01"
                                    "ACTION x   QUIT  y\x01");
  /* Leading control characters become spaces and are trimmed. */
  assert_string_equal(l->v[2].line, "PRIVMSG #chan :ACTION forged");
  assert_string_equal(l->v[3].line, "@reply-parent-msg-id=id\\r\\nPRIVMSG\\s#x"
                                    "\\s:y PRIVMSG #chan :ok");
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

static void test_invalid_utf8_replaced(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  assert_int_equal(tw_chatq_say(q, "chan", "caf\xC3 ok \xFF", NULL, false, now),
                   0);
  drain(q, l, &now);
  assert_string_equal(l->v[0].line, "PRIVMSG #chan :caf\xEF\xBF\xBD ok "
                                    "\xEF\xBF\xBD");
  free_log(l);
  tw_chatq_free(q);
}

/* --- argument checks --------------------------------------------------- */

static void test_say_rejects_bad_input(void **state) {
  tw_chatq_t *q = new_queue();
  char big[TW_MAX_CHAT_TEXT + 2];
  char id[TW_MAX_CHAT_REPLY_ID + 2];
  tw_chatq_stats_t st;
  (void)state;
  assert_int_equal(tw_chatq_say(NULL, "c", "x", NULL, false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, NULL, "x", NULL, false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "c", NULL, NULL, false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say_len(q, "c", NULL, 3, NULL, false, 0),
                   TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "c", "", NULL, false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "c", " \t\r\n ", NULL, false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "c", "\xC2\xA0\xE3\x80\x80", NULL, true, 0),
                   TW_EINVAL);
  assert_int_equal(tw_chatq_say_len(q, "c", "\0\0", 2, NULL, false, 0),
                   TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "", "x", NULL, false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "#", "x", NULL, false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "has-dash", "x", NULL, false, 0), TW_EINVAL);
  assert_int_equal(
      tw_chatq_say(q, "abcdefghijklmnopqrstuvwxyz", "x", NULL, false, 0),
      TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "c", "x", "", false, 0), TW_EINVAL);
  assert_int_equal(tw_chatq_say(q, "c", "x", "bad\xC3", false, 0), TW_EINVAL);
  memset(id, 'i', sizeof(id) - 1);
  id[sizeof(id) - 1] = '\0';
  assert_int_equal(tw_chatq_say(q, "c", "x", id, false, 0), TW_ETOOBIG);
  id[TW_MAX_CHAT_REPLY_ID] = '\0';
  assert_int_equal(tw_chatq_say(q, "c", "x", id, false, 0), 0);
  memset(big, 'b', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(tw_chatq_say(q, "c", big, NULL, false, 0), TW_ETOOBIG);
  big[TW_MAX_CHAT_TEXT] = '\0';
  assert_int_equal(tw_chatq_say(q, "c", big, NULL, false, 0), 0);
  tw_chatq_stats(q, 0, &st);
  /* 1 + ceil(8192 / 500) parts. */
  assert_int_equal(st.queued, 1 + 17);
  assert_int_equal(st.rejected_full, 0);
  assert_int_equal(tw_chatq_set_privileged(q, "bad name", true), TW_EINVAL);
  assert_int_equal(tw_chatq_set_privileged(NULL, "c", true), TW_EINVAL);
  tw_chatq_free(q);
}

static void test_new_rejects_bad_limits(void **state) {
  tw_chatq_limits_t lim;
  tw_chatq_t *q = (tw_chatq_t *)&lim;
  (void)state;
  assert_int_equal(tw_chatq_new(NULL, NULL), TW_EINVAL);
  tw_chatq_limits_default(&lim);
  assert_int_equal(lim.window_ms, 31000);
  assert_int_equal(lim.normal_max, 20);
  assert_int_equal(lim.privileged_max, 100);
  assert_int_equal(lim.channel_interval_ms, 1200);
  assert_int_equal(lim.duplicate_ms, 31000);
  lim.window_ms = 0;
  assert_int_equal(tw_chatq_new(&lim, &q), TW_EINVAL);
  assert_null(q);
  tw_chatq_limits_default(&lim);
  lim.normal_max = 0;
  assert_int_equal(tw_chatq_new(&lim, &q), TW_EINVAL);
  tw_chatq_limits_default(&lim);
  lim.privileged_max = 19;
  assert_int_equal(tw_chatq_new(&lim, &q), TW_EINVAL);
  tw_chatq_limits_default(&lim);
  lim.normal_max = lim.privileged_max = TW_MAX_CHAT_WINDOW_SENDS + 1;
  assert_int_equal(tw_chatq_new(&lim, &q), TW_EINVAL);
  tw_chatq_limits_default(&lim);
  lim.max_queued = TW_MAX_CHAT_QUEUE + 1;
  assert_int_equal(tw_chatq_new(&lim, &q), TW_EINVAL);
  tw_chatq_limits_default(&lim);
  lim.max_queued_per_channel = 0;
  assert_int_equal(tw_chatq_new(&lim, &q), TW_EINVAL);
  tw_chatq_limits_default(&lim);
  lim.max_queued = 10;
  lim.max_queued_per_channel = 11;
  assert_int_equal(tw_chatq_new(&lim, &q), TW_EINVAL);
  /* A verified bot's figures are accepted. */
  tw_chatq_limits_default(&lim);
  lim.normal_max = lim.privileged_max = 7500;
  assert_int_equal(tw_chatq_new(&lim, &q), 0);
  tw_chatq_free(q);
  tw_chatq_free(NULL);
}

/* --- limits ------------------------------------------------------------ */

/* 1,000 messages to one non-privileged channel, fed as fast as the queue
 * accepts them: all delivered, in order, on the exact schedule the limits
 * give (bursts of 20 lines 1.2 s apart, one burst per 31 s), never more than
 * 20 in any 30 s nor two within 1 s. */
static void test_thousand_messages_one_channel(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  int fed = 0, fulls = 0;
  (void)state;
  while (l->n < 1000) {
    while (fed < 1000) {
      char text[64];
      int rc;
      tw_chatq_channel_stats_t cs;
      snprintf(text, sizeof(text), "message %04d", fed);
      rc = tw_chatq_say(q, "#chan", text, NULL, false, now);
      if (rc == TW_EFULL) {
        /* Refused only at the cap, and nothing was queued. */
        assert_int_equal(tw_chatq_channel_stats(q, "chan", now, &cs), 0);
        assert_int_equal(cs.queued, TW_MAX_CHAT_QUEUE_PER_CHANNEL);
        fulls++;
        break;
      }
      assert_int_equal(rc, 0);
      fed++;
    }
    assert_int_equal(pull(q, l, &now), 1);
  }
  assert_true(fulls > 0);
  for (size_t i = 0; i < 1000; i++) {
    char want[64];
    uint64_t t = (uint64_t)(i / 20) * 31000 + (uint64_t)(i % 20) * 1200;
    snprintf(want, sizeof(want), "PRIVMSG #chan :message %04zu", i);
    assert_string_equal(l->v[i].line, want);
    if (l->v[i].t != t)
      fail_msg("line %zu sent at %llu, expected %llu", i,
               (unsigned long long)l->v[i].t, (unsigned long long)t);
  }
  check_twitch_rules(l);
  /* And explicitly, every sliding 30 s window: at most 20. */
  for (size_t i = 0; i + 20 < l->n; i++)
    assert_true(l->v[i + 20].t - l->v[i].t >= TWITCH_WINDOW);
  free_log(l);
  tw_chatq_free(q);
}

static void test_privileged_channel_hundred(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  int fed = 0;
  size_t max_in_window = 0;
  (void)state;
  set_priv(q, l, "modded", true);
  while (l->n < 300) {
    while (fed < 300) {
      char text[32];
      int rc;
      snprintf(text, sizeof(text), "p%03d", fed);
      rc = tw_chatq_say(q, "modded", text, NULL, false, now);
      if (rc == TW_EFULL)
        break;
      assert_int_equal(rc, 0);
      fed++;
    }
    assert_int_equal(pull(q, l, &now), 1);
  }
  for (size_t i = 0; i < 300; i++) {
    char want[64];
    snprintf(want, sizeof(want), "PRIVMSG #modded :p%03zu", i);
    assert_string_equal(l->v[i].line, want);
    /* No per-channel gap for a privileged channel: 100 per window. */
    assert_int_equal(l->v[i].t, (uint64_t)(i / 100) * 31000);
  }
  check_twitch_rules(l);
  for (size_t i = 0, lo = 0; i < l->n; i++) {
    while (l->v[lo].t + TWITCH_WINDOW <= l->v[i].t)
      lo++;
    if (i - lo + 1 > max_in_window)
      max_in_window = i - lo + 1;
  }
  assert_int_equal(max_in_window, 100);
  free_log(l);
  tw_chatq_free(q);
}

/* Privileged lines count toward the 20: once they used them, only
 * privileged channels continue, up to 100. */
static void test_privileged_lines_count_toward_twenty(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  char text[32];
  (void)state;
  set_priv(q, l, "mod", true);
  for (int i = 0; i < 25; i++) {
    snprintf(text, sizeof(text), "m%d", i);
    assert_int_equal(tw_chatq_say(q, "mod", text, NULL, false, now), 0);
  }
  for (int i = 0; i < 25; i++)
    assert_int_equal(pull(q, l, &now), 1);
  assert_int_equal(now, 0);
  assert_int_equal(tw_chatq_say(q, "plain", "hello", NULL, false, now), 0);
  for (int i = 25; i < 30; i++) {
    snprintf(text, sizeof(text), "m%d", i);
    assert_int_equal(tw_chatq_say(q, "mod", text, NULL, false, now), 0);
  }
  drain(q, l, &now);
  assert_int_equal(l->n, 31);
  /* The five privileged lines went at once; the plain one waited for the
   * 20th most recent line (at 0) to leave the 31 s window. */
  for (size_t i = 25; i < 30; i++) {
    assert_string_equal(l->v[i].channel, "mod");
    assert_int_equal(l->v[i].t, 0);
  }
  assert_string_equal(l->v[30].line, "PRIVMSG #plain :hello");
  assert_int_equal(l->v[30].t, 31000);
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

/* Three non-privileged channels with five messages each: served in turn, and
 * a channel waiting for its own 1.2 s slot never holds the others. */
static void test_fair_round_robin(void **state) {
  static const char *chans[] = {"aa", "bb", "cc"};
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  char text[32];
  (void)state;
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 5; i++) {
      snprintf(text, sizeof(text), "%s %d", chans[c], i);
      assert_int_equal(tw_chatq_say(q, chans[c], text, NULL, false, now), 0);
    }
  drain(q, l, &now);
  assert_int_equal(l->n, 15);
  for (size_t k = 0; k < 15; k++) {
    char want[64];
    snprintf(want, sizeof(want), "PRIVMSG #%s :%s %zu", chans[k % 3],
             chans[k % 3], k / 3);
    assert_string_equal(l->v[k].line, want);
    assert_int_equal(l->v[k].t, (uint64_t)(k / 3) * 1200);
  }
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

static void test_interval_does_not_block_others(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  assert_int_equal(tw_chatq_say(q, "aa", "one", NULL, false, 0), 0);
  assert_int_equal(tw_chatq_say(q, "aa", "two", NULL, false, 0), 0);
  assert_int_equal(pull(q, l, &now), 1);
  now = 500;
  assert_int_equal(tw_chatq_say(q, "bb", "other", NULL, false, now), 0);
  assert_int_equal(pull(q, l, &now), 1);
  assert_string_equal(l->v[1].line, "PRIVMSG #bb :other");
  assert_int_equal(l->v[1].t, 500);
  assert_int_equal(pull(q, l, &now), 1);
  assert_string_equal(l->v[2].line, "PRIVMSG #aa :two");
  assert_int_equal(l->v[2].t, 1200);
  free_log(l);
  tw_chatq_free(q);
}

/* Two busy channels under the 20-line window: strict alternation. */
static void test_fairness_under_window(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  char text[32];
  (void)state;
  for (int i = 0; i < 40; i++) {
    snprintf(text, sizeof(text), "a%d", i);
    assert_int_equal(tw_chatq_say(q, "aa", text, NULL, false, now), 0);
    snprintf(text, sizeof(text), "b%d", i);
    assert_int_equal(tw_chatq_say(q, "bb", text, NULL, false, now), 0);
  }
  drain(q, l, &now);
  assert_int_equal(l->n, 80);
  for (size_t k = 0; k < 80; k++) {
    char want[64];
    snprintf(want, sizeof(want), "PRIVMSG #%s :%c%zu", k % 2 ? "bb" : "aa",
             k % 2 ? 'b' : 'a', k / 2);
    assert_string_equal(l->v[k].line, want);
  }
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

/* Privileged channels have no per-channel gap to force turns: the
 * round-robin alone must. Two busy moderated channels alternate. */
static void test_fairness_privileged_channels(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  char text[32];
  (void)state;
  set_priv(q, l, "p1", true);
  set_priv(q, l, "p2", true);
  for (int i = 0; i < 60; i++) {
    snprintf(text, sizeof(text), "x%d", i);
    assert_int_equal(tw_chatq_say(q, "p1", text, NULL, false, now), 0);
  }
  for (int i = 0; i < 60; i++) {
    snprintf(text, sizeof(text), "y%d", i);
    assert_int_equal(tw_chatq_say(q, "p2", text, NULL, false, now), 0);
  }
  drain(q, l, &now);
  assert_int_equal(l->n, 120);
  for (size_t k = 0; k < 120; k++) {
    char want[64];
    snprintf(want, sizeof(want), "PRIVMSG #%s :%c%zu", k % 2 ? "p2" : "p1",
             k % 2 ? 'y' : 'x', k / 2);
    assert_string_equal(l->v[k].line, want);
    assert_int_equal(l->v[k].t, k < 100 ? 0 : 31000);
  }
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

/* Steady privileged traffic (one line every 500 ms, within its 100 but
 * always above 20 per window) must not starve a non-privileged channel: the
 * plain message goes within two windows of being queued, and the
 * privileged channel keeps most of its throughput. */
static void test_no_starvation_under_privileged_load(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0, arrival = 0, plain_at = 10000, sent_plain = 0;
  bool plain_queued = false;
  int fed = 0;
  (void)state;
  set_priv(q, l, "busy", true);
  while (now < 200000) {
    char buf[LINE_CAP];
    size_t len;
    uint64_t wait, next_event;
    int rc;
    while (arrival <= now) {
      char text[32];
      snprintf(text, sizeof(text), "busy %d", fed++);
      assert_int_equal(tw_chatq_say(q, "busy", text, NULL, false, now), 0);
      arrival += 500;
    }
    if (!plain_queued && now >= plain_at) {
      assert_int_equal(tw_chatq_say(q, "quiet", "hello", NULL, false, now), 0);
      plain_queued = true;
    }
    rc = tw_chatq_next(q, now, buf, sizeof(buf), &len, &wait);
    if (rc == 0) {
      sent_t *s = &l->v[l->n++];
      assert_true(l->n < MAX_SENT);
      s->t = now;
      memcpy(s->line, buf, len + 1);
      s->len = len;
      line_channel(buf, s->channel);
      s->privileged = log_is_priv(l, s->channel);
      if (strcmp(s->channel, "quiet") == 0)
        sent_plain = now;
      continue;
    }
    assert_int_equal(rc, TW_EAGAIN);
    next_event = arrival;
    if (!plain_queued && plain_at < next_event)
      next_event = plain_at;
    if (wait != UINT64_MAX && now + wait < next_event)
      next_event = now + wait;
    now = next_event;
  }
  assert_true(sent_plain > 0);
  /* Not at once (the window was full of privileged lines) ... */
  assert_true(sent_plain >= plain_at + 31000);
  /* ... but within two windows. */
  assert_true(sent_plain <= plain_at + 2 * 31000);
  check_twitch_rules(l);
  /* The privileged channel was not starved either: it sent most of what
   * arrived (200 s at 2 per second). */
  assert_true(l->n > 350);
  free_log(l);
  tw_chatq_free(q);
}

/* --- wait answers -------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(uint64_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state % n;
}

/* A long random (but seeded, so repeatable) mix of channels, privileges,
 * duplicates, replies, actions and long texts. Every wait answer is checked
 * for exactness by pull(), and the whole log against Twitch's rules. */
static void test_wait_answers_exact_random(void **state) {
  static const char *chans[] = {"aa", "bb", "cc", "dd", "ee"};
  static const char *texts[] = {"same", "same text", "hello there", "x"};
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  char buf[LINE_CAP], long_text[1400];
  (void)state;
  memset(long_text, 'z', sizeof(long_text) - 1);
  long_text[sizeof(long_text) - 1] = '\0';
  long_text[700] = ' ';
  for (int step = 0; step < 3000 && l->n + 10 < MAX_SENT; step++) {
    size_t len;
    uint64_t wait;
    int rc = tw_chatq_next(q, now, buf, sizeof(buf), &len, &wait);
    if (rc == 0) {
      sent_t *s = &l->v[l->n++];
      s->t = now;
      memcpy(s->line, buf, len + 1);
      s->len = len;
      line_channel(buf, s->channel);
      s->privileged = log_is_priv(l, s->channel);
      continue;
    }
    assert_int_equal(rc, TW_EAGAIN);
    if (wait != UINT64_MAX && rnd(3) != 0) {
      /* Take the answer at its word; pull() checks it is exact. */
      assert_int_equal(pull(q, l, &now), 1);
      continue;
    }
    /* Something happens before the answer is due. */
    if (wait != UINT64_MAX)
      now += rnd(wait);
    else
      now += rnd(40000);
    switch (rnd(8)) {
    case 0:
      set_priv(q, l, chans[rnd(5)], rnd(2) == 0);
      break;
    case 1:
      (void)tw_chatq_say(q, chans[rnd(5)], long_text, "re;ply id", false, now);
      break;
    default: {
      int rc2 = tw_chatq_say(q, chans[rnd(5)], texts[rnd(4)],
                             rnd(4) == 0 ? "parent" : NULL, rnd(5) == 0, now);
      assert_true(rc2 == 0 || rc2 == TW_EFULL);
      break;
    }
    }
  }
  drain(q, l, &now);
  assert_true(l->n > 500);
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

static void test_empty_queue_waits_forever(void **state) {
  tw_chatq_t *q = new_queue();
  char buf[LINE_CAP];
  size_t len = 99;
  uint64_t wait = 0;
  (void)state;
  assert_int_equal(tw_chatq_next(q, 5, buf, sizeof(buf), &len, &wait),
                   TW_EAGAIN);
  assert_int_equal(len, 0);
  assert_true(wait == UINT64_MAX);
  assert_int_equal(tw_chatq_next(NULL, 5, buf, sizeof(buf), &len, &wait),
                   TW_EINVAL);
  assert_int_equal(tw_chatq_next(q, 5, NULL, sizeof(buf), &len, &wait),
                   TW_EINVAL);
  assert_int_equal(tw_chatq_next(q, 5, buf, sizeof(buf), NULL, &wait),
                   TW_EINVAL);
  assert_int_equal(tw_chatq_next(q, 5, buf, sizeof(buf), &len, NULL),
                   TW_EINVAL);
  tw_chatq_free(q);
}

static void test_small_buffer_consumes_nothing(void **state) {
  tw_chatq_t *q = new_queue();
  char buf[LINE_CAP];
  size_t len = 0;
  uint64_t wait = 1;
  (void)state;
  assert_int_equal(tw_chatq_say(q, "chan", "hello", NULL, false, 0), 0);
  /* "PRIVMSG #chan :hello" is 20 bytes and needs 21 with the NUL. */
  assert_int_equal(tw_chatq_next(q, 0, buf, 20, &len, &wait), TW_ETOOBIG);
  assert_int_equal(len, 20);
  assert_int_equal(tw_chatq_next(q, 0, buf, 21, &len, &wait), 0);
  assert_string_equal(buf, "PRIVMSG #chan :hello");
  tw_chatq_free(q);
}

/* A clock that goes backwards is treated as the latest time seen: the queue
 * never sends earlier than its limits allow. */
static void test_time_going_backwards(void **state) {
  tw_chatq_t *q = new_queue();
  char buf[LINE_CAP];
  size_t len;
  uint64_t wait;
  (void)state;
  assert_int_equal(tw_chatq_say(q, "chan", "one", NULL, false, 5000), 0);
  assert_int_equal(tw_chatq_say(q, "chan", "two", NULL, false, 5000), 0);
  assert_int_equal(tw_chatq_next(q, 5000, buf, sizeof(buf), &len, &wait), 0);
  assert_int_equal(tw_chatq_next(q, 0, buf, sizeof(buf), &len, &wait),
                   TW_EAGAIN);
  assert_int_equal(wait, 1200);
  assert_int_equal(tw_chatq_next(q, 6199, buf, sizeof(buf), &len, &wait),
                   TW_EAGAIN);
  assert_int_equal(tw_chatq_next(q, 6200, buf, sizeof(buf), &len, &wait), 0);
  tw_chatq_free(q);
}

/* --- capacity ---------------------------------------------------------- */

static void test_efull_nothing_lost(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  int accepted[5] = {0};
  char ch[8], text[32];
  tw_chatq_stats_t st;
  (void)state;
  /* Fill one channel to its cap. */
  for (int i = 0; i < TW_MAX_CHAT_QUEUE_PER_CHANNEL; i++) {
    snprintf(text, sizeof(text), "c0 %d", accepted[0]++);
    assert_int_equal(tw_chatq_say(q, "c0", text, NULL, false, now), 0);
  }
  assert_int_equal(tw_chatq_say(q, "c0", "one too many", NULL, false, now),
                   TW_EFULL);
  /* Another channel still has room. */
  for (int c = 1; c < 4; c++) {
    snprintf(ch, sizeof(ch), "c%d", c);
    for (int i = 0; i < TW_MAX_CHAT_QUEUE_PER_CHANNEL - (c == 3); i++) {
      snprintf(text, sizeof(text), "%s %d", ch, accepted[c]++);
      assert_int_equal(tw_chatq_say(q, ch, text, NULL, false, now), 0);
    }
  }
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.queued, TW_MAX_CHAT_QUEUE - 1);
  /* A two-part message does not fit in the one free slot: refused whole. */
  {
    char two[700];
    memset(two, 'w', sizeof(two) - 1);
    two[sizeof(two) - 1] = '\0';
    two[400] = ' ';
    assert_int_equal(tw_chatq_say(q, "c4", two, NULL, false, now), TW_EFULL);
  }
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.queued, TW_MAX_CHAT_QUEUE - 1);
  snprintf(text, sizeof(text), "c4 %d", accepted[4]++);
  assert_int_equal(tw_chatq_say(q, "c4", text, NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "c4", "full", NULL, false, now), TW_EFULL);
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.queued, TW_MAX_CHAT_QUEUE);
  assert_int_equal(st.rejected_full, 3);
  /* One line out, one slot free again. */
  assert_int_equal(pull(q, l, &now), 1);
  snprintf(text, sizeof(text), "c4 %d", accepted[4]++);
  assert_int_equal(tw_chatq_say(q, "c4", text, NULL, false, now), 0);
  drain(q, l, &now);
  /* Every accepted message went out exactly once, in order per channel. */
  {
    int seen[5] = {0};
    size_t total = 0;
    for (size_t i = 0; i < l->n; i++) {
      int c = l->v[i].channel[1] - '0', k = -1;
      const char *t = line_text(l->v[i].line);
      assert_true(c >= 0 && c < 5);
      assert_int_equal(sscanf(t + 3, "%d", &k), 1);
      assert_int_equal(k, seen[c]);
      seen[c]++;
      total++;
    }
    for (int c = 0; c < 5; c++)
      assert_int_equal(seen[c], accepted[c]);
    assert_int_equal(total, TW_MAX_CHAT_QUEUE + 1);
  }
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

static void test_too_many_parts_is_toobig(void **state) {
  tw_chatq_limits_t lim;
  tw_chatq_t *q;
  char text[1300];
  tw_chatq_stats_t st;
  (void)state;
  tw_chatq_limits_default(&lim);
  lim.max_queued_per_channel = 2;
  lim.max_queued = 3;
  assert_int_equal(tw_chatq_new(&lim, &q), 0);
  memset(text, 'q', sizeof(text) - 1);
  text[sizeof(text) - 1] = '\0';
  /* Three parts can never fit a channel capped at two: not "full, retry",
   * but "too big". */
  assert_int_equal(tw_chatq_say(q, "chan", text, NULL, false, 0), TW_ETOOBIG);
  text[900] = '\0';
  assert_int_equal(tw_chatq_say(q, "chan", text, NULL, false, 0), 0);
  assert_int_equal(tw_chatq_say(q, "chan", "x", NULL, false, 0), TW_EFULL);
  assert_int_equal(tw_chatq_say(q, "other", "x", NULL, false, 0), 0);
  assert_int_equal(tw_chatq_say(q, "third", "x", NULL, false, 0), TW_EFULL);
  tw_chatq_stats(q, 0, &st);
  assert_int_equal(st.queued, 3);
  assert_int_equal(st.rejected_full, 2);
  tw_chatq_free(q);
}

static void test_channel_table_full(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  char ch[32];
  uint64_t now = 0;
  tw_chatq_stats_t st;
  (void)state;
  for (int i = 0; i < TW_MAX_CHAT_CHANNELS - 1; i++) {
    snprintf(ch, sizeof(ch), "mod%d", i);
    assert_int_equal(tw_chatq_set_privileged(q, ch, true), 0);
  }
  /* The last slot: a channel that just sent a line. */
  assert_int_equal(tw_chatq_say(q, "recent", "hi", NULL, false, now), 0);
  assert_int_equal(pull(q, l, &now), 1);
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.channels, TW_MAX_CHAT_CHANNELS);
  /* Privileged channels and one with a line in the window are kept. */
  now = 1;
  assert_int_equal(tw_chatq_say(q, "newcomer", "x", NULL, false, now),
                   TW_EFULL);
  assert_int_equal(tw_chatq_set_privileged(q, "newcomer", true), TW_EFULL);
  /* Unprivileging an unknown channel needs no slot. */
  assert_int_equal(tw_chatq_set_privileged(q, "unknown", false), 0);
  /* Once the line leaves every window, its channel may be forgotten. */
  now = 30999;
  assert_int_equal(tw_chatq_say(q, "newcomer", "x", NULL, false, now),
                   TW_EFULL);
  now = 31000;
  assert_int_equal(tw_chatq_say(q, "newcomer", "x", NULL, false, now), 0);
  /* An unprivileged, idle channel makes room too. */
  assert_int_equal(tw_chatq_set_privileged(q, "mod7", false), 0);
  assert_int_equal(tw_chatq_say(q, "another", "y", NULL, false, now), 0);
  {
    tw_chatq_channel_stats_t cs;
    assert_int_equal(tw_chatq_channel_stats(q, "mod7", now, &cs), 0);
    assert_int_equal(cs.queued, 0);
    assert_false(cs.privileged);
    assert_int_equal(tw_chatq_channel_stats(q, "mod8", now, &cs), 0);
    assert_true(cs.privileged);
  }
  drain(q, l, &now);
  assert_int_equal(l->n, 3);
  free_log(l);
  tw_chatq_free(q);
}

/* --- splitting, end to end ----------------------------------------------- */

static size_t utf8_cps(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

static void test_split_multibyte_reply_first_part_only(void **state) {
  /* Words of 1, 2, 3 and 4 bytes per character; 4 cps + space each. */
  static const char w0[] = "abcd";
  static const char w1[] = "\xC3\xA9\xC3\xA8\xC3\xAA\xC3\xAB";
  static const char w2[] = "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";
  static const char w3[] = "\xF0\x9F\x98\x80\xF0\x9F\x98\x81\xF0\x9F\x98\x82"
                           "\xF0\x9F\x98\x83";
  static const char *words[] = {w0, w1, w2, w3};
  char text[4096];
  size_t len = 0;
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  /* 240 words of 4 cps: 1199 cps. With 5 cps per word and space, a part
   * holds 100 words = 499 cps, and the 101st would end at cp 504. */
  for (int i = 0; i < 240; i++) {
    /* Change width every 7 words, so that no two parts are identical (an
     * identical part would be altered as a duplicate). */
    const char *w = words[(i / 7) % 4];
    if (len)
      text[len++] = ' ';
    memcpy(text + len, w, strlen(w));
    len += strlen(w);
  }
  text[len] = '\0';
  assert_int_equal(tw_chatq_say(q, "chan", text, "parent-id", false, now), 0);
  drain(q, l, &now);
  assert_int_equal(l->n, 3);
  assert_non_null(strstr(l->v[0].line, "@reply-parent-msg-id=parent-id "));
  for (size_t i = 0; i < 3; i++) {
    const char *t = line_text(l->v[i].line);
    size_t cps = utf8_cps(t);
    assert_true(cps <= TW_MAX_CHAT_MESSAGE_CHARS);
    assert_int_equal(cps, i < 2 ? 499 : 199);
    if (i > 0)
      assert_int_equal(strncmp(l->v[i].line, "PRIVMSG #chan :", 15), 0);
    assert_true(t[0] != ' ' && t[strlen(t) - 1] != ' ');
    assert_true(tw__utf8_valid(t, strlen(t)));
  }
  /* The parts, joined with a space, give the text back. */
  {
    char joined[4096];
    size_t jl = 0;
    for (size_t i = 0; i < 3; i++) {
      const char *t = line_text(l->v[i].line);
      if (i)
        joined[jl++] = ' ';
      memcpy(joined + jl, t, strlen(t));
      jl += strlen(t);
    }
    assert_int_equal(jl, len);
    assert_memory_equal(joined, text, len);
  }
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

static void test_hard_split_long_word_and_action(void **state) {
  char word[1201];
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  for (int i = 0; i < 1200; i++)
    word[i] = (char)('a' + i % 26);
  word[1200] = '\0';
  assert_int_equal(tw_chatq_say(q, "chan", word, NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "chan", word, NULL, true, now), 0);
  drain(q, l, &now);
  assert_int_equal(l->n, 6);
  for (size_t i = 0; i < 3; i++) {
    const char *t = line_text(l->v[i].line);
    size_t want = i < 2 ? 500 : 200;
    assert_int_equal(strlen(t), want);
    assert_memory_equal(t, word + 500 * i, want);
  }
  for (size_t i = 3; i < 6; i++) {
    const char *t = line_text(l->v[i].line);
    size_t want = i < 5 ? 500 : 200;
    /* Every part of an action is an action; 500 counts the text only. */
    assert_int_equal(strncmp(t,
                             "\x01"
                             "ACTION ",
                             8),
                     0);
    assert_int_equal(strlen(t), 8 + want + 1);
    assert_memory_equal(t + 8, word + 500 * (i - 3), want);
    assert_int_equal(t[8 + want], '\x01');
  }
  check_twitch_rules(l);
  free_log(l);
  tw_chatq_free(q);
}

static void test_longest_line_fits_cap(void **state) {
  char text[TW_MAX_CHAT_MESSAGE_CHARS * 4 + 1];
  char id[TW_MAX_CHAT_REPLY_ID + 1];
  tw_chatq_t *q = new_queue();
  char buf[LINE_CAP];
  size_t len;
  uint64_t wait;
  (void)state;
  for (int i = 0; i < TW_MAX_CHAT_MESSAGE_CHARS; i++)
    memcpy(text + 4 * i, "\xF0\x9F\x98\x80", 4);
  text[sizeof(text) - 1] = '\0';
  memset(id, ';', sizeof(id) - 1);
  id[sizeof(id) - 1] = '\0';
  assert_int_equal(
      tw_chatq_say(q, "abcdefghijklmnopqrstuvwxy", text, id, true, 0), 0);
  assert_int_equal(tw_chatq_next(q, 0, buf, sizeof(buf), &len, &wait), 0);
  assert_int_equal(len, TW_MAX_CHAT_LINE);
  tw_chatq_free(q);
}

/* --- duplicates -------------------------------------------------------- */

static void test_duplicates_altered(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  tw_chatq_stats_t st;
  (void)state;
  for (int i = 0; i < 3; i++)
    assert_int_equal(tw_chatq_say(q, "chan", "hello world", NULL, false, now),
                     0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(tw_chatq_say(q, "chan", "hello", NULL, false, now), 0);
  /* The same text in another channel, or as an action, is no duplicate. */
  assert_int_equal(tw_chatq_say(q, "other", "hello", NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "chan", "hello", NULL, true, now), 0);
  drain(q, l, &now);
  assert_int_equal(l->n, 7);
  assert_string_equal(l->v[0].line, "PRIVMSG #chan :hello world");
  assert_string_equal(l->v[1].line, "PRIVMSG #other :hello");
  assert_string_equal(l->v[2].line, "PRIVMSG #chan :hello  world");
  /* The third differs from the altered second: it goes unaltered. */
  assert_string_equal(l->v[3].line, "PRIVMSG #chan :hello world");
  assert_string_equal(l->v[4].line, "PRIVMSG #chan :hello");
  /* No space to double: a space and U+034F are appended. */
  assert_string_equal(l->v[5].line, "PRIVMSG #chan :hello \xCD\x8F");
  assert_string_equal(l->v[6].line, "PRIVMSG #chan :\x01"
                                    "ACTION hello\x01");
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.dup_altered, 2);
  free_log(l);
  tw_chatq_free(q);
}

static void test_duplicates_after_window_and_privileged(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  assert_int_equal(tw_chatq_say(q, "chan", "again", NULL, false, now), 0);
  drain(q, l, &now);
  now = 30999;
  assert_int_equal(tw_chatq_say(q, "chan", "again", NULL, false, now), 0);
  drain(q, l, &now);
  assert_string_equal(l->v[1].line, "PRIVMSG #chan :again \xCD\x8F");
  now = 30999 + 31000;
  assert_int_equal(tw_chatq_say(q, "chan", "again \xCD\x8F", NULL, false, now),
                   0);
  drain(q, l, &now);
  /* The duplicate window has passed: sent as given. */
  assert_string_equal(l->v[2].line, "PRIVMSG #chan :again \xCD\x8F");
  /* Privileged channels are altered too (see chat_queue.h). */
  set_priv(q, l, "mine", true);
  assert_int_equal(tw_chatq_say(q, "mine", "a b", NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "mine", "a b", NULL, false, now), 0);
  drain(q, l, &now);
  assert_string_equal(l->v[3].line, "PRIVMSG #mine :a b");
  assert_string_equal(l->v[4].line, "PRIVMSG #mine :a  b");
  assert_int_equal(l->v[4].t, l->v[3].t);
  free_log(l);
  tw_chatq_free(q);
}

/* A duplicate with no room left for the alteration waits out the
 * duplicate window instead, without holding other channels. */
static void test_duplicate_at_limit_waits(void **state) {
  char full[TW_MAX_CHAT_MESSAGE_CHARS + 1], spaced[TW_MAX_CHAT_MESSAGE_CHARS];
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  memset(full, 'f', sizeof(full) - 1);
  full[sizeof(full) - 1] = '\0';
  /* 499 cps with a space: doubling the space still fits in 500. */
  memset(spaced, 's', sizeof(spaced) - 1);
  spaced[sizeof(spaced) - 1] = '\0';
  spaced[10] = ' ';
  assert_int_equal(tw_chatq_say(q, "chan", full, NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "chan", full, NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "side", spaced, NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "side", spaced, NULL, false, now), 0);
  drain(q, l, &now);
  assert_int_equal(l->n, 4);
  assert_string_equal(l->v[0].channel, "chan");
  assert_int_equal(l->v[0].t, 0);
  assert_string_equal(l->v[1].channel, "side");
  assert_int_equal(l->v[1].t, 0);
  assert_string_equal(l->v[2].channel, "side");
  assert_int_equal(l->v[2].t, 1200);
  assert_int_equal(utf8_cps(line_text(l->v[2].line)), 500);
  assert_string_equal(l->v[3].channel, "chan");
  assert_int_equal(l->v[3].t, 31000);
  assert_string_equal(line_text(l->v[3].line), full);
  free_log(l);
  tw_chatq_free(q);
}

static void test_duplicates_disabled(void **state) {
  tw_chatq_limits_t lim;
  tw_chatq_t *q;
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  tw_chatq_limits_default(&lim);
  lim.duplicate_ms = 0;
  assert_int_equal(tw_chatq_new(&lim, &q), 0);
  assert_int_equal(tw_chatq_say(q, "chan", "same", NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "chan", "same", NULL, false, now), 0);
  drain(q, l, &now);
  assert_string_equal(l->v[1].line, "PRIVMSG #chan :same");
  free_log(l);
  tw_chatq_free(q);
}

/* --- privilege, clear, stats, custom limits ------------------------------- */

static void test_privilege_changes(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  char buf[LINE_CAP];
  size_t len;
  uint64_t wait;
  (void)state;
  for (int i = 0; i < 3; i++) {
    char t[8];
    snprintf(t, sizeof(t), "m%d", i);
    assert_int_equal(tw_chatq_say(q, "Chan", t, NULL, false, now), 0);
  }
  assert_int_equal(pull(q, l, &now), 1);
  assert_int_equal(tw_chatq_next(q, now, buf, sizeof(buf), &len, &wait),
                   TW_EAGAIN);
  assert_int_equal(wait, 1200);
  /* USERSTATE says we are a moderator now: the 1 s rule no longer applies. */
  set_priv(q, l, "#CHAN", true);
  assert_int_equal(pull(q, l, &now), 1);
  assert_int_equal(now, 0);
  set_priv(q, l, "chan", false);
  assert_int_equal(tw_chatq_next(q, now, buf, sizeof(buf), &len, &wait),
                   TW_EAGAIN);
  assert_int_equal(wait, 1200);
  drain(q, l, &now);
  assert_int_equal(l->n, 3);
  free_log(l);
  tw_chatq_free(q);
}

static void test_clear_keeps_history(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  char buf[LINE_CAP];
  size_t len;
  uint64_t wait;
  tw_chatq_stats_t st;
  (void)state;
  for (int i = 0; i < 4; i++)
    assert_int_equal(
        tw_chatq_say(q, "aa", i ? "more" : "first", NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "bb", "b1", NULL, false, now), 0);
  assert_int_equal(tw_chatq_say(q, "bb", "b2", NULL, false, now), 0);
  assert_int_equal(pull(q, l, &now), 1); /* aa first */
  assert_int_equal(tw_chatq_clear(q, "#AA"), 3);
  assert_int_equal(tw_chatq_clear(q, "aa"), 0);
  assert_int_equal(tw_chatq_clear(q, "no such!"), TW_EINVAL);
  assert_int_equal(tw_chatq_clear(NULL, NULL), TW_EINVAL);
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.queued, 2);
  assert_int_equal(tw_chatq_clear(q, NULL), 2);
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.window_sent, 1);
  /* The history stays: a new line to aa still waits for its slot. */
  now = 100;
  assert_int_equal(tw_chatq_say(q, "aa", "after", NULL, false, now), 0);
  assert_int_equal(tw_chatq_next(q, now, buf, sizeof(buf), &len, &wait),
                   TW_EAGAIN);
  assert_int_equal(wait, 1100);
  drain(q, l, &now);
  assert_int_equal(l->n, 2);
  free_log(l);
  tw_chatq_free(q);
}

static void test_stats(void **state) {
  tw_chatq_t *q = new_queue();
  log_t *l = new_log();
  uint64_t now = 0;
  tw_chatq_stats_t st;
  tw_chatq_channel_stats_t cs;
  (void)state;
  set_priv(q, l, "pp", true);
  for (int i = 0; i < 5; i++) {
    char t[8];
    snprintf(t, sizeof(t), "%d", i);
    assert_int_equal(tw_chatq_say(q, "aa", t, NULL, false, now), 0);
    assert_int_equal(tw_chatq_say(q, "pp", t, NULL, false, now), 0);
  }
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.queued, 10);
  assert_int_equal(st.channels, 2);
  assert_int_equal(st.window_sent, 0);
  drain(q, l, &now);
  assert_int_equal(now, 4800);
  tw_chatq_stats(q, now, &st);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.window_sent, 10);
  assert_int_equal(st.sent_total, 10);
  assert_int_equal(tw_chatq_channel_stats(q, "#AA", now, &cs), 0);
  assert_int_equal(cs.window_sent, 5);
  assert_int_equal(cs.sent_total, 5);
  assert_false(cs.privileged);
  assert_int_equal(tw_chatq_channel_stats(q, "pp", now, &cs), 0);
  assert_true(cs.privileged);
  assert_int_equal(cs.window_sent, 5);
  /* The privileged lines all went at 0; aa's at 0, 1200, ..., 4800. The
   * window is 31 s: at 31000 the five at 0 (one aa, five pp) have left. */
  tw_chatq_stats(q, 30999, &st);
  assert_int_equal(st.window_sent, 10);
  tw_chatq_stats(q, 31000, &st);
  assert_int_equal(st.window_sent, 4);
  assert_int_equal(tw_chatq_channel_stats(q, "pp", 31000, &cs), 0);
  assert_int_equal(cs.window_sent, 0);
  assert_int_equal(tw_chatq_channel_stats(q, "nobody", 31000, &cs), 0);
  assert_int_equal(cs.queued, 0);
  assert_int_equal(cs.sent_total, 0);
  assert_int_equal(tw_chatq_channel_stats(q, "bad-name", 31000, &cs),
                   TW_EINVAL);
  free_log(l);
  tw_chatq_free(q);
}

static void test_custom_limits(void **state) {
  tw_chatq_limits_t lim;
  tw_chatq_t *q;
  log_t *l = new_log();
  uint64_t now = 0;
  (void)state;
  tw_chatq_limits_default(&lim);
  lim.normal_max = 3;
  lim.privileged_max = 3;
  lim.window_ms = 10000;
  lim.channel_interval_ms = 0;
  assert_int_equal(tw_chatq_new(&lim, &q), 0);
  for (int i = 0; i < 7; i++) {
    char t[8];
    snprintf(t, sizeof(t), "%d", i);
    assert_int_equal(tw_chatq_say(q, "chan", t, NULL, false, now), 0);
  }
  drain(q, l, &now);
  assert_int_equal(l->n, 7);
  for (size_t i = 0; i < 7; i++)
    assert_int_equal(l->v[i].t, (uint64_t)(i / 3) * 10000);
  free_log(l);
  tw_chatq_free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line_format),
      cmocka_unit_test(test_injection_crlf),
      cmocka_unit_test(test_injection_nul_and_others),
      cmocka_unit_test(test_invalid_utf8_replaced),
      cmocka_unit_test(test_say_rejects_bad_input),
      cmocka_unit_test(test_new_rejects_bad_limits),
      cmocka_unit_test(test_thousand_messages_one_channel),
      cmocka_unit_test(test_privileged_channel_hundred),
      cmocka_unit_test(test_privileged_lines_count_toward_twenty),
      cmocka_unit_test(test_fair_round_robin),
      cmocka_unit_test(test_interval_does_not_block_others),
      cmocka_unit_test(test_fairness_under_window),
      cmocka_unit_test(test_fairness_privileged_channels),
      cmocka_unit_test(test_no_starvation_under_privileged_load),
      cmocka_unit_test(test_wait_answers_exact_random),
      cmocka_unit_test(test_empty_queue_waits_forever),
      cmocka_unit_test(test_small_buffer_consumes_nothing),
      cmocka_unit_test(test_time_going_backwards),
      cmocka_unit_test(test_efull_nothing_lost),
      cmocka_unit_test(test_too_many_parts_is_toobig),
      cmocka_unit_test(test_channel_table_full),
      cmocka_unit_test(test_split_multibyte_reply_first_part_only),
      cmocka_unit_test(test_hard_split_long_word_and_action),
      cmocka_unit_test(test_longest_line_fits_cap),
      cmocka_unit_test(test_duplicates_altered),
      cmocka_unit_test(test_duplicates_after_window_and_privileged),
      cmocka_unit_test(test_duplicate_at_limit_waits),
      cmocka_unit_test(test_duplicates_disabled),
      cmocka_unit_test(test_privilege_changes),
      cmocka_unit_test(test_clear_keeps_history),
      cmocka_unit_test(test_stats),
      cmocka_unit_test(test_custom_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
