/* twitchd: TLS contexts and test certificate generation (OpenSSL 3).
 *
 * A tw_tls_ctx_t holds the settings shared by many connections: for a client
 * the trust store (the system store plus an optional extra CA file, the
 * `ca-file` configuration key) and whether to verify at all; for a server its
 * certificate and private key. Streams (twitchd/stream.h) take one when they
 * connect or listen and keep their own reference to what they need, so a
 * context may be freed while connections made from it are still open.
 *
 * Clients verify by default: a zero-initialised tw_tls_client_opts_t verifies
 * the certificate chain and the host name. TLS 1.2 is the minimum version on
 * both sides.
 */
#ifndef TWITCHD_TLS_H
#define TWITCHD_TLS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for a human-readable error detail (OpenSSL error strings are long). */
#define TW_MAX_TLS_DETAIL 256

/* File names written by tw_tls_gen_ca_and_cert() inside its directory. */
#define TW_TLS_GEN_CA_FILE "ca.pem"     /* the CA certificate (trust this) */
#define TW_TLS_GEN_CERT_FILE "cert.pem" /* the leaf certificate */
#define TW_TLS_GEN_KEY_FILE "key.pem"   /* the leaf private key, mode 0600 */
/* Most extra names accepted by tw_tls_gen_ca_and_cert(). */
#define TW_TLS_GEN_MAX_NAMES 16
/* Default validity of generated certificates, in days. */
#define TW_TLS_GEN_DEFAULT_DAYS 30

typedef struct tw_tls_ctx tw_tls_ctx_t;

typedef struct {
  /* Path of a PEM file with extra trusted CA certificates, added to the
   * system store (the `ca-file` configuration key). NULL: system store only.
   * Borrowed for the call: the file is read at once. */
  const char *ca_file;
  /* Non-zero disables certificate chain and host name verification. Only for
   * explicit user opt-in and tests: the default (0) verifies. */
  int insecure_no_verify;
} tw_tls_client_opts_t;

/* Creates a client context that trusts the system store (and opts->ca_file
 * when given) and verifies peers unless opts->insecure_no_verify is set.
 * `opts` may be NULL (all defaults). On failure returns TW_ENOMEM, TW_ECONFIG
 * (unreadable or invalid CA file) or TW_ETLS, and writes a sentence into
 * `detail` (capacity `detail_cap`, may be NULL/0). On success *out is owned
 * by the caller: free it with tw_tls_ctx_free(). */
int tw_tls_client_new(const tw_tls_client_opts_t *opts, tw_tls_ctx_t **out,
                      char *detail, size_t detail_cap);

/* Creates a server context from a PEM certificate chain file and a PEM
 * private key file (paths borrowed for the call). Returns 0, TW_EINVAL (NULL
 * paths), TW_ECONFIG (unreadable files, or key not matching the certificate)
 * or TW_ENOMEM, with `detail` as above. *out is freed with tw_tls_ctx_free().
 */
int tw_tls_server_new(const char *cert_file, const char *key_file,
                      tw_tls_ctx_t **out, char *detail, size_t detail_cap);

/* Releases the caller's reference. Connections and listeners made from the
 * context keep working. NULL is ignored. */
void tw_tls_ctx_free(tw_tls_ctx_t *ctx);

/* Non-zero for a server context. */
int tw_tls_ctx_is_server(const tw_tls_ctx_t *ctx);

/* Generates a throw-away certificate authority and a server certificate it
 * signs, for tests and for the simulator when no certificate is configured.
 *
 * Writes into the existing directory `dir`: ca.pem (CA certificate,
 * basicConstraints CA:TRUE, keyUsage keyCertSign+cRLSign), cert.pem (leaf,
 * CA:FALSE, serverAuth, subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1
 * and every entry of `names`: IP literals become IP entries, anything else a
 * DNS entry) and key.pem (the leaf's EC P-256 key, mode 0600). The CA's key
 * is never written. Keys are EC P-256, signatures SHA-256. Validity runs
 * from one hour ago to `days` days from now (0: TW_TLS_GEN_DEFAULT_DAYS); a
 * negative `days` produces an already expired leaf, for tests. Files are
 * written to a temporary name and renamed, so readers never see half a file.
 *
 * `names` (n_names entries, at most TW_TLS_GEN_MAX_NAMES) is borrowed for the
 * call; each must be a host name of letters, digits, '-', '.' and an optional
 * leading "*." or an IP literal. Returns 0, TW_EINVAL (bad argument or name),
 * TW_EIO (cannot write a file) or TW_ETLS, with `detail` as above. */
int tw_tls_gen_ca_and_cert(const char *dir, const char *const *names,
                           size_t n_names, int days, char *detail,
                           size_t detail_cap);

#ifdef __cplusplus
}
#endif
#endif
