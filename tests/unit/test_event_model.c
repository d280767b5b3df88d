/* Event kinds, names, flags and field descriptors: the generated tables
 * agree with each other and with the seed's contract, and the generic
 * accessors reach the same storage as the typed structs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"
#include "twitchd/event.h"

static void test_names_unique_and_round_trip(void **state) {
  (void)state;
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    const char *name = tw_event_kind_name((tw_event_kind_t)k);
    assert_non_null(name);
    assert_true(strlen(name) > 0 && strlen(name) < TW_MAX_EVENT_NAME);
    tw_event_kind_t back;
    assert_int_equal(tw_event_kind_from_name(name, &back), 0);
    assert_int_equal(back, k);
    for (int j = k + 1; j < TW_EVENT_KIND_COUNT; j++)
      assert_string_not_equal(name, tw_event_kind_name((tw_event_kind_t)j));
  }
  assert_null(tw_event_kind_name(TW_EVENT_KIND_COUNT));
  assert_null(tw_event_kind_name((tw_event_kind_t)-1));
}

static void test_unknown_names_fail(void **state) {
  (void)state;
  tw_event_kind_t k = TW_EVENT_RAID;
  assert_int_equal(tw_event_kind_from_name("NoSuchEvent", &k), TW_ENOTFOUND);
  /* opsdroid class names are case-sensitive and so are ours. */
  assert_int_equal(tw_event_kind_from_name("userfollowed", &k), TW_ENOTFOUND);
  assert_int_equal(tw_event_kind_from_name("", &k), TW_ENOTFOUND);
  assert_int_equal(tw_event_kind_from_name(NULL, &k), TW_EINVAL);
  assert_int_equal(k, TW_EVENT_RAID); /* untouched on failure */
}

/* The seed's eleven classes plus Message, and the Raid extension. */
static void test_seed_names(void **state) {
  (void)state;
  static const struct {
    const char *name;
    tw_event_kind_t kind;
  } seed[] = {
      {"Message", TW_EVENT_MESSAGE},
      {"JoinRoom", TW_EVENT_JOIN_ROOM},
      {"LeaveRoom", TW_EVENT_LEAVE_ROOM},
      {"UserFollowed", TW_EVENT_USER_FOLLOWED},
      {"UserSubscribed", TW_EVENT_USER_SUBSCRIBED},
      {"UserGiftedSubscription", TW_EVENT_USER_GIFTED_SUBSCRIPTION},
      {"StreamStarted", TW_EVENT_STREAM_STARTED},
      {"StreamEnded", TW_EVENT_STREAM_ENDED},
      {"UpdateTitle", TW_EVENT_UPDATE_TITLE},
      {"CreateClip", TW_EVENT_CREATE_CLIP},
      {"DeleteMessage", TW_EVENT_DELETE_MESSAGE},
      {"BanUser", TW_EVENT_BAN_USER},
      {"Raid", TW_EVENT_RAID},
  };
  for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
    tw_event_kind_t k;
    assert_int_equal(tw_event_kind_from_name(seed[i].name, &k), 0);
    assert_int_equal(k, seed[i].kind);
    assert_string_equal(tw_event_kind_name(seed[i].kind), seed[i].name);
  }
}

static void test_action_flags(void **state) {
  (void)state;
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    tw_event_kind_t kind = (tw_event_kind_t)k;
    bool action = kind == TW_EVENT_UPDATE_TITLE ||
                  kind == TW_EVENT_CREATE_CLIP ||
                  kind == TW_EVENT_DELETE_MESSAGE ||
                  kind == TW_EVENT_BAN_USER || kind == TW_EVENT_MESSAGE;
    bool incoming = !action || kind == TW_EVENT_MESSAGE;
    assert_int_equal(tw_event_kind_is_action(kind), action);
    assert_int_equal(tw_event_kind_is_incoming(kind), incoming);
  }
  assert_int_equal(tw_event_kind_flags(TW_EVENT_KIND_COUNT), 0);
}

typedef struct {
  const char *field;
  tw_event_field_type_t type;
} want_field_t;

static void expect_fields(tw_event_kind_t kind, const want_field_t *want,
                          size_t nwant) {
  size_t n = 99;
  const tw_event_field_t *f = tw_event_kind_fields(kind, &n);
  assert_non_null(f);
  assert_int_equal(n, nwant);
  for (size_t i = 0; i < nwant; i++) {
    const tw_event_field_t *d = tw_event_field_find(kind, want[i].field);
    assert_non_null(d);
    assert_string_equal(d->name, want[i].field);
    assert_int_equal(d->type, want[i].type);
  }
}

#define EXPECT(kind, ...)                                                      \
  do {                                                                         \
    static const want_field_t w[] = {__VA_ARGS__};                             \
    expect_fields(kind, w, sizeof(w) / sizeof(w[0]));                          \
  } while (0)

/* The seed's fields, with the seed's names and sensible types, plus the
 * chat fields the chat client fills and the extension fields. */
static void test_seed_fields(void **state) {
  (void)state;
  EXPECT(TW_EVENT_USER_FOLLOWED, {"follower", TW_EVENT_FIELD_STR},
         {"followed_at", TW_EVENT_FIELD_TIME});
  EXPECT(TW_EVENT_USER_SUBSCRIBED, {"message", TW_EVENT_FIELD_STR},
         {"months", TW_EVENT_FIELD_INT}, {"tier", TW_EVENT_FIELD_STR},
         {"is_gift", TW_EVENT_FIELD_BOOL});
  EXPECT(TW_EVENT_USER_GIFTED_SUBSCRIPTION, {"gifter_name", TW_EVENT_FIELD_STR},
         {"gifted_name", TW_EVENT_FIELD_STR});
  EXPECT(TW_EVENT_STREAM_STARTED, {"title", TW_EVENT_FIELD_STR},
         {"viewers", TW_EVENT_FIELD_INT}, {"started_at", TW_EVENT_FIELD_TIME});
  EXPECT(TW_EVENT_UPDATE_TITLE, {"status", TW_EVENT_FIELD_STR});
  EXPECT(TW_EVENT_CREATE_CLIP, {"id", TW_EVENT_FIELD_STR});
  EXPECT(TW_EVENT_DELETE_MESSAGE, {"id", TW_EVENT_FIELD_STR});
  EXPECT(TW_EVENT_BAN_USER, {"duration", TW_EVENT_FIELD_INT},
         {"reason", TW_EVENT_FIELD_STR});
  EXPECT(TW_EVENT_RAID, {"raider", TW_EVENT_FIELD_STR},
         {"viewers", TW_EVENT_FIELD_INT});
  EXPECT(TW_EVENT_MESSAGE, {"text", TW_EVENT_FIELD_STR},
         {"display_name", TW_EVENT_FIELD_STR}, {"room_id", TW_EVENT_FIELD_STR},
         {"badges", TW_EVENT_FIELD_STR},
         {"is_broadcaster", TW_EVENT_FIELD_BOOL},
         {"is_moderator", TW_EVENT_FIELD_BOOL}, {"is_vip", TW_EVENT_FIELD_BOOL},
         {"is_subscriber", TW_EVENT_FIELD_BOOL}, {"bits", TW_EVENT_FIELD_INT},
         {"reply_parent_msg_id", TW_EVENT_FIELD_STR},
         {"first_msg", TW_EVENT_FIELD_BOOL}, {"is_action", TW_EVENT_FIELD_BOOL},
         {"from_shared_chat", TW_EVENT_FIELD_BOOL});
  size_t n = 99;
  assert_non_null(tw_event_kind_fields(TW_EVENT_JOIN_ROOM, &n));
  assert_int_equal(n, 0);
  assert_non_null(tw_event_kind_fields(TW_EVENT_STREAM_ENDED, &n));
  assert_int_equal(n, 0);
  assert_null(tw_event_kind_fields(TW_EVENT_KIND_COUNT, &n));
  assert_int_equal(n, 0);

  static const char *const common[] = {"user",      "user_id",  "target",
                                       "connector", "event_id", "raw"};
  const tw_event_field_t *c = tw_event_common_fields(&n);
  assert_int_equal(n, 6);
  for (size_t i = 0; i < 6; i++) {
    assert_string_equal(c[i].name, common[i]);
    assert_int_equal(c[i].type, TW_EVENT_FIELD_STR);
    /* every kind has every common field */
    for (int k = 0; k < TW_EVENT_KIND_COUNT; k++)
      assert_ptr_equal(tw_event_field_find((tw_event_kind_t)k, common[i]),
                       &c[i]);
  }
}

/* Field names are unique within a kind (common included), and every
 * descriptor points inside tw_event_t with room for its type. */
static void test_descriptors_sane(void **state) {
  (void)state;
  size_t nc;
  const tw_event_field_t *c = tw_event_common_fields(&nc);
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    size_t n;
    const tw_event_field_t *f = tw_event_kind_fields((tw_event_kind_t)k, &n);
    for (size_t i = 0; i < n; i++) {
      assert_true(f[i].offset >= offsetof(tw_event_t, u));
      size_t size = f[i].type == TW_EVENT_FIELD_BOOL  ? sizeof(bool)
                    : f[i].type == TW_EVENT_FIELD_STR ? sizeof(char *)
                                                      : sizeof(int64_t);
      assert_true(f[i].offset + size <= sizeof(tw_event_t));
      assert_int_equal(f[i].offset % size, 0);
      for (size_t j = i + 1; j < n; j++)
        assert_string_not_equal(f[i].name, f[j].name);
      for (size_t j = 0; j < nc; j++)
        assert_string_not_equal(f[i].name, c[j].name);
      if (f[i].type == TW_EVENT_FIELD_STR)
        assert_int_equal(f[i].cap, TW_MAX_EVENT_STR);
    }
  }
}

/* Sets every field of every kind through the generic setters with a value
 * derived from its name, then reads it back through the getters and through
 * the raw descriptor offset. */
static void fill(tw_event_t *ev) {
  size_t nc, n;
  const tw_event_field_t *c = tw_event_common_fields(&nc);
  const tw_event_field_t *f = tw_event_kind_fields(ev->kind, &n);
  for (size_t i = 0; i < nc + n; i++) {
    const tw_event_field_t *d = i < nc ? &c[i] : &f[i - nc];
    switch (d->type) {
    case TW_EVENT_FIELD_STR:
      assert_int_equal(tw_event_set_str(ev, d->name, d->name), 0);
      break;
    case TW_EVENT_FIELD_INT:
      assert_int_equal(tw_event_set_int(ev, d->name, (int64_t)strlen(d->name)),
                       0);
      break;
    case TW_EVENT_FIELD_BOOL:
      assert_int_equal(tw_event_set_bool(ev, d->name, true), 0);
      break;
    case TW_EVENT_FIELD_TIME:
      assert_int_equal(tw_event_set_time(ev, d->name, 1700000000123), 0);
      break;
    }
  }
}

static void test_generic_and_typed_agree(void **state) {
  (void)state;
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    tw_event_t *ev = tw_event_new((tw_event_kind_t)k);
    assert_non_null(ev);
    fill(ev);
    size_t nc, n;
    const tw_event_field_t *c = tw_event_common_fields(&nc);
    const tw_event_field_t *f = tw_event_kind_fields(ev->kind, &n);
    for (size_t i = 0; i < nc + n; i++) {
      const tw_event_field_t *d = i < nc ? &c[i] : &f[i - nc];
      const char *base = (const char *)ev + d->offset;
      const char *s;
      int64_t v;
      bool b;
      switch (d->type) {
      case TW_EVENT_FIELD_STR:
        assert_int_equal(tw_event_get_str(ev, d->name, &s), 0);
        assert_string_equal(s, d->name);
        assert_ptr_equal(*(char *const *)(const void *)base, s);
        break;
      case TW_EVENT_FIELD_INT:
        assert_int_equal(tw_event_get_int(ev, d->name, &v), 0);
        assert_int_equal(v, strlen(d->name));
        assert_int_equal(*(const int64_t *)(const void *)base, v);
        break;
      case TW_EVENT_FIELD_BOOL:
        assert_int_equal(tw_event_get_bool(ev, d->name, &b), 0);
        assert_true(b);
        assert_true(*(const bool *)(const void *)base);
        break;
      case TW_EVENT_FIELD_TIME:
        assert_int_equal(tw_event_get_time(ev, d->name, &v), 0);
        assert_int_equal(v, 1700000000123);
        break;
      }
    }
    tw_event_free(ev); /* ASan's leak checker sees a missed string */
  }
  /* and the typed struct, spelled out, for a few seed fields */
  tw_event_t *ev = tw_event_new(TW_EVENT_USER_FOLLOWED);
  assert_int_equal(tw_event_set_str(ev, "follower", "awesome_follower"), 0);
  assert_int_equal(tw_event_set_str(ev, "user", "awesome_follower"), 0);
  assert_string_equal(ev->u.user_followed.follower, "awesome_follower");
  assert_string_equal(ev->user, "awesome_follower");
  tw_event_free(ev);
  ev = tw_event_new(TW_EVENT_STREAM_STARTED);
  assert_int_equal(tw_event_set_int(ev, "viewers", 1), 0);
  assert_int_equal(ev->u.stream_started.viewers, 1);
  tw_event_free(ev);
}

/* Every wrong-type call fails with TW_EINVAL and changes nothing. */
static void test_wrong_type_fails(void **state) {
  (void)state;
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    tw_event_t *ev = tw_event_new((tw_event_kind_t)k);
    size_t nc, n;
    const tw_event_field_t *c = tw_event_common_fields(&nc);
    const tw_event_field_t *f = tw_event_kind_fields(ev->kind, &n);
    for (size_t i = 0; i < nc + n; i++) {
      const tw_event_field_t *d = i < nc ? &c[i] : &f[i - nc];
      const char *s;
      int64_t v;
      bool b;
      int want_str = d->type == TW_EVENT_FIELD_STR ? 0 : TW_EINVAL;
      int want_int = d->type == TW_EVENT_FIELD_INT ? 0 : TW_EINVAL;
      int want_bool = d->type == TW_EVENT_FIELD_BOOL ? 0 : TW_EINVAL;
      int want_time = d->type == TW_EVENT_FIELD_TIME ? 0 : TW_EINVAL;
      assert_int_equal(tw_event_set_str(ev, d->name, "x"), want_str);
      assert_int_equal(tw_event_set_int(ev, d->name, 5), want_int);
      assert_int_equal(tw_event_set_bool(ev, d->name, true), want_bool);
      assert_int_equal(tw_event_set_time(ev, d->name, 7), want_time);
      assert_int_equal(tw_event_get_str(ev, d->name, &s), want_str);
      assert_int_equal(tw_event_get_int(ev, d->name, &v), want_int);
      assert_int_equal(tw_event_get_bool(ev, d->name, &b), want_bool);
      assert_int_equal(tw_event_get_time(ev, d->name, &v), want_time);
    }
    tw_event_free(ev);
  }
  /* A field of another kind, or of no kind, is not found. */
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  assert_int_equal(tw_event_set_str(ev, "follower", "x"), TW_ENOTFOUND);
  assert_int_equal(tw_event_set_int(ev, "viewers", 1), TW_ENOTFOUND);
  assert_int_equal(tw_event_set_str(ev, "Text", "x"), TW_ENOTFOUND);
  assert_int_equal(tw_event_set_str(ev, NULL, "x"), TW_EINVAL);
  assert_int_equal(tw_event_set_str(NULL, "text", "x"), TW_EINVAL);
  assert_null(ev->u.message.text);
  tw_event_free(ev);
  assert_null(tw_event_new(TW_EVENT_KIND_COUNT));
  tw_event_free(NULL);
}

static void test_string_caps(void **state) {
  (void)state;
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  char *big = malloc(TW_MAX_EVENT_RAW + 2);
  memset(big, 'a', TW_MAX_EVENT_RAW + 1);
  big[TW_MAX_EVENT_STR] = '\0';
  assert_int_equal(tw_event_set_str(ev, "text", big), 0);
  assert_int_equal(strlen(ev->u.message.text), TW_MAX_EVENT_STR);
  big[TW_MAX_EVENT_STR] = 'a';
  big[TW_MAX_EVENT_STR + 1] = '\0';
  assert_int_equal(tw_event_set_str(ev, "text", big), TW_ETOOBIG);
  /* the old value is kept */
  assert_int_equal(strlen(ev->u.message.text), TW_MAX_EVENT_STR);
  /* raw has the larger cap */
  assert_int_equal(tw_event_set_str(ev, "raw", big), 0);
  memset(big, 'a', TW_MAX_EVENT_RAW + 1);
  big[TW_MAX_EVENT_RAW] = '\0';
  assert_int_equal(tw_event_set_str(ev, "raw", big), 0);
  big[TW_MAX_EVENT_RAW] = 'a';
  big[TW_MAX_EVENT_RAW + 1] = '\0';
  assert_int_equal(tw_event_set_str(ev, "raw", big), TW_ETOOBIG);
  /* a replacement character takes 3 bytes and counts against the cap */
  memset(big, 'a', TW_MAX_EVENT_STR);
  big[TW_MAX_EVENT_STR - 2] = '\xff';
  assert_int_equal(tw_event_set_strn(ev, "text", big, TW_MAX_EVENT_STR),
                   TW_ETOOBIG);
  free(big);
  tw_event_free(ev);
}

static void test_utf8_cleaned(void **state) {
  (void)state;
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  /* valid multi-byte text is kept as is */
  assert_int_equal(tw_event_set_str(ev, "text", "h\xc3\xa9 \xf0\x9f\x98\x80"),
                   0);
  assert_string_equal(ev->u.message.text, "h\xc3\xa9 \xf0\x9f\x98\x80");
  /* a stray byte, an overlong '/', a surrogate, a truncated sequence and an
   * embedded NUL each become U+FFFD */
  static const char bad[] = "a\xff"
                            "b\xc0\xaf"
                            "c\xed\xa0\x80"
                            "d\0e\xe2\x82";
  assert_int_equal(tw_event_set_strn(ev, "text", bad, sizeof(bad) - 1), 0);
  assert_string_equal(ev->u.message.text,
                      "a\xef\xbf\xbd"
                      "b\xef\xbf\xbd\xef\xbf\xbd"
                      "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                      "d\xef\xbf\xbd"
                      "e\xef\xbf\xbd\xef\xbf\xbd");
  /* NULL clears */
  assert_int_equal(tw_event_set_str(ev, "text", NULL), 0);
  assert_null(ev->u.message.text);
  tw_event_free(ev);
}

static void test_dup_is_deep(void **state) {
  (void)state;
  for (int k = 0; k < TW_EVENT_KIND_COUNT; k++) {
    tw_event_t *ev = tw_event_new((tw_event_kind_t)k);
    fill(ev);
    tw_event_t *copy = tw_event_dup(ev);
    assert_non_null(copy);
    assert_int_equal(copy->kind, ev->kind);
    assert_string_equal(copy->user, ev->user);
    assert_ptr_not_equal(copy->user, ev->user);
    json_t *a = tw_event_to_json(ev, 0), *b = tw_event_to_json(copy, 0);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    tw_event_free(ev);
    tw_event_free(copy);
  }
  assert_null(tw_event_dup(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_unique_and_round_trip),
      cmocka_unit_test(test_unknown_names_fail),
      cmocka_unit_test(test_seed_names),
      cmocka_unit_test(test_action_flags),
      cmocka_unit_test(test_seed_fields),
      cmocka_unit_test(test_descriptors_sane),
      cmocka_unit_test(test_generic_and_typed_agree),
      cmocka_unit_test(test_wrong_type_fails),
      cmocka_unit_test(test_string_caps),
      cmocka_unit_test(test_utf8_cleaned),
      cmocka_unit_test(test_dup_is_deep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
