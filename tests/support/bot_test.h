/* Helpers for tests of the skills runtime: a route callback that keeps
 * the actions skills send, event builders, fixture paths and log capture. */
#ifndef TWITCHD_TEST_BOT_TEST_H
#define TWITCHD_TEST_BOT_TEST_H

#include <stdio.h>

#include "twitchd/bot.h"

#define TW_TEST_SINK_MAX 512 /* actions kept; later ones are refused */

typedef struct {
  char connector[64];
  tw_event_t *ev; /* owned by the sink */
} tw_test_action_t;

typedef struct {
  tw_test_action_t v[TW_TEST_SINK_MAX];
  size_t n;
  int fail_rc;    /* when non-zero, every route call returns it */
  size_t refused; /* route calls that returned an error */
} tw_test_sink_t;

/* tw_bot_route_fn storing into the tw_test_sink_t given as arg. */
int tw_test_sink_route(const char *connector, tw_event_t *action, void *arg);
/* Frees every kept action and empties the sink. */
void tw_test_sink_clear(tw_test_sink_t *sink);
/* A string field of action i ("" when unset; NULL when i is out of range). */
const char *tw_test_sink_str(const tw_test_sink_t *sink, size_t i,
                             const char *field);

/* A chat Message as the chat client would make it: connector "twitch",
 * target "#chan", room_id "1000", with the given login, id and text.
 * Caller frees. */
tw_event_t *tw_test_message(const char *user, const char *user_id,
                            const char *text);

/* $TW_FIXTURES/<rel> in a static buffer (one per call site is enough:
 * callers copy or use it at once). */
const char *tw_test_fixture(const char *rel);

/* Starts capturing the log into a temporary file; tw_test_log_end()
 * restores stderr and returns what was written (malloc'd). */
void tw_test_log_begin(void);
char *tw_test_log_end(void);

#endif
