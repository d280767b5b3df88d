/* twitchd: the Twitch chat client (IRC over WebSocket, TLS or TCP).
 *
 * A tw_chat_t keeps one bot account connected to Twitch chat: it logs in,
 * joins the configured channels within Twitch's join limit, turns chat lines
 * into events (twitchd/event.h), sends messages through a queue that keeps
 * within Twitch's rate limits, answers keepalives, watches for silent
 * connections and reconnects by itself, with backoff, whenever the
 * connection is lost. All of that logic lives in a sans-IO session
 * (src/twitch/chat_session.h) that the unit tests drive with simulated time;
 * this handle adds the sockets, the timer and the loop.
 *
 * Transports, chosen by the URL scheme:
 *   wss://host[:port][/path]  IRC over secure WebSocket (Twitch's
 *                             wss://irc-ws.chat.twitch.tv:443, the default);
 *                             a frame may carry several CRLF-ended lines.
 *   ircs://host[:port]        IRC over TLS (Twitch: irc.chat.twitch.tv:6697).
 *   irc://host[:port], ws://host[:port][/path]
 *                             in clear: for local tests against the
 *                             simulator only (Twitch has closed plain ws).
 * TLS peers are verified against the system store plus opts.ca_file (the
 * simulator's generated CA).
 *
 * Reliability rules (each has a test):
 *  - Every PING gets its PONG. After ping_idle_ms without any line the client
 *    sends its own PING and declares the connection dead when nothing comes
 *    back within pong_timeout_ms (half-open sockets are otherwise silent).
 *  - A server RECONNECT opens a new connection first, logs in and rejoins
 *    there, and only then drops the old one: no line is lost in between, and
 *    lines both connections received are delivered once (deduplicated by
 *    message id, or by a key built from the tags for CLEARCHAT and CLEARMSG,
 *    in a set bounded by TW_MAX_CHAT_DEDUPE). The old connection is read for
 *    reconnect_linger_ms more after the new one took over, since lines the
 *    server wrote to it before may not have been read yet.
 *  - Any other loss reconnects after an exponential backoff with full jitter
 *    (backoff_base_ms doubling up to backoff_cap_ms), reset only after a
 *    connection stayed up backoff_healthy_ms: never a hot loop.
 *  - "Login authentication failed" asks the refresh_token callback for a new
 *    token (tw_chat_set_token() answers) and retries; after auth_max_failures
 *    failures in a row the client stops with TW_EAUTH and says why.
 *  - tw_chat_say() queues or refuses (TW_EFULL); it never drops silently.
 *  - A malformed line is skipped and counted, never fatal.
 *  - Who sent a line and its tags come from their positions in the line;
 *    message text and display names cannot change them.
 *
 * Threading: one loop thread. Every function must be called on the loop's
 * thread; callbacks run on it.
 */
#ifndef TWITCHD_CHAT_H
#define TWITCHD_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "twitchd/backoff.h"
#include "twitchd/event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Twitch's recommended chat endpoint. */
#define TW_CHAT_DEFAULT_URL "wss://irc-ws.chat.twitch.tv:443"
/* Channels the client tracks at once (Twitch lets an account join 100, not
 * counting channels where it is broadcaster or moderator). */
#define TW_MAX_CHAT_JOINS 200
/* Longest URL, login and token accepted, in bytes. */
#define TW_MAX_CHAT_URL 2048
#define TW_MAX_CHAT_LOGIN 25
#define TW_MAX_CHAT_TOKEN 512
/* Longest connector name, in bytes. */
#define TW_MAX_CHAT_CONNECTOR 64
/* Message keys remembered across a RECONNECT overlap (oldest forgotten
 * first); 4096 covers many seconds of the busiest channels. */
#define TW_MAX_CHAT_DEDUPE 4096
/* Room for the detail sentence kept by the handle. */
#define TW_MAX_CHAT_DETAIL 256

/* What a NOTICE's msg-id means, for the msg-ids a bot acts on. The raw
 * msg-id is always given too; compare ids, never texts. */
typedef enum {
  TW_CHAT_NOTICE_OTHER = 0,         /* any msg-id not listed here, or none */
  TW_CHAT_NOTICE_RATELIMIT,         /* msg_ratelimit */
  TW_CHAT_NOTICE_DUPLICATE,         /* msg_duplicate */
  TW_CHAT_NOTICE_SLOWMODE,          /* msg_slowmode */
  TW_CHAT_NOTICE_FOLLOWERSONLY,     /* msg_followersonly, _followed, _zero */
  TW_CHAT_NOTICE_SUBSONLY,          /* msg_subsonly */
  TW_CHAT_NOTICE_EMOTEONLY,         /* msg_emoteonly */
  TW_CHAT_NOTICE_R9K,               /* msg_r9k */
  TW_CHAT_NOTICE_BANNED,            /* msg_banned */
  TW_CHAT_NOTICE_TIMEDOUT,          /* msg_timedout */
  TW_CHAT_NOTICE_CHANNEL_BLOCKED,   /* msg_channel_blocked */
  TW_CHAT_NOTICE_BAD_CHARACTERS,    /* msg_bad_characters */
  TW_CHAT_NOTICE_REJECTED,          /* msg_rejected, msg_rejected_mandatory */
  TW_CHAT_NOTICE_VERIFIED,          /* msg_requires_verified_phone_number,
                                       msg_verified_email */
  TW_CHAT_NOTICE_SUSPENDED,         /* msg_suspended */
  TW_CHAT_NOTICE_CHANNEL_SUSPENDED, /* msg_channel_suspended */
  TW_CHAT_NOTICE_TOS_BAN,           /* tos_ban */
  TW_CHAT_NOTICE_UNRECOGNIZED_CMD,  /* unrecognized_cmd */
  TW_CHAT_NOTICE_ROOM_MODE,         /* emote_only_on, slow_off, ... */
  TW_CHAT_NOTICE_KIND_COUNT
} tw_chat_notice_kind_t;

/* A NOTICE from the server. Strings are borrowed for the callback. */
typedef struct {
  tw_chat_notice_kind_t kind;
  const char *msg_id;  /* raw msg-id, "" when absent */
  const char *channel; /* login without '#', "" for "*" (login notices) */
  const char *text;    /* the server's sentence */
  /* 1 when the notice says a message we sent was refused (ratelimit,
   * duplicate, slow mode, followers/subs/emote-only, r9k, banned, timed
   * out, blocked, bad characters, rejected, verification needed). */
  int send_failed;
} tw_chat_notice_t;

/* The static msg-id-like name of a notice kind ("msg_ratelimit", "other"). */
const char *tw_chat_notice_kind_name(tw_chat_notice_kind_t kind);

/* Connection and channel state changes, for logs, metrics and the caller's
 * own decisions. */
typedef enum {
  TW_CHAT_STATUS_CONNECTING = 0, /* a transport connection is being opened */
  TW_CHAT_STATUS_LOGGED_IN,      /* 001 and GLOBALUSERSTATE received */
  TW_CHAT_STATUS_JOINED,         /* `channel` confirmed by its ROOMSTATE */
  TW_CHAT_STATUS_JOIN_FAILED,    /* `channel` not joined: err says why
                                    (TW_ENOTFOUND suspended or missing,
                                    TW_EFORBIDDEN banned, TW_ETIMEDOUT no
                                    confirmation); retry_in_ms says whether
                                    it is tried again */
  TW_CHAT_STATUS_PARTED,         /* the server removed us from `channel` */
  TW_CHAT_STATUS_RECONNECT,      /* the server asked us to move (RECONNECT) */
  TW_CHAT_STATUS_HANDOVER,       /* the new connection took over after
                                    RECONNECT; the old one was dropped */
  TW_CHAT_STATUS_DISCONNECTED,   /* a connection was lost (err) */
  TW_CHAT_STATUS_AUTH_FAILED,    /* Twitch refused the token; a refreshed one
                                    is asked for (or the same one retried) */
  TW_CHAT_STATUS_STOPPED         /* the client gave up (err, detail) or was
                                    closed (err 0); no more attempts */
} tw_chat_status_kind_t;

/* One status change. Strings are borrowed for the callback. */
typedef struct {
  tw_chat_status_kind_t kind;
  int err;             /* TW_E* reason, 0 when there is none */
  const char *channel; /* login without '#', "" when not about a channel */
  const char *detail;  /* a sentence for people, "" when none */
  /* When the client tries again (a connection, or this channel's join), in
   * ms from now; UINT64_MAX when it does not. */
  uint64_t retry_in_ms;
} tw_chat_status_t;

/* The static name of a status kind ("logged_in"). */
const char *tw_chat_status_kind_name(tw_chat_status_kind_t kind);

/* Counters since tw_chat_new(), for tests, metrics and the benchmark. */
typedef struct {
  uint64_t bytes_received;     /* transport payload bytes */
  uint64_t lines_received;     /* lines taken in, well-formed or not */
  uint64_t lines_malformed;    /* skipped: unparsable or over-long */
  uint64_t lines_sent;         /* lines written, every command */
  uint64_t messages_sent;      /* PRIVMSG lines taken from the queue */
  uint64_t events_delivered;   /* events handed to on_event */
  uint64_t duplicates_dropped; /* seen on both sides of a RECONNECT */
  uint64_t shared_skipped;     /* shared-chat lines from other rooms */
  uint64_t connects;           /* transport connections opened */
  uint64_t logins;             /* logins completed */
  uint64_t reconnects;         /* logins after the first one */
  uint64_t server_reconnects;  /* RECONNECT commands followed */
  uint64_t pings_sent;         /* our own keepalive PINGs */
  uint64_t ping_timeouts;      /* connections declared dead by them */
  uint64_t auth_failures;      /* logins Twitch refused */
  uint64_t join_failures;      /* JOIN_FAILED reports */
  uint64_t notices;            /* NOTICE lines */
  uint64_t send_rejected;      /* tw_chat_say() answers TW_EFULL */
  uint64_t send_queued;        /* messages (parts) waiting to be sent */
} tw_chat_stats_t;

typedef struct tw_chat tw_chat_t;

/* Callbacks; any may be NULL. They run on the loop thread and may call any
 * tw_chat_* function on the handle (tw_chat_close() included, tw_chat_free()
 * excepted except from on_closed). */
typedef struct {
  /* An event (Message, JoinRoom, LeaveRoom, UserSubscribed,
   * UserGiftedSubscription, Raid, UserBanned, ChatCleared, MessageDeleted).
   * Ownership passes to the callee, who frees it with tw_event_free(). */
  void (*on_event)(tw_chat_t *chat, tw_event_t *ev, void *ud);
  /* A NOTICE (borrowed for the call). */
  void (*on_notice)(tw_chat_t *chat, const tw_chat_notice_t *notice, void *ud);
  /* A status change (borrowed for the call). */
  void (*on_status)(tw_chat_t *chat, const tw_chat_status_t *status, void *ud);
  /* Twitch refused the token: fetch a fresh one (refresh it) and pass it to
   * tw_chat_set_token(), or report failure with tw_chat_token_failed(). May
   * answer at once or later. When NULL, the same token is retried. */
  void (*refresh_token)(tw_chat_t *chat, void *ud);
  /* tw_chat_close() has finished: every socket and timer is closed. The
   * handle may be freed from here with tw_chat_free(). */
  void (*on_closed)(tw_chat_t *chat, void *ud);
} tw_chat_cb_t;

/* Settings. Fill with tw_chat_opts_default(), then change what you need.
 * Strings are borrowed for tw_chat_new(), which copies them. Times in ms. */
typedef struct {
  const char *url;     /* see the transports above */
  const char *ca_file; /* extra trusted CA (PEM), NULL for none */
  /* The bot's login (lower case) and user access token (with or without
   * "oauth:"; scopes chat:read, chat:edit). A NULL or empty token logs in
   * anonymously as justinfan<digits>: read-only. The login may be NULL: the
   * name Twitch confirms in its 001 reply is used. */
  const char *login;
  const char *token;
  const char *const *channels; /* joined at start, '#' optional */
  size_t nchannels;            /* <= TW_MAX_CHAT_JOINS */
  const char *connector;       /* events' connector field ("twitch") */
  /* Deliver shared-chat lines relayed from other rooms (marked
   * from_shared_chat). Off by default: they belong to the other room. */
  bool deliver_shared_chat;
  /* Leave events' raw field empty (saves a copy of every line). */
  bool omit_raw;
  /* Deliver our own JOIN/PART echoes as JoinRoom/LeaveRoom. Off: skills
   * greeting users would greet the bot. */
  bool deliver_own_membership;

  uint32_t login_timeout_ms;    /* connect + login (20000) */
  uint32_t ping_idle_ms;        /* silence before our own PING (60000) */
  uint32_t pong_timeout_ms;     /* silence after it before giving up (10000) */
  uint32_t join_timeout_ms;     /* JOIN to ROOMSTATE (10000) */
  uint32_t join_attempts;       /* tries per channel before giving up (3) */
  uint32_t join_max;            /* JOINs per window, per account (20) */
  uint32_t join_window_ms;      /* that window, with margin (11000) */
  uint32_t backoff_base_ms;     /* first reconnect delay bound (1000) */
  uint32_t backoff_cap_ms;      /* largest reconnect delay (120000) */
  uint32_t backoff_healthy_ms;  /* uptime that resets the backoff (60000) */
  uint32_t auth_max_failures;   /* refused logins in a row before stopping
                                   (3) */
  uint32_t reconnect_linger_ms; /* the old connection is still read this
                                   long after a handover (2000) */
  uint32_t dedupe_grace_ms;     /* dedupe kept after that (10000) */

  /* Sending limits (see src/twitch/chat_queue.h; defaults are Twitch's for
   * a regular account, with margins). Tests shorten them. */
  uint32_t send_window_ms;              /* 31000 */
  uint32_t send_normal_max;             /* 20 */
  uint32_t send_privileged_max;         /* 100 */
  uint32_t send_channel_interval_ms;    /* 1200 */
  uint32_t send_duplicate_ms;           /* 31000; 0 = no duplicate handling */
  uint32_t send_max_queued;             /* 256 */
  uint32_t send_max_queued_per_channel; /* 64 */

  /* Random source for the backoff jitter and the anonymous nick; NULL: the
   * kernel's. rand_ctx is borrowed. */
  tw_rand_fn rand;
  void *rand_ctx;
} tw_chat_opts_t;

/* Fills *opts with the defaults above (url TW_CHAT_DEFAULT_URL, connector
 * "twitch", no channels, anonymous). */
void tw_chat_opts_default(tw_chat_opts_t *opts);

/* Creates a client on `loop` (borrowed; it must outlive the client). opts
 * and cb are copied (strings included); ud is passed to the callbacks.
 * Nothing connects before tw_chat_start(). Returns 0 with *out set, or
 * TW_EINVAL (bad URL or scheme, bad channel name, bad login or token, a
 * value out of range), TW_ETOOBIG (over a TW_MAX_CHAT_* cap), TW_ECONFIG
 * (unreadable or invalid ca_file), TW_ETLS or TW_ENOMEM; the reason is also
 * logged, since there is no handle to ask. The token is registered with the
 * logger's redaction (twitchd/log.h) so that it never reaches a log. */
int tw_chat_new(uv_loop_t *loop, const tw_chat_opts_t *opts,
                const tw_chat_cb_t *cb, void *ud, tw_chat_t **out);

/* Starts connecting. Returns 0, or TW_ESTATE when already started or
 * closing. */
int tw_chat_start(tw_chat_t *chat);

/* Closes every connection (sending nothing more) and timer; on_closed runs
 * from the loop when done, with a final STOPPED status before it. Queued
 * messages are dropped. Safe to call more than once and from callbacks. */
void tw_chat_close(tw_chat_t *chat);

/* Frees the handle. Call it after on_closed (or from it), or on a client
 * never started; on a running client it closes first and frees when the
 * close completes (on_closed still runs). NULL is ignored. */
void tw_chat_free(tw_chat_t *chat);

/* Queues a message for `channel` (a login, '#' optional): `text` (split at
 * 500 characters, control characters made spaces), as a reply to message id
 * `reply_to` when not NULL, as /me when is_action. Strings are borrowed and
 * copied. Returns 0; TW_EFULL when the queue has no room now (retry later;
 * nothing was queued); TW_EINVAL (bad channel, empty text); TW_ETOOBIG;
 * TW_EFORBIDDEN for an anonymous client (read-only); TW_ESTATE when closing
 * or stopped. */
int tw_chat_say(tw_chat_t *chat, const char *channel, const char *text,
                const char *reply_to, bool is_action);

/* Joins / leaves a channel at run time (borrowed). Joining a channel already
 * wanted, or leaving one not joined, is a no-op returning 0. Returns 0,
 * TW_EINVAL (bad name), TW_EFULL (TW_MAX_CHAT_JOINS reached) or TW_ESTATE. */
int tw_chat_join(tw_chat_t *chat, const char *channel);
int tw_chat_part(tw_chat_t *chat, const char *channel);

/* Gives the client a new token (copied; with or without "oauth:"): the
 * answer to refresh_token, or a rotation pushed by the credentials layer.
 * It is used from the next login on; the live connection is kept. Returns 0,
 * TW_EINVAL (empty) or TW_ETOOBIG. */
int tw_chat_set_token(tw_chat_t *chat, const char *token);

/* Reports that refresh_token could not produce a token: with TW_EAUTH (the
 * credential is dead) the client stops at once; with any other code (a
 * network error) it retries the login later, within auth_max_failures. */
void tw_chat_token_failed(tw_chat_t *chat, int err);

/* True when `channel` is joined (confirmed) on the connection in use. */
bool tw_chat_is_joined(const tw_chat_t *chat, const char *channel);

/* True when logged in on a connection that can send. */
bool tw_chat_is_ready(const tw_chat_t *chat);

/* Fills *out with the counters. */
void tw_chat_stats(const tw_chat_t *chat, tw_chat_stats_t *out);

/* The last error detail ("" when none); owned by the handle. */
const char *tw_chat_detail(const tw_chat_t *chat);

#ifdef __cplusplus
}
#endif
#endif
