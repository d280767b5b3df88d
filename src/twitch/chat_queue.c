/* The outbound chat queue; behaviour and decisions are described in
 * chat_queue.h. */
#include "twitch/chat_queue.h"

#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"

/* The suffix for a duplicate text without spaces: a space and U+034F. */
#define DUP_SUFFIX " \xCD\x8F"
#define DUP_SUFFIX_LEN 3
#define DUP_SUFFIX_CPS 2

/* CTCP ACTION framing (octal, since "\x01A" would read as one hex escape). */
#define ACTION_OPEN "\001ACTION "
#define ACTION_OPEN_LEN (sizeof(ACTION_OPEN) - 1)

#define TAG_PREFIX "@reply-parent-msg-id="
#define TAG_PREFIX_LEN (sizeof(TAG_PREFIX) - 1)

_Static_assert(TW_CHAT_WINDOW_MS + TW_CHAT_WINDOW_MARGIN_MS <= UINT32_MAX,
               "window fits the limits type");

/* One queued message (one part of a caller's text). */
typedef struct tw__chatq_msg {
  struct tw__chatq_msg *next;
  uint64_t hash;     /* of action flag and body, for duplicate checks */
  uint32_t cps;      /* code points in the body */
  uint32_t body_len; /* bytes of body */
  uint32_t tag_len;  /* bytes of the escaped reply id; 0 = not a reply */
  bool action;
  bool has_space; /* body contains an ASCII space to double */
  char data[];    /* escaped reply id, then body; not NUL-terminated */
} msg_t;

typedef struct {
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
  uint64_t id;         /* unique per entry; tags sends in the history */
  uint64_t served_seq; /* when last served; 0 = never; lower goes first */
  bool privileged;
  bool has_sent;
  uint64_t last_send_ms;
  uint64_t last_hash;     /* of the line last sent here */
  uint64_t head_since_ms; /* when the current head became the head */
  uint64_t sent_total;
  size_t queued;
  msg_t *head, *tail;
} chan_t;

struct tw_chatq {
  tw_chatq_limits_t lim;
  uint64_t now_ms; /* the latest time seen; earlier times are raised to it */
  chan_t *chans[TW_MAX_CHAT_CHANNELS];
  size_t nchans;
  uint64_t next_chan_id;
  uint64_t serve_seq;
  size_t queued;
  /* Ring of the last privileged_max sends: every send that can still matter
   * to either limit, since at most privileged_max fit in one window. */
  uint64_t *ring_ms;
  uint64_t *ring_chan;
  size_t ring_cap, ring_next, ring_count;
  uint64_t sent_total, rejected_full, dup_altered;
};

void tw_chatq_limits_default(tw_chatq_limits_t *limits) {
  limits->window_ms = TW_CHAT_WINDOW_MS + TW_CHAT_WINDOW_MARGIN_MS;
  limits->normal_max = TW_CHAT_NORMAL_PER_WINDOW;
  limits->privileged_max = TW_CHAT_PRIVILEGED_PER_WINDOW;
  limits->channel_interval_ms =
      TW_CHAT_CHANNEL_INTERVAL_MS + TW_CHAT_CHANNEL_MARGIN_MS;
  limits->duplicate_ms = TW_CHAT_DUPLICATE_MS + TW_CHAT_WINDOW_MARGIN_MS;
  limits->max_queued = TW_MAX_CHAT_QUEUE;
  limits->max_queued_per_channel = TW_MAX_CHAT_QUEUE_PER_CHANNEL;
}

int tw_chatq_new(const tw_chatq_limits_t *limits, tw_chatq_t **out) {
  tw_chatq_t *q;
  tw_chatq_limits_t lim;

  if (!out)
    return TW_EINVAL;
  *out = NULL;
  if (limits)
    lim = *limits;
  else
    tw_chatq_limits_default(&lim);
  if (lim.window_ms < 1 || lim.normal_max < 1 ||
      lim.privileged_max < lim.normal_max ||
      lim.privileged_max > TW_MAX_CHAT_WINDOW_SENDS ||
      lim.max_queued_per_channel < 1 ||
      lim.max_queued_per_channel > TW_MAX_CHAT_QUEUE_PER_CHANNEL ||
      lim.max_queued < lim.max_queued_per_channel ||
      lim.max_queued > TW_MAX_CHAT_QUEUE)
    return TW_EINVAL;
  q = calloc(1, sizeof(*q));
  if (!q)
    return TW_ENOMEM;
  q->lim = lim;
  q->ring_cap = lim.privileged_max;
  q->ring_ms = calloc(q->ring_cap, sizeof(*q->ring_ms));
  q->ring_chan = calloc(q->ring_cap, sizeof(*q->ring_chan));
  if (!q->ring_ms || !q->ring_chan) {
    tw_chatq_free(q);
    return TW_ENOMEM;
  }
  q->next_chan_id = 1;
  *out = q;
  return 0;
}

static void free_msgs(msg_t *m) {
  while (m) {
    msg_t *next = m->next;
    free(m);
    m = next;
  }
}

void tw_chatq_free(tw_chatq_t *q) {
  if (!q)
    return;
  for (size_t i = 0; i < q->nchans; i++) {
    free_msgs(q->chans[i]->head);
    free(q->chans[i]);
  }
  free(q->ring_ms);
  free(q->ring_chan);
  free(q);
}

/* Raises a time that went backwards to the latest seen, so the send history
 * stays ordered. */
static uint64_t advance(tw_chatq_t *q, uint64_t now_ms) {
  if (now_ms > q->now_ms)
    q->now_ms = now_ms;
  return q->now_ms;
}

static uint64_t max_u64(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

/* Adds without wrapping, so a time "never" stays UINT64_MAX. */
static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* FNV-1a, 64 bits: collisions only cause a needless alteration or wait. */
static uint64_t hash_bytes(uint64_t h, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static uint64_t hash_start(bool action) {
  uint64_t h = 0xcbf29ce484222325ULL;
  char a = action ? 'A' : 'P';
  return hash_bytes(h, &a, 1);
}

static chan_t *find_chan(const tw_chatq_t *q, const char *name) {
  for (size_t i = 0; i < q->nchans; i++)
    if (strcmp(q->chans[i]->name, name) == 0)
      return q->chans[i];
  return NULL;
}

/* An entry may be forgotten when nothing about it matters any more: nothing
 * queued, not privileged, and its last line outside every window that looks
 * at it (the account window, its interval, the duplicate window). */
static bool chan_idle(const tw_chatq_t *q, const chan_t *c) {
  uint64_t keep;
  if (c->queued > 0 || c->privileged)
    return false;
  if (!c->has_sent)
    return true;
  keep = max_u64(q->lim.window_ms,
                 max_u64(q->lim.channel_interval_ms, q->lim.duplicate_ms));
  return q->now_ms >= add_sat(c->last_send_ms, keep);
}

/* Finds the entry for `name`, creating it if needed; when the table is full,
 * an idle entry makes room. NULL when there is none to spare or on ENOMEM
 * (*err says which). */
static chan_t *get_chan(tw_chatq_t *q, const char *name, int *err) {
  chan_t *c = find_chan(q, name);
  if (c)
    return c;
  if (q->nchans == TW_MAX_CHAT_CHANNELS) {
    size_t i;
    for (i = 0; i < q->nchans; i++)
      if (chan_idle(q, q->chans[i]))
        break;
    if (i == q->nchans) {
      *err = TW_EFULL;
      return NULL;
    }
    free(q->chans[i]);
    q->chans[i] = q->chans[--q->nchans];
  }
  c = calloc(1, sizeof(*c));
  if (!c) {
    *err = TW_ENOMEM;
    return NULL;
  }
  memcpy(c->name, name, sizeof(c->name));
  c->id = q->next_chan_id++;
  q->chans[q->nchans++] = c;
  return c;
}

int tw_chatq_set_privileged(tw_chatq_t *q, const char *channel,
                            bool privileged) {
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
  chan_t *c;
  int err = 0;

  if (!q || tw__chat_channel_normalize(channel, name) != 0)
    return TW_EINVAL;
  if (!privileged) {
    /* Unknown channels are unprivileged already; no entry needed. */
    c = find_chan(q, name);
    if (c)
      c->privileged = false;
    return 0;
  }
  c = get_chan(q, name, &err);
  if (!c)
    return err;
  c->privileged = true;
  return 0;
}

static msg_t *make_msg(const char *tag, size_t tag_len, const char *body,
                       size_t body_len, size_t cps, bool action) {
  msg_t *m = malloc(sizeof(*m) + tag_len + body_len);
  if (!m)
    return NULL;
  m->next = NULL;
  m->cps = (uint32_t)cps;
  m->body_len = (uint32_t)body_len;
  m->tag_len = (uint32_t)tag_len;
  m->action = action;
  m->has_space = memchr(body, ' ', body_len) != NULL;
  memcpy(m->data, tag, tag_len);
  memcpy(m->data + tag_len, body, body_len);
  m->hash = hash_bytes(hash_start(action), body, body_len);
  return m;
}

int tw_chatq_say(tw_chatq_t *q, const char *channel, const char *text,
                 const char *reply_parent_msg_id, bool is_action,
                 uint64_t now_ms) {
  if (!text)
    return TW_EINVAL;
  return tw_chatq_say_len(q, channel, text, strlen(text), reply_parent_msg_id,
                          is_action, now_ms);
}

int tw_chatq_say_len(tw_chatq_t *q, const char *channel, const char *text,
                     size_t text_len, const char *reply_parent_msg_id,
                     bool is_action, uint64_t now_ms) {
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
  char tag[2 * TW_MAX_CHAT_REPLY_ID];
  size_t tag_len = 0, norm_len, pos, nparts = 0;
  char *norm = NULL;
  msg_t *first = NULL, *last = NULL;
  chan_t *c;
  tw__chat_part_t part;
  int err = 0;

  if (!q || !channel || (!text && text_len > 0))
    return TW_EINVAL;
  now_ms = advance(q, now_ms);
  if (tw__chat_channel_normalize(channel, name) != 0)
    return TW_EINVAL;
  if (text_len > TW_MAX_CHAT_TEXT)
    return TW_ETOOBIG;
  if (reply_parent_msg_id) {
    size_t n = strlen(reply_parent_msg_id);
    if (n == 0 || !tw__utf8_valid(reply_parent_msg_id, n))
      return TW_EINVAL;
    if (n > TW_MAX_CHAT_REPLY_ID)
      return TW_ETOOBIG;
    if (tw__chat_tag_escape(reply_parent_msg_id, n, tag, sizeof(tag),
                            &tag_len) != 0)
      return TW_ETOOBIG; /* cannot happen: 2 bytes per byte fit */
  }

  /* Normalise first: the checks below must see what will be sent. */
  norm = malloc(3 * text_len + 1);
  if (!norm)
    return TW_ENOMEM;
  norm_len = tw__chat_text_normalize(text ? text : "", text_len, norm,
                                     3 * text_len + 1);
  if (tw__chat_text_is_blank(norm, norm_len)) {
    err = TW_EINVAL;
    goto out;
  }
  /* Count the parts, so that the message is queued whole or not at all. */
  pos = 0;
  while (tw__chat_text_next_part(norm, norm_len, &pos,
                                 TW_MAX_CHAT_MESSAGE_CHARS, !is_action, &part))
    nparts++;
  if (nparts == 0) {
    /* Only no-break spaces and the like: treated as blank above, but keep
     * the queue safe should the definitions ever drift apart. */
    err = TW_EINVAL;
    goto out;
  }
  if (nparts > q->lim.max_queued_per_channel) {
    err = TW_ETOOBIG;
    goto out;
  }
  c = find_chan(q, name);
  if (q->queued + nparts > q->lim.max_queued ||
      (c && c->queued + nparts > q->lim.max_queued_per_channel)) {
    q->rejected_full++;
    err = TW_EFULL;
    goto out;
  }
  if (!c) {
    c = get_chan(q, name, &err);
    if (!c) {
      if (err == TW_EFULL)
        q->rejected_full++;
      goto out;
    }
  }
  pos = 0;
  for (size_t i = 0; i < nparts; i++) {
    msg_t *m;
    tw__chat_text_next_part(norm, norm_len, &pos, TW_MAX_CHAT_MESSAGE_CHARS,
                            !is_action, &part);
    m = make_msg(tag, i == 0 ? tag_len : 0, norm + part.off, part.len, part.cps,
                 is_action);
    if (!m) {
      free_msgs(first);
      err = TW_ENOMEM;
      goto out;
    }
    if (last)
      last->next = m;
    else
      first = m;
    last = m;
  }
  if (c->tail) {
    c->tail->next = first;
  } else {
    c->head = first;
    c->head_since_ms = now_ms;
  }
  c->tail = last;
  c->queued += nparts;
  q->queued += nparts;
out:
  free(norm);
  return err;
}

/* Send time of the k-th most recent line (k >= 1), or 0 when fewer than k
 * lines were ever sent, in which case the limit cannot bind. */
static uint64_t kth_recent(const tw_chatq_t *q, size_t k) {
  if (q->ring_count < k)
    return 0;
  return q->ring_ms[(q->ring_next + q->ring_cap - k) % q->ring_cap];
}

/* When the account window lets a line go to a channel of the given kind. */
static uint64_t account_ready(const tw_chatq_t *q, bool privileged) {
  size_t k = privileged ? q->lim.privileged_max : q->lim.normal_max;
  if (q->ring_count < k)
    return 0;
  return add_sat(kth_recent(q, k), q->lim.window_ms);
}

/* True when the head would repeat the channel's last line inside the
 * duplicate window. */
static bool is_duplicate(const tw_chatq_t *q, const chan_t *c, const msg_t *m,
                         uint64_t t) {
  return q->lim.duplicate_ms > 0 && c->has_sent && m->hash == c->last_hash &&
         t < add_sat(c->last_send_ms, q->lim.duplicate_ms);
}

/* Code points the duplicate alteration adds to m. */
static uint32_t dup_extra_cps(const msg_t *m) {
  return m->has_space ? 1 : DUP_SUFFIX_CPS;
}

/* When the channel's own rules (interval, duplicate hold) let its head go,
 * ignoring the account window. */
static uint64_t own_ready(const tw_chatq_t *q, const chan_t *c) {
  uint64_t r = 0;
  const msg_t *m = c->head;
  if (c->has_sent && !c->privileged)
    r = add_sat(c->last_send_ms, q->lim.channel_interval_ms);
  /* A duplicate at the length limit cannot be altered, so it waits out the
   * duplicate window. The check does not depend on the time: until the
   * window ends the line is a duplicate, after it it is not. */
  if (q->lim.duplicate_ms > 0 && c->has_sent && m->hash == c->last_hash &&
      m->cps + dup_extra_cps(m) > TW_MAX_CHAT_MESSAGE_CHARS)
    r = max_u64(r, add_sat(c->last_send_ms, q->lim.duplicate_ms));
  return r;
}

/* Writes the line for c's head into out, altered if it repeats the previous
 * line. Returns the line length, or the needed length (> cap - 1) without
 * writing when it does not fit. *altered says whether it was altered; *hash
 * gets the hash of the text as sent. */
static size_t build_line(const tw_chatq_t *q, const chan_t *c, uint64_t now,
                         char *out, size_t cap, bool *altered, uint64_t *hash) {
  const msg_t *m = c->head;
  const char *body = m->data + m->tag_len;
  size_t name_len = strlen(c->name);
  bool dup = is_duplicate(q, c, m, now);
  size_t extra = dup ? (m->has_space ? 1 : DUP_SUFFIX_LEN) : 0;
  size_t need = (m->tag_len ? TAG_PREFIX_LEN + m->tag_len + 1 : 0) + 9 +
                name_len + 2 + (m->action ? ACTION_OPEN_LEN + 1 : 0) +
                m->body_len + extra;
  size_t o = 0, text_start, text_len;

  *altered = dup;
  if (need + 1 > cap)
    return need;
#define PUT(p, n)                                                              \
  do {                                                                         \
    memcpy(out + o, (p), (n));                                                 \
    o += (n);                                                                  \
  } while (0)
  if (m->tag_len) {
    PUT(TAG_PREFIX, TAG_PREFIX_LEN);
    PUT(m->data, m->tag_len);
    PUT(" ", 1);
  }
  PUT("PRIVMSG #", 9);
  PUT(c->name, name_len);
  PUT(" :", 2);
  if (m->action)
    PUT(ACTION_OPEN, ACTION_OPEN_LEN);
  text_start = o;
  if (dup && m->has_space) {
    /* Double the first space: invisible, and no longer identical. */
    const char *sp = memchr(body, ' ', m->body_len);
    size_t k = (size_t)(sp - body) + 1;
    PUT(body, k);
    PUT(" ", 1);
    PUT(body + k, m->body_len - k);
  } else {
    PUT(body, m->body_len);
    if (dup)
      PUT(DUP_SUFFIX, DUP_SUFFIX_LEN);
  }
  text_len = o - text_start;
  if (m->action)
    PUT("\x01", 1);
#undef PUT
  out[o] = '\0';
  *hash = hash_bytes(hash_start(m->action), out + text_start, text_len);
  return o;
}

static void record_send(tw_chatq_t *q, chan_t *c, uint64_t now, uint64_t hash) {
  msg_t *m = c->head;

  q->ring_ms[q->ring_next] = now;
  q->ring_chan[q->ring_next] = c->id;
  q->ring_next = (q->ring_next + 1) % q->ring_cap;
  if (q->ring_count < q->ring_cap)
    q->ring_count++;
  c->has_sent = true;
  c->last_send_ms = now;
  c->last_hash = hash;
  c->served_seq = ++q->serve_seq;
  c->sent_total++;
  q->sent_total++;
  c->head = m->next;
  if (!c->head)
    c->tail = NULL;
  c->head_since_ms = now;
  c->queued--;
  q->queued--;
  free(m);
}

int tw_chatq_next(tw_chatq_t *q, uint64_t now_ms, char *out, size_t cap,
                  size_t *len, uint64_t *wait_ms) {
  uint64_t np_ready, p_ready, hold_start = UINT64_MAX;
  uint64_t earliest = UINT64_MAX, hash = 0;
  chan_t *best = NULL;
  bool altered;
  size_t n;

  if (!q || !out || !len || !wait_ms)
    return TW_EINVAL;
  now_ms = advance(q, now_ms);
  *len = 0;
  if (q->queued == 0) {
    *wait_ms = UINT64_MAX;
    return TW_EAGAIN;
  }
  np_ready = account_ready(q, false);
  p_ready = account_ready(q, true);

  /* The anti-starvation hold: from the earliest time some non-privileged
   * head has waited a full window beyond its own constraints, until the
   * window lets non-privileged lines go again, privileged channels pause.
   * Nothing here depends on now, so the answer below stays exact. */
  for (size_t i = 0; i < q->nchans; i++) {
    const chan_t *c = q->chans[i];
    if (c->head && !c->privileged) {
      uint64_t h =
          max_u64(add_sat(c->head_since_ms, q->lim.window_ms), own_ready(q, c));
      if (h < hold_start)
        hold_start = h;
    }
  }

  for (size_t i = 0; i < q->nchans; i++) {
    chan_t *c = q->chans[i];
    uint64_t t;
    if (!c->head)
      continue;
    /* t: the earliest time at or after now this channel may send. */
    t = max_u64(now_ms,
                max_u64(own_ready(q, c), c->privileged ? p_ready : np_ready));
    if (c->privileged && t >= hold_start && t < np_ready)
      t = np_ready;
    if (t < earliest)
      earliest = t;
    if (t == now_ms &&
        (!best || c->served_seq < best->served_seq ||
         (c->served_seq == best->served_seq && c->id < best->id)))
      best = c;
  }
  if (!best) {
    *wait_ms = earliest - now_ms;
    return TW_EAGAIN;
  }
  n = build_line(q, best, now_ms, out, cap, &altered, &hash);
  if (n + 1 > cap) {
    *len = n;
    *wait_ms = 0;
    return TW_ETOOBIG;
  }
  if (altered)
    q->dup_altered++;
  record_send(q, best, now_ms, hash);
  *len = n;
  *wait_ms = 0;
  return 0;
}

int tw_chatq_clear(tw_chatq_t *q, const char *channel) {
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
  size_t dropped = 0;

  if (!q)
    return TW_EINVAL;
  if (channel && tw__chat_channel_normalize(channel, name) != 0)
    return TW_EINVAL;
  for (size_t i = 0; i < q->nchans; i++) {
    chan_t *c = q->chans[i];
    if (channel && strcmp(c->name, name) != 0)
      continue;
    free_msgs(c->head);
    c->head = c->tail = NULL;
    dropped += c->queued;
    q->queued -= c->queued;
    c->queued = 0;
  }
  return (int)dropped;
}

/* Lines in the window ending at now, for one channel id or all (id 0). */
static uint32_t window_count(const tw_chatq_t *q, uint64_t now,
                             uint64_t chan_id) {
  uint32_t n = 0;
  for (size_t k = 1; k <= q->ring_count; k++) {
    size_t idx = (q->ring_next + q->ring_cap - k) % q->ring_cap;
    if (now >= add_sat(q->ring_ms[idx], q->lim.window_ms))
      break; /* older ones are older still */
    if (chan_id == 0 || q->ring_chan[idx] == chan_id)
      n++;
  }
  return n;
}

void tw_chatq_stats(const tw_chatq_t *q, uint64_t now_ms,
                    tw_chatq_stats_t *out) {
  uint64_t now;
  if (!q || !out)
    return;
  now = max_u64(now_ms, q->now_ms);
  memset(out, 0, sizeof(*out));
  out->queued = q->queued;
  out->channels = q->nchans;
  out->window_sent = window_count(q, now, 0);
  out->sent_total = q->sent_total;
  out->rejected_full = q->rejected_full;
  out->dup_altered = q->dup_altered;
}

int tw_chatq_channel_stats(const tw_chatq_t *q, const char *channel,
                           uint64_t now_ms, tw_chatq_channel_stats_t *out) {
  char name[TW_MAX_CHAT_CHANNEL_NAME + 1];
  const chan_t *c;

  if (!q || !out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (tw__chat_channel_normalize(channel, name) != 0)
    return TW_EINVAL;
  c = find_chan(q, name);
  if (!c)
    return 0;
  out->queued = c->queued;
  out->window_sent = window_count(q, max_u64(now_ms, q->now_ms), c->id);
  out->sent_total = c->sent_total;
  out->privileged = c->privileged;
  return 0;
}
