/* Unit tests for the OAuth request builders, the redirect parser, the state
 * helpers and the scope lists. Expected strings are the examples of
 * docs/twitch-protocol.md section 1, written out encoded. */
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

#define CID "wbmytr93xzw8zbg0p1izqyzzc5mbiz"
#define STATE "c3ab8aa609ea11e793ae92361f002671"

static tw_scopes_t scopes_of(const char *spaced) {
  tw_scopes_t s = {0};
  assert_int_equal(tw_scopes_add_spaced(&s, spaced, strlen(spaced)), 0);
  return s;
}

/* ---- authorize URL ------------------------------------------------------- */

static void test_authorize_url_doc_example(void **state) {
  (void)state;
  tw_scopes_t sc = scopes_of("chat:read chat:edit");
  tw_buf_t b;
  tw_buf_init(&b, TW_MAX_OAUTH_URL);
  tw_oauth_authorize_t p = {.client_id = CID,
                            .redirect_uri = "http://localhost",
                            .scopes = &sc,
                            .state = STATE,
                            .force_verify = true};
  assert_int_equal(tw_oauth_authorize_url(&b, &p), 0);
  assert_string_equal(b.data,
                      "https://id.twitch.tv/oauth2/authorize?response_type=code"
                      "&client_id=" CID "&redirect_uri=http%3A%2F%2Flocalhost"
                      "&scope=chat%3Aread+chat%3Aedit&state=" STATE
                      "&force_verify=true");

  /* Without force_verify and scopes; another base (the simulator). */
  tw_buf_reset(&b);
  p.force_verify = false;
  p.scopes = NULL;
  p.base = "https://127.0.0.1:4443/oauth2";
  assert_int_equal(tw_oauth_authorize_url(&b, &p), 0);
  assert_string_equal(b.data, "https://127.0.0.1:4443/oauth2/authorize?"
                              "response_type=code&client_id=" CID
                              "&redirect_uri=http%3A%2F%2Flocalhost"
                              "&state=" STATE);
  tw_buf_free(&b);
  tw_scopes_free(&sc);
}

static void test_authorize_url_rejects(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, TW_MAX_OAUTH_URL);
  assert_int_equal(tw_buf_append_str(&b, "keep"), 0);
  tw_oauth_authorize_t ok = {
      .client_id = CID, .redirect_uri = "http://localhost", .state = STATE};
  tw_oauth_authorize_t p;

  p = ok;
  p.state = "short"; /* fewer than TW_MIN_OAUTH_STATE characters */
  assert_int_equal(tw_oauth_authorize_url(&b, &p), TW_EINVAL);
  p = ok;
  p.state = NULL;
  assert_int_equal(tw_oauth_authorize_url(&b, &p), TW_EINVAL);
  p = ok;
  p.state = "0123456789abcdef 0123"; /* a space */
  assert_int_equal(tw_oauth_authorize_url(&b, &p), TW_EINVAL);
  p = ok;
  p.client_id = "abc&scope=x y";
  assert_int_equal(tw_oauth_authorize_url(&b, &p), TW_EINVAL);
  p = ok;
  p.redirect_uri = "http://localhost/\r\nX: y";
  assert_int_equal(tw_oauth_authorize_url(&b, &p), TW_EINVAL);
  p = ok;
  p.redirect_uri = "";
  assert_int_equal(tw_oauth_authorize_url(&b, &p), TW_EINVAL);
  assert_int_equal(tw_oauth_authorize_url(&b, NULL), TW_EINVAL);
  assert_string_equal(b.data, "keep");

  /* Too small a buffer: TW_ETOOBIG, and what was there stays. */
  tw_buf_t small;
  tw_buf_init(&small, 60);
  assert_int_equal(tw_buf_append_str(&small, "keep"), 0);
  assert_int_equal(tw_oauth_authorize_url(&small, &ok), TW_ETOOBIG);
  assert_string_equal(small.data, "keep");
  assert_int_equal(small.len, 4);
  tw_buf_free(&small);

  /* A redirect URI with UTF-8 and reserved characters is encoded. */
  tw_buf_reset(&b);
  p = ok;
  p.redirect_uri = "http://localhost/cb?x=1&y=\xc3\xa9 z";
  assert_int_equal(tw_oauth_authorize_url(&b, &p), 0);
  assert_non_null(strstr(
      b.data,
      "&redirect_uri=http%3A%2F%2Flocalhost%2Fcb%3Fx%3D1%26y%3D%C3%A9+z&"));
  tw_buf_free(&b);
}

static void test_state_hex(void **state) {
  (void)state;
  const unsigned char rnd[16] = {0xc3, 0xab, 0x8a, 0xa6, 0x09, 0xea,
                                 0x11, 0xe7, 0x93, 0xae, 0x92, 0x36,
                                 0x1f, 0x00, 0x26, 0x71};
  char out[33];
  assert_int_equal(tw_oauth_state_hex(rnd, 16, out, sizeof(out)), 0);
  assert_string_equal(out, STATE);
  assert_int_equal(tw_oauth_state_hex(rnd, 16, out, 32), TW_EINVAL);
  assert_int_equal(tw_oauth_state_hex(rnd, 7, out, sizeof(out)), TW_EINVAL);
  assert_int_equal(tw_oauth_state_hex(NULL, 16, out, sizeof(out)), TW_EINVAL);
}

/* ---- token bodies ---------------------------------------------------------
 */

/* A form decoder written independently of the library's: splits on '&'
 * and '=', decodes '+' and %XX, and renders "k=v|k=v|..." so a test can
 * compare the fields a server would see with the documented field list. */
static void form_fields(const char *body, char *out, size_t cap) {
  size_t o = 0;
  for (const char *p = body; *p; p++) {
    char c = *p;
    if (c == '&')
      c = '|';
    else if (c == '+')
      c = ' ';
    else if (c == '%') {
      unsigned v;
      assert_int_equal(sscanf(p + 1, "%2x", &v), 1);
      c = (char)v;
      p += 2;
    }
    assert_true(o + 1 < cap);
    out[o++] = c;
  }
  out[o] = '\0';
}

typedef struct {
  const char *name;
  int which; /* builder */
  const char *a, *b, *c, *d;
  const char *exact;  /* the encoded body */
  const char *fields; /* what it decodes to */
} body_case_t;

enum { B_CODE, B_REFRESH, B_CLIENT, B_DEV_START, B_DEV_TOKEN, B_REVOKE };

static const body_case_t k_bodies[] = {
    {"authorization_code (1.2 step 3)", B_CODE, "cid", "csecret",
     "gulfwdmys5lsm6qyz4xiz9q32l10", "http://localhost",
     "client_id=cid&client_secret=csecret&code=gulfwdmys5lsm6qyz4xiz9q32l10"
     "&grant_type=authorization_code&redirect_uri=http%3A%2F%2Flocalhost",
     "client_id=cid|client_secret=csecret|code=gulfwdmys5lsm6qyz4xiz9q32l10|"
     "grant_type=authorization_code|redirect_uri=http://localhost"},
    /* 1.3: the refresh token of the docs' example has '%' and '=', which
     * must be encoded or the server would read another token. */
    {"refresh, confidential", B_REFRESH, "cid", "csecret",
     "eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%asdfasdf=", NULL,
     "grant_type=refresh_token"
     "&refresh_token=eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%25asdfasdf%3D"
     "&client_id=cid&client_secret=csecret",
     "grant_type=refresh_token|"
     "refresh_token=eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%asdfasdf=|"
     "client_id=cid|client_secret=csecret"},
    {"refresh, public client (no secret)", B_REFRESH, "cid", NULL,
     "a/b+c&d=e%f", NULL,
     "grant_type=refresh_token&refresh_token=a%2Fb%2Bc%26d%3De%25f"
     "&client_id=cid",
     "grant_type=refresh_token|refresh_token=a/b+c&d=e%f|client_id=cid"},
    {"client_credentials (1.7)", B_CLIENT, "cid", "csecret", NULL, NULL,
     "client_id=cid&client_secret=csecret&grant_type=client_credentials",
     "client_id=cid|client_secret=csecret|grant_type=client_credentials"},
    {"device start (1.6)", B_DEV_START, "cid",
     "channel:manage:polls channel:read:polls", NULL, NULL,
     "client_id=cid&scopes=channel%3Amanage%3Apolls+channel%3Aread%3Apolls",
     "client_id=cid|scopes=channel:manage:polls channel:read:polls"},
    {"device poll (1.6)", B_DEV_TOKEN, "cid", "chat:read",
     "OFqYhSzNYdGVzhda2QXv4EchufyJxNDRyzTJrmUA", NULL,
     "client_id=cid&scopes=chat%3Aread"
     "&device_code=OFqYhSzNYdGVzhda2QXv4EchufyJxNDRyzTJrmUA"
     "&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
     "client_id=cid|scopes=chat:read|"
     "device_code=OFqYhSzNYdGVzhda2QXv4EchufyJxNDRyzTJrmUA|"
     "grant_type=urn:ietf:params:oauth:grant-type:device_code"},
    {"revoke (1.5)", B_REVOKE, "cid", "rfx2uswqe8l4g1mkagrvg5tv0ks3", NULL,
     NULL, "client_id=cid&token=rfx2uswqe8l4g1mkagrvg5tv0ks3",
     "client_id=cid|token=rfx2uswqe8l4g1mkagrvg5tv0ks3"},
};

static int build_body(tw_buf_t *b, const body_case_t *c) {
  tw_scopes_t sc = {0};
  int rc;
  switch (c->which) {
  case B_CODE:
    return tw_oauth_body_authorization_code(b, c->a, c->b, c->c, c->d);
  case B_REFRESH:
    return tw_oauth_body_refresh(b, c->a, c->b, c->c);
  case B_CLIENT:
    return tw_oauth_body_client_credentials(b, c->a, c->b);
  case B_DEV_START:
    sc = scopes_of(c->b);
    rc = tw_oauth_body_device_start(b, c->a, &sc);
    tw_scopes_free(&sc);
    return rc;
  case B_DEV_TOKEN:
    sc = scopes_of(c->b);
    rc = tw_oauth_body_device_token(b, c->a, &sc, c->c);
    tw_scopes_free(&sc);
    return rc;
  default:
    return tw_oauth_body_revoke(b, c->a, c->b);
  }
}

static void test_bodies_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(k_bodies) / sizeof(k_bodies[0]); i++) {
    const body_case_t *c = &k_bodies[i];
    tw_buf_t b;
    tw_buf_init(&b, TW_MAX_OAUTH_BODY);
    int rc = build_body(&b, c);
    if (rc != 0)
      fail_msg("%s: rc %d", c->name, rc);
    if (strcmp(b.data, c->exact) != 0)
      fail_msg("%s:\n got  %s\n want %s", c->name, b.data, c->exact);
    char fields[1024];
    form_fields(b.data, fields, sizeof(fields));
    if (strcmp(fields, c->fields) != 0)
      fail_msg("%s: fields\n got  %s\n want %s", c->name, fields, c->fields);
    tw_buf_free(&b);
  }
}

static void test_bodies_reject(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, TW_MAX_OAUTH_BODY);
  assert_int_equal(tw_buf_append_str(&b, "keep"), 0);
  /* A CR/LF, a space or a control character in a token, id or secret is a
   * bug or an injection attempt: refused, not encoded. */
  assert_int_equal(tw_oauth_body_refresh(&b, "cid", NULL, "abc\r\ndef"),
                   TW_EINVAL);
  assert_int_equal(tw_oauth_body_refresh(&b, "cid", NULL, ""), TW_EINVAL);
  assert_int_equal(tw_oauth_body_refresh(&b, "cid", "", "token123"), TW_EINVAL);
  assert_int_equal(tw_oauth_body_refresh(&b, "c id", NULL, "token123"),
                   TW_EINVAL);
  assert_int_equal(tw_oauth_body_refresh(&b, NULL, NULL, "token123"),
                   TW_EINVAL);
  assert_int_equal(
      tw_oauth_body_authorization_code(&b, "cid", "s", "co de", "http://x"),
      TW_EINVAL);
  assert_int_equal(
      tw_oauth_body_authorization_code(&b, "cid", NULL, "code", "http://x"),
      TW_EINVAL);
  assert_int_equal(tw_oauth_body_client_credentials(&b, "cid", "s\x01"),
                   TW_EINVAL);
  assert_int_equal(tw_oauth_body_revoke(&b, "cid", "t\xc3\xa9"), TW_EINVAL);
  assert_int_equal(tw_oauth_body_device_token(&b, "cid", NULL, NULL),
                   TW_EINVAL);
  /* Longer than TW_MAX_OAUTH_TOKEN. */
  char *big = malloc(TW_MAX_OAUTH_TOKEN + 2);
  memset(big, 'a', TW_MAX_OAUTH_TOKEN + 1);
  big[TW_MAX_OAUTH_TOKEN + 1] = '\0';
  assert_int_equal(tw_oauth_body_refresh(&b, "cid", NULL, big), TW_EINVAL);
  big[TW_MAX_OAUTH_TOKEN] = '\0';
  tw_buf_t small;
  tw_buf_init(&small, 100);
  assert_int_equal(tw_oauth_body_refresh(&small, "cid", NULL, big), TW_ETOOBIG);
  assert_int_equal(small.len, 0);
  tw_buf_free(&small);
  free(big);
  assert_string_equal(b.data, "keep");

  /* No scopes: the device start still names the (empty) parameter. */
  tw_buf_reset(&b);
  assert_int_equal(tw_oauth_body_device_start(&b, "cid", NULL), 0);
  assert_string_equal(b.data, "client_id=cid&scopes=");
  tw_buf_free(&b);
}

static void test_validate_header(void **state) {
  (void)state;
  tw_buf_t b;
  tw_buf_init(&b, 256);
  assert_int_equal(tw_oauth_validate_header(&b, "rfx2uswqe8l4g1mkagrvg5tv0ks3"),
                   0);
  assert_string_equal(b.data,
                      "Authorization: OAuth rfx2uswqe8l4g1mkagrvg5tv0ks3");
  tw_buf_reset(&b);
  /* Header injection. */
  assert_int_equal(tw_oauth_validate_header(&b, "abc\r\nX-Evil: 1"), TW_EINVAL);
  assert_int_equal(tw_oauth_validate_header(&b, "abc def"), TW_EINVAL);
  assert_int_equal(b.len, 0);
  tw_buf_free(&b);
}

/* ---- redirect -------------------------------------------------------------
 */

static void test_redirect_approved(void **state) {
  (void)state;
  const char *q = "/?code=gulfwdmys5lsm6qyz4xiz9q32l10"
                  "&scope=channel%3Amanage%3Apolls+channel%3Aread%3Apolls"
                  "&state=" STATE;
  tw_oauth_redirect_t r;
  assert_int_equal(tw_oauth_parse_redirect(q, strlen(q), &r), 0);
  assert_string_equal(r.code, "gulfwdmys5lsm6qyz4xiz9q32l10");
  assert_string_equal(r.scope, "channel:manage:polls channel:read:polls");
  assert_string_equal(r.state, STATE);
  assert_null(r.error);
  assert_null(r.error_description);
  tw_oauth_error_t err;
  assert_int_equal(tw_oauth_redirect_check(&r, STATE, &err), 0);
  assert_int_equal(err.result, TW_OAUTH_OK);
  /* The granted scopes feed a scope list. */
  tw_scopes_t sc = {0};
  assert_int_equal(tw_scopes_add_spaced(&sc, r.scope, strlen(r.scope)), 0);
  assert_int_equal(sc.n, 2);
  assert_true(tw_scopes_has(&sc, "channel:read:polls"));
  tw_scopes_free(&sc);
  /* A forged answer with another state is refused whatever it carries. */
  assert_int_equal(
      tw_oauth_redirect_check(&r, "d3ab8aa609ea11e793ae92361f002671", &err),
      TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_STATE_MISMATCH);
  assert_true(tw_oauth_result_fatal(err.result));
  tw_oauth_redirect_clear(&r);
  assert_null(r.code);
}

static void test_redirect_denied(void **state) {
  (void)state;
  const char *q = "http://localhost/?error=access_denied"
                  "&error_description=The+user+denied+you+access"
                  "&state=" STATE "#ignored=1";
  tw_oauth_redirect_t r;
  assert_int_equal(tw_oauth_parse_redirect(q, strlen(q), &r), 0);
  assert_null(r.code);
  assert_string_equal(r.error, "access_denied");
  assert_string_equal(r.error_description, "The user denied you access");
  assert_string_equal(r.state, STATE);
  tw_oauth_error_t err;
  assert_int_equal(tw_oauth_redirect_check(&r, STATE, &err), TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_ACCESS_DENIED);
  assert_string_equal(err.message, "The user denied you access");
  tw_oauth_redirect_clear(&r);

  /* Another error type, and an answer without a code or error. */
  q = "error=redirect_mismatch&state=" STATE;
  assert_int_equal(tw_oauth_parse_redirect(q, strlen(q), &r), 0);
  assert_int_equal(tw_oauth_redirect_check(&r, STATE, &err), TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_OTHER);
  tw_oauth_redirect_clear(&r);
  q = "state=" STATE "&foo=bar";
  assert_int_equal(tw_oauth_parse_redirect(q, strlen(q), &r), 0);
  assert_int_equal(tw_oauth_redirect_check(&r, STATE, &err), TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_OTHER);
  tw_oauth_redirect_clear(&r);
  /* No state at all: mismatch. */
  q = "code=abc";
  assert_int_equal(tw_oauth_parse_redirect(q, strlen(q), &r), 0);
  assert_int_equal(tw_oauth_redirect_check(&r, STATE, &err), TW_EAUTH);
  assert_int_equal(err.result, TW_OAUTH_STATE_MISMATCH);
  tw_oauth_redirect_clear(&r);
}

static void test_redirect_malformed(void **state) {
  (void)state;
  static const char *const bad[] = {
      "code=%zz&state=x", "code=abc%4",      "code=abc%", "code=a%00b",
      "code=a&code=b",    "state=x&state=x", "%zz=1",     "error=a&error=b",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    tw_oauth_redirect_t r;
    int rc = tw_oauth_parse_redirect(bad[i], strlen(bad[i]), &r);
    if (rc != TW_EPARSE)
      fail_msg("%s: rc %d", bad[i], rc);
    assert_null(r.code);
    assert_null(r.state);
  }
  /* Counted, not NUL-terminated: only `len` bytes are read. */
  tw_oauth_redirect_t r;
  const char q[] = "code=abc&state=def";
  assert_int_equal(tw_oauth_parse_redirect(q, 8, &r), 0);
  assert_string_equal(r.code, "abc");
  assert_null(r.state);
  tw_oauth_redirect_clear(&r);
  /* Empty pieces, a key without '=', escaped keys. */
  const char *q2 = "&&code&%73tate=a%2Bb+c&";
  assert_int_equal(tw_oauth_parse_redirect(q2, strlen(q2), &r), 0);
  assert_string_equal(r.code, "");
  assert_string_equal(r.state, "a+b c");
  tw_oauth_redirect_clear(&r);
  assert_int_equal(tw_oauth_parse_redirect("", 0, &r), 0);
  assert_null(r.code);
  assert_int_equal(tw_oauth_parse_redirect(NULL, 3, &r), TW_EINVAL);
  char *huge = malloc(TW_MAX_OAUTH_QUERY + 2);
  memset(huge, 'a', TW_MAX_OAUTH_QUERY + 1);
  assert_int_equal(tw_oauth_parse_redirect(huge, TW_MAX_OAUTH_QUERY + 1, &r),
                   TW_ETOOBIG);
  free(huge);
}

static void test_state_equal(void **state) {
  (void)state;
  assert_true(tw_oauth_state_equal(STATE, STATE));
  assert_false(tw_oauth_state_equal(STATE, "d3ab8aa609ea11e793ae92361f002671"));
  assert_false(tw_oauth_state_equal(STATE, "c3ab8aa609ea11e793ae92361f002670"));
  assert_false(tw_oauth_state_equal(STATE, "c3ab8aa609ea11e793ae92361f00267"));
  assert_false(tw_oauth_state_equal(STATE, ""));
  assert_false(tw_oauth_state_equal(STATE, NULL));
  assert_false(tw_oauth_state_equal(NULL, STATE));
}

/* ---- scopes ---------------------------------------------------------------
 */

static void test_scope_list_ops(void **state) {
  (void)state;
  tw_scopes_t s = {0};
  assert_int_equal(tw_scopes_add(&s, "chat:read"), 0);
  assert_int_equal(tw_scopes_add(&s, "chat:read"), 0); /* no duplicate */
  assert_int_equal(s.n, 1);
  assert_int_equal(tw_scopes_add(&s, ""), TW_EINVAL);
  assert_int_equal(tw_scopes_add(&s, "chat read"), TW_EINVAL);
  assert_int_equal(tw_scopes_add(&s, NULL), TW_EINVAL);
  char longname[TW_MAX_SCOPE_LEN + 2];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  assert_int_equal(tw_scopes_add(&s, longname), TW_EINVAL);
  /* A bad name in a spaced list rolls the whole list back. */
  const char *bad = "a:b c:d \x01x";
  assert_int_equal(tw_scopes_add_spaced(&s, bad, strlen(bad)), TW_EINVAL);
  assert_int_equal(s.n, 1);
  const char *ok = "  chat:edit   clips:edit ";
  assert_int_equal(tw_scopes_add_spaced(&s, ok, strlen(ok)), 0);
  assert_int_equal(s.n, 3);

  tw_buf_t b;
  tw_buf_init(&b, 256);
  assert_int_equal(tw_scopes_join(&s, &b), 0);
  assert_string_equal(b.data, "chat:read chat:edit clips:edit");
  tw_buf_free(&b);

  tw_scopes_t need = scopes_of("chat:read bits:read clips:edit user:bot");
  tw_scopes_t missing = {0};
  assert_int_equal(tw_scopes_missing(&s, &need, &missing), 2);
  assert_int_equal(missing.n, 2);
  assert_string_equal(missing.v[0], "bits:read");
  assert_string_equal(missing.v[1], "user:bot");

  tw_scopes_t copy = scopes_of("x:y");
  assert_int_equal(tw_scopes_copy(&copy, &s), 0);
  assert_int_equal(copy.n, 3);
  assert_string_equal(copy.v[2], "clips:edit");

  tw_scopes_free(&copy);
  tw_scopes_free(&missing);
  tw_scopes_free(&need);
  tw_scopes_free(&s);
  assert_int_equal(s.n, 0);
  assert_null(s.v);

  /* The cap. */
  for (int i = 0; i < TW_MAX_SCOPES; i++) {
    char name[32];
    snprintf(name, sizeof(name), "s:%d", i);
    assert_int_equal(tw_scopes_add(&s, name), 0);
  }
  assert_int_equal(tw_scopes_add(&s, "one:more"), TW_EFULL);
  tw_scopes_free(&s);
}

static void test_scopes_for_features(void **state) {
  (void)state;
  tw_scopes_t s = {0};
  assert_int_equal(tw_oauth_scopes_for(TW_FEAT_SEED, &s), 0);
  static const char *const seed[] = {"chat:read",
                                     "chat:edit",
                                     "moderator:manage:banned_users",
                                     "moderator:manage:chat_messages",
                                     "channel:manage:broadcast",
                                     "clips:edit",
                                     "moderator:read:followers",
                                     "channel:read:subscriptions"};
  assert_int_equal(s.n, sizeof(seed) / sizeof(seed[0]));
  for (size_t i = 0; i < s.n; i++)
    assert_string_equal(s.v[i], seed[i]);
  tw_scopes_free(&s);

  /* Features without scopes need none. */
  assert_int_equal(
      tw_oauth_scopes_for(TW_FEAT_STREAM_STATUS | TW_FEAT_RAIDS, &s), 0);
  assert_int_equal(s.n, 0);
  /* EventSub/Helix chat and the bot badge. */
  assert_int_equal(
      tw_oauth_scopes_for(
          TW_FEAT_EVENTSUB_CHAT | TW_FEAT_HELIX_SEND | TW_FEAT_BOT_BADGE, &s),
      0);
  assert_int_equal(s.n, 4);
  assert_string_equal(s.v[0], "user:read:chat");
  assert_string_equal(s.v[1], "user:write:chat");
  assert_string_equal(s.v[2], "user:bot");
  assert_string_equal(s.v[3], "channel:bot");
  /* Adding more keeps what is there and does not duplicate. */
  assert_int_equal(tw_oauth_scopes_for(TW_FEAT_HELIX_SEND | TW_FEAT_CHEERS |
                                           TW_FEAT_BAN_EVENTS |
                                           TW_FEAT_ANNOUNCE | TW_FEAT_SHOUTOUT |
                                           TW_FEAT_WHISPER,
                                       &s),
                   0);
  assert_int_equal(s.n, 9);
  assert_true(tw_scopes_has(&s, "bits:read"));
  assert_true(tw_scopes_has(&s, "channel:moderate"));
  assert_true(tw_scopes_has(&s, "moderator:manage:announcements"));
  assert_true(tw_scopes_has(&s, "moderator:manage:shoutouts"));
  assert_true(tw_scopes_has(&s, "user:manage:whispers"));
  /* Unknown bits are refused and change nothing. */
  assert_int_equal(tw_oauth_scopes_for(1u << 30, &s), TW_EINVAL);
  assert_int_equal(s.n, 9);
  tw_scopes_free(&s);
}

/* Every scope twitchd can ask for has a reason, and docs/scopes.md lists
 * it: the documentation cannot silently fall behind the table. */
static void test_scopes_documented(void **state) {
  (void)state;
  tw_scopes_t all = {0};
  assert_int_equal(tw_oauth_scopes_for(TW_FEAT_ALL, &all), 0);
  assert_int_equal(all.n, 17);

  char path[4096];
  const char *file = __FILE__;
  const char *cut = strstr(file, "tests/unit/");
  assert_non_null(cut);
  snprintf(path, sizeof(path), "%.*sdocs/scopes.md", (int)(cut - file), file);
  FILE *f = fopen(path, "r");
  if (!f)
    fail_msg("cannot open %s", path);
  static char doc[65536];
  size_t n = fread(doc, 1, sizeof(doc) - 1, f);
  doc[n] = '\0';
  fclose(f);

  for (size_t i = 0; i < all.n; i++) {
    assert_non_null(tw_oauth_scope_reason(all.v[i]));
    assert_null(tw_oauth_scope_removed(all.v[i]));
    char needle[96];
    snprintf(needle, sizeof(needle), "`%s`", all.v[i]);
    if (!strstr(doc, needle))
      fail_msg("docs/scopes.md does not mention %s", needle);
  }
  assert_null(tw_oauth_scope_reason("analytics:read:games"));
  tw_scopes_free(&all);
}

/* The seed's example URL: which of its scopes Twitch no longer has. */
static void test_seed_scopes_removed(void **state) {
  (void)state;
  const char *seed =
      "https://id.twitch.tv/oauth2/authorize?client_id=<your client id>"
      "&redirect_uri=http://localhost&response_type=code&scope=channel:read:"
      "subscriptions+channel_subscriptions+analytics:read:games+chat:read+"
      "chat:edit+viewing_activity_read+channel_feed_read+channel_editor+"
      "channel:read:subscriptions+user:read:broadcast+user:edit:broadcast+"
      "user:edit:follows+channel:moderate+channel_read";
  tw_oauth_redirect_t r;
  assert_int_equal(tw_oauth_parse_redirect(seed, strlen(seed), &r), 0);
  assert_non_null(r.scope);
  tw_scopes_t s = {0};
  assert_int_equal(tw_scopes_add_spaced(&s, r.scope, strlen(r.scope)), 0);
  tw_oauth_redirect_clear(&r);
  /* 14 names, one of them twice. */
  assert_int_equal(s.n, 13);
  static const char *const gone[] = {
      "channel_subscriptions", "viewing_activity_read", "channel_feed_read",
      "channel_editor",        "user:edit:follows",     "channel_read"};
  size_t removed = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (tw_oauth_scope_removed(s.v[i]))
      removed++;
  }
  assert_int_equal(removed, sizeof(gone) / sizeof(gone[0]));
  for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
    assert_non_null(tw_oauth_scope_removed(gone[i]));
  /* Still valid today (even if twitchd does not need all of them). */
  assert_null(tw_oauth_scope_removed("analytics:read:games"));
  assert_null(tw_oauth_scope_removed("user:edit:broadcast"));
  assert_null(tw_oauth_scope_removed("channel:moderate"));
  /* The seed lacks two that its own features need today. */
  tw_scopes_t need = {0}, missing = {0};
  assert_int_equal(tw_oauth_scopes_for(TW_FEAT_SEED, &need), 0);
  assert_true(tw_scopes_missing(&s, &need, &missing) > 0);
  assert_true(tw_scopes_has(&missing, "clips:edit"));
  assert_true(tw_scopes_has(&missing, "channel:manage:broadcast"));
  assert_true(tw_scopes_has(&missing, "moderator:read:followers"));
  tw_scopes_free(&need);
  tw_scopes_free(&missing);
  tw_scopes_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_authorize_url_doc_example),
      cmocka_unit_test(test_authorize_url_rejects),
      cmocka_unit_test(test_state_hex),
      cmocka_unit_test(test_bodies_table),
      cmocka_unit_test(test_bodies_reject),
      cmocka_unit_test(test_validate_header),
      cmocka_unit_test(test_redirect_approved),
      cmocka_unit_test(test_redirect_denied),
      cmocka_unit_test(test_redirect_malformed),
      cmocka_unit_test(test_state_equal),
      cmocka_unit_test(test_scope_list_ops),
      cmocka_unit_test(test_scopes_for_features),
      cmocka_unit_test(test_scopes_documented),
      cmocka_unit_test(test_seed_scopes_removed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
