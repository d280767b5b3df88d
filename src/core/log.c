/* Process-wide logger with secret redaction (see include/twitchd/log.h).
 *
 * A line goes through a fixed pipeline, all under one mutex and in static
 * buffers (no allocation while logging, so logging works when memory is
 * short, and no large stack frames on libuv's small worker stacks):
 *
 *   1. format the message (vsnprintf into `raw`, bounded);
 *   2. redact every form of every secret in the raw text (pass 1);
 *   3. escape it for the output format (JSON string escaping, or control
 *      characters made visible in text mode so a message can never forge a
 *      second log line), remembering where each escape unit starts;
 *   4. redact again on the escaped text (pass 2), widening every match to
 *      whole escape units so the JSON stays valid; this catches text that
 *      only spells a secret once escaped;
 *   5. cut to the line cap at a unit boundary and write prefix+msg+suffix.
 *
 * Truncation never exposes part of a secret: redaction always runs on text
 * that extends at least one secret-form length past the point where the line
 * is finally cut, and when an earlier stage had to drop the tail (the message
 * was longer than the stage buffers), the text is also cut before any tail
 * that is the beginning of a secret form, since that secret lost its end and
 * could not be matched.
 */
#include "twitchd/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twitchd/error.h"

#define REDACTED "[REDACTED]"
#define REDACTED_LEN (sizeof(REDACTED) - 1)

/* Forms of one secret that are searched for: raw, percent-encoded,
 * form-encoded (space as '+'), JSON-escaped, JSON-escaped with "\/". */
#define FORMS_MAX 5
/* The longest form: JSON escaping turns one byte into at most six. */
#define FORM_MAX_LEN (6 * TW_LOG_MAX_SECRET)
/* Stage buffers hold the line cap plus one longest form, so that a secret
 * which starts before the cut is always seen whole. */
#define STAGE_CAP (TW_LOG_MAX_LINE + FORM_MAX_LEN + 64)
#define MODULE_MAX 32

typedef struct {
  char *s;
  size_t len;
  bool icase; /* encoded forms: hex digits may come in either case */
} form_t;

typedef struct {
  char *secret; /* the raw secret, owned */
  size_t len;
  form_t forms[FORMS_MAX]; /* forms[0] is the raw secret itself */
  int nforms;
} secret_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_level = TW_LOG_INFO;
static tw_log_format_t g_format = TW_LOG_TEXT;
static FILE *g_out;
static secret_t g_secrets[TW_LOG_MAX_SECRETS];
static int g_nsecrets;
static size_t g_maxform;  /* longest registered form, 0 if none */
static bool g_first[256]; /* bytes (case-folded) that can start a form */

/* Pipeline buffers; only touched with g_mu held. */
static char g_raw[STAGE_CAP];
static unsigned char g_cov[2 * STAGE_CAP];
static char g_p1[STAGE_CAP];
static char g_esc[STAGE_CAP];
static unsigned char g_esc_u[STAGE_CAP];
static char g_p2[2 * STAGE_CAP];
static unsigned char g_p2_u[2 * STAGE_CAP];
static char g_line[TW_LOG_MAX_LINE + 1];

static const char *const k_level_names[] = {"trace", "debug", "info",
                                            "warn",  "error", "off"};
static const char *const k_level_upper[] = {"TRACE", "DEBUG", "INFO",
                                            "WARN",  "ERROR", "OFF"};

static int ascii_lower(int c) {
  return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static bool ascii_ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
      return false;
  return *a == *b;
}

/* ---- levels and settings ---------------------------------------------- */

void tw_log_set_level(tw_log_level_t level) {
  if (level < TW_LOG_TRACE || level > TW_LOG_OFF)
    return;
  atomic_store(&g_level, (int)level);
}

tw_log_level_t tw_log_get_level(void) {
  return (tw_log_level_t)atomic_load(&g_level);
}

void tw_log_set_format(tw_log_format_t format) {
  pthread_mutex_lock(&g_mu);
  g_format = format == TW_LOG_JSON ? TW_LOG_JSON : TW_LOG_TEXT;
  pthread_mutex_unlock(&g_mu);
}

void tw_log_set_output(FILE *out) {
  pthread_mutex_lock(&g_mu);
  g_out = out;
  pthread_mutex_unlock(&g_mu);
}

int tw_log_level_parse(const char *s, tw_log_level_t *out) {
  if (!s || !out)
    return TW_EINVAL;
  for (int i = TW_LOG_TRACE; i <= TW_LOG_OFF; i++) {
    if (ascii_ieq(s, k_level_names[i])) {
      *out = (tw_log_level_t)i;
      return 0;
    }
  }
  if (ascii_ieq(s, "warning")) {
    *out = TW_LOG_WARN;
    return 0;
  }
  return TW_EINVAL;
}

int tw_log_format_parse(const char *s, tw_log_format_t *out) {
  if (!s || !out)
    return TW_EINVAL;
  if (ascii_ieq(s, "text")) {
    *out = TW_LOG_TEXT;
    return 0;
  }
  if (ascii_ieq(s, "json")) {
    *out = TW_LOG_JSON;
    return 0;
  }
  return TW_EINVAL;
}

const char *tw_log_level_name(tw_log_level_t level) {
  if (level < TW_LOG_TRACE || level > TW_LOG_OFF)
    return "unknown";
  return k_level_names[level];
}

/* ---- secrets ------------------------------------------------------------ */

static bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Percent-encodes `s` (RFC 3986 unreserved characters kept), as curl and
 * every OAuth library put a secret into a query string or form body. With
 * `plus`, spaces become '+' as in application/x-www-form-urlencoded. */
static char *pct_encode(const char *s, size_t len, bool plus) {
  static const char hex[] = "0123456789ABCDEF";
  char *out = malloc(3 * len + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c)) {
      out[o++] = (char)c;
    } else if (plus && c == ' ') {
      out[o++] = '+';
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = '\0';
  return out;
}

/* JSON-escapes `s` the way jansson and most encoders do, so a secret inside
 * a dumped JSON body is found even when it contains '"', '\\' or control
 * characters. With `slash`, '/' is written as "\/" (JSON_ESCAPE_SLASH). */
static char *json_encode(const char *s, size_t len, bool slash) {
  static const char hex[] = "0123456789abcdef";
  char *out = malloc(6 * len + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *e = NULL;
    switch (c) {
    case '"':
      e = "\\\"";
      break;
    case '\\':
      e = "\\\\";
      break;
    case '\n':
      e = "\\n";
      break;
    case '\r':
      e = "\\r";
      break;
    case '\t':
      e = "\\t";
      break;
    case '\b':
      e = "\\b";
      break;
    case '\f':
      e = "\\f";
      break;
    case '/':
      e = slash ? "\\/" : NULL;
      break;
    default:
      break;
    }
    if (e) {
      out[o++] = e[0];
      out[o++] = e[1];
    } else if (c < 0x20) {
      memcpy(out + o, "\\u00", 4);
      out[o + 4] = hex[c >> 4];
      out[o + 5] = hex[c & 15];
      o += 6;
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return out;
}

static void secret_free(secret_t *s) {
  for (int i = 1; i < s->nforms; i++)
    free(s->forms[i].s);
  free(s->secret);
  memset(s, 0, sizeof(*s));
}

/* Adds `form` (taking ownership) unless an identical form is present. */
static void secret_add_form(secret_t *s, char *form, bool icase) {
  if (!form)
    return;
  size_t len = strlen(form);
  for (int i = 0; i < s->nforms; i++) {
    if (s->forms[i].len == len && memcmp(s->forms[i].s, form, len) == 0) {
      free(form);
      return;
    }
  }
  s->forms[s->nforms].s = form;
  s->forms[s->nforms].len = len;
  s->forms[s->nforms].icase = icase;
  s->nforms++;
}

/* Recomputes the longest form and the first-byte filter; g_mu held. */
static void secrets_reindex(void) {
  g_maxform = 0;
  memset(g_first, 0, sizeof(g_first));
  for (int i = 0; i < g_nsecrets; i++) {
    for (int j = 0; j < g_secrets[i].nforms; j++) {
      const form_t *f = &g_secrets[i].forms[j];
      unsigned char c = (unsigned char)f->s[0];
      if (f->len > g_maxform)
        g_maxform = f->len;
      g_first[c] = true;
      if (f->icase) {
        g_first[ascii_lower(c)] = true;
        if (c >= 'a' && c <= 'z')
          g_first[c - ('a' - 'A')] = true;
      }
    }
  }
}

int tw_log_add_secret(const char *secret) {
  if (!secret)
    return TW_EINVAL;
  size_t len = strlen(secret);
  if (len < TW_LOG_MIN_SECRET || len > TW_LOG_MAX_SECRET)
    return TW_EINVAL;
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nsecrets; i++) {
    if (g_secrets[i].len == len &&
        memcmp(g_secrets[i].secret, secret, len) == 0) {
      pthread_mutex_unlock(&g_mu);
      return 0; /* already registered */
    }
  }
  if (g_nsecrets == TW_LOG_MAX_SECRETS) {
    pthread_mutex_unlock(&g_mu);
    return TW_EFULL;
  }
  secret_t *s = &g_secrets[g_nsecrets];
  memset(s, 0, sizeof(*s));
  s->secret = malloc(len + 1);
  if (!s->secret) {
    pthread_mutex_unlock(&g_mu);
    return TW_ENOMEM;
  }
  memcpy(s->secret, secret, len + 1);
  s->len = len;
  s->forms[0].s = s->secret;
  s->forms[0].len = len;
  s->forms[0].icase = false;
  s->nforms = 1;
  /* The derived forms are best effort: if memory is short we still redact
   * the raw form rather than refuse the secret. */
  secret_add_form(s, pct_encode(secret, len, false), true);
  secret_add_form(s, pct_encode(secret, len, true), true);
  secret_add_form(s, json_encode(secret, len, false), true);
  secret_add_form(s, json_encode(secret, len, true), true);
  g_nsecrets++;
  secrets_reindex();
  pthread_mutex_unlock(&g_mu);
  return 0;
}

void tw_log_remove_secret(const char *secret) {
  if (!secret)
    return;
  size_t len = strlen(secret);
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nsecrets; i++) {
    if (g_secrets[i].len == len &&
        memcmp(g_secrets[i].secret, secret, len) == 0) {
      secret_free(&g_secrets[i]);
      g_secrets[i] = g_secrets[g_nsecrets - 1];
      memset(&g_secrets[g_nsecrets - 1], 0, sizeof(secret_t));
      g_nsecrets--;
      break;
    }
  }
  secrets_reindex();
  pthread_mutex_unlock(&g_mu);
}

void tw_log_clear_secrets(void) {
  pthread_mutex_lock(&g_mu);
  for (int i = 0; i < g_nsecrets; i++)
    secret_free(&g_secrets[i]);
  g_nsecrets = 0;
  secrets_reindex();
  pthread_mutex_unlock(&g_mu);
}

/* ---- redaction ---------------------------------------------------------- */

static bool form_at(const form_t *f, const char *p, size_t avail) {
  if (f->len > avail)
    return false;
  if (!f->icase)
    return memcmp(p, f->s, f->len) == 0;
  for (size_t i = 0; i < f->len; i++)
    if (ascii_lower((unsigned char)p[i]) != ascii_lower((unsigned char)f->s[i]))
      return false;
  return true;
}

/* Marks in cov[] every byte of `in` covered by an occurrence of any form.
 * Overlapping occurrences merge, so "[REDACTED]" replaces the whole run and
 * no tail of an overlapping repeat is left visible. g_mu held. */
static void cover(const char *in, size_t len, unsigned char *cov) {
  memset(cov, 0, len);
  if (g_nsecrets == 0)
    return;
  for (size_t i = 0; i < len; i++) {
    if (!g_first[(unsigned char)in[i]])
      continue;
    for (int s = 0; s < g_nsecrets; s++) {
      for (int j = 0; j < g_secrets[s].nforms; j++) {
        const form_t *f = &g_secrets[s].forms[j];
        if (form_at(f, in + i, len - i))
          memset(cov + i, 1, f->len);
      }
    }
  }
}

/* Copies in[0..stop) to out, replacing every covered run by "[REDACTED]".
 * A covered run that starts before `stop` is replaced whole. Stops early when
 * out (capacity `cap`, not NUL-terminated) is full and sets *full. When
 * `unit_in` is given, unit-start flags are carried over to `unit_out`. */
static size_t emit(const char *in, size_t stop, size_t len,
                   const unsigned char *cov, char *out, size_t cap,
                   const unsigned char *unit_in, unsigned char *unit_out,
                   bool *full) {
  size_t o = 0;
  size_t i = 0;
  while (i < stop) {
    if (cov[i]) {
      if (cap - o < REDACTED_LEN) {
        *full = true;
        break;
      }
      memcpy(out + o, REDACTED, REDACTED_LEN);
      if (unit_out)
        memset(unit_out + o, 1, REDACTED_LEN);
      o += REDACTED_LEN;
      while (i < len && cov[i])
        i++;
    } else {
      if (o == cap) {
        *full = true;
        break;
      }
      if (unit_out)
        unit_out[o] = unit_in ? unit_in[i] : 1;
      out[o++] = in[i++];
    }
  }
  return o;
}

size_t tw_log_redact(const char *in, char *out, size_t cap) {
  if (!out || cap == 0)
    return 0;
  if (!in) {
    out[0] = '\0';
    return 0;
  }
  size_t len = strlen(in);
  unsigned char *cov = calloc(len ? len : 1, 1);
  bool full = false;
  size_t n;
  pthread_mutex_lock(&g_mu);
  if (!cov) {
    /* Without the coverage map we cannot tell secret from text; refusing to
     * copy anything is the only answer that cannot leak. */
    n = 0;
  } else {
    cover(in, len, cov);
    n = emit(in, len, len, cov, out, cap - 1, NULL, NULL, &full);
  }
  pthread_mutex_unlock(&g_mu);
  free(cov);
  out[n] = '\0';
  return n;
}

/* ---- escaping ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t avail) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    if (c == 0xED)
      hi = 0x9F; /* no UTF-16 surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    if (c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if (n > avail)
    return 0;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return n;
}

/* Escapes in[0..len) for the output format, one unit at a time, into out
 * (capacity cap), setting unit[o] = 1 where each unit starts. JSON: the
 * string escapes of RFC 8259, control characters as \u00XX, bytes that are
 * not valid UTF-8 as \u00XX (so the line is always valid JSON). Text: only
 * control characters and invalid bytes are escaped (\n, \r, \xHH), so that a
 * message can never start a forged log line. Sets *full when out ran out. */
static size_t escape(const char *in, size_t len, bool json, char *out,
                     unsigned char *unit, size_t cap, bool *full) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  size_t i = 0;
  while (i < len) {
    const unsigned char *p = (const unsigned char *)in + i;
    char tmp[8];
    size_t tn = 0;
    size_t used = 1;
    unsigned char c = p[0];
    size_t u8 = utf8_len(p, len - i);
    if (u8 > 1) {
      memcpy(tmp, p, u8);
      tn = u8;
      used = u8;
    } else if (u8 == 1 && c >= 0x20 && c != 0x7f &&
               !(json && (c == '"' || c == '\\'))) {
      tmp[0] = (char)c;
      tn = 1;
    } else if (c == '\n' || c == '\r' || (json && (c == '"' || c == '\\')) ||
               (json && (c == '\t' || c == '\b' || c == '\f'))) {
      tmp[0] = '\\';
      tmp[1] = c == '\n'   ? 'n'
               : c == '\r' ? 'r'
               : c == '\t' ? 't'
               : c == '\b' ? 'b'
               : c == '\f' ? 'f'
                           : (char)c;
      tn = 2;
    } else if (!json && c == '\t') {
      tmp[0] = '\t';
      tn = 1;
    } else if (json) {
      memcpy(tmp, "\\u00", 4);
      tmp[4] = hex[c >> 4];
      tmp[5] = hex[c & 15];
      tn = 6;
    } else {
      tmp[0] = '\\';
      tmp[1] = 'x';
      tmp[2] = hex[c >> 4];
      tmp[3] = hex[c & 15];
      tn = 4;
    }
    if (cap - o < tn) {
      *full = true;
      break;
    }
    memcpy(out + o, tmp, tn);
    unit[o] = 1;
    if (tn > 1)
      memset(unit + o + 1, 0, tn - 1);
    o += tn;
    i += used;
  }
  return o;
}

/* Pass 2: widens every covered run of the escaped text to whole units. */
static void widen_to_units(unsigned char *cov, const unsigned char *unit,
                           size_t len) {
  size_t i = 0;
  while (i < len) {
    if (!cov[i]) {
      i++;
      continue;
    }
    size_t a = i, b = i;
    while (b < len && cov[b])
      b++;
    while (a > 0 && !unit[a])
      a--;
    while (b < len && !unit[b])
      b++;
    memset(cov + a, 1, b - a);
    i = b;
  }
}

/* ---- writing ------------------------------------------------------------ */

static size_t format_ts(char *out, size_t cap) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
  return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
}

/* Redacts and escapes a short string (the module name) into out. */
static size_t small_field(const char *s, bool json, char *out, size_t cap) {
  char red[MODULE_MAX + REDACTED_LEN * MODULE_MAX];
  unsigned char cov[MODULE_MAX];
  unsigned char unit[6 * sizeof(red)];
  size_t len = strnlen(s, MODULE_MAX);
  bool full = false;
  cover(s, len, cov);
  size_t n = emit(s, len, len, cov, red, sizeof(red), NULL, NULL, &full);
  size_t cap_units = cap - 1 < sizeof(unit) ? cap - 1 : sizeof(unit);
  size_t e = escape(red, n, json, out, unit, cap_units, &full);
  out[e] = '\0';
  return e;
}

/* When `s` was cut short of its real end, a secret may straddle the cut: its
 * start is in s, its end was lost, so no form matched it. Returns the
 * earliest position whose remaining bytes are a proper prefix of a form, that
 * is where the text must be cut so no part of such a secret shows; len if
 * there is none. g_mu held. */
static size_t safe_end(const char *s, size_t len) {
  size_t from = len > g_maxform ? len - g_maxform : 0;
  for (size_t p = from; p < len; p++) {
    if (!g_first[(unsigned char)s[p]])
      continue;
    size_t rest = len - p;
    for (int i = 0; i < g_nsecrets; i++) {
      for (int j = 0; j < g_secrets[i].nforms; j++) {
        const form_t *f = &g_secrets[i].forms[j];
        if (f->len <= rest)
          continue;
        form_t head = *f;
        head.len = rest;
        if (form_at(&head, s + p, rest))
          return p;
      }
    }
  }
  return len;
}

/* Runs the pipeline on an already formatted message; g_mu held. */
static void write_line(tw_log_level_t level, const char *module, size_t rawlen,
                       bool raw_truncated) {
  bool json = g_format == TW_LOG_JSON;
  bool trunc = raw_truncated;

  /* Pass 1 on the raw message. If its tail was cut off, a secret may have
   * lost its end there: stop before its start as well. */
  cover(g_raw, rawlen, g_cov);
  size_t stop = raw_truncated ? safe_end(g_raw, rawlen) : rawlen;
  size_t n1 =
      emit(g_raw, stop, rawlen, g_cov, g_p1, sizeof(g_p1), NULL, NULL, &trunc);

  size_t ne = escape(g_p1, n1, json, g_esc, g_esc_u, sizeof(g_esc), &trunc);

  /* Pass 2 on the escaped message, widened to whole escape units. */
  cover(g_esc, ne, g_cov);
  widen_to_units(g_cov, g_esc_u, ne);
  size_t n2 =
      emit(g_esc, ne, ne, g_cov, g_p2, sizeof(g_p2), g_esc_u, g_p2_u, &trunc);
  if (trunc)
    n2 = safe_end(g_p2, n2);

  char ts[128];
  char mod[MODULE_MAX * 6 + 1];
  format_ts(ts, sizeof(ts));
  small_field(module ? module : "-", json, mod, sizeof(mod));

  char prefix[sizeof(ts) + sizeof(mod) + 64];
  int pn;
  if (json)
    pn =
        snprintf(prefix, sizeof(prefix),
                 "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"",
                 ts, k_level_names[level], mod);
  else
    pn = snprintf(prefix, sizeof(prefix), "%s %-5s %s: ", ts,
                  k_level_upper[level], mod);
  if (pn < 0)
    return;
  const char *suffix = json ? "\"}\n" : "\n";
  size_t sn = strlen(suffix);

  /* Room for the message in a line of at most TW_LOG_MAX_LINE bytes,
   * newline included. */
  size_t room = TW_LOG_MAX_LINE - (size_t)pn - sn;
  size_t msg = n2;
  bool dots = trunc;
  if (msg > room) {
    dots = true;
    msg = room;
  }
  if (dots) {
    if (msg > room - 3)
      msg = room - 3;
    while (msg > 0 && msg < n2 && !g_p2_u[msg])
      msg--;
  }

  size_t o = 0;
  memcpy(g_line + o, prefix, (size_t)pn);
  o += (size_t)pn;
  memcpy(g_line + o, g_p2, msg);
  o += msg;
  if (dots) {
    memcpy(g_line + o, "...", 3);
    o += 3;
  }
  memcpy(g_line + o, suffix, sn);
  o += sn;
  FILE *out = g_out ? g_out : stderr;
  fwrite(g_line, 1, o, out);
  fflush(out);
}

void tw_logv(tw_log_level_t level, const char *module, const char *fmt,
             va_list ap) {
  if (level < TW_LOG_TRACE || level >= TW_LOG_OFF || !fmt)
    return;
  if ((int)level < atomic_load(&g_level))
    return;
  pthread_mutex_lock(&g_mu);
  int n = vsnprintf(g_raw, sizeof(g_raw), fmt, ap);
  if (n >= 0) {
    bool cut = (size_t)n >= sizeof(g_raw);
    size_t len = cut ? sizeof(g_raw) - 1 : (size_t)n;
    write_line(level, module, len, cut);
  }
  pthread_mutex_unlock(&g_mu);
}

void tw_log(tw_log_level_t level, const char *module, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tw_logv(level, module, fmt, ap);
  va_end(ap);
}
