/* libcurl multi_socket on a libuv loop (see include/twitchd/uv_curl.h).
 *
 * curl tells us which sockets to watch (socket_cb) and when to call it back
 * (timer_cb); we tell curl what happened with curl_multi_socket_action() and
 * then collect finished transfers with curl_multi_info_read().
 *
 * Pitfalls handled here, each with a test in tests/unit/test_loop_http.c:
 *
 * - curl forbids calling curl_multi_* from inside its callbacks (it returns
 *   CURLM_RECURSIVE_API_CALL), yet a write callback may well want to start
 *   or cancel a transfer. Every entry point counts its depth; while curl is
 *   running (depth > 0) adds, cancels and close are queued and applied by
 *   settle() when the outermost entry point is about to return.
 * - A socket that curl closes is announced with CURL_POLL_REMOVE before the
 *   close(2). We then stop and uv_close() its uv_poll_t at once, which
 *   detaches the fd from libuv's epoll synchronously, so when the kernel
 *   hands the same fd number to curl's next socket a fresh uv_poll_t can
 *   watch it while the old handle's close callback is still pending.
 * - curl may ask for a 0 ms timeout. Calling socket_action from inside
 *   timer_cb is forbidden, so it goes through the uv_timer_t; but when the
 *   request is made while our own timer callback runs, a 0 ms uv timer would
 *   fire again in the same uv__run_timers() pass and could spin without ever
 *   polling I/O, so that case uses 1 ms.
 * - Done callbacks run outside curl, one at a time, and may add, cancel or
 *   close; the loop in settle() re-checks state after each one.
 * - On close, poll handles are stopped before curl_multi_cleanup() closes
 *   the sockets, so libuv never watches an fd that curl has closed.
 */
#include "twitchd/uv_curl.h"

#include <stdbool.h>
#include <stdlib.h>

#include "twitchd/error.h"
#include "twitchd/log.h"

typedef enum { XF_PENDING, XF_ACTIVE } xfer_state_t;

typedef struct xfer {
  struct xfer *prev, *next;
  tw_uvcurl_t *uc;
  CURL *easy;
  tw_uvcurl_done_cb done;
  void *ud;
  xfer_state_t state;
  bool cancel; /* cancellation requested while curl was running */
} xfer_t;

typedef struct sock {
  uv_poll_t poll; /* first member: the handle is freed with the struct */
  struct sock *prev, *next;
  tw_uvcurl_t *uc;
  curl_socket_t fd;
} sock_t;

struct tw_uvcurl {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  xfer_t *xfers; /* all transfers, pending and active */
  unsigned nxfers;
  unsigned npending; /* adds queued while curl was running */
  unsigned ncancel;  /* cancels queued while curl was running */
  sock_t *socks;     /* sockets being watched (not closing) */
  unsigned handles;  /* libuv handles whose close callback has not run */
  int depth;         /* nesting of our entry points */
  bool in_timer;
  bool closing;     /* tw_uvcurl_close() was called */
  bool close_done;  /* the close work has been done */
  bool global_init; /* curl_global_init() succeeded */
  tw_uvcurl_close_cb close_cb;
  void *close_ud;
};

static void settle(tw_uvcurl_t *uc);

/* ---- lists -------------------------------------------------------------- */

static void xfer_link(tw_uvcurl_t *uc, xfer_t *x) {
  x->prev = NULL;
  x->next = uc->xfers;
  if (uc->xfers)
    uc->xfers->prev = x;
  uc->xfers = x;
  uc->nxfers++;
}

static void xfer_unlink(tw_uvcurl_t *uc, xfer_t *x) {
  if (x->prev)
    x->prev->next = x->next;
  else
    uc->xfers = x->next;
  if (x->next)
    x->next->prev = x->prev;
  x->prev = x->next = NULL;
  uc->nxfers--;
}

static xfer_t *xfer_find(tw_uvcurl_t *uc, CURL *easy) {
  for (xfer_t *x = uc->xfers; x; x = x->next)
    if (x->easy == easy)
      return x;
  return NULL;
}

static void sock_link(tw_uvcurl_t *uc, sock_t *s) {
  s->prev = NULL;
  s->next = uc->socks;
  if (uc->socks)
    uc->socks->prev = s;
  uc->socks = s;
}

static void sock_unlink(tw_uvcurl_t *uc, sock_t *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    uc->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

/* ---- closing ------------------------------------------------------------ */

static void maybe_finish_close(tw_uvcurl_t *uc) {
  if (!uc->close_done || uc->handles != 0)
    return;
  tw_uvcurl_close_cb cb = uc->close_cb;
  void *ud = uc->close_ud;
  if (uc->global_init)
    curl_global_cleanup();
  free(uc);
  if (cb)
    cb(ud);
}

static void on_sock_closed(uv_handle_t *h) {
  sock_t *s = (sock_t *)h;
  tw_uvcurl_t *uc = s->uc;
  free(s);
  uc->handles--;
  maybe_finish_close(uc);
}

static void on_timer_closed(uv_handle_t *h) {
  tw_uvcurl_t *uc = h->data;
  uc->handles--;
  maybe_finish_close(uc);
}

/* Stops watching a socket; the struct is freed in the close callback. */
static void sock_close(tw_uvcurl_t *uc, sock_t *s) {
  sock_unlink(uc, s);
  if (uc->multi)
    curl_multi_assign(uc->multi, s->fd, NULL);
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* Removes a transfer from our books and calls its done callback. The easy
 * handle must already be out of the multi handle (or never in it). */
static void xfer_finish(tw_uvcurl_t *uc, xfer_t *x, CURLcode result) {
  xfer_unlink(uc, x);
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
  CURL *easy = x->easy;
  tw_uvcurl_done_cb done = x->done;
  void *ud = x->ud;
  free(x);
  done(easy, result, ud);
}

static void xfer_abort(tw_uvcurl_t *uc, xfer_t *x) {
  if (x->state == XF_PENDING)
    uc->npending--;
  else
    curl_multi_remove_handle(uc->multi, x->easy);
  if (x->cancel)
    uc->ncancel--;
  xfer_finish(uc, x, CURLE_ABORTED_BY_CALLBACK);
}

/* The close work proper; depth is held by the caller so that callbacks made
 * from here queue instead of re-entering. */
static void do_close(tw_uvcurl_t *uc) {
  uc->close_done = true;
  /* Each done callback may add (refused: closing) or cancel (no-op: the
   * transfer is gone), so take the list head afresh every time. */
  while (uc->xfers)
    xfer_abort(uc, uc->xfers);
  /* Stop polling while the fds are still open, then let curl close them. */
  while (uc->socks)
    sock_close(uc, uc->socks);
  uv_timer_stop(&uc->timer);
  CURLM *m = uc->multi;
  curl_multi_cleanup(m);
  uc->multi = NULL;
  uv_close((uv_handle_t *)&uc->timer, on_timer_closed);
}

/* ---- curl callbacks ------------------------------------------------------ */

static void on_poll(uv_poll_t *h, int status, int events);

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  (void)easy;
  tw_uvcurl_t *uc = userp;
  sock_t *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s)
      sock_close(uc, s);
    return 0;
  }
  if (uc->close_done)
    return 0; /* curl_multi_cleanup() is closing everything */
  if (!s) {
    s = calloc(1, sizeof(*s));
    if (!s)
      return -1; /* curl fails the transfer */
    s->uc = uc;
    s->fd = fd;
    if (uv_poll_init_socket(uc->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    uc->handles++;
    sock_link(uc, s);
    curl_multi_assign(uc->multi, fd, s);
  }
  int ev = 0;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  int rc = uv_poll_start(&s->poll, ev, on_poll);
  if (rc != 0) {
    tw_warn("uvcurl", "cannot poll socket %d: %s", (int)fd, uv_strerror(rc));
    return -1;
  }
  return 0;
}

static void on_timer(uv_timer_t *t);

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  tw_uvcurl_t *uc = userp;
  if (uc->close_done)
    return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&uc->timer);
    return 0;
  }
  uint64_t t = (uint64_t)timeout_ms;
  if (t == 0 && uc->in_timer)
    t = 1;
  uv_timer_start(&uc->timer, on_timer, t, 0);
  return 0;
}

/* ---- loop callbacks ------------------------------------------------------ */

static void enter(tw_uvcurl_t *uc) {
  uc->depth++;
}

/* Leaves an entry point; the outermost one applies queued work first. The
 * adapter may be freed only from a libuv close callback, never here, so it
 * is safe to use `uc` until the caller returns. */
static void leave(tw_uvcurl_t *uc) {
  if (uc->depth == 1)
    settle(uc);
  uc->depth--;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  tw_uvcurl_t *uc = s->uc;
  curl_socket_t fd = s->fd; /* s may be freed during socket_action */
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  if (uc->close_done)
    return;
  int running;
  enter(uc);
  curl_multi_socket_action(uc->multi, fd, flags, &running);
  leave(uc);
}

static void on_timer(uv_timer_t *t) {
  tw_uvcurl_t *uc = t->data;
  if (uc->close_done)
    return;
  int running;
  enter(uc);
  uc->in_timer = true;
  curl_multi_socket_action(uc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  leave(uc); /* adds made while settling re-arm the timer too */
  uc->in_timer = false;
}

/* Applies queued work and reports finished transfers, until nothing is left.
 * Runs with depth held at 1, so anything a done callback asks for is queued
 * and picked up by the next turn of this loop. */
static void settle(tw_uvcurl_t *uc) {
  for (;;) {
    if (uc->close_done)
      return;
    if (uc->closing) {
      do_close(uc);
      return;
    }
    if (uc->ncancel > 0) {
      xfer_t *x = uc->xfers;
      while (x && !x->cancel)
        x = x->next;
      if (x) {
        xfer_abort(uc, x);
        continue;
      }
      uc->ncancel = 0; /* cannot happen; keeps the loop finite */
    }
    if (uc->npending > 0) {
      xfer_t *x = uc->xfers;
      while (x && x->state != XF_PENDING)
        x = x->next;
      if (x) {
        uc->npending--;
        if (curl_multi_add_handle(uc->multi, x->easy) != CURLM_OK) {
          xfer_finish(uc, x, CURLE_FAILED_INIT);
        } else {
          x->state = XF_ACTIVE;
        }
        continue;
      }
      uc->npending = 0;
    }
    int left;
    CURLMsg *m = curl_multi_info_read(uc->multi, &left);
    if (!m)
      return;
    if (m->msg != CURLMSG_DONE)
      continue;
    CURL *easy = m->easy_handle;
    CURLcode result = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    xfer_t *x = (xfer_t *)priv;
    curl_multi_remove_handle(uc->multi, easy);
    if (!x || x->uc != uc || x->easy != easy) {
      /* Not ours: someone added it behind our back. Nothing to call. */
      continue;
    }
    if (x->cancel)
      uc->ncancel--;
    xfer_finish(uc, x, result);
  }
}

/* ---- public -------------------------------------------------------------- */

tw_uvcurl_t *tw_uvcurl_new(uv_loop_t *loop) {
  if (!loop)
    return NULL;
  tw_uvcurl_t *uc = calloc(1, sizeof(*uc));
  if (!uc)
    return NULL;
  uc->loop = loop;
  /* Reference-counted by curl; balanced in maybe_finish_close(). */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    free(uc);
    return NULL;
  }
  uc->global_init = true;
  uc->multi = curl_multi_init();
  if (!uc->multi) {
    curl_global_cleanup();
    free(uc);
    return NULL;
  }
  curl_multi_setopt(uc->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(uc->multi, CURLMOPT_SOCKETDATA, uc);
  curl_multi_setopt(uc->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(uc->multi, CURLMOPT_TIMERDATA, uc);
  uv_timer_init(loop, &uc->timer);
  uc->timer.data = uc;
  uc->handles = 1;
  return uc;
}

CURLM *tw_uvcurl_multi(tw_uvcurl_t *uc) {
  return uc->multi;
}

unsigned tw_uvcurl_count(const tw_uvcurl_t *uc) {
  return uc->nxfers;
}

int tw_uvcurl_add(tw_uvcurl_t *uc, CURL *easy, tw_uvcurl_done_cb done,
                  void *ud) {
  if (!uc || !easy || !done)
    return TW_EINVAL;
  if (uc->closing)
    return TW_ESTATE;
  if (xfer_find(uc, easy))
    return TW_EINVAL;
  if (uc->nxfers >= TW_UVCURL_MAX_XFERS)
    return TW_EFULL;
  xfer_t *x = calloc(1, sizeof(*x));
  if (!x)
    return TW_ENOMEM;
  x->uc = uc;
  x->easy = easy;
  x->done = done;
  x->ud = ud;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
  if (uc->depth > 0) {
    /* Inside curl or a done callback: settle() adds it when it can. */
    x->state = XF_PENDING;
    uc->npending++;
    xfer_link(uc, x);
    return 0;
  }
  if (curl_multi_add_handle(uc->multi, easy) != CURLM_OK) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    free(x);
    return TW_EIO;
  }
  x->state = XF_ACTIVE;
  xfer_link(uc, x);
  return 0;
}

int tw_uvcurl_cancel(tw_uvcurl_t *uc, CURL *easy) {
  if (!uc || !easy || uc->close_done)
    return TW_ENOTFOUND;
  xfer_t *x = xfer_find(uc, easy);
  if (!x || x->cancel)
    return x ? 0 : TW_ENOTFOUND;
  if (uc->depth > 0) {
    x->cancel = true;
    uc->ncancel++;
    return 0;
  }
  enter(uc);
  xfer_abort(uc, x);
  leave(uc);
  return 0;
}

void tw_uvcurl_close(tw_uvcurl_t *uc, tw_uvcurl_close_cb cb, void *ud) {
  if (!uc || uc->closing)
    return;
  uc->closing = true;
  uc->close_cb = cb;
  uc->close_ud = ud;
  if (uc->depth > 0)
    return; /* settle() does it when the current callback returns */
  enter(uc);
  leave(uc);
}

int tw_uvcurl_error(CURLcode rc) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return TW_ETIMEDOUT;
  case CURLE_COULDNT_CONNECT:
    return TW_ECONNREFUSED;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return TW_EDNS;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
    return TW_ECERT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
    return TW_ETLS;
  case CURLE_ABORTED_BY_CALLBACK:
    return TW_ECANCELED;
  default:
    return TW_EIO;
  }
}
