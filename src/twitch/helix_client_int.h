/* twitchd: internals of the Helix client shared by its source files
 * (private to src/twitch). helix_client.c is the request engine (queue,
 * tokens, buckets, retries, curl); helix_users.c the users cache and
 * lookups; helix_calls.c the convenience calls and clip confirmation. */
#ifndef TWITCHD_TWITCH_HELIX_CLIENT_INT_H
#define TWITCHD_TWITCH_HELIX_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "twitchd/helix_client.h"

/* Longest login kept in the cache (Twitch logins have at most 25). */
#define TW__HELIX_MAX_LOGIN 64

/* Internal submission: like tw_helix_client_send(), but the request is
 * first sent no sooner than `delay_ms` from now (clip polling). */
int tw__helix_submit(tw_helix_client_t *c, const tw_helix_req_t *req,
                     uint64_t delay_ms, tw_helix_done_cb cb, void *arg,
                     uint64_t *id);

/* A new call id (never 0, never reused by this client). */
uint64_t tw__helix_next_id(tw_helix_client_t *c);

/* Asks the engine to run its pump soon (from the loop). */
void tw__helix_kick(tw_helix_client_t *c);

/* Clip jobs and lookups: cancel one by id (0 or TW_ENOTFOUND); cancel all
 * at close, completing each with TW_ECANCELED; deliver ready lookups. */
int tw__helix_users_cancel(tw_helix_client_t *c, uint64_t id);
void tw__helix_users_close(tw_helix_client_t *c);
void tw__helix_users_deliver(tw_helix_client_t *c);
int tw__helix_clips_cancel(tw_helix_client_t *c, uint64_t id);
void tw__helix_clips_close(tw_helix_client_t *c);

/* Fills the cache from a Get Users answer. */
void tw__helix_cache_fill(tw_helix_client_t *c, const tw_helix_users_t *u);

/* Users-cache and job state hung off the client. */
typedef struct tw__helix_user tw__helix_user_t;
typedef struct tw__helix_lookup tw__helix_lookup_t;
typedef struct tw__helix_clipjob tw__helix_clipjob_t;

typedef struct {
  tw__helix_user_t *users; /* cache entries, `cap` of them */
  size_t cap;
  size_t n;
  uint64_t ttl_ms;
  uint64_t tick; /* LRU clock */
  tw__helix_lookup_t *lookups;
  size_t nlookups;
  tw__helix_clipjob_t *clips;
  uint64_t clip_window_ms;
  uint64_t clip_poll_ms;
} tw__helix_ext_t;

/* The client's extension state, and its stats for the helpers. */
tw__helix_ext_t *tw__helix_ext(tw_helix_client_t *c);
tw_helix_stats_t *tw__helix_stats(tw_helix_client_t *c);
bool tw__helix_closing(const tw_helix_client_t *c);

#endif
