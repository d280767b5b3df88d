/* The 5,000-line real chat corpus (TW_CORPUS, gzip; from go-twitch-irc):
 * every line parses, every PRIVMSG gives a typed view with a sender and a
 * channel, every emote range lands inside its message, and the splitter
 * returns exactly the corpus lines under several chunkings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/irc_tags.h"
#include "twitchd/irc_twitch.h"

#define CORPUS_LINES 5000

typedef struct {
  char *data; /* all lines, each followed by '\n' */
  size_t len;
  size_t *off; /* start of each line */
  size_t *llen;
  size_t n;
} corpus_t;

static corpus_t corpus;

static int setup(void **state) {
  (void)state;
  const char *path = getenv("TW_CORPUS");
  if (!path)
    path = "tests/fixtures/corpus/channel.txt.gz";
  gzFile f = gzopen(path, "rb");
  if (!f) {
    fprintf(stderr, "corpus %s not found (set TW_CORPUS)\n", path);
    return -1;
  }
  size_t cap = 1 << 21;
  corpus.data = malloc(cap);
  corpus.off = calloc(CORPUS_LINES + 1, sizeof(size_t));
  corpus.llen = calloc(CORPUS_LINES + 1, sizeof(size_t));
  if (!corpus.data || !corpus.off || !corpus.llen) {
    gzclose(f);
    return -1;
  }
  static char line[TW_MAX_IRC_LINE + 2];
  while (gzgets(f, line, sizeof(line))) {
    size_t n = strlen(line);
    if (n == 0 || line[n - 1] != '\n') {
      /* Only the last line may lack its LF; anything else is too long. */
      if (!gzeof(f) && n == sizeof(line) - 1) {
        fprintf(stderr, "corpus line %zu longer than the cap\n", corpus.n);
        gzclose(f);
        return -1;
      }
    } else {
      n--;
    }
    if (corpus.n == CORPUS_LINES || corpus.len + n + 1 > cap) {
      fprintf(stderr, "corpus larger than expected\n");
      gzclose(f);
      return -1;
    }
    corpus.off[corpus.n] = corpus.len;
    corpus.llen[corpus.n] = n;
    memcpy(corpus.data + corpus.len, line, n);
    corpus.data[corpus.len + n] = '\n';
    corpus.len += n + 1;
    corpus.n++;
  }
  gzclose(f);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(corpus.data);
  free(corpus.off);
  free(corpus.llen);
  return 0;
}

static void test_every_line_parses(void **state) {
  (void)state;
  assert_int_equal(corpus.n, CORPUS_LINES);
  tw_irc_scratch_t *scratch = malloc(sizeof(*scratch));
  assert_non_null(scratch);
  size_t privmsgs = 0, clearchats = 0, usernotices = 0, emotes_seen = 0;
  for (size_t i = 0; i < corpus.n; i++) {
    const char *line = corpus.data + corpus.off[i];
    size_t len = corpus.llen[i];
    tw_irc_msg_t m;
    if (tw_irc_parse(&m, line, len) != 0)
      fail_msg("corpus line %zu: %s", i + 1, tw_irc_err_str(m.err));
    if (m.cmd == TW_IRC_CMD_PRIVMSG) {
      tw_irc_privmsg_t v;
      int rc = tw_irc_privmsg(&m, scratch, &v);
      if (rc != 0)
        fail_msg("corpus line %zu: privmsg view: %d", i + 1, rc);
      assert_true(v.sender.login.len > 0);
      assert_true(v.channel.len > 0);
      assert_non_null(v.text.ptr);
      assert_non_null(v.id.ptr);
      assert_true(v.tmi_sent_ts != TW_IRC_NONE);
      tw_irc_emote_t em[TW_MAX_IRC_EMOTES];
      size_t ne = tw_irc_emotes_parse(v.emotes, v.text, em, TW_MAX_IRC_EMOTES);
      for (size_t k = 0; k < ne; k++) {
        assert_true(em[k].byte_start < em[k].byte_end);
        assert_true(em[k].byte_end <= v.text.len);
      }
      emotes_seen += ne;
      privmsgs++;
    } else if (m.cmd == TW_IRC_CMD_CLEARCHAT) {
      tw_irc_clearchat_t v;
      assert_int_equal(tw_irc_clearchat(&m, scratch, &v), 0);
      assert_true(v.channel.len > 0);
      clearchats++;
    } else if (m.cmd == TW_IRC_CMD_USERNOTICE) {
      tw_irc_usernotice_t v;
      assert_int_equal(tw_irc_usernotice(&m, scratch, &v), 0);
      assert_non_null(v.msg_id.ptr);
      usernotices++;
    }
  }
  /* The corpus's make-up, counted independently with awk. */
  assert_int_equal(privmsgs, 4933);
  assert_int_equal(clearchats, 58);
  assert_int_equal(usernotices, 9);
  assert_true(emotes_seen > 1000);
  free(scratch);
}

typedef struct {
  size_t next; /* index of the next expected line */
  int bad;
} replay_t;

static void on_line(void *ud, const char *line, size_t len, int err) {
  replay_t *r = ud;
  if (err || r->next >= corpus.n || len != corpus.llen[r->next] ||
      memcmp(line, corpus.data + corpus.off[r->next], len) != 0)
    r->bad++;
  r->next++;
}

static void test_splitter_replays_corpus(void **state) {
  (void)state;
  const size_t sizes[] = {1, 2, 7, 100, 1000, 4096, 16384, 1 << 20};
  for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
    tw_irc_splitter_t *sp = tw_irc_splitter_new(0, 0);
    replay_t r = {0, 0};
    for (size_t at = 0; at < corpus.len; at += sizes[s]) {
      size_t n = corpus.len - at < sizes[s] ? corpus.len - at : sizes[s];
      tw_irc_splitter_feed(sp, corpus.data + at, n, on_line, &r);
    }
    tw_irc_splitter_finish(sp, on_line, &r);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.next, corpus.n);
    assert_int_equal(tw_irc_splitter_dropped(sp), 0);
    tw_irc_splitter_free(sp);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_line_parses),
      cmocka_unit_test(test_splitter_replays_corpus),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
