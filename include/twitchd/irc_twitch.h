/* twitchd: typed views of Twitch IRC messages (sans-IO, no allocation).
 *
 * Each view function reads a tw_irc_msg_t produced by tw_irc_parse() and
 * fills a small struct of views into the same line. Who sent a line comes
 * from structural positions only: the prefix nick for PRIVMSG, WHISPER,
 * JOIN and PART, the `login` tag for USERNOTICE; never from message text.
 *
 * Every view function takes an optional scratch. With NULL, string fields
 * taken from tags are raw (escaped: "Riot\sGames"); with a scratch, they are
 * unescaped into it ("Riot Games"), copying only values that hold a
 * backslash. The function resets the scratch first, so use one scratch per
 * live view. The line must outlive the view, and the scratch too if given.
 *
 * Channel names are given without their '#'. Absent strings have
 * ptr == NULL; absent numbers are TW_IRC_NONE; absent booleans are 0 unless
 * said otherwise.
 *
 * Return values: 0; TW_EINVAL when the message is not the command the view
 * is for; TW_EPROTO when a part the view cannot do without is missing (for
 * example a PRIVMSG without a '#channel' or without a nick in its prefix);
 * TW_ETOOBIG only if a scratch was shared in a way that overflows it.
 */
#ifndef TWITCHD_IRC_TWITCH_H
#define TWITCHD_IRC_TWITCH_H

#include <stdint.h>

#include "twitchd/irc.h"
#include "twitchd/irc_tags.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Twitch's user id of "AnAnonymousGifter", the stand-in sender of anonymous
 * gifts. */
#define TW_IRC_ANON_GIFTER_ID "274598607"

/* Who a message is from, as far as its tags tell. */
typedef struct {
  tw_irc_str_t login;        /* lower-case login name */
  tw_irc_str_t id;           /* user-id */
  tw_irc_str_t display_name; /* display-name (may hold spaces, CJK...) */
  tw_irc_str_t color;        /* "#RRGGBB" or empty */
  tw_irc_str_t badges;       /* raw list; see tw_irc_badges_next() */
  tw_irc_str_t badge_info;   /* raw list; tw_irc_badge_info_months() */
  tw_irc_str_t user_type;    /* "", "mod", "admin", "global_mod", "staff" */
  int mod;                   /* mod=1 */
  int subscriber;            /* subscriber=1 */
  int vip;                   /* vip=1 (the tag is only sent for VIPs) */
  int turbo;                 /* turbo=1 */
  int broadcaster;           /* has the broadcaster badge */
} tw_irc_user_t;

/* Shared chat: a message shown in this room may come from another room of
 * the shared session. */
typedef struct {
  tw_irc_str_t room_id;    /* source-room-id */
  tw_irc_str_t id;         /* source-id: the message id in its own room */
  tw_irc_str_t msg_id;     /* source-msg-id (USERNOTICE: the original kind) */
  tw_irc_str_t badges;     /* source-badges */
  tw_irc_str_t badge_info; /* source-badge-info */
  int only;                /* source-only=1 */
  int present;             /* source-room-id is present and non-empty */
  int other_room;          /* present and different from room-id: the line
                              was relayed from another room */
} tw_irc_shared_t;

/* PRIVMSG #channel :text */
typedef struct {
  tw_irc_str_t channel;
  tw_irc_str_t room_id;
  tw_irc_str_t id;      /* message id, for replies and deletion */
  tw_irc_str_t text;    /* without the /me wrapper */
  int is_action;        /* sent with /me */
  tw_irc_user_t sender; /* login from the prefix nick */
  tw_irc_str_t emotes;  /* raw; decode against `text` */
  tw_irc_str_t flags;
  tw_irc_str_t client_nonce;
  int64_t bits;        /* cheered bits, or TW_IRC_NONE */
  int64_t tmi_sent_ts; /* server time, Unix milliseconds */
  int first_msg;
  int returning_chatter;
  struct {
    tw_irc_str_t msg_id; /* present when the message is a reply */
    tw_irc_str_t user_id;
    tw_irc_str_t user_login;
    tw_irc_str_t display_name;
    tw_irc_str_t msg_body;
    tw_irc_str_t thread_msg_id;
    tw_irc_str_t thread_user_login;
  } reply;
  tw_irc_shared_t shared;
} tw_irc_privmsg_t;

int tw_irc_privmsg(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                   tw_irc_privmsg_t *out);

/* The kinds of USERNOTICE this code knows by name; anything else is
 * TW_IRC_UN_UNKNOWN with its raw name in tw_irc_usernotice_t.msg_id. */
typedef enum {
  TW_IRC_UN_UNKNOWN = 0,
  TW_IRC_UN_SUB,
  TW_IRC_UN_RESUB,
  TW_IRC_UN_SUBGIFT,
  TW_IRC_UN_ANONSUBGIFT,
  TW_IRC_UN_SUBMYSTERYGIFT,
  TW_IRC_UN_ANONSUBMYSTERYGIFT,
  TW_IRC_UN_GIFTPAIDUPGRADE,
  TW_IRC_UN_ANONGIFTPAIDUPGRADE,
  TW_IRC_UN_PRIMEPAIDUPGRADE,
  TW_IRC_UN_REWARDGIFT,
  TW_IRC_UN_RAID,
  TW_IRC_UN_UNRAID,
  TW_IRC_UN_ANNOUNCEMENT,
  TW_IRC_UN_RITUAL,
  TW_IRC_UN_BITSBADGETIER,
  TW_IRC_UN_SHAREDCHATNOTICE,
  TW_IRC_UN_VIEWERMILESTONE,
  TW_IRC_UN_STANDARDPAYFORWARD,
  TW_IRC_UN_COMMUNITYPAYFORWARD,
} tw_irc_usernotice_kind_t;

/* Maps a msg-id value to its kind (exact, case-sensitive match). */
tw_irc_usernotice_kind_t tw_irc_usernotice_kind(tw_irc_str_t msg_id);

/* The msg-id spelling of a kind ("resub"), "unknown" for
 * TW_IRC_UN_UNKNOWN. Static, never NULL. */
const char *tw_irc_usernotice_kind_name(tw_irc_usernotice_kind_t kind);

/* USERNOTICE #channel [:text] */
typedef struct {
  tw_irc_usernotice_kind_t kind;
  tw_irc_str_t msg_id; /* raw msg-id, always set when the tag is there */
  tw_irc_str_t channel;
  tw_irc_str_t room_id;
  tw_irc_str_t id;
  tw_irc_str_t text;       /* the user's own message, absent if none */
  tw_irc_str_t system_msg; /* Twitch's sentence for the event */
  tw_irc_user_t sender;    /* login from the login tag */
  tw_irc_str_t emotes;     /* raw; decode against `text` */
  int64_t tmi_sent_ts;
  int anonymous; /* an anon* kind, or sent by AnAnonymousGifter */

  /* msg-param-* values (absent: NULL view / TW_IRC_NONE / -1). */
  int64_t months;            /* months (subgift: recipient's months) */
  int64_t cumulative_months; /* sub, resub */
  int64_t streak_months;
  int should_share_streak; /* 1, 0 or -1 */
  tw_irc_str_t sub_plan;   /* "Prime", "1000", "2000", "3000" */
  tw_irc_str_t sub_plan_name;
  tw_irc_str_t recipient_login; /* -recipient-user-name or -recipient-name */
  tw_irc_str_t recipient_display_name;
  tw_irc_str_t recipient_id;
  int64_t gift_months;
  int64_t mass_gift_count;          /* submysterygift */
  int64_t sender_count;             /* the gifter's total in the channel */
  tw_irc_str_t raider_login;        /* raid: msg-param-login */
  tw_irc_str_t raider_display_name; /* raid: msg-param-displayName */
  int64_t viewer_count;             /* raid: msg-param-viewerCount */
  tw_irc_str_t color;               /* announcement: msg-param-color */
  tw_irc_str_t gifter_login;        /* giftpaidupgrade: -sender-login */
  tw_irc_str_t gifter_display_name; /* giftpaidupgrade: -sender-name */
  tw_irc_str_t promo_name;
  int64_t promo_gift_total;
  int64_t threshold; /* bitsbadgetier */
  tw_irc_str_t ritual_name;

  tw_irc_shared_t shared;
  /* For sharedchatnotice: the kind of the original event (source-msg-id),
   * e.g. TW_IRC_UN_RESUB; TW_IRC_UN_UNKNOWN otherwise. */
  tw_irc_usernotice_kind_t source_kind;
} tw_irc_usernotice_t;

int tw_irc_usernotice(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                      tw_irc_usernotice_t *out);

/* Any msg-param-<name> tag (raw, escaped), e.g. "copoReward"; absent view
 * when missing. Borrowed from msg's line. */
tw_irc_str_t tw_irc_msg_param(const tw_irc_msg_t *msg, const char *name);

typedef enum {
  TW_IRC_CLEAR_CHAT = 0, /* the whole chat was cleared */
  TW_IRC_CLEAR_BAN,      /* a user was banned for good */
  TW_IRC_CLEAR_TIMEOUT,  /* a user was timed out (duration_s) */
} tw_irc_clearchat_kind_t;

/* CLEARCHAT #channel [:login] */
typedef struct {
  tw_irc_clearchat_kind_t kind;
  tw_irc_str_t channel;
  tw_irc_str_t room_id;
  tw_irc_str_t target_login;   /* absent for TW_IRC_CLEAR_CHAT */
  tw_irc_str_t target_user_id; /* target-user-id */
  int64_t duration_s; /* ban-duration; TW_IRC_NONE unless a valid timeout */
  int64_t tmi_sent_ts;
} tw_irc_clearchat_t;

int tw_irc_clearchat(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                     tw_irc_clearchat_t *out);

/* CLEARMSG #channel :text (one message deleted) */
typedef struct {
  tw_irc_str_t channel;
  tw_irc_str_t room_id;
  tw_irc_str_t login;         /* author of the deleted message */
  tw_irc_str_t target_msg_id; /* its id */
  tw_irc_str_t text;          /* its text, /me wrapper removed */
  int is_action;
  int64_t tmi_sent_ts;
} tw_irc_clearmsg_t;

int tw_irc_clearmsg(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                    tw_irc_clearmsg_t *out);

/* NOTICE #channel|* :text */
typedef struct {
  tw_irc_str_t channel; /* absent for "*" (e.g. login failures) */
  tw_irc_str_t msg_id;  /* absent before login; compare ids, not texts */
  tw_irc_str_t text;
  tw_irc_str_t target_user_id;
} tw_irc_notice_t;

int tw_irc_notice(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                  tw_irc_notice_t *out);

/* ROOMSTATE #channel: a full state on join, then only what changed; every
 * setting not in the line is TW_IRC_NONE. */
typedef struct {
  tw_irc_str_t channel;
  tw_irc_str_t room_id;
  int64_t emote_only;     /* 0/1 */
  int64_t followers_only; /* minutes; -1 = off */
  int64_t r9k;            /* 0/1 */
  int64_t slow;           /* seconds; 0 = off */
  int64_t subs_only;      /* 0/1 */
} tw_irc_roomstate_t;

int tw_irc_roomstate(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                     tw_irc_roomstate_t *out);

/* USERSTATE #channel: our own state in a channel, sent on join and after
 * each message we send (then `id` is that message's id). */
typedef struct {
  tw_irc_str_t channel;
  tw_irc_user_t user;      /* login and id are absent: Twitch omits them */
  tw_irc_str_t emote_sets; /* raw ','-separated list */
  tw_irc_str_t id;
} tw_irc_userstate_t;

int tw_irc_userstate(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                     tw_irc_userstate_t *out);

/* GLOBALUSERSTATE: our own state after login. */
typedef struct {
  tw_irc_user_t user; /* id set, login absent */
  tw_irc_str_t emote_sets;
} tw_irc_globaluserstate_t;

int tw_irc_globaluserstate(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                           tw_irc_globaluserstate_t *out);

/* JOIN #channel / PART #channel, from the prefix nick. */
typedef struct {
  tw_irc_str_t channel;
  tw_irc_str_t login;
} tw_irc_membership_t;

int tw_irc_join(const tw_irc_msg_t *msg, tw_irc_membership_t *out);
int tw_irc_part(const tw_irc_msg_t *msg, tw_irc_membership_t *out);

/* PING [server] [:text] / PONG server [:text]. `text` is the last parameter
 * (what a PONG must echo), absent when there is none; `server` is the first
 * of two or more parameters. */
typedef struct {
  tw_irc_str_t server;
  tw_irc_str_t text;
} tw_irc_ping_t;

int tw_irc_ping(const tw_irc_msg_t *msg, tw_irc_ping_t *out);
int tw_irc_pong(const tw_irc_msg_t *msg, tw_irc_ping_t *out);

/* CAP as a server sends it ("CAP * ACK :list") or as a client does
 * ("CAP REQ :list", "CAP END"), which is what the simulator reads. */
typedef struct {
  tw_irc_str_t target;     /* "*" or our nick; absent in the client form */
  tw_irc_str_t subcommand; /* "ACK", "NAK", "LS"... */
  tw_irc_str_t list;       /* space-separated; tw_irc_list_next(' ') */
  int ack;                 /* subcommand is ACK */
  int nak;                 /* subcommand is NAK */
} tw_irc_cap_t;

int tw_irc_cap(const tw_irc_msg_t *msg, tw_irc_cap_t *out);

/* A 3-digit reply: 001 (welcome), 353 (names), 366 (end of names), 421
 * (unknown command)... */
typedef struct {
  int code;
  tw_irc_str_t target;  /* params[0]: our nick */
  tw_irc_str_t channel; /* first '#' parameter after the target, stripped */
  tw_irc_str_t arg;     /* params[1] when there are 3+ (421: the command) */
  tw_irc_str_t text;    /* last parameter (353: the names) */
} tw_irc_numeric_t;

int tw_irc_numeric(const tw_irc_msg_t *msg, tw_irc_numeric_t *out);

/* WHISPER to :text (receive only). */
typedef struct {
  tw_irc_user_t sender; /* login from the prefix nick */
  tw_irc_str_t to_login;
  tw_irc_str_t text;
  tw_irc_str_t emotes;
  tw_irc_str_t message_id;
  tw_irc_str_t thread_id;
} tw_irc_whisper_t;

int tw_irc_whisper(const tw_irc_msg_t *msg, tw_irc_scratch_t *scratch,
                   tw_irc_whisper_t *out);

#ifdef __cplusplus
}
#endif
#endif
