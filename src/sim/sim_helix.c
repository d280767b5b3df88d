/* The simulator's Helix side (api.twitch.tv/helix, docs/twitch-protocol.md
 * section 2): users, streams, channels, bans and timeouts, deleting chat
 * messages, clips, chat messages, announcements, shoutouts and EventSub
 * subscription management, with real effects on the chat side (CLEARCHAT,
 * CLEARMSG, PRIVMSG, USERNOTICE in the rooms).
 *
 * Every request needs "Authorization: Bearer <token>" and a Client-Id that
 * matches the token; each answer carries the Ratelimit-* headers of the
 * token's bucket. Messages of error bodies are the ones the protocol
 * document quotes; the others are listed in docs/simulator.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_util.h"
#include "sim/sim_api_int.h"
#include "twitchd/error.h"

/* Values per repeatable query parameter (Twitch: 100). */
#define MAX_IDS 100
/* Longest ban reason and chat message, in code points. */
#define MAX_REASON 500
#define MAX_MESSAGE 500
/* Longest timeout: 14 days. */
#define MAX_TIMEOUT_S 1209600
/* Longest title, in bytes (Twitch: 140 characters). */
#define MAX_TITLE 560
/* Helix chat messages from one sender in one room are duplicates within
 * this window, like IRC's msg_duplicate. */
#define DUP_WINDOW_MS 30000u
/* EventSub cost caps per transport. */
#define MAX_COST_WEBSOCKET 10
#define MAX_COST_WEBHOOK 10000
/* Subscriptions kept in all. */
#define MAX_SUBS 10000
/* Clips kept in all. */
#define MAX_CLIPS 10000
/* Bans kept in all. */
#define MAX_BANS 100000

typedef struct {
  char login[TW_SIM_MAX_LOGIN + 1];
  char title[MAX_TITLE + 1];
  char game_id[32];
  char game_name[128];
  char language[16];
  int live;
  uint32_t viewers;
  uint64_t started_wall_ms;
  char stream_id[24];
} chan_t;

typedef struct {
  char broadcaster_id[TW_SIM_MAX_ID + 1];
  char user_id[TW_SIM_MAX_ID + 1];
  char user_login[TW_SIM_MAX_LOGIN + 1];
  char moderator_id[TW_SIM_MAX_ID + 1];
  char moderator_login[TW_SIM_MAX_LOGIN + 1];
  char *reason;
  uint64_t created_wall_ms;
  uint64_t expires_at;  /* monotonic; 0: permanent */
  uint64_t end_wall_ms; /* timeouts */
} ban_t;

typedef struct {
  char id[40];
  char broadcaster_id[TW_SIM_MAX_ID + 1];
  char broadcaster_login[TW_SIM_MAX_LOGIN + 1];
  char creator_id[TW_SIM_MAX_ID + 1];
  char creator_login[TW_SIM_MAX_LOGIN + 1];
  char title[MAX_TITLE + 1];
  char game_id[32];
  double duration;
  uint64_t created_wall_ms;
  uint64_t ready_at;
} clip_t;

typedef tw_simapi_sub_t sub_t;

typedef struct {
  char *text;
  uint64_t at;
} last_t;

/* ---- lifetime ----------------------------------------------------------- */

static void each_free(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  free(v);
}

static void each_ban(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  ban_t *b = v;
  free(b->reason);
  free(b);
}

void tw__simhelix_sub_free(tw_simapi_sub_t *s) {
  if (!s)
    return;
  json_decref(s->obj);
  tw__free_secret(s->secret);
  free(s);
}

static void each_sub(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  tw__simhelix_sub_free(v);
}

static void each_last(void *ud, const char *k, void *v) {
  (void)ud, (void)k;
  last_t *l = v;
  free(l->text);
  free(l);
}

void tw__simhelix_free(tw_simapi_t *api) {
  tw__simmap_each(&api->channels, each_free, NULL);
  tw__simmap_free(&api->channels);
  tw__simmap_each(&api->clips, each_free, NULL);
  tw__simmap_free(&api->clips);
  tw__simmap_each(&api->bans, each_ban, NULL);
  tw__simmap_free(&api->bans);
  tw__simmap_each(&api->subs, each_sub, NULL);
  tw__simmap_free(&api->subs);
  tw__simmap_each(&api->lastmsg, each_last, NULL);
  tw__simmap_free(&api->lastmsg);
}

/* ---- channels ----------------------------------------------------------- */

static chan_t *chan_get(tw_simapi_t *api, const char *login) {
  return tw__simmap_get(&api->channels, login, strlen(login));
}

static chan_t *chan_need(tw_simapi_t *api, const char *login) {
  chan_t *c = chan_get(api, login);
  if (c)
    return c;
  if (api->channels.count >= TW_SIM_MAX_USERS)
    return NULL;
  c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  snprintf(c->login, sizeof(c->login), "%s", login);
  snprintf(c->language, sizeof(c->language), "en");
  if (tw__simmap_put(&api->channels, c->login, strlen(c->login), c) != 0) {
    free(c);
    return NULL;
  }
  return c;
}

int tw__simhelix_set_stream(tw_simapi_t *api, const char *room,
                            const tw_sim_stream_t *st, uint64_t now) {
  if (!room || !st)
    return TW_EINVAL;
  if (room[0] == '#')
    room++;
  if ((st->title && strlen(st->title) > MAX_TITLE) ||
      (st->game_id && strlen(st->game_id) >= 32) ||
      (st->game_name && strlen(st->game_name) >= 128) ||
      (st->language && strlen(st->language) >= 16))
    return TW_EINVAL;
  int rc = tw__simchat_user_ensure(api->core, room, NULL);
  if (rc != 0)
    return rc;
  chan_t *c = chan_need(api, room);
  if (!c)
    return TW_ENOMEM;
  if (st->live && !c->live) {
    c->started_wall_ms = tw__simapi_wall(api, now);
    tw__simapi_rand(api, c->stream_id, 11, "0123456789");
  }
  c->live = st->live != 0;
  c->viewers = st->viewer_count;
  if (st->title)
    snprintf(c->title, sizeof(c->title), "%s", st->title);
  if (st->game_id)
    snprintf(c->game_id, sizeof(c->game_id), "%s", st->game_id);
  if (st->game_name)
    snprintf(c->game_name, sizeof(c->game_name), "%s", st->game_name);
  if (st->language)
    snprintf(c->language, sizeof(c->language), "%s", st->language);
  return 0;
}

int tw__simhelix_chan_view(tw_simapi_t *api, const char *login,
                           tw_simhelix_chan_view_t *out) {
  memset(out, 0, sizeof(*out));
  chan_t *c = tw__simmap_get(&api->channels, login, strlen(login));
  if (!c)
    return TW_ENOTFOUND;
  out->live = c->live;
  snprintf(out->stream_id, sizeof(out->stream_id), "%s", c->stream_id);
  out->started_wall_ms = c->started_wall_ms;
  snprintf(out->title, sizeof(out->title), "%s", c->title);
  snprintf(out->language, sizeof(out->language), "%s", c->language);
  snprintf(out->game_id, sizeof(out->game_id), "%s", c->game_id);
  snprintf(out->game_name, sizeof(out->game_name), "%s", c->game_name);
  return 0;
}

/* ---- request helpers ---------------------------------------------------- */

static void err(tw_simapi_ctx_t *x, unsigned status, const char *message) {
  tw__simapi_helix_err(x->resp, status, message);
}

static void missing_param(tw_simapi_ctx_t *x, const char *name) {
  char m[128];
  snprintf(m, sizeof(m), "Missing required parameter \"%s\"", name);
  err(x, 400, m);
}

static const char *qparam(tw_simapi_ctx_t *x, const char *key) {
  const char *v = tw__simapi_param(&x->q, key);
  return v && *v ? v : NULL;
}

/* The values of a repeatable parameter. Returns how many (may exceed max:
 * then only max are stored). */
static size_t qparams(tw_simapi_ctx_t *x, const char *key, const char **out,
                      size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < x->q.n; i++) {
    if (strcmp(x->q.k[i], key) != 0)
      continue;
    if (n < max)
      out[n] = x->q.v[i];
    n++;
  }
  return n;
}

static int need_user(tw_simapi_ctx_t *x) {
  if (x->tok.login)
    return 1;
  err(x, 401, "Missing User OAUTH Token");
  return 0;
}

static int need_scope(tw_simapi_ctx_t *x, const char *scope) {
  if (tw_scopes_has(x->tok.scopes, scope))
    return 1;
  char m[128];
  snprintf(m, sizeof(m), "Missing scope: %s", scope);
  err(x, 401, m);
  return 0;
}

/* The user with id `id`, as a required query parameter. */
static int user_by_param(tw_simapi_ctx_t *x, const char *param,
                         tw_simchat_user_view_t *u) {
  const char *id = qparam(x, param);
  if (!id) {
    missing_param(x, param);
    return 0;
  }
  if (tw__simchat_user_find(x->api->core, NULL, id, u) != 0) {
    char m[160];
    snprintf(m, sizeof(m), "The ID in %s is not valid.", param);
    err(x, 400, m);
    return 0;
  }
  return 1;
}

/* A moderator action: broadcaster_id and moderator_id given, moderator_id
 * the token's user, who is the broadcaster or one of its moderators. Fills
 * the broadcaster `b`. */
static int mod_check(tw_simapi_ctx_t *x, const char *bparam, const char *scope,
                     tw_simchat_user_view_t *b) {
  if (!need_user(x) || !need_scope(x, scope))
    return 0;
  const char *mid = qparam(x, "moderator_id");
  if (!mid) {
    missing_param(x, "moderator_id");
    return 0;
  }
  if (!user_by_param(x, bparam, b))
    return 0;
  if (strcmp(mid, x->tok.user_id) != 0) {
    err(x, 401,
        "The ID in moderator_id must match the user ID found in the "
        "request's OAuth token.");
    return 0;
  }
  tw_sim_role_t role = tw__simchat_role(x->api->core, b->login, x->tok.login);
  if (role != TW_SIM_ROLE_BROADCASTER && role != TW_SIM_ROLE_MOD) {
    err(x, 403,
        "The user in moderator_id is not one of the broadcaster's "
        "moderators.");
    return 0;
  }
  return 1;
}

/* The JSON body as an object, or an answer and NULL. */
static json_t *body_object(tw_simapi_ctx_t *x) {
  const tw_simapi_req_t *req = x->req;
  json_t *o = req->body_len ? tw__json_parse(req->body, req->body_len) : NULL;
  if (!o || !json_is_object(o)) {
    json_decref(o);
    err(x, 400, "The request body is not a valid JSON object.");
    return NULL;
  }
  return o;
}

static json_t *data_one(json_t *e) {
  json_t *o = json_object();
  json_t *a = json_array();
  json_array_append_new(a, e);
  json_object_set_new(o, "data", a);
  return o;
}

static void rfc(tw_simapi_t *api, uint64_t wall_ms, char out[32]) {
  (void)api;
  tw__simapi_rfc3339(wall_ms, out);
}

/* Valid UTF-8 without CR, LF or NUL, at most `max` code points, not
 * blank. */
static int chat_text_ok(const char *s, size_t max) {
  size_t n = strlen(s);
  size_t cps = tw__utf8_count(s, n);
  if (cps == SIZE_MAX || cps > max)
    return 0;
  int blank = 1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\r' || s[i] == '\n')
      return 0;
    if (s[i] != ' ')
      blank = 0;
  }
  return !blank;
}

/* ---- users -------------------------------------------------------------- */

static json_t *user_json(tw_simapi_ctx_t *x, const tw_simchat_user_view_t *u) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(u->id));
  json_object_set_new(o, "login", json_string(u->login));
  json_object_set_new(o, "display_name", json_string(u->display));
  json_object_set_new(o, "type", json_string(""));
  json_object_set_new(o, "broadcaster_type", json_string(""));
  json_object_set_new(o, "description", json_string(""));
  json_object_set_new(o, "profile_image_url", json_string(""));
  json_object_set_new(o, "offline_image_url", json_string(""));
  json_object_set_new(o, "view_count", json_integer(0));
  if (x->tok.login && strcmp(x->tok.login, u->login) == 0 &&
      tw_scopes_has(x->tok.scopes, "user:read:email")) {
    char mail[64];
    snprintf(mail, sizeof(mail), "%s@example.invalid", u->login);
    json_object_set_new(o, "email", json_string(mail));
  }
  json_object_set_new(o, "created_at", json_string("2020-01-01T00:00:00Z"));
  return o;
}

static void get_users(tw_simapi_ctx_t *x) {
  const char *ids[MAX_IDS], *logins[MAX_IDS];
  size_t ni = qparams(x, "id", ids, MAX_IDS);
  size_t nl = qparams(x, "login", logins, MAX_IDS);
  if (ni + nl > MAX_IDS) {
    err(x, 400,
        "The request exceeds the maximum allowed number of id and/or "
        "login query parameters.");
    return;
  }
  json_t *arr = json_array();
  tw_simchat_user_view_t u;
  if (ni + nl == 0) {
    if (!x->tok.login) {
      json_decref(arr);
      err(x, 400,
          "The id or login query parameter is required unless the "
          "request uses a user access token.");
      return;
    }
    if (tw__simchat_user_find(x->api->core, x->tok.login, NULL, &u) == 0)
      json_array_append_new(arr, user_json(x, &u));
  }
  for (size_t i = 0; i < ni; i++) {
    if (!tw__is_numeric_id(ids[i], TW_SIM_MAX_ID)) {
      json_decref(arr);
      err(x, 400, "Invalid login names, emails or IDs in request");
      return;
    }
    if (tw__simchat_user_find(x->api->core, NULL, ids[i], &u) == 0)
      json_array_append_new(arr, user_json(x, &u));
  }
  for (size_t i = 0; i < nl; i++) {
    if (!tw__sim_valid_login(logins[i], strlen(logins[i]))) {
      json_decref(arr);
      err(x, 400, "Invalid login names, emails or IDs in request");
      return;
    }
    if (tw__simchat_user_find(x->api->core, logins[i], NULL, &u) == 0)
      json_array_append_new(arr, user_json(x, &u));
  }
  json_t *o = json_object();
  json_object_set_new(o, "data", arr);
  tw__simapi_json(x->resp, 200, o);
}

/* ---- streams and channels ----------------------------------------------- */

static json_t *stream_json(tw_simapi_ctx_t *x, const chan_t *c,
                           const tw_simchat_user_view_t *u) {
  char ts[32], thumb[160];
  rfc(x->api, c->started_wall_ms, ts);
  snprintf(thumb, sizeof(thumb),
           "https://static-cdn.jtvnw.net/previews-ttv/live_user_%s-{width}x{"
           "height}.jpg",
           u->login);
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(c->stream_id));
  json_object_set_new(o, "user_id", json_string(u->id));
  json_object_set_new(o, "user_login", json_string(u->login));
  json_object_set_new(o, "user_name", json_string(u->display));
  json_object_set_new(o, "game_id", json_string(c->game_id));
  json_object_set_new(o, "game_name", json_string(c->game_name));
  json_object_set_new(o, "type", json_string("live"));
  json_object_set_new(o, "title", json_string(c->title));
  json_object_set_new(o, "tags", json_array());
  json_object_set_new(o, "viewer_count", json_integer(c->viewers));
  json_object_set_new(o, "started_at", json_string(ts));
  json_object_set_new(o, "language", json_string(c->language));
  json_object_set_new(o, "thumbnail_url", json_string(thumb));
  json_object_set_new(o, "tag_ids", json_array());
  json_object_set_new(o, "is_mature", json_false());
  return o;
}

typedef struct {
  tw_simapi_ctx_t *x;
  json_t *arr;
} live_walk_t;

static void live_cb(void *ud, const char *k, void *v) {
  (void)k;
  live_walk_t *w = ud;
  chan_t *c = v;
  tw_simchat_user_view_t u;
  if (c->live && json_array_size(w->arr) < MAX_IDS &&
      tw__simchat_user_find(w->x->api->core, c->login, NULL, &u) == 0)
    json_array_append_new(w->arr, stream_json(w->x, c, &u));
}

static void get_streams(tw_simapi_ctx_t *x) {
  const char *ids[MAX_IDS], *logins[MAX_IDS];
  size_t ni = qparams(x, "user_id", ids, MAX_IDS);
  size_t nl = qparams(x, "user_login", logins, MAX_IDS);
  const char *first = qparam(x, "first");
  if (ni > MAX_IDS || nl > MAX_IDS) {
    err(x, 400, "too many user_id or user_login parameters");
    return;
  }
  if (first) {
    char *end;
    long f = strtol(first, &end, 10);
    if (*end || f < 1 || f > 100) {
      err(x, 400, "The value in the first query parameter is not valid.");
      return;
    }
  }
  json_t *arr = json_array();
  tw_simchat_user_view_t u;
  if (ni + nl == 0) {
    live_walk_t w = {x, arr};
    tw__simmap_each(&x->api->channels, live_cb, &w);
  }
  for (size_t i = 0; i < ni + nl; i++) {
    int rc =
        i < ni ? tw__simchat_user_find(x->api->core, NULL, ids[i], &u)
               : tw__simchat_user_find(x->api->core, logins[i - ni], NULL, &u);
    const chan_t *c = rc == 0 ? chan_get(x->api, u.login) : NULL;
    if (c && c->live)
      json_array_append_new(arr, stream_json(x, c, &u));
  }
  json_t *o = json_object();
  json_object_set_new(o, "data", arr);
  json_object_set_new(o, "pagination", json_object());
  tw__simapi_json(x->resp, 200, o);
}

static void get_channels(tw_simapi_ctx_t *x) {
  const char *ids[MAX_IDS];
  size_t n = qparams(x, "broadcaster_id", ids, MAX_IDS);
  if (n == 0) {
    missing_param(x, "broadcaster_id");
    return;
  }
  if (n > MAX_IDS) {
    err(x, 400, "too many broadcaster_id parameters");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    tw_simchat_user_view_t u;
    if (tw__simchat_user_find(x->api->core, NULL, ids[i], &u) != 0)
      continue;
    const chan_t *c = chan_get(x->api, u.login);
    json_t *o = json_object();
    json_object_set_new(o, "broadcaster_id", json_string(u.id));
    json_object_set_new(o, "broadcaster_login", json_string(u.login));
    json_object_set_new(o, "broadcaster_name", json_string(u.display));
    json_object_set_new(o, "broadcaster_language",
                        json_string(c ? c->language : "en"));
    json_object_set_new(o, "game_id", json_string(c ? c->game_id : ""));
    json_object_set_new(o, "game_name", json_string(c ? c->game_name : ""));
    json_object_set_new(o, "title", json_string(c ? c->title : ""));
    json_object_set_new(o, "delay", json_integer(0));
    json_object_set_new(o, "tags", json_array());
    json_object_set_new(o, "content_classification_labels", json_array());
    json_object_set_new(o, "is_branded_content", json_false());
    json_array_append_new(arr, o);
  }
  json_t *o = json_object();
  json_object_set_new(o, "data", arr);
  tw__simapi_json(x->resp, 200, o);
}

static void patch_channels(tw_simapi_ctx_t *x) {
  if (!need_user(x) || !need_scope(x, "channel:manage:broadcast"))
    return;
  tw_simchat_user_view_t b;
  if (!user_by_param(x, "broadcaster_id", &b))
    return;
  if (strcmp(b.id, x->tok.user_id) != 0) {
    err(x, 401,
        "The ID in broadcaster_id must match the user ID found in "
        "the request's OAuth token.");
    return;
  }
  json_t *body = body_object(x);
  if (!body)
    return;
  const char *title = NULL, *game = NULL, *lang = NULL;
  int found = 0;
  if (tw__json_str(body, "title", MAX_TITLE, false, &title) ||
      tw__json_str(body, "game_id", 31, false, &game) ||
      tw__json_str(body, "broadcaster_language", 15, false, &lang)) {
    json_decref(body);
    err(x, 400, "A field in the request body has the wrong type or length.");
    return;
  }
  const char *known[] = {"title",
                         "game_id",
                         "broadcaster_language",
                         "delay",
                         "tags",
                         "content_classification_labels",
                         "is_branded_content"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    found |= json_object_get(body, known[i]) != NULL;
  if (!found) {
    json_decref(body);
    err(x, 400, "No fields to update were specified.");
    return;
  }
  if (title && (!*title || !chat_text_ok(title, 140))) {
    json_decref(body);
    err(x, 400, "The title field may not be empty.");
    return;
  }
  chan_t *c = chan_need(x->api, b.login);
  if (!c) {
    json_decref(body);
    err(x, 500, "Internal Server Error");
    return;
  }
  if (title)
    snprintf(c->title, sizeof(c->title), "%s", title);
  if (game)
    snprintf(c->game_id, sizeof(c->game_id), "%s", game);
  if (lang)
    snprintf(c->language, sizeof(c->language), "%s", lang);
  json_decref(body);
  x->resp->status = 204;
}

/* ---- bans --------------------------------------------------------------- */

static void ban_key(char *out, size_t cap, const char *bid, const char *uid) {
  snprintf(out, cap, "%s:%s", bid, uid);
}

/* The ban of `uid` in `bid`'s channel, when one is in force now. */
static ban_t *ban_get(tw_simapi_t *api, const char *bid, const char *uid,
                      uint64_t now) {
  char key[2 * TW_SIM_MAX_ID + 2];
  ban_key(key, sizeof(key), bid, uid);
  ban_t *b = tw__simmap_get(&api->bans, key, strlen(key));
  if (b && b->expires_at && now >= b->expires_at) {
    /* A timeout that ran out is no ban. */
    tw__simmap_del(&api->bans, key, strlen(key));
    free(b->reason);
    free(b);
    b = NULL;
  }
  return b;
}

int tw__simhelix_ban_check(void *ud, const char *room, const char *login,
                           uint64_t now, uint64_t *left_s) {
  tw_simapi_t *api = ud;
  tw_simchat_user_view_t b, u;
  *left_s = 0;
  if (tw__simchat_user_find(api->core, room, NULL, &b) != 0 ||
      tw__simchat_user_find(api->core, login, NULL, &u) != 0)
    return 0;
  const ban_t *ban = ban_get(api, b.id, u.id, now);
  if (!ban)
    return 0;
  if (ban->expires_at)
    *left_s = (ban->expires_at - now + 999) / 1000;
  return 1;
}

static void post_bans(tw_simapi_ctx_t *x) {
  tw_simchat_user_view_t b;
  if (!mod_check(x, "broadcaster_id", "moderator:manage:banned_users", &b))
    return;
  json_t *body = body_object(x);
  if (!body)
    return;
  json_t *data = json_object_get(body, "data");
  const char *uid = NULL, *reason = NULL;
  int64_t dur = 0;
  bool has_dur = false;
  if (!json_is_object(data) ||
      tw__json_str(data, "user_id", TW_SIM_MAX_ID, true, &uid) ||
      tw__json_str(data, "reason", 4 * MAX_REASON, false, &reason)) {
    json_decref(body);
    err(x, 400, "The data object with a user_id string is required.");
    return;
  }
  if (tw__json_int(data, "duration", 1, MAX_TIMEOUT_S, false, &dur, &has_dur)) {
    json_decref(body);
    err(x, 400, "The value in the duration field is not valid.");
    return;
  }
  if (reason && tw__utf8_count(reason, strlen(reason)) > MAX_REASON) {
    json_decref(body);
    err(x, 400, "The text in the reason field is too long.");
    return;
  }
  tw_simchat_user_view_t u;
  if (tw__simchat_user_find(x->api->core, NULL, uid, &u) != 0) {
    json_decref(body);
    err(x, 400, "The user specified in the user_id field does not exist.");
    return;
  }
  tw_sim_role_t role = tw__simchat_role(x->api->core, b.login, u.login);
  if (role == TW_SIM_ROLE_BROADCASTER ||
      (role == TW_SIM_ROLE_MOD &&
       tw__simchat_role(x->api->core, b.login, x->tok.login) !=
           TW_SIM_ROLE_BROADCASTER)) {
    json_decref(body);
    err(x, 400, "The user specified in the user_id field may not be banned.");
    return;
  }
  ban_t *old = ban_get(x->api, b.id, u.id, x->now);
  if (old && old->expires_at == 0) {
    json_decref(body);
    err(x, 400, "user is already banned");
    return;
  }
  if (!old && x->api->bans.count >= MAX_BANS) {
    json_decref(body);
    err(x, 429, "too many bans");
    return;
  }
  ban_t *nb = calloc(1, sizeof(*nb));
  char key[2 * TW_SIM_MAX_ID + 2];
  ban_key(key, sizeof(key), b.id, u.id);
  if (!nb || (reason && !(nb->reason = strdup(reason))) ||
      tw__simmap_put(&x->api->bans, key, strlen(key), nb) != 0) {
    if (nb)
      free(nb->reason);
    free(nb);
    json_decref(body);
    err(x, 500, "Internal Server Error");
    return;
  }
  if (old) {
    free(old->reason);
    free(old);
  }
  json_decref(body);
  snprintf(nb->broadcaster_id, sizeof(nb->broadcaster_id), "%s", b.id);
  snprintf(nb->user_id, sizeof(nb->user_id), "%s", u.id);
  snprintf(nb->user_login, sizeof(nb->user_login), "%s", u.login);
  snprintf(nb->moderator_id, sizeof(nb->moderator_id), "%s", x->tok.user_id);
  snprintf(nb->moderator_login, sizeof(nb->moderator_login), "%s",
           x->tok.login);
  uint64_t wall = tw__simapi_wall(x->api, x->now);
  nb->created_wall_ms = wall;
  if (has_dur) {
    nb->expires_at = x->now + (uint64_t)dur * 1000;
    nb->end_wall_ms = wall + (uint64_t)dur * 1000;
  }
  /* The chat side: CLEARCHAT for the user, whose messages are gone. */
  char rid[TW_SIM_MAX_ID + 1], line[512];
  if (tw__simchat_room_id(x->api->core, b.login, rid, sizeof(rid)) == 0) {
    int n;
    if (has_dur)
      n = snprintf(line, sizeof(line),
                   "@ban-duration=%lld;room-id=%s;target-user-id=%s;"
                   "tmi-sent-ts=%llu :tmi.twitch.tv CLEARCHAT #%s :%s",
                   (long long)dur, rid, u.id, (unsigned long long)wall, b.login,
                   u.login);
    else
      n = snprintf(line, sizeof(line),
                   "@room-id=%s;target-user-id=%s;tmi-sent-ts=%llu "
                   ":tmi.twitch.tv CLEARCHAT #%s :%s",
                   rid, u.id, (unsigned long long)wall, b.login, u.login);
    if (n > 0 && (size_t)n < sizeof(line))
      tw__simchat_inject_room(x->api->core, b.login, line, (size_t)n, x->now);
    tw__simchat_hist_clear(x->api->core, b.login, u.login);
  }
  char ts[32], end[32];
  rfc(x->api, wall, ts);
  /* EventSub: the ban is also a channel.ban notification. */
  if (x->api->es.notify) {
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:b}", "user_id", u.id, "user_login",
                  u.login, "moderator_user_login", x->tok.login, "reason",
                  nb->reason ? nb->reason : "", "is_permanent", !has_dur);
    if (ev && has_dur) {
      rfc(x->api, nb->end_wall_ms, end);
      json_object_set_new(ev, "ends_at", json_string(end));
    }
    if (ev)
      x->api->es.notify(x->api->es.ud, "channel.ban", b.login, ev);
    json_decref(ev);
  }
  json_t *e = json_object();
  json_object_set_new(e, "broadcaster_id", json_string(b.id));
  json_object_set_new(e, "moderator_id", json_string(x->tok.user_id));
  json_object_set_new(e, "user_id", json_string(u.id));
  json_object_set_new(e, "created_at", json_string(ts));
  if (has_dur) {
    rfc(x->api, nb->end_wall_ms, end);
    json_object_set_new(e, "end_time", json_string(end));
  } else {
    json_object_set_new(e, "end_time", json_null());
  }
  tw__simapi_json(x->resp, 200, data_one(e));
}

static void delete_bans(tw_simapi_ctx_t *x) {
  tw_simchat_user_view_t b;
  if (!mod_check(x, "broadcaster_id", "moderator:manage:banned_users", &b))
    return;
  const char *uid = qparam(x, "user_id");
  if (!uid) {
    missing_param(x, "user_id");
    return;
  }
  ban_t *ban = ban_get(x->api, b.id, uid, x->now);
  if (!ban) {
    err(x, 400, "user is not banned");
    return;
  }
  char key[2 * TW_SIM_MAX_ID + 2];
  ban_key(key, sizeof(key), b.id, uid);
  tw__simmap_del(&x->api->bans, key, strlen(key));
  free(ban->reason);
  free(ban);
  x->resp->status = 204;
}

typedef struct {
  tw_simapi_ctx_t *x;
  const char *bid;
  const char *only_user;
  json_t *arr;
  char expired[64][2 * TW_SIM_MAX_ID + 2];
  size_t nexpired;
} banned_walk_t;

static void banned_cb(void *ud, const char *k, void *v) {
  banned_walk_t *w = ud;
  ban_t *b = v;
  if (strcmp(b->broadcaster_id, w->bid) != 0 ||
      (w->only_user && strcmp(b->user_id, w->only_user) != 0))
    return;
  if (b->expires_at && w->x->now >= b->expires_at) {
    if (w->nexpired < 64)
      snprintf(w->expired[w->nexpired++], sizeof(w->expired[0]), "%s", k);
    return;
  }
  char ts[32], end[32];
  rfc(w->x->api, b->created_wall_ms, ts);
  json_t *o = json_object();
  json_object_set_new(o, "user_id", json_string(b->user_id));
  json_object_set_new(o, "user_login", json_string(b->user_login));
  json_object_set_new(o, "user_name", json_string(b->user_login));
  if (b->expires_at) {
    rfc(w->x->api, b->end_wall_ms, end);
    json_object_set_new(o, "expires_at", json_string(end));
  } else {
    json_object_set_new(o, "expires_at", json_string(""));
  }
  json_object_set_new(o, "created_at", json_string(ts));
  json_object_set_new(o, "reason", json_string(b->reason ? b->reason : ""));
  json_object_set_new(o, "moderator_id", json_string(b->moderator_id));
  json_object_set_new(o, "moderator_login", json_string(b->moderator_login));
  json_object_set_new(o, "moderator_name", json_string(b->moderator_login));
  json_array_append_new(w->arr, o);
}

static void get_banned(tw_simapi_ctx_t *x) {
  if (!need_user(x))
    return;
  if (!tw_scopes_has(x->tok.scopes, "moderation:read") &&
      !tw_scopes_has(x->tok.scopes, "moderator:manage:banned_users")) {
    err(x, 401, "Missing scope: moderation:read");
    return;
  }
  tw_simchat_user_view_t b;
  if (!user_by_param(x, "broadcaster_id", &b))
    return;
  tw_sim_role_t role = tw__simchat_role(x->api->core, b.login, x->tok.login);
  if (role != TW_SIM_ROLE_BROADCASTER && role != TW_SIM_ROLE_MOD) {
    err(x, 401,
        "The ID in broadcaster_id must match the user ID found in "
        "the request's OAuth token.");
    return;
  }
  banned_walk_t *w = calloc(1, sizeof(*w));
  if (!w) {
    err(x, 500, "Internal Server Error");
    return;
  }
  w->x = x;
  w->bid = b.id;
  w->only_user = qparam(x, "user_id");
  w->arr = json_array();
  tw__simmap_each(&x->api->bans, banned_cb, w);
  for (size_t i = 0; i < w->nexpired; i++) {
    ban_t *gone =
        tw__simmap_del(&x->api->bans, w->expired[i], strlen(w->expired[i]));
    if (gone) {
      free(gone->reason);
      free(gone);
    }
  }
  json_t *o = json_object();
  json_object_set_new(o, "data", w->arr);
  json_object_set_new(o, "pagination", json_object());
  free(w);
  tw__simapi_json(x->resp, 200, o);
}

/* ---- deleting chat messages --------------------------------------------- */

static void delete_chat(tw_simapi_ctx_t *x) {
  tw_simchat_user_view_t b;
  if (!mod_check(x, "broadcaster_id", "moderator:manage:chat_messages", &b))
    return;
  tw_simchat_t *core = x->api->core;
  const char *mid = qparam(x, "message_id");
  char rid[TW_SIM_MAX_ID + 1], line[8192];
  uint64_t wall = tw__simapi_wall(x->api, x->now);
  if (tw__simchat_room_id(core, b.login, rid, sizeof(rid)) != 0) {
    err(x, 500, "Internal Server Error");
    return;
  }
  if (!mid) {
    /* Clear the chat: CLEARCHAT without a user, and the history goes. */
    int n =
        snprintf(line, sizeof(line),
                 "@room-id=%s;tmi-sent-ts=%llu :tmi.twitch.tv CLEARCHAT #%s",
                 rid, (unsigned long long)wall, b.login);
    tw__simchat_inject_room(core, b.login, line, (size_t)n, x->now);
    tw__simchat_hist_clear(core, b.login, NULL);
    x->resp->status = 204;
    return;
  }
  char sender[TW_SIM_MAX_NICK + 1];
  if (tw__simchat_hist_login(core, b.login, mid, sender, sizeof(sender)) != 0) {
    err(x, 404, "The ID in message_id was not found.");
    return;
  }
  tw_sim_role_t srole = tw__simchat_role(core, b.login, sender);
  if (strcmp(sender, x->tok.login) != 0 &&
      (srole == TW_SIM_ROLE_BROADCASTER || srole == TW_SIM_ROLE_MOD)) {
    err(x, 400, "You may not delete another moderator's messages.");
    return;
  }
  char *body = NULL;
  tw__simchat_hist_take(core, b.login, mid, sender, sizeof(sender), &body);
  char esc[TW_SIM_MSG_ID_SIZE * 2];
  tw__sim_tag_escape(mid, strlen(mid), esc, sizeof(esc));
  int n = snprintf(line, sizeof(line),
                   "@login=%s;room-id=%s;target-msg-id=%s;tmi-sent-ts=%llu "
                   ":tmi.twitch.tv CLEARMSG #%s :%s",
                   sender, rid, esc, (unsigned long long)wall, b.login,
                   body ? body : "");
  if (n > 0 && (size_t)n < sizeof(line))
    tw__simchat_inject_room(core, b.login, line, (size_t)n, x->now);
  free(body);
  x->resp->status = 204;
}

/* ---- clips -------------------------------------------------------------- */

static json_t *clip_json(const clip_t *c) {
  char url[160], embed[160], thumb[160], ts[32];
  snprintf(url, sizeof(url), "https://clips.twitch.tv/%s", c->id);
  snprintf(embed, sizeof(embed), "https://clips.twitch.tv/embed?clip=%s",
           c->id);
  snprintf(thumb, sizeof(thumb),
           "https://clips-media-assets.twitch.tv/%s-preview-480x272.jpg",
           c->id);
  tw__simapi_rfc3339(c->created_wall_ms, ts);
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(c->id));
  json_object_set_new(o, "url", json_string(url));
  json_object_set_new(o, "embed_url", json_string(embed));
  json_object_set_new(o, "broadcaster_id", json_string(c->broadcaster_id));
  json_object_set_new(o, "broadcaster_name", json_string(c->broadcaster_login));
  json_object_set_new(o, "creator_id", json_string(c->creator_id));
  json_object_set_new(o, "creator_name", json_string(c->creator_login));
  json_object_set_new(o, "video_id", json_string(""));
  json_object_set_new(o, "game_id", json_string(c->game_id));
  json_object_set_new(o, "language", json_string("en"));
  json_object_set_new(o, "title", json_string(c->title));
  json_object_set_new(o, "view_count", json_integer(0));
  json_object_set_new(o, "created_at", json_string(ts));
  json_object_set_new(o, "thumbnail_url", json_string(thumb));
  json_object_set_new(o, "duration", json_real(c->duration));
  json_object_set_new(o, "vod_offset", json_null());
  json_object_set_new(o, "is_featured", json_false());
  return o;
}

static void post_clips(tw_simapi_ctx_t *x) {
  if (!need_user(x) || !need_scope(x, "clips:edit"))
    return;
  tw_simchat_user_view_t b;
  if (!user_by_param(x, "broadcaster_id", &b))
    return;
  const char *title = qparam(x, "title");
  const char *dur = qparam(x, "duration");
  double d = 30;
  if (dur) {
    char *end;
    d = strtod(dur, &end);
    if (*end || !(d >= 5 && d <= 60)) {
      err(x, 400, "The value in the duration field is not valid.");
      return;
    }
  }
  if (title && strlen(title) > MAX_TITLE) {
    err(x, 400, "The title is too long.");
    return;
  }
  const chan_t *ch = chan_get(x->api, b.login);
  if (!ch || !ch->live) {
    err(x, 404, "Clipping is not possible for an offline channel.");
    return;
  }
  if (x->api->clips.count >= MAX_CLIPS) {
    err(x, 429, "too many clips");
    return;
  }
  clip_t *c = calloc(1, sizeof(*c));
  if (!c) {
    err(x, 500, "Internal Server Error");
    return;
  }
  /* Twitch's slugs are words; any unique letters do. */
  tw__simapi_rand(x->api, c->id, 24,
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  snprintf(c->broadcaster_id, sizeof(c->broadcaster_id), "%s", b.id);
  snprintf(c->broadcaster_login, sizeof(c->broadcaster_login), "%s", b.login);
  snprintf(c->creator_id, sizeof(c->creator_id), "%s", x->tok.user_id);
  snprintf(c->creator_login, sizeof(c->creator_login), "%s", x->tok.login);
  snprintf(c->title, sizeof(c->title), "%s", title ? title : ch->title);
  snprintf(c->game_id, sizeof(c->game_id), "%s", ch->game_id);
  c->duration = d;
  c->created_wall_ms = tw__simapi_wall(x->api, x->now);
  c->ready_at = x->now + x->api->o.clip_delay_ms;
  if (tw__simmap_put(&x->api->clips, c->id, strlen(c->id), c) != 0) {
    free(c);
    err(x, 500, "Internal Server Error");
    return;
  }
  char edit[160];
  snprintf(edit, sizeof(edit), "https://www.twitch.tv/%s/clip/%s", b.login,
           c->id);
  json_t *e = json_object();
  json_object_set_new(e, "id", json_string(c->id));
  json_object_set_new(e, "edit_url", json_string(edit));
  tw__simapi_json(x->resp, 202, data_one(e));
}

typedef struct {
  tw_simapi_ctx_t *x;
  const char *bid, *game;
  json_t *arr;
} clip_walk_t;

static void clip_cb(void *ud, const char *k, void *v) {
  (void)k;
  clip_walk_t *w = ud;
  const clip_t *c = v;
  if (w->x->now < c->ready_at || json_array_size(w->arr) >= MAX_IDS)
    return;
  if ((w->bid && strcmp(c->broadcaster_id, w->bid) == 0) ||
      (w->game && strcmp(c->game_id, w->game) == 0))
    json_array_append_new(w->arr, clip_json(c));
}

static void get_clips(tw_simapi_ctx_t *x) {
  const char *ids[MAX_IDS];
  size_t ni = qparams(x, "id", ids, MAX_IDS);
  const char *bid = qparam(x, "broadcaster_id");
  const char *game = qparam(x, "game_id");
  if ((ni > 0) + (bid != NULL) + (game != NULL) != 1) {
    err(x, 400,
        "The request must specify exactly one of the id, "
        "broadcaster_id or game_id query parameters.");
    return;
  }
  if (ni > MAX_IDS) {
    err(x, 400, "too many id parameters");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < ni; i++) {
    const clip_t *c = tw__simmap_get(&x->api->clips, ids[i], strlen(ids[i]));
    /* Not created yet: not listed, as on Twitch. */
    if (c && x->now >= c->ready_at)
      json_array_append_new(arr, clip_json(c));
  }
  if (!ni) {
    clip_walk_t w = {x, bid, game, arr};
    tw__simmap_each(&x->api->clips, clip_cb, &w);
  }
  json_t *o = json_object();
  json_object_set_new(o, "data", arr);
  json_object_set_new(o, "pagination", json_object());
  tw__simapi_json(x->resp, 200, o);
}

/* ---- chat --------------------------------------------------------------- */

static void chat_dropped(tw_simapi_ctx_t *x, const char *code,
                         const char *message) {
  json_t *e = json_object();
  json_object_set_new(e, "message_id", json_string(""));
  json_object_set_new(e, "is_sent", json_false());
  json_t *dr = json_object();
  json_object_set_new(dr, "code", json_string(code));
  json_object_set_new(dr, "message", json_string(message));
  json_object_set_new(e, "drop_reason", dr);
  tw__simapi_json(x->resp, 200, data_one(e));
}

static void post_chat_messages(tw_simapi_ctx_t *x) {
  json_t *body = body_object(x);
  if (!body)
    return;
  const char *bid = NULL, *sid = NULL, *msg = NULL, *reply = NULL;
  if (tw__json_str(body, "broadcaster_id", TW_SIM_MAX_ID, true, &bid) ||
      tw__json_str(body, "sender_id", TW_SIM_MAX_ID, true, &sid) ||
      tw__json_str(body, "message", 16 * MAX_MESSAGE, true, &msg) ||
      tw__json_str(body, "reply_parent_message_id", 64, false, &reply)) {
    json_decref(body);
    err(x, 400,
        "The broadcaster_id, sender_id and message fields are "
        "required.");
    return;
  }
  if (x->tok.login && json_object_get(body, "for_source_only")) {
    json_decref(body);
    err(x, 400, "for_source_only may only be set with an app access token.");
    return;
  }
  if (x->tok.login && !need_scope(x, "user:write:chat")) {
    json_decref(body);
    return;
  }
  if (x->tok.login && strcmp(sid, x->tok.user_id) != 0) {
    json_decref(body);
    err(x, 401,
        "The sender_id in the body must match the user ID found in "
        "the request's OAuth token.");
    return;
  }
  tw_simchat_user_view_t b, s;
  if (tw__simchat_user_find(x->api->core, NULL, bid, &b) != 0 ||
      tw__simchat_user_find(x->api->core, NULL, sid, &s) != 0) {
    json_decref(body);
    err(x, 400, "The ID in broadcaster_id or sender_id is not valid.");
    return;
  }
  size_t cps = tw__utf8_count(msg, strlen(msg));
  if (cps != SIZE_MAX && cps > MAX_MESSAGE) {
    json_decref(body);
    err(x, 422, "The message is too large.");
    return;
  }
  if (!chat_text_ok(msg, MAX_MESSAGE)) {
    json_decref(body);
    err(x, 400, "The message field may not be empty or hold line breaks.");
    return;
  }
  /* Twitch answers 200 with is_sent false when it refuses the message. */
  if (ban_get(x->api, b.id, s.id, x->now)) {
    json_decref(body);
    chat_dropped(x, "user_banned",
                 "You are permanently banned or timed out from talking in "
                 "this channel.");
    return;
  }
  char key[2 * TW_SIM_MAX_LOGIN + 2];
  snprintf(key, sizeof(key), "%s:%s", b.login, s.login);
  last_t *last = tw__simmap_get(&x->api->lastmsg, key, strlen(key));
  if (last && strcmp(last->text, msg) == 0 &&
      x->now < last->at + DUP_WINDOW_MS) {
    json_decref(body);
    chat_dropped(x, "msg_duplicate",
                 "Your message is identical to the one you sent within the "
                 "last 30 seconds.");
    return;
  }
  char id[TW_SIM_MSG_ID_SIZE];
  int rc = tw__simchat_room_ensure(x->api->core, b.login);
  if (rc == 0)
    rc =
        tw__simchat_say(x->api->core, b.login, s.login, msg, reply, id, x->now);
  if (rc < 0) {
    json_decref(body);
    err(x, 500, "Internal Server Error");
    return;
  }
  if (!last && x->api->lastmsg.count < TW_SIM_MAX_USERS &&
      (last = calloc(1, sizeof(*last))) != NULL &&
      tw__simmap_put(&x->api->lastmsg, key, strlen(key), last) != 0) {
    free(last);
    last = NULL;
  }
  if (last) {
    char *t = strdup(msg);
    if (t) {
      free(last->text);
      last->text = t;
      last->at = x->now;
    }
  }
  json_decref(body);
  json_t *e = json_object();
  json_object_set_new(e, "message_id", json_string(id));
  json_object_set_new(e, "is_sent", json_true());
  tw__simapi_json(x->resp, 200, data_one(e));
}

static void post_announcements(tw_simapi_ctx_t *x) {
  tw_simchat_user_view_t b;
  if (!mod_check(x, "broadcaster_id", "moderator:manage:announcements", &b))
    return;
  json_t *body = body_object(x);
  if (!body)
    return;
  const char *msg = NULL, *color = NULL;
  if (tw__json_str(body, "message", 16 * MAX_MESSAGE, true, &msg) ||
      tw__json_str(body, "color", 16, false, &color) ||
      !chat_text_ok(msg, SIZE_MAX / 2)) {
    json_decref(body);
    err(x, 400, "The message field is required.");
    return;
  }
  static const char *const colors[] = {"blue", "green", "orange", "purple",
                                       "primary"};
  char upper[16] = "PRIMARY";
  if (color) {
    int ok = 0;
    for (size_t i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
      ok |= strcmp(color, colors[i]) == 0;
    if (!ok) {
      json_decref(body);
      err(x, 400, "The value in the color field is not valid.");
      return;
    }
    for (size_t i = 0; color[i] && i + 1 < sizeof(upper); i++)
      upper[i] = (char)(color[i] - 'a' + 'A'), upper[i + 1] = '\0';
  }
  /* Longer messages are cut at 500 code points, as Twitch does. */
  char text[4 * MAX_MESSAGE + 1];
  size_t o = 0, cps = 0;
  for (size_t i = 0; msg[i] && cps < MAX_MESSAGE; cps++) {
    size_t k = 1;
    while (msg[i + k] && ((unsigned char)msg[i + k] & 0xc0) == 0x80)
      k++;
    if (o + k >= sizeof(text))
      break;
    memcpy(text + o, msg + i, k);
    o += k;
    i += k;
  }
  text[o] = '\0';
  json_decref(body);
  /* The chat side: a USERNOTICE msg-id=announcement from the moderator. */
  char rid[TW_SIM_MAX_ID + 1], mid[TW_SIM_MSG_ID_SIZE], line[4096];
  tw__simapi_rand(x->api, mid, 36, "0123456789abcdef");
  mid[8] = mid[13] = mid[18] = mid[23] = '-';
  tw_simchat_user_view_t m;
  if (tw__simchat_room_id(x->api->core, b.login, rid, sizeof(rid)) == 0 &&
      tw__simchat_user_find(x->api->core, x->tok.login, NULL, &m) == 0) {
    char disp[TW_SIM_MAX_DISPLAY * 2 + 1];
    tw__sim_tag_escape(m.display, strlen(m.display), disp, sizeof(disp));
    int n = snprintf(
        line, sizeof(line),
        "@badge-info=;badges=%s;color=;display-name=%s;emotes=;flags=;id=%s;"
        "login=%s;mod=%d;msg-id=announcement;msg-param-color=%s;room-id=%s;"
        "subscriber=0;system-msg=;tmi-sent-ts=%llu;user-id=%s;user-type= "
        ":tmi.twitch.tv USERNOTICE #%s :%s",
        strcmp(m.login, b.login) == 0 ? "broadcaster/1" : "moderator/1", disp,
        mid, m.login, strcmp(m.login, b.login) != 0, upper, rid,
        (unsigned long long)tw__simapi_wall(x->api, x->now), m.id, b.login,
        text);
    if (n > 0 && (size_t)n < sizeof(line))
      tw__simchat_inject_room(x->api->core, b.login, line, (size_t)n, x->now);
  }
  x->resp->status = 204;
}

static void post_shoutouts(tw_simapi_ctx_t *x) {
  tw_simchat_user_view_t from, to;
  if (!mod_check(x, "from_broadcaster_id", "moderator:manage:shoutouts", &from))
    return;
  if (!user_by_param(x, "to_broadcaster_id", &to))
    return;
  if (strcmp(from.id, to.id) == 0) {
    err(x, 400, "The broadcaster may not give itself a Shoutout.");
    return;
  }
  const chan_t *c = chan_get(x->api, from.login);
  if (!c || !c->live || c->viewers == 0) {
    err(x, 400,
        "The broadcaster is not streaming live or does not have one "
        "or more viewers.");
    return;
  }
  x->resp->status = 204;
}

/* ---- EventSub subscriptions --------------------------------------------- */

/* The scope a subscription type needs in the token (WebSocket) or granted
 * to the client (webhook, not checked here); NULL: none. */
static const char *sub_scope(const char *type) {
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
      {"channel.chat.message_delete", "user:read:chat"},
      {"channel.chat.clear", "user:read:chat"},
      {"channel.chat.clear_user_messages", "user:read:chat"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
    if (strcmp(type, t[i].type) == 0)
      return t[i].scope;
  return NULL;
}

static void sub_owner(tw_simapi_ctx_t *x, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", x->tok.client_id,
           x->tok.login ? x->tok.user_id : "");
}

typedef struct {
  const char *owner;
  int websocket;
  const char *type;
  json_t *cond;
  const char *f_status, *f_type, *f_user, *f_id;
  json_t *arr;
  int total, cost, dup;
} sub_walk_t;

static int cond_has_user(json_t *cond, const char *uid) {
  const char *k;
  json_t *v;
  json_object_foreach(cond, k, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), uid) == 0)
      return 1;
  }
  return 0;
}

static void sub_cb(void *ud, const char *k, void *v) {
  (void)k;
  sub_walk_t *w = ud;
  sub_t *s = v;
  if (strcmp(s->owner, w->owner) != 0 || s->websocket != w->websocket)
    return;
  w->total++;
  /* A websocket subscription disabled by its session's end neither costs
   * nor blocks the same subscription on a new session. */
  int live = !s->websocket ||
             strcmp(json_string_value(json_object_get(s->obj, "status")),
                    "enabled") == 0;
  if (live)
    w->cost += s->cost;
  if (live && w->type &&
      strcmp(json_string_value(json_object_get(s->obj, "type")), w->type) ==
          0 &&
      json_equal(json_object_get(s->obj, "condition"), w->cond))
    w->dup = 1;
  if (!w->arr)
    return;
  if (w->f_status &&
      strcmp(json_string_value(json_object_get(s->obj, "status")),
             w->f_status) != 0)
    return;
  if (w->f_type && strcmp(json_string_value(json_object_get(s->obj, "type")),
                          w->f_type) != 0)
    return;
  if (w->f_id &&
      strcmp(json_string_value(json_object_get(s->obj, "id")), w->f_id) != 0)
    return;
  if (w->f_user &&
      !cond_has_user(json_object_get(s->obj, "condition"), w->f_user))
    return;
  json_array_append(w->arr, s->obj);
}

static void sub_envelope(tw_simapi_ctx_t *x, unsigned status, json_t *arr,
                         int total, int cost, int websocket, int paged) {
  json_t *o = json_object();
  json_object_set_new(o, "data", arr);
  json_object_set_new(o, "total", json_integer(total));
  json_object_set_new(o, "total_cost", json_integer(cost));
  json_object_set_new(
      o, "max_total_cost",
      json_integer(websocket ? MAX_COST_WEBSOCKET : MAX_COST_WEBHOOK));
  if (paged)
    json_object_set_new(o, "pagination", json_object());
  tw__simapi_json(x->resp, status, o);
}

/* Twitch wants https on port 443. Simulator extension: loopback hosts
 * (127.0.0.1, localhost) may use http and any port, so that tests can run
 * a plain local receiver. */
static int callback_ok(const char *cb) {
  int https = strncmp(cb, "https://", 8) == 0;
  if (!https && strncmp(cb, "http://", 7) != 0)
    return 0;
  const char *h = cb + (https ? 8 : 7);
  size_t hl = strcspn(h, ":/?#");
  if (hl == 0 || memchr(h, '@', strcspn(h, "/?#")))
    return 0;
  int loop = (hl == 9 && strncmp(h, "127.0.0.1", 9) == 0) ||
             (hl == 9 && strncasecmp(h, "localhost", 9) == 0);
  if (loop)
    return 1;
  if (!https)
    return 0;
  if (h[hl] != ':')
    return 1;
  return strncmp(h + hl, ":443", 4) == 0 && strchr("/?#", h[hl + 4]);
}

static void post_subs(tw_simapi_ctx_t *x) {
  json_t *body = body_object(x);
  if (!body)
    return;
  const char *type = NULL, *version = NULL, *method = NULL;
  json_t *cond = json_object_get(body, "condition");
  json_t *tr = json_object_get(body, "transport");
  if (tw__json_str(body, "type", 128, true, &type) ||
      tw__json_str(body, "version", 16, true, &version) ||
      !json_is_object(cond) || json_object_size(cond) == 0 ||
      !json_is_object(tr) || tw__json_str(tr, "method", 32, true, &method)) {
    json_decref(body);
    err(x, 400,
        "The type, version, condition and transport fields are "
        "required.");
    return;
  }
  int websocket = strcmp(method, "websocket") == 0;
  int webhook = strcmp(method, "webhook") == 0;
  if (!websocket && !webhook && strcmp(method, "conduit") != 0) {
    json_decref(body);
    err(x, 400, "The transport method is not valid.");
    return;
  }
  /* WebSocket needs a user token, webhook and conduit an app token. */
  if (websocket != (x->tok.login != NULL)) {
    json_decref(body);
    err(x, 401,
        websocket ? "Invalid OAuth token: the websocket transport "
                    "requires a user access token"
                  : "Invalid OAuth token: the webhook and conduit "
                    "transports require an app access token");
    return;
  }
  const char *cb = NULL, *secret = NULL, *session = NULL, *conduit = NULL;
  if (webhook) {
    if (tw__json_str(tr, "callback", TW_SIM_MAX_URI, true, &cb) ||
        !callback_ok(cb)) {
      json_decref(body);
      err(x, 400,
          "The callback must be an https URL on port 443 (http and any "
          "port only for 127.0.0.1 and localhost).");
      return;
    }
    if (tw__json_str(tr, "secret", 100, true, &secret) || strlen(secret) < 10) {
      json_decref(body);
      err(x, 400, "The secret must be 10 to 100 characters.");
      return;
    }
  } else if (websocket) {
    if (tw__json_str(tr, "session_id", 256, true, &session) || !*session) {
      json_decref(body);
      err(x, 400, "The session_id field is required.");
      return;
    }
  } else if (tw__json_str(tr, "conduit_id", 256, true, &conduit) || !*conduit) {
    json_decref(body);
    err(x, 400, "The conduit_id field is required.");
    return;
  }
  const char *scope = websocket ? sub_scope(type) : NULL;
  if (scope && !tw_scopes_has(x->tok.scopes, scope)) {
    json_decref(body);
    err(x, 403, "subscription missing proper authorization");
    return;
  }
  char owner[sizeof(((sub_t *)0)->owner)];
  sub_owner(x, owner, sizeof(owner));
  if (websocket && x->api->es.check) {
    char msg[128] = "";
    unsigned st = x->api->es.check(x->api->es.ud, session, owner, msg);
    if (st) {
      json_decref(body);
      err(x, st, msg);
      return;
    }
  }
  sub_walk_t w = {0};
  w.owner = owner;
  w.websocket = websocket;
  w.type = type;
  w.cond = cond;
  tw__simmap_each(&x->api->subs, sub_cb, &w);
  if (w.dup) {
    json_decref(body);
    err(x, 409, "subscription already exists");
    return;
  }
  int cost = x->tok.login && cond_has_user(cond, x->tok.user_id) ? 0 : 1;
  if (w.cost + cost > (websocket ? MAX_COST_WEBSOCKET : MAX_COST_WEBHOOK) ||
      x->api->subs.count >= MAX_SUBS) {
    json_decref(body);
    err(x, 429, "maximum total cost exceeded");
    return;
  }
  sub_t *s = calloc(1, sizeof(*s));
  char id[40], ts[40];
  tw__simapi_rand(x->api, id, 36, "0123456789abcdef");
  id[8] = id[13] = id[18] = id[23] = '-';
  uint64_t wall = tw__simapi_wall(x->api, x->now);
  tw__simapi_rfc3339(wall, ts);
  /* Nanoseconds, as Twitch writes created_at. */
  snprintf(ts + 19, sizeof(ts) - 19, ".%03u000000Z", (unsigned)(wall % 1000));
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(id));
  json_object_set_new(o, "status",
                      json_string(webhook ? "webhook_callback_verification_"
                                            "pending"
                                          : "enabled"));
  json_object_set_new(o, "type", json_string(type));
  json_object_set_new(o, "version", json_string(version));
  json_object_set_new(o, "condition", json_deep_copy(cond));
  json_object_set_new(o, "created_at", json_string(ts));
  json_t *t = json_object();
  json_object_set_new(t, "method", json_string(method));
  if (webhook)
    json_object_set_new(t, "callback", json_string(cb));
  else if (websocket) {
    json_object_set_new(t, "session_id", json_string(session));
    json_object_set_new(t, "connected_at", json_string(ts));
  } else
    json_object_set_new(t, "conduit_id", json_string(conduit));
  json_object_set_new(o, "transport", t);
  json_object_set_new(o, "cost", json_integer(cost));
  /* The secret points into the body: copied before the body goes. */
  char *sec = webhook ? strdup(secret) : NULL;
  json_decref(body);
  if (!s || tw__simmap_put(&x->api->subs, id, strlen(id), s) != 0) {
    tw__free_secret(sec);
    free(s);
    json_decref(o);
    err(x, 500, "Internal Server Error");
    return;
  }
  s->obj = o;
  snprintf(s->owner, sizeof(s->owner), "%s", owner);
  s->websocket = websocket;
  s->cost = cost;
  if (webhook && !(s->secret = sec)) {
    tw__simmap_del(&x->api->subs, id, strlen(id));
    tw__simhelix_sub_free(s);
    err(x, 500, "Internal Server Error");
    return;
  }
  if (webhook && x->api->es.wh_created)
    x->api->es.wh_created(x->api->es.ud, s);
  if (websocket && x->api->es.created)
    x->api->es.created(x->api->es.ud,
                       json_string_value(json_object_get(t, "session_id")),
                       owner, o);
  json_t *arr = json_array();
  json_array_append(arr, o);
  sub_envelope(x, 202, arr, w.total + 1, w.cost + cost, websocket, 0);
}

static void get_subs(tw_simapi_ctx_t *x) {
  sub_walk_t w = {0};
  char owner[sizeof(((sub_t *)0)->owner)];
  sub_owner(x, owner, sizeof(owner));
  w.owner = owner;
  w.websocket = x->tok.login != NULL;
  w.f_status = qparam(x, "status");
  w.f_type = qparam(x, "type");
  w.f_user = qparam(x, "user_id");
  w.f_id = qparam(x, "subscription_id");
  if ((w.f_status != NULL) + (w.f_type != NULL) + (w.f_user != NULL) +
          (w.f_id != NULL) >
      1) {
    err(x, 400,
        "Only one of status, type, user_id or subscription_id may "
        "be given.");
    return;
  }
  w.arr = json_array();
  tw__simmap_each(&x->api->subs, sub_cb, &w);
  sub_envelope(x, 200, w.arr, w.total, w.cost, w.websocket, 1);
}

static void delete_subs(tw_simapi_ctx_t *x) {
  const char *id = qparam(x, "id");
  if (!id) {
    missing_param(x, "id");
    return;
  }
  char owner[sizeof(((sub_t *)0)->owner)];
  sub_owner(x, owner, sizeof(owner));
  sub_t *s = tw__simmap_get(&x->api->subs, id, strlen(id));
  if (!s || strcmp(s->owner, owner) != 0 ||
      s->websocket != (x->tok.login != NULL)) {
    err(x, 404, "subscription not found");
    return;
  }
  tw__simmap_del(&x->api->subs, id, strlen(id));
  tw__simhelix_sub_free(s);
  x->resp->status = 204;
}

/* ---- dispatch ----------------------------------------------------------- */

/* Checks Authorization and Client-Id; answers and returns 0 on failure. */
static int auth(tw_simapi_ctx_t *x) {
  const char *h = tw__simapi_req_header(x->req, "Authorization");
  if (!h || !*h) {
    err(x, 401, "OAuth token is missing");
    return 0;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0) {
    err(x, 401, "Invalid OAuth token");
    return 0;
  }
  h += 7;
  while (*h == ' ')
    h++;
  if (strlen(h) > TW_SIM_MAX_TOKEN ||
      tw__simchat_token_get(x->api->core, h, x->now, &x->tok) != 0 ||
      !x->tok.live) {
    err(x, 401, "Invalid OAuth token");
    return 0;
  }
  const char *cid = tw__simapi_req_header(x->req, "Client-Id");
  if (!cid || strcmp(cid, x->tok.client_id) != 0) {
    err(x, 401, "Client ID and OAuth token do not match");
    return 0;
  }
  snprintf(x->token, sizeof(x->token), "%s", h);
  return 1;
}

void tw__simhelix_handle(tw_simapi_ctx_t *x) {
  const char *p = x->req->path + 6; /* after "/helix" */
  const char *m = x->req->method;
  if (!auth(x)) {
    tw__simapi_ratelimit(x, 0);
    return;
  }
  if (tw__simapi_ratelimit(x, 1) != 0) {
    x->api->cnt.rate_limited++;
    err(x, 429, "Request limit exceeded");
    return;
  }
  if (x->q.bad) {
    err(x, 400, "The query string is malformed.");
    return;
  }
  int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
  int del = strcmp(m, "DELETE") == 0, patch = strcmp(m, "PATCH") == 0;
  if (get && strcmp(p, "/users") == 0)
    get_users(x);
  else if (get && strcmp(p, "/streams") == 0)
    get_streams(x);
  else if (get && strcmp(p, "/channels") == 0)
    get_channels(x);
  else if (patch && strcmp(p, "/channels") == 0)
    patch_channels(x);
  else if (post && strcmp(p, "/moderation/bans") == 0)
    post_bans(x);
  else if (del && strcmp(p, "/moderation/bans") == 0)
    delete_bans(x);
  else if (get && strcmp(p, "/moderation/banned") == 0)
    get_banned(x);
  else if (del && strcmp(p, "/moderation/chat") == 0)
    delete_chat(x);
  else if (post && strcmp(p, "/clips") == 0)
    post_clips(x);
  else if (get && strcmp(p, "/clips") == 0)
    get_clips(x);
  else if (post && strcmp(p, "/chat/messages") == 0)
    post_chat_messages(x);
  else if (post && strcmp(p, "/chat/announcements") == 0)
    post_announcements(x);
  else if (post && strcmp(p, "/chat/shoutouts") == 0)
    post_shoutouts(x);
  else if (post && strcmp(p, "/eventsub/subscriptions") == 0)
    post_subs(x);
  else if (get && strcmp(p, "/eventsub/subscriptions") == 0)
    get_subs(x);
  else if (del && strcmp(p, "/eventsub/subscriptions") == 0)
    delete_subs(x);
  else if (strcmp(p, "/users/follows") == 0)
    err(x, 410, "The API is deprecated.");
  else
    err(x, 404, "Not Found");
}
