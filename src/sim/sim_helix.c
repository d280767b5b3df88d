/* The simulator's Helix side (api.twitch.tv/helix, docs/twitch-protocol.md
 * section 2). */
#include <stdlib.h>

#include "sim/sim_api_int.h"

static void each_free(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  free(v);
}

void tw__simhelix_free(tw_simapi_t *api) {
  tw__simmap_t *maps[] = {&api->streams, &api->channels, &api->bans,
                          &api->clips, &api->subs};
  for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
    tw__simmap_each(maps[i], each_free, NULL);
    tw__simmap_free(maps[i]);
  }
}

void tw__simhelix_handle(tw_simapi_ctx_t *x) {
  tw__simapi_helix_err(x->resp, 404, "Not Found");
}
