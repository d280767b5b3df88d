/* A small string-keyed hash map for the simulator (users, tokens, rooms,
 * per-room members). Chained buckets, FNV-1a hashing, keys copied, values
 * borrowed (the owner frees them, usually while walking the map before
 * tw__simmap_free()). It grows by doubling; the number of entries is bounded
 * by the caller's caps (TW_SIM_MAX_USERS...). */
#ifndef TW_SIM_MAP_H
#define TW_SIM_MAP_H

#include <stddef.h>

typedef struct tw__simmap_ent tw__simmap_ent_t;
struct tw__simmap_ent {
  tw__simmap_ent_t *next;
  void *value;
  size_t klen;
  char key[]; /* NUL-terminated copy */
};

typedef struct {
  tw__simmap_ent_t **buckets;
  size_t nbuckets; /* a power of two, or 0 before the first put */
  size_t count;
} tw__simmap_t;

void tw__simmap_init(tw__simmap_t *m);
/* Frees the entries and the table (not the values). */
void tw__simmap_free(tw__simmap_t *m);
/* The value for key[0..klen), or NULL. */
void *tw__simmap_get(const tw__simmap_t *m, const char *key, size_t klen);
/* Inserts or replaces. Returns 0 or TW_ENOMEM. */
int tw__simmap_put(tw__simmap_t *m, const char *key, size_t klen, void *value);
/* Removes the key and returns its value (NULL when absent). */
void *tw__simmap_del(tw__simmap_t *m, const char *key, size_t klen);
/* Walks every entry in no particular order; `fn` must not change the map.
 */
void tw__simmap_each(const tw__simmap_t *m,
                     void (*fn)(void *ud, const char *key, void *value),
                     void *ud);

#endif
