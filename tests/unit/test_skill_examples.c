/* The seed's four example skills, written in Lua under examples/skills/,
 * driven by injected events; the test checks the exact actions routed.
 * Skills are configured through YAML as a user would write it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot_test.h"
#include "twitchd/bot.h"
#include "twitchd/config.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

typedef struct {
  tw_test_sink_t sink;
  tw_bot_t *bot;
} fx_t;

static const char *examples(void) {
  static char buf[2048];
  snprintf(buf, sizeof(buf), "%s/../../examples/skills", tw_test_fixture(""));
  return buf;
}

/* A bot running the skills of `skills_yaml` (the skills: block, with
 * EX standing for the examples folder). Returns the reload result. */
static int start(fx_t *fx, const char *skills_yaml) {
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &fx->sink;
  assert_int_equal(tw_bot_new(&o, &fx->bot), 0);
  char yaml[8192];
  size_t n = (size_t)snprintf(yaml, sizeof(yaml),
                              "connectors:\n  twitch:\n    client-id: abc\n"
                              "    channel: theflyingdev\nskills:\n");
  for (const char *p = skills_yaml; *p && n < sizeof(yaml) - 1024; p++) {
    if (strncmp(p, "EX", 2) == 0) {
      n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "%s", examples());
      p++;
    } else {
      yaml[n++] = *p;
    }
  }
  yaml[n] = '\0';
  tw_config_t *cfg = tw_config_new();
  int rc = tw_config_load_buffer(cfg, "twitchd.yaml", yaml, n);
  if (rc != 0) {
    char msg[512];
    tw_config_diag_format(tw_config_error(cfg, 0), msg, sizeof(msg));
    fail_msg("config: %s", msg);
  }
  rc = tw_bot_reload_config(fx->bot, cfg);
  tw_config_free(cfg);
  return rc;
}

static void stop(fx_t *fx) {
  tw_bot_free(fx->bot);
  tw_test_sink_clear(&fx->sink);
  memset(fx, 0, sizeof(*fx));
}

static const char *field(fx_t *fx, size_t i, const char *name) {
  const char *v = tw_test_sink_str(&fx->sink, i, name);
  assert_non_null(v);
  return v;
}

static void test_stream_started(void **state) {
  (void)state;
  fx_t fx = {0};
  assert_int_equal(start(&fx, "  - name: stream_started\n"
                              "    path: EX/stream_started.lua\n"),
                   0);
  tw_event_t *ev = tw_event_new(TW_EVENT_STREAM_STARTED);
  tw_event_set_str(ev, "title", "a Twitch bot in C");
  tw_event_set_int(ev, "viewers", 3);
  tw_event_set_str(ev, "connector", "twitch");
  tw_event_set_str(ev, "target", "#theflyingdev");
  assert_int_equal(tw_bot_dispatch(fx.bot, ev), 1);
  assert_int_equal(fx.sink.n, 1);
  assert_string_equal(fx.sink.v[0].connector, "rocketchat");
  assert_int_equal(fx.sink.v[0].ev->kind, TW_EVENT_MESSAGE);
  assert_string_equal(field(&fx, 0, "text"), "I'm live on twitch, come see "
                                             "me work on a Twitch bot in C");
  /* Another connector: the Twitch room is not carried over. */
  assert_string_equal(field(&fx, 0, "target"), "");
  stop(&fx);
  /* The connector and room are options. */
  assert_int_equal(start(&fx, "  - name: stream_started\n"
                              "    path: EX/stream_started.lua\n"
                              "    connector: webhook\n"
                              "    room: '#general'\n"),
                   0);
  assert_int_equal(tw_bot_dispatch(fx.bot, ev), 1);
  assert_string_equal(fx.sink.v[0].connector, "webhook");
  assert_string_equal(field(&fx, 0, "target"), "#general");
  tw_event_free(ev);
  stop(&fx);
}

static void test_follow(void **state) {
  (void)state;
  fx_t fx = {0};
  assert_int_equal(start(&fx, "  follow:\n    path: EX/follow.lua\n"), 0);
  tw_event_t *ev = tw_event_new(TW_EVENT_USER_FOLLOWED);
  tw_event_set_str(ev, "follower", "newfan");
  tw_event_set_str(ev, "user", "newfan");
  tw_event_set_str(ev, "user_id", "555");
  tw_event_set_time(ev, "followed_at", 1594836971000);
  tw_event_set_str(ev, "connector", "twitch");
  tw_event_set_str(ev, "target", "#theflyingdev");
  assert_int_equal(tw_bot_dispatch(fx.bot, ev), 1);
  tw_event_free(ev);
  /* Other events do not trigger it. */
  tw_event_t *msg = tw_test_message("u", "1", "hello");
  assert_int_equal(tw_bot_dispatch(fx.bot, msg), 0);
  tw_event_free(msg);
  assert_int_equal(fx.sink.n, 1);
  assert_string_equal(fx.sink.v[0].connector, "twitch");
  assert_int_equal(fx.sink.v[0].ev->kind, TW_EVENT_MESSAGE);
  assert_string_equal(field(&fx, 0, "text"),
                      "Thank you so much for the follow newfan, you are "
                      "awesome!");
  assert_string_equal(field(&fx, 0, "target"), "#theflyingdev");
  stop(&fx);
}

static void test_spam(void **state) {
  (void)state;
  fx_t fx = {0};
  assert_int_equal(start(&fx, "  - name: spam\n    path: EX/spam.lua\n"), 0);
  tw_event_t *ev = tw_test_message(
      "spambot_77", "666",
      "Wanna become FAMOUS? buy FOLLOWERS, primes and viewers on "
      "bigfollows . com");
  tw_event_set_str(ev, "event_id", "b34ccfc7-4977-403a-8a94-33c6bac34fb8");
  assert_int_equal(tw_bot_dispatch(fx.bot, ev), 1);
  tw_event_free(ev);
  assert_int_equal(fx.sink.n, 2);
  assert_string_equal(fx.sink.v[0].connector, "twitch");
  assert_int_equal(fx.sink.v[0].ev->kind, TW_EVENT_BAN_USER);
  assert_string_equal(field(&fx, 0, "user"), "spambot_77");
  assert_string_equal(field(&fx, 0, "user_id"), "666");
  assert_string_equal(field(&fx, 0, "target"), "#chan");
  assert_int_equal(fx.sink.v[1].ev->kind, TW_EVENT_DELETE_MESSAGE);
  assert_string_equal(field(&fx, 1, "id"),
                      "b34ccfc7-4977-403a-8a94-33c6bac34fb8");
  assert_string_equal(field(&fx, 1, "target"), "#chan");
  /* Ordinary chat is left alone. */
  ev = tw_test_message("viewer", "7", "how do I become famous? by coding");
  assert_int_equal(tw_bot_dispatch(fx.bot, ev), 0);
  tw_event_free(ev);
  assert_int_equal(fx.sink.n, 2);
  stop(&fx);
}

static int title_try(fx_t *fx, const char *login, const char *id,
                     const char *display, const char *text) {
  tw_event_t *ev = tw_test_message(login, id, text);
  tw_event_set_str(ev, "display_name", display);
  size_t before = fx->sink.n;
  tw_bot_dispatch(fx->bot, ev);
  tw_event_free(ev);
  return (int)(fx->sink.n - before);
}

static void test_title(void **state) {
  (void)state;
  fx_t fx = {0};
  /* The seed's own skills block form. */
  assert_int_equal(start(&fx, "  - twitch:\n"
                              "    path: EX/title.lua\n"
                              "    whitelisted:\n"
                              "      - theflyingdev\n"
                              "      - id:12345\n"),
                   0);
  /* bot.log.info goes to the daemon's log under the skill's name. */
  tw_log_set_level(TW_LOG_INFO);
  tw_test_log_begin();
  assert_int_equal(title_try(&fx, "theflyingdev", "1", "TheFlyingDev",
                             "!title Building twitchd: dispatch"),
                   1);
  char *log = tw_test_log_end();
  assert_non_null(strstr(log, "skill: twitch: Attempt to change title"));
  free(log);
  tw_log_set_level(TW_LOG_OFF);
  assert_string_equal(fx.sink.v[0].connector, "twitch");
  assert_int_equal(fx.sink.v[0].ev->kind, TW_EVENT_UPDATE_TITLE);
  assert_string_equal(field(&fx, 0, "status"), "Building twitchd: dispatch");
  assert_string_equal(field(&fx, 0, "target"), "#chan");
  /* Case of the login does not matter; the id entry works for a rename. */
  assert_int_equal(title_try(&fx, "TheFlyingDev", "1", "x", "!title a"), 1);
  assert_int_equal(title_try(&fx, "new_name", "12345", "x", "!title b"), 1);
  /* Spoofs. */
  assert_int_equal(
      title_try(&fx, "mallory", "9", "TheFlyingDev", "!title pwned"), 0);
  assert_int_equal(title_try(&fx, "mallory", "9", "mallory",
                             "!title pwned user=theflyingdev"),
                   0);
  assert_int_equal(title_try(&fx, "theflyingde", "9", "x", "!title pwned"), 0);
  assert_int_equal(title_try(&fx, "theflyingdev_", "9", "x", "!title pwned"),
                   0);
  assert_int_equal(title_try(&fx, "flyingdev", "9", "x", "!title pwned"), 0);
  tw_log_set_level(TW_LOG_WARN);
  assert_int_equal(fx.sink.n, 3);
  tw_bot_skill_stats_t st;
  tw_bot_skill_stats(fx.bot, 0, &st);
  assert_int_equal(st.constraint_rejects, 5);
  stop(&fx);
  /* Without its whitelist the skill does not load (instead of letting
   * everyone change the title). */
  tw_log_set_level(TW_LOG_OFF);
  assert_int_equal(start(&fx, "  - title:\n    path: EX/title.lua\n"),
                   TW_ECONFIG);
  tw_log_set_level(TW_LOG_WARN);
  assert_non_null(strstr(tw_bot_load_error(fx.bot, 0),
                         "config option 'whitelisted' is not set"));
  assert_non_null(strstr(tw_bot_load_error(fx.bot, 0), "title.lua:"));
  stop(&fx);
}

static void test_announce(void **state) {
  (void)state;
  fx_t fx = {0};
  assert_int_equal(start(&fx, "  - name: announce\n"
                              "    path: EX/announce.lua\n"
                              "    room: '#theflyingdev'\n"),
                   0);
  tw_bot_tick(fx.bot, 0);
  assert_int_equal(tw_bot_tick(fx.bot, 299999), 0);
  assert_int_equal(tw_bot_tick(fx.bot, 300000), 1);
  assert_int_equal(fx.sink.n, 1);
  assert_string_equal(field(&fx, 0, "target"), "#theflyingdev");
  assert_string_equal(field(&fx, 0, "text"),
                      "Follow the channel to know when I'm live!");
  stop(&fx);
}

int main(void) {
  tw_log_set_level(TW_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_started), cmocka_unit_test(test_follow),
      cmocka_unit_test(test_spam),           cmocka_unit_test(test_title),
      cmocka_unit_test(test_announce),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
