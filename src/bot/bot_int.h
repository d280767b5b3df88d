/* twitchd: skills runtime internals shared by bot.c (dispatcher, reload),
 * bot_regex.c (PCRE2 matchers and the prefilter), bot_rule.c
 * (constraints), bot_lua.c (Lua skills), bot_native.c (C skills) and
 * bot_uv.c (the libuv timer). */
#ifndef TW_BOT_BOT_INT_H
#define TW_BOT_BOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "twitchd/bot.h"

/* ---- constraints (bot_rule.c) ------------------------------------------ */

typedef struct {
  char **v;
  size_t n;
  bool set; /* given (an empty set list admits no one) */
} tw__strlist_t;

typedef struct {
  tw__strlist_t user_logins; /* lower case, without '@' */
  tw__strlist_t user_ids;
  bool users_set;
  tw__strlist_t room_names; /* lower case, without '#' */
  tw__strlist_t room_ids;
  bool rooms_set;
  tw__strlist_t connectors;
  unsigned roles; /* TW_SKILL_ROLE_*; 0 = any */
} tw__rule_t;

/* Adds one users / rooms entry (borrowed). Returns 0, TW_EINVAL (empty,
 * "id:" without digits, too long) or TW_ENOMEM. Calling it marks the list
 * as given. */
int tw__rule_add_user(tw__rule_t *r, const char *entry);
int tw__rule_add_room(tw__rule_t *r, const char *entry);
int tw__rule_add_connector(tw__rule_t *r, const char *entry);
/* Marks a list as given even when it stays empty ("no one"). */
void tw__rule_users_given(tw__rule_t *r);
void tw__rule_rooms_given(tw__rule_t *r);
void tw__rule_connectors_given(tw__rule_t *r);
/* Parses a role name ("broadcaster", "moderator"/"mod", "vip",
 * "subscriber"/"sub"); returns its bit or 0. */
unsigned tw__rule_role_bit(const char *name);
/* Fills a rule from a C tw_skill_rule_t. */
int tw__rule_from_c(tw__rule_t *r, const tw_skill_rule_t *c);
void tw__rule_free(tw__rule_t *r);
/* NULL when `ev` passes; else the name of the constraint that failed
 * ("users", "rooms", "connectors", "roles"). */
const char *tw__rule_check(const tw__rule_t *r, const tw_event_t *ev);

/* ---- regex (bot_regex.c) ------------------------------------------------ */

/* The text of one Message, prepared once per dispatch for every regex
 * matcher: its length and, for the prefilter, the set of bytes present with
 * ASCII letters folded to both cases. */
typedef struct {
  const char *text;
  size_t len;
  bool prepared;
  uint64_t set[4];
} tw__subject_t;

typedef struct {
  pcre2_code *code;
  pcre2_match_data *md;
  bool jit;
  uint32_t ncap; /* capture groups, not counting group 0 */
  /* Named groups: PCRE2's name table. */
  uint32_t name_count, name_entry_size;
  const unsigned char *name_table;
  /* Prefilter, from PCRE2's own analysis of the pattern (see
   * bot_regex.c): necessary conditions for any match. */
  size_t min_len;
  int first_unit; /* -1: none */
  int last_unit;  /* -1: none */
  bool has_bitmap;
  uint64_t bitmap[4];
} tw__regex_t;

/* Per-bot PCRE2 state: the match context with the limits and the JIT
 * stack. */
typedef struct {
  pcre2_match_context *mctx;
  pcre2_jit_stack *jit_stack;
  bool prefilter;
  /* What the prefilter saved, for the benchmark's report. */
  uint64_t prefilter_skips;
  uint64_t pcre_calls;
} tw__regex_env_t;

int tw__regex_env_init(tw__regex_env_t *env, uint32_t match_limit,
                       uint32_t depth_limit, bool prefilter);
void tw__regex_env_free(tw__regex_env_t *env);

/* Compiles `pattern` (flags: TW_SKILL_CASELESS, _ANCHOR_START,
 * _FULLMATCH). On failure returns TW_EPARSE with "<pcre2 message> at
 * offset N" in err. */
int tw__regex_compile(tw__regex_t *re, const char *pattern, unsigned flags,
                      char *err, size_t errcap);
void tw__regex_free(tw__regex_t *re);
/* 1: match (the ovector is in re->md), 0: no match, TW_ETIMEDOUT: a match
 * or depth limit was hit, TW_EPARSE: another PCRE2 error. */
int tw__regex_match(tw__regex_env_t *env, tw__regex_t *re, tw__subject_t *s);

/* ---- skills, matchers, timers (bot.c) ----------------------------------- */

typedef enum { TW__SKILL_LUA, TW__SKILL_C, TW__SKILL_SO } tw__skill_kind_t;
typedef enum { TW__M_REGEX, TW__M_EVENT } tw__matcher_type_t;

typedef struct {
  tw__matcher_type_t type;
  tw_event_kind_t kind; /* the event kind (MESSAGE for regex) */
  tw__regex_t re;
  tw__rule_t rule;
  char *where; /* "file:line" of the registration */
  /* Handler: a Lua registry reference, or a C function. */
  int lua_ref;
  tw_skill_handler_fn fn;
  void *arg;
} tw__matcher_t;

typedef struct {
  uint64_t interval_ms;
  uint64_t due_ms; /* 0: not armed yet */
  char *where;
  int lua_ref;
  tw_skill_handler_fn fn;
  void *arg;
} tw__timer_t;

typedef struct tw__lua tw__lua_t;

typedef struct {
  char *key;
  char *val;    /* a scalar's text; NULL for lists, maps and nulls */
  char **items; /* a list's items (NULL for non-scalar items) */
  size_t nitems;
} tw__opt_t;

/* A file a skill was built from, for change detection on reload. */
typedef struct {
  char *path;
  uint64_t hash;
} tw__srcfile_t;

struct tw_skill {
  tw_bot_t *bot;
  char *name;
  char *path; /* resolved main file (NULL for linked-in C skills) */
  char *dir;  /* the skill's folder (require root) */
  tw__skill_kind_t kind;
  bool loading; /* registration allowed */
  bool closing; /* being unloaded: no more sends */
  bool disabled;
  unsigned strikes;
  tw__matcher_t *matchers;
  size_t nmatchers;
  tw__timer_t *timers;
  size_t ntimers;
  /* Change detection. */
  tw__srcfile_t *srcs;
  size_t nsrcs;
  uint64_t options_hash;
  tw_skill_init_fn init;
  void *init_arg;
  /* Options, kept for C skills' option accessors: a flat copy of the
   * top-level options (scalars as text, lists of scalars as items). */
  tw__opt_t *opts;
  size_t nopts;
  tw__lua_t *lua; /* Lua skills */
  void *dl;       /* shared objects */
  tw_skill_fini_fn fini;
  void *fini_arg;
  /* The event being handled (for send() defaults and respond()), and the
   * actions sent in the current call. */
  const tw_event_t *current;
  unsigned actions_in_call;
  tw_bot_skill_stats_t st;
  /* A C skill's failed registration: the message that becomes the load
   * error (the ABI's registration functions return only a code). */
  char reg_err[TW_BOT_MAX_ERROR];
  tw_skill_api_t api; /* the table given to a C skill's init */
};

struct tw_bot {
  tw_bot_opts_t opts;
  char *skills_dir;
  tw__regex_env_t rx;
  tw_skill_t **skills;
  size_t nskills;
  bool busy; /* inside dispatch/tick/reload: no re-entry */
  char **load_errors;
  size_t nload_errors;
  struct tw_bot_timer *uvt; /* the libuv binding, if any */
};

/* Registration helpers shared by the Lua and C front ends. `where` is
 * copied. On failure they write a message to err and return a TW_E* code;
 * the rule is consumed (freed) either way. */
int tw__skill_add_regex(tw_skill_t *s, const char *pattern, unsigned flags,
                        tw__rule_t *rule, const char *where, int lua_ref,
                        tw_skill_handler_fn fn, void *arg, char *err,
                        size_t errcap);
int tw__skill_add_event(tw_skill_t *s, const char *event_name, tw__rule_t *rule,
                        const char *where, int lua_ref, tw_skill_handler_fn fn,
                        void *arg, char *err, size_t errcap);
int tw__skill_add_timer(tw_skill_t *s, uint64_t interval_ms, const char *where,
                        int lua_ref, tw_skill_handler_fn fn, void *arg,
                        char *err, size_t errcap);
/* Records a source file the skill was built from (for reload). */
int tw__skill_add_src(tw_skill_t *s, const char *path, const void *data,
                      size_t len);
uint64_t tw__hash(uint64_t h, const void *data, size_t len);
#define TW__HASH_INIT 14695981039346656037ull

/* Sends an action for skill `s` (ownership of `action` passes): fills
 * action->connector and the defaults from the event being handled, checks
 * the per-call cap, routes, counts. */
int tw__skill_send(tw_skill_t *s, const char *connector, tw_event_t *action);
/* A Message answering `to` (borrowed), routed to to->connector. `reply` is
 * a Message (ownership passes) whose missing fields are taken from `to`. */
int tw__skill_respond(tw_skill_t *s, const tw_event_t *to, tw_event_t *reply);
/* Logs for skill s at level. */
void tw__skill_log(tw_skill_t *s, tw_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads a whole file of at most `cap` bytes. Returns 0, TW_EIO (message in
 * err) or TW_ETOOBIG. The buffer is NUL-terminated; the caller frees. */
int tw__read_file(const char *path, size_t cap, char **out, size_t *len,
                  char *err, size_t errcap);

/* ---- Lua skills (bot_lua.c) --------------------------------------------- */

/* Creates the state, runs the main chunk. On failure returns a TW_E* code
 * with the message (file:line) in err; the caller frees the skill. */
int tw__lua_load(tw_skill_t *s, const tw_config_node_t *options, char *err,
                 size_t errcap);
void tw__lua_free(tw_skill_t *s);
/* Calls a Lua handler. ev and m may be NULL. Returns 0 or a TW_E* code
 * (the error is already logged and counted). */
int tw__lua_call(tw_skill_t *s, int ref, const tw_event_t *ev,
                 const tw__matcher_t *m, const tw__subject_t *subj);

/* ---- C skills (bot_native.c) -------------------------------------------- */

int tw__native_load(tw_skill_t *s, char *err, size_t errcap);
void tw__native_free(tw_skill_t *s);
int tw__native_call(tw_skill_t *s, tw_skill_handler_fn fn, void *arg,
                    const tw_event_t *ev, const tw__matcher_t *m,
                    const tw__subject_t *subj);

/* ---- libuv timer (bot_uv.c) --------------------------------------------- */

void tw__bot_timer_rearm(struct tw_bot_timer *t);
/* The bot is going away: the timer stops and forgets it. */
void tw__bot_timer_detach(struct tw_bot_timer *t);

#endif
