/* twitchd: the outbound chat queue of the chat client (private to
 * src/twitch).
 *
 * Sans-IO: no sockets, no clock, no globals. The caller passes the time in
 * (monotonic milliseconds, e.g. uv_now()), queues messages with
 * tw_chatq_say() and pulls ready IRC lines with tw_chatq_next(), which either
 * hands out one line to write now or says exactly how long to wait, so the
 * caller arms one timer. The queue enforces Twitch's chat limits so that the
 * bot never earns the hour-long lockout other libraries' users complain of,
 * and it refuses (TW_EFULL) instead of dropping when full.
 *
 * Decisions, in one place:
 *
 * Text. A message longer than TW_MAX_CHAT_MESSAGE_CHARS (500) code points is
 * split at word boundaries into several messages, queued in order, each one
 * a separate PRIVMSG; a word longer than 500 is cut hard between code points.
 * CR, LF, NUL and every other control character become spaces, invalid UTF-8
 * becomes U+FFFD (see chat_text.h), so a text can never end the IRC line or
 * forge a CTCP. Each part is trimmed of leading and trailing spaces. A text
 * that is empty or only whitespace is refused (TW_EINVAL). For plain
 * (non-action) messages a split avoids starting a continuation part with '/'
 * or '.', which Twitch would read as a chat command the caller never wrote;
 * the first part is sent as the caller wrote it.
 *
 * Replies and actions. The reply-parent-msg-id tag goes on the first part
 * only: the first part answers the parent and the rest follow it directly in
 * the same channel, rather than each part showing its own reply banner. An
 * action is sent as "PRIVMSG #c :\x01ACTION text\x01"; the 500 limit applies
 * to the text, and every part of a split action is an action.
 *
 * Limits (Twitch, per account, across channels and connections). Sending a
 * line to a channel where the bot is not privileged needs fewer than
 * normal_max (20) lines sent by the account in the last window; to a channel
 * where it is broadcaster, moderator or VIP (tw_chatq_set_privileged(), from
 * USERSTATE) fewer than privileged_max (100). Every line counts toward both,
 * so once 20 are used only privileged channels continue, up to 100. A
 * non-privileged channel also gets at most one line per channel_interval_ms.
 * The window is a sliding one over our own send times. Margins: the window
 * is 30 s + 1 s and the per-channel interval 1 s + 200 ms (the value twurple
 * uses), because Twitch measures arrival times, not ours, and a line delayed
 * in transit (a TCP retransmission takes 200 ms or more) arrives closer to
 * the next one than we sent it. Exceeding the 20/30 s limit costs a one-hour
 * lockout, so 3% of burst throughput is a cheap insurance. The queue can
 * only count its own lines: another client logged in as the same account
 * uses the same allowance unseen.
 *
 * Fairness. Channels are served round-robin: among the channels whose next
 * line may go now, the one served least recently goes first, and each
 * channel is FIFO. A channel waiting for its own one-per-interval slot does
 * not hold up others. Because every privileged line also counts toward the
 * 20, steady privileged traffic could keep a non-privileged channel from
 * ever sending. So once the head message of a non-privileged channel has
 * been the head for a whole window, and its own interval (and duplicate
 * wait, below) allow it, it holds its turn: privileged channels pause until
 * the window lets it go. Other channels' traffic thus delays a message by
 * about two windows at most, while a short wait costs privileged channels
 * nothing.
 *
 * Duplicates. Twitch drops (msg_duplicate) a message identical to the
 * previous one sent to the channel less than 30 s before. The queue alters
 * such a line invisibly, as Chatterino and DankChat do today: it doubles the
 * first space in the text, or, for a text without spaces, appends " \u034F"
 * (a space and COMBINING GRAPHEME JOINER; Twitch now drops the older U+E0000
 * suffix, see Chatterino PR #6417). The next identical message then differs
 * from the altered one and goes unaltered. When there is no room (the part
 * is already at the 500 limit) the line waits until the duplicate window has
 * passed instead. This is done in every channel: dank-twitch-irc skips it
 * where the bot is privileged, but if that exemption is wrong the line is
 * lost, while an extra space costs nothing. duplicate_ms = 0 disables it.
 *
 * Reconnects. The queue knows nothing of connections: on a disconnect the
 * caller simply stops pulling, and on reconnect resumes. Queued messages are
 * kept, and so is the send history, because Twitch's limits are per account,
 * not per connection. tw_chatq_clear() drops messages only when the caller
 * asks (for example on PART or a ban), and says how many.
 *
 * Contract for the caller: pull a line only when it can be written, because
 * a line handed out counts as sent. Call tw_chatq_next() again after
 * tw_chatq_say() and tw_chatq_set_privileged(), which can make a line ready
 * sooner than the timer armed before. Times must not go backwards; a time
 * earlier than one already seen is treated as that time.
 */
#ifndef TWITCHD_TWITCH_CHAT_QUEUE_H
#define TWITCHD_TWITCH_CHAT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twitch/chat_text.h"

/* Caps. */
#define TW_MAX_CHAT_QUEUE 256            /* messages (parts) queued in all */
#define TW_MAX_CHAT_QUEUE_PER_CHANNEL 64 /* messages (parts) per channel */
#define TW_MAX_CHAT_CHANNELS 512         /* channels tracked at once */
#define TW_MAX_CHAT_TEXT 8192            /* bytes of text per tw_chatq_say */
#define TW_MAX_CHAT_REPLY_ID 64          /* bytes of a reply parent id */
#define TW_MAX_CHAT_WINDOW_SENDS 7500    /* largest privileged_max accepted */
/* The longest line tw_chatq_next() produces, without CRLF and NUL:
 * "@reply-parent-msg-id=" (21) + escaped id (2 bytes per id byte at most) +
 * " " + "PRIVMSG #" (9) + channel + " :" + "\x01ACTION " (8) + text (4 bytes
 * per code point at most; the duplicate alteration only applies when it fits
 * in the same 500 code points) + "\x01". A buffer of TW_MAX_CHAT_LINE + 1
 * bytes always suffices. */
#define TW_MAX_CHAT_LINE                                                       \
  (21 + 2 * TW_MAX_CHAT_REPLY_ID + 1 + 9 + TW_MAX_CHAT_CHANNEL_NAME + 2 + 8 +  \
   4 * TW_MAX_CHAT_MESSAGE_CHARS + 1)

/* Twitch's documented limits for a regular account, and our margins. */
#define TW_CHAT_WINDOW_MS 30000
#define TW_CHAT_WINDOW_MARGIN_MS 1000
#define TW_CHAT_NORMAL_PER_WINDOW 20
#define TW_CHAT_PRIVILEGED_PER_WINDOW 100
#define TW_CHAT_CHANNEL_INTERVAL_MS 1000
#define TW_CHAT_CHANNEL_MARGIN_MS 200
#define TW_CHAT_DUPLICATE_MS 30000

typedef struct tw_chatq tw_chatq_t;

/* The limits a queue enforces. Times already include any safety margin. */
typedef struct {
  uint32_t window_ms;              /* sliding window length (31000) */
  uint32_t normal_max;             /* lines per window, any channel (20) */
  uint32_t privileged_max;         /* lines per window, privileged only (100) */
  uint32_t channel_interval_ms;    /* gap per non-privileged channel (1200) */
  uint32_t duplicate_ms;           /* duplicate window; 0 = off (31000) */
  uint32_t max_queued;             /* <= TW_MAX_CHAT_QUEUE */
  uint32_t max_queued_per_channel; /* <= TW_MAX_CHAT_QUEUE_PER_CHANNEL */
} tw_chatq_limits_t;

/* Account-wide figures. */
typedef struct {
  size_t queued;          /* messages (parts) waiting, all channels */
  size_t channels;        /* channels tracked */
  uint32_t window_sent;   /* lines sent within the window ending at now */
  uint64_t sent_total;    /* lines handed out since creation */
  uint64_t rejected_full; /* tw_chatq_say calls refused with TW_EFULL */
  uint64_t dup_altered;   /* lines altered to dodge msg_duplicate */
} tw_chatq_stats_t;

/* Figures for one channel. */
typedef struct {
  size_t queued;        /* messages (parts) waiting in this channel */
  uint32_t window_sent; /* lines sent here within the window ending at now */
  uint64_t sent_total;  /* lines sent here while the channel was tracked */
  bool privileged;      /* as last set by tw_chatq_set_privileged */
} tw_chatq_channel_stats_t;

/* Fills *limits with the defaults for a regular (not verified) account:
 * 20 and 100 lines per 31 s, 1200 ms per non-privileged channel, duplicate
 * window 31 s, and the queue caps TW_MAX_CHAT_QUEUE and
 * TW_MAX_CHAT_QUEUE_PER_CHANNEL. */
void tw_chatq_limits_default(tw_chatq_limits_t *limits);

/* Creates an empty queue. limits is copied (NULL means the defaults); it
 * needs window_ms >= 1, 1 <= normal_max <= privileged_max <=
 * TW_MAX_CHAT_WINDOW_SENDS and 1 <= max_queued_per_channel <= max_queued,
 * each queue cap no larger than its TW_MAX_ macro. Returns 0 with *out set
 * (free it with tw_chatq_free), TW_EINVAL or TW_ENOMEM. */
int tw_chatq_new(const tw_chatq_limits_t *limits, tw_chatq_t **out);

/* Frees the queue and every message still in it. NULL is a no-op. */
void tw_chatq_free(tw_chatq_t *q);

/* Queues `text` for `channel` (a login, with or without '#', any case).
 * reply_parent_msg_id, when not NULL, makes the (first part of the) message
 * a reply to that message id; it must be 1..TW_MAX_CHAT_REPLY_ID bytes of
 * valid UTF-8 and is escaped on output. is_action sends it as /me. All
 * strings are borrowed for the call and copied. The message is queued whole
 * or not at all. Returns 0; TW_EINVAL for a NULL argument, a bad channel
 * name, an empty or all-whitespace text, an empty or ill-formed reply id;
 * TW_ETOOBIG for a text over TW_MAX_CHAT_TEXT bytes, a reply id over
 * TW_MAX_CHAT_REPLY_ID bytes, or a text needing more parts than the
 * per-channel cap (it could never be queued); TW_EFULL when the queue, the
 * channel's queue or the channel table has no room now (retry after pulling
 * lines); TW_ENOMEM. */
int tw_chatq_say(tw_chatq_t *q, const char *channel, const char *text,
                 const char *reply_parent_msg_id, bool is_action,
                 uint64_t now_ms);

/* As tw_chatq_say, with the text given by pointer and length, so that a text
 * containing NUL bytes (a Lua string can) is handled rather than truncated:
 * NUL becomes a space like the other control characters. */
int tw_chatq_say_len(tw_chatq_t *q, const char *channel, const char *text,
                     size_t text_len, const char *reply_parent_msg_id,
                     bool is_action, uint64_t now_ms);

/* Records whether the bot is broadcaster, moderator or VIP in `channel`
 * (borrowed), as USERSTATE says. Channels are unprivileged until told
 * otherwise. Returns 0, TW_EINVAL for a bad name, or TW_EFULL when the
 * channel table is full of channels still in use. */
int tw_chatq_set_privileged(tw_chatq_t *q, const char *channel,
                            bool privileged);

/* Takes the next line that may be sent at now_ms. On success returns 0,
 * writes the complete IRC line (no CRLF; the transport adds it) to
 * out[0..*len) followed by a NUL, records the send and sets *wait_ms to 0.
 * Otherwise returns TW_EAGAIN with *len = 0 and *wait_ms the exact number of
 * milliseconds until a line may go (a call at now_ms + *wait_ms succeeds, one
 * a millisecond earlier does not, as long as nothing is queued or changed in
 * between), or UINT64_MAX when the queue is empty. TW_ETOOBIG when cap is too
 * small for the line (*len is then the line's length; nothing is consumed;
 * cap = TW_MAX_CHAT_LINE + 1 always suffices); TW_EINVAL for NULL
 * arguments. out is owned by the caller. */
int tw_chatq_next(tw_chatq_t *q, uint64_t now_ms, char *out, size_t cap,
                  size_t *len, uint64_t *wait_ms);

/* Drops every message queued for `channel` (borrowed), or for all channels
 * when channel is NULL. The send history stays, since Twitch still counts
 * those lines. Returns the number of messages dropped, or TW_EINVAL for a
 * bad name. */
int tw_chatq_clear(tw_chatq_t *q, const char *channel);

/* Fills *out with account-wide figures as of now_ms (which does not advance
 * the queue's clock). */
void tw_chatq_stats(const tw_chatq_t *q, uint64_t now_ms,
                    tw_chatq_stats_t *out);

/* Fills *out with the figures of `channel` (borrowed) as of now_ms; a
 * channel the queue does not track has all zeros. Returns 0 or TW_EINVAL. */
int tw_chatq_channel_stats(const tw_chatq_t *q, const char *channel,
                           uint64_t now_ms, tw_chatq_channel_stats_t *out);

#endif
