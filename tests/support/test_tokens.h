/* A token source for tests (twitchd/token_source.h): hands out a current
 * token and, on refresh, a new one that a `mint` hook produces (a sim
 * registers a fresh token; plain tests take the next name of a list).
 * Refreshes are single-flight like the real credentials manager's: every
 * request made while one is running shares it, and each gets its callback
 * from the loop (a 0 ms timer), never from inside refresh(). */
#ifndef TWITCHD_TEST_TOKENS_H
#define TWITCHD_TEST_TOKENS_H

#include <stddef.h>

#include <uv.h>

#include "twitchd/token_source.h"

#define TT_MAX_TOKEN 256
#define TT_MAX_WAITERS 64

typedef struct test_tokens test_tokens_t;

/* Writes a new token into out (capacity cap); returns 0, or a TW_E* code
 * that refresh callbacks then receive. */
typedef int (*tt_mint_fn)(void *ud, char *out, size_t cap);

/* `token` may be NULL (no token until the first refresh); `user_id` is
 * the token's user. Both copied. */
test_tokens_t *tt_new(uv_loop_t *loop, const char *token, const char *user_id,
                      tt_mint_fn mint, void *mint_ud);
/* The interface to give to a client (ud is the test source). */
tw_token_source_t tt_source(test_tokens_t *t);
const char *tt_current(test_tokens_t *t);
/* refresh() calls made and refreshes actually run (single-flight). */
unsigned tt_refresh_calls(test_tokens_t *t);
unsigned tt_refreshes(test_tokens_t *t);
/* Closes the timer; the memory is freed in its close callback. */
void tt_free(test_tokens_t *t);

#endif
