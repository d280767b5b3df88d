/* twitchd: a libmicrohttpd daemon driven by a libuv loop.
 *
 * MHD runs in external-poll mode with epoll: no thread of its own. The
 * adapter watches MHD's epoll fd with one uv_poll_t and keeps one uv_timer_t
 * armed from MHD_get_timeout(), and calls MHD_run() after every wake-up, so
 * request handlers run on the loop thread like everything else.
 *
 * Asynchronous answers: a handler that cannot answer at once (a webhook that
 * must first be verified, an OAuth redirect waiting for a token exchange)
 * calls tw_uvmhd_suspend() from inside the access handler and returns
 * MHD_YES; later, from any loop callback, it calls tw_uvmhd_resume(), and
 * MHD calls the access handler again, which then queues its response. Use
 * these two rather than MHD_suspend_connection()/MHD_resume_connection():
 * the adapter must know which connections are suspended, because MHD forbids
 * stopping a daemon that still has any, and because a resumed connection is
 * only served on the next MHD_run(), which the adapter schedules.
 */
#ifndef TWITCHD_UV_MHD_H
#define TWITCHD_UV_MHD_H

#include <stdint.h>

#include <microhttpd.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults used by tw_uvmhd_start() when the options leave them 0. */
#define TW_UVMHD_MAX_CONNECTIONS 64      /* concurrent connections */
#define TW_UVMHD_CONNECTION_TIMEOUT_S 30 /* idle connection timeout */
#define TW_UVMHD_CONNECTION_MEMORY 65536 /* per-connection memory pool */

typedef struct tw_uvmhd tw_uvmhd_t;

/* Called once the adapter is fully closed and its memory freed. */
typedef void (*tw_uvmhd_close_cb)(void *ud);

typedef struct {
  /* IPv4 address to bind, dotted quad; NULL means "127.0.0.1". Borrowed. */
  const char *host;
  /* Port; 0 lets the kernel choose (see tw_uvmhd_port()). */
  uint16_t port;
  /* The request handler and its closure (borrowed), as for MHD_start_daemon.
   * Required. */
  MHD_AccessHandlerCallback handler;
  void *handler_cls;
  /* Optional: called when a request ends (MHD_OPTION_NOTIFY_COMPLETED),
   * including when the daemon is stopped; free per-request state here. */
  MHD_RequestCompletedCallback completed;
  void *completed_cls;
  /* 0 for the TW_UVMHD_* defaults above. */
  unsigned max_connections;
  unsigned connection_timeout_s;
  size_t connection_memory;
} tw_uvmhd_opts_t;

/* Starts a daemon on opts->host:opts->port (external epoll, suspend/resume
 * allowed, errors logged through tw_log as module "mhd") and drives it on
 * `loop` (borrowed; must outlive the adapter). On success *out is the
 * adapter, which owns the daemon. Returns 0, TW_EINVAL (bad options or
 * host), TW_ENOMEM, or TW_EIO if MHD cannot start (port in use...). */
int tw_uvmhd_start(uv_loop_t *loop, const tw_uvmhd_opts_t *opts,
                   tw_uvmhd_t **out);

/* Drives a daemon the caller started with MHD_USE_EPOLL and without
 * MHD_USE_INTERNAL_POLLING_THREAD (add MHD_ALLOW_SUSPEND_RESUME to use
 * tw_uvmhd_suspend()). The adapter takes ownership of `daemon` and stops it
 * when closed, also when this call fails. Returns 0, TW_EINVAL (NULL, or a
 * daemon without an epoll fd) or TW_ENOMEM. */
int tw_uvmhd_adopt(uv_loop_t *loop, struct MHD_Daemon *daemon,
                   tw_uvmhd_t **out);

/* The daemon (borrowed; owned by the adapter). */
struct MHD_Daemon *tw_uvmhd_daemon(tw_uvmhd_t *u);

/* The port the daemon is bound to (the real one when 0 was asked), or 0. */
uint16_t tw_uvmhd_port(tw_uvmhd_t *u);

/* Suspends `conn`; only from inside the access handler for `conn`. The
 * adapter records it (see above). Returns 0, TW_ENOMEM, or TW_ESTATE when
 * the adapter is closing (then the handler should answer at once). */
int tw_uvmhd_suspend(tw_uvmhd_t *u, struct MHD_Connection *conn);

/* Resumes a connection suspended with tw_uvmhd_suspend() and schedules the
 * MHD_run() that will call the access handler again. From any callback on
 * the loop thread. Returns 0, or TW_ENOTFOUND if `conn` is not suspended
 * here (already resumed, or the daemon was stopped: check your completed
 * callback). */
int tw_uvmhd_resume(tw_uvmhd_t *u, struct MHD_Connection *conn);

/* Connections currently suspended. */
unsigned tw_uvmhd_suspended(const tw_uvmhd_t *u);

/* Schedules an MHD_run() on the next loop iteration: for callers who queue
 * responses or resume connections through MHD directly. */
void tw_uvmhd_wake(tw_uvmhd_t *u);

/* Closes the adapter: resumes every connection still suspended, stops the
 * daemon (MHD closes all connections and calls the completed callback for
 * each, synchronously, with MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN) and
 * closes the libuv handles. When called from inside a handler, the stop
 * happens right after the current MHD_run() returns. `cb` (may be NULL) runs
 * from the loop once everything is freed. A second call is ignored. */
void tw_uvmhd_close(tw_uvmhd_t *u, tw_uvmhd_close_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif
