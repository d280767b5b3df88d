/* twitchd: the Twitch simulator: chat server side, the OAuth host and
 * Helix API on an HTTPS listener (section "OAuth and Helix" below;
 * docs/simulator.md, "OAuth and Helix"), and EventSub over WebSocket
 * (section "EventSub" below; docs/simulator.md, "EventSub").
 *
 * The simulator speaks Twitch's side of chat ("TMI") on 127.0.0.1 so that
 * the bot, its tests and people writing skills never need the real service:
 * plain IRC (irc://), IRC over TLS (ircs://), IRC over secure WebSocket
 * (wss://), with the login sequence, capabilities, JOIN replies, tags,
 * USERSTATE instead of an echo, keepalive PINGs and Twitch's send limits
 * (docs/twitch-protocol.md, section 4; docs/simulator.md for what the
 * simulator decides where Twitch does not document its behaviour).
 *
 * A tw_sim_t runs on a libuv loop. It is driven either in-process through
 * the functions below (tests, `twitchd run --sim`) or over its control
 * interface, a small HTTP+JSON server on 127.0.0.1 (`twitchd sim`, shell
 * integration tests); both offer the same operations: users, tokens, rooms
 * and roles; lines injected into a room or a connection; PING, RECONNECT,
 * abrupt drops and stalls; every line each client sent, in order; counters;
 * and floods of many lines for benchmarks.
 *
 * Connections are named by an id (uint64_t, from 1, never reused within one
 * simulator); 0 in a "conn" argument means "all connections".
 *
 * Everything runs on the loop's thread; no function may be called from
 * another thread. Strings given to the simulator are copied unless a
 * comment says otherwise; strings it hands out are borrowed for the duration
 * of the call or callback they appear in.
 */
#ifndef TWITCHD_SIM_H
#define TWITCHD_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- caps and defaults -------------------------------------------------- */

/* Default and ceiling of simultaneous chat connections; one more is closed
 * at once and counted (conns_refused). */
#define TW_SIM_MAX_CONNS 256
#define TW_SIM_MAX_CONNS_LIMIT 65536
/* Default cap of the bytes queued for one client. A client that lets more
 * pile up (it reads too slowly, or is stalled) is disconnected and counted
 * (slow_disconnects) rather than buffered without bound. The transport's own
 * queue (TW_MAX_STREAM_WQUEUE) comes on top. */
#define TW_SIM_MAX_OUTPUT (4u * 1024u * 1024u)
/* Longest line accepted from a client, without its terminator. Longer lines
 * are discarded and counted (lines_too_long); the connection stays. */
#define TW_SIM_MAX_IN_LINE 8192
/* Rooms one connection may be joined to at once (Twitch: 100 per account,
 * not counting rooms where it is broadcaster or moderator; the simulator
 * applies the cap to every room). Further JOINs are dropped and counted. */
#define TW_SIM_MAX_CONN_ROOMS 100
/* Users, tokens and rooms the simulator knows. */
#define TW_SIM_MAX_USERS 100000
#define TW_SIM_MAX_TOKENS 100000
#define TW_SIM_MAX_ROOMS 10000
/* Messages remembered per room, so that a reply (@reply-parent-msg-id) can
 * be given its reply-parent-* tags. */
#define TW_SIM_ROOM_HISTORY 1024
/* Lines kept for read-back (every line every client sent); the oldest are
 * evicted first and counted (record_evicted). */
#define TW_SIM_MAX_RECORD_LINES 200000
#define TW_SIM_MAX_RECORD_BYTES (64u * 1024u * 1024u)
/* Bytes of source lines one flood may hold. */
#define TW_SIM_MAX_FLOOD_BYTES (64u * 1024u * 1024u)
/* A flood writes more only while every receiving client has fewer than this
 * many bytes queued, so that it goes as fast as the slowest receiver reads
 * instead of disconnecting it. */
#define TW_SIM_FLOOD_WATERMARK (256u * 1024u)
/* Longest login (Twitch: 25), nick (anonymous justinfan names), token,
 * display name, user or room id, in bytes. */
#define TW_SIM_MAX_LOGIN 25
#define TW_SIM_MAX_NICK 64
#define TW_SIM_MAX_TOKEN 256
#define TW_SIM_MAX_DISPLAY 64
#define TW_SIM_MAX_ID 32
/* Highest per-window message limit accepted in the options. */
#define TW_SIM_MAX_RATE_LIMIT 10000
/* A message id: a UUID, 36 characters plus NUL. */
#define TW_SIM_MSG_ID_SIZE 37

/* For the *_ms options below: "never" / "no limit". 0 means "the default". */
#define TW_SIM_OFF UINT32_MAX

/* ---- options ------------------------------------------------------------ */

/* Chat behaviour. All-zero gives Twitch's documented values. */
typedef struct {
  unsigned max_conns; /* 0: TW_SIM_MAX_CONNS */
  size_t max_output;  /* per connection; 0: TW_SIM_MAX_OUTPUT */
  /* Server keepalive: "PING :tmi.twitch.tv" every ping_interval_ms (0: 5
   * minutes; TW_SIM_OFF: never), and the connection closed when no PONG
   * came within pong_timeout_ms (0: 10 s). */
  uint32_t ping_interval_ms;
  uint32_t pong_timeout_ms;
  /* Send limits per account, over a sliding window of rate_window_ms (0: 30
   * s): rate_limit messages (0: 20), rate_limit_priv where the user is
   * broadcaster, moderator or VIP of the room (0: 100; the same window
   * counts every message), rate_limit_verified for verified bots (0: 7500).
   * Capped at TW_SIM_MAX_RATE_LIMIT. */
  uint32_t rate_limit;
  uint32_t rate_limit_priv;
  uint32_t rate_limit_verified;
  uint32_t rate_window_ms;
  /* Minimum time between two messages of a non-privileged user in one room
   * (0: 1 s; TW_SIM_OFF: none). */
  uint32_t room_interval_ms;
  /* The same text again in the same room within dup_window_ms is dropped
   * with NOTICE msg_duplicate (0: 30 s; TW_SIM_OFF: never). */
  uint32_t dup_window_ms;
  /* After a message over the account limit, further non-privileged messages
   * are dropped for this long (Twitch: "ignored for 1 hour"). 0: no
   * lockout, only the over-limit messages themselves are dropped. */
  uint32_t lockout_ms;
  /* JOIN attempts per account per join_window_ms (0: 20 per 10 s;
   * TW_SIM_OFF window: no join limit). */
  uint32_t join_limit;
  uint32_t join_window_ms;
  /* Longest message in Unicode code points (0: 500). Longer ones are
   * dropped and counted, without a NOTICE (Twitch documents nothing). */
  uint32_t max_msg_chars;
  /* By default a message dropped by the one-per-second room limit gets
   * NOTICE msg_ratelimit and one over the account window is dropped
   * silently; these flip that. */
  int no_room_rate_notice;
  int notice_account_ratelimit;
  /* By default joining any well-formed channel name creates the room; with
   * this set only rooms added with tw_sim_add_room() exist, and a JOIN for
   * another one is silently dropped, as Twitch does for channels that do
   * not exist. */
  int no_auto_rooms;
} tw_sim_chat_opts_t;

/* Which listeners tw_sim_start() opens (tw_sim_opts_t.listeners). */
#define TW_SIM_LISTEN_IRC 0x01u      /* plain IRC, irc:// */
#define TW_SIM_LISTEN_IRCS 0x02u     /* IRC over TLS, ircs:// */
#define TW_SIM_LISTEN_WSS 0x04u      /* IRC over WebSocket over TLS, wss:// */
#define TW_SIM_LISTEN_WS 0x08u       /* plain ws://: answers 301 to wss:// */
#define TW_SIM_LISTEN_CONTROL 0x10u  /* the HTTP control interface */
#define TW_SIM_LISTEN_API 0x20u      /* HTTPS: /oauth2/... and /helix/... */
#define TW_SIM_LISTEN_EVENTSUB 0x40u /* EventSub WebSocket, wss://.../ws */
#define TW_SIM_LISTEN_ALL 0x7fu

/* The OAuth client registered in every simulator (printed by `twitchd sim`
 * as "client_id" and "client_secret"). A confidential client with no
 * registered redirect URI: any redirect_uri is accepted. */
#define TW_SIM_DEFAULT_CLIENT_ID "twitchd-sim-client"
#define TW_SIM_DEFAULT_CLIENT_SECRET "twitchd-sim-secret"
/* Who consents on /oauth2/authorize and approves device codes when nobody
 * else was configured (created on demand). */
#define TW_SIM_DEFAULT_CONSENT_LOGIN "simbot"

/* API caps. A request body over TW_SIM_MAX_API_BODY is answered 413 with
 * Twitch's error body. Requests kept for read-back (oldest evicted first):
 * TW_SIM_MAX_API_RECORD of them, TW_SIM_MAX_API_RECORD_BYTES in all;
 * headers kept per request: TW_SIM_MAX_API_HEADERS. Registered clients,
 * redirect URIs per client, pending authorization codes and device codes,
 * refresh tokens, forced-response rules, rate-limit buckets: below. */
#define TW_SIM_MAX_API_BODY (64u * 1024u)
#define TW_SIM_MAX_API_RECORD 10000
#define TW_SIM_MAX_API_RECORD_BYTES (16u * 1024u * 1024u)
#define TW_SIM_MAX_API_HEADERS 32
#define TW_SIM_MAX_API_PARAMS 256 /* query and form parameters */
#define TW_SIM_MAX_CLIENTS 1024
#define TW_SIM_MAX_CLIENT_ID 64
#define TW_SIM_MAX_CLIENT_SECRET 128
#define TW_SIM_MAX_REDIRECTS 8
#define TW_SIM_MAX_URI 2048
#define TW_SIM_MAX_CODES 10000 /* authorization and device codes */
#define TW_SIM_MAX_REFRESH 100000
#define TW_SIM_MAX_FORCED 64
#define TW_SIM_MAX_BUCKETS 10000
#define TW_SIM_MAX_SCOPE_TEXT 4096 /* scopes joined by spaces */

/* OAuth and Helix behaviour. All-zero gives Twitch's values. */
typedef struct {
  /* Lifetime of user access tokens (0: 4 h, Twitch's ~14 400 s) and of app
   * tokens (0: 5 011 271 s, Twitch's example). expires_in is reported in
   * whole seconds, rounded up. */
  uint64_t user_token_ttl_ms;
  uint64_t app_token_ttl_ms;
  /* Authorization codes are single-use and live code_ttl_ms (0: 10 min). */
  uint32_t code_ttl_ms;
  /* Device codes live device_ttl_ms (0: 1800 s). `interval` in the answer
   * is device_interval_ms in whole seconds, rounded up (0: 5 s). */
  uint32_t device_ttl_ms;
  uint32_t device_interval_ms;
  /* With device_slow_down set, a poll sooner than device_interval_ms after
   * the previous one answers 400 "slow_down" (Twitch documents only
   * authorization_pending and invalid device code, so it is off). */
  int device_slow_down;
  /* 0: device codes wait for tw_sim_device_approve(). N: after N polls
   * answered authorization_pending, the next poll is approved for the
   * consenting user. */
  uint32_t device_auto_approve;
  /* The user who consents (see TW_SIM_DEFAULT_CONSENT_LOGIN). Copied. */
  const char *consent_login;
  /* Helix rate limit per token: points per minute (0: 800), 1 per request.
   */
  uint32_t ratelimit_points;
  /* A clip created with POST /helix/clips shows in GET /helix/clips this
   * long after (0: 200 ms; TW_SIM_OFF: at once). */
  uint32_t clip_delay_ms;
} tw_sim_api_opts_t;

/* EventSub WebSocket caps. Sessions open at once (one more upgrade is
 * refused with HTTP 503); enabled subscriptions per session (Twitch: 300;
 * more are answered 429); connections with enabled subscriptions per user
 * token (Twitch: 3; 429 "number of websocket transports limit exceeded");
 * largest message sent, a notification whose event would exceed it is not
 * sent (TW_ETOOBIG); largest event object accepted by a trigger. */
#define TW_SIM_MAX_EVENTSUB_SESSIONS 256
#define TW_SIM_MAX_EVENTSUB_SESSION_SUBS 300
#define TW_SIM_MAX_EVENTSUB_USER_CONNS 3
#define TW_SIM_MAX_EVENTSUB_MESSAGE (64u * 1024u)
#define TW_SIM_MAX_EVENTSUB_EVENT (16u * 1024u)
/* A session id: 28 characters plus NUL (Twitch's look like
 * "AQoQexAWVYKSTIu4ec_2VAxyuhAB"). */
#define TW_SIM_EVENTSUB_ID_SIZE 64

/* EventSub WebSocket behaviour. All-zero gives Twitch's values. */
typedef struct {
  /* Simulator extension: the keepalive interval in ms, overriding the
   * client's ?keepalive_timeout_seconds= (which is clamped to 10..600 as on
   * Twitch, default 10), so that tests can run with sub-second keepalives.
   * The welcome then reports keepalive_timeout_seconds rounded up to whole
   * seconds (at least 1). 0: from the URL. */
  uint32_t keepalive_ms;
  /* Time from the welcome to the first subscription before the session is
   * closed with 4003 (0: the keepalive interval, as on Twitch; TW_SIM_OFF:
   * never). */
  uint32_t subscribe_window_ms;
  /* After a session_reconnect, how long the old connection stays open when
   * the client does not connect to the reconnect_url (0: 30 s, as on
   * Twitch); then it is closed with 4004. */
  uint32_t reconnect_grace_ms;
  /* Webhook transport (section "EventSub webhooks" below). Time one
   * delivery attempt may take, connecting included (0: 10 s, as the Twitch
   * CLI). */
  uint32_t webhook_timeout_ms;
  /* Wait before the first retry of a failed notification; each further
   * retry waits twice as long (0: 1 s). */
  uint32_t webhook_retry_ms;
  /* Retries of one notification after its first attempt (0: 3;
   * TW_SIM_OFF: none). */
  uint32_t webhook_retries;
  /* Notifications that failed every attempt before the subscription
   * becomes notification_failures_exceeded and is revoked (0: 3). */
  uint32_t webhook_max_failures;
  /* PEM CA bundle for https:// callbacks, in place of curl's default
   * bundle (curl's default CA directory, when it has one, still applies);
   * NULL: curl's defaults, the system store. Copied. */
  const char *webhook_ca_file;
} tw_sim_eventsub_opts_t;

/* Webhook caps: deliveries queued or in flight at once (one more is not
 * sent and is recorded with TW_EFULL); the largest body sent is
 * TW_SIM_MAX_EVENTSUB_MESSAGE (a larger one is recorded with TW_ETOOBIG);
 * bytes of a receiver's answer kept (the challenge is compared with them;
 * a longer answer fails the verification); delivery attempts kept for
 * tw_sim_webhook_attempts() (the oldest are dropped). */
#define TW_SIM_MAX_WEBHOOK_PENDING 256
#define TW_SIM_MAX_WEBHOOK_RESPONSE 1024
#define TW_SIM_MAX_WEBHOOK_ATTEMPTS 1024
/* Fields of tw_sim_webhook_attempt_t. */
#define TW_SIM_WEBHOOK_URL_SIZE 256
#define TW_SIM_WEBHOOK_ID_SIZE 40

typedef struct {
  /* IPv4 literal to listen on; NULL: "127.0.0.1". Copied. */
  const char *host;
  /* Ports; 0: ephemeral (read them back with tw_sim_port()). */
  uint16_t irc_port;
  uint16_t ircs_port;
  uint16_t wss_port;
  uint16_t ws_port;
  uint16_t control_port;
  /* TW_SIM_LISTEN_* mask; 0: all of them. */
  unsigned listeners;
  /* Directory holding cert.pem and key.pem for the TLS listeners. When the
   * directory has no cert.pem, a test CA and a certificate for localhost,
   * 127.0.0.1 and ::1 are generated into it (ca.pem, cert.pem, key.pem).
   * NULL: they are generated into a fresh temporary directory that
   * tw_sim_close() removes. Copied. */
  const char *cert_dir;
  /* WebSocket: send one IRC line per text message instead of batching
   * several CRLF-separated lines into one (Twitch does both). */
  int ws_line_per_message;
  /* Seed of the random message ids; 0: from OpenSSL's RNG. A fixed seed
   * makes ids reproducible. */
  uint64_t seed;
  tw_sim_chat_opts_t chat;
  /* The HTTPS API listener (TW_SIM_LISTEN_API): port, and behaviour. It
   * serves https://HOST:PORT/oauth2/... (id.twitch.tv) and
   * https://HOST:PORT/helix/... (api.twitch.tv) with cert_dir's
   * certificate. */
  uint16_t api_port;
  tw_sim_api_opts_t api;
  /* The EventSub WebSocket listener (TW_SIM_LISTEN_EVENTSUB): port, and
   * behaviour (section "EventSub" below). */
  uint16_t eventsub_port;
  tw_sim_eventsub_opts_t eventsub;
} tw_sim_opts_t;

/* ---- what the simulator reports ----------------------------------------- */

typedef enum {
  TW_SIM_ROLE_NONE = 0,
  TW_SIM_ROLE_VIP,
  TW_SIM_ROLE_MOD,
  TW_SIM_ROLE_BROADCASTER /* implied by the room's name; never stored */
} tw_sim_role_t;

/* How a connection reached the simulator. */
typedef enum {
  TW_SIM_TRANSPORT_NONE = 0, /* in-process tests of the core */
  TW_SIM_TRANSPORT_IRC,
  TW_SIM_TRANSPORT_IRCS,
  TW_SIM_TRANSPORT_WSS
} tw_sim_transport_t;

/* Granted capabilities (bit mask). */
#define TW_SIM_CAP_TAGS 0x1u
#define TW_SIM_CAP_COMMANDS 0x2u
#define TW_SIM_CAP_MEMBERSHIP 0x4u

/* Why a PRIVMSG was not relayed. */
typedef enum {
  TW_SIM_DROP_NONE = 0,
  TW_SIM_DROP_RATELIMIT, /* over the account's messages per window, or
                            locked out (lockout_ms) */
  TW_SIM_DROP_ROOM_RATE, /* under one second since the last one here */
  TW_SIM_DROP_DUPLICATE, /* same text within dup_window_ms */
  TW_SIM_DROP_TOO_LONG,  /* over max_msg_chars code points */
  TW_SIM_DROP_ANONYMOUS, /* a justinfan connection cannot send */
  TW_SIM_DROP_NO_SCOPE,  /* the token has no chat:edit */
  TW_SIM_DROP_NO_ROOM,   /* no such room, or suspended */
  TW_SIM_DROP_COMMAND,   /* "/ban" and the like: NOTICE unrecognized_cmd */
  TW_SIM_DROP_EMPTY,     /* empty or blank text */
  TW_SIM_DROP_BAD_CHARS, /* not valid UTF-8: NOTICE msg_bad_characters */
  TW_SIM_DROP_BANNED     /* banned or timed out through Helix: NOTICE
                            msg_banned / msg_timedout */
} tw_sim_drop_t;

/* A static name for a drop reason ("ratelimit", "room_rate"...). */
const char *tw_sim_drop_name(tw_sim_drop_t reason);

/* Simulator-wide counters (since start, or the last reset). */
typedef struct {
  uint64_t conns_accepted; /* connections taken in */
  uint64_t conns_refused;  /* closed at once: max_conns reached */
  uint64_t conns_open;     /* open now */
  uint64_t logins;         /* successful logins, anonymous included */
  uint64_t login_failures; /* bad token, wrong NICK, improper auth */
  uint64_t lines_in;       /* lines received from clients */
  uint64_t lines_too_long; /* received lines over TW_SIM_MAX_IN_LINE */
  uint64_t lines_bad;      /* received lines the IRC parser rejected */
  uint64_t lines_out;      /* lines queued for clients */
  uint64_t bytes_out;      /* bytes queued for clients */
  uint64_t privmsgs;       /* client PRIVMSGs accepted */
  uint64_t relayed;        /* PRIVMSG lines delivered to other clients */
  uint64_t dropped_ratelimit;
  uint64_t dropped_room_rate;
  uint64_t dropped_duplicate;
  uint64_t dropped_too_long;
  uint64_t dropped_anonymous;
  uint64_t dropped_other; /* no scope, no room, commands, empty, bad UTF-8 */
  uint64_t joins;         /* rooms joined */
  uint64_t joins_dropped; /* JOINs over the join limit or the room cap */
  uint64_t pings_sent;
  uint64_t ping_timeouts;    /* closed: no PONG in time */
  uint64_t slow_disconnects; /* closed: output over max_output */
  uint64_t drops;            /* closed by tw_sim_drop() */
  uint64_t injected;         /* lines delivered by inject, say and floods */
  uint64_t flood_lines;      /* flood lines sent (once per room line) */
  uint64_t record_evicted;   /* read-back lines evicted (over the caps) */
  uint64_t stalled_bytes;    /* bytes received while stalled (discarded) */
} tw_sim_counters_t;

/* Per-account counters (the over-limit drops tests read). */
typedef struct {
  uint64_t sent; /* messages accepted and relayed */
  uint64_t dropped_ratelimit;
  uint64_t dropped_room_rate;
  uint64_t dropped_duplicate;
  uint64_t dropped_too_long;
  uint64_t dropped_other;
  uint64_t joins;
  uint64_t joins_dropped;
  uint64_t logins;
  uint64_t login_failures;
} tw_sim_user_counters_t;

/* One connection, as tw_sim_conn_info() describes it. Strings borrowed
 * until the simulator next runs. */
typedef struct {
  uint64_t id;
  tw_sim_transport_t transport;
  const char *login; /* "" until logged in; justinfan... when anonymous */
  int logged_in;
  int anonymous;
  unsigned caps; /* TW_SIM_CAP_* granted */
  int stalled;
  size_t nrooms;  /* rooms joined */
  size_t queued;  /* bytes waiting in the simulator's output queue */
  uint64_t lines; /* lines received */
} tw_sim_conn_info_t;

/* One line a client sent, for read-back. Strings borrowed for the callback. */
typedef struct {
  uint64_t seq;      /* increasing, from 1, across all connections */
  uint64_t conn;     /* connection id */
  const char *login; /* the connection's login when the line arrived ("" if
                        not logged in yet) */
  const char *line;  /* the raw line without CR LF, NUL-terminated */
  size_t len;
  uint64_t at_ms; /* monotonic ms */
} tw_sim_sent_t;

/* Things that happen, for in-process observers (tests wait on them rather
 * than sleep). */
typedef enum {
  TW_SIM_EV_CONNECT = 1, /* conn */
  TW_SIM_EV_LOGIN,       /* conn, login */
  TW_SIM_EV_LOGIN_FAILED,
  TW_SIM_EV_JOIN, /* conn, login, room */
  TW_SIM_EV_PART,
  TW_SIM_EV_LINE,       /* conn, login, line: every line received */
  TW_SIM_EV_PRIVMSG,    /* conn, login, room, line (the text), msg_id */
  TW_SIM_EV_DROPPED,    /* conn, login, room, line (text), reason */
  TW_SIM_EV_CLOSE,      /* conn */
  TW_SIM_EV_FLOOD_DONE, /* room, count = lines sent */
  TW_SIM_EV_API,        /* api: an API request was answered; count = seq */
  /* EventSub WebSocket. `login` is the session id; `conn` the connection
   * id within the EventSub listener (from 1). */
  TW_SIM_EV_ES_CONNECT,    /* a connection opened (before its welcome) */
  TW_SIM_EV_ES_SENT,       /* a message went out: line = the JSON text,
                              room = its message_type */
  TW_SIM_EV_ES_SUBSCRIBED, /* a subscription was created for the session;
                              line = the subscription type */
  TW_SIM_EV_ES_CLOSE       /* a connection ended; count = the close code
                              (1006 when dropped without one) */
} tw_sim_event_kind_t;

/* One request the API listener answered, for read-back
 * (tw_sim_api_foreach()) and observers. Strings are NUL-terminated and
 * borrowed for the callback. */
typedef struct {
  uint64_t seq; /* increasing from 1 */
  const char *method;
  const char *path;  /* "/oauth2/token", "/helix/users"... */
  const char *query; /* raw, without '?' ("" when none) */
  /* The request headers as received (names as the client wrote them), at
   * most TW_SIM_MAX_API_HEADERS. */
  const char *const *header_names;
  const char *const *header_values;
  size_t nheaders;
  /* Convenience copies of two of them (NULL when absent). */
  const char *authorization;
  const char *client_id;
  const char *body; /* bytes (NUL-terminated for convenience) */
  size_t body_len;
  unsigned status; /* what was answered */
  int forced;      /* the answer came from tw_sim_api_force() */
  uint64_t at_ms;  /* monotonic */
} tw_sim_api_req_t;

typedef struct {
  tw_sim_event_kind_t kind;
  uint64_t conn;
  const char *login; /* NULL when not applicable */
  const char *room;  /* without '#' */
  const char *line;  /* see the kinds above; not NUL-terminated: use len */
  size_t len;
  const char *msg_id; /* TW_SIM_EV_PRIVMSG */
  tw_sim_drop_t reason;
  uint64_t count;
  const tw_sim_api_req_t *api; /* TW_SIM_EV_API */
} tw_sim_event_t;

/* Called synchronously when something happens; `ev` and its strings are
 * borrowed for the call. The callback must not free the simulator; it may
 * call the other functions (inject, drop, ...). */
typedef void (*tw_sim_event_cb)(void *ud, const tw_sim_event_t *ev);

/* ---- users, tokens, rooms ---------------------------------------------- */

typedef struct {
  const char *login;        /* required: 1-25 of [a-z0-9_] */
  const char *user_id;      /* digits; NULL: assigned (from 100000001) */
  const char *display_name; /* NULL: the login */
  const char *color;        /* "#RRGGBB"; NULL: none ("color=") */
  int verified_bot;         /* rate_limit_verified applies */
} tw_sim_user_t;

/* Token flags: by default a token has chat:read and chat:edit. */
#define TW_SIM_TOKEN_NO_READ 0x1u /* login fails (no chat:read) */
#define TW_SIM_TOKEN_NO_EDIT 0x2u /* PRIVMSGs dropped (no chat:edit) */

typedef struct {
  const char *name;    /* required: the channel login, without '#' */
  const char *room_id; /* NULL: the broadcaster's user id if known, else a
                          stable number derived from the name */
  int suspended;       /* JOIN answers NOTICE msg_channel_suspended */
  /* ROOMSTATE on join (reported only, not enforced). */
  int emote_only;
  int followers_only; /* minutes; -1 off. Set followers_only_set to use it */
  int followers_only_set;
  int r9k;
  int slow; /* seconds */
  int subs_only;
} tw_sim_room_t;

/* ---- the simulator ------------------------------------------------------ */

typedef struct tw_sim tw_sim_t;

/* Creates a simulator on `loop` (borrowed; it must outlive the simulator)
 * with `opts` (may be NULL: defaults; copied) and opens its listeners,
 * generating the TLS certificate first when needed (see cert_dir). Returns
 * 0 with *out set, or TW_EINVAL (bad option), TW_ENOMEM, TW_EEXIST (port in
 * use), TW_EIO, TW_ETLS / TW_ECONFIG (certificate), with a sentence in
 * `detail` (capacity detail_cap; may be NULL). On failure nothing is left to
 * close, but the loop may hold closing handles: run it once. */
int tw_sim_new(uv_loop_t *loop, const tw_sim_opts_t *opts, tw_sim_t **out,
               char *detail, size_t detail_cap);

/* Closes every connection abruptly, the listeners, the API listener and
 * the control server,
 * removes a generated temporary certificate directory, and frees the
 * simulator; `cb` (may be NULL) runs from the loop once all is freed. Not
 * from inside one of the simulator's own callbacks. */
void tw_sim_close(tw_sim_t *sim, void (*cb)(void *ud), void *ud);

/* The port a listener is bound to (one TW_SIM_LISTEN_* bit), 0 if not
 * listening. */
uint16_t tw_sim_port(const tw_sim_t *sim, unsigned listener);

/* Path of the CA certificate clients should trust (ca-file), or NULL when
 * the certificate came from cert_dir without a ca.pem. Owned by the
 * simulator. */
const char *tw_sim_ca_file(const tw_sim_t *sim);

/* The URLs of the listeners and the CA file as one line of JSON (what
 * `twitchd sim` prints), e.g. {"irc":"irc://127.0.0.1:40001",
 * "ircs":"ircs://127.0.0.1:40002","wss":"wss://127.0.0.1:40003/",
 * "ws":"ws://...","control":"http://127.0.0.1:40004","irc_port":40001,...,
 * "ca_file":"/tmp/.../ca.pem"} without a trailing newline. Writes into `out`
 * (capacity `cap`) and returns 0, or TW_ETOOBIG. */
int tw_sim_describe(const tw_sim_t *sim, char *out, size_t cap);

/* Sets the observer (borrowed function and data; NULL to remove). */
void tw_sim_set_observer(tw_sim_t *sim, tw_sim_event_cb cb, void *ud);

/* Adds a user, or updates the one with the same login (fields given
 * replace the old ones). Returns 0, TW_EINVAL (bad login, id, color or
 * display name), TW_EFULL (TW_SIM_MAX_USERS) or TW_ENOMEM. */
int tw_sim_add_user(tw_sim_t *sim, const tw_sim_user_t *user);

/* Maps `token` (the access token, without "oauth:") to `login`, creating
 * the user with defaults when unknown. `flags`: TW_SIM_TOKEN_*. A known
 * token is re-pointed. Returns 0, TW_EINVAL, TW_EFULL or TW_ENOMEM. */
int tw_sim_add_token(tw_sim_t *sim, const char *token, const char *login,
                     unsigned flags);

/* Revokes a token: later chat logins with it fail and the API answers 401
 * for it. Connections already logged in with it stay (Twitch does not
 * close them either). Returns 0, or TW_ENOTFOUND (unknown, or already
 * revoked). */
int tw_sim_revoke_token(tw_sim_t *sim, const char *token);

/* Adds a room or updates an existing one. Returns 0, TW_EINVAL, TW_EFULL or
 * TW_ENOMEM. */
int tw_sim_add_room(tw_sim_t *sim, const tw_sim_room_t *room);

/* Sets `login`'s role in `room` (TW_SIM_ROLE_NONE, _VIP or _MOD; the
 * broadcaster is always the user whose login is the room name). Creates
 * the room when it does not exist. Takes effect for the next USERSTATE and
 * the next message. Returns 0, TW_EINVAL, TW_EFULL or TW_ENOMEM. */
int tw_sim_set_role(tw_sim_t *sim, const char *room, const char *login,
                    tw_sim_role_t role);

/* ---- faults and injection ---------------------------------------------- */

/* Delivers the raw line (without CR LF; `len` bytes, borrowed) to every
 * client joined to `room` (with or without '#'), honouring each one's caps:
 * tags are stripped for clients without twitch.tv/tags, Twitch-specific
 * commands (NOTICE, USERNOTICE, CLEARCHAT...) are not sent to clients
 * without twitch.tv/commands. A PRIVMSG with an id tag is remembered for
 * replies. Returns the number of clients it went to (>= 0), TW_ENOTFOUND (no
 * such room) or TW_EINVAL (not a valid IRC line). */
int tw_sim_inject_room(tw_sim_t *sim, const char *room, const char *line,
                       size_t len);

/* Same for one connection (`conn` != 0), joined or not, logged in or not.
 * Returns 1 when delivered, 0 when the caps filtered it out, TW_ENOTFOUND or
 * TW_EINVAL. */
int tw_sim_inject_conn(tw_sim_t *sim, uint64_t conn, const char *line,
                       size_t len);

/* Posts a chat message from `login` (created when unknown) into `room` as
 * Twitch relays it, with full tags (badges from the role, id, room-id,
 * tmi-sent-ts...), to every client joined there; no limit applies.
 * `reply_to` (may be NULL) is a message id to reply to. The new message's
 * id is written to msg_id (may be NULL). Returns the number of clients it
 * went to, TW_ENOTFOUND (no room), TW_EINVAL or TW_ENOMEM. */
int tw_sim_say(tw_sim_t *sim, const char *room, const char *login,
               const char *text, const char *reply_to,
               char msg_id[TW_SIM_MSG_ID_SIZE]);

/* Sends "PING :tmi.twitch.tv" now to `conn` (0: every connection) and
 * expects a PONG within pong_timeout_ms. Returns the number of
 * connections, or TW_ENOTFOUND. */
int tw_sim_ping(tw_sim_t *sim, uint64_t conn);

/* Sends ":tmi.twitch.tv RECONNECT" to `conn` (0: all; only those with
 * twitch.tv/commands receive it, as on Twitch) and, when close_after_ms is
 * not 0, closes them that much later. Returns the number of connections,
 * or TW_ENOTFOUND. */
int tw_sim_reconnect(tw_sim_t *sim, uint64_t conn, uint32_t close_after_ms);

/* Closes `conn` (0: all) abruptly: no more bytes, no close handshake.
 * Returns the number of connections, or TW_ENOTFOUND. */
int tw_sim_drop(tw_sim_t *sim, uint64_t conn);

/* Stalls `conn` (0: all) or resumes it: while stalled, nothing is sent to
 * it (its output queues up to max_output), what it sends is discarded
 * unread (stalled_bytes) and it is exempt from the PONG timeout, so that
 * the client sees a silent server on an open socket. Resuming sends what
 * queued. Returns the number of connections, or TW_ENOTFOUND. */
int tw_sim_stall(tw_sim_t *sim, uint64_t conn, int stalled);

/* ---- floods ------------------------------------------------------------ */

typedef struct {
  const char *room; /* required (with or without '#') */
  /* The source lines: a file of lines (plain, or gzip as the corpus is),
   * or an array of lines; exactly one of the two. Copied at once. */
  const char *file;
  const char *const *lines;
  size_t nlines;
  /* Lines to send in all, cycling over the source; 0: each line once. */
  uint64_t count;
  /* By default the channel of each line ("#xqcow" in the corpus) is
   * replaced by the room's; set this to send lines unchanged. */
  int keep_channel;
} tw_sim_flood_t;

/* Starts sending the lines to every client joined to the room, as fast as
 * the slowest of them reads (see TW_SIM_FLOOD_WATERMARK), in large writes.
 * One flood runs at a time. TW_SIM_EV_FLOOD_DONE reports the end. Returns 0,
 * TW_EINVAL (bad options, no lines), TW_ENOTFOUND (room or file), TW_ETOOBIG
 * (over TW_SIM_MAX_FLOOD_BYTES), TW_ESTATE (a flood is running), TW_EIO or
 * TW_ENOMEM. */
int tw_sim_flood(tw_sim_t *sim, const tw_sim_flood_t *flood);

/* Progress of the current or last flood: lines sent so far and in all, and
 * whether it is still running. */
typedef struct {
  int active;
  uint64_t sent;
  uint64_t total;
  uint64_t bytes;
  char room[TW_SIM_MAX_LOGIN + 1];
} tw_sim_flood_status_t;

void tw_sim_flood_status(const tw_sim_t *sim, tw_sim_flood_status_t *out);

/* Stops the running flood (no-op when none). */
void tw_sim_flood_cancel(tw_sim_t *sim);

/* ---- read-back and counters --------------------------------------------- */

/* Calls `cb` for each recorded line with seq > since, in order, from
 * connection `conn` (0: all) and whose connection's login is `login` (NULL:
 * any). The callback returns 0 to continue, non-zero to stop. Returns the
 * number of calls. */
size_t tw_sim_sent_foreach(const tw_sim_t *sim, uint64_t conn,
                           const char *login, uint64_t since,
                           int (*cb)(void *ud, const tw_sim_sent_t *line),
                           void *ud);

/* The seq of the latest recorded line (0: none yet). */
uint64_t tw_sim_sent_last_seq(const tw_sim_t *sim);

/* Copies the simulator-wide counters. */
void tw_sim_counters(const tw_sim_t *sim, tw_sim_counters_t *out);

/* Copies `login`'s counters. Returns 0 or TW_ENOTFOUND. */
int tw_sim_user_counters(const tw_sim_t *sim, const char *login,
                         tw_sim_user_counters_t *out);

/* Sets all counters, global and per account, to zero (conns_open stays). */
void tw_sim_counters_reset(tw_sim_t *sim);

/* Describes connection `conn`. Returns 0 or TW_ENOTFOUND. */
int tw_sim_conn_info(const tw_sim_t *sim, uint64_t conn,
                     tw_sim_conn_info_t *out);

/* Writes the ids of the open connections, oldest first, into ids[0..max)
 * and returns how many are open (which may exceed max). */
size_t tw_sim_conns(const tw_sim_t *sim, uint64_t *ids, size_t max);

/* Whether the connection is in the room (0 or 1), TW_ENOTFOUND when there
 * is no such connection. */
int tw_sim_conn_in_room(const tw_sim_t *sim, uint64_t conn, const char *room);

/* ---- OAuth and Helix (the API listener) --------------------------------- */

/* A token with everything the API knows about it. */
typedef struct {
  const char *token;     /* required: the access token */
  const char *login;     /* the user; NULL: an app token */
  const char *client_id; /* NULL: TW_SIM_DEFAULT_CLIENT_ID */
  /* Space-separated scopes (NULL or "": none). Chat login needs chat:read,
   * chat messages chat:edit. */
  const char *scopes;
  /* Lifetime from now; 0: never expires. */
  uint64_t ttl_ms;
} tw_sim_token_t;

/* Adds or replaces a token (all fields copied; a replaced token is live
 * again). tw_sim_add_token() is this with scopes "chat:read chat:edit"
 * (minus what its flags take away), the default client and no expiry.
 * Returns 0, TW_EINVAL, TW_EFULL or TW_ENOMEM. */
int tw_sim_add_token_ex(tw_sim_t *sim, const tw_sim_token_t *tok);

/* A token as the simulator sees it now. */
typedef struct {
  char login[TW_SIM_MAX_LOGIN + 1]; /* "" for an app token */
  char user_id[TW_SIM_MAX_ID + 1];
  char client_id[TW_SIM_MAX_CLIENT_ID + 1];
  char scopes[TW_SIM_MAX_SCOPE_TEXT]; /* space-separated (cut if longer) */
  int app;
  int revoked;
  int expired;
  int64_t expires_in_ms; /* -1: never */
} tw_sim_token_info_t;

/* Describes `token`. Returns 0 or TW_ENOTFOUND. */
int tw_sim_token_info(const tw_sim_t *sim, const char *token,
                      tw_sim_token_info_t *out);

/* Makes `token` expired from now on: chat logins fail, /oauth2/validate and
 * Helix answer 401. Its refresh token still works. Returns 0 or
 * TW_ENOTFOUND. */
int tw_sim_expire_token(tw_sim_t *sim, const char *token);

/* An OAuth client (application). */
typedef struct {
  const char *client_id; /* required: 1-64 visible ASCII */
  /* NULL: a public client (device flow; refreshes without a secret). */
  const char *client_secret;
  /* Registered redirect URIs (borrowed array of copied strings); none: any
   * redirect_uri is accepted. At most TW_SIM_MAX_REDIRECTS. */
  const char *const *redirect_uris;
  size_t nredirect_uris;
} tw_sim_client_t;

/* Registers a client, or replaces the one with the same id. Returns 0,
 * TW_EINVAL, TW_EFULL (TW_SIM_MAX_CLIENTS) or TW_ENOMEM. */
int tw_sim_add_client(tw_sim_t *sim, const tw_sim_client_t *client);

/* Sets who consents on /oauth2/authorize and approves auto-approved device
 * codes (created on demand); NULL: consent is denied (authorize redirects
 * with error=access_denied). Returns 0, TW_EINVAL (bad login) or
 * TW_ENOMEM. */
int tw_sim_set_consent(tw_sim_t *sim, const char *login);

/* Approves (or, with `deny`, denies) a pending device code, named by its
 * user_code or its device_code, for `login` (NULL: the consenting user).
 * The next poll gets the token (or 400 "access_denied"). Returns 0,
 * TW_ENOTFOUND (unknown or expired code) or TW_EINVAL. */
int tw_sim_device_approve(tw_sim_t *sim, const char *code, const char *login,
                          int deny);

/* Makes the next `count` requests to `path` (exact, e.g. "/helix/clips",
 * "/oauth2/token") answer `status` (400-599) with Twitch's error body for
 * that host: {"status","message"} under /oauth2, {"error","status",
 * "message"} under /helix; 429 adds the Ratelimit headers with
 * Ratelimit-Remaining 0. `message` NULL: Twitch's usual text for the
 * status. The requests are recorded, nothing else happens. A new rule for
 * the same path replaces the old one; count 0 removes it. Returns 0,
 * TW_EINVAL or TW_EFULL (TW_SIM_MAX_FORCED paths). */
int tw_sim_api_force(tw_sim_t *sim, const char *path, unsigned status,
                     unsigned count, const char *message);

/* Removes every forced-response rule. */
void tw_sim_api_force_clear(tw_sim_t *sim);

/* Calls `cb` for each recorded API request with seq > since, oldest first;
 * `path` (NULL: all) keeps only requests to that exact path. The callback
 * returns 0 to continue, non-zero to stop. Returns the number of calls. */
size_t tw_sim_api_foreach(const tw_sim_t *sim, uint64_t since, const char *path,
                          int (*cb)(void *ud, const tw_sim_api_req_t *req),
                          void *ud);

/* The seq of the latest recorded API request (0: none yet). */
uint64_t tw_sim_api_last_seq(const tw_sim_t *sim);

typedef struct {
  uint64_t requests;       /* answered, all paths */
  uint64_t oauth_requests; /* under /oauth2 */
  uint64_t helix_requests; /* under /helix */
  uint64_t forced;         /* answered by a tw_sim_api_force() rule */
  uint64_t rate_limited;   /* 429 from the bucket */
  uint64_t unauthorized;   /* 401 answers */
  uint64_t tokens_issued;  /* access tokens from /oauth2/token */
  uint64_t refreshes;      /* successful refresh_token grants */
  uint64_t record_evicted; /* read-back entries evicted over the caps */
} tw_sim_api_counters_t;

void tw_sim_api_counters(const tw_sim_t *sim, tw_sim_api_counters_t *out);

/* A channel's stream and channel information, for GET /helix/streams and
 * GET /helix/channels. NULL strings leave the current value. */
typedef struct {
  int live;              /* 0: offline (left out of /helix/streams) */
  const char *title;     /* also the channel's title */
  const char *game_id;   /* "" by default */
  const char *game_name; /* "" by default */
  const char *language;  /* "en" by default */
  uint32_t viewer_count;
} tw_sim_stream_t;

/* Sets the live state of `room`'s broadcaster (the user named like the
 * room, created on demand). Going live sets started_at and a new stream
 * id. Returns 0, TW_EINVAL, TW_EFULL or TW_ENOMEM. */
int tw_sim_set_stream(tw_sim_t *sim, const char *room,
                      const tw_sim_stream_t *st);

/* ---- EventSub WebSocket (the EventSub listener) ------------------------- */

/* docs/twitch-protocol.md section 3.5 is the contract; docs/simulator.md
 * ("EventSub") says what the simulator decides where Twitch is silent.
 *
 * A client connects to wss://HOST:PORT/ws (optionally
 * ?keepalive_timeout_seconds=N) and gets a session_welcome; it then creates
 * subscriptions with POST /helix/eventsub/subscriptions and transport
 * {"method":"websocket","session_id":ID} on the API listener. When the
 * EventSub listener runs, that session id must be a live session, bound to
 * the user token of its first subscription (else 400); without the
 * listener, session ids are not checked. Sessions are named by their id
 * (a string); NULL in a session argument means "every session". */

/* Sends a `notification` of subscription type `type` to every session with
 * an enabled subscription of that type whose condition matches the event.
 * `room` names the broadcaster (a login, created when unknown; for
 * channel.raid the raided channel, to_broadcaster_*); `event_json` (may be
 * NULL) is a JSON object with members to set or override (e.g.
 * {"user_login":"ann"}); the simulator fills the rest as in the doc's
 * examples: user ids and names from the user table (users created on
 * demand), timestamps now, defaults for the rest. Types: stream.online,
 * stream.offline, channel.update, channel.follow, channel.subscribe,
 * channel.subscription.gift, channel.subscription.message, channel.cheer,
 * channel.raid, channel.ban. A stalled session's notification is lost
 * and not counted. Enabled webhook subscriptions that match get the
 * notification POSTed (section "EventSub webhooks" below). Returns the
 * number of notifications sent or, for webhooks, queued (>= 0; one per
 * matching subscription), or TW_EINVAL (unknown type, bad room, event not a
 * JSON object), TW_ETOOBIG (event over TW_SIM_MAX_EVENTSUB_EVENT), TW_EFULL
 * (nothing sent and a webhook delivery found TW_SIM_MAX_WEBHOOK_PENDING
 * queued) or TW_ENOMEM. All arguments borrowed. */
int tw_sim_eventsub_trigger(tw_sim_t *sim, const char *type, const char *room,
                            const char *event_json);

/* Sends session_reconnect to `session` (NULL: all) with a reconnect_url on
 * the same listener. The session keeps its id and subscriptions; a client
 * connecting to that URL gets a welcome for it, then the old connection is
 * closed (1000). Nobody connecting within reconnect_grace_ms closes the old
 * one with 4004 and disables the subscriptions. Returns the number of
 * sessions, or TW_ENOTFOUND. */
int tw_sim_eventsub_reconnect(tw_sim_t *sim, const char *session);

/* Revokes subscription `sub_id` (any transport): a websocket session that
 * holds it gets a `revocation` message with `status` (NULL:
 * "authorization_revoked"; also "user_removed", "version_removed"...), an
 * enabled webhook subscription gets it POSTed (queued, sent once), then
 * the subscription is removed. Returns 1 when a message was sent, 0 when
 * only removed, TW_ENOTFOUND or TW_EINVAL. */
int tw_sim_eventsub_revoke(tw_sim_t *sim, const char *sub_id,
                           const char *status);

/* Drops `session`'s connection (NULL: all) without a close frame; its
 * subscriptions become websocket_disconnected. Returns the number of
 * sessions, or TW_ENOTFOUND. */
int tw_sim_eventsub_drop(tw_sim_t *sim, const char *session);

/* Stalls `session` (NULL: all) or resumes it: while stalled, nothing is sent
 * to it (no keepalive, notifications are lost as on a dead link) and the
 * socket stays open. Returns the number of sessions, or TW_ENOTFOUND. */
int tw_sim_eventsub_stall(tw_sim_t *sim, const char *session, int stalled);

/* Sends the last notification `session` (NULL: all) received again, byte
 * for byte (same message_id), for dedupe tests. Returns the number of
 * sessions it was sent to (those without a notification are skipped), or
 * TW_ENOTFOUND. */
int tw_sim_eventsub_duplicate(tw_sim_t *sim, const char *session);

/* ---- EventSub webhooks ----------------------------------------------------
 */

/* docs/twitch-protocol.md section 3.4 is the contract; docs/simulator.md
 * ("EventSub webhooks") says what the simulator decides. Webhook delivery
 * runs with the EventSub listener (TW_SIM_LISTEN_EVENTSUB): a webhook
 * subscription created with an app token is answered 202 as before, then
 * its callback gets a webhook_callback_verification; the exact challenge
 * back with 200 makes it enabled, anything else
 * webhook_callback_verification_failed. tw_sim_eventsub_trigger() (and the
 * Helix ban and tw_sim_set_stream() paths) POST a notification to every
 * enabled webhook subscription that matches, retried with the same
 * Message-Id and Retry + 1 on a non-2xx answer or a failure; after
 * webhook_max_failures failed notifications the subscription becomes
 * notification_failures_exceeded and a revocation is sent to it.
 * tw_sim_eventsub_revoke() sends a revocation to an enabled webhook
 * subscription too. Simulator extension: callbacks on 127.0.0.1 or
 * localhost may be http:// and use any port. */

/* Writes "sha256=" and the lowercase hex HMAC-SHA256 of id ‖ timestamp ‖
 * body under `secret` into out (72 bytes with the NUL), as the
 * Twitch-Eventsub-Message-Signature header carries it. Returns 0,
 * TW_EINVAL (NULL arguments, body over TW_SIM_MAX_EVENTSUB_MESSAGE, id or
 * timestamp over 256 bytes), TW_ENOMEM or TW_EIO (OpenSSL failed). All
 * borrowed. */
int tw_sim_webhook_sign(const char *secret, const char *id,
                        const char *timestamp, const char *body, size_t len,
                        char out[72]);

/* Sends the last webhook notification again: same URL, body and
 * Message-Id, Retry one more than its last attempt, freshly signed. Returns
 * 1, TW_ENOTFOUND (no notification yet) or TW_EFULL. */
int tw_sim_webhook_redeliver(tw_sim_t *sim);

/* Faults for a receiver's refusals: the last webhook notification again
 * under a new Message-Id, either with a wrong signature or with a
 * timestamp 11 minutes old (signed correctly over it). Sent once, never
 * retried, not counted as a failure. */
#define TW_SIM_WEBHOOK_BAD_SIGNATURE 1u
#define TW_SIM_WEBHOOK_STALE 2u
/* Returns 1, TW_ENOTFOUND (no notification yet), TW_EINVAL (fault not one
 * of the above) or TW_EFULL. */
int tw_sim_webhook_fault(tw_sim_t *sim, unsigned fault);

/* One delivery attempt, recorded when it finished. */
typedef struct {
  uint64_t seq;                            /* from 1 */
  char url[TW_SIM_WEBHOOK_URL_SIZE];       /* the callback (cut to fit) */
  char message_type[32];                   /* notification, revocation... */
  char message_id[TW_SIM_WEBHOOK_ID_SIZE]; /* Twitch-Eventsub-Message-Id */
  char subscription_id[TW_SIM_WEBHOOK_ID_SIZE];
  unsigned retry; /* Twitch-Eventsub-Message-Retry */
  unsigned fault; /* TW_SIM_WEBHOOK_* the message carried, or 0 */
  long status;    /* the receiver's HTTP status; 0 when none */
  int error;      /* 0, or the TW_E* code of a failed transfer */
} tw_sim_webhook_attempt_t;

/* Writes up to `max` recorded attempts with seq > `since`, oldest first,
 * into out[] and returns how many there are (may exceed max). */
size_t tw_sim_webhook_attempts(tw_sim_t *sim, uint64_t since,
                               tw_sim_webhook_attempt_t *out, size_t max);

/* One session, as tw_sim_eventsub_sessions() describes it. */
typedef struct {
  char id[TW_SIM_EVENTSUB_ID_SIZE];
  char user_id[TW_SIM_MAX_ID + 1]; /* bound owner ("" before a sub) */
  uint64_t conn;                   /* current connection id */
  uint32_t keepalive_ms;
  int stalled;
  int reconnecting; /* a session_reconnect is pending */
  size_t subs;      /* enabled subscriptions */
  uint64_t sent;    /* messages sent (welcome included) */
  uint64_t keepalives;
  uint64_t notifications;
} tw_sim_eventsub_session_t;

/* Writes up to `max` live sessions, oldest first, into out[] and returns
 * how many there are (may exceed max). */
size_t tw_sim_eventsub_sessions(tw_sim_t *sim, tw_sim_eventsub_session_t *out,
                                size_t max);

#ifdef __cplusplus
}
#endif
#endif
