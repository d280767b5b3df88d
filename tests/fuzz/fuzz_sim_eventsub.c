/* Fuzzes the simulator's EventSub event builder through
 * tw_sim_eventsub_trigger(): the first byte picks the subscription type
 * (or, past the known ones, the bytes up to the first 0xff are the type),
 * the bytes up to the next 0xff are the room, the rest is the partial event
 * (JSON, usually malformed). A simulator with only the EventSub listener is
 * made once; it has no sessions, so every input goes through parsing and
 * event building (user lookups, defaults, anonymous cases) and matching.
 * Nothing may crash, leak or read outside its buffers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "twitchd/sim.h"

static const char *const TYPES[] = {"stream.online",
                                    "stream.offline",
                                    "channel.update",
                                    "channel.follow",
                                    "channel.subscribe",
                                    "channel.subscription.gift",
                                    "channel.subscription.message",
                                    "channel.cheer",
                                    "channel.raid",
                                    "channel.ban"};
#define NTYPES (sizeof(TYPES) / sizeof(TYPES[0]))

static uv_loop_t loop;
static tw_sim_t *sim;

static char *take(const uint8_t **p, const uint8_t *end) {
  const uint8_t *q = memchr(*p, 0xff, (size_t)(end - *p));
  size_t n = q ? (size_t)(q - *p) : (size_t)(end - *p);
  char *s = malloc(n + 1);
  if (!s)
    abort();
  memcpy(s, *p, n);
  s[n] = '\0';
  *p += n + (q ? 1 : 0);
  return s;
}

/* Closes the simulator at exit, which removes its generated certificate
 * directory. */
static void cleanup(void) {
  if (!sim)
    return;
  tw_sim_close(sim, NULL, NULL);
  sim = NULL;
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!sim) {
    uv_loop_init(&loop);
    tw_sim_opts_t o = {0};
    o.listeners = TW_SIM_LISTEN_EVENTSUB;
    o.seed = 1;
    if (tw_sim_new(&loop, &o, &sim, NULL, 0) != 0)
      abort();
    atexit(cleanup);
  }
  if (size < 1)
    return 0;
  const uint8_t *p = data + 1, *end = data + size;
  char *type = data[0] < NTYPES ? NULL : take(&p, end);
  char *room = take(&p, end);
  char *ev = (p < end) ? take(&p, end) : NULL;
  int rc = tw_sim_eventsub_trigger(sim, type ? type : TYPES[data[0]], room, ev);
  if (rc > 0)
    abort(); /* there are no sessions to notify */
  tw_sim_eventsub_revoke(sim, room, ev);
  free(type);
  free(room);
  free(ev);
  return 0;
}
