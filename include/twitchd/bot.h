/* twitchd: the skills runtime (dispatcher, matchers, constraints, skills).
 *
 * A tw_bot_t holds the loaded skills. Events go in through
 * tw_bot_dispatch(); the actions skills send come out through the route
 * callback given to tw_bot_new(). Nothing here touches the network, so the
 * whole runtime runs in tests with injected events.
 *
 * Order (the contract skills may rely on): skills are visited in the order
 * of the skill list last given to tw_bot_reload() (config order); inside a
 * skill, matchers in the order the skill registered them. Every matcher that
 * accepts the event runs its handler (there is no ranking and no "first
 * match wins"); the actions a handler sends are routed synchronously, before
 * the next handler runs, so the route callback sees them in that order too.
 *
 * Isolation: a failing constraint, a handler error (a Lua error, a C handler
 * returning non-zero), an exhausted instruction budget, a refused
 * allocation, or a regex that hits its match limit affects only that
 * handler call: it is logged with the skill's name, counted in the skill's
 * statistics, and dispatch goes on with the next matcher and skill. A skill
 * whose calls fail TW_BOT_MAX_STRIKES times in a row for lack of budget or
 * memory is disabled until its next (re)load; ordinary errors never
 * disable a skill. A C skill runs in the process: it cannot be stopped if it
 * loops or crashes, which is why Lua is the default.
 *
 * Threads: a tw_bot_t is used from one thread (the loop's). The route
 * callback must not call tw_bot_dispatch(), tw_bot_tick(), tw_bot_reload()
 * or tw_bot_free() on the same bot; those return TW_ESTATE when it does.
 */
#ifndef TWITCHD_BOT_H
#define TWITCHD_BOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "twitchd/config.h"
#include "twitchd/event.h"
#include "twitchd/skill.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_BOT_MAX_SKILLS 256           /* skills in one bot */
#define TW_BOT_MAX_MATCHERS 256         /* matchers one skill may register */
#define TW_BOT_MAX_TIMERS 32            /* timers one skill may register */
#define TW_BOT_MAX_PATTERN 4096         /* longest regex, in bytes */
#define TW_BOT_MAX_LIST 1024            /* entries of one constraint list */
#define TW_BOT_MAX_SKILL_FILE (1 << 20) /* largest .lua file read */
#define TW_BOT_MAX_ACTIONS_PER_CALL 32  /* actions one handler call may send */
#define TW_BOT_MAX_STRIKES 5 /* budget/memory failures in a row: disabled */
#define TW_BOT_MAX_LOAD_ERRORS 64   /* load errors kept from one reload */
#define TW_BOT_MAX_ERROR 1024       /* longest load error message */
#define TW_BOT_MIN_INTERVAL_MS 1000 /* shortest timer interval */

#define TW_BOT_LUA_MEM_DEFAULT (16u << 20) /* bytes per Lua skill */
#define TW_BOT_LUA_BUDGET_DEFAULT 1000000u /* VM instructions per call */
/* Loading a skill (running its main chunk) gets this many call budgets. */
#define TW_BOT_LUA_LOAD_BUDGET_FACTOR 10u
#define TW_BOT_MATCH_LIMIT_DEFAULT 100000u /* pcre2_set_match_limit */
#define TW_BOT_DEPTH_LIMIT_DEFAULT 10000u  /* pcre2_set_depth_limit */
#define TW_BOT_HEAP_LIMIT_KIB 4096u        /* pcre2_set_heap_limit */
#define TW_BOT_JIT_STACK_MAX (512u << 10)  /* JIT stack, bytes */

typedef struct tw_bot tw_bot_t;

/* Receives every action a skill sends. `connector` is the name the skill
 * used ("twitch", "rocketchat"...), borrowed for the call. Ownership of
 * `action` passes to the callback, which frees it with tw_event_free()
 * whether or not it accepts it. action->connector is already set to
 * `connector`. Returns 0 when the action was accepted (queued), or a
 * negative TW_E* code (TW_ENOTFOUND for a connector that does not exist,
 * TW_EFULL...), which the skill sees as the result of its send. */
typedef int (*tw_bot_route_fn)(const char *connector, tw_event_t *action,
                               void *arg);

/* Tells whether a connector of that name exists (borrowed name). When
 * given, bot.connector("nmae") fails at load time instead of every send
 * failing later. */
typedef bool (*tw_bot_has_connector_fn)(const char *connector, void *arg);

typedef struct {
  tw_bot_route_fn route;                 /* required */
  void *route_arg;                       /* passed to route/has_connector */
  tw_bot_has_connector_fn has_connector; /* optional */
  /* Directory searched for skills without a path: <dir>/<name>.lua, then
   * <dir>/<name>/init.lua. NULL: such skills fail to load. Copied. */
  const char *skills_dir;
  size_t lua_mem_cap;         /* 0: TW_BOT_LUA_MEM_DEFAULT */
  uint64_t lua_budget;        /* 0: TW_BOT_LUA_BUDGET_DEFAULT */
  uint32_t regex_match_limit; /* 0: TW_BOT_MATCH_LIMIT_DEFAULT */
  uint32_t regex_depth_limit; /* 0: TW_BOT_DEPTH_LIMIT_DEFAULT */
  bool regex_no_prefilter;    /* benchmarks: match every pattern */
} tw_bot_opts_t;

/* One skill to load. Strings and `options` are borrowed for the call to
 * tw_bot_reload(): the bot copies what it keeps (the options become the
 * Lua table bot.config when the skill loads).
 *
 * The kind of skill follows from the fields:
 *   init != NULL            a C skill linked into the program (path unused)
 *   path ends in ".so"      a C skill in a shared object (tw_skill_init_v1)
 *   path is a directory     <path>/init.lua
 *   path is a file          a Lua skill
 *   path == NULL            looked up in opts.skills_dir (see above) */
typedef struct {
  const char *name;                /* required, unique, <= 64 bytes */
  const char *path;                /* see above */
  const tw_config_node_t *options; /* a MAP or NULL */
  const char *origin; /* where it was configured ("twitchd.yaml:12"), or NULL */
  tw_skill_init_fn init;
  void *init_arg; /* given to a linked-in C skill's init through
                     tw_skill_api_t.init_arg */
} tw_bot_skill_def_t;

/* Creates a bot with no skills. `opts` is borrowed (skills_dir copied).
 * Returns 0 and sets *out, TW_EINVAL (no route callback), TW_ENOMEM or
 * TW_EUNSUPPORTED (PCRE2 without Unicode support). Free with
 * tw_bot_free(). */
int tw_bot_new(const tw_bot_opts_t *opts, tw_bot_t **out);

/* Unloads every skill (Lua states closed, C skills' fini called, shared
 * objects closed) and frees the bot. A uv timer made with
 * tw_bot_timer_new() must have been closed first. NULL is ignored. */
void tw_bot_free(tw_bot_t *bot);

/* Makes the bot run exactly `defs[0..n)`, in that order (also the first
 * load). A skill whose name, kind, path, source files (the main file and
 * every file it required), options and init function are unchanged keeps
 * its running instance (Lua globals, timers and counters survive); a
 * changed or new one is loaded afresh; a disabled one is reloaded; one
 * absent from `defs` is unloaded. When a changed skill fails to load its
 * previous version keeps running; when a new one fails it is absent.
 * Every failure is logged and kept (tw_bot_load_error()).
 * Returns 0 when every skill loaded, TW_ECONFIG when some did not (the
 * others run), TW_EINVAL (bad arguments, duplicate or empty names,
 * n > TW_BOT_MAX_SKILLS: nothing changed), TW_ESTATE (called from a
 * handler or route callback) or TW_ENOMEM. */
int tw_bot_reload(tw_bot_t *bot, const tw_bot_skill_def_t *defs, size_t n);

/* tw_bot_reload() with the skills of a loaded configuration (borrowed), in
 * file order, each with its path and options; origin is "file:line". */
int tw_bot_reload_config(tw_bot_t *bot, const tw_config_t *cfg);

/* Load errors of the last tw_bot_reload(): "skill 'spam': spam.lua:3: bad
 * regex 'famous(': missing closing parenthesis at offset 7". Static until
 * the next reload; NULL when i is out of range. */
size_t tw_bot_load_error_count(const tw_bot_t *bot);
const char *tw_bot_load_error(const tw_bot_t *bot, size_t i);

/* Hands `ev` (borrowed for the call; never modified) to every skill whose
 * matcher and constraints accept it, in the order described at the top.
 * Returns the number of handlers called (>= 0, failed calls included),
 * TW_EINVAL for a NULL or malformed event, or TW_ESTATE when re-entered. */
int tw_bot_dispatch(tw_bot_t *bot, const tw_event_t *ev);

/* Runs the timers due at `now_ms` (a monotonic time in ms chosen by the
 * caller: tw_now_ms() or uv_now()). A timer is armed by the first tick
 * after its skill loads and first fires one interval later; a timer that
 * fell behind fires once and is rescheduled one interval after now (no
 * bursts). Returns the number of timer handlers run, or TW_ESTATE. */
int tw_bot_tick(tw_bot_t *bot, uint64_t now_ms);

/* Milliseconds from `now_ms` until the next timer is due (0 when one is
 * due or a timer is not armed yet), or -1 when there are no timers. */
int64_t tw_bot_next_timer(const tw_bot_t *bot, uint64_t now_ms);

/* The timers, for `twitchd` status output and tests. */
typedef struct {
  const char *skill;    /* borrowed from the bot */
  const char *where;    /* "file:line" of bot.every(), borrowed */
  uint64_t interval_ms; /* period */
  uint64_t due_ms;      /* next run; 0 until armed by a tick */
} tw_bot_timer_info_t;
size_t tw_bot_timer_count(const tw_bot_t *bot);
int tw_bot_timer_info(const tw_bot_t *bot, size_t i, tw_bot_timer_info_t *out);

/* Per-skill statistics; counters survive a reload that keeps the skill. */
typedef struct {
  const char *name; /* borrowed from the bot */
  const char *kind; /* "lua", "c" (linked in) or "so" */
  bool disabled;    /* TW_BOT_MAX_STRIKES resource failures in a row */
  size_t matchers;
  size_t timers;
  size_t lua_memory;           /* bytes in use by the Lua state */
  uint64_t calls;              /* handler calls, failed ones included */
  uint64_t errors;             /* Lua errors, C handlers returning != 0 */
  uint64_t budget_exceeded;    /* calls stopped by the instruction budget */
  uint64_t memory_errors;      /* calls stopped by the memory cap */
  uint64_t constraint_rejects; /* matched, but a constraint said no */
  uint64_t match_limit_hits;   /* regex stopped by its match/depth limit */
  uint64_t actions_sent;       /* accepted by the route callback */
  uint64_t actions_failed;     /* refused by it, or invalid */
} tw_bot_skill_stats_t;

size_t tw_bot_skill_count(const tw_bot_t *bot);
/* Stats of the i-th skill in dispatch order. Returns 0 or TW_ENOTFOUND. */
int tw_bot_skill_stats(const tw_bot_t *bot, size_t i,
                       tw_bot_skill_stats_t *out);
/* The index of the skill named `name` (borrowed), or -1. */
int tw_bot_skill_find(const tw_bot_t *bot, const char *name);

/* A libuv timer that drives tw_bot_tick() with uv_now(): it sleeps until
 * the next due timer (re-armed after each tick and after each reload).
 * The bot is borrowed and must outlive the timer's close. */
typedef struct tw_bot_timer tw_bot_timer_t;
int tw_bot_timer_new(uv_loop_t *loop, tw_bot_t *bot, tw_bot_timer_t **out);
/* Stops and closes the timer; its memory is freed in the close callback
 * (run the loop once more). From then on the bot is not touched. */
void tw_bot_timer_close(tw_bot_timer_t *t);

#ifdef __cplusplus
}
#endif
#endif
