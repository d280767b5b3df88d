/* twitchd: decoders for Twitch's IRC tag values (sans-IO, no allocation).
 *
 * They work on the raw (escaped) views that tw_irc_parse() produces. The
 * separators they split on (',', '/', ':', '-') are never escaped by IRCv3,
 * so splitting the raw value is exact; the parts they return are raw too and
 * may be passed to tw_irc_unescape() when they can hold free text (a badge
 * version such as "predictions/..." can).
 *
 * Optional numbers are int64_t with TW_IRC_NONE meaning "absent or not a
 * number"; optional booleans are ints with -1 meaning the same.
 */
#ifndef TWITCHD_IRC_TAGS_H
#define TWITCHD_IRC_TAGS_H

#include <stddef.h>
#include <stdint.h>

#include "twitchd/irc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "No value": the tag is absent, empty or not a valid number. */
#define TW_IRC_NONE INT64_MIN

/* A size for caller arrays of emotes: a 500-character message holds at most
 * about 170 emote ranges (":)" plus a space each), so 256 never truncates a
 * real message. tw_irc_emotes_parse() never writes more than it is told. */
#define TW_MAX_IRC_EMOTES 256

/* A size for caller arrays of badges; Twitch shows a handful per user. */
#define TW_MAX_IRC_BADGES 32

/* Parses an unsigned decimal number (digits only: no sign, no space).
 * Returns 0, or TW_EPARSE for an empty, absent, non-digit or overflowing
 * value (then *out is untouched). */
int tw_irc_parse_u64(tw_irc_str_t s, uint64_t *out);

/* Parses a decimal number with an optional leading '-'. Same errors as
 * tw_irc_parse_u64(); the result fits in int64_t and is never TW_IRC_NONE. */
int tw_irc_parse_i64(tw_irc_str_t s, int64_t *out);

/* Parses a boolean tag: "1"/"true" -> 1, "0"/"false" -> 0. Returns 0, or
 * TW_EPARSE for anything else (including empty and absent). */
int tw_irc_parse_bool(tw_irc_str_t s, int *out);

/* Parses a "#RRGGBB" colour into 0xRRGGBB. Returns 0, or TW_EPARSE (an
 * empty colour, which Twitch sends for users who never chose one, is an
 * error: the caller picks a default). */
int tw_irc_parse_color(tw_irc_str_t s, uint32_t *rgb);

/* The number in tag `key` of msg (last duplicate wins), or TW_IRC_NONE. */
int64_t tw_irc_tag_i64(const tw_irc_msg_t *msg, const char *key);

/* The boolean in tag `key`: 1, 0, or -1 when absent or invalid. */
int tw_irc_tag_bool(const tw_irc_msg_t *msg, const char *key);

/* Splits the next item off a `sep`-separated list: stores it in *item,
 * advances *rest past it and its separator, and returns 1; returns 0 when
 * the list is exhausted. Empty items (",,") are skipped. Used for
 * emote-sets (','), CAP lists (' ') and the like. Views borrow from *rest. */
int tw_irc_list_next(tw_irc_str_t *rest, char sep, tw_irc_str_t *item);

/* One badge: "subscriber/24" -> name "subscriber", version "24". A badge
 * written without '/' has an empty version. */
typedef struct {
  tw_irc_str_t name;
  tw_irc_str_t version;
} tw_irc_badge_t;

/* Iterates over a badges or badge-info value ("moderator/1,subscriber/12"):
 * returns 1 and fills *out while badges remain, 0 at the end. Empty entries
 * are skipped. The views in *out borrow from the list's bytes. */
int tw_irc_badges_next(tw_irc_str_t *rest, tw_irc_badge_t *out);

/* Decodes up to `max` badges into out[] (caller-owned, tag order; views
 * borrow from the list) and returns how many the list holds, which may be
 * more than max (like snprintf). */
size_t tw_irc_badges_parse(tw_irc_str_t list, tw_irc_badge_t *out, size_t max);

/* Finds badge `name` in a list. Returns 1 and stores its version in
 * *version (if not NULL), or 0 when absent. */
int tw_irc_badges_find(tw_irc_str_t list, const char *name,
                       tw_irc_str_t *version);

/* Exact subscription months from badge-info ("subscriber/24" -> 24), or
 * TW_IRC_NONE. (The badges tag only has the badge tier: 0, 3, 6, 12...) */
int64_t tw_irc_badge_info_months(tw_irc_str_t badge_info);

/* Number of Unicode code points in s, counting every byte that does not
 * continue a UTF-8 sequence as the start of one (so invalid UTF-8 still
 * gives a well-defined count). */
size_t tw_irc_utf8_count(tw_irc_str_t s);

/* One emote occurrence in a message. Code-point indices are what Twitch
 * sends, made half-open: [cp_start, cp_end). Byte offsets are into the text
 * given to tw_irc_emotes_parse(): text.ptr + byte_start, length
 * byte_end - byte_start. */
typedef struct {
  tw_irc_str_t id; /* "25", "emotesv2_...", "300196486_TK" */
  size_t cp_start;
  size_t cp_end;
  size_t byte_start;
  size_t byte_end;
} tw_irc_emote_t;

/* Decodes an emotes tag ("25:0-4,12-16/1902:6-10") against the message text
 * it describes (for a /me message, the text after "\x01ACTION "). Ranges
 * count Unicode code points, inclusive on both ends, and are converted to
 * byte offsets.
 *
 * Malformed entries (no ':', empty id, non-numeric or overflowing index),
 * inverted ranges (start > end) and ranges that start at or after the end
 * of the text are ignored; a range that starts inside the text but ends past
 * it is clipped to the end of the text (Twitch miscounts some messages by a
 * few characters). Never fails, never reads outside tag or text.
 *
 * Stores at most `max` emotes in out[] (caller-owned), sorted by position
 * (ties keep tag order), and returns how many it stored. When the tag holds
 * more than `max` valid ranges, the first `max` in tag order are kept. Ids
 * borrow from the tag's bytes. */
size_t tw_irc_emotes_parse(tw_irc_str_t tag, tw_irc_str_t text,
                           tw_irc_emote_t *out, size_t max);

/* Detects a /me message, which arrives as "\x01ACTION text\x01". Returns 1
 * and stores the inner text in *inner when `text` starts with
 * "\x01ACTION " and ends with "\x01" (stripping only the outer pair);
 * otherwise returns 0 and stores text unchanged in *inner. */
int tw_irc_action(tw_irc_str_t text, tw_irc_str_t *inner);

#ifdef __cplusplus
}
#endif
#endif
