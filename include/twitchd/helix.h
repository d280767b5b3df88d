/* twitchd: Helix (Twitch API) request builders and response decoders
 * (sans-IO).
 *
 * Builders turn an action into a tw_helix_req_t: method, target (path and
 * query, relative to the Helix base URL, encoded), JSON body (via jansson),
 * the status Twitch answers on success, and whether the request is safe to
 * send twice. Decoders turn response bodies into typed results, and error
 * bodies ({"error":"Unauthorized","status":401,"message":"Missing scope:
 * ..."}) into a typed tw_helix_error_t. The Ratelimit-* response headers
 * are parsed into a struct that feeds the core token bucket.
 *
 * No sockets, no clock, no globals. The client adds the headers every call
 * needs (Authorization: Bearer <token>, Client-Id, and Content-Type:
 * application/json when the body is not empty). docs/twitch-protocol.md
 * section 2 is the contract.
 *
 * Validation: ids that Twitch defines as numeric (user, broadcaster,
 * moderator ids) must be 1..TW_MAX_HELIX_ID decimal digits, so that a login
 * passed by mistake where an id belongs (the seed connector's bug) fails
 * here with TW_EINVAL instead of at Twitch. Other values are checked for
 * their documented lengths, counted in Unicode characters, and must be
 * valid UTF-8.
 *
 * Decoded results keep the parsed JSON tree alive and point into it: every
 * `const char *` of a result is valid until its _free() function, and is
 * NULL when Twitch sent null or left the member out. Timestamps are kept as
 * the RFC 3339 text Twitch sent (tw_event_time_parse() converts them).
 */
#ifndef TWITCHD_HELIX_H
#define TWITCHD_HELIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twitchd/bucket.h"
#include "twitchd/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_HELIX_DEFAULT_BASE "https://api.twitch.tv/helix"
#define TW_HELIX_JSON_TYPE "application/json"

/* Caps. Sizes in bytes unless said otherwise. */
#define TW_MAX_HELIX_TARGET 8192        /* path + query */
#define TW_MAX_HELIX_BODY 16384         /* request JSON body */
#define TW_MAX_HELIX_RESPONSE (1 << 20) /* response body decoded */
#define TW_MAX_HELIX_ITEMS 1000         /* items in one response */
#define TW_MAX_HELIX_QUERY_IDS 100      /* repeated id/login values */
#define TW_MAX_HELIX_ID 32              /* numeric id, in digits */
#define TW_MAX_HELIX_STR 1024           /* other ids, logins, cursors */
#define TW_MAX_HELIX_CHAT_CHARS 500     /* chat/announcement message */
#define TW_MAX_HELIX_TITLE_CHARS 140    /* stream title */
#define TW_MAX_HELIX_REASON_CHARS 500   /* ban reason */
/* Clip title: Twitch documents no limit; ours is a stream title's. */
#define TW_MAX_HELIX_CLIP_TITLE_CHARS 140
#define TW_MAX_HELIX_BAN_SECONDS 1209600 /* longest timeout: 14 days */
#define TW_MAX_HELIX_CONDITIONS 8        /* EventSub condition members */
#define TW_MAX_HELIX_ERROR_TEXT 512      /* server message kept */

typedef enum {
  TW_HELIX_GET = 0,
  TW_HELIX_POST,
  TW_HELIX_PATCH,
  TW_HELIX_DELETE
} tw_helix_method_t;

/* Whether a request may be sent again after a failure whose outcome is
 * unknown (a 5xx, a timeout, a dropped connection). */
typedef enum {
  /* Idempotent: sending it twice has the effect of sending it once. */
  TW_HELIX_RETRY_SAFE = 0,
  /* Must not be sent twice: a second copy is a second chat message, clip,
   * announcement or shoutout. Retry only on answers that say the request
   * was not performed (429). */
  TW_HELIX_RETRY_NEVER
} tw_helix_retry_t;

/* The endpoints, one row each:
 *   X(ENUM, method, path, success status, retry, scope, name)
 * `scope` is the user-token scope the endpoint needs (NULL: none). The
 * success status is the one Twitch sends (docs/twitch-protocol.md 2.x). */
#define TW_HELIX_ENDPOINTS(X)                                                  \
  X(GET_USERS, GET, "/users", 200, SAFE, NULL, "Get Users")                    \
  X(GET_STREAMS, GET, "/streams", 200, SAFE, NULL, "Get Streams")              \
  X(MODIFY_CHANNEL, PATCH, "/channels", 204, SAFE, "channel:manage:broadcast", \
    "Modify Channel Information")                                              \
  X(BAN_USER, POST, "/moderation/bans", 200, SAFE,                             \
    "moderator:manage:banned_users", "Ban User")                               \
  X(UNBAN_USER, DELETE, "/moderation/bans", 204, SAFE,                         \
    "moderator:manage:banned_users", "Unban User")                             \
  X(DELETE_CHAT_MESSAGES, DELETE, "/moderation/chat", 204, SAFE,               \
    "moderator:manage:chat_messages", "Delete Chat Messages")                  \
  X(CREATE_CLIP, POST, "/clips", 202, NEVER, "clips:edit", "Create Clip")      \
  X(GET_CLIPS, GET, "/clips", 200, SAFE, NULL, "Get Clips")                    \
  X(SEND_CHAT_MESSAGE, POST, "/chat/messages", 200, NEVER, "user:write:chat",  \
    "Send Chat Message")                                                       \
  X(SEND_ANNOUNCEMENT, POST, "/chat/announcements", 204, NEVER,                \
    "moderator:manage:announcements", "Send Chat Announcement")                \
  X(SEND_SHOUTOUT, POST, "/chat/shoutouts", 204, NEVER,                        \
    "moderator:manage:shoutouts", "Send a Shoutout")                           \
  X(EVENTSUB_CREATE, POST, "/eventsub/subscriptions", 202, SAFE, NULL,         \
    "Create EventSub Subscription")                                            \
  X(EVENTSUB_LIST, GET, "/eventsub/subscriptions", 200, SAFE, NULL,            \
    "Get EventSub Subscriptions")                                              \
  X(EVENTSUB_DELETE, DELETE, "/eventsub/subscriptions", 204, SAFE, NULL,       \
    "Delete EventSub Subscription")

typedef enum {
#define TW__HELIX_ENUM(e, m, p, s, r, sc, n) TW_HELIX_##e,
  TW_HELIX_ENDPOINTS(TW__HELIX_ENUM)
#undef TW__HELIX_ENUM
      TW_HELIX_ENDPOINT_COUNT
} tw_helix_endpoint_t;

/* Facts about an endpoint (static; NULL for an unknown value). */
typedef struct {
  tw_helix_endpoint_t endpoint;
  tw_helix_method_t method;
  const char *path;   /* "/moderation/bans" */
  int success_status; /* 200, 202 or 204 */
  tw_helix_retry_t retry;
  const char *scope; /* NULL: none needed */
  const char *name;  /* "Ban User" */
} tw_helix_endpoint_info_t;

const tw_helix_endpoint_info_t *tw_helix_endpoint_info(tw_helix_endpoint_t e);
/* "GET", "POST", "PATCH", "DELETE" (static). */
const char *tw_helix_method_name(tw_helix_method_t m);

/* ---- requests -------------------------------------------------------------
 */

/* A built request. Initialise with tw_helix_req_init() (the buffers get
 * TW_MAX_HELIX_TARGET and TW_MAX_HELIX_BODY caps), free with
 * tw_helix_req_free(). Every builder resets it first, so one struct can be
 * reused; on error it is left reset (empty target and body). */
typedef struct {
  tw_helix_endpoint_t endpoint;
  tw_helix_method_t method;
  int success_status;
  tw_helix_retry_t retry;
  tw_buf_t target; /* "/moderation/bans?broadcaster_id=1&moderator_id=2" */
  tw_buf_t body;   /* JSON; len 0 when the request has no body */
} tw_helix_req_t;

void tw_helix_req_init(tw_helix_req_t *r);
void tw_helix_req_free(tw_helix_req_t *r);

/* Every builder: strings borrowed for the call (copied into the request);
 * returns 0, TW_EINVAL (a missing or malformed value, as described in the
 * file comment), TW_ETOOBIG (a text over its character cap, or a request
 * over the buffer caps) or TW_ENOMEM. */

/* GET /users?id=..&login=.. (ids first). Both lists may be empty (the
 * token's own user); together at most TW_MAX_HELIX_QUERY_IDS. Logins must
 * be visible ASCII. */
int tw_helix_req_get_users(tw_helix_req_t *r, const char *const *ids,
                           size_t nids, const char *const *logins,
                           size_t nlogins);

/* GET /streams?user_id=..&user_login=..[&type=live][&first=N][&after=..].
 * `first` 0 omits it, else 1..100; `live_only` adds type=live; `after` is
 * a pagination cursor or NULL. */
int tw_helix_req_get_streams(tw_helix_req_t *r, const char *const *user_ids,
                             size_t nids, const char *const *user_logins,
                             size_t nlogins, bool live_only, unsigned first,
                             const char *after);

/* PATCH /channels?broadcaster_id=.. with {"title":"..."}; the title must be
 * 1..TW_MAX_HELIX_TITLE_CHARS characters. */
int tw_helix_req_set_title(tw_helix_req_t *r, const char *broadcaster_id,
                           const char *title);

/* POST /moderation/bans?broadcaster_id=..&moderator_id=.. with
 * {"data":{"user_id":"..","duration":N,"reason":".."}}. duration_s 0 is a
 * permanent ban (no duration member), 1..TW_MAX_HELIX_BAN_SECONDS a
 * timeout. reason NULL omits it; at most TW_MAX_HELIX_REASON_CHARS. */
int tw_helix_req_ban(tw_helix_req_t *r, const char *broadcaster_id,
                     const char *moderator_id, const char *user_id,
                     uint32_t duration_s, const char *reason);

/* DELETE /moderation/bans?broadcaster_id=..&moderator_id=..&user_id=.. */
int tw_helix_req_unban(tw_helix_req_t *r, const char *broadcaster_id,
                       const char *moderator_id, const char *user_id);

/* DELETE /moderation/chat?broadcaster_id=..&moderator_id=..
 * [&message_id=..]. message_id NULL clears the whole chat. */
int tw_helix_req_delete_chat_messages(tw_helix_req_t *r,
                                      const char *broadcaster_id,
                                      const char *moderator_id,
                                      const char *message_id);

/* POST /clips?broadcaster_id=..[&title=..][&duration=..]. No body.
 * duration_tenths 0 omits it, else 50..600 (5.0 to 60.0 s, written with
 * one decimal). title NULL omits it. */
int tw_helix_req_create_clip(tw_helix_req_t *r, const char *broadcaster_id,
                             const char *title, unsigned duration_tenths);

/* GET /clips?id=..&id=.. (1..TW_MAX_HELIX_QUERY_IDS ids; Create Clip's ids
 * are not numeric, they must be visible ASCII). */
int tw_helix_req_get_clips(tw_helix_req_t *r, const char *const *ids,
                           size_t nids);

/* POST /chat/messages with {"broadcaster_id","sender_id","message"
 * [,"reply_parent_message_id"][,"for_source_only"]}. for_source_only: -1
 * omits it (required with user tokens, which Twitch refuses it for), 0 or
 * 1 sends false or true (app tokens). */
int tw_helix_req_send_chat(tw_helix_req_t *r, const char *broadcaster_id,
                           const char *sender_id, const char *message,
                           const char *reply_parent_id, int for_source_only);

/* POST /chat/announcements?broadcaster_id=..&moderator_id=.. with
 * {"message":".."[,"color":".."]}; color NULL or one of blue, green,
 * orange, purple, primary. */
int tw_helix_req_announce(tw_helix_req_t *r, const char *broadcaster_id,
                          const char *moderator_id, const char *message,
                          const char *color);

/* POST /chat/shoutouts?from_broadcaster_id=..&to_broadcaster_id=..
 * &moderator_id=.. (no body). */
int tw_helix_req_shoutout(tw_helix_req_t *r, const char *from_broadcaster_id,
                          const char *to_broadcaster_id,
                          const char *moderator_id);

/* An EventSub condition member, e.g. {"broadcaster_user_id","1337"}. */
typedef struct {
  const char *key;
  const char *value;
} tw_helix_kv_t;

typedef enum {
  TW_HELIX_TRANSPORT_WEBSOCKET = 0,
  TW_HELIX_TRANSPORT_WEBHOOK,
  TW_HELIX_TRANSPORT_CONDUIT
} tw_helix_transport_method_t;

/* What to subscribe to. All strings borrowed. */
typedef struct {
  const char *type;    /* "channel.follow" */
  const char *version; /* "2" */
  const tw_helix_kv_t *condition;
  size_t ncondition; /* 1..TW_MAX_HELIX_CONDITIONS */
  tw_helix_transport_method_t method;
  const char *session_id; /* websocket */
  const char *callback;   /* webhook: https URL */
  const char *secret;     /* webhook: 10..100 ASCII characters; a secret */
  const char *conduit_id; /* conduit */
} tw_helix_sub_spec_t;

/* POST /eventsub/subscriptions with {"type","version","condition",
 * "transport"}. A webhook body holds the secret: do not log it. */
int tw_helix_req_eventsub_create(tw_helix_req_t *r,
                                 const tw_helix_sub_spec_t *spec);

typedef enum {
  TW_HELIX_SUBS_ALL = 0,
  TW_HELIX_SUBS_BY_STATUS,
  TW_HELIX_SUBS_BY_TYPE,
  TW_HELIX_SUBS_BY_USER_ID,
  TW_HELIX_SUBS_BY_ID
} tw_helix_subs_filter_t;

/* GET /eventsub/subscriptions[?status=|type=|user_id=|subscription_id=]
 * [&after=..]. `value` is ignored for TW_HELIX_SUBS_ALL. */
int tw_helix_req_eventsub_list(tw_helix_req_t *r, tw_helix_subs_filter_t f,
                               const char *value, const char *after);

/* DELETE /eventsub/subscriptions?id=.. */
int tw_helix_req_eventsub_delete(tw_helix_req_t *r, const char *id);

/* ---- errors ------------------------------------------------------------- */

typedef enum {
  TW_HELIX_ERR_NONE = 0,
  TW_HELIX_ERR_BAD_REQUEST,     /* 400, other */
  TW_HELIX_ERR_ALREADY_BANNED,  /* 400 "user is already banned" */
  TW_HELIX_ERR_NOT_BANNED,      /* 400 "user is not banned" */
  TW_HELIX_ERR_SESSION_GONE,    /* 400 "websocket transport session does
                                   not exist or has already disconnected" */
  TW_HELIX_ERR_INVALID_TOKEN,   /* 401 "Invalid OAuth token", "OAuth token
                                   is missing": refresh and retry */
  TW_HELIX_ERR_MISSING_SCOPE,   /* 401 "Missing scope: <scope>" */
  TW_HELIX_ERR_CLIENT_MISMATCH, /* 401 "Client ID and OAuth token do not
                                   match": configuration */
  TW_HELIX_ERR_UNAUTHORIZED,    /* 401, other */
  TW_HELIX_ERR_FORBIDDEN,       /* 403 */
  TW_HELIX_ERR_NOT_FOUND,       /* 404 (also "Clipping is not possible
                                   for an offline channel.") */
  TW_HELIX_ERR_CONFLICT,        /* 409 (ban-state race; "subscription
                                   already exists") */
  TW_HELIX_ERR_GONE,            /* 410: the endpoint was removed */
  TW_HELIX_ERR_UNPROCESSABLE,   /* 422 (e.g. chat message too large) */
  TW_HELIX_ERR_RATE_LIMITED,    /* 429: not performed; wait for the
                                   bucket (Ratelimit-Reset) */
  TW_HELIX_ERR_TRANSPORT_LIMIT, /* 429 "... websocket transports limit
                                   exceeded": no wait will help */
  TW_HELIX_ERR_SERVER,          /* 5xx */
  TW_HELIX_ERR_OTHER
} tw_helix_err_kind_t;

typedef struct {
  tw_helix_err_kind_t kind;
  int status;
  char error[64];                        /* "Unauthorized" */
  char message[TW_MAX_HELIX_ERROR_TEXT]; /* sanitised, truncated */
  char scope[128];                       /* MISSING_SCOPE: the scope */
} tw_helix_error_t;

/* A static name like "missing_scope". */
const char *tw_helix_err_name(tw_helix_err_kind_t k);

/* The TW_E* code for a kind: 0 for NONE; TW_ESCOPE (MISSING_SCOPE);
 * TW_EAUTH (INVALID_TOKEN, CLIENT_MISMATCH, UNAUTHORIZED); TW_EFORBIDDEN;
 * TW_ENOTFOUND (NOT_FOUND, NOT_BANNED, GONE); TW_EEXIST (ALREADY_BANNED,
 * CONFLICT); TW_ERATELIMIT (RATE_LIMITED, TRANSPORT_LIMIT); TW_ECLOSED
 * (SESSION_GONE); TW_ETOOBIG (UNPROCESSABLE); TW_EHTTP otherwise. */
int tw_helix_err_code(tw_helix_err_kind_t k);

/* Decodes the answer's status and error body (borrowed; may be empty or
 * not JSON) into `err` (always filled). A 2xx status gives kind NONE.
 * Returns tw_helix_err_code(err->kind). */
int tw_helix_decode_error(int http_status, const char *body, size_t len,
                          tw_helix_error_t *err);

/* True when an answer to `e` may be followed by sending the same request
 * again: RATE_LIMITED (refused, never performed) and INVALID_TOKEN (after
 * refreshing the token) for every endpoint; SERVER (5xx: it may have been
 * performed) only for TW_HELIX_RETRY_SAFE endpoints; CONFLICT only for Ban
 * and Unban User (a concurrent ban-state update). The caller still bounds
 * attempts and backs off. A failure without an answer (timeout, dropped
 * connection) follows the 5xx rule. */
bool tw_helix_should_retry(tw_helix_endpoint_t e, const tw_helix_error_t *err);

/* True when an error answer to a repeated request means the first copy
 * succeeded: ALREADY_BANNED for a permanent Ban User, NOT_BANNED for Unban
 * User, NOT_FOUND for Delete Chat Messages (with a message id) and Delete
 * EventSub Subscription, CONFLICT for Create EventSub Subscription. Only
 * meaningful for the second and later attempts. */
bool tw_helix_already_done(tw_helix_endpoint_t e, const tw_helix_error_t *err);

/* ---- rate limit headers ------------------------------------------------ */

typedef struct {
  bool has_limit, has_remaining, has_reset;
  uint64_t limit;         /* Ratelimit-Limit: points per minute */
  uint64_t remaining;     /* Ratelimit-Remaining */
  uint64_t reset_epoch_s; /* Ratelimit-Reset: Unix time, seconds */
} tw_helix_ratelimit_t;

/* Clears the struct before the headers of a new answer arrive. */
void tw_helix_ratelimit_init(tw_helix_ratelimit_t *rl);

/* Feeds one raw header line, as libcurl's header callback delivers it
 * ("Ratelimit-Remaining: 799\r\n"; the name compares without regard to
 * case, the value may have spaces around it). Lines that are not
 * Ratelimit-* headers are ignored (return 0). A Ratelimit-* header whose
 * value is not a decimal number below 2^53 gives TW_EPARSE and leaves that
 * field unset; the others still count. */
int tw_helix_ratelimit_header(tw_helix_ratelimit_t *rl, const char *line,
                              size_t len);

/* Milliseconds from `now_wall_ms` (tw_wall_ms()) until Ratelimit-Reset; 0
 * when the reset is absent or already past. */
uint64_t tw_helix_ratelimit_reset_in_ms(const tw_helix_ratelimit_t *rl,
                                        uint64_t now_wall_ms);

/* What tw_helix_ratelimit_apply() did. */
typedef enum {
  TW_HELIX_RL_NONE = 0,      /* no Ratelimit-Remaining, not a 429 */
  TW_HELIX_RL_SET,           /* tw_bucket_set() with the server's count */
  TW_HELIX_RL_HELD,          /* 429 on an empty bucket: tw_bucket_hold() */
  TW_HELIX_RL_ENDPOINT_LIMIT /* 429 with points left: the endpoint's own
                                limit; the caller backs off that endpoint
                                (the bucket was set, not held) */
} tw_helix_rl_action_t;

/* Feeds what the headers said into the bucket that guards this token's
 * requests (the caller picks the bucket: one per app token, one per user
 * token, and Send Chat Message's own). On 429 with Ratelimit-Remaining 0
 * or absent: tw_bucket_hold() until the reset, at least 1 s (the two wall
 * clocks may disagree) and 60 s when there is no reset header. Otherwise,
 * when Ratelimit-Remaining is present: tw_bucket_set() with it and the
 * reset. `now_mono_ms` is the bucket's clock (tw_now_ms()), `now_wall_ms`
 * the wall clock (tw_wall_ms()) that Ratelimit-Reset is measured against.
 * A Ratelimit-Limit different from the bucket's capacity is the caller's
 * cue to re-initialise the bucket; this function does not resize it. */
tw_helix_rl_action_t tw_helix_ratelimit_apply(const tw_helix_ratelimit_t *rl,
                                              int http_status, tw_bucket_t *b,
                                              uint64_t now_wall_ms,
                                              uint64_t now_mono_ms);

/* ---- response decoders ----------------------------------------------------
 * Each decodes the body of a 2xx answer (borrowed). Returns 0; TW_EPARSE
 * when the body is not the documented shape (a required member missing or
 * of the wrong type, more than TW_MAX_HELIX_ITEMS items); TW_ETOOBIG over
 * TW_MAX_HELIX_RESPONSE; TW_EINVAL; TW_ENOMEM. On error the result is
 * empty. Free every result, successful or not, with its _free(). */

typedef struct {
  const char *id, *login, *display_name;
  const char *type;             /* "", "admin", "global_mod", "staff" */
  const char *broadcaster_type; /* "", "affiliate", "partner" */
  const char *created_at;
} tw_helix_user_t;

typedef struct {
  size_t n;
  tw_helix_user_t *v;
  void *json_; /* private: the tree the strings point into */
} tw_helix_users_t;

int tw_helix_decode_users(const char *body, size_t len, tw_helix_users_t *out);
void tw_helix_users_free(tw_helix_users_t *u);

typedef struct {
  const char *id, *user_id, *user_login, *user_name;
  const char *game_id, *game_name, *type, *title, *language;
  const char *started_at;
  int64_t viewer_count;
} tw_helix_stream_t;

typedef struct {
  size_t n;
  tw_helix_stream_t *v;
  const char *cursor; /* NULL on the last page */
  void *json_;
} tw_helix_streams_t;

int tw_helix_decode_streams(const char *body, size_t len,
                            tw_helix_streams_t *out);
void tw_helix_streams_free(tw_helix_streams_t *s);

/* Ban User's answer (its first data element). end_time is NULL for a
 * permanent ban. */
typedef struct {
  const char *broadcaster_id, *moderator_id, *user_id;
  const char *created_at, *end_time;
  void *json_;
} tw_helix_ban_t;

int tw_helix_decode_ban(const char *body, size_t len, tw_helix_ban_t *out);
void tw_helix_ban_free(tw_helix_ban_t *b);

/* Create Clip's answer (202). The clip exists only once Get Clips returns
 * it; Twitch says to assume failure after 15 s. */
typedef struct {
  const char *id, *edit_url;
  void *json_;
} tw_helix_clip_created_t;

int tw_helix_decode_clip_created(const char *body, size_t len,
                                 tw_helix_clip_created_t *out);
void tw_helix_clip_created_free(tw_helix_clip_created_t *c);

typedef struct {
  const char *id, *url, *embed_url, *broadcaster_id, *broadcaster_name;
  const char *creator_id, *creator_name, *video_id, *game_id, *language;
  const char *title, *created_at, *thumbnail_url;
  int64_t view_count;
  double duration;    /* seconds */
  int64_t vod_offset; /* seconds; -1 when null */
  bool is_featured;
} tw_helix_clip_t;

typedef struct {
  size_t n;
  tw_helix_clip_t *v;
  const char *cursor;
  void *json_;
} tw_helix_clips_t;

int tw_helix_decode_clips(const char *body, size_t len, tw_helix_clips_t *out);
void tw_helix_clips_free(tw_helix_clips_t *c);

/* Send Chat Message's answer. A refused message is still HTTP 200, with
 * is_sent false and a drop reason (e.g. code "msg_duplicate"). */
typedef struct {
  const char *message_id; /* "" or NULL when not sent */
  bool is_sent;
  const char *drop_code;    /* NULL when sent */
  const char *drop_message; /* NULL when sent */
  void *json_;
} tw_helix_chat_sent_t;

int tw_helix_decode_chat_sent(const char *body, size_t len,
                              tw_helix_chat_sent_t *out);
void tw_helix_chat_sent_free(tw_helix_chat_sent_t *c);

/* One EventSub subscription, as Create and List return it. */
typedef struct {
  const char *id, *status, *type, *version, *created_at;
  int64_t cost;
  const char *condition_json;   /* the condition object, compact JSON */
  const char *transport_method; /* "websocket", "webhook", "conduit" */
  const char *session_id, *callback, *conduit_id;
  const char *connected_at, *disconnected_at;
} tw_helix_sub_t;

typedef struct {
  size_t n;
  tw_helix_sub_t *v;
  int64_t total, total_cost, max_total_cost; /* -1 when absent */
  const char *cursor;
  void *json_;
  char **owned_; /* private: condition strings */
} tw_helix_subs_t;

/* Decodes Create EventSub Subscription (202) and Get EventSub
 * Subscriptions (200) bodies. */
int tw_helix_decode_subs(const char *body, size_t len, tw_helix_subs_t *out);
void tw_helix_subs_free(tw_helix_subs_t *s);

#ifdef __cplusplus
}
#endif
#endif
