/* Unit tests for the chat text helpers: UTF-8 decoding and replacement,
 * normalisation of control characters, code point counting, splitting at
 * word boundaries, channel names and IRCv3 tag escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitch/chat_text.h"
#include "twitchd/error.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_decode_valid(void **state) {
  uint32_t cp;
  bool ok;
  (void)state;
  assert_int_equal(tw__utf8_decode(S("A"), &cp, &ok), 1);
  assert_true(ok);
  assert_int_equal(cp, 'A');
  assert_int_equal(tw__utf8_decode(S("\xC3\xA9"), &cp, &ok), 2); /* é */
  assert_true(ok);
  assert_int_equal(cp, 0xE9);
  assert_int_equal(tw__utf8_decode(S("\xE2\x82\xAC"), &cp, &ok), 3); /* € */
  assert_true(ok);
  assert_int_equal(cp, 0x20AC);
  assert_int_equal(tw__utf8_decode(S("\xF0\x9F\x98\x80"), &cp, &ok), 4);
  assert_true(ok);
  assert_int_equal(cp, 0x1F600);
  assert_int_equal(tw__utf8_decode(S("\xF4\x8F\xBF\xBF"), &cp, &ok), 4);
  assert_true(ok);
  assert_int_equal(cp, 0x10FFFF);
  assert_int_equal(tw__utf8_decode(S("\xED\x9F\xBF"), &cp, &ok), 3);
  assert_true(ok);
  assert_int_equal(cp, 0xD7FF);
}

/* Each case: input bytes, and the length of the maximal subpart replaced. */
static void test_decode_invalid_maximal_subpart(void **state) {
  static const struct {
    const char *in;
    size_t n, consumed;
  } cases[] = {
      {"\x80", 1, 1},             /* lone continuation byte */
      {"\xC0\x80", 2, 1},         /* overlong lead, never valid */
      {"\xC1\xBF", 2, 1},         /* overlong lead */
      {"\xE0\x80\x80", 3, 1},     /* overlong 3-byte form */
      {"\xED\xA0\x80", 3, 1},     /* UTF-16 surrogate */
      {"\xF0\x80\x80\x80", 4, 1}, /* overlong 4-byte form */
      {"\xF4\x90\x80\x80", 4, 1}, /* above U+10FFFF */
      {"\xF5\x80\x80\x80", 4, 1}, /* F5 never starts a sequence */
      {"\xFF", 1, 1},             /* FF never appears */
      {"\xE2\x82", 2, 2},         /* truncated € */
      {"\xE2\x82\x41", 3, 2},     /* € cut short by 'A' */
      {"\xF0\x9F\x98", 3, 3},     /* truncated emoji */
      {"\xF0\x9F\x98\x41", 4, 3}, /* emoji cut short by 'A' */
      {"\xC3", 1, 1},             /* truncated é */
  };
  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint32_t cp = 0;
    bool ok = true;
    size_t got = tw__utf8_decode(cases[i].in, cases[i].n, &cp, &ok);
    if (got != cases[i].consumed || ok || cp != 0xFFFD)
      fail_msg("case %zu: consumed %zu (want %zu), ok %d, cp %x", i, got,
               cases[i].consumed, ok, cp);
  }
  assert_true(tw__utf8_valid(S("h\xC3\xA9llo \xF0\x9F\x98\x80")));
  assert_false(tw__utf8_valid(S("h\xC3llo")));
}

static void test_normalize_replaces_invalid(void **state) {
  char out[64];
  size_t n;
  (void)state;
  /* "\xE2\x82A" -> U+FFFD, 'A'; "\xED\xA0\x80" -> three U+FFFD. */
  n = tw__chat_text_normalize(S("x\xE2\x82"
                                "A\xED\xA0\x80y"),
                              out, sizeof(out));
  assert_int_equal(n, 1 + 3 + 1 + 9 + 1);
  assert_memory_equal(out,
                      "x\xEF\xBF\xBD"
                      "A\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy",
                      n);
  assert_true(tw__utf8_valid(out, n));
  assert_int_equal(tw__chat_text_cps(out, n), 7);
}

static void test_normalize_controls(void **state) {
  static const char in[] = "a\r\nb\0c\x01"
                           "d\te\x7f"
                           "f\xC2\x85g\xC2\x9Fh";
  char out[64];
  size_t n;
  (void)state;
  n = tw__chat_text_normalize(in, sizeof(in) - 1, out, sizeof(out));
  assert_int_equal(n, 16);
  assert_memory_equal(out, "a  b c d e f g h", 16);
  assert_null(memchr(out, '\r', n));
  assert_null(memchr(out, '\n', n));
  assert_null(memchr(out, '\0', n));
  assert_null(memchr(out, '\x01', n));
}

static void test_normalize_truncates_at_code_point(void **state) {
  char out[5];
  size_t n;
  (void)state;
  /* "é€" needs 5 bytes; with 4 only "é" fits, never half a "€". */
  n = tw__chat_text_normalize(S("\xC3\xA9\xE2\x82\xAC"), out, 4);
  assert_int_equal(n, 2);
  n = tw__chat_text_normalize(S("\xC3\xA9\xE2\x82\xAC"), out, 5);
  assert_int_equal(n, 5);
}

static void test_cps_and_blank(void **state) {
  (void)state;
  assert_int_equal(tw__chat_text_cps(S("h\xC3\xA9llo \xF0\x9F\x98\x80")), 7);
  assert_int_equal(tw__chat_text_cps("", 0), 0);
  assert_true(tw__chat_text_is_blank("", 0));
  assert_true(tw__chat_text_is_blank(S("   ")));
  assert_true(tw__chat_text_is_blank(S("\t \xC2\xA0\xE3\x80\x80\xE2\x80\xAF")));
  assert_false(tw__chat_text_is_blank(S("  .  ")));
  assert_false(tw__chat_text_is_blank(S("\xE2\x80\x8B"))); /* ZWSP: not */
  assert_true(tw__chat_is_break_space(0x3000));
  assert_false(tw__chat_is_break_space(0xA0));
  assert_true(tw__chat_is_white(0xA0));
  assert_false(tw__chat_is_break_space('x'));
}

/* Splits all of s and returns the number of parts, copying them to parts. */
static size_t split_all(const char *s, size_t n, size_t max, bool avoid,
                        tw__chat_part_t *parts, size_t cap) {
  size_t pos = 0, count = 0;
  tw__chat_part_t p;
  while (tw__chat_text_next_part(s, n, &pos, max, avoid, &p)) {
    assert_true(count < cap);
    parts[count++] = p;
  }
  return count;
}

static void test_split_short_and_trimmed(void **state) {
  tw__chat_part_t p[4];
  const char *s = "   hello   world  ";
  size_t n = split_all(s, strlen(s), 500, true, p, 4);
  (void)state;
  assert_int_equal(n, 1);
  assert_int_equal(p[0].len, 13);
  assert_memory_equal(s + p[0].off, "hello   world", 13);
  assert_int_equal(p[0].cps, 13);
  assert_int_equal(split_all("    ", 4, 500, true, p, 4), 0);
  assert_int_equal(split_all("", 0, 500, true, p, 4), 0);
}

static void test_split_small_limit_word_boundaries(void **state) {
  tw__chat_part_t p[8];
  const char *s = "aaa bbb ccc dd";
  size_t n;
  (void)state;
  /* Limit 7: "aaa bbb" fits exactly; the space after it is the cut. */
  n = split_all(s, strlen(s), 7, false, p, 8);
  assert_int_equal(n, 2);
  assert_memory_equal(s + p[0].off, "aaa bbb", p[0].len);
  assert_int_equal(p[0].len, 7);
  assert_memory_equal(s + p[1].off, "ccc dd", p[1].len);
  /* Limit 6: the cut falls inside "bbb", so each part goes back to the
   * space before the word that does not fit. */
  n = split_all(s, strlen(s), 6, false, p, 8);
  assert_int_equal(n, 3);
  assert_int_equal(p[0].len, 3);
  assert_int_equal(p[1].len, 3);
  assert_memory_equal(s + p[1].off, "bbb", 3);
  assert_int_equal(p[2].len, 6);
  assert_memory_equal(s + p[2].off, "ccc dd", 6);
}

static void test_split_exact_limits(void **state) {
  char s[1100];
  tw__chat_part_t p[4];
  size_t n;
  (void)state;
  memset(s, 'x', 500);
  assert_int_equal(split_all(s, 500, 500, true, p, 4), 1);
  assert_int_equal(p[0].cps, 500);
  /* 501 characters with a space at 250: two parts at the space. */
  memset(s, 'x', 501);
  s[250] = ' ';
  n = split_all(s, 501, 500, true, p, 4);
  assert_int_equal(n, 2);
  assert_int_equal(p[0].cps, 250);
  assert_int_equal(p[1].cps, 250);
  assert_int_equal(p[1].off, 251);
  /* A space exactly after 500 characters gives a full first part. */
  memset(s, 'y', 1001);
  s[500] = ' ';
  n = split_all(s, 1001, 500, true, p, 4);
  assert_int_equal(n, 2);
  assert_int_equal(p[0].cps, 500);
  assert_int_equal(p[1].cps, 500);
}

/* Builds words of mixed widths so that the 500th code point lands inside a
 * word, and checks every part against code point counts, not bytes. */
static void test_split_multibyte_at_word_boundary(void **state) {
  /* café (4 cps, 5 bytes), two emoji (2 cps), naïve (5 cps), €42 (3). */
  static const char w0[] = "caf\xC3\xA9";
  static const char w1[] = "\xF0\x9F\x98\x80\xF0\x9F\x8E\x89";
  static const char w2[] = "na\xC3\xAFve";
  static const char w3[] = "\xE2\x82\xAC\x34\x32";
  static const char *words[] = {w0, w1, w2, w3};
  char s[8192];
  size_t len = 0, words_n = 0, total_cps = 0;
  tw__chat_part_t p[16];
  size_t n;
  (void)state;
  while (total_cps < 1200) {
    const char *w = words[words_n++ % 4];
    if (len) {
      s[len++] = ' ';
      total_cps++;
    }
    memcpy(s + len, w, strlen(w));
    len += strlen(w);
    total_cps += tw__chat_text_cps(w, strlen(w));
  }
  n = split_all(s, len, 500, true, p, 16);
  assert_true(n >= 3);
  {
    size_t joined_cps = 0;
    for (size_t i = 0; i < n; i++) {
      const char *b = s + p[i].off;
      assert_true(p[i].cps <= 500);
      assert_int_equal(p[i].cps, tw__chat_text_cps(b, p[i].len));
      assert_true(tw__utf8_valid(b, p[i].len));
      /* Cut only at a word boundary: the part ends the text or a space
       * follows it; it never starts or ends with a space. */
      assert_true(p[i].off + p[i].len == len || s[p[i].off + p[i].len] == ' ');
      assert_true(b[0] != ' ' && b[p[i].len - 1] != ' ');
      if (i + 1 < n) {
        /* The next word did not fit: the part is as full as words allow. */
        size_t next_word = p[i + 1].off;
        size_t wl = 0;
        while (next_word + wl < len && s[next_word + wl] != ' ')
          wl++;
        assert_true(p[i].cps + 1 + tw__chat_text_cps(s + next_word, wl) > 500);
        assert_int_equal(p[i + 1].off, p[i].off + p[i].len + 1);
      }
      joined_cps += p[i].cps + (i ? 1 : 0);
    }
    assert_int_equal(joined_cps, total_cps);
  }
}

static void test_split_hard_long_word(void **state) {
  char s[1200 * 2];
  tw__chat_part_t p[4];
  size_t n;
  (void)state;
  memset(s, 'w', 1200);
  n = split_all(s, 1200, 500, true, p, 4);
  assert_int_equal(n, 3);
  assert_int_equal(p[0].cps, 500);
  assert_int_equal(p[1].cps, 500);
  assert_int_equal(p[2].cps, 200);
  assert_int_equal(p[1].off, 500);
  /* The same with two-byte letters: cuts fall between code points. */
  for (size_t i = 0; i < 1200; i++)
    memcpy(s + 2 * i, "\xC3\xA9", 2);
  n = split_all(s, 2400, 500, true, p, 4);
  assert_int_equal(n, 3);
  assert_int_equal(p[0].len, 1000);
  assert_int_equal(p[1].off, 1000);
  assert_int_equal(p[2].cps, 200);
  for (size_t i = 0; i < n; i++)
    assert_true(tw__utf8_valid(s + p[i].off, p[i].len));
}

static void test_split_unicode_space_boundary(void **state) {
  /* "ab<U+3000>cd" with limit 3: the ideographic space is a boundary. */
  const char *s = "ab\xE3\x80\x80"
                  "cd";
  tw__chat_part_t p[4];
  size_t n = split_all(s, strlen(s), 3, false, p, 4);
  (void)state;
  assert_int_equal(n, 2);
  assert_int_equal(p[0].len, 2);
  assert_int_equal(p[1].off, 5);
  /* A no-break space is not a boundary: "ab<NBSP>cd" is cut hard. */
  s = "ab\xC2\xA0"
      "cd";
  n = split_all(s, strlen(s), 3, false, p, 4);
  assert_int_equal(n, 2);
  assert_int_equal(p[0].cps, 3);
}

static void test_split_avoids_command_start(void **state) {
  const char *s = "hello there /ban someone";
  tw__chat_part_t p[4];
  size_t n;
  (void)state;
  /* Limit 14 reaches into "/ban": the latest boundary would start a part
   * with "/ban", so the cut moves back one word, and again in the next part
   * ("there /ban som|eone" cuts after "/ban", which is safe). */
  n = split_all(s, strlen(s), 14, true, p, 4);
  assert_int_equal(n, 3);
  assert_int_equal(p[0].len, 5);
  assert_memory_equal(s + p[0].off, "hello", 5);
  assert_int_equal(p[1].len, 10);
  assert_memory_equal(s + p[1].off, "there /ban", 10);
  assert_memory_equal(s + p[2].off, "someone", 7);
  /* Without avoidance (actions) the latest boundary wins. */
  n = split_all(s, strlen(s), 14, false, p, 4);
  assert_int_equal(n, 2);
  assert_int_equal(p[0].len, 11);
  assert_memory_equal(s + p[1].off, "/ban someone", 12);
  /* The same when the word after the window is the '.' command. */
  s = "hello there .me x";
  n = split_all(s, strlen(s), 11, true, p, 4);
  assert_int_equal(n, 2);
  assert_int_equal(p[0].len, 5);
  /* When every boundary leads to a command, the latest is used anyway. */
  s = "/a /b /c /d";
  n = split_all(s, strlen(s), 6, true, p, 4);
  assert_int_equal(n, 2);
  assert_int_equal(p[0].len, 5);
}

static void test_channel_names(void **state) {
  char out[TW_MAX_CHAT_CHANNEL_NAME + 1];
  (void)state;
  assert_int_equal(tw__chat_channel_normalize("#Foo_Bar1", out), 0);
  assert_string_equal(out, "foo_bar1");
  assert_int_equal(tw__chat_channel_normalize("x", out), 0);
  assert_string_equal(out, "x");
  assert_int_equal(
      tw__chat_channel_normalize("#abcdefghijklmnopqrstuvwxy", out), 0);
  assert_int_equal(strlen(out), 25);
  assert_int_equal(
      tw__chat_channel_normalize("abcdefghijklmnopqrstuvwxyz", out), TW_EINVAL);
  assert_string_equal(out, "");
  static const char *bad[] = {
      "", "#", "##a", "a b", "a-b", "caf\xC3\xA9", "a\r\nJOIN #x", "a,b", " a"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(tw__chat_channel_normalize(bad[i], out), TW_EINVAL);
  assert_int_equal(tw__chat_channel_normalize(NULL, out), TW_EINVAL);
}

static void test_tag_escape(void **state) {
  char out[64];
  size_t n = 0;
  (void)state;
  assert_int_equal(
      tw__chat_tag_escape(S("a;b c\\d\r\ne"), out, sizeof(out), &n), 0);
  assert_int_equal(n, 15);
  assert_memory_equal(out, "a\\:b\\sc\\\\d\\r\\ne", 15);
  assert_int_equal(
      tw__chat_tag_escape(S("885196de-cb67"), out, sizeof(out), &n), 0);
  assert_memory_equal(out, "885196de-cb67", n);
  assert_int_equal(tw__chat_tag_escape(S("a;b"), out, 3, &n), TW_ETOOBIG);
  assert_int_equal(tw__chat_tag_escape(S("a;b"), out, 4, &n), 0);
  assert_int_equal(n, 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_valid),
      cmocka_unit_test(test_decode_invalid_maximal_subpart),
      cmocka_unit_test(test_normalize_replaces_invalid),
      cmocka_unit_test(test_normalize_controls),
      cmocka_unit_test(test_normalize_truncates_at_code_point),
      cmocka_unit_test(test_cps_and_blank),
      cmocka_unit_test(test_split_short_and_trimmed),
      cmocka_unit_test(test_split_small_limit_word_boundaries),
      cmocka_unit_test(test_split_exact_limits),
      cmocka_unit_test(test_split_multibyte_at_word_boundary),
      cmocka_unit_test(test_split_hard_long_word),
      cmocka_unit_test(test_split_unicode_space_boundary),
      cmocka_unit_test(test_split_avoids_command_start),
      cmocka_unit_test(test_channel_names),
      cmocka_unit_test(test_tag_escape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
