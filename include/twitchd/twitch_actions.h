/* twitchd: skills' Twitch actions performed through Helix.
 *
 * A tw_twitch_actions_t turns action events (event.h) into Helix calls on a
 * tw_helix_client_t:
 *
 *   BanUser(user, duration, reason)  Ban User: `user` (a login) is resolved
 *                                    to an id with the client's cached Get
 *                                    Users (ev->user_id, when set, is used
 *                                    as is); duration > 0 is a timeout.
 *   DeleteMessage(id)                Delete Chat Messages with message_id.
 *   UpdateTitle(status)              Modify Channel Information {"title"}.
 *   CreateClip(id)                   Create Clip, confirmed with Get Clips
 *                                    (tw_helix_create_clip()); id, when a
 *                                    numeric id, is the broadcaster (the
 *                                    seed's field), else the channel's.
 *   Message(text)                    Send Chat Message, only when the
 *                                    connector sends chat through Helix
 *                                    (send-chat: helix); otherwise
 *                                    tw_twitch_actions_do() answers
 *                                    TW_EUNSUPPORTED and the caller sends it
 *                                    on IRC. As on IRC, control characters
 *                                    become spaces and a text over 500 code
 *                                    points goes out in several messages,
 *                                    cut at word boundaries, one after the
 *                                    other; the result covers them all.
 *
 * The channel is the action's target ("#login" or "login"), which must be
 * one of the configured channels; no target means the first one. The
 * broadcaster id is the channel's, resolved with Get Users and cached; the
 * moderator (or sender) id is the token source's user.
 *
 * Each action's outcome is logged (success, or the typed error; never the
 * token) and reported to the caller's callback, exactly once, from the
 * loop, never from inside tw_twitch_actions_do().
 */
#ifndef TWITCHD_TWITCH_ACTIONS_H
#define TWITCHD_TWITCH_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "twitchd/event.h"
#include "twitchd/helix_client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Actions in progress at once, ceiling and default. */
#define TW_MAX_TWITCH_ACTIONS 4096
#define TW_TWITCH_ACTIONS_DEFAULT 256
/* Channels one instance serves (the configuration's cap). */
#define TW_MAX_TWITCH_ACTION_CHANNELS 100
/* Longest detail text in a result, in bytes. */
#define TW_MAX_TWITCH_ACTION_DETAIL 512

typedef struct tw_twitch_actions tw_twitch_actions_t;

typedef struct {
  /* Channel logins without '#' (1..TW_MAX_TWITCH_ACTION_CHANNELS); copied,
   * compared without regard to case. */
  const char *const *channels;
  size_t nchannels;
  /* Message actions go through Send Chat Message (send-chat: helix). */
  bool send_chat_via_helix;
  /* 0: TW_TWITCH_ACTIONS_DEFAULT. */
  unsigned max_pending;
} tw_twitch_actions_opts_t;

/* One action's outcome. Borrowed for the callback. */
typedef struct {
  uint64_t seq;         /* 1, 2, ... in the order actions were accepted */
  tw_event_kind_t kind; /* TW_EVENT_BAN_USER, ... */
  const char *channel;  /* login, no '#' */
  /* 0 done; a TW_E* code otherwise: the Helix call's (see
   * tw_helix_result_t.err), TW_ENOTFOUND for an unknown user or channel,
   * and for a Message that Twitch refused with HTTP 200 and is_sent false:
   * TW_ERATELIMIT (rate or slow-mode drop), TW_EEXIST (duplicate),
   * TW_EFORBIDDEN (any other drop reason). */
  int err;
  int http_status; /* of the last Helix answer; 0 when none */
  /* The last Helix answer's typed error; kind NONE when none. */
  const tw_helix_error_t *error;
  /* What to log: a clip id and URL, a message id, a drop reason, the
   * server's or the network's error text. "" when nothing. */
  const char *detail;
} tw_twitch_action_result_t;

typedef void (*tw_twitch_action_cb)(const tw_twitch_action_result_t *res,
                                    void *arg);
typedef void (*tw_twitch_actions_close_cb)(void *arg);

typedef struct {
  uint64_t accepted;
  uint64_t succeeded;
  uint64_t failed;
  unsigned pending;
} tw_twitch_actions_stats_t;

/* Creates an instance using `hc` (borrowed; must outlive it) on `loop`
 * (borrowed). `opts` borrowed for the call. Returns 0 and sets *out, or
 * TW_EINVAL (NULL, no channel, a channel that is not a login, too many),
 * TW_ENOMEM. Free with tw_twitch_actions_close(). */
int tw_twitch_actions_new(uv_loop_t *loop, tw_helix_client_t *hc,
                          const tw_twitch_actions_opts_t *opts,
                          tw_twitch_actions_t **out);

/* True when tw_twitch_actions_do() would take `action` (borrowed): a
 * BanUser, DeleteMessage, UpdateTitle or CreateClip, or a Message when
 * chat goes through Helix. */
bool tw_twitch_actions_handles(const tw_twitch_actions_t *a,
                               const tw_event_t *action);

/* Performs `action` (borrowed; what is needed is copied). On 0, `cb` (may
 * be NULL) is called exactly once with `arg` and the outcome. Otherwise
 * returns, and `cb` is never called: TW_EUNSUPPORTED (not an action this
 * module performs, or a Message while chat goes through IRC), TW_EINVAL (a
 * required field missing or malformed: BanUser without user, a negative or
 * too long duration, DeleteMessage without id, UpdateTitle without status,
 * Message without text), TW_ENOTFOUND (the target is not a configured
 * channel), TW_EFULL (max_pending actions in progress), TW_ESTATE
 * (closing), TW_ENOMEM. */
int tw_twitch_actions_do(tw_twitch_actions_t *a, const tw_event_t *action,
                         tw_twitch_action_cb cb, void *arg);

void tw_twitch_actions_stats(const tw_twitch_actions_t *a,
                             tw_twitch_actions_stats_t *out);

/* Closes: every action in progress is reported with TW_ECANCELED (before
 * this returns) and its Helix call withdrawn; `cb` (may be NULL) runs
 * from the loop once the memory is freed. Close it before the Helix
 * client. */
void tw_twitch_actions_close(tw_twitch_actions_t *a,
                             tw_twitch_actions_close_cb cb, void *arg);

#ifdef __cplusplus
}
#endif
#endif
