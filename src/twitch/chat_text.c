/* Text handling for outgoing chat messages; the policies are described in
 * chat_text.h. */
#include "twitch/chat_text.h"

#include <string.h>

#include "twitchd/error.h"

size_t tw__utf8_decode(const char *s, size_t n, uint32_t *cp, bool *valid) {
  const unsigned char *u = (const unsigned char *)s;
  unsigned char b0 = u[0];
  size_t need;
  uint32_t v;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */

  if (b0 < 0x80) {
    *cp = b0;
    *valid = true;
    return 1;
  }
  /* The lead byte decides the length and, for a few leads, a narrower range
   * for the second byte: that is how overlong forms (E0, F0), surrogates (ED)
   * and values above U+10FFFF (F4) are refused (Unicode table 3-7). */
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    v = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    v = b0 & 0x0F;
    if (b0 == 0xE0)
      lo = 0xA0;
    else if (b0 == 0xED)
      hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    v = b0 & 0x07;
    if (b0 == 0xF0)
      lo = 0x90;
    else if (b0 == 0xF4)
      hi = 0x8F;
  } else {
    /* 80..C1 and F5..FF can never start a sequence. */
    *cp = 0xFFFD;
    *valid = false;
    return 1;
  }
  for (size_t i = 1; i <= need; i++) {
    unsigned char b;
    if (i >= n) {
      /* Truncated: the bytes so far are the maximal subpart. */
      *cp = 0xFFFD;
      *valid = false;
      return i;
    }
    b = u[i];
    if (b < lo || b > hi) {
      *cp = 0xFFFD;
      *valid = false;
      return i;
    }
    lo = 0x80;
    hi = 0xBF;
    v = (v << 6) | (b & 0x3F);
  }
  *cp = v;
  *valid = true;
  return need + 1;
}

bool tw__utf8_valid(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    bool ok;
    i += tw__utf8_decode(s + i, n - i, &cp, &ok);
    if (!ok)
      return false;
  }
  return true;
}

static bool is_control(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

size_t tw__chat_text_normalize(const char *in, size_t n, char *out,
                               size_t out_cap) {
  size_t i = 0, o = 0;
  while (i < n) {
    uint32_t cp;
    bool ok;
    size_t len = tw__utf8_decode(in + i, n - i, &cp, &ok);
    if (!ok) {
      if (out_cap - o < 3)
        break;
      memcpy(out + o, TW__UTF8_REPLACEMENT, 3);
      o += 3;
    } else if (is_control(cp)) {
      if (out_cap - o < 1)
        break;
      out[o++] = ' ';
    } else {
      if (out_cap - o < len)
        break;
      memcpy(out + o, in + i, len);
      o += len;
    }
    i += len;
  }
  return o;
}

size_t tw__chat_text_cps(const char *s, size_t n) {
  size_t cps = 0;
  /* Valid UTF-8: every byte that is not a continuation byte starts one code
   * point. */
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      cps++;
  return cps;
}

bool tw__chat_is_break_space(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85)
    return true;
  if (cp < 0x1680)
    return false;
  return cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A && cp != 0x2007) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x205F || cp == 0x3000;
}

bool tw__chat_is_white(uint32_t cp) {
  return tw__chat_is_break_space(cp) || cp == 0xA0 || cp == 0x2007 ||
         cp == 0x202F;
}

bool tw__chat_text_is_blank(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    bool ok;
    i += tw__utf8_decode(s + i, n - i, &cp, &ok);
    if (!tw__chat_is_white(cp))
      return false;
  }
  return true;
}

/* Index of the first code point at or after i that is not a break space, or
 * n. */
static size_t skip_spaces(const char *s, size_t n, size_t i) {
  while (i < n) {
    uint32_t cp;
    bool ok;
    size_t len = tw__utf8_decode(s + i, n - i, &cp, &ok);
    if (!tw__chat_is_break_space(cp))
      break;
    i += len;
  }
  return i;
}

/* Index just past the last code point before `end` that is not a break
 * space, or `start` when there is none. */
static size_t trim_right(const char *s, size_t start, size_t end) {
  size_t keep = start, i = start;
  while (i < end) {
    uint32_t cp;
    bool ok;
    size_t len = tw__utf8_decode(s + i, end - i, &cp, &ok);
    i += len;
    if (!tw__chat_is_break_space(cp))
      keep = i;
  }
  return keep;
}

int tw__chat_text_next_part(const char *s, size_t n, size_t *pos,
                            size_t max_cps, bool avoid_command,
                            tw__chat_part_t *part) {
  size_t p = skip_spaces(s, n, *pos);
  size_t i = p, cps = 0;
  /* A cut goes at the first byte of a run of break spaces; the part is what
   * precedes it. SIZE_MAX marks "no such cut". */
  size_t last_cut = SIZE_MAX, safe_cut = SIZE_MAX;
  bool in_space = false;
  size_t cut, end;

  if (p >= n) {
    *pos = n;
    return 0;
  }
  while (i < n && cps < max_cps) {
    uint32_t cp;
    bool ok;
    size_t len = tw__utf8_decode(s + i, n - i, &cp, &ok);
    bool sp = tw__chat_is_break_space(cp);
    if (sp && !in_space)
      last_cut = i;
    else if (!sp && in_space && avoid_command && cp != '/' && cp != '.')
      safe_cut = last_cut;
    in_space = sp;
    i += len;
    cps++;
  }
  if (i >= n) {
    /* The rest fits in one part. */
    end = trim_right(s, p, n);
    *pos = n;
    goto done;
  }
  /* The window is full and text follows. A run of spaces that begins right
   * after the window is a cut giving a full part; a run still open at the
   * window's end was recorded when it began. Either way the word after that
   * run lies beyond the window, so look it up to judge the cut. */
  {
    uint32_t cp;
    bool ok;
    tw__utf8_decode(s + i, n - i, &cp, &ok);
    if (tw__chat_is_break_space(cp) && !in_space) {
      last_cut = i;
      in_space = true;
    }
  }
  if (in_space && avoid_command) {
    size_t w = skip_spaces(s, n, i);
    if (w >= n || (s[w] != '/' && s[w] != '.'))
      safe_cut = last_cut;
  }
  if (!avoid_command)
    safe_cut = last_cut;
  if (safe_cut != SIZE_MAX)
    cut = safe_cut;
  else if (last_cut != SIZE_MAX)
    cut = last_cut;
  else
    cut = i; /* one word longer than the limit: hard cut */
  end = trim_right(s, p, cut);
  *pos = cut;
done:
  part->off = p;
  part->len = end - p;
  part->cps = tw__chat_text_cps(s + p, end - p);
  return 1;
}

int tw__chat_channel_normalize(const char *in,
                               char out[TW_MAX_CHAT_CHANNEL_NAME + 1]) {
  size_t n = 0;
  out[0] = '\0';
  if (!in)
    return TW_EINVAL;
  if (in[0] == '#')
    in++;
  for (; in[n] != '\0'; n++) {
    char c = in[n];
    if (n >= TW_MAX_CHAT_CHANNEL_NAME) {
      out[0] = '\0';
      return TW_EINVAL;
    }
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      out[0] = '\0';
      return TW_EINVAL;
    }
    out[n] = c;
  }
  if (n == 0)
    return TW_EINVAL;
  out[n] = '\0';
  return 0;
}

int tw__chat_tag_escape(const char *in, size_t n, char *out, size_t out_cap,
                        size_t *out_len) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char esc = 0;
    switch (in[i]) {
    case ';':
      esc = ':';
      break;
    case ' ':
      esc = 's';
      break;
    case '\\':
      esc = '\\';
      break;
    case '\r':
      esc = 'r';
      break;
    case '\n':
      esc = 'n';
      break;
    default:
      break;
    }
    if (esc) {
      if (out_cap - o < 2)
        return TW_ETOOBIG;
      out[o++] = '\\';
      out[o++] = esc;
    } else {
      if (out_cap - o < 1)
        return TW_ETOOBIG;
      out[o++] = in[i];
    }
  }
  *out_len = o;
  return 0;
}
