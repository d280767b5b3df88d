/* twitchd: the configuration's public face: loading, the error and note
 * lists, the typed sections and secrets. Parsing is in config_tree.c and the
 * schema in config_schema.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bot/config_int.h"
#include "twitchd/error.h"

tw_config_t *tw_config_new(void) {
  tw_config_t *cfg = calloc(1, sizeof(*cfg));
  if (cfg == NULL)
    return NULL;
  cfg->errors.limit = TW_CONFIG_MAX_ERRORS;
  cfg->notes.limit = TW_CONFIG_MAX_NOTES;
  return cfg;
}

void tw_config_free(tw_config_t *cfg) {
  if (cfg == NULL)
    return;
  free(cfg->errors.v);
  free(cfg->notes.v);
  tw__arena_free(&cfg->arena);
  free(cfg);
}

/* Appends to a diag list; past its limit one final entry says so and the
 * rest are dropped, so a hostile file cannot produce unbounded output. */
__attribute__((format(printf, 5, 0))) static void
diag_add(tw_config_t *cfg, tw__diag_list_t *l, int line, int col,
         const char *fmt, va_list ap) {
  if (l->truncated)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    tw_config_diag_t *v = realloc(l->v, cap * sizeof(*v));
    if (v == NULL)
      return; /* a lost message is better than a crash; load fails anyway */
    l->v = v;
    l->cap = cap;
  }
  char msg[TW_CONFIG_MAX_MSG];
  if (l->n == l->limit) {
    snprintf(msg, sizeof(msg),
             "too many problems; only the first %zu are "
             "shown",
             l->limit);
    l->truncated = true;
    line = col = 0;
  } else {
    vsnprintf(msg, sizeof(msg), fmt, ap);
  }
  const char *m = tw__arena_strdup(&cfg->arena, msg);
  if (m == NULL)
    return;
  tw_config_diag_t *d = &l->v[l->n++];
  d->file = cfg->source ? cfg->source : "<config>";
  d->line = line;
  d->col = col;
  d->message = m;
}

void tw__cfg_error(tw_config_t *cfg, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_add(cfg, &cfg->errors, line, col, fmt, ap);
  va_end(ap);
}

void tw__cfg_note(tw_config_t *cfg, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_add(cfg, &cfg->notes, line, col, fmt, ap);
  va_end(ap);
}

/* Sorts by position; insertion order breaks ties (the sort is stable), and
 * the "too many" entry, without a position, stays last. */
static void diag_sort(tw__diag_list_t *l) {
  size_t n = l->truncated ? l->n - 1 : l->n;
  for (size_t i = 1; i < n; i++) {
    tw_config_diag_t d = l->v[i];
    size_t j = i;
    while (j > 0 && (l->v[j - 1].line > d.line ||
                     (l->v[j - 1].line == d.line && l->v[j - 1].col > d.col))) {
      l->v[j] = l->v[j - 1];
      j--;
    }
    l->v[j] = d;
  }
}

static int load(tw_config_t *cfg, const char *data, size_t len) {
  int rc = tw__cfg_parse(cfg, data, len);
  if (rc == 0 || (rc == TW_ECONFIG && cfg->root != NULL)) {
    /* Structure errors (a duplicate key, say) leave a usable tree: check
     * it too, so that all problems come out in one run. */
    int vrc = tw__cfg_validate(cfg);
    if (vrc == TW_ENOMEM)
      rc = vrc;
    else if (rc == 0)
      rc = vrc;
  }
  if (rc == 0 && cfg->errors.n > 0)
    rc = TW_ECONFIG;
  diag_sort(&cfg->errors);
  diag_sort(&cfg->notes);
  cfg->valid = rc == 0;
  return rc;
}

int tw_config_load_buffer(tw_config_t *cfg, const char *name, const void *data,
                          size_t len) {
  if (cfg == NULL || (data == NULL && len > 0))
    return TW_EINVAL;
  if (cfg->loaded)
    return TW_ESTATE;
  cfg->loaded = true;
  cfg->source = tw__arena_strdup(&cfg->arena, name ? name : "<memory>");
  if (cfg->source == NULL)
    return TW_ENOMEM;
  if (len > TW_CONFIG_MAX_BYTES) {
    tw__cfg_error(cfg, 0, 0, "larger than %d bytes", TW_CONFIG_MAX_BYTES);
    return TW_ETOOBIG;
  }
  return load(cfg, data ? data : "", len);
}

/* The directory part of `path` ("." for a bare name). */
static const char *dir_of(tw__arena_t *a, const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    return tw__arena_strdup(a, ".");
  if (slash == path)
    return tw__arena_strdup(a, "/");
  return tw__arena_strndup(a, path, (size_t)(slash - path));
}

int tw_config_load_file(tw_config_t *cfg, const char *path) {
  if (cfg == NULL || path == NULL)
    return TW_EINVAL;
  if (cfg->loaded)
    return TW_ESTATE;
  cfg->loaded = true;
  cfg->source = tw__arena_strdup(&cfg->arena, path);
  cfg->dir = dir_of(&cfg->arena, path);
  if (cfg->source == NULL || cfg->dir == NULL)
    return TW_ENOMEM;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    tw__cfg_error(cfg, 0, 0, "cannot open: %s", strerror(errno));
    return TW_EIO;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    tw__cfg_error(cfg, 0, 0, "not a regular file");
    fclose(f);
    return TW_EIO;
  }
  if (st.st_size > TW_CONFIG_MAX_BYTES) {
    tw__cfg_error(cfg, 0, 0, "larger than %d bytes", TW_CONFIG_MAX_BYTES);
    fclose(f);
    return TW_ETOOBIG;
  }
  /* Read up to one byte past the cap, so that a file that grew after the
   * fstat is still caught. */
  char *buf = malloc((size_t)TW_CONFIG_MAX_BYTES + 1);
  if (buf == NULL) {
    fclose(f);
    return TW_ENOMEM;
  }
  size_t n = fread(buf, 1, (size_t)TW_CONFIG_MAX_BYTES + 1, f);
  int err = ferror(f);
  fclose(f);
  int rc;
  if (err) {
    tw__cfg_error(cfg, 0, 0, "read error");
    rc = TW_EIO;
  } else if (n > TW_CONFIG_MAX_BYTES) {
    tw__cfg_error(cfg, 0, 0, "larger than %d bytes", TW_CONFIG_MAX_BYTES);
    rc = TW_ETOOBIG;
  } else {
    rc = load(cfg, buf, n);
  }
  free(buf);
  return rc;
}

size_t tw_config_error_count(const tw_config_t *cfg) {
  return cfg ? cfg->errors.n : 0;
}

const tw_config_diag_t *tw_config_error(const tw_config_t *cfg, size_t i) {
  return cfg && i < cfg->errors.n ? &cfg->errors.v[i] : NULL;
}

size_t tw_config_note_count(const tw_config_t *cfg) {
  return cfg ? cfg->notes.n : 0;
}

const tw_config_diag_t *tw_config_note(const tw_config_t *cfg, size_t i) {
  return cfg && i < cfg->notes.n ? &cfg->notes.v[i] : NULL;
}

int tw_config_diag_format(const tw_config_diag_t *d, char *buf, size_t cap) {
  if (d == NULL)
    return snprintf(buf, cap, "%s", "");
  if (d->line > 0)
    return snprintf(buf, cap, "%s:%d:%d: %s", d->file, d->line, d->col,
                    d->message);
  return snprintf(buf, cap, "%s: %s", d->file, d->message);
}

const char *tw_config_source(const tw_config_t *cfg) {
  return cfg ? cfg->source : NULL;
}

const tw_config_twitch_t *tw_config_twitch(const tw_config_t *cfg) {
  return cfg && cfg->valid && cfg->has_twitch ? &cfg->twitch : NULL;
}

const tw_config_logging_t *tw_config_logging(const tw_config_t *cfg) {
  return cfg && cfg->valid ? &cfg->logging : NULL;
}

const tw_config_web_t *tw_config_web(const tw_config_t *cfg) {
  return cfg && cfg->valid ? &cfg->web : NULL;
}

size_t tw_config_skill_count(const tw_config_t *cfg) {
  return cfg && cfg->valid ? cfg->skill_count : 0;
}

const tw_config_skill_t *tw_config_skill(const tw_config_t *cfg, size_t i) {
  return cfg && cfg->valid && i < cfg->skill_count ? &cfg->skills[i] : NULL;
}

void tw_config_foreach_secret(const tw_config_t *cfg,
                              void (*fn)(const char *secret, void *arg),
                              void *arg) {
  if (cfg == NULL || fn == NULL || !cfg->valid)
    return;
  tw__cfg_foreach_secret(cfg, fn, arg);
}

const tw_config_node_t *tw_config_root(const tw_config_t *cfg) {
  return cfg && cfg->valid ? cfg->root : NULL;
}
