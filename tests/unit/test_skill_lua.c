/* Lua skills: the API (events in, actions out, fields, constructors,
 * respond, config, require), the sandbox, isolation of failing and runaway
 * skills, load errors with file and line, and reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &fx->sink;
  o.lua_mem_cap = 4u << 20;
  assert_int_equal(tw_bot_new(&o, &fx->bot), 0);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  tw_bot_free(fx->bot);
  tw_test_sink_clear(&fx->sink);
  free(fx);
  return 0;
}

/* Loads fixture skills tests/fixtures/skills/<name>.lua, in order. */
static int load(fx_t *fx, const char *const *names, size_t n) {
  static char paths[16][1024];
  tw_bot_skill_def_t defs[16];
  memset(defs, 0, sizeof(defs));
  for (size_t i = 0; i < n; i++) {
    char rel[256];
    snprintf(rel, sizeof(rel), "skills/%s.lua", names[i]);
    snprintf(paths[i], sizeof(paths[i]), "%s", tw_test_fixture(rel));
    defs[i].name = names[i];
    defs[i].path = paths[i];
  }
  return tw_bot_reload(fx->bot, defs, n);
}

static int load1(fx_t *fx, const char *name) {
  return load(fx, &name, 1);
}

static int say(fx_t *fx, const char *user, const char *text) {
  tw_event_t *ev = tw_test_message(user, "42", text);
  int rc = tw_bot_dispatch(fx->bot, ev);
  tw_event_free(ev);
  return rc;
}

static const char *text_of(fx_t *fx, size_t i) {
  return tw_test_sink_str(&fx->sink, i, "text");
}

static void test_respond_same_room(void **state) {
  fx_t *fx = *state;
  assert_int_equal(load1(fx, "echo"), 0);
  assert_int_equal(say(fx, "alice", "!echo hi there"), 1);
  assert_int_equal(say(fx, "alice", "no echo"), 0);
  assert_int_equal(fx->sink.n, 1);
  assert_string_equal(fx->sink.v[0].connector, "twitch");
  assert_int_equal(fx->sink.v[0].ev->kind, TW_EVENT_MESSAGE);
  assert_string_equal(text_of(fx, 0), "hi there");
  assert_string_equal(tw_test_sink_str(&fx->sink, 0, "target"), "#chan");
  assert_string_equal(tw_test_sink_str(&fx->sink, 0, "room_id"), "1000");
  assert_string_equal(tw_test_sink_str(&fx->sink, 0, "connector"), "twitch");
}

/* Fields of any kind are read generically; times come as RFC 3339;
 * named and unset groups. */
static void test_fields_and_groups(void **state) {
  fx_t *fx = *state;
  assert_int_equal(load1(fx, "fields"), 0);
  tw_event_t *ev = tw_event_new(TW_EVENT_USER_GIFTED_SUBSCRIPTION);
  tw_event_set_str(ev, "gifter_name", "santa");
  tw_event_set_str(ev, "gifted_name", "elf");
  tw_event_set_str(ev, "target", "#chan");
  assert_int_equal(tw_bot_dispatch(fx->bot, ev), 1);
  tw_event_free(ev);
  ev = tw_event_new(TW_EVENT_STREAM_STARTED);
  tw_event_set_str(ev, "title", "Coding");
  tw_event_set_int(ev, "viewers", 17);
  tw_event_set_time(ev, "started_at", 1594836971000);
  assert_int_equal(tw_bot_dispatch(fx->bot, ev), 1);
  tw_event_free(ev);
  ev = tw_test_message("mod1", "5", "!ban spammer");
  tw_event_set_str(ev, "display_name", "Mod_One");
  tw_event_set_bool(ev, "is_moderator", true);
  assert_int_equal(tw_bot_dispatch(fx->bot, ev), 1);
  tw_event_free(ev);
  assert_int_equal(fx->sink.n, 3);
  assert_string_equal(text_of(fx, 0),
                      "UserGiftedSubscription santa -> elf in #chan");
  assert_string_equal(text_of(fx, 1),
                      "StreamStarted Coding 17 2020-07-15T18:16:11.000Z");
  assert_string_equal(text_of(fx, 2),
                      "!ban spammer|!ban|spammer|false|3|true|Mod_One");
}

static const char *make(fx_t *fx, const char *expr) {
  char text[512];
  snprintf(text, sizeof(text), "make %s", expr);
  tw_test_sink_clear(&fx->sink);
  assert_int_equal(say(fx, "u", text), 1);
  assert_true(fx->sink.n >= 1);
  return text_of(fx, fx->sink.n - 1);
}

static void test_constructors(void **state) {
  fx_t *fx = *state;
  assert_int_equal(load1(fx, "constructors"), 0);
  assert_string_equal(make(fx, "bot.UpdateTitle{status = 'New'}"),
                      "sent UpdateTitle");
  assert_int_equal(fx->sink.n, 2);
  assert_string_equal(fx->sink.v[0].connector, "log");
  assert_string_equal(tw_test_sink_str(&fx->sink, 0, "status"), "New");
  assert_string_equal(make(fx, "bot.Message('hi')"), "sent Message");
  assert_string_equal(text_of(fx, 0), "hi");
  assert_string_equal(make(fx, "bot.Message(5)"), "sent Message");
  assert_string_equal(text_of(fx, 0), "5");
  assert_string_equal(make(fx, "bot.BanUser{user = 'x', duration = 600}"),
                      "sent BanUser");
  int64_t d = 0;
  tw_event_get_int(fx->sink.v[0].ev, "duration", &d);
  assert_int_equal(d, 600);
  assert_string_equal(make(fx, "bot.UpdateTitle{statuz = 'x'}"),
                      "error: UpdateTitle has no field 'statuz'");
  assert_string_equal(make(fx, "bot.BanUser{duration = 'long'}"),
                      "error: BanUser.duration must be an integer, got "
                      "string");
  assert_string_equal(make(fx, "bot.BanUser('x')"),
                      "error: BanUser takes a table of fields");
  assert_string_equal(make(fx, "bot.StreamStarted{started_at = 'soon'}"),
                      "error: StreamStarted.started_at: not an RFC 3339 "
                      "time: soon");
  assert_string_equal(make(fx, "bot.Message{text = string.rep('x', 5000)}"),
                      "error: Message.text is longer than 4096 bytes");
  assert_string_equal(
      make(fx, "bot.UserFollowed{follower = 'x'}"),
      "error: UserFollowed is an event connectors produce, not an action "
      "they perform");
  assert_string_equal(make(fx, "{text = 'plain table'}"),
                      "error: expected an event (made with bot.Message{...} "
                      "and the like), got table");
}

static void test_sandbox(void **state) {
  fx_t *fx = *state;
  assert_int_equal(load1(fx, "sandbox"), 0);
  assert_int_equal(say(fx, "u", "probe"), 1);
  assert_int_equal(fx->sink.n, 1);
  assert_string_equal(
      text_of(fx, 0),
      "io=nil os.execute=nil os.getenv=nil os.time=function debug=nil "
      "package=nil dofile=nil loadfile=nil string.dump=nil binary=shut "
      "text=open escape=shut abs=shut gcstop=shut module=42");
}

/* One skill raising, one looping forever, one swallowing the budget error
 * with pcall, one allocating without bound: the echo skill after them
 * answers every message, and each failure is logged with the skill's name
 * and counted. The runaway ones are disabled after TW_BOT_MAX_STRIKES. */
static void test_isolation(void **state) {
  fx_t *fx = *state;
  static const char *const names[] = {"raises", "loops", "pcall_loop", "hog",
                                      "echo"};
  assert_int_equal(load(fx, names, 5), 0);
  tw_test_log_begin();
  const int n = TW_BOT_MAX_STRIKES + 3;
  for (int i = 0; i < n; i++) {
    char text[64];
    snprintf(text, sizeof(text), "!echo %d", i);
    say(fx, "bob", text);
  }
  char *log = tw_test_log_end();
  assert_int_equal(fx->sink.n, (size_t)n);
  for (int i = 0; i < n; i++) {
    char want[16];
    snprintf(want, sizeof(want), "%d", i);
    assert_string_equal(text_of(fx, (size_t)i), want);
  }
  tw_bot_skill_stats_t st;
  assert_int_equal(tw_bot_skill_stats(fx->bot, 0, &st), 0);
  assert_int_equal(st.errors, n);
  assert_false(st.disabled);
  assert_int_equal(tw_bot_skill_stats(fx->bot, 1, &st), 0);
  assert_int_equal(st.budget_exceeded, TW_BOT_MAX_STRIKES);
  assert_true(st.disabled);
  assert_int_equal(tw_bot_skill_stats(fx->bot, 2, &st), 0);
  assert_int_equal(st.budget_exceeded, TW_BOT_MAX_STRIKES);
  assert_true(st.disabled);
  assert_int_equal(tw_bot_skill_stats(fx->bot, 3, &st), 0);
  assert_int_equal(st.memory_errors, TW_BOT_MAX_STRIKES);
  assert_true(st.disabled);
  assert_true(st.lua_memory < (4u << 20));
  assert_int_equal(tw_bot_skill_stats(fx->bot, 4, &st), 0);
  assert_int_equal(st.calls, n);
  assert_int_equal(st.errors + st.budget_exceeded + st.memory_errors, 0);
  assert_non_null(strstr(log, "skill 'raises': Message handler failed:"));
  assert_non_null(strstr(log, "raises.lua:3: boom from bob"));
  assert_non_null(strstr(log, "skill 'loops': Message handler stopped: "
                              "instruction budget"));
  assert_non_null(strstr(log, "skill 'pcall_loop': Message handler stopped: "
                              "instruction budget"));
  assert_non_null(strstr(log, "skill 'hog': Message handler stopped: memory "
                              "cap"));
  assert_non_null(strstr(log, "skill 'loops': disabled"));
  free(log);
  /* A reload brings the disabled skills back. */
  assert_int_equal(load(fx, names, 5), 0);
  assert_int_equal(tw_bot_skill_stats(fx->bot, 1, &st), 0);
  assert_false(st.disabled);
}

/* A memory failure leaves the state usable: the skill answers the next
 * call that needs little memory. */
static void test_memory_failure_recovers(void **state) {
  fx_t *fx = *state;
  static const char *const names[] = {"hog", "echo"};
  assert_int_equal(load(fx, names, 2), 0);
  tw_log_set_level(TW_LOG_OFF);
  say(fx, "u", "!echo once");
  tw_log_set_level(TW_LOG_WARN);
  tw_bot_skill_stats_t st;
  tw_bot_skill_stats(fx->bot, 0, &st);
  assert_int_equal(st.memory_errors, 1);
  assert_false(st.disabled);
  assert_true(st.lua_memory < (1u << 20)); /* collected after the failure */
}

static void expect_load_error(fx_t *fx, const char *name, const char *a,
                              const char *b) {
  tw_log_set_level(TW_LOG_OFF);
  assert_int_equal(load1(fx, name), TW_ECONFIG);
  tw_log_set_level(TW_LOG_WARN);
  assert_int_equal(tw_bot_load_error_count(fx->bot), 1);
  const char *e = tw_bot_load_error(fx->bot, 0);
  char prefix[128];
  snprintf(prefix, sizeof(prefix), "skill '%s': ", name);
  if (strstr(e, prefix) != e || strstr(e, a) == NULL ||
      (b != NULL && strstr(e, b) == NULL))
    fail_msg("load error for %s: %s", name, e);
  assert_int_equal(tw_bot_skill_count(fx->bot), 0);
}

static void test_load_errors(void **state) {
  fx_t *fx = *state;
  expect_load_error(fx, "bad_regex", "bad_regex.lua:4: bad regex",
                    "missing closing parenthesis at offset");
  expect_load_error(fx, "bad_syntax", "bad_syntax.lua:2:", "near '='");
  expect_load_error(fx, "bad_event",
                    "bad_event.lua:2: unknown event 'UserFolowed'", NULL);
  expect_load_error(fx, "bad_option", "bad_option.lua:2: unknown option 'user'",
                    NULL);
  expect_load_error(fx, "missing_config",
                    "missing_config.lua:2: config option 'whitelisted' is "
                    "not set",
                    NULL);
  expect_load_error(fx, "load_loop", "instruction budget", NULL);
  expect_load_error(fx, "no_such_file", "cannot open", NULL);
}

static void test_order(void **state) {
  fx_t *fx = *state;
  static const char *const names[] = {"order_b", "order_a"};
  assert_int_equal(load(fx, names, 2), 0);
  assert_int_equal(say(fx, "u", "order"), 3);
  assert_string_equal(text_of(fx, 0), "b1");
  assert_string_equal(text_of(fx, 1), "a1");
  assert_string_equal(text_of(fx, 2), "a2");
}

static void test_timer(void **state) {
  fx_t *fx = *state;
  assert_int_equal(load1(fx, "timer"), 0);
  assert_int_equal(tw_bot_tick(fx->bot, 100), 0);
  assert_int_equal(tw_bot_tick(fx->bot, 2100), 1);
  assert_int_equal(tw_bot_tick(fx->bot, 4100), 1);
  assert_int_equal(fx->sink.n, 2);
  assert_string_equal(text_of(fx, 1), "tick 2");
  assert_string_equal(tw_test_sink_str(&fx->sink, 1, "target"), "#chan");
  assert_string_equal(fx->sink.v[1].connector, "twitch");
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Reload: unchanged skills keep their state, changed ones are loaded
 * afresh, a change that fails to load keeps the old version running, a
 * change in a required module counts as a change. */
static void test_reload(void **state) {
  fx_t *fx = *state;
  char dir[] = "/tmp/tw_skill_reload_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char main_path[256], mod_path[256];
  snprintf(main_path, sizeof(main_path), "%s/greet.lua", dir);
  snprintf(mod_path, sizeof(mod_path), "%s/words.lua", dir);
  write_file(mod_path, "return {hello = 'hello'}\n");
  write_file(main_path, "local w = require('words')\n"
                        "local n = 0\n"
                        "bot.match_regex('^hi$', function(m)\n"
                        "  n = n + 1\n"
                        "  m:respond(w.hello .. ' v1 ' .. n)\n"
                        "end)\n");
  tw_bot_skill_def_t d = {.name = "greet", .path = main_path};
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  say(fx, "u", "hi");
  assert_string_equal(text_of(fx, 0), "hello v1 1");
  /* Unchanged: same instance, the counter goes on. */
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  say(fx, "u", "hi");
  assert_string_equal(text_of(fx, 1), "hello v1 2");
  /* A broken change: the old version keeps running. */
  write_file(main_path, "bot.match_regex('^hi$', function(m)\n"
                        "  m:respond('v2'\n"
                        "end)\n");
  tw_log_set_level(TW_LOG_OFF);
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), TW_ECONFIG);
  tw_log_set_level(TW_LOG_WARN);
  assert_non_null(
      strstr(tw_bot_load_error(fx->bot, 0), "previous version keeps running"));
  assert_non_null(strstr(tw_bot_load_error(fx->bot, 0), "greet.lua:3:"));
  say(fx, "u", "hi");
  assert_string_equal(text_of(fx, 2), "hello v1 3");
  /* A good change replaces it (fresh state). */
  write_file(main_path, "local w = require('words')\n"
                        "bot.match_regex('^hi$', function(m)\n"
                        "  m:respond(w.hello .. ' v3')\n"
                        "end)\n");
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  say(fx, "u", "hi");
  assert_string_equal(text_of(fx, 3), "hello v3");
  /* Only the module changes: still a change. */
  write_file(mod_path, "return {hello = 'bonjour'}\n");
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  say(fx, "u", "hi");
  assert_string_equal(text_of(fx, 4), "bonjour v3");
  tw_bot_skill_stats_t st;
  tw_bot_skill_stats(fx->bot, 0, &st);
  assert_int_equal(st.calls, 5); /* counters survive reloads */
  /* Dropped from the list: unloaded. */
  assert_int_equal(tw_bot_reload(fx->bot, NULL, 0), 0);
  assert_int_equal(tw_bot_skill_count(fx->bot), 0);
  assert_int_equal(say(fx, "u", "hi"), 0);
  unlink(main_path);
  unlink(mod_path);
  rmdir(dir);
}

/* Skills from a configuration: options become bot.config, unchanged
 * options keep the instance, changed options reload it. */
static void test_config_options(void **state) {
  fx_t *fx = *state;
  char yaml[4096];
  const char *dir = tw_test_fixture("skills");
  char dir_copy[1024];
  snprintf(dir_copy, sizeof(dir_copy), "%s", dir);
  snprintf(yaml, sizeof(yaml),
           "connectors:\n"
           "  twitch:\n"
           "    client-id: abc\n"
           "    channel: chan\n"
           "skills:\n"
           "  - name: options\n"
           "    path: %s/options.lua\n"
           "    greeting: hey\n"
           "    count: 3\n"
           "    users: [alice, bob]\n"
           "    limits: {per-user: 2}\n"
           "    lua-path: [lib]\n"
           "  - name: counter\n"
           "    path: %s/counter.lua\n"
           "    greeting: %s\n",
           dir_copy, dir_copy, "n");
  tw_config_t *cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml)), 0);
  assert_int_equal(tw_bot_reload_config(fx->bot, cfg), 0);
  tw_config_free(cfg);
  say(fx, "u", "!opts");
  assert_string_equal(text_of(fx, 0), "hey 3 alice,bob 2 dflt extra");
  say(fx, "u", "!count");
  say(fx, "u", "!count");
  assert_string_equal(text_of(fx, 2), "n 2");
  /* Same config again: counter keeps its count. */
  cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml)), 0);
  assert_int_equal(tw_bot_reload_config(fx->bot, cfg), 0);
  tw_config_free(cfg);
  say(fx, "u", "!count");
  assert_string_equal(text_of(fx, 3), "n 3");
  /* Changed option: reloaded with a fresh state. */
  char *p = strstr(yaml, "greeting: n");
  assert_non_null(p);
  p[10] = 'm';
  cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml)), 0);
  assert_int_equal(tw_bot_reload_config(fx->bot, cfg), 0);
  tw_config_free(cfg);
  say(fx, "u", "!count");
  assert_string_equal(text_of(fx, 4), "m 1");
}

/* Without an explicit path a skill is looked up in the skills folder. */
static void test_skills_dir(void **state) {
  (void)state;
  tw_test_sink_t sink = {0};
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &sink;
  o.skills_dir = tw_test_fixture("skills");
  tw_bot_t *bot = NULL;
  assert_int_equal(tw_bot_new(&o, &bot), 0);
  tw_bot_skill_def_t d = {.name = "echo"};
  assert_int_equal(tw_bot_reload(bot, &d, 1), 0);
  tw_event_t *ev = tw_test_message("u", "1", "!echo x");
  assert_int_equal(tw_bot_dispatch(bot, ev), 1);
  tw_event_free(ev);
  tw_bot_free(bot);
  tw_test_sink_clear(&sink);
}

static bool only_twitch(const char *name, void *arg) {
  (void)arg;
  return strcmp(name, "twitch") == 0;
}

/* With has_connector, a misspelt connector is a load error. */
static void test_unknown_connector(void **state) {
  (void)state;
  tw_test_sink_t sink = {0};
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &sink;
  o.has_connector = only_twitch;
  tw_bot_t *bot = NULL;
  assert_int_equal(tw_bot_new(&o, &bot), 0);
  tw_bot_skill_def_t d = {.name = "order_a",
                          .path = tw_test_fixture("skills/order_a.lua")};
  tw_log_set_level(TW_LOG_OFF);
  assert_int_equal(tw_bot_reload(bot, &d, 1), TW_ECONFIG);
  tw_log_set_level(TW_LOG_WARN);
  assert_non_null(strstr(tw_bot_load_error(bot, 0),
                         "order_a.lua:1: no connector named 'log'"));
  tw_bot_free(bot);
}

int main(void) {
  tw_log_set_level(TW_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_respond_same_room, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fields_and_groups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_constructors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
      cmocka_unit_test_setup_teardown(test_isolation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_memory_failure_recovers, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_options, setup, teardown),
      cmocka_unit_test(test_skills_dir),
      cmocka_unit_test(test_unknown_connector),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
