/* twitchd: error codes.
 *
 * Every function that can fail returns 0 or one of the negative TW_E* codes
 * below. tw_strerror() turns a code into a short English sentence; handles
 * that fail for a reason people need to read keep a detail string as well
 * (for example tw_config_error()).
 */
#ifndef TWITCHD_ERROR_H
#define TWITCHD_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The one list of error codes: name, value, message. Adding a code here is
 * all it takes; tw_strerror() and tw_err_name() are generated from it. */
#define TW_ERRNO_MAP(XX)                                                     \
  XX(ENOMEM, -1, "out of memory")                                            \
  XX(EINVAL, -2, "invalid argument")                                         \
  XX(ETOOBIG, -3, "value exceeds its size limit")                            \
  XX(EPARSE, -4, "malformed input")                                          \
  XX(EIO, -5, "input/output error")                                          \
  XX(ETLS, -6, "TLS error")                                                  \
  XX(ECERT, -7, "certificate verification failed")                           \
  XX(EHOSTNAME, -8, "certificate does not match the host name")              \
  XX(ETIMEDOUT, -9, "timed out")                                             \
  XX(ECLOSED, -10, "connection closed")                                      \
  XX(EPROTO, -11, "protocol error")                                          \
  XX(EFULL, -12, "queue or buffer is full")                                  \
  XX(EAGAIN, -13, "try again later")                                         \
  XX(ENOTFOUND, -14, "not found")                                            \
  XX(ECONFIG, -15, "invalid configuration")                                  \
  XX(EAUTH, -16, "authentication failed")                                    \
  XX(ERATELIMIT, -17, "rate limited")                                        \
  XX(EHTTP, -18, "HTTP error")                                               \
  XX(ECONNREFUSED, -19, "connection refused")                                \
  XX(EDNS, -20, "host name lookup failed")                                   \
  XX(ESTATE, -21, "operation not valid in the current state")               \
  XX(EUNSUPPORTED, -22, "not supported")                                     \
  XX(ECANCELED, -23, "operation canceled")                                   \
  XX(EEXIST, -24, "already exists")                                          \
  XX(ESCOPE, -25, "token lacks a required scope")                            \
  XX(EFORBIDDEN, -26, "forbidden")

typedef enum {
  TW_OK = 0,
#define TW__ERR_ENUM(name, val, msg) TW_##name = (val),
  TW_ERRNO_MAP(TW__ERR_ENUM)
#undef TW__ERR_ENUM
} tw_err_t;

/* A static English description of `err` (never NULL, never freed). Unknown
 * codes give "unknown error". */
const char *tw_strerror(int err);

/* The code's symbolic name, e.g. "TW_ETIMEDOUT" (static, never NULL). */
const char *tw_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
