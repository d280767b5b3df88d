/* The simulator's OAuth host (id.twitch.tv, docs/twitch-protocol.md section
 * 1) over real HTTPS on 127.0.0.1, trusting the simulator's CA: every
 * grant, refresh-token rotation, validate and revoke, the device flow,
 * Twitch's error bodies, chat logins honouring expiry, revocation and
 * scopes, forced responses, read-back and the control endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "twitchd/error.h"
#include "twitchd/sim.h"

#define CID TW_SIM_DEFAULT_CLIENT_ID
#define SECRET TW_SIM_DEFAULT_CLIENT_SECRET
#define FORM "Content-Type: application/x-www-form-urlencoded"

static const char *const FORM_H[] = {FORM, NULL};

static tw_simfx_t *fx_new(const tw_sim_opts_t *o) {
  tw_simfx_t *fx = tw_simfx_new(o);
  assert_non_null(fx);
  assert_non_null(fx->uc);
  assert_true(fx->api_port != 0);
  return fx;
}

static void fx_free(tw_simfx_t *fx) {
  assert_int_equal(tw_simfx_free(fx), 0);
}

/* POSTs a form to the API listener and checks the status. */
static void post_form(tw_simfx_t *fx, const char *path, const char *form,
                      long want, tw_simresp_t *r) {
  assert_int_equal(tw_simfx_api(fx, "POST", path, FORM_H, form, r), 0);
  if (r->status != want)
    fail_msg("%s: HTTP %ld, wanted %ld: %.*s", path, r->status, want,
             (int)r->body.len, r->body.data ? r->body.data : "");
}

/* Checks an id.twitch.tv error body. */
static void assert_oauth_err(const tw_simresp_t *r, long status,
                             const char *message) {
  if (r->status != status)
    fail_msg("HTTP %ld, wanted %ld: %.*s", r->status, status, (int)r->body.len,
             r->body.data ? r->body.data : "");
  assert_non_null(r->json);
  assert_int_equal(json_integer_value(json_object_get(r->json, "status")),
                   status);
  assert_string_equal(tw_simfx_jstr(r->json, "message"), message);
  /* Helix's extra member is not part of id.twitch.tv's shape. */
  assert_null(json_object_get(r->json, "error"));
}

static void expect_err(tw_simfx_t *fx, const char *path, const char *form,
                       long status, const char *message) {
  tw_simresp_t r;
  assert_int_equal(tw_simfx_api(fx, "POST", path, FORM_H, form, &r), 0);
  assert_oauth_err(&r, status, message);
  tw_simresp_free(&r);
}

/* The value of `key` in a URL's query or fragment, decoded ('+' = ' '). */
static void url_param(const char *url, const char *key, char *out, size_t cap) {
  out[0] = '\0';
  const char *p = strpbrk(url, "?#");
  size_t klen = strlen(key);
  while (p) {
    p++;
    if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
      p += klen + 1;
      size_t o = 0;
      while (*p && *p != '&' && o + 1 < cap) {
        if (*p == '+') {
          out[o++] = ' ';
          p++;
        } else if (*p == '%' && p[1] && p[2]) {
          char hex[3] = {p[1], p[2], 0};
          out[o++] = (char)strtol(hex, NULL, 16);
          p += 3;
        } else {
          out[o++] = *p++;
        }
      }
      out[o] = '\0';
      return;
    }
    p = strpbrk(p, "&#");
  }
}

/* Runs /oauth2/authorize and returns the code. */
static void authorize(tw_simfx_t *fx, const char *scope_enc, char *code,
                      size_t cap) {
  char path[1024];
  snprintf(path, sizeof(path),
           "/oauth2/authorize?response_type=code&client_id=" CID
           "&redirect_uri=http%%3A%%2F%%2Flocalhost%%3A3000%%2Fcb"
           "&scope=%s&state=st4te123&force_verify=true",
           scope_enc);
  tw_simresp_t r;
  assert_int_equal(tw_simfx_api(fx, "GET", path, NULL, NULL, &r), 0);
  assert_int_equal(r.status, 302);
  assert_true(strncmp(r.location, "http://localhost:3000/cb?", 25) == 0);
  char state[64];
  url_param(r.location, "state", state, sizeof(state));
  assert_string_equal(state, "st4te123");
  url_param(r.location, "code", code, cap);
  assert_true(strlen(code) > 10);
  tw_simresp_free(&r);
}

static const char *jget(const json_t *o, const char *k) {
  return tw_simfx_jstr(o, k);
}

/* ---- authorization code -------------------------------------------------- */

static void test_authorization_code(void **state) {
  (void)state;
  tw_sim_opts_t o = {.api = {.consent_login = "streamer"}};
  tw_simfx_t *fx = fx_new(&o);
  char code[128], form[1024];
  tw_simresp_t r;

  authorize(fx, "chat%3Aread+chat%3Aedit", code, sizeof(code));
  char path[1024];
  snprintf(path, sizeof(path),
           "/oauth2/authorize?response_type=code&client_id=" CID
           "&redirect_uri=http%%3A%%2F%%2Flocalhost%%2Fcb&scope=chat%%3Aread");
  assert_int_equal(tw_simfx_api(fx, "GET", path, NULL, NULL, &r), 0);
  char scope[128];
  url_param(r.location, "scope", scope, sizeof(scope));
  assert_string_equal(scope, "chat:read");
  tw_simresp_free(&r);

  /* Wrong secret, unknown client, missing secret: Twitch's errors. */
  snprintf(form, sizeof(form),
           "client_id=" CID "&client_secret=nope&code=%s"
           "&grant_type=authorization_code&redirect_uri=http%%3A%%2F%%2F"
           "localhost%%3A3000%%2Fcb",
           code);
  expect_err(fx, "/oauth2/token", form, 403, "invalid client secret");
  expect_err(fx, "/oauth2/token",
             "client_id=unknown&client_secret=x&code=abc&grant_type="
             "authorization_code&redirect_uri=http://localhost:3000/cb",
             400, "invalid client");
  expect_err(fx, "/oauth2/token",
             "client_id=" CID "&code=abc&grant_type=authorization_code"
             "&redirect_uri=http://localhost:3000/cb",
             400, "missing client secret");
  expect_err(fx, "/oauth2/token",
             "client_id=" CID "&client_secret=" SECRET
             "&code=notacode&grant_type=authorization_code"
             "&redirect_uri=http://localhost:3000/cb",
             400, "Invalid authorization code");

  /* The exchange. */
  snprintf(form, sizeof(form),
           "client_id=" CID "&client_secret=" SECRET "&code=%s"
           "&grant_type=authorization_code&redirect_uri=http%%3A%%2F%%2F"
           "localhost%%3A3000%%2Fcb",
           code);
  post_form(fx, "/oauth2/token", form, 200, &r);
  const char *at = jget(r.json, "access_token");
  assert_int_equal(strlen(at), 30);
  assert_int_equal(strlen(jget(r.json, "refresh_token")), 50);
  assert_string_equal(jget(r.json, "token_type"), "bearer");
  assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")),
                   14400);
  json_t *sc = json_object_get(r.json, "scope");
  assert_true(json_is_array(sc));
  assert_int_equal(json_array_size(sc), 2);
  assert_string_equal(json_string_value(json_array_get(sc, 0)), "chat:read");
  char token[64];
  snprintf(token, sizeof(token), "%s", at);
  tw_simresp_free(&r);

  /* Codes are single-use. */
  expect_err(fx, "/oauth2/token", form, 400, "Invalid authorization code");

  /* The token belongs to the consenting user, for this client, and logs in
   * to chat. */
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(fx->sim, token, &ti), 0);
  assert_string_equal(ti.login, "streamer");
  assert_string_equal(ti.client_id, CID);
  assert_string_equal(ti.scopes, "chat:read chat:edit");
  assert_false(ti.app);
  assert_true(ti.expires_in_ms > 14000 * 1000);
  tw_simirc_t *c = tw_simirc_login(fx, token, "streamer");
  assert_true(tw_simirc_ok(c));
  tw_simirc_close(c);

  /* A code redeemed with another redirect_uri is refused, and spent. */
  authorize(fx, "chat%3Aread", code, sizeof(code));
  snprintf(form, sizeof(form),
           "client_id=" CID "&client_secret=" SECRET "&code=%s"
           "&grant_type=authorization_code&redirect_uri=http://evil/cb",
           code);
  assert_int_equal(tw_simfx_api(fx, "POST", "/oauth2/token", FORM_H, form, &r),
                   0);
  assert_int_equal(r.status, 400);
  tw_simresp_free(&r);

  /* Fields as query parameters, no body (what twurple and opsdroid send). */
  authorize(fx, "", code, sizeof(code));
  char qpath[1024];
  snprintf(qpath, sizeof(qpath),
           "/oauth2/token?client_id=" CID "&client_secret=" SECRET
           "&code=%s&grant_type=authorization_code"
           "&redirect_uri=http://localhost:3000/cb",
           code);
  assert_int_equal(tw_simfx_api(fx, "POST", qpath, NULL, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  /* No scope requested: no scope member. */
  assert_null(json_object_get(r.json, "scope"));
  tw_simresp_free(&r);
  fx_free(fx);
}

static void test_authorize_errors_and_clients(void **state) {
  (void)state;
  tw_simfx_t *fx = fx_new(NULL);
  tw_simresp_t r;
  const char *uris[] = {"https://app.example/cb"};
  tw_sim_client_t c = {"myapp", "s3cret", uris, 1};
  assert_int_equal(tw_sim_add_client(fx->sim, &c), 0);

  /* Unknown client, unregistered redirect: an error page, no redirect. */
  assert_int_equal(
      tw_simfx_api(fx, "GET",
                   "/oauth2/authorize?response_type=code&client_id=nobody"
                   "&redirect_uri=https://app.example/cb",
                   NULL, NULL, &r),
      0);
  assert_oauth_err(&r, 400, "invalid client");
  tw_simresp_free(&r);
  assert_int_equal(
      tw_simfx_api(fx, "GET",
                   "/oauth2/authorize?response_type=code&client_id=myapp"
                   "&redirect_uri=https://other.example/cb",
                   NULL, NULL, &r),
      0);
  assert_int_equal(r.status, 400);
  assert_string_equal(r.location, "");
  tw_simresp_free(&r);

  /* A registered one; the redirect keeps the URI's own query. */
  uris[0] = "https://app.example/cb?x=1";
  assert_int_equal(tw_sim_add_client(fx->sim, &c), 0);
  assert_int_equal(
      tw_simfx_api(fx, "GET",
                   "/oauth2/authorize?response_type=code&client_id=myapp"
                   "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1"
                   "&state=abc",
                   NULL, NULL, &r),
      0);
  assert_int_equal(r.status, 302);
  assert_true(strncmp(r.location, "https://app.example/cb?x=1&code=", 32) == 0);
  tw_simresp_free(&r);

  /* Consent denied: the redirect carries access_denied. */
  assert_int_equal(tw_sim_set_consent(fx->sim, NULL), 0);
  assert_int_equal(
      tw_simfx_api(fx, "GET",
                   "/oauth2/authorize?response_type=code&client_id=myapp"
                   "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1"
                   "&state=abc",
                   NULL, NULL, &r),
      0);
  assert_int_equal(r.status, 302);
  char err[64], st[64];
  url_param(r.location, "error", err, sizeof(err));
  url_param(r.location, "state", st, sizeof(st));
  assert_string_equal(err, "access_denied");
  assert_string_equal(st, "abc");
  tw_simresp_free(&r);

  /* The implicit grant: the token in the fragment. */
  assert_int_equal(tw_sim_set_consent(fx->sim, "viewer"), 0);
  assert_int_equal(
      tw_simfx_api(fx, "GET",
                   "/oauth2/authorize?response_type=token&client_id=myapp"
                   "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1"
                   "&scope=chat%3Aread",
                   NULL, NULL, &r),
      0);
  assert_int_equal(r.status, 302);
  assert_non_null(strchr(r.location, '#'));
  char at[64];
  url_param(r.location, "access_token", at, sizeof(at));
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(fx->sim, at, &ti), 0);
  assert_string_equal(ti.login, "viewer");
  assert_string_equal(ti.client_id, "myapp");
  tw_simresp_free(&r);

  /* A public client has no client credentials grant. */
  tw_sim_client_t pub = {"pubapp", NULL, NULL, 0};
  assert_int_equal(tw_sim_add_client(fx->sim, &pub), 0);
  expect_err(fx, "/oauth2/token",
             "client_id=pubapp&grant_type=client_credentials", 400,
             "invalid client");
  /* Bad clients are refused by the C API. */
  tw_sim_client_t bad = {"has space", NULL, NULL, 0};
  assert_int_equal(tw_sim_add_client(fx->sim, &bad), TW_EINVAL);
  fx_free(fx);
}

/* ---- refresh ------------------------------------------------------------- */

static void test_refresh_rotation(void **state) {
  (void)state;
  tw_simfx_t *fx = fx_new(NULL);
  char code[128], form[1024], rt1[64], rt2[64], at1[64];
  tw_simresp_t r;
  authorize(fx, "chat%3Aread+clips%3Aedit", code, sizeof(code));
  snprintf(form, sizeof(form),
           "client_id=" CID "&client_secret=" SECRET "&code=%s"
           "&grant_type=authorization_code&redirect_uri=http://localhost:3000/"
           "cb",
           code);
  post_form(fx, "/oauth2/token", form, 200, &r);
  snprintf(rt1, sizeof(rt1), "%s", jget(r.json, "refresh_token"));
  snprintf(at1, sizeof(at1), "%s", jget(r.json, "access_token"));
  tw_simresp_free(&r);

  /* Refresh: a new pair, same scopes. */
  snprintf(form, sizeof(form),
           "grant_type=refresh_token&refresh_token=%s&client_id=" CID
           "&client_secret=" SECRET,
           rt1);
  post_form(fx, "/oauth2/token", form, 200, &r);
  snprintf(rt2, sizeof(rt2), "%s", jget(r.json, "refresh_token"));
  assert_string_not_equal(rt1, rt2);
  assert_string_not_equal(at1, jget(r.json, "access_token"));
  assert_int_equal(json_array_size(json_object_get(r.json, "scope")), 2);
  tw_sim_token_info_t ti;
  assert_int_equal(
      tw_sim_token_info(fx->sim, jget(r.json, "access_token"), &ti), 0);
  assert_string_equal(ti.login, TW_SIM_DEFAULT_CONSENT_LOGIN);
  tw_simresp_free(&r);

  /* The old refresh token is spent. */
  expect_err(fx, "/oauth2/token", form, 400, "Invalid refresh token");
  /* The new one works once, not for another client, not without the
   * secret of a confidential client. */
  tw_sim_client_t other = {"other", "othersecret", NULL, 0};
  assert_int_equal(tw_sim_add_client(fx->sim, &other), 0);
  snprintf(form, sizeof(form),
           "grant_type=refresh_token&refresh_token=%s&client_id=other"
           "&client_secret=othersecret",
           rt2);
  expect_err(fx, "/oauth2/token", form, 400, "Invalid refresh token");
  snprintf(form, sizeof(form),
           "grant_type=refresh_token&refresh_token=%s&client_id=" CID, rt2);
  expect_err(fx, "/oauth2/token", form, 400, "missing client secret");
  snprintf(form, sizeof(form),
           "grant_type=refresh_token&refresh_token=%s&client_id=" CID
           "&client_secret=" SECRET,
           rt2);
  post_form(fx, "/oauth2/token", form, 200, &r);
  tw_simresp_free(&r);
  expect_err(fx, "/oauth2/token", form, 400, "Invalid refresh token");
  expect_err(fx, "/oauth2/token",
             "grant_type=refresh_token&client_id=" CID "&client_secret=" SECRET,
             400, "Invalid refresh token");

  tw_sim_api_counters_t k;
  tw_sim_api_counters(fx->sim, &k);
  assert_int_equal(k.refreshes, 2);
  assert_int_equal(k.tokens_issued, 3);
  fx_free(fx);
}

/* ---- client credentials, validate, revoke, expiry ------------------------ */

static void test_client_credentials_validate_revoke(void **state) {
  (void)state;
  tw_simfx_t *fx = fx_new(NULL);
  tw_simresp_t r;
  post_form(fx, "/oauth2/token",
            "client_id=" CID "&client_secret=" SECRET
            "&grant_type=client_credentials",
            200, &r);
  char app[64];
  snprintf(app, sizeof(app), "%s", jget(r.json, "access_token"));
  assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")),
                   5011271);
  assert_null(json_object_get(r.json, "refresh_token"));
  tw_simresp_free(&r);

  /* Validate an app token: no login, scopes null. */
  char auth[128];
  snprintf(auth, sizeof(auth), "Authorization: OAuth %s", app);
  const char *h[] = {auth, NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", h, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(jget(r.json, "client_id"), CID);
  assert_null(json_object_get(r.json, "login"));
  assert_true(json_is_null(json_object_get(r.json, "scopes")));
  tw_simresp_free(&r);
  /* An app token cannot log in to chat. */
  tw_simirc_t *c = tw_simirc_login(fx, app, "anyone");
  assert_false(tw_simirc_ok(c));
  assert_true(tw_simirc_seen(c, "Login authentication failed"));
  tw_simirc_close(c);

  /* A chat token (tw_sim_add_token): validate with "Bearer". */
  assert_int_equal(tw_sim_add_token(fx->sim, "chattok", "bot", 0), 0);
  const char *hb[] = {"Authorization: Bearer chattok", NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", hb, NULL, &r),
                   0);
  assert_int_equal(r.status, 200);
  assert_string_equal(jget(r.json, "login"), "bot");
  assert_int_equal(json_array_size(json_object_get(r.json, "scopes")), 2);
  assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")),
                   0);
  assert_true(strlen(jget(r.json, "user_id")) > 0);
  tw_simresp_free(&r);

  /* Missing and bad tokens. */
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", NULL, NULL, &r),
                   0);
  assert_oauth_err(&r, 401, "missing authorization token");
  tw_simresp_free(&r);
  const char *hx[] = {"Authorization: OAuth nosuchtoken", NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", hx, NULL, &r),
                   0);
  assert_oauth_err(&r, 401, "invalid access token");
  tw_simresp_free(&r);

  /* Revoke: unknown client, unknown token, then the real thing. */
  expect_err(fx, "/oauth2/revoke", "client_id=nobody&token=chattok", 404,
             "client does not exist");
  expect_err(fx, "/oauth2/revoke", "client_id=" CID "&token=nosuch", 400,
             "Invalid token");
  post_form(fx, "/oauth2/revoke", "client_id=" CID "&token=chattok", 200, &r);
  assert_int_equal(r.body.len, 0);
  tw_simresp_free(&r);
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", hb, NULL, &r),
                   0);
  assert_oauth_err(&r, 401, "invalid access token");
  tw_simresp_free(&r);
  expect_err(fx, "/oauth2/revoke", "client_id=" CID "&token=chattok", 400,
             "Invalid token");
  c = tw_simirc_login(fx, "chattok", "bot");
  assert_false(tw_simirc_ok(c));
  assert_true(tw_simirc_seen(c, "Login authentication failed"));
  tw_simirc_close(c);

  /* Expiry by control: validate and chat refuse it; re-adding revives. */
  assert_int_equal(tw_sim_add_token(fx->sim, "tok2", "bot", 0), 0);
  c = tw_simirc_login(fx, "tok2", "bot");
  assert_true(tw_simirc_ok(c));
  tw_simirc_close(c);
  assert_int_equal(tw_sim_expire_token(fx->sim, "tok2"), 0);
  assert_int_equal(tw_sim_expire_token(fx->sim, "nope"), TW_ENOTFOUND);
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(fx->sim, "tok2", &ti), 0);
  assert_true(ti.expired);
  assert_int_equal(ti.expires_in_ms, 0);
  const char *h2[] = {"Authorization: OAuth tok2", NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", h2, NULL, &r),
                   0);
  assert_oauth_err(&r, 401, "invalid access token");
  tw_simresp_free(&r);
  c = tw_simirc_login(fx, "tok2", "bot");
  assert_false(tw_simirc_ok(c));
  assert_true(tw_simirc_seen(c, "Login authentication failed"));
  tw_simirc_close(c);
  fx_free(fx);
}

/* A short lifetime: the token dies on its own. */
typedef struct {
  int fired;
} tick_t;

static void on_tick(uv_timer_t *t) {
  ((tick_t *)t->data)->fired = 1;
}

static void test_token_lifetime(void **state) {
  (void)state;
  tw_sim_opts_t o = {.api = {.user_token_ttl_ms = 50}};
  tw_simfx_t *fx = fx_new(&o);
  char code[128], form[1024], at[64], rt[64];
  tw_simresp_t r;
  authorize(fx, "chat%3Aread", code, sizeof(code));
  snprintf(form, sizeof(form),
           "client_id=" CID "&client_secret=" SECRET "&code=%s"
           "&grant_type=authorization_code&redirect_uri=http://localhost:3000/"
           "cb",
           code);
  post_form(fx, "/oauth2/token", form, 200, &r);
  /* 50 ms, rounded up to whole seconds. */
  assert_int_equal(json_integer_value(json_object_get(r.json, "expires_in")),
                   1);
  snprintf(at, sizeof(at), "%s", jget(r.json, "access_token"));
  snprintf(rt, sizeof(rt), "%s", jget(r.json, "refresh_token"));
  tw_simresp_free(&r);
  /* Let the lifetime pass (a timer, then a check: no duration asserted). */
  tick_t t = {0};
  uv_timer_t timer;
  uv_timer_init(&fx->loop, &timer);
  timer.data = &t;
  uv_timer_start(&timer, on_tick, 120, 0);
  assert_true(tw_test_run_flag(&fx->loop, &t.fired));
  uv_close((uv_handle_t *)&timer, NULL);
  char auth[128];
  snprintf(auth, sizeof(auth), "Authorization: OAuth %s", at);
  const char *h[] = {auth, NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", h, NULL, &r), 0);
  assert_oauth_err(&r, 401, "invalid access token");
  tw_simresp_free(&r);
  tw_simirc_t *c = tw_simirc_login(fx, at, TW_SIM_DEFAULT_CONSENT_LOGIN);
  assert_false(tw_simirc_ok(c));
  tw_simirc_close(c);
  /* Its refresh token still gets a fresh one. */
  snprintf(form, sizeof(form),
           "grant_type=refresh_token&refresh_token=%s&client_id=" CID
           "&client_secret=" SECRET,
           rt);
  post_form(fx, "/oauth2/token", form, 200, &r);
  tw_simresp_free(&r);
  fx_free(fx);
}

/* ---- chat scopes ----------------------------------------------------------
 */

static void test_chat_scopes(void **state) {
  (void)state;
  tw_simfx_t *fx = fx_new(NULL);
  tw_sim_token_t ro = {
      .token = "readonly", .login = "bot", .scopes = "chat:read"};
  tw_sim_token_t none = {
      .token = "noscope", .login = "bot", .scopes = "clips:edit"};
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &ro), 0);
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &none), 0);
  tw_sim_token_t bad = {.token = "x", .login = NULL, .client_id = ""};
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &bad), TW_EINVAL);

  tw_simirc_t *c = tw_simirc_login(fx, "noscope", "bot");
  assert_false(tw_simirc_ok(c));
  tw_simirc_close(c);
  c = tw_simirc_login(fx, "readonly", "bot");
  assert_true(tw_simirc_ok(c));
  tw_simirc_send(c, "JOIN #chan");
  assert_non_null(tw_simirc_wait(c, "USERSTATE #chan"));
  tw_simirc_send(c, "PRIVMSG #chan :hello");
  tw_simirc_send(c, "PING :sync");
  assert_non_null(tw_simirc_wait(c, "PONG"));
  tw_sim_user_counters_t uc;
  assert_int_equal(tw_sim_user_counters(fx->sim, "bot", &uc), 0);
  assert_int_equal(uc.sent, 0);
  assert_int_equal(uc.dropped_other, 1); /* no chat:edit */
  tw_simirc_close(c);

  /* A token with a lifetime reports it. */
  tw_sim_token_t ttl = {
      .token = "short", .login = "bot", .scopes = "chat:read", .ttl_ms = 60000};
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &ttl), 0);
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(fx->sim, "short", &ti), 0);
  assert_true(ti.expires_in_ms > 0 && ti.expires_in_ms <= 60000);
  fx_free(fx);
}

/* ---- device code ----------------------------------------------------------
 */

static void device_start(tw_simfx_t *fx, const char *client, char *dc,
                         char *uc) {
  tw_simresp_t r;
  char form[256];
  snprintf(form, sizeof(form),
           "client_id=%s&scopes=chat%%3Aread%%20chat%%3Aedit", client);
  post_form(fx, "/oauth2/device", form, 200, &r);
  snprintf(dc, 64, "%s", jget(r.json, "device_code"));
  snprintf(uc, 16, "%s", jget(r.json, "user_code"));
  assert_int_equal(strlen(dc), 40);
  assert_int_equal(strlen(uc), 8);
  assert_true(json_integer_value(json_object_get(r.json, "expires_in")) > 0);
  assert_true(json_integer_value(json_object_get(r.json, "interval")) >= 1);
  assert_non_null(strstr(jget(r.json, "verification_uri"), uc));
  tw_simresp_free(&r);
}

static void device_poll(tw_simfx_t *fx, const char *client, const char *dc,
                        tw_simresp_t *r) {
  char form[512];
  snprintf(form, sizeof(form),
           "client_id=%s&scopes=chat%%3Aread&device_code=%s&grant_type="
           "urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Adevice_code",
           client, dc);
  assert_int_equal(tw_simfx_api(fx, "POST", "/oauth2/token", FORM_H, form, r),
                   0);
}

static void test_device_flow(void **state) {
  (void)state;
  tw_sim_opts_t o = {
      .api = {.device_interval_ms = 200, .consent_login = "devuser"}};
  tw_simfx_t *fx = fx_new(&o);
  tw_sim_client_t pub = {"cliapp", NULL, NULL, 0};
  assert_int_equal(tw_sim_add_client(fx->sim, &pub), 0);
  char dc[64], uc[16];
  tw_simresp_t r;

  expect_err(fx, "/oauth2/device", "client_id=nobody&scopes=chat%3Aread", 400,
             "invalid client");
  device_start(fx, "cliapp", dc, uc);
  device_poll(fx, "cliapp", dc, &r);
  assert_oauth_err(&r, 400, "authorization_pending");
  tw_simresp_free(&r);
  device_poll(fx, "cliapp", "WRONGCODE", &r);
  assert_oauth_err(&r, 400, "invalid device code");
  tw_simresp_free(&r);
  /* Another client cannot redeem it. */
  device_poll(fx, CID, dc, &r);
  assert_oauth_err(&r, 400, "invalid device code");
  tw_simresp_free(&r);

  /* Approved by user code through the C API. */
  assert_int_equal(tw_sim_device_approve(fx->sim, "NOPE", NULL, 0),
                   TW_ENOTFOUND);
  assert_int_equal(tw_sim_device_approve(fx->sim, uc, NULL, 0), 0);
  device_poll(fx, "cliapp", dc, &r);
  assert_int_equal(r.status, 200);
  char at[64], rt[64];
  snprintf(at, sizeof(at), "%s", jget(r.json, "access_token"));
  snprintf(rt, sizeof(rt), "%s", jget(r.json, "refresh_token"));
  assert_int_equal(json_array_size(json_object_get(r.json, "scope")), 2);
  tw_simresp_free(&r);
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(fx->sim, at, &ti), 0);
  assert_string_equal(ti.login, "devuser");
  assert_string_equal(ti.client_id, "cliapp");
  /* Spent. */
  device_poll(fx, "cliapp", dc, &r);
  assert_oauth_err(&r, 400, "invalid device code");
  tw_simresp_free(&r);
  /* A public client refreshes without a secret. */
  char form[256];
  snprintf(form, sizeof(form),
           "grant_type=refresh_token&refresh_token=%s&client_id=cliapp", rt);
  post_form(fx, "/oauth2/token", form, 200, &r);
  tw_simresp_free(&r);
  expect_err(fx, "/oauth2/token", form, 400, "Invalid refresh token");

  /* Denied, by device code, through the control endpoint. */
  device_start(fx, "cliapp", dc, uc);
  char body[256];
  snprintf(body, sizeof(body), "{\"code\":\"%s\",\"deny\":true}", dc);
  long st = 0;
  json_t *j = tw_simfx_control(fx, "POST", "/api/device/approve", body, &st);
  assert_int_equal(st, 200);
  json_decref(j);
  device_poll(fx, "cliapp", dc, &r);
  assert_oauth_err(&r, 400, "access_denied");
  tw_simresp_free(&r);

  /* Approved by "opening" the verification URI. */
  device_start(fx, "cliapp", dc, uc);
  char path[128];
  snprintf(path, sizeof(path), "/activate?device-code=%s", uc);
  assert_int_equal(tw_simfx_api(fx, "GET", path, NULL, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  tw_simresp_free(&r);
  device_poll(fx, "cliapp", dc, &r);
  assert_int_equal(r.status, 200);
  tw_simresp_free(&r);
  fx_free(fx);
}

static void test_device_auto_expiry_slowdown(void **state) {
  (void)state;
  tw_sim_opts_t o = {.api = {.device_auto_approve = 2,
                             .device_interval_ms = 60000,
                             .device_slow_down = 0}};
  tw_simfx_t *fx = fx_new(&o);
  char dc[64], uc[16];
  tw_simresp_t r;
  /* Two pending polls, then the token. */
  device_start(fx, CID, dc, uc);
  for (int i = 0; i < 2; i++) {
    device_poll(fx, CID, dc, &r);
    assert_oauth_err(&r, 400, "authorization_pending");
    tw_simresp_free(&r);
  }
  device_poll(fx, CID, dc, &r);
  assert_int_equal(r.status, 200);
  tw_simresp_free(&r);
  fx_free(fx);

  /* Expiry: 100 ms. */
  tw_sim_opts_t e = {.api = {.device_ttl_ms = 100}};
  fx = fx_new(&e);
  device_start(fx, CID, dc, uc);
  tick_t t = {0};
  uv_timer_t timer;
  uv_timer_init(&fx->loop, &timer);
  timer.data = &t;
  uv_timer_start(&timer, on_tick, 150, 0);
  assert_true(tw_test_run_flag(&fx->loop, &t.fired));
  uv_close((uv_handle_t *)&timer, NULL);
  device_poll(fx, CID, dc, &r);
  assert_oauth_err(&r, 400, "invalid device code");
  tw_simresp_free(&r);
  assert_int_equal(tw_sim_device_approve(fx->sim, uc, NULL, 0), TW_ENOTFOUND);
  fx_free(fx);

  /* slow_down: a second poll within the interval. */
  tw_sim_opts_t p = {
      .api = {.device_interval_ms = 60000, .device_slow_down = 1}};
  fx = fx_new(&p);
  device_start(fx, CID, dc, uc);
  device_poll(fx, CID, dc, &r);
  assert_oauth_err(&r, 400, "authorization_pending");
  tw_simresp_free(&r);
  device_poll(fx, CID, dc, &r);
  assert_oauth_err(&r, 400, "slow_down");
  tw_simresp_free(&r);
  fx_free(fx);
}

/* ---- forced answers, bad requests, read-back ----------------------------- */

typedef struct {
  size_t n;
  uint64_t last_seq;
  unsigned last_status;
} obs_t;

static void on_event(void *ud, const tw_sim_event_t *ev) {
  obs_t *o = ud;
  if (ev->kind != TW_SIM_EV_API)
    return;
  o->n++;
  o->last_seq = ev->api->seq;
  o->last_status = ev->api->status;
}

typedef struct {
  size_t n;
  int saw_form, saw_auth;
  unsigned statuses[16];
} rb_t;

static int rb_cb(void *ud, const tw_sim_api_req_t *q) {
  rb_t *x = ud;
  if (x->n < 16)
    x->statuses[x->n] = q->status;
  x->n++;
  if (strstr(q->body, "grant_type=client_credentials") &&
      strcmp(q->method, "POST") == 0)
    x->saw_form = 1;
  if (q->authorization && strcmp(q->authorization, "OAuth abc") == 0 &&
      strcmp(q->query, "x=1&y=%20") == 0)
    x->saw_auth = 1;
  return 0;
}

static void test_forced_bad_readback(void **state) {
  (void)state;
  tw_simfx_t *fx = fx_new(NULL);
  obs_t ob = {0};
  tw_sim_set_observer(fx->sim, on_event, &ob);
  tw_simresp_t r;
  const char *cc = "client_id=" CID "&client_secret=" SECRET
                   "&grant_type=client_credentials";

  /* Two forced 500s, then the real answer. */
  assert_int_equal(tw_sim_api_force(fx->sim, "/oauth2/token", 500, 2, NULL), 0);
  expect_err(fx, "/oauth2/token", cc, 500, "Internal Server Error");
  expect_err(fx, "/oauth2/token", cc, 500, "Internal Server Error");
  post_form(fx, "/oauth2/token", cc, 200, &r);
  tw_simresp_free(&r);
  /* A forced 429 with a message, through the control interface. */
  long st = 0;
  json_t *j = tw_simfx_control(
      fx, "POST", "/api/force",
      "{\"path\":\"/oauth2/validate\",\"status\":429,\"message\":\"slow\"}",
      &st);
  assert_int_equal(st, 200);
  json_decref(j);
  const char *h[] = {"Authorization: OAuth abc", NULL};
  assert_int_equal(
      tw_simfx_api(fx, "GET", "/oauth2/validate?x=1&y=%20", h, NULL, &r), 0);
  assert_oauth_err(&r, 429, "slow");
  assert_int_equal(r.rl_remaining, 0);
  assert_true(r.rl_limit > 0);
  tw_simresp_free(&r);
  assert_int_equal(tw_sim_api_force(fx->sim, "/x", 200, 1, NULL), TW_EINVAL);
  assert_int_equal(tw_sim_api_force(fx->sim, "/oauth2/token", 503, 5, NULL), 0);
  tw_sim_api_force_clear(fx->sim);
  post_form(fx, "/oauth2/token", cc, 200, &r);
  tw_simresp_free(&r);

  /* Bad requests: Twitch's error bodies, never a crash. */
  expect_err(fx, "/oauth2/token", "grant_type=%zz", 400, "malformed request");
  expect_err(fx, "/oauth2/token", "client_id=" CID, 400, "missing grant_type");
  expect_err(fx, "/oauth2/token",
             "grant_type=password&client_id=" CID "&client_secret=" SECRET, 400,
             "unsupported grant type");
  expect_err(fx, "/oauth2/nothing", "", 404, "Not Found");
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/token", NULL, NULL, &r), 0);
  assert_int_equal(r.status, 404);
  tw_simresp_free(&r);
  char *big = malloc(TW_SIM_MAX_API_BODY + 100);
  assert_non_null(big);
  memset(big, 'a', TW_SIM_MAX_API_BODY + 99);
  big[TW_SIM_MAX_API_BODY + 99] = '\0';
  expect_err(fx, "/oauth2/token", big, 413, "request body too large");
  free(big);

  /* Read-back: everything, in order, as sent. */
  rb_t rb = {0};
  size_t n = tw_sim_api_foreach(fx->sim, 0, NULL, rb_cb, &rb);
  assert_int_equal(n, tw_sim_api_last_seq(fx->sim));
  assert_int_equal(rb.statuses[0], 500);
  assert_int_equal(rb.statuses[1], 500);
  assert_int_equal(rb.statuses[2], 200);
  assert_int_equal(rb.statuses[3], 429);
  assert_true(rb.saw_form);
  assert_true(rb.saw_auth);
  assert_int_equal(ob.n, n);
  assert_int_equal(ob.last_seq, n);
  assert_int_equal(ob.last_status, 413);
  rb_t rb2 = {0};
  assert_int_equal(
      tw_sim_api_foreach(fx->sim, 0, "/oauth2/validate", rb_cb, &rb2), 1);

  /* The same through the control interface, filtered and paged. */
  j = tw_simfx_control(fx, "GET", "/api/requests?path=/oauth2/validate", NULL,
                       &st);
  assert_int_equal(st, 200);
  json_t *reqs = json_object_get(j, "requests");
  assert_int_equal(json_array_size(reqs), 1);
  json_t *q0 = json_array_get(reqs, 0);
  assert_string_equal(tw_simfx_jstr(q0, "authorization"), "OAuth abc");
  assert_string_equal(tw_simfx_jstr(q0, "query"), "x=1&y=%20");
  assert_int_equal(json_integer_value(json_object_get(q0, "status")), 429);
  assert_true(json_is_true(json_object_get(q0, "forced")));
  json_decref(j);
  j = tw_simfx_control(fx, "GET", "/api/requests?since=2&limit=1", NULL, &st);
  reqs = json_object_get(j, "requests");
  assert_int_equal(json_array_size(reqs), 1);
  assert_int_equal(
      json_integer_value(json_object_get(json_array_get(reqs, 0), "seq")), 3);
  assert_string_equal(tw_simfx_jstr(json_array_get(reqs, 0), "body"), cc);
  json_decref(j);
  /* A long poll waits for the next request. */
  char lp[128];
  snprintf(lp, sizeof(lp), "/api/requests?since=%llu&wait_ms=15000",
           (unsigned long long)tw_sim_api_last_seq(fx->sim));
  tw_simcall_t *call = tw_simfx_control_start(fx, "GET", lp, NULL);
  assert_non_null(call);
  /* Let the poll arrive and be suspended before the request it waits for. */
  j = tw_simfx_control(fx, "GET", "/health", NULL, &st);
  json_decref(j);
  const char *hv[] = {"Authorization: OAuth longpoll", NULL};
  assert_int_equal(tw_simfx_api(fx, "GET", "/oauth2/validate", hv, NULL, &r),
                   0);
  tw_simresp_free(&r);
  j = tw_simfx_control_finish(fx, call, &st);
  assert_int_equal(st, 200);
  reqs = json_object_get(j, "requests");
  assert_int_equal(json_array_size(reqs), 1);
  assert_string_equal(tw_simfx_jstr(json_array_get(reqs, 0), "authorization"),
                      "OAuth longpoll");
  json_decref(j);
  n++;
  j = tw_simfx_control(fx, "GET", "/api/counters", NULL, &st);
  assert_int_equal(json_integer_value(json_object_get(j, "forced")), 3);
  assert_int_equal(json_integer_value(json_object_get(j, "requests")), n);
  json_decref(j);
  tw_sim_set_observer(fx->sim, NULL, NULL);
  fx_free(fx);
}

static void test_control_tokens(void **state) {
  (void)state;
  tw_simfx_t *fx = fx_new(NULL);
  long st = 0;
  json_t *j;
  j = tw_simfx_control(fx, "POST", "/api/clients",
                       "{\"client_id\":\"c2\",\"client_secret\":\"s2\","
                       "\"redirect_uris\":[\"http://localhost/cb\"]}",
                       &st);
  assert_int_equal(st, 200);
  json_decref(j);
  j = tw_simfx_control(fx, "POST", "/api/tokens",
                       "{\"token\":\"ctok\",\"login\":\"alice\","
                       "\"client_id\":\"c2\",\"scopes\":\"chat:read "
                       "clips:edit\",\"ttl_ms\":600000}",
                       &st);
  assert_int_equal(st, 200);
  json_decref(j);
  j = tw_simfx_control(fx, "GET", "/api/tokens?token=ctok", NULL, &st);
  assert_int_equal(st, 200);
  assert_string_equal(tw_simfx_jstr(j, "login"), "alice");
  assert_string_equal(tw_simfx_jstr(j, "client_id"), "c2");
  assert_string_equal(tw_simfx_jstr(j, "scopes"), "chat:read clips:edit");
  assert_false(json_is_true(json_object_get(j, "expired")));
  json_decref(j);
  j = tw_simfx_control(fx, "POST", "/api/tokens/expire", "{\"token\":\"ctok\"}",
                       &st);
  assert_int_equal(st, 200);
  json_decref(j);
  j = tw_simfx_control(fx, "GET", "/api/tokens?token=ctok", NULL, &st);
  assert_true(json_is_true(json_object_get(j, "expired")));
  json_decref(j);
  j = tw_simfx_control(fx, "POST", "/api/tokens/revoke", "{\"token\":\"ctok\"}",
                       &st);
  assert_int_equal(st, 200);
  json_decref(j);
  j = tw_simfx_control(fx, "POST", "/api/tokens/revoke", "{\"token\":\"ctok\"}",
                       &st);
  assert_int_equal(st, 404);
  json_decref(j);
  j = tw_simfx_control(fx, "POST", "/api/consent", "{\"login\":\"Bad Login\"}",
                       &st);
  assert_int_equal(st, 400);
  json_decref(j);
  j = tw_simfx_control(fx, "POST", "/api/force", "{\"path\":\"/x\"}", &st);
  assert_int_equal(st, 400);
  json_decref(j);

  /* The describe line names the API. */
  char line[4096];
  assert_int_equal(tw_sim_describe(fx->sim, line, sizeof(line)), 0);
  json_error_t je;
  j = json_loads(line, 0, &je);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(j, "api_port")),
                   fx->api_port);
  char want[128];
  snprintf(want, sizeof(want), "https://127.0.0.1:%u/oauth2",
           (unsigned)fx->api_port);
  assert_string_equal(tw_simfx_jstr(j, "oauth"), want);
  snprintf(want, sizeof(want), "https://127.0.0.1:%u/helix",
           (unsigned)fx->api_port);
  assert_string_equal(tw_simfx_jstr(j, "helix"), want);
  assert_string_equal(tw_simfx_jstr(j, "client_id"), CID);
  assert_string_equal(tw_simfx_jstr(j, "client_secret"), SECRET);
  json_decref(j);
  fx_free(fx);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_authorization_code),
      cmocka_unit_test(test_authorize_errors_and_clients),
      cmocka_unit_test(test_refresh_rotation),
      cmocka_unit_test(test_client_credentials_validate_revoke),
      cmocka_unit_test(test_token_lifetime),
      cmocka_unit_test(test_chat_scopes),
      cmocka_unit_test(test_device_flow),
      cmocka_unit_test(test_device_auto_expiry_slowdown),
      cmocka_unit_test(test_forced_bad_readback),
      cmocka_unit_test(test_control_tokens),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
