/* Skills' Twitch actions through Helix (see include/twitchd/twitch_actions.h).
 *
 * An action is a small state machine: resolve the broadcaster (the
 * channel's id, cached by the Helix client), for BanUser resolve the user,
 * then make the one Helix call. At each step the action remembers the id of
 * the Helix call in progress, so that closing can withdraw it and report
 * the action as cancelled. The copies of the event's fields live in the
 * action, so the caller's event may be freed as soon as
 * tw_twitch_actions_do() returns. */
#include "twitchd/twitch_actions.h"
#include "twitch/chat_text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "twitchd/error.h"
#include "twitchd/log.h"

#define LOG_MOD "twitch"

typedef enum { STEP_BROADCASTER = 0, STEP_USER, STEP_CALL } step_t;

typedef struct act {
  struct act *prev, *next;
  tw_twitch_actions_t *a;
  uint64_t seq;
  tw_event_kind_t kind;
  step_t step;
  uint64_t call; /* Helix call (or lookup) in progress */
  char channel[TW_MAX_HELIX_STR + 1];
  char broadcaster_id[TW_MAX_HELIX_ID + 1];
  char user_id[TW_MAX_HELIX_ID + 1];
  char *user;   /* BanUser: login */
  char *text;   /* reason, message id, title, chat text */
  char *parent; /* Message: reply parent id */
  /* Message: the text (normalised like chat's) goes out in parts of at most
   * TW_MAX_CHAT_MESSAGE_CHARS code points, as on IRC; pos is where the
   * next part starts. */
  size_t text_len, pos;
  unsigned parts_sent;
  int64_t duration;
  tw_twitch_action_cb cb;
  void *arg;
} act_t;

struct tw_twitch_actions {
  uv_loop_t *loop;
  tw_helix_client_t *hc;
  uv_timer_t timer; /* only closed: it defers the close callback */
  char **channels;
  size_t nchannels;
  bool via_helix;
  unsigned max_pending;
  act_t *head;
  unsigned npending;
  uint64_t seq;
  tw_twitch_actions_stats_t stats;
  bool closing;
  tw_twitch_actions_close_cb close_cb;
  void *close_arg;
};

static char *dupstr(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p)
    memcpy(p, s, n + 1);
  return p;
}

static bool is_login(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_')
      return false;
  return true;
}

static bool is_numeric_id(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > TW_MAX_HELIX_ID)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

static void act_free(act_t *x) {
  free(x->user);
  free(x->text);
  free(x->parent);
  free(x);
}

static void act_unlink(tw_twitch_actions_t *a, act_t *x) {
  if (x->prev)
    x->prev->next = x->next;
  else
    a->head = x->next;
  if (x->next)
    x->next->prev = x->prev;
  x->prev = x->next = NULL;
  a->npending--;
}

/* Reports the outcome, logs it, frees the action. */
static void act_done(act_t *x, int err, const tw_helix_result_t *res,
                     const char *detail) {
  tw_twitch_actions_t *a = x->a;
  act_unlink(a, x);
  tw_helix_error_t none;
  memset(&none, 0, sizeof(none));
  tw_twitch_action_result_t r;
  memset(&r, 0, sizeof(r));
  r.seq = x->seq;
  r.kind = x->kind;
  r.channel = x->channel;
  r.err = err;
  r.http_status = res ? res->http_status : 0;
  r.error = res && res->error ? res->error : &none;
  r.detail = detail ? detail : (res && res->detail ? res->detail : "");
  const char *name = tw_event_kind_name(x->kind);
  if (err == 0) {
    a->stats.succeeded++;
    tw_info(LOG_MOD, "%s in #%s: done%s%s", name, x->channel,
            r.detail[0] ? ": " : "", r.detail);
  } else {
    a->stats.failed++;
    tw_warn(LOG_MOD, "%s in #%s failed: %s (HTTP %d%s%s)%s%s", name, x->channel,
            tw_strerror(err), r.http_status, r.error->kind ? ", " : "",
            r.error->kind ? tw_helix_err_name(r.error->kind) : "",
            r.detail[0] ? ": " : "", r.detail);
  }
  if (x->cb)
    x->cb(&r, x->arg);
  act_free(x);
}

static void step(act_t *x);
static int make_call(act_t *x);

static void on_call(tw_helix_client_t *c, const tw_helix_result_t *res,
                    void *arg) {
  (void)c;
  act_t *x = arg;
  x->call = 0;
  char detail[TW_MAX_TWITCH_ACTION_DETAIL];
  detail[0] = '\0';
  if (res->err != 0) {
    act_done(x, res->err, res, NULL);
    return;
  }
  int err = 0;
  switch (x->kind) {
  case TW_EVENT_BAN_USER:
    snprintf(detail, sizeof(detail), "%s %s (id %s)",
             x->duration > 0 ? "timed out" : "banned",
             x->user ? x->user : x->user_id, x->user_id);
    break;
  case TW_EVENT_DELETE_MESSAGE:
    snprintf(detail, sizeof(detail), "deleted message %s", x->text);
    break;
  case TW_EVENT_UPDATE_TITLE:
    snprintf(detail, sizeof(detail), "title set");
    break;
  case TW_EVENT_CREATE_CLIP:
    snprintf(detail, sizeof(detail), "clip %s %s",
             res->clip && res->clip->id ? res->clip->id : "?",
             res->clip && res->clip->url ? res->clip->url : "");
    break;
  case TW_EVENT_MESSAGE: {
    const tw_helix_chat_sent_t *ch = res->chat;
    if (ch && ch->is_sent) {
      x->parts_sent++;
      size_t p = x->pos;
      tw__chat_part_t part;
      if (tw__chat_text_next_part(x->text, x->text_len, &p,
                                  TW_MAX_CHAT_MESSAGE_CHARS, true, &part)) {
        int rc = make_call(x); /* the next part */
        if (rc != 0)
          act_done(x, rc, NULL, "cannot send the next part");
        return;
      }
      if (x->parts_sent > 1)
        snprintf(detail, sizeof(detail), "sent in %u parts, the last as %s",
                 x->parts_sent, ch->message_id ? ch->message_id : "?");
      else
        snprintf(detail, sizeof(detail), "sent as %s",
                 ch->message_id ? ch->message_id : "?");
    } else {
      const char *code = ch && ch->drop_code ? ch->drop_code : "unknown";
      const char *msg = ch && ch->drop_message ? ch->drop_message : "";
      snprintf(detail, sizeof(detail), "not sent: %s%s%s", code,
               msg[0] ? ": " : "", msg);
      if (strstr(code, "duplicate"))
        err = TW_EEXIST;
      else if (strstr(code, "rate") || strstr(code, "slow"))
        err = TW_ERATELIMIT;
      else
        err = TW_EFORBIDDEN;
    }
    break;
  }
  default:
    break;
  }
  act_done(x, err, res, detail);
}

static void on_user(tw_helix_client_t *c, int err, const char *id,
                    const char *login, const tw_helix_result_t *res,
                    void *arg) {
  (void)c;
  (void)login;
  act_t *x = arg;
  x->call = 0;
  if (err != 0) {
    char detail[TW_MAX_TWITCH_ACTION_DETAIL];
    const char *who = x->step == STEP_BROADCASTER ? x->channel : x->user;
    snprintf(detail, sizeof(detail), "cannot resolve %s %.64s%s%.400s",
             x->step == STEP_BROADCASTER ? "channel" : "user", who,
             res && res->detail && res->detail[0] ? ": " : "",
             res && res->detail ? res->detail : "");
    act_done(x, err, res, detail);
    return;
  }
  if (x->step == STEP_BROADCASTER) {
    snprintf(x->broadcaster_id, sizeof(x->broadcaster_id), "%s", id);
    x->step = (x->kind == TW_EVENT_BAN_USER && !x->user_id[0]) ? STEP_USER
                                                               : STEP_CALL;
  } else {
    snprintf(x->user_id, sizeof(x->user_id), "%s", id);
    x->step = STEP_CALL;
  }
  step(x);
}

static int make_call(act_t *x) {
  tw_helix_client_t *hc = x->a->hc;
  switch (x->kind) {
  case TW_EVENT_BAN_USER:
    return tw_helix_ban(hc, x->broadcaster_id, NULL, x->user_id,
                        (uint32_t)x->duration, x->text, on_call, x, &x->call);
  case TW_EVENT_DELETE_MESSAGE:
    return tw_helix_delete_messages(hc, x->broadcaster_id, NULL, x->text,
                                    on_call, x, &x->call);
  case TW_EVENT_UPDATE_TITLE:
    return tw_helix_set_title(hc, x->broadcaster_id, x->text, on_call, x,
                              &x->call);
  case TW_EVENT_CREATE_CLIP:
    return tw_helix_create_clip(hc, x->broadcaster_id, NULL, 0, on_call, x,
                                &x->call);
  case TW_EVENT_MESSAGE: {
    tw__chat_part_t part;
    if (!tw__chat_text_next_part(x->text, x->text_len, &x->pos,
                                 TW_MAX_CHAT_MESSAGE_CHARS, true, &part))
      return TW_EINVAL; /* blank: refused before it got here */
    char *one = malloc(part.len + 1);
    if (!one)
      return TW_ENOMEM;
    memcpy(one, x->text + part.off, part.len);
    one[part.len] = '\0';
    int rc = tw_helix_send_chat(hc, x->broadcaster_id, NULL, one, x->parent,
                                on_call, x, &x->call);
    free(one);
    return rc;
  }
  default:
    return TW_EUNSUPPORTED;
  }
}

/* Runs the next step. A step that cannot start ends the action with its
 * error (we are in a Helix callback, on the loop, so reporting is fine). */
static void step(act_t *x) {
  int rc;
  switch (x->step) {
  case STEP_BROADCASTER:
    rc = tw_helix_lookup_user(x->a->hc, x->channel, NULL, on_user, x, &x->call);
    break;
  case STEP_USER:
    rc = tw_helix_lookup_user(x->a->hc, x->user, NULL, on_user, x, &x->call);
    break;
  default:
    rc = make_call(x);
    break;
  }
  if (rc != 0)
    act_done(x, rc, NULL, "cannot start the Helix call");
}

/* ---- public ------------------------------------------------------------- */

bool tw_twitch_actions_handles(const tw_twitch_actions_t *a,
                               const tw_event_t *ev) {
  if (!a || !ev)
    return false;
  switch (ev->kind) {
  case TW_EVENT_BAN_USER:
  case TW_EVENT_DELETE_MESSAGE:
  case TW_EVENT_UPDATE_TITLE:
  case TW_EVENT_CREATE_CLIP:
    return true;
  case TW_EVENT_MESSAGE:
    return a->via_helix;
  default:
    return false;
  }
}

/* The configured channel an action targets. */
static const char *pick_channel(const tw_twitch_actions_t *a,
                                const char *target) {
  if (target == NULL || target[0] == '\0')
    return a->channels[0];
  if (target[0] == '#')
    target++;
  for (size_t i = 0; i < a->nchannels; i++)
    if (strcasecmp(a->channels[i], target) == 0)
      return a->channels[i];
  return NULL;
}

int tw_twitch_actions_do(tw_twitch_actions_t *a, const tw_event_t *ev,
                         tw_twitch_action_cb cb, void *arg) {
  if (!a || !ev)
    return TW_EINVAL;
  if (a->closing)
    return TW_ESTATE;
  if (!tw_twitch_actions_handles(a, ev))
    return TW_EUNSUPPORTED;
  const char *channel = pick_channel(a, ev->target);
  if (!channel)
    return TW_ENOTFOUND;
  /* Field checks first, so that a malformed action is the caller's error
   * rather than a request Twitch would refuse. */
  const char *text = NULL, *user = NULL, *parent = NULL, *bid = NULL;
  int64_t duration = 0;
  switch (ev->kind) {
  case TW_EVENT_BAN_USER:
    duration = ev->u.ban_user.duration;
    if (duration < 0 || duration > TW_MAX_HELIX_BAN_SECONDS)
      return TW_EINVAL;
    if (ev->user_id && ev->user_id[0]) {
      if (!is_numeric_id(ev->user_id))
        return TW_EINVAL;
    } else if (!is_login(ev->user)) {
      return TW_EINVAL;
    }
    user = ev->user;
    text = ev->u.ban_user.reason;
    break;
  case TW_EVENT_DELETE_MESSAGE:
    text = ev->u.delete_message.id;
    if (!text || !text[0])
      return TW_EINVAL;
    break;
  case TW_EVENT_UPDATE_TITLE:
    text = ev->u.update_title.status;
    if (!text || !text[0])
      return TW_EINVAL;
    break;
  case TW_EVENT_CREATE_CLIP:
    if (is_numeric_id(ev->u.create_clip.id))
      bid = ev->u.create_clip.id;
    break;
  case TW_EVENT_MESSAGE:
    text = ev->u.message.text;
    parent = ev->u.message.reply_parent_msg_id;
    if (!text || !text[0])
      return TW_EINVAL;
    break;
  default:
    return TW_EUNSUPPORTED;
  }
  if (a->npending >= a->max_pending)
    return TW_EFULL;
  act_t *x = calloc(1, sizeof(*x));
  if (!x)
    return TW_ENOMEM;
  x->a = a;
  x->kind = ev->kind;
  x->duration = duration;
  x->cb = cb;
  x->arg = arg;
  snprintf(x->channel, sizeof(x->channel), "%s", channel);
  if (ev->kind == TW_EVENT_BAN_USER && ev->user_id && ev->user_id[0])
    snprintf(x->user_id, sizeof(x->user_id), "%s", ev->user_id);
  if (bid)
    snprintf(x->broadcaster_id, sizeof(x->broadcaster_id), "%s", bid);
  x->user = dupstr(user);
  if (ev->kind == TW_EVENT_MESSAGE && text) {
    /* As chat does: control characters become spaces (Twitch refuses line
     * breaks), invalid UTF-8 is replaced, and blank text is refused. */
    size_t n = strlen(text);
    x->text = malloc(3 * n + 1);
    if (x->text) {
      x->text_len = tw__chat_text_normalize(text, n, x->text, 3 * n);
      x->text[x->text_len] = '\0';
      if (tw__chat_text_is_blank(x->text, x->text_len)) {
        act_free(x);
        return TW_EINVAL;
      }
    }
  } else {
    x->text = dupstr(text);
  }
  x->parent = dupstr(parent);
  if ((user && !x->user) || (text && !x->text) || (parent && !x->parent)) {
    act_free(x);
    return TW_ENOMEM;
  }
  x->step = bid ? STEP_CALL : STEP_BROADCASTER;
  int rc;
  switch (x->step) {
  case STEP_BROADCASTER:
    rc = tw_helix_lookup_user(a->hc, x->channel, NULL, on_user, x, &x->call);
    break;
  default:
    rc = make_call(x);
    break;
  }
  if (rc != 0) {
    act_free(x);
    return rc;
  }
  x->seq = ++a->seq;
  x->next = a->head;
  if (a->head)
    a->head->prev = x;
  a->head = x;
  a->npending++;
  a->stats.accepted++;
  tw_debug(LOG_MOD, "%s in #%s accepted (action %llu)",
           tw_event_kind_name(x->kind), x->channel, (unsigned long long)x->seq);
  return 0;
}

void tw_twitch_actions_stats(const tw_twitch_actions_t *a,
                             tw_twitch_actions_stats_t *out) {
  if (!a || !out)
    return;
  *out = a->stats;
  out->pending = a->npending;
}

static void free_actions(tw_twitch_actions_t *a) {
  for (size_t i = 0; i < a->nchannels; i++)
    free(a->channels[i]);
  free(a->channels);
  free(a);
}

int tw_twitch_actions_new(uv_loop_t *loop, tw_helix_client_t *hc,
                          const tw_twitch_actions_opts_t *o,
                          tw_twitch_actions_t **out) {
  if (!loop || !hc || !o || !out || !o->channels || o->nchannels == 0 ||
      o->nchannels > TW_MAX_TWITCH_ACTION_CHANNELS ||
      o->max_pending > TW_MAX_TWITCH_ACTIONS)
    return TW_EINVAL;
  for (size_t i = 0; i < o->nchannels; i++) {
    const char *ch = o->channels[i];
    if (ch && ch[0] == '#')
      ch++;
    if (!is_login(ch))
      return TW_EINVAL;
  }
  tw_twitch_actions_t *a = calloc(1, sizeof(*a));
  if (!a)
    return TW_ENOMEM;
  a->channels = calloc(o->nchannels, sizeof(char *));
  if (!a->channels) {
    free(a);
    return TW_ENOMEM;
  }
  for (size_t i = 0; i < o->nchannels; i++) {
    const char *ch =
        o->channels[i][0] == '#' ? o->channels[i] + 1 : o->channels[i];
    a->channels[i] = dupstr(ch);
    if (!a->channels[i]) {
      free_actions(a);
      return TW_ENOMEM;
    }
    a->nchannels++;
    for (char *p = a->channels[i]; *p; p++)
      *p = (char)tolower((unsigned char)*p);
  }
  if (uv_timer_init(loop, &a->timer) != 0) {
    free_actions(a);
    return TW_EIO;
  }
  a->timer.data = a;
  a->loop = loop;
  a->hc = hc;
  a->via_helix = o->send_chat_via_helix;
  a->max_pending = o->max_pending ? o->max_pending : TW_TWITCH_ACTIONS_DEFAULT;
  *out = a;
  return 0;
}

static void on_closed(uv_handle_t *h) {
  tw_twitch_actions_t *a = h->data;
  tw_twitch_actions_close_cb cb = a->close_cb;
  void *arg = a->close_arg;
  free_actions(a);
  if (cb)
    cb(arg);
}

void tw_twitch_actions_close(tw_twitch_actions_t *a,
                             tw_twitch_actions_close_cb cb, void *arg) {
  if (!a || a->closing)
    return;
  a->closing = true;
  a->close_cb = cb;
  a->close_arg = arg;
  while (a->head) {
    act_t *x = a->head;
    if (x->call) {
      uint64_t id = x->call;
      x->call = 0;
      tw_helix_client_cancel(a->hc, id);
    }
    act_done(x, TW_ECANCELED, NULL, "closed");
  }
  uv_close((uv_handle_t *)&a->timer, on_closed);
}
