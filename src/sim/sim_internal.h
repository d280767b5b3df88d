/* Private to the simulator: the tw_sim_t shared by the IO glue (sim.c) and
 * the HTTP control interface (sim_http.c). */
#ifndef TW_SIM_INTERNAL_H
#define TW_SIM_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include <jansson.h>

#include "sim/sim_api.h"
#include "sim/sim_api_int.h"
#include "sim/sim_chat.h"
#include "twitchd/sim.h"
#include "twitchd/stream.h"
#include "twitchd/tls.h"
#include "twitchd/uv_mhd.h"
#include "twitchd/ws.h"

#define TW_SIM_MAX_PATH 1024
/* Largest control request body (a flood given as a JSON array of lines). */
#define TW_SIM_MAX_CONTROL_BODY (16u * 1024u * 1024u)
/* Most lines one GET /chat/sent answers with (ask again with since=). */
#define TW_SIM_MAX_SENT_PAGE 10000
/* Longest a GET /chat/sent may wait for a line (wait_ms). */
#define TW_SIM_MAX_WAIT_MS 60000u
/* Requests waiting at once for lines (long polls). */
#define TW_SIM_MAX_WAITERS 64

typedef struct sim_conn sim_conn_t;
typedef struct tw_simes tw_simes_t;
typedef struct sim_waiter sim_waiter_t;

struct tw_sim {
  uv_loop_t *loop;
  tw_sim_opts_t o;
  char host[64];
  tw_simchat_t *core;
  tw_tls_ctx_t *tls;
  tw_listener_t *l_irc, *l_ircs, *l_wss, *l_ws;
  uint16_t port_irc, port_ircs, port_wss, port_ws, port_control;
  tw_uvmhd_t *mhd;
  tw_simapi_t *api;    /* OAuth and Helix, sans-IO */
  tw_uvmhd_t *api_mhd; /* the HTTPS API listener */
  uint16_t port_api;
  tw_simes_t *es;      /* the EventSub WebSocket side (sim_eventsub.c) */
  struct tw_simwh *wh; /* EventSub webhook delivery (sim_ehook.c) */
  uint16_t port_es;
  char *api_cert, *api_key; /* PEM text handed to MHD */
  uv_timer_t tick;          /* keepalive, delayed closes, flood retries */
  uv_idle_t idle;           /* flushes connections that have output */
  uv_timer_t wspoll;        /* WebSocket connections waiting for send room */
  uv_timer_t waitt;         /* deadlines of long polls */
  char cert_dir[TW_SIM_MAX_PATH];
  char ca_file[TW_SIM_MAX_PATH + 16]; /* cert_dir + "/ca.pem" */
  int have_ca;
  int temp_dir;      /* cert_dir was generated: remove it on close */
  sim_conn_t *conns; /* every transport connection */
  size_t nconns;
  sim_conn_t *pending; /* connections with output to flush */
  size_t nbacklog;     /* WebSocket connections waiting for room */
  tw_sim_event_cb obs;
  void *obs_ud;
  sim_waiter_t *waiters;
  size_t nwaiters;
  int closing;
  int handles_open; /* handles and servers whose close is awaited */
  void (*close_cb)(void *ud);
  void *close_ud;
};

/* The control interface (sim_http.c). */
int tw__sim_http_start(tw_sim_t *sim, char *detail, size_t detail_cap);
/* Closes it; the simulator's handles_open was counted for it. */
void tw__sim_http_close(tw_sim_t *sim);
/* The API listener (sim_api_http.c): started after the TLS setup. */
int tw__sim_api_start(tw_sim_t *sim, char *detail, size_t detail_cap);
void tw__sim_api_close(tw_sim_t *sim);
/* A line or an API request arrived: wakes the long polls. */
void tw__sim_http_line(tw_sim_t *sim);
/* Reads a file of lines (plain or gzip) for a flood. On success *out is a
 * malloc'd buffer the caller frees. */
int tw__sim_read_lines_file(const char *path, char **out, size_t *len);
/* The EventSub WebSocket side (sim_eventsub.c): started after the API
 * side and the TLS setup; closed with the simulator (its listener, timer
 * and connections are counted in handles_open); freed in finish. */
int tw__simes_start(tw_sim_t *sim, char *detail, size_t detail_cap);
void tw__simes_close(tw_sim_t *sim);
void tw__simes_free(tw_sim_t *sim);
/* tw_sim_set_stream() changed `room`'s live state. */
void tw__simes_stream_changed(tw_sim_t *sim, const char *room, int live);
/* tw_sim_eventsub_trigger() with the event parsed (borrowed; may be NULL). */
int tw__simes_trigger_json(tw_sim_t *sim, const char *type, const char *room,
                           struct json_t *event);
/* The webhook side (sim_ehook.c), started, closed and freed with the
 * EventSub side. */
int tw__simwh_start(tw_sim_t *sim);
void tw__simwh_close(tw_sim_t *sim);
void tw__simwh_free(tw_sim_t *sim);
/* Queues the verification of webhook subscription `sub` (borrowed). */
void tw__simwh_verify(tw_sim_t *sim, tw_simapi_sub_t *sub);
/* Queues a message of `mtype` ("notification", "revocation") with
 * `payload` (borrowed; the body) to webhook subscription `sub` (borrowed).
 * Returns 0, TW_ETOOBIG, TW_EFULL or TW_ENOMEM. */
int tw__simwh_send(tw_sim_t *sim, const tw_simapi_sub_t *sub, const char *mtype,
                   json_t *payload);
/* Called once per closed handle during tw_sim_close(). */
void tw__sim_handle_closed(tw_sim_t *sim);

#endif
