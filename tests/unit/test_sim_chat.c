/* Tests of the simulator's sans-IO chat core (src/sim/sim_chat.c): login,
 * caps, JOIN replies, relay with tags, USERSTATE instead of an echo,
 * keepalive, limits, injection, faults, read-back and floods. Time is driven
 * by hand; output is read straight from the per-connection queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/sim_chat.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/irc_twitch.h"

#define T0 1000000u
#define WALL 1700000000000ll

/* ---- fixture ------------------------------------------------------------ */

#define MAX_CLOSED 64
#define MAX_EVENTS 256

typedef struct {
  tw_simchat_t *sc;
  uint64_t now;
  int wakes;
  int nclosed;
  uint64_t closed[MAX_CLOSED]; /* ids: addresses get reused */
  int abrupt[MAX_CLOSED];
  int nev;
  tw_sim_event_kind_t ev[MAX_EVENTS];
  tw_sim_drop_t reason[MAX_EVENTS];
  char ev_id[TW_SIM_MSG_ID_SIZE];
  uint64_t flood_done;
} fx_t;

static void io_wake(void *ud, tw_simchat_conn_t *c) {
  (void)c;
  ((fx_t *)ud)->wakes++;
}

static void io_close(void *ud, tw_simchat_conn_t *c, int abrupt) {
  fx_t *fx = ud;
  assert_true(fx->nclosed < MAX_CLOSED);
  fx->closed[fx->nclosed] = tw__simchat_conn_id(c);
  fx->abrupt[fx->nclosed] = abrupt;
  fx->nclosed++;
}

static void observer(void *ud, const tw_sim_event_t *ev) {
  fx_t *fx = ud;
  if (fx->nev < MAX_EVENTS) {
    fx->ev[fx->nev] = ev->kind;
    fx->reason[fx->nev] = ev->reason;
    fx->nev++;
  }
  if (ev->kind == TW_SIM_EV_PRIVMSG)
    snprintf(fx->ev_id, sizeof(fx->ev_id), "%s", ev->msg_id);
  if (ev->kind == TW_SIM_EV_FLOOD_DONE)
    fx->flood_done = ev->count + 1;
}

static fx_t *fx_new(const tw_sim_chat_opts_t *o) {
  fx_t *fx = calloc(1, sizeof(*fx));
  assert_non_null(fx);
  fx->now = T0;
  tw_simchat_io_t io = {io_wake, io_close};
  assert_int_equal(tw__simchat_new(o, &io, fx, 42, fx->now, WALL - T0, &fx->sc),
                   0);
  tw__simchat_set_observer(fx->sc, observer, fx);
  assert_int_equal(tw__simchat_add_token(fx->sc, "tokbot", "bot", 0), 0);
  assert_int_equal(tw__simchat_add_token(fx->sc, "tokalice", "alice", 0), 0);
  assert_int_equal(tw__simchat_add_token(fx->sc, "tokbob", "bob", 0), 0);
  tw_sim_user_t u = {.login = "bot",
                     .user_id = "4242",
                     .display_name = "Bot",
                     .color = "#FF4500"};
  assert_int_equal(tw__simchat_add_user(fx->sc, &u), 0);
  tw_sim_user_t ch = {.login = "chan", .user_id = "777"};
  assert_int_equal(tw__simchat_add_user(fx->sc, &ch), 0);
  return fx;
}

static void fx_free(fx_t *fx) {
  tw__simchat_free(fx->sc);
  free(fx);
}

static int was_closed(const fx_t *fx, const tw_simchat_conn_t *c, int *abrupt) {
  for (int i = 0; i < fx->nclosed; i++)
    if (fx->closed[i] == tw__simchat_conn_id(c)) {
      if (abrupt)
        *abrupt = fx->abrupt[i];
      return 1;
    }
  return 0;
}

static int count_ev(const fx_t *fx, tw_sim_event_kind_t k) {
  int n = 0;
  for (int i = 0; i < fx->nev; i++)
    n += fx->ev[i] == k;
  return n;
}

static tw_simchat_conn_t *conn(fx_t *fx) {
  tw_simchat_conn_t *c;
  assert_int_equal(
      tw__simchat_conn_new(fx->sc, TW_SIM_TRANSPORT_NONE, NULL, fx->now, &c),
      0);
  return c;
}

static void sendl(fx_t *fx, tw_simchat_conn_t *c, const char *line) {
  char buf[TW_SIM_MAX_IN_LINE + 4];
  size_t n = strlen(line);
  assert_true(n + 2 < sizeof(buf));
  memcpy(buf, line, n);
  memcpy(buf + n, "\r\n", 2);
  tw__simchat_feed(c, buf, n + 2, fx->now);
}

static void sendf(fx_t *fx, tw_simchat_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sendf(fx_t *fx, tw_simchat_conn_t *c, const char *fmt, ...) {
  char buf[TW_SIM_MAX_IN_LINE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  sendl(fx, c, buf);
}

/* Pops one output line (without CR LF); NULL when the queue is empty. The
 * result lives until the 16th next call. */
static const char *pop(tw_simchat_conn_t *c) {
  static char ring[16][TW_MAX_IRC_LINE + 1];
  static int k;
  const char *p;
  size_t n = tw__simchat_out_peek(c, &p);
  if (n == 0)
    return NULL;
  const char *e = memchr(p, '\n', n);
  assert_non_null(e);
  size_t len = (size_t)(e - p);
  assert_true(len >= 1 && p[len - 1] == '\r');
  char *out = ring[k++ % 16];
  assert_true(len - 1 <= TW_MAX_IRC_LINE);
  memcpy(out, p, len - 1);
  out[len - 1] = '\0';
  tw__simchat_out_consume(c, len + 1);
  return out;
}

static int drain(tw_simchat_conn_t *c) {
  int n = 0;
  while (pop(c))
    n++;
  return n;
}

static void expect(tw_simchat_conn_t *c, const char *line) {
  const char *got = pop(c);
  if (!got)
    fail_msg("expected \"%s\", got nothing", line);
  assert_string_equal(got, line);
}

static void expect_none(tw_simchat_conn_t *c) {
  const char *got = pop(c);
  if (got)
    fail_msg("expected nothing, got \"%s\"", got);
}

static const char *FULLCAPS =
    "CAP REQ :twitch.tv/membership twitch.tv/tags twitch.tv/commands";

/* Logs `login` in with its token and all caps, and empties its output. */
static tw_simchat_conn_t *login_as(fx_t *fx, const char *login,
                                   const char *caps) {
  tw_simchat_conn_t *c = conn(fx);
  if (caps)
    sendl(fx, c, caps);
  sendf(fx, c, "PASS oauth:tok%s", login);
  sendf(fx, c, "NICK %s", login);
  tw_sim_conn_info_t info;
  assert_int_equal(tw__simchat_conn_info(fx->sc, tw__simchat_conn_id(c), &info),
                   0);
  assert_true(info.logged_in);
  drain(c);
  return c;
}

static tw_simchat_conn_t *joined(fx_t *fx, const char *login, const char *caps,
                                 const char *room) {
  tw_simchat_conn_t *c = login_as(fx, login, caps);
  sendf(fx, c, "JOIN #%s", room);
  assert_int_equal(
      tw__simchat_conn_in_room(fx->sc, tw__simchat_conn_id(c), room), 1);
  drain(c);
  return c;
}

/* Parses a PRIVMSG line into a view (the line must stay alive). */
static void parse_privmsg(const char *line, tw_irc_msg_t *m,
                          tw_irc_privmsg_t *pm) {
  assert_int_equal(tw_irc_parse(m, line, strlen(line)), 0);
  assert_int_equal(tw_irc_privmsg(m, NULL, pm), 0);
}

static int tag_is(const tw_irc_msg_t *m, const char *key, const char *val) {
  tw_irc_str_t v = tw_irc_tag_get(m, key);
  return tw_irc_str_eq(v, val);
}

static int is_uuid(tw_irc_str_t s) {
  if (s.len != 36)
    return 0;
  for (size_t i = 0; i < 36; i++) {
    char ch = s.ptr[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (ch != '-')
        return 0;
    } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
      return 0;
    }
  }
  return s.ptr[14] == '4';
}

/* ---- login -------------------------------------------------------------- */

static void test_login_full_caps(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = conn(fx);
  sendl(fx, c, FULLCAPS);
  expect(c, ":tmi.twitch.tv CAP * ACK :twitch.tv/membership twitch.tv/tags "
            "twitch.tv/commands");
  sendl(fx, c, "PASS oauth:tokbot");
  expect_none(c);
  sendl(fx, c, "NICK bot");
  expect(c, ":tmi.twitch.tv 001 bot :Welcome, GLHF!");
  expect(c, ":tmi.twitch.tv 002 bot :Your host is tmi.twitch.tv");
  expect(c, ":tmi.twitch.tv 003 bot :This server is rather new");
  expect(c, ":tmi.twitch.tv 004 bot :-");
  expect(c, ":tmi.twitch.tv 375 bot :-");
  expect(c, ":tmi.twitch.tv 372 bot :You are in a maze of twisty passages, all "
            "alike.");
  expect(c, ":tmi.twitch.tv 376 bot :>");
  expect(c, "@badge-info=;badges=;color=#FF4500;display-name=Bot;emote-sets=0,"
            "300374282;user-id=4242;user-type= :tmi.twitch.tv "
            "GLOBALUSERSTATE");
  expect_none(c);
  assert_int_equal(fx->nclosed, 0);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.logins, 1);
  assert_int_equal(k.conns_open, 1);
  assert_int_equal(count_ev(fx, TW_SIM_EV_LOGIN), 1);
  tw_sim_conn_info_t info;
  assert_int_equal(tw__simchat_conn_info(fx->sc, tw__simchat_conn_id(c), &info),
                   0);
  assert_string_equal(info.login, "bot");
  assert_int_equal(info.caps, TW_SIM_CAP_TAGS | TW_SIM_CAP_COMMANDS |
                                  TW_SIM_CAP_MEMBERSHIP);
  fx_free(fx);
}

static void test_login_partial_caps(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  /* Commands without tags: no GLOBALUSERSTATE. */
  tw_simchat_conn_t *c = conn(fx);
  sendl(fx, c, "CAP REQ :twitch.tv/commands");
  expect(c, ":tmi.twitch.tv CAP * ACK :twitch.tv/commands");
  sendl(fx, c, "PASS oauth:tokbot");
  sendl(fx, c, "NICK bot");
  assert_int_equal(drain(c), 7);
  /* No caps at all; NICK case does not matter. */
  tw_simchat_conn_t *d = conn(fx);
  sendl(fx, d, "PASS oauth:tokbot");
  sendl(fx, d, "NICK Bot");
  expect(d, ":tmi.twitch.tv 001 bot :Welcome, GLHF!");
  assert_int_equal(drain(d), 6);
  /* A single middle parameter, then a removal. */
  tw_simchat_conn_t *e = conn(fx);
  sendl(fx, e, "CAP REQ twitch.tv/tags");
  expect(e, ":tmi.twitch.tv CAP * ACK :twitch.tv/tags");
  sendl(fx, e, "CAP REQ :-twitch.tv/tags twitch.tv/membership");
  expect(e, ":tmi.twitch.tv CAP * ACK :-twitch.tv/tags twitch.tv/membership");
  tw_sim_conn_info_t info;
  tw__simchat_conn_info(fx->sc, tw__simchat_conn_id(e), &info);
  assert_int_equal(info.caps, TW_SIM_CAP_MEMBERSHIP);
  fx_free(fx);
}

static void test_cap_nak_and_ls(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = conn(fx);
  sendl(fx, c, "CAP REQ :twitch.tv/foo");
  expect(c, ":tmi.twitch.tv CAP * NAK :twitch.tv/foo");
  /* IRCv3: one unknown cap refuses the whole request. */
  sendl(fx, c, "CAP REQ :twitch.tv/tags twitch.tv/foo");
  expect(c, ":tmi.twitch.tv CAP * NAK :twitch.tv/tags twitch.tv/foo");
  tw_sim_conn_info_t info;
  tw__simchat_conn_info(fx->sc, tw__simchat_conn_id(c), &info);
  assert_int_equal(info.caps, 0);
  sendl(fx, c, "CAP LS 302");
  expect(c, ":tmi.twitch.tv CAP * LS :twitch.tv/tags twitch.tv/commands "
            "twitch.tv/membership");
  sendl(fx, c, "CAP END");
  expect_none(c);
  fx_free(fx);
}

static void test_login_failures(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  int abrupt = -1;
  /* Unknown token. */
  tw_simchat_conn_t *c = conn(fx);
  sendl(fx, c, FULLCAPS);
  drain(c);
  sendl(fx, c, "PASS oauth:nope");
  sendl(fx, c, "NICK bot");
  expect(c, ":tmi.twitch.tv NOTICE * :Login authentication failed");
  expect_none(c);
  assert_true(was_closed(fx, c, &abrupt));
  assert_int_equal(abrupt, 0); /* the NOTICE is flushed first */
  /* A closing connection ignores what follows. */
  sendl(fx, c, "JOIN #chan");
  expect_none(c);
  /* Known token, wrong NICK. */
  tw_simchat_conn_t *d = conn(fx);
  sendl(fx, d, "PASS oauth:tokalice");
  sendl(fx, d, "NICK bot");
  expect(d, ":tmi.twitch.tv NOTICE * :Login authentication failed");
  assert_true(was_closed(fx, d, NULL));
  /* NICK before PASS. */
  tw_simchat_conn_t *e = conn(fx);
  sendl(fx, e, "NICK bot");
  expect(e, ":tmi.twitch.tv NOTICE * :Improperly formatted auth");
  assert_true(was_closed(fx, e, NULL));
  /* PASS without "oauth:". */
  tw_simchat_conn_t *f = conn(fx);
  sendl(fx, f, "PASS tokbot");
  sendl(fx, f, "NICK bot");
  expect(f, ":tmi.twitch.tv NOTICE * :Improperly formatted auth");
  /* Token without chat:read. */
  assert_int_equal(
      tw__simchat_add_token(fx->sc, "tokr", "bot", TW_SIM_TOKEN_NO_READ), 0);
  tw_simchat_conn_t *g = conn(fx);
  sendl(fx, g, "PASS oauth:tokr");
  sendl(fx, g, "NICK bot");
  expect(g, ":tmi.twitch.tv NOTICE * :Login authentication failed");
  /* A revoked token no longer logs in. */
  assert_int_equal(tw__simchat_revoke_token(fx->sc, "tokbob"), 0);
  assert_int_equal(tw__simchat_revoke_token(fx->sc, "tokbob"), TW_ENOTFOUND);
  tw_simchat_conn_t *h = conn(fx);
  sendl(fx, h, "PASS oauth:tokbob");
  sendl(fx, h, "NICK bob");
  expect(h, ":tmi.twitch.tv NOTICE * :Login authentication failed");

  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.login_failures, 6);
  assert_int_equal(k.logins, 0);
  tw_sim_user_counters_t uc;
  assert_int_equal(tw__simchat_user_counters(fx->sc, "alice", &uc), 0);
  assert_int_equal(uc.login_failures, 1);
  assert_int_equal(count_ev(fx, TW_SIM_EV_LOGIN_FAILED), 6);
  /* Commands before login are ignored, not answered. */
  tw_simchat_conn_t *i = conn(fx);
  sendl(fx, i, "JOIN #chan");
  sendl(fx, i, "PRIVMSG #chan :hi");
  expect_none(i);
  fx_free(fx);
}

static void test_anonymous(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *viewer = joined(fx, "alice", FULLCAPS, "chan");
  tw_simchat_conn_t *a = conn(fx);
  sendl(fx, a, FULLCAPS);
  drain(a);
  sendl(fx, a, "NICK justinfan12345");
  expect(a, ":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!");
  assert_int_equal(drain(a), 6); /* no GLOBALUSERSTATE */
  sendl(fx, a, "JOIN #chan");
  expect(a, ":justinfan12345!justinfan12345@justinfan12345.tmi.twitch.tv JOIN "
            "#chan");
  expect(a, ":justinfan12345.tmi.twitch.tv 353 justinfan12345 = #chan "
            ":justinfan12345");
  expect(a, ":justinfan12345.tmi.twitch.tv 366 justinfan12345 #chan :End of "
            "/NAMES list");
  expect(a, "@emote-only=0;followers-only=-1;r9k=0;room-id=777;slow=0;subs-"
            "only=0 :tmi.twitch.tv ROOMSTATE #chan");
  expect_none(a);
  /* Anonymous joins are invisible to members. */
  expect_none(viewer);
  /* Read-only: its messages go nowhere. */
  sendl(fx, a, "PRIVMSG #chan :hello");
  expect_none(a);
  expect_none(viewer);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.dropped_anonymous, 1);
  /* It reads what others send. */
  sendl(fx, viewer, "PRIVMSG #chan :hi all");
  const char *got = pop(a);
  assert_non_null(got);
  assert_non_null(strstr(got, "PRIVMSG #chan :hi all"));
  /* Any PASS is accepted with a justinfan nick. */
  tw_simchat_conn_t *b = conn(fx);
  sendl(fx, b, "PASS SCHMOOPIIE");
  sendl(fx, b, "NICK justinfan1");
  expect(b, ":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!");
  /* "justinfan" alone is not anonymous. */
  tw_simchat_conn_t *d = conn(fx);
  sendl(fx, d, "NICK justinfan");
  expect(d, ":tmi.twitch.tv NOTICE * :Improperly formatted auth");
  fx_free(fx);
}

/* ---- JOIN / PART -------------------------------------------------------- */

static void test_join_replies(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = login_as(fx, "bot", FULLCAPS);
  sendl(fx, c, "JOIN #chan");
  expect(c, ":bot!bot@bot.tmi.twitch.tv JOIN #chan");
  expect(c, ":bot.tmi.twitch.tv 353 bot = #chan :bot");
  expect(c, ":bot.tmi.twitch.tv 366 bot #chan :End of /NAMES list");
  expect(c, "@badge-info=;badges=;color=#FF4500;display-name=Bot;emote-sets=0,"
            "300374282;mod=0;subscriber=0;user-type= :tmi.twitch.tv USERSTATE "
            "#chan");
  expect(c, "@emote-only=0;followers-only=-1;r9k=0;room-id=777;slow=0;subs-"
            "only=0 :tmi.twitch.tv ROOMSTATE #chan");
  expect_none(c);
  /* Joining again is a no-op. */
  sendl(fx, c, "JOIN #chan");
  expect_none(c);

  /* Roles: moderator, VIP, broadcaster; several rooms at once. */
  assert_int_equal(
      tw__simchat_set_role(fx->sc, "#modroom", "bot", TW_SIM_ROLE_MOD), 0);
  assert_int_equal(
      tw__simchat_set_role(fx->sc, "viproom", "bot", TW_SIM_ROLE_VIP), 0);
  tw_sim_room_t rr = {.name = "modroom",
                      .room_id = "31337",
                      .slow = 10,
                      .r9k = 1,
                      .followers_only = 0,
                      .followers_only_set = 1};
  assert_int_equal(tw__simchat_add_room(fx->sc, &rr), 0);
  sendl(fx, c, "JOIN #modroom,#viproom,#bot");
  assert_non_null(strstr(pop(c), " JOIN #modroom"));
  pop(c);
  pop(c);
  expect(c, "@badge-info=;badges=moderator/1;color=#FF4500;display-name=Bot;"
            "emote-sets=0,300374282;mod=1;subscriber=0;user-type=mod "
            ":tmi.twitch.tv USERSTATE #modroom");
  expect(c, "@emote-only=0;followers-only=0;r9k=1;room-id=31337;slow=10;subs-"
            "only=0 :tmi.twitch.tv ROOMSTATE #modroom");
  assert_non_null(strstr(pop(c), " JOIN #viproom"));
  pop(c);
  pop(c);
  expect(c, "@badge-info=;badges=vip/1;color=#FF4500;display-name=Bot;emote-"
            "sets=0,300374282;mod=0;subscriber=0;user-type= :tmi.twitch.tv "
            "USERSTATE #viproom");
  pop(c);
  assert_non_null(strstr(pop(c), " JOIN #bot"));
  pop(c);
  pop(c);
  expect(c, "@badge-info=;badges=broadcaster/1;color=#FF4500;display-name=Bot;"
            "emote-sets=0,300374282;mod=0;subscriber=0;user-type= "
            ":tmi.twitch.tv USERSTATE #bot");
  expect(c, "@emote-only=0;followers-only=-1;r9k=0;room-id=4242;slow=0;subs-"
            "only=0 :tmi.twitch.tv ROOMSTATE #bot");
  expect_none(c);
  assert_int_equal(count_ev(fx, TW_SIM_EV_JOIN), 4);

  /* Without tags the tags go; without commands USERSTATE/ROOMSTATE go. */
  tw_simchat_conn_t *d = login_as(fx, "alice", "CAP REQ :twitch.tv/commands");
  sendl(fx, d, "JOIN #chan");
  pop(d);
  pop(d);
  pop(d);
  expect(d, ":tmi.twitch.tv USERSTATE #chan");
  expect(d, ":tmi.twitch.tv ROOMSTATE #chan");
  tw_simchat_conn_t *e = login_as(fx, "bob", NULL);
  sendl(fx, e, "JOIN #chan");
  assert_int_equal(drain(e), 3);
  fx_free(fx);
}

static void test_join_bad_rooms(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.no_auto_rooms = 1};
  fx_t *fx = fx_new(&o);
  tw_sim_room_t sus = {.name = "gone", .suspended = 1};
  assert_int_equal(tw__simchat_add_room(fx->sc, &sus), 0);
  tw_sim_room_t ok = {.name = "here"};
  assert_int_equal(tw__simchat_add_room(fx->sc, &ok), 0);
  tw_simchat_conn_t *c = login_as(fx, "bot", FULLCAPS);
  sendl(fx, c, "JOIN #gone");
  expect(c, "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #gone :This "
            "channel does not exist or has been suspended.");
  expect_none(c);
  /* Unknown rooms (auto rooms off), bad names, no '#': silently dropped. */
  sendl(fx, c, "JOIN #nowhere,#UPPER,nohash,#,#bad-name");
  expect_none(c);
  sendl(fx, c, "JOIN #here");
  assert_int_equal(drain(c), 5);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.joins, 1);
  fx_free(fx);
}

static void test_part_and_membership(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *m = joined(fx, "alice", FULLCAPS, "chan");
  tw_simchat_conn_t *n = joined(fx, "bob", "CAP REQ :twitch.tv/tags", "chan");
  /* alice (membership) sees bob join; bob (no membership) sees nothing. */
  expect(m, ":bob!bob@bob.tmi.twitch.tv JOIN #chan");
  expect_none(m);
  tw_simchat_conn_t *b = joined(fx, "bot", FULLCAPS, "chan");
  expect(m, ":bot!bot@bot.tmi.twitch.tv JOIN #chan");
  expect_none(n);
  sendl(fx, b, "PART #chan");
  expect(b, ":bot!bot@bot.tmi.twitch.tv PART #chan");
  expect(m, ":bot!bot@bot.tmi.twitch.tv PART #chan");
  expect_none(n);
  assert_int_equal(
      tw__simchat_conn_in_room(fx->sc, tw__simchat_conn_id(b), "chan"), 0);
  /* PART of a room not joined: nothing. */
  sendl(fx, b, "PART #chan");
  expect_none(b);
  /* A client that goes away parts its rooms. */
  tw__simchat_conn_free(n, fx->now);
  expect(m, ":bob!bob@bob.tmi.twitch.tv PART #chan");
  assert_int_equal(count_ev(fx, TW_SIM_EV_CLOSE), 1);
  fx_free(fx);
}

/* ---- PRIVMSG ------------------------------------------------------------ */

static void test_relay_tags_and_userstate(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *al = joined(fx, "alice", FULLCAPS, "chan");
  tw_simchat_conn_t *plain = joined(fx, "bob", NULL, "chan");
  drain(bot);
  drain(al);
  sendl(fx, bot, "@client-nonce=abc123 PRIVMSG #chan :hello Kappa chat");
  /* The sender: a USERSTATE with the message id, no echo. */
  const char *us = pop(bot);
  assert_non_null(us);
  expect_none(bot);
  tw_irc_msg_t um;
  assert_int_equal(tw_irc_parse(&um, us, strlen(us)), 0);
  assert_int_equal(um.cmd, TW_IRC_CMD_USERSTATE);
  tw_irc_str_t id = tw_irc_tag_get(&um, "id");
  assert_true(is_uuid(id));
  assert_int_equal(strlen(fx->ev_id), id.len);
  assert_memory_equal(fx->ev_id, id.ptr, id.len);
  /* The others: Twitch's tags. */
  const char *line = pop(al);
  assert_non_null(line);
  expect_none(al);
  tw_irc_msg_t m;
  tw_irc_privmsg_t pm;
  parse_privmsg(line, &m, &pm);
  assert_true(tw_irc_str_eq(pm.text, "hello Kappa chat"));
  assert_true(tw_irc_str_eq(pm.channel, "chan"));
  assert_true(tw_irc_str_eq(pm.sender.login, "bot"));
  assert_true(tw_irc_str_eq(pm.sender.display_name, "Bot"));
  assert_true(tw_irc_str_eq(pm.sender.id, "4242"));
  assert_true(tw_irc_str_eq(pm.sender.color, "#FF4500"));
  assert_true(tw_irc_str_eq(pm.room_id, "777"));
  assert_true(tw_irc_str_eq(pm.id, "") == 0);
  assert_int_equal(pm.id.len, id.len);
  assert_memory_equal(pm.id.ptr, id.ptr, id.len);
  assert_int_equal(pm.tmi_sent_ts, WALL);
  assert_int_equal(pm.first_msg, 1);
  assert_int_equal(pm.sender.mod, 0);
  assert_int_equal(pm.sender.vip, 0);
  assert_true(tw_irc_str_eq(pm.emotes, "25:6-10"));
  assert_true(tw_irc_str_eq(pm.client_nonce, "abc123"));
  const char *must[] = {"badge-info", "badges",    "color",      "display-name",
                        "emotes",     "first-msg", "flags",      "id",
                        "mod",        "room-id",   "subscriber", "tmi-sent-ts",
                        "turbo",      "user-id",   "user-type"};
  for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
    assert_non_null(tw_irc_tag_get(&m, must[i]).ptr);
  assert_null(tw_irc_tag_get(&m, "vip").ptr);
  assert_null(tw_irc_tag_get(&m, "reply-parent-msg-id").ptr);
  /* A client without tags gets the bare line. */
  expect(plain, ":bot!bot@bot.tmi.twitch.tv PRIVMSG #chan :hello Kappa chat");
  /* The second message is no longer a first message; emote positions count
   * code points. */
  fx->now += 1500;
  sendl(fx, bot, "PRIVMSG #chan :\xc3\xa9t\xc3\xa9 Kappa <3");
  line = pop(al);
  parse_privmsg(line, &m, &pm);
  assert_int_equal(pm.first_msg, 0);
  assert_true(tw_irc_str_eq(pm.emotes, "25:4-8/9:10-11"));
  assert_int_equal(pm.tmi_sent_ts, WALL + 1500);
  drain(bot);
  drain(plain);

  /* Moderator and VIP tags. */
  tw__simchat_set_role(fx->sc, "chan", "alice", TW_SIM_ROLE_VIP);
  sendl(fx, al, "PRIVMSG #chan :vip here");
  line = pop(bot);
  parse_privmsg(line, &m, &pm);
  assert_int_equal(pm.sender.vip, 1);
  assert_true(tag_is(&m, "badges", "vip/1"));
  assert_true(tag_is(&m, "user-type", ""));
  const char *aus = pop(al);
  assert_non_null(strstr(aus, "badges=vip/1;"));
  tw__simchat_set_role(fx->sc, "chan", "alice", TW_SIM_ROLE_MOD);
  fx->now += 1500;
  sendl(fx, al, "PRIVMSG #chan :mod here");
  line = pop(bot);
  parse_privmsg(line, &m, &pm);
  assert_int_equal(pm.sender.mod, 1);
  assert_true(tag_is(&m, "badges", "moderator/1"));
  assert_true(tag_is(&m, "user-type", "mod"));
  assert_null(tw_irc_tag_get(&m, "vip").ptr);

  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.privmsgs, 4);
  assert_int_equal(k.relayed, 2 + 2 + 2 + 2);
  assert_int_equal(count_ev(fx, TW_SIM_EV_PRIVMSG), 4);
  fx_free(fx);
}

static void test_userstate_needs_commands(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c =
      joined(fx, "bot", "CAP REQ :twitch.tv/commands", "chan");
  sendl(fx, c, "PRIVMSG #chan :hi");
  expect(c, ":tmi.twitch.tv USERSTATE #chan");
  tw_simchat_conn_t *d = joined(fx, "alice", NULL, "chan");
  sendl(fx, d, "PRIVMSG #chan :hi");
  expect_none(d);
  /* The same account on another connection does get the message. */
  tw_simchat_conn_t *c2 = joined(fx, "bot", NULL, "chan");
  fx->now += 2000;
  drain(c);
  sendl(fx, c, "PRIVMSG #chan :from my first connection");
  expect(c2, ":bot!bot@bot.tmi.twitch.tv PRIVMSG #chan :from my first "
             "connection");
  fx_free(fx);
}

static void test_replies(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *al = joined(fx, "alice", FULLCAPS, "chan");
  drain(bot);
  sendl(fx, al, "PRIVMSG #chan :question; with a\\backslash");
  const char *line = pop(bot);
  tw_irc_msg_t m;
  tw_irc_privmsg_t pm;
  parse_privmsg(line, &m, &pm);
  char parent[TW_SIM_MSG_ID_SIZE];
  memcpy(parent, pm.id.ptr, pm.id.len);
  parent[pm.id.len] = '\0';
  drain(al);

  sendf(fx, bot, "@reply-parent-msg-id=%s PRIVMSG #chan :@alice answer",
        parent);
  line = pop(al);
  parse_privmsg(line, &m, &pm);
  assert_true(tw_irc_str_eq(pm.reply.msg_id, parent));
  assert_true(tw_irc_str_eq(pm.reply.user_login, "alice"));
  assert_true(tag_is(&m, "reply-parent-display-name", "alice"));
  assert_true(tag_is(&m, "reply-parent-msg-body",
                     "question\\:\\swith\\sa\\\\backslash"));
  assert_true(tw_irc_str_eq(pm.reply.thread_msg_id, parent));
  assert_true(tw_irc_str_eq(pm.reply.thread_user_login, "alice"));
  assert_non_null(pm.reply.user_id.ptr);
  char child[TW_SIM_MSG_ID_SIZE];
  memcpy(child, pm.id.ptr, pm.id.len);
  child[pm.id.len] = '\0';
  /* A reply to the reply stays in the first message's thread. */
  fx->now += 1500;
  drain(bot);
  sendf(fx, al, "@reply-parent-msg-id=%s PRIVMSG #chan :thanks", child);
  line = pop(bot);
  parse_privmsg(line, &m, &pm);
  assert_true(tw_irc_str_eq(pm.reply.msg_id, child));
  assert_true(tw_irc_str_eq(pm.reply.user_login, "bot"));
  assert_true(tw_irc_str_eq(pm.reply.thread_msg_id, parent));
  assert_true(tw_irc_str_eq(pm.reply.thread_user_login, "alice"));
  /* An unknown parent: relayed without reply tags. */
  fx->now += 1500;
  drain(al);
  sendl(fx, bot,
        "@reply-parent-msg-id=00000000-0000-4000-8000-000000000000 "
        "PRIVMSG #chan :to nobody");
  line = pop(al);
  parse_privmsg(line, &m, &pm);
  assert_null(pm.reply.msg_id.ptr);
  /* say() can reply too. */
  drain(bot);
  char sid[TW_SIM_MSG_ID_SIZE];
  assert_int_equal(
      tw__simchat_say(fx->sc, "chan", "carol", "me too", parent, sid, fx->now),
      2);
  line = pop(bot);
  parse_privmsg(line, &m, &pm);
  assert_true(tw_irc_str_eq(pm.reply.msg_id, parent));
  assert_true(tw_irc_str_eq(pm.id, sid));
  assert_true(tw_irc_str_eq(pm.sender.login, "carol"));
  fx_free(fx);
}

static void test_action_and_commands(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "chan");
  drain(bot);
  sendl(fx, bot, "PRIVMSG #chan :/me teleports behind you");
  expect(al, ":bot!bot@bot.tmi.twitch.tv PRIVMSG #chan :\001ACTION teleports "
             "behind you\001");
  fx->now += 1500;
  sendl(fx, bot, "PRIVMSG #chan :\001ACTION waves\001");
  expect(al, ":bot!bot@bot.tmi.twitch.tv PRIVMSG #chan :\001ACTION waves\001");
  drain(bot);
  fx->now += 1500;
  sendl(fx, bot, "PRIVMSG #chan :/ban alice");
  expect(bot, "@msg-id=unrecognized_cmd :tmi.twitch.tv NOTICE #chan "
              ":Unrecognized command: /ban");
  expect_none(bot);
  fx->now += 1500;
  sendl(fx, bot, "PRIVMSG #chan :.timeout alice 10");
  expect(bot, "@msg-id=unrecognized_cmd :tmi.twitch.tv NOTICE #chan "
              ":Unrecognized command: .timeout");
  expect_none(al);
  /* "..." and "/ " are ordinary text. */
  sendl(fx, bot, "PRIVMSG #chan :...");
  expect(al, ":bot!bot@bot.tmi.twitch.tv PRIVMSG #chan :...");
  /* Blank messages go nowhere. */
  fx->now += 1500;
  sendl(fx, bot, "PRIVMSG #chan :   ");
  expect_none(al);
  /* Text that is not UTF-8 is refused: it could not go out over WSS. */
  fx->now += 1500;
  drain(bot);
  sendl(fx, bot, "PRIVMSG #chan :bad \xc3\x28 bytes");
  sendl(fx, bot, "PRIVMSG #chan :overlong \xc0\xaf");
  sendl(fx, bot, "PRIVMSG #chan :surrogate \xed\xa0\x80");
  sendl(fx, bot, "PRIVMSG #chan :cut \xe2\x82");
  expect(bot, "@msg-id=msg_bad_characters :tmi.twitch.tv NOTICE #chan :Your "
              "message was not sent because it contained too many "
              "unprocessable characters. If you believe this is an error, "
              "please rephrase and try again.");
  assert_int_equal(drain(bot), 3);
  expect_none(al);
  sendl(fx, bot, "PRIVMSG #chan :fine \xf0\x9f\x98\x80");
  assert_non_null(pop(al));
  /* An unknown command gets 421. */
  drain(bot);
  sendl(fx, bot, "WHO #chan");
  expect(bot, ":tmi.twitch.tv 421 bot WHO :Unknown command");
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.dropped_other, 3 + 4);
  fx_free(fx);
}

static void test_no_edit_scope_and_no_room(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.no_auto_rooms = 1};
  fx_t *fx = fx_new(&o);
  tw_sim_room_t r = {.name = "chan"};
  tw__simchat_add_room(fx->sc, &r);
  tw_sim_room_t s = {.name = "gone", .suspended = 1};
  tw__simchat_add_room(fx->sc, &s);
  assert_int_equal(
      tw__simchat_add_token(fx->sc, "tokro", "bot", TW_SIM_TOKEN_NO_EDIT), 0);
  tw_simchat_conn_t *al = joined(fx, "alice", FULLCAPS, "chan");
  tw_simchat_conn_t *c = conn(fx);
  sendl(fx, c, FULLCAPS);
  sendl(fx, c, "PASS oauth:tokro");
  sendl(fx, c, "NICK bot");
  sendl(fx, c, "JOIN #chan");
  drain(c);
  drain(al);
  sendl(fx, c, "PRIVMSG #chan :can't");
  expect_none(c);
  expect_none(al);
  sendl(fx, al, "PRIVMSG #nowhere :x");
  expect_none(al);
  sendl(fx, al, "PRIVMSG #gone :x");
  expect(al, "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #gone :This "
             "channel does not exist or has been suspended.");
  expect_none(al);
  int n = 0;
  for (int i = 0; i < fx->nev; i++)
    if (fx->ev[i] == TW_SIM_EV_DROPPED)
      n++;
  assert_int_equal(n, 3);
  fx_free(fx);
}

/* ---- keepalive ---------------------------------------------------------- */

static void test_ping_pong(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.ping_interval_ms = 60000, .pong_timeout_ms = 5000};
  fx_t *fx = fx_new(&o);
  tw_simchat_conn_t *c = login_as(fx, "bot", FULLCAPS);
  tw_simchat_conn_t *d = login_as(fx, "alice", FULLCAPS);
  sendl(fx, c, "PING :tmi.twitch.tv");
  expect(c, ":tmi.twitch.tv PONG tmi.twitch.tv :tmi.twitch.tv");
  sendl(fx, c, "PING :x y");
  expect(c, ":tmi.twitch.tv PONG tmi.twitch.tv :x y");
  sendl(fx, c, "PING abc");
  expect(c, ":tmi.twitch.tv PONG tmi.twitch.tv :abc");
  /* Before login, too. */
  tw_simchat_conn_t *e = conn(fx);
  sendl(fx, e, "PING :early");
  expect(e, ":tmi.twitch.tv PONG tmi.twitch.tv :early");
  tw__simchat_conn_free(e, fx->now);

  fx->now += 59999;
  tw__simchat_tick(fx->sc, fx->now);
  expect_none(c);
  fx->now += 1;
  tw__simchat_tick(fx->sc, fx->now);
  expect(c, "PING :tmi.twitch.tv");
  expect(d, "PING :tmi.twitch.tv");
  sendl(fx, c, "PONG :tmi.twitch.tv");
  fx->now += 4999;
  tw__simchat_tick(fx->sc, fx->now);
  assert_int_equal(fx->nclosed, 0);
  fx->now += 1;
  tw__simchat_tick(fx->sc, fx->now);
  /* d did not answer. */
  assert_int_equal(fx->nclosed, 1);
  int abrupt = -1;
  assert_true(was_closed(fx, d, &abrupt));
  assert_int_equal(abrupt, 0);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.ping_timeouts, 1);
  assert_int_equal(k.pings_sent, 2);
  /* The next round comes a full interval after the last. */
  fx->now += 55000;
  tw__simchat_tick(fx->sc, fx->now);
  expect(c, "PING :tmi.twitch.tv");
  /* A PING on demand arms the timeout as well. */
  sendl(fx, c, "PONG :tmi.twitch.tv");
  assert_int_equal(tw__simchat_ping(fx->sc, tw__simchat_conn_id(c), fx->now),
                   1);
  expect(c, "PING :tmi.twitch.tv");
  fx->now += 5000;
  tw__simchat_tick(fx->sc, fx->now);
  assert_true(was_closed(fx, c, NULL));
  assert_int_equal(tw__simchat_ping(fx->sc, 999, fx->now), TW_ENOTFOUND);
  fx_free(fx);
}

/* ---- limits ------------------------------------------------------------- */

static void test_ratelimit_20_per_30s(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "chan");
  drain(bot);
  /* 21 messages 1.1 s apart: all within 30 s, none faster than 1/s. */
  for (int i = 0; i < 21; i++) {
    sendf(fx, bot, "PRIVMSG #chan :message %d", i);
    fx->now += 1100;
  }
  assert_int_equal(drain(al), 20);
  tw_sim_user_counters_t uc;
  assert_int_equal(tw__simchat_user_counters(fx->sc, "bot", &uc), 0);
  assert_int_equal(uc.sent, 20);
  assert_int_equal(uc.dropped_ratelimit, 1);
  assert_int_equal(uc.dropped_room_rate, 0);
  /* Dropped silently by default: 20 USERSTATEs, no NOTICE. */
  assert_int_equal(drain(bot), 20);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.dropped_ratelimit, 1);
  /* Once the first message is 30 s old, there is room again. */
  fx->now = T0 + 30000;
  sendl(fx, bot, "PRIVMSG #chan :after the window");
  assert_int_equal(drain(al), 1);
  /* Dropped messages do not count. */
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.sent, 21);
  assert_int_equal(tw__simchat_user_counters(fx->sc, "nobody", &uc),
                   TW_ENOTFOUND);
  fx_free(fx);
}

static void test_ratelimit_privileged(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.notice_account_ratelimit = 1};
  fx_t *fx = fx_new(&o);
  tw__simchat_set_role(fx->sc, "modroom", "bot", TW_SIM_ROLE_MOD);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  sendl(fx, bot, "JOIN #modroom");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "modroom");
  drain(bot);
  /* 20 non-privileged messages fill the shared window... */
  for (int i = 0; i < 20; i++) {
    sendf(fx, bot, "PRIVMSG #chan :plain %d", i);
    fx->now += 1000;
  }
  sendl(fx, bot, "PRIVMSG #chan :one too many");
  tw_sim_user_counters_t uc;
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.dropped_ratelimit, 1);
  drain(bot);
  /* ...and privileged ones go on, back to back, until 100 in the window. */
  for (int i = 0; i < 81; i++)
    sendf(fx, bot, "PRIVMSG #modroom :mod %d", i);
  assert_int_equal(drain(al), 80);
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.sent, 100);
  assert_int_equal(uc.dropped_ratelimit, 2);
  assert_int_equal(uc.dropped_room_rate, 0);
  /* The NOTICE was asked for. */
  const char *l, *last = NULL;
  while ((l = pop(bot)))
    last = l;
  assert_string_equal(last, "@msg-id=msg_ratelimit :tmi.twitch.tv NOTICE "
                            "#modroom :Your message was not sent because you "
                            "are sending messages too quickly.");
  fx_free(fx);
}

static void test_ratelimit_privileged_100(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  /* The broadcaster in its own room: 100 per 30 s, no 1/s rule. */
  tw_simchat_conn_t *ch = conn(fx);
  tw__simchat_add_token(fx->sc, "tokchan", "chan", 0);
  sendl(fx, ch, "PASS oauth:tokchan");
  sendl(fx, ch, "NICK chan");
  sendl(fx, ch, "JOIN #chan");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "chan");
  for (int i = 0; i < 101; i++)
    sendf(fx, ch, "PRIVMSG #chan :broadcast %d", i);
  assert_int_equal(drain(al), 100);
  tw_sim_user_counters_t uc;
  tw__simchat_user_counters(fx->sc, "chan", &uc);
  assert_int_equal(uc.dropped_ratelimit, 1);
  /* A verified bot gets its own, larger window. */
  tw_sim_user_t vb = {.login = "vbot", .verified_bot = 1};
  tw__simchat_add_user(fx->sc, &vb);
  tw__simchat_add_token(fx->sc, "tokvbot", "vbot", 0);
  tw_simchat_conn_t *v = joined(fx, "vbot", NULL, "chan");
  drain(al);
  /* Still one per second in a room where it is not privileged. */
  for (int i = 0; i < 25; i++) {
    sendf(fx, v, "PRIVMSG #chan :v %d", i);
    sendf(fx, v, "PRIVMSG #chan :too fast %d", i);
    fx->now += 1000;
  }
  assert_int_equal(drain(al), 25);
  tw__simchat_user_counters(fx->sc, "vbot", &uc);
  assert_int_equal(uc.dropped_room_rate, 25);
  assert_int_equal(uc.dropped_ratelimit, 0);
  fx_free(fx);
}

static void test_room_rate(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  sendl(fx, bot, "JOIN #other");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "chan");
  sendl(fx, al, "JOIN #other");
  drain(bot);
  drain(al);
  sendl(fx, bot, "PRIVMSG #chan :one");
  fx->now += 999;
  sendl(fx, bot, "PRIVMSG #chan :two");
  /* Another room has its own clock. */
  sendl(fx, bot, "PRIVMSG #other :elsewhere");
  assert_int_equal(drain(al), 2);
  assert_non_null(strstr(pop(bot), "USERSTATE #chan"));
  expect(bot, "@msg-id=msg_ratelimit :tmi.twitch.tv NOTICE #chan :Your "
              "message was not sent because you are sending messages too "
              "quickly.");
  assert_non_null(strstr(pop(bot), "USERSTATE #other"));
  fx->now += 1;
  sendl(fx, bot, "PRIVMSG #chan :three");
  assert_int_equal(drain(al), 1);
  tw_sim_user_counters_t uc;
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.dropped_room_rate, 1);
  assert_int_equal(uc.sent, 3);
  int seen = 0;
  for (int i = 0; i < fx->nev; i++)
    if (fx->ev[i] == TW_SIM_EV_DROPPED) {
      assert_int_equal(fx->reason[i], TW_SIM_DROP_ROOM_RATE);
      seen++;
    }
  assert_int_equal(seen, 1);
  fx_free(fx);
}

static void test_room_rate_silent_and_off(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.no_room_rate_notice = 1};
  fx_t *fx = fx_new(&o);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  sendl(fx, bot, "PRIVMSG #chan :a");
  sendl(fx, bot, "PRIVMSG #chan :b");
  assert_int_equal(drain(bot), 1); /* one USERSTATE, no NOTICE */
  fx_free(fx);
  tw_sim_chat_opts_t off = {.room_interval_ms = TW_SIM_OFF};
  fx = fx_new(&off);
  bot = joined(fx, "bot", FULLCAPS, "chan");
  sendl(fx, bot, "PRIVMSG #chan :a");
  sendl(fx, bot, "PRIVMSG #chan :b");
  assert_int_equal(drain(bot), 2);
  fx_free(fx);
}

static void test_duplicates(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "chan");
  drain(bot);
  sendl(fx, bot, "PRIVMSG #chan :same");
  fx->now += 2000;
  sendl(fx, bot, "PRIVMSG #chan :same");
  assert_int_equal(drain(al), 1);
  pop(bot);
  expect(bot, "@msg-id=msg_duplicate :tmi.twitch.tv NOTICE #chan :Your "
              "message was not sent because it is identical to the previous "
              "one you sent, less than 30 seconds ago.");
  /* Only the previous message counts: a different one in between resets. */
  fx->now += 2000;
  sendl(fx, bot, "PRIVMSG #chan :different");
  fx->now += 2000;
  sendl(fx, bot, "PRIVMSG #chan :same");
  assert_int_equal(drain(al), 2);
  /* After 30 s the same text is fine again. */
  fx->now += 30000;
  sendl(fx, bot, "PRIVMSG #chan :same");
  assert_int_equal(drain(al), 1);
  tw_sim_user_counters_t uc;
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.dropped_duplicate, 1);
  /* /me of the same text is the same text. */
  fx->now += 2000;
  sendl(fx, bot, "PRIVMSG #chan :/me same");
  assert_int_equal(drain(al), 0);
  fx_free(fx);
}

static void test_too_long(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "chan");
  drain(bot);
  /* 500 code points of two bytes each: accepted. */
  char text[1100];
  size_t o = 0;
  for (int i = 0; i < 500; i++) {
    text[o++] = (char)0xc3;
    text[o++] = (char)0xa9;
  }
  text[o] = '\0';
  sendf(fx, bot, "PRIVMSG #chan :%s", text);
  assert_int_equal(drain(al), 1);
  /* 501 ASCII characters: dropped, counted, no NOTICE. */
  memset(text, 'x', 501);
  text[501] = '\0';
  fx->now += 2000;
  drain(bot);
  sendf(fx, bot, "PRIVMSG #chan :%s", text);
  assert_int_equal(drain(al), 0);
  expect_none(bot);
  tw_sim_user_counters_t uc;
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.dropped_too_long, 1);
  /* For /me the wrapper does not count. */
  memset(text, 'y', 500);
  text[500] = '\0';
  fx->now += 2000;
  sendf(fx, bot, "PRIVMSG #chan :\001ACTION %s\001", text);
  assert_int_equal(drain(al), 1);
  fx_free(fx);
}

static void test_lockout(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.rate_limit = 2, .lockout_ms = 60000};
  fx_t *fx = fx_new(&o);
  tw_simchat_conn_t *bot = joined(fx, "bot", NULL, "chan");
  tw_simchat_conn_t *al = joined(fx, "alice", NULL, "chan");
  for (int i = 0; i < 3; i++) {
    sendf(fx, bot, "PRIVMSG #chan :m%d", i);
    fx->now += 1000;
  }
  assert_int_equal(drain(al), 2);
  /* The window has room again after 30 s, but the lockout lasts 60 s. */
  fx->now = T0 + 2000 + 40000;
  sendl(fx, bot, "PRIVMSG #chan :still locked");
  assert_int_equal(drain(al), 0);
  fx->now = T0 + 2000 + 60000;
  sendl(fx, bot, "PRIVMSG #chan :free again");
  assert_int_equal(drain(al), 1);
  fx_free(fx);
}

static void test_join_limit_and_room_cap(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = login_as(fx, "bot", NULL);
  /* 21 JOINs in one line, within 10 s: the 21st is dropped. */
  char line[1024] = "JOIN ";
  for (int i = 0; i < 21; i++) {
    char r[16];
    snprintf(r, sizeof(r), "%s#r%d", i ? "," : "", i);
    size_t n = strlen(line);
    snprintf(line + n, sizeof(line) - n, "%s", r);
  }
  sendl(fx, bot, line);
  tw_sim_conn_info_t info;
  tw__simchat_conn_info(fx->sc, tw__simchat_conn_id(bot), &info);
  assert_int_equal(info.nrooms, 20);
  tw_sim_user_counters_t uc;
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.joins, 20);
  assert_int_equal(uc.joins_dropped, 1);
  /* 10 s later there is room for 20 more. */
  fx->now += 10000;
  sendl(fx, bot, "JOIN #r20");
  tw__simchat_conn_info(fx->sc, tw__simchat_conn_id(bot), &info);
  assert_int_equal(info.nrooms, 21);
  /* The per-connection room cap. */
  tw_sim_chat_opts_t o = {.join_window_ms = TW_SIM_OFF};
  fx_t *fy = fx_new(&o);
  tw_simchat_conn_t *c = login_as(fy, "bot", NULL);
  for (int i = 0; i < TW_SIM_MAX_CONN_ROOMS + 5; i++)
    sendf(fy, c, "JOIN #room%d", i);
  tw__simchat_conn_info(fy->sc, tw__simchat_conn_id(c), &info);
  assert_int_equal(info.nrooms, TW_SIM_MAX_CONN_ROOMS);
  tw_sim_counters_t k;
  tw__simchat_counters(fy->sc, &k);
  assert_int_equal(k.joins_dropped, 5);
  fx_free(fy);
  fx_free(fx);
}

/* ---- bounds ------------------------------------------------------------- */

static void test_slow_client_and_max_conns(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.max_output = 4096,
                          .max_conns = 4,
                          .room_interval_ms = TW_SIM_OFF,
                          .rate_limit_priv = 1000};
  fx_t *fx = fx_new(&o);
  tw_simchat_conn_t *slow = joined(fx, "alice", FULLCAPS, "chan");
  tw_simchat_conn_t *ch = conn(fx);
  tw__simchat_add_token(fx->sc, "tokchan", "chan", 0);
  sendl(fx, ch, "PASS oauth:tokchan");
  sendl(fx, ch, "NICK chan");
  sendl(fx, ch, "JOIN #chan");
  tw_simchat_conn_t *bob = joined(fx, "bob", NULL, "chan");
  /* The slow client never reads; the broadcaster talks until it is cut.
   * Whoever else is in the room gets every message, the one that cut the
   * slow client off included. */
  int sent = 0, got = 0;
  for (int i = 0; i < 100 && !was_closed(fx, slow, NULL); i++) {
    sendf(fx, ch, "PRIVMSG #chan :message number %d", i);
    sent++;
    drain(ch);
    got += drain(bob);
  }
  assert_int_equal(got, sent);
  int abrupt = 0;
  assert_true(was_closed(fx, slow, &abrupt));
  assert_int_equal(abrupt, 1);
  const char *p;
  assert_true(tw__simchat_out_peek(slow, &p) <= 4096);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.slow_disconnects, 1);
  /* It left the room at once. */
  assert_int_equal(
      tw__simchat_conn_in_room(fx->sc, tw__simchat_conn_id(slow), "chan"), 0);
  tw__simchat_conn_free(slow, fx->now);
  /* Max connections: ch, bob and two more. */
  conn(fx);
  conn(fx);
  tw_simchat_conn_t *x;
  assert_int_equal(
      tw__simchat_conn_new(fx->sc, TW_SIM_TRANSPORT_NONE, NULL, fx->now, &x),
      TW_EFULL);
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.conns_refused, 1);
  assert_int_equal(k.conns_open, 4);
  fx_free(fx);
}

static void test_long_and_bad_lines(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = login_as(fx, "bot", FULLCAPS);
  char *big = malloc(TW_SIM_MAX_IN_LINE + 100);
  assert_non_null(big);
  memset(big, 'a', TW_SIM_MAX_IN_LINE + 98);
  memcpy(big + TW_SIM_MAX_IN_LINE + 98, "\r\n", 2);
  tw__simchat_feed(c, big, TW_SIM_MAX_IN_LINE + 100, fx->now);
  free(big);
  sendl(fx, c, "PING :still here");
  expect(c, ":tmi.twitch.tv PONG tmi.twitch.tv :still here");
  /* Garbage: parser rejects, nothing breaks. */
  static const char junk[] = "@\r\n:only\r\n@a=b\r\n\x01\x02\r\n : \r\n@;; "
                             "PRIVMSG\r\nPRIVMSG\r\nPRIVMSG #chan\r\nJOIN\r\n"
                             "PART\r\nCAP\r\nCAP REQ\r\nNICK\r\n";
  tw__simchat_feed(c, junk, sizeof(junk) - 1, fx->now);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.lines_too_long, 1);
  assert_true(k.lines_bad >= 3);
  assert_int_equal(fx->nclosed, 0);
  fx_free(fx);
}

/* ---- WebSocket framing -------------------------------------------------- */

static void test_feed_ws_messages(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = conn(fx);
  /* Several lines per message; the last one without CR LF (tmi.js sends
   * every line as its own message without a terminator). */
  static const char msg[] = "CAP REQ :twitch.tv/tags twitch.tv/commands\r\n"
                            "PASS oauth:tokbot\r\nNICK bot";
  tw__simchat_feed_msg(c, msg, sizeof(msg) - 1, fx->now);
  expect(c, ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands");
  expect(c, ":tmi.twitch.tv 001 bot :Welcome, GLHF!");
  drain(c);
  tw__simchat_feed_msg(c, "JOIN #chan", 10, fx->now);
  assert_int_equal(drain(c), 5);
  fx_free(fx);
}

/* ---- read-back ---------------------------------------------------------- */

typedef struct {
  int n;
  char lines[16][128];
  uint64_t conns[16];
  char logins[16][32];
  uint64_t seqs[16];
} sent_t;

static int collect(void *ud, const tw_sim_sent_t *s) {
  sent_t *st = ud;
  if (st->n < 16) {
    snprintf(st->lines[st->n], 128, "%s", s->line);
    snprintf(st->logins[st->n], 32, "%s", s->login);
    st->conns[st->n] = s->conn;
    st->seqs[st->n] = s->seq;
  }
  st->n++;
  return 0;
}

static int stop_after_one(void *ud, const tw_sim_sent_t *s) {
  (void)s;
  (*(int *)ud)++;
  return 1;
}

static void test_read_back(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = conn(fx);
  sendl(fx, c, "PASS oauth:tokbot");
  sendl(fx, c, "NICK bot");
  sendl(fx, c, "JOIN #chan");
  tw_simchat_conn_t *d = conn(fx);
  sendl(fx, d, "NICK justinfan7");
  sendl(fx, c, "PRIVMSG #chan :hi");
  sent_t st = {0};
  assert_int_equal(tw__simchat_sent_foreach(fx->sc, 0, NULL, 0, collect, &st),
                   5);
  assert_string_equal(st.lines[0], "PASS oauth:tokbot");
  assert_string_equal(st.logins[0], "");
  assert_string_equal(st.lines[1], "NICK bot");
  assert_string_equal(st.lines[2], "JOIN #chan");
  assert_string_equal(st.logins[2], "bot");
  assert_int_equal(st.conns[2], tw__simchat_conn_id(c));
  assert_string_equal(st.lines[3], "NICK justinfan7");
  assert_int_equal(st.conns[3], tw__simchat_conn_id(d));
  assert_string_equal(st.lines[4], "PRIVMSG #chan :hi");
  for (int i = 1; i < 5; i++)
    assert_true(st.seqs[i] == st.seqs[i - 1] + 1);
  memset(&st, 0, sizeof(st));
  tw__simchat_sent_foreach(fx->sc, tw__simchat_conn_id(d), NULL, 0, collect,
                           &st);
  assert_int_equal(st.n, 1);
  memset(&st, 0, sizeof(st));
  tw__simchat_sent_foreach(fx->sc, 0, "bot", 0, collect, &st);
  assert_int_equal(st.n, 2);
  memset(&st, 0, sizeof(st));
  uint64_t last = tw__simchat_sent_last_seq(fx->sc);
  tw__simchat_sent_foreach(fx->sc, 0, NULL, last - 1, collect, &st);
  assert_int_equal(st.n, 1);
  assert_string_equal(st.lines[0], "PRIVMSG #chan :hi");
  int calls = 0;
  assert_int_equal(
      tw__simchat_sent_foreach(fx->sc, 0, NULL, 0, stop_after_one, &calls), 1);
  /* Lines survive their connection. */
  tw__simchat_conn_free(c, fx->now);
  memset(&st, 0, sizeof(st));
  tw__simchat_sent_foreach(fx->sc, 0, "bot", 0, collect, &st);
  assert_int_equal(st.n, 2);
  fx_free(fx);
}

/* ---- injection and faults ----------------------------------------------- */

static void test_inject(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *full = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *bare = joined(fx, "alice", NULL, "chan");
  tw_simchat_conn_t *tagsonly =
      joined(fx, "bob", "CAP REQ :twitch.tv/tags", "chan");
  drain(full);
  static const char un[] =
      "@badge-info=;badges=;color=;display-name=X;emotes=;id=1;login=x;mod=0;"
      "msg-id=raid;room-id=777;subscriber=0;system-msg=hi;tmi-sent-ts=1;user-"
      "id=9;user-type= :tmi.twitch.tv USERNOTICE #chan";
  assert_int_equal(
      tw__simchat_inject_room(fx->sc, "#chan", un, sizeof(un) - 1, fx->now), 1);
  expect(full, un);
  expect_none(bare);
  expect_none(tagsonly);
  static const char pm[] =
      "@display-name=Zed\\sZ;id=aaaa-1;user-id=99 :zed!zed@zed.tmi.twitch.tv "
      "PRIVMSG #chan :injected";
  assert_int_equal(
      tw__simchat_inject_room(fx->sc, "chan", pm, sizeof(pm) - 1, fx->now), 3);
  expect(full, pm);
  expect(bare, ":zed!zed@zed.tmi.twitch.tv PRIVMSG #chan :injected");
  expect(tagsonly, pm);
  /* An injected message with an id can be replied to. */
  sendl(fx, full, "@reply-parent-msg-id=aaaa-1 PRIVMSG #chan :reply");
  const char *line = pop(tagsonly);
  tw_irc_msg_t m;
  tw_irc_privmsg_t v;
  parse_privmsg(line, &m, &v);
  assert_true(tw_irc_str_eq(v.reply.user_login, "zed"));
  assert_true(tag_is(&m, "reply-parent-display-name", "Zed\\sZ"));
  assert_true(tag_is(&m, "reply-parent-user-id", "99"));
  drain(full);
  drain(bare);
  /* Other users' JOIN only with membership. */
  static const char j[] = ":zed!zed@zed.tmi.twitch.tv JOIN #chan";
  assert_int_equal(
      tw__simchat_inject_room(fx->sc, "chan", j, sizeof(j) - 1, fx->now), 1);
  expect(full, j);
  expect_none(bare);
  /* Twitch parting a client takes it out of the room. */
  static const char p[] = ":alice!alice@alice.tmi.twitch.tv PART #chan";
  assert_int_equal(tw__simchat_inject_conn(fx->sc, tw__simchat_conn_id(bare), p,
                                           sizeof(p) - 1, fx->now),
                   1);
  expect(bare, p);
  assert_int_equal(
      tw__simchat_conn_in_room(fx->sc, tw__simchat_conn_id(bare), "chan"), 0);
  /* Errors. */
  assert_int_equal(
      tw__simchat_inject_room(fx->sc, "nope", j, sizeof(j) - 1, fx->now),
      TW_ENOTFOUND);
  assert_int_equal(tw__simchat_inject_room(fx->sc, "chan", "@x", 2, fx->now),
                   TW_EINVAL);
  assert_int_equal(tw__simchat_inject_conn(fx->sc, 12345, j, 3, fx->now),
                   TW_ENOTFOUND);
  assert_int_equal(tw__simchat_inject_room(fx->sc, "#BAD", j, 3, fx->now),
                   TW_EINVAL);
  /* To one connection, even before login. */
  tw_simchat_conn_t *pre = conn(fx);
  assert_int_equal(tw__simchat_inject_conn(fx->sc, tw__simchat_conn_id(pre),
                                           "PING :x", 7, fx->now),
                   1);
  expect(pre, "PING :x");
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.injected, 1 + 3 + 1 + 1 + 1);
  fx_free(fx);
}

static void test_say(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *bot = joined(fx, "bot", FULLCAPS, "chan");
  tw__simchat_set_role(fx->sc, "chan", "carol", TW_SIM_ROLE_MOD);
  char id[TW_SIM_MSG_ID_SIZE];
  /* No limits for say(): 30 messages back to back. */
  for (int i = 0; i < 30; i++)
    assert_int_equal(
        tw__simchat_say(fx->sc, "#chan", "carol", "!hello", NULL, id, fx->now),
        1);
  const char *line = pop(bot);
  tw_irc_msg_t m;
  tw_irc_privmsg_t v;
  parse_privmsg(line, &m, &v);
  assert_true(tw_irc_str_eq(v.text, "!hello"));
  assert_int_equal(v.sender.mod, 1);
  assert_true(is_uuid(v.id));
  assert_true(tw_irc_str_eq(v.room_id, "777"));
  assert_int_equal(drain(bot), 29);
  assert_int_equal(tw__simchat_say(fx->sc, "#chan", "carol", "/me dances", NULL,
                                   NULL, fx->now),
                   1);
  line = pop(bot);
  parse_privmsg(line, &m, &v);
  assert_int_equal(v.is_action, 1);
  assert_true(tw_irc_str_eq(v.text, "dances"));
  assert_int_equal(
      tw__simchat_say(fx->sc, "#nope", "carol", "x", NULL, NULL, fx->now),
      TW_ENOTFOUND);
  assert_int_equal(
      tw__simchat_say(fx->sc, "#chan", "Carol!", "x", NULL, NULL, fx->now),
      TW_EINVAL);
  assert_int_equal(
      tw__simchat_say(fx->sc, "#chan", "carol", "a\r\nb", NULL, NULL, fx->now),
      TW_EINVAL);
  fx_free(fx);
}

static void test_reconnect_drop_stall(void **state) {
  (void)state;
  tw_sim_chat_opts_t o = {.ping_interval_ms = 10000, .pong_timeout_ms = 1000};
  fx_t *fx = fx_new(&o);
  tw_simchat_conn_t *a = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *b = joined(fx, "alice", NULL, "chan");
  drain(a);
  assert_int_equal(tw__simchat_reconnect(fx->sc, 0, 500, fx->now), 2);
  expect(a, ":tmi.twitch.tv RECONNECT");
  expect_none(b); /* needs twitch.tv/commands */
  fx->now += 499;
  tw__simchat_tick(fx->sc, fx->now);
  assert_int_equal(fx->nclosed, 0);
  fx->now += 1;
  tw__simchat_tick(fx->sc, fx->now);
  assert_int_equal(fx->nclosed, 2);
  tw__simchat_conn_free(a, fx->now);
  tw__simchat_conn_free(b, fx->now);

  tw_simchat_conn_t *c = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *d = joined(fx, "alice", FULLCAPS, "chan");
  drain(c);
  assert_int_equal(tw__simchat_drop(fx->sc, tw__simchat_conn_id(d)), 1);
  int abrupt = 0;
  assert_true(was_closed(fx, d, &abrupt));
  assert_int_equal(abrupt, 1);
  assert_int_equal(tw__simchat_drop(fx->sc, tw__simchat_conn_id(d)),
                   TW_ENOTFOUND);
  tw__simchat_conn_free(d, fx->now);
  expect(c, ":alice!alice@alice.tmi.twitch.tv PART #chan");

  /* Stall: no wake-ups, input discarded, no PONG timeout. */
  uint64_t cid = tw__simchat_conn_id(c);
  assert_int_equal(tw__simchat_stall(fx->sc, cid, 1, fx->now), 1);
  int wakes = fx->wakes;
  tw__simchat_say(fx->sc, "chan", "carol", "while stalled", NULL, NULL,
                  fx->now);
  assert_int_equal(fx->wakes, wakes);
  sendl(fx, c, "PRIVMSG #chan :unheard");
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_true(k.stalled_bytes > 0);
  assert_int_equal(k.privmsgs, 0);
  fx->now += 60000;
  tw__simchat_tick(fx->sc, fx->now);
  assert_false(was_closed(fx, c, NULL));
  tw_sim_conn_info_t info;
  tw__simchat_conn_info(fx->sc, cid, &info);
  assert_int_equal(info.stalled, 1);
  assert_true(info.queued > 0);
  /* Resume: what queued is announced, and the keepalive starts afresh. */
  assert_int_equal(tw__simchat_stall(fx->sc, cid, 0, fx->now), 1);
  assert_int_equal(fx->wakes, wakes + 1);
  assert_non_null(strstr(pop(c), "while stalled"));
  expect_none(c);
  sendl(fx, c, "PING :back");
  expect(c, ":tmi.twitch.tv PONG tmi.twitch.tv :back");
  assert_int_equal(tw__simchat_stall(fx->sc, 999, 1, fx->now), TW_ENOTFOUND);
  fx_free(fx);
}

/* ---- floods ------------------------------------------------------------- */

static void test_flood(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *a = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *b = joined(fx, "alice", NULL, "chan");
  drain(a);
  static const char src[] =
      "@id=1;room-id=5 :x!x@x.tmi.twitch.tv PRIVMSG #xqcow :one\n"
      "@room-id=5 :tmi.twitch.tv CLEARCHAT #xqcow :x\r\n"
      "\n"
      "@only=tags\n"
      "@id=3 :y!y@y.tmi.twitch.tv PRIVMSG #xqcow :three";
  assert_int_equal(
      tw__simchat_flood(fx->sc, "#chan", src, sizeof(src) - 1, 7, 0, fx->now),
      0);
  assert_int_equal(fx->flood_done, 7 + 1);
  expect(a, "@id=1;room-id=5 :x!x@x.tmi.twitch.tv PRIVMSG #chan :one");
  expect(a, "@room-id=5 :tmi.twitch.tv CLEARCHAT #chan :x");
  assert_non_null(pop(a));
  assert_int_equal(drain(a), 4);
  /* Without tags or commands: tags stripped, CLEARCHAT filtered. */
  expect(b, ":x!x@x.tmi.twitch.tv PRIVMSG #chan :one");
  expect(b, ":y!y@y.tmi.twitch.tv PRIVMSG #chan :three");
  expect(b, ":x!x@x.tmi.twitch.tv PRIVMSG #chan :one");
  assert_int_equal(drain(b), 2);
  tw_sim_flood_status_t st;
  tw__simchat_flood_status(fx->sc, &st);
  assert_int_equal(st.active, 0);
  assert_int_equal(st.sent, 7);
  assert_string_equal(st.room, "chan");
  /* keep_channel leaves lines alone. */
  assert_int_equal(
      tw__simchat_flood(fx->sc, "chan", src, sizeof(src) - 1, 0, 1, fx->now),
      0);
  expect(a, "@id=1;room-id=5 :x!x@x.tmi.twitch.tv PRIVMSG #xqcow :one");
  drain(a);
  drain(b);
  /* Errors. */
  assert_int_equal(tw__simchat_flood(fx->sc, "nope", src, 10, 0, 0, fx->now),
                   TW_ENOTFOUND);
  assert_int_equal(tw__simchat_flood(fx->sc, "chan", "\n\n", 2, 0, 0, fx->now),
                   TW_EINVAL);
  fx_free(fx);
}

static void test_flood_paced_by_slowest(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *a = joined(fx, "bot", FULLCAPS, "chan");
  tw_simchat_conn_t *b = joined(fx, "alice", FULLCAPS, "chan");
  drain(a);
  drain(b);
  char line[200];
  memset(line, 0, sizeof(line));
  int n = snprintf(line, sizeof(line),
                   "@id=x :u!u@u.tmi.twitch.tv PRIVMSG #chan :%0120d", 7);
  assert_true(n > 0);
  /* 100000 lines of ~170 bytes: far more than the watermark. */
  assert_int_equal(
      tw__simchat_flood(fx->sc, "chan", line, (size_t)n, 100000, 0, fx->now),
      0);
  tw_sim_flood_status_t st;
  tw__simchat_flood_status(fx->sc, &st);
  assert_int_equal(st.active, 1);
  assert_true(st.sent > 0 && st.sent < 100000);
  const char *p;
  size_t qa = tw__simchat_out_peek(a, &p);
  assert_true(qa >= TW_SIM_FLOOD_WATERMARK);
  assert_true(qa < TW_SIM_FLOOD_WATERMARK + 70 * 1024);
  /* a reads; b does not: the flood waits for b. */
  tw__simchat_out_consume(a, qa);
  tw__simchat_pump(fx->sc, fx->now);
  tw_sim_flood_status_t st2;
  tw__simchat_flood_status(fx->sc, &st2);
  assert_int_equal(st2.sent, st.sent);
  /* Both read: it goes on, to the end. */
  uint64_t got = 0;
  for (int rounds = 0; rounds < 100000 && !fx->flood_done; rounds++) {
    size_t q = tw__simchat_out_peek(a, &p);
    for (size_t i = 0; i < q; i++)
      got += p[i] == '\n';
    tw__simchat_out_consume(a, q);
    tw__simchat_out_consume(b, tw__simchat_out_peek(b, &p));
    tw__simchat_pump(fx->sc, fx->now);
  }
  size_t q = tw__simchat_out_peek(a, &p);
  for (size_t i = 0; i < q; i++)
    got += p[i] == '\n';
  assert_int_equal(fx->flood_done, 100000 + 1);
  assert_int_equal(st.sent, qa / (size_t)(n + 2));
  assert_int_equal(got, 100000 - st.sent);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.flood_lines, 100000);
  assert_int_equal(k.slow_disconnects, 0);
  /* A second flood while one runs is refused; cancel stops it. */
  assert_int_equal(
      tw__simchat_flood(fx->sc, "chan", line, (size_t)n, 100000, 0, fx->now),
      0);
  assert_int_equal(
      tw__simchat_flood(fx->sc, "chan", line, (size_t)n, 1, 0, fx->now),
      TW_ESTATE);
  tw__simchat_flood_cancel(fx->sc);
  tw__simchat_flood_status(fx->sc, &st);
  assert_int_equal(st.active, 0);
  fx_free(fx);
}

/* ---- misc --------------------------------------------------------------- */

static void test_users_rooms_validation(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_sim_user_t bad[] = {
      {.login = "Upper"},
      {.login = ""},
      {.login = "abcdefghijklmnopqrstuvwxyz"},
      {.login = "ok", .user_id = "12a"},
      {.login = "ok", .color = "red"},
      {.login = "ok", .display_name = "a\nb"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(tw__simchat_add_user(fx->sc, &bad[i]), TW_EINVAL);
  assert_int_equal(tw__simchat_add_user(fx->sc, NULL), TW_EINVAL);
  assert_int_equal(tw__simchat_add_token(fx->sc, "has space", "ok", 0),
                   TW_EINVAL);
  assert_int_equal(tw__simchat_add_token(fx->sc, "t", "Bad", 0), TW_EINVAL);
  tw_sim_room_t r = {.name = "#x-y"};
  assert_int_equal(tw__simchat_add_room(fx->sc, &r), TW_EINVAL);
  tw_sim_room_t r2 = {.name = "#ok", .room_id = "abc"};
  assert_int_equal(tw__simchat_add_room(fx->sc, &r2), TW_EINVAL);
  assert_int_equal(tw__simchat_set_role(fx->sc, "ok", "ok", 7), TW_EINVAL);
  /* A display name with spaces and ';' is escaped in tags. */
  tw_sim_user_t u = {.login = "bot", .display_name = "Bot; The Great"};
  assert_int_equal(tw__simchat_add_user(fx->sc, &u), 0);
  tw_simchat_conn_t *c = conn(fx);
  sendl(fx, c, FULLCAPS);
  sendl(fx, c, "PASS oauth:tokbot");
  sendl(fx, c, "NICK bot");
  const char *l, *last = NULL;
  while ((l = pop(c)))
    last = l;
  assert_non_null(strstr(last, "display-name=Bot\\:\\sThe\\sGreat;"));
  /* Escaping helper. */
  char out[32];
  assert_int_equal(tw__sim_tag_escape("a; b\\\r\n", 7, out, sizeof(out)), 12);
  assert_string_equal(out, "a\\:\\sb\\\\\\r\\n");
  assert_int_equal(tw__sim_tag_escape("abcdef", 6, out, 4), TW_ETOOBIG);
  /* Options out of range. */
  tw_sim_chat_opts_t o = {.rate_limit = TW_SIM_MAX_RATE_LIMIT + 1};
  tw_simchat_t *sc;
  assert_int_equal(tw__simchat_new(&o, NULL, NULL, 1, 0, 0, &sc), TW_EINVAL);
  fx_free(fx);
}

static void test_counters_reset(void **state) {
  (void)state;
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = joined(fx, "bot", FULLCAPS, "chan");
  sendl(fx, c, "PRIVMSG #chan :a");
  sendl(fx, c, "PRIVMSG #chan :b");
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.privmsgs, 1);
  assert_int_equal(k.dropped_room_rate, 1);
  tw__simchat_counters_reset(fx->sc);
  tw__simchat_counters(fx->sc, &k);
  assert_int_equal(k.privmsgs, 0);
  assert_int_equal(k.dropped_room_rate, 0);
  assert_int_equal(k.conns_open, 1);
  tw_sim_user_counters_t uc;
  tw__simchat_user_counters(fx->sc, "bot", &uc);
  assert_int_equal(uc.sent, 0);
  assert_string_equal(tw_sim_drop_name(TW_SIM_DROP_ROOM_RATE), "room_rate");
  fx_free(fx);
}

/* Replaying the real corpus as client input breaks nothing. */
static void test_corpus_as_input(void **state) {
  (void)state;
  const char *path = getenv("TW_CORPUS");
  if (!path) {
    skip();
    return;
  }
  char cmd[1200];
  snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  fx_t *fx = fx_new(NULL);
  tw_simchat_conn_t *c = joined(fx, "bot", FULLCAPS, "xqcow");
  tw_simchat_conn_t *v = joined(fx, "alice", FULLCAPS, "xqcow");
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
    tw__simchat_feed(c, buf, n, fx->now);
    fx->now += 10;
    drain(c);
    drain(v);
  }
  pclose(f);
  tw_sim_counters_t k;
  tw__simchat_counters(fx->sc, &k);
  assert_true(k.lines_in >= 5000);
  assert_true(k.privmsgs >= 1);
  fx_free(fx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_login_full_caps),
      cmocka_unit_test(test_login_partial_caps),
      cmocka_unit_test(test_cap_nak_and_ls),
      cmocka_unit_test(test_login_failures),
      cmocka_unit_test(test_anonymous),
      cmocka_unit_test(test_join_replies),
      cmocka_unit_test(test_join_bad_rooms),
      cmocka_unit_test(test_part_and_membership),
      cmocka_unit_test(test_relay_tags_and_userstate),
      cmocka_unit_test(test_userstate_needs_commands),
      cmocka_unit_test(test_replies),
      cmocka_unit_test(test_action_and_commands),
      cmocka_unit_test(test_no_edit_scope_and_no_room),
      cmocka_unit_test(test_ping_pong),
      cmocka_unit_test(test_ratelimit_20_per_30s),
      cmocka_unit_test(test_ratelimit_privileged),
      cmocka_unit_test(test_ratelimit_privileged_100),
      cmocka_unit_test(test_room_rate),
      cmocka_unit_test(test_room_rate_silent_and_off),
      cmocka_unit_test(test_duplicates),
      cmocka_unit_test(test_too_long),
      cmocka_unit_test(test_lockout),
      cmocka_unit_test(test_join_limit_and_room_cap),
      cmocka_unit_test(test_slow_client_and_max_conns),
      cmocka_unit_test(test_long_and_bad_lines),
      cmocka_unit_test(test_feed_ws_messages),
      cmocka_unit_test(test_read_back),
      cmocka_unit_test(test_inject),
      cmocka_unit_test(test_say),
      cmocka_unit_test(test_reconnect_drop_stall),
      cmocka_unit_test(test_flood),
      cmocka_unit_test(test_flood_paced_by_slowest),
      cmocka_unit_test(test_users_rooms_validation),
      cmocka_unit_test(test_counters_reset),
      cmocka_unit_test(test_corpus_as_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
