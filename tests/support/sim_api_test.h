/* Helpers for tests of the simulator's API listener (OAuth and Helix): an
 * in-process simulator on its own loop, HTTPS requests to it through curl on
 * the same loop (tw_uvcurl) trusting the simulator's CA, requests to its
 * control interface, and a tiny plain-IRC chat client. Everything waits on
 * events (with the net_test watchdog), never on sleeps. */
#ifndef TWITCHD_TEST_SIM_API_TEST_H
#define TWITCHD_TEST_SIM_API_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "twitchd/buf.h"
#include "twitchd/sim.h"
#include "twitchd/uv_curl.h"

typedef struct {
  uv_loop_t loop;
  tw_sim_t *sim;
  tw_uvcurl_t *uc;
  uint16_t api_port, control_port, irc_port;
  int sim_closed, uc_closed;
} tw_simfx_t;

/* Starts a simulator with `o` (NULL: API, control and plain IRC listeners)
 * on a fresh loop. Returns NULL (and prints why) on failure. */
tw_simfx_t *tw_simfx_new(const tw_sim_opts_t *o);
/* Closes everything; returns uv_loop_close()'s result (0: clean). */
int tw_simfx_free(tw_simfx_t *fx);

/* An answer. */
typedef struct {
  int done;
  int curl_rc; /* CURLcode */
  long status;
  tw_buf_t body;
  json_t *json; /* the body parsed, when it is JSON */
  char location[4096];
  char content_type[128];
  long rl_limit, rl_remaining, rl_reset; /* -1 when absent */
  /* Every header line as received (CR LF included), for codecs that parse
   * raw lines; NUL-terminated, cut at the array's size. */
  char raw_headers[8192];
  size_t raw_len;
} tw_simresp_t;

/* Sends `method` `path_query` (e.g. "/oauth2/token?x=1") to the API
 * listener over HTTPS with the extra header lines `headers` (NULL-ended,
 * may be NULL) and `body` (may be NULL), runs the loop until the answer,
 * and fills `out` (free it with tw_simresp_free()). Returns 0, or -1 when
 * the transfer failed or timed out. */
int tw_simfx_api(tw_simfx_t *fx, const char *method, const char *path_query,
                 const char *const *headers, const char *body,
                 tw_simresp_t *out);
/* The same with "Authorization: Bearer TOKEN" and "Client-Id: CLIENT"
 * (either may be NULL: header left out) and a JSON body (may be NULL). */
int tw_simfx_helix(tw_simfx_t *fx, const char *method, const char *path_query,
                   const char *token, const char *client_id, const char *json,
                   tw_simresp_t *out);
void tw_simresp_free(tw_simresp_t *r);

/* A control request (HTTP, JSON); returns the parsed answer (caller
 * decrefs) and its status in *status, or NULL. */
json_t *tw_simfx_control(tw_simfx_t *fx, const char *method, const char *path,
                         const char *json, long *status);

/* The same in two steps, so that other requests can run meanwhile (long
 * polls): start returns a handle or NULL; finish runs the loop until the
 * answer and frees the handle. */
typedef struct tw_simcall tw_simcall_t;
tw_simcall_t *tw_simfx_control_start(tw_simfx_t *fx, const char *method,
                                     const char *path, const char *json);
json_t *tw_simfx_control_finish(tw_simfx_t *fx, tw_simcall_t *call,
                                long *status);

/* Member `key` of `o` as a string ("" when absent or not a string). */
const char *tw_simfx_jstr(const json_t *o, const char *key);

/* A plain IRC client on the simulator's irc:// listener. */
typedef struct tw_simirc tw_simirc_t;
/* Connects, requests tags+commands, logs in with PASS oauth:TOKEN and NICK
 * (token NULL: anonymous justinfan) and waits for the end of the login
 * (376 or a NOTICE and the close). Returns the client or NULL. */
tw_simirc_t *tw_simirc_login(tw_simfx_t *fx, const char *token,
                             const char *nick);
/* Whether the login succeeded (376 seen). */
int tw_simirc_ok(const tw_simirc_t *c);
void tw_simirc_send(tw_simirc_t *c, const char *line);
/* Waits until a received line contains `needle` (after the ones already
 * matched); returns that line (borrowed until the next call) or NULL. */
const char *tw_simirc_wait(tw_simirc_t *c, const char *needle);
/* Whether any line received so far contains `needle`. */
int tw_simirc_seen(const tw_simirc_t *c, const char *needle);
/* Closes the client (the loop finishes it). */
void tw_simirc_close(tw_simirc_t *c);

#endif
