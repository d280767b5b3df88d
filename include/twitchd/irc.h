/* twitchd: IRC line parser and line splitter (sans-IO).
 *
 * The parser turns one IRC line into a tw_irc_msg_t: IRCv3 tags, prefix,
 * command and parameters, all as views (pointer + length) into the caller's
 * line. Nothing is copied and nothing is allocated; the line must outlive the
 * message. Tag values stay escaped until somebody asks for them
 * (tw_irc_unescape(), tw_irc_scratch_unescape()), because most consumers only
 * ever look at a handful of tags.
 *
 * Structure is decided by position alone, as RFC 1459 and IRCv3 define it:
 * the tag section ends at the first space, the prefix at the next one, and
 * the trailing parameter starts at the first " :" after the command. Message
 * text therefore cannot change who sent a line or what its tags are, whatever
 * it contains (the old opsdroid connector used a regular expression over the
 * whole line and could be fooled that way).
 *
 * The splitter turns a byte stream (TLS records, WebSocket frames carrying
 * several lines, any chunking) into complete lines, with a fixed cap on the
 * bytes it will hold.
 *
 * Caps (all in bytes unless said otherwise):
 *   TW_MAX_IRC_LINE    16384, without the line terminator. IRCv3 allows 8191
 *                      bytes of tags plus 512 for the rest, but Twitch messages
 *                      are 500 Unicode characters (up to 2000 bytes of UTF-8),
 *                      so the rest can exceed 512; 16 KiB covers both with room
 *                      and bounds the splitter's buffer.
 *   TW_MAX_IRC_TAGS    64 tags per line; Twitch sends at most about 35.
 *                      A line with more is rejected (TW_IRC_E_TOO_MANY_TAGS)
 *                      rather than truncated, so that "the last duplicate
 *                      wins" never silently picks a stale value.
 *   TW_MAX_IRC_PARAMS  15 parameters, RFC 1459's limit. A line with more is
 *                      rejected (TW_IRC_E_TOO_MANY_PARAMS).
 */
#ifndef TWITCHD_IRC_H
#define TWITCHD_IRC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TW_MAX_IRC_LINE 16384
#define TW_MAX_IRC_TAGS 64
#define TW_MAX_IRC_PARAMS 15

/* A view into someone else's bytes. `ptr == NULL` means "absent"; an empty
 * but present value has a non-NULL ptr and len 0. Views are not
 * NUL-terminated. */
typedef struct {
  const char *ptr;
  size_t len;
} tw_irc_str_t;

/* One tag as it appears in the line. `value` is still escaped; a key written
 * without '=' has an empty (non-NULL) value. */
typedef struct {
  tw_irc_str_t key;
  tw_irc_str_t value;
} tw_irc_tag_t;

/* Why a line was rejected. TW_IRC_OK is 0. */
typedef enum {
  TW_IRC_OK = 0,
  TW_IRC_E_EMPTY,           /* "empty line" */
  TW_IRC_E_TOO_LONG,        /* "line too long" (> TW_MAX_IRC_LINE) */
  TW_IRC_E_NUL,             /* "NUL byte in line" */
  TW_IRC_E_LINEBREAK,       /* "CR or LF inside line" */
  TW_IRC_E_TAGS_ONLY,       /* "tags without command" */
  TW_IRC_E_BAD_TAGS,        /* "bad tag section" (empty, or a tag without
                               a name) */
  TW_IRC_E_TOO_MANY_TAGS,   /* "too many tags" (> TW_MAX_IRC_TAGS) */
  TW_IRC_E_PREFIX_ONLY,     /* "prefix without command" */
  TW_IRC_E_BAD_PREFIX,      /* "bad prefix" (empty, or an empty nick, user
                               or host around '!' and '@') */
  TW_IRC_E_NO_CMD,          /* "missing command" */
  TW_IRC_E_BAD_CMD,         /* "bad command" (not letters, not 3 digits) */
  TW_IRC_E_TOO_MANY_PARAMS, /* "too many params" (> TW_MAX_IRC_PARAMS) */
} tw_irc_err_t;

/* Commands the parser recognises (case-insensitively). Anything else that is
 * a valid command word is TW_IRC_CMD_OTHER; 3-digit replies are
 * TW_IRC_CMD_NUMERIC with the number in tw_irc_msg_t.numeric. */
typedef enum {
  TW_IRC_CMD_OTHER = 0,
  TW_IRC_CMD_NUMERIC,
  TW_IRC_CMD_PRIVMSG,
  TW_IRC_CMD_USERNOTICE,
  TW_IRC_CMD_CLEARCHAT,
  TW_IRC_CMD_CLEARMSG,
  TW_IRC_CMD_NOTICE,
  TW_IRC_CMD_ROOMSTATE,
  TW_IRC_CMD_USERSTATE,
  TW_IRC_CMD_GLOBALUSERSTATE,
  TW_IRC_CMD_JOIN,
  TW_IRC_CMD_PART,
  TW_IRC_CMD_PING,
  TW_IRC_CMD_PONG,
  TW_IRC_CMD_RECONNECT,
  TW_IRC_CMD_CAP,
  TW_IRC_CMD_WHISPER,
  TW_IRC_CMD_HOSTTARGET,
} tw_irc_cmd_t;

/* A parsed line. Every view points into the line given to tw_irc_parse().
 * Only the first `ntags` / `nparams` entries of the arrays are meaningful. */
typedef struct {
  tw_irc_str_t line; /* the whole line, without its terminator */

  size_t ntags;
  tw_irc_tag_t tags[TW_MAX_IRC_TAGS]; /* line order, duplicates kept */

  /* The prefix (source) without its ':'. Absent: prefix.ptr == NULL.
   * nick!user@host splits into its parts; a prefix without '!' and '@' is a
   * server name (host) when it contains a '.', else a nick. Parts that are
   * not there have ptr == NULL. */
  tw_irc_str_t prefix;
  tw_irc_str_t nick;
  tw_irc_str_t user;
  tw_irc_str_t host;

  tw_irc_str_t command; /* as written, e.g. "PRIVMSG" or "001" */
  tw_irc_cmd_t cmd;
  int numeric; /* 0..999 for 3-digit commands, -1 otherwise */

  size_t nparams;
  tw_irc_str_t params[TW_MAX_IRC_PARAMS];
  int has_trailing; /* 1 when the last param was written after " :" */

  tw_irc_err_t err; /* TW_IRC_OK after a successful parse */
} tw_irc_msg_t;

/* Parses one IRC line of `len` bytes into *msg.
 *
 * One trailing "\n", "\r\n" or "\r" is ignored, so lines may be passed with
 * or without their terminator; any other CR or LF, and any NUL byte, rejects
 * the line. Several spaces between parts are accepted; trailing spaces after
 * the last middle parameter are ignored.
 *
 * Returns 0, or TW_EPARSE for a malformed line with the reason in msg->err
 * (tw_irc_err_str() gives a static English string). Never reads outside
 * line[0..len). `line` is borrowed and must outlive every view in *msg; *msg
 * is caller-owned (usually on the stack) and needs no cleanup. */
int tw_irc_parse(tw_irc_msg_t *msg, const char *line, size_t len);

/* A static English description of a parse error ("empty line", ...); never
 * NULL, never freed. */
const char *tw_irc_err_str(tw_irc_err_t err);

/* The escaped value of tag `key` (NUL-terminated, compared byte for byte).
 * When the key appears several times the last one wins, as IRCv3 says.
 * Absent: the result has ptr == NULL. The view borrows from msg's line. */
tw_irc_str_t tw_irc_tag_get(const tw_irc_msg_t *msg, const char *key);

/* Same as tw_irc_tag_get() for a key given as pointer and length. */
tw_irc_str_t tw_irc_tag_getn(const tw_irc_msg_t *msg, const char *key,
                             size_t keylen);

/* Whether tags[i] is overridden by a later tag with the same key (so that
 * walkers over msg->tags can apply "the last duplicate wins"). */
int tw_irc_tag_is_shadowed(const tw_irc_msg_t *msg, size_t i);

/* The last parameter, or an absent view when there are none (borrowed from
 * msg's line). */
tw_irc_str_t tw_irc_last_param(const tw_irc_msg_t *msg);

/* Unescapes an IRCv3 tag value: "\:" -> ';', "\s" -> ' ', "\\" -> '\',
 * "\r" -> CR, "\n" -> LF, '\' + any other byte -> that byte, and a lone '\'
 * at the end is dropped. The result is never longer than the input.
 *
 * Writes to dst (cap bytes; src and dst must not overlap), NUL-terminates it
 * when there is room for the terminator, stores the length in *out_len and
 * returns 0; returns TW_ETOOBIG, leaving dst partly written, when the
 * unescaped value does not fit in cap bytes. Both buffers are borrowed. */
int tw_irc_unescape(const char *src, size_t n, char *dst, size_t cap,
                    size_t *out_len);

/* A bounded scratch area for unescaped values. It is large enough for every
 * tag value of one line to be unescaped into it at once, since unescaping
 * never grows a value and a line is at most TW_MAX_IRC_LINE bytes. The
 * caller owns it (it is about 16 KiB: keep it off small stacks). */
typedef struct {
  size_t used;
  char buf[TW_MAX_IRC_LINE];
} tw_irc_scratch_t;

/* Empties the scratch; views previously returned from it become invalid. */
void tw_irc_scratch_reset(tw_irc_scratch_t *s);

/* Unescapes `raw` into the scratch and stores a view of the result in *out.
 * A value without any backslash is returned as is (no copy), and an absent
 * value stays absent. Returns 0, or TW_ETOOBIG when the scratch is full
 * (then *out is left absent). The result borrows from the scratch or from
 * raw's line, whichever applies. */
int tw_irc_scratch_unescape(tw_irc_scratch_t *s, tw_irc_str_t raw,
                            tw_irc_str_t *out);

/* Compares a view with a NUL-terminated string (both borrowed for the
 * call). Absent views equal nothing. */
int tw_irc_str_eq(tw_irc_str_t v, const char *s);

/* ---- line splitter ---------------------------------------------------- */

/* Keep empty lines (deliver them with len 0) instead of skipping them. */
#define TW_IRC_SPLIT_KEEP_EMPTY 0x1u

typedef struct tw_irc_splitter tw_irc_splitter_t;

/* Called once per complete line, in order. On success err is 0 and
 * line[0..len) is the line without "\n" or "\r\n" (borrowed for the duration
 * of the call only: it may point into the caller's chunk or into the
 * splitter's buffer). When a line was longer than the cap, err is
 * TW_ETOOBIG, line is NULL and len is the number of bytes discarded.
 * The callback must not feed, finish or reset the splitter that called it. */
typedef void (*tw_irc_line_cb)(void *ud, const char *line, size_t len, int err);

/* Creates a splitter that holds at most `max_line` bytes of one unfinished
 * line (0 means TW_MAX_IRC_LINE; larger values are clamped to it). Lines
 * longer than that are discarded, counted and reported, and the splitter
 * resynchronises at the next LF. `flags` is 0 or TW_IRC_SPLIT_KEEP_EMPTY.
 * Returns NULL when out of memory. Free with tw_irc_splitter_free(). */
tw_irc_splitter_t *tw_irc_splitter_new(size_t max_line, unsigned flags);

/* Frees the splitter and its buffer. NULL is accepted. */
void tw_irc_splitter_free(tw_irc_splitter_t *s);

/* Feeds `len` bytes (borrowed for the call) and calls `cb` for every line
 * they complete. Bytes of an unfinished line are copied into the splitter.
 * Returns 0, or TW_EINVAL for a NULL splitter, callback or data. */
int tw_irc_splitter_feed(tw_irc_splitter_t *s, const char *data, size_t len,
                         tw_irc_line_cb cb, void *ud);

/* Ends the stream: delivers an unfinished last line (one without a final
 * LF), or reports it if it was too long, then empties the splitter for
 * reuse. Returns 0, or TW_EINVAL for a NULL splitter or callback. */
int tw_irc_splitter_finish(tw_irc_splitter_t *s, tw_irc_line_cb cb, void *ud);

/* Forgets any unfinished line (for example after a reconnect). Counters are
 * kept. */
void tw_irc_splitter_reset(tw_irc_splitter_t *s);

/* Number of over-long lines discarded since creation. */
uint64_t tw_irc_splitter_dropped(const tw_irc_splitter_t *s);

/* Bytes of an unfinished line currently held (0 while discarding). */
size_t tw_irc_splitter_pending(const tw_irc_splitter_t *s);

#ifdef __cplusplus
}
#endif
#endif
