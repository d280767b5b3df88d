/* twitchd: Helix request builders and response decoders (sans-IO). See
 * twitchd/helix.h. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/http_util.h"
#include "twitchd/error.h"
#include "twitchd/helix.h"

/* ---- endpoint table --------------------------------------------------------
 */

static const tw_helix_endpoint_info_t k_endpoints[] = {
#define TW__HELIX_INFO(e, m, p, s, r, sc, n)                                   \
  {TW_HELIX_##e, TW_HELIX_##m, p, s, TW_HELIX_RETRY_##r, sc, n},
    TW_HELIX_ENDPOINTS(TW__HELIX_INFO)
#undef TW__HELIX_INFO
};

const tw_helix_endpoint_info_t *tw_helix_endpoint_info(tw_helix_endpoint_t e) {
  if ((unsigned)e >= TW_HELIX_ENDPOINT_COUNT)
    return NULL;
  return &k_endpoints[e];
}

const char *tw_helix_method_name(tw_helix_method_t m) {
  switch (m) {
  case TW_HELIX_GET:
    return "GET";
  case TW_HELIX_POST:
    return "POST";
  case TW_HELIX_PATCH:
    return "PATCH";
  case TW_HELIX_DELETE:
    return "DELETE";
  }
  return "GET";
}

/* ---- request plumbing ------------------------------------------------------
 */

void tw_helix_req_init(tw_helix_req_t *r) {
  memset(r, 0, sizeof(*r));
  tw_buf_init(&r->target, TW_MAX_HELIX_TARGET);
  tw_buf_init(&r->body, TW_MAX_HELIX_BODY);
}

void tw_helix_req_free(tw_helix_req_t *r) {
  if (!r)
    return;
  /* A body may hold a webhook secret. */
  if (r->body.data)
    explicit_bzero(r->body.data, r->body.alloc);
  tw_buf_free(&r->target);
  tw_buf_free(&r->body);
}

/* Resets `r` for endpoint `e` and writes its path. */
static int req_start(tw_helix_req_t *r, tw_helix_endpoint_t e) {
  const tw_helix_endpoint_info_t *info = &k_endpoints[e];
  tw_buf_reset(&r->target);
  tw_buf_reset(&r->body);
  r->endpoint = e;
  r->method = info->method;
  r->success_status = info->success_status;
  r->retry = info->retry;
  return tw_buf_append_str(&r->target, info->path);
}

/* Empties the target and the body (wiping the body: it may have held a
 * webhook secret). */
static void req_clear(tw_helix_req_t *r) {
  tw_buf_reset(&r->target);
  if (r->body.data)
    explicit_bzero(r->body.data, r->body.alloc);
  tw_buf_reset(&r->body);
}

/* Leaves `r` reset after a failed build and passes the code through. */
static int req_fail(tw_helix_req_t *r, int rc) {
  req_clear(r);
  return rc;
}

/* Appends "?key=value" or "&key=value". Values are encoded with %20 for a
 * space, which reads the same whether or not the server treats '+' as a
 * space. */
static int q_add(tw_helix_req_t *r, const char *key, const char *value) {
  bool first = memchr(r->target.data, '?', r->target.len) == NULL;
  int rc = tw_buf_append(&r->target, first ? "?" : "&", 1);
  bool dummy = true;
  return rc ? rc : tw__form_add(&r->target, &dummy, key, value, false);
}

/* Serialises `body` (and drops the reference) into r->body. */
static int set_body(tw_helix_req_t *r, json_t *body) {
  if (!body)
    return TW_ENOMEM;
  char *s = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!s)
    return TW_ENOMEM;
  int rc = tw_buf_append_str(&r->body, s);
  explicit_bzero(s, strlen(s));
  free(s);
  return rc;
}

/* Adds `key: value` to an object, copying the string; false on ENOMEM. */
static bool obj_str(json_t *obj, const char *key, const char *value) {
  json_t *v = json_stringn(value, strlen(value));
  return v && json_object_set_new(obj, key, v) == 0;
}

static bool id_ok(const char *s) {
  return tw__is_numeric_id(s, TW_MAX_HELIX_ID);
}

static bool str_ok(const char *s) {
  return tw__is_visible_ascii(s, TW_MAX_HELIX_STR);
}

/* Checks a text against its character cap: TW_EINVAL when it is not valid
 * UTF-8 (or empty and `nonempty`), TW_ETOOBIG when it is too long. */
static int text_check(const char *s, size_t max_chars, bool nonempty) {
  if (!s)
    return TW_EINVAL;
  size_t len = strlen(s);
  /* A cheap bound first: a character is at most 4 bytes. */
  if (len > max_chars * 4)
    return TW_ETOOBIG;
  size_t n = tw__utf8_count(s, len);
  if (n == SIZE_MAX)
    return TW_EINVAL;
  if (n > max_chars)
    return TW_ETOOBIG;
  if (nonempty) {
    /* Whitespace only is as empty as nothing to Twitch. */
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++)
      blank = s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n';
    if (blank)
      return TW_EINVAL;
  }
  return 0;
}

/* ---- builders ------------------------------------------------------------ */

static int add_list(tw_helix_req_t *r, const char *key, const char *const *vals,
                    size_t n, bool numeric) {
  for (size_t i = 0; i < n; i++) {
    if (numeric ? !id_ok(vals[i]) : !str_ok(vals[i]))
      return TW_EINVAL;
    int rc = q_add(r, key, vals[i]);
    if (rc)
      return rc;
  }
  return 0;
}

int tw_helix_req_get_users(tw_helix_req_t *r, const char *const *ids,
                           size_t nids, const char *const *logins,
                           size_t nlogins) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if ((nids && !ids) || (nlogins && !logins))
    return TW_EINVAL;
  if (nids + nlogins > TW_MAX_HELIX_QUERY_IDS)
    return req_fail(r, TW_ETOOBIG);
  int rc;
  if ((rc = req_start(r, TW_HELIX_GET_USERS)) ||
      (rc = add_list(r, "id", ids, nids, true)) ||
      (rc = add_list(r, "login", logins, nlogins, false)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_get_streams(tw_helix_req_t *r, const char *const *user_ids,
                             size_t nids, const char *const *user_logins,
                             size_t nlogins, bool live_only, unsigned first,
                             const char *after) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if ((nids && !user_ids) || (nlogins && !user_logins) || first > 100 ||
      (after && !str_ok(after)))
    return TW_EINVAL;
  if (nids + nlogins > TW_MAX_HELIX_QUERY_IDS)
    return req_fail(r, TW_ETOOBIG);
  int rc;
  if ((rc = req_start(r, TW_HELIX_GET_STREAMS)) ||
      (rc = add_list(r, "user_id", user_ids, nids, true)) ||
      (rc = add_list(r, "user_login", user_logins, nlogins, false)))
    return req_fail(r, rc);
  if (live_only && (rc = q_add(r, "type", "live")))
    return req_fail(r, rc);
  if (first) {
    char num[16];
    snprintf(num, sizeof(num), "%u", first);
    if ((rc = q_add(r, "first", num)))
      return req_fail(r, rc);
  }
  if (after && (rc = q_add(r, "after", after)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_set_title(tw_helix_req_t *r, const char *broadcaster_id,
                           const char *title) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(broadcaster_id))
    return TW_EINVAL;
  int rc = text_check(title, TW_MAX_HELIX_TITLE_CHARS, true);
  if (rc)
    return req_fail(r, rc);
  /* The title goes in the JSON body: the query-parameter form the seed
   * connector used is not the documented contract. */
  json_t *body = json_object();
  if (!body || !obj_str(body, "title", title)) {
    json_decref(body);
    return req_fail(r, TW_ENOMEM);
  }
  if ((rc = req_start(r, TW_HELIX_MODIFY_CHANNEL)) ||
      (rc = q_add(r, "broadcaster_id", broadcaster_id))) {
    json_decref(body);
    return req_fail(r, rc);
  }
  if ((rc = set_body(r, body)))
    return req_fail(r, rc);
  return 0;
}

static int mod_query(tw_helix_req_t *r, tw_helix_endpoint_t e,
                     const char *broadcaster_id, const char *moderator_id) {
  int rc;
  if ((rc = req_start(r, e)) ||
      (rc = q_add(r, "broadcaster_id", broadcaster_id)) ||
      (rc = q_add(r, "moderator_id", moderator_id)))
    return rc;
  return 0;
}

int tw_helix_req_ban(tw_helix_req_t *r, const char *broadcaster_id,
                     const char *moderator_id, const char *user_id,
                     uint32_t duration_s, const char *reason) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(broadcaster_id) || !id_ok(moderator_id) || !id_ok(user_id) ||
      duration_s > TW_MAX_HELIX_BAN_SECONDS)
    return TW_EINVAL;
  int rc;
  if (reason && (rc = text_check(reason, TW_MAX_HELIX_REASON_CHARS, false)))
    return req_fail(r, rc);
  /* "data" is an object here, not the array most Helix bodies use. */
  json_t *data = json_object(), *body = json_object();
  bool ok = data && body && obj_str(data, "user_id", user_id);
  if (ok && duration_s)
    ok = json_object_set_new(data, "duration", json_integer(duration_s)) == 0;
  if (ok && reason)
    ok = obj_str(data, "reason", reason);
  if (ok) {
    ok = json_object_set_new(body, "data", data) == 0;
    data = NULL;
  }
  json_decref(data);
  if (!ok) {
    json_decref(body);
    return req_fail(r, TW_ENOMEM);
  }
  if ((rc = mod_query(r, TW_HELIX_BAN_USER, broadcaster_id, moderator_id))) {
    json_decref(body);
    return req_fail(r, rc);
  }
  if ((rc = set_body(r, body)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_unban(tw_helix_req_t *r, const char *broadcaster_id,
                       const char *moderator_id, const char *user_id) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(broadcaster_id) || !id_ok(moderator_id) || !id_ok(user_id))
    return TW_EINVAL;
  int rc;
  if ((rc = mod_query(r, TW_HELIX_UNBAN_USER, broadcaster_id, moderator_id)) ||
      (rc = q_add(r, "user_id", user_id)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_delete_chat_messages(tw_helix_req_t *r,
                                      const char *broadcaster_id,
                                      const char *moderator_id,
                                      const char *message_id) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(broadcaster_id) || !id_ok(moderator_id) ||
      (message_id && !str_ok(message_id)))
    return TW_EINVAL;
  int rc;
  if ((rc = mod_query(r, TW_HELIX_DELETE_CHAT_MESSAGES, broadcaster_id,
                      moderator_id)) ||
      (message_id && (rc = q_add(r, "message_id", message_id))))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_create_clip(tw_helix_req_t *r, const char *broadcaster_id,
                             const char *title, unsigned duration_tenths) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(broadcaster_id) ||
      (duration_tenths && (duration_tenths < 50 || duration_tenths > 600)))
    return TW_EINVAL;
  int rc;
  if (title && (rc = text_check(title, TW_MAX_HELIX_CLIP_TITLE_CHARS, true)))
    return req_fail(r, rc);
  if ((rc = req_start(r, TW_HELIX_CREATE_CLIP)) ||
      (rc = q_add(r, "broadcaster_id", broadcaster_id)) ||
      (title && (rc = q_add(r, "title", title))))
    return req_fail(r, rc);
  if (duration_tenths) {
    char num[16];
    snprintf(num, sizeof(num), "%u.%u", duration_tenths / 10,
             duration_tenths % 10);
    if ((rc = q_add(r, "duration", num)))
      return req_fail(r, rc);
  }
  return 0;
}

int tw_helix_req_get_clips(tw_helix_req_t *r, const char *const *ids,
                           size_t nids) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!ids || nids == 0)
    return TW_EINVAL;
  if (nids > TW_MAX_HELIX_QUERY_IDS)
    return req_fail(r, TW_ETOOBIG);
  int rc;
  if ((rc = req_start(r, TW_HELIX_GET_CLIPS)) ||
      (rc = add_list(r, "id", ids, nids, false)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_send_chat(tw_helix_req_t *r, const char *broadcaster_id,
                           const char *sender_id, const char *message,
                           const char *reply_parent_id, int for_source_only) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(broadcaster_id) || !id_ok(sender_id) ||
      (reply_parent_id && !str_ok(reply_parent_id)) || for_source_only < -1 ||
      for_source_only > 1)
    return TW_EINVAL;
  int rc = text_check(message, TW_MAX_HELIX_CHAT_CHARS, true);
  if (rc)
    return req_fail(r, rc);
  json_t *body = json_object();
  bool ok = body && obj_str(body, "broadcaster_id", broadcaster_id) &&
            obj_str(body, "sender_id", sender_id) &&
            obj_str(body, "message", message);
  if (ok && reply_parent_id)
    ok = obj_str(body, "reply_parent_message_id", reply_parent_id);
  if (ok && for_source_only >= 0)
    ok = json_object_set_new(body, "for_source_only",
                             json_boolean(for_source_only)) == 0;
  if (!ok) {
    json_decref(body);
    return req_fail(r, TW_ENOMEM);
  }
  if ((rc = req_start(r, TW_HELIX_SEND_CHAT_MESSAGE))) {
    json_decref(body);
    return req_fail(r, rc);
  }
  if ((rc = set_body(r, body)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_announce(tw_helix_req_t *r, const char *broadcaster_id,
                          const char *moderator_id, const char *message,
                          const char *color) {
  static const char *const colors[] = {"blue", "green", "orange", "purple",
                                       "primary"};
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(broadcaster_id) || !id_ok(moderator_id))
    return TW_EINVAL;
  if (color) {
    bool known = false;
    for (size_t i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
      known |= strcmp(color, colors[i]) == 0;
    if (!known)
      return req_fail(r, TW_EINVAL);
  }
  /* Twitch truncates a longer announcement; refusing it instead tells the
   * skill author rather than cutting their text silently. */
  int rc = text_check(message, TW_MAX_HELIX_CHAT_CHARS, true);
  if (rc)
    return req_fail(r, rc);
  json_t *body = json_object();
  bool ok = body && obj_str(body, "message", message) &&
            (!color || obj_str(body, "color", color));
  if (!ok) {
    json_decref(body);
    return req_fail(r, TW_ENOMEM);
  }
  if ((rc = mod_query(r, TW_HELIX_SEND_ANNOUNCEMENT, broadcaster_id,
                      moderator_id))) {
    json_decref(body);
    return req_fail(r, rc);
  }
  if ((rc = set_body(r, body)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_shoutout(tw_helix_req_t *r, const char *from_broadcaster_id,
                          const char *to_broadcaster_id,
                          const char *moderator_id) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!id_ok(from_broadcaster_id) || !id_ok(to_broadcaster_id) ||
      !id_ok(moderator_id))
    return TW_EINVAL;
  int rc;
  if ((rc = req_start(r, TW_HELIX_SEND_SHOUTOUT)) ||
      (rc = q_add(r, "from_broadcaster_id", from_broadcaster_id)) ||
      (rc = q_add(r, "to_broadcaster_id", to_broadcaster_id)) ||
      (rc = q_add(r, "moderator_id", moderator_id)))
    return req_fail(r, rc);
  return 0;
}

/* EventSub names: lower-case letters, digits, '.', '_' (types such as
 * "channel.chat.message", condition keys such as "broadcaster_user_id"). */
static bool name_ok(const char *s, size_t max) {
  if (!s || !*s)
    return false;
  for (size_t i = 0; s[i]; i++) {
    char c = s[i];
    if (i >= max || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_'))
      return false;
  }
  return true;
}

int tw_helix_req_eventsub_create(tw_helix_req_t *r,
                                 const tw_helix_sub_spec_t *spec) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!spec || !name_ok(spec->type, 128) || !name_ok(spec->version, 16) ||
      !spec->condition || spec->ncondition == 0 ||
      spec->ncondition > TW_MAX_HELIX_CONDITIONS)
    return TW_EINVAL;
  for (size_t i = 0; i < spec->ncondition; i++)
    if (!name_ok(spec->condition[i].key, 64) ||
        !str_ok(spec->condition[i].value))
      return TW_EINVAL;
  json_t *transport = json_object();
  bool ok = transport != NULL;
  switch (spec->method) {
  case TW_HELIX_TRANSPORT_WEBSOCKET:
    if (!str_ok(spec->session_id)) {
      json_decref(transport);
      return TW_EINVAL;
    }
    ok = ok && obj_str(transport, "method", "websocket") &&
         obj_str(transport, "session_id", spec->session_id);
    break;
  case TW_HELIX_TRANSPORT_WEBHOOK: {
    /* Twitch only calls https URLs on port 443 and wants a secret of 10 to
     * 100 ASCII characters; failing here names the problem. */
    size_t slen = spec->secret ? strlen(spec->secret) : 0;
    /* http://127.0.0.1:port is the simulator's extension (a local test
     * receiver without a certificate); Twitch itself refuses it. */
    if (!str_ok(spec->callback) ||
        (strncmp(spec->callback, "https://", 8) != 0 &&
         strncmp(spec->callback, "http://127.0.0.1:", 17) != 0) ||
        slen < 10 || slen > 100 || !tw__is_visible_ascii(spec->secret, 100)) {
      json_decref(transport);
      return TW_EINVAL;
    }
    ok = ok && obj_str(transport, "method", "webhook") &&
         obj_str(transport, "callback", spec->callback) &&
         obj_str(transport, "secret", spec->secret);
    break;
  }
  case TW_HELIX_TRANSPORT_CONDUIT:
    if (!str_ok(spec->conduit_id)) {
      json_decref(transport);
      return TW_EINVAL;
    }
    ok = ok && obj_str(transport, "method", "conduit") &&
         obj_str(transport, "conduit_id", spec->conduit_id);
    break;
  default:
    json_decref(transport);
    return TW_EINVAL;
  }
  json_t *cond = json_object();
  ok = ok && cond;
  for (size_t i = 0; ok && i < spec->ncondition; i++)
    ok = obj_str(cond, spec->condition[i].key, spec->condition[i].value);
  json_t *body = json_object();
  ok = ok && body && obj_str(body, "type", spec->type) &&
       obj_str(body, "version", spec->version) &&
       json_object_set(body, "condition", cond) == 0 &&
       json_object_set(body, "transport", transport) == 0;
  json_decref(cond);
  json_decref(transport);
  if (!ok) {
    json_decref(body);
    return req_fail(r, TW_ENOMEM);
  }
  int rc;
  if ((rc = req_start(r, TW_HELIX_EVENTSUB_CREATE))) {
    json_decref(body);
    return req_fail(r, rc);
  }
  if ((rc = set_body(r, body)))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_eventsub_list(tw_helix_req_t *r, tw_helix_subs_filter_t f,
                               const char *value, const char *after) {
  static const char *const keys[] = {NULL, "status", "type", "user_id",
                                     "subscription_id"};
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if ((unsigned)f > TW_HELIX_SUBS_BY_ID || (after && !str_ok(after)))
    return TW_EINVAL;
  if (f != TW_HELIX_SUBS_ALL &&
      (f == TW_HELIX_SUBS_BY_USER_ID ? !id_ok(value) : !str_ok(value)))
    return TW_EINVAL;
  int rc;
  if ((rc = req_start(r, TW_HELIX_EVENTSUB_LIST)) ||
      (f != TW_HELIX_SUBS_ALL && (rc = q_add(r, keys[f], value))) ||
      (after && (rc = q_add(r, "after", after))))
    return req_fail(r, rc);
  return 0;
}

int tw_helix_req_eventsub_delete(tw_helix_req_t *r, const char *id) {
  if (!r)
    return TW_EINVAL;
  req_clear(r);
  if (!str_ok(id))
    return TW_EINVAL;
  int rc;
  if ((rc = req_start(r, TW_HELIX_EVENTSUB_DELETE)) ||
      (rc = q_add(r, "id", id)))
    return req_fail(r, rc);
  return 0;
}

/* ---- errors ---------------------------------------------------------------
 */

const char *tw_helix_err_name(tw_helix_err_kind_t k) {
  static const char *const names[] = {
      "none",         "bad_request",   "already_banned", "not_banned",
      "session_gone", "invalid_token", "missing_scope",  "client_mismatch",
      "unauthorized", "forbidden",     "not_found",      "conflict",
      "gone",         "unprocessable", "rate_limited",   "transport_limit",
      "server_error", "other"};
  _Static_assert(sizeof(names) / sizeof(names[0]) == TW_HELIX_ERR_OTHER + 1,
                 "one name per error kind");
  if ((unsigned)k >= sizeof(names) / sizeof(names[0]))
    return "unknown";
  return names[k];
}

int tw_helix_err_code(tw_helix_err_kind_t k) {
  switch (k) {
  case TW_HELIX_ERR_NONE:
    return 0;
  case TW_HELIX_ERR_MISSING_SCOPE:
    return TW_ESCOPE;
  case TW_HELIX_ERR_INVALID_TOKEN:
  case TW_HELIX_ERR_CLIENT_MISMATCH:
  case TW_HELIX_ERR_UNAUTHORIZED:
    return TW_EAUTH;
  case TW_HELIX_ERR_FORBIDDEN:
    return TW_EFORBIDDEN;
  case TW_HELIX_ERR_NOT_FOUND:
  case TW_HELIX_ERR_NOT_BANNED:
  case TW_HELIX_ERR_GONE:
    return TW_ENOTFOUND;
  case TW_HELIX_ERR_ALREADY_BANNED:
  case TW_HELIX_ERR_CONFLICT:
    return TW_EEXIST;
  case TW_HELIX_ERR_RATE_LIMITED:
  case TW_HELIX_ERR_TRANSPORT_LIMIT:
    return TW_ERATELIMIT;
  case TW_HELIX_ERR_SESSION_GONE:
    return TW_ECLOSED;
  case TW_HELIX_ERR_UNPROCESSABLE:
    return TW_ETOOBIG;
  default:
    return TW_EHTTP;
  }
}

/* Case-insensitive: does `s` start with `prefix`? */
static bool istarts(const char *s, const char *prefix) {
  size_t n = strlen(prefix);
  return strlen(s) >= n && tw__ieq(s, n, prefix);
}

/* Case-insensitive: does `s` contain `needle`? */
static bool icontains(const char *s, const char *needle) {
  size_t n = strlen(needle), len = strlen(s);
  for (size_t i = 0; i + n <= len; i++)
    if (tw__ieq(s + i, n, needle))
      return true;
  return false;
}

/* The message without surrounding spaces or a final '.'. */
static bool msg_is(const char *s, const char *what) {
  size_t len = strlen(s);
  while (len && (s[len - 1] == ' ' || s[len - 1] == '.'))
    len--;
  while (len && *s == ' ') {
    s++;
    len--;
  }
  return tw__ieq(s, len, what);
}

int tw_helix_decode_error(int http_status, const char *body, size_t len,
                          tw_helix_error_t *err) {
  tw_helix_error_t local;
  if (!err)
    err = &local;
  memset(err, 0, sizeof(*err));
  err->status = http_status;
  if (http_status >= 200 && http_status <= 299)
    return 0;
  if (!body)
    len = 0;
  json_t *root = NULL;
  const char *error = NULL, *message = NULL;
  if (len && len <= TW_MAX_HELIX_RESPONSE)
    root = tw__json_parse(body, len);
  if (json_is_object(root)) {
    if (tw__json_str(root, "error", TW_MAX_HELIX_STR, false, &error))
      error = NULL;
    if (tw__json_str(root, "message", TW_MAX_HELIX_RESPONSE, false, &message))
      message = NULL;
  }
  if (error)
    tw__sanitize(err->error, sizeof(err->error), error, strlen(error));
  if (message)
    tw__sanitize(err->message, sizeof(err->message), message, strlen(message));
  else if (!root && len)
    tw__sanitize(err->message, sizeof(err->message), body,
                 len < sizeof(err->message) ? len : sizeof(err->message));
  const char *m = message ? message : "";

  tw_helix_err_kind_t k;
  if ((http_status == 401 || http_status == 403) &&
      istarts(m, "Missing scope:")) {
    k = TW_HELIX_ERR_MISSING_SCOPE;
    const char *sc = m + strlen("Missing scope:");
    while (*sc == ' ')
      sc++;
    size_t n = strlen(sc);
    while (n && (sc[n - 1] == ' ' || sc[n - 1] == '.'))
      n--;
    tw__sanitize(err->scope, sizeof(err->scope), sc, n);
  } else if (http_status == 400) {
    if (msg_is(m, "user is already banned"))
      k = TW_HELIX_ERR_ALREADY_BANNED;
    else if (msg_is(m, "user is not banned"))
      k = TW_HELIX_ERR_NOT_BANNED;
    else if (icontains(m, "websocket transport session does not exist"))
      k = TW_HELIX_ERR_SESSION_GONE;
    else
      k = TW_HELIX_ERR_BAD_REQUEST;
  } else if (http_status == 401) {
    if (msg_is(m, "Client ID and OAuth token do not match"))
      k = TW_HELIX_ERR_CLIENT_MISMATCH;
    else if (msg_is(m, "Invalid OAuth token") ||
             msg_is(m, "OAuth token is missing"))
      k = TW_HELIX_ERR_INVALID_TOKEN;
    else
      k = TW_HELIX_ERR_UNAUTHORIZED;
  } else if (http_status == 403) {
    k = TW_HELIX_ERR_FORBIDDEN;
  } else if (http_status == 404) {
    k = TW_HELIX_ERR_NOT_FOUND;
  } else if (http_status == 409) {
    k = TW_HELIX_ERR_CONFLICT;
  } else if (http_status == 410) {
    k = TW_HELIX_ERR_GONE;
  } else if (http_status == 422) {
    k = TW_HELIX_ERR_UNPROCESSABLE;
  } else if (http_status == 429) {
    /* Too many WebSocket transports is a 429 too, but waiting for the
     * bucket does not cure it (twitchdev/issues #958: 429 is used for
     * non-rate errors). */
    k = icontains(m, "transports limit exceeded") ? TW_HELIX_ERR_TRANSPORT_LIMIT
                                                  : TW_HELIX_ERR_RATE_LIMITED;
  } else if (http_status >= 500 && http_status <= 599) {
    k = TW_HELIX_ERR_SERVER;
  } else {
    k = TW_HELIX_ERR_OTHER;
  }
  err->kind = k;
  json_decref(root);
  return tw_helix_err_code(k);
}

bool tw_helix_should_retry(tw_helix_endpoint_t e, const tw_helix_error_t *err) {
  const tw_helix_endpoint_info_t *info = tw_helix_endpoint_info(e);
  if (!info || !err)
    return false;
  bool safe = info->retry == TW_HELIX_RETRY_SAFE;
  switch (err->kind) {
  case TW_HELIX_ERR_RATE_LIMITED:
    /* Refused before it was performed. */
    return true;
  case TW_HELIX_ERR_INVALID_TOKEN:
    /* Also refused before anything happened: retry once a fresh token is
     * in hand (Twitch recommends reacting to 401 by refreshing). */
    return true;
  case TW_HELIX_ERR_SERVER:
    /* The request may or may not have been performed. */
    return safe;
  case TW_HELIX_ERR_CONFLICT:
    /* Ban/Unban: "concurrent ban-state update", try again. A 409 from
     * Create EventSub Subscription means it already exists instead. */
    return safe && (e == TW_HELIX_BAN_USER || e == TW_HELIX_UNBAN_USER);
  default:
    return false;
  }
}

bool tw_helix_already_done(tw_helix_endpoint_t e, const tw_helix_error_t *err) {
  if (!err)
    return false;
  switch (e) {
  case TW_HELIX_BAN_USER:
    return err->kind == TW_HELIX_ERR_ALREADY_BANNED;
  case TW_HELIX_UNBAN_USER:
    return err->kind == TW_HELIX_ERR_NOT_BANNED;
  case TW_HELIX_DELETE_CHAT_MESSAGES:
  case TW_HELIX_EVENTSUB_DELETE:
    return err->kind == TW_HELIX_ERR_NOT_FOUND;
  case TW_HELIX_EVENTSUB_CREATE:
    return err->kind == TW_HELIX_ERR_CONFLICT;
  default:
    return false;
  }
}

/* ---- rate limit headers -----------------------------------------------------
 */

void tw_helix_ratelimit_init(tw_helix_ratelimit_t *rl) {
  if (rl)
    memset(rl, 0, sizeof(*rl));
}

static bool is_ows(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int tw_helix_ratelimit_header(tw_helix_ratelimit_t *rl, const char *line,
                              size_t len) {
  if (!rl || (!line && len))
    return TW_EINVAL;
  const char *colon = len ? memchr(line, ':', len) : NULL;
  if (!colon)
    return 0;
  size_t nlen = (size_t)(colon - line);
  while (nlen && is_ows(line[nlen - 1]))
    nlen--;
  bool *has;
  uint64_t *slot;
  if (tw__ieq(line, nlen, "ratelimit-limit")) {
    has = &rl->has_limit;
    slot = &rl->limit;
  } else if (tw__ieq(line, nlen, "ratelimit-remaining")) {
    has = &rl->has_remaining;
    slot = &rl->remaining;
  } else if (tw__ieq(line, nlen, "ratelimit-reset")) {
    has = &rl->has_reset;
    slot = &rl->reset_epoch_s;
  } else {
    return 0;
  }
  const char *v = colon + 1, *end = line + len;
  while (v < end && is_ows(*v))
    v++;
  while (end > v && is_ows(end[-1]))
    end--;
  *has = false;
  if (v == end)
    return TW_EPARSE;
  uint64_t x = 0;
  for (const char *p = v; p < end; p++) {
    if (*p < '0' || *p > '9')
      return TW_EPARSE;
    x = x * 10 + (uint64_t)(*p - '0');
    /* 2^53 bounds every sane value and keeps the * 1000 below exact. */
    if (x >= (1ull << 53))
      return TW_EPARSE;
  }
  *slot = x;
  *has = true;
  return 0;
}

uint64_t tw_helix_ratelimit_reset_in_ms(const tw_helix_ratelimit_t *rl,
                                        uint64_t now_wall_ms) {
  if (!rl || !rl->has_reset)
    return 0;
  uint64_t at = rl->reset_epoch_s * 1000u;
  return at > now_wall_ms ? at - now_wall_ms : 0;
}

tw_helix_rl_action_t tw_helix_ratelimit_apply(const tw_helix_ratelimit_t *rl,
                                              int http_status, tw_bucket_t *b,
                                              uint64_t now_wall_ms,
                                              uint64_t now_mono_ms) {
  if (!rl || !b)
    return TW_HELIX_RL_NONE;
  uint64_t reset_in = tw_helix_ratelimit_reset_in_ms(rl, now_wall_ms);
  if (http_status == 429) {
    if (rl->has_remaining && rl->remaining > 0) {
      /* Points are left, so this 429 comes from the endpoint's own limit
       * (announcements 1 per 2 s, shoutouts 1 per 2 min...), not the
       * token's bucket: other requests may go on. */
      tw_bucket_set(b, rl->remaining, reset_in, now_mono_ms);
      return TW_HELIX_RL_ENDPOINT_LIMIT;
    }
    /* Without a reset, wait one refill window (Twitch refills per minute);
     * with one, at least a second, since our wall clock and Twitch's may
     * disagree by that much and a reset "now" would retry at once. */
    uint64_t wait = rl->has_reset ? reset_in : 60000;
    if (wait < 1000)
      wait = 1000;
    tw_bucket_hold(b, now_mono_ms + wait, now_mono_ms);
    return TW_HELIX_RL_HELD;
  }
  if (rl->has_remaining) {
    tw_bucket_set(b, rl->remaining, reset_in, now_mono_ms);
    return TW_HELIX_RL_SET;
  }
  return TW_HELIX_RL_NONE;
}

/* ---- decoders -------------------------------------------------------------
 */

/* A string member read into a result struct, by offset. */
typedef struct {
  const char *key;
  size_t off;
  bool required;
} sfield_t;

static int get_strs(const json_t *obj, void *dst, const sfield_t *f, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char **slot = (const char **)((char *)dst + f[i].off);
    int rc =
        tw__json_str(obj, f[i].key, TW_MAX_HELIX_RESPONSE, f[i].required, slot);
    if (rc)
      return rc;
  }
  return 0;
}

/* Parses the envelope {"data":[...], "pagination":{"cursor":".."}}.
 * *data is the array (borrowed from *root). */
static int load_list(const char *body, size_t len, json_t **root, json_t **data,
                     const char **cursor) {
  *root = NULL;
  *data = NULL;
  if (cursor)
    *cursor = NULL;
  if (!body && len)
    return TW_EINVAL;
  if (len > TW_MAX_HELIX_RESPONSE)
    return TW_ETOOBIG;
  *root = tw__json_parse(body, len);
  if (!json_is_object(*root))
    return TW_EPARSE;
  *data = json_object_get(*root, "data");
  if (!json_is_array(*data) || json_array_size(*data) > TW_MAX_HELIX_ITEMS)
    return TW_EPARSE;
  if (cursor) {
    json_t *pg = json_object_get(*root, "pagination");
    if (pg && !json_is_object(pg) && !json_is_null(pg))
      return TW_EPARSE;
    const char *c;
    int rc = tw__json_str(pg, "cursor", TW_MAX_HELIX_STR, false, &c);
    if (rc)
      return rc;
    /* An empty cursor means the same as none: the last page. */
    *cursor = c && *c ? c : NULL;
  }
  return 0;
}

/* Allocates the item array for `data` (at least one element so that a
 * zero-item result still has a valid pointer). */
static void *alloc_items(json_t *data, size_t size) {
  size_t n = json_array_size(data);
  return calloc(n ? n : 1, size);
}

static int get_bool(const json_t *obj, const char *key, bool required,
                    bool *out) {
  json_t *v = json_object_get(obj, key);
  *out = false;
  if (!v || json_is_null(v))
    return required ? TW_EPARSE : 0;
  if (!json_is_boolean(v))
    return TW_EPARSE;
  *out = json_is_true(v);
  return 0;
}

int tw_helix_decode_users(const char *body, size_t len, tw_helix_users_t *out) {
  static const sfield_t f[] = {
      {"id", offsetof(tw_helix_user_t, id), true},
      {"login", offsetof(tw_helix_user_t, login), true},
      {"display_name", offsetof(tw_helix_user_t, display_name), false},
      {"type", offsetof(tw_helix_user_t, type), false},
      {"broadcaster_type", offsetof(tw_helix_user_t, broadcaster_type), false},
      {"created_at", offsetof(tw_helix_user_t, created_at), false},
  };
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  json_t *root, *data;
  int rc = load_list(body, len, &root, &data, NULL);
  out->json_ = root;
  if (rc)
    goto fail;
  if (!(out->v = alloc_items(data, sizeof(*out->v)))) {
    rc = TW_ENOMEM;
    goto fail;
  }
  size_t i;
  json_t *item;
  json_array_foreach(data, i, item) {
    if (!json_is_object(item) ||
        (rc = get_strs(item, &out->v[i], f, sizeof(f) / sizeof(f[0]))))
      goto fail_parse;
    out->n++;
  }
  return 0;
fail_parse:
  rc = rc ? rc : TW_EPARSE;
fail:
  tw_helix_users_free(out);
  return rc;
}

void tw_helix_users_free(tw_helix_users_t *u) {
  if (!u)
    return;
  free(u->v);
  json_decref(u->json_);
  memset(u, 0, sizeof(*u));
}

int tw_helix_decode_streams(const char *body, size_t len,
                            tw_helix_streams_t *out) {
  static const sfield_t f[] = {
      {"id", offsetof(tw_helix_stream_t, id), true},
      {"user_id", offsetof(tw_helix_stream_t, user_id), true},
      {"user_login", offsetof(tw_helix_stream_t, user_login), true},
      {"user_name", offsetof(tw_helix_stream_t, user_name), false},
      {"game_id", offsetof(tw_helix_stream_t, game_id), false},
      {"game_name", offsetof(tw_helix_stream_t, game_name), false},
      {"type", offsetof(tw_helix_stream_t, type), false},
      {"title", offsetof(tw_helix_stream_t, title), false},
      {"language", offsetof(tw_helix_stream_t, language), false},
      {"started_at", offsetof(tw_helix_stream_t, started_at), false},
  };
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  json_t *root, *data;
  int rc = load_list(body, len, &root, &data, &out->cursor);
  out->json_ = root;
  if (rc)
    goto fail;
  if (!(out->v = alloc_items(data, sizeof(*out->v)))) {
    rc = TW_ENOMEM;
    goto fail;
  }
  size_t i;
  json_t *item;
  json_array_foreach(data, i, item) {
    tw_helix_stream_t *s = &out->v[i];
    if (!json_is_object(item) ||
        (rc = get_strs(item, s, f, sizeof(f) / sizeof(f[0]))) ||
        (rc = tw__json_int(item, "viewer_count", 0, INT64_MAX, false,
                           &s->viewer_count, NULL)))
      goto fail_parse;
    out->n++;
  }
  return 0;
fail_parse:
  rc = rc ? rc : TW_EPARSE;
fail:
  tw_helix_streams_free(out);
  return rc;
}

void tw_helix_streams_free(tw_helix_streams_t *s) {
  if (!s)
    return;
  free(s->v);
  json_decref(s->json_);
  memset(s, 0, sizeof(*s));
}

/* The first element of "data", which single-result endpoints answer with;
 * it must exist and be an object. */
static int load_first(const char *body, size_t len, json_t **root,
                      json_t **item) {
  json_t *data;
  *item = NULL;
  int rc = load_list(body, len, root, &data, NULL);
  if (rc)
    return rc;
  *item = json_array_get(data, 0);
  return json_is_object(*item) ? 0 : TW_EPARSE;
}

int tw_helix_decode_ban(const char *body, size_t len, tw_helix_ban_t *out) {
  static const sfield_t f[] = {
      {"broadcaster_id", offsetof(tw_helix_ban_t, broadcaster_id), true},
      {"moderator_id", offsetof(tw_helix_ban_t, moderator_id), true},
      {"user_id", offsetof(tw_helix_ban_t, user_id), true},
      {"created_at", offsetof(tw_helix_ban_t, created_at), false},
      {"end_time", offsetof(tw_helix_ban_t, end_time), false},
  };
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  json_t *root, *item;
  int rc = load_first(body, len, &root, &item);
  out->json_ = root;
  if (!rc)
    rc = get_strs(item, out, f, sizeof(f) / sizeof(f[0]));
  if (rc)
    tw_helix_ban_free(out);
  return rc;
}

void tw_helix_ban_free(tw_helix_ban_t *b) {
  if (!b)
    return;
  json_decref(b->json_);
  memset(b, 0, sizeof(*b));
}

int tw_helix_decode_clip_created(const char *body, size_t len,
                                 tw_helix_clip_created_t *out) {
  static const sfield_t f[] = {
      {"id", offsetof(tw_helix_clip_created_t, id), true},
      {"edit_url", offsetof(tw_helix_clip_created_t, edit_url), false},
  };
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  json_t *root, *item;
  int rc = load_first(body, len, &root, &item);
  out->json_ = root;
  if (!rc)
    rc = get_strs(item, out, f, sizeof(f) / sizeof(f[0]));
  if (!rc && !*out->id)
    rc = TW_EPARSE;
  if (rc)
    tw_helix_clip_created_free(out);
  return rc;
}

void tw_helix_clip_created_free(tw_helix_clip_created_t *c) {
  if (!c)
    return;
  json_decref(c->json_);
  memset(c, 0, sizeof(*c));
}

int tw_helix_decode_clips(const char *body, size_t len, tw_helix_clips_t *out) {
  static const sfield_t f[] = {
      {"id", offsetof(tw_helix_clip_t, id), true},
      {"url", offsetof(tw_helix_clip_t, url), false},
      {"embed_url", offsetof(tw_helix_clip_t, embed_url), false},
      {"broadcaster_id", offsetof(tw_helix_clip_t, broadcaster_id), false},
      {"broadcaster_name", offsetof(tw_helix_clip_t, broadcaster_name), false},
      {"creator_id", offsetof(tw_helix_clip_t, creator_id), false},
      {"creator_name", offsetof(tw_helix_clip_t, creator_name), false},
      {"video_id", offsetof(tw_helix_clip_t, video_id), false},
      {"game_id", offsetof(tw_helix_clip_t, game_id), false},
      {"language", offsetof(tw_helix_clip_t, language), false},
      {"title", offsetof(tw_helix_clip_t, title), false},
      {"created_at", offsetof(tw_helix_clip_t, created_at), false},
      {"thumbnail_url", offsetof(tw_helix_clip_t, thumbnail_url), false},
  };
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  json_t *root, *data;
  int rc = load_list(body, len, &root, &data, &out->cursor);
  out->json_ = root;
  if (rc)
    goto fail;
  if (!(out->v = alloc_items(data, sizeof(*out->v)))) {
    rc = TW_ENOMEM;
    goto fail;
  }
  size_t i;
  json_t *item;
  json_array_foreach(data, i, item) {
    tw_helix_clip_t *c = &out->v[i];
    bool has_off;
    if (!json_is_object(item) ||
        (rc = get_strs(item, c, f, sizeof(f) / sizeof(f[0]))) ||
        (rc = tw__json_int(item, "view_count", 0, INT64_MAX, false,
                           &c->view_count, NULL)) ||
        (rc = tw__json_int(item, "vod_offset", 0, INT64_MAX, false,
                           &c->vod_offset, &has_off)) ||
        (rc = get_bool(item, "is_featured", false, &c->is_featured)))
      goto fail_parse;
    if (!has_off)
      c->vod_offset = -1;
    json_t *d = json_object_get(item, "duration");
    if (d && !json_is_null(d)) {
      if (!json_is_number(d) || json_number_value(d) < 0)
        goto fail_parse;
      c->duration = json_number_value(d);
    }
    out->n++;
  }
  return 0;
fail_parse:
  rc = rc ? rc : TW_EPARSE;
fail:
  tw_helix_clips_free(out);
  return rc;
}

void tw_helix_clips_free(tw_helix_clips_t *c) {
  if (!c)
    return;
  free(c->v);
  json_decref(c->json_);
  memset(c, 0, sizeof(*c));
}

int tw_helix_decode_chat_sent(const char *body, size_t len,
                              tw_helix_chat_sent_t *out) {
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  json_t *root, *item;
  int rc = load_first(body, len, &root, &item);
  out->json_ = root;
  if (!rc)
    rc = tw__json_str(item, "message_id", TW_MAX_HELIX_STR, false,
                      &out->message_id);
  if (!rc)
    rc = get_bool(item, "is_sent", true, &out->is_sent);
  if (!rc) {
    json_t *dr = json_object_get(item, "drop_reason");
    if (dr && !json_is_null(dr)) {
      if (!json_is_object(dr) ||
          (rc = tw__json_str(dr, "code", TW_MAX_HELIX_STR, false,
                             &out->drop_code)) ||
          (rc = tw__json_str(dr, "message", TW_MAX_HELIX_RESPONSE, false,
                             &out->drop_message)))
        rc = rc ? rc : TW_EPARSE;
    }
  }
  /* A message that was sent has an id: without one nothing can refer to
   * it (replies, deletes). */
  if (!rc && out->is_sent && (!out->message_id || !*out->message_id))
    rc = TW_EPARSE;
  if (rc)
    tw_helix_chat_sent_free(out);
  return rc;
}

void tw_helix_chat_sent_free(tw_helix_chat_sent_t *c) {
  if (!c)
    return;
  json_decref(c->json_);
  memset(c, 0, sizeof(*c));
}

int tw_helix_decode_subs(const char *body, size_t len, tw_helix_subs_t *out) {
  static const sfield_t f[] = {
      {"id", offsetof(tw_helix_sub_t, id), true},
      {"status", offsetof(tw_helix_sub_t, status), true},
      {"type", offsetof(tw_helix_sub_t, type), true},
      {"version", offsetof(tw_helix_sub_t, version), true},
      {"created_at", offsetof(tw_helix_sub_t, created_at), false},
  };
  static const sfield_t ft[] = {
      {"method", offsetof(tw_helix_sub_t, transport_method), true},
      {"session_id", offsetof(tw_helix_sub_t, session_id), false},
      {"callback", offsetof(tw_helix_sub_t, callback), false},
      {"conduit_id", offsetof(tw_helix_sub_t, conduit_id), false},
      {"connected_at", offsetof(tw_helix_sub_t, connected_at), false},
      {"disconnected_at", offsetof(tw_helix_sub_t, disconnected_at), false},
  };
  if (!out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  out->total = out->total_cost = out->max_total_cost = -1;
  json_t *root, *data;
  int rc = load_list(body, len, &root, &data, &out->cursor);
  out->json_ = root;
  if (rc)
    goto fail;
  bool has;
  if ((rc =
           tw__json_int(root, "total", 0, INT64_MAX, false, &out->total, &has)))
    goto fail;
  if (!has)
    out->total = -1;
  if ((rc = tw__json_int(root, "total_cost", 0, INT64_MAX, false,
                         &out->total_cost, &has)))
    goto fail;
  if (!has)
    out->total_cost = -1;
  if ((rc = tw__json_int(root, "max_total_cost", 0, INT64_MAX, false,
                         &out->max_total_cost, &has)))
    goto fail;
  if (!has)
    out->max_total_cost = -1;
  if (!(out->v = alloc_items(data, sizeof(*out->v))) ||
      !(out->owned_ = calloc(json_array_size(data) + 1, sizeof(char *)))) {
    rc = TW_ENOMEM;
    goto fail;
  }
  size_t i;
  json_t *item;
  json_array_foreach(data, i, item) {
    tw_helix_sub_t *s = &out->v[i];
    json_t *cond, *tr;
    if (!json_is_object(item) ||
        (rc = get_strs(item, s, f, sizeof(f) / sizeof(f[0]))) ||
        (rc =
             tw__json_int(item, "cost", 0, INT64_MAX, false, &s->cost, NULL)) ||
        !json_is_object(cond = json_object_get(item, "condition")) ||
        !json_is_object(tr = json_object_get(item, "transport")) ||
        (rc = get_strs(tr, s, ft, sizeof(ft) / sizeof(ft[0]))))
      goto fail_parse;
    /* Sorted keys give one text per condition, so callers can compare
     * conditions as strings (the desired-state registry does). */
    if (!(out->owned_[i] = json_dumps(cond, JSON_COMPACT | JSON_SORT_KEYS))) {
      rc = TW_ENOMEM;
      goto fail;
    }
    s->condition_json = out->owned_[i];
    out->n++;
  }
  return 0;
fail_parse:
  rc = rc ? rc : TW_EPARSE;
fail:
  tw_helix_subs_free(out);
  return rc;
}

void tw_helix_subs_free(tw_helix_subs_t *s) {
  if (!s)
    return;
  if (s->owned_) {
    for (size_t i = 0; s->owned_[i]; i++)
      free(s->owned_[i]);
    free(s->owned_);
  }
  free(s->v);
  json_decref(s->json_);
  memset(s, 0, sizeof(*s));
}
