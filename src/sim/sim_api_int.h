/* Shared by the OAuth side (sim_api.c) and the Helix side (sim_helix.c) of
 * the simulator's API: the state and the helpers both use. */
#ifndef TW_SIM_API_INT_H
#define TW_SIM_API_INT_H

#include <jansson.h>

#include "sim/sim_api.h"
#include "sim/sim_map.h"
#include "twitchd/oauth.h"

/* Parsed query and form parameters, in order (repeatable keys kept). */
typedef struct {
  size_t n;
  char *k[TW_SIM_MAX_API_PARAMS];
  char *v[TW_SIM_MAX_API_PARAMS];
  int bad; /* a malformed escape, or over the cap */
} tw_simapi_params_t;

/* A request being answered. */
struct tw_simapi_ctx {
  tw_simapi_t *api;
  const tw_simapi_req_t *req;
  tw_simapi_resp_t *resp;
  uint64_t now;
  tw_simapi_params_t q; /* the query string */
  /* The checked token (Helix, after tw__simapi_helix_auth()). */
  char token[TW_SIM_MAX_TOKEN + 1];
  tw_simchat_token_view_t tok;
};

/* An EventSub subscription (sim_helix.c stores them, sim_eventsub.c
 * delivers to them). */
typedef struct {
  json_t *obj; /* the subscription as listed (no secret) */
  char owner[TW_SIM_MAX_CLIENT_ID + TW_SIM_MAX_ID + 2];
  int websocket; /* else webhook or conduit */
  int cost;
  char *secret;      /* webhook: the signing secret (never listed) */
  unsigned failures; /* webhook: notifications that failed every attempt */
} tw_simapi_sub_t;

/* The EventSub WebSocket side's say on websocket subscriptions (set only
 * while the EventSub listener runs). check: may `owner` (client_id/user_id)
 * subscribe on `session`? Returns 0, or an HTTP status with a message in
 * msg (capacity 128). created: subscription `sub` (its listed object, which
 * the hook may amend) was stored for `session`. */
typedef struct {
  unsigned (*check)(void *ud, const char *session, const char *owner,
                    char *msg);
  void (*created)(void *ud, const char *session, const char *owner,
                  json_t *sub);
  /* Something Helix did is also an EventSub notification (a ban is
   * channel.ban, as on Twitch): `event` (borrowed) holds the members to
   * set, the EventSub side fills the rest. */
  void (*notify)(void *ud, const char *type, const char *room, json_t *event);
  /* Webhook subscription `sub` was stored: its verification starts. */
  void (*wh_created)(void *ud, tw_simapi_sub_t *sub);
  void *ud;
} tw_simapi_es_hooks_t;

struct tw_simapi {
  tw_simchat_t *core;
  tw_sim_api_opts_t o;
  char consent[TW_SIM_MAX_LOGIN + 1]; /* "" : consent denied */
  char base[128];
  uint64_t rng;
  int64_t wall_offset;
  tw_sim_event_cb obs;
  void *obs_ud;
  tw__simmap_t clients, codes, devices, refresh, buckets;
  struct {
    char path[128];
    unsigned status, count;
    char *message;
  } force[TW_SIM_MAX_FORCED];
  size_t nforce;
  /* read-back ring */
  void **rec;
  size_t rec_head, rec_n, rec_bytes;
  uint64_t seq;
  tw_sim_api_counters_t cnt;
  /* Helix state (sim_helix.c) */
  tw__simmap_t channels; /* broadcaster login -> channel and stream */
  tw__simmap_t lastmsg;  /* "room:sender" -> last Helix chat message */
  tw__simmap_t bans;     /* "broadcaster_id:user_id" -> ban */
  tw__simmap_t clips;    /* clip id -> clip */
  tw__simmap_t subs;     /* subscription id -> tw_simapi_sub_t */
  tw_simapi_es_hooks_t es;
};

/* ---- helpers (sim_api.c) ---- */

/* The reason phrase of an HTTP status ("Bad Request"...). */
const char *tw__simapi_reason(unsigned status);
/* Appends a response header (value formatted). */
void tw__simapi_header(tw_simapi_resp_t *r, const char *name, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
/* Answers `status` with `o` as the body (reference stolen; NULL: no
 * body). */
void tw__simapi_json(tw_simapi_resp_t *r, unsigned status, json_t *o);
/* Helix's error body {"error","status","message"}. */
void tw__simapi_helix_err(tw_simapi_resp_t *r, unsigned status,
                          const char *message);
/* The first value of `key`, or NULL. */
const char *tw__simapi_param(const tw_simapi_params_t *p, const char *key);
/* A request header's value (case-insensitive name), or NULL. */
const char *tw__simapi_req_header(const tw_simapi_req_t *req, const char *name);
/* A random id of `n` characters from `alphabet` into out (n + 1 bytes). */
void tw__simapi_rand(tw_simapi_t *api, char *out, size_t n,
                     const char *alphabet);
/* Unix ms from monotonic. */
uint64_t tw__simapi_wall(const tw_simapi_t *api, uint64_t now);
/* RFC 3339 UTC ("2021-09-28T18:22:31Z") of Unix ms into out (32 bytes). */
void tw__simapi_rfc3339(uint64_t unix_ms, char out[32]);

/* ---- Helix (sim_helix.c) ---- */

/* Answers a request under /helix (the token is checked there). */
void tw__simhelix_handle(tw_simapi_ctx_t *x);
/* Frees the Helix state. */
void tw__simhelix_free(tw_simapi_t *api);
/* The chat core's ban check (tw_simchat_ban_check_fn), `ud` the API. */
int tw__simhelix_ban_check(void *ud, const char *room, const char *login,
                           uint64_t now, uint64_t *left_s);
/* tw_sim_set_stream(). */
int tw__simhelix_set_stream(tw_simapi_t *api, const char *room,
                            const tw_sim_stream_t *st, uint64_t now);
/* A channel's stream state for EventSub events: whether live, the stream id
 * and start (Unix ms), title, language, category. Returns 0 or
 * TW_ENOTFOUND (no channel state yet). Strings copied into the caps. */
typedef struct {
  int live;
  char stream_id[24];
  uint64_t started_wall_ms;
  char title[564]; /* MAX_TITLE (sim_helix.c) + 1, rounded up */
  char language[16];
  char game_id[32];
  char game_name[128];
} tw_simhelix_chan_view_t;
int tw__simhelix_chan_view(tw_simapi_t *api, const char *login,
                           tw_simhelix_chan_view_t *out);
/* Frees one subscription. */
void tw__simhelix_sub_free(tw_simapi_sub_t *s);

/* Takes `cost` points from the request's bucket (0: only reports) and adds
 * the Ratelimit-* headers. Returns 0, or -1 when the bucket is empty. */
int tw__simapi_ratelimit(tw_simapi_ctx_t *x, unsigned cost);

#endif
