/* The sans-IO chat session; what it does and why is described in
 * chat_session.h and twitchd/chat.h. */
#include "twitch/chat_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "twitch/chat_dedupe.h"
#include "twitch/chat_queue.h"
#include "twitch/chat_text.h"
#include "twitchd/backoff.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/irc_tags.h"
#include "twitchd/irc_twitch.h"
#include "twitchd/log.h"

#define MOD "chat"
#define NSLOTS 2
#define CAPS "twitch.tv/tags twitch.tv/commands twitch.tv/membership"
/* Longest line the session writes itself (PASS with the longest token). */
#define OUT_LINE (TW_MAX_CHAT_TOKEN + 64)
/* Most joins per window accepted in the options (Twitch's verified bots get
 * 2000 per 10 s). */
#define MAX_JOIN_RATE 2000
/* Longest dedupe key: "clearchat:" + three tag values of a capped line. */
#define MAX_KEY 256

typedef enum { C_FREE = 0, C_CONNECTING, C_LOGIN, C_READY } conn_state_t;

/* One transport connection. */
typedef struct {
  uint64_t id; /* 0: the slot is free */
  conn_state_t state;
  uint64_t opened_ms;  /* when ops.open was called */
  uint64_t up_ms;      /* when the transport came up */
  uint64_t ready_ms;   /* when the login completed */
  uint64_t last_rx_ms; /* last line received (or up time) */
  uint64_t ping_sent_ms;
  bool ping_out; /* our PING waits for an answer */
  bool got_001, got_gus, got_376, caps_nak;
  bool moving;   /* the server sent RECONNECT */
  bool draining; /* replaced after a handover: read until drain_ms */
  uint64_t drain_ms;
} conn_t;

typedef enum { J_NONE = 0, J_SENT, J_JOINED, J_FAILED } join_state_t;

/* A channel's join on one connection. */
typedef struct {
  join_state_t state;
  uint32_t attempts; /* failed attempts on this connection */
  uint64_t sent_ms;
  uint64_t retry_at_ms;
} join_t;

typedef struct {
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
  join_t slot[NSLOTS];
} chan_t;

struct tw_chat_session {
  tw_chat_opts_t o; /* copied; the string members below own their copies */
  char login[TW_MAX_CHAT_LOGIN + 1];
  char nick[TW_MAX_CHAT_LOGIN + 1]; /* what we send as NICK */
  char self[TW_MAX_CHAT_LOGIN + 1]; /* our login as Twitch confirmed it */
  char token[TW_MAX_CHAT_TOKEN + 1];
  char connector[TW_MAX_CHAT_CONNECTOR + 1];
  bool anonymous;

  tw_chat_session_ops_t ops;
  void *ud;

  uint64_t now;
  bool started, stopped;
  int depth; /* > 0 while a callback runs */
  bool waiting_token;

  conn_t conns[NSLOTS];
  int primary; /* slot index, -1 when none */
  uint64_t next_conn_id;
  uint64_t next_open_ms;      /* earliest time for a new primary */
  uint64_t secondary_open_ms; /* earliest time for a handover connection */

  chan_t *chans[TW_MAX_CHAT_JOINS];
  size_t nchans;
  bool joins_dirty;
  uint64_t join_deadline;
  uint64_t *join_ring; /* send times of the last join_max JOINs */
  size_t join_next, join_count;

  tw_chatq_t *q;
  bool send_dirty;
  uint64_t send_at; /* when the queue said a line may go; UINT64_MAX none */

  tw__chat_dedupe_t dedupe;
  bool dedupe_on;
  uint64_t dedupe_until; /* when no second connection: keep it until then */

  tw_backoff_t backoff;
  uint32_t auth_fail_run; /* refused logins in a row */
  uint64_t ping_seq;

  tw_irc_scratch_t scratch;
  /* The line being dispatched, and whether it is valid UTF-8 (-1: not
   * checked yet). */
  const char *line_p;
  size_t line_n;
  int line_utf8;
  tw_chat_stats_t st;
  char detail[TW_MAX_CHAT_DETAIL];
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

static void set_detail(tw_chat_session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_detail(tw_chat_session_t *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
  va_end(ap);
}

/* Copies a view into a fixed buffer, NUL-terminated, truncating. */
static void view_copy(char *dst, size_t cap, tw_irc_str_t v) {
  size_t n = v.ptr ? v.len : 0;
  if (n >= cap)
    n = cap - 1;
  if (n)
    memcpy(dst, v.ptr, n);
  dst[n] = '\0';
}

static int slot_of(const tw_chat_session_t *s, uint64_t id) {
  if (id == 0)
    return -1;
  for (int i = 0; i < NSLOTS; i++)
    if (s->conns[i].id == id)
      return i;
  return -1;
}

static int secondary_of(const tw_chat_session_t *s) {
  for (int i = 0; i < NSLOTS; i++)
    if (s->conns[i].id != 0 && i != s->primary)
      return i;
  return -1;
}

static chan_t *find_chan(const tw_chat_session_t *s, const char *name) {
  for (size_t i = 0; i < s->nchans; i++)
    if (strcmp(s->chans[i]->name, name) == 0)
      return s->chans[i];
  return NULL;
}

static chan_t *find_chan_view(const tw_chat_session_t *s, tw_irc_str_t v) {
  if (!v.ptr || v.len == 0 || v.len > TW_MAX_CHAT_CHANNEL_NAME)
    return NULL;
  for (size_t i = 0; i < s->nchans; i++)
    if (strlen(s->chans[i]->name) == v.len &&
        memcmp(s->chans[i]->name, v.ptr, v.len) == 0)
      return s->chans[i];
  return NULL;
}

/* ---- callbacks out ------------------------------------------------------ */

static void out_write(tw_chat_session_t *s, int slot, const char *data,
                      size_t len, uint64_t nlines) {
  s->depth++;
  s->ops.write(s->ud, s->conns[slot].id, data, len);
  s->depth--;
  s->st.lines_sent += nlines;
}

/* Writes one line (CRLF added). */
static void out_line(tw_chat_session_t *s, int slot, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void out_line(tw_chat_session_t *s, int slot, const char *fmt, ...) {
  char buf[OUT_LINE];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(buf) - 2)
    return; /* cannot happen: every input is capped */
  buf[n++] = '\r';
  buf[n++] = '\n';
  out_write(s, slot, buf, (size_t)n, 1);
}

static void emit_status(tw_chat_session_t *s, tw_chat_status_kind_t kind,
                        int err, const char *channel, const char *detail,
                        uint64_t retry_in) {
  tw_chat_status_t st = {kind, err, channel ? channel : "",
                         detail ? detail : "", retry_in};
  if (!s->ops.status)
    return;
  s->depth++;
  s->ops.status(s->ud, &st);
  s->depth--;
}

static void emit_event(tw_chat_session_t *s, tw_event_t *ev) {
  if (!ev)
    return;
  s->st.events_delivered++;
  if (!s->ops.event) {
    tw_event_free(ev);
    return;
  }
  s->depth++;
  s->ops.event(s->ud, ev);
  s->depth--;
}

/* Forgets a slot and asks the caller to drop its transport. */
static void drop_slot(tw_chat_session_t *s, int slot) {
  uint64_t id = s->conns[slot].id;
  memset(&s->conns[slot], 0, sizeof(s->conns[slot]));
  for (size_t i = 0; i < s->nchans; i++)
    memset(&s->chans[i]->slot[slot], 0, sizeof(join_t));
  if (s->primary == slot)
    s->primary = -1;
  s->joins_dirty = true;
  s->send_dirty = true;
  s->depth++;
  s->ops.close(s->ud, id);
  s->depth--;
}

/* ---- options ------------------------------------------------------------ */

void tw_chat_opts_default(tw_chat_opts_t *o) {
  tw_chatq_limits_t q;
  memset(o, 0, sizeof(*o));
  tw_chatq_limits_default(&q);
  o->url = TW_CHAT_DEFAULT_URL;
  o->connector = "twitch";
  o->login_timeout_ms = 20000;
  o->ping_idle_ms = 60000;
  o->pong_timeout_ms = 10000;
  o->join_timeout_ms = 10000;
  o->join_attempts = 3;
  o->join_max = 20;
  o->join_window_ms = 11000;
  o->backoff_base_ms = 1000;
  o->backoff_cap_ms = 120000;
  o->backoff_healthy_ms = 60000;
  o->auth_max_failures = 3;
  o->dedupe_grace_ms = 10000;
  o->reconnect_linger_ms = 2000;
  o->send_window_ms = q.window_ms;
  o->send_normal_max = q.normal_max;
  o->send_privileged_max = q.privileged_max;
  o->send_channel_interval_ms = q.channel_interval_ms;
  o->send_duplicate_ms = q.duplicate_ms;
  o->send_max_queued = q.max_queued;
  o->send_max_queued_per_channel = q.max_queued_per_channel;
}

/* Copies a token, dropping an "oauth:" prefix. */
static int store_token(char *dst, const char *tok) {
  size_t n;
  if (!tok)
    return TW_EINVAL;
  if (strncmp(tok, "oauth:", 6) == 0)
    tok += 6;
  n = strlen(tok);
  if (n == 0)
    return TW_EINVAL;
  if (n > TW_MAX_CHAT_TOKEN)
    return TW_ETOOBIG;
  /* A token is printable ASCII without spaces; anything else would break
   * the PASS line (or smuggle a second command into it). */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)tok[i] <= ' ' || (unsigned char)tok[i] >= 0x7f)
      return TW_EINVAL;
  memcpy(dst, tok, n + 1);
  return 0;
}

static int add_chan(tw_chat_session_t *s, const char *name, chan_t **out) {
  char norm[TW_MAX_CHAT_CHANNEL_NAME + 1];
  chan_t *c;
  if (tw__chat_channel_normalize(name, norm) != 0)
    return TW_EINVAL;
  c = find_chan(s, norm);
  if (c) {
    if (out)
      *out = c;
    return 1;
  }
  if (s->nchans == TW_MAX_CHAT_JOINS)
    return TW_EFULL;
  c = calloc(1, sizeof(*c));
  if (!c)
    return TW_ENOMEM;
  memcpy(c->name, norm, sizeof(norm));
  s->chans[s->nchans++] = c;
  if (out)
    *out = c;
  return 0;
}

static int validate(const tw_chat_opts_t *o, char *detail, size_t cap) {
#define BAD(...)                                                               \
  do {                                                                         \
    if (detail)                                                                \
      snprintf(detail, cap, __VA_ARGS__);                                      \
    return TW_EINVAL;                                                          \
  } while (0)
  if (o->login_timeout_ms == 0 || o->ping_idle_ms == 0 ||
      o->pong_timeout_ms == 0 || o->join_timeout_ms == 0)
    BAD("timeouts must be positive");
  if (o->join_attempts == 0)
    BAD("join_attempts must be at least 1");
  if (o->join_max == 0 || o->join_max > MAX_JOIN_RATE || !o->join_window_ms)
    BAD("join_max must be 1..%d and join_window_ms positive", MAX_JOIN_RATE);
  if (o->backoff_base_ms == 0 || o->backoff_cap_ms < o->backoff_base_ms)
    BAD("backoff_base_ms must be positive and at most backoff_cap_ms");
  if (o->auth_max_failures == 0)
    BAD("auth_max_failures must be at least 1");
  if (o->nchannels > TW_MAX_CHAT_JOINS) {
    if (detail)
      snprintf(detail, cap, "too many channels (at most %d)",
               TW_MAX_CHAT_JOINS);
    return TW_ETOOBIG;
  }
  if (o->nchannels && !o->channels)
    BAD("channels is NULL");
  return 0;
#undef BAD
}

int tw_chat_session_new(const tw_chat_opts_t *opts,
                        const tw_chat_session_ops_t *ops, void *ud,
                        tw_chat_session_t **out, char *detail,
                        size_t detail_cap) {
  tw_chat_session_t *s;
  tw_chatq_limits_t lim;
  int err;

  if (detail && detail_cap)
    detail[0] = '\0';
  if (!opts || !ops || !out || !ops->open || !ops->close || !ops->write)
    return TW_EINVAL;
  *out = NULL;
  err = validate(opts, detail, detail_cap);
  if (err)
    return err;
  s = calloc(1, sizeof(*s));
  if (!s)
    return TW_ENOMEM;
  s->o = *opts;
  s->ops = *ops;
  s->ud = ud;
  s->primary = -1;
  s->next_conn_id = 1;
  s->send_at = UINT64_MAX;
  s->join_deadline = UINT64_MAX;
  /* The copied opts keep no borrowed pointers. */
  s->o.url = s->o.ca_file = s->o.login = s->o.token = s->o.connector = NULL;
  s->o.channels = NULL;
  s->o.nchannels = 0;

#define FAIL(code, ...)                                                        \
  do {                                                                         \
    if (detail)                                                                \
      snprintf(detail, detail_cap, __VA_ARGS__);                               \
    err = (code);                                                              \
    goto fail;                                                                 \
  } while (0)

  if (opts->token && opts->token[0] && strcmp(opts->token, "oauth:") != 0) {
    err = store_token(s->token, opts->token);
    if (err)
      FAIL(err, "the token is not a valid access token");
  } else {
    s->anonymous = true;
  }
  if (opts->login && opts->login[0]) {
    size_t n = strlen(opts->login);
    if (n > TW_MAX_CHAT_LOGIN)
      FAIL(TW_ETOOBIG, "the login is longer than %d characters",
           TW_MAX_CHAT_LOGIN);
    for (size_t i = 0; i < n; i++) {
      char ch = opts->login[i];
      if (ch >= 'A' && ch <= 'Z')
        ch = (char)(ch - 'A' + 'a');
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
        FAIL(TW_EINVAL, "the login must be letters, digits and '_'");
      s->login[i] = ch;
    }
  }
  {
    const char *cn = opts->connector ? opts->connector : "twitch";
    size_t n = strlen(cn);
    if (n > TW_MAX_CHAT_CONNECTOR)
      FAIL(TW_ETOOBIG, "the connector name is too long");
    if (!tw__utf8_valid(cn, n))
      FAIL(TW_EINVAL, "the connector name is not valid UTF-8");
    memcpy(s->connector, cn, n + 1);
  }
  for (size_t i = 0; i < opts->nchannels; i++) {
    err = add_chan(s, opts->channels[i], NULL);
    if (err < 0)
      FAIL(err, "bad channel name \"%.40s\"",
           opts->channels[i] ? opts->channels[i] : "(null)");
  }
  s->join_ring = calloc(opts->join_max, sizeof(*s->join_ring));
  if (!s->join_ring)
    FAIL(TW_ENOMEM, "out of memory");
  lim.window_ms = opts->send_window_ms;
  lim.normal_max = opts->send_normal_max;
  lim.privileged_max = opts->send_privileged_max;
  lim.channel_interval_ms = opts->send_channel_interval_ms;
  lim.duplicate_ms = opts->send_duplicate_ms;
  lim.max_queued = opts->send_max_queued;
  lim.max_queued_per_channel = opts->send_max_queued_per_channel;
  err = tw_chatq_new(&lim, &s->q);
  if (err)
    FAIL(err, "invalid sending limits");
  err = tw__chat_dedupe_init(&s->dedupe, TW_MAX_CHAT_DEDUPE);
  if (err)
    FAIL(err, "out of memory");
  err =
      tw_backoff_init(&s->backoff, opts->backoff_base_ms, opts->backoff_cap_ms,
                      opts->backoff_healthy_ms, opts->rand, opts->rand_ctx);
  if (err)
    FAIL(err, "invalid backoff settings");

  if (s->anonymous) {
    /* Twitch's read-only guest login: justinfan plus digits. */
    uint64_t r = 0;
    if (opts->rand)
      r = opts->rand(opts->rand_ctx);
    else if (uv_random(NULL, NULL, &r, sizeof(r), 0, NULL) != 0)
      r = (uint64_t)(uintptr_t)s; /* any number will do for a guest nick */
    snprintf(s->nick, sizeof(s->nick), "justinfan%llu",
             (unsigned long long)(10000 + r % 89990000ULL));
  } else if (s->login[0]) {
    memcpy(s->nick, s->login, sizeof(s->nick));
  } else {
    /* Twitch takes the identity from the token; the 001 reply says who we
     * are. */
    memcpy(s->nick, "twitchd", 8);
  }
  memcpy(s->self, s->anonymous ? s->nick : s->login, sizeof(s->self));
  *out = s;
  return 0;
fail:
  tw_chat_session_free(s);
  return err;
#undef FAIL
}

void tw_chat_session_free(tw_chat_session_t *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nchans; i++)
    free(s->chans[i]);
  free(s->join_ring);
  tw_chatq_free(s->q);
  tw__chat_dedupe_free(&s->dedupe);
  free(s);
}

/* ---- connections -------------------------------------------------------- */

static void open_conn(tw_chat_session_t *s, int slot) {
  conn_t *c = &s->conns[slot];
  memset(c, 0, sizeof(*c));
  c->id = s->next_conn_id++;
  c->state = C_CONNECTING;
  c->opened_ms = s->now;
  for (size_t i = 0; i < s->nchans; i++)
    memset(&s->chans[i]->slot[slot], 0, sizeof(join_t));
  s->st.connects++;
  emit_status(s, TW_CHAT_STATUS_CONNECTING, 0, NULL, NULL, UINT64_MAX);
  if (s->conns[slot].id == 0 || s->stopped)
    return; /* stopped from the status callback */
  s->depth++;
  s->ops.open(s->ud, c->id);
  s->depth--;
}

/* Opens the connections the session lacks, when their time has come. */
static void plan_open(tw_chat_session_t *s) {
  int sec;
  if (s->stopped || !s->started || s->waiting_token)
    return;
  if (s->primary < 0) {
    sec = secondary_of(s);
    if (sec >= 0) {
      s->primary = sec; /* cannot happen: promotion is done on loss */
      return;
    }
    if (s->now >= s->next_open_ms) {
      s->primary = 0;
      open_conn(s, 0);
    }
    return;
  }
  sec = secondary_of(s);
  if (s->conns[s->primary].moving && sec >= 0 && s->conns[sec].draining &&
      s->now >= s->secondary_open_ms) {
    /* Asked to move again while the previous old connection still
     * lingers: it has had its chance; two connections at most. */
    drop_slot(s, sec);
    if (s->stopped)
      return;
    sec = -1;
  }
  if (s->conns[s->primary].moving && sec < 0 &&
      s->now >= s->secondary_open_ms) {
    int slot = 1 - s->primary;
    s->dedupe_on = true;
    s->dedupe_until = UINT64_MAX;
    open_conn(s, slot);
  }
}

/* The end of a connection we did not choose to end: the transport failed,
 * the login timed out, the keepalive went unanswered. */
static void lose_conn(tw_chat_session_t *s, int slot, int err,
                      const char *why) {
  bool was_primary = slot == s->primary;
  bool was_ready = s->conns[slot].state == C_READY;
  int other;
  uint64_t delay;

  bool was_draining = s->conns[slot].draining;

  drop_slot(s, slot);
  other = secondary_of(s);
  if (s->stopped)
    return;
  if (was_draining) {
    /* The old connection of a handover went (the server closes it after
     * RECONNECT): expected, and the new one already serves. */
    s->dedupe_until = add_sat(s->now, s->o.dedupe_grace_ms);
    return;
  }
  if (was_primary) {
    if (other >= 0 && s->conns[other].draining) {
      /* The new connection died while the old one was lingering: the old
       * one serves again, and the move starts over after the backoff. */
      conn_t *o = &s->conns[other];
      o->draining = false;
      o->last_rx_ms = s->now;
      s->primary = other;
      delay = tw_backoff_next(&s->backoff, s->now);
      s->secondary_open_ms = add_sat(s->now, delay);
      s->joins_dirty = s->send_dirty = true;
      set_detail(s,
                 "%s; the previous connection serves until a new one "
                 "takes over",
                 why);
      emit_status(s, TW_CHAT_STATUS_DISCONNECTED, err, NULL, s->detail, delay);
      return;
    }
    if (other >= 0) {
      /* The old connection went before the handover finished: the new one
       * carries on alone, still deduplicating what both may have seen. */
      s->primary = other;
      s->dedupe_until = add_sat(s->now, s->o.dedupe_grace_ms);
      set_detail(s, "%s; the new connection takes over", why);
      emit_status(s, TW_CHAT_STATUS_DISCONNECTED, err, NULL, s->detail, 0);
      return;
    }
    delay = tw_backoff_next(&s->backoff, s->now);
    s->next_open_ms = add_sat(s->now, delay);
    set_detail(s, "%s%s", why, was_ready ? "" : " (before the login finished)");
    tw_info(MOD, "connection lost: %s; reconnecting in %llu ms", s->detail,
            (unsigned long long)delay);
    emit_status(s, TW_CHAT_STATUS_DISCONNECTED, err, NULL, s->detail, delay);
    return;
  }
  /* The handover connection failed; the old one still works. */
  delay = tw_backoff_next(&s->backoff, s->now);
  s->secondary_open_ms = add_sat(s->now, delay);
  s->dedupe_until = add_sat(s->now, s->o.dedupe_grace_ms);
  set_detail(s, "%s (new connection during a RECONNECT)", why);
  emit_status(s, TW_CHAT_STATUS_DISCONNECTED, err, NULL, s->detail, delay);
}

static void send_login(tw_chat_session_t *s, int slot) {
  char buf[3 * OUT_LINE];
  int n;
  /* One write, so that a WebSocket carries the whole login in one frame and
   * PASS always precedes NICK, as Twitch requires. */
  if (s->anonymous)
    n = snprintf(buf, sizeof(buf), "CAP REQ :" CAPS "\r\nNICK %s\r\n", s->nick);
  else
    n = snprintf(buf, sizeof(buf),
                 "CAP REQ :" CAPS "\r\nPASS oauth:%s\r\nNICK %s\r\n", s->token,
                 s->nick);
  if (n < 0 || (size_t)n >= sizeof(buf))
    return;
  out_write(s, slot, buf, (size_t)n, s->anonymous ? 2 : 3);
}

void tw_chat_session_conn_up(tw_chat_session_t *s, uint64_t conn,
                             uint64_t now_ms) {
  int slot;
  if (!s || s->depth)
    return;
  if (now_ms > s->now)
    s->now = now_ms;
  slot = slot_of(s, conn);
  if (slot < 0 || s->conns[slot].state != C_CONNECTING)
    return;
  s->conns[slot].state = C_LOGIN;
  s->conns[slot].up_ms = s->now;
  s->conns[slot].last_rx_ms = s->now;
  send_login(s, slot);
}

static void leave(tw_chat_session_t *s);
static void do_stop(tw_chat_session_t *s, int err);

void tw_chat_session_conn_closed(tw_chat_session_t *s, uint64_t conn, int err,
                                 uint64_t now_ms) {
  int slot;
  if (!s || s->depth)
    return;
  if (now_ms > s->now)
    s->now = now_ms;
  slot = slot_of(s, conn);
  if (slot < 0)
    return;
  lose_conn(s, slot, err ? err : TW_ECLOSED,
            s->conns[slot].moving ? "the server closed the connection after "
                                    "RECONNECT"
                                  : "the connection closed");
  leave(s);
}

/* ---- joins -------------------------------------------------------------- */

/* When the account's join window allows another JOIN. */
static uint64_t join_ready_at(const tw_chat_session_t *s) {
  if (s->join_count < s->o.join_max)
    return 0;
  /* The oldest of the last join_max joins leaves the window. */
  return add_sat(s->join_ring[s->join_next], s->o.join_window_ms);
}

static void join_record(tw_chat_session_t *s) {
  s->join_ring[s->join_next] = s->now;
  s->join_next = (s->join_next + 1) % s->o.join_max;
  if (s->join_count < s->o.join_max)
    s->join_count++;
}

static void join_failed(tw_chat_session_t *s, int slot, chan_t *c, int err,
                        bool permanent, const char *why) {
  join_t *j = &c->slot[slot];
  uint64_t retry = UINT64_MAX;
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];

  j->attempts++;
  s->st.join_failures++;
  if (permanent || j->attempts >= s->o.join_attempts) {
    j->state = J_FAILED;
  } else {
    j->state = J_NONE;
    retry = (uint64_t)s->o.join_timeout_ms * j->attempts;
    j->retry_at_ms = add_sat(s->now, retry);
  }
  s->joins_dirty = true;
  s->send_dirty = true;
  memcpy(name, c->name, sizeof(name)); /* the callback may part it */
  set_detail(s, "joining #%s failed: %s", name, why);
  tw_warn(MOD, "%s%s", s->detail,
          retry == UINT64_MAX ? "" : "; trying again later");
  emit_status(s, TW_CHAT_STATUS_JOIN_FAILED, err, name, s->detail, retry);
}

/* Sends the JOINs the join window allows and fails the ones that timed
 * out; recomputes join_deadline. */
static void pump_joins(tw_chat_session_t *s) {
  uint64_t deadline = UINT64_MAX;
  s->joins_dirty = false;
  for (int slot = 0; slot < NSLOTS; slot++) {
    if (s->conns[slot].state != C_READY || s->conns[slot].draining)
      continue;
    for (size_t i = 0; i < s->nchans && !s->stopped; i++) {
      chan_t *c = s->chans[i];
      join_t *j = &c->slot[slot];
      if (j->state == J_SENT &&
          s->now >= add_sat(j->sent_ms, s->o.join_timeout_ms)) {
        join_failed(s, slot, c, TW_ETIMEDOUT, false,
                    "no confirmation (ROOMSTATE) in time");
        if (s->conns[slot].state != C_READY)
          break;
        /* The callback may have removed channels: restart the scan. */
        s->joins_dirty = true;
        break;
      }
      if (j->state == J_SENT) {
        deadline = min_u64(deadline, add_sat(j->sent_ms, s->o.join_timeout_ms));
      } else if (j->state == J_NONE) {
        uint64_t at = j->retry_at_ms;
        uint64_t ready = join_ready_at(s);
        if (ready > at)
          at = ready;
        if (s->now >= at) {
          j->state = J_SENT;
          j->sent_ms = s->now;
          join_record(s);
          out_line(s, slot, "JOIN #%s", c->name);
          deadline = min_u64(deadline, add_sat(s->now, s->o.join_timeout_ms));
        } else {
          deadline = min_u64(deadline, at);
        }
      }
    }
  }
  if (s->joins_dirty) {
    /* Something changed under the scan: go again (bounded, since every
     * pass either sends, fails or finds nothing to do). */
    pump_joins(s);
    return;
  }
  s->join_deadline = deadline;
}

/* ---- sending ------------------------------------------------------------ */

/* Sending waits for a logged-in connection with no JOIN awaiting its
 * confirmation, so that a message never overtakes the JOIN of its room. */
static bool can_send(const tw_chat_session_t *s) {
  if (s->primary < 0 || s->conns[s->primary].state != C_READY)
    return false;
  for (size_t i = 0; i < s->nchans; i++)
    if (s->chans[i]->slot[s->primary].state == J_SENT)
      return false;
  return true;
}

static void pump_send(tw_chat_session_t *s) {
  char line[TW_MAX_CHAT_LINE + 3];
  size_t len;
  uint64_t wait;
  int err;

  s->send_dirty = false;
  s->send_at = UINT64_MAX;
  if (!can_send(s))
    return;
  for (;;) {
    int slot = s->primary;
    err = tw_chatq_next(s->q, s->now, line, sizeof(line) - 2, &len, &wait);
    if (err == TW_EAGAIN) {
      if (wait != UINT64_MAX)
        s->send_at = add_sat(s->now, wait);
      return;
    }
    if (err != 0) {
      tw_error(MOD, "chat queue: %s", tw_strerror(err));
      return;
    }
    line[len++] = '\r';
    line[len++] = '\n';
    s->st.messages_sent++;
    out_write(s, slot, line, len, 1);
    if (s->stopped || s->primary != slot)
      return;
  }
}

/* ---- handover ----------------------------------------------------------- */

/* After RECONNECT: once the new connection has every channel the old one
 * had (joined or definitely failed), the old one goes. */
static void check_handover(tw_chat_session_t *s) {
  int sec = secondary_of(s);
  int pri = s->primary;
  if (pri < 0 || sec < 0 || s->conns[sec].state != C_READY ||
      s->conns[sec].draining)
    return;
  for (size_t i = 0; i < s->nchans; i++) {
    const chan_t *c = s->chans[i];
    if (c->slot[pri].state == J_JOINED && c->slot[sec].state != J_JOINED &&
        c->slot[sec].state != J_FAILED)
      return;
  }
  /* The new connection serves from now on. The old one is read a little
   * longer: lines the server wrote to it before the new one joined may
   * still be unread (both sockets can be ready at once, the new one read
   * first), and closing now would lose them. Deduplication covers what both
   * bring. */
  s->primary = sec;
  s->send_dirty = true;
  s->joins_dirty = true;
  if (s->o.reconnect_linger_ms == 0) {
    drop_slot(s, pri);
    s->primary = sec;
    s->dedupe_until = add_sat(s->now, s->o.dedupe_grace_ms);
  } else {
    s->conns[pri].draining = true;
    s->conns[pri].drain_ms = add_sat(s->now, s->o.reconnect_linger_ms);
    s->conns[pri].ping_out = false;
  }
  tw_info(MOD, "RECONNECT handover complete: the new connection took over");
  emit_status(s, TW_CHAT_STATUS_HANDOVER, 0, NULL,
              "the new connection took over", UINT64_MAX);
}

/* ---- the pump ----------------------------------------------------------- */

static void expire_dedupe(tw_chat_session_t *s) {
  if (s->dedupe_on && secondary_of(s) < 0 && s->now >= s->dedupe_until) {
    s->dedupe_on = false;
    tw__chat_dedupe_clear(&s->dedupe);
  }
}

static void pump(tw_chat_session_t *s) {
  /* A few passes, since opening a connection or completing a handover can
   * make joins or sends possible; each pass is cheap when nothing is due. */
  for (int pass = 0; pass < 4 && !s->stopped; pass++) {
    int before_primary = s->primary;
    plan_open(s);
    if (s->stopped)
      return;
    check_handover(s);
    if (s->stopped)
      return;
    if (s->joins_dirty || s->now >= s->join_deadline)
      pump_joins(s);
    if (s->stopped)
      return;
    if (s->send_dirty || s->now >= s->send_at)
      pump_send(s);
    expire_dedupe(s);
    if (s->primary == before_primary && !s->joins_dirty && !s->send_dirty)
      break;
  }
}

static void leave(tw_chat_session_t *s) {
  if (s->depth == 0 && !s->stopped)
    pump(s);
}

/* ---- login -------------------------------------------------------------- */

static void login_done(tw_chat_session_t *s, int slot) {
  conn_t *c = &s->conns[slot];
  c->state = C_READY;
  c->ready_ms = s->now;
  s->auth_fail_run = 0;
  s->st.logins++;
  if (s->st.logins > 1)
    s->st.reconnects++;
  tw_backoff_success(&s->backoff, s->now);
  s->joins_dirty = true;
  s->send_dirty = true;
  tw_info(MOD, "logged in as %s", s->self[0] ? s->self : s->nick);
  emit_status(s, TW_CHAT_STATUS_LOGGED_IN, 0, NULL, NULL, UINT64_MAX);
}

static void check_login(tw_chat_session_t *s, int slot) {
  const conn_t *c = &s->conns[slot];
  if (c->state != C_LOGIN || !c->got_001)
    return;
  /* Twitch sends GLOBALUSERSTATE after the MOTD when the login has a token
   * and the commands capability; anonymous logins, and logins whose
   * capabilities were refused, end with 376. */
  if (c->got_gus || (c->got_376 && (s->anonymous || c->caps_nak)))
    login_done(s, slot);
}

static void auth_failed(tw_chat_session_t *s, int slot, const char *text) {
  uint64_t delay;
  bool hook = s->ops.refresh_token != NULL;

  s->st.auth_failures++;
  s->auth_fail_run++;
  if (slot == s->primary) {
    int other;
    drop_slot(s, slot);
    other = secondary_of(s);
    if (other >= 0)
      s->primary = other;
  } else {
    drop_slot(s, slot);
  }
  if (s->stopped)
    return;
  if (s->auth_fail_run >= s->o.auth_max_failures) {
    set_detail(s,
               "Twitch refused the login %u times in a row (\"%s\"); check "
               "that the token is valid, has the chat:read and chat:edit "
               "scopes and belongs to the login",
               s->auth_fail_run, text);
    tw_error(MOD, "%s", s->detail);
    do_stop(s, TW_EAUTH);
    return;
  }
  delay = tw_backoff_next(&s->backoff, s->now);
  if (s->primary < 0)
    s->next_open_ms = add_sat(s->now, delay);
  else
    s->secondary_open_ms = add_sat(s->now, delay);
  set_detail(s, "Twitch refused the login (\"%s\"); %s", text,
             hook ? "asking for a refreshed token" : "retrying");
  tw_warn(MOD, "%s", s->detail);
  if (hook)
    s->waiting_token = true;
  emit_status(s, TW_CHAT_STATUS_AUTH_FAILED, TW_EAUTH, NULL, s->detail, delay);
  if (hook && !s->stopped && s->waiting_token) {
    s->depth++;
    s->ops.refresh_token(s->ud);
    s->depth--;
  }
}

/* ---- notices ------------------------------------------------------------ */

static const struct {
  const char *id;
  tw_chat_notice_kind_t kind;
  int send_failed;
} notice_ids[] = {
    {"msg_ratelimit", TW_CHAT_NOTICE_RATELIMIT, 1},
    {"msg_duplicate", TW_CHAT_NOTICE_DUPLICATE, 1},
    {"msg_slowmode", TW_CHAT_NOTICE_SLOWMODE, 1},
    {"msg_followersonly", TW_CHAT_NOTICE_FOLLOWERSONLY, 1},
    {"msg_followersonly_followed", TW_CHAT_NOTICE_FOLLOWERSONLY, 1},
    {"msg_followersonly_zero", TW_CHAT_NOTICE_FOLLOWERSONLY, 1},
    {"msg_subsonly", TW_CHAT_NOTICE_SUBSONLY, 1},
    {"msg_emoteonly", TW_CHAT_NOTICE_EMOTEONLY, 1},
    {"msg_r9k", TW_CHAT_NOTICE_R9K, 1},
    {"msg_banned", TW_CHAT_NOTICE_BANNED, 1},
    {"msg_timedout", TW_CHAT_NOTICE_TIMEDOUT, 1},
    {"msg_channel_blocked", TW_CHAT_NOTICE_CHANNEL_BLOCKED, 1},
    {"msg_bad_characters", TW_CHAT_NOTICE_BAD_CHARACTERS, 1},
    {"msg_rejected", TW_CHAT_NOTICE_REJECTED, 1},
    {"msg_rejected_mandatory", TW_CHAT_NOTICE_REJECTED, 1},
    {"msg_requires_verified_phone_number", TW_CHAT_NOTICE_VERIFIED, 1},
    {"msg_verified_email", TW_CHAT_NOTICE_VERIFIED, 1},
    {"msg_suspended", TW_CHAT_NOTICE_SUSPENDED, 0},
    {"msg_channel_suspended", TW_CHAT_NOTICE_CHANNEL_SUSPENDED, 0},
    {"tos_ban", TW_CHAT_NOTICE_TOS_BAN, 0},
    {"unrecognized_cmd", TW_CHAT_NOTICE_UNRECOGNIZED_CMD, 0},
    {"emote_only_on", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"emote_only_off", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"followers_on", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"followers_on_zero", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"followers_off", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"slow_on", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"slow_off", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"subs_on", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"subs_off", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"r9k_on", TW_CHAT_NOTICE_ROOM_MODE, 0},
    {"r9k_off", TW_CHAT_NOTICE_ROOM_MODE, 0},
};

const char *tw_chat_notice_kind_name(tw_chat_notice_kind_t kind) {
  switch (kind) {
  case TW_CHAT_NOTICE_OTHER:
    return "other";
  case TW_CHAT_NOTICE_FOLLOWERSONLY:
    return "msg_followersonly";
  case TW_CHAT_NOTICE_REJECTED:
    return "msg_rejected";
  case TW_CHAT_NOTICE_VERIFIED:
    return "msg_verified";
  case TW_CHAT_NOTICE_ROOM_MODE:
    return "room_mode";
  default:
    break;
  }
  for (size_t i = 0; i < sizeof(notice_ids) / sizeof(notice_ids[0]); i++)
    if (notice_ids[i].kind == kind)
      return notice_ids[i].id;
  return "unknown";
}

const char *tw_chat_status_kind_name(tw_chat_status_kind_t kind) {
  switch (kind) {
  case TW_CHAT_STATUS_CONNECTING:
    return "connecting";
  case TW_CHAT_STATUS_LOGGED_IN:
    return "logged_in";
  case TW_CHAT_STATUS_JOINED:
    return "joined";
  case TW_CHAT_STATUS_JOIN_FAILED:
    return "join_failed";
  case TW_CHAT_STATUS_PARTED:
    return "parted";
  case TW_CHAT_STATUS_RECONNECT:
    return "reconnect";
  case TW_CHAT_STATUS_HANDOVER:
    return "handover";
  case TW_CHAT_STATUS_DISCONNECTED:
    return "disconnected";
  case TW_CHAT_STATUS_AUTH_FAILED:
    return "auth_failed";
  case TW_CHAT_STATUS_STOPPED:
    return "stopped";
  }
  return "unknown";
}

static bool is_login_failure(tw_irc_str_t text) {
  return tw_irc_str_eq(text, "Login authentication failed") ||
         tw_irc_str_eq(text, "Improperly formatted auth") ||
         tw_irc_str_eq(text, "Login unsuccessful");
}

static void on_notice(tw_chat_session_t *s, int slot, const tw_irc_msg_t *m) {
  tw_irc_notice_t n;
  tw_chat_notice_t out;
  char msg_id[64], channel[TW_MAX_CHAT_CHANNEL_NAME + 1];
  char text[TW_MAX_CHAT_DETAIL];
  chan_t *c;

  if (tw_irc_notice(m, &s->scratch, &n) != 0)
    return;
  s->st.notices++;
  if (!n.channel.ptr && is_login_failure(n.text) &&
      s->conns[slot].state != C_READY) {
    view_copy(text, sizeof(text), n.text);
    auth_failed(s, slot, text);
    return;
  }
  memset(&out, 0, sizeof(out));
  out.kind = TW_CHAT_NOTICE_OTHER;
  for (size_t i = 0;
       n.msg_id.ptr && i < sizeof(notice_ids) / sizeof(*notice_ids); i++) {
    if (tw_irc_str_eq(n.msg_id, notice_ids[i].id)) {
      out.kind = notice_ids[i].kind;
      out.send_failed = notice_ids[i].send_failed;
      break;
    }
  }
  view_copy(msg_id, sizeof(msg_id), n.msg_id);
  view_copy(channel, sizeof(channel), n.channel);
  view_copy(text, sizeof(text), n.text);

  /* A refusal while we wait for a JOIN's confirmation is that join's
   * answer. (msg_banned also refuses messages in rooms we are in.) */
  c = find_chan_view(s, n.channel);
  if (c && c->slot[slot].state == J_SENT) {
    int err = 0;
    if (out.kind == TW_CHAT_NOTICE_CHANNEL_SUSPENDED)
      err = TW_ENOTFOUND;
    else if (out.kind == TW_CHAT_NOTICE_BANNED ||
             out.kind == TW_CHAT_NOTICE_TOS_BAN ||
             out.kind == TW_CHAT_NOTICE_CHANNEL_BLOCKED)
      err = TW_EFORBIDDEN;
    if (err) {
      uint64_t id = s->conns[slot].id;
      join_failed(s, slot, c, err, true, text);
      if (s->conns[slot].id != id)
        return;
    }
  }
  /* Only the connection in use speaks for the bot: during a handover the
   * new one would repeat room notices. */
  if (slot != s->primary || !s->ops.notice)
    return;
  out.msg_id = msg_id;
  out.channel = channel;
  out.text = text;
  s->depth++;
  s->ops.notice(s->ud, &out);
  s->depth--;
}

/* ---- events ------------------------------------------------------------- */

/* Whether s[0..n) is valid UTF-8, eight ASCII bytes at a time until the
 * first byte that is not ASCII (chat is mostly ASCII). */
static bool utf8_valid_fast(const char *p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ULL)
      break;
  }
  for (; i < n; i++)
    if ((unsigned char)p[i] & 0x80)
      return tw__utf8_valid(p + i, n - i);
  return true;
}

/* Whether the current line is valid UTF-8, checked once per line. Every
 * string an event takes from a line is a piece of it cut at ASCII
 * separators, or a tag value unescaped (which maps '\' and the byte after
 * it to one byte, and after a '\' valid UTF-8 can only have a character
 * start): so when the line is valid, so is every field, and the parser has
 * already refused NUL bytes. */
static bool line_ok(tw_chat_session_t *s) {
  if (s->line_utf8 < 0)
    s->line_utf8 = utf8_valid_fast(s->line_p, s->line_n) ? 1 : 0;
  return s->line_utf8 == 1;
}

/* Stores p[0..len), taken from the current line, into a string field of
 * ev. Valid text is copied directly (this runs for every field of every
 * chat line); anything else goes through the setter, which repairs it.
 * Values over the cap are cut at a code point boundary rather than lost. */
static void put(tw_chat_session_t *s, tw_event_t *ev, char **slot,
                const char *name, const char *p, size_t len, size_t cap) {
  char *c;
  if (!p)
    return;
  if (len > cap) {
    len = cap;
    while (len > 0 && ((unsigned char)p[len] & 0xC0) == 0x80)
      len--;
  }
  if (line_ok(s)) {
    c = malloc(len + 1);
    if (!c)
      return;
    memcpy(c, p, len);
    c[len] = '\0';
    free(*slot);
    *slot = c;
    return;
  }
  /* Repair may triple the size; keep it within the cap. */
  if (len > cap / 3)
    len = cap / 3;
  tw_event_set_strn(ev, name, p, len);
}

#define PUTV(ev, field, name, v)                                               \
  put(s, (ev), &(ev)->field, (name), (v).ptr, (v).len, TW_MAX_EVENT_STR)

/* Fills the common fields. */
static void put_common(tw_chat_session_t *s, tw_event_t *ev,
                       const tw_irc_msg_t *m, tw_irc_str_t channel,
                       tw_irc_str_t user, tw_irc_str_t user_id,
                       tw_irc_str_t id) {
  char target[TW_MAX_CHAT_CHANNEL_NAME + 2];
  PUTV(ev, user, "user", user);
  PUTV(ev, user_id, "user_id", user_id);
  if (channel.ptr && channel.len <= TW_MAX_CHAT_CHANNEL_NAME) {
    target[0] = '#';
    memcpy(target + 1, channel.ptr, channel.len);
    put(s, ev, &ev->target, "target", target, channel.len + 1,
        TW_MAX_EVENT_STR);
  } else if (channel.ptr) {
    /* Longer than any Twitch login: kept as the server wrote it. */
    char *t = malloc(channel.len + 2);
    if (t) {
      t[0] = '#';
      memcpy(t + 1, channel.ptr, channel.len);
      put(s, ev, &ev->target, "target", t, channel.len + 1, TW_MAX_EVENT_STR);
      free(t);
    }
  }
  /* Checked at creation: valid UTF-8, no NUL. */
  free(ev->connector);
  ev->connector = strdup(s->connector);
  PUTV(ev, event_id, "event_id", id);
  if (!s->o.omit_raw)
    put(s, ev, &ev->raw, "raw", m->line.ptr, m->line.len, TW_MAX_EVENT_RAW);
}

static const tw_irc_str_t NOSTR = {NULL, 0};

/* Whether a line without a dedupe key may be delivered from this slot:
 * from the old connection until the new one has confirmed the channel, then
 * from the new one. */
static bool source_ok(const tw_chat_session_t *s, int slot,
                      tw_irc_str_t channel) {
  int sec = secondary_of(s);
  const chan_t *c;
  if (sec < 0)
    return true;
  /* After the handover the new connection is the source; the old one only
   * brings keyed lines, deduplicated. */
  if (s->conns[sec].draining)
    return slot == s->primary;
  c = find_chan_view(s, channel);
  if (!c)
    return slot == s->primary;
  if (slot == sec)
    return c->slot[sec].state == J_JOINED;
  return c->slot[sec].state != J_JOINED;
}

/* Whether a line with key[0..len) was already delivered during a handover. */
static bool seen_before(tw_chat_session_t *s, const char *key, size_t len) {
  if (!s->dedupe_on || len == 0)
    return false;
  if (tw__chat_dedupe_check(&s->dedupe, key, len)) {
    s->st.duplicates_dropped++;
    return true;
  }
  return false;
}

static bool seen_view(tw_chat_session_t *s, const char *prefix,
                      tw_irc_str_t id) {
  char key[MAX_KEY];
  size_t pl = strlen(prefix);
  if (!s->dedupe_on || !id.ptr || id.len == 0 || pl + id.len > sizeof(key))
    return false;
  memcpy(key, prefix, pl);
  memcpy(key + pl, id.ptr, id.len);
  return seen_before(s, key, pl + id.len);
}

static bool has_badge(tw_irc_str_t badges, const char *name) {
  return badges.ptr && tw_irc_badges_find(badges, name, NULL);
}

static void on_privmsg(tw_chat_session_t *s, int slot, const tw_irc_msg_t *m) {
  tw_irc_privmsg_t p;
  tw_event_t *ev;
  struct tw_event_message *em;

  (void)slot;
  if (tw_irc_privmsg(m, &s->scratch, &p) != 0) {
    s->st.lines_malformed++;
    return;
  }
  if (p.shared.other_room && !s->o.deliver_shared_chat) {
    s->st.shared_skipped++;
    return;
  }
  if (p.id.ptr && p.id.len) {
    if (seen_view(s, "m:", p.id))
      return;
  } else if (!source_ok(s, slot, p.channel)) {
    return;
  }
  ev = tw_event_new(TW_EVENT_MESSAGE);
  if (!ev)
    return;
  em = &ev->u.message;
  put_common(s, ev, m, p.channel, p.sender.login, p.sender.id, p.id);
  PUTV(ev, u.message.text, "text", p.text);
  PUTV(ev, u.message.display_name, "display_name", p.sender.display_name);
  PUTV(ev, u.message.room_id, "room_id", p.room_id);
  PUTV(ev, u.message.badges, "badges", p.sender.badges);
  PUTV(ev, u.message.reply_parent_msg_id, "reply_parent_msg_id",
       p.reply.msg_id);
  em->is_broadcaster = p.sender.broadcaster != 0;
  em->is_moderator = p.sender.mod || has_badge(p.sender.badges, "moderator");
  em->is_vip = p.sender.vip || has_badge(p.sender.badges, "vip");
  em->is_subscriber = p.sender.subscriber ||
                      has_badge(p.sender.badges, "subscriber") ||
                      has_badge(p.sender.badges, "founder");
  em->bits = p.bits == TW_IRC_NONE ? 0 : p.bits;
  em->first_msg = p.first_msg != 0;
  em->is_action = p.is_action != 0;
  em->from_shared_chat = p.shared.other_room != 0;
  emit_event(s, ev);
}

static tw_irc_str_t or_view(tw_irc_str_t a, tw_irc_str_t b) {
  return a.ptr && a.len ? a : b;
}

static void on_usernotice(tw_chat_session_t *s, int slot,
                          const tw_irc_msg_t *m) {
  tw_irc_usernotice_t u;
  tw_event_t *ev = NULL, *ev2 = NULL;
  uint64_t id;

  (void)slot;
  if (tw_irc_usernotice(m, &s->scratch, &u) != 0) {
    s->st.lines_malformed++;
    return;
  }
  if (u.shared.other_room && !s->o.deliver_shared_chat) {
    s->st.shared_skipped++;
    return;
  }
  /* A shared-chat relay of an event carries its original kind. */
  if (u.kind == TW_IRC_UN_SHAREDCHATNOTICE)
    u.kind = u.source_kind;
  switch (u.kind) {
  case TW_IRC_UN_SUB:
  case TW_IRC_UN_RESUB:
  case TW_IRC_UN_SUBGIFT:
  case TW_IRC_UN_ANONSUBGIFT:
  case TW_IRC_UN_SUBMYSTERYGIFT:
  case TW_IRC_UN_ANONSUBMYSTERYGIFT:
  case TW_IRC_UN_RAID:
    break;
  default:
    return; /* announcements, rituals, milestones...: no event kind yet */
  }
  if (u.id.ptr && u.id.len) {
    if (seen_view(s, "u:", u.id))
      return;
  } else if (!source_ok(s, slot, u.channel)) {
    return;
  }

  switch (u.kind) {
  case TW_IRC_UN_SUB:
  case TW_IRC_UN_RESUB: {
    int64_t months =
        u.cumulative_months != TW_IRC_NONE ? u.cumulative_months : u.months;
    ev = tw_event_new(TW_EVENT_USER_SUBSCRIBED);
    if (!ev)
      return;
    put_common(s, ev, m, u.channel, u.sender.login, u.sender.id, u.id);
    if (u.text.ptr)
      PUTV(ev, u.user_subscribed.message, "message", u.text);
    ev->u.user_subscribed.months = months == TW_IRC_NONE ? 0 : months;
    PUTV(ev, u.user_subscribed.tier, "tier", u.sub_plan);
    ev->u.user_subscribed.is_gift = false;
    break;
  }
  case TW_IRC_UN_SUBGIFT:
  case TW_IRC_UN_ANONSUBGIFT:
  case TW_IRC_UN_SUBMYSTERYGIFT:
  case TW_IRC_UN_ANONSUBMYSTERYGIFT: {
    bool single =
        u.kind == TW_IRC_UN_SUBGIFT || u.kind == TW_IRC_UN_ANONSUBGIFT;
    ev = tw_event_new(TW_EVENT_USER_GIFTED_SUBSCRIPTION);
    if (!ev)
      return;
    put_common(s, ev, m, u.channel, u.sender.login, u.sender.id, u.id);
    PUTV(ev, u.user_gifted_subscription.gifter_name, "gifter_name",
         or_view(u.sender.display_name, u.sender.login));
    if (single) {
      PUTV(ev, u.user_gifted_subscription.gifted_name, "gifted_name",
           or_view(u.recipient_display_name, u.recipient_login));
      /* The seed's connector also reported the recipient's subscription
       * (UserSubscribed with is_gift), so skills counting subs see gifts. */
      ev2 = tw_event_new(TW_EVENT_USER_SUBSCRIBED);
      if (ev2) {
        int64_t months = u.months;
        put_common(s, ev2, m, u.channel, u.recipient_login, u.recipient_id,
                   u.id);
        ev2->u.user_subscribed.months = months == TW_IRC_NONE ? 0 : months;
        PUTV(ev2, u.user_subscribed.tier, "tier", u.sub_plan);
        ev2->u.user_subscribed.is_gift = true;
      }
    }
    break;
  }
  case TW_IRC_UN_RAID:
    ev = tw_event_new(TW_EVENT_RAID);
    if (!ev)
      return;
    put_common(s, ev, m, u.channel, or_view(u.raider_login, u.sender.login),
               u.sender.id, u.id);
    PUTV(ev, u.raid.raider, "raider", or_view(u.raider_login, u.sender.login));
    ev->u.raid.viewers = u.viewer_count == TW_IRC_NONE ? 0 : u.viewer_count;
    break;
  default:
    return;
  }
  id = s->conns[slot].id;
  emit_event(s, ev);
  if (ev2) {
    if (s->conns[slot].id == id && !s->stopped)
      emit_event(s, ev2);
    else
      tw_event_free(ev2);
  }
}

static void on_clearchat(tw_chat_session_t *s, int slot,
                         const tw_irc_msg_t *m) {
  tw_irc_clearchat_t c;
  tw_event_t *ev;
  char key[MAX_KEY];
  int n;

  if (tw_irc_clearchat(m, &s->scratch, &c) != 0) {
    s->st.lines_malformed++;
    return;
  }
  /* No id: the room, target and server time identify the line. */
  n = snprintf(key, sizeof(key), "c:%.*s:%.*s:%lld", (int)c.room_id.len,
               c.room_id.ptr ? c.room_id.ptr : "", (int)c.target_user_id.len,
               c.target_user_id.ptr ? c.target_user_id.ptr : "",
               (long long)c.tmi_sent_ts);
  if (c.tmi_sent_ts != TW_IRC_NONE && n > 0 && (size_t)n < sizeof(key)) {
    if (seen_before(s, key, (size_t)n))
      return;
  } else if (!source_ok(s, slot, c.channel)) {
    return;
  }
  if (c.kind == TW_IRC_CLEAR_CHAT) {
    ev = tw_event_new(TW_EVENT_CHAT_CLEARED);
    if (!ev)
      return;
    put_common(s, ev, m, c.channel, NOSTR, NOSTR, NOSTR);
    PUTV(ev, u.chat_cleared.room_id, "room_id", c.room_id);
  } else {
    ev = tw_event_new(TW_EVENT_USER_BANNED);
    if (!ev)
      return;
    put_common(s, ev, m, c.channel, c.target_login, c.target_user_id, NOSTR);
    PUTV(ev, u.user_banned.room_id, "room_id", c.room_id);
    ev->u.user_banned.duration =
        c.kind == TW_IRC_CLEAR_TIMEOUT && c.duration_s != TW_IRC_NONE
            ? c.duration_s
            : 0;
  }
  emit_event(s, ev);
}

static void on_clearmsg(tw_chat_session_t *s, int slot, const tw_irc_msg_t *m) {
  tw_irc_clearmsg_t c;
  tw_event_t *ev;

  if (tw_irc_clearmsg(m, &s->scratch, &c) != 0) {
    s->st.lines_malformed++;
    return;
  }
  if (c.target_msg_id.ptr && c.target_msg_id.len) {
    if (seen_view(s, "d:", c.target_msg_id))
      return;
  } else if (!source_ok(s, slot, c.channel)) {
    return;
  }
  ev = tw_event_new(TW_EVENT_MESSAGE_DELETED);
  if (!ev)
    return;
  put_common(s, ev, m, c.channel, c.login, NOSTR, NOSTR);
  PUTV(ev, u.message_deleted.id, "id", c.target_msg_id);
  PUTV(ev, u.message_deleted.text, "text", c.text);
  PUTV(ev, u.message_deleted.room_id, "room_id", c.room_id);
  emit_event(s, ev);
}

static void on_membership(tw_chat_session_t *s, int slot, const tw_irc_msg_t *m,
                          bool join) {
  tw_irc_membership_t mb;
  tw_event_t *ev;
  bool self;

  if ((join ? tw_irc_join(m, &mb) : tw_irc_part(m, &mb)) != 0) {
    s->st.lines_malformed++;
    return;
  }
  self = s->self[0] && tw_irc_str_eq(mb.login, s->self);
  if (self && !join) {
    /* We did not ask to leave (a requested PART forgets the channel first):
     * the server removed us, typically a ban. Join again later, within the
     * bounded attempts. */
    chan_t *c = find_chan_view(s, mb.channel);
    if (c && c->slot[slot].state == J_JOINED) {
      join_t *j = &c->slot[slot];
      char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
      uint64_t id = s->conns[slot].id;
      j->state = J_NONE;
      j->attempts++;
      if (j->attempts >= s->o.join_attempts) {
        j->state = J_FAILED;
      } else {
        j->retry_at_ms = add_sat(s->now, s->o.join_timeout_ms);
      }
      s->joins_dirty = true;
      memcpy(name, c->name, sizeof(name));
      if (slot == s->primary) {
        set_detail(s, "the server removed us from #%s", name);
        tw_warn(MOD, "%s", s->detail);
        emit_status(s, TW_CHAT_STATUS_PARTED, TW_EFORBIDDEN, name, s->detail,
                    j->state == J_FAILED ? UINT64_MAX
                                         : (uint64_t)s->o.join_timeout_ms);
      }
      if (s->conns[slot].id != id)
        return;
    }
  }
  if (self && !s->o.deliver_own_membership)
    return;
  if (!source_ok(s, slot, mb.channel))
    return;
  ev = tw_event_new(join ? TW_EVENT_JOIN_ROOM : TW_EVENT_LEAVE_ROOM);
  if (!ev)
    return;
  put_common(s, ev, m, mb.channel, mb.login, NOSTR, NOSTR);
  emit_event(s, ev);
}

/* ---- the line dispatcher ------------------------------------------------ */

static void on_roomstate(tw_chat_session_t *s, int slot,
                         const tw_irc_msg_t *m) {
  tw_irc_roomstate_t r;
  chan_t *c;
  join_t *j;
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];

  if (tw_irc_roomstate(m, NULL, &r) != 0)
    return;
  c = find_chan_view(s, r.channel);
  if (!c)
    return;
  j = &c->slot[slot];
  /* The full ROOMSTATE after a JOIN confirms it (a late one too, after a
   * timeout gave up on it); mode changes arrive on joined rooms only. */
  if (j->state == J_JOINED)
    return;
  j->state = J_JOINED;
  j->attempts = 0;
  s->joins_dirty = true;
  s->send_dirty = true;
  memcpy(name, c->name, sizeof(name));
  tw_info(MOD, "joined #%s", name);
  emit_status(s, TW_CHAT_STATUS_JOINED, 0, name, NULL, UINT64_MAX);
}

static void on_userstate(tw_chat_session_t *s, const tw_irc_msg_t *m) {
  tw_irc_userstate_t u;
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
  bool priv;

  if (tw_irc_userstate(m, NULL, &u) != 0 || !u.channel.ptr ||
      u.channel.len > TW_MAX_CHAT_CHANNEL_NAME)
    return;
  view_copy(name, sizeof(name), u.channel);
  /* Broadcasters, moderators and VIPs get the higher sending limit. */
  priv = u.user.broadcaster || u.user.mod || u.user.vip ||
         has_badge(u.user.badges, "broadcaster") ||
         has_badge(u.user.badges, "moderator") ||
         has_badge(u.user.badges, "vip") ||
         tw_irc_str_eq(u.user.user_type, "mod");
  if (tw_chatq_set_privileged(s->q, name, priv) == 0)
    s->send_dirty = true;
}

static void on_reconnect(tw_chat_session_t *s, int slot) {
  conn_t *c = &s->conns[slot];
  uint64_t delay = 0;

  if (c->draining)
    return; /* already being replaced */
  if (slot != s->primary) {
    /* The new connection is told to move too: start it again. */
    lose_conn(s, slot, TW_ECLOSED, "RECONNECT on the new connection");
    return;
  }
  if (c->moving)
    return;
  c->moving = true;
  s->st.server_reconnects++;
  /* A connection that was asked to move soon after it came up is not given
   * a new one at once: a server repeating RECONNECT must not make us log in
   * in a loop. */
  if (c->state != C_READY ||
      s->now < add_sat(c->ready_ms, s->o.backoff_healthy_ms))
    delay = tw_backoff_next(&s->backoff, s->now);
  s->secondary_open_ms = add_sat(s->now, delay);
  tw_info(MOD, "server asked to reconnect; opening a new connection in %llu ms",
          (unsigned long long)delay);
  emit_status(s, TW_CHAT_STATUS_RECONNECT, 0, NULL,
              "the server asked to reconnect", delay);
}

static void dispatch(tw_chat_session_t *s, int slot, const tw_irc_msg_t *m) {
  conn_t *c = &s->conns[slot];
  switch (m->cmd) {
  case TW_IRC_CMD_PING: {
    tw_irc_ping_t p;
    if (tw_irc_ping(m, &p) != 0 || !p.text.ptr) {
      out_line(s, slot, "PONG");
    } else {
      /* Echo the text; it comes from the server's own line, which the
       * parser guarantees holds no CR, LF or NUL. */
      out_line(s, slot, "PONG :%.*s",
               (int)(p.text.len > 400 ? 400 : p.text.len), p.text.ptr);
    }
    return;
  }
  case TW_IRC_CMD_PONG:
    c->ping_out = false;
    return;
  case TW_IRC_CMD_PRIVMSG:
    on_privmsg(s, slot, m);
    return;
  case TW_IRC_CMD_USERNOTICE:
    on_usernotice(s, slot, m);
    return;
  case TW_IRC_CMD_CLEARCHAT:
    on_clearchat(s, slot, m);
    return;
  case TW_IRC_CMD_CLEARMSG:
    on_clearmsg(s, slot, m);
    return;
  case TW_IRC_CMD_JOIN:
    on_membership(s, slot, m, true);
    return;
  case TW_IRC_CMD_PART:
    on_membership(s, slot, m, false);
    return;
  case TW_IRC_CMD_NOTICE:
    on_notice(s, slot, m);
    return;
  case TW_IRC_CMD_ROOMSTATE:
    on_roomstate(s, slot, m);
    return;
  case TW_IRC_CMD_USERSTATE:
    on_userstate(s, m);
    return;
  case TW_IRC_CMD_GLOBALUSERSTATE:
    if (c->got_001) {
      c->got_gus = true;
      check_login(s, slot);
    }
    return;
  case TW_IRC_CMD_RECONNECT:
    on_reconnect(s, slot);
    return;
  case TW_IRC_CMD_CAP: {
    tw_irc_cap_t cap;
    if (tw_irc_cap(m, &cap) == 0 && cap.nak) {
      c->caps_nak = true;
      tw_warn(MOD, "the server refused capabilities: %.*s",
              (int)(cap.list.len > 200 ? 200 : cap.list.len),
              cap.list.ptr ? cap.list.ptr : "");
    }
    return;
  }
  case TW_IRC_CMD_NUMERIC:
    if (m->numeric == 1) {
      tw_irc_numeric_t n;
      c->got_001 = true;
      /* Twitch names the account the token belongs to. */
      if (tw_irc_numeric(m, &n) == 0 && n.target.ptr && n.target.len &&
          n.target.len <= TW_MAX_CHAT_LOGIN && !s->anonymous)
        view_copy(s->self, sizeof(s->self), n.target);
    } else if (m->numeric == 376) {
      c->got_376 = true;
      check_login(s, slot);
    }
    return;
  default:
    return;
  }
}

int tw_chat_session_feed(tw_chat_session_t *s, uint64_t conn, const char *line,
                         size_t len, uint64_t now_ms) {
  tw_irc_msg_t m;
  int slot;

  if (!s || !line)
    return TW_EINVAL;
  if (s->depth)
    return TW_ESTATE;
  if (now_ms > s->now)
    s->now = now_ms;
  slot = slot_of(s, conn);
  if (slot < 0)
    return TW_ENOTFOUND;
  s->st.lines_received++;
  s->conns[slot].last_rx_ms = s->now;
  /* Any line proves the connection alive, as a PONG would. */
  s->conns[slot].ping_out = false;
  s->line_p = line;
  s->line_n = len;
  s->line_utf8 = -1;
  if (tw_irc_parse(&m, line, len) != 0) {
    s->st.lines_malformed++;
    tw_debug(MOD, "skipped a malformed line: %s", tw_irc_err_str(m.err));
    return TW_EPARSE;
  }
  dispatch(s, slot, &m);
  leave(s);
  return 0;
}

/* ---- time --------------------------------------------------------------- */

uint64_t tw_chat_session_deadline(const tw_chat_session_t *s) {
  uint64_t d = UINT64_MAX;
  int sec;
  if (!s || s->stopped || !s->started)
    return UINT64_MAX;
  sec = secondary_of(s);
  if (!s->waiting_token) {
    if (s->primary < 0)
      d = min_u64(d, s->next_open_ms);
    else if (s->conns[s->primary].moving && (sec < 0 || s->conns[sec].draining))
      d = min_u64(d, s->secondary_open_ms);
  }
  for (int i = 0; i < NSLOTS; i++) {
    const conn_t *c = &s->conns[i];
    if (c->id == 0)
      continue;
    if (c->draining)
      d = min_u64(d, c->drain_ms);
    else if (c->state != C_READY)
      d = min_u64(d, add_sat(c->opened_ms, s->o.login_timeout_ms));
    else if (c->ping_out)
      d = min_u64(d, add_sat(c->ping_sent_ms, s->o.pong_timeout_ms));
    else
      d = min_u64(d, add_sat(c->last_rx_ms, s->o.ping_idle_ms));
  }
  d = min_u64(d, s->join_deadline);
  d = min_u64(d, s->send_at);
  if (s->dedupe_on && sec < 0)
    d = min_u64(d, s->dedupe_until);
  if (s->joins_dirty || s->send_dirty)
    d = min_u64(d, s->now);
  return d;
}

void tw_chat_session_tick(tw_chat_session_t *s, uint64_t now_ms) {
  if (!s || s->depth)
    return;
  if (now_ms > s->now)
    s->now = now_ms;
  if (s->stopped || !s->started)
    return;
  for (int i = 0; i < NSLOTS && !s->stopped; i++) {
    conn_t *c = &s->conns[i];
    if (c->id == 0)
      continue;
    if (c->draining) {
      if (s->now >= c->drain_ms) {
        drop_slot(s, i);
        s->dedupe_until = add_sat(s->now, s->o.dedupe_grace_ms);
      }
    } else if (c->state != C_READY) {
      if (s->now >= add_sat(c->opened_ms, s->o.login_timeout_ms))
        lose_conn(s, i, TW_ETIMEDOUT,
                  c->state == C_CONNECTING ? "connecting timed out"
                                           : "the login timed out");
    } else if (c->ping_out) {
      if (s->now >= add_sat(c->ping_sent_ms, s->o.pong_timeout_ms)) {
        s->st.ping_timeouts++;
        lose_conn(s, i, TW_ETIMEDOUT,
                  "no answer to our PING: the connection is dead");
      }
    } else if (s->now >= add_sat(c->last_rx_ms, s->o.ping_idle_ms)) {
      /* Quiet for a while: ask the server for a sign of life. */
      c->ping_out = true;
      c->ping_sent_ms = s->now;
      s->st.pings_sent++;
      out_line(s, i, "PING :tw%llu", (unsigned long long)++s->ping_seq);
    }
  }
  expire_dedupe(s);
  leave(s);
}

/* ---- entry points ------------------------------------------------------- */

int tw_chat_session_start(tw_chat_session_t *s, uint64_t now_ms) {
  if (!s)
    return TW_EINVAL;
  if (s->depth || s->started || s->stopped)
    return TW_ESTATE;
  if (now_ms > s->now)
    s->now = now_ms;
  s->started = true;
  s->next_open_ms = 0;
  leave(s);
  return 0;
}

/* Stops with the reason already in s->detail. */
static void do_stop(tw_chat_session_t *s, int err) {
  s->stopped = true;
  s->waiting_token = false;
  for (int i = 0; i < NSLOTS; i++)
    if (s->conns[i].id != 0)
      drop_slot(s, i);
  s->primary = -1;
  emit_status(s, TW_CHAT_STATUS_STOPPED, err, NULL, s->detail, UINT64_MAX);
}

void tw_chat_session_stop(tw_chat_session_t *s, int err, uint64_t now_ms) {
  if (!s || s->stopped)
    return;
  if (now_ms > s->now)
    s->now = now_ms;
  if (err == 0)
    set_detail(s, "closed");
  else
    set_detail(s, "stopped: %s", tw_strerror(err));
  do_stop(s, err);
}

int tw_chat_session_say(tw_chat_session_t *s, const char *channel,
                        const char *text, const char *reply_to, bool is_action,
                        uint64_t now_ms) {
  int err;
  if (!s || !channel || !text)
    return TW_EINVAL;
  if (s->stopped)
    return TW_ESTATE;
  if (s->anonymous)
    return TW_EFORBIDDEN;
  if (now_ms > s->now)
    s->now = now_ms;
  err = tw_chatq_say(s->q, channel, text, reply_to, is_action, s->now);
  if (err == TW_EFULL)
    s->st.send_rejected++;
  if (err)
    return err;
  s->send_dirty = true;
  leave(s);
  return 0;
}

int tw_chat_session_join(tw_chat_session_t *s, const char *channel,
                         uint64_t now_ms) {
  chan_t *c = NULL;
  int err;
  if (!s || !channel)
    return TW_EINVAL;
  if (s->stopped)
    return TW_ESTATE;
  if (now_ms > s->now)
    s->now = now_ms;
  err = add_chan(s, channel, &c);
  if (err < 0)
    return err;
  if (err == 1) {
    /* Already wanted: a failed join is tried afresh, as the caller asks. */
    for (int i = 0; i < NSLOTS; i++)
      if (c->slot[i].state == J_FAILED)
        memset(&c->slot[i], 0, sizeof(join_t));
  }
  s->joins_dirty = true;
  leave(s);
  return 0;
}

int tw_chat_session_part(tw_chat_session_t *s, const char *channel,
                         uint64_t now_ms) {
  char norm[TW_MAX_CHAT_CHANNEL_NAME + 1];
  size_t i;
  chan_t *c;
  int dropped;
  if (!s || !channel)
    return TW_EINVAL;
  if (tw__chat_channel_normalize(channel, norm) != 0)
    return TW_EINVAL;
  if (s->stopped)
    return TW_ESTATE;
  if (now_ms > s->now)
    s->now = now_ms;
  for (i = 0; i < s->nchans; i++)
    if (strcmp(s->chans[i]->name, norm) == 0)
      break;
  if (i == s->nchans)
    return 0;
  c = s->chans[i];
  /* Forget the channel first, so that the PART echo reads as requested. */
  s->chans[i] = s->chans[--s->nchans];
  for (int k = 0; k < NSLOTS; k++)
    if (s->conns[k].state == C_READY &&
        (c->slot[k].state == J_SENT || c->slot[k].state == J_JOINED))
      out_line(s, k, "PART #%s", norm);
  free(c);
  dropped = tw_chatq_clear(s->q, norm);
  if (dropped > 0)
    tw_info(MOD, "left #%s; dropped %d queued message(s)", norm, dropped);
  tw_chatq_set_privileged(s->q, norm, false);
  s->joins_dirty = true;
  s->send_dirty = true;
  leave(s);
  return 0;
}

int tw_chat_session_set_token(tw_chat_session_t *s, const char *token,
                              uint64_t now_ms) {
  char tmp[TW_MAX_CHAT_TOKEN + 1];
  int err;
  if (!s)
    return TW_EINVAL;
  err = store_token(tmp, token);
  if (err)
    return err;
  if (now_ms > s->now)
    s->now = now_ms;
  if (s->anonymous)
    return TW_ESTATE; /* a guest login has no token to replace */
  memcpy(s->token, tmp, sizeof(tmp));
  if (s->waiting_token) {
    s->waiting_token = false;
    leave(s);
  }
  return 0;
}

void tw_chat_session_token_failed(tw_chat_session_t *s, int err,
                                  uint64_t now_ms) {
  if (!s || s->stopped)
    return;
  if (now_ms > s->now)
    s->now = now_ms;
  if (err == TW_EAUTH) {
    set_detail(s, "the token could not be refreshed: the credentials were "
                  "refused; authorize again");
    tw_error(MOD, "%s", s->detail);
    do_stop(s, TW_EAUTH);
    return;
  }
  /* A passing failure (network): log in again with the token we have, after
   * the backoff already chosen; the failure count keeps this bounded. */
  s->waiting_token = false;
  leave(s);
}

bool tw_chat_session_is_joined(const tw_chat_session_t *s,
                               const char *channel) {
  char norm[TW_MAX_CHAT_CHANNEL_NAME + 1];
  const chan_t *c;
  if (!s || s->primary < 0 || tw__chat_channel_normalize(channel, norm) != 0)
    return false;
  c = find_chan(s, norm);
  return c && c->slot[s->primary].state == J_JOINED;
}

bool tw_chat_session_is_ready(const tw_chat_session_t *s) {
  return s && s->primary >= 0 && s->conns[s->primary].state == C_READY;
}

bool tw_chat_session_is_stopped(const tw_chat_session_t *s) {
  return s && s->stopped;
}

void tw_chat_session_count_malformed(tw_chat_session_t *s, uint64_t n) {
  if (s) {
    s->st.lines_malformed += n;
    s->st.lines_received += n;
  }
}

void tw_chat_session_count_bytes(tw_chat_session_t *s, uint64_t n) {
  if (s)
    s->st.bytes_received += n;
}

void tw_chat_session_stats(const tw_chat_session_t *s, tw_chat_stats_t *out) {
  tw_chatq_stats_t q;
  if (!s || !out)
    return;
  *out = s->st;
  tw_chatq_stats(s->q, s->now, &q);
  out->send_queued = q.queued;
}

const char *tw_chat_session_nick(const tw_chat_session_t *s) {
  return s ? s->nick : "";
}

const char *tw_chat_session_detail(const tw_chat_session_t *s) {
  return s ? s->detail : "";
}
