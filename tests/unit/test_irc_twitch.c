/* Typed views of Twitch lines, table-driven from
 * tests/fixtures/irc/twitch.json (real lines and expected values from
 * twitch-irc-rs, dank-twitch-irc, go-twitch-irc and Twitch's docs, plus our
 * spoofing cases). Each view is turned into a flat JSON object ("sender.login",
 * "emotes", ...) and every key a case expects is compared with it. */
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
#include "twitchd/irc.h"
#include "twitchd/irc_tags.h"
#include "twitchd/irc_twitch.h"

static json_t *load_fixture(const char *name) {
  const char *dir = getenv("TW_FIXTURES");
  char path[1024];
  snprintf(path, sizeof(path), "%s/irc/%s", dir ? dir : "tests/fixtures", name);
  json_error_t e;
  json_t *j = json_load_file(path, JSON_ALLOW_NUL, &e);
  if (!j)
    fail_msg("cannot load %s: line %d: %s", path, e.line, e.text);
  return j;
}

/* ---- dumping views into flat JSON objects ---------------------------- */

static json_t *jstr(tw_irc_str_t v) {
  return v.ptr ? json_stringn_nocheck(v.ptr, v.len) : json_null();
}

static json_t *jnum(int64_t v) {
  return v == TW_IRC_NONE ? json_null() : json_integer((json_int_t)v);
}

static void put(json_t *o, const char *k, json_t *v) {
  json_object_set_new_nocheck(o, k, v);
}

static json_t *jbadges(tw_irc_str_t list) {
  json_t *a = json_array();
  tw_irc_badge_t b;
  while (tw_irc_badges_next(&list, &b)) {
    json_t *pair = json_array();
    json_array_append_new(pair, jstr(b.name));
    json_array_append_new(pair, jstr(b.version));
    json_array_append_new(a, pair);
  }
  return a;
}

static json_t *jlist(tw_irc_str_t list, char sep) {
  json_t *a = json_array();
  tw_irc_str_t item;
  while (tw_irc_list_next(&list, sep, &item))
    json_array_append_new(a, jstr(item));
  return a;
}

static json_t *jemotes(tw_irc_str_t tag, tw_irc_str_t text) {
  tw_irc_emote_t em[TW_MAX_IRC_EMOTES];
  size_t n = tw_irc_emotes_parse(tag, text, em, TW_MAX_IRC_EMOTES);
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) {
    assert_true(em[i].byte_start <= em[i].byte_end);
    assert_true(em[i].byte_end <= text.len);
    tw_irc_str_t code = {text.ptr + em[i].byte_start,
                         em[i].byte_end - em[i].byte_start};
    json_t *e = json_object();
    put(e, "id", jstr(em[i].id));
    put(e, "start", json_integer((json_int_t)em[i].cp_start));
    put(e, "end", json_integer((json_int_t)em[i].cp_end));
    put(e, "code", jstr(code));
    json_array_append_new(a, e);
  }
  return a;
}

static void dump_user(json_t *o, const char *p, const tw_irc_user_t *u) {
  char k[64];
#define U(name, val)                                                           \
  do {                                                                         \
    snprintf(k, sizeof(k), "%s.%s", p, name);                                  \
    put(o, k, val);                                                            \
  } while (0)
  U("login", jstr(u->login));
  U("id", jstr(u->id));
  U("display_name", jstr(u->display_name));
  U("color", jstr(u->color));
  U("badges", jstr(u->badges));
  U("badge_info", jstr(u->badge_info));
  U("user_type", jstr(u->user_type));
  U("mod", json_boolean(u->mod));
  U("subscriber", json_boolean(u->subscriber));
  U("vip", json_boolean(u->vip));
  U("turbo", json_boolean(u->turbo));
  U("broadcaster", json_boolean(u->broadcaster));
#undef U
  /* Decoded forms, under names shared by all views. */
  put(o, "badges", jbadges(u->badges));
  put(o, "badge_info", jbadges(u->badge_info));
  put(o, "badge_info_months", jnum(tw_irc_badge_info_months(u->badge_info)));
  uint32_t rgb;
  put(o, "color_rgb",
      tw_irc_parse_color(u->color, &rgb) ? json_null()
                                         : json_integer((json_int_t)rgb));
}

static void dump_shared(json_t *o, const tw_irc_shared_t *s) {
  put(o, "shared.room_id", jstr(s->room_id));
  put(o, "shared.id", jstr(s->id));
  put(o, "shared.msg_id", jstr(s->msg_id));
  put(o, "shared.badges", jstr(s->badges));
  put(o, "shared.badge_info", jstr(s->badge_info));
  put(o, "shared.only", json_boolean(s->only));
  put(o, "shared.present", json_boolean(s->present));
  put(o, "shared.other_room", json_boolean(s->other_room));
}

static json_t *dump_privmsg(const tw_irc_privmsg_t *v) {
  json_t *o = json_object();
  put(o, "channel", jstr(v->channel));
  put(o, "room_id", jstr(v->room_id));
  put(o, "id", jstr(v->id));
  put(o, "text", jstr(v->text));
  put(o, "is_action", json_boolean(v->is_action));
  dump_user(o, "sender", &v->sender);
  put(o, "emotes", jemotes(v->emotes, v->text));
  put(o, "flags", jstr(v->flags));
  put(o, "client_nonce", jstr(v->client_nonce));
  put(o, "bits", jnum(v->bits));
  put(o, "tmi_sent_ts", jnum(v->tmi_sent_ts));
  put(o, "first_msg", json_boolean(v->first_msg));
  put(o, "returning_chatter", json_boolean(v->returning_chatter));
  put(o, "reply.msg_id", jstr(v->reply.msg_id));
  put(o, "reply.user_id", jstr(v->reply.user_id));
  put(o, "reply.user_login", jstr(v->reply.user_login));
  put(o, "reply.display_name", jstr(v->reply.display_name));
  put(o, "reply.msg_body", jstr(v->reply.msg_body));
  put(o, "reply.thread_msg_id", jstr(v->reply.thread_msg_id));
  put(o, "reply.thread_user_login", jstr(v->reply.thread_user_login));
  dump_shared(o, &v->shared);
  return o;
}

static json_t *dump_usernotice(const tw_irc_usernotice_t *v) {
  json_t *o = json_object();
  put(o, "kind", json_string(tw_irc_usernotice_kind_name(v->kind)));
  put(o, "msg_id", jstr(v->msg_id));
  put(o, "channel", jstr(v->channel));
  put(o, "room_id", jstr(v->room_id));
  put(o, "id", jstr(v->id));
  put(o, "text", jstr(v->text));
  put(o, "system_msg", jstr(v->system_msg));
  dump_user(o, "sender", &v->sender);
  put(o, "emotes", jemotes(v->emotes, v->text));
  put(o, "tmi_sent_ts", jnum(v->tmi_sent_ts));
  put(o, "anonymous", json_boolean(v->anonymous));
  put(o, "months", jnum(v->months));
  put(o, "cumulative_months", jnum(v->cumulative_months));
  put(o, "streak_months", jnum(v->streak_months));
  put(o, "should_share_streak",
      v->should_share_streak < 0 ? json_null()
                                 : json_integer(v->should_share_streak));
  put(o, "sub_plan", jstr(v->sub_plan));
  put(o, "sub_plan_name", jstr(v->sub_plan_name));
  put(o, "recipient_login", jstr(v->recipient_login));
  put(o, "recipient_display_name", jstr(v->recipient_display_name));
  put(o, "recipient_id", jstr(v->recipient_id));
  put(o, "gift_months", jnum(v->gift_months));
  put(o, "mass_gift_count", jnum(v->mass_gift_count));
  put(o, "sender_count", jnum(v->sender_count));
  put(o, "raider_login", jstr(v->raider_login));
  put(o, "raider_display_name", jstr(v->raider_display_name));
  put(o, "viewer_count", jnum(v->viewer_count));
  put(o, "color", jstr(v->color));
  put(o, "gifter_login", jstr(v->gifter_login));
  put(o, "gifter_display_name", jstr(v->gifter_display_name));
  put(o, "promo_name", jstr(v->promo_name));
  put(o, "promo_gift_total", jnum(v->promo_gift_total));
  put(o, "threshold", jnum(v->threshold));
  put(o, "ritual_name", jstr(v->ritual_name));
  dump_shared(o, &v->shared);
  put(o, "source_kind",
      json_string(tw_irc_usernotice_kind_name(v->source_kind)));
  return o;
}

/* Runs the view named by the case and returns its dump, or NULL with *rc
 * set when the view refused the message. */
static json_t *run_view(const char *view, const tw_irc_msg_t *m,
                        tw_irc_scratch_t *s, int *rc) {
  json_t *o = NULL;
  if (strcmp(view, "privmsg") == 0) {
    tw_irc_privmsg_t v;
    if (!(*rc = tw_irc_privmsg(m, s, &v)))
      o = dump_privmsg(&v);
  } else if (strcmp(view, "usernotice") == 0) {
    tw_irc_usernotice_t v;
    if (!(*rc = tw_irc_usernotice(m, s, &v)))
      o = dump_usernotice(&v);
  } else if (strcmp(view, "clearchat") == 0) {
    tw_irc_clearchat_t v;
    static const char *const kinds[] = {"chat", "ban", "timeout"};
    if (!(*rc = tw_irc_clearchat(m, s, &v))) {
      o = json_object();
      put(o, "kind", json_string(kinds[v.kind]));
      put(o, "channel", jstr(v.channel));
      put(o, "room_id", jstr(v.room_id));
      put(o, "target_login", jstr(v.target_login));
      put(o, "target_user_id", jstr(v.target_user_id));
      put(o, "duration_s", jnum(v.duration_s));
      put(o, "tmi_sent_ts", jnum(v.tmi_sent_ts));
    }
  } else if (strcmp(view, "clearmsg") == 0) {
    tw_irc_clearmsg_t v;
    if (!(*rc = tw_irc_clearmsg(m, s, &v))) {
      o = json_object();
      put(o, "channel", jstr(v.channel));
      put(o, "room_id", jstr(v.room_id));
      put(o, "login", jstr(v.login));
      put(o, "target_msg_id", jstr(v.target_msg_id));
      put(o, "text", jstr(v.text));
      put(o, "is_action", json_boolean(v.is_action));
      put(o, "tmi_sent_ts", jnum(v.tmi_sent_ts));
    }
  } else if (strcmp(view, "notice") == 0) {
    tw_irc_notice_t v;
    if (!(*rc = tw_irc_notice(m, s, &v))) {
      o = json_object();
      put(o, "channel", jstr(v.channel));
      put(o, "msg_id", jstr(v.msg_id));
      put(o, "text", jstr(v.text));
      put(o, "target_user_id", jstr(v.target_user_id));
    }
  } else if (strcmp(view, "roomstate") == 0) {
    tw_irc_roomstate_t v;
    if (!(*rc = tw_irc_roomstate(m, s, &v))) {
      o = json_object();
      put(o, "channel", jstr(v.channel));
      put(o, "room_id", jstr(v.room_id));
      put(o, "emote_only", jnum(v.emote_only));
      put(o, "followers_only", jnum(v.followers_only));
      put(o, "r9k", jnum(v.r9k));
      put(o, "slow", jnum(v.slow));
      put(o, "subs_only", jnum(v.subs_only));
    }
  } else if (strcmp(view, "userstate") == 0) {
    tw_irc_userstate_t v;
    if (!(*rc = tw_irc_userstate(m, s, &v))) {
      o = json_object();
      put(o, "channel", jstr(v.channel));
      dump_user(o, "user", &v.user);
      put(o, "emote_sets", jlist(v.emote_sets, ','));
      put(o, "id", jstr(v.id));
    }
  } else if (strcmp(view, "globaluserstate") == 0) {
    tw_irc_globaluserstate_t v;
    if (!(*rc = tw_irc_globaluserstate(m, s, &v))) {
      o = json_object();
      dump_user(o, "user", &v.user);
      put(o, "emote_sets", jlist(v.emote_sets, ','));
    }
  } else if (strcmp(view, "join") == 0 || strcmp(view, "part") == 0) {
    tw_irc_membership_t v;
    *rc = view[0] == 'j' ? tw_irc_join(m, &v) : tw_irc_part(m, &v);
    if (!*rc) {
      o = json_object();
      put(o, "channel", jstr(v.channel));
      put(o, "login", jstr(v.login));
    }
  } else if (strcmp(view, "ping") == 0 || strcmp(view, "pong") == 0) {
    tw_irc_ping_t v;
    *rc = view[1] == 'i' ? tw_irc_ping(m, &v) : tw_irc_pong(m, &v);
    if (!*rc) {
      o = json_object();
      put(o, "server", jstr(v.server));
      put(o, "text", jstr(v.text));
    }
  } else if (strcmp(view, "reconnect") == 0) {
    *rc = m->cmd == TW_IRC_CMD_RECONNECT ? 0 : TW_EINVAL;
    if (!*rc)
      o = json_object();
  } else if (strcmp(view, "cap") == 0) {
    tw_irc_cap_t v;
    if (!(*rc = tw_irc_cap(m, &v))) {
      o = json_object();
      put(o, "target", jstr(v.target));
      put(o, "subcommand", jstr(v.subcommand));
      put(o, "list", jlist(v.list, ' '));
      put(o, "ack", json_boolean(v.ack));
      put(o, "nak", json_boolean(v.nak));
    }
  } else if (strcmp(view, "numeric") == 0) {
    tw_irc_numeric_t v;
    if (!(*rc = tw_irc_numeric(m, &v))) {
      o = json_object();
      put(o, "code", json_integer(v.code));
      put(o, "target", jstr(v.target));
      put(o, "channel", jstr(v.channel));
      put(o, "arg", jstr(v.arg));
      put(o, "text", jstr(v.text));
    }
  } else if (strcmp(view, "whisper") == 0) {
    tw_irc_whisper_t v;
    if (!(*rc = tw_irc_whisper(m, s, &v))) {
      o = json_object();
      dump_user(o, "sender", &v.sender);
      put(o, "to_login", jstr(v.to_login));
      put(o, "text", jstr(v.text));
      put(o, "emotes", jemotes(v.emotes, v.text));
      put(o, "message_id", jstr(v.message_id));
      put(o, "thread_id", jstr(v.thread_id));
    }
  } else {
    fail_msg("unknown view '%s'", view);
  }
  return o;
}

static const char *rc_name(int rc) {
  return rc == TW_EINVAL ? "EINVAL" : rc == TW_EPROTO ? "EPROTO" : "other";
}

static void test_fixture_cases(void **state) {
  (void)state;
  json_t *root = load_fixture("twitch.json");
  json_t *cases = json_object_get(root, "cases");
  assert_true(json_array_size(cases) >= 100);
  tw_irc_scratch_t *scratch = malloc(sizeof(*scratch));
  assert_non_null(scratch);
  int failures = 0;
  size_t idx;
  json_t *c;
  json_array_foreach(cases, idx, c) {
    const char *src = json_string_value(json_object_get(c, "src"));
    const char *view = json_string_value(json_object_get(c, "view"));
    json_t *jl = json_object_get(c, "line");
    size_t len = json_string_length(jl);
    char *line = malloc(len ? len : 1); /* exact size, for ASan */
    assert_non_null(line);
    memcpy(line, json_string_value(jl), len);
    tw_irc_msg_t m;
    if (tw_irc_parse(&m, line, len) != 0) {
      fprintf(stderr, "twitch.json case %zu (%s): parse: %s\n", idx, src,
              tw_irc_err_str(m.err));
      failures++;
      free(line);
      continue;
    }
    int rc = 0;
    json_t *got = run_view(view, &m, scratch, &rc);
    json_t *werr = json_object_get(c, "error");
    if (werr) {
      if (got || strcmp(rc_name(rc), json_string_value(werr)) != 0) {
        fprintf(stderr, "twitch.json case %zu (%s): %s view: rc %d, want %s\n",
                idx, src, view, rc, json_string_value(werr));
        failures++;
      }
    } else if (!got) {
      fprintf(stderr, "twitch.json case %zu (%s): %s view failed: %d\n", idx,
              src, view, rc);
      failures++;
    } else {
      const char *key;
      json_t *want;
      json_object_foreach(json_object_get(c, "expect"), key, want) {
        json_t *have;
        if (strncmp(key, "param.", 6) == 0) {
          /* Any msg-param-* through the generic accessor, unescaped. */
          tw_irc_str_t raw = tw_irc_msg_param(&m, key + 6);
          tw_irc_str_t v;
          assert_int_equal(tw_irc_scratch_unescape(scratch, raw, &v), 0);
          have = jstr(v);
        } else {
          have = json_incref(json_object_get(got, key));
        }
        if (!have) {
          fprintf(stderr, "twitch.json case %zu (%s): no field '%s'\n", idx,
                  src, key);
          failures++;
        } else if (!json_equal(have, want)) {
          char *h = json_dumps(have, JSON_ENCODE_ANY | JSON_COMPACT);
          char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
          fprintf(stderr, "twitch.json case %zu (%s): %s is %s, want %s\n", idx,
                  src, key, h ? h : "?", w ? w : "?");
          free(h);
          free(w);
          failures++;
        }
        json_decref(have);
      }
    }
    json_decref(got);
    free(line);
  }
  free(scratch);
  json_decref(root);
  assert_int_equal(failures, 0);
}

/* Without a scratch, string fields are the raw escaped views into the line;
 * with one, they are unescaped. */
static void test_raw_vs_scratch(void **state) {
  (void)state;
  const char *l = "@display-name=Riot\\sGames;system-msg=a\\sb;login=x;"
                  "msg-id=sub :tmi.twitch.tv USERNOTICE #c";
  tw_irc_msg_t m;
  assert_int_equal(tw_irc_parse(&m, l, strlen(l)), 0);
  tw_irc_usernotice_t v;
  assert_int_equal(tw_irc_usernotice(&m, NULL, &v), 0);
  assert_true(tw_irc_str_eq(v.sender.display_name, "Riot\\sGames"));
  assert_true(v.sender.display_name.ptr > l &&
              v.sender.display_name.ptr < l + strlen(l));
  tw_irc_scratch_t *s = malloc(sizeof(*s));
  assert_non_null(s);
  assert_int_equal(tw_irc_usernotice(&m, s, &v), 0);
  assert_true(tw_irc_str_eq(v.sender.display_name, "Riot Games"));
  assert_true(tw_irc_str_eq(v.system_msg, "a b"));
  /* Values without a backslash are not copied. */
  assert_true(v.sender.login.ptr > l && v.sender.login.ptr < l + strlen(l));
  free(s);
}

/* Every view refuses every other command with TW_EINVAL. */
static void test_views_check_command(void **state) {
  (void)state;
  const char *l = ":x!x@x FOO #c :hi";
  tw_irc_msg_t m;
  assert_int_equal(tw_irc_parse(&m, l, strlen(l)), 0);
  tw_irc_privmsg_t a;
  tw_irc_usernotice_t b;
  tw_irc_clearchat_t c;
  tw_irc_clearmsg_t d;
  tw_irc_notice_t e;
  tw_irc_roomstate_t f;
  tw_irc_userstate_t g;
  tw_irc_globaluserstate_t h;
  tw_irc_membership_t i;
  tw_irc_ping_t j;
  tw_irc_cap_t k;
  tw_irc_numeric_t n;
  tw_irc_whisper_t w;
  assert_int_equal(tw_irc_privmsg(&m, NULL, &a), TW_EINVAL);
  assert_int_equal(tw_irc_usernotice(&m, NULL, &b), TW_EINVAL);
  assert_int_equal(tw_irc_clearchat(&m, NULL, &c), TW_EINVAL);
  assert_int_equal(tw_irc_clearmsg(&m, NULL, &d), TW_EINVAL);
  assert_int_equal(tw_irc_notice(&m, NULL, &e), TW_EINVAL);
  assert_int_equal(tw_irc_roomstate(&m, NULL, &f), TW_EINVAL);
  assert_int_equal(tw_irc_userstate(&m, NULL, &g), TW_EINVAL);
  assert_int_equal(tw_irc_globaluserstate(&m, NULL, &h), TW_EINVAL);
  assert_int_equal(tw_irc_join(&m, &i), TW_EINVAL);
  assert_int_equal(tw_irc_part(&m, &i), TW_EINVAL);
  assert_int_equal(tw_irc_ping(&m, &j), TW_EINVAL);
  assert_int_equal(tw_irc_pong(&m, &j), TW_EINVAL);
  assert_int_equal(tw_irc_cap(&m, &k), TW_EINVAL);
  assert_int_equal(tw_irc_numeric(&m, &n), TW_EINVAL);
  assert_int_equal(tw_irc_whisper(&m, NULL, &w), TW_EINVAL);
}

static void test_usernotice_kind_names(void **state) {
  (void)state;
  for (int k = TW_IRC_UN_SUB; k <= TW_IRC_UN_COMMUNITYPAYFORWARD; k++) {
    const char *name = tw_irc_usernotice_kind_name((tw_irc_usernotice_kind_t)k);
    tw_irc_str_t v = {name, strlen(name)};
    assert_int_equal(tw_irc_usernotice_kind(v), k);
  }
  tw_irc_str_t none = {NULL, 0};
  assert_int_equal(tw_irc_usernotice_kind(none), TW_IRC_UN_UNKNOWN);
  assert_string_equal(tw_irc_usernotice_kind_name(TW_IRC_UN_UNKNOWN),
                      "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_cases),
      cmocka_unit_test(test_raw_vs_scratch),
      cmocka_unit_test(test_views_check_command),
      cmocka_unit_test(test_usernotice_kind_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
