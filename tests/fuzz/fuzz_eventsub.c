/* libFuzzer target for the EventSub WebSocket decoder and the mapping of
 * notifications to events: arbitrary bytes as one message. What must hold:
 * no crash or leak; errors are only the documented codes; a decoded message
 * has its required members; a mapped event has a kind, a target starting
 * with '#' and the message id as event_id. Seeds: the examples of
 * docs/twitch-protocol.md 3.3 and 3.5. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/eventsub.h"
#include "twitchd/eventsub_events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tw_eventsub_msg_t m;
  char err[TW_MAX_EVENTSUB_ERR];
  int rc = tw_eventsub_decode((const char *)data, size, &m, err, sizeof(err));
  if (rc != 0) {
    if (rc != TW_EPARSE && rc != TW_ETOOBIG)
      abort();
    if (err[0] == '\0')
      abort(); /* every refusal says why */
    tw_eventsub_msg_free(&m);
    return 0;
  }
  if (!m.message_id || !*m.message_id || !m.message_type ||
      !m.message_timestamp)
    abort();
  if ((m.type == TW_EVENTSUB_MSG_WELCOME ||
       m.type == TW_EVENTSUB_MSG_RECONNECT) &&
      (!m.session.id || !*m.session.id))
    abort();
  if (m.type == TW_EVENTSUB_MSG_RECONNECT && !m.session.reconnect_url)
    abort();
  if (m.type == TW_EVENTSUB_MSG_NOTIFICATION) {
    if (!m.event || !m.subscription.type || !m.subscription.condition)
      abort();
    tw_event_t *ev = NULL;
    rc = tw_eventsub_to_event(&m, NULL, &ev, err, sizeof(err));
    if (rc == 0) {
      if (!ev || !ev->target || ev->target[0] != '#' || !ev->event_id ||
          strcmp(ev->event_id, m.message_id) != 0)
        abort();
      json_t *j = tw_event_to_json(ev, 0);
      json_decref(j);
      tw_event_free(ev);
    } else if (rc != TW_EPARSE && rc != TW_EUNSUPPORTED && rc != TW_ENOMEM) {
      abort();
    } else if (ev) {
      abort();
    }
  }
  tw_eventsub_msg_free(&m);
  return 0;
}
