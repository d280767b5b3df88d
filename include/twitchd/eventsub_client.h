/* twitchd: the EventSub WebSocket client (layer twitch).
 *
 * A tw_eventsub_t keeps one EventSub WebSocket session open on the loop
 * (docs/twitch-protocol.md 3.5, docs/eventsub.md) and turns its
 * notifications into tw_event_t (twitchd/eventsub_events.h):
 *
 *  - Connect to opts.url; on session_welcome, resolve the broadcasters'
 *    ids (Get Users, cached by the Helix client) and create every wanted
 *    subscription through Helix with transport {websocket, session_id},
 *    within Twitch's 10 s window.
 *  - A subscription refused for a missing scope (401 "Missing scope" or
 *    403) is logged once, naming the scope, and skipped for the life of
 *    the client; the others continue. Other refusals are retried on the
 *    next session only, never in a loop.
 *  - Liveness: no message (notification or keepalive) for the session's
 *    keepalive_timeout_seconds plus a margin drops the connection; the
 *    client reconnects with backoff (full jitter, reset after a healthy
 *    period) and subscribes again on the new session. Events during the
 *    gap are lost: Twitch does not replay them.
 *  - session_reconnect: a second connection to reconnect_url exactly as
 *    given; the old one keeps delivering until the new one's welcome, then
 *    it is closed. No resubscription (subscriptions move with the session).
 *  - Notifications are deduplicated by message_id over the last
 *    TW_EVENTSUB_DEDUPE ids, across both connections of a switch.
 *  - Revocation: logged, reported through on_status, and the subscription
 *    is dropped; for authorization_revoked, user_removed and
 *    version_removed it is never created again.
 *  - Close codes (4000-4007) are logged with Twitch's meaning. The client
 *    never sends a text or binary frame (Twitch closes with 4001).
 *  - Nothing secret is logged: no token, and session ids only at debug.
 *
 * Everything runs on the loop's thread.
 */
#ifndef TWITCHD_EVENTSUB_CLIENT_H
#define TWITCHD_EVENTSUB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "twitchd/backoff.h"
#include "twitchd/event.h"
#include "twitchd/helix_client.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_EVENTSUB_DEFAULT_URL "wss://eventsub.wss.twitch.tv/ws"
/* Broadcasters and subscription types per client. Twitch allows 300
 * enabled subscriptions per connection; 100 x 16 is bounded by that at
 * Helix, and the client refuses options over TW_MAX_EVENTSUB_SUBS. */
#define TW_MAX_EVENTSUB_CHANNELS 100
#define TW_MAX_EVENTSUB_TYPES 16
#define TW_MAX_EVENTSUB_SUBS 300
/* Message ids remembered for dedupe. Twitch redelivers within seconds;
 * 1024 ids cover minutes of a busy channel's events. */
#define TW_EVENTSUB_DEDUPE 1024
/* Margin added to keepalive_timeout_seconds before the connection is
 * declared dead (at most half the timeout, for sub-second test values):
 * the keepalive is due at the end of the window and needs time to travel. */
#define TW_EVENTSUB_KEEPALIVE_MARGIN_MS 3000u
/* Reconnect backoff defaults: full jitter from 1 s up to 2 min; the attempt
 * count resets after a session stayed up for a minute. */
#define TW_EVENTSUB_BACKOFF_BASE_MS 1000u
#define TW_EVENTSUB_BACKOFF_CAP_MS 120000u
#define TW_EVENTSUB_HEALTHY_MS 60000u

/* One wanted subscription type. */
typedef struct {
  const char *type;    /* "channel.follow" */
  const char *version; /* "2" */
} tw_eventsub_type_t;

typedef enum {
  TW_EVENTSUB_ST_CONNECTED = 0, /* a session's welcome arrived */
  TW_EVENTSUB_ST_SUBSCRIBED,    /* a subscription was created */
  TW_EVENTSUB_ST_SUB_FAILED,    /* a subscription was refused (err, scope) */
  TW_EVENTSUB_ST_REVOKED,       /* Twitch revoked one (status) */
  TW_EVENTSUB_ST_DISCONNECTED,  /* the session ended (code, reason) */
  TW_EVENTSUB_ST_MIGRATED       /* session_reconnect completed */
} tw_eventsub_status_kind_t;

/* What on_status reports; strings borrowed for the call, NULL when not
 * relevant to the kind. */
typedef struct {
  tw_eventsub_status_kind_t kind;
  const char *type;     /* subscription type */
  const char *channel;  /* broadcaster login */
  const char *sub_id;   /* SUBSCRIBED, REVOKED: the subscription's id */
  const char *status;   /* REVOKED: Twitch's status */
  const char *scope;    /* SUB_FAILED for a missing scope */
  int err;              /* SUB_FAILED, DISCONNECTED: TW_E* code or 0 */
  int code;             /* DISCONNECTED: WebSocket close code */
  const char *reason;   /* DISCONNECTED: close reason or what we saw */
  uint64_t retry_in_ms; /* DISCONNECTED: delay before the next connect */
} tw_eventsub_status_t;

typedef struct {
  /* WebSocket URL (copied); NULL: TW_EVENTSUB_DEFAULT_URL. */
  const char *url;
  /* Extra CA (PEM) for wss:// (tests, the simulator); NULL: system store. */
  const char *ca_file;
  /* Asked for with ?keepalive_timeout_seconds=N (10..600) when not 0. */
  unsigned keepalive_timeout_seconds;
  /* Watchdog override in ms (tests with a simulator that keeps alive faster
   * than whole seconds); 0: the welcome's keepalive plus the margin. */
  unsigned watchdog_ms;
  /* Broadcaster logins to subscribe for (copied),
   * 1..TW_MAX_EVENTSUB_CHANNELS. */
  const char *const *channels;
  size_t nchannels;
  /* Types (copied); NULL/0: the default list (stream.online,
   * stream.offline, channel.follow v2, channel.subscribe,
   * channel.subscription.message, channel.subscription.gift, channel.raid
   * (to_broadcaster_user_id), channel.cheer, channel.ban). */
  const tw_eventsub_type_t *types;
  size_t ntypes;
  /* moderator_user_id for channel.follow (copied); NULL: the Helix token
   * source's user at subscription time. */
  const char *moderator_user_id;
  const char *connector; /* events' connector; NULL: "twitch" */
  /* Backoff (0: the defaults above); rand NULL: the kernel's. */
  uint64_t backoff_base_ms, backoff_cap_ms, healthy_ms;
  tw_rand_fn rand;
  void *rand_ctx;
  /* Events; ownership of ev passes to the callee (tw_event_free()). */
  void (*on_event)(tw_event_t *ev, void *ud);
  /* Session and subscription changes; may be NULL. */
  void (*on_status)(const tw_eventsub_status_t *st, void *ud);
  void *ud;
} tw_eventsub_opts_t;

typedef struct tw_eventsub tw_eventsub_t;

/* Counters. */
typedef struct {
  uint64_t connects;      /* connections opened (reconnect URLs included) */
  uint64_t welcomes;      /* sessions welcomed */
  uint64_t notifications; /* notifications received (duplicates included) */
  uint64_t duplicates;    /* notifications dropped as already seen */
  uint64_t events;        /* events delivered to on_event */
  uint64_t keepalive_timeouts;
  uint64_t migrations;   /* session_reconnect switches completed */
  uint64_t subs_created; /* successful Create EventSub Subscription */
  uint64_t subs_failed;
  uint64_t revocations;
  uint64_t bad_messages; /* messages the decoder refused */
  unsigned subs_enabled; /* subscriptions live now */
  /* tw_now_ms() when the last message arrived (0: none yet), for a health
   * check's "seconds since the last inbound message". */
  uint64_t last_message_ms;
} tw_eventsub_stats_t;

/* Creates a client on `loop` using `hc` (borrowed; must outlive it). `opts`
 * borrowed for the call (strings copied). Nothing happens before
 * tw_eventsub_start(). Returns 0 and sets *out, TW_EINVAL (no channel, too
 * many, a bad type or keepalive, no on_event), TW_ECONFIG (ca_file
 * unreadable), TW_ENOMEM. */
int tw_eventsub_new(uv_loop_t *loop, tw_helix_client_t *hc,
                    const tw_eventsub_opts_t *opts, tw_eventsub_t **out);

/* Opens the first connection. Returns 0, TW_ESTATE (already started or
 * closing) or the connect error (a retry is scheduled anyway). */
int tw_eventsub_start(tw_eventsub_t *es);

/* Counters, copied into *out. */
void tw_eventsub_stats(const tw_eventsub_t *es, tw_eventsub_stats_t *out);

/* Closes connections, cancels Helix calls and timers; `cb` (may be NULL)
 * runs from the loop once the memory is freed. No callback runs after
 * this returns. Subscriptions are not deleted: Twitch disables them when
 * the connection closes. */
void tw_eventsub_close(tw_eventsub_t *es, void (*cb)(void *ud), void *ud);

/* The meaning of an EventSub close code ("connection unused"...), static;
 * "" for codes Twitch does not define. */
const char *tw_eventsub_close_reason(int code);

#ifdef __cplusplus
}
#endif
#endif
