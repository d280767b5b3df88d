/* Helpers for tests of the simulator's API listener: see sim_api_test.h. */
#define _GNU_SOURCE /* strcasestr, memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "twitchd/error.h"

/* ---- the fixture -------------------------------------------------------- */

tw_simfx_t *tw_simfx_new(const tw_sim_opts_t *o) {
  tw_simfx_t *fx = calloc(1, sizeof(*fx));
  if (!fx)
    return NULL;
  tw_test_log_from_env();
  if (uv_loop_init(&fx->loop) != 0) {
    free(fx);
    return NULL;
  }
  tw_sim_opts_t d = {0};
  if (o)
    d = *o;
  if (!d.listeners)
    d.listeners = TW_SIM_LISTEN_API | TW_SIM_LISTEN_CONTROL | TW_SIM_LISTEN_IRC;
  char detail[256];
  int rc = tw_sim_new(&fx->loop, &d, &fx->sim, detail, sizeof(detail));
  if (rc != 0) {
    fprintf(stderr, "tw_sim_new: %s (%s)\n", detail, tw_strerror(rc));
    tw_test_loop_finish(&fx->loop);
    free(fx);
    return NULL;
  }
  fx->api_port = tw_sim_port(fx->sim, TW_SIM_LISTEN_API);
  fx->control_port = tw_sim_port(fx->sim, TW_SIM_LISTEN_CONTROL);
  fx->irc_port = tw_sim_port(fx->sim, TW_SIM_LISTEN_IRC);
  fx->uc = tw_uvcurl_new(&fx->loop);
  return fx;
}

static void on_sim_closed(void *ud) {
  ((tw_simfx_t *)ud)->sim_closed = 1;
}

static void on_uc_closed(void *ud) {
  ((tw_simfx_t *)ud)->uc_closed = 1;
}

int tw_simfx_free(tw_simfx_t *fx) {
  if (fx->uc) {
    tw_uvcurl_close(fx->uc, on_uc_closed, fx);
    tw_test_run_flag(&fx->loop, &fx->uc_closed);
  }
  tw_sim_close(fx->sim, on_sim_closed, fx);
  tw_test_run_flag(&fx->loop, &fx->sim_closed);
  int rc = tw_test_loop_finish(&fx->loop);
  free(fx);
  return rc;
}

/* ---- HTTPS to the API listener ------------------------------------------ */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  tw_simresp_t *r = ud;
  return tw_buf_append(&r->body, p, sz * n) == 0 ? sz * n : 0;
}

static long header_num(const char *v) {
  char *end;
  long x = strtol(v, &end, 10);
  return end == v ? -1 : x;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  tw_simresp_t *r = ud;
  size_t len = sz * n;
  if (r->raw_len + len < sizeof(r->raw_headers)) {
    memcpy(r->raw_headers + r->raw_len, p, len);
    r->raw_len += len;
    r->raw_headers[r->raw_len] = '\0';
  }
  char line[4200];
  size_t k = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
  memcpy(line, p, k);
  line[k] = '\0';
  while (k && (line[k - 1] == '\r' || line[k - 1] == '\n'))
    line[--k] = '\0';
  char *colon = strchr(line, ':');
  if (!colon)
    return len;
  *colon = '\0';
  const char *v = colon + 1;
  while (*v == ' ')
    v++;
  if (strcasecmp(line, "Location") == 0)
    snprintf(r->location, sizeof(r->location), "%s", v);
  else if (strcasecmp(line, "Content-Type") == 0)
    snprintf(r->content_type, sizeof(r->content_type), "%s", v);
  else if (strcasecmp(line, "Ratelimit-Limit") == 0)
    r->rl_limit = header_num(v);
  else if (strcasecmp(line, "Ratelimit-Remaining") == 0)
    r->rl_remaining = header_num(v);
  else if (strcasecmp(line, "Ratelimit-Reset") == 0)
    r->rl_reset = header_num(v);
  return len;
}

typedef struct {
  tw_simresp_t *r;
  struct curl_slist *hl;
} xfer_t;

static void on_done(CURL *e, CURLcode res, void *ud) {
  xfer_t *x = ud;
  x->r->curl_rc = (int)res;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->r->status);
  curl_easy_cleanup(e);
  curl_slist_free_all(x->hl);
  x->r->done = 1;
}

int tw_simfx_api(tw_simfx_t *fx, const char *method, const char *path_query,
                 const char *const *headers, const char *body,
                 tw_simresp_t *out) {
  memset(out, 0, sizeof(*out));
  out->rl_limit = out->rl_remaining = out->rl_reset = -1;
  tw_buf_init(&out->body, 4u << 20);
  CURL *e = curl_easy_init();
  if (!e)
    return -1;
  char url[8192];
  snprintf(url, sizeof(url), "https://localhost:%u%s", (unsigned)fx->api_port,
           path_query);
  xfer_t x = {out, NULL};
  for (size_t i = 0; headers && headers[i]; i++)
    x.hl = curl_slist_append(x.hl, headers[i]);
  /* curl adds "Expect: 100-continue" to larger bodies; Twitch's clients
   * rarely do, and the record is easier to read without it. */
  x.hl = curl_slist_append(x.hl, "Expect:");
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(e, CURLOPT_CAINFO, tw_sim_ca_file(fx->sim));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x.hl);
  if (body)
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
  if (tw_uvcurl_add(fx->uc, e, on_done, &x) != 0) {
    curl_easy_cleanup(e);
    curl_slist_free_all(x.hl);
    return -1;
  }
  if (!tw_test_run_flag(&fx->loop, &out->done)) {
    tw_uvcurl_cancel(fx->uc, e);
    return -1;
  }
  if (out->curl_rc != CURLE_OK) {
    fprintf(stderr, "curl: %s\n", curl_easy_strerror(out->curl_rc));
    return -1;
  }
  if (out->body.len) {
    json_error_t je;
    out->json = json_loadb(out->body.data, out->body.len, 0, &je);
  }
  return 0;
}

int tw_simfx_helix(tw_simfx_t *fx, const char *method, const char *path_query,
                   const char *token, const char *client_id, const char *json,
                   tw_simresp_t *out) {
  char auth[512], cid[256];
  const char *h[4];
  size_t n = 0;
  if (token) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    h[n++] = auth;
  }
  if (client_id) {
    snprintf(cid, sizeof(cid), "Client-Id: %s", client_id);
    h[n++] = cid;
  }
  if (json)
    h[n++] = "Content-Type: application/json";
  h[n] = NULL;
  return tw_simfx_api(fx, method, path_query, h, json, out);
}

void tw_simresp_free(tw_simresp_t *r) {
  tw_buf_free(&r->body);
  json_decref(r->json);
  r->json = NULL;
}

struct tw_simcall {
  tw_simresp_t r;
  xfer_t x;
};

tw_simcall_t *tw_simfx_control_start(tw_simfx_t *fx, const char *method,
                                     const char *path, const char *json) {
  tw_simcall_t *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  tw_buf_init(&c->r.body, 16u << 20);
  CURL *e = curl_easy_init();
  if (!e) {
    free(c);
    return NULL;
  }
  char url[4096];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
           (unsigned)fx->control_port, path);
  c->x.r = &c->r;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (json)
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, json);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &c->r);
  if (tw_uvcurl_add(fx->uc, e, on_done, &c->x) != 0) {
    curl_easy_cleanup(e);
    tw_buf_free(&c->r.body);
    free(c);
    return NULL;
  }
  return c;
}

json_t *tw_simfx_control_finish(tw_simfx_t *fx, tw_simcall_t *c, long *status) {
  json_t *j = NULL;
  if (c && tw_test_run_flag(&fx->loop, &c->r.done) &&
      c->r.curl_rc == CURLE_OK) {
    json_error_t je;
    j = json_loadb(c->r.body.data ? c->r.body.data : "", c->r.body.len, 0, &je);
    if (status)
      *status = c->r.status;
  }
  if (c) {
    tw_buf_free(&c->r.body);
    free(c);
  }
  return j;
}

json_t *tw_simfx_control(tw_simfx_t *fx, const char *method, const char *path,
                         const char *json, long *status) {
  return tw_simfx_control_finish(
      fx, tw_simfx_control_start(fx, method, path, json), status);
}

const char *tw_simfx_jstr(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

/* ---- a plain IRC client ------------------------------------------------- */

struct tw_simirc {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_connect_t creq;
  int connected, failed, closed, ok, ended;
  tw_buf_t in; /* everything received */
  size_t seen; /* offset after the last line matched by wait */
  char last[8192];
};

static void irc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  static char buf[65536];
  b->base = buf;
  b->len = sizeof(buf);
}

static void irc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  tw_simirc_t *c = s->data;
  if (n < 0) {
    c->ended = 1;
    uv_read_stop(s);
    return;
  }
  if (n > 0)
    tw_buf_append(&c->in, b->base, (size_t)n);
}

static void irc_connected(uv_connect_t *req, int status) {
  tw_simirc_t *c = req->data;
  if (status != 0) {
    c->failed = 1;
    return;
  }
  c->connected = 1;
  uv_read_start((uv_stream_t *)&c->tcp, irc_alloc, irc_read);
}

typedef struct {
  uv_write_t w;
  char data[];
} wreq_t;

static void irc_written(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

void tw_simirc_send(tw_simirc_t *c, const char *line) {
  size_t n = strlen(line);
  wreq_t *w = malloc(sizeof(*w) + n + 2);
  if (!w)
    return;
  memcpy(w->data, line, n);
  memcpy(w->data + n, "\r\n", 2);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)(n + 2));
  if (uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, irc_written) != 0)
    free(w);
}

typedef struct {
  tw_simirc_t *c;
  const char *needle;
  int found;
} wait_t;

/* Looks for a complete line containing the needle after c->seen. */
static int find_line(void *arg) {
  wait_t *w = arg;
  tw_simirc_t *c = w->c;
  if (w->found)
    return 1;
  size_t off = c->seen;
  const char *d = c->in.data;
  while (d && off < c->in.len) {
    const char *nl = memchr(d + off, '\n', c->in.len - off);
    if (!nl)
      break;
    size_t len = (size_t)(nl - (d + off));
    if (memmem(d + off, len, w->needle, strlen(w->needle))) {
      size_t k = len < sizeof(c->last) - 1 ? len : sizeof(c->last) - 1;
      memcpy(c->last, d + off, k);
      while (k && c->last[k - 1] == '\r')
        k--;
      c->last[k] = '\0';
      c->seen = (size_t)(nl - d) + 1;
      w->found = 1;
      return 1;
    }
    off = (size_t)(nl - d) + 1;
  }
  return 0;
}

const char *tw_simirc_wait(tw_simirc_t *c, const char *needle) {
  wait_t w = {c, needle, 0};
  if (!tw_test_run_until(c->loop, find_line, &w, TW_TEST_WATCHDOG_MS))
    return NULL;
  return c->last;
}

int tw_simirc_seen(const tw_simirc_t *c, const char *needle) {
  return c->in.data &&
         memmem(c->in.data, c->in.len, needle, strlen(needle)) != NULL;
}

typedef struct {
  tw_simirc_t *c;
} login_t;

static int login_done(void *arg) {
  tw_simirc_t *c = arg;
  if (c->failed)
    return 1;
  if (tw_simirc_seen(c, " 376 ")) {
    c->ok = 1;
    return 1;
  }
  return c->ended;
}

static int is_connected(void *arg) {
  tw_simirc_t *c = arg;
  return c->connected || c->failed;
}

tw_simirc_t *tw_simirc_login(tw_simfx_t *fx, const char *token,
                             const char *nick) {
  tw_simirc_t *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->loop = &fx->loop;
  tw_buf_init(&c->in, 16u << 20);
  uv_tcp_init(c->loop, &c->tcp);
  c->tcp.data = c;
  c->creq.data = c;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", fx->irc_port, &sa);
  if (uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&sa,
                     irc_connected) != 0 ||
      !tw_test_run_until(c->loop, is_connected, c, TW_TEST_WATCHDOG_MS) ||
      c->failed) {
    tw_simirc_close(c);
    return NULL;
  }
  tw_simirc_send(c, "CAP REQ :twitch.tv/tags twitch.tv/commands");
  char line[512];
  if (token) {
    snprintf(line, sizeof(line), "PASS oauth:%s", token);
    tw_simirc_send(c, line);
  }
  snprintf(line, sizeof(line), "NICK %s", nick);
  tw_simirc_send(c, line);
  tw_test_run_until(c->loop, login_done, c, TW_TEST_WATCHDOG_MS);
  return c;
}

int tw_simirc_ok(const tw_simirc_t *c) {
  return c && c->ok;
}

static void irc_closed(uv_handle_t *h) {
  tw_simirc_t *c = h->data;
  tw_buf_free(&c->in);
  free(c);
}

void tw_simirc_close(tw_simirc_t *c) {
  if (c)
    uv_close((uv_handle_t *)&c->tcp, irc_closed);
}
