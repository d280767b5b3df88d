/* twitchd: the sans-IO chat session (private to src/twitch).
 *
 * Everything the chat client decides lives here, without sockets, clocks or
 * a loop: the login, joins and their confirmation, keepalives, reconnects
 * and their backoff, the RECONNECT handover, token refresh, the send queue
 * and the mapping of IRC lines to events. The caller (chat.c, or a test)
 * does the IO it is asked for through tw_chat_session_ops_t and feeds back
 * what happened, always with the current monotonic time in ms.
 *
 * Connections. The session asks for transport connections by id (ops.open);
 * the caller reports tw_chat_session_conn_up() when the transport is open
 * and tw_chat_session_conn_closed() when it failed or ended, feeds each
 * received line with tw_chat_session_feed() and writes what ops.write gives
 * it. When the session no longer wants a connection it calls ops.close and
 * forgets the id at once: reports about forgotten ids are ignored. At most
 * two connections exist at a time, only during a RECONNECT handover.
 *
 * Time. After every call the caller asks tw_chat_session_deadline() when the
 * session next needs to run, arms one timer for it and calls
 * tw_chat_session_tick() then. Times must not go backwards (an earlier time
 * is taken as the latest seen).
 *
 * Handover after RECONNECT (connection A asked to move): B is opened, logs in
 * and joins A's channels while A keeps delivering. From the moment B opens
 * until dedupe_grace_ms after A is dropped, every event with a key (PRIVMSG
 * and USERNOTICE id, "clearmsg:"+target-msg-id, "clearchat:"+room, target
 * and timestamp) is delivered once, whichever connection brings it first.
 * Events without a key (JOIN, PART) come from A for a channel until B has
 * confirmed that channel, then from B. A is dropped when B has joined every
 * channel A had (or failed to). If A dies first, B simply carries on.
 *
 * Re-entrancy. The ops callbacks may call tw_chat_session_say, _join, _part,
 * _set_token, _token_failed and _stop on the same session (an event handler
 * answering a message, say). Other calls from inside a callback are refused
 * with TW_ESTATE; freeing the session from a callback is not allowed.
 */
#ifndef TWITCHD_TWITCH_CHAT_SESSION_H
#define TWITCHD_TWITCH_CHAT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twitchd/chat.h"
#include "twitchd/event.h"

typedef struct tw_chat_session tw_chat_session_t;

/* What the session asks of its caller. `ud` is the pointer given to
 * tw_chat_session_new(). Every member must be set except event, notice,
 * status and refresh_token, which may be NULL. */
typedef struct {
  /* Open a transport for connection `conn` (report it with conn_up or
   * conn_closed, later: never from inside this call). */
  void (*open)(void *ud, uint64_t conn);
  /* Drop connection `conn` now; the session has forgotten it. */
  void (*close)(void *ud, uint64_t conn);
  /* Write data[0..len) (one or more complete lines ending in CRLF) on
   * `conn`; borrowed for the call. A write failure is reported later as
   * conn_closed. */
  void (*write)(void *ud, uint64_t conn, const char *data, size_t len);
  /* An event; the callee owns it (tw_event_free). */
  void (*event)(void *ud, tw_event_t *ev);
  /* A NOTICE / a status change; borrowed for the call. */
  void (*notice)(void *ud, const tw_chat_notice_t *notice);
  void (*status)(void *ud, const tw_chat_status_t *status);
  /* Twitch refused the token; answer with tw_chat_session_set_token() or
   * tw_chat_session_token_failed(), now or later. NULL: retry as is. */
  void (*refresh_token)(void *ud);
} tw_chat_session_ops_t;

/* Creates a session from opts (copied, strings included; url and ca_file are
 * ignored here) and ops (copied). Returns 0 with *out set, TW_EINVAL,
 * TW_ETOOBIG or TW_ENOMEM; `detail` (may be NULL) receives a sentence on
 * failure. Free with tw_chat_session_free(). */
int tw_chat_session_new(const tw_chat_opts_t *opts,
                        const tw_chat_session_ops_t *ops, void *ud,
                        tw_chat_session_t **out, char *detail,
                        size_t detail_cap);

/* Frees the session without calling anything (connections still open are
 * the caller's to close). NULL is ignored. */
void tw_chat_session_free(tw_chat_session_t *s);

/* Opens the first connection. TW_ESTATE when already started or stopped. */
int tw_chat_session_start(tw_chat_session_t *s, uint64_t now_ms);

/* Stops for good: asks to close every connection, reports STOPPED with
 * `err` (0 for a requested stop) and refuses further work. */
void tw_chat_session_stop(tw_chat_session_t *s, int err, uint64_t now_ms);

/* The transport of `conn` is open: the session sends its login. */
void tw_chat_session_conn_up(tw_chat_session_t *s, uint64_t conn,
                             uint64_t now_ms);

/* The transport of `conn` failed or closed with `err` (a TW_E* code;
 * TW_ECLOSED when the peer ended it). */
void tw_chat_session_conn_closed(tw_chat_session_t *s, uint64_t conn, int err,
                                 uint64_t now_ms);

/* Takes one received line (without or with its CRLF; borrowed for the
 * call) from `conn`. Returns 0; TW_EPARSE for a malformed line, which is
 * skipped and counted; TW_ENOTFOUND for a connection the session has
 * forgotten (the line is ignored). */
int tw_chat_session_feed(tw_chat_session_t *s, uint64_t conn, const char *line,
                         size_t len, uint64_t now_ms);

/* Counts a line the transport had to discard (over-long) as malformed. */
void tw_chat_session_count_malformed(tw_chat_session_t *s, uint64_t n);

/* Counts transport payload bytes (statistics only). */
void tw_chat_session_count_bytes(tw_chat_session_t *s, uint64_t n);

/* When the session next needs tw_chat_session_tick(), in absolute ms;
 * UINT64_MAX when it does not. */
uint64_t tw_chat_session_deadline(const tw_chat_session_t *s);

/* Runs what is due at now_ms (timeouts, keepalives, reconnects, joins,
 * sends). */
void tw_chat_session_tick(tw_chat_session_t *s, uint64_t now_ms);

/* See tw_chat_say(), tw_chat_join(), tw_chat_part(), tw_chat_set_token() and
 * tw_chat_token_failed() in twitchd/chat.h; same arguments and results. */
int tw_chat_session_say(tw_chat_session_t *s, const char *channel,
                        const char *text, const char *reply_to, bool is_action,
                        uint64_t now_ms);
int tw_chat_session_join(tw_chat_session_t *s, const char *channel,
                         uint64_t now_ms);
int tw_chat_session_part(tw_chat_session_t *s, const char *channel,
                         uint64_t now_ms);
int tw_chat_session_set_token(tw_chat_session_t *s, const char *token,
                              uint64_t now_ms);
void tw_chat_session_token_failed(tw_chat_session_t *s, int err,
                                  uint64_t now_ms);

/* True when `channel` is confirmed on the connection that sends. */
bool tw_chat_session_is_joined(const tw_chat_session_t *s, const char *channel);

/* True when the sending connection is logged in. */
bool tw_chat_session_is_ready(const tw_chat_session_t *s);

/* True once stopped (by tw_chat_session_stop or by giving up). */
bool tw_chat_session_is_stopped(const tw_chat_session_t *s);

/* Fills *out with the counters. */
void tw_chat_session_stats(const tw_chat_session_t *s, tw_chat_stats_t *out);

/* The nick used for the login (the login, or justinfan<digits>). */
const char *tw_chat_session_nick(const tw_chat_session_t *s);

/* The last error detail ("" when none). */
const char *tw_chat_session_detail(const tw_chat_session_t *s);

#endif
