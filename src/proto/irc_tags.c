/* Decoders for Twitch tag values: numbers, booleans, colours, badges,
 * emotes, /me detection. All bounded by the views they are given. */
#include <string.h>

#include "twitchd/error.h"
#include "twitchd/irc_tags.h"

int tw_irc_parse_u64(tw_irc_str_t s, uint64_t *out) {
  if (!s.ptr || s.len == 0)
    return TW_EPARSE;
  uint64_t v = 0;
  for (size_t i = 0; i < s.len; i++) {
    unsigned d = (unsigned char)s.ptr[i] - (unsigned)'0';
    if (d > 9)
      return TW_EPARSE;
    if (v > (UINT64_MAX - d) / 10)
      return TW_EPARSE;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int tw_irc_parse_i64(tw_irc_str_t s, int64_t *out) {
  int neg = 0;
  if (s.ptr && s.len && s.ptr[0] == '-') {
    neg = 1;
    s.ptr++;
    s.len--;
  }
  uint64_t v;
  if (tw_irc_parse_u64(s, &v))
    return TW_EPARSE;
  /* INT64_MIN itself is TW_IRC_NONE, so the negative range stops one short
   * of it: no real tag comes anywhere near. */
  if (v > (uint64_t)INT64_MAX)
    return TW_EPARSE;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 0;
}

int tw_irc_parse_bool(tw_irc_str_t s, int *out) {
  if (tw_irc_str_eq(s, "1") || tw_irc_str_eq(s, "true")) {
    *out = 1;
    return 0;
  }
  if (tw_irc_str_eq(s, "0") || tw_irc_str_eq(s, "false")) {
    *out = 0;
    return 0;
  }
  return TW_EPARSE;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int tw_irc_parse_color(tw_irc_str_t s, uint32_t *rgb) {
  if (!s.ptr || s.len != 7 || s.ptr[0] != '#')
    return TW_EPARSE;
  uint32_t v = 0;
  for (size_t i = 1; i < 7; i++) {
    int h = hexval((unsigned char)s.ptr[i]);
    if (h < 0)
      return TW_EPARSE;
    v = (v << 4) | (uint32_t)h;
  }
  *rgb = v;
  return 0;
}

int64_t tw_irc_tag_i64(const tw_irc_msg_t *m, const char *key) {
  int64_t v;
  if (tw_irc_parse_i64(tw_irc_tag_get(m, key), &v))
    return TW_IRC_NONE;
  return v;
}

int tw_irc_tag_bool(const tw_irc_msg_t *m, const char *key) {
  int v;
  if (tw_irc_parse_bool(tw_irc_tag_get(m, key), &v))
    return -1;
  return v;
}

int tw_irc_list_next(tw_irc_str_t *rest, char sep, tw_irc_str_t *item) {
  while (rest->ptr && rest->len) {
    const char *p = rest->ptr;
    const char *s = memchr(p, sep, rest->len);
    size_t n = s ? (size_t)(s - p) : rest->len;
    rest->ptr += s ? n + 1 : n;
    rest->len -= s ? n + 1 : n;
    if (n) {
      item->ptr = p;
      item->len = n;
      return 1;
    }
  }
  return 0;
}

int tw_irc_badges_next(tw_irc_str_t *rest, tw_irc_badge_t *out) {
  tw_irc_str_t item;
  if (!tw_irc_list_next(rest, ',', &item))
    return 0;
  const char *slash = memchr(item.ptr, '/', item.len);
  if (slash) {
    out->name.ptr = item.ptr;
    out->name.len = (size_t)(slash - item.ptr);
    out->version.ptr = slash + 1;
    out->version.len = item.len - out->name.len - 1;
  } else {
    out->name = item;
    out->version.ptr = item.ptr + item.len;
    out->version.len = 0;
  }
  return 1;
}

size_t tw_irc_badges_parse(tw_irc_str_t list, tw_irc_badge_t *out, size_t max) {
  size_t n = 0;
  tw_irc_badge_t b;
  while (tw_irc_badges_next(&list, &b)) {
    if (n < max)
      out[n] = b;
    n++;
  }
  return n;
}

int tw_irc_badges_find(tw_irc_str_t list, const char *name,
                       tw_irc_str_t *version) {
  tw_irc_badge_t b;
  while (tw_irc_badges_next(&list, &b)) {
    if (tw_irc_str_eq(b.name, name)) {
      if (version)
        *version = b.version;
      return 1;
    }
  }
  return 0;
}

int64_t tw_irc_badge_info_months(tw_irc_str_t badge_info) {
  tw_irc_str_t v;
  int64_t months;
  if (!tw_irc_badges_find(badge_info, "subscriber", &v) ||
      tw_irc_parse_i64(v, &months) || months < 0)
    return TW_IRC_NONE;
  return months;
}

size_t tw_irc_utf8_count(tw_irc_str_t s) {
  size_t n = 0;
  for (size_t i = 0; i < s.len; i++)
    n += ((unsigned char)s.ptr[i] & 0xC0) != 0x80;
  return n;
}

/* Parses "start-end" strictly. */
static int parse_range(tw_irc_str_t r, size_t *start, size_t *end) {
  const char *dash = memchr(r.ptr, '-', r.len);
  if (!dash)
    return -1;
  tw_irc_str_t a = {r.ptr, (size_t)(dash - r.ptr)};
  tw_irc_str_t b = {dash + 1, r.len - a.len - 1};
  uint64_t x, y;
  if (tw_irc_parse_u64(a, &x) || tw_irc_parse_u64(b, &y))
    return -1;
  /* Indices past any possible line are as good as infinite. */
  if (x > TW_MAX_IRC_LINE)
    x = TW_MAX_IRC_LINE;
  if (y > TW_MAX_IRC_LINE)
    y = TW_MAX_IRC_LINE;
  *start = (size_t)x;
  *end = (size_t)y;
  return 0;
}

/* Moves byte offset *pos (at code point *cp) forward to code point target. */
static void advance_cp(tw_irc_str_t t, size_t *pos, size_t *cp, size_t target) {
  size_t p = *pos, c = *cp;
  while (c < target && p < t.len) {
    p++;
    while (p < t.len && ((unsigned char)t.ptr[p] & 0xC0) == 0x80)
      p++;
    c++;
  }
  *pos = p;
  *cp = c;
}

size_t tw_irc_emotes_parse(tw_irc_str_t tag, tw_irc_str_t text,
                           tw_irc_emote_t *out, size_t max) {
  if (!out || max == 0 || !tag.ptr)
    return 0;
  if (!text.ptr)
    text.len = 0;
  size_t ncp = tw_irc_utf8_count(text);
  size_t n = 0;
  tw_irc_str_t rest = tag, entry;
  while (n < max && tw_irc_list_next(&rest, '/', &entry)) {
    const char *colon = memchr(entry.ptr, ':', entry.len);
    if (!colon || colon == entry.ptr)
      continue;
    tw_irc_str_t id = {entry.ptr, (size_t)(colon - entry.ptr)};
    tw_irc_str_t ranges = {colon + 1, entry.len - id.len - 1}, r;
    while (n < max && tw_irc_list_next(&ranges, ',', &r)) {
      size_t a, b;
      if (parse_range(r, &a, &b) || a > b || a >= ncp)
        continue;
      if (b >= ncp)
        b = ncp - 1;
      /* Insertion keeps the array sorted by start; Twitch lists ranges
       * grouped by emote, so the array is nearly sorted already. */
      size_t k = n;
      while (k > 0 && out[k - 1].cp_start > a) {
        out[k] = out[k - 1];
        k--;
      }
      out[k].id = id;
      out[k].cp_start = a;
      out[k].cp_end = b + 1;
      n++;
    }
  }
  /* One forward walk for the starts (they are sorted); each end is walked
   * from its own start, so overlapping ranges cost their own length. */
  size_t pos = 0, cp = 0;
  for (size_t i = 0; i < n; i++) {
    advance_cp(text, &pos, &cp, out[i].cp_start);
    out[i].byte_start = pos;
    size_t epos = pos, ecp = cp;
    advance_cp(text, &epos, &ecp, out[i].cp_end);
    out[i].byte_end = epos;
  }
  return n;
}

int tw_irc_action(tw_irc_str_t text, tw_irc_str_t *inner) {
  static const char pre[] = "\001ACTION ";
  const size_t plen = sizeof(pre) - 1;
  if (text.ptr && text.len >= plen + 1 && memcmp(text.ptr, pre, plen) == 0 &&
      text.ptr[text.len - 1] == '\001') {
    inner->ptr = text.ptr + plen;
    inner->len = text.len - plen - 1;
    return 1;
  }
  *inner = text;
  return 0;
}
