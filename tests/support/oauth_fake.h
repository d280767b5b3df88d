/* A small fake of id.twitch.tv's OAuth endpoints for in-process tests of the
 * credentials manager: plain HTTP on 127.0.0.1 (an ephemeral port), driven
 * by tw_uvmhd on the test's loop. It issues, rotates and checks tokens the
 * way docs/twitch-protocol.md section 1 says Twitch does (refresh tokens
 * are one-time: a refresh spends the old one), counts every request by
 * kind, and can be told to answer the next N requests of a kind with a
 * given status and body (401, 429, 500...). */
#ifndef TWITCHD_TEST_OAUTH_FAKE_H
#define TWITCHD_TEST_OAUTH_FAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define FAKE_CLIENT_ID "fakeclientid0123"
#define FAKE_CLIENT_SECRET "fakeclientsecret0123"
#define FAKE_LOGIN "fakebot"
#define FAKE_USER_ID "4242"
#define FAKE_MAX_TOKENS 256
#define FAKE_TOKEN_LEN 40

typedef enum {
  FAKE_CODE = 0,     /* POST /token grant_type=authorization_code */
  FAKE_REFRESH,      /* POST /token grant_type=refresh_token */
  FAKE_CLIENT,       /* POST /token grant_type=client_credentials */
  FAKE_DEVICE_TOKEN, /* POST /token device grant */
  FAKE_DEVICE,       /* POST /device */
  FAKE_VALIDATE,     /* GET /validate */
  FAKE_REVOKE,       /* POST /revoke */
  FAKE_KINDS
} fake_kind_t;

typedef struct fake_oauth fake_oauth_t;

/* Starts the fake on `loop`. Returns NULL on failure. */
fake_oauth_t *fake_oauth_start(uv_loop_t *loop);
/* Its base URL, "http://127.0.0.1:PORT/oauth2" (owned by the fake). */
const char *fake_oauth_base(const fake_oauth_t *f);
/* Closes it (asynchronously; run the loop to finish). */
void fake_oauth_stop(fake_oauth_t *f);

/* Makes `code` a valid one-time authorization code. */
void fake_oauth_add_code(fake_oauth_t *f, const char *code);
/* Issues a token pair as if by a login, without a request; copies the new
 * access and refresh tokens into the buffers (FAKE_TOKEN_LEN + 1). */
void fake_oauth_issue(fake_oauth_t *f, char *access, char *refresh);
/* Lifetime of tokens issued from now on, in seconds (default 14400). */
void fake_oauth_set_expires_in(fake_oauth_t *f, int64_t s);
/* Forgets an access token (validate and clients then see 401). */
void fake_oauth_revoke(fake_oauth_t *f, const char *access);
/* True when `refresh` (or `access`) is currently valid. */
bool fake_oauth_refresh_valid(const fake_oauth_t *f, const char *refresh);
bool fake_oauth_access_valid(const fake_oauth_t *f, const char *access);
/* The next `n` requests of `kind` get `status` with `body` (copied). */
void fake_oauth_force(fake_oauth_t *f, fake_kind_t kind, int n, int status,
                      const char *body);
/* Requests of `kind` received so far. */
int fake_oauth_count(const fake_oauth_t *f, fake_kind_t kind);
/* Rotation with grace: a refresh token stays valid until the one issued
 * in exchange for it is used (instead of being spent at once). */
void fake_oauth_set_grace(fake_oauth_t *f, bool on);
/* GET /authorize answers error=access_denied instead of a code. */
void fake_oauth_set_deny(fake_oauth_t *f, bool on);
/* Device flow: approve the pending device code. */
void fake_oauth_approve_device(fake_oauth_t *f);

#endif
