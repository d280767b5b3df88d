/* The regex prefilter only skips patterns that cannot match: over the chat
 * corpus and over hand-made edge cases (case folding, Unicode characters
 * that fold to ASCII, anchors, invalid UTF-8), a bot with the prefilter
 * and one without call exactly the same handlers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "bot_test.h"
#include "twitchd/bot.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

static const char *const patterns[] = {
    "^!title\\b",
    "(?i)^!so\\s+(\\S+)",
    "(?i)famous\\? Buy followers",
    "(?i)\\b(?:cheap|best|buy)\\s+(?:viewers|followers)\\b",
    "KEKW",
    "(?i)kekw",
    "(?i)kelvin",
    "(?i)sss",
    "(?i)straße",
    "é",
    "(?i)É",
    "\\d{3,}",
    "[xyz]{2}",
    "(?i)[xyz]{2}",
    "^[A-Z\\s!?]{20,}$",
    "(.)\\1{5,}",
    "\\bLUL\\b",
    "(?i)\\bpog(?:gers|champ)?\\b",
    "gachi\\w+",
    "(?i)https?://\\S+",
    "^$",
    "\\s$",
    "(?i)ǆ", /* titlecase digraph: three case forms */
    "(?i)σ", /* three forms: σ, ς, Σ */
};
#define NPAT (sizeof(patterns) / sizeof(patterns[0]))

static uint64_t g_hits; /* bit i: pattern i's handler ran */

static int hit(tw_skill_t *sk, const tw_event_t *ev, const tw_skill_match_t *m,
               void *arg) {
  (void)sk;
  (void)ev;
  (void)m;
  g_hits |= 1ull << (uintptr_t)arg;
  return 0;
}

static int init(const tw_skill_api_t *api, tw_skill_t *sk) {
  for (uintptr_t i = 0; i < NPAT; i++) {
    int rc = api->match_regex(sk, patterns[i], NULL, hit, (void *)i, __FILE__,
                              __LINE__);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int route(const char *c, tw_event_t *a, void *arg) {
  (void)c;
  (void)arg;
  tw_event_free(a);
  return 0;
}

static tw_bot_t *make(bool prefilter) {
  tw_bot_opts_t o = {0};
  o.route = route;
  o.regex_no_prefilter = !prefilter;
  tw_bot_t *bot = NULL;
  assert_int_equal(tw_bot_new(&o, &bot), 0);
  tw_bot_skill_def_t d = {.name = "all", .init = init};
  assert_int_equal(tw_bot_reload(bot, &d, 1), 0);
  return bot;
}

static size_t g_checked, g_matched;

/* Dispatches `text` (raw bytes, may be invalid UTF-8) to both bots. */
static void same(tw_bot_t *with, tw_bot_t *without, const char *text) {
  tw_event_t *ev = tw_test_message("u", "1", "x");
  free(ev->u.message.text);
  ev->u.message.text = strdup(text);
  g_hits = 0;
  tw_bot_dispatch(with, ev);
  uint64_t a = g_hits;
  g_hits = 0;
  tw_bot_dispatch(without, ev);
  uint64_t b = g_hits;
  tw_event_free(ev);
  if (a != b)
    fail_msg("prefilter changed the result for \"%s\": %llx vs %llx", text,
             (unsigned long long)a, (unsigned long long)b);
  g_checked++;
  g_matched += a != 0;
}

static void test_edge_cases(void **state) {
  (void)state;
  tw_bot_t *with = make(true), *without = make(false);
  static const char *const texts[] = {
      "",
      " ",
      "!title new",
      "!TITLE new",
      "!SO friend",
      "wanna become FAMOUS? BUY FOLLOWERS",
      "kekw",
      "KeKw",
      "\xE2\x84\xAA"
      "ELVIN",                    /* Kelvin sign */
      "\xC5\xBF\xC5\xBF\xC5\xBF", /* long s x3 */
      "\xC5\xBFSs",               /* long s, S, s */
      "STRASSE",
      "STRA\xE1\xBA\x9E"
      "E", /* capital sharp s */
      "caf\xC3\xA9",
      "CAF\xC3\x89",
      "12",
      "123",
      "XY",
      "xY",
      "ALL CAPS SHOUTING HERE!!",
      "aaaaaa",
      "LUL",
      "POGGERS",
      "gachiBASS",
      "HTTPS://EXAMPLE.COM",
      "\xC7\x85",           /* titlecase dz */
      "\xC7\x84",           /* capital DZ */
      "\xCF\x82",           /* final sigma */
      "\xCE\xA3",           /* capital sigma */
      "\xff\xfe kekw \xc3", /* invalid UTF-8 around a match */
      "\xe2\x84",           /* truncated Kelvin */
      "trailing ",
  };
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
    same(with, without, texts[i]);
  tw_bot_free(with);
  tw_bot_free(without);
}

static void test_corpus(void **state) {
  (void)state;
  const char *path = getenv("TW_CORPUS");
  if (path == NULL)
    skip();
  gzFile gz = gzopen(path, "rb");
  if (gz == NULL)
    skip();
  tw_bot_t *with = make(true), *without = make(false);
  static char line[65536];
  size_t before = g_checked;
  g_matched = 0;
  while (gzgets(gz, line, sizeof(line)) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    char *cmd = strstr(line, " PRIVMSG #");
    char *text = cmd ? strstr(cmd + 10, " :") : NULL;
    if (text != NULL)
      same(with, without, text + 2);
  }
  gzclose(gz);
  assert_true(g_checked - before > 1000);
  assert_true(g_matched > 100); /* the patterns do match real chat */
  tw_bot_free(with);
  tw_bot_free(without);
}

int main(void) {
  tw_log_set_level(TW_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_edge_cases),
      cmocka_unit_test(test_corpus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
