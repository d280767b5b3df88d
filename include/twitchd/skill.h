/* twitchd: the C skill ABI.
 *
 * A C skill registers the same matchers a Lua skill does (regex, event,
 * timer, with the same constraints) and sends actions the same way. It is
 * either linked into the program (tw_bot_skill_def_t.init) or built as a
 * shared object that exports exactly one function:
 *
 *   int tw_skill_init_v1(const tw_skill_api_t *api, tw_skill_t *skill);
 *
 * The "_v1" in the symbol is the ABI's major version: a plug-in built for
 * another major version does not resolve and fails to load with a clear
 * message. Inside one major version the runtime only appends members to
 * tw_skill_api_t; api->size says how many bytes of it are valid, so a
 * plug-in built against a newer header can check for a member before using
 * it (TW_SKILL_API_HAS).
 *
 * A plug-in calls the runtime only through `api`, never through twitchd's
 * symbols, so it needs no link against the daemon (build it with -shared
 * -fPIC and this header). It reads events through api->event_get_* rather
 * than through struct tw_event's layout, which is not part of the ABI.
 *
 * Everything here runs on the bot's thread, inside tw_bot_dispatch(),
 * tw_bot_tick() or tw_bot_reload(). A C skill is trusted code: unlike a Lua
 * skill it has no budget, no memory cap and no crash isolation.
 */
#ifndef TWITCHD_SKILL_H
#define TWITCHD_SKILL_H

#include <stddef.h>
#include <stdint.h>

#include "twitchd/config.h"
#include "twitchd/event.h"
#include "twitchd/log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_SKILL_ABI_VERSION 1
#define TW_SKILL_ENTRY_SYMBOL "tw_skill_init_v1"
/* Marks the entry point exported when the plug-in is built with
 * -fvisibility=hidden (recommended: nothing else needs to be visible). */
#define TW_SKILL_EXPORT __attribute__((visibility("default")))

/* The runtime's handle on one loaded skill (opaque). */
typedef struct tw_skill tw_skill_t;

/* Regex flags (tw_skill_rule_t.flags). Without an anchor flag the pattern
 * may match anywhere in the text (opsdroid's matching_condition "search"). */
#define TW_SKILL_CASELESS 0x1u     /* case_sensitive = false */
#define TW_SKILL_ANCHOR_START 0x2u /* matching_condition "match" */
#define TW_SKILL_FULLMATCH 0x4u    /* matching_condition "fullmatch" */

/* Twitch roles (tw_skill_rule_t.roles): the sender must have one of them,
 * as the chat client read them from the message's tags. MODERATOR also
 * accepts the broadcaster, who moderates their own channel. */
#define TW_SKILL_ROLE_BROADCASTER 0x1u
#define TW_SKILL_ROLE_MODERATOR 0x2u
#define TW_SKILL_ROLE_VIP 0x4u
#define TW_SKILL_ROLE_SUBSCRIBER 0x8u

/* What a matcher accepts beyond its pattern or event name. Lists are
 * NULL-terminated arrays of strings (borrowed for the registration call;
 * copied). A NULL list means "anyone"; an empty list (just the NULL) means
 * "no one".
 *   users       logins (exact, case-insensitive; a leading '@' is ignored)
 *               or "id:<digits>" for a user id. Never a display name, never
 *               a substring.
 *   rooms       channels ("#name" or "name", case-insensitive) or
 *               "id:<digits>" for a room (channel) id
 *   connectors  connector names, exact */
typedef struct {
  unsigned flags;
  const char *const *users;
  const char *const *rooms;
  const char *const *connectors;
  unsigned roles; /* 0: any */
} tw_skill_rule_t;

/* The match handed to a regex handler: group i spans
 * subject[ovector[2i] .. ovector[2i+1]); an unset group has both offsets
 * equal to SIZE_MAX. count counts group 0 (the whole match). */
typedef struct {
  const char *subject;
  size_t subject_len;
  const size_t *ovector;
  uint32_t count;
} tw_skill_match_t;

/* A handler: `ev` is the event (NULL for timers), `m` the regex match (NULL
 * unless a regex matcher), both borrowed for the call. Return 0, or
 * non-zero to have the call counted and logged as an error. */
typedef int (*tw_skill_handler_fn)(tw_skill_t *skill, const tw_event_t *ev,
                                   const tw_skill_match_t *m, void *arg);

/* Called once when the skill is unloaded (reload, bot freed). */
typedef void (*tw_skill_fini_fn)(void *arg);

typedef struct tw_skill_api {
  uint32_t abi_version; /* TW_SKILL_ABI_VERSION of the runtime */
  uint32_t size;        /* sizeof(tw_skill_api_t) in the runtime */
  void *init_arg;       /* tw_bot_skill_def_t.init_arg (NULL for .so) */

  /* The skill's configured name (borrowed from the runtime). */
  const char *(*name)(tw_skill_t *skill);
  /* The skill's option `key`: a string option's value (also the text of a
   * number or boolean), or NULL when absent or a list/map. Borrowed until
   * the skill is unloaded. */
  const char *(*option)(tw_skill_t *skill, const char *key);
  /* A list option's string items: up to `cap` pointers stored in out[],
   * the number of items returned (items that are not scalars are NULL). */
  size_t (*option_list)(tw_skill_t *skill, const char *key, const char **out,
                        size_t cap);

  /* Registration: only from the init function. `file` and `line` (use
   * __FILE__, __LINE__) name the registration in load errors. The rule
   * and its lists are copied. Return 0 or a TW_E* code; TW_EPARSE for a
   * regex that does not compile or an unknown event name (the message is
   * in the load error). */
  int (*match_regex)(tw_skill_t *skill, const char *pattern,
                     const tw_skill_rule_t *rule, tw_skill_handler_fn fn,
                     void *arg, const char *file, int line);
  int (*match_event)(tw_skill_t *skill, const char *event_name,
                     const tw_skill_rule_t *rule, tw_skill_handler_fn fn,
                     void *arg, const char *file, int line);
  int (*every)(tw_skill_t *skill, uint64_t interval_ms, tw_skill_handler_fn fn,
               void *arg, const char *file, int line);
  void (*on_unload)(tw_skill_t *skill, tw_skill_fini_fn fn, void *arg);

  /* Events (see twitchd/event.h for the semantics of each). */
  tw_event_t *(*event_new)(const char *kind_name);
  void (*event_free)(tw_event_t *ev);
  const char *(*event_kind)(const tw_event_t *ev);
  int (*event_set_str)(tw_event_t *ev, const char *field, const char *value);
  int (*event_set_int)(tw_event_t *ev, const char *field, int64_t value);
  int (*event_set_bool)(tw_event_t *ev, const char *field, int value);
  int (*event_get_str)(const tw_event_t *ev, const char *field,
                       const char **out);
  int (*event_get_int)(const tw_event_t *ev, const char *field, int64_t *out);
  int (*event_get_bool)(const tw_event_t *ev, const char *field, int *out);

  /* Sends `action` (ownership passes, always) to `connector`. Returns 0
   * or the route callback's error. Only from a handler. */
  int (*send)(tw_skill_t *skill, const char *connector, tw_event_t *action);
  /* Answers `to` (borrowed) with a Message of `text` in the same room
   * through the same connector. */
  int (*respond)(tw_skill_t *skill, const tw_event_t *to, const char *text);
  /* Logs `msg` under the skill's name. */
  void (*log)(tw_skill_t *skill, tw_log_level_t level, const char *msg);
} tw_skill_api_t;

/* True when `api` has member `m` (a plug-in built against a newer header
 * than the runtime's). */
#define TW_SKILL_API_HAS(api, m)                                               \
  ((api)->size >= offsetof(tw_skill_api_t, m) + sizeof((api)->m))

/* The entry point: registers the skill's matchers. `api` stays valid (and
 * unchanged) until the skill is unloaded, so the skill may keep it for its
 * handlers. Return 0, or non-zero to fail the load. */
typedef int (*tw_skill_init_fn)(const tw_skill_api_t *api, tw_skill_t *skill);

/* The symbol a shared-object skill defines (declared here so that it is
 * defined with this exact type). */
TW_SKILL_EXPORT int tw_skill_init_v1(const tw_skill_api_t *api,
                                     tw_skill_t *skill);

#ifdef __cplusplus
}
#endif
#endif
