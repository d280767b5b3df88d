/* EventSub notifications as twitchd events; the mapping table is documented
 * in twitchd/eventsub_events.h. */
#include "twitchd/eventsub_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"

const char *tw_eventsub_type_scope(const char *type) {
  static const struct {
    const char *type, *scope;
  } t[] = {
      {"channel.follow", "moderator:read:followers"},
      {"channel.subscribe", "channel:read:subscriptions"},
      {"channel.subscription.gift", "channel:read:subscriptions"},
      {"channel.subscription.message", "channel:read:subscriptions"},
      {"channel.cheer", "bits:read"},
      {"channel.ban", "channel:moderate"},
      {"channel.unban", "channel:moderate"},
      {"channel.chat.message", "user:read:chat"},
      {"channel.chat.notification", "user:read:chat"},
  };
  if (type == NULL)
    return NULL;
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if (strcmp(type, t[i].type) == 0)
      return t[i].scope;
  return NULL;
}

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t cap, int rc, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* A string member of the event, NULL when absent, null or not a string. */
static const char *js(const json_t *ev, const char *key) {
  const json_t *v = json_object_get(ev, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

typedef struct {
  tw_event_t *ev;
  const json_t *src;
  char *err;
  size_t cap;
  int rc;
} build_t;

/* Copies event member `key` into field `field`; a required one must be a
 * string. Errors stick in b->rc so that a mapping is a list of calls. */
static void put_str(build_t *b, const char *field, const char *key,
                    bool required) {
  if (b->rc)
    return;
  const json_t *v = json_object_get(b->src, key);
  if (v == NULL || json_is_null(v)) {
    if (required)
      b->rc = fail(b->err, b->cap, TW_EPARSE, "event.%s is missing", key);
    return;
  }
  if (!json_is_string(v)) {
    b->rc = fail(b->err, b->cap, TW_EPARSE, "event.%s is not a string", key);
    return;
  }
  int rc = tw_event_set_strn(b->ev, field, json_string_value(v),
                             json_string_length(v));
  if (rc)
    b->rc = fail(b->err, b->cap, rc == TW_ETOOBIG ? TW_EPARSE : rc,
                 "event.%s: %s", key, tw_strerror(rc));
}

static void put_int(build_t *b, const char *field, const char *key,
                    bool required) {
  if (b->rc)
    return;
  const json_t *v = json_object_get(b->src, key);
  if (v == NULL || json_is_null(v)) {
    if (required)
      b->rc = fail(b->err, b->cap, TW_EPARSE, "event.%s is missing", key);
    return;
  }
  if (!json_is_integer(v)) {
    b->rc = fail(b->err, b->cap, TW_EPARSE, "event.%s is not an integer", key);
    return;
  }
  b->rc = tw_event_set_int(b->ev, field, json_integer_value(v));
}

static void put_bool(build_t *b, const char *field, const char *key) {
  if (b->rc)
    return;
  const json_t *v = json_object_get(b->src, key);
  if (v == NULL || json_is_null(v))
    return;
  if (!json_is_boolean(v)) {
    b->rc = fail(b->err, b->cap, TW_EPARSE, "event.%s is not a boolean", key);
    return;
  }
  b->rc = tw_event_set_bool(b->ev, field, json_is_true(v));
}

/* A timestamp: a malformed one is left unset rather than failing the event,
 * since the event itself (a follow happened) is still true. */
static void put_time(build_t *b, const char *field, const char *key) {
  if (b->rc)
    return;
  const char *s = js(b->src, key);
  int64_t ms;
  if (s && tw_event_time_parse(s, &ms) == 0)
    b->rc = tw_event_set_time(b->ev, field, ms);
}

static void set_lit(build_t *b, const char *field, const char *value) {
  if (b->rc == 0)
    b->rc = tw_event_set_str(b->ev, field, value);
}

static void put_target(build_t *b, const char *key) {
  if (b->rc)
    return;
  const char *login = js(b->src, key);
  if (login == NULL || !*login) {
    b->rc = fail(b->err, b->cap, TW_EPARSE, "event.%s is missing", key);
    return;
  }
  size_t n = strlen(login);
  if (n > TW_MAX_EVENT_STR - 2) {
    b->rc = fail(b->err, b->cap, TW_EPARSE, "event.%s is too long", key);
    return;
  }
  char *t = malloc(n + 2);
  if (!t) {
    b->rc = TW_ENOMEM;
    return;
  }
  t[0] = '#';
  memcpy(t + 1, login, n + 1);
  b->rc = tw_event_set_str(b->ev, "target", t);
  free(t);
}

int tw_eventsub_to_event(const tw_eventsub_msg_t *m, const char *connector,
                         tw_event_t **out, char *err, size_t err_cap) {
  if (out)
    *out = NULL;
  if (err && err_cap)
    err[0] = '\0';
  if (m == NULL || out == NULL || m->type != TW_EVENTSUB_MSG_NOTIFICATION ||
      m->event == NULL || m->subscription.type == NULL)
    return TW_EINVAL;
  const char *type = m->subscription.type;
  const json_t *e = m->event;
  tw_event_kind_t kind;
  if (strcmp(type, "stream.online") == 0)
    kind = TW_EVENT_STREAM_STARTED;
  else if (strcmp(type, "stream.offline") == 0)
    kind = TW_EVENT_STREAM_ENDED;
  else if (strcmp(type, "channel.follow") == 0)
    kind = TW_EVENT_USER_FOLLOWED;
  else if (strcmp(type, "channel.subscribe") == 0 ||
           strcmp(type, "channel.subscription.message") == 0)
    kind = TW_EVENT_USER_SUBSCRIBED;
  else if (strcmp(type, "channel.subscription.gift") == 0)
    kind = TW_EVENT_USER_GIFTED_SUBSCRIPTION;
  else if (strcmp(type, "channel.raid") == 0)
    kind = TW_EVENT_RAID;
  else if (strcmp(type, "channel.ban") == 0)
    kind = TW_EVENT_USER_BANNED;
  else if (strcmp(type, "channel.cheer") == 0)
    kind = TW_EVENT_CHEER;
  else
    return fail(err, err_cap, TW_EUNSUPPORTED,
                "no event for subscription type %.64s", type);

  build_t b = {tw_event_new(kind), e, err, err_cap, 0};
  if (b.ev == NULL)
    return TW_ENOMEM;
  set_lit(&b, "connector", connector ? connector : "twitch");
  set_lit(&b, "event_id", m->message_id);
  put_target(&b, kind == TW_EVENT_RAID ? "to_broadcaster_user_login"
                                       : "broadcaster_user_login");
  switch (kind) {
  case TW_EVENT_STREAM_STARTED:
    put_str(&b, "user", "broadcaster_user_login", true);
    put_str(&b, "user_id", "broadcaster_user_id", false);
    put_time(&b, "started_at", "started_at");
    break;
  case TW_EVENT_STREAM_ENDED:
    put_str(&b, "user", "broadcaster_user_login", true);
    put_str(&b, "user_id", "broadcaster_user_id", false);
    break;
  case TW_EVENT_USER_FOLLOWED:
    put_str(&b, "user", "user_login", true);
    put_str(&b, "user_id", "user_id", false);
    put_str(&b, "follower", "user_login", true);
    put_time(&b, "followed_at", "followed_at");
    break;
  case TW_EVENT_USER_SUBSCRIBED:
    put_str(&b, "user", "user_login", true);
    put_str(&b, "user_id", "user_id", false);
    put_str(&b, "tier", "tier", false);
    put_bool(&b, "is_gift", "is_gift");
    if (strcmp(type, "channel.subscription.message") == 0) {
      put_int(&b, "months", "cumulative_months", false);
      const json_t *msg = json_object_get(e, "message");
      if (b.rc == 0 && msg && !json_is_null(msg)) {
        if (!json_is_object(msg)) {
          b.rc =
              fail(err, err_cap, TW_EPARSE, "event.message is not an object");
        } else {
          build_t inner = {b.ev, msg, err, err_cap, 0};
          put_str(&inner, "message", "text", false);
          b.rc = inner.rc;
        }
      }
    }
    break;
  case TW_EVENT_USER_GIFTED_SUBSCRIPTION: {
    const json_t *anon = json_object_get(e, "is_anonymous");
    const char *login = js(e, "user_login");
    if (json_is_true(anon) || login == NULL) {
      set_lit(&b, "gifter_name", "anonymous");
    } else {
      put_str(&b, "user", "user_login", true);
      put_str(&b, "user_id", "user_id", false);
      put_str(&b, "gifter_name",
              js(e, "user_name") ? "user_name" : "user_login", true);
    }
    break;
  }
  case TW_EVENT_RAID:
    put_str(&b, "user", "from_broadcaster_user_login", true);
    put_str(&b, "user_id", "from_broadcaster_user_id", false);
    put_str(&b, "raider", "from_broadcaster_user_login", true);
    put_int(&b, "viewers", "viewers", false);
    break;
  case TW_EVENT_USER_BANNED: {
    put_str(&b, "user", "user_login", true);
    put_str(&b, "user_id", "user_id", false);
    put_str(&b, "room_id", "broadcaster_user_id", false);
    int64_t t0, t1;
    const char *ends = js(e, "ends_at"), *at = js(e, "banned_at");
    if (b.rc == 0 && !json_is_true(json_object_get(e, "is_permanent")) &&
        ends && at && tw_event_time_parse(ends, &t1) == 0 &&
        tw_event_time_parse(at, &t0) == 0 && t1 > t0)
      /* Rounded to the nearest second: Twitch's two stamps are taken a few
       * microseconds apart. */
      b.rc = tw_event_set_int(b.ev, "duration", (t1 - t0 + 500) / 1000);
    break;
  }
  case TW_EVENT_CHEER:
    if (!json_is_true(json_object_get(e, "is_anonymous"))) {
      put_str(&b, "user", "user_login", false);
      put_str(&b, "user_id", "user_id", false);
    }
    put_int(&b, "bits", "bits", true);
    put_str(&b, "message", "message", false);
    break;
  default:
    break;
  }
  if (b.rc == 0) {
    char *raw = tw_eventsub_event_json(m);
    if (raw == NULL) {
      b.rc = TW_ENOMEM;
    } else {
      /* An oversized raw text is dropped, not the event: raw is for logs. */
      int rc = tw_event_set_str(b.ev, "raw", raw);
      if (rc && rc != TW_ETOOBIG)
        b.rc = rc;
      free(raw);
    }
  }
  if (b.rc) {
    tw_event_free(b.ev);
    return b.rc;
  }
  *out = b.ev;
  return 0;
}
