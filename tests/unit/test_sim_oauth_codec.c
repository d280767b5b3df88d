/* twitchd's own OAuth codec (src/proto/oauth.c) against the simulator: every
 * request built with the tw_oauth_* builders, sent over HTTPS, and every
 * answer read with the tw_oauth_* decoders, so that the credentials code and
 * the simulator agree on the wire format (success and each error result). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "sim_api_test.h"
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/oauth.h"
#include "twitchd/sim.h"

#define CID TW_SIM_DEFAULT_CLIENT_ID
#define SECRET TW_SIM_DEFAULT_CLIENT_SECRET

static const char *const FORM_H[] = {"Content-Type: " TW_OAUTH_FORM_TYPE, NULL};

/* POSTs a form built by a tw_oauth_body_* builder. */
static void post(tw_simfx_t *fx, const char *path, tw_buf_t *form,
                 tw_simresp_t *r) {
  assert_int_equal(tw_buf_append(form, "", 1), 0);
  assert_int_equal(tw_simfx_api(fx, "POST", path, FORM_H, form->data, r), 0);
  tw_buf_free(form);
}

static void token_call(tw_simfx_t *fx, tw_buf_t *form, tw_oauth_token_t *t,
                       tw_oauth_error_t *e, int *rc) {
  tw_simresp_t r;
  post(fx, "/oauth2/token", form, &r);
  *rc = tw_oauth_decode_token((int)r.status, r.body.data, r.body.len,
                              tw_wall_ms(), t, e);
  tw_simresp_free(&r);
}

static void test_codec_flows(void **state) {
  (void)state;
  tw_sim_opts_t o = {.api = {.consent_login = "bot"}};
  tw_simfx_t *fx = tw_simfx_new(&o);
  assert_non_null(fx);
  tw_buf_t b;
  tw_oauth_token_t tok;
  tw_oauth_error_t err;
  int rc;

  /* The authorize URL, as twitchd builds it, against the simulator. */
  tw_scopes_t sc = {0};
  assert_int_equal(tw_scopes_add_spaced(&sc, "chat:read chat:edit", 19), 0);
  char base[128], state_hex[33];
  snprintf(base, sizeof(base), "https://localhost:%u/oauth2",
           (unsigned)fx->api_port);
  unsigned char rnd[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  assert_int_equal(tw_oauth_state_hex(rnd, 16, state_hex, sizeof(state_hex)),
                   0);
  tw_oauth_authorize_t az = {base, CID,       "http://localhost:8080/cb",
                             &sc,  state_hex, true};
  tw_buf_init(&b, TW_MAX_OAUTH_URL);
  assert_int_equal(tw_oauth_authorize_url(&b, &az), 0);
  assert_int_equal(tw_buf_append(&b, "", 1), 0);
  const char *target = strstr(b.data, "/oauth2/authorize");
  assert_non_null(target);
  tw_simresp_t r;
  assert_int_equal(tw_simfx_api(fx, "GET", target, NULL, NULL, &r), 0);
  tw_buf_free(&b);
  assert_int_equal(r.status, 302);
  tw_oauth_redirect_t rd;
  assert_int_equal(tw_oauth_parse_redirect(r.location, strlen(r.location), &rd),
                   0);
  assert_int_equal(tw_oauth_redirect_check(&rd, state_hex, &err), 0);
  assert_string_equal(rd.scope, "chat:read chat:edit");
  tw_simresp_free(&r);

  /* The code exchange. */
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_authorization_code(&b, CID, SECRET, rd.code,
                                                    "http://localhost:8080/cb"),
                   0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(tok.expires_in, 14400);
  assert_non_null(tok.refresh_token);
  assert_true(tw_scopes_has(&tok.scopes, "chat:edit"));
  char access[64], refresh[64];
  snprintf(access, sizeof(access), "%s", tok.access_token);
  snprintf(refresh, sizeof(refresh), "%s", tok.refresh_token);
  tw_oauth_token_clear(&tok);
  /* The same code again: INVALID_GRANT. */
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_authorization_code(&b, CID, SECRET, rd.code,
                                                    "http://localhost:8080/cb"),
                   0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_INVALID_GRANT);
  tw_oauth_redirect_clear(&rd);

  /* Validate. */
  tw_buf_init(&b, 2048);
  assert_int_equal(tw_oauth_validate_header(&b, access), 0);
  assert_int_equal(tw_buf_append(&b, "", 1), 0);
  const char *vh[] = {b.data, NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", vh, NULL, &r),
                   0);
  tw_buf_free(&b);
  tw_oauth_validation_t v;
  assert_int_equal(tw_oauth_decode_validate((int)r.status, r.body.data,
                                            r.body.len, &v, &err),
                   0);
  assert_string_equal(v.login, "bot");
  assert_string_equal(v.client_id, CID);
  assert_true(v.expires_in > 14000);
  assert_int_equal(v.scopes.n, 2);
  tw_oauth_validation_clear(&v);
  tw_simresp_free(&r);

  /* Refresh, then the spent refresh token. */
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_refresh(&b, CID, SECRET, refresh), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, 0);
  tw_oauth_token_clear(&tok);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_refresh(&b, CID, SECRET, refresh), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_INVALID_REFRESH_TOKEN);
  assert_true(tw_oauth_result_fatal(err.result));

  /* Client credentials; a wrong secret is INVALID_CLIENT. */
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_client_credentials(&b, CID, SECRET), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, 0);
  assert_null(tok.refresh_token);
  tw_oauth_token_clear(&tok);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_client_credentials(&b, CID, "wrong"), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(err.result, TW_OAUTH_INVALID_CLIENT);

  /* Revoke: 200 empty, then 400 "Invalid token". */
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_revoke(&b, CID, access), 0);
  post(fx, "/oauth2/revoke", &b, &r);
  assert_int_equal(
      tw_oauth_decode_revoke((int)r.status, r.body.data, r.body.len, &err), 0);
  tw_simresp_free(&r);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_revoke(&b, CID, access), 0);
  post(fx, "/oauth2/revoke", &b, &r);
  assert_int_equal(
      tw_oauth_decode_revoke((int)r.status, r.body.data, r.body.len, &err),
      TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_UNAUTHORIZED);
  tw_simresp_free(&r);
  /* A revoked token no longer validates. */
  tw_buf_init(&b, 2048);
  assert_int_equal(tw_oauth_validate_header(&b, access), 0);
  assert_int_equal(tw_buf_append(&b, "", 1), 0);
  const char *vh2[] = {b.data, NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", vh2, NULL, &r),
                   0);
  tw_buf_free(&b);
  assert_int_equal(tw_oauth_decode_validate((int)r.status, r.body.data,
                                            r.body.len, &v, &err),
                   TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_UNAUTHORIZED);
  tw_simresp_free(&r);

  /* The device flow, as a public client would run it. */
  tw_sim_client_t pub = {"pubapp", NULL, NULL, 0};
  assert_int_equal(tw_sim_add_client(fx->sim, &pub), 0);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_device_start(&b, "pubapp", &sc), 0);
  post(fx, "/oauth2/device", &b, &r);
  tw_oauth_device_t dev;
  assert_int_equal(tw_oauth_decode_device((int)r.status, r.body.data,
                                          r.body.len, &dev, &err),
                   0);
  assert_true(dev.interval >= 1);
  tw_simresp_free(&r);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(
      tw_oauth_body_device_token(&b, "pubapp", &sc, dev.device_code), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, TW_EAGAIN);
  assert_int_equal(err.result, TW_OAUTH_PENDING);
  assert_int_equal(tw_sim_device_approve(fx->sim, dev.user_code, NULL, 0), 0);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(
      tw_oauth_body_device_token(&b, "pubapp", &sc, dev.device_code), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, 0);
  snprintf(refresh, sizeof(refresh), "%s", tok.refresh_token);
  tw_oauth_token_clear(&tok);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(
      tw_oauth_body_device_token(&b, "pubapp", &sc, dev.device_code), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(err.result, TW_OAUTH_EXPIRED_DEVICE_CODE);
  tw_oauth_device_clear(&dev);
  /* A public client's refresh: no secret. */
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_refresh(&b, "pubapp", NULL, refresh), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(rc, 0);
  tw_oauth_token_clear(&tok);

  /* Denied. */
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_device_start(&b, "pubapp", &sc), 0);
  post(fx, "/oauth2/device", &b, &r);
  assert_int_equal(tw_oauth_decode_device((int)r.status, r.body.data,
                                          r.body.len, &dev, &err),
                   0);
  tw_simresp_free(&r);
  assert_int_equal(tw_sim_device_approve(fx->sim, dev.device_code, NULL, 1), 0);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(
      tw_oauth_body_device_token(&b, "pubapp", &sc, dev.device_code), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(err.result, TW_OAUTH_ACCESS_DENIED);
  tw_oauth_device_clear(&dev);

  /* Forced 429 and 500 map to the retryable results. */
  assert_int_equal(tw_sim_api_force(fx->sim, "/oauth2/token", 429, 1, NULL), 0);
  assert_int_equal(tw_sim_api_force(fx->sim, "/oauth2/device", 503, 1, NULL),
                   0);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_client_credentials(&b, CID, SECRET), 0);
  token_call(fx, &b, &tok, &err, &rc);
  assert_int_equal(err.result, TW_OAUTH_RATE_LIMITED);
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_oauth_body_device_start(&b, "pubapp", &sc), 0);
  post(fx, "/oauth2/device", &b, &r);
  assert_true(tw_oauth_decode_device((int)r.status, r.body.data, r.body.len,
                                     &dev, &err) != 0);
  assert_int_equal(err.result, TW_OAUTH_SERVER_ERROR);
  assert_true(tw_oauth_result_retryable(err.result));
  tw_simresp_free(&r);

  tw_scopes_free(&sc);
  assert_int_equal(tw_simfx_free(fx), 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec_flows),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
