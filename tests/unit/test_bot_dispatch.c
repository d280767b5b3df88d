/* The dispatcher with C skills linked into the test: order, isolation,
 * regex matching (captures, case, anchoring, limits), event matchers,
 * timers, load errors and reload. The Lua front end has its own tests
 * (test_skill_lua.c); both share the code tested here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot_test.h"
#include "net_test.h"
#include "twitchd/bot.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

/* A C skill described by data: each matcher answers on connector "log"
 * with `reply` (or its first capture group when reply is NULL). */
typedef struct {
  const char *pattern; /* a regex matcher, or */
  const char *event;   /* an event matcher */
  tw_skill_rule_t rule;
  const char *reply;
  int fail; /* the handler returns this */
} cmatch_t;

typedef struct {
  cmatch_t m[8];
  size_t n;
  uint64_t every_ms; /* a timer too, answering "tick" */
  int calls;
  int fini_calls;
} cskill_t;

static const tw_skill_api_t *g_api;

static int handler(tw_skill_t *sk, const tw_event_t *ev,
                   const tw_skill_match_t *m, void *arg) {
  const cmatch_t *cm = arg;
  tw_event_t *out = g_api->event_new("Message");
  if (cm->reply != NULL) {
    g_api->event_set_str(out, "text", cm->reply);
  } else if (m != NULL && m->count > 1 && m->ovector[2] != SIZE_MAX) {
    char buf[256];
    size_t len = m->ovector[3] - m->ovector[2];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, m->subject + m->ovector[2]);
    g_api->event_set_str(out, "text", buf);
  } else {
    g_api->event_set_str(out, "text", ev ? g_api->event_kind(ev) : "?");
  }
  g_api->send(sk, "log", out);
  return cm->fail;
}

static int tick_handler(tw_skill_t *sk, const tw_event_t *ev,
                        const tw_skill_match_t *m, void *arg) {
  (void)ev;
  (void)m;
  cskill_t *cs = arg;
  cs->calls++;
  tw_event_t *out = g_api->event_new("Message");
  g_api->event_set_str(out, "text", "tick");
  g_api->event_set_str(out, "target", "#chan");
  return g_api->send(sk, "twitch", out);
}

static void fini(void *arg) {
  ((cskill_t *)arg)->fini_calls++;
}

static int cinit(const tw_skill_api_t *api, tw_skill_t *sk) {
  g_api = api;
  cskill_t *cs = api->init_arg;
  for (size_t i = 0; i < cs->n; i++) {
    cmatch_t *cm = &cs->m[i];
    int rc = cm->pattern != NULL
                 ? api->match_regex(sk, cm->pattern, &cm->rule, handler, cm,
                                    "cskill.c", 100 + (int)i)
                 : api->match_event(sk, cm->event, &cm->rule, handler, cm,
                                    "cskill.c", 100 + (int)i);
    if (rc != 0)
      return rc;
  }
  if (cs->every_ms != 0 &&
      api->every(sk, cs->every_ms, tick_handler, cs, "cskill.c", 99) != 0)
    return -1;
  api->on_unload(sk, fini, cs);
  return 0;
}

typedef struct {
  tw_test_sink_t sink;
  tw_bot_t *bot;
} fx_t;

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  tw_bot_opts_t o = {0};
  o.route = tw_test_sink_route;
  o.route_arg = &fx->sink;
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

static tw_bot_skill_def_t cdef(const char *name, cskill_t *cs) {
  tw_bot_skill_def_t d = {0};
  d.name = name;
  d.init = cinit;
  d.init_arg = cs;
  return d;
}

static int say(fx_t *fx, const char *user, const char *text) {
  tw_event_t *ev = tw_test_message(user, "42", text);
  int rc = tw_bot_dispatch(fx->bot, ev);
  tw_event_free(ev);
  return rc;
}

static const char *reply(fx_t *fx, size_t i) {
  return tw_test_sink_str(&fx->sink, i, "text");
}

/* Skills run in config order, matchers in registration order, and every
 * matcher that accepts the event runs (no "best match" as in opsdroid). */
static void test_order(void **state) {
  fx_t *fx = *state;
  cskill_t a = {.n = 2,
                .m = {{.pattern = "order", .reply = "a1"},
                      {.event = "Message", .reply = "a2"}}};
  cskill_t b = {.n = 1, .m = {{.pattern = "^ord", .reply = "b1"}}};
  tw_bot_skill_def_t defs[] = {cdef("b", &b), cdef("a", &a)};
  assert_int_equal(tw_bot_reload(fx->bot, defs, 2), 0);
  assert_int_equal(say(fx, "u", "order please"), 3);
  assert_int_equal(fx->sink.n, 3);
  assert_string_equal(reply(fx, 0), "b1");
  assert_string_equal(reply(fx, 1), "a1");
  assert_string_equal(reply(fx, 2), "a2");
  assert_string_equal(fx->sink.v[0].connector, "log");
  assert_string_equal(tw_test_sink_str(&fx->sink, 0, "connector"), "log");
  /* Reordering the config reorders dispatch, keeping the instances. */
  tw_test_sink_clear(&fx->sink);
  tw_bot_skill_def_t swapped[] = {cdef("a", &a), cdef("b", &b)};
  assert_int_equal(tw_bot_reload(fx->bot, swapped, 2), 0);
  assert_int_equal(a.fini_calls, 0);
  assert_int_equal(say(fx, "u", "order"), 3);
  assert_string_equal(reply(fx, 0), "a1");
  assert_string_equal(reply(fx, 1), "a2");
  assert_string_equal(reply(fx, 2), "b1");
}

/* opsdroid's parse_event_type returned from its loop at the first failing
 * constraint, so later skills never saw the event. Here a skill whose
 * constraint fails, and one whose handler fails, leave the others alone;
 * both are counted and logged with the skill's name. */
static void test_failures_isolated(void **state) {
  fx_t *fx = *state;
  static const char *const only_admin[] = {"admin", NULL};
  cskill_t guarded = {
      .n = 1, .m = {{.event = "UserFollowed", .rule = {.users = only_admin}}}};
  cskill_t failing = {.n = 1, .m = {{.event = "UserFollowed", .fail = 7}}};
  cskill_t open = {.n = 1, .m = {{.event = "UserFollowed", .reply = "ty"}}};
  tw_bot_skill_def_t defs[] = {cdef("guarded", &guarded),
                               cdef("failing", &failing), cdef("open", &open)};
  assert_int_equal(tw_bot_reload(fx->bot, defs, 3), 0);
  tw_event_t *ev = tw_event_new(TW_EVENT_USER_FOLLOWED);
  tw_event_set_str(ev, "user", "newbie");
  tw_event_set_str(ev, "follower", "newbie");
  tw_event_set_str(ev, "connector", "twitch");
  tw_log_set_level(TW_LOG_INFO);
  tw_test_log_begin();
  assert_int_equal(tw_bot_dispatch(fx->bot, ev), 2);
  char *log = tw_test_log_end();
  tw_log_set_level(TW_LOG_WARN);
  tw_event_free(ev);
  assert_int_equal(fx->sink.n, 2); /* failing's reply, then open's */
  assert_string_equal(reply(fx, 1), "ty");
  assert_non_null(strstr(log, "skill 'guarded'"));
  assert_non_null(strstr(log, "users constraint"));
  assert_non_null(strstr(log, "skill 'failing'"));
  assert_non_null(strstr(log, "returned 7"));
  free(log);
  tw_bot_skill_stats_t st;
  assert_int_equal(tw_bot_skill_stats(fx->bot, 0, &st), 0);
  assert_int_equal(st.constraint_rejects, 1);
  assert_int_equal(st.calls, 0);
  assert_int_equal(tw_bot_skill_stats(fx->bot, 1, &st), 0);
  assert_int_equal(st.errors, 1);
  assert_int_equal(st.calls, 1);
  assert_false(st.disabled); /* ordinary errors never disable */
  assert_int_equal(tw_bot_skill_stats(fx->bot, 2, &st), 0);
  assert_int_equal(st.actions_sent, 1);
}

static void test_regex_captures_and_case(void **state) {
  fx_t *fx = *state;
  cskill_t s = {.n = 4,
                .m = {{.pattern = "\\!title (.*)"},
                      {.pattern = "famous\\? buy followers",
                       .rule = {.flags = TW_SKILL_CASELESS},
                       .reply = "spam"},
                      {.pattern = "CaseSensitive", .reply = "cs"},
                      {.pattern = "(x)?(café)", .reply = NULL}}};
  tw_bot_skill_def_t d = cdef("rx", &s);
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  assert_int_equal(say(fx, "u", "!title Speedrun: any% (día 2)"), 1);
  assert_string_equal(reply(fx, 0), "Speedrun: any% (día 2)");
  assert_int_equal(say(fx, "u", "Wanna become FAMOUS? BUY FOLLOWERS now"), 1);
  assert_string_equal(reply(fx, 1), "spam");
  assert_int_equal(say(fx, "u", "casesensitive"), 0);
  assert_int_equal(say(fx, "u", "CaseSensitive"), 1);
  /* Unset group 1 is reported as unset; the handler then names the kind. */
  assert_int_equal(say(fx, "u", "un CAFÉ"), 0);
  assert_int_equal(say(fx, "u", "un café"), 1);
  assert_string_equal(reply(fx, 3), "Message");
}

/* UTF and UCP: Unicode case folding and classes, as Python 3's re. */
static void test_regex_unicode(void **state) {
  fx_t *fx = *state;
  cskill_t s = {.n = 2,
                .m = {{.pattern = "^\\w+$", .reply = "word"},
                      {.pattern = "straße",
                       .rule = {.flags = TW_SKILL_CASELESS},
                       .reply = "street"}}};
  tw_bot_skill_def_t d = cdef("uni", &s);
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  assert_int_equal(say(fx, "u", "Привет"), 1);
  assert_int_equal(say(fx, "u", "die STRAẞE"), 1); /* U+1E9E: capital ß */
  assert_string_equal(reply(fx, 1), "street");
  /* A kelvin sign matches k caselessly: the prefilter must not skip it. */
  cskill_t k = {.n = 1,
                .m = {{.pattern = "kelvin",
                       .rule = {.flags = TW_SKILL_CASELESS},
                       .reply = "k"}}};
  tw_bot_skill_def_t dk = cdef("uni", &k);
  assert_int_equal(tw_bot_reload(fx->bot, &dk, 1), 0);
  assert_int_equal(say(fx, "u",
                       "\xE2\x84\xAA"
                       "ELVIN"),
                   1);
  /* Invalid UTF-8 (an event field assigned directly) does not crash. */
  tw_event_t *ev = tw_test_message("u", "1", "x");
  free(ev->u.message.text);
  ev->u.message.text = strdup("\xff\xfe kelvin \xc3");
  assert_int_equal(tw_bot_dispatch(fx->bot, ev), 1);
  tw_event_free(ev);
}

static void test_regex_conditions(void **state) {
  fx_t *fx = *state;
  cskill_t s = {.n = 3,
                .m = {{.pattern = "hello", .reply = "search"},
                      {.pattern = "hello",
                       .rule = {.flags = TW_SKILL_ANCHOR_START},
                       .reply = "match"},
                      {.pattern = "hello",
                       .rule = {.flags = TW_SKILL_FULLMATCH},
                       .reply = "full"}}};
  tw_bot_skill_def_t d = cdef("cond", &s);
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  assert_int_equal(say(fx, "u", "oh hello"), 1);
  assert_int_equal(say(fx, "u", "hello you"), 2);
  assert_int_equal(say(fx, "u", "hello"), 3);
  assert_string_equal(reply(fx, 5), "full");
}

/* (a+)+$ against "aaaa...b" backtracks exponentially. The match limit
 * stops it; the failure is logged and counted and the next skill still
 * answers. The test has no timing assertion: it finishing is the point. */
static void test_match_limit(void **state) {
  fx_t *fx = *state;
  cskill_t bad = {.n = 2,
                  .m = {{.pattern = "(a+)+$", .reply = "never"},
                        {.pattern = "^(\\w+\\s?)*$", .reply = "never2"}}};
  cskill_t good = {.n = 1, .m = {{.pattern = "a{5}", .reply = "fine"}}};
  tw_bot_skill_def_t defs[] = {cdef("bad", &bad), cdef("good", &good)};
  assert_int_equal(tw_bot_reload(fx->bot, defs, 2), 0);
  char text[200];
  memset(text, 'a', sizeof(text) - 2);
  text[sizeof(text) - 2] = '!';
  text[sizeof(text) - 1] = '\0';
  tw_test_log_begin();
  assert_int_equal(say(fx, "u", text), 1);
  char *log = tw_test_log_end();
  assert_int_equal(fx->sink.n, 1);
  assert_string_equal(reply(fx, 0), "fine");
  tw_bot_skill_stats_t st;
  assert_int_equal(tw_bot_skill_stats(fx->bot, 0, &st), 0);
  assert_int_equal(st.match_limit_hits, 2);
  assert_non_null(strstr(log, "skill 'bad'"));
  assert_non_null(strstr(log, "match limit"));
  assert_non_null(strstr(log, "cskill.c:100"));
  free(log);
  /* Still usable for ordinary input. */
  assert_int_equal(say(fx, "u", "aaaa"), 2);
}

static void test_load_errors(void **state) {
  fx_t *fx = *state;
  cskill_t badrx = {.n = 2,
                    .m = {{.pattern = "fine", .reply = "x"},
                          {.pattern = "famous(\\? Buy", .reply = "x"}}};
  cskill_t badev = {.n = 1, .m = {{.event = "UserFolowed"}}};
  cskill_t action = {.n = 1, .m = {{.event = "BanUser"}}};
  cskill_t ok = {.n = 1, .m = {{.pattern = "x", .reply = "ok"}}};
  tw_bot_skill_def_t defs[] = {cdef("badrx", &badrx), cdef("badev", &badev),
                               cdef("action", &action), cdef("ok", &ok)};
  defs[0].origin = "twitchd.yaml:12";
  tw_test_log_begin();
  assert_int_equal(tw_bot_reload(fx->bot, defs, 4), TW_ECONFIG);
  free(tw_test_log_end());
  assert_int_equal(tw_bot_load_error_count(fx->bot), 3);
  const char *e = tw_bot_load_error(fx->bot, 0);
  assert_non_null(strstr(e, "skill 'badrx' (twitchd.yaml:12)"));
  assert_non_null(strstr(e, "cskill.c:101"));
  assert_non_null(strstr(e, "famous(\\? Buy"));
  assert_non_null(strstr(e, "missing closing parenthesis at offset 13"));
  e = tw_bot_load_error(fx->bot, 1);
  assert_non_null(strstr(e, "unknown event 'UserFolowed'"));
  assert_non_null(strstr(e, "UserFollowed")); /* the list of names */
  assert_non_null(strstr(tw_bot_load_error(fx->bot, 2), "action"));
  assert_null(tw_bot_load_error(fx->bot, 3));
  /* The others run. */
  assert_int_equal(tw_bot_skill_count(fx->bot), 1);
  assert_int_equal(say(fx, "u", "x"), 1);
}

static void test_bad_arguments(void **state) {
  fx_t *fx = *state;
  cskill_t a = {0};
  tw_bot_skill_def_t dup[] = {cdef("a", &a), cdef("a", &a)};
  assert_int_equal(tw_bot_reload(fx->bot, dup, 2), TW_EINVAL);
  tw_bot_skill_def_t noname = cdef("", &a);
  assert_int_equal(tw_bot_reload(fx->bot, &noname, 1), TW_EINVAL);
  assert_int_equal(tw_bot_dispatch(fx->bot, NULL), TW_EINVAL);
  tw_bot_opts_t o = {0};
  tw_bot_t *b = NULL;
  assert_int_equal(tw_bot_new(&o, &b), TW_EINVAL);
  /* A skill without a path and no skills folder. */
  tw_bot_skill_def_t nopath = {.name = "ghost"};
  assert_int_equal(tw_bot_reload(fx->bot, &nopath, 1), TW_ECONFIG);
  assert_non_null(strstr(tw_bot_load_error(fx->bot, 0), "no path"));
}

/* The route callback must not re-enter the bot. */
static tw_bot_t *g_reenter_bot;
static int g_reenter_rc;
static int reenter_route(const char *c, tw_event_t *a, void *arg) {
  (void)c;
  (void)arg;
  g_reenter_rc = tw_bot_dispatch(g_reenter_bot, a);
  tw_event_free(a);
  return 0;
}

static void test_reentry_refused(void **state) {
  (void)state;
  tw_bot_opts_t o = {0};
  o.route = reenter_route;
  assert_int_equal(tw_bot_new(&o, &g_reenter_bot), 0);
  cskill_t s = {.n = 1, .m = {{.pattern = "x", .reply = "x"}}};
  tw_bot_skill_def_t d = cdef("s", &s);
  assert_int_equal(tw_bot_reload(g_reenter_bot, &d, 1), 0);
  tw_event_t *ev = tw_test_message("u", "1", "x");
  assert_int_equal(tw_bot_dispatch(g_reenter_bot, ev), 1);
  assert_int_equal(g_reenter_rc, TW_ESTATE);
  tw_event_free(ev);
  tw_bot_free(g_reenter_bot);
}

static void test_timers(void **state) {
  fx_t *fx = *state;
  cskill_t s = {.every_ms = 5000};
  tw_bot_skill_def_t d = cdef("t", &s);
  assert_int_equal(tw_bot_next_timer(fx->bot, 0), -1);
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  assert_int_equal(tw_bot_timer_count(fx->bot), 1);
  tw_bot_timer_info_t ti;
  assert_int_equal(tw_bot_timer_info(fx->bot, 0, &ti), 0);
  assert_string_equal(ti.skill, "t");
  assert_string_equal(ti.where, "cskill.c:99");
  assert_int_equal(ti.interval_ms, 5000);
  assert_int_equal(ti.due_ms, 0);
  assert_int_equal(tw_bot_next_timer(fx->bot, 1000), 0); /* not armed */
  assert_int_equal(tw_bot_tick(fx->bot, 1000), 0);       /* arms */
  assert_int_equal(tw_bot_next_timer(fx->bot, 1000), 5000);
  assert_int_equal(tw_bot_tick(fx->bot, 5999), 0);
  assert_int_equal(tw_bot_tick(fx->bot, 6000), 1);
  assert_int_equal(s.calls, 1);
  assert_string_equal(reply(fx, 0), "tick");
  assert_string_equal(fx->sink.v[0].connector, "twitch");
  assert_int_equal(tw_bot_next_timer(fx->bot, 6000), 5000);
  /* Far behind: one run, no burst, next one interval after now. */
  assert_int_equal(tw_bot_tick(fx->bot, 60000), 1);
  assert_int_equal(tw_bot_tick(fx->bot, 60001), 0);
  assert_int_equal(tw_bot_next_timer(fx->bot, 60000), 5000);
  assert_int_equal(s.calls, 2);
  cskill_t fast = {.every_ms = 10};
  tw_bot_skill_def_t df = cdef("fast", &fast);
  assert_int_equal(tw_bot_reload(fx->bot, &df, 1), TW_ECONFIG);
  assert_int_equal(s.fini_calls, 1); /* "t" was unloaded */
}

static int uv_done(void *arg) {
  return ((cskill_t *)arg)->calls >= 1;
}

/* The libuv binding fires the timers on a real loop and closes cleanly. */
static void test_uv_timer(void **state) {
  fx_t *fx = *state;
  cskill_t s = {.every_ms = TW_BOT_MIN_INTERVAL_MS};
  tw_bot_skill_def_t d = cdef("t", &s);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  tw_bot_timer_t *t = NULL;
  assert_int_equal(tw_bot_timer_new(&loop, fx->bot, &t), 0);
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  assert_true(tw_test_run_until(&loop, uv_done, &s, TW_TEST_WATCHDOG_MS));
  assert_int_equal(s.calls, 1);
  tw_bot_timer_close(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_action_cap(void **state) {
  fx_t *fx = *state;
  cskill_t s = {.n = 1, .m = {{.pattern = "x", .reply = "r"}}};
  /* Forty matchers would be the usual way to exceed it; instead register
   * one matcher and let the cap count per call: one action per call never
   * trips it. */
  tw_bot_skill_def_t d = cdef("s", &s);
  assert_int_equal(tw_bot_reload(fx->bot, &d, 1), 0);
  for (int i = 0; i < TW_BOT_MAX_ACTIONS_PER_CALL + 5; i++)
    assert_int_equal(say(fx, "u", "x"), 1);
  assert_int_equal(fx->sink.n, TW_BOT_MAX_ACTIONS_PER_CALL + 5);
  /* A refusing route is reported to the skill and counted. */
  fx->sink.fail_rc = TW_ENOTFOUND;
  assert_int_equal(say(fx, "u", "x"), 1);
  tw_bot_skill_stats_t st;
  tw_bot_skill_stats(fx->bot, 0, &st);
  assert_int_equal(st.actions_failed, 1);
}

int main(void) {
  tw_log_set_level(TW_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failures_isolated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_regex_captures_and_case, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_regex_unicode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_regex_conditions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_match_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
      cmocka_unit_test(test_reentry_refused),
      cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uv_timer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_action_cap, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
