/* The credentials manager (twitchd/creds.h).
 *
 * Two "slots" share one implementation: the user token (renewed with the
 * refresh token, or first obtained by exchanging the configured code;
 * persisted) and the app token (renewed with client_credentials; memory
 * only). Each slot has one timer, armed from tw__creds_plan()'s answer
 * after every change, at most one request in flight, a backoff for
 * failures and a bounded list of refresh() callers waiting for its next
 * token.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitch/creds_plan.h"
#include "twitchd/backoff.h"
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/creds.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/oauth.h"
#include "twitchd/oauth_http.h"
#include "twitchd/token_store.h"

#define LOG_MOD "creds"

typedef struct {
  tw_token_ready_cb cb;
  void *arg;
  bool immediate;    /* answer with the current token at the next tick */
  unsigned failures; /* failed attempts seen while waiting */
} waiter_t;

typedef enum { REQ_NONE = 0, REQ_RENEW, REQ_VALIDATE } req_kind_t;

typedef struct slot {
  tw_creds_t *c;
  bool is_app;
  bool enabled;
  bool dead; /* needs a person; nothing more is sent */
  char name[8];
  /* The token. */
  char *access;
  char *refresh; /* user only */
  uint64_t expires_at_ms;
  uint64_t obtained_at_ms;
  tw_scopes_t scopes;
  char *login;
  char *user_id;
  /* Schedule. */
  uv_timer_t timer;
  uint64_t next_validate_ms;
  uint64_t retry_at_ms;
  uint64_t last_renew_ms;
  bool renew_requested;
  bool use_code; /* the next renewal exchanges the configured code */
  /* A token from the code exchange: subscribers hear of it once its
   * validation has told whose it is (chat needs the login for NICK). */
  bool announce_after_validate;
  bool dirty;
  bool dirty_logged; /* the current write outage was reported */
  uint64_t save_at_ms;
  tw_backoff_t renew_backoff;
  tw_backoff_t validate_backoff;
  /* The request in flight. */
  tw_oauth_http_t *req;
  req_kind_t req_kind;
  char *req_token; /* the token a validation was sent with */
  waiter_t *waiters;
  size_t nwaiters;
} slot_t;

typedef struct {
  tw_creds_watch_cb cb;
  void *arg;
} sub_t;

struct tw_creds {
  uv_loop_t *loop;
  tw_creds_opts_t o; /* strings below are owned copies */
  char *client_id, *client_secret, *code, *redirect_uri, *ca_file, *oauth_base,
      *connector, *auth_hint;
  tw_token_store_t *store;
  tw_uvcurl_t *curl;
  bool own_curl;
  tw_creds_state_t state;
  bool started, closing;
  slot_t user, app;
  uv_timer_t defer; /* answers immediate waiters outside refresh() */
  sub_t subs[TW_CREDS_MAX_SUBSCRIBERS];
  size_t nsubs;
  tw_creds_stats_t stats;
  char detail[TW_MAX_CREDS_DETAIL];
  int pending_closes;
  void (*close_cb)(void *ud);
  void *close_ud;
};

static void reschedule(slot_t *s);

/* ---- small helpers ------------------------------------------------------ */

static char *dupstr(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* Frees a string that may be a secret, overwriting it first. */
static void free_secret(char **p) {
  if (*p) {
    memset(*p, 0, strlen(*p));
    free(*p);
    *p = NULL;
  }
}

static void set_str(char **dst, const char *src) {
  if (src == *dst)
    return;
  char *n = dupstr(src);
  if (src && !n)
    return; /* out of memory: keep the old value rather than lose it */
  free(*dst);
  *dst = n;
}

static void set_detail(tw_creds_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_detail(tw_creds_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
  va_end(ap);
}

static const char *hint(const tw_creds_t *c) {
  return c->auth_hint ? c->auth_hint : "run `twitchd auth -c <your config>`";
}

const char *tw_creds_state_name(tw_creds_state_t s) {
  switch (s) {
  case TW_CREDS_IDLE:
    return "idle";
  case TW_CREDS_STARTING:
    return "starting";
  case TW_CREDS_READY:
    return "ready";
  case TW_CREDS_NO_TOKEN:
    return "no_token";
  case TW_CREDS_NEEDS_AUTH:
    return "needs_auth";
  case TW_CREDS_ERROR:
    return "error";
  case TW_CREDS_CLOSED:
    return "closed";
  }
  return "unknown";
}

static void notify(tw_creds_t *c, tw_creds_change_t what, const char *token,
                   const char *reason) {
  /* A subscriber may unsubscribe (itself or another) from its callback:
   * iterate over a copy. */
  sub_t copy[TW_CREDS_MAX_SUBSCRIBERS];
  size_t n = c->nsubs;
  memcpy(copy, c->subs, n * sizeof(copy[0]));
  for (size_t i = 0; i < n; i++) {
    bool still = false;
    for (size_t j = 0; j < c->nsubs; j++)
      if (c->subs[j].cb == copy[i].cb && c->subs[j].arg == copy[i].arg)
        still = true;
    if (still)
      copy[i].cb(copy[i].arg, c, what, token, reason);
  }
}

/* Answers every waiter of `s` (or only the immediate ones) with `status`
 * and the current token. */
static void answer_waiters(slot_t *s, int status, bool only_immediate) {
  /* Callbacks may call refresh() again, which appends: take the list. */
  size_t n = s->nwaiters;
  if (n == 0)
    return;
  waiter_t *w = malloc(n * sizeof(*w));
  if (!w)
    return; /* they stay queued and are answered next time */
  size_t keep = 0, take = 0;
  for (size_t i = 0; i < n; i++) {
    if (only_immediate && !s->waiters[i].immediate)
      s->waiters[keep++] = s->waiters[i];
    else
      w[take++] = s->waiters[i];
  }
  s->nwaiters = keep;
  for (size_t i = 0; i < take; i++) {
    const char *tok = status == 0 ? s->access : NULL;
    int st = status;
    if (st == 0 && !tok)
      st = TW_EAUTH;
    w[i].cb(w[i].arg, st, tok);
  }
  free(w);
}

static void emit_auth_required(tw_creds_t *c, const char *reason) {
  if (!c->o.on_event)
    return;
  tw_event_t *ev = tw_event_new(TW_EVENT_AUTH_REQUIRED);
  if (!ev)
    return;
  tw_event_set_str(ev, "connector", c->connector ? c->connector : "twitch");
  tw_event_set_str(ev, "reason", reason);
  c->o.on_event(ev, c->o.ud);
}

/* The credential is dead: say so once, answer everyone, send nothing more. */
static void go_dead(slot_t *s, const char *why) {
  tw_creds_t *c = s->c;
  if (s->dead)
    return;
  s->dead = true;
  s->renew_requested = false;
  s->retry_at_ms = 0;
  uv_timer_stop(&s->timer);
  char reason[TW_MAX_CREDS_DETAIL];
  if (s->is_app)
    snprintf(reason, sizeof(reason),
             "the app access token cannot be renewed: %s; check client-id "
             "and client-secret",
             why);
  else
    snprintf(reason, sizeof(reason),
             "the Twitch login cannot be renewed: %s; %s to log in again", why,
             hint(c));
  snprintf(c->detail, sizeof(c->detail), "%s", reason);
  tw_error(LOG_MOD, "%s", reason);
  if (!s->is_app) {
    c->state = TW_CREDS_NEEDS_AUTH;
    free_secret(&s->access);
  } else {
    free_secret(&s->access);
  }
  emit_auth_required(c, reason);
  notify(c, s->is_app ? TW_CREDS_APP_DEAD : TW_CREDS_USER_DEAD, NULL, reason);
  answer_waiters(s, TW_EAUTH, false);
}

/* ---- requests ------------------------------------------------------------
 */

static void on_renewed(void *arg, int err, long status, const char *body,
                       size_t len, const char *detail);
static void on_validated(void *arg, int err, long status, const char *body,
                         size_t len, const char *detail);

static int start_req(slot_t *s, req_kind_t kind, const char *body,
                     size_t body_len, const char *bearer, tw_oauth_http_cb cb) {
  tw_creds_t *c = s->c;
  tw_oauth_http_req_t r = {
      .base = c->oauth_base,
      .path =
          kind == REQ_VALIDATE ? TW_OAUTH_PATH_VALIDATE : TW_OAUTH_PATH_TOKEN,
      .body = body,
      .body_len = body_len,
      .bearer = bearer,
      .ca_file = c->ca_file,
      .timeout_ms = c->o.http_timeout_ms,
  };
  int rc = tw_oauth_http_start(c->curl, &r, cb, s, &s->req);
  if (rc == 0)
    s->req_kind = kind;
  return rc;
}

/* A failure worth trying again: schedule the retry with the backoff. */
static void retry_renew(slot_t *s, const char *what) {
  tw_creds_t *c = s->c;
  uint64_t now = tw_now_ms();
  uint64_t d = tw_backoff_next(&s->renew_backoff, now);
  if (d == 0)
    d = 1;
  s->retry_at_ms = now + d;
  c->stats.retries++;
  set_detail(c, "%s token renewal failed (%s); retrying in %llu ms", s->name,
             what, (unsigned long long)d);
  tw_warn(LOG_MOD, "%s", c->detail);
  /* A caller waits through a few retries (a blip should not fail its API
   * call), then hears of the failure; the manager itself keeps trying, and
   * a caller that asks again joins the scheduled retry instead of causing
   * a request. */
  size_t keep = 0, give = 0;
  waiter_t gone[TW_CREDS_MAX_WAITERS];
  for (size_t i = 0; i < s->nwaiters; i++) {
    waiter_t w = s->waiters[i];
    if (!w.immediate && ++w.failures >= TW_CREDS_WAITER_FAILURES)
      gone[give++] = w;
    else
      s->waiters[keep++] = w;
  }
  s->nwaiters = keep;
  for (size_t i = 0; i < give; i++)
    gone[i].cb(gone[i].arg, TW_EAGAIN, NULL);
}

static void send_renew(slot_t *s) {
  tw_creds_t *c = s->c;
  tw_buf_t body;
  tw_buf_init(&body, TW_MAX_OAUTH_BODY);
  int rc;
  if (s->is_app)
    rc =
        tw_oauth_body_client_credentials(&body, c->client_id, c->client_secret);
  else if (s->use_code)
    rc = tw_oauth_body_authorization_code(&body, c->client_id, c->client_secret,
                                          c->code, c->redirect_uri);
  else
    rc = tw_oauth_body_refresh(&body, c->client_id, c->client_secret,
                               s->refresh);
  if (rc == 0)
    rc = start_req(s, REQ_RENEW, body.data, body.len, NULL, on_renewed);
  if (body.data)
    memset(body.data, 0, body.len);
  tw_buf_free(&body);
  if (rc == TW_EINVAL) {
    /* A value the request cannot carry (a malformed code or client id):
     * no retry can fix it. */
    go_dead(s, "the configured client id, secret or code is malformed");
    return;
  }
  if (rc != 0) {
    retry_renew(s, tw_strerror(rc));
    return;
  }
  s->last_renew_ms = tw_now_ms();
  s->renew_requested = false;
  if (s->is_app)
    c->stats.app_renewals++;
  else
    c->stats.user_renewals++;
  tw_debug(LOG_MOD, "%s token: %s", s->name,
           s->is_app     ? "requesting an app access token"
           : s->use_code ? "exchanging the configured code"
                         : "refreshing");
}

static void send_validate(slot_t *s) {
  tw_creds_t *c = s->c;
  free_secret(&s->req_token);
  s->req_token = dupstr(s->access);
  int rc = s->req_token
               ? start_req(s, REQ_VALIDATE, NULL, 0, s->access, on_validated)
               : TW_ENOMEM;
  if (rc != 0) {
    uint64_t now = tw_now_ms();
    s->next_validate_ms = now + tw_backoff_next(&s->validate_backoff, now) + 1;
    tw_warn(LOG_MOD, "%s token: cannot validate (%s); will try again", s->name,
            tw_strerror(rc));
    return;
  }
  if (s->is_app)
    c->stats.app_validations++;
  else
    c->stats.user_validations++;
}

/* Writes the user token to the file. Returns 0 or the store's error. */
static int save_user(slot_t *s) {
  tw_creds_t *c = s->c;
  tw_token_set_t t = {
      .access_token = s->access,
      .refresh_token = s->refresh,
      .expires_at_ms = s->expires_at_ms,
      .scopes = s->scopes,
      .user_id = s->user_id,
      .login = s->login,
      .client_id = c->client_id,
  };
  int rc = tw_token_store_save(c->store, &t);
  if (rc != 0) {
    c->stats.save_failures++;
    s->dirty = true;
    s->save_at_ms = tw_now_ms() + (c->o.save_retry_ms ? c->o.save_retry_ms
                                                      : TW_CREDS_SAVE_RETRY_MS);
    set_detail(c, "cannot write the token file: %s",
               tw_token_store_error(c->store));
    /* One error per outage, not one per retry. */
    tw_log(s->dirty_logged ? TW_LOG_DEBUG : TW_LOG_ERROR, LOG_MOD,
           "%s; the new tokens are only in memory until it works", c->detail);
    s->dirty_logged = true;
    return rc;
  }
  if (s->dirty_logged)
    tw_info(LOG_MOD, "token file %s written again",
            tw_token_store_path(c->store));
  s->dirty = false;
  s->dirty_logged = false;
  return 0;
}

static void on_renewed(void *arg, int err, long status, const char *body,
                       size_t len, const char *detail) {
  slot_t *s = arg;
  tw_creds_t *c = s->c;
  s->req = NULL;
  s->req_kind = REQ_NONE;
  if (c->closing || err == TW_ECANCELED)
    return;
  if (err != 0) {
    char what[TW_MAX_OAUTH_HTTP_DETAIL + 64];
    snprintf(what, sizeof(what), "%s: %s", tw_strerror(err), detail);
    retry_renew(s, what);
    reschedule(s);
    return;
  }
  tw_oauth_token_t tok;
  tw_oauth_error_t oe;
  memset(&tok, 0, sizeof(tok));
  int rc =
      tw_oauth_decode_token((int)status, body, len, tw_wall_ms(), &tok, &oe);
  if (rc == 0) {
    /* Registered before anything else can print them. */
    tw_log_add_secret(tok.access_token);
    if (tok.refresh_token)
      tw_log_add_secret(tok.refresh_token);
  }
  if (rc != 0) {
    char what[TW_MAX_OAUTH_MESSAGE + 64];
    snprintf(what, sizeof(what), "HTTP %ld %s%s%s", status,
             tw_oauth_result_name(oe.result), oe.message[0] ? ": " : "",
             oe.message);
    bool fatal = tw_oauth_result_fatal(oe.result) ||
                 oe.result == TW_OAUTH_UNAUTHORIZED ||
                 (oe.result == TW_OAUTH_OTHER && status >= 400 &&
                  status < 500 && status != 408);
    if (fatal)
      go_dead(s, what);
    else {
      retry_renew(s, what);
      reschedule(s);
    }
    return;
  }
  tw_backoff_reset(&s->renew_backoff);
  s->retry_at_ms = 0;
  char *old_access = s->access;
  s->access = tok.access_token;
  tok.access_token = NULL;
  if (!s->is_app && tok.refresh_token) {
    free_secret(&s->refresh);
    s->refresh = tok.refresh_token;
    tok.refresh_token = NULL;
  }
  s->expires_at_ms = tok.expires_in > 0 ? tok.expires_at_ms : 0;
  s->obtained_at_ms = tw_wall_ms();
  if (tok.scopes.n > 0) {
    tw_scopes_free(&s->scopes);
    s->scopes = tok.scopes;
    memset(&tok.scopes, 0, sizeof(tok.scopes));
  }
  bool was_code = s->use_code;
  s->use_code = false;
  tw_oauth_token_clear(&tok);
  if (!s->is_app) {
    /* The refresh token may have been rotated and the old one spent:
     * the file must hold the new one before anybody can use the new
     * access token (and so before a crash can lose it). */
    save_user(s);
    if (c->state == TW_CREDS_STARTING || c->state == TW_CREDS_READY)
      c->state = TW_CREDS_READY;
    if (was_code) {
      tw_info(LOG_MOD, "exchanged the configured code for tokens, saved to %s",
              tw_token_store_path(c->store));
      s->next_validate_ms = tw_now_ms(); /* learn who we are */
      s->announce_after_validate = true;
    } else {
      tw_info(LOG_MOD, "user access token refreshed");
    }
  } else {
    /* The old app token is no longer ours to protect in the log table;
     * keeping it would fill the table over weeks of renewals. */
    if (old_access)
      tw_log_remove_secret(old_access);
    tw_info(LOG_MOD, "app access token obtained");
    if (s->next_validate_ms == 0)
      s->next_validate_ms = tw_now_ms() + (c->o.validate_interval_ms
                                               ? c->o.validate_interval_ms
                                               : TW_CREDS_VALIDATE_INTERVAL_MS);
  }
  free_secret(&old_access);
  c->detail[0] = '\0';
  if (!s->announce_after_validate)
    notify(c, s->is_app ? TW_CREDS_APP_TOKEN : TW_CREDS_USER_TOKEN, s->access,
           NULL);
  answer_waiters(s, 0, false);
  reschedule(s);
}

static void on_validated(void *arg, int err, long status, const char *body,
                         size_t len, const char *detail) {
  slot_t *s = arg;
  tw_creds_t *c = s->c;
  s->req = NULL;
  s->req_kind = REQ_NONE;
  if (c->closing || err == TW_ECANCELED)
    return;
  uint64_t now = tw_now_ms();
  uint32_t interval = c->o.validate_interval_ms ? c->o.validate_interval_ms
                                                : TW_CREDS_VALIDATE_INTERVAL_MS;
  /* The answer is about the token it was sent with; if a renewal replaced
   * that one meanwhile, the new token still needs its own validation. */
  bool same = s->req_token && s->access && strcmp(s->req_token, s->access) == 0;
  free_secret(&s->req_token);
  if (err != 0) {
    uint64_t d = tw_backoff_next(&s->validate_backoff, now) + 1;
    s->next_validate_ms = now + d;
    tw_warn(LOG_MOD, "%s token validation failed (%s: %s); again in %llu ms",
            s->name, tw_strerror(err), detail, (unsigned long long)d);
    reschedule(s);
    return;
  }
  tw_oauth_validation_t v;
  tw_oauth_error_t oe;
  memset(&v, 0, sizeof(v));
  int rc = tw_oauth_decode_validate((int)status, body, len, &v, &oe);
  if (rc != 0) {
    if (oe.result == TW_OAUTH_UNAUTHORIZED) {
      if (same) {
        tw_info(LOG_MOD, "%s token no longer valid (%s); renewing", s->name,
                oe.message);
        s->renew_requested = true;
        s->last_renew_ms = 0; /* not a client's repeated 401: no gap */
      }
      s->next_validate_ms = now; /* validate the renewed one */
    } else {
      uint64_t d = tw_backoff_next(&s->validate_backoff, now) + 1;
      s->next_validate_ms = now + d;
      tw_warn(LOG_MOD, "%s token validation: HTTP %ld %s; again in %llu ms",
              s->name, status, tw_oauth_result_name(oe.result),
              (unsigned long long)d);
    }
    reschedule(s);
    return;
  }
  tw_backoff_reset(&s->validate_backoff);
  s->next_validate_ms = now + interval;
  if (same) {
    if (v.client_id && strcmp(v.client_id, c->client_id) != 0)
      tw_warn(LOG_MOD,
              "the %s token belongs to client id %s, not the configured one",
              s->name, v.client_id);
    bool changed = false;
    if (v.expires_in > 0) {
      uint64_t at = tw_wall_ms() + (uint64_t)v.expires_in * 1000u;
      /* Only learn an expiry we did not know, or a sooner one: the
       * validate answer is rounded to seconds. */
      if (s->expires_at_ms == 0 || at + 2000 < s->expires_at_ms) {
        s->expires_at_ms = at;
        changed = true;
      }
    }
    if (!s->is_app) {
      if (v.login && (!s->login || strcmp(v.login, s->login) != 0)) {
        set_str(&s->login, v.login);
        changed = true;
      }
      if (v.user_id && (!s->user_id || strcmp(v.user_id, s->user_id) != 0)) {
        set_str(&s->user_id, v.user_id);
        changed = true;
      }
      if (v.scopes.n > 0 && s->scopes.n != v.scopes.n) {
        tw_scopes_free(&s->scopes);
        tw_scopes_copy(&s->scopes, &v.scopes);
        changed = true;
      }
      if (changed)
        save_user(s);
      if (c->state == TW_CREDS_STARTING)
        c->state = TW_CREDS_READY;
      tw_info(LOG_MOD, "user token valid: logged in as %s (id %s)",
              s->login ? s->login : "?", s->user_id ? s->user_id : "?");
      if (s->announce_after_validate) {
        s->announce_after_validate = false;
        notify(c, TW_CREDS_USER_TOKEN, s->access, NULL);
      }
    } else {
      tw_debug(LOG_MOD, "app token valid");
    }
  }
  tw_oauth_validation_clear(&v);
  reschedule(s);
}

/* ---- scheduling ----------------------------------------------------------
 */

static bool can_renew(const slot_t *s) {
  const tw_creds_t *c = s->c;
  if (s->dead)
    return false;
  if (s->is_app)
    return c->client_secret != NULL;
  return s->use_code || s->refresh != NULL;
}

static void on_timer(uv_timer_t *t) {
  reschedule(t->data);
}

static void reschedule(slot_t *s) {
  tw_creds_t *c = s->c;
  if (c->closing || !s->enabled || s->dead)
    return;
  if (!s->is_app && (c->state == TW_CREDS_NO_TOKEN ||
                     c->state == TW_CREDS_ERROR || c->state == TW_CREDS_IDLE))
    return;
  /* Each pass acts on what is due; the next pass sees the result (a
   * request in flight, a retry scheduled, a dead credential). */
  while (!c->closing && !s->dead) {
    tw__creds_plan_in_t in = {
        .now_wall_ms = tw_wall_ms(),
        .now_mono_ms = tw_now_ms(),
        .have_token = s->access != NULL,
        .can_renew = can_renew(s),
        .busy = s->req != NULL,
        .expires_at_ms = s->expires_at_ms,
        .obtained_at_ms = s->obtained_at_ms,
        .margin_ms = c->o.refresh_margin_ms ? c->o.refresh_margin_ms
                                            : TW_CREDS_REFRESH_MARGIN_MS,
        .next_validate_ms = s->next_validate_ms,
        .retry_at_ms = s->retry_at_ms,
        .renew_requested = s->renew_requested,
        .last_renew_ms = s->last_renew_ms,
        .min_gap_ms = c->o.min_renew_gap_ms ? c->o.min_renew_gap_ms
                                            : TW_CREDS_MIN_RENEW_GAP_MS,
        .dirty = s->dirty,
        .save_at_ms = s->save_at_ms,
    };
    tw__creds_plan_t p = tw__creds_plan(&in);
    switch (p.action) {
    case TW__CREDS_WAIT:
      uv_timer_stop(&s->timer);
      if (p.wait_ms != TW__CREDS_FOREVER)
        uv_timer_start(&s->timer, on_timer, p.wait_ms, 0);
      return;
    case TW__CREDS_SAVE:
      save_user(s);
      break;
    case TW__CREDS_GIVE_UP:
      go_dead(s, s->access ? "the access token expired or was refused, and "
                             "there is no refresh token"
                           : "there is no refresh token");
      break;
    case TW__CREDS_RENEW:
      s->retry_at_ms = 0;
      send_renew(s);
      break;
    case TW__CREDS_VALIDATE:
      send_validate(s);
      break;
    }
  }
}

static void on_defer(uv_timer_t *t) {
  tw_creds_t *c = t->data;
  answer_waiters(&c->user, 0, true);
  answer_waiters(&c->app, 0, true);
}

/* ---- token sources ---------------------------------------------------------
 */

static int add_waiter(slot_t *s, tw_token_ready_cb cb, void *arg,
                      bool immediate) {
  if (s->nwaiters >= TW_CREDS_MAX_WAITERS)
    return TW_EFULL;
  if (!s->waiters) {
    s->waiters = calloc(TW_CREDS_MAX_WAITERS, sizeof(*s->waiters));
    if (!s->waiters)
      return TW_ENOMEM;
  }
  s->waiters[s->nwaiters++] = (waiter_t){cb, arg, immediate, 0};
  return 0;
}

static int slot_refresh(slot_t *s, const char *rejected, tw_token_ready_cb cb,
                        void *arg) {
  tw_creds_t *c = s->c;
  if (!cb)
    return TW_EINVAL;
  if (c->closing)
    return TW_ECANCELED;
  if (!s->enabled)
    return TW_EUNSUPPORTED;
  if (s->dead)
    return TW_EAUTH;
  if (!s->is_app &&
      (c->state == TW_CREDS_NO_TOKEN || c->state == TW_CREDS_ERROR))
    return TW_EAUTH;
  /* A 401 for a token already replaced: the current one is the answer. */
  bool stale = rejected && s->access && strcmp(rejected, s->access) != 0;
  bool busy_renewing = s->req_kind == REQ_RENEW || s->retry_at_ms != 0;
  if (stale && !busy_renewing) {
    int rc = add_waiter(s, cb, arg, true);
    if (rc == 0)
      uv_timer_start(&c->defer, on_defer, 0, 0);
    return rc;
  }
  if (!rejected && s->access && !busy_renewing) {
    /* No token rejected: the caller only wants one, and there is one. */
    int rc = add_waiter(s, cb, arg, true);
    if (rc == 0)
      uv_timer_start(&c->defer, on_defer, 0, 0);
    return rc;
  }
  int rc = add_waiter(s, cb, arg, false);
  if (rc != 0)
    return rc;
  if (rejected && !busy_renewing)
    s->renew_requested = true;
  /* Decide on the next loop turn, not here: whatever happens (a request
   * that cannot start, a dead credential), the answer must not reach the
   * caller from inside this call; and callers in the same turn share the
   * request. */
  if (!s->req)
    uv_timer_start(&s->timer, on_timer, 0, 0);
  return 0;
}

static void slot_cancel(slot_t *s, tw_token_ready_cb cb, void *arg) {
  size_t keep = 0;
  for (size_t i = 0; i < s->nwaiters; i++)
    if (!(s->waiters[i].cb == cb && s->waiters[i].arg == arg))
      s->waiters[keep++] = s->waiters[i];
  s->nwaiters = keep;
}

static const char *user_current(void *ud) {
  tw_creds_t *c = ud;
  return c->user.dead ? NULL : c->user.access;
}
static const char *user_uid(void *ud) {
  tw_creds_t *c = ud;
  return c->user.user_id;
}
static int user_refresh(void *ud, const char *rejected, tw_token_ready_cb cb,
                        void *arg) {
  tw_creds_t *c = ud;
  return slot_refresh(&c->user, rejected, cb, arg);
}
static void user_cancel(void *ud, tw_token_ready_cb cb, void *arg) {
  tw_creds_t *c = ud;
  slot_cancel(&c->user, cb, arg);
}
static const char *app_current(void *ud) {
  tw_creds_t *c = ud;
  return c->app.dead ? NULL : c->app.access;
}
static const char *app_uid(void *ud) {
  (void)ud;
  return "";
}
static int app_refresh(void *ud, const char *rejected, tw_token_ready_cb cb,
                       void *arg) {
  tw_creds_t *c = ud;
  return slot_refresh(&c->app, rejected, cb, arg);
}
static void app_cancel(void *ud, tw_token_ready_cb cb, void *arg) {
  tw_creds_t *c = ud;
  slot_cancel(&c->app, cb, arg);
}

tw_token_source_t tw_creds_user_source(tw_creds_t *c) {
  tw_token_source_t s = {user_current, user_uid, user_refresh, user_cancel, c};
  return s;
}

tw_token_source_t tw_creds_app_source(tw_creds_t *c) {
  tw_token_source_t s = {app_current, app_uid, app_refresh, app_cancel, c};
  return s;
}

/* ---- lifetime --------------------------------------------------------------
 */

void tw_creds_opts_default(tw_creds_opts_t *o) {
  memset(o, 0, sizeof(*o));
  o->user_token = true;
}

static void init_slot(tw_creds_t *c, slot_t *s, bool is_app) {
  s->c = c;
  s->is_app = is_app;
  snprintf(s->name, sizeof(s->name), "%s", is_app ? "app" : "user");
  uv_timer_init(c->loop, &s->timer);
  s->timer.data = s;
  uint64_t base =
      c->o.retry_base_ms ? c->o.retry_base_ms : TW_CREDS_RETRY_BASE_MS;
  uint64_t cap = c->o.retry_cap_ms ? c->o.retry_cap_ms : TW_CREDS_RETRY_CAP_MS;
  if (cap < base)
    cap = base;
  /* healthy_ms 0: one success is enough to forget the failures. */
  tw_backoff_init(&s->renew_backoff, base, cap, 0, c->o.rand, c->o.rand_ctx);
  tw_backoff_init(&s->validate_backoff, base, cap, 0, c->o.rand, c->o.rand_ctx);
}

static void free_slot(slot_t *s) {
  free_secret(&s->access);
  free_secret(&s->refresh);
  free_secret(&s->req_token);
  free(s->login);
  free(s->user_id);
  tw_scopes_free(&s->scopes);
  free(s->waiters);
}

static void free_creds(tw_creds_t *c) {
  free_slot(&c->user);
  free_slot(&c->app);
  free(c->client_id);
  free_secret(&c->client_secret);
  free_secret(&c->code);
  free(c->redirect_uri);
  free(c->ca_file);
  free(c->oauth_base);
  free(c->connector);
  free(c->auth_hint);
  tw_token_store_free(c->store);
  free(c);
}

int tw_creds_new(uv_loop_t *loop, const tw_creds_opts_t *opts,
                 tw_creds_t **out) {
  if (!out)
    return TW_EINVAL;
  *out = NULL;
  if (!loop || !opts || !opts->client_id || !opts->client_id[0])
    return TW_EINVAL;
  if (!opts->user_token && !opts->app_token)
    return TW_EINVAL;
  if (opts->app_token && (!opts->client_secret || !opts->client_secret[0]))
    return TW_EINVAL;
  if (opts->oauth_base && tw_oauth_http_check_base(opts->oauth_base) != 0)
    return TW_EINVAL;
  tw_creds_t *c = calloc(1, sizeof(*c));
  if (!c)
    return TW_ENOMEM;
  c->loop = loop;
  c->o = *opts;
  c->client_id = dupstr(opts->client_id);
  c->client_secret = opts->client_secret && opts->client_secret[0]
                         ? dupstr(opts->client_secret)
                         : NULL;
  c->code = opts->code && opts->code[0] ? dupstr(opts->code) : NULL;
  c->redirect_uri =
      dupstr(opts->redirect_uri ? opts->redirect_uri : "http://localhost");
  c->ca_file = dupstr(opts->ca_file);
  c->oauth_base = dupstr(opts->oauth_base);
  c->connector = dupstr(opts->connector);
  c->auth_hint = dupstr(opts->auth_hint);
  if (!c->client_id ||
      (opts->client_secret && opts->client_secret[0] && !c->client_secret) ||
      (opts->code && opts->code[0] && !c->code) || !c->redirect_uri ||
      (opts->ca_file && !c->ca_file) || (opts->oauth_base && !c->oauth_base) ||
      (opts->connector && !c->connector) ||
      (opts->auth_hint && !c->auth_hint)) {
    free_creds(c);
    return TW_ENOMEM;
  }
  int rc = 0;
  if (opts->user_token)
    rc = tw_token_store_new(opts->token_file, &c->store);
  if (rc != 0) {
    free_creds(c);
    return rc;
  }
  if (c->client_secret)
    tw_log_add_secret(c->client_secret);
  if (c->code)
    tw_log_add_secret(c->code);
  if (opts->curl) {
    c->curl = opts->curl;
  } else {
    c->curl = tw_uvcurl_new(loop);
    if (!c->curl) {
      free_creds(c);
      return TW_ENOMEM;
    }
    c->own_curl = true;
  }
  init_slot(c, &c->user, false);
  init_slot(c, &c->app, true);
  c->user.enabled = opts->user_token;
  c->app.enabled = opts->app_token;
  uv_timer_init(loop, &c->defer);
  c->defer.data = c;
  c->state = TW_CREDS_IDLE;
  *out = c;
  return 0;
}

static void load_user(tw_creds_t *c, tw_token_set_t *t) {
  slot_t *s = &c->user;
  s->access = t->access_token;
  s->refresh = t->refresh_token;
  s->login = t->login;
  s->user_id = t->user_id;
  s->scopes = t->scopes;
  s->expires_at_ms = t->expires_at_ms;
  /* Unknown: the expiry alone decides how early to renew. */
  s->obtained_at_ms = 0;
  if (t->client_id && strcmp(t->client_id, c->client_id) != 0)
    tw_warn(LOG_MOD,
            "the token file %s was made for another client id; renewing it "
            "with this one will fail",
            tw_token_store_path(c->store));
  free(t->client_id);
  memset(t, 0, sizeof(*t));
}

int tw_creds_start(tw_creds_t *c) {
  if (!c || c->started || c->closing)
    return TW_ESTATE;
  c->started = true;
  int result = 0;
  if (c->user.enabled) {
    tw_token_set_t t;
    memset(&t, 0, sizeof(t));
    int rc = tw_token_store_load(c->store, &t);
    if (rc == 0) {
      load_user(c, &t);
      c->state = TW_CREDS_STARTING;
      c->user.next_validate_ms = tw_now_ms(); /* Twitch: at start */
      tw_info(LOG_MOD, "loaded the token of %s from %s",
              c->user.login ? c->user.login : "(unknown login)",
              tw_token_store_path(c->store));
    } else if (rc == TW_ENOTFOUND && c->code) {
      c->state = TW_CREDS_STARTING;
      c->user.use_code = true;
      tw_info(LOG_MOD, "no token file %s yet: exchanging the configured code",
              tw_token_store_path(c->store));
    } else if (rc == TW_ENOTFOUND) {
      c->state = TW_CREDS_NO_TOKEN;
      set_detail(c,
                 "no Twitch login yet (no token file %s and no code "
                 "configured); chat can only read anonymously: %s to log in",
                 tw_token_store_path(c->store), hint(c));
      tw_warn(LOG_MOD, "%s", c->detail);
    } else {
      c->state = TW_CREDS_ERROR;
      set_detail(c, "%s; fix or remove the file, then %s",
                 tw_token_store_error(c->store), hint(c));
      tw_error(LOG_MOD, "%s", c->detail);
      result = rc;
    }
    reschedule(&c->user);
  }
  if (c->app.enabled)
    reschedule(&c->app);
  return result;
}

static void closed_one(tw_creds_t *c) {
  if (--c->pending_closes > 0)
    return;
  if (c->close_cb)
    c->close_cb(c->close_ud);
  free_creds(c);
}

static void on_closed(uv_handle_t *h) {
  closed_one(h->data);
}

static void on_curl_closed(void *ud) {
  closed_one(ud);
}

void tw_creds_close(tw_creds_t *c, void (*cb)(void *ud), void *ud) {
  if (!c || c->closing)
    return;
  c->closing = true;
  c->state = TW_CREDS_CLOSED;
  c->close_cb = cb;
  c->close_ud = ud;
  slot_t *slots[2] = {&c->user, &c->app};
  for (int i = 0; i < 2; i++) {
    if (slots[i]->req)
      tw_oauth_http_cancel(slots[i]->req);
    slots[i]->req = NULL;
  }
  for (int i = 0; i < 2; i++)
    answer_waiters(slots[i], TW_ECANCELED, false);
  /* The handles' close callbacks all count down on the creds. */
  c->pending_closes = 3 + (c->own_curl ? 1 : 0);
  c->user.timer.data = c;
  c->app.timer.data = c;
  uv_close((uv_handle_t *)&c->user.timer, on_closed);
  uv_close((uv_handle_t *)&c->app.timer, on_closed);
  uv_close((uv_handle_t *)&c->defer, on_closed);
  if (c->own_curl)
    tw_uvcurl_close(c->curl, on_curl_closed, c);
}

/* ---- accessors -------------------------------------------------------------
 */

tw_creds_state_t tw_creds_state(const tw_creds_t *c) {
  return c ? c->state : TW_CREDS_CLOSED;
}
const char *tw_creds_error(const tw_creds_t *c) {
  return c ? c->detail : "";
}
const char *tw_creds_login(const tw_creds_t *c) {
  return c ? c->user.login : NULL;
}
const char *tw_creds_user_id(const tw_creds_t *c) {
  return c ? c->user.user_id : NULL;
}
const char *tw_creds_user_token(const tw_creds_t *c) {
  return c && !c->user.dead ? c->user.access : NULL;
}
const char *tw_creds_app_token(const tw_creds_t *c) {
  return c && !c->app.dead ? c->app.access : NULL;
}

int tw_creds_subscribe(tw_creds_t *c, tw_creds_watch_cb cb, void *arg) {
  if (!c || !cb)
    return TW_EINVAL;
  for (size_t i = 0; i < c->nsubs; i++)
    if (c->subs[i].cb == cb && c->subs[i].arg == arg)
      return 0;
  if (c->nsubs >= TW_CREDS_MAX_SUBSCRIBERS)
    return TW_EFULL;
  c->subs[c->nsubs++] = (sub_t){cb, arg};
  return 0;
}

void tw_creds_unsubscribe(tw_creds_t *c, tw_creds_watch_cb cb, void *arg) {
  if (!c)
    return;
  size_t keep = 0;
  for (size_t i = 0; i < c->nsubs; i++)
    if (!(c->subs[i].cb == cb && c->subs[i].arg == arg))
      c->subs[keep++] = c->subs[i];
  c->nsubs = keep;
}

void tw_creds_stats(const tw_creds_t *c, tw_creds_stats_t *out) {
  if (!out)
    return;
  if (!c)
    memset(out, 0, sizeof(*out));
  else
    *out = c->stats;
}
