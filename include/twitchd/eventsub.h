/* twitchd: EventSub WebSocket messages (sans-IO decoder) and the EventSub
 * WebSocket client.
 *
 * Decoder (layer proto). tw_eventsub_decode() parses one WebSocket text
 * message from Twitch's EventSub server ({"metadata":{...},"payload":{...}},
 * docs/twitch-protocol.md 3.5) into a tw_eventsub_msg_t: the metadata, the
 * session of a welcome or reconnect, the subscription and event of a
 * notification, the subscription of a revocation. No sockets, no clock: the
 * message timestamp is kept as the RFC 3339 text Twitch sent. Unknown members
 * are ignored (production sends undocumented ones such as recovery_url); an
 * unknown message_type decodes as TW_EVENTSUB_MSG_UNKNOWN so that a future
 * type does not break the connection. Anything else malformed is TW_EPARSE
 * with a sentence naming the member.
 *
 * The client (layer twitch) is declared in twitchd/eventsub_client.h; the
 * mapping of notifications to tw_event_t is in twitchd/eventsub_events.h.
 */
#ifndef TWITCHD_EVENTSUB_H
#define TWITCHD_EVENTSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest message decoded, in bytes: the WebSocket client's own message
 * limit (TW_MAX_WS_MESSAGE); Twitch's notifications are a few KiB. */
#define TW_MAX_EVENTSUB_MESSAGE (1024u * 1024u)
/* Longest id kept (message id, session id, subscription id), in bytes.
 * Twitch's are UUIDs and ~40-character session ids. */
#define TW_MAX_EVENTSUB_ID 256
/* Longest reconnect URL accepted (the WebSocket client's URL cap). */
#define TW_MAX_EVENTSUB_URL 2048
/* Longest error sentence written by the decoder. */
#define TW_MAX_EVENTSUB_ERR 160
/* Twitch's bounds for keepalive_timeout_seconds (3.5). */
#define TW_EVENTSUB_KEEPALIVE_MIN_S 10
#define TW_EVENTSUB_KEEPALIVE_MAX_S 600

typedef enum {
  TW_EVENTSUB_MSG_UNKNOWN = 0, /* a message_type this code does not know */
  TW_EVENTSUB_MSG_WELCOME,     /* session_welcome */
  TW_EVENTSUB_MSG_KEEPALIVE,   /* session_keepalive */
  TW_EVENTSUB_MSG_NOTIFICATION,
  TW_EVENTSUB_MSG_RECONNECT, /* session_reconnect */
  TW_EVENTSUB_MSG_REVOCATION
} tw_eventsub_msg_type_t;

/* One decoded message. Every string points into the parsed tree and is valid
 * until tw_eventsub_msg_free(); NULL when Twitch sent null or left it out. */
typedef struct {
  tw_eventsub_msg_type_t type;
  /* metadata */
  const char *message_id;           /* required */
  const char *message_type;         /* required, as sent */
  const char *message_timestamp;    /* required, RFC 3339 text */
  const char *subscription_type;    /* notification, revocation */
  const char *subscription_version; /* notification, revocation */
  /* payload.session: welcome (id, status, keepalive) and reconnect (id,
   * status, reconnect_url). keepalive_timeout_seconds is -1 when null. */
  struct {
    const char *id;
    const char *status;
    const char *connected_at;
    const char *reconnect_url;
    int64_t keepalive_timeout_seconds;
  } session;
  /* payload.subscription: notification and revocation. condition is the
   * object (borrowed from the tree; never NULL for those two types). */
  struct {
    const char *id, *type, *version, *status;
    const json_t *condition;
  } subscription;
  /* payload.event: notification only (borrowed from the tree). */
  const json_t *event;
  void *json_; /* private: the tree */
} tw_eventsub_msg_t;

/* Decodes `data` (len bytes, borrowed; not NUL-terminated) into *out, which
 * the call fills (free it with tw_eventsub_msg_free() whatever the result).
 * Returns 0; TW_ETOOBIG over TW_MAX_EVENTSUB_MESSAGE; TW_EPARSE when the
 * text is not a JSON object, a required member is missing or has the wrong
 * type, an id is longer than TW_MAX_EVENTSUB_ID, or a welcome's keepalive
 * is outside 1..TW_EVENTSUB_KEEPALIVE_MAX_S; TW_EINVAL for NULL arguments.
 * On an error `err` (capacity err_cap, may be NULL/0) gets a sentence naming
 * the member; it never quotes the message (which may be large). */
int tw_eventsub_decode(const char *data, size_t len, tw_eventsub_msg_t *out,
                       char *err, size_t err_cap);

/* Webhook metadata (the Twitch-Eventsub-* headers), borrowed. */
typedef struct {
  const char *message_id;
  const char *message_type; /* "notification", "revocation"... */
  const char *timestamp;
  const char *subscription_type;    /* may be NULL */
  const char *subscription_version; /* may be NULL */
} tw_eventsub_webhook_meta_t;

/* Decodes a webhook request body (`body`, len bytes, borrowed; the
 * {"subscription","event"} payload of docs/twitch-protocol.md 3.4) with
 * the metadata Twitch sends as headers (`meta`, borrowed; copied into the
 * message) into *out, with the same rules and results as
 * tw_eventsub_decode(). The signature is not checked here: see
 * twitchd/eventsub_webhook.h. "webhook_callback_verification" decodes as
 * TW_EVENTSUB_MSG_UNKNOWN (its payload is not validated). */
int tw_eventsub_decode_webhook(const char *body, size_t len,
                               const tw_eventsub_webhook_meta_t *meta,
                               tw_eventsub_msg_t *out, char *err,
                               size_t err_cap);

/* Frees the tree behind `m` and clears it. NULL is ignored. */
void tw_eventsub_msg_free(tw_eventsub_msg_t *m);

/* The wire name of a type ("session_welcome"...), static. */
const char *tw_eventsub_msg_type_name(tw_eventsub_msg_type_t t);

/* A string member of the subscription's condition ("broadcaster_user_id"),
 * borrowed from the tree, or NULL when absent or not a string. */
const char *tw_eventsub_condition(const tw_eventsub_msg_t *m, const char *key);

/* The event object as compact JSON (keys in the order sent) in a new
 * malloc'ed string the caller frees, or NULL when there is no event or no
 * memory. For the `raw` field of the events built from it. */
char *tw_eventsub_event_json(const tw_eventsub_msg_t *m);

#ifdef __cplusplus
}
#endif
#endif
