/* The simulator's chat server core (see sim_chat.h): Twitch's side of IRC,
 * sans-IO.
 *
 * Formats are copied from docs/twitch-protocol.md sections 4.2 and 4.3.
 * Where Twitch documents nothing, the choice made here is written next to
 * the code and in docs/simulator.md.
 */
#include "sim/sim_chat.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_map.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"
#include "twitchd/irc_tags.h"
#include "twitchd/irc_twitch.h"
#include "twitchd/oauth.h"

#define SERVER "tmi.twitch.tv"
#define EMOTE_SETS "0,300374282"
/* Largest line the core builds itself (a relayed PRIVMSG with reply tags:
 * at most about 2 KiB of text, 4 KiB of escaped parent body, tags). */
#define LB_CAP 32768
/* Flood lines are appended in batches of about this many bytes, which
 * become large writes and full-size TLS records downstream. */
#define FLOOD_BATCH (64u * 1024u)
/* An emptied output queue keeps at most this much memory. */
#define OUT_KEEP (64u * 1024u)

/* ---- types -------------------------------------------------------------- */

/* Timestamps of recent events in a sliding window, oldest first. */
typedef struct {
  uint64_t *ts;
  uint32_t cap, head, n;
} win_t;

typedef struct {
  char login[TW_SIM_MAX_LOGIN + 1];
  char id[TW_SIM_MAX_ID + 1];
  char display[TW_SIM_MAX_DISPLAY + 1];
  char color[8];
  int verified;
  win_t msgs;  /* accepted messages */
  win_t joins; /* accepted JOINs */
  uint64_t locked_until;
  tw_sim_user_counters_t cnt;
} user_t;

/* An access token. Chat tokens added with tw_sim_add_token() get the
 * scopes their flags imply; OAuth tokens carry what was granted. An app
 * token (client credentials) has no user and cannot log in to chat. */
typedef struct {
  user_t *user; /* NULL: app token */
  unsigned flags;
  char client_id[TW_SIM_MAX_CLIENT_ID + 1];
  tw_scopes_t scopes;
  uint64_t expires_at; /* monotonic ms; 0: never */
  int revoked;
} token_t;

/* A user's state in one room. */
typedef struct {
  tw_sim_role_t role; /* NONE, VIP or MOD */
  int has_last;
  uint64_t last_ms; /* last accepted message */
  char *last_text;  /* for msg_duplicate */
  size_t last_len;
  int spoken; /* first-msg=0 from now on */
} member_t;

/* A remembered message, for reply-parent-* tags. */
typedef struct {
  char id[TW_SIM_MSG_ID_SIZE];
  char thread_id[TW_SIM_MSG_ID_SIZE];
  char user_id[TW_SIM_MAX_ID + 1];
  char login[TW_SIM_MAX_NICK + 1];
  char thread_login[TW_SIM_MAX_NICK + 1];
  char display[TW_SIM_MAX_DISPLAY + 1];
  char *body;
  size_t body_len;
} hist_t;

typedef struct {
  char name[TW_SIM_MAX_LOGIN + 1];
  char id[TW_SIM_MAX_ID + 1];
  int suspended;
  int emote_only, followers_only, r9k, slow, subs_only;
  tw_simchat_conn_t **conns;
  size_t nconns, cconns;
  tw__simmap_t members; /* login -> member_t */
  hist_t **hist;        /* ring of TW_SIM_ROOM_HISTORY, allocated lazily */
  size_t hist_head, hist_n;
} room_t;

struct tw_simchat_conn {
  tw_simchat_t *sc;
  tw_simchat_conn_t *prev, *next;
  uint64_t id;
  void *ud;
  tw_sim_transport_t transport;
  int registered, anonymous, closing, stalled, wake_pending;
  unsigned caps;
  unsigned token_flags;
  char *pass; /* PASS value until NICK; then freed */
  char nick[TW_SIM_MAX_NICK + 1];
  user_t *user; /* NULL when anonymous or not logged in */
  room_t *rooms[TW_SIM_MAX_CONN_ROOMS];
  size_t nrooms;
  char *out;
  size_t out_off, out_len, out_alloc;
  tw_irc_splitter_t *split;
  uint64_t next_ping, pong_deadline, close_at;
  uint64_t lines;
};

typedef struct {
  size_t off, len;   /* in buf, len includes CR LF */
  uint32_t tagskip;  /* bytes of the tag section and its space */
  uint8_t twitchcmd; /* needs twitch.tv/commands */
  uint8_t member;    /* JOIN/PART: needs twitch.tv/membership */
} fline_t;

typedef struct {
  int active;
  room_t *room;
  char room_name[TW_SIM_MAX_LOGIN + 1];
  char *buf;
  size_t buflen;
  fline_t *lines;
  size_t nlines;
  size_t next;
  uint64_t sent, total, bytes;
} flood_t;

typedef struct {
  uint64_t seq, conn, at;
  char login[TW_SIM_MAX_NICK + 1];
  size_t len;
  char line[];
} rec_t;

struct tw_simchat {
  tw_sim_chat_opts_t o;
  tw_simchat_io_t io;
  void *io_ud;
  tw_sim_event_cb obs;
  void *obs_ud;
  tw_simchat_ban_check_fn ban_check;
  void *ban_ud;
  uint64_t rng;
  int64_t wall_offset;
  uint64_t now;
  uint64_t next_conn_id;
  uint64_t next_user_id;
  tw__simmap_t users, tokens, rooms;
  tw_simchat_conn_t *head, *tail;
  size_t nconns;
  tw_sim_counters_t cnt;
  /* read-back ring */
  rec_t **rec;
  size_t rec_head, rec_n, rec_bytes;
  uint64_t rec_seq;
  flood_t flood;
  /* line builder */
  char lb[LB_CAP];
  size_t lb_len;
  int lb_over;
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rng_next(tw_simchat_t *sc) {
  /* splitmix64: good enough for message ids, and reproducible from a seed. */
  uint64_t z = (sc->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void make_uuid(tw_simchat_t *sc, char out[TW_SIM_MSG_ID_SIZE]) {
  uint64_t a = rng_next(sc), b = rng_next(sc);
  a = (a & ~0xf000ull) | 0x4000ull;                        /* version 4 */
  b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull; /* variant */
  snprintf(out, TW_SIM_MSG_ID_SIZE, "%08x-%04x-%04x-%04x-%012llx",
           (unsigned)(a >> 32), (unsigned)((a >> 16) & 0xffff),
           (unsigned)(a & 0xffff), (unsigned)(b >> 48),
           (unsigned long long)(b & 0xffffffffffffull));
}

static uint64_t clamp_now(tw_simchat_t *sc, uint64_t now) {
  if (now > sc->now)
    sc->now = now;
  return sc->now;
}

static uint64_t wall_ms(const tw_simchat_t *sc) {
  return (uint64_t)((int64_t)sc->now + sc->wall_offset);
}

int tw__sim_valid_login(const char *s, size_t n) {
  if (n == 0 || n > TW_SIM_MAX_LOGIN)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
      return 0;
  }
  return 1;
}

static int valid_digits(const char *s, size_t n) {
  if (n == 0 || n > TW_SIM_MAX_ID)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static int valid_color(const char *s) {
  size_t n = strlen(s);
  if (n == 0)
    return 1;
  if (n != 7 || s[0] != '#')
    return 0;
  for (size_t i = 1; i < 7; i++)
    if (!isxdigit((unsigned char)s[i]))
      return 0;
  return 1;
}

static int valid_text(const char *s, size_t n, size_t max) {
  if (n == 0 || n > max)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      return 0;
  return 1;
}

static int valid_token(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > TW_SIM_MAX_TOKEN)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
      return 0;
  return 1;
}

/* "#name" or "name" -> name, validated. */
static int room_arg(const char *room, const char **name, size_t *len) {
  if (!room)
    return TW_EINVAL;
  if (room[0] == '#')
    room++;
  size_t n = strlen(room);
  if (!tw__sim_valid_login(room, n))
    return TW_EINVAL;
  *name = room;
  *len = n;
  return 0;
}

int tw__sim_tag_escape(const char *in, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    const char *rep = NULL;
    switch (in[i]) {
    case ';':
      rep = "\\:";
      break;
    case ' ':
      rep = "\\s";
      break;
    case '\\':
      rep = "\\\\";
      break;
    case '\r':
      rep = "\\r";
      break;
    case '\n':
      rep = "\\n";
      break;
    default:
      break;
    }
    size_t k = rep ? 2 : 1;
    if (o + k + 1 > cap)
      return TW_ETOOBIG;
    if (rep) {
      out[o++] = rep[0];
      out[o++] = rep[1];
    } else {
      out[o++] = in[i];
    }
  }
  if (o + 1 > cap)
    return TW_ETOOBIG;
  out[o] = '\0';
  return (int)o;
}

/* ---- sliding windows ---------------------------------------------------- */

static void win_free(win_t *w) {
  free(w->ts);
  memset(w, 0, sizeof(*w));
}

static void win_expire(win_t *w, uint64_t now, uint64_t window) {
  while (w->n && w->ts[w->head] + window <= now) {
    w->head = (w->head + 1) % w->cap;
    w->n--;
  }
}

/* Makes room for `cap` timestamps, keeping the ones held. */
static int win_ensure(win_t *w, uint32_t cap) {
  if (w->cap >= cap)
    return 0;
  uint64_t *ts = malloc(sizeof(*ts) * cap);
  if (!ts)
    return TW_ENOMEM;
  for (uint32_t i = 0; i < w->n; i++)
    ts[i] = w->ts[(w->head + i) % w->cap];
  free(w->ts);
  w->ts = ts;
  w->cap = cap;
  w->head = 0;
  return 0;
}

static void win_push(win_t *w, uint64_t now) {
  if (w->cap == 0)
    return;
  if (w->n == w->cap) { /* cannot happen when callers check the limit */
    w->head = (w->head + 1) % w->cap;
    w->n--;
  }
  w->ts[(w->head + w->n) % w->cap] = now;
  w->n++;
}

/* ---- events ------------------------------------------------------------- */

static void emit(tw_simchat_t *sc, tw_sim_event_kind_t kind,
                 const tw_simchat_conn_t *c, const char *room, const char *line,
                 size_t len, const char *msg_id, tw_sim_drop_t reason,
                 uint64_t count) {
  if (!sc->obs)
    return;
  tw_sim_event_t ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = kind;
  ev.conn = c ? c->id : 0;
  ev.login = c && c->registered ? c->nick : NULL;
  ev.room = room;
  ev.line = line;
  ev.len = len;
  ev.msg_id = msg_id;
  ev.reason = reason;
  ev.count = count;
  sc->obs(sc->obs_ud, &ev);
}

/* ---- output ------------------------------------------------------------- */

static void conn_close(tw_simchat_conn_t *c, int abrupt);

static void wake(tw_simchat_conn_t *c) {
  if (c->wake_pending || c->stalled || c->out_len == 0)
    return;
  c->wake_pending = 1;
  if (c->sc->io.wake)
    c->sc->io.wake(c->sc->io_ud, c);
}

/* Makes room for n more queued bytes. Returns 0, or non-zero when the
 * client is over its cap (then it has been disconnected). */
static int out_reserve(tw_simchat_conn_t *c, size_t n) {
  tw_simchat_t *sc = c->sc;
  if (c->out_len + n > sc->o.max_output) {
    /* A client that does not read is cut off, as a real server would
     * rather than buffer without bound. */
    sc->cnt.slow_disconnects++;
    conn_close(c, 1);
    return -1;
  }
  if (c->out_off + c->out_len + n <= c->out_alloc)
    return 0;
  if (c->out_off) {
    memmove(c->out, c->out + c->out_off, c->out_len);
    c->out_off = 0;
    if (c->out_len + n <= c->out_alloc)
      return 0;
  }
  size_t want = c->out_alloc ? c->out_alloc : 4096;
  while (want < c->out_len + n)
    want *= 2;
  if (want > sc->o.max_output)
    want = sc->o.max_output;
  char *p = realloc(c->out, want);
  if (!p) {
    conn_close(c, 1);
    return -1;
  }
  c->out = p;
  c->out_alloc = want;
  return 0;
}

/* Queues one line (without terminator) plus CR LF. */
static void out_line(tw_simchat_conn_t *c, const char *line, size_t len) {
  if (c->closing)
    return;
  if (out_reserve(c, len + 2) != 0)
    return;
  char *dst = c->out + c->out_off + c->out_len;
  memcpy(dst, line, len);
  dst[len] = '\r';
  dst[len + 1] = '\n';
  c->out_len += len + 2;
  c->sc->cnt.lines_out++;
  c->sc->cnt.bytes_out += len + 2;
  wake(c);
}

/* Queues a block of complete lines (each ending in CR LF). */
static void out_block(tw_simchat_conn_t *c, const char *p, size_t len,
                      size_t nlines) {
  if (c->closing || len == 0)
    return;
  if (out_reserve(c, len) != 0)
    return;
  memcpy(c->out + c->out_off + c->out_len, p, len);
  c->out_len += len;
  c->sc->cnt.lines_out += nlines;
  c->sc->cnt.bytes_out += len;
  wake(c);
}

size_t tw__simchat_out_peek(tw_simchat_conn_t *c, const char **p) {
  *p = c->out ? c->out + c->out_off : "";
  return c->out_len;
}

void tw__simchat_out_consume(tw_simchat_conn_t *c, size_t n) {
  if (n > c->out_len)
    n = c->out_len;
  c->out_off += n;
  c->out_len -= n;
  if (c->out_len == 0) {
    c->out_off = 0;
    c->wake_pending = 0;
    if (c->out_alloc > OUT_KEEP) {
      /* Give back what a flood made the queue grow to. */
      free(c->out);
      c->out = NULL;
      c->out_alloc = 0;
    }
  }
}

/* The bytes of a line's tag section and the space(s) after it. */
static size_t tag_skip(const char *line, size_t len) {
  if (len == 0 || line[0] != '@')
    return 0;
  size_t i = 0;
  while (i < len && line[i] != ' ')
    i++;
  while (i < len && line[i] == ' ')
    i++;
  return i;
}

/* Queues a server line, honouring the connection's caps: Twitch-specific
 * commands need twitch.tv/commands, tags need twitch.tv/tags. Returns 1
 * when queued. */
static int deliver(tw_simchat_conn_t *c, const char *line, size_t len,
                   size_t tagskip, int twitchcmd) {
  if (c->closing)
    return 0;
  if (twitchcmd && !(c->caps & TW_SIM_CAP_COMMANDS))
    return 0;
  if (!(c->caps & TW_SIM_CAP_TAGS)) {
    line += tagskip;
    len -= tagskip;
  }
  out_line(c, line, len);
  return 1;
}

/* ---- line builder ------------------------------------------------------- */

static void lb_reset(tw_simchat_t *sc) {
  sc->lb_len = 0;
  sc->lb_over = 0;
}

static void lb_add(tw_simchat_t *sc, const char *s, size_t n) {
  if (sc->lb_over || n > LB_CAP - 1 - sc->lb_len) {
    sc->lb_over = 1;
    return;
  }
  memcpy(sc->lb + sc->lb_len, s, n);
  sc->lb_len += n;
}

static void lb_str(tw_simchat_t *sc, const char *s) {
  lb_add(sc, s, strlen(s));
}

static void lb_fmt(tw_simchat_t *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void lb_fmt(tw_simchat_t *sc, const char *fmt, ...) {
  if (sc->lb_over)
    return;
  va_list ap;
  va_start(ap, fmt);
  size_t room = LB_CAP - sc->lb_len;
  int n = vsnprintf(sc->lb + sc->lb_len, room, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= room) {
    sc->lb_over = 1;
    return;
  }
  sc->lb_len += (size_t)n;
}

static void lb_esc(tw_simchat_t *sc, const char *s, size_t n) {
  if (sc->lb_over)
    return;
  int k = tw__sim_tag_escape(s, n, sc->lb + sc->lb_len, LB_CAP - sc->lb_len);
  if (k < 0) {
    sc->lb_over = 1;
    return;
  }
  sc->lb_len += (size_t)k;
}

/* A line from the server with no tags: ":tmi.twitch.tv <fmt>". */
static void server_line(tw_simchat_conn_t *c, int twitchcmd, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));
static void server_line(tw_simchat_conn_t *c, int twitchcmd, const char *fmt,
                        ...) {
  char buf[1024];
  static const char prefix[] = ":" SERVER " ";
  memcpy(buf, prefix, sizeof(prefix) - 1);
  size_t room = sizeof(buf) - (sizeof(prefix) - 1);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + sizeof(prefix) - 1, room, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= room)
    return;
  deliver(c, buf, sizeof(prefix) - 1 + (size_t)n, 0, twitchcmd);
}

/* "@msg-id=<id> :tmi.twitch.tv NOTICE #room :<text>" */
static void notice(tw_simchat_conn_t *c, const char *room, const char *msgid,
                   const char *text) {
  char buf[1024];
  int n = snprintf(buf, sizeof(buf), "@msg-id=%s :" SERVER " NOTICE #%s :%s",
                   msgid, room, text);
  if (n < 0 || (size_t)n >= sizeof(buf))
    return;
  deliver(c, buf, (size_t)n, tag_skip(buf, (size_t)n), 1);
}

/* ---- users, tokens, rooms ----------------------------------------------- */

static user_t *user_get(const tw_simchat_t *sc, const char *login) {
  return tw__simmap_get(&sc->users, login, strlen(login));
}

static int user_create(tw_simchat_t *sc, const char *login, user_t **out) {
  if (sc->users.count >= TW_SIM_MAX_USERS)
    return TW_EFULL;
  user_t *u = calloc(1, sizeof(*u));
  if (!u)
    return TW_ENOMEM;
  snprintf(u->login, sizeof(u->login), "%s", login);
  snprintf(u->display, sizeof(u->display), "%s", login);
  snprintf(u->id, sizeof(u->id), "%llu",
           (unsigned long long)sc->next_user_id++);
  if (tw__simmap_put(&sc->users, u->login, strlen(u->login), u) != 0) {
    free(u);
    return TW_ENOMEM;
  }
  *out = u;
  return 0;
}

/* A user by login, created with defaults when unknown. */
static int user_need(tw_simchat_t *sc, const char *login, user_t **out) {
  if (!tw__sim_valid_login(login, strlen(login)))
    return TW_EINVAL;
  user_t *u = user_get(sc, login);
  if (u) {
    *out = u;
    return 0;
  }
  return user_create(sc, login, out);
}

int tw__simchat_add_user(tw_simchat_t *sc, const tw_sim_user_t *in) {
  if (!in || !in->login || !tw__sim_valid_login(in->login, strlen(in->login)))
    return TW_EINVAL;
  if (in->user_id && !valid_digits(in->user_id, strlen(in->user_id)))
    return TW_EINVAL;
  if (in->color && !valid_color(in->color))
    return TW_EINVAL;
  if (in->display_name &&
      !valid_text(in->display_name, strlen(in->display_name),
                  TW_SIM_MAX_DISPLAY))
    return TW_EINVAL;
  user_t *u;
  int rc = user_need(sc, in->login, &u);
  if (rc != 0)
    return rc;
  if (in->user_id)
    snprintf(u->id, sizeof(u->id), "%s", in->user_id);
  if (in->display_name)
    snprintf(u->display, sizeof(u->display), "%s", in->display_name);
  if (in->color)
    snprintf(u->color, sizeof(u->color), "%s", in->color);
  u->verified = in->verified_bot != 0;
  return 0;
}

static void token_free(token_t *t) {
  if (t) {
    tw_scopes_free(&t->scopes);
    free(t);
  }
}

/* Whether the token would be accepted now (known, not revoked, not
 * expired). */
static int token_live(const token_t *t, uint64_t now) {
  return t && !t->revoked && (t->expires_at == 0 || now < t->expires_at);
}

int tw__simchat_put_token(tw_simchat_t *sc, const char *token,
                          const tw_simchat_token_spec_t *spec) {
  if (!token || !valid_token(token) || !spec)
    return TW_EINVAL;
  const char *cid = spec->client_id ? spec->client_id : "";
  if (strlen(cid) > TW_SIM_MAX_CLIENT_ID || (!spec->login && !*cid))
    return TW_EINVAL;
  user_t *u = NULL;
  int rc;
  if (spec->login && (rc = user_need(sc, spec->login, &u)) != 0)
    return rc;
  tw_scopes_t sc2 = {0};
  if (spec->scopes && (rc = tw_scopes_copy(&sc2, spec->scopes)) != 0) {
    tw_scopes_free(&sc2);
    return rc;
  }
  token_t *t = tw__simmap_get(&sc->tokens, token, strlen(token));
  if (!t) {
    if (sc->tokens.count >= TW_SIM_MAX_TOKENS) {
      tw_scopes_free(&sc2);
      return TW_EFULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t || tw__simmap_put(&sc->tokens, token, strlen(token), t) != 0) {
      free(t);
      tw_scopes_free(&sc2);
      return TW_ENOMEM;
    }
  }
  tw_scopes_free(&t->scopes);
  t->scopes = sc2;
  t->user = u;
  t->flags = spec->flags;
  snprintf(t->client_id, sizeof(t->client_id), "%s", cid);
  t->expires_at = spec->expires_at;
  t->revoked = 0;
  return 0;
}

int tw__simchat_add_token(tw_simchat_t *sc, const char *token,
                          const char *login, unsigned flags) {
  if (!login)
    return TW_EINVAL;
  /* A chat token: the scopes its flags imply, the default client, no
   * expiry. */
  tw_scopes_t s = {0};
  int rc = 0;
  if (!(flags & TW_SIM_TOKEN_NO_READ))
    rc = tw_scopes_add(&s, "chat:read");
  if (rc == 0 && !(flags & TW_SIM_TOKEN_NO_EDIT))
    rc = tw_scopes_add(&s, "chat:edit");
  if (rc == 0) {
    tw_simchat_token_spec_t spec = {login, TW_SIM_DEFAULT_CLIENT_ID, &s, 0,
                                    flags};
    rc = tw__simchat_put_token(sc, token, &spec);
  }
  tw_scopes_free(&s);
  return rc;
}

int tw__simchat_revoke_token(tw_simchat_t *sc, const char *token) {
  if (!token)
    return TW_ENOTFOUND;
  /* Kept, marked: the API answers "invalid" for it like for an unknown
   * one, and the read-back can still tell what it was. */
  token_t *t = tw__simmap_get(&sc->tokens, token, strlen(token));
  if (!t || t->revoked)
    return TW_ENOTFOUND;
  t->revoked = 1;
  return 0;
}

int tw__simchat_expire_token(tw_simchat_t *sc, const char *token,
                             uint64_t now_ms) {
  if (!token)
    return TW_ENOTFOUND;
  token_t *t = tw__simmap_get(&sc->tokens, token, strlen(token));
  if (!t)
    return TW_ENOTFOUND;
  now_ms = clamp_now(sc, now_ms);
  t->expires_at = now_ms ? now_ms : 1;
  return 0;
}

int tw__simchat_token_get(const tw_simchat_t *sc, const char *token,
                          uint64_t now_ms, tw_simchat_token_view_t *out) {
  memset(out, 0, sizeof(*out));
  if (!token)
    return TW_ENOTFOUND;
  const token_t *t = tw__simmap_get(&sc->tokens, token, strlen(token));
  if (!t)
    return TW_ENOTFOUND;
  out->login = t->user ? t->user->login : NULL;
  out->user_id = t->user ? t->user->id : NULL;
  out->client_id = t->client_id;
  out->scopes = &t->scopes;
  out->expires_at = t->expires_at;
  out->revoked = t->revoked;
  out->expired = t->expires_at != 0 && now_ms >= t->expires_at;
  out->live = token_live(t, now_ms);
  out->flags = t->flags;
  return 0;
}

static room_t *room_get(const tw_simchat_t *sc, const char *name, size_t n) {
  return tw__simmap_get(&sc->rooms, name, n);
}

static int room_create(tw_simchat_t *sc, const char *name, size_t n,
                       room_t **out) {
  if (sc->rooms.count >= TW_SIM_MAX_ROOMS)
    return TW_EFULL;
  room_t *r = calloc(1, sizeof(*r));
  if (!r)
    return TW_ENOMEM;
  memcpy(r->name, name, n);
  r->name[n] = '\0';
  r->followers_only = -1;
  tw__simmap_init(&r->members);
  user_t *b = user_get(sc, r->name);
  if (b) {
    snprintf(r->id, sizeof(r->id), "%s", b->id);
  } else {
    /* A stable made-up id: the same name always gives the same room-id. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
      h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    snprintf(r->id, sizeof(r->id), "%llu",
             (unsigned long long)(10000000ull + h % 890000000ull));
  }
  if (tw__simmap_put(&sc->rooms, r->name, n, r) != 0) {
    tw__simmap_free(&r->members);
    free(r);
    return TW_ENOMEM;
  }
  *out = r;
  return 0;
}

int tw__simchat_add_room(tw_simchat_t *sc, const tw_sim_room_t *in) {
  const char *name;
  size_t n;
  if (!in || room_arg(in->name, &name, &n) != 0)
    return TW_EINVAL;
  if (in->room_id && !valid_digits(in->room_id, strlen(in->room_id)))
    return TW_EINVAL;
  room_t *r = room_get(sc, name, n);
  if (!r) {
    int rc = room_create(sc, name, n, &r);
    if (rc != 0)
      return rc;
  }
  if (in->room_id)
    snprintf(r->id, sizeof(r->id), "%s", in->room_id);
  r->suspended = in->suspended != 0;
  r->emote_only = in->emote_only != 0;
  r->r9k = in->r9k != 0;
  r->subs_only = in->subs_only != 0;
  r->slow = in->slow > 0 ? in->slow : 0;
  if (in->followers_only_set)
    r->followers_only = in->followers_only < 0 ? -1 : in->followers_only;
  return 0;
}

static member_t *member_get(room_t *r, const char *login) {
  return tw__simmap_get(&r->members, login, strlen(login));
}

static member_t *member_need(room_t *r, const char *login) {
  member_t *m = member_get(r, login);
  if (m)
    return m;
  /* Members are only created for users the simulator knows, so their
   * number is bounded by TW_SIM_MAX_USERS per room. */
  m = calloc(1, sizeof(*m));
  if (!m)
    return NULL;
  if (tw__simmap_put(&r->members, login, strlen(login), m) != 0) {
    free(m);
    return NULL;
  }
  return m;
}

int tw__simchat_set_role(tw_simchat_t *sc, const char *room, const char *login,
                         tw_sim_role_t role) {
  const char *name;
  size_t n;
  if (room_arg(room, &name, &n) != 0 || !login ||
      !tw__sim_valid_login(login, strlen(login)))
    return TW_EINVAL;
  if (role != TW_SIM_ROLE_NONE && role != TW_SIM_ROLE_VIP &&
      role != TW_SIM_ROLE_MOD)
    return TW_EINVAL;
  user_t *u;
  int rc = user_need(sc, login, &u);
  if (rc != 0)
    return rc;
  room_t *r = room_get(sc, name, n);
  if (!r && (rc = room_create(sc, name, n, &r)) != 0)
    return rc;
  member_t *m = member_need(r, u->login);
  if (!m)
    return TW_ENOMEM;
  m->role = role;
  return 0;
}

static tw_sim_role_t role_of(room_t *r, const char *login) {
  if (strcmp(r->name, login) == 0)
    return TW_SIM_ROLE_BROADCASTER;
  member_t *m = member_get(r, login);
  return m ? m->role : TW_SIM_ROLE_NONE;
}

static const char *role_badges(tw_sim_role_t role) {
  switch (role) {
  case TW_SIM_ROLE_BROADCASTER:
    return "broadcaster/1";
  case TW_SIM_ROLE_MOD:
    return "moderator/1";
  case TW_SIM_ROLE_VIP:
    return "vip/1";
  default:
    return "";
  }
}

/* ---- history ------------------------------------------------------------ */

static void hist_free(hist_t *h) {
  if (h) {
    free(h->body);
    free(h);
  }
}

static void hist_push(room_t *r, hist_t *h) {
  if (!r->hist) {
    r->hist = calloc(TW_SIM_ROOM_HISTORY, sizeof(*r->hist));
    if (!r->hist) {
      hist_free(h);
      return;
    }
  }
  size_t slot = (r->hist_head + r->hist_n) % TW_SIM_ROOM_HISTORY;
  if (r->hist_n == TW_SIM_ROOM_HISTORY) {
    hist_free(r->hist[r->hist_head]);
    r->hist_head = (r->hist_head + 1) % TW_SIM_ROOM_HISTORY;
    r->hist_n--;
    slot = (r->hist_head + r->hist_n) % TW_SIM_ROOM_HISTORY;
  }
  r->hist[slot] = h;
  r->hist_n++;
}

static const hist_t *hist_find(const room_t *r, const char *id, size_t n) {
  if (!r->hist)
    return NULL;
  for (size_t i = 0; i < r->hist_n; i++) {
    const hist_t *h = r->hist[(r->hist_head + i) % TW_SIM_ROOM_HISTORY];
    if (strlen(h->id) == n && memcmp(h->id, id, n) == 0)
      return h;
  }
  return NULL;
}

static hist_t *hist_new(const char *id, size_t idlen, const char *user_id,
                        size_t uidlen, const char *login, size_t loginlen,
                        const char *display, size_t displen, const char *body,
                        size_t bodylen, const hist_t *parent) {
  hist_t *h = calloc(1, sizeof(*h));
  if (!h)
    return NULL;
  h->body = malloc(bodylen + 1);
  if (!h->body) {
    free(h);
    return NULL;
  }
  memcpy(h->body, body, bodylen);
  h->body[bodylen] = '\0';
  h->body_len = bodylen;
#define CP(dst, src, n)                                                        \
  do {                                                                         \
    size_t k_ = (n) < sizeof(dst) - 1 ? (n) : sizeof(dst) - 1;                 \
    memcpy(dst, src, k_);                                                      \
    dst[k_] = '\0';                                                            \
  } while (0)
  CP(h->id, id, idlen);
  CP(h->user_id, user_id, uidlen);
  CP(h->login, login, loginlen);
  CP(h->display, display, displen);
#undef CP
  /* A reply to a reply belongs to the thread of the first message. */
  if (parent) {
    memcpy(h->thread_id, parent->thread_id, sizeof(h->thread_id));
    memcpy(h->thread_login, parent->thread_login, sizeof(h->thread_login));
  } else {
    memcpy(h->thread_id, h->id, sizeof(h->thread_id));
    memcpy(h->thread_login, h->login, sizeof(h->thread_login));
  }
  return h;
}

static void room_free(room_t *r);

static void member_free_cb(void *ud, const char *key, void *value) {
  (void)ud;
  (void)key;
  member_t *m = value;
  free(m->last_text);
  free(m);
}

static void room_free(room_t *r) {
  tw__simmap_each(&r->members, member_free_cb, NULL);
  tw__simmap_free(&r->members);
  if (r->hist) {
    for (size_t i = 0; i < r->hist_n; i++)
      hist_free(r->hist[(r->hist_head + i) % TW_SIM_ROOM_HISTORY]);
    free(r->hist);
  }
  free(r->conns);
  free(r);
}

/* ---- lookups for the API side ------------------------------------------- */

static void user_view(const user_t *u, tw_simchat_user_view_t *out) {
  out->login = u->login;
  out->id = u->id;
  out->display = u->display;
}

typedef struct {
  const char *id;
  const user_t *found;
} id_find_t;

static void id_find_cb(void *ud, const char *key, void *value) {
  (void)key;
  id_find_t *f = ud;
  const user_t *u = value;
  if (!f->found && strcmp(u->id, f->id) == 0)
    f->found = u;
}

int tw__simchat_user_find(const tw_simchat_t *sc, const char *login,
                          const char *id, tw_simchat_user_view_t *out) {
  memset(out, 0, sizeof(*out));
  const user_t *u = NULL;
  if (login) {
    u = user_get(sc, login);
  } else if (id) {
    /* A walk: ids are looked up once per API request, and the user table
     * is bounded (TW_SIM_MAX_USERS). */
    id_find_t f = {id, NULL};
    tw__simmap_each(&sc->users, id_find_cb, &f);
    u = f.found;
  }
  if (!u)
    return TW_ENOTFOUND;
  user_view(u, out);
  return 0;
}

int tw__simchat_user_ensure(tw_simchat_t *sc, const char *login,
                            tw_simchat_user_view_t *out) {
  user_t *u;
  int rc = user_need(sc, login, &u);
  if (rc == 0 && out)
    user_view(u, out);
  return rc;
}

tw_sim_role_t tw__simchat_role(const tw_simchat_t *sc, const char *room,
                               const char *login) {
  if (!room || !login)
    return TW_SIM_ROLE_NONE;
  if (strcmp(room, login) == 0)
    return TW_SIM_ROLE_BROADCASTER;
  room_t *r = room_get(sc, room, strlen(room));
  return r ? role_of(r, login) : TW_SIM_ROLE_NONE;
}

int tw__simchat_room_ensure(tw_simchat_t *sc, const char *room) {
  const char *name;
  size_t n;
  if (room_arg(room, &name, &n) != 0)
    return TW_EINVAL;
  room_t *r = room_get(sc, name, n);
  return r ? 0 : room_create(sc, name, n, &r);
}

int tw__simchat_hist_take(tw_simchat_t *sc, const char *room,
                          const char *msg_id, char *login, size_t login_cap,
                          char **body) {
  *body = NULL;
  if (login_cap)
    login[0] = '\0';
  room_t *r = room ? room_get(sc, room, strlen(room)) : NULL;
  if (!r || !r->hist || !msg_id)
    return TW_ENOTFOUND;
  size_t n = strlen(msg_id);
  for (size_t i = 0; i < r->hist_n; i++) {
    size_t slot = (r->hist_head + i) % TW_SIM_ROOM_HISTORY;
    hist_t *h = r->hist[slot];
    if (strlen(h->id) != n || memcmp(h->id, msg_id, n) != 0)
      continue;
    /* Close the gap: later messages move one slot towards the head. */
    for (size_t j = i; j + 1 < r->hist_n; j++)
      r->hist[(r->hist_head + j) % TW_SIM_ROOM_HISTORY] =
          r->hist[(r->hist_head + j + 1) % TW_SIM_ROOM_HISTORY];
    r->hist_n--;
    snprintf(login, login_cap, "%s", h->login);
    *body = h->body;
    h->body = NULL;
    hist_free(h);
    return 0;
  }
  return TW_ENOTFOUND;
}

int tw__simchat_hist_login(const tw_simchat_t *sc, const char *room,
                           const char *msg_id, char *login, size_t cap) {
  room_t *r = room ? room_get(sc, room, strlen(room)) : NULL;
  const hist_t *h = r && msg_id ? hist_find(r, msg_id, strlen(msg_id)) : NULL;
  if (!h)
    return TW_ENOTFOUND;
  snprintf(login, cap, "%s", h->login);
  return 0;
}

int tw__simchat_room_id(tw_simchat_t *sc, const char *room, char *out,
                        size_t cap) {
  int rc = tw__simchat_room_ensure(sc, room);
  if (rc != 0)
    return rc;
  room_t *r = room_get(sc, room[0] == '#' ? room + 1 : room,
                       strlen(room[0] == '#' ? room + 1 : room));
  if (!r)
    return TW_ENOTFOUND;
  snprintf(out, cap, "%s", r->id);
  return 0;
}

void tw__simchat_hist_clear(tw_simchat_t *sc, const char *room,
                            const char *login) {
  room_t *r = room ? room_get(sc, room, strlen(room)) : NULL;
  if (!r || !r->hist)
    return;
  size_t keep = 0;
  for (size_t i = 0; i < r->hist_n; i++) {
    hist_t *h = r->hist[(r->hist_head + i) % TW_SIM_ROOM_HISTORY];
    if (!login || strcmp(h->login, login) == 0)
      hist_free(h);
    else
      r->hist[(r->hist_head + keep++) % TW_SIM_ROOM_HISTORY] = h;
  }
  r->hist_n = keep;
}

/* ---- emotes ------------------------------------------------------------- */

/* A few global emotes, so that relayed messages carry a real emotes tag for
 * clients to decode (ids as Twitch uses them). */
static const struct {
  const char *name;
  const char *id;
} emote_table[] = {
    {"Kappa", "25"},
    {"Keepo", "1902"},
    {"Kreygasm", "41"},
    {"BibleThump", "86"},
    {"4Head", "354"},
    {"ResidentSleeper", "245"},
    {"SeemsGood", "64138"},
    {"VoHiYo", "81274"},
    {"HeyGuys", "30259"},
    {"LUL", "425618"},
    {"PogChamp", "305954156"},
    {"bleedPurple", "62835"},
    {"<3", "9"},
};
#define N_EMOTES (sizeof(emote_table) / sizeof(emote_table[0]))

/* Writes the emotes tag value for `text` into out: "25:0-4,12-16/1902:6-10"
 * (code-point positions, inclusive, emotes in table order). */
static void emotes_tag(const char *text, size_t n, char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t e = 0; e < N_EMOTES; e++) {
    size_t elen = strlen(emote_table[e].name);
    int first = 1;
    size_t cp = 0, i = 0;
    while (i < n) {
      size_t start = i, cp_start = cp;
      while (i < n && text[i] != ' ') {
        if (((unsigned char)text[i] & 0xc0) != 0x80)
          cp++;
        i++;
      }
      size_t wlen = i - start;
      if (wlen == elen &&
          memcmp(text + start, emote_table[e].name, elen) == 0) {
        int k = snprintf(
            out + o, cap - o, "%s%s%s%zu-%zu", first ? (o ? "/" : "") : ",",
            first ? emote_table[e].id : "", first ? ":" : "", cp_start, cp - 1);
        if (k < 0 || (size_t)k >= cap - o) {
          out[o] = '\0';
          return;
        }
        o += (size_t)k;
        first = 0;
      }
      while (i < n && text[i] == ' ') {
        cp++;
        i++;
      }
    }
  }
}

/* ---- read-back ---------------------------------------------------------- */

static void rec_evict(tw_simchat_t *sc) {
  rec_t *r = sc->rec[sc->rec_head];
  sc->rec_bytes -= r->len;
  free(r);
  sc->rec[sc->rec_head] = NULL;
  sc->rec_head = (sc->rec_head + 1) % TW_SIM_MAX_RECORD_LINES;
  sc->rec_n--;
  sc->cnt.record_evicted++;
}

static void record(tw_simchat_conn_t *c, const char *line, size_t len) {
  tw_simchat_t *sc = c->sc;
  if (!sc->rec) {
    sc->rec = calloc(TW_SIM_MAX_RECORD_LINES, sizeof(*sc->rec));
    if (!sc->rec)
      return;
  }
  rec_t *r = malloc(sizeof(*r) + len + 1);
  if (!r)
    return;
  while (sc->rec_n && (sc->rec_n == TW_SIM_MAX_RECORD_LINES ||
                       sc->rec_bytes + len > TW_SIM_MAX_RECORD_BYTES))
    rec_evict(sc);
  r->seq = ++sc->rec_seq;
  r->conn = c->id;
  r->at = sc->now;
  snprintf(r->login, sizeof(r->login), "%s", c->registered ? c->nick : "");
  r->len = len;
  memcpy(r->line, line, len);
  r->line[len] = '\0';
  sc->rec[(sc->rec_head + sc->rec_n) % TW_SIM_MAX_RECORD_LINES] = r;
  sc->rec_n++;
  sc->rec_bytes += len;
}

size_t tw__simchat_sent_foreach(const tw_simchat_t *sc, uint64_t conn,
                                const char *login, uint64_t since,
                                int (*cb)(void *ud, const tw_sim_sent_t *line),
                                void *ud) {
  size_t calls = 0;
  if (!sc->rec || !cb)
    return 0;
  /* Records are in seq order: skip the old ones quickly by bisection. */
  size_t lo = 0, hi = sc->rec_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (sc->rec[(sc->rec_head + mid) % TW_SIM_MAX_RECORD_LINES]->seq <= since)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < sc->rec_n; i++) {
    const rec_t *r = sc->rec[(sc->rec_head + i) % TW_SIM_MAX_RECORD_LINES];
    if (conn && r->conn != conn)
      continue;
    if (login && strcmp(r->login, login) != 0)
      continue;
    tw_sim_sent_t s = {r->seq, r->conn, r->login, r->line, r->len, r->at};
    calls++;
    if (cb(ud, &s) != 0)
      break;
  }
  return calls;
}

uint64_t tw__simchat_sent_last_seq(const tw_simchat_t *sc) {
  return sc->rec_seq;
}

/* ---- connections -------------------------------------------------------- */

static int conn_in(const tw_simchat_conn_t *c, const room_t *r) {
  for (size_t i = 0; i < c->nrooms; i++)
    if (c->rooms[i] == r)
      return 1;
  return 0;
}

static int room_add_conn(room_t *r, tw_simchat_conn_t *c) {
  if (r->nconns == r->cconns) {
    size_t n = r->cconns ? r->cconns * 2 : 8;
    tw_simchat_conn_t **p = realloc(r->conns, n * sizeof(*p));
    if (!p)
      return TW_ENOMEM;
    r->conns = p;
    r->cconns = n;
  }
  r->conns[r->nconns++] = c;
  c->rooms[c->nrooms++] = r;
  return 0;
}

static void room_del_conn(room_t *r, tw_simchat_conn_t *c) {
  for (size_t i = 0; i < r->nconns; i++) {
    if (r->conns[i] == c) {
      r->conns[i] = r->conns[--r->nconns];
      break;
    }
  }
  for (size_t i = 0; i < c->nrooms; i++) {
    if (c->rooms[i] == r) {
      c->rooms[i] = c->rooms[--c->nrooms];
      break;
    }
  }
}

/* Tells the other members with twitch.tv/membership that c joined or left.
 * Anonymous users are invisible, as on Twitch. */
static void membership_broadcast(tw_simchat_conn_t *c, room_t *r,
                                 const char *what) {
  if (c->anonymous)
    return;
  char buf[256];
  int n = snprintf(buf, sizeof(buf), ":%s!%s@%s." SERVER " %s #%s", c->nick,
                   c->nick, c->nick, what, r->name);
  if (n < 0 || (size_t)n >= sizeof(buf))
    return;
  /* Backwards: a receiver cut off for being slow leaves the room, and the
   * last member (already served) takes its place. */
  for (size_t i = r->nconns; i-- > 0;) {
    if (i >= r->nconns)
      continue;
    tw_simchat_conn_t *o = r->conns[i];
    if (o != c && (o->caps & TW_SIM_CAP_MEMBERSHIP))
      deliver(o, buf, (size_t)n, 0, 0);
  }
}

static void leave_all(tw_simchat_conn_t *c) {
  while (c->nrooms) {
    room_t *r = c->rooms[c->nrooms - 1];
    room_del_conn(r, c);
    membership_broadcast(c, r, "PART");
  }
}

static void conn_close(tw_simchat_conn_t *c, int abrupt) {
  if (c->closing)
    return;
  c->closing = 1;
  /* Out of every room at once, so that nothing more is queued for it. */
  leave_all(c);
  if (abrupt) {
    c->out_len = 0;
    c->out_off = 0;
  }
  if (c->sc->io.close)
    c->sc->io.close(c->sc->io_ud, c, abrupt);
}

int tw__simchat_conn_new(tw_simchat_t *sc, tw_sim_transport_t transport,
                         void *ud, uint64_t now_ms, tw_simchat_conn_t **out) {
  uint64_t now = clamp_now(sc, now_ms);
  if (sc->nconns >= sc->o.max_conns) {
    sc->cnt.conns_refused++;
    return TW_EFULL;
  }
  tw_simchat_conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    return TW_ENOMEM;
  c->split = tw_irc_splitter_new(TW_SIM_MAX_IN_LINE, 0);
  if (!c->split) {
    free(c);
    return TW_ENOMEM;
  }
  c->sc = sc;
  c->id = sc->next_conn_id++;
  c->ud = ud;
  c->transport = transport;
  /* Twitch pings even before login. */
  if (sc->o.ping_interval_ms != TW_SIM_OFF)
    c->next_ping = now + sc->o.ping_interval_ms;
  c->prev = sc->tail;
  if (sc->tail)
    sc->tail->next = c;
  else
    sc->head = c;
  sc->tail = c;
  sc->nconns++;
  sc->cnt.conns_accepted++;
  sc->cnt.conns_open++;
  *out = c;
  emit(sc, TW_SIM_EV_CONNECT, c, NULL, NULL, 0, NULL, 0, 0);
  return 0;
}

static void conn_unlink_free(tw_simchat_conn_t *c) {
  tw_simchat_t *sc = c->sc;
  if (c->prev)
    c->prev->next = c->next;
  else
    sc->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    sc->tail = c->prev;
  sc->nconns--;
  sc->cnt.conns_open--;
  tw_irc_splitter_free(c->split);
  free(c->pass);
  free(c->out);
  free(c);
}

void tw__simchat_conn_free(tw_simchat_conn_t *c, uint64_t now_ms) {
  if (!c)
    return;
  tw_simchat_t *sc = c->sc;
  clamp_now(sc, now_ms);
  c->closing = 1;
  leave_all(c);
  emit(sc, TW_SIM_EV_CLOSE, c, NULL, NULL, 0, NULL, 0, 0);
  conn_unlink_free(c);
}

void tw__simchat_count_refused(tw_simchat_t *sc) {
  sc->cnt.conns_refused++;
}

size_t tw__simchat_max_conns(const tw_simchat_t *sc) {
  return sc->o.max_conns;
}

uint64_t tw__simchat_conn_id(const tw_simchat_conn_t *c) {
  return c->id;
}

void *tw__simchat_conn_ud(const tw_simchat_conn_t *c) {
  return c->ud;
}

int tw__simchat_conn_stalled(const tw_simchat_conn_t *c) {
  return c->stalled;
}

int tw__simchat_conn_closing(const tw_simchat_conn_t *c) {
  return c->closing;
}

tw_simchat_conn_t *tw__simchat_conn_find(const tw_simchat_t *sc, uint64_t id) {
  for (tw_simchat_conn_t *c = sc->head; c; c = c->next)
    if (c->id == id)
      return c;
  return NULL;
}

/* ---- login -------------------------------------------------------------- */

static void welcome(tw_simchat_conn_t *c) {
  static const char *const lines[][2] = {
      {"001", "Welcome, GLHF!"},
      {"002", "Your host is " SERVER},
      {"003", "This server is rather new"},
      {"004", "-"},
      {"375", "-"},
      {"372", "You are in a maze of twisty passages, all alike."},
      {"376", ">"},
  };
  tw_simchat_t *sc = c->sc;
  lb_reset(sc);
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
    lb_fmt(sc, ":" SERVER " %s %s :%s\r\n", lines[i][0], c->nick, lines[i][1]);
  if (!sc->lb_over)
    out_block(c, sc->lb, sc->lb_len, 7);
  /* GLOBALUSERSTATE only with tags and commands (docs 4.2). */
  if (c->user && (c->caps & TW_SIM_CAP_TAGS) &&
      (c->caps & TW_SIM_CAP_COMMANDS)) {
    lb_reset(sc);
    lb_fmt(sc, "@badge-info=;badges=;color=%s;display-name=", c->user->color);
    lb_esc(sc, c->user->display, strlen(c->user->display));
    lb_fmt(sc,
           ";emote-sets=" EMOTE_SETS ";user-id=%s;user-type= :" SERVER
           " GLOBALUSERSTATE",
           c->user->id);
    if (!sc->lb_over)
      deliver(c, sc->lb, sc->lb_len, tag_skip(sc->lb, sc->lb_len), 1);
  }
}

static void login_fail(tw_simchat_conn_t *c, const char *text, user_t *u) {
  tw_simchat_t *sc = c->sc;
  sc->cnt.login_failures++;
  if (u)
    u->cnt.login_failures++;
  /* Sent whatever the caps: the client needs it to know why it is closed. */
  server_line(c, 0, "NOTICE * :%s", text);
  emit(sc, TW_SIM_EV_LOGIN_FAILED, c, NULL, text, strlen(text), NULL, 0, 0);
  conn_close(c, 0);
}

static int is_justinfan(const char *nick, size_t n) {
  if (n <= 9 || memcmp(nick, "justinfan", 9) != 0)
    return 0;
  for (size_t i = 9; i < n; i++)
    if (nick[i] < '0' || nick[i] > '9')
      return 0;
  return 1;
}

static void handle_nick(tw_simchat_conn_t *c, tw_irc_str_t nick) {
  tw_simchat_t *sc = c->sc;
  char lower[TW_SIM_MAX_NICK + 1];
  if (!nick.ptr || nick.len == 0 || nick.len > TW_SIM_MAX_NICK) {
    login_fail(c, "Improperly formatted auth", NULL);
    return;
  }
  for (size_t i = 0; i < nick.len; i++)
    lower[i] = (char)tolower((unsigned char)nick.ptr[i]);
  lower[nick.len] = '\0';

  char *pass = c->pass;
  c->pass = NULL; /* the secret is not kept past the login attempt */
  if (is_justinfan(lower, nick.len)) {
    /* Anonymous, read-only; any PASS (or none) is accepted. */
    free(pass);
    snprintf(c->nick, sizeof(c->nick), "%s", lower);
    c->registered = 1;
    c->anonymous = 1;
    sc->cnt.logins++;
    welcome(c);
    emit(sc, TW_SIM_EV_LOGIN, c, NULL, NULL, 0, NULL, 0, 0);
    return;
  }
  if (!pass || strncmp(pass, "oauth:", 6) != 0) {
    /* NICK without a PASS before it, or a PASS without "oauth:". */
    free(pass);
    login_fail(c, "Improperly formatted auth", NULL);
    return;
  }
  const char *tok = pass + 6;
  token_t *t = tw__simmap_get(&sc->tokens, tok, strlen(tok));
  free(pass);
  /* An expired or revoked token, an app token, or one without chat:read
   * fails as an unknown one does on Twitch. */
  if (!token_live(t, sc->now) || !t->user ||
      !tw_scopes_has(&t->scopes, "chat:read") ||
      strcmp(t->user->login, lower) != 0) {
    login_fail(c, "Login authentication failed", t ? t->user : NULL);
    return;
  }
  c->user = t->user;
  c->token_flags = t->flags;
  if (!tw_scopes_has(&t->scopes, "chat:edit"))
    c->token_flags |= TW_SIM_TOKEN_NO_EDIT;
  snprintf(c->nick, sizeof(c->nick), "%s", t->user->login);
  c->registered = 1;
  sc->cnt.logins++;
  t->user->cnt.logins++;
  welcome(c);
  emit(sc, TW_SIM_EV_LOGIN, c, NULL, NULL, 0, NULL, 0, 0);
}

static unsigned cap_bit(const char *s, size_t n) {
  if (n == 14 && memcmp(s, "twitch.tv/tags", 14) == 0)
    return TW_SIM_CAP_TAGS;
  if (n == 18 && memcmp(s, "twitch.tv/commands", 18) == 0)
    return TW_SIM_CAP_COMMANDS;
  if (n == 20 && memcmp(s, "twitch.tv/membership", 20) == 0)
    return TW_SIM_CAP_MEMBERSHIP;
  return 0;
}

static void handle_cap(tw_simchat_conn_t *c, const tw_irc_msg_t *m) {
  if (m->nparams < 1)
    return;
  tw_irc_str_t sub = m->params[0];
  if (tw_irc_str_eq(sub, "LS")) {
    server_line(c, 0,
                "CAP * LS :twitch.tv/tags twitch.tv/commands "
                "twitch.tv/membership");
    return;
  }
  if (!tw_irc_str_eq(sub, "REQ") || m->nparams < 2)
    return; /* CAP END and the rest need no answer */
  tw_irc_str_t list = m->params[1];
  /* IRCv3: the request is granted as a whole or not at all. */
  unsigned add = 0, del = 0;
  int ok = list.len > 0;
  tw_irc_str_t rest = list, item;
  while (ok && tw_irc_list_next(&rest, ' ', &item)) {
    int minus = item.len && item.ptr[0] == '-';
    unsigned b = cap_bit(item.ptr + minus, item.len - (size_t)minus);
    if (!b)
      ok = 0;
    else if (minus)
      del |= b;
    else
      add |= b;
  }
  char buf[600];
  if (list.len > 512)
    list.len = 512;
  int n = snprintf(buf, sizeof(buf), ":" SERVER " CAP * %s :%.*s",
                   ok ? "ACK" : "NAK", (int)list.len, list.ptr);
  if (ok) {
    c->caps |= add;
    c->caps &= ~del;
  }
  if (n > 0 && (size_t)n < sizeof(buf))
    deliver(c, buf, (size_t)n, 0, 0);
}

/* ---- JOIN / PART -------------------------------------------------------- */

static void send_userstate(tw_simchat_conn_t *c, room_t *r, const char *id) {
  tw_simchat_t *sc = c->sc;
  if (!c->user)
    return;
  tw_sim_role_t role = role_of(r, c->user->login);
  lb_reset(sc);
  lb_fmt(sc, "@badge-info=;badges=%s;color=%s;display-name=", role_badges(role),
         c->user->color);
  lb_esc(sc, c->user->display, strlen(c->user->display));
  lb_str(sc, ";emote-sets=" EMOTE_SETS);
  if (id)
    lb_fmt(sc, ";id=%s", id);
  lb_fmt(sc, ";mod=%d;subscriber=0;user-type=%s :" SERVER " USERSTATE #%s",
         role == TW_SIM_ROLE_MOD, role == TW_SIM_ROLE_MOD ? "mod" : "",
         r->name);
  if (!sc->lb_over)
    deliver(c, sc->lb, sc->lb_len, tag_skip(sc->lb, sc->lb_len), 1);
}

static void join_one(tw_simchat_conn_t *c, const char *name, size_t n) {
  tw_simchat_t *sc = c->sc;
  if (!tw__sim_valid_login(name, n))
    return; /* not a channel name Twitch could have: silently ignored */
  user_t *u = c->user;
  if (u && sc->o.join_window_ms != TW_SIM_OFF) {
    win_expire(&u->joins, sc->now, sc->o.join_window_ms);
    uint32_t limit = u->verified ? 2000 : sc->o.join_limit;
    if (u->joins.n >= limit || win_ensure(&u->joins, limit) != 0) {
      sc->cnt.joins_dropped++;
      u->cnt.joins_dropped++;
      return;
    }
  }
  room_t *r = room_get(sc, name, n);
  if (!r) {
    if (sc->o.no_auto_rooms || room_create(sc, name, n, &r) != 0)
      return; /* Twitch drops a JOIN to a channel that does not exist */
  }
  if (u && sc->o.join_window_ms != TW_SIM_OFF)
    win_push(&u->joins, sc->now);
  if (r->suspended) {
    notice(c, r->name, "msg_channel_suspended",
           "This channel does not exist or has been suspended.");
    return;
  }
  if (conn_in(c, r))
    return;
  if (c->nrooms >= TW_SIM_MAX_CONN_ROOMS || room_add_conn(r, c) != 0) {
    sc->cnt.joins_dropped++;
    if (u)
      u->cnt.joins_dropped++;
    return;
  }
  sc->cnt.joins++;
  if (u)
    u->cnt.joins++;
  const char *L = c->nick;
  char buf[512];
  int k = snprintf(buf, sizeof(buf),
                   ":%s!%s@%s." SERVER " JOIN #%s\r\n"
                   ":%s." SERVER " 353 %s = #%s :%s\r\n"
                   ":%s." SERVER " 366 %s #%s :End of /NAMES list\r\n",
                   L, L, L, r->name, L, L, r->name, L, L, L, r->name);
  if (k > 0 && (size_t)k < sizeof(buf))
    out_block(c, buf, (size_t)k, 3);
  send_userstate(c, r, NULL);
  lb_reset(sc);
  lb_fmt(sc,
         "@emote-only=%d;followers-only=%d;r9k=%d;room-id=%s;slow=%d;"
         "subs-only=%d :" SERVER " ROOMSTATE #%s",
         r->emote_only, r->followers_only, r->r9k, r->id, r->slow, r->subs_only,
         r->name);
  if (!sc->lb_over)
    deliver(c, sc->lb, sc->lb_len, tag_skip(sc->lb, sc->lb_len), 1);
  membership_broadcast(c, r, "JOIN");
  emit(sc, TW_SIM_EV_JOIN, c, r->name, NULL, 0, NULL, 0, 0);
}

static void handle_join(tw_simchat_conn_t *c, const tw_irc_msg_t *m) {
  if (m->nparams < 1)
    return;
  tw_irc_str_t rest = m->params[0], item;
  while (!c->closing && tw_irc_list_next(&rest, ',', &item)) {
    if (item.len < 2 || item.ptr[0] != '#')
      continue;
    join_one(c, item.ptr + 1, item.len - 1);
  }
}

static void part_one(tw_simchat_conn_t *c, room_t *r) {
  room_del_conn(r, c);
  char buf[256];
  int n = snprintf(buf, sizeof(buf), ":%s!%s@%s." SERVER " PART #%s", c->nick,
                   c->nick, c->nick, r->name);
  if (n > 0 && (size_t)n < sizeof(buf))
    deliver(c, buf, (size_t)n, 0, 0);
  membership_broadcast(c, r, "PART");
  emit(c->sc, TW_SIM_EV_PART, c, r->name, NULL, 0, NULL, 0, 0);
}

static void handle_part(tw_simchat_conn_t *c, const tw_irc_msg_t *m) {
  if (m->nparams < 1)
    return;
  tw_irc_str_t rest = m->params[0], item;
  while (tw_irc_list_next(&rest, ',', &item)) {
    if (item.len < 2 || item.ptr[0] != '#')
      continue;
    room_t *r = room_get(c->sc, item.ptr + 1, item.len - 1);
    if (r && conn_in(c, r))
      part_one(c, r);
  }
}

/* ---- PRIVMSG ------------------------------------------------------------ */

/* Builds Twitch's relayed PRIVMSG into the line builder, remembers it for
 * replies and sends it to every client in the room but `except`. Returns
 * the number of clients it went to. */
static int relay(tw_simchat_t *sc, room_t *r, user_t *u, const char *inner,
                 size_t inner_len, int action, tw_irc_str_t reply_id,
                 tw_irc_str_t nonce, const tw_simchat_conn_t *except,
                 char id[TW_SIM_MSG_ID_SIZE]) {
  tw_sim_role_t role = role_of(r, u->login);
  member_t *mem = member_need(r, u->login);
  const hist_t *parent =
      reply_id.ptr ? hist_find(r, reply_id.ptr, reply_id.len) : NULL;
  char emotes[1024];
  emotes_tag(inner, inner_len, emotes, sizeof(emotes));
  make_uuid(sc, id);

  lb_reset(sc);
  lb_fmt(sc, "@badge-info=;badges=%s;", role_badges(role));
  if (nonce.ptr && nonce.len) {
    lb_str(sc, "client-nonce=");
    lb_add(sc, nonce.ptr, nonce.len);
    lb_str(sc, ";");
  }
  lb_fmt(sc, "color=%s;display-name=", u->color);
  lb_esc(sc, u->display, strlen(u->display));
  lb_fmt(sc, ";emotes=%s;first-msg=%d;flags=;id=%s;mod=%d;", emotes,
         mem && !mem->spoken ? 1 : 0, id, role == TW_SIM_ROLE_MOD);
  if (parent) {
    lb_str(sc, "reply-parent-display-name=");
    lb_esc(sc, parent->display, strlen(parent->display));
    lb_str(sc, ";reply-parent-msg-body=");
    lb_esc(sc, parent->body, parent->body_len);
    lb_fmt(sc,
           ";reply-parent-msg-id=%s;reply-parent-user-id=%s;"
           "reply-parent-user-login=%s;reply-thread-parent-msg-id=%s;"
           "reply-thread-parent-user-login=%s;",
           parent->id, parent->user_id, parent->login, parent->thread_id,
           parent->thread_login);
  }
  lb_fmt(sc,
         "returning-chatter=0;room-id=%s;subscriber=0;tmi-sent-ts=%llu;"
         "turbo=0;user-id=%s;user-type=%s%s",
         r->id, (unsigned long long)wall_ms(sc), u->id,
         role == TW_SIM_ROLE_MOD ? "mod" : "",
         role == TW_SIM_ROLE_VIP ? ";vip=1" : "");
  size_t tagskip = sc->lb_len + 1;
  lb_fmt(sc, " :%s!%s@%s." SERVER " PRIVMSG #%s :%s", u->login, u->login,
         u->login, r->name, action ? "\001ACTION " : "");
  lb_add(sc, inner, inner_len);
  if (action)
    lb_add(sc, "\001", 1);
  if (sc->lb_over)
    return 0;

  int n = 0;
  /* Backwards, as in membership_broadcast(). */
  for (size_t i = r->nconns; i-- > 0;) {
    if (i >= r->nconns)
      continue;
    tw_simchat_conn_t *o = r->conns[i];
    if (o != except)
      n += deliver(o, sc->lb, sc->lb_len, tagskip, 0);
  }
  hist_t *h =
      hist_new(id, strlen(id), u->id, strlen(u->id), u->login, strlen(u->login),
               u->display, strlen(u->display), inner, inner_len, parent);
  if (h)
    hist_push(r, h);
  if (mem)
    mem->spoken = 1;
  return n;
}

static void drop_msg(tw_simchat_conn_t *c, const char *room, tw_sim_drop_t why,
                     const char *text, size_t len) {
  tw_simchat_t *sc = c->sc;
  user_t *u = c->user;
  switch (why) {
  case TW_SIM_DROP_RATELIMIT:
    sc->cnt.dropped_ratelimit++;
    if (u)
      u->cnt.dropped_ratelimit++;
    break;
  case TW_SIM_DROP_ROOM_RATE:
    sc->cnt.dropped_room_rate++;
    if (u)
      u->cnt.dropped_room_rate++;
    break;
  case TW_SIM_DROP_DUPLICATE:
    sc->cnt.dropped_duplicate++;
    if (u)
      u->cnt.dropped_duplicate++;
    break;
  case TW_SIM_DROP_TOO_LONG:
    sc->cnt.dropped_too_long++;
    if (u)
      u->cnt.dropped_too_long++;
    break;
  case TW_SIM_DROP_ANONYMOUS:
    sc->cnt.dropped_anonymous++;
    break;
  default:
    sc->cnt.dropped_other++;
    if (u)
      u->cnt.dropped_other++;
    break;
  }
  emit(sc, TW_SIM_EV_DROPPED, c, room, text, len, NULL, why, 0);
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), as WebSocket text frames require: a relayed message must be
 * deliverable to every transport. */
static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char b = s[i];
    size_t k;
    uint32_t cp, min;
    if (b < 0x80) {
      i++;
      continue;
    } else if ((b & 0xe0) == 0xc0) {
      k = 1, cp = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
      k = 2, cp = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
      k = 3, cp = b & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i <= k)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

static int is_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t')
      return 0;
  return 1;
}

static void handle_privmsg(tw_simchat_conn_t *c, const tw_irc_msg_t *m) {
  tw_simchat_t *sc = c->sc;
  uint64_t now = sc->now;
  if (m->nparams < 2)
    return;
  tw_irc_str_t target = m->params[0];
  tw_irc_str_t text = m->params[m->nparams - 1];
  char rname[TW_SIM_MAX_LOGIN + 1] = "";
  if (target.len >= 2 && target.ptr[0] == '#' &&
      tw__sim_valid_login(target.ptr + 1, target.len - 1)) {
    memcpy(rname, target.ptr + 1, target.len - 1);
    rname[target.len - 1] = '\0';
  }
  room_t *r = rname[0] ? room_get(sc, rname, strlen(rname)) : NULL;
  if (!r && rname[0] && !sc->o.no_auto_rooms &&
      room_create(sc, rname, strlen(rname), &r) != 0)
    r = NULL;
  if (c->anonymous) {
    /* justinfan connections are read-only: Twitch ignores what they send. */
    drop_msg(c, rname, TW_SIM_DROP_ANONYMOUS, text.ptr, text.len);
    return;
  }
  if (!r || r->suspended) {
    if (r)
      notice(c, r->name, "msg_channel_suspended",
             "This channel does not exist or has been suspended.");
    drop_msg(c, rname, TW_SIM_DROP_NO_ROOM, text.ptr, text.len);
    return;
  }
  if (c->token_flags & TW_SIM_TOKEN_NO_EDIT) {
    drop_msg(c, r->name, TW_SIM_DROP_NO_SCOPE, text.ptr, text.len);
    return;
  }
  /* Banned or timed out through Helix: Twitch answers with a NOTICE. */
  uint64_t left_s = 0;
  int banned = sc->ban_check ? sc->ban_check(sc->ban_ud, r->name,
                                             c->user->login, sc->now, &left_s)
                             : 0;
  if (banned) {
    char t[128];
    if (left_s) {
      snprintf(t, sizeof(t), "You are timed out for %llu more seconds.",
               (unsigned long long)left_s);
      notice(c, r->name, "msg_timedout", t);
    } else {
      snprintf(t, sizeof(t), "You are permanently banned from talking in %s.",
               r->name);
      notice(c, r->name, "msg_banned", t);
    }
    drop_msg(c, r->name, TW_SIM_DROP_BANNED, text.ptr, text.len);
    return;
  }

  /* /me and its CTCP form become an ACTION; every other "/x" or ".x" is a
   * chat command, none of which work over IRC any more but /me. */
  const char *inner = text.ptr;
  size_t inner_len = text.len;
  int action = 0;
  tw_irc_str_t in;
  if (tw_irc_action(text, &in)) {
    action = 1;
    inner = in.ptr;
    inner_len = in.len;
  } else if (text.len >= 4 && (memcmp(text.ptr, "/me ", 4) == 0 ||
                               memcmp(text.ptr, ".me ", 4) == 0)) {
    action = 1;
    inner = text.ptr + 4;
    inner_len = text.len - 4;
  } else if (text.len >= 2 && (text.ptr[0] == '/' || text.ptr[0] == '.') &&
             isalpha((unsigned char)text.ptr[1])) {
    size_t w = 0;
    while (w < text.len && text.ptr[w] != ' ')
      w++;
    char msg[128];
    snprintf(msg, sizeof(msg), "Unrecognized command: %.*s",
             (int)(w > 64 ? 64 : w), text.ptr);
    notice(c, r->name, "unrecognized_cmd", msg);
    drop_msg(c, r->name, TW_SIM_DROP_COMMAND, text.ptr, text.len);
    return;
  }
  if (is_blank(inner, inner_len)) {
    drop_msg(c, r->name, TW_SIM_DROP_EMPTY, text.ptr, text.len);
    return;
  }
  if (!utf8_valid((const unsigned char *)text.ptr, text.len)) {
    notice(c, r->name, "msg_bad_characters",
           "Your message was not sent because it contained too many "
           "unprocessable characters. If you believe this is an error, please "
           "rephrase and try again.");
    drop_msg(c, r->name, TW_SIM_DROP_BAD_CHARS, text.ptr, text.len);
    return;
  }
  tw_irc_str_t iv = {inner, inner_len};
  if (tw_irc_utf8_count(iv) > sc->o.max_msg_chars) {
    /* Twitch documents no behaviour; dropped and counted, no NOTICE. */
    drop_msg(c, r->name, TW_SIM_DROP_TOO_LONG, text.ptr, text.len);
    return;
  }

  user_t *u = c->user;
  tw_sim_role_t role = role_of(r, u->login);
  int priv = role != TW_SIM_ROLE_NONE;
  member_t *mem = member_need(r, u->login);
  if (!mem) {
    drop_msg(c, r->name, TW_SIM_DROP_NO_ROOM, text.ptr, text.len);
    return;
  }

  /* Account limit: one window counts every message; privileged messages
   * may go on until the higher limit (docs 4.6). */
  win_expire(&u->msgs, now, sc->o.rate_window_ms);
  uint32_t limit = u->verified
                       ? sc->o.rate_limit_verified
                       : (priv ? sc->o.rate_limit_priv : sc->o.rate_limit);
  uint32_t wcap = u->verified ? sc->o.rate_limit_verified
                              : (sc->o.rate_limit > sc->o.rate_limit_priv
                                     ? sc->o.rate_limit
                                     : sc->o.rate_limit_priv);
  int locked = !priv && u->locked_until > now;
  if (locked || u->msgs.n >= limit || win_ensure(&u->msgs, wcap) != 0) {
    if (!locked && sc->o.lockout_ms)
      u->locked_until = now + sc->o.lockout_ms;
    if (sc->o.notice_account_ratelimit)
      notice(c, r->name, "msg_ratelimit",
             "Your message was not sent because you are sending messages "
             "too quickly.");
    drop_msg(c, r->name, TW_SIM_DROP_RATELIMIT, text.ptr, text.len);
    return;
  }
  if (!priv && sc->o.room_interval_ms != TW_SIM_OFF && mem->has_last &&
      now - mem->last_ms < sc->o.room_interval_ms) {
    if (!sc->o.no_room_rate_notice)
      notice(c, r->name, "msg_ratelimit",
             "Your message was not sent because you are sending messages "
             "too quickly.");
    drop_msg(c, r->name, TW_SIM_DROP_ROOM_RATE, text.ptr, text.len);
    return;
  }
  if (sc->o.dup_window_ms != TW_SIM_OFF && mem->has_last &&
      now - mem->last_ms < sc->o.dup_window_ms && mem->last_text &&
      mem->last_len == inner_len &&
      memcmp(mem->last_text, inner, inner_len) == 0) {
    notice(c, r->name, "msg_duplicate",
           "Your message was not sent because it is identical to the "
           "previous one you sent, less than 30 seconds ago.");
    drop_msg(c, r->name, TW_SIM_DROP_DUPLICATE, text.ptr, text.len);
    return;
  }

  char id[TW_SIM_MSG_ID_SIZE];
  tw_irc_str_t reply = tw_irc_tag_get(m, "reply-parent-msg-id");
  tw_irc_str_t nonce = tw_irc_tag_get(m, "client-nonce");
  int n = relay(sc, r, u, inner, inner_len, action, reply, nonce, c, id);
  win_push(&u->msgs, now);
  char *copy = malloc(inner_len + 1);
  if (copy) {
    memcpy(copy, inner, inner_len);
    copy[inner_len] = '\0';
    free(mem->last_text);
    mem->last_text = copy;
    mem->last_len = inner_len;
  }
  mem->has_last = 1;
  mem->last_ms = now;
  sc->cnt.privmsgs++;
  sc->cnt.relayed += (uint64_t)n;
  u->cnt.sent++;
  /* The sender gets no echo but a USERSTATE carrying the message id. */
  send_userstate(c, r, id);
  emit(sc, TW_SIM_EV_PRIVMSG, c, r->name, inner, inner_len, id, 0, 0);
}

/* ---- line dispatch ------------------------------------------------------ */

static void handle_line(tw_simchat_conn_t *c, const char *line, size_t len) {
  tw_simchat_t *sc = c->sc;
  sc->cnt.lines_in++;
  c->lines++;
  record(c, line, len);
  emit(sc, TW_SIM_EV_LINE, c, NULL, line, len, NULL, 0, 0);
  if (c->closing)
    return; /* the observer may have dropped it */
  tw_irc_msg_t m;
  if (tw_irc_parse(&m, line, len) != 0) {
    sc->cnt.lines_bad++;
    return;
  }
  switch (m.cmd) {
  case TW_IRC_CMD_CAP:
    handle_cap(c, &m);
    return;
  case TW_IRC_CMD_PING: {
    tw_irc_str_t arg = tw_irc_last_param(&m);
    char buf[600];
    int n = snprintf(buf, sizeof(buf), ":" SERVER " PONG " SERVER " :%.*s",
                     (int)(arg.ptr ? (arg.len > 512 ? 512 : arg.len) : 0),
                     arg.ptr ? arg.ptr : "");
    if (n > 0 && (size_t)n < sizeof(buf))
      deliver(c, buf, (size_t)n, 0, 0);
    return;
  }
  case TW_IRC_CMD_PONG:
    c->pong_deadline = 0;
    return;
  default:
    break;
  }
  if (tw_irc_str_eq(m.command, "QUIT")) {
    conn_close(c, 0);
    return;
  }
  if (!c->registered) {
    if (tw_irc_str_eq(m.command, "PASS")) {
      tw_irc_str_t p = tw_irc_last_param(&m);
      free(c->pass);
      c->pass = NULL;
      if (p.ptr && p.len <= TW_SIM_MAX_TOKEN + 6) {
        c->pass = malloc(p.len + 1);
        if (c->pass) {
          memcpy(c->pass, p.ptr, p.len);
          c->pass[p.len] = '\0';
        }
      }
    } else if (tw_irc_str_eq(m.command, "NICK")) {
      handle_nick(c, tw_irc_last_param(&m));
    }
    /* Anything else before login is ignored. */
    return;
  }
  switch (m.cmd) {
  case TW_IRC_CMD_JOIN:
    handle_join(c, &m);
    return;
  case TW_IRC_CMD_PART:
    handle_part(c, &m);
    return;
  case TW_IRC_CMD_PRIVMSG:
    handle_privmsg(c, &m);
    return;
  default:
    break;
  }
  if (tw_irc_str_eq(m.command, "PASS") || tw_irc_str_eq(m.command, "NICK") ||
      tw_irc_str_eq(m.command, "USER"))
    return;
  server_line(c, 0, "421 %s %.*s :Unknown command", c->nick,
              (int)(m.command.len > 64 ? 64 : m.command.len), m.command.ptr);
}

static void on_split_line(void *ud, const char *line, size_t len, int err) {
  tw_simchat_conn_t *c = ud;
  if (c->closing)
    return;
  if (err != 0) {
    c->sc->cnt.lines_too_long++;
    return;
  }
  handle_line(c, line, len);
}

void tw__simchat_feed(tw_simchat_conn_t *c, const char *data, size_t len,
                      uint64_t now_ms) {
  clamp_now(c->sc, now_ms);
  if (c->closing || len == 0)
    return;
  if (c->stalled) {
    c->sc->cnt.stalled_bytes += len;
    return;
  }
  tw_irc_splitter_feed(c->split, data, len, on_split_line, c);
}

void tw__simchat_feed_msg(tw_simchat_conn_t *c, const char *data, size_t len,
                          uint64_t now_ms) {
  tw__simchat_feed(c, data, len, now_ms);
  if (!c->closing && !c->stalled)
    tw_irc_splitter_finish(c->split, on_split_line, c);
}

/* ---- time --------------------------------------------------------------- */

static void send_ping(tw_simchat_conn_t *c, uint64_t now) {
  tw_simchat_t *sc = c->sc;
  deliver(c, "PING :" SERVER, 6 + sizeof(SERVER) - 1, 0, 0);
  sc->cnt.pings_sent++;
  if (!c->pong_deadline)
    c->pong_deadline = now + sc->o.pong_timeout_ms;
}

void tw__simchat_tick(tw_simchat_t *sc, uint64_t now_ms) {
  uint64_t now = clamp_now(sc, now_ms);
  for (tw_simchat_conn_t *c = sc->head; c; c = c->next) {
    if (c->closing)
      continue;
    if (c->close_at && now >= c->close_at) {
      conn_close(c, 0);
      continue;
    }
    if (c->stalled)
      continue;
    if (c->pong_deadline && now >= c->pong_deadline) {
      sc->cnt.ping_timeouts++;
      conn_close(c, 0);
      continue;
    }
    if (c->next_ping && now >= c->next_ping) {
      send_ping(c, now);
      c->next_ping = now + sc->o.ping_interval_ms;
    }
  }
  tw__simchat_pump(sc, now);
}

/* ---- control ------------------------------------------------------------ */

static int is_twitch_cmd(tw_irc_cmd_t cmd) {
  switch (cmd) {
  case TW_IRC_CMD_USERNOTICE:
  case TW_IRC_CMD_CLEARCHAT:
  case TW_IRC_CMD_CLEARMSG:
  case TW_IRC_CMD_NOTICE:
  case TW_IRC_CMD_ROOMSTATE:
  case TW_IRC_CMD_USERSTATE:
  case TW_IRC_CMD_GLOBALUSERSTATE:
  case TW_IRC_CMD_RECONNECT:
  case TW_IRC_CMD_WHISPER:
  case TW_IRC_CMD_HOSTTARGET:
    return 1;
  default:
    return 0;
  }
}

/* Delivers a parsed injected line to c with Twitch's cap rules. */
static int inject_one(tw_simchat_conn_t *c, const tw_irc_msg_t *m,
                      const char *line, size_t len, size_t tagskip) {
  int member = m->cmd == TW_IRC_CMD_JOIN || m->cmd == TW_IRC_CMD_PART;
  int self = member && c->registered && tw_irc_str_eq(m->nick, c->nick);
  if (member && !self && !(c->caps & TW_SIM_CAP_MEMBERSHIP))
    return 0;
  int n = deliver(c, line, len, tagskip, is_twitch_cmd(m->cmd));
  if (self && m->cmd == TW_IRC_CMD_PART && m->nparams >= 1 &&
      m->params[0].len > 1) {
    /* Twitch parting the client (a ban) takes it out of the room. */
    room_t *r = room_get(c->sc, m->params[0].ptr + 1, m->params[0].len - 1);
    if (r && conn_in(c, r))
      room_del_conn(r, c);
  }
  return n;
}

/* Remembers an injected PRIVMSG that has an id, so replies to it work. */
static void remember_injected(room_t *r, const tw_irc_msg_t *m) {
  if (m->cmd != TW_IRC_CMD_PRIVMSG || m->nparams < 2 || !m->nick.ptr)
    return;
  tw_irc_str_t id = tw_irc_tag_get(m, "id");
  if (!id.ptr || id.len == 0 || id.len >= TW_SIM_MSG_ID_SIZE)
    return;
  tw_irc_str_t uid = tw_irc_tag_get(m, "user-id");
  tw_irc_str_t dn = tw_irc_tag_get(m, "display-name");
  char disp[TW_SIM_MAX_DISPLAY + 1];
  size_t dlen = 0;
  if (dn.ptr && tw_irc_unescape(dn.ptr, dn.len, disp, sizeof(disp), &dlen) != 0)
    dlen = 0;
  tw_irc_str_t text = m->params[m->nparams - 1], inner;
  tw_irc_action(text, &inner);
  hist_t *h =
      hist_new(id.ptr, id.len, uid.ptr ? uid.ptr : "", uid.ptr ? uid.len : 0,
               m->nick.ptr, m->nick.len, dlen ? disp : m->nick.ptr,
               dlen ? dlen : m->nick.len, inner.ptr, inner.len, NULL);
  if (h)
    hist_push(r, h);
}

int tw__simchat_inject_room(tw_simchat_t *sc, const char *room,
                            const char *line, size_t len, uint64_t now_ms) {
  clamp_now(sc, now_ms);
  const char *name;
  size_t n;
  if (room_arg(room, &name, &n) != 0 || !line)
    return TW_EINVAL;
  room_t *r = room_get(sc, name, n);
  if (!r)
    return TW_ENOTFOUND;
  tw_irc_msg_t m;
  if (tw_irc_parse(&m, line, len) != 0)
    return TW_EINVAL;
  remember_injected(r, &m);
  size_t skip = tag_skip(line, len);
  int count = 0;
  /* inject_one may take a client out of the room: walk a snapshot. */
  size_t nc = r->nconns;
  tw_simchat_conn_t **snap = malloc((nc ? nc : 1) * sizeof(*snap));
  if (!snap)
    return TW_ENOMEM;
  if (nc) /* r->conns is NULL until someone joined */
    memcpy(snap, r->conns, nc * sizeof(*snap));
  for (size_t i = 0; i < nc; i++)
    count += inject_one(snap[i], &m, line, len, skip);
  free(snap);
  sc->cnt.injected += (uint64_t)count;
  return count;
}

int tw__simchat_inject_conn(tw_simchat_t *sc, uint64_t conn, const char *line,
                            size_t len, uint64_t now_ms) {
  clamp_now(sc, now_ms);
  if (!line)
    return TW_EINVAL;
  tw_simchat_conn_t *c = tw__simchat_conn_find(sc, conn);
  if (!c)
    return TW_ENOTFOUND;
  tw_irc_msg_t m;
  if (tw_irc_parse(&m, line, len) != 0)
    return TW_EINVAL;
  int count = inject_one(c, &m, line, len, tag_skip(line, len));
  sc->cnt.injected += (uint64_t)count;
  return count;
}

int tw__simchat_say(tw_simchat_t *sc, const char *room, const char *login,
                    const char *text, const char *reply_to,
                    char msg_id[TW_SIM_MSG_ID_SIZE], uint64_t now_ms) {
  clamp_now(sc, now_ms);
  const char *name;
  size_t n;
  if (room_arg(room, &name, &n) != 0 || !login || !text)
    return TW_EINVAL;
  size_t tlen = strlen(text);
  if (!valid_text(text, tlen, TW_SIM_MAX_IN_LINE / 2))
    return TW_EINVAL;
  room_t *r = room_get(sc, name, n);
  if (!r)
    return TW_ENOTFOUND;
  user_t *u;
  int rc = user_need(sc, login, &u);
  if (rc != 0)
    return rc;
  tw_irc_str_t t = {text, tlen}, inner;
  int action = tw_irc_action(t, &inner);
  if (!action && tlen >= 4 && memcmp(text, "/me ", 4) == 0) {
    action = 1;
    inner.ptr = text + 4;
    inner.len = tlen - 4;
  }
  tw_irc_str_t reply = {reply_to, reply_to ? strlen(reply_to) : 0};
  tw_irc_str_t none = {NULL, 0};
  char id[TW_SIM_MSG_ID_SIZE];
  int count =
      relay(sc, r, u, inner.ptr, inner.len, action, reply, none, NULL, id);
  if (sc->lb_over)
    return TW_ETOOBIG;
  sc->cnt.injected += (uint64_t)count;
  if (msg_id)
    memcpy(msg_id, id, TW_SIM_MSG_ID_SIZE);
  return count;
}

int tw__simchat_ping(tw_simchat_t *sc, uint64_t conn, uint64_t now_ms) {
  uint64_t now = clamp_now(sc, now_ms);
  int n = 0;
  for (tw_simchat_conn_t *c = sc->head; c; c = c->next) {
    if ((conn && c->id != conn) || c->closing)
      continue;
    send_ping(c, now);
    n++;
  }
  return conn && !n ? TW_ENOTFOUND : n;
}

int tw__simchat_reconnect(tw_simchat_t *sc, uint64_t conn,
                          uint32_t close_after_ms, uint64_t now_ms) {
  uint64_t now = clamp_now(sc, now_ms);
  int n = 0;
  for (tw_simchat_conn_t *c = sc->head; c; c = c->next) {
    if ((conn && c->id != conn) || c->closing)
      continue;
    server_line(c, 1, "RECONNECT");
    if (close_after_ms)
      c->close_at = now + close_after_ms;
    n++;
  }
  return conn && !n ? TW_ENOTFOUND : n;
}

int tw__simchat_drop(tw_simchat_t *sc, uint64_t conn) {
  int n = 0;
  for (tw_simchat_conn_t *c = sc->head; c; c = c->next) {
    if ((conn && c->id != conn) || c->closing)
      continue;
    sc->cnt.drops++;
    conn_close(c, 1);
    n++;
  }
  return conn && !n ? TW_ENOTFOUND : n;
}

int tw__simchat_stall(tw_simchat_t *sc, uint64_t conn, int stalled,
                      uint64_t now_ms) {
  uint64_t now = clamp_now(sc, now_ms);
  int n = 0;
  for (tw_simchat_conn_t *c = sc->head; c; c = c->next) {
    if ((conn && c->id != conn) || c->closing)
      continue;
    n++;
    if (stalled) {
      c->stalled = 1;
      continue;
    }
    if (!c->stalled)
      continue;
    c->stalled = 0;
    /* What the client answered while stalled was never read; start the
     * keepalive afresh rather than time it out for that. */
    c->pong_deadline = 0;
    if (c->next_ping && c->next_ping < now)
      c->next_ping = now + sc->o.ping_interval_ms;
    wake(c);
  }
  return conn && !n ? TW_ENOTFOUND : n;
}

/* ---- floods ------------------------------------------------------------- */

static void flood_clear(flood_t *f) {
  free(f->buf);
  free(f->lines);
  f->buf = NULL;
  f->lines = NULL;
  f->nlines = 0;
  f->buflen = 0;
  f->active = 0;
  f->room = NULL;
}

void tw__simchat_flood_cancel(tw_simchat_t *sc) {
  flood_clear(&sc->flood);
}

void tw__simchat_flood_status(const tw_simchat_t *sc,
                              tw_sim_flood_status_t *out) {
  memset(out, 0, sizeof(*out));
  out->active = sc->flood.active;
  out->sent = sc->flood.sent;
  out->total = sc->flood.total;
  out->bytes = sc->flood.bytes;
  snprintf(out->room, sizeof(out->room), "%s", sc->flood.room_name);
}

int tw__simchat_flood(tw_simchat_t *sc, const char *room, const char *src,
                      size_t len, uint64_t count, int keep_channel,
                      uint64_t now_ms) {
  clamp_now(sc, now_ms);
  const char *name;
  size_t n;
  if (room_arg(room, &name, &n) != 0 || !src)
    return TW_EINVAL;
  if (sc->flood.active)
    return TW_ESTATE;
  if (len > TW_SIM_MAX_FLOOD_BYTES)
    return TW_ETOOBIG;
  room_t *r = room_get(sc, name, n);
  if (!r)
    return TW_ENOTFOUND;
  flood_t *f = &sc->flood;
  flood_clear(f);
  /* Count lines first, then copy them (rewritten) with CR LF each. A
   * rewritten channel can be longer than the original: allow for it. */
  size_t nl = 0;
  for (size_t i = 0; i < len;) {
    const char *e = memchr(src + i, '\n', len - i);
    size_t end = e ? (size_t)(e - src) : len;
    nl++;
    i = end + 1;
  }
  f->lines = calloc(nl ? nl : 1, sizeof(*f->lines));
  f->buf = malloc(len + nl * (TW_SIM_MAX_LOGIN + 3) + 1);
  if (!f->lines || !f->buf) {
    flood_clear(f);
    return TW_ENOMEM;
  }
  size_t o = 0, k = 0;
  for (size_t i = 0; i < len;) {
    const char *e = memchr(src + i, '\n', len - i);
    size_t end = e ? (size_t)(e - src) : len;
    const char *line = src + i;
    size_t ll = end - i;
    i = end + 1;
    if (ll && line[ll - 1] == '\r')
      ll--;
    tw_irc_msg_t m;
    if (ll == 0 || ll > TW_MAX_IRC_LINE || tw_irc_parse(&m, line, ll) != 0)
      continue; /* blank or not IRC: skipped */
    fline_t *fl = &f->lines[k];
    fl->off = o;
    if (!keep_channel && m.nparams >= 1 && m.params[0].len >= 1 &&
        m.params[0].ptr[0] == '#') {
      size_t pre = (size_t)(m.params[0].ptr - line);
      size_t post = pre + m.params[0].len;
      memcpy(f->buf + o, line, pre);
      o += pre;
      f->buf[o++] = '#';
      memcpy(f->buf + o, r->name, strlen(r->name));
      o += strlen(r->name);
      memcpy(f->buf + o, line + post, ll - post);
      o += ll - post;
    } else {
      memcpy(f->buf + o, line, ll);
      o += ll;
    }
    f->buf[o++] = '\r';
    f->buf[o++] = '\n';
    fl->len = o - fl->off;
    fl->tagskip = (uint32_t)tag_skip(f->buf + fl->off, fl->len);
    fl->twitchcmd = (uint8_t)is_twitch_cmd(m.cmd);
    fl->member = m.cmd == TW_IRC_CMD_JOIN || m.cmd == TW_IRC_CMD_PART;
    k++;
  }
  if (k == 0) {
    flood_clear(f);
    return TW_EINVAL;
  }
  f->nlines = k;
  f->buflen = o;
  f->room = r;
  snprintf(f->room_name, sizeof(f->room_name), "%s", r->name);
  f->next = 0;
  f->sent = 0;
  f->bytes = 0;
  f->total = count ? count : k;
  f->active = 1;
  tw__simchat_pump(sc, sc->now);
  return 0;
}

/* Appends lines [a, b) of the flood to c, filtered by its caps. */
static void flood_to(tw_simchat_conn_t *c, const flood_t *f, size_t a,
                     size_t b) {
  const unsigned all =
      TW_SIM_CAP_TAGS | TW_SIM_CAP_COMMANDS | TW_SIM_CAP_MEMBERSHIP;
  if ((c->caps & all) == all) {
    /* The common case: one copy of the whole batch. */
    size_t start = f->lines[a].off;
    size_t end = f->lines[b - 1].off + f->lines[b - 1].len;
    out_block(c, f->buf + start, end - start, b - a);
    return;
  }
  for (size_t i = a; i < b && !c->closing; i++) {
    const fline_t *fl = &f->lines[i];
    if (fl->twitchcmd && !(c->caps & TW_SIM_CAP_COMMANDS))
      continue;
    if (fl->member && !(c->caps & TW_SIM_CAP_MEMBERSHIP))
      continue;
    size_t skip = (c->caps & TW_SIM_CAP_TAGS) ? 0 : fl->tagskip;
    out_block(c, f->buf + fl->off + skip, fl->len - skip, 1);
  }
}

void tw__simchat_pump(tw_simchat_t *sc, uint64_t now_ms) {
  clamp_now(sc, now_ms);
  flood_t *f = &sc->flood;
  while (f->active) {
    room_t *r = f->room;
    size_t live = 0;
    for (size_t i = 0; i < r->nconns; i++) {
      tw_simchat_conn_t *c = r->conns[i];
      if (c->closing || c->stalled)
        continue;
      if (c->out_len >= TW_SIM_FLOOD_WATERMARK)
        return; /* wait for the slowest reader */
      live++;
    }
    /* One batch: whole lines from `next`, up to FLOOD_BATCH bytes, not past
     * the end of the source nor past the total. */
    size_t a = f->next, b = a, bytes = 0;
    uint64_t left = f->total - f->sent;
    while (b < f->nlines && (uint64_t)(b - a) < left &&
           (bytes == 0 || bytes + f->lines[b].len <= FLOOD_BATCH)) {
      bytes += f->lines[b].len;
      b++;
    }
    if (live > 0) {
      /* A snapshot, since a client may be cut off (slow) while we write. */
      for (size_t i = r->nconns; i-- > 0;) {
        if (i >= r->nconns)
          continue;
        tw_simchat_conn_t *c = r->conns[i];
        if (!c->closing)
          flood_to(c, f, a, b);
      }
    }
    f->sent += b - a;
    f->bytes += bytes;
    sc->cnt.flood_lines += b - a;
    sc->cnt.injected += (uint64_t)(b - a) * live;
    f->next = b == f->nlines ? 0 : b;
    if (f->sent >= f->total || live == 0) {
      /* Done, or nobody left to send to. */
      uint64_t sent = f->sent;
      char room[TW_SIM_MAX_LOGIN + 1];
      memcpy(room, f->room_name, sizeof(room));
      free(f->buf);
      free(f->lines);
      f->buf = NULL;
      f->lines = NULL;
      f->active = 0;
      f->room = NULL;
      emit(sc, TW_SIM_EV_FLOOD_DONE, NULL, room, NULL, 0, NULL, 0, sent);
      return;
    }
  }
}

/* ---- counters and introspection ---------------------------------------- */

void tw__simchat_counters(const tw_simchat_t *sc, tw_sim_counters_t *out) {
  *out = sc->cnt;
}

int tw__simchat_user_counters(const tw_simchat_t *sc, const char *login,
                              tw_sim_user_counters_t *out) {
  if (!login)
    return TW_ENOTFOUND;
  user_t *u = user_get(sc, login);
  if (!u)
    return TW_ENOTFOUND;
  *out = u->cnt;
  return 0;
}

static void reset_user_cb(void *ud, const char *key, void *value) {
  (void)ud;
  (void)key;
  user_t *u = value;
  memset(&u->cnt, 0, sizeof(u->cnt));
}

void tw__simchat_counters_reset(tw_simchat_t *sc) {
  uint64_t open = sc->cnt.conns_open;
  memset(&sc->cnt, 0, sizeof(sc->cnt));
  sc->cnt.conns_open = open;
  tw__simmap_each(&sc->users, reset_user_cb, NULL);
}

typedef struct {
  void (*fn)(void *ud, const char *login, const tw_sim_user_counters_t *c);
  void *ud;
} users_each_t;

static void users_each_cb(void *ud, const char *key, void *value) {
  users_each_t *e = ud;
  const user_t *u = value;
  e->fn(e->ud, key, &u->cnt);
}

void tw__simchat_users_each(const tw_simchat_t *sc,
                            void (*fn)(void *ud, const char *login,
                                       const tw_sim_user_counters_t *c),
                            void *ud) {
  users_each_t e = {fn, ud};
  tw__simmap_each(&sc->users, users_each_cb, &e);
}

int tw__simchat_conn_info(const tw_simchat_t *sc, uint64_t conn,
                          tw_sim_conn_info_t *out) {
  const tw_simchat_conn_t *c = tw__simchat_conn_find(sc, conn);
  if (!c)
    return TW_ENOTFOUND;
  memset(out, 0, sizeof(*out));
  out->id = c->id;
  out->transport = c->transport;
  out->login = c->registered ? c->nick : "";
  out->logged_in = c->registered;
  out->anonymous = c->anonymous;
  out->caps = c->caps;
  out->stalled = c->stalled;
  out->nrooms = c->nrooms;
  out->queued = c->out_len;
  out->lines = c->lines;
  return 0;
}

size_t tw__simchat_conns(const tw_simchat_t *sc, uint64_t *ids, size_t max) {
  size_t n = 0;
  for (const tw_simchat_conn_t *c = sc->head; c; c = c->next) {
    if (n < max)
      ids[n] = c->id;
    n++;
  }
  return n;
}

int tw__simchat_conn_in_room(const tw_simchat_t *sc, uint64_t conn,
                             const char *room) {
  const tw_simchat_conn_t *c = tw__simchat_conn_find(sc, conn);
  if (!c)
    return TW_ENOTFOUND;
  const char *name;
  size_t n;
  if (room_arg(room, &name, &n) != 0)
    return 0;
  room_t *r = room_get(sc, name, n);
  return r && conn_in(c, r);
}

void tw__simchat_set_ban_check(tw_simchat_t *sc, tw_simchat_ban_check_fn fn,
                               void *ud) {
  sc->ban_check = fn;
  sc->ban_ud = ud;
}

void tw__simchat_set_observer(tw_simchat_t *sc, tw_sim_event_cb cb, void *ud) {
  sc->obs = cb;
  sc->obs_ud = ud;
}

/* ---- lifetime ----------------------------------------------------------- */

static int resolve_opts(tw_sim_chat_opts_t *o) {
#define DEF(field, val)                                                        \
  if (o->field == 0)                                                           \
  o->field = (val)
  DEF(max_conns, TW_SIM_MAX_CONNS);
  DEF(max_output, TW_SIM_MAX_OUTPUT);
  DEF(ping_interval_ms, 300000);
  DEF(pong_timeout_ms, 10000);
  DEF(rate_limit, 20);
  DEF(rate_limit_priv, 100);
  DEF(rate_limit_verified, 7500);
  DEF(rate_window_ms, 30000);
  DEF(room_interval_ms, 1000);
  DEF(dup_window_ms, 30000);
  DEF(join_limit, 20);
  DEF(join_window_ms, 10000);
  DEF(max_msg_chars, 500);
#undef DEF
  if (o->max_conns > TW_SIM_MAX_CONNS_LIMIT ||
      o->rate_limit > TW_SIM_MAX_RATE_LIMIT ||
      o->rate_limit_priv > TW_SIM_MAX_RATE_LIMIT ||
      o->rate_limit_verified > TW_SIM_MAX_RATE_LIMIT ||
      o->join_limit > TW_SIM_MAX_RATE_LIMIT ||
      o->rate_window_ms == TW_SIM_OFF || o->pong_timeout_ms == TW_SIM_OFF ||
      o->max_output < 4096 || o->max_msg_chars > TW_SIM_MAX_IN_LINE)
    return TW_EINVAL;
  return 0;
}

int tw__simchat_new(const tw_sim_chat_opts_t *opts, const tw_simchat_io_t *io,
                    void *io_ud, uint64_t seed, uint64_t now_ms,
                    int64_t wall_offset_ms, tw_simchat_t **out) {
  tw_simchat_t *sc = calloc(1, sizeof(*sc));
  if (!sc)
    return TW_ENOMEM;
  if (opts)
    sc->o = *opts;
  if (resolve_opts(&sc->o) != 0) {
    free(sc);
    return TW_EINVAL;
  }
  if (io)
    sc->io = *io;
  sc->io_ud = io_ud;
  sc->rng = seed;
  sc->now = now_ms;
  sc->wall_offset = wall_offset_ms;
  sc->next_conn_id = 1;
  sc->next_user_id = 100000001;
  tw__simmap_init(&sc->users);
  tw__simmap_init(&sc->tokens);
  tw__simmap_init(&sc->rooms);
  *out = sc;
  return 0;
}

static void free_user_cb(void *ud, const char *key, void *value) {
  (void)ud;
  (void)key;
  user_t *u = value;
  win_free(&u->msgs);
  win_free(&u->joins);
  free(u);
}

static void free_token_cb(void *ud, const char *key, void *value) {
  (void)ud;
  (void)key;
  token_free(value);
}

static void free_room_cb(void *ud, const char *key, void *value) {
  (void)ud;
  (void)key;
  room_free(value);
}

void tw__simchat_free(tw_simchat_t *sc) {
  if (!sc)
    return;
  while (sc->head)
    conn_unlink_free(sc->head);
  flood_clear(&sc->flood);
  tw__simmap_each(&sc->rooms, free_room_cb, NULL);
  tw__simmap_free(&sc->rooms);
  tw__simmap_each(&sc->tokens, free_token_cb, NULL);
  tw__simmap_free(&sc->tokens);
  tw__simmap_each(&sc->users, free_user_cb, NULL);
  tw__simmap_free(&sc->users);
  if (sc->rec) {
    while (sc->rec_n)
      rec_evict(sc);
    free(sc->rec);
  }
  free(sc);
}

const char *tw_sim_drop_name(tw_sim_drop_t reason) {
  switch (reason) {
  case TW_SIM_DROP_NONE:
    return "none";
  case TW_SIM_DROP_RATELIMIT:
    return "ratelimit";
  case TW_SIM_DROP_ROOM_RATE:
    return "room_rate";
  case TW_SIM_DROP_DUPLICATE:
    return "duplicate";
  case TW_SIM_DROP_TOO_LONG:
    return "too_long";
  case TW_SIM_DROP_ANONYMOUS:
    return "anonymous";
  case TW_SIM_DROP_NO_SCOPE:
    return "no_scope";
  case TW_SIM_DROP_NO_ROOM:
    return "no_room";
  case TW_SIM_DROP_COMMAND:
    return "command";
  case TW_SIM_DROP_EMPTY:
    return "empty";
  case TW_SIM_DROP_BAD_CHARS:
    return "bad_characters";
  case TW_SIM_DROP_BANNED:
    return "banned";
  }
  return "unknown";
}
