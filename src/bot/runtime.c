/* twitchd: the runtime behind `twitchd run` (see twitchd/runtime.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "twitchd/buf.h"
#include "twitchd/creds.h"
#include "twitchd/error.h"
#include "twitchd/eventsub_client.h"
#include "twitchd/eventsub_webhook_client.h"
#include "twitchd/helix_client.h"
#include "twitchd/log.h"
#include "twitchd/runtime.h"
#include "twitchd/stream_watch.h"
#include "twitchd/twitch_actions.h"
#include "twitchd/uv_curl.h"
#include "twitchd/uv_mhd.h"
#include "twitchd/webhook.h"

#define MOD "run"
/* Largest request body the web server takes (an EventSub webhook message
 * is at most 1 MiB); a larger one is answered 413. */
#define TW_MAX_WEB_BODY (1024u * 1024u)

struct tw_runtime {
  uv_loop_t *loop;
  tw_config_t *cfg;
  tw_runtime_opts_t opts;
  char *irc_url;
  char *helix_url;
  char *ca_file;

  tw_uvcurl_t *curl;
  tw_webhooks_t *webhooks;
  tw_chat_t *chat;
  bool chat_anonymous;
  tw_bot_t *bot;
  tw_bot_timer_t *timer;
  tw_helix_client_t *helix;
  tw_twitch_actions_t *actions;
  tw_stream_watch_t *streams;
  tw_eventsub_t *eventsub;
  char *eventsub_url;
  /* With forward-url: EventSub over webhooks, subscribed with an app
   * token through a second Helix client, received on the web server. */
  tw_eventsub_webhook_t *esw;
  tw_helix_client_t *helix_app;
  /* Per channel EventSub subscribes for (es_channels, fixed for the
   * client's life), the event kinds it delivers now (bit 1 << kind): chat's
   * USERNOTICE copies of those are dropped, so that a skill sees a sub, a
   * gift or a raid once. */
  char **es_channels;
  size_t es_n;
  uint64_t *es_covered;
  tw_uvmhd_t *web; /* GET /health; NULL when it could not listen */
  /* Channels are joined while live only (always-listening: false, with
   * stream polling on). */
  bool join_when_live;
  bool *in_chat; /* join_when_live: channels[i] is joined because live */
  /* Where Helix gets its token: the credentials manager, through the
   * runtime (creds_current...), or the fixed override token (--sim). */
  tw_token_source_t src;
  char *fixed_token;
  char *fixed_user_id;

  /* Channels chat is in, as configured (owned copies). */
  char **channels;
  size_t nchannels;

  tw_creds_t *creds;
  tw_chat_opts_t chat_base;

  tw_runtime_stats_t stats;
  bool started;
  bool closing;
  unsigned pending_close; /* parts still closing */
  unsigned old_chats;     /* chat clients replaced, still closing */
  void (*close_cb)(void *ud);
  void *close_ud;
};

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static void free_channels(tw_runtime_t *rt) {
  for (size_t i = 0; i < rt->nchannels; i++)
    free(rt->channels[i]);
  free(rt->channels);
  rt->channels = NULL;
  rt->nchannels = 0;
}

static int copy_channels(tw_runtime_t *rt, const tw_config_twitch_t *tc) {
  char **v = calloc(tc->channel_count ? tc->channel_count : 1, sizeof(*v));
  if (v == NULL)
    return TW_ENOMEM;
  for (size_t i = 0; i < tc->channel_count; i++) {
    v[i] = strdup(tc->channels[i]);
    if (v[i] == NULL) {
      for (size_t j = 0; j < i; j++)
        free(v[j]);
      free(v);
      return TW_ENOMEM;
    }
  }
  free_channels(rt);
  rt->channels = v;
  rt->nchannels = tc->channel_count;
  return 0;
}

/* ---- events in ---------------------------------------------------------- */

static void log_event(const tw_event_t *ev) {
  if (tw_log_get_level() > TW_LOG_INFO)
    return;
  json_t *j = tw_event_to_json(ev, TW_EVENT_JSON_NO_RAW);
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
  if (s)
    tw_info("event", "%s", s);
  free(s);
  json_decref(j);
}

static int handle_event(tw_runtime_t *rt, const tw_event_t *ev) {
  rt->stats.events++;
  if (rt->opts.log_events)
    log_event(ev);
  int n = tw_bot_dispatch(rt->bot, ev);
  if (n > 0)
    rt->stats.handlers += (uint64_t)n;
  return n;
}

int tw_runtime_inject(tw_runtime_t *rt, const tw_event_t *ev) {
  if (rt == NULL || ev == NULL)
    return TW_EINVAL;
  if (rt->closing)
    return TW_ESTATE;
  if (ev->target != NULL || rt->nchannels == 0)
    return handle_event(rt, ev);
  /* An event without a room happened in the (first) channel, as a follow
   * or a stream going live does: skills answering it need the room. */
  tw_event_t *copy = tw_event_dup(ev);
  if (copy == NULL)
    return TW_ENOMEM;
  char room[TW_CONFIG_MAX_NAME + 2];
  snprintf(room, sizeof(room), "#%s", rt->channels[0]);
  int rc = tw_event_set_str(copy, "target", room);
  if (rc == 0)
    rc = handle_event(rt, copy);
  tw_event_free(copy);
  return rc;
}

_Static_assert(TW_EVENT_KIND_COUNT <= 64, "es_covered holds a kind per bit");

/* The index of `target` ("#login" or "login") among EventSub's channels. */
static int es_index(const tw_runtime_t *rt, const char *target) {
  if (target == NULL)
    return -1;
  if (target[0] == '#')
    target++;
  for (size_t i = 0; i < rt->es_n; i++)
    if (strcmp(rt->es_channels[i], target) == 0)
      return (int)i;
  return -1;
}

static void on_chat_event(tw_chat_t *chat, tw_event_t *ev, void *ud) {
  (void)chat;
  tw_runtime_t *rt = ud;
  int ci = es_index(rt, ev->target);
  if (ci >= 0 && (rt->es_covered[ci] & (UINT64_C(1) << ev->kind))) {
    tw_debug(MOD, "%s in %s from chat dropped: EventSub delivers it",
             tw_event_kind_name(ev->kind), ev->target);
  } else {
    handle_event(rt, ev);
  }
  tw_event_free(ev);
}

static void on_chat_notice(tw_chat_t *chat, const tw_chat_notice_t *n,
                           void *ud) {
  (void)chat;
  (void)ud;
  tw_log(n->send_failed ? TW_LOG_WARN : TW_LOG_INFO, "chat",
         "notice %s in #%s: %s", n->msg_id[0] ? n->msg_id : "(none)",
         n->channel, n->text);
}

static void on_chat_status(tw_chat_t *chat, const tw_chat_status_t *st,
                           void *ud) {
  (void)chat;
  (void)ud;
  /* The chat client logs what people need to know itself; this line is
   * for debugging, except a final stop with an error. */
  tw_log_level_t lvl = st->kind == TW_CHAT_STATUS_STOPPED && st->err
                           ? TW_LOG_ERROR
                           : TW_LOG_DEBUG;
  tw_log(lvl, "chat", "%s%s%s%s%s%s%s%s", tw_chat_status_kind_name(st->kind),
         st->channel[0] ? " #" : "", st->channel, st->err ? ": " : "",
         st->err ? tw_strerror(st->err) : "", st->detail[0] ? " (" : "",
         st->detail, st->detail[0] ? ")" : "");
}

/* ---- actions out ----------------------------------------------------------
 */

static void on_webhook_done(tw_webhook_t *wh, const tw_webhook_result_t *res,
                            void *ud) {
  tw_runtime_t *rt = ud;
  if (res->err == 0) {
    rt->stats.webhook_sent++;
    tw_debug(MOD, "webhook %s: message %llu delivered", tw_webhook_name(wh),
             (unsigned long long)res->id);
    return;
  }
  rt->stats.webhook_failed++;
  tw_warn(MOD,
          "webhook %s: message %llu not delivered after %u attempts: %s%s%s",
          tw_webhook_name(wh), (unsigned long long)res->id, res->attempts,
          tw_strerror(res->err), res->detail[0] ? ": " : "", res->detail);
}

static const char *strip_hash(const char *room) {
  return room && room[0] == '#' ? room + 1 : room;
}

static void on_action_done(const tw_twitch_action_result_t *res, void *arg) {
  tw_runtime_t *rt = arg;
  if (res->err == 0)
    rt->stats.helix_done++;
  else
    rt->stats.helix_failed++;
}

static int route_twitch(tw_runtime_t *rt, const tw_event_t *a) {
  if (rt->actions && tw_twitch_actions_handles(rt->actions, a))
    return tw_twitch_actions_do(rt->actions, a, on_action_done, rt);
  switch (a->kind) {
  case TW_EVENT_MESSAGE: {
    const char *room = strip_hash(a->target);
    if (room == NULL || room[0] == '\0')
      room = rt->nchannels ? rt->channels[0] : NULL;
    if (room == NULL)
      return TW_EINVAL;
    const char *text = a->u.message.text;
    if (text == NULL || text[0] == '\0')
      return TW_EINVAL;
    if (rt->chat == NULL) {
      tw_warn(MOD, "cannot send to #%s: chat waits for the login to finish",
              room);
      return TW_EAGAIN;
    }
    if (rt->chat_anonymous) {
      tw_warn(MOD,
              "cannot send to #%s: chat is read-only without a token "
              "(run `twitchd auth`)",
              room);
      return TW_EFORBIDDEN;
    }
    int rc = tw_chat_say(rt->chat, room, text, a->u.message.reply_parent_msg_id,
                         a->u.message.is_action);
    if (rc == 0)
      rt->stats.chat_sent++;
    return rc;
  }
  default:
    return TW_EUNSUPPORTED;
  }
}

static int route(const char *connector, tw_event_t *action, void *arg) {
  tw_runtime_t *rt = arg;
  int rc;
  if (rt->closing)
    rc = TW_ESTATE;
  else if (strcmp(connector, TW_RUNTIME_TWITCH) == 0)
    rc = route_twitch(rt, action);
  else if (rt->webhooks)
    rc = tw_webhooks_route(rt->webhooks, action, on_webhook_done, rt);
  else
    rc = TW_ENOTFOUND;
  if (rc == 0)
    rt->stats.actions++;
  else {
    rt->stats.actions_failed++;
    tw_debug(MOD, "%s to %s refused: %s", tw_event_kind_name(action->kind),
             connector, tw_strerror(rc));
  }
  tw_event_free(action);
  return rc;
}

static bool has_connector(const char *connector, void *arg) {
  tw_runtime_t *rt = arg;
  if (strcmp(connector, TW_RUNTIME_TWITCH) == 0)
    return true;
  return rt->webhooks && tw_webhooks_find(rt->webhooks, connector) != NULL;
}

/* ---- a fixed token source -------------------------------------------------
 */

static const char *fixed_current(void *ud) {
  return ((tw_runtime_t *)ud)->fixed_token;
}

static const char *fixed_user_id(void *ud) {
  return ((tw_runtime_t *)ud)->fixed_user_id;
}

/* A fixed token cannot be renewed: a 401 is final (cb is never called). */
static int fixed_refresh(void *ud, const char *rejected, tw_token_ready_cb cb,
                         void *arg) {
  (void)ud;
  (void)rejected;
  (void)cb;
  (void)arg;
  return TW_EAUTH;
}

static void fixed_cancel(void *ud, tw_token_ready_cb cb, void *arg) {
  (void)ud;
  (void)cb;
  (void)arg;
}

/* ---- the credentials' token source, through the runtime ---------------- */

/* The Helix client keeps the source it was given; going through the runtime
 * lets a reload replace the credentials manager under it (after `twitchd
 * auth`, SIGHUP logs the bot in without a restart). */
static const char *creds_current(void *ud) {
  tw_runtime_t *rt = ud;
  return rt->creds ? tw_creds_user_token(rt->creds) : NULL;
}

static const char *creds_user_id(void *ud) {
  tw_runtime_t *rt = ud;
  return rt->creds ? tw_creds_user_id(rt->creds) : NULL;
}

static int creds_refresh(void *ud, const char *rejected, tw_token_ready_cb cb,
                         void *arg) {
  tw_runtime_t *rt = ud;
  if (rt->creds == NULL)
    return TW_EAUTH;
  tw_token_source_t s = tw_creds_user_source(rt->creds);
  return s.refresh(s.ud, rejected, cb, arg);
}

static void creds_cancel(void *ud, tw_token_ready_cb cb, void *arg) {
  tw_runtime_t *rt = ud;
  if (rt->creds == NULL)
    return;
  tw_token_source_t s = tw_creds_user_source(rt->creds);
  s.cancel(s.ud, cb, arg);
}

/* The app access token (client credentials), for webhook subscriptions. */
static const char *app_current(void *ud) {
  tw_runtime_t *rt = ud;
  return rt->creds ? tw_creds_app_token(rt->creds) : NULL;
}

static const char *app_user_id(void *ud) {
  (void)ud;
  return NULL; /* an app token has no user */
}

static int app_refresh(void *ud, const char *rejected, tw_token_ready_cb cb,
                       void *arg) {
  tw_runtime_t *rt = ud;
  if (rt->creds == NULL)
    return TW_EAUTH;
  tw_token_source_t s = tw_creds_app_source(rt->creds);
  return s.refresh(s.ud, rejected, cb, arg);
}

static void app_cancel(void *ud, tw_token_ready_cb cb, void *arg) {
  tw_runtime_t *rt = ud;
  if (rt->creds == NULL)
    return;
  tw_token_source_t s = tw_creds_app_source(rt->creds);
  s.cancel(s.ud, cb, arg);
}

/* ---- the web server: health ---------------------------------------------- */

/* GET /health: 200 when chat is logged in as the bot (not anonymous) and
 * the login is not dead, else 503; the body says what is up either way,
 * for people and monitors. */
static json_t *health_json(tw_runtime_t *rt, bool *ok) {
  tw_chat_stats_t cs = {0};
  bool ready = rt->chat && tw_chat_is_ready(rt->chat);
  if (rt->chat)
    tw_chat_stats(rt->chat, &cs);
  const char *login = rt->creds ? tw_creds_state_name(tw_creds_state(rt->creds))
                                : "fixed token";
  bool dead = rt->creds && (tw_creds_state(rt->creds) == TW_CREDS_NEEDS_AUTH ||
                            tw_creds_state(rt->creds) == TW_CREDS_ERROR);
  *ok = ready && !rt->chat_anonymous && !dead;
  json_t *es = json_null();
  if (rt->eventsub) {
    tw_eventsub_stats_t st;
    tw_eventsub_stats(rt->eventsub, &st);
    es = json_pack("{s:I, s:I, s:I, s:I, s:I}", "subscriptions",
                   (json_int_t)st.subs_enabled, "sessions",
                   (json_int_t)st.welcomes, "notifications",
                   (json_int_t)st.notifications, "duplicates",
                   (json_int_t)st.duplicates, "keepalive_timeouts",
                   (json_int_t)st.keepalive_timeouts);
  }
  const tw_runtime_stats_t *rs = &rt->stats;
  return json_pack(
      "{s:b, s:{s:b, s:b, s:I, s:I, s:I, s:I}, s:s, s:o, s:I, s:{s:I, s:I, "
      "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
      "ok", *ok, "chat", "ready", ready, "anonymous", rt->chat_anonymous,
      "lines_received", (json_int_t)cs.lines_received, "lines_malformed",
      (json_int_t)cs.lines_malformed, "messages_sent",
      (json_int_t)cs.messages_sent, "reconnects", (json_int_t)cs.reconnects,
      "login", login, "eventsub", es ? es : json_null(), "skills",
      (json_int_t)tw_bot_skill_count(rt->bot), "runtime", "events",
      (json_int_t)rs->events, "handlers", (json_int_t)rs->handlers, "actions",
      (json_int_t)rs->actions, "actions_failed", (json_int_t)rs->actions_failed,
      "chat_sent", (json_int_t)rs->chat_sent, "webhook_sent",
      (json_int_t)rs->webhook_sent, "webhook_failed",
      (json_int_t)rs->webhook_failed, "helix_done", (json_int_t)rs->helix_done,
      "helix_failed", (json_int_t)rs->helix_failed, "reloads",
      (json_int_t)rs->reloads);
}

static enum MHD_Result web_reply(struct MHD_Connection *conn, unsigned status,
                                 const char *body) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result rc = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return rc;
}

/* One request in progress: the body of a POST, up to TW_MAX_WEB_BODY. */
typedef struct {
  tw_buf_t body;
  bool too_big;
} web_req_t;

static void web_completed(void *cls, struct MHD_Connection *conn, void **req,
                          enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  web_req_t *r = *req;
  if (r) {
    tw_buf_free(&r->body);
    free(r);
  }
  *req = NULL;
}

static enum MHD_Result web_post(tw_runtime_t *rt, struct MHD_Connection *conn,
                                const char *url, const char *method,
                                web_req_t *r);

static enum MHD_Result web_handler(void *cls, struct MHD_Connection *conn,
                                   const char *url, const char *method,
                                   const char *version, const char *upload,
                                   size_t *upload_size, void **req) {
  (void)version;
  tw_runtime_t *rt = cls;
  if (*req == NULL) { /* headers only so far: answer on a later call */
    web_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
      return MHD_NO;
    tw_buf_init(&r->body, TW_MAX_WEB_BODY);
    *req = r;
    return MHD_YES;
  }
  web_req_t *r = *req;
  if (*upload_size != 0) {
    if (!r->too_big && tw_buf_append(&r->body, upload, *upload_size) != 0)
      r->too_big = true; /* over the cap: refused once it is all in */
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->too_big)
    return web_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                     "{\"error\":\"body too large\"}");
  if (strcmp(url, "/health") != 0)
    return web_post(rt, conn, url, method, r);
  if (strcmp(method, "GET") != 0)
    return web_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                     "{\"error\":\"method not allowed\"}");
  bool ok = false;
  json_t *j = health_json(rt, &ok);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (s == NULL)
    return MHD_NO;
  enum MHD_Result rc =
      web_reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, s);
  free(s);
  return rc;
}

/* Everything but /health: the EventSub webhook receiver when it runs. */
static enum MHD_Result web_post(tw_runtime_t *rt, struct MHD_Connection *conn,
                                const char *url, const char *method,
                                web_req_t *r) {
  if (rt->esw == NULL || rt->closing)
    return web_reply(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
  tw_eventsub_webhook_response_t resp;
  tw_eventsub_webhook_handle(
      rt->esw, method, url, tw_eventsub_webhook_mhd_header, conn,
      r->body.data ? r->body.data : "", r->body.len, &resp);
  struct MHD_Response *m = MHD_create_response_from_buffer(
      resp.body_len, resp.body, MHD_RESPMEM_MUST_COPY);
  if (m == NULL)
    return MHD_NO;
  MHD_add_response_header(m, "Content-Type", resp.content_type);
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)resp.status, m);
  MHD_destroy_response(m);
  return rc;
}

/* The web server is a convenience: when it cannot listen (the port is
 * taken), the bot runs without it and the log says so. */
static void make_web(tw_runtime_t *rt, const tw_config_t *cfg) {
  const tw_config_web_t *w = tw_config_web(cfg);
  tw_uvmhd_opts_t o = {.host = w->host,
                       .port = (uint16_t)w->port,
                       .handler = web_handler,
                       .handler_cls = rt,
                       .completed = web_completed};
  int rc = tw_uvmhd_start(rt->loop, &o, &rt->web);
  if (rc != 0) {
    rt->web = NULL;
    tw_error(MOD,
             "web server: cannot listen on %s:%d (%s); health checks are off "
             "(set web.port)",
             w->host, w->port, tw_strerror(rc));
    return;
  }
  tw_info(MOD, "web server on http://%s:%u (GET /health)", w->host,
          (unsigned)tw_uvmhd_port(rt->web));
}

/* ---- set-up -------------------------------------------------------------- */

static void apply_logging(const tw_config_t *cfg) {
  const tw_config_logging_t *lg = tw_config_logging(cfg);
  tw_log_set_level(lg->level);
  tw_log_set_format(lg->format);
}

static void add_secret(const char *secret, void *arg) {
  (void)arg;
  tw_log_add_secret(secret);
}

static void on_chat_closed(tw_chat_t *chat, void *ud);

static void on_chat_refresh(tw_chat_t *chat, void *ud) {
  tw_runtime_t *rt = ud;
  if (rt->creds)
    tw_creds_chat_refresh(rt->creds, chat);
  else
    tw_chat_token_failed(chat, TW_EAUTH); /* a fixed token cannot renew */
}

/* Creates the chat client with `token` (NULL: anonymous, read-only) and,
 * when the credentials manager looks after the token, binds them. */
static int make_chat(tw_runtime_t *rt, const char *token, const char *login) {
  const tw_config_twitch_t *tc = tw_config_twitch(rt->cfg);
  tw_chat_opts_t o = rt->chat_base;
  o.url = rt->irc_url ? rt->irc_url : tc->irc.url;
  o.ca_file = rt->ca_file ? rt->ca_file : tc->ca_file;
  o.channels = (const char *const *)rt->channels;
  o.nchannels = rt->join_when_live ? 0 : rt->nchannels;
  o.connector = TW_RUNTIME_TWITCH;
  o.token = token;
  o.login = login;
  rt->chat_anonymous = token == NULL || token[0] == '\0';
  tw_chat_cb_t cb = {.on_event = on_chat_event,
                     .on_notice = on_chat_notice,
                     .on_status = on_chat_status,
                     .refresh_token = on_chat_refresh,
                     .on_closed = on_chat_closed};
  int rc = tw_chat_new(rt->loop, &o, &cb, rt, &rt->chat);
  if (rc == 0 && rt->creds && !rt->chat_anonymous)
    rc = tw_creds_chat_attach(rt->creds, rt->chat);
  return rc;
}

/* The chat client could not be made when the runtime started (the
 * configured code was still being exchanged): make it now, with the token
 * that came, or anonymous when the login failed for good. */
static void late_chat(tw_runtime_t *rt, const char *token) {
  if (rt->chat || rt->closing)
    return;
  int rc = make_chat(rt, token, token ? tw_creds_login(rt->creds) : NULL);
  if (rc == 0 && rt->started)
    rc = tw_chat_start(rt->chat);
  if (rc != 0)
    tw_error(MOD, "cannot start chat: %s", tw_strerror(rc));
}

static void on_creds(void *arg, tw_creds_t *c, tw_creds_change_t what,
                     const char *token, const char *reason) {
  (void)c;
  (void)reason;
  tw_runtime_t *rt = arg;
  if (what == TW_CREDS_USER_TOKEN)
    late_chat(rt, token);
  else if (what == TW_CREDS_USER_DEAD)
    late_chat(rt, NULL);
}

static void on_creds_event(tw_event_t *ev, void *ud) {
  tw_runtime_t *rt = ud;
  if (!rt->closing)
    handle_event(rt, ev);
  tw_event_free(ev);
}

/* The credentials manager: the token file (or the configured code), with
 * validation and refresh. Not used when the caller gave a fixed token. */
static int make_creds(tw_runtime_t *rt, const tw_config_twitch_t *tc) {
  tw_creds_opts_t co;
  tw_creds_opts_default(&co);
  co.client_id = tc->client_id;
  co.client_secret = tc->client_secret;
  co.code = tc->code;
  co.redirect_uri = tc->redirect.url;
  co.token_file = tc->token_file;
  co.ca_file = rt->ca_file ? rt->ca_file : tc->ca_file;
  co.oauth_base = tc->oauth.url;
  co.connector = TW_RUNTIME_TWITCH;
  co.curl = rt->curl;
  co.on_event = on_creds_event;
  co.ud = rt;
  /* EventSub webhooks are subscribed with an app access token. */
  co.app_token = tc->eventsub_enabled && tc->forward_url.url != NULL &&
                 tc->client_secret != NULL;
  int rc = tw_creds_new(rt->loop, &co, &rt->creds);
  if (rc == 0)
    rc = tw_creds_start(rt->creds);
  if (rc != 0)
    return TW_ECONFIG; /* creds logged why, naming the file */
  return tw_creds_subscribe(rt->creds, on_creds, rt);
}

/* The Helix client and the actions on it. */
static int make_helix(tw_runtime_t *rt, const tw_config_twitch_t *tc) {
  if (rt->creds) {
    rt->src = (tw_token_source_t){.current = creds_current,
                                  .user_id = creds_user_id,
                                  .refresh = creds_refresh,
                                  .cancel = creds_cancel,
                                  .ud = rt};
  } else {
    if ((rt->opts.token && !(rt->fixed_token = strdup(rt->opts.token))) ||
        (rt->opts.user_id && !(rt->fixed_user_id = strdup(rt->opts.user_id))))
      return TW_ENOMEM;
    rt->src = (tw_token_source_t){.current = fixed_current,
                                  .user_id = fixed_user_id,
                                  .refresh = fixed_refresh,
                                  .cancel = fixed_cancel,
                                  .ud = rt};
  }
  tw_helix_client_opts_t ho = {0};
  ho.base_url = rt->opts.helix_url ? rt->opts.helix_url : tc->helix.url;
  ho.client_id = tc->client_id;
  ho.ca_file = rt->ca_file ? rt->ca_file : tc->ca_file;
  ho.tokens = rt->src;
  int rc = tw_helix_client_new(rt->loop, rt->curl, &ho, &rt->helix);
  if (rc != 0)
    return rc;
  tw_twitch_actions_opts_t ao = {.channels = (const char *const *)rt->channels,
                                 .nchannels = rt->nchannels,
                                 .send_chat_via_helix =
                                     tc->send_chat == TW_SEND_CHAT_HELIX};
  return tw_twitch_actions_new(rt->loop, rt->helix, &ao, &rt->actions);
}

static void on_stream_event(tw_event_t *ev, void *ud) {
  tw_runtime_t *rt = ud;
  /* With EventSub, stream.online/offline bring these events; the poll
   * only decides which channels chat is in. */
  if (!rt->closing && rt->eventsub == NULL)
    handle_event(rt, ev);
  tw_event_free(ev);
}

/* ---- EventSub ------------------------------------------------------------ */

static void on_stream_state(const char *channel, bool live, bool first,
                            void *ud);

/* A StreamStarted from EventSub has no title (stream.online carries none):
 * Get Streams fills the title and viewers before the skills see it, as the
 * seed's announcement needs the title. On failure it goes out as it is. */
typedef struct {
  tw_runtime_t *rt;
  tw_event_t *ev;
} enrich_t;

static void on_enriched(tw_helix_client_t *c, const tw_helix_result_t *res,
                        void *arg) {
  (void)c;
  enrich_t *e = arg;
  tw_runtime_t *rt = e->rt;
  if (res->err == 0 && res->streams && res->streams->n > 0) {
    const tw_helix_stream_t *st = &res->streams->v[0];
    if (st->title)
      tw_event_set_str(e->ev, "title", st->title);
    tw_event_set_int(e->ev, "viewers", st->viewer_count);
  } else if (res->err != TW_ECANCELED) {
    tw_warn(MOD, "StreamStarted: no title from Get Streams (%s)",
            res->err ? tw_strerror(res->err) : "not live yet");
  }
  if (!rt->closing)
    handle_event(rt, e->ev);
  tw_event_free(e->ev);
  free(e);
}

static void on_eventsub_event(tw_event_t *ev, void *ud) {
  tw_runtime_t *rt = ud;
  if (rt->closing) {
    tw_event_free(ev);
    return;
  }
  const char *room = strip_hash(ev->target);
  /* always-listening off: EventSub says at once what the next stream check
   * would say later. */
  if (room && (ev->kind == TW_EVENT_STREAM_STARTED ||
               ev->kind == TW_EVENT_STREAM_ENDED))
    on_stream_state(room, ev->kind == TW_EVENT_STREAM_STARTED, false, rt);
  if (ev->kind == TW_EVENT_STREAM_STARTED &&
      ev->u.stream_started.title == NULL && room && rt->helix) {
    enrich_t *e = malloc(sizeof(*e));
    if (e) {
      e->rt = rt;
      e->ev = ev;
      if (tw_helix_get_streams(rt->helix, NULL, 0, &room, 1, true, 1, NULL,
                               on_enriched, e, NULL) == 0)
        return;
      free(e);
    }
  }
  handle_event(rt, ev);
  tw_event_free(ev);
}

/* The event kind an EventSub subscription type brings that chat also
 * reports (USERNOTICE, CLEARCHAT), or -1. */
static int covered_kind(const char *type) {
  static const struct {
    const char *type;
    tw_event_kind_t kind;
  } map[] = {{"channel.subscribe", TW_EVENT_USER_SUBSCRIBED},
             {"channel.subscription.message", TW_EVENT_USER_SUBSCRIBED},
             {"channel.subscription.gift", TW_EVENT_USER_GIFTED_SUBSCRIPTION},
             {"channel.raid", TW_EVENT_RAID},
             {"channel.ban", TW_EVENT_USER_BANNED}};
  for (size_t i = 0; type && i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(map[i].type, type) == 0)
      return (int)map[i].kind;
  return -1;
}

static void on_eventsub_status(const tw_eventsub_status_t *st, void *ud) {
  tw_runtime_t *rt = ud;
  int ci = es_index(rt, st->channel);
  int kind = covered_kind(st->type);
  if (st->kind == TW_EVENTSUB_ST_DISCONNECTED && rt->es_n > 0)
    memset(rt->es_covered, 0, rt->es_n * sizeof(*rt->es_covered));
  else if (ci >= 0 && kind >= 0 && st->kind == TW_EVENTSUB_ST_SUBSCRIBED)
    rt->es_covered[ci] |= UINT64_C(1) << kind;
  else if (ci >= 0 && kind >= 0 && st->kind == TW_EVENTSUB_ST_REVOKED)
    rt->es_covered[ci] &= ~(UINT64_C(1) << kind);
  switch (st->kind) {
  case TW_EVENTSUB_ST_CONNECTED:
    tw_info(MOD, "EventSub session open");
    break;
  case TW_EVENTSUB_ST_SUBSCRIBED:
    tw_info(MOD, "EventSub: %s for #%s", st->type ? st->type : "?",
            st->channel ? st->channel : "?");
    break;
  case TW_EVENTSUB_ST_DISCONNECTED:
    tw_warn(MOD, "EventSub session closed (%d %s); again in %llu ms", st->code,
            st->reason ? st->reason : "", (unsigned long long)st->retry_in_ms);
    break;
  default: /* the client logs refusals and revocations itself */
    break;
  }
}

/* forward-url: EventSub over webhooks. Twitch POSTs to
 * <forward-url>/eventsub, which the reverse proxy forwards to the web
 * server (web.host, web.port). */
static int make_eventsub_webhook(tw_runtime_t *rt,
                                 const tw_config_twitch_t *tc) {
  tw_helix_client_opts_t ho = {0};
  ho.base_url = rt->opts.helix_url ? rt->opts.helix_url : tc->helix.url;
  ho.client_id = tc->client_id;
  ho.ca_file = rt->ca_file ? rt->ca_file : tc->ca_file;
  ho.tokens = (tw_token_source_t){.current = app_current,
                                  .user_id = app_user_id,
                                  .refresh = app_refresh,
                                  .cancel = app_cancel,
                                  .ud = rt};
  int rc = tw_helix_client_new(rt->loop, rt->curl, &ho, &rt->helix_app);
  if (rc != 0)
    return rc;
  if (tc->eventsub_secret == NULL)
    tw_warn(MOD, "no eventsub-secret configured: a random one is used, and "
                 "the subscriptions of an earlier run are refused (403) until "
                 "Twitch revokes them; set eventsub-secret to keep them");
  tw_eventsub_webhook_opts_t wo = {0};
  wo.callback_base = tc->forward_url.url;
  wo.channels = (const char *const *)rt->channels;
  wo.nchannels = rt->nchannels;
  wo.secret = tc->eventsub_secret;
  wo.connector = TW_RUNTIME_TWITCH;
  wo.on_event = on_eventsub_event;
  wo.on_status = on_eventsub_status;
  wo.ud = rt;
  rc = tw_eventsub_webhook_new(rt->loop, rt->helix_app, &wo, &rt->esw);
  if (rc == 0)
    tw_info(MOD, "EventSub over webhooks: Twitch calls %s",
            tw_eventsub_webhook_callback(rt->esw));
  if (rc == 0 && rt->started)
    rc = tw_eventsub_webhook_start(rt->esw);
  return rc;
}

/* EventSub over WebSocket needs a user login: without one (anonymous chat)
 * there is nothing to subscribe with, and it starts after a re-login. */
static int make_eventsub(tw_runtime_t *rt, const tw_config_twitch_t *tc) {
  if (!tc->eventsub_enabled || rt->eventsub || rt->esw || rt->nchannels == 0)
    return 0;
  if (rt->creds) {
    tw_creds_state_t st = tw_creds_state(rt->creds);
    if (st == TW_CREDS_NO_TOKEN || st == TW_CREDS_ERROR ||
        st == TW_CREDS_NEEDS_AUTH) {
      tw_info(MOD, "EventSub waits for a login (twitchd auth, then SIGHUP)");
      return 0;
    }
  } else if (rt->fixed_token == NULL) {
    return 0;
  }
  if (rt->es_n == 0) {
    rt->es_covered = calloc(rt->nchannels, sizeof(*rt->es_covered));
    rt->es_channels = calloc(rt->nchannels, sizeof(*rt->es_channels));
    if (rt->es_covered == NULL || rt->es_channels == NULL)
      return TW_ENOMEM;
    for (; rt->es_n < rt->nchannels; rt->es_n++)
      if ((rt->es_channels[rt->es_n] = strdup(rt->channels[rt->es_n])) == NULL)
        return TW_ENOMEM;
  }
  if (tc->forward_url.url && rt->creds && tc->client_secret)
    return make_eventsub_webhook(rt, tc);
  if (tc->forward_url.url)
    tw_warn(MOD, "forward-url is set, but EventSub webhooks need an app "
                 "token (client-secret) and a login managed by twitchd: "
                 "using EventSub over WebSocket");
  tw_eventsub_opts_t eo = {0};
  eo.url = rt->eventsub_url ? rt->eventsub_url : tc->eventsub.url;
  eo.ca_file = rt->ca_file ? rt->ca_file : tc->ca_file;
  eo.channels = (const char *const *)rt->channels;
  eo.nchannels = rt->nchannels;
  eo.connector = TW_RUNTIME_TWITCH;
  eo.on_event = on_eventsub_event;
  eo.on_status = on_eventsub_status;
  eo.ud = rt;
  int rc = tw_eventsub_new(rt->loop, rt->helix, &eo, &rt->eventsub);
  if (rc == 0 && rt->started)
    rc = tw_eventsub_start(rt->eventsub);
  return rc;
}

/* always-listening: false: be in a channel's chat while it is live. */
static void on_stream_state(const char *channel, bool live, bool first,
                            void *ud) {
  tw_runtime_t *rt = ud;
  if (!rt->join_when_live || rt->chat == NULL || (first && !live))
    return;
  /* Both EventSub and the stream checks report a change: act once. */
  size_t i = 0;
  while (i < rt->nchannels && strcmp(rt->channels[i], channel) != 0)
    i++;
  if (i == rt->nchannels || rt->in_chat[i] == live)
    return;
  rt->in_chat[i] = live;
  int rc =
      live ? tw_chat_join(rt->chat, channel) : tw_chat_part(rt->chat, channel);
  tw_log(rc ? TW_LOG_WARN : TW_LOG_INFO, MOD, "#%s %s: %s chat%s%s", channel,
         live ? "is live" : "went offline", live ? "joining" : "leaving",
         rc ? ": " : "", rc ? tw_strerror(rc) : "");
}

/* Stream up/down from Get Streams, every stream-check-seconds. */
static int make_stream_watch(tw_runtime_t *rt, const tw_config_twitch_t *tc) {
  uint32_t ms = rt->opts.stream_check_ms
                    ? rt->opts.stream_check_ms
                    : (uint32_t)tc->stream_check_seconds * 1000u;
  if (ms == 0 || rt->nchannels == 0)
    return 0;
  tw_stream_watch_opts_t so = {.channels = (const char *const *)rt->channels,
                               .nchannels = rt->nchannels,
                               .interval_ms = ms,
                               .connector = TW_RUNTIME_TWITCH,
                               .on_event = on_stream_event,
                               .on_state = on_stream_state,
                               .ud = rt};
  return tw_stream_watch_new(rt->loop, rt->helix, &so, &rt->streams);
}

static void rt_free(tw_runtime_t *rt) {
  free(rt->fixed_token);
  free(rt->fixed_user_id);
  tw_bot_free(rt->bot);
  tw_chat_free(rt->chat);
  free_channels(rt);
  tw_config_free(rt->cfg);
  free(rt->irc_url);
  free(rt->helix_url);
  free(rt->eventsub_url);
  free(rt->es_covered);
  free(rt->in_chat);
  for (size_t i = 0; i < rt->es_n; i++)
    free(rt->es_channels[i]);
  free(rt->es_channels);
  free(rt->ca_file);
  free(rt);
}

int tw_runtime_new(uv_loop_t *loop, tw_config_t *cfg,
                   const tw_runtime_opts_t *opts, tw_runtime_t **out) {
  if (loop == NULL || cfg == NULL || out == NULL)
    return TW_EINVAL;
  *out = NULL;
  const tw_config_twitch_t *tc = tw_config_twitch(cfg);
  if (tc == NULL) {
    tw_error(MOD, "the configuration has no twitch connector");
    return TW_ECONFIG;
  }
  tw_runtime_t *rt = calloc(1, sizeof(*rt));
  if (rt == NULL)
    return TW_ENOMEM;
  rt->loop = loop;
  if (opts)
    rt->opts = *opts;
  rt->irc_url = dup_or_null(rt->opts.irc_url);
  rt->ca_file = dup_or_null(rt->opts.ca_file);
  rt->helix_url = dup_or_null(rt->opts.helix_url);
  rt->eventsub_url = dup_or_null(rt->opts.eventsub_url);
  rt->opts.irc_url = rt->opts.ca_file = NULL;
  rt->opts.helix_url = rt->helix_url;
  if (rt->opts.token)
    tw_log_add_secret(rt->opts.token);

  apply_logging(cfg);
  tw_config_foreach_secret(cfg, add_secret, NULL);

  if (rt->opts.chat_base)
    rt->chat_base = *rt->opts.chat_base;
  else
    tw_chat_opts_default(&rt->chat_base);
  rt->cfg = cfg; /* given back to the caller on failure */
  rt->join_when_live = !tc->always_listening && (rt->opts.stream_check_ms ||
                                                 tc->stream_check_seconds > 0);
  int rc = copy_channels(rt, tc);
  if (rc == 0 && (rt->in_chat = calloc(rt->nchannels ? rt->nchannels : 1,
                                       sizeof(*rt->in_chat))) == NULL)
    rc = TW_ENOMEM;
  if (rc == 0) {
    rt->curl = tw_uvcurl_new(loop);
    if (rt->curl == NULL)
      rc = TW_ENOMEM;
  }
  if (rc == 0 && rt->opts.token == NULL)
    rc = make_creds(rt, tc);
  if (rc == 0) {
    if (rt->opts.token)
      rc = make_chat(rt, rt->opts.token, rt->opts.login);
    else if (tw_creds_user_token(rt->creds) != NULL)
      rc = make_chat(rt, tw_creds_user_token(rt->creds),
                     tw_creds_login(rt->creds));
    else if (tw_creds_state(rt->creds) != TW_CREDS_STARTING)
      rc = make_chat(rt, NULL, NULL); /* no login yet: read-only */
    /* else: the configured code is being exchanged; chat starts when the
     * token arrives (on_creds). */
  }
  if (rc == 0)
    rc = make_helix(rt, tc);
  if (rc == 0)
    rc = make_stream_watch(rt, tc);
  if (rc == 0)
    rc = make_eventsub(rt, tc);
  if (rc == 0)
    rc = tw_webhooks_new(loop, rt->curl, cfg, NULL, &rt->webhooks);
  if (rc == 0) {
    tw_bot_opts_t bo = {
        .route = route, .route_arg = rt, .has_connector = has_connector};
    rc = tw_bot_new(&bo, &rt->bot);
  }
  if (rc != 0) {
    tw_error(MOD, "cannot set up: %s", tw_strerror(rc));
    /* Handles made so far belong to the loop: close them; the config stays
     * with the caller. */
    if (rt->webhooks)
      tw_webhooks_close(rt->webhooks, NULL, NULL);
    if (rt->eventsub)
      tw_eventsub_close(rt->eventsub, NULL, NULL);
    if (rt->esw)
      tw_eventsub_webhook_close(rt->esw, NULL, NULL);
    if (rt->helix_app)
      tw_helix_client_close(rt->helix_app, NULL, NULL);
    if (rt->streams)
      tw_stream_watch_close(rt->streams, NULL, NULL);
    if (rt->actions)
      tw_twitch_actions_close(rt->actions, NULL, NULL);
    if (rt->helix)
      tw_helix_client_close(rt->helix, NULL, NULL);
    if (rt->creds) {
      if (rt->chat)
        tw_creds_chat_detach(rt->creds, rt->chat);
      tw_creds_close(rt->creds, NULL, NULL);
    }
    if (rt->curl)
      tw_uvcurl_close(rt->curl, NULL, NULL);
    rt->cfg = NULL;
    rt_free(rt);
    return rc;
  }
  /* What was borrowed for this call has been copied where it is kept. */
  rt->opts.token = rt->opts.login = rt->opts.user_id = NULL;
  rt->opts.chat_base = NULL;
  if (tw_bot_reload_config(rt->bot, cfg) != 0) {
    for (size_t i = 0; i < tw_bot_load_error_count(rt->bot); i++)
      tw_error(MOD, "%s", tw_bot_load_error(rt->bot, i));
  }
  tw_info(MOD, "%zu skill(s) loaded, %zu webhook connector(s), %zu channel(s)",
          tw_bot_skill_count(rt->bot), tw_webhooks_count(rt->webhooks),
          rt->nchannels);
  *out = rt;
  return 0;
}

int tw_runtime_start(tw_runtime_t *rt) {
  if (rt == NULL || rt->started || rt->closing)
    return TW_ESTATE;
  int rc = tw_bot_timer_new(rt->loop, rt->bot, &rt->timer);
  if (rc != 0)
    return rc;
  if (rt->chat && (rc = tw_chat_start(rt->chat)) != 0)
    return rc;
  if (rt->streams && (rc = tw_stream_watch_start(rt->streams)) != 0)
    return rc;
  /* The web server first: webhook subscriptions are verified through it. */
  make_web(rt, rt->cfg);
  if (rt->eventsub && (rc = tw_eventsub_start(rt->eventsub)) != 0)
    return rc;
  if (rt->esw && (rc = tw_eventsub_webhook_start(rt->esw)) != 0)
    return rc;
  rt->started = true;
  return 0;
}

/* ---- reload ------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

static bool has_channel(const char *const *v, size_t n, const char *c) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], c) == 0)
      return true;
  return false;
}

static void warn_kept(const char *what) {
  tw_warn(MOD, "reload: %s changed; it takes effect at the next start", what);
}

static void reload_channels(tw_runtime_t *rt, const tw_config_twitch_t *tc) {
  /* The stream watcher polls the channels it was made with, and with
   * always-listening off it decides which channels chat is in. */
  bool same = tc->channel_count == rt->nchannels;
  for (size_t i = 0; same && i < rt->nchannels; i++)
    same = strcmp(tc->channels[i], rt->channels[i]) == 0;
  if (!same && rt->streams)
    warn_kept("connectors.twitch channel, for stream checks");
  if (rt->join_when_live)
    return;
  for (size_t i = 0; i < tc->channel_count && rt->chat; i++)
    if (!has_channel((const char *const *)rt->channels, rt->nchannels,
                     tc->channels[i])) {
      int rc = tw_chat_join(rt->chat, tc->channels[i]);
      tw_log(rc ? TW_LOG_WARN : TW_LOG_INFO, MOD, "reload: join #%s%s%s",
             tc->channels[i], rc ? ": " : "", rc ? tw_strerror(rc) : "");
    }
  for (size_t i = 0; i < rt->nchannels && rt->chat; i++)
    if (!has_channel(tc->channels, tc->channel_count, rt->channels[i])) {
      int rc = tw_chat_part(rt->chat, rt->channels[i]);
      tw_log(rc ? TW_LOG_WARN : TW_LOG_INFO, MOD, "reload: leave #%s%s%s",
             rt->channels[i], rc ? ": " : "", rc ? tw_strerror(rc) : "");
    }
  if (copy_channels(rt, tc) != 0)
    tw_error(MOD, "reload: out of memory keeping the channel list");
}

static bool webhooks_equal(const tw_config_t *a, const tw_config_t *b) {
  size_t n = tw_config_webhook_count(a);
  if (n != tw_config_webhook_count(b))
    return false;
  for (size_t i = 0; i < n; i++) {
    const tw_config_webhook_t *x = tw_config_webhook(a, i);
    const tw_config_webhook_t *y = tw_config_webhook(b, i);
    if (!str_eq(x->name, y->name) || x->kind != y->kind ||
        !str_eq(x->url.url, y->url.url) || !str_eq(x->username, y->username))
      return false;
  }
  return true;
}

/* After `twitchd auth` (or a `code` added to the configuration), a bot
 * that had no usable login gets one on SIGHUP: a new credentials manager
 * for the new configuration, and a new chat client once it has a token.
 * The old ones close in the background. */
static void relogin(tw_runtime_t *rt, tw_config_t *cfg) {
  tw_creds_state_t st = tw_creds_state(rt->creds);
  if (st != TW_CREDS_NO_TOKEN && st != TW_CREDS_NEEDS_AUTH &&
      st != TW_CREDS_ERROR)
    return;
  tw_info(MOD, "reload: the bot had no usable login (%s): trying again",
          tw_creds_state_name(st));
  if (rt->chat) {
    tw_creds_chat_detach(rt->creds, rt->chat);
    tw_chat_t *old = rt->chat;
    rt->chat = NULL; /* on_chat_closed frees it */
    if (rt->started) {
      rt->old_chats++;
      tw_chat_close(old);
    } else {
      tw_chat_free(old);
    }
  }
  tw_creds_close(rt->creds, NULL, NULL);
  rt->creds = NULL;
  tw_config_t *keep = rt->cfg;
  rt->cfg = cfg; /* make_creds and make_chat read the new one */
  int rc = make_creds(rt, tw_config_twitch(cfg));
  if (rc == 0) {
    if (tw_creds_user_token(rt->creds) != NULL)
      late_chat(rt, tw_creds_user_token(rt->creds));
    else if (tw_creds_state(rt->creds) != TW_CREDS_STARTING)
      late_chat(rt, NULL);
    /* else on_creds makes the chat when the code exchange answers */
    if (make_eventsub(rt, tw_config_twitch(cfg)) != 0)
      tw_error(MOD, "reload: cannot start EventSub");
  } else {
    tw_error(MOD, "reload: the credentials cannot be used; chat stays off "
                  "until the next reload");
  }
  rt->cfg = keep;
}

int tw_runtime_reload(tw_runtime_t *rt, tw_config_t *cfg) {
  if (rt == NULL || cfg == NULL)
    return TW_EINVAL;
  if (rt->closing) {
    tw_config_free(cfg);
    return TW_ESTATE;
  }
  const tw_config_twitch_t *o = tw_config_twitch(rt->cfg);
  const tw_config_twitch_t *n = tw_config_twitch(cfg);
  apply_logging(cfg);
  tw_config_foreach_secret(cfg, add_secret, NULL);
  if (n != NULL) {
    if (!str_eq(o->irc.url, n->irc.url) || !str_eq(o->ca_file, n->ca_file))
      warn_kept("connectors.twitch endpoints.irc or ca-file");
    if (!str_eq(o->helix.url, n->helix.url) ||
        !str_eq(o->oauth.url, n->oauth.url) ||
        !str_eq(o->eventsub.url, n->eventsub.url))
      warn_kept("connectors.twitch endpoints");
    if (!str_eq(o->client_id, n->client_id) ||
        !str_eq(o->client_secret, n->client_secret) ||
        !str_eq(o->token_file, n->token_file))
      warn_kept("connectors.twitch credentials (client-id, client-secret or "
                "token-file)");
    reload_channels(rt, n);
    if (rt->creds)
      relogin(rt, cfg);
  }
  if (!webhooks_equal(rt->cfg, cfg))
    warn_kept("connectors.webhook");
  if (!str_eq(tw_config_web(rt->cfg)->host, tw_config_web(cfg)->host) ||
      tw_config_web(rt->cfg)->port != tw_config_web(cfg)->port)
    warn_kept("web host or port");
  int rc = tw_bot_reload_config(rt->bot, cfg);
  for (size_t i = 0; i < tw_bot_load_error_count(rt->bot); i++)
    tw_error(MOD, "reload: %s", tw_bot_load_error(rt->bot, i));
  /* The old configuration may still be referenced by nothing: the bot, the
   * chat client and the webhooks copied what they keep. */
  tw_config_free(rt->cfg);
  rt->cfg = cfg;
  rt->stats.reloads++;
  tw_info(MOD, "reloaded: %zu skill(s)%s", tw_bot_skill_count(rt->bot),
          rc ? " (some failed to load; their previous versions run)" : "");
  return rc == 0 ? 0 : TW_ECONFIG;
}

/* ---- accessors and close ------------------------------------------------- */

tw_bot_t *tw_runtime_bot(tw_runtime_t *rt) {
  return rt ? rt->bot : NULL;
}
tw_chat_t *tw_runtime_chat(tw_runtime_t *rt) {
  return rt ? rt->chat : NULL;
}

void tw_runtime_stats(const tw_runtime_t *rt, tw_runtime_stats_t *out) {
  if (rt && out)
    *out = rt->stats;
}

static void part_closed(tw_runtime_t *rt) {
  if (--rt->pending_close > 0)
    return;
  void (*cb)(void *) = rt->close_cb;
  void *ud = rt->close_ud;
  rt_free(rt);
  if (cb)
    cb(ud);
}

static void on_chat_closed(tw_chat_t *chat, void *ud) {
  tw_runtime_t *rt = ud;
  if (chat != rt->chat) { /* replaced by a re-login (tw_runtime_reload) */
    tw_chat_free(chat);
    rt->old_chats--;
    if (rt->closing)
      part_closed(rt);
    return;
  }
  part_closed(rt);
}

static void on_set_closed(void *ud) {
  part_closed(ud);
}

static void on_curl_closed(void *ud) {
  part_closed(ud);
}

void tw_runtime_close(tw_runtime_t *rt, void (*cb)(void *ud), void *ud) {
  if (rt == NULL || rt->closing)
    return;
  rt->closing = true;
  rt->close_cb = cb;
  rt->close_ud = ud;
  rt->pending_close = 1 + rt->old_chats; /* own reference, old chats */
  if (rt->timer) {
    tw_bot_timer_close(rt->timer);
    rt->timer = NULL;
  }
  if (rt->creds) {
    if (rt->chat)
      tw_creds_chat_detach(rt->creds, rt->chat);
    rt->pending_close++;
    tw_creds_close(rt->creds, on_set_closed, rt);
    rt->creds = NULL;
  }
  if (rt->webhooks) {
    rt->pending_close++;
    tw_webhooks_close(rt->webhooks, on_set_closed, rt);
    rt->webhooks = NULL;
  }
  if (rt->web) {
    rt->pending_close++;
    tw_uvmhd_close(rt->web, on_set_closed, rt);
    rt->web = NULL;
  }
  if (rt->eventsub) {
    rt->pending_close++;
    tw_eventsub_close(rt->eventsub, on_set_closed, rt);
    rt->eventsub = NULL;
  }
  if (rt->esw) {
    rt->pending_close++;
    tw_eventsub_webhook_close(rt->esw, on_set_closed, rt);
    rt->esw = NULL;
  }
  if (rt->helix_app) {
    rt->pending_close++;
    tw_helix_client_close(rt->helix_app, on_set_closed, rt);
    rt->helix_app = NULL;
  }
  if (rt->streams) {
    rt->pending_close++;
    tw_stream_watch_close(rt->streams, on_set_closed, rt);
    rt->streams = NULL;
  }
  if (rt->actions) {
    rt->pending_close++;
    tw_twitch_actions_close(rt->actions, on_set_closed, rt);
    rt->actions = NULL;
  }
  if (rt->helix) {
    rt->pending_close++;
    tw_helix_client_close(rt->helix, on_set_closed, rt);
    rt->helix = NULL;
  }
  if (rt->curl) {
    rt->pending_close++;
    tw_uvcurl_close(rt->curl, on_curl_closed, rt);
    rt->curl = NULL;
  }
  if (rt->chat && rt->started) {
    rt->pending_close++;
    tw_chat_close(rt->chat);
  }
  part_closed(rt);
}
