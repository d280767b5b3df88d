/* twitchd: OAuth 2 codec for id.twitch.tv (sans-IO). See twitchd/oauth.h.
 *
 * The request builders check every value before encoding it. Tokens, ids,
 * codes and secrets from Twitch are visible ASCII, so anything else is a
 * caller bug or an injection attempt and is refused rather than encoded;
 * URL-encoding then makes sure that characters Twitch does use ('/', '%',
 * '=' in refresh tokens) cannot start a new form field.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "proto/http_util.h"
#include "twitchd/error.h"
#include "twitchd/oauth.h"

/* Longest token_type kept ("bearer"). */
#define TOKEN_TYPE_MAX 64
/* Longest expires_in accepted: a century. App tokens live about 60 days;
 * anything beyond this is garbage, and bounding it keeps now + expires_in
 * far from overflow. */
#define EXPIRES_MAX (100LL * 366 * 24 * 3600)
/* Longest device poll interval accepted, in seconds. */
#define INTERVAL_MAX 3600

/* ---- builders ------------------------------------------------------------ */

static bool token_ok(const char *s) {
  return tw__is_visible_ascii(s, TW_MAX_OAUTH_TOKEN);
}

static bool str_ok(const char *s) {
  return tw__is_visible_ascii(s, TW_MAX_OAUTH_STR);
}

/* A redirect URI is what the person registered; it may contain any UTF-8
 * text (it is encoded), but no control characters. */
static bool uri_ok(const char *s) {
  if (!s || !*s)
    return false;
  size_t len = strlen(s);
  if (len > TW_MAX_OAUTH_STR || tw__utf8_count(s, len) == SIZE_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return false;
  }
  return true;
}

/* Appends the scope list, space-joined and form-encoded, as `key`. */
static int form_add_scopes(tw_buf_t *out, bool *first, const char *key,
                           const tw_scopes_t *scopes) {
  tw_buf_t joined;
  tw_buf_init(&joined, (size_t)TW_MAX_SCOPES * (TW_MAX_SCOPE_LEN + 1));
  int rc = tw_scopes_join(scopes, &joined);
  if (rc == 0)
    rc = tw__form_add(out, first, key, joined.data ? joined.data : "", true);
  tw_buf_free(&joined);
  return rc;
}

static bool scopes_ok(const tw_scopes_t *s) {
  if (!s)
    return true;
  if (s->n > TW_MAX_SCOPES || (s->n && !s->v))
    return false;
  for (size_t i = 0; i < s->n; i++)
    if (!tw__is_visible_ascii(s->v[i], TW_MAX_SCOPE_LEN))
      return false;
  return true;
}

int tw_oauth_authorize_url(tw_buf_t *out, const tw_oauth_authorize_t *p) {
  if (!out || !p || !str_ok(p->client_id) || !uri_ok(p->redirect_uri) ||
      !scopes_ok(p->scopes) || !p->state)
    return TW_EINVAL;
  size_t slen = strlen(p->state);
  if (slen < TW_MIN_OAUTH_STATE || slen > TW_MAX_OAUTH_STATE ||
      !tw__is_visible_ascii(p->state, TW_MAX_OAUTH_STATE))
    return TW_EINVAL;
  const char *base = p->base ? p->base : TW_OAUTH_DEFAULT_BASE;
  if (!uri_ok(base))
    return TW_EINVAL;
  size_t start = out->len;
  bool first = true;
  int rc;
  if ((rc = tw_buf_append_str(out, base)) != 0 ||
      (rc = tw_buf_append_str(out, TW_OAUTH_PATH_AUTHORIZE "?")) != 0 ||
      (rc = tw__form_add(out, &first, "response_type", "code", true)) != 0 ||
      (rc = tw__form_add(out, &first, "client_id", p->client_id, true)) != 0 ||
      (rc = tw__form_add(out, &first, "redirect_uri", p->redirect_uri, true)) !=
          0)
    goto fail;
  if (p->scopes && p->scopes->n &&
      (rc = form_add_scopes(out, &first, "scope", p->scopes)) != 0)
    goto fail;
  if ((rc = tw__form_add(out, &first, "state", p->state, true)) != 0)
    goto fail;
  if (p->force_verify &&
      (rc = tw__form_add(out, &first, "force_verify", "true", true)) != 0)
    goto fail;
  return 0;
fail:
  tw__buf_truncate(out, start);
  return rc;
}

int tw_oauth_state_hex(const unsigned char *rnd, size_t n, char *out,
                       size_t cap) {
  static const char hx[] = "0123456789abcdef";
  /* Fewer than 8 random bytes (64 bits) would make the state guessable. */
  if (!rnd || !out || n < 8 || cap < 2 * n + 1 || 2 * n > TW_MAX_OAUTH_STATE)
    return TW_EINVAL;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[rnd[i] >> 4];
    out[2 * i + 1] = hx[rnd[i] & 15];
  }
  out[2 * n] = '\0';
  return 0;
}

/* A form body built from (key, value) pairs; NULL values are skipped. */
typedef struct {
  const char *key;
  const char *value;
} kv_t;

static int build_form(tw_buf_t *out, const kv_t *kv, size_t n,
                      const tw_scopes_t *scopes, size_t scopes_at) {
  size_t start = out->len;
  bool first = true;
  int rc = 0;
  for (size_t i = 0; i <= n && rc == 0; i++) {
    if (scopes && i == scopes_at)
      rc = form_add_scopes(out, &first, "scopes", scopes);
    if (rc == 0 && i < n && kv[i].value)
      rc = tw__form_add(out, &first, kv[i].key, kv[i].value, true);
  }
  if (rc != 0)
    tw__buf_truncate(out, start);
  return rc;
}

int tw_oauth_body_authorization_code(tw_buf_t *out, const char *client_id,
                                     const char *client_secret,
                                     const char *code,
                                     const char *redirect_uri) {
  if (!out || !str_ok(client_id) || !token_ok(client_secret) || !str_ok(code) ||
      !uri_ok(redirect_uri))
    return TW_EINVAL;
  const kv_t kv[] = {{"client_id", client_id},
                     {"client_secret", client_secret},
                     {"code", code},
                     {"grant_type", "authorization_code"},
                     {"redirect_uri", redirect_uri}};
  return build_form(out, kv, 5, NULL, 0);
}

int tw_oauth_body_refresh(tw_buf_t *out, const char *client_id,
                          const char *client_secret,
                          const char *refresh_token) {
  if (!out || !str_ok(client_id) || !token_ok(refresh_token) ||
      (client_secret && !token_ok(client_secret)))
    return TW_EINVAL;
  const kv_t kv[] = {{"grant_type", "refresh_token"},
                     {"refresh_token", refresh_token},
                     {"client_id", client_id},
                     {"client_secret", client_secret}};
  return build_form(out, kv, 4, NULL, 0);
}

int tw_oauth_body_client_credentials(tw_buf_t *out, const char *client_id,
                                     const char *client_secret) {
  if (!out || !str_ok(client_id) || !token_ok(client_secret))
    return TW_EINVAL;
  const kv_t kv[] = {{"client_id", client_id},
                     {"client_secret", client_secret},
                     {"grant_type", "client_credentials"}};
  return build_form(out, kv, 3, NULL, 0);
}

int tw_oauth_body_device_start(tw_buf_t *out, const char *client_id,
                               const tw_scopes_t *scopes) {
  static const tw_scopes_t none = {0};
  if (!out || !str_ok(client_id) || !scopes_ok(scopes))
    return TW_EINVAL;
  const kv_t kv[] = {{"client_id", client_id}};
  return build_form(out, kv, 1, scopes ? scopes : &none, 1);
}

int tw_oauth_body_device_token(tw_buf_t *out, const char *client_id,
                               const tw_scopes_t *scopes,
                               const char *device_code) {
  static const tw_scopes_t none = {0};
  if (!out || !str_ok(client_id) || !scopes_ok(scopes) ||
      !token_ok(device_code))
    return TW_EINVAL;
  const kv_t kv[] = {{"client_id", client_id},
                     {"device_code", device_code},
                     {"grant_type", TW_OAUTH_DEVICE_GRANT}};
  return build_form(out, kv, 3, scopes ? scopes : &none, 1);
}

int tw_oauth_body_revoke(tw_buf_t *out, const char *client_id,
                         const char *token) {
  if (!out || !str_ok(client_id) || !token_ok(token))
    return TW_EINVAL;
  const kv_t kv[] = {{"client_id", client_id}, {"token", token}};
  return build_form(out, kv, 2, NULL, 0);
}

int tw_oauth_validate_header(tw_buf_t *out, const char *access_token) {
  /* The token goes into a header unencoded, so it must not contain CR, LF
   * or anything else that could end or extend the header. */
  if (!out || !token_ok(access_token))
    return TW_EINVAL;
  size_t start = out->len;
  int rc;
  if ((rc = tw_buf_append_str(out, "Authorization: OAuth ")) != 0 ||
      (rc = tw_buf_append_str(out, access_token)) != 0)
    tw__buf_truncate(out, start);
  return rc;
}

/* ---- results ------------------------------------------------------------- */

const char *tw_oauth_result_name(tw_oauth_result_t r) {
  switch (r) {
  case TW_OAUTH_OK:
    return "ok";
  case TW_OAUTH_INVALID_REFRESH_TOKEN:
    return "invalid_refresh_token";
  case TW_OAUTH_INVALID_GRANT:
    return "invalid_grant";
  case TW_OAUTH_PENDING:
    return "authorization_pending";
  case TW_OAUTH_SLOW_DOWN:
    return "slow_down";
  case TW_OAUTH_EXPIRED_DEVICE_CODE:
    return "expired_device_code";
  case TW_OAUTH_ACCESS_DENIED:
    return "access_denied";
  case TW_OAUTH_INVALID_CLIENT:
    return "invalid_client";
  case TW_OAUTH_UNAUTHORIZED:
    return "unauthorized";
  case TW_OAUTH_RATE_LIMITED:
    return "rate_limited";
  case TW_OAUTH_SERVER_ERROR:
    return "server_error";
  case TW_OAUTH_BAD_RESPONSE:
    return "bad_response";
  case TW_OAUTH_STATE_MISMATCH:
    return "state_mismatch";
  case TW_OAUTH_OTHER:
    return "other";
  }
  return "unknown";
}

bool tw_oauth_result_retryable(tw_oauth_result_t r) {
  return r == TW_OAUTH_PENDING || r == TW_OAUTH_SLOW_DOWN ||
         r == TW_OAUTH_RATE_LIMITED || r == TW_OAUTH_SERVER_ERROR;
}

bool tw_oauth_result_fatal(tw_oauth_result_t r) {
  return r == TW_OAUTH_INVALID_REFRESH_TOKEN || r == TW_OAUTH_INVALID_GRANT ||
         r == TW_OAUTH_EXPIRED_DEVICE_CODE || r == TW_OAUTH_ACCESS_DENIED ||
         r == TW_OAUTH_INVALID_CLIENT || r == TW_OAUTH_STATE_MISMATCH;
}

int tw_oauth_result_err(tw_oauth_result_t r) {
  switch (r) {
  case TW_OAUTH_OK:
    return 0;
  case TW_OAUTH_PENDING:
  case TW_OAUTH_SLOW_DOWN:
    return TW_EAGAIN;
  case TW_OAUTH_RATE_LIMITED:
    return TW_ERATELIMIT;
  case TW_OAUTH_BAD_RESPONSE:
    return TW_EPARSE;
  case TW_OAUTH_SERVER_ERROR:
  case TW_OAUTH_OTHER:
    return TW_EHTTP;
  default:
    return TW_EAUTH;
  }
}

/* Messages of docs/twitch-protocol.md section 1 (and the RFC 6749/8628
 * error codes some servers use), compared without regard to case. */
static const struct {
  const char *msg;
  tw_oauth_result_t r;
} k_messages[] = {
    {"Invalid refresh token", TW_OAUTH_INVALID_REFRESH_TOKEN},
    {"Invalid authorization code", TW_OAUTH_INVALID_GRANT},
    {"invalid_grant", TW_OAUTH_INVALID_GRANT},
    {"authorization_pending", TW_OAUTH_PENDING},
    {"slow_down", TW_OAUTH_SLOW_DOWN},
    {"invalid device code", TW_OAUTH_EXPIRED_DEVICE_CODE},
    {"expired_token", TW_OAUTH_EXPIRED_DEVICE_CODE},
    {"access_denied", TW_OAUTH_ACCESS_DENIED},
    {"invalid client", TW_OAUTH_INVALID_CLIENT},
    {"invalid client secret", TW_OAUTH_INVALID_CLIENT},
    {"missing client secret", TW_OAUTH_INVALID_CLIENT},
    {"client does not exist", TW_OAUTH_INVALID_CLIENT},
    {"invalid_client", TW_OAUTH_INVALID_CLIENT},
    {"invalid access token", TW_OAUTH_UNAUTHORIZED},
    {"missing authorization token", TW_OAUTH_UNAUTHORIZED},
    {"Invalid token", TW_OAUTH_UNAUTHORIZED},
};

static bool match_message(const char *s, tw_oauth_result_t *r) {
  if (!s)
    return false;
  /* Trim surrounding spaces: the comparison is about the words. */
  size_t len = strlen(s);
  while (len && (*s == ' ' || *s == '\t')) {
    s++;
    len--;
  }
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '.'))
    len--;
  for (size_t i = 0; i < sizeof(k_messages) / sizeof(k_messages[0]); i++) {
    if (tw__ieq(s, len, k_messages[i].msg)) {
      *r = k_messages[i].r;
      return true;
    }
  }
  return false;
}

static void err_set(tw_oauth_error_t *err, tw_oauth_result_t r, int status,
                    const char *msg) {
  if (!err)
    return;
  err->result = r;
  err->http_status = status;
  tw__sanitize(err->message, sizeof(err->message), msg ? msg : "",
               msg ? strlen(msg) : 0);
}

int tw_oauth_decode_error(int http_status, const char *body, size_t len,
                          tw_oauth_error_t *err) {
  tw_oauth_error_t local;
  if (!err)
    err = &local;
  err_set(err, TW_OAUTH_OK, http_status, NULL);
  if (http_status >= 200 && http_status <= 299)
    return 0;
  if (!body)
    len = 0;

  const char *message = NULL, *error = NULL, *desc = NULL;
  json_t *root = NULL;
  if (len > 0 && len <= TW_MAX_OAUTH_RESPONSE)
    root = tw__json_parse(body, len);
  if (json_is_object(root)) {
    /* Members of the wrong type are ignored: the status still says what
     * kind of failure this is. */
    if (tw__json_str(root, "message", TW_MAX_OAUTH_STR, false, &message))
      message = NULL;
    if (tw__json_str(root, "error", TW_MAX_OAUTH_STR, false, &error))
      error = NULL;
    if (tw__json_str(root, "error_description", TW_MAX_OAUTH_STR, false, &desc))
      desc = NULL;
  }

  tw_oauth_result_t r;
  if (http_status >= 500 && http_status <= 599)
    r = TW_OAUTH_SERVER_ERROR;
  else if (http_status == 429)
    r = TW_OAUTH_RATE_LIMITED;
  else if (match_message(message, &r) || match_message(error, &r))
    ; /* r set */
  else if (http_status == 401)
    r = TW_OAUTH_UNAUTHORIZED;
  else
    r = TW_OAUTH_OTHER;

  const char *shown = message ? message : desc ? desc : error;
  if (shown) {
    err_set(err, r, http_status, shown);
  } else {
    /* Not JSON (a proxy's HTML page, say): keep its start for people. */
    err_set(err, r, http_status, NULL);
    if (!root && len)
      tw__sanitize(err->message, sizeof(err->message), body,
                   len < sizeof(err->message) ? len : sizeof(err->message));
  }
  json_decref(root);
  return tw_oauth_result_err(r);
}

/* The common start of every response decoder. Returns 1 when the caller
 * should go on and decode *root (a 2xx object), otherwise the value to
 * return (an error code; err filled). */
static int decode_prologue(int http_status, const char *body, size_t len,
                           tw_oauth_error_t *err, json_t **root) {
  *root = NULL;
  err_set(err, TW_OAUTH_OK, http_status, NULL);
  if (!body && len)
    return TW_EINVAL;
  if (len > TW_MAX_OAUTH_RESPONSE) {
    err_set(err, TW_OAUTH_BAD_RESPONSE, http_status, "response too large");
    return TW_ETOOBIG;
  }
  if (http_status < 200 || http_status > 299) {
    int rc = tw_oauth_decode_error(http_status, body, len, err);
    /* A non-2xx status is never success, whatever the body says. */
    return rc ? rc : TW_EHTTP;
  }
  *root = tw__json_parse(body, len);
  if (!json_is_object(*root)) {
    json_decref(*root);
    *root = NULL;
    err_set(err, TW_OAUTH_BAD_RESPONSE, http_status,
            "response is not a JSON object");
    return TW_EPARSE;
  }
  return 1;
}

static int bad_response(tw_oauth_error_t *err, int status, const char *what,
                        int rc) {
  err_set(err, TW_OAUTH_BAD_RESPONSE, status, what);
  return rc == TW_ENOMEM ? TW_ENOMEM : TW_EPARSE;
}

/* Reads `key` as a scope list: an array of names, a space-separated string
 * (older documentation), or absent/null (no scopes). */
static int scopes_member(const json_t *root, const char *key,
                         tw_scopes_t *out) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v))
    return 0;
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n)
      return TW_EPARSE;
    int rc = tw_scopes_add_spaced(out, s, n);
    return rc == TW_ENOMEM ? rc : rc ? TW_EPARSE : 0;
  }
  if (!json_is_array(v) || json_array_size(v) > TW_MAX_SCOPES)
    return TW_EPARSE;
  size_t i;
  json_t *item;
  json_array_foreach(v, i, item) {
    if (!json_is_string(item))
      return TW_EPARSE;
    const char *s = json_string_value(item);
    if (strlen(s) != json_string_length(item))
      return TW_EPARSE;
    int rc = tw_scopes_add(out, s);
    if (rc != 0)
      return rc == TW_ENOMEM ? rc : TW_EPARSE;
  }
  return 0;
}

static int token_member(const json_t *root, const char *key, bool required,
                        char **out) {
  int rc = tw__json_strdup(root, key, TW_MAX_OAUTH_TOKEN, required, out);
  if (rc == 0 && *out && !token_ok(*out)) {
    tw__free_secret(*out);
    *out = NULL;
    rc = TW_EPARSE;
  }
  return rc;
}

int tw_oauth_decode_token(int http_status, const char *body, size_t len,
                          uint64_t now_ms, tw_oauth_token_t *out,
                          tw_oauth_error_t *err) {
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  out->expires_in = -1;
  json_t *root;
  int rc = decode_prologue(http_status, body, len, err, &root);
  if (rc != 1)
    return rc;
  bool has_exp;
  const char *what;
  if ((rc = token_member(root, "access_token", true, &out->access_token))) {
    what = "missing or malformed access_token";
  } else if ((rc = token_member(root, "refresh_token", false,
                                &out->refresh_token))) {
    what = "malformed refresh_token";
  } else if ((rc = tw__json_strdup(root, "token_type", TOKEN_TYPE_MAX, false,
                                   &out->token_type))) {
    what = "malformed token_type";
  } else if ((rc = tw__json_int(root, "expires_in", 0, EXPIRES_MAX, false,
                                &out->expires_in, &has_exp))) {
    what = "malformed expires_in";
  } else if ((rc = scopes_member(root, "scope", &out->scopes))) {
    what = "malformed scope";
  } else {
    if (!has_exp)
      out->expires_in = -1;
    else if (out->expires_in > 0)
      out->expires_at_ms = now_ms + (uint64_t)out->expires_in * 1000u;
    json_decref(root);
    return 0;
  }
  json_decref(root);
  tw_oauth_token_clear(out);
  return bad_response(err, http_status, what, rc);
}

void tw_oauth_token_clear(tw_oauth_token_t *t) {
  if (!t)
    return;
  tw__free_secret(t->access_token);
  tw__free_secret(t->refresh_token);
  free(t->token_type);
  tw_scopes_free(&t->scopes);
  memset(t, 0, sizeof(*t));
  t->expires_in = -1;
}

int tw_oauth_decode_validate(int http_status, const char *body, size_t len,
                             tw_oauth_validation_t *out,
                             tw_oauth_error_t *err) {
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  out->expires_in = -1;
  json_t *root;
  int rc = decode_prologue(http_status, body, len, err, &root);
  if (rc != 1)
    return rc;
  bool has_exp;
  const char *what;
  if ((rc = tw__json_strdup(root, "client_id", TW_MAX_OAUTH_STR, true,
                            &out->client_id))) {
    what = "missing or malformed client_id";
  } else if ((rc = tw__json_strdup(root, "login", TW_MAX_OAUTH_STR, false,
                                   &out->login))) {
    what = "malformed login";
  } else if ((rc = tw__json_strdup(root, "user_id", TW_MAX_OAUTH_STR, false,
                                   &out->user_id))) {
    what = "malformed user_id";
  } else if ((rc = tw__json_int(root, "expires_in", 0, EXPIRES_MAX, false,
                                &out->expires_in, &has_exp))) {
    what = "malformed expires_in";
  } else if ((rc = scopes_member(root, "scopes", &out->scopes))) {
    what = "malformed scopes";
  } else {
    if (!has_exp)
      out->expires_in = -1;
    json_decref(root);
    return 0;
  }
  json_decref(root);
  tw_oauth_validation_clear(out);
  return bad_response(err, http_status, what, rc);
}

void tw_oauth_validation_clear(tw_oauth_validation_t *v) {
  if (!v)
    return;
  free(v->client_id);
  free(v->login);
  free(v->user_id);
  tw_scopes_free(&v->scopes);
  memset(v, 0, sizeof(*v));
  v->expires_in = -1;
}

int tw_oauth_decode_device(int http_status, const char *body, size_t len,
                           tw_oauth_device_t *out, tw_oauth_error_t *err) {
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  json_t *root;
  int rc = decode_prologue(http_status, body, len, err, &root);
  if (rc != 1)
    return rc;
  bool has_interval;
  const char *what;
  if ((rc = token_member(root, "device_code", true, &out->device_code))) {
    what = "missing or malformed device_code";
  } else if ((rc = tw__json_strdup(root, "user_code", TW_MAX_OAUTH_STR, true,
                                   &out->user_code)) ||
             !str_ok(out->user_code)) {
    what = "missing or malformed user_code";
  } else if ((rc = tw__json_strdup(root, "verification_uri", TW_MAX_OAUTH_STR,
                                   true, &out->verification_uri)) ||
             !uri_ok(out->verification_uri)) {
    what = "missing or malformed verification_uri";
  } else if ((rc = tw__json_int(root, "expires_in", 1, EXPIRES_MAX, true,
                                &out->expires_in, NULL))) {
    what = "missing or malformed expires_in";
  } else if ((rc = tw__json_int(root, "interval", 0, INTERVAL_MAX, false,
                                &out->interval, &has_interval))) {
    what = "malformed interval";
  } else {
    /* RFC 8628 says 5 s when the server does not say; polling in a loop
     * with 0 would earn slow_down answers. */
    if (!has_interval)
      out->interval = 5;
    else if (out->interval < 1)
      out->interval = 1;
    json_decref(root);
    return 0;
  }
  json_decref(root);
  tw_oauth_device_clear(out);
  return bad_response(err, http_status, what, rc);
}

void tw_oauth_device_clear(tw_oauth_device_t *d) {
  if (!d)
    return;
  tw__free_secret(d->device_code);
  free(d->user_code);
  free(d->verification_uri);
  memset(d, 0, sizeof(*d));
}

int tw_oauth_decode_revoke(int http_status, const char *body, size_t len,
                           tw_oauth_error_t *err) {
  err_set(err, TW_OAUTH_OK, http_status, NULL);
  if (!body && len)
    return TW_EINVAL;
  if (len > TW_MAX_OAUTH_RESPONSE) {
    err_set(err, TW_OAUTH_BAD_RESPONSE, http_status, "response too large");
    return TW_ETOOBIG;
  }
  if (http_status >= 200 && http_status <= 299)
    return 0;
  int rc = tw_oauth_decode_error(http_status, body, len, err);
  return rc ? rc : TW_EHTTP;
}

/* ---- redirect ------------------------------------------------------------ */

int tw_oauth_parse_redirect(const char *query, size_t len,
                            tw_oauth_redirect_t *out) {
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (!query && len)
    return TW_EINVAL;
  if (len > TW_MAX_OAUTH_QUERY)
    return TW_ETOOBIG;
  const char *p = query, *end = query + len;
  const char *q = memchr(p, '?', len);
  if (q)
    p = q + 1;
  const char *hash = memchr(p, '#', (size_t)(end - p));
  if (hash)
    end = hash;

  struct {
    const char *name;
    char **slot;
  } known[] = {{"code", &out->code},
               {"state", &out->state},
               {"scope", &out->scope},
               {"error", &out->error},
               {"error_description", &out->error_description}};
  int rc = 0;
  while (p < end && rc == 0) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    const char *ke = eq ? eq : pe;
    char *key = NULL;
    if (ke > p && (rc = tw__url_decode(p, (size_t)(ke - p), true, &key)) == 0) {
      for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(key, known[i].name) != 0)
          continue;
        if (*known[i].slot) {
          rc = TW_EPARSE; /* the same parameter twice */
          break;
        }
        const char *vs = eq ? eq + 1 : pe;
        rc = tw__url_decode(vs, (size_t)(pe - vs), true, known[i].slot);
        break;
      }
    }
    free(key);
    p = amp ? amp + 1 : end;
  }
  if (rc != 0)
    tw_oauth_redirect_clear(out);
  return rc;
}

void tw_oauth_redirect_clear(tw_oauth_redirect_t *r) {
  if (!r)
    return;
  tw__free_secret(r->code);
  free(r->state);
  free(r->scope);
  free(r->error);
  free(r->error_description);
  memset(r, 0, sizeof(*r));
}

bool tw_oauth_state_equal(const char *expected, const char *got) {
  if (!expected || !got)
    return false;
  size_t n = strlen(expected);
  if (strlen(got) != n)
    return false;
  /* CRYPTO_memcmp's time depends on the length only, so an attacker who
   * can time the redirect catcher learns nothing about the state. */
  return n == 0 || CRYPTO_memcmp(expected, got, n) == 0;
}

int tw_oauth_redirect_check(const tw_oauth_redirect_t *r,
                            const char *expected_state, tw_oauth_error_t *err) {
  if (!r || !expected_state || !*expected_state)
    return TW_EINVAL;
  if (!tw_oauth_state_equal(expected_state, r->state)) {
    err_set(err, TW_OAUTH_STATE_MISMATCH, 0,
            r->state ? "state does not match" : "state missing");
    return TW_EAUTH;
  }
  if (r->error) {
    tw_oauth_result_t res = TW_OAUTH_OTHER;
    if (tw__ieq(r->error, strlen(r->error), "access_denied"))
      res = TW_OAUTH_ACCESS_DENIED;
    err_set(err, res, 0,
            r->error_description ? r->error_description : r->error);
    return TW_EAUTH;
  }
  if (!r->code || !*r->code) {
    err_set(err, TW_OAUTH_OTHER, 0, "redirect carries no code");
    return TW_EAUTH;
  }
  err_set(err, TW_OAUTH_OK, 0, NULL);
  return 0;
}
