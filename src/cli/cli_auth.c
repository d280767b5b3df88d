/* `twitchd auth -c FILE [--device] [--no-wait]`: logs the bot's account in
 * and writes the token file the daemon then keeps fresh (docs/auth.md).
 *
 * Authorization code flow (default): prints the authorize URL (client id,
 * the configured redirect, a random state from OpenSSL's RAND_bytes, the
 * scopes twitchd's features need). When the redirect is
 * http://localhost:PORT/... or http://127.0.0.1:PORT/... it listens on
 * 127.0.0.1:PORT itself, catches the browser's redirect, checks the state
 * in constant time, exchanges the code, stores the tokens, validates them
 * and prints who is logged in; the browser gets a short page saying how it
 * went. For any other redirect it asks for the address the browser was sent
 * to on standard input. --no-wait only prints the URL (for the seed's way:
 * paste the code into the config's `code`).
 *
 * Device code flow (--device): prints the code and the activation URL and
 * polls Twitch at the interval it asks for (slow_down adds 5 s), then
 * stores the tokens.
 *
 * Exit status: 0 logged in (or URL printed with --no-wait); 1 the login
 * failed (state mismatch, access denied, code refused, network...); 2 bad
 * usage or configuration.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <openssl/rand.h>
#include <uv.h>

#include "cli/cli.h"

#define TW_AUTH_FEATURES                                                       \
  (TW_FEAT_SEED | TW_FEAT_CHEERS | TW_FEAT_BAN_EVENTS | TW_FEAT_RAIDS)
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/config.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/oauth.h"
#include "twitchd/oauth_http.h"
#include "twitchd/token_store.h"
#include "twitchd/uv_curl.h"
#include "twitchd/uv_mhd.h"

#define MAX_EXTRA_SCOPES 32
#define DEFAULT_TIMEOUT_S 600
#define STATE_BYTES 16
/* After the answer page is queued, how long to wait for it to be sent
 * before closing anyway. */
#define LINGER_MS 2000
/* Twitch's documented slow_down step (RFC 8628). */
#define SLOW_DOWN_STEP_S 5

typedef struct {
  char *uri;   /* the raw request target, for the redirect parser */
  bool answer; /* the auth outcome is known: queue the page */
} conn_t;

typedef struct {
  uv_loop_t loop;
  tw_uvcurl_t *curl;
  tw_uvmhd_t *mhd;
  uv_timer_t timeout, poll, linger;
  uv_signal_t sigint;
  const tw_config_twitch_t *tw;
  tw_token_store_t *store;
  tw_scopes_t scopes;
  char state[2 * STATE_BYTES + 1];
  char redirect_path[TW_MAX_OAUTH_STR];
  /* Progress. */
  bool device;
  bool caught; /* a redirect was accepted; later ones are refused */
  bool finished;
  int status;                     /* exit status once finished */
  struct MHD_Connection *waiting; /* suspended until the outcome */
  conn_t *waiting_conn;
  char page[1024];
  int page_status;
  /* Token being stored. */
  tw_oauth_token_t tok;
  tw_oauth_device_t dev;
  int64_t interval_s;
  int closes;
} auth_t;

static void usage(FILE *out) {
  fprintf(out,
          "usage: twitchd auth -c FILE [--device] [--no-wait] [--scope S]...\n"
          "\n"
          "Logs the bot's Twitch account in and writes the token file "
          "(token-file in\n"
          "the configuration) that `twitchd run` keeps fresh. See "
          "docs/auth.md.\n"
          "\n"
          "By default prints the authorize URL to open in a browser; when "
          "the\n"
          "configured redirect is http://localhost:PORT/... or "
          "http://127.0.0.1:PORT/...\n"
          "it catches the browser's redirect on 127.0.0.1:PORT itself, "
          "otherwise it\n"
          "asks for the address the browser was sent to.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE  the configuration (connectors.twitch: "
          "client-id,\n"
          "                     client-secret, redirect, token-file, "
          "ca-file)\n"
          "  --device           device code flow: enter a code at "
          "twitch.tv/activate\n"
          "  --no-wait          only print the authorize URL (put the "
          "code it gives\n"
          "                     into the config's `code`)\n"
          "  --scope SCOPE      ask for one more scope (repeatable)\n"
          "  --timeout SECONDS  give up after this long (default %d)\n"
          "  -h, --help         this help\n"
          "\n"
          "exit status: 0 logged in, 1 login failed, 2 usage or "
          "configuration error\n",
          DEFAULT_TIMEOUT_S);
}

/* ---- finishing -------------------------------------------------------------
 */

static void on_handle_closed(uv_handle_t *h) {
  auth_t *a = h->data;
  a->closes--;
}

static void on_adapter_closed(void *ud) {
  auth_t *a = ud;
  a->closes--;
}

static void shutdown_all(auth_t *a) {
  uv_handle_t *hs[] = {(uv_handle_t *)&a->timeout, (uv_handle_t *)&a->poll,
                       (uv_handle_t *)&a->linger, (uv_handle_t *)&a->sigint};
  for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
    if (!uv_is_closing(hs[i])) {
      a->closes++;
      uv_close(hs[i], on_handle_closed);
    }
  }
  if (a->mhd) {
    a->closes++;
    tw_uvmhd_close(a->mhd, on_adapter_closed, a);
    a->mhd = NULL;
  }
  if (a->curl) {
    a->closes++;
    tw_uvcurl_close(a->curl, on_adapter_closed, a);
    a->curl = NULL;
  }
}

static void on_linger(uv_timer_t *t) {
  shutdown_all(t->data);
}

/* Records the outcome; the browser (if one waits) gets `page`; everything
 * is closed once it has been sent. */
static void finish(auth_t *a, int status, const char *page) {
  if (a->finished)
    return;
  a->finished = true;
  a->status = status;
  uv_timer_stop(&a->timeout);
  uv_timer_stop(&a->poll);
  snprintf(a->page, sizeof(a->page),
           "<!doctype html><html><head><meta charset=\"utf-8\"><title>twitchd"
           "</title></head><body><h1>twitchd</h1><p>%s</p></body></html>\n",
           page);
  a->page_status = status == 0 ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST;
  if (a->waiting && a->mhd) {
    a->waiting_conn->answer = true;
    tw_uvmhd_resume(a->mhd, a->waiting);
    a->waiting = NULL;
    /* Closing now could cut the page; the completed callback or this
     * timer closes everything. */
    uv_timer_start(&a->linger, on_linger, LINGER_MS, 0);
    return;
  }
  shutdown_all(a);
}

static void fail(auth_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(auth_t *a, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* Through the redaction, in case a server echoed something secret. */
  char safe[1024];
  tw_log_redact(msg, safe, sizeof(safe));
  fprintf(stderr, "twitchd auth: %s\n", safe);
  finish(a, 1, "Login failed; see the terminal where twitchd auth runs.");
}

/* ---- after the token: validate, store, report ------------------------------
 */

static void on_validated(void *arg, int err, long status, const char *body,
                         size_t len, const char *detail) {
  auth_t *a = arg;
  if (err == TW_ECANCELED)
    return;
  tw_oauth_validation_t v;
  tw_oauth_error_t oe;
  memset(&v, 0, sizeof(v));
  if (err != 0) {
    fail(a, "cannot validate the new token: %s (%s)", tw_strerror(err), detail);
    return;
  }
  if (tw_oauth_decode_validate((int)status, body, len, &v, &oe) != 0) {
    fail(a, "the new token does not validate: HTTP %ld %s", status, oe.message);
    return;
  }
  tw_token_set_t t = {0};
  t.access_token = a->tok.access_token;
  t.refresh_token = a->tok.refresh_token;
  t.expires_at_ms = a->tok.expires_in > 0 ? a->tok.expires_at_ms : 0;
  t.scopes = a->tok.scopes.n ? a->tok.scopes : v.scopes;
  t.user_id = v.user_id;
  t.login = v.login;
  t.client_id = (char *)a->tw->client_id;
  int rc = tw_token_store_save(a->store, &t);
  if (rc != 0) {
    fail(a, "cannot write the token file: %s", tw_token_store_error(a->store));
    tw_oauth_validation_clear(&v);
    return;
  }
  tw_buf_t sc;
  tw_buf_init(&sc, 8192);
  tw_scopes_join(&t.scopes, &sc);
  printf("Logged in as %s (user id %s).\n", v.login ? v.login : "?",
         v.user_id ? v.user_id : "?");
  printf("Scopes: %s\n", sc.data ? sc.data : "(none)");
  printf("Tokens saved to %s\n", tw_token_store_path(a->store));
  fflush(stdout);
  tw_buf_free(&sc);
  char page[512];
  snprintf(page, sizeof(page),
           "Logged in as %s. You can close this tab; twitchd has the "
           "tokens.",
           v.login ? v.login : "your account");
  tw_oauth_validation_clear(&v);
  finish(a, 0, page);
}

static void got_token(auth_t *a) {
  tw_log_add_secret(a->tok.access_token);
  if (a->tok.refresh_token)
    tw_log_add_secret(a->tok.refresh_token);
  tw_oauth_http_req_t r = {.base = a->tw->oauth.url,
                           .path = TW_OAUTH_PATH_VALIDATE,
                           .bearer = a->tok.access_token,
                           .ca_file = a->tw->ca_file};
  int rc = tw_oauth_http_start(a->curl, &r, on_validated, a, NULL);
  if (rc != 0)
    fail(a, "cannot validate the new token: %s", tw_strerror(rc));
}

/* ---- authorization code flow ---------------------------------------------
 */

static void on_exchanged(void *arg, int err, long status, const char *body,
                         size_t len, const char *detail) {
  auth_t *a = arg;
  if (err == TW_ECANCELED)
    return;
  if (err != 0) {
    fail(a, "cannot reach %s: %s (%s)", a->tw->oauth.url, tw_strerror(err),
         detail);
    return;
  }
  tw_oauth_error_t oe;
  if (tw_oauth_decode_token((int)status, body, len, tw_wall_ms(), &a->tok,
                            &oe) != 0) {
    fail(a, "Twitch refused the code: HTTP %ld %s%s%s", status,
         tw_oauth_result_name(oe.result), oe.message[0] ? ": " : "",
         oe.message);
    return;
  }
  got_token(a);
}

/* Checks a redirect (`target`: the request target or the pasted URL) and
 * starts the exchange. Returns 0 when the exchange started. */
static int take_redirect(auth_t *a, const char *target) {
  tw_oauth_redirect_t r;
  tw_oauth_error_t oe;
  int rc = tw_oauth_parse_redirect(target, strlen(target), &r);
  if (rc != 0) {
    fail(a, "the redirect's query is malformed (%s)", tw_strerror(rc));
    return rc;
  }
  if (r.code)
    tw_log_add_secret(r.code);
  rc = tw_oauth_redirect_check(&r, a->state, &oe);
  if (rc != 0) {
    if (oe.result == TW_OAUTH_STATE_MISMATCH)
      fail(a, "the redirect's state does not match the one sent: it is not "
              "the answer to this login (stale tab or forged request); run "
              "twitchd auth again");
    else if (oe.result == TW_OAUTH_ACCESS_DENIED)
      fail(a, "access denied: the login was refused in the browser%s%s",
           oe.message[0] ? ": " : "", oe.message);
    else
      fail(a, "Twitch sent no code: %s", oe.message[0] ? oe.message : "?");
    tw_oauth_redirect_clear(&r);
    return TW_EAUTH;
  }
  tw_buf_t body;
  tw_buf_init(&body, TW_MAX_OAUTH_BODY);
  rc = tw_oauth_body_authorization_code(&body, a->tw->client_id,
                                        a->tw->client_secret, r.code,
                                        a->tw->redirect.url);
  tw_oauth_redirect_clear(&r);
  if (rc == 0) {
    tw_oauth_http_req_t req = {.base = a->tw->oauth.url,
                               .path = TW_OAUTH_PATH_TOKEN,
                               .body = body.data,
                               .body_len = body.len,
                               .ca_file = a->tw->ca_file};
    rc = tw_oauth_http_start(a->curl, &req, on_exchanged, a, NULL);
  }
  if (body.data)
    memset(body.data, 0, body.len);
  tw_buf_free(&body);
  if (rc != 0)
    fail(a, "cannot exchange the code: %s", tw_strerror(rc));
  return rc;
}

static enum MHD_Result send_page(struct MHD_Connection *conn, unsigned status,
                                 const char *page) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(page), (void *)page, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  enum MHD_Result rc = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return rc;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con) {
  (void)cls;
  (void)con;
  conn_t *c = calloc(1, sizeof(*c));
  if (c) {
    size_t n = strnlen(uri, TW_MAX_OAUTH_QUERY + 1);
    c->uri = malloc(n + 1);
    if (c->uri) {
      memcpy(c->uri, uri, n);
      c->uri[n] = '\0';
    }
  }
  return c;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  (void)upload;
  auth_t *a = cls;
  conn_t *c = *con_cls;
  if (*upload_size) {
    *upload_size = 0; /* a browser redirect has no body */
    return MHD_YES;
  }
  if (c && c->answer)
    return send_page(conn, (unsigned)a->page_status, a->page);
  if (!c || !c->uri)
    return MHD_NO;
  if (strcmp(method, "GET") != 0)
    return send_page(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only.");
  if (strcmp(url, a->redirect_path) != 0)
    return send_page(conn, MHD_HTTP_NOT_FOUND, "Not the login redirect.");
  if (a->caught || a->finished)
    return send_page(conn, MHD_HTTP_CONFLICT,
                     "This login is already being handled.");
  a->caught = true;
  if (tw_uvmhd_suspend(a->mhd, conn) != 0)
    return send_page(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Shutting down.");
  a->waiting = conn;
  a->waiting_conn = c;
  take_redirect(a, c->uri); /* failures finish() and resume the browser */
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)conn;
  (void)toe;
  auth_t *a = cls;
  conn_t *c = *con_cls;
  if (!c)
    return;
  bool was_answer = c->answer;
  free(c->uri);
  free(c);
  *con_cls = NULL;
  if (was_answer && a->finished && a->mhd)
    shutdown_all(a); /* the page went out */
}

/* Splits the redirect into the host/port to listen on and the path to
 * expect. Returns 1 when it can be caught locally. */
static int catchable(auth_t *a) {
  const tw_config_url_t *u = &a->tw->redirect;
  const char *p = u->path && u->path[0] ? u->path : "/";
  size_t n = strcspn(p, "?#");
  if (n >= sizeof(a->redirect_path))
    return 0;
  memcpy(a->redirect_path, p, n);
  a->redirect_path[n] = '\0';
  if (n == 0)
    snprintf(a->redirect_path, sizeof(a->redirect_path), "/");
  return strcmp(u->scheme, "http") == 0 && (strcmp(u->host, "localhost") == 0 ||
                                            strcmp(u->host, "127.0.0.1") == 0);
}

static int start_catcher(auth_t *a) {
  struct sockaddr_in sa;
  if (uv_ip4_addr("127.0.0.1", a->tw->redirect.port, &sa) != 0)
    return TW_EINVAL;
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, (uint16_t)a->tw->redirect.port,
      NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, a, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, a, MHD_OPTION_CONNECTION_LIMIT, 16u,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (!d)
    return TW_EIO;
  return tw_uvmhd_adopt(&a->loop, d, &a->mhd);
}

/* ---- device code flow ---------------------------------------------------- */

static void poll_device(auth_t *a);
static void on_poll_timer(uv_timer_t *t) {
  poll_device(t->data);
}

static void on_device_poll(void *arg, int err, long status, const char *body,
                           size_t len, const char *detail) {
  auth_t *a = arg;
  if (err == TW_ECANCELED || a->finished)
    return;
  if (err == 0) {
    tw_oauth_error_t oe;
    int rc = tw_oauth_decode_token((int)status, body, len, tw_wall_ms(),
                                   &a->tok, &oe);
    if (rc == 0) {
      got_token(a);
      return;
    }
    switch (oe.result) {
    case TW_OAUTH_PENDING:
    case TW_OAUTH_SERVER_ERROR:
    case TW_OAUTH_RATE_LIMITED:
    case TW_OAUTH_BAD_RESPONSE:
      break;
    case TW_OAUTH_SLOW_DOWN:
      a->interval_s += SLOW_DOWN_STEP_S;
      break;
    case TW_OAUTH_EXPIRED_DEVICE_CODE:
      fail(a, "the device code expired before it was entered; run twitchd "
              "auth --device again");
      return;
    case TW_OAUTH_ACCESS_DENIED:
      fail(a, "access denied: the login was refused");
      return;
    default:
      fail(a, "Twitch refused the device login: HTTP %ld %s%s%s", status,
           tw_oauth_result_name(oe.result), oe.message[0] ? ": " : "",
           oe.message);
      return;
    }
  } else {
    /* A network hiccup while the person types the code: keep polling. */
    fprintf(stderr, "twitchd auth: polling failed (%s: %s); still waiting\n",
            tw_strerror(err), detail);
  }
  uv_timer_start(&a->poll, on_poll_timer, (uint64_t)a->interval_s * 1000u, 0);
}

static void poll_device(auth_t *a) {
  if (a->finished)
    return;
  tw_buf_t body;
  tw_buf_init(&body, TW_MAX_OAUTH_BODY);
  int rc = tw_oauth_body_device_token(&body, a->tw->client_id, &a->scopes,
                                      a->dev.device_code);
  if (rc == 0) {
    tw_oauth_http_req_t req = {.base = a->tw->oauth.url,
                               .path = TW_OAUTH_PATH_TOKEN,
                               .body = body.data,
                               .body_len = body.len,
                               .ca_file = a->tw->ca_file};
    rc = tw_oauth_http_start(a->curl, &req, on_device_poll, a, NULL);
  }
  tw_buf_free(&body);
  if (rc != 0)
    fail(a, "cannot poll for the device login: %s", tw_strerror(rc));
}

static void on_device_started(void *arg, int err, long status, const char *body,
                              size_t len, const char *detail) {
  auth_t *a = arg;
  if (err == TW_ECANCELED)
    return;
  if (err != 0) {
    fail(a, "cannot reach %s: %s (%s)", a->tw->oauth.url, tw_strerror(err),
         detail);
    return;
  }
  tw_oauth_error_t oe;
  if (tw_oauth_decode_device((int)status, body, len, &a->dev, &oe) != 0) {
    fail(a, "Twitch refused the device login: HTTP %ld %s%s%s", status,
         tw_oauth_result_name(oe.result), oe.message[0] ? ": " : "",
         oe.message);
    return;
  }
  tw_log_add_secret(a->dev.device_code);
  a->interval_s = a->dev.interval > 0 ? a->dev.interval : 5;
  printf("To log in, open %s\nand enter the code: %s\n",
         a->dev.verification_uri, a->dev.user_code);
  printf("Waiting for the login (the code expires in %lld s)...\n",
         (long long)a->dev.expires_in);
  fflush(stdout);
  uv_timer_start(&a->poll, on_poll_timer, (uint64_t)a->interval_s * 1000u, 0);
}

/* ---- main ------------------------------------------------------------------
 */

static void on_timeout(uv_timer_t *t) {
  auth_t *a = t->data;
  fail(a, "timed out waiting for the login");
}

static void on_sigint(uv_signal_t *s, int signum) {
  (void)signum;
  fail(s->data, "interrupted");
}

static void add_secret_cb(const char *secret, void *arg) {
  (void)arg;
  tw_log_add_secret(secret);
}

static int parse_seconds(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v <= 0 || v > 86400)
    return -1;
  *out = v;
  return 0;
}

int tw__cli_auth(int argc, char **argv) {
  const char *cfg_path = NULL;
  bool device = false, no_wait = false;
  const char *extra[MAX_EXTRA_SCOPES];
  size_t nextra = 0;
  long timeout_s = DEFAULT_TIMEOUT_S;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if ((strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) &&
               i + 1 < argc) {
      cfg_path = argv[++i];
    } else if (strcmp(o, "--device") == 0) {
      device = true;
    } else if (strcmp(o, "--no-wait") == 0) {
      no_wait = true;
    } else if (strcmp(o, "--scope") == 0 && i + 1 < argc) {
      if (nextra >= MAX_EXTRA_SCOPES) {
        fprintf(stderr, "twitchd auth: too many --scope options\n");
        return 2;
      }
      extra[nextra++] = argv[++i];
    } else if (strcmp(o, "--timeout") == 0 && i + 1 < argc) {
      if (parse_seconds(argv[++i], &timeout_s) != 0) {
        fprintf(stderr, "twitchd auth: --timeout takes 1..86400 seconds\n");
        return 2;
      }
    } else {
      fprintf(stderr, "twitchd auth: unknown or incomplete option '%s'\n", o);
      usage(stderr);
      return 2;
    }
  }
  if (!cfg_path) {
    fprintf(stderr, "twitchd auth: -c FILE is required\n");
    usage(stderr);
    return 2;
  }
  if (device && no_wait) {
    fprintf(stderr, "twitchd auth: --device and --no-wait do not combine\n");
    return 2;
  }
  tw_config_t *cfg = tw_config_new();
  if (!cfg)
    return 2;
  if (tw_config_load_file(cfg, cfg_path) != 0) {
    char line[1024];
    for (size_t i = 0; i < tw_config_error_count(cfg); i++) {
      tw_config_diag_format(tw_config_error(cfg, i), line, sizeof(line));
      fprintf(stderr, "%s\n", line);
    }
    tw_config_free(cfg);
    return 2;
  }
  tw_config_foreach_secret(cfg, add_secret_cb, NULL);
  const tw_config_logging_t *lg = tw_config_logging(cfg);
  if (lg) {
    tw_log_set_level(lg->level);
    tw_log_set_format(lg->format);
  }
  const tw_config_twitch_t *tw = tw_config_twitch(cfg);
  if (!tw) {
    fprintf(stderr, "twitchd auth: %s has no connectors.twitch section\n",
            cfg_path);
    tw_config_free(cfg);
    return 2;
  }
  if (!device && !tw->client_secret) {
    fprintf(stderr,
            "twitchd auth: connectors.twitch.client-secret is needed to "
            "exchange a code;\nuse --device for an application without a "
            "secret\n");
    tw_config_free(cfg);
    return 2;
  }
  auth_t *a = calloc(1, sizeof(*a));
  if (!a) {
    tw_config_free(cfg);
    return 2;
  }
  a->tw = tw;
  a->device = device;
  a->status = 1;
  /* The seed's features, and the events `twitchd run` subscribes to over
   * EventSub by default besides them (cheers, bans). */
  int rc = tw_oauth_scopes_for(TW_AUTH_FEATURES, &a->scopes);
  for (size_t i = 0; rc == 0 && i < nextra; i++) {
    rc = tw_scopes_add(&a->scopes, extra[i]);
    if (rc == TW_EINVAL)
      fprintf(stderr, "twitchd auth: '%s' is not a scope name\n", extra[i]);
    else if (tw_oauth_scope_removed(extra[i]))
      fprintf(stderr, "twitchd auth: note: %s: %s\n", extra[i],
              tw_oauth_scope_removed(extra[i]));
  }
  if (rc == 0)
    rc = tw_token_store_new(tw->token_file, &a->store);
  if (rc != 0) {
    if (rc != TW_EINVAL)
      fprintf(stderr, "twitchd auth: %s\n", tw_strerror(rc));
    tw_scopes_free(&a->scopes);
    tw_token_store_free(a->store);
    free(a);
    tw_config_free(cfg);
    return 2;
  }
  int status = 2;
  bool waits = false;
  uv_loop_init(&a->loop);
  uv_timer_init(&a->loop, &a->timeout);
  uv_timer_init(&a->loop, &a->poll);
  uv_timer_init(&a->loop, &a->linger);
  uv_signal_init(&a->loop, &a->sigint);
  a->timeout.data = a->poll.data = a->linger.data = a->sigint.data = a;
  a->curl = tw_uvcurl_new(&a->loop);
  if (!a->curl) {
    fprintf(stderr, "twitchd auth: cannot initialise libcurl\n");
    shutdown_all(a);
    goto out;
  }
  if (device) {
    tw_buf_t body;
    tw_buf_init(&body, TW_MAX_OAUTH_BODY);
    rc = tw_oauth_body_device_start(&body, tw->client_id, &a->scopes);
    if (rc == 0) {
      tw_oauth_http_req_t req = {.base = tw->oauth.url,
                                 .path = TW_OAUTH_PATH_DEVICE,
                                 .body = body.data,
                                 .body_len = body.len,
                                 .ca_file = tw->ca_file};
      rc = tw_oauth_http_start(a->curl, &req, on_device_started, a, NULL);
    }
    tw_buf_free(&body);
    if (rc != 0) {
      fprintf(stderr, "twitchd auth: cannot start the device login: %s\n",
              tw_strerror(rc));
      shutdown_all(a);
      goto out;
    }
    waits = true;
  } else {
    unsigned char rnd[STATE_BYTES];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
        tw_oauth_state_hex(rnd, sizeof(rnd), a->state, sizeof(a->state)) != 0) {
      fprintf(stderr, "twitchd auth: no random state available\n");
      shutdown_all(a);
      goto out;
    }
    tw_buf_t url;
    tw_buf_init(&url, TW_MAX_OAUTH_URL);
    tw_oauth_authorize_t p = {.base = tw->oauth.url,
                              .client_id = tw->client_id,
                              .redirect_uri = tw->redirect.url,
                              .scopes = &a->scopes,
                              .state = a->state};
    rc = tw_oauth_authorize_url(&url, &p);
    if (rc != 0) {
      fprintf(stderr, "twitchd auth: cannot build the authorize URL: %s\n",
              tw_strerror(rc));
      tw_buf_free(&url);
      shutdown_all(a);
      goto out;
    }
    int local = catchable(a);
    printf("Open this address in a browser and log in as the bot's "
           "account:\n\n%s\n\n",
           url.data);
    tw_buf_free(&url);
    if (no_wait) {
      printf("Twitch then sends the browser to %s?code=...; put that code "
             "into\nconnectors.twitch.code of %s: twitchd exchanges it at the "
             "next start.\n",
             tw->redirect.url, cfg_path);
      status = 0;
      shutdown_all(a);
      goto out;
    }
    if (local) {
      rc = start_catcher(a);
      if (rc != 0) {
        fprintf(stderr,
                "twitchd auth: cannot listen on 127.0.0.1:%d for the "
                "redirect (%s).\nRegister a redirect with a free port "
                "(e.g. http://localhost:3000/) with your application and in "
                "the config, or use --device.\n",
                tw->redirect.port, tw_strerror(rc));
        shutdown_all(a);
        goto out;
      }
      printf("Waiting for the browser on http://127.0.0.1:%d%s ...\n",
             tw->redirect.port, a->redirect_path);
      fflush(stdout);
      waits = true;
    } else {
      printf("After logging in, paste the address the browser was sent to "
             "(it starts with %s):\n",
             tw->redirect.url);
      fflush(stdout);
      char line[TW_MAX_OAUTH_QUERY + 2];
      if (!fgets(line, sizeof(line), stdin)) {
        fprintf(stderr, "twitchd auth: no address given\n");
        status = 1;
        shutdown_all(a);
        goto out;
      }
      line[strcspn(line, "\r\n")] = '\0';
      if (take_redirect(a, line) == 0)
        waits = true;
    }
  }
  if (waits) {
    uv_timer_start(&a->timeout, on_timeout, (uint64_t)timeout_s * 1000u, 0);
    uv_signal_start(&a->sigint, on_sigint, SIGINT);
  }
  uv_run(&a->loop, UV_RUN_DEFAULT);
  if (a->finished)
    status = a->status;
out:
  uv_run(&a->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&a->loop) != 0)
    fprintf(stderr, "twitchd auth: internal: handles left open\n");
  tw_oauth_token_clear(&a->tok);
  tw_oauth_device_clear(&a->dev);
  tw_scopes_free(&a->scopes);
  tw_token_store_free(a->store);
  free(a);
  tw_config_free(cfg);
  return status;
}
