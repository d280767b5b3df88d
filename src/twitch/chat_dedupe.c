/* The bounded key set of chat_dedupe.h. */
#include "twitch/chat_dedupe.h"

#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"

/* FNV-1a over the key, then a 64-bit finaliser (splitmix64) so that keys
 * differing in their last bytes spread over the whole table. Message ids
 * are chosen by Twitch, not by chatters, so no keyed hash is needed. */
static uint64_t hash_key(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h ? h : 1; /* 0 marks an empty slot */
}

int tw__chat_dedupe_init(tw__chat_dedupe_t *d, size_t cap) {
  size_t size = 2;
  if (!d || cap < 1 || cap > (SIZE_MAX >> 4))
    return TW_EINVAL;
  memset(d, 0, sizeof(*d));
  while (size < 2 * cap)
    size <<= 1;
  d->table = calloc(size, sizeof(*d->table));
  d->ring = calloc(cap, sizeof(*d->ring));
  if (!d->table || !d->ring) {
    tw__chat_dedupe_free(d);
    return TW_ENOMEM;
  }
  d->mask = size - 1;
  d->cap = cap;
  return 0;
}

void tw__chat_dedupe_free(tw__chat_dedupe_t *d) {
  if (!d)
    return;
  free(d->table);
  free(d->ring);
  memset(d, 0, sizeof(*d));
}

void tw__chat_dedupe_clear(tw__chat_dedupe_t *d) {
  if (!d->table || d->count == 0)
    return;
  memset(d->table, 0, (d->mask + 1) * sizeof(*d->table));
  d->head = d->count = 0;
}

/* Removes h from the table, shifting later entries of its probe run back
 * so that lookups never stop early at the hole (no tombstones needed). */
static void table_remove(tw__chat_dedupe_t *d, uint64_t h) {
  size_t i = h & d->mask;
  while (d->table[i] != h) {
    if (d->table[i] == 0)
      return;
    i = (i + 1) & d->mask;
  }
  size_t hole = i;
  for (;;) {
    i = (i + 1) & d->mask;
    if (d->table[i] == 0)
      break;
    size_t home = d->table[i] & d->mask;
    /* The entry may move into the hole when its home is not in the cyclic
     * range (hole, i]. */
    int in_range =
        hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!in_range) {
      d->table[hole] = d->table[i];
      hole = i;
    }
  }
  d->table[hole] = 0;
}

bool tw__chat_dedupe_check(tw__chat_dedupe_t *d, const char *key, size_t len) {
  uint64_t h = hash_key(key, len);
  size_t i = h & d->mask;
  while (d->table[i] != 0) {
    if (d->table[i] == h)
      return true;
    i = (i + 1) & d->mask;
  }
  if (d->count == d->cap) {
    /* Forget the oldest key; the slot found above may move, so look again
     * after the removal. */
    size_t oldest = (d->head + d->cap - d->count) % d->cap;
    table_remove(d, d->ring[oldest]);
    d->count--;
    i = h & d->mask;
    while (d->table[i] != 0)
      i = (i + 1) & d->mask;
  }
  d->table[i] = h;
  d->ring[d->head] = h;
  d->head = (d->head + 1) % d->cap;
  d->count++;
  return false;
}

size_t tw__chat_dedupe_count(const tw__chat_dedupe_t *d) {
  return d->count;
}
