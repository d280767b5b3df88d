/* A scripted fake of Helix for the Helix client's tests: libmicrohttpd on
 * 127.0.0.1, port 0, driven by the test's loop (plain http, which the
 * client allows for loopback hosts only).
 *
 * It records every request (method, path with query, Authorization,
 * Client-Id, Content-Type, body, the wall-clock time it arrived) and answers
 * each one from the first scripted reply whose method and path (without
 * the query) match, consuming it; with none, Get Users is answered from a
 * table of users (hf_add_user), and anything else with 200 {"data":[]}.
 * Every answer carries Ratelimit-Limit/-Remaining/-Reset unless the script
 * says otherwise. An Authorization header other than "Bearer <valid>"
 * (hf_set_valid_token) gets 401 Invalid OAuth token first, as Twitch does.
 */
#ifndef TWITCHD_TEST_HELIX_FAKE_H
#define TWITCHD_TEST_HELIX_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define HF_MAX_RECS 256
#define HF_MAX_SCRIPT 64
#define HF_MAX_USERS 32

typedef struct {
  char method[8];
  char target[1024]; /* path and query, as sent */
  char path[512];    /* without the query */
  char auth[1100];
  char client_id[128];
  char ctype[64];
  char body[4096];
  uint64_t at_wall_ms;
} hf_rec_t;

typedef struct {
  char method[8];
  char path[256];
  int status;
  const char *body; /* static */
  /* Ratelimit headers: remaining < 0 leaves all three out; reset is epoch
   * seconds (0: now + 60). */
  int64_t remaining;
  int64_t reset;
  int64_t limit;
  bool used;
} hf_reply_t;

typedef struct helix_fake helix_fake_t;

/* Starts the fake on `loop`; *out owned by the caller (hf_close). */
int hf_start(uv_loop_t *loop, helix_fake_t **out);
/* "http://127.0.0.1:<port>/helix" (owned by the fake). */
const char *hf_base(helix_fake_t *f);
/* Scripts one reply for the next matching request. `body` is static. */
void hf_script(helix_fake_t *f, const char *method, const char *path,
               int status, const char *body, int64_t remaining, int64_t reset);
/* The same with a Ratelimit-Limit other than 800. */
void hf_script_rl(helix_fake_t *f, const char *method, const char *path,
                  int status, const char *body, int64_t limit,
                  int64_t remaining, int64_t reset);
/* The token requests must carry (NULL: any). Copied. */
void hf_set_valid_token(helix_fake_t *f, const char *token);
/* Adds a user to the Get Users table. */
void hf_add_user(helix_fake_t *f, const char *login, const char *id);
size_t hf_count(helix_fake_t *f);
const hf_rec_t *hf_rec(helix_fake_t *f, size_t i);
/* Requests whose method and path (no query) match. */
size_t hf_count_path(helix_fake_t *f, const char *method, const char *path);
/* Scripted replies not yet used. */
size_t hf_script_left(helix_fake_t *f);
void hf_close(helix_fake_t *f, void (*cb)(void *), void *arg);

#endif
