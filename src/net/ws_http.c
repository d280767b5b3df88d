/* WebSocket handshake helpers: URL parsing, HTTP head scanning, keys. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "twitchd/error.h"
#include "twitchd/ws.h"

#include "net/net_internal.h"
#include "net/ws_http.h"

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- URL ---- */

static int host_char_ok(char c) {
  return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

int tw_ws_url_parse(const char *url, tw_ws_url_t *out) {
  const char *p, *auth_end, *host_end, *port_start = NULL;
  size_t hlen, plen;
  int tls;

  if (!url || !out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (strlen(url) > TW_MAX_WS_URL)
    return TW_ETOOBIG;
  if (strncasecmp(url, "wss://", 6) == 0) {
    tls = 1;
    p = url + 6;
  } else if (strncasecmp(url, "ws://", 5) == 0) {
    tls = 0;
    p = url + 5;
  } else {
    return TW_EINVAL;
  }
  /* RFC 6455 3: fragments are meaningless in WebSocket URIs. */
  if (strchr(url, '#'))
    return TW_EINVAL;
  auth_end = p + strcspn(p, "/?");
  if (memchr(p, '@', (size_t)(auth_end - p)))
    return TW_EINVAL; /* user info is not supported */
  if (*p == '[') {
    const char *rb = memchr(p, ']', (size_t)(auth_end - p));
    unsigned char a6[sizeof(struct in6_addr)];
    if (!rb)
      return TW_EINVAL;
    hlen = (size_t)(rb - (p + 1));
    if (hlen == 0 || hlen > TW_MAX_HOST)
      return hlen ? TW_ETOOBIG : TW_EINVAL;
    memcpy(out->host, p + 1, hlen);
    out->host[hlen] = '\0';
    if (inet_pton(AF_INET6, out->host, a6) != 1)
      return TW_EINVAL;
    host_end = rb + 1;
    if (host_end < auth_end) {
      if (*host_end != ':')
        return TW_EINVAL;
      port_start = host_end + 1;
    }
  } else {
    const char *q;
    host_end = memchr(p, ':', (size_t)(auth_end - p));
    if (host_end)
      port_start = host_end + 1;
    else
      host_end = auth_end;
    hlen = (size_t)(host_end - p);
    if (hlen == 0)
      return TW_EINVAL;
    if (hlen > TW_MAX_HOST)
      return TW_ETOOBIG;
    for (q = p; q < host_end; q++)
      if (!host_char_ok(*q))
        return TW_EINVAL;
    memcpy(out->host, p, hlen);
    out->host[hlen] = '\0';
  }
  if (port_start) {
    char digits[8];
    char *end;
    unsigned long v;
    size_t dlen = (size_t)(auth_end - port_start);
    if (dlen == 0 || dlen > 5)
      return TW_EINVAL;
    memcpy(digits, port_start, dlen);
    digits[dlen] = '\0';
    if (!isdigit((unsigned char)digits[0]))
      return TW_EINVAL;
    v = strtoul(digits, &end, 10);
    if (*end != '\0' || v == 0 || v > 65535)
      return TW_EINVAL;
    out->port = (uint16_t)v;
  } else {
    out->port = tls ? 443 : 80;
  }
  out->tls = tls;
  /* The path lands in the request line: no blanks or control bytes. */
  for (p = auth_end; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
      return TW_EINVAL;
  plen = strlen(auth_end);
  if (plen == 0) {
    memcpy(out->path, "/", 2);
  } else if (auth_end[0] == '?') {
    if (plen + 1 > TW_MAX_WS_PATH)
      return TW_ETOOBIG;
    out->path[0] = '/';
    memcpy(out->path + 1, auth_end, plen + 1);
  } else {
    if (plen > TW_MAX_WS_PATH)
      return TW_ETOOBIG;
    memcpy(out->path, auth_end, plen + 1);
  }
  return 0;
}

/* ---- HTTP head ---- */

size_t tw__http_head_len(const char *buf, size_t len) {
  size_t i;
  for (i = 3; i < len; i++)
    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
        buf[i - 3] == '\r')
      return i + 1;
  return 0;
}

static void trim(const char **s, size_t *n) {
  while (*n && (**s == ' ' || **s == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

int tw__http_header(const char *head, size_t len, const char *name,
                    const char **val, size_t *vlen) {
  size_t nlen = strlen(name);
  const char *p = head, *end = head + len;
  /* Skip the start line. */
  const char *eol = memchr(p, '\n', len);
  if (!eol)
    return 0;
  p = eol + 1;
  while (p < end) {
    const char *line = p, *colon;
    size_t llen;
    eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      eol = end;
    llen = (size_t)(eol - line);
    if (llen && line[llen - 1] == '\r')
      llen--;
    p = eol + 1;
    if (llen == 0)
      break; /* blank line: end of head */
    colon = memchr(line, ':', llen);
    if (!colon || (size_t)(colon - line) != nlen ||
        strncasecmp(line, name, nlen) != 0)
      continue;
    *val = colon + 1;
    *vlen = llen - nlen - 1;
    trim(val, vlen);
    return 1;
  }
  return 0;
}

int tw__http_list_has(const char *val, size_t vlen, const char *token) {
  size_t tlen = strlen(token);
  const char *p = val, *end = val + vlen;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *item = p;
    size_t ilen;
    if (!comma)
      comma = end;
    ilen = (size_t)(comma - item);
    trim(&item, &ilen);
    if (ilen == tlen && strncasecmp(item, token, tlen) == 0)
      return 1;
    p = comma + 1;
  }
  return 0;
}

int tw__http_status(const char *head, size_t len) {
  int st;
  if (len < 12 || memcmp(head, "HTTP/1.", 7) != 0 ||
      !isdigit((unsigned char)head[7]) || head[8] != ' ')
    return TW_EPROTO;
  if (!isdigit((unsigned char)head[9]) || !isdigit((unsigned char)head[10]) ||
      !isdigit((unsigned char)head[11]))
    return TW_EPROTO;
  if (len > 12 && head[12] != ' ' && head[12] != '\r')
    return TW_EPROTO;
  st = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
  if (st < 100 || st > 599)
    return TW_EPROTO;
  return st;
}

int tw__http_request_line(const char *head, size_t len, char *method,
                          size_t mcap, char *target, size_t tcap) {
  const char *eol = memchr(head, '\r', len);
  const char *sp1, *sp2;
  size_t llen, mlen, tlen;
  if (!eol)
    return TW_EPROTO;
  llen = (size_t)(eol - head);
  sp1 = memchr(head, ' ', llen);
  if (!sp1)
    return TW_EPROTO;
  sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - (sp1 + 1)));
  if (!sp2)
    return TW_EPROTO;
  mlen = (size_t)(sp1 - head);
  tlen = (size_t)(sp2 - (sp1 + 1));
  if (mlen == 0 || tlen == 0)
    return TW_EPROTO;
  /* The upgrade needs HTTP/1.1 or later (RFC 6455 4.1). */
  if ((size_t)(eol - (sp2 + 1)) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
      sp2[8] < '1' || sp2[8] > '9')
    return TW_EPROTO;
  if (mlen >= mcap || tlen >= tcap)
    return TW_ETOOBIG;
  memcpy(method, head, mlen);
  method[mlen] = '\0';
  memcpy(target, sp1 + 1, tlen);
  target[tlen] = '\0';
  return 0;
}

const char *tw__http_reason(int status) {
  switch (status) {
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 414:
    return "URI Too Long";
  case 426:
    return "Upgrade Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  default:
    return "Status";
  }
}

int tw__http_check_header_lines(const char *lines) {
  const char *p = lines;
  while (*p) {
    const char *line = p, *colon = NULL;
    /* one line up to CRLF */
    while (*p && *p != '\r' && *p != '\n') {
      unsigned char c = (unsigned char)*p;
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return TW_EINVAL;
      if (*p == ':' && !colon)
        colon = p;
      p++;
    }
    if (p[0] != '\r' || p[1] != '\n')
      return TW_EINVAL;
    if (!colon || colon == line)
      return TW_EINVAL;
    p += 2;
  }
  return 0;
}

/* ---- keys ---- */

int tw__ws_new_key(char key[25]) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof(raw)) != 1)
    return TW_ETLS;
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
  key[24] = '\0';
  return 0;
}

int tw__ws_key_valid(const char *val, size_t vlen) {
  unsigned char raw[24];
  /* 16 bytes encode to 22 characters plus "==". */
  if (vlen != 24 || val[22] != '=' || val[23] != '=')
    return 0;
  return EVP_DecodeBlock(raw, (const unsigned char *)val, 24) == 18;
}

int tw_ws_accept_key(const char *key, char out[29]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char buf[128];
  size_t klen;
  if (!key || !out)
    return TW_EINVAL;
  klen = strlen(key);
  if (klen == 0 || klen + sizeof(WS_GUID) > sizeof(buf))
    return TW_EINVAL;
  memcpy(buf, key, klen);
  memcpy(buf + klen, WS_GUID, sizeof(WS_GUID) - 1);
  if (EVP_Digest(buf, klen + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(),
                 NULL) != 1 ||
      mdlen != 20)
    return TW_ETLS;
  EVP_EncodeBlock((unsigned char *)out, md, 20);
  out[28] = '\0';
  return 0;
}
