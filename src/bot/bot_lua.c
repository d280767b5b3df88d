/* twitchd: Lua 5.4 skills.
 *
 * One lua_State per skill, so that skills share nothing and a skill's
 * failure cannot corrupt another's data. The state is a sandbox:
 *
 *  - libraries: base, table, string, math, utf8, coroutine; a small `os`
 *    (time, clock, date, difftime). No io, no debug, no package; dofile,
 *    loadfile and string.dump are removed; load() accepts text chunks only;
 *    require() loads only NAME.lua files from the skill's folder (and from
 *    the folders listed in the skill's `lua-path` option);
 *    collectgarbage() only collects, steps and counts.
 *  - an instruction budget per call: a count hook adds up VM instructions
 *    and raises "instruction budget exceeded" past the budget; once over,
 *    the hook fires on every instruction, so that a pcall() inside the
 *    skill cannot swallow the error and go on looping.
 *  - a memory cap: the state's allocator counts bytes and refuses to grow
 *    past the cap, which Lua reports as "not enough memory".
 *
 * After such a failure the state stays usable (Lua unwinds cleanly from
 * both errors); a full collection runs to give back what the failed call
 * held. The dispatcher disables a skill whose calls keep failing that way
 * (bot.c, TW_BOT_MAX_STRIKES).
 *
 * Known limit: the hook counts VM instructions, so a single long-running
 * C function is not interrupted. Memory-hungry ones (string.rep,
 * table.concat) are stopped by the cap, but Lua's own pattern matcher
 * (string.find/match/gmatch/gsub) can take polynomial time on adversarial
 * patterns; use bot.match_regex, which has a match limit, for matching
 * untrusted text against patterns taken from configuration.
 *
 * Everything that allocates Lua memory runs inside lua_pcall (a memory
 * error outside one would be a panic), and C memory that must not leak
 * when a Lua error unwinds is owned by a userdata "box" with a __gc. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bot/bot_int.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define HOOK_EVERY 1000 /* instructions between two budget checks */
#define MAX_MODULE_NAME 128
#define MAX_WARN 1024

#define K_KINDS "twitchd.kinds"       /* registry: kind index -> metatable */
#define K_LOADED "twitchd.loaded"     /* registry: module name -> value */
#define K_CONN_MT "twitchd.connector" /* connector objects' metatable */
#define K_EVBOX_MT "twitchd.evbox"    /* owns a tw_event_t */
#define K_RULEBOX_MT "twitchd.rulebox"
#define K_LUAPATH "twitchd.luapath" /* registry: list of extra folders */

struct tw__lua {
  lua_State *L;
  size_t mem, cap;
  uint64_t budget, used;
  bool budget_hit;
  char warn[MAX_WARN];
  size_t warn_len;
};

static tw_skill_t *skill_of(lua_State *L) {
  return *(tw_skill_t **)lua_getextraspace(L);
}

/* ---- allocator and hook ------------------------------------------------- */

static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  tw_skill_t *s = ud;
  tw__lua_t *x = s->lua;
  size_t old = ptr != NULL ? osize : 0; /* with ptr NULL, osize is a type */
  if (nsize == 0) {
    free(ptr);
    x->mem -= old;
    s->st.lua_memory = x->mem;
    return NULL;
  }
  if (nsize > old && x->mem + (nsize - old) > x->cap)
    return NULL;
  void *p = realloc(ptr, nsize);
  if (p == NULL)
    return NULL;
  x->mem = x->mem - old + nsize;
  s->st.lua_memory = x->mem;
  return p;
}

static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  tw__lua_t *x = skill_of(L)->lua;
  int every = lua_gethookcount(L);
  x->used += every > 0 ? (uint64_t)every : 1;
  if (x->used > x->budget) {
    x->budget_hit = true;
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "instruction budget exceeded (%llu instructions)",
               (unsigned long long)x->budget);
  }
}

static void budget_reset(tw__lua_t *x, uint64_t budget) {
  x->used = 0;
  x->budget = budget;
  x->budget_hit = false;
  lua_sethook(x->L, hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static void warnf(void *ud, const char *msg, int tocont) {
  tw_skill_t *s = ud;
  tw__lua_t *x = s->lua;
  size_t n = strlen(msg);
  if (x->warn_len + n >= sizeof(x->warn))
    n = sizeof(x->warn) - 1 - x->warn_len;
  memcpy(x->warn + x->warn_len, msg, n);
  x->warn_len += n;
  x->warn[x->warn_len] = '\0';
  if (!tocont) {
    /* "@on"/"@off" are control messages; warnings are always logged. */
    if (x->warn[0] != '@')
      tw__skill_log(s, TW_LOG_WARN, "Lua warning: %s", x->warn);
    x->warn_len = 0;
  }
}

static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  tw_error("bot", "skill '%s': Lua panic: %s", skill_of(L)->name,
           msg ? msg : "?");
  return 0; /* Lua aborts after this */
}

/* ---- small helpers ------------------------------------------------------ */

/* "file:line" of the Lua code `level` frames up (for registrations). */
static void where_at(lua_State *L, int level, char *buf, size_t cap) {
  lua_Debug ar;
  if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) &&
      ar.currentline > 0)
    snprintf(buf, cap, "%s:%d", ar.short_src, ar.currentline);
  else
    snprintf(buf, cap, "%s", skill_of(L)->path ? skill_of(L)->path : "?");
}

/* Raises "file:line: msg" pointing at the Lua caller `level` frames up. */
static int raise_at(lua_State *L, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int raise_at(lua_State *L, int level, const char *fmt, ...) {
  char where[256], msg[TW_BOT_MAX_ERROR];
  where_at(L, level, where, sizeof(where));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  lua_pushfstring(L, "%s: %s", where, msg);
  return lua_error(L);
}

static int box_gc(lua_State *L) {
  tw_event_t **box = luaL_checkudata(L, 1, K_EVBOX_MT);
  tw_event_free(*box);
  *box = NULL;
  return 0;
}

static tw_event_t **new_box(lua_State *L) {
  tw_event_t **box = lua_newuserdatauv(L, sizeof(*box), 0);
  *box = NULL;
  luaL_setmetatable(L, K_EVBOX_MT);
  return box;
}

static int rulebox_gc(lua_State *L) {
  tw__rule_t *r = luaL_checkudata(L, 1, K_RULEBOX_MT);
  tw__rule_free(r);
  return 0;
}

/* ---- events: C -> Lua --------------------------------------------------- */

static void push_field(lua_State *L, const tw_event_t *ev,
                       const tw_event_field_t *f) {
  const char *base = (const char *)ev + f->offset;
  switch (f->type) {
  case TW_EVENT_FIELD_STR: {
    const char *v = *(const char *const *)(const void *)base;
    if (v == NULL)
      return;
    lua_pushstring(L, v);
    break;
  }
  case TW_EVENT_FIELD_INT:
    lua_pushinteger(L, (lua_Integer) * (const int64_t *)(const void *)base);
    break;
  case TW_EVENT_FIELD_BOOL:
    lua_pushboolean(L, *(const bool *)(const void *)base);
    break;
  case TW_EVENT_FIELD_TIME: {
    int64_t t = *(const int64_t *)(const void *)base;
    char buf[TW_EVENT_TIME_BUF];
    if (t == 0)
      return;
    if (tw_event_time_format(t, buf, sizeof(buf)) == 0)
      lua_pushstring(L, buf);
    else
      lua_pushinteger(L, (lua_Integer)t);
    break;
  }
  }
  lua_setfield(L, -2, f->name);
}

/* Pushes a table with every set field of `ev`, generically from the field
 * descriptors, with the kind's metatable (methods: respond; kind). */
static void push_event(lua_State *L, const tw_event_t *ev) {
  size_t nc = 0, nk = 0;
  const tw_event_field_t *common = tw_event_common_fields(&nc);
  const tw_event_field_t *spec = tw_event_kind_fields(ev->kind, &nk);
  lua_createtable(L, 0, (int)(nc + nk));
  for (size_t i = 0; i < nc; i++)
    push_field(L, ev, &common[i]);
  for (size_t i = 0; i < nk; i++)
    push_field(L, ev, &spec[i]);
  lua_getfield(L, LUA_REGISTRYINDEX, K_KINDS);
  lua_rawgeti(L, -1, (lua_Integer)ev->kind + 1);
  lua_setmetatable(L, -3);
  lua_pop(L, 1);
}

static void push_group(lua_State *L, const char *subj, const size_t *ov,
                       uint32_t i) {
  if (ov[2 * i] == PCRE2_UNSET)
    lua_pushboolean(L, 0);
  else
    lua_pushlstring(L, subj + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
}

/* m[0] the whole match, m[1..n] the groups, m.name the named groups;
 * an unset group is false (not nil, so that #m counts every group). */
static void push_match(lua_State *L, const tw__matcher_t *m,
                       const tw__subject_t *s) {
  const tw__regex_t *re = &m->re;
  const size_t *ov = pcre2_get_ovector_pointer(re->md);
  lua_createtable(L, (int)re->ncap, (int)re->name_count + 1);
  for (uint32_t i = 0; i <= re->ncap; i++) {
    push_group(L, s->text, ov, i);
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  for (uint32_t i = 0; i < re->name_count; i++) {
    const unsigned char *e = re->name_table + (size_t)i * re->name_entry_size;
    uint32_t g = ((uint32_t)e[0] << 8) | e[1];
    push_group(L, s->text, ov, g);
    lua_setfield(L, -2, (const char *)e + 2);
  }
}

/* ---- events: Lua -> C --------------------------------------------------- */

/* The kind of an event table (one carrying a kind metatable), or -1. */
static int table_kind(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE)
    return -1;
  int k = -1;
  if (luaL_getmetafield(L, idx, "__twkind") != LUA_TNIL) {
    if (lua_isinteger(L, -1))
      k = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  return k >= 0 && k < TW_EVENT_KIND_COUNT ? k : -1;
}

/* Sets field `name` of *box from the Lua value at idx; raises on an unknown
 * field, a wrong type or a value over the field's cap. */
static void set_from_lua(lua_State *L, tw_event_t *ev, const char *name,
                         int idx, int level) {
  const tw_event_field_t *f = tw_event_field_find(ev->kind, name);
  const char *kind = tw_event_kind_name(ev->kind);
  if (f == NULL)
    raise_at(L, level, "%s has no field '%s'", kind, name);
  int t = lua_type(L, idx), rc = 0;
  char num[64];
  switch (f->type) {
  case TW_EVENT_FIELD_STR:
    if (t == LUA_TSTRING) {
      size_t len;
      const char *v = lua_tolstring(L, idx, &len);
      rc = tw_event_set_strn(ev, name, v, len);
    } else if (t == LUA_TNUMBER) {
      if (lua_isinteger(L, idx))
        snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, idx));
      else
        snprintf(num, sizeof(num), "%.14g", (double)lua_tonumber(L, idx));
      rc = tw_event_set_str(ev, name, num);
    } else if (t == LUA_TNIL) {
      rc = tw_event_set_str(ev, name, NULL);
    } else {
      raise_at(L, level, "%s.%s must be a string, got %s", kind, name,
               lua_typename(L, t));
    }
    break;
  case TW_EVENT_FIELD_INT: {
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (!isint)
      raise_at(L, level, "%s.%s must be an integer, got %s", kind, name,
               lua_typename(L, t));
    rc = tw_event_set_int(ev, name, (int64_t)v);
    break;
  }
  case TW_EVENT_FIELD_BOOL:
    if (t != LUA_TBOOLEAN)
      raise_at(L, level, "%s.%s must be a boolean, got %s", kind, name,
               lua_typename(L, t));
    rc = tw_event_set_bool(ev, name, lua_toboolean(L, idx));
    break;
  case TW_EVENT_FIELD_TIME: {
    int64_t ms = 0;
    if (t == LUA_TSTRING) {
      if (tw_event_time_parse(lua_tostring(L, idx), &ms) != 0)
        raise_at(L, level, "%s.%s: not an RFC 3339 time: %s", kind, name,
                 lua_tostring(L, idx));
    } else if (lua_isinteger(L, idx)) {
      ms = (int64_t)lua_tointeger(L, idx);
    } else {
      raise_at(L, level, "%s.%s must be a time (RFC 3339 string or ms)", kind,
               name);
    }
    rc = tw_event_set_time(ev, name, ms);
    break;
  }
  }
  if (rc == TW_ETOOBIG)
    raise_at(L, level, "%s.%s is longer than %zu bytes", kind, name, f->cap);
  if (rc != 0)
    raise_at(L, level, "%s.%s: %s", kind, name, tw_strerror(rc));
}

/* Builds *box from the table at idx (all its string keys are fields). */
static void fill_from_table(lua_State *L, tw_event_t *ev, int idx, int level) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING)
      raise_at(L, level, "%s: field names must be strings",
               tw_event_kind_name(ev->kind));
    set_from_lua(L, ev, lua_tostring(L, -2), lua_gettop(L), level);
    lua_pop(L, 1);
  }
}

/* A new tw_event_t, owned by a box pushed on the stack, from the event
 * table at idx. */
static tw_event_t **event_from_lua(lua_State *L, int idx, int level) {
  idx = lua_absindex(L, idx);
  int k = table_kind(L, idx);
  if (k < 0)
    raise_at(L, level,
             "expected an event (made with bot.Message{...} and "
             "the like), got %s",
             luaL_typename(L, idx));
  tw_event_t **box = new_box(L);
  *box = tw_event_new((tw_event_kind_t)k);
  if (*box == NULL)
    luaL_error(L, "not enough memory");
  fill_from_table(L, *box, idx, level);
  return box;
}

/* bot.<Kind>(x): x a table of fields, or a string for the kind's first
 * string field (Message("hi"), UpdateTitle("new title")), optionally
 * followed by a table of more fields. Returns a normalised event table. */
static int l_construct(lua_State *L) {
  tw_event_kind_t kind = (tw_event_kind_t)lua_tointeger(L, lua_upvalueindex(1));
  int nargs = lua_gettop(L);
  tw_event_t **box = new_box(L);
  int boxi = lua_gettop(L);
  *box = tw_event_new(kind);
  if (*box == NULL)
    return luaL_error(L, "not enough memory");
  int more = 0;
  if (lua_type(L, 1) == LUA_TTABLE) {
    fill_from_table(L, *box, 1, 1);
  } else if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
    size_t n = 0;
    const tw_event_field_t *f = tw_event_kind_fields(kind, &n);
    if (n == 0 || f[0].type != TW_EVENT_FIELD_STR)
      return raise_at(L, 1, "%s takes a table of fields",
                      tw_event_kind_name(kind));
    set_from_lua(L, *box, f[0].name, 1, 1);
    more = 2;
  } else if (!lua_isnoneornil(L, 1)) {
    return raise_at(L, 1, "%s takes a table of fields, got %s",
                    tw_event_kind_name(kind), luaL_typename(L, 1));
  }
  if (more && more <= nargs && lua_type(L, more) == LUA_TTABLE)
    fill_from_table(L, *box, more, 1);
  else if (more && more <= nargs && !lua_isnil(L, more))
    return raise_at(L, 1, "%s: the second argument must be a table",
                    tw_event_kind_name(kind));
  push_event(L, *box);
  tw_event_free(*box);
  *box = NULL;
  lua_remove(L, boxi);
  return 1;
}

/* ---- bot.connector / send / respond ------------------------------------- */

static int l_connector(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  tw_skill_t *s = skill_of(L);
  if (len == 0 || len > TW_MAX_EVENT_NAME || strlen(name) != len)
    return raise_at(L, 1, "bad connector name");
  if (s->bot->opts.has_connector != NULL &&
      !s->bot->opts.has_connector(name, s->bot->opts.route_arg))
    return raise_at(L, 1, "no connector named '%s'", name);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "name");
  luaL_setmetatable(L, K_CONN_MT);
  return 1;
}

static int push_result(lua_State *L, int rc) {
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, tw_strerror(rc));
  return 2;
}

/* connector:send(event) -> true | nil, "reason" */
static int l_conn_send(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE || !lua_getmetatable(L, 1))
    return raise_at(L, 1, "use connector:send(event), with a colon");
  luaL_getmetatable(L, K_CONN_MT);
  int ok = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!ok)
    return raise_at(L, 1, "use connector:send(event), with a colon");
  lua_getfield(L, 1, "name");
  const char *name = lua_tostring(L, -1);
  if (name == NULL)
    return raise_at(L, 1, "connector without a name");
  tw_event_t **box = event_from_lua(L, 2, 1);
  if (!tw_event_kind_is_action((*box)->kind))
    return raise_at(L, 1,
                    "%s is an event connectors produce, not an action "
                    "they perform",
                    tw_event_kind_name((*box)->kind));
  tw_event_t *ev = *box;
  *box = NULL;
  return push_result(L, tw__skill_send(skill_of(L), name, ev));
}

/* event:respond(text | event) -> true | nil, "reason" */
static int l_respond(lua_State *L) {
  int kind = table_kind(L, 1);
  if (kind < 0)
    return raise_at(L, 1, "use event:respond(text), with a colon");
  /* Only the fields that say where to answer are read, so that a skill
   * that stored its own keys in the event table can still respond. */
  tw_event_t **to = new_box(L);
  *to = tw_event_new((tw_event_kind_t)kind);
  if (*to == NULL)
    return luaL_error(L, "not enough memory");
  static const char *const where[] = {"connector", "target", "user", "user_id",
                                      "room_id"};
  for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
    if (tw_event_field_find((tw_event_kind_t)kind, where[i]) == NULL)
      continue;
    lua_pushstring(L, where[i]);
    if (lua_rawget(L, 1) == LUA_TSTRING)
      set_from_lua(L, *to, where[i], lua_gettop(L), 1);
    lua_pop(L, 1);
  }
  tw_event_t **reply;
  if (lua_type(L, 2) == LUA_TSTRING) {
    reply = new_box(L);
    *reply = tw_event_new(TW_EVENT_MESSAGE);
    if (*reply == NULL)
      return luaL_error(L, "not enough memory");
    set_from_lua(L, *reply, "text", 2, 1);
  } else {
    reply = event_from_lua(L, 2, 1);
    if (!tw_event_kind_is_action((*reply)->kind))
      return raise_at(L, 1, "%s is not an action",
                      tw_event_kind_name((*reply)->kind));
  }
  tw_event_t *ev = *reply;
  *reply = NULL;
  return push_result(L, tw__skill_respond(skill_of(L), *to, ev));
}

/* ---- registration ------------------------------------------------------- */

static void check_loading(lua_State *L, const char *what) {
  if (!skill_of(L)->loading)
    raise_at(L, 1, "%s can only be called while the skill loads", what);
}

/* Reads a list option (a string or an array of strings) into the rule. */
static void read_list(lua_State *L, int idx, const char *key, tw__rule_t *r,
                      int (*add)(tw__rule_t *, const char *)) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    if (add(r, lua_tostring(L, idx)) != 0)
      raise_at(L, 1, "bad %s entry '%s'", key, lua_tostring(L, idx));
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    raise_at(L, 1,
             "option %s must be a list of strings, got %s (is the "
             "config option it comes from set?)",
             key, luaL_typename(L, idx));
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (n > TW_BOT_MAX_LIST)
    raise_at(L, 1, "option %s has more than %d entries", key, TW_BOT_MAX_LIST);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      raise_at(L, 1, "option %s: entry %lld is not a string", key,
               (long long)i);
    if (add(r, lua_tostring(L, -1)) != 0)
      raise_at(L, 1, "option %s: bad entry '%s'", key, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static int add_conn(tw__rule_t *r, const char *s) {
  return tw__rule_add_connector(r, s);
}

static int add_role(tw__rule_t *r, const char *s) {
  unsigned bit = tw__rule_role_bit(s);
  if (bit == 0)
    return TW_EINVAL;
  r->roles |= bit;
  return 0;
}

/* Parses a matcher's options table at idx into the boxed rule and flags. */
static unsigned read_opts(lua_State *L, int idx, tw__rule_t *r, bool regex) {
  unsigned flags = 0;
  if (lua_isnoneornil(L, idx))
    return 0;
  if (lua_type(L, idx) != LUA_TTABLE)
    raise_at(L, 1, "options must be a table");
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    int v = lua_gettop(L);
    if (regex && strcmp(k, "case_sensitive") == 0) {
      if (lua_type(L, v) != LUA_TBOOLEAN)
        raise_at(L, 1, "case_sensitive must be true or false");
      if (!lua_toboolean(L, v))
        flags |= TW_SKILL_CASELESS;
    } else if (regex && strcmp(k, "matching_condition") == 0) {
      const char *c = lua_tostring(L, v);
      if (c != NULL && strcmp(c, "search") == 0)
        ;
      else if (c != NULL && strcmp(c, "match") == 0)
        flags |= TW_SKILL_ANCHOR_START;
      else if (c != NULL && strcmp(c, "fullmatch") == 0)
        flags |= TW_SKILL_FULLMATCH;
      else
        raise_at(L, 1,
                 "matching_condition must be \"search\", \"match\" or "
                 "\"fullmatch\"");
    } else if (strcmp(k, "users") == 0) {
      tw__rule_users_given(r);
      read_list(L, v, k, r, tw__rule_add_user);
    } else if (strcmp(k, "rooms") == 0) {
      tw__rule_rooms_given(r);
      read_list(L, v, k, r, tw__rule_add_room);
    } else if (strcmp(k, "connectors") == 0) {
      tw__rule_connectors_given(r);
      read_list(L, v, k, r, add_conn);
    } else if (strcmp(k, "roles") == 0) {
      read_list(L, v, k, r, add_role);
      if (r->roles == 0)
        raise_at(L, 1,
                 "roles must name at least one of broadcaster, "
                 "moderator, vip, subscriber");
    } else {
      raise_at(L, 1,
               "unknown option '%s' (options: %susers, rooms, "
               "connectors, roles)",
               k, regex ? "case_sensitive, matching_condition, " : "");
    }
    lua_pop(L, 1);
  }
  return flags;
}

/* bot.match_regex(pattern, [options,] handler) */
static int l_match_regex(lua_State *L) {
  check_loading(L, "bot.match_regex");
  const char *pattern = luaL_checkstring(L, 1);
  int fn = lua_gettop(L);
  if (fn < 2 || lua_type(L, fn) != LUA_TFUNCTION)
    return raise_at(L, 1, "bot.match_regex(pattern, [options,] function)");
  tw__rule_t *r = lua_newuserdatauv(L, sizeof(*r), 0);
  memset(r, 0, sizeof(*r));
  luaL_setmetatable(L, K_RULEBOX_MT);
  unsigned flags = fn > 2 ? read_opts(L, 2, r, true) : 0;
  char where[256], err[TW_BOT_MAX_ERROR];
  where_at(L, 1, where, sizeof(where));
  lua_pushvalue(L, fn);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (tw__skill_add_regex(skill_of(L), pattern, flags, r, where, ref, NULL,
                          NULL, err, sizeof(err)) != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    lua_pushfstring(L, "%s: %s", where, err);
    return lua_error(L);
  }
  return 0;
}

/* bot.match_event(name, [options,] handler) */
static int l_match_event(lua_State *L) {
  check_loading(L, "bot.match_event");
  const char *name = luaL_checkstring(L, 1);
  int fn = lua_gettop(L);
  if (fn < 2 || lua_type(L, fn) != LUA_TFUNCTION)
    return raise_at(L, 1, "bot.match_event(name, [options,] function)");
  tw__rule_t *r = lua_newuserdatauv(L, sizeof(*r), 0);
  memset(r, 0, sizeof(*r));
  luaL_setmetatable(L, K_RULEBOX_MT);
  if (fn > 2)
    read_opts(L, 2, r, false);
  char where[256], err[TW_BOT_MAX_ERROR];
  where_at(L, 1, where, sizeof(where));
  lua_pushvalue(L, fn);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (tw__skill_add_event(skill_of(L), name, r, where, ref, NULL, NULL, err,
                          sizeof(err)) != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    lua_pushfstring(L, "%s: %s", where, err);
    return lua_error(L);
  }
  return 0;
}

/* bot.every(seconds, handler) */
static int l_every(lua_State *L) {
  check_loading(L, "bot.every");
  lua_Number secs = luaL_checknumber(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!(secs * 1000.0 >= TW_BOT_MIN_INTERVAL_MS) || secs > 1e9)
    return raise_at(L, 1, "bot.every: interval must be at least %d ms",
                    TW_BOT_MIN_INTERVAL_MS);
  char where[256], err[TW_BOT_MAX_ERROR];
  where_at(L, 1, where, sizeof(where));
  lua_pushvalue(L, 2);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (tw__skill_add_timer(skill_of(L), (uint64_t)llround(secs * 1000.0), where,
                          ref, NULL, NULL, err, sizeof(err)) != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    lua_pushfstring(L, "%s: %s", where, err);
    return lua_error(L);
  }
  return 0;
}

/* ---- logging ------------------------------------------------------------ */

static int do_log(lua_State *L, tw_log_level_t level) {
  if (level < tw_log_get_level())
    return 0;
  luaL_Buffer b;
  int n = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1)
      luaL_addchar(&b, ' ');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  tw_log(level, "skill", "%s: %s", skill_of(L)->name, lua_tostring(L, -1));
  return 0;
}

static int l_trace(lua_State *L) {
  return do_log(L, TW_LOG_TRACE);
}
static int l_debug(lua_State *L) {
  return do_log(L, TW_LOG_DEBUG);
}
static int l_info(lua_State *L) {
  return do_log(L, TW_LOG_INFO);
}
static int l_warn(lua_State *L) {
  return do_log(L, TW_LOG_WARN);
}
static int l_error(lua_State *L) {
  return do_log(L, TW_LOG_ERROR);
}

/* ---- config ------------------------------------------------------------- */

static void push_node(lua_State *L, const tw_config_node_t *n, int depth) {
  luaL_checkstack(L, 4, "config too deep");
  switch (tw_config_node_type(n)) {
  case TW_CONFIG_NULL:
    lua_pushnil(L);
    break;
  case TW_CONFIG_BOOL:
    lua_pushboolean(L, tw_config_node_bool(n));
    break;
  case TW_CONFIG_INT:
    lua_pushinteger(L, (lua_Integer)tw_config_node_int(n));
    break;
  case TW_CONFIG_FLOAT:
    lua_pushnumber(L, (lua_Number)tw_config_node_float(n));
    break;
  case TW_CONFIG_STRING:
    lua_pushstring(L, tw_config_node_string(n));
    break;
  case TW_CONFIG_LIST: {
    size_t cnt = tw_config_node_size(n);
    lua_createtable(L, (int)cnt, 0);
    for (size_t i = 0; i < cnt; i++) {
      push_node(L, tw_config_node_item(n, i), depth + 1);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    break;
  }
  case TW_CONFIG_MAP: {
    size_t cnt = tw_config_node_size(n);
    lua_createtable(L, 0, (int)cnt);
    for (size_t i = 0; i < cnt; i++) {
      push_node(L, tw_config_node_item(n, i), depth + 1);
      lua_setfield(L, -2, tw_config_node_key(n, i));
    }
    break;
  }
  }
}

/* Reading an option that is not set is an error rather than nil: the
 * seed's title skill passes bot.config.whitelisted as its users list, and
 * a nil there (a typo in the config) would silently mean "anyone". */
static int l_config_index(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  return raise_at(L, 1,
                  "config option '%s' is not set for skill '%s' (use "
                  "bot.option('%s', default) for an optional one)",
                  k ? k : "?", skill_of(L)->name, k ? k : "?");
}

/* bot.option(name, default): the config table is an upvalue, so that a
 * skill reassigning its globals does not change what this reads. */
static int l_option(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_pushvalue(L, 1);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNIL) {
    lua_settop(L, 2);
    return 1;
  }
  return 1;
}

/* ---- sandbox ------------------------------------------------------------ */

static bool module_name_ok(const char *n, size_t len) {
  if (len == 0 || len > MAX_MODULE_NAME || n[0] == '.' || n[len - 1] == '.')
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' ||
              (c == '.' && n[i + 1] != '.');
    if (!ok)
      return false;
  }
  return true;
}

/* Loads file `path` as a text chunk named "@path" and pushes the function.
 * The bytes live in a userdata (counted against the cap). */
static void load_file(lua_State *L, const char *path) {
  tw_skill_t *s = skill_of(L);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    luaL_error(L, "cannot open %s", path);
  if (st.st_size > TW_BOT_MAX_SKILL_FILE)
    luaL_error(L, "%s is larger than %d bytes", path, TW_BOT_MAX_SKILL_FILE);
  size_t cap = (size_t)st.st_size;
  char *buf = lua_newuserdatauv(L, cap + 1, 0);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    luaL_error(L, "cannot open %s", path);
  size_t n = fread(buf, 1, cap + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || n > cap)
    luaL_error(L, "cannot read %s (changed while reading?)", path);
  if (tw__skill_add_src(s, path, buf, n) != 0)
    luaL_error(L, "not enough memory");
  /* Lua cuts chunk names to LUA_IDSIZE bytes, keeping the end; a long
   * absolute path is shown relative to the skill's folder instead, which
   * the load error's "skill 'name'" prefix already locates. */
  const char *shown = path;
  size_t dl = strlen(s->dir);
  if (strlen(path) >= LUA_IDSIZE - 1 && strncmp(path, s->dir, dl) == 0 &&
      path[dl] == '/')
    shown = path + dl + 1;
  lua_pushfstring(L, "@%s", shown);
  int rc = luaL_loadbufferx(L, buf, n, lua_tostring(L, -1), "t");
  if (rc != LUA_OK)
    lua_error(L);
  lua_replace(L, -3); /* drop the buffer and the name, keep the function */
  lua_pop(L, 1);
}

/* require(name): NAME.lua (dots are folders) from the skill's folder or a
 * `lua-path` folder; nothing else. */
static int l_require(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  if (!module_name_ok(name, len))
    return raise_at(L, 1,
                    "require: bad module name '%s' (letters, digits, "
                    "'_' and '.')",
                    name);
  lua_getfield(L, LUA_REGISTRYINDEX, K_LOADED);
  if (lua_getfield(L, -1, name) != LUA_TNIL)
    return 1;
  lua_pop(L, 1);
  char rel[MAX_MODULE_NAME + 8];
  memcpy(rel, name, len);
  for (size_t i = 0; i < len; i++)
    if (rel[i] == '.')
      rel[i] = '/';
  memcpy(rel + len, ".lua", 5);
  tw_skill_t *s = skill_of(L);
  lua_getfield(L, LUA_REGISTRYINDEX, K_LUAPATH);
  int dirs = lua_gettop(L);
  lua_Integer ndirs = (lua_Integer)lua_rawlen(L, dirs);
  for (lua_Integer i = 0; i <= ndirs; i++) {
    const char *dir = s->dir;
    if (i > 0) {
      lua_rawgeti(L, dirs, i);
      dir = lua_tostring(L, -1);
      lua_pop(L, 1); /* still referenced by the list */
    }
    if (dir == NULL)
      continue;
    lua_pushfstring(L, "%s/%s", dir, rel);
    const char *path = lua_tostring(L, -1);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      load_file(L, path);
      lua_pushstring(L, name);
      lua_call(L, 1, 1);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
      }
      lua_pushvalue(L, -1);
      lua_setfield(L, dirs - 1, name);
      return 1;
    }
    lua_pop(L, 1);
  }
  return raise_at(L, 1,
                  "module '%s' not found (looked for %s in the skill's "
                  "folder%s)",
                  name, rel, ndirs > 0 ? " and its lua-path" : "");
}

/* load(chunk [, name [, mode [, env]]]): text chunks only. */
static int l_load(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  if (n >= 2)
    lua_pushvalue(L, 2);
  else
    lua_pushnil(L);
  lua_pushliteral(L, "t");
  if (n >= 4) {
    lua_pushvalue(L, 4);
    lua_call(L, 4, LUA_MULTRET);
  } else {
    lua_call(L, 3, LUA_MULTRET);
  }
  return lua_gettop(L) - n;
}

static int l_collectgarbage(lua_State *L) {
  const char *opt = luaL_optstring(L, 1, "collect");
  if (strcmp(opt, "collect") == 0 || strcmp(opt, "count") == 0 ||
      strcmp(opt, "step") == 0 || strcmp(opt, "isrunning") == 0) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  return raise_at(L, 1, "collectgarbage('%s') is not available to skills", opt);
}

static void open_lib(lua_State *L, const char *name, lua_CFunction fn) {
  luaL_requiref(L, name, fn, 1);
  lua_pop(L, 1);
}

static void set_nil(lua_State *L, const char *table, const char *field) {
  if (lua_getglobal(L, table) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_setfield(L, -2, field);
  }
  lua_pop(L, 1);
}

static void sandbox(lua_State *L) {
  open_lib(L, LUA_GNAME, luaopen_base);
  open_lib(L, LUA_TABLIBNAME, luaopen_table);
  open_lib(L, LUA_STRLIBNAME, luaopen_string);
  open_lib(L, LUA_MATHLIBNAME, luaopen_math);
  open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);
  open_lib(L, LUA_COLIBNAME, luaopen_coroutine);
  /* os: only the clock and calendar functions. */
  open_lib(L, LUA_OSLIBNAME, luaopen_os);
  lua_getglobal(L, "os");
  lua_createtable(L, 0, 4);
  static const char *const keep[] = {"time", "clock", "date", "difftime"};
  for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
    lua_getfield(L, -2, keep[i]);
    lua_setfield(L, -2, keep[i]);
  }
  lua_setglobal(L, "os");
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  static const char *const drop[] = {"dofile", "loadfile", "require"};
  for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
    lua_pushnil(L);
    lua_setglobal(L, drop[i]);
  }
  set_nil(L, "string", "dump");
  lua_getglobal(L, "load");
  lua_pushcclosure(L, l_load, 1);
  lua_setglobal(L, "load");
  lua_getglobal(L, "collectgarbage");
  lua_pushcclosure(L, l_collectgarbage, 1);
  lua_setglobal(L, "collectgarbage");
  lua_pushcfunction(L, l_require);
  lua_setglobal(L, "require");
  lua_pushcfunction(L, l_info);
  lua_setglobal(L, "print");
}

/* ---- the bot table ------------------------------------------------------ */

static void make_metatables(lua_State *L) {
  luaL_newmetatable(L, K_EVBOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, K_RULEBOX_MT);
  lua_pushcfunction(L, rulebox_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, K_CONN_MT);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, l_conn_send);
  lua_setfield(L, -2, "send");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  /* One metatable per kind: __index holds the methods and `kind`. */
  lua_createtable(L, TW_EVENT_KIND_COUNT, 0);
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    lua_createtable(L, 0, 3);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_respond);
    lua_setfield(L, -2, "respond");
    lua_pushstring(L, tw_event_kind_name((tw_event_kind_t)k));
    lua_setfield(L, -2, "kind");
    lua_setfield(L, -2, "__index");
    lua_pushinteger(L, k);
    lua_setfield(L, -2, "__twkind");
    lua_pushfstring(L, "twitchd.%s", tw_event_kind_name((tw_event_kind_t)k));
    lua_setfield(L, -2, "__name");
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, K_KINDS);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, K_LOADED);
}

static void make_bot_table(lua_State *L, const tw_config_node_t *options) {
  tw_skill_t *s = skill_of(L);
  static const luaL_Reg fns[] = {{"connector", l_connector},
                                 {"get_connector", l_connector},
                                 {"match_regex", l_match_regex},
                                 {"match_event", l_match_event},
                                 {"every", l_every},
                                 {"option", l_option},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushstring(L, s->name);
  lua_setfield(L, -2, "name");
  static const luaL_Reg logs[] = {{"trace", l_trace}, {"debug", l_debug},
                                  {"info", l_info},   {"warn", l_warn},
                                  {"error", l_error}, {NULL, NULL}};
  luaL_newlib(L, logs);
  lua_setfield(L, -2, "log");
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    lua_pushinteger(L, k);
    lua_pushcclosure(L, l_construct, 1);
    lua_setfield(L, -2, tw_event_kind_name((tw_event_kind_t)k));
  }
  /* bot.config: the options; a missing key raises (see l_config_index). */
  if (tw_config_node_type(options) == TW_CONFIG_MAP)
    push_node(L, options, 0);
  else
    lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, l_config_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  /* lua-path: extra require folders, relative to the skill's folder. */
  lua_newtable(L);
  lua_pushliteral(L, "lua-path");
  if (lua_rawget(L, -3) == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
        const char *d = lua_tostring(L, -1);
        if (d[0] == '/')
          lua_pushstring(L, d);
        else
          lua_pushfstring(L, "%s/%s", s->dir, d);
        lua_rawseti(L, -4, (lua_Integer)lua_rawlen(L, -4) + 1);
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, K_LUAPATH);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_option, 1);
  lua_setfield(L, -3, "option");
  lua_setfield(L, -2, "config");
  lua_setglobal(L, "bot");
}

typedef struct {
  const tw_config_node_t *options;
} load_args_t;

static int load_main(lua_State *L) {
  load_args_t *a = lua_touserdata(L, 1);
  sandbox(L);
  make_metatables(L);
  make_bot_table(L, a->options);
  load_file(L, skill_of(L)->path);
  lua_call(L, 0, 0);
  return 0;
}

/* Adds a traceback to string errors, without running Lua code (the
 * budget may be spent). */
static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL)
    msg =
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Classifies the outcome of a pcall and logs it. */
static int outcome(tw_skill_t *s, int rc, const char *what) {
  tw__lua_t *x = s->lua;
  lua_State *L = x->L;
  if (rc == LUA_OK && !x->budget_hit)
    return 0;
  int res;
  if (x->budget_hit) {
    res = TW_ETIMEDOUT;
    tw__skill_log(s, TW_LOG_ERROR,
                  "%s stopped: instruction budget of %llu exceeded", what,
                  (unsigned long long)x->budget);
  } else if (rc == LUA_ERRMEM) {
    res = TW_ENOMEM;
    tw__skill_log(s, TW_LOG_ERROR,
                  "%s stopped: memory cap of %zu bytes reached", what, x->cap);
  } else {
    res = TW_EPROTO;
    const char *msg = lua_tostring(L, -1);
    tw__skill_log(s, TW_LOG_ERROR, "%s failed: %s", what,
                  msg ? msg : "(no message)");
  }
  return res;
}

int tw__lua_load(tw_skill_t *s, const tw_config_node_t *options, char *err,
                 size_t errcap) {
  tw__lua_t *x = calloc(1, sizeof(*x));
  if (x == NULL)
    return TW_ENOMEM;
  s->lua = x;
  x->cap = s->bot->opts.lua_mem_cap;
  lua_State *L = lua_newstate(lalloc, s);
  if (L == NULL) {
    snprintf(err, errcap, "cannot create a Lua state within %zu bytes", x->cap);
    return TW_ENOMEM;
  }
  x->L = L;
  *(tw_skill_t **)lua_getextraspace(L) = s;
  lua_atpanic(L, panic);
  lua_setwarnf(L, warnf, s);
  budget_reset(x, s->bot->opts.lua_budget * TW_BOT_LUA_LOAD_BUDGET_FACTOR);
  load_args_t a = {options};
  lua_pushcfunction(L, msgh);
  lua_pushcfunction(L, load_main);
  lua_pushlightuserdata(L, &a);
  s->actions_in_call = 0;
  int rc = lua_pcall(L, 1, 0, 1);
  int res = 0;
  if (rc != LUA_OK || x->budget_hit) {
    if (x->budget_hit) {
      snprintf(err, errcap,
               "loading stopped: instruction budget of %llu "
               "exceeded",
               (unsigned long long)x->budget);
      res = TW_ETIMEDOUT;
    } else if (rc == LUA_ERRMEM) {
      snprintf(err, errcap,
               "loading stopped: memory cap of %zu bytes "
               "reached",
               x->cap);
      res = TW_ENOMEM;
    } else {
      const char *msg = lua_tostring(L, -1);
      /* The first line names file:line; the traceback is for the log. */
      size_t n = msg ? strcspn(msg, "\n") : 0;
      snprintf(err, errcap, "%.*s", (int)n, msg ? msg : "load failed");
      if (msg != NULL && msg[n] != '\0')
        tw_debug("bot", "skill '%s': %s", s->name, msg);
      res = TW_EPARSE;
    }
  }
  lua_settop(L, 0);
  if (res == 0)
    lua_gc(L, LUA_GCCOLLECT);
  return res;
}

void tw__lua_free(tw_skill_t *s) {
  tw__lua_t *x = s->lua;
  if (x == NULL)
    return;
  if (x->L != NULL) {
    /* Finalizers run in lua_close, under a fresh budget. */
    budget_reset(x, s->bot->opts.lua_budget);
    lua_close(x->L);
  }
  free(x);
  s->lua = NULL;
}

typedef struct {
  int ref;
  const tw_event_t *ev;
  const tw__matcher_t *m;
  const tw__subject_t *subj;
} call_args_t;

static int call_main(lua_State *L) {
  call_args_t *a = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
  int n = 0;
  if (a->ev != NULL) {
    push_event(L, a->ev);
    n++;
  }
  if (a->m != NULL) {
    push_match(L, a->m, a->subj);
    n++;
  }
  lua_call(L, n, 0);
  return 0;
}

int tw__lua_call(tw_skill_t *s, int ref, const tw_event_t *ev,
                 const tw__matcher_t *m, const tw__subject_t *subj) {
  tw__lua_t *x = s->lua;
  lua_State *L = x->L;
  budget_reset(x, s->bot->opts.lua_budget);
  call_args_t a = {ref, ev, m, subj};
  lua_settop(L, 0);
  lua_pushcfunction(L, msgh);
  lua_pushcfunction(L, call_main);
  lua_pushlightuserdata(L, &a);
  int rc = lua_pcall(L, 1, 0, 1);
  char what[300];
  snprintf(what, sizeof(what), "%s handler",
           ev != NULL ? tw_event_kind_name(ev->kind) : "timer");
  int res = outcome(s, rc, what);
  lua_settop(L, 0);
  if (res != 0) {
    /* Give back what the failed call held, under a fresh budget for any
     * finalizers. */
    budget_reset(x, s->bot->opts.lua_budget);
    lua_gc(L, LUA_GCCOLLECT);
  }
  return res;
}
