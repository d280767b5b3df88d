/* twitchd: text handling for outgoing chat messages (private to src/twitch).
 *
 * Pure functions, no allocation, no state: UTF-8 decoding with a fixed policy
 * for invalid input, normalisation of caller text into something that can
 * never break an IRC line, counting and splitting by Unicode code points,
 * channel-name checks and IRCv3 tag-value escaping. The chat queue
 * (chat_queue.c) is the only user; they live apart so that each rule has its
 * own small test.
 *
 * Policies decided here (and tested in tests/unit/test_chat_text.c):
 *
 * - Invalid UTF-8 is replaced, never passed through and never a reason to
 *   refuse a message: each "maximal subpart" of an ill-formed sequence (the
 *   longest prefix of a valid sequence, or a single byte when none) becomes
 *   one U+FFFD, as Unicode chapter 3 and the WHATWG decoder recommend. So
 *   "\xE2\x82A" gives U+FFFD then "A", and "\xED\xA0\x80" (a UTF-16
 *   surrogate) gives three U+FFFD. Overlong forms, surrogates and values
 *   above U+10FFFF are all ill-formed. The output is therefore always valid
 *   UTF-8, which Twitch requires, and identical input always gives identical
 *   output.
 * - Every control character (C0 U+0000..U+001F, DEL U+007F and C1
 *   U+0080..U+009F) becomes one ASCII space. This covers CR, LF and NUL,
 *   which could otherwise end the IRC line and start another command, and
 *   \x01, which would end a CTCP ACTION early or forge one.
 * - Word boundaries for splitting, and the ends that are trimmed, are the
 *   "breaking" Unicode White_Space characters: space (and so every control
 *   after normalisation), U+1680, U+2000..U+200A except U+2007, U+2028,
 *   U+2029, U+205F and U+3000. The no-break spaces (U+00A0, U+2007, U+202F)
 *   are kept inside words, as their name asks.
 * - A text is "blank" (refused by the queue) when every code point is a
 *   White_Space character, no-break spaces included.
 */
#ifndef TWITCHD_TWITCH_CHAT_TEXT_H
#define TWITCHD_TWITCH_CHAT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Twitch's limit on one chat message, in Unicode code points (the Helix
 * limit; IRC behaviour for longer lines is undocumented, so we split). */
#define TW_MAX_CHAT_MESSAGE_CHARS 500
/* A Twitch login is at most 25 characters of [a-z0-9_]. */
#define TW_MAX_CHAT_CHANNEL_NAME 25
/* U+FFFD, the replacement character, in UTF-8. */
#define TW__UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Decodes the code point at the start of s[0..n) (n >= 1). Returns the number
 * of bytes it covers (1..4). On a well-formed sequence *cp is the scalar value
 * and *valid is true; otherwise *valid is false, *cp is U+FFFD and the return
 * value is the length of the maximal subpart to replace. */
size_t tw__utf8_decode(const char *s, size_t n, uint32_t *cp, bool *valid);

/* True when s[0..n) is entirely well-formed UTF-8. */
bool tw__utf8_valid(const char *s, size_t n);

/* Writes the normalised form of in[0..n) to out (see the policies above).
 * out needs 3 * n bytes at most (one invalid byte becomes three); when
 * out_cap is smaller the output is truncated at a code point boundary.
 * Returns the number of bytes written; out is not NUL-terminated. */
size_t tw__chat_text_normalize(const char *in, size_t n, char *out,
                               size_t out_cap);

/* Number of code points in s[0..n), which must be valid UTF-8 (as produced by
 * tw__chat_text_normalize). */
size_t tw__chat_text_cps(const char *s, size_t n);

/* True for the characters splitting may break at and trimming removes. */
bool tw__chat_is_break_space(uint32_t cp);

/* True for every Unicode White_Space character (no-break spaces included). */
bool tw__chat_is_white(uint32_t cp);

/* True when s[0..n) (valid UTF-8) is empty or only White_Space. */
bool tw__chat_text_is_blank(const char *s, size_t n);

/* One part of a split message: bytes off..off+len of the text, cps code
 * points, no leading or trailing break space. */
typedef struct {
  size_t off;
  size_t len;
  size_t cps;
} tw__chat_part_t;

/* Cuts the next part out of s[0..n) (valid UTF-8), starting at *pos, and
 * advances *pos past it. A part holds at most max_cps code points. When the
 * rest does not fit, the cut goes at the last break space inside the limit (a
 * space just after the limit counts, giving a full part); a single word
 * longer than the limit is cut hard at max_cps code points, always between
 * code points. When avoid_command is true, a cut after which the next part
 * would begin with '/' or '.' is avoided if an earlier break space allows it,
 * because Twitch reads such a message as a chat command ("/ban x") rather
 * than text; a hard cut cannot avoid it. Returns 1 with *part filled, or 0
 * when only break spaces (or nothing) remain. max_cps must be >= 1. */
int tw__chat_text_next_part(const char *s, size_t n, size_t *pos,
                            size_t max_cps, bool avoid_command,
                            tw__chat_part_t *part);

/* Checks and normalises a channel name: one optional leading '#' is
 * stripped, ASCII letters are lowercased, and the result must be 1..25
 * characters of [a-z0-9_]. Writes the NUL-terminated name to out. Returns 0
 * or TW_EINVAL (out is then an empty string). */
int tw__chat_channel_normalize(const char *in,
                               char out[TW_MAX_CHAT_CHANNEL_NAME + 1]);

/* Escapes in[0..n) as an IRCv3 tag value: ';' -> "\:", ' ' -> "\s",
 * '\' -> "\\", CR -> "\r", LF -> "\n"; other bytes are copied. The output is
 * at most 2 * n bytes and is not NUL-terminated. Returns 0, or TW_ETOOBIG
 * when out_cap is too small (nothing useful is in out then). */
int tw__chat_tag_escape(const char *in, size_t n, char *out, size_t out_cap,
                        size_t *out_len);

#endif
