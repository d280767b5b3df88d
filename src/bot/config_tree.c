/* twitchd: YAML text to a positioned tree.
 *
 * libfyaml 0.7.12 offers no public way to get the position of a mapping or
 * sequence node from its document API (fy_node_get_start_mark does not exist
 * in that version), and its document builder stops at the first duplicate
 * key. So the tree is built here from libfyaml's event stream, whose events
 * all carry marks: every node knows its line and column, duplicate keys are
 * reported together with everything else, and caps on depth, node count and
 * scalar size are enforced as the input is read. libfyaml's own diagnostics
 * (syntax errors) are collected through a fy_diag in collect mode, never
 * printed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "bot/config_int.h"
#include "twitchd/error.h"

/* ---- arena ---------------------------------------------------------------
 */

struct tw__arena_chunk {
  struct tw__arena_chunk *next;
  size_t used, size;
  max_align_t data[];
};

#define ARENA_CHUNK 16384
/* Bounds memory whatever the input: a 1 MiB file cannot need more. */
#define ARENA_MAX ((size_t)256 * 1024 * 1024)

void *tw__arena_alloc(tw__arena_t *a, size_t n) {
  size_t align = sizeof(max_align_t);
  n = (n + align - 1) / align * align;
  if (n == 0)
    n = align;
  tw__arena_chunk_t *c = a->head;
  if (c == NULL || c->size - c->used < n) {
    size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    if (a->total + size > ARENA_MAX)
      return NULL;
    c = malloc(sizeof(*c) + size);
    if (c == NULL)
      return NULL;
    c->used = 0;
    c->size = size;
    c->next = a->head;
    a->head = c;
    a->total += size;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

char *tw__arena_strndup(tw__arena_t *a, const char *s, size_t n) {
  char *d = tw__arena_alloc(a, n + 1);
  if (d == NULL)
    return NULL;
  if (n > 0)
    memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *tw__arena_strdup(tw__arena_t *a, const char *s) {
  return s ? tw__arena_strndup(a, s, strlen(s)) : NULL;
}

char *tw__arena_printf(tw__arena_t *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *d = tw__arena_alloc(a, (size_t)n + 1);
  if (d == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(d, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return d;
}

void tw__arena_free(tw__arena_t *a) {
  tw__arena_chunk_t *c = a->head;
  while (c != NULL) {
    tw__arena_chunk_t *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
  a->total = 0;
}

/* ---- scalars -------------------------------------------------------------
 */

static bool text_is(const char *s, size_t n, const char *w) {
  return strlen(w) == n && memcmp(s, w, n) == 0;
}

static bool any_of(const char *s, size_t n, const char *const *words) {
  for (; *words != NULL; words++)
    if (text_is(s, n, *words))
      return true;
  return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};

/* Integer forms of the YAML 1.2 core schema: [-+]?[0-9]+, 0o[0-7]+,
 * 0x[0-9a-fA-F]+. Returns 1 and the value, 0 for another form, -1 for an
 * integer out of range. */
static int parse_int(const char *s, size_t n, int64_t *out) {
  char buf[80];
  if (n == 0 || n >= sizeof(buf))
    return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  int base = 10;
  const char *digits = buf;
  if (n > 2 && buf[0] == '0' && buf[1] == 'o') {
    base = 8;
    digits = buf + 2;
  } else if (n > 2 && buf[0] == '0' && buf[1] == 'x') {
    base = 16;
    digits = buf + 2;
  }
  const char *p = digits;
  if (base == 10 && (*p == '-' || *p == '+'))
    p++;
  if (*p == '\0')
    return 0;
  for (const char *q = p; *q; q++) {
    bool ok = base == 8 ? (*q >= '0' && *q <= '7')
              : base == 10
                  ? (*q >= '0' && *q <= '9')
                  : ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                     (*q >= 'A' && *q <= 'F'));
    if (!ok)
      return 0;
  }
  errno = 0;
  char *end = NULL;
  long long v;
  if (base == 10) {
    v = strtoll(digits, &end, 10);
  } else {
    unsigned long long u = strtoull(digits, &end, base);
    if (errno == 0 && u > INT64_MAX)
      errno = ERANGE;
    v = (long long)u;
  }
  if (errno == ERANGE || end == NULL || *end != '\0')
    return -1;
  *out = v;
  return 1;
}

/* Float forms of the core schema, including .inf and .nan. */
static bool parse_float(const char *s, size_t n, double *out) {
  static const char *const inf[] = {".inf", ".Inf", ".INF", NULL};
  static const char *const nan_w[] = {".nan", ".NaN", ".NAN", NULL};
  size_t k = 0;
  int sign = 1;
  if (n > 0 && (s[0] == '-' || s[0] == '+')) {
    sign = s[0] == '-' ? -1 : 1;
    k = 1;
  }
  if (any_of(s + k, n - k, inf)) {
    *out = sign * INFINITY;
    return true;
  }
  if (k == 0 && any_of(s, n, nan_w)) {
    *out = NAN;
    return true;
  }
  /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
  size_t i = k, int_digits = 0, frac_digits = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    i++;
    int_digits++;
  }
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      i++;
      frac_digits++;
    }
  }
  if (int_digits == 0 && frac_digits == 0)
    return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+'))
      i++;
    size_t exp_digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      i++;
      exp_digits++;
    }
    if (exp_digits == 0)
      return false;
  }
  if (i != n || n >= 128)
    return false;
  char buf[128];
  memcpy(buf, s, n);
  buf[n] = '\0';
  *out = strtod(buf, NULL);
  return true;
}

/* Types a plain scalar by the core schema. Integers too large for int64
 * stay strings, so that no digit is silently lost. */
static void type_plain(tw_config_node_t *n) {
  int64_t i;
  double f;
  if (any_of(n->text, n->len, null_words)) {
    n->type = TW_CONFIG_NULL;
  } else if (any_of(n->text, n->len, true_words)) {
    n->type = TW_CONFIG_BOOL;
    n->v.b = true;
  } else if (any_of(n->text, n->len, false_words)) {
    n->type = TW_CONFIG_BOOL;
    n->v.b = false;
  } else {
    int r = parse_int(n->text, n->len, &i);
    if (r == 1) {
      n->type = TW_CONFIG_INT;
      n->v.i = i;
    } else if (r == 0 && parse_float(n->text, n->len, &f)) {
      n->type = TW_CONFIG_FLOAT;
      n->v.f = f;
    } else {
      n->type = TW_CONFIG_STRING;
    }
  }
}

tw_config_node_t *tw__cfg_scalar(tw_config_t *cfg, const char *text, int line,
                                 int col) {
  tw_config_node_t *n = tw__arena_alloc(&cfg->arena, sizeof(*n));
  if (n == NULL)
    return NULL;
  memset(n, 0, sizeof(*n));
  n->text = tw__arena_strdup(&cfg->arena, text);
  if (n->text == NULL)
    return NULL;
  n->len = strlen(text);
  n->plain = true;
  n->line = line;
  n->col = col;
  type_plain(n);
  return n;
}

/* ---- event stream to tree -------------------------------------------------
 */

typedef struct {
  tw_config_node_t *node;
  tw_config_node_t *first, *last; /* children so far, linked */
  size_t n;                       /* children so far */
  bool drop_value;                /* the key was bad: skip its value */
} frame_t;

typedef struct {
  tw_config_t *cfg;
  frame_t stack[TW_CONFIG_MAX_DEPTH + 1];
  int depth;
  size_t nodes;
  int line, col; /* last known position, for events without a mark */
  int docs;
  bool fatal; /* stop reading: a cap was hit or memory ran out */
  bool nomem;
  const char *data; /* the input, for single-quoted scalars */
  size_t len;
} builder_t;

static void note_mark(builder_t *b, const struct fy_mark *m) {
  if (m != NULL && m->line >= 0 && m->column >= 0) {
    b->line = m->line + 1;
    b->col = m->column + 1;
  }
}

static tw_config_node_t *new_node(builder_t *b, tw_config_type_t type) {
  if (++b->nodes > TW_CONFIG_MAX_NODES) {
    tw__cfg_error(b->cfg, b->line, b->col,
                  "too many YAML nodes (more than %d); stopping here",
                  TW_CONFIG_MAX_NODES);
    b->fatal = true;
    return NULL;
  }
  tw_config_node_t *n = tw__arena_alloc(&b->cfg->arena, sizeof(*n));
  if (n == NULL) {
    b->nomem = b->fatal = true;
    return NULL;
  }
  memset(n, 0, sizeof(*n));
  n->type = type;
  n->line = b->line;
  n->col = b->col;
  return n;
}

static int key_cmp_len(const tw_config_node_t *a, const tw_config_node_t *b) {
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->text, b->text, n);
  if (c != 0)
    return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

static int key_ptr_cmp(const void *x, const void *y) {
  const tw_config_node_t *a = *(tw_config_node_t *const *)x;
  const tw_config_node_t *b = *(tw_config_node_t *const *)y;
  int c = key_cmp_len(a, b);
  if (c != 0)
    return c;
  /* equal keys in file order, so the first one comes first */
  if (a->line != b->line)
    return a->line < b->line ? -1 : 1;
  return a->col < b->col ? -1 : a->col > b->col;
}

static void dup_error(builder_t *b, const tw_config_node_t *first,
                      const tw_config_node_t *again) {
  tw__cfg_error(b->cfg, again->line, again->col,
                "duplicate key '%s' (first defined at %d:%d)", again->text,
                first->line, first->col);
}

/* Reports every key that appears more than once in a map, at the later
 * occurrences. Small maps are checked pairwise; large ones (possible only in
 * hostile input) by sorting, so the check stays O(n log n). */
static void check_duplicates(builder_t *b, tw_config_node_t *map) {
  size_t n = map->count;
  if (n < 2)
    return;
  if (n <= 32) {
    for (size_t i = 1; i < n; i++)
      for (size_t j = 0; j < i; j++)
        if (key_cmp_len(map->keys[i], map->keys[j]) == 0) {
          dup_error(b, map->keys[j], map->keys[i]);
          break;
        }
    return;
  }
  tw_config_node_t **sorted = malloc(n * sizeof(*sorted));
  if (sorted == NULL) {
    b->nomem = b->fatal = true;
    return;
  }
  memcpy(sorted, map->keys, n * sizeof(*sorted));
  qsort(sorted, n, sizeof(*sorted), key_ptr_cmp);
  size_t first = 0;
  for (size_t i = 1; i < n; i++) {
    if (key_cmp_len(sorted[i], sorted[first]) == 0)
      dup_error(b, sorted[first], sorted[i]);
    else
      first = i;
  }
  free(sorted);
}

/* Turns a frame's linked children into the node's arrays. */
static void close_frame(builder_t *b, frame_t *f) {
  tw_config_node_t *node = f->node;
  size_t n = f->n;
  if (node->type == TW_CONFIG_MAP) {
    size_t pairs = n / 2;
    node->keys = tw__arena_alloc(&b->cfg->arena,
                                 (pairs ? pairs : 1) * sizeof(*node->keys));
    node->items = tw__arena_alloc(&b->cfg->arena,
                                  (pairs ? pairs : 1) * sizeof(*node->items));
    if (node->keys == NULL || node->items == NULL) {
      b->nomem = b->fatal = true;
      return;
    }
    tw_config_node_t *c = f->first;
    for (size_t i = 0; i < pairs; i++) {
      node->keys[i] = c;
      c = c->next;
      node->items[i] = c;
      c = c->next;
    }
    node->count = pairs;
    check_duplicates(b, node);
  } else {
    node->items =
        tw__arena_alloc(&b->cfg->arena, (n ? n : 1) * sizeof(*node->items));
    if (node->items == NULL) {
      b->nomem = b->fatal = true;
      return;
    }
    tw_config_node_t *c = f->first;
    for (size_t i = 0; i < n; i++, c = c->next)
      node->items[i] = c;
    node->count = n;
  }
}

/* Hands a finished node to its parent (or makes it the root). */
static void attach(builder_t *b, tw_config_node_t *n) {
  if (b->depth == 0) {
    b->cfg->root = n;
    return;
  }
  frame_t *f = &b->stack[b->depth - 1];
  if (f->node->type == TW_CONFIG_MAP) {
    bool is_key = f->n % 2 == 0 && !f->drop_value;
    if (f->drop_value) {
      f->drop_value = false;
      return;
    }
    if (is_key) {
      if (n->type == TW_CONFIG_LIST || n->type == TW_CONFIG_MAP) {
        tw__cfg_error(b->cfg, n->line, n->col,
                      "a mapping key must be a scalar, not a %s",
                      n->type == TW_CONFIG_LIST ? "list" : "map");
        f->drop_value = true;
        return;
      }
      if (n->len == 0) {
        tw__cfg_error(b->cfg, n->line, n->col, "empty mapping key");
        f->drop_value = true;
        return;
      }
      /* Keys are names, whatever they look like ("1", "true"). */
      n->type = TW_CONFIG_STRING;
    }
  }
  if (f->last != NULL)
    f->last->next = n;
  else
    f->first = n;
  f->last = n;
  f->n++;
}

static bool push(builder_t *b, tw_config_node_t *n) {
  if (b->depth >= TW_CONFIG_MAX_DEPTH) {
    tw__cfg_error(b->cfg, n->line, n->col,
                  "nesting deeper than %d levels; stopping here",
                  TW_CONFIG_MAX_DEPTH);
    b->fatal = true;
    return false;
  }
  frame_t *f = &b->stack[b->depth++];
  memset(f, 0, sizeof(*f));
  f->node = n;
  return true;
}

static void pop(builder_t *b) {
  if (b->depth == 0)
    return;
  frame_t *f = &b->stack[--b->depth];
  close_frame(b, f);
  if (!b->fatal)
    attach(b, f->node);
}

#define TAG_PREFIX "tag:yaml.org,2002:"

/* Applies an explicit tag: the core schema's tags force or check a type;
 * "!" (non-specific) makes a plain scalar a string; other tags are refused
 * rather than silently ignored. Returns false after reporting an error. */
static bool apply_tag(builder_t *b, tw_config_node_t *n, struct fy_token *tag,
                      bool scalar) {
  if (tag == NULL)
    return true;
  size_t tl = 0;
  const char *t = fy_token_get_text(tag, &tl);
  if (t == NULL)
    return true;
  size_t pl = strlen(TAG_PREFIX);
  if (text_is(t, tl, "!")) {
    if (scalar) {
      n->type = TW_CONFIG_STRING;
      n->plain = false;
    }
    return true;
  }
  if (tl > pl && memcmp(t, TAG_PREFIX, pl) == 0) {
    const char *name = t + pl;
    size_t nl = tl - pl;
    tw_config_type_t want;
    if (text_is(name, nl, "str")) {
      if (scalar) {
        n->type = TW_CONFIG_STRING;
        n->plain = false;
        return true;
      }
      want = TW_CONFIG_STRING;
    } else if (text_is(name, nl, "int")) {
      want = TW_CONFIG_INT;
    } else if (text_is(name, nl, "float")) {
      want = TW_CONFIG_FLOAT;
      if (n->type == TW_CONFIG_INT) {
        n->v.f = (double)n->v.i;
        n->type = TW_CONFIG_FLOAT;
      }
    } else if (text_is(name, nl, "bool")) {
      want = TW_CONFIG_BOOL;
    } else if (text_is(name, nl, "null")) {
      want = TW_CONFIG_NULL;
    } else if (text_is(name, nl, "seq")) {
      want = TW_CONFIG_LIST;
    } else if (text_is(name, nl, "map")) {
      want = TW_CONFIG_MAP;
    } else {
      goto unsupported;
    }
    if (n->type != want) {
      tw__cfg_error(b->cfg, n->line, n->col,
                    "value does not match its tag !!%.*s", (int)nl, name);
      n->invalid = true;
      return false;
    }
    return true;
  }
unsupported:
  tw__cfg_error(b->cfg, n->line, n->col, "unsupported YAML tag '%.*s'",
                (int)(tl > 64 ? 64 : tl), t);
  n->invalid = true;
  return false;
}

/* Decodes the raw text between the quotes of a single-quoted scalar: two
 * quotes are one, and line breaks fold as YAML 1.2 says (white space around
 * them dropped, one break is a space, n breaks are n-1 newlines). Done here
 * because libfyaml 0.7.12's fy_token_get_text() decodes consecutive quote
 * escapes wrongly ('x''''y' gives "x'''" instead of "x''y") and leaks memory
 * on them (found by fuzz_config). Writes at most n bytes to out and returns
 * the length. */
static size_t decode_single_quoted(const char *raw, size_t n, char *out) {
  size_t o = 0, i = 0;
  while (i < n) {
    char c = raw[i];
    if (c == '\'' && i + 1 < n && raw[i + 1] == '\'') {
      out[o++] = '\'';
      i += 2;
    } else if (c == '\n' || c == '\r') {
      while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
        o--;
      size_t breaks = 0;
      while (i < n && (raw[i] == '\n' || raw[i] == '\r')) {
        i += raw[i] == '\r' && i + 1 < n && raw[i + 1] == '\n' ? 2 : 1;
        breaks++;
        while (i < n && (raw[i] == ' ' || raw[i] == '\t'))
          i++;
      }
      if (breaks == 1) {
        out[o++] = ' ';
      } else {
        for (size_t k = 1; k < breaks; k++)
          out[o++] = '\n';
      }
    } else {
      out[o++] = c;
      i++;
    }
  }
  return o;
}

static void on_scalar(builder_t *b, struct fy_event *e) {
  tw_config_node_t *n = new_node(b, TW_CONFIG_STRING);
  if (n == NULL)
    return;
  enum fy_scalar_style style = fy_token_scalar_style(e->scalar.value);
  /* libfyaml marks a quoted scalar at its first character, just after the
   * opening quote (on the quote's line even when the text starts with a
   * line break); people expect the column of the quote. */
  if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) &&
      n->col > 1)
    n->col--;
  size_t len = 0;
  const char *text = NULL;
  char *decoded = NULL;
  const struct fy_mark *ms = fy_token_start_mark(e->scalar.value);
  const struct fy_mark *me = fy_token_end_mark(e->scalar.value);
  if (style == FYSS_SINGLE_QUOTED && ms != NULL && me != NULL &&
      ms->input_pos <= me->input_pos && me->input_pos <= b->len) {
    size_t raw = me->input_pos - ms->input_pos;
    decoded = malloc(raw + 1);
    if (decoded == NULL) {
      b->nomem = b->fatal = true;
      return;
    }
    len = decode_single_quoted(b->data + ms->input_pos, raw, decoded);
    text = decoded;
  } else {
    text = fy_token_get_text(e->scalar.value, &len);
  }
  if (text == NULL) {
    text = "";
    len = 0;
  }
  bool too_long = len > TW_CONFIG_MAX_STR;
  if (too_long) {
    tw__cfg_error(b->cfg, n->line, n->col,
                  "value longer than %d bytes; shortened", TW_CONFIG_MAX_STR);
    len = TW_CONFIG_MAX_STR;
  }
  bool has_nul = memchr(text, '\0', len) != NULL;
  if (has_nul)
    tw__cfg_error(b->cfg, n->line, n->col,
                  "value contains a NUL character (\\0)");
  n->text = tw__arena_strndup(&b->cfg->arena, text, len);
  free(decoded);
  if (n->text == NULL) {
    b->nomem = b->fatal = true;
    return;
  }
  /* An embedded NUL was reported above; the string is cut there so that C
   * code never sees past it. */
  n->len = strlen(n->text);
  n->invalid = has_nul || too_long;
  if (style == FYSS_PLAIN) {
    n->plain = true;
    type_plain(n);
  }
  apply_tag(b, n, e->scalar.tag, true);
  attach(b, n);
}

static void on_collection(builder_t *b, struct fy_event *e,
                          tw_config_type_t type) {
  tw_config_node_t *n = new_node(b, type);
  if (n == NULL)
    return;
  struct fy_token *tag =
      type == TW_CONFIG_MAP ? e->mapping_start.tag : e->sequence_start.tag;
  apply_tag(b, n, tag, false);
  push(b, n);
}

static void on_event(builder_t *b, struct fy_event *e) {
  note_mark(b, fy_event_start_mark(e));
  switch (e->type) {
  case FYET_DOCUMENT_START:
    if (++b->docs > 1) {
      tw__cfg_error(b->cfg, b->line, b->col,
                    "a configuration holds one YAML document; a second one "
                    "starts here");
      b->fatal = true;
    }
    break;
  case FYET_MAPPING_START:
    on_collection(b, e, TW_CONFIG_MAP);
    break;
  case FYET_SEQUENCE_START:
    on_collection(b, e, TW_CONFIG_LIST);
    break;
  case FYET_MAPPING_END:
  case FYET_SEQUENCE_END:
    pop(b);
    break;
  case FYET_SCALAR:
    on_scalar(b, e);
    break;
  case FYET_ALIAS: {
    tw__cfg_error(b->cfg, b->line, b->col,
                  "YAML aliases (*name) are not supported in the "
                  "configuration; write the value out");
    /* A placeholder keeps keys and values paired. */
    tw_config_node_t *n = new_node(b, TW_CONFIG_NULL);
    if (n != NULL) {
      n->text = "";
      n->invalid = true;
      attach(b, n);
    }
    break;
  }
  default:
    break;
  }
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid
 * (RFC 3629: no overlongs, surrogates or code points above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80)
    return 1;
  size_t len = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
  if (len == 0 || n < len)
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
      (c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
    return 0;
  return len;
}

/* A configuration is UTF-8 text without NUL bytes. Checked before libfyaml
 * sees it: besides giving a clear message, this keeps libfyaml 0.7.12 out
 * of an endless loop it enters on a directive line ('%') followed by
 * invalid UTF-8 (found by fuzz_config). Returns false after reporting the
 * first bad byte with its position. */
static bool check_text(tw_config_t *cfg, const char *data, size_t len) {
  const unsigned char *u = (const unsigned char *)data;
  int line = 1, col = 1;
  for (size_t i = 0; i < len;) {
    size_t l = u[i] == 0 ? 0 : utf8_len(u + i, len - i);
    if (l == 0) {
      if (u[i] == 0)
        tw__cfg_error(cfg, line, col, "the file contains a NUL byte");
      else
        tw__cfg_error(cfg, line, col,
                      "the file is not valid UTF-8 (byte 0x%02X); save it "
                      "as UTF-8",
                      u[i]);
      return false;
    }
    if (u[i] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
    i += l;
  }
  return true;
}

/* A light lexical pass over the (valid UTF-8) text, before libfyaml, that
 * refuses three YAML features a configuration never needs: directives
 * ('%YAML' at the start of a line), explicit keys ('? key') and tabs used
 * for indentation. libfyaml 0.7.12 crashes in its error paths around them
 * (a NULL write in fy_parser_destroy() after "? k:\n  h: <tab>:", found by
 * fuzz_config; compare libfyaml issue #57), so they never reach it.
 *
 * The pass knows just enough YAML not to look inside comments, quoted
 * strings and block scalars: it tracks whether the next character would
 * start a node (start of a line, after "- ", after ": ", inside [ { ,),
 * since only there can '?', quotes and '|' or '>' be indicators. A plain
 * scalar continued on a line that starts with "? " would be refused by
 * mistake; that is the price of not writing a second YAML parser. Returns
 * false after reporting the first problem. */
static bool prescan(tw_config_t *cfg, const char *data, size_t len) {
  enum { PLAIN, SQ, DQ } str = PLAIN;
  int flow = 0;    /* depth of [ and { */
  long block = -1; /* indentation of a block scalar's parent line */
  size_t i = 0;
  int line = 1;
  while (i < len) {
    /* one line: [i, end) */
    size_t end = i;
    while (end < len && data[end] != '\n')
      end++;
    size_t indent = 0;
    while (i + indent < end && data[i + indent] == ' ')
      indent++;
    bool blank = i + indent == end || data[i + indent] == '\r' ||
                 data[i + indent] == '#';
    if (block >= 0 && str == PLAIN) {
      if (blank || (long)indent > block) {
        i = end + 1;
        line++;
        continue; /* block scalar content */
      }
      block = -1;
    }
    size_t p = i + indent;
    if (str == PLAIN && flow == 0 && p < end && data[p] == '\t') {
      /* a tab before the first non-blank of a line (blank lines and
       * comment lines aside) */
      size_t q = p;
      while (q < end && (data[q] == '\t' || data[q] == ' '))
        q++;
      if (q < end && data[q] != '#' && data[q] != '\r') {
        tw__cfg_error(cfg, line, (int)indent + 1,
                      "tab character used for indentation; indent with "
                      "spaces");
        return false;
      }
    }
    if (str == PLAIN && flow == 0 && indent == 0 && p < end && data[p] == '%') {
      tw__cfg_error(cfg, line, 1,
                    "YAML directives ('%%...') are not supported in the "
                    "configuration");
      return false;
    }
    bool node = str == PLAIN; /* could a node start here? */
    int col = (int)indent + 1;
    for (; p < end; p++) {
      char c = data[p];
      char next = p + 1 < end ? data[p + 1] : '\n';
      bool sep_next =
          next == ' ' || next == '\t' || next == '\n' || next == '\r';
      if ((unsigned char)c < 0x80 || (unsigned char)c >= 0xC0)
        col++; /* columns count characters, not bytes */
      if (str == SQ) {
        if (c == '\'') {
          if (next == '\'')
            p++;
          else
            str = PLAIN;
        }
        continue;
      }
      if (str == DQ) {
        if (c == '\\')
          p++;
        else if (c == '"')
          str = PLAIN;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\r')
        continue;
      if (c == '#' && (p == i || data[p - 1] == ' ' || data[p - 1] == '\t'))
        break; /* comment */
      if (node && c == '?' && (sep_next || (flow > 0 && next == ','))) {
        tw__cfg_error(cfg, line, col - 1,
                      "explicit keys ('? key') are not supported in the "
                      "configuration; write 'key: value'");
        return false;
      }
      if (node && (c == '\'' || c == '"')) {
        str = c == '\'' ? SQ : DQ;
        node = false;
        continue;
      }
      if (node && flow == 0 && (c == '|' || c == '>')) {
        block = (long)indent;
        break; /* the header's rest is indicators and a comment */
      }
      if (node && c == '-' && sep_next)
        continue; /* a sequence entry: a node may follow */
      if (c == '[' || c == '{') {
        if (node || flow > 0) {
          flow++;
          node = true;
          continue;
        }
      } else if ((c == ']' || c == '}') && flow > 0) {
        flow--;
        node = false;
        continue;
      } else if (c == ',' && flow > 0) {
        node = true;
        continue;
      } else if (c == ':' &&
                 (sep_next ||
                  (flow > 0 && (next == ',' || next == ']' || next == '}')))) {
        node = true;
        continue;
      }
      node = false; /* inside a plain scalar, an anchor, a tag... */
    }
    i = end + 1;
    line++;
  }
  return true;
}

/* libfyaml must never write to stderr on its own: with collection on,
 * errors are kept for us, and anything else lands here and is dropped. */
static void diag_sink(struct fy_diag *diag, void *user, const char *buf,
                      size_t len) {
  (void)diag;
  (void)user;
  (void)buf;
  (void)len;
}

int tw__cfg_parse(tw_config_t *cfg, const char *data, size_t len) {
  if (!check_text(cfg, data, len) || !prescan(cfg, data, len))
    return TW_ECONFIG;
  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.output_fn = diag_sink;
  dcfg.user = NULL;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  if (diag == NULL)
    return TW_ENOMEM;
  fy_diag_set_collect_errors(diag, true);

  struct fy_parse_cfg pcfg;
  memset(&pcfg, 0, sizeof(pcfg));
  pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE |
               FYPCF_DISABLE_MMAP_OPT;
  pcfg.diag = diag;
  struct fy_parser *fyp = fy_parser_create(&pcfg);
  if (fyp == NULL) {
    fy_diag_destroy(diag);
    return TW_ENOMEM;
  }
  builder_t *b = calloc(1, sizeof(*b));
  if (b == NULL) {
    fy_parser_destroy(fyp);
    fy_diag_destroy(diag);
    return TW_ENOMEM;
  }
  b->cfg = cfg;
  b->line = b->col = 1;
  b->data = data;
  b->len = len;
  int rc = 0;
  if (fy_parser_set_string(fyp, data, len) != 0) {
    rc = TW_ENOMEM;
  } else {
    struct fy_event *e;
    while (!b->fatal && (e = fy_parser_parse(fyp)) != NULL) {
      on_event(b, e);
      fy_parser_event_free(fyp, e);
    }
  }
  bool syntax = fy_parser_get_stream_error(fyp);
  void *it = NULL;
  struct fy_diag_error *de;
  int nsyntax = 0;
  while ((de = fy_diag_errors_iterate(diag, &it)) != NULL) {
    if (de->type < FYET_ERROR)
      continue;
    tw__cfg_error(cfg, de->line > 0 ? de->line : 1,
                  de->column > 0 ? de->column : 1, "YAML syntax error: %s",
                  de->msg ? de->msg : "malformed input");
    nsyntax++;
  }
  if (syntax && nsyntax == 0)
    tw__cfg_error(cfg, b->line, b->col, "YAML syntax error");
  /* After a syntax error the tree is incomplete; nothing else is checked. */
  if (syntax || b->fatal)
    cfg->root = NULL;
  bool nomem = b->nomem;
  free(b);
  fy_parser_destroy(fyp);
  /* destroy, not unref: only destroy frees the collected errors */
  fy_diag_destroy(diag);
  if (rc != 0)
    return rc;
  if (nomem)
    return TW_ENOMEM;
  return cfg->errors.n > 0 || syntax ? TW_ECONFIG : 0;
}

/* ---- generic node access --------------------------------------------------
 */

tw_config_type_t tw_config_node_type(const tw_config_node_t *n) {
  return n ? n->type : TW_CONFIG_NULL;
}

const char *tw_config_node_string(const tw_config_node_t *n) {
  if (n == NULL || n->type == TW_CONFIG_LIST || n->type == TW_CONFIG_MAP)
    return NULL;
  return n->text;
}

bool tw_config_node_bool(const tw_config_node_t *n) {
  return n && n->type == TW_CONFIG_BOOL ? n->v.b : false;
}

int64_t tw_config_node_int(const tw_config_node_t *n) {
  return n && n->type == TW_CONFIG_INT ? n->v.i : 0;
}

double tw_config_node_float(const tw_config_node_t *n) {
  if (n == NULL)
    return 0.0;
  if (n->type == TW_CONFIG_FLOAT)
    return n->v.f;
  if (n->type == TW_CONFIG_INT)
    return (double)n->v.i;
  return 0.0;
}

size_t tw_config_node_size(const tw_config_node_t *n) {
  return n && (n->type == TW_CONFIG_LIST || n->type == TW_CONFIG_MAP) ? n->count
                                                                      : 0;
}

const tw_config_node_t *tw_config_node_item(const tw_config_node_t *n,
                                            size_t i) {
  if (i >= tw_config_node_size(n))
    return NULL;
  return n->items[i];
}

const char *tw_config_node_key(const tw_config_node_t *n, size_t i) {
  if (n == NULL || n->type != TW_CONFIG_MAP || i >= n->count)
    return NULL;
  return n->keys[i]->text;
}

const tw_config_node_t *tw_config_node_get(const tw_config_node_t *n,
                                           const char *key) {
  if (n == NULL || key == NULL || n->type != TW_CONFIG_MAP)
    return NULL;
  for (size_t i = 0; i < n->count; i++)
    if (strcmp(n->keys[i]->text, key) == 0)
      return n->items[i];
  return NULL;
}

int tw_config_node_line(const tw_config_node_t *n) {
  return n ? n->line : 0;
}

int tw_config_node_col(const tw_config_node_t *n) {
  return n ? n->col : 0;
}

const char *tw_config_type_name(tw_config_type_t type) {
  switch (type) {
  case TW_CONFIG_NULL:
    return "null";
  case TW_CONFIG_BOOL:
    return "bool";
  case TW_CONFIG_INT:
    return "int";
  case TW_CONFIG_FLOAT:
    return "float";
  case TW_CONFIG_STRING:
    return "string";
  case TW_CONFIG_LIST:
    return "list";
  case TW_CONFIG_MAP:
    return "map";
  }
  return "unknown";
}
