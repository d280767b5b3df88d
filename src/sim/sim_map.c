/* String-keyed hash map (see sim_map.h). */
#include "sim/sim_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"

static uint64_t hash(const char *k, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)k[i];
    h *= 1099511628211ull;
  }
  return h;
}

void tw__simmap_init(tw__simmap_t *m) {
  m->buckets = NULL;
  m->nbuckets = 0;
  m->count = 0;
}

void tw__simmap_free(tw__simmap_t *m) {
  for (size_t i = 0; i < m->nbuckets; i++) {
    tw__simmap_ent_t *e = m->buckets[i];
    while (e) {
      tw__simmap_ent_t *next = e->next;
      free(e);
      e = next;
    }
  }
  free(m->buckets);
  tw__simmap_init(m);
}

static tw__simmap_ent_t **slot(const tw__simmap_t *m, const char *key,
                               size_t klen) {
  if (m->nbuckets == 0)
    return NULL;
  tw__simmap_ent_t **p = &m->buckets[hash(key, klen) & (m->nbuckets - 1)];
  while (*p && !((*p)->klen == klen && memcmp((*p)->key, key, klen) == 0))
    p = &(*p)->next;
  return p;
}

void *tw__simmap_get(const tw__simmap_t *m, const char *key, size_t klen) {
  tw__simmap_ent_t **p = slot(m, key, klen);
  return p && *p ? (*p)->value : NULL;
}

static int grow(tw__simmap_t *m) {
  size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
  tw__simmap_ent_t **b = calloc(n, sizeof(*b));
  if (!b)
    return TW_ENOMEM;
  for (size_t i = 0; i < m->nbuckets; i++) {
    tw__simmap_ent_t *e = m->buckets[i];
    while (e) {
      tw__simmap_ent_t *next = e->next;
      size_t j = hash(e->key, e->klen) & (n - 1);
      e->next = b[j];
      b[j] = e;
      e = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = n;
  return 0;
}

int tw__simmap_put(tw__simmap_t *m, const char *key, size_t klen, void *value) {
  tw__simmap_ent_t **p = slot(m, key, klen);
  if (p && *p) {
    (*p)->value = value;
    return 0;
  }
  /* Keep chains short: at most one entry per bucket on average. */
  if (m->count + 1 > m->nbuckets) {
    if (grow(m) != 0)
      return TW_ENOMEM;
  }
  tw__simmap_ent_t *e = malloc(sizeof(*e) + klen + 1);
  if (!e)
    return TW_ENOMEM;
  memcpy(e->key, key, klen);
  e->key[klen] = '\0';
  e->klen = klen;
  e->value = value;
  size_t j = hash(key, klen) & (m->nbuckets - 1);
  e->next = m->buckets[j];
  m->buckets[j] = e;
  m->count++;
  return 0;
}

void *tw__simmap_del(tw__simmap_t *m, const char *key, size_t klen) {
  tw__simmap_ent_t **p = slot(m, key, klen);
  if (!p || !*p)
    return NULL;
  tw__simmap_ent_t *e = *p;
  void *v = e->value;
  *p = e->next;
  free(e);
  m->count--;
  return v;
}

void tw__simmap_each(const tw__simmap_t *m,
                     void (*fn)(void *ud, const char *key, void *value),
                     void *ud) {
  for (size_t i = 0; i < m->nbuckets; i++)
    for (tw__simmap_ent_t *e = m->buckets[i]; e; e = e->next)
      fn(ud, e->key, e->value);
}
