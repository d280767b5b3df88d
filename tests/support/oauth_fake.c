/* A fake of id.twitch.tv's OAuth endpoints (oauth_fake.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "oauth_fake.h"
#include "twitchd/buf.h"
#include "twitchd/uv_mhd.h"

#define FAKE_MAX_BODY 16384
#define FAKE_MAX_FIELD 1024

typedef struct {
  char s[FAKE_TOKEN_LEN + 1];
} tok_t;

struct fake_oauth {
  tw_uvmhd_t *mhd;
  char base[64];
  int counts[FAKE_KINDS];
  int force_n[FAKE_KINDS];
  int force_status[FAKE_KINDS];
  char force_body[FAKE_KINDS][512];
  tok_t access[FAKE_MAX_TOKENS];
  tok_t refresh[FAKE_MAX_TOKENS];
  tok_t app[FAKE_MAX_TOKENS];
  int naccess, nrefresh, napp;
  tok_t codes[16];
  int ncodes;
  int64_t expires_in;
  unsigned serial;
  bool device_pending, device_approved;
  bool grace;
  bool deny;
  char device_code[64];
};

typedef struct {
  tw_buf_t body;
} req_t;

static void new_token(fake_oauth_t *f, char prefix, tok_t *out) {
  /* Long and unique, so that the log redaction test can look for them. */
  unsigned n = ++f->serial;
  snprintf(out->s, sizeof(out->s), "%c%06u%033u", prefix, n, n * 7919u);
}

static int find(tok_t *list, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (strcmp(list[i].s, s) == 0)
      return i;
  return -1;
}

static void drop(tok_t *list, int *n, int i) {
  list[i] = list[--*n];
}

static void push(tok_t *list, int *n, const tok_t *t) {
  if (*n < FAKE_MAX_TOKENS)
    list[(*n)++] = *t;
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status,
                             const char *body) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
  MHD_destroy_response(r);
  return rc;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The form field `name` of `body`, decoded into out; false when absent. */
static bool field(const char *body, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  const char *p = body;
  while (p && *p) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      size_t o = 0;
      for (size_t i = nl + 1; i < len && o + 1 < cap; i++) {
        if (p[i] == '+')
          out[o++] = ' ';
        else if (p[i] == '%' && i + 2 < len + 1 && hexval(p[i + 1]) >= 0 &&
                 hexval(p[i + 2]) >= 0) {
          out[o++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
          i += 2;
        } else
          out[o++] = p[i];
      }
      out[o] = '\0';
      return true;
    }
    p = end ? end + 1 : NULL;
  }
  return false;
}

static enum MHD_Result token_pair(fake_oauth_t *f, struct MHD_Connection *c) {
  tok_t a, r;
  new_token(f, 'a', &a);
  new_token(f, 'r', &r);
  push(f->access, &f->naccess, &a);
  push(f->refresh, &f->nrefresh, &r);
  char body[512];
  snprintf(body, sizeof(body),
           "{\"access_token\":\"%s\",\"expires_in\":%lld,\"refresh_token\":"
           "\"%s\",\"scope\":[\"chat:read\",\"chat:edit\"],\"token_type\":"
           "\"bearer\"}",
           a.s, (long long)f->expires_in, r.s);
  return reply(c, 200, body);
}

static enum MHD_Result on_token(fake_oauth_t *f, struct MHD_Connection *c,
                                const char *body, fake_kind_t *kind) {
  char grant[128], v[FAKE_MAX_FIELD], id[128];
  if (!field(body, "grant_type", grant, sizeof(grant)))
    return reply(c, 400, "{\"status\":400,\"message\":\"missing grant_type\"}");
  if (strcmp(grant, "authorization_code") == 0)
    *kind = FAKE_CODE;
  else if (strcmp(grant, "refresh_token") == 0)
    *kind = FAKE_REFRESH;
  else if (strcmp(grant, "client_credentials") == 0)
    *kind = FAKE_CLIENT;
  else
    *kind = FAKE_DEVICE_TOKEN;
  f->counts[*kind]++;
  if (f->force_n[*kind] > 0) {
    f->force_n[*kind]--;
    return reply(c, f->force_status[*kind], f->force_body[*kind]);
  }
  if (!field(body, "client_id", id, sizeof(id)) ||
      strcmp(id, FAKE_CLIENT_ID) != 0)
    return reply(c, 400, "{\"status\":400,\"message\":\"invalid client\"}");
  bool has_secret = field(body, "client_secret", v, sizeof(v));
  if (has_secret && strcmp(v, FAKE_CLIENT_SECRET) != 0)
    return reply(c, 403,
                 "{\"status\":403,\"message\":\"invalid client secret\"}");
  switch (*kind) {
  case FAKE_CODE: {
    int i;
    if (!has_secret)
      return reply(c, 400,
                   "{\"status\":400,\"message\":\"missing client secret\"}");
    if (!field(body, "code", v, sizeof(v)) ||
        (i = find(f->codes, f->ncodes, v)) < 0)
      return reply(
          c, 400,
          "{\"status\":400,\"message\":\"Invalid authorization code\"}");
    drop(f->codes, &f->ncodes, i);
    return token_pair(f, c);
  }
  case FAKE_REFRESH: {
    int i;
    if (!field(body, "refresh_token", v, sizeof(v)) ||
        (i = find(f->refresh, f->nrefresh, v)) < 0)
      return reply(c, 400,
                   "{\"status\":400,\"message\":\"Invalid refresh token\"}");
    if (f->grace) {
      /* The token used stays valid until its successor is used; every
       * other one is spent. */
      tok_t keep = f->refresh[i];
      f->nrefresh = 0;
      push(f->refresh, &f->nrefresh, &keep);
    } else {
      drop(f->refresh, &f->nrefresh, i); /* one-time use */
    }
    return token_pair(f, c);
  }
  case FAKE_CLIENT: {
    if (!has_secret)
      return reply(c, 400,
                   "{\"status\":400,\"message\":\"missing client secret\"}");
    tok_t a;
    new_token(f, 'p', &a);
    push(f->app, &f->napp, &a);
    char out[256];
    snprintf(out, sizeof(out),
             "{\"access_token\":\"%s\",\"expires_in\":%lld,\"token_type\":"
             "\"bearer\"}",
             a.s, (long long)f->expires_in);
    return reply(c, 200, out);
  }
  default:
    if (!field(body, "device_code", v, sizeof(v)) || !f->device_pending ||
        strcmp(v, f->device_code) != 0)
      return reply(c, 400,
                   "{\"status\":400,\"message\":\"invalid device code\"}");
    if (!f->device_approved)
      return reply(c, 400,
                   "{\"status\":400,\"message\":\"authorization_pending\"}");
    f->device_pending = false;
    return token_pair(f, c);
  }
}

static enum MHD_Result on_validate(fake_oauth_t *f, struct MHD_Connection *c) {
  f->counts[FAKE_VALIDATE]++;
  if (f->force_n[FAKE_VALIDATE] > 0) {
    f->force_n[FAKE_VALIDATE]--;
    return reply(c, f->force_status[FAKE_VALIDATE],
                 f->force_body[FAKE_VALIDATE]);
  }
  const char *h =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *tok = NULL;
  if (h && strncmp(h, "OAuth ", 6) == 0)
    tok = h + 6;
  else if (h && strncmp(h, "Bearer ", 7) == 0)
    tok = h + 7;
  if (!tok)
    return reply(
        c, 401, "{\"status\":401,\"message\":\"missing authorization token\"}");
  char body[512];
  if (find(f->access, f->naccess, tok) >= 0) {
    snprintf(body, sizeof(body),
             "{\"client_id\":\"%s\",\"login\":\"%s\",\"scopes\":[\"chat:read\","
             "\"chat:edit\"],\"user_id\":\"%s\",\"expires_in\":%lld}",
             FAKE_CLIENT_ID, FAKE_LOGIN, FAKE_USER_ID,
             (long long)f->expires_in);
    return reply(c, 200, body);
  }
  if (find(f->app, f->napp, tok) >= 0) {
    snprintf(body, sizeof(body),
             "{\"client_id\":\"%s\",\"scopes\":null,\"expires_in\":%lld}",
             FAKE_CLIENT_ID, (long long)f->expires_in);
    return reply(c, 200, body);
  }
  return reply(c, 401, "{\"status\":401,\"message\":\"invalid access token\"}");
}

static enum MHD_Result on_device(fake_oauth_t *f, struct MHD_Connection *c) {
  f->counts[FAKE_DEVICE]++;
  f->device_pending = true;
  f->device_approved = false;
  snprintf(f->device_code, sizeof(f->device_code), "devcode%06u", ++f->serial);
  char body[512];
  snprintf(body, sizeof(body),
           "{\"device_code\":\"%s\",\"expires_in\":1800,\"interval\":1,"
           "\"user_code\":\"ABCDEFGH\",\"verification_uri\":\"https://"
           "www.twitch.tv/activate?device-code=ABCDEFGH\"}",
           f->device_code);
  return reply(c, 200, body);
}

/* The consent page, consented at once: 302 to redirect_uri with a fresh
 * code and the state, or error=access_denied when told to deny. */
static enum MHD_Result on_authorize(fake_oauth_t *f, struct MHD_Connection *c) {
  const char *redir =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "redirect_uri");
  const char *state =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
  const char *id =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "client_id");
  if (!redir || !id || strcmp(id, FAKE_CLIENT_ID) != 0)
    return reply(c, 400, "{\"status\":400,\"message\":\"invalid client\"}");
  char loc[2048];
  if (f->deny) {
    snprintf(loc, sizeof(loc),
             "%s?error=access_denied&error_description=The+user+denied+you+"
             "access&state=%s",
             redir, state ? state : "");
  } else {
    tok_t code;
    new_token(f, 'c', &code);
    if (f->ncodes < 16)
      f->codes[f->ncodes++] = code;
    snprintf(loc, sizeof(loc), "%s?code=%s&scope=chat%%3Aread&state=%s", redir,
             code.s, state ? state : "");
  }
  struct MHD_Response *r =
      MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Location", loc);
  enum MHD_Result rc = MHD_queue_response(c, 302, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)version;
  fake_oauth_t *f = cls;
  req_t *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof(*r));
    if (!r)
      return MHD_NO;
    tw_buf_init(&r->body, FAKE_MAX_BODY);
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_size) {
    if (tw_buf_append(&r->body, upload, *upload_size) != 0)
      return MHD_NO;
    *upload_size = 0;
    return MHD_YES;
  }
  const char *body = r->body.data ? r->body.data : "";
  fake_kind_t kind;
  if (strcmp(method, "POST") == 0 && strcmp(url, "/oauth2/token") == 0)
    return on_token(f, conn, body, &kind);
  if (strcmp(method, "GET") == 0 && strcmp(url, "/oauth2/validate") == 0)
    return on_validate(f, conn);
  if (strcmp(method, "GET") == 0 && strcmp(url, "/oauth2/authorize") == 0)
    return on_authorize(f, conn);
  if (strcmp(method, "POST") == 0 && strcmp(url, "/oauth2/device") == 0)
    return on_device(f, conn);
  if (strcmp(method, "POST") == 0 && strcmp(url, "/oauth2/revoke") == 0) {
    f->counts[FAKE_REVOKE]++;
    return reply(conn, 200, "");
  }
  return reply(conn, 404, "{\"status\":404,\"message\":\"not found\"}");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  req_t *r = *con_cls;
  if (r) {
    tw_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
  }
}

fake_oauth_t *fake_oauth_start(uv_loop_t *loop) {
  fake_oauth_t *f = calloc(1, sizeof(*f));
  if (!f)
    return NULL;
  f->expires_in = 14400;
  tw_uvmhd_opts_t o = {0};
  o.handler = handler;
  o.handler_cls = f;
  o.completed = completed;
  if (tw_uvmhd_start(loop, &o, &f->mhd) != 0) {
    free(f);
    return NULL;
  }
  snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u/oauth2",
           (unsigned)tw_uvmhd_port(f->mhd));
  return f;
}

const char *fake_oauth_base(const fake_oauth_t *f) {
  return f->base;
}

static void on_closed(void *ud) {
  free(ud);
}

void fake_oauth_stop(fake_oauth_t *f) {
  tw_uvmhd_close(f->mhd, on_closed, f);
}

void fake_oauth_add_code(fake_oauth_t *f, const char *code) {
  if (f->ncodes < 16)
    snprintf(f->codes[f->ncodes++].s, sizeof(f->codes[0].s), "%s", code);
}

void fake_oauth_issue(fake_oauth_t *f, char *access, char *refresh) {
  tok_t a, r;
  new_token(f, 'a', &a);
  new_token(f, 'r', &r);
  push(f->access, &f->naccess, &a);
  push(f->refresh, &f->nrefresh, &r);
  memcpy(access, a.s, sizeof(a.s));
  memcpy(refresh, r.s, sizeof(r.s));
}

void fake_oauth_set_expires_in(fake_oauth_t *f, int64_t s) {
  f->expires_in = s;
}

void fake_oauth_revoke(fake_oauth_t *f, const char *access) {
  int i = find(f->access, f->naccess, access);
  if (i >= 0)
    drop(f->access, &f->naccess, i);
  i = find(f->app, f->napp, access);
  if (i >= 0)
    drop(f->app, &f->napp, i);
}

bool fake_oauth_refresh_valid(const fake_oauth_t *f, const char *refresh) {
  return find((tok_t *)f->refresh, f->nrefresh, refresh) >= 0;
}

bool fake_oauth_access_valid(const fake_oauth_t *f, const char *access) {
  return find((tok_t *)f->access, f->naccess, access) >= 0 ||
         find((tok_t *)f->app, f->napp, access) >= 0;
}

void fake_oauth_force(fake_oauth_t *f, fake_kind_t kind, int n, int status,
                      const char *body) {
  f->force_n[kind] = n;
  f->force_status[kind] = status;
  snprintf(f->force_body[kind], sizeof(f->force_body[kind]), "%s", body);
}

int fake_oauth_count(const fake_oauth_t *f, fake_kind_t kind) {
  return f->counts[kind];
}

void fake_oauth_set_grace(fake_oauth_t *f, bool on) {
  f->grace = on;
}

void fake_oauth_approve_device(fake_oauth_t *f) {
  f->device_approved = true;
}

void fake_oauth_set_deny(fake_oauth_t *f, bool on) {
  f->deny = on;
}
