/* twitchd: where an API client gets its access token.
 *
 * The Helix client (and anything else that sends a bearer token) does not own
 * tokens; it asks a token source. The credentials manager (tw_creds_t) is the
 * real source; tests may provide their own. The indirection keeps the client
 * free of storage, refresh timing and single-flight concerns, and lets one
 * credentials manager serve several clients, so that a refresh triggered by
 * any of them is the only refresh (docs/twitch-protocol.md, section 1).
 *
 * Everything runs on the loop's thread.
 */
#ifndef TWITCHD_TOKEN_SOURCE_H
#define TWITCHD_TOKEN_SOURCE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Answer to a refresh request. status is 0 with access_token set (borrowed
 * for the call; copy it), or a negative TW_E* code: TW_EAUTH when the token
 * cannot be renewed without the user (run `twitchd auth`), TW_ECANCELED when
 * the source is shutting down, another code for a transient failure the
 * source gave up on. Always called from the loop, never from inside
 * refresh() itself. */
typedef void (*tw_token_ready_cb)(void *arg, int status,
                                  const char *access_token);

typedef struct tw_token_source {
  /* The current access token (without "oauth:"), or NULL when there is none
   * yet. Borrowed until the next return to the loop. */
  const char *(*current)(void *ud);
  /* The user id the token belongs to ("" or NULL for an app token). Used as
   * the moderator or sender id of Helix requests. Borrowed like current. */
  const char *(*user_id)(void *ud);
  /* A request sent with `rejected` (borrowed) got 401, or no token is
   * available yet: produce a fresh one and call cb(arg, ...) exactly once.
   * Concurrent calls share one refresh (single-flight). When `rejected` is
   * no longer the current token, a source may answer with the current one
   * without refreshing. Returns 0 when cb will be called, or a negative
   * TW_E* code (cb will not be called). */
  int (*refresh)(void *ud, const char *rejected, tw_token_ready_cb cb,
                 void *arg);
  /* Withdraws a pending refresh request (cb, arg): cb will not be called.
   * Harmless when none is pending. */
  void (*cancel)(void *ud, tw_token_ready_cb cb, void *arg);
  void *ud;
} tw_token_source_t;

#ifdef __cplusplus
}
#endif

#endif
