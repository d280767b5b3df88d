/* twitchd: stream up/down from polling Helix Get Streams (see
 * twitchd/stream_watch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/stream_watch.h"

#define MOD "streams"

typedef struct {
  char *login;
  bool known;
  bool live;
} chan_t;

struct tw_stream_watch {
  uv_loop_t *loop;
  tw_helix_client_t *hc;
  tw_stream_watch_opts_t o;
  char *connector;
  chan_t *ch;
  size_t n;
  uv_timer_t timer;
  uint64_t req_id; /* 0 when no request is in flight */
  bool closing;
  void (*close_cb)(void *ud);
  void *close_ud;
};

static int set_str(tw_event_t *ev, const char *name, const char *v) {
  return v && v[0] ? tw_event_set_str(ev, name, v) : 0;
}

bool tw_stream_watch_apply(const char *channel, const char *connector,
                           bool known, bool was_live,
                           const tw_helix_stream_t *s, tw_event_t **ev) {
  *ev = NULL;
  bool live = s != NULL;
  if (!known || live == was_live)
    return live;
  tw_event_t *e =
      tw_event_new(live ? TW_EVENT_STREAM_STARTED : TW_EVENT_STREAM_ENDED);
  if (e == NULL)
    return live;
  char room[TW_MAX_EVENT_STR];
  snprintf(room, sizeof(room), "#%s", channel);
  int rc = tw_event_set_str(e, "target", room);
  if (rc == 0)
    rc = tw_event_set_str(e, "user", channel);
  if (rc == 0)
    rc = tw_event_set_str(e, "connector", connector);
  if (rc == 0 && live) {
    int64_t at = 0;
    rc = set_str(e, "user_id", s->user_id);
    if (rc == 0)
      rc = set_str(e, "event_id", s->id);
    if (rc == 0)
      rc = set_str(e, "title", s->title);
    if (rc == 0)
      rc = tw_event_set_int(e, "viewers", s->viewer_count);
    if (rc == 0 && s->started_at &&
        tw_event_time_parse(s->started_at, &at) == 0)
      rc = tw_event_set_time(e, "started_at", at);
  }
  if (rc != 0) {
    tw_event_free(e);
    return live;
  }
  *ev = e;
  return live;
}

static const tw_helix_stream_t *find_stream(const tw_helix_streams_t *ss,
                                            const char *login) {
  for (size_t i = 0; ss && i < ss->n; i++)
    if (ss->v[i].user_login && strcasecmp(ss->v[i].user_login, login) == 0)
      return &ss->v[i];
  return NULL;
}

static void on_streams(tw_helix_client_t *c, const tw_helix_result_t *res,
                       void *arg) {
  (void)c;
  tw_stream_watch_t *w = arg;
  w->req_id = 0;
  if (res->err == TW_ECANCELED || w->closing)
    return;
  if (res->err != 0) {
    /* The state stays as it was: a failed poll is not a stream ending. */
    tw_warn(MOD, "Get Streams failed (%s%s%s); trying again in %u s",
            tw_strerror(res->err), res->detail[0] ? ": " : "", res->detail,
            (unsigned)(w->o.interval_ms / 1000));
    return;
  }
  for (size_t i = 0; i < w->n; i++) {
    chan_t *ch = &w->ch[i];
    const tw_helix_stream_t *s = find_stream(res->streams, ch->login);
    tw_event_t *ev = NULL;
    bool first = !ch->known;
    bool was = ch->live;
    ch->live = tw_stream_watch_apply(ch->login, w->connector, ch->known,
                                     ch->live, s, &ev);
    ch->known = true;
    if (first || was != ch->live) {
      tw_info(MOD, "#%s is %s%s", ch->login, ch->live ? "live" : "offline",
              first ? "" : " now");
      if (w->o.on_state)
        w->o.on_state(ch->login, ch->live, first, w->o.ud);
    }
    if (ev && w->o.on_event)
      w->o.on_event(ev, w->o.ud);
    else
      tw_event_free(ev);
    if (w->closing)
      return; /* a callback closed us */
  }
}

static void poll_now(uv_timer_t *t) {
  tw_stream_watch_t *w = t->data;
  if (w->req_id != 0 || w->closing)
    return; /* the previous answer is still coming */
  const char *logins[TW_STREAM_WATCH_MAX_CHANNELS];
  for (size_t i = 0; i < w->n; i++)
    logins[i] = w->ch[i].login;
  int rc =
      tw_helix_get_streams(w->hc, NULL, 0, logins, w->n, true, (unsigned)w->n,
                           NULL, on_streams, w, &w->req_id);
  if (rc != 0) {
    w->req_id = 0;
    tw_warn(MOD, "cannot ask Get Streams: %s", tw_strerror(rc));
  }
}

int tw_stream_watch_new(uv_loop_t *loop, tw_helix_client_t *hc,
                        const tw_stream_watch_opts_t *opts,
                        tw_stream_watch_t **out) {
  if (!loop || !hc || !opts || !out || opts->nchannels == 0 ||
      opts->nchannels > TW_STREAM_WATCH_MAX_CHANNELS ||
      (opts->interval_ms && opts->interval_ms < TW_STREAM_WATCH_MIN_MS))
    return TW_EINVAL;
  tw_stream_watch_t *w = calloc(1, sizeof(*w));
  if (!w)
    return TW_ENOMEM;
  w->loop = loop;
  w->hc = hc;
  w->o = *opts;
  w->o.channels = NULL;
  if (!w->o.interval_ms)
    w->o.interval_ms = TW_STREAM_WATCH_DEFAULT_MS;
  w->connector = strdup(opts->connector ? opts->connector : "twitch");
  w->ch = calloc(opts->nchannels, sizeof(*w->ch));
  bool ok = w->connector && w->ch;
  for (size_t i = 0; ok && i < opts->nchannels; i++) {
    w->ch[i].login = strdup(opts->channels[i]);
    ok = w->ch[i].login != NULL;
    w->n = i + 1;
  }
  if (!ok) {
    for (size_t i = 0; i < w->n; i++)
      free(w->ch[i].login);
    free(w->ch);
    free(w->connector);
    free(w);
    return TW_ENOMEM;
  }
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  *out = w;
  return 0;
}

int tw_stream_watch_start(tw_stream_watch_t *w) {
  if (!w || w->closing || uv_is_active((uv_handle_t *)&w->timer))
    return TW_ESTATE;
  uv_timer_start(&w->timer, poll_now, 0, w->o.interval_ms);
  return 0;
}

bool tw_stream_watch_is_live(const tw_stream_watch_t *w, const char *channel) {
  for (size_t i = 0; w && i < w->n; i++)
    if (strcasecmp(w->ch[i].login, channel) == 0)
      return w->ch[i].live;
  return false;
}

static void on_timer_closed(uv_handle_t *h) {
  tw_stream_watch_t *w = h->data;
  void (*cb)(void *) = w->close_cb;
  void *ud = w->close_ud;
  for (size_t i = 0; i < w->n; i++)
    free(w->ch[i].login);
  free(w->ch);
  free(w->connector);
  free(w);
  if (cb)
    cb(ud);
}

void tw_stream_watch_close(tw_stream_watch_t *w, void (*cb)(void *ud),
                           void *ud) {
  if (!w || w->closing)
    return;
  w->closing = true;
  w->close_cb = cb;
  w->close_ud = ud;
  if (w->req_id != 0)
    tw_helix_client_cancel(w->hc, w->req_id);
  w->req_id = 0;
  uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}
