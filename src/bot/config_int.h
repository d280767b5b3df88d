/* twitchd: configuration internals shared by config.c (public API),
 * config_tree.c (YAML to a positioned tree) and config_schema.c (the
 * declarative schema and its validators). */
#ifndef TW_BOT_CONFIG_INT_H
#define TW_BOT_CONFIG_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twitchd/config.h"

/* A bump allocator: every string and node of one configuration lives in it
 * and goes away with it, so that a failed or fuzzed load cannot leak. */
typedef struct tw__arena_chunk tw__arena_chunk_t;
typedef struct {
  tw__arena_chunk_t *head;
  size_t total; /* bytes allocated, checked against a cap */
} tw__arena_t;

void *tw__arena_alloc(tw__arena_t *a, size_t n);
char *tw__arena_strndup(tw__arena_t *a, const char *s, size_t n);
char *tw__arena_strdup(tw__arena_t *a, const char *s);
char *tw__arena_printf(tw__arena_t *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tw__arena_free(tw__arena_t *a);

struct tw_config_node {
  tw_config_type_t type;
  int line, col;    /* 1-based */
  const char *text; /* scalars: value (STRING) or source text */
  size_t len;       /* of text */
  bool plain;       /* a plain (unquoted) scalar */
  bool invalid;     /* already reported (alias, bad tag): not re-checked */
  union {
    bool b;
    int64_t i;
    double f;
  } v;
  size_t count;                  /* LIST items, MAP pairs */
  struct tw_config_node **items; /* LIST items, MAP values */
  struct tw_config_node **keys;  /* MAP keys (STRING-typed scalars) */
  /* Build-time sibling link, turned into the arrays above on close. */
  struct tw_config_node *next;
};

typedef struct {
  tw_config_diag_t *v;
  size_t n, cap;
  size_t limit;   /* entries kept before "too many" */
  bool truncated; /* the "too many" entry was added */
} tw__diag_list_t;

struct tw_config {
  tw__arena_t arena;
  bool loaded;
  bool valid;
  const char *source; /* name for messages */
  const char *dir;    /* directory for relative paths, NULL for buffers */
  tw__diag_list_t errors;
  tw__diag_list_t notes;
  tw_config_node_t *root;
  /* validated values */
  bool has_twitch;
  tw_config_twitch_t twitch;
  tw_config_logging_t logging;
  tw_config_web_t web;
  tw_config_skill_t *skills;
  size_t skill_count;
};

/* Adds an error / note at line:col (1-based; 0 for none). */
void tw__cfg_error(tw_config_t *cfg, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tw__cfg_note(tw_config_t *cfg, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses `len` bytes of YAML into cfg->root, recording syntax and structure
 * errors (duplicate keys, aliases, caps) in cfg. Returns 0, TW_ECONFIG or
 * TW_ENOMEM. */
int tw__cfg_parse(tw_config_t *cfg, const char *data, size_t len);

/* Validates cfg->root against the schema and fills the typed sections,
 * recording every problem. Returns 0, TW_ECONFIG or TW_ENOMEM. */
int tw__cfg_validate(tw_config_t *cfg);

/* A scalar node made from text as a plain scalar would be (used for schema
 * defaults, so that they go through the same validators). */
tw_config_node_t *tw__cfg_scalar(tw_config_t *cfg, const char *text, int line,
                                 int col);

/* Secrets: calls fn for every set string the schema marks secret. */
void tw__cfg_foreach_secret(const tw_config_t *cfg,
                            void (*fn)(const char *secret, void *arg),
                            void *arg);

#endif
