/* bench_chat: how fast the chat client takes in a busy channel.
 *
 * The Twitch simulator (twitchd/sim.h), in a child process so that its
 * memory and CPU are not counted as the client's, serves IRC over TLS on
 * 127.0.0.1 with its generated CA. When the client has joined, it floods
 * the lines of the chat corpus (a real capture of a busy channel: PRIVMSG
 * with full tags, CLEARCHAT, USERNOTICE) again and again, as fast as the
 * client reads, then one last marker message. Two clients are measured on
 * the same bytes:
 *
 *   chat      tw_chat_t: TLS, line splitting, IRC parsing, the session,
 *             building each event and handing it to a handler that frees
 *             it (the full path a bot pays for);
 *   baseline  a bare tw_stream_t over the same TLS that only splits the
 *             bytes into lines (what no client can beat).
 *
 * Both clocks run from the room's ROOMSTATE (the flood starts right after
 * it) to the marker. It prints messages per second for both, their ratio,
 * and the client process's peak RSS (getrusage ru_maxrss) after the chat
 * run; the chat run goes first so that the peak is the chat client's own.
 *
 * Usage: bench_chat [corpus.txt.gz] [lines]
 *   corpus: argv[1], else $TW_CORPUS, else tests/fixtures/corpus/channel.txt.gz
 *   lines:  flood lines per run (default 1000000)
 */
#define _GNU_SOURCE /* memmem */
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
#include "twitchd/sim.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"

#define CORPUS_MAX (64u * 1024u * 1024u)
#define CHANNEL "xqcow" /* the corpus's channel */

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

/* ---- the simulator (child process) ----------------------------------------
 */

#define MARKER_ID "bench-end"
#define MARKER                                                                 \
  "@badge-info=;badges=;color=;display-name=end;emotes=;id=" MARKER_ID         \
  ";mod=0;room-id=71092938;subscriber=0;tmi-sent-ts=1;turbo=0;user-id=1;"      \
  "user-type= :end!end@end.tmi.twitch.tv PRIVMSG #" CHANNEL " :" MARKER_ID

typedef struct {
  uv_loop_t loop;
  tw_sim_t *sim;
  uv_timer_t start;
  const char *corpus;
  uint64_t lines;
  int started, closing;
} simchild_t;

static void sim_start_flood(uv_timer_t *t) {
  simchild_t *sc = t->data;
  tw_sim_flood_t f;
  int err;
  memset(&f, 0, sizeof(f));
  f.room = CHANNEL;
  f.file = sc->corpus;
  f.count = sc->lines;
  err = tw_sim_flood(sc->sim, &f);
  if (err)
    fprintf(stderr, "bench_chat: flood: %s\n", tw_strerror(err));
}

static void sim_closed(void *ud) {
  simchild_t *sc = ud;
  uv_close((uv_handle_t *)&sc->start, NULL);
}

static void sim_stop(uv_timer_t *t);

static void sim_observe(void *ud, const tw_sim_event_t *ev) {
  simchild_t *sc = ud;
  switch (ev->kind) {
  case TW_SIM_EV_JOIN:
    /* Start once the JOIN's replies (ROOMSTATE) are out: from the loop. */
    if (!sc->started) {
      sc->started = 1;
      uv_timer_start(&sc->start, sim_start_flood, 0, 0);
    }
    break;
  case TW_SIM_EV_FLOOD_DONE:
    tw_sim_inject_room(sc->sim, CHANNEL, MARKER, sizeof(MARKER) - 1);
    break;
  case TW_SIM_EV_CLOSE:
    /* One client per run: stop when it leaves (from the loop, not from
     * inside the simulator's callback). */
    if (sc->started && !sc->closing) {
      sc->closing = 1;
      uv_timer_stop(&sc->start);
      uv_timer_start(&sc->start, sim_stop, 0, 0);
    }
    break;
  default:
    break;
  }
}

static void sim_stop(uv_timer_t *t) {
  simchild_t *sc = t->data;
  tw_sim_close(sc->sim, sim_closed, sc);
}

/* Runs in the child: serves one client, then exits. Writes the port and
 * the CA path to `fd` first. */
static int sim_main(const char *corpus, uint64_t lines, int fd) {
  simchild_t sc;
  tw_sim_opts_t so;
  tw_sim_room_t room;
  char detail[256], ca[512];
  uint16_t port;
  memset(&sc, 0, sizeof(sc));
  memset(&so, 0, sizeof(so));
  memset(&room, 0, sizeof(room));
  sc.corpus = corpus;
  sc.lines = lines;
  so.listeners = TW_SIM_LISTEN_IRCS;
  so.seed = 1;
  room.name = CHANNEL;
  if (uv_loop_init(&sc.loop) != 0 ||
      tw_sim_new(&sc.loop, &so, &sc.sim, detail, sizeof(detail)) != 0 ||
      tw_sim_add_token(sc.sim, "benchtoken", "bench", 0) != 0 ||
      tw_sim_add_room(sc.sim, &room) != 0) {
    fprintf(stderr, "bench_chat: simulator: %s\n", detail);
    return 1;
  }
  uv_timer_init(&sc.loop, &sc.start);
  sc.start.data = &sc;
  tw_sim_set_observer(sc.sim, sim_observe, &sc);
  port = tw_sim_port(sc.sim, TW_SIM_LISTEN_IRCS);
  snprintf(ca, sizeof(ca), "%s", tw_sim_ca_file(sc.sim));
  if (write(fd, &port, sizeof(port)) != (ssize_t)sizeof(port) ||
      write(fd, ca, sizeof(ca)) != (ssize_t)sizeof(ca))
    return 1;
  close(fd);
  uv_run(&sc.loop, UV_RUN_DEFAULT);
  uv_loop_close(&sc.loop);
  return 0;
}

/* ---- clients ------------------------------------------------------------- */

typedef struct {
  uint64_t t0, t1; /* ns: ROOMSTATE seen, marker seen */
  int done;
  /* baseline */
  tw_stream_t *s;
  tw_irc_splitter_t *split;
  uint64_t lines;
  /* chat */
  tw_chat_t *chat;
} client_t;

static int ends_with(const char *p, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(p + n - k, suffix, k) == 0;
}

static void base_line(void *ud, const char *line, size_t len, int err) {
  client_t *c = ud;
  (void)err;
  c->lines++;
  /* Only the start and the end are looked at: this client parses nothing. */
  if (!c->t0) {
    if (memmem(line, len, " ROOMSTATE #", 12))
      c->t0 = uv_hrtime();
    return;
  }
  if (ends_with(line, len, " :" MARKER_ID)) {
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

static int run_baseline(uint16_t port, const char *ca, double *secs,
                        uint64_t *lines) {
  uv_loop_t loop;
  client_t c;
  tw_tls_ctx_t *tls = NULL;
  tw_tls_client_opts_t to = {ca, 0};
  tw_stream_cb_t cb = {base_connect, base_read, NULL, NULL, NULL};
  tw_stream_connect_opts_t so = {NULL, NULL, 0};
  char detail[256];
  memset(&c, 0, sizeof(c));
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
  *lines = c.lines;
  return 0;
}

static void chat_event(tw_chat_t *chat, tw_event_t *ev, void *ud) {
  client_t *c = ud;
  if (ev->event_id && ev->kind == TW_EVENT_MESSAGE &&
      strcmp(ev->event_id, MARKER_ID) == 0) {
    c->t1 = uv_hrtime();
    c->done = 1;
    tw_chat_close(chat);
  }
  tw_event_free(ev); /* the no-op skill */
}

static void chat_status(tw_chat_t *chat, const tw_chat_status_t *st, void *ud) {
  client_t *c = ud;
  (void)chat;
  if (st->kind == TW_CHAT_STATUS_JOINED && !c->t0)
    c->t0 = uv_hrtime();
  if (st->kind == TW_CHAT_STATUS_DISCONNECTED && !c->done)
    fprintf(stderr, "bench_chat: disconnected: %s\n", st->detail);
}

static int run_chat(uint16_t port, const char *ca, double *secs,
                    tw_chat_stats_t *st) {
  static const char *const chans[] = {CHANNEL};
  uv_loop_t loop;
  client_t c;
  tw_chat_opts_t o;
  tw_chat_cb_t cb = {chat_event, NULL, chat_status, NULL, NULL};
  char url[64];
  memset(&c, 0, sizeof(c));
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

/* Starts a simulator child (which reads the corpus itself, so that the
 * client process never holds it) and reads its port and CA path. */
static pid_t fork_sim(const char *path, uint64_t lines, uint16_t *port,
                      char ca[512]) {
  int fds[2];
  pid_t pid;
  if (pipe(fds) != 0)
    return -1;
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    close(fds[0]);
    _exit(sim_main(path, lines, fds[1]));
  }
  close(fds[1]);
  if (read(fds[0], port, sizeof(*port)) != (ssize_t)sizeof(*port) ||
      read(fds[0], ca, 512) != 512) {
    close(fds[0]);
    return -1;
  }
  close(fds[0]);
  return pid;
}

/* CPU seconds (user + system) this process has used so far. */
static double cpu_secs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss; /* KiB on Linux */
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : getenv("TW_CORPUS");
  uint64_t lines = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
  char ca[512];
  corpus_t corpus;
  uint16_t port;
  pid_t pid;
  double t_chat, t_base, cpu0, cpu_chat, cpu_base;
  uint64_t base_lines = 0;
  tw_chat_stats_t st;
  long rss;
  int status;

  if (!path)
    path = "tests/fixtures/corpus/channel.txt.gz";
  if (lines == 0) {
    fprintf(stderr, "bench_chat: lines must be positive\n");
    return 2;
  }
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "bench_chat: cannot read corpus %s\n", path);
    return 2;
  }
  tw_log_set_level(TW_LOG_WARN);
  signal(SIGPIPE, SIG_IGN);

  /* The chat client first: its peak RSS is the one reported (the corpus
   * and the simulator live in the child only). */
  pid = fork_sim(path, lines, &port, ca);
  if (pid < 0)
    return 2;
  cpu0 = cpu_secs();
  if (run_chat(port, ca, &t_chat, &st) != 0) {
    fprintf(stderr, "bench_chat: chat run failed\n");
    kill(pid, SIGTERM);
    return 1;
  }
  cpu_chat = cpu_secs() - cpu0;
  waitpid(pid, &status, 0);
  rss = peak_rss_kib();

  pid = fork_sim(path, lines, &port, ca);
  if (pid < 0)
    return 2;
  cpu0 = cpu_secs();
  if (run_baseline(port, ca, &t_base, &base_lines) != 0) {
    fprintf(stderr, "bench_chat: baseline run failed\n");
    kill(pid, SIGTERM);
    return 1;
  }
  cpu_base = cpu_secs() - cpu0;
  waitpid(pid, &status, 0);
  if (load_corpus(path, &corpus) != 0)
    return 2;

  printf("bench_chat: %llu corpus lines (%zu distinct, %.1f MB per pass) "
         "flooded by the simulator over TLS on 127.0.0.1\n",
         (unsigned long long)lines, corpus.lines, corpus.len / 1e6);
  printf("  chat     (TLS + split + parse + events): %10.0f messages/s "
         "(%.3f s, %llu events, %llu malformed)\n",
         lines / t_chat, t_chat, (unsigned long long)st.events_delivered - 1,
         (unsigned long long)st.lines_malformed);
  printf("  baseline (TLS + split only)           : %10.0f messages/s "
         "(%.3f s, %llu lines)\n",
         lines / t_base, t_base, (unsigned long long)base_lines);
  printf("  ratio chat/baseline: %.2f\n", t_base / t_chat);
  printf("  client CPU (user+sys, whole run incl. connect): chat %.3f s "
         "(%.0f messages per CPU second), baseline %.3f s\n",
         cpu_chat, lines / cpu_chat, cpu_base);
  printf("  peak RSS of the client process: %.1f MiB (%ld KiB)\n", rss / 1024.0,
         rss);
  printf("  targets: >= 250000 messages/s, <= 16 MiB\n");
  free(corpus.data);
  return 0;
}
