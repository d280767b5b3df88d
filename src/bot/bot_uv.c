/* twitchd: a libuv timer driving tw_bot_tick().
 *
 * The runtime itself takes the time as an argument (tw_bot_tick), which is
 * what tests use; this binding is for the daemon. It sleeps until the next
 * skill timer is due rather than polling, and is re-armed by the bot after
 * a reload (new timers) and after every tick. */
#include <stdlib.h>

#include "bot/bot_int.h"
#include "twitchd/error.h"

struct tw_bot_timer {
  uv_timer_t handle;
  tw_bot_t *bot; /* NULL once closing */
};

static void on_timer(uv_timer_t *h);

void tw__bot_timer_rearm(struct tw_bot_timer *t) {
  if (t->bot == NULL)
    return;
  uint64_t now = uv_now(t->handle.loop);
  int64_t d = tw_bot_next_timer(t->bot, now);
  uv_timer_stop(&t->handle);
  if (d >= 0)
    uv_timer_start(&t->handle, on_timer, (uint64_t)d, 0);
}

void tw__bot_timer_detach(struct tw_bot_timer *t) {
  uv_timer_stop(&t->handle);
  t->bot = NULL;
}

static void on_timer(uv_timer_t *h) {
  struct tw_bot_timer *t = h->data;
  if (t->bot == NULL)
    return;
  tw_bot_tick(t->bot, uv_now(h->loop));
  tw__bot_timer_rearm(t);
}

int tw_bot_timer_new(uv_loop_t *loop, tw_bot_t *bot, tw_bot_timer_t **out) {
  if (loop == NULL || bot == NULL || out == NULL)
    return TW_EINVAL;
  if (bot->uvt != NULL)
    return TW_EEXIST;
  struct tw_bot_timer *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return TW_ENOMEM;
  if (uv_timer_init(loop, &t->handle) != 0) {
    free(t);
    return TW_EIO;
  }
  t->handle.data = t;
  t->bot = bot;
  bot->uvt = t;
  tw__bot_timer_rearm(t);
  *out = t;
  return 0;
}

static void on_close(uv_handle_t *h) {
  free(h->data);
}

void tw_bot_timer_close(tw_bot_timer_t *t) {
  if (t == NULL)
    return;
  if (t->bot != NULL && t->bot->uvt == t)
    t->bot->uvt = NULL;
  t->bot = NULL;
  uv_timer_stop(&t->handle);
  uv_close((uv_handle_t *)&t->handle, on_close);
}
