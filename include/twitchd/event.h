/* twitchd: events and actions, the vocabulary between connectors and skills.
 *
 * An event is what a connector produces (a chat message, a follow, a stream
 * going live); an action is what a skill sends back (ban this user, delete
 * that message, change the title). Both are the same C type, tw_event_t,
 * because opsdroid, whose contract we keep, uses one Event class hierarchy for
 * both directions and a Message is both (received and sent).
 *
 * Every kind, its name (what skills match on, e.g. "UserFollowed") and its
 * specific fields are listed exactly once, in TW_EVENT_KINDS below. The enum,
 * the name table, the typed structs, the field descriptors used for generic
 * access (Lua, JSON), construction, copying, freeing and JSON output are all
 * generated from that table, so adding a Twitch event (Cheer, say) is one new
 * row there and nothing else.
 *
 * Ownership: an event owns all its strings. Setters copy their argument;
 * tw_event_free() frees every string. C code may read the typed struct
 * directly (ev->user, ev->u.user_followed.follower); it should write through
 * the setters, which copy, enforce the caps and keep strings valid UTF-8.
 * Code that assigns a char * field directly must give it a malloc'ed string,
 * which the event then owns.
 */
#ifndef TWITCHD_EVENT_H
#define TWITCHD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest value, in bytes, of an ordinary string field. Chat text is at most
 * 500 characters (up to 2000 bytes of UTF-8), titles 140, ban reasons 500. */
#define TW_MAX_EVENT_STR 4096
/* Longest `raw` field: the wire form the event was decoded from (an IRC line
 * with its tags, or an EventSub notification body). */
#define TW_MAX_EVENT_RAW 65536
/* Longest field or kind name accepted by the by-name functions. */
#define TW_MAX_EVENT_NAME 64

/* Field types. TIME is milliseconds since the Unix epoch, UTC; 0 means unset
 * (JSON null). */
typedef enum {
  TW_EVENT_FIELD_STR = 0,
  TW_EVENT_FIELD_INT,  /* int64_t */
  TW_EVENT_FIELD_BOOL, /* bool */
  TW_EVENT_FIELD_TIME  /* int64_t, ms since the epoch, 0 = unset */
} tw_event_field_type_t;

/* Direction flags of a kind. */
#define TW_EVENT_INCOMING 0x1u /* connectors produce it, skills receive it */
#define TW_EVENT_ACTION 0x2u   /* skills send it, connectors perform it */

/* Fields every event has, whatever its kind: F(name, TYPE, cap).
 *  user       login of the user the event is about (sender, follower, the
 *             user to ban...)
 *  user_id    that user's numeric Twitch id, as a string
 *  target     the room: for Twitch the channel as "#login", as opsdroid did
 *  connector  name of the connector it came from or goes to ("twitch")
 *  event_id   id of this event (a chat message's id, an EventSub message id)
 *  raw        the wire form it was decoded from, for logs and debugging */
#define TW_EVENT_COMMON_FIELDS(F)                                              \
  F(user, STR, TW_MAX_EVENT_STR)                                               \
  F(user_id, STR, TW_MAX_EVENT_STR)                                            \
  F(target, STR, TW_MAX_EVENT_STR)                                             \
  F(connector, STR, TW_MAX_EVENT_STR)                                          \
  F(event_id, STR, TW_MAX_EVENT_STR)                                           \
  F(raw, STR, TW_MAX_EVENT_RAW)

/* THE table of event kinds. One row per kind:
 *   K(ENUM, Name, member, flags, fields)
 * ENUM gives TW_EVENT_<ENUM>; Name is the stable name skills match on (the
 * opsdroid class name); member names the kind's struct in tw_event_t.u;
 * fields is a list of F(member, field, TYPE) with TYPE one of STR, INT, BOOL,
 * TIME (string fields are capped at TW_MAX_EVENT_STR).
 *
 * The seed's fields are kept with the seed's names. Where opsdroid used the
 * base Event's `user` (UserSubscribed's subscriber, BanUser's victim), that is
 * the common field `user`. */
/* clang-format off */
#define TW_EVENT_KINDS(K, F)                                                   \
  /* A chat message, received or sent. The message id is event_id, the      \
   * room is target; the flags come from the badges of the sender. */        \
  K(MESSAGE, Message, message, TW_EVENT_INCOMING | TW_EVENT_ACTION,            \
    F(message, text, STR)                                                      \
    F(message, display_name, STR)                                              \
    F(message, room_id, STR)                                                   \
    F(message, badges, STR)                                                    \
    F(message, is_broadcaster, BOOL)                                           \
    F(message, is_moderator, BOOL)                                             \
    F(message, is_vip, BOOL)                                                   \
    F(message, is_subscriber, BOOL)                                            \
    F(message, bits, INT)                                                      \
    F(message, reply_parent_msg_id, STR)                                       \
    F(message, first_msg, BOOL)                                                \
    F(message, is_action, BOOL)                                                \
    F(message, from_shared_chat, BOOL))                                        \
  K(JOIN_ROOM, JoinRoom, join_room, TW_EVENT_INCOMING, )                       \
  K(LEAVE_ROOM, LeaveRoom, leave_room, TW_EVENT_INCOMING, )                    \
  K(USER_FOLLOWED, UserFollowed, user_followed, TW_EVENT_INCOMING,             \
    F(user_followed, follower, STR)                                            \
    F(user_followed, followed_at, TIME))                                       \
  /* months: cumulative months (0 when unknown); tier "1000", "2000",       \
   * "3000" or "Prime"; message is NULL for a plain subscribe. */            \
  K(USER_SUBSCRIBED, UserSubscribed, user_subscribed, TW_EVENT_INCOMING,       \
    F(user_subscribed, message, STR)                                           \
    F(user_subscribed, months, INT)                                            \
    F(user_subscribed, tier, STR)                                              \
    F(user_subscribed, is_gift, BOOL))                                         \
  K(USER_GIFTED_SUBSCRIPTION, UserGiftedSubscription,                          \
    user_gifted_subscription, TW_EVENT_INCOMING,                               \
    F(user_gifted_subscription, gifter_name, STR)                              \
    F(user_gifted_subscription, gifted_name, STR))                             \
  K(STREAM_STARTED, StreamStarted, stream_started, TW_EVENT_INCOMING,          \
    F(stream_started, title, STR)                                              \
    F(stream_started, viewers, INT)                                            \
    F(stream_started, started_at, TIME))                                       \
  K(STREAM_ENDED, StreamEnded, stream_ended, TW_EVENT_INCOMING, )              \
  /* Another channel (raider, a login) raided this one with viewers. */      \
  K(RAID, Raid, raid, TW_EVENT_INCOMING,                                       \
    F(raid, raider, STR)                                                       \
    F(raid, viewers, INT))                                                     \
  /* A moderator banned `user` (common fields user, user_id) from the room:  \
   * duration > 0 is a timeout in seconds, 0 a permanent ban. */              \
  K(USER_BANNED, UserBanned, user_banned, TW_EVENT_INCOMING,                   \
    F(user_banned, room_id, STR)                                               \
    F(user_banned, duration, INT))                                             \
  /* Bits cheered in the room: `user` is the cheerer (NULL when anonymous), \
   * message the cheer's text (EventSub channel.cheer). */                   \
  K(CHEER, Cheer, cheer, TW_EVENT_INCOMING,                                    \
    F(cheer, bits, INT)                                                        \
    F(cheer, message, STR))                                                    \
  /* A moderator cleared the whole chat of the room. */                      \
  K(CHAT_CLEARED, ChatCleared, chat_cleared, TW_EVENT_INCOMING,                \
    F(chat_cleared, room_id, STR))                                             \
  /* One message was deleted: id is its message id, `user` its author. */    \
  K(MESSAGE_DELETED, MessageDeleted, message_deleted, TW_EVENT_INCOMING,       \
    F(message_deleted, id, STR)                                                \
    F(message_deleted, text, STR)                                              \
    F(message_deleted, room_id, STR))                                          \
  /* status: the new stream title. */                                        \
  K(UPDATE_TITLE, UpdateTitle, update_title, TW_EVENT_ACTION,                  \
    F(update_title, status, STR))                                              \
  /* id: the broadcaster id in the seed; the connector fills it when NULL. */  \
  K(CREATE_CLIP, CreateClip, create_clip, TW_EVENT_ACTION,                     \
    F(create_clip, id, STR))                                                   \
  /* id: the id of the chat message to delete (the seed's skill writes       \
   * DeleteMessage(id=message.event_id)). */                                   \
  K(DELETE_MESSAGE, DeleteMessage, delete_message, TW_EVENT_ACTION,            \
    F(delete_message, id, STR))                                                \
  /* Bans `user` (common field). duration in seconds makes it a timeout;     \
   * 0 is a permanent ban. reason is optional. */                              \
  K(BAN_USER, BanUser, ban_user, TW_EVENT_ACTION,                              \
    F(ban_user, duration, INT)                                                 \
    F(ban_user, reason, STR))                                                  \
  /* The credentials cannot be renewed without a person: the refresh token   \
   * or the configured code was refused, or the client id/secret are wrong.  \
   * reason says what happened and what to do (run `twitchd auth`). */        \
  K(AUTH_REQUIRED, AuthRequired, auth_required, TW_EVENT_INCOMING,             \
    F(auth_required, reason, STR))
/* clang-format on */

/* The kinds, generated: TW_EVENT_MESSAGE, TW_EVENT_JOIN_ROOM, ... */
typedef enum {
#define TW__EVENT_ENUM(E, N, m, fl, fields) TW_EVENT_##E,
#define TW__EVENT_NOF(m, n, T)
  TW_EVENT_KINDS(TW__EVENT_ENUM, TW__EVENT_NOF)
#undef TW__EVENT_ENUM
      TW_EVENT_KIND_COUNT
} tw_event_kind_t;

#define TW__EVENT_CTYPE_STR char *
#define TW__EVENT_CTYPE_INT int64_t
#define TW__EVENT_CTYPE_BOOL bool
#define TW__EVENT_CTYPE_TIME int64_t

/* One struct per kind with its specific fields, generated:
 * struct tw_event_user_followed { char *follower; int64_t followed_at; }.
 * The trailing byte keeps kinds without specific fields from declaring an
 * empty struct, which ISO C does not allow. */
#define TW__EVENT_STRUCT_F(m, n, T) TW__EVENT_CTYPE_##T n;
#define TW__EVENT_STRUCT_K(E, N, m, fl, fields)                                \
  struct tw_event_##m {                                                        \
    fields char tw__end;                                                       \
  };
TW_EVENT_KINDS(TW__EVENT_STRUCT_K, TW__EVENT_STRUCT_F)
#undef TW__EVENT_STRUCT_K
#undef TW__EVENT_STRUCT_F

/* An event or action. Read fields directly; see the ownership note above. */
typedef struct tw_event {
  tw_event_kind_t kind;
#define TW__EVENT_COMMON_MEMBER(n, T, cap) TW__EVENT_CTYPE_##T n;
  TW_EVENT_COMMON_FIELDS(TW__EVENT_COMMON_MEMBER)
#undef TW__EVENT_COMMON_MEMBER
  union {
#define TW__EVENT_UNION_K(E, N, m, fl, fields) struct tw_event_##m m;
    TW_EVENT_KINDS(TW__EVENT_UNION_K, TW__EVENT_NOF)
#undef TW__EVENT_UNION_K
  } u;
} tw_event_t;

/* Describes one field for generic access: its name, type, where it lives
 * (byte offset from the start of tw_event_t) and, for strings, its cap. */
typedef struct {
  const char *name;
  tw_event_field_type_t type;
  size_t offset;
  size_t cap;
} tw_event_field_t;

/* Allocates an event of `kind` with every field unset (NULL, 0, false).
 * Returns NULL for an unknown kind or when out of memory. Free with
 * tw_event_free(). */
tw_event_t *tw_event_new(tw_event_kind_t kind);

/* Frees `ev` and every string it owns. NULL is ignored. */
void tw_event_free(tw_event_t *ev);

/* A deep copy of `ev` (borrowed), or NULL when out of memory. The caller
 * frees it with tw_event_free(). */
tw_event_t *tw_event_dup(const tw_event_t *ev);

/* The stable name of `kind` ("UserFollowed"), static; NULL when `kind` is
 * out of range. */
const char *tw_event_kind_name(tw_event_kind_t kind);

/* Looks up a kind by its exact, case-sensitive name (borrowed). Returns 0
 * and sets *out, TW_ENOTFOUND for a name no kind has, TW_EINVAL for NULL. */
int tw_event_kind_from_name(const char *name, tw_event_kind_t *out);

/* The TW_EVENT_INCOMING / TW_EVENT_ACTION flags of `kind` (0 when out of
 * range). */
unsigned tw_event_kind_flags(tw_event_kind_t kind);
/* True when connectors produce `kind` (skills may match on it). */
bool tw_event_kind_is_incoming(tw_event_kind_t kind);
/* True when skills may send `kind` to a connector. */
bool tw_event_kind_is_action(tw_event_kind_t kind);

/* The fields every event has, static, *count set to their number. */
const tw_event_field_t *tw_event_common_fields(size_t *count);
/* The specific fields of `kind` (static, *count set; may be 0 with a
 * non-NULL pointer). NULL and *count = 0 when `kind` is out of range. */
const tw_event_field_t *tw_event_kind_fields(tw_event_kind_t kind,
                                             size_t *count);
/* The descriptor of field `name` (borrowed) in `kind`, common or specific,
 * static; NULL when there is none. */
const tw_event_field_t *tw_event_field_find(tw_event_kind_t kind,
                                            const char *name);
/* "string", "int", "bool" or "time" (static). */
const char *tw_event_field_type_name(tw_event_field_type_t type);

/* Generic setters by field name. Strings are copied (len bytes for the
 * _strn form); invalid UTF-8 and NUL bytes are replaced by U+FFFD so that
 * every event can be written as JSON; NULL clears the field.
 * Returns 0, TW_ENOTFOUND (no such field in this kind), TW_EINVAL (the field
 * has another type, or ev/name is NULL), TW_ETOOBIG (the stored string would
 * exceed the field's cap; the field is left unchanged) or TW_ENOMEM. */
int tw_event_set_str(tw_event_t *ev, const char *name, const char *value);
int tw_event_set_strn(tw_event_t *ev, const char *name, const char *value,
                      size_t len);
int tw_event_set_int(tw_event_t *ev, const char *name, int64_t value);
int tw_event_set_bool(tw_event_t *ev, const char *name, bool value);
/* `ms` is milliseconds since the Unix epoch, UTC; 0 unsets. */
int tw_event_set_time(tw_event_t *ev, const char *name, int64_t ms);

/* Generic getters by field name. *out receives the value; a string is
 * borrowed from the event (valid until the field changes or the event is
 * freed) and is NULL when unset. Returns 0, TW_ENOTFOUND or TW_EINVAL as
 * the setters do. */
int tw_event_get_str(const tw_event_t *ev, const char *name, const char **out);
int tw_event_get_int(const tw_event_t *ev, const char *name, int64_t *out);
int tw_event_get_bool(const tw_event_t *ev, const char *name, bool *out);
int tw_event_get_time(const tw_event_t *ev, const char *name, int64_t *out);

/* Options for tw_event_to_json(). */
#define TW_EVENT_JSON_NO_RAW 0x1u /* leave out the raw field */

/* A new JSON object for `ev` (borrowed): {"event":"UserFollowed",
 * "user":...,"follower":...,"followed_at":"2024-05-01T12:00:00.000Z"}.
 * Unset strings and times are null. The caller owns the reference
 * (json_decref). NULL when out of memory. */
json_t *tw_event_to_json(const tw_event_t *ev, unsigned flags);

/* The reverse of tw_event_to_json(), for test hooks and tools: `obj`
 * (borrowed) must be an object with "event" naming a kind and any of that
 * kind's fields; null leaves a field unset, times are RFC 3339 strings or
 * integer milliseconds. Unknown members and wrong types are errors, so a
 * typo in a test never passes silently. Returns 0 and sets *out (free with
 * tw_event_free()), or TW_EINVAL / TW_ENOTFOUND / TW_ETOOBIG / TW_EPARSE /
 * TW_ENOMEM with a sentence naming the member in err (capacity err_cap, may
 * be 0). */
int tw_event_from_json(const json_t *obj, tw_event_t **out, char *err,
                       size_t err_cap);

/* Parses an RFC 3339 timestamp (borrowed) such as "2020-07-15T18:16:11Z",
 * "2020-07-15T18:16:11.17106713Z" or "2020-07-15T20:16:11+02:00" into
 * milliseconds since the epoch (fraction truncated to ms). Returns 0 or
 * TW_EPARSE. */
int tw_event_time_parse(const char *s, int64_t *ms_out);
/* Formats `ms` as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (capacity cap, at
 * least TW_EVENT_TIME_BUF). Returns 0, or TW_ETOOBIG when cap is too small
 * or TW_EINVAL when the year is outside 0..9999. */
#define TW_EVENT_TIME_BUF 32
int tw_event_time_format(int64_t ms, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
