/* The simulator's OAuth (id.twitch.tv) and Helix (api.twitch.tv) side,
 * sans-IO: one parsed HTTP request in, one answer out (status, headers,
 * body), with time passed in. The HTTPS glue (sim_api_http.c) feeds it
 * from libmicrohttpd; the fuzz target feeds it directly.
 *
 * It shares the chat core's users, rooms and token table (sim_chat.h), so
 * that a token issued here logs in to chat, and a ban or a deleted message
 * here shows in the chat rooms.
 *
 * docs/twitch-protocol.md sections 1 and 2 are the contract; where Twitch
 * documents nothing, docs/simulator.md says what the simulator does.
 */
#ifndef TW_SIM_API_H
#define TW_SIM_API_H

#include <stddef.h>
#include <stdint.h>

#include "sim/sim_chat.h"
#include "twitchd/buf.h"
#include "twitchd/sim.h"

typedef struct tw_simapi tw_simapi_t;

/* One request. Everything borrowed for the call. */
typedef struct {
  const char *method;
  const char *path;  /* without the query */
  const char *query; /* raw, without '?'; may be NULL */
  const char *const *hname;
  const char *const *hval;
  size_t nh;
  const char *body;
  size_t body_len;
  int body_too_big; /* the body went over TW_SIM_MAX_API_BODY */
} tw_simapi_req_t;

/* Headers of an answer. */
#define TW_SIMAPI_MAX_RESP_HEADERS 8

typedef struct {
  unsigned status;
  tw_buf_t body; /* JSON, or empty */
  size_t nh;
  char hname[TW_SIMAPI_MAX_RESP_HEADERS][32];
  char *hval[TW_SIMAPI_MAX_RESP_HEADERS]; /* malloc'ed */
} tw_simapi_resp_t;

/* Creates the API side over `core` (borrowed; it must outlive it). `opts`
 * copied (NULL: defaults); `seed` seeds the token generator;
 * wall_offset_ms turns monotonic into Unix ms (Ratelimit-Reset,
 * created_at). Returns 0, TW_EINVAL or TW_ENOMEM. */
int tw__simapi_new(tw_simchat_t *core, const tw_sim_api_opts_t *opts,
                   uint64_t seed, int64_t wall_offset_ms, tw_simapi_t **out);
void tw__simapi_free(tw_simapi_t *api);

/* The base URL the listener is reachable at ("https://127.0.0.1:P"), for
 * verification_uri. Copied. */
void tw__simapi_set_base(tw_simapi_t *api, const char *base);

/* Observer for TW_SIM_EV_API events. */
void tw__simapi_set_observer(tw_simapi_t *api, tw_sim_event_cb cb, void *ud);

/* Answers one request. `resp` is initialised here; free it with
 * tw__simapi_resp_free(). Never fails: errors are answers. */
void tw__simapi_handle(tw_simapi_t *api, const tw_simapi_req_t *req,
                       uint64_t now_ms, tw_simapi_resp_t *resp);
void tw__simapi_resp_free(tw_simapi_resp_t *resp);

/* The control operations of twitchd/sim.h. */
int tw__simapi_add_client(tw_simapi_t *api, const tw_sim_client_t *c);
int tw__simapi_set_consent(tw_simapi_t *api, const char *login);
int tw__simapi_device_approve(tw_simapi_t *api, const char *code,
                              const char *login, int deny, uint64_t now_ms);
int tw__simapi_force(tw_simapi_t *api, const char *path, unsigned status,
                     unsigned count, const char *message);
void tw__simapi_force_clear(tw_simapi_t *api);
size_t tw__simapi_foreach(const tw_simapi_t *api, uint64_t since,
                          const char *path,
                          int (*cb)(void *ud, const tw_sim_api_req_t *req),
                          void *ud);
uint64_t tw__simapi_last_seq(const tw_simapi_t *api);
void tw__simapi_counters(const tw_simapi_t *api, tw_sim_api_counters_t *out);
void tw__simapi_counters_reset(tw_simapi_t *api);
/* Issues a token (tw_sim_add_token_ex). */
int tw__simapi_add_token(tw_simapi_t *api, const tw_sim_token_t *tok,
                         uint64_t now_ms);
/* The consenting user's login ("" when consent is denied). */
const char *tw__simapi_consent(const tw_simapi_t *api);

/* Helix (sim_helix.c): answers a request under /helix. `auth` is the
 * checked token (never NULL), `req` the request, params parsed. */
typedef struct tw_simapi_ctx tw_simapi_ctx_t;

#endif
