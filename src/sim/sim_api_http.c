/* The simulator's API listener: libmicrohttpd with TLS (GnuTLS inside
 * Debian's libmicrohttpd) serving the sim's cert.pem/key.pem, driven on the
 * loop by the core's tw_uvmhd adapter, feeding whole requests to the
 * sans-IO API side (sim_api.c).
 *
 * The raw request URI comes from MHD's URI log callback, so that the query
 * string is recorded and parsed exactly as the client sent it (MHD would
 * otherwise hand over only decoded key/value pairs). Bodies are collected
 * up to TW_SIM_MAX_API_BODY; past that the rest is read and dropped, and
 * the answer is Twitch's 413 error body rather than a cut connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "sim/sim_api.h"
#include "sim/sim_internal.h"
#include "twitchd/buf.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

/* Largest certificate or key file read for the listener. */
#define MAX_PEM (64u * 1024u)

typedef struct {
  char *uri;   /* raw, as received */
  int started; /* the first call (headers only) happened */
  tw_buf_t body;
  int too_big;
  size_t nh;
  const char *hname[TW_SIM_MAX_API_HEADERS];
  const char *hval[TW_SIM_MAX_API_HEADERS];
} api_req_t;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)cls;
  (void)conn;
  api_req_t *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->uri = strdup(uri ? uri : "");
  tw_buf_init(&r->body, TW_SIM_MAX_API_BODY);
  return r;
}

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value) {
  (void)kind;
  api_req_t *r = cls;
  if (r->nh >= TW_SIM_MAX_API_HEADERS)
    return MHD_NO;
  r->hname[r->nh] = key;
  r->hval[r->nh++] = value ? value : "";
  return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)url;
  (void)version;
  tw_sim_t *sim = cls;
  api_req_t *r = *con_cls;
  if (!r)
    return MHD_NO; /* out of memory in on_uri */
  if (*upload_size) {
    if (!r->too_big && tw_buf_append(&r->body, upload, *upload_size) != 0)
      r->too_big = 1;
    *upload_size = 0;
    return MHD_YES;
  }
  if (!r->uri || sim->closing)
    return MHD_NO;
  /* MHD calls the handler once before the body; answer after it. */
  if (!r->started) {
    r->started = 1;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, header_cb, r);
    return MHD_YES;
  }
  char *q = strchr(r->uri, '?');
  if (q)
    *q++ = '\0';
  tw_simapi_req_t req = {method,
                         r->uri,
                         q,
                         r->hname,
                         r->hval,
                         r->nh,
                         r->body.data ? r->body.data : "",
                         r->body.len,
                         r->too_big};
  tw_simapi_resp_t resp;
  tw__simapi_handle(sim->api, &req, tw_now_ms(), &resp);
  struct MHD_Response *mr = MHD_create_response_from_buffer(
      resp.body.len, resp.body.data ? resp.body.data : (void *)"",
      MHD_RESPMEM_MUST_COPY);
  enum MHD_Result rc = MHD_NO;
  if (mr) {
    if (resp.body.len)
      MHD_add_response_header(mr, "Content-Type", "application/json");
    for (size_t i = 0; i < resp.nh; i++)
      MHD_add_response_header(mr, resp.hname[i], resp.hval[i]);
    rc = MHD_queue_response(conn, resp.status, mr);
    MHD_destroy_response(mr);
  }
  tw__simapi_resp_free(&resp);
  return rc;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  api_req_t *r = *con_cls;
  if (!r)
    return;
  free(r->uri);
  tw_buf_free(&r->body);
  free(r);
  *con_cls = NULL;
}

static int read_pem(const char *dir, const char *name, char **out) {
  char path[TW_SIM_MAX_PATH + 32];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return TW_EIO;
  char *buf = malloc(MAX_PEM + 1);
  size_t n = buf ? fread(buf, 1, MAX_PEM + 1, f) : 0;
  fclose(f);
  if (!buf || n == 0 || n > MAX_PEM) {
    free(buf);
    return buf ? TW_ETOOBIG : TW_ENOMEM;
  }
  buf[n] = '\0';
  *out = buf;
  return 0;
}

int tw__sim_api_start(tw_sim_t *sim, char *detail, size_t detail_cap) {
  int rc = read_pem(sim->cert_dir, TW_TLS_GEN_CERT_FILE, &sim->api_cert);
  if (rc == 0)
    rc = read_pem(sim->cert_dir, TW_TLS_GEN_KEY_FILE, &sim->api_key);
  if (rc != 0) {
    snprintf(detail, detail_cap,
             "cannot read the certificate for the API "
             "listener from %s",
             sim->cert_dir);
    return rc;
  }
  struct sockaddr_in sa;
  if (uv_ip4_addr(sim->host, sim->o.api_port, &sa) != 0) {
    snprintf(detail, detail_cap, "bad host %s", sim->host);
    return TW_EINVAL;
  }
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TLS, sim->o.api_port,
      NULL, NULL, handler, sim, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_HTTPS_MEM_CERT, sim->api_cert, MHD_OPTION_HTTPS_MEM_KEY,
      sim->api_key, MHD_OPTION_URI_LOG_CALLBACK, on_uri, sim,
      MHD_OPTION_NOTIFY_COMPLETED, completed, sim, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)TW_UVMHD_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)TW_UVMHD_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
  if (!d) {
    snprintf(detail, detail_cap, "cannot start the API listener on %s:%u",
             sim->host, (unsigned)sim->o.api_port);
    return TW_EEXIST;
  }
  rc = tw_uvmhd_adopt(sim->loop, d, &sim->api_mhd);
  if (rc != 0) {
    snprintf(detail, detail_cap, "cannot drive the API listener: %s",
             tw_strerror(rc));
    return rc;
  }
  sim->port_api = tw_uvmhd_port(sim->api_mhd);
  char base[128];
  snprintf(base, sizeof(base), "https://%s:%u", sim->host,
           (unsigned)sim->port_api);
  tw__simapi_set_base(sim->api, base);
  return 0;
}

static void on_closed(void *ud) {
  tw__sim_handle_closed(ud);
}

void tw__sim_api_close(tw_sim_t *sim) {
  if (!sim->api_mhd)
    return;
  sim->handles_open++;
  tw_uvmhd_close(sim->api_mhd, on_closed, sim);
  sim->api_mhd = NULL;
}
