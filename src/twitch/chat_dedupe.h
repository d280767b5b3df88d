/* twitchd: a bounded set of recently seen message keys (private to
 * src/twitch).
 *
 * Used by the chat session while two connections overlap after a RECONNECT:
 * both receive the same lines for a while, and each line must reach the bot
 * once. Keys are hashed to 64 bits (a collision would drop one event; with
 * 4096 keys the odds are about 1 in 10^12) and kept in insertion order, the
 * oldest forgotten first when the set is full, so memory never grows.
 */
#ifndef TWITCHD_TWITCH_CHAT_DEDUPE_H
#define TWITCHD_TWITCH_CHAT_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t *table; /* open addressing, linear probing; 0 = empty */
  size_t mask;     /* table size - 1 (a power of two, >= 2 * cap) */
  uint64_t *ring;  /* keys in insertion order */
  size_t cap, head, count;
} tw__chat_dedupe_t;

/* Prepares a set for at most `cap` keys (>= 1). Returns 0, TW_EINVAL or
 * TW_ENOMEM. */
int tw__chat_dedupe_init(tw__chat_dedupe_t *d, size_t cap);

/* Frees the memory; the set must be initialised again before reuse. */
void tw__chat_dedupe_free(tw__chat_dedupe_t *d);

/* Forgets every key. */
void tw__chat_dedupe_clear(tw__chat_dedupe_t *d);

/* True when key[0..len) is in the set; otherwise adds it (forgetting the
 * oldest key if full) and returns false. */
bool tw__chat_dedupe_check(tw__chat_dedupe_t *d, const char *key, size_t len);

/* Keys held. */
size_t tw__chat_dedupe_count(const tw__chat_dedupe_t *d);

#endif
