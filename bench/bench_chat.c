/* bench_chat: how fast the chat client takes in a busy channel.
 *
 * A flooder (a child process, so that its memory and CPU are not counted
 * as the client's) serves IRC over TLS on 127.0.0.1 with a generated CA:
 * it answers the login and the JOIN as Twitch does, then sends the lines of
 * the chat corpus (a real capture of a busy channel: PRIVMSG with full
 * tags, CLEARCHAT, USERNOTICE) again and again, as fast as the client
 * reads. Two clients are measured on the same bytes:
 *
 *   chat      tw_chat_t: TLS, line splitting, IRC parsing, the session,
 *             building each event and handing it to a handler that frees
 *             it (the full path a bot pays for);
 *   baseline  a bare tw_stream_t over the same TLS that only splits the
 *             bytes into lines (what no client can beat).
 *
 * It prints messages per second for both, their ratio, and the client
 * process's peak RSS (getrusage ru_maxrss) after the chat run. The chat run
 * goes first so that the peak is the chat client's own.
 *
 * Usage: bench_chat [corpus.txt.gz] [lines]
 *   corpus: argv[1], else $TW_CORPUS, else ../shared/corpus/channel.txt.gz
 *   lines:  flood lines per run (default 1000000)
 * The simulator's own flood (twitchd/sim.h) was not available when this
 * was written; the flooder here uses only the net layer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <uv.h>

#include "twitchd/chat.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/log.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"

#define CORPUS_MAX (64u * 1024u * 1024u)
#define CHANNEL "xqcow" /* the corpus's channel */
/* The login and JOIN replies the flooder sends before the flood. */
#define PRELUDE_LINES 7

/* ---- corpus ------------------------------------------------------------ */

typedef struct {
  char *data; /* lines, each ending in CRLF */
  size_t len;
  size_t lines;
} corpus_t;

static int load_corpus(const char *path, corpus_t *c) {
  gzFile f = gzopen(path, "rb");
  char *raw;
  size_t n = 0;
  int r;
  if (!f)
    return -1;
  raw = malloc(CORPUS_MAX);
  if (!raw) {
    gzclose(f);
    return -1;
  }
  while ((r = gzread(f, raw + n, (unsigned)(CORPUS_MAX - n))) > 0) {
    n += (size_t)r;
    if (n == CORPUS_MAX)
      break;
  }
  gzclose(f);
  /* Normalise to CRLF endings, as Twitch sends them. */
  c->data = malloc(2 * n + 2);
  if (!c->data) {
    free(raw);
    return -1;
  }
  c->len = c->lines = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && raw[j] != '\n')
      j++;
    size_t len = j - i;
    if (len && raw[i + len - 1] == '\r')
      len--;
    if (len) {
      memcpy(c->data + c->len, raw + i, len);
      c->len += len;
      c->data[c->len++] = '\r';
      c->data[c->len++] = '\n';
      c->lines++;
    }
    i = j + 1;
  }
  free(raw);
  return c->lines ? 0 : -1;
}

/* ---- the flooder (child process) ------------------------------------------
 */

typedef struct {
  uv_loop_t loop;
  tw_listener_t *l;
  tw_stream_t *s;
  const corpus_t *corpus;
  uint64_t repeats, sent; /* whole corpus copies to send / sent */
  uint64_t tail_lines;    /* lines of a last, partial copy */
  size_t tail_bytes;
  int flooding, done;
  tw_irc_splitter_t *split;
} flooder_t;

static void fl_pump(flooder_t *f) {
  /* Keep about one corpus copy queued: large writes, bounded memory. */
  while (f->flooding && !f->done && tw_stream_queued(f->s) < f->corpus->len) {
    if (f->sent < f->repeats) {
      if (tw_stream_write(f->s, f->corpus->data, f->corpus->len) != 0)
        return;
      f->sent++;
    } else {
      if (f->tail_bytes &&
          tw_stream_write(f->s, f->corpus->data, f->tail_bytes) != 0)
        return;
      f->done = 1;
    }
  }
}

static void fl_drain(tw_stream_t *s, void *ud) {
  (void)s;
  fl_pump(ud);
}

static void fl_line(void *ud, const char *line, size_t len, int err) {
  flooder_t *f = ud;
  char buf[1024];
  if (err || len >= sizeof(buf))
    return;
  memcpy(buf, line, len);
  buf[len] = '\0';
  if (strncmp(buf, "NICK ", 5) == 0) {
    char w[2048];
    int n = snprintf(
        w, sizeof(w),
        ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands "
        "twitch.tv/membership\r\n"
        ":tmi.twitch.tv 001 %s :Welcome, GLHF!\r\n"
        ":tmi.twitch.tv 376 %s :>\r\n"
        "@badge-info=;badges=;color=;display-name=%s;emote-sets=0;user-id=5;"
        "user-type= :tmi.twitch.tv GLOBALUSERSTATE\r\n",
        buf + 5, buf + 5, buf + 5);
    tw_stream_write(f->s, w, (size_t)n);
  } else if (strncmp(buf, "JOIN #", 6) == 0) {
    static const char join[] =
        ":bench!bench@bench.tmi.twitch.tv JOIN #" CHANNEL "\r\n"
        "@badge-info=;badges=;color=;display-name=bench;emote-sets=0;mod=0;"
        "subscriber=0;user-type= :tmi.twitch.tv USERSTATE #" CHANNEL "\r\n"
        "@emote-only=0;followers-only=-1;r9k=0;room-id=71092938;slow=0;subs-"
        "only=0 :tmi.twitch.tv ROOMSTATE #" CHANNEL "\r\n";
    tw_stream_write(f->s, join, sizeof(join) - 1);
    f->flooding = 1;
    fl_pump(f);
  } else if (strncmp(buf, "PING", 4) == 0) {
    tw_stream_write(f->s, ":tmi.twitch.tv PONG tmi.twitch.tv :x\r\n", 38);
  }
}

static void fl_read(tw_stream_t *s, const char *d, size_t n, void *ud) {
  flooder_t *f = ud;
  (void)s;
  tw_irc_splitter_feed(f->split, d, n, fl_line, f);
}

static void fl_close(tw_stream_t *s, void *ud) {
  flooder_t *f = ud;
  (void)s;
  f->s = NULL;
  /* One client per run: stop when it leaves. */
  tw_listener_close(f->l, NULL, NULL);
  f->l = NULL;
}

static void fl_accept(tw_listener_t *l, tw_stream_t *s, void *ud) {
  flooder_t *f = ud;
  tw_stream_cb_t cb = {NULL, fl_read, fl_drain, NULL, fl_close};
  (void)l;
  if (f->s) {
    tw_stream_close(s);
    return;
  }
  f->s = s;
  tw_irc_splitter_reset(f->split);
  tw_stream_set_callbacks(s, &cb, f);
}

/* Runs in the child: serves one client, then exits. Writes the port to
 * `fd` first. */
static int flooder_main(const corpus_t *corpus, uint64_t lines,
                        const char *cert, const char *key, int fd) {
  flooder_t f;
  tw_tls_ctx_t *tls = NULL;
  char detail[256];
  uint16_t port;
  memset(&f, 0, sizeof(f));
  f.corpus = corpus;
  f.repeats = lines / corpus->lines;
  f.tail_lines = lines % corpus->lines;
  /* Bytes of the first tail_lines lines. */
  for (size_t i = 0, k = 0; k < f.tail_lines && i < corpus->len; i++)
    if (corpus->data[i] == '\n' && ++k == f.tail_lines)
      f.tail_bytes = i + 1;
  f.split = tw_irc_splitter_new(0, 0);
  if (uv_loop_init(&f.loop) != 0 || !f.split ||
      tw_tls_server_new(cert, key, &tls, detail, sizeof(detail)) != 0 ||
      tw_listener_new(&f.loop, "127.0.0.1", 0, tls, fl_accept, &f, &f.l) != 0)
    return 1;
  port = tw_listener_port(f.l);
  if (write(fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
    return 1;
  close(fd);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  tw_tls_ctx_free(tls);
  tw_irc_splitter_free(f.split);
  uv_loop_close(&f.loop);
  return 0;
}

/* ---- clients ------------------------------------------------------------- */

typedef struct {
  uv_loop_t *loop;
  uint64_t expect; /* lines the client will receive in all */
  uint64_t t0, t1; /* ns */
  int done;
  /* baseline */
  tw_stream_t *s;
  tw_irc_splitter_t *split;
  uint64_t lines;
  /* chat */
  tw_chat_t *chat;
  uv_check_t check;
  int closed;
} client_t;

static void base_line(void *ud, const char *line, size_t len, int err) {
  client_t *c = ud;
  (void)line;
  (void)len;
  (void)err;
  c->lines++;
  if (c->lines == PRELUDE_LINES)
    c->t0 = uv_hrtime();
  if (c->lines == c->expect) {
    c->t1 = uv_hrtime();
    c->done = 1;
    tw_stream_close(c->s);
  }
}

static void base_read(tw_stream_t *s, const char *d, size_t n, void *ud) {
  client_t *c = ud;
  (void)s;
  if (!c->done)
    tw_irc_splitter_feed(c->split, d, n, base_line, c);
}

static void base_connect(tw_stream_t *s, void *ud) {
  static const char login[] =
      "CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership\r\n"
      "PASS oauth:benchtoken\r\nNICK bench\r\nJOIN #" CHANNEL "\r\n";
  (void)ud;
  tw_stream_write(s, login, sizeof(login) - 1);
}

static void base_close(tw_stream_t *s, void *ud) {
  client_t *c = ud;
  (void)s;
  c->closed = 1;
}

static int run_baseline(uint16_t port, const char *ca, uint64_t expect,
                        double *secs) {
  uv_loop_t loop;
  client_t c;
  tw_tls_ctx_t *tls = NULL;
  tw_tls_client_opts_t to = {ca, 0};
  tw_stream_cb_t cb = {base_connect, base_read, NULL, NULL, base_close};
  tw_stream_connect_opts_t so = {NULL, NULL, 0};
  char detail[256];
  memset(&c, 0, sizeof(c));
  c.expect = expect;
  if (uv_loop_init(&loop) != 0 ||
      tw_tls_client_new(&to, &tls, detail, sizeof(detail)) != 0)
    return -1;
  c.split = tw_irc_splitter_new(0, 0);
  so.tls = tls;
  if (tw_stream_new(&loop, &cb, &c, &c.s) != 0 ||
      tw_stream_connect(c.s, "127.0.0.1", port, &so) != 0)
    return -1;
  uv_run(&loop, UV_RUN_DEFAULT);
  tw_tls_ctx_free(tls);
  tw_irc_splitter_free(c.split);
  uv_loop_close(&loop);
  if (!c.done)
    return -1;
  *secs = (double)(c.t1 - c.t0) / 1e9;
  return 0;
}

static void chat_event(tw_chat_t *chat, tw_event_t *ev, void *ud) {
  (void)chat;
  (void)ud;
  tw_event_free(ev); /* the no-op skill */
}

static void chat_status(tw_chat_t *chat, const tw_chat_status_t *st, void *ud) {
  client_t *c = ud;
  (void)chat;
  if (st->kind == TW_CHAT_STATUS_LOGGED_IN && !c->t0)
    c->t0 = uv_hrtime();
  if (st->kind == TW_CHAT_STATUS_DISCONNECTED && !c->done)
    fprintf(stderr, "bench_chat: disconnected: %s\n", st->detail);
}

static void chat_closed(tw_chat_t *chat, void *ud) {
  client_t *c = ud;
  (void)chat;
  c->closed = 1;
  uv_close((uv_handle_t *)&c->check, NULL);
}

/* After each loop iteration: finished when every line has arrived. */
static void chat_check(uv_check_t *h) {
  client_t *c = h->data;
  tw_chat_stats_t st;
  if (c->done)
    return;
  tw_chat_stats(c->chat, &st);
  if (st.lines_received >= c->expect) {
    c->t1 = uv_hrtime();
    c->done = 1;
    tw_chat_close(c->chat);
  }
}

static int run_chat(uint16_t port, const char *ca, uint64_t expect,
                    double *secs, tw_chat_stats_t *st) {
  static const char *const chans[] = {CHANNEL};
  uv_loop_t loop;
  client_t c;
  tw_chat_opts_t o;
  tw_chat_cb_t cb = {chat_event, NULL, chat_status, NULL, chat_closed};
  char url[64];
  memset(&c, 0, sizeof(c));
  c.expect = expect;
  if (uv_loop_init(&loop) != 0)
    return -1;
  tw_chat_opts_default(&o);
  snprintf(url, sizeof(url), "ircs://127.0.0.1:%u", port);
  o.url = url;
  o.ca_file = ca;
  o.login = "bench";
  o.token = "benchtoken";
  o.channels = chans;
  o.nchannels = 1;
  if (tw_chat_new(&loop, &o, &cb, &c, &c.chat) != 0)
    return -1;
  uv_check_init(&loop, &c.check);
  c.check.data = &c;
  uv_check_start(&c.check, chat_check);
  tw_chat_start(c.chat);
  uv_run(&loop, UV_RUN_DEFAULT);
  tw_chat_stats(c.chat, st);
  tw_chat_free(c.chat);
  uv_loop_close(&loop);
  if (!c.done)
    return -1;
  *secs = (double)(c.t1 - c.t0) / 1e9;
  return 0;
}

/* ---- main -----------------------------------------------------------------
 */

/* Starts a flooder child that reads the corpus itself, so that the client
 * process never holds it. */
static pid_t fork_flooder(const char *path, uint64_t lines, const char *cert,
                          const char *key, uint16_t *port) {
  int fds[2];
  pid_t pid;
  if (pipe(fds) != 0)
    return -1;
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    corpus_t corpus;
    close(fds[0]);
    if (load_corpus(path, &corpus) != 0)
      _exit(2);
    _exit(flooder_main(&corpus, lines, cert, key, fds[1]));
  }
  close(fds[1]);
  if (read(fds[0], port, sizeof(*port)) != (ssize_t)sizeof(*port)) {
    close(fds[0]);
    return -1;
  }
  close(fds[0]);
  return pid;
}

static long peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss; /* KiB on Linux */
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : getenv("TW_CORPUS");
  uint64_t lines = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
  char dir[] = "/tmp/bench_chat.XXXXXX";
  char ca[256], cert[256], key[256], detail[256];
  corpus_t corpus;
  uint16_t port;
  pid_t pid;
  double t_chat, t_base;
  tw_chat_stats_t st;
  long rss;
  int status;

  if (!path)
    path = "../shared/corpus/channel.txt.gz";
  if (lines == 0) {
    fprintf(stderr, "bench_chat: lines must be positive\n");
    return 2;
  }
  tw_log_set_level(TW_LOG_WARN);
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "bench_chat: cannot read corpus %s\n", path);
    return 2;
  }
  if (!mkdtemp(dir) ||
      tw_tls_gen_ca_and_cert(dir, NULL, 0, 1, detail, sizeof(detail)) != 0) {
    fprintf(stderr, "bench_chat: cannot make a test CA: %s\n", detail);
    return 2;
  }
  snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  snprintf(key, sizeof(key), "%s/key.pem", dir);
  signal(SIGPIPE, SIG_IGN);

  /* The chat client first: its peak RSS is the one reported (the corpus
   * lives in the flooder only). */
  pid = fork_flooder(path, lines, cert, key, &port);
  if (pid < 0)
    return 2;
  if (run_chat(port, ca, lines + PRELUDE_LINES, &t_chat, &st) != 0) {
    fprintf(stderr, "bench_chat: chat run failed\n");
    kill(pid, SIGTERM);
    return 1;
  }
  waitpid(pid, &status, 0);
  rss = peak_rss_kib();

  pid = fork_flooder(path, lines, cert, key, &port);
  if (pid < 0)
    return 2;
  if (run_baseline(port, ca, lines + PRELUDE_LINES, &t_base) != 0) {
    fprintf(stderr, "bench_chat: baseline run failed\n");
    kill(pid, SIGTERM);
    return 1;
  }
  waitpid(pid, &status, 0);
  if (load_corpus(path, &corpus) != 0)
    return 2;

  printf("bench_chat: %llu corpus lines (%zu distinct, %.1f MB per pass) "
         "over TLS on 127.0.0.1\n",
         (unsigned long long)lines, corpus.lines, corpus.len / 1e6);
  printf("  chat     (TLS + split + parse + events): %10.0f messages/s "
         "(%.3f s, %llu events, %llu malformed)\n",
         lines / t_chat, t_chat, (unsigned long long)st.events_delivered,
         (unsigned long long)st.lines_malformed);
  printf("  baseline (TLS + split only)           : %10.0f messages/s "
         "(%.3f s)\n",
         lines / t_base, t_base);
  printf("  ratio chat/baseline: %.2f\n", t_base / t_chat);
  printf("  peak RSS of the client process: %.1f MiB (%ld KiB)\n", rss / 1024.0,
         rss);
  printf("  targets: >= 250000 messages/s, <= 16 MiB\n");

  unlink(ca);
  unlink(cert);
  unlink(key);
  rmdir(dir);
  free(corpus.data);
  return 0;
}
