/* twitchd's own Helix codec (src/proto/helix.c) against the simulator: the
 * requests built with tw_helix_req_*, sent over HTTPS, the answers read with
 * tw_helix_decode_* and the Ratelimit headers with tw_helix_ratelimit_*, so
 * that the Helix client and the simulator agree on the wire format, error
 * kinds included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "sim_api_test.h"
#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/helix.h"
#include "twitchd/sim.h"

#define CID TW_SIM_DEFAULT_CLIENT_ID
#define SCOPES                                                                 \
  "moderator:manage:banned_users moderator:manage:chat_messages "              \
  "moderator:manage:announcements moderator:manage:shoutouts clips:edit "      \
  "user:write:chat user:read:chat channel:manage:broadcast"

/* Sends a built request with `token`. */
static void send_req(tw_simfx_t *fx, tw_helix_req_t *q, const char *token,
                     tw_simresp_t *r) {
  char target[4096];
  assert_true(q->target.len + 7 < sizeof(target));
  snprintf(target, sizeof(target), "/helix%.*s", (int)q->target.len,
           q->target.data);
  char *body = NULL;
  if (q->body.len) {
    body = malloc(q->body.len + 1);
    assert_non_null(body);
    memcpy(body, q->body.data, q->body.len);
    body[q->body.len] = '\0';
  }
  assert_int_equal(tw_simfx_helix(fx, tw_helix_method_name(q->method), target,
                                  token, CID, body, r),
                   0);
  free(body);
}

/* Sends and expects the request's own success status. */
static void ok(tw_simfx_t *fx, tw_helix_req_t *q, const char *token,
               tw_simresp_t *r) {
  send_req(fx, q, token, r);
  if (r->status != q->success_status)
    fail_msg("HTTP %ld, wanted %d: %.*s", r->status, q->success_status,
             (int)r->body.len, r->body.data ? r->body.data : "");
  tw_helix_error_t e;
  assert_int_equal(
      tw_helix_decode_error((int)r->status, r->body.data, r->body.len, &e), 0);
}

static tw_helix_err_kind_t fails(tw_simfx_t *fx, tw_helix_req_t *q,
                                 const char *token, tw_helix_error_t *e) {
  tw_simresp_t r;
  send_req(fx, q, token, &r);
  assert_true(r.status >= 400);
  assert_true(
      tw_helix_decode_error((int)r.status, r.body.data, r.body.len, e) != 0);
  tw_simresp_free(&r);
  return e->kind;
}

static void test_helix_codec(void **state) {
  (void)state;
  tw_sim_opts_t o = {.api = {.clip_delay_ms = TW_SIM_OFF}};
  tw_simfx_t *fx = tw_simfx_new(&o);
  assert_non_null(fx);
  tw_sim_token_t t1 = {.token = "tokchan", .login = "chan", .scopes = SCOPES};
  tw_sim_token_t t2 = {.token = "tokmod", .login = "modbot", .scopes = SCOPES};
  tw_sim_token_t t3 = {
      .token = "tokpeon", .login = "peon", .scopes = "chat:read"};
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &t1), 0);
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &t2), 0);
  assert_int_equal(tw_sim_add_token_ex(fx->sim, &t3), 0);
  assert_int_equal(tw_sim_set_role(fx->sim, "chan", "modbot", TW_SIM_ROLE_MOD),
                   0);
  tw_sim_token_info_t ti;
  char chan[40], mod[40], peon[40];
  assert_int_equal(tw_sim_token_info(fx->sim, "tokchan", &ti), 0);
  snprintf(chan, sizeof(chan), "%s", ti.user_id);
  assert_int_equal(tw_sim_token_info(fx->sim, "tokmod", &ti), 0);
  snprintf(mod, sizeof(mod), "%s", ti.user_id);
  assert_int_equal(tw_sim_token_info(fx->sim, "tokpeon", &ti), 0);
  snprintf(peon, sizeof(peon), "%s", ti.user_id);

  tw_helix_req_t q;
  tw_helix_req_init(&q);
  tw_simresp_t r;
  tw_helix_error_t e;

  /* Get Users, and the Ratelimit headers as the client reads them. */
  const char *logins[] = {"chan", "modbot"};
  assert_int_equal(tw_helix_req_get_users(&q, NULL, 0, logins, 2), 0);
  ok(fx, &q, "tokpeon", &r);
  tw_helix_users_t us;
  assert_int_equal(tw_helix_decode_users(r.body.data, r.body.len, &us), 0);
  assert_int_equal(us.n, 2);
  assert_string_equal(us.v[0].id, chan);
  tw_helix_users_free(&us);
  tw_helix_ratelimit_t rl;
  tw_helix_ratelimit_init(&rl);
  for (char *line = r.raw_headers; line && *line;) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
    tw_helix_ratelimit_header(&rl, line, len);
    line = nl ? nl + 1 : NULL;
  }
  assert_true(rl.has_limit && rl.has_remaining && rl.has_reset);
  assert_int_equal(rl.limit, 800);
  assert_int_equal(rl.remaining, 799);
  tw_simresp_free(&r);

  /* Get Streams with a live channel. */
  tw_sim_stream_t st = {.live = 1, .title = "codec", .viewer_count = 7};
  assert_int_equal(tw_sim_set_stream(fx->sim, "chan", &st), 0);
  const char *ids[] = {chan};
  assert_int_equal(
      tw_helix_req_get_streams(&q, ids, 1, NULL, 0, true, 20, NULL), 0);
  ok(fx, &q, "tokpeon", &r);
  tw_helix_streams_t ss;
  assert_int_equal(tw_helix_decode_streams(r.body.data, r.body.len, &ss), 0);
  assert_int_equal(ss.n, 1);
  assert_string_equal(ss.v[0].title, "codec");
  assert_int_equal(ss.v[0].viewer_count, 7);
  assert_null(ss.cursor);
  tw_helix_streams_free(&ss);
  tw_simresp_free(&r);

  /* Set the title. */
  assert_int_equal(tw_helix_req_set_title(&q, chan, "new title"), 0);
  ok(fx, &q, "tokchan", &r);
  tw_simresp_free(&r);
  assert_int_equal(fails(fx, &q, "tokmod", &e), TW_HELIX_ERR_UNAUTHORIZED);
  assert_int_equal(fails(fx, &q, "tokpeon", &e), TW_HELIX_ERR_MISSING_SCOPE);
  assert_string_equal(e.scope, "channel:manage:broadcast");
  assert_int_equal(fails(fx, &q, "nosuchtoken", &e),
                   TW_HELIX_ERR_INVALID_TOKEN);

  /* Ban, already banned, unban, not banned. */
  assert_int_equal(tw_helix_req_ban(&q, chan, mod, peon, 0, "codec"), 0);
  ok(fx, &q, "tokmod", &r);
  tw_helix_ban_t ban;
  assert_int_equal(tw_helix_decode_ban(r.body.data, r.body.len, &ban), 0);
  assert_string_equal(ban.user_id, peon);
  assert_null(ban.end_time);
  tw_helix_ban_free(&ban);
  tw_simresp_free(&r);
  assert_int_equal(fails(fx, &q, "tokmod", &e), TW_HELIX_ERR_ALREADY_BANNED);
  assert_true(tw_helix_already_done(TW_HELIX_BAN_USER, &e));
  assert_int_equal(tw_helix_req_unban(&q, chan, mod, peon), 0);
  ok(fx, &q, "tokmod", &r);
  tw_simresp_free(&r);
  assert_int_equal(fails(fx, &q, "tokmod", &e), TW_HELIX_ERR_NOT_BANNED);
  assert_int_equal(tw_helix_req_ban(&q, chan, mod, peon, 600, NULL), 0);
  ok(fx, &q, "tokmod", &r);
  assert_int_equal(tw_helix_decode_ban(r.body.data, r.body.len, &ban), 0);
  assert_non_null(ban.end_time);
  tw_helix_ban_free(&ban);
  tw_simresp_free(&r);
  /* A moderator action from someone who is not one. */
  assert_int_equal(tw_helix_req_unban(&q, chan, peon, peon), 0);
  assert_int_equal(fails(fx, &q, "tokpeon", &e), TW_HELIX_ERR_MISSING_SCOPE);

  /* Delete a chat message, then the same id again. */
  char mid[TW_SIM_MSG_ID_SIZE];
  assert_true(tw_sim_say(fx->sim, "chan", "someone", "msg", NULL, mid) >= 0);
  assert_int_equal(tw_helix_req_delete_chat_messages(&q, chan, mod, mid), 0);
  ok(fx, &q, "tokmod", &r);
  tw_simresp_free(&r);
  assert_int_equal(fails(fx, &q, "tokmod", &e), TW_HELIX_ERR_NOT_FOUND);
  assert_true(tw_helix_already_done(TW_HELIX_DELETE_CHAT_MESSAGES, &e));

  /* Create and get a clip (no delay in this simulator). */
  assert_int_equal(tw_helix_req_create_clip(&q, chan, "a clip", 300), 0);
  ok(fx, &q, "tokmod", &r);
  tw_helix_clip_created_t cc;
  assert_int_equal(tw_helix_decode_clip_created(r.body.data, r.body.len, &cc),
                   0);
  char clip[64];
  snprintf(clip, sizeof(clip), "%s", cc.id);
  tw_helix_clip_created_free(&cc);
  tw_simresp_free(&r);
  const char *cids[] = {clip};
  assert_int_equal(tw_helix_req_get_clips(&q, cids, 1), 0);
  ok(fx, &q, "tokpeon", &r);
  tw_helix_clips_t cl;
  assert_int_equal(tw_helix_decode_clips(r.body.data, r.body.len, &cl), 0);
  assert_int_equal(cl.n, 1);
  assert_string_equal(cl.v[0].title, "a clip");
  assert_true(cl.v[0].duration > 29.9 && cl.v[0].duration < 30.1);
  assert_int_equal(cl.v[0].vod_offset, -1);
  tw_helix_clips_free(&cl);
  tw_simresp_free(&r);

  /* Send a chat message; the duplicate is is_sent false. */
  assert_int_equal(tw_helix_req_send_chat(&q, chan, mod, "codec hi", NULL, -1),
                   0);
  ok(fx, &q, "tokmod", &r);
  tw_helix_chat_sent_t cs;
  assert_int_equal(tw_helix_decode_chat_sent(r.body.data, r.body.len, &cs), 0);
  assert_true(cs.is_sent);
  assert_int_equal(strlen(cs.message_id), 36);
  tw_helix_chat_sent_free(&cs);
  tw_simresp_free(&r);
  ok(fx, &q, "tokmod", &r);
  assert_int_equal(tw_helix_decode_chat_sent(r.body.data, r.body.len, &cs), 0);
  assert_false(cs.is_sent);
  assert_string_equal(cs.drop_code, "msg_duplicate");
  tw_helix_chat_sent_free(&cs);
  tw_simresp_free(&r);

  /* Announcement and shoutout. */
  assert_int_equal(tw_helix_req_announce(&q, chan, mod, "hear ye", "green"), 0);
  ok(fx, &q, "tokmod", &r);
  tw_simresp_free(&r);
  assert_int_equal(tw_helix_req_shoutout(&q, chan, mod, mod), 0);
  ok(fx, &q, "tokmod", &r);
  tw_simresp_free(&r);

  /* EventSub over WebSocket: create, conflict, list, delete, not found. */
  tw_helix_kv_t cond[] = {{"broadcaster_user_id", chan}, {"user_id", mod}};
  tw_helix_sub_spec_t spec = {"channel.chat.message",
                              "1",
                              cond,
                              2,
                              TW_HELIX_TRANSPORT_WEBSOCKET,
                              "sess-1",
                              NULL,
                              NULL,
                              NULL};
  assert_int_equal(tw_helix_req_eventsub_create(&q, &spec), 0);
  ok(fx, &q, "tokmod", &r);
  tw_helix_subs_t subs;
  assert_int_equal(tw_helix_decode_subs(r.body.data, r.body.len, &subs), 0);
  assert_int_equal(subs.n, 1);
  assert_string_equal(subs.v[0].status, "enabled");
  assert_string_equal(subs.v[0].session_id, "sess-1");
  assert_int_equal(subs.max_total_cost, 10);
  char sid[64];
  snprintf(sid, sizeof(sid), "%s", subs.v[0].id);
  tw_helix_subs_free(&subs);
  tw_simresp_free(&r);
  assert_int_equal(fails(fx, &q, "tokmod", &e), TW_HELIX_ERR_CONFLICT);
  assert_int_equal(
      tw_helix_req_eventsub_list(&q, TW_HELIX_SUBS_ALL, NULL, NULL), 0);
  ok(fx, &q, "tokmod", &r);
  assert_int_equal(tw_helix_decode_subs(r.body.data, r.body.len, &subs), 0);
  assert_int_equal(subs.total, 1);
  tw_helix_subs_free(&subs);
  tw_simresp_free(&r);
  assert_int_equal(tw_helix_req_eventsub_delete(&q, sid), 0);
  ok(fx, &q, "tokmod", &r);
  tw_simresp_free(&r);
  assert_int_equal(fails(fx, &q, "tokmod", &e), TW_HELIX_ERR_NOT_FOUND);

  /* Rate limited, and a forced 500. */
  assert_int_equal(tw_sim_api_force(fx->sim, "/helix/users", 429, 1, NULL), 0);
  assert_int_equal(tw_helix_req_get_users(&q, NULL, 0, logins, 1), 0);
  assert_int_equal(fails(fx, &q, "tokpeon", &e), TW_HELIX_ERR_RATE_LIMITED);
  assert_true(tw_helix_should_retry(TW_HELIX_GET_USERS, &e));
  assert_int_equal(tw_sim_api_force(fx->sim, "/helix/users", 500, 1, NULL), 0);
  assert_int_equal(fails(fx, &q, "tokpeon", &e), TW_HELIX_ERR_SERVER);

  /* An offline channel cannot be clipped. */
  st.live = 0;
  assert_int_equal(tw_sim_set_stream(fx->sim, "chan", &st), 0);
  assert_int_equal(tw_helix_req_create_clip(&q, chan, NULL, 0), 0);
  assert_int_equal(fails(fx, &q, "tokmod", &e), TW_HELIX_ERR_NOT_FOUND);

  tw_helix_req_free(&q);
  assert_int_equal(tw_simfx_free(fx), 0);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_helix_codec),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
