/* twitchd run: runs the bot.
 *
 *   twitchd run -c FILE            the configuration's connectors and skills
 *   twitchd run --sim [-c FILE]    the same against a simulator started in
 *                                  this process (no credentials needed): the
 *                                  config's chat and Helix endpoints are
 *                                  replaced by the simulator's, the bot runs
 *                                  as the channel's account with a simulator
 *                                  token holding every scope, and a scripted
 *                                  demo plays in the channel (--no-demo
 *                                  turns it off)
 *
 * Signals: SIGINT and SIGTERM stop cleanly (exit 0); SIGHUP reloads the
 * configuration file (skills, logging, channels) without dropping the
 * connections, and keeps the running configuration when the new one has
 * errors. --inject FIFO is a test hook: every line written to the FIFO is an
 * event as JSON ({"event":"UserFollowed","follower":"ann",...}) handled as
 * if Twitch had sent it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <uv.h>

#include "cli/cli.h"
#include "twitchd/config.h"
#include "twitchd/error.h"
#include "twitchd/buf.h"
#include "twitchd/log.h"
#include "twitchd/oauth.h"
#include "twitchd/runtime.h"
#include "twitchd/sim.h"

#define MOD "run"
/* Longest line read from the --inject FIFO; longer ones are skipped. */
#define TW_MAX_INJECT_LINE 65536
#define SIM_DEFAULT_CHANNEL "twitchd_demo"

typedef struct {
  uv_loop_t loop;
  const char *config_path;
  int use_sim;
  int demo;
  uint64_t demo_interval_ms;
  const char *inject_path;
  int exit_status;
  int stopping;

  tw_runtime_t *rt;
  tw_sim_t *sim;
  char sim_token[41];
  char sim_url[128];
  char sim_helix[128];
  char sim_eventsub[128];
  tw_sim_token_info_t sim_bot; /* whose token the bot has */
  char *demo_channel;
  unsigned demo_step;

  uv_signal_t sigint, sigterm, sighup;
  int signals_on;
  uv_timer_t demo_timer;
  int demo_timer_on;
  uv_pipe_t inject;
  int inject_on;
  char *inject_buf;
  size_t inject_len;
  int inject_skipping;
} run_t;

static void usage(FILE *out) {
  fprintf(out,
          "usage: twitchd run -c FILE [options]\n"
          "       twitchd run --sim [-c FILE] [options]\n\n"
          "Runs the bot: chat, skills, actions. SIGINT/SIGTERM stop it, "
          "SIGHUP reloads\nthe configuration without dropping connections.\n\n"
          "options:\n"
          "  -c, --config FILE    configuration file (docs/configuration.md)\n"
          "  --sim                run against a Twitch simulator started in "
          "this process\n"
          "                       (no credentials needed; docs/simulator.md)\n"
          "  --no-demo            with --sim: no scripted demo chat\n"
          "  --demo-interval-ms N with --sim: time between demo lines "
          "(4000)\n"
          "  --inject FIFO        test hook: events as JSON lines from a "
          "FIFO\n"
          "  --log-level LEVEL    overrides logging.level "
          "(trace..error)\n");
}

/* ---- configuration ------------------------------------------------------- */

static const char sim_default_config[] =
    "connectors:\n"
    "  twitch:\n"
    "    client-id: twitchd-sim-client\n"
    "    channel: " SIM_DEFAULT_CHANNEL "\n"
    "    always-listening: true\n";

/* Loads the configuration, printing every error as file:line:col. */
static tw_config_t *load_config(const run_t *r) {
  tw_config_t *cfg = tw_config_new();
  if (cfg == NULL) {
    fprintf(stderr, "twitchd run: out of memory\n");
    return NULL;
  }
  int rc = r->config_path
               ? tw_config_load_file(cfg, r->config_path)
               : tw_config_load_buffer(cfg, "(built-in simulator config)",
                                       sim_default_config,
                                       sizeof(sim_default_config) - 1);
  char line[TW_CONFIG_MAX_MSG + 256];
  for (size_t i = 0; i < tw_config_note_count(cfg); i++)
    if (tw_config_diag_format(tw_config_note(cfg, i), line, sizeof(line)) >= 0)
      tw_info("config", "%s", line);
  if (rc != 0 || tw_config_error_count(cfg) > 0) {
    for (size_t i = 0; i < tw_config_error_count(cfg); i++)
      if (tw_config_diag_format(tw_config_error(cfg, i), line, sizeof(line)) >=
          0)
        tw_error("config", "%s", line);
    if (tw_config_error_count(cfg) == 0)
      tw_error("config", "%s: %s",
               r->config_path ? r->config_path : "(built-in)", tw_strerror(rc));
    tw_config_free(cfg);
    return NULL;
  }
  return cfg;
}

/* ---- the in-process simulator ------------------------------------------- */

static void sim_observer(void *ud, const tw_sim_event_t *ev) {
  (void)ud;
  switch (ev->kind) {
  case TW_SIM_EV_LOGIN:
    tw_info("sim", "%s logged in", ev->login);
    break;
  case TW_SIM_EV_JOIN:
    tw_info("sim", "%s joined #%s", ev->login, ev->room);
    break;
  case TW_SIM_EV_PRIVMSG:
    tw_info("sim", "#%s <%s> %.*s", ev->room, ev->login, (int)ev->len,
            ev->line);
    break;
  case TW_SIM_EV_DROPPED:
    tw_warn("sim", "#%s <%s> dropped (%s): %.*s", ev->room, ev->login,
            tw_sim_drop_name(ev->reason), (int)ev->len, ev->line);
    break;
  default:
    break;
  }
}

static int start_sim(run_t *r, const tw_config_t *cfg) {
  const tw_config_twitch_t *tc = tw_config_twitch(cfg);
  tw_sim_opts_t so = {0};
  so.listeners = TW_SIM_LISTEN_IRC | TW_SIM_LISTEN_IRCS | TW_SIM_LISTEN_WSS |
                 TW_SIM_LISTEN_CONTROL | TW_SIM_LISTEN_API |
                 TW_SIM_LISTEN_EVENTSUB;
  char detail[256];
  int rc = tw_sim_new(&r->loop, &so, &r->sim, detail, sizeof(detail));
  if (rc != 0) {
    tw_error("sim", "cannot start the simulator: %s", detail);
    return rc;
  }
  tw_sim_set_observer(r->sim, sim_observer, r);

  /* The bot runs as the broadcaster's own account (the first channel), as
   * the seed's connector did: Helix changes a title only with the
   * broadcaster's token. Its token has every scope twitchd asks for. */
  unsigned char rnd[20];
  if (RAND_bytes(rnd, sizeof(rnd)) != 1)
    return TW_EIO;
  for (size_t i = 0; i < sizeof(rnd); i++)
    snprintf(r->sim_token + 2 * i, 3, "%02x", rnd[i]);
  tw_log_add_secret(r->sim_token);
  tw_scopes_t scopes = {0};
  tw_buf_t text;
  tw_buf_init(&text, TW_SIM_MAX_SCOPE_TEXT);
  rc = tw_oauth_scopes_for(TW_FEAT_ALL, &scopes);
  if (rc == 0)
    rc = tw_scopes_join(&scopes, &text);
  if (rc == 0)
    rc = tw_buf_append(&text, "", 1); /* NUL */
  tw_scopes_free(&scopes);
  for (size_t i = 0; i < tc->channel_count && rc == 0; i++) {
    tw_sim_room_t room = {.name = tc->channels[i]};
    tw_sim_user_t owner = {.login = tc->channels[i]};
    if ((rc = tw_sim_add_user(r->sim, &owner)) == 0)
      rc = tw_sim_add_room(r->sim, &room);
  }
  if (rc == 0) {
    tw_sim_token_t tok = {.token = r->sim_token,
                          .login = tc->channels[0],
                          .client_id = tc->client_id,
                          .scopes = (const char *)text.data};
    rc = tw_sim_add_token_ex(r->sim, &tok);
  }
  tw_buf_free(&text);
  if (rc == 0)
    rc = tw_sim_token_info(r->sim, r->sim_token, &r->sim_bot);
  if (rc != 0)
    return rc;
  r->demo_channel = strdup(tc->channels[0]);
  if (r->demo_channel == NULL)
    return TW_ENOMEM;

  /* The bot reaches the simulator over the transport its configuration
   * names (Twitch's default is secure WebSocket). */
  const char *scheme = tc->irc.scheme ? tc->irc.scheme : "wss";
  unsigned listener = TW_SIM_LISTEN_WSS;
  if (strcmp(scheme, "ircs") == 0)
    listener = TW_SIM_LISTEN_IRCS;
  else if (strcmp(scheme, "irc") == 0)
    listener = TW_SIM_LISTEN_IRC;
  else
    scheme = "wss";
  snprintf(r->sim_url, sizeof(r->sim_url), "%s://127.0.0.1:%u%s", scheme,
           (unsigned)tw_sim_port(r->sim, listener),
           listener == TW_SIM_LISTEN_WSS ? "/" : "");
  snprintf(r->sim_helix, sizeof(r->sim_helix), "https://127.0.0.1:%u/helix",
           (unsigned)tw_sim_port(r->sim, TW_SIM_LISTEN_API));
  snprintf(r->sim_eventsub, sizeof(r->sim_eventsub), "wss://127.0.0.1:%u/ws",
           (unsigned)tw_sim_port(r->sim, TW_SIM_LISTEN_EVENTSUB));
  tw_info("sim",
          "simulator up: chat %s, Helix %s, EventSub %s, control "
          "http://127.0.0.1:%u (docs/simulator.md); the bot is %s, the "
          "channel's own account",
          r->sim_url, r->sim_helix, r->sim_eventsub,
          (unsigned)tw_sim_port(r->sim, TW_SIM_LISTEN_CONTROL),
          r->sim_bot.login);
  return 0;
}

/* The demo: a few viewers and the streamer in the simulator's chat, the
 * stream going live and offline (EventSub stream.online/offline), a follow
 * and a gift (EventSub notifications), so that the example skills have
 * something to react to. */
typedef enum {
  DEMO_SAY,
  DEMO_EVENTSUB, /* login: the subscription type, text: the event's JSON */
  DEMO_LIVE,
  DEMO_OFFLINE
} demo_kind_t;

typedef struct {
  demo_kind_t kind;
  const char *login; /* DEMO_SAY: who (NULL: the channel's owner) */
  const char *text;  /* chat text, the event as JSON, or the title */
} demo_step_t;

static const demo_step_t demo_script[] = {
    {DEMO_SAY, "viewer_ann", "hello everyone!"},
    {DEMO_LIVE, NULL, "Writing a Twitch bot in C"},
    {DEMO_SAY, "viewer_bob", "what are we building today?"},
    {DEMO_EVENTSUB, "channel.follow",
     "{\"user_login\":\"viewer_bob\",\"user_name\":\"viewer_bob\"}"},
    {DEMO_EVENTSUB, "channel.subscription.gift",
     "{\"user_login\":\"viewer_ann\",\"user_name\":\"viewer_ann\","
     "\"total\":5}"},
    {DEMO_SAY, NULL, "!title Writing a Twitch bot in C, part 2"},
    {DEMO_SAY, "spam_bot_42",
     "Wanna become famous? Buy followers at example.invalid"},
    {DEMO_SAY, "viewer_ann", "!title not allowed to do this"},
    {DEMO_OFFLINE, NULL, NULL},
};

static void on_demo(uv_timer_t *t) {
  run_t *r = t->data;
  const demo_step_t *s =
      &demo_script[r->demo_step++ % (sizeof(demo_script) / sizeof(*s))];
  int rc = 0;
  switch (s->kind) {
  case DEMO_EVENTSUB:
    tw_info("demo", "EventSub %s %s", s->login, s->text);
    rc = tw_sim_eventsub_trigger(r->sim, s->login, r->demo_channel, s->text);
    break;
  case DEMO_LIVE:
  case DEMO_OFFLINE: {
    tw_sim_stream_t st = {
        .live = s->kind == DEMO_LIVE, .title = s->text, .viewer_count = 3};
    tw_info("demo", "#%s %s", r->demo_channel,
            st.live ? "goes live" : "goes offline");
    rc = tw_sim_set_stream(r->sim, r->demo_channel, &st);
    break;
  }
  case DEMO_SAY:
    rc = tw_sim_say(r->sim, r->demo_channel,
                    s->login ? s->login : r->demo_channel, s->text, NULL, NULL);
    break;
  }
  if (rc < 0)
    tw_warn("demo", "in #%s: %s", r->demo_channel, tw_strerror(rc));
}

/* ---- the --inject hook ----------------------------------------------------
 */

static void inject_json(run_t *r, const char *text, size_t len) {
  json_error_t je;
  json_t *j = json_loadb(text, len, 0, &je);
  if (j == NULL) {
    tw_warn("inject", "skipped a line that is not JSON: %s", je.text);
    return;
  }
  tw_event_t *ev = NULL;
  char err[256];
  int rc = tw_event_from_json(j, &ev, err, sizeof(err));
  json_decref(j);
  if (rc != 0) {
    tw_warn("inject", "skipped an event: %s", err);
    return;
  }
  if (ev->connector == NULL)
    tw_event_set_str(ev, "connector", TW_RUNTIME_TWITCH);
  if (r->rt)
    tw_runtime_inject(r->rt, ev);
  tw_event_free(ev);
}

static void on_inject_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  run_t *r = h->data;
  buf->base = r->inject_buf + r->inject_len;
  buf->len = TW_MAX_INJECT_LINE - r->inject_len;
}

static void on_inject_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  run_t *r = s->data;
  if (n < 0) {
    tw_warn("inject", "reading %s: %s", r->inject_path, uv_strerror((int)n));
    uv_read_stop(s);
    return;
  }
  r->inject_len += (size_t)n;
  size_t start = 0;
  for (size_t i = 0; i < r->inject_len; i++) {
    if (r->inject_buf[i] != '\n')
      continue;
    if (!r->inject_skipping && i > start)
      inject_json(r, r->inject_buf + start, i - start);
    r->inject_skipping = 0;
    start = i + 1;
  }
  memmove(r->inject_buf, r->inject_buf + start, r->inject_len - start);
  r->inject_len -= start;
  if (r->inject_len == TW_MAX_INJECT_LINE) {
    tw_warn("inject", "skipped a line over %d bytes", TW_MAX_INJECT_LINE);
    r->inject_len = 0;
    r->inject_skipping = 1;
  }
}

static int start_inject(run_t *r) {
  /* Opened read-write so that the FIFO always has a writer: writers may come
   * and go without the reader seeing an end of file. */
  int fd = open(r->inject_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    tw_error("inject", "%s: %s", r->inject_path, strerror(errno));
    return TW_EIO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    tw_error("inject", "%s is not a FIFO (make one with mkfifo)",
             r->inject_path);
    close(fd);
    return TW_EINVAL;
  }
  r->inject_buf = malloc(TW_MAX_INJECT_LINE);
  if (r->inject_buf == NULL) {
    close(fd);
    return TW_ENOMEM;
  }
  uv_pipe_init(&r->loop, &r->inject, 0);
  r->inject.data = r;
  r->inject_on = 1;
  int rc = uv_pipe_open(&r->inject, fd);
  if (rc == 0)
    rc = uv_read_start((uv_stream_t *)&r->inject, on_inject_alloc,
                       on_inject_read);
  if (rc != 0) {
    tw_error("inject", "%s: %s", r->inject_path, uv_strerror(rc));
    return TW_EIO;
  }
  return 0;
}

/* ---- signals and shutdown ---------------------------------------------- */

static void stop(run_t *r, int status) {
  if (r->stopping)
    return;
  r->stopping = 1;
  r->exit_status = status;
  if (r->signals_on) {
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sighup, NULL);
  }
  if (r->demo_timer_on)
    uv_close((uv_handle_t *)&r->demo_timer, NULL);
  if (r->inject_on)
    uv_close((uv_handle_t *)&r->inject, NULL);
  if (r->rt) {
    tw_runtime_close(r->rt, NULL, NULL);
    r->rt = NULL;
  }
  if (r->sim) {
    tw_sim_close(r->sim, NULL, NULL);
    r->sim = NULL;
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  run_t *r = h->data;
  if (signum == SIGHUP) {
    if (r->config_path == NULL) {
      tw_info(MOD, "SIGHUP: no configuration file to reload");
      return;
    }
    tw_info(MOD, "SIGHUP: reloading %s", r->config_path);
    tw_config_t *cfg = load_config(r);
    if (cfg == NULL) {
      tw_error(MOD, "reload: %s has errors; the running configuration stays",
               r->config_path);
      return;
    }
    tw_runtime_reload(r->rt, cfg);
    return;
  }
  tw_info(MOD, "%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
  stop(r, 0);
}

/* ---- main ---------------------------------------------------------------- */

static int parse_args(run_t *r, int argc, char **argv, const char **level) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
      if (v == NULL)
        goto missing;
      r->config_path = v;
      i++;
    } else if (strcmp(a, "--sim") == 0) {
      r->use_sim = 1;
    } else if (strcmp(a, "--no-demo") == 0) {
      r->demo = 0;
    } else if (strcmp(a, "--demo-interval-ms") == 0) {
      char *end;
      if (v == NULL)
        goto missing;
      errno = 0;
      unsigned long long n = strtoull(v, &end, 10);
      if (errno || *end || end == v || n < 10 || n > 3600000) {
        fprintf(stderr, "twitchd run: --demo-interval-ms wants 10..3600000\n");
        return 2;
      }
      r->demo_interval_ms = n;
      i++;
    } else if (strcmp(a, "--inject") == 0) {
      if (v == NULL)
        goto missing;
      r->inject_path = v;
      i++;
    } else if (strcmp(a, "--log-level") == 0) {
      if (v == NULL)
        goto missing;
      *level = v;
      i++;
    } else {
      fprintf(stderr, "twitchd run: unknown option '%s' (try --help)\n", a);
      return 2;
    }
    continue;
  missing:
    fprintf(stderr, "twitchd run: %s needs a value\n", a);
    return 2;
  }
  if (r->config_path == NULL && !r->use_sim) {
    fprintf(stderr, "twitchd run: give a configuration (-c FILE), or --sim "
                    "to run against the simulator\n");
    return 2;
  }
  return -1;
}

int tw__cli_run(int argc, char **argv) {
  run_t r = {.demo = 1, .demo_interval_ms = 4000};
  const char *level_arg = NULL;
  int rc = parse_args(&r, argc, argv, &level_arg);
  if (rc >= 0)
    return rc;
  tw_log_level_t level_override = TW_LOG_INFO;
  if (level_arg && tw_log_level_parse(level_arg, &level_override) != 0) {
    fprintf(stderr, "twitchd run: bad --log-level '%s'\n", level_arg);
    return 2;
  }

  tw_config_t *cfg = load_config(&r);
  if (cfg == NULL)
    return 2;
  if (uv_loop_init(&r.loop) != 0) {
    tw_config_free(cfg);
    return 1;
  }
  tw_runtime_opts_t ro = {.log_events = true};
  if (r.use_sim) {
    if ((rc = start_sim(&r, cfg)) != 0) {
      tw_config_free(cfg);
      stop(&r, 1);
      goto out;
    }
    ro.irc_url = r.sim_url;
    ro.helix_url = r.sim_helix;
    ro.eventsub_url = r.sim_eventsub;
    ro.ca_file = tw_sim_ca_file(r.sim);
    ro.login = r.sim_bot.login;
    ro.user_id = r.sim_bot.user_id;
    ro.token = r.sim_token;
    /* The demo's stream goes live and offline within seconds. */
    ro.stream_check_ms = r.demo_interval_ms < 1000 ? 500 : 1000;
  }
  rc = tw_runtime_new(&r.loop, cfg, &ro, &r.rt);
  if (rc != 0) {
    tw_config_free(cfg);
    stop(&r, 1);
    goto out;
  }
  if (level_arg)
    tw_log_set_level(level_override);

  uv_signal_init(&r.loop, &r.sigint);
  uv_signal_init(&r.loop, &r.sigterm);
  uv_signal_init(&r.loop, &r.sighup);
  r.sigint.data = r.sigterm.data = r.sighup.data = &r;
  r.signals_on = 1;
  uv_signal_start(&r.sigint, on_signal, SIGINT);
  uv_signal_start(&r.sigterm, on_signal, SIGTERM);
  uv_signal_start(&r.sighup, on_signal, SIGHUP);

  if (r.inject_path && start_inject(&r) != 0) {
    stop(&r, 1);
    goto out;
  }
  if ((rc = tw_runtime_start(r.rt)) != 0) {
    tw_error(MOD, "cannot start: %s", tw_strerror(rc));
    stop(&r, 1);
    goto out;
  }
  if (r.use_sim && r.demo) {
    uv_timer_init(&r.loop, &r.demo_timer);
    r.demo_timer.data = &r;
    r.demo_timer_on = 1;
    uv_timer_start(&r.demo_timer, on_demo, r.demo_interval_ms,
                   r.demo_interval_ms);
  }
  tw_info(MOD, "twitchd running (pid %ld)%s", (long)getpid(),
          r.config_path ? "; SIGHUP reloads the configuration" : "");

out:
  uv_run(&r.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&r.loop) != 0)
    tw_warn(MOD, "the loop still had handles at exit");
  free(r.inject_buf);
  free(r.demo_channel);
  return r.exit_status;
}
