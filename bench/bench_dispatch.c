/* bench_dispatch: the skills runtime's dispatch cost per chat message.
 *
 * 100 regex skills (70 chat commands, 30 spam/moderation patterns, mostly
 * not matching ordinary chat) over the PRIVMSG texts of the corpus turned
 * into Message events, on one core. Every dispatch is timed with
 * clock_gettime into an array for percentiles. Measured in the same run:
 *
 *   baseline/0-skills   tw_bot_dispatch to a bot without skills
 *   baseline/1-pcre2    one pcre2_jit_match of one pattern per message,
 *                       outside the bot
 *   c/prefilter         100 C skills (one pattern each), with the prefilter
 *   c/no-prefilter      the same, every pattern handed to PCRE2
 *   lua/prefilter       100 Lua skills (one state and pattern each)
 *
 * Usage: bench_dispatch [corpus.txt.gz] (default $TW_CORPUS), optional
 * second argument: rounds over the corpus (default 40). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "bot/bot_int.h"
#include "twitchd/bot.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define MAX_LINE 65536
#define NPAT 100

static const char *const commands[70] = {
    "title",    "game",     "uptime",    "so",       "shoutout",  "discord",
    "youtube",  "twitter",  "socials",   "commands", "followage", "watchtime",
    "points",   "gamble",   "slots",     "duel",     "accept",    "song",
    "sr",       "skip",     "queue",     "quote",    "addquote",  "lurk",
    "unlurk",   "hug",      "dice",      "8ball",    "raid",      "clip",
    "settitle", "setgame",  "permit",    "vanish",   "specs",     "pc",
    "setup",    "keyboard", "mouse",     "headset",  "monitor",   "chair",
    "schedule", "prime",    "sub",       "merch",    "donate",    "tip",
    "emotes",   "bttv",     "ffz",       "7tv",      "rank",      "elo",
    "stats",    "kd",       "build",     "mods",     "rules",     "faq",
    "age",      "height",   "location",  "time",     "weather",   "github",
    "project",  "vod",      "highlight", "poll"};

static const char *const spam[30] = {
    "(?i)famous\\? Buy followers",
    "(?i)bigfollows\\s*\\.\\s*com",
    "(?i)\\b(?:cheap|best|buy)\\s+(?:viewers|followers|primes|subs)\\b",
    "(?i)https?://(?:bit\\.ly|tinyurl\\.com|goo\\.gl)/\\S+",
    "(?i)wanna\\s+become\\s+famous",
    "(?i)\\bfree\\s+(?:nitro|skins|v-?bucks|robux)\\b",
    "^[A-Z0-9\\s!?.,]{60,}$",
    "(?i)\\bdogehype\\b",
    "(?i)streamboo\\s*\\.\\s*com",
    "(?i)\\b[a-z0-9-]{3,}\\.(?:ru|xyz|tk|top)\\b",
    "(?i)discord\\.gg/[a-z0-9]+",
    "(?i)\\bcrypto\\s+(?:giveaway|airdrop)\\b",
    "(?i)\\bhot\\s+(?:girls|singles)\\s+in\\b",
    "(?i)onlyfans\\.com",
    "(?i)\\b(?:kys|kill\\s+yourself)\\b",
    "(?i)\\bscam+er\\b",
    "(?i)\\bgift(?:ed)?\\s+card\\s+generator\\b",
    "(?i)twitch\\.tv/[a-z0-9_]{4,25}\\s+(?:follow|raid)\\s+(?:me|4|for)",
    "(?i)\\b(?:whatsapp|telegram)\\s*:?\\s*\\+?\\d{6,}",
    "(?i)\\bprime\\s+sub\\s+for\\s+sub\\b",
    "(?i)\\bf4f\\b",
    "(?i)\\bfollow\\s*(?:4|for)\\s*follow\\b",
    "(?i)\\bview\\s*bot",
    "(?:\\bKappa\\b.*){5}",
    "(?i)\\b(?:https?://)?(?:www\\.)?youtu(?:\\.be|be\\.com)/\\S+",
    "(.)\\1{19,}",
    "(?i)\\bhttps?://\\S+\\.(?:exe|scr|bat)\\b",
    "(?i)^\\s*@?\\w+\\s+is\\s+a\\s+bot\\s*$",
    "(?i)\\bsteamcommunity\\.(?!com)\\w+",
    "(?i)\\bwin\\s+(?:a\\s+)?free\\s+(?:iphone|ps5|xbox)\\b"};

static char patterns[NPAT][160];

static void make_patterns(void) {
  for (int i = 0; i < 70; i++) {
    const char *c = commands[i];
    if (i % 3 == 0)
      snprintf(patterns[i], sizeof(patterns[i]), "^!%s\\b", c);
    else if (i % 3 == 1)
      snprintf(patterns[i], sizeof(patterns[i]), "^!%s\\s+(\\S+)", c);
    else
      snprintf(patterns[i], sizeof(patterns[i]), "(?i)^!%s(?:\\s+(.*))?$", c);
  }
  for (int i = 0; i < 30; i++)
    snprintf(patterns[70 + i], sizeof(patterns[70 + i]), "%s", spam[i]);
}

/* ---- corpus ------------------------------------------------------------- */

static tw_event_t **events;
static size_t nevents;

static void load_corpus(const char *path) {
  gzFile gz = gzopen(path, "rb");
  if (gz == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(1);
  }
  static char line[MAX_LINE];
  size_t cap = 8192;
  events = malloc(cap * sizeof(*events));
  while (gzgets(gz, line, sizeof(line)) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    char *cmd = strstr(line, " PRIVMSG #");
    if (cmd == NULL)
      continue;
    char *text = strstr(cmd + 10, " :");
    char *bang = strchr(line, '!');
    char *colon = strstr(line, " :");
    if (text == NULL || bang == NULL || colon == NULL || colon > bang)
      continue;
    char login[64];
    snprintf(login, sizeof(login), "%.*s", (int)(bang - colon - 2), colon + 2);
    char room[64];
    snprintf(room, sizeof(room), "%.*s", (int)(text - cmd - 9), cmd + 9);
    tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
    tw_event_set_str(ev, "connector", "twitch");
    tw_event_set_str(ev, "target", room);
    tw_event_set_str(ev, "user", login);
    tw_event_set_str(ev, "user_id", "1");
    tw_event_set_str(ev, "text", text + 2);
    if (nevents == cap) {
      cap *= 2;
      events = realloc(events, cap * sizeof(*events));
    }
    events[nevents++] = ev;
  }
  gzclose(gz);
}

/* ---- measurement -------------------------------------------------------- */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  double rate; /* messages per second */
  double p50_us, p99_us, p999_us, max_us;
  uint64_t calls;
} result_t;

static uint32_t *lat;
static int rounds = 40;

typedef int (*dispatch_fn)(void *ctx, const tw_event_t *ev);

static result_t run(dispatch_fn fn, void *ctx) {
  size_t total = nevents * (size_t)rounds, k = 0;
  uint64_t calls = 0;
  for (size_t i = 0; i < nevents; i++) /* warm up */
    fn(ctx, events[i]);
  uint64_t t0 = now_ns();
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < nevents; i++) {
      uint64_t a = now_ns();
      int c = fn(ctx, events[i]);
      uint64_t b = now_ns();
      lat[k++] = (uint32_t)(b - a);
      if (c > 0)
        calls += (uint64_t)c;
    }
  }
  uint64_t t1 = now_ns();
  qsort(lat, total, sizeof(*lat), cmp_u32);
  result_t res;
  res.rate = (double)total / ((double)(t1 - t0) / 1e9);
  res.p50_us = lat[total / 2] / 1000.0;
  res.p99_us = lat[total * 99 / 100] / 1000.0;
  res.p999_us = lat[total * 999 / 1000] / 1000.0;
  res.max_us = lat[total - 1] / 1000.0;
  res.calls = calls / (uint64_t)rounds;
  return res;
}

static void print(const char *name, result_t r, double base) {
  printf("%-22s %12.0f msg/s  p50 %7.2f us  p99 %7.2f us  p99.9 %7.2f us  "
         "max %8.1f us  handlers/pass %6llu  cost x%.1f\n",
         name, r.rate, r.p50_us, r.p99_us, r.p999_us, r.max_us,
         (unsigned long long)r.calls, base > 0 ? base / r.rate : 1.0);
}

/* ---- the configurations ------------------------------------------------- */

static int route_free(const char *c, tw_event_t *a, void *arg) {
  (void)c;
  (void)arg;
  tw_event_free(a);
  return 0;
}

static int bot_dispatch(void *ctx, const tw_event_t *ev) {
  return tw_bot_dispatch(ctx, ev);
}

typedef struct {
  pcre2_code *code;
  pcre2_match_data *md;
  pcre2_match_context *mctx;
} one_t;

static int one_pcre(void *ctx, const tw_event_t *ev) {
  one_t *o = ctx;
  const char *t = ev->u.message.text;
  int rc =
      pcre2_jit_match(o->code, (PCRE2_SPTR)t, strlen(t), 0, 0, o->md, o->mctx);
  return rc > 0;
}

static uint64_t c_hits;
static int c_handler(tw_skill_t *sk, const tw_event_t *ev,
                     const tw_skill_match_t *m, void *arg) {
  (void)sk;
  (void)ev;
  (void)m;
  (void)arg;
  c_hits++;
  return 0;
}

static int c_init(const tw_skill_api_t *api, tw_skill_t *sk) {
  const char *pat = api->init_arg;
  return api->match_regex(sk, pat, NULL, c_handler, NULL, __FILE__, __LINE__);
}

static tw_bot_t *new_bot(bool prefilter) {
  tw_bot_opts_t o = {0};
  o.route = route_free;
  o.regex_no_prefilter = !prefilter;
  tw_bot_t *bot = NULL;
  if (tw_bot_new(&o, &bot) != 0)
    exit(1);
  return bot;
}

static tw_bot_t *c_bot(bool prefilter) {
  tw_bot_t *bot = new_bot(prefilter);
  tw_bot_skill_def_t defs[NPAT];
  char names[NPAT][16];
  memset(defs, 0, sizeof(defs));
  for (int i = 0; i < NPAT; i++) {
    snprintf(names[i], sizeof(names[i]), "c%d", i);
    defs[i].name = names[i];
    defs[i].init = c_init;
    defs[i].init_arg = patterns[i];
  }
  if (tw_bot_reload(bot, defs, NPAT) != 0) {
    fprintf(stderr, "%s\n", tw_bot_load_error(bot, 0));
    exit(1);
  }
  return bot;
}

static char lua_dir[64];

static tw_bot_t *lua_bot(void) {
  tw_bot_t *bot = new_bot(true);
  snprintf(lua_dir, sizeof(lua_dir), "/tmp/bench_dispatch_XXXXXX");
  if (mkdtemp(lua_dir) == NULL)
    exit(1);
  tw_bot_skill_def_t defs[NPAT];
  static char names[NPAT][16], paths[NPAT][128];
  memset(defs, 0, sizeof(defs));
  for (int i = 0; i < NPAT; i++) {
    snprintf(names[i], sizeof(names[i]), "lua%d", i);
    snprintf(paths[i], sizeof(paths[i]), "%s/%s.lua", lua_dir, names[i]);
    FILE *f = fopen(paths[i], "w");
    if (f == NULL)
      exit(1);
    fprintf(f,
            "local n = 0\n"
            "bot.match_regex([==[%s]==], function(message, m) n = n + 1 "
            "end)\n",
            patterns[i]);
    fclose(f);
    defs[i].name = names[i];
    defs[i].path = paths[i];
  }
  if (tw_bot_reload(bot, defs, NPAT) != 0) {
    fprintf(stderr, "%s\n", tw_bot_load_error(bot, 0));
    exit(1);
  }
  return bot;
}

static void lua_cleanup(void) {
  for (int i = 0; i < NPAT; i++) {
    char p[160];
    snprintf(p, sizeof(p), "%s/lua%d.lua", lua_dir, i);
    unlink(p);
  }
  rmdir(lua_dir);
}

int main(int argc, char **argv) {
  const char *corpus = argc > 1 ? argv[1] : getenv("TW_CORPUS");
  if (corpus == NULL) {
    fprintf(stderr, "usage: bench_dispatch corpus.txt.gz [rounds] (or set "
                    "TW_CORPUS)\n");
    return 2;
  }
  if (argc > 2)
    rounds = (int)strtol(argv[2], NULL, 10);
  if (rounds < 1)
    rounds = 1;
  tw_log_set_level(TW_LOG_ERROR);
  make_patterns();
  load_corpus(corpus);
  if (nevents == 0) {
    fprintf(stderr, "no PRIVMSG lines in %s\n", corpus);
    return 1;
  }
  lat = malloc(nevents * (size_t)rounds * sizeof(*lat));
  printf("bench_dispatch: %zu messages x %d rounds, %d patterns\n", nevents,
         rounds, NPAT);

  tw_bot_t *empty = new_bot(true);
  result_t base = run(bot_dispatch, empty);
  print("baseline/0-skills", base, 0);
  tw_bot_free(empty);

  one_t one;
  int ec;
  PCRE2_SIZE eo;
  one.code = pcre2_compile((PCRE2_SPTR)spam[0], PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec,
                           &eo, NULL);
  pcre2_jit_compile(one.code, PCRE2_JIT_COMPLETE);
  one.md = pcre2_match_data_create_from_pattern(one.code, NULL);
  one.mctx = pcre2_match_context_create(NULL);
  result_t b1 = run(one_pcre, &one);
  print("baseline/1-pcre2", b1, 0);
  pcre2_match_data_free(one.md);
  pcre2_match_context_free(one.mctx);
  pcre2_code_free(one.code);

  tw_bot_t *bot = c_bot(true);
  result_t c1 = run(bot_dispatch, bot);
  print("c/prefilter", c1, b1.rate);
  printf("    prefilter: %.1f%% of pattern tests skipped, %.2f PCRE2 calls "
         "per message\n",
         100.0 * (double)bot->rx.prefilter_skips /
             (double)(bot->rx.prefilter_skips + bot->rx.pcre_calls),
         (double)bot->rx.pcre_calls / (double)(nevents * (size_t)(rounds + 1)));
  tw_bot_free(bot);

  bot = c_bot(false);
  result_t c2 = run(bot_dispatch, bot);
  print("c/no-prefilter", c2, b1.rate);
  tw_bot_free(bot);

  bot = lua_bot();
  result_t l1 = run(bot_dispatch, bot);
  print("lua/prefilter", l1, b1.rate);
  tw_bot_free(bot);
  lua_cleanup();

  printf("target: >= 200000 msg/s and p99 < 1000 us with %d patterns: "
         "c %s, lua %s\n",
         NPAT, c1.rate >= 200000 && c1.p99_us < 1000 ? "met" : "NOT met",
         l1.rate >= 200000 && l1.p99_us < 1000 ? "met" : "NOT met");
  for (size_t i = 0; i < nevents; i++)
    tw_event_free(events[i]);
  free(events);
  free(lat);
  return 0;
}
