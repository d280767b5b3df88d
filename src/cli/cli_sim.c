/* twitchd sim: runs the Twitch chat simulator on 127.0.0.1 until SIGINT or
 * SIGTERM.
 *
 * Once every listener is open it prints one line of JSON on stdout (and
 * writes it to --ports-file, atomically, when asked) so that scripts can
 * find the ports, URLs and the CA file to trust:
 *
 *   {"irc":"irc://127.0.0.1:40001","irc_port":40001,"ircs":...,
 *    "wss":"wss://127.0.0.1:40003/",...,"control":"http://127.0.0.1:40005",
 *    "control_port":40005,"ca_file":"/tmp/twitchd-sim-.../ca.pem",...}
 *
 * The control interface (docs/simulator.md) does the rest: users, rooms,
 * injected lines, faults, read-back, counters, floods.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cli/cli.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/sim.h"

/* Repeatable options kept for after the simulator is up. */
#define MAX_CLI_ITEMS 256

typedef struct {
  const char *a, *b; /* TOKEN=LOGIN, ROOM=LOGIN, NAME[=ID] split */
} pair_t;

typedef struct {
  uv_loop_t loop;
  tw_sim_t *sim;
  uv_signal_t sigint, sigterm;
  int stopping;
} run_t;

static void usage(FILE *out) {
  fprintf(out,
          "usage: twitchd sim [options]\n\n"
          "Runs Twitch's chat server side on 127.0.0.1 (irc://, ircs://, "
          "wss://,\n"
          "ws:// answering 301) with an HTTP control interface, until "
          "SIGINT/SIGTERM.\n"
          "Prints one JSON line with the ports, URLs and CA file on "
          "stdout.\n\n"
          "options:\n"
          "  --host IP              address to listen on (127.0.0.1)\n"
          "  --irc-port N           plain IRC port (0: any free port)\n"
          "  --tls-port N           IRC over TLS port\n"
          "  --wss-port N           IRC over secure WebSocket port\n"
          "  --ws-port N            plain ws:// port (answers 301 to wss)\n"
          "  --control-port N       HTTP control port\n"
          "  --api-port N           HTTPS port of /oauth2 and /helix\n"
          "  --eventsub-port N      EventSub WebSocket port (wss://.../ws)\n"
          "  --no-irc, --no-tls, --no-wss, --no-ws, --no-control, --no-api,\n"
          "  --no-eventsub\n"
          "                         do not open that listener\n"
          "  --cert-dir DIR         cert.pem and key.pem to serve; generated "
          "with ca.pem\n"
          "                         when missing (default: a temporary "
          "directory)\n"
          "  --token TOKEN=LOGIN    accept `PASS oauth:TOKEN` for LOGIN "
          "(repeatable)\n"
          "  --room NAME[=ID]       create a room, optionally with its "
          "room-id\n"
          "  --mod ROOM=LOGIN       make LOGIN a moderator of ROOM "
          "(repeatable)\n"
          "  --vip ROOM=LOGIN       make LOGIN a VIP of ROOM (repeatable)\n"
          "  --no-auto-rooms        JOIN only rooms created with --room or "
          "the API\n"
          "  --client ID[=SECRET]   register an OAuth client (no secret: "
          "public)\n"
          "  --consent-login LOGIN  who consents on /oauth2/authorize and "
          "device codes\n"
          "                         (default: the first --token login, "
          "else simbot)\n"
          "  --user-token-ttl-ms N  user access token lifetime (default 4 "
          "h)\n"
          "  --app-token-ttl-ms N   app access token lifetime\n"
          "  --code-ttl-ms N        authorization code lifetime (default 10 "
          "min)\n"
          "  --device-ttl-ms N      device code lifetime (default 1800 s)\n"
          "  --device-interval-ms N device poll interval (default 5000)\n"
          "  --device-auto-approve N  approve device codes after N pending "
          "polls\n"
          "  --device-slow-down     answer slow_down to polls sooner than "
          "the interval\n"
          "  --ratelimit N          Helix points per minute per token "
          "(default 800)\n"
          "  --clip-delay-ms N      delay before a created clip is listed "
          "(default 200)\n"
          "  --eventsub-keepalive-ms N  EventSub keepalive in ms, overriding "
          "the URL's\n"
          "                         keepalive_timeout_seconds (simulator "
          "extension)\n"
          "  --eventsub-subscribe-window-ms N  time to the first "
          "subscription before\n"
          "                         close 4003 (default: the keepalive)\n"
          "  --eventsub-reconnect-grace-ms N  old connection's life after "
          "session_reconnect\n"
          "                         (default 30000; then close 4004)\n"
          "  --webhook-timeout-ms N  one webhook delivery attempt's limit "
          "(default 10000)\n"
          "  --webhook-retry-ms N   wait before the first webhook retry, "
          "doubling (default 1000)\n"
          "  --webhook-retries N    retries of a failed webhook notification "
          "(default 3)\n"
          "  --webhook-max-failures N  failed notifications before "
          "notification_failures_exceeded\n"
          "                         (default 3)\n"
          "  --webhook-ca-file PATH extra CA bundle for https:// webhook "
          "callbacks\n"
          "  --ping-interval-ms N   server PING period (default 300000)\n"
          "  --pong-timeout-ms N    close without PONG after this (default "
          "10000)\n"
          "  --max-conns N          simultaneous connections (default %d)\n"
          "  --ws-line-per-message  one IRC line per WebSocket message\n"
          "  --seed N               seed for message ids (reproducible runs)\n"
          "  --ports-file FILE      also write the JSON line to FILE\n"
          "  --log-level LEVEL      trace, debug, info, warn, error, off\n"
          "  -h, --help             this help\n",
          TW_SIM_MAX_CONNS);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max)
    return -1;
  *out = v;
  return 0;
}

/* Splits "A=B" in place; B may be required or optional. */
static int split_pair(char *s, pair_t *p, int need_b) {
  char *eq = strchr(s, '=');
  p->a = s;
  p->b = NULL;
  if (eq) {
    *eq = '\0';
    p->b = eq + 1;
  }
  if (!*p->a || (need_b && (!p->b || !*p->b)))
    return -1;
  return 0;
}

/* Writes the line to path through a temporary file and a rename, so that a
 * script polling for the file never reads half of it. */
static int write_ports_file(const char *path, const char *line) {
  char tmp[4096];
  int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof(tmp))
    return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return -1;
  size_t len = strlen(line);
  int ok = write(fd, line, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
           fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void on_sim_closed(void *ud) {
  run_t *r = ud;
  uv_close((uv_handle_t *)&r->sigint, NULL);
  uv_close((uv_handle_t *)&r->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  run_t *r = h->data;
  if (r->stopping)
    return;
  r->stopping = 1;
  tw_info("sim", "signal %d: stopping", signum);
  tw_sim_close(r->sim, on_sim_closed, r);
}

int tw__cli_sim(int argc, char **argv) {
  tw_sim_opts_t o;
  memset(&o, 0, sizeof(o));
  unsigned off = 0;
  const char *ports_file = NULL;
  pair_t tokens[MAX_CLI_ITEMS], rooms[MAX_CLI_ITEMS], mods[MAX_CLI_ITEMS],
      vips[MAX_CLI_ITEMS];
  size_t ntok = 0, nroom = 0, nmod = 0, nvip = 0;
  pair_t clients[MAX_CLI_ITEMS];
  size_t nclient = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t x;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
#define PORT_OPT(name, field)                                                  \
  if (strcmp(a, name) == 0) {                                                  \
    if (parse_u64(v, 65535, &x) != 0) {                                        \
      fprintf(stderr, "twitchd sim: %s needs a port number\n", name);          \
      return 2;                                                                \
    }                                                                          \
    o.field = (uint16_t)x;                                                     \
    i++;                                                                       \
    continue;                                                                  \
  }
    PORT_OPT("--irc-port", irc_port)
    PORT_OPT("--tls-port", ircs_port)
    PORT_OPT("--wss-port", wss_port)
    PORT_OPT("--ws-port", ws_port)
    PORT_OPT("--control-port", control_port)
    PORT_OPT("--api-port", api_port)
    PORT_OPT("--eventsub-port", eventsub_port)
#undef PORT_OPT
#define MS_OPT(name, field, max)                                               \
  if (strcmp(a, name) == 0) {                                                  \
    if (parse_u64(v, max, &x) != 0 || x == 0) {                                \
      fprintf(stderr, "twitchd sim: %s needs a positive number\n", name);      \
      return 2;                                                                \
    }                                                                          \
    o.chat.field = (uint32_t)x;                                                \
    i++;                                                                       \
    continue;                                                                  \
  }
    MS_OPT("--ping-interval-ms", ping_interval_ms, UINT32_MAX - 1)
    MS_OPT("--pong-timeout-ms", pong_timeout_ms, UINT32_MAX - 1)
    MS_OPT("--max-conns", max_conns, TW_SIM_MAX_CONNS_LIMIT)
#undef MS_OPT
#define ES_OPT(name, field)                                                    \
  if (strcmp(a, name) == 0) {                                                  \
    if (parse_u64(v, UINT32_MAX - 1, &x) != 0 || x == 0) {                     \
      fprintf(stderr, "twitchd sim: %s needs a positive number\n", name);      \
      return 2;                                                                \
    }                                                                          \
    o.eventsub.field = (uint32_t)x;                                            \
    i++;                                                                       \
    continue;                                                                  \
  }
    ES_OPT("--eventsub-keepalive-ms", keepalive_ms)
    ES_OPT("--eventsub-subscribe-window-ms", subscribe_window_ms)
    ES_OPT("--eventsub-reconnect-grace-ms", reconnect_grace_ms)
    ES_OPT("--webhook-timeout-ms", webhook_timeout_ms)
    ES_OPT("--webhook-retry-ms", webhook_retry_ms)
    ES_OPT("--webhook-retries", webhook_retries)
    ES_OPT("--webhook-max-failures", webhook_max_failures)
#undef ES_OPT
#define API_OPT(name, field, max)                                              \
  if (strcmp(a, name) == 0) {                                                  \
    if (parse_u64(v, max, &x) != 0 || x == 0) {                                \
      fprintf(stderr, "twitchd sim: %s needs a positive number\n", name);      \
      return 2;                                                                \
    }                                                                          \
    o.api.field = x;                                                           \
    i++;                                                                       \
    continue;                                                                  \
  }
    API_OPT("--user-token-ttl-ms", user_token_ttl_ms, UINT64_MAX / 4)
    API_OPT("--app-token-ttl-ms", app_token_ttl_ms, UINT64_MAX / 4)
    API_OPT("--code-ttl-ms", code_ttl_ms, UINT32_MAX - 1)
    API_OPT("--device-ttl-ms", device_ttl_ms, UINT32_MAX - 1)
    API_OPT("--device-interval-ms", device_interval_ms, UINT32_MAX - 1)
    API_OPT("--device-auto-approve", device_auto_approve, UINT32_MAX - 1)
    API_OPT("--ratelimit", ratelimit_points, 1000000)
    API_OPT("--clip-delay-ms", clip_delay_ms, UINT32_MAX - 1)
#undef API_OPT
    if (strcmp(a, "--no-irc") == 0) {
      off |= TW_SIM_LISTEN_IRC;
    } else if (strcmp(a, "--no-tls") == 0) {
      off |= TW_SIM_LISTEN_IRCS;
    } else if (strcmp(a, "--no-wss") == 0) {
      off |= TW_SIM_LISTEN_WSS;
    } else if (strcmp(a, "--no-ws") == 0) {
      off |= TW_SIM_LISTEN_WS;
    } else if (strcmp(a, "--no-control") == 0) {
      off |= TW_SIM_LISTEN_CONTROL;
    } else if (strcmp(a, "--no-api") == 0) {
      off |= TW_SIM_LISTEN_API;
    } else if (strcmp(a, "--no-eventsub") == 0) {
      off |= TW_SIM_LISTEN_EVENTSUB;
    } else if (strcmp(a, "--webhook-ca-file") == 0) {
      if (!v || !*v) {
        fprintf(stderr, "twitchd sim: --webhook-ca-file needs a path\n");
        return 2;
      }
      o.eventsub.webhook_ca_file = v;
      i++;
    } else if (strcmp(a, "--device-slow-down") == 0) {
      o.api.device_slow_down = 1;
    } else if (strcmp(a, "--consent-login") == 0) {
      if (!v) {
        fprintf(stderr, "twitchd sim: --consent-login needs a login\n");
        return 2;
      }
      o.api.consent_login = v;
      i++;
    } else if (strcmp(a, "--client") == 0) {
      if (!v || nclient >= MAX_CLI_ITEMS ||
          split_pair(argv[i + 1], &clients[nclient], 0) != 0) {
        fprintf(stderr, "twitchd sim: --client needs ID[=SECRET]\n");
        return 2;
      }
      nclient++;
      i++;
    } else if (strcmp(a, "--no-auto-rooms") == 0) {
      o.chat.no_auto_rooms = 1;
    } else if (strcmp(a, "--ws-line-per-message") == 0) {
      o.ws_line_per_message = 1;
    } else if (strcmp(a, "--seed") == 0) {
      if (parse_u64(v, UINT64_MAX, &x) != 0) {
        fprintf(stderr, "twitchd sim: --seed needs a number\n");
        return 2;
      }
      o.seed = x;
      i++;
    } else if (strcmp(a, "--host") == 0 || strcmp(a, "--cert-dir") == 0 ||
               strcmp(a, "--ports-file") == 0 ||
               strcmp(a, "--log-level") == 0) {
      if (!v) {
        fprintf(stderr, "twitchd sim: %s needs a value\n", a);
        return 2;
      }
      if (strcmp(a, "--host") == 0) {
        o.host = v;
      } else if (strcmp(a, "--cert-dir") == 0) {
        o.cert_dir = v;
      } else if (strcmp(a, "--ports-file") == 0) {
        ports_file = v;
      } else {
        tw_log_level_t lvl;
        if (tw_log_level_parse(v, &lvl) != 0) {
          fprintf(stderr, "twitchd sim: unknown log level '%s'\n", v);
          return 2;
        }
        tw_log_set_level(lvl);
      }
      i++;
    } else if (strcmp(a, "--token") == 0 || strcmp(a, "--room") == 0 ||
               strcmp(a, "--mod") == 0 || strcmp(a, "--vip") == 0) {
      pair_t *arr = a[2] == 't'   ? tokens
                    : a[2] == 'r' ? rooms
                    : a[2] == 'm' ? mods
                                  : vips;
      size_t *n = a[2] == 't'   ? &ntok
                  : a[2] == 'r' ? &nroom
                  : a[2] == 'm' ? &nmod
                                : &nvip;
      if (!v || *n >= MAX_CLI_ITEMS ||
          split_pair(argv[i + 1], &arr[*n], a[2] != 'r') != 0) {
        fprintf(stderr, "twitchd sim: %s needs %s\n", a,
                a[2] == 't'   ? "TOKEN=LOGIN"
                : a[2] == 'r' ? "NAME[=ROOM_ID]"
                              : "ROOM=LOGIN");
        return 2;
      }
      (*n)++;
      i++;
    } else {
      fprintf(stderr, "twitchd sim: unknown option '%s' (try --help)\n", a);
      return 2;
    }
  }
  o.listeners = TW_SIM_LISTEN_ALL & ~off;
  if (!o.listeners) {
    fprintf(stderr, "twitchd sim: every listener is disabled\n");
    return 2;
  }

  /* Whoever the first --token is for consents, unless told otherwise: the
   * bot being tested is usually that user. */
  if (!o.api.consent_login && ntok > 0)
    o.api.consent_login = tokens[0].b;

  run_t r;
  memset(&r, 0, sizeof(r));
  if (uv_loop_init(&r.loop) != 0) {
    fprintf(stderr, "twitchd sim: cannot create the event loop\n");
    return 1;
  }
  char detail[512];
  int rc = tw_sim_new(&r.loop, &o, &r.sim, detail, sizeof(detail));
  if (rc != 0) {
    fprintf(stderr, "twitchd sim: %s (%s)\n", detail[0] ? detail : "",
            tw_strerror(rc));
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    return 1;
  }
  rc = 0;
  for (size_t i = 0; i < ntok && rc == 0; i++) {
    /* Fake tokens, but tokens all the same: never in a log. */
    tw_log_add_secret(tokens[i].a);
    rc = tw_sim_add_token(r.sim, tokens[i].a, tokens[i].b, 0);
    if (rc)
      fprintf(stderr, "twitchd sim: bad --token for '%s'\n", tokens[i].b);
  }
  for (size_t i = 0; i < nclient && rc == 0; i++) {
    if (clients[i].b)
      tw_log_add_secret(clients[i].b);
    tw_sim_client_t c = {.client_id = clients[i].a,
                         .client_secret = clients[i].b};
    rc = tw_sim_add_client(r.sim, &c);
    if (rc)
      fprintf(stderr, "twitchd sim: bad --client '%s'\n", clients[i].a);
  }
  for (size_t i = 0; i < nroom && rc == 0; i++) {
    tw_sim_room_t room = {.name = rooms[i].a, .room_id = rooms[i].b};
    rc = tw_sim_add_room(r.sim, &room);
    if (rc)
      fprintf(stderr, "twitchd sim: bad --room '%s'\n", rooms[i].a);
  }
  for (size_t i = 0; i < nmod + nvip && rc == 0; i++) {
    pair_t *p = i < nmod ? &mods[i] : &vips[i - nmod];
    rc = tw_sim_set_role(r.sim, p->a, p->b,
                         i < nmod ? TW_SIM_ROLE_MOD : TW_SIM_ROLE_VIP);
    if (rc)
      fprintf(stderr, "twitchd sim: bad --%s %s=%s\n", i < nmod ? "mod" : "vip",
              p->a, p->b);
  }
  /* The handlers are in place before the JSON line (and the ports file)
   * tell anyone the simulator is up, so that a SIGTERM sent as soon as the
   * line is read stops it cleanly instead of killing it. */
  uv_signal_init(&r.loop, &r.sigint);
  uv_signal_init(&r.loop, &r.sigterm);
  r.sigint.data = r.sigterm.data = &r;
  uv_signal_start(&r.sigint, on_signal, SIGINT);
  uv_signal_start(&r.sigterm, on_signal, SIGTERM);
  char line[4096];
  if (rc == 0 && (rc = tw_sim_describe(r.sim, line, sizeof(line))) == 0) {
    if (ports_file && write_ports_file(ports_file, line) != 0) {
      fprintf(stderr, "twitchd sim: cannot write %s: %s\n", ports_file,
              strerror(errno));
      rc = TW_EIO;
    }
  }
  if (rc != 0) {
    uv_close((uv_handle_t *)&r.sigint, NULL);
    uv_close((uv_handle_t *)&r.sigterm, NULL);
    tw_sim_close(r.sim, NULL, NULL);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    return 1;
  }
  printf("%s\n", line);
  fflush(stdout);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  if (ports_file)
    unlink(ports_file);
  return uv_loop_close(&r.loop) == 0 ? 0 : 1;
}
