/* The simulator's chat server core, sans-IO: Twitch's side of IRC as a
 * state machine per connection plus rooms, users and limits. Bytes or lines
 * go in, lines come out into a bounded per-connection output queue, and time
 * is passed in (monotonic milliseconds) with every call that can depend on
 * it. No sockets, no clock, no globals; tests drive it directly.
 *
 * The IO glue (sim.c) owns the transports. The core tells it two things
 * through tw_simchat_io_t: "this connection has output" (wake, called once
 * until the queue has been emptied with tw__simchat_out_consume(), and again
 * when a stalled connection resumes) and "close this connection" (close,
 * abruptly or after flushing what is queued). The glue never frees a
 * connection on its own: when its transport is gone it calls
 * tw__simchat_conn_free(). Neither callback may call back into the core
 * synchronously for the same connection except the accessors.
 *
 * The tw_sim_* types and caps are the public ones from twitchd/sim.h.
 */
#ifndef TW_SIM_CHAT_H
#define TW_SIM_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "twitchd/oauth.h"
#include "twitchd/sim.h"

typedef struct tw_simchat tw_simchat_t;
typedef struct tw_simchat_conn tw_simchat_conn_t;

typedef struct {
  /* `c` has bytes to send (see tw__simchat_out_peek()). */
  void (*wake)(void *ud, tw_simchat_conn_t *c);
  /* Close `c`: abrupt (drop, slow client) or after sending what is queued
   * (login failure, QUIT, PONG timeout). Called at most once per
   * connection; the core queues nothing more for it afterwards. */
  void (*close)(void *ud, tw_simchat_conn_t *c, int abrupt);
} tw_simchat_io_t;

/* Creates a core. `opts` may be NULL (defaults); `io` is copied; `seed`
 * seeds the message-id generator; `wall_offset_ms` is added to monotonic
 * time to give Unix milliseconds (tmi-sent-ts). Returns 0, TW_EINVAL (an
 * option out of range) or TW_ENOMEM. */
int tw__simchat_new(const tw_sim_chat_opts_t *opts, const tw_simchat_io_t *io,
                    void *io_ud, uint64_t seed, uint64_t now_ms,
                    int64_t wall_offset_ms, tw_simchat_t **out);

/* Frees the core and every connection still in it (without calling the io
 * callbacks: the glue closes its transports first). */
void tw__simchat_free(tw_simchat_t *sc);

void tw__simchat_set_observer(tw_simchat_t *sc, tw_sim_event_cb cb, void *ud);

/* Asked before a PRIVMSG is accepted: whether `login` is banned (returns
 * non-zero; *left_s 0) or timed out (non-zero, *left_s seconds left) in
 * `room`. The API side answers from its Helix bans. */
typedef int (*tw_simchat_ban_check_fn)(void *ud, const char *room,
                                       const char *login, uint64_t now_ms,
                                       uint64_t *left_s);
void tw__simchat_set_ban_check(tw_simchat_t *sc, tw_simchat_ban_check_fn fn,
                               void *ud);

/* ---- connections ---- */

/* A new client connection. Returns 0, TW_EFULL when max_conns connections
 * are open (counted in conns_refused; the glue closes the transport) or
 * TW_ENOMEM. `ud` is the glue's, returned by tw__simchat_conn_ud(). */
int tw__simchat_conn_new(tw_simchat_t *sc, tw_sim_transport_t transport,
                         void *ud, uint64_t now_ms, tw_simchat_conn_t **out);

/* The transport is gone: leaves every room (PART to members with
 * twitch.tv/membership) and frees the connection. */
void tw__simchat_conn_free(tw_simchat_conn_t *c, uint64_t now_ms);

/* Bytes from a byte stream (IRC over TCP or TLS), any chunking. */
void tw__simchat_feed(tw_simchat_conn_t *c, const char *data, size_t len,
                      uint64_t now_ms);

/* One WebSocket text message: one or more lines, the last one with or
 * without its CR LF. */
void tw__simchat_feed_msg(tw_simchat_conn_t *c, const char *data, size_t len,
                          uint64_t now_ms);

/* Queued output: *p and the returned length (0: nothing). Valid until the
 * next call into the core. */
size_t tw__simchat_out_peek(tw_simchat_conn_t *c, const char **p);

/* Removes the first n queued bytes (the glue has handed them on). */
void tw__simchat_out_consume(tw_simchat_conn_t *c, size_t n);

/* For transports that refuse a client before it reaches the core (pending
 * WebSocket upgrades over the cap): counts it in conns_refused. */
void tw__simchat_count_refused(tw_simchat_t *sc);
/* The resolved max_conns option. */
size_t tw__simchat_max_conns(const tw_simchat_t *sc);

uint64_t tw__simchat_conn_id(const tw_simchat_conn_t *c);
void *tw__simchat_conn_ud(const tw_simchat_conn_t *c);
int tw__simchat_conn_stalled(const tw_simchat_conn_t *c);
/* Non-zero once the core asked for the connection to be closed. */
int tw__simchat_conn_closing(const tw_simchat_conn_t *c);
tw_simchat_conn_t *tw__simchat_conn_find(const tw_simchat_t *sc, uint64_t id);

/* ---- time ---- */

/* Runs timers: server PINGs, PONG timeouts, delayed closes after
 * RECONNECT. Call it often enough (the glue: every 100 ms or so). */
void tw__simchat_tick(tw_simchat_t *sc, uint64_t now_ms);

/* Continues a flood if every receiver has room (see
 * TW_SIM_FLOOD_WATERMARK). The glue calls it after handing output on. */
void tw__simchat_pump(tw_simchat_t *sc, uint64_t now_ms);

/* ---- control: the operations of twitchd/sim.h on the core ---- */

int tw__simchat_add_user(tw_simchat_t *sc, const tw_sim_user_t *u);
int tw__simchat_add_token(tw_simchat_t *sc, const char *token,
                          const char *login, unsigned flags);
int tw__simchat_revoke_token(tw_simchat_t *sc, const char *token);
int tw__simchat_add_room(tw_simchat_t *sc, const tw_sim_room_t *r);
int tw__simchat_set_role(tw_simchat_t *sc, const char *room, const char *login,
                         tw_sim_role_t role);
int tw__simchat_inject_room(tw_simchat_t *sc, const char *room,
                            const char *line, size_t len, uint64_t now_ms);
int tw__simchat_inject_conn(tw_simchat_t *sc, uint64_t conn, const char *line,
                            size_t len, uint64_t now_ms);
int tw__simchat_say(tw_simchat_t *sc, const char *room, const char *login,
                    const char *text, const char *reply_to,
                    char msg_id[TW_SIM_MSG_ID_SIZE], uint64_t now_ms);
int tw__simchat_ping(tw_simchat_t *sc, uint64_t conn, uint64_t now_ms);
int tw__simchat_reconnect(tw_simchat_t *sc, uint64_t conn,
                          uint32_t close_after_ms, uint64_t now_ms);
int tw__simchat_drop(tw_simchat_t *sc, uint64_t conn);
int tw__simchat_stall(tw_simchat_t *sc, uint64_t conn, int stalled,
                      uint64_t now_ms);

/* Starts a flood of the lines in src[0..len) (separated by LF, CR LF
 * accepted; copied). See tw_sim_flood(). */
int tw__simchat_flood(tw_simchat_t *sc, const char *room, const char *src,
                      size_t len, uint64_t count, int keep_channel,
                      uint64_t now_ms);
void tw__simchat_flood_status(const tw_simchat_t *sc,
                              tw_sim_flood_status_t *out);
void tw__simchat_flood_cancel(tw_simchat_t *sc);

size_t tw__simchat_sent_foreach(const tw_simchat_t *sc, uint64_t conn,
                                const char *login, uint64_t since,
                                int (*cb)(void *ud, const tw_sim_sent_t *line),
                                void *ud);
uint64_t tw__simchat_sent_last_seq(const tw_simchat_t *sc);
void tw__simchat_counters(const tw_simchat_t *sc, tw_sim_counters_t *out);
int tw__simchat_user_counters(const tw_simchat_t *sc, const char *login,
                              tw_sim_user_counters_t *out);
void tw__simchat_counters_reset(tw_simchat_t *sc);
int tw__simchat_conn_info(const tw_simchat_t *sc, uint64_t conn,
                          tw_sim_conn_info_t *out);
size_t tw__simchat_conns(const tw_simchat_t *sc, uint64_t *ids, size_t max);
int tw__simchat_conn_in_room(const tw_simchat_t *sc, uint64_t conn,
                             const char *room);

/* Walks the known users (login and counters), for the control interface. */
void tw__simchat_users_each(const tw_simchat_t *sc,
                            void (*fn)(void *ud, const char *login,
                                       const tw_sim_user_counters_t *c),
                            void *ud);

/* ---- tokens and lookups for the API side (sim_api.c) ---- */

/* What a token is: `login` NULL for an app token (then client_id is
 * required); `scopes` copied (NULL: none); expires_at monotonic ms (0:
 * never); flags TW_SIM_TOKEN_*. */
typedef struct {
  const char *login;
  const char *client_id;
  const tw_scopes_t *scopes;
  uint64_t expires_at;
  unsigned flags;
} tw_simchat_token_spec_t;

/* Adds or replaces a token (a replaced one is no longer revoked). Creates
 * the user when unknown. Returns 0, TW_EINVAL, TW_EFULL or TW_ENOMEM. */
int tw__simchat_put_token(tw_simchat_t *sc, const char *token,
                          const tw_simchat_token_spec_t *spec);

/* A token as the core knows it; pointers borrowed until the core next
 * changes. */
typedef struct {
  const char *login;   /* NULL: app token */
  const char *user_id; /* NULL: app token */
  const char *client_id;
  const tw_scopes_t *scopes;
  uint64_t expires_at;
  int revoked, expired;
  int live; /* neither: the token is accepted */
  unsigned flags;
} tw_simchat_token_view_t;

/* Returns 0 with *out filled, or TW_ENOTFOUND. */
int tw__simchat_token_get(const tw_simchat_t *sc, const char *token,
                          uint64_t now_ms, tw_simchat_token_view_t *out);

/* Makes the token expired from now on. Returns 0 or TW_ENOTFOUND. */
int tw__simchat_expire_token(tw_simchat_t *sc, const char *token,
                             uint64_t now_ms);

typedef struct {
  const char *login, *id, *display;
} tw_simchat_user_view_t;

/* A user by login, or (login NULL) by id. Returns 0 or TW_ENOTFOUND. */
int tw__simchat_user_find(const tw_simchat_t *sc, const char *login,
                          const char *id, tw_simchat_user_view_t *out);
/* A user by login, created with defaults when unknown (out may be NULL).
 * Returns 0, TW_EINVAL (bad login), TW_EFULL or TW_ENOMEM. */
int tw__simchat_user_ensure(tw_simchat_t *sc, const char *login,
                            tw_simchat_user_view_t *out);
/* `login`'s role in `room` (the broadcaster is the room's namesake). */
tw_sim_role_t tw__simchat_role(const tw_simchat_t *sc, const char *room,
                               const char *login);
/* Creates the room when it does not exist. Returns 0, TW_EINVAL, TW_EFULL
 * or TW_ENOMEM. */
int tw__simchat_room_ensure(tw_simchat_t *sc, const char *room);
/* Removes message `msg_id` from the room's history, giving its sender's
 * login and its text (*body, malloc'ed, the caller frees). Returns 0 or
 * TW_ENOTFOUND. */
int tw__simchat_hist_take(tw_simchat_t *sc, const char *room,
                          const char *msg_id, char *login, size_t login_cap,
                          char **body);
/* The sender of message `msg_id` in the room's history. Returns 0 or
 * TW_ENOTFOUND. */
int tw__simchat_hist_login(const tw_simchat_t *sc, const char *room,
                           const char *msg_id, char *login, size_t cap);
/* The room's room-id (the room is created when missing). Returns 0,
 * TW_EINVAL, TW_EFULL or TW_ENOMEM. */
int tw__simchat_room_id(tw_simchat_t *sc, const char *room, char *out,
                        size_t cap);
/* Forgets the room's messages: all of them, or only `login`'s. */
void tw__simchat_hist_clear(tw_simchat_t *sc, const char *room,
                            const char *login);

/* ---- helpers shared with the glue and tests ---- */

/* Escapes an IRCv3 tag value into out (capacity cap, NUL-terminated).
 * Returns the length, or TW_ETOOBIG. */
int tw__sim_tag_escape(const char *in, size_t n, char *out, size_t cap);

/* Whether s[0..n) is a valid login: 1-25 of [a-z0-9_]. */
int tw__sim_valid_login(const char *s, size_t n);

#endif
