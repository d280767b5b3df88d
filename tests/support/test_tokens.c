/* A token source for tests (see test_tokens.h). */
#include "test_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"

typedef struct {
  tw_token_ready_cb cb;
  void *arg;
} tt_waiter_t;

struct test_tokens {
  uv_timer_t timer;
  char token[TT_MAX_TOKEN];
  char user[64];
  tt_mint_fn mint;
  void *mint_ud;
  tt_waiter_t waiters[TT_MAX_WAITERS];
  size_t nwaiters;
  unsigned calls, refreshes;
};

static const char *cur(void *ud) {
  test_tokens_t *t = ud;
  return t->token[0] ? t->token : NULL;
}

static const char *uid(void *ud) {
  test_tokens_t *t = ud;
  return t->user;
}

static void on_timer(uv_timer_t *h) {
  test_tokens_t *t = h->data;
  t->refreshes++;
  char fresh[TT_MAX_TOKEN];
  int rc = t->mint ? t->mint(t->mint_ud, fresh, sizeof(fresh)) : TW_EAUTH;
  if (rc == 0)
    snprintf(t->token, sizeof(t->token), "%s", fresh);
  /* Callbacks may ask again: take the list first. */
  tt_waiter_t w[TT_MAX_WAITERS];
  size_t n = t->nwaiters;
  memcpy(w, t->waiters, n * sizeof(w[0]));
  t->nwaiters = 0;
  for (size_t i = 0; i < n; i++)
    w[i].cb(w[i].arg, rc, rc == 0 ? t->token : NULL);
}

static int refresh(void *ud, const char *rejected, tw_token_ready_cb cb,
                   void *arg) {
  (void)rejected;
  test_tokens_t *t = ud;
  t->calls++;
  if (t->nwaiters >= TT_MAX_WAITERS)
    return TW_EFULL;
  t->waiters[t->nwaiters].cb = cb;
  t->waiters[t->nwaiters].arg = arg;
  if (t->nwaiters++ == 0)
    uv_timer_start(&t->timer, on_timer, 0, 0);
  return 0;
}

static void cancel(void *ud, tw_token_ready_cb cb, void *arg) {
  test_tokens_t *t = ud;
  for (size_t i = 0; i < t->nwaiters; i++) {
    if (t->waiters[i].cb == cb && t->waiters[i].arg == arg) {
      memmove(&t->waiters[i], &t->waiters[i + 1],
              (t->nwaiters - i - 1) * sizeof(t->waiters[0]));
      t->nwaiters--;
      return;
    }
  }
}

test_tokens_t *tt_new(uv_loop_t *loop, const char *token, const char *user_id,
                      tt_mint_fn mint, void *mint_ud) {
  test_tokens_t *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  snprintf(t->token, sizeof(t->token), "%s", token ? token : "");
  snprintf(t->user, sizeof(t->user), "%s", user_id ? user_id : "");
  t->mint = mint;
  t->mint_ud = mint_ud;
  return t;
}

tw_token_source_t tt_source(test_tokens_t *t) {
  tw_token_source_t s = {cur, uid, refresh, cancel, t};
  return s;
}

const char *tt_current(test_tokens_t *t) {
  return t->token;
}

unsigned tt_refresh_calls(test_tokens_t *t) {
  return t->calls;
}

unsigned tt_refreshes(test_tokens_t *t) {
  return t->refreshes;
}

static void on_closed(uv_handle_t *h) {
  free(h->data);
}

void tt_free(test_tokens_t *t) {
  if (t)
    uv_close((uv_handle_t *)&t->timer, on_closed);
}
