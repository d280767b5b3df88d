/* Benchmark: IRC parsing throughput on the 5,000-line real chat corpus.
 *
 *   bench_irc_parse [corpus.txt.gz]   (else $TW_CORPUS, else the shared
 *                                      corpus next to the repository)
 *
 * Loads the corpus into memory, then times, over several rounds (best and
 * median reported):
 *   baseline  a pass that only records where each ' ', ';' and '=' is: the
 *             least any tokenizer of these lines has to do;
 *   parse     tw_irc_parse(): tags indexed, prefix, command, params, no
 *             unescaping;
 *   full      parse + the PRIVMSG typed view (unescaped into a scratch) +
 *             every tag value unescaped;
 *   split     the corpus as one stream through the line splitter in 4 KiB
 *             chunks, each line parsed.
 * It prints lines/s, MB/s and the parse/baseline ratio. Figures, not tests:
 * nothing here asserts a time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "twitchd/irc.h"
#include "twitchd/irc_twitch.h"

#define ROUNDS 15
#define MAX_LINES 100000

typedef struct {
  char *data; /* every line followed by '\n' */
  size_t len;
  size_t *off;
  size_t *llen;
  size_t n;
  size_t bytes; /* line bytes without terminators */
} corpus_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *path, corpus_t *c) {
  gzFile f = gzopen(path, "rb");
  if (!f)
    return -1;
  size_t cap = 4u << 20;
  c->data = malloc(cap);
  c->off = malloc(MAX_LINES * sizeof(size_t));
  c->llen = malloc(MAX_LINES * sizeof(size_t));
  char *line = malloc(TW_MAX_IRC_LINE + 2);
  if (!c->data || !c->off || !c->llen || !line) {
    gzclose(f);
    free(line);
    return -1;
  }
  while (c->n < MAX_LINES && gzgets(f, line, TW_MAX_IRC_LINE + 2)) {
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n')
      n--;
    if (c->len + n + 1 > cap)
      break;
    c->off[c->n] = c->len;
    c->llen[c->n] = n;
    memcpy(c->data + c->len, line, n);
    c->data[c->len + n] = '\n';
    c->len += n + 1;
    c->bytes += n;
    c->n++;
  }
  free(line);
  gzclose(f);
  return c->n ? 0 : -1;
}

/* Defeats dead-code elimination: every pass folds its results in here. */
static volatile uint64_t sink;

static uint32_t tok[TW_MAX_IRC_LINE];

static uint64_t pass_baseline(const corpus_t *c) {
  uint64_t acc = 0;
  for (size_t i = 0; i < c->n; i++) {
    const char *p = c->data + c->off[i];
    size_t n = c->llen[i], nt = 0;
    for (size_t k = 0; k < n; k++) {
      char ch = p[k];
      if (ch == ' ' || ch == ';' || ch == '=')
        tok[nt++] = (uint32_t)k;
    }
    acc += nt + (nt ? tok[nt - 1] : 0);
  }
  return acc;
}

static uint64_t pass_parse(const corpus_t *c) {
  uint64_t acc = 0;
  tw_irc_msg_t m;
  for (size_t i = 0; i < c->n; i++) {
    if (tw_irc_parse(&m, c->data + c->off[i], c->llen[i]) == 0)
      acc += m.ntags + m.nparams + tw_irc_last_param(&m).len;
  }
  return acc;
}

static tw_irc_scratch_t scratch;

static uint64_t pass_full(const corpus_t *c) {
  uint64_t acc = 0;
  tw_irc_msg_t m;
  for (size_t i = 0; i < c->n; i++) {
    if (tw_irc_parse(&m, c->data + c->off[i], c->llen[i]) != 0)
      continue;
    if (m.cmd == TW_IRC_CMD_PRIVMSG) {
      tw_irc_privmsg_t v;
      if (tw_irc_privmsg(&m, &scratch, &v) == 0)
        acc += v.sender.login.len + v.text.len + v.sender.display_name.len +
               (uint64_t)v.tmi_sent_ts;
    }
    tw_irc_scratch_reset(&scratch);
    for (size_t t = 0; t < m.ntags; t++) {
      tw_irc_str_t out;
      if (tw_irc_scratch_unescape(&scratch, m.tags[t].value, &out) == 0)
        acc += out.len;
    }
  }
  return acc;
}

typedef struct {
  uint64_t acc;
  tw_irc_msg_t m;
} split_ctx_t;

static void on_line(void *ud, const char *line, size_t len, int err) {
  split_ctx_t *s = ud;
  if (!err && tw_irc_parse(&s->m, line, len) == 0)
    s->acc += s->m.ntags + s->m.nparams;
}

static uint64_t pass_split(const corpus_t *c) {
  static split_ctx_t ctx;
  ctx.acc = 0;
  tw_irc_splitter_t *sp = tw_irc_splitter_new(0, 0);
  if (!sp)
    return 0;
  for (size_t at = 0; at < c->len; at += 4096) {
    size_t n = c->len - at < 4096 ? c->len - at : 4096;
    tw_irc_splitter_feed(sp, c->data + at, n, on_line, &ctx);
  }
  tw_irc_splitter_finish(sp, on_line, &ctx);
  tw_irc_splitter_free(sp);
  return ctx.acc;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  double best, median; /* seconds per pass over the corpus */
} timing_t;

static timing_t run(const char *name, uint64_t (*pass)(const corpus_t *),
                    const corpus_t *c) {
  /* Enough passes per round for a round to last ~50 ms or more. */
  double t0 = now_s();
  sink += pass(c);
  double one = now_s() - t0;
  int reps = one > 0 ? (int)(0.05 / one) + 1 : 100;
  double per[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    double s = now_s();
    for (int k = 0; k < reps; k++)
      sink += pass(c);
    per[r] = (now_s() - s) / reps;
  }
  qsort(per, ROUNDS, sizeof(per[0]), cmp_double);
  timing_t t = {per[0], per[ROUNDS / 2]};
  printf("%-9s best %6.2f M lines/s %7.1f MB/s   median %6.2f M lines/s "
         "%7.1f MB/s   (%.1f ns/line)\n",
         name, (double)c->n / t.best / 1e6, (double)c->bytes / t.best / 1e6,
         (double)c->n / t.median / 1e6, (double)c->bytes / t.median / 1e6,
         t.best / (double)c->n * 1e9);
  return t;
}

static const char *default_corpus(char *buf, size_t cap) {
  /* The repository is one level above this file; the corpus is kept in it
   * (tests/fixtures/corpus), as the tests use it. */
  const char *file = __FILE__;
  const char *slash = strrchr(file, '/');
  if (!slash)
    return "tests/fixtures/corpus/channel.txt.gz";
  size_t n = (size_t)(slash - file); /* .../bench */
  snprintf(buf, cap, "%.*s/../tests/fixtures/corpus/channel.txt.gz", (int)n,
           file);
  return buf;
}

int main(int argc, char **argv) {
  char pathbuf[4096];
  const char *path = argc > 1 ? argv[1] : getenv("TW_CORPUS");
  if (!path)
    path = default_corpus(pathbuf, sizeof(pathbuf));
  corpus_t c = {0};
  if (load(path, &c) != 0) {
    fprintf(stderr, "bench_irc_parse: cannot read corpus %s\n", path);
    return 1;
  }
  printf("corpus: %s: %zu lines, %.2f MB\n", path, c.n, (double)c.bytes / 1e6);
  timing_t base = run("baseline", pass_baseline, &c);
  timing_t parse = run("parse", pass_parse, &c);
  timing_t full = run("full", pass_full, &c);
  run("split", pass_split, &c);
  printf("parse/baseline speed ratio: %.2f (best), %.2f (median)\n",
         base.best / parse.best, base.median / parse.median);
  printf("full/baseline speed ratio:  %.2f (best)\n", base.best / full.best);
  free(c.data);
  free(c.off);
  free(c.llen);
  return 0;
}
