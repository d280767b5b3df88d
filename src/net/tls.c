/* TLS contexts: client trust settings and server certificates (OpenSSL 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "twitchd/error.h"
#include "twitchd/tls.h"

#include "net/net_internal.h"

struct tw_tls_ctx {
  SSL_CTX *ssl;
  int server;
};

void tw__strlcpy(char *out, const char *in, size_t cap) {
  size_t n;
  if (!out || cap == 0)
    return;
  if (!in)
    in = "";
  n = strlen(in);
  if (n >= cap)
    n = cap - 1;
  memcpy(out, in, n);
  out[n] = '\0';
}

void tw__tls_err_detail(char *out, size_t cap, const char *prefix) {
  unsigned long e;
  char ebuf[160];
  size_t used;
  if (!out || cap == 0) {
    ERR_clear_error();
    return;
  }
  tw__strlcpy(out, prefix, cap);
  used = strlen(out);
  /* The last error is usually the most specific one. */
  e = ERR_peek_last_error();
  if (e != 0 && used + 2 < cap) {
    ERR_error_string_n(e, ebuf, sizeof(ebuf));
    snprintf(out + used, cap - used, ": %s", ebuf);
  }
  ERR_clear_error();
}

static void set_detail(char *detail, size_t cap, const char *msg) {
  tw__strlcpy(detail, msg, cap);
}

SSL_CTX *tw__tls_ssl_ctx(const tw_tls_ctx_t *ctx) {
  return ctx ? ctx->ssl : NULL;
}

int tw_tls_ctx_is_server(const tw_tls_ctx_t *ctx) {
  return ctx ? ctx->server : 0;
}

/* Settings both sides share: a TLS 1.2 floor, no renegotiation (TLS 1.2
 * renegotiation is a known attack surface and Twitch never asks for it), and
 * partial-write mode off so SSL_write() into a memory BIO always takes the
 * whole buffer. */
static SSL_CTX *new_ssl_ctx(const SSL_METHOD *method, char *detail,
                            size_t cap) {
  SSL_CTX *ssl = SSL_CTX_new(method);
  if (!ssl) {
    tw__tls_err_detail(detail, cap, "cannot create TLS context");
    return NULL;
  }
  if (SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1) {
    tw__tls_err_detail(detail, cap, "cannot set the minimum TLS version");
    SSL_CTX_free(ssl);
    return NULL;
  }
  SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  return ssl;
}

int tw_tls_client_new(const tw_tls_client_opts_t *opts, tw_tls_ctx_t **out,
                      char *detail, size_t detail_cap) {
  tw_tls_client_opts_t defaults;
  tw_tls_ctx_t *ctx;
  SSL_CTX *ssl;

  if (!out)
    return TW_EINVAL;
  *out = NULL;
  if (!opts) {
    memset(&defaults, 0, sizeof(defaults));
    opts = &defaults;
  }
  ERR_clear_error();
  ssl = new_ssl_ctx(TLS_client_method(), detail, detail_cap);
  if (!ssl)
    return TW_ETLS;
  /* The system store is loaded even with an extra CA file: the file adds
   * trust (a private CA for the simulator) without taking any away. */
  if (SSL_CTX_set_default_verify_paths(ssl) != 1) {
    tw__tls_err_detail(detail, detail_cap,
                       "cannot load the system certificate store");
    SSL_CTX_free(ssl);
    return TW_ETLS;
  }
  if (opts->ca_file && opts->ca_file[0]) {
    if (SSL_CTX_load_verify_locations(ssl, opts->ca_file, NULL) != 1) {
      char prefix[TW_MAX_TLS_DETAIL];
      snprintf(prefix, sizeof(prefix), "cannot load CA file %s", opts->ca_file);
      tw__tls_err_detail(detail, detail_cap, prefix);
      SSL_CTX_free(ssl);
      return TW_ECONFIG;
    }
  }
  SSL_CTX_set_verify(
      ssl, opts->insecure_no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  ctx = calloc(1, sizeof(*ctx));
  if (!ctx) {
    SSL_CTX_free(ssl);
    set_detail(detail, detail_cap, "out of memory");
    return TW_ENOMEM;
  }
  ctx->ssl = ssl;
  ctx->server = 0;
  *out = ctx;
  return 0;
}

int tw_tls_server_new(const char *cert_file, const char *key_file,
                      tw_tls_ctx_t **out, char *detail, size_t detail_cap) {
  tw_tls_ctx_t *ctx;
  SSL_CTX *ssl;
  char prefix[TW_MAX_TLS_DETAIL];

  if (!out)
    return TW_EINVAL;
  *out = NULL;
  if (!cert_file || !key_file || !cert_file[0] || !key_file[0]) {
    set_detail(detail, detail_cap, "certificate and key files are required");
    return TW_EINVAL;
  }
  ERR_clear_error();
  ssl = new_ssl_ctx(TLS_server_method(), detail, detail_cap);
  if (!ssl)
    return TW_ETLS;
  if (SSL_CTX_use_certificate_chain_file(ssl, cert_file) != 1) {
    snprintf(prefix, sizeof(prefix), "cannot load certificate %s", cert_file);
    tw__tls_err_detail(detail, detail_cap, prefix);
    SSL_CTX_free(ssl);
    return TW_ECONFIG;
  }
  if (SSL_CTX_use_PrivateKey_file(ssl, key_file, SSL_FILETYPE_PEM) != 1) {
    snprintf(prefix, sizeof(prefix), "cannot load private key %s", key_file);
    tw__tls_err_detail(detail, detail_cap, prefix);
    SSL_CTX_free(ssl);
    return TW_ECONFIG;
  }
  if (SSL_CTX_check_private_key(ssl) != 1) {
    snprintf(prefix, sizeof(prefix), "private key %s does not match %s",
             key_file, cert_file);
    tw__tls_err_detail(detail, detail_cap, prefix);
    SSL_CTX_free(ssl);
    return TW_ECONFIG;
  }
  ctx = calloc(1, sizeof(*ctx));
  if (!ctx) {
    SSL_CTX_free(ssl);
    set_detail(detail, detail_cap, "out of memory");
    return TW_ENOMEM;
  }
  ctx->ssl = ssl;
  ctx->server = 1;
  *out = ctx;
  return 0;
}

void tw_tls_ctx_free(tw_tls_ctx_t *ctx) {
  if (!ctx)
    return;
  SSL_CTX_free(ctx->ssl);
  free(ctx);
}
