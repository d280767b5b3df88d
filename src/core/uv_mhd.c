/* libmicrohttpd in external-epoll mode on a libuv loop (see
 * include/twitchd/uv_mhd.h).
 *
 * MHD keeps its own epoll set; its fd is readable whenever a connection or
 * the listening socket has work, so one uv_poll_t on it is enough. MHD also
 * needs to run on time (connection timeouts) and sometimes right away with
 * no fd activity at all: it uses edge-triggered epoll internally and asks to
 * be run again with a timeout of 0 when it left data unprocessed, and a
 * resumed connection is only served by a later MHD_run(). The uv_timer_t
 * covers both: after every MHD_run() it is re-armed from MHD_get_timeout(),
 * or to 0 when tw_uvmhd_wake() was asked for.
 *
 * A 0 ms uv timer started from inside a uv timer callback fires again in the
 * same uv__run_timers() pass, so if MHD kept asking for 0 the loop would
 * never poll I/O; inside our own timer callback 0 becomes 1 ms.
 *
 * MHD_stop_daemon() must not run inside MHD_run() (a handler asking to
 * close) and must not see suspended connections; both are handled in
 * do_close().
 */
#include "twitchd/uv_mhd.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"
#include "twitchd/log.h"

typedef struct susp {
  struct susp *next;
  struct MHD_Connection *conn;
} susp_t;

struct tw_uvmhd {
  uv_loop_t *loop;
  struct MHD_Daemon *d;
  uv_poll_t poll;
  uv_timer_t timer;
  unsigned handles; /* libuv handles whose close callback has not run */
  bool poll_started;
  bool in_run;
  bool in_timer;
  bool wake; /* run again as soon as possible */
  bool closing;
  bool close_done;
  susp_t *susp;
  unsigned nsusp;
  tw_uvmhd_close_cb close_cb;
  void *close_ud;
};

static void do_close(tw_uvmhd_t *u);

static void on_timer(uv_timer_t *t);

/* Arms the timer for the next MHD_run() MHD needs. */
static void rearm(tw_uvmhd_t *u) {
  MHD_UNSIGNED_LONG_LONG t = 0;
  bool have = u->wake;
  if (!have) {
    have = MHD_get_timeout(u->d, &t) == MHD_YES;
  }
  if (!have) {
    uv_timer_stop(&u->timer);
    return;
  }
  if (u->wake)
    t = 0;
  if (t == 0 && u->in_timer)
    t = 1;
  uv_timer_start(&u->timer, on_timer, (uint64_t)t, 0);
}

static void run(tw_uvmhd_t *u) {
  if (u->close_done)
    return;
  u->wake = false;
  u->in_run = true;
  MHD_run(u->d);
  u->in_run = false;
  if (u->closing) {
    do_close(u);
    return;
  }
  rearm(u);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  run(h->data);
}

static void on_timer(uv_timer_t *t) {
  tw_uvmhd_t *u = t->data;
  u->in_timer = true;
  run(u);
  u->in_timer = false;
}

static void on_handle_closed(uv_handle_t *h) {
  tw_uvmhd_t *u = h->data;
  if (--u->handles != 0)
    return;
  tw_uvmhd_close_cb cb = u->close_cb;
  void *ud = u->close_ud;
  free(u);
  if (cb)
    cb(ud);
}

static void do_close(tw_uvmhd_t *u) {
  u->close_done = true;
  /* MHD forbids stopping with suspended connections: resume them all, and
   * MHD_stop_daemon() then closes them like any other connection. */
  while (u->susp) {
    susp_t *s = u->susp;
    u->susp = s->next;
    MHD_resume_connection(s->conn);
    free(s);
  }
  u->nsusp = 0;
  /* Detach from MHD's epoll fd before MHD closes it. */
  if (u->poll_started)
    uv_poll_stop(&u->poll);
  uv_timer_stop(&u->timer);
  uv_close((uv_handle_t *)&u->poll, on_handle_closed);
  uv_close((uv_handle_t *)&u->timer, on_handle_closed);
  struct MHD_Daemon *d = u->d;
  u->d = NULL;
  MHD_stop_daemon(d);
}

/* Routes MHD's error messages into our log, without their trailing
 * newline. */
__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  if (n < 0)
    return;
  size_t len = strlen(msg);
  while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
    msg[--len] = '\0';
  tw_warn("mhd", "%s", msg);
}

/* Sets up the libuv side for a running daemon; on failure the daemon is
 * stopped (the caller handed it over). */
static int attach(uv_loop_t *loop, struct MHD_Daemon *d, tw_uvmhd_t **out) {
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
  if (!info || info->epoll_fd < 0) {
    MHD_stop_daemon(d);
    return TW_EINVAL;
  }
  int epfd = info->epoll_fd;
  tw_uvmhd_t *u = calloc(1, sizeof(*u));
  if (!u) {
    MHD_stop_daemon(d);
    return TW_ENOMEM;
  }
  u->loop = loop;
  u->d = d;
  if (uv_poll_init(loop, &u->poll, epfd) != 0) {
    MHD_stop_daemon(d);
    free(u);
    return TW_EIO;
  }
  uv_timer_init(loop, &u->timer);
  u->poll.data = u;
  u->timer.data = u;
  u->handles = 2;
  int rc = uv_poll_start(&u->poll, UV_READABLE, on_poll);
  if (rc != 0) {
    tw_error("mhd", "cannot poll the MHD epoll fd: %s", uv_strerror(rc));
    do_close(u); /* frees u from the close callbacks */
    return TW_EIO;
  }
  u->poll_started = true;
  rearm(u);
  *out = u;
  return 0;
}

int tw_uvmhd_start(uv_loop_t *loop, const tw_uvmhd_opts_t *opts,
                   tw_uvmhd_t **out) {
  if (!loop || !opts || !opts->handler || !out)
    return TW_EINVAL;
  struct sockaddr_in sa;
  const char *host = opts->host ? opts->host : "127.0.0.1";
  if (uv_ip4_addr(host, opts->port, &sa) != 0)
    return TW_EINVAL;
  unsigned maxc =
      opts->max_connections ? opts->max_connections : TW_UVMHD_MAX_CONNECTIONS;
  unsigned tmo = opts->connection_timeout_s ? opts->connection_timeout_s
                                            : TW_UVMHD_CONNECTION_TIMEOUT_S;
  size_t mem = opts->connection_memory ? opts->connection_memory
                                       : TW_UVMHD_CONNECTION_MEMORY;
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, opts->port,
      NULL, NULL, opts->handler, opts->handler_cls,
      /* The logger first, so that MHD logs nothing to stderr directly. */
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, maxc,
      MHD_OPTION_CONNECTION_TIMEOUT, tmo, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      mem, MHD_OPTION_NOTIFY_COMPLETED, opts->completed, opts->completed_cls,
      MHD_OPTION_END);
  if (!d) {
    tw_error("mhd", "cannot start the HTTP server on %s:%u", host,
             (unsigned)opts->port);
    return TW_EIO;
  }
  return attach(loop, d, out);
}

int tw_uvmhd_adopt(uv_loop_t *loop, struct MHD_Daemon *daemon,
                   tw_uvmhd_t **out) {
  if (!daemon)
    return TW_EINVAL;
  if (!loop || !out) {
    MHD_stop_daemon(daemon);
    return TW_EINVAL;
  }
  return attach(loop, daemon, out);
}

struct MHD_Daemon *tw_uvmhd_daemon(tw_uvmhd_t *u) {
  return u->d;
}

uint16_t tw_uvmhd_port(tw_uvmhd_t *u) {
  if (!u->d)
    return 0;
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(u->d, MHD_DAEMON_INFO_BIND_PORT);
  return info ? info->port : 0;
}

int tw_uvmhd_suspend(tw_uvmhd_t *u, struct MHD_Connection *conn) {
  if (u->closing)
    return TW_ESTATE;
  susp_t *s = malloc(sizeof(*s));
  if (!s)
    return TW_ENOMEM;
  MHD_suspend_connection(conn);
  s->conn = conn;
  s->next = u->susp;
  u->susp = s;
  u->nsusp++;
  return 0;
}

int tw_uvmhd_resume(tw_uvmhd_t *u, struct MHD_Connection *conn) {
  for (susp_t **pp = &u->susp; *pp; pp = &(*pp)->next) {
    if ((*pp)->conn == conn) {
      susp_t *s = *pp;
      *pp = s->next;
      free(s);
      u->nsusp--;
      MHD_resume_connection(conn);
      tw_uvmhd_wake(u);
      return 0;
    }
  }
  return TW_ENOTFOUND;
}

unsigned tw_uvmhd_suspended(const tw_uvmhd_t *u) {
  return u->nsusp;
}

void tw_uvmhd_wake(tw_uvmhd_t *u) {
  if (u->close_done)
    return;
  u->wake = true;
  /* Inside MHD_run() the re-arm that follows it sees the flag. */
  if (!u->in_run)
    rearm(u);
}

void tw_uvmhd_close(tw_uvmhd_t *u, tw_uvmhd_close_cb cb, void *ud) {
  if (!u || u->closing)
    return;
  u->closing = true;
  u->close_cb = cb;
  u->close_ud = ud;
  if (u->in_run)
    return; /* run() closes once MHD_run() has returned */
  do_close(u);
}
