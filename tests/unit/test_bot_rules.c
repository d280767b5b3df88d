/* Constraints: users, rooms, connectors and Twitch roles, including the
 * spoof attempts opsdroid's substring test let through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot_test.h"
#include "twitchd/bot.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

static tw_skill_rule_t g_rule;
static int g_hits;

static int hit(tw_skill_t *sk, const tw_event_t *ev, const tw_skill_match_t *m,
               void *arg) {
  (void)sk;
  (void)ev;
  (void)m;
  (void)arg;
  g_hits++;
  return 0;
}

static int init_rx(const tw_skill_api_t *api, tw_skill_t *sk) {
  return api->match_regex(sk, "^!title", &g_rule, hit, NULL, __FILE__,
                          __LINE__);
}

static int init_ev(const tw_skill_api_t *api, tw_skill_t *sk) {
  return api->match_event(sk, "UserFollowed", &g_rule, hit, NULL, __FILE__,
                          __LINE__);
}

typedef struct {
  tw_test_sink_t sink;
  tw_bot_t *bot;
} fx_t;

static fx_t *load(tw_skill_init_fn init, tw_skill_rule_t rule) {
  fx_t *fx = calloc(1, sizeof(*fx));
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &fx->sink;
  assert_int_equal(tw_bot_new(&o, &fx->bot), 0);
  g_rule = rule;
  tw_bot_skill_def_t d = {.name = "rules", .init = init};
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  return fx;
}

static void unload(fx_t *fx) {
  tw_bot_free(fx->bot);
  tw_test_sink_clear(&fx->sink);
  free(fx);
}

/* Dispatches a "!title" message with these fields; returns whether the
 * handler ran. */
static int try_msg(fx_t *fx, const char *login, const char *id,
                   const char *display, const char *text) {
  tw_event_t *ev = tw_test_message(login, id, text ? text : "!title x");
  tw_event_set_str(ev, "display_name", display);
  g_hits = 0;
  tw_bot_dispatch(fx->bot, ev);
  tw_event_free(ev);
  return g_hits;
}

static void test_users_exact_and_spoofs(void **state) {
  (void)state;
  static const char *const wl[] = {"Admin_One", "@helper", "id:777", NULL};
  fx_t *fx = load(init_rx, (tw_skill_rule_t){.users = wl});
  /* Logins compare case-insensitively; "@helper" means helper. */
  assert_int_equal(try_msg(fx, "admin_one", "1", "Admin_One", NULL), 1);
  assert_int_equal(try_msg(fx, "ADMIN_ONE", "1", "x", NULL), 1);
  assert_int_equal(try_msg(fx, "helper", "2", "helper", NULL), 1);
  /* An id entry matches the user id, whatever the login. */
  assert_int_equal(try_msg(fx, "renamed", "777", "renamed", NULL), 1);
  /* Spoofs. Text naming a whitelisted user: */
  assert_int_equal(
      try_msg(fx, "mallory", "9", "mallory", "!title x user=admin_one"), 0);
  assert_int_equal(try_msg(fx, "mallory", "9", "mallory",
                           "!title @badges=broadcaster/1;user=admin_one"),
                   0);
  /* A display name equal to a whitelisted login: */
  assert_int_equal(try_msg(fx, "mallory", "9", "Admin_One", NULL), 0);
  /* Substrings and superstrings of a whitelisted login: */
  assert_int_equal(try_msg(fx, "admin", "9", "admin", NULL), 0);
  assert_int_equal(try_msg(fx, "admin_on", "9", "admin_on", NULL), 0);
  assert_int_equal(try_msg(fx, "admin_one2", "9", "admin_one2", NULL), 0);
  assert_int_equal(try_msg(fx, "xadmin_one", "9", "xadmin_one", NULL), 0);
  /* A login that spells a whitelisted id is not that id; an id is not a
   * login. */
  assert_int_equal(try_msg(fx, "777", "9", "777", NULL), 0);
  assert_int_equal(try_msg(fx, "mallory", "7777", "m", NULL), 0);
  assert_int_equal(try_msg(fx, "mallory", "77", "m", NULL), 0);
  /* No user at all. */
  assert_int_equal(try_msg(fx, NULL, NULL, NULL, NULL), 0);
  tw_bot_skill_stats_t st;
  tw_bot_skill_stats(fx->bot, 0, &st);
  assert_int_equal(st.constraint_rejects, 11);
  unload(fx);
}

static void test_empty_list_admits_no_one(void **state) {
  (void)state;
  static const char *const none[] = {NULL};
  fx_t *fx = load(init_rx, (tw_skill_rule_t){.users = none});
  assert_int_equal(try_msg(fx, "anyone", "1", "anyone", NULL), 0);
  unload(fx);
  fx = load(init_rx, (tw_skill_rule_t){0});
  assert_int_equal(try_msg(fx, "anyone", "1", "anyone", NULL), 1);
  unload(fx);
}

static void test_rooms_and_connectors(void **state) {
  (void)state;
  static const char *const rooms[] = {"#Chan", "id:555", NULL};
  static const char *const conns[] = {"twitch", NULL};
  fx_t *fx =
      load(init_rx, (tw_skill_rule_t){.rooms = rooms, .connectors = conns});
  assert_int_equal(try_msg(fx, "u", "1", "u", NULL), 1); /* #chan, twitch */
  tw_event_t *ev = tw_test_message("u", "1", "!title x");
  tw_event_set_str(ev, "target", "#chan2");
  g_hits = 0;
  tw_bot_dispatch(fx->bot, ev);
  assert_int_equal(g_hits, 0);
  tw_event_set_str(ev, "room_id", "555"); /* the room's id is listed */
  tw_bot_dispatch(fx->bot, ev);
  assert_int_equal(g_hits, 1);
  tw_event_set_str(ev, "connector", "discord");
  tw_bot_dispatch(fx->bot, ev);
  assert_int_equal(g_hits, 1);
  tw_event_set_str(ev, "connector", "Twitch"); /* names are exact */
  tw_bot_dispatch(fx->bot, ev);
  assert_int_equal(g_hits, 1);
  tw_event_free(ev);
  unload(fx);
}

static int try_roles(fx_t *fx, bool b, bool m, bool v, bool s) {
  tw_event_t *ev = tw_test_message("u", "1", "!title x");
  ev->u.message.is_broadcaster = b;
  ev->u.message.is_moderator = m;
  ev->u.message.is_vip = v;
  ev->u.message.is_subscriber = s;
  g_hits = 0;
  tw_bot_dispatch(fx->bot, ev);
  tw_event_free(ev);
  return g_hits;
}

static void test_roles(void **state) {
  (void)state;
  fx_t *fx = load(init_rx, (tw_skill_rule_t){.roles = TW_SKILL_ROLE_MODERATOR});
  assert_int_equal(try_roles(fx, false, true, false, false), 1);
  assert_int_equal(try_roles(fx, true, false, false, false), 1);
  assert_int_equal(try_roles(fx, false, false, true, true), 0);
  assert_int_equal(try_roles(fx, false, false, false, false), 0);
  unload(fx);
  fx = load(init_rx, (tw_skill_rule_t){.roles = TW_SKILL_ROLE_VIP |
                                                TW_SKILL_ROLE_SUBSCRIBER});
  assert_int_equal(try_roles(fx, false, false, false, true), 1);
  assert_int_equal(try_roles(fx, false, false, true, false), 1);
  assert_int_equal(try_roles(fx, false, true, false, false), 0);
  unload(fx);
  fx = load(init_rx, (tw_skill_rule_t){.roles = TW_SKILL_ROLE_BROADCASTER});
  assert_int_equal(try_roles(fx, false, true, true, true), 0);
  assert_int_equal(try_roles(fx, true, false, false, false), 1);
  unload(fx);
}

/* Roles exist only on chat messages: an event without badges never
 * satisfies a roles constraint. */
static void test_roles_on_other_events(void **state) {
  (void)state;
  fx_t *fx = load(init_ev, (tw_skill_rule_t){.roles = TW_SKILL_ROLE_MODERATOR});
  tw_event_t *ev = tw_event_new(TW_EVENT_USER_FOLLOWED);
  tw_event_set_str(ev, "user", "mod");
  g_hits = 0;
  tw_bot_dispatch(fx->bot, ev);
  assert_int_equal(g_hits, 0);
  tw_event_free(ev);
  unload(fx);
}

static void test_bad_entries(void **state) {
  (void)state;
  fx_t *fx = calloc(1, sizeof(*fx));
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &fx->sink;
  assert_int_equal(tw_bot_new(&o, &fx->bot), 0);
  static const char *const bad1[] = {"id:12x", NULL};
  static const char *const bad2[] = {"", NULL};
  static const char *const bad3[] = {"@", NULL};
  const char *const *bads[] = {bad1, bad2, bad3};
  for (size_t i = 0; i < 3; i++) {
    g_rule = (tw_skill_rule_t){.users = bads[i]};
    tw_bot_skill_def_t d = {.name = "rules", .init = init_rx};
    assert_int_equal(tw_bot_reload(fx->bot, &d, 1), TW_ECONFIG);
    assert_non_null(strstr(tw_bot_load_error(fx->bot, 0), "constraint"));
  }
  g_rule = (tw_skill_rule_t){.roles = 0x100};
  tw_bot_skill_def_t d = {.name = "rules", .init = init_rx};
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), TW_ECONFIG);
  unload(fx);
}

int main(void) {
  tw_log_set_level(TW_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_users_exact_and_spoofs),
      cmocka_unit_test(test_empty_list_admits_no_one),
      cmocka_unit_test(test_rooms_and_connectors),
      cmocka_unit_test(test_roles),
      cmocka_unit_test(test_roles_on_other_events),
      cmocka_unit_test(test_bad_entries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
