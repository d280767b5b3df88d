/* A scripted fake of Helix (see helix_fake.h). */
#include "helix_fake.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/uv_mhd.h"

struct helix_fake {
  uv_loop_t *loop;
  tw_uvmhd_t *mhd;
  char base[128];
  char valid[1100];
  bool check_token;
  hf_rec_t recs[HF_MAX_RECS];
  size_t nrecs;
  hf_reply_t script[HF_MAX_SCRIPT];
  size_t nscript;
  struct {
    char login[64];
    char id[32];
  } users[HF_MAX_USERS];
  size_t nusers;
  void (*close_cb)(void *);
  void *close_arg;
};

typedef struct {
  tw_buf_t body;
  char target[1024];
} hf_req_t;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value) {
  (void)kind;
  char *t = cls;
  size_t n = strlen(t);
  snprintf(t + n, 1024 - n, "%s%s=%s", strchr(t, '?') ? "&" : "?", key,
           value ? value : "");
  return MHD_YES;
}

static void copy_hdr(struct MHD_Connection *c, const char *key, char *dst,
                     size_t cap) {
  const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, key);
  snprintf(dst, cap, "%s", v ? v : "");
}

static enum MHD_Result answer(struct MHD_Connection *conn, int status,
                              const char *body, int64_t remaining,
                              int64_t reset, int64_t limit) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  if (body[0])
    MHD_add_response_header(r, "Content-Type", "application/json");
  if (remaining >= 0) {
    char v[32];
    snprintf(v, sizeof(v), "%" PRId64, limit > 0 ? limit : 800);
    MHD_add_response_header(r, "Ratelimit-Limit", v);
    snprintf(v, sizeof(v), "%" PRId64, remaining);
    MHD_add_response_header(r, "Ratelimit-Remaining", v);
    snprintf(v, sizeof(v), "%" PRId64,
             reset > 0 ? reset : (int64_t)time(NULL) + 60);
    MHD_add_response_header(r, "Ratelimit-Reset", v);
  }
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
  MHD_destroy_response(r);
  return rc;
}

typedef struct {
  helix_fake_t *f;
  tw_buf_t *out;
  bool by_login;
} users_ctx_t;

static enum MHD_Result users_arg(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value) {
  (void)kind;
  users_ctx_t *u = cls;
  if (!value)
    return MHD_YES;
  bool login = strcmp(key, "login") == 0;
  if (!login && strcmp(key, "id") != 0)
    return MHD_YES;
  for (size_t i = 0; i < u->f->nusers; i++) {
    if ((login && strcasecmp(u->f->users[i].login, value) == 0) ||
        (!login && strcmp(u->f->users[i].id, value) == 0)) {
      tw_buf_appendf(u->out,
                     "%s{\"id\":\"%s\",\"login\":\"%s\",\"display_name\":"
                     "\"%s\",\"type\":\"\",\"broadcaster_type\":\"\","
                     "\"description\":\"\",\"created_at\":\"2020-01-01T00:"
                     "00:00Z\"}",
                     u->out->len > 9 ? "," : "", u->f->users[i].id,
                     u->f->users[i].login, u->f->users[i].login);
    }
  }
  return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)version;
  helix_fake_t *f = cls;
  hf_req_t *q = *con_cls;
  if (q == NULL) {
    q = calloc(1, sizeof(*q));
    if (!q)
      return MHD_NO;
    tw_buf_init(&q->body, 1 << 16);
    *con_cls = q;
    return MHD_YES;
  }
  if (*upload_size) {
    tw_buf_append(&q->body, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  const char *path = url;
  if (strncmp(path, "/helix", 6) == 0)
    path += 6;
  hf_rec_t *rec = f->nrecs < HF_MAX_RECS ? &f->recs[f->nrecs++] : NULL;
  if (rec) {
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->method, sizeof(rec->method), "%s", method);
    snprintf(rec->path, sizeof(rec->path), "%s", path);
    snprintf(q->target, sizeof(q->target), "%s", path);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg,
                              q->target);
    snprintf(rec->target, sizeof(rec->target), "%s", q->target);
    copy_hdr(conn, "Authorization", rec->auth, sizeof(rec->auth));
    copy_hdr(conn, "Client-Id", rec->client_id, sizeof(rec->client_id));
    copy_hdr(conn, "Content-Type", rec->ctype, sizeof(rec->ctype));
    snprintf(rec->body, sizeof(rec->body), "%s",
             q->body.data ? q->body.data : "");
    rec->at_wall_ms = tw_wall_ms();
  }
  if (f->check_token) {
    const char *a =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!a || strncmp(a, "Bearer ", 7) != 0 || strcmp(a + 7, f->valid) != 0)
      return answer(conn, 401,
                    "{\"error\":\"Unauthorized\",\"status\":401,\"message\":"
                    "\"Invalid OAuth token\"}",
                    799, 0, 0);
  }
  for (size_t i = 0; i < f->nscript; i++) {
    hf_reply_t *r = &f->script[i];
    if (r->used || strcmp(r->method, method) != 0 || strcmp(r->path, path) != 0)
      continue;
    r->used = true;
    return answer(conn, r->status, r->body, r->remaining, r->reset, r->limit);
  }
  if (strcmp(method, "GET") == 0 && strcmp(path, "/users") == 0) {
    tw_buf_t out;
    tw_buf_init(&out, 1 << 16);
    tw_buf_append_str(&out, "{\"data\":[");
    users_ctx_t u = {f, &out, true};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, users_arg, &u);
    tw_buf_append_str(&out, "]}");
    enum MHD_Result rc = answer(conn, 200, out.data, 798, 0, 0);
    tw_buf_free(&out);
    return rc;
  }
  return answer(conn, 200, "{\"data\":[]}", 797, 0, 0);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  hf_req_t *q = *con_cls;
  if (!q)
    return;
  tw_buf_free(&q->body);
  free(q);
  *con_cls = NULL;
}

int hf_start(uv_loop_t *loop, helix_fake_t **out) {
  helix_fake_t *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  f->loop = loop;
  tw_uvmhd_opts_t o;
  memset(&o, 0, sizeof(o));
  o.handler = handler;
  o.handler_cls = f;
  o.completed = completed;
  int rc = tw_uvmhd_start(loop, &o, &f->mhd);
  if (rc != 0) {
    free(f);
    return rc;
  }
  snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u/helix",
           (unsigned)tw_uvmhd_port(f->mhd));
  *out = f;
  return 0;
}

const char *hf_base(helix_fake_t *f) {
  return f->base;
}

void hf_script(helix_fake_t *f, const char *method, const char *path,
               int status, const char *body, int64_t remaining, int64_t reset) {
  if (f->nscript >= HF_MAX_SCRIPT)
    abort();
  hf_reply_t *r = &f->script[f->nscript++];
  memset(r, 0, sizeof(*r));
  snprintf(r->method, sizeof(r->method), "%s", method);
  snprintf(r->path, sizeof(r->path), "%s", path);
  r->status = status;
  r->body = body ? body : "";
  r->remaining = remaining;
  r->reset = reset;
}

void hf_script_rl(helix_fake_t *f, const char *method, const char *path,
                  int status, const char *body, int64_t limit,
                  int64_t remaining, int64_t reset) {
  hf_script(f, method, path, status, body, remaining, reset);
  f->script[f->nscript - 1].limit = limit;
}

void hf_set_valid_token(helix_fake_t *f, const char *token) {
  f->check_token = token != NULL;
  snprintf(f->valid, sizeof(f->valid), "%s", token ? token : "");
}

void hf_add_user(helix_fake_t *f, const char *login, const char *id) {
  if (f->nusers >= HF_MAX_USERS)
    abort();
  snprintf(f->users[f->nusers].login, sizeof(f->users[0].login), "%s", login);
  snprintf(f->users[f->nusers].id, sizeof(f->users[0].id), "%s", id);
  f->nusers++;
}

size_t hf_count(helix_fake_t *f) {
  return f->nrecs;
}

const hf_rec_t *hf_rec(helix_fake_t *f, size_t i) {
  return i < f->nrecs ? &f->recs[i] : NULL;
}

size_t hf_count_path(helix_fake_t *f, const char *method, const char *path) {
  size_t n = 0;
  for (size_t i = 0; i < f->nrecs; i++)
    if (strcmp(f->recs[i].method, method) == 0 &&
        strcmp(f->recs[i].path, path) == 0)
      n++;
  return n;
}

size_t hf_script_left(helix_fake_t *f) {
  size_t n = 0;
  for (size_t i = 0; i < f->nscript; i++)
    n += !f->script[i].used;
  return n;
}

static void on_closed(void *arg) {
  helix_fake_t *f = arg;
  void (*cb)(void *) = f->close_cb;
  void *a = f->close_arg;
  free(f);
  if (cb)
    cb(a);
}

void hf_close(helix_fake_t *f, void (*cb)(void *), void *arg) {
  f->close_cb = cb;
  f->close_arg = arg;
  tw_uvmhd_close(f->mhd, on_closed, f);
}
