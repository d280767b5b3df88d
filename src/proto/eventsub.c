/* EventSub WebSocket message decoder (sans-IO); see twitchd/eventsub.h and
 * docs/twitch-protocol.md 3.5. */
#include "twitchd/eventsub.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"

static int fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return TW_EPARSE;
}

/* A string member: required ones must be present and strings; optional ones
 * may be absent or null. Ids are also bounded, so that a hostile server
 * cannot make the client keep megabytes per dedupe entry. */
static int get_str(const json_t *o, const char *key, bool required, size_t max,
                   const char **out, const char *where, char *err, size_t cap) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (v == NULL || json_is_null(v)) {
    if (required)
      return fail(err, cap, "%s.%s is missing", where, key);
    return 0;
  }
  if (!json_is_string(v))
    return fail(err, cap, "%s.%s is not a string", where, key);
  if (max && json_string_length(v) > max)
    return fail(err, cap, "%s.%s is longer than %zu bytes", where, key, max);
  if (strlen(json_string_value(v)) != json_string_length(v))
    return fail(err, cap, "%s.%s contains a NUL byte", where, key);
  *out = json_string_value(v);
  return 0;
}

static const struct {
  tw_eventsub_msg_type_t t;
  const char *name;
} TYPES[] = {
    {TW_EVENTSUB_MSG_WELCOME, "session_welcome"},
    {TW_EVENTSUB_MSG_KEEPALIVE, "session_keepalive"},
    {TW_EVENTSUB_MSG_NOTIFICATION, "notification"},
    {TW_EVENTSUB_MSG_RECONNECT, "session_reconnect"},
    {TW_EVENTSUB_MSG_REVOCATION, "revocation"},
};

const char *tw_eventsub_msg_type_name(tw_eventsub_msg_type_t t) {
  for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
    if (TYPES[i].t == t)
      return TYPES[i].name;
  return "unknown";
}

static int decode_session(const json_t *payload, tw_eventsub_msg_t *m,
                          char *err, size_t cap) {
  const json_t *s = json_object_get(payload, "session");
  if (!json_is_object(s))
    return fail(err, cap, "payload.session is missing or not an object");
  int rc;
  if ((rc = get_str(s, "id", true, TW_MAX_EVENTSUB_ID, &m->session.id,
                    "payload.session", err, cap)) ||
      (rc = get_str(s, "status", false, TW_MAX_EVENTSUB_ID, &m->session.status,
                    "payload.session", err, cap)) ||
      (rc = get_str(s, "connected_at", false, TW_MAX_EVENTSUB_ID,
                    &m->session.connected_at, "payload.session", err, cap)) ||
      (rc = get_str(s, "reconnect_url", m->type == TW_EVENTSUB_MSG_RECONNECT,
                    TW_MAX_EVENTSUB_URL, &m->session.reconnect_url,
                    "payload.session", err, cap)))
    return rc;
  if (!*m->session.id)
    return fail(err, cap, "payload.session.id is empty");
  const json_t *k = json_object_get(s, "keepalive_timeout_seconds");
  m->session.keepalive_timeout_seconds = -1;
  if (k && !json_is_null(k)) {
    if (!json_is_integer(k))
      return fail(err, cap,
                  "payload.session.keepalive_timeout_seconds is not an "
                  "integer");
    json_int_t v = json_integer_value(k);
    /* Twitch clamps to 10..600; below 1 would make the client's watchdog
     * fire at once, over 600 is not something Twitch sends. */
    if (v < 1 || v > TW_EVENTSUB_KEEPALIVE_MAX_S)
      return fail(err, cap,
                  "payload.session.keepalive_timeout_seconds %lld is out of "
                  "range",
                  (long long)v);
    m->session.keepalive_timeout_seconds = v;
  }
  if (m->type == TW_EVENTSUB_MSG_WELCOME &&
      m->session.keepalive_timeout_seconds < 0)
    return fail(err, cap,
                "payload.session.keepalive_timeout_seconds is missing in a "
                "welcome");
  return 0;
}

static int decode_subscription(const json_t *payload, tw_eventsub_msg_t *m,
                               char *err, size_t cap) {
  const json_t *s = json_object_get(payload, "subscription");
  const char *w = "payload.subscription";
  if (!json_is_object(s))
    return fail(err, cap, "%s is missing or not an object", w);
  int rc;
  if ((rc = get_str(s, "id", true, TW_MAX_EVENTSUB_ID, &m->subscription.id, w,
                    err, cap)) ||
      (rc = get_str(s, "type", true, TW_MAX_EVENTSUB_ID, &m->subscription.type,
                    w, err, cap)) ||
      (rc = get_str(s, "version", true, TW_MAX_EVENTSUB_ID,
                    &m->subscription.version, w, err, cap)) ||
      (rc = get_str(s, "status", m->type == TW_EVENTSUB_MSG_REVOCATION,
                    TW_MAX_EVENTSUB_ID, &m->subscription.status, w, err, cap)))
    return rc;
  const json_t *c = json_object_get(s, "condition");
  if (!json_is_object(c))
    return fail(err, cap, "%s.condition is missing or not an object", w);
  m->subscription.condition = c;
  return 0;
}

static int decode_root(const json_t *root, tw_eventsub_msg_t *out, char *err,
                       size_t err_cap);

int tw_eventsub_decode(const char *data, size_t len, tw_eventsub_msg_t *out,
                       char *err, size_t err_cap) {
  if (out)
    memset(out, 0, sizeof(*out));
  if (err && err_cap)
    err[0] = '\0';
  if (data == NULL || out == NULL)
    return TW_EINVAL;
  if (len > TW_MAX_EVENTSUB_MESSAGE) {
    if (err && err_cap)
      snprintf(err, err_cap, "message of %zu bytes is over the %u-byte limit",
               len, TW_MAX_EVENTSUB_MESSAGE);
    return TW_ETOOBIG;
  }
  json_error_t je;
  /* JSON_REJECT_DUPLICATES: two message_id members would let a frame pass
   * dedupe under one id and be handled under the other. */
  json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL)
    return fail(err, err_cap, "not JSON (line %d column %d: %s)", je.line,
                je.column, je.text);
  out->json_ = root;
  return decode_root(root, out, err, err_cap);
}

/* Validates a parsed {"metadata","payload"} tree (owned by out->json_). */
static int decode_root(const json_t *root, tw_eventsub_msg_t *out, char *err,
                       size_t err_cap) {
  if (!json_is_object(root))
    return fail(err, err_cap, "the message is not a JSON object");
  const json_t *md = json_object_get(root, "metadata");
  if (!json_is_object(md))
    return fail(err, err_cap, "metadata is missing or not an object");
  int rc;
  if ((rc = get_str(md, "message_id", true, TW_MAX_EVENTSUB_ID,
                    &out->message_id, "metadata", err, err_cap)) ||
      (rc = get_str(md, "message_type", true, TW_MAX_EVENTSUB_ID,
                    &out->message_type, "metadata", err, err_cap)) ||
      (rc = get_str(md, "message_timestamp", true, TW_MAX_EVENTSUB_ID,
                    &out->message_timestamp, "metadata", err, err_cap)) ||
      (rc = get_str(md, "subscription_type", false, TW_MAX_EVENTSUB_ID,
                    &out->subscription_type, "metadata", err, err_cap)) ||
      (rc = get_str(md, "subscription_version", false, TW_MAX_EVENTSUB_ID,
                    &out->subscription_version, "metadata", err, err_cap)))
    return rc;
  if (!*out->message_id)
    return fail(err, err_cap, "metadata.message_id is empty");
  out->type = TW_EVENTSUB_MSG_UNKNOWN;
  for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
    if (strcmp(out->message_type, TYPES[i].name) == 0)
      out->type = TYPES[i].t;
  const json_t *payload = json_object_get(root, "payload");
  if (out->type == TW_EVENTSUB_MSG_UNKNOWN ||
      out->type == TW_EVENTSUB_MSG_KEEPALIVE)
    return 0; /* a keepalive's payload is {} and carries nothing */
  if (!json_is_object(payload))
    return fail(err, err_cap, "payload is missing or not an object");
  switch (out->type) {
  case TW_EVENTSUB_MSG_WELCOME:
  case TW_EVENTSUB_MSG_RECONNECT:
    return decode_session(payload, out, err, err_cap);
  case TW_EVENTSUB_MSG_NOTIFICATION: {
    if ((rc = decode_subscription(payload, out, err, err_cap)))
      return rc;
    const json_t *ev = json_object_get(payload, "event");
    if (!json_is_object(ev))
      return fail(err, err_cap, "payload.event is missing or not an object");
    out->event = ev;
    return 0;
  }
  case TW_EVENTSUB_MSG_REVOCATION:
    return decode_subscription(payload, out, err, err_cap);
  default:
    return 0;
  }
}

int tw_eventsub_decode_webhook(const char *body, size_t len,
                               const tw_eventsub_webhook_meta_t *meta,
                               tw_eventsub_msg_t *out, char *err,
                               size_t err_cap) {
  if (out)
    memset(out, 0, sizeof(*out));
  if (err && err_cap)
    err[0] = '\0';
  if ((body == NULL && len) || meta == NULL || out == NULL)
    return TW_EINVAL;
  if (len > TW_MAX_EVENTSUB_MESSAGE) {
    if (err && err_cap)
      snprintf(err, err_cap, "body of %zu bytes is over the %u-byte limit", len,
               TW_MAX_EVENTSUB_MESSAGE);
    return TW_ETOOBIG;
  }
  json_error_t je;
  json_t *payload =
      json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
  if (payload == NULL)
    return fail(err, err_cap, "not JSON (line %d column %d: %s)", je.line,
                je.column, je.text);
  /* The webhook carries the metadata in headers and the payload as the
   * body: rebuild the WebSocket shape so that one validator serves both.
   * The header strings are copied into the tree, which owns them. */
  json_t *md = json_object();
  json_t *root = json_object();
  if (!md || !root || json_object_set_new(root, "payload", payload) != 0) {
    json_decref(md);
    json_decref(root);
    return TW_ENOMEM;
  }
  if (json_object_set_new(root, "metadata", md) != 0) {
    json_decref(root);
    return TW_ENOMEM;
  }
  out->json_ = root;
  const struct {
    const char *k, *v;
  } kv[] = {{"message_id", meta->message_id},
            {"message_type", meta->message_type},
            {"message_timestamp", meta->timestamp},
            {"subscription_type", meta->subscription_type},
            {"subscription_version", meta->subscription_version}};
  for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
    if (kv[i].v == NULL)
      continue;
    json_t *sv = json_string(kv[i].v);
    if (sv == NULL)
      return fail(err, err_cap, "header for metadata.%s is not UTF-8", kv[i].k);
    if (json_object_set_new(md, kv[i].k, sv) != 0)
      return TW_ENOMEM;
  }
  return decode_root(root, out, err, err_cap);
}

void tw_eventsub_msg_free(tw_eventsub_msg_t *m) {
  if (m == NULL)
    return;
  if (m->json_)
    json_decref((json_t *)m->json_);
  memset(m, 0, sizeof(*m));
}

const char *tw_eventsub_condition(const tw_eventsub_msg_t *m, const char *key) {
  if (m == NULL || key == NULL || m->subscription.condition == NULL)
    return NULL;
  const json_t *v = json_object_get(m->subscription.condition, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

char *tw_eventsub_event_json(const tw_eventsub_msg_t *m) {
  if (m == NULL || m->event == NULL)
    return NULL;
  return json_dumps(m->event, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
