/* One request to the OAuth endpoint on tw_uvcurl (twitchd/oauth_http.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/oauth.h"
#include "twitchd/oauth_http.h"

#define LOG_MOD "oauth"

struct tw_oauth_http {
  tw_uvcurl_t *uc;
  CURL *easy;
  struct curl_slist *headers;
  char *url;
  char *body;
  size_t body_len;
  char *ca_file;
  char *path; /* for the debug line: never the query or body */
  tw_buf_t resp;
  int too_big;
  tw_oauth_http_cb cb;
  void *arg;
  char errbuf[CURL_ERROR_SIZE];
};

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  tw_oauth_http_t *h = ud;
  size_t len = size * n;
  if (tw_buf_append(&h->resp, p, len) != 0) {
    h->too_big = 1;
    return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
  }
  return len;
}

/* Adds the configured CA to the store curl's OpenSSL context already
 * loaded with the system CAs: the file adds trust (a simulator's private
 * CA) without taking any away. */
static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *ud) {
  (void)curl;
  tw_oauth_http_t *h = ud;
  if (h->ca_file &&
      SSL_CTX_load_verify_locations((SSL_CTX *)sslctx, h->ca_file, NULL) != 1)
    return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

static void free_req(tw_oauth_http_t *h) {
  if (!h)
    return;
  if (h->easy)
    curl_easy_cleanup(h->easy);
  if (h->headers) {
    /* The Authorization header holds the token. */
    for (struct curl_slist *s = h->headers; s; s = s->next)
      if (s->data)
        memset(s->data, 0, strlen(s->data));
    curl_slist_free_all(h->headers);
  }
  if (h->body) {
    memset(h->body, 0, h->body_len);
    free(h->body);
  }
  if (h->resp.data)
    memset(h->resp.data, 0, h->resp.len);
  tw_buf_free(&h->resp);
  free(h->url);
  free(h->ca_file);
  free(h->path);
  free(h);
}

static void on_done(CURL *easy, CURLcode result, void *ud) {
  tw_oauth_http_t *h = ud;
  long status = 0;
  int err = 0;
  const char *detail = "";
  if (result == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  } else if (h->too_big) {
    err = TW_ETOOBIG;
    detail = "the answer is larger than the limit";
  } else {
    err = tw_uvcurl_error(result);
    detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(result);
  }
  tw_debug(LOG_MOD, "%s %s: %s%ld", h->body ? "POST" : "GET", h->path,
           err ? "failed, " : "HTTP ", err ? (long)err : status);
  const char *body = h->resp.data ? h->resp.data : "";
  h->cb(h->arg, err, status, body, h->resp.len, detail);
  free_req(h);
}

static char *dupstr(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

int tw_oauth_http_check_base(const char *base) {
  if (!base)
    return TW_EINVAL;
  if (strncmp(base, "https://", 8) == 0)
    return base[8] ? 0 : TW_EINVAL;
  if (strncmp(base, "http://", 7) != 0)
    return TW_EINVAL;
  const char *h = base + 7;
  size_t n = strcspn(h, "/?#");
  char host[256];
  if (n == 0 || n >= sizeof(host) || memchr(h, '@', n))
    return TW_EINVAL;
  memcpy(host, h, n);
  host[n] = '\0';
  /* Drop the port (but not inside an IPv6 literal). */
  char *colon = strrchr(host, ':');
  if (colon && host[0] != '[')
    *colon = '\0';
  else if (host[0] == '[') {
    char *end = strchr(host, ']');
    if (!end)
      return TW_EINVAL;
    end[1] = '\0';
  }
  if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
    return 0;
  /* 127.0.0.0/8, written as a dotted quad. */
  unsigned a, b, c, d;
  char extra;
  if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 &&
      b < 256 && c < 256 && d < 256)
    return 0;
  return TW_EINVAL;
}

int tw_oauth_http_start(tw_uvcurl_t *uc, const tw_oauth_http_req_t *req,
                        tw_oauth_http_cb cb, void *arg, tw_oauth_http_t **out) {
  if (out)
    *out = NULL;
  if (!uc || !req || !req->path || !cb || (req->body == NULL && req->body_len))
    return TW_EINVAL;
  const char *base = req->base ? req->base : TW_OAUTH_DEFAULT_BASE;
  if (tw_oauth_http_check_base(base) != 0)
    return TW_EINVAL;
  size_t blen = strlen(base);
  while (blen > 0 && base[blen - 1] == '/')
    blen--; /* "https://host/oauth2/" + "/token" */
  if (blen == 0 || blen + strlen(req->path) >= TW_MAX_OAUTH_URL)
    return TW_EINVAL;
  if (req->bearer) {
    size_t n = strlen(req->bearer);
    if (n == 0 || n > TW_MAX_OAUTH_TOKEN)
      return TW_EINVAL;
    for (size_t i = 0; i < n; i++)
      if (req->bearer[i] <= 0x20 || req->bearer[i] >= 0x7f)
        return TW_EINVAL;
  }
  tw_oauth_http_t *h = calloc(1, sizeof(*h));
  if (!h)
    return TW_ENOMEM;
  h->uc = uc;
  h->cb = cb;
  h->arg = arg;
  tw_buf_init(&h->resp, TW_MAX_OAUTH_RESPONSE);
  size_t ulen = blen + strlen(req->path) + 1;
  h->url = malloc(ulen);
  h->path = dupstr(req->path);
  h->easy = curl_easy_init();
  int bad = !h->url || !h->path || !h->easy;
  if (!bad) {
    memcpy(h->url, base, blen);
    memcpy(h->url + blen, req->path, strlen(req->path) + 1);
  }
  if (!bad && req->ca_file && !(h->ca_file = dupstr(req->ca_file)))
    bad = 1;
  if (!bad && req->body) {
    h->body = malloc(req->body_len + 1);
    if (!h->body)
      bad = 1;
    else {
      memcpy(h->body, req->body, req->body_len);
      h->body[req->body_len] = '\0';
      h->body_len = req->body_len;
    }
  }
  struct curl_slist *l = NULL;
  if (!bad) {
    l = curl_slist_append(NULL, "Accept: application/json");
    if (l && req->body)
      l = curl_slist_append(l, "Content-Type: " TW_OAUTH_FORM_TYPE);
    if (l && req->bearer) {
      tw_buf_t hb;
      tw_buf_init(&hb, TW_MAX_OAUTH_TOKEN + 64);
      if (tw_oauth_validate_header(&hb, req->bearer) == 0)
        l = curl_slist_append(l, hb.data);
      else {
        curl_slist_free_all(l);
        l = NULL;
      }
      if (hb.data)
        memset(hb.data, 0, hb.len);
      tw_buf_free(&hb);
    }
    if (!l)
      bad = 1;
    h->headers = l;
  }
  if (bad) {
    free_req(h);
    return TW_ENOMEM;
  }
  CURL *e = h->easy;
  curl_easy_setopt(e, CURLOPT_URL, h->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "twitchd/" TW_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(
      e, CURLOPT_TIMEOUT_MS,
      (long)(req->timeout_ms ? req->timeout_ms : TW_OAUTH_HTTP_TIMEOUT_MS));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long)TW_OAUTH_HTTP_CONNECT_MS);
  if (h->ca_file) {
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, h);
  }
  if (h->body) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->body_len);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  int rc = tw_uvcurl_add(uc, e, on_done, h);
  if (rc != 0) {
    free_req(h);
    return rc;
  }
  if (out)
    *out = h;
  return 0;
}

void tw_oauth_http_cancel(tw_oauth_http_t *h) {
  if (h)
    tw_uvcurl_cancel(h->uc, h->easy);
}
