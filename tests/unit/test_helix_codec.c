/* Unit tests for the Helix request builders: method, target, JSON body,
 * success status and retry policy, from the examples of
 * docs/twitch-protocol.md section 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "twitchd/error.h"
#include "twitchd/helix.h"

/* Asserts the request's shape. `body` is compared as JSON (member order
 * and spacing do not matter); NULL means no body. */
static void check_req(const tw_helix_req_t *r, tw_helix_endpoint_t e,
                      const char *method, int status, tw_helix_retry_t retry,
                      const char *target, const char *body) {
  assert_int_equal(r->endpoint, e);
  assert_string_equal(tw_helix_method_name(r->method), method);
  assert_int_equal(r->success_status, status);
  assert_int_equal(r->retry, retry);
  if (strcmp(r->target.data, target) != 0)
    fail_msg("target\n got  %s\n want %s", r->target.data, target);
  if (!body) {
    assert_int_equal(r->body.len, 0);
    return;
  }
  json_error_t e1, e2;
  json_t *got = json_loadb(r->body.data, r->body.len, 0, &e1);
  json_t *want = json_loads(body, 0, &e2);
  assert_non_null(got);
  assert_non_null(want);
  if (!json_equal(got, want))
    fail_msg("body\n got  %s\n want %s", r->body.data, body);
  json_decref(got);
  json_decref(want);
}

static void test_endpoint_table(void **state) {
  (void)state;
  /* Success statuses exactly as Twitch sends them (protocol doc section
   * 6), and which requests must never be sent twice. */
  static const struct {
    tw_helix_endpoint_t e;
    const char *method, *path;
    int status;
    tw_helix_retry_t retry;
    const char *scope;
  } rows[] = {
      {TW_HELIX_GET_USERS, "GET", "/users", 200, TW_HELIX_RETRY_SAFE, NULL},
      {TW_HELIX_GET_STREAMS, "GET", "/streams", 200, TW_HELIX_RETRY_SAFE, NULL},
      {TW_HELIX_MODIFY_CHANNEL, "PATCH", "/channels", 204, TW_HELIX_RETRY_SAFE,
       "channel:manage:broadcast"},
      {TW_HELIX_BAN_USER, "POST", "/moderation/bans", 200, TW_HELIX_RETRY_SAFE,
       "moderator:manage:banned_users"},
      {TW_HELIX_UNBAN_USER, "DELETE", "/moderation/bans", 204,
       TW_HELIX_RETRY_SAFE, "moderator:manage:banned_users"},
      {TW_HELIX_DELETE_CHAT_MESSAGES, "DELETE", "/moderation/chat", 204,
       TW_HELIX_RETRY_SAFE, "moderator:manage:chat_messages"},
      {TW_HELIX_CREATE_CLIP, "POST", "/clips", 202, TW_HELIX_RETRY_NEVER,
       "clips:edit"},
      {TW_HELIX_GET_CLIPS, "GET", "/clips", 200, TW_HELIX_RETRY_SAFE, NULL},
      {TW_HELIX_SEND_CHAT_MESSAGE, "POST", "/chat/messages", 200,
       TW_HELIX_RETRY_NEVER, "user:write:chat"},
      {TW_HELIX_SEND_ANNOUNCEMENT, "POST", "/chat/announcements", 204,
       TW_HELIX_RETRY_NEVER, "moderator:manage:announcements"},
      {TW_HELIX_SEND_SHOUTOUT, "POST", "/chat/shoutouts", 204,
       TW_HELIX_RETRY_NEVER, "moderator:manage:shoutouts"},
      {TW_HELIX_EVENTSUB_CREATE, "POST", "/eventsub/subscriptions", 202,
       TW_HELIX_RETRY_SAFE, NULL},
      {TW_HELIX_EVENTSUB_LIST, "GET", "/eventsub/subscriptions", 200,
       TW_HELIX_RETRY_SAFE, NULL},
      {TW_HELIX_EVENTSUB_DELETE, "DELETE", "/eventsub/subscriptions", 204,
       TW_HELIX_RETRY_SAFE, NULL},
  };
  assert_int_equal(sizeof(rows) / sizeof(rows[0]), TW_HELIX_ENDPOINT_COUNT);
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    const tw_helix_endpoint_info_t *info = tw_helix_endpoint_info(rows[i].e);
    assert_non_null(info);
    assert_int_equal(info->endpoint, rows[i].e);
    assert_string_equal(tw_helix_method_name(info->method), rows[i].method);
    assert_string_equal(info->path, rows[i].path);
    assert_int_equal(info->success_status, rows[i].status);
    assert_int_equal(info->retry, rows[i].retry);
    if (rows[i].scope)
      assert_string_equal(info->scope, rows[i].scope);
    else
      assert_null(info->scope);
    assert_non_null(info->name);
  }
  assert_null(tw_helix_endpoint_info(TW_HELIX_ENDPOINT_COUNT));
  assert_null(tw_helix_endpoint_info((tw_helix_endpoint_t)-1));
}

static void test_get_users(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  const char *ids[] = {"141981764"};
  const char *logins[] = {"twitchdev", "foo_bar"};
  assert_int_equal(tw_helix_req_get_users(&r, ids, 1, logins, 2), 0);
  check_req(&r, TW_HELIX_GET_USERS, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/users?id=141981764&login=twitchdev&login=foo_bar", NULL);
  /* No parameters: the token's own user. */
  assert_int_equal(tw_helix_req_get_users(&r, NULL, 0, NULL, 0), 0);
  check_req(&r, TW_HELIX_GET_USERS, "GET", 200, TW_HELIX_RETRY_SAFE, "/users",
            NULL);
  /* A login where an id belongs (the seed's ban-by-login bug). */
  const char *bad_ids[] = {"twitchdev"};
  assert_int_equal(tw_helix_req_get_users(&r, bad_ids, 1, NULL, 0), TW_EINVAL);
  assert_int_equal(r.target.len, 0);
  const char *bad_logins[] = {"two words"};
  assert_int_equal(tw_helix_req_get_users(&r, NULL, 0, bad_logins, 1),
                   TW_EINVAL);
  /* At most 100 values together. */
  const char *many[101];
  for (int i = 0; i < 101; i++)
    many[i] = "12345";
  assert_int_equal(tw_helix_req_get_users(&r, many, 100, NULL, 0), 0);
  assert_int_equal(tw_helix_req_get_users(&r, many, 60, many, 41), TW_ETOOBIG);
  assert_int_equal(tw_helix_req_get_users(&r, NULL, 1, NULL, 0), TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_get_streams(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  const char *logins[] = {"afro"};
  const char *ids[] = {"101051819"};
  assert_int_equal(tw_helix_req_get_streams(&r, ids, 1, logins, 1, true, 20,
                                            "eyJiIjpudWxsLCJhIjp7In0fQ=="),
                   0);
  check_req(&r, TW_HELIX_GET_STREAMS, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/streams?user_id=101051819&user_login=afro&type=live&first=20"
            "&after=eyJiIjpudWxsLCJhIjp7In0fQ%3D%3D",
            NULL);
  assert_int_equal(
      tw_helix_req_get_streams(&r, NULL, 0, logins, 1, false, 0, NULL), 0);
  check_req(&r, TW_HELIX_GET_STREAMS, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/streams?user_login=afro", NULL);
  assert_int_equal(
      tw_helix_req_get_streams(&r, NULL, 0, logins, 1, false, 101, NULL),
      TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_set_title(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  /* 2.5, docs example: the title goes in the JSON body. */
  assert_int_equal(
      tw_helix_req_set_title(
          &r, "41245072",
          "there are helicopters in the game? REASON TO PLAY FORTNITE found"),
      0);
  check_req(&r, TW_HELIX_MODIFY_CHANNEL, "PATCH", 204, TW_HELIX_RETRY_SAFE,
            "/channels?broadcaster_id=41245072",
            "{\"title\":\"there are helicopters in the game? REASON TO PLAY "
            "FORTNITE found\"}");
  assert_null(strstr(r.target.data, "title"));

  /* Quotes, backslashes and control characters are escaped by jansson. */
  assert_int_equal(tw_helix_req_set_title(&r, "1", "say \"hi\" \\ \t now"), 0);
  check_req(&r, TW_HELIX_MODIFY_CHANNEL, "PATCH", 204, TW_HELIX_RETRY_SAFE,
            "/channels?broadcaster_id=1",
            "{\"title\":\"say \\\"hi\\\" \\\\ \\t now\"}");

  /* 140 characters of two bytes each is fine; 141 is not. */
  char t[141 * 2 + 1];
  for (int i = 0; i < 141; i++)
    memcpy(t + 2 * i, "\xc3\xa9", 2);
  t[140 * 2] = '\0';
  assert_int_equal(tw_helix_req_set_title(&r, "1", t), 0);
  t[140 * 2] = '\xc3';
  t[141 * 2] = '\0';
  assert_int_equal(tw_helix_req_set_title(&r, "1", t), TW_ETOOBIG);
  assert_int_equal(r.target.len, 0);
  assert_int_equal(r.body.len, 0);
  /* Empty, blank, invalid UTF-8, missing, bad id. */
  assert_int_equal(tw_helix_req_set_title(&r, "1", ""), TW_EINVAL);
  assert_int_equal(tw_helix_req_set_title(&r, "1", "  \t "), TW_EINVAL);
  assert_int_equal(tw_helix_req_set_title(&r, "1", "bad \xc3"), TW_EINVAL);
  assert_int_equal(tw_helix_req_set_title(&r, "1", "over\xc0\xaflong"),
                   TW_EINVAL);
  assert_int_equal(tw_helix_req_set_title(&r, "1", NULL), TW_EINVAL);
  assert_int_equal(tw_helix_req_set_title(&r, "", "x"), TW_EINVAL);
  assert_int_equal(tw_helix_req_set_title(&r, "12a", "x"), TW_EINVAL);
  assert_int_equal(tw_helix_req_set_title(NULL, "1", "x"), TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_ban_unban(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  /* 2.6, docs example: "data" is an object. */
  assert_int_equal(
      tw_helix_req_ban(&r, "1234", "5678", "9876", 300, "no reason"), 0);
  check_req(&r, TW_HELIX_BAN_USER, "POST", 200, TW_HELIX_RETRY_SAFE,
            "/moderation/bans?broadcaster_id=1234&moderator_id=5678",
            "{\"data\": {\"user_id\":\"9876\",\"duration\":300,"
            "\"reason\":\"no reason\"}}");
  /* Permanent ban: no duration member at all. */
  assert_int_equal(tw_helix_req_ban(&r, "1234", "5678", "9876", 0, NULL), 0);
  check_req(&r, TW_HELIX_BAN_USER, "POST", 200, TW_HELIX_RETRY_SAFE,
            "/moderation/bans?broadcaster_id=1234&moderator_id=5678",
            "{\"data\":{\"user_id\":\"9876\"}}");
  assert_int_equal(tw_helix_req_ban(&r, "1234", "5678", "9876",
                                    TW_MAX_HELIX_BAN_SECONDS, ""),
                   0);
  check_req(&r, TW_HELIX_BAN_USER, "POST", 200, TW_HELIX_RETRY_SAFE,
            "/moderation/bans?broadcaster_id=1234&moderator_id=5678",
            "{\"data\":{\"user_id\":\"9876\",\"duration\":1209600,"
            "\"reason\":\"\"}}");
  assert_int_equal(tw_helix_req_ban(&r, "1234", "5678", "9876",
                                    TW_MAX_HELIX_BAN_SECONDS + 1, NULL),
                   TW_EINVAL);
  assert_int_equal(tw_helix_req_ban(&r, "1234", "5678", "baduser", 0, NULL),
                   TW_EINVAL);
  char reason[502];
  memset(reason, 'r', 501);
  reason[501] = '\0';
  assert_int_equal(tw_helix_req_ban(&r, "1", "2", "3", 0, reason), TW_ETOOBIG);
  reason[500] = '\0';
  assert_int_equal(tw_helix_req_ban(&r, "1", "2", "3", 0, reason), 0);

  /* 2.7 */
  assert_int_equal(tw_helix_req_unban(&r, "1234", "5678", "9876"), 0);
  check_req(&r, TW_HELIX_UNBAN_USER, "DELETE", 204, TW_HELIX_RETRY_SAFE,
            "/moderation/bans?broadcaster_id=1234&moderator_id=5678"
            "&user_id=9876",
            NULL);
  assert_int_equal(tw_helix_req_unban(&r, "1234", NULL, "9876"), TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_delete_messages(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  assert_int_equal(
      tw_helix_req_delete_chat_messages(&r, "11111", "44444",
                                        "885196de-cb67-427a-baa8-82f9b0fcd05f"),
      0);
  check_req(&r, TW_HELIX_DELETE_CHAT_MESSAGES, "DELETE", 204,
            TW_HELIX_RETRY_SAFE,
            "/moderation/chat?broadcaster_id=11111&moderator_id=44444"
            "&message_id=885196de-cb67-427a-baa8-82f9b0fcd05f",
            NULL);
  /* No message id: clear the whole chat. */
  assert_int_equal(
      tw_helix_req_delete_chat_messages(&r, "11111", "44444", NULL), 0);
  check_req(&r, TW_HELIX_DELETE_CHAT_MESSAGES, "DELETE", 204,
            TW_HELIX_RETRY_SAFE,
            "/moderation/chat?broadcaster_id=11111&moderator_id=44444", NULL);
  assert_int_equal(
      tw_helix_req_delete_chat_messages(&r, "11111", "44444", "a b"),
      TW_EINVAL);
  assert_int_equal(tw_helix_req_delete_chat_messages(&r, "11111", "44444", ""),
                   TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_clips(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  assert_int_equal(tw_helix_req_create_clip(&r, "44322889", NULL, 0), 0);
  check_req(&r, TW_HELIX_CREATE_CLIP, "POST", 202, TW_HELIX_RETRY_NEVER,
            "/clips?broadcaster_id=44322889", NULL);
  /* Title and duration are query parameters; spaces are %20. */
  assert_int_equal(
      tw_helix_req_create_clip(&r, "44322889", "my clip & more", 305), 0);
  check_req(&r, TW_HELIX_CREATE_CLIP, "POST", 202, TW_HELIX_RETRY_NEVER,
            "/clips?broadcaster_id=44322889&title=my%20clip%20%26%20more"
            "&duration=30.5",
            NULL);
  assert_int_equal(tw_helix_req_create_clip(&r, "44322889", NULL, 600), 0);
  assert_non_null(strstr(r.target.data, "&duration=60.0"));
  assert_int_equal(tw_helix_req_create_clip(&r, "44322889", NULL, 49),
                   TW_EINVAL);
  assert_int_equal(tw_helix_req_create_clip(&r, "44322889", NULL, 601),
                   TW_EINVAL);

  const char *ids[] = {"AwkwardHelplessSalamanderSwiftRage",
                       "FiveWordsForClipSlug"};
  assert_int_equal(tw_helix_req_get_clips(&r, ids, 2), 0);
  check_req(&r, TW_HELIX_GET_CLIPS, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/clips?id=AwkwardHelplessSalamanderSwiftRage"
            "&id=FiveWordsForClipSlug",
            NULL);
  assert_int_equal(tw_helix_req_get_clips(&r, ids, 0), TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_send_chat(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  assert_int_equal(tw_helix_req_send_chat(&r, "12826", "141981764",
                                          "Hello, world! twitchdevHype", NULL,
                                          -1),
                   0);
  check_req(&r, TW_HELIX_SEND_CHAT_MESSAGE, "POST", 200, TW_HELIX_RETRY_NEVER,
            "/chat/messages",
            "{\"broadcaster_id\":\"12826\",\"sender_id\":\"141981764\","
            "\"message\":\"Hello, world! twitchdevHype\"}");
  assert_int_equal(tw_helix_req_send_chat(&r, "12826", "141981764", "reply",
                                          "abc-123-def", 1),
                   0);
  check_req(&r, TW_HELIX_SEND_CHAT_MESSAGE, "POST", 200, TW_HELIX_RETRY_NEVER,
            "/chat/messages",
            "{\"broadcaster_id\":\"12826\",\"sender_id\":\"141981764\","
            "\"message\":\"reply\",\"reply_parent_message_id\":\"abc-123-def\","
            "\"for_source_only\":true}");
  assert_int_equal(
      tw_helix_req_send_chat(&r, "12826", "141981764", "x", NULL, 0), 0);
  assert_non_null(strstr(r.body.data, "\"for_source_only\":false"));

  /* 500 characters of 4 bytes each fit; 501 ASCII do not. */
  char *m = malloc(501 * 4 + 1);
  for (int i = 0; i < 500; i++)
    memcpy(m + 4 * i, "\xf0\x9f\x98\x80", 4);
  m[500 * 4] = '\0';
  assert_int_equal(tw_helix_req_send_chat(&r, "1", "2", m, NULL, -1), 0);
  memset(m, 'a', 501);
  m[501] = '\0';
  assert_int_equal(tw_helix_req_send_chat(&r, "1", "2", m, NULL, -1),
                   TW_ETOOBIG);
  free(m);
  assert_int_equal(tw_helix_req_send_chat(&r, "1", "2", " ", NULL, -1),
                   TW_EINVAL);
  assert_int_equal(tw_helix_req_send_chat(&r, "1", "2", "x", NULL, 2),
                   TW_EINVAL);
  assert_int_equal(tw_helix_req_send_chat(&r, "1", "bot", "x", NULL, -1),
                   TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_announce_shoutout(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  assert_int_equal(
      tw_helix_req_announce(&r, "11111", "44444", "Hello chat!", "purple"), 0);
  check_req(&r, TW_HELIX_SEND_ANNOUNCEMENT, "POST", 204, TW_HELIX_RETRY_NEVER,
            "/chat/announcements?broadcaster_id=11111&moderator_id=44444",
            "{\"message\":\"Hello chat!\",\"color\":\"purple\"}");
  assert_int_equal(
      tw_helix_req_announce(&r, "11111", "44444", "Hello chat!", NULL), 0);
  check_req(&r, TW_HELIX_SEND_ANNOUNCEMENT, "POST", 204, TW_HELIX_RETRY_NEVER,
            "/chat/announcements?broadcaster_id=11111&moderator_id=44444",
            "{\"message\":\"Hello chat!\"}");
  assert_int_equal(
      tw_helix_req_announce(&r, "11111", "44444", "Hello chat!", "pink"),
      TW_EINVAL);

  assert_int_equal(tw_helix_req_shoutout(&r, "12345", "626262", "98765"), 0);
  check_req(&r, TW_HELIX_SEND_SHOUTOUT, "POST", 204, TW_HELIX_RETRY_NEVER,
            "/chat/shoutouts?from_broadcaster_id=12345"
            "&to_broadcaster_id=626262&moderator_id=98765",
            NULL);
  assert_int_equal(tw_helix_req_shoutout(&r, "12345", "someone", "98765"),
                   TW_EINVAL);
  tw_helix_req_free(&r);
}

static void test_eventsub(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  /* 2.16, docs example. */
  const tw_helix_kv_t cond[] = {{"broadcaster_user_id", "1337"},
                                {"moderator_user_id", "1337"}};
  tw_helix_sub_spec_t spec = {.type = "channel.follow",
                              .version = "2",
                              .condition = cond,
                              .ncondition = 2,
                              .method = TW_HELIX_TRANSPORT_WEBSOCKET,
                              .session_id = "AQoQexAWVYKSTIu4ec_2VAxyuhAB"};
  assert_int_equal(tw_helix_req_eventsub_create(&r, &spec), 0);
  check_req(&r, TW_HELIX_EVENTSUB_CREATE, "POST", 202, TW_HELIX_RETRY_SAFE,
            "/eventsub/subscriptions",
            "{\"type\": \"channel.follow\", \"version\": \"2\", \"condition\": "
            "{\"broadcaster_user_id\": \"1337\", \"moderator_user_id\": "
            "\"1337\"}, \"transport\": {\"method\": \"websocket\", "
            "\"session_id\": \"AQoQexAWVYKSTIu4ec_2VAxyuhAB\"}}");

  tw_helix_sub_spec_t wh = spec;
  wh.type = "stream.online";
  wh.version = "1";
  wh.ncondition = 1;
  wh.method = TW_HELIX_TRANSPORT_WEBHOOK;
  wh.callback = "https://example.com/webhooks/callback";
  wh.secret = "s3cRe7s3cRe7";
  assert_int_equal(tw_helix_req_eventsub_create(&r, &wh), 0);
  check_req(&r, TW_HELIX_EVENTSUB_CREATE, "POST", 202, TW_HELIX_RETRY_SAFE,
            "/eventsub/subscriptions",
            "{\"type\":\"stream.online\",\"version\":\"1\",\"condition\":"
            "{\"broadcaster_user_id\":\"1337\"},\"transport\":{\"method\":"
            "\"webhook\",\"callback\":\"https://example.com/webhooks/"
            "callback\",\"secret\":\"s3cRe7s3cRe7\"}}");
  tw_helix_sub_spec_t bad = wh;
  bad.callback = "http://example.com/cb"; /* Twitch calls https only */
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  assert_int_equal(r.body.len, 0); /* the old body with its secret is gone */
  /* The simulator's extension: a plain-http receiver on loopback. */
  bad.callback = "http://127.0.0.1:8080/eventsub";
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), 0);
  bad.callback = "http://127.0.0.10/eventsub";
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  bad.callback = "http://localhost:8080/eventsub";
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  bad = wh;
  bad.secret = "123456789"; /* 9 < 10 */
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  bad = wh;
  bad.secret = NULL;
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  bad = spec;
  bad.session_id = NULL;
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  bad = spec;
  bad.type = "Channel Follow";
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  bad = spec;
  bad.ncondition = 0;
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);
  bad = spec;
  bad.method = (tw_helix_transport_method_t)7;
  assert_int_equal(tw_helix_req_eventsub_create(&r, &bad), TW_EINVAL);

  tw_helix_sub_spec_t co = spec;
  co.method = TW_HELIX_TRANSPORT_CONDUIT;
  co.conduit_id = "bfcfc993-26b1-b876-44d9-afe75a379dac";
  assert_int_equal(tw_helix_req_eventsub_create(&r, &co), 0);
  assert_non_null(strstr(r.body.data, "\"method\":\"conduit\""));

  assert_int_equal(
      tw_helix_req_eventsub_list(&r, TW_HELIX_SUBS_ALL, NULL, NULL), 0);
  check_req(&r, TW_HELIX_EVENTSUB_LIST, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/eventsub/subscriptions", NULL);
  assert_int_equal(tw_helix_req_eventsub_list(&r, TW_HELIX_SUBS_BY_TYPE,
                                              "channel.follow", "xyz=="),
                   0);
  check_req(&r, TW_HELIX_EVENTSUB_LIST, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/eventsub/subscriptions?type=channel.follow&after=xyz%3D%3D",
            NULL);
  assert_int_equal(
      tw_helix_req_eventsub_list(&r, TW_HELIX_SUBS_BY_STATUS, "enabled", NULL),
      0);
  check_req(&r, TW_HELIX_EVENTSUB_LIST, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/eventsub/subscriptions?status=enabled", NULL);
  assert_int_equal(
      tw_helix_req_eventsub_list(&r, TW_HELIX_SUBS_BY_ID, "26b1c993", NULL), 0);
  check_req(&r, TW_HELIX_EVENTSUB_LIST, "GET", 200, TW_HELIX_RETRY_SAFE,
            "/eventsub/subscriptions?subscription_id=26b1c993", NULL);
  assert_int_equal(
      tw_helix_req_eventsub_list(&r, TW_HELIX_SUBS_BY_USER_ID, "login", NULL),
      TW_EINVAL);
  assert_int_equal(
      tw_helix_req_eventsub_list(&r, TW_HELIX_SUBS_BY_TYPE, NULL, NULL),
      TW_EINVAL);

  assert_int_equal(
      tw_helix_req_eventsub_delete(&r, "26b1c993-bfcf-44d9-b876-379dacafe75a"),
      0);
  check_req(&r, TW_HELIX_EVENTSUB_DELETE, "DELETE", 204, TW_HELIX_RETRY_SAFE,
            "/eventsub/subscriptions?id=26b1c993-bfcf-44d9-b876-379dacafe75a",
            NULL);
  assert_int_equal(tw_helix_req_eventsub_delete(&r, NULL), TW_EINVAL);
  tw_helix_req_free(&r);
}

/* One request struct serves many builds; a failed build leaves it empty,
 * never with the previous request's target or body. */
static void test_reuse(void **state) {
  (void)state;
  tw_helix_req_t r;
  tw_helix_req_init(&r);
  assert_int_equal(tw_helix_req_send_chat(&r, "1", "2", "hi", NULL, -1), 0);
  assert_true(r.body.len > 0);
  assert_int_equal(tw_helix_req_unban(&r, "1", "2", "3"), 0);
  assert_int_equal(r.body.len, 0);
  assert_int_equal(r.method, TW_HELIX_DELETE);
  assert_int_equal(tw_helix_req_send_chat(&r, "1", "2", "hi", NULL, -1), 0);
  assert_int_equal(tw_helix_req_send_chat(&r, "x", "2", "hi", NULL, -1),
                   TW_EINVAL);
  assert_int_equal(r.target.len, 0);
  assert_int_equal(r.body.len, 0);
  tw_helix_req_free(&r);
  tw_helix_req_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_endpoint_table),
      cmocka_unit_test(test_get_users),
      cmocka_unit_test(test_get_streams),
      cmocka_unit_test(test_set_title),
      cmocka_unit_test(test_ban_unban),
      cmocka_unit_test(test_delete_messages),
      cmocka_unit_test(test_clips),
      cmocka_unit_test(test_send_chat),
      cmocka_unit_test(test_announce_shoutout),
      cmocka_unit_test(test_eventsub),
      cmocka_unit_test(test_reuse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
