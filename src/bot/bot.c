/* twitchd: the skills runtime: skill lifecycle, reload, dispatch, timers.
 *
 * The dispatcher is deliberately simple: a loop over skills in config order
 * and over each skill's matchers in registration order, with no ranking.
 * opsdroid ran only the best-scoring regex skill and returned from its
 * event-type loop at the first failing constraint, so one constrained skill
 * silently starved the others; here a matcher's outcome (no match, a
 * constraint saying no, a handler failing) never changes what the next
 * matcher sees. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bot/bot_int.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define LOG_MOD "bot"

/* ---- small helpers ------------------------------------------------------ */

uint64_t tw__hash(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static char *xstrdup(const char *s) {
  return s != NULL ? strdup(s) : NULL;
}

int tw__read_file(const char *path, size_t cap, char **out, size_t *len,
                  char *err, size_t errcap) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
    return TW_EIO;
  }
  char *buf = malloc(cap + 1);
  if (buf == NULL) {
    fclose(f);
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  /* Read one byte more than the cap to tell "exactly cap" from "more". */
  size_t n = fread(buf, 1, cap + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    snprintf(err, errcap, "cannot read %s", path);
    return TW_EIO;
  }
  if (n > cap) {
    free(buf);
    snprintf(err, errcap, "%s is larger than %zu bytes", path, cap);
    return TW_ETOOBIG;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *path_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p != NULL)
    snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    return strdup(".");
  if (slash == path)
    return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

void tw__skill_log(tw_skill_t *s, tw_log_level_t level, const char *fmt, ...) {
  if (level < tw_log_get_level())
    return;
  char msg[TW_LOG_MAX_LINE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  tw_log(level, LOG_MOD, "skill '%s': %s", s->name, msg);
}

/* ---- options ------------------------------------------------------------ */

static uint64_t hash_node(uint64_t h, const tw_config_node_t *n) {
  tw_config_type_t t = tw_config_node_type(n);
  unsigned char tb = (unsigned char)t;
  h = tw__hash(h, &tb, 1);
  const char *text = tw_config_node_string(n);
  if (text != NULL)
    h = tw__hash(h, text, strlen(text) + 1);
  size_t cnt = tw_config_node_size(n);
  h = tw__hash(h, &cnt, sizeof(cnt));
  for (size_t i = 0; i < cnt; i++) {
    if (t == TW_CONFIG_MAP) {
      const char *k = tw_config_node_key(n, i);
      h = tw__hash(h, k, strlen(k) + 1);
    }
    h = hash_node(h, tw_config_node_item(n, i));
  }
  return h;
}

static bool is_scalar(const tw_config_node_t *n) {
  tw_config_type_t t = tw_config_node_type(n);
  return t != TW_CONFIG_LIST && t != TW_CONFIG_MAP && t != TW_CONFIG_NULL;
}

static int copy_options(tw_skill_t *s, const tw_config_node_t *opt) {
  if (tw_config_node_type(opt) != TW_CONFIG_MAP)
    return 0;
  size_t n = tw_config_node_size(opt);
  s->opts = calloc(n ? n : 1, sizeof(*s->opts));
  if (s->opts == NULL)
    return TW_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    tw__opt_t *o = &s->opts[s->nopts++];
    const tw_config_node_t *v = tw_config_node_item(opt, i);
    o->key = xstrdup(tw_config_node_key(opt, i));
    if (o->key == NULL)
      return TW_ENOMEM;
    if (is_scalar(v)) {
      o->val = xstrdup(tw_config_node_string(v));
      if (o->val == NULL)
        return TW_ENOMEM;
    } else if (tw_config_node_type(v) == TW_CONFIG_LIST) {
      size_t m = tw_config_node_size(v);
      o->items = calloc(m ? m : 1, sizeof(*o->items));
      if (o->items == NULL)
        return TW_ENOMEM;
      o->nitems = m;
      for (size_t j = 0; j < m; j++) {
        const tw_config_node_t *it = tw_config_node_item(v, j);
        if (is_scalar(it) &&
            (o->items[j] = xstrdup(tw_config_node_string(it))) == NULL)
          return TW_ENOMEM;
      }
    }
  }
  return 0;
}

/* ---- registration ------------------------------------------------------- */

static void matcher_free(tw__matcher_t *m) {
  tw__regex_free(&m->re);
  tw__rule_free(&m->rule);
  free(m->where);
}

static tw__matcher_t *matcher_push(tw_skill_t *s, char *err, size_t errcap) {
  if (!s->loading) {
    snprintf(err, errcap,
             "matchers can only be registered while the skill "
             "loads");
    return NULL;
  }
  if (s->nmatchers >= TW_BOT_MAX_MATCHERS) {
    snprintf(err, errcap, "more than %d matchers", TW_BOT_MAX_MATCHERS);
    return NULL;
  }
  tw__matcher_t *v = realloc(s->matchers, (s->nmatchers + 1) * sizeof(*v));
  if (v == NULL) {
    snprintf(err, errcap, "out of memory");
    return NULL;
  }
  s->matchers = v;
  tw__matcher_t *m = &v[s->nmatchers];
  memset(m, 0, sizeof(*m));
  return m;
}

int tw__skill_add_regex(tw_skill_t *s, const char *pattern, unsigned flags,
                        tw__rule_t *rule, const char *where, int lua_ref,
                        tw_skill_handler_fn fn, void *arg, char *err,
                        size_t errcap) {
  tw__matcher_t *m = matcher_push(s, err, errcap);
  if (m == NULL) {
    tw__rule_free(rule);
    return TW_ESTATE;
  }
  char rerr[300];
  int rc = tw__regex_compile(&m->re, pattern, flags, rerr, sizeof(rerr));
  if (rc != 0) {
    snprintf(err, errcap, "bad regex '%.200s': %s", pattern, rerr);
    tw__rule_free(rule);
    return rc;
  }
  m->type = TW__M_REGEX;
  m->kind = TW_EVENT_MESSAGE;
  m->rule = *rule;
  memset(rule, 0, sizeof(*rule));
  m->where = xstrdup(where != NULL ? where : "?");
  m->lua_ref = lua_ref;
  m->fn = fn;
  m->arg = arg;
  if (m->where == NULL) {
    matcher_free(m);
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  s->nmatchers++;
  return 0;
}

int tw__skill_add_event(tw_skill_t *s, const char *event_name, tw__rule_t *rule,
                        const char *where, int lua_ref, tw_skill_handler_fn fn,
                        void *arg, char *err, size_t errcap) {
  tw_event_kind_t kind;
  if (tw_event_kind_from_name(event_name, &kind) != 0) {
    char names[512];
    size_t o = 0;
    names[0] = '\0';
    for (int k = 0; k < TW_EVENT_KIND_COUNT; k++)
      if (tw_event_kind_is_incoming((tw_event_kind_t)k) && o < sizeof(names))
        o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
                              o ? ", " : "",
                              tw_event_kind_name((tw_event_kind_t)k));
    snprintf(err, errcap, "unknown event '%.64s' (events: %s)",
             event_name ? event_name : "(null)", names);
    tw__rule_free(rule);
    return TW_EPARSE;
  }
  if (!tw_event_kind_is_incoming(kind)) {
    snprintf(err, errcap,
             "'%s' is an action skills send, not an event they receive",
             event_name);
    tw__rule_free(rule);
    return TW_EPARSE;
  }
  tw__matcher_t *m = matcher_push(s, err, errcap);
  if (m == NULL) {
    tw__rule_free(rule);
    return TW_ESTATE;
  }
  m->type = TW__M_EVENT;
  m->kind = kind;
  m->rule = *rule;
  memset(rule, 0, sizeof(*rule));
  m->where = xstrdup(where != NULL ? where : "?");
  m->lua_ref = lua_ref;
  m->fn = fn;
  m->arg = arg;
  if (m->where == NULL) {
    matcher_free(m);
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  s->nmatchers++;
  return 0;
}

int tw__skill_add_timer(tw_skill_t *s, uint64_t interval_ms, const char *where,
                        int lua_ref, tw_skill_handler_fn fn, void *arg,
                        char *err, size_t errcap) {
  if (!s->loading) {
    snprintf(err, errcap,
             "timers can only be registered while the skill "
             "loads");
    return TW_ESTATE;
  }
  if (interval_ms < TW_BOT_MIN_INTERVAL_MS) {
    snprintf(err, errcap, "timer interval below %d ms", TW_BOT_MIN_INTERVAL_MS);
    return TW_EINVAL;
  }
  if (s->ntimers >= TW_BOT_MAX_TIMERS) {
    snprintf(err, errcap, "more than %d timers", TW_BOT_MAX_TIMERS);
    return TW_EFULL;
  }
  tw__timer_t *v = realloc(s->timers, (s->ntimers + 1) * sizeof(*v));
  if (v == NULL) {
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  s->timers = v;
  tw__timer_t *t = &v[s->ntimers];
  memset(t, 0, sizeof(*t));
  t->interval_ms = interval_ms;
  t->where = xstrdup(where != NULL ? where : "?");
  t->lua_ref = lua_ref;
  t->fn = fn;
  t->arg = arg;
  if (t->where == NULL) {
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  s->ntimers++;
  if (s->bot->uvt != NULL)
    tw__bot_timer_rearm(s->bot->uvt);
  return 0;
}

int tw__skill_add_src(tw_skill_t *s, const char *path, const void *data,
                      size_t len) {
  for (size_t i = 0; i < s->nsrcs; i++)
    if (strcmp(s->srcs[i].path, path) == 0)
      return 0;
  tw__srcfile_t *v = realloc(s->srcs, (s->nsrcs + 1) * sizeof(*v));
  if (v == NULL)
    return TW_ENOMEM;
  s->srcs = v;
  v[s->nsrcs].path = strdup(path);
  if (v[s->nsrcs].path == NULL)
    return TW_ENOMEM;
  v[s->nsrcs].hash = tw__hash(TW__HASH_INIT, data, len);
  s->nsrcs++;
  return 0;
}

/* ---- sending ------------------------------------------------------------ */

static bool eq_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
    char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
    if (x != y)
      return false;
  }
  return *a == *b;
}

/* Defaults an action takes from the event being handled when it goes back
 * to the connector that event came from: the room (so that a skill can
 * answer in multi-channel setups without naming it), and the user's id
 * when the action names the same user (Helix bans by id). */
static int fill_defaults(tw_event_t *a, const tw_event_t *cur) {
  int rc = 0;
  if (a->target == NULL && cur->target != NULL) {
    rc = tw_event_set_str(a, "target", cur->target);
    if (rc == 0 && a->kind == TW_EVENT_MESSAGE &&
        a->u.message.room_id == NULL && cur->kind == TW_EVENT_MESSAGE &&
        cur->u.message.room_id != NULL)
      rc = tw_event_set_str(a, "room_id", cur->u.message.room_id);
  }
  if (rc == 0 && a->user != NULL && a->user_id == NULL && cur->user != NULL &&
      cur->user_id != NULL && eq_nocase(a->user, cur->user))
    rc = tw_event_set_str(a, "user_id", cur->user_id);
  return rc;
}

int tw__skill_send(tw_skill_t *s, const char *connector, tw_event_t *action) {
  int rc = 0;
  if (action == NULL)
    return TW_EINVAL;
  if (s->closing) {
    rc = TW_ESTATE;
  } else if (connector == NULL || connector[0] == '\0' ||
             !tw_event_kind_is_action(action->kind)) {
    rc = TW_EINVAL;
  } else if (s->actions_in_call >= TW_BOT_MAX_ACTIONS_PER_CALL) {
    rc = TW_EFULL;
    tw__skill_log(s, TW_LOG_WARN,
                  "more than %d actions in one call; %s to '%s' dropped",
                  TW_BOT_MAX_ACTIONS_PER_CALL, tw_event_kind_name(action->kind),
                  connector);
  } else {
    rc = tw_event_set_str(action, "connector", connector);
    if (rc == 0 && s->current != NULL && s->current->connector != NULL &&
        strcmp(s->current->connector, connector) == 0)
      rc = fill_defaults(action, s->current);
  }
  if (rc != 0) {
    tw_event_free(action);
    s->st.actions_failed++;
    return rc;
  }
  s->actions_in_call++;
  const char *kind = tw_event_kind_name(action->kind);
  rc = s->bot->opts.route(connector, action, s->bot->opts.route_arg);
  if (rc == 0) {
    s->st.actions_sent++;
  } else {
    s->st.actions_failed++;
    tw__skill_log(s, TW_LOG_WARN, "%s to connector '%s' refused: %s", kind,
                  connector, tw_strerror(rc));
  }
  return rc;
}

int tw__skill_respond(tw_skill_t *s, const tw_event_t *to, tw_event_t *reply) {
  if (to == NULL || to->connector == NULL) {
    tw_event_free(reply);
    s->st.actions_failed++;
    return TW_EINVAL;
  }
  int rc = 0;
  if (reply->target == NULL && to->target != NULL) {
    rc = tw_event_set_str(reply, "target", to->target);
    if (rc == 0 && reply->kind == TW_EVENT_MESSAGE &&
        to->kind == TW_EVENT_MESSAGE && reply->u.message.room_id == NULL &&
        to->u.message.room_id != NULL)
      rc = tw_event_set_str(reply, "room_id", to->u.message.room_id);
  }
  /* opsdroid's respond() copied the user it answers. */
  if (rc == 0 && reply->user == NULL && to->user != NULL) {
    rc = tw_event_set_str(reply, "user", to->user);
    if (rc == 0 && to->user_id != NULL)
      rc = tw_event_set_str(reply, "user_id", to->user_id);
  }
  if (rc != 0) {
    tw_event_free(reply);
    s->st.actions_failed++;
    return rc;
  }
  return tw__skill_send(s, to->connector, reply);
}

/* ---- skill lifecycle ---------------------------------------------------- */

static void skill_free(tw_skill_t *s) {
  if (s == NULL)
    return;
  s->closing = true;
  if (s->kind == TW__SKILL_LUA)
    tw__lua_free(s);
  else if (s->fini != NULL)
    s->fini(s->fini_arg);
  for (size_t i = 0; i < s->nmatchers; i++)
    matcher_free(&s->matchers[i]);
  free(s->matchers);
  for (size_t i = 0; i < s->ntimers; i++)
    free(s->timers[i].where);
  free(s->timers);
  /* The shared object goes last: the handlers above pointed into it. */
  if (s->kind != TW__SKILL_LUA)
    tw__native_free(s);
  for (size_t i = 0; i < s->nsrcs; i++)
    free(s->srcs[i].path);
  free(s->srcs);
  for (size_t i = 0; i < s->nopts; i++) {
    free(s->opts[i].key);
    free(s->opts[i].val);
    for (size_t j = 0; j < s->opts[i].nitems; j++)
      free(s->opts[i].items[j]);
    free(s->opts[i].items);
  }
  free(s->opts);
  free(s->name);
  free(s->path);
  free(s->dir);
  free(s);
}

/* Where a definition's code is: kind, main file and folder. */
static int resolve(const tw_bot_t *bot, const tw_bot_skill_def_t *d,
                   tw__skill_kind_t *kind, char **path, char **dir, char *err,
                   size_t errcap) {
  *path = *dir = NULL;
  if (d->init != NULL) {
    *kind = TW__SKILL_C;
    return 0;
  }
  char *p = NULL;
  if (d->path != NULL) {
    if (is_dir(d->path)) {
      p = path_join(d->path, "init.lua");
      if (p != NULL && !is_file(p)) {
        snprintf(err, errcap, "%s is a folder without init.lua", d->path);
        free(p);
        return TW_ENOTFOUND;
      }
    } else {
      p = strdup(d->path);
    }
  } else if (bot->skills_dir != NULL) {
    char name[TW_CONFIG_MAX_NAME + 16];
    snprintf(name, sizeof(name), "%s.lua", d->name);
    p = path_join(bot->skills_dir, name);
    if (p != NULL && !is_file(p)) {
      free(p);
      snprintf(name, sizeof(name), "%s/init.lua", d->name);
      p = path_join(bot->skills_dir, name);
      if (p != NULL && !is_file(p)) {
        snprintf(err, errcap,
                 "no path given and neither %s/%s.lua nor %s "
                 "exists",
                 bot->skills_dir, d->name, p);
        free(p);
        return TW_ENOTFOUND;
      }
    }
  } else {
    snprintf(err, errcap, "no path given and no skills folder configured");
    return TW_ENOTFOUND;
  }
  if (p == NULL) {
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  *kind = ends_with(p, ".so") ? TW__SKILL_SO : TW__SKILL_LUA;
  *dir = dir_of(p);
  if (*dir == NULL) {
    free(p);
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  *path = p;
  return 0;
}

static int skill_load(tw_bot_t *bot, const tw_bot_skill_def_t *d,
                      tw_skill_t **out, char *err, size_t errcap) {
  tw_skill_t *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  s->bot = bot;
  s->name = strdup(d->name);
  int rc = s->name != NULL ? 0 : TW_ENOMEM;
  if (rc == 0)
    rc = resolve(bot, d, &s->kind, &s->path, &s->dir, err, errcap);
  if (rc == 0) {
    s->options_hash = hash_node(TW__HASH_INIT, d->options);
    s->init = d->init;
    s->init_arg = d->init_arg;
    rc = copy_options(s, d->options);
    if (rc != 0)
      snprintf(err, errcap, "out of memory");
  }
  if (rc == 0) {
    s->st.name = s->name;
    s->st.kind = s->kind == TW__SKILL_LUA ? "lua"
                 : s->kind == TW__SKILL_C ? "c"
                                          : "so";
    s->loading = true;
    if (s->kind == TW__SKILL_LUA)
      rc = tw__lua_load(s, d->options, err, errcap);
    else
      rc = tw__native_load(s, err, errcap);
    s->loading = false;
  }
  if (rc != 0) {
    if (rc == TW_ENOMEM && err[0] == '\0')
      snprintf(err, errcap, "out of memory");
    skill_free(s);
    return rc;
  }
  s->st.matchers = s->nmatchers;
  s->st.timers = s->ntimers;
  *out = s;
  return 0;
}

/* True when loading `d` now would give the same skill as `s`. */
static bool skill_unchanged(const tw_bot_t *bot, const tw_skill_t *s,
                            const tw_bot_skill_def_t *d) {
  if (s->disabled)
    return false;
  tw__skill_kind_t kind;
  char *path, *dir, err[64];
  if (resolve(bot, d, &kind, &path, &dir, err, sizeof(err)) != 0)
    return false;
  bool same =
      kind == s->kind &&
      ((path == NULL && s->path == NULL) ||
       (path != NULL && s->path != NULL && strcmp(path, s->path) == 0)) &&
      d->init == s->init && d->init_arg == s->init_arg &&
      hash_node(TW__HASH_INIT, d->options) == s->options_hash;
  free(path);
  free(dir);
  for (size_t i = 0; same && i < s->nsrcs; i++) {
    char *data;
    size_t len;
    size_t cap = s->kind == TW__SKILL_SO ? 64u << 20 : TW_BOT_MAX_SKILL_FILE;
    if (tw__read_file(s->srcs[i].path, cap, &data, &len, err, sizeof(err)) != 0)
      return false;
    same = tw__hash(TW__HASH_INIT, data, len) == s->srcs[i].hash;
    free(data);
  }
  return same;
}

static void load_error(tw_bot_t *bot, const char *name, const char *origin,
                       const char *msg) {
  char line[TW_BOT_MAX_ERROR];
  if (origin != NULL)
    snprintf(line, sizeof(line), "skill '%s' (%s): %s", name, origin, msg);
  else
    snprintf(line, sizeof(line), "skill '%s': %s", name, msg);
  tw_error(LOG_MOD, "%s", line);
  if (bot->nload_errors >= TW_BOT_MAX_LOAD_ERRORS)
    return;
  char *c = strdup(line);
  if (c != NULL)
    bot->load_errors[bot->nload_errors++] = c;
}

static void clear_load_errors(tw_bot_t *bot) {
  for (size_t i = 0; i < bot->nload_errors; i++)
    free(bot->load_errors[i]);
  bot->nload_errors = 0;
}

/* ---- public API --------------------------------------------------------- */

int tw_bot_new(const tw_bot_opts_t *opts, tw_bot_t **out) {
  if (opts == NULL || opts->route == NULL || out == NULL)
    return TW_EINVAL;
  tw_bot_t *bot = calloc(1, sizeof(*bot));
  if (bot == NULL)
    return TW_ENOMEM;
  bot->opts = *opts;
  if (bot->opts.lua_mem_cap == 0)
    bot->opts.lua_mem_cap = TW_BOT_LUA_MEM_DEFAULT;
  if (bot->opts.lua_budget == 0)
    bot->opts.lua_budget = TW_BOT_LUA_BUDGET_DEFAULT;
  if (bot->opts.regex_match_limit == 0)
    bot->opts.regex_match_limit = TW_BOT_MATCH_LIMIT_DEFAULT;
  if (bot->opts.regex_depth_limit == 0)
    bot->opts.regex_depth_limit = TW_BOT_DEPTH_LIMIT_DEFAULT;
  bot->opts.skills_dir = NULL;
  bot->load_errors = calloc(TW_BOT_MAX_LOAD_ERRORS, sizeof(char *));
  bot->skills_dir = xstrdup(opts->skills_dir);
  int rc = bot->load_errors == NULL ||
                   (opts->skills_dir != NULL && bot->skills_dir == NULL)
               ? TW_ENOMEM
               : tw__regex_env_init(&bot->rx, bot->opts.regex_match_limit,
                                    bot->opts.regex_depth_limit,
                                    !opts->regex_no_prefilter);
  if (rc != 0) {
    free(bot->load_errors);
    free(bot->skills_dir);
    free(bot);
    return rc;
  }
  *out = bot;
  return 0;
}

void tw_bot_free(tw_bot_t *bot) {
  if (bot == NULL)
    return;
  bot->busy = true;
  /* A uv timer not closed yet must not reach the freed bot. */
  if (bot->uvt != NULL)
    tw__bot_timer_detach(bot->uvt);
  for (size_t i = 0; i < bot->nskills; i++)
    skill_free(bot->skills[i]);
  free(bot->skills);
  clear_load_errors(bot);
  free(bot->load_errors);
  tw__regex_env_free(&bot->rx);
  free(bot->skills_dir);
  free(bot);
}

int tw_bot_reload(tw_bot_t *bot, const tw_bot_skill_def_t *defs, size_t n) {
  if (bot == NULL || (defs == NULL && n > 0) || n > TW_BOT_MAX_SKILLS)
    return TW_EINVAL;
  if (bot->busy)
    return TW_ESTATE;
  for (size_t i = 0; i < n; i++) {
    if (defs[i].name == NULL || defs[i].name[0] == '\0' ||
        strlen(defs[i].name) > TW_CONFIG_MAX_NAME)
      return TW_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(defs[i].name, defs[j].name) == 0)
        return TW_EINVAL;
  }
  tw_skill_t **next = calloc(n ? n : 1, sizeof(*next));
  bool *kept = calloc(bot->nskills ? bot->nskills : 1, sizeof(*kept));
  if (next == NULL || kept == NULL) {
    free(next);
    free(kept);
    return TW_ENOMEM;
  }
  bot->busy = true;
  clear_load_errors(bot);
  size_t nn = 0;
  int result = 0;
  for (size_t i = 0; i < n; i++) {
    const tw_bot_skill_def_t *d = &defs[i];
    int old = -1;
    for (size_t j = 0; j < bot->nskills; j++)
      if (!kept[j] && strcmp(bot->skills[j]->name, d->name) == 0)
        old = (int)j;
    if (old >= 0 && skill_unchanged(bot, bot->skills[old], d)) {
      kept[old] = true;
      next[nn++] = bot->skills[old];
      continue;
    }
    char err[TW_BOT_MAX_ERROR];
    err[0] = '\0';
    tw_skill_t *s = NULL;
    int rc = skill_load(bot, d, &s, err, sizeof(err));
    if (rc == 0) {
      if (old >= 0) {
        /* The new version takes over the old one's counters. */
        tw_bot_skill_stats_t prev = bot->skills[old]->st;
        s->st.calls = prev.calls;
        s->st.errors = prev.errors;
        s->st.budget_exceeded = prev.budget_exceeded;
        s->st.memory_errors = prev.memory_errors;
        s->st.constraint_rejects = prev.constraint_rejects;
        s->st.match_limit_hits = prev.match_limit_hits;
        s->st.actions_sent = prev.actions_sent;
        s->st.actions_failed = prev.actions_failed;
      }
      tw_info(LOG_MOD, "skill '%s': %s (%s, %zu matchers, %zu timers)", s->name,
              old >= 0 ? "reloaded" : "loaded", s->st.kind, s->nmatchers,
              s->ntimers);
      next[nn++] = s;
      continue;
    }
    result = TW_ECONFIG;
    if (old >= 0) {
      char msg[TW_BOT_MAX_ERROR + 64];
      snprintf(msg, sizeof(msg), "%s (the previous version keeps running)",
               err);
      load_error(bot, d->name, d->origin, msg);
      kept[old] = true;
      next[nn++] = bot->skills[old];
    } else {
      load_error(bot, d->name, d->origin, err);
    }
  }
  for (size_t j = 0; j < bot->nskills; j++) {
    if (!kept[j]) {
      tw_info(LOG_MOD, "skill '%s': unloaded", bot->skills[j]->name);
      skill_free(bot->skills[j]);
    }
  }
  free(kept);
  free(bot->skills);
  bot->skills = next;
  bot->nskills = nn;
  bot->busy = false;
  if (bot->uvt != NULL)
    tw__bot_timer_rearm(bot->uvt);
  return result;
}

int tw_bot_reload_config(tw_bot_t *bot, const tw_config_t *cfg) {
  if (bot == NULL || cfg == NULL)
    return TW_EINVAL;
  size_t n = tw_config_skill_count(cfg);
  tw_bot_skill_def_t *defs = calloc(n ? n : 1, sizeof(*defs));
  char(*origins)[256] = calloc(n ? n : 1, sizeof(*origins));
  if (defs == NULL || origins == NULL) {
    free(defs);
    free(origins);
    return TW_ENOMEM;
  }
  const char *src = tw_config_source(cfg);
  for (size_t i = 0; i < n; i++) {
    const tw_config_skill_t *cs = tw_config_skill(cfg, i);
    snprintf(origins[i], sizeof(origins[i]), "%s:%d", src ? src : "config",
             cs->line);
    defs[i].name = cs->name;
    defs[i].path = cs->path;
    defs[i].options = cs->options;
    defs[i].origin = origins[i];
  }
  int rc = tw_bot_reload(bot, defs, n);
  free(defs);
  free(origins);
  return rc;
}

size_t tw_bot_load_error_count(const tw_bot_t *bot) {
  return bot != NULL ? bot->nload_errors : 0;
}

const char *tw_bot_load_error(const tw_bot_t *bot, size_t i) {
  return bot != NULL && i < bot->nload_errors ? bot->load_errors[i] : NULL;
}

/* After a handler: counts the outcome; resource failures in a row
 * disable the skill (see bot.h). */
static void after_call(tw_skill_t *s, int rc) {
  if (rc == 0) {
    s->strikes = 0;
    return;
  }
  if (rc == TW_ETIMEDOUT)
    s->st.budget_exceeded++;
  else if (rc == TW_ENOMEM)
    s->st.memory_errors++;
  else
    s->st.errors++;
  if (rc != TW_ETIMEDOUT && rc != TW_ENOMEM) {
    s->strikes = 0;
    return;
  }
  if (++s->strikes >= TW_BOT_MAX_STRIKES) {
    s->disabled = true;
    s->st.disabled = true;
    tw__skill_log(s, TW_LOG_ERROR,
                  "disabled after %d calls in a row ran out of %s; reload "
                  "to enable it again",
                  TW_BOT_MAX_STRIKES,
                  rc == TW_ETIMEDOUT ? "instruction budget" : "memory");
  }
}

static int call_handler(tw_skill_t *s, int lua_ref, tw_skill_handler_fn fn,
                        void *arg, const tw_event_t *ev, const tw__matcher_t *m,
                        const tw__subject_t *subj) {
  s->st.calls++;
  s->current = ev;
  s->actions_in_call = 0;
  int rc = s->kind == TW__SKILL_LUA ? tw__lua_call(s, lua_ref, ev, m, subj)
                                    : tw__native_call(s, fn, arg, ev, m, subj);
  s->current = NULL;
  after_call(s, rc);
  return rc;
}

int tw_bot_dispatch(tw_bot_t *bot, const tw_event_t *ev) {
  if (bot == NULL || ev == NULL || (unsigned)ev->kind >= TW_EVENT_KIND_COUNT)
    return TW_EINVAL;
  if (bot->busy)
    return TW_ESTATE;
  bot->busy = true;
  tw__subject_t subj;
  subj.prepared = false;
  bool has_text = ev->kind == TW_EVENT_MESSAGE && ev->u.message.text != NULL;
  if (has_text) {
    subj.text = ev->u.message.text;
    subj.len = strlen(subj.text);
  }
  int calls = 0;
  for (size_t i = 0; i < bot->nskills; i++) {
    tw_skill_t *s = bot->skills[i];
    for (size_t j = 0; j < s->nmatchers && !s->disabled; j++) {
      tw__matcher_t *m = &s->matchers[j];
      if (m->kind != ev->kind)
        continue;
      if (m->type == TW__M_REGEX) {
        if (!has_text)
          continue;
        int r = tw__regex_match(&bot->rx, &m->re, &subj);
        if (r == 0)
          continue;
        if (r < 0) {
          s->st.match_limit_hits++;
          tw__skill_log(
              s, TW_LOG_WARN, "regex at %s gave up on message %s from '%s': %s",
              m->where, ev->event_id ? ev->event_id : "(no id)",
              ev->user ? ev->user : "?",
              r == TW_ETIMEDOUT ? "match limit reached" : "matching error");
          continue;
        }
      }
      const char *why = tw__rule_check(&m->rule, ev);
      if (why != NULL) {
        s->st.constraint_rejects++;
        tw__skill_log(s, TW_LOG_INFO,
                      "%s at %s matched but the %s constraint refused user "
                      "'%s' in '%s' via '%s'",
                      tw_event_kind_name(ev->kind), m->where, why,
                      ev->user ? ev->user : "", ev->target ? ev->target : "",
                      ev->connector ? ev->connector : "");
        continue;
      }
      calls++;
      call_handler(s, m->lua_ref, m->fn, m->arg, ev,
                   m->type == TW__M_REGEX ? m : NULL, &subj);
    }
  }
  bot->busy = false;
  return calls;
}

int tw_bot_tick(tw_bot_t *bot, uint64_t now_ms) {
  if (bot == NULL)
    return TW_EINVAL;
  if (bot->busy)
    return TW_ESTATE;
  bot->busy = true;
  int ran = 0;
  for (size_t i = 0; i < bot->nskills; i++) {
    tw_skill_t *s = bot->skills[i];
    for (size_t j = 0; j < s->ntimers && !s->disabled; j++) {
      tw__timer_t *t = &s->timers[j];
      if (t->due_ms == 0) {
        t->due_ms = now_ms + t->interval_ms;
        continue;
      }
      if (now_ms < t->due_ms)
        continue;
      t->due_ms += t->interval_ms;
      if (t->due_ms <= now_ms)
        t->due_ms = now_ms + t->interval_ms;
      ran++;
      call_handler(s, t->lua_ref, t->fn, t->arg, NULL, NULL, NULL);
    }
  }
  bot->busy = false;
  return ran;
}

int64_t tw_bot_next_timer(const tw_bot_t *bot, uint64_t now_ms) {
  if (bot == NULL)
    return -1;
  int64_t best = -1;
  for (size_t i = 0; i < bot->nskills; i++) {
    const tw_skill_t *s = bot->skills[i];
    if (s->disabled)
      continue;
    for (size_t j = 0; j < s->ntimers; j++) {
      const tw__timer_t *t = &s->timers[j];
      int64_t d = t->due_ms == 0 || t->due_ms <= now_ms
                      ? 0
                      : (int64_t)(t->due_ms - now_ms);
      if (best < 0 || d < best)
        best = d;
    }
  }
  return best;
}

size_t tw_bot_timer_count(const tw_bot_t *bot) {
  size_t n = 0;
  for (size_t i = 0; bot != NULL && i < bot->nskills; i++)
    n += bot->skills[i]->ntimers;
  return n;
}

int tw_bot_timer_info(const tw_bot_t *bot, size_t i, tw_bot_timer_info_t *out) {
  if (bot == NULL || out == NULL)
    return TW_EINVAL;
  for (size_t k = 0; k < bot->nskills; k++) {
    const tw_skill_t *s = bot->skills[k];
    if (i < s->ntimers) {
      out->skill = s->name;
      out->where = s->timers[i].where;
      out->interval_ms = s->timers[i].interval_ms;
      out->due_ms = s->timers[i].due_ms;
      return 0;
    }
    i -= s->ntimers;
  }
  return TW_ENOTFOUND;
}

size_t tw_bot_skill_count(const tw_bot_t *bot) {
  return bot != NULL ? bot->nskills : 0;
}

int tw_bot_skill_stats(const tw_bot_t *bot, size_t i,
                       tw_bot_skill_stats_t *out) {
  if (bot == NULL || out == NULL || i >= bot->nskills)
    return TW_ENOTFOUND;
  tw_skill_t *s = bot->skills[i];
  *out = s->st;
  out->matchers = s->nmatchers;
  out->timers = s->ntimers;
  out->disabled = s->disabled;
  return 0;
}

int tw_bot_skill_find(const tw_bot_t *bot, const char *name) {
  for (size_t i = 0; bot != NULL && name != NULL && i < bot->nskills; i++)
    if (strcmp(bot->skills[i]->name, name) == 0)
      return (int)i;
  return -1;
}
