/* twitchd: the runtime behind `twitchd run`.
 *
 * A tw_runtime_t puts the pieces together on one libuv loop: the Twitch
 * connector (chat client, credentials, Helix actions), the outgoing webhook
 * connectors and the skills (tw_bot_t). Events the connectors receive are
 * logged and dispatched to the skills; actions the skills send are routed to
 * the connector they name:
 *
 *   twitch   Message -> chat (tw_chat_say), in the action's room or the
 *            first configured channel; other actions -> Helix
 *   <name>   a webhook connector of that name (connectors.webhook)
 *
 * The command line owns signals and files; the runtime owns connections.
 * Reloading (SIGHUP) gives the runtime a new configuration: skills and
 * logging change, channels are joined and left, and the connections stay.
 *
 * Everything runs on the loop's thread.
 */
#ifndef TWITCHD_RUNTIME_H
#define TWITCHD_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "twitchd/bot.h"
#include "twitchd/chat.h"
#include "twitchd/config.h"
#include "twitchd/event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Name of the Twitch connector, as skills address it. */
#define TW_RUNTIME_TWITCH "twitch"

typedef struct tw_runtime tw_runtime_t;

typedef struct {
  /* Overrides, for `twitchd run --sim` and tests; NULL keeps the config's.
   * irc_url, helix_url and eventsub_url replace the endpoints,
   * ca_file replaces ca-file. When token is set, it, login and user_id are
   * used for chat and Helix instead of the token file. */
  const char *irc_url;
  const char *helix_url;
  const char *eventsub_url;
  const char *ca_file;
  const char *login;
  const char *token;
  const char *user_id; /* the token's user (the moderator of Helix calls) */
  /* Stream checks every this many ms instead of stream-check-seconds (0:
   * the configuration's). */
  uint32_t stream_check_ms;
  /* Log every event received, as one JSON object, at info level. */
  bool log_events;
  /* Chat client settings to start from (timeouts, limits) instead of
   * tw_chat_opts_default(); url, channels, login, token and ca_file are
   * replaced. Borrowed for tw_runtime_new(). */
  const tw_chat_opts_t *chat_base;
} tw_runtime_opts_t;

typedef struct {
  uint64_t events;         /* events received from connectors or injected */
  uint64_t handlers;       /* skill handlers run for them */
  uint64_t actions;        /* actions routed to a connector and accepted */
  uint64_t actions_failed; /* refused by the connector, or no such one */
  uint64_t chat_sent;      /* Message actions queued on chat */
  uint64_t webhook_sent;   /* webhook deliveries that succeeded */
  uint64_t webhook_failed; /* webhook deliveries that failed for good */
  uint64_t helix_done;     /* Twitch actions performed through Helix */
  uint64_t helix_failed;   /* Twitch actions Helix refused or that failed */
  uint64_t reloads;        /* successful tw_runtime_reload() calls */
} tw_runtime_stats_t;

/* Creates the runtime for `cfg` (a configuration loaded without errors).
 * On success the runtime owns cfg and frees it; on failure the caller keeps
 * it. Skills are loaded here: a skill that fails to load is logged and left
 * out (the others run) and the call still succeeds; tw_bot_load_error_count
 * on tw_runtime_bot() tells. Nothing connects before tw_runtime_start().
 * Returns 0 and *out; TW_ECONFIG (a token file that cannot be read, a bad
 * endpoint), TW_EINVAL, TW_ENOMEM, or what the chat client or webhooks
 * return; the reason is logged. */
int tw_runtime_new(uv_loop_t *loop, tw_config_t *cfg,
                   const tw_runtime_opts_t *opts, tw_runtime_t **out);

/* Connects the connectors and starts the skill timers. Returns 0 or
 * TW_ESTATE. */
int tw_runtime_start(tw_runtime_t *rt);

/* Switches to `cfg` (loaded without errors): logging level and format,
 * skills (tw_bot_reload_config: unchanged skills keep running, a changed
 * skill that fails to load keeps its previous version), the channels chat
 * is in. Settings that need new connections (endpoints, client id, tokens,
 * webhooks) are kept as they were, with a warning naming them. On return the
 * runtime owns cfg (whatever the result). Returns 0, TW_ECONFIG when some
 * skill failed to load (the rest applied), TW_ESTATE while closing. */
int tw_runtime_reload(tw_runtime_t *rt, tw_config_t *cfg);

/* Test hook: handles `ev` (borrowed) as if a connector had received it
 * (logged, dispatched to the skills). Returns what tw_bot_dispatch()
 * returns, or TW_ESTATE while closing. */
int tw_runtime_inject(tw_runtime_t *rt, const tw_event_t *ev);

/* The skills runtime and the chat client, borrowed (NULL when not there). */
tw_bot_t *tw_runtime_bot(tw_runtime_t *rt);
tw_chat_t *tw_runtime_chat(tw_runtime_t *rt);

void tw_runtime_stats(const tw_runtime_t *rt, tw_runtime_stats_t *out);

/* Closes every connection and timer and frees the runtime; `cb` (may be
 * NULL) runs from the loop once everything is closed. Safe to call once;
 * also on a runtime never started. */
void tw_runtime_close(tw_runtime_t *rt, void (*cb)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
