/* The sans-IO chat session: login, joins, keepalives, reconnects, token
 * refresh, sending and the RECONNECT handover, with time driven by hand.
 * Event mapping is in test_chat_session_events.c. */
#include "test_chat_session_harness.h"

static const char *const CH1[] = {"#chan"};
static const char *const CH2[] = {"#alpha", "#beta"};

/* ---- login ----------------------------------------------------------------
 */

static void test_login_bytes_in_order(void **state) {
  tw_chat_opts_t o;
  tw_chat_stats_t st;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  o.login = "MyBot"; /* lower-cased for NICK */
  h = h_new(&o);
  assert_int_equal(tw_chat_session_start(h->s, h->now), 0);
  assert_int_equal(tw_chat_session_start(h->s, h->now), TW_ESTATE);
  assert_int_equal(h->nopened, 1);
  c = h_last_open(h);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_CONNECTING), 1);
  /* Nothing is written before the transport is up. */
  assert_int_equal(h->outlen[c], 0);
  tw_chat_session_conn_up(h->s, c, h->now);
  /* One write: CAP REQ, PASS with the "oauth:" prefix (given once), NICK. */
  assert_int_equal(h->writes[c], 1);
  assert_string_equal(h_take(h, c),
                      "CAP REQ :twitch.tv/tags twitch.tv/commands "
                      "twitch.tv/membership\r\n"
                      "PASS oauth:secrettoken123\r\n"
                      "NICK mybot\r\n");
  /* 001..376 alone is not a completed login with a token: Twitch's
   * GLOBALUSERSTATE comes last. */
  h_feed(h, c, ":tmi.twitch.tv 001 mybot :Welcome, GLHF!");
  h_feed(h, c, ":tmi.twitch.tv 376 mybot :>");
  assert_false(tw_chat_session_is_ready(h->s));
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_LOGGED_IN), 0);
  /* GLOBALUSERSTATE before 001 would not count either; after it, it does. */
  h_feed(h, c,
         "@badge-info=;badges=;color=;display-name=MyBot;emote-sets=0;user-id="
         "1;user-type= :tmi.twitch.tv GLOBALUSERSTATE");
  assert_true(tw_chat_session_is_ready(h->s));
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_LOGGED_IN), 1);
  h_stats(h, &st);
  assert_int_equal(st.logins, 1);
  assert_int_equal(st.reconnects, 0);
  assert_int_equal(st.connects, 1);
  h_free(h);
}

static void test_gus_before_001_does_not_log_in(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  h_feed(h, c, "@user-id=1 :tmi.twitch.tv GLOBALUSERSTATE");
  assert_false(tw_chat_session_is_ready(h->s));
  h_feed(h, c, ":tmi.twitch.tv 001 bot :Welcome, GLHF!");
  assert_false(tw_chat_session_is_ready(h->s));
  h_feed(h, c, "@user-id=1 :tmi.twitch.tv GLOBALUSERSTATE");
  assert_true(tw_chat_session_is_ready(h->s));
  h_free(h);
}

static void test_anonymous_login(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  const char *out, *nick;
  (void)state;
  h_opts(&o);
  o.token = NULL;
  o.login = NULL;
  o.channels = CH1;
  o.nchannels = 1;
  h = h_new(&o);
  h->rand_value = 123456789;
  nick = tw_chat_session_nick(h->s);
  assert_memory_equal(nick, "justinfan", 9);
  assert_true(strlen(nick) > 9);
  for (const char *p = nick + 9; *p; p++)
    assert_true(*p >= '0' && *p <= '9');
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  out = h_take(h, c);
  /* No PASS at all: the guest login is NICK justinfan<digits>. */
  assert_null(strstr(out, "PASS"));
  assert_non_null(strstr(out, "CAP REQ :twitch.tv/tags"));
  assert_non_null(strstr(out, "NICK justinfan"));
  h_feed(h, c, ":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!");
  assert_false(tw_chat_session_is_ready(h->s));
  /* Twitch sends no GLOBALUSERSTATE to guests: 376 ends their login. */
  h_feed(h, c, ":tmi.twitch.tv 376 justinfan1 :>");
  assert_true(tw_chat_session_is_ready(h->s));
  assert_string_equal(h_take(h, c), "JOIN #chan\r\n");
  /* Read-only. */
  assert_int_equal(tw_chat_session_say(h->s, "chan", "hi", NULL, false, h->now),
                   TW_EFORBIDDEN);
  /* A guest has no token to replace. */
  assert_int_equal(tw_chat_session_set_token(h->s, "abcdefgh", h->now),
                   TW_ESTATE);
  h_free(h);
}

static void test_bad_options(void **state) {
  tw_chat_opts_t o;
  tw_chat_session_t *s = NULL;
  tw_chat_session_ops_t ops = {h_open, h_close, h_write, NULL,
                               NULL,   NULL,    NULL};
  tw_chat_session_ops_t no_write = {h_open, h_close, NULL, NULL,
                                    NULL,   NULL,    NULL};
  const char *const bad_chan[] = {"#no spaces"};
  char detail[128];
  (void)state;

  h_opts(&o);
  o.token = "bad token"; /* a space would split the PASS line */
  assert_int_equal(
      tw_chat_session_new(&o, &ops, NULL, &s, detail, sizeof(detail)),
      TW_EINVAL);
  assert_null(s);
  assert_true(strlen(detail) > 0);
  o.token = "tok\r\nPRIVMSG #x :injected";
  assert_int_equal(tw_chat_session_new(&o, &ops, NULL, &s, NULL, 0), TW_EINVAL);
  h_opts(&o);
  o.login = "bad login";
  assert_int_equal(tw_chat_session_new(&o, &ops, NULL, &s, NULL, 0), TW_EINVAL);
  h_opts(&o);
  o.channels = bad_chan;
  o.nchannels = 1;
  assert_int_equal(
      tw_chat_session_new(&o, &ops, NULL, &s, detail, sizeof(detail)),
      TW_EINVAL);
  assert_non_null(strstr(detail, "no spaces"));
  h_opts(&o);
  o.ping_idle_ms = 0;
  assert_int_equal(tw_chat_session_new(&o, &ops, NULL, &s, NULL, 0), TW_EINVAL);
  h_opts(&o);
  o.send_normal_max = 0;
  assert_int_equal(tw_chat_session_new(&o, &ops, NULL, &s, NULL, 0), TW_EINVAL);
  h_opts(&o);
  o.nchannels = TW_MAX_CHAT_JOINS + 1;
  o.channels = CH1;
  assert_int_equal(tw_chat_session_new(&o, &ops, NULL, &s, NULL, 0),
                   TW_ETOOBIG);
  h_opts(&o);
  assert_int_equal(tw_chat_session_new(&o, &no_write, NULL, &s, NULL, 0),
                   TW_EINVAL);
  assert_int_equal(tw_chat_session_new(&o, &ops, NULL, &s, NULL, 0), 0);
  tw_chat_session_free(s);
}

static void test_login_timeout_reconnects_with_backoff(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c1, c2;
  const h_status_t *d;
  (void)state;
  h_opts(&o);
  o.login_timeout_ms = 5000;
  o.backoff_base_ms = 1000;
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c1 = h_last_open(h);
  tw_chat_session_conn_up(h->s, c1, h->now);
  /* Connected but the server says nothing. */
  h_advance(h, 4999);
  assert_false(h_was_closed(h, c1));
  h_advance(h, 1);
  assert_true(h_was_closed(h, c1));
  d = h_last_status(h, TW_CHAT_STATUS_DISCONNECTED);
  assert_non_null(d);
  assert_int_equal(d->err, TW_ETIMEDOUT);
  assert_int_equal(d->retry_in, 1000); /* the first ceiling: rand is max */
  assert_int_equal(h->nopened, 1);
  h_advance(h, 999);
  assert_int_equal(h->nopened, 1);
  h_advance(h, 1);
  assert_int_equal(h->nopened, 2);
  c2 = h_last_open(h);
  assert_true(c2 != c1);
  /* A connection that never comes up times out the same way. */
  h_advance(h, 5000);
  assert_true(h_was_closed(h, c2));
  d = h_last_status(h, TW_CHAT_STATUS_DISCONNECTED);
  assert_int_equal(d->retry_in, 2000);
  h_free(h);
}

/* ---- backoff ----------------------------------------------------------------
 */

static void test_backoff_grows_caps_and_resets(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t expect[] = {1000, 2000, 4000, 8000, 10000, 10000};
  (void)state;
  h_opts(&o);
  o.backoff_base_ms = 1000;
  o.backoff_cap_ms = 10000;
  o.backoff_healthy_ms = 30000;
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
    uint64_t c = h_last_open(h);
    uint64_t t0 = h->now;
    tw_chat_session_conn_closed(h->s, c, TW_ECONNREFUSED, h->now);
    assert_int_equal(h_last_status(h, TW_CHAT_STATUS_DISCONNECTED)->retry_in,
                     expect[i]);
    assert_int_equal(h_last_status(h, TW_CHAT_STATUS_DISCONNECTED)->err,
                     TW_ECONNREFUSED);
    /* Never sooner: the deadline is exactly the delay. */
    assert_int_equal(tw_chat_session_deadline(h->s), t0 + expect[i]);
    h_advance(h, expect[i] - 1);
    assert_int_equal(h->nopened, i + 1);
    h_advance(h, 1);
    assert_int_equal(h->nopened, i + 2);
  }
  /* A login that stays up for the healthy period resets the backoff. */
  h_login(h, h_last_open(h));
  h_advance(h, 29000);
  tw_chat_session_conn_closed(h->s, h_last_open(h), TW_ECLOSED, h->now);
  /* Not yet healthy long enough. */
  assert_int_equal(h_last_status(h, TW_CHAT_STATUS_DISCONNECTED)->retry_in,
                   10000);
  h_advance(h, 10000);
  h_login(h, h_last_open(h));
  h_advance(h, 30000);
  tw_chat_session_feed(h->s, h_last_open(h), "PING :tmi.twitch.tv", 19, h->now);
  tw_chat_session_conn_closed(h->s, h_last_open(h), TW_ECLOSED, h->now);
  assert_int_equal(h_last_status(h, TW_CHAT_STATUS_DISCONNECTED)->retry_in,
                   1000);
  /* Full jitter: with a random value of 0 the delay is 0. */
  h->rand_value = 0;
  h_advance(h, 1000);
  tw_chat_session_conn_closed(h->s, h_last_open(h), TW_ECLOSED, h->now);
  assert_int_equal(h_last_status(h, TW_CHAT_STATUS_DISCONNECTED)->retry_in, 0);
  h_free(h);
}

/* ---- joins ------------------------------------------------------------------
 */

static void test_join_limit_20_per_window(void **state) {
  tw_chat_opts_t o;
  const char *names[25];
  char buf[25][16];
  h_t *h;
  uint64_t c;
  (void)state;
  for (int i = 0; i < 25; i++) {
    snprintf(buf[i], sizeof(buf[i]), "#room%02d", i);
    names[i] = buf[i];
  }
  h_opts(&o);
  o.channels = names;
  o.nchannels = 25;
  o.join_timeout_ms = 60000; /* keep timeouts out of this test */
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  h_login(h, c);
  assert_int_equal(h_count_pending(h, c, "JOIN #"), 20);
  assert_int_equal(h_count_pending(h, c, "JOIN #room00"), 1);
  assert_int_equal(h_count_pending(h, c, "JOIN #room19"), 1);
  h_take(h, c);
  /* The window is 11 s (10 s and a margin): the 21st JOIN waits for it. */
  h_advance(h, 10999);
  assert_int_equal(h_count_pending(h, c, "JOIN #"), 0);
  h_advance(h, 1);
  assert_int_equal(h_count_pending(h, c, "JOIN #"), 5);
  assert_int_equal(h_count_pending(h, c, "JOIN #room24"), 1);
  h_free(h);
}

static void test_join_confirmed_by_roomstate(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  const h_status_t *j;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  h_login(h, c);
  assert_string_equal(h_take(h, c), "JOIN #chan\r\n");
  h_feed(h, c, ":bot!bot@bot.tmi.twitch.tv JOIN #chan");
  h_feed(h, c, ":bot.tmi.twitch.tv 366 bot #chan :End of /NAMES list");
  assert_false(tw_chat_session_is_joined(h->s, "chan"));
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOINED), 0);
  h_feed(h, c,
         "@emote-only=0;followers-only=-1;r9k=0;room-id=141981764;slow=0;subs-"
         "only=0 :tmi.twitch.tv ROOMSTATE #chan");
  assert_true(tw_chat_session_is_joined(h->s, "#chan"));
  j = h_last_status(h, TW_CHAT_STATUS_JOINED);
  assert_non_null(j);
  assert_string_equal(j->channel, "chan");
  /* A later mode change is not a second join. */
  h_feed(h, c, "@slow=10 :tmi.twitch.tv ROOMSTATE #chan");
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOINED), 1);
  /* Our own JOIN echo is not an event by default. */
  assert_int_equal(h->nev, 0);
  h_free(h);
}

static void test_join_failures_typed(void **state) {
  static const char *const chans[] = {"#gone", "#banned", "#tos", "#silent"};
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  const h_status_t *f;
  tw_chat_stats_t st;
  (void)state;
  h_opts(&o);
  o.channels = chans;
  o.nchannels = 4;
  o.join_timeout_ms = 5000;
  o.join_attempts = 2;
  o.ping_idle_ms = 3600000; /* keep the keepalive out of this test */
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  h_login(h, c);
  assert_int_equal(h_count_pending(h, c, "JOIN #"), 4);
  h_take(h, c);

  h_feed(h, c,
         "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #gone :This "
         "channel does not exist or has been suspended.");
  f = h_last_status(h, TW_CHAT_STATUS_JOIN_FAILED);
  assert_non_null(f);
  assert_string_equal(f->channel, "gone");
  assert_int_equal(f->err, TW_ENOTFOUND);
  assert_int_equal(f->retry_in, UINT64_MAX); /* not worth retrying */
  assert_non_null(strstr(f->detail, "suspended"));

  h_feed(h, c,
         "@msg-id=msg_banned :tmi.twitch.tv NOTICE #banned :You are "
         "permanently banned from talking in banned.");
  f = h_last_status(h, TW_CHAT_STATUS_JOIN_FAILED);
  assert_string_equal(f->channel, "banned");
  assert_int_equal(f->err, TW_EFORBIDDEN);

  h_feed(h, c,
         "@msg-id=tos_ban :tmi.twitch.tv NOTICE #tos :The community has "
         "closed channel tos due to Terms of Service violations.");
  f = h_last_status(h, TW_CHAT_STATUS_JOIN_FAILED);
  assert_string_equal(f->channel, "tos");
  assert_int_equal(f->err, TW_EFORBIDDEN);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOIN_FAILED), 3);

  /* #silent: a non-existent channel's JOIN is silently dropped by Twitch.
   * No confirmation within the timeout is a failure too, retried once. */
  h_advance(h, 4999);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOIN_FAILED), 3);
  h_advance(h, 1);
  f = h_last_status(h, TW_CHAT_STATUS_JOIN_FAILED);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOIN_FAILED), 4);
  assert_string_equal(f->channel, "silent");
  assert_int_equal(f->err, TW_ETIMEDOUT);
  assert_int_equal(f->retry_in, 5000);
  h_advance(h, 4999);
  assert_int_equal(h_count_pending(h, c, "JOIN #silent"), 0);
  h_advance(h, 1);
  assert_string_equal(h_take(h, c), "JOIN #silent\r\n");
  h_advance(h, 5000);
  f = h_last_status(h, TW_CHAT_STATUS_JOIN_FAILED);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOIN_FAILED), 5);
  assert_int_equal(f->retry_in, UINT64_MAX); /* attempts used up */
  h_advance(h, 60000);
  assert_int_equal(h_count_pending(h, c, "JOIN"), 0);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOIN_FAILED), 5);
  /* A failed join does not block sending for ever. */
  assert_int_equal(
      tw_chat_session_say(h->s, "other", "hello", NULL, false, h->now), 0);
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #other :hello"), 1);
  /* Asking again tries again. */
  h_take(h, c);
  assert_int_equal(tw_chat_session_join(h->s, "#silent", h->now), 0);
  assert_string_equal(h_take(h, c), "JOIN #silent\r\n");
  h_stats(h, &st);
  assert_int_equal(st.join_failures, 5);
  /* msg_banned for a joined room is a send refusal, not a join failure. */
  h_join_reply(h, c, "silent", NULL);
  h_feed(h, c,
         "@msg-id=msg_banned :tmi.twitch.tv NOTICE #silent :You are "
         "permanently banned from talking in silent.");
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_JOIN_FAILED), 5);
  assert_true(tw_chat_session_is_joined(h->s, "silent"));
  h_free(h);
}

static void test_join_part_at_runtime(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  tw_chat_stats_t st;
  const h_status_t *p;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  c = h_last_open(h);
  assert_int_equal(tw_chat_session_join(h->s, "NewRoom", h->now), 0);
  assert_string_equal(h_take(h, c), "JOIN #newroom\r\n");
  /* Joining again is a no-op. */
  assert_int_equal(tw_chat_session_join(h->s, "#newroom", h->now), 0);
  assert_string_equal(h_take(h, c), "");
  assert_int_equal(tw_chat_session_join(h->s, "bad name", h->now), TW_EINVAL);
  h_join_reply(h, c, "newroom", NULL);
  assert_true(tw_chat_session_is_joined(h->s, "newroom"));
  /* Leaving drops what was queued for that room. */
  assert_int_equal(
      tw_chat_session_say(h->s, "newroom", "one", NULL, false, h->now), 0);
  assert_int_equal(
      tw_chat_session_say(h->s, "newroom", "two", NULL, false, h->now), 0);
  h_take(h, c);
  h_stats(h, &st);
  assert_int_equal(st.send_queued, 1);
  assert_int_equal(tw_chat_session_part(h->s, "newroom", h->now), 0);
  assert_string_equal(h_take(h, c), "PART #newroom\r\n");
  h_stats(h, &st);
  assert_int_equal(st.send_queued, 0);
  assert_false(tw_chat_session_is_joined(h->s, "newroom"));
  /* The echo of a requested PART is not an event nor a removal. */
  h_feed(h, c, ":bot!bot@bot.tmi.twitch.tv PART #newroom");
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_PARTED), 0);
  assert_int_equal(tw_chat_session_part(h->s, "notjoined", h->now), 0);

  /* A PART we did not ask for (a ban) is reported and the room rejoined
   * later, within the bounded attempts. */
  h_feed(h, c, ":bot!bot@bot.tmi.twitch.tv PART #chan");
  p = h_last_status(h, TW_CHAT_STATUS_PARTED);
  assert_non_null(p);
  assert_string_equal(p->channel, "chan");
  assert_false(tw_chat_session_is_joined(h->s, "chan"));
  h_advance(h, o.join_timeout_ms - 1);
  assert_int_equal(h_count_pending(h, c, "JOIN #chan"), 0);
  h_advance(h, 1);
  assert_int_equal(h_count_pending(h, c, "JOIN #chan"), 1);
  h_free(h);
}

/* ---- keepalive
 * ---------------------------------------------------------------- */

static void test_ping_answered(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  h_take(h, c);
  /* Before the login completes too: Twitch pings before any JOIN. */
  h_feed(h, c, "PING :tmi.twitch.tv");
  assert_string_equal(h_take(h, c), "PONG :tmi.twitch.tv\r\n");
  h_login(h, c);
  h_feed(h, c, "PING :some text with spaces");
  assert_string_equal(h_take(h, c), "PONG :some text with spaces\r\n");
  h_feed(h, c, "PING");
  assert_string_equal(h_take(h, c), "PONG\r\n");
  h_feed(h, c, "PING tmi.twitch.tv");
  assert_string_equal(h_take(h, c), "PONG :tmi.twitch.tv\r\n");
  h_free(h);
}

static void test_own_ping_then_dead(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  const h_status_t *d;
  tw_chat_stats_t st;
  (void)state;
  h_opts(&o);
  o.ping_idle_ms = 30000;
  o.pong_timeout_ms = 5000;
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  h_login(h, c);
  h_take(h, c);
  /* Lines keep the connection quiet-free. */
  h_advance(h, 20000);
  h_feed(h, c, h_privmsg("x", "u", "id1", "hello"));
  h_advance(h, 29999);
  assert_string_equal(h_take(h, c), "");
  h_advance(h, 1);
  assert_string_equal(h_take(h, c), "PING :tw1\r\n");
  /* The answer keeps it alive. */
  h_advance(h, 4000);
  h_feed(h, c, ":tmi.twitch.tv PONG tmi.twitch.tv :tw1");
  h_advance(h, 10000);
  assert_false(h_was_closed(h, c));
  /* Silence again: PING, then no answer within 5 s: dead. */
  h_advance(h, 20000);
  assert_string_equal(h_take(h, c), "PING :tw2\r\n");
  h_advance(h, 4999);
  assert_false(h_was_closed(h, c));
  h_advance(h, 1);
  assert_true(h_was_closed(h, c));
  d = h_last_status(h, TW_CHAT_STATUS_DISCONNECTED);
  assert_non_null(d);
  assert_int_equal(d->err, TW_ETIMEDOUT);
  assert_non_null(strstr(d->detail, "PING"));
  h_stats(h, &st);
  assert_int_equal(st.pings_sent, 2);
  assert_int_equal(st.ping_timeouts, 1);
  /* And it reconnects after the backoff. */
  h_advance(h, d->retry_in);
  assert_int_equal(h->nopened, 2);
  h_free(h);
}

/* ---- authentication ---------------------------------------------------------
 */

static void test_auth_failure_refresh_then_success(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c1, c2;
  const h_status_t *a;
  tw_chat_stats_t st;
  (void)state;
  h_opts(&o);
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c1 = h_last_open(h);
  tw_chat_session_conn_up(h->s, c1, h->now);
  h_take(h, c1);
  h_feed(h, c1, ":tmi.twitch.tv NOTICE * :Login authentication failed");
  assert_true(h_was_closed(h, c1));
  a = h_last_status(h, TW_CHAT_STATUS_AUTH_FAILED);
  assert_non_null(a);
  assert_int_equal(a->err, TW_EAUTH);
  assert_int_equal(h->refresh_calls, 1);
  /* No connection while the token is awaited, however long. */
  h_advance(h, 600000);
  assert_int_equal(h->nopened, 1);
  assert_int_equal(tw_chat_session_deadline(h->s), UINT64_MAX);
  assert_int_equal(
      tw_chat_session_set_token(h->s, "oauth:freshtoken456", h->now), 0);
  assert_int_equal(h->nopened, 2);
  c2 = h_last_open(h);
  tw_chat_session_conn_up(h->s, c2, h->now);
  assert_non_null(strstr(h_take(h, c2), "PASS oauth:freshtoken456\r\n"));
  h_login(h, c2);
  assert_true(tw_chat_session_is_ready(h->s));
  h_stats(h, &st);
  assert_int_equal(st.auth_failures, 1);
  assert_int_equal(st.logins, 1);
  h_free(h);
}

static void test_auth_failures_bounded_then_stop(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  const h_status_t *s;
  (void)state;
  h_opts(&o);
  o.auth_max_failures = 3;
  h = h_new(&o);
  h->refresh_answer = "stillbadtoken";
  tw_chat_session_start(h->s, h->now);
  for (int i = 0; i < 3; i++) {
    uint64_t c = h_last_open(h);
    tw_chat_session_conn_up(h->s, c, h->now);
    h_feed(h, c, ":tmi.twitch.tv NOTICE * :Login authentication failed");
    assert_true(h_was_closed(h, c));
    if (i < 2) {
      /* The next attempt comes after the backoff, not before. */
      uint64_t wait = h_last_status(h, TW_CHAT_STATUS_AUTH_FAILED)->retry_in;
      assert_int_equal(wait, 1000u << i);
      h_advance(h, wait - 1);
      assert_int_equal(h->nopened, (size_t)i + 1);
      h_advance(h, 1);
      assert_int_equal(h->nopened, (size_t)i + 2);
    }
  }
  /* Three refusals: refreshed twice, then a clear stop. */
  assert_int_equal(h->refresh_calls, 2);
  assert_int_equal(h->nopened, 3);
  assert_true(tw_chat_session_is_stopped(h->s));
  s = h_last_status(h, TW_CHAT_STATUS_STOPPED);
  assert_non_null(s);
  assert_int_equal(s->err, TW_EAUTH);
  assert_non_null(strstr(s->detail, "refused the login 3 times"));
  assert_non_null(strstr(s->detail, "chat:read"));
  /* The token never appears in what the caller sees. */
  assert_null(strstr(s->detail, "stillbadtoken"));
  /* Nothing more, ever: no hot loop. */
  assert_int_equal(tw_chat_session_deadline(h->s), UINT64_MAX);
  h_advance(h, 3600000);
  assert_int_equal(h->nopened, 3);
  assert_int_equal(tw_chat_session_say(h->s, "c", "x", NULL, false, h->now),
                   TW_ESTATE);
  h_free(h);
}

static void test_auth_without_hook_retries_same_token(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  o.auth_max_failures = 2;
  h = h_new_ex(&o, false);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  h_feed(h, c, ":tmi.twitch.tv NOTICE * :Improperly formatted auth");
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_AUTH_FAILED), 1);
  /* Retried after the backoff, not at once. */
  assert_int_equal(h->nopened, 1);
  h_advance(h, 1000);
  assert_int_equal(h->nopened, 2);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  assert_non_null(strstr(h_take(h, c), "PASS oauth:secrettoken123"));
  h_feed(h, c, ":tmi.twitch.tv NOTICE * :Login authentication failed");
  assert_true(tw_chat_session_is_stopped(h->s));
  h_free(h);
}

static void test_refresh_failure(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  /* A network failure of the refresh: the login is retried after the
   * backoff with the token we have. */
  h = h_new(&o);
  h->refresh_fail_err = TW_EIO;
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  h_feed(h, c, ":tmi.twitch.tv NOTICE * :Login authentication failed");
  assert_false(tw_chat_session_is_stopped(h->s));
  h_advance(h, 1000);
  assert_int_equal(h->nopened, 2);
  h_free(h);
  /* A dead credential: stop at once. */
  h = h_new(&o);
  h->refresh_fail_err = TW_EAUTH;
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  h_feed(h, c, ":tmi.twitch.tv NOTICE * :Login authentication failed");
  assert_true(tw_chat_session_is_stopped(h->s));
  assert_int_equal(h_last_status(h, TW_CHAT_STATUS_STOPPED)->err, TW_EAUTH);
  h_advance(h, 3600000);
  assert_int_equal(h->nopened, 1);
  h_free(h);
}

static void test_token_rotation_used_on_next_login(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  h = h_ready(&o);
  c = h_last_open(h);
  assert_int_equal(tw_chat_session_set_token(h->s, "rotatedtoken789", h->now),
                   0);
  assert_int_equal(tw_chat_session_set_token(h->s, "", h->now), TW_EINVAL);
  /* The live connection is kept. */
  assert_false(h_was_closed(h, c));
  tw_chat_session_conn_closed(h->s, c, TW_ECLOSED, h->now);
  h_advance(h, 1000);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  assert_non_null(strstr(h_take(h, c), "PASS oauth:rotatedtoken789\r\n"));
  h_free(h);
}

/* ---- sending
 * ------------------------------------------------------------------ */

static void test_say_waits_for_login_and_join(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  char longtext[700];
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  /* Queued before there is any connection. */
  assert_int_equal(
      tw_chat_session_say(h->s, "#chan", "early bird", NULL, false, h->now), 0);
  h_login(h, c);
  /* JOIN first; the message waits for the room's confirmation. */
  assert_string_equal(h_take(h, c), "JOIN #chan\r\n");
  h_join_reply(h, c, "chan", NULL);
  assert_string_equal(h_take(h, c), "PRIVMSG #chan :early bird\r\n");
  /* Replies, actions, and a text over 500 characters in two parts. */
  assert_int_equal(
      tw_chat_session_say(h->s, "chan", "sure", "abc-123", false, h->now), 0);
  assert_string_equal(h_take(h, c), "");
  h_advance(h, 1200); /* one line per 1.2 s in an unprivileged room */
  assert_string_equal(h_take(h, c),
                      "@reply-parent-msg-id=abc-123 PRIVMSG #chan :sure\r\n");
  memset(longtext, 'a', sizeof(longtext) - 1);
  longtext[sizeof(longtext) - 1] = '\0';
  for (size_t i = 99; i < sizeof(longtext) - 1; i += 100)
    longtext[i] = ' ';
  assert_int_equal(
      tw_chat_session_say(h->s, "chan", longtext, NULL, true, h->now), 0);
  h_advance(h, 1200);
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #chan :\001ACTION "), 1);
  h_advance(h, 1200);
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #chan :\001ACTION "), 2);
  h_free(h);
}

static void test_say_full_is_refused_not_dropped(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  tw_chat_stats_t st;
  int n = 0, err = 0;
  (void)state;
  h_opts(&o);
  o.send_max_queued = 8;
  o.send_max_queued_per_channel = 4;
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  for (int i = 0; i < 10; i++) {
    char text[32];
    snprintf(text, sizeof(text), "msg %d", i);
    err = tw_chat_session_say(h->s, "chan", text, NULL, false, h->now);
    if (err)
      break;
    n++;
  }
  assert_int_equal(n, 4);
  assert_int_equal(err, TW_EFULL);
  h_stats(h, &st);
  assert_int_equal(st.send_rejected, 1);
  assert_int_equal(st.send_queued, 4);
  h_free(h);
}

static void test_userstate_privilege(void **state) {
  static const char *const chans[] = {"#modroom", "#viproom", "#ownroom",
                                      "#plain"};
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  o.channels = chans;
  o.nchannels = 4;
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  h_login(h, c);
  h_join_reply(h, c, "modroom", "moderator/1");
  h_join_reply(h, c, "viproom", "vip/1");
  h_join_reply(h, c, "ownroom", "broadcaster/1");
  h_join_reply(h, c, "plain", "subscriber/0");
  h_take(h, c);
  /* Five messages per room: privileged rooms send all at once (within the
   * 100 per window), the plain one one per interval. */
  for (int i = 0; i < 5; i++) {
    char text[16];
    snprintf(text, sizeof(text), "m%d", i);
    for (size_t k = 0; k < 4; k++)
      assert_int_equal(
          tw_chat_session_say(h->s, chans[k], text, NULL, false, h->now), 0);
  }
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #modroom"), 5);
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #viproom"), 5);
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #ownroom"), 5);
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #plain"), 1);
  /* Losing the badge (unmodded) removes the privilege. */
  h_take(h, c);
  h_feed(h, c,
         "@badge-info=;badges=;color=;display-name=bot;emote-sets=0;mod=0;"
         "subscriber=0;user-type= :tmi.twitch.tv USERSTATE #modroom");
  for (int i = 0; i < 3; i++) {
    char text[16];
    snprintf(text, sizeof(text), "again%d", i);
    tw_chat_session_say(h->s, "modroom", text, NULL, false, h->now);
  }
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #modroom"), 0);
  /* The mod=1 tag alone counts, as does user-type=mod. */
  h_feed(h, c,
         "@badge-info=;badges=;color=;display-name=bot;emote-sets=0;mod=1;"
         "subscriber=0;user-type=mod :tmi.twitch.tv USERSTATE #modroom");
  assert_int_equal(h_count_pending(h, c, "PRIVMSG #modroom"), 3);
  h_free(h);
}

/* An event handler that answers every message at once (re-entrant call). */
static void answer_hook(h_t *h, tw_event_t *ev) {
  if (ev->kind == TW_EVENT_MESSAGE)
    assert_int_equal(tw_chat_session_say(h->s, ev->target, "pong!",
                                         ev->event_id, false, h->now),
                     0);
}

static void test_reply_from_event_callback(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  c = h_last_open(h);
  h->on_event = answer_hook;
  h_feed(h, c, h_privmsg("chan", "viewer", "m-1", "!ping"));
  assert_string_equal(h_take(h, c),
                      "@reply-parent-msg-id=m-1 PRIVMSG #chan :pong!\r\n");
  h_free(h);
}

static void stop_hook(h_t *h, tw_event_t *ev) {
  (void)ev;
  tw_chat_session_stop(h->s, 0, h->now);
}

static void test_stop_from_callback(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  c = h_last_open(h);
  h->on_event = stop_hook;
  /* A subgift line makes two events: the stop after the first must not
   * leave the second half-delivered. */
  h_feed(h, c,
         "@badge-info=;badges=;color=;display-name=G;emotes=;id=g1;login=g;mod="
         "0;msg-id=subgift;msg-param-months=1;msg-param-recipient-display-"
         "name=R;msg-param-recipient-id=5;msg-param-recipient-user-name=r;msg-"
         "param-sub-plan=1000;room-id=1;subscriber=0;system-msg=x;tmi-sent-ts="
         "1;user-id=4;user-type= :tmi.twitch.tv USERNOTICE #chan");
  assert_int_equal(h->nev, 1);
  assert_true(h_was_closed(h, c));
  assert_true(tw_chat_session_is_stopped(h->s));
  assert_int_equal(h_last_status(h, TW_CHAT_STATUS_STOPPED)->err, 0);
  /* Lines for the forgotten connection are ignored. */
  assert_int_equal(h_feed(h, c, h_privmsg("chan", "u", "m-2", "late")),
                   TW_ENOTFOUND);
  assert_int_equal(h->nev, 1);
  h_free(h);
}

/* ---- malformed input -------------------------------------------------------
 */

static void test_malformed_lines_skipped_and_counted(void **state) {
  static const char *const bad[] = {
      "",
      "@",
      "@tags-only",
      ":prefix-only",
      "@a=b :prefix",
      "12 x",
      ":tmi.twitch.tv PRIVMSG", /* a PRIVMSG without channel: view fails */
      ":tmi.twitch.tv USERNOTICE",
  };
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  tw_chat_stats_t st;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  c = h_last_open(h);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    h_feed(h, c, bad[i]);
  /* A NUL or a lone CR inside the line: the parser refuses both. */
  assert_int_equal(tw_chat_session_feed(h->s, c, "PING :a\0b", 9, h->now),
                   TW_EPARSE);
  assert_int_equal(tw_chat_session_feed(h->s, c, "PING :a\rb", 9, h->now),
                   TW_EPARSE);
  h_stats(h, &st);
  assert_int_equal(st.lines_malformed, sizeof(bad) / sizeof(bad[0]) + 2);
  assert_int_equal(h->nev, 0);
  /* The connection carries on. */
  h_feed(h, c, h_privmsg("chan", "u", "m-1", "still here"));
  assert_int_equal(h->nev, 1);
  tw_chat_session_count_malformed(h->s, 3);
  h_stats(h, &st);
  assert_int_equal(st.lines_malformed, sizeof(bad) / sizeof(bad[0]) + 5);
  h_free(h);
}

/* ---- RECONNECT handover -----------------------------------------------------
 */

static const char *ev_text(const tw_event_t *ev) {
  return ev->kind == TW_EVENT_MESSAGE ? ev->u.message.text : "";
}

static void test_reconnect_overlap_no_loss_no_dup(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t a, b;
  tw_chat_stats_t st;
  const char *expect[] = {"m1", "m2", "m3", "m4", "m5", "m6", "m7"};
  size_t nmsg = 0;
  (void)state;
  h_opts(&o);
  o.channels = CH2;
  o.nchannels = 2;
  o.dedupe_grace_ms = 5000;
  h = h_ready(&o);
  a = h_last_open(h);
  /* Healthy for a while, so the move starts at once. */
  h_advance(h, o.backoff_healthy_ms);
  h_feed(h, a, "PING :tmi.twitch.tv");
  h_take(h, a);

  h_feed(h, a, h_privmsg("alpha", "u", "id-1", "m1"));
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_RECONNECT), 1);
  assert_int_equal(h->nopened, 2);
  b = h_last_open(h);
  assert_false(h_was_closed(h, a));
  /* A keeps delivering while B logs in. */
  h_feed(h, a, h_privmsg("alpha", "u", "id-2", "m2"));
  h_login(h, b);
  assert_int_equal(h_count_pending(h, b, "JOIN #"), 2);
  h_take(h, b);
  /* B confirms #alpha: from now both deliver #alpha lines. */
  h_join_reply(h, b, "alpha", NULL);
  h_feed(h, b, h_privmsg("alpha", "u", "id-2", "m2")); /* dup of A's */
  h_feed(h, b, h_privmsg("alpha", "u", "id-3", "m3")); /* B first */
  h_feed(h, a, h_privmsg("alpha", "u", "id-3", "m3")); /* dup */
  h_feed(h, a, h_privmsg("alpha", "u", "id-4", "m4")); /* A first */
  h_feed(h, a, h_privmsg("beta", "u", "id-5", "m5"));  /* only A has beta */
  /* JOIN events (no id): from B for #alpha now, from A for #beta. */
  h_feed(h, a, ":viewer!viewer@viewer.tmi.twitch.tv JOIN #alpha");
  h_feed(h, b, ":viewer!viewer@viewer.tmi.twitch.tv JOIN #alpha");
  h_feed(h, a, ":other!other@other.tmi.twitch.tv JOIN #beta");
  /* Sending still goes through A, the connection in use. */
  assert_int_equal(
      tw_chat_session_say(h->s, "alpha", "during", NULL, false, h->now), 0);
  assert_int_equal(h_count_pending(h, a, "PRIVMSG #alpha :during"), 1);
  assert_int_equal(h_count_pending(h, b, "PRIVMSG"), 0);
  /* A room notice on B is not reported twice. */
  h_feed(h, b, "@msg-id=slow_on :tmi.twitch.tv NOTICE #alpha :Slow mode.");
  assert_int_equal(h->nno, 0);
  /* B confirms #beta: handover. B serves from now on; A is still read for
   * the linger time, since it may hold lines the server wrote before B
   * joined. */
  h_join_reply(h, b, "beta", NULL);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_HANDOVER), 1);
  assert_false(h_was_closed(h, a));
  h_feed(h, a, h_privmsg("beta", "u", "id-6", "m6"));  /* only A had it */
  h_feed(h, b, h_privmsg("alpha", "u", "id-4", "m4")); /* dup of A's */
  h_feed(h, b, h_privmsg("beta", "u", "id-5", "m5"));  /* dup of A's */
  h_feed(h, b, h_privmsg("beta", "u", "id-6", "m6"));  /* dup of A's */
  h_feed(h, b, h_privmsg("beta", "u", "id-7", "m7"));
  h_feed(h, a, h_privmsg("beta", "u", "id-7", "m7")); /* dup of B's */
  /* Membership now comes from B only. */
  h_feed(h, a, ":late!late@late.tmi.twitch.tv JOIN #beta");
  h_feed(h, b, ":late!late@late.tmi.twitch.tv JOIN #beta");
  /* A's notices are not the bot's any more. */
  h_feed(h, a, "@msg-id=slow_off :tmi.twitch.tv NOTICE #alpha :Slow off.");
  assert_int_equal(h->nno, 0);
  /* Sending now goes through B. */
  h_advance(h, 1200);
  assert_int_equal(
      tw_chat_session_say(h->s, "beta", "after", NULL, false, h->now), 0);
  assert_int_equal(h_count_pending(h, b, "PRIVMSG #beta :after"), 1);
  assert_int_equal(h_count_pending(h, a, "PRIVMSG #beta"), 0);
  /* A is answered while it lingers, then closed. */
  h_feed(h, a, "PING :tmi.twitch.tv");
  assert_int_equal(h_count_pending(h, a, "PONG :tmi.twitch.tv"), 1);
  h_advance(h, o.reconnect_linger_ms - 1201);
  assert_false(h_was_closed(h, a));
  h_advance(h, 1);
  assert_true(h_was_closed(h, a));
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_DISCONNECTED), 0);
  assert_int_equal(h->nopened, 2);

  for (size_t i = 0; i < h->nev; i++) {
    if (h->ev[i]->kind != TW_EVENT_MESSAGE)
      continue;
    assert_true(nmsg < 7);
    assert_string_equal(ev_text(h->ev[i]), expect[nmsg]);
    nmsg++;
  }
  assert_int_equal(nmsg, 7);
  assert_int_equal(h_count_kind(h, TW_EVENT_JOIN_ROOM), 3);
  h_stats(h, &st);
  assert_int_equal(st.duplicates_dropped, 6);
  assert_int_equal(st.server_reconnects, 1);
  assert_int_equal(st.reconnects, 1);
  /* After the grace period the dedupe set is gone: Twitch never repeats an
   * id, and keeping it would cost every line. */
  h_advance(h, 4999);
  h_feed(h, b, h_privmsg("beta", "u", "id-7", "m7 again"));
  assert_int_equal(h_count_kind(h, TW_EVENT_MESSAGE), 7);
  h_advance(h, 1);
  h_feed(h, b, h_privmsg("beta", "u", "id-7", "m7 again"));
  assert_int_equal(h_count_kind(h, TW_EVENT_MESSAGE), 8);
  h_free(h);
}

static void test_reconnect_linger_zero_and_second_move(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t a, b, c;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  o.reconnect_linger_ms = 0;
  h = h_ready(&o);
  a = h_last_open(h);
  h_advance(h, o.backoff_healthy_ms);
  h_feed(h, a, "PING :x");
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  b = h_last_open(h);
  h_login(h, b);
  h_join_reply(h, b, "chan", NULL);
  /* No linger: A goes at the handover. */
  assert_true(h_was_closed(h, a));
  h_free(h);

  /* With a linger, a second RECONNECT during it drops the lingering
   * connection for the new one (two connections at most). */
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  o.reconnect_linger_ms = 5000;
  h = h_ready(&o);
  a = h_last_open(h);
  h_advance(h, o.backoff_healthy_ms);
  h_feed(h, a, "PING :x");
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  b = h_last_open(h);
  h_login(h, b);
  h_join_reply(h, b, "chan", NULL);
  assert_false(h_was_closed(h, a));
  h_feed(h, b, ":tmi.twitch.tv RECONNECT"); /* B is new: backoff */
  h_advance(h, h_last_status(h, TW_CHAT_STATUS_RECONNECT)->retry_in);
  assert_true(h_was_closed(h, a));
  c = h_last_open(h);
  assert_true(c != b && c != a);
  assert_int_equal(h->nopened, 3);
  h_free(h);
}

static void test_reconnect_old_closes_first(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t a, b;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  a = h_last_open(h);
  h_advance(h, o.backoff_healthy_ms);
  h_feed(h, a, "PING :x");
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  b = h_last_open(h);
  assert_true(b != a);
  h_feed(h, a, h_privmsg("chan", "u", "id-1", "one"));
  /* The server closes A before B is ready: B carries on alone. */
  tw_chat_session_conn_closed(h->s, a, TW_ECLOSED, h->now);
  assert_int_equal(h->nopened, 2);
  h_login(h, b);
  h_join_reply(h, b, "chan", NULL);
  assert_true(tw_chat_session_is_joined(h->s, "chan"));
  h_feed(h, b, h_privmsg("chan", "u", "id-1", "one"));
  h_feed(h, b, h_privmsg("chan", "u", "id-2", "two"));
  assert_int_equal(h_count_kind(h, TW_EVENT_MESSAGE), 2);
  h_free(h);
}

static void test_reconnect_loop_backs_off(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t a, b;
  (void)state;
  h_opts(&o);
  h = h_ready(&o);
  a = h_last_open(h);
  /* RECONNECT right after the login: the move waits for the backoff. */
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  assert_int_equal(h->nopened, 1);
  assert_int_equal(h_last_status(h, TW_CHAT_STATUS_RECONNECT)->retry_in, 1000);
  h_advance(h, 999);
  assert_int_equal(h->nopened, 1);
  h_advance(h, 1);
  assert_int_equal(h->nopened, 2);
  b = h_last_open(h);
  h_login(h, b);
  /* No channels: the handover is at the login; A lingers, then goes. */
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_HANDOVER), 1);
  h_advance(h, o.reconnect_linger_ms);
  assert_true(h_was_closed(h, a));
  /* Again at once: the wait doubles. */
  h_feed(h, b, ":tmi.twitch.tv RECONNECT");
  assert_int_equal(h_last_status(h, TW_CHAT_STATUS_RECONNECT)->retry_in, 2000);
  /* Repeated RECONNECTs on the same connection change nothing. */
  h_feed(h, b, ":tmi.twitch.tv RECONNECT");
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_RECONNECT), 2);
  h_free(h);
}

static void test_reconnect_new_connection_fails(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t a, b, b2;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  a = h_last_open(h);
  h_advance(h, o.backoff_healthy_ms);
  h_feed(h, a, "PING :x");
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  b = h_last_open(h);
  tw_chat_session_conn_closed(h->s, b, TW_ECONNREFUSED, h->now);
  /* A still serves; a new attempt follows the backoff. */
  assert_false(h_was_closed(h, a));
  assert_true(tw_chat_session_is_ready(h->s));
  h_feed(h, a, h_privmsg("chan", "u", "id-1", "still A"));
  assert_int_equal(h->nev, 1);
  h_advance(h, 1000);
  b2 = h_last_open(h);
  assert_true(b2 != b);
  h_login(h, b2);
  h_join_reply(h, b2, "chan", NULL);
  h_advance(h, o.reconnect_linger_ms);
  assert_true(h_was_closed(h, a));
  h_free(h);
}

static void test_reconnect_overlap_moderation_dedupe(void **state) {
  static const char *const lines[] = {
      "@ban-duration=60;room-id=1;target-user-id=9;tmi-sent-ts=1000 "
      ":tmi.twitch.tv CLEARCHAT #chan :troll",
      "@room-id=1;tmi-sent-ts=2000 :tmi.twitch.tv CLEARCHAT #chan",
      "@login=troll;room-id=1;target-msg-id=dead-beef;tmi-sent-ts=3000 "
      ":tmi.twitch.tv CLEARMSG #chan :spam",
      "@badges=;display-name=S;id=sub-1;login=s;msg-id=sub;msg-param-"
      "cumulative-months=1;msg-param-sub-plan=1000;room-id=1;system-msg=x;"
      "user-id=3 :tmi.twitch.tv USERNOTICE #chan",
  };
  tw_chat_opts_t o;
  h_t *h;
  uint64_t a, b;
  tw_chat_stats_t st;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  a = h_last_open(h);
  h_advance(h, o.backoff_healthy_ms);
  h_feed(h, a, "PING :x");
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  b = h_last_open(h);
  h_login(h, b);
  /* A delivers first; B, once it has the room, brings the same lines
   * (Twitch sends them on both connections). */
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
    h_feed(h, a, lines[i]);
  h_join_reply(h, b, "chan", NULL);
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
    h_feed(h, b, lines[i]);
  assert_int_equal(h_count_kind(h, TW_EVENT_USER_BANNED), 1);
  assert_int_equal(h_count_kind(h, TW_EVENT_CHAT_CLEARED), 1);
  assert_int_equal(h_count_kind(h, TW_EVENT_MESSAGE_DELETED), 1);
  assert_int_equal(h_count_kind(h, TW_EVENT_USER_SUBSCRIBED), 1);
  h_stats(h, &st);
  assert_int_equal(st.duplicates_dropped, 4);
  /* A second timeout of the same user later is a new event. */
  h_feed(h, b,
         "@ban-duration=60;room-id=1;target-user-id=9;tmi-sent-ts=9000 "
         ":tmi.twitch.tv CLEARCHAT #chan :troll");
  assert_int_equal(h_count_kind(h, TW_EVENT_USER_BANNED), 2);
  h_free(h);
}

static void test_new_dies_while_old_lingers(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t a, b, c;
  (void)state;
  h_opts(&o);
  o.channels = CH1;
  o.nchannels = 1;
  h = h_ready(&o);
  a = h_last_open(h);
  h_advance(h, o.backoff_healthy_ms);
  h_feed(h, a, "PING :x");
  h_feed(h, a, ":tmi.twitch.tv RECONNECT");
  b = h_last_open(h);
  h_login(h, b);
  h_join_reply(h, b, "chan", NULL);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_HANDOVER), 1);
  /* B dies during A's linger: A serves again (sending included) and a new
   * move starts after the backoff. */
  tw_chat_session_conn_closed(h->s, b, TW_ECLOSED, h->now);
  assert_false(h_was_closed(h, a));
  assert_true(tw_chat_session_is_ready(h->s));
  assert_true(tw_chat_session_is_joined(h->s, "chan"));
  h_take(h, a);
  assert_int_equal(
      tw_chat_session_say(h->s, "chan", "still here", NULL, false, h->now), 0);
  assert_int_equal(h_count_pending(h, a, "PRIVMSG #chan :still here"), 1);
  h_feed(h, a, ":someone!someone@someone.tmi.twitch.tv JOIN #chan");
  assert_int_equal(h_count_kind(h, TW_EVENT_JOIN_ROOM), 1);
  /* Not closed when the old linger time passes. */
  h_advance(h, o.reconnect_linger_ms);
  assert_false(h_was_closed(h, a));
  assert_int_equal(h->nopened, 3);
  c = h_last_open(h);
  h_login(h, c);
  h_join_reply(h, c, "chan", NULL);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_HANDOVER), 2);
  h_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_login_bytes_in_order),
      cmocka_unit_test(test_gus_before_001_does_not_log_in),
      cmocka_unit_test(test_anonymous_login),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_login_timeout_reconnects_with_backoff),
      cmocka_unit_test(test_backoff_grows_caps_and_resets),
      cmocka_unit_test(test_join_limit_20_per_window),
      cmocka_unit_test(test_join_confirmed_by_roomstate),
      cmocka_unit_test(test_join_failures_typed),
      cmocka_unit_test(test_join_part_at_runtime),
      cmocka_unit_test(test_ping_answered),
      cmocka_unit_test(test_own_ping_then_dead),
      cmocka_unit_test(test_auth_failure_refresh_then_success),
      cmocka_unit_test(test_auth_failures_bounded_then_stop),
      cmocka_unit_test(test_auth_without_hook_retries_same_token),
      cmocka_unit_test(test_refresh_failure),
      cmocka_unit_test(test_token_rotation_used_on_next_login),
      cmocka_unit_test(test_say_waits_for_login_and_join),
      cmocka_unit_test(test_say_full_is_refused_not_dropped),
      cmocka_unit_test(test_userstate_privilege),
      cmocka_unit_test(test_reply_from_event_callback),
      cmocka_unit_test(test_stop_from_callback),
      cmocka_unit_test(test_malformed_lines_skipped_and_counted),
      cmocka_unit_test(test_reconnect_overlap_no_loss_no_dup),
      cmocka_unit_test(test_reconnect_overlap_moderation_dedupe),
      cmocka_unit_test(test_reconnect_linger_zero_and_second_move),
      cmocka_unit_test(test_new_dies_while_old_lingers),
      cmocka_unit_test(test_reconnect_old_closes_first),
      cmocka_unit_test(test_reconnect_loop_backs_off),
      cmocka_unit_test(test_reconnect_new_connection_fails),
  };
  tw_log_set_level(TW_LOG_OFF);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
