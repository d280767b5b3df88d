/* The simulator's Helix API (docs/twitch-protocol.md section 2) over real
 * HTTPS on 127.0.0.1: authentication and scope errors with Helix's error
 * body, Ratelimit headers and the 429 of an empty bucket, each endpoint's
 * success and its effects (a ban is listed and seen in chat as CLEARCHAT, a
 * deleted message as CLEARMSG and gone from the room's history, a Helix
 * chat message relayed as a PRIVMSG...), forced answers and read-back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "net_test.h"
#include "sim_api_test.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/sim.h"

#define CID TW_SIM_DEFAULT_CLIENT_ID
/* Every moderator scope the tests need. */
#define MOD_SCOPES                                                             \
  "moderator:manage:banned_users moderator:manage:chat_messages "              \
  "moderator:manage:announcements moderator:manage:shoutouts "                 \
  "moderation:read clips:edit user:write:chat user:read:chat "                 \
  "channel:manage:broadcast user:read:email"

typedef struct {
  tw_simfx_t *fx;
  char chan_id[40], mod_id[40], troll_id[40], viewer_id[40];
} world_t;

static const char *uid(tw_simfx_t *fx, const char *token, char *out) {
  tw_sim_token_info_t ti;
  assert_int_equal(tw_sim_token_info(fx->sim, token, &ti), 0);
  snprintf(out, 40, "%s", ti.user_id);
  return out;
}

static void add_token(tw_simfx_t *fx, const char *token, const char *login,
                      const char *scopes) {
  tw_sim_token_t t = {.token = token, .login = login, .scopes = scopes};
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &t), 0);
}

/* A room "chan" (broadcaster chan), a moderator "modbot", a viewer
 * "troll", a plain viewer "viewer"; all with tokens. */
static void world(world_t *w, const tw_sim_opts_t *o) {
  memset(w, 0, sizeof(*w));
  w->fx = tw_simfx_new(o);
  assert_non_null(w->fx);
  tw_simfx_t *fx = w->fx;
  add_token(fx, "tokchan", "chan", MOD_SCOPES " chat:read chat:edit");
  add_token(fx, "tokmod", "modbot", MOD_SCOPES " chat:read chat:edit");
  add_token(fx, "toktroll", "troll", "chat:read chat:edit user:write:chat");
  add_token(fx, "tokviewer", "viewer", "chat:read");
  tw_sim_room_t r = {.name = "chan"};
  assert_int_equal(tw_sim_add_room(fx->sim, &r), 0);
  assert_int_equal(tw_sim_set_role(fx->sim, "chan", "modbot", TW_SIM_ROLE_MOD),
                   0);
  uid(fx, "tokchan", w->chan_id);
  uid(fx, "tokmod", w->mod_id);
  uid(fx, "toktroll", w->troll_id);
  uid(fx, "tokviewer", w->viewer_id);
}

static void world_free(world_t *w) {
  assert_int_equal(tw_simfx_free(w->fx), 0);
}

static void helix(world_t *w, const char *method, const char *path,
                  const char *token, const char *json, tw_simresp_t *r) {
  assert_int_equal(tw_simfx_helix(w->fx, method, path, token, CID, json, r), 0);
}

/* Checks a Helix error body. */
static void assert_helix_err(const tw_simresp_t *r, long status,
                             const char *error, const char *message) {
  if (r->status != status)
    fail_msg("HTTP %ld, wanted %ld: %.*s", r->status, status, (int)r->body.len,
             r->body.data ? r->body.data : "");
  assert_non_null(r->json);
  assert_string_equal(tw_simfx_jstr(r->json, "error"), error);
  assert_int_equal(json_integer_value(json_object_get(r->json, "status")),
                   status);
  if (message)
    assert_string_equal(tw_simfx_jstr(r->json, "message"), message);
  /* Every Helix answer has the Ratelimit headers. */
  assert_true(r->rl_limit > 0);
  assert_true(r->rl_remaining >= 0);
  assert_true(r->rl_reset > 0);
}

static void expect(world_t *w, const char *method, const char *path,
                   const char *token, const char *json, long status,
                   const char *message) {
  tw_simresp_t r;
  helix(w, method, path, token, json, &r);
  assert_helix_err(&r, status, tw_simfx_jstr(r.json, "error"), message);
  tw_simresp_free(&r);
}

static void expect_status(world_t *w, const char *method, const char *path,
                          const char *token, const char *json, long status) {
  tw_simresp_t r;
  helix(w, method, path, token, json, &r);
  if (r.status != status)
    fail_msg("%s %s: HTTP %ld, wanted %ld: %.*s", method, path, r.status,
             status, (int)r.body.len, r.body.data ? r.body.data : "");
  assert_true(r.rl_limit > 0);
  tw_simresp_free(&r);
}

static json_t *data0(const tw_simresp_t *r) {
  return json_array_get(json_object_get(r->json, "data"), 0);
}

/* A chat client joined to #chan. */
static tw_simirc_t *watcher(world_t *w) {
  tw_simirc_t *c = tw_simirc_login(w->fx, "tokviewer", "viewer");
  assert_true(tw_simirc_ok(c));
  tw_simirc_send(c, "JOIN #chan");
  assert_non_null(tw_simirc_wait(c, "USERSTATE #chan"));
  return c;
}

/* ---- authentication and rate limits -------------------------------------- */

static void test_auth_errors(void **state) {
  (void)state;
  world_t w;
  world(&w, NULL);
  tw_simresp_t r;
  assert_int_equal(
      tw_simfx_helix(w.fx, "GET", "/helix/users", NULL, CID, NULL, &r), 0);
  assert_helix_err(&r, 401, "Unauthorized", "OAuth token is missing");
  tw_simresp_free(&r);
  expect(&w, "GET", "/helix/users", "nosuchtoken", NULL, 401,
         "Invalid OAuth token");
  assert_int_equal(
      tw_simfx_helix(w.fx, "GET", "/helix/users", "tokchan", "other", NULL, &r),
      0);
  assert_helix_err(&r, 401, "Unauthorized",
                   "Client ID and OAuth token do not match");
  tw_simresp_free(&r);
  assert_int_equal(
      tw_simfx_helix(w.fx, "GET", "/helix/users", "tokchan", NULL, NULL, &r),
      0);
  assert_helix_err(&r, 401, "Unauthorized",
                   "Client ID and OAuth token do not match");
  tw_simresp_free(&r);
  /* "OAuth" is validate's scheme, not Helix's. */
  const char *h[] = {"Authorization: OAuth tokchan", "Client-Id: " CID, NULL};
  assert_int_equal(tw_simfx_api(w.fx, "GET", "/helix/users", h, NULL, &r), 0);
  assert_helix_err(&r, 401, "Unauthorized", "Invalid OAuth token");
  tw_simresp_free(&r);

  /* Expired and revoked tokens. */
  expect_status(&w, "GET", "/helix/users", "tokviewer", NULL, 200);
  assert_int_equal(tw_sim_expire_token(w.fx->sim, "tokviewer"), 0);
  expect(&w, "GET", "/helix/users", "tokviewer", NULL, 401,
         "Invalid OAuth token");
  assert_int_equal(tw_sim_revoke_token(w.fx->sim, "toktroll"), 0);
  expect(&w, "GET", "/helix/users", "toktroll", NULL, 401,
         "Invalid OAuth token");

  /* Unknown endpoint, removed endpoint. */
  expect(&w, "GET", "/helix/nothing", "tokchan", NULL, 404, "Not Found");
  expect(&w, "GET", "/helix/users/follows", "tokchan", NULL, 410,
         "The API is deprecated.");
  tw_sim_api_counters_t k;
  tw_sim_api_counters(w.fx->sim, &k);
  assert_int_equal(k.unauthorized, 7);
  assert_int_equal(k.helix_requests, 10);
  world_free(&w);
}

static void test_rate_limit(void **state) {
  (void)state;
  tw_sim_opts_t o = {.api = {.ratelimit_points = 3}};
  world_t w;
  world(&w, &o);
  tw_simresp_t r;
  long last = 100;
  for (int i = 0; i < 3; i++) {
    helix(&w, "GET", "/helix/users", "tokchan", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.rl_limit, 3);
    assert_true(r.rl_remaining < last);
    last = r.rl_remaining;
    tw_simresp_free(&r);
  }
  assert_int_equal(last, 0);
  helix(&w, "GET", "/helix/users", "tokchan", NULL, &r);
  assert_helix_err(&r, 429, "Too Many Requests", "Request limit exceeded");
  assert_int_equal(r.rl_remaining, 0);
  assert_int_equal(r.rl_limit, 3);
  tw_simresp_free(&r);
  /* The bucket is per token: another one is full. */
  helix(&w, "GET", "/helix/users", "tokmod", NULL, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.rl_remaining, 2);
  tw_simresp_free(&r);
  tw_sim_api_counters_t k;
  tw_sim_api_counters(w.fx->sim, &k);
  assert_int_equal(k.rate_limited, 1);
  world_free(&w);
}

/* ---- users, streams, channels ---------------------------------------------
 */

static void test_users_streams_channels(void **state) {
  (void)state;
  world_t w;
  world(&w, NULL);
  tw_simresp_t r;
  char path[256];

  /* The token's user, with email for user:read:email. */
  helix(&w, "GET", "/helix/users", "tokchan", NULL, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(tw_simfx_jstr(data0(&r), "login"), "chan");
  assert_string_equal(tw_simfx_jstr(data0(&r), "id"), w.chan_id);
  assert_non_null(json_object_get(data0(&r), "email"));
  tw_simresp_free(&r);
  snprintf(path, sizeof(path), "/helix/users?id=%s&login=troll&login=ghost",
           w.mod_id);
  helix(&w, "GET", path, "tokviewer", NULL, &r);
  assert_int_equal(r.status, 200);
  json_t *d = json_object_get(r.json, "data");
  assert_int_equal(json_array_size(d), 2); /* ghost is omitted */
  assert_string_equal(tw_simfx_jstr(json_array_get(d, 0), "login"), "modbot");
  assert_null(json_object_get(json_array_get(d, 0), "email"));
  tw_simresp_free(&r);
  expect(&w, "GET", "/helix/users?login=Not%20Valid", "tokchan", NULL, 400,
         "Invalid login names, emails or IDs in request");
  /* An app token must name someone. */
  tw_sim_token_t app = {.token = "apptok", .client_id = CID};
  assert_int_equal(tw_sim_add_token_ex(w.fx->sim, &app), 0);
  expect_status(&w, "GET", "/helix/users", "apptok", NULL, 400);
  expect_status(&w, "GET", "/helix/users?login=chan", "apptok", NULL, 200);

  /* Streams: offline, then live through the C API and the control API. */
  helix(&w, "GET", "/helix/streams?user_login=chan", "apptok", NULL, &r);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
  tw_simresp_free(&r);
  tw_sim_stream_t st = {
      .live = 1, .title = "Live now", .game_name = "Chess", .viewer_count = 42};
  assert_int_equal(tw_sim_set_stream(w.fx->sim, "chan", &st), 0);
  long cs = 0;
  json_t *j = tw_simfx_control(
      w.fx, "POST", "/api/streams",
      "{\"room\":\"other\",\"live\":true,\"viewer_count\":1}", &cs);
  assert_int_equal(cs, 200);
  json_decref(j);
  helix(&w, "GET", "/helix/streams?user_login=chan", "apptok", NULL, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(tw_simfx_jstr(data0(&r), "type"), "live");
  assert_string_equal(tw_simfx_jstr(data0(&r), "title"), "Live now");
  assert_string_equal(tw_simfx_jstr(data0(&r), "user_id"), w.chan_id);
  assert_int_equal(
      json_integer_value(json_object_get(data0(&r), "viewer_count")), 42);
  tw_simresp_free(&r);
  helix(&w, "GET", "/helix/streams", "apptok", NULL, &r);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 2);
  tw_simresp_free(&r);
  st.live = 0;
  assert_int_equal(tw_sim_set_stream(w.fx->sim, "chan", &st), 0);
  helix(&w, "GET", "/helix/streams", "apptok", NULL, &r);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
  tw_simresp_free(&r);

  /* Channels: PATCH the title, GET shows it. */
  snprintf(path, sizeof(path), "/helix/channels?broadcaster_id=%s", w.chan_id);
  expect_status(&w, "PATCH", path, "tokchan",
                "{\"title\":\"there are helicopters in the game?\"}", 204);
  helix(&w, "GET", path, "apptok", NULL, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(tw_simfx_jstr(data0(&r), "title"),
                      "there are helicopters in the game?");
  assert_string_equal(tw_simfx_jstr(data0(&r), "broadcaster_login"), "chan");
  tw_simresp_free(&r);
  expect(&w, "PATCH", path, "tokviewer", "{\"title\":\"x\"}", 401,
         "Missing scope: channel:manage:broadcast");
  expect(&w, "PATCH", path, "tokmod", "{\"title\":\"x\"}", 401, NULL);
  expect(&w, "PATCH", path, "tokchan", "{\"title\":\"\"}", 400,
         "The title field may not be empty.");
  expect(&w, "PATCH", path, "tokchan", "{}", 400,
         "No fields to update were specified.");
  expect(&w, "PATCH", path, "tokchan", "not json", 400, NULL);
  expect(&w, "PATCH", path, "apptok", "{\"title\":\"x\"}", 401, NULL);
  expect(&w, "GET", "/helix/channels", "apptok", NULL, 400,
         "Missing required parameter \"broadcaster_id\"");
  world_free(&w);
}

/* ---- moderation ------------------------------------------------------------
 */

static void test_bans(void **state) {
  (void)state;
  world_t w;
  world(&w, NULL);
  tw_simresp_t r;
  char path[256], body[256];
  tw_simirc_t *c = watcher(&w);
  /* troll says something; the ban takes it out of the history. */
  char msgid[TW_SIM_MSG_ID_SIZE];
  assert_true(tw_sim_say(w.fx->sim, "chan", "troll", "spam", NULL, msgid) > 0);

  snprintf(path, sizeof(path),
           "/helix/moderation/bans?broadcaster_id=%s&moderator_id=%s",
           w.chan_id, w.mod_id);
  snprintf(body, sizeof(body),
           "{\"data\":{\"user_id\":\"%s\",\"reason\":\"no reason\"}}",
           w.troll_id);
  helix(&w, "POST", path, "tokmod", body, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(tw_simfx_jstr(data0(&r), "user_id"), w.troll_id);
  assert_string_equal(tw_simfx_jstr(data0(&r), "moderator_id"), w.mod_id);
  assert_true(json_is_null(json_object_get(data0(&r), "end_time")));
  tw_simresp_free(&r);
  const char *line = tw_simirc_wait(c, "CLEARCHAT #chan :troll");
  assert_non_null(line);
  assert_non_null(strstr(line, "target-user-id="));
  assert_null(strstr(line, "ban-duration"));
  /* Over IRC the banned user cannot talk: NOTICE msg_banned. */
  tw_simirc_t *t = tw_simirc_login(w.fx, "toktroll", "troll");
  assert_true(tw_simirc_ok(t));
  tw_simirc_send(t, "JOIN #chan");
  assert_non_null(tw_simirc_wait(t, "USERSTATE #chan"));
  tw_simirc_send(t, "PRIVMSG #chan :am I banned");
  assert_non_null(tw_simirc_wait(t, "msg-id=msg_banned"));

  /* Listed; banned again: 400. */
  char lpath[256];
  snprintf(lpath, sizeof(lpath), "/helix/moderation/banned?broadcaster_id=%s",
           w.chan_id);
  helix(&w, "GET", lpath, "tokchan", NULL, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
  assert_string_equal(tw_simfx_jstr(data0(&r), "user_login"), "troll");
  assert_string_equal(tw_simfx_jstr(data0(&r), "reason"), "no reason");
  assert_string_equal(tw_simfx_jstr(data0(&r), "moderator_login"), "modbot");
  assert_string_equal(tw_simfx_jstr(data0(&r), "expires_at"), "");
  tw_simresp_free(&r);
  expect(&w, "POST", path, "tokmod", body, 400, "user is already banned");
  /* A banned user's Helix message is refused with is_sent false. */
  char cbody[256];
  snprintf(cbody, sizeof(cbody),
           "{\"broadcaster_id\":\"%s\",\"sender_id\":\"%s\",\"message\":"
           "\"let me talk\"}",
           w.chan_id, w.troll_id);
  add_token(w.fx, "toktroll2", "troll", "user:write:chat");
  helix(&w, "POST", "/helix/chat/messages", "toktroll2", cbody, &r);
  assert_int_equal(r.status, 200);
  assert_true(json_is_false(json_object_get(data0(&r), "is_sent")));
  assert_string_equal(
      tw_simfx_jstr(json_object_get(data0(&r), "drop_reason"), "code"),
      "user_banned");
  tw_simresp_free(&r);

  /* Unban, and again. */
  char upath[256];
  snprintf(upath, sizeof(upath),
           "/helix/moderation/bans?broadcaster_id=%s&moderator_id=%s&user_id="
           "%s",
           w.chan_id, w.mod_id, w.troll_id);
  expect_status(&w, "DELETE", upath, "tokmod", NULL, 204);
  expect(&w, "DELETE", upath, "tokmod", NULL, 400, "user is not banned");
  tw_simirc_send(t, "PRIVMSG #chan :free again");
  assert_non_null(tw_simirc_wait(c, "PRIVMSG #chan :free again"));
  helix(&w, "GET", lpath, "tokchan", NULL, &r);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
  tw_simresp_free(&r);

  /* A timeout: end_time, ban-duration. */
  snprintf(body, sizeof(body),
           "{\"data\":{\"user_id\":\"%s\",\"duration\":300}}", w.troll_id);
  helix(&w, "POST", path, "tokmod", body, &r);
  assert_int_equal(r.status, 200);
  assert_true(json_is_string(json_object_get(data0(&r), "end_time")));
  tw_simresp_free(&r);
  assert_non_null(tw_simirc_wait(c, "@ban-duration=300;"));
  tw_simirc_send(t, "PRIVMSG #chan :timed out?");
  line = tw_simirc_wait(t, "msg-id=msg_timedout");
  assert_non_null(line);
  assert_non_null(strstr(line, "You are timed out for "));
  tw_simirc_close(t);
  helix(&w, "GET", lpath, "tokchan", NULL, &r);
  assert_true(strlen(tw_simfx_jstr(data0(&r), "expires_at")) > 0);
  tw_simresp_free(&r);

  /* Errors: a viewer is no moderator; scope; moderator_id mismatch; bad
   * duration; the broadcaster cannot be banned. */
  char vpath[256];
  snprintf(vpath, sizeof(vpath),
           "/helix/moderation/bans?broadcaster_id=%s&moderator_id=%s",
           w.chan_id, w.viewer_id);
  add_token(w.fx, "tokviewer2", "viewer", "moderator:manage:banned_users");
  expect(&w, "POST", vpath, "tokviewer2", body, 403, NULL);
  expect(&w, "POST", path, "toktroll2", body, 401,
         "Missing scope: moderator:manage:banned_users");
  expect(&w, "POST", vpath, "tokmod", body, 401, NULL);
  snprintf(body, sizeof(body),
           "{\"data\":{\"user_id\":\"%s\",\"duration\":9999999}}", w.viewer_id);
  expect(&w, "POST", path, "tokmod", body, 400,
         "The value in the duration field is not valid.");
  snprintf(body, sizeof(body), "{\"data\":{\"user_id\":\"%s\"}}", w.chan_id);
  expect(&w, "POST", path, "tokmod", body, 400,
         "The user specified in the user_id field may not be banned.");
  expect(&w, "POST", path, "tokmod", "{\"data\":[]}", 400, NULL);
  tw_simirc_close(c);
  world_free(&w);
}

static void test_delete_chat(void **state) {
  (void)state;
  world_t w;
  world(&w, NULL);
  tw_simirc_t *c = watcher(&w);
  char id1[TW_SIM_MSG_ID_SIZE], id2[TW_SIM_MSG_ID_SIZE],
      idm[TW_SIM_MSG_ID_SIZE];
  assert_true(tw_sim_say(w.fx->sim, "chan", "troll", "bad words", NULL, id1) >
              0);
  assert_true(tw_sim_say(w.fx->sim, "chan", "troll", "more", NULL, id2) > 0);
  assert_true(tw_sim_say(w.fx->sim, "chan", "chan", "hi", NULL, idm) > 0);
  char path[512];
  snprintf(path, sizeof(path),
           "/helix/moderation/chat?broadcaster_id=%s&moderator_id=%s"
           "&message_id=%s",
           w.chan_id, w.mod_id, id1);
  expect_status(&w, "DELETE", path, "tokmod", NULL, 204);
  const char *line = tw_simirc_wait(c, "CLEARMSG #chan :bad words");
  assert_non_null(line);
  char want[128];
  snprintf(want, sizeof(want), "target-msg-id=%s", id1);
  assert_non_null(strstr(line, want));
  assert_non_null(strstr(line, "login=troll"));
  /* Gone from the history: deleting it again is a 404, and a reply to it
   * has no parent tags. */
  expect(&w, "DELETE", path, "tokmod", NULL, 404,
         "The ID in message_id was not found.");
  /* The broadcaster's message cannot be deleted by a moderator. */
  snprintf(path, sizeof(path),
           "/helix/moderation/chat?broadcaster_id=%s&moderator_id=%s"
           "&message_id=%s",
           w.chan_id, w.mod_id, idm);
  expect(&w, "DELETE", path, "tokmod", NULL, 400, NULL);
  expect(&w, "DELETE", path, "tokviewer", NULL, 401,
         "Missing scope: moderator:manage:chat_messages");
  /* Clear the whole chat. */
  snprintf(path, sizeof(path),
           "/helix/moderation/chat?broadcaster_id=%s&moderator_id=%s",
           w.chan_id, w.mod_id);
  expect_status(&w, "DELETE", path, "tokmod", NULL, 204);
  line = tw_simirc_wait(c, "CLEARCHAT #chan");
  assert_non_null(line);
  assert_null(strstr(line, "target-user-id"));
  snprintf(path, sizeof(path),
           "/helix/moderation/chat?broadcaster_id=%s&moderator_id=%s"
           "&message_id=%s",
           w.chan_id, w.mod_id, id2);
  expect_status(&w, "DELETE", path, "tokmod", NULL, 404);
  tw_simirc_close(c);
  world_free(&w);
}

/* ---- clips -----------------------------------------------------------------
 */

typedef struct {
  world_t *w;
  const char *path;
  int found;
} clip_wait_t;

static void on_tick(uv_timer_t *t) {
  *(int *)t->data = 1;
}

static void test_clips(void **state) {
  (void)state;
  tw_sim_opts_t o = {.api = {.clip_delay_ms = 300}};
  world_t w;
  world(&w, &o);
  tw_simresp_t r;
  char path[256];
  snprintf(path, sizeof(path), "/helix/clips?broadcaster_id=%s", w.chan_id);
  expect(&w, "POST", path, "tokmod", NULL, 404,
         "Clipping is not possible for an offline channel.");
  tw_sim_stream_t st = {.live = 1, .title = "clip me"};
  assert_int_equal(tw_sim_set_stream(w.fx->sim, "chan", &st), 0);
  expect(&w, "POST", path, "tokviewer", NULL, 401, "Missing scope: clips:edit");
  uint64_t t0 = tw_now_ms();
  helix(&w, "POST", path, "tokmod", NULL, &r);
  assert_int_equal(r.status, 202);
  char id[64], edit[256];
  snprintf(id, sizeof(id), "%s", tw_simfx_jstr(data0(&r), "id"));
  snprintf(edit, sizeof(edit), "https://www.twitch.tv/chan/clip/%s", id);
  assert_string_equal(tw_simfx_jstr(data0(&r), "edit_url"), edit);
  tw_simresp_free(&r);
  /* Not there yet (judged only when the answer came before the delay
   * could have passed: no assumption about how fast the machine is). */
  char gpath[256];
  snprintf(gpath, sizeof(gpath), "/helix/clips?id=%s", id);
  helix(&w, "GET", gpath, "tokviewer", NULL, &r);
  assert_int_equal(r.status, 200);
  if (tw_now_ms() - t0 < 300)
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
  tw_simresp_free(&r);
  /* After the delay it is. */
  int fired = 0;
  uv_timer_t t;
  uv_timer_init(&w.fx->loop, &t);
  t.data = &fired;
  uint64_t since = tw_now_ms() - t0;
  uv_timer_start(&t, on_tick, since < 350 ? 350 - since : 0, 0);
  assert_true(tw_test_run_flag(&w.fx->loop, &fired));
  uv_close((uv_handle_t *)&t, NULL);
  helix(&w, "GET", gpath, "tokviewer", NULL, &r);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
  assert_string_equal(tw_simfx_jstr(data0(&r), "title"), "clip me");
  assert_string_equal(tw_simfx_jstr(data0(&r), "creator_name"), "modbot");
  assert_string_equal(tw_simfx_jstr(data0(&r), "broadcaster_id"), w.chan_id);
  tw_simresp_free(&r);
  helix(&w, "GET", path, "tokviewer", NULL, &r);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
  tw_simresp_free(&r);
  expect_status(&w, "GET", "/helix/clips", "tokviewer", NULL, 400);
  world_free(&w);
}

/* ---- chat ------------------------------------------------------------------
 */

static void test_chat_messages_announcements_shoutouts(void **state) {
  (void)state;
  world_t w;
  world(&w, NULL);
  tw_simresp_t r;
  tw_simirc_t *c = watcher(&w);
  char body[512];
  snprintf(body, sizeof(body),
           "{\"broadcaster_id\":\"%s\",\"sender_id\":\"%s\",\"message\":"
           "\"hello from helix\"}",
           w.chan_id, w.mod_id);
  helix(&w, "POST", "/helix/chat/messages", "tokmod", body, &r);
  assert_int_equal(r.status, 200);
  assert_true(json_is_true(json_object_get(data0(&r), "is_sent")));
  char id[64];
  snprintf(id, sizeof(id), "%s", tw_simfx_jstr(data0(&r), "message_id"));
  assert_int_equal(strlen(id), 36);
  tw_simresp_free(&r);
  const char *line = tw_simirc_wait(c, "PRIVMSG #chan :hello from helix");
  assert_non_null(line);
  assert_non_null(strstr(line, ":modbot!modbot@modbot.tmi.twitch.tv"));
  char want[64];
  snprintf(want, sizeof(want), ";id=%s;", id);
  assert_non_null(strstr(line, want));
  /* The same again: dropped as a duplicate. */
  helix(&w, "POST", "/helix/chat/messages", "tokmod", body, &r);
  assert_int_equal(r.status, 200);
  assert_true(json_is_false(json_object_get(data0(&r), "is_sent")));
  assert_string_equal(
      tw_simfx_jstr(json_object_get(data0(&r), "drop_reason"), "code"),
      "msg_duplicate");
  tw_simresp_free(&r);
  /* Someone else's sender_id, missing scope, too long, missing fields. */
  snprintf(body, sizeof(body),
           "{\"broadcaster_id\":\"%s\",\"sender_id\":\"%s\",\"message\":"
           "\"x\"}",
           w.chan_id, w.chan_id);
  expect(&w, "POST", "/helix/chat/messages", "tokmod", body, 401, NULL);
  expect(&w, "POST", "/helix/chat/messages", "tokviewer", body, 401,
         "Missing scope: user:write:chat");
  char *big = malloc(4096);
  assert_non_null(big);
  int n = snprintf(big, 4096,
                   "{\"broadcaster_id\":\"%s\",\"sender_id\":\"%s\","
                   "\"message\":\"",
                   w.chan_id, w.mod_id);
  memset(big + n, 'a', 501);
  snprintf(big + n + 501, 4096 - (size_t)n - 501, "\"}");
  expect(&w, "POST", "/helix/chat/messages", "tokmod", big, 422, NULL);
  free(big);
  expect(&w, "POST", "/helix/chat/messages", "tokmod", "{}", 400, NULL);

  /* Announcement: 204 and a USERNOTICE. */
  char path[256];
  snprintf(path, sizeof(path),
           "/helix/chat/announcements?broadcaster_id=%s&moderator_id=%s",
           w.chan_id, w.mod_id);
  expect_status(&w, "POST", path, "tokmod",
                "{\"message\":\"Hello chat!\",\"color\":\"purple\"}", 204);
  line = tw_simirc_wait(c, "USERNOTICE #chan :Hello chat!");
  assert_non_null(line);
  assert_non_null(strstr(line, "msg-id=announcement"));
  assert_non_null(strstr(line, "msg-param-color=PURPLE"));
  expect(&w, "POST", path, "tokmod", "{\"message\":\"x\",\"color\":\"pink\"}",
         400, NULL);

  /* Shoutout: the sender must be live with viewers. */
  snprintf(path, sizeof(path),
           "/helix/chat/shoutouts?from_broadcaster_id=%s&to_broadcaster_id=%s"
           "&moderator_id=%s",
           w.chan_id, w.troll_id, w.mod_id);
  expect_status(&w, "POST", path, "tokmod", NULL, 400);
  tw_sim_stream_t st = {.live = 1, .viewer_count = 3};
  assert_int_equal(tw_sim_set_stream(w.fx->sim, "chan", &st), 0);
  expect_status(&w, "POST", path, "tokmod", NULL, 204);
  snprintf(path, sizeof(path),
           "/helix/chat/shoutouts?from_broadcaster_id=%s&to_broadcaster_id=%s"
           "&moderator_id=%s",
           w.chan_id, w.chan_id, w.mod_id);
  expect(&w, "POST", path, "tokmod", NULL, 400,
         "The broadcaster may not give itself a Shoutout.");
  tw_simirc_close(c);
  world_free(&w);
}

/* ---- EventSub ---------------------------------------------------------------
 */

static void test_eventsub(void **state) {
  (void)state;
  world_t w;
  world(&w, NULL);
  tw_simresp_t r;
  char ws[512], hook[512];
  snprintf(ws, sizeof(ws),
           "{\"type\":\"channel.chat.message\",\"version\":\"1\","
           "\"condition\":{\"broadcaster_user_id\":\"%s\",\"user_id\":\"%s\"},"
           "\"transport\":{\"method\":\"websocket\",\"session_id\":\"AQoQ\"}}",
           w.chan_id, w.mod_id);
  helix(&w, "POST", "/helix/eventsub/subscriptions", "tokmod", ws, &r);
  assert_int_equal(r.status, 202);
  assert_string_equal(tw_simfx_jstr(data0(&r), "status"), "enabled");
  assert_int_equal(json_integer_value(json_object_get(data0(&r), "cost")), 0);
  assert_int_equal(
      json_integer_value(json_object_get(r.json, "max_total_cost")), 10);
  char sid[64];
  snprintf(sid, sizeof(sid), "%s", tw_simfx_jstr(data0(&r), "id"));
  tw_simresp_free(&r);
  expect(&w, "POST", "/helix/eventsub/subscriptions", "tokmod", ws, 409,
         "subscription already exists");
  /* Another user's chat, without the scope: 403. */
  expect(&w, "POST", "/helix/eventsub/subscriptions", "tokviewer", ws, 403,
         NULL);

  /* Webhook: an app token only. */
  snprintf(hook, sizeof(hook),
           "{\"type\":\"stream.online\",\"version\":\"1\","
           "\"condition\":{\"broadcaster_user_id\":\"%s\"},"
           "\"transport\":{\"method\":\"webhook\",\"callback\":"
           "\"https://example.com/cb\",\"secret\":\"0123456789abc\"}}",
           w.chan_id);
  expect(&w, "POST", "/helix/eventsub/subscriptions", "tokmod", hook, 401,
         NULL);
  tw_sim_token_t app = {.token = "apptok", .client_id = CID};
  assert_int_equal(tw_sim_add_token_ex(w.fx->sim, &app), 0);
  expect(&w, "POST", "/helix/eventsub/subscriptions", "apptok", ws, 401, NULL);
  helix(&w, "POST", "/helix/eventsub/subscriptions", "apptok", hook, &r);
  assert_int_equal(r.status, 202);
  assert_string_equal(tw_simfx_jstr(data0(&r), "status"),
                      "webhook_callback_verification_pending");
  /* The secret is never echoed. */
  assert_null(
      json_object_get(json_object_get(data0(&r), "transport"), "secret"));
  tw_simresp_free(&r);
  expect(&w, "POST", "/helix/eventsub/subscriptions", "apptok",
         "{\"type\":\"stream.online\",\"version\":\"1\",\"condition\":{\"x\":"
         "\"1\"},\"transport\":{\"method\":\"webhook\",\"callback\":\"http://"
         "x\",\"secret\":\"0123456789\"}}",
         400, NULL);

  /* Lists: each token sees its own. */
  helix(&w, "GET", "/helix/eventsub/subscriptions", "tokmod", NULL, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 1);
  assert_string_equal(tw_simfx_jstr(data0(&r), "id"), sid);
  tw_simresp_free(&r);
  helix(&w, "GET", "/helix/eventsub/subscriptions?type=stream.online", "apptok",
        NULL, &r);
  assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
  tw_simresp_free(&r);

  /* Delete. */
  char path[128];
  snprintf(path, sizeof(path), "/helix/eventsub/subscriptions?id=%s", sid);
  expect(&w, "DELETE", path, "apptok", NULL, 404, NULL);
  expect_status(&w, "DELETE", path, "tokmod", NULL, 204);
  expect_status(&w, "DELETE", path, "tokmod", NULL, 404);
  helix(&w, "GET", "/helix/eventsub/subscriptions", "tokmod", NULL, &r);
  assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 0);
  tw_simresp_free(&r);
  world_free(&w);
}

/* ---- forced answers and read-back ------------------------------------------
 */

typedef struct {
  int found;
} rb_t;

static int rb_cb(void *ud, const tw_sim_api_req_t *q) {
  rb_t *x = ud;
  if (q->authorization && strcmp(q->authorization, "Bearer tokchan") == 0 &&
      q->client_id && strcmp(q->client_id, CID) == 0 &&
      strcmp(q->method, "PATCH") == 0 && strstr(q->body, "\"title\"") &&
      q->status == 204)
    x->found = 1;
  return 0;
}

static void test_forced_and_readback(void **state) {
  (void)state;
  world_t w;
  world(&w, NULL);
  tw_simresp_t r;
  assert_int_equal(tw_sim_api_force(w.fx->sim, "/helix/users", 503, 1, NULL),
                   0);
  helix(&w, "GET", "/helix/users", "tokchan", NULL, &r);
  assert_helix_err(&r, 503, "Service Unavailable", "Service Unavailable");
  tw_simresp_free(&r);
  helix(&w, "GET", "/helix/users", "tokchan", NULL, &r);
  assert_int_equal(r.status, 200);
  tw_simresp_free(&r);
  assert_int_equal(tw_sim_api_force(w.fx->sim, "/helix/users", 401, 1, NULL),
                   0);
  helix(&w, "GET", "/helix/users", "tokchan", NULL, &r);
  assert_helix_err(&r, 401, "Unauthorized", "Invalid OAuth token");
  tw_simresp_free(&r);
  assert_int_equal(tw_sim_api_force(w.fx->sim, "/helix/users", 429, 1, NULL),
                   0);
  helix(&w, "GET", "/helix/users", "tokchan", NULL, &r);
  assert_helix_err(&r, 429, "Too Many Requests", "Request limit exceeded");
  assert_int_equal(r.rl_remaining, 0);
  tw_simresp_free(&r);

  char path[128];
  snprintf(path, sizeof(path), "/helix/channels?broadcaster_id=%s", w.chan_id);
  expect_status(&w, "PATCH", path, "tokchan", "{\"title\":\"t\"}", 204);
  rb_t rb = {0};
  tw_sim_api_foreach(w.fx->sim, 0, "/helix/channels", rb_cb, &rb);
  assert_true(rb.found);
  long st = 0;
  json_t *j = tw_simfx_control(w.fx, "GET", "/api/requests?path=/helix/users",
                               NULL, &st);
  json_t *reqs = json_object_get(j, "requests");
  assert_int_equal(json_array_size(reqs), 4);
  assert_int_equal(
      json_integer_value(json_object_get(json_array_get(reqs, 0), "status")),
      503);
  assert_string_equal(tw_simfx_jstr(json_array_get(reqs, 0), "client_id"), CID);
  json_decref(j);
  world_free(&w);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auth_errors),
      cmocka_unit_test(test_rate_limit),
      cmocka_unit_test(test_users_streams_channels),
      cmocka_unit_test(test_bans),
      cmocka_unit_test(test_delete_chat),
      cmocka_unit_test(test_clips),
      cmocka_unit_test(test_chat_messages_announcements_shoutouts),
      cmocka_unit_test(test_eventsub),
      cmocka_unit_test(test_forced_and_readback),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
