/* libFuzzer target for the OAuth and Helix decoders (and two encoder round
 * trips).
 *
 * Input layout: byte 0 picks the decoder, byte 1 the HTTP status (an index
 * into k_status), the rest is the body, header line or query string. Besides
 * "no crash, no leak, no undefined behaviour", the target checks properties
 * that must hold for any input: decoders that fail leave their results
 * empty; a form-encoded value decodes back to itself; a title that the
 * Helix builder accepts comes back unchanged from the JSON body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "twitchd/error.h"
#include "twitchd/helix.h"
#include "twitchd/oauth.h"

static const int k_status[] = {200, 202, 204, 400, 401, 403, 404,
                               409, 410, 422, 429, 500, 503, 302};

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

/* A NUL-terminated copy of the body, for the APIs that take C strings. */
static char *cstr(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s)
    abort();
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static void roundtrip_code(const char *body, size_t len) {
  char *code = cstr(body, len);
  tw_buf_t b;
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  if (tw_oauth_body_authorization_code(&b, "cid", "secret123", code,
                                       "http://localhost/cb") == 0) {
    /* The redirect parser is a form decoder: "code" must come back. */
    tw_oauth_redirect_t r;
    CHECK(tw_oauth_parse_redirect(b.data, b.len, &r) == 0);
    CHECK(r.code && strcmp(r.code, code) == 0);
    tw_oauth_redirect_clear(&r);
  } else {
    CHECK(b.len == 0);
  }
  tw_buf_free(&b);
  free(code);
}

static void roundtrip_title(const char *body, size_t len) {
  char *title = cstr(body, len);
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  if (tw_helix_req_set_title(&r, "41245072", title) == 0) {
    json_error_t e;
    json_t *j = json_loadb(r.body.data, r.body.len, 0, &e);
    CHECK(j);
    const char *t = json_string_value(json_object_get(j, "title"));
    CHECK(t && strcmp(t, title) == 0);
    json_decref(j);
  } else {
    CHECK(r.target.len == 0 && r.body.len == 0);
  }
  tw_helix_req_free(&r);
  free(title);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  unsigned sel = data[0];
  int status = k_status[data[1] % (sizeof(k_status) / sizeof(k_status[0]))];
  const char *body = (const char *)data + 2;
  size_t len = size - 2;

  switch (sel % 17) {
  case 0: {
    tw_oauth_error_t err;
    int rc = tw_oauth_decode_error(status, body, len, &err);
    CHECK(rc == tw_oauth_result_err(err.result));
    CHECK(memchr(err.message, '\0', sizeof(err.message)));
    break;
  }
  case 1: {
    tw_oauth_token_t t;
    int rc =
        tw_oauth_decode_token(status, body, len, 1764107400000ull, &t, NULL);
    if (rc != 0)
      CHECK(!t.access_token && !t.refresh_token && t.scopes.n == 0);
    else
      CHECK(t.access_token && status >= 200 && status <= 299);
    tw_oauth_token_clear(&t);
    break;
  }
  case 2: {
    tw_oauth_validation_t v;
    if (tw_oauth_decode_validate(status, body, len, &v, NULL) != 0)
      CHECK(!v.client_id && v.scopes.n == 0);
    tw_oauth_validation_clear(&v);
    break;
  }
  case 3: {
    tw_oauth_device_t d;
    if (tw_oauth_decode_device(status, body, len, &d, NULL) == 0)
      CHECK(d.interval >= 1 && d.device_code && d.user_code);
    else
      CHECK(!d.device_code);
    tw_oauth_device_clear(&d);
    break;
  }
  case 4: {
    tw_oauth_redirect_t r;
    if (tw_oauth_parse_redirect(body, len, &r) == 0 && r.state) {
      tw_oauth_error_t err;
      (void)tw_oauth_redirect_check(&r, r.state[0] ? r.state : "x", &err);
    }
    tw_oauth_redirect_clear(&r);
    break;
  }
  case 5: {
    tw_scopes_t s = {0};
    if (tw_scopes_add_spaced(&s, body, len) != 0)
      CHECK(s.n == 0);
    tw_scopes_free(&s);
    break;
  }
  case 6: {
    tw_helix_error_t err;
    int rc = tw_helix_decode_error(status, body, len, &err);
    CHECK(rc == tw_helix_err_code(err.kind));
    for (int e = 0; e < TW_HELIX_ENDPOINT_COUNT; e++) {
      (void)tw_helix_should_retry((tw_helix_endpoint_t)e, &err);
      (void)tw_helix_already_done((tw_helix_endpoint_t)e, &err);
    }
    break;
  }
  case 7: {
    tw_helix_users_t u;
    if (tw_helix_decode_users(body, len, &u) != 0)
      CHECK(u.n == 0 && !u.v);
    else
      for (size_t i = 0; i < u.n; i++)
        CHECK(u.v[i].id && u.v[i].login);
    tw_helix_users_free(&u);
    break;
  }
  case 8: {
    tw_helix_streams_t s;
    (void)tw_helix_decode_streams(body, len, &s);
    tw_helix_streams_free(&s);
    break;
  }
  case 9: {
    tw_helix_ban_t b;
    if (tw_helix_decode_ban(body, len, &b) == 0)
      CHECK(b.broadcaster_id && b.moderator_id && b.user_id);
    tw_helix_ban_free(&b);
    break;
  }
  case 10: {
    tw_helix_clip_created_t c;
    (void)tw_helix_decode_clip_created(body, len, &c);
    tw_helix_clip_created_free(&c);
    tw_helix_clips_t cl;
    (void)tw_helix_decode_clips(body, len, &cl);
    tw_helix_clips_free(&cl);
    break;
  }
  case 11: {
    tw_helix_chat_sent_t c;
    if (tw_helix_decode_chat_sent(body, len, &c) == 0 && c.is_sent)
      CHECK(c.message_id && c.message_id[0]);
    tw_helix_chat_sent_free(&c);
    break;
  }
  case 12: {
    tw_helix_subs_t s;
    if (tw_helix_decode_subs(body, len, &s) == 0)
      for (size_t i = 0; i < s.n; i++)
        CHECK(s.v[i].condition_json && s.v[i].transport_method);
    else
      CHECK(s.n == 0 && !s.v);
    tw_helix_subs_free(&s);
    break;
  }
  case 13: {
    tw_helix_ratelimit_t rl;
    tw_helix_ratelimit_init(&rl);
    (void)tw_helix_ratelimit_header(&rl, body, len);
    tw_bucket_t b;
    tw_bucket_init(&b, 800, 800, 60000, 1000);
    (void)tw_helix_ratelimit_apply(&rl, status, &b, 1764107400000ull, 1000);
    CHECK(tw_bucket_available(&b, 1000) <= 800);
    break;
  }
  case 14:
    roundtrip_code(body, len);
    break;
  case 15:
    roundtrip_title(body, len);
    break;
  default: {
    /* Chat message and ban reason builders on arbitrary text. */
    char *text = cstr(body, len);
    tw_helix_req_t r;
    tw_helix_req_init(&r);
    (void)tw_helix_req_send_chat(&r, "12826", "141981764", text, NULL, -1);
    (void)tw_helix_req_ban(&r, "1", "2", "3", 600, text);
    (void)tw_helix_req_create_clip(&r, "1", text, 300);
    tw_helix_req_free(&r);
    free(text);
    break;
  }
  }
  return 0;
}
