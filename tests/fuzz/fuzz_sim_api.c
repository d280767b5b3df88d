/* Fuzzes the simulator's API request handler (OAuth and Helix, sans-IO)
 * with whole requests. The input is a series of requests separated by the
 * byte 0xfe; in each, the first byte picks the method, the second the path
 * (one of the real endpoints, or the bytes that follow up to the first
 * 0xff), then 0xff-separated sections: the raw query, header lines
 * ("Name: value" per line) and the body. Tokens with every scope, an app
 * token, a moderated room with history and a live channel exist, so deep
 * paths (bans, deletes, clips, EventSub) are reached. Time moves on between
 * requests. Nothing may crash, leak or read outside its buffers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_api.h"
#include "sim/sim_api_int.h"
#include "sim/sim_chat.h"

static const char *const METHODS[] = {"GET", "POST", "PATCH", "DELETE", "PUT"};
static const char *const PATHS[] = {
    "/oauth2/token",
    "/oauth2/authorize",
    "/oauth2/device",
    "/oauth2/validate",
    "/oauth2/revoke",
    "/activate",
    "/helix/users",
    "/helix/streams",
    "/helix/channels",
    "/helix/moderation/bans",
    "/helix/moderation/banned",
    "/helix/moderation/chat",
    "/helix/clips",
    "/helix/chat/messages",
    "/helix/chat/announcements",
    "/helix/chat/shoutouts",
    "/helix/eventsub/subscriptions",
    "/helix/users/follows",
};

#define NP (sizeof(PATHS) / sizeof(PATHS[0]))
#define MAXH 40

static void io_wake(void *ud, tw_simchat_conn_t *c) {
  (void)ud;
  (void)c;
}

static void io_close(void *ud, tw_simchat_conn_t *c, int abrupt) {
  (void)ud;
  (void)c;
  (void)abrupt;
}

static const char ALL[] =
    "chat:read chat:edit moderator:manage:banned_users "
    "moderator:manage:chat_messages moderator:manage:announcements "
    "moderator:manage:shoutouts moderation:read clips:edit user:write:chat "
    "user:read:chat channel:manage:broadcast user:read:email";

/* A NUL-terminated copy of data[a..b). */
static char *dup_range(const uint8_t *data, size_t a, size_t b) {
  char *s = malloc(b - a + 1);
  if (!s)
    return NULL;
  memcpy(s, data + a, b - a);
  s[b - a] = '\0';
  return s;
}

static size_t find(const uint8_t *data, size_t from, size_t to, uint8_t c) {
  while (from < to && data[from] != c)
    from++;
  return from;
}

static void one(tw_simapi_t *api, const uint8_t *d, size_t n, uint64_t now) {
  if (n < 2)
    return;
  const char *method = METHODS[d[0] % 5];
  size_t pos = 2;
  char *own_path = NULL;
  const char *path;
  if (d[1] < 0xe0) {
    path = PATHS[d[1] % NP];
  } else {
    size_t e = find(d, pos, n, 0xff);
    own_path = dup_range(d, pos, e);
    path = own_path ? own_path : "/";
    pos = e < n ? e + 1 : n;
  }
  size_t e = find(d, pos, n, 0xff);
  char *query = dup_range(d, pos, e);
  pos = e < n ? e + 1 : n;
  e = find(d, pos, n, 0xff);
  char *hblock = dup_range(d, pos, e);
  pos = e < n ? e + 1 : n;
  const char *hn[MAXH], *hv[MAXH];
  size_t nh = 0;
  for (char *line = hblock; line && *line && nh < MAXH;) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    char *colon = strchr(line, ':');
    if (colon) {
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ')
        v++;
      hn[nh] = line;
      hv[nh++] = v;
    }
    line = nl ? nl + 1 : NULL;
  }
  tw_simapi_req_t req = {method,
                         path,
                         query,
                         hn,
                         hv,
                         nh,
                         (const char *)d + pos,
                         n - pos,
                         (d[0] & 0x80) != 0};
  tw_simapi_resp_t resp;
  tw__simapi_handle(api, &req, now, &resp);
  tw__simapi_resp_free(&resp);
  free(own_path);
  free(query);
  free(hblock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tw_simchat_io_t io = {io_wake, io_close};
  tw_simchat_t *sc;
  uint64_t now = 1000;
  if (tw__simchat_new(NULL, &io, NULL, 1, now, 0, &sc) != 0)
    return 0;
  tw_sim_api_opts_t o = {.device_auto_approve = 1,
                         .ratelimit_points = 50,
                         .clip_delay_ms = 10,
                         .user_token_ttl_ms = 5000};
  tw_simapi_t *api;
  if (tw__simapi_new(sc, &o, 1, 0, &api) != 0) {
    tw__simchat_free(sc);
    return 0;
  }
  /* Ids: chan 100000001, modbot 100000002, troll 100000003. */
  tw_sim_token_t t1 = {.token = "tokchan", .login = "chan", .scopes = ALL};
  tw_sim_token_t t2 = {.token = "tokmod", .login = "modbot", .scopes = ALL};
  tw_sim_token_t t3 = {.token = "toktroll", .login = "troll", .scopes = ALL};
  tw_sim_token_t t4 = {.token = "tokapp",
                       .client_id = TW_SIM_DEFAULT_CLIENT_ID};
  tw__simapi_add_token(api, &t1, now);
  tw__simapi_add_token(api, &t2, now);
  tw__simapi_add_token(api, &t3, now);
  tw__simapi_add_token(api, &t4, now);
  tw__simchat_set_role(sc, "chan", "modbot", TW_SIM_ROLE_MOD);
  char id[TW_SIM_MSG_ID_SIZE];
  tw__simchat_say(sc, "chan", "troll", "hello", NULL, id, now);
  tw_sim_stream_t live = {.live = 1, .title = "t", .viewer_count = 2};
  tw__simhelix_set_stream(api, "chan", &live, now);
  tw__simapi_force(api, "/helix/streams", 503, 2, NULL);

  size_t pos = 0;
  while (pos < size) {
    size_t e = find(data, pos, size, 0xfe);
    one(api, data + pos, e - pos, now);
    now += (e > pos ? data[pos] & 0x3f : 1) * 50;
    pos = e + 1;
  }
  tw__simapi_free(api);
  tw__simchat_free(sc);
  return 0;
}
