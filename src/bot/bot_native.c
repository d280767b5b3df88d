/* twitchd: C skills, linked in or loaded from a shared object.
 *
 * The plug-in sees the runtime only through the function table below
 * (twitchd/skill.h), so that it needs no symbols from the daemon and the
 * ABI is exactly that table plus the entry point's name. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot_int.h"
#include "twitchd/error.h"

static const char *api_name(tw_skill_t *s) {
  return s->name;
}

static const tw__opt_t *find_opt(tw_skill_t *s, const char *key) {
  for (size_t i = 0; key != NULL && i < s->nopts; i++)
    if (strcmp(s->opts[i].key, key) == 0)
      return &s->opts[i];
  return NULL;
}

static const char *api_option(tw_skill_t *s, const char *key) {
  const tw__opt_t *o = find_opt(s, key);
  return o != NULL ? o->val : NULL;
}

static size_t api_option_list(tw_skill_t *s, const char *key, const char **out,
                              size_t cap) {
  const tw__opt_t *o = find_opt(s, key);
  if (o == NULL)
    return 0;
  for (size_t i = 0; i < o->nitems && i < cap; i++)
    out[i] = o->items[i];
  return o->nitems;
}

static void where_of(char *buf, size_t cap, const char *file, int line) {
  snprintf(buf, cap, "%s:%d", file != NULL ? file : "?", line);
}

static int api_match_regex(tw_skill_t *s, const char *pattern,
                           const tw_skill_rule_t *rule, tw_skill_handler_fn fn,
                           void *arg, const char *file, int line) {
  char where[300], err[TW_BOT_MAX_ERROR];
  where_of(where, sizeof(where), file, line);
  if (pattern == NULL || fn == NULL) {
    snprintf(s->reg_err, sizeof(s->reg_err),
             "%s: match_regex needs a pattern and "
             "a handler",
             where);
    return TW_EINVAL;
  }
  tw__rule_t r;
  memset(&r, 0, sizeof(r));
  int rc = tw__rule_from_c(&r, rule);
  if (rc != 0) {
    tw__rule_free(&r);
    snprintf(s->reg_err, sizeof(s->reg_err), "%s: bad constraint entry", where);
    return rc;
  }
  unsigned flags = rule != NULL ? rule->flags : 0;
  rc = tw__skill_add_regex(s, pattern, flags, &r, where, 0, fn, arg, err,
                           sizeof(err));
  if (rc != 0)
    snprintf(s->reg_err, sizeof(s->reg_err), "%.300s: %.700s", where, err);
  return rc;
}

static int api_match_event(tw_skill_t *s, const char *event_name,
                           const tw_skill_rule_t *rule, tw_skill_handler_fn fn,
                           void *arg, const char *file, int line) {
  char where[300], err[TW_BOT_MAX_ERROR];
  where_of(where, sizeof(where), file, line);
  if (fn == NULL) {
    snprintf(s->reg_err, sizeof(s->reg_err), "%s: match_event needs a handler",
             where);
    return TW_EINVAL;
  }
  tw__rule_t r;
  memset(&r, 0, sizeof(r));
  int rc = tw__rule_from_c(&r, rule);
  if (rc != 0) {
    tw__rule_free(&r);
    snprintf(s->reg_err, sizeof(s->reg_err), "%s: bad constraint entry", where);
    return rc;
  }
  rc = tw__skill_add_event(s, event_name, &r, where, 0, fn, arg, err,
                           sizeof(err));
  if (rc != 0)
    snprintf(s->reg_err, sizeof(s->reg_err), "%.300s: %.700s", where, err);
  return rc;
}

static int api_every(tw_skill_t *s, uint64_t interval_ms,
                     tw_skill_handler_fn fn, void *arg, const char *file,
                     int line) {
  char where[300], err[TW_BOT_MAX_ERROR];
  where_of(where, sizeof(where), file, line);
  if (fn == NULL) {
    snprintf(s->reg_err, sizeof(s->reg_err), "%s: every needs a handler",
             where);
    return TW_EINVAL;
  }
  int rc =
      tw__skill_add_timer(s, interval_ms, where, 0, fn, arg, err, sizeof(err));
  if (rc != 0)
    snprintf(s->reg_err, sizeof(s->reg_err), "%.300s: %.700s", where, err);
  return rc;
}

static void api_on_unload(tw_skill_t *s, tw_skill_fini_fn fn, void *arg) {
  s->fini = fn;
  s->fini_arg = arg;
}

static tw_event_t *api_event_new(const char *kind_name) {
  tw_event_kind_t k;
  if (tw_event_kind_from_name(kind_name, &k) != 0)
    return NULL;
  return tw_event_new(k);
}

static const char *api_event_kind(const tw_event_t *ev) {
  return ev != NULL ? tw_event_kind_name(ev->kind) : NULL;
}

static int api_set_bool(tw_event_t *ev, const char *f, int v) {
  return tw_event_set_bool(ev, f, v != 0);
}

static int api_get_bool(const tw_event_t *ev, const char *f, int *out) {
  bool b = false;
  int rc = tw_event_get_bool(ev, f, &b);
  if (rc == 0 && out != NULL)
    *out = b;
  return rc;
}

static int api_send(tw_skill_t *s, const char *connector, tw_event_t *action) {
  return tw__skill_send(s, connector, action);
}

static int api_respond(tw_skill_t *s, const tw_event_t *to, const char *text) {
  tw_event_t *reply = tw_event_new(TW_EVENT_MESSAGE);
  if (reply == NULL)
    return TW_ENOMEM;
  int rc = tw_event_set_str(reply, "text", text);
  if (rc != 0) {
    tw_event_free(reply);
    return rc;
  }
  return tw__skill_respond(s, to, reply);
}

static void api_log(tw_skill_t *s, tw_log_level_t level, const char *msg) {
  tw_log(level, "skill", "%s: %s", s->name, msg != NULL ? msg : "");
}

static const tw_skill_api_t api_template = {
    .abi_version = TW_SKILL_ABI_VERSION,
    .size = sizeof(tw_skill_api_t),
    .init_arg = NULL,
    .name = api_name,
    .option = api_option,
    .option_list = api_option_list,
    .match_regex = api_match_regex,
    .match_event = api_match_event,
    .every = api_every,
    .on_unload = api_on_unload,
    .event_new = api_event_new,
    .event_free = tw_event_free,
    .event_kind = api_event_kind,
    .event_set_str = tw_event_set_str,
    .event_set_int = tw_event_set_int,
    .event_set_bool = api_set_bool,
    .event_get_str = tw_event_get_str,
    .event_get_int = tw_event_get_int,
    .event_get_bool = api_get_bool,
    .send = api_send,
    .respond = api_respond,
    .log = api_log,
};

int tw__native_load(tw_skill_t *s, char *err, size_t errcap) {
  tw_skill_init_fn init = s->init;
  if (s->kind == TW__SKILL_SO) {
    char *data;
    size_t len;
    /* Hashing the file lets a reload notice a rebuilt plug-in. */
    int rc = tw__read_file(s->path, 64u << 20, &data, &len, err, errcap);
    if (rc != 0)
      return rc;
    rc = tw__skill_add_src(s, s->path, data, len);
    free(data);
    if (rc != 0)
      return rc;
    /* A path without a slash would make dlopen search the library path;
     * the configured file is what must load. */
    char path[4096];
    snprintf(path, sizeof(path), "%s%s", strchr(s->path, '/') ? "" : "./",
             s->path);
    s->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (s->dl == NULL) {
      const char *e = dlerror();
      snprintf(err, errcap, "cannot load %s: %s", s->path, e ? e : "?");
      return TW_EIO;
    }
    void *sym = dlsym(s->dl, TW_SKILL_ENTRY_SYMBOL);
    if (sym == NULL) {
      snprintf(err, errcap,
               "%s does not export %s (built for another ABI "
               "version?)",
               s->path, TW_SKILL_ENTRY_SYMBOL);
      return TW_EUNSUPPORTED;
    }
    /* POSIX guarantees that a dlsym result converts to a function
     * pointer; memcpy keeps ISO C's object/function pointer rule. */
    memcpy(&init, &sym, sizeof(init));
  }
  /* The table lives in the skill: a plug-in may keep the pointer until it
   * is unloaded. */
  s->api = api_template;
  s->api.init_arg = s->init_arg;
  s->reg_err[0] = '\0';
  s->actions_in_call = 0;
  int rc = init(&s->api, s);
  if (rc != 0) {
    if (s->reg_err[0] != '\0')
      snprintf(err, errcap, "%s", s->reg_err);
    else
      snprintf(err, errcap, "init returned %d", rc);
    return TW_EPARSE;
  }
  return 0;
}

void tw__native_free(tw_skill_t *s) {
  if (s->dl != NULL)
    dlclose(s->dl);
  s->dl = NULL;
}

int tw__native_call(tw_skill_t *s, tw_skill_handler_fn fn, void *arg,
                    const tw_event_t *ev, const tw__matcher_t *m,
                    const tw__subject_t *subj) {
  tw_skill_match_t match;
  const tw_skill_match_t *mp = NULL;
  if (m != NULL) {
    match.subject = subj->text;
    match.subject_len = subj->len;
    match.ovector = pcre2_get_ovector_pointer(m->re.md);
    match.count = m->re.ncap + 1;
    mp = &match;
  }
  int rc = fn(s, ev, mp, arg);
  if (rc != 0) {
    tw__skill_log(s, TW_LOG_ERROR, "%s handler returned %d",
                  ev != NULL ? tw_event_kind_name(ev->kind) : "timer", rc);
    return TW_EPROTO;
  }
  return 0;
}
