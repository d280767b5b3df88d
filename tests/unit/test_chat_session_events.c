/* The chat session's mapping of IRC lines to events and notices, with real
 * Twitch lines (the documentation's examples and captures from
 * docs/twitch-protocol.md section 4), shared chat, and attempts to spoof a
 * sender through message text and display names. */
#include "test_chat_session_harness.h"
#include "twitch/chat_text.h"

static const char *const CHANS[] = {
    "#bar",       "#dallas", "#forstycup", "#othertestchannel",
    "#chocotaco", "#ronni",  "#lovingt3s"};

static h_t *ready(tw_chat_opts_t *o) {
  o->channels = CHANS;
  o->nchannels = sizeof(CHANS) / sizeof(CHANS[0]);
  return h_ready(o);
}

static h_t *ready_default(void) {
  tw_chat_opts_t o;
  h_opts(&o);
  return ready(&o);
}

/* Feeds one line on the live connection and returns the only event it
 * produced. */
static tw_event_t *one(h_t *h, const char *line) {
  size_t before = h->nev;
  assert_int_equal(h_feed(h, h_last_open(h), line), 0);
  assert_int_equal(h->nev, before + 1);
  return h->ev[h->nev - 1];
}

static void none(h_t *h, const char *line) {
  size_t before = h->nev;
  h_feed(h, h_last_open(h), line);
  assert_int_equal(h->nev, before);
}

/* ---- PRIVMSG --------------------------------------------------------------
 */

static void test_privmsg_broadcaster(void **state) {
  static const char line[] =
      "@badge-info=;badges=broadcaster/1;client-nonce="
      "28e05b1c83f1e916ca1710c44b014515;color=#0000FF;display-name=foofoo;"
      "emotes=62835:0-10;first-msg=0;flags=;id=f80a19d6-e35a-4273-82d0-"
      "cd87f614e767;mod=0;room-id=713936733;subscriber=0;tmi-sent-ts="
      "1642696567751;turbo=0;user-id=713936733;user-type= "
      ":foofoo!foofoo@foofoo.tmi.twitch.tv PRIVMSG #bar :bleedPurple";
  h_t *h = ready_default();
  tw_event_t *ev;
  (void)state;
  ev = one(h, line);
  assert_int_equal(ev->kind, TW_EVENT_MESSAGE);
  assert_string_equal(ev->user, "foofoo");
  assert_string_equal(ev->user_id, "713936733");
  assert_string_equal(ev->target, "#bar");
  assert_string_equal(ev->connector, "twitch");
  assert_string_equal(ev->event_id, "f80a19d6-e35a-4273-82d0-cd87f614e767");
  assert_string_equal(ev->raw, line);
  assert_string_equal(ev->u.message.text, "bleedPurple");
  assert_string_equal(ev->u.message.display_name, "foofoo");
  assert_string_equal(ev->u.message.room_id, "713936733");
  assert_string_equal(ev->u.message.badges, "broadcaster/1");
  assert_true(ev->u.message.is_broadcaster);
  assert_false(ev->u.message.is_moderator);
  assert_false(ev->u.message.is_vip);
  assert_false(ev->u.message.is_subscriber);
  assert_int_equal(ev->u.message.bits, 0);
  assert_null(ev->u.message.reply_parent_msg_id);
  assert_false(ev->u.message.first_msg);
  assert_false(ev->u.message.is_action);
  assert_false(ev->u.message.from_shared_chat);
  h_free(h);
}

static void test_privmsg_flags_bits_action_reply(void **state) {
  h_t *h = ready_default();
  tw_event_t *ev;
  (void)state;
  /* Cheer: bits=100. */
  ev = one(h, "@badge-info=;badges=staff/1,bits/1000;bits=100;color=;display-"
              "name=ronni;emotes=;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod="
              "0;room-id=12345678;subscriber=0;tmi-sent-ts=1507246572675;turbo="
              "1;user-id=12345678;user-type=staff "
              ":ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :cheer100");
  assert_int_equal(ev->u.message.bits, 100);
  assert_string_equal(ev->u.message.badges, "staff/1,bits/1000");
  /* Moderator by tag, VIP by tag, subscriber by badge (founder), first
   * message. */
  ev = one(h, "@badge-info=founder/3;badges=founder/0,vip/1;color=;display-"
              "name=Vee;emotes=;first-msg=1;id=x1;mod=1;room-id=1;subscriber=0;"
              "tmi-sent-ts=1;turbo=0;user-id=55;user-type=;vip=1 "
              ":vee!vee@vee.tmi.twitch.tv PRIVMSG #bar :hello all");
  assert_true(ev->u.message.is_moderator);
  assert_true(ev->u.message.is_vip);
  assert_true(ev->u.message.is_subscriber);
  assert_true(ev->u.message.first_msg);
  assert_false(ev->u.message.is_broadcaster);
  assert_string_equal(ev->u.message.display_name, "Vee");
  /* /me. */
  ev = one(h, "@badges=;display-name=A;id=x2;room-id=1;user-id=2 "
              ":a!a@a.tmi.twitch.tv PRIVMSG #bar :\001ACTION waves\001");
  assert_true(ev->u.message.is_action);
  assert_string_equal(ev->u.message.text, "waves");
  /* A reply. */
  ev = one(h, "@badges=;display-name=Lov;id=x3;reply-parent-msg-id=885196de-"
              "cb67-427a-baa8-82f9b0fcd05f;reply-parent-user-login=bar;room-"
              "id=1;user-id=3 :lovingt3s!lovingt3s@lovingt3s.tmi.twitch.tv "
              "PRIVMSG #lovingt3s :absolutely!");
  assert_string_equal(ev->u.message.reply_parent_msg_id,
                      "885196de-cb67-427a-baa8-82f9b0fcd05f");
  assert_string_equal(ev->target, "#lovingt3s");
  /* Escaped display name (spaces are \s) is unescaped. */
  ev = one(h, "@badges=;display-name=Riot\\sGames;id=x4;room-id=1;user-id=4 "
              ":riotgames!riotgames@riotgames.tmi.twitch.tv PRIVMSG #bar :gg");
  assert_string_equal(ev->u.message.display_name, "Riot Games");
  assert_string_equal(ev->user, "riotgames");
  h_free(h);
}

static void test_omit_raw_and_connector(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  tw_event_t *ev;
  (void)state;
  h_opts(&o);
  o.omit_raw = true;
  o.connector = "twitch-main";
  h = ready(&o);
  ev = one(h, h_privmsg("bar", "u", "i1", "text"));
  assert_null(ev->raw);
  assert_string_equal(ev->connector, "twitch-main");
  h_free(h);
}

static void test_invalid_utf8_repaired(void **state) {
  h_t *h = ready_default();
  tw_event_t *ev;
  (void)state;
  ev = one(h, h_privmsg("bar", "u", "i1", "bad \xff\xfe bytes"));
  assert_string_equal(ev->u.message.text, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
  /* Every field of such a line is repaired, not only the bad one. */
  assert_non_null(strstr(ev->raw, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes"));
  assert_string_equal(ev->user, "u");
  /* A bad byte in a tag (escaped or not) and a truncated sequence at the
   * end of the line. */
  ev = one(h, "@badges=;display-name=A\\s\xc3;id=i2;user-id=1 "
              ":u!u@u.tmi.twitch.tv PRIVMSG #bar :ends badly \xe2\x82");
  assert_string_equal(ev->u.message.display_name, "A \xEF\xBF\xBD");
  /* (How many U+FFFD a cut sequence becomes is the event setter's
   * policy.) */
  assert_memory_equal(ev->u.message.text, "ends badly \xEF\xBF\xBD", 14);
  assert_true(tw__utf8_valid(ev->u.message.text, strlen(ev->u.message.text)));
  assert_true(tw__utf8_valid(ev->raw, strlen(ev->raw)));
  /* Valid multi-byte text passes unchanged. */
  ev = one(h, h_privmsg("bar", "u", "i3",
                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  assert_string_equal(ev->u.message.text,
                      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  h_free(h);
}

/* ---- spoofing -------------------------------------------------------------
 */

static void test_spoof_attempts_in_text(void **state) {
  h_t *h = ready_default();
  tw_event_t *ev;
  (void)state;
  /* The opsdroid regex could be fooled by these texts (docs, section 6.3). */
  ev = one(h, "@badge-info=;badges=;color=;display-name=u;emotes=;id=s1;mod=0;"
              "room-id=1;subscriber=0;user-id=42;user-type= "
              ":u!u@u.tmi.twitch.tv PRIVMSG #bar :hi ;mod=1 :x! PRIVMSG :y");
  assert_string_equal(ev->user, "u");
  assert_string_equal(ev->user_id, "42");
  assert_string_equal(ev->u.message.text, "hi ;mod=1 :x! PRIVMSG :y");
  assert_false(ev->u.message.is_moderator);
  ev = one(h, "@badge-info=;badges=;color=;display-name=u;emotes=;id=s2;mod=0;"
              "room-id=1;subscriber=0;user-id=42;user-type= "
              ":u!u@u.tmi.twitch.tv PRIVMSG #bar :user-id=999;user-type= "
              ":boss! PRIVMSG :hi");
  assert_string_equal(ev->user, "u");
  assert_string_equal(ev->user_id, "42");
  assert_string_equal(ev->u.message.text,
                      "user-id=999;user-type= :boss! PRIVMSG :hi");
  /* Tags written in the text are text. */
  ev = one(h, "@badges=;display-name=u;id=s3;mod=0;room-id=1;user-id=42 "
              ":u!u@u.tmi.twitch.tv PRIVMSG #bar :@badges=broadcaster/1;mod=1;"
              "user-id=1 :streamer!streamer@x PRIVMSG #bar :obey");
  assert_string_equal(ev->user, "u");
  assert_false(ev->u.message.is_broadcaster);
  assert_false(ev->u.message.is_moderator);
  assert_string_equal(ev->u.message.badges, "");
  /* A display name crafted to look like a prefix and badges changes
   * nothing but the display name. */
  ev = one(h, "@badges=;display-name=streamer!streamer@x\\sPRIVMSG\\s#bar\\s:"
              "moderator/1;id=s4;mod=0;room-id=1;user-id=42 "
              ":u!u@u.tmi.twitch.tv PRIVMSG #bar :hello");
  assert_string_equal(ev->user, "u");
  assert_string_equal(ev->u.message.display_name,
                      "streamer!streamer@x PRIVMSG #bar :moderator/1");
  assert_false(ev->u.message.is_moderator);
  assert_string_equal(ev->u.message.text, "hello");
  /* An escaped ';' in a tag value does not start a new tag. */
  ev = one(h, "@badges=;display-name=a\\:mod=1\\:user-id=1;id=s5;mod=0;room-"
              "id=1;user-id=42 :u!u@u.tmi.twitch.tv PRIVMSG #bar :x");
  assert_string_equal(ev->u.message.display_name, "a;mod=1;user-id=1");
  assert_string_equal(ev->user_id, "42");
  assert_false(ev->u.message.is_moderator);
  /* A CR LF inside a line cannot smuggle a second line: the transport
   * splits on LF, and the remainder is its own (server-looking) line that
   * claims nothing; a CR alone is refused. */
  assert_int_equal(
      h_feed(h, h_last_open(h),
             "@badges=;id=s6;user-id=42 :u!u@u PRIVMSG #bar :a\r:tmi.twitch"
             ".tv RECONNECT"),
      TW_EPARSE);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_RECONNECT), 0);
  /* JOIN in text produces no JoinRoom. */
  ev = one(h, "@badges=;id=s7;user-id=42 :u!u@u.tmi.twitch.tv PRIVMSG #bar "
              ":x!x@x JOIN #bar");
  assert_int_equal(ev->kind, TW_EVENT_MESSAGE);
  assert_int_equal(h_count_kind(h, TW_EVENT_JOIN_ROOM), 0);
  /* A NOTICE-looking text is a message, not a login failure. */
  ev = one(h, "@badges=;id=s8;user-id=42 :u!u@u.tmi.twitch.tv PRIVMSG #bar "
              ":tmi.twitch.tv NOTICE * :Login authentication failed");
  assert_int_equal(ev->kind, TW_EVENT_MESSAGE);
  assert_int_equal(h_count_status(h, TW_CHAT_STATUS_AUTH_FAILED), 0);
  assert_true(tw_chat_session_is_ready(h->s));
  h_free(h);
}

/* ---- USERNOTICE -----------------------------------------------------------
 */

static void test_resub(void **state) {
  h_t *h = ready_default();
  tw_event_t *ev;
  (void)state;
  ev = one(h, "@badge-info=;badges=staff/1,broadcaster/1,turbo/1;color="
              "#008000;display-name=ronni;emotes=;id=db25007f-7a18-43eb-9379-"
              "80131e44d633;login=ronni;mod=0;msg-id=resub;msg-param-"
              "cumulative-months=6;msg-param-streak-months=2;msg-param-should-"
              "share-streak=1;msg-param-sub-plan=Prime;msg-param-sub-plan-"
              "name=Prime;room-id=12345678;subscriber=1;system-msg=ronni\\shas"
              "\\ssubscribed\\sfor\\s6\\smonths!;tmi-sent-ts=1507246572675;"
              "turbo=1;user-id=87654321;user-type=staff :tmi.twitch.tv "
              "USERNOTICE #dallas :Great stream -- keep it up!");
  assert_int_equal(ev->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(ev->user, "ronni");
  assert_string_equal(ev->user_id, "87654321");
  assert_string_equal(ev->target, "#dallas");
  assert_string_equal(ev->event_id, "db25007f-7a18-43eb-9379-80131e44d633");
  assert_string_equal(ev->u.user_subscribed.message,
                      "Great stream -- keep it up!");
  assert_int_equal(ev->u.user_subscribed.months, 6);
  assert_string_equal(ev->u.user_subscribed.tier, "Prime");
  assert_false(ev->u.user_subscribed.is_gift);
  /* A first sub without a message. */
  ev = one(h, "@badges=;display-name=New;id=n1;login=newbie;msg-id=sub;msg-"
              "param-cumulative-months=1;msg-param-sub-plan=1000;room-id=1;"
              "system-msg=x;user-id=9 :tmi.twitch.tv USERNOTICE #dallas");
  assert_int_equal(ev->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(ev->user, "newbie");
  assert_null(ev->u.user_subscribed.message);
  assert_int_equal(ev->u.user_subscribed.months, 1);
  assert_string_equal(ev->u.user_subscribed.tier, "1000");
  h_free(h);
}

static void test_subgift_and_mystery(void **state) {
  h_t *h = ready_default();
  tw_event_t *g, *s;
  (void)state;
  h_feed(h, h_last_open(h),
         "@badge-info=;badges=staff/1,premium/1;color=#0000FF;display-name="
         "TWW2;emotes=;id=e9176cd8-5e22-4684-ad40-ce53c2561c5e;login=tww2;mod="
         "0;msg-id=subgift;msg-param-months=1;msg-param-recipient-display-"
         "name=Mr_Woodchuck;msg-param-recipient-id=55554444;msg-param-"
         "recipient-name=mr_woodchuck;msg-param-sub-plan-name=House\\sof\\s"
         "Nyoro~n;msg-param-sub-plan=1000;room-id=19571752;subscriber=0;"
         "system-msg=TWW2\\sgifted\\sa\\sTier\\s1\\ssub\\sto\\sMr_Woodchuck!;"
         "tmi-sent-ts=1521159445153;turbo=0;user-id=87654321;user-type=staff "
         ":tmi.twitch.tv USERNOTICE #forstycup");
  /* The gift, and (as the seed's connector did) the recipient's sub. */
  assert_int_equal(h->nev, 2);
  g = h->ev[0];
  s = h->ev[1];
  assert_int_equal(g->kind, TW_EVENT_USER_GIFTED_SUBSCRIPTION);
  assert_string_equal(g->user, "tww2");
  assert_string_equal(g->user_id, "87654321");
  assert_string_equal(g->target, "#forstycup");
  assert_string_equal(g->u.user_gifted_subscription.gifter_name, "TWW2");
  assert_string_equal(g->u.user_gifted_subscription.gifted_name,
                      "Mr_Woodchuck");
  assert_int_equal(s->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_string_equal(s->user, "mr_woodchuck");
  assert_string_equal(s->user_id, "55554444");
  assert_true(s->u.user_subscribed.is_gift);
  assert_string_equal(s->u.user_subscribed.tier, "1000");
  assert_int_equal(s->u.user_subscribed.months, 1);
  h_clear_events(h);

  g = one(h, "@badge-info=subscriber/15;badges=subscriber/12,sub-gifter/500;"
             "color=#0000FF;display-name=nappy5074;emotes=;flags=;id=d7a1da3b-"
             "9ba7-495d-bfd5-9ad4f9f434d2;login=nappy5074;mod=0;msg-id="
             "submysterygift;msg-param-mass-gift-count=20;msg-param-origin-id="
             "ce\\s08\\s4e;msg-param-sender-count=650;msg-param-sub-plan=1000;"
             "room-id=69906737;subscriber=1;system-msg=nappy5074\\sis\\s"
             "gifting;tmi-sent-ts=1569005843145;user-id=230054092;user-type= "
             ":tmi.twitch.tv USERNOTICE #chocotaco");
  assert_int_equal(g->kind, TW_EVENT_USER_GIFTED_SUBSCRIPTION);
  assert_string_equal(g->user, "nappy5074");
  assert_string_equal(g->u.user_gifted_subscription.gifter_name, "nappy5074");
  /* A batch announcement: the recipients follow as subgift lines. */
  assert_null(g->u.user_gifted_subscription.gifted_name);
  h_free(h);
}

static void test_raid_and_ignored_kinds(void **state) {
  h_t *h = ready_default();
  tw_event_t *ev;
  (void)state;
  ev = one(h, "@badge-info=;badges=turbo/1;color=#9ACD32;display-name="
              "TestChannel;emotes=;id=3d830f12-795c-447d-af3c-ea05e40fbddb;"
              "login=testchannel;mod=0;msg-id=raid;msg-param-displayName="
              "TestChannel;msg-param-login=testchannel;msg-param-viewerCount="
              "15;room-id=33332222;subscriber=0;system-msg=15\\sraiders\\sfrom"
              "\\sTestChannel\\shave\\sjoined\\n!;tmi-sent-ts=1507246572675;"
              "turbo=1;user-id=123456;user-type= :tmi.twitch.tv USERNOTICE "
              "#othertestchannel");
  assert_int_equal(ev->kind, TW_EVENT_RAID);
  assert_string_equal(ev->u.raid.raider, "testchannel");
  assert_int_equal(ev->u.raid.viewers, 15);
  assert_string_equal(ev->user, "testchannel");
  assert_string_equal(ev->user_id, "123456");
  assert_string_equal(ev->target, "#othertestchannel");
  /* An announcement has no event kind: nothing, and no crash. */
  none(h, "@badge-info=;badges=broadcaster/1;color=#033700;display-name="
          "BarryCarlyon;emotes=;flags=;id=d2c97aaa-b921-45ca-b1f5-"
          "df6bbcedb289;login=barrycarlyon;mod=0;msg-id=announcement;msg-"
          "param-color=PRIMARY;room-id=15185913;subscriber=0;system-msg=;tmi-"
          "sent-ts=1665265341857;user-id=15185913;user-type= :tmi.twitch.tv "
          "USERNOTICE #barrycarlyon :test");
  h_free(h);
}

/* ---- moderation --------------------------------------------------------- */

static void test_clearchat_clearmsg(void **state) {
  h_t *h = ready_default();
  tw_event_t *ev;
  (void)state;
  ev = one(h, "@room-id=12345678;target-user-id=87654321;tmi-sent-ts="
              "1642715756806 :tmi.twitch.tv CLEARCHAT #dallas :ronni");
  assert_int_equal(ev->kind, TW_EVENT_USER_BANNED);
  assert_string_equal(ev->user, "ronni");
  assert_string_equal(ev->user_id, "87654321");
  assert_string_equal(ev->target, "#dallas");
  assert_string_equal(ev->u.user_banned.room_id, "12345678");
  assert_int_equal(ev->u.user_banned.duration, 0);
  ev = one(h, "@ban-duration=350;room-id=12345678;target-user-id=87654321;"
              "tmi-sent-ts=1642719320727 :tmi.twitch.tv CLEARCHAT #dallas "
              ":ronni");
  assert_int_equal(ev->kind, TW_EVENT_USER_BANNED);
  assert_int_equal(ev->u.user_banned.duration, 350);
  ev = one(h, "@room-id=12345678;tmi-sent-ts=1642715695392 :tmi.twitch.tv "
              "CLEARCHAT #dallas");
  assert_int_equal(ev->kind, TW_EVENT_CHAT_CLEARED);
  assert_null(ev->user);
  assert_string_equal(ev->target, "#dallas");
  assert_string_equal(ev->u.chat_cleared.room_id, "12345678");
  ev = one(h, "@login=ronni;room-id=;target-msg-id=abc-123-def;tmi-sent-ts="
              "1642720582342 :tmi.twitch.tv CLEARMSG #dallas :HeyGuys");
  assert_int_equal(ev->kind, TW_EVENT_MESSAGE_DELETED);
  assert_string_equal(ev->user, "ronni");
  assert_string_equal(ev->u.message_deleted.id, "abc-123-def");
  assert_string_equal(ev->u.message_deleted.text, "HeyGuys");
  assert_string_equal(ev->target, "#dallas");
  h_free(h);
}

/* ---- membership --------------------------------------------------------- */

static void test_join_part_events(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  tw_event_t *ev;
  (void)state;
  h = ready_default();
  ev = one(h, ":viewer!viewer@viewer.tmi.twitch.tv JOIN #bar");
  assert_int_equal(ev->kind, TW_EVENT_JOIN_ROOM);
  assert_string_equal(ev->user, "viewer");
  assert_string_equal(ev->target, "#bar");
  ev = one(h, ":viewer!viewer@viewer.tmi.twitch.tv PART #bar");
  assert_int_equal(ev->kind, TW_EVENT_LEAVE_ROOM);
  assert_string_equal(ev->user, "viewer");
  /* Our own echo is not an event... */
  none(h, ":bot!bot@bot.tmi.twitch.tv JOIN #bar");
  h_free(h);
  /* ...unless asked for. */
  h_opts(&o);
  o.deliver_own_membership = true;
  h = ready(&o);
  ev = one(h, ":bot!bot@bot.tmi.twitch.tv JOIN #bar");
  assert_string_equal(ev->user, "bot");
  h_free(h);
}

static void test_self_learned_from_001(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  uint64_t c;
  (void)state;
  h_opts(&o);
  o.login = NULL; /* Twitch says who the token belongs to */
  h = h_new(&o);
  tw_chat_session_start(h->s, h->now);
  c = h_last_open(h);
  tw_chat_session_conn_up(h->s, c, h->now);
  assert_non_null(strstr(h_take(h, c), "NICK twitchd\r\n"));
  h_login_as(h, c, "realbot");
  h_feed(h, c, ":realbot!realbot@realbot.tmi.twitch.tv JOIN #bar");
  assert_int_equal(h->nev, 0);
  h_free(h);
}

/* ---- shared chat -------------------------------------------------------- */

static const char SHARED_OTHER[] =
    "@badge-info=;badges=;color=;display-name=Guest;emotes=;id=sh1;mod=0;"
    "room-id=111;source-badge-info=;source-badges=;source-id=orig-1;source-"
    "room-id=222;subscriber=0;tmi-sent-ts=1;user-id=7;user-type= "
    ":guest!guest@guest.tmi.twitch.tv PRIVMSG #bar :from the other room";
static const char SHARED_OWN[] =
    "@badge-info=;badges=;color=;display-name=Local;emotes=;id=sh2;mod=0;room-"
    "id=111;source-badge-info=;source-badges=;source-id=sh2;source-room-id="
    "111;subscriber=0;tmi-sent-ts=1;user-id=8;user-type= "
    ":local!local@local.tmi.twitch.tv PRIVMSG #bar :from this room";

static void test_shared_chat_default_own_room_only(void **state) {
  h_t *h = ready_default();
  tw_event_t *ev;
  tw_chat_stats_t st;
  (void)state;
  none(h, SHARED_OTHER);
  /* A relayed sub from the other room too. */
  none(h, "@badges=;display-name=X;id=sh3;login=x;msg-id=sharedchatnotice;"
          "msg-param-cumulative-months=2;msg-param-sub-plan=1000;room-id=111;"
          "source-id=o3;source-msg-id=resub;source-room-id=222;system-msg=x;"
          "user-id=9 :tmi.twitch.tv USERNOTICE #bar :hey");
  ev = one(h, SHARED_OWN);
  assert_false(ev->u.message.from_shared_chat);
  assert_string_equal(ev->u.message.text, "from this room");
  h_stats(h, &st);
  assert_int_equal(st.shared_skipped, 2);
  h_free(h);
}

static void test_shared_chat_enabled(void **state) {
  tw_chat_opts_t o;
  h_t *h;
  tw_event_t *ev;
  (void)state;
  h_opts(&o);
  o.deliver_shared_chat = true;
  h = ready(&o);
  ev = one(h, SHARED_OTHER);
  assert_true(ev->u.message.from_shared_chat);
  assert_string_equal(ev->u.message.room_id, "111");
  ev = one(h, "@badges=;display-name=X;id=sh3;login=x;msg-id=sharedchatnotice;"
              "msg-param-cumulative-months=2;msg-param-sub-plan=1000;room-id="
              "111;source-id=o3;source-msg-id=resub;source-room-id=222;system-"
              "msg=x;user-id=9 :tmi.twitch.tv USERNOTICE #bar :hey");
  assert_int_equal(ev->kind, TW_EVENT_USER_SUBSCRIBED);
  assert_int_equal(ev->u.user_subscribed.months, 2);
  ev = one(h, SHARED_OWN);
  assert_false(ev->u.message.from_shared_chat);
  h_free(h);
}

/* ---- notices ------------------------------------------------------------ */

static void test_notice_routing(void **state) {
  static const struct {
    const char *id;
    tw_chat_notice_kind_t kind;
    int send_failed;
  } cases[] = {
      {"msg_ratelimit", TW_CHAT_NOTICE_RATELIMIT, 1},
      {"msg_duplicate", TW_CHAT_NOTICE_DUPLICATE, 1},
      {"msg_slowmode", TW_CHAT_NOTICE_SLOWMODE, 1},
      {"msg_followersonly", TW_CHAT_NOTICE_FOLLOWERSONLY, 1},
      {"msg_followersonly_zero", TW_CHAT_NOTICE_FOLLOWERSONLY, 1},
      {"msg_subsonly", TW_CHAT_NOTICE_SUBSONLY, 1},
      {"msg_emoteonly", TW_CHAT_NOTICE_EMOTEONLY, 1},
      {"msg_r9k", TW_CHAT_NOTICE_R9K, 1},
      {"msg_banned", TW_CHAT_NOTICE_BANNED, 1},
      {"msg_timedout", TW_CHAT_NOTICE_TIMEDOUT, 1},
      {"msg_channel_blocked", TW_CHAT_NOTICE_CHANNEL_BLOCKED, 1},
      {"msg_bad_characters", TW_CHAT_NOTICE_BAD_CHARACTERS, 1},
      {"msg_rejected_mandatory", TW_CHAT_NOTICE_REJECTED, 1},
      {"msg_verified_email", TW_CHAT_NOTICE_VERIFIED, 1},
      {"unrecognized_cmd", TW_CHAT_NOTICE_UNRECOGNIZED_CMD, 0},
      {"slow_on", TW_CHAT_NOTICE_ROOM_MODE, 0},
      {"delete_message_success", TW_CHAT_NOTICE_OTHER, 0},
  };
  h_t *h = ready_default();
  tw_chat_stats_t st;
  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char line[256];
    snprintf(line, sizeof(line),
             "@msg-id=%s :tmi.twitch.tv NOTICE #bar :Some sentence.",
             cases[i].id);
    h_feed(h, h_last_open(h), line);
    assert_int_equal(h->nno, i + 1);
    assert_int_equal(h->no[i].kind, cases[i].kind);
    assert_int_equal(h->no[i].send_failed, cases[i].send_failed);
    assert_string_equal(h->no[i].msg_id, cases[i].id);
    assert_string_equal(h->no[i].channel, "bar");
    assert_string_equal(h->no[i].text, "Some sentence.");
  }
  /* Names for logs. */
  assert_string_equal(tw_chat_notice_kind_name(TW_CHAT_NOTICE_RATELIMIT),
                      "msg_ratelimit");
  assert_string_equal(tw_chat_notice_kind_name(TW_CHAT_NOTICE_OTHER), "other");
  assert_string_equal(tw_chat_status_kind_name(TW_CHAT_STATUS_JOIN_FAILED),
                      "join_failed");
  /* A notice without msg-id or channel. */
  h_feed(h, h_last_open(h), ":tmi.twitch.tv NOTICE * :Something else");
  assert_int_equal(h->no[h->nno - 1].kind, TW_CHAT_NOTICE_OTHER);
  assert_string_equal(h->no[h->nno - 1].channel, "");
  assert_string_equal(h->no[h->nno - 1].msg_id, "");
  /* After the login, "Login authentication failed" text means nothing. */
  h_feed(h, h_last_open(h),
         ":tmi.twitch.tv NOTICE * :Login authentication failed");
  assert_true(tw_chat_session_is_ready(h->s));
  h_stats(h, &st);
  assert_int_equal(st.notices, sizeof(cases) / sizeof(cases[0]) + 2);
  assert_int_equal(h->nev, 0);
  h_free(h);
}

/* ---- corpus ------------------------------------------------------------- */

static void test_unknown_commands_ignored(void **state) {
  h_t *h = ready_default();
  tw_chat_stats_t st;
  (void)state;
  none(h, ":tmi.twitch.tv HOSTTARGET #bar :- 0");
  none(h, "@badges=;display-name=P;message-id=306;thread-id=1_2;user-id=2 "
          ":p!p@p.tmi.twitch.tv WHISPER bot :hello");
  none(h, ":tmi.twitch.tv 421 bot WHO :Unknown command");
  none(h, ":tmi.twitch.tv FOOBAR #bar :x");
  none(h, ":tmi.twitch.tv CAP * NAK :twitch.tv/foo");
  h_stats(h, &st);
  assert_int_equal(st.lines_malformed, 0);
  h_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_privmsg_broadcaster),
      cmocka_unit_test(test_privmsg_flags_bits_action_reply),
      cmocka_unit_test(test_omit_raw_and_connector),
      cmocka_unit_test(test_invalid_utf8_repaired),
      cmocka_unit_test(test_spoof_attempts_in_text),
      cmocka_unit_test(test_resub),
      cmocka_unit_test(test_subgift_and_mystery),
      cmocka_unit_test(test_raid_and_ignored_kinds),
      cmocka_unit_test(test_clearchat_clearmsg),
      cmocka_unit_test(test_join_part_events),
      cmocka_unit_test(test_self_learned_from_001),
      cmocka_unit_test(test_shared_chat_default_own_room_only),
      cmocka_unit_test(test_shared_chat_enabled),
      cmocka_unit_test(test_notice_routing),
      cmocka_unit_test(test_unknown_commands_ignored),
  };
  tw_log_set_level(TW_LOG_OFF);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
