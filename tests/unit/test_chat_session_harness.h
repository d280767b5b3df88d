/* A driver for the sans-IO chat session in unit tests: it records what the
 * session asks for (opens, closes, writes, events, notices, statuses) and
 * drives time by hand. Included by the test_chat_session*.c programs only
 * (each test program is one translation unit, so everything is static). */
#ifndef TW_TEST_CHAT_SESSION_HARNESS_H
#define TW_TEST_CHAT_SESSION_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitch/chat_session.h"
#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/log.h"

/* Helpers are used by some programs only. */
#define H_FN static __attribute__((unused))

#define H_MAX_CONNS 64
#define H_MAX_EVENTS 512
#define H_MAX_STATUS 256
#define H_MAX_NOTICES 64
#define H_OUT_CAP (256 * 1024)

typedef struct {
  tw_chat_status_kind_t kind;
  int err;
  char channel[32];
  char detail[TW_MAX_CHAT_DETAIL];
  uint64_t retry_in;
  uint64_t at;
} h_status_t;

typedef struct {
  tw_chat_notice_kind_t kind;
  char msg_id[64];
  char channel[32];
  char text[256];
  int send_failed;
} h_notice_t;

typedef struct h h_t;
typedef void (*h_event_hook)(h_t *h, tw_event_t *ev);

struct h {
  tw_chat_session_t *s;
  uint64_t now;
  uint64_t rand_value; /* what the random source returns */

  uint64_t opened[H_MAX_CONNS];
  size_t nopened;
  uint64_t closed[H_MAX_CONNS];
  size_t nclosed;

  /* Bytes written per connection id (index = id, ids are small). */
  char *out[H_MAX_CONNS];
  size_t outlen[H_MAX_CONNS];
  size_t outread[H_MAX_CONNS]; /* consumed by h_next_line() */
  size_t writes[H_MAX_CONNS];  /* number of write calls */

  tw_event_t *ev[H_MAX_EVENTS];
  size_t nev;
  h_status_t st[H_MAX_STATUS];
  size_t nst;
  h_notice_t no[H_MAX_NOTICES];
  size_t nno;
  int refresh_calls;
  const char *refresh_answer; /* answer at once with this token */
  int refresh_fail_err;       /* or with this failure (when non-zero) */
  h_event_hook on_event;
  void *user;
};

H_FN void h_open(void *ud, uint64_t conn) {
  h_t *h = ud;
  assert_true(h->nopened < H_MAX_CONNS);
  assert_true(conn < H_MAX_CONNS);
  h->opened[h->nopened++] = conn;
}

H_FN void h_close(void *ud, uint64_t conn) {
  h_t *h = ud;
  assert_true(h->nclosed < H_MAX_CONNS);
  h->closed[h->nclosed++] = conn;
}

H_FN void h_write(void *ud, uint64_t conn, const char *data, size_t len) {
  h_t *h = ud;
  assert_true(conn < H_MAX_CONNS);
  if (!h->out[conn]) {
    h->out[conn] = malloc(H_OUT_CAP);
    assert_non_null(h->out[conn]);
  }
  assert_true(h->outlen[conn] + len < H_OUT_CAP);
  memcpy(h->out[conn] + h->outlen[conn], data, len);
  h->outlen[conn] += len;
  h->out[conn][h->outlen[conn]] = '\0';
  h->writes[conn]++;
}

H_FN void h_event(void *ud, tw_event_t *ev) {
  h_t *h = ud;
  assert_true(h->nev < H_MAX_EVENTS);
  h->ev[h->nev++] = ev;
  if (h->on_event)
    h->on_event(h, ev);
}

H_FN void h_copy(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}

H_FN void h_status_cb(void *ud, const tw_chat_status_t *st) {
  h_t *h = ud;
  h_status_t *r;
  assert_true(h->nst < H_MAX_STATUS);
  r = &h->st[h->nst++];
  r->kind = st->kind;
  r->err = st->err;
  h_copy(r->channel, sizeof(r->channel), st->channel);
  h_copy(r->detail, sizeof(r->detail), st->detail);
  r->retry_in = st->retry_in_ms;
  r->at = h->now;
}

H_FN void h_notice_cb(void *ud, const tw_chat_notice_t *n) {
  h_t *h = ud;
  h_notice_t *r;
  assert_true(h->nno < H_MAX_NOTICES);
  r = &h->no[h->nno++];
  r->kind = n->kind;
  h_copy(r->msg_id, sizeof(r->msg_id), n->msg_id);
  h_copy(r->channel, sizeof(r->channel), n->channel);
  h_copy(r->text, sizeof(r->text), n->text);
  r->send_failed = n->send_failed;
}

H_FN void h_refresh(void *ud) {
  h_t *h = ud;
  h->refresh_calls++;
  if (h->refresh_fail_err)
    tw_chat_session_token_failed(h->s, h->refresh_fail_err, h->now);
  else if (h->refresh_answer)
    assert_int_equal(tw_chat_session_set_token(h->s, h->refresh_answer, h->now),
                     0);
}

H_FN uint64_t h_rand(void *ctx) {
  return ((h_t *)ctx)->rand_value;
}

/* Options for tests: short, round numbers; jitter off by default (the
 * random source returns the largest value, so every delay is the ceiling). */
H_FN void h_opts(tw_chat_opts_t *o) {
  tw_chat_opts_default(o);
  o->login = "bot";
  o->token = "oauth:secrettoken123";
}

H_FN h_t *h_new_ex(const tw_chat_opts_t *opts, bool with_refresh) {
  tw_chat_opts_t o = *opts;
  tw_chat_session_ops_t ops = {h_open,
                               h_close,
                               h_write,
                               h_event,
                               h_notice_cb,
                               h_status_cb,
                               with_refresh ? h_refresh : NULL};
  char detail[256];
  h_t *h = calloc(1, sizeof(*h));
  assert_non_null(h);
  h->now = 1000000;
  h->rand_value = UINT64_MAX;
  o.rand = h_rand;
  o.rand_ctx = h;
  assert_int_equal(
      tw_chat_session_new(&o, &ops, h, &h->s, detail, sizeof(detail)), 0);
  return h;
}

H_FN h_t *h_new(const tw_chat_opts_t *opts) {
  return h_new_ex(opts, true);
}

H_FN void h_clear_events(h_t *h) {
  for (size_t i = 0; i < h->nev; i++)
    tw_event_free(h->ev[i]);
  h->nev = 0;
}

H_FN void h_free(h_t *h) {
  h_clear_events(h);
  tw_chat_session_free(h->s);
  for (size_t i = 0; i < H_MAX_CONNS; i++)
    free(h->out[i]);
  free(h);
}

/* Moves time to `target`, running every deadline on the way in order, as a
 * loop's timer would. */
H_FN void h_advance_to(h_t *h, uint64_t target) {
  for (int guard = 0; guard < 100000; guard++) {
    uint64_t d = tw_chat_session_deadline(h->s);
    if (d > target)
      break;
    if (d > h->now)
      h->now = d;
    tw_chat_session_tick(h->s, h->now);
    if (tw_chat_session_deadline(h->s) <= h->now &&
        tw_chat_session_deadline(h->s) == d) {
      /* Nothing moved the deadline: the session must not spin. */
      fail_msg("deadline %llu stays due after a tick", (unsigned long long)d);
    }
  }
  if (target > h->now)
    h->now = target;
}

H_FN void h_advance(h_t *h, uint64_t ms) {
  h_advance_to(h, h->now + ms);
}

H_FN int h_feed(h_t *h, uint64_t conn, const char *line) {
  return tw_chat_session_feed(h->s, conn, line, strlen(line), h->now);
}

/* The last connection opened. */
H_FN uint64_t h_last_open(const h_t *h) {
  assert_true(h->nopened > 0);
  return h->opened[h->nopened - 1];
}

H_FN bool h_was_closed(const h_t *h, uint64_t conn) {
  for (size_t i = 0; i < h->nclosed; i++)
    if (h->closed[i] == conn)
      return true;
  return false;
}

/* Everything written on conn since the last call, as one string (static
 * buffer; valid until the next call). */
H_FN const char *h_take(h_t *h, uint64_t conn) {
  static char buf[H_OUT_CAP];
  size_t n = h->outlen[conn] - h->outread[conn];
  if (n)
    memcpy(buf, h->out[conn] + h->outread[conn], n);
  buf[n] = '\0';
  h->outread[conn] = h->outlen[conn];
  return buf;
}

/* Number of lines written on conn since the last h_take that contain
 * `needle`, without consuming them. */
H_FN size_t h_count_pending(const h_t *h, uint64_t conn, const char *needle) {
  size_t n = 0;
  const char *p, *end;
  if (!h->out[conn])
    return 0;
  p = h->out[conn] + h->outread[conn];
  end = h->out[conn] + h->outlen[conn];
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
    char line[4096];
    if (len >= sizeof(line))
      len = sizeof(line) - 1;
    memcpy(line, p, len);
    line[len] = '\0';
    if (strstr(line, needle))
      n++;
    p = eol ? eol + 1 : end;
  }
  return n;
}

/* Transport up and the whole Twitch welcome, for an authenticated login. */
H_FN void h_login_as(h_t *h, uint64_t conn, const char *nick) {
  char line[512];
  tw_chat_session_conn_up(h->s, conn, h->now);
  h_take(h, conn);
  assert_int_equal(
      h_feed(h, conn,
             ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands "
             "twitch.tv/membership"),
      0);
  snprintf(line, sizeof(line), ":tmi.twitch.tv 001 %s :Welcome, GLHF!", nick);
  h_feed(h, conn, line);
  snprintf(line, sizeof(line), ":tmi.twitch.tv 002 %s :Your host is tmi", nick);
  h_feed(h, conn, line);
  snprintf(line, sizeof(line), ":tmi.twitch.tv 376 %s :>", nick);
  h_feed(h, conn, line);
  h_feed(h, conn,
         "@badge-info=;badges=;color=;display-name=Bot;emote-sets=0;user-id="
         "777;user-type= :tmi.twitch.tv GLOBALUSERSTATE");
}

H_FN void h_login(h_t *h, uint64_t conn) {
  h_login_as(h, conn, "bot");
}

/* The server's answer to "JOIN #chan" for the bot, ending with the
 * confirming ROOMSTATE. `badges` are the bot's badges in the room. */
H_FN void h_join_reply(h_t *h, uint64_t conn, const char *chan,
                       const char *badges) {
  char line[1024];
  snprintf(line, sizeof(line), ":bot!bot@bot.tmi.twitch.tv JOIN #%s", chan);
  h_feed(h, conn, line);
  snprintf(line, sizeof(line), ":bot.tmi.twitch.tv 353 bot = #%s :bot", chan);
  h_feed(h, conn, line);
  snprintf(line, sizeof(line),
           "@badge-info=;badges=%s;color=;display-name=bot;emote-sets=0;mod=0;"
           "subscriber=0;user-type= :tmi.twitch.tv USERSTATE #%s",
           badges ? badges : "", chan);
  h_feed(h, conn, line);
  snprintf(line, sizeof(line),
           "@emote-only=0;followers-only=-1;r9k=0;room-id=1%zu;slow=0;subs-only"
           "=0 :tmi.twitch.tv ROOMSTATE #%s",
           strlen(chan), chan);
  h_feed(h, conn, line);
}

/* A PRIVMSG line from `login` in #chan with message id `id`. */
H_FN const char *h_privmsg(const char *chan, const char *login, const char *id,
                           const char *text) {
  static char line[2048];
  snprintf(line, sizeof(line),
           "@badge-info=;badges=;color=;display-name=%s;emotes=;id=%s;mod=0;"
           "room-id=42;subscriber=0;tmi-sent-ts=1;turbo=0;user-id=100;user-"
           "type= :%s!%s@%s.tmi.twitch.tv PRIVMSG #%s :%s",
           login, id, login, login, login, chan, text);
  return line;
}

H_FN size_t h_count_status(const h_t *h, tw_chat_status_kind_t kind) {
  size_t n = 0;
  for (size_t i = 0; i < h->nst; i++)
    if (h->st[i].kind == kind)
      n++;
  return n;
}

H_FN const h_status_t *h_last_status(const h_t *h, tw_chat_status_kind_t kind) {
  for (size_t i = h->nst; i > 0; i--)
    if (h->st[i - 1].kind == kind)
      return &h->st[i - 1];
  return NULL;
}

H_FN size_t h_count_kind(const h_t *h, tw_event_kind_t kind) {
  size_t n = 0;
  for (size_t i = 0; i < h->nev; i++)
    if (h->ev[i]->kind == kind)
      n++;
  return n;
}

H_FN void h_stats(const h_t *h, tw_chat_stats_t *st) {
  tw_chat_session_stats(h->s, st);
}

/* A started session, logged in on connection 1, with every channel of opts
 * confirmed. */
H_FN h_t *h_ready(const tw_chat_opts_t *o) {
  h_t *h = h_new(o);
  uint64_t c;
  assert_int_equal(tw_chat_session_start(h->s, h->now), 0);
  c = h_last_open(h);
  h_login(h, c);
  for (size_t i = 0; i < o->nchannels; i++) {
    const char *name = o->channels[i];
    if (name[0] == '#')
      name++;
    h_join_reply(h, c, name, NULL);
  }
  h_take(h, c);
  return h;
}

#endif
