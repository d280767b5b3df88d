/* Unit tests for the OAuth response decoders: token, validate, device and
 * revoke answers and id.twitch.tv error bodies, from the examples of
 * docs/twitch-protocol.md section 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"
#include "twitchd/oauth.h"

#define NOW 1764107400000ull /* 2025-11-25T21:50:00Z, in ms */

static int token(int status, const char *body, tw_oauth_token_t *t,
                 tw_oauth_error_t *err) {
  return tw_oauth_decode_token(status, body, strlen(body), NOW, t, err);
}

/* ---- token answers --------------------------------------------------------
 */

static void test_token_code_exchange(void **state) {
  (void)state;
  /* 1.2, docs example. */
  const char *body =
      "{\n  \"access_token\": \"rfx2uswqe8l4g1mkagrvg5tv0ks3\",\n"
      "  \"expires_in\": 14124,\n"
      "  \"refresh_token\": "
      "\"5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01\",\n"
      "  \"scope\": [\"channel:moderate\", \"chat:edit\", "
      "\"chat:read\"],\n  \"token_type\": \"bearer\"\n}";
  tw_oauth_token_t t;
  tw_oauth_error_t err;
  assert_int_equal(token(200, body, &t, &err), 0);
  assert_int_equal(err.result, TW_OAUTH_OK);
  assert_string_equal(t.access_token, "rfx2uswqe8l4g1mkagrvg5tv0ks3");
  assert_string_equal(t.refresh_token,
                      "5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01");
  assert_string_equal(t.token_type, "bearer");
  assert_int_equal(t.expires_in, 14124);
  assert_int_equal(t.expires_at_ms, NOW + 14124000ull);
  assert_int_equal(t.scopes.n, 3);
  assert_string_equal(t.scopes.v[0], "channel:moderate");
  assert_string_equal(t.scopes.v[2], "chat:read");
  tw_oauth_token_clear(&t);
  assert_null(t.access_token);
  assert_int_equal(t.scopes.n, 0);
}

static void test_token_variants(void **state) {
  (void)state;
  tw_oauth_token_t t;
  /* 1.3 refresh example: no expires_in, refresh token with % and =. */
  assert_int_equal(
      token(200,
            "{\"access_token\":\"1ssjqsqfy6bads1ws7m03gras79zfr\","
            "\"refresh_token\":\"eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%"
            "asdfasdf=\",\"scope\":[\"channel:read:subscriptions\","
            "\"channel:manage:polls\"],\"token_type\":\"bearer\"}",
            &t, NULL),
      0);
  assert_string_equal(t.refresh_token,
                      "eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%asdfasdf=");
  assert_int_equal(t.expires_in, -1);
  assert_int_equal(t.expires_at_ms, 0);
  assert_int_equal(t.scopes.n, 2);
  tw_oauth_token_clear(&t);

  /* 1.7 client credentials: no refresh token, no scope. */
  assert_int_equal(token(200,
                         "{\"access_token\":\"jostpf5q0uzmxmkba9iyug38kjtgh\","
                         "\"expires_in\":5011271,\"token_type\":\"bearer\"}",
                         &t, NULL),
                   0);
  assert_null(t.refresh_token);
  assert_int_equal(t.expires_in, 5011271);
  assert_int_equal(t.scopes.n, 0);
  tw_oauth_token_clear(&t);

  /* 1.6 device success without "scope" (none requested). */
  assert_int_equal(token(200,
                         "{\"access_token\":\"abcdef123456\",\"expires_in\":"
                         "14542,\"refresh_token\":\"zyxwvu987654\","
                         "\"token_type\":\"bearer\"}",
                         &t, NULL),
                   0);
  assert_int_equal(t.scopes.n, 0);
  tw_oauth_token_clear(&t);

  /* Older docs: scope as a space-separated string; expires_in as a real
   * without a fraction; null members; extra members ignored. */
  assert_int_equal(token(200,
                         "{\"access_token\":\"abcdef123456\",\"scope\":"
                         "\"chat:read chat:edit\",\"expires_in\":14400.0,"
                         "\"refresh_token\":null,\"id_token\":\"x\"}",
                         &t, NULL),
                   0);
  assert_int_equal(t.scopes.n, 2);
  assert_string_equal(t.scopes.v[1], "chat:edit");
  assert_int_equal(t.expires_in, 14400);
  assert_null(t.refresh_token);
  tw_oauth_token_clear(&t);

  /* expires_in 0: no expiry to compute. */
  assert_int_equal(token(200,
                         "{\"access_token\":\"abcdef123456\",\"expires_in\":0}",
                         &t, NULL),
                   0);
  assert_int_equal(t.expires_in, 0);
  assert_int_equal(t.expires_at_ms, 0);
  tw_oauth_token_clear(&t);
}

/* 2xx bodies that are not the documented token answer. */
static void test_token_malformed(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "not json",
      "[]",
      "\"x\"",
      "{}",
      "{\"access_token\":123}",
      "{\"access_token\":\"\"}",
      "{\"access_token\":\"has space\"}",
      "{\"access_token\":\"ab\\r\\ncd\"}",
      "{\"access_token\":\"abc\\u0000def\"}",
      "{\"access_token\":\"abcdef\",\"refresh_token\":7}",
      "{\"access_token\":\"abcdef\",\"expires_in\":-5}",
      "{\"access_token\":\"abcdef\",\"expires_in\":\"14124\"}",
      "{\"access_token\":\"abcdef\",\"expires_in\":1.5}",
      "{\"access_token\":\"abcdef\",\"expires_in\":1e300}",
      "{\"access_token\":\"abcdef\",\"scope\":[1]}",
      "{\"access_token\":\"abcdef\",\"scope\":{}}",
      "{\"access_token\":\"abcdef\",\"scope\":[\"a b\"]}",
      "{\"access_token\":\"abcdef\",\"token_type\":false}",
      "{\"access_token\":\"a\",\"access_token\":\"b\"}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    tw_oauth_token_t t;
    tw_oauth_error_t err;
    int rc = token(200, bad[i], &t, &err);
    if (rc != TW_EPARSE)
      fail_msg("body %zu (%s): rc %d", i, bad[i], rc);
    assert_int_equal(err.result, TW_OAUTH_BAD_RESPONSE);
    assert_null(t.access_token);
    assert_null(t.scopes.v);
  }
  /* Too large. */
  size_t n = TW_MAX_OAUTH_RESPONSE + 1;
  char *big = malloc(n);
  memset(big, ' ', n);
  tw_oauth_token_t t;
  tw_oauth_error_t err;
  assert_int_equal(tw_oauth_decode_token(200, big, n, NOW, &t, &err),
                   TW_ETOOBIG);
  assert_int_equal(err.result, TW_OAUTH_BAD_RESPONSE);
  free(big);
  assert_int_equal(tw_oauth_decode_token(200, NULL, 5, NOW, &t, &err),
                   TW_EINVAL);
  assert_int_equal(tw_oauth_decode_token(200, "{}", 2, NOW, NULL, &err),
                   TW_EINVAL);
  /* A token body with an error status is an error, never a token. */
  assert_int_equal(token(400, "{\"access_token\":\"abcdef123456\"}", &t, &err),
                   TW_EHTTP);
  assert_int_equal(err.result, TW_OAUTH_OTHER);
  assert_null(t.access_token);
}

/* ---- error bodies ----------------------------------------------------------
 */

typedef struct {
  int status;
  const char *body;
  tw_oauth_result_t result;
  int rc;
  const char *message;
} err_case_t;

static const err_case_t k_errors[] = {
    /* 1.3 */
    {400, "{\"status\":400,\"message\":\"Invalid refresh token\"}",
     TW_OAUTH_INVALID_REFRESH_TOKEN, TW_EAUTH, "Invalid refresh token"},
    {400,
     "{\"error\":\"Bad Request\",\"status\":400,\"message\":\"Invalid "
     "refresh token\"}",
     TW_OAUTH_INVALID_REFRESH_TOKEN, TW_EAUTH, "Invalid refresh token"},
    {400, "{\"status\":400,\"message\":\"missing client secret\"}",
     TW_OAUTH_INVALID_CLIENT, TW_EAUTH, "missing client secret"},
    {403, "{\"status\":403,\"message\":\"invalid client secret\"}",
     TW_OAUTH_INVALID_CLIENT, TW_EAUTH, "invalid client secret"},
    {400, "{\"status\":400,\"message\":\"invalid client\"}",
     TW_OAUTH_INVALID_CLIENT, TW_EAUTH, "invalid client"},
    /* 1.2 */
    {400, "{\"status\":400,\"message\":\"Invalid authorization code\"}",
     TW_OAUTH_INVALID_GRANT, TW_EAUTH, "Invalid authorization code"},
    /* 1.6 */
    {400, "{\"status\":400,\"message\":\"authorization_pending\"}",
     TW_OAUTH_PENDING, TW_EAGAIN, "authorization_pending"},
    {400, "{\"status\":400,\"message\":\"slow_down\"}", TW_OAUTH_SLOW_DOWN,
     TW_EAGAIN, "slow_down"},
    {400, "{\"status\":400,\"message\":\"invalid device code\"}",
     TW_OAUTH_EXPIRED_DEVICE_CODE, TW_EAUTH, "invalid device code"},
    {400, "{\"status\":400,\"message\":\"access_denied\"}",
     TW_OAUTH_ACCESS_DENIED, TW_EAUTH, "access_denied"},
    /* RFC 6749/8628 shapes some servers use. */
    {400,
     "{\"error\":\"authorization_pending\",\"error_description\":\"The "
     "user has not yet authorized\"}",
     TW_OAUTH_PENDING, TW_EAGAIN, "The user has not yet authorized"},
    {400, "{\"error\":\"expired_token\"}", TW_OAUTH_EXPIRED_DEVICE_CODE,
     TW_EAUTH, "expired_token"},
    {400, "{\"error\":\"invalid_grant\"}", TW_OAUTH_INVALID_GRANT, TW_EAUTH,
     "invalid_grant"},
    /* 1.4 */
    {401, "{\"status\":401,\"message\":\"invalid access token\"}",
     TW_OAUTH_UNAUTHORIZED, TW_EAUTH, "invalid access token"},
    {401, "{\"status\":401,\"message\":\"missing authorization token\"}",
     TW_OAUTH_UNAUTHORIZED, TW_EAUTH, "missing authorization token"},
    {401, "{\"status\":401,\"message\":\"something new\"}",
     TW_OAUTH_UNAUTHORIZED, TW_EAUTH, "something new"},
    /* 1.5 */
    {400, "{\"status\":400,\"message\":\"Invalid token\"}",
     TW_OAUTH_UNAUTHORIZED, TW_EAUTH, "Invalid token"},
    {404, "{\"status\":404,\"message\":\"client does not exist\"}",
     TW_OAUTH_INVALID_CLIENT, TW_EAUTH, "client does not exist"},
    /* The seed's test fixture: an unknown message stays OTHER, kept. */
    {400,
     "{\"status\":400,\"message\":\"Parameter redirect_uri does not match "
     "registered URI\"}",
     TW_OAUTH_OTHER, TW_EHTTP,
     "Parameter redirect_uri does not match registered URI"},
    /* Case and surrounding spaces do not matter. */
    {400, "{\"status\":400,\"message\":\"  INVALID REFRESH TOKEN. \"}",
     TW_OAUTH_INVALID_REFRESH_TOKEN, TW_EAUTH, "  INVALID REFRESH TOKEN. "},
    /* Status classes. */
    {429, "{\"status\":429,\"message\":\"Too Many Requests\"}",
     TW_OAUTH_RATE_LIMITED, TW_ERATELIMIT, "Too Many Requests"},
    {500, "{\"status\":500,\"message\":\"Invalid refresh token\"}",
     TW_OAUTH_SERVER_ERROR, TW_EHTTP, "Invalid refresh token"},
    {502, "<html><body>Bad Gateway</body></html>", TW_OAUTH_SERVER_ERROR,
     TW_EHTTP, "<html><body>Bad Gateway</body></html>"},
    {503, "", TW_OAUTH_SERVER_ERROR, TW_EHTTP, ""},
    {400, "{\"status\":400,\"message\":7}", TW_OAUTH_OTHER, TW_EHTTP, ""},
    /* Control characters never reach a log line through the message. */
    {400, "{\"status\":400,\"message\":\"a\\nb\\u001bc\"}", TW_OAUTH_OTHER,
     TW_EHTTP, "a?b?c"},
};

static void test_error_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(k_errors) / sizeof(k_errors[0]); i++) {
    const err_case_t *c = &k_errors[i];
    tw_oauth_error_t err;
    int rc = tw_oauth_decode_error(c->status, c->body, strlen(c->body), &err);
    if (rc != c->rc || err.result != c->result ||
        strcmp(err.message, c->message) != 0 || err.http_status != c->status)
      fail_msg("case %zu (%d %s): rc %d result %s message '%s'", i, c->status,
               c->body, rc, tw_oauth_result_name(err.result), err.message);
    /* Every decoder maps the same way. */
    tw_oauth_token_t t;
    assert_int_equal(token(c->status, c->body, &t, &err), c->rc);
    assert_int_equal(err.result, c->result);
  }
  /* A 2xx status is no error. */
  tw_oauth_error_t err;
  assert_int_equal(tw_oauth_decode_error(200, "", 0, &err), 0);
  assert_int_equal(err.result, TW_OAUTH_OK);
  assert_int_equal(tw_oauth_decode_error(400, NULL, 0, NULL), TW_EHTTP);
}

static void test_result_classes(void **state) {
  (void)state;
  assert_true(tw_oauth_result_fatal(TW_OAUTH_INVALID_REFRESH_TOKEN));
  assert_true(tw_oauth_result_fatal(TW_OAUTH_INVALID_CLIENT));
  assert_true(tw_oauth_result_fatal(TW_OAUTH_EXPIRED_DEVICE_CODE));
  assert_false(tw_oauth_result_fatal(TW_OAUTH_SERVER_ERROR));
  assert_false(tw_oauth_result_fatal(TW_OAUTH_UNAUTHORIZED));
  assert_true(tw_oauth_result_retryable(TW_OAUTH_SERVER_ERROR));
  assert_true(tw_oauth_result_retryable(TW_OAUTH_PENDING));
  assert_true(tw_oauth_result_retryable(TW_OAUTH_RATE_LIMITED));
  assert_false(tw_oauth_result_retryable(TW_OAUTH_INVALID_GRANT));
  assert_false(tw_oauth_result_retryable(TW_OAUTH_BAD_RESPONSE));
  for (int r = TW_OAUTH_OK; r <= TW_OAUTH_OTHER; r++) {
    /* Nothing is both, every result has a name. */
    assert_false(tw_oauth_result_fatal((tw_oauth_result_t)r) &&
                 tw_oauth_result_retryable((tw_oauth_result_t)r));
    assert_string_not_equal(tw_oauth_result_name((tw_oauth_result_t)r),
                            "unknown");
  }
  assert_string_equal(tw_oauth_result_name(TW_OAUTH_SLOW_DOWN), "slow_down");
}

/* ---- validate --------------------------------------------------------------
 */

static void test_validate(void **state) {
  (void)state;
  const char *body =
      "{\"client_id\":\"wbmytr93xzw8zbg0p1izqyzzc5mbiz\",\"login\":"
      "\"twitchdev\",\"scopes\":[\"channel:read:subscriptions\"],\"user_id\":"
      "\"141981764\",\"expires_in\":5520838}";
  tw_oauth_validation_t v;
  tw_oauth_error_t err;
  assert_int_equal(tw_oauth_decode_validate(200, body, strlen(body), &v, &err),
                   0);
  assert_string_equal(v.client_id, "wbmytr93xzw8zbg0p1izqyzzc5mbiz");
  assert_string_equal(v.login, "twitchdev");
  assert_string_equal(v.user_id, "141981764");
  assert_int_equal(v.expires_in, 5520838);
  assert_int_equal(v.scopes.n, 1);
  assert_string_equal(v.scopes.v[0], "channel:read:subscriptions");
  tw_oauth_validation_clear(&v);

  /* App token: no login/user_id; scope-less token: "scopes": null;
   * expires_in 0: a token that does not expire. */
  body = "{\"client_id\":\"abc\",\"login\":null,\"scopes\":null,"
         "\"expires_in\":0}";
  assert_int_equal(tw_oauth_decode_validate(200, body, strlen(body), &v, &err),
                   0);
  assert_null(v.login);
  assert_null(v.user_id);
  assert_int_equal(v.scopes.n, 0);
  assert_int_equal(v.expires_in, 0);
  tw_oauth_validation_clear(&v);

  body = "{\"status\":401,\"message\":\"invalid access token\"}";
  assert_int_equal(tw_oauth_decode_validate(401, body, strlen(body), &v, &err),
                   TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_UNAUTHORIZED);
  assert_null(v.client_id);

  static const char *const bad[] = {
      "{}", "{\"client_id\":5}",
      "{\"client_id\":\"a\",\"scopes\":\"x\\u0000\"}",
      "{\"client_id\":\"a\",\"expires_in\":-1}",
      "{\"client_id\":\"a\",\"login\":[]}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = tw_oauth_decode_validate(200, bad[i], strlen(bad[i]), &v, &err);
    if (rc != TW_EPARSE)
      fail_msg("%s: rc %d", bad[i], rc);
    assert_null(v.client_id);
  }
}

/* ---- device -----------------------------------------------------------------
 */

static void test_device(void **state) {
  (void)state;
  const char *body =
      "{\"device_code\":\"OFqYhSzNYdGVzhda2QXv4EchufyJxNDRyzTJrmUA\","
      "\"expires_in\":1800,\"interval\":5,\"user_code\":\"JLLKTXWJ\","
      "\"verification_uri\":\"https://www.twitch.tv/activate?device-code="
      "JLLKTXWJ\"}";
  tw_oauth_device_t d;
  tw_oauth_error_t err;
  assert_int_equal(tw_oauth_decode_device(200, body, strlen(body), &d, &err),
                   0);
  assert_string_equal(d.device_code,
                      "OFqYhSzNYdGVzhda2QXv4EchufyJxNDRyzTJrmUA");
  assert_string_equal(d.user_code, "JLLKTXWJ");
  assert_string_equal(d.verification_uri,
                      "https://www.twitch.tv/activate?device-code=JLLKTXWJ");
  assert_int_equal(d.expires_in, 1800);
  assert_int_equal(d.interval, 5);
  tw_oauth_device_clear(&d);

  /* No interval: 5 s (RFC 8628); interval 0 would be a hot loop: 1 s. */
  body = "{\"device_code\":\"abcdef\",\"expires_in\":1800,\"user_code\":"
         "\"X\",\"verification_uri\":\"https://x\"}";
  assert_int_equal(tw_oauth_decode_device(200, body, strlen(body), &d, &err),
                   0);
  assert_int_equal(d.interval, 5);
  tw_oauth_device_clear(&d);
  body = "{\"device_code\":\"abcdef\",\"expires_in\":1800,\"interval\":0,"
         "\"user_code\":\"X\",\"verification_uri\":\"https://x\"}";
  assert_int_equal(tw_oauth_decode_device(200, body, strlen(body), &d, &err),
                   0);
  assert_int_equal(d.interval, 1);
  tw_oauth_device_clear(&d);

  static const char *const bad[] = {
      "{\"expires_in\":1800,\"user_code\":\"X\",\"verification_uri\":\"u\"}",
      "{\"device_code\":\"abcdef\",\"user_code\":\"X\",\"verification_uri\":"
      "\"u\"}",
      "{\"device_code\":\"abcdef\",\"expires_in\":1800,\"verification_uri\":"
      "\"u\"}",
      "{\"device_code\":\"abcdef\",\"expires_in\":1800,\"user_code\":\"X\"}",
      "{\"device_code\":\"abcdef\",\"expires_in\":1800,\"user_code\":\"X Y\","
      "\"verification_uri\":\"u\"}",
      "{\"device_code\":\"abcdef\",\"expires_in\":1800,\"interval\":99999,"
      "\"user_code\":\"X\",\"verification_uri\":\"u\"}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = tw_oauth_decode_device(200, bad[i], strlen(bad[i]), &d, &err);
    if (rc != TW_EPARSE)
      fail_msg("case %zu: rc %d", i, rc);
    assert_int_equal(err.result, TW_OAUTH_BAD_RESPONSE);
    assert_null(d.device_code);
    assert_null(d.user_code);
  }
  body = "{\"status\":400,\"message\":\"invalid client\"}";
  assert_int_equal(tw_oauth_decode_device(400, body, strlen(body), &d, &err),
                   TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_INVALID_CLIENT);
}

static void test_revoke(void **state) {
  (void)state;
  tw_oauth_error_t err;
  assert_int_equal(tw_oauth_decode_revoke(200, "", 0, &err), 0);
  assert_int_equal(err.result, TW_OAUTH_OK);
  const char *b = "{\"status\":400,\"message\":\"Invalid token\"}";
  assert_int_equal(tw_oauth_decode_revoke(400, b, strlen(b), &err), TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_UNAUTHORIZED);
  b = "{\"status\":404,\"message\":\"client does not exist\"}";
  assert_int_equal(tw_oauth_decode_revoke(404, b, strlen(b), &err), TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_INVALID_CLIENT);
  /* A 3xx is not success either. */
  assert_int_equal(tw_oauth_decode_revoke(302, "", 0, &err), TW_EHTTP);
  assert_int_equal(err.result, TW_OAUTH_OTHER);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_code_exchange),
      cmocka_unit_test(test_token_variants),
      cmocka_unit_test(test_token_malformed),
      cmocka_unit_test(test_error_table),
      cmocka_unit_test(test_result_classes),
      cmocka_unit_test(test_validate),
      cmocka_unit_test(test_device),
      cmocka_unit_test(test_revoke),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
