/* C skills in shared objects: the example plug-in (examples/skills/c,
 * built as hello_skill.so beside this test) loads through its one exported
 * entry point, registers regex and event matchers, reads its options,
 * answers, keeps its instance over an unchanged reload and is unloaded
 * (its fini called) when dropped. Broken plug-ins are load errors. */
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

static char so_path[4200];

static void find_plugin(void) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  assert_true(n > 0);
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  assert_non_null(slash);
  *slash = '\0';
  snprintf(so_path, sizeof(so_path), "%s/hello_skill.so", exe);
  assert_int_equal(access(so_path, R_OK), 0);
}

static int reload_yaml(tw_bot_t *bot, const char *greeting) {
  char yaml[8192];
  snprintf(yaml, sizeof(yaml),
           "connectors:\n  twitch:\n    client-id: abc\n    channel: chan\n"
           "skills:\n  - name: hello\n    path: %s\n    greeting: %s\n",
           so_path, greeting);
  tw_config_t *cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml)), 0);
  int rc = tw_bot_reload_config(bot, cfg);
  tw_config_free(cfg);
  return rc;
}

static void test_plugin(void **state) {
  (void)state;
  find_plugin();
  tw_test_sink_t sink = {0};
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &sink;
  tw_bot_t *bot = NULL;
  assert_int_equal(tw_bot_new(&o, &bot), 0);
  assert_int_equal(reload_yaml(bot, "Hi"), 0);
  tw_bot_skill_stats_t st;
  assert_int_equal(tw_bot_skill_stats(bot, 0, &st), 0);
  assert_string_equal(st.kind, "so");
  assert_int_equal(st.matchers, 2);

  tw_event_t *ev = tw_test_message("alice", "7", "!HELLO there");
  assert_int_equal(tw_bot_dispatch(bot, ev), 1);
  tw_event_free(ev);
  ev = tw_test_message("alice", "7", "say !hello"); /* anchored */
  assert_int_equal(tw_bot_dispatch(bot, ev), 0);
  tw_event_free(ev);
  ev = tw_event_new(TW_EVENT_USER_FOLLOWED);
  tw_event_set_str(ev, "follower", "newfan");
  tw_event_set_str(ev, "connector", "twitch");
  tw_event_set_str(ev, "target", "#chan");
  assert_int_equal(tw_bot_dispatch(bot, ev), 1);
  tw_event_free(ev);
  assert_int_equal(sink.n, 2);
  assert_string_equal(tw_test_sink_str(&sink, 0, "text"), "Hi, alice!");
  assert_string_equal(tw_test_sink_str(&sink, 0, "target"), "#chan");
  assert_string_equal(sink.v[0].connector, "twitch");
  assert_string_equal(tw_test_sink_str(&sink, 1, "text"),
                      "Welcome aboard, newfan!");
  assert_string_equal(tw_test_sink_str(&sink, 1, "target"), "#chan");

  /* Unchanged: kept. Changed options: reloaded with the new greeting. */
  assert_int_equal(reload_yaml(bot, "Hi"), 0);
  assert_int_equal(reload_yaml(bot, "Yo"), 0);
  ev = tw_test_message("bob", "8", "!hello");
  assert_int_equal(tw_bot_dispatch(bot, ev), 1);
  tw_event_free(ev);
  assert_string_equal(tw_test_sink_str(&sink, 2, "text"), "Yo, bob!");
  tw_bot_free(bot); /* runs the plug-in's unload (ASan checks the free) */
  tw_test_sink_clear(&sink);
}

static void test_broken_plugins(void **state) {
  (void)state;
  tw_test_sink_t sink = {0};
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &sink;
  tw_bot_t *bot = NULL;
  assert_int_equal(tw_bot_new(&o, &bot), 0);
  char fake[] = "/tmp/tw_fake_XXXXXX.so";
  int fd = mkstemps(fake, 3);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "not elf\n", 8), 8);
  close(fd);
  tw_bot_skill_def_t defs[] = {
      {.name = "fake", .path = fake},
      {.name = "missing", .path = "/nonexistent/skill.so"},
  };
  tw_log_set_level(TW_LOG_OFF);
  assert_int_equal(tw_bot_reload(bot, defs, 2), TW_ECONFIG);
  assert_int_equal(tw_bot_load_error_count(bot), 2);
  assert_non_null(strstr(tw_bot_load_error(bot, 0), "cannot load"));
  assert_non_null(strstr(tw_bot_load_error(bot, 1), "cannot open"));
  /* A real shared object without the entry point: the C library, found
   * in our own mappings, under a name ending in .so. */
  char libc[4096] = "", line[4096];
  FILE *maps = fopen("/proc/self/maps", "r");
  assert_non_null(maps);
  while (fgets(line, sizeof(line), maps) != NULL) {
    char *p = strchr(line, '/');
    if (p != NULL && strstr(p, "/libc.so") != NULL) {
      p[strcspn(p, "\n")] = '\0';
      snprintf(libc, sizeof(libc), "%s", p);
      break;
    }
  }
  fclose(maps);
  assert_true(libc[0] != '\0');
  char link_path[] = "/tmp/tw_nolink_XXXXXX";
  assert_non_null(mkdtemp(link_path));
  char so[256];
  snprintf(so, sizeof(so), "%s/libc_alias.so", link_path);
  assert_int_equal(symlink(libc, so), 0);
  tw_bot_skill_def_t noentry = {.name = "noentry", .path = so};
  assert_int_equal(tw_bot_reload(bot, &noentry, 1), TW_ECONFIG);
  assert_non_null(
      strstr(tw_bot_load_error(bot, 0), "does not export tw_skill_init_v1"));
  unlink(so);
  rmdir(link_path);
  tw_log_set_level(TW_LOG_WARN);
  unlink(fake);
  tw_bot_free(bot);
}

int main(void) {
  tw_log_set_level(TW_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plugin),
      cmocka_unit_test(test_broken_plugins),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
