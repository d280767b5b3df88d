/* Unit tests for the Helix response decoders, error bodies, the retry
 * tables and the Ratelimit-* headers feeding the core token bucket, from
 * the examples of docs/twitch-protocol.md section 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/bucket.h"
#include "twitchd/error.h"
#include "twitchd/helix.h"

#define L(s) (s), strlen(s)

/* ---- success bodies --------------------------------------------------------
 */

static void test_users(void **state) {
  (void)state;
  const char *body =
      "{\"data\":[{\"id\":\"141981764\",\"login\":\"twitchdev\","
      "\"display_name\":\"TwitchDev\",\"type\":\"\",\"broadcaster_type\":"
      "\"partner\",\"description\":\"Supporting third-party developers "
      "building Twitch integrations from chatbots to game integrations.\","
      "\"profile_image_url\":\"https://static-cdn.jtvnw.net/jtv_user_pictures/"
      "8a6381c7-d0c0-4576-b179-38bd5ce1d6af-profile_image-300x300.png\","
      "\"offline_image_url\":\"https://static-cdn.jtvnw.net/jtv_user_pictures/"
      "3f13ab61-ec78-4fe6-8481-8682cb3b0ac2-channel_offline_image-1920x1080."
      "png\",\"view_count\":5980557,\"email\":\"not-real@email.com\","
      "\"created_at\":\"2016-12-14T20:32:28Z\"}]}";
  tw_helix_users_t u;
  assert_int_equal(tw_helix_decode_users(L(body), &u), 0);
  assert_int_equal(u.n, 1);
  assert_string_equal(u.v[0].id, "141981764");
  assert_string_equal(u.v[0].login, "twitchdev");
  assert_string_equal(u.v[0].display_name, "TwitchDev");
  assert_string_equal(u.v[0].type, "");
  assert_string_equal(u.v[0].broadcaster_type, "partner");
  assert_string_equal(u.v[0].created_at, "2016-12-14T20:32:28Z");
  tw_helix_users_free(&u);
  assert_null(u.v);

  /* Unknown logins are left out: an empty list, not an error. */
  assert_int_equal(tw_helix_decode_users(L("{\"data\":[]}"), &u), 0);
  assert_int_equal(u.n, 0);
  tw_helix_users_free(&u);

  static const char *const bad[] = {
      "",
      "[]",
      "{}",
      "{\"data\":{}}",
      "{\"data\":[1]}",
      "{\"data\":[{\"login\":\"x\"}]}",
      "{\"data\":[{\"id\":5,\"login\":\"x\"}]}",
      "{\"data\":[{\"id\":\"1\",\"login\":\"x\\u0000y\"}]}",
      "{\"data\":[{\"id\":\"1\",\"login\":\"x\",\"display_name\":[]}]}",
      "{\"data\":[],\"data\":[]}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = tw_helix_decode_users(L(bad[i]), &u);
    if (rc != TW_EPARSE)
      fail_msg("%s: rc %d", bad[i], rc);
    assert_int_equal(u.n, 0);
    assert_null(u.v);
    tw_helix_users_free(&u); /* harmless after a failure */
  }
  assert_int_equal(tw_helix_decode_users(NULL, 4, &u), TW_EINVAL);
  assert_int_equal(tw_helix_decode_users(L("{}"), NULL), TW_EINVAL);
}

static void test_item_cap(void **state) {
  (void)state;
  size_t n = TW_MAX_HELIX_ITEMS + 1;
  char *body = malloc(16 + n * 32);
  size_t o = (size_t)snprintf(body, 16, "{\"data\":[");
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(body + o, 32, "%s{\"id\":\"1\",\"login\":\"a\"}",
                          i ? "," : "");
  memcpy(body + o, "]}", 3);
  tw_helix_users_t u;
  assert_int_equal(tw_helix_decode_users(body, strlen(body), &u), TW_EPARSE);
  free(body);
  char *big = malloc(TW_MAX_HELIX_RESPONSE + 1);
  memset(big, ' ', TW_MAX_HELIX_RESPONSE + 1);
  assert_int_equal(tw_helix_decode_users(big, TW_MAX_HELIX_RESPONSE + 1, &u),
                   TW_ETOOBIG);
  free(big);
}

static void test_streams(void **state) {
  (void)state;
  const char *body =
      "{\"data\":[{\"id\":\"40952121085\",\"user_id\":\"101051819\","
      "\"user_login\":\"afro\",\"user_name\":\"Afro\",\"game_id\":\"32982\","
      "\"game_name\":\"Grand Theft Auto V\",\"type\":\"live\",\"title\":"
      "\"Jacob: Digital Den Laptops & Routers | NoPixel | !MAINGEAR !FCF\","
      "\"tags\":[\"English\"],\"viewer_count\":1490,\"started_at\":"
      "\"2021-03-10T03:18:11Z\",\"language\":\"en\",\"thumbnail_url\":"
      "\"https://static-cdn.jtvnw.net/previews-ttv/live_user_afro-{width}x{"
      "height}.jpg\",\"tag_ids\":[],\"is_mature\":false}],"
      "\"pagination\":{\"cursor\":\"eyJiIjp7IkN1cnNvciI6ImV5SnpJam94\"}}";
  tw_helix_streams_t s;
  assert_int_equal(tw_helix_decode_streams(L(body), &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.v[0].user_login, "afro");
  assert_string_equal(s.v[0].title,
                      "Jacob: Digital Den Laptops & Routers | NoPixel | "
                      "!MAINGEAR !FCF");
  assert_string_equal(s.v[0].type, "live");
  assert_string_equal(s.v[0].game_name, "Grand Theft Auto V");
  assert_int_equal(s.v[0].viewer_count, 1490);
  assert_string_equal(s.v[0].started_at, "2021-03-10T03:18:11Z");
  assert_string_equal(s.cursor, "eyJiIjp7IkN1cnNvciI6ImV5SnpJam94");
  tw_helix_streams_free(&s);

  /* Offline: absent from data. Last page: empty pagination. */
  assert_int_equal(
      tw_helix_decode_streams(L("{\"data\":[],\"pagination\":{}}"), &s), 0);
  assert_int_equal(s.n, 0);
  assert_null(s.cursor);
  tw_helix_streams_free(&s);
  assert_int_equal(tw_helix_decode_streams(
                       L("{\"data\":[],\"pagination\":{\"cursor\":\"\"}}"), &s),
                   0);
  assert_null(s.cursor);
  tw_helix_streams_free(&s);
  assert_int_equal(
      tw_helix_decode_streams(L("{\"data\":[],\"pagination\":[]}"), &s),
      TW_EPARSE);
  assert_int_equal(
      tw_helix_decode_streams(
          L("{\"data\":[{\"id\":\"1\",\"user_id\":\"2\",\"user_login\":\"a\","
            "\"viewer_count\":-1}]}"),
          &s),
      TW_EPARSE);
}

static void test_ban(void **state) {
  (void)state;
  tw_helix_ban_t b;
  assert_int_equal(
      tw_helix_decode_ban(
          L("{\"data\":[{\"broadcaster_id\":\"1234\",\"moderator_id\":"
            "\"5678\",\"user_id\":\"9876\",\"created_at\":"
            "\"2021-09-28T18:22:31Z\",\"end_time\":null}]}"),
          &b),
      0);
  assert_string_equal(b.broadcaster_id, "1234");
  assert_string_equal(b.moderator_id, "5678");
  assert_string_equal(b.user_id, "9876");
  assert_string_equal(b.created_at, "2021-09-28T18:22:31Z");
  assert_null(b.end_time); /* permanent */
  tw_helix_ban_free(&b);
  assert_int_equal(
      tw_helix_decode_ban(
          L("{\"data\":[{\"broadcaster_id\":\"1234\",\"moderator_id\":"
            "\"5678\",\"user_id\":\"9876\",\"created_at\":"
            "\"2021-09-28T19:27:31Z\",\"end_time\":\"2021-09-28T19:22:31Z\"}]"
            "}"),
          &b),
      0);
  assert_string_equal(b.end_time, "2021-09-28T19:22:31Z");
  tw_helix_ban_free(&b);
  assert_int_equal(tw_helix_decode_ban(L("{\"data\":[]}"), &b), TW_EPARSE);
  assert_int_equal(
      tw_helix_decode_ban(L("{\"data\":[{\"user_id\":\"1\"}]}"), &b),
      TW_EPARSE);
}

static void test_clips(void **state) {
  (void)state;
  tw_helix_clip_created_t cc;
  assert_int_equal(
      tw_helix_decode_clip_created(
          L("{\"data\":[{\"id\":\"FiveWordsForClipSlug\",\"edit_url\":"
            "\"https://www.twitch.tv/twitchdev/clip/FiveWordsForClipSlug\"}]}"),
          &cc),
      0);
  assert_string_equal(cc.id, "FiveWordsForClipSlug");
  assert_string_equal(cc.edit_url, "https://www.twitch.tv/twitchdev/clip/"
                                   "FiveWordsForClipSlug");
  tw_helix_clip_created_free(&cc);
  assert_int_equal(
      tw_helix_decode_clip_created(L("{\"data\":[{\"id\":\"\"}]}"), &cc),
      TW_EPARSE);

  const char *body =
      "{\"data\":[{\"id\":\"AwkwardHelplessSalamanderSwiftRage\",\"url\":"
      "\"https://clips.twitch.tv/AwkwardHelplessSalamanderSwiftRage\","
      "\"embed_url\":\"https://clips.twitch.tv/embed?clip="
      "AwkwardHelplessSalamanderSwiftRage\",\"broadcaster_id\":\"67955580\","
      "\"broadcaster_name\":\"ChewieMelodies\",\"creator_id\":\"53834192\","
      "\"creator_name\":\"BlackNova03\",\"video_id\":\"205586603\","
      "\"game_id\":\"488191\",\"language\":\"en\",\"title\":\"babymetal\","
      "\"view_count\":10,\"created_at\":\"2017-11-30T22:34:18Z\","
      "\"thumbnail_url\":\"https://clips-media-assets.twitch.tv/157589949-"
      "preview-480x272.jpg\",\"duration\":60,\"vod_offset\":480,"
      "\"is_featured\":false},"
      "{\"id\":\"Second\",\"duration\":29.9,\"vod_offset\":null,"
      "\"is_featured\":true}],\"pagination\":{}}";
  tw_helix_clips_t c;
  assert_int_equal(tw_helix_decode_clips(L(body), &c), 0);
  assert_int_equal(c.n, 2);
  assert_string_equal(c.v[0].id, "AwkwardHelplessSalamanderSwiftRage");
  assert_string_equal(c.v[0].broadcaster_name, "ChewieMelodies");
  assert_string_equal(c.v[0].title, "babymetal");
  assert_int_equal(c.v[0].view_count, 10);
  assert_true(c.v[0].duration == 60.0);
  assert_int_equal(c.v[0].vod_offset, 480);
  assert_false(c.v[0].is_featured);
  assert_true(c.v[1].duration > 29.89 && c.v[1].duration < 29.91);
  assert_int_equal(c.v[1].vod_offset, -1);
  assert_true(c.v[1].is_featured);
  assert_null(c.v[1].url);
  assert_null(c.cursor);
  tw_helix_clips_free(&c);
  /* A clip that does not exist yet: empty data. */
  assert_int_equal(tw_helix_decode_clips(L("{\"data\":[]}"), &c), 0);
  assert_int_equal(c.n, 0);
  tw_helix_clips_free(&c);
  assert_int_equal(
      tw_helix_decode_clips(
          L("{\"data\":[{\"id\":\"x\",\"duration\":\"60\"}]}"), &c),
      TW_EPARSE);
  assert_int_equal(tw_helix_decode_clips(
                       L("{\"data\":[{\"id\":\"x\",\"is_featured\":1}]}"), &c),
                   TW_EPARSE);
}

static void test_chat_sent(void **state) {
  (void)state;
  tw_helix_chat_sent_t c;
  assert_int_equal(
      tw_helix_decode_chat_sent(
          L("{\"data\":[{\"message_id\":\"abc-123-def\",\"is_sent\":true}]}"),
          &c),
      0);
  assert_string_equal(c.message_id, "abc-123-def");
  assert_true(c.is_sent);
  assert_null(c.drop_code);
  assert_null(c.drop_message);
  tw_helix_chat_sent_free(&c);

  /* Refused by Twitch: still HTTP 200; the reason says why. */
  assert_int_equal(
      tw_helix_decode_chat_sent(
          L("{\"data\":[{\"message_id\":\"\",\"is_sent\":false,"
            "\"drop_reason\":{\"code\":\"msg_duplicate\",\"message\":"
            "\"Your message is identical to the one you sent within the "
            "last 30 seconds.\"}}]}"),
          &c),
      0);
  assert_false(c.is_sent);
  assert_string_equal(c.drop_code, "msg_duplicate");
  assert_string_equal(c.drop_message, "Your message is identical to the one "
                                      "you sent within the last 30 seconds.");
  tw_helix_chat_sent_free(&c);

  static const char *const bad[] = {
      "{\"data\":[]}",
      "{\"data\":[{\"message_id\":\"x\"}]}",
      "{\"data\":[{\"message_id\":\"x\",\"is_sent\":\"yes\"}]}",
      "{\"data\":[{\"message_id\":\"\",\"is_sent\":true}]}",
      "{\"data\":[{\"is_sent\":false,\"drop_reason\":\"x\"}]}",
      "{\"data\":[{\"is_sent\":false,\"drop_reason\":{\"code\":1}}]}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = tw_helix_decode_chat_sent(L(bad[i]), &c);
    if (rc != TW_EPARSE)
      fail_msg("%s: rc %d", bad[i], rc);
    assert_null(c.message_id);
  }
}

static void test_subs(void **state) {
  (void)state;
  /* 2.16, Create answer, docs example (webhook). */
  const char *body =
      "{\"data\":[{\"id\":\"26b1c993-bfcf-44d9-b876-379dacafe75a\","
      "\"status\":\"webhook_callback_verification_pending\",\"type\":"
      "\"user.update\",\"version\":\"1\",\"condition\":{\"user_id\":"
      "\"1234\"},\"created_at\":\"2020-11-10T14:32:18.730260295Z\","
      "\"transport\":{\"method\":\"webhook\",\"callback\":"
      "\"https://this-is-a-callback.com\"},\"cost\":1}],\"total\":1,"
      "\"total_cost\":1,\"max_total_cost\":10000}";
  tw_helix_subs_t s;
  assert_int_equal(tw_helix_decode_subs(L(body), &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.v[0].id, "26b1c993-bfcf-44d9-b876-379dacafe75a");
  assert_string_equal(s.v[0].status, "webhook_callback_verification_pending");
  assert_string_equal(s.v[0].type, "user.update");
  assert_string_equal(s.v[0].version, "1");
  assert_string_equal(s.v[0].condition_json, "{\"user_id\":\"1234\"}");
  assert_string_equal(s.v[0].transport_method, "webhook");
  assert_string_equal(s.v[0].callback, "https://this-is-a-callback.com");
  assert_null(s.v[0].session_id);
  assert_string_equal(s.v[0].created_at, "2020-11-10T14:32:18.730260295Z");
  assert_int_equal(s.v[0].cost, 1);
  assert_int_equal(s.total, 1);
  assert_int_equal(s.total_cost, 1);
  assert_int_equal(s.max_total_cost, 10000);
  assert_null(s.cursor);
  tw_helix_subs_free(&s);

  /* List answer, WebSocket, two subscriptions, keys out of order: the
   * condition text is canonical (sorted keys). */
  body = "{\"total\":2,\"data\":[{\"id\":\"a\",\"status\":\"enabled\","
         "\"type\":\"channel.follow\",\"version\":\"2\",\"cost\":0,"
         "\"condition\":{\"moderator_user_id\":\"1337\","
         "\"broadcaster_user_id\":\"1337\"},\"transport\":{\"method\":"
         "\"websocket\",\"session_id\":\"AQoQ\",\"connected_at\":"
         "\"2022-11-16T10:11:12.634234626Z\"},\"created_at\":"
         "\"2022-11-16T10:11:12.634234626Z\"},{\"id\":\"b\",\"status\":"
         "\"websocket_disconnected\",\"type\":\"stream.online\",\"version\":"
         "\"1\",\"cost\":1,\"condition\":{\"broadcaster_user_id\":\"1\"},"
         "\"transport\":{\"method\":\"websocket\",\"session_id\":\"old\","
         "\"connected_at\":\"2022-11-16T10:11:12Z\",\"disconnected_at\":"
         "\"2022-11-16T11:00:00Z\"}}],\"total_cost\":1,\"max_total_cost\":10,"
         "\"pagination\":{\"cursor\":\"next\"}}";
  assert_int_equal(tw_helix_decode_subs(L(body), &s), 0);
  assert_int_equal(s.n, 2);
  assert_string_equal(s.v[0].condition_json,
                      "{\"broadcaster_user_id\":\"1337\","
                      "\"moderator_user_id\":\"1337\"}");
  assert_string_equal(s.v[0].session_id, "AQoQ");
  assert_int_equal(s.v[0].cost, 0);
  assert_null(s.v[0].disconnected_at);
  assert_string_equal(s.v[1].status, "websocket_disconnected");
  assert_string_equal(s.v[1].disconnected_at, "2022-11-16T11:00:00Z");
  assert_int_equal(s.max_total_cost, 10);
  assert_string_equal(s.cursor, "next");
  tw_helix_subs_free(&s);

  /* Envelope counts absent: -1. */
  assert_int_equal(tw_helix_decode_subs(L("{\"data\":[]}"), &s), 0);
  assert_int_equal(s.total, -1);
  assert_int_equal(s.max_total_cost, -1);
  tw_helix_subs_free(&s);

  static const char *const bad[] = {
      "{\"data\":[{\"id\":\"a\",\"status\":\"enabled\",\"type\":\"t\","
      "\"version\":\"1\",\"transport\":{\"method\":\"websocket\"}}]}",
      "{\"data\":[{\"id\":\"a\",\"status\":\"enabled\",\"type\":\"t\","
      "\"version\":\"1\",\"condition\":{}}]}",
      "{\"data\":[{\"id\":\"a\",\"status\":\"enabled\",\"type\":\"t\","
      "\"version\":\"1\",\"condition\":{},\"transport\":{}}]}",
      "{\"data\":[{\"id\":\"a\",\"type\":\"t\",\"version\":\"1\","
      "\"condition\":{},\"transport\":{\"method\":\"webhook\"}}]}",
      "{\"data\":[],\"total\":\"1\"}",
      "{\"data\":[{\"id\":\"a\",\"status\":\"enabled\",\"type\":\"t\","
      "\"version\":\"1\",\"cost\":-1,\"condition\":{},\"transport\":"
      "{\"method\":\"webhook\"}}]}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = tw_helix_decode_subs(L(bad[i]), &s);
    if (rc != TW_EPARSE)
      fail_msg("case %zu: rc %d", i, rc);
    assert_int_equal(s.n, 0);
    assert_null(s.v);
  }
}

/* ---- errors
 * ------------------------------------------------------------------ */

typedef struct {
  int status;
  const char *body;
  tw_helix_err_kind_t kind;
  int rc;
  const char *scope;
} herr_case_t;

static const herr_case_t k_errors[] = {
    /* 2.1's table of real messages. */
    {401,
     "{\"error\":\"Unauthorized\",\"status\":401,\"message\":\"Invalid "
     "OAuth token\"}",
     TW_HELIX_ERR_INVALID_TOKEN, TW_EAUTH, ""},
    {401,
     "{\"error\":\"Unauthorized\",\"status\":401,\"message\":\"OAuth "
     "token is missing\"}",
     TW_HELIX_ERR_INVALID_TOKEN, TW_EAUTH, ""},
    {401,
     "{\"error\":\"Unauthorized\",\"status\":401,\"message\":\"Client ID "
     "and OAuth token do not match\"}",
     TW_HELIX_ERR_CLIENT_MISMATCH, TW_EAUTH, ""},
    {401,
     "{\"error\":\"Unauthorized\",\"status\":401,\"message\":\"Missing "
     "scope: moderator:manage:banned_users\"}",
     TW_HELIX_ERR_MISSING_SCOPE, TW_ESCOPE, "moderator:manage:banned_users"},
    {403,
     "{\"error\":\"Forbidden\",\"status\":403,\"message\":\"Missing "
     "scope: channel:read:subscriptions\"}",
     TW_HELIX_ERR_MISSING_SCOPE, TW_ESCOPE, "channel:read:subscriptions"},
    {401,
     "{\"error\":\"Unauthorized\",\"status\":401,\"message\":\"The ID "
     "in broadcaster_id must match the user ID in the access token.\"}",
     TW_HELIX_ERR_UNAUTHORIZED, TW_EAUTH, ""},
    {400,
     "{\"error\":\"Bad Request\",\"status\":400,\"message\":\"Invalid "
     "login names, emails or IDs in request\"}",
     TW_HELIX_ERR_BAD_REQUEST, TW_EHTTP, ""},
    {400,
     "{\"error\":\"Bad Request\",\"status\":400,\"message\":\"user is "
     "already banned\"}",
     TW_HELIX_ERR_ALREADY_BANNED, TW_EEXIST, ""},
    {400,
     "{\"error\":\"Bad Request\",\"status\":400,\"message\":\"user is "
     "not banned\"}",
     TW_HELIX_ERR_NOT_BANNED, TW_ENOTFOUND, ""},
    {400,
     "{\"error\":\"Bad Request\",\"status\":400,\"message\":\"websocket "
     "transport session does not exist or has already disconnected\"}",
     TW_HELIX_ERR_SESSION_GONE, TW_ECLOSED, ""},
    {403,
     "{\"error\":\"Forbidden\",\"status\":403,\"message\":\"The user in "
     "moderator_id is not one of the broadcaster's moderators.\"}",
     TW_HELIX_ERR_FORBIDDEN, TW_EFORBIDDEN, ""},
    {404,
     "{\"error\":\"Not Found\",\"status\":404,\"message\":\"Clipping is "
     "not possible for an offline channel.\"}",
     TW_HELIX_ERR_NOT_FOUND, TW_ENOTFOUND, ""},
    {409,
     "{\"error\":\"Conflict\",\"status\":409,\"message\":\"subscription "
     "already exists\"}",
     TW_HELIX_ERR_CONFLICT, TW_EEXIST, ""},
    {410,
     "{\"error\":\"Gone\",\"status\":410,\"message\":\"The API is "
     "deprecated.\"}",
     TW_HELIX_ERR_GONE, TW_ENOTFOUND, ""},
    {422,
     "{\"error\":\"Unprocessable Entity\",\"status\":422,\"message\":"
     "\"message is too large\"}",
     TW_HELIX_ERR_UNPROCESSABLE, TW_ETOOBIG, ""},
    {429,
     "{\"error\":\"Too Many Requests\",\"status\":429,\"message\":"
     "\"Request limit exceeded\"}",
     TW_HELIX_ERR_RATE_LIMITED, TW_ERATELIMIT, ""},
    {429,
     "{\"error\":\"Too Many Requests\",\"status\":429,\"message\":"
     "\"number of websocket transports limit exceeded\"}",
     TW_HELIX_ERR_TRANSPORT_LIMIT, TW_ERATELIMIT, ""},
    {500,
     "{\"error\":\"Internal Server Error\",\"status\":500,\"message\":"
     "\"\"}",
     TW_HELIX_ERR_SERVER, TW_EHTTP, ""},
    {503, "<html>Service Unavailable</html>", TW_HELIX_ERR_SERVER, TW_EHTTP,
     ""},
    {418, "", TW_HELIX_ERR_OTHER, TW_EHTTP, ""},
    /* Not JSON or wrong types: the status still decides. */
    {401, "not json", TW_HELIX_ERR_UNAUTHORIZED, TW_EAUTH, ""},
    {401, "{\"message\":42}", TW_HELIX_ERR_UNAUTHORIZED, TW_EAUTH, ""},
    /* "Missing scope" is only a scope error on 401/403. */
    {400, "{\"message\":\"Missing scope: x\"}", TW_HELIX_ERR_BAD_REQUEST,
     TW_EHTTP, ""},
};

static void test_error_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(k_errors) / sizeof(k_errors[0]); i++) {
    const herr_case_t *c = &k_errors[i];
    tw_helix_error_t err;
    int rc = tw_helix_decode_error(c->status, L(c->body), &err);
    if (rc != c->rc || err.kind != c->kind || strcmp(err.scope, c->scope) ||
        err.status != c->status)
      fail_msg("case %zu (%d %s): rc %d kind %s scope '%s'", i, c->status,
               c->body, rc, tw_helix_err_name(err.kind), err.scope);
    assert_int_equal(tw_helix_err_code(err.kind), c->rc);
  }
  tw_helix_error_t err;
  const char *b = "{\"error\":\"Unauthorized\",\"status\":401,\"message\":"
                  "\"Missing scope: moderator:manage:banned_users\"}";
  assert_int_equal(tw_helix_decode_error(401, L(b), &err), TW_ESCOPE);
  assert_string_equal(err.error, "Unauthorized");
  assert_string_equal(err.message,
                      "Missing scope: moderator:manage:banned_users");
  /* The raw text of a non-JSON body is kept for people, sanitised. */
  assert_int_equal(tw_helix_decode_error(502, L("bad\r\ngateway"), &err),
                   TW_EHTTP);
  assert_string_equal(err.message, "bad??gateway");
  /* 2xx: no error. */
  assert_int_equal(tw_helix_decode_error(204, "", 0, &err), 0);
  assert_int_equal(err.kind, TW_HELIX_ERR_NONE);
  assert_int_equal(tw_helix_decode_error(500, NULL, 0, NULL), TW_EHTTP);
  for (int k = TW_HELIX_ERR_NONE; k <= TW_HELIX_ERR_OTHER; k++)
    assert_string_not_equal(tw_helix_err_name((tw_helix_err_kind_t)k),
                            "unknown");
}

static tw_helix_error_t err_of(int status, const char *msg) {
  tw_helix_error_t e;
  char body[256];
  snprintf(body, sizeof(body), "{\"status\":%d,\"message\":\"%s\"}", status,
           msg);
  tw_helix_decode_error(status, L(body), &e);
  return e;
}

static void test_retry_rules(void **state) {
  (void)state;
  tw_helix_error_t e500 = err_of(500, ""), e429 = err_of(429, "x"),
                   e401 = err_of(401, "Invalid OAuth token"),
                   e409 = err_of(409, "x"), e400 = err_of(400, "x"),
                   escope = err_of(401, "Missing scope: a:b"),
                   elimit = err_of(429, "websocket transports limit exceeded");
  for (int i = 0; i < TW_HELIX_ENDPOINT_COUNT; i++) {
    tw_helix_endpoint_t e = (tw_helix_endpoint_t)i;
    bool safe = tw_helix_endpoint_info(e)->retry == TW_HELIX_RETRY_SAFE;
    /* A 5xx may have been performed: only idempotent requests again. */
    assert_int_equal(tw_helix_should_retry(e, &e500), safe);
    /* 429 and an invalid token were refused before anything happened. */
    assert_true(tw_helix_should_retry(e, &e429));
    assert_true(tw_helix_should_retry(e, &e401));
    /* Neither a bad request, a missing scope nor the transport limit gets
     * better by trying again. */
    assert_false(tw_helix_should_retry(e, &e400));
    assert_false(tw_helix_should_retry(e, &escope));
    assert_false(tw_helix_should_retry(e, &elimit));
    assert_int_equal(tw_helix_should_retry(e, &e409),
                     e == TW_HELIX_BAN_USER || e == TW_HELIX_UNBAN_USER);
  }
  /* The requests that must never be sent twice. */
  assert_false(tw_helix_should_retry(TW_HELIX_SEND_CHAT_MESSAGE, &e500));
  assert_false(tw_helix_should_retry(TW_HELIX_CREATE_CLIP, &e500));
  assert_false(tw_helix_should_retry(TW_HELIX_SEND_ANNOUNCEMENT, &e500));
  assert_false(tw_helix_should_retry(TW_HELIX_SEND_SHOUTOUT, &e500));
  assert_false(tw_helix_should_retry(TW_HELIX_ENDPOINT_COUNT, &e429));
  assert_false(tw_helix_should_retry(TW_HELIX_GET_USERS, NULL));

  /* Answers to a repeat that mean the first copy worked. */
  tw_helix_error_t banned = err_of(400, "user is already banned"),
                   notbanned = err_of(400, "user is not banned"),
                   nf = err_of(404, "x"),
                   exists = err_of(409, "subscription already "
                                        "exists");
  assert_true(tw_helix_already_done(TW_HELIX_BAN_USER, &banned));
  assert_true(tw_helix_already_done(TW_HELIX_UNBAN_USER, &notbanned));
  assert_true(tw_helix_already_done(TW_HELIX_DELETE_CHAT_MESSAGES, &nf));
  assert_true(tw_helix_already_done(TW_HELIX_EVENTSUB_DELETE, &nf));
  assert_true(tw_helix_already_done(TW_HELIX_EVENTSUB_CREATE, &exists));
  assert_false(tw_helix_already_done(TW_HELIX_BAN_USER, &notbanned));
  assert_false(tw_helix_already_done(TW_HELIX_UNBAN_USER, &banned));
  assert_false(tw_helix_already_done(TW_HELIX_CREATE_CLIP, &nf));
  assert_false(tw_helix_already_done(TW_HELIX_SEND_CHAT_MESSAGE, &e500));
  assert_false(tw_helix_already_done(TW_HELIX_BAN_USER, NULL));
}

/* ---- rate limit headers
 * --------------------------------------------------------- */

static void test_ratelimit_headers(void **state) {
  (void)state;
  tw_helix_ratelimit_t rl;
  tw_helix_ratelimit_init(&rl);
  assert_int_equal(tw_helix_ratelimit_header(&rl, L("HTTP/1.1 200 OK\r\n")), 0);
  assert_int_equal(
      tw_helix_ratelimit_header(&rl, L("Ratelimit-Limit: 800\r\n")), 0);
  assert_int_equal(
      tw_helix_ratelimit_header(&rl, L("ratelimit-remaining:799\r\n")), 0);
  assert_int_equal(
      tw_helix_ratelimit_header(&rl, L("RATELIMIT-RESET: \t1764107460 \r\n")),
      0);
  assert_int_equal(
      tw_helix_ratelimit_header(&rl, L("Content-Type: application/json\r\n")),
      0);
  assert_int_equal(tw_helix_ratelimit_header(&rl, L("Ratelimit-Limited: 5")),
                   0);
  assert_int_equal(tw_helix_ratelimit_header(&rl, L("\r\n")), 0);
  assert_true(rl.has_limit && rl.has_remaining && rl.has_reset);
  assert_int_equal(rl.limit, 800);
  assert_int_equal(rl.remaining, 799);
  assert_int_equal(rl.reset_epoch_s, 1764107460);
  assert_int_equal(tw_helix_ratelimit_reset_in_ms(&rl, 1764107400000ull),
                   60000);
  assert_int_equal(tw_helix_ratelimit_reset_in_ms(&rl, 1764107460001ull), 0);

  /* A malformed value unsets that field only. */
  static const char *const bad[] = {
      "Ratelimit-Remaining: ",     "Ratelimit-Remaining: -1",
      "Ratelimit-Remaining: 12a",  "Ratelimit-Remaining: 1 2",
      "Ratelimit-Remaining: 0x10", "Ratelimit-Remaining: 99999999999999999",
      "Ratelimit-Remaining: +5",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    rl.has_remaining = true;
    if (tw_helix_ratelimit_header(&rl, L(bad[i])) != TW_EPARSE)
      fail_msg("accepted '%s'", bad[i]);
    assert_false(rl.has_remaining);
    assert_true(rl.has_limit);
  }
  /* Counted input: the header is read only up to len. */
  assert_int_equal(tw_helix_ratelimit_header(&rl, "Ratelimit-Remaining: 12345",
                                             strlen("Ratelimit-Remaining: 12")),
                   0);
  assert_int_equal(rl.remaining, 12);
  assert_int_equal(tw_helix_ratelimit_header(&rl, NULL, 3), TW_EINVAL);
  tw_helix_ratelimit_init(&rl);
  assert_false(rl.has_limit || rl.has_remaining || rl.has_reset);
  assert_int_equal(tw_helix_ratelimit_reset_in_ms(&rl, 5), 0);
}

static void test_ratelimit_bucket(void **state) {
  (void)state;
  const uint64_t wall = 1764107400000ull; /* the wall clock */
  const uint64_t mono = 5000;             /* the bucket's clock */
  tw_bucket_t b;
  assert_int_equal(tw_bucket_init(&b, 800, 800, 60000, mono), 0);
  tw_helix_ratelimit_t rl;

  /* 200 with Remaining 10: the server's count wins over our full bucket. */
  tw_helix_ratelimit_init(&rl);
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Limit: 800"));
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Remaining: 10"));
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Reset: 1764107430"));
  assert_int_equal(tw_helix_ratelimit_apply(&rl, 200, &b, wall, mono),
                   TW_HELIX_RL_SET);
  assert_int_equal(tw_bucket_available(&b, mono), 10);
  /* Full again by the reset, 30 s later. */
  assert_int_equal(tw_bucket_available(&b, mono + 30000), 800);

  /* 429 with Remaining 0: hold everything until the reset. */
  tw_helix_ratelimit_init(&rl);
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Remaining: 0"));
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Reset: 1764107412"));
  assert_int_equal(tw_helix_ratelimit_apply(&rl, 429, &b, wall, mono),
                   TW_HELIX_RL_HELD);
  assert_int_equal(tw_bucket_available(&b, mono), 0);
  assert_int_equal(tw_bucket_available(&b, mono + 11999), 0);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, mono), 12000);
  assert_int_equal(tw_bucket_available(&b, mono + 12000), 800);

  /* 429 whose reset is already past by our clock: still a 1 s pause. */
  tw_helix_ratelimit_init(&rl);
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Remaining: 0"));
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Reset: 1764107399"));
  assert_int_equal(tw_helix_ratelimit_apply(&rl, 429, &b, wall, mono + 20000),
                   TW_HELIX_RL_HELD);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, mono + 20000), 1000);

  /* 429 without headers: a whole refill window. */
  tw_helix_ratelimit_init(&rl);
  assert_int_equal(tw_helix_ratelimit_apply(&rl, 429, &b, wall, mono + 30000),
                   TW_HELIX_RL_HELD);
  assert_int_equal(tw_bucket_wait_ms(&b, 1, mono + 30000), 60000);

  /* 429 with points left: an endpoint's own limit (announcements 1 per
   * 2 s); the shared bucket is not held. */
  assert_int_equal(tw_bucket_init(&b, 800, 800, 60000, mono), 0);
  tw_helix_ratelimit_init(&rl);
  tw_helix_ratelimit_header(&rl, L("Ratelimit-Remaining: 700"));
  assert_int_equal(tw_helix_ratelimit_apply(&rl, 429, &b, wall, mono),
                   TW_HELIX_RL_ENDPOINT_LIMIT);
  assert_int_equal(tw_bucket_available(&b, mono), 700);

  /* No headers on a 200: nothing changes. */
  tw_helix_ratelimit_init(&rl);
  assert_int_equal(tw_helix_ratelimit_apply(&rl, 200, &b, wall, mono),
                   TW_HELIX_RL_NONE);
  assert_int_equal(tw_bucket_available(&b, mono), 700);
  assert_int_equal(tw_helix_ratelimit_apply(NULL, 200, &b, wall, mono),
                   TW_HELIX_RL_NONE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_users),
      cmocka_unit_test(test_item_cap),
      cmocka_unit_test(test_streams),
      cmocka_unit_test(test_ban),
      cmocka_unit_test(test_clips),
      cmocka_unit_test(test_chat_sent),
      cmocka_unit_test(test_subs),
      cmocka_unit_test(test_error_table),
      cmocka_unit_test(test_retry_rules),
      cmocka_unit_test(test_ratelimit_headers),
      cmocka_unit_test(test_ratelimit_bucket),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
