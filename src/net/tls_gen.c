/* Throw-away certificate authority and server certificate, for tests and for
 * the simulator when the user gives none. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "twitchd/error.h"
#include "twitchd/tls.h"

#include "net/net_internal.h"

/* Longest path we build inside the directory. */
#define TW_TLS_GEN_MAX_PATH 4096
/* Longest subjectAltName value we build (16 names of 255 bytes fit). */
#define TW_TLS_GEN_MAX_SAN 8192

static int is_ip_literal(const char *s) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Host names go into an OpenSSL configuration string ("DNS:a,DNS:b"), so only
 * a strict alphabet is let through: a comma or colon would inject entries. */
static int is_valid_dns_name(const char *s) {
  size_t n = strlen(s), i = 0;
  if (n == 0 || n > TW_MAX_HOST)
    return 0;
  if (n > 2 && s[0] == '*' && s[1] == '.')
    i = 2;
  if (s[i] == '.' || s[i] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
    return 0;
  for (; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return 0;
    if (c == '.' && s[i + 1] == '.')
      return 0;
  }
  return 1;
}

static EVP_PKEY *gen_key(void) {
  return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  int ok;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!ext)
    return 0;
  ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

static int set_serial(X509 *cert) {
  BIGNUM *bn = BN_new();
  int ok = 0;
  /* Random 63-bit serials keep two generated CAs from ever colliding. */
  if (bn && BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
      BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
    ok = 1;
  BN_free(bn);
  return ok;
}

static int set_validity(X509 *cert, int days) {
  long after = (long)days * 86400L;
  long before = -3600L;
  /* An expired certificate (days < 0) still needs notBefore < notAfter. */
  if (before > after - 3600L)
    before = after - 3600L;
  return X509_gmtime_adj(X509_getm_notBefore(cert), before) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), after);
}

static int set_name(X509 *cert, const char *cn, X509 *issuer) {
  X509_NAME *name = X509_get_subject_name(cert);
  if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                  (const unsigned char *)"twitchd test", -1, -1,
                                  0) ||
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  (const unsigned char *)cn, -1, -1, 0))
    return 0;
  return X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer)
                                           : name) == 1;
}

static X509 *make_ca(EVP_PKEY *key, int days) {
  X509 *ca = X509_new();
  if (!ca)
    return NULL;
  if (X509_set_version(ca, 2) != 1 || !set_serial(ca) ||
      !set_validity(ca, days < 1 ? 1 : days) ||
      !set_name(ca, "twitchd test CA", NULL) || X509_set_pubkey(ca, key) != 1 ||
      !add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE") ||
      !add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !add_ext(ca, ca, NID_subject_key_identifier, "hash") ||
      !add_ext(ca, ca, NID_authority_key_identifier, "keyid:always") ||
      X509_sign(ca, key, EVP_sha256()) == 0) {
    X509_free(ca);
    return NULL;
  }
  return ca;
}

static X509 *make_leaf(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, int days,
                       const char *san) {
  X509 *leaf = X509_new();
  if (!leaf)
    return NULL;
  if (X509_set_version(leaf, 2) != 1 || !set_serial(leaf) ||
      !set_validity(leaf, days) || !set_name(leaf, "localhost", ca) ||
      X509_set_pubkey(leaf, key) != 1 ||
      !add_ext(leaf, ca, NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(leaf, ca, NID_key_usage, "critical,digitalSignature") ||
      !add_ext(leaf, ca, NID_ext_key_usage, "serverAuth,clientAuth") ||
      !add_ext(leaf, ca, NID_subject_key_identifier, "hash") ||
      !add_ext(leaf, ca, NID_authority_key_identifier, "keyid:always") ||
      !add_ext(leaf, ca, NID_subject_alt_name, san) ||
      X509_sign(leaf, ca_key, EVP_sha256()) == 0) {
    X509_free(leaf);
    return NULL;
  }
  return leaf;
}

/* Writes one PEM object to dir/name through a temporary file and a rename,
 * with `mode` set before any byte is written (a key is never readable by
 * others, not even for an instant). */
static int write_pem(const char *dir, const char *name, mode_t mode, X509 *cert,
                     EVP_PKEY *key, char *detail, size_t cap) {
  char path[TW_TLS_GEN_MAX_PATH], tmp[TW_TLS_GEN_MAX_PATH];
  int fd, ok;
  FILE *f;

  if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
          sizeof(path) ||
      (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >=
          sizeof(tmp)) {
    tw__strlcpy(detail, "directory path too long", cap);
    return TW_EINVAL;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    if (detail && cap)
      snprintf(detail, cap, "cannot create %s: %s", tmp, strerror(errno));
    return TW_EIO;
  }
  /* open() honours the umask; fchmod makes the mode exact. */
  if (fchmod(fd, mode) != 0) {
    if (detail && cap)
      snprintf(detail, cap, "cannot chmod %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return TW_EIO;
  }
  f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    unlink(tmp);
    tw__strlcpy(detail, "fdopen failed", cap);
    return TW_EIO;
  }
  if (cert)
    ok = PEM_write_X509(f, cert) == 1;
  else
    ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
  if (fflush(f) != 0 || fsync(fileno(f)) != 0)
    ok = 0;
  if (fclose(f) != 0)
    ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    if (detail && cap)
      snprintf(detail, cap, "cannot write %s", path);
    unlink(tmp);
    return TW_EIO;
  }
  return 0;
}

static int build_san(const char *const *names, size_t n_names, char *san,
                     size_t cap, char *detail, size_t detail_cap) {
  size_t used, i;
  int n = snprintf(san, cap, "DNS:localhost,IP:127.0.0.1,IP:::1");
  if (n < 0 || (size_t)n >= cap)
    return TW_EINVAL;
  used = (size_t)n;
  for (i = 0; i < n_names; i++) {
    const char *name = names[i];
    const char *kind;
    if (!name) {
      tw__strlcpy(detail, "NULL certificate name", detail_cap);
      return TW_EINVAL;
    }
    if (is_ip_literal(name)) {
      kind = "IP";
    } else if (is_valid_dns_name(name)) {
      kind = "DNS";
    } else {
      if (detail && detail_cap)
        snprintf(detail, detail_cap, "invalid certificate name \"%.64s\"",
                 name);
      return TW_EINVAL;
    }
    n = snprintf(san + used, cap - used, ",%s:%s", kind, name);
    if (n < 0 || (size_t)n >= cap - used) {
      tw__strlcpy(detail, "too many certificate names", detail_cap);
      return TW_EINVAL;
    }
    used += (size_t)n;
  }
  return 0;
}

int tw_tls_gen_ca_and_cert(const char *dir, const char *const *names,
                           size_t n_names, int days, char *detail,
                           size_t detail_cap) {
  char san[TW_TLS_GEN_MAX_SAN];
  EVP_PKEY *ca_key = NULL, *leaf_key = NULL;
  X509 *ca = NULL, *leaf = NULL;
  int rc;

  if (detail && detail_cap)
    detail[0] = '\0';
  if (!dir || !dir[0] || (n_names > 0 && !names) ||
      n_names > TW_TLS_GEN_MAX_NAMES) {
    tw__strlcpy(detail, "invalid arguments", detail_cap);
    return TW_EINVAL;
  }
  /* A year-long test certificate is plenty; this also keeps days*86400 far
   * from overflowing a long. */
  if (days == 0)
    days = TW_TLS_GEN_DEFAULT_DAYS;
  if (days > 3650 || days < -3650) {
    tw__strlcpy(detail, "validity out of range", detail_cap);
    return TW_EINVAL;
  }
  rc = build_san(names, n_names, san, sizeof(san), detail, detail_cap);
  if (rc != 0)
    return rc;

  ERR_clear_error();
  rc = TW_ETLS;
  ca_key = gen_key();
  leaf_key = gen_key();
  if (!ca_key || !leaf_key) {
    tw__tls_err_detail(detail, detail_cap, "cannot generate EC key");
    goto out;
  }
  ca = make_ca(ca_key, days);
  if (!ca) {
    tw__tls_err_detail(detail, detail_cap, "cannot build CA certificate");
    goto out;
  }
  leaf = make_leaf(leaf_key, ca, ca_key, days, san);
  if (!leaf) {
    tw__tls_err_detail(detail, detail_cap, "cannot build certificate");
    goto out;
  }
  rc = write_pem(dir, TW_TLS_GEN_KEY_FILE, 0600, NULL, leaf_key, detail,
                 detail_cap);
  if (rc == 0)
    rc = write_pem(dir, TW_TLS_GEN_CERT_FILE, 0644, leaf, NULL, detail,
                   detail_cap);
  if (rc == 0)
    rc = write_pem(dir, TW_TLS_GEN_CA_FILE, 0644, ca, NULL, detail, detail_cap);
out:
  X509_free(leaf);
  X509_free(ca);
  EVP_PKEY_free(leaf_key);
  EVP_PKEY_free(ca_key);
  return rc;
}
