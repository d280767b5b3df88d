/* twitchd: the configuration schema.
 *
 * Every accepted key is a row in a table (section_def_t): its name, type,
 * flags (required, secret, must exist), default, where its value goes and a
 * type-specific rule. One walker (apply_section) checks a YAML map against a
 * table: unknown keys (with a "did you mean"), wrong types, bad values and
 * missing required keys each become an error with the position of the key or
 * value concerned, and absent keys get their defaults through the same
 * validators as written values. Connectors are rows of their own table, so a
 * new connector is a struct, a section table and one row. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bot/config_int.h"
#include "twitchd/error.h"

/* ---- table types ----------------------------------------------------------
 */

typedef enum {
  K_STR,      /* a string (rule: str_rule_t) */
  K_BOOL,     /* true/false (also yes/no/on/off) */
  K_INT,      /* an integer in a range (rule: int_rule_t) */
  K_ENUM,     /* one of a few words (rule: enum_rule_t) */
  K_URL,      /* a URL with scheme rules (rule: url_rule_t) */
  K_PATH,     /* a file path, resolved against the config's directory */
  K_CHANNELS, /* a Twitch login, or a list of them */
  K_SECTION,  /* a nested map (rule: section_def_t), same base struct */
  K_CUSTOM    /* handled by a function (rule: custom_rule_t) */
} key_type_t;

#define F_REQUIRED 0x1u   /* missing is an error */
#define F_SECRET 0x2u     /* never shown; registered for log redaction */
#define F_MUST_EXIST 0x4u /* K_PATH: a readable regular file */

#define NO_AUX ((size_t)-1)

typedef struct ctx ctx_t;
typedef struct key_def key_def_t;

typedef struct {
  const char *path; /* "connectors.twitch", "" for the top level */
  const key_def_t *keys;
  size_t nkeys;
} section_def_t;

struct key_def {
  const char *key;
  key_type_t type;
  unsigned flags;
  const char *def; /* default as YAML text, NULL for none */
  /* computed default (an absolute path, say); NULL after reporting why
   * there is none */
  const char *(*def_fn)(ctx_t *c, const tw_config_node_t *where);
  size_t offset; /* where the value goes, from the section's base */
  size_t aux;    /* K_CHANNELS: count (size_t); others: presence (bool) */
  const void *rule;
  const char *note; /* logged once when the key is present */
};

typedef struct {
  size_t min, max;
  int (*check)(const char *s); /* 0 when fine */
  const char *what;            /* the rule, "must be ...", for messages */
} str_rule_t;

typedef struct {
  int64_t min, max;
  size_t size; /* sizeof(int) or sizeof(int64_t) */
} int_rule_t;

typedef struct {
  const char *const *names;
  const int *values;
} enum_rule_t;

typedef struct {
  const char *const *schemes;          /* allowed for any host */
  const char *const *loopback_schemes; /* allowed only for loopback hosts */
  bool allow_query;
} url_rule_t;

typedef struct {
  void (*fn)(ctx_t *c, const key_def_t *k, const tw_config_node_t *key,
             const tw_config_node_t *value, void *base);
  /* called instead when the key is absent */
  void (*absent)(ctx_t *c, const key_def_t *k, void *base);
} custom_rule_t;

struct ctx {
  tw_config_t *cfg;
  tw__arena_t *a;
  bool nomem;
};

static void apply_section(ctx_t *c, const section_def_t *sec,
                          const tw_config_node_t *map,
                          const tw_config_node_t *owner, void *base);

/* ---- helpers --------------------------------------------------------------
 */

static char *adup(ctx_t *c, const char *s) {
  char *d = tw__arena_strdup(c->a, s);
  if (d == NULL && s != NULL)
    c->nomem = true;
  return d;
}

static void *field(void *base, size_t off) {
  return (char *)base + off;
}

/* "connectors.twitch" + "client-id" */
static const char *join_path(ctx_t *c, const char *sec, const char *key) {
  char *p = sec[0] ? tw__arena_printf(c->a, "%s.%s", sec, key)
                   : tw__arena_strdup(c->a, key);
  if (p == NULL) {
    c->nomem = true;
    return key;
  }
  return p;
}

/* A value quoted for a message: at most 40 characters, control bytes
 * replaced, so that a message is always one short printable line. */
static const char *quote(ctx_t *c, const char *s) {
  char buf[64];
  size_t o = 0, i = 0;
  buf[o++] = '\'';
  for (; s[i] != '\0' && o < 42; i++) {
    unsigned char ch = (unsigned char)s[i];
    buf[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
  }
  if (s[i] != '\0') {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '\'';
  buf[o] = '\0';
  return adup(c, buf);
}

/* What a node is, for "expected X, got Y" messages. Secret values are
 * never quoted. */
static const char *describe(ctx_t *c, const tw_config_node_t *n, bool secret) {
  switch (n->type) {
  case TW_CONFIG_NULL:
    return n->len == 0 ? "nothing" : "null";
  case TW_CONFIG_BOOL:
    return n->v.b ? "the boolean true" : "the boolean false";
  case TW_CONFIG_INT:
  case TW_CONFIG_FLOAT: {
    if (secret)
      return "a number";
    char *d = tw__arena_printf(c->a, "the number %s", quote(c, n->text));
    return d ? d : "a number";
  }
  case TW_CONFIG_STRING: {
    if (secret)
      return "a string";
    char *d = tw__arena_printf(c->a, "the string %s", quote(c, n->text));
    return d ? d : "a string";
  }
  case TW_CONFIG_LIST:
    return "a list";
  case TW_CONFIG_MAP:
    return "a map";
  }
  return "something else";
}

#define ERR(c, node, ...)                                                      \
  tw__cfg_error((c)->cfg, (node)->line, (node)->col, __VA_ARGS__)

/* The text of a scalar usable as a string: strings, and integers (client ids
 * and logins may be all digits). NULL after reporting an error. */
static const char *want_string(ctx_t *c, const char *path,
                               const tw_config_node_t *n, bool secret) {
  if (n->type == TW_CONFIG_STRING || n->type == TW_CONFIG_INT)
    return n->text;
  ERR(c, n, "%s: expected a string, got %s", path, describe(c, n, secret));
  return NULL;
}

static int lower_ascii(int ch) {
  return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Edit distance after folding case and '_' to '-', bounded to short words.
 */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return (size_t)-1;
  size_t row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      int ca = lower_ascii(a[i - 1] == '_' ? '-' : a[i - 1]);
      int cb = lower_ascii(b[j - 1] == '_' ? '-' : b[j - 1]);
      size_t best = diag + (ca != cb);
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      diag = row[j];
      row[j] = best;
    }
  }
  return row[lb];
}

/* The closest candidate to `word`, if close enough to be a likely typo. */
static const char *suggest(const char *word, const char *const *cands,
                           size_t n) {
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  size_t lw = strlen(word);
  size_t limit = lw <= 4 ? 1 : lw <= 8 ? 2 : 3;
  for (size_t i = 0; i < n; i++) {
    size_t d = distance(word, cands[i]);
    size_t lc = strlen(cands[i]);
    /* "warning" for "warn": one is a prefix of the other */
    if (d > limit && lw >= 3 && lc >= 3 &&
        strncmp(word, cands[i], lw < lc ? lw : lc) == 0)
      d = limit;
    if (d <= limit && d < best_d) {
      best = cands[i];
      best_d = d;
    }
  }
  return best;
}

static const char *suggest_key(const section_def_t *sec, const char *word) {
  const char *cands[32];
  size_t n = 0;
  for (size_t i = 0; i < sec->nkeys && n < 32; i++)
    cands[n++] = sec->keys[i].key;
  return suggest(word, cands, n);
}

/* A suffix " (did you mean 'x'?)" or "". */
static const char *hint(ctx_t *c, const char *s) {
  if (s == NULL)
    return "";
  char *h = tw__arena_printf(c->a, " (did you mean '%s'?)", s);
  return h ? h : "";
}

/* ---- value handlers -------------------------------------------------------
 */

static void store_str(ctx_t *c, const key_def_t *k, const char *path,
                      const tw_config_node_t *n, void *base) {
  bool secret = (k->flags & F_SECRET) != 0;
  const char *s = want_string(c, path, n, secret);
  if (s == NULL)
    return;
  const str_rule_t *r = k->rule;
  size_t len = strlen(s);
  if (r != NULL) {
    if (len < r->min || len > r->max) {
      if (len == 0)
        ERR(c, n, "%s: must not be empty", path);
      else
        ERR(c, n, "%s: must be %zu to %zu characters long (it is %zu)", path,
            r->min, r->max, len);
      return;
    }
    if (r->check != NULL && r->check(s) != 0) {
      if (secret)
        ERR(c, n, "%s: the value %s", path, r->what);
      else
        ERR(c, n, "%s: %s %s", path, quote(c, s), r->what);
      return;
    }
  }
  *(const char **)field(base, k->offset) = s;
}

/* YAML 1.1 spellings, which opsdroid users (PyYAML) may have written. */
static const char *const yes_words[] = {"yes", "Yes", "YES", "on",
                                        "On",  "ON",  NULL};
static const char *const no_words[] = {"no",  "No",  "NO", "off",
                                       "Off", "OFF", NULL};

static bool word_in(const char *s, const char *const *w) {
  for (; *w; w++)
    if (strcmp(s, *w) == 0)
      return true;
  return false;
}

static void store_bool(ctx_t *c, const key_def_t *k, const char *path,
                       const tw_config_node_t *n, void *base) {
  bool *dst = field(base, k->offset);
  if (n->type == TW_CONFIG_BOOL) {
    *dst = n->v.b;
    return;
  }
  /* Only plain scalars can be YAML 1.1 booleans; a quoted "yes" is a
   * string there too. */
  if (n->plain && word_in(n->text, yes_words)) {
    *dst = true;
    return;
  }
  if (n->plain && word_in(n->text, no_words)) {
    *dst = false;
    return;
  }
  ERR(c, n, "%s: expected true or false, got %s", path, describe(c, n, false));
}

static void store_int(ctx_t *c, const key_def_t *k, const char *path,
                      const tw_config_node_t *n, void *base) {
  const int_rule_t *r = k->rule;
  if (n->type != TW_CONFIG_INT) {
    ERR(c, n, "%s: expected an integer, got %s", path, describe(c, n, false));
    return;
  }
  if (n->v.i < r->min || n->v.i > r->max) {
    ERR(c, n, "%s: %lld is out of range (%lld to %lld)", path,
        (long long)n->v.i, (long long)r->min, (long long)r->max);
    return;
  }
  if (r->size == sizeof(int))
    *(int *)field(base, k->offset) = (int)n->v.i;
  else
    *(int64_t *)field(base, k->offset) = n->v.i;
}

static void store_enum(ctx_t *c, const key_def_t *k, const char *path,
                       const tw_config_node_t *n, void *base) {
  const enum_rule_t *r = k->rule;
  size_t count = 0;
  while (r->names[count] != NULL)
    count++;
  if (n->type == TW_CONFIG_STRING) {
    for (size_t i = 0; i < count; i++) {
      if (strcmp(n->text, r->names[i]) == 0) {
        *(int *)field(base, k->offset) = r->values[i];
        return;
      }
    }
  }
  char list[256];
  size_t o = 0;
  list[0] = '\0';
  for (size_t i = 0; i < count && o < sizeof(list); i++)
    o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                          r->names[i]);
  const char *s = n->type == TW_CONFIG_STRING
                      ? suggest(n->text, (const char *const *)r->names, count)
                      : NULL;
  ERR(c, n, "%s: expected one of %s, got %s%s", path, list,
      describe(c, n, false), hint(c, s));
}

static bool is_loopback(const char *host) {
  if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
    return true;
  unsigned char v4[4];
  return inet_pton(AF_INET, host, v4) == 1 && v4[0] == 127;
}

typedef struct {
  const char *scheme;
  int port;
  bool tls;
} scheme_info_t;

static const scheme_info_t schemes[] = {
    {"https", 443, true}, {"http", 80, false},  {"wss", 443, true},
    {"ws", 80, false},    {"ircs", 6697, true}, {"irc", 6667, false},
};

static const scheme_info_t *scheme_info(const char *s) {
  for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
    if (strcmp(schemes[i].scheme, s) == 0)
      return &schemes[i];
  return NULL;
}

static void scheme_list(char *buf, size_t cap, const url_rule_t *r) {
  size_t o = 0;
  buf[0] = '\0';
  for (const char *const *s = r->schemes; *s && o < cap; s++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", *s);
  if (r->loopback_schemes != NULL && r->loopback_schemes[0] != NULL) {
    for (const char *const *s = r->loopback_schemes; *s && o < cap; s++)
      o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", *s);
    if (o < cap)
      snprintf(buf + o, cap - o, " (%s", r->loopback_schemes[0]);
    o = strlen(buf);
    for (const char *const *s = r->loopback_schemes + 1; *s && o < cap; s++)
      o += (size_t)snprintf(buf + o, cap - o, ", %s", *s);
    if (o < cap)
      snprintf(buf + o, cap - o, " only for localhost)");
  }
}

static char *curl_part(CURLU *u, CURLUPart part) {
  char *s = NULL;
  if (curl_url_get(u, part, &s, 0) != CURLUE_OK)
    return NULL;
  return s;
}

/* Parses and checks a URL; fills *out (strings in the arena). Returns
 * false after reporting. Secret-free: a URL with credentials is refused
 * without being echoed, and a `secret` URL (a webhook's, which carries its
 * token in the path) is never quoted at all. */
static bool parse_url(ctx_t *c, const char *path, const tw_config_node_t *n,
                      const char *text, const url_rule_t *r, bool secret,
                      tw_config_url_t *out) {
  bool ok = false;
  char allowed[160];
  scheme_list(allowed, sizeof(allowed), r);
  CURLU *u = curl_url();
  if (u == NULL) {
    c->nomem = true;
    return false;
  }
  char *scheme = NULL, *host = NULL, *port = NULL, *upath = NULL, *query = NULL,
       *frag = NULL, *user = NULL, *pass = NULL;
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, text, CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) {
    ERR(c, n, "%s: %s is not a valid URL (%s); expected scheme://host[:port]",
        path, secret ? "the value" : quote(c, text), curl_url_strerror(rc));
    goto done;
  }
  scheme = curl_part(u, CURLUPART_SCHEME);
  host = curl_part(u, CURLUPART_HOST);
  port = curl_part(u, CURLUPART_PORT);
  upath = curl_part(u, CURLUPART_PATH);
  query = curl_part(u, CURLUPART_QUERY);
  frag = curl_part(u, CURLUPART_FRAGMENT);
  user = curl_part(u, CURLUPART_USER);
  pass = curl_part(u, CURLUPART_PASSWORD);
  if (scheme == NULL || host == NULL || host[0] == '\0') {
    ERR(c, n, "%s: %s has no host", path,
        secret ? "the value" : quote(c, text));
    goto done;
  }
  if (user != NULL || pass != NULL) {
    ERR(c, n, "%s: a URL here must not contain a user name or password", path);
    goto done;
  }
  for (char *p = scheme; *p; p++)
    *p = (char)lower_ascii(*p);
  for (char *p = host; *p; p++)
    *p = (char)lower_ascii(*p);
  /* curl keeps IPv6 brackets; callers want the bare address */
  char *bare = host;
  size_t hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = '\0';
    bare = host + 1;
  }
  bool any = word_in(scheme, r->schemes);
  bool lo = r->loopback_schemes && word_in(scheme, r->loopback_schemes);
  if (!any && !lo) {
    ERR(c, n, "%s: scheme '%s' is not allowed here; use %s", path, scheme,
        allowed);
    goto done;
  }
  if (!any && !is_loopback(bare)) {
    char secure[64];
    size_t o = 0;
    secure[0] = '\0';
    for (const char *const *sc = r->schemes; *sc && o < sizeof(secure); sc++)
      o += (size_t)snprintf(secure + o, sizeof(secure) - o, "%s%s",
                            o ? " or " : "", *sc);
    ERR(c, n,
        "%s: %s:// is allowed only for a loopback host (localhost, "
        "127.0.0.1, ::1), not '%s'; use %s",
        path, scheme, bare, secure);
    goto done;
  }
  if (frag != NULL || (query != NULL && !r->allow_query)) {
    ERR(c, n, "%s: the URL must not have a %s", path,
        frag != NULL ? "#fragment" : "?query");
    goto done;
  }
  const scheme_info_t *si = scheme_info(scheme);
  long pnum = si ? si->port : 0;
  if (port != NULL) {
    char *end = NULL;
    pnum = strtol(port, &end, 10);
    if (end == port || *end != '\0' || pnum < 1 || pnum > 65535) {
      ERR(c, n, "%s: port %s is out of range (1 to 65535)", path, port);
      goto done;
    }
  }
  out->url = adup(c, text);
  out->scheme = adup(c, scheme);
  out->host = adup(c, bare);
  out->port = (int)pnum;
  out->path = adup(c, upath ? upath : "/");
  out->tls = si ? si->tls : false;
  ok = true;
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(upath);
  curl_free(query);
  curl_free(frag);
  curl_free(user);
  curl_free(pass);
  curl_url_cleanup(u);
  return ok;
}

static void store_url(ctx_t *c, const key_def_t *k, const char *path,
                      const tw_config_node_t *n, void *base) {
  bool secret = (k->flags & F_SECRET) != 0;
  const char *s = want_string(c, path, n, secret);
  if (s == NULL)
    return;
  if (strlen(s) > 2048) {
    ERR(c, n, "%s: URL longer than 2048 characters", path);
    return;
  }
  tw_config_url_t url;
  memset(&url, 0, sizeof(url));
  if (parse_url(c, path, n, s, k->rule, secret, &url))
    *(tw_config_url_t *)field(base, k->offset) = url;
}

/* Expands a leading "~/" and makes a relative path relative to the config
 * file's directory (not to wherever the daemon happens to be started). */
static const char *resolve_path(ctx_t *c, const char *path,
                                const tw_config_node_t *n, const char *s) {
  if (s[0] == '\0') {
    ERR(c, n, "%s: must not be empty", path);
    return NULL;
  }
  if (s[0] == '~' && (s[1] == '/' || s[1] == '\0')) {
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
      ERR(c, n, "%s: cannot expand '~': $HOME is not set", path);
      return NULL;
    }
    char *r = tw__arena_printf(c->a, "%s%s", home, s + 1);
    if (r == NULL)
      c->nomem = true;
    return r;
  }
  if (s[0] == '/' || c->cfg->dir == NULL)
    return s;
  char *r = tw__arena_printf(c->a, "%s/%s", c->cfg->dir, s);
  if (r == NULL)
    c->nomem = true;
  return r;
}

static void store_path(ctx_t *c, const key_def_t *k, const char *path,
                       const tw_config_node_t *n, void *base) {
  const char *s = want_string(c, path, n, false);
  if (s == NULL)
    return;
  if (strlen(s) > 4096) {
    ERR(c, n, "%s: path longer than 4096 characters", path);
    return;
  }
  const char *full = resolve_path(c, path, n, s);
  if (full == NULL)
    return;
  if (k->flags & F_MUST_EXIST) {
    /* stat, not open: opening a FIFO named by a bad config would block. */
    struct stat st;
    if (stat(full, &st) != 0) {
      ERR(c, n, "%s: cannot use %s: %s", path, quote(c, full), strerror(errno));
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      ERR(c, n, "%s: %s is not a regular file", path, quote(c, full));
      return;
    }
    if (access(full, R_OK) != 0) {
      ERR(c, n, "%s: cannot read %s: %s", path, quote(c, full),
          strerror(errno));
      return;
    }
  }
  *(const char **)field(base, k->offset) = full;
}

/* A Twitch login: 1 to 25 of a-z, 0-9 and '_'. */
static bool is_login(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 25)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_'))
      return false;
  return true;
}

static const char *check_channel(ctx_t *c, const char *path,
                                 const tw_config_node_t *n) {
  const char *s = want_string(c, path, n, false);
  if (s == NULL)
    return NULL;
  if (is_login(s))
    return s;
  /* '#channel' and 'TheChannel' are common; say what to write instead. */
  char low[32];
  size_t l = strlen(s);
  if (l < sizeof(low)) {
    for (size_t i = 0; i <= l; i++)
      low[i] = (char)lower_ascii(s[i]);
    const char *cand = low[0] == '#' ? low + 1 : low;
    if (is_login(cand)) {
      ERR(c, n,
          "%s: write %s as '%s' (a Twitch login: lower case, without '#')",
          path, quote(c, s), cand);
      return NULL;
    }
  }
  ERR(c, n, "%s: %s is not a Twitch login (1 to 25 characters: a-z, 0-9, _)",
      path, quote(c, s));
  return NULL;
}

static void store_channels(ctx_t *c, const key_def_t *k, const char *path,
                           const tw_config_node_t *n, void *base) {
  const tw_config_node_t *const *items = &n;
  size_t count = 1;
  if (n->type == TW_CONFIG_LIST) {
    items = (const tw_config_node_t *const *)n->items;
    count = n->count;
    if (count == 0) {
      ERR(c, n, "%s: the list is empty; name at least one channel", path);
      return;
    }
    if (count > TW_CONFIG_MAX_CHANNELS) {
      ERR(c, n, "%s: more than %d channels", path, TW_CONFIG_MAX_CHANNELS);
      return;
    }
  }
  const char **out = tw__arena_alloc(c->a, count * sizeof(*out));
  if (out == NULL) {
    c->nomem = true;
    return;
  }
  size_t good = 0;
  bool bad = false;
  for (size_t i = 0; i < count; i++) {
    const char *ch = check_channel(c, path, items[i]);
    if (ch == NULL) {
      bad = true;
      continue;
    }
    for (size_t j = 0; j < good; j++) {
      if (strcmp(out[j], ch) == 0) {
        ERR(c, items[i], "%s: channel '%s' is listed twice", path, ch);
        bad = true;
      }
    }
    out[good++] = ch;
  }
  if (bad)
    return;
  *(const char *const **)field(base, k->offset) = out;
  *(size_t *)field(base, k->aux) = good;
}

static void store_value(ctx_t *c, const key_def_t *k, const char *path,
                        const tw_config_node_t *key, const tw_config_node_t *n,
                        void *base) {
  /* Already reported while parsing (an alias, a bad tag): one error per
   * problem is enough. */
  if (n->invalid)
    return;
  switch (k->type) {
  case K_STR:
    store_str(c, k, path, n, base);
    break;
  case K_BOOL:
    store_bool(c, k, path, n, base);
    break;
  case K_INT:
    store_int(c, k, path, n, base);
    break;
  case K_ENUM:
    store_enum(c, k, path, n, base);
    break;
  case K_URL:
    store_url(c, k, path, n, base);
    break;
  case K_PATH:
    store_path(c, k, path, n, base);
    break;
  case K_CHANNELS:
    store_channels(c, k, path, n, base);
    break;
  case K_SECTION:
    if (n->type == TW_CONFIG_NULL) {
      apply_section(c, k->rule, NULL, key, base);
    } else if (n->type != TW_CONFIG_MAP) {
      ERR(c, n, "%s: expected a map of keys, got %s", path,
          describe(c, n, false));
    } else {
      apply_section(c, k->rule, n, key, base);
    }
    break;
  case K_CUSTOM:
    ((const custom_rule_t *)k->rule)->fn(c, k, key, n, base);
    break;
  }
}

/* Fills an absent key: its default (through the same validator), the
 * defaults of a nested section, or a custom handler's idea of absent. */
static void store_default(ctx_t *c, const key_def_t *k, const char *path,
                          const tw_config_node_t *owner, void *base) {
  if (k->type == K_SECTION) {
    apply_section(c, k->rule, NULL, owner, base);
    return;
  }
  if (k->type == K_CUSTOM) {
    const custom_rule_t *r = k->rule;
    if (r->absent != NULL)
      r->absent(c, k, base);
    return;
  }
  const char *text = k->def;
  bool computed = false;
  if (text == NULL && k->def_fn != NULL) {
    text = k->def_fn(c, owner);
    computed = true;
    if (text == NULL)
      return; /* reported */
  }
  if (text == NULL)
    return;
  tw_config_node_t *n = tw__cfg_scalar(c->cfg, text, owner->line, owner->col);
  if (n == NULL) {
    c->nomem = true;
    return;
  }
  /* A computed default is a string whatever it looks like. */
  if (computed)
    n->type = TW_CONFIG_STRING;
  store_value(c, k, path, owner, n, base);
}

/* The position used for problems with a whole section: its key, or the top
 * of the file for the top level. */
static const tw_config_node_t top_of_file = {
    .type = TW_CONFIG_NULL, .line = 1, .col = 1, .text = ""};

static void apply_section(ctx_t *c, const section_def_t *sec,
                          const tw_config_node_t *map,
                          const tw_config_node_t *owner, void *base) {
  bool seen[32] = {false};
  if (sec->nkeys > 32) {
    /* a table too large for `seen`: a programming error, caught by tests */
    tw__cfg_error(c->cfg, 0, 0, "internal error: section '%s' too large",
                  sec->path);
    return;
  }
  if (owner == NULL)
    owner = &top_of_file;
  size_t pairs = map ? map->count : 0;
  for (size_t i = 0; i < pairs; i++) {
    const tw_config_node_t *key = map->keys[i];
    const tw_config_node_t *val = map->items[i];
    size_t ki = 0;
    while (ki < sec->nkeys && strcmp(sec->keys[ki].key, key->text) != 0)
      ki++;
    if (ki == sec->nkeys) {
      const char *s = suggest_key(sec, key->text);
      if (sec->path[0])
        ERR(c, key, "unknown key '%s' in %s%s", key->text, sec->path,
            hint(c, s));
      else
        ERR(c, key, "unknown top-level key '%s'%s", key->text, hint(c, s));
      continue;
    }
    if (seen[ki])
      continue; /* a duplicate, already reported by the parser */
    seen[ki] = true;
    const key_def_t *k = &sec->keys[ki];
    const char *path = join_path(c, sec->path, k->key);
    store_value(c, k, path, key, val, base);
    if (k->aux != NO_AUX && k->type != K_CHANNELS)
      *(bool *)field(base, k->aux) = true;
    if (k->note != NULL)
      tw__cfg_note(c->cfg, key->line, key->col, "%s: %s", path, k->note);
  }
  for (size_t ki = 0; ki < sec->nkeys; ki++) {
    if (seen[ki])
      continue;
    const key_def_t *k = &sec->keys[ki];
    if (k->flags & F_REQUIRED) {
      if (sec->path[0])
        ERR(c, owner, "missing required key '%s' in %s", k->key, sec->path);
      else
        ERR(c, owner, "missing required top-level key '%s'", k->key);
      continue;
    }
    store_default(c, k, join_path(c, sec->path, k->key), owner, base);
  }
}

/* ---- string rules ---------------------------------------------------------
 */

/* Printable ASCII without spaces: what Twitch's ids, secrets and codes are
 * made of, and what can go in a form body or a header unescaped. */
static int check_token_chars(const char *s) {
  for (; *s; s++)
    if (*s <= ' ' || *s > '~')
      return -1;
  return 0;
}

static const str_rule_t token_rule = {
    1, 256, check_token_chars,
    "must contain only printable ASCII characters, without spaces"};

/* Twitch: an EventSub webhook secret is 10 to 100 ASCII characters. */
static const str_rule_t webhook_secret_rule = {
    10, 100, check_token_chars,
    "must be 10 to 100 printable ASCII characters, without spaces"};

/* A host name or an IP address, to listen on. */
static int check_host(const char *s) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
    return 0;
  size_t label = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '.') {
      if (label == 0)
        return -1;
      label = 0;
    } else if (isalnum((unsigned char)*p) || *p == '-') {
      if (++label > 63)
        return -1;
    } else {
      return -1;
    }
  }
  return label == 0 ? -1 : 0;
}

static const str_rule_t host_rule = {
    1, 253, check_host,
    "must be a host name or an IP address (no scheme, no port)"};

/* ---- the twitch connector --------------------------------------------------
 */

static const char *const url_https[] = {"https", NULL};
static const char *const url_http[] = {"http", NULL};
static const char *const url_http_https[] = {"http", "https", NULL};
static const char *const url_wss[] = {"wss", NULL};
static const char *const url_ws[] = {"ws", NULL};
static const char *const url_irc_any[] = {"wss", "ircs", NULL};
static const char *const url_irc_lo[] = {"ws", "irc", NULL};

static const url_rule_t rule_irc = {url_irc_any, url_irc_lo, false};
static const url_rule_t rule_eventsub = {url_wss, url_ws, false};
static const url_rule_t rule_api = {url_https, url_http, false};
/* Twitch accepts http redirect URIs only for localhost. */
static const url_rule_t rule_redirect = {url_https, url_http, true};
static const url_rule_t rule_forward = {url_http_https, NULL, true};

static const int_rule_t rule_lease = {0, 864000, sizeof(int64_t)};

#define TWF(m) offsetof(tw_config_twitch_t, m)

static const key_def_t endpoint_keys[] = {
    {"irc", K_URL, 0, "wss://irc-ws.chat.twitch.tv:443", NULL, TWF(irc), NO_AUX,
     &rule_irc, NULL},
    {"eventsub", K_URL, 0, "wss://eventsub.wss.twitch.tv/ws", NULL,
     TWF(eventsub), NO_AUX, &rule_eventsub, NULL},
    {"helix", K_URL, 0, "https://api.twitch.tv/helix", NULL, TWF(helix), NO_AUX,
     &rule_api, NULL},
    {"oauth", K_URL, 0, "https://id.twitch.tv/oauth2", NULL, TWF(oauth), NO_AUX,
     &rule_api, NULL},
};

static const section_def_t endpoints_section = {
    "connectors.twitch.endpoints", endpoint_keys,
    sizeof(endpoint_keys) / sizeof(endpoint_keys[0])};

/* $XDG_DATA_HOME/twitchd/tokens.json, or ~/.local/share/twitchd/tokens.json
 * (the XDG base directory rules: a relative XDG_DATA_HOME is ignored). */
static const char *default_token_file(ctx_t *c, const tw_config_node_t *where) {
  const char *xdg = getenv("XDG_DATA_HOME");
  char *p = NULL;
  if (xdg != NULL && xdg[0] == '/') {
    p = tw__arena_printf(c->a, "%s/twitchd/tokens.json", xdg);
  } else {
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
      ERR(c, where,
          "connectors.twitch: cannot choose a default token-file because "
          "neither $XDG_DATA_HOME nor $HOME is set; set token-file");
      return NULL;
    }
    p = tw__arena_printf(c->a, "%s/.local/share/twitchd/tokens.json", home);
  }
  if (p == NULL)
    c->nomem = true;
  return p;
}

static const char *const send_chat_names[] = {"irc", "helix", NULL};
static const int send_chat_values[] = {TW_SEND_CHAT_IRC, TW_SEND_CHAT_HELIX};
static const enum_rule_t send_chat_rule = {send_chat_names, send_chat_values};

static const int_rule_t rule_stream_check = {0, 3600, sizeof(int)};

static const key_def_t twitch_keys[] = {
    /* the seed's keys, in the seed's order */
    {"code", K_STR, F_SECRET, NULL, NULL, TWF(code), NO_AUX, &token_rule, NULL},
    {"client-id", K_STR, F_REQUIRED, NULL, NULL, TWF(client_id), NO_AUX,
     &token_rule, NULL},
    {"client-secret", K_STR, F_SECRET, NULL, NULL, TWF(client_secret), NO_AUX,
     &token_rule, NULL},
    {"channel", K_CHANNELS, F_REQUIRED, NULL, NULL, TWF(channels),
     TWF(channel_count), NULL, NULL},
    {"redirect", K_URL, 0, "http://localhost", NULL, TWF(redirect), NO_AUX,
     &rule_redirect, NULL},
    {"forward-url", K_URL, 0, NULL, NULL, TWF(forward_url), NO_AUX,
     &rule_forward, NULL},
    {"webhook-lease-seconds", K_INT, 0, NULL, NULL, TWF(webhook_lease_seconds),
     TWF(has_webhook_lease_seconds), &rule_lease,
     "has no effect and is ignored: it configured the lease of the WebSub "
     "webhooks Twitch shut down in 2021; EventSub subscriptions do not "
     "expire"},
    {"always-listening", K_BOOL, 0, "false", NULL, TWF(always_listening),
     NO_AUX, NULL, NULL},
    /* ours */
    {"token-file", K_PATH, 0, NULL, default_token_file, TWF(token_file), NO_AUX,
     NULL, NULL},
    {"ca-file", K_PATH, F_MUST_EXIST, NULL, NULL, TWF(ca_file), NO_AUX, NULL,
     NULL},
    {"send-chat", K_ENUM, 0, "irc", NULL, TWF(send_chat), NO_AUX,
     &send_chat_rule, NULL},
    {"stream-check-seconds", K_INT, 0, "60", NULL, TWF(stream_check_seconds),
     NO_AUX, &rule_stream_check, NULL},
    {"eventsub", K_BOOL, 0, "true", NULL, TWF(eventsub_enabled), NO_AUX, NULL,
     NULL},
    {"eventsub-secret", K_STR, F_SECRET, NULL, NULL, TWF(eventsub_secret),
     NO_AUX, &webhook_secret_rule, NULL},
    {"endpoints", K_SECTION, 0, NULL, NULL, 0, NO_AUX, &endpoints_section,
     NULL},
};

static const section_def_t twitch_section = {"connectors.twitch", twitch_keys,
                                             sizeof(twitch_keys) /
                                                 sizeof(twitch_keys[0])};

/* Checks that involve several keys, after the keys themselves. */
static void twitch_finish(ctx_t *c, void *base, const tw_config_node_t *key,
                          const tw_config_node_t *map) {
  tw_config_twitch_t *t = base;
  if (t->code != NULL && t->client_secret == NULL) {
    const tw_config_node_t *at = tw_config_node_get(map, "code");
    tw__cfg_note(c->cfg, at ? at->line : key->line, at ? at->col : key->col,
                 "connectors.twitch.code: exchanging the code for a token "
                 "also needs client-secret, which is not set");
  }
  if (t->forward_url.url != NULL &&
      (!t->forward_url.tls || t->forward_url.port != 443)) {
    const tw_config_node_t *at = tw_config_node_get(map, "forward-url");
    tw__cfg_note(c->cfg, at ? at->line : key->line, at ? at->col : key->col,
                 "connectors.twitch.forward-url: only the EventSub webhook "
                 "transport uses it, and Twitch delivers webhooks to https "
                 "on port 443 only");
  }
}

/* ---- the webhook connector -------------------------------------------------
 * Outgoing webhooks to Discord, Slack and Rocket.Chat (docs/connectors.md).
 * Two shapes:
 *   webhook: {kind: discord, url: ...}                 one instance, "webhook"
 *   webhook: {discord: {kind: ..., url: ...}, team: {...}}   named instances
 * Named instances are maps, so a map that has one of the instance keys or a
 * value that is not a map is the first shape: a mistyped key then gets
 * "unknown key" rather than being taken for an instance name. */

static bool is_skill_name(const char *s);

static const char *const webhook_kind_names[] = {"discord", "slack",
                                                 "rocketchat", NULL};
static const int webhook_kind_values[] = {TW_WEBHOOK_DISCORD, TW_WEBHOOK_SLACK,
                                          TW_WEBHOOK_ROCKETCHAT};
static const enum_rule_t webhook_kind_rule = {webhook_kind_names,
                                              webhook_kind_values};
/* The query is kept: Discord takes ?thread_id= to post into a thread. */
static const url_rule_t rule_webhook_url = {url_https, url_http, true};

/* A display name: at most 80 characters (Discord's limit for webhook
 * names), no control characters. */
static int check_display_name(const char *s) {
  size_t chars = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      return -1;
    if ((*p & 0xc0) != 0x80)
      chars++;
  }
  return chars <= 80 ? 0 : -1;
}

static const str_rule_t webhook_username_rule = {
    1, 320, check_display_name,
    "must be at most 80 characters long, without control characters"};

#define WHF(m) offsetof(tw_config_webhook_t, m)

static const key_def_t webhook_keys[] = {
    {"kind", K_ENUM, F_REQUIRED, NULL, NULL, WHF(kind), NO_AUX,
     &webhook_kind_rule, NULL},
    {"url", K_URL, F_REQUIRED | F_SECRET, NULL, NULL, WHF(url), NO_AUX,
     &rule_webhook_url, NULL},
    {"username", K_STR, 0, NULL, NULL, WHF(username), NO_AUX,
     &webhook_username_rule, NULL},
};
#define NWEBHOOK_KEYS (sizeof(webhook_keys) / sizeof(webhook_keys[0]))

static const section_def_t webhook_section = {"connectors.webhook",
                                              webhook_keys, NWEBHOOK_KEYS};

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && lower_ascii(hay[i]) == needle[i])
      i++;
    if (i == n)
      return true;
  }
  return false;
}

/* One instance: its keys, then the checks that need the kind. */
static void webhook_instance(ctx_t *c, tw_config_t *cfg, const char *name,
                             const char *path, const tw_config_node_t *key,
                             const tw_config_node_t *map) {
  if (cfg->webhook_count >= TW_CONFIG_MAX_WEBHOOKS) {
    ERR(c, key, "connectors.webhook: more than %d webhooks",
        TW_CONFIG_MAX_WEBHOOKS);
    return;
  }
  tw_config_webhook_t w;
  memset(&w, 0, sizeof(w));
  section_def_t sec = webhook_section;
  sec.path = path;
  size_t before = cfg->errors.n;
  apply_section(c, &sec, map, key, &w);
  if (cfg->errors.n != before)
    return;
  /* Discord answers 400 to these at the worst moment (going live); say so
   * at `twitchd check` instead. */
  if (w.kind == TW_WEBHOOK_DISCORD && w.username != NULL &&
      (contains_ci(w.username, "discord") ||
       contains_ci(w.username, "clyde"))) {
    const tw_config_node_t *at = tw_config_node_get(map, "username");
    ERR(c, at ? at : key,
        "%s.username: Discord refuses webhook names that contain 'discord' "
        "or 'clyde'",
        sec.path);
    return;
  }
  w.name = name;
  w.line = key->line;
  w.col = key->col;
  cfg->webhooks[cfg->webhook_count++] = w;
}

static void webhook_apply(ctx_t *c, const tw_config_node_t *key,
                          const tw_config_node_t *map, void *base) {
  tw_config_t *cfg = base;
  if (map == NULL || map->count == 0) {
    ERR(c, key,
        "connectors.webhook: expected kind and url, or a map of named "
        "webhooks each with kind and url");
    return;
  }
  if (cfg->webhooks == NULL) {
    cfg->webhooks =
        tw__arena_alloc(c->a, TW_CONFIG_MAX_WEBHOOKS * sizeof(*cfg->webhooks));
    if (cfg->webhooks == NULL) {
      c->nomem = true;
      return;
    }
  }
  bool single = false;
  for (size_t i = 0; i < map->count; i++) {
    for (size_t k = 0; k < NWEBHOOK_KEYS; k++)
      if (strcmp(map->keys[i]->text, webhook_keys[k].key) == 0)
        single = true;
    if (map->items[i]->type != TW_CONFIG_MAP)
      single = true;
  }
  if (single) {
    webhook_instance(c, cfg, "webhook", "connectors.webhook", key, map);
    return;
  }
  for (size_t i = 0; i < map->count; i++) {
    const tw_config_node_t *nk = map->keys[i], *nv = map->items[i];
    if (nk->invalid || nv->invalid)
      continue;
    if (!is_skill_name(nk->text)) {
      ERR(c, nk,
          "connectors.webhook: %s is not a valid webhook name (1 to %d "
          "characters: letters, digits, '_', '-')",
          quote(c, nk->text), TW_CONFIG_MAX_NAME);
      continue;
    }
    if (strcmp(nk->text, "twitch") == 0) {
      ERR(c, nk,
          "connectors.webhook.twitch: 'twitch' names the Twitch connector; "
          "give this webhook another name");
      continue;
    }
    bool dup = false;
    for (size_t j = 0; j < cfg->webhook_count; j++)
      dup = dup || strcmp(cfg->webhooks[j].name, nk->text) == 0;
    if (dup)
      continue; /* a duplicate key, reported by the parser */
    webhook_instance(c, cfg, nk->text,
                     join_path(c, "connectors.webhook", nk->text), nk, nv);
  }
}

/* ---- connectors -----------------------------------------------------------
 * One row per connector kind. Adding one takes its struct in tw_config, its
 * section table and a row here; a connector with several instances (webhook)
 * applies its sections itself. */

typedef struct {
  const char *name;
  const section_def_t *section;
  size_t offset;  /* of its struct in tw_config_t */
  size_t present; /* of its "configured" flag in tw_config_t */
  bool required;
  void (*finish)(ctx_t *c, void *base, const tw_config_node_t *key,
                 const tw_config_node_t *map);
  /* when set, called with the connector's map (NULL when empty) instead of
   * applying `section` to it; base is at `offset` */
  void (*apply)(ctx_t *c, const tw_config_node_t *key,
                const tw_config_node_t *map, void *base);
} connector_def_t;

static const connector_def_t connector_defs[] = {
    {"twitch", &twitch_section, offsetof(tw_config_t, twitch),
     offsetof(tw_config_t, has_twitch), true, twitch_finish, NULL},
    {"webhook", &webhook_section, 0, offsetof(tw_config_t, has_webhook), false,
     NULL, webhook_apply},
};
#define NCONNECTORS (sizeof(connector_defs) / sizeof(connector_defs[0]))

static void connectors_fn(ctx_t *c, const key_def_t *k,
                          const tw_config_node_t *key,
                          const tw_config_node_t *n, void *base) {
  (void)k;
  tw_config_t *cfg = base;
  bool seen[NCONNECTORS] = {false};
  if (n->type == TW_CONFIG_LIST) {
    ERR(c, n,
        "connectors: expected a map of connector names (connectors: "
        "{twitch: {...}}), got a list");
    return;
  }
  if (n->type != TW_CONFIG_MAP && n->type != TW_CONFIG_NULL) {
    ERR(c, n, "connectors: expected a map of connector names, got %s",
        describe(c, n, false));
    return;
  }
  size_t pairs = n->type == TW_CONFIG_MAP ? n->count : 0;
  const char *names[NCONNECTORS];
  for (size_t d = 0; d < NCONNECTORS; d++)
    names[d] = connector_defs[d].name;
  for (size_t i = 0; i < pairs; i++) {
    const tw_config_node_t *ck = n->keys[i], *cv = n->items[i];
    size_t d = 0;
    while (d < NCONNECTORS && strcmp(connector_defs[d].name, ck->text) != 0)
      d++;
    if (d == NCONNECTORS) {
      char known[128];
      size_t o = 0;
      known[0] = '\0';
      for (size_t j = 0; j < NCONNECTORS && o < sizeof(known); j++)
        o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s",
                              j ? ", " : "", names[j]);
      ERR(c, ck, "unknown connector '%s' (known: %s)%s", ck->text, known,
          hint(c, suggest(ck->text, names, NCONNECTORS)));
      continue;
    }
    if (seen[d])
      continue; /* duplicate key, reported by the parser */
    seen[d] = true;
    const connector_def_t *def = &connector_defs[d];
    void *cbase = field(cfg, def->offset);
    if (cv->type != TW_CONFIG_MAP && cv->type != TW_CONFIG_NULL) {
      ERR(c, cv, "connectors.%s: expected a map of keys, got %s", def->name,
          describe(c, cv, false));
      continue;
    }
    size_t before = cfg->errors.n;
    if (def->apply != NULL)
      def->apply(c, ck, cv->type == TW_CONFIG_MAP ? cv : NULL, cbase);
    else
      apply_section(c, def->section, cv->type == TW_CONFIG_MAP ? cv : NULL, ck,
                    cbase);
    *(bool *)field(cfg, def->present) = true;
    if (def->finish != NULL && cfg->errors.n == before)
      def->finish(c, cbase, ck, cv);
  }
  for (size_t d = 0; d < NCONNECTORS; d++)
    if (!seen[d] && connector_defs[d].required)
      ERR(c, key, "missing required connector '%s' in connectors",
          connector_defs[d].name);
}

static const custom_rule_t connectors_rule = {connectors_fn, NULL};

/* ---- skills ---------------------------------------------------------------
 */

static bool is_skill_name(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > TW_CONFIG_MAX_NAME)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
      return false;
  return true;
}

/* A map node holding the pairs of `src` whose keys are not in `skip`. */
static tw_config_node_t *options_map(ctx_t *c, const tw_config_node_t *src,
                                     const char *const *skip, size_t nskip,
                                     int line, int col) {
  tw_config_node_t *m = tw__arena_alloc(c->a, sizeof(*m));
  if (m == NULL) {
    c->nomem = true;
    return NULL;
  }
  memset(m, 0, sizeof(*m));
  m->type = TW_CONFIG_MAP;
  m->line = line;
  m->col = col;
  size_t n = src ? src->count : 0;
  m->keys = tw__arena_alloc(c->a, (n ? n : 1) * sizeof(*m->keys));
  m->items = tw__arena_alloc(c->a, (n ? n : 1) * sizeof(*m->items));
  if (m->keys == NULL || m->items == NULL) {
    c->nomem = true;
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    bool skipped = false;
    for (size_t j = 0; j < nskip; j++)
      if (skip[j] != NULL && strcmp(src->keys[i]->text, skip[j]) == 0)
        skipped = true;
    if (skipped)
      continue;
    m->keys[m->count] = src->keys[i];
    m->items[m->count] = src->items[i];
    m->count++;
  }
  return m;
}

typedef struct {
  tw_config_skill_t *v;
  size_t n;
  /* In the map form a repeated name is a repeated YAML key, which the
   * parser has already reported. */
  bool map_form;
} skills_acc_t;

/* Adds one skill after checking its name, path and uniqueness. */
static void add_skill(ctx_t *c, skills_acc_t *acc,
                      const tw_config_node_t *name_node,
                      const tw_config_node_t *path_node,
                      tw_config_node_t *options, const tw_config_node_t *at) {
  const char *name = want_string(c, "skills: name", name_node, false);
  if (name == NULL)
    return;
  if (!is_skill_name(name)) {
    ERR(c, name_node,
        "skills: %s is not a valid skill name (1 to %d characters: letters, "
        "digits, '_', '-')",
        quote(c, name), TW_CONFIG_MAX_NAME);
    return;
  }
  for (size_t i = 0; i < acc->n; i++) {
    if (strcmp(acc->v[i].name, name) == 0) {
      if (!acc->map_form)
        ERR(c, name_node, "skills: duplicate skill '%s' (first at %d:%d)", name,
            acc->v[i].line, acc->v[i].col);
      return;
    }
  }
  if (acc->n >= TW_CONFIG_MAX_SKILLS) {
    ERR(c, at, "skills: more than %d skills", TW_CONFIG_MAX_SKILLS);
    return;
  }
  const char *path = NULL;
  if (path_node != NULL) {
    const char *where = join_path(c, "skills", name);
    where = join_path(c, where, "path");
    const char *s = want_string(c, where, path_node, false);
    if (s == NULL)
      return;
    path = resolve_path(c, where, path_node, s);
    if (path == NULL)
      return;
    struct stat st;
    if (stat(path, &st) != 0) {
      ERR(c, path_node, "%s: cannot use %s: %s", where, quote(c, path),
          strerror(errno));
      return;
    }
  }
  if (options == NULL)
    return; /* out of memory, flagged */
  tw_config_skill_t *s = &acc->v[acc->n++];
  s->name = name;
  s->path = path;
  s->options = options;
  s->line = at->line;
  s->col = at->col;
}

/* One entry of the list form. Accepted shapes:
 *   - hello                      a bare name
 *   - name: hello                opsdroid's form, options beside it
 *     path: ./hello.lua
 *     greeting: hi
 *   - twitch:                    the seed's form: a first key without a
 *     whitelisted: [a, b]        value names the skill, siblings are options
 *   - hello: {path: ..., x: 1}   a single key whose value holds the options */
static void skill_list_item(ctx_t *c, skills_acc_t *acc,
                            const tw_config_node_t *it) {
  if (it->type == TW_CONFIG_STRING || it->type == TW_CONFIG_INT) {
    add_skill(c, acc, it, NULL,
              options_map(c, NULL, NULL, 0, it->line, it->col), it);
    return;
  }
  if (it->type != TW_CONFIG_MAP || it->count == 0) {
    ERR(c, it, "skills: an entry must be a skill name or a map, got %s",
        describe(c, it, false));
    return;
  }
  const tw_config_node_t *name = tw_config_node_get(it, "name");
  if (name != NULL) {
    static const char *const skip[] = {"name", "path"};
    add_skill(c, acc, name, tw_config_node_get(it, "path"),
              options_map(c, it, skip, 2, it->line, it->col), it);
    return;
  }
  const tw_config_node_t *k0 = it->keys[0], *v0 = it->items[0];
  if (v0->type == TW_CONFIG_NULL) {
    const char *skip[] = {k0->text, "path"};
    add_skill(c, acc, k0, tw_config_node_get(it, "path"),
              options_map(c, it, skip, 2, it->line, it->col), it);
    return;
  }
  if (it->count == 1 && v0->type == TW_CONFIG_MAP) {
    static const char *const skip[] = {"path"};
    add_skill(c, acc, k0, tw_config_node_get(v0, "path"),
              options_map(c, v0, skip, 1, v0->line, v0->col), it);
    return;
  }
  ERR(c, it,
      "skills: cannot tell this skill's name; write '- name: <skill>' (or "
      "'- <skill>:' followed by its options)");
}

static void skills_fn(ctx_t *c, const key_def_t *k, const tw_config_node_t *key,
                      const tw_config_node_t *n, void *base) {
  (void)k;
  (void)key;
  tw_config_t *cfg = base;
  if (n->type == TW_CONFIG_NULL)
    return;
  if (n->type != TW_CONFIG_LIST && n->type != TW_CONFIG_MAP) {
    ERR(c, n, "skills: expected a list or a map of skills, got %s",
        describe(c, n, false));
    return;
  }
  skills_acc_t acc;
  size_t cap =
      n->count < TW_CONFIG_MAX_SKILLS ? n->count : TW_CONFIG_MAX_SKILLS;
  acc.v = tw__arena_alloc(c->a, (cap ? cap : 1) * sizeof(*acc.v));
  acc.n = 0;
  acc.map_form = n->type == TW_CONFIG_MAP;
  if (acc.v == NULL) {
    c->nomem = true;
    return;
  }
  for (size_t i = 0; i < n->count; i++) {
    if (n->type == TW_CONFIG_LIST) {
      skill_list_item(c, &acc, n->items[i]);
      continue;
    }
    /* map form: name: {path: ..., options...} or name: (nothing) */
    const tw_config_node_t *sk = n->keys[i], *sv = n->items[i];
    if (sv->type == TW_CONFIG_NULL) {
      add_skill(c, &acc, sk, NULL,
                options_map(c, NULL, NULL, 0, sk->line, sk->col), sk);
    } else if (sv->type == TW_CONFIG_MAP) {
      static const char *const skip[] = {"path"};
      add_skill(c, &acc, sk, tw_config_node_get(sv, "path"),
                options_map(c, sv, skip, 1, sv->line, sv->col), sk);
    } else {
      ERR(c, sv, "skills.%s: expected a map of options, got %s", sk->text,
          describe(c, sv, false));
    }
  }
  cfg->skills = acc.v;
  cfg->skill_count = acc.n;
}

static const custom_rule_t skills_rule = {skills_fn, NULL};

/* ---- logging, web, top level -----------------------------------------------
 */

static const char *const level_names[] = {"trace", "debug", "info",
                                          "warn",  "error", NULL};
static const int level_values[] = {TW_LOG_TRACE, TW_LOG_DEBUG, TW_LOG_INFO,
                                   TW_LOG_WARN, TW_LOG_ERROR};
static const enum_rule_t level_rule = {level_names, level_values};
static const char *const format_names[] = {"text", "json", NULL};
static const int format_values[] = {TW_LOG_TEXT, TW_LOG_JSON};
static const enum_rule_t format_rule = {format_names, format_values};

static const key_def_t logging_keys[] = {
    {"level", K_ENUM, 0, "info", NULL, offsetof(tw_config_t, logging.level),
     NO_AUX, &level_rule, NULL},
    {"format", K_ENUM, 0, "text", NULL, offsetof(tw_config_t, logging.format),
     NO_AUX, &format_rule, NULL},
};
static const section_def_t logging_section = {
    "logging", logging_keys, sizeof(logging_keys) / sizeof(logging_keys[0])};

static const int_rule_t rule_port = {0, 65535, sizeof(int)};

static const key_def_t web_keys[] = {
    {"host", K_STR, 0, "127.0.0.1", NULL, offsetof(tw_config_t, web.host),
     NO_AUX, &host_rule, NULL},
    {"port", K_INT, 0, "8080", NULL, offsetof(tw_config_t, web.port), NO_AUX,
     &rule_port, NULL},
};
static const section_def_t web_section = {
    "web", web_keys, sizeof(web_keys) / sizeof(web_keys[0])};

static const key_def_t top_keys[] = {
    {"connectors", K_CUSTOM, F_REQUIRED, NULL, NULL, 0, NO_AUX,
     &connectors_rule, NULL},
    {"skills", K_CUSTOM, 0, NULL, NULL, 0, NO_AUX, &skills_rule, NULL},
    {"logging", K_SECTION, 0, NULL, NULL, 0, NO_AUX, &logging_section, NULL},
    {"web", K_SECTION, 0, NULL, NULL, 0, NO_AUX, &web_section, NULL},
};
static const section_def_t top_section = {
    "", top_keys, sizeof(top_keys) / sizeof(top_keys[0])};

int tw__cfg_validate(tw_config_t *cfg) {
  ctx_t c = {cfg, &cfg->arena, false};
  const tw_config_node_t *root = cfg->root;
  if (root != NULL && root->type == TW_CONFIG_NULL)
    root = NULL; /* an empty document */
  if (root != NULL && root->type != TW_CONFIG_MAP) {
    ERR(&c, root,
        "the configuration must be a map of sections (connectors:, "
        "skills:, ...), got %s",
        describe(&c, root, false));
    return TW_ECONFIG;
  }
  apply_section(&c, &top_section, root, NULL, cfg);
  if (c.nomem)
    return TW_ENOMEM;
  return cfg->errors.n > 0 ? TW_ECONFIG : 0;
}

/* ---- secrets --------------------------------------------------------------
 */

static void section_secrets(const section_def_t *sec, const void *base,
                            void (*fn)(const char *, void *), void *arg) {
  for (size_t i = 0; i < sec->nkeys; i++) {
    const key_def_t *k = &sec->keys[i];
    if (k->type == K_SECTION) {
      section_secrets(k->rule, base, fn, arg);
    } else if ((k->flags & F_SECRET) && k->type == K_STR) {
      const char *s =
          *(const char *const *)(const void *)((const char *)base + k->offset);
      if (s != NULL)
        fn(s, arg);
    }
  }
}

void tw__cfg_foreach_secret(const tw_config_t *cfg,
                            void (*fn)(const char *secret, void *arg),
                            void *arg) {
  for (size_t d = 0; d < NCONNECTORS; d++) {
    const connector_def_t *def = &connector_defs[d];
    if (def->apply != NULL)
      continue; /* instances, below */
    if (*(const bool *)(const void *)((const char *)cfg + def->present))
      section_secrets(def->section, (const char *)cfg + def->offset, fn, arg);
  }
  /* A webhook URL is its credential: anyone who has it can post. */
  for (size_t i = 0; i < cfg->webhook_count; i++)
    fn(cfg->webhooks[i].url.url, arg);
}
