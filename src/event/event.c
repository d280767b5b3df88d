/* twitchd: events and actions. Everything here is generated from the
 * TW_EVENT_KINDS and TW_EVENT_COMMON_FIELDS tables in twitchd/event.h and then
 * walks field descriptors, so no function knows an individual kind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/event.h"

#define TW__EVENT_NOF2(m, n, T)

/* Kind names and flags, indexed by kind. */
static const char *const kind_names[TW_EVENT_KIND_COUNT] = {
#define K_NAME(E, N, m, fl, fields) [TW_EVENT_##E] = #N,
    TW_EVENT_KINDS(K_NAME, TW__EVENT_NOF2)
#undef K_NAME
};

static const unsigned kind_flags[TW_EVENT_KIND_COUNT] = {
#define K_FLAGS(E, N, m, fl, fields) [TW_EVENT_##E] = (fl),
    TW_EVENT_KINDS(K_FLAGS, TW__EVENT_NOF2)
#undef K_FLAGS
};

/* Number of specific fields per kind: each F expands to "+ 1". */
#define F_COUNT(m, n, T) +1
static const size_t kind_nfields[TW_EVENT_KIND_COUNT] = {
#define K_COUNT(E, N, m, fl, fields) [TW_EVENT_##E] = 0 fields,
    TW_EVENT_KINDS(K_COUNT, F_COUNT)
#undef K_COUNT
};
#undef F_COUNT

#define CAP_STR TW_MAX_EVENT_STR
#define CAP_INT 0
#define CAP_BOOL 0
#define CAP_TIME 0

static const tw_event_field_t common_fields[] = {
#define F_COMMON(n, T, cap)                                                    \
  {#n, TW_EVENT_FIELD_##T, offsetof(tw_event_t, n), (cap)},
    TW_EVENT_COMMON_FIELDS(F_COMMON)
#undef F_COMMON
};
#define NCOMMON (sizeof(common_fields) / sizeof(common_fields[0]))

/* Every kind's specific fields in one flat array, in table order; a kind's
 * slice starts after the fields of the kinds before it. One array (rather
 * than one per kind) because a kind without fields would need an empty
 * array, which C does not have. */
static const tw_event_field_t specific_fields[] = {
#define F_DESC(m, n, T)                                                        \
  {#n, TW_EVENT_FIELD_##T, offsetof(tw_event_t, u.m.n), CAP_##T},
#define K_DESC(E, N, m, fl, fields) fields
    TW_EVENT_KINDS(K_DESC, F_DESC)
#undef K_DESC
#undef F_DESC
    /* Sentinel, so that the array is never empty. */
    {NULL, TW_EVENT_FIELD_STR, 0, 0},
};

static int kind_valid(tw_event_kind_t kind) {
  return (int)kind >= 0 && kind < TW_EVENT_KIND_COUNT;
}

const char *tw_event_kind_name(tw_event_kind_t kind) {
  return kind_valid(kind) ? kind_names[kind] : NULL;
}

int tw_event_kind_from_name(const char *name, tw_event_kind_t *out) {
  if (name == NULL || out == NULL)
    return TW_EINVAL;
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    if (strcmp(kind_names[k], name) == 0) {
      *out = (tw_event_kind_t)k;
      return 0;
    }
  }
  return TW_ENOTFOUND;
}

unsigned tw_event_kind_flags(tw_event_kind_t kind) {
  return kind_valid(kind) ? kind_flags[kind] : 0;
}

bool tw_event_kind_is_incoming(tw_event_kind_t kind) {
  return (tw_event_kind_flags(kind) & TW_EVENT_INCOMING) != 0;
}

bool tw_event_kind_is_action(tw_event_kind_t kind) {
  return (tw_event_kind_flags(kind) & TW_EVENT_ACTION) != 0;
}

const tw_event_field_t *tw_event_common_fields(size_t *count) {
  if (count != NULL)
    *count = NCOMMON;
  return common_fields;
}

const tw_event_field_t *tw_event_kind_fields(tw_event_kind_t kind,
                                             size_t *count) {
  if (!kind_valid(kind)) {
    if (count != NULL)
      *count = 0;
    return NULL;
  }
  size_t start = 0;
  for (int k = 0; k < (int)kind; k++)
    start += kind_nfields[k];
  if (count != NULL)
    *count = kind_nfields[kind];
  return &specific_fields[start];
}

const tw_event_field_t *tw_event_field_find(tw_event_kind_t kind,
                                            const char *name) {
  if (name == NULL || !kind_valid(kind))
    return NULL;
  for (size_t i = 0; i < NCOMMON; i++)
    if (strcmp(common_fields[i].name, name) == 0)
      return &common_fields[i];
  size_t n = 0;
  const tw_event_field_t *f = tw_event_kind_fields(kind, &n);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].name, name) == 0)
      return &f[i];
  return NULL;
}

const char *tw_event_field_type_name(tw_event_field_type_t type) {
  switch (type) {
  case TW_EVENT_FIELD_STR:
    return "string";
  case TW_EVENT_FIELD_INT:
    return "int";
  case TW_EVENT_FIELD_BOOL:
    return "bool";
  case TW_EVENT_FIELD_TIME:
    return "time";
  }
  return "unknown";
}

/* Field storage, by descriptor. */
static char **str_slot(tw_event_t *ev, const tw_event_field_t *f) {
  return (char **)(void *)((char *)ev + f->offset);
}
static int64_t *i64_slot(tw_event_t *ev, const tw_event_field_t *f) {
  return (int64_t *)(void *)((char *)ev + f->offset);
}
static bool *bool_slot(tw_event_t *ev, const tw_event_field_t *f) {
  return (bool *)(void *)((char *)ev + f->offset);
}
static const char *const *cstr_slot(const tw_event_t *ev,
                                    const tw_event_field_t *f) {
  return (const char *const *)(const void *)((const char *)ev + f->offset);
}
static const int64_t *ci64_slot(const tw_event_t *ev,
                                const tw_event_field_t *f) {
  return (const int64_t *)(const void *)((const char *)ev + f->offset);
}
static const bool *cbool_slot(const tw_event_t *ev, const tw_event_field_t *f) {
  return (const bool *)(const void *)((const char *)ev + f->offset);
}

/* Number of fields (common and specific) of a valid kind, and the i-th
 * of them, common ones first: the one loop every generic function uses. */
static size_t nfields_all(tw_event_kind_t kind) {
  return NCOMMON + kind_nfields[kind];
}

static const tw_event_field_t *field_at(tw_event_kind_t kind, size_t i) {
  if (i < NCOMMON)
    return &common_fields[i];
  return &tw_event_kind_fields(kind, NULL)[i - NCOMMON];
}

tw_event_t *tw_event_new(tw_event_kind_t kind) {
  if (!kind_valid(kind))
    return NULL;
  tw_event_t *ev = calloc(1, sizeof(*ev));
  if (ev == NULL)
    return NULL;
  ev->kind = kind;
  return ev;
}

void tw_event_free(tw_event_t *ev) {
  if (ev == NULL)
    return;
  if (kind_valid(ev->kind)) {
    for (size_t i = 0; i < nfields_all(ev->kind); i++) {
      const tw_event_field_t *f = field_at(ev->kind, i);
      if (f->type == TW_EVENT_FIELD_STR)
        free(*str_slot(ev, f));
    }
  }
  free(ev);
}

tw_event_t *tw_event_dup(const tw_event_t *ev) {
  if (ev == NULL || !kind_valid(ev->kind))
    return NULL;
  tw_event_t *copy = malloc(sizeof(*copy));
  if (copy == NULL)
    return NULL;
  /* Copy scalars wholesale, then replace every string pointer by its own
   * copy; the pointers are cleared first so that a failure half way leaves
   * something tw_event_free() can free. */
  memcpy(copy, ev, sizeof(*copy));
  size_t n = nfields_all(ev->kind);
  for (size_t i = 0; i < n; i++) {
    const tw_event_field_t *f = field_at(ev->kind, i);
    if (f->type == TW_EVENT_FIELD_STR)
      *str_slot(copy, f) = NULL;
  }
  int failed = 0;
  for (size_t i = 0; i < n && !failed; i++) {
    const tw_event_field_t *f = field_at(ev->kind, i);
    const char *src = f->type == TW_EVENT_FIELD_STR ? *cstr_slot(ev, f) : NULL;
    if (src != NULL) {
      char *dst = strdup(src);
      if (dst == NULL)
        failed = 1;
      *str_slot(copy, f) = dst;
    }
  }
  if (failed) {
    tw_event_free(copy);
    return NULL;
  }
  return copy;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes available), or 0
 * when the bytes there are not one. Overlong forms, surrogates and code
 * points above U+10FFFF are invalid, as RFC 3629 says; NUL counts as invalid
 * here because it would end a C string early. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c == 0)
    return 0;
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    return 0;
  return len;
}

/* Copies s[0..len) as valid UTF-8, replacing each bad byte by U+FFFD.
 * Fails with TW_ETOOBIG when the result would exceed cap bytes. */
static int utf8_clean_copy(const char *s, size_t len, size_t cap, char **out) {
  static const char repl[] = "\xEF\xBF\xBD";
  const unsigned char *u = (const unsigned char *)s;
  size_t need = 0;
  for (size_t i = 0; i < len;) {
    size_t l = utf8_seq_len(u + i, len - i);
    need += l ? l : 3;
    i += l ? l : 1;
    if (need > cap)
      return TW_ETOOBIG;
  }
  char *d = malloc(need + 1);
  if (d == NULL)
    return TW_ENOMEM;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t l = utf8_seq_len(u + i, len - i);
    if (l) {
      memcpy(d + o, s + i, l);
      o += l;
      i += l;
    } else {
      memcpy(d + o, repl, 3);
      o += 3;
      i++;
    }
  }
  d[o] = '\0';
  *out = d;
  return 0;
}

static int lookup(const tw_event_t *ev, const char *name,
                  tw_event_field_type_t type, const tw_event_field_t **out) {
  if (ev == NULL || name == NULL || !kind_valid(ev->kind))
    return TW_EINVAL;
  const tw_event_field_t *f = tw_event_field_find(ev->kind, name);
  if (f == NULL)
    return TW_ENOTFOUND;
  if (f->type != type)
    return TW_EINVAL;
  *out = f;
  return 0;
}

static int set_str_desc(tw_event_t *ev, const tw_event_field_t *f,
                        const char *value, size_t len) {
  int rc;
  char *copy = NULL;
  if (value != NULL) {
    rc = utf8_clean_copy(value, len, f->cap, &copy);
    if (rc != 0)
      return rc;
  }
  char **slot = str_slot(ev, f);
  free(*slot);
  *slot = copy;
  return 0;
}

int tw_event_set_strn(tw_event_t *ev, const char *name, const char *value,
                      size_t len) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_STR, &f);
  return rc != 0 ? rc : set_str_desc(ev, f, value, len);
}

int tw_event_set_str(tw_event_t *ev, const char *name, const char *value) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_STR, &f);
  if (rc != 0)
    return rc;
  /* Measure at most cap + 1 bytes: a longer value is refused anyway, and
   * strnlen keeps a huge input from being scanned in full. */
  size_t len = value != NULL ? strnlen(value, f->cap + 1) : 0;
  return set_str_desc(ev, f, value, len);
}

int tw_event_set_int(tw_event_t *ev, const char *name, int64_t value) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_INT, &f);
  if (rc == 0)
    *i64_slot(ev, f) = value;
  return rc;
}

int tw_event_set_bool(tw_event_t *ev, const char *name, bool value) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_BOOL, &f);
  if (rc == 0)
    *bool_slot(ev, f) = value;
  return rc;
}

int tw_event_set_time(tw_event_t *ev, const char *name, int64_t ms) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_TIME, &f);
  if (rc == 0)
    *i64_slot(ev, f) = ms;
  return rc;
}

int tw_event_get_str(const tw_event_t *ev, const char *name, const char **out) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_STR, &f);
  if (rc == 0 && out != NULL)
    *out = *cstr_slot(ev, f);
  return rc;
}

int tw_event_get_int(const tw_event_t *ev, const char *name, int64_t *out) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_INT, &f);
  if (rc == 0 && out != NULL)
    *out = *ci64_slot(ev, f);
  return rc;
}

int tw_event_get_bool(const tw_event_t *ev, const char *name, bool *out) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_BOOL, &f);
  if (rc == 0 && out != NULL)
    *out = *cbool_slot(ev, f);
  return rc;
}

int tw_event_get_time(const tw_event_t *ev, const char *name, int64_t *out) {
  const tw_event_field_t *f;
  int rc = lookup(ev, name, TW_EVENT_FIELD_TIME, &f);
  if (rc == 0 && out != NULL)
    *out = *ci64_slot(ev, f);
  return rc;
}

/* ---- time ---------------------------------------------------------------
 * Parsing is core's tw_time_parse_rfc3339(); formatting needs the day
 * count -> civil date half, after Howard Hinnant's public-domain algorithms,
 * so that neither the local time zone nor timegm() (not in ISO C) is used. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int tw_event_time_parse(const char *s, int64_t *ms_out) {
  return tw_time_parse_rfc3339(s, ms_out);
}

int tw_event_time_format(int64_t ms, char *buf, size_t cap) {
  if (buf == NULL || cap < TW_EVENT_TIME_BUF)
    return TW_ETOOBIG;
  /* Floor division, so that times before 1970 format correctly. */
  int64_t secs = ms / 1000, rem = ms % 1000;
  if (rem < 0) {
    rem += 1000;
    secs--;
  }
  int64_t days = secs / 86400, sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  if (y < 0 || y > 9999)
    return TW_EINVAL;
  snprintf(buf, cap, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d,
           (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)rem);
  return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

static int json_put_field(json_t *obj, const tw_event_t *ev,
                          const tw_event_field_t *f) {
  json_t *v = NULL;
  switch (f->type) {
  case TW_EVENT_FIELD_STR: {
    const char *s = *cstr_slot(ev, f);
    /* Setters keep strings valid UTF-8; a string assigned directly might
     * not be, and then it is written as null rather than dropped silently
     * with the whole object. */
    v = s != NULL ? json_string(s) : json_null();
    if (v == NULL && s != NULL)
      v = json_null();
    break;
  }
  case TW_EVENT_FIELD_INT:
    v = json_integer((json_int_t)*ci64_slot(ev, f));
    break;
  case TW_EVENT_FIELD_BOOL:
    v = json_boolean(*cbool_slot(ev, f));
    break;
  case TW_EVENT_FIELD_TIME: {
    int64_t t = *ci64_slot(ev, f);
    char buf[TW_EVENT_TIME_BUF];
    if (t != 0 && tw_event_time_format(t, buf, sizeof(buf)) == 0)
      v = json_string(buf);
    else if (t != 0)
      v = json_integer((json_int_t)t); /* outside years 0..9999 */
    else
      v = json_null();
    break;
  }
  }
  if (v == NULL)
    return TW_ENOMEM;
  return json_object_set_new(obj, f->name, v) == 0 ? 0 : TW_ENOMEM;
}

json_t *tw_event_to_json(const tw_event_t *ev, unsigned flags) {
  if (ev == NULL || !kind_valid(ev->kind))
    return NULL;
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  int rc = json_object_set_new(obj, "event", json_string(kind_names[ev->kind]));
  for (size_t i = 0; i < nfields_all(ev->kind) && rc == 0; i++) {
    const tw_event_field_t *f = field_at(ev->kind, i);
    if ((flags & TW_EVENT_JSON_NO_RAW) &&
        f->offset == offsetof(tw_event_t, raw))
      continue;
    rc = json_put_field(obj, ev, f);
  }
  if (rc != 0) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

/* Writes "<pre><name><post>" into err; returns rc. */
static int from_json_fail(char *err, size_t cap, int rc, const char *pre,
                          const char *name, const char *post) {
  if (cap > 0)
    snprintf(err, cap, "%s%s%s", pre, name, post);
  return rc;
}

static int json_get_field(tw_event_t *ev, const tw_event_field_t *f,
                          const json_t *v, char *err, size_t cap) {
  if (json_is_null(v))
    return 0;
  int rc = TW_EINVAL;
  switch (f->type) {
  case TW_EVENT_FIELD_STR:
    if (json_is_string(v))
      rc = set_str_desc(ev, f, json_string_value(v), json_string_length(v));
    break;
  case TW_EVENT_FIELD_INT:
    if (json_is_integer(v)) {
      *i64_slot(ev, f) = (int64_t)json_integer_value(v);
      rc = 0;
    }
    break;
  case TW_EVENT_FIELD_BOOL:
    if (json_is_boolean(v)) {
      *bool_slot(ev, f) = json_is_true(v);
      rc = 0;
    }
    break;
  case TW_EVENT_FIELD_TIME:
    if (json_is_integer(v)) {
      *i64_slot(ev, f) = (int64_t)json_integer_value(v);
      rc = 0;
    } else if (json_is_string(v)) {
      int64_t ms;
      rc = tw_event_time_parse(json_string_value(v), &ms);
      if (rc == 0)
        *i64_slot(ev, f) = ms;
    }
    break;
  }
  if (rc == TW_EINVAL)
    return from_json_fail(err, cap, rc, "member \"", f->name,
                          "\" has the wrong type");
  if (rc != 0)
    return from_json_fail(err, cap, rc, "member \"", f->name,
                          "\" has a bad value");
  return 0;
}

int tw_event_from_json(const json_t *obj, tw_event_t **out, char *err,
                       size_t err_cap) {
  if (err_cap > 0)
    err[0] = '\0';
  if (out == NULL)
    return TW_EINVAL;
  *out = NULL;
  if (!json_is_object(obj))
    return from_json_fail(err, err_cap, TW_EINVAL, "not a JSON object", "", "");
  const char *kname = json_string_value(json_object_get(obj, "event"));
  tw_event_kind_t kind;
  if (kname == NULL)
    return from_json_fail(err, err_cap, TW_EINVAL,
                          "no \"event\" member naming the kind", "", "");
  if (tw_event_kind_from_name(kname, &kind) != 0)
    return from_json_fail(err, err_cap, TW_ENOTFOUND, "unknown event \"", kname,
                          "\"");
  tw_event_t *ev = tw_event_new(kind);
  if (ev == NULL)
    return TW_ENOMEM;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    if (strcmp(key, "event") == 0)
      continue;
    const tw_event_field_t *f = tw_event_field_find(kind, key);
    int rc = f == NULL ? from_json_fail(err, err_cap, TW_ENOTFOUND,
                                        "no field \"", key, "\" in this event")
                       : json_get_field(ev, f, v, err, err_cap);
    if (rc != 0) {
      tw_event_free(ev);
      return rc;
    }
  }
  *out = ev;
  return 0;
}
