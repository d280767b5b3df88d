/* twitchd: stream up/down from polling Helix Get Streams.
 *
 * Until the EventSub client lands, this is where StreamStarted and
 * StreamEnded come from: every interval, one Get Streams request for all
 * watched channels (by login, up to 100 per request as Twitch allows), and
 * an event for each change of a channel's live state. The first answer only
 * learns the state (a bot restarted in the middle of a stream does not
 * announce it again); it is reported through on_state with first set, so
 * that chat can join a channel that is already live.
 *
 * A failed request is logged and the next interval tries again; the state
 * is kept, so a network blip never fakes a stream ending.
 *
 * Everything runs on the loop's thread.
 */
#ifndef TWITCHD_STREAM_WATCH_H
#define TWITCHD_STREAM_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "twitchd/event.h"
#include "twitchd/helix_client.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_STREAM_WATCH_MAX_CHANNELS 100 /* one Get Streams request */
#define TW_STREAM_WATCH_DEFAULT_MS 60000u
#define TW_STREAM_WATCH_MIN_MS 100u /* tests; Twitch needs no less than 1 s */

typedef struct tw_stream_watch tw_stream_watch_t;

typedef struct {
  /* Channel logins without '#' (copied), 1..TW_STREAM_WATCH_MAX_CHANNELS. */
  const char *const *channels;
  size_t nchannels;
  uint32_t interval_ms;  /* 0: TW_STREAM_WATCH_DEFAULT_MS */
  const char *connector; /* events' connector; NULL: "twitch" */
  /* StreamStarted / StreamEnded; ownership of ev passes to the callee, who
   * frees it with tw_event_free(). */
  void (*on_event)(tw_event_t *ev, void *ud);
  /* Every learned state: first is true for the first answer about the
   * channel, then it is called on each change. May be NULL. */
  void (*on_state)(const char *channel, bool live, bool first, void *ud);
  void *ud;
} tw_stream_watch_opts_t;

/* The pure part, for tests: given whether `channel` was known and live
 * before and what Get Streams answered (`s`: the channel's stream, or NULL
 * when it is not live), fills *ev (NULL when nothing changed or the state
 * was not known) with the event to report. Returns the new live state. */
bool tw_stream_watch_apply(const char *channel, const char *connector,
                           bool known, bool was_live,
                           const tw_helix_stream_t *s, tw_event_t **ev);

/* Creates a watcher using `hc` (borrowed; must outlive it). Nothing is
 * sent before tw_stream_watch_start(). Returns 0, TW_EINVAL or
 * TW_ENOMEM. */
int tw_stream_watch_new(uv_loop_t *loop, tw_helix_client_t *hc,
                        const tw_stream_watch_opts_t *opts,
                        tw_stream_watch_t **out);

/* Sends the first request now, then one per interval. */
int tw_stream_watch_start(tw_stream_watch_t *w);

/* True when the channel is known to be live. */
bool tw_stream_watch_is_live(const tw_stream_watch_t *w, const char *channel);

/* Cancels the request in flight and the timer; `cb` (may be NULL) runs
 * from the loop once the memory is freed. */
void tw_stream_watch_close(tw_stream_watch_t *w, void (*cb)(void *ud),
                           void *ud);

#ifdef __cplusplus
}
#endif
#endif
