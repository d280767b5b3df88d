/* Tests of the simulator over real sockets on 127.0.0.1: IRC over TLS, over
 * secure WebSocket and in clear, with small raw clients built on the net
 * layer (tw_stream, tw_ws) that trust the simulator's generated CA; the
 * plain ws:// redirect; the HTTP control interface through curl on the
 * loop; a flood of the real corpus over TLS. Everything waits on events. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "net_test.h"
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/irc_twitch.h"
#include "twitchd/sim.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"
#include "twitchd/uv_curl.h"
#include "twitchd/ws.h"

#define WAIT_MS 15000u

/* ---- a raw IRC client ---------------------------------------------------- */

typedef struct {
  uv_loop_t *loop;
  tw_stream_t *s;
  tw_ws_t *ws;
  tw_irc_splitter_t *sp;
  tw_buf_t lines; /* every line received, each followed by '\n' */
  size_t nlines;
  size_t nmsgs; /* WebSocket messages received */
  size_t seen;  /* offset in `lines` already looked at by cl_wait() */
  int count_only;
  int auto_pong; /* answer server PINGs like a real client */
  int open, closed;
  int http_status;
  char location[256];
} cl_t;

static void cl_send(cl_t *c, const char *line);

static void cl_line(void *ud, const char *line, size_t len, int err) {
  cl_t *c = ud;
  if (err)
    return;
  c->nlines++;
  if (c->auto_pong && len >= 5 && memcmp(line, "PING ", 5) == 0)
    cl_send(c, "PONG :tmi.twitch.tv");
  if (c->count_only)
    return;
  assert_int_equal(tw_buf_append(&c->lines, line, len), 0);
  assert_int_equal(tw_buf_append(&c->lines, "\n", 1), 0);
}

static void cl_init(cl_t *c, uv_loop_t *loop) {
  memset(c, 0, sizeof(*c));
  c->loop = loop;
  c->sp = tw_irc_splitter_new(0, 0);
  assert_non_null(c->sp);
  tw_buf_init(&c->lines, 64u << 20);
}

static void cl_free(cl_t *c) {
  tw_irc_splitter_free(c->sp);
  tw_buf_free(&c->lines);
}

static void st_connect(tw_stream_t *s, void *ud) {
  (void)s;
  ((cl_t *)ud)->open = 1;
}

static void st_read(tw_stream_t *s, const char *d, size_t n, void *ud) {
  (void)s;
  cl_t *c = ud;
  tw_irc_splitter_feed(c->sp, d, n, cl_line, c);
}

static void st_close(tw_stream_t *s, void *ud) {
  (void)s;
  cl_t *c = ud;
  c->closed = 1;
  c->s = NULL;
}

static void ws_open(tw_ws_t *ws, void *ud) {
  (void)ws;
  ((cl_t *)ud)->open = 1;
}

static void ws_msg(tw_ws_t *ws, const char *d, size_t n, int bin, void *ud) {
  (void)ws;
  (void)bin;
  cl_t *c = ud;
  c->nmsgs++;
  tw_irc_splitter_feed(c->sp, d, n, cl_line, c);
}

static void ws_close(tw_ws_t *ws, const tw_ws_close_info_t *info, void *ud) {
  (void)ws;
  cl_t *c = ud;
  c->closed = 1;
  c->ws = NULL;
  c->http_status = info->http_status;
  snprintf(c->location, sizeof(c->location), "%s", info->location);
}

static int is_open(void *arg) {
  cl_t *c = arg;
  return c->open || c->closed;
}

static int is_closed(void *arg) {
  return ((cl_t *)arg)->closed;
}

static void cl_stream(cl_t *c, uv_loop_t *loop, uint16_t port,
                      tw_tls_ctx_t *tls) {
  cl_init(c, loop);
  tw_stream_cb_t cb = {st_connect, st_read, NULL, NULL, st_close};
  assert_int_equal(tw_stream_new(loop, &cb, c, &c->s), 0);
  tw_stream_connect_opts_t o = {.tls = tls, .verify_host = "localhost"};
  assert_int_equal(tw_stream_connect(c->s, "127.0.0.1", port, &o), 0);
  assert_true(tw_test_run_until(loop, is_open, c, WAIT_MS));
  assert_true(c->open);
}

static void cl_ws(cl_t *c, uv_loop_t *loop, const char *url,
                  tw_tls_ctx_t *tls) {
  cl_init(c, loop);
  tw_ws_cb_t cb = {ws_open, ws_msg, NULL, NULL, NULL, ws_close};
  tw_ws_connect_opts_t o = {.tls = tls, .verify_host = "localhost"};
  assert_int_equal(tw_ws_connect(loop, url, &o, &cb, c, &c->ws), 0);
  assert_true(tw_test_run_until(loop, is_open, c, WAIT_MS));
}

/* Sends one line: CR LF on a stream; over WebSocket one message without
 * terminator, as browser clients do. */
static void cl_send(cl_t *c, const char *line) {
  if (c->s) {
    assert_int_equal(tw_stream_write(c->s, line, strlen(line)), 0);
    assert_int_equal(tw_stream_write(c->s, "\r\n", 2), 0);
  } else {
    assert_non_null(c->ws);
    assert_int_equal(tw_ws_send_text(c->ws, line, strlen(line)), 0);
  }
}

typedef struct {
  cl_t *c;
  const char *needle;
  char found[TW_MAX_IRC_LINE + 1];
} wait_t;

static int find_line(void *arg) {
  wait_t *w = arg;
  cl_t *c = w->c;
  while (c->seen < c->lines.len) {
    const char *start = c->lines.data + c->seen;
    const char *nl = memchr(start, '\n', c->lines.len - c->seen);
    if (!nl)
      return 0;
    size_t len = (size_t)(nl - start);
    c->seen += len + 1;
    if (memmem(start, len, w->needle, strlen(w->needle))) {
      memcpy(w->found, start, len);
      w->found[len] = '\0';
      return 1;
    }
  }
  return c->closed && w->found[0] == '\0' ? 0 : 0;
}

/* Runs the loop until a line holding `needle` arrives (after the ones
 * already looked at); returns it (valid until the next call). */
static const char *cl_wait(cl_t *c, const char *needle) {
  static wait_t w;
  memset(&w, 0, sizeof(w));
  w.c = c;
  w.needle = needle;
  if (!tw_test_run_until(c->loop, find_line, &w, WAIT_MS))
    fail_msg("no line with \"%s\" arrived", needle);
  return w.found;
}

static void cl_login(cl_t *c, const char *login, const char *token) {
  char buf[256];
  cl_send(c, "CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership");
  snprintf(buf, sizeof(buf), "PASS oauth:%s", token);
  cl_send(c, buf);
  snprintf(buf, sizeof(buf), "NICK %s", login);
  cl_send(c, buf);
  cl_wait(c, " 376 ");
}

static void cl_join(cl_t *c, const char *room) {
  char buf[64];
  snprintf(buf, sizeof(buf), "JOIN #%s", room);
  cl_send(c, buf);
  snprintf(buf, sizeof(buf), " 366 ");
  cl_wait(c, buf);
}

static void cl_end(cl_t *c) {
  if (c->s)
    tw_stream_close(c->s);
  if (c->ws)
    tw_ws_abort(c->ws);
  assert_true(tw_test_run_until(c->loop, is_closed, c, WAIT_MS));
}

/* ---- fixture ------------------------------------------------------------- */

typedef struct {
  uv_loop_t loop;
  tw_sim_t *sim;
  tw_tls_ctx_t *ctls; /* client context trusting the simulator's CA */
  int closed;
  int flood_done;
  uint64_t flood_count;
  int logins;
} fx_t;

static void on_event(void *ud, const tw_sim_event_t *ev) {
  fx_t *fx = ud;
  if (ev->kind == TW_SIM_EV_FLOOD_DONE) {
    fx->flood_done = 1;
    fx->flood_count = ev->count;
  }
  if (ev->kind == TW_SIM_EV_LOGIN)
    fx->logins++;
}

static void on_sim_closed(void *ud) {
  ((fx_t *)ud)->closed = 1;
}

static fx_t *fx_new(const tw_sim_opts_t *o) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  tw_test_log_from_env();
  assert_int_equal(uv_loop_init(&fx->loop), 0);
  char detail[256];
  int rc = tw_sim_new(&fx->loop, o, &fx->sim, detail, sizeof(detail));
  if (rc != 0)
    fail_msg("tw_sim_new: %s (%s)", detail, tw_err_name(rc));
  tw_sim_set_observer(fx->sim, on_event, fx);
  const char *ca = tw_sim_ca_file(fx->sim);
  if (ca) {
    tw_tls_client_opts_t co = {.ca_file = ca};
    assert_int_equal(tw_tls_client_new(&co, &fx->ctls, detail, sizeof(detail)),
                     0);
  }
  assert_int_equal(tw_sim_add_token(fx->sim, "tokbot", "bot", 0), 0);
  assert_int_equal(tw_sim_add_token(fx->sim, "tokalice", "alice", 0), 0);
  return fx;
}

static void fx_free(fx_t *fx) {
  tw_sim_close(fx->sim, on_sim_closed, fx);
  assert_true(tw_test_run_flag(&fx->loop, &fx->closed));
  tw_tls_ctx_free(fx->ctls);
  assert_int_equal(tw_test_loop_finish(&fx->loop), 0);
  free(fx);
}

/* ---- tests --------------------------------------------------------------- */

static void test_tls_wss_plain_relay(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_sim_t *sim = fx->sim;
  char url[128];
  snprintf(url, sizeof(url), "wss://127.0.0.1:%u/",
           (unsigned)tw_sim_port(sim, TW_SIM_LISTEN_WSS));

  cl_t a, b, v;
  cl_stream(&a, &fx->loop, tw_sim_port(sim, TW_SIM_LISTEN_IRCS), fx->ctls);
  cl_login(&a, "bot", "tokbot");
  cl_join(&a, "chan");
  assert_non_null(strstr(cl_wait(&a, "ROOMSTATE #chan"), "room-id="));

  cl_ws(&b, &fx->loop, url, fx->ctls);
  assert_true(b.open);
  cl_login(&b, "alice", "tokalice");
  /* Several lines in one WebSocket message are fine too. */
  static const char two[] = "JOIN #chan\r\nPING :two-in-one\r\n";
  assert_int_equal(tw_ws_send_text(b.ws, two, sizeof(two) - 1), 0);
  cl_wait(&b, " 366 ");
  cl_wait(&b, "PONG tmi.twitch.tv :two-in-one");
  cl_wait(&a, ":alice!alice@alice.tmi.twitch.tv JOIN #chan");

  /* An anonymous reader in clear. */
  cl_stream(&v, &fx->loop, tw_sim_port(sim, TW_SIM_LISTEN_IRC), NULL);
  cl_send(&v, "CAP REQ :twitch.tv/tags");
  cl_send(&v, "NICK justinfan4242");
  cl_wait(&v, " 376 ");
  cl_join(&v, "chan");

  /* TLS -> WSS and clear, with tags; the sender gets USERSTATE with the id. */
  cl_send(&a, "PRIVMSG #chan :hello from tls");
  const char *got = cl_wait(&b, "PRIVMSG #chan :hello from tls");
  tw_irc_msg_t m;
  tw_irc_privmsg_t pm;
  char line[TW_MAX_IRC_LINE + 1];
  snprintf(line, sizeof(line), "%s", got);
  assert_int_equal(tw_irc_parse(&m, line, strlen(line)), 0);
  assert_int_equal(tw_irc_privmsg(&m, NULL, &pm), 0);
  assert_true(tw_irc_str_eq(pm.sender.login, "bot"));
  assert_int_equal(pm.id.len, 36);
  assert_non_null(pm.room_id.ptr);
  char id[64];
  snprintf(id, sizeof(id), "id=%.*s;", (int)pm.id.len, pm.id.ptr);
  assert_non_null(strstr(cl_wait(&a, "USERSTATE #chan"), id));
  cl_wait(&v, "PRIVMSG #chan :hello from tls");

  /* WSS -> TLS. */
  cl_send(&b, "PRIVMSG #chan :hello from wss");
  cl_wait(&a, "PRIVMSG #chan :hello from wss");

  uint64_t ids[8];
  assert_int_equal(tw_sim_conns(sim, ids, 8), 3);
  tw_sim_conn_info_t ci;
  assert_int_equal(tw_sim_conn_info(sim, ids[0], &ci), 0);
  assert_int_equal(ci.transport, TW_SIM_TRANSPORT_IRCS);
  assert_int_equal(tw_sim_conn_info(sim, ids[1], &ci), 0);
  assert_int_equal(ci.transport, TW_SIM_TRANSPORT_WSS);
  assert_string_equal(ci.login, "alice");
  assert_int_equal(tw_sim_conn_info(sim, ids[2], &ci), 0);
  assert_int_equal(ci.transport, TW_SIM_TRANSPORT_IRC);
  assert_int_equal(ci.anonymous, 1);
  tw_sim_counters_t k;
  tw_sim_counters(sim, &k);
  assert_int_equal(k.privmsgs, 2);
  assert_int_equal(k.relayed, 4);
  assert_int_equal(fx->logins, 3);

  /* A login failure is sent, then the server closes (over WSS too). */
  cl_t bad;
  cl_ws(&bad, &fx->loop, url, fx->ctls);
  cl_send(&bad, "PASS oauth:wrong");
  cl_send(&bad, "NICK bot");
  cl_wait(&bad, "NOTICE * :Login authentication failed");
  assert_true(tw_test_run_until(&fx->loop, is_closed, &bad, WAIT_MS));
  cl_free(&bad);

  /* RECONNECT, then the server closes as announced. */
  assert_int_equal(tw_sim_reconnect(sim, ids[0], 50), 1);
  cl_wait(&a, ":tmi.twitch.tv RECONNECT");
  assert_true(tw_test_run_until(&fx->loop, is_closed, &a, WAIT_MS));

  cl_end(&b);
  cl_end(&v);
  cl_free(&a);
  cl_free(&b);
  cl_free(&v);
  fx_free(fx);
}

static void test_ws_redirect(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  char url[128], want[128];
  snprintf(url, sizeof(url), "ws://127.0.0.1:%u/",
           (unsigned)tw_sim_port(fx->sim, TW_SIM_LISTEN_WS));
  snprintf(want, sizeof(want), "wss://127.0.0.1:%u/",
           (unsigned)tw_sim_port(fx->sim, TW_SIM_LISTEN_WSS));
  cl_t c;
  cl_ws(&c, &fx->loop, url, NULL);
  assert_true(tw_test_run_until(&fx->loop, is_closed, &c, WAIT_MS));
  assert_int_equal(c.open, 0);
  assert_int_equal(c.http_status, 301);
  assert_string_equal(c.location, want);
  cl_free(&c);
  fx_free(fx);
}

/* Lines queued together leave in one WebSocket message by default, one
 * message per line with ws_line_per_message. */
static void test_ws_batching(void **state) {
  (void)state;
  for (int per_line = 0; per_line < 2; per_line++) {
    tw_sim_opts_t o = {.listeners = TW_SIM_LISTEN_WSS,
                       .ws_line_per_message = per_line};
    fx_t *fx = fx_new(&o);
    char url[128];
    snprintf(url, sizeof(url), "wss://127.0.0.1:%u/",
             (unsigned)tw_sim_port(fx->sim, TW_SIM_LISTEN_WSS));
    cl_t c;
    cl_ws(&c, &fx->loop, url, fx->ctls);
    cl_login(&c, "bot", "tokbot");
    size_t before_msgs = c.nmsgs, before_lines = c.nlines;
    cl_send(&c, "JOIN #chan");
    cl_wait(&c, "ROOMSTATE #chan");
    assert_int_equal(c.nlines - before_lines, 5);
    assert_int_equal(c.nmsgs - before_msgs, per_line ? 5 : 1);
    cl_end(&c);
    cl_free(&c);
    fx_free(fx);
  }
}

static void test_keepalive_and_describe(void **state) {
  (void)state;
  tw_sim_opts_t o = {
      .listeners = TW_SIM_LISTEN_IRC,
      .chat = {.ping_interval_ms = 100, .pong_timeout_ms = 1000}};
  fx_t *fx = fx_new(&o);
  assert_null(tw_sim_ca_file(fx->sim));
  assert_int_equal(tw_sim_port(fx->sim, TW_SIM_LISTEN_IRCS), 0);
  char desc[1024];
  assert_int_equal(tw_sim_describe(fx->sim, desc, sizeof(desc)), 0);
  json_t *j = json_loads(desc, 0, NULL);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(j, "irc_port")),
                   tw_sim_port(fx->sim, TW_SIM_LISTEN_IRC));
  assert_null(json_object_get(j, "wss"));
  json_decref(j);
  assert_int_equal(tw_sim_describe(fx->sim, desc, 8), TW_ETOOBIG);

  cl_t good, silent;
  cl_stream(&good, &fx->loop, tw_sim_port(fx->sim, TW_SIM_LISTEN_IRC), NULL);
  cl_stream(&silent, &fx->loop, tw_sim_port(fx->sim, TW_SIM_LISTEN_IRC), NULL);
  cl_login(&good, "bot", "tokbot");
  cl_login(&silent, "alice", "tokalice");
  /* good answers every PING; silent never does and is closed. */
  good.auto_pong = 1;
  for (int i = 0; i < 3; i++)
    cl_wait(&good, "PING :tmi.twitch.tv");
  assert_true(tw_test_run_until(&fx->loop, is_closed, &silent, WAIT_MS));
  assert_false(good.closed);
  tw_sim_counters_t k;
  tw_sim_counters(fx->sim, &k);
  assert_true(k.ping_timeouts >= 1);
  cl_end(&good);
  cl_free(&good);
  cl_free(&silent);
  fx_free(fx);
}

/* ---- control interface over HTTP ---------------------------------------- */

typedef struct {
  tw_buf_t body;
  long status;
  CURLcode res;
  int done;
} http_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  http_t *h = ud;
  if (tw_buf_append(&h->body, p, sz * n) != 0)
    return 0;
  return sz * n;
}

static void on_done(CURL *e, CURLcode res, void *ud) {
  http_t *h = ud;
  h->res = res;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &h->status);
  curl_easy_cleanup(e);
  h->done = 1;
}

/* Starts a request; finish it with http_wait(). */
static void http_start(tw_uvcurl_t *uc, uint16_t port, const char *method,
                       const char *path, const char *json, http_t *h) {
  memset(h, 0, sizeof(*h));
  tw_buf_init(&h->body, 8u << 20);
  CURL *e = curl_easy_init();
  assert_non_null(e);
  char url[512];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (json)
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, json);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  assert_int_equal(tw_uvcurl_add(uc, e, on_done, h), 0);
}

static json_t *http_wait(uv_loop_t *loop, http_t *h, long want_status) {
  assert_true(tw_test_run_flag(loop, &h->done));
  assert_int_equal(h->res, CURLE_OK);
  if (h->status != want_status)
    fail_msg("HTTP %ld, wanted %ld: %s", h->status, want_status,
             h->body.data ? h->body.data : "");
  json_error_t je;
  json_t *j = json_loadb(h->body.data ? h->body.data : "", h->body.len, 0, &je);
  tw_buf_free(&h->body);
  assert_non_null(j);
  return j;
}

static json_t *http(uv_loop_t *loop, tw_uvcurl_t *uc, uint16_t port,
                    const char *method, const char *path, const char *json,
                    long want) {
  http_t h;
  http_start(uc, port, method, path, json, &h);
  return http_wait(loop, &h, want);
}

static int64_t jint(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  assert_non_null(v);
  return json_integer_value(v);
}

static void uc_closed(void *ud) {
  *(int *)ud = 1;
}

static void test_control_http(void **state) {
  (void)state;
  /* A long per-room interval makes the limit below independent of timing. */
  tw_sim_opts_t o = {.listeners = TW_SIM_LISTEN_IRC | TW_SIM_LISTEN_CONTROL,
                     .chat = {.room_interval_ms = 600000}};
  fx_t *fx = fx_new(&o);
  uv_loop_t *loop = &fx->loop;
  uint16_t cp = tw_sim_port(fx->sim, TW_SIM_LISTEN_CONTROL);
  assert_true(cp != 0);
  tw_uvcurl_t *uc = tw_uvcurl_new(loop);
  assert_non_null(uc);
  json_t *j;

  j = http(loop, uc, cp, "GET", "/health", NULL, 200);
  json_decref(j);
  j = http(loop, uc, cp, "GET", "/info", NULL, 200);
  assert_int_equal(jint(j, "irc_port"),
                   tw_sim_port(fx->sim, TW_SIM_LISTEN_IRC));
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/users",
           "{\"login\":\"carol\",\"user_id\":\"555\",\"display_name\":"
           "\"Carol\",\"token\":\"tokcarol\"}",
           200);
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/rooms",
           "{\"name\":\"chan\",\"room_id\":\"999\",\"mods\":[\"carol\"]}", 200);
  json_decref(j);

  cl_t c;
  cl_stream(&c, loop, tw_sim_port(fx->sim, TW_SIM_LISTEN_IRC), NULL);
  cl_login(&c, "carol", "tokcarol");
  cl_join(&c, "chan");
  assert_non_null(strstr(cl_wait(&c, "USERSTATE #chan"), "mod=1"));
  assert_non_null(strstr(cl_wait(&c, "ROOMSTATE #chan"), "room-id=999"));

  /* Read-back: every line carol sent, in order. */
  j = http(loop, uc, cp, "GET", "/chat/sent?login=carol", NULL, 200);
  json_t *lines = json_object_get(j, "lines");
  /* CAP, PASS and NICK came before the login. */
  assert_int_equal(json_array_size(lines), 1);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(lines, 0), "line")),
      "JOIN #chan");
  uint64_t conn_id = (uint64_t)jint(json_array_get(lines, 0), "conn");
  int64_t last = jint(j, "last_seq");
  json_decref(j);
  j = http(loop, uc, cp, "GET", "/chat/sent?conn=1&since=0&limit=1", NULL, 200);
  assert_string_equal(
      json_string_value(json_object_get(
          json_array_get(json_object_get(j, "lines"), 0), "line")),
      "CAP REQ :twitch.tv/tags twitch.tv/commands "
      "twitch.tv/membership");
  json_decref(j);

  /* A long poll returns when the client sends what it waits for. */
  char path[256];
  snprintf(path, sizeof(path),
           "/chat/sent?login=carol&since=%lld&contains=PRIVMSG&wait_ms=10000",
           (long long)last);
  http_t lp;
  http_start(uc, cp, "GET", path, NULL, &lp);
  cl_send(&c, "PING :first a line that does not match");
  cl_wait(&c, "PONG");
  assert_false(lp.done);
  cl_send(&c, "PRIVMSG #chan :hello control");
  j = http_wait(loop, &lp, 200);
  lines = json_object_get(j, "lines");
  assert_int_equal(json_array_size(lines), 1);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(lines, 0), "line")),
      "PRIVMSG #chan :hello control");
  json_decref(j);
  /* A long poll that times out answers with no lines. */
  j = http(loop, uc, cp, "GET", "/chat/sent?login=nobody&wait_ms=50", NULL,
           200);
  assert_int_equal(json_array_size(json_object_get(j, "lines")), 0);
  json_decref(j);

  /* Inject and say. */
  j = http(loop, uc, cp, "POST", "/chat/inject",
           "{\"room\":\"#chan\",\"line\":\"@msg-id=raid;login=x :tmi.twitch."
           "tv USERNOTICE #chan\"}",
           200);
  assert_int_equal(jint(j, "delivered"), 1);
  json_decref(j);
  cl_wait(&c, "USERNOTICE #chan");
  j = http(loop, uc, cp, "POST", "/chat/say",
           "{\"room\":\"chan\",\"login\":\"dave\",\"text\":\"!hello\"}", 200);
  assert_int_equal(jint(j, "delivered"), 1);
  char want_id[64];
  snprintf(want_id, sizeof(want_id), "id=%s;",
           json_string_value(json_object_get(j, "id")));
  json_decref(j);
  assert_non_null(strstr(cl_wait(&c, "PRIVMSG #chan :!hello"), want_id));
  snprintf(path, sizeof(path),
           "{\"conn\":%llu,\"lines\":[\"PING :one\",\"PING :two\"]}",
           (unsigned long long)conn_id);
  j = http(loop, uc, cp, "POST", "/chat/inject", path, 200);
  assert_int_equal(jint(j, "delivered"), 2);
  json_decref(j);
  cl_wait(&c, "PING :two");

  /* Counters, per account too. */
  j = http(loop, uc, cp, "GET", "/chat/counters", NULL, 200);
  assert_int_equal(jint(j, "logins"), 1);
  assert_int_equal(jint(j, "privmsgs"), 1);
  json_t *carol = json_object_get(json_object_get(j, "users"), "carol");
  assert_non_null(carol);
  assert_int_equal(jint(carol, "sent"), 1);
  assert_int_equal(jint(carol, "over_limit"), 0);
  json_decref(j);
  /* The per-room limit, seen through the counters. */
  cl_send(&c, "PRIVMSG #chan :too soon? no: carol is a moderator");
  cl_wait(&c, "USERSTATE #chan");
  j = http(loop, uc, cp, "POST", "/chat/roles",
           "{\"room\":\"chan\",\"login\":\"carol\",\"role\":\"none\"}", 200);
  json_decref(j);
  cl_send(&c, "PRIVMSG #chan :one");
  cl_send(&c, "PRIVMSG #chan :two");
  cl_wait(&c, "msg_ratelimit");
  cl_wait(&c, "msg_ratelimit");
  j = http(loop, uc, cp, "GET", "/chat/counters", NULL, 200);
  carol = json_object_get(json_object_get(j, "users"), "carol");
  assert_int_equal(jint(carol, "dropped_room_rate"), 2);
  assert_int_equal(jint(carol, "over_limit"), 2);
  json_decref(j);

  /* Stall: nothing reaches the client until it is resumed. */
  snprintf(path, sizeof(path), "{\"conn\":%llu}", (unsigned long long)conn_id);
  j = http(loop, uc, cp, "POST", "/chat/stall", path, 200);
  assert_int_equal(jint(j, "conns"), 1);
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/say",
           "{\"room\":\"chan\",\"login\":\"dave\",\"text\":\"during the "
           "stall\"}",
           200);
  json_decref(j);
  j = http(loop, uc, cp, "GET", "/chat/conns", NULL, 200);
  json_t *c0 = json_array_get(json_object_get(j, "conns"), 0);
  assert_true(json_is_true(json_object_get(c0, "stalled")));
  assert_true(jint(c0, "queued") > 0);
  assert_string_equal(json_string_value(json_object_get(c0, "login")), "carol");
  assert_string_equal(json_string_value(json_object_get(c0, "transport")),
                      "irc");
  json_decref(j);
  assert_null(memmem(c.lines.data, c.lines.len, "during the stall", 16));
  snprintf(path, sizeof(path), "{\"conn\":%llu,\"stalled\":false}",
           (unsigned long long)conn_id);
  j = http(loop, uc, cp, "POST", "/chat/stall", path, 200);
  json_decref(j);
  cl_wait(&c, "during the stall");

  /* Errors are JSON with a code. */
  j = http(loop, uc, cp, "POST", "/chat/inject", "{}", 400);
  assert_string_equal(json_string_value(json_object_get(j, "code")),
                      "TW_EINVAL");
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/inject", "not json", 400);
  json_decref(j);
  j = http(loop, uc, cp, "GET", "/nope", NULL, 404);
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/tokens/revoke", "{\"token\":\"zz\"}",
           404);
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/inject",
           "{\"room\":\"nowhere\",\"line\":\"PING :x\"}", 404);
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/flood",
           "{\"room\":\"chan\",\"file\":\"/nonexistent/file\"}", 404);
  json_decref(j);

  /* Flood given as lines, then the status. */
  j = http(loop, uc, cp, "POST", "/chat/flood",
           "{\"room\":\"chan\",\"count\":30,\"lines\":[\":a!a@a.tmi.twitch.tv "
           "PRIVMSG #x :flood\"]}",
           200);
  json_decref(j);
  assert_true(tw_test_run_flag(loop, &fx->flood_done));
  assert_int_equal(fx->flood_count, 30);
  j = http(loop, uc, cp, "GET", "/chat/flood", NULL, 200);
  assert_int_equal(jint(j, "sent"), 30);
  assert_true(json_is_false(json_object_get(j, "active")));
  json_decref(j);

  /* Drop: the client sees its connection go. */
  j = http(loop, uc, cp, "POST", "/chat/drop", path, 200);
  assert_int_equal(jint(j, "conns"), 1);
  json_decref(j);
  assert_true(tw_test_run_until(loop, is_closed, &c, WAIT_MS));
  j = http(loop, uc, cp, "GET", "/chat/counters", NULL, 200);
  assert_int_equal(jint(j, "drops"), 1);
  json_decref(j);
  j = http(loop, uc, cp, "POST", "/chat/counters/reset", NULL, 200);
  json_decref(j);

  /* A long poll still waiting when the simulator closes is ended. */
  http_start(uc, cp, "GET", "/chat/sent?contains=never&wait_ms=60000", NULL,
             &lp);
  j = http(loop, uc, cp, "GET", "/health", NULL, 200);
  json_decref(j);
  tw_sim_close(fx->sim, on_sim_closed, fx);
  assert_true(tw_test_run_flag(loop, &lp.done));
  assert_true(lp.res != CURLE_OK || lp.status >= 400);
  tw_buf_free(&lp.body);
  assert_true(tw_test_run_flag(loop, &fx->closed));
  int ucc = 0;
  tw_uvcurl_close(uc, uc_closed, &ucc);
  assert_true(tw_test_run_flag(loop, &ucc));
  cl_free(&c);
  tw_tls_ctx_free(fx->ctls);
  assert_int_equal(tw_test_loop_finish(loop), 0);
  free(fx);
}

/* ---- the benchmark's path: the corpus over TLS -------------------------- */

typedef struct {
  cl_t *c;
  uint64_t want;
} count_t;

static int got_count(void *arg) {
  count_t *x = arg;
  return x->c->nlines >= x->want || x->c->closed;
}

static void test_flood_corpus_tls(void **state) {
  (void)state;
  const char *corpus = getenv("TW_CORPUS");
  if (!corpus) {
    skip();
    return;
  }
  fx_t *fx = fx_new(NULL);
  cl_t c;
  cl_stream(&c, &fx->loop, tw_sim_port(fx->sim, TW_SIM_LISTEN_IRCS), fx->ctls);
  cl_login(&c, "bot", "tokbot");
  cl_join(&c, "bench");
  c.count_only = 1;
  size_t before = c.nlines;
  const uint64_t N = 20000; /* the 5,000 corpus lines four times */
  tw_sim_flood_t f = {.room = "#bench", .file = corpus, .count = N};
  uint64_t t0 = tw_now_ms();
  assert_int_equal(tw_sim_flood(fx->sim, &f), 0);
  count_t x = {&c, before + N};
  assert_true(tw_test_run_until(&fx->loop, got_count, &x, 60000));
  uint64_t ms = tw_now_ms() - t0;
  assert_false(c.closed);
  assert_int_equal(c.nlines - before, N);
  assert_true(fx->flood_done);
  tw_sim_flood_status_t st;
  tw_sim_flood_status(fx->sim, &st);
  assert_int_equal(st.sent, N);
  /* A figure for people, not an assertion. */
  fprintf(stderr, "flood: %llu lines, %.1f MB over TLS in %llu ms\n",
          (unsigned long long)N, (double)st.bytes / 1e6,
          (unsigned long long)ms);
  tw_sim_counters_t k;
  tw_sim_counters(fx->sim, &k);
  assert_int_equal(k.slow_disconnects, 0);
  /* Unknown file and a flood while one runs. */
  tw_sim_flood_t bad = {.room = "bench", .file = "/nonexistent"};
  assert_int_equal(tw_sim_flood(fx->sim, &bad), TW_ENOTFOUND);
  tw_sim_flood_t both = {.room = "bench"};
  assert_int_equal(tw_sim_flood(fx->sim, &both), TW_EINVAL);
  cl_end(&c);
  cl_free(&c);
  fx_free(fx);
}

/* A given certificate directory is used as it is, or filled when empty, and
 * never removed. */
static void test_cert_dir(void **state) {
  (void)state;
  tw_test_pki_t pki;
  assert_int_equal(tw_test_pki_make(&pki, 0), 0);
  for (int empty = 0; empty < 2; empty++) {
    if (empty) {
      tw_test_pki_remove(&pki);
      assert_int_equal(mkdir(pki.dir, 0700), 0);
    }
    tw_sim_opts_t o = {.listeners = TW_SIM_LISTEN_IRCS, .cert_dir = pki.dir};
    fx_t *fx = fx_new(&o);
    assert_string_equal(tw_sim_ca_file(fx->sim), pki.ca);
    cl_t c;
    cl_stream(&c, &fx->loop, tw_sim_port(fx->sim, TW_SIM_LISTEN_IRCS),
              fx->ctls);
    cl_login(&c, "bot", "tokbot");
    cl_end(&c);
    cl_free(&c);
    fx_free(fx);
    struct stat st;
    assert_int_equal(stat(pki.cert, &st), 0);
    assert_int_equal(stat(pki.ca, &st), 0);
  }
  tw_test_pki_remove(&pki);
}

static void test_bad_options(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  tw_sim_t *sim = NULL;
  char detail[256];
  tw_sim_opts_t o = {.chat = {.rate_limit = TW_SIM_MAX_RATE_LIMIT + 1}};
  assert_int_equal(tw_sim_new(&loop, &o, &sim, detail, sizeof(detail)),
                   TW_EINVAL);
  assert_null(sim);
  tw_sim_opts_t p = {.listeners = TW_SIM_LISTEN_IRC, .host = "not-an-ip"};
  assert_true(tw_sim_new(&loop, &p, &sim, detail, sizeof(detail)) < 0);
  assert_true(strlen(detail) > 0);
  tw_sim_opts_t q = {.listeners = TW_SIM_LISTEN_IRCS,
                     .cert_dir = "/nonexistent/dir/for/certs"};
  assert_true(tw_sim_new(&loop, &q, &sim, detail, sizeof(detail)) < 0);
  assert_int_equal(tw_test_loop_finish(&loop), 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_wss_plain_relay),
      cmocka_unit_test(test_ws_redirect),
      cmocka_unit_test(test_ws_batching),
      cmocka_unit_test(test_keepalive_and_describe),
      cmocka_unit_test(test_control_http),
      cmocka_unit_test(test_flood_corpus_tls),
      cmocka_unit_test(test_cert_dir),
      cmocka_unit_test(test_bad_options),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
