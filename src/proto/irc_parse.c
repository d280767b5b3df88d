/* IRC line parser: one pass over the line, views into it, no allocation.
 *
 * The grammar (RFC 1459 with IRCv3 message tags), as accepted here:
 *
 *   line    = [ '@' tags SPACE+ ] [ ':' prefix SPACE+ ] command params
 *   tags    = tag *( ';' tag )        (empty items between ';' are skipped)
 *   tag     = key [ '=' value ]       (key non-empty)
 *   command = 1*letter / 3digit
 *   params  = *( SPACE+ middle ) [ SPACE+ ':' trailing ] [ SPACE* ]
 *
 * Only the tag section is scanned byte by byte (it has to be: ';' and '='
 * delimit it). Everything else is located with memchr, and the trailing
 * parameter, usually the longest part of a chat line, is never walked except
 * by the three memchr calls that reject NUL, CR and LF.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "twitchd/error.h"
#include "twitchd/irc.h"

static const char *const err_strings[] = {
    [TW_IRC_OK] = "ok",
    [TW_IRC_E_EMPTY] = "empty line",
    [TW_IRC_E_TOO_LONG] = "line too long",
    [TW_IRC_E_NUL] = "NUL byte in line",
    [TW_IRC_E_LINEBREAK] = "CR or LF inside line",
    [TW_IRC_E_TAGS_ONLY] = "tags without command",
    [TW_IRC_E_BAD_TAGS] = "bad tag section",
    [TW_IRC_E_TOO_MANY_TAGS] = "too many tags",
    [TW_IRC_E_PREFIX_ONLY] = "prefix without command",
    [TW_IRC_E_BAD_PREFIX] = "bad prefix",
    [TW_IRC_E_NO_CMD] = "missing command",
    [TW_IRC_E_BAD_CMD] = "bad command",
    [TW_IRC_E_TOO_MANY_PARAMS] = "too many params",
};

const char *tw_irc_err_str(tw_irc_err_t err) {
  if ((unsigned)err >= sizeof(err_strings) / sizeof(err_strings[0]) ||
      !err_strings[err])
    return "unknown parse error";
  return err_strings[err];
}

/* Bytes that never belong inside a line. */
static tw_irc_err_t screen(const char *p, size_t n) {
  if (memchr(p, '\0', n))
    return TW_IRC_E_NUL;
  /* A CR or LF left inside the line would be a second line smuggled into
   * this one; refuse it instead of guessing where the first one ends. */
  if (memchr(p, '\n', n) || memchr(p, '\r', n))
    return TW_IRC_E_LINEBREAK;
  return TW_IRC_OK;
}

/* Rejects the line. The parser screens for NUL, CR and LF lazily (the tag
 * section while splitting it, the rest after it), so a structural error
 * may be found first; the whole line is screened here so that the reason
 * does not depend on where the scan happened to be: NUL, then CR/LF, then
 * the structural error. */
static int fail(tw_irc_msg_t *m, tw_irc_err_t e) {
  tw_irc_err_t bad = TW_IRC_OK;
  if (e != TW_IRC_E_EMPTY && e != TW_IRC_E_TOO_LONG)
    bad = screen(m->line.ptr, m->line.len);
  m->err = bad != TW_IRC_OK ? bad : e;
  return TW_EPARSE;
}

static inline tw_irc_str_t view(const char *p, size_t n) {
  tw_irc_str_t v = {p, n};
  return v;
}

static inline int is_alpha(unsigned char c) {
  return (unsigned char)((c | 0x20) - 'a') < 26;
}

static inline int is_digit(unsigned char c) {
  return (unsigned char)(c - '0') < 10;
}

/* Case-insensitive comparison of a command word with an upper-case name.
 * Command words are letters only by the time this runs, so or-ing 0x20
 * folds case exactly. */
static int cmd_is(const char *p, const char *upper, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((p[i] | 0x20) != (upper[i] | 0x20))
      return 0;
  return 1;
}

static tw_irc_cmd_t classify(const char *p, size_t n) {
  switch (n) {
  case 3:
    if (cmd_is(p, "CAP", 3))
      return TW_IRC_CMD_CAP;
    break;
  case 4:
    if (cmd_is(p, "PING", 4))
      return TW_IRC_CMD_PING;
    if (cmd_is(p, "PONG", 4))
      return TW_IRC_CMD_PONG;
    if (cmd_is(p, "JOIN", 4))
      return TW_IRC_CMD_JOIN;
    if (cmd_is(p, "PART", 4))
      return TW_IRC_CMD_PART;
    break;
  case 6:
    if (cmd_is(p, "NOTICE", 6))
      return TW_IRC_CMD_NOTICE;
    break;
  case 7:
    if (cmd_is(p, "PRIVMSG", 7))
      return TW_IRC_CMD_PRIVMSG;
    if (cmd_is(p, "WHISPER", 7))
      return TW_IRC_CMD_WHISPER;
    break;
  case 8:
    if (cmd_is(p, "CLEARMSG", 8))
      return TW_IRC_CMD_CLEARMSG;
    break;
  case 9:
    if (cmd_is(p, "CLEARCHAT", 9))
      return TW_IRC_CMD_CLEARCHAT;
    if (cmd_is(p, "ROOMSTATE", 9))
      return TW_IRC_CMD_ROOMSTATE;
    if (cmd_is(p, "USERSTATE", 9))
      return TW_IRC_CMD_USERSTATE;
    if (cmd_is(p, "RECONNECT", 9))
      return TW_IRC_CMD_RECONNECT;
    break;
  case 10:
    if (cmd_is(p, "USERNOTICE", 10))
      return TW_IRC_CMD_USERNOTICE;
    if (cmd_is(p, "HOSTTARGET", 10))
      return TW_IRC_CMD_HOSTTARGET;
    break;
  case 15:
    if (cmd_is(p, "GLOBALUSERSTATE", 15))
      return TW_IRC_CMD_GLOBALUSERSTATE;
    break;
  default:
    break;
  }
  return TW_IRC_CMD_OTHER;
}

/* Closes the tag item [item, d): d is the ';' or ' ' after it, eq the
 * first '=' inside it or NULL. Returns 0 or a tw_irc_err_t. */
static inline int close_item(tw_irc_msg_t *m, size_t *nt, const char *item,
                             const char *eq, const char *d) {
  if (d == item)
    return TW_IRC_OK; /* an empty item between separators: skipped */
  if (eq == item)
    return TW_IRC_E_BAD_TAGS; /* "=value": a tag without a name */
  if (*nt == TW_MAX_IRC_TAGS)
    return TW_IRC_E_TOO_MANY_TAGS;
  tw_irc_tag_t *t = &m->tags[(*nt)++];
  if (eq) {
    t->key = view(item, (size_t)(eq - item));
    t->value = view(eq + 1, (size_t)(d - eq - 1));
  } else {
    /* A key without '=' has the empty value; the pointer stays inside the
     * line (at the end of the key) so that "present" is never NULL. */
    t->key = view(item, (size_t)(d - item));
    t->value = view(d, 0);
  }
  return TW_IRC_OK;
}

/* Handles one delimiter found in the tag section. Returns 1 when the
 * section ended (at a space), -1 on error (m->err set), 0 to go on. */
static inline int tag_delim(tw_irc_msg_t *m, size_t *nt, const char **item,
                            const char **eq, const char *d) {
  int e;
  switch (*d) {
  case '=':
    if (!*eq)
      *eq = d;
    return 0;
  case ';':
    if ((e = close_item(m, nt, *item, *eq, d)) != TW_IRC_OK)
      break;
    *item = d + 1;
    *eq = NULL;
    return 0;
  case ' ':
    if ((e = close_item(m, nt, *item, *eq, d)) != TW_IRC_OK)
      break;
    return 1;
  case '\0':
    e = TW_IRC_E_NUL;
    break;
  default: /* CR or LF */
    e = TW_IRC_E_LINEBREAK;
    break;
  }
  m->err = (tw_irc_err_t)e;
  return -1;
}

/* Splits the tag section that starts at t (just after '@') into msg->tags,
 * in one pass that looks for ';', '=' and the ' ' ending the section, and
 * also screens those bytes for NUL, CR and LF so that the caller need not
 * scan them again. On success stores the ending space in *sp and returns
 * 0; otherwise returns -1 with m->err set.
 *
 * With SSE2 (every x86-64), 16 bytes are classified per step and only the
 * delimiters are visited, which is what makes tags cheap: a Twitch PRIVMSG
 * carries about 250 bytes of them. Loads stay inside the line: the vector
 * loop stops 16 bytes before its end and the rest is done byte by byte. */
static int scan_tags(tw_irc_msg_t *m, const char *t, const char *end,
                     const char **sp) {
  size_t nt = 0;
  const char *item = t, *eq = NULL, *q = t;
  int r;
#ifdef __SSE2__
  const __m128i c_semi = _mm_set1_epi8(';'), c_eq = _mm_set1_epi8('='),
                c_sp = _mm_set1_epi8(' '), c_nul = _mm_setzero_si128(),
                c_cr = _mm_set1_epi8('\r'), c_lf = _mm_set1_epi8('\n');
  while (end - q >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, c_semi), _mm_cmpeq_epi8(v, c_eq)),
        _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, c_sp), _mm_cmpeq_epi8(v, c_nul)),
            _mm_or_si128(_mm_cmpeq_epi8(v, c_cr), _mm_cmpeq_epi8(v, c_lf))));
    unsigned bits = (unsigned)_mm_movemask_epi8(hit);
    while (bits) {
      const char *d = q + __builtin_ctz(bits);
      bits &= bits - 1;
      if ((r = tag_delim(m, &nt, &item, &eq, d)) != 0) {
        if (r < 0)
          return -1;
        m->ntags = nt;
        *sp = d;
        return 0;
      }
    }
    q += 16;
  }
#endif
  for (; q < end; q++) {
    char c = *q;
    if (c != ';' && c != '=' && c != ' ' && c != '\0' && c != '\r' && c != '\n')
      continue;
    if ((r = tag_delim(m, &nt, &item, &eq, q)) != 0) {
      if (r < 0)
        return -1;
      m->ntags = nt;
      *sp = q;
      return 0;
    }
  }
  m->err = TW_IRC_E_TAGS_ONLY;
  return -1;
}

static int parse_prefix(tw_irc_msg_t *m, const char *p, size_t n) {
  m->prefix = view(p, n);
  const char *excl = memchr(p, '!', n);
  const char *at;
  if (excl)
    at = memchr(excl + 1, '@', (size_t)(p + n - excl - 1));
  else
    at = memchr(p, '@', n);
  if (!excl && !at) {
    /* A lone word: a server name has a dot in it, a nick never does
     * (RFC 2812 nicknames are letters, digits and "[]\`_^{|}-"). */
    if (memchr(p, '.', n))
      m->host = m->prefix;
    else
      m->nick = m->prefix;
    return 0;
  }
  const char *nick_end = excl ? excl : at;
  m->nick = view(p, (size_t)(nick_end - p));
  if (m->nick.len == 0)
    return fail(m, TW_IRC_E_BAD_PREFIX);
  if (excl) {
    const char *user_end = at ? at : p + n;
    m->user = view(excl + 1, (size_t)(user_end - excl - 1));
    if (m->user.len == 0)
      return fail(m, TW_IRC_E_BAD_PREFIX);
  }
  if (at) {
    m->host = view(at + 1, (size_t)(p + n - at - 1));
    if (m->host.len == 0)
      return fail(m, TW_IRC_E_BAD_PREFIX);
  }
  return 0;
}

int tw_irc_parse(tw_irc_msg_t *m, const char *line, size_t len) {
  static const tw_irc_str_t absent = {NULL, 0};
  m->ntags = 0;
  m->nparams = 0;
  m->has_trailing = 0;
  m->prefix = m->nick = m->user = m->host = absent;
  m->command = absent;
  m->cmd = TW_IRC_CMD_OTHER;
  m->numeric = -1;
  m->err = TW_IRC_OK;
  m->line = view(line, 0);
  if (!line)
    return fail(m, TW_IRC_E_EMPTY);

  /* Accept the line with or without its terminator. */
  if (len && line[len - 1] == '\n')
    len--;
  if (len && line[len - 1] == '\r')
    len--;
  m->line.len = len;
  if (len == 0)
    return fail(m, TW_IRC_E_EMPTY);
  if (len > TW_MAX_IRC_LINE)
    return fail(m, TW_IRC_E_TOO_LONG);
  const char *p = line;
  const char *end = line + len;
  const char *unscreened = line; /* NUL/CR/LF not yet looked for from here */

  if (*p == '@') {
    const char *sp;
    if (scan_tags(m, p + 1, end, &sp))
      return fail(m, m->err);
    if (sp == p + 1)
      return fail(m, TW_IRC_E_BAD_TAGS); /* "@ ": an empty tag section */
    unscreened = sp;
    p = sp;
    while (p < end && *p == ' ')
      p++;
    if (p == end)
      return fail(m, TW_IRC_E_TAGS_ONLY);
  }
  tw_irc_err_t bad = screen(unscreened, (size_t)(end - unscreened));
  if (bad != TW_IRC_OK)
    return fail(m, bad);

  if (*p == ':') {
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == p + 1)
      return fail(m, TW_IRC_E_BAD_PREFIX);
    if (!sp)
      return fail(m, p + 1 == end ? TW_IRC_E_BAD_PREFIX : TW_IRC_E_PREFIX_ONLY);
    if (parse_prefix(m, p + 1, (size_t)(sp - p - 1)))
      return TW_EPARSE;
    p = sp;
    while (p < end && *p == ' ')
      p++;
    if (p == end)
      return fail(m, TW_IRC_E_PREFIX_ONLY);
  }

  /* The command word. */
  const char *cs = p;
  while (p < end && *p != ' ')
    p++;
  size_t clen = (size_t)(p - cs);
  if (clen == 0)
    return fail(m, TW_IRC_E_NO_CMD);
  m->command = view(cs, clen);
  if (is_digit((unsigned char)cs[0])) {
    if (clen != 3 || !is_digit((unsigned char)cs[1]) ||
        !is_digit((unsigned char)cs[2]))
      return fail(m, TW_IRC_E_BAD_CMD);
    m->cmd = TW_IRC_CMD_NUMERIC;
    m->numeric = (cs[0] - '0') * 100 + (cs[1] - '0') * 10 + (cs[2] - '0');
  } else {
    for (size_t i = 0; i < clen; i++)
      if (!is_alpha((unsigned char)cs[i]))
        return fail(m, TW_IRC_E_BAD_CMD);
    m->cmd = classify(cs, clen);
  }

  /* Parameters. */
  size_t np = 0;
  for (;;) {
    while (p < end && *p == ' ')
      p++;
    if (p == end)
      break;
    if (np == TW_MAX_IRC_PARAMS)
      return fail(m, TW_IRC_E_TOO_MANY_PARAMS);
    if (*p == ':') {
      m->params[np++] = view(p + 1, (size_t)(end - p - 1));
      m->has_trailing = 1;
      break;
    }
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    const char *pe = sp ? sp : end;
    m->params[np++] = view(p, (size_t)(pe - p));
    p = pe;
  }
  m->nparams = np;
  return 0;
}

tw_irc_str_t tw_irc_tag_getn(const tw_irc_msg_t *m, const char *key,
                             size_t klen) {
  /* Backwards, so that the last duplicate wins without extra work. */
  for (size_t i = m->ntags; i-- > 0;) {
    const tw_irc_tag_t *t = &m->tags[i];
    if (t->key.len == klen && memcmp(t->key.ptr, key, klen) == 0)
      return t->value;
  }
  tw_irc_str_t none = {NULL, 0};
  return none;
}

tw_irc_str_t tw_irc_tag_get(const tw_irc_msg_t *m, const char *key) {
  return tw_irc_tag_getn(m, key, strlen(key));
}

int tw_irc_tag_is_shadowed(const tw_irc_msg_t *m, size_t i) {
  if (i >= m->ntags)
    return 0;
  const tw_irc_str_t k = m->tags[i].key;
  for (size_t j = i + 1; j < m->ntags; j++)
    if (m->tags[j].key.len == k.len &&
        memcmp(m->tags[j].key.ptr, k.ptr, k.len) == 0)
      return 1;
  return 0;
}

tw_irc_str_t tw_irc_last_param(const tw_irc_msg_t *m) {
  if (m->nparams == 0) {
    tw_irc_str_t none = {NULL, 0};
    return none;
  }
  return m->params[m->nparams - 1];
}

int tw_irc_str_eq(tw_irc_str_t v, const char *s) {
  if (!v.ptr || !s)
    return 0;
  size_t n = strlen(s);
  return v.len == n && memcmp(v.ptr, s, n) == 0;
}

int tw_irc_unescape(const char *src, size_t n, char *dst, size_t cap,
                    size_t *out_len) {
  size_t o = 0;
  const char *p = src;
  const char *end = src + n;
  while (p < end) {
    /* Copy the run up to the next backslash in one go. */
    const char *bs = memchr(p, '\\', (size_t)(end - p));
    size_t run = (size_t)((bs ? bs : end) - p);
    if (run > cap - o)
      return TW_ETOOBIG;
    memcpy(dst + o, p, run);
    o += run;
    if (!bs)
      break;
    p = bs + 1;
    if (p == end)
      break; /* a dangling backslash at the end is dropped */
    char c;
    switch (*p) {
    case ':':
      c = ';';
      break;
    case 's':
      c = ' ';
      break;
    case 'r':
      c = '\r';
      break;
    case 'n':
      c = '\n';
      break;
    default:
      c = *p; /* "\\" -> '\', and any other escaped byte is itself */
      break;
    }
    if (o == cap)
      return TW_ETOOBIG;
    dst[o++] = c;
    p++;
  }
  if (o < cap)
    dst[o] = '\0';
  if (out_len)
    *out_len = o;
  return 0;
}

void tw_irc_scratch_reset(tw_irc_scratch_t *s) {
  s->used = 0;
}

/* Whether v holds a backslash. Most tag values are a few bytes long, where
 * a plain loop beats the call into memchr. */
static inline int has_backslash(tw_irc_str_t v) {
  if (v.len < 32) {
    for (size_t i = 0; i < v.len; i++)
      if (v.ptr[i] == '\\')
        return 1;
    return 0;
  }
  return memchr(v.ptr, '\\', v.len) != NULL;
}

int tw_irc_scratch_unescape(tw_irc_scratch_t *s, tw_irc_str_t raw,
                            tw_irc_str_t *out) {
  if (!raw.ptr || !has_backslash(raw)) {
    *out = raw;
    return 0;
  }
  size_t n = 0;
  char *dst = s->buf + s->used;
  if (tw_irc_unescape(raw.ptr, raw.len, dst, sizeof(s->buf) - s->used, &n)) {
    out->ptr = NULL;
    out->len = 0;
    return TW_ETOOBIG;
  }
  s->used += n;
  out->ptr = dst;
  out->len = n;
  return 0;
}
