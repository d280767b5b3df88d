/* twitchd: EventSub over the webhook transport.
 *
 * Two parts (docs/twitch-protocol.md 3.4):
 *
 * Verification (layer proto, sans-IO). tw_eventsub_webhook_verify() judges
 * one POST Twitch sent to our callback, from its Twitch-Eventsub-* headers,
 * the raw body, the subscription secret and the current time (passed in),
 * and returns a verdict: a challenge to answer, a notification or a
 * revocation (decoded like the WebSocket messages, twitchd/eventsub.h), or
 * a refusal with the HTTP status to answer and a reason. Checks, in this
 * order, so that nothing unauthenticated is parsed as JSON:
 *
 *   400  a required header is missing, empty or too long (message id,
 *        type, signature, timestamp); the body is over the size cap
 *   403  the signature is not "sha256=" + 64 hex digits, or does not match
 *        HMAC-SHA256(secret, message_id || timestamp || body), compared in
 *        constant time
 *   403  the timestamp is not RFC 3339, is more than
 *        TW_EVENTSUB_WEBHOOK_MAX_AGE_S old, or more than
 *        TW_EVENTSUB_WEBHOOK_MAX_FUTURE_S in the future. 403 rather than
 *        400: a stale message is a replay, refused for the same reason as a
 *        forged one (authenticity), and Twitch treats any 4xx alike.
 *   400  an unknown message type; a body that is not the JSON the type
 *        needs (challenge string, subscription, event)
 *
 * The receiver counts 403s for the signature as bad_signature and 403s
 * for the timestamp (unparsable, old or future) as stale.
 *
 * Receiver and subscriber (layer twitch, declared in
 * twitchd/eventsub_webhook_client.h). A tw_eventsub_webhook_t creates
 * the webhook subscriptions through Helix (with an app access token) and
 * handles the POSTs Twitch sends: it does not own an HTTP server; the
 * owner's server calls tw_eventsub_webhook_handle() for POST <path>.
 * Behaviour:
 *
 *  - tw_eventsub_webhook_start(): resolve the broadcasters (Get Users),
 *    then Create EventSub Subscription for each channel x type with
 *    transport {webhook, callback = base URL + path, secret}. Existing
 *    subscriptions are neither listed nor deleted: Twitch answers 409 for
 *    a type+condition+callback that already exists, which is counted as
 *    "already subscribed"; but an old one then keeps the secret it was
 *    made with, so configure a fixed `secret` when the process restarts
 *    (a generated one is new at each start; see the status SUB_FAILED
 *    with err TW_EEXIST).
 *  - webhook_callback_verification: 200 text/plain with the raw challenge.
 *  - notification: deduplicated by message id (TW_EVENTSUB_WEBHOOK_DEDUPE
 *    ids, each kept at least TW_EVENTSUB_WEBHOOK_DEDUPE_KEEP_MS), mapped to
 *    a tw_event_t (twitchd/eventsub_events.h) and given to on_event, then
 *    204; a duplicate is 204 without reprocessing.
 *  - revocation: logged, on_status; the subscription is not created again
 *    by this client (authorization_revoked, user_removed, version_removed
 *    are final; for others a new start() subscribes again). 204.
 *  - anything refused: the verdict's status and a short text/plain reason.
 *  - The secret is registered with tw_log_add_secret(); neither it nor the
 *    token is ever logged.
 */
#ifndef TWITCHD_EVENTSUB_WEBHOOK_H
#define TWITCHD_EVENTSUB_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twitchd/eventsub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Replay window: older messages are refused (Twitch's advice, 10 min). */
#define TW_EVENTSUB_WEBHOOK_MAX_AGE_S 600
/* Clock skew tolerated for timestamps ahead of ours. Kept small: a message
 * dated in the future stays "fresh" longer, widening the replay window. */
#define TW_EVENTSUB_WEBHOOK_MAX_FUTURE_S 120
/* Largest body accepted (the decoder's cap). */
#define TW_MAX_EVENTSUB_WEBHOOK_BODY TW_MAX_EVENTSUB_MESSAGE
/* Longest challenge echoed back, in bytes (Twitch's are ~40). */
#define TW_MAX_EVENTSUB_WEBHOOK_CHALLENGE 1024
/* Longest header value accepted (ids, timestamp, signature...). */
#define TW_MAX_EVENTSUB_WEBHOOK_HEADER 256
/* Secret length bounds (Twitch: 10..100 ASCII characters). */
#define TW_EVENTSUB_WEBHOOK_SECRET_MIN 10
#define TW_EVENTSUB_WEBHOOK_SECRET_MAX 100

/* The Twitch-Eventsub-* headers of one request; each borrowed, NULL when
 * absent. */
typedef struct {
  const char *message_id;           /* Twitch-Eventsub-Message-Id */
  const char *message_retry;        /* Twitch-Eventsub-Message-Retry */
  const char *message_type;         /* Twitch-Eventsub-Message-Type */
  const char *signature;            /* Twitch-Eventsub-Message-Signature */
  const char *timestamp;            /* Twitch-Eventsub-Message-Timestamp */
  const char *subscription_type;    /* Twitch-Eventsub-Subscription-Type */
  const char *subscription_version; /* Twitch-Eventsub-Subscription-Version */
} tw_eventsub_webhook_headers_t;

/* The header names, as Twitch spells them (lookups are case-insensitive). */
#define TW_EVENTSUB_HDR_MESSAGE_ID "Twitch-Eventsub-Message-Id"
#define TW_EVENTSUB_HDR_MESSAGE_RETRY "Twitch-Eventsub-Message-Retry"
#define TW_EVENTSUB_HDR_MESSAGE_TYPE "Twitch-Eventsub-Message-Type"
#define TW_EVENTSUB_HDR_SIGNATURE "Twitch-Eventsub-Message-Signature"
#define TW_EVENTSUB_HDR_TIMESTAMP "Twitch-Eventsub-Message-Timestamp"
#define TW_EVENTSUB_HDR_SUB_TYPE "Twitch-Eventsub-Subscription-Type"
#define TW_EVENTSUB_HDR_SUB_VERSION "Twitch-Eventsub-Subscription-Version"

typedef enum {
  TW_EVENTSUB_WH_REFUSE = 0,   /* answer `status` with `reason` */
  TW_EVENTSUB_WH_CHALLENGE,    /* answer 200 text/plain `challenge` */
  TW_EVENTSUB_WH_NOTIFICATION, /* `msg` is a decoded notification */
  TW_EVENTSUB_WH_REVOCATION    /* `msg` is a decoded revocation */
} tw_eventsub_wh_kind_t;

typedef struct {
  tw_eventsub_wh_kind_t kind;
  /* The HTTP status to answer: the refusal's 400/403; 200 for a
   * challenge; 204 for a notification or revocation. */
  int status;
  /* Refusal: a sentence for the log and the response body; never quotes
   * the secret or the signature. "" otherwise. */
  char reason[TW_MAX_EVENTSUB_ERR];
  /* Challenge: the raw challenge (NUL-terminated, challenge_len bytes),
   * valid until tw_eventsub_webhook_verdict_free(). */
  const char *challenge;
  size_t challenge_len;
  /* Notification and revocation: the message, its metadata taken from the
   * headers (message_type is "notification"/"revocation"). For a
   * challenge, msg.subscription.{id,type,version,status} are filled too. */
  tw_eventsub_msg_t msg;
  /* Message-Retry as a number (0 when absent or not a number). */
  unsigned retry;
  /* The message timestamp, ms since the epoch. */
  int64_t timestamp_ms;
} tw_eventsub_wh_verdict_t;

/* Judges one request. `h` (borrowed) holds the headers; `body` (len bytes,
 * borrowed, not NUL-terminated; may be NULL when len is 0) is the raw
 * body; `secret` (borrowed) the subscription secret; `now_ms` the current
 * time in ms since the epoch. Always fills *out (free it with
 * tw_eventsub_webhook_verdict_free() whatever the result) and returns 0,
 * or TW_EINVAL for NULL arguments (then *out, when not NULL, is a refusal
 * with status 400). Status 500 is used only when memory or OpenSSL fail. */
int tw_eventsub_webhook_verify(const tw_eventsub_webhook_headers_t *h,
                               const char *body, size_t len, const char *secret,
                               int64_t now_ms, tw_eventsub_wh_verdict_t *out);

/* Frees what a verdict holds and clears it. NULL is ignored. */
void tw_eventsub_webhook_verdict_free(tw_eventsub_wh_verdict_t *v);

/* Writes "sha256=" + lowercase hex HMAC-SHA256(secret, id || timestamp ||
 * body) into out (capacity cap >= TW_EVENTSUB_WEBHOOK_SIG_BUF). All inputs
 * borrowed. Returns 0, TW_EINVAL, TW_ETOOBIG (cap too small). Used to sign
 * test requests and by the simulator's sender. */
#define TW_EVENTSUB_WEBHOOK_SIG_BUF (7 + 64 + 1)
int tw_eventsub_webhook_sign(const char *secret, const char *message_id,
                             const char *timestamp, const char *body,
                             size_t len, char *out, size_t cap);

/* The Message-Timestamp parser: core's tw_time_parse_rfc3339()
 * (twitchd/clock.h). Returns 0 or TW_EPARSE. */
int tw_eventsub_webhook_parse_time(const char *s, int64_t *ms_out);

#ifdef __cplusplus
}
#endif
#endif
