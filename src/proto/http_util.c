/* twitchd: helpers shared by the OAuth and Helix codecs. See http_util.h. */
#include "proto/http_util.h"

#include <string.h>
#include <stdlib.h>

#include "twitchd/error.h"

static const char hexdig[] = "0123456789ABCDEF";

static bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

int tw__url_encode(tw_buf_t *out, const char *s, size_t len, bool space_plus) {
  /* Encode in chunks through a small stack buffer so that the common case
   * is a few appends, not one per byte. */
  char tmp[256];
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (n + 3 > sizeof(tmp)) {
      int rc = tw_buf_append(out, tmp, n);
      if (rc != 0)
        return rc;
      n = 0;
    }
    if (unreserved(c)) {
      tmp[n++] = (char)c;
    } else if (c == ' ' && space_plus) {
      tmp[n++] = '+';
    } else {
      tmp[n++] = '%';
      tmp[n++] = hexdig[c >> 4];
      tmp[n++] = hexdig[c & 15];
    }
  }
  return n ? tw_buf_append(out, tmp, n) : 0;
}

int tw__form_add(tw_buf_t *out, bool *first, const char *key, const char *value,
                 bool space_plus) {
  int rc;
  if (!*first && (rc = tw_buf_append(out, "&", 1)) != 0)
    return rc;
  if ((rc = tw_buf_append_str(out, key)) != 0 ||
      (rc = tw_buf_append(out, "=", 1)) != 0 ||
      (rc = tw__url_encode(out, value, strlen(value), space_plus)) != 0)
    return rc;
  *first = false;
  return 0;
}

void tw__buf_truncate(tw_buf_t *b, size_t len) {
  if (b->len > len) {
    b->len = len;
    if (b->data)
      b->data[len] = '\0';
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int tw__url_decode(const char *in, size_t len, bool plus_space, char **out) {
  *out = NULL;
  char *d = malloc(len + 1);
  if (!d)
    return TW_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = in[i];
    if (c == '%') {
      int hi, lo;
      /* Two hex digits must follow: "%", "%4" and "%zz" are all errors
       * rather than literal text, so that a value never decodes two ways. */
      if (i + 2 >= len || (hi = hexval(in[i + 1])) < 0 ||
          (lo = hexval(in[i + 2])) < 0) {
        free(d);
        return TW_EPARSE;
      }
      c = (char)(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    if (c == '\0') {
      free(d);
      return TW_EPARSE;
    }
    d[n++] = c;
  }
  d[n] = '\0';
  *out = d;
  return 0;
}

bool tw__is_visible_ascii(const char *s, size_t max) {
  if (!s || !*s)
    return false;
  size_t i = 0;
  for (; s[i]; i++) {
    if (i >= max)
      return false;
    unsigned char c = (unsigned char)s[i];
    if (c < 0x21 || c > 0x7e)
      return false;
  }
  return true;
}

bool tw__is_numeric_id(const char *s, size_t max) {
  if (!s || !*s)
    return false;
  for (size_t i = 0; s[i]; i++) {
    if (i >= max || s[i] < '0' || s[i] > '9')
      return false;
  }
  return true;
}

/* Length of the UTF-8 sequence starting at s[i] (1..4), or 0 when it is not
 * a valid, shortest-form, non-surrogate sequence within len. */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t len) {
  unsigned char c = s[i];
  if (c < 0x80)
    return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len - i < n)
    return 0;
  for (size_t k = 1; k < n; k++) {
    if ((s[i + k] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i + k] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

size_t tw__utf8_count(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t count = 0;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_seq(u, i, len);
    if (n == 0)
      return SIZE_MAX;
    i += n;
    count++;
  }
  return count;
}

void tw__sanitize(char *dst, size_t cap, const char *src, size_t len) {
  if (cap == 0)
    return;
  const unsigned char *u = (const unsigned char *)src;
  size_t o = 0;
  for (size_t i = 0; i < len && src;) {
    size_t n = utf8_seq(u, i, len);
    if (n == 0 || (n == 1 && (u[i] < 0x20 || u[i] == 0x7f))) {
      /* A control character or a byte that is not UTF-8: one '?'. */
      if (o + 1 >= cap)
        break;
      dst[o++] = '?';
      i += n ? n : 1;
      continue;
    }
    if (o + n >= cap)
      break;
    memcpy(dst + o, src + i, n);
    o += n;
    i += n;
  }
  dst[o] = '\0';
}

bool tw__ieq(const char *a, size_t alen, const char *b) {
  size_t blen = strlen(b);
  if (alen != blen)
    return false;
  for (size_t i = 0; i < alen; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z')
      x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z')
      y = (unsigned char)(y + 32);
    if (x != y)
      return false;
  }
  return true;
}

json_t *tw__json_parse(const char *body, size_t len) {
  json_error_t jerr;
  if (!body)
    return NULL;
  return json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
}

int tw__json_str(const json_t *obj, const char *key, size_t cap, bool required,
                 const char **out) {
  *out = NULL;
  json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  if (!v || json_is_null(v))
    return required ? TW_EPARSE : 0;
  if (!json_is_string(v))
    return TW_EPARSE;
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  /* An embedded NUL would make the C string disagree with the JSON one. */
  if (n > cap || strlen(s) != n)
    return TW_EPARSE;
  *out = s;
  return 0;
}

int tw__json_strdup(const json_t *obj, const char *key, size_t cap,
                    bool required, char **out) {
  const char *s;
  *out = NULL;
  int rc = tw__json_str(obj, key, cap, required, &s);
  if (rc != 0 || !s)
    return rc;
  *out = strdup(s);
  return *out ? 0 : TW_ENOMEM;
}

int tw__json_int(const json_t *obj, const char *key, int64_t min, int64_t max,
                 bool required, int64_t *out, bool *present) {
  *out = 0;
  if (present)
    *present = false;
  json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  if (!v || json_is_null(v))
    return required ? TW_EPARSE : 0;
  int64_t x;
  if (json_is_integer(v)) {
    x = (int64_t)json_integer_value(v);
  } else if (json_is_real(v)) {
    double d = json_real_value(v);
    /* Some servers write 14400.0; anything with a fraction is not a count.
     * The range check comes first so the conversion is defined. */
    if (!(d >= -9.0e18 && d <= 9.0e18) || d != (double)(int64_t)d)
      return TW_EPARSE;
    x = (int64_t)d;
  } else {
    return TW_EPARSE;
  }
  if (x < min || x > max)
    return TW_EPARSE;
  *out = x;
  if (present)
    *present = true;
  return 0;
}

void tw__free_secret(char *s) {
  if (s) {
    explicit_bzero(s, strlen(s));
    free(s);
  }
}
